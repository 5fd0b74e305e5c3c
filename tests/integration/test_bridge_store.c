/*
 * test_bridge_store.c — integration tests of the enrollment bridge's own
 * database (enrollment-bridge/store_*.c and sql/bridge/) against a real
 * PostgreSQL (OWCP_TEST_DB from scripts/with-pg.sh; missing means FAIL,
 * not skip). Every test runs in a fresh database of its own; "restart"
 * means a new pool, i.e. new connections, as a restarted bridge has.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "store.h"

#include <libpq-fe.h>
#include <pthread.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 ((time_t)1800000000) /* a fixed clock, 2027-01-15 */
#define ALICE "alice@example.com"
#define BOB "bob@example.com"

static const unsigned char RECEIPT[] = {0x30, 0x03, 0x02, 0x01, 0x00};
static const unsigned char DER[] = {0x30, 0x02, 0x05, 0x00};

struct fx {
  char conninfo[1024];
  struct bridge_store_pool *pool;
  struct bridge_store *st;
};

static int db_counter;

/* Runs SQL text on a raw connection (scaffolding and inspection). */
static PGresult *raw(const char *conninfo, const char *sql)
{
  PGconn *c = PQconnectdb(conninfo);
  PGresult *r;

  assert_int_equal(PQstatus(c), CONNECTION_OK);
  r = PQexec(c, sql);
  PQfinish(c);
  return r;
}

/* The single value of a one-row, one-column query, as text (copied). */
static char *value(struct fx *f, const char *sql)
{
  PGresult *r = raw(f->conninfo, sql);
  char *v;

  if (PQresultStatus(r) != PGRES_TUPLES_OK)
    fail_msg("%s: %s", sql, PQresultErrorMessage(r));
  assert_int_equal(PQntuples(r), 1);
  v = strdup(PQgetvalue(r, 0, 0));
  PQclear(r);
  return v;
}

static long long count(struct fx *f, const char *sql)
{
  char *v = value(f, sql);
  long long n = strtoll(v, NULL, 10);

  free(v);
  return n;
}

static void open_pool(struct fx *f)
{
  struct owcp_error err = {{0}};

  f->pool = bridge_store_pool_new(f->conninfo, 4, &err);
  assert_non_null(f->pool);
  assert_int_equal(bridge_store_acquire(f->pool, 5000, &f->st, &err), 0);
}

static void close_pool(struct fx *f)
{
  bridge_store_release(f->pool, f->st);
  bridge_store_pool_free(f->pool);
  f->pool = NULL;
  f->st = NULL;
}

/* A restarted bridge: every connection closed, new ones opened. */
static void restart(struct fx *f)
{
  close_pool(f);
  open_pool(f);
}

static int setup(void **state)
{
  const char *base = getenv("OWCP_TEST_DB");
  struct owcp_error err = {{0}};
  struct fx *f = calloc(1, sizeof *f);
  char sql[128];
  int applied = -1;

  if (base == NULL || f == NULL) {
    fprintf(stderr, "OWCP_TEST_DB is not set: run under scripts/with-pg.sh\n");
    free(f);
    return -1;
  }
  snprintf(sql, sizeof sql, "CREATE DATABASE t_bstore_%d", ++db_counter);
  PQclear(raw(base, sql));
  snprintf(f->conninfo, sizeof f->conninfo, "%s dbname=t_bstore_%d", base,
           db_counter);
  if (bridge_store_migrate(f->conninfo, OWCP_SQL_DIR, &applied, &err) != 0) {
    fprintf(stderr, "setup: %s\n", err.msg);
    free(f);
    return -1;
  }
  open_pool(f);
  *state = f;
  return 0;
}

static int teardown(void **state)
{
  struct fx *f = *state;

  close_pool(f);
  free(f);
  return 0;
}

/* Records a confirmation sent at T0, expiring at T0 + 120. */
static void record(struct fx *f, const char *front, const char *account,
                   const char *scope, const char *tx)
{
  struct owcp_error err = {{0}};
  static const char xml[] = "<Request>x</Request>";
  struct bridge_confirm_new in = {front, account,        scope,    tx,
                                  xml,   sizeof xml - 1, T0 + 120, T0};

  assert_int_equal(bridge_store_confirm_record(f->st, &in, &err), 0);
}

/* Decides tx at `now`; returns the status. */
static int decide(struct fx *f, const char *tx, const char *state,
                  int cache_minutes, time_t now)
{
  struct owcp_error err = {{0}};
  bool answer =
      strcmp(state, "accepted") == 0 || strcmp(state, "rejected") == 0;
  struct bridge_confirm_outcome o = {tx,
                                     state,
                                     answer ? RECEIPT : NULL,
                                     answer ? sizeof RECEIPT : 0,
                                     NULL,
                                     cache_minutes,
                                     now};
  int status = 0;

  assert_int_equal(bridge_store_confirm_decide(f->st, &o, &status, NULL, &err),
                   0);
  return status;
}

/* ---- migrations ---------------------------------------------------------- */

