/*
 * store_log.c — store.h's confirmation log: queries, and the sealer's
 * and verifier's access to the hash chain (dispatcher/logchain.c).
 */
#include "store_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The sealer's advisory lock key ("OWCPSEAL" as big-endian ASCII): fixed so
 * every process agrees on it. */
#define SEAL_LOCK "5716493375131403596"

/* With each entry's chain position and hash (NULL until sealed). */
static const struct store_stmt stmt_log_query = {
    S_LOG_QUERY, "log_query",
    "SELECT l.seq, to_char(l.at AT TIME ZONE 'UTC', "
    "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS at, l.event, l.account, "
    "l.requestor, l.transaction, l.client, l.detail, c.pos AS position, "
    "encode(c.hash, 'hex') AS hash FROM log l LEFT JOIN log_chain c ON "
    "c.seq = l.seq WHERE ($1::text IS NULL OR l.account = $1) AND "
    "($2::text IS NULL OR l.requestor = $2) AND ($3::text IS NULL OR "
    "l.transaction = $3) AND ($4::text IS NULL OR l.event = $4) AND "
    "($5::float8 IS NULL OR l.at >= " TS(5) ") AND ($6::float8 IS NULL OR "
                                            "l.at < " TS(6) ") ORDER BY l.seq"};

static const struct store_stmt stmt_seal_lock = {
    S_SEAL_LOCK, "seal_lock",
    "SELECT pg_try_advisory_xact_lock(" SEAL_LOCK ")"};

static const struct store_stmt stmt_seal_xmin = {
    S_SEAL_XMIN, "seal_xmin",
    "SELECT pg_snapshot_xmin("
    "pg_current_snapshot())::text"};

static const struct store_stmt stmt_seal_advance = {
    S_SEAL_ADVANCE, "seal_advance",
    "UPDATE log_seal_horizon SET xid = greatest(xid, "
    "$1::xid8)"};

static const struct store_stmt stmt_chain_tip = {
    S_CHAIN_TIP, "chain_tip",
    "SELECT pos, hash FROM log_chain ORDER BY "
    "pos DESC LIMIT 1"};

/* Ordered by the (xid, seq) index so that the scan starts at the
 * horizon whatever the planner thinks of the subquery's value. */
static const struct store_stmt stmt_log_unsealed = {
    S_LOG_UNSEALED, "log_unsealed",
    "SELECT l.seq, (extract(epoch from l.at) * "
    "1000000)::bigint, l.event, l.account, l.requestor, "
    "l.transaction, l.client, l.detail FROM log l WHERE "
    "l.xid >= (SELECT xid FROM log_seal_horizon) AND "
    "NOT EXISTS (SELECT 1 FROM log_chain c WHERE c.seq = "
    "l.seq) ORDER BY l.xid, l.seq LIMIT $1"};

static const struct store_stmt stmt_chain_append = {
    S_CHAIN_APPEND, "chain_append",
    "INSERT INTO log_chain (pos, seq, prev_hash, hash) "
    "SELECT p, s, decode(ph, 'hex'), decode(h, 'hex') "
    "FROM unnest($1::bigint[], $2::bigint[], $3::text[], "
    "$4::text[]) AS u(p, s, ph, h)"};

static const struct store_stmt stmt_chain_walk = {
    S_CHAIN_WALK, "chain_walk",
    "SELECT c.pos, c.prev_hash, c.hash, l.seq, (extract("
    "epoch from l.at) * 1000000)::bigint, l.event, "
    "l.account, l.requestor, l.transaction, l.client, "
    "l.detail FROM log_chain c LEFT JOIN log l ON l.seq = "
    "c.seq ORDER BY c.pos"};

static const struct store_stmt stmt_log_unchained = {
    S_LOG_UNCHAINED, "log_unchained",
    "SELECT count(*), coalesce(min(l.seq), 0) FROM log "
    "l WHERE NOT EXISTS (SELECT 1 FROM log_chain c "
    "WHERE c.seq = l.seq)"};

const struct store_stmt *const store_log_statements[] = {
    &stmt_log_query,     &stmt_seal_lock,
    &stmt_seal_xmin,     &stmt_seal_advance,
    &stmt_chain_tip,     &stmt_log_unsealed,
    &stmt_chain_append,  &stmt_chain_walk,
    &stmt_log_unchained, NULL};

/* ---- the confirmation log ----------------------------------------------- */

void store_log_filter_params(struct svc_pg_params *p,
                             const struct store_log_filter *f)
{
  svc_pg_param_text(p, f->account);
  svc_pg_param_text(p, f->requestor);
  svc_pg_param_text(p, f->transaction);
  svc_pg_param_text(p, f->event);
  svc_pg_param_time(p, f->since);
  svc_pg_param_time(p, f->until);
}

