/*
 * store_internal.h — what the bridge's store_*.c files share and nothing
 * else sees: the connection handle, the prepared-statement descriptor and
 * the helpers that run statements (store_pool.c). Each store_<concern>.c
 * holds the SQL of its own statements, one function of store.h per query.
 */
#ifndef OWCP_BRIDGE_STORE_INTERNAL_H
#define OWCP_BRIDGE_STORE_INTERNAL_H

#include "store.h"

#include "owcp/service/pg.h"

#include <libpq-fe.h>

#include <stdbool.h>

/* SQL fragments: a timestamptz as epoch seconds; parameter n as a
 * timestamptz (NULL stays NULL); parameter n as one, NULL meaning now(). */
#define BS_EPOCH(x) "extract(epoch from " x ")::bigint"
#define BS_TS(n) "to_timestamp($" #n "::float8)"
#define BS_NOW(n) "coalesce(to_timestamp($" #n "::float8), now())"

/* One slot per prepared statement, for the per-connection "prepared"
 * flags; the statements themselves are defined in their concern's file. */
enum bstore_stmt_id {
  BS_PING,
  BS_CONFIRM_RECORD,
  BS_CONFIRM_GET,
  BS_CONFIRM_PENDING,
  BS_CONFIRM_DECIDE,
  BS_CONFIRM_RETRY,
  BS_APPROVAL_FIND,
  BS_ISSUANCE_RECORD,
  BS_ISSUANCE_RECORD_ONCE,
  BS_CERT_INSERT,
  BS_CERT_LIST,
  BS_WSTEP_CREATE,
  BS_WSTEP_ATTACH,
  BS_WSTEP_GET,
  BS_WSTEP_ISSUE,
  BS_WSTEP_DENY,
  BS_NONCE_USE,
  BS_NONCE_PURGE,
  /* store_wstep_now.c */
  BS_WSTEP_ISSUE_NOW,
  BS_WSTEP_OWNER,
  BS_CERT_OWNER,
  BS_COUNT
};

struct bstore_stmt {
  enum bstore_stmt_id id;
  const char *name;
  const char *sql;
};

/* Each concern's statements, NULL-terminated; store_pool.c prepares them
 * all when a connection opens. */
extern const struct bstore_stmt *const bstore_confirm_statements[];
extern const struct bstore_stmt *const bstore_approval_statements[];
extern const struct bstore_stmt *const bstore_issuance_statements[];
extern const struct bstore_stmt *const bstore_cert_statements[];
extern const struct bstore_stmt *const bstore_wstep_statements[];
extern const struct bstore_stmt *const bstore_nonce_statements[];
extern const struct bstore_stmt *const bstore_wstep_now_statements[];

/* One pooled connection (the setup hook's state; the pool owns conn). */
struct bridge_store {
  PGconn *conn;
  struct svc_pgconn *pooled;
  bool prepared[BS_COUNT];
};

/* Runs a prepared statement (preparing it first if the schema was not
 * migrated when the connection opened); *out gets the result the caller
 * PQclear()s. A refusal by the schema (SQLSTATE class 22 or 23) is
 * BRIDGE_STORE_INVALID with the database's sentence. p may be NULL. */
int bstore_run(struct bridge_store *st, const struct bstore_stmt *s,
               const struct svc_pg_params *p, PGresult **out,
               struct owcp_error *err);

/* bstore_run expecting exactly one row. */
int bstore_run_row(struct bridge_store *st, const struct bstore_stmt *s,
                   const struct svc_pg_params *p, PGresult **out,
                   struct owcp_error *err);

/* Runs a statement whose single row's first column is an integer status
 * (or a count, or an id) into *value. */
int bstore_run_int(struct bridge_store *st, const struct bstore_stmt *s,
                   const struct svc_pg_params *p, int64_t *value,
                   struct owcp_error *err);

/* Runs a statement and turns its rows into a calloc()ed array of
 * item_size-byte items filled by fill (svc_pg_rows_array). *items (caller frees
 * with the list's own free function) holds *count items, also on failure (the
 * ones filled so far). */
int bstore_run_array(struct bridge_store *st, const struct bstore_stmt *s,
                     const struct svc_pg_params *p, size_t item_size,
                     svc_pg_fill_fn fill, void **items, size_t *count,
                     struct owcp_error *err);

/* Decodes a bytea column into a caller-owned, NUL-terminated buffer
 * (*out NULL for SQL NULL); *len does not count the NUL. */
int bstore_get_bytea_z(const PGresult *res, int row, int col, char **out,
                       size_t *len, struct owcp_error *err);

#endif
