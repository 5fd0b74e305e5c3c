/*
 * store.h — the dispatcher's database interface (PostgreSQL via libpq).
 *
 * Every query the dispatcher and owcp-admin run is one function here; the
 * SQL lives only in the store_<concern>.c files (each concern's prepared
 * statements: store_pool.c connections, store_auth.c lookups, store_rd.c,
 * store_cd.c, store_outbox.c, store_admin.c, store_log.c, store_listener.c,
 * store_migrate.c) and in sql/dispatcher/ (tables in numbered migrations,
 * stored procedures in procedures/, one file each). State-changing
 * operations are one stored procedure call each: the change, its log
 * entry, its DR-Complete outbox row and its long-poll wake-up key commit
 * together.
 *
 * Return convention (extends owcp/util.h): 0 on success, -1 on an
 * unexpected failure (HTTP 500), STORE_UNAVAILABLE (-2) when the database
 * cannot be reached or the connection broke (HTTP 503, safe to retry).
 * err receives one sentence either way. A protocol outcome (404, 409, ...)
 * is a *successful* call that sets an `int *status` / `.status` to the
 * binding's status code.
 *
 * Ownership: fixed-size char arrays in out structs need no freeing; any
 * out struct with pointer members has a matching *_free() that releases
 * them (and tolerates a zeroed struct). Input pointers are borrowed for the
 * duration of the call only.
 *
 * Time: `time_t now` parameters are UTC seconds; 0 means "the database's
 * now()". Tests pass explicit times to move the clock.
 *
 * A `struct store` is one connection and is not thread-safe; share
 * connections between threads through `struct store_pool`.
 */
#ifndef OWCP_DISPATCHER_STORE_H
#define OWCP_DISPATCHER_STORE_H

#include "owcp/service/pgpool.h"
#include "owcp/util.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define STORE_UNAVAILABLE SVC_PG_UNAVAILABLE /* -2 */

#define STORE_ID_MAX 65       /* transaction/client identifiers + NUL */
#define STORE_ADDRESS_MAX 321 /* RFC 5321 path limit + NUL */

struct store;

/* ---- connection, pool, migrations ------------------------------------- */

/* Connects and prepares every statement (statements whose procedures do not
 * exist yet, before the first migration, are prepared after store_migrate).
 * Returns NULL and fills err ("database unavailable: ...") on failure.
 * Caller releases with store_close(). */
struct store *store_open(const char *conninfo, struct owcp_error *err);

/* Closes the connection and frees the handle; NULL is ignored. */
void store_close(struct store *st);

/* True when the connection is broken (a later call would fail with
 * STORE_UNAVAILABLE); the pool uses it to reconnect. */
bool store_is_broken(const struct store *st);

/* Health check for GET /healthz: a round trip to the database. */
int store_ping(struct store *st, struct owcp_error *err);

/* Migrates the database with the service layer's runner
 * (owcp/service/migrate.h): dir's numbered NNN_*.sql files not yet listed
 * in schema_migrations, then every procedures/NAME.sql, in one transaction
 * under an advisory lock (concurrent migrators are safe), then prepares the
 * statements that needed them. dir NULL: svc_migrate_locate("dispatcher")
 * (share/owcp/sql/dispatcher next to the executable, then the install
 * datadir). *applied (may be NULL) receives how many numbered files were
 * applied now. Idempotent. */
int store_migrate(struct store *st, const char *dir, int *applied,
                  struct owcp_error *err);

/* After store_migrate, as the migrating role: makes it the owner of every
 * table and function and grants `role` (the dispatcher's own role) only
 * what the dispatcher's statements need: on the confirmation log INSERT
 * and SELECT, never UPDATE, DELETE, TRUNCATE or ownership
 * (sql/dispatcher/procedures/owcp_grant_runtime.sql). *tables (may be
 * NULL) gets how many tables were granted. Idempotent. */
int store_grant_runtime(struct store *st, const char *role, int *tables,
                        struct owcp_error *err);

struct store_pool;

