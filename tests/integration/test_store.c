/*
 * test_store.c — integration tests of dispatcher/store_*.c, the stored
 * procedures of sql/dispatcher/ and dispatcher/logchain.c against a real
 * PostgreSQL (OWCP_TEST_DB from scripts/with-pg.sh; missing means FAIL, not
 * skip). Every test runs in a fresh database of its own.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "logchain.h"
#include "store.h"
#include "store_group.h"
#include "store_metrics.h"
#include "owcp/service/pg.h"

#include <libpq-fe.h>
#include <pthread.h>

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 ((time_t)1800000000) /* a fixed clock, 2027-01-15 */

struct fx {
  char conninfo[1024];
  struct store *st;
  int64_t req; /* requestor access@example.com, rate 1000 */
  char c1[40]; /* clients of alice@example.com */
  char c2[40];
};

static int db_counter;

/* Runs SQL text on a raw connection (test scaffolding and tampering). */
static PGresult *raw(const char *conninfo, const char *sql)
{
  PGconn *c = PQconnectdb(conninfo);
  PGresult *r;

  assert_int_equal(PQstatus(c), CONNECTION_OK);
  r = PQexec(c, sql);
  PQfinish(c);
  return r;
}

static void add_client(struct fx *f, const char *account, char *id_out,
                       size_t id_size)
{
  struct owcp_error err = {{0}};
  unsigned char code_hash[32];
  struct store_new_client c = {0};
  char *id = owcp_random_id();
  char *code = owcp_random_id();
  int status;

  owcp_sha256(code, strlen(code), code_hash);
  assert_int_equal(
      store_code_issue(f->st, account, code_hash, 60, T0, &status, &err), 0);
  assert_int_equal(status, 200);
  c.account = account;
  c.client_id = id;
  c.description = "test phone";
  owcp_sha256(id, strlen(id), c.token_hash);
  c.cert_der = (const unsigned char *)"\x30\x00";
  c.cert_len = 2;
  c.now = T0;
  assert_int_equal(store_cd_register_code(f->st, &c, code_hash, &status, &err),
                   0);
  assert_int_equal(status, 200);
  assert_true(strlen(id) < id_size);
  snprintf(id_out, id_size, "%s", id);
  free(id);
  free(code);
}

static int setup(void **state)
{
  const char *base = getenv("OWCP_TEST_DB");
  struct owcp_error err = {{0}};
  struct fx *f = calloc(1, sizeof *f);
  unsigned char th[32];
  char sql[128];
  int applied, status;

  if (base == NULL || f == NULL) {
    fprintf(stderr, "OWCP_TEST_DB is not set: run under scripts/with-pg.sh\n");
    free(f);
    return -1;
  }
  snprintf(sql, sizeof sql, "CREATE DATABASE t_store_%d", ++db_counter);
  PQclear(raw(base, sql));
  snprintf(f->conninfo, sizeof f->conninfo, "%s dbname=t_store_%d", base,
           db_counter);
  f->st = store_open(f->conninfo, &err);
  if (f->st == NULL ||
      store_migrate(f->st, OWCP_SQL_DIR, &applied, &err) != 0) {
    fprintf(stderr, "setup: %s\n", err.msg);
    store_close(f->st);
    free(f);
    return -1;
  }
  store_account_add(f->st, "alice@example.com", &status, &err);
  owcp_sha256("tok", 3, th);
  store_requestor_add(f->st, "access@example.com", th, 1000, &status, &f->req,
                      &err);
  add_client(f, "alice@example.com", f->c1, sizeof f->c1);
  add_client(f, "alice@example.com", f->c2, sizeof f->c2);
  *state = f;
  return 0;
}

static int teardown(void **state)
{
  struct fx *f = *state;

  store_close(f->st);
  free(f);
  return 0;
}

/* RD-Confirm of xml to alice by requestor req, Completion
 * https://rp.example/done. */
static struct store_confirm_out confirm_as(struct fx *f, int64_t req,
                                           const char *ident, const char *xml,
                                           time_t now, int timeout)
{
  struct owcp_error err = {{0}};
  struct store_confirm_in in = {0};
  struct store_confirm_out out;

  in.requestor_id = req;
  in.account = "alice@example.com";
  in.identifier = ident;
  in.request_xml = xml;
  owcp_sha256(xml, strlen(xml), in.request_sha256);
  in.type = "login";
  in.completion = "https://rp.example/done";
  in.timeout_seconds = timeout;
  in.now = now;
  assert_int_equal(store_confirm(f->st, &in, &out, &err), 0);
  return out;
}

static struct store_confirm_out confirm(struct fx *f, const char *ident,
                                        const char *xml, time_t now,
                                        int timeout)
{
  return confirm_as(f, f->req, ident, xml, now, timeout);
}

/* store_outbox_claim with nothing in flight and no per-requestor bound
 * below limit. */
static int claim(struct store *st, int limit, int lease, time_t now,
                 struct store_outbox_batch *b, struct owcp_error *err)
{
  struct store_outbox_claim_opts o = {
      .limit = limit, .per_requestor = limit, .lease_seconds = lease};

  return store_outbox_claim(st, &o, now, b, err);
}

/* Accept of tx by client; match: the digits of a device approval. */
static int reply_match(struct store *st, const char *tx, const char *client,
                       time_t now, const char *match)
{
  struct owcp_error err = {{0}};
  const char *ver[] = {"PIN", "odd \"quoted\" \\ value"};
  struct store_reply_in in = {tx,
                              client,
                              "Accept",
                              NULL,
                              ver,
                              2,
                              (const unsigned char *)"\x30\x03\x02\x01\x00",
                              5,
                              now,
                              match,
                              86400};
  struct store_reply_out out = {0};

  assert_int_equal(store_reply(st, &in, &out, &err), 0);
  /* The time it reports is the one stored, as RD-Status reads it. */
  if (out.status == 200 && now != 0)
    assert_int_equal(out.responded, now);
  return out.status;
}

static int reply(struct store *st, const char *tx, const char *client,
                 time_t now)
{
  return reply_match(st, tx, client, now, NULL);
}

static int64_t count(struct fx *f, const char *sql)
{
  PGresult *r = raw(f->conninfo, sql);
  int64_t n;

  assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
  n = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
  PQclear(r);
  return n;
}

/* The numbered migrations shipped in sql/dispatcher/ (NNN_name.sql). */
static long long count_migration_files(void)
{
  DIR *d = opendir(OWCP_SQL_DIR);
  struct dirent *de;
  long long n = 0;

  assert_non_null(d);
  while ((de = readdir(d)) != NULL) {
    size_t len = strlen(de->d_name);

    if (len > 8 && isdigit((unsigned char)de->d_name[0]) &&
        strcmp(de->d_name + len - 4, ".sql") == 0)
      n++;
  }
  closedir(d);
  return n;
}

static void test_migrate_idempotent(void **state)
{
  struct fx *f = *state;
  struct owcp_error err = {{0}};
  int applied = -1;

  assert_int_equal(store_migrate(f->st, OWCP_SQL_DIR, &applied, &err), 0);
  assert_int_equal(applied, 0);
  assert_int_equal(count(f, "SELECT count(*) FROM schema_migrations"),
                   count_migration_files());
  assert_int_equal(store_ping(f->st, &err), 0);
}

static void test_confirm_outcomes(void **state)
{
  struct fx *f = *state;
  struct owcp_error err = {{0}};
  struct store_confirm_out a = confirm(f, "id-1", "<a/>", T0, 300);
  struct store_confirm_out b = confirm(f, "id-1", "<a/>", T0 + 5, 300);
  struct store_confirm_out c = confirm(f, "id-1", "<b/>", T0, 300);
  struct store_confirm_in in = {0};
  struct store_confirm_out out;
  int status;

  assert_int_equal(a.status, 202);
  assert_int_equal(strlen(a.transaction), 32);
  assert_int_equal(a.expires, T0 + 300);
  assert_int_equal(b.status, 202);
  assert_string_equal(a.transaction, b.transaction);
  assert_int_equal(c.status, 409);

  in.requestor_id = f->req;
  in.account = "nobody@example.com";
  in.identifier = "id-2";
  in.request_xml = "<c/>";
  in.type = "login";
  in.timeout_seconds = 60;
  in.now = T0;
  assert_int_equal(store_confirm(f->st, &in, &out, &err), 0);
  assert_int_equal(out.status, 404);

  in.account = "alice@example.com";
  in.require_registration = true;
  assert_int_equal(store_confirm(f->st, &in, &out, &err), 0);
  assert_int_equal(out.status, 403);
  struct store_rd_register_in rin = {.requestor_id = f->req,
                                     .account = "alice@example.com"};
  struct store_rd_register_out rout;
  assert_int_equal(store_rd_register(f->st, &rin, &rout, &err), 0);
  assert_int_equal(rout.status, 200);
  assert_true(rout.ready);
  /* A registration made without consent (the option off) does not count
   * under --require-registration; an administrator's consent does. */
  assert_int_equal(store_confirm(f->st, &in, &out, &err), 0);
  assert_int_equal(out.status, 403);
  assert_int_equal(store_consent_add(f->st, "alice@example.com",
                                     "access@example.com", &status, &err),
                   0);
  assert_int_equal(status, 200);
  assert_int_equal(store_confirm(f->st, &in, &out, &err), 0);
  assert_int_equal(out.status, 202);
  rin.account = "zed@example.com";
  assert_int_equal(store_rd_register(f->st, &rin, &rout, &err), 0);
  assert_int_equal(rout.status, 404);
  assert_int_equal(
      count(f, "SELECT count(*) FROM log WHERE event = 'transaction.created'"),
      2);
}

