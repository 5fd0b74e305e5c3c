/*
 * wstep_issue.c — WSTEP Issue (seed §3.1.4.2.1.1, contract §4 WSTEP), after
 * wstep.c's dispatch and authentication:
 *   a non-empty BinarySecurityToken                 -> NO_TOKEN
 *   its payload decodes (wstep_policy.h)            -> BAD_TOKEN
 *   anonymous: a renewal signed by an unexpired certificate of our CA,
 *   whose account (the certificates table) is the requester
 *                                                   -> AUTHENTICATION
 *   the plan: template, signature, UPNs, key, subject and SANs
 *                                                   -> TEMPLATE / BAD_TOKEN /
 *                                                      SUBJECT / KEY
 *   [wstep] confirm = off, or a cached approval of (account, template):
 *     sign and record at once                       -> Issued
 *   otherwise: the request is stored (its RequestID), the confirmation
 *     sent and recorded                             -> Taken Under Submission
 *     (unknown account AUTHENTICATION, dispatcher UNREACHABLE, refused by
 *     policy REJECTED, anything else INTERNAL; the request is then denied)
 * The stored payload is the PKCS#10, or for an anonymous renewal the whole
 * CMS (its signer certificate gives the new certificate's subject when the
 * Accept comes).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "owcp/service/log.h"
#include "wstep.h"
#include "wstep_policy.h"

/* ---- planning and signing --------------------------------------------------
 */

/* The renewal's signer and its account; -1 with err when not acceptable. */
static int renewal_account(struct bridge *b, const struct wstep_payload *p,
                           X509 **signer,
                           char account[BRIDGE_STORE_ACCOUNT_MAX],
                           struct owcp_error *err)
{
  if (wstep_renewal_verify(p, b->wstep->ca.cert, signer, err) != 0)
    return -1;
  if (wstep_cert_account(b, *signer, account, err) != 0) {
    X509_free(*signer);
    *signer = NULL;
    return -1;
  }
  return 0;
}

static struct ca_profile profile_of(const struct bridge_wstep_template *t)
{
  return (struct ca_profile){.validity_days = t->validity_days,
                             .key_usage = t->key_usage,
                             .extended_key_usage = t->extended_key_usage};
}

int wstep_sign_stored(struct bridge *b, const unsigned char *payload,
                      size_t payload_len, const char *account,
                      const char *tpl_name, struct ca_issued *out,
                      enum wstep_fault *fault, struct owcp_error *err)
{
  struct wstep_payload p;
  struct wstep_plan plan;
  X509 *renewed = NULL;
  *fault = WSTEP_FAULT_INTERNAL;
  if (wstep_payload_decode(payload, payload_len, &p, err) != 0)
    return -1;
  if (p.cms != NULL && (renewed = wstep_payload_signer(&p, err)) == NULL) {
    wstep_payload_clear(&p);
    return -1;
  }
  int rc = wstep_plan_make(&b->cfg, p.csr, p.csr_len, account, renewed, &plan,
                           fault, err);
  if (rc == 0 && strcmp(plan.tpl->name, tpl_name) != 0) {
    owcp_error_set(err, "stored request names template %s, not %s",
                   plan.tpl->name, tpl_name);
    *fault = WSTEP_FAULT_TEMPLATE;
    rc = -1;
  }
  struct ca_profile prof =
      rc == 0 ? profile_of(plan.tpl) : (struct ca_profile){0};
  if (rc == 0 && (rc = ca_issue(&b->wstep->ca, &prof, plan.pubkey, plan.subject,
                                plan.sans, out, err)) != 0)
    *fault = WSTEP_FAULT_INTERNAL;
  wstep_plan_clear(&plan);
  X509_free(renewed);
  wstep_payload_clear(&p);
  return rc;
}

/* ---- one Issue -------------------------------------------------------------
 */

struct issue {
  struct wstep_payload payload;
  X509 *renewed; /* anonymous renewal: the signer certificate */
  struct wstep_plan plan;
  const unsigned char *stored; /* what the request row keeps */
  size_t stored_len;
};

