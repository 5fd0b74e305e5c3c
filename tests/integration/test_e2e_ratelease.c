/*
 * test_e2e_ratelease.c — end to end, RD-Confirm's rate limit taken in
 * per-process leases (dispatcher/ratelease.h, procedures/owcp_rate_take.sql)
 * by two dispatcher processes on one database: a limit of N under 3N
 * concurrent RD-Confirms from many threads through both processes admits
 * exactly N, answers every other 429 with the window's seconds left, and
 * every attempt is counted; lowering a requestor's limit or disabling it
 * ends the leases both processes hold at once; and a requestor whose
 * limit leaves room costs no rate transaction per RD-Confirm (the
 * database's transaction id advances one less per confirmation than for a
 * requestor counted one attempt at a time).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "itest.h"

#define SPENT "owcp_rate_lease_spent_total"
#define FLUSHES "owcp_auth_cache_flushes_total"
/* The concurrent test's limit (its first chunks are 1000 / 256 = 3 units,
 * the last ones 1) and its threads. */
#define LIMIT 1000
#define THREADS 12

struct fx {
  struct itest_env a; /* owns the database */
  struct itest_env b; /* a second process on it */
};

static int setup(void **state)
{
  struct fx *f = calloc(1, sizeof *f);
  assert_non_null(f);
  *state = f;
  itest_env_init(&f->a, "ratelease");
  itest_account_add(&f->a, "alice@example.com");
  itest_start_pair(&f->a, &f->b);
  return 0;
}

static int teardown(void **state)
{
  struct fx *f = *state;

  itest_pair_fini(&f->a, &f->b);
  free(f);
  return 0;
}

/* The rate window is a calendar minute: when fewer than `need` seconds of
 * this one are left, waits for the next one to begin. */
static void room_in_minute(int need)
{
  int left = 60 - (int)(time(NULL) % 60);
  if (left < need)
    sleep((unsigned)left + 1);
}

/* RD-Confirm from `who` through e with identifier urn:itest:lease:TAG:N;
 * returns the status and, with 429, the answer's Retry in *retry. */
static long confirm(const struct itest_env *e, const char *who,
                    const char *token, const char *tag, int n, int *retry)
{
  struct itest_http h;
  char id[128];

  snprintf(id, sizeof id, "urn:itest:lease:%s:%d", tag, n);
  char *xml = itest_request_xml(who, "alice@example.com", id, true, 0);
  itest_confirm(e, token, xml, 0, &h);
  long status = h.status;
  if (retry != NULL)
    *retry = (int)json_integer_value(json_object_get(h.json, "Retry"));
  itest_http_free(&h);
  free(xml);
  return status;
}

/* ---- exactly N of 3N concurrent ------------------------------------------ */

struct storm {
  const struct fx *f;
  const char *who, *token, *tag;
  int first, attempts; /* this thread's share: first, first + THREADS, ... */
  atomic_int *accepted, *refused, *other, *bad_retry;
};

/* Sends this thread's share, even attempts through a, odd through b. */
static void *storm_thread(void *arg)
{
  struct storm *s = arg;

  for (int n = s->first; n < s->attempts; n += THREADS) {
    const struct itest_env *e = n % 2 ? &s->f->b : &s->f->a;
    int retry = 0;
    long status = confirm(e, s->who, s->token, s->tag, n, &retry);
    int left = 60 - (int)(time(NULL) % 60);
    if (status == 202) {
      atomic_fetch_add(s->accepted, 1);
    } else if (status == 429) {
      atomic_fetch_add(s->refused, 1);
      /* The seconds until the window ends, as before leases. */
      if (retry < 1 || retry > 60 || abs(retry - left) > 2)
        atomic_fetch_add(s->bad_retry, 1);
    } else {
      atomic_fetch_add(s->other, 1);
    }
  }
  return NULL;
}

/* One storm of 3 × LIMIT attempts; returns false when it straddled a
 * minute boundary (inconclusive), else checks everything. */
