/*
 * otpce_signcert.c — POST {[otpce] path}: MS-OTPCE SignCert end to end
 * (contract §4, seed §3.2.5.1). In order, stopping at the first failure:
 *   header X-OTPCEP-version 1.0, Content-Type application/xml, a valid
 *   signCertRequest                              -> HTTP 400 OtherError
 *   otpce_check(): CSR, template, user, mapping  -> OtherError /
 *                                                   AuthenticationError
 *   RADIUS PAP (username and OTP as received)    -> Reject
 *       AuthenticationError, Challenge ChallengeResponseRequired, no
 *       valid answer OtherError
 *   the confirmation ([otpce] confirm): off none; cached a covering
 *       approval; required the same request's confirmation when a retry
 *       finds one not handed out yet (pending: followed; accepted: used
 *       once); else a new question whose answer a confirmation waiter
 *       fetches while this request is suspended (waiters.h)
 *                                                -> unknown account
 *       AuthenticationError; anything but a recorded, verified Accept
 *       OtherError
 *   cmc_ra_sign() of the CSR byte for byte, recorded as an issuance
 *       (under required: the Accept's only one)  -> Success
 * Every response carries X-OTPCEP-version: 1.0, added by the service
 * layer from the route's headers (otpce_response_headers), so its own 413
 * and 405 on this path carry it too. RADIUS runs on the worker
 * thread: it is bounded by servers x (1 + retries) x timeout_ms.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cmc.h"
#include "handlers.h"
#include "owcp/service/log.h"
#include "owcp/service/metrics.h"
#include "owcp/service/wakeup.h"
#include "store.h"
#include "waiters.h"

#define OTPCE_VERSION_HEADER "X-OTPCEP-version"
#define OTPCE_VERSION "1.0"
#define DB_WAIT_MS 2000

/* One SignCert across its suspension. */
struct signcert {
  struct otpce_request req;
  struct otpce_checked chk;
  char csr_sha256[2 * OWCP_SHA256_LEN + 1];
  char *scope; /* what an approval covers (see scope_new) */
  struct svc_wakeup *wakeup;
  struct confirm_job *job;
};

static void signcert_free(void *arg)
{
  struct signcert *s = arg;
  svc_wakeup_detach(s->wakeup);
  svc_wakeup_unref(s->wakeup);
  confirm_job_unref(s->job);
  otpce_request_clear(&s->req);
  otpce_checked_clear(&s->chk);
  free(s->scope);
  free(s);
}

int otpce_cache_minutes(const struct confirm_policy *p)
{
  switch (p->mode) {
  case CONFIRM_MODE_CACHED:
    return (int)p->minutes;
  default:
    return 0;
  }
}

/* ---- replies ---------------------------------------------------------------
 */

const char *const otpce_response_headers[] = {OTPCE_VERSION_HEADER,
                                              OTPCE_VERSION, NULL};

static enum MHD_Result reply_xml(struct svc_request *req, unsigned status,
                                 char *xml, size_t len)
{
  return svc_http_reply(req, status, "application/xml; charset=utf-8", xml,
                        len);
}

static void count(struct bridge *b, const char *outcome)
{
  svc_metric_add(b->counters.requests, (const char *const[]){"otpce", outcome},
                 1);
}

/* A failure response (statusCode only), HTTP status http_status; why goes
 * to the log, never to the client. */
static enum MHD_Result fail(struct svc_request *req, unsigned http_status,
                            enum otpce_status st, const char *why)
{
  struct bridge *b = req->app_ctx;
  struct signcert *s = req->app;
  char *xml = NULL;
  size_t len = 0;
  struct owcp_error err = {{0}};
  svc_log(SVC_LOG_INFO, "otpce.refused", "%s%s%s: %s: %s",
          s && s->req.username ? "user " : "",
          s && s->req.username ? s->req.username : "request",
          http_status == 400 ? " (400)" : "", otpce_status_name(st), why);
  count(b, http_status == 400 ? "BadRequest" : otpce_status_name(st));
  if (otpce_response_failure(st, &xml, &len, &err) != 0) {
    svc_log(SVC_LOG_ERROR, "otpce", "%s", err.msg);
    return MHD_NO;
  }
  return reply_xml(req, http_status, xml, len);
}

static enum MHD_Result bad_request(struct svc_request *req, const char *why)
{
  return fail(req, MHD_HTTP_BAD_REQUEST, OTPCE_OTHER_ERROR, why);
}

/* ---- issuing ---------------------------------------------------------------
 */

