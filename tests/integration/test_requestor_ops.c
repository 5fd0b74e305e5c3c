/*
 * test_requestor_ops.c — libowcp-requestor end to end against a real
 * dispatcher (itest harness): confirm → the test client accepts → the
 * library reports Accept only with a verified receipt; reject, refuse,
 * expiry, the caller's deadline, RD-Final, RD-Register/Deregister,
 * idempotency conflicts, and the failures a requestor must see as errors
 * (receipt for other XML, wrong CA, tampered receipt, bad token, token
 * file readable by others, unreachable dispatcher).
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
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "itest.h"
#include "owcp/receipt.h"
#include "owcp/requestor.h"

struct fx {
  struct itest_env env;
  char *token;
  char token_file[PATH_MAX];
  struct itest_client alice;
  struct owcp_requestor *rq;
};

static struct owcp_requestor *open_rq(struct fx *f, const char *token_file,
                                      const char *pinned)
{
  struct owcp_requestor_config cfg = {0};
  struct owcp_error err = {{0}};
  struct owcp_requestor *rq = NULL;

  cfg.account = "access@example.com";
  cfg.token_file = token_file;
  cfg.dispatcher = f->env.base;
  cfg.allow_insecure_http = true;
  cfg.pinned_ca_pem = pinned;
  if (owcp_requestor_new(&cfg, &rq, &err) != 0)
    fail_msg("owcp_requestor_new: %s", err.msg);
  return rq;
}

static int setup(void **state)
{
  struct fx *f = calloc(1, sizeof *f);
  struct owcp_error err = {{0}};

  assert_non_null(f);
  *state = f;
  itest_env_init(&f->env, "rqops");
  itest_account_add(&f->env, "alice@example.com");
  itest_account_add(&f->env, "carol@example.com");
  itest_account_add(&f->env, "bob@example.com");
  f->token = itest_requestor_add(&f->env, "access@example.com", 1000);
  snprintf(f->token_file, sizeof f->token_file, "%s/token", f->env.tmpdir);
  if (owcp_file_write_atomic(f->token_file, f->token, strlen(f->token), 0600,
                             &err) != 0)
    fail_msg("%s", err.msg);
  itest_start(&f->env, NULL);
  itest_client_init(&f->alice, "alice@example.com");
  itest_client_enrol(&f->env, &f->alice);
  f->rq = open_rq(f, f->token_file, NULL);
  return 0;
}

static int teardown(void **state)
{
  struct fx *f = *state;

  owcp_requestor_free(f->rq);
  if (f->env.pid > 0)
    itest_stop(&f->env);
  itest_client_free(&f->alice);
  free(f->token);
  itest_env_fini(&f->env);
  free(f);
  return 0;
}

static char *build(struct fx *f, const char *id, bool pin, size_t *len)
{
  struct owcp_error err = {{0}};
  char *xml = NULL;

  if (owcp_request_build_simple(owcp_requestor_validator(f->rq),
                                "access@example.com", "alice@example.com",
                                "Access", id, "Connect laptop #234?", NULL,
                                NULL, pin, &xml, len, &err) != 0)
    fail_msg("build: %s", err.msg);
  return xml;
}

static char *confirm_ok(struct fx *f, const char *xml, size_t len, long timeout)
{
  struct owcp_confirm_opts o = {timeout, NULL};
  struct owcp_error err = {{0}};
  struct owcp_rq_result r;
  char *tx;

  if (owcp_rq_confirm(f->rq, xml, len, &o, &r, &err) != OWCP_RQ_PENDING)
    fail_msg("confirm: %s (%s)", owcp_rq_status_name(r.status), err.msg);
  assert_int_equal(r.http_status, 202);
  assert_non_null(r.expires);
  assert_non_null(r.identifier);
  tx = strdup(r.transaction);
  owcp_rq_result_free(&r);
  return tx;
}

/* Answers tx (NULL: the pending transaction whose Request is xml). */
static void reply(struct fx *f, const char *tx, const char *response,
                  const char *reason, const char *xml)
{
  struct itest_http h;

  if (tx == NULL) {
    const json_t *item;
    size_t i;
    itest_list(&f->env, &f->alice, -1, &h);
    ITEST_EXPECT(h, 200);
    json_array_foreach(json_object_get(h.json, "Pending"), i, item)
    {
      const char *req = json_string_value(json_object_get(item, "Request"));
      if (req != NULL && strcmp(req, xml) == 0) {
        char *found =
            strdup(json_string_value(json_object_get(item, "Transaction")));
        itest_http_free(&h);
        reply(f, found, response, reason, xml);
        free(found);
        return;
      }
    }
    itest_http_free(&h);
    fail_msg("the request is not pending");
  }

  itest_reply(&f->env, &f->alice, tx, response, reason, xml, &h);
  ITEST_EXPECT(h, 200);
  itest_http_free(&h);
}

