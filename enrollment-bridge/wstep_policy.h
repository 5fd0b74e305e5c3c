/*
 * wstep_policy.h — what the WSTEP front decides from a request before it
 * asks anyone (contract §4 WSTEP, interop notes §2 "Token payload" and
 * "Checks (WSTEP)"):
 *  - the token's payload, sniffed from the DER and never from ValueType: a
 *    PKCS#10, or a CMS SignedData whose content is a PKCS#10 (eContentType
 *    id-data, as Windows renews) or a CMC PKIData whose first reqSequence
 *    entry is a TaggedCertificationRequest;
 *  - for an anonymous renewal: the CMS signature verifies with a single
 *    signer whose certificate was issued by the built-in CA, is not the CA
 *    and is valid now (X.509 path under the CA alone, any purpose);
 *  - the plan: the template the request names (csr_check.h's three forms;
 *    a template's name, or its `oid =`), the request's own signature, its
 *    UPNs (each must equal the account, ASCII-case-insensitively), the key
 *    (RSA 2048..16384 bits, or EC P-256, P-384, P-521), and the subject
 *    and SANs the certificate will carry:
 *      subject_from = upn     CN=ACCOUNT and a UPN SAN ACCOUNT, nothing
 *                             taken from the request;
 *      subject_from = request the request's subject DN and its SAN entries
 *                             of type UPN or e-mail, each equal to the
 *                             account (any other SAN type is refused);
 *      renewal (anonymous)    the renewed certificate's subject and SANs.
 * Pure: no I/O.
 */
#ifndef OWCP_BRIDGE_WSTEP_POLICY_H
#define OWCP_BRIDGE_WSTEP_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/cms.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "config.h"
#include "owcp/util.h"
#include "wstep_fault.h"

/* The token's payload. */
struct wstep_payload {
  unsigned char *csr; /* the PKCS#10 DER (the inner one of a CMS) */
  size_t csr_len;
  CMS_ContentInfo *cms; /* the token when it was CMS, else NULL */
};

/* Decodes der[0..len) as above. 0, or -1 with err (WSTEP_FAULT_BAD_TOKEN).
 * Release with wstep_payload_clear(). */
int wstep_payload_decode(const unsigned char *der, size_t len,
                         struct wstep_payload *out, struct owcp_error *err);

void wstep_payload_clear(struct wstep_payload *p);

/* The signer certificate of a CMS payload with exactly one signer, found
 * among its certificates (not verified: see wstep_renewal_verify). A new
 * reference, or NULL with err. */
X509 *wstep_payload_signer(const struct wstep_payload *p,
                           struct owcp_error *err);

/* The anonymous-renewal check above. 0 with *signer (a new reference), or
 * -1 with err (WSTEP_FAULT_AUTHENTICATION). */
int wstep_renewal_verify(const struct wstep_payload *p, X509 *ca_cert,
                         X509 **signer, struct owcp_error *err);

/* What the certificate will be. */
struct wstep_plan {
  const struct bridge_wstep_template *tpl; /* borrowed from the config */
  EVP_PKEY *pubkey;                        /* the request's key */
  X509_NAME *subject;
  GENERAL_NAMES *sans; /* may be empty */
  char *subject_text;  /* RFC 4514, for the Summary */
  char key_text[32];   /* "RSA 2048", "EC P-256" */
};

void wstep_plan_clear(struct wstep_plan *p);

/* The checks and the plan for csr, requested by account; renewed (may be
 * NULL) is the certificate an anonymous renewal was signed with. 0 with
 * *out, or -1 with *fault (TEMPLATE, BAD_TOKEN, SUBJECT, KEY or INTERNAL)
 * and err. */
int wstep_plan_make(const struct bridge_config *cfg, const unsigned char *csr,
                    size_t csr_len, const char *account, X509 *renewed,
                    struct wstep_plan *out, enum wstep_fault *fault,
                    struct owcp_error *err);

#endif
