/*
 * test_bridge_confirm.c — the enrollment bridge's confirmation module
 * (enrollment-bridge/confirm.h) against a real owcp-dispatcher and a real
 * user device (libowcp-client answering with its PIN): Accept with a
 * receipt `openssl cms -verify` accepts, Reject, the client's Refuse,
 * expiry, cancellation, an unknown account, a dispatcher that is down or
 * answers 503, request bytes that differ from those sent, a check from a
 * fresh service after a "restart", what the device receives (parsed with
 * core's request parser), and hostile summary text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "confirm.h"
#include "itest.h"
#include "owcp/client.h"
#include "owcp/request.h"
#include "testutil.h"

#define PIN "8152"
#define BRIDGE "enroll@example.com"

struct fx {
  struct itest_env env;
  char token_file[PATH_MAX];
  char state[600];
  struct owcp_client *client;
  struct confirm_service *svc;
};

static struct confirm_config config_of(struct fx *f, long timeout)
{
  struct confirm_config c = {.requestor = BRIDGE,
                             .token_file = f->token_file,
                             .dispatcher = f->env.base,
                             .insecure_http = true,
                             .timeout = timeout};
  return c;
}

static struct confirm_service *service(struct fx *f, long timeout)
{
  struct confirm_config c = config_of(f, timeout);
  struct owcp_error err = {{0}};
  struct confirm_service *s = NULL;

  if (confirm_service_new(&c, &s, &err) != 0)
    fail_msg("confirm_service_new: %s", err.msg);
  return s;
}

static void enrol(struct fx *f, const char *account, const char *pin)
{
  struct owcp_error err = {{0}};
  char *code = itest_code_issue(&f->env, account, 0);
  struct owcp_register_params reg = {.account = account,
                                     .description = "bridge test phone",
                                     .code = code,
                                     .pin = pin};

  if (owcp_client_register(f->client, &reg, &err) != 0)
    fail_msg("owcp_client_register %s: %s", account, err.msg);
  free(code);
}

static int setup(void **state)
{
  struct fx *f = calloc(1, sizeof *f);
  struct owcp_error err = {{0}};
  char *token;

  assert_non_null(f);
  *state = f;
  itest_env_init(&f->env, "bridgeconfirm");
  itest_account_add(&f->env, "alice@example.com");
  itest_account_add(&f->env, "bob@example.com");
  token = itest_requestor_add(&f->env, BRIDGE, 1000);
  snprintf(f->token_file, sizeof f->token_file, "%s/bridge.token",
           f->env.tmpdir);
  if (owcp_file_write_atomic(f->token_file, token, strlen(token), 0600, &err) !=
      0)
    fail_msg("%s", err.msg);
  free(token);
  itest_start(&f->env, NULL);

  snprintf(f->state, sizeof f->state, "%s/client", f->env.tmpdir);
  struct owcp_client_config ccfg = {.state_dir = f->state,
                                    .dispatcher = f->env.base,
                                    .allow_insecure_http = true};
  if (owcp_client_open(&ccfg, &f->client, &err) != 0)
    fail_msg("owcp_client_open: %s", err.msg);
  enrol(f, "alice@example.com", PIN);
  /* bob's device has no PIN: it must Refuse a PIN request. */
  enrol(f, "bob@example.com", NULL);
  f->svc = service(f, 120);
  return 0;
}

static int teardown(void **state)
{
  struct fx *f = *state;

  confirm_service_free(f->svc);
  owcp_client_close(f->client);
  if (f->env.pid > 0)
    itest_stop(&f->env);
  itest_env_fini(&f->env);
  free(f);
  return 0;
}

static const struct confirm_detail details[] = {
    {"Subject", "CN=Alice Example"},
    {"UPN", "alice@example.com"},
    {"Key", "RSA 2048"},
    {"Client host", "LAPTOP-234.example.com"}};

/* Sends an OTPCE-style confirmation to `to`; *out is the caller's. */
static void send_to(struct fx *f, struct confirm_service *s, const char *to,
                    const char *summary, struct confirm_sent *out)
{
  struct confirm_request req = {.kind = CONFIRM_ENROLLMENT,
                                .to = to,
                                .summary = summary,
                                .details = details,
                                .detail_count = 4};
  struct owcp_error err = {{0}};
  enum confirm_outcome o = confirm_send(s, &req, out, &err);

  (void)f;
  if (o != CONFIRM_PENDING)
    fail_msg("confirm_send: %s: %s", confirm_outcome_name(o), err.msg);
  assert_non_null(out->transaction);
  assert_non_null(out->request_xml);
  assert_int_equal(strlen(out->request_xml), out->request_len);
  assert_true(out->expires > time(NULL));
}