static void test_accept_verified(void **state)
{
  struct fx *f = *state;
  struct owcp_error err = {{0}};
  struct owcp_rq_result r, v;
  size_t len;
  char *xml = build(f, "urn:rq:accept", true, &len);
  char *tx = confirm_ok(f, xml, len, 0);
  char *ca = NULL, *disp = NULL;

  assert_int_equal(owcp_rq_status(f->rq, tx, NULL, 0, 0, &r, &err),
                   OWCP_RQ_PENDING);
  owcp_rq_result_free(&r);
  reply(f, tx, "Accept", NULL, xml);
  /* NULL xml: the bytes this context sent are used. */
  assert_int_equal(owcp_rq_status(f->rq, tx, NULL, 0, 5, &r, &err), OWCP_RQ_OK);
  assert_int_equal(r.response, OWCP_RQ_ACCEPT);
  assert_string_equal(r.transaction, tx);
  assert_string_equal(r.identifier, "urn:rq:accept");
  assert_string_equal(r.client, f->alice.id);
  assert_string_equal(r.account, "alice@example.com");
  assert_int_equal(r.verification_count, 1);
  assert_string_equal(r.verification[0], "PIN");
  assert_non_null(r.responded);
  assert_non_null(r.signed_at);
  assert_true(r.receipt_len > 100);

  /* The receipt verifies on its own against GET {base}/CA... */
  assert_int_equal(owcp_requestor_ca(f->rq, &ca, &disp, &err), 0);
  assert_non_null(strstr(ca, "BEGIN CERTIFICATE"));
  assert_non_null(disp);
  assert_int_equal(owcp_rq_verify_receipt(r.receipt, r.receipt_len, ca, xml,
                                          len, tx, f->alice.id, "Accept", &v,
                                          &err),
                   0);
  assert_int_equal(v.response, OWCP_RQ_ACCEPT);
  owcp_rq_result_free(&v);
  /* ...but not for another request, transaction or response... */
  size_t len2;
  char *other = build(f, "urn:rq:other", true, &len2);
  assert_int_equal(owcp_rq_verify_receipt(r.receipt, r.receipt_len, ca, other,
                                          len2, NULL, NULL, NULL, NULL, &err),
                   -1);
  assert_non_null(strstr(err.msg, "Request"));
  assert_int_equal(owcp_rq_verify_receipt(r.receipt, r.receipt_len, ca, xml,
                                          len, "not-the-tx", NULL, NULL, NULL,
                                          &err),
                   -1);
  assert_int_equal(owcp_rq_verify_receipt(r.receipt, r.receipt_len, ca, xml,
                                          len, NULL, NULL, "Reject", NULL,
                                          &err),
                   -1);
  /* ...nor when tampered with, nor under the wrong CA. */
  r.receipt[r.receipt_len / 2] ^= 0x01;
  assert_int_equal(owcp_rq_verify_receipt(r.receipt, r.receipt_len, ca, xml,
                                          len, NULL, NULL, NULL, NULL, &err),
                   -1);
  r.receipt[r.receipt_len / 2] ^= 0x01;
  assert_int_equal(owcp_rq_verify_receipt(r.receipt, r.receipt_len, disp, xml,
                                          len, NULL, NULL, NULL, NULL, &err),
                   -1);

  /* RD-Status checked against other XML than was sent: never an Accept. */
  owcp_rq_result_free(&r);
  assert_int_equal(owcp_rq_status(f->rq, tx, other, len2, 0, &r, &err),
                   OWCP_RQ_VERIFY_FAILED);
  assert_int_equal(r.response, OWCP_RQ_NO_RESPONSE);
  assert_non_null(strstr(err.msg, "does not verify"));
  owcp_rq_result_free(&r);
  free(other);
  free(ca);
  free(disp);
  free(tx);
  free(xml);
}

