/*
 * test_e2e_consent.c — requestor consent under --require-registration
 * (binding §4), end to end: RD-Register sends the user's devices a
 * "Consent" request written by the dispatcher and answers 202 with its
 * Transaction (the same one while undecided); the device (the harness's
 * signing client) accepts → RD-Confirm goes through at once, RD-Status
 * reports the Accept with its receipt and RD-Register answers 200; a
 * reject → 403 for good, until `owcp-admin consent add` (200 at once) or
 * `consent remove` (asked afresh); RD-Final on the consent request cannot
 * be used to ask again at once (429); an account without a client cannot
 * be asked (403); and without the option RD-Register is as before.
 * Real PostgreSQL, real dispatcher and owcp-admin, HTTP.
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
  char *access; /* requestor access@example.com */
  char *bank;   /* requestor bank@example.com */
  char *shop;   /* requestor shop@example.com */
  struct itest_client alice;
};

static int setup(void **state)
{
  struct fx *f = calloc(1, sizeof *f);
  const char *flags[] = {"--require-registration", NULL};

  assert_non_null(f);
  *state = f;
  itest_env_init(&f->env, "consent");
  itest_account_add(&f->env, "alice@example.com");
  itest_account_add(&f->env, "carol@example.com"); /* no client */
  f->access = itest_requestor_add(&f->env, "access@example.com", 0);
  f->bank = itest_requestor_add(&f->env, "bank@example.com", 0);
  f->shop = itest_requestor_add(&f->env, "shop@example.com", 0);
  itest_start(&f->env, flags);
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
  free(f->access);
  free(f->bank);
  free(f->shop);
  itest_env_fini(&f->env);
  free(f);
  return 0;
}

static void rd_register(struct fx *f, const char *token, const char *to,
                        struct itest_http *out)
{
  json_t *p = json_pack("{s:s}", "To", to);

  assert_non_null(p);
  itest_post(&f->env, "RD-Register", token, p, out);
  json_decref(p);
}

static void rd_tx_op(struct fx *f, const char *op, const char *token,
                     const char *tx, struct itest_http *out)
{
  json_t *p = json_pack("{s:s}", "Transaction", tx);

  assert_non_null(p);
  itest_post(&f->env, op, token, p, out);
  json_decref(p);
}

/* RD-Confirm of a fresh request from `from` to alice; returns the status. */
static long confirm_status(struct fx *f, const char *token, const char *from,
                           const char *id)
{
  char *xml = itest_request_xml(from, "alice@example.com", id, true, 0);
  struct itest_http h;
  long status;

  itest_confirm(&f->env, token, xml, 0, &h);
  status = h.status;
  itest_http_free(&h);
  free(xml);
  return status;
}

/* RD-Register expecting 202; returns the consent Transaction (caller
 * frees). */
static char *register_pending(struct fx *f, const char *token)
{
  struct itest_http h;
  char *tx;

  rd_register(f, token, "alice@example.com", &h);
  ITEST_EXPECT(h, 202);
  assert_non_null(itest_str(&h, "Expires"));
  tx = strdup(itest_str(&h, "Transaction"));
  assert_non_null(tx);
  itest_http_free(&h);
  return tx;
}

/* Plays alice's device: finds tx in CD-List, checks it is the consent
 * request for `requestor` as the dispatcher wrote it, and answers it. */
static void device_answers(struct fx *f, const char *tx, const char *requestor,
                           const char *response)
{
  char summary[256];
  struct itest_http h, r;
  const json_t *item;
  const char *xml;

  itest_list(&f->env, &f->alice, -1, &h);
  ITEST_EXPECT(h, 200);
  item = itest_pending_find(&h, tx);
  assert_non_null(item);
  assert_string_equal(json_string_value(json_object_get(item, "Type")),
                      "Consent");
  assert_string_equal(json_string_value(json_object_get(item, "From")),
                      requestor);
  xml = json_string_value(json_object_get(item, "Request"));
  snprintf(summary, sizeof summary,
           "Allow %s to send you confirmation requests?", requestor);
  assert_non_null(strstr(xml, summary));
  assert_non_null(strstr(xml, "type=\"Consent\""));
  itest_reply(&f->env, &f->alice, tx, response, NULL, xml, &r);
  ITEST_EXPECT(r, 200);
  itest_http_free(&r);
  itest_http_free(&h);
}