static void test_rate_limit(void **state)
{
  struct fx *f = *state;
  struct owcp_error err = {{0}};
  unsigned char th[32];
  struct store_confirm_in in = {0};
  struct store_confirm_out out;
  int64_t id;
  int status;
  char ident[16];

  owcp_sha256("slow", 4, th);
  store_requestor_add(f->st, "slow@example.com", th, 2, &status, &id, &err);
  assert_int_equal(status, 200);
  in.requestor_id = id;
  in.account = "alice@example.com";
  in.request_xml = "<r/>";
  in.type = "login";
  in.timeout_seconds = 60;
  in.now = T0 + 20; /* 40 s before the minute ends */
  for (int i = 0; i < 3; i++) {
    snprintf(ident, sizeof ident, "r%d", i);
    in.identifier = ident;
    assert_int_equal(store_confirm(f->st, &in, &out, &err), 0);
    assert_int_equal(out.status, i < 2 ? 202 : 429);
  }
  assert_int_equal(out.retry_after, 40);
  in.now = T0 + 60; /* next window */
  in.identifier = "r9";
  assert_int_equal(store_confirm(f->st, &in, &out, &err), 0);
  assert_int_equal(out.status, 202);
}

/* A requestor of rate `rate` (token hash from name). */
static int64_t rated(struct fx *f, const char *name, int rate)
{
  struct owcp_error err = {{0}};
  unsigned char th[32];
  int64_t id;
  int status;

  owcp_sha256(name, strlen(name), th);
  assert_int_equal(
      store_requestor_add(f->st, name, th, rate, &status, &id, &err), 0);
  assert_int_equal(status, 200);
  return id;
}

static struct store_rate_grant take(struct fx *f, int64_t req, time_t now,
                                    int max)
{
  struct owcp_error err = {{0}};
  struct store_rate_grant g;

  assert_int_equal(store_rate_take(f->st, req, now, max, &g, &err), 0);
  return g;
}

/* owcp_rate_take's chunks (the per-process leases' supply, ratelease.h):
 * what is left / 256, at least 1, at most max, never beyond the limit; the
 * window's whole limit and not one unit more; a refused take still counts
 * and answers the seconds left; the window's remaining time to keep units
 * for; a disabled or unknown requestor gets the attempt's unit only. */
static void test_rate_chunks(void **state)
{
  struct fx *f = *state;
  struct store_rate_grant g;
  int64_t big = rated(f, "big@example.com", 1000000);
  int64_t mid = rated(f, "mid@example.com", 1000);
  int64_t small = rated(f, "small@example.com", 511);
  int64_t capped = rated(f, "capped@example.com", 600);

  g = take(f, big, T0 + 20, 64);
  assert_int_equal(g.granted, 64);
  assert_int_equal(g.retry_after, 0);
  assert_int_equal(g.valid_ms, 40000); /* the window ends in 40 s */
  assert_int_equal(take(f, big, T0 + 20, 10).granted, 10); /* max */
  assert_int_equal(take(f, big, T0 + 20, 1).granted, 1);
  assert_int_equal(take(f, big, T0 + 20, 1).valid_ms, 0); /* nothing kept */
  assert_int_equal(take(f, mid, T0, 64).granted, 3);      /* 1000 / 256 */
  assert_int_equal(take(f, small, T0, 64).granted, 1);    /* 511 / 256 = 1 */
  assert_int_equal(take(f, small, T0, 64).granted, 1);

  /* Taken in chunks, the window gives exactly its limit. */
  int total = 0, takes = 0, last = 0;
  while ((g = take(f, capped, T0 + 30, 64)).granted > 0) {
    assert_true(g.granted <= 64);
    assert_int_equal(g.retry_after, 0);
    total += g.granted;
    last = g.granted;
    takes++;
  }
  assert_int_equal(total, 600);
  assert_int_equal(last, 1);
  assert_true(takes < 600); /* some chunks were larger than one */
  assert_int_equal(g.retry_after, 30);
  assert_int_equal(g.valid_ms, 0);
  /* Over the limit, every attempt still counts. */
  assert_int_equal(count(f, "SELECT count FROM rate_windows WHERE "
                            "requestor_id = (SELECT id FROM requestors "
                            "WHERE address = 'capped@example.com')"),
                   601);
  /* A confirmation counted by store_confirm itself is refused too. */
  struct owcp_error err = {{0}};
  struct store_confirm_in in = {0};
  struct store_confirm_out out;
  in.requestor_id = capped;
  in.account = "alice@example.com";
  in.identifier = "over";
  in.request_xml = "<r/>";
  in.type = "login";
  in.timeout_seconds = 60;
  in.now = T0 + 30;
  assert_int_equal(store_confirm(f->st, &in, &out, &err), 0);
  assert_int_equal(out.status, 429);
  assert_int_equal(out.retry_after, 30);
  /* Counted already (a lease's unit): not counted again, so admitted. */
  in.rate_counted = true;
  assert_int_equal(store_confirm(f->st, &in, &out, &err), 0);
  assert_int_equal(out.status, 202);
  /* The next window starts afresh. */
  assert_int_equal(take(f, capped, T0 + 60, 64).granted, 2); /* 600/256 */

  /* Disabled: the attempt's unit, nothing to keep (owcp_confirm answers
   * 403); unknown: likewise, and nothing counted. */
  int status = 0;
  assert_int_equal(
      store_requestor_disable(f->st, "mid@example.com", &status, &err), 0);
  assert_int_equal(status, 200);
  g = take(f, mid, T0, 64);
  assert_int_equal(g.granted, 1);
  assert_int_equal(g.valid_ms, 0);
  g = take(f, 999999, T0, 64);
  assert_int_equal(g.granted, 1);
  assert_int_equal(g.retry_after, 0);
  assert_int_equal(g.valid_ms, 0);
}

static void test_list_order_and_expiry(void **state)
{
  struct fx *f = *state;
  struct owcp_error err = {{0}};
  struct store_pending_list l;
  struct store_confirm_out a = confirm(f, "L1", "<1/>", T0, 10);
  struct store_confirm_out b = confirm(f, "L2", "<2/>", T0 + 1, 300);
  struct store_confirm_out c = confirm(f, "L3", "<3/>", T0 + 2, 300);

  assert_int_equal(store_list(f->st, f->c1, 10, T0 + 5, &l, &err), 0);
  assert_int_equal(l.count, 3);
  assert_true(l.items[0].unlisted && l.items[1].unlisted &&
              l.items[2].unlisted);
  assert_string_equal(l.items[0].transaction, a.transaction);
  assert_string_equal(l.items[1].transaction, b.transaction);
  assert_string_equal(l.items[2].transaction, c.transaction);
  assert_string_equal(l.items[0].from, "access@example.com");
  assert_string_equal(l.items[2].request_xml, "<3/>");
  store_pending_list_free(&l);

  /* a expired at T0+10; max 1 gives only the oldest remaining. */
  assert_int_equal(store_list(f->st, f->c2, 1, T0 + 11, &l, &err), 0);
  assert_int_equal(l.count, 1);
  assert_string_equal(l.items[0].transaction, b.transaction);
  store_pending_list_free(&l);
  assert_int_equal(store_list(f->st, "unknownclientxxxxxxx", 10, T0, &l, &err),
                   0);
  assert_int_equal(l.count, 0);
  /* CD-List's read writes nothing: the listing is recorded separately. */
  assert_int_equal(
      count(f, "SELECT count(*) FROM log WHERE event = 'transaction.listed'"),
      0);
  assert_int_equal(count(f, "SELECT count(*) FROM transactions "
                            "WHERE first_listed_at IS NOT NULL"),
                   0);
}

/* A delivery of tx to client at second t (+ us microseconds). */
static struct store_listed listing(const char *tx, const char *client, time_t t,
                                   int us)
{
  struct store_listed l = {.at_us = (int64_t)t * 1000000 + us};

  snprintf(l.transaction, sizeof l.transaction, "%s", tx);
  snprintf(l.client, sizeof l.client, "%s", client);
  return l;
}

