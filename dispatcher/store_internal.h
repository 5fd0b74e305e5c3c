/*
 * store_internal.h — what the store_*.c files share and nothing else sees:
 * the connection handle, the prepared-statement descriptor and the helpers
 * that run statements (store_pool.c). Each store_<concern>.c holds the SQL
 * of its own statements, one function of store.h per query; column reading
 * and parameters come from owcp/service/pg.h.
 */
#ifndef OWCP_DISPATCHER_STORE_INTERNAL_H
#define OWCP_DISPATCHER_STORE_INTERNAL_H

#include "store.h"

#include "owcp/service/pg.h"

#include <libpq-fe.h>

#include <stdbool.h>

/* SQL fragments: a timestamptz as epoch seconds, parameter n as one. */
#define EPOCH(x) "extract(epoch from " x ")::bigint"
#define TS(n) "to_timestamp($" #n "::float8)"

/* One slot per prepared statement, for the per-connection "prepared" flag;
 * the statements themselves are defined in their concern's file. */
enum store_stmt_id {
  S_PING,
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
  S_LISTED_RECORD,
  S_REPLY,
  S_REGISTER_CODE,
  S_REGISTER_OPEN,
  S_APPROVAL_START,
  S_APPROVAL_FINISH,
  S_APPROVAL_CHECK,
  S_CODE_CHECK,
  S_REGISTER_RATE_TAKE,
  S_CLIENT_REVOKE,
  S_EXPIRE,
  S_OUTBOX_CLAIM,
  S_OUTBOX_DELIVERED,
  S_OUTBOX_FAILED,
  S_OUTBOX_RELEASE,
  S_ACCOUNT_ADD,
  S_ACCOUNT_DISABLE,
  S_CODE_ISSUE,
  S_REQUESTOR_ADD,
  S_REQUESTOR_DISABLE,
  S_ACCOUNT_LIST,
  S_REQUESTOR_LIST,
  S_CLIENT_LIST,
  S_CONSENT_ADD,
  S_CONSENT_REMOVE,
  S_CONSENT_LIST,
  S_LOG_QUERY,
  S_SEAL_LOCK,
  S_SEAL_XMIN,
  S_SEAL_ADVANCE,
  S_CHAIN_TIP,
  S_LOG_UNSEALED,
  S_CHAIN_APPEND,
  S_CHAIN_WALK,
  S_LOG_UNCHAINED,
  /* store_console.c */
  S_LOG_PAGE,
  S_TX_VIEW,
  S_COUNT
};

/* A prepared statement. Whether its procedure wakes long polls
 * (owcp_notify, procedures/owcp_notify.sql) needs no flag: on a waking
 * connection store_run() hands the keys of any statement to the wake
 * function once it committed. */
struct store_stmt {
  enum store_stmt_id id;
  const char *name;
  const char *sql;
};

/* Each concern's statements, NULL-terminated; store_pool.c prepares them
 * all when a connection opens. */
extern const struct store_stmt *const store_pool_statements[];
extern const struct store_stmt *const store_auth_statements[];
extern const struct store_stmt *const store_rd_statements[];
extern const struct store_stmt *const store_cd_statements[];
extern const struct store_stmt *const store_outbox_statements[];
extern const struct store_stmt *const store_admin_statements[];
extern const struct store_stmt *const store_log_statements[];
extern const struct store_stmt *const store_console_statements[];

/* One connection. pooled: the connection belongs to a pool (which closes
 * it), NULL for store_open()'s own. group: the pool's group committer
 * (NULL: every statement commits on its own). wake: store_pool_new_waking()'s
 * function (NULL: owcp_notify() sends NOTIFY in the transaction);
 * wake_keys holds the current transaction's keys, NUL-separated
 * (wake_len bytes, owned), wake_lost says one could not be kept. */
struct store {
  PGconn *conn;
  struct svc_pgconn *pooled;
  struct store_group *group;
  bool prepared[S_COUNT];
  store_wake_fn wake;
  void *wake_arg;
  char *wake_keys;
  size_t wake_len, wake_cap;
  bool wake_lost;
};

