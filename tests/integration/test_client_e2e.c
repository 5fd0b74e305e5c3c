/*
 * test_client_e2e.c — libowcp-client end to end against real owcp-admin and
 * owcp-dispatcher processes: registration by enrollment code, by approval
 * of an existing device (accepted with the number the new device shows,
 * rejected, and accepted with a wrong number) and by open self-
 * subscription; accept and reject with the PIN (a wrong PIN sends nothing);
 * "Not Me" (Refuse with that Reason, RD-Confirm then refused);
 * requests naming a method the device cannot perform answered Refuse
 * "Unknown Verification Type"; receipts from RD-Status verified with the
 * core library and with `openssl cms -verify` against GET {base}/CA;
 * several accounts in one state directory; CD-Deregister.
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
#include <unistd.h>

#include "itest.h"
#include "owcp/client.h"
#include "owcp/keys.h"
#include "owcp/receipt.h"
#include "owcp/util.h"
#include "testutil.h"

#define PIN "2468-pin"

struct fx {
  struct itest_env env;
  char *token; /* requestor access@example.com */
  int dirs;    /* state directories handed out so far */
};

static struct fx *g_fx;

static int group_setup(void **state)
{
  struct fx *f = calloc(1, sizeof *f);
  /* Many registrations from one address within a minute. */
  const char *open[] = {"--open", "--register-per-minute-per-address", "1000",
                        NULL};

  assert_non_null(f);
  itest_env_init(&f->env, "client");
  itest_account_add(&f->env, "alice@example.com");
  itest_account_add(&f->env, "bob@example.com");
  itest_account_add(&f->env, "dave@example.com");
  itest_account_add(&f->env, "erin@example.com");
  itest_account_add(&f->env, "frank@example.com");
  f->token = itest_requestor_add(&f->env, "access@example.com", 0);
  itest_start(&f->env, open);
  g_fx = f;
  *state = f;
  return 0;
}

static int group_teardown(void **state)
{
  struct fx *f = *state;
  if (f->env.pid > 0)
    itest_stop(&f->env);
  free(f->token);
  itest_env_fini(&f->env);
  free(f);
  return 0;
}

/* A client on a fresh state directory of its own (path into dir). */
static struct owcp_client *new_client(struct fx *f, char *dir, size_t size)
{
  struct owcp_client *c = NULL;
  struct owcp_error err = {{0}};

  int n = snprintf(dir, size, "%s/state-%d", f->env.tmpdir, ++f->dirs);
  assert_true(n > 0 && (size_t)n < size);
  struct owcp_client_config cfg = {
      .state_dir = dir, .dispatcher = f->env.base, .allow_insecure_http = true};
  if (owcp_client_open(&cfg, &c, &err) != 0)
    fail_msg("open: %s", err.msg);
  return c;
}

static void register_code(struct fx *f, struct owcp_client *c,
                          const char *account, const char *pin)
{
  struct owcp_error err = {{0}};
  char *code = itest_code_issue(&f->env, account, 0);
  struct owcp_register_params p = {
      .account = account, .description = "e2e phone", .code = code, .pin = pin};
  if (owcp_client_register(c, &p, &err) != 0)
    fail_msg("register %s: %s", account, err.msg);
  free(code);
}

/* Long-polls CD-List until tx shows up (bounded); *l owns the result. */
static const struct owcp_pending *wait_pending(struct owcp_client *c,
                                               const char *account,
                                               const char *tx,
                                               struct owcp_pending_list *l)
{
  struct owcp_error err = {{0}};

  for (int i = 0; i < 10; i++) {
    if (owcp_client_list(c, account, 2, l, &err) != 0)
      fail_msg("list: %s", err.msg);
    const struct owcp_pending *p = owcp_pending_find(l, tx);
    if (p != NULL)
      return p;
    owcp_pending_list_free(l);
  }
  fail_msg("transaction %s never appeared in CD-List for %s", tx, account);
  return NULL;
}

