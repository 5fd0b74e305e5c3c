/*
 * test_e2e_authcache.c — end to end, the per-process bearer-token cache
 * (dispatcher/authcache.h): a token accepted once is accepted again from
 * the cache (the hit counter on /metrics grows), and withdrawing it — a
 * client revoked by CD-Deregister through another dispatcher process or
 * by owcp-admin, a requestor or an account disabled by owcp-admin — is
 * refused by a process that had it cached within a second.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "itest.h"

#define HITS "owcp_auth_cache_hits_total"
/* How soon a withdrawn token must be refused everywhere. */
#define REFUSED_WITHIN_S 1.0

struct fx {
  struct itest_env a; /* owns the database and the key directory */
  struct itest_env b; /* a second process: same database, same keys */
  char *token;        /* requestor access@example.com */
};

static int setup(void **state)
{
  struct fx *f = calloc(1, sizeof *f);
  assert_non_null(f);
  *state = f;
  itest_env_init(&f->a, "authcache");
  f->token = itest_requestor_add(&f->a, "access@example.com", 0);
  itest_start_pair(&f->a, &f->b);
  return 0;
}

static int teardown(void **state)
{
  struct fx *f = *state;

  itest_pair_fini(&f->a, &f->b);
  free(f->token);
  free(f);
  return 0;
}

static double hits(const struct itest_env *e)
{
  return itest_metric(e, HITS);
}

static void sleep_s(double s)
{
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  nanosleep(&ts, NULL);
}

/* One authenticated request on e, returning its HTTP status: CD-List
 * (Wait 0) for a client token, RD-Status of an unknown transaction (404
 * once authenticated) for a requestor token. */
static long call(const struct itest_env *e, const char *token, bool client)
{
  struct itest_http h;
  json_t *p = client ? json_pack("{s:i}", "Wait", 0)
                     : json_pack("{s:s}", "Transaction", "no-such-tx");
  assert_non_null(p);
  itest_post(e, client ? "CD-List" : "RD-Status", token, p, &h);
  json_decref(p);
  long status = h.status;
  itest_http_free(&h);
  return status;
}

/* The token works on b twice, the second time from b's cache. */
static void expect_cached(const struct itest_env *b, const char *token,
                          bool client, long ok_status)
{
  assert_int_equal(call(b, token, client), ok_status);
  double before = hits(b);
  assert_int_equal(call(b, token, client), ok_status);
  if (!(hits(b) > before))
    fail_msg("the second request on b was not answered from the cache");
}

/* After the withdrawal, b refuses the token (401) within the bound. */
static void expect_refused_soon(const struct itest_env *b, const char *token,
                                bool client, double withdrawn)
{
  long status;
  while ((status = call(b, token, client)) != 401 &&
         itest_now() - withdrawn < REFUSED_WITHIN_S + 1)
    sleep_s(0.02);
  double took = itest_now() - withdrawn;
  if (status != 401 || took > REFUSED_WITHIN_S)
    fail_msg("b answered %ld %.3f s after the withdrawal", status, took);
}

static void test_client_deregistered_elsewhere(void **state)
{
  struct fx *f = *state;
  struct itest_client c;
  struct itest_http h;

  itest_account_add(&f->a, "dereg@example.com");
  itest_client_init(&c, "dereg@example.com");
  itest_client_enrol(&f->a, &c);
  expect_cached(&f->b, c.token, true, 200);
  json_t *p = json_pack("{s:s}", "Client", c.id);
  assert_non_null(p);
  itest_post(&f->a, "CD-Deregister", c.token, p, &h);
  json_decref(p);
  ITEST_EXPECT(h, 200);
  itest_http_free(&h);
  expect_refused_soon(&f->b, c.token, true, itest_now());
  itest_client_free(&c);
}

static void test_client_revoked_by_admin(void **state)
{
  struct fx *f = *state;
  struct itest_client c;

  itest_account_add(&f->a, "revoked@example.com");
  itest_client_init(&c, "revoked@example.com");
  itest_client_enrol(&f->a, &c);
  expect_cached(&f->b, c.token, true, 200);
  expect_cached(&f->a, c.token, true, 200);
  itest_client_revoke(&f->a, c.id);
  double at = itest_now();
  expect_refused_soon(&f->b, c.token, true, at);
  expect_refused_soon(&f->a, c.token, true, at);
  itest_client_free(&c);
}

static void test_account_disabled(void **state)
{
  struct fx *f = *state;
  struct itest_client c;
  int status = -1;

  itest_account_add(&f->a, "gone@example.com");
  itest_client_init(&c, "gone@example.com");
  itest_client_enrol(&f->a, &c);
  expect_cached(&f->b, c.token, true, 200);
  free(itest_admin(
      &f->a, &status,
      (const char *const[]){"account", "disable", "gone@example.com", NULL}));
  assert_int_equal(status, 0);
  expect_refused_soon(&f->b, c.token, true, itest_now());
  itest_client_free(&c);
}

static void test_requestor_disabled(void **state)
{
  struct fx *f = *state;
  int status = -1;

  expect_cached(&f->b, f->token, false, 404);
  free(itest_admin(&f->a, &status,
                   (const char *const[]){"requestor", "disable",
                                         "access@example.com", NULL}));
  assert_int_equal(status, 0);
  expect_refused_soon(&f->b, f->token, false, itest_now());
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_client_deregistered_elsewhere),
      cmocka_unit_test(test_client_revoked_by_admin),
      cmocka_unit_test(test_account_disabled),
      cmocka_unit_test(test_requestor_disabled),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