/* A receipt is believed only for the account and client its signer
 * certificate names, whatever its content claims. */
static void test_signer_identity_checked(void **state)
{
  struct fx *f = *state;
  struct owcp_error err = {{0}};
  struct itest_client bob;
  struct owcp_receipt claim = {0};
  unsigned char *der = NULL;
  size_t der_len = 0, len;
  char *ca = NULL;
  char *xml = build(f, "urn:rq:identity", true, &len);
  char *methods[] = {"PIN"};

  itest_client_init(&bob, "bob@example.com");
  itest_client_enrol(&f->env, &bob);
  assert_int_equal(owcp_requestor_ca(f->rq, &ca, NULL, &err), 0);
  claim.transaction = "tx-identity";
  claim.account = "alice@example.com"; /* bob's client claims alice */
  claim.client = bob.id;
  claim.response = "Accept";
  claim.verification = methods;
  claim.verification_count = 1;
  claim.request = xml;
  claim.request_len = len;
  assert_int_equal(
      owcp_receipt_create(&claim, bob.cert, bob.key, &der, &der_len, &err), 0);
  assert_int_equal(owcp_rq_verify_receipt(der, der_len, ca, xml, len, NULL,
                                          NULL, NULL, NULL, &err),
                   -1);
  assert_non_null(strstr(err.msg, "claims Account 'alice@example.com'"));
  free(der);

  claim.account = "bob@example.com";
  claim.client = f->alice.id; /* right account, another client's id */
  assert_int_equal(
      owcp_receipt_create(&claim, bob.cert, bob.key, &der, &der_len, &err), 0);
  assert_int_equal(owcp_rq_verify_receipt(der, der_len, ca, NULL, 0, NULL, NULL,
                                          NULL, NULL, &err),
                   -1);
  assert_non_null(strstr(err.msg, "claims Client"));
  free(der);

  claim.client = bob.id; /* consistent, but not for this request's <To> */
  assert_int_equal(
      owcp_receipt_create(&claim, bob.cert, bob.key, &der, &der_len, &err), 0);
  /* The request inside the receipt is checked even when none is given. */
  assert_int_equal(owcp_rq_verify_receipt(der, der_len, ca, NULL, 0, NULL, NULL,
                                          NULL, NULL, &err),
                   -1);
  assert_non_null(strstr(err.msg, "<To>"));
  assert_int_equal(owcp_rq_verify_receipt(der, der_len, ca, xml, len, NULL,
                                          NULL, NULL, NULL, &err),
                   -1);
  assert_non_null(strstr(err.msg, "<To>"));
  free(der);
  free(ca);
  free(xml);
  itest_client_free(&bob);
}

static void test_wrong_pinned_ca_refused(void **state)
{
  struct fx *f = *state;
  struct owcp_error err = {{0}};
  struct owcp_rq_result r;
  struct owcp_requestor *pinned;
  size_t len;
  char *xml = build(f, "urn:rq:pin", true, &len);
  char *tx = confirm_ok(f, xml, len, 0);
  char *disp = NULL;

  reply(f, tx, "Accept", NULL, xml);
  assert_int_equal(owcp_requestor_ca(f->rq, NULL, &disp, &err), 0);
  /* Pin the dispatcher's signing certificate as if it were the client CA:
   * the receipt's signer does not chain to it. */
  pinned = open_rq(f, f->token_file, disp);
  assert_int_equal(owcp_rq_status(pinned, tx, xml, len, 0, &r, &err),
                   OWCP_RQ_VERIFY_FAILED);
  assert_int_equal(r.response, OWCP_RQ_NO_RESPONSE);
  owcp_rq_result_free(&r);
  /* A fresh context that never sent it cannot check it without the XML. */
  owcp_requestor_free(pinned);
  pinned = open_rq(f, f->token_file, NULL);
  assert_int_equal(owcp_rq_status(pinned, tx, NULL, 0, 0, &r, &err),
                   OWCP_RQ_VERIFY_FAILED);
  assert_non_null(strstr(err.msg, "not known"));
  owcp_rq_result_free(&r);
  assert_int_equal(owcp_rq_status(pinned, tx, xml, len, 0, &r, &err),
                   OWCP_RQ_OK);
  assert_int_equal(r.response, OWCP_RQ_ACCEPT);
  owcp_rq_result_free(&r);
  owcp_requestor_free(pinned);
  free(disp);
  free(tx);
  free(xml);
}

