/*
 * pg.h — what every daemon of the service layer needs around libpq: one
 * way to connect, to classify a failure as "database unavailable" (retry
 * later, HTTP 503) or a hard error, to run constant SQL, to pass
 * parameters and to read result columns. The connection pool (pgpool.h)
 * and the migration runner (migrate.h) are built on it.
 *
 * Return convention (extends owcp/util.h): 0 on success, -1 on an
 * unexpected failure, SVC_PG_UNAVAILABLE (-2) when the database cannot be
 * reached or the connection broke (safe to retry). err receives one
 * sentence on one line either way.
 */
#ifndef OWCP_SERVICE_PG_H
#define OWCP_SERVICE_PG_H

#include "owcp/util.h"

#include <libpq-fe.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define SVC_PG_UNAVAILABLE (-2)

/* Connects; `purpose` completes the error sentence ("" or " for LISTEN":
 * "database unavailable for LISTEN: <libpq's reason>", without libpq's
 * trailing newline). Server NOTICEs are silenced (they are not for
 * users). Returns NULL and fills err on failure; caller PQfinish()es. */
PGconn *svc_pg_connect(const char *conninfo, const char *purpose,
                       struct owcp_error *err);

/* Copies the connection's last error message into buf as one line: libpq's
 * trailing newline dropped, its "\n\t" continuation lines joined with a
 * space. */
void svc_pg_conn_error(const PGconn *conn, char *buf, size_t size);

/* Classifies the failure of `what` (res may be NULL): a broken connection,
 * SQLSTATE class 08 (connection exception) or 57P (operator intervention:
 * shutdown, crash recovery) is SVC_PG_UNAVAILABLE, anything else -1. */
int svc_pg_fail(const PGconn *conn, const PGresult *res, const char *what,
                struct owcp_error *err);

/* True when the connection is missing or broken. */
bool svc_pg_is_broken(const PGconn *conn);

/* Runs constant SQL text (BEGIN/COMMIT, SET, a migration file). An empty
 * query (only comments) succeeds. */
int svc_pg_exec(PGconn *conn, const char *sql, const char *what,
                struct owcp_error *err);

/* Rolls back a transaction left open (before a connection is reused). */
void svc_pg_reset_transaction(PGconn *conn);

/* Parameters of one statement call; text unless passed as binary. The
 * values are borrowed (numbers are formatted into the struct itself). */
#define SVC_PG_MAX_PARAMS 16
struct svc_pg_params {
  const char *v[SVC_PG_MAX_PARAMS];
  int len[SVC_PG_MAX_PARAMS];
  int fmt[SVC_PG_MAX_PARAMS];
  char num[SVC_PG_MAX_PARAMS][32];
  int n;
};

void svc_pg_param_text(struct svc_pg_params *p, const char *s);
void svc_pg_param_bin(struct svc_pg_params *p, const void *data, size_t len);
void svc_pg_param_int(struct svc_pg_params *p, int64_t v);
/* time 0 becomes NULL, which the procedures read as now(). */
void svc_pg_param_time(struct svc_pg_params *p, time_t t);
void svc_pg_param_bool(struct svc_pg_params *p, bool b);

/* True when a statement failed only because the schema is not migrated
 * yet (undefined function or table): a daemon prepares such statements on
 * first use instead of failing at connect. */
bool svc_pg_missing_schema(const PGresult *res);

/* Keeps *res when it holds exactly one row; otherwise clears it, sets
 * *res NULL and fails naming `what`. */
int svc_pg_expect_one(PGresult **res, const char *what, struct owcp_error *err);

/* Fills one array element from row i; strings are copied into the item. */
typedef int (*svc_pg_fill_fn)(const PGresult *res, int i, void *item,
                              struct owcp_error *err);

/* Turns res's rows into a calloc()ed array of item_size-byte items filled
 * by fill, and clears res. *items (caller frees with the list's own free
 * function) holds *count items, also on failure (the ones filled so
 * far). */
int svc_pg_rows_array(PGresult *res, const char *what, size_t item_size,
                      svc_pg_fill_fn fill, void **items, size_t *count,
                      struct owcp_error *err);

/* Column readers (text format). get returns NULL for SQL NULL and points
 * into res. */
const char *svc_pg_get(const PGresult *res, int row, int col);
int64_t svc_pg_get_int(const PGresult *res, int row, int col);
bool svc_pg_get_bool(const PGresult *res, int row, int col);

/* Copies a text column into a fixed buffer, failing rather than truncating
 * (a truncated identifier would silently name something else). */
int svc_pg_get_fixed(const PGresult *res, int row, int col, char *buf,
                     size_t size, struct owcp_error *err);

/* *out: a caller-owned copy of the column (free()), NULL for SQL NULL. */
int svc_pg_get_dup(const PGresult *res, int row, int col, char **out,
                   struct owcp_error *err);

/* Decodes a bytea column into a caller-owned buffer (*out NULL for SQL
 * NULL). */
int svc_pg_get_bytea(const PGresult *res, int row, int col, unsigned char **out,
                     size_t *len, struct owcp_error *err);

/* A 32-byte hash column; any other length (or NULL) reads as zeros. */
int svc_pg_get_hash(const PGresult *res, int row, int col,
                    unsigned char out[OWCP_SHA256_LEN], struct owcp_error *err);

#endif