/* The device lists tx for account and answers it; returns what it sent. */
static enum owcp_answer device_answers(struct fx *f, const char *account,
                                       const struct confirm_sent *sent,
                                       enum owcp_answer answer)
{
  struct owcp_error err = {{0}};
  struct owcp_pending_list list = {0};
  enum owcp_answer done;

  if (owcp_client_list(f->client, account, 5, &list, &err) != 0)
    fail_msg("owcp_client_list: %s", err.msg);
  const struct owcp_pending *p = owcp_pending_find(&list, sent->transaction);
  if (p == NULL)
    itest_fail("transaction %s not listed", sent->transaction);
  assert_int_equal(p->request_len, sent->request_len);
  assert_memory_equal(p->request, sent->request_xml, p->request_len);
  if (owcp_client_reply(f->client, account, p, answer, PIN, &done, &err) != 0)
    fail_msg("owcp_client_reply: %s", err.msg);
  owcp_pending_list_free(&list);
  return done;
}

static enum confirm_outcome check(struct confirm_service *s,
                                  const struct confirm_sent *sent,
                                  const char *account, int wait,
                                  struct confirm_result *r,
                                  struct owcp_error *err)
{
  return confirm_check(s, sent->transaction, sent->request_xml,
                       sent->request_len, account, wait, r, err);
}

/* Withdraws a confirmation a test leaves unanswered, and frees it. */
static void withdraw(struct fx *f, struct confirm_sent *sent)
{
  struct confirm_result r = {0};
  struct owcp_error err = {{0}};

  assert_int_equal(confirm_cancel(f->svc, sent->transaction, sent->request_xml,
                                  sent->request_len, "alice@example.com", &r,
                                  &err),
                   CONFIRM_CANCELLED);
  confirm_result_free(&r);
  confirm_sent_free(sent);
}

/* Writes the dispatcher's client CA (GET {base}/CA) and the receipt to
 * files and runs `openssl cms -verify` on them; returns its status. */
static int openssl_verifies(struct fx *f, const unsigned char *der, size_t len)
{
  struct owcp_error err = {{0}};
  struct itest_http h;
  char ca[700], rc[700];
  int status;

  itest_get(&f->env, "/owcp/0.1/CA", &h);
  ITEST_EXPECT(h, 200);
  snprintf(ca, sizeof ca, "%s/bridge-ca.pem", f->env.tmpdir);
  snprintf(rc, sizeof rc, "%s/bridge-receipt.der", f->env.tmpdir);
  assert_int_equal(owcp_file_write_atomic(ca, h.body, h.body_len, 0600, &err),
                   0);
  assert_int_equal(owcp_file_write_atomic(rc, der, len, 0600, &err), 0);
  itest_http_free(&h);
  status =
      testutil_openssl(NULL, "cms", "-verify", "-inform", "DER", "-in", rc,
                       "-CAfile", ca, "-purpose", "any", "-out", "/dev/null");
  return status;
}

/* One worker thread's check of an answered confirmation. */
struct worker {
  struct confirm_service *svc;
  const struct confirm_sent *sent;
  enum confirm_outcome outcome;
  size_t receipt_len;
};

static void *worker_checks(void *arg)
{
  struct worker *w = arg;
  struct confirm_result r = {0};

  w->outcome =
      confirm_check(w->svc, w->sent->transaction, w->sent->request_xml,
                    w->sent->request_len, "alice@example.com", 0, &r, NULL);
  w->receipt_len = r.receipt_len;
  confirm_result_free(&r);
  return NULL;
}

/* Several threads (as MHD workers) check at once, each through its own
 * requestor context, and all see the verified Accept. */
static void check_from_threads(struct fx *f, const struct confirm_sent *sent,
                               size_t receipt_len)
{
  struct worker w[4];
  pthread_t th[4];

  for (size_t i = 0; i < 4; i++) {
    w[i] = (struct worker){f->svc, sent, CONFIRM_FAILED, 0};
    assert_int_equal(pthread_create(&th[i], NULL, worker_checks, &w[i]), 0);
  }
  for (size_t i = 0; i < 4; i++) {
    assert_int_equal(pthread_join(th[i], NULL), 0);
    assert_int_equal(w[i].outcome, CONFIRM_ACCEPTED);
    assert_int_equal(w[i].receipt_len, receipt_len);
  }
}

