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

static const struct store_stmt stmt_ping = {S_PING, "ping", "SELECT 1"};

const struct store_stmt *const store_pool_statements[] = {&stmt_ping, NULL};

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

/* ---- wake-up keys (store_pool_new_waking) --------------------------------
 */

/* The SQLSTATE of owcp_notify()'s wake-up notices. */
#define WAKE_SQLSTATE "OWCPN"

/* A key longer than this, or with a space or control character in it, is
 * not one of ours: it is replaced by "*" (wake every waiter). */
#define WAKE_KEY_MAX 95

/* Keys one transaction may keep (the sweeper's expiry of a large batch);
 * beyond, "*" stands for all of them. */
#define WAKE_KEYS_MAX_BYTES ((size_t)256 * 1024)

static bool wake_key_ok(const char *key)
{
  size_t n = strlen(key);

  if (n == 0 || n > WAKE_KEY_MAX)
    return false;
  for (const char *c = key; *c != '\0'; c++)
    if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f)
      return false;
  return true;
}

/* Appends key to the connection's list; on any trouble remembers that a
 * key was lost instead. */
static void wake_keep(struct store *st, const char *key)
{
  size_t n = strlen(key) + 1;

  if (!wake_key_ok(key) || st->wake_len + n > WAKE_KEYS_MAX_BYTES) {
    st->wake_lost = true;
    return;
  }
  if (st->wake_len + n > st->wake_cap) {
    size_t cap = st->wake_cap ? st->wake_cap * 2 : 256;
    char *grown;

    while (cap < st->wake_len + n)
      cap *= 2;
    grown = realloc(st->wake_keys, cap);
    if (grown == NULL) {
      st->wake_lost = true;
      return;
    }
    st->wake_keys = grown;
    st->wake_cap = cap;
  }
  memcpy(st->wake_keys + st->wake_len, key, n);
  st->wake_len += n;
}

/* libpq notice receiver of a waking connection: keeps owcp_notify()'s keys
 * until their statement's outcome is known; other notices are dropped, as
 * svc_pg_connect's quiet notice processor does. */
static void wake_notice(void *arg, const PGresult *res)
{
  struct store *st = arg;
  const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
  const char *key = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

  if (state != NULL && key != NULL && strcmp(state, WAKE_SQLSTATE) == 0)
    wake_keep(st, key);
}

static void wake_forget(struct store *st)
{
  st->wake_len = 0;
  st->wake_lost = false;
}

/* Before a statement: keys left from a transaction that ended without a
 * committing statement of ours (the pool rolled it back) are dropped. */
void store_wake_begin(struct store *st)
{
  if (st->wake != NULL && PQtransactionStatus(st->conn) == PQTRANS_IDLE)
    wake_forget(st);
}

/* After a statement: once no transaction is open any more, a successful
 * statement has committed and its keys (with those of the transaction it
 * ended) go to the wake function; a failed one's are dropped. */
void store_wake_end(struct store *st, bool ok)
{
  if (st->wake == NULL)
    return;
  if (!ok) {
    wake_forget(st);
    return;
  }
  if (PQtransactionStatus(st->conn) != PQTRANS_IDLE)
    return;
  if (st->wake_lost)
    st->wake(st->wake_arg, "*");
  else
    for (size_t at = 0; at < st->wake_len; at += strlen(st->wake_keys + at) + 1)
      st->wake(st->wake_arg, st->wake_keys + at);
  wake_forget(st);
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
  return store_run_then(st, s, p, NULL, out, err);
}

int store_run_then(struct store *st, const struct store_stmt *s,
                   const struct svc_pg_params *p, const struct store_then *then,
                   PGresult **out, struct owcp_error *err)
{
  if (st->group != NULL && grouped(s))
    return store_group_run(st->group, st, s, p, then, out, err);
  return store_run_alone(st, s, p, then, out, err);
}

/* Runs a prepared statement expecting rows (or a command); *out gets the
 * result the caller PQclear()s. */