/* transaction.listed entries of tx (naming client, unless NULL). */
static int64_t listed_entries(struct fx *f, const char *tx, const char *client)
{
  char sql[300];

  snprintf(sql, sizeof sql,
           "SELECT count(*) FROM log WHERE event = 'transaction.listed' "
           "AND transaction = '%s' AND client = coalesce(%s%s%s, client)",
           tx, client ? "'" : "", client ? client : "NULL", client ? "'" : "");
  return count(f, sql);
}

/* Recorded once per transaction: the earliest delivery of a batch wins,
 * a second batch changes nothing, and CD-List's read then says listed. */
static void test_listed_record_once(void **state)
{
  struct fx *f = *state;
  struct owcp_error err = {{0}};
  struct store_pending_list l;
  struct store_confirm_out a = confirm(f, "LR1", "<1/>", T0, 300);
  struct store_confirm_out b = confirm(f, "LR2", "<2/>", T0, 300);
  struct store_listed batch[] = {
      listing(a.transaction, f->c1, T0 + 2, 0),
      listing(a.transaction, f->c2, T0 + 1, 250000),
      listing(b.transaction, f->c1, T0 + 3, 0),
      listing("NoSuchTransactionxxxxxx", f->c1, T0 + 3, 0)};
  int recorded = -1;

  assert_int_equal(store_listed_record(f->st, batch, 4, &recorded, &err), 0);
  assert_int_equal(recorded, 2);
  assert_int_equal(store_listed_record(f->st, batch, 3, &recorded, &err), 0);
  assert_int_equal(recorded, 0);
  assert_int_equal(listed_entries(f, a.transaction, NULL), 1);
  assert_int_equal(listed_entries(f, b.transaction, NULL), 1);
  /* The earliest delivery's client is the one named. */
  assert_int_equal(store_listed_record(f->st, &batch[1], 1, &recorded, &err),
                   0);
  assert_int_equal(recorded, 0);
  assert_int_equal(listed_entries(f, a.transaction, f->c2), 1);
  assert_int_equal(count(f,
                         "SELECT extract(epoch FROM first_listed_at) * 1000000 "
                         "FROM transactions WHERE identifier = 'LR1'"),
                   (int64_t)(T0 + 1) * 1000000 + 250000);
  assert_int_equal(store_list(f->st, f->c1, 10, T0 + 5, &l, &err), 0);
  assert_int_equal(l.count, 2);
  assert_false(l.items[0].unlisted || l.items[1].unlisted);
  store_pending_list_free(&l);
  assert_int_equal(store_listed_record(f->st, batch, 0, &recorded, &err), 0);
  assert_int_equal(recorded, 0);
}

/* A row another transaction holds (a CD-Reply being committed) is not
 * waited for: the listing comes back busy, the others of the batch are
 * recorded, and once the row is free it is recorded. */
static void test_listed_record_busy(void **state)
{
  struct fx *f = *state;
  struct owcp_error err = {{0}};
  struct store_confirm_out a = confirm(f, "LB1", "<1/>", T0, 300);
  struct store_confirm_out b = confirm(f, "LB2", "<2/>", T0, 300);
  struct store_listed batch[] = {listing(a.transaction, f->c1, T0 + 1, 0),
                                 listing(b.transaction, f->c1, T0 + 1, 0)};
  PGconn *holder = PQconnectdb(f->conninfo);
  char sql[256];
  int recorded = -1;

  assert_int_equal(PQstatus(holder), CONNECTION_OK);
  snprintf(sql, sizeof sql,
           "BEGIN; SELECT 1 FROM transactions WHERE id = '%s' FOR UPDATE",
           a.transaction);
  PQclear(PQexec(holder, sql));
  assert_int_equal(store_listed_record(f->st, batch, 2, &recorded, &err), 0);
  assert_int_equal(recorded, 1);
  assert_true(batch[0].busy);
  assert_false(batch[1].busy);
  assert_int_equal(listed_entries(f, a.transaction, NULL), 0);
  assert_int_equal(listed_entries(f, b.transaction, NULL), 1);
  PQclear(PQexec(holder, "COMMIT"));
  PQfinish(holder);
  assert_int_equal(store_listed_record(f->st, batch, 2, &recorded, &err), 0);
  assert_int_equal(recorded, 1);
  assert_false(batch[0].busy);
  assert_int_equal(listed_entries(f, a.transaction, NULL), 1);
  assert_int_equal(listed_entries(f, b.transaction, NULL), 1);
}

#define LISTED_RACE_TX 40

struct listed_race {
  struct fx *f;
  struct store_listed *items;
  size_t n;
  int recorded, rc;
  pthread_barrier_t *barrier;
};

static void *race_listed(void *arg)
{
  struct listed_race *r = arg;
  struct owcp_error err = {{0}};
  struct store *st = store_open(r->f->conninfo, &err);

  r->rc = -1;
  if (st == NULL)
    return NULL;
  pthread_barrier_wait(r->barrier);
  for (int round = 0; round < 5; round++) {
    int n = 0;

    r->rc = store_listed_record(st, r->items, r->n, &n, &err);
    if (r->rc != 0)
      break;
    r->recorded += n;
  }
  store_close(st);
  return NULL;
}

/* Two connections (two dispatcher processes) recording the same
 * transactions at once, in opposite orders: each is recorded exactly once
 * and neither batch fails (no deadlock). */
static void test_listed_record_race(void **state)
{
  struct fx *f = *state;
  struct store_listed fwd[LISTED_RACE_TX], rev[LISTED_RACE_TX];
  pthread_barrier_t barrier;
  struct listed_race r[2] = {{f, fwd, LISTED_RACE_TX, 0, 0, &barrier},
                             {f, rev, LISTED_RACE_TX, 0, 0, &barrier}};
  pthread_t th[2];

  for (int i = 0; i < LISTED_RACE_TX; i++) {
    char ident[16];

    snprintf(ident, sizeof ident, "LX%d", i);
    struct store_confirm_out c = confirm(f, ident, "<x/>", T0, 300);
    fwd[i] = listing(c.transaction, f->c1, T0 + 1, i);
    rev[LISTED_RACE_TX - 1 - i] = listing(c.transaction, f->c2, T0 + 1, i);
  }
  pthread_barrier_init(&barrier, NULL, 2);
  for (int i = 0; i < 2; i++)
    pthread_create(&th[i], NULL, race_listed, &r[i]);
  for (int i = 0; i < 2; i++)
    pthread_join(th[i], NULL);
  pthread_barrier_destroy(&barrier);
  assert_int_equal(r[0].rc, 0);
  assert_int_equal(r[1].rc, 0);
  assert_int_equal(r[0].recorded + r[1].recorded, LISTED_RACE_TX);
  assert_int_equal(
      count(f, "SELECT count(*) FROM log WHERE event = 'transaction.listed'"),
      LISTED_RACE_TX);
  assert_int_equal(count(f, "SELECT count(DISTINCT transaction) FROM log "
                            "WHERE event = 'transaction.listed'"),
                   LISTED_RACE_TX);
}

/* A CD-Reply that commits before its listing's batch records the listing
 * itself, before the answer; the late batch then adds nothing. */
static void test_listed_before_answered(void **state)
{
  struct fx *f = *state;
  struct owcp_error err = {{0}};
  struct store_confirm_out a = confirm(f, "LB1", "<1/>", T0, 300);
  struct store_confirm_out b = confirm(f, "LB2", "<2/>", T0, 300);
  struct store_listed late = listing(a.transaction, f->c1, T0 + 1, 0);
  struct store_listed early = listing(b.transaction, f->c1, T0 + 1, 0);
  int recorded = -1;

  assert_int_equal(store_listed_record(f->st, &early, 1, &recorded, &err), 0);
  assert_int_equal(recorded, 1);
  assert_int_equal(reply(f->st, a.transaction, f->c1, T0 + 2), 200);
  assert_int_equal(reply(f->st, b.transaction, f->c1, T0 + 2), 200);
  assert_int_equal(store_listed_record(f->st, &late, 1, &recorded, &err), 0);
  assert_int_equal(recorded, 0);
  assert_int_equal(listed_entries(f, a.transaction, NULL), 1);
  assert_int_equal(listed_entries(f, b.transaction, NULL), 1);
  /* Every answered transaction: exactly one listed entry, before it. */
  assert_int_equal(
      count(f, "SELECT count(*) FROM log an WHERE an.event = "
               "'transaction.answered' AND 1 <> (SELECT count(*) FROM log li "
               "WHERE li.event = 'transaction.listed' AND li.transaction = "
               "an.transaction AND li.seq < an.seq)"),
      0);
  assert_int_equal(
      count(f, "SELECT count(*) FROM log WHERE event = 'transaction.answered'"),
      2);
}

