/*
 * rd_ops.c — the RD operations of spec §4 (RD-Confirm, RD-Status, RD-Final,
 * RD-Register, RD-Deregister) and the blocking confirm-and-wait and
 * register-and-wait (consent) loops. Every
 * answered result goes through rq_verify_result() before it is returned,
 * so no caller can see an Accept the receipt does not prove.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "owcp/jsonspec.h"

/* Longest Wait asked for per RD-Status (the dispatcher's default cap). */
#define RQ_WAIT_MAX 60
/* Pause before polling again after a 503 or a lost connection. */
#define RQ_RETRY_PAUSE_S 1
/* Largest Wait the protocol accepts (docs/protocol-decisions-rd.md). */
#define RQ_WAIT_WIRE_MAX 3600

/* Every failure also clears the answer, so that a caller who looks only at
 * out->response can never see an Accept that did not verify. */
static enum owcp_rq_status fail(struct owcp_rq_result *out,
                                enum owcp_rq_status s)
{
  out->status = s;
  out->response = OWCP_RQ_NO_RESPONSE;
  return s;
}

static enum owcp_rq_status oom(struct owcp_rq_result *out,
                               struct owcp_error *err)
{
  owcp_error_set(err, "out of memory");
  return fail(out, OWCP_RQ_INTERNAL_ERROR);
}

/* Parses xml with the context's validator; *req is the caller's. */
static enum owcp_rq_status parse_local(struct owcp_requestor *rq,
                                       const char *xml, size_t len,
                                       struct owcp_request **req,
                                       struct owcp_error *err)
{
  struct owcp_error why = {{0}};

  if (xml == NULL) {
    owcp_error_set(err, "no XML Request given");
    return OWCP_RQ_INVALID_INPUT;
  }
  switch (owcp_request_parse(rq->validator, xml, len, req, &why)) {
  case OWCP_XML_OK:
    return OWCP_RQ_OK;
  case OWCP_XML_INTERNAL:
    owcp_error_set(err, "%s", why.msg);
    return OWCP_RQ_INTERNAL_ERROR;
  case OWCP_XML_INVALID:
  case OWCP_XML_TOO_LARGE:
    break;
  }
  owcp_error_set(err, "the XML Request is invalid: %s", why.msg);
  return OWCP_RQ_INVALID_INPUT;
}

/* What the dispatcher would refuse anyway, refused before the token is
 * sent anywhere: a From that is not us, and no identifier (the dispatcher
 * needs it for idempotent retries). */
static enum owcp_rq_status check_sendable(const struct owcp_requestor *rq,
                                          const struct owcp_request *req,
                                          struct owcp_error *err)
{
  const char *from = req->header.from;
  char *norm = NULL;
  bool same;

  if (owcp_account_normalize(from, strlen(from), &norm, NULL) != 0) {
    owcp_error_set(err, "the XML Request's <From> '%s' is not an account",
                   from);
    return OWCP_RQ_INVALID_INPUT;
  }
  same = strcmp(norm, rq->account) == 0;
  free(norm);
  if (!same) {
    owcp_error_set(err,
                   "the XML Request's <From> '%s' is not this requestor's "
                   "account '%s'",
                   from, rq->account);
    return OWCP_RQ_INVALID_INPUT;
  }
  if (req->header.identifier == NULL || req->header.identifier[0] == '\0') {
    owcp_error_set(err, "the XML Request's <Header> has no identifier "
                        "attribute (needed for safe resubmission)");
    return OWCP_RQ_INVALID_INPUT;
  }
  return OWCP_RQ_OK;
}

static json_t *confirm_params(const char *xml, size_t xml_len,
                              const struct owcp_confirm_opts *opts)
{
  json_t *p = json_object();

  if (p == NULL ||
      json_object_set_new(p, "Request", json_stringn(xml, xml_len)) != 0)
    goto fail;
  if (opts != NULL && opts->timeout_s > 0 &&
      json_object_set_new(p, "Timeout", json_integer(opts->timeout_s)) != 0)
    goto fail;
  if (opts != NULL && opts->completion != NULL &&
      json_object_set_new(p, "Completion", json_string(opts->completion)) != 0)
    goto fail;
  return p;
fail:
  json_decref(p);
  return NULL;
}

