/*
 * mras_service.c — the MRAS operation (mras.h), whatever the transport:
 *   the request checks (mras_xml.h)           -> Request Malformed, Request
 *                                                Too Large, Version Mismatch
 *   every identity maps ([identity]) to the authenticated account
 *                                             -> Forbidden, nobody asked
 *   route directip with a turn_host that is no IP address -> Not Supported
 *   the confirmation ([mras] confirm): a covering approval, the open
 *       question of an earlier try (never a second one), or a new question;
 *       waited for at most MRAS_WAIT_S        -> Time Out (still open),
 *       Reject/Refuse/expiry Forbidden, dispatcher unreachable Server
 *       Busy, a failed verification Other Failure
 *   minted (turn_cred.h) and recorded         -> OK; a record that fails:
 *                                                Internal Server Error
 * Also the front's start, reload and stop.
 */
#include <arpa/inet.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mras_internal.h"
#include "owcp/service/log.h"
#include "owcp/service/metrics.h"
#include "sip_transport.h"
#include "store.h"

#define DB_WAIT_MS 2000
#define POLL_MS 100
/* An answered question nobody came back for is forgotten after this. */
#define PENDING_KEEP_S 600

int mras_cache_minutes(const struct bridge *b)
{
  const struct confirm_policy *p = &b->cfg.mras.policy;
  return p->mode == CONFIRM_MODE_CACHED ? (int)p->minutes : 0;
}

/* ---- one request's state ----------------------------------------------------
 */

struct op {
  struct bridge *b;
  const char *account, *transport;
  struct mras_request req;
  char *scope; /* the identities, space-separated */
  long minutes;
  struct owcp_error err;
};

static void count(struct bridge *b, enum mras_reason r)
{
  svc_metric_add(b->counters.requests,
                 (const char *const[]){"mras", mras_reason_phrase(r)}, 1);
}

static long duration_of(const struct bridge *b,
                        const struct mras_cred_request *c)
{
  long max = b->cfg.mras.max_duration;
  return c->duration > 0 && c->duration < max ? c->duration : max;
}

static bool is_ip(const char *host)
{
  unsigned char buf[16];
  return inet_pton(AF_INET, host, buf) == 1 ||
         inet_pton(AF_INET6, host, buf) == 1;
}

/* Does an earlier credentialsRequest than i name the same identity? */
static bool asked_before(const struct mras_request *r, size_t i)
{
  for (size_t k = 0; k < i; k++)
    if (strcmp(r->items[k].identity, r->items[i].identity) == 0)
      return true;
  return false;
}

/* Forbidden unless every identity maps to the account; the scope. */
static enum mras_reason check_identities(struct op *o)
{
  size_t n = 1;
  for (size_t i = 0; i < o->req.count; i++) {
    char *acct = NULL;
    struct owcp_error why = {{0}};
    if (idmap_map(&o->b->cfg.idmap, o->req.items[i].identity, &acct, &why) !=
            0 ||
        strcmp(acct, o->account) != 0) {
      owcp_error_set(&o->err, "identity %s is not %s's (%s)",
                     o->req.items[i].identity, o->account,
                     acct ? acct : why.msg);
      free(acct);
      return MRAS_FORBIDDEN;
    }
    free(acct);
    n += strlen(o->req.items[i].identity) + 1;
    long d = duration_of(o->b, &o->req.items[i]);
    if (d > o->minutes)
      o->minutes = d;
    if (o->req.items[i].directip && !is_ip(o->b->cfg.mras.turn_host)) {
      owcp_error_set(&o->err, "route directip, but turn_host is a name");
      return MRAS_NOT_SUPPORTED;
    }
  }
  o->scope = calloc(1, n);
  if (o->scope == NULL)
    return MRAS_INTERNAL_ERROR;
  size_t used = 0;
  for (size_t i = 0; i < o->req.count; i++) {
    const char *id = o->req.items[i].identity;
    if (asked_before(&o->req, i))
      continue; /* the same identity asked twice is asked about once */
    size_t l = strlen(id);
    if (used > 0)
      o->scope[used++] = ' ';
    memcpy(o->scope + used, id, l + 1);
    used += l;
  }
  return MRAS_OK;
}

/* ---- issuing ---------------------------------------------------------------
 */