/* The issuance's details (never a secret): a JSON object text. */
static char *details_json(const struct signcert *s)
{
  json_t *o =
      json_pack("{s:s, s:s, s:s, s:s, s:s?}", "username", s->req.username,
                "subject", s->chk.subject, "upn", s->chk.upn, "csr_sha256",
                s->csr_sha256, "client_host", s->chk.client_host);
  char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
  json_decref(o);
  return text;
}

/* Records the issuance; *status 200, or 409 when under required the
 * Accept of transaction was handed out already (nothing recorded). */
static int record_issuance(struct bridge *b, const struct signcert *s,
                           const char *transaction, int *status,
                           struct owcp_error *err)
{
  char desc[512];
  struct bridge_store *st = NULL;
  char *details = details_json(s);
  bool once =
      transaction != NULL && b->cfg.otpce.policy.mode == CONFIRM_MODE_REQUIRED;
  snprintf(desc, sizeof desc, "CMC request (template %s) for %s",
           s->chk.template_id, s->chk.subject);
  struct bridge_issuance_new in = {.front = "otpce",
                                   .account = s->chk.account,
                                   .scope = s->scope,
                                   .kind = "cmc",
                                   .description = desc,
                                   .details_json = details,
                                   .transaction = transaction};
  *status = 200;
  int rc = details ? bridge_store_acquire(b->pool, DB_WAIT_MS, &st, err) : -1;
  if (rc == 0)
    rc = once ? bridge_store_issuance_record_once(st, &in, status, NULL, err)
              : bridge_store_issuance_record(st, &in, NULL, err);
  bridge_store_release(b->pool, st);
  free(details);
  return rc;
}

static enum MHD_Result confirm_and_wait(struct svc_request *req,
                                        struct signcert *s);

/* Signs, records, answers Success. transaction: the accepted confirmation
 * (NULL under confirm = off). When that Accept turns out to be handed out
 * already (required; a concurrent request of the same bytes took it):
 * ask_again asks the user anew, else OtherError. */
static enum MHD_Result issue(struct svc_request *req, struct signcert *s,
                             const char *transaction, bool ask_again)
{
  struct bridge *b = req->app_ctx;
  struct owcp_error err = {{0}};
  unsigned char *cmc = NULL;
  size_t cmc_len = 0;
  char *xml = NULL;
  size_t len = 0;
  int status = 0;
  int rc = cmc_ra_sign(s->req.csr_der, s->req.csr_len, b->mat.ra_cert,
                       b->mat.ra_key, &cmc, &cmc_len, &err);
  if (rc == 0)
    rc = otpce_response_success(
        cmc, cmc_len, (const char *const *)b->cfg.otpce.issuing_ca.items,
        b->cfg.otpce.issuing_ca.count, &xml, &len, &err);
  if (rc == 0)
    rc = record_issuance(b, s, transaction, &status, &err);
  free(cmc);
  if (rc == 0 && status != 200) {
    free(xml);
    svc_log(SVC_LOG_INFO, "otpce.consumed",
            "user %s (%s): the Accept of transaction %s was handed out "
            "already%s",
            s->req.username, s->chk.account, transaction,
            ask_again ? "; asking again" : "");
    if (ask_again)
      return confirm_and_wait(req, s);
    return fail(req, MHD_HTTP_OK, OTPCE_OTHER_ERROR,
                "the Accept was handed out to another request already");
  }
  if (rc != 0) {
    free(xml);
    return fail(req, MHD_HTTP_OK, OTPCE_OTHER_ERROR, err.msg);
  }
  svc_log(SVC_LOG_INFO, "otpce.issued",
          "user %s (%s): CMC request for template %s, transaction %s",
          s->req.username, s->chk.account, s->chk.template_id,
          transaction ? transaction : "none (confirm = off)");
  count(b, "Success");
  return reply_xml(req, MHD_HTTP_OK, xml, len);
}

/* ---- the confirmation ------------------------------------------------------
 */

/* Under required: the template and the CSR's SHA-256, so that a retry
 * finds only this very request's confirmation; otherwise the template. */
static char *scope_new(const struct confirm_policy *p, const struct signcert *s)
{
  size_t n = strlen(s->chk.template_id) + sizeof s->csr_sha256 + 16;
  char *scope = malloc(n);
  if (scope == NULL)
    return NULL;
  if (p->mode != CONFIRM_MODE_REQUIRED)
    snprintf(scope, n, "%s", s->chk.template_id);
  else
    snprintf(scope, n, "%s csr-sha256:%s", s->chk.template_id, s->csr_sha256);
  return scope;
}

/* confirm = cached: a covering approval's transaction into tx; 1 found,
 * 0 none, -1 error. */