struct race {
  struct fx *f;
  const char *client;
  const char *tx;
  int status;
  pthread_barrier_t *barrier;
};

static void *race_reply(void *arg)
{
  struct race *r = arg;
  struct owcp_error err = {{0}};
  struct store *st = store_open(r->f->conninfo, &err);

  if (st == NULL)
    return NULL;
  pthread_barrier_wait(r->barrier);
  r->status = reply(st, r->tx, r->client, T0 + 1);
  store_close(st);
  return NULL;
}

static void test_reply_first_wins(void **state)
{
  struct fx *f = *state;
  struct owcp_error err = {{0}};
  struct store_confirm_out a = confirm(f, "R1", "<1/>", T0, 300);
  struct store_result res;
  pthread_barrier_t barrier;
  struct race r[2] = {{f, f->c1, a.transaction, 0, &barrier},
                      {f, f->c2, a.transaction, 0, &barrier}};
  pthread_t th[2];

  pthread_barrier_init(&barrier, NULL, 2);
  for (int i = 0; i < 2; i++)
    pthread_create(&th[i], NULL, race_reply, &r[i]);
  for (int i = 0; i < 2; i++)
    pthread_join(th[i], NULL);
  pthread_barrier_destroy(&barrier);
  assert_true((r[0].status == 200 && r[1].status == 409) ||
              (r[0].status == 409 && r[1].status == 200));

  assert_int_equal(
      store_status(f->st, f->req, a.transaction, T0 + 2, &res, &err), 0);
  assert_int_equal(res.status, 200);
  assert_string_equal(res.response, "Accept");
  assert_string_equal(res.identifier, "R1");
  assert_int_equal(res.verification_count, 2);
  assert_string_equal(res.verification[1], "odd \"quoted\" \\ value");
  assert_int_equal(res.receipt_len, 5);
  assert_memory_equal(res.receipt, "\x30\x03\x02\x01\x00", 5);
  store_result_free(&res);
  /* RD-Final on an answered transaction returns the result. */
  assert_int_equal(
      store_final(f->st, f->req, a.transaction, T0 + 3, &res, &err), 0);
  assert_int_equal(res.status, 200);
  store_result_free(&res);
  /* Another requestor sees 404. */
  assert_int_equal(
      store_status(f->st, f->req + 99, a.transaction, T0, &res, &err), 0);
  assert_int_equal(res.status, 404);
  store_result_free(&res);
  assert_int_equal(count(f, "SELECT count(*) FROM outbox"), 1);
}

static void test_408_after_expiry_and_final(void **state)
{
  struct fx *f = *state;
  struct owcp_error err = {{0}};
  struct store_confirm_out a = confirm(f, "E1", "<1/>", T0, 10);
  struct store_confirm_out b = confirm(f, "E2", "<2/>", T0, 300);
  struct store_confirm_out c = confirm(f, "E3", "<3/>", T0, 10);
  struct store_result res;
  int n = -1;

  assert_int_equal(reply(f->st, a.transaction, f->c1, T0 + 10), 408);
  assert_int_equal(
      store_final(f->st, f->req, b.transaction, T0 + 1, &res, &err), 0);
  assert_int_equal(res.status, 408);
  store_result_free(&res);
  assert_int_equal(reply(f->st, b.transaction, f->c1, T0 + 2), 408);
  assert_int_equal(store_expire(f->st, 100, T0 + 11, &n, &err), 0);
  assert_int_equal(n, 1); /* only c was still pending */
  assert_int_equal(reply(f->st, c.transaction, f->c1, T0 + 12), 408);
  assert_int_equal(reply(f->st, "nonexistenttransactionxxxxxxxxxx", f->c1, T0),
                   404);
  assert_int_equal(
      count(f, "SELECT count(*) FROM log WHERE event = 'transaction.expired'"),
      2);
  assert_int_equal(count(f, "SELECT count(*) FROM log WHERE event = "
                            "'transaction.cancelled'"),
                   1);
  assert_int_equal(count(f, "SELECT count(*) FROM outbox"), 3);
}

struct claimer {
  struct fx *f;
  int64_t ids[64];
  int n;
};

static void *claim_all(void *arg)
{
  struct claimer *c = arg;
  struct owcp_error err = {{0}};
  struct store *st = store_open(c->f->conninfo, &err);
  struct store_outbox_batch b;

  if (st == NULL)
    return NULL;
  for (;;) {
    if (claim(st, 1, 60, T0 + 100, &b, &err) != 0 || b.count == 0) {
      store_outbox_batch_free(&b);
      break;
    }
    c->ids[c->n++] = b.items[0].id;
    store_outbox_batch_free(&b);
  }
  store_close(st);
  return NULL;
}

static void test_outbox_skip_locked(void **state)
{
  struct fx *f = *state;
  struct owcp_error err = {{0}};
  struct claimer c[2] = {{f, {0}, 0}, {f, {0}, 0}};
  pthread_t th[2];
  char ident[16];
  struct store_result res;

  for (int i = 0; i < 20; i++) {
    struct store_confirm_out o;

    snprintf(ident, sizeof ident, "O%d", i);
    o = confirm(f, ident, "<o/>", T0, 300);
    assert_int_equal(
        store_final(f->st, f->req, o.transaction, T0 + 1, &res, &err), 0);
    store_result_free(&res);
  }
  for (int i = 0; i < 2; i++)
    pthread_create(&th[i], NULL, claim_all, &c[i]);
  for (int i = 0; i < 2; i++)
    pthread_join(th[i], NULL);
  assert_int_equal(c[0].n + c[1].n, 20);
  for (int i = 0; i < c[0].n; i++)
    for (int j = 0; j < c[1].n; j++)
      assert_true(c[0].ids[i] != c[1].ids[j]);
}

static void test_outbox_backoff(void **state)
{
  struct fx *f = *state;
  struct owcp_error err = {{0}};
  struct store_outbox_batch b;
  struct store_result res;
  struct store_confirm_out o = confirm(f, "B1", "<b/>", T0, 300);
  const int want[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 600, 600};
  bool gave_up;
  time_t next;
  int status;

  assert_int_equal(
      store_final(f->st, f->req, o.transaction, T0 + 1, &res, &err), 0);
  store_result_free(&res);
  assert_int_equal(claim(f->st, 10, 30, T0 + 1, &b, &err), 0);
  assert_int_equal(b.count, 1);
  assert_string_equal(b.items[0].uri, "https://rp.example/done");
  assert_null(b.items[0].body);
  /* Leased: not claimable again until the lease ends. */
  {
    struct store_outbox_batch again;

    assert_int_equal(claim(f->st, 10, 30, T0 + 2, &again, &err), 0);
    assert_int_equal(again.count, 0);
    store_outbox_batch_free(&again);
    assert_int_equal(claim(f->st, 10, 30, T0 + 31, &again, &err), 0);
    assert_int_equal(again.count, 1);
    store_outbox_batch_free(&again);
  }
  for (int i = 0; i < 12; i++) {
    assert_int_equal(store_outbox_failed(f->st, b.items[0].id, "refused",
                                         "https://rp.example/done", T0 + 100,
                                         &gave_up, &next, &err),
                     0);
    assert_false(gave_up);
    assert_int_equal(next, T0 + 100 + want[i]);
  }
  assert_int_equal(store_outbox_failed(f->st, b.items[0].id, "refused",
                                       "https://rp.example/done",
                                       T0 + 1 + 86400, &gave_up, &next, &err),
                   0);
  assert_true(gave_up);
  assert_int_equal(store_outbox_delivered(f->st, b.items[0].id,
                                          "https://rp.example/done", T0,
                                          &status, &err),
                   0);
  assert_int_equal(status, 404);
  assert_int_equal(
      count(f, "SELECT count(*) FROM log WHERE event = 'completion.failed'"),
      1);
  store_outbox_batch_free(&b);
}

/* Queues a final outcome for delivery for requestor req (a transaction
 * finished at now; 0: the database's clock). */
static void queue_for(struct fx *f, int64_t req, const char *ident, time_t now)
{
  struct owcp_error err = {{0}};
  struct store_confirm_out o = confirm_as(f, req, ident, "<f/>", now, 300);
  struct store_result res;

  assert_int_equal(store_final(f->st, req, o.transaction, now, &res, &err), 0);
  store_result_free(&res);
}

/* Claims take turns between requestors: B's one row, due after all of
 * A's backlog, comes in the first claim of two rows, and in a claim of
 * one row as soon as A has a delivery in flight. */