static void test_accept_verified(void **state)
{
  struct fx *f = *state;
  struct confirm_sent sent = {0};
  struct confirm_result r = {0};
  struct owcp_error err = {{0}};
  time_t t0 = time(NULL);

  send_to(f, f->svc, "alice@example.com", "Issue it?", &sent);
  assert_int_equal(check(f->svc, &sent, "alice@example.com", 0, &r, &err),
                   CONFIRM_PENDING);
  assert_true(r.expires >= sent.expires - 1);
  confirm_result_free(&r);
  assert_int_equal(
      device_answers(f, "alice@example.com", &sent, OWCP_ANSWER_ACCEPT),
      OWCP_ANSWER_ACCEPT);
  if (check(f->svc, &sent, "alice@example.com", 5, &r, &err) !=
      CONFIRM_ACCEPTED)
    fail_msg("check: %s: %s", confirm_outcome_name(r.outcome), err.msg);
  assert_non_null(r.receipt);
  assert_non_null(r.client);
  assert_string_equal(r.account, "alice@example.com");
  assert_true(r.signed_at >= t0 - 5 && r.signed_at <= time(NULL) + 5);
  assert_null(r.reason);
  assert_int_equal(openssl_verifies(f, r.receipt, r.receipt_len), 0);
  check_from_threads(f, &sent, r.receipt_len);
  /* The same check again (a WSTEP re-query) answers the same. */
  confirm_result_free(&r);
  assert_int_equal(check(f->svc, &sent, "alice@example.com", 0, &r, &err),
                   CONFIRM_ACCEPTED);
  /* A tampered receipt is refused by openssl: the check above means it. */
  r.receipt[r.receipt_len / 2] ^= 0x01;
  assert_int_not_equal(openssl_verifies(f, r.receipt, r.receipt_len), 0);
  confirm_result_free(&r);
  confirm_sent_free(&sent);
}

static void test_other_bytes_fail(void **state)
{
  struct fx *f = *state;
  struct confirm_sent sent = {0}, other = {0};
  struct confirm_result r = {0};
  struct owcp_error err = {{0}};

  send_to(f, f->svc, "alice@example.com", "Issue the first?", &sent);
  send_to(f, f->svc, "alice@example.com", "Issue the second?", &other);
  device_answers(f, "alice@example.com", &sent, OWCP_ANSWER_ACCEPT);
  /* The Accept of `sent`, checked against bytes it does not cover. */
  assert_int_equal(confirm_check(f->svc, sent.transaction, other.request_xml,
                                 other.request_len, "alice@example.com", 0, &r,
                                 &err),
                   CONFIRM_FAILED);
  print_message("other bytes: %s\n", err.msg);
  assert_non_null(strstr(err.msg, "does not verify"));
  assert_null(r.receipt);
  confirm_result_free(&r);
  /* The right bytes, but for another account than the caller expects. */
  assert_int_equal(check(f->svc, &sent, "bob@example.com", 0, &r, &err),
                   CONFIRM_FAILED);
  assert_non_null(strstr(err.msg, "<To>"));
  confirm_result_free(&r);
  /* Not a request at all. */
  assert_int_equal(confirm_check(f->svc, sent.transaction, "<Request/>", 10,
                                 "alice@example.com", 0, &r, &err),
                   CONFIRM_FAILED);
  confirm_result_free(&r);
  /* And the right bytes still verify. */
  assert_int_equal(check(f->svc, &sent, "alice@example.com", 0, &r, &err),
                   CONFIRM_ACCEPTED);
  confirm_result_free(&r);
  confirm_sent_free(&sent);
  withdraw(f, &other);
}

/* Sends to `to`, has the device answer, and expects the check (waiting)
 * to come to `want`; *r is the caller's. */
static void answered(struct fx *f, const char *to, enum owcp_answer answer,
                     enum owcp_answer sent_answer, enum confirm_outcome want,
                     struct confirm_result *r)
{
  struct confirm_sent sent = {0};
  struct owcp_error err = {{0}};

  send_to(f, f->svc, to, "Issue it (answer me)?", &sent);
  assert_int_equal(device_answers(f, to, &sent, answer), sent_answer);
  if (check(f->svc, &sent, to, 5, r, &err) != want)
    fail_msg("check: %s: %s", confirm_outcome_name(r->outcome), err.msg);
  confirm_sent_free(&sent);
}

