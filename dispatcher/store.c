/*
 * store.c — implementation of store.h: every SQL statement of the
 * dispatcher (one static table, prepared per connection), the connection
 * pool, migrations and the LISTEN connection.
 */
#include "store.h"

#include <libpq-fe.h>

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef OWCP_SQL_DIR
#define OWCP_SQL_DIR "sql"
#endif

/* Advisory lock keys ("OWCPMIGR", "OWCPSEAL" as big-endian ASCII): fixed so
 * every process agrees on them. */
#define MIGRATE_LOCK "5716493375148493138"
#define SEAL_LOCK "5716493375131403596"

/* A migration file; the largest is a few dozen KiB. */
#define MIGRATION_MAX ((size_t)1024 * 1024)

#define EPOCH(x) "extract(epoch from " x ")::bigint"
#define TS(n) "to_timestamp($" #n "::float8)"

enum stmt {
  S_PING,
  S_NOTIFY_FLUSH,
  S_RATE_TAKE,
  S_REQUESTOR_BY_TOKEN,
  S_REQUESTOR_BY_ADDRESS,
  S_CLIENT_BY_TOKEN,
  S_CLIENT_CERT,
  S_TX_REQUEST,
  S_CONFIRM,
  S_STATUS,
  S_FINAL,
  S_OUTCOME,
  S_RD_REGISTER,
  S_RD_DEREGISTER,
  S_LIST,
  S_REPLY,
  S_REGISTER_CODE,
  S_REGISTER_OPEN,
  S_APPROVAL_START,
  S_APPROVAL_FINISH,
  S_CLIENT_REVOKE,
  S_EXPIRE,
  S_OUTBOX_CLAIM,
  S_OUTBOX_DELIVERED,
  S_OUTBOX_FAILED,
  S_ACCOUNT_ADD,
  S_ACCOUNT_DISABLE,
  S_CODE_ISSUE,
  S_REQUESTOR_ADD,
  S_REQUESTOR_DISABLE,
  S_ACCOUNT_LIST,
  S_REQUESTOR_LIST,
  S_CLIENT_LIST,
  S_LOG_QUERY,
  S_SEAL_LOCK,
  S_SEAL_XMIN,
  S_SEAL_ADVANCE,
  S_CHAIN_TIP,
  S_LOG_UNSEALED,
  S_CHAIN_APPEND,
  S_CHAIN_WALK,
  S_LOG_UNCHAINED,
  S_COUNT
};

/* The result columns every transaction-outcome query returns, in order. */
#define RESULT_COLS                                                            \
  "t.id, t.identifier, t.response, t.reason, "                                 \
  "array_to_json(t.verification)::text, t.client_id, " EPOCH(                  \
      "t.responded_at") ", " EPOCH("t.expires_at") ", t.receipt, "             \
                                                   "t.completion_uri, "        \
                                                   "t.requestor_id, "          \
                                                   "CASE WHEN t.state = "      \
                                                   "'answered' THEN 200 WHEN " \
                                                   "t.state = 'pending' AND "  \
                                                   "t.expires_at > "           \
                                                   "coalesce(" TS(             \
                                                       2) ", now()) THEN 202 " \
                                                          "ELSE 408 END "

/* notifies: the statement's procedure may queue NOTIFY payloads (with
 * owcp.notify = 'after-commit', sql/005_commit_contention.sql); run()
 * sends them once it has committed. */
