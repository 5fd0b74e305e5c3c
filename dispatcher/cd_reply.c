/*
 * cd_reply.c — CD-Reply (spec §5, §6): a client answers a confirmation
 * request with a signed receipt. The receipt is the evidence a requestor
 * relies on, so it is verified completely — signature, signer, and every
 * field against what the dispatcher itself holds — before anything
 * changes; only then does the store decide the race between the account's
 * clients (the first valid reply wins), compare the digits of a device
 * approval (number matching) and record a "Not Me" fraud report (spec §5;
 * procedures/owcp_reply.sql).
 */
#include <stdlib.h>
#include <string.h>

#include "certcache.h"
#include "ops.h"
#include "txcache.h"
#include "owcp/keys.h"
#include "owcp/receipt.h"
#include "owcp/request.h"

const char *const cd_reply_responses[] = {"Accept", "Reject", "Refuse", NULL};

enum { CD_RESPONSE_REFUSE = 2 };

const struct owcp_param_spec cd_reply_params[] = {
    OWCP_PARAM_STRING("Transaction", struct cd_reply_in, transaction,
                      OWCP_REQUIRED, OPS_ID_MAX),
    OWCP_PARAM_ENUM("Response", struct cd_reply_in, response, OWCP_REQUIRED,
                    cd_reply_responses),
    OWCP_PARAM_STRING("Reason", struct cd_reply_in, reason, OWCP_OPTIONAL,
                      OPS_REASON_MAX),
    OWCP_PARAM_BASE64("Receipt", struct cd_reply_in, receipt, receipt_len,
                      OWCP_REQUIRED, OPS_RECEIPT_MAX),
    OWCP_PARAM_END};

/* What one CD-Reply call holds while it verifies; released by
 * reply_state_clear(). */
struct reply_state {
  X509 *cert;                   /* the caller's certificate, parsed once */
  struct owcp_receipt *receipt; /* verified content */
  char *request;                /* the stored XML Request */
  size_t request_len;
};

static void reply_state_clear(struct reply_state *s)
{
  X509_free(s->cert);
  owcp_receipt_free(s->receipt);
  free(s->request);
  memset(s, 0, sizeof *s);
}

/* Spec §5: Reason accompanies Refuse and nothing else. */
static int reason_check(const struct cd_reply_in *in, struct owcp_error *err)
{
  bool refuse = in->response == CD_RESPONSE_REFUSE;

  if (refuse && (in->reason == NULL || in->reason[0] == '\0')) {
    owcp_error_set(err, "parameter 'Reason' is required when 'Response' is "
                        "Refuse");
    return -1;
  }
  if (!refuse && in->reason != NULL) {
    owcp_error_set(err,
                   "parameter 'Reason' is allowed only when 'Response' is "
                   "Refuse, not %s",
                   cd_reply_responses[in->response]);
    return -1;
  }
  return 0;
}

/* Loads and parses the caller's own certificate: the only signer whose
 * receipt is accepted (from the process's cache when it was parsed
 * before, see certcache.h). Returns 0, or the HTTP status with err set (a
 * store failure's rc is passed through in *rc). */
static int load_cert(struct request *r, struct reply_state *s, int *rc,
                     struct owcp_error *err)
{
  unsigned char *der = NULL;
  size_t der_len = 0;
  bool found = false;

  *rc = 0;
  s->cert = certcache_get(r->d->certs, r->client.id);
  if (s->cert != NULL)
    return 0;
  *rc = store_client_cert(r->st, r->client.id, &der, &der_len, &found, err);
  if (*rc != 0)
    return 500;
  if (!found) {
    /* Revoked between authentication and now. */
    free(der);
    owcp_error_set(err, "client '%s' is no longer registered", r->client.id);
    return 401;
  }
  s->cert = owcp_cert_from_der(der, der_len, err);
  free(der);
  if (s->cert == NULL)
    return 500;
  /* A failed put only costs the next reply a parse. */
  (void)certcache_put(r->d->certs, r->client.id, s->cert);
  return 0;
}

