/*
 * store_group.c — group commit of the durable state changes (store.h's
 * RD-Confirm and CD-Reply): calls that arrive while one group is
 * committing run together as the next group, in one transaction on one
 * connection, sent in one round trip (libpq pipeline mode).
 *
 * Why: a complete flow is two durable commits. PostgreSQL already shares
 * one WAL flush between concurrent commits, but each commit still costs a
 * transaction id, a commit record, the per-transaction work and a round
 * trip; under load those were a large part of the database's CPU per flow
 * (bench/README.md). Grouping is the same trade PostgreSQL's own group
 * commit makes, one level up: nobody waits for a timer (an idle dispatcher
 * commits a call at once); calls queue only behind a commit already in
 * flight, which they would have waited for anyway.
 *
 * What does not change: every caller's answer is sent only after the
 * group's commit returned (durable before 202/200); each call is the same
 * procedure with the same parameters, so authorization, the state race
 * (FOR UPDATE, first answer wins) and the log entries are as before. Two
 * calls in one group see each other's changes as if run one after the
 * other in queue order. A call that fails makes the whole group roll back
 * (nothing of it is committed); every call of that group is then run again
 * on its own by its own thread, so one bad call never fails another. A
 * broken connection fails every call of the group with "database
 * unavailable", exactly as it would fail a lone call whose commit outcome
 * is unknown.
 *
 * Flat combining: a caller queues its call; the first caller that finds no
 * group in flight becomes the leader, takes every queued call (up to max),
 * runs them on its own connection, hands each caller its result and wakes
 * the oldest still-queued caller to lead the next group.
 */
#include "store_group.h"

#include "store_internal.h"

#include <pthread.h>
#include <stdlib.h>

enum call_state {
  CALL_QUEUED, /* waiting to be taken into a group */
  CALL_TAKEN,  /* in the group being run */
  CALL_DONE,   /* result (or error) delivered */
  CALL_ALONE   /* its group failed: run it on its own */
};

struct group_call {
  const struct store_stmt *s;
  const struct svc_pg_params *p;
  const struct store_then *then; /* may be NULL */
  PGresult *res;
  int rc;
  struct owcp_error err;
  enum call_state state;
  pthread_cond_t wake;
  struct group_call *next;
};

struct store_group {
  pthread_mutex_t lock;
  struct group_call *head, **tail;
  bool leading;
  size_t max;
  unsigned long long groups, calls, alone;
};

struct store_group *store_group_new(size_t max)
{
  struct store_group *g = calloc(1, sizeof *g);

  if (g == NULL)
    return NULL;
  pthread_mutex_init(&g->lock, NULL);
  g->tail = &g->head;
  g->max = max;
  return g;
}

void store_group_free(struct store_group *g)
{
  if (g == NULL)
    return;
  pthread_mutex_destroy(&g->lock);
  free(g);
}

void store_group_counts(struct store_group *g, struct store_group_counts *out)
{
  pthread_mutex_lock(&g->lock);
  out->groups = g->groups;
  out->calls = g->calls;
  out->alone = g->alone;
  pthread_mutex_unlock(&g->lock);
}

/* Takes up to g->max queued calls off the queue as one group, in queue
 * order; returns them as a NULL-terminated list in *batch. Lock held. */
static size_t take_batch(struct store_group *g, struct group_call **batch)
{
  size_t n = 0;

  while (g->head != NULL && n < g->max) {
    struct group_call *c = g->head;

    g->head = c->next;
    c->state = CALL_TAKEN;
    batch[n++] = c;
  }
  if (g->head == NULL)
    g->tail = &g->head;
  batch[n] = NULL;
  return n;
}

/* Sends every call of the group and the sync that commits them. */
static bool send_group(PGconn *conn, struct group_call **batch)
{
  for (struct group_call **c = batch; *c != NULL; c++) {
    const struct svc_pg_params *p = (*c)->p;

    if (!PQsendQueryPrepared(conn, (*c)->s->name, p ? p->n : 0, p ? p->v : NULL,
                             p ? p->len : NULL, p ? p->fmt : NULL, 0))
      return false;
  }
  return PQpipelineSync(conn) == 1;
}

/* Reads call c's result: its one result, then the NULL that ends it.
 * False when the call failed or was skipped after another's failure. */
static bool read_call(PGconn *conn, struct group_call *c)
{
  PGresult *res = PQgetResult(conn);
  ExecStatusType status = PQresultStatus(res);
  bool ok = status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK;

  if (ok)
    c->res = res;
  else
    PQclear(res);
  if (res != NULL)
    while ((res = PQgetResult(conn)) != NULL)
      PQclear(res);
  return ok;
}

/* Reads up to the sync point: true when the group's transaction committed
 * (an error at commit arrives before the sync). */
static bool read_sync(PGconn *conn)
{
  bool committed = true;
  PGresult *res;

  while ((res = PQgetResult(conn)) != NULL) {
    ExecStatusType status = PQresultStatus(res);

    PQclear(res);
    if (status == PGRES_PIPELINE_SYNC)
      return committed;
    committed = false;
  }
  return false;
}