static bool storm_once(struct fx *f, int attempt)
{
  char who[64], tag[32];
  atomic_int accepted = 0, refused = 0, other = 0, bad_retry = 0;
  struct storm s[THREADS];
  pthread_t t[THREADS];
  int total = 3 * LIMIT;

  snprintf(who, sizeof who, "storm%d@example.com", attempt);
  snprintf(tag, sizeof tag, "storm%d", attempt);
  char *token = itest_requestor_add(&f->a, who, LIMIT);
  double spent_a = itest_metric(&f->a, SPENT),
         spent_b = itest_metric(&f->b, SPENT);
  room_in_minute(45);
  time_t minute = time(NULL) / 60;
  for (int i = 0; i < THREADS; i++) {
    s[i] = (struct storm){f,     who,       token,    tag,    i,
                          total, &accepted, &refused, &other, &bad_retry};
    assert_int_equal(pthread_create(&t[i], NULL, storm_thread, &s[i]), 0);
  }
  for (int i = 0; i < THREADS; i++)
    pthread_join(t[i], NULL);
  free(token);
  if (time(NULL) / 60 != minute)
    return false;
  assert_int_equal(atomic_load(&other), 0);
  assert_int_equal(atomic_load(&accepted), LIMIT);
  assert_int_equal(atomic_load(&refused), total - LIMIT);
  assert_int_equal(atomic_load(&bad_retry), 0);
  assert_int_equal(itest_sql_count1(&f->a,
                                    "SELECT count(*) FROM transactions t "
                                    "JOIN requestors r ON r.id = "
                                    "t.requestor_id WHERE r.address = $1",
                                    who),
                   LIMIT);
  /* Every attempt counted once: the leased units were all spent, each
   * refused attempt was counted by the database. */
  assert_int_equal(itest_sql_count1(&f->a,
                                    "SELECT w.count FROM rate_windows w "
                                    "JOIN requestors r ON r.id = "
                                    "w.requestor_id WHERE r.address = $1",
                                    who),
                   total);
  /* Both processes admitted some confirmations from leases. */
  assert_true(itest_metric(&f->a, SPENT) > spent_a);
  assert_true(itest_metric(&f->b, SPENT) > spent_b);
  return true;
}

static void test_exact_limit_concurrent(void **state)
{
  struct fx *f = *state;

  for (int attempt = 0; attempt < 2; attempt++)
    if (storm_once(f, attempt))
      return;
  itest_fail("two storms both straddled a minute boundary");
}

/* ---- leases end when the requestor changes ------------------------------- */

/* Waits (≤ 2 s) until both processes flushed their token caches (and so
 * their leases) more often than before. */
static void await_flush(const struct fx *f, double fa, double fb)
{
  double start = itest_now();
  while (itest_metric(&f->a, FLUSHES) <= fa ||
         itest_metric(&f->b, FLUSHES) <= fb) {
    if (itest_now() - start > 2.0)
      itest_fail("no NOTIFY 'auth' flush on both processes within 2 s");
    usleep(20000);
  }
}

/* A requestor whose both processes hold leases (limit 100000: chunks of
 * 64, one unit spent each); returns its token. */
static char *leased_requestor(struct fx *f, const char *who, const char *tag)
{
  char *token = itest_requestor_add(&f->a, who, 100000);
  double spent_a = itest_metric(&f->a, SPENT),
         spent_b = itest_metric(&f->b, SPENT);

  for (int n = 0; n < 4; n++)
    assert_int_equal(confirm(n % 2 ? &f->b : &f->a, who, token, tag, n, NULL),
                     202);
  /* The second confirmation on each process came from its lease. */
  assert_true(itest_metric(&f->a, SPENT) > spent_a);
  assert_true(itest_metric(&f->b, SPENT) > spent_b);
  return token;
}

static void test_rate_lowered_ends_leases(void **state)
{
  struct fx *f = *state;
  const char *who = "lowered@example.com";

  room_in_minute(20);
  char *token = leased_requestor(f, who, "lowered");
  double fa = itest_metric(&f->a, FLUSHES), fb = itest_metric(&f->b, FLUSHES);
  /* Both hold 62 units; the window already counted 128, limit now 1. */
  assert_int_equal(itest_sql_count1(&f->a,
                                    "WITH u AS (UPDATE requestors SET "
                                    "rate_per_minute = 1 WHERE address = $1 "
                                    "RETURNING 1) SELECT count(*) FROM u",
                                    who),
                   1);
  await_flush(f, fa, fb);
  int retry = 0;
  assert_int_equal(confirm(&f->a, who, token, "lowered", 10, &retry), 429);
  assert_true(retry >= 1 && retry <= 60);
  assert_int_equal(confirm(&f->b, who, token, "lowered", 11, &retry), 429);
  /* Raised again: admitted again. */
  fa = itest_metric(&f->a, FLUSHES);
  fb = itest_metric(&f->b, FLUSHES);
  assert_int_equal(itest_sql_count1(&f->a,
                                    "WITH u AS (UPDATE requestors SET "
                                    "rate_per_minute = 100000 WHERE address "
                                    "= $1 RETURNING 1) SELECT count(*) FROM u",
                                    who),
                   1);
  await_flush(f, fa, fb);
  assert_int_equal(confirm(&f->a, who, token, "lowered", 12, NULL), 202);
  assert_int_equal(confirm(&f->b, who, token, "lowered", 13, NULL), 202);
  free(token);
}

