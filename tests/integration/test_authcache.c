/*
 * test_authcache.c — the dispatcher's bearer-token cache
 * (dispatcher/authcache.c) on its own: nothing is used or stored before it
 * is live or after it stops being live; a requestor and a client are found
 * by their token hash and kind only; a flush empties it; an answer read
 * before a flush (older generation) is not stored; inactive identities are
 * never stored. The end-to-end revocation tests are test_e2e_authcache.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "authcache.h"

static struct store_requestor requestor(unsigned char fill)
{
  struct store_requestor r;

  memset(&r, 0, sizeof r);
  r.id = fill;
  snprintf(r.address, sizeof r.address, "%s", "access@example.com");
  r.active = true;
  r.rate_per_minute = 600;
  memset(r.token_hash, fill, sizeof r.token_hash);
  return r;
}

static struct store_client client(unsigned char fill)
{
  struct store_client c;

  memset(&c, 0, sizeof c);
  snprintf(c.id, sizeof c.id, "%s", "client-0123456789abcdef");
  c.account_id = 7;
  snprintf(c.account, sizeof c.account, "%s", "alice@example.com");
  c.active = true;
  memset(c.token_hash, fill, sizeof c.token_hash);
  return c;
}

static void test_live_only(void **state)
{
  (void)state;
  struct authcache *c = authcache_new(16);
  struct store_requestor r = requestor(1), out;

  assert_non_null(c);
  authcache_put_requestor(c, authcache_generation(c), &r);
  authcache_set_live(c, true);
  assert_false(authcache_get_requestor(c, r.token_hash, &out));
  authcache_put_requestor(c, authcache_generation(c), &r);
  assert_true(authcache_get_requestor(c, r.token_hash, &out));
  assert_int_equal(out.id, 1);
  assert_string_equal(out.address, "access@example.com");
  authcache_set_live(c, false);
  assert_false(authcache_get_requestor(c, r.token_hash, &out));
  authcache_set_live(c, true);
  assert_false(authcache_get_requestor(c, r.token_hash, &out));
  assert_int_equal(authcache_hits(c), 1);
  authcache_free(c);
}

static void test_kind_and_key(void **state)
{
  (void)state;
  struct authcache *c = authcache_new(64);
  struct store_requestor r = requestor(2), rout;
  struct store_client cl = client(3), cout;
  unsigned char other[OWCP_SHA256_LEN];

  assert_non_null(c);
  authcache_set_live(c, true);
  authcache_put_requestor(c, authcache_generation(c), &r);
  authcache_put_client(c, authcache_generation(c), &cl);
  assert_true(authcache_get_client(c, cl.token_hash, &cout));
  assert_string_equal(cout.account, "alice@example.com");
  assert_int_equal(cout.account_id, 7);
  /* A requestor's token is no client's, and the other way round. */
  assert_false(authcache_get_client(c, r.token_hash, &cout));
  assert_false(authcache_get_requestor(c, cl.token_hash, &rout));
  /* Same slot (first bytes), different hash: a miss. */
  memcpy(other, r.token_hash, sizeof other);
  other[OWCP_SHA256_LEN - 1] ^= 1;
  assert_false(authcache_get_requestor(c, other, &rout));
  authcache_free(c);
}

static void test_flush_and_stale_answers(void **state)
{
  (void)state;
  struct authcache *c = authcache_new(16);
  struct store_requestor r = requestor(4), out;
  struct store_client cl = client(5), cout;

  assert_non_null(c);
  authcache_set_live(c, true);
  authcache_put_requestor(c, authcache_generation(c), &r);
  authcache_put_client(c, authcache_generation(c), &cl);
  authcache_flush(c);
  assert_false(authcache_get_requestor(c, r.token_hash, &out));
  assert_false(authcache_get_client(c, cl.token_hash, &cout));
  assert_int_equal(authcache_flushes(c), 1);
  /* Looked up before a flush, stored after it: refused. */
  uint64_t before = authcache_generation(c);
  authcache_flush(c);
  authcache_put_requestor(c, before, &r);
  authcache_put_client(c, before, &cl);
  assert_false(authcache_get_requestor(c, r.token_hash, &out));
  assert_false(authcache_get_client(c, cl.token_hash, &cout));
  authcache_free(c);
}

static void test_inactive_never_stored(void **state)
{
  (void)state;
  struct authcache *c = authcache_new(16);
  struct store_requestor r = requestor(6), out;
  struct store_client cl = client(7), cout;

  assert_non_null(c);
  authcache_set_live(c, true);
  r.active = false;
  cl.active = false;
  authcache_put_requestor(c, authcache_generation(c), &r);
  authcache_put_client(c, authcache_generation(c), &cl);
  assert_false(authcache_get_requestor(c, r.token_hash, &out));
  assert_false(authcache_get_client(c, cl.token_hash, &cout));
  assert_null(authcache_new(0));
  authcache_free(c);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_live_only),
      cmocka_unit_test(test_kind_and_key),
      cmocka_unit_test(test_flush_and_stale_answers),
      cmocka_unit_test(test_inactive_never_stored),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