int store_log_query(struct store *st, const struct store_log_filter *f,
                    store_row_fn fn, void *arg, struct owcp_error *err)
{
  struct store_listing l = {fn, arg};
  struct svc_pg_params p = {0};

  store_log_filter_params(&p, f);
  return store_run_rows(st, &stmt_log_query, &p, store_listing_row, &l, err);
}

/* The unsealed scan must walk the (xid, seq) index from the horizon and
 * probe log_chain by seq: the planner cannot know the horizon's value, and
 * the plan a connection keeps for the prepared statement was chosen while
 * the log was empty — a sequential scan of the whole log and of log_chain
 * hashed, on every pass (bench/run.sh: up to 18 % of database samples,
 * growing with the log). Inside the seal transaction only, the other
 * paths are priced out (and JIT, which those prices would trigger, off),
 * and so are parallel plans: a disabled path's penalty is shared out
 * between parallel workers, so the planner still chose a parallel scan,
 * and started background workers (a process each) for every pass
 * (IPC/BgWorkerShutdown and IPC/ExecuteGather in bench/run.sh's samples). */
#define SEAL_PLAN                                                              \
  "SET LOCAL enable_seqscan = off; SET LOCAL enable_hashjoin = off; "          \
  "SET LOCAL enable_mergejoin = off; SET LOCAL jit = off; "                    \
  "SET LOCAL max_parallel_workers_per_gather = 0"

int store_seal_begin(struct store *st, bool *locked, struct owcp_error *err)
{
  PGresult *res;
  int rc;

  *locked = false;
  rc = svc_pg_exec(st->conn, "BEGIN", "seal", err);
  if (rc == 0)
    rc = svc_pg_exec(st->conn, SEAL_PLAN, "seal", err);
  if (rc != 0) {
    svc_pg_exec(st->conn, "ROLLBACK", "seal", NULL);
    return rc;
  }
  rc = store_run_row(st, &stmt_seal_lock, NULL, &res, err);
  if (rc != 0) {
    svc_pg_exec(st->conn, "ROLLBACK", "seal", NULL);
    return rc;
  }
  *locked = svc_pg_get_bool(res, 0, 0);
  PQclear(res);
  if (!*locked)
    return svc_pg_exec(st->conn, "ROLLBACK", "seal", err);
  return 0;
}

int store_seal_xmin(struct store *st, char xmin[STORE_XID_LEN],
                    struct owcp_error *err)
{
  PGresult *res;
  int rc = store_run_row(st, &stmt_seal_xmin, NULL, &res, err);
  const char *v;

  if (rc != 0)
    return rc;
  v = svc_pg_get(res, 0, 0);
  if (v == NULL || strlen(v) >= STORE_XID_LEN) {
    PQclear(res);
    owcp_error_set(err, "the database returned no snapshot xmin");
    return -1;
  }
  memcpy(xmin, v, strlen(v) + 1);
  PQclear(res);
  return 0;
}

int store_seal_advance(struct store *st, const char *xmin,
                       struct owcp_error *err)
{
  struct svc_pg_params p = {0};

  PGresult *res;
  int rc;

  svc_pg_param_text(&p, xmin);
  rc = store_run(st, &stmt_seal_advance, &p, &res, err);
  PQclear(res);
  return rc;
}

int store_seal_end(struct store *st, bool ok, struct owcp_error *err)
{
  return svc_pg_exec(st->conn, ok ? "COMMIT" : "ROLLBACK", "seal", err);
}

int store_chain_tip(struct store *st, int64_t *pos,
                    unsigned char hash[OWCP_SHA256_LEN], struct owcp_error *err)
{
  PGresult *res;
  int rc = store_run(st, &stmt_chain_tip, NULL, &res, err);

  if (rc != 0)
    return rc;
  *pos = 0;
  memset(hash, 0, OWCP_SHA256_LEN);
  if (PQntuples(res) == 1) {
    *pos = svc_pg_get_int(res, 0, 0);
    rc = svc_pg_get_hash(res, 0, 1, hash, err);
  }
  PQclear(res);
  return rc;
}

/* Reads a log entry from columns first..first+7 of a row; the strings
 * point into the result. */
static void entry_from_row(const PGresult *row, int first,
                           struct store_log_entry *e)
{
  e->seq = svc_pg_get_int(row, 0, first);
  e->at_us = svc_pg_get_int(row, 0, first + 1);
  e->event = svc_pg_get(row, 0, first + 2);
  e->account = svc_pg_get(row, 0, first + 3);
  e->requestor = svc_pg_get(row, 0, first + 4);
  e->transaction = svc_pg_get(row, 0, first + 5);
  e->client = svc_pg_get(row, 0, first + 6);
  e->detail = svc_pg_get(row, 0, first + 7);
}