/* Transaction, Identifier and Expires of any answer that has them. */
static int take_ids(const json_t *json, struct owcp_rq_result *out)
{
  free(out->transaction);
  free(out->identifier);
  free(out->expires);
  return rq_dup_member(json, "Transaction", &out->transaction) |
         rq_dup_member(json, "Identifier", &out->identifier) |
         rq_dup_member(json, "Expires", &out->expires);
}

/* Records a 202 RD-Confirm answer: its identifiers into out and the exact
 * bytes sent into the context's memo. */
static enum owcp_rq_status
take_submission(struct owcp_requestor *rq, const struct owcp_request *req,
                const char *xml, size_t xml_len, const json_t *json,
                struct owcp_rq_result *out, struct owcp_error *err)
{
  int put;

  if (take_ids(json, out) != 0)
    return oom(out, err);
  if (out->transaction == NULL || out->transaction[0] == '\0') {
    owcp_error_set(err, "RD-Confirm: the dispatcher's 202 carries no "
                        "Transaction");
    return fail(out, OWCP_RQ_PROTOCOL_ERROR);
  }
  /* The identifier is ours (in the bytes sent), not the dispatcher's. */
  free(out->identifier);
  out->identifier = strdup(req->header.identifier);
  if (out->identifier == NULL)
    return oom(out, err);
  put = rq_memo_put(rq, out->transaction, xml, xml_len);
  if (put == RQ_MEMO_CLASH) {
    owcp_error_set(err,
                   "RD-Confirm: the dispatcher answered with transaction "
                   "%s, which it already gave to a different request",
                   out->transaction);
    return fail(out, OWCP_RQ_PROTOCOL_ERROR);
  }
  return put == 0 ? OWCP_RQ_PENDING : oom(out, err);
}

enum owcp_rq_status owcp_rq_confirm(struct owcp_requestor *rq, const char *xml,
                                    size_t xml_len,
                                    const struct owcp_confirm_opts *opts,
                                    struct owcp_rq_result *out,
                                    struct owcp_error *err)
{
  struct owcp_request *req = NULL;
  json_t *params = NULL, *json = NULL;
  enum owcp_rq_status s;

  memset(out, 0, sizeof *out);
  s = parse_local(rq, xml, xml_len, &req, err);
  if (s == OWCP_RQ_OK)
    s = check_sendable(rq, req, err);
  if (s != OWCP_RQ_OK) {
    owcp_request_free(req);
    return fail(out, s);
  }
  params = confirm_params(xml, xml_len, opts);
  if (params == NULL) {
    owcp_request_free(req);
    return oom(out, err);
  }
  s = rq_post(rq, "RD-Confirm", params, 0, &json, out, err);
  json_decref(params);
  if (s == OWCP_RQ_OK) {
    /* Only 202 is a submission; an answer is believed only through a
     * verified receipt (RD-Status), never from RD-Confirm. */
    owcp_error_set(err, "RD-Confirm: the dispatcher answered 200 instead of "
                        "202 Incomplete");
    s = fail(out, OWCP_RQ_PROTOCOL_ERROR);
  } else if (s == OWCP_RQ_PENDING) {
    s = take_submission(rq, req, xml, xml_len, json, out, err);
  }
  json_decref(json);
  owcp_request_free(req);
  return s;
}

/* Verifies a 200 result: the receipt is decoded and checked against the
 * request bytes (given, or remembered from RD-Confirm). */
static enum owcp_rq_status
verify_answer(struct owcp_requestor *rq, const char *op, const char *tx,
              const char *xml, size_t xml_len, const json_t *json,
              struct owcp_rq_result *out, struct owcp_error *err)
{
  const char *b64 = json_string_value(json_object_get(json, "Receipt"));
  const struct rq_memo *memo;
  struct owcp_error why = {{0}};
  X509 *ca;