static void rd_status(struct fx *f, const char *tx, struct itest_http *h)
{
  json_t *p = json_pack("{s:s}", "Transaction", tx);
  itest_post(&f->env, "RD-Status", f->token, p, h);
  json_decref(p);
}

/* Runs openssl cms -verify; returns its exit status (-1: it did not exit
 * normally). */
static int run_openssl_verify(const char *der, const char *ca, const char *out)
{
  return testutil_openssl(NULL, "cms", "-verify", "-inform", "DER", "-in", der,
                          "-CAfile", ca, "-purpose", "any", "-out", out);
}

/* RD-Status must report response (and reason) with a receipt that the core
 * library and `openssl cms -verify` both accept under GET {base}/CA. */
static void check_outcome(struct fx *f, const char *tx, const char *account,
                          const char *response, const char *reason,
                          const char *xml, bool pin_listed)
{
  struct itest_http h, ca;
  struct owcp_error err = {{0}};
  unsigned char *der = NULL;
  size_t der_len = 0;
  struct owcp_receipt *r = NULL;
  char der_path[600], ca_path[600], out_path[600];

  rd_status(f, tx, &h);
  ITEST_EXPECT(h, 200);
  assert_string_equal(itest_str(&h, "Response"), response);
  if (reason != NULL)
    assert_string_equal(itest_str(&h, "Reason"), reason);
  const json_t *ver = json_object_get(h.json, "Verification");
  assert_true(json_is_array(ver));
  assert_int_equal(json_array_size(ver), pin_listed ? 1 : 0);
  if (pin_listed)
    assert_string_equal(json_string_value(json_array_get(ver, 0)), "PIN");
  const char *b64 = itest_str(&h, "Receipt");
  assert_non_null(b64);
  assert_int_equal(owcp_base64_decode(b64, strlen(b64), &der, &der_len, &err),
                   0);

  itest_get(&f->env, "/owcp/0.1/CA", &ca);
  ITEST_EXPECT(ca, 200);
  X509 *ca_cert = owcp_cert_from_pem(ca.body, ca.body_len, &err);
  assert_non_null(ca_cert);
  if (owcp_receipt_verify(der, der_len, ca_cert, NULL, &r, &err) != 0)
    fail_msg("receipt: %s", err.msg);
  if (owcp_receipt_matches(r, tx, account, itest_str(&h, "Client"), response,
                           xml, strlen(xml), &err) != 0)
    fail_msg("receipt content: %s", err.msg);
  if (reason != NULL)
    assert_string_equal(r->reason, reason);

  snprintf(der_path, sizeof der_path, "%s/receipt-%s.der", f->env.tmpdir, tx);
  snprintf(ca_path, sizeof ca_path, "%s/ca.pem", f->env.tmpdir);
  snprintf(out_path, sizeof out_path, "%s/receipt-%s.json", f->env.tmpdir, tx);
  testutil_write_file(der_path, der, der_len);
  testutil_write_file(ca_path, ca.body, ca.body_len);
  assert_int_equal(run_openssl_verify(der_path, ca_path, out_path), 0);
  unsigned char *content = NULL;
  size_t content_len = 0;
  assert_int_equal(
      owcp_file_read(out_path, 1 << 20, &content, &content_len, &err), 0);
  assert_non_null(strstr((char *)content, tx));
  assert_non_null(strstr((char *)content, response));

  free(content);
  owcp_receipt_free(r);
  X509_free(ca_cert);
  free(der);
  itest_http_free(&ca);
  itest_http_free(&h);
}