static void issue_clear(struct issue *s)
{
  wstep_payload_clear(&s->payload);
  X509_free(s->renewed);
  wstep_plan_clear(&s->plan);
}

/* Signs now and records (tx: the covering approval, NULL under off). */
static enum MHD_Result issue_now(struct svc_request *req, struct wstep_call *c,
                                 struct issue *s, const char *tx)
{
  struct bridge *b = req->app_ctx;
  struct owcp_error err = {{0}};
  struct bridge_store *st = NULL;
  struct ca_issued cert;
  int32_t id = 0;
  struct ca_profile prof = profile_of(s->plan.tpl);
  if (ca_issue(&b->wstep->ca, &prof, s->plan.pubkey, s->plan.subject,
               s->plan.sans, &cert, &err) != 0)
    return wstep_fail(req, c, WSTEP_FAULT_INTERNAL, 0, err.msg);
  struct bridge_wstep_new in = {.account = c->account,
                                .template_name = s->plan.tpl->name,
                                .csr = s->stored,
                                .csr_len = s->stored_len,
                                .transaction = tx};
  struct bridge_wstep_cert rec = {.serial = cert.serial,
                                  .subject = cert.subject,
                                  .der = cert.der,
                                  .der_len = cert.der_len,
                                  .not_before = cert.not_before,
                                  .not_after = cert.not_after};
  int rc = bridge_store_acquire(b->pool, WSTEP_DB_WAIT_MS, &st, &err);
  if (rc == 0)
    rc = bridge_store_wstep_issue_now(st, &in, &rec, &id, &err);
  bridge_store_release(b->pool, st);
  enum MHD_Result ret;
  if (rc != 0) {
    ret = wstep_fail(req, c, WSTEP_FAULT_INTERNAL, 0, err.msg);
  } else {
    svc_log(SVC_LOG_INFO, "wstep.issued",
            "%s: certificate %s (%s, template %s), RequestID %d, %s%s",
            c->account, cert.serial, cert.subject, s->plan.tpl->name, (int)id,
            tx ? "approved by transaction " : "confirm = off", tx ? tx : "");
    ret = wstep_issued(req, c, id, cert.der, cert.der_len);
  }
  ca_issued_free(&cert);
  return ret;
}

/* A covering approval's transaction into tx; 1 found, 0 none, -1 error. */
static int approval(struct bridge *b, const char *account, const char *scope,
                    char tx[BRIDGE_STORE_TX_MAX], struct owcp_error *err)
{
  struct bridge_store *st = NULL;
  struct bridge_approval a;
  bool found = false;
  int rc = bridge_store_acquire(b->pool, WSTEP_DB_WAIT_MS, &st, err);
  if (rc == 0)
    rc = bridge_store_approval_find(st, "wstep", account, scope, 0, &a, &found,
                                    err);
  bridge_store_release(b->pool, st);
  if (rc != 0)
    return -1;
  if (found)
    memcpy(tx, a.transaction, BRIDGE_STORE_TX_MAX);
  return found ? 1 : 0;
}

/* ---- the confirmation ------------------------------------------------------
 */

/* The SANs as text for the details table ("UPN a@b, email a@b"). */
static void sans_text(const GENERAL_NAMES *sans, char *out, size_t size)
{
  size_t used = 0;
  out[0] = '\0';
  for (int i = 0; i < sk_GENERAL_NAME_num(sans) && used < size; i++) {
    const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);
    const ASN1_STRING *s = NULL;
    const char *kind = "UPN";
    if (g->type == GEN_EMAIL) {
      s = g->d.rfc822Name;
      kind = "email";
    } else if (g->type == GEN_DNS) {
      s = g->d.dNSName;
      kind = "DNS";
    } else if (g->type == GEN_OTHERNAME &&
               g->d.otherName->value->type == V_ASN1_UTF8STRING) {
      s = g->d.otherName->value->value.utf8string;
    }
    if (s != NULL)
      used += (size_t)snprintf(out + used, size - used, "%s%s %.*s",
                               used ? ", " : "", kind, ASN1_STRING_length(s),
                               (const char *)ASN1_STRING_get0_data(s));
  }
}

