/*
 * waiters.c — the confirmation waiter threads (waiters.h): one queue under
 * one mutex, WAITERS_THREADS threads taking turns, every outcome recorded
 * with bridge_store_confirm_decide() before the submitter is woken.
 */
#include "waiters.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "handlers.h"
#include "owcp/service/daemon.h"
#include "owcp/service/log.h"
#include "owcp/service/metrics.h"
#include "owcp/service/wakeup.h"
#include "store.h"

/* How long a thread waits for a database connection to record. */
#define WAITERS_DB_WAIT_MS 5000

struct waiters {
  struct bridge *b;
  pthread_mutex_t lock;
  pthread_cond_t ready;
  struct confirm_job **queue; /* ring of WAITERS_MAX_JOBS */
  size_t head, count;
  size_t busy; /* jobs taken out by a thread */
  bool stopping;
  pthread_t threads[WAITERS_THREADS];
  size_t started;
};

struct confirm_job *confirm_job_new(const char *transaction,
                                    const char *request_xml, size_t len,
                                    const char *account, time_t expires,
                                    int cache_minutes,
                                    struct svc_wakeup *wakeup)
{
  struct confirm_job *j = calloc(1, sizeof *j);
  if (j == NULL)
    return NULL;
  atomic_init(&j->refs, 1);
  atomic_init(&j->done, false);
  j->transaction = strdup(transaction);
  j->account = strdup(account);
  j->request_xml = malloc(len + 1);
  if (j->transaction == NULL || j->account == NULL || j->request_xml == NULL) {
    confirm_job_unref(j);
    return NULL;
  }
  memcpy(j->request_xml, request_xml, len);
  j->request_xml[len] = '\0';
  j->request_len = len;
  j->expires = expires;
  j->cache_minutes = cache_minutes;
  j->wakeup = wakeup;
  svc_wakeup_ref(wakeup);
  return j;
}

void confirm_job_unref(struct confirm_job *j)
{
  if (j == NULL || atomic_fetch_sub(&j->refs, 1) != 1)
    return;
  free(j->transaction);
  free(j->request_xml);
  free(j->account);
  svc_wakeup_unref(j->wakeup);
  free(j);
}

/* ---- the queue (lock held) ----------------------------------------------- */

static void push(struct waiters *w, struct confirm_job *j)
{
  w->queue[(w->head + w->count) % WAITERS_MAX_JOBS] = j;
  w->count++;
}

static struct confirm_job *pop(struct waiters *w)
{
  struct confirm_job *j = w->queue[w->head];
  w->head = (w->head + 1) % WAITERS_MAX_JOBS;
  w->count--;
  return j;
}

/* ---- one check ------------------------------------------------------------
 */

/* Records the outcome; true when the database has it (now or before). */
static bool record(struct bridge *b, struct confirm_job *j,
                   const struct confirm_result *res, enum confirm_outcome o)
{
  struct owcp_error err = {{0}};
  struct bridge_store *st = NULL;
  int status = 0;
  char stored[BRIDGE_STORE_STATE_MAX] = "";
  const char *state = confirm_outcome_name(o);
  bool answered =
      o == CONFIRM_ACCEPTED || o == CONFIRM_REJECTED || o == CONFIRM_REFUSED;
  struct bridge_confirm_outcome in = {
      .transaction = j->transaction,
      .state = state,
      .receipt = answered ? res->receipt : NULL,
      .receipt_len = answered ? res->receipt_len : 0,
      .reason = res->reason,
      .cache_minutes = o == CONFIRM_ACCEPTED ? j->cache_minutes : 0};
  int rc = bridge_store_acquire(b->pool, WAITERS_DB_WAIT_MS, &st, &err);
  if (rc == 0)
    rc = bridge_store_confirm_decide(st, &in, &status, stored, &err);
  bridge_store_release(b->pool, st);
  if (rc != 0) {
    svc_log(SVC_LOG_ERROR, "confirm.record",
            "transaction %s: %s not recorded: %s", j->transaction, state,
            err.msg);
    return false;
  }
  if (status == 409 && strcmp(stored, state) != 0) {
    /* Decided before (another process, or before a restart): the stored
     * outcome is the one that counts. */
    svc_log(SVC_LOG_WARN, "confirm.record",
            "transaction %s: %s, but %s was recorded before", j->transaction,
            state, stored);
    return false;
  }
  return status == 200 || status == 409;
}

/* Finishes j with outcome o: recorded, counted, the submitter woken. */
static void finish(struct waiters *w, struct confirm_job *j,
                   const struct confirm_result *res, enum confirm_outcome o)
{
  bool ok = record(w->b, j, res, o);
  const char *name = confirm_outcome_name(o);
  svc_metric_add(w->b->counters.confirmations, (const char *const[]){name}, 1);
  svc_log(SVC_LOG_INFO, "confirm.outcome", "transaction %s for %s: %s%s%s%s",
          j->transaction, j->account, name, ok ? "" : " (not recorded)",
          res->reason ? ": " : "", res->reason ? res->reason : "");
  j->recorded = ok;
  j->outcome = ok ? o : CONFIRM_FAILED;
  atomic_store(&j->done, true);
  svc_wakeup_fire(j->wakeup);
}

/* One RD-Status (or, long past the expiry, RD-Final) of j. Returns true
 * when j is finished. */
