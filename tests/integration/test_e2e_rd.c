/*
 * test_e2e_rd.c — end to end, the requestor's side: RD-Confirm → CD-List →
 * CD-Reply → RD-Status for Accept, Reject and Refuse; RD-Final on pending
 * and answered transactions; expiry; idempotent resubmission;
 * RD-Register/RD-Deregister; GET {base}/CA and GET /healthz; and a
 * restart on the same database. Real PostgreSQL, real dispatcher, HTTP.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

#include "itest.h"
#include "owcp/keys.h"

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
  itest_env_init(&f->env, "rd");
  itest_account_add(&f->env, "alice@example.com");
  itest_account_add(&f->env, "bob@example.com");
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

static char *xml_for(const char *id)
{
  return itest_request_xml("access@example.com", "alice@example.com", id, true,
                           0);
}

static json_t *tx_params(const char *tx)
{
  json_t *p = json_pack("{s:s}", "Transaction", tx);
  assert_non_null(p);
  return p;
}

static void rd_op(struct fx *f, const char *op, const char *tx,
                  struct itest_http *out)
{
  json_t *p = tx_params(tx);
  itest_post(&f->env, op, f->token, p, out);
  json_decref(p);
}

/* Confirms, finds it in CD-List with the exact XML, answers it with
 * `response` and checks RD-Status returns the answer and the receipt byte
 * for byte. */
static void answer_flow(struct fx *f, const char *id, const char *response,
                        const char *reason)
{
  char *xml = xml_for(id);
  char *tx = itest_confirm_ok(&f->env, f->token, xml, 0);
  struct itest_http h;

  rd_op(f, "RD-Status", tx, &h);
  ITEST_EXPECT(h, 202);
  itest_http_free(&h);

  itest_list(&f->env, &f->alice, -1, &h);
  ITEST_EXPECT(h, 200);
  const json_t *item = itest_pending_find(&h, tx);
  assert_non_null(item);
  assert_string_equal(json_string_value(json_object_get(item, "Request")), xml);
  assert_string_equal(json_string_value(json_object_get(item, "From")),
                      "access@example.com");
  assert_string_equal(json_string_value(json_object_get(item, "Type")),
                      "Access");
  assert_non_null(json_string_value(json_object_get(item, "Issued")));
  assert_non_null(json_string_value(json_object_get(item, "Expires")));
  itest_http_free(&h);

  char *receipt = itest_receipt_b64(&f->alice, tx, response, reason, xml);
  json_t *p = itest_reply_params(tx, response, reason, receipt);
  itest_post(&f->env, "CD-Reply", f->alice.token, p, &h);
  ITEST_EXPECT(h, 200);
  itest_http_free(&h);
  json_decref(p);

  rd_op(f, "RD-Status", tx, &h);
  ITEST_EXPECT(h, 200);
  assert_string_equal(itest_str(&h, "Transaction"), tx);
  assert_string_equal(itest_str(&h, "Identifier"), id);
  assert_string_equal(itest_str(&h, "Response"), response);
  assert_string_equal(itest_str(&h, "Client"), f->alice.id);
  assert_string_equal(itest_str(&h, "Receipt"), receipt);
  const char *responded = itest_str(&h, "Responded");
  time_t t;
  assert_non_null(responded);
  assert_int_equal(owcp_time_parse(responded, &t, NULL), 0);
  const json_t *ver = json_object_get(h.json, "Verification");
  assert_true(json_is_array(ver));
  if (reason != NULL) {
    assert_string_equal(itest_str(&h, "Reason"), reason);
  } else {
    assert_int_equal(json_array_size(ver), 1);
    assert_string_equal(json_string_value(json_array_get(ver, 0)), "PIN");
    assert_null(json_object_get(h.json, "Reason"));
  }
  itest_http_free(&h);

  /* Answered: no longer offered to the account's clients. */
  itest_list(&f->env, &f->alice, -1, &h);
  ITEST_EXPECT(h, 200);
  assert_null(itest_pending_find(&h, tx));
  itest_http_free(&h);
  assert_int_equal(itest_sql_count1(&f->env,
                                    "SELECT count(*) FROM transactions WHERE "
                                    "id = $1 AND state = 'answered'",
                                    tx),
                   1);
  free(receipt);
  free(tx);
  free(xml);
}