static void test_migrate_twice(void **state)
{
  struct fx *f = *state;
  struct owcp_error err = {{0}};
  int applied = -1;

  /* setup migrated once; again applies nothing and changes nothing. */
  assert_int_equal(
      bridge_store_migrate(f->conninfo, OWCP_SQL_DIR, &applied, &err), 0);
  assert_int_equal(applied, 0);
  assert_int_equal(count(f, "SELECT count(*) FROM schema_migrations"), 1);
  assert_int_equal(
      count(f, "SELECT count(*) FROM pg_proc WHERE proname "
               "LIKE 'bridge\\_%'"),
      10); /* + bridge_issuance_record_once, bridge_wstep_issue_now */
  /* Every table and column is explained. */
  assert_int_equal(count(f, "SELECT count(*) FROM pg_class c JOIN "
                            "pg_namespace n ON n.oid = c.relnamespace WHERE "
                            "n.nspname = 'public' AND c.relkind = 'r' "
                            "AND c.relname <> 'schema_migrations' AND "
                            "obj_description(c.oid, 'pg_class') IS NULL"),
                   0);
  assert_int_equal(
      count(f, "SELECT count(*) FROM pg_attribute a JOIN pg_class c ON "
               "c.oid = a.attrelid JOIN pg_namespace n ON n.oid = "
               "c.relnamespace WHERE n.nspname = 'public' AND c.relkind = "
               "'r' AND c.relname <> 'schema_migrations' AND a.attnum > 0 "
               "AND NOT a.attisdropped AND col_description(c.oid, "
               "a.attnum) IS NULL"),
      0);
  assert_int_equal(count(f, "SELECT count(*) FROM pg_class WHERE relname = "
                            "'wstep_request_ids' AND obj_description(oid, "
                            "'pg_class') IS NOT NULL"),
                   1);
  /* Not found: the error names the directory. */
  assert_int_not_equal(
      bridge_store_migrate(f->conninfo, "/nonexistent/sql", NULL, &err), 0);
}

static void test_unavailable(void **state)
{
  struct owcp_error err = {{0}};
  struct bridge_store_pool *pool =
      bridge_store_pool_new("host=/nonexistent-dir dbname=x", 1, &err);
  struct bridge_store *st;

  (void)state;
  assert_non_null(pool);
  assert_int_equal(bridge_store_acquire(pool, 100, &st, &err),
                   BRIDGE_STORE_UNAVAILABLE);
  assert_non_null(strstr(err.msg, "unavailable"));
  bridge_store_pool_free(pool);
  assert_int_equal(bridge_store_migrate("host=/nonexistent-dir dbname=x",
                                        OWCP_SQL_DIR, NULL, &err),
                   BRIDGE_STORE_UNAVAILABLE);
}

/* ---- confirmations --------------------------------------------------------
 */

static void test_confirm_survives_restart(void **state)
{
  struct fx *f = *state;
  struct owcp_error err = {{0}};
  /* Bytes a text column would alter or refuse: CR LF, a NUL, UTF-8. */
  static const char xml[] = "<R>\r\n\xc3\xa9\0tail</R>";
  struct bridge_confirm_new in = {
      "wstep", ALICE, "User", "TX-restart", xml, sizeof xml - 1, T0 + 120, T0};
  struct bridge_confirmation c;
  struct bridge_confirmation_list list = {0};
  char stored[BRIDGE_STORE_STATE_MAX];
  struct bridge_confirm_outcome o = {
      "TX-restart", "accepted", RECEIPT, sizeof RECEIPT, NULL, 0, T0 + 5};
  bool found;
  int status;

  assert_int_equal(bridge_store_ping(f->st, &err), 0);
  assert_int_equal(bridge_store_confirm_record(f->st, &in, &err), 0);
  record(f, "mras", BOB, "sip:bob@example.com", "TX-other");
  restart(f);

  assert_int_equal(
      bridge_store_confirm_get(f->st, "TX-restart", &c, &found, &err), 0);
  assert_true(found);
  assert_int_equal(c.request_len, sizeof xml - 1);
  assert_memory_equal(c.request, xml, sizeof xml - 1);
  assert_int_equal(c.request[c.request_len], '\0');
  assert_string_equal(c.front, "wstep");
  assert_string_equal(c.account, ALICE);
  assert_string_equal(c.scope, "User");
  assert_string_equal(c.state, "pending");
  assert_null(c.receipt);
  assert_int_equal(c.created, T0);
  assert_int_equal(c.expires, T0 + 120);
  assert_int_equal(c.decided, 0);
  bridge_confirmation_free(&c);

  assert_int_equal(bridge_store_confirm_pending(f->st, NULL, 10, &list, &err),
                   0);
  assert_int_equal(list.count, 2);
  bridge_confirmation_list_free(&list);
  assert_int_equal(
      bridge_store_confirm_pending(f->st, "wstep", 10, &list, &err), 0);
  assert_int_equal(list.count, 1);
  assert_string_equal(list.items[0].transaction, "TX-restart");
  assert_memory_equal(list.items[0].request, xml, sizeof xml - 1);
  bridge_confirmation_list_free(&list);

  assert_int_equal(
      bridge_store_confirm_decide(f->st, &o, &status, stored, &err), 0);
  assert_int_equal(status, 200);
  assert_string_equal(stored, "accepted");
  /* Decided once: a second outcome is refused and reports the first. */
  o.state = "rejected";
  assert_int_equal(
      bridge_store_confirm_decide(f->st, &o, &status, stored, &err), 0);
  assert_int_equal(status, 409);
  assert_string_equal(stored, "accepted");
  o.transaction = "TX-unknown";
  assert_int_equal(
      bridge_store_confirm_decide(f->st, &o, &status, stored, &err), 0);
  assert_int_equal(status, 404);

  assert_int_equal(
      bridge_store_confirm_pending(f->st, "wstep", 10, &list, &err), 0);
  assert_int_equal(list.count, 0);
  bridge_confirmation_list_free(&list);
  assert_int_equal(
      bridge_store_confirm_get(f->st, "TX-restart", &c, &found, &err), 0);
  assert_true(found);
  assert_string_equal(c.state, "accepted");
  assert_int_equal(c.receipt_len, sizeof RECEIPT);
  assert_memory_equal(c.receipt, RECEIPT, sizeof RECEIPT);
  assert_int_equal(c.decided, T0 + 5);
  bridge_confirmation_free(&c);
  assert_int_equal(bridge_store_confirm_get(f->st, "TX-none", &c, &found, &err),
                   0);
  assert_false(found);
}