struct answerer {
  struct fx *f;
  const char *response;
  const char *reason;
  const char *xml;
  bool done;
};

/* Plays the user: waits for the request in CD-List and answers it. */
static void *answer_thread(void *arg)
{
  struct answerer *a = arg;
  double until = itest_now() + 30;

  while (!a->done && itest_now() < until) {
    struct itest_http h;
    itest_list(&a->f->env, &a->f->alice, 5, &h);
    const json_t *pending = json_object_get(h.json, "Pending");
    const json_t *item;
    const char *tx = NULL;
    size_t i;
    json_array_foreach(pending, i, item)
    {
      const char *req = json_string_value(json_object_get(item, "Request"));
      if (req != NULL && strcmp(req, a->xml) == 0)
        tx = json_string_value(json_object_get(item, "Transaction"));
    }
    if (tx != NULL) {
      struct itest_http r;
      itest_reply(&a->f->env, &a->f->alice, tx, a->response, a->reason, a->xml,
                  &r);
      a->done = r.status == 200;
      itest_http_free(&r);
    }
    itest_http_free(&h);
  }
  return NULL;
}

static void wait_for(struct fx *f, const char *id, const char *response,
                     const char *reason, enum owcp_rq_response expect)
{
  struct owcp_error err = {{0}};
  struct owcp_rq_result r;
  size_t len;
  char *xml = build(f, id, true, &len);
  struct answerer a = {f, response, reason, xml, false};
  pthread_t th;
  double t0 = itest_now();

  assert_int_equal(pthread_create(&th, NULL, answer_thread, &a), 0);
  assert_int_equal(owcp_rq_confirm_and_wait(f->rq, xml, len, NULL,
                                            time(NULL) + 60, &r, &err),
                   OWCP_RQ_OK);
  pthread_join(th, NULL);
  assert_true(a.done);
  assert_true(itest_now() - t0 < 30);
  assert_int_equal(r.response, expect);
  assert_string_equal(r.identifier, id);
  if (reason != NULL)
    assert_string_equal(r.reason, reason);
  else
    assert_null(r.reason);
  owcp_rq_result_free(&r);
  free(xml);
}

static void test_wait_reject(void **state)
{
  wait_for(*state, "urn:rq:reject", "Reject", NULL, OWCP_RQ_REJECT);
}

static void test_wait_accept(void **state)
{
  wait_for(*state, "urn:rq:wait-accept", "Accept", NULL, OWCP_RQ_ACCEPT);
}

static void test_wait_refuse(void **state)
{
  wait_for(*state, "urn:rq:refuse", "Refuse", "Unknown Verification Type",
           OWCP_RQ_REFUSE);
}

struct waiter {
  struct fx *f;
  const char *xml;
  size_t len;
  enum owcp_rq_status status;
  enum owcp_rq_response response;
  char error[OWCP_ERROR_MAX];
};

static void *wait_thread(void *arg)
{
  struct waiter *w = arg;
  struct owcp_error err = {{0}};
  struct owcp_rq_result r;

  w->status = owcp_rq_confirm_and_wait(w->f->rq, w->xml, w->len, NULL,
                                       time(NULL) + 90, &r, &err);
  w->response = r.response;
  snprintf(w->error, sizeof w->error, "%s", err.msg);
  owcp_rq_result_free(&r);
  return NULL;
}

/* The dispatcher crashes while the requestor long-polls: the wait keeps
 * retrying and, once a dispatcher is back on the same address, returns the
 * verified answer. */
