/*
 * test_e2e_multi.c — end to end, two dispatcher processes on one database
 * and one key directory behave as one service: a long poll held by one
 * process is woken by a commit made through the other (LISTEN/NOTIFY, not
 * in-memory state), both serve the same CA, two clients answering the same
 * transaction through different processes get exactly one 200, and a
 * requestor's rate limit counts its requests to both.
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

struct fx {
  struct itest_env a; /* owns the database and the key directory */
  struct itest_env b; /* a second process: same database, same keys */
  char *token;        /* requestor access@example.com */
  struct itest_client alice1, alice2;
};

static int setup(void **state)
{
  struct fx *f = calloc(1, sizeof *f);
  assert_non_null(f);
  *state = f;
  itest_env_init(&f->a, "multi");
  itest_account_add(&f->a, "alice@example.com");
  f->token = itest_requestor_add(&f->a, "access@example.com", 0);
  /* b shares a's database and keys; only its ready file lives apart. */
  itest_start_pair(&f->a, &f->b);
  itest_client_init(&f->alice1, "alice@example.com");
  itest_client_enrol(&f->a, &f->alice1);
  itest_client_init(&f->alice2, "alice@example.com");
  itest_client_enrol(&f->b, &f->alice2);
  return 0;
}

static int teardown(void **state)
{
  struct fx *f = *state;

  itest_pair_fini(&f->a, &f->b);
  itest_client_free(&f->alice1);
  itest_client_free(&f->alice2);
  free(f->token);
  free(f);
  return 0;
}

static void test_same_ca(void **state)
{
  struct fx *f = *state;
  struct itest_http ha, hb;

  itest_get(&f->a, "/owcp/0.1/CA", &ha);
  itest_get(&f->b, "/owcp/0.1/CA", &hb);
  ITEST_EXPECT(ha, 200);
  ITEST_EXPECT(hb, 200);
  assert_int_equal(ha.body_len, hb.body_len);
  assert_memory_equal(ha.body, hb.body, ha.body_len);
  itest_http_free(&ha);
  itest_http_free(&hb);
}

/* Confirm through a while alice1 waits on b; reply through b while the
 * requestor waits on a: each wake-up crosses processes. */
static void test_flow_across_processes(void **state)
{
  struct fx *f = *state;
  char *xml = itest_request_xml("access@example.com", "alice@example.com",
                                "urn:itest:multi:flow", true, 0);
  struct itest_call list;

  itest_call_start(&list, &f->b, "CD-List", f->alice1.token,
                   json_pack("{s:i}", "Wait", 10));
  itest_let_poll_suspend();
  char *tx = itest_confirm_ok(&f->a, f->token, xml, 0);
  double committed = itest_now();
  itest_call_join(&list);
  ITEST_EXPECT(list.h, 200);
  if (itest_pending_find(&list.h, tx) == NULL)
    fail_msg("CD-List on b woke without a's transaction: %s", list.h.body);
  assert_true(list.ended - committed < 2.0);
  itest_http_free(&list.h);

  struct itest_call status;
  itest_call_start(&status, &f->a, "RD-Status", f->token,
                   json_pack("{s:s, s:i}", "Transaction", tx, "Wait", 10));
  itest_let_poll_suspend();
  struct itest_http h;
  itest_reply(&f->b, &f->alice1, tx, "Accept", NULL, xml, &h);
  ITEST_EXPECT(h, 200);
  double answered = itest_now();
  itest_http_free(&h);
  itest_call_join(&status);
  ITEST_EXPECT(status.h, 200);
  assert_string_equal(itest_str(&status.h, "Response"), "Accept");
  assert_string_equal(itest_str(&status.h, "Client"), f->alice1.id);
  assert_true(status.ended - answered < 2.0);
  itest_http_free(&status.h);
  free(tx);
  free(xml);
}

/* The first valid reply wins even when the two arrive at different
 * processes at the same moment. */
static void test_concurrent_replies_across_processes(void **state)
{
  struct fx *f = *state;

  for (int round = 0; round < 5; round++) {
    char id[64];
    snprintf(id, sizeof id, "urn:itest:multi:race-%d", round);
    char *xml = itest_request_xml("access@example.com", "alice@example.com", id,
                                  true, 0);
    char *tx = itest_confirm_ok(&f->a, f->token, xml, 0);
    char *r1 = itest_receipt_b64(&f->alice1, tx, "Accept", NULL, xml);
    char *r2 = itest_receipt_b64(&f->alice2, tx, "Reject", NULL, xml);
    struct itest_call c1, c2;

    itest_call_start(&c1, &f->a, "CD-Reply", f->alice1.token,
                     itest_reply_params(tx, "Accept", NULL, r1));
    itest_call_start(&c2, &f->b, "CD-Reply", f->alice2.token,
                     itest_reply_params(tx, "Reject", NULL, r2));
    itest_call_join(&c1);
    itest_call_join(&c2);
    if (!((c1.h.status == 200 && c2.h.status == 409) ||
          (c1.h.status == 409 && c2.h.status == 200)))
      fail_msg("round %d: replies got %ld and %ld, want one 200 and one 409",
               round, c1.h.status, c2.h.status);
    const char *winner = c1.h.status == 200 ? "Accept" : "Reject";
    struct itest_http h;
    json_t *p = json_pack("{s:s}", "Transaction", tx);
    itest_post(&f->b, "RD-Status", f->token, p, &h);
    json_decref(p);
    ITEST_EXPECT(h, 200);
    assert_string_equal(itest_str(&h, "Response"), winner);
    itest_http_free(&h);
    itest_http_free(&c1.h);
    itest_http_free(&c2.h);
    free(r1);
    free(r2);
    free(tx);
    free(xml);
  }
}

/* RD-Confirm (the operation the rate limit meters) from requestor `who`
 * through env; returns the status. */
static long confirm_status(const struct itest_env *env, const char *who,
                           const char *token, int n)
{
  struct itest_http h;
  char id[96];
  long status;

  snprintf(id, sizeof id, "urn:itest:multi:%s:%d", who, n);
  char *xml = itest_request_xml(who, "alice@example.com", id, true, 0);
  itest_confirm(env, token, xml, 0, &h);
  status = h.status;
  itest_http_free(&h);
  free(xml);
  return status;
}

/* The per-requestor limit lives in the database: once a requestor used its
 * budget at a, b refuses it too. The window is a fixed calendar minute, so
 * a run that crosses a minute boundary is repeated once. */
static void test_rate_limit_is_shared(void **state)
{
  struct fx *f = *state;

  for (int attempt = 0; attempt < 2; attempt++) {
    char name[64];
    snprintf(name, sizeof name, "limited%d@example.com", attempt);
    char *token = itest_requestor_add(&f->a, name, 3);
    time_t started = time(NULL);
    long got[4];

    for (int i = 0; i < 3; i++)
      got[i] = confirm_status(&f->a, name, token, i);
    got[3] = confirm_status(&f->b, name, token, 3);
    free(token);
    if (time(NULL) / 60 != started / 60)
      continue; /* straddled a window boundary: try again */
    for (int i = 0; i < 3; i++)
      assert_int_equal(got[i], 202);
    assert_int_equal(got[3], 429);
    return;
  }
  fail_msg("two attempts both straddled a minute boundary");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_same_ca),
      cmocka_unit_test(test_flow_across_processes),
      cmocka_unit_test(test_concurrent_replies_across_processes),
      cmocka_unit_test(test_rate_limit_is_shared),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