static void answer_with_pin(struct fx *f, enum owcp_answer a,
                            const char *response)
{
  char dir[512];
  struct owcp_client *c = new_client(f, dir, sizeof dir);
  struct owcp_error err = {{0}};
  struct owcp_pending_list l = {0};
  struct owcp_view v;
  struct itest_http h;
  enum owcp_answer sent;
  struct stat st;
  char id[64];

  register_code(f, c, "alice@example.com", PIN);
  assert_int_equal(stat(dir, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0700);

  snprintf(id, sizeof id, "urn:client-e2e:%s", response);
  char *xml =
      itest_request_xml("access@example.com", "alice@example.com", id, true, 0);
  char *tx = itest_confirm_ok(&f->env, f->token, xml, 0);
  const struct owcp_pending *p = wait_pending(c, "alice@example.com", tx, &l);
  /* The exact bytes the requestor sent are what the device holds. */
  assert_int_equal(p->request_len, strlen(xml));
  assert_memory_equal(p->request, xml, p->request_len);

  assert_int_equal(
      owcp_client_view(c, "alice@example.com", p, OWCP_RENDER_PLAIN, &v, &err),
      0);
  assert_non_null(strstr(v.text, "Summary: Connect laptop #234"));
  assert_true(v.needs_pin);
  assert_null(v.unsupported);
  owcp_view_clear(&v);

  /* A wrong PIN sends nothing and is counted. */
  assert_int_equal(
      owcp_client_reply(c, "alice@example.com", p, a, "9999", &sent, &err),
      OWCP_CLIENT_BAD_PIN);
  assert_non_null(strstr(err.msg, "wrong PIN"));
  rd_status(f, tx, &h);
  ITEST_EXPECT(h, 202);
  itest_http_free(&h);
  /* Without the PIN no receipt can be signed at all. */
  assert_int_equal(
      owcp_client_reply(c, "alice@example.com", p, a, NULL, &sent, &err), -1);

  if (owcp_client_reply(c, "alice@example.com", p, a, PIN, &sent, &err) != 0)
    fail_msg("reply: %s", err.msg);
  assert_int_equal(sent, a);
  check_outcome(f, tx, "alice@example.com", response, NULL, xml, true);

  /* Answered: a second reply is refused by the dispatcher (409). */
  assert_int_equal(
      owcp_client_reply(c, "alice@example.com", p, a, PIN, &sent, &err), -1);
  assert_non_null(strstr(err.msg, "409"));

  owcp_pending_list_free(&l);
  free(tx);
  free(xml);
  owcp_client_close(c);
}

static void test_code_accept_with_pin(void **state)
{
  answer_with_pin(*state, OWCP_ANSWER_ACCEPT, "Accept");
}

static void test_code_reject_with_pin(void **state)
{
  answer_with_pin(*state, OWCP_ANSWER_REJECT, "Reject");
}

static const char fingerprint_xml[] =
    "<Request xmlns=\"http://schema.comodo.com/2011/owcp/0.1\">"
    "<Header identifier=\"urn:client-e2e:fingerprint\">"
    "<From>access@example.com</From><To>alice@example.com</To>"
    "<Verification>PIN</Verification>"
    "<Verification>Fingerprint</Verification>"
    "<Summary>Open the <B>server room</B> door?</Summary></Header>"
    "<Body><P>Pay <Money currency=\"EUR\" amount=\"1234.50\"/></P></Body>"
    "</Request>";

static void test_unknown_verification_refused(void **state)
{
  struct fx *f = *state;
  char dir[512];
  struct owcp_client *c = new_client(f, dir, sizeof dir);
  struct owcp_error err = {{0}};
  struct owcp_pending_list l = {0};
  struct owcp_view v;
  enum owcp_answer sent = OWCP_ANSWER_ACCEPT;

  register_code(f, c, "alice@example.com", PIN);
  char *tx = itest_confirm_ok(&f->env, f->token, fingerprint_xml, 0);
  const struct owcp_pending *p = wait_pending(c, "alice@example.com", tx, &l);
  assert_int_equal(
      owcp_client_view(c, "alice@example.com", p, OWCP_RENDER_PLAIN, &v, &err),
      0);
  assert_string_equal(v.unsupported, "Fingerprint");
  assert_non_null(strstr(v.text, "*server room*"));
  assert_non_null(strstr(v.text, "EUR 1,234.50"));
  owcp_view_clear(&v);

  /* The user's Accept cannot be honoured: Refuse is what is sent. */
  if (owcp_client_reply(c, "alice@example.com", p, OWCP_ANSWER_ACCEPT, PIN,
                        &sent, &err) != 0)
    fail_msg("reply: %s", err.msg);
  assert_int_equal(sent, OWCP_ANSWER_REFUSE);
  check_outcome(f, tx, "alice@example.com", "Refuse",
                OWCP_CLIENT_UNKNOWN_VERIFICATION, fingerprint_xml, true);
  owcp_pending_list_free(&l);
  free(tx);
  owcp_client_close(c);
}

/* A device registered without a PIN cannot perform PIN: it Refuses such
 * requests and answers the others with an empty Verification. */
static void test_no_pin_device(void **state)
{
  struct fx *f = *state;
  char dir[512];
  struct owcp_client *c = new_client(f, dir, sizeof dir);
  struct owcp_error err = {{0}};
  struct owcp_pending_list l = {0};
  enum owcp_answer sent;

  register_code(f, c, "bob@example.com", NULL);
  assert_false(owcp_client_account_has_pin(c, "bob@example.com"));
  char *xml = itest_request_xml("access@example.com", "bob@example.com",
                                "urn:client-e2e:bob-pin", true, 0);
  char *tx = itest_confirm_ok(&f->env, f->token, xml, 0);
  const struct owcp_pending *p = wait_pending(c, "bob@example.com", tx, &l);
  if (owcp_client_reply(c, "bob@example.com", p, OWCP_ANSWER_ACCEPT, NULL,
                        &sent, &err) != 0)
    fail_msg("reply: %s", err.msg);
  assert_int_equal(sent, OWCP_ANSWER_REFUSE);
  check_outcome(f, tx, "bob@example.com", "Refuse",
                OWCP_CLIENT_UNKNOWN_VERIFICATION, xml, false);
  owcp_pending_list_free(&l);
  free(tx);
  free(xml);

  xml = itest_request_xml("access@example.com", "bob@example.com",
                          "urn:client-e2e:bob-plain", false, 0);
  tx = itest_confirm_ok(&f->env, f->token, xml, 0);
  p = wait_pending(c, "bob@example.com", tx, &l);
  if (owcp_client_reply(c, "bob@example.com", p, OWCP_ANSWER_ACCEPT, NULL,
                        &sent, &err) != 0)
    fail_msg("reply: %s", err.msg);
  assert_int_equal(sent, OWCP_ANSWER_ACCEPT);
  check_outcome(f, tx, "bob@example.com", "Accept", NULL, xml, false);
  owcp_pending_list_free(&l);
  free(tx);
  free(xml);
  owcp_client_close(c);
}

/* ---- registration by approval ------------------------------------------- */

struct approval {
  struct owcp_client *c;
  const char *account;
  int rc;
  struct owcp_error err;
  char tx[128];
  char match[3]; /* the digits the new device was given */
  pthread_mutex_t mu;
};

static void on_match(const char *tx, const char *match, void *arg)
{
  struct approval *a = arg;
  (void)tx;
  pthread_mutex_lock(&a->mu);
  snprintf(a->match, sizeof a->match, "%s", match);
  pthread_mutex_unlock(&a->mu);
}

static void on_pending(const char *tx, void *arg)
{
  struct approval *a = arg;
  pthread_mutex_lock(&a->mu);
  snprintf(a->tx, sizeof a->tx, "%s", tx);
  pthread_mutex_unlock(&a->mu);
}

static void *approval_thread(void *arg)
{
  struct approval *a = arg;
  struct owcp_register_params p = {.account = a->account,
                                   .description = "second phone",
                                   .pin = PIN,
                                   .approval_timeout_s = 60,
                                   .poll_interval_ms = 200,
                                   .on_pending = on_pending,
                                   .arg = a,
                                   .on_match = on_match};
  a->rc = owcp_client_register(a->c, &p, &a->err);
  return NULL;
}

/* Waits (bounded) until the new device reported its approval transaction
 * and the digits it shows. */
static void approval_tx(struct approval *a, char *out, size_t size,
                        char match[3])
{
  for (int i = 0; i < 200; i++) {
    pthread_mutex_lock(&a->mu);
    snprintf(out, size, "%s", a->tx);
    memcpy(match, a->match, 3);
    pthread_mutex_unlock(&a->mu);
    if (out[0] != '\0' && match[0] != '\0')
      return;
    usleep(50000);
  }
  fail_msg("the new device never got an approval transaction and number");
}

/* How the first device answers: accept with the right number, reject, or
 * accept with a wrong number. */
enum approve_how { APPROVE_RIGHT, APPROVE_REJECT, APPROVE_WRONG };

/* The first device answers the approval p as how says. */
static void approve(struct owcp_client *first, const struct owcp_pending *p,
                    enum approve_how how, const char match[3])
{
  struct owcp_error err = {{0}};
  enum owcp_answer sent;
  char wrong[3] = {(char)('0' + (match[0] - '0' + 5) % 10), match[1], '\0'};

  if (how == APPROVE_REJECT) {
    if (owcp_client_reply(first, "dave@example.com", p, OWCP_ANSWER_REJECT, PIN,
                          &sent, &err) != 0)
      fail_msg("reject: %s", err.msg);
    return;
  }
  /* Accepting an approval without the number sends nothing. */
  assert_int_equal(owcp_client_reply(first, "dave@example.com", p,
                                     OWCP_ANSWER_ACCEPT, PIN, &sent, &err),
                   -1);
  assert_non_null(strstr(err.msg, "number"));
  int rc = owcp_client_reply_match(
      first, "dave@example.com", p, OWCP_ANSWER_ACCEPT, PIN,
      how == APPROVE_RIGHT ? match : wrong, &sent, &err);
  if (how == APPROVE_RIGHT && rc != 0)
    fail_msg("approve: %s", err.msg);
  if (how == APPROVE_WRONG) {
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err.msg, "wrong number"));
  }
}

