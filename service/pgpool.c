/*
 * pgpool.c — implementation of owcp/service/pgpool.h. One mutex guards the
 * slots and counters; connecting and setup run outside it because they may
 * take a network round trip or several.
 */
#include "owcp/service/pgpool.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct svc_pgconn {
  PGconn *conn;
  void *state;
  bool busy;
  bool open; /* conn is set up; written under the lock for statistics */
};

struct svc_pgpool {
  pthread_mutex_t lock;
  pthread_cond_t freed;
  char *conninfo;
  struct svc_pgpool_hooks hooks;
  size_t size;
  struct svc_pgconn *slots;
  struct svc_pgpool_stats stats; /* size/open/in_use filled on read */
};

struct svc_pgpool *svc_pgpool_new(const char *conninfo, size_t size,
                                  const struct svc_pgpool_hooks *hooks,
                                  struct owcp_error *err)
{
  struct svc_pgpool *pool = calloc(1, sizeof *pool);

  if (pool == NULL || size == 0)
    goto fail;
  pool->size = size;
  if (hooks != NULL)
    pool->hooks = *hooks;
  pool->conninfo = strdup(conninfo);
  pool->slots = calloc(size, sizeof *pool->slots);
  if (pool->conninfo == NULL || pool->slots == NULL)
    goto fail;
  if (pthread_mutex_init(&pool->lock, NULL) != 0)
    goto fail;
  if (pthread_cond_init(&pool->freed, NULL) != 0) {
    pthread_mutex_destroy(&pool->lock);
    goto fail;
  }
  return pool;
fail:
  owcp_error_set(err, size == 0 ? "connection pool size must be positive"
                                : "out of memory creating connection pool");
  if (pool != NULL) {
    free(pool->conninfo);
    free(pool->slots);
    free(pool);
  }
  return NULL;
}

/* Runs the teardown hook and closes the slot's connection. */
static void slot_close(struct svc_pgpool *pool, struct svc_pgconn *c)
{
  if (c->conn != NULL && pool->hooks.teardown != NULL)
    pool->hooks.teardown(pool->hooks.arg, c->state);
  PQfinish(c->conn);
  c->conn = NULL;
  c->state = NULL;
}

void svc_pgpool_free(struct svc_pgpool *pool)
{
  if (pool == NULL)
    return;
  for (size_t i = 0; i < pool->size; i++)
    slot_close(pool, &pool->slots[i]);
  pthread_cond_destroy(&pool->freed);
  pthread_mutex_destroy(&pool->lock);
  free(pool->conninfo);
  free(pool->slots);
  free(pool);
}

/* Picks a free slot, preferring one with a healthy open connection. Called
 * with the lock held; returns -1 when every slot is busy. */
static long pick_slot(const struct svc_pgpool *pool)
{
  long spare = -1;

  for (size_t i = 0; i < pool->size; i++) {
    if (pool->slots[i].busy)
      continue;
    if (!svc_pg_is_broken(pool->slots[i].conn))
      return (long)i;
    if (spare < 0)
      spare = (long)i;
  }
  return spare;
}

static struct timespec deadline_after(int wait_ms)
{
  struct timespec t;

  clock_gettime(CLOCK_REALTIME, &t);
  t.tv_sec += wait_ms / 1000;
  t.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
  if (t.tv_nsec >= 1000000000L) {
    t.tv_sec++;
    t.tv_nsec -= 1000000000L;
  }
  return t;
}

static uint64_t elapsed_us(const struct timespec *since)
{
  struct timespec now;

  clock_gettime(CLOCK_MONOTONIC, &now);
  return (uint64_t)(now.tv_sec - since->tv_sec) * 1000000u +
         (uint64_t)((now.tv_nsec - since->tv_nsec) / 1000);
}

/* Waits (lock held) until a slot is free or the deadline passes; returns
 * the slot index, or -1 on timeout. Counts the wait. */
