/*
 * test_requestor_hostile.c — libowcp-requestor against a dispatcher that
 * lies. A scripted HTTP server stands in for the dispatcher and answers
 * with whatever each test sets; the receipts it serves are real ones,
 * signed by a client the real dispatcher (itest harness) enrolled, so the
 * only thing wrong is what the hostile dispatcher says around them. None
 * of it may come out as a verified answer: a 200 to RD-Confirm, one
 * transaction handed out for two different requests, an Identifier that is
 * not the one in the request sent.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <microhttpd.h>

#include <openssl/x509.h>

#include "itest.h"
#include "owcp/ca.h"
#include "owcp/keys.h"
#include "owcp/receipt.h"
#include "owcp/requestor.h"

/* The scripted dispatcher: one canned JSON answer per operation. */
struct fake {
  struct MHD_Daemon *daemon;
  pthread_mutex_t lock;
  char *confirm; /* answer to RD-Confirm */
  char *status;  /* answer to RD-Status and RD-Final */
  int confirms;  /* RD-Confirm requests seen */
};

struct fx {
  struct itest_env env;
  struct itest_client alice;
  struct fake fake;
  struct owcp_requestor *rq;
};

static enum MHD_Result fake_answer(void *cls, struct MHD_Connection *con,
                                   const char *url, const char *method,
                                   const char *version, const char *data,
                                   size_t *data_size, void **con_cls)
{
  struct fake *fk = cls;
  struct MHD_Response *res;
  enum MHD_Result rc;
  json_int_t code;
  char *text;
  json_t *j;

  (void)method;
  (void)version;
  (void)data;
  if (*con_cls == NULL) {
    *con_cls = fk;
    return MHD_YES;
  }
  if (*data_size > 0) {
    *data_size = 0; /* the request body is not needed */
    return MHD_YES;
  }
  pthread_mutex_lock(&fk->lock);
  if (strstr(url, "/RD-Confirm") != NULL) {
    fk->confirms++;
    text = strdup(fk->confirm != NULL ? fk->confirm : "{}");
  } else {
    text = strdup(fk->status != NULL ? fk->status : "{}");
  }
  pthread_mutex_unlock(&fk->lock);
  if (text == NULL)
    return MHD_NO;
  j = json_loads(text, 0, NULL);
  code = json_integer_value(json_object_get(j, "Status"));
  json_decref(j);
  res = MHD_create_response_from_buffer(strlen(text), text,
                                        MHD_RESPMEM_MUST_FREE);
  if (res == NULL) {
    free(text);
    return MHD_NO;
  }
  MHD_add_response_header(res, "Content-Type", "application/json");
  rc = MHD_queue_response(con, code > 0 ? (unsigned)code : 500, res);
  MHD_destroy_response(res);
  return rc;
}

/* Sets the canned answer of RD-Confirm (confirm true) or RD-Status; takes
 * j. */
static void script(struct fx *f, bool confirm, json_t *j)
{
  char *text = json_dumps(j, JSON_COMPACT);

  assert_non_null(text);
  json_decref(j);
  pthread_mutex_lock(&f->fake.lock);
  if (confirm) {
    free(f->fake.confirm);
    f->fake.confirm = text;
  } else {
    free(f->fake.status);
    f->fake.status = text;
  }
  pthread_mutex_unlock(&f->fake.lock);
}