static int approval(struct bridge *b, const struct signcert *s,
                    char tx[BRIDGE_STORE_TX_MAX], struct owcp_error *err)
{
  struct bridge_store *st = NULL;
  struct bridge_approval a;
  bool found = false;
  int rc = bridge_store_acquire(b->pool, DB_WAIT_MS, &st, err);
  if (rc == 0)
    rc = bridge_store_approval_find(st, "otpce", s->chk.account, s->scope, 0,
                                    &a, &found, err);
  bridge_store_release(b->pool, st);
  if (rc != 0)
    return -1;
  if (found)
    memcpy(tx, a.transaction, BRIDGE_STORE_TX_MAX);
  return found ? 1 : 0;
}

static int record_sent(struct bridge *b, const struct signcert *s,
                       const struct confirm_sent *sent, struct owcp_error *err)
{
  struct bridge_store *st = NULL;
  struct bridge_confirm_new in = {.front = "otpce",
                                  .account = s->chk.account,
                                  .scope = s->scope,
                                  .transaction = sent->transaction,
                                  .request = sent->request_xml,
                                  .request_len = sent->request_len,
                                  .expires = sent->expires};
  int rc = bridge_store_acquire(b->pool, DB_WAIT_MS, &st, err);
  if (rc == 0)
    rc = bridge_store_confirm_record(st, &in, err);
  bridge_store_release(b->pool, st);
  return rc;
}

/* Sends the question; CONFIRM_PENDING with *sent filled, else the failure. */
static enum confirm_outcome ask(struct bridge *b, const struct signcert *s,
                                struct confirm_sent *sent,
                                struct owcp_error *err)
{
  char *summary = confirm_summary_otpce(s->chk.template_id, s->req.username,
                                        s->chk.client_host, err);
  if (summary == NULL)
    return CONFIRM_FAILED;
  char hash[sizeof s->csr_sha256 + 8];
  snprintf(hash, sizeof hash, "SHA-256 %s", s->csr_sha256);
  struct confirm_detail details[] = {{"Subject", s->chk.subject},
                                     {"UPN", s->chk.upn},
                                     {"Request", hash},
                                     {"Client host", s->chk.client_host}};
  size_t n = s->chk.client_host ? 4 : 3;
  struct confirm_request q = {.kind = CONFIRM_ENROLLMENT,
                              .to = s->chk.account,
                              .summary = summary,
                              .details = details,
                              .detail_count = n};
  enum confirm_outcome o = confirm_send(b->confirm, &q, sent, err);
  free(summary);
  return o;
}

/* Gives up on a question we sent and cannot follow. */
static void withdraw(struct bridge *b, const char *account,
                     const char *transaction, const char *request_xml,
                     size_t request_len)
{
  struct confirm_result res = {0};
  struct owcp_error err = {{0}};
  (void)confirm_cancel(b->confirm, transaction, request_xml, request_len,
                       account, &res, &err);
  confirm_result_free(&res);
}

/* Suspends until a waiter has the outcome of c, a recorded confirmation.
 * ours: this request sent it (withdrawn when it cannot be followed);
 * otherwise another request's, which its own follower or the next start's
 * recovery still decides. */
static enum MHD_Result follow(struct svc_request *req, struct signcert *s,
                              const struct confirm_sent *c, bool ours)
{
  struct bridge *b = req->app_ctx;
  s->wakeup = svc_wakeup_new(req->con);
  s->job = s->wakeup
               ? confirm_job_new(c->transaction, c->request_xml, c->request_len,
                                 s->chk.account, c->expires,
                                 otpce_cache_minutes(&b->cfg.otpce.policy),
                                 s->wakeup)
               : NULL;
  bool queued = s->job != NULL && waiters_submit(b->waiters, s->job);
  if (!queued && s->job != NULL && waiters_stopping(b->waiters))
    /* A stop between the question and its job: the row is recorded as
     * pending and the next start's recovery follows it (a confirmation in
     * progress survives a restart), so the question is not withdrawn. */
    return fail(req, MHD_HTTP_OK, OTPCE_OTHER_ERROR,
                "stopping; the confirmation stays pending for the next start");
  if (!queued) {
    /* Over the bound: never an unbounded thread. Our question is
     * withdrawn; the row stays pending and is decided (cancelled) by the
     * next start's recovery. */
    if (ours)
      withdraw(b, s->chk.account, c->transaction, c->request_xml,
               c->request_len);
    return fail(req, MHD_HTTP_OK, OTPCE_OTHER_ERROR,
                "too many confirmations in progress (or out of memory)");
  }
  if (svc_wakeup_suspend(s->wakeup))
    return MHD_YES;
  return otpce_signcert(req); /* answered before we could suspend */
}