/* A thread-safe pool of at most `size` connections, opened lazily. Returns
 * NULL on allocation failure only (the database may be down at start).
 * Caller releases with store_pool_free() after every connection has been
 * released. */
struct store_pool *store_pool_new(const char *conninfo, size_t size,
                                  struct owcp_error *err);

/* Receives one long-poll wake-up key ("account:<id>", "tx:<id>", or "*":
 * every waiter) of a statement that has just committed, on the committing
 * thread, before the statement's caller sees its result. Must not block. */
typedef void (*store_wake_fn)(void *arg, const char *key);

/* store_pool_new whose connections wake long polls without a NOTIFY inside
 * their transactions: owcp_notify() hands its keys back to the connection
 * (owcp.notify = 'client', sql/dispatcher/procedures/owcp_notify.sql) and
 * each successful statement passes them to wake once it has committed
 * (those of a failed or rolled-back one are dropped). wake and arg are
 * borrowed for the pool's lifetime. */
struct store_pool *store_pool_new_waking(const char *conninfo, size_t size,
                                         store_wake_fn wake, void *arg,
                                         struct owcp_error *err);

/* Frees the pool and closes its connections; NULL is ignored. */
void store_pool_free(struct store_pool *pool);

/* The pool's counters for metrics (size, in use, waits, wait time...). */
void store_pool_stats(struct store_pool *pool, struct svc_pgpool_stats *out);

/* Turns on group commit for the pool's connections: up to max RD-Confirm
 * and CD-Reply calls that arrive while another group commits are committed
 * together (dispatcher/store_group.c). max < 2 leaves it off; call before
 * the pool is shared. */
int store_pool_group_commit(struct store_pool *pool, size_t max,
                            struct owcp_error *err);

/* Groups run, the calls they carried, and the calls run again on their
 * own because their group rolled back (all 0 when off). */
struct store_group_counts {
  unsigned long long groups, calls, alone;
};
void store_pool_group_counts(struct store_pool *pool,
                             struct store_group_counts *out);

/* Borrows a connection into *out, waiting up to wait_ms for one to be free.
 * A broken connection is reopened transparently. Returns STORE_UNAVAILABLE
 * when the database cannot be reached or none became free in time. The
 * connection is owned by the pool: give it back with store_pool_release. */
int store_pool_acquire(struct store_pool *pool, int wait_ms, struct store **out,
                       struct owcp_error *err);

/* Returns a borrowed connection (broken ones are closed, reopened on a later
 * acquire). Any transaction left open is rolled back. */
void store_pool_release(struct store_pool *pool, struct store *st);

/* ---- authentication lookups ---------------------------------------------- */

struct store_requestor {
  int64_t id;
  char address[STORE_ADDRESS_MAX];
  bool active;
  int rate_per_minute;
  unsigned char token_hash[OWCP_SHA256_LEN];
};

/* Requestor whose token hash is `token_hash`; *found false when none (the
 * caller still compares token_hash in constant time). */
int store_requestor_by_token(struct store *st,
                             const unsigned char token_hash[OWCP_SHA256_LEN],
                             struct store_requestor *out, bool *found,
                             struct owcp_error *err);

/* Requestor by address (for TLS-client-certificate mapping and admin). */
int store_requestor_by_address(struct store *st, const char *address,
                               struct store_requestor *out, bool *found,
                               struct owcp_error *err);

struct store_client {
  char id[STORE_ID_MAX];
  int64_t account_id;
  char account[STORE_ADDRESS_MAX];
  bool active; /* client active and its account active */
  unsigned char token_hash[OWCP_SHA256_LEN];
};

/* Client whose token hash is `token_hash`; *found false when none. */
int store_client_by_token(struct store *st,
                          const unsigned char token_hash[OWCP_SHA256_LEN],
                          struct store_client *out, bool *found,
                          struct owcp_error *err);

/* Active client's certificate (DER) for receipt verification; *der is
 * caller-owned (free()). *found false when the client is unknown/revoked. */
int store_client_cert(struct store *st, const char *client_id,
                      unsigned char **der, size_t *der_len, bool *found,
                      struct owcp_error *err);

