/*
 * listed.c — the listing writer (listed.h): a bounded in-memory queue of
 * first deliveries and the one thread that records them in batches.
 */
#include "listed.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "owcp/service/daemon.h"
#include "owcp/service/log.h"
#include "owcp/service/metrics.h"

/* How long the writer waits for a pool connection, and between two tries
 * while the database fails. */
#define LISTED_ACQUIRE_WAIT_MS 1000
#define LISTED_RETRY_MS 200

/* A listing whose row another transaction holds (a CD-Reply being
 * committed, which records it itself) is passed again after this pause,
 * at most this many times (about 2 s) before it is given up (counted as
 * lost): by then the holder has long finished, unless something outside
 * the dispatcher holds the row. */
#define LISTED_BUSY_PAUSE_MS 5
#define LISTED_BUSY_TRIES 400

/* A listing is written once it is this old (50 ms). When the answer comes
 * sooner (a device that answers at once; the benchmark's flows), owcp_reply()
 * records the listing in the answering UPDATE itself and the batch finds
 * the row marked: one new row version of the ~1 KB transaction row
 * instead of two. A person takes seconds to answer, so then the batch
 * records it, with whatever else was listed in those milliseconds. */
#define LISTED_DELAY_US ((int64_t)50 * 1000)

struct listed {
  struct store_pool *pool;
  pthread_mutex_t lock;
  pthread_cond_t wake;        /* something was queued, or stop */
  struct store_listed *queue; /* filled by listed_note(), under lock */
  size_t count;
  size_t capacity;
  struct store_listed *batch; /* being written: the thread's alone */
  size_t batch_count;
  atomic_bool stopping;
  pthread_t thread;
  bool failing; /* the last write failed: log recovery, not each failure */
  struct svc_metric *recorded, *batches, *sync, *lost;
};

/* Writes the batch once on a pooled connection; *recorded gets how many
 * were marked now. */
static int write_once(struct listed *l, int *recorded, struct owcp_error *err)
{
  struct store *st = NULL;
  int rc = store_pool_acquire(l->pool, LISTED_ACQUIRE_WAIT_MS, &st, err);

  if (rc != 0)
    return rc;
  rc = store_listed_record(st, l->batch, l->batch_count, recorded, err);
  store_pool_release(l->pool, st);
  return rc;
}

/* Writes the batch, retrying while the database fails; after stop, one
 * last try, then the batch is given up (logged, counted). */
static void write_batch(struct listed *l)
{
  for (;;) {
    struct owcp_error err = {{0}};
    bool last = atomic_load(&l->stopping);
    int recorded = 0;

    if (write_once(l, &recorded, &err) == 0) {
      if (l->failing)
        svc_log(SVC_LOG_INFO, "listed.recovered", "recording listings again");
      l->failing = false;
      svc_metric_add(l->batches, NULL, 1);
      svc_metric_add(l->recorded, NULL, recorded);
      return;
    }
    if (!l->failing || last)
      svc_log(SVC_LOG_WARN, "listed.failed", "%s (%zu listings%s)", err.msg,
              l->batch_count, last ? " lost at shutdown" : "; retrying");
    l->failing = true;
    if (last) {
      svc_metric_add(l->lost, NULL, (double)l->batch_count);
      return;
    }
    svc_sleep_unless(&l->stopping, LISTED_RETRY_MS);
  }
}

/* Takes everything queued as the next batch (the two buffers swap).
 * Called under lock. */
static void take_batch(struct listed *l)
{
  struct store_listed *spare = l->batch;

  l->batch = l->queue;
  l->batch_count = l->count;
  l->queue = spare;
  l->count = 0;
}