static enum confirm_outcome ask(struct bridge *b, const struct wstep_call *c,
                                const struct issue *s, int32_t id,
                                struct confirm_sent *sent,
                                struct owcp_error *err)
{
  const struct bridge_wstep_template *t = s->plan.tpl;
  char *summary = confirm_summary_wstep(t->name, s->plan.subject_text,
                                        t->validity_days, c->account, err);
  if (summary == NULL)
    return CONFIRM_FAILED;
  char sans[512], validity[32], rid[48];
  sans_text(s->plan.sans, sans, sizeof sans);
  snprintf(validity, sizeof validity, "%d day%s", t->validity_days,
           t->validity_days == 1 ? "" : "s");
  snprintf(rid, sizeof rid, "WSTEP RequestID %d%s", (int)id,
           s->renewed ? " (renewal)" : "");
  struct confirm_detail details[] = {{"Subject", s->plan.subject_text},
                                     {"Template", t->name},
                                     {"Key", s->plan.key_text},
                                     {"Validity", validity},
                                     {"Request", rid},
                                     {"SAN", sans}};
  struct confirm_request q = {.kind = CONFIRM_ENROLLMENT,
                              .to = c->account,
                              .summary = summary,
                              .details = details,
                              .detail_count = sans[0] ? 6 : 5};
  enum confirm_outcome o = confirm_send(b->confirm, &q, sent, err);
  free(summary);
  return o;
}

/* Ends request id (never issued) with reason; best effort, logged. */
static void deny(struct bridge *b, const char *account, int32_t id,
                 const char *reason)
{
  struct owcp_error err = {{0}};
  struct bridge_store *st = NULL;
  int status = 0;
  int rc = bridge_store_acquire(b->pool, WSTEP_DB_WAIT_MS, &st, &err);
  if (rc == 0)
    rc = bridge_store_wstep_deny(st, id, account, reason, 0, &status, &err);
  bridge_store_release(b->pool, st);
  if (rc != 0)
    svc_log(SVC_LOG_WARN, "wstep", "RequestID %d not marked %s: %s", (int)id,
            reason, err.msg);
}

static int record_sent(struct bridge *b, const struct wstep_call *c,
                       const struct issue *s, int32_t id,
                       const struct confirm_sent *sent, struct owcp_error *err)
{
  struct bridge_store *st = NULL;
  int status = 0;
  struct bridge_confirm_new in = {.front = "wstep",
                                  .account = c->account,
                                  .scope = s->plan.tpl->name,
                                  .transaction = sent->transaction,
                                  .request = sent->request_xml,
                                  .request_len = sent->request_len,
                                  .expires = sent->expires};
  int rc = bridge_store_acquire(b->pool, WSTEP_DB_WAIT_MS, &st, err);
  if (rc == 0)
    rc = bridge_store_confirm_record(st, &in, err);
  if (rc == 0)
    rc = bridge_store_wstep_attach(st, id, c->account, sent->transaction,
                                   &status, err);
  bridge_store_release(b->pool, st);
  if (rc == 0 && status != 200) {
    owcp_error_set(err, "RequestID %d: attach answered %d", (int)id, status);
    rc = -1;
  }
  return rc;
}

static enum wstep_fault fault_of_send(enum confirm_outcome o)
{
  switch (o) {
  case CONFIRM_UNKNOWN_ACCOUNT:
    return WSTEP_FAULT_AUTHENTICATION;
  case CONFIRM_UNREACHABLE:
    return WSTEP_FAULT_UNREACHABLE;
  case CONFIRM_REFUSED:
    return WSTEP_FAULT_REJECTED;
  default:
    return WSTEP_FAULT_INTERNAL;
  }
}