static int setup(void **state)
{
  struct fx *f = calloc(1, sizeof *f);
  struct owcp_requestor_config cfg = {0};
  struct owcp_error err = {{0}};
  const union MHD_DaemonInfo *info;
  char base[128], *ca_pem;

  assert_non_null(f);
  *state = f;
  pthread_mutex_init(&f->fake.lock, NULL);
  /* The real dispatcher only enrols alice, so that her receipts chain to a
   * real client CA. */
  itest_env_init(&f->env, "rqhostile");
  itest_account_add(&f->env, "alice@example.com");
  itest_start(&f->env, NULL);
  itest_client_init(&f->alice, "alice@example.com");
  itest_client_enrol(&f->env, &f->alice);

  f->fake.daemon =
      MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO, 0, NULL,
                       NULL, fake_answer, &f->fake, MHD_OPTION_END);
  assert_non_null(f->fake.daemon);
  info = MHD_get_daemon_info(f->fake.daemon, MHD_DAEMON_INFO_BIND_PORT);
  assert_non_null(info);
  snprintf(base, sizeof base, "http://127.0.0.1:%u/owcp/0.1",
           (unsigned)info->port);

  ca_pem = owcp_cert_to_pem(f->alice.ca, &err);
  assert_non_null(ca_pem);
  cfg.account = "access@example.com";
  cfg.token = "hostile-test-token";
  cfg.dispatcher = base;
  cfg.allow_insecure_http = true;
  cfg.pinned_ca_pem = ca_pem;
  if (owcp_requestor_new(&cfg, &f->rq, &err) != 0)
    fail_msg("owcp_requestor_new: %s", err.msg);
  free(ca_pem);
  return 0;
}

static int teardown(void **state)
{
  struct fx *f = *state;

  owcp_requestor_free(f->rq);
  MHD_stop_daemon(f->fake.daemon);
  free(f->fake.confirm);
  free(f->fake.status);
  pthread_mutex_destroy(&f->fake.lock);
  if (f->env.pid > 0)
    itest_stop(&f->env);
  itest_client_free(&f->alice);
  itest_env_fini(&f->env);
  free(f);
  return 0;
}

static char *build(const char *id, const char *summary, size_t *len)
{
  struct owcp_error err = {{0}};
  char *xml = NULL;

  if (owcp_request_build_simple(NULL, "access@example.com", "alice@example.com",
                                "Access", id, summary, NULL, NULL, true, &xml,
                                len, &err) != 0)
    fail_msg("build: %s", err.msg);
  return xml;
}

static json_t *pending_reply(const char *tx)
{
  return json_pack("{s:i,s:s,s:s,s:s}", "Status", 202, "Text", "Incomplete",
                   "Transaction", tx, "Expires", "2099-01-01T00:00:00Z");
}

/* A 200 answer carrying alice's genuine Accept receipt for tx over xml. */
static json_t *accepted_reply(struct fx *f, const char *tx,
                              const char *identifier, const char *xml)
{
  char *b64 = itest_receipt_b64(&f->alice, tx, "Accept", NULL, xml);
  json_t *j = json_pack("{s:i,s:s,s:s,s:s,s:s,s:[s],s:s,s:s,s:s}", "Status",
                        200, "Text", "Success", "Transaction", tx, "Identifier",
                        identifier, "Response", "Accept", "Verification", "PIN",
                        "Client", f->alice.id, "Responded",
                        "2026-01-01T00:00:00Z", "Receipt", b64);

  free(b64);
  assert_non_null(j);
  return j;
}

/* Sanity: the scripted dispatcher's honest answer is believed, so the
 * refusals below are about the lies, not the set-up. */
static void test_honest_answer_believed(void **state)
{
  struct fx *f = *state;
  struct owcp_error err = {{0}};
  struct owcp_rq_result r;
  size_t len;
  char *xml = build("urn:hostile:honest", "Let laptop #1 in?", &len);

  script(f, true, pending_reply("tx-honest"));
  script(f, false, accepted_reply(f, "tx-honest", "urn:hostile:honest", xml));
  assert_int_equal(owcp_rq_confirm_and_wait(f->rq, xml, len, NULL, 0, &r, &err),
                   OWCP_RQ_OK);
  assert_int_equal(r.response, OWCP_RQ_ACCEPT);
  assert_string_equal(r.identifier, "urn:hostile:honest");
  owcp_rq_result_free(&r);
  free(xml);
}

/* RD-Confirm is only ever a submission: a 200 "answer" to it, even with
 * Response Accept, is a protocol error and never OWCP_RQ_OK. */