/* ---- approvals -------------------------------------------------------------
 */

static bool covered(struct fx *f, const char *front, const char *account,
                    const char *scope, time_t now, struct bridge_approval *a)
{
  struct owcp_error err = {{0}};
  struct bridge_approval tmp;
  bool found = true;

  assert_int_equal(bridge_store_approval_find(f->st, front, account, scope, now,
                                              a ? a : &tmp, &found, &err),
                   0);
  return found;
}

static void test_approval_expiry_and_scope(void **state)
{
  struct fx *f = *state;
  struct bridge_approval a;

  record(f, "otpce", ALICE, "1.3.6.1.4.1.311.21.8.1.1", "TX-a");
  assert_false(
      covered(f, "otpce", ALICE, "1.3.6.1.4.1.311.21.8.1.1", T0, NULL));
  assert_int_equal(decide(f, "TX-a", "accepted", 10, T0 + 60), 200);

  assert_true(
      covered(f, "otpce", ALICE, "1.3.6.1.4.1.311.21.8.1.1", T0 + 60, &a));
  assert_int_equal(a.approved_at, T0 + 60);
  assert_int_equal(a.expires_at, T0 + 660);
  assert_string_equal(a.transaction, "TX-a");
  assert_true(
      covered(f, "otpce", ALICE, "1.3.6.1.4.1.311.21.8.1.1", T0 + 659, NULL));
  /* approved_at <= now < expires_at */
  assert_false(
      covered(f, "otpce", ALICE, "1.3.6.1.4.1.311.21.8.1.1", T0 + 660, NULL));
  assert_false(
      covered(f, "otpce", ALICE, "1.3.6.1.4.1.311.21.8.1.1", T0 + 59, NULL));
  /* Another scope, front or account is not covered. */
  assert_false(
      covered(f, "otpce", ALICE, "1.3.6.1.4.1.311.21.8.1.2", T0 + 61, NULL));
  assert_false(
      covered(f, "wstep", ALICE, "1.3.6.1.4.1.311.21.8.1.1", T0 + 61, NULL));
  assert_false(
      covered(f, "otpce", BOB, "1.3.6.1.4.1.311.21.8.1.1", T0 + 61, NULL));
  /* Survives a restart. */
  restart(f);
  assert_true(
      covered(f, "otpce", ALICE, "1.3.6.1.4.1.311.21.8.1.1", T0 + 61, NULL));

  /* A later Accept replaces the cached one. */
  record(f, "otpce", ALICE, "1.3.6.1.4.1.311.21.8.1.1", "TX-b");
  assert_int_equal(decide(f, "TX-b", "accepted", 10, T0 + 600), 200);
  assert_true(
      covered(f, "otpce", ALICE, "1.3.6.1.4.1.311.21.8.1.1", T0 + 1000, &a));
  assert_string_equal(a.transaction, "TX-b");
}

static void test_accept_caches_atomically(void **state)
{
  struct fx *f = *state;
  struct owcp_error err = {{0}};
  struct bridge_confirm_outcome o = {"TX-m", "accepted", NULL,  0,
                                     NULL,   480,        T0 + 1};
  struct bridge_confirmation c;
  bool found;
  int status = 0;

  record(f, "mras", ALICE, "sip:alice@example.com", "TX-m");
  /* An Accept without its receipt is refused as a whole: neither the
   * outcome nor the approval is stored. */
  assert_int_equal(bridge_store_confirm_decide(f->st, &o, &status, NULL, &err),
                   BRIDGE_STORE_INVALID);
  assert_non_null(strstr(err.msg, "confirmation_answer_has_receipt"));
  assert_int_equal(count(f, "SELECT count(*) FROM approvals"), 0);
  assert_int_equal(bridge_store_confirm_get(f->st, "TX-m", &c, &found, &err),
                   0);
  assert_string_equal(c.state, "pending");
  bridge_confirmation_free(&c);

  /* With it: outcome and approval together. */
  o.receipt = RECEIPT;
  o.receipt_len = sizeof RECEIPT;
  assert_int_equal(bridge_store_confirm_decide(f->st, &o, &status, NULL, &err),
                   0);
  assert_int_equal(status, 200);
  assert_int_equal(count(f, "SELECT count(*) FROM approvals a JOIN "
                            "confirmations c ON c.id = a.confirmation_id "
                            "WHERE c.transaction = 'TX-m' AND c.state = "
                            "'accepted' AND a.scope = "
                            "'sip:alice@example.com' AND a.expires_at - "
                            "a.approved_at = interval '480 minutes'"),
                   1);

  /* Without cache minutes (confirm = required), or not an Accept: no
   * approval. */
  record(f, "wstep", ALICE, "User", "TX-r");
  assert_int_equal(decide(f, "TX-r", "accepted", 0, T0 + 2), 200);
  record(f, "wstep", ALICE, "Machine", "TX-j");
  assert_int_equal(decide(f, "TX-j", "rejected", 60, T0 + 2), 200);
  record(f, "wstep", ALICE, "Other", "TX-e");
  assert_int_equal(decide(f, "TX-e", "expired", 60, T0 + 2), 200);
  assert_int_equal(count(f, "SELECT count(*) FROM approvals"), 1);
  /* An approval cannot be made to point at a confirmation that is not an
   * Accept of the same key. */
  PQclear(raw(f->conninfo, "SELECT 1"));
  {
    PGresult *r =
        raw(f->conninfo, "INSERT INTO approvals (front, account, scope, "
                         "approved_at, expires_at, confirmation_id) SELECT "
                         "'wstep', account, 'Machine', now(), now() + interval "
                         "'1 hour', id FROM confirmations WHERE transaction = "
                         "'TX-j'");

    assert_int_equal(PQresultStatus(r), PGRES_FATAL_ERROR);
    assert_non_null(strstr(PQresultErrorMessage(r),
                           "approval_needs_accepted_confirmation"));
    PQclear(r);
  }
}