static const struct {
  const char *name;
  const char *sql;
  bool notifies;
} statements[S_COUNT] = {
    [S_PING] = {"ping", "SELECT 1", false},
    [S_NOTIFY_FLUSH] = {"notify_flush", "SELECT owcp_notify_flush()", false},
    [S_RATE_TAKE] = {"rate_take",
                     "SELECT o_retry_after FROM owcp_rate_take("
                     "$1, " TS(2) ")",
                     false},
    [S_REQUESTOR_BY_TOKEN] = {"requestor_by_token",
                              "SELECT id, address, status = 'active', "
                              "rate_per_minute, token_hash FROM requestors "
                              "WHERE token_hash = $1",
                              false},
    [S_REQUESTOR_BY_ADDRESS] = {"requestor_by_address",
                                "SELECT id, address, status = 'active', "
                                "rate_per_minute, "
                                "coalesce(token_hash, '\\x'::bytea) FROM "
                                "requestors WHERE address = $1",
                                false},
    [S_CLIENT_BY_TOKEN] = {"client_by_token",
                           "SELECT c.id, c.account_id, a.address, "
                           "c.status = 'active' AND a.status = 'active', "
                           "c.token_hash FROM clients c JOIN accounts a ON "
                           "a.id = c.account_id WHERE c.token_hash = $1",
                           false},
    [S_CLIENT_CERT] = {"client_cert",
                       "SELECT cert_der FROM clients WHERE id "
                       "= $1 AND status = 'active'",
                       false},
    [S_TX_REQUEST] = {"tx_request",
                      "SELECT t.request_xml FROM transactions t JOIN clients c "
                      "ON c.account_id = t.account_id WHERE t.id = $1 AND "
                      "c.id = $2 AND c.status = 'active'",
                      false},
    [S_CONFIRM] = {"confirm",
                   "SELECT o_status, o_transaction, " EPOCH(
                       "o_expires") ", o_retry_after FROM owcp_confirm($1, "
                                    "$2, $3, $4, $5, $6, $7, $8, " TS(
                                        9) ", $10, $11)",
                   true},
    [S_STATUS] = {"status",
                  "SELECT " RESULT_COLS
                  "FROM transactions t WHERE t.id = $1 AND "
                  "t.requestor_id = $3",
                  false},
    [S_FINAL] = {"final", "SELECT owcp_final($3, $1, " TS(2) ")", true},
    [S_OUTCOME] = {"outcome",
                   "SELECT " RESULT_COLS
                   ", (SELECT q.address FROM requestors q "
                   "WHERE q.id = t.requestor_id) FROM transactions t WHERE "
                   "t.id = $1",
                   false},
    [S_RD_REGISTER] = {"rd_register",
                       "SELECT o_status, o_ready FROM owcp_rd_register($1, "
                       "$2)",
                       false},
    [S_RD_DEREGISTER] = {"rd_deregister", "SELECT owcp_rd_deregister($1, $2)",
                         false},
    [S_LIST] = {"list",
                "SELECT o_transaction, o_from, o_type, " EPOCH(
                    "o_issued") ", " EPOCH("o_expires") ", o_request "
                                                        "FROM "
                                                        "owcp_list($1, "
                                                        "$2, " TS(3) ")",
                false},
    [S_REPLY] = {"reply",
                 "SELECT owcp_reply($1, $2, $3, $4, $5::text[], $6, " TS(7) ")",
                 true},
    [S_REGISTER_CODE] = {"register_code",
                         "SELECT owcp_cd_register_code($1, $2, $3, $4, $5, "
                         "$6, " TS(7) ")",
                         false},
    [S_REGISTER_OPEN] = {"register_open",
                         "SELECT owcp_cd_register_open($1, $2, $3, $4, $5, " TS(
                             6) ")",
                         false},
    [S_APPROVAL_START] = {"approval_start",
                          "SELECT o_status, o_transaction, " EPOCH(
                              "o_expires") " FROM owcp_cd_approval_start($1, "
                                           "$2, $3, $4, $5, $6, $7, $8, " TS(
                                               9) ")",
                          false},
    [S_APPROVAL_FINISH] = {"approval_finish",
                           "SELECT owcp_cd_approval_finish($1, $2, $3, $4, "
                           "$5, $6, $7, " TS(8) ")",
                           true},
    [S_CLIENT_REVOKE] = {"client_revoke",
                         "SELECT owcp_client_revoke($1, $2, now())", false},
    [S_EXPIRE] = {"expire", "SELECT owcp_expire($1, " TS(2) ")", true},
    [S_OUTBOX_CLAIM] =
        {"outbox_claim",
         "SELECT o_id, o_transaction, o_uri, o_body, "
         "o_attempts, " EPOCH(
             "o_created") " FROM owcp_outbox_claim($1, $2, " TS(3) ")",
         false},
    [S_OUTBOX_DELIVERED] = {"outbox_delivered",
                            "SELECT owcp_outbox_delivered($1, " TS(2) ")",
                            false},
    [S_OUTBOX_FAILED] =
        {"outbox_failed",
         "SELECT o_status, o_gave_up, " EPOCH(
             "o_next") " FROM owcp_outbox_failed($1, $2, " TS(3) ")",
         false},
    [S_ACCOUNT_ADD] = {"account_add", "SELECT owcp_account_add($1)", false},
    [S_ACCOUNT_DISABLE] = {"account_disable", "SELECT owcp_account_disable($1)",
                           false},
    [S_CODE_ISSUE] = {"code_issue",
                      "SELECT owcp_code_issue($1, $2, $3, " TS(4) ")", false},
    [S_REQUESTOR_ADD] = {"requestor_add",
                         "SELECT o_status, o_id FROM "
                         "owcp_requestor_add($1, $2, $3)",
                         false},
    [S_REQUESTOR_DISABLE] = {"requestor_disable",
                             "SELECT owcp_requestor_disable($1)", false},
    [S_ACCOUNT_LIST] = {"account_list",
                        "SELECT a.address, a.status, a.created_at::text AS "
                        "created_at, (SELECT count(*) FROM clients c WHERE "
                        "c.account_id = a.id AND c.status = 'active') AS "
                        "clients FROM accounts a ORDER BY a.address",
                        false},
    [S_REQUESTOR_LIST] = {"requestor_list",
                          "SELECT address, status, rate_per_minute, "
                          "created_at::text AS created_at, token_hash IS "
                          "NULL AS system FROM requestors ORDER BY address",
                          false},
    [S_CLIENT_LIST] = {"client_list",
                       "SELECT c.id, a.address AS account, c.status, "
                       "c.description, c.created_at::text AS created_at, "
                       "c.revoked_at::text AS revoked_at FROM clients c JOIN "
                       "accounts a ON a.id = c.account_id WHERE $1::text IS "
                       "NULL OR a.address = $1 ORDER BY a.address, "
                       "c.created_at, c.id",
                       false},
    [S_LOG_QUERY] = {"log_query",
                     "SELECT seq, to_char(at AT TIME ZONE 'UTC', "
                     "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS at, event, "
                     "account, requestor, transaction, client, detail FROM "
                     "log WHERE ($1::text IS NULL OR account = $1) AND "
                     "($2::text IS NULL OR requestor = $2) AND ($3::text IS "
                     "NULL OR transaction = $3) AND ($4::text IS NULL OR "
                     "event = $4) AND ($5::float8 IS NULL OR at >= " TS(
                         5) ") AND ($6::float8 IS NULL OR at < " TS(6) ") "
                                                                       "ORDER "
                                                                       "BY "
                                                                       "seq",
                     false},
    [S_SEAL_LOCK] = {"seal_lock",
                     "SELECT pg_try_advisory_xact_lock(" SEAL_LOCK ")", false},
    [S_CHAIN_TIP] = {"chain_tip",
                     "SELECT pos, hash FROM log_chain ORDER BY "
                     "pos DESC LIMIT 1",
                     false},
    /* Ordered by the (xid, seq) index so that the scan starts at the
     * horizon whatever the planner thinks of the subquery's value. */
    [S_LOG_UNSEALED] = {"log_unsealed",
                        "SELECT l.seq, (extract(epoch from l.at) * "
                        "1000000)::bigint, l.event, l.account, l.requestor, "
                        "l.transaction, l.client, l.detail FROM log l WHERE "
                        "l.xid >= (SELECT xid FROM log_seal_horizon) AND "
                        "NOT EXISTS (SELECT 1 FROM log_chain c WHERE c.seq = "
                        "l.seq) ORDER BY l.xid, l.seq LIMIT $1",
                        false},
    [S_SEAL_XMIN] = {"seal_xmin",
                     "SELECT pg_snapshot_xmin("
                     "pg_current_snapshot())::text",
                     false},
    [S_SEAL_ADVANCE] = {"seal_advance",
                        "UPDATE log_seal_horizon SET xid = greatest(xid, "
                        "$1::xid8)",
                        false},
    [S_CHAIN_APPEND] = {"chain_append",
                        "INSERT INTO log_chain (pos, seq, prev_hash, hash) "
                        "SELECT p, s, decode(ph, 'hex'), decode(h, 'hex') "
                        "FROM unnest($1::bigint[], $2::bigint[], $3::text[], "
                        "$4::text[]) AS u(p, s, ph, h)",
                        false},
    [S_CHAIN_WALK] = {"chain_walk",
                      "SELECT c.pos, c.prev_hash, c.hash, l.seq, (extract("
                      "epoch from l.at) * 1000000)::bigint, l.event, "
                      "l.account, l.requestor, l.transaction, l.client, "
                      "l.detail FROM log_chain c LEFT JOIN log l ON l.seq = "
                      "c.seq ORDER BY c.pos",
                      false},
    [S_LOG_UNCHAINED] = {"log_unchained",
                         "SELECT count(*), coalesce(min(l.seq), 0) FROM log "
                         "l WHERE NOT EXISTS (SELECT 1 FROM log_chain c "
                         "WHERE c.seq = l.seq)",
                         false},
};

struct store {
  PGconn *conn;
  bool prepared[S_COUNT];
};

/* Parameters of one statement call; text unless marked binary. */
#define MAX_PARAMS 12
struct params {
  const char *v[MAX_PARAMS];
  int len[MAX_PARAMS];
  int fmt[MAX_PARAMS];
  char num[MAX_PARAMS][32];
  int n;
};

static void p_text(struct params *p, const char *s)
{
  p->v[p->n] = s;
  p->len[p->n] = 0;
  p->fmt[p->n] = 0;
  p->n++;
}

static void p_bin(struct params *p, const void *data, size_t len)
{
  p->v[p->n] = data;
  p->len[p->n] = (int)len;
  p->fmt[p->n] = 1;
  p->n++;
}

static void p_int(struct params *p, int64_t v)
{
  snprintf(p->num[p->n], sizeof p->num[p->n], "%" PRId64, v);
  p_text(p, p->num[p->n]);
}

/* time 0 becomes NULL, which the procedures read as now(). */
static void p_time(struct params *p, time_t t)
{
  if (t == 0) {
    p_text(p, NULL);
    return;
  }
  p_int(p, (int64_t)t);
}

static void p_bool(struct params *p, bool b)
{
  p_text(p, b ? "true" : "false");
}

/* Classifies a failure: connection-level problems are STORE_UNAVAILABLE. */
static int fail(struct store *st, const PGresult *res, const char *what,
                struct owcp_error *err)
{
  const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
  const char *msg =
      res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

  if (msg == NULL)
    msg = PQerrorMessage(st->conn);
  if (PQstatus(st->conn) == CONNECTION_BAD ||
      (state != NULL &&
       (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0))) {
    owcp_error_set(err, "database unavailable during %s: %s", what, msg);
    return STORE_UNAVAILABLE;
  }
  owcp_error_set(err, "database error during %s: %s%s%s", what,
                 state ? state : "", state ? " " : "", msg);
  return -1;
}

/* True when preparing failed only because the schema is not migrated yet. */
static bool missing_schema(const PGresult *res)
{
  const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

  return state != NULL &&
         (strcmp(state, "42883") == 0 || strcmp(state, "42P01") == 0);
}

/* Prepares statement s unless it already is. When lenient, a statement
 * whose tables/procedures are not migrated yet is left for later
 * (prepared on first use) instead of failing. */
static int prepare_stmt(struct store *st, enum stmt s, bool lenient,
                        struct owcp_error *err)
{
  PGresult *res;
  int rc = 0;

  if (st->prepared[s])
    return 0;
  res = PQprepare(st->conn, statements[s].name, statements[s].sql, 0, NULL);
  if (PQresultStatus(res) == PGRES_COMMAND_OK)
    st->prepared[s] = true;
  else if (!lenient || !missing_schema(res))
    rc = fail(st, res, statements[s].name, err);
  PQclear(res);
  return rc;
}