/* The XML Request of transaction tx when it is addressed to the account of
 * the active client client_id, whatever its state: *status 200 and *xml
 * (caller frees; NUL-terminated) and *len; *status 404 when the transaction
 * is unknown or belongs to another account. CD-Reply compares receipts
 * with it byte for byte. */
int store_tx_request(struct store *st, const char *client_id, const char *tx,
                     char **xml, size_t *len, int *status,
                     struct owcp_error *err);

/* ---- RD operations ---------------------------------------------------------
 */

struct store_confirm_out;

struct store_confirm_in {
  int64_t requestor_id;
  const char *account; /* normalised <To> address */
  const char *identifier;
  const char *request_xml;
  unsigned char request_sha256[OWCP_SHA256_LEN];
  const char *type;
  const char *completion; /* NULL: no DR-Complete */
  int timeout_seconds;    /* > 0, already capped by policy */
  time_t now;
  bool require_registration;
  /* The attempt was already counted against the rate limit
   * (store_rate_take, a unit of the process's lease: ratelease.h); false:
   * store_confirm counts it. */
  bool rate_counted;
  /* May be NULL. Called once a new transaction is committed and before
   * the wake-up of the account's long polls goes out (perhaps on another
   * thread: the one leading the group commit), with this struct and what
   * store_confirm will return: what a woken CD-List looks at in this
   * process (txcache.h) is then there when it runs. */
  void (*committed)(void *arg, const struct store_confirm_in *in,
                    const struct store_confirm_out *out);
  void *committed_arg;
};

struct store_confirm_out {
  int status; /* 202, 403, 404, 409 or 429 */
  char transaction[STORE_ID_MAX];
  time_t expires;
  int retry_after; /* seconds, with 429 */
};

/* What store_rate_take counted. */
struct store_rate_grant {
  int granted;     /* units counted, the attempt's own included; 0: over */
  int retry_after; /* seconds until the window ends, when over the limit */
  int valid_ms;    /* the window's time left after now (ms, rounded down)
                      when max > 1, else 0: how long units may be kept */
};

/* Counts one RD-Confirm attempt of requestor against its per-minute limit
 * and, when max > 1, up to max - 1 more units for the process's lease, in
 * a short transaction of its own that does not wait for its WAL flush
 * (procedures/owcp_rate_take.sql: the chunk shrinks as the window fills).
 * now 0: the database's clock. */
int store_rate_take(struct store *st, int64_t requestor_id, time_t now, int max,
                    struct store_rate_grant *out, struct owcp_error *err);

/* RD-Confirm: idempotent on (requestor, identifier), rate-limited per
 * requestor (fixed one-minute window; counted here unless in->rate_counted),
 * NOTIFY 'account:<id>'. */
int store_confirm(struct store *st, const struct store_confirm_in *in,
                  struct store_confirm_out *out, struct owcp_error *err);

/* The outcome of a transaction, as RD-Status / RD-Final / DR-Complete
 * report it. */
struct store_result {
  int status; /* 200 answered, 202 pending, 408 expired/cancelled, 404 */
  char transaction[STORE_ID_MAX];
  char *identifier;
  char *response; /* "Accept" | "Reject" | "Refuse", 200 only */
  char *reason;   /* may be NULL */
  char **verification;
  size_t verification_count;
  char client[STORE_ID_MAX];
  time_t responded;
  time_t expires;
  unsigned char *receipt; /* DER, byte for byte as the client sent it */
  size_t receipt_len;
  char *completion_uri; /* may be NULL */
  int64_t requestor_id;
  char *requestor; /* the requestor's address; set by store_outcome only */
};

/* Frees the pointer members and zeroes *res. */
void store_result_free(struct store_result *res);

/* RD-Status (read only): the requestor's own transaction, else 404. An
 * unswept pending transaction past its expiry reads as 408. */
int store_status(struct store *st, int64_t requestor_id, const char *tx,
                 time_t now, struct store_result *out, struct owcp_error *err);