/* Asks the user and suspends until a waiter has the outcome. */
static enum MHD_Result confirm_and_wait(struct svc_request *req,
                                        struct signcert *s)
{
  struct bridge *b = req->app_ctx;
  struct owcp_error err = {{0}};
  struct confirm_sent sent = {0};
  enum confirm_outcome o = ask(b, s, &sent, &err);
  if (o != CONFIRM_PENDING) {
    svc_metric_add(b->counters.confirmations,
                   (const char *const[]){confirm_outcome_name(o)}, 1);
    return fail(req, MHD_HTTP_OK,
                o == CONFIRM_UNKNOWN_ACCOUNT ? OTPCE_AUTHENTICATION_ERROR
                                             : OTPCE_OTHER_ERROR,
                err.msg);
  }
  if (record_sent(b, s, &sent, &err) != 0) {
    withdraw(b, s->chk.account, sent.transaction, sent.request_xml,
             sent.request_len);
    confirm_sent_free(&sent);
    return fail(req, MHD_HTTP_OK, OTPCE_OTHER_ERROR, err.msg);
  }
  svc_log(SVC_LOG_INFO, "otpce.confirm", "user %s (%s): transaction %s sent",
          s->req.username, s->chk.account, sent.transaction);
  enum MHD_Result ret = follow(req, s, &sent, true);
  confirm_sent_free(&sent);
  return ret;
}

/* confirm = required: this very request's (same account, template, CSR)
 * earlier confirmation, left by a client that went away or a bridge that
 * restarted: 1 found into *c, 0 none, -1 error. */
static int retry_find(struct bridge *b, const struct signcert *s,
                      struct bridge_confirmation *c, struct owcp_error *err)
{
  struct bridge_store *st = NULL;
  bool found = false;
  int rc = bridge_store_acquire(b->pool, DB_WAIT_MS, &st, err);
  if (rc == 0)
    rc = bridge_store_confirm_retry(st, "otpce", s->chk.account, s->scope,
                                    OTPCE_RETRY_MINUTES, 0, c, &found, err);
  bridge_store_release(b->pool, st);
  if (rc != 0)
    return -1;
  return found ? 1 : 0;
}

/* confirm = required: every issuance asks, except that a retry of the
 * same request follows its still pending question, or takes its Accept
 * that nothing was issued from yet. */
static enum MHD_Result required(struct svc_request *req, struct signcert *s)
{
  struct bridge *b = req->app_ctx;
  struct owcp_error err = {{0}};
  struct bridge_confirmation c = {0};
  int found = retry_find(b, s, &c, &err);
  if (found < 0)
    return fail(req, MHD_HTTP_OK, OTPCE_OTHER_ERROR, err.msg);
  if (found == 0)
    return confirm_and_wait(req, s);
  char tx[BRIDGE_STORE_TX_MAX];
  memcpy(tx, c.transaction, sizeof tx);
  bool accepted = strcmp(c.state, "accepted") == 0;
  svc_log(SVC_LOG_INFO, "otpce.retry",
          "user %s (%s): a retry of transaction %s (%s)", s->req.username,
          s->chk.account, tx, c.state);
  enum MHD_Result ret;
  if (accepted) {
    bridge_confirmation_free(&c);
    return issue(req, s, tx, true);
  }
  struct confirm_sent pending = {.transaction = c.transaction,
                                 .request_xml = c.request,
                                 .request_len = c.request_len,
                                 .expires = c.expires};
  ret = follow(req, s, &pending, false);
  bridge_confirmation_free(&c);
  return ret;
}

/* ---- the steps before the confirmation -------------------------------------
 */

static enum MHD_Result check_request(struct svc_request *req,
                                     struct signcert *s)
{
  struct bridge *b = req->app_ctx;
  struct owcp_error err = {{0}};
  const char *v = MHD_lookup_connection_value(req->con, MHD_HEADER_KIND,
                                              OTPCE_VERSION_HEADER);
  if (v == NULL || strcmp(v, OTPCE_VERSION) != 0)
    return bad_request(req, "X-OTPCEP-version must be 1.0");
  if (!svc_media_type_is(
          MHD_lookup_connection_value(req->con, MHD_HEADER_KIND,
                                      MHD_HTTP_HEADER_CONTENT_TYPE),
          "application/xml"))
    return bad_request(req, "Content-Type must be application/xml");
  if (otpce_request_parse(b->otpce, req->body.data, req->body.len, &s->req,
                          &err) != OWCP_XML_OK)
    return bad_request(req, err.msg);
  unsigned char h[OWCP_SHA256_LEN];
  owcp_sha256(s->req.csr_der, s->req.csr_len, h);
  owcp_hex_encode(h, sizeof h, s->csr_sha256);
  return MHD_YES;
}