/* ---- issuances
 * ---------------------------------------------------------------
 */

static void test_issuance_record(void **state)
{
  struct fx *f = *state;
  struct owcp_error err = {{0}};
  struct bridge_issuance_new in = {"mras",
                                   ALICE,
                                   "sip:alice@example.com",
                                   "turn",
                                   "TURN credentials for sip:alice@example.com",
                                   "{\"duration\": 480}",
                                   "TX-t",
                                   T0 + 3};
  int64_t id = 0;
  char *v;

  record(f, "mras", ALICE, "sip:alice@example.com", "TX-t");
  /* Not accepted yet: refused, naming the invariant. */
  assert_int_equal(bridge_store_issuance_record(f->st, &in, &id, &err),
                   BRIDGE_STORE_INVALID);
  assert_non_null(strstr(err.msg, "issuance_needs_accepted_confirmation"));
  assert_int_equal(decide(f, "TX-t", "accepted", 0, T0 + 2), 200);
  assert_int_equal(bridge_store_issuance_record(f->st, &in, &id, &err), 0);
  assert_true(id > 0);
  v = value(f, "SELECT i.front || '|' || i.account || '|' || i.scope || '|' "
               "|| i.kind || '|' || i.description || '|' || "
               "(i.details->>'duration') || '|' || c.transaction || '|' || "
               "extract(epoch from i.created_at)::bigint FROM issuances i "
               "JOIN confirmations c ON c.id = i.confirmation_id");
  assert_string_equal(v, "mras|alice@example.com|sip:alice@example.com|turn|"
                         "TURN credentials for sip:alice@example.com|480|"
                         "TX-t|1800000003");
  free(v);

  /* Another identity than the Accept covered: refused. */
  in.scope = "sip:bob@example.com";
  assert_int_equal(bridge_store_issuance_record(f->st, &in, &id, &err),
                   BRIDGE_STORE_INVALID);
  /* confirm = off: no transaction. */
  in.transaction = NULL;
  in.details_json = NULL;
  in.kind = "cmc";
  in.front = "otpce";
  assert_int_equal(bridge_store_issuance_record(f->st, &in, &id, &err), 0);
  assert_int_equal(count(f, "SELECT count(*) FROM issuances"), 2);
}

/* ---- confirm = required: one Accept, one issuance ---------------------------
 */

#define RETRY_SCOPE "1.2.3 csr-sha256:ab"
#define RETRY_WINDOW 15 /* minutes */
#define RETRY_WINDOW_S ((time_t)RETRY_WINDOW * 60)

/* The transaction a retry of (otpce, account, RETRY_SCOPE) finds at now
 * ("" when none) and its state. */
static void retry_at(struct fx *f, const char *account, time_t now,
                     const char *want_tx, const char *want_state)
{
  struct owcp_error err = {{0}};
  struct bridge_confirmation c;
  bool found = true;

  assert_int_equal(bridge_store_confirm_retry(f->st, "otpce", account,
                                              RETRY_SCOPE, RETRY_WINDOW, now,
                                              &c, &found, &err),
                   0);
  if (want_tx == NULL) {
    if (found)
      fail_msg("at T0%+lld a retry finds %s (%s), expected none",
               (long long)(now - T0), c.transaction, c.state);
    return;
  }
  if (!found)
    fail_msg("at T0%+lld a retry finds nothing, expected %s",
             (long long)(now - T0), want_tx);
  assert_string_equal(c.transaction, want_tx);
  assert_string_equal(c.state, want_state);
  assert_string_equal(c.request, "<Request>x</Request>");
  bridge_confirmation_free(&c);
}

static struct bridge_issuance_new cmc_issuance(const char *tx)
{
  return (struct bridge_issuance_new){"otpce",       ALICE, RETRY_SCOPE, "cmc",
                                      "CMC request", NULL,  tx,          0};
}

/* A pending question is followed until it expires; an Accept serves a
 * retry within the window only while nothing was issued from it; a
 * Reject, another account or another scope serve nothing. */