  if (xml == NULL) {
    memo = rq_memo_get(rq, tx);
    if (memo == NULL) {
      owcp_error_set(err,
                     "%s: cannot check the answer to transaction %s: the "
                     "XML Request sent for it is not known (pass it)",
                     op, tx);
      return fail(out, OWCP_RQ_VERIFY_FAILED);
    }
    xml = memo->xml;
    xml_len = memo->xml_len;
  }
  if (out->transaction == NULL || strcmp(out->transaction, tx) != 0) {
    owcp_error_set(err, "%s: the answer is for another transaction", op);
    return fail(out, OWCP_RQ_VERIFY_FAILED);
  }
  if (b64 == NULL || owcp_base64_decode(b64, strlen(b64), &out->receipt,
                                        &out->receipt_len, &why) != 0) {
    owcp_error_set(err, "%s: the answer carries no valid base64 Receipt%s%s",
                   op, b64 ? ": " : "", b64 ? why.msg : "");
    return fail(out, OWCP_RQ_VERIFY_FAILED);
  }
  ca = rq_client_ca(rq, &why);
  if (ca == NULL) {
    owcp_error_set(err,
                   "%s: cannot get the client CA to verify the "
                   "receipt: %s",
                   op, why.msg);
    return fail(out, OWCP_RQ_NETWORK_ERROR);
  }
  if (rq_verify_result(ca, rq->validator, xml, xml_len, json, out, &why) != 0) {
    owcp_error_set(err,
                   "%s: the receipt for transaction %s does not verify: "
                   "%s",
                   op, tx, why.msg);
    return fail(out, OWCP_RQ_VERIFY_FAILED);
  }
  return OWCP_RQ_OK;
}

/* RD-Status and RD-Final share their parameters and their result. */
static enum owcp_rq_status result_op(struct owcp_requestor *rq, const char *op,
                                     const char *tx, const char *xml,
                                     size_t xml_len, int wait_s,
                                     struct owcp_rq_result *out,
                                     struct owcp_error *err)
{
  json_t *params, *json = NULL;
  enum owcp_rq_status s;

  memset(out, 0, sizeof *out);
  if (tx == NULL || tx[0] == '\0') {
    owcp_error_set(err, "%s: no transaction given", op);
    return fail(out, OWCP_RQ_INVALID_INPUT);
  }
  params = json_pack("{s:s}", "Transaction", tx);
  if (params == NULL)
    return oom(out, err);
  if (wait_s > 0 &&
      json_object_set_new(params, "Wait", json_integer(wait_s)) != 0) {
    json_decref(params);
    return oom(out, err);
  }
  s = rq_post(rq, op, params, wait_s, &json, out, err);
  json_decref(params);
  if (json != NULL && take_ids(json, out) != 0)
    s = oom(out, err);
  else if (s == OWCP_RQ_OK)
    s = verify_answer(rq, op, tx, xml, xml_len, json, out, err);
  else if (s == OWCP_RQ_TIMEOUT)
    owcp_error_set(err,
                   "%s: transaction %s expired unanswered or was "
                   "cancelled",
                   op, tx);
  json_decref(json);
  return s;
}

enum owcp_rq_status owcp_rq_status(struct owcp_requestor *rq,
                                   const char *transaction,
                                   const char *request_xml, size_t xml_len,
                                   int wait_s, struct owcp_rq_result *out,
                                   struct owcp_error *err)
{
  /* The wire range of Wait is 0..3600 (the dispatcher caps it further). */
  if (wait_s < 0)
    wait_s = 0;
  if (wait_s > RQ_WAIT_WIRE_MAX)
    wait_s = RQ_WAIT_WIRE_MAX;
  return result_op(rq, "RD-Status", transaction, request_xml, xml_len, wait_s,
                   out, err);
}

enum owcp_rq_status owcp_rq_final(struct owcp_requestor *rq,
                                  const char *transaction,
                                  const char *request_xml, size_t xml_len,
                                  struct owcp_rq_result *out,
                                  struct owcp_error *err)
{
  return result_op(rq, "RD-Final", transaction, request_xml, xml_len, 0, out,
                   err);
}

static enum owcp_rq_status account_op(struct owcp_requestor *rq, const char *op,
                                      const char *to,
                                      struct owcp_rq_result *out,
                                      struct owcp_error *err)
{
  struct owcp_error why = {{0}};
  json_t *params, *json = NULL;
  char *norm = NULL;
  enum owcp_rq_status s;