static void approval_flow(struct fx *f, enum approve_how how)
{
  char dir1[512], dir2[512], tx[128];
  struct owcp_client *first = new_client(f, dir1, sizeof dir1);
  struct owcp_client *second = new_client(f, dir2, sizeof dir2);
  struct approval a = {.c = second, .account = "dave@example.com"};
  struct owcp_error err = {{0}};
  struct owcp_pending_list l = {0};
  struct owcp_view v;
  char match[3];
  pthread_t th;

  pthread_mutex_init(&a.mu, NULL);
  register_code(f, first, "dave@example.com", PIN);
  assert_int_equal(pthread_create(&th, NULL, approval_thread, &a), 0);
  approval_tx(&a, tx, sizeof tx, match);

  const struct owcp_pending *p =
      wait_pending(first, "dave@example.com", tx, &l);
  assert_string_equal(p->type, "Registration");
  assert_int_equal(owcp_client_view(first, "dave@example.com", p,
                                    OWCP_RENDER_PLAIN, &v, &err),
                   0);
  assert_non_null(strstr(v.text, "second phone"));
  assert_true(v.needs_match);
  owcp_view_clear(&v);
  approve(first, p, how, match);
  pthread_join(th, NULL);

  struct owcp_pending_list l2 = {0};
  if (how == APPROVE_RIGHT) {
    if (a.rc != 0)
      fail_msg("approved registration failed: %s", a.err.msg);
    assert_true(owcp_client_account_has_pin(second, "dave@example.com"));
    assert_int_equal(owcp_client_list(second, "dave@example.com", 0, &l2, &err),
                     0);
  } else {
    assert_int_equal(a.rc, -1);
    assert_non_null(strstr(a.err.msg, "403"));
    /* Nothing was saved for the rejected device. */
    assert_int_equal(owcp_client_list(second, "dave@example.com", 0, &l2, &err),
                     -1);
    assert_non_null(strstr(err.msg, "not registered"));
  }
  owcp_pending_list_free(&l2);
  owcp_pending_list_free(&l);
  pthread_mutex_destroy(&a.mu);
  owcp_client_close(first);
  owcp_client_close(second);
}