static void test_confirm_retry(void **state)
{
  struct fx *f = *state;
  struct owcp_error err = {{0}};
  struct bridge_issuance_new in = cmc_issuance("TX-r1");
  int status = 0;

  retry_at(f, ALICE, T0, NULL, NULL);
  record(f, "otpce", ALICE, RETRY_SCOPE, "TX-r1");
  record(f, "otpce", ALICE, "1.2.3 csr-sha256:cd", "TX-other-csr");
  record(f, "otpce", BOB, RETRY_SCOPE, "TX-bob");
  retry_at(f, ALICE, T0 + 1, "TX-r1", "pending");
  retry_at(f, ALICE, T0 + 120, NULL, NULL); /* its expiry */
  assert_int_equal(decide(f, "TX-r1", "accepted", 0, T0 + 10), 200);
  assert_int_equal(count(f, "SELECT count(*) FROM approvals"), 0);
  retry_at(f, ALICE, T0 + 10, "TX-r1", "accepted");
  retry_at(f, ALICE, T0 + 10 + RETRY_WINDOW_S - 1, "TX-r1", "accepted");
  retry_at(f, ALICE, T0 + 10 + RETRY_WINDOW_S, NULL, NULL);
  retry_at(f, ALICE, T0 + 9, NULL, NULL); /* decided in the future */
  /* handed out once: consumed */
  assert_int_equal(
      bridge_store_issuance_record_once(f->st, &in, &status, NULL, &err), 0);
  assert_int_equal(status, 200);
  retry_at(f, ALICE, T0 + 11, NULL, NULL);
  /* a Reject serves nothing */
  record(f, "otpce", ALICE, RETRY_SCOPE, "TX-r2");
  assert_int_equal(decide(f, "TX-r2", "rejected", 0, T0 + 20), 200);
  retry_at(f, ALICE, T0 + 21, NULL, NULL);
  /* the latest of several is found */
  record(f, "otpce", ALICE, RETRY_SCOPE, "TX-r3");
  retry_at(f, ALICE, T0 + 22, "TX-r3", "pending");
}

/* The second consumer of one Accept gets 409 and records nothing; a
 * transaction that is not accepted, or none, is refused. */
static void test_issuance_once(void **state)
{
  struct fx *f = *state;
  struct owcp_error err = {{0}};
  struct bridge_issuance_new in = cmc_issuance("TX-o");
  int status = 0;
  int64_t id = 0;

  record(f, "otpce", ALICE, RETRY_SCOPE, "TX-o");
  assert_int_equal(
      bridge_store_issuance_record_once(f->st, &in, &status, &id, &err),
      BRIDGE_STORE_INVALID);
  assert_non_null(strstr(err.msg, "issuance_needs_accepted_confirmation"));
  assert_int_equal(decide(f, "TX-o", "accepted", 0, T0 + 2), 200);
  assert_int_equal(
      bridge_store_issuance_record_once(f->st, &in, &status, &id, &err), 0);
  assert_int_equal(status, 200);
  assert_true(id > 0);
  assert_int_equal(
      bridge_store_issuance_record_once(f->st, &in, &status, &id, &err), 0);
  assert_int_equal(status, 409);
  assert_int_equal(id, 0);
  assert_int_equal(count(f, "SELECT count(*) FROM issuances"), 1);
  in.transaction = NULL;
  assert_int_equal(
      bridge_store_issuance_record_once(f->st, &in, &status, &id, &err),
      BRIDGE_STORE_INVALID);
  in.transaction = "TX-unknown";
  assert_int_equal(
      bridge_store_issuance_record_once(f->st, &in, &status, &id, &err),
      BRIDGE_STORE_INVALID);
}

#define ONCE_ROUNDS 40

struct consumer {
  struct fx *f;
  int status[ONCE_ROUNDS];
  int rc;
};

static void *consume(void *arg)
{
  struct consumer *c = arg;
  struct owcp_error err = {{0}};
  struct bridge_store *st;
  char tx[32];

  c->rc = bridge_store_acquire(c->f->pool, 5000, &st, &err);
  for (int i = 0; i < ONCE_ROUNDS && c->rc == 0; i++) {
    snprintf(tx, sizeof tx, "TX-race-%d", i);
    struct bridge_issuance_new in = cmc_issuance(tx);
    c->rc =
        bridge_store_issuance_record_once(st, &in, &c->status[i], NULL, &err);
  }
  bridge_store_release(c->f->pool, st);
  return NULL;
}

/* Two requests holding the same Accept at the same moment: exactly one
 * records, every time. */
static void test_issuance_once_concurrent(void **state)
{
  struct fx *f = *state;
  struct consumer a = {f, {0}, -1};
  struct consumer b = {f, {0}, -1};
  pthread_t ta, tb;
  char tx[32];

  for (int i = 0; i < ONCE_ROUNDS; i++) {
    snprintf(tx, sizeof tx, "TX-race-%d", i);
    record(f, "otpce", ALICE, RETRY_SCOPE, tx);
    assert_int_equal(decide(f, tx, "accepted", 0, T0 + 1), 200);
  }
  assert_int_equal(pthread_create(&ta, NULL, consume, &a), 0);
  assert_int_equal(pthread_create(&tb, NULL, consume, &b), 0);
  pthread_join(ta, NULL);
  pthread_join(tb, NULL);
  assert_int_equal(a.rc, 0);
  assert_int_equal(b.rc, 0);
  for (int i = 0; i < ONCE_ROUNDS; i++)
    if ((a.status[i] == 200) == (b.status[i] == 200))
      fail_msg("Accept %d: statuses %d and %d, expected one 200 and one 409", i,
               a.status[i], b.status[i]);
  assert_int_equal(count(f, "SELECT count(*) FROM issuances"), ONCE_ROUNDS);
}

/* ---- constraint violations come back as clear errors ------------------------
 */