/* RD-Final: answered → 200 with the result; pending → cancelled, 408;
 * already expired/cancelled → 408; others' transactions → 404. */
int store_final(struct store *st, int64_t requestor_id, const char *tx,
                time_t now, struct store_result *out, struct owcp_error *err);

/* The outcome of any transaction by id (DR-Complete sender, admin). */
int store_outcome(struct store *st, const char *tx, time_t now,
                  struct store_result *out, struct owcp_error *err);

/* RD-Register (procedures/owcp_rd_register.sql). Without require_consent
 * only requestor_id and account are used. With it, the rest describe the
 * consent request to create when none is pending: its transaction id, XML
 * identifier and XML (written by the dispatcher) and its timeout. */
struct store_rd_register_in {
  int64_t requestor_id;
  const char *account;
  bool require_consent;
  const char *transaction; /* new id, used only if a request is created */
  const char *identifier;
  const char *request_xml;
  int timeout_seconds;
  time_t now;
};

struct store_rd_register_out {
  int status; /* 200, 202 pending, 403, 404, 429 */
  bool ready; /* the account is active and has an active client */
  char transaction[STORE_ID_MAX]; /* 202 (and 403 rejected, 429): the
                                     consent request */
  time_t expires;                 /* 202 */
  int retry_after;                /* 429 */
  char reason[16]; /* 403: "rejected", "no-client" or "requestor" */
};

/* RD-Register, with or without the user's consent. */
int store_rd_register(struct store *st, const struct store_rd_register_in *in,
                      struct store_rd_register_out *out,
                      struct owcp_error *err);

/* RD-Deregister: *status 200 (also when not registered) or 404. */
int store_rd_deregister(struct store *st, int64_t requestor_id,
                        const char *account, int *status,
                        struct owcp_error *err);

/* ---- CD operations ---------------------------------------------------------
 */

struct store_pending {
  char transaction[STORE_ID_MAX];
  char from[STORE_ADDRESS_MAX];
  char *type;
  time_t issued;
  time_t expires;
  char *request_xml;
  bool unlisted; /* its first delivery is not recorded yet */
};

struct store_pending_list {
  struct store_pending *items;
  size_t count;
};

/* Frees the items and zeroes *list. */
void store_pending_list_free(struct store_pending_list *list);

/* CD-List: the client's account's pending, unexpired transactions, oldest
 * first, at most max. Read-only: items whose .unlisted is true are first
 * deliveries, for the caller to record with store_listed_record() (the
 * dispatcher batches them, listed.h). An unknown/revoked client gets an
 * empty list. */
int store_list(struct store *st, const char *client_id, int max, time_t now,
               struct store_pending_list *out, struct owcp_error *err);

/* One delivery to record: transaction, the client it went to, and when
 * (microseconds since the Unix epoch, UTC). busy: set by
 * store_listed_record() when the transaction's row was held by another
 * transaction (not recorded: pass it again); tries: the writer's count. */
struct store_listed {
  char transaction[STORE_ID_MAX];
  char client[STORE_ID_MAX];
  int64_t at_us;
  bool busy;
  int tries;
};

/* Records n deliveries in one transaction committed without waiting for
 * its WAL flush (procedures/owcp_listed_record.sql): first_listed_at and
 * one transaction.listed log entry per transaction not yet marked; the
 * others (already marked, passed twice, unknown) are skipped, and those
 * whose row another transaction holds are marked busy (never waited for).
 * *recorded (may be NULL) gets how many were marked now. */
int store_listed_record(struct store *st, struct store_listed *items, size_t n,
                        int *recorded, struct owcp_error *err);

struct store_reply_in {
  const char *transaction;
  const char *client;
  const char *response; /* "Accept" | "Reject" | "Refuse" */
  const char *reason;   /* NULL unless Refuse */
  const char *const *verification;
  size_t verification_count;
  const unsigned char *receipt; /* already verified by the caller */
  size_t receipt_len;
  time_t now;
  const char *match; /* the receipt's "Match" (device approvals), or NULL */
  int block_seconds; /* how long a "Not Me" report blocks the requestor */
};