static void test_disabled_ends_leases(void **state)
{
  struct fx *f = *state;
  const char *who = "disabled@example.com";
  const char *args[] = {"requestor", "disable", who, NULL};
  int status;

  char *token = leased_requestor(f, who, "disabled");
  double fa = itest_metric(&f->a, FLUSHES), fb = itest_metric(&f->b, FLUSHES);
  free(itest_admin(&f->a, &status, args));
  assert_int_equal(status, 0);
  await_flush(f, fa, fb);
  assert_int_equal(confirm(&f->a, who, token, "disabled", 10, NULL), 401);
  assert_int_equal(confirm(&f->b, who, token, "disabled", 11, NULL), 401);
  assert_int_equal(itest_sql_count1(&f->a,
                                    "SELECT count(*) FROM transactions t "
                                    "JOIN requestors r ON r.id = "
                                    "t.requestor_id WHERE r.address = $1",
                                    who),
                   4);
  free(token);
}

/* ---- no rate transaction per confirmation -------------------------------- */

#define SEQUENTIAL 200

/* The database's transaction ids consumed per RD-Confirm of `who` (limit
 * `rate`) over SEQUENTIAL confirmations through a, after one to warm up;
 * *spent gets how many of them a's lease counted (SPENT). */
static double xids_per_confirm(struct fx *f, const char *who, int rate,
                               double *spent)
{
  char *token = itest_requestor_add(&f->a, who, rate);

  assert_int_equal(confirm(&f->a, who, token, who, -1, NULL), 202);
  double s0 = itest_metric(&f->a, SPENT);
  long long x0 = itest_sql_count(&f->a, "SELECT txid_current()");
  for (int n = 0; n < SEQUENTIAL; n++)
    assert_int_equal(confirm(&f->a, who, token, who, n, NULL), 202);
  long long x1 = itest_sql_count(&f->a, "SELECT txid_current()");
  *spent = itest_metric(&f->a, SPENT) - s0;
  free(token);
  /* The second txid_current() took one itself. */
  return (double)(x1 - x0 - 1) / SEQUENTIAL;
}

static void test_no_rate_transaction_per_confirm(void **state)
{
  struct fx *f = *state;

  double spent_each, spent_leased;

  /* 400: fewer than 512 units left, so every attempt is counted by the
   * database, one transaction each, as before leases. */
  double each = xids_per_confirm(f, "counted@example.com", 400, &spent_each);
  double leased =
      xids_per_confirm(f, "leased@example.com", 1000000, &spent_leased);
  print_message("write transactions per RD-Confirm: %.3f counted one at a "
                "time, %.3f with leases; %.0f and %.0f of %d from a lease\n",
                each, leased, spent_each, spent_leased, SEQUENTIAL);
  /* The mechanism, exactly: none from a lease below 512 units left; with
   * a large limit all but the attempts that took a new chunk of 64. */
  assert_true(spent_each == 0);
  const int least = SEQUENTIAL - SEQUENTIAL / 64 - 1;
  assert_true(spent_leased >= (double)least);
  /* Its effect on the database: the rate count's transaction is gone
   * (≈ 1 per confirmation). Transactions of the background writers (the
   * sealer five times a second, the notify sender) are counted too and
   * vary with how long each run takes on a loaded machine, so the bound
   * leaves them room. */
  if (!(leased <= each - 0.5))
    itest_fail("leases saved %.3f write transactions per RD-Confirm, want "
               "at least 0.5 (%.3f → %.3f)",
               each - leased, each, leased);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_exact_limit_concurrent),
      cmocka_unit_test(test_rate_lowered_ends_leases),
      cmocka_unit_test(test_disabled_ends_leases),
      cmocka_unit_test(test_no_rate_transaction_per_confirm),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