static void expect_invalid(int rc, const struct owcp_error *err,
                           const char *needle)
{
  assert_int_equal(rc, BRIDGE_STORE_INVALID);
  if (strstr(err->msg, needle) == NULL)
    fail_msg("error \"%s\" does not name \"%s\"", err->msg, needle);
}

static void test_constraints_clear_errors(void **state)
{
  struct fx *f = *state;
  struct owcp_error err = {{0}};
  struct bridge_confirm_new in = {"xyz",  ALICE, "User",  "TX-c",
                                  "<R/>", 4,     T0 + 10, T0};
  struct bridge_confirm_outcome o = {"TX-c", "pending", NULL, 0, NULL, 0, T0};
  struct bridge_issuance_new is = {"wstep", ALICE, "User", "cmc",
                                   "d",     "[1]", NULL,   T0};
  int status;

  expect_invalid(bridge_store_confirm_record(f->st, &in, &err), &err,
                 "confirmation_front_known");
  in.front = "wstep";
  in.expires = T0;
  expect_invalid(bridge_store_confirm_record(f->st, &in, &err), &err,
                 "confirmation_expires_after_created");
  in.expires = T0 + 10;
  in.request_len = 0;
  expect_invalid(bridge_store_confirm_record(f->st, &in, &err), &err,
                 "confirmation_request_not_empty");
  in.request_len = 4;
  assert_int_equal(bridge_store_confirm_record(f->st, &in, &err), 0);
  expect_invalid(bridge_store_confirm_record(f->st, &in, &err), &err,
                 "confirmation_transaction_unique");
  expect_invalid(bridge_store_confirm_decide(f->st, &o, &status, NULL, &err),
                 &err, "final state");
  o.state = "maybe";
  expect_invalid(bridge_store_confirm_decide(f->st, &o, &status, NULL, &err),
                 &err, "confirmation_state_known");
  o.state = "expired";
  o.receipt = RECEIPT;
  o.receipt_len = sizeof RECEIPT;
  expect_invalid(bridge_store_confirm_decide(f->st, &o, &status, NULL, &err),
                 &err, "confirmation_receipt_only_when_answered");
  expect_invalid(bridge_store_issuance_record(f->st, &is, NULL, &err), &err,
                 "issuance_details_object");
  is.details_json = "not json";
  expect_invalid(bridge_store_issuance_record(f->st, &is, NULL, &err), &err,
                 "json");
  is.details_json = NULL;
  is.transaction = "TX-nowhere";
  expect_invalid(bridge_store_issuance_record(f->st, &is, NULL, &err), &err,
                 "no confirmation has OWCP transaction \"TX-nowhere\"");
  is.transaction = NULL;
  is.kind = "certificate";
  expect_invalid(bridge_store_issuance_record(f->st, &is, NULL, &err), &err,
                 "issuance_certificate_iff_kind");
  /* Nothing of the refused calls was stored, and the connection is still
   * usable. */
  assert_int_equal(count(f, "SELECT count(*) FROM issuances"), 0);
  assert_int_equal(count(f, "SELECT count(*) FROM confirmations WHERE state "
                            "= 'pending'"),
                   1);
  assert_int_equal(bridge_store_ping(f->st, &err), 0);
}

/* ---- certificates
 * ------------------------------------------------------------ */

static void test_cert_serial_unique(void **state)
{
  struct fx *f = *state;
  struct owcp_error err = {{0}};
  struct bridge_cert_new c = {
      "0A", "CN=Alice Example", "User", ALICE,      NULL,
      DER,  sizeof DER,         T0,     T0 + 86400, T0 + 1};
  struct bridge_cert_list list = {0};

  expect_invalid(bridge_store_cert_insert(f->st, &c, &err), &err,
                 "certificate_serial_canonical_hex");
  c.serial = "A";
  assert_int_equal(bridge_store_cert_insert(f->st, &c, &err), 0);
  expect_invalid(bridge_store_cert_insert(f->st, &c, &err), &err,
                 "certificate_serial_unique");
  c.serial = "B";
  c.not_after = T0;
  expect_invalid(bridge_store_cert_insert(f->st, &c, &err), &err,
                 "certificate_validity_ordered");
  /* An accepted confirmation as the allowing transaction. */
  record(f, "wstep", BOB, "Machine", "TX-cert");
  assert_int_equal(decide(f, "TX-cert", "accepted", 0, T0 + 1), 200);
  c.serial = "1F00";
  c.subject = "CN=Bob";
  c.template_name = "Machine";
  c.requester = BOB;
  c.transaction = "TX-cert";
  c.not_after = T0 + 3600;
  c.now = T0 + 2;
  assert_int_equal(bridge_store_cert_insert(f->st, &c, &err), 0);

  assert_int_equal(bridge_store_cert_list(f->st, NULL, 10, &list, &err), 0);
  assert_int_equal(list.count, 2);
  assert_string_equal(list.items[0].serial, "A");
  assert_string_equal(list.items[0].subject, "CN=Alice Example");
  assert_string_equal(list.items[0].template_name, "User");
  assert_string_equal(list.items[0].requester, ALICE);
  assert_string_equal(list.items[0].transaction, "");
  assert_int_equal(list.items[0].not_before, T0);
  assert_int_equal(list.items[0].not_after, T0 + 86400);
  assert_int_equal(list.items[0].issued_at, T0 + 1);
  assert_string_equal(list.items[1].serial, "1F00");
  assert_string_equal(list.items[1].transaction, "TX-cert");
  bridge_cert_list_free(&list);
  assert_int_equal(bridge_store_cert_list(f->st, BOB, 10, &list, &err), 0);
  assert_int_equal(list.count, 1);
  assert_string_equal(list.items[0].serial, "1F00");
  bridge_cert_list_free(&list);
  /* Each certificate has its issuance row. */
  assert_int_equal(count(f, "SELECT count(*) FROM issuances WHERE kind = "
                            "'certificate' AND certificate_serial IN ('A', "
                            "'1F00')"),
                   2);
}

