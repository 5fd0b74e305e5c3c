/*
 * test_ratelease.c — the dispatcher's per-process rate leases
 * (dispatcher/ratelease.c) on their own: a lease's units are spent one at
 * a time and never more; a lease ends at its deadline and with a change of
 * generation (the token cache's, authcache_live_generation(), which moves
 * on every flush and liveness change); a chunk taken by another thread in
 * the same window is added to the lease, one of a later window or
 * generation replaces it;
 * a full set gives up the lease closest to its end, dead ones first; units
 * given up are counted as lost; threads racing for one lease spend exactly
 * its units. The database's chunk arithmetic is test_store's
 * test_rate_chunks, the whole path test_e2e_ratelease.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>

#include "authcache.h"
#include "ratelease.h"

/* Spends units of requestor's lease until none is left; returns how many. */
static int drain(struct ratelease *l, int64_t requestor, uint64_t gen,
                 int64_t now)
{
  int n = 0;
  while (ratelease_take(l, requestor, gen, now))
    n++;
  return n;
}

static void test_units_spent_once(void **state)
{
  (void)state;
  struct ratelease *l = ratelease_new(8);

  assert_non_null(l);
  assert_false(ratelease_take(l, 1, 0, 0)); /* nothing leased yet */
  ratelease_put(l, 1, 0, 3, 1000, 0);
  assert_false(ratelease_take(l, 2, 0, 0)); /* another requestor's */
  assert_int_equal(drain(l, 1, 0, 10), 3);
  assert_int_equal(ratelease_spent(l), 3);
  assert_int_equal(ratelease_lost(l), 0);
  /* Nothing to keep, or no requestor: nothing kept. */
  ratelease_put(l, 1, 0, 0, 1000, 0);
  ratelease_put(l, 1, 0, -5, 1000, 0);
  ratelease_put(l, 0, 0, 5, 1000, 0);
  assert_false(ratelease_take(l, 1, 0, 10));
  assert_false(ratelease_take(l, 0, 0, 10));
  assert_null(ratelease_new(0));
  ratelease_free(l);
  ratelease_free(NULL);
}

static void test_deadline(void **state)
{
  (void)state;
  struct ratelease *l = ratelease_new(8);

  ratelease_put(l, 5, 0, 4, 1000, 0);
  assert_true(ratelease_take(l, 5, 0, 999));
  assert_false(ratelease_take(l, 5, 0, 1000)); /* the window ended */
  assert_int_equal(ratelease_lost(l), 3);
  assert_false(ratelease_take(l, 5, 0, 0)); /* and the units are gone */
  assert_int_equal(ratelease_lost(l), 3);
  ratelease_free(l);
}

static void test_generation(void **state)
{
  (void)state;
  struct ratelease *l = ratelease_new(8);

  ratelease_put(l, 5, 7, 4, 1000, 0);
  assert_true(ratelease_take(l, 5, 7, 0));
  /* The requestor changed (NOTIFY 'auth'): the lease is dropped, even if
   * the generation came back. */
  assert_false(ratelease_take(l, 5, 8, 0));
  assert_false(ratelease_take(l, 5, 7, 0));
  assert_int_equal(ratelease_lost(l), 3);
  ratelease_put(l, 5, 8, 2, 1000, 0);
  assert_int_equal(drain(l, 5, 8, 0), 2);
  ratelease_free(l);
}

static void test_added_or_replaced(void **state)
{
  (void)state;
  struct ratelease *l = ratelease_new(8);

  ratelease_put(l, 5, 0, 10, 1000, 0);
  assert_true(ratelease_take(l, 5, 0, 0));
  /* Another thread's chunk, same window: added, the earlier deadline
   * kept. */
  ratelease_put(l, 5, 0, 2, 2000, 10);
  assert_int_equal(ratelease_lost(l), 0);
  assert_true(ratelease_take(l, 5, 0, 999));
  assert_false(ratelease_take(l, 5, 0, 1000));
  assert_int_equal(ratelease_lost(l), 10);
  /* The old lease past its deadline: replaced, its units lost. */
  ratelease_put(l, 5, 0, 3, 1000, 0);
  ratelease_put(l, 5, 0, 4, 61000, 1000);
  assert_int_equal(ratelease_lost(l), 13);
  assert_int_equal(drain(l, 5, 0, 60000), 4);
  /* Of an older generation: replaced. */
  ratelease_put(l, 5, 0, 3, 1000, 0);
  ratelease_put(l, 5, 1, 4, 1000, 0);
  assert_int_equal(ratelease_lost(l), 16);
  assert_int_equal(drain(l, 5, 1, 0), 4);
  ratelease_free(l);
}