/* Prepares every statement the migrated schema allows (store_migrate calls
 * it once the procedures exist). */
int store_prepare_all(struct store *st, struct owcp_error *err);

/* Runs a prepared statement (preparing it first if the schema was not
 * migrated when the connection opened); *out gets the result the caller
 * PQclear()s. p may be NULL. RD-Confirm's and CD-Reply's procedures on a
 * pooled connection go through the pool's group committer (store_group.h). */
int store_run(struct store *st, const struct store_stmt *s,
              const struct svc_pg_params *p, PGresult **out,
              struct owcp_error *err);

/* What a caller runs once its statement has committed and before the
 * commit's wake-up keys go out (so that whatever a woken request looks at
 * in this process is there when it runs): fn(arg, the statement's
 * result). Not run when the statement failed or did not commit (it ran
 * inside a transaction still open). */
struct store_then {
  void (*fn)(void *arg, const PGresult *res);
  void *arg;
};

/* store_run() with then (may be NULL) run as struct store_then says. */
int store_run_then(struct store *st, const struct store_stmt *s,
                   const struct svc_pg_params *p, const struct store_then *then,
                   PGresult **out, struct owcp_error *err);

/* store_run() in a transaction of its own, whatever s->grouped says;
 * then may be NULL. */
int store_run_alone(struct store *st, const struct store_stmt *s,
                    const struct svc_pg_params *p,
                    const struct store_then *then, PGresult **out,
                    struct owcp_error *err);

/* Prepares s on st's connection unless it already is. */
int store_prepare(struct store *st, const struct store_stmt *s,
                  struct owcp_error *err);

/* Around a statement on a waking connection (store_pool_new_waking):
 * begin drops keys left by a transaction that did not commit; end hands
 * the keys of what just committed to the wake function (ok) or drops them
 * (the statement failed). */
void store_wake_begin(struct store *st);
void store_wake_end(struct store *st, bool ok);

/* store_run expecting exactly one row. */
int store_run_row(struct store *st, const struct store_stmt *s,
                  const struct svc_pg_params *p, PGresult **out,
                  struct owcp_error *err);

/* Runs a procedure that returns one integer status into *status. */
int store_run_status(struct store *st, const struct store_stmt *s,
                     const struct svc_pg_params *p, int *status,
                     struct owcp_error *err);

typedef int (*store_pgrow_fn)(void *arg, const PGresult *row);

/* Streams a statement's rows one at a time (single-row mode) so that long
 * listings and chain walks use constant memory. A non-zero return of fn
 * stops delivering rows (the rest are drained) and is returned. */
int store_run_rows(struct store *st, const struct store_stmt *s,
                   const struct svc_pg_params *p, store_pgrow_fn fn, void *arg,
                   struct owcp_error *err);

/* Fills one array element from row i; strings are copied into the item. */
typedef svc_pg_fill_fn store_item_fill_fn;

/* Runs a statement and turns its rows into a calloc()ed array of items of
 * item_size bytes, filled by fill. On success *items (caller frees with
 * the list's own free function) holds *count items; on failure, the
 * *count items filled so far are left for that free function too. */
int store_run_array(struct store *st, const struct store_stmt *s,
                    const struct svc_pg_params *p, size_t item_size,
                    store_item_fill_fn fill, void **items, size_t *count,
                    struct owcp_error *err);

/* A public listing callback, for store_listing_row. */
struct store_listing {
  store_row_fn fn;
  void *arg;
};

/* Parameters $1..$6 of a log filter (store_log.c): account, requestor,
 * transaction, event, since, until. */
void store_log_filter_params(struct svc_pg_params *p,
                             const struct store_log_filter *f);

/* store_pgrow_fn adapting one streamed row to a struct store_listing
 * (arg): column names and text values. */
int store_listing_row(void *arg, const PGresult *row);

#endif