/* ---- WSTEP requests
 * ------------------------------------------------------------ */

static int32_t wstep_create(struct fx *f, const char *account, const char *tx)
{
  struct owcp_error err = {{0}};
  struct bridge_wstep_new in = {account, "User", DER, sizeof DER, tx, T0};
  int32_t id = 0;

  assert_int_equal(bridge_store_wstep_create(f->st, &in, &id, &err), 0);
  return id;
}

static void test_wstep_request_ids(void **state)
{
  struct fx *f = *state;
  struct owcp_error err = {{0}};
  struct bridge_wstep_new in = {ALICE, "User", DER, sizeof DER, NULL, T0};
  int32_t ids[20];
  int32_t id;

  for (int i = 0; i < 10; i++)
    ids[i] = wstep_create(f, ALICE, NULL);
  restart(f);
  for (int i = 10; i < 20; i++)
    ids[i] = wstep_create(f, BOB, NULL);
  for (int i = 0; i < 20; i++) {
    assert_true(ids[i] >= 1);
    for (int j = 0; j < i; j++)
      assert_int_not_equal(ids[i], ids[j]);
  }
  /* The range ends at 2^31-1 and is never wrapped around. */
  PQclear(raw(f->conninfo, "SELECT setval('wstep_request_ids', 2147483646)"));
  assert_int_equal(bridge_store_wstep_create(f->st, &in, &id, &err), 0);
  assert_int_equal(id, INT32_MAX);
  expect_invalid(bridge_store_wstep_create(f->st, &in, &id, &err), &err,
                 "maximum value");
  assert_int_equal(count(f, "SELECT count(*) FROM wstep_requests"), 21);
}

static void test_wstep_lifecycle(void **state)
{
  struct fx *f = *state;
  struct owcp_error err = {{0}};
  struct bridge_wstep_cert cert = {
      "7F", "CN=alice@example.com", DER,   sizeof DER,
      T0,   T0 + 86400L * 365,      T0 + 9};
  struct bridge_wstep_request r;
  struct bridge_cert_list list = {0};
  int32_t id, id2;
  bool found;
  int status;

  id = wstep_create(f, ALICE, NULL);
  record(f, "wstep", ALICE, "User", "TX-w");
  /* Only the submitting account sees it. */
  assert_int_equal(bridge_store_wstep_get(f->st, id, BOB, &r, &found, &err), 0);
  assert_false(found);
  assert_int_equal(
      bridge_store_wstep_attach(f->st, id, BOB, "TX-w", &status, &err), 0);
  assert_int_equal(status, 404);
  assert_int_equal(
      bridge_store_wstep_attach(f->st, id, ALICE, "TX-w", &status, &err), 0);
  assert_int_equal(status, 200);
  assert_int_equal(
      bridge_store_wstep_attach(f->st, id, ALICE, "TX-w", &status, &err), 0);
  assert_int_equal(status, 409);

  /* Not accepted yet: nothing issued. */
  assert_int_equal(
      bridge_store_wstep_issue(f->st, id, ALICE, &cert, &status, &err), 0);
  assert_int_equal(status, 403);
  restart(f);
  assert_int_equal(bridge_store_wstep_get(f->st, id, ALICE, &r, &found, &err),
                   0);
  assert_true(found);
  assert_int_equal(r.request_id, id);
  assert_string_equal(r.template_name, "User");
  assert_int_equal(r.csr_len, sizeof DER);
  assert_memory_equal(r.csr, DER, sizeof DER);
  assert_string_equal(r.state, "pending");
  assert_string_equal(r.transaction, "TX-w");
  assert_string_equal(r.confirmation_state, "pending");
  assert_null(r.certificate);
  assert_int_equal(r.created, T0);
  bridge_wstep_request_free(&r);

  /* Accepted while "down": the next query issues it. */
  assert_int_equal(decide(f, "TX-w", "accepted", 0, T0 + 8), 200);
  assert_int_equal(
      bridge_store_wstep_issue(f->st, id, BOB, &cert, &status, &err), 0);
  assert_int_equal(status, 404);
  assert_int_equal(
      bridge_store_wstep_issue(f->st, id, ALICE, &cert, &status, &err), 0);
  assert_int_equal(status, 200);
  assert_int_equal(
      bridge_store_wstep_issue(f->st, id, ALICE, &cert, &status, &err), 0);
  assert_int_equal(status, 409);
  assert_int_equal(bridge_store_wstep_get(f->st, id, ALICE, &r, &found, &err),
                   0);
  assert_string_equal(r.state, "issued");
  assert_string_equal(r.serial, "7F");
  assert_int_equal(r.certificate_len, sizeof DER);
  assert_memory_equal(r.certificate, DER, sizeof DER);
  bridge_wstep_request_free(&r);
  assert_int_equal(bridge_store_cert_list(f->st, ALICE, 10, &list, &err), 0);
  assert_int_equal(list.count, 1);
  assert_string_equal(list.items[0].transaction, "TX-w");
  assert_string_equal(list.items[0].template_name, "User");
  assert_string_equal(list.items[0].subject, "CN=alice@example.com");
  bridge_cert_list_free(&list);
  assert_int_equal(bridge_store_wstep_deny(f->st, id, ALICE, "rejected",
                                           T0 + 10, &status, &err),
                   0);
  assert_int_equal(status, 409);

  /* A rejected one is denied with its reason. */
  record(f, "wstep", ALICE, "User", "TX-w2");
  id2 = wstep_create(f, ALICE, "TX-w2");
  assert_int_equal(decide(f, "TX-w2", "rejected", 0, T0 + 8), 200);
  assert_int_equal(
      bridge_store_wstep_issue(f->st, id2, ALICE, &cert, &status, &err), 0);
  assert_int_equal(status, 403);
  assert_int_equal(bridge_store_wstep_deny(f->st, id2, ALICE, "rejected",
                                           T0 + 10, &status, &err),
                   0);
  assert_int_equal(status, 200);
  assert_int_equal(bridge_store_wstep_get(f->st, id2, ALICE, &r, &found, &err),
                   0);
  assert_string_equal(r.state, "denied");
  assert_string_equal(r.reason, "rejected");
  assert_string_equal(r.confirmation_state, "rejected");
  bridge_wstep_request_free(&r);
  assert_int_equal(
      bridge_store_wstep_deny(f->st, 99999, ALICE, "x", T0, &status, &err), 0);
  assert_int_equal(status, 404);
}