static int admin_consent(struct fx *f, const char *verb, const char *account,
                         const char *requestor, char **out)
{
  const char *args[] = {"consent", verb, account, requestor, NULL};
  int status = -1;
  char *text = itest_admin(&f->env, &status, args);

  if (out != NULL)
    *out = text;
  else
    free(text);
  return status;
}

static long long consent_requests(struct fx *f, const char *requestor)
{
  return itest_sql_count1(
      &f->env,
      "SELECT count(*) FROM transactions t JOIN requestors q ON "
      "q.id = t.requestor_id WHERE t.type = 'Consent' AND q.address = $1",
      requestor);
}

static void test_accept(void **state)
{
  struct fx *f = *state;
  struct itest_http h;

  assert_int_equal(
      confirm_status(f, f->access, "access@example.com", "urn:consent:before"),
      403);
  char *tx = register_pending(f, f->access);
  /* Repeated while undecided: the same transaction, no second request. */
  char *again = register_pending(f, f->access);
  assert_string_equal(again, tx);
  free(again);
  assert_int_equal(consent_requests(f, "access@example.com"), 1);
  rd_tx_op(f, "RD-Status", f->access, tx, &h);
  ITEST_EXPECT(h, 202);
  itest_http_free(&h);
  assert_int_equal(confirm_status(f, f->access, "access@example.com",
                                  "urn:consent:undecided"),
                   403);

  device_answers(f, tx, "access@example.com", "Accept");
  /* The consent holds from the answer on, before any repeated RD-Register. */
  assert_int_equal(
      confirm_status(f, f->access, "access@example.com", "urn:consent:after"),
      202);
  rd_tx_op(f, "RD-Status", f->access, tx, &h);
  ITEST_EXPECT(h, 200);
  assert_string_equal(itest_str(&h, "Response"), "Accept");
  assert_non_null(itest_str(&h, "Receipt"));
  itest_http_free(&h);
  rd_register(f, f->access, "alice@example.com", &h);
  ITEST_EXPECT(h, 200);
  assert_true(json_is_true(json_object_get(h.json, "Ready")));
  itest_http_free(&h);
  assert_int_equal(consent_requests(f, "access@example.com"), 1);
  assert_int_equal(
      itest_sql_count1(&f->env,
                       "SELECT count(*) FROM log WHERE event = "
                       "'requestor.registered' AND detail = 'consent=user' "
                       "AND transaction = $1",
                       tx),
      1);

  /* RD-Deregister withdraws it; registering again asks the user again. */
  json_t *p = json_pack("{s:s}", "To", "alice@example.com");
  itest_post(&f->env, "RD-Deregister", f->access, p, &h);
  json_decref(p);
  ITEST_EXPECT(h, 200);
  itest_http_free(&h);
  assert_int_equal(confirm_status(f, f->access, "access@example.com",
                                  "urn:consent:withdrawn"),
                   403);
  char *tx2 = register_pending(f, f->access);
  assert_string_not_equal(tx2, tx);
  free(tx2);
  free(tx);
}