static void test_register_by_approval(void **state)
{
  approval_flow(*state, APPROVE_RIGHT);
}

static void test_register_by_approval_rejected(void **state)
{
  approval_flow(*state, APPROVE_REJECT);
}

static void test_register_by_approval_wrong_number(void **state)
{
  approval_flow(*state, APPROVE_WRONG);
}

/* "Not Me": Refuse with that Reason, and the requestor may no longer send
 * to the account. */
static void test_not_me(void **state)
{
  struct fx *f = *state;
  char dir[512];
  struct owcp_client *c = new_client(f, dir, sizeof dir);
  struct owcp_error err = {{0}};
  struct owcp_pending_list l = {0};
  struct owcp_view v;
  struct itest_http h;
  enum owcp_answer sent = OWCP_ANSWER_ACCEPT;
  char *xml = itest_request_xml("access@example.com", "frank@example.com",
                                "urn:itest:client:not-me", true, 0);

  register_code(f, c, "frank@example.com", PIN);
  char *tx = itest_confirm_ok(&f->env, f->token, xml, 0);
  const struct owcp_pending *p = wait_pending(c, "frank@example.com", tx, &l);
  assert_int_equal(
      owcp_client_view(c, "frank@example.com", p, OWCP_RENDER_PLAIN, &v, &err),
      0);
  assert_false(v.needs_match);
  owcp_view_clear(&v);
  /* Not a device approval: no number to type. */
  assert_int_equal(owcp_client_reply_match(c, "frank@example.com", p,
                                           OWCP_ANSWER_ACCEPT, PIN, "12", &sent,
                                           &err),
                   -1);
  if (owcp_client_reply(c, "frank@example.com", p, OWCP_ANSWER_NOT_ME, PIN,
                        &sent, &err) != 0)
    fail_msg("reply: %s", err.msg);
  assert_int_equal(sent, OWCP_ANSWER_NOT_ME);
  check_outcome(f, tx, "frank@example.com", "Refuse", OWCP_CLIENT_NOT_ME, xml,
                true);
  char *xml2 = itest_request_xml("access@example.com", "frank@example.com",
                                 "urn:itest:client:not-me-2", true, 0);
  itest_confirm(&f->env, f->token, xml2, 0, &h);
  ITEST_EXPECT(h, 403);
  ITEST_EXPECT_ERROR(h, "Not Me");
  itest_http_free(&h);
  free(xml2);
  owcp_pending_list_free(&l);
  free(tx);
  free(xml);
  owcp_client_close(c);
}