static void test_full_set(void **state)
{
  (void)state;
  /* One set: requestors 1..RATELEASE_WAYS fill it. */
  struct ratelease *l = ratelease_new(1);

  for (int i = 1; i <= RATELEASE_WAYS; i++)
    ratelease_put(l, i, 0, 5, 1000 + i, 0);
  /* A fifth evicts the lease ending first (requestor 1). */
  ratelease_put(l, 100, 0, 5, 5000, 0);
  assert_int_equal(ratelease_lost(l), 5);
  assert_false(ratelease_take(l, 1, 0, 0));
  for (int i = 2; i <= RATELEASE_WAYS; i++)
    assert_int_equal(drain(l, i, 0, 0), 5);
  assert_int_equal(drain(l, 100, 0, 0), 5);
  /* All empty now: a new one takes an empty entry and loses nothing. */
  ratelease_put(l, 200, 0, 5, 900, 0);
  assert_int_equal(ratelease_lost(l), 5);
  ratelease_free(l);

  /* A lease of an old generation is dead: given up before a live one,
   * even one that ends sooner. */
  l = ratelease_new(1);
  ratelease_put(l, 4, 0, 5, 8000, 0);
  ratelease_put(l, 1, 1, 5, 1000, 0);
  ratelease_put(l, 2, 1, 5, 6000, 0);
  ratelease_put(l, 3, 1, 5, 7000, 0);
  assert_int_equal(ratelease_lost(l), 0); /* empty entries went first */
  ratelease_put(l, 5, 1, 5, 9000, 0);
  assert_int_equal(ratelease_lost(l), 5);
  assert_int_equal(drain(l, 1, 1, 0), 5);
  assert_int_equal(drain(l, 5, 1, 0), 5);
  ratelease_free(l);
}

struct racer {
  struct ratelease *l;
  atomic_int *won;
};

static void *race(void *arg)
{
  struct racer *r = arg;
  for (int i = 0; i < 1000; i++)
    if (ratelease_take(r->l, 42, 3, 0))
      atomic_fetch_add(r->won, 1);
  return NULL;
}

static void test_threads_spend_exactly_the_units(void **state)
{
  (void)state;
  struct ratelease *l = ratelease_new(16);
  atomic_int won = 0;
  struct racer r = {l, &won};
  pthread_t t[8];

  ratelease_put(l, 42, 3, RATELEASE_CHUNK_MAX - 1, 1000, 0);
  for (int i = 0; i < 8; i++)
    assert_int_equal(pthread_create(&t[i], NULL, race, &r), 0);
  for (int i = 0; i < 8; i++)
    pthread_join(t[i], NULL);
  assert_int_equal(atomic_load(&won), RATELEASE_CHUNK_MAX - 1);
  assert_int_equal(ratelease_spent(l), RATELEASE_CHUNK_MAX - 1);
  ratelease_free(l);
}

/* The generation leases bind to: read with liveness, moved by a flush and
 * by every liveness change. */
static void test_auth_generation(void **state)
{
  (void)state;
  struct authcache *c = authcache_new(4);
  uint64_t g0, g1, g2, g3;

  assert_non_null(c);
  assert_false(authcache_live_generation(c, &g0));
  authcache_set_live(c, true);
  assert_true(authcache_live_generation(c, &g1));
  assert_true(g1 != g0);
  authcache_flush(c);
  assert_true(authcache_live_generation(c, &g2));
  assert_true(g2 != g1);
  authcache_set_live(c, false);
  assert_false(authcache_live_generation(c, &g3));
  assert_true(g3 != g2);
  authcache_free(c);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_units_spent_once),
      cmocka_unit_test(test_deadline),
      cmocka_unit_test(test_generation),
      cmocka_unit_test(test_added_or_replaced),
      cmocka_unit_test(test_full_set),
      cmocka_unit_test(test_threads_spend_exactly_the_units),
      cmocka_unit_test(test_auth_generation),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