static int record(struct op *o, const struct mras_cred_request *c,
                  const struct turn_cred *cred, long minutes, const char *tx)
{
  struct bridge *b = o->b;
  char desc[256];
  struct bridge_store *st = NULL;
  const char *fmt = b->cfg.mras.token_format == TURN_MSTURN ? "msturn" : "rest";
  snprintf(desc, sizeof desc, "TURN credentials (%s, %ld min) for %.150s", fmt,
           minutes, c->identity);
  json_t *j =
      json_pack("{s:s, s:s, s:I, s:I, s:s}", "identity", c->identity, "format",
                fmt, "minutes", (json_int_t)minutes, "expires",
                (json_int_t)cred->expires, "turn_host", b->cfg.mras.turn_host);
  char *details = j ? json_dumps(j, JSON_COMPACT) : NULL;
  json_decref(j);
  struct bridge_issuance_new in = {.front = "mras",
                                   .account = o->account,
                                   .scope = o->scope,
                                   .kind = "turn",
                                   .description = desc,
                                   .details_json = details,
                                   .transaction = tx};
  int rc =
      details ? bridge_store_acquire(b->pool, DB_WAIT_MS, &st, &o->err) : -1;
  if (rc == 0)
    rc = bridge_store_issuance_record(st, &in, NULL, &o->err);
  bridge_store_release(b->pool, st);
  free(details);
  return rc;
}

static enum mras_reason issue(struct op *o, const char *tx, char **xml,
                              size_t *len)
{
  struct bridge *b = o->b;
  const struct bridge_mras_config *m = &b->cfg.mras;
  size_t n = o->req.count;
  struct turn_cred *creds = calloc(n, sizeof *creds);
  struct mras_cred_response *out = calloc(n, sizeof *out);
  enum mras_reason r = creds && out ? MRAS_OK : MRAS_INTERNAL_ERROR;
  time_t now = time(NULL);
  for (size_t i = 0; r == MRAS_OK && i < n; i++) {
    const struct mras_cred_request *c = &o->req.items[i];
    long minutes = duration_of(b, c);
    if (turn_cred_mint(b->mras->secrets, (enum turn_format)m->token_format,
                       c->identity, minutes, now, &creds[i], &o->err) != 0 ||
        record(o, c, &creds[i], minutes, tx) != 0) {
      r = MRAS_INTERNAL_ERROR;
      break;
    }
    out[i] = (struct mras_cred_response){
        .id = c->id,
        .username = creds[i].username,
        .password = creds[i].password,
        .duration = minutes,
        .location = c->location != MRAS_LOC_NONE
                        ? c->location
                        : (enum mras_location)m->location,
        .host = m->turn_host,
        .direct = c->directip,
        .udp_port = (unsigned)m->turn_udp_port,
        .tcp_port = (unsigned)m->turn_tcp_port};
  }
  if (r == MRAS_OK &&
      mras_response_build(&o->req, r, out, n, xml, len, &o->err) != 0)
    r = MRAS_INTERNAL_ERROR;
  for (size_t i = 0; creds && i < n; i++)
    turn_cred_clear(&creds[i]);
  free(creds);
  free(out);
  if (r == MRAS_OK)
    svc_log(SVC_LOG_INFO, "mras.issued",
            "%s: %zu credential(s) for %s (%s), transaction %s", o->transport,
            n, o->scope, o->account, tx ? tx : "none (confirm = off)");
  return r;
}

/* ---- the confirmation ------------------------------------------------------
 */

/* The approval's transaction into tx: 1 found, 0 none, < 0 a store error. */
static int approval(struct op *o, char tx[BRIDGE_STORE_TX_MAX])
{
  struct bridge_store *st = NULL;
  struct bridge_approval a;
  bool found = false;
  int rc = bridge_store_acquire(o->b->pool, DB_WAIT_MS, &st, &o->err);
  if (rc == 0)
    rc = bridge_store_approval_find(st, "mras", o->account, o->scope, 0, &a,
                                    &found, &o->err);
  bridge_store_release(o->b->pool, st);
  if (rc != 0)
    return rc;
  if (found)
    memcpy(tx, a.transaction, BRIDGE_STORE_TX_MAX);
  return found ? 1 : 0;
}