/* The stored request of the transaction, if the caller's account may see
 * it: kept in memory when this process created it (txcache.h), else read.
 * Returns 0, or the HTTP status with err set. */
static int load_request(struct request *r, const char *tx,
                        struct reply_state *s, int *rc, struct owcp_error *err)
{
  int status = 0;

  *rc = 0;
  s->request =
      txcache_request_dup(r->d->txs, tx, r->client.account, &s->request_len);
  if (s->request != NULL)
    return 0;
  *rc = store_tx_request(r->st, r->client.id, tx, &s->request, &s->request_len,
                         &status, err);
  if (*rc != 0)
    return 500;
  if (status == 200)
    return 0;
  owcp_error_set(err,
                 "parameter 'Transaction': no transaction '%s' for this "
                 "account",
                 tx);
  return status == 404 ? 404 : 500;
}

/* True when list holds method. */
static bool has_method(char *const *list, size_t count, const char *method)
{
  for (size_t i = 0; i < count; i++) {
    if (strcmp(list[i], method) == 0)
      return true;
  }
  return false;
}

/* Spec §6: for Accept and Reject the client performs every <Verification>
 * the request names before signing, so a receipt that does not list one
 * of them is not evidence of what the requestor asked for. (Refuse is the
 * answer for a method the client does not know; it may list none.) */
static int methods_check(struct request *r, const struct reply_state *s,
                         int *http, struct owcp_error *err)
{
  const struct owcp_receipt *rcpt = s->receipt;
  struct owcp_request *req = NULL;
  struct owcp_error why = {{0}};
  int ret = 0;

  if (strcmp(rcpt->response, "Refuse") == 0)
    return 0;
  /* RD-Confirm validated it against the schema before storing it. */
  if (owcp_request_parse_stored(r->d->xml, s->request, s->request_len, &req,
                                &why) != OWCP_XML_OK) {
    /* It was validated when stored: failing now is our fault. */
    owcp_error_set(err, "the stored request no longer parses: %s", why.msg);
    *http = 500;
    return -1;
  }
  for (size_t i = 0; i < req->header.verification_count; i++) {
    const char *m = req->header.verification[i];

    if (!has_method(rcpt->verification, rcpt->verification_count, m)) {
      owcp_error_set(err,
                     "parameter 'Receipt': its Verification does not list "
                     "'%s', which the request requires",
                     m);
      *http = 400;
      ret = -1;
      break;
    }
  }
  owcp_request_free(req);
  return ret;
}

/* The receipt's content must be exactly this reply: same transaction,
 * account, client, response and reason as the parameters and the
 * authenticated client, and the stored request byte for byte. */
static int content_check(struct request *r, const struct cd_reply_in *in,
                         const struct reply_state *s, int *http,
                         struct owcp_error *err)
{
  const struct owcp_receipt *rcpt = s->receipt;
  const char *response = cd_reply_responses[in->response];
  struct owcp_error why = {{0}};

  *http = 400;
  if (owcp_receipt_matches(rcpt, in->transaction, r->client.account,
                           r->client.id, response, s->request, s->request_len,
                           &why) != 0) {
    owcp_error_set(err, "parameter 'Receipt' does not match this reply: %s",
                   why.msg);
    return -1;
  }
  /* owcp_receipt_matches() leaves Reason to us; the verified receipt has
   * one iff it is a Refuse, and reason_check() did the same for in. */
  if (in->reason != NULL &&
      (rcpt->reason == NULL || strcmp(rcpt->reason, in->reason) != 0)) {
    owcp_error_set(err, "parameter 'Receipt': its Reason differs from "
                        "parameter 'Reason'");
    return -1;
  }
  return methods_check(r, s, http, err);
}

/* Everything that must hold before the store is asked. Returns 0, or the
 * HTTP status to answer with (err set; *store_rc non-zero when a store
 * call failed, for http_reply_store_error()). */
static int verify_reply(struct request *r, const struct cd_reply_in *in,
                        struct reply_state *s, int *store_rc,
                        struct owcp_error *err)
{
  struct owcp_error why = {{0}};
  int http;