static void test_wait_survives_dispatcher_restart(void **state)
{
  struct fx *f = *state;
  size_t len;
  char *xml = build(f, "urn:rq:restart", true, &len);
  struct waiter w = {f, xml, len, OWCP_RQ_INTERNAL_ERROR, 0, ""};
  char listen[64];
  const char *extra[] = {"--listen", listen, NULL};
  struct timespec ts = {2, 0};
  pthread_t th;

  snprintf(listen, sizeof listen, "127.0.0.1:%s",
           strrchr(f->env.root, ':') + 1);
  assert_int_equal(pthread_create(&th, NULL, wait_thread, &w), 0);
  /* Let it submit and start polling, then kill the dispatcher. */
  for (int i = 0; i < 100; i++) {
    struct itest_http h;
    bool seen;
    itest_list(&f->env, &f->alice, -1, &h);
    seen = strstr(h.body ? h.body : "", "urn:rq:restart") != NULL;
    itest_http_free(&h);
    if (seen)
      break;
    nanosleep(&(struct timespec){0, 50L * 1000 * 1000}, NULL);
  }
  itest_kill(&f->env);
  nanosleep(&ts, NULL); /* the poll fails and is retried meanwhile */
  itest_start(&f->env, extra);
  reply(f, NULL, "Accept", NULL, xml);
  pthread_join(th, NULL);
  if (w.status != OWCP_RQ_OK)
    fail_msg("wait ended with %s: %s", owcp_rq_status_name(w.status), w.error);
  assert_int_equal(w.response, OWCP_RQ_ACCEPT);
  free(xml);
}

static void test_expiry_is_timeout(void **state)
{
  struct fx *f = *state;
  struct owcp_confirm_opts o = {1, NULL};
  struct owcp_error err = {{0}};
  struct owcp_rq_result r;
  size_t len;
  char *xml = build(f, "urn:rq:expire", true, &len);
  double t0 = itest_now();

  assert_int_equal(
      owcp_rq_confirm_and_wait(f->rq, xml, len, &o, time(NULL) + 60, &r, &err),
      OWCP_RQ_TIMEOUT);
  assert_true(itest_now() - t0 < 30);
  assert_int_equal(r.http_status, 408);
  assert_int_equal(r.response, OWCP_RQ_NO_RESPONSE);
  assert_non_null(r.transaction);
  owcp_rq_result_free(&r);
  free(xml);
}

static void test_deadline_then_final_cancels(void **state)
{
  struct fx *f = *state;
  struct owcp_error err = {{0}};
  struct owcp_rq_result r;
  struct itest_http h;
  size_t len;
  char *xml = build(f, "urn:rq:deadline", true, &len);
  double t0 = itest_now();
  char *tx;

  assert_int_equal(
      owcp_rq_confirm_and_wait(f->rq, xml, len, NULL, time(NULL) + 2, &r, &err),
      OWCP_RQ_DEADLINE);
  assert_true(itest_now() - t0 >= 1.0);
  assert_true(itest_now() - t0 < 10);
  assert_non_null(strstr(err.msg, "deadline"));
  tx = strdup(r.transaction);
  owcp_rq_result_free(&r);

  assert_int_equal(owcp_rq_final(f->rq, tx, NULL, 0, &r, &err),
                   OWCP_RQ_TIMEOUT);
  owcp_rq_result_free(&r);
  itest_reply(&f->env, &f->alice, tx, "Accept", NULL, xml, &h);
  ITEST_EXPECT(h, 408);
  itest_http_free(&h);
  assert_int_equal(owcp_rq_status(f->rq, tx, NULL, 0, 0, &r, &err),
                   OWCP_RQ_TIMEOUT);
  owcp_rq_result_free(&r);
  free(tx);
  free(xml);
}

static void test_final_answered(void **state)
{
  struct fx *f = *state;
  struct owcp_error err = {{0}};
  struct owcp_rq_result r;
  size_t len;
  char *xml = build(f, "urn:rq:final", true, &len);
  char *tx = confirm_ok(f, xml, len, 0);

  reply(f, tx, "Reject", NULL, xml);
  assert_int_equal(owcp_rq_final(f->rq, tx, NULL, 0, &r, &err), OWCP_RQ_OK);
  assert_int_equal(r.response, OWCP_RQ_REJECT);
  owcp_rq_result_free(&r);
  free(tx);
  free(xml);
}