/* Stores the request, asks, answers pending. */
static enum MHD_Result submit(struct svc_request *req, struct wstep_call *c,
                              struct issue *s)
{
  struct bridge *b = req->app_ctx;
  struct owcp_error err = {{0}};
  struct bridge_store *st = NULL;
  struct confirm_sent sent = {0};
  int32_t id = 0;
  struct bridge_wstep_new in = {.account = c->account,
                                .template_name = s->plan.tpl->name,
                                .csr = s->stored,
                                .csr_len = s->stored_len};
  int rc = bridge_store_acquire(b->pool, WSTEP_DB_WAIT_MS, &st, &err);
  if (rc == 0)
    rc = bridge_store_wstep_create(st, &in, &id, &err);
  bridge_store_release(b->pool, st);
  if (rc != 0)
    return wstep_fail(req, c, WSTEP_FAULT_INTERNAL, 0, err.msg);
  enum confirm_outcome o = ask(b, c, s, id, &sent, &err);
  if (o != CONFIRM_PENDING) {
    deny(b, c->account, id, confirm_outcome_name(o));
    return wstep_fail(req, c, fault_of_send(o), id, err.msg);
  }
  if (record_sent(b, c, s, id, &sent, &err) != 0) {
    struct confirm_result res = {0};
    struct owcp_error why = {{0}};
    (void)confirm_cancel(b->confirm, sent.transaction, sent.request_xml,
                         sent.request_len, c->account, &res, &why);
    confirm_result_free(&res);
    confirm_sent_free(&sent);
    deny(b, c->account, id, "failed");
    return wstep_fail(req, c, WSTEP_FAULT_INTERNAL, id, err.msg);
  }
  svc_log(SVC_LOG_INFO, "wstep.confirm",
          "%s: RequestID %d (template %s, %s): transaction %s sent", c->account,
          (int)id, s->plan.tpl->name, s->plan.subject_text, sent.transaction);
  confirm_sent_free(&sent);
  return wstep_pending(req, c, id);
}

/* Token, renewal and plan; true to go on, false having replied. */
static bool prepare(struct svc_request *req, struct wstep_call *c,
                    struct issue *s, enum MHD_Result *ret)
{
  struct bridge *b = req->app_ctx;
  struct owcp_error err = {{0}};
  enum wstep_fault f = WSTEP_FAULT_BAD_TOKEN;
  if (!c->msg.has_token) {
    *ret = wstep_fail(req, c, WSTEP_FAULT_NO_TOKEN, 0, "no token");
    return false;
  }
  if (c->msg.token_error[0] != '\0' ||
      wstep_payload_decode(c->msg.token, c->msg.token_len, &s->payload, &err) !=
          0) {
    *ret = wstep_fail(req, c, f, 0,
                      c->msg.token_error[0] ? c->msg.token_error : err.msg);
    return false;
  }
  s->stored = s->payload.csr;
  s->stored_len = s->payload.csr_len;
  if (c->anonymous) {
    if (renewal_account(b, &s->payload, &s->renewed, c->account, &err) != 0) {
      *ret = wstep_fail(req, c, WSTEP_FAULT_AUTHENTICATION, 0, err.msg);
      return false;
    }
    s->stored = c->msg.token; /* the CMS: its signer names the subject */
    s->stored_len = c->msg.token_len;
  }
  if (wstep_plan_make(&b->cfg, s->payload.csr, s->payload.csr_len, c->account,
                      s->renewed, &s->plan, &f, &err) != 0) {
    *ret = wstep_fail(req, c, f, 0, err.msg);
    return false;
  }
  return true;
}

enum MHD_Result wstep_issue(struct svc_request *req, struct wstep_call *c)
{
  struct bridge *b = req->app_ctx;
  struct owcp_error err = {{0}};
  struct issue s;
  enum MHD_Result ret;
  char tx[BRIDGE_STORE_TX_MAX];
  memset(&s, 0, sizeof s);
  if (!prepare(req, c, &s, &ret)) {
    issue_clear(&s);
    return ret;
  }
  const struct confirm_policy *p = &b->cfg.wstep.policy;
  int found = p->mode == CONFIRM_MODE_CACHED
                  ? approval(b, c->account, s.plan.tpl->name, tx, &err)
                  : 0;
  if (p->mode == CONFIRM_MODE_OFF)
    ret = issue_now(req, c, &s, NULL);
  else if (found > 0)
    ret = issue_now(req, c, &s, tx);
  else if (found < 0)
    ret = wstep_fail(req, c, WSTEP_FAULT_INTERNAL, 0, err.msg);
  else
    ret = submit(req, c, &s);
  issue_clear(&s);
  return ret;
}
