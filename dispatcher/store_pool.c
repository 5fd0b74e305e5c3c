/*
 * store_pool.c — the dispatcher's connections: opening one (settings and
 * statement preparation, also as the pool's setup hook), the pool
 * wrappers over owcp/service/pgpool.h, and running prepared statements.
 */
#include "store_internal.h"

#include "owcp/service/pgpool.h"
#include "store_group.h"

#include <stdlib.h>
#include <string.h>

static const struct store_stmt stmt_ping = {S_PING, "ping", "SELECT 1", false};

static const struct store_stmt stmt_notify_flush = {
    S_NOTIFY_FLUSH, "notify_flush", "SELECT owcp_notify_flush()", false};

const struct store_stmt *const store_pool_statements[] = {
    &stmt_ping, &stmt_notify_flush, NULL};

/* Every statement, by concern; prepared when a connection opens. */
static const struct store_stmt *const *const groups[] = {
    store_pool_statements, store_auth_statements,   store_rd_statements,
    store_cd_statements,   store_outbox_statements, store_admin_statements,
    store_log_statements,  store_console_statements};

/* Prepares statement s unless it already is. When lenient, a statement
 * whose tables/procedures are not migrated yet is left for later
 * (prepared on first use) instead of failing. */
static int prepare_stmt(struct store *st, const struct store_stmt *s,
                        bool lenient, struct owcp_error *err)
{
  PGresult *res;
  int rc = 0;

  if (st->prepared[s->id])
    return 0;
  res = PQprepare(st->conn, s->name, s->sql, 0, NULL);
  if (PQresultStatus(res) == PGRES_COMMAND_OK)
    st->prepared[s->id] = true;
  else if (!lenient || !svc_pg_missing_schema(res))
    rc = svc_pg_fail(st->conn, res, s->name, err);
  PQclear(res);
  return rc;
}

int store_prepare(struct store *st, const struct store_stmt *s,
                  struct owcp_error *err)
{
  return prepare_stmt(st, s, false, err);
}

/* Prepares every statement the migrated schema allows. */
static int prepare_all(struct store *st, struct owcp_error *err)
{
  for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++) {
    for (const struct store_stmt *const *s = groups[g]; *s != NULL; s++) {
      int rc = prepare_stmt(st, *s, true, err);

      if (rc != 0)
        return rc;
    }
  }
  return 0;
}

/* Sends the NOTIFY payloads the last statement queued (it has committed:
 * every notifying statement runs on its own). A failure is not the
 * statement's: its change is committed; the long polls waiting for it then
 * answer at their deadline instead of at once. */
void store_notify_flush(struct store *st)
{
  PGresult *res;

  if (store_prepare(st, &stmt_notify_flush, NULL) != 0)
    return;
  res =
      PQexecPrepared(st->conn, stmt_notify_flush.name, 0, NULL, NULL, NULL, 0);
  PQclear(res);
}

/* The statements group commit takes: the two durable commits of every
 * flow. Others (admin, sweeper, DR-Complete bookkeeping) are rare enough
 * to commit on their own. */
static bool grouped(const struct store_stmt *s)
{
  return s->id == S_CONFIRM || s->id == S_REPLY;
}

int store_run(struct store *st, const struct store_stmt *s,
              const struct svc_pg_params *p, PGresult **out,
              struct owcp_error *err)
{
  if (st->group != NULL && grouped(s))
    return store_group_run(st->group, st, s, p, out, err);
  return store_run_alone(st, s, p, out, err);
}

/* Runs a prepared statement expecting rows (or a command); *out gets the
 * result the caller PQclear()s. */
int store_run_alone(struct store *st, const struct store_stmt *s,
                    const struct svc_pg_params *p, PGresult **out,
                    struct owcp_error *err)
{
  PGresult *res;
  ExecStatusType status;
  int rc;

