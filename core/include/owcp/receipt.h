/*
 * owcp/receipt.h — signed receipts (spec §6): the CMS SignedData a client
 * signs when it answers a confirmation request, and the checks a dispatcher
 * or any third party applies before believing one.
 *
 * Wire form: DER CMS SignedData, attached id-data content, one signer (the
 * client's P-256 key, SHA-256, signed attributes incl. signingTime), the
 * signer certificate included. The content is the UTF-8 JSON
 *   {"Receipt":{"Transaction":..,"Account":..,"Client":..,"Response":..,
 *               "Verification":[..],"Request":..,"Signed":..[,"Reason":..]
 *               [,"Match":..]}}
 * written compactly in exactly this member order; "Reason" is present iff
 * Response is "Refuse"; "Match" (spec §6: the two digits the user typed
 * to approve a new device) is optional and comes last, exactly two ASCII
 * digits when present (decision for protocol-decisions.md).
 * Verification parses it strictly: exactly one top-level member "Receipt",
 * exactly these members (unknown ones are refused), no duplicate members,
 * no U+0000, "Signed" must be RFC 3339.
 *
 * Ownership: owcp_receipt_verify* return a struct the caller releases with
 * owcp_receipt_free(); DER output buffers are malloc()ed and freed with
 * free(). Inputs are borrowed.
 */
#ifndef OWCP_RECEIPT_H
#define OWCP_RECEIPT_H

#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "owcp/util.h"

/* Largest receipt accepted for verification (the XML Request is ≤ 64 KiB). */
#define OWCP_RECEIPT_MAX_DER ((size_t)256 * 1024)

struct owcp_receipt {
  char *transaction;   /* dispatcher's transaction identifier */
  char *account;       /* local@domain */
  char *client;        /* client identifier */
  char *response;      /* "Accept", "Reject" or "Refuse" */
  char **verification; /* methods performed, e.g. "PIN" */
  size_t verification_count;
  char *request;      /* the exact XML Request bytes */
  size_t request_len; /* request may not contain NUL */
  char *signed_at;    /* JSON "Signed": RFC 3339 */
  char *reason;       /* JSON "Reason": set iff response is Refuse */
  char *match;        /* JSON "Match": two digits, or NULL (device approval) */
};

/* Frees r and everything it points to; NULL is fine. */
void owcp_receipt_free(struct owcp_receipt *r);

/* Checks r's fields as verification would (non-empty strings, Response one
 * of the three, Reason iff Refuse, Signed RFC 3339 when set, Match two
 * ASCII digits when set). */
int owcp_receipt_check(const struct owcp_receipt *r, struct owcp_error *err);

/* The exact JSON content bytes for r (see above) into *json (caller frees;
 * NUL-terminated). When r->signed_at is NULL the current time is used. */
int owcp_receipt_content(const struct owcp_receipt *r, char **json,
                         size_t *json_len, struct owcp_error *err);

/* Builds and signs a receipt for r with the client's certificate and key
 * (which must match) and writes the DER CMS into *der (caller frees). */
int owcp_receipt_create(const struct owcp_receipt *r, X509 *cert, EVP_PKEY *key,
                        unsigned char **der, size_t *der_len,
                        struct owcp_error *err);

/* Verifies a receipt and parses its content into *out (caller frees with
 * owcp_receipt_free). Requires: SignedData with attached id-data content,
 * exactly one signer with a signingTime attribute, the signer certificate
 * included in the CMS, a valid signature, the signer certificate chaining
 * to ca_cert alone (no default paths, any purpose, current time) and, when
 * expected_signer is not NULL, the included signer certificate being
 * byte-identical (DER) to it. Returns 0, or -1 with the reason. */
int owcp_receipt_verify(const unsigned char *der, size_t der_len, X509 *ca_cert,
                        X509 *expected_signer, struct owcp_receipt **out,
                        struct owcp_error *err);

/* The dispatcher's hot path for a client whose certificate it issued and
 * already holds parsed: the same structural checks and the same content
 * parsing as owcp_receipt_verify, and the signer certificate included in
 * the CMS must be byte-identical to signer_cert, but the signature is
 * checked directly with signer_cert's key instead of rebuilding and
 * re-verifying the certificate chain (done once, when it was issued). */
int owcp_receipt_verify_known_signer(const unsigned char *der, size_t der_len,
                                     X509 *signer_cert,
                                     struct owcp_receipt **out,
                                     struct owcp_error *err);

/* Checks a verified receipt against what the dispatcher expects: the same
 * transaction, account, client and response, and request byte for byte.
 * Returns 0, or -1 naming the first field that differs. */
int owcp_receipt_matches(const struct owcp_receipt *r, const char *transaction,
                         const char *account, const char *client,
                         const char *response, const char *request,
                         size_t request_len, struct owcp_error *err);

#endif