static void test_reject(void **state)
{
  struct fx *f = *state;
  struct confirm_result r = {0};

  answered(f, "alice@example.com", OWCP_ANSWER_REJECT, OWCP_ANSWER_REJECT,
           CONFIRM_REJECTED, &r);
  /* A Reject is evidence too: its verified receipt is kept. */
  assert_non_null(r.receipt);
  assert_int_equal(openssl_verifies(f, r.receipt, r.receipt_len), 0);
  confirm_result_free(&r);
}

static void test_refuse(void **state)
{
  struct fx *f = *state;
  struct confirm_result r = {0};

  /* bob's device has no PIN: it refuses whatever the user chose. */
  answered(f, "bob@example.com", OWCP_ANSWER_ACCEPT, OWCP_ANSWER_REFUSE,
           CONFIRM_REFUSED, &r);
  assert_non_null(r.reason);
  assert_string_equal(r.reason, "Unknown Verification Type");
  confirm_result_free(&r);
}

static void test_expired(void **state)
{
  struct fx *f = *state;
  struct confirm_service *quick = service(f, 2);
  struct confirm_sent sent = {0};
  struct confirm_result r = {0};
  struct owcp_error err = {{0}};
  double t0 = itest_now();
  enum confirm_outcome o;

  send_to(f, quick, "alice@example.com", "Issue it (nobody answers)?", &sent);
  do {
    confirm_result_free(&r);
    o = check(quick, &sent, "alice@example.com", 2, &r, &err);
  } while (o == CONFIRM_PENDING && itest_now() - t0 < 30);
  if (o != CONFIRM_EXPIRED)
    fail_msg("check: %s: %s", confirm_outcome_name(o), err.msg);
  assert_true(itest_now() - t0 >= 1.0);
  assert_null(r.receipt);
  confirm_result_free(&r);
  confirm_sent_free(&sent);
  confirm_service_free(quick);
}

static void test_cancelled(void **state)
{
  struct fx *f = *state;
  struct confirm_sent sent = {0};
  struct confirm_result r = {0};
  struct owcp_error err = {{0}};
  struct owcp_pending_list list = {0};

  send_to(f, f->svc, "alice@example.com", "Issue it (then give up)?", &sent);
  assert_int_equal(confirm_cancel(f->svc, sent.transaction, sent.request_xml,
                                  sent.request_len, "alice@example.com", &r,
                                  &err),
                   CONFIRM_CANCELLED);
  confirm_result_free(&r);
  assert_int_equal(check(f->svc, &sent, "alice@example.com", 0, &r, &err),
                   CONFIRM_CANCELLED);
  confirm_result_free(&r);
  /* The device no longer sees it. */
  assert_int_equal(
      owcp_client_list(f->client, "alice@example.com", 0, &list, &err), 0);
  assert_null(owcp_pending_find(&list, sent.transaction));
  owcp_pending_list_free(&list);
  confirm_sent_free(&sent);
}

static void test_unknown_account(void **state)
{
  struct fx *f = *state;
  struct confirm_sent sent = {0};
  struct confirm_request req = {.kind = CONFIRM_ENROLLMENT,
                                .to = "nobody@example.com",
                                .summary = "Issue it?"};
  struct owcp_error err = {{0}};

  assert_int_equal(confirm_send(f->svc, &req, &sent, &err),
                   CONFIRM_UNKNOWN_ACCOUNT);
  assert_null(sent.transaction);
  assert_null(sent.request_xml);
}

/* A dispatcher that answers every request 503 Unavailable. */
static enum MHD_Result unavailable(void *cls, struct MHD_Connection *c,
                                   const char *url, const char *method,
                                   const char *version, const char *data,
                                   size_t *size, void **con_cls)
{
  static const char body[] = "{\"Status\":503,\"Text\":\"Unavailable\","
                             "\"Error\":\"The store is unreachable.\"}";
  struct MHD_Response *resp;
  enum MHD_Result ret;

  (void)cls, (void)url, (void)method, (void)version, (void)data;
  if (*con_cls == NULL) {
    *con_cls = c;
    return MHD_YES;
  }
  *size = 0;
  resp = MHD_create_response_from_buffer(sizeof body - 1, (void *)body,
                                         MHD_RESPMEM_PERSISTENT);
  MHD_add_response_header(resp, "Content-Type", "application/json");
  ret = MHD_queue_response(c, 503, resp);
  MHD_destroy_response(resp);
  return ret;
}

/* Sends and checks through a dispatcher at base; both must be
 * UNREACHABLE. sent is a real transaction of the real dispatcher. */
