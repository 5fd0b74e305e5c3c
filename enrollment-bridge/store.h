/*
 * store.h — the enrollment bridge's own database (PostgreSQL via libpq,
 * `[bridge] db`; never the dispatcher's). What must survive a restart
 * lives there (contract §3, §5): confirmations in progress with their
 * exact request bytes, cached approvals, pending WSTEP requests and their
 * RequestIDs, issued certificates, the record of everything handed out,
 * and MRAS Digest (nonce, nc) pairs already used.
 *
 * Every query is one function here; the SQL lives only in the
 * store_<concern>.c files (store_pool.c connections and statement
 * preparation, store_confirm.c, store_approval.c, store_wstep.c,
 * store_issuance.c, store_cert.c, store_nonce.c, store_migrate.c) and in
 * sql/bridge/ (tables in numbered migrations, multi-table changes as
 * stored procedures in procedures/, one file each). A state change is one
 * round trip.
 *
 * Return convention (extends owcp/util.h): 0 on success, -1 on an
 * unexpected failure, BRIDGE_STORE_UNAVAILABLE (-2) when the database
 * cannot be reached or the connection broke (safe to retry: answer "try
 * later"), BRIDGE_STORE_INVALID (-3) when the database refused the data
 * (an invariant of sql/bridge/001_initial.sql, e.g. a duplicate serial or
 * an accepted confirmation without a receipt: a bug of the caller, the
 * request changed nothing). err receives one sentence either way, for -3
 * the database's own, naming the constraint. An expected outcome (unknown
 * id, already decided) is a *successful* call setting an `int *status`
 * (200, 403, 404, 409) or `bool *found`.
 *
 * Ownership: fixed-size arrays need no freeing; an out struct with pointer
 * members has a *_free() that releases them (and tolerates a zeroed
 * struct). Inputs are borrowed for the call only.
 *
 * Time: `time_t now` parameters are UTC seconds; 0 means the database's
 * now(). Tests pass explicit times to move the clock.
 *
 * A `struct bridge_store` is one borrowed connection and not thread-safe;
 * threads share `struct bridge_store_pool`.
 */
#ifndef OWCP_BRIDGE_STORE_H
#define OWCP_BRIDGE_STORE_H

#include "owcp/service/pgpool.h"
#include "owcp/util.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define BRIDGE_STORE_UNAVAILABLE SVC_PG_UNAVAILABLE /* -2 */
#define BRIDGE_STORE_INVALID (-3)

#define BRIDGE_STORE_TX_MAX 65       /* OWCP transaction identifier + NUL */
#define BRIDGE_STORE_SERIAL_MAX 41   /* 20-byte serial in hex + NUL */
#define BRIDGE_STORE_STATE_MAX 16    /* longest state name + NUL */
#define BRIDGE_STORE_FRONT_MAX 8     /* "otpce", "wstep", "mras" + NUL */
#define BRIDGE_STORE_ACCOUNT_MAX 321 /* RFC 5321 path limit + NUL */

/* ---- pool, migrations ---------------------------------------------------- */

struct bridge_store_pool;
struct bridge_store;

/* A thread-safe pool of at most `size` connections to conninfo, opened
 * lazily (the database may be down at start); each new connection gets
 * the bridge's statements prepared. NULL on allocation failure only.
 * Caller frees with bridge_store_pool_free() once every connection is
 * released. */
struct bridge_store_pool *bridge_store_pool_new(const char *conninfo,
                                                size_t size,
                                                struct owcp_error *err);

/* Closes every connection and frees the pool; NULL is ignored. */
void bridge_store_pool_free(struct bridge_store_pool *pool);

/* The pool's counters for /metrics. */
void bridge_store_pool_stats(struct bridge_store_pool *pool,
                             struct svc_pgpool_stats *out);

/* Borrows a connection into *out (owned by the pool), waiting up to
 * wait_ms; BRIDGE_STORE_UNAVAILABLE when the database cannot be reached or
 * none became free. Give it back with bridge_store_release(). */
int bridge_store_acquire(struct bridge_store_pool *pool, int wait_ms,
                         struct bridge_store **out, struct owcp_error *err);

/* Gives a borrowed connection back (an open transaction is rolled back);
 * NULL is ignored. */
void bridge_store_release(struct bridge_store_pool *pool,
                          struct bridge_store *st);

