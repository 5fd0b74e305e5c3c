/*
 * test_e2e_receipt.c — end to end, the evidence: a receipt returned by
 * RD-Status is verified by a third party with nothing but the PEM served
 * at GET {base}/CA and the real `openssl cms -verify` command, and the
 * verified content names the transaction, account, client, response and
 * the exact request. A receipt altered by one octet fails the same check.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"
#include "testutil.h"
#include "owcp/util.h"

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
  itest_env_init(&f->env, "receipt");
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

/* Runs openssl cms -verify; returns its exit status (-1: it did not exit
 * normally). */
static int openssl_verify(const char *der, const char *ca, const char *out)
{
  return testutil_openssl(NULL, "cms", "-verify", "-inform", "DER", "-in", der,
                          "-CAfile", ca, "-purpose", "any", "-out", out);
}

/* Confirms, answers with response and returns RD-Status's Receipt
 * decoded (caller frees); *tx_out gets the transaction. */
static unsigned char *answered_receipt(struct fx *f, const char *id,
                                       const char *response, const char *reason,
                                       const char *xml, char **tx_out,
                                       size_t *len)
{
  char *tx = itest_confirm_ok(&f->env, f->token, xml, 0);
  struct itest_http h;
  itest_reply(&f->env, &f->alice, tx, response, reason, xml, &h);
  ITEST_EXPECT(h, 200);
  itest_http_free(&h);
  json_t *p = json_pack("{s:s}", "Transaction", tx);
  itest_post(&f->env, "RD-Status", f->token, p, &h);
  ITEST_EXPECT(h, 200);
  assert_string_equal(itest_str(&h, "Identifier"), id);
  const char *b64 = itest_str(&h, "Receipt");
  assert_non_null(b64);
  unsigned char *der = NULL;
  assert_int_equal(owcp_base64_decode(b64, strlen(b64), &der, len, NULL), 0);
  itest_http_free(&h);
  json_decref(p);
  *tx_out = tx;
  return der;
}

static void fetch_ca(const struct itest_env *e, const char *path)
{
  struct itest_http h;
  itest_get(e, "/owcp/0.1/CA", &h);
  ITEST_EXPECT(h, 200);
  testutil_write_file(path, h.body, h.body_len);
  itest_http_free(&h);
}

static void verify_flow(struct fx *f, const char *id, const char *response,
                        const char *reason)
{
  char der_path[600], ca_path[600], out_path[600];
  char *xml =
      itest_request_xml("access@example.com", "alice@example.com", id, true, 0);
  char *tx = NULL;
  size_t len = 0;
  unsigned char *der =
      answered_receipt(f, id, response, reason, xml, &tx, &len);

  snprintf(der_path, sizeof der_path, "%s/r-%s.der", f->env.tmpdir, response);
  snprintf(ca_path, sizeof ca_path, "%s/ca.pem", f->env.tmpdir);
  snprintf(out_path, sizeof out_path, "%s/r-%s.json", f->env.tmpdir, response);
  testutil_write_file(der_path, der, len);
  fetch_ca(&f->env, ca_path);
  assert_int_equal(openssl_verify(der_path, ca_path, out_path), 0);

  unsigned char *content = NULL;
  size_t clen = 0;
  assert_int_equal(owcp_file_read(out_path, 1 << 20, &content, &clen, NULL), 0);
  json_error_t jerr;
  json_t *doc = json_loadb((const char *)content, clen, 0, &jerr);
  if (doc == NULL)
    fail_msg("verified content is not JSON (%s): %s", jerr.text, content);
  json_t *r = json_object_get(doc, "Receipt");
  assert_true(json_is_object(r));
  assert_string_equal(json_string_value(json_object_get(r, "Transaction")), tx);
  assert_string_equal(json_string_value(json_object_get(r, "Account")),
                      "alice@example.com");
  assert_string_equal(json_string_value(json_object_get(r, "Client")),
                      f->alice.id);
  assert_string_equal(json_string_value(json_object_get(r, "Response")),
                      response);
  assert_string_equal(json_string_value(json_object_get(r, "Request")), xml);
  if (reason != NULL)
    assert_string_equal(json_string_value(json_object_get(r, "Reason")),
                        reason);
  json_decref(doc);
  free(content);

  /* One flipped octet in the signature (the DER's last octets) fails. */
  der[len - 3] ^= 0x01;
  testutil_write_file(der_path, der, len);
  assert_int_not_equal(openssl_verify(der_path, ca_path, out_path), 0);

  free(der);
  free(tx);
  free(xml);
}

static void test_accept_receipt_verifies(void **state)
{
  verify_flow(*state, "urn:itest:receipt:accept", "Accept", NULL);
}

static void test_refuse_receipt_verifies(void **state)
{
  verify_flow(*state, "urn:itest:receipt:refuse", "Refuse",
              "Unknown Verification Type");
}

static void test_other_ca_does_not_verify(void **state)
{
  struct fx *f = *state;
  char der_path[600], ca_path[600], out_path[600];
  const char *id = "urn:itest:receipt:other-ca";
  char *xml =
      itest_request_xml("access@example.com", "alice@example.com", id, true, 0);
  char *tx = NULL;
  size_t len = 0;
  unsigned char *der = answered_receipt(f, id, "Accept", NULL, xml, &tx, &len);

  /* A fresh dispatcher key directory means a different client CA. */
  struct itest_env other;
  itest_env_init(&other, "receipt_other");
  itest_start(&other, NULL);
  snprintf(der_path, sizeof der_path, "%s/r.der", f->env.tmpdir);
  snprintf(ca_path, sizeof ca_path, "%s/other-ca.pem", f->env.tmpdir);
  snprintf(out_path, sizeof out_path, "%s/r.json", f->env.tmpdir);
  testutil_write_file(der_path, der, len);
  fetch_ca(&other, ca_path);
  itest_stop(&other);
  itest_env_fini(&other);
  assert_int_not_equal(openssl_verify(der_path, ca_path, out_path), 0);
  free(der);
  free(tx);
  free(xml);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_accept_receipt_verifies),
      cmocka_unit_test(test_refuse_receipt_verifies),
      cmocka_unit_test(test_other_ca_does_not_verify),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