/* CD-Reply: out->status 200 (first valid reply), 404 (unknown or other
 * account's), 408 (expired/cancelled), 409 (already answered), 400 (Match
 * on a transaction that is not a device approval, or an Accept of one
 * without Match; nothing changed), 403 (an approval accepted with the
 * wrong number: recorded, and the approval ends as rejected). A Refuse
 * with Reason "Not Me" also blocks the requestor from the account for
 * block_seconds (procedures/owcp_reply.sql). */
struct store_reply_out {
  int status;
  time_t responded; /* with 200: the answer's time as stored, rounded
                       to the second as store_status() reports it */
};
int store_reply(struct store *st, const struct store_reply_in *in,
                struct store_reply_out *out, struct owcp_error *err);

/* A client about to be stored by CD-Register; id, token hash and
 * certificate are produced by the caller before the call. */
struct store_new_client {
  const char *account;
  const char *client_id;
  const char *description;
  unsigned char token_hash[OWCP_SHA256_LEN];
  const unsigned char *cert_der;
  size_t cert_len;
  time_t now;
};

/* CD-Register by one-time code, before anything is signed (read only):
 * *status 200 when the code is valid now for this active account, else
 * 401. */
int store_cd_code_check(struct store *st, const char *account,
                        const unsigned char code_hash[OWCP_SHA256_LEN],
                        time_t now, int *status, struct owcp_error *err);

/* CD-Register by one-time code: consumes the code (single use, unexpired,
 * for this active account) and stores the client atomically. *status 200
 * or 401. */
int store_cd_register_code(struct store *st, const struct store_new_client *c,
                           const unsigned char code_hash[OWCP_SHA256_LEN],
                           int *status, struct owcp_error *err);

/* CD-Register on an open service: creates the account (only if it never
 * existed) and the client. *status 200 or 403 (account exists). */
int store_cd_register_open(struct store *st, const struct store_new_client *c,
                           int *status, struct owcp_error *err);

struct store_approval_in {
  const char *account;
  const char *description;
  unsigned char csr_sha256[OWCP_SHA256_LEN];
  const char *transaction;    /* new id from owcp_random_id() */
  const char *request_xml;    /* the "Register a new device?" request */
  const char *system_address; /* the dispatcher's own requestor address */
  int timeout_seconds;
  time_t now;
  const char *asked_from; /* the client address that asked */
  const char *match;      /* the two digits the new device shows */
  int per_hour;           /* approvals_per_hour */
  bool open;              /* open service: 404 for a never-seen account */
};

struct store_approval_out {
  int status; /* 202, 404 or 429 */
  char transaction[STORE_ID_MAX];
  time_t expires;
  int retry_after; /* seconds, with 429 */
  bool sent;       /* 202: the account's clients were asked (log only) */
};

/* CD-Register by approval, first call (procedures/owcp_cd_approval_start.
 * sql): out->status 429 (an approval of this account name is pending, or
 * per_hour were asked in the last hour), 404 (open service and the
 * account never existed; nothing written) or 202 with the new transaction
 * — for every account name alike; out->sent tells whether a request
 * really went to the account's clients. */
int store_cd_approval_start(struct store *st,
                            const struct store_approval_in *in,
                            struct store_approval_out *out,
                            struct owcp_error *err);

/* CD-Register by approval, repeat with `transaction`, before anything is
 * signed (read only): *status 200 (accepted with the right number, no
 * client issued yet), or as store_cd_approval_finish() answers. */
int store_cd_approval_check(struct store *st, const char *transaction,
                            const unsigned char csr_sha256[OWCP_SHA256_LEN],
                            const char *account, const char *description,
                            time_t now, int *status, struct owcp_error *err);

/* Counts one unauthenticated CD-Register from address (procedures/
 * owcp_register_rate_take.sql); *retry_after > 0: over limit per minute. */
int store_register_rate_take(struct store *st, const char *address, int limit,
                             time_t now, int *retry_after,
                             struct owcp_error *err);