/* GET /healthz: one round trip. */
int bridge_store_ping(struct bridge_store *st, struct owcp_error *err);

/* `owcp-bridge migrate`: connects to conninfo on its own connection and
 * runs the service layer's runner (owcp/service/migrate.h) on sql_dir
 * (NULL: svc_migrate_locate("bridge"), i.e. share/owcp/sql/bridge next to
 * the executable, then the install datadir). Idempotent and safe to run
 * concurrently. *applied (may be NULL): numbered files applied now. */
int bridge_store_migrate(const char *conninfo, const char *sql_dir,
                         int *applied, struct owcp_error *err);

/* ---- confirmations (store_confirm.c) --------------------------------------
 */

/* A confirmation just sent (confirm_send()'s struct confirm_sent). */
struct bridge_confirm_new {
  const char *front;   /* "otpce" | "wstep" | "mras" */
  const char *account; /* the mapped OWCP account (<To>) */
  const char *scope;   /* template (OTPCE, WSTEP) or identity (MRAS) */
  const char *transaction;
  const char *request; /* the exact bytes sent */
  size_t request_len;
  time_t expires; /* when the user's time runs out */
  time_t now;
};

/* Records a confirmation sent, state pending. A transaction recorded
 * before is BRIDGE_STORE_INVALID. */
int bridge_store_confirm_record(struct bridge_store *st,
                                const struct bridge_confirm_new *in,
                                struct owcp_error *err);

/* A stored confirmation. */
struct bridge_confirmation {
  char front[BRIDGE_STORE_FRONT_MAX];
  char account[BRIDGE_STORE_ACCOUNT_MAX];
  char *scope;
  char transaction[BRIDGE_STORE_TX_MAX];
  char *request;                      /* the exact bytes sent, NUL-terminated */
  size_t request_len;                 /* not counting the NUL */
  char state[BRIDGE_STORE_STATE_MAX]; /* "pending", "accepted", ... */
  unsigned char *receipt;             /* NULL when none */
  size_t receipt_len;
  char *reason; /* NULL when none */
  time_t created;
  time_t expires;
  time_t decided; /* 0 while pending */
};

/* Frees the pointer members and zeroes *c. */
void bridge_confirmation_free(struct bridge_confirmation *c);

/* The confirmation of transaction; *found false when none. */
int bridge_store_confirm_get(struct bridge_store *st, const char *transaction,
                             struct bridge_confirmation *out, bool *found,
                             struct owcp_error *err);

struct bridge_confirmation_list {
  struct bridge_confirmation *items;
  size_t count;
};

/* Frees every item and zeroes *list. */
void bridge_confirmation_list_free(struct bridge_confirmation_list *list);

/* Pending confirmations of front (NULL: every front), oldest first, at
 * most max: what a restarted bridge still has to ask about. */
int bridge_store_confirm_pending(struct bridge_store *st, const char *front,
                                 int max, struct bridge_confirmation_list *out,
                                 struct owcp_error *err);

/* The confirmation a byte-identical retry under confirm = required
 * follows (docs/enrollment-bridge.md, "Restart semantics"): the latest of
 * (front, account, scope) that is either still pending and not expired at
 * now, or accepted at most window_minutes before now with nothing issued
 * from it yet. *found false when none. */
int bridge_store_confirm_retry(struct bridge_store *st, const char *front,
                               const char *account, const char *scope,
                               int window_minutes, time_t now,
                               struct bridge_confirmation *out, bool *found,
                               struct owcp_error *err);

/* How a confirmation ended. */
struct bridge_confirm_outcome {
  const char *transaction;
  const char *state;            /* "accepted", "rejected", "refused", "expired",
                                   "cancelled", "failed" or "unreachable" */
  const unsigned char *receipt; /* the verified receipt, NULL when none;
                                   required for accepted and rejected */
  size_t receipt_len;
  const char *reason; /* NULL when none */
  int cache_minutes;  /* > 0 with confirm = cached:MINUTES: an Accept also
                         caches the approval, in the same transaction */
  time_t now;
};

/* Records the outcome of a pending confirmation once. *status 200
 * (recorded), 404 (unknown transaction) or 409 (decided before);
 * stored_state (may be NULL, BRIDGE_STORE_STATE_MAX bytes) receives the
 * state now stored (with 409: the earlier outcome). */
