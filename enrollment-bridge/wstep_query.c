/*
 * wstep_query.c — WSTEP QueryTokenStatus (seed §3.1.4.2.1.2, contract §4
 * WSTEP): the RequestID's request, as submitted by the authenticated
 * account (an anonymous query sees only anonymous renewals), and how it
 * stands:
 *   RequestID missing, nil, empty or not 1..2^31-1   -> NO_REQUEST_ID
 *   unknown, or another account's                    -> UNKNOWN_REQUEST
 *   issued                                           -> Issued (again)
 *   denied                                           -> REJECTED / EXPIRED /
 *                                                       INTERNAL by reason
 *   pending: the confirmation's outcome as recorded, else asked of the
 *   dispatcher now (RD-Status without waiting, the receipt verified) and
 *   recorded: Accept -> signed, recorded, Issued; still open -> "Taken
 *   Under Submission"; dispatcher unreachable -> UNREACHABLE (the request
 *   stays pending); anything else -> the request is denied and faulted.
 * Asking on every query is what makes the first query after the answer,
 * or after a restart, already say Issued.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "owcp/service/log.h"
#include "wstep.h"
#include "wstep_policy.h"

struct query {
  int32_t id;
  struct bridge_wstep_request r;
};

static enum wstep_fault fault_of_state(const char *state)
{
  if (strcmp(state, "rejected") == 0 || strcmp(state, "refused") == 0)
    return WSTEP_FAULT_REJECTED;
  if (strcmp(state, "expired") == 0 || strcmp(state, "cancelled") == 0)
    return WSTEP_FAULT_EXPIRED;
  if (strcmp(state, "unreachable") == 0)
    return WSTEP_FAULT_UNREACHABLE;
  return WSTEP_FAULT_INTERNAL;
}

/* Looks the request up for c (anonymous: the owner of an anonymous
 * renewal). 1 found, 0 not, -1 error. */
static int lookup(struct bridge *b, struct wstep_call *c, struct query *q,
                  struct owcp_error *err)
{
  struct bridge_store *st = NULL;
  bool found = true;
  int rc = bridge_store_acquire(b->pool, WSTEP_DB_WAIT_MS, &st, err);
  if (rc == 0 && c->anonymous)
    rc = bridge_store_wstep_owner(st, q->id, c->account, &found, err);
  if (rc == 0 && found)
    rc = bridge_store_wstep_get(st, q->id, c->account, &q->r, &found, err);
  bridge_store_release(b->pool, st);
  if (rc != 0)
    return -1;
  /* An anonymous query may see an anonymous renewal (a CMS) only. */
  if (found && c->anonymous) {
    struct wstep_payload p;
    struct owcp_error ignored = {{0}};
    bool renewal =
        wstep_payload_decode(q->r.csr, q->r.csr_len, &p, &ignored) == 0 &&
        p.cms != NULL;
    wstep_payload_clear(&p);
    if (!renewal) {
      bridge_wstep_request_free(&q->r);
      found = false;
    }
  }
  if (!found && c->anonymous)
    c->account[0] = '\0';
  return found ? 1 : 0;
}

/* Records how the confirmation ended (as the waiters do); the state now
 * stored into state. */
static int record(struct bridge *b, const struct query *q,
                  const struct confirm_result *res, enum confirm_outcome o,
                  char state[BRIDGE_STORE_STATE_MAX], struct owcp_error *err)
{
  struct bridge_store *st = NULL;
  int status = 0;
  bool answered =
      o == CONFIRM_ACCEPTED || o == CONFIRM_REJECTED || o == CONFIRM_REFUSED;
  const struct confirm_policy *p = &b->cfg.wstep.policy;
  struct bridge_confirm_outcome in = {
      .transaction = q->r.transaction,
      .state = confirm_outcome_name(o),
      .receipt = answered ? res->receipt : NULL,
      .receipt_len = answered ? res->receipt_len : 0,
      .reason = res->reason,
      .cache_minutes = o == CONFIRM_ACCEPTED && p->mode == CONFIRM_MODE_CACHED
                           ? (int)p->minutes
                           : 0};
  int rc = bridge_store_acquire(b->pool, WSTEP_DB_WAIT_MS, &st, err);
  if (rc == 0)
    rc = bridge_store_confirm_decide(st, &in, &status, state, err);
  bridge_store_release(b->pool, st);
  if (rc == 0 && status != 200 && status != 409) {
    owcp_error_set(err, "transaction %s: decide answered %d", q->r.transaction,
                   status);
    rc = -1;
  }
  return rc;
}