/* ---- MRAS Digest nonces
 * -------------------------------------------------------- */

static bool use(struct fx *f, const char *nonce, uint32_t nc, time_t now)
{
  struct owcp_error err = {{0}};
  bool fresh = false;

  assert_int_equal(
      bridge_store_nonce_use(f->st, nonce, nc, T0 + 300, now, &fresh, &err), 0);
  return fresh;
}

static void test_nonce_once(void **state)
{
  struct fx *f = *state;
  struct owcp_error err = {{0}};
  int64_t purged = -1;
  bool fresh;

  assert_true(use(f, "n1", 1, T0));
  assert_false(use(f, "n1", 1, T0 + 1));
  assert_true(use(f, "n1", 2, T0 + 1));
  assert_true(use(f, "n2", 1, T0 + 1));
  restart(f);
  assert_false(use(f, "n1", 1, T0 + 2));
  assert_false(use(f, "n1", 2, T0 + 2));
  expect_invalid(
      bridge_store_nonce_use(f->st, "n3", 0, T0 + 300, T0, &fresh, &err), &err,
      "digest_nc_range");

  assert_int_equal(bridge_store_nonce_purge(f->st, T0 + 299, &purged, &err), 0);
  assert_int_equal(purged, 0);
  assert_int_equal(bridge_store_nonce_purge(f->st, T0 + 300, &purged, &err), 0);
  assert_int_equal(purged, 3);
  assert_int_equal(count(f, "SELECT count(*) FROM digest_nonces"), 0);
}

#define RACE_PAIRS 300

struct racer {
  struct fx *f;
  bool fresh[RACE_PAIRS];
  int rc;
};

static void *race(void *arg)
{
  struct racer *r = arg;
  struct owcp_error err = {{0}};
  struct bridge_store *st;
  char nonce[32];

  r->rc = bridge_store_acquire(r->f->pool, 5000, &st, &err);
  if (r->rc != 0)
    return NULL;
  for (int i = 0; i < RACE_PAIRS && r->rc == 0; i++) {
    snprintf(nonce, sizeof nonce, "race-%d", i / 3);
    r->rc = bridge_store_nonce_use(st, nonce, (uint32_t)(i % 3) + 1, T0 + 300,
                                   T0, &r->fresh[i], &err);
  }
  bridge_store_release(r->f->pool, st);
  return NULL;
}

static void test_nonce_concurrent(void **state)
{
  struct fx *f = *state;
  struct racer a = {f, {0}, -1};
  struct racer b = {f, {0}, -1};
  pthread_t ta, tb;

  assert_int_equal(pthread_create(&ta, NULL, race, &a), 0);
  assert_int_equal(pthread_create(&tb, NULL, race, &b), 0);
  pthread_join(ta, NULL);
  pthread_join(tb, NULL);
  assert_int_equal(a.rc, 0);
  assert_int_equal(b.rc, 0);
  for (int i = 0; i < RACE_PAIRS; i++)
    if (a.fresh[i] == b.fresh[i])
      fail_msg("pair %d: %s", i, a.fresh[i] ? "both won" : "neither won");
  assert_int_equal(count(f, "SELECT count(*) FROM digest_nonces"), RACE_PAIRS);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
  const struct CMUnitTest tests[] = {
      T(test_migrate_twice),
      cmocka_unit_test(test_unavailable),
      T(test_confirm_survives_restart),
      T(test_approval_expiry_and_scope),
      T(test_accept_caches_atomically),
      T(test_issuance_record),
      T(test_confirm_retry),
      T(test_issuance_once),
      T(test_issuance_once_concurrent),
      T(test_constraints_clear_errors),
      T(test_cert_serial_unique),
      T(test_wstep_request_ids),
      T(test_wstep_lifecycle),
      T(test_nonce_once),
      T(test_nonce_concurrent),
  };
#undef T
  return cmocka_run_group_tests(tests, NULL, NULL);
}