static void test_accept(void **state)
{
  answer_flow(*state, "urn:itest:rd:accept", "Accept", NULL);
}

static void test_reject(void **state)
{
  answer_flow(*state, "urn:itest:rd:reject", "Reject", NULL);
}

static void test_refuse_with_reason(void **state)
{
  answer_flow(*state, "urn:itest:rd:refuse", "Refuse",
              "Unknown Verification Type");
}

static void test_final_pending_cancels(void **state)
{
  struct fx *f = *state;
  char *xml = xml_for("urn:itest:rd:final-pending");
  char *tx = itest_confirm_ok(&f->env, f->token, xml, 0);
  struct itest_http h;

  rd_op(f, "RD-Final", tx, &h);
  ITEST_EXPECT(h, 408);
  itest_http_free(&h);

  itest_reply(&f->env, &f->alice, tx, "Accept", NULL, xml, &h);
  ITEST_EXPECT(h, 408);
  itest_http_free(&h);

  itest_list(&f->env, &f->alice, -1, &h);
  ITEST_EXPECT(h, 200);
  assert_null(itest_pending_find(&h, tx));
  itest_http_free(&h);

  rd_op(f, "RD-Status", tx, &h);
  ITEST_EXPECT(h, 408);
  itest_http_free(&h);
  /* The late reply changed nothing. */
  assert_int_equal(itest_sql_count1(&f->env,
                                    "SELECT count(*) FROM transactions WHERE "
                                    "id = $1 AND state = 'cancelled' AND "
                                    "receipt IS NULL",
                                    tx),
                   1);
  free(tx);
  free(xml);
}

static void test_final_answered_returns_result(void **state)
{
  struct fx *f = *state;
  char *xml = xml_for("urn:itest:rd:final-answered");
  char *tx = itest_confirm_ok(&f->env, f->token, xml, 0);
  struct itest_http h;

  itest_reply(&f->env, &f->alice, tx, "Accept", NULL, xml, &h);
  ITEST_EXPECT(h, 200);
  itest_http_free(&h);

  rd_op(f, "RD-Final", tx, &h);
  ITEST_EXPECT(h, 200);
  assert_string_equal(itest_str(&h, "Response"), "Accept");
  assert_string_equal(itest_str(&h, "Client"), f->alice.id);
  assert_non_null(itest_str(&h, "Receipt"));
  itest_http_free(&h);
  free(tx);
  free(xml);
}

