/*
 * test_e2e_auth.c — end to end, who may do what: 401 for missing, wrong
 * and cross-kind credentials; 403 for a spoofed <From>, for
 * --require-registration without RD-Register and for self-subscription on
 * a closed service; 404 for other requestors' and other accounts'
 * transactions; 400 with an Error naming the field; 415; 429 under
 * owcp-admin's --rate. Each refusal is checked to have stored nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "itest.h"

struct fx {
  struct itest_env env;
  char *access;  /* requestor access@example.com */
  char *tickets; /* requestor tickets@example.com */
  struct itest_client alice, bob;
};

static int setup(void **state)
{
  struct fx *f = calloc(1, sizeof *f);
  assert_non_null(f);
  *state = f;
  itest_env_init(&f->env, "auth");
  itest_account_add(&f->env, "alice@example.com");
  itest_account_add(&f->env, "bob@example.com");
  f->access = itest_requestor_add(&f->env, "access@example.com", 0);
  f->tickets = itest_requestor_add(&f->env, "tickets@example.com", 0);
  itest_start(&f->env, NULL);
  itest_client_init(&f->alice, "alice@example.com");
  itest_client_enrol(&f->env, &f->alice);
  itest_client_init(&f->bob, "bob@example.com");
  itest_client_enrol(&f->env, &f->bob);
  return 0;
}

static int teardown(void **state)
{
  struct fx *f = *state;
  if (f->env.pid > 0)
    itest_stop(&f->env);
  itest_client_free(&f->alice);
  itest_client_free(&f->bob);
  free(f->access);
  free(f->tickets);
  itest_env_fini(&f->env);
  free(f);
  return 0;
}

static long long tx_count(struct fx *f)
{
  return itest_sql_count(&f->env, "SELECT count(*) FROM transactions");
}

static char *alice_xml(const char *id)
{
  return itest_request_xml("access@example.com", "alice@example.com", id, true,
                           0);
}

static void test_unauthenticated(void **state)
{
  struct fx *f = *state;
  char *xml = alice_xml("urn:itest:auth:401");
  const char *bad[] = {NULL, "", "wrong-token-wrong-token-wrong-token",
                       f->alice.token};
  struct itest_http h;
  long long before = tx_count(f);

  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    itest_confirm(&f->env, bad[i], xml, 0, &h);
    ITEST_EXPECT(h, 401);
    assert_non_null(itest_str(&h, "Error"));
    itest_http_free(&h);
  }
  assert_int_equal(tx_count(f), before);

  /* A requestor token is not a client token. */
  json_t *p = json_object();
  itest_post(&f->env, "CD-List", f->access, p, &h);
  ITEST_EXPECT(h, 401);
  itest_http_free(&h);
  itest_post(&f->env, "CD-List", NULL, p, &h);
  ITEST_EXPECT(h, 401);
  itest_http_free(&h);
  json_decref(p);
  free(xml);
}

static void test_spoofed_from(void **state)
{
  struct fx *f = *state;
  char *xml = alice_xml("urn:itest:auth:spoof");
  struct itest_http h;
  long long before = tx_count(f);

  /* access@'s request sent with tickets@'s token. */
  itest_confirm(&f->env, f->tickets, xml, 0, &h);
  ITEST_EXPECT(h, 403);
  ITEST_EXPECT_ERROR(h, "From");
  itest_http_free(&h);
  assert_int_equal(tx_count(f), before);
  free(xml);
}