  *store_rc = 0;
  if (reason_check(in, err) != 0)
    return 400;
  if ((http = load_request(r, in->transaction, s, store_rc, err)) != 0)
    return http;
  if ((http = load_cert(r, s, store_rc, err)) != 0)
    return http;
  /* The certificate was chain-checked when this dispatcher issued it, so
   * the known-signer path (signature with its key, byte-identical signer
   * certificate in the CMS) is as strong and much cheaper. */
  if (owcp_receipt_verify_known_signer(in->receipt, in->receipt_len, s->cert,
                                       &s->receipt, &why) != 0) {
    owcp_error_set(err, "parameter 'Receipt' is invalid: %s", why.msg);
    return 400;
  }
  if (content_check(r, in, s, &http, err) != 0)
    return http;
  return 0;
}

/* Keeps the answer just committed for RD-Status (txcache.h). */
static void keep_answer(struct request *r, const struct store_reply_in *sr,
                        time_t responded)
{
  struct txcache_answer a = {
      .transaction = sr->transaction,
      .client = sr->client,
      .response = sr->response,
      .reason = sr->reason,
      .verification = sr->verification,
      .verification_count = sr->verification_count,
      .receipt = sr->receipt,
      .receipt_len = sr->receipt_len,
      .responded = responded,
  };

  txcache_put_answer(r->d->txs, &a);
}

/* Records the verified reply; the store decides who was first. */
static enum MHD_Result record_reply(struct request *r,
                                    const struct cd_reply_in *in,
                                    const struct reply_state *s)
{
  const struct owcp_receipt *rcpt = s->receipt;
  struct owcp_error err = {{0}};
  struct store_reply_in sr = {0};
  struct store_reply_out out = {0};
  int rc;

  sr.transaction = in->transaction;
  sr.client = r->client.id;
  sr.response = rcpt->response;
  sr.reason = rcpt->reason;
  sr.verification = (const char *const *)rcpt->verification;
  sr.verification_count = rcpt->verification_count;
  sr.receipt = in->receipt;
  sr.receipt_len = in->receipt_len;
  sr.now = 0;
  sr.match = rcpt->match;
  sr.block_seconds = r->d->cfg.not_me_block;
  rc = store_reply(r->st, &sr, &out, &err);
  if (rc != 0)
    return http_reply_store_error(r, rc, &err);
  switch (out.status) {
  case 200:
    keep_answer(r, &sr, out.responded);
    return http_reply(r, 200, NULL);
  case 400:
    return http_reply_error(r, 400,
                            rcpt->match != NULL
                                ? "parameter 'Receipt': 'Match' belongs only "
                                  "in the answer to a device approval"
                                : "parameter 'Receipt': accepting a device "
                                  "approval needs 'Match', the number the "
                                  "new device shows");
  case 403:
    return http_reply_error(r, 403,
                            "the number in the receipt's 'Match' is not the "
                            "one the new device shows: the registration in "
                            "transaction '%s' was rejected",
                            in->transaction);
  case 404:
    return http_reply_error(r, 404,
                            "parameter 'Transaction': no transaction '%s' "
                            "for this account",
                            in->transaction);
  case 408:
    return http_reply_error(r, 408,
                            "transaction '%s' expired or was cancelled "
                            "before this reply",
                            in->transaction);
  case 409:
    return http_reply_error(r, 409, "transaction '%s' was already answered",
                            in->transaction);
  default:
    return http_reply_error(r, 500,
                            "the store answered an unexpected status %d to "
                            "CD-Reply",
                            out.status);
  }
}

enum MHD_Result cd_reply(struct request *r)
{
  const struct cd_reply_in *in = r->in;
  struct reply_state s = {0};
  struct owcp_error err = {{0}};
  enum MHD_Result ret;
  int store_rc, http;

  http = verify_reply(r, in, &s, &store_rc, &err);
  if (store_rc != 0)
    ret = http_reply_store_error(r, store_rc, &err);
  else if (http != 0)
    ret = http_reply_error(r, http, "%s", err.msg);
  else
    ret = record_reply(r, in, &s);
  reply_state_clear(&s);
  return ret;
}