static void test_open_self_subscription(void **state)
{
  struct fx *f = *state;
  char dir[512];
  struct owcp_client *c = new_client(f, dir, sizeof dir);
  struct owcp_error err = {{0}};
  struct owcp_pending_list l = {0};
  struct owcp_register_params p = {.account = "carol@example.com",
                                   .description = "carol's laptop",
                                   .pin = PIN};

  if (owcp_client_register(c, &p, &err) != 0)
    fail_msg("self-subscription: %s", err.msg);
  assert_int_equal(owcp_client_list(c, "carol@example.com", 0, &l, &err), 0);
  assert_int_equal(l.count, 0);
  owcp_client_close(c);
}

/* The token saved for account in dir's state file (caller frees). */
static char *saved_token(const char *dir, const char *account)
{
  char path[600];
  json_error_t jerr;
  struct stat st;

  snprintf(path, sizeof path, "%s/state.json", dir);
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  json_t *root = json_load_file(path, 0, &jerr);
  assert_non_null(root);
  const json_t *list = json_object_get(root, "Accounts");
  char *token = NULL;
  for (size_t i = 0; i < json_array_size(list) && token == NULL; i++) {
    const json_t *a = json_array_get(list, i);
    if (strcmp(json_string_value(json_object_get(a, "Account")), account) == 0)
      token = strdup(json_string_value(json_object_get(a, "Token")));
  }
  json_decref(root);
  assert_non_null(token);
  return token;
}