/* The open question of (account, scope), with a reference; NULL none. */
static struct confirm_job *pending_find(struct mras_front *f, struct op *o)
{
  struct confirm_job *j = NULL;
  time_t now = time(NULL);
  pthread_mutex_lock(&f->lock);
  for (size_t i = 0; i < MRAS_PENDING_MAX; i++) {
    struct mras_pending *p = &f->pending[i];
    if (p->job == NULL)
      continue;
    if (atomic_load(&p->job->done) && now - p->created > PENDING_KEEP_S) {
      confirm_job_unref(p->job);
      free(p->account);
      free(p->scope);
      memset(p, 0, sizeof *p);
      continue;
    }
    if (j == NULL && strcmp(p->account, o->account) == 0 &&
        strcmp(p->scope, o->scope) == 0) {
      j = p->job;
      atomic_fetch_add(&j->refs, 1);
    }
  }
  pthread_mutex_unlock(&f->lock);
  return j;
}

/* Forgets job (its outcome was used). */
static void pending_drop(struct mras_front *f, struct confirm_job *job)
{
  pthread_mutex_lock(&f->lock);
  for (size_t i = 0; i < MRAS_PENDING_MAX; i++) {
    struct mras_pending *p = &f->pending[i];
    if (p->job == job) {
      confirm_job_unref(p->job);
      free(p->account);
      free(p->scope);
      memset(p, 0, sizeof *p);
    }
  }
  pthread_mutex_unlock(&f->lock);
}

static bool pending_add(struct mras_front *f, struct op *o,
                        struct confirm_job *job)
{
  bool ok = false;
  pthread_mutex_lock(&f->lock);
  for (size_t i = 0; i < MRAS_PENDING_MAX && !ok; i++) {
    struct mras_pending *p = &f->pending[i];
    if (p->job != NULL)
      continue;
    p->account = strdup(o->account);
    p->scope = strdup(o->scope);
    if (p->account == NULL || p->scope == NULL) {
      free(p->account);
      free(p->scope);
      memset(p, 0, sizeof *p);
      break;
    }
    p->job = job;
    atomic_fetch_add(&job->refs, 1);
    p->created = time(NULL);
    ok = true;
  }
  pthread_mutex_unlock(&f->lock);
  return ok;
}

static enum mras_reason of_outcome(enum confirm_outcome c)
{
  switch (c) {
  case CONFIRM_UNREACHABLE:
    return MRAS_SERVER_BUSY;
  case CONFIRM_FAILED:
    return MRAS_OTHER_FAILURE;
  default:
    return MRAS_FORBIDDEN; /* Reject, Refuse, expiry, cancellation, unknown */
  }
}

/* Sends the question, records it, queues its job: the job (one
 * reference), or NULL with *why. */
static struct confirm_job *ask(struct op *o, enum mras_reason *why)
{
  struct bridge *b = o->b;
  struct confirm_sent sent = {0};
  char *summary = confirm_summary_mras(o->scope, o->minutes, &o->err);
  struct confirm_detail details[] = {{"Identity", o->scope},
                                     {"Relay", b->cfg.mras.turn_host}};
  struct confirm_request q = {.kind = CONFIRM_CREDENTIALS,
                              .to = o->account,
                              .summary = summary,
                              .details = details,
                              .detail_count = 2};
  enum confirm_outcome c =
      summary ? confirm_send(b->confirm, &q, &sent, &o->err) : CONFIRM_FAILED;
  free(summary);
  if (c != CONFIRM_PENDING) {
    svc_metric_add(b->counters.confirmations,
                   (const char *const[]){confirm_outcome_name(c)}, 1);
    *why = of_outcome(c);
    return NULL;
  }
  struct bridge_store *st = NULL;
  struct bridge_confirm_new in = {.front = "mras",
                                  .account = o->account,
                                  .scope = o->scope,
                                  .transaction = sent.transaction,
                                  .request = sent.request_xml,
                                  .request_len = sent.request_len,
                                  .expires = sent.expires};
  int rc = bridge_store_acquire(b->pool, DB_WAIT_MS, &st, &o->err);
  if (rc == 0)
    rc = bridge_store_confirm_record(st, &in, &o->err);
  bridge_store_release(b->pool, st);
  struct confirm_job *job =
      rc == 0 ? confirm_job_new(sent.transaction, sent.request_xml,
                                sent.request_len, o->account, sent.expires,
                                mras_cache_minutes(b), NULL)
              : NULL;
  if (job == NULL || !waiters_submit(b->waiters, job)) {
    struct confirm_result res = {0};
    struct owcp_error e = {{0}};
    (void)confirm_cancel(b->confirm, sent.transaction, sent.request_xml,
                         sent.request_len, o->account, &res, &e);
    confirm_result_free(&res);
    confirm_job_unref(job);
    confirm_sent_free(&sent);
    *why = rc == BRIDGE_STORE_UNAVAILABLE || job != NULL ? MRAS_SERVER_BUSY
                                                         : MRAS_INTERNAL_ERROR;
    return NULL;
  }
  svc_log(SVC_LOG_INFO, "mras.confirm", "%s: %s (%s): transaction %s sent",
          o->transport, o->scope, o->account, sent.transaction);
  confirm_sent_free(&sent);
  (void)pending_add(b->mras, o, job);
  return job;
}

