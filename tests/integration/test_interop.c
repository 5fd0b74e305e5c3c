/*
 * test_interop.c — the two libraries against each other through a real
 * dispatcher: a request built and sent with libowcp-requestor is listed,
 * rendered and answered with PIN by libowcp-client, and the requestor
 * library reports the answer only after verifying the client's receipt
 * (against GET {base}/CA and the exact XML it sent). Also the same receipt
 * checked by `openssl cms -verify`, so all three agree.
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
#include "owcp/client.h"
#include "owcp/requestor.h"
#include "testutil.h"

#define PIN "8152"

struct fx {
  struct itest_env env;
  char *token; /* requestor bank@example.com */
  char state[600];
  struct owcp_client *client;
  struct owcp_requestor *rq;
};

static int setup(void **state)
{
  struct fx *f = calloc(1, sizeof *f);
  struct owcp_error err = {{0}};
  assert_non_null(f);
  *state = f;
  itest_env_init(&f->env, "interop");
  itest_account_add(&f->env, "alice@example.com");
  f->token = itest_requestor_add(&f->env, "bank@example.com", 0);
  itest_start(&f->env, NULL);

  snprintf(f->state, sizeof f->state, "%s/client", f->env.tmpdir);
  struct owcp_client_config ccfg = {.state_dir = f->state,
                                    .dispatcher = f->env.base,
                                    .allow_insecure_http = true};
  if (owcp_client_open(&ccfg, &f->client, &err) != 0)
    fail_msg("owcp_client_open: %s", err.msg);
  char *code = itest_code_issue(&f->env, "alice@example.com", 0);
  struct owcp_register_params reg = {.account = "alice@example.com",
                                     .description = "interop phone",
                                     .code = code,
                                     .pin = PIN};
  if (owcp_client_register(f->client, &reg, &err) != 0)
    fail_msg("owcp_client_register: %s", err.msg);
  free(code);

  struct owcp_requestor_config rcfg = {.account = "bank@example.com",
                                       .token = f->token,
                                       .dispatcher = f->env.base,
                                       .allow_insecure_http = true};
  if (owcp_requestor_new(&rcfg, &f->rq, &err) != 0)
    fail_msg("owcp_requestor_new: %s", err.msg);
  return 0;
}

static int teardown(void **state)
{
  struct fx *f = *state;
  owcp_requestor_free(f->rq);
  owcp_client_close(f->client);
  if (f->env.pid > 0)
    itest_stop(&f->env);
  free(f->token);
  itest_env_fini(&f->env);
  free(f);
  return 0;
}

/* Sends a payment confirmation for USD 9,825.00 with PIN; returns the
 * transaction (caller frees) and the XML sent (caller frees). */
static char *send_payment(struct fx *f, const char *id, char **xml_out)
{
  struct owcp_error err = {{0}};
  struct owcp_rq_result res = {0};
  char *xml;
  size_t len;

  if (owcp_request_build_simple(owcp_requestor_validator(f->rq),
                                "bank@example.com", "alice@example.com",
                                "Payment", id, "Transfer to ACME Ltd", "usd",
                                "9825.00", true, &xml, &len, &err) != 0)
    fail_msg("owcp_request_build_simple: %s", err.msg);
  if (owcp_rq_confirm(f->rq, xml, len, NULL, &res, &err) != OWCP_RQ_PENDING)
    fail_msg("owcp_rq_confirm: %s (%s)", err.msg,
             owcp_rq_status_name(res.status));
  char *tx = strdup(res.transaction);
  assert_non_null(tx);
  owcp_rq_result_free(&res);
  *xml_out = xml;
  return tx;
}

/* The client lists (long poll), renders and answers tx. */
static void client_answers(struct fx *f, const char *tx, const char *xml,
                           enum owcp_answer answer)
{
  struct owcp_error err = {{0}};
  struct owcp_pending_list list = {0};
  struct owcp_view view = {0};
  enum owcp_answer sent;