static void test_outbox_fair_claims(void **state)
{
  struct fx *f = *state;
  struct owcp_error err = {{0}};
  struct store_outbox_batch b;
  unsigned char th[OWCP_SHA256_LEN];
  int64_t req_b = 0;
  int status;
  char ident[16];

  owcp_sha256("tok-b", 5, th);
  assert_int_equal(store_requestor_add(f->st, "other@example.com", th, 1000,
                                       &status, &req_b, &err),
                   0);
  for (int i = 0; i < 10; i++) {
    snprintf(ident, sizeof ident, "A%d", i);
    queue_for(f, f->req, ident, T0 + i);
  }
  queue_for(f, req_b, "B0", T0 + 20);

  assert_int_equal(claim(f->st, 2, 60, T0 + 30, &b, &err), 0);
  assert_int_equal(b.count, 2);
  assert_true(b.items[0].requestor != b.items[1].requestor);
  store_outbox_batch_free(&b);

  /* a fresh B row, A busy with one delivery: B's row goes first */
  queue_for(f, req_b, "B1", T0 + 25);
  {
    const int64_t busy[] = {f->req};
    const int counts[] = {1};
    struct store_outbox_claim_opts o = {.limit = 1,
                                        .per_requestor = 1,
                                        .lease_seconds = 60,
                                        .busy_requestors = busy,
                                        .busy_counts = counts,
                                        .busy_count = 1};

    assert_int_equal(store_outbox_claim(f->st, &o, T0 + 30, &b, &err), 0);
    assert_int_equal(b.count, 1);
    assert_int_equal(b.items[0].requestor, req_b);
    store_outbox_batch_free(&b);
  }
}

/* Released rows are due again at once, without an attempt counted; a row
 * whose lease was renewed by another claim is not released. */
static void test_outbox_release(void **state)
{
  struct fx *f = *state;
  struct owcp_error err = {{0}};
  struct store_outbox_batch b, again;
  struct store_outbox_release r;
  int released = -1;

  queue_for(f, f->req, "R0", 0); /* release works on the real clock */
  assert_int_equal(claim(f->st, 10, 600, 0, &b, &err), 0);
  assert_int_equal(b.count, 1);
  r = (struct store_outbox_release){b.items[0].id, b.items[0].lease_us + 1, 0};
  assert_int_equal(store_outbox_release(f->st, &r, 1, &released, &err), 0);
  assert_int_equal(released, 0); /* not our lease */
  r.lease_us = b.items[0].lease_us;
  assert_int_equal(store_outbox_release(f->st, &r, 1, &released, &err), 0);
  assert_int_equal(released, 1);
  assert_int_equal(claim(f->st, 10, 600, 0, &again, &err), 0);
  assert_int_equal(again.count, 1);
  assert_int_equal(again.items[0].attempts, 0);
  store_outbox_batch_free(&again);
  store_outbox_batch_free(&b);
}

static void test_code_single_use_and_expiry(void **state)
{
  struct fx *f = *state;
  struct owcp_error err = {{0}};
  unsigned char code[32], old[32];
  struct store_new_client c = {0};
  int status;

  owcp_sha256("code-1", 6, code);
  owcp_sha256("code-2", 6, old);
  store_code_issue(f->st, "alice@example.com", code, 60, T0, &status, &err);
  store_code_issue(f->st, "alice@example.com", old, 60, T0, &status, &err);
  c.account = "alice@example.com";
  c.client_id = "client-aaaaaaaaaaaaaaaaaaa";
  c.description = "laptop";
  owcp_sha256("t1", 2, c.token_hash);
  c.cert_der = (const unsigned char *)"\x30\x00";
  c.cert_len = 2;
  c.now = T0 + 1;
  assert_int_equal(store_cd_register_code(f->st, &c, code, &status, &err), 0);
  assert_int_equal(status, 200);
  c.client_id = "client-bbbbbbbbbbbbbbbbbbb";
  owcp_sha256("t2", 2, c.token_hash);
  assert_int_equal(store_cd_register_code(f->st, &c, code, &status, &err), 0);
  assert_int_equal(status, 401); /* used */
  c.now = T0 + 61;
  assert_int_equal(store_cd_register_code(f->st, &c, old, &status, &err), 0);
  assert_int_equal(status, 401); /* expired */
  c.account = "bob@example.com";
  c.now = T0 + 1;
  assert_int_equal(store_cd_register_code(f->st, &c, old, &status, &err), 0);
  assert_int_equal(status, 401); /* other account */
}

static void test_approval_flow(void **state)
{
  struct fx *f = *state;
  struct owcp_error err = {{0}};
  struct store_approval_in in = {0};
  struct store_approval_out out;
  struct store_new_client c = {0};
  struct store_pending_list l;
  char *tx = owcp_random_id();
  int status;

  in.account = "alice@example.com";
  in.description = "new phone";
  owcp_sha256("csr", 3, in.csr_sha256);
  in.transaction = tx;
  in.request_xml = "<Request>register?</Request>";
  in.system_address = "dispatcher@example.com";
  in.timeout_seconds = 300;
  in.now = T0;
  in.asked_from = "192.0.2.7";
  in.match = "42";
  in.per_hour = 5;
  assert_int_equal(store_cd_approval_start(f->st, &in, &out, &err), 0);
  assert_int_equal(out.status, 202);
  assert_true(out.sent);
  assert_string_equal(out.transaction, tx);

  c.account = "alice@example.com";
  c.client_id = "client-newnewnewnewnewnew";
  c.description = "new phone";
  owcp_sha256("tn", 2, c.token_hash);
  c.cert_der = (const unsigned char *)"\x30\x00";
  c.cert_len = 2;
  c.now = T0 + 1;
  assert_int_equal(
      store_cd_approval_finish(f->st, tx, in.csr_sha256, &c, &status, &err), 0);
  assert_int_equal(status, 202);
  assert_int_equal(store_list(f->st, f->c1, 10, T0 + 1, &l, &err), 0);
  assert_int_equal(l.count, 1);
  assert_string_equal(l.items[0].from, "dispatcher@example.com");
  store_pending_list_free(&l);
  /* Accepting an approval needs the digits (400: nothing changed). */
  assert_int_equal(reply(f->st, tx, f->c1, T0 + 2), 400);
  assert_int_equal(reply_match(f->st, tx, f->c1, T0 + 2, "42"), 200);
  assert_int_equal(
      store_cd_approval_finish(f->st, tx, in.csr_sha256, &c, &status, &err), 0);
  assert_int_equal(status, 200);
  assert_int_equal(
      store_cd_approval_finish(f->st, tx, in.csr_sha256, &c, &status, &err), 0);
  assert_int_equal(status, 409);
  /* A different CSR cannot ride on the approval. */
  assert_int_equal(
      store_cd_approval_finish(f->st, tx, c.token_hash, &c, &status, &err), 0);
  assert_int_equal(status, 404);
  /* An unknown account gets the same answer; nobody is asked. */
  char *tx2 = owcp_random_id();
  in.account = "nobody@example.com";
  in.transaction = tx2;
  assert_int_equal(store_cd_approval_start(f->st, &in, &out, &err), 0);
  assert_int_equal(out.status, 202);
  assert_false(out.sent);
  free(tx2);
  free(tx);
}

static void test_log_refuses_changes(void **state)
{
  struct fx *f = *state;
  /* The triggers are the only guard: log_chain has no foreign key to log
   * (012_durable_path_cost.sql). */
  const char *sql[] = {"UPDATE log SET detail = 'x'",
                       "DELETE FROM log",
                       "TRUNCATE log",
                       "TRUNCATE log CASCADE",
                       "UPDATE log_chain SET pos = pos",
                       "DELETE FROM log_chain",
                       "TRUNCATE log_chain"};
  struct owcp_error err = {{0}};
  int sealed;

  assert_int_equal(logchain_seal(f->st, 0, &sealed, &err), 0);
  assert_true(sealed > 0);
  for (size_t i = 0; i < sizeof sql / sizeof *sql; i++) {
    PGresult *r = raw(f->conninfo, sql[i]); /* as superuser postgres */

    assert_int_equal(PQresultStatus(r), PGRES_FATAL_ERROR);
    if (strstr(PQresultErrorMessage(r), "append-only") == NULL)
      fail_msg("%s: %s", sql[i], PQresultErrorMessage(r));
    PQclear(r);
  }
}

static void test_chain_verify_detects_tamper(void **state)
{
  struct fx *f = *state;
  struct owcp_error err = {{0}};
  struct logchain_report rep = {0};
  PGresult *r;

  confirm(f, "V1", "<v/>", T0, 300);
  assert_int_equal(logchain_verify(f->st, &rep, &err), 0);
  assert_true(rep.ok);
  assert_true(rep.entries >= 5);
  confirm(f, "V2", "<v/>", T0, 300); /* sealed by the next verify */
  assert_int_equal(logchain_verify(f->st, &rep, &err), 0);
  assert_true(rep.ok);
  r = raw(f->conninfo, "ALTER TABLE log DISABLE TRIGGER ALL; UPDATE log SET "
                       "detail = 'forged' WHERE seq = 3");
  assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
  PQclear(r);
  assert_int_equal(logchain_verify(f->st, &rep, &err), 0);
  assert_false(rep.ok);
  assert_int_equal(rep.broken_pos, 3);
}