  *out = NULL;
  rc = store_prepare(st, s, err);
  if (rc != 0)
    return rc;
  res = PQexecPrepared(st->conn, s->name, p ? p->n : 0, p ? p->v : NULL,
                       p ? p->len : NULL, p ? p->fmt : NULL, 0);
  status = PQresultStatus(res);
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
    rc = svc_pg_fail(st->conn, res, s->name, err);
    PQclear(res);
    return rc;
  }
  *out = res;
  if (s->notifies)
    store_notify_flush(st);
  return 0;
}

/* Runs a statement expecting exactly one row. */
int store_run_row(struct store *st, const struct store_stmt *s,
                  const struct svc_pg_params *p, PGresult **out,
                  struct owcp_error *err)
{
  int rc = store_run(st, s, p, out, err);

  if (rc != 0)
    return rc;
  return svc_pg_expect_one(out, s->name, err);
}

/* Streams a statement's rows one at a time (single-row mode) so that long
 * listings and chain walks use constant memory. A non-zero return of fn
 * stops delivering rows (the rest are drained) and is returned. */
int store_run_rows(struct store *st, const struct store_stmt *s,
                   const struct svc_pg_params *p, store_pgrow_fn fn, void *arg,
                   struct owcp_error *err)
{
  PGresult *res;
  int rc = store_prepare(st, s, err);
  int stop = 0;

  if (rc != 0)
    return rc;
  if (!PQsendQueryPrepared(st->conn, s->name, p ? p->n : 0, p ? p->v : NULL,
                           p ? p->len : NULL, p ? p->fmt : NULL, 0))
    return svc_pg_fail(st->conn, NULL, s->name, err);
  PQsetSingleRowMode(st->conn);
  while ((res = PQgetResult(st->conn)) != NULL) {
    ExecStatusType status = PQresultStatus(res);

    if (status == PGRES_SINGLE_TUPLE) {
      if (stop == 0 && rc == 0)
        stop = fn(arg, res);
    } else if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK &&
               rc == 0) {
      rc = svc_pg_fail(st->conn, res, s->name, err);
    }
    PQclear(res);
  }
  return rc != 0 ? rc : stop;
}

int store_run_status(struct store *st, const struct store_stmt *s,
                     const struct svc_pg_params *p, int *status,
                     struct owcp_error *err)
{
  PGresult *res;
  int rc = store_run_row(st, s, p, &res, err);

  if (rc != 0)
    return rc;
  *status = (int)svc_pg_get_int(res, 0, 0);
  PQclear(res);
  return 0;
}

/* Runs a statement and turns its rows into a calloc()ed array of items of
 * item_size bytes, filled by fill. On success *items (caller frees with
 * the list's own free function) holds *count items; on failure, the
 * *count items filled so far are left for that free function too. */
int store_run_array(struct store *st, const struct store_stmt *s,
                    const struct svc_pg_params *p, size_t item_size,
                    store_item_fill_fn fill, void **items, size_t *count,
                    struct owcp_error *err)
{
  PGresult *res;
  int rc = store_run(st, s, p, &res, err);

  *items = NULL;
  *count = 0;
  if (rc != 0)
    return rc;
  return svc_pg_rows_array(res, s->name, item_size, fill, items, count, err);
}

/* Adapts one streamed row to the public row callback. */
int store_listing_row(void *arg, const PGresult *row)
{
  const struct store_listing *l = arg;
  int n = PQnfields(row);
  const char *names[16];
  const char *fields[16];

  if (n > 16)
    n = 16;
  for (int i = 0; i < n; i++) {
    names[i] = PQfname(row, i);
    fields[i] = svc_pg_get(row, 0, i);
  }
  return l->fn(l->arg, n, names, fields);
}

/* ---- connections ---------------------------------------------------------
 */

/* Makes conn a dispatcher connection: NOTIFY after COMMIT, not inside it
 * (procedures/owcp_notify.sql), and every statement the schema allows
 * prepared. *out (caller frees with free(); conn stays the caller's). */
static int store_attach(PGconn *conn, struct store **out,
                        struct owcp_error *err)
{
  struct store *st = calloc(1, sizeof *st);
  int rc;