struct entry_walk {
  store_log_entry_fn fn;
  store_chain_fn chain_fn;
  void *arg;
  struct owcp_error *err;
};

static int unsealed_row(void *arg, const PGresult *row)
{
  const struct entry_walk *w = arg;
  struct store_log_entry e;

  entry_from_row(row, 0, &e);
  return w->fn(w->arg, &e);
}

int store_log_unsealed(struct store *st, int limit, store_log_entry_fn fn,
                       void *arg, struct owcp_error *err)
{
  struct entry_walk w = {fn, NULL, arg, err};
  struct svc_pg_params p = {0};

  svc_pg_param_int(&p, limit);
  return store_run_rows(st, &stmt_log_unsealed, &p, unsealed_row, &w, err);
}

/* Appends "{a,b,...}" pieces to a growing buffer. */
struct sbuf {
  char *data;
  size_t len, cap;
  bool failed;
};

static void sbuf_add(struct sbuf *b, const char *s)
{
  size_t n = strlen(s);

  if (b->failed)
    return;
  if (b->len + n + 1 > b->cap) {
    size_t cap = (b->cap ? b->cap * 2 : 256) + n;
    char *grown = realloc(b->data, cap);

    if (grown == NULL) {
      b->failed = true;
      return;
    }
    b->data = grown;
    b->cap = cap;
  }
  memcpy(b->data + b->len, s, n + 1);
  b->len += n;
}

int store_chain_append(struct store *st, size_t n, const int64_t *pos,
                       const int64_t *seq,
                       const unsigned char (*prev)[OWCP_SHA256_LEN],
                       const unsigned char (*hash)[OWCP_SHA256_LEN],
                       struct owcp_error *err)
{
  struct sbuf b[4] = {{0}};
  struct svc_pg_params p = {0};
  PGresult *res;
  int rc = 0;

  for (int k = 0; k < 4; k++)
    sbuf_add(&b[k], "{");
  for (size_t i = 0; i < n; i++) {
    char num[32], hex[2 * OWCP_SHA256_LEN + 1];
    const char *sep = i ? "," : "";

    sbuf_add(&b[0], sep);
    sbuf_add(&b[1], sep);
    sbuf_add(&b[2], sep);
    sbuf_add(&b[3], sep);
    snprintf(num, sizeof num, "%" PRId64, pos[i]);
    sbuf_add(&b[0], num);
    snprintf(num, sizeof num, "%" PRId64, seq[i]);
    sbuf_add(&b[1], num);
    owcp_hex_encode(prev[i], OWCP_SHA256_LEN, hex);
    sbuf_add(&b[2], hex);
    owcp_hex_encode(hash[i], OWCP_SHA256_LEN, hex);
    sbuf_add(&b[3], hex);
  }
  for (int k = 0; k < 4; k++) {
    sbuf_add(&b[k], "}");
    if (b[k].failed)
      rc = -1;
    svc_pg_param_text(&p, b[k].data);
  }
  if (rc != 0)
    owcp_error_set(err, "out of memory encoding %zu chain rows", n);
  else
    rc = store_run(st, &stmt_chain_append, &p, &res, err);
  if (rc == 0)
    PQclear(res);
  for (int k = 0; k < 4; k++)
    free(b[k].data);
  return rc;
}

static int chain_row(void *arg, const PGresult *row)
{
  const struct entry_walk *w = arg;
  struct store_log_entry e;
  unsigned char prev[OWCP_SHA256_LEN], hash[OWCP_SHA256_LEN];

  if (svc_pg_get_hash(row, 0, 1, prev, w->err) != 0 ||
      svc_pg_get_hash(row, 0, 2, hash, w->err) != 0)
    return -1;
  entry_from_row(row, 3, &e);
  return w->chain_fn(w->arg, svc_pg_get_int(row, 0, 0), prev, hash,
                     PQgetisnull(row, 0, 3) ? NULL : &e);
}

int store_chain_walk(struct store *st, store_chain_fn fn, void *arg,
                     struct owcp_error *err)
{
  struct entry_walk w = {NULL, fn, arg, err};

  return store_run_rows(st, &stmt_chain_walk, NULL, chain_row, &w, err);
}

int store_log_unchained(struct store *st, int64_t *count, int64_t *first_seq,
                        struct owcp_error *err)
{
  PGresult *res;
  int rc = store_run_row(st, &stmt_log_unchained, NULL, &res, err);

  if (rc != 0)
    return rc;
  *count = svc_pg_get_int(res, 0, 0);
  *first_seq = svc_pg_get_int(res, 0, 1);
  PQclear(res);
  return 0;
}