  if (owcp_client_list(f->client, "alice@example.com", 5, &list, &err) != 0)
    fail_msg("owcp_client_list: %s", err.msg);
  const struct owcp_pending *p = owcp_pending_find(&list, tx);
  if (p == NULL)
    itest_fail("transaction %s not listed", tx);
  /* What the client shows and signs is byte for byte what was sent. */
  assert_int_equal(p->request_len, strlen(xml));
  assert_memory_equal(p->request, xml, p->request_len);
  if (owcp_client_view(f->client, "alice@example.com", p, OWCP_RENDER_PLAIN,
                       &view, &err) != 0)
    fail_msg("owcp_client_view: %s", err.msg);
  assert_non_null(strstr(view.text, "USD 9,825.00"));
  assert_non_null(strstr(view.text, "Transfer to ACME Ltd"));
  assert_true(view.needs_pin);
  assert_null(view.unsupported);
  owcp_view_clear(&view);
  assert_int_equal(owcp_client_reply(f->client, "alice@example.com", p, answer,
                                     "0000", &sent, &err),
                   OWCP_CLIENT_BAD_PIN);
  if (owcp_client_reply(f->client, "alice@example.com", p, answer, PIN, &sent,
                        &err) != 0)
    fail_msg("owcp_client_reply: %s", err.msg);
  assert_int_equal(sent, answer);
  owcp_pending_list_free(&list);
}

static void test_accept_verified_by_requestor_and_openssl(void **state)
{
  struct fx *f = *state;
  struct owcp_error err = {{0}};
  struct owcp_rq_result res = {0};
  char *xml;
  char *tx = send_payment(f, "urn:itest:interop:accept", &xml);

  client_answers(f, tx, xml, OWCP_ANSWER_ACCEPT);
  if (owcp_rq_status(f->rq, tx, xml, strlen(xml), 0, &res, &err) != OWCP_RQ_OK)
    fail_msg("owcp_rq_status: %s", err.msg);
  assert_int_equal(res.response, OWCP_RQ_ACCEPT);
  assert_string_equal(res.account, "alice@example.com");
  assert_int_equal(res.verification_count, 1);
  assert_string_equal(res.verification[0], "PIN");
  assert_non_null(res.receipt);

  /* The same receipt, checked by the openssl command against GET /CA. */
  char *ca_pem = NULL;
  if (owcp_requestor_ca(f->rq, &ca_pem, NULL, &err) != 0)
    fail_msg("owcp_requestor_ca: %s", err.msg);
  char ca_path[700], der_path[700];
  snprintf(ca_path, sizeof ca_path, "%s/interop-ca.pem", f->env.tmpdir);
  snprintf(der_path, sizeof der_path, "%s/interop-receipt.der", f->env.tmpdir);
  assert_int_equal(
      owcp_file_write_atomic(ca_path, ca_pem, strlen(ca_pem), 0600, &err), 0);
  assert_int_equal(owcp_file_write_atomic(der_path, res.receipt,
                                          res.receipt_len, 0600, &err),
                   0);
  assert_int_equal(testutil_openssl(NULL, "cms", "-verify", "-inform", "DER",
                                    "-in", der_path, "-CAfile", ca_path,
                                    "-purpose", "any", "-out", "/dev/null"),
                   0);

  /* The library's own offline check agrees, and refuses other XML. */
  struct owcp_rq_result again = {0};
  assert_int_equal(owcp_rq_verify_receipt(res.receipt, res.receipt_len, ca_pem,
                                          xml, strlen(xml), tx, NULL, "Accept",
                                          &again, &err),
                   0);
  owcp_rq_result_free(&again);
  const char *other = "<Request/>";
  assert_int_not_equal(owcp_rq_verify_receipt(res.receipt, res.receipt_len,
                                              ca_pem, other, strlen(other), tx,
                                              NULL, "Accept", &again, &err),
                       0);
  owcp_rq_result_free(&again);
  free(ca_pem);
  owcp_rq_result_free(&res);
  free(tx);
  free(xml);
}

static void test_reject(void **state)
{
  struct fx *f = *state;
  struct owcp_error err = {{0}};
  struct owcp_rq_result res = {0};
  char *xml;
  char *tx = send_payment(f, "urn:itest:interop:reject", &xml);

  client_answers(f, tx, xml, OWCP_ANSWER_REJECT);
  if (owcp_rq_status(f->rq, tx, xml, strlen(xml), 0, &res, &err) != OWCP_RQ_OK)
    fail_msg("owcp_rq_status: %s", err.msg);
  assert_int_equal(res.response, OWCP_RQ_REJECT);
  owcp_rq_result_free(&res);
  free(tx);
  free(xml);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_accept_verified_by_requestor_and_openssl),
      cmocka_unit_test(test_reject),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