  memset(out, 0, sizeof *out);
  if (to == NULL || owcp_account_normalize(to, strlen(to), &norm, &why) != 0) {
    owcp_error_set(err, "%s: To is not an account: %s", op,
                   to == NULL ? "none given" : why.msg);
    return fail(out, OWCP_RQ_INVALID_INPUT);
  }
  params = json_pack("{s:s}", "To", norm);
  free(norm);
  if (params == NULL)
    return oom(out, err);
  s = rq_post(rq, op, params, 0, &json, out, err);
  json_decref(params);
  if (s == OWCP_RQ_OK)
    out->ready = json_is_true(json_object_get(json, "Ready"));
  else if (json != NULL && take_ids(json, out) != 0)
    s = oom(out, err);
  json_decref(json);
  if (s == OWCP_RQ_PENDING &&
      (out->transaction == NULL || out->transaction[0] == '\0')) {
    owcp_error_set(err, "%s: the dispatcher's 202 carries no Transaction", op);
    s = fail(out, OWCP_RQ_PROTOCOL_ERROR);
  }
  return s;
}

enum owcp_rq_status owcp_rq_register(struct owcp_requestor *rq, const char *to,
                                     struct owcp_rq_result *out,
                                     struct owcp_error *err)
{
  return account_op(rq, "RD-Register", to, out, err);
}

enum owcp_rq_status owcp_rq_deregister(struct owcp_requestor *rq,
                                       const char *to,
                                       struct owcp_rq_result *out,
                                       struct owcp_error *err)
{
  return account_op(rq, "RD-Deregister", to, out, err);
}

/* The Wait for the next poll: up to RQ_WAIT_MAX, never past the deadline;
 * 0 when the deadline has passed. */
static int next_wait(time_t deadline)
{
  time_t now = time(NULL);

  if (deadline == 0)
    return RQ_WAIT_MAX;
  if (now >= deadline)
    return 0;
  return deadline - now < RQ_WAIT_MAX ? (int)(deadline - now) : RQ_WAIT_MAX;
}

/* True once a pending transaction's Expires (plus a minute of clock slack)
 * has passed: polling on would only spin against an unreachable server. */
static bool long_expired(const char *expires)
{
  time_t t;

  return expires != NULL && owcp_time_parse(expires, &t, NULL) == 0 &&
         time(NULL) > t + 60;
}

/* Outcomes of a poll that say "not now" rather than "no": the transaction
 * may still be answered, so waiting goes on. */
static bool retryable(enum owcp_rq_status s)
{
  return s == OWCP_RQ_NETWORK_ERROR || s == OWCP_RQ_UNAVAILABLE ||
         s == OWCP_RQ_RATE_LIMITED;
}

/* Sleeps retry_s seconds (a 429's Retry; at least RQ_RETRY_PAUSE_S, at
 * most RQ_WAIT_MAX) but never past the deadline. */
static void pause_before_retry(long retry_s, time_t deadline)
{
  long pause = retry_s > RQ_RETRY_PAUSE_S ? retry_s : RQ_RETRY_PAUSE_S;
  long left = next_wait(deadline);
  struct timespec ts = {0, 0};

  if (pause > RQ_WAIT_MAX)
    pause = RQ_WAIT_MAX;
  if (deadline != 0 && pause > left)
    pause = left;
  ts.tv_sec = pause;
  nanosleep(&ts, NULL);
}

enum owcp_rq_status
owcp_rq_confirm_and_wait(struct owcp_requestor *rq, const char *xml,
                         size_t xml_len, const struct owcp_confirm_opts *opts,
                         time_t deadline, struct owcp_rq_result *out,
                         struct owcp_error *err)
{
  struct owcp_rq_result poll;
  enum owcp_rq_status s;
  char *tx, *expires;