static void test_register_deregister(void **state)
{
  struct fx *f = *state;
  struct owcp_error err = {{0}};
  struct owcp_rq_result r;

  assert_int_equal(owcp_rq_register(f->rq, "alice@example.com", &r, &err),
                   OWCP_RQ_OK);
  assert_true(r.ready);
  owcp_rq_result_free(&r);
  /* carol exists but has no client yet. */
  assert_int_equal(owcp_rq_register(f->rq, "carol@example.com", &r, &err),
                   OWCP_RQ_OK);
  assert_false(r.ready);
  owcp_rq_result_free(&r);
  assert_int_equal(owcp_rq_register(f->rq, "nobody@example.com", &r, &err),
                   OWCP_RQ_NOT_FOUND);
  assert_int_equal(r.http_status, 404);
  owcp_rq_result_free(&r);
  assert_int_equal(owcp_rq_deregister(f->rq, "alice@example.com", &r, &err),
                   OWCP_RQ_OK);
  owcp_rq_result_free(&r);
  assert_int_equal(owcp_rq_register(f->rq, "not an account", &r, &err),
                   OWCP_RQ_INVALID_INPUT);
  assert_non_null(strstr(err.msg, "To is not an account"));
  owcp_rq_result_free(&r);
}

static void test_conflict_and_unknown(void **state)
{
  struct fx *f = *state;
  struct owcp_error err = {{0}};
  struct owcp_rq_result r;
  size_t len, len2;
  char *xml = build(f, "urn:rq:dup", true, &len);
  char *xml2 = build(f, "urn:rq:dup", false, &len2);
  char *tx = confirm_ok(f, xml, len, 0);
  char *again = confirm_ok(f, xml, len, 0);

  assert_string_equal(tx, again); /* identical bytes: idempotent */
  assert_int_equal(owcp_rq_confirm(f->rq, xml2, len2, NULL, &r, &err),
                   OWCP_RQ_CONFLICT);
  assert_int_equal(r.http_status, 409);
  assert_non_null(r.server_error);
  assert_non_null(strstr(err.msg, "409"));
  owcp_rq_result_free(&r);
  assert_int_equal(owcp_rq_status(f->rq, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                                  NULL, 0, 0, &r, &err),
                   OWCP_RQ_NOT_FOUND);
  owcp_rq_result_free(&r);
  free(again);
  free(tx);
  free(xml);
  free(xml2);
}

static void test_local_refusals(void **state)
{
  struct fx *f = *state;
  struct owcp_error err = {{0}};
  struct owcp_rq_result r;
  char *xml = NULL;
  size_t len = 0;

  /* A From that is not ours never leaves the process. */
  assert_int_equal(owcp_request_build_simple(
                       NULL, "bank@example.com", "alice@example.com", NULL,
                       NULL, "x", NULL, NULL, false, &xml, &len, &err),
                   0);
  assert_int_equal(owcp_rq_confirm(f->rq, xml, len, NULL, &r, &err),
                   OWCP_RQ_INVALID_INPUT);
  assert_non_null(strstr(err.msg, "<From> 'bank@example.com'"));
  assert_int_equal(r.http_status, 0);
  owcp_rq_result_free(&r);
  free(xml);
  assert_int_equal(owcp_rq_confirm(f->rq, "<Request/>", 10, NULL, &r, &err),
                   OWCP_RQ_INVALID_INPUT);
  assert_non_null(strstr(err.msg, "XML Request is invalid"));
  owcp_rq_result_free(&r);
}