/* An entry whose transaction commits after later entries were sealed (its
 * seq is lower than theirs) must still be sealed: the horizon may not move
 * past a transaction that was in progress. */
static void test_seal_late_commit(void **state)
{
  struct fx *f = *state;
  struct owcp_error err = {{0}};
  struct logchain_report rep = {0};
  PGconn *late = PQconnectdb(f->conninfo);
  PGresult *r;
  int sealed;

  assert_int_equal(PQstatus(late), CONNECTION_OK);
  r = PQexec(late, "BEGIN; INSERT INTO log (event, detail) VALUES "
                   "('test.late', 'committed last')");
  assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
  PQclear(r);
  confirm(f, "L1", "<l/>", T0, 300); /* entries with higher seq, committed */
  assert_int_equal(logchain_seal(f->st, 0, &sealed, &err), 0);
  assert_true(sealed > 0);
  r = PQexec(late, "COMMIT");
  assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
  PQclear(r);
  PQfinish(late);
  assert_int_equal(
      count(f, "SELECT count(*) FROM log l WHERE NOT EXISTS (SELECT 1 FROM "
               "log_chain c WHERE c.seq = l.seq)"),
      1);
  assert_int_equal(logchain_seal(f->st, 0, &sealed, &err), 0);
  assert_int_equal(sealed, 1);
  assert_int_equal(
      count(f, "SELECT count(*) FROM log l WHERE NOT EXISTS (SELECT 1 FROM "
               "log_chain c WHERE c.seq = l.seq)"),
      0);
  /* With nothing in progress the horizon has moved past every entry, so
   * the next pass does not look at them again. */
  assert_int_equal(logchain_seal(f->st, 0, &sealed, &err), 0);
  assert_int_equal(sealed, 0);
  assert_int_equal(count(f, "SELECT count(*) FROM log WHERE xid >= (SELECT "
                            "xid FROM log_seal_horizon)"),
                   0);
  assert_int_equal(logchain_verify(f->st, &rep, &err), 0);
  assert_true(rep.ok);
}

/* The first row's first column of sql as text (caller frees). */
static char *text_of(struct fx *f, const char *sql)
{
  PGresult *r = raw(f->conninfo, sql);
  char *v;

  if (PQresultStatus(r) != PGRES_TUPLES_OK)
    fail_msg("%s: %s", sql, PQresultErrorMessage(r));
  v = strdup(PQgetvalue(r, 0, 0));
  PQclear(r);
  return v;
}

/* CD-Reply's answering UPDATE also stamps finished_at: one new version of
 * the transaction row per answer, not two (012_durable_path_cost.sql,
 * issue 11). pg_stat_xact_user_tables counts this transaction's updates. */
static void test_answer_one_row_version(void **state)
{
  struct fx *f = *state;
  struct owcp_error err = {{0}};
  struct store_confirm_out a = confirm(f, "O1", "<o/>", T0, 300);
  struct store_confirm_out b = confirm(f, "O2", "<o/>", T0, 300);
  struct store_result res;
  char sql[512];

  snprintf(sql, sizeof sql,
           "BEGIN; SELECT owcp_reply('%s', '%s', 'Accept', NULL, "
           "ARRAY['PIN'], '\\x3000'::bytea, now(), NULL, 60); "
           "SELECT n_tup_upd FROM pg_stat_xact_user_tables "
           "WHERE relname = 'transactions'",
           a.transaction, f->c1); /* rolled back when raw() disconnects */
  assert_int_equal(count(f, sql), 1);

  assert_int_equal(reply(f->st, a.transaction, f->c1, T0 + 5), 200);
  snprintf(sql, sizeof sql,
           "SELECT count(*) FROM transactions WHERE id = '%s' AND "
           "state = 'answered' AND finished_at = responded_at",
           a.transaction);
  assert_int_equal(count(f, sql), 1);
  snprintf(sql, sizeof sql,
           "SELECT count(*) FROM outbox WHERE transaction_id = '%s'",
           a.transaction);
  assert_int_equal(count(f, sql), 1);
  /* RD-Final still stamps finished_at and queues DR-Complete. */
  assert_int_equal(
      store_final(f->st, f->req, b.transaction, T0 + 6, &res, &err), 0);
  assert_int_equal(res.status, 408);
  store_result_free(&res);
  snprintf(sql, sizeof sql,
           "SELECT count(*) FROM transactions t JOIN outbox o ON "
           "o.transaction_id = t.id WHERE t.id = '%s' AND "
           "t.state = 'cancelled' AND t.finished_at IS NOT NULL",
           b.transaction);
  assert_int_equal(count(f, sql), 1);
}

/* Sealing locks no log entry: log_chain no longer checks its entry with a
 * foreign key (SELECT ... FOR KEY SHARE stamped a lock on every entry). */
static void test_seal_locks_no_entry(void **state)
{
  struct fx *f = *state;
  struct owcp_error err = {{0}};
  struct logchain_report rep = {0};
  int sealed;

  confirm(f, "K1", "<k/>", T0, 300);
  confirm(f, "K2", "<k/>", T0, 300);
  assert_int_equal(logchain_seal(f->st, 0, &sealed, &err), 0);
  assert_true(sealed >= 2);
  assert_int_equal(count(f, "SELECT count(*) FROM log WHERE xmax <> '0'"), 0);
  assert_int_equal(logchain_verify(f->st, &rep, &err), 0);
  assert_true(rep.ok);
  assert_int_equal(rep.entries, count(f, "SELECT count(*) FROM log"));
}

/* The schema of 012_durable_path_cost.sql: the indexes and foreign keys
 * each log append, seal and transaction row pays for. */
static void test_durable_path_schema(void **state)
{
  struct fx *f = *state;
  const char *kept[] = {"DELETE FROM requestors", "DELETE FROM accounts",
                        "DELETE FROM clients", "DELETE FROM transactions",
                        "TRUNCATE clients CASCADE"};
  char *v = text_of(
      f,
      "SELECT string_agg(i.relname || ' ' || am.amname, ', ' ORDER BY "
      "i.relname) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
      "JOIN pg_am am ON am.oid = i.relam WHERE x.indrelid = 'log'::regclass");

  assert_string_equal(v, "log_account btree, log_at btree, log_pkey btree, "
                         "log_transaction btree, log_xid btree");
  free(v);
  v = text_of(f, "SELECT string_agg(indexname, ', ' ORDER BY indexname) "
                 "FROM pg_indexes WHERE tablename = 'transactions'");
  assert_string_equal(v, "transactions_expiring, transactions_pending, "
                         "transactions_pkey, "
                         "transactions_requestor_id_identifier_key");
  free(v);
  assert_int_equal(count(f, "SELECT count(*) FROM pg_constraint WHERE "
                            "conrelid = 'log_chain'::regclass AND "
                            "contype = 'f'"),
                   0);
  /* No foreign key on the rows every flow writes: the rows they referred
   * to cannot be removed instead. */
  v = text_of(f, "SELECT string_agg(conrelid::regclass || '.' || conname, "
                 "', ' ORDER BY conrelid::regclass::text, conname) FROM "
                 "pg_constraint WHERE contype = 'f' AND conrelid IN "
                 "('transactions'::regclass, 'outbox'::regclass)");
  assert_string_equal(v, "");
  free(v);
  for (size_t i = 0; i < sizeof kept / sizeof *kept; i++) {
    PGresult *r = raw(f->conninfo, kept[i]);

    assert_int_equal(PQresultStatus(r), PGRES_FATAL_ERROR);
    if (strstr(PQresultErrorMessage(r), "never removed") == NULL)
      fail_msg("%s: %s", kept[i], PQresultErrorMessage(r));
    PQclear(r);
  }
  assert_int_equal(count(f, "SELECT count(*) FROM clients"), 2);
}

