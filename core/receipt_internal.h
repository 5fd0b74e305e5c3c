/*
 * receipt_internal.h — what receipt.c (content, creation, the CA-chained
 * verifier) shares with receipt_known.c (the dispatcher's known-signer
 * verifier). Not installed; core/ only.
 *
 * Ownership: receipt_parsed_free() releases what a struct receipt_parsed
 * holds (not the struct itself, which callers keep on the stack).
 */
#ifndef OWCP_CORE_RECEIPT_INTERNAL_H
#define OWCP_CORE_RECEIPT_INTERNAL_H

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/x509.h>

#include "owcp/receipt.h"

/* A parsed receipt whose structure has been checked: the single signer and
 * the certificate the CMS carries for it (up-referenced; NULL on the
 * known-signer path, which never decodes the included certificates). */
struct receipt_parsed {
  CMS_ContentInfo *cms;
  CMS_SignerInfo *si;
  X509 *signer;
};

void receipt_parsed_free(struct receipt_parsed *p);

/* Empty or larger than OWCP_RECEIPT_MAX_DER: -1 with the reason. */
int receipt_check_size(const unsigned char *der, size_t len,
                       struct owcp_error *err);

/* Bytes left after the decoder stopped at `end`: -1 naming them. */
int receipt_check_end(const unsigned char *der, size_t len,
                      const unsigned char *end, struct owcp_error *err);

/* SignedData, attached id-data, exactly one signer with SHA-256 and a
 * signingTime attribute; sets p->si. */
int receipt_check_shape(struct receipt_parsed *p, struct owcp_error *err);

/* A CA key must not stand in for a client. */
int receipt_check_not_ca(X509 *signer, struct owcp_error *err);

/* Reads the attached content through the CMS digest BIOs into `content`
 * (a memory BIO) and checks the signer's messageDigest against it. */
int receipt_verify_content_digest(struct receipt_parsed *p, BIO *content,
                                  struct owcp_error *err);

/* Strictly parses the signed content held by a memory BIO into *out. */
int receipt_content_to_receipt(BIO *content, struct owcp_receipt **out,
                               struct owcp_error *err);

#endif