static void test_bad_token_and_token_file(void **state)
{
  struct fx *f = *state;
  struct owcp_requestor_config cfg = {0};
  struct owcp_error err = {{0}};
  struct owcp_requestor *rq = NULL;
  struct owcp_rq_result r;
  char path[PATH_MAX];

  cfg.account = "access@example.com";
  cfg.token = "not-the-token";
  cfg.dispatcher = f->env.base;
  cfg.allow_insecure_http = true;
  assert_int_equal(owcp_requestor_new(&cfg, &rq, &err), 0);
  assert_int_equal(owcp_rq_register(rq, "alice@example.com", &r, &err),
                   OWCP_RQ_NOT_AUTHENTICATED);
  assert_int_equal(r.http_status, 401);
  owcp_rq_result_free(&r);
  owcp_requestor_free(rq);

  snprintf(path, sizeof path, "%s/token-open", f->env.tmpdir);
  assert_int_equal(
      owcp_file_write_atomic(path, f->token, strlen(f->token), 0644, &err), 0);
  cfg.token = NULL;
  cfg.token_file = path;
  assert_int_equal(owcp_requestor_new(&cfg, &rq, &err), -1);
  assert_null(rq);
  assert_non_null(strstr(err.msg, "chmod 600"));
  /* A symbolic link is not followed, even to a private token file:
   * whoever may write the directory could point it at another secret. */
  char link_path[PATH_MAX + 16];
  snprintf(link_path, sizeof link_path, "%s.link", path);
  assert_int_equal(chmod(path, 0600), 0);
  assert_int_equal(symlink(path, link_path), 0);
  cfg.token_file = link_path;
  assert_int_equal(owcp_requestor_new(&cfg, &rq, &err), -1);
  assert_null(rq);
  assert_non_null(strstr(err.msg, "symbolic link"));
  assert_null(strstr(err.msg, f->token));
  /* A FIFO in its place neither blocks nor is read. */
  snprintf(link_path, sizeof link_path, "%s.fifo", path);
  assert_int_equal(mkfifo(link_path, 0600), 0);
  cfg.token_file = link_path;
  assert_int_equal(owcp_requestor_new(&cfg, &rq, &err), -1);
  assert_null(rq);
  assert_non_null(strstr(err.msg, "not a regular file"));
  /* A literal token with a newline could inject a header line. */
  cfg.token_file = NULL;
  cfg.token = "abc\r\nX-Evil: 1";
  assert_int_equal(owcp_requestor_new(&cfg, &rq, &err), -1);
  assert_non_null(strstr(err.msg, "not visible ASCII"));
  /* Plain http to a non-loopback host is refused before anything is sent
   * (the token would travel in clear text). */
  cfg.token = "abc";
  cfg.dispatcher = "http://192.0.2.1/owcp/0.1";
  assert_int_equal(owcp_requestor_new(&cfg, &rq, &err), -1);
  assert_null(rq);
  print_message("refused: %s\n", err.msg);
  assert_non_null(strstr(err.msg, "192.0.2.1"));
}

static void test_unreachable_dispatcher(void **state)
{
  struct owcp_requestor_config cfg = {0};
  struct owcp_error err = {{0}};
  struct owcp_requestor *rq = NULL;
  struct owcp_rq_result r;

  (void)state;
  cfg.account = "access@example.com";
  cfg.token = "abc";
  cfg.dispatcher = "http://127.0.0.1:1/owcp/0.1";
  cfg.allow_insecure_http = true;
  assert_int_equal(owcp_requestor_new(&cfg, &rq, &err), 0);
  assert_int_equal(owcp_rq_register(rq, "alice@example.com", &r, &err),
                   OWCP_RQ_NETWORK_ERROR);
  assert_int_equal(r.http_status, 0);
  assert_non_null(strstr(err.msg, "no dispatcher answered"));
  owcp_rq_result_free(&r);
  owcp_requestor_free(rq);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_accept_verified),
      cmocka_unit_test(test_signer_identity_checked),
      cmocka_unit_test(test_wrong_pinned_ca_refused),
      cmocka_unit_test(test_wait_accept),
      cmocka_unit_test(test_wait_reject),
      cmocka_unit_test(test_wait_refuse),
      cmocka_unit_test(test_wait_survives_dispatcher_restart),
      cmocka_unit_test(test_expiry_is_timeout),
      cmocka_unit_test(test_deadline_then_final_cancels),
      cmocka_unit_test(test_final_answered),
      cmocka_unit_test(test_register_deregister),
      cmocka_unit_test(test_conflict_and_unknown),
      cmocka_unit_test(test_local_refusals),
      cmocka_unit_test(test_bad_token_and_token_file),
      cmocka_unit_test(test_unreachable_dispatcher),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