int store_run_alone(struct store *st, const struct store_stmt *s,
                    const struct svc_pg_params *p,
                    const struct store_then *then, PGresult **out,
                    struct owcp_error *err)
{
  PGresult *res;
  ExecStatusType status;
  int rc;

  *out = NULL;
  rc = store_prepare(st, s, err);
  if (rc != 0)
    return rc;
  store_wake_begin(st);
  res = PQexecPrepared(st->conn, s->name, p ? p->n : 0, p ? p->v : NULL,
                       p ? p->len : NULL, p ? p->fmt : NULL, 0);
  status = PQresultStatus(res);
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
    store_wake_end(st, false);
    rc = svc_pg_fail(st->conn, res, s->name, err);
    PQclear(res);
    return rc;
  }
  if (then != NULL && PQtransactionStatus(st->conn) == PQTRANS_IDLE)
    then->fn(then->arg, res);
  store_wake_end(st, true);
  *out = res;
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
  store_wake_begin(st);
  if (!PQsendQueryPrepared(st->conn, s->name, p ? p->n : 0, p ? p->v : NULL,
                           p ? p->len : NULL, p ? p->fmt : NULL, 0)) {
    store_wake_end(st, false);
    return svc_pg_fail(st->conn, NULL, s->name, err);
  }
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
  store_wake_end(st, rc == 0);
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

/* Frees a connection's handle (not the connection). */
static void store_free(struct store *st)
{
  free(st->wake_keys);
  free(st);
}

/* Makes conn a dispatcher connection: with a wake function, owcp_notify()'s
 * keys come back as notices (procedures/owcp_notify.sql) and are passed on
 * after the commit, and notices are shown (whatever the role's
 * client_min_messages); without, it notifies inside the transaction. Every
 * statement the schema allows is prepared. *out (caller frees with
 * store_free(); conn stays the caller's). */
static int store_attach(PGconn *conn, store_wake_fn wake, void *wake_arg,
                        struct store **out, struct owcp_error *err)
{
  struct store *st = calloc(1, sizeof *st);
  int rc = 0;

  *out = NULL;
  if (st == NULL) {
    owcp_error_set(err, "out of memory allocating a database connection");
    return -1;
  }
  st->conn = conn;
  st->wake = wake;
  st->wake_arg = wake_arg;
  if (wake != NULL) {
    PQsetNoticeReceiver(conn, wake_notice, st);
    rc = svc_pg_exec(conn,
                     "SET owcp.notify = 'client'; "
                     "SET client_min_messages = notice",
                     "connect", err);
  }
  if (rc == 0)
    rc = prepare_all(st, err);
  if (rc != 0) {
    store_free(st);
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
  if (store_attach(conn, NULL, NULL, &st, err) != 0) {
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
  store_free(st);
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
  store_wake_fn wake;        /* NULL: notify inside the transaction */
  void *wake_arg;
};

/* svc_pgpool setup hook: the pool's connections are store_attach()ed. */
static int pool_setup(void *arg, PGconn *conn, void **state,
                      struct owcp_error *err)
{
  const struct store_pool *pool = arg;
  struct store *st;
  int rc = store_attach(conn, pool->wake, pool->wake_arg, &st, err);

  *state = st;
  return rc;
}

static void pool_teardown(void *arg, void *state)
{
  if (state != NULL)
    store_free(state);
}

struct store_pool *store_pool_new_waking(const char *conninfo, size_t size,
                                         store_wake_fn wake, void *arg,
                                         struct owcp_error *err)
{
  struct store_pool *pool = calloc(1, sizeof *pool);
  struct svc_pgpool_hooks hooks = {pool_setup, pool_teardown, pool};

  if (pool == NULL) {
    owcp_error_set(err, "out of memory creating connection pool");
    return NULL;
  }
  pool->wake = wake;
  pool->wake_arg = arg;
  pool->pg = svc_pgpool_new(conninfo, size, &hooks, err);
  if (pool->pg == NULL) {
    free(pool);
    return NULL;
  }
  return pool;
}

struct store_pool *store_pool_new(const char *conninfo, size_t size,
                                  struct owcp_error *err)
{
  return store_pool_new_waking(conninfo, size, NULL, NULL, err);
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