/* Asks the dispatcher; on a final outcome records it and puts the state
 * into q->r.confirmation_state. Returns the outcome. */
static enum confirm_outcome ask(struct bridge *b, struct wstep_call *c,
                                struct query *q, struct owcp_error *err)
{
  struct bridge_store *st = NULL;
  struct bridge_confirmation conf;
  struct confirm_result res = {0};
  bool found = false;
  memset(&conf, 0, sizeof conf);
  int rc = bridge_store_acquire(b->pool, WSTEP_DB_WAIT_MS, &st, err);
  if (rc == 0)
    rc = bridge_store_confirm_get(st, q->r.transaction, &conf, &found, err);
  bridge_store_release(b->pool, st);
  if (rc != 0 || !found) {
    bridge_confirmation_free(&conf);
    return CONFIRM_FAILED;
  }
  enum confirm_outcome o =
      confirm_check(b->confirm, conf.transaction, conf.request,
                    conf.request_len, c->account, 0, &res, err);
  if (o == CONFIRM_FAILED && res.reason == NULL && err->msg[0] != '\0')
    res.reason = strdup(err->msg);
  if (o != CONFIRM_PENDING && o != CONFIRM_UNREACHABLE &&
      record(b, q, &res, o, q->r.confirmation_state, err) != 0)
    o = CONFIRM_UNREACHABLE; /* not recorded: decide at the next query */
  confirm_result_free(&res);
  bridge_confirmation_free(&conf);
  return o;
}

static enum MHD_Result deny(struct svc_request *req, struct wstep_call *c,
                            struct query *q, const char *state)
{
  struct bridge *b = req->app_ctx;
  struct owcp_error err = {{0}};
  struct bridge_store *st = NULL;
  int status = 0;
  int rc = bridge_store_acquire(b->pool, WSTEP_DB_WAIT_MS, &st, &err);
  if (rc == 0)
    rc =
        bridge_store_wstep_deny(st, q->id, c->account, state, 0, &status, &err);
  bridge_store_release(b->pool, st);
  if (rc != 0)
    svc_log(SVC_LOG_WARN, "wstep", "RequestID %d not denied: %s", (int)q->id,
            err.msg);
  char why[128];
  snprintf(why, sizeof why, "confirmation %s: %s", q->r.transaction, state);
  return wstep_fail(req, c, fault_of_state(state), q->id, why);
}