static long wait_slot(struct svc_pgpool *pool, int wait_ms)
{
  struct timespec deadline = deadline_after(wait_ms);
  struct timespec start;
  long i = pick_slot(pool);

  if (i >= 0)
    return i;
  clock_gettime(CLOCK_MONOTONIC, &start);
  pool->stats.waits++;
  while ((i = pick_slot(pool)) < 0) {
    if (pthread_cond_timedwait(&pool->freed, &pool->lock, &deadline) ==
        ETIMEDOUT) {
      i = pick_slot(pool);
      break;
    }
  }
  pool->stats.wait_us += elapsed_us(&start);
  if (i < 0)
    pool->stats.timeouts++;
  return i;
}

/* Opens and sets up the slot's connection (slot is busy, lock not held). */
static int slot_open(struct svc_pgpool *pool, struct svc_pgconn *c,
                     struct owcp_error *err)
{
  int rc = 0;

  slot_close(pool, c);
  c->conn = svc_pg_connect(pool->conninfo, "", err);
  if (c->conn == NULL)
    return SVC_PG_UNAVAILABLE;
  if (pool->hooks.setup != NULL)
    rc = pool->hooks.setup(pool->hooks.arg, c->conn, &c->state, err);
  if (rc != 0) {
    /* Teardown only ever sees state that setup completed. */
    PQfinish(c->conn);
    c->conn = NULL;
    c->state = NULL;
  }
  return rc;
}

static void slot_give_back(struct svc_pgpool *pool, struct svc_pgconn *c)
{
  pthread_mutex_lock(&pool->lock);
  c->busy = false;
  pthread_cond_signal(&pool->freed);
  pthread_mutex_unlock(&pool->lock);
}

int svc_pgpool_acquire(struct svc_pgpool *pool, int wait_ms,
                       struct svc_pgconn **out, struct owcp_error *err)
{
  struct svc_pgconn *c;
  long i;
  int rc;

  *out = NULL;
  pthread_mutex_lock(&pool->lock);
  i = wait_slot(pool, wait_ms);
  if (i < 0) {
    pthread_mutex_unlock(&pool->lock);
    owcp_error_set(err,
                   "database unavailable: all %zu connections busy for %d ms",
                   pool->size, wait_ms);
    return SVC_PG_UNAVAILABLE;
  }
  c = &pool->slots[i];
  c->busy = true;
  pthread_mutex_unlock(&pool->lock);

  if (svc_pg_is_broken(c->conn)) {
    rc = slot_open(pool, c, err);
    pthread_mutex_lock(&pool->lock);
    pool->stats.connects++;
    c->open = rc == 0;
    if (rc != 0)
      pool->stats.connect_fails++;
    pthread_mutex_unlock(&pool->lock);
    if (rc != 0) {
      slot_give_back(pool, c);
      return rc;
    }
  }
  pthread_mutex_lock(&pool->lock);
  pool->stats.acquired++;
  pthread_mutex_unlock(&pool->lock);
  *out = c;
  return 0;
}

void svc_pgpool_release(struct svc_pgpool *pool, struct svc_pgconn *c)
{
  if (c == NULL)
    return;
  svc_pg_reset_transaction(c->conn);
  slot_give_back(pool, c);
}

PGconn *svc_pgconn_pg(const struct svc_pgconn *c)
{
  return c->conn;
}

void *svc_pgconn_state(const struct svc_pgconn *c)
{
  return c->state;
}

void svc_pgpool_stats(struct svc_pgpool *pool, struct svc_pgpool_stats *out)
{
  pthread_mutex_lock(&pool->lock);
  *out = pool->stats;
  out->size = pool->size;
  out->open = 0;
  out->in_use = 0;
  for (size_t i = 0; i < pool->size; i++) {
    if (pool->slots[i].open)
      out->open++;
    if (pool->slots[i].busy)
      out->in_use++;
  }
  pthread_mutex_unlock(&pool->lock);
}