/* Waits for job until deadline (or the bridge stops). */
static bool wait_for(struct bridge *b, struct confirm_job *job, time_t deadline)
{
  while (!atomic_load(&job->done)) {
    if (time(NULL) >= deadline || atomic_load(&b->stopping))
      return false;
    usleep(POLL_MS * 1000);
  }
  return true;
}

static enum mras_reason confirmed(struct op *o, time_t deadline, char **xml,
                                  size_t *len)
{
  struct bridge *b = o->b;
  char tx[BRIDGE_STORE_TX_MAX];
  int found = approval(o, tx);
  if (found < 0)
    return found == BRIDGE_STORE_UNAVAILABLE ? MRAS_SERVER_BUSY
                                             : MRAS_INTERNAL_ERROR;
  if (found > 0)
    return issue(o, tx, xml, len);
  enum mras_reason why = MRAS_INTERNAL_ERROR;
  struct confirm_job *job = pending_find(b->mras, o);
  if (job != NULL)
    svc_log(SVC_LOG_INFO, "mras.confirm",
            "%s: %s (%s): following transaction %s", o->transport, o->scope,
            o->account, job->transaction);
  else if ((job = ask(o, &why)) == NULL)
    return why;
  if (!wait_for(b, job, deadline)) {
    owcp_error_set(&o->err, "transaction %s not answered within %d s",
                   job->transaction, MRAS_WAIT_S);
    confirm_job_unref(job);
    return MRAS_TIME_OUT;
  }
  enum mras_reason r;
  if (job->outcome == CONFIRM_ACCEPTED && job->recorded) {
    snprintf(tx, sizeof tx, "%s", job->transaction);
    pending_drop(b->mras, job); /* used: a later request asks (or caches) */
    r = issue(o, tx, xml, len);
  } else {
    owcp_error_set(&o->err, "transaction %s: %s", job->transaction,
                   confirm_outcome_name(job->outcome));
    pending_drop(b->mras, job);
    r = of_outcome(job->outcome);
  }
  confirm_job_unref(job);
  return r;
}

enum mras_reason mras_serve(struct bridge *b, const char *account,
                            const char *transport, const char *body, size_t len,
                            char **xml, size_t *xml_len)
{
  struct op o = {.b = b, .account = account, .transport = transport};
  time_t deadline = time(NULL) + MRAS_WAIT_S;
  *xml = NULL;
  enum mras_reason r = mras_request_parse(body, len, &o.req, &o.err);
  if (r == MRAS_OK)
    r = check_identities(&o);
  if (r == MRAS_OK)
    r = b->cfg.mras.policy.mode == CONFIRM_MODE_OFF
            ? issue(&o, NULL, xml, xml_len)
            : confirmed(&o, deadline, xml, xml_len);
  if (r != MRAS_OK) {
    free(*xml);
    *xml = NULL;
    svc_log(SVC_LOG_INFO, "mras.refused", "%s: %s: %s: %s", transport, account,
            mras_reason_phrase(r), o.err.msg);
    struct owcp_error e = {{0}};
    if (mras_response_build(r == MRAS_MALFORMED ? NULL : &o.req, r, NULL, 0,
                            xml, xml_len, &e) != 0)
      *xml = NULL;
  }
  count(b, r);
  mras_request_free(&o.req);
  free(o.scope);
  return r;
}