static void test_confirm_answered_200_is_not_ok(void **state)
{
  struct fx *f = *state;
  struct owcp_error err = {{0}};
  struct owcp_rq_result r;
  size_t len;
  char *xml = build("urn:hostile:c200", "Let laptop #2 in?", &len);

  script(f, true, accepted_reply(f, "tx-c200", "urn:hostile:c200", xml));
  assert_int_equal(owcp_rq_confirm(f->rq, xml, len, NULL, &r, &err),
                   OWCP_RQ_PROTOCOL_ERROR);
  assert_int_equal(r.response, OWCP_RQ_NO_RESPONSE);
  assert_non_null(strstr(err.msg, "200"));
  owcp_rq_result_free(&r);
  assert_int_equal(owcp_rq_confirm_and_wait(f->rq, xml, len, NULL, 0, &r, &err),
                   OWCP_RQ_PROTOCOL_ERROR);
  assert_int_equal(r.response, OWCP_RQ_NO_RESPONSE);
  assert_null(r.receipt);
  owcp_rq_result_free(&r);
  free(xml);
}

/* The dispatcher gives the transaction of an accepted small request to a
 * later, bigger one: the context must not check answers for that
 * transaction against the first request's bytes. */
static void test_transaction_reused_for_other_request(void **state)
{
  struct fx *f = *state;
  struct owcp_error err = {{0}};
  struct owcp_rq_result r;
  size_t small_len, big_len;
  char *small = build("urn:hostile:small", "Pay 1 EUR?", &small_len);
  char *big = build("urn:hostile:big", "Pay 90000 EUR?", &big_len);

  script(f, true, pending_reply("tx-reused"));
  assert_int_equal(owcp_rq_confirm(f->rq, small, small_len, NULL, &r, &err),
                   OWCP_RQ_PENDING);
  owcp_rq_result_free(&r);
  /* The same bytes again (idempotent resubmission) are fine... */
  assert_int_equal(owcp_rq_confirm(f->rq, small, small_len, NULL, &r, &err),
                   OWCP_RQ_PENDING);
  owcp_rq_result_free(&r);
  /* ...other bytes under the same transaction are not. */
  assert_int_equal(owcp_rq_confirm(f->rq, big, big_len, NULL, &r, &err),
                   OWCP_RQ_PROTOCOL_ERROR);
  assert_non_null(strstr(err.msg, "tx-reused"));
  owcp_rq_result_free(&r);

  /* The answer for the transaction is still checked against the request
   * really sent under it (the small one) and no other. */
  script(f, false, accepted_reply(f, "tx-reused", "urn:hostile:small", small));
  assert_int_equal(owcp_rq_status(f->rq, "tx-reused", NULL, 0, 0, &r, &err),
                   OWCP_RQ_OK);
  assert_string_equal(r.identifier, "urn:hostile:small");
  owcp_rq_result_free(&r);
  assert_int_equal(
      owcp_rq_status(f->rq, "tx-reused", big, big_len, 0, &r, &err),
      OWCP_RQ_VERIFY_FAILED);
  assert_int_equal(r.response, OWCP_RQ_NO_RESPONSE);
  owcp_rq_result_free(&r);
  free(small);
  free(big);
}

/* A genuine answer relabelled with another request's Identifier: an
 * application that finds its pending action by identifier would act on the
 * wrong one. */
static void test_identifier_relabelled(void **state)
{
  struct fx *f = *state;
  struct owcp_error err = {{0}};
  struct owcp_rq_result r;
  size_t len;
  char *xml = build("urn:hostile:coffee", "Buy a coffee?", &len);

  script(f, true, pending_reply("tx-coffee"));
  assert_int_equal(owcp_rq_confirm(f->rq, xml, len, NULL, &r, &err),
                   OWCP_RQ_PENDING);
  owcp_rq_result_free(&r);
  script(f, false, accepted_reply(f, "tx-coffee", "urn:hostile:car", xml));
  assert_int_equal(owcp_rq_status(f->rq, "tx-coffee", NULL, 0, 0, &r, &err),
                   OWCP_RQ_VERIFY_FAILED);
  assert_int_equal(r.response, OWCP_RQ_NO_RESPONSE);
  assert_non_null(strstr(err.msg, "Identifier"));
  owcp_rq_result_free(&r);

  /* A 202 that claims another Identifier does not relabel ours either. */
  json_t *j = pending_reply("tx-coffee");
  json_object_set_new(j, "Identifier", json_string("urn:hostile:car"));
  script(f, true, j);
  assert_int_equal(owcp_rq_confirm(f->rq, xml, len, NULL, &r, &err),
                   OWCP_RQ_PENDING);
  assert_string_equal(r.identifier, "urn:hostile:coffee");
  owcp_rq_result_free(&r);
  free(xml);
}