static void expect_unreachable(struct fx *f, const char *base,
                               const struct confirm_sent *sent)
{
  struct confirm_config c = config_of(f, 120);
  struct confirm_service *s = NULL;
  struct confirm_sent none = {0};
  struct confirm_result r = {0};
  struct owcp_error err = {{0}};
  struct confirm_request req = {.kind = CONFIRM_CREDENTIALS,
                                .to = "alice@example.com",
                                .summary = "Allow relay?"};

  c.dispatcher = base;
  if (confirm_service_new(&c, &s, &err) != 0)
    fail_msg("confirm_service_new: %s", err.msg);
  assert_int_equal(confirm_send(s, &req, &none, &err), CONFIRM_UNREACHABLE);
  print_message("%s: %s\n", base, err.msg);
  assert_null(none.transaction);
  assert_int_equal(check(s, sent, "alice@example.com", 0, &r, &err),
                   CONFIRM_UNREACHABLE);
  assert_null(r.receipt);
  confirm_result_free(&r);
  confirm_service_free(s);
}

static void test_unreachable(void **state)
{
  struct fx *f = *state;
  struct confirm_sent sent = {0};
  struct confirm_result r = {0};
  struct owcp_error err = {{0}};
  struct MHD_Daemon *d;
  char base[128];

  send_to(f, f->svc, "alice@example.com", "Issue it (dispatcher down)?", &sent);
  device_answers(f, "alice@example.com", &sent, OWCP_ANSWER_ACCEPT);
  /* Nothing listens on port 1. */
  expect_unreachable(f, "http://127.0.0.1:1/owcp/0.1", &sent);
  d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL,
                       unavailable, NULL, MHD_OPTION_END);
  assert_non_null(d);
  snprintf(base, sizeof base, "http://127.0.0.1:%u/owcp/0.1",
           (unsigned)MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port);
  expect_unreachable(f, base, &sent);
  MHD_stop_daemon(d);
  /* The real dispatcher stopped: the same service, unreachable too. */
  itest_stop(&f->env);
  assert_int_equal(check(f->svc, &sent, "alice@example.com", 0, &r, &err),
                   CONFIRM_UNREACHABLE);
  confirm_result_free(&r);
  confirm_sent_free(&sent);
}

static void test_after_restart(void **state)
{
  struct fx *f = *state;
  struct confirm_sent sent = {0};
  struct confirm_result r = {0};
  struct owcp_error err = {{0}};
  char *tx, *xml;
  size_t len;

  send_to(f, f->svc, "alice@example.com", "Issue it (across a restart)?",
          &sent);
  /* What the bridge keeps in its database; the process then ends. */
  tx = strdup(sent.transaction);
  xml = strdup(sent.request_xml);
  len = sent.request_len;
  confirm_sent_free(&sent);
  confirm_service_free(f->svc);
  f->svc = NULL;
  device_answers(f, "alice@example.com",
                 &(struct confirm_sent){tx, xml, len, 0}, OWCP_ANSWER_ACCEPT);
  /* A new process: a fresh service from the same configuration. */
  f->svc = service(f, 120);
  if (confirm_check(f->svc, tx, xml, len, "alice@example.com", 0, &r, &err) !=
      CONFIRM_ACCEPTED)
    fail_msg("check after restart: %s: %s", confirm_outcome_name(r.outcome),
             err.msg);
  assert_int_equal(openssl_verifies(f, r.receipt, r.receipt_len), 0);
  confirm_result_free(&r);
  free(tx);
  free(xml);
}

/* The plain text of a one-span text. */
static const char *text_of(const struct owcp_text *t)
{
  assert_int_equal(t->count, 1);
  assert_int_equal(t->spans[0].kind, OWCP_SPAN_TEXT);
  return t->spans[0].text;
}