int bridge_store_confirm_decide(struct bridge_store *st,
                                const struct bridge_confirm_outcome *in,
                                int *status, char *stored_state,
                                struct owcp_error *err);

/* ---- cached approvals (store_approval.c) -----------------------------------
 */

struct bridge_approval {
  time_t approved_at;
  time_t expires_at;
  char transaction[BRIDGE_STORE_TX_MAX]; /* the Accept's confirmation */
};

/* Is there an approval for (front, account, scope) covering now
 * (approved_at <= now < expires_at)? *found, and *out when found. */
int bridge_store_approval_find(struct bridge_store *st, const char *front,
                               const char *account, const char *scope,
                               time_t now, struct bridge_approval *out,
                               bool *found, struct owcp_error *err);

/* ---- issuances (store_issuance.c) -----------------------------------------
 */

struct bridge_issuance_new {
  const char *front;
  const char *account;
  const char *scope;
  const char *kind;         /* "cmc" | "turn" ("certificate": use
                               bridge_store_cert_insert) */
  const char *description;  /* one line, never a secret */
  const char *details_json; /* a JSON object, never a secret; NULL: {} */
  const char *transaction;  /* the accepted confirmation (fresh or the
                               cached approval's); NULL: confirm = off */
  time_t now;
};

/* Records one thing handed out; *id (may be NULL) gets its row id. A
 * transaction that is unknown, not accepted, or for another front,
 * account or scope is BRIDGE_STORE_INVALID. */
int bridge_store_issuance_record(struct bridge_store *st,
                                 const struct bridge_issuance_new *in,
                                 int64_t *id, struct owcp_error *err);

/* As bridge_store_issuance_record, for an Accept that covers exactly one
 * issuance (confirm = required): in->transaction is required; *status 200
 * (recorded; *id, when not NULL, its row id) or 409 (something was issued
 * from that transaction already, also by a concurrent request: nothing
 * recorded). */
int bridge_store_issuance_record_once(struct bridge_store *st,
                                      const struct bridge_issuance_new *in,
                                      int *status, int64_t *id,
                                      struct owcp_error *err);

/* ---- certificates (store_cert.c) ------------------------------------------
 */

struct bridge_cert_new {
  const char *serial;  /* upper-case hex, no leading zeros */
  const char *subject; /* RFC 4514 text */
  const char *template_name;
  const char *requester;   /* the OWCP account */
  const char *transaction; /* its accepted confirmation; NULL: confirm=off */
  const unsigned char *der;
  size_t der_len;
  time_t not_before;
  time_t not_after;
  time_t now;
};

/* Records a certificate issued at once (confirm = off or a cached
 * approval) together with its issuance row (front wstep, scope the
 * template). A serial on record already is BRIDGE_STORE_INVALID. */
int bridge_store_cert_insert(struct bridge_store *st,
                             const struct bridge_cert_new *in,
                             struct owcp_error *err);

/* One certificate of a listing (no DER). */
struct bridge_cert {
  char serial[BRIDGE_STORE_SERIAL_MAX];
  char *subject;
  char *template_name;
  char requester[BRIDGE_STORE_ACCOUNT_MAX];
  char transaction[BRIDGE_STORE_TX_MAX]; /* "" under confirm = off */
  time_t not_before;
  time_t not_after;
  time_t issued_at;
};

struct bridge_cert_list {
  struct bridge_cert *items;
  size_t count;
};

/* Frees every item and zeroes *list. */
void bridge_cert_list_free(struct bridge_cert_list *list);

/* Certificates of requester (NULL: everybody's), oldest first, at most
 * max: the administrator's listing. */
int bridge_store_cert_list(struct bridge_store *st, const char *requester,
                           int max, struct bridge_cert_list *out,
                           struct owcp_error *err);

/* ---- WSTEP pending requests (store_wstep.c) --------------------------------
 */

struct bridge_wstep_new {
  const char *account;
  const char *template_name;
  const unsigned char *csr; /* the checked request, DER */
  size_t csr_len;
  const char *transaction; /* its confirmation; NULL: attach it later */
  time_t now;
};

/* Takes a request under submission: *request_id gets its RequestID,
 * 1..2^31-1, never handed out before (also across restarts). */
int bridge_store_wstep_create(struct bridge_store *st,
                              const struct bridge_wstep_new *in,
                              int32_t *request_id, struct owcp_error *err);