/* CD-Register by approval, repeat with `transaction`: *status 200 (approved;
 * client stored), 202 (pending; nothing stored), 403 (rejected/refused or
 * accepted with the wrong number),
 * 408 (expired/cancelled), 409 (already issued), 404 (no such approval for
 * this account and CSR). */
int store_cd_approval_finish(struct store *st, const char *transaction,
                             const unsigned char csr_sha256[OWCP_SHA256_LEN],
                             const struct store_new_client *c, int *status,
                             struct owcp_error *err);

/* CD-Deregister / admin revoke: *status 200 or 404 (unknown or already
 * revoked). actor is logged ("self", "admin"). */
int store_client_revoke(struct store *st, const char *client_id,
                        const char *actor, int *status, struct owcp_error *err);

/* ---- sweeper and outbox ----------------------------------------------------
 */

/* Marks at most limit expired pending transactions (SKIP LOCKED, so
 * several sweepers never block each other); *count gets how many. */
int store_expire(struct store *st, int limit, time_t now, int *count,
                 struct owcp_error *err);

struct store_outbox_item {
  int64_t id;
  char transaction[STORE_ID_MAX];
  char *uri;
  char *body; /* NULL: render from store_outcome() */
  int attempts;
  time_t created;
  int64_t requestor; /* requestors.id: whom the outcome is for */
  int64_t lease_us;  /* the claim's lease end, for store_outbox_release() */
};

struct store_outbox_batch {
  struct store_outbox_item *items;
  size_t count;
};

/* Frees the items and zeroes *batch. */
void store_outbox_batch_free(struct store_outbox_batch *batch);

/* What one claim asks for. busy_requestors/busy_counts (busy_count
 * entries, borrowed): deliveries the caller has in flight per requestor,
 * which push that requestor's rows back in the turn order. */
struct store_outbox_claim_opts {
  int limit;         /* rows at most */
  int per_requestor; /* rows at most per requestor */
  int lease_seconds;
  const int64_t *busy_requestors;
  const int *busy_counts;
  size_t busy_count;
};

/* Claims due rows (FOR UPDATE SKIP LOCKED), taking turns between
 * requestors (sql/dispatcher/procedures/owcp_outbox_claim.sql), and leases
 * them for o->lease_seconds: a sender that dies mid-send gets its rows back
 * to the pool when the lease ends. */
int store_outbox_claim(struct store *st,
                       const struct store_outbox_claim_opts *o, time_t now,
                       struct store_outbox_batch *out, struct owcp_error *err);

/* Marks a row delivered and logs completion.delivered naming uri_logged
 * (the redacted Completion URI). *status 200, or 404 when already
 * delivered/given up. */
int store_outbox_delivered(struct store *st, int64_t id, const char *uri_logged,
                           time_t now, int *status, struct owcp_error *err);

/* Records a failed attempt: next try after min(2^(n-1) s, 600 s) for the
 * n-th failure; once the row is 24 h old it is given up (*gave_up, logs
 * completion.failed naming uri_logged). last_error must not contain
 * secrets. */
int store_outbox_failed(struct store *st, int64_t id, const char *last_error,
                        const char *uri_logged, time_t now, bool *gave_up,
                        time_t *next_attempt, struct owcp_error *err);

/* One claimed row to give back unattempted. */
struct store_outbox_release {
  int64_t id;
  int64_t lease_us; /* as claimed */
  int delay_ms;     /* due again this long from now */
};

/* Gives count claimed rows back without counting an attempt, each only if
 * still under the lease its claim set; *released gets how many were. */
int store_outbox_release(struct store *st,
                         const struct store_outbox_release *rows, size_t count,
                         int *released, struct owcp_error *err);

/* ---- administration --------------------------------------------------------
 */

/* *status 200 or 409 (exists). Logs account.added. */
int store_account_add(struct store *st, const char *address, int *status,
                      struct owcp_error *err);

/* *status 200 or 404 (unknown or already disabled). Logs account.disabled. */
int store_account_disable(struct store *st, const char *address, int *status,
                          struct owcp_error *err);

