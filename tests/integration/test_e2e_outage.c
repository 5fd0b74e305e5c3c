/*
 * test_e2e_outage.c — end to end, the database goes away and comes back
 * while a dispatcher runs: requests that need it get 503 with an Error
 * (and store nothing), GET {base}/CA keeps working, and once the database
 * accepts connections again the dispatcher reconnects by itself — its
 * pool (RD-Confirm 202, /healthz 200) and its LISTEN connection (a long
 * poll is woken by a commit again) — without a restart.
 *
 * The outage is real: the test forbids connections to the dispatcher's
 * database (ALTER DATABASE … ALLOW_CONNECTIONS false) and terminates every
 * session it has, from a connection to another database of the cluster.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "itest.h"

struct fx {
  struct itest_env env;
  char *token; /* requestor access@example.com */
  struct itest_client alice;
};

static int setup(void **state)
{
  struct fx *f = calloc(1, sizeof *f);
  assert_non_null(f);
  *state = f;
  itest_env_init(&f->env, "outage");
  itest_account_add(&f->env, "alice@example.com");
  f->token = itest_requestor_add(&f->env, "access@example.com", 0);
  itest_start(&f->env, NULL);
  itest_client_init(&f->alice, "alice@example.com");
  itest_client_enrol(&f->env, &f->alice);
  return 0;
}

static int teardown(void **state)
{
  struct fx *f = *state;
  if (f->env.pid > 0)
    itest_stop(&f->env);
  itest_client_free(&f->alice);
  free(f->token);
  itest_env_fini(&f->env);
  free(f);
  return 0;
}

/* Runs sql on the cluster's own "owcp" database (OWCP_TEST_DB), not the
 * dispatcher's, so it works while the latter refuses connections. */
static void control(const char *sql)
{
  PGconn *pg = PQconnectdb(getenv("OWCP_TEST_DB"));
  PGresult *res;

  if (PQstatus(pg) != CONNECTION_OK)
    fail_msg("control connection: %s", PQerrorMessage(pg));
  res = PQexec(pg, sql);
  if (PQresultStatus(res) != PGRES_COMMAND_OK &&
      PQresultStatus(res) != PGRES_TUPLES_OK)
    fail_msg("%s: %s", sql, PQerrorMessage(pg));
  PQclear(res);
  PQfinish(pg);
}

/* The database names are the harness's own ("e2e_outage_<pid>"): no
 * quoting issues. */
static void outage_begin(struct fx *f)
{
  char sql[512];

  snprintf(sql, sizeof sql,
           "ALTER DATABASE \"%s\" WITH ALLOW_CONNECTIONS false; SELECT "
           "pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "
           "'%s'",
           f->env.dbname, f->env.dbname);
  control(sql);
}

static void outage_end(struct fx *f)
{
  char sql[256];

  snprintf(sql, sizeof sql, "ALTER DATABASE \"%s\" WITH ALLOW_CONNECTIONS true",
           f->env.dbname);
  control(sql);
}

/* GET /healthz until it answers `want` or `seconds` pass; returns the last
 * status. */
static long await_health(struct fx *f, long want, double seconds)
{
  double deadline = itest_now() + seconds;
  long got = 0;

  while (itest_now() < deadline) {
    struct itest_http h;
    itest_get(&f->env, "/healthz", &h);
    got = h.status;
    itest_http_free(&h);
    if (got == want)
      break;
    struct timespec ts = {0, 200L * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  return got;
}

static void test_outage_and_recovery(void **state)
{
  struct fx *f = *state;
  struct itest_http h;

  /* Healthy first. */
  char *xml = itest_request_xml("access@example.com", "alice@example.com",
                                "urn:itest:outage:before", true, 0);
  char *tx = itest_confirm_ok(&f->env, f->token, xml, 0);
  free(xml);
  /* Cancelled, so that alice's list is empty for the long poll below. */
  json_t *params = json_pack("{s:s}", "Transaction", tx);
  itest_post(&f->env, "RD-Final", f->token, params, &h);
  ITEST_EXPECT(h, 408);
  itest_http_free(&h);
  json_decref(params);
  free(tx);
  assert_int_equal(await_health(f, 200, 5), 200);

  outage_begin(f);
  if (await_health(f, 503, 15) != 503)
    fail_msg("/healthz did not report the lost database within 15 s");
  xml = itest_request_xml("access@example.com", "alice@example.com",
                          "urn:itest:outage:during", true, 0);
  itest_confirm(&f->env, f->token, xml, 0, &h);
  ITEST_EXPECT(h, 503);
  assert_non_null(itest_str(&h, "Error"));
  itest_http_free(&h);
  free(xml);
  /* Serving the CA needs no database. */
  itest_get(&f->env, "/owcp/0.1/CA", &h);
  ITEST_EXPECT(h, 200);
  itest_http_free(&h);

  outage_end(f);
  if (await_health(f, 200, 20) != 200)
    fail_msg("the dispatcher did not reconnect within 20 s");
  /* Nothing of the refused request was stored. */
  assert_int_equal(itest_sql_count1(&f->env,
                                    "SELECT count(*) FROM transactions WHERE "
                                    "identifier = $1",
                                    "urn:itest:outage:during"),
                   0);

  /* The LISTEN connection is back too: a long poll wakes on a commit. A
   * request may briefly find the listener still reconnecting; the wake-up
   * must come well within the poll's 10 s either way. */
  struct itest_call p;
  itest_call_start(&p, &f->env, "CD-List", f->alice.token,
                   json_pack("{s:i}", "Wait", 10));
  struct timespec ts = {1, 0};
  nanosleep(&ts, NULL);
  xml = itest_request_xml("access@example.com", "alice@example.com",
                          "urn:itest:outage:after", true, 0);
  tx = itest_confirm_ok(&f->env, f->token, xml, 0);
  double committed = itest_now();
  itest_call_join(&p);
  ITEST_EXPECT(p.h, 200);
  if (itest_pending_find(&p.h, tx) == NULL)
    fail_msg("CD-List after the outage did not list %s: %s", tx, p.h.body);
  if (p.ended - committed > 2.0)
    fail_msg("CD-List woke %.1f s after the commit", p.ended - committed);
  itest_http_free(&p.h);
  free(tx);
  free(xml);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_outage_and_recovery),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
