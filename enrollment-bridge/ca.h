/*
 * ca.h — the WSTEP front's built-in issuing CA on OpenSSL ([wstep] ca_cert,
 * ca_key): it signs the certificates the bridge hands out after an Accept.
 *
 * Profile of every certificate (decisions in docs/enrollment-bridge.md,
 * "WSTEP"): X.509 v3; a random positive 127-bit serial (uniqueness is also
 * enforced by the certificates table); notBefore now, notAfter now +
 * validity_days; the subject and SANs the caller decided (wstep_policy.h),
 * never anything else from the request; basicConstraints critical CA:FALSE;
 * keyUsage critical and extendedKeyUsage exactly as the template lists;
 * subject and authority key identifiers; signed with SHA-256. Extensions
 * the request asks for are never copied, so CA:TRUE or other EKUs cannot
 * be obtained.
 */
#ifndef OWCP_BRIDGE_CA_H
#define OWCP_BRIDGE_CA_H

#include <stddef.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "owcp/util.h"

/* Hex serial: 16 bytes -> 32 digits + NUL. */
#define CA_SERIAL_HEX_MAX 41

struct ca {
  X509 *cert;
  EVP_PKEY *key;
};

/* Loads the PEM certificate and key; the key must be the certificate's and
 * the certificate a CA (basicConstraints CA:TRUE, keyCertSign). 0, or -1
 * with err naming the file. Release with ca_free(). */
int ca_load(const char *cert_file, const char *key_file, struct ca *out,
            struct owcp_error *err);

void ca_free(struct ca *ca);

/* What one template hands out. */
struct ca_profile {
  int validity_days;
  const char *key_usage;          /* "digitalSignature, keyEncipherment" */
  const char *extended_key_usage; /* names or dotted OIDs, comma-separated */
};

/* One issued certificate. */
struct ca_issued {
  X509 *cert;
  unsigned char *der; /* malloc()ed */
  size_t der_len;
  char serial[CA_SERIAL_HEX_MAX]; /* upper-case hex, no leading zeros */
  char *subject;                  /* RFC 4514 (malloc()ed) */
  time_t not_before, not_after;
};

void ca_issued_free(struct ca_issued *c);

/* Issues a certificate for pubkey with subject and sans (may be NULL) as
 * the profile says. 0 with *out filled, or -1 with err. */
int ca_issue(const struct ca *ca, const struct ca_profile *p, EVP_PKEY *pubkey,
             const X509_NAME *subject, const GENERAL_NAMES *sans,
             struct ca_issued *out, struct owcp_error *err);

#endif