static bool check_once(struct waiters *w, struct confirm_job *j, int wait_s)
{
  struct confirm_result res = {0};
  struct owcp_error err = {{0}};
  time_t now = time(NULL);
  enum confirm_outcome o;
  bool overdue = now > j->expires + WAITERS_EXPIRY_GRACE_S;
  if (overdue)
    o = confirm_cancel(w->b->confirm, j->transaction, j->request_xml,
                       j->request_len, j->account, &res, &err);
  else
    o = confirm_check(w->b->confirm, j->transaction, j->request_xml,
                      j->request_len, j->account, wait_s, &res, &err);
  if (o == CONFIRM_FAILED && res.reason == NULL && err.msg[0] != '\0')
    res.reason = strdup(err.msg);
  bool final = o != CONFIRM_PENDING && (o != CONFIRM_UNREACHABLE || overdue);
  if (final)
    finish(w, j, &res, o);
  else if (o == CONFIRM_UNREACHABLE)
    svc_log(SVC_LOG_WARN, "confirm.check", "transaction %s: %s", j->transaction,
            err.msg);
  confirm_result_free(&res);
  return final;
}

static void *run(void *arg)
{
  struct waiters *w = arg;
  pthread_mutex_lock(&w->lock);
  for (;;) {
    while (w->count == 0 && !w->stopping)
      pthread_cond_wait(&w->ready, &w->lock);
    if (w->stopping)
      break;
    struct confirm_job *j = pop(w);
    w->busy++;
    int wait_s = w->count == 0 ? WAITERS_LONG_POLL_S : WAITERS_SHORT_POLL_S;
    pthread_mutex_unlock(&w->lock);
    bool final = check_once(w, j, wait_s);
    pthread_mutex_lock(&w->lock);
    w->busy--;
    if (!final && w->stopping) {
      /* Nothing decided: the row stays pending for the next start. */
      j->outcome = CONFIRM_UNREACHABLE;
      atomic_store(&j->done, true);
      svc_wakeup_fire(j->wakeup);
    }
    if (final || w->stopping)
      confirm_job_unref(j);
    else
      push(w, j);
  }
  pthread_mutex_unlock(&w->lock);
  return NULL;
}

/* ---- the pool -------------------------------------------------------------
 */

struct waiters *waiters_new(struct bridge *b, struct owcp_error *err)
{
  struct waiters *w = calloc(1, sizeof *w);
  if (w == NULL || (w->queue = calloc(WAITERS_MAX_JOBS,
                                      sizeof(struct confirm_job *))) == NULL) {
    free(w);
    owcp_error_set(err, "out of memory for the confirmation waiters");
    return NULL;
  }
  w->b = b;
  pthread_mutex_init(&w->lock, NULL);
  pthread_cond_init(&w->ready, NULL);
  for (; w->started < WAITERS_THREADS; w->started++)
    if (svc_thread_create(&w->threads[w->started], run, w, err) != 0) {
      waiters_stop(w);
      waiters_free(w);
      return NULL;
    }
  return w;
}

bool waiters_submit(struct waiters *w, struct confirm_job *job)
{
  pthread_mutex_lock(&w->lock);
  bool ok = !w->stopping && w->count + w->busy < WAITERS_MAX_JOBS;
  if (ok) {
    atomic_fetch_add(&job->refs, 1);
    push(w, job);
    pthread_cond_signal(&w->ready);
  }
  pthread_mutex_unlock(&w->lock);
  return ok;
}

bool waiters_stopping(struct waiters *w)
{
  pthread_mutex_lock(&w->lock);
  bool stopping = w->stopping;
  pthread_mutex_unlock(&w->lock);
  return stopping;
}

size_t waiters_pending(struct waiters *w)
{
  pthread_mutex_lock(&w->lock);
  size_t n = w->count + w->busy;
  pthread_mutex_unlock(&w->lock);
  return n;
}

int waiters_recover(struct waiters *w, const char *front, size_t *queued,
                    struct owcp_error *err)
{
  struct bridge_confirmation_list list = {0};
  struct bridge_store *st = NULL;
  size_t n = 0;
  int rc = bridge_store_acquire(w->b->pool, WAITERS_DB_WAIT_MS, &st, err);
  if (rc == 0)
    rc = bridge_store_confirm_pending(st, front, WAITERS_MAX_JOBS, &list, err);
  bridge_store_release(w->b->pool, st);
  for (size_t i = 0; rc == 0 && i < list.count; i++) {
    const struct bridge_confirmation *c = &list.items[i];
    struct confirm_job *j = confirm_job_new(
        c->transaction, c->request, c->request_len, c->account, c->expires,
        otpce_cache_minutes(&w->b->cfg.otpce.policy), NULL);
    if (j != NULL && waiters_submit(w, j))
      n++;
    confirm_job_unref(j);
  }
  bridge_confirmation_list_free(&list);
  if (queued != NULL)
    *queued = n;
  return rc == 0 ? 0 : -1;
}

void waiters_stop(struct waiters *w)
{
  if (w == NULL)
    return;
  pthread_mutex_lock(&w->lock);
  w->stopping = true;
  /* Wake every submitter: nothing decided, the row stays pending. */
  while (w->count > 0) {
    struct confirm_job *j = pop(w);
    j->outcome = CONFIRM_UNREACHABLE;
    atomic_store(&j->done, true);
    svc_wakeup_fire(j->wakeup);
    confirm_job_unref(j);
  }
  pthread_cond_broadcast(&w->ready);
  pthread_mutex_unlock(&w->lock);
  for (size_t i = 0; i < w->started; i++)
    pthread_join(w->threads[i], NULL);
  w->started = 0;
}

void waiters_free(struct waiters *w)
{
  if (w == NULL)
    return;
  pthread_mutex_destroy(&w->lock);
  pthread_cond_destroy(&w->ready);
  free(w->queue);
  free(w);
}