static void test_other_requestors_transaction(void **state)
{
  struct fx *f = *state;
  char *xml = alice_xml("urn:itest:auth:other-requestor");
  char *tx = itest_confirm_ok(&f->env, f->access, xml, 0);
  json_t *p = json_pack("{s:s}", "Transaction", tx);
  struct itest_http h;

  itest_post(&f->env, "RD-Status", f->tickets, p, &h);
  ITEST_EXPECT(h, 404);
  itest_http_free(&h);
  itest_post(&f->env, "RD-Final", f->tickets, p, &h);
  ITEST_EXPECT(h, 404);
  itest_http_free(&h);
  /* Not cancelled by the stranger's RD-Final. */
  itest_post(&f->env, "RD-Status", f->access, p, &h);
  ITEST_EXPECT(h, 202);
  itest_http_free(&h);

  /* bob's client can neither see nor answer alice's transaction. */
  itest_list(&f->env, &f->bob, -1, &h);
  ITEST_EXPECT(h, 200);
  assert_null(itest_pending_find(&h, tx));
  itest_http_free(&h);
  char *receipt = itest_receipt_b64(&f->bob, tx, "Accept", NULL, xml);
  json_t *r = json_pack("{s:s, s:s, s:s}", "Transaction", tx, "Response",
                        "Accept", "Receipt", receipt);
  itest_post(&f->env, "CD-Reply", f->bob.token, r, &h);
  ITEST_EXPECT(h, 404);
  itest_http_free(&h);
  assert_int_equal(itest_sql_count1(&f->env,
                                    "SELECT count(*) FROM transactions WHERE "
                                    "id = $1 AND state = 'pending'",
                                    tx),
                   1);

  /* Unknown transaction. */
  json_t *u =
      json_pack("{s:s}", "Transaction", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
  itest_post(&f->env, "RD-Status", f->access, u, &h);
  ITEST_EXPECT(h, 404);
  itest_http_free(&h);
  json_decref(u);
  json_decref(r);
  free(receipt);
  json_decref(p);
  free(tx);
  free(xml);
}

static void test_bad_parameters(void **state)
{
  struct fx *f = *state;
  char *xml = alice_xml("urn:itest:auth:400");
  struct itest_http h;
  long long before = tx_count(f);

  itest_post_raw(&f->env, "RD-Confirm", f->access, "application/json",
                 "{\"Request\": ", 12, &h);
  ITEST_EXPECT(h, 400);
  assert_non_null(itest_str(&h, "Error"));
  itest_http_free(&h);

  itest_post_raw(&f->env, "RD-Confirm", f->access, "application/json", "[]", 2,
                 &h);
  ITEST_EXPECT(h, 400);
  itest_http_free(&h);

  json_t *p = json_pack("{s:s, s:s}", "Request", xml, "Timeout", "10");
  itest_post(&f->env, "RD-Confirm", f->access, p, &h);
  ITEST_EXPECT(h, 400);
  ITEST_EXPECT_ERROR(h, "Timeout");
  itest_http_free(&h);
  json_decref(p);

  p = json_pack("{s:i}", "Request", 5);
  itest_post(&f->env, "RD-Confirm", f->access, p, &h);
  ITEST_EXPECT(h, 400);
  ITEST_EXPECT_ERROR(h, "Request");
  itest_http_free(&h);
  json_decref(p);

  p = json_pack("{s:s, s:s}", "Request", xml, "Colour", "blue");
  itest_post(&f->env, "RD-Confirm", f->access, p, &h);
  ITEST_EXPECT(h, 400);
  ITEST_EXPECT_ERROR(h, "Colour");
  itest_http_free(&h);
  json_decref(p);

  p = json_object();
  itest_post(&f->env, "RD-Confirm", f->access, p, &h);
  ITEST_EXPECT(h, 400);
  ITEST_EXPECT_ERROR(h, "Request");
  itest_http_free(&h);
  json_decref(p);

  p = json_pack("{s:s, s:i}", "Request", xml, "Timeout", -5);
  itest_post(&f->env, "RD-Confirm", f->access, p, &h);
  ITEST_EXPECT(h, 400);
  ITEST_EXPECT_ERROR(h, "Timeout");
  itest_http_free(&h);
  json_decref(p);

  p = json_pack("{s:s}", "Response", "Maybe");
  json_object_set_new(p, "Transaction", json_string("x"));
  json_object_set_new(p, "Receipt", json_string("AAAA"));
  itest_post(&f->env, "CD-Reply", f->alice.token, p, &h);
  ITEST_EXPECT(h, 400);
  ITEST_EXPECT_ERROR(h, "Response");
  itest_http_free(&h);
  json_decref(p);

  assert_int_equal(tx_count(f), before);
  free(xml);
}

static void test_unsupported_media_type(void **state)
{
  struct fx *f = *state;
  char *xml = alice_xml("urn:itest:auth:415");
  json_t *p = json_pack("{s:s}", "Request", xml);
  char *text = json_dumps(p, JSON_COMPACT);
  struct itest_http h;
  long long before = tx_count(f);

  itest_post_raw(&f->env, "RD-Confirm", f->access, "text/plain", text,
                 strlen(text), &h);
  ITEST_EXPECT(h, 415);
  itest_http_free(&h);
  itest_post_raw(&f->env, "RD-Confirm", f->access, "application/xml", xml,
                 strlen(xml), &h);
  ITEST_EXPECT(h, 415);
  itest_http_free(&h);
  assert_int_equal(tx_count(f), before);
  free(text);
  json_decref(p);
  free(xml);
}

static void test_closed_service_self_subscription(void **state)
{
  struct fx *f = *state;
  struct itest_client c;
  struct itest_http h;

  /* Spec §5 (amended): an unknown account gets the same 202 as one whose
   * devices are asked, so the answer does not reveal which accounts
   * exist; nothing is created and nobody is asked. */
  itest_client_init(&c, "dave@example.com");
  itest_register(&f->env, &c, NULL, NULL, &h);
  ITEST_EXPECT(h, 202);
  assert_non_null(itest_str(&h, "Match"));
  itest_http_free(&h);
  assert_int_equal(itest_sql_count(&f->env, "SELECT count(*) FROM "
                                            "transactions WHERE type = "
                                            "'Registration'"),
                   0);
  assert_int_equal(itest_sql_count(&f->env, "SELECT count(*) FROM accounts "
                                            "WHERE address = "
                                            "'dave@example.com'"),
                   0);
  itest_client_free(&c);
}

/* Four quick confirms from a requestor added with --rate 3: three 202,
 * then 429 with Retry. The limit uses a fixed one-minute window, so a run
 * that straddles a minute boundary is repeated once with a new requestor
 * (it cannot straddle two boundaries within a few seconds). */
static void test_rate_limit(void **state)
{
  struct fx *f = *state;
  struct itest_http h;

  for (int attempt = 0; attempt < 2; attempt++) {
    char who[64];
    snprintf(who, sizeof who, "rated%d@example.com", attempt);
    char *token = itest_requestor_add(&f->env, who, 3);
    time_t minute = time(NULL) / 60;
    long statuses[4];
    for (int i = 0; i < 4; i++) {
      char id[64];
      snprintf(id, sizeof id, "urn:itest:auth:rate-%d-%d", attempt, i);
      char *xml = itest_request_xml(who, "alice@example.com", id, true, 0);
      itest_confirm(&f->env, token, xml, 0, &h);
      statuses[i] = h.status;
      if (i == 3 && h.status == 429) {
        json_t *retry = json_object_get(h.json, "Retry");
        assert_true(json_is_integer(retry));
        assert_true(json_integer_value(retry) >= 1 &&
                    json_integer_value(retry) <= 60);
      } else if (h.status != 202 && h.status != 429) {
        ITEST_EXPECT(h, 202);
      }
      itest_http_free(&h);
      free(xml);
    }
    free(token);
    if (time(NULL) / 60 != minute && statuses[3] != 429)
      continue; /* crossed a window boundary: inconclusive, once more */
    for (int i = 0; i < 3; i++)
      assert_int_equal(statuses[i], 202);
    assert_int_equal(statuses[3], 429);
    assert_int_equal(itest_sql_count1(&f->env,
                                      "SELECT count(*) FROM transactions t "
                                      "JOIN requestors r ON r.id = "
                                      "t.requestor_id WHERE r.address = $1",
                                      who),
                     3);
    return;
  }
  fail_msg("rate limit runs crossed a minute boundary twice");
}

static void test_require_registration(void **state)
{
  struct fx *f = *state;
  const char *flags[] = {"--require-registration", NULL};
  char *xml = alice_xml("urn:itest:auth:require-registration");
  json_t *p = json_pack("{s:s}", "To", "alice@example.com");
  struct itest_http h;
  long long before = tx_count(f);

  itest_stop(&f->env);
  itest_start(&f->env, flags);
  itest_confirm(&f->env, f->access, xml, 0, &h);
  ITEST_EXPECT(h, 403);
  itest_http_free(&h);
  assert_int_equal(tx_count(f), before);

  /* Registration needs the user's consent (test_e2e_consent.c plays the
   * user); here the administrator records it. */
  itest_post(&f->env, "RD-Register", f->access, p, &h);
  ITEST_EXPECT(h, 202);
  itest_http_free(&h);
  const char *consent[] = {"consent", "add", "alice@example.com",
                           "access@example.com", NULL};
  int st = -1;
  free(itest_admin(&f->env, &st, consent));
  assert_int_equal(st, 0);
  itest_post(&f->env, "RD-Register", f->access, p, &h);
  ITEST_EXPECT(h, 200);
  itest_http_free(&h);
  itest_confirm(&f->env, f->access, xml, 0, &h);
  ITEST_EXPECT(h, 202);
  itest_http_free(&h);

  itest_post(&f->env, "RD-Deregister", f->access, p, &h);
  ITEST_EXPECT(h, 200);
  itest_http_free(&h);
  char *xml2 = alice_xml("urn:itest:auth:require-registration-2");
  itest_confirm(&f->env, f->access, xml2, 0, &h);
  ITEST_EXPECT(h, 403);
  itest_http_free(&h);
  /* the consent request and the one confirmation */
  assert_int_equal(tx_count(f), before + 2);
  free(xml2);
  json_decref(p);
  free(xml);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_unauthenticated),
      cmocka_unit_test(test_spoofed_from),
      cmocka_unit_test(test_other_requestors_transaction),
      cmocka_unit_test(test_bad_parameters),
      cmocka_unit_test(test_unsupported_media_type),
      cmocka_unit_test(test_closed_service_self_subscription),
      cmocka_unit_test(test_rate_limit),
      cmocka_unit_test(test_require_registration),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
