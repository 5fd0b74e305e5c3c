/*
 * owcp/ca.h — certificate requests and the dispatcher's certificates: the
 * PKCS#10 a client sends in CD-Register, the client CA that issues client
 * certificates (the trust anchor for receipts, spec §6), and the dispatcher
 * certificate that signs DR-Complete bodies (spec §4).
 *
 * Certificate profile (decisions recorded for docs/protocol-decisions.md):
 *  - Client CA: self-signed, subject CN=<given>, basicConstraints critical
 *    CA:TRUE pathlen:0, keyUsage critical keyCertSign cRLSign, SKI, 10 years,
 *    128-bit random positive serial, ECDSA-SHA256.
 *  - Client certificate: subject CN=<client id>; the account is carried as
 *    an rfc822Name subjectAltName (not as O: RFC 5280 caps O at 64
 *    characters, while an addr-spec may be up to 254). keyUsage critical
 *    digitalSignature nonRepudiation, basicConstraints critical CA:FALSE,
 *    SKI, AKI (keyid), random serial, validity as requested.
 *  - Dispatcher certificate: self-signed, NOT issued by the client CA, so
 *    that nothing the dispatcher signs can pass as a client receipt under
 *    the client CA. Verifiers pin it by its SHA-256 fingerprint (the keyid).
 *    Subject CN=<given>, keyUsage critical digitalSignature, CA:FALSE, SKI.
 *
 * Ownership as in owcp/keys.h: returned EVP_PKEY * / X509 * belong to the
 * caller (EVP_PKEY_free / X509_free), returned buffers to free().
 */
#ifndef OWCP_CA_H
#define OWCP_CA_H

#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "owcp/util.h"

/* Maximum lifetime in days of any certificate this module issues. */
#define OWCP_CERT_MAX_DAYS 3660
/* Lifetime of the client CA. */
#define OWCP_CA_DAYS 3652

/* Creates a DER PKCS#10 request for the P-256 key with subject CN=cn,
 * signed with ECDSA-SHA256, into *der (caller frees). */
int owcp_csr_new(EVP_PKEY *key, const char *cn, unsigned char **der,
                 size_t *der_len, struct owcp_error *err);

/* Parses a DER PKCS#10 request that must span exactly len bytes, verifies
 * its self-signature (ECDSA with SHA-256 or stronger) and requires a P-256
 * public key. Returns that public key (caller frees), or NULL with a
 * sentence saying why the request was refused. The subject is ignored: the
 * dispatcher names the certificate itself. */
EVP_PKEY *owcp_csr_verify(const unsigned char *der, size_t len,
                          struct owcp_error *err);

/* Creates the self-signed client CA certificate for ca_key (P-256), valid
 * from now for OWCP_CA_DAYS. */
X509 *owcp_ca_new(EVP_PKEY *ca_key, const char *cn, struct owcp_error *err);

/* Issues a client certificate for client_pub (a key returned by
 * owcp_csr_verify) with subject CN=client_id and rfc822Name SAN=account,
 * valid from now for days (1..OWCP_CERT_MAX_DAYS). ca_key must match
 * ca_cert. account must be printable ASCII of the form local@domain. */
X509 *owcp_ca_issue_client(X509 *ca_cert, EVP_PKEY *ca_key,
                           EVP_PKEY *client_pub, const char *client_id,
                           const char *account, int days,
                           struct owcp_error *err);

/* Creates the self-signed dispatcher (DR-Complete signing) certificate for
 * key (P-256), subject CN=cn, valid from now for days. */
X509 *owcp_dispatcher_cert_new(EVP_PKEY *key, const char *cn, int days,
                               struct owcp_error *err);

/* Verifies that cert chains to ca_cert (the only trust anchor; no default
 * paths; current time; any purpose). Returns 0 or -1 with the reason. */
int owcp_cert_verify_chain(X509 *cert, X509 *ca_cert, struct owcp_error *err);

/* Copies the account (rfc822Name SAN) of a client certificate into out
 * (NUL-terminated, out_size bytes). Fails when there is not exactly one. */
int owcp_cert_get_account(X509 *cert, char *out, size_t out_size,
                          struct owcp_error *err);

#endif