static void test_expiry(void **state)
{
  struct fx *f = *state;
  char *xml = xml_for("urn:itest:rd:expiry");
  char *tx = itest_confirm_ok(&f->env, f->token, xml, 1);
  struct itest_http h;

  /* Bounded polling: the transaction expires one second after it was
   * received; allow the sweeper and clock granularity a few seconds. */
  double deadline = itest_now() + 6.0;
  for (;;) {
    rd_op(f, "RD-Status", tx, &h);
    if (h.status != 202 || itest_now() > deadline)
      break;
    itest_http_free(&h);
    struct timespec ts = {0, 200L * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  ITEST_EXPECT(h, 408);
  itest_http_free(&h);

  itest_list(&f->env, &f->alice, -1, &h);
  ITEST_EXPECT(h, 200);
  assert_null(itest_pending_find(&h, tx));
  itest_http_free(&h);

  itest_reply(&f->env, &f->alice, tx, "Accept", NULL, xml, &h);
  ITEST_EXPECT(h, 408);
  itest_http_free(&h);
  free(tx);
  free(xml);
}

static void test_idempotent_resubmission(void **state)
{
  struct fx *f = *state;
  const char *id = "urn:itest:rd:idempotent";
  char *xml = xml_for(id);
  char *tx1 = itest_confirm_ok(&f->env, f->token, xml, 0);
  char *tx2 = itest_confirm_ok(&f->env, f->token, xml, 0);
  assert_string_equal(tx1, tx2);

  /* Same identifier, different bytes: a conflict, nothing stored. */
  char *other = itest_request_xml("access@example.com", "alice@example.com", id,
                                  false, 0);
  struct itest_http h;
  itest_confirm(&f->env, f->token, other, 0, &h);
  ITEST_EXPECT(h, 409);
  assert_non_null(itest_str(&h, "Error"));
  itest_http_free(&h);
  assert_int_equal(itest_sql_count1(&f->env,
                                    "SELECT count(*) FROM transactions "
                                    "WHERE identifier = $1",
                                    id),
                   1);
  free(other);
  free(tx1);
  free(tx2);
  free(xml);
}

static void test_multipart_confirm(void **state)
{
  struct fx *f = *state;
  char *xml = xml_for("urn:itest:rd:multipart");
  json_t *p = json_object();
  struct itest_http h;

  itest_post_multipart(&f->env, "RD-Confirm", f->token, p, xml, &h);
  ITEST_EXPECT(h, 202);
  char *tx = strdup(itest_str(&h, "Transaction"));
  itest_http_free(&h);

  itest_list(&f->env, &f->alice, -1, &h);
  ITEST_EXPECT(h, 200);
  const json_t *item = itest_pending_find(&h, tx);
  assert_non_null(item);
  assert_string_equal(json_string_value(json_object_get(item, "Request")), xml);
  itest_http_free(&h);
  json_decref(p);
  free(tx);
  free(xml);
}

static void test_unknown_recipient(void **state)
{
  struct fx *f = *state;
  const char *to[] = {"nobody@example.com", "alice@elsewhere.org"};
  for (size_t i = 0; i < 2; i++) {
    char id[64];
    snprintf(id, sizeof id, "urn:itest:rd:unknown-to-%zu", i);
    char *xml = itest_request_xml("access@example.com", to[i], id, true, 0);
    struct itest_http h;
    itest_confirm(&f->env, f->token, xml, 0, &h);
    ITEST_EXPECT(h, 404);
    itest_http_free(&h);
    assert_int_equal(itest_sql_count1(&f->env,
                                      "SELECT count(*) FROM transactions "
                                      "WHERE identifier = $1",
                                      id),
                     0);
    free(xml);
  }
}

static void test_register_deregister(void **state)
{
  struct fx *f = *state;
  struct itest_http h;
  json_t *p = json_pack("{s:s}", "To", "alice@example.com");

  itest_post(&f->env, "RD-Register", f->token, p, &h);
  ITEST_EXPECT(h, 200);
  assert_true(json_is_true(json_object_get(h.json, "Ready")));
  itest_http_free(&h);
  assert_int_equal(itest_sql_count(&f->env,
                                   "SELECT count(*) FROM registrations r JOIN "
                                   "accounts a ON a.id = r.account_id WHERE "
                                   "a.address = 'alice@example.com'"),
                   1);

  itest_post(&f->env, "RD-Deregister", f->token, p, &h);
  ITEST_EXPECT(h, 200);
  itest_http_free(&h);
  assert_int_equal(itest_sql_count(&f->env,
                                   "SELECT count(*) FROM registrations r JOIN "
                                   "accounts a ON a.id = r.account_id WHERE "
                                   "a.address = 'alice@example.com'"),
                   0);
  json_decref(p);

  /* bob exists but has no client: registered, not ready. */
  p = json_pack("{s:s}", "To", "bob@example.com");
  itest_post(&f->env, "RD-Register", f->token, p, &h);
  ITEST_EXPECT(h, 200);
  assert_true(json_is_false(json_object_get(h.json, "Ready")));
  itest_http_free(&h);
  json_decref(p);

  p = json_pack("{s:s}", "To", "nobody@example.com");
  itest_post(&f->env, "RD-Register", f->token, p, &h);
  ITEST_EXPECT(h, 404);
  itest_http_free(&h);
  json_decref(p);
}

static void test_ca_and_healthz(void **state)
{
  struct fx *f = *state;
  struct itest_http h;

  itest_get(&f->env, "/healthz", &h);
  ITEST_EXPECT(h, 200);
  assert_string_equal(itest_str(&h, "Database"), "ok");
  itest_http_free(&h);

  itest_get(&f->env, "/owcp/0.1/CA", &h);
  ITEST_EXPECT(h, 200);
  assert_non_null(strstr(h.body, "-----BEGIN CERTIFICATE-----"));
  /* The bundle's first certificate is the CA that issued alice's. */
  X509 *ca = owcp_cert_from_pem(h.body, h.body_len, NULL);
  assert_non_null(ca);
  assert_int_equal(X509_cmp(ca, f->alice.ca), 0);
  X509_free(ca);
  itest_http_free(&h);
}

/* A Completion URI aimed at link-local (cloud metadata), unspecified,
 * shared (CGNAT 100.64.0.0/10) or NAT64 (64:ff9b::/96, here wrapping
 * 127.0.0.1) addresses is accepted as a URI but never connected to: every
 * attempt is refused at connect time and nothing is delivered. */
static void test_completion_forbidden_addresses(void **state)
{
  struct fx *f = *state;
  const char *uris[] = {"https://169.254.169.254/latest/meta-data",
                        "https://0.0.0.0:8443/owcp", "https://100.64.0.1/done",
                        "https://[64:ff9b::7f00:1]:8443/done"};

  for (size_t i = 0; i < sizeof uris / sizeof *uris; i++) {
    char id[64];
    struct itest_http h;

    snprintf(id, sizeof id, "urn:itest:rd:forbidden-completion-%zu", i);
    char *xml = xml_for(id);
    json_t *p = json_pack("{s:s, s:s}", "Request", xml, "Completion", uris[i]);
    itest_post(&f->env, "RD-Confirm", f->token, p, &h);
    json_decref(p);
    ITEST_EXPECT(h, 202);
    char *tx = strdup(itest_str(&h, "Transaction"));
    itest_http_free(&h);
    rd_op(f, "RD-Final", tx, &h); /* queues the outcome for delivery */
    ITEST_EXPECT(h, 408);
    itest_http_free(&h);

    double deadline = itest_now() + 20;
    long long failed = 0;
    while (failed == 0 && itest_now() < deadline) {
      failed = itest_sql_count1(&f->env,
                                "SELECT count(*) FROM outbox WHERE "
                                "transaction_id = $1 AND attempts >= 1 AND "
                                "last_error LIKE 'delivery refused:%'",
                                tx);
      if (failed == 0)
        usleep(100 * 1000);
    }
    if (failed != 1)
      fail_msg("no refused delivery attempt to %s within 20 s", uris[i]);
    assert_int_equal(itest_sql_count1(&f->env,
                                      "SELECT count(*) FROM outbox WHERE "
                                      "transaction_id = $1 AND delivered_at "
                                      "IS NOT NULL",
                                      tx),
                     0);
    free(tx);
    free(xml);
  }
}

static void test_restart_keeps_state(void **state)
{
  struct fx *f = *state;
  char *xml = xml_for("urn:itest:rd:restart");
  char *tx = itest_confirm_ok(&f->env, f->token, xml, 0);
  struct itest_http h;

  itest_stop(&f->env); /* asserts a clean exit 0 */
  itest_start(&f->env, NULL);

  itest_list(&f->env, &f->alice, -1, &h);
  ITEST_EXPECT(h, 200);
  assert_non_null(itest_pending_find(&h, tx));
  itest_http_free(&h);
  /* Keys survive: the CA after the restart still issued alice's cert. */
  itest_get(&f->env, "/owcp/0.1/CA", &h);
  ITEST_EXPECT(h, 200);
  X509 *ca = owcp_cert_from_pem(h.body, h.body_len, NULL);
  assert_non_null(ca);
  assert_int_equal(X509_cmp(ca, f->alice.ca), 0);
  X509_free(ca);
  itest_http_free(&h);

  /* And after a crash (SIGKILL) too. */
  itest_kill(&f->env);
  itest_start(&f->env, NULL);
  itest_reply(&f->env, &f->alice, tx, "Accept", NULL, xml, &h);
  ITEST_EXPECT(h, 200);
  itest_http_free(&h);
  free(tx);
  free(xml);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_accept),
      cmocka_unit_test(test_reject),
      cmocka_unit_test(test_refuse_with_reason),
      cmocka_unit_test(test_final_pending_cancels),
      cmocka_unit_test(test_final_answered_returns_result),
      cmocka_unit_test(test_expiry),
      cmocka_unit_test(test_idempotent_resubmission),
      cmocka_unit_test(test_multipart_confirm),
      cmocka_unit_test(test_unknown_recipient),
      cmocka_unit_test(test_register_deregister),
      cmocka_unit_test(test_ca_and_healthz),
      cmocka_unit_test(test_completion_forbidden_addresses),
      cmocka_unit_test(test_restart_keeps_state),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