/* Drops the results read so far: the group did not commit. */
static void drop_results(struct group_call **batch)
{
  for (struct group_call **c = batch; *c != NULL; c++) {
    PQclear((*c)->res);
    (*c)->res = NULL;
  }
}

/* Ends every call of the group in state. */
static void settle(struct group_call **batch, enum call_state state)
{
  for (struct group_call **c = batch; *c != NULL; c++)
    (*c)->state = state;
}

/* Fails every call of the group with the connection's error. */
static void fail_group(struct store *st, struct group_call **batch)
{
  for (struct group_call **c = batch; *c != NULL; c++)
    (*c)->rc = svc_pg_fail(st->conn, NULL, (*c)->s->name, &(*c)->err);
  settle(batch, CALL_DONE);
}

/* Every call's after-commit step (the group committed, every call
 * succeeded), in the group's order. */
static void run_thens(struct group_call **batch)
{
  for (struct group_call **c = batch; *c != NULL; c++)
    if ((*c)->then != NULL)
      (*c)->then->fn((*c)->then->arg, (*c)->res);
}

/* Runs one group on st's connection; each call ends CALL_DONE (result or
 * error) or CALL_ALONE (the group rolled back: run it again on its own).
 * The wake-up keys of every call arrive on st's connection and are handed
 * on once the group committed. */
static void run_group(struct store *st, struct group_call **batch)
{
  bool ok = true;

  for (struct group_call **c = batch; *c != NULL; c++) {
    struct owcp_error err = {{0}};

    if (store_prepare(st, (*c)->s, &err) != 0) {
      /* Not preparable here: let its own thread report why. */
      settle(batch, CALL_ALONE);
      return;
    }
  }
  store_wake_begin(st);
  if (PQenterPipelineMode(st->conn) != 1 || !send_group(st->conn, batch)) {
    if (PQpipelineStatus(st->conn) != PQ_PIPELINE_OFF)
      (void)PQexitPipelineMode(st->conn);
    fail_group(st, batch);
    store_wake_end(st, false);
    return;
  }
  for (struct group_call **c = batch; *c != NULL; c++)
    if (!read_call(st->conn, *c))
      ok = false;
  ok = read_sync(st->conn) && ok;
  (void)PQexitPipelineMode(st->conn);
  if (!ok)
    drop_results(batch);
  else
    run_thens(batch);
  store_wake_end(st, ok);
  if (ok)
    settle(batch, CALL_DONE);
  else if (svc_pg_is_broken(st->conn))
    fail_group(st, batch);
  else
    settle(batch, CALL_ALONE);
}

/* Leads one group: runs it unlocked, then hands out the results and wakes
 * the next leader. Lock held on entry and on return. */
static void lead(struct store_group *g, struct store *st)
{
  struct group_call *batch[STORE_GROUP_MAX + 1];
  size_t n = take_batch(g, batch);

  g->leading = true;
  g->groups++;
  g->calls += n;
  pthread_mutex_unlock(&g->lock);
  run_group(st, batch);
  pthread_mutex_lock(&g->lock);
  g->leading = false;
  for (size_t i = 0; i < n; i++) {
    if (batch[i]->state == CALL_ALONE)
      g->alone++;
    pthread_cond_signal(&batch[i]->wake);
  }
  if (g->head != NULL)
    pthread_cond_signal(&g->head->wake);
}

/* Queues c and waits until a group (perhaps led by this thread) took and
 * finished it. */
static void queue_and_wait(struct store_group *g, struct store *st,
                           struct group_call *c)
{
  pthread_mutex_lock(&g->lock);
  *g->tail = c;
  g->tail = &c->next;
  while (c->state != CALL_DONE && c->state != CALL_ALONE) {
    if (!g->leading && c->state == CALL_QUEUED)
      lead(g, st);
    else
      pthread_cond_wait(&c->wake, &g->lock);
  }
  pthread_mutex_unlock(&g->lock);
}

int store_group_run(struct store_group *g, struct store *st,
                    const struct store_stmt *s, const struct svc_pg_params *p,
                    const struct store_then *then, PGresult **out,
                    struct owcp_error *err)
{
  /* On the heap: other threads reach it through the queue. */
  struct group_call *c = calloc(1, sizeof *c);
  int rc = 0;

  *out = NULL;
  if (c == NULL)
    return store_run_alone(st, s, p, then, out, err);
  c->s = s;
  c->p = p;
  c->then = then;
  c->state = CALL_QUEUED;
  pthread_cond_init(&c->wake, NULL);
  queue_and_wait(g, st, c);
  pthread_cond_destroy(&c->wake);
  if (c->state == CALL_ALONE)
    rc = store_run_alone(st, s, p, then, out, err);
  else if (c->rc != 0) {
    *err = c->err;
    rc = c->rc;
  } else
    *out = c->res;
  free(c);
  return rc;
}