/* RADIUS PAP; the one-time password is wiped from memory after. Returns
 * true to go on, false having replied. */
static bool check_otp(struct svc_request *req, struct signcert *s,
                      enum MHD_Result *ret)
{
  struct bridge *b = req->app_ctx;
  struct owcp_error err = {{0}};
  struct radius_result rr;
  memset(&rr, 0, sizeof rr);
  int rc = radius_pap(&b->mat.radius, s->req.username, s->req.one_time_password,
                      &rr, &err);
  OPENSSL_cleanse(s->req.one_time_password, strlen(s->req.one_time_password));
  const char *name = rc == 0 ? radius_outcome_name(rr.outcome) : "ERROR";
  svc_metric_add(b->counters.radius, (const char *const[]){name}, 1);
  if (rc == 0 && rr.diagnostics[0] != '\0')
    svc_log(SVC_LOG_WARN, "radius", "%s", rr.diagnostics);
  if (rc != 0) {
    *ret = fail(req, MHD_HTTP_OK, OTPCE_OTHER_ERROR, err.msg);
    return false;
  }
  switch (rr.outcome) {
  case RADIUS_ACCEPT:
    return true;
  case RADIUS_REJECT:
    *ret = fail(req, MHD_HTTP_OK, OTPCE_AUTHENTICATION_ERROR, "RADIUS Reject");
    return false;
  case RADIUS_CHALLENGE:
    *ret = fail(req, MHD_HTTP_OK, OTPCE_CHALLENGE_RESPONSE_REQUIRED,
                "RADIUS Challenge");
    return false;
  default:
    *ret = fail(req, MHD_HTTP_OK, OTPCE_OTHER_ERROR,
                "no valid answer from any RADIUS server");
    return false;
  }
}

static enum MHD_Result start(struct svc_request *req, struct signcert *s)
{
  struct bridge *b = req->app_ctx;
  struct owcp_error err = {{0}};
  enum MHD_Result ret = check_request(req, s);
  if (ret != MHD_YES || req->replied)
    return ret;
  enum otpce_status st = otpce_check(&b->otpce_policy, &s->req, &s->chk, &err);
  if (st != OTPCE_SUCCESS)
    return fail(req, MHD_HTTP_OK, st, err.msg);
  if (!check_otp(req, s, &ret))
    return ret;
  const struct confirm_policy *p = &b->cfg.otpce.policy;
  s->scope = scope_new(p, s);
  if (s->scope == NULL)
    return fail(req, MHD_HTTP_OK, OTPCE_OTHER_ERROR, "out of memory");
  if (p->mode == CONFIRM_MODE_OFF)
    return issue(req, s, NULL, false);
  if (p->mode == CONFIRM_MODE_REQUIRED)
    return required(req, s);
  char tx[BRIDGE_STORE_TX_MAX];
  int found = approval(b, s, tx, &err);
  if (found < 0)
    return fail(req, MHD_HTTP_OK, OTPCE_OTHER_ERROR, err.msg);
  if (found > 0) {
    svc_log(SVC_LOG_INFO, "otpce.approved",
            "user %s (%s): covered by the Accept of transaction %s",
            s->req.username, s->chk.account, tx);
    return issue(req, s, tx, false);
  }
  return confirm_and_wait(req, s);
}

/* The waiter has the outcome: issue on a recorded Accept only. */
static enum MHD_Result resume(struct svc_request *req, struct signcert *s)
{
  struct confirm_job *j = s->job;
  if (!atomic_load(&j->done))
    return svc_wakeup_suspend(s->wakeup) ? MHD_YES : resume(req, s);
  if (j->outcome == CONFIRM_ACCEPTED && j->recorded)
    return issue(req, s, j->transaction, false);
  char why[128];
  snprintf(why, sizeof why, "confirmation %s: %s", j->transaction,
           confirm_outcome_name(j->outcome));
  return fail(req, MHD_HTTP_OK, OTPCE_OTHER_ERROR, why);
}

enum MHD_Result otpce_signcert(struct svc_request *req)
{
  struct signcert *s = req->app;
  if (s != NULL)
    return s->job != NULL ? resume(req, s) : MHD_NO;
  s = calloc(1, sizeof *s);
  if (s == NULL)
    return MHD_NO;
  req->app = s;
  req->app_free = signcert_free;
  return start(req, s);
}