/* ---- the front --------------------------------------------------------------
 */

/* The MRAS questions a previous process left open: followed again, so
 * that under cached: their Accept becomes the approval a retry finds. */
static void recover(struct mras_front *f)
{
  struct bridge *b = f->b;
  struct bridge_confirmation_list list = {0};
  struct bridge_store *st = NULL;
  struct owcp_error err = {{0}};
  int rc = bridge_store_acquire(b->pool, DB_WAIT_MS, &st, &err);
  if (rc == 0)
    rc =
        bridge_store_confirm_pending(st, "mras", MRAS_PENDING_MAX, &list, &err);
  bridge_store_release(b->pool, st);
  if (rc != 0)
    svc_log(SVC_LOG_WARN, "start", "MRAS confirmations not resumed: %s",
            err.msg);
  for (size_t i = 0; i < list.count; i++) {
    const struct bridge_confirmation *c = &list.items[i];
    struct confirm_job *j =
        confirm_job_new(c->transaction, c->request, c->request_len, c->account,
                        c->expires, mras_cache_minutes(b), NULL);
    struct op o = {.account = c->account, .scope = c->scope};
    if (j != NULL && waiters_submit(b->waiters, j))
      (void)pending_add(f, &o, j);
    confirm_job_unref(j);
  }
  if (list.count > 0)
    svc_log(SVC_LOG_INFO, "start", "%zu MRAS confirmation(s) resumed",
            list.count);
  bridge_confirmation_list_free(&list);
}

struct mras_front *mras_front_start(struct bridge *b, struct owcp_error *err)
{
  const struct bridge_mras_config *m = &b->cfg.mras;
  struct mras_front *f = calloc(1, sizeof *f);
  if (f == NULL) {
    owcp_error_set(err, "out of memory");
    return NULL;
  }
  f->b = b;
  b->mras = f;
  pthread_mutex_init(&f->lock, NULL);
  struct owcp_error why = {{0}};
  if (digest_users_load(m->digest_users_file, &f->users, &f->key, &why) != 0) {
    owcp_error_set(err, "[mras] digest_users_file: %s", why.msg);
    return NULL;
  }
  f->secrets = turn_secrets_load((const char *const *)m->turn_secret_file.items,
                                 m->turn_secret_file.count, err);
  if (f->secrets == NULL)
    return NULL;
  recover(f);
  if (!m->sip_udp.host[0] && !m->sip_tcp.host[0] && !m->sip_tls.host[0])
    return f;
  struct sip_transport_config sc = {.udp = &m->sip_udp,
                                    .tcp = &m->sip_tcp,
                                    .tls = &m->sip_tls,
                                    .tls_cert = b->cfg.tls_cert,
                                    .tls_key = b->cfg.tls_key,
                                    .handle = mras_sip_handle,
                                    .app = b};
  f->sip = sip_transport_start(&sc, err);
  return f->sip ? f : NULL;
}

int mras_front_reload(struct mras_front *m, const char *const *paths,
                      size_t count, struct owcp_error *err)
{
  if (m == NULL)
    return 0;
  int rc = turn_secrets_reload(m->secrets, paths, count, err);
  struct owcp_error e2 = {{0}};
  if (sip_transport_reload(m->sip, &e2) != 0) {
    if (rc == 0)
      *err = e2;
    rc = -1;
  }
  return rc;
}

void mras_front_stop(struct mras_front *m)
{
  if (m == NULL)
    return;
  sip_transport_stop(m->sip);
  for (size_t i = 0; i < MRAS_PENDING_MAX; i++) {
    confirm_job_unref(m->pending[i].job);
    free(m->pending[i].account);
    free(m->pending[i].scope);
  }
  for (size_t i = 0; i < MRAS_TXN_MAX; i++) {
    free(m->txns[i].key);
    free(m->txns[i].response);
  }
  turn_secrets_free(m->secrets);
  digest_users_free(&m->users);
  pthread_mutex_destroy(&m->lock);
  free(m);
}

unsigned short mras_front_port(const struct mras_front *m, const char *which)
{
  return m ? sip_transport_port(m->sip, which) : 0;
}

const struct digest_users *mras_front_users(const struct mras_front *m)
{
  return &m->users;
}

const struct digest_key *mras_front_key(const struct mras_front *m)
{
  return &m->key;
}