/* Stores a one-time enrollment code's hash, valid ttl_seconds. *status 200
 * or 404 (unknown/disabled account). Logs code.issued. */
int store_code_issue(struct store *st, const char *account,
                     const unsigned char code_hash[OWCP_SHA256_LEN],
                     int ttl_seconds, time_t now, int *status,
                     struct owcp_error *err);

/* *status 200 (and *id) or 409 (address exists). Logs requestor.added. */
int store_requestor_add(struct store *st, const char *address,
                        const unsigned char token_hash[OWCP_SHA256_LEN],
                        int rate_per_minute, int *status, int64_t *id,
                        struct owcp_error *err);

/* *status 200 or 404. Logs requestor.disabled. */
int store_requestor_disable(struct store *st, const char *address, int *status,
                            struct owcp_error *err);

/* One row of a listing; `fields` are the columns as text (NULL for SQL
 * NULL), described by the listing function. */
typedef int (*store_row_fn)(void *arg, int nfields, const char *const *names,
                            const char *const *fields);

/* Accounts (address, status, created_at, clients), calling fn per row;
 * a non-zero return from fn stops the walk and is returned. */
int store_account_list(struct store *st, store_row_fn fn, void *arg,
                       struct owcp_error *err);

/* Requestors (address, status, rate_per_minute, created_at). */
int store_requestor_list(struct store *st, store_row_fn fn, void *arg,
                         struct owcp_error *err);

/* Clients (id, account, status, description, created_at, revoked_at) of
 * one account, or all when account is NULL. */
int store_client_list(struct store *st, const char *account, store_row_fn fn,
                      void *arg, struct owcp_error *err);

/* Requestor consent (007_consent.sql). consent add: *status 200 recorded,
 * 409 already recorded, 404 unknown account or requestor. consent remove:
 * 200 removed, 409 nothing recorded, 404 unknown. */
int store_consent_add(struct store *st, const char *account,
                      const char *requestor, int *status,
                      struct owcp_error *err);
int store_consent_remove(struct store *st, const char *account,
                         const char *requestor, int *status,
                         struct owcp_error *err);

/* Consents and undecided or refused consent requests, for one account
 * (NULL: all), one row each: account, requestor, state (consented,
 * pending, rejected, registered-without-consent), by (user, admin),
 * transaction, at. */
int store_consent_list(struct store *st, const char *account, store_row_fn fn,
                       void *arg, struct owcp_error *err);

/* ---- the confirmation log -------------------------------------------------
 */

struct store_log_filter {
  const char *account; /* each NULL: no filter */
  const char *requestor;
  const char *transaction;
  const char *event;
  time_t since; /* 0: no bound; inclusive */
  time_t until; /* 0: no bound; exclusive */
};

/* Log entries matching the filter in seq order, calling fn per row with
 * columns seq, at (RFC 3339 with microseconds), event, account, requestor,
 * transaction, client, detail, position and hash (the entry's chain
 * position and lowercase hex hash; NULL while not yet sealed). */
int store_log_query(struct store *st, const struct store_log_filter *f,
                    store_row_fn fn, void *arg, struct owcp_error *err);

/* A log entry as hashed by logchain.c. Strings are NULL for SQL NULL. */
struct store_log_entry {
  int64_t seq;
  int64_t at_us; /* microseconds since the Unix epoch */
  const char *event;
  const char *account;
  const char *requestor;
  const char *transaction;
  const char *client;
  const char *detail;
};

/* Walk callbacks for the chain: return 0 to continue, non-zero to stop. */
typedef int (*store_log_entry_fn)(void *arg, const struct store_log_entry *e);
typedef int (*store_chain_fn)(void *arg, int64_t pos, const unsigned char *prev,
                              const unsigned char *hash,
                              const struct store_log_entry *e);

/* Seal support (used by logchain.c, in this order): begins a transaction
 * and tries the sealer's advisory lock; *locked false means another
 * process is sealing (the transaction is then already finished). */
int store_seal_begin(struct store *st, bool *locked, struct owcp_error *err);