  /* RD-Confirm is idempotent (the dispatcher requires the header
   * identifier, and identical bytes return the existing transaction), so
   * a submission whose answer was lost — the dispatcher died after the
   * commit, a 503, a 429 — is sent again until the deadline. */
  for (;;) {
    s = owcp_rq_confirm(rq, xml, xml_len, opts, out, err);
    if (!retryable(s) || deadline == 0 || next_wait(deadline) == 0)
      break;
    long retry = out->retry_after;
    owcp_rq_result_free(out);
    pause_before_retry(retry, deadline);
  }
  if (s != OWCP_RQ_PENDING)
    return s;
  tx = out->transaction;
  expires = out->expires;
  out->transaction = NULL;
  out->expires = NULL;
  for (;;) {
    int wait = next_wait(deadline);
    if (deadline != 0 && wait == 0) {
      owcp_error_set(err,
                     "transaction %s is still unanswered at the "
                     "deadline (left pending)",
                     tx);
      s = OWCP_RQ_DEADLINE;
      break;
    }
    s = owcp_rq_status(rq, tx, xml, xml_len, wait, &poll, err);
    if (s == OWCP_RQ_PENDING) {
      owcp_rq_result_free(&poll);
      continue;
    }
    /* Without a deadline, the expiry bounds the retries. */
    if (retryable(s) && (deadline != 0 || expires != NULL) &&
        !long_expired(expires)) {
      long retry = poll.retry_after;
      owcp_rq_result_free(&poll);
      pause_before_retry(retry, deadline);
      continue;
    }
    owcp_rq_result_free(out);
    *out = poll;
    break;
  }
  if (out->transaction == NULL) {
    out->transaction = tx;
    tx = NULL;
  }
  if (out->expires == NULL) {
    out->expires = expires;
    expires = NULL;
  }
  out->status = s;
  free(tx);
  free(expires);
  return s;
}

/* One RD-Status long poll on a consent request, only to learn when it is
 * decided: its answer is not believed (the receipt covers XML the
 * dispatcher wrote, which this context never sent); the RD-Register that
 * follows is the answer. */
static enum owcp_rq_status consent_poll(struct owcp_requestor *rq,
                                        const char *tx, int wait_s,
                                        long *retry_after,
                                        struct owcp_error *err)
{
  struct owcp_rq_result poll;
  json_t *params = json_pack("{s:s, s:i}", "Transaction", tx, "Wait", wait_s);
  json_t *json = NULL;
  enum owcp_rq_status s;

  memset(&poll, 0, sizeof poll);
  if (params == NULL)
    return oom(&poll, err);
  s = rq_post(rq, "RD-Status", params, wait_s, &json, &poll, err);
  json_decref(params);
  json_decref(json);
  *retry_after = poll.retry_after;
  owcp_rq_result_free(&poll);
  return s;
}

enum owcp_rq_status owcp_rq_register_and_wait(struct owcp_requestor *rq,
                                              const char *to, time_t deadline,
                                              struct owcp_rq_result *out,
                                              struct owcp_error *err)
{
  enum owcp_rq_status s = owcp_rq_register(rq, to, out, err);
  long retry = 0;

  while (s == OWCP_RQ_PENDING) {
    int wait = next_wait(deadline);
    if (deadline != 0 && wait == 0) {
      owcp_error_set(err,
                     "the consent request %s is still unanswered at the "
                     "deadline (left pending)",
                     out->transaction);
      return out->status = OWCP_RQ_DEADLINE;
    }
    s = consent_poll(rq, out->transaction, wait, &retry, err);
    if (s == OWCP_RQ_PENDING)
      continue;
    if (retryable(s) && !long_expired(out->expires)) {
      pause_before_retry(retry, deadline);
      s = OWCP_RQ_PENDING;
      continue;
    }
    if (s == OWCP_RQ_TIMEOUT) {
      owcp_error_set(err,
                     "the consent request %s expired unanswered or was "
                     "cancelled (RD-Register again to ask again)",
                     out->transaction);
      return out->status = OWCP_RQ_TIMEOUT;
    }
    if (s != OWCP_RQ_OK)
      return out->status = s;
    /* Decided: RD-Register says what it came to. */
    owcp_rq_result_free(out);
    s = owcp_rq_register(rq, to, out, err);
  }
  return s;
}