static void test_reject_then_admin(void **state)
{
  struct fx *f = *state;
  struct itest_http h;
  char *out = NULL;

  char *tx = register_pending(f, f->bank);
  device_answers(f, tx, "bank@example.com", "Reject");
  rd_register(f, f->bank, "alice@example.com", &h);
  ITEST_EXPECT(h, 403);
  ITEST_EXPECT_ERROR(h, "refused");
  itest_http_free(&h);
  /* Final: asking again neither succeeds nor bothers the user again. */
  rd_register(f, f->bank, "alice@example.com", &h);
  ITEST_EXPECT(h, 403);
  itest_http_free(&h);
  assert_int_equal(consent_requests(f, "bank@example.com"), 1);
  assert_int_equal(
      confirm_status(f, f->bank, "bank@example.com", "urn:consent:bank:1"),
      403);

  assert_int_equal(admin_consent(f, "list", "alice@example.com", NULL, &out),
                   0);
  assert_non_null(strstr(out, "bank@example.com\trejected"));
  free(out);

  /* The administrator's consent overrides the rejection at once. */
  assert_int_equal(
      admin_consent(f, "add", "alice@example.com", "bank@example.com", &out),
      0);
  assert_non_null(strstr(out, "recorded"));
  free(out);
  rd_register(f, f->bank, "alice@example.com", &h);
  ITEST_EXPECT(h, 200);
  itest_http_free(&h);
  assert_int_equal(
      confirm_status(f, f->bank, "bank@example.com", "urn:consent:bank:2"),
      202);
  assert_int_equal(admin_consent(f, "list", "alice@example.com", NULL, &out),
                   0);
  assert_non_null(strstr(out, "bank@example.com\tconsented\tadmin"));
  assert_null(strstr(out, "bank@example.com\trejected"));
  free(out);
  assert_int_equal(
      admin_consent(f, "add", "alice@example.com", "bank@example.com", &out),
      0);
  assert_non_null(strstr(out, "already"));
  free(out);

  /* Removing it forgets both: RD-Confirm is refused and the next
   * RD-Register asks the user afresh. */
  assert_int_equal(
      admin_consent(f, "remove", "alice@example.com", "bank@example.com", NULL),
      0);
  assert_int_equal(
      confirm_status(f, f->bank, "bank@example.com", "urn:consent:bank:3"),
      403);
  char *tx2 = register_pending(f, f->bank);
  assert_string_not_equal(tx2, tx);
  free(tx2);
  free(tx);

  /* Unknown names and bad usage. */
  assert_int_equal(
      admin_consent(f, "add", "alice@example.com", "nobody@example.com", NULL),
      1);
  assert_int_equal(admin_consent(f, "add", "alice", "bank@example.com", NULL),
                   2);
}

static void test_admin_first(void **state)
{
  struct fx *f = *state;
  struct itest_http h;

  assert_int_equal(
      admin_consent(f, "add", "alice@example.com", "shop@example.com", NULL),
      0);
  rd_register(f, f->shop, "alice@example.com", &h);
  ITEST_EXPECT(h, 200);
  assert_true(json_is_true(json_object_get(h.json, "Ready")));
  itest_http_free(&h);
  assert_int_equal(consent_requests(f, "shop@example.com"), 0);
  assert_int_equal(
      confirm_status(f, f->shop, "shop@example.com", "urn:consent:shop"), 202);
}

static void test_cancel_and_no_client(void **state)
{
  struct fx *f = *state;
  struct itest_http h;

  /* The only pending consent request of access@ was created by
   * test_accept; cancel it: asking again at once is refused with Retry. */
  char *tx = register_pending(f, f->access);
  rd_tx_op(f, "RD-Final", f->access, tx, &h);
  ITEST_EXPECT(h, 408);
  itest_http_free(&h);
  rd_register(f, f->access, "alice@example.com", &h);
  ITEST_EXPECT(h, 429);
  assert_true(json_integer_value(json_object_get(h.json, "Retry")) > 0);
  itest_http_free(&h);
  free(tx);

  /* carol has no device to ask. */
  rd_register(f, f->access, "carol@example.com", &h);
  ITEST_EXPECT(h, 403);
  ITEST_EXPECT_ERROR(h, "no active client");
  itest_http_free(&h);
  rd_register(f, f->access, "nobody@example.com", &h);
  ITEST_EXPECT(h, 404);
  itest_http_free(&h);
}

/* Without the option nothing changes: RD-Register answers 200 at once and
 * asks nobody. Runs last (it restarts the dispatcher). */
static void test_without_option(void **state)
{
  struct fx *f = *state;
  struct itest_http h;
  long long before = itest_sql_count(
      &f->env, "SELECT count(*) FROM transactions WHERE type = 'Consent'");

  itest_stop(&f->env);
  itest_start(&f->env, NULL);
  rd_register(f, f->access, "carol@example.com", &h);
  ITEST_EXPECT(h, 200);
  assert_false(json_is_true(json_object_get(h.json, "Ready")));
  itest_http_free(&h);
  rd_register(f, f->access, "alice@example.com", &h);
  ITEST_EXPECT(h, 200);
  itest_http_free(&h);
  assert_int_equal(itest_sql_count(&f->env, "SELECT count(*) FROM "
                                            "transactions WHERE type = "
                                            "'Consent'"),
                   before);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_accept),
      cmocka_unit_test(test_reject_then_admin),
      cmocka_unit_test(test_admin_first),
      cmocka_unit_test(test_cancel_and_no_client),
      cmocka_unit_test(test_without_option),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