static void test_device_sees_summary_and_table(void **state)
{
  struct fx *f = *state;
  static const char summary[] =
      "Issue a smart-card logon certificate (template 1.3.6.1.4.1.311.21.8.1.1)"
      " to EXAMPLE\\alice for LAPTOP-234.example.com?";
  struct confirm_sent sent = {0};
  struct owcp_error err = {{0}};
  struct owcp_pending_list list = {0};
  struct owcp_xml_validator *v = owcp_xml_validator_new(NULL, &err);
  struct owcp_request *req = NULL;

  assert_non_null(v);
  send_to(f, f->svc, "alice@example.com", summary, &sent);
  if (owcp_client_list(f->client, "alice@example.com", 5, &list, &err) != 0)
    fail_msg("owcp_client_list: %s", err.msg);
  const struct owcp_pending *p = owcp_pending_find(&list, sent.transaction);
  assert_non_null(p);
  assert_string_equal(p->type, "Enrollment");
  assert_int_equal(
      owcp_request_parse(v, p->request, p->request_len, &req, &err),
      OWCP_XML_OK);
  assert_string_equal(req->header.type, "Enrollment");
  assert_string_equal(req->header.from, BRIDGE);
  assert_string_equal(req->header.to, "alice@example.com");
  assert_int_equal(req->header.verification_count, 1);
  assert_string_equal(req->header.verification[0], "PIN");
  assert_string_equal(text_of(&req->header.summary), summary);
  assert_int_equal(req->body_count, 1);
  assert_int_equal(req->body[0].kind, OWCP_BODY_TABLE);
  assert_int_equal(req->body[0].table.row_count, 4);
  for (size_t i = 0; i < 4; i++) {
    const struct owcp_table_row *row = &req->body[0].table.rows[i];
    assert_false(row->header);
    assert_int_equal(row->cell_count, 2);
    assert_string_equal(text_of(&row->cells[0]), details[i].label);
    assert_string_equal(text_of(&row->cells[1]), details[i].value);
  }
  owcp_request_free(req);
  owcp_pending_list_free(&list);
  owcp_xml_validator_free(v);
  withdraw(f, &sent);
}

static void test_hostile_text(void **state)
{
  struct fx *f = *state;
  static const char markup[] =
      "Issue <script>alert(1)</script> ]]> &amp; <![CDATA[x]]> \"'?";
  struct confirm_sent sent = {0};
  struct owcp_error err = {{0}};
  struct owcp_xml_validator *v = owcp_xml_validator_new(NULL, &err);
  struct owcp_request *req = NULL;
  long long before;

  /* Markup is text: escaped by the writer, read back exactly. */
  assert_non_null(v);
  send_to(f, f->svc, "alice@example.com", markup, &sent);
  assert_null(strstr(sent.request_xml, "<script>"));
  assert_null(strstr(sent.request_xml, "]]>"));
  assert_int_equal(
      owcp_request_parse(v, sent.request_xml, sent.request_len, &req, &err),
      OWCP_XML_OK);
  assert_string_equal(text_of(&req->header.summary), markup);
  owcp_request_free(req);
  owcp_xml_validator_free(v);
  withdraw(f, &sent);

  /* What could reorder or hide text is refused, and nothing is sent. */
  before = itest_sql_count(&f->env, "SELECT count(*) FROM transactions");
  struct confirm_request bad = {.kind = CONFIRM_ENROLLMENT,
                                .to = "alice@example.com",
                                .summary = "Issue to \xe2\x80\xae"
                                           "moc.elpmaxe@ecila?"};
  assert_int_equal(confirm_send(f->svc, &bad, &sent, &err), CONFIRM_FAILED);
  assert_non_null(strstr(err.msg, "U+202E"));
  assert_non_null(strstr(err.msg, "summary"));
  struct confirm_detail evil[] = {{"Subject", "CN=a\nCN=admin"}};
  bad.summary = "Issue it?";
  bad.details = evil;
  bad.detail_count = 1;
  assert_int_equal(confirm_send(f->svc, &bad, &sent, &err), CONFIRM_FAILED);
  assert_non_null(strstr(err.msg, "value of detail 1"));
  assert_non_null(strstr(err.msg, "U+000A"));
  assert_null(sent.request_xml);
  assert_int_equal(
      itest_sql_count(&f->env, "SELECT count(*) FROM transactions"), before);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_accept_verified, setup, teardown),
      cmocka_unit_test_setup_teardown(test_other_bytes_fail, setup, teardown),
      cmocka_unit_test_setup_teardown(test_reject, setup, teardown),
      cmocka_unit_test_setup_teardown(test_refuse, setup, teardown),
      cmocka_unit_test_setup_teardown(test_expired, setup, teardown),
      cmocka_unit_test_setup_teardown(test_cancelled, setup, teardown),
      cmocka_unit_test_setup_teardown(test_unknown_account, setup, teardown),
      cmocka_unit_test_setup_teardown(test_unreachable, setup, teardown),
      cmocka_unit_test_setup_teardown(test_after_restart, setup, teardown),
      cmocka_unit_test_setup_teardown(test_device_sees_summary_and_table, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_hostile_text, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