/* Links the confirmation sent for request_id (when it was sent after the
 * RequestID was known). *status 200, 404 (no such request of account) or
 * 409 (already linked, or no longer pending). */
int bridge_store_wstep_attach(struct bridge_store *st, int32_t request_id,
                              const char *account, const char *transaction,
                              int *status, struct owcp_error *err);

struct bridge_wstep_request {
  int32_t request_id;
  char *template_name;
  unsigned char *csr;
  size_t csr_len;
  char state[BRIDGE_STORE_STATE_MAX];    /* "pending" | "issued" | "denied" */
  char *reason;                          /* denied: why; else NULL */
  char transaction[BRIDGE_STORE_TX_MAX]; /* "" when none linked */
  char confirmation_state[BRIDGE_STORE_STATE_MAX]; /* "" when none */
  unsigned char *certificate;                      /* issued: DER; else NULL */
  size_t certificate_len;
  char serial[BRIDGE_STORE_SERIAL_MAX]; /* issued; else "" */
  time_t created;
};

/* Frees the pointer members and zeroes *r. */
void bridge_wstep_request_free(struct bridge_wstep_request *r);

/* QueryTokenStatus: request_id as submitted by account; *found false when
 * unknown or another account's (the caller answers both alike). */
int bridge_store_wstep_get(struct bridge_store *st, int32_t request_id,
                           const char *account,
                           struct bridge_wstep_request *out, bool *found,
                           struct owcp_error *err);

/* The certificate issued for a request. */
struct bridge_wstep_cert {
  const char *serial;
  const char *subject;
  const unsigned char *der;
  size_t der_len;
  time_t not_before;
  time_t not_after;
  time_t now;
};

/* Issues request_id of account in one transaction: the certificate row
 * (template and requester from the request, transaction from its
 * confirmation), its issuance row and the request's state. *status 200,
 * 403 (its confirmation is not accepted, or none is linked), 404 (no such
 * request of account) or 409 (not pending). */
int bridge_store_wstep_issue(struct bridge_store *st, int32_t request_id,
                             const char *account,
                             const struct bridge_wstep_cert *cert, int *status,
                             struct owcp_error *err);

/* Ends request_id of account without a certificate (reason: "rejected",
 * "expired", ...). *status 200, 404 or 409 (not pending). */
int bridge_store_wstep_deny(struct bridge_store *st, int32_t request_id,
                            const char *account, const char *reason, time_t now,
                            int *status, struct owcp_error *err);

/* ---- WSTEP additions (store_wstep_now.c) -----------------------------------
 */

/* A certificate issued at once (confirm = off: in->transaction NULL; or a
 * cached approval's accepted transaction): the certificate, its issuance
 * and a request row already issued, in one transaction. *request_id gets
 * the new RequestID. A transaction that is not an accepted one of this
 * account and template is BRIDGE_STORE_INVALID. */
int bridge_store_wstep_issue_now(struct bridge_store *st,
                                 const struct bridge_wstep_new *in,
                                 const struct bridge_wstep_cert *cert,
                                 int32_t *request_id, struct owcp_error *err);

/* The account that submitted request_id; *found false when unknown. */
int bridge_store_wstep_owner(struct bridge_store *st, int32_t request_id,
                             char account[BRIDGE_STORE_ACCOUNT_MAX],
                             bool *found, struct owcp_error *err);

/* The account the certificate of serial (upper-case hex, no leading
 * zeros) was issued to; *found false when the CA never issued it. */
int bridge_store_cert_owner(struct bridge_store *st, const char *serial,
                            char account[BRIDGE_STORE_ACCOUNT_MAX], bool *found,
                            struct owcp_error *err);

/* ---- MRAS Digest nonces (store_nonce.c) ------------------------------------
 */

/* Accepts (nonce, nc) once: *fresh true when this call recorded it, false
 * when it was used before (by any process, before any restart): a replay.
 * expires: when the nonce stops being valid (the row may be purged
 * after). nc 1..2^32-1. */
int bridge_store_nonce_use(struct bridge_store *st, const char *nonce,
                           uint32_t nc, time_t expires, time_t now, bool *fresh,
                           struct owcp_error *err);

/* Deletes the pairs whose nonce expired at or before now; *purged (may be
 * NULL) gets how many. */
int bridge_store_nonce_purge(struct bridge_store *st, time_t now,
                             int64_t *purged, struct owcp_error *err);

#endif
