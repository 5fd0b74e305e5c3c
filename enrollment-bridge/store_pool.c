/*
 * store_pool.c — the bridge's connections: the pool over
 * owcp/service/pgpool.h whose setup hook prepares every statement, and
 * the helpers that run prepared statements and classify their failures.
 */
#include "store_internal.h"

#include "owcp/service/pgpool.h"

#include <stdlib.h>
#include <string.h>

static const struct bstore_stmt stmt_ping = {BS_PING, "bridge_ping",
                                             "SELECT 1"};

static const struct bstore_stmt *const pool_statements[] = {&stmt_ping, NULL};

/* Every statement, by concern; prepared when a connection opens. */
static const struct bstore_stmt *const *const groups[] = {
    pool_statements,
    bstore_confirm_statements,
    bstore_approval_statements,
    bstore_issuance_statements,
    bstore_cert_statements,
    bstore_wstep_statements,
    bstore_nonce_statements,
    bstore_wstep_now_statements};

/* svc_pg_fail, except that a refusal by the schema (class 22 data
 * exception, class 23 integrity constraint) is BRIDGE_STORE_INVALID: the
 * caller's data broke an invariant, which retrying cannot fix. */
static int fail(const PGconn *conn, const PGresult *res, const char *what,
                struct owcp_error *err)
{
  const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
  const char *primary =
      res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

  if (state != NULL && primary != NULL &&
      (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0)) {
    owcp_error_set(err, "database refused %s: %s", what, primary);
    return BRIDGE_STORE_INVALID;
  }
  return svc_pg_fail(conn, res, what, err);
}

/* Prepares statement s unless it already is. When lenient, a statement
 * whose tables or procedures are not migrated yet is left for its first
 * use instead of failing. */
static int prepare_stmt(struct bridge_store *st, const struct bstore_stmt *s,
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

static int prepare_all(struct bridge_store *st, struct owcp_error *err)
{
  for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++) {
    for (const struct bstore_stmt *const *s = groups[g]; *s != NULL; s++) {
      int rc = prepare_stmt(st, *s, true, err);

      if (rc != 0)
        return rc;
    }
  }
  return 0;
}

int bstore_run(struct bridge_store *st, const struct bstore_stmt *s,
               const struct svc_pg_params *p, PGresult **out,
               struct owcp_error *err)
{
  PGresult *res;
  ExecStatusType status;
  int rc;

  *out = NULL;
  rc = prepare_stmt(st, s, false, err);
  if (rc != 0)
    return rc;
  res = PQexecPrepared(st->conn, s->name, p ? p->n : 0, p ? p->v : NULL,
                       p ? p->len : NULL, p ? p->fmt : NULL, 0);
  status = PQresultStatus(res);
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
    rc = fail(st->conn, res, s->name, err);
    PQclear(res);
    return rc;
  }
  *out = res;
  return 0;
}

int bstore_run_row(struct bridge_store *st, const struct bstore_stmt *s,
                   const struct svc_pg_params *p, PGresult **out,
                   struct owcp_error *err)
{
  int rc = bstore_run(st, s, p, out, err);

  if (rc != 0)
    return rc;
  return svc_pg_expect_one(out, s->name, err);
}

int bstore_run_int(struct bridge_store *st, const struct bstore_stmt *s,
                   const struct svc_pg_params *p, int64_t *value,
                   struct owcp_error *err)
{
  PGresult *res;
  int rc = bstore_run_row(st, s, p, &res, err);

  if (rc != 0)
    return rc;
  *value = svc_pg_get_int(res, 0, 0);
  PQclear(res);
  return 0;
}

int bstore_run_array(struct bridge_store *st, const struct bstore_stmt *s,
                     const struct svc_pg_params *p, size_t item_size,
                     svc_pg_fill_fn fill, void **items, size_t *count,
                     struct owcp_error *err)
{
  PGresult *res;
  int rc = bstore_run(st, s, p, &res, err);

  *items = NULL;
  *count = 0;
  if (rc != 0)
    return rc;
  return svc_pg_rows_array(res, s->name, item_size, fill, items, count, err);
}

int bstore_get_bytea_z(const PGresult *res, int row, int col, char **out,
                       size_t *len, struct owcp_error *err)
{
  unsigned char *raw;
  char *z;

  *out = NULL;
  if (svc_pg_get_bytea(res, row, col, &raw, len, err) != 0)
    return -1;
  if (raw == NULL)
    return 0;
  z = realloc(raw, *len + 1);
  if (z == NULL) {
    free(raw);
    owcp_error_set(err, "out of memory copying a bytea value");
    return -1;
  }
  z[*len] = '\0';
  *out = z;
  return 0;
}

int bridge_store_ping(struct bridge_store *st, struct owcp_error *err)
{
  PGresult *res;
  int rc = bstore_run_row(st, &stmt_ping, NULL, &res, err);

  PQclear(res);
  return rc;
}

/* ---- pool ---------------------------------------------------------------- */

struct bridge_store_pool {
  struct svc_pgpool *pg;
};

/* svc_pgpool setup hook: a new connection gets its handle and every
 * statement the migrated schema allows prepared. */
static int pool_setup(void *arg, PGconn *conn, void **state,
                      struct owcp_error *err)
{
  struct bridge_store *st = calloc(1, sizeof *st);
  int rc;

  (void)arg;
  *state = NULL;
  if (st == NULL) {
    owcp_error_set(err, "out of memory allocating a database connection");
    return -1;
  }
  st->conn = conn;
  rc = prepare_all(st, err);
  if (rc != 0) {
    free(st);
    return rc;
  }
  *state = st;
  return 0;
}

static void pool_teardown(void *arg, void *state)
{
  (void)arg;
  free(state);
}

struct bridge_store_pool *
bridge_store_pool_new(const char *conninfo, size_t size, struct owcp_error *err)
{
  static const struct svc_pgpool_hooks hooks = {pool_setup, pool_teardown,
                                                NULL};
  struct bridge_store_pool *pool = calloc(1, sizeof *pool);

  if (pool == NULL) {
    owcp_error_set(err, "out of memory creating the bridge's database pool");
    return NULL;
  }
  pool->pg = svc_pgpool_new(conninfo, size, &hooks, err);
  if (pool->pg == NULL) {
    free(pool);
    return NULL;
  }
  return pool;
}

void bridge_store_pool_free(struct bridge_store_pool *pool)
{
  if (pool == NULL)
    return;
  svc_pgpool_free(pool->pg);
  free(pool);
}

void bridge_store_pool_stats(struct bridge_store_pool *pool,
                             struct svc_pgpool_stats *out)
{
  svc_pgpool_stats(pool->pg, out);
}

int bridge_store_acquire(struct bridge_store_pool *pool, int wait_ms,
                         struct bridge_store **out, struct owcp_error *err)
{
  struct svc_pgconn *c;
  int rc = svc_pgpool_acquire(pool->pg, wait_ms, &c, err);

  *out = NULL;
  if (rc != 0)
    return rc;
  *out = svc_pgconn_state(c);
  (*out)->pooled = c;
  return 0;
}

void bridge_store_release(struct bridge_store_pool *pool,
                          struct bridge_store *st)
{
  if (st == NULL)
    return;
  svc_pgpool_release(pool->pg, st->pooled);
}