static void test_pool_reconnects(void **state)
{
  struct fx *f = *state;
  struct owcp_error err = {{0}};
  struct store_pool *pool = store_pool_new(f->conninfo, 1, &err);
  struct store *a, *b;
  PGresult *r;

  assert_non_null(pool);
  assert_int_equal(store_pool_acquire(pool, 100, &a, &err), 0);
  /* The only connection is busy: the second acquire times out distinctly. */
  assert_int_equal(store_pool_acquire(pool, 50, &b, &err), STORE_UNAVAILABLE);
  assert_non_null(strstr(err.msg, "database unavailable"));
  store_pool_release(pool, a);
  /* Kill every other backend of this database: the pooled one breaks. */
  r = raw(f->conninfo, "SELECT pg_terminate_backend(pid) FROM "
                       "pg_stat_activity WHERE datname = current_database() "
                       "AND pid <> pg_backend_pid()");
  PQclear(r);
  assert_int_equal(store_pool_acquire(pool, 100, &a, &err), 0);
  if (store_ping(a, &err) == STORE_UNAVAILABLE) {
    store_pool_release(pool, a);
    assert_int_equal(store_pool_acquire(pool, 100, &a, &err), 0);
  }
  assert_int_equal(store_ping(a, &err), 0);
  store_pool_release(pool, a);
  store_pool_free(pool);
}

/* The pool's statistics (for metrics) follow its connections: opened,
 * borrowed, waited for, given up on, given back. */
static void test_pool_stats(void **state)
{
  struct fx *f = *state;
  struct owcp_error err = {{0}};
  struct store_pool *pool = store_pool_new(f->conninfo, 1, &err);
  struct svc_pgpool_stats s;
  struct store *a, *b;

  assert_non_null(pool);
  store_pool_stats(pool, &s);
  assert_int_equal(s.size, 1);
  assert_int_equal(s.open, 0);
  assert_int_equal(s.in_use, 0);
  assert_int_equal(s.acquired, 0);
  assert_int_equal(s.waits, 0);

  assert_int_equal(store_pool_acquire(pool, 100, &a, &err), 0);
  store_pool_stats(pool, &s);
  assert_int_equal(s.open, 1);
  assert_int_equal(s.in_use, 1);
  assert_int_equal(s.acquired, 1);
  assert_int_equal(s.connects, 1);
  assert_int_equal(s.waits, 0);

  assert_int_equal(store_pool_acquire(pool, 60, &b, &err), STORE_UNAVAILABLE);
  store_pool_stats(pool, &s);
  assert_int_equal(s.waits, 1);
  assert_int_equal(s.timeouts, 1);
  assert_true(s.wait_us >= 50000);
  assert_int_equal(s.acquired, 1);

  store_pool_release(pool, a);
  store_pool_stats(pool, &s);
  assert_int_equal(s.in_use, 0);
  assert_int_equal(s.open, 1);
  assert_int_equal(store_pool_acquire(pool, 100, &a, &err), 0);
  store_pool_stats(pool, &s);
  assert_int_equal(s.acquired, 2);
  assert_int_equal(s.connects, 1); /* the open connection was reused */
  store_pool_release(pool, a);
  store_pool_free(pool);
}

/* LISTEN's connection error reads like the pool's: one line, no trailing
 * newline from libpq. */
static void test_listener_error_one_line(void **state)
{
  struct owcp_error a = {{0}}, b = {{0}};
  struct store_listener *l =
      store_listener_open("host=/nonexistent connect_timeout=1", &a);
  struct store *st = store_open("host=/nonexistent connect_timeout=1", &b);
  size_t n = strlen(a.msg);

  assert_null(l);
  assert_null(st);
  assert_true(strncmp(a.msg, "database unavailable for LISTEN: ", 33) == 0);
  assert_true(n > 33 && a.msg[n - 1] != '\n' && a.msg[n - 1] != ' ');
  assert_null(strchr(a.msg, '\n'));
  /* Same reason after each prefix. */
  assert_string_equal(a.msg + 33, b.msg + strlen("database unavailable: "));
}

/* The monitoring queries' own connection fails as the pool's does: a
 * database that cannot be reached, or a connection that broke, is
 * SVC_PG_UNAVAILABLE with one line; the next sample reconnects. */
static void test_metrics_sample(void **state)
{
  struct fx *f = *state;
  struct owcp_error err = {{0}};
  struct store_metrics m;
  char conninfo[1100];

  struct store_metrics_conn *gone =
      store_metrics_conn_new("host=/nonexistent connect_timeout=1");
  assert_non_null(gone);
  assert_int_equal(store_metrics_sample(gone, &m, &err), SVC_PG_UNAVAILABLE);
  assert_true(strncmp(err.msg, "database unavailable for metrics: ", 34) == 0);
  assert_null(strchr(err.msg, '\n'));
  store_metrics_conn_free(gone);

  snprintf(conninfo, sizeof conninfo, "%s application_name=owcp_metrics_test",
           f->conninfo);
  struct store_metrics_conn *c = store_metrics_conn_new(conninfo);
  assert_non_null(c);
  assert_int_equal(store_metrics_sample(c, &m, &err), 0);
  assert_true(m.completion_backlog == 0 && m.log_seal_lag_s >= 0);
  /* The server ends the connection (as a restart would). */
  PGresult *r = raw(f->conninfo, "SELECT pg_terminate_backend(pid) FROM "
                                 "pg_stat_activity WHERE application_name = "
                                 "'owcp_metrics_test'");
  assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
  assert_int_equal(PQntuples(r), 1);
  PQclear(r);
  memset(&err, 0, sizeof err);
  assert_int_equal(store_metrics_sample(c, &m, &err), SVC_PG_UNAVAILABLE);
  assert_true(strlen(err.msg) > 0);
  assert_null(strchr(err.msg, '\n'));
  assert_int_equal(store_metrics_sample(c, &m, &err), 0);
  store_metrics_conn_free(c);
}

static void collect(void *arg, const char *payload)
{
  snprintf(arg, 128, "%s", payload);
}

static void test_listener(void **state)
{
  struct fx *f = *state;
  struct owcp_error err = {{0}};
  struct store_listener *l = store_listener_open(f->conninfo, &err);
  char got[128] = "";
  int n;

  assert_non_null(l);
  assert_int_equal(store_listener_wait(l, 10, collect, got, &err), 0);
  /* store_open()'s connections (owcp-admin) notify inside the
   * transaction (sql/dispatcher/procedures/owcp_notify.sql). */
  struct store_confirm_out c = confirm(f, "N1", "<n/>", T0, 300);
  n = store_listener_wait(l, 2000, collect, got, &err);
  assert_int_equal(n, 1);
  assert_true(strncmp(got, "account:", 8) == 0);
  assert_int_equal(reply(f->st, c.transaction, f->c1, T0 + 1), 200);
  n = store_listener_wait(l, 2000, collect, got, &err);
  assert_int_equal(n, 1);
  assert_true(strncmp(got, "tx:", 3) == 0);
  assert_string_equal(got + 3, c.transaction);
  /* So does psql. */
  PGresult *r = raw(f->conninfo, "SELECT owcp_notify('tx:plain')");
  assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
  PQclear(r);
  n = store_listener_wait(l, 2000, collect, got, &err);
  assert_int_equal(n, 1);
  assert_string_equal(got, "tx:plain");
  store_listener_close(l);
}

/* ---- group commit (dispatcher/store_group.c) ---------------------------- */

#define GROUP_THREADS 24

struct group_caller {
  struct fx *f;
  struct store_pool *pool;
  pthread_barrier_t *gate;
  char ident[32];
  int timeout; /* 0 makes owcp_confirm raise: a failing call */
  int rc;
  struct store_confirm_out out;
  int committed;         /* calls of in.committed */
  char committed_tx[64]; /* the transaction it was told of */
  bool returned_before;  /* store_confirm had returned by then */
};

/* store_confirm_in.committed of a group caller: counts, and notes what it
 * was told and whether the caller's store_confirm had already returned
 * (it must not have: this runs before the commit's wake-ups). */
static void record_committed(void *arg, const struct store_confirm_in *in,
                             const struct store_confirm_out *out)
{
  struct group_caller *c = arg;

  (void)in;
  c->committed++;
  memcpy(c->committed_tx, out->transaction, sizeof c->committed_tx);
  c->returned_before = c->out.status != 0;
}

/* One RD-Confirm on a pooled connection, started with every other caller
 * at once so that they queue behind one another's commits. */
static void *group_call(void *arg)
{
  struct group_caller *c = arg;
  struct owcp_error err = {{0}};
  struct store_confirm_in in = {0};
  struct store *st = NULL;

  c->rc = store_pool_acquire(c->pool, 5000, &st, &err);
  pthread_barrier_wait(c->gate);
  if (c->rc != 0)
    return NULL;
  in.requestor_id = c->f->req;
  in.account = "alice@example.com";
  in.identifier = c->ident;
  in.request_xml = "<g/>";
  owcp_sha256(in.request_xml, 4, in.request_sha256);
  in.type = "login";
  in.timeout_seconds = c->timeout;
  in.now = T0;
  in.committed = record_committed;
  in.committed_arg = c;
  c->rc = store_confirm(st, &in, &c->out, &err);
  store_pool_release(c->pool, st);
  return NULL;
}