  *out = NULL;
  if (st == NULL) {
    owcp_error_set(err, "out of memory allocating a database connection");
    return -1;
  }
  st->conn = conn;
  rc = svc_pg_exec(conn, "SET owcp.notify = 'after-commit'", "connect", err);
  if (rc == 0)
    rc = prepare_all(st, err);
  if (rc != 0) {
    free(st);
    return rc;
  }
  *out = st;
  return 0;
}

struct store *store_open(const char *conninfo, struct owcp_error *err)
{
  PGconn *conn = svc_pg_connect(conninfo, "", err);
  struct store *st;

  if (conn == NULL)
    return NULL;
  if (store_attach(conn, &st, err) != 0) {
    PQfinish(conn);
    return NULL;
  }
  return st;
}

void store_close(struct store *st)
{
  if (st == NULL)
    return;
  if (st->pooled == NULL)
    PQfinish(st->conn);
  free(st);
}

bool store_is_broken(const struct store *st)
{
  return st == NULL || svc_pg_is_broken(st->conn);
}

int store_ping(struct store *st, struct owcp_error *err)
{
  PGresult *res;
  int rc = store_run_row(st, &stmt_ping, NULL, &res, err);

  PQclear(res);
  return rc;
}

/* After store_migrate: statements whose procedures did not exist yet. */
int store_prepare_all(struct store *st, struct owcp_error *err)
{
  return prepare_all(st, err);
}

/* ---- pool ------------------------------------------------------------------
 */

struct store_pool {
  struct svc_pgpool *pg;
  struct store_group *group; /* NULL: no group commit */
};

/* svc_pgpool setup hook: the pool's connections are store_attach()ed. */
static int pool_setup(void *arg, PGconn *conn, void **state,
                      struct owcp_error *err)
{
  struct store *st;
  int rc = store_attach(conn, &st, err);

  *state = st;
  return rc;
}

static void pool_teardown(void *arg, void *state)
{
  free(state);
}

struct store_pool *store_pool_new(const char *conninfo, size_t size,
                                  struct owcp_error *err)
{
  static const struct svc_pgpool_hooks hooks = {pool_setup, pool_teardown,
                                                NULL};
  struct store_pool *pool = calloc(1, sizeof *pool);

  if (pool == NULL) {
    owcp_error_set(err, "out of memory creating connection pool");
    return NULL;
  }
  pool->pg = svc_pgpool_new(conninfo, size, &hooks, err);
  if (pool->pg == NULL) {
    free(pool);
    return NULL;
  }
  return pool;
}

void store_pool_free(struct store_pool *pool)
{
  if (pool == NULL)
    return;
  svc_pgpool_free(pool->pg);
  store_group_free(pool->group);
  free(pool);
}

int store_pool_acquire(struct store_pool *pool, int wait_ms, struct store **out,
                       struct owcp_error *err)
{
  struct svc_pgconn *c;
  int rc = svc_pgpool_acquire(pool->pg, wait_ms, &c, err);

  *out = NULL;
  if (rc != 0)
    return rc;
  *out = svc_pgconn_state(c);
  (*out)->pooled = c;
  (*out)->group = pool->group;
  return 0;
}

int store_pool_group_commit(struct store_pool *pool, size_t max,
                            struct owcp_error *err)
{
  if (max < 2)
    return 0;
  if (max > STORE_GROUP_MAX)
    max = STORE_GROUP_MAX;
  pool->group = store_group_new(max);
  if (pool->group == NULL) {
    owcp_error_set(err, "out of memory creating the group committer");
    return -1;
  }
  return 0;
}

void store_pool_group_counts(struct store_pool *pool,
                             struct store_group_counts *out)
{
  memset(out, 0, sizeof *out);
  if (pool->group != NULL)
    store_group_counts(pool->group, out);
}

void store_pool_release(struct store_pool *pool, struct store *st)
{
  if (st == NULL)
    return;
  svc_pgpool_release(pool->pg, st->pooled);
}

void store_pool_stats(struct store_pool *pool, struct svc_pgpool_stats *out)
{
  svc_pgpool_stats(pool->pg, out);
}