/* Inside the seal transaction: the last chain position and hash (pos 0 and
 * 32 zero bytes for an empty chain). */
int store_chain_tip(struct store *st, int64_t *pos,
                    unsigned char hash[OWCP_SHA256_LEN],
                    struct owcp_error *err);

/* Room for a PostgreSQL xid8 as text (at most 20 digits). */
#define STORE_XID_LEN 24

/* Inside the seal transaction, before store_log_unsealed: the xmin of the
 * current snapshot (every transaction with a lower id has finished), as
 * text, to pass to store_seal_advance once everything visible is sealed. */
int store_seal_xmin(struct store *st, char xmin[STORE_XID_LEN],
                    struct owcp_error *err);

/* Inside the seal transaction: at most limit log entries not yet chained
 * from transactions at or above the seal horizon
 * (sql/dispatcher/002_seal_horizon.sql),
 * in (transaction id, seq) order. */
int store_log_unsealed(struct store *st, int limit, store_log_entry_fn fn,
                       void *arg, struct owcp_error *err);

/* Inside the seal transaction: appends n chain rows in one statement. */
int store_chain_append(struct store *st, size_t n, const int64_t *pos,
                       const int64_t *seq,
                       const unsigned char (*prev)[OWCP_SHA256_LEN],
                       const unsigned char (*hash)[OWCP_SHA256_LEN],
                       struct owcp_error *err);

/* Inside the seal transaction, after a pass that sealed every entry it
 * could see: moves the horizon up to xmin (from store_seal_xmin). */
int store_seal_advance(struct store *st, const char *xmin,
                       struct owcp_error *err);

/* Commits (ok true) or rolls back the seal transaction. */
int store_seal_end(struct store *st, bool ok, struct owcp_error *err);

/* Walks log_chain joined with log in pos order (rows whose log entry is
 * missing are reported with e == NULL). */
int store_chain_walk(struct store *st, store_chain_fn fn, void *arg,
                     struct owcp_error *err);

/* Number of log entries without a chain row, and the lowest such seq. */
int store_log_unchained(struct store *st, int64_t *count, int64_t *first_seq,
                        struct owcp_error *err);

/* ---- LISTEN
 * ------------------------------------------------------------------ */

struct store_listener;

/* A dedicated connection that has run LISTEN owcp. Caller frees with
 * store_listener_close(). */
struct store_listener *store_listener_open(const char *conninfo,
                                           struct owcp_error *err);

/* Closes the connection; NULL is ignored. */
void store_listener_close(struct store_listener *l);

/* The socket to poll, e.g. to combine with other descriptors. */
int store_listener_fd(const struct store_listener *l);

/* Called once per notification with its payload ("account:<id>",
 * "tx:<id>"). */
typedef void (*store_notify_fn)(void *arg, const char *payload);

/* Waits up to timeout_ms (poll()) and delivers every pending notification
 * to fn; returns the number delivered (0 on timeout), or STORE_UNAVAILABLE
 * when the connection broke (reopen with store_listener_open). */
int store_listener_wait(struct store_listener *l, int timeout_ms,
                        store_notify_fn fn, void *arg, struct owcp_error *err);

/* The NOTIFY connection of a process's notify sender (notify_send.c): its
 * transactions only notify, and commit without waiting for their WAL
 * flush (a lost notification costs a long poll its deadline, never a
 * wrong answer). */
struct store_sender;

/* Connects; application_name becomes app_name (pg_stat_activity). Caller
 * frees with store_sender_close(). */
struct store_sender *store_sender_open(const char *conninfo,
                                       const char *app_name,
                                       struct owcp_error *err);

/* Closes the connection; NULL is ignored. */
void store_sender_close(struct store_sender *s);

/* Sends each line of payloads ('\n'-separated, each under 8000 bytes) as a
 * NOTIFY on channel owcp, all in one transaction. STORE_UNAVAILABLE when
 * the connection broke (nothing may have been sent: reopen and resend). */
int store_sender_send(struct store_sender *s, const char *payloads,
                      struct owcp_error *err);

#endif
