/*
 * cd_register.h — what the two halves of CD-Register share (spec §5):
 * cd_register.c (the operation, enrollment codes, repeats after an
 * approval, open self-subscription, issuing the client) and cd_approval.c
 * (the first ask for a device approval: the per-address limit, the caps,
 * number matching and the request sent to the account's clients).
 * Internal to the dispatcher.
 */
#ifndef OWCP_DISPATCHER_CD_REGISTER_H
#define OWCP_DISPATCHER_CD_REGISTER_H

#include <stdbool.h>

#include <openssl/evp.h>

#include "ops.h"
#include "owcp/keys.h"

/* Everything one CD-Register call works with, so the paths take one
 * argument besides the request. Borrowed from the request except pub. */
struct reg {
  struct request *r;
  const struct cd_register_in *in;
  EVP_PKEY *pub; /* the verified CSR's public key (cd_register() frees) */
  unsigned char csr_sha256[OWCP_SHA256_LEN];
};

/* Counts this unauthenticated CD-Register against the caller's address
 * (register_per_minute_per_address; IPv6 per /64). Returns true when it
 * may go on; false having replied (429 with Retry, or a store error). */
bool cd_register_rate_ok(const struct reg *g, enum MHD_Result *ret);

/* The first CD-Register without Code or Transaction: 429 over a cap, 202
 * with Transaction, Expires and Match for every account name alike, or —
 * on an open service, for an account that never existed — open
 * self-subscription through cd_register_open(). */
enum MHD_Result cd_approval_ask(const struct reg *g);

/* Open self-subscription of g's account: 200 with the new client, or 403
 * when the account appeared meanwhile (cd_register.c). */
enum MHD_Result cd_register_open(const struct reg *g);

/* http_reply() for a json_pack() result, which is NULL only when memory
 * ran out: a success reply must never go out without its fields. */
enum MHD_Result cd_reply_fields(struct request *r, int status, json_t *fields);

#endif