static int prepare_one(struct store *st, enum stmt s, struct owcp_error *err)
{
  return prepare_stmt(st, s, false, err);
}

/* Prepares every statement the migrated schema allows. */
static int prepare_all(struct store *st, struct owcp_error *err)
{
  for (int s = 0; s < S_COUNT; s++) {
    int rc = prepare_stmt(st, (enum stmt)s, true, err);

    if (rc != 0)
      return rc;
  }
  return 0;
}

/* Sends the NOTIFY payloads the last statement queued (it has committed:
 * every notifying statement runs on its own). A failure is not the
 * statement's: its change is committed; the long polls waiting for it then
 * answer at their deadline instead of at once. */
static void notify_flush(struct store *st)
{
  PGresult *res;

  if (prepare_one(st, S_NOTIFY_FLUSH, NULL) != 0)
    return;
  res = PQexecPrepared(st->conn, statements[S_NOTIFY_FLUSH].name, 0, NULL, NULL,
                       NULL, 0);
  PQclear(res);
}

/* Runs a prepared statement expecting rows (or a command); *out gets the
 * result the caller PQclear()s. */
static int run(struct store *st, enum stmt s, const struct params *p,
               PGresult **out, struct owcp_error *err)
{
  PGresult *res;
  ExecStatusType status;
  int rc;

  *out = NULL;
  rc = prepare_one(st, s, err);
  if (rc != 0)
    return rc;
  res =
      PQexecPrepared(st->conn, statements[s].name, p ? p->n : 0,
                     p ? p->v : NULL, p ? p->len : NULL, p ? p->fmt : NULL, 0);
  status = PQresultStatus(res);
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
    rc = fail(st, res, statements[s].name, err);
    PQclear(res);
    return rc;
  }
  *out = res;
  if (statements[s].notifies)
    notify_flush(st);
  return 0;
}

/* Runs a statement expecting exactly one row. */
static int run_row(struct store *st, enum stmt s, const struct params *p,
                   PGresult **out, struct owcp_error *err)
{
  int rc = run(st, s, p, out, err);

  if (rc != 0)
    return rc;
  if (PQntuples(*out) != 1) {
    owcp_error_set(err, "database error during %s: expected one row, got %d",
                   statements[s].name, PQntuples(*out));
    PQclear(*out);
    *out = NULL;
    return -1;
  }
  return 0;
}

typedef int (*row_fn)(void *arg, const PGresult *row);

/* Streams a statement's rows one at a time (single-row mode) so that long
 * listings and chain walks use constant memory. A non-zero return of fn
 * stops delivering rows (the rest are drained) and is returned. */
static int run_rows(struct store *st, enum stmt s, const struct params *p,
                    row_fn fn, void *arg, struct owcp_error *err)
{
  PGresult *res;
  int rc = prepare_one(st, s, err);
  int stop = 0;

  if (rc != 0)
    return rc;
  if (!PQsendQueryPrepared(st->conn, statements[s].name, p ? p->n : 0,
                           p ? p->v : NULL, p ? p->len : NULL,
                           p ? p->fmt : NULL, 0))
    return fail(st, NULL, statements[s].name, err);
  PQsetSingleRowMode(st->conn);
  while ((res = PQgetResult(st->conn)) != NULL) {
    ExecStatusType status = PQresultStatus(res);

    if (status == PGRES_SINGLE_TUPLE) {
      if (stop == 0 && rc == 0)
        stop = fn(arg, res);
    } else if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK &&
               rc == 0) {
      rc = fail(st, res, statements[s].name, err);
    }
    PQclear(res);
  }
  return rc != 0 ? rc : stop;
}

