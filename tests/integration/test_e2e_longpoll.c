/*
 * test_e2e_longpoll.c — end to end, long polls: CD-List with Wait answers
 * within a second of an RD-Confirm committed on another connection, and
 * holds an empty result for the whole wait; RD-Status with Wait wakes on
 * the client's reply; --max-wait caps what a client asks for. Timings are
 * measured on the client side with a monotonic clock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "itest.h"

struct fx {
  struct itest_env env;
  char *token;                      /* requestor access@example.com */
  struct itest_client alice, quiet; /* quiet@ never gets a request */
};

static int setup(void **state)
{
  struct fx *f = calloc(1, sizeof *f);
  assert_non_null(f);
  *state = f;
  itest_env_init(&f->env, "longpoll");
  itest_account_add(&f->env, "alice@example.com");
  itest_account_add(&f->env, "quiet@example.com");
  f->token = itest_requestor_add(&f->env, "access@example.com", 0);
  itest_start(&f->env, NULL);
  itest_client_init(&f->alice, "alice@example.com");
  itest_client_enrol(&f->env, &f->alice);
  itest_client_init(&f->quiet, "quiet@example.com");
  itest_client_enrol(&f->env, &f->quiet);
  return 0;
}

static int teardown(void **state)
{
  struct fx *f = *state;
  if (f->env.pid > 0)
    itest_stop(&f->env);
  itest_client_free(&f->alice);
  itest_client_free(&f->quiet);
  free(f->token);
  itest_env_fini(&f->env);
  free(f);
  return 0;
}

static void test_list_wakes_on_confirm(void **state)
{
  struct fx *f = *state;
  struct itest_call p;

  itest_call_start(&p, &f->env, "CD-List", f->alice.token,
                   json_pack("{s:i}", "Wait", 10));
  itest_let_poll_suspend();
  char *xml = itest_request_xml("access@example.com", "alice@example.com",
                                "urn:itest:lp:list", true, 0);
  char *tx = itest_confirm_ok(&f->env, f->token, xml, 0);
  double committed = itest_now();
  itest_call_join(&p);

  ITEST_EXPECT(p.h, 200);
  if (itest_pending_find(&p.h, tx) == NULL)
    fail_msg("CD-List woke without the new transaction: %s", p.h.body);
  print_message("CD-List answered %.3f s after the commit\n",
                p.ended - committed);
  assert_true(p.ended - committed < 2.0);
  assert_true(p.ended - p.started < 9.0);
  itest_http_free(&p.h);

  /* Answer it so later tests start from an empty list. */
  struct itest_http h;
  itest_reply(&f->env, &f->alice, tx, "Accept", NULL, xml, &h);
  ITEST_EXPECT(h, 200);
  itest_http_free(&h);
  free(tx);
  free(xml);
}

static void test_list_waits_when_empty(void **state)
{
  struct fx *f = *state;
  struct itest_http h;

  itest_list(&f->env, &f->quiet, 2, &h);
  ITEST_EXPECT(h, 200);
  assert_int_equal(json_array_size(json_object_get(h.json, "Pending")), 0);
  print_message("empty CD-List Wait=2 took %.3f s\n", h.seconds);
  assert_true(h.seconds >= 1.9);
  assert_true(h.seconds < 5.0);
  itest_http_free(&h);

  /* Without Wait an empty list answers at once. */
  itest_list(&f->env, &f->quiet, -1, &h);
  ITEST_EXPECT(h, 200);
  assert_true(h.seconds < 1.0);
  itest_http_free(&h);
}

static void test_list_ignores_other_accounts(void **state)
{
  struct fx *f = *state;
  struct itest_call p;

  itest_call_start(&p, &f->env, "CD-List", f->quiet.token,
                   json_pack("{s:i}", "Wait", 2));
  itest_let_poll_suspend();
  char *xml = itest_request_xml("access@example.com", "alice@example.com",
                                "urn:itest:lp:other", true, 0);
  char *tx = itest_confirm_ok(&f->env, f->token, xml, 0);
  itest_call_join(&p);
  ITEST_EXPECT(p.h, 200);
  /* alice's transaction neither woke nor reached quiet's poll. */
  assert_int_equal(json_array_size(json_object_get(p.h.json, "Pending")), 0);
  assert_true(p.ended - p.started >= 1.9);
  itest_http_free(&p.h);

  struct itest_http h;
  itest_reply(&f->env, &f->alice, tx, "Accept", NULL, xml, &h);
  ITEST_EXPECT(h, 200);
  itest_http_free(&h);
  free(tx);
  free(xml);
}

static void test_status_wakes_on_reply(void **state)
{
  struct fx *f = *state;
  char *xml = itest_request_xml("access@example.com", "alice@example.com",
                                "urn:itest:lp:status", true, 0);
  char *tx = itest_confirm_ok(&f->env, f->token, xml, 0);
  struct itest_call p;
  struct itest_http h;

  itest_call_start(&p, &f->env, "RD-Status", f->token,
                   json_pack("{s:s, s:i}", "Transaction", tx, "Wait", 10));
  itest_let_poll_suspend();
  itest_reply(&f->env, &f->alice, tx, "Reject", NULL, xml, &h);
  double committed = itest_now();
  ITEST_EXPECT(h, 200);
  itest_http_free(&h);
  itest_call_join(&p);

  ITEST_EXPECT(p.h, 200);
  assert_string_equal(itest_str(&p.h, "Response"), "Reject");
  print_message("RD-Status answered %.3f s after the reply\n",
                p.ended - committed);
  assert_true(p.ended - committed < 2.0);
  assert_true(p.ended - p.started < 9.0);
  itest_http_free(&p.h);

  /* A pending transaction with a short Wait holds for the wait, then 202. */
  char *xml2 = itest_request_xml("access@example.com", "alice@example.com",
                                 "urn:itest:lp:status-pending", true, 0);
  char *tx2 = itest_confirm_ok(&f->env, f->token, xml2, 0);
  json_t *q = json_pack("{s:s, s:i}", "Transaction", tx2, "Wait", 2);
  itest_post(&f->env, "RD-Status", f->token, q, &h);
  ITEST_EXPECT(h, 202);
  assert_true(h.seconds >= 1.9 && h.seconds < 5.0);
  itest_http_free(&h);
  json_decref(q);
  itest_reply(&f->env, &f->alice, tx2, "Accept", NULL, xml2, &h);
  ITEST_EXPECT(h, 200);
  itest_http_free(&h);
  free(tx2);
  free(xml2);
  free(tx);
  free(xml);
}

static void test_max_wait_caps(void **state)
{
  struct fx *f = *state;
  const char *flags[] = {"--max-wait", "1", NULL};
  struct itest_http h;

  itest_stop(&f->env);
  itest_start(&f->env, flags);
  itest_list(&f->env, &f->quiet, 30, &h);
  ITEST_EXPECT(h, 200);
  print_message("CD-List Wait=30 under --max-wait 1 took %.3f s\n", h.seconds);
  assert_true(h.seconds >= 0.9);
  assert_true(h.seconds < 4.0);
  itest_http_free(&h);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_list_wakes_on_confirm),
      cmocka_unit_test(test_list_waits_when_empty),
      cmocka_unit_test(test_list_ignores_other_accounts),
      cmocka_unit_test(test_status_wakes_on_reply),
      cmocka_unit_test(test_max_wait_caps),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