static int64_t now_us(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Waits (lock released) until the oldest queued listing is
 * LISTED_DELAY_US old, unless stopping. Called under lock. */
static void await_due(struct listed *l)
{
  while (l->count > 0 && !atomic_load(&l->stopping)) {
    int64_t wait = l->queue[0].at_us + LISTED_DELAY_US - now_us();

    if (wait <= 0)
      return;
    if (wait > LISTED_DELAY_US)
      wait = LISTED_DELAY_US; /* the clock went back */
    pthread_mutex_unlock(&l->lock);
    nanosleep(&(struct timespec){wait / 1000000, (long)(wait % 1000000) * 1000},
              NULL);
    pthread_mutex_lock(&l->lock);
  }
}

/* Queues the batch's busy listings again (under lock); returns how many. */
static size_t requeue_busy(struct listed *l)
{
  size_t again = 0;

  for (size_t i = 0; i < l->batch_count; i++) {
    struct store_listed *it = &l->batch[i];

    if (!it->busy)
      continue;
    if (++it->tries >= LISTED_BUSY_TRIES || l->count == l->capacity) {
      svc_log(SVC_LOG_WARN, "listed.busy",
              "transaction %s: its row stayed held; listing not recorded",
              it->transaction);
      svc_metric_add(l->lost, NULL, 1);
      continue;
    }
    l->queue[l->count++] = *it;
    again++;
  }
  return again;
}

static void *listed_main(void *arg)
{
  struct listed *l = arg;

  pthread_mutex_lock(&l->lock);
  for (;;) {
    while (l->count == 0 && !atomic_load(&l->stopping))
      pthread_cond_wait(&l->wake, &l->lock);
    if (l->count == 0)
      break; /* stopping, and everything is written */
    await_due(l);
    take_batch(l);
    pthread_mutex_unlock(&l->lock);
    write_batch(l);
    pthread_mutex_lock(&l->lock);
    if (requeue_busy(l) > 0) {
      pthread_mutex_unlock(&l->lock);
      /* Not svc_sleep_unless(): busy rows are retried at shutdown too. */
      nanosleep(&(struct timespec){0, LISTED_BUSY_PAUSE_MS * 1000000L}, NULL);
      pthread_mutex_lock(&l->lock);
    }
  }
  pthread_mutex_unlock(&l->lock);
  return NULL;
}

static void register_metrics(struct listed *l, struct svc_metrics *m)
{
  if (m == NULL)
    return;
  l->recorded = svc_metrics_counter(
      m, "owcp_listed_recorded_total",
      "First deliveries (transaction.listed) recorded by the batch writer.",
      NULL);
  l->batches = svc_metrics_counter(m, "owcp_listed_batches_total",
                                   "Listing batches written.", NULL);
  l->sync = svc_metrics_counter(
      m, "owcp_listed_sync_total",
      "Listings written by CD-List itself because the queue was full.", NULL);
  l->lost = svc_metrics_counter(
      m, "owcp_listed_lost_total",
      "Listings not recorded because the database failed.", NULL);
}

static void listed_free(struct listed *l)
{
  pthread_cond_destroy(&l->wake);
  pthread_mutex_destroy(&l->lock);
  free(l->queue);
  free(l->batch);
  free(l);
}

struct listed *listed_start(struct store_pool *pool, size_t capacity,
                            struct svc_metrics *metrics, struct owcp_error *err)
{
  struct listed *l = calloc(1, sizeof *l);

  if (l == NULL) {
    owcp_error_set(err, "out of memory starting the listing writer");
    return NULL;
  }
  l->pool = pool;
  l->capacity = capacity;
  l->queue = calloc(capacity, sizeof *l->queue);
  l->batch = calloc(capacity, sizeof *l->batch);
  pthread_mutex_init(&l->lock, NULL);
  pthread_cond_init(&l->wake, NULL);
  if (capacity == 0 || l->queue == NULL || l->batch == NULL) {
    owcp_error_set(err, "out of memory starting the listing writer");
    listed_free(l);
    return NULL;
  }
  register_metrics(l, metrics);
  if (svc_thread_create(&l->thread, listed_main, l, err) != 0) {
    listed_free(l);
    return NULL;
  }
  return l;
}

void listed_note(struct listed *l, struct store *st, struct store_listed *items,
                 size_t n)
{
  struct owcp_error err = {{0}};
  size_t fit;

  if (n == 0)
    return;
  pthread_mutex_lock(&l->lock);
  fit = l->capacity - l->count < n ? l->capacity - l->count : n;
  memcpy(l->queue + l->count, items, fit * sizeof *items);
  l->count += fit;
  if (fit > 0)
    pthread_cond_signal(&l->wake);
  pthread_mutex_unlock(&l->lock);
  if (fit == n)
    return;
  svc_metric_add(l->sync, NULL, (double)(n - fit));
  if (store_listed_record(st, items + fit, n - fit, NULL, &err) != 0) {
    svc_log(SVC_LOG_WARN, "listed.failed", "%s (%zu listings lost)", err.msg,
            n - fit);
    svc_metric_add(l->lost, NULL, (double)(n - fit));
  }
}

void listed_stop(struct listed *l)
{
  if (l == NULL)
    return;
  pthread_mutex_lock(&l->lock);
  atomic_store(&l->stopping, true);
  pthread_cond_signal(&l->wake);
  pthread_mutex_unlock(&l->lock);
  pthread_join(l->thread, NULL);
  listed_free(l);
}