/* The confirmation was accepted: sign, record, answer Issued. */
static enum MHD_Result issue(struct svc_request *req, struct wstep_call *c,
                             struct query *q)
{
  struct bridge *b = req->app_ctx;
  struct owcp_error err = {{0}};
  struct bridge_store *st = NULL;
  struct ca_issued cert;
  enum wstep_fault f;
  int status = 0;
  if (wstep_sign_stored(b, q->r.csr, q->r.csr_len, c->account,
                        q->r.template_name, &cert, &f, &err) != 0)
    return wstep_fail(req, c, f, q->id, err.msg);
  struct bridge_wstep_cert rec = {.serial = cert.serial,
                                  .subject = cert.subject,
                                  .der = cert.der,
                                  .der_len = cert.der_len,
                                  .not_before = cert.not_before,
                                  .not_after = cert.not_after};
  int rc = bridge_store_acquire(b->pool, WSTEP_DB_WAIT_MS, &st, &err);
  if (rc == 0)
    rc = bridge_store_wstep_issue(st, q->id, c->account, &rec, &status, &err);
  if (rc == 0 && status == 409) { /* a concurrent query issued it first */
    bridge_wstep_request_free(&q->r);
    bool found = false;
    rc = bridge_store_wstep_get(st, q->id, c->account, &q->r, &found, &err);
    status = rc == 0 && found && q->r.certificate != NULL ? 200 : 500;
    ca_issued_free(&cert);
    bridge_store_release(b->pool, st);
    if (status == 200)
      return wstep_issued(req, c, q->id, q->r.certificate,
                          q->r.certificate_len);
    return wstep_fail(req, c, WSTEP_FAULT_INTERNAL, q->id, "decided twice");
  }
  bridge_store_release(b->pool, st);
  enum MHD_Result ret;
  if (rc != 0 || status != 200) {
    ret = wstep_fail(req, c, WSTEP_FAULT_INTERNAL, q->id,
                     rc != 0 ? err.msg : "issue refused by the database");
  } else {
    svc_log(SVC_LOG_INFO, "wstep.issued",
            "%s: certificate %s (%s, template %s), RequestID %d, approved by "
            "transaction %s",
            c->account, cert.serial, cert.subject, q->r.template_name,
            (int)q->id, q->r.transaction);
    ret = wstep_issued(req, c, q->id, cert.der, cert.der_len);
  }
  ca_issued_free(&cert);
  return ret;
}

static enum MHD_Result pending(struct svc_request *req, struct wstep_call *c,
                               struct query *q)
{
  struct bridge *b = req->app_ctx;
  struct owcp_error err = {{0}};
  if (q->r.transaction[0] == '\0') /* crashed before its confirmation */
    return deny(req, c, q, "failed");
  if (strcmp(q->r.confirmation_state, "pending") == 0) {
    enum confirm_outcome o = ask(b, c, q, &err);
    if (o == CONFIRM_PENDING)
      return wstep_pending(req, c, q->id);
    if (o == CONFIRM_UNREACHABLE)
      return wstep_fail(req, c, WSTEP_FAULT_UNREACHABLE, q->id, err.msg);
    if (strcmp(q->r.confirmation_state, "pending") == 0) /* not recorded */
      return wstep_fail(req, c, WSTEP_FAULT_INTERNAL, q->id, err.msg);
  }
  if (strcmp(q->r.confirmation_state, "accepted") == 0)
    return issue(req, c, q);
  return deny(req, c, q, q->r.confirmation_state);
}

enum MHD_Result wstep_query(struct svc_request *req, struct wstep_call *c)
{
  struct bridge *b = req->app_ctx;
  struct owcp_error err = {{0}};
  struct query q;
  memset(&q, 0, sizeof q);
  if (!c->msg.has_request_id || c->msg.request_id < 1 ||
      c->msg.request_id > INT32_MAX)
    return wstep_fail(req, c, WSTEP_FAULT_NO_REQUEST_ID, 0,
                      "RequestID missing, nil or not 1..2^31-1");
  q.id = (int32_t)c->msg.request_id;
  int found = lookup(b, c, &q, &err);
  if (found < 0)
    return wstep_fail(req, c, WSTEP_FAULT_INTERNAL, q.id, err.msg);
  if (found == 0)
    return wstep_fail(req, c, WSTEP_FAULT_UNKNOWN_REQUEST, q.id,
                      "no such request of this account");
  enum MHD_Result ret;
  if (strcmp(q.r.state, "issued") == 0)
    ret = wstep_issued(req, c, q.id, q.r.certificate, q.r.certificate_len);
  else if (strcmp(q.r.state, "denied") == 0)
    ret = wstep_fail(req, c, fault_of_state(q.r.reason ? q.r.reason : "failed"),
                     q.id, q.r.reason);
  else
    ret = pending(req, c, &q);
  bridge_wstep_request_free(&q.r);
  return ret;
}