/* Signs an Accept receipt for xml as client "client-a" of alice with a
 * certificate from ca; with second_cn the certificate's subject also holds
 * CN=client-b (re-signed by the CA). Returns the DER (caller frees). */
static unsigned char *receipt_by(X509 *ca, EVP_PKEY *ca_key, bool second_cn,
                                 const char *xml, size_t *der_len)
{
  struct owcp_error err = {{0}};
  struct owcp_receipt r = {0};
  EVP_PKEY *key = owcp_key_new(&err);
  X509 *cert;
  unsigned char *der = NULL;

  assert_non_null(key);
  cert = owcp_ca_issue_client(ca, ca_key, key, "client-a", "alice@example.com",
                              1, &err);
  if (cert == NULL)
    fail_msg("issue: %s", err.msg);
  if (second_cn) {
    assert_int_equal(X509_NAME_add_entry_by_NID(
                         X509_get_subject_name(cert), NID_commonName,
                         MBSTRING_ASC, (const unsigned char *)"client-b", -1,
                         -1, 0),
                     1);
    assert_true(X509_sign(cert, ca_key, EVP_sha256()) > 0);
  }
  r.transaction = "tx-cn";
  r.account = "alice@example.com";
  r.client = "client-a";
  r.response = "Accept";
  r.request = (char *)xml;
  r.request_len = strlen(xml);
  if (owcp_receipt_create(&r, cert, key, &der, der_len, &err) != 0)
    fail_msg("receipt: %s", err.msg);
  X509_free(cert);
  EVP_PKEY_free(key);
  return der;
}

/* A signer certificate naming two clients (two CNs) identifies none: the
 * receipt is not believed for the first one, which a lookup of "the" CN
 * would return. */
static void test_signer_with_two_client_names(void **state)
{
  struct owcp_error err = {{0}};
  EVP_PKEY *ca_key = owcp_key_new(&err);
  X509 *ca;
  char *ca_pem;
  struct owcp_error berr = {{0}};
  size_t len, der_len;
  unsigned char *der;
  char *xml = NULL;

  (void)state;
  assert_non_null(ca_key);
  ca = owcp_ca_new(ca_key, "hostile test CA", &err);
  assert_non_null(ca);
  ca_pem = owcp_cert_to_pem(ca, &err);
  assert_non_null(ca_pem);
  /* No <Verification>: these receipts list no method. */
  assert_int_equal(
      owcp_request_build_simple(NULL, "access@example.com", "alice@example.com",
                                "Access", "urn:hostile:cn", "Let #3 in?", NULL,
                                NULL, false, &xml, &len, &berr),
      0);
  der = receipt_by(ca, ca_key, false, xml, &der_len);
  assert_int_equal(owcp_rq_verify_receipt(der, der_len, ca_pem, xml, len,
                                          "tx-cn", "client-a", "Accept", NULL,
                                          &err),
                   0);
  free(der);
  der = receipt_by(ca, ca_key, true, xml, &der_len);
  assert_int_equal(owcp_rq_verify_receipt(der, der_len, ca_pem, xml, len,
                                          "tx-cn", "client-a", "Accept", NULL,
                                          &err),
                   -1);
  assert_non_null(strstr(err.msg, "Client"));
  free(der);
  free(xml);
  free(ca_pem);
  X509_free(ca);
  EVP_PKEY_free(ca_key);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_honest_answer_believed),
      cmocka_unit_test(test_confirm_answered_200_is_not_ok),
      cmocka_unit_test(test_transaction_reused_for_other_request),
      cmocka_unit_test(test_identifier_relabelled),
      cmocka_unit_test(test_signer_with_two_client_names),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