/* Runs GROUP_THREADS simultaneous RD-Confirms named PREFIX-i; caller bad
 * (if < GROUP_THREADS) sends timeout 0, which owcp_confirm refuses by
 * raising an error. */
static void group_round(struct fx *f, struct store_pool *pool,
                        const char *prefix, int bad, struct group_caller *c)
{
  pthread_t th[GROUP_THREADS];
  pthread_barrier_t gate;

  pthread_barrier_init(&gate, NULL, GROUP_THREADS);
  for (int i = 0; i < GROUP_THREADS; i++) {
    c[i] = (struct group_caller){
        .f = f, .pool = pool, .gate = &gate, .timeout = i == bad ? 0 : 300};
    snprintf(c[i].ident, sizeof c[i].ident, "%s-%d", prefix, i);
    assert_int_equal(pthread_create(&th[i], NULL, group_call, &c[i]), 0);
  }
  for (int i = 0; i < GROUP_THREADS; i++)
    pthread_join(th[i], NULL);
  pthread_barrier_destroy(&gate);
}

/* Simultaneous RD-Confirms are committed in fewer transactions than calls,
 * and each still gets its own committed transaction and log entry. */
static void test_group_commit(void **state)
{
  struct fx *f = *state;
  struct owcp_error err = {{0}};
  struct store_pool *pool = store_pool_new(f->conninfo, GROUP_THREADS, &err);
  struct group_caller c[GROUP_THREADS];
  struct store_group_counts n;

  assert_non_null(pool);
  assert_int_equal(store_pool_group_commit(pool, 32, &err), 0);
  for (int round = 0; round < 3; round++) {
    char prefix[16];

    snprintf(prefix, sizeof prefix, "G%d", round);
    group_round(f, pool, prefix, GROUP_THREADS, c);
    for (int i = 0; i < GROUP_THREADS; i++) {
      assert_int_equal(c[i].rc, 0);
      assert_int_equal(c[i].out.status, 202);
      /* Told once, of its own transaction, before store_confirm returned. */
      assert_int_equal(c[i].committed, 1);
      assert_string_equal(c[i].committed_tx, c[i].out.transaction);
      assert_false(c[i].returned_before);
      for (int j = 0; j < i; j++)
        assert_string_not_equal(c[i].out.transaction, c[j].out.transaction);
    }
  }
  store_pool_group_counts(pool, &n);
  assert_int_equal(n.calls, 3 * GROUP_THREADS);
  assert_true(n.groups < n.calls);
  assert_int_equal(n.alone, 0);
  assert_int_equal(count(f, "SELECT count(*) FROM transactions "
                            "WHERE identifier LIKE 'G_-%'"),
                   3 * GROUP_THREADS);
  assert_int_equal(count(f, "SELECT count(*) FROM log WHERE event = "
                            "'transaction.created' AND detail LIKE "
                            "'identifier=G_-%'"),
                   3 * GROUP_THREADS);
  store_pool_free(pool);
}

/* A call that fails rolls its group back; every other call of that group
 * is run again on its own and succeeds; the failing one reports its
 * error and stores nothing. */
static void test_group_commit_failure_isolated(void **state)
{
  struct fx *f = *state;
  struct owcp_error err = {{0}};
  struct store_pool *pool = store_pool_new(f->conninfo, GROUP_THREADS, &err);
  struct group_caller c[GROUP_THREADS];
  struct store_group_counts n = {0};
  int rounds = 0;

  assert_non_null(pool);
  assert_int_equal(store_pool_group_commit(pool, 32, &err), 0);
  /* Until the failing call has shared a group at least once. */
  while (n.alone == 0 && rounds < 20) {
    char prefix[16];

    snprintf(prefix, sizeof prefix, "F%d", rounds++);
    group_round(f, pool, prefix, GROUP_THREADS / 2, c);
    for (int i = 0; i < GROUP_THREADS; i++) {
      if (i == GROUP_THREADS / 2) {
        assert_int_not_equal(c[i].rc, 0);
        assert_int_equal(c[i].committed, 0); /* nothing was created */
        continue;
      }
      assert_int_equal(c[i].rc, 0);
      assert_int_equal(c[i].out.status, 202);
      /* Once, though its group failed and it ran again alone. */
      assert_int_equal(c[i].committed, 1);
      assert_string_equal(c[i].committed_tx, c[i].out.transaction);
    }
    store_pool_group_counts(pool, &n);
  }
  assert_true(n.alone > 0);
  assert_int_equal(count(f, "SELECT count(*) FROM transactions "
                            "WHERE identifier LIKE 'F%'"),
                   (int64_t)rounds * (GROUP_THREADS - 1));
  assert_int_equal(count(f, "SELECT count(*) FROM transactions WHERE "
                            "identifier LIKE 'F%-12'"),
                   0);
  store_pool_free(pool);
}

/* The keys a waking pool handed over, space-separated. */
struct woken {
  char keys[512];
};

static void wake_collect(void *arg, const char *key)
{
  struct woken *w = arg;
  size_t n = strlen(w->keys);

  snprintf(w->keys + n, sizeof w->keys - n, "%s%s", n ? " " : "", key);
}

/* A waking pool's commits send no NOTIFY: their keys go to the wake
 * function once committed, and the database's listeners hear nothing;
 * an older dispatcher's 'after-commit' mode still works. */
static void test_waking_pool(void **state)
{
  struct fx *f = *state;
  struct owcp_error err = {{0}};
  struct woken w = {""};
  struct store_pool *pool =
      store_pool_new_waking(f->conninfo, 1, wake_collect, &w, &err);
  struct store_listener *l = store_listener_open(f->conninfo, &err);
  struct store *plain = f->st, *pooled;
  char got[128] = "", want[160];

  assert_non_null(pool);
  assert_non_null(l);
  assert_int_equal(store_pool_acquire(pool, 1000, &pooled, &err), 0);
  f->st = pooled;
  struct store_confirm_out c = confirm(f, "W1", "<w/>", T0, 300);
  f->st = plain;
  PGresult *r = raw(f->conninfo, "SELECT 'account:' || id FROM accounts "
                                 "WHERE address = 'alice@example.com'");
  assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
  assert_string_equal(w.keys, PQgetvalue(r, 0, 0));
  PQclear(r);
  w.keys[0] = '\0';
  assert_int_equal(reply(pooled, c.transaction, f->c1, T0 + 1), 200);
  snprintf(want, sizeof want, "tx:%s", c.transaction);
  assert_string_equal(w.keys, want);
  /* A statement that changes nothing wakes nothing. */
  w.keys[0] = '\0';
  assert_int_equal(reply(pooled, c.transaction, f->c2, T0 + 2), 409);
  assert_string_equal(w.keys, "");
  assert_int_equal(store_listener_wait(l, 300, collect, got, &err), 0);
  store_pool_release(pool, pooled);
  store_pool_free(pool);
  /* An older dispatcher binary's mode: queued in the session, sent by
   * owcp_notify_flush() after the commit. */
  r = raw(f->conninfo, "SET owcp.notify = 'after-commit'; "
                       "SELECT owcp_notify('tx:old'); "
                       "SELECT owcp_notify_flush()");
  assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
  assert_string_equal(PQgetvalue(r, 0, 0), "1");
  PQclear(r);
  assert_int_equal(store_listener_wait(l, 2000, collect, got, &err), 1);
  assert_string_equal(got, "tx:old");
  store_listener_close(l);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
      T(test_migrate_idempotent),
      T(test_confirm_outcomes),
      T(test_rate_limit),
      T(test_rate_chunks),
      T(test_list_order_and_expiry),
      T(test_listed_record_once),
      T(test_listed_record_race),
      T(test_listed_record_busy),
      T(test_listed_before_answered),
      T(test_reply_first_wins),
      T(test_408_after_expiry_and_final),
      T(test_outbox_skip_locked),
      T(test_outbox_backoff),
      T(test_outbox_fair_claims),
      T(test_outbox_release),
      T(test_code_single_use_and_expiry),
      T(test_approval_flow),
      T(test_log_refuses_changes),
      T(test_chain_verify_detects_tamper),
      T(test_seal_late_commit),
      T(test_answer_one_row_version),
      T(test_seal_locks_no_entry),
      T(test_durable_path_schema),
      T(test_pool_reconnects),
      T(test_pool_stats),
      T(test_listener_error_one_line),
      T(test_metrics_sample),
      T(test_listener),
      T(test_group_commit),
      T(test_group_commit_failure_isolated),
      T(test_waking_pool),
  };

  if (getenv("OWCP_TEST_DB") == NULL) {
    fprintf(stderr, "OWCP_TEST_DB is not set: run under scripts/with-pg.sh\n");
    return 1;
  }
  return cmocka_run_group_tests(tests, NULL, NULL);
}