static void test_several_accounts_and_deregister(void **state)
{
  struct fx *f = *state;
  char dir[512];
  struct owcp_client *c = new_client(f, dir, sizeof dir);
  struct owcp_error err = {{0}};
  struct owcp_pending_list l = {0};
  struct itest_http h;
  char **names = NULL;
  size_t n = 0;

  register_code(f, c, "erin@example.com", PIN);
  register_code(f, c, "bob@example.com", NULL);
  assert_int_equal(owcp_client_accounts(c, &names, &n, &err), 0);
  assert_int_equal(n, 2);
  assert_string_equal(names[0], "erin@example.com");
  assert_string_equal(names[1], "bob@example.com");
  owcp_client_accounts_free(names, n);
  assert_true(owcp_client_account_has_pin(c, "erin@example.com"));
  assert_false(owcp_client_account_has_pin(c, "bob@example.com"));

  /* Each account sees its own requests only. */
  char *xml = itest_request_xml("access@example.com", "erin@example.com",
                                "urn:client-e2e:erin", true, 0);
  char *tx = itest_confirm_ok(&f->env, f->token, xml, 0);
  wait_pending(c, "erin@example.com", tx, &l);
  owcp_pending_list_free(&l);
  assert_int_equal(owcp_client_list(c, "bob@example.com", 0, &l, &err), 0);
  assert_null(owcp_pending_find(&l, tx));
  owcp_pending_list_free(&l);

  char *token = saved_token(dir, "erin@example.com");
  if (owcp_client_deregister(c, "erin@example.com", &err) != 0)
    fail_msg("deregister: %s", err.msg);
  /* The token stopped working at once and the account left the state. */
  json_t *empty = json_object();
  itest_post(&f->env, "CD-List", token, empty, &h);
  ITEST_EXPECT(h, 401);
  itest_http_free(&h);
  json_decref(empty);
  assert_int_equal(owcp_client_list(c, "erin@example.com", 0, &l, &err), -1);
  assert_non_null(strstr(err.msg, "not registered"));
  assert_int_equal(owcp_client_accounts(c, &names, &n, &err), 0);
  assert_int_equal(n, 1);
  assert_string_equal(names[0], "bob@example.com");
  owcp_client_accounts_free(names, n);

  free(token);
  free(tx);
  free(xml);
  owcp_client_close(c);
}

static void test_open_refuses_shared_state_dir(void **state)
{
  struct fx *f = *state;
  char dir[600];
  struct owcp_client *c = NULL;
  struct owcp_error err = {{0}};

  snprintf(dir, sizeof dir, "%s/shared-state", f->env.tmpdir);
  assert_int_equal(mkdir(dir, 0755), 0);
  assert_int_equal(chmod(dir, 0755), 0);
  struct owcp_client_config cfg = {
      .state_dir = dir, .dispatcher = f->env.base, .allow_insecure_http = true};
  assert_int_equal(owcp_client_open(&cfg, &c, &err), -1);
  assert_null(c);
  assert_non_null(strstr(err.msg, "group and other"));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_code_accept_with_pin),
      cmocka_unit_test(test_code_reject_with_pin),
      cmocka_unit_test(test_unknown_verification_refused),
      cmocka_unit_test(test_no_pin_device),
      cmocka_unit_test(test_register_by_approval),
      cmocka_unit_test(test_register_by_approval_rejected),
      cmocka_unit_test(test_register_by_approval_wrong_number),
      cmocka_unit_test(test_not_me),
      cmocka_unit_test(test_open_self_subscription),
      cmocka_unit_test(test_several_accounts_and_deregister),
      cmocka_unit_test(test_open_refuses_shared_state_dir),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