static const char *get(const PGresult *res, int row, int col)
{
  return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

static int64_t get_int(const PGresult *res, int row, int col)
{
  const char *v = get(res, row, col);

  return v ? strtoll(v, NULL, 10) : 0;
}

static bool get_bool(const PGresult *res, int row, int col)
{
  const char *v = get(res, row, col);

  return v != NULL && v[0] == 't';
}

/* Copies a text column into a fixed buffer, failing rather than truncating
 * (a truncated identifier would silently name something else). */
static int get_fixed(const PGresult *res, int row, int col, char *buf,
                     size_t size, struct owcp_error *err)
{
  const char *v = get(res, row, col);
  size_t n = v ? strlen(v) : 0;

  if (n >= size) {
    owcp_error_set(err, "database value in column %d is %zu bytes, over %zu",
                   col, n, size - 1);
    return -1;
  }
  memcpy(buf, v ? v : "", n + 1);
  return 0;
}

static int get_dup(const PGresult *res, int row, int col, char **out,
                   struct owcp_error *err)
{
  const char *v = get(res, row, col);

  *out = NULL;
  if (v == NULL)
    return 0;
  *out = strdup(v);
  if (*out == NULL) {
    owcp_error_set(err, "out of memory copying a database value");
    return -1;
  }
  return 0;
}

/* Decodes a bytea column (text format, hex) into a new buffer. */
static int get_bytea(const PGresult *res, int row, int col, unsigned char **out,
                     size_t *len, struct owcp_error *err)
{
  const char *v = get(res, row, col);
  unsigned char *tmp;

  *out = NULL;
  *len = 0;
  if (v == NULL)
    return 0;
  tmp = PQunescapeBytea((const unsigned char *)v, len);
  if (tmp == NULL) {
    owcp_error_set(err, "cannot decode a bytea value in column %d", col);
    return -1;
  }
  *out = malloc(*len ? *len : 1);
  if (*out == NULL) {
    PQfreemem(tmp);
    owcp_error_set(err, "out of memory copying a bytea value");
    return -1;
  }
  memcpy(*out, tmp, *len);
  PQfreemem(tmp);
  return 0;
}

static int get_hash(const PGresult *res, int row, int col,
                    unsigned char out[OWCP_SHA256_LEN], struct owcp_error *err)
{
  unsigned char *buf;
  size_t len;

  if (get_bytea(res, row, col, &buf, &len, err) != 0)
    return -1;
  memset(out, 0, OWCP_SHA256_LEN);
  if (buf != NULL && len == OWCP_SHA256_LEN)
    memcpy(out, buf, len);
  free(buf);
  return 0;
}

/* ---- connection ---------------------------------------------------------- */

static void quiet_notice(void *arg, const char *message)
{
}

/* Runs constant SQL text (migrations' bookkeeping, BEGIN/COMMIT). */
static int exec_sql(struct store *st, const char *sql, const char *what,
                    struct owcp_error *err)
{
  PGresult *res = PQexec(st->conn, sql);
  ExecStatusType status = PQresultStatus(res);
  int rc = 0;

  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
    rc = fail(st, res, what, err);
  PQclear(res);
  return rc;
}

struct store *store_open(const char *conninfo, struct owcp_error *err)
{
  struct store *st = calloc(1, sizeof *st);

  if (st == NULL) {
    owcp_error_set(err, "out of memory allocating a database connection");
    return NULL;
  }
  st->conn = PQconnectdb(conninfo);
  if (PQstatus(st->conn) != CONNECTION_OK) {
    /* libpq's message ends with a newline; keep the sentence on one line. */
    char msg[OWCP_ERROR_MAX];
    size_t n;

    snprintf(msg, sizeof msg, "%s", PQerrorMessage(st->conn));
    n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
      msg[--n] = '\0';
    owcp_error_set(err, "database unavailable: %s", msg);
    store_close(st);
    return NULL;
  }
  /* Server NOTICEs (e.g. "already exists, skipping") are not for users. */
  PQsetNoticeProcessor(st->conn, quiet_notice, NULL);
  /* NOTIFY after COMMIT, not inside it (sql/005_commit_contention.sql). */
  if (exec_sql(st, "SET owcp.notify = 'after-commit'", "connect", err) != 0) {
    store_close(st);
    return NULL;
  }
  if (prepare_all(st, err) != 0) {
    store_close(st);
    return NULL;
  }
  return st;
}

void store_close(struct store *st)
{
  if (st == NULL)
    return;
  PQfinish(st->conn);
  free(st);
}

bool store_is_broken(const struct store *st)
{
  return st == NULL || PQstatus(st->conn) != CONNECTION_OK;
}

int store_ping(struct store *st, struct owcp_error *err)
{
  PGresult *res;
  int rc = run_row(st, S_PING, NULL, &res, err);

  PQclear(res);
  return rc;
}

/* ---- migrations ------------------------------------------------------------
 */

static bool is_migration_name(const char *name)
{
  size_t n = strlen(name);

  return n > 8 && name[0] >= '0' && name[0] <= '9' && name[1] >= '0' &&
         name[1] <= '9' && name[2] >= '0' && name[2] <= '9' && name[3] == '_' &&
         strcmp(name + n - 4, ".sql") == 0;
}

static int cmp_names(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **names, size_t n)
{
  for (size_t i = 0; i < n; i++)
    free(names[i]);
  free(names);
}

/* The migration file names of dir, sorted (zero-padded, so by number). */
static int list_migrations(const char *dir, char ***out, size_t *count,
                           struct owcp_error *err)
{
  DIR *d = opendir(dir);
  struct dirent *de;
  char **names = NULL;
  size_t n = 0;

  if (d == NULL) {
    owcp_error_set(err, "cannot open migrations directory %s: %s", dir,
                   strerror(errno));
    return -1;
  }
  while ((de = readdir(d)) != NULL) {
    char **grown;

    if (!is_migration_name(de->d_name))
      continue;
    grown = realloc(names, (n + 1) * sizeof *names);
    if (grown == NULL || (grown[n] = strdup(de->d_name)) == NULL) {
      closedir(d);
      free_names(grown ? grown : names, n);
      owcp_error_set(err, "out of memory listing migrations");
      return -1;
    }
    names = grown;
    n++;
  }
  closedir(d);
  if (n > 0)
    qsort(names, n, sizeof *names, cmp_names);
  *out = names;
  *count = n;
  return 0;
}

/* Applies one migration file (if not recorded yet) in its own transaction. */
static int apply_migration(struct store *st, const char *dir, const char *name,
                           int *applied, struct owcp_error *err)
{
  char path[4096];
  unsigned char *sql = NULL;
  size_t sql_len;
  const char *vals[2];
  char version[4];
  PGresult *res;
  int rc;

  memcpy(version, name, 3);
  version[3] = '\0';
  vals[0] = version;
  vals[1] = name;
  res = PQexecParams(st->conn,
                     "SELECT 1 FROM schema_migrations WHERE version = $1::int",
                     1, NULL, vals, NULL, NULL, 0);
  if (PQresultStatus(res) != PGRES_TUPLES_OK) {
    rc = fail(st, res, "migration lookup", err);
    PQclear(res);
    return rc;
  }
  if (PQntuples(res) > 0) {
    PQclear(res);
    return 0;
  }
  PQclear(res);
  snprintf(path, sizeof path, "%s/%s", dir, name);
  if (owcp_file_read(path, MIGRATION_MAX, &sql, &sql_len, err) != 0)
    return -1;
  rc = exec_sql(st, "BEGIN", "migration", err);
  if (rc == 0) {
    rc = exec_sql(st, (const char *)sql, name, err);
    if (rc == 0) {
      res = PQexecParams(st->conn,
                         "INSERT INTO schema_migrations (version, name) "
                         "VALUES ($1::int, $2)",
                         2, NULL, vals, NULL, NULL, 0);
      if (PQresultStatus(res) != PGRES_COMMAND_OK)
        rc = fail(st, res, "migration record", err);
      PQclear(res);
    }
    if (rc == 0)
      rc = exec_sql(st, "COMMIT", name, err);
    else
      exec_sql(st, "ROLLBACK", name, NULL);
  }
  free(sql);
  if (rc == 0)
    (*applied)++;
  return rc;
}

int store_migrate(struct store *st, const char *dir, int *applied,
                  struct owcp_error *err)
{
  char **names = NULL;
  size_t n = 0;
  int count = 0;
  int rc;

  if (dir == NULL)
    dir = OWCP_SQL_DIR;
  if (list_migrations(dir, &names, &n, err) != 0)
    return -1;
  rc = exec_sql(st, "SELECT pg_advisory_lock(" MIGRATE_LOCK ")",
                "migration lock", err);
  if (rc == 0) {
    rc = exec_sql(st,
                  "CREATE TABLE IF NOT EXISTS schema_migrations ("
                  "version integer PRIMARY KEY, name text NOT NULL, "
                  "applied_at timestamptz NOT NULL DEFAULT now())",
                  "schema_migrations", err);
    for (size_t i = 0; rc == 0 && i < n; i++)
      rc = apply_migration(st, dir, names[i], &count, err);
    exec_sql(st, "SELECT pg_advisory_unlock(" MIGRATE_LOCK ")",
             "migration unlock", NULL);
  }
  free_names(names, n);
  if (rc == 0)
    rc = prepare_all(st, err);
  if (applied != NULL)
    *applied = count;
  return rc;
}

/* ---- pool
 * -------------------------------------------------------------------- */

struct pool_slot {
  struct store *st;
  bool busy;
};

struct store_pool {
  pthread_mutex_t lock;
  pthread_cond_t freed;
  char *conninfo;
  size_t size;
  struct pool_slot *slots;
};

struct store_pool *store_pool_new(const char *conninfo, size_t size,
                                  struct owcp_error *err)
{
  struct store_pool *pool = calloc(1, sizeof *pool);

  if (pool == NULL || size == 0)
    goto fail;
  pool->size = size;
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

void store_pool_free(struct store_pool *pool)
{
  if (pool == NULL)
    return;
  for (size_t i = 0; i < pool->size; i++)
    store_close(pool->slots[i].st);
  pthread_cond_destroy(&pool->freed);
  pthread_mutex_destroy(&pool->lock);
  free(pool->conninfo);
  free(pool->slots);
  free(pool);
}

/* Picks a free slot, preferring one with a healthy open connection. Called
 * with the lock held; returns -1 when every slot is busy. */
static long pick_slot(const struct store_pool *pool)
{
  long spare = -1;

  for (size_t i = 0; i < pool->size; i++) {
    if (pool->slots[i].busy)
      continue;
    if (!store_is_broken(pool->slots[i].st))
      return (long)i;
    if (spare < 0)
      spare = (long)i;
  }
  return spare;
}

int store_pool_acquire(struct store_pool *pool, int wait_ms, struct store **out,
                       struct owcp_error *err)
{
  struct timespec deadline;
  struct pool_slot *slot;
  long i;

  *out = NULL;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += wait_ms / 1000;
  deadline.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
  if (deadline.tv_nsec >= 1000000000L) {
    deadline.tv_sec++;
    deadline.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&pool->lock);
  while ((i = pick_slot(pool)) < 0) {
    if (pthread_cond_timedwait(&pool->freed, &pool->lock, &deadline) ==
        ETIMEDOUT) {
      pthread_mutex_unlock(&pool->lock);
      owcp_error_set(err,
                     "database unavailable: all %zu connections busy "
                     "for %d ms",
                     pool->size, wait_ms);
      return STORE_UNAVAILABLE;
    }
  }
  slot = &pool->slots[i];
  slot->busy = true;
  pthread_mutex_unlock(&pool->lock);

  if (store_is_broken(slot->st)) {
    /* Reconnect outside the lock: connecting may take a while. */
    store_close(slot->st);
    slot->st = store_open(pool->conninfo, err);
    if (slot->st == NULL) {
      pthread_mutex_lock(&pool->lock);
      slot->busy = false;
      pthread_cond_signal(&pool->freed);
      pthread_mutex_unlock(&pool->lock);
      return STORE_UNAVAILABLE;
    }
  }
  *out = slot->st;
  return 0;
}

void store_pool_release(struct store_pool *pool, struct store *st)
{
  if (st == NULL)
    return;
  if (!store_is_broken(st) && PQtransactionStatus(st->conn) != PQTRANS_IDLE)
    exec_sql(st, "ROLLBACK", "release", NULL);
  pthread_mutex_lock(&pool->lock);
  for (size_t i = 0; i < pool->size; i++) {
    if (pool->slots[i].st == st) {
      pool->slots[i].busy = false;
      break;
    }
  }
  pthread_cond_signal(&pool->freed);
  pthread_mutex_unlock(&pool->lock);
}

/* ---- authentication lookups ------------------------------------------------
 */

static int fill_requestor(const PGresult *res, struct store_requestor *out,
                          struct owcp_error *err)
{
  memset(out, 0, sizeof *out);
  out->id = get_int(res, 0, 0);
  if (get_fixed(res, 0, 1, out->address, sizeof out->address, err) != 0)
    return -1;
  out->active = get_bool(res, 0, 2);
  out->rate_per_minute = (int)get_int(res, 0, 3);
  return get_hash(res, 0, 4, out->token_hash, err);
}

static int requestor_lookup(struct store *st, enum stmt s,
                            const struct params *p, struct store_requestor *out,
                            bool *found, struct owcp_error *err)
{
  PGresult *res;
  int rc = run(st, s, p, &res, err);

  *found = false;
  if (rc != 0)
    return rc;
  if (PQntuples(res) == 1) {
    *found = true;
    rc = fill_requestor(res, out, err);
  }
  PQclear(res);
  return rc;
}

int store_requestor_by_token(struct store *st,
                             const unsigned char token_hash[OWCP_SHA256_LEN],
                             struct store_requestor *out, bool *found,
                             struct owcp_error *err)
{
  struct params p = {0};

  p_bin(&p, token_hash, OWCP_SHA256_LEN);
  return requestor_lookup(st, S_REQUESTOR_BY_TOKEN, &p, out, found, err);
}

int store_requestor_by_address(struct store *st, const char *address,
                               struct store_requestor *out, bool *found,
                               struct owcp_error *err)
{
  struct params p = {0};

  p_text(&p, address);
  return requestor_lookup(st, S_REQUESTOR_BY_ADDRESS, &p, out, found, err);
}

int store_client_by_token(struct store *st,
                          const unsigned char token_hash[OWCP_SHA256_LEN],
                          struct store_client *out, bool *found,
                          struct owcp_error *err)
{
  struct params p = {0};
  PGresult *res;
  int rc;

  p_bin(&p, token_hash, OWCP_SHA256_LEN);
  *found = false;
  rc = run(st, S_CLIENT_BY_TOKEN, &p, &res, err);
  if (rc != 0)
    return rc;
  if (PQntuples(res) == 1) {
    memset(out, 0, sizeof *out);
    *found = true;
    out->account_id = get_int(res, 0, 1);
    out->active = get_bool(res, 0, 3);
    if (get_fixed(res, 0, 0, out->id, sizeof out->id, err) != 0 ||
        get_fixed(res, 0, 2, out->account, sizeof out->account, err) != 0 ||
        get_hash(res, 0, 4, out->token_hash, err) != 0)
      rc = -1;
  }
  PQclear(res);
  return rc;
}

int store_client_cert(struct store *st, const char *client_id,
                      unsigned char **der, size_t *der_len, bool *found,
                      struct owcp_error *err)
{
  struct params p = {0};
  PGresult *res;
  int rc;

  p_text(&p, client_id);
  *found = false;
  *der = NULL;
  *der_len = 0;
  rc = run(st, S_CLIENT_CERT, &p, &res, err);
  if (rc != 0)
    return rc;
  if (PQntuples(res) == 1) {
    *found = true;
    rc = get_bytea(res, 0, 0, der, der_len, err);
  }
  PQclear(res);
  return rc;
}

int store_tx_request(struct store *st, const char *client_id, const char *tx,
                     char **xml, size_t *len, int *status,
                     struct owcp_error *err)
{
  struct params p = {0};
  PGresult *res;

  p_text(&p, tx);
  p_text(&p, client_id);
  *xml = NULL;
  *len = 0;
  *status = 404;
  int rc = run(st, S_TX_REQUEST, &p, &res, err);
  if (rc != 0)
    return rc;
  if (PQntuples(res) == 1) {
    rc = get_dup(res, 0, 0, xml, err);
    if (rc == 0 && *xml != NULL) {
      *len = strlen(*xml);
      *status = 200;
    }
  }
  PQclear(res);
  return rc;
}

/* ---- RD operations
 * ------------------------------------------------------------ */

/* Counts one RD-Confirm attempt against the requestor's rate limit in its
 * own short transaction (sql/005_commit_contention.sql); *retry_after > 0
 * means over the limit. */
static int rate_take(struct store *st, int64_t requestor_id, time_t now,
                     int *retry_after, struct owcp_error *err)
{
  struct params p = {0};
  PGresult *res;
  int rc;

  p_int(&p, requestor_id);
  p_time(&p, now);
  rc = run_row(st, S_RATE_TAKE, &p, &res, err);
  if (rc != 0)
    return rc;
  *retry_after = (int)get_int(res, 0, 0);
  PQclear(res);
  return 0;
}

int store_confirm(struct store *st, const struct store_confirm_in *in,
                  struct store_confirm_out *out, struct owcp_error *err)
{
  struct params p = {0};
  char *id = owcp_random_id();
  PGresult *res;
  int rc;

  memset(out, 0, sizeof *out);
  if (id == NULL) {
    owcp_error_set(err, "cannot generate a transaction identifier");
    return -1;
  }
  rc = rate_take(st, in->requestor_id, in->now, &out->retry_after, err);
  if (rc != 0 || out->retry_after > 0) {
    free(id);
    out->status = rc == 0 ? 429 : 0;
    return rc;
  }
  p_int(&p, in->requestor_id);
  p_text(&p, in->account);
  p_text(&p, in->identifier);
  p_text(&p, in->request_xml);
  p_bin(&p, in->request_sha256, OWCP_SHA256_LEN);
  p_text(&p, in->type);
  p_text(&p, in->completion);
  p_int(&p, in->timeout_seconds);
  p_time(&p, in->now);
  p_text(&p, id);
  p_bool(&p, in->require_registration);
  rc = run_row(st, S_CONFIRM, &p, &res, err);
  free(id);
  if (rc != 0)
    return rc;
  out->status = (int)get_int(res, 0, 0);
  rc = get_fixed(res, 0, 1, out->transaction, sizeof out->transaction, err);
  out->expires = (time_t)get_int(res, 0, 2);
  out->retry_after = (int)get_int(res, 0, 3);
  PQclear(res);
  return rc;
}

void store_result_free(struct store_result *res)
{
  if (res == NULL)
    return;
  free(res->identifier);
  free(res->response);
  free(res->reason);
  for (size_t i = 0; i < res->verification_count; i++)
    free(res->verification[i]);
  free(res->verification);
  free(res->receipt);
  free(res->completion_uri);
  free(res->requestor);
  memset(res, 0, sizeof *res);
}

/* Parses the JSON array text of the verification column. */
static int parse_verification(const char *text, struct store_result *out,
                              struct owcp_error *err)
{
  json_t *arr;
  size_t n;

  if (text == NULL)
    return 0;
  arr = json_loads(text, 0, NULL);
  if (!json_is_array(arr)) {
    json_decref(arr);
    owcp_error_set(err, "database returned a malformed verification list");
    return -1;
  }
  n = json_array_size(arr);
  out->verification = calloc(n ? n : 1, sizeof *out->verification);
  if (out->verification == NULL) {
    json_decref(arr);
    owcp_error_set(err, "out of memory copying the verification list");
    return -1;
  }
  for (size_t i = 0; i < n; i++) {
    const char *s = json_string_value(json_array_get(arr, i));

    out->verification[i] = strdup(s ? s : "");
    if (out->verification[i] == NULL) {
      json_decref(arr);
      owcp_error_set(err, "out of memory copying the verification list");
      return -1;
    }
    out->verification_count = i + 1;
  }
  json_decref(arr);
  return 0;
}

/* Fills out from a RESULT_COLS row. */
static int fill_result(const PGresult *res, struct store_result *out,
                       struct owcp_error *err)
{
  if (get_fixed(res, 0, 0, out->transaction, sizeof out->transaction, err) ||
      get_dup(res, 0, 1, &out->identifier, err) ||
      get_dup(res, 0, 2, &out->response, err) ||
      get_dup(res, 0, 3, &out->reason, err) ||
      parse_verification(get(res, 0, 4), out, err) ||
      get_fixed(res, 0, 5, out->client, sizeof out->client, err) ||
      get_bytea(res, 0, 8, &out->receipt, &out->receipt_len, err) ||
      get_dup(res, 0, 9, &out->completion_uri, err)) {
    store_result_free(out);
    return -1;
  }
  out->responded = (time_t)get_int(res, 0, 6);
  out->expires = (time_t)get_int(res, 0, 7);
  out->requestor_id = get_int(res, 0, 10);
  out->status = (int)get_int(res, 0, 11);
  /* S_OUTCOME also names the requestor (for DR-Complete). */
  if (PQnfields(res) > 12 && get_dup(res, 0, 12, &out->requestor, err)) {
    store_result_free(out);
    return -1;
  }
  return 0;
}

/* Reads a transaction's outcome; status 404 when no row matches. */
static int read_result(struct store *st, enum stmt s, int64_t requestor_id,
                       const char *tx, time_t now, struct store_result *out,
                       struct owcp_error *err)
{
  struct params p = {0};
  PGresult *res;
  int rc;

  memset(out, 0, sizeof *out);
  p_text(&p, tx);
  p_time(&p, now);
  if (s == S_STATUS)
    p_int(&p, requestor_id);
  rc = run(st, s, &p, &res, err);
  if (rc != 0)
    return rc;
  if (PQntuples(res) == 1)
    rc = fill_result(res, out, err);
  else
    out->status = 404;
  PQclear(res);
  return rc;
}

int store_status(struct store *st, int64_t requestor_id, const char *tx,
                 time_t now, struct store_result *out, struct owcp_error *err)
{
  return read_result(st, S_STATUS, requestor_id, tx, now, out, err);
}

int store_outcome(struct store *st, const char *tx, time_t now,
                  struct store_result *out, struct owcp_error *err)
{
  return read_result(st, S_OUTCOME, 0, tx, now, out, err);
}

/* Runs a procedure that returns one integer status. */
static int run_status(struct store *st, enum stmt s, const struct params *p,
                      int *status, struct owcp_error *err)
{
  PGresult *res;
  int rc = run_row(st, s, p, &res, err);

  if (rc != 0)
    return rc;
  *status = (int)get_int(res, 0, 0);
  PQclear(res);
  return 0;
}

int store_final(struct store *st, int64_t requestor_id, const char *tx,
                time_t now, struct store_result *out, struct owcp_error *err)
{
  struct params p = {0};
  int status, rc;

  memset(out, 0, sizeof *out);
  p_text(&p, tx);
  p_time(&p, now);
  p_int(&p, requestor_id);
  rc = run_status(st, S_FINAL, &p, &status, err);
  if (rc != 0)
    return rc;
  if (status == 200) {
    /* Answered is final: the read after the call cannot see another
     * state. */
    rc = read_result(st, S_STATUS, requestor_id, tx, now, out, err);
    if (rc != 0)
      return rc;
  }
  out->status = status;
  if (status != 200)
    snprintf(out->transaction, sizeof out->transaction, "%s", tx);
  return 0;
}

int store_rd_register(struct store *st, int64_t requestor_id,
                      const char *account, int *status, bool *ready,
                      struct owcp_error *err)
{
  struct params p = {0};
  PGresult *res;
  int rc;

  p_int(&p, requestor_id);
  p_text(&p, account);
  rc = run_row(st, S_RD_REGISTER, &p, &res, err);
  if (rc != 0)
    return rc;
  *status = (int)get_int(res, 0, 0);
  *ready = get_bool(res, 0, 1);
  PQclear(res);
  return 0;
}

int store_rd_deregister(struct store *st, int64_t requestor_id,
                        const char *account, int *status,
                        struct owcp_error *err)
{
  struct params p = {0};

  p_int(&p, requestor_id);
  p_text(&p, account);
  return run_status(st, S_RD_DEREGISTER, &p, status, err);
}

/* ---- CD operations
 * ------------------------------------------------------------ */

void store_pending_list_free(struct store_pending_list *list)
{
  if (list == NULL)
    return;
  for (size_t i = 0; i < list->count; i++) {
    free(list->items[i].type);
    free(list->items[i].request_xml);
  }
  free(list->items);
  list->items = NULL;
  list->count = 0;
}

/* Fills one array element from row i; strings are copied into the item. */
typedef int (*item_fill_fn)(const PGresult *res, int i, void *item,
                            struct owcp_error *err);

/* Runs a statement and turns its rows into a calloc()ed array of items of
 * item_size bytes, filled by fill. On success *items (caller frees with
 * the list's own free function) holds *count items; on failure, the
 * *count items filled so far are left for that free function too. */
static int run_array(struct store *st, enum stmt s, const struct params *p,
                     size_t item_size, item_fill_fn fill, void **items,
                     size_t *count, struct owcp_error *err)
{
  PGresult *res;
  int rc = run(st, s, p, &res, err);
  int n;

  *items = NULL;
  *count = 0;
  if (rc != 0)
    return rc;
  n = PQntuples(res);
  if (n > 0) {
    *items = calloc((size_t)n, item_size);
    if (*items == NULL) {
      PQclear(res);
      owcp_error_set(err, "out of memory reading %d rows of %s", n,
                     statements[s].name);
      return -1;
    }
  }
  for (int i = 0; i < n && rc == 0; i++) {
    *count = (size_t)i + 1;
    rc = fill(res, i, (char *)*items + (size_t)i * item_size, err);
  }
  PQclear(res);
  return rc;
}

static int pending_fill(const PGresult *res, int i, void *item,
                        struct owcp_error *err)
{
  struct store_pending *it = item;

  it->issued = (time_t)get_int(res, i, 3);
  it->expires = (time_t)get_int(res, i, 4);
  if (get_fixed(res, i, 0, it->transaction, sizeof it->transaction, err) ||
      get_fixed(res, i, 1, it->from, sizeof it->from, err) ||
      get_dup(res, i, 2, &it->type, err) ||
      get_dup(res, i, 5, &it->request_xml, err))
    return -1;
  return 0;
}

int store_list(struct store *st, const char *client_id, int max, time_t now,
               struct store_pending_list *out, struct owcp_error *err)
{
  struct params p = {0};
  void *items;
  int rc;

  p_text(&p, client_id);
  p_int(&p, max);
  p_time(&p, now);
  rc = run_array(st, S_LIST, &p, sizeof *out->items, pending_fill, &items,
                 &out->count, err);
  out->items = items;
  if (rc != 0)
    store_pending_list_free(out);
  return rc;
}

/* A PostgreSQL text[] literal: every element double-quoted with " and \
 * backslash-escaped. Caller frees. */
static char *text_array_literal(const char *const *items, size_t n)
{
  size_t cap = 3;
  char *out, *w;

  for (size_t i = 0; i < n; i++)
    cap += 2 * strlen(items[i]) + 3;
  out = malloc(cap);
  if (out == NULL)
    return NULL;
  w = out;
  *w++ = '{';
  for (size_t i = 0; i < n; i++) {
    if (i > 0)
      *w++ = ',';
    *w++ = '"';
    for (const char *c = items[i]; *c; c++) {
      if (*c == '"' || *c == '\\')
        *w++ = '\\';
      *w++ = *c;
    }
    *w++ = '"';
  }
  *w++ = '}';
  *w = '\0';
  return out;
}

int store_reply(struct store *st, const struct store_reply_in *in, int *status,
                struct owcp_error *err)
{
  struct params p = {0};
  char *verification =
      text_array_literal(in->verification, in->verification_count);
  int rc;

  if (verification == NULL) {
    owcp_error_set(err, "out of memory encoding the verification list");
    return -1;
  }
  p_text(&p, in->transaction);
  p_text(&p, in->client);
  p_text(&p, in->response);
  p_text(&p, in->reason);
  p_text(&p, verification);
  p_bin(&p, in->receipt, in->receipt_len);
  p_time(&p, in->now);
  rc = run_status(st, S_REPLY, &p, status, err);
  free(verification);
  return rc;
}

int store_cd_register_code(struct store *st, const struct store_new_client *c,
                           const unsigned char code_hash[OWCP_SHA256_LEN],
                           int *status, struct owcp_error *err)
{
  struct params p = {0};

  p_text(&p, c->account);
  p_bin(&p, code_hash, OWCP_SHA256_LEN);
  p_text(&p, c->client_id);
  p_text(&p, c->description);
  p_bin(&p, c->token_hash, OWCP_SHA256_LEN);
  p_bin(&p, c->cert_der, c->cert_len);
  p_time(&p, c->now);
  return run_status(st, S_REGISTER_CODE, &p, status, err);
}

int store_cd_register_open(struct store *st, const struct store_new_client *c,
                           int *status, struct owcp_error *err)
{
  struct params p = {0};

  p_text(&p, c->account);
  p_text(&p, c->client_id);
  p_text(&p, c->description);
  p_bin(&p, c->token_hash, OWCP_SHA256_LEN);
  p_bin(&p, c->cert_der, c->cert_len);
  p_time(&p, c->now);
  return run_status(st, S_REGISTER_OPEN, &p, status, err);
}

int store_cd_approval_start(struct store *st,
                            const struct store_approval_in *in,
                            struct store_confirm_out *out,
                            struct owcp_error *err)
{
  struct params p = {0};
  unsigned char req_hash[OWCP_SHA256_LEN];
  PGresult *res;
  int rc;

  memset(out, 0, sizeof *out);
  owcp_sha256(in->request_xml, strlen(in->request_xml), req_hash);
  p_text(&p, in->account);
  p_text(&p, in->description);
  p_bin(&p, in->csr_sha256, OWCP_SHA256_LEN);
  p_text(&p, in->transaction);
  p_text(&p, in->request_xml);
  p_bin(&p, req_hash, OWCP_SHA256_LEN);
  p_text(&p, in->system_address);
  p_int(&p, in->timeout_seconds);
  p_time(&p, in->now);
  rc = run_row(st, S_APPROVAL_START, &p, &res, err);
  if (rc != 0)
    return rc;
  out->status = (int)get_int(res, 0, 0);
  rc = get_fixed(res, 0, 1, out->transaction, sizeof out->transaction, err);
  out->expires = (time_t)get_int(res, 0, 2);
  PQclear(res);
  return rc;
}

int store_cd_approval_finish(struct store *st, const char *transaction,
                             const unsigned char csr_sha256[OWCP_SHA256_LEN],
                             const struct store_new_client *c, int *status,
                             struct owcp_error *err)
{
  struct params p = {0};

  p_text(&p, transaction);
  p_text(&p, c->account);
  p_bin(&p, csr_sha256, OWCP_SHA256_LEN);
  p_text(&p, c->client_id);
  p_text(&p, c->description);
  p_bin(&p, c->token_hash, OWCP_SHA256_LEN);
  p_bin(&p, c->cert_der, c->cert_len);
  p_time(&p, c->now);
  return run_status(st, S_APPROVAL_FINISH, &p, status, err);
}

int store_client_revoke(struct store *st, const char *client_id,
                        const char *actor, int *status, struct owcp_error *err)
{
  struct params p = {0};

  p_text(&p, client_id);
  p_text(&p, actor);
  return run_status(st, S_CLIENT_REVOKE, &p, status, err);
}

/* ---- sweeper and outbox ----------------------------------------------------
 */

int store_expire(struct store *st, int limit, time_t now, int *count,
                 struct owcp_error *err)
{
  struct params p = {0};

  p_int(&p, limit);
  p_time(&p, now);
  return run_status(st, S_EXPIRE, &p, count, err);
}

void store_outbox_batch_free(struct store_outbox_batch *batch)
{
  if (batch == NULL)
    return;
  for (size_t i = 0; i < batch->count; i++) {
    free(batch->items[i].uri);
    free(batch->items[i].body);
  }
  free(batch->items);
  batch->items = NULL;
  batch->count = 0;
}

static int outbox_fill(const PGresult *res, int i, void *item,
                       struct owcp_error *err)
{
  struct store_outbox_item *it = item;

  it->id = get_int(res, i, 0);
  it->attempts = (int)get_int(res, i, 4);
  it->created = (time_t)get_int(res, i, 5);
  if (get_fixed(res, i, 1, it->transaction, sizeof it->transaction, err) ||
      get_dup(res, i, 2, &it->uri, err) || get_dup(res, i, 3, &it->body, err))
    return -1;
  return 0;
}

int store_outbox_claim(struct store *st, int limit, int lease_seconds,
                       time_t now, struct store_outbox_batch *out,
                       struct owcp_error *err)
{
  struct params p = {0};
  void *items;
  int rc;

  p_int(&p, limit);
  p_int(&p, lease_seconds);
  p_time(&p, now);
  rc = run_array(st, S_OUTBOX_CLAIM, &p, sizeof *out->items, outbox_fill,
                 &items, &out->count, err);
  out->items = items;
  if (rc != 0)
    store_outbox_batch_free(out);
  return rc;
}

int store_outbox_delivered(struct store *st, int64_t id, time_t now,
                           int *status, struct owcp_error *err)
{
  struct params p = {0};

  p_int(&p, id);
  p_time(&p, now);
  return run_status(st, S_OUTBOX_DELIVERED, &p, status, err);
}

int store_outbox_failed(struct store *st, int64_t id, const char *last_error,
                        time_t now, bool *gave_up, time_t *next_attempt,
                        struct owcp_error *err)
{
  struct params p = {0};
  PGresult *res;
  int rc;

  p_int(&p, id);
  p_text(&p, last_error);
  p_time(&p, now);
  rc = run_row(st, S_OUTBOX_FAILED, &p, &res, err);
  if (rc != 0)
    return rc;
  if (get_int(res, 0, 0) != 200) {
    owcp_error_set(err, "outbox row %" PRId64 " is not pending", id);
    PQclear(res);
    return -1;
  }
  *gave_up = get_bool(res, 0, 1);
  *next_attempt = (time_t)get_int(res, 0, 2);
  PQclear(res);
  return 0;
}

/* ---- administration -------------------------------------------------------
 */

int store_account_add(struct store *st, const char *address, int *status,
                      struct owcp_error *err)
{
  struct params p = {0};

  p_text(&p, address);
  return run_status(st, S_ACCOUNT_ADD, &p, status, err);
}

int store_account_disable(struct store *st, const char *address, int *status,
                          struct owcp_error *err)
{
  struct params p = {0};

  p_text(&p, address);
  return run_status(st, S_ACCOUNT_DISABLE, &p, status, err);
}

int store_code_issue(struct store *st, const char *account,
                     const unsigned char code_hash[OWCP_SHA256_LEN],
                     int ttl_seconds, time_t now, int *status,
                     struct owcp_error *err)
{
  struct params p = {0};

  p_text(&p, account);
  p_bin(&p, code_hash, OWCP_SHA256_LEN);
  p_int(&p, ttl_seconds);
  p_time(&p, now);
  return run_status(st, S_CODE_ISSUE, &p, status, err);
}

int store_requestor_add(struct store *st, const char *address,
                        const unsigned char token_hash[OWCP_SHA256_LEN],
                        int rate_per_minute, int *status, int64_t *id,
                        struct owcp_error *err)
{
  struct params p = {0};
  PGresult *res;
  int rc;

  p_text(&p, address);
  p_bin(&p, token_hash, OWCP_SHA256_LEN);
  p_int(&p, rate_per_minute);
  rc = run_row(st, S_REQUESTOR_ADD, &p, &res, err);
  if (rc != 0)
    return rc;
  *status = (int)get_int(res, 0, 0);
  *id = get_int(res, 0, 1);
  PQclear(res);
  return 0;
}

int store_requestor_disable(struct store *st, const char *address, int *status,
                            struct owcp_error *err)
{
  struct params p = {0};

  p_text(&p, address);
  return run_status(st, S_REQUESTOR_DISABLE, &p, status, err);
}

struct listing {
  store_row_fn fn;
  void *arg;
};

/* Adapts one streamed row to the public row callback. */
static int listing_row(void *arg, const PGresult *row)
{
  const struct listing *l = arg;
  int n = PQnfields(row);
  const char *names[16];
  const char *fields[16];

  if (n > 16)
    n = 16;
  for (int i = 0; i < n; i++) {
    names[i] = PQfname(row, i);
    fields[i] = get(row, 0, i);
  }
  return l->fn(l->arg, n, names, fields);
}

int store_account_list(struct store *st, store_row_fn fn, void *arg,
                       struct owcp_error *err)
{
  struct listing l = {fn, arg};

  return run_rows(st, S_ACCOUNT_LIST, NULL, listing_row, &l, err);
}

int store_requestor_list(struct store *st, store_row_fn fn, void *arg,
                         struct owcp_error *err)
{
  struct listing l = {fn, arg};

  return run_rows(st, S_REQUESTOR_LIST, NULL, listing_row, &l, err);
}

int store_client_list(struct store *st, const char *account, store_row_fn fn,
                      void *arg, struct owcp_error *err)
{
  struct listing l = {fn, arg};
  struct params p = {0};

  p_text(&p, account);
  return run_rows(st, S_CLIENT_LIST, &p, listing_row, &l, err);
}

/* ---- the confirmation log ----------------------------------------------- */

int store_log_query(struct store *st, const struct store_log_filter *f,
                    store_row_fn fn, void *arg, struct owcp_error *err)
{
  struct listing l = {fn, arg};
  struct params p = {0};

  p_text(&p, f->account);
  p_text(&p, f->requestor);
  p_text(&p, f->transaction);
  p_text(&p, f->event);
  p_time(&p, f->since);
  p_time(&p, f->until);
  return run_rows(st, S_LOG_QUERY, &p, listing_row, &l, err);
}

int store_seal_begin(struct store *st, bool *locked, struct owcp_error *err)
{
  PGresult *res;
  int rc;

  *locked = false;
  rc = exec_sql(st, "BEGIN", "seal", err);
  if (rc != 0)
    return rc;
  rc = run_row(st, S_SEAL_LOCK, NULL, &res, err);
  if (rc != 0) {
    exec_sql(st, "ROLLBACK", "seal", NULL);
    return rc;
  }
  *locked = get_bool(res, 0, 0);
  PQclear(res);
  if (!*locked)
    return exec_sql(st, "ROLLBACK", "seal", err);
  return 0;
}

int store_seal_xmin(struct store *st, char xmin[STORE_XID_LEN],
                    struct owcp_error *err)
{
  PGresult *res;
  int rc = run_row(st, S_SEAL_XMIN, NULL, &res, err);
  const char *v;

  if (rc != 0)
    return rc;
  v = get(res, 0, 0);
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
  struct params p = {0};

  PGresult *res;
  int rc;

  p_text(&p, xmin);
  rc = run(st, S_SEAL_ADVANCE, &p, &res, err);
  PQclear(res);
  return rc;
}

int store_seal_end(struct store *st, bool ok, struct owcp_error *err)
{
  return exec_sql(st, ok ? "COMMIT" : "ROLLBACK", "seal", err);
}

int store_chain_tip(struct store *st, int64_t *pos,
                    unsigned char hash[OWCP_SHA256_LEN], struct owcp_error *err)
{
  PGresult *res;
  int rc = run(st, S_CHAIN_TIP, NULL, &res, err);

  if (rc != 0)
    return rc;
  *pos = 0;
  memset(hash, 0, OWCP_SHA256_LEN);
  if (PQntuples(res) == 1) {
    *pos = get_int(res, 0, 0);
    rc = get_hash(res, 0, 1, hash, err);
  }
  PQclear(res);
  return rc;
}

/* Reads a log entry from columns first..first+7 of a row; the strings
 * point into the result. */
static void entry_from_row(const PGresult *row, int first,
                           struct store_log_entry *e)
{
  e->seq = get_int(row, 0, first);
  e->at_us = get_int(row, 0, first + 1);
  e->event = get(row, 0, first + 2);
  e->account = get(row, 0, first + 3);
  e->requestor = get(row, 0, first + 4);
  e->transaction = get(row, 0, first + 5);
  e->client = get(row, 0, first + 6);
  e->detail = get(row, 0, first + 7);
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
  struct params p = {0};

  p_int(&p, limit);
  return run_rows(st, S_LOG_UNSEALED, &p, unsealed_row, &w, err);
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
  struct params p = {0};
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
    p_text(&p, b[k].data);
  }
  if (rc != 0)
    owcp_error_set(err, "out of memory encoding %zu chain rows", n);
  else
    rc = run(st, S_CHAIN_APPEND, &p, &res, err);
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

  if (get_hash(row, 0, 1, prev, w->err) != 0 ||
      get_hash(row, 0, 2, hash, w->err) != 0)
    return -1;
  entry_from_row(row, 3, &e);
  return w->chain_fn(w->arg, get_int(row, 0, 0), prev, hash,
                     PQgetisnull(row, 0, 3) ? NULL : &e);
}

int store_chain_walk(struct store *st, store_chain_fn fn, void *arg,
                     struct owcp_error *err)
{
  struct entry_walk w = {NULL, fn, arg, err};

  return run_rows(st, S_CHAIN_WALK, NULL, chain_row, &w, err);
}

int store_log_unchained(struct store *st, int64_t *count, int64_t *first_seq,
                        struct owcp_error *err)
{
  PGresult *res;
  int rc = run_row(st, S_LOG_UNCHAINED, NULL, &res, err);

  if (rc != 0)
    return rc;
  *count = get_int(res, 0, 0);
  *first_seq = get_int(res, 0, 1);
  PQclear(res);
  return 0;
}

/* ---- LISTEN
 * ------------------------------------------------------------------ */

struct store_listener {
  PGconn *conn;
};

struct store_listener *store_listener_open(const char *conninfo,
                                           struct owcp_error *err)
{
  struct store_listener *l = calloc(1, sizeof *l);
  PGresult *res;

  if (l == NULL) {
    owcp_error_set(err, "out of memory opening the LISTEN connection");
    return NULL;
  }
  l->conn = PQconnectdb(conninfo);
  if (PQstatus(l->conn) != CONNECTION_OK) {
    owcp_error_set(err, "database unavailable for LISTEN: %s",
                   PQerrorMessage(l->conn));
    store_listener_close(l);
    return NULL;
  }
  res = PQexec(l->conn, "LISTEN owcp");
  if (PQresultStatus(res) != PGRES_COMMAND_OK) {
    owcp_error_set(err, "LISTEN owcp failed: %s", PQerrorMessage(l->conn));
    PQclear(res);
    store_listener_close(l);
    return NULL;
  }
  PQclear(res);
  return l;
}

void store_listener_close(struct store_listener *l)
{
  if (l == NULL)
    return;
  PQfinish(l->conn);
  free(l);
}

int store_listener_fd(const struct store_listener *l)
{
  return PQsocket(l->conn);
}

static int drain_notifies(struct store_listener *l, store_notify_fn fn,
                          void *arg)
{
  PGnotify *n;
  int count = 0;

  while ((n = PQnotifies(l->conn)) != NULL) {
    fn(arg, n->extra);
    PQfreemem(n);
    count++;
  }
  return count;
}

int store_listener_wait(struct store_listener *l, int timeout_ms,
                        store_notify_fn fn, void *arg, struct owcp_error *err)
{
  struct pollfd pfd;
  int count, rc;

  if (!PQconsumeInput(l->conn))
    goto broken;
  count = drain_notifies(l, fn, arg);
  if (count > 0)
    return count;
  pfd.fd = PQsocket(l->conn);
  pfd.events = POLLIN;
  pfd.revents = 0;
  if (pfd.fd < 0)
    goto broken;
  rc = poll(&pfd, 1, timeout_ms);
  if (rc < 0) {
    if (errno == EINTR)
      return 0;
    owcp_error_set(err, "poll on the LISTEN connection failed: %s",
                   strerror(errno));
    return -1;
  }
  if (rc == 0)
    return 0;
  if (!PQconsumeInput(l->conn))
    goto broken;
  return drain_notifies(l, fn, arg);
broken:
  owcp_error_set(err, "database unavailable: LISTEN connection lost: %s",
                 PQerrorMessage(l->conn));
  return STORE_UNAVAILABLE;
}
