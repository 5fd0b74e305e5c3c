/*
 * test_requestor_cli.c — owcp-request as a shell script sees it: every exit
 * status (0 accepted, 1 rejected, 2 timed out/cancelled, 3 refused, 4
 * usage, 5 service/network/verification error, 6 pending) and the --json
 * object on stdout, against a real dispatcher whose test client plays the
 * user (driven from C because answering needs a client key to sign
 * receipts); and discovery through a real DNS server (dnsmasq on a free
 * loopback port): SRV failover past a dead dispatcher, NXDOMAIN as exit 5.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "itest.h"
#include "owcp/util.h"

#ifndef OWCP_REQUEST_BIN
#error "OWCP_REQUEST_BIN must name the built owcp-request"
#endif
#ifndef OWCP_VPN_GATE_BIN
#error "OWCP_VPN_GATE_BIN must name the built vpn_gate example"
#endif

struct fx {
  struct itest_env env;
  char *token;
  char token_file[PATH_MAX];
  char ca_file[PATH_MAX];
  struct itest_client alice;
};

/* A running owcp-request: its pid and the read end of its stdout. */
struct run {
  pid_t pid;
  int out;
};

static void write_file(const char *path, const char *text, unsigned mode)
{
  struct owcp_error err = {{0}};

  if (owcp_file_write_atomic(path, text, strlen(text), mode, &err) != 0)
    fail_msg("%s", err.msg);
}

static int setup(void **state)
{
  struct fx *f = calloc(1, sizeof *f);
  struct itest_http h;

  assert_non_null(f);
  *state = f;
  itest_env_init(&f->env, "rqcli");
  itest_account_add(&f->env, "alice@example.com");
  f->token = itest_requestor_add(&f->env, "access@example.com", 1000);
  snprintf(f->token_file, sizeof f->token_file, "%s/token", f->env.tmpdir);
  write_file(f->token_file, f->token, 0600);
  itest_start(&f->env, NULL);
  itest_client_init(&f->alice, "alice@example.com");
  itest_client_enrol(&f->env, &f->alice);
  itest_get(&f->env, "/owcp/0.1/CA", &h);
  ITEST_EXPECT(h, 200);
  snprintf(f->ca_file, sizeof f->ca_file, "%s/ca.pem", f->env.tmpdir);
  write_file(f->ca_file, h.body, 0644);
  itest_http_free(&h);
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

/* Starts the program argv[0] with its stdout on a pipe. */
static struct run spawn(const char *const *argv)
{
  int fds[2];
  struct run r;

  assert_int_equal(pipe(fds), 0);
  r.pid = fork();
  assert_true(r.pid >= 0);
  if (r.pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    execv(argv[0], (char *const *)argv);
    _exit(127);
  }
  close(fds[1]);
  r.out = fds[0];
  return r;
}

/* Starts owcp-request with `cmd`, the connection options (unless
 * `bare`) and the NULL-terminated extra arguments. */
static struct run start(struct fx *f, bool bare, const char *cmd,
                        const char *const *extra)
{
  const char *argv[64];
  size_t n = 0;

  argv[n++] = OWCP_REQUEST_BIN;
  if (cmd != NULL)
    argv[n++] = cmd;
  if (!bare) {
    const char *conn[] = {
        "--from",       "access@example.com", "--token-file",    f->token_file,
        "--dispatcher", f->env.base,          "--insecure-http", "--json"};
    for (size_t i = 0; i < sizeof conn / sizeof conn[0]; i++)
      argv[n++] = conn[i];
  }
  for (size_t i = 0; extra != NULL && extra[i] != NULL; i++) {
    assert_true(n < 62);
    argv[n++] = extra[i];
  }
  argv[n] = NULL;
  return spawn(argv);
}

/* Waits for the process; returns its exit status and stdout (caller
 * frees). */
static int finish(struct run r, char **out)
{
  char *buf = NULL;
  size_t len = 0;
  char chunk[4096];
  ssize_t got;
  int ws;

  while ((got = read(r.out, chunk, sizeof chunk)) > 0) {
    char *grown = realloc(buf, len + (size_t)got + 1);
    assert_non_null(grown);
    buf = grown;
    memcpy(buf + len, chunk, (size_t)got);
    len += (size_t)got;
    buf[len] = '\0';
  }
  close(r.out);
  assert_int_equal(waitpid(r.pid, &ws, 0), r.pid);
  assert_true(WIFEXITED(ws));
  *out = buf != NULL ? buf : strdup("");
  return WEXITSTATUS(ws);
}

static int run(struct fx *f, bool bare, const char *cmd,
               const char *const *extra, char **out)
{
  return finish(start(f, bare, cmd, extra), out);
}

/* stdout must be exactly one JSON object (and a newline). */
static json_t *parse_json(const char *out)
{
  json_error_t e;
  json_t *j = json_loads(out, 0, &e);

  if (!json_is_object(j))
    fail_msg("stdout is not one JSON object (%s): %s", e.text, out);
  return j;
}

static const char *jstr(const json_t *j, const char *k)
{
  return json_string_value(json_object_get(j, k));
}

/* Plays the user: answers the first request in alice's CD-List whose XML
 * contains needle. */
static void answer_matching(struct fx *f, const char *needle,
                            const char *response, const char *reason)
{
  double until = itest_now() + 30;

  while (itest_now() < until) {
    struct itest_http h;
    const json_t *item;
    size_t i;
    bool done = false;

    itest_list(&f->env, &f->alice, 2, &h);
    json_array_foreach(json_object_get(h.json, "Pending"), i, item)
    {
      const char *xml = jstr(item, "Request");
      if (xml != NULL && strstr(xml, needle) != NULL) {
        struct itest_http r;
        itest_reply(&f->env, &f->alice, jstr(item, "Transaction"), response,
                    reason, xml, &r);
        ITEST_EXPECT(r, 200);
        itest_http_free(&r);
        done = true;
      }
    }
    itest_http_free(&h);
    if (done)
      return;
  }
  fail_msg("no request with %s appeared in CD-List", needle);
}

/* Answers the request whose identifier attribute is `id`. */
static void answer(struct fx *f, const char *id, const char *response,
                   const char *reason)
{
  char needle[128];

  snprintf(needle, sizeof needle, "identifier=\"%s\"", id);
  answer_matching(f, needle, response, reason);
}

/* confirm --wait while the user answers; checks exit status and JSON. */
static json_t *confirm_answered(struct fx *f, const char *id,
                                const char *response, const char *reason,
                                int expect_exit, const char *receipt_out,
                                const char *request_out)
{
  const char *extra[] = {"--to",
                         "alice@example.com",
                         "--summary",
                         "Connect laptop #234?",
                         "--pin",
                         "--wait",
                         "--identifier",
                         id,
                         "--receipt-out",
                         receipt_out,
                         "--request-out",
                         request_out,
                         NULL};
  struct run r = start(f, false, "confirm", extra);
  char *out;
  json_t *j;

  answer(f, id, response, reason);
  assert_int_equal(finish(r, &out), expect_exit);
  j = parse_json(out);
  free(out);
  assert_string_equal(jstr(j, "Result"), "OK");
  assert_string_equal(jstr(j, "Response"), response);
  assert_string_equal(jstr(j, "Identifier"), id);
  assert_string_equal(jstr(j, "Client"), f->alice.id);
  assert_int_equal(json_integer_value(json_object_get(j, "Exit")), expect_exit);
  return j;
}

static void tmp_path(struct fx *f, char *buf, size_t size, const char *name)
{
  snprintf(buf, size, "%s/%s", f->env.tmpdir, name);
}

static void test_accept_exit_0_and_verify(void **state)
{
  struct fx *f = *state;
  char receipt[PATH_MAX], request[PATH_MAX], other[PATH_MAX];
  char *out;
  json_t *j = NULL;

  tmp_path(f, receipt, sizeof receipt, "accept.der");
  tmp_path(f, request, sizeof request, "accept.xml");
  j = confirm_answered(f, "urn:cli:accept", "Accept", NULL, 0, receipt,
                       request);
  const json_t *ver = json_object_get(j, "Verification");
  assert_int_equal(json_array_size(ver), 1);
  assert_string_equal(json_string_value(json_array_get(ver, 0)), "PIN");
  char *tx = strdup(jstr(j, "Transaction"));
  json_decref(j);

  /* verify: offline, against the CA bundle and the XML that was sent. */
  const char *v1[] = {"--receipt", receipt, "--client-ca",   f->ca_file,
                      "--request", request, "--transaction", tx,
                      "--json",    NULL};
  assert_int_equal(run(f, true, "verify", v1, &out), 0);
  j = parse_json(out);
  assert_string_equal(jstr(j, "Response"), "Accept");
  assert_string_equal(jstr(j, "Account"), "alice@example.com");
  json_decref(j);
  free(out);

  /* Without the XML that was sent, verify reports what was signed (the
   * request inside the receipt is checked: schema, <To>, methods); that it
   * is a request you sent needs --request (test_verify_as_auditor). */
  const char *v0[] = {"--receipt", receipt,  "--client-ca",
                      f->ca_file,  "--json", NULL};
  assert_int_equal(run(f, true, "verify", v0, &out), 0);
  j = parse_json(out);
  assert_string_equal(jstr(j, "Response"), "Accept");
  assert_string_equal(jstr(j, "Identifier"), "urn:cli:accept");
  json_decref(j);
  free(out);

  /* ...and a different request is a verification failure (5). */
  tmp_path(f, other, sizeof other, "other.xml");
  char *xml = itest_request_xml("access@example.com", "alice@example.com",
                                "urn:cli:other", true, 0);
  write_file(other, xml, 0644);
  free(xml);
  const char *v2[] = {"--receipt", receipt, "--client-ca", f->ca_file,
                      "--request", other,   "--json",      NULL};
  assert_int_equal(run(f, true, "verify", v2, &out), 5);
  j = parse_json(out);
  assert_string_equal(jstr(j, "Result"), "VERIFY_FAILED");
  assert_non_null(strstr(jstr(j, "Error"), "Request"));
  json_decref(j);
  free(out);

  /* status of the answered transaction with the saved XML: 0 again. */
  const char *s1[] = {"--transaction", tx, "--request", request, NULL};
  assert_int_equal(run(f, false, "status", s1, &out), 0);
  j = parse_json(out);
  assert_string_equal(jstr(j, "Response"), "Accept");
  json_decref(j);
  free(out);
  /* ...but checked against other XML it is never an Accept. */
  const char *s2[] = {"--transaction", tx, "--request", other, NULL};
  assert_int_equal(run(f, false, "status", s2, &out), 5);
  j = parse_json(out);
  assert_string_equal(jstr(j, "Result"), "VERIFY_FAILED");
  assert_null(json_object_get(j, "Response"));
  json_decref(j);
  free(out);
  free(tx);
}

static void test_reject_exit_1(void **state)
{
  struct fx *f = *state;
  char receipt[PATH_MAX], request[PATH_MAX];

  tmp_path(f, receipt, sizeof receipt, "reject.der");
  tmp_path(f, request, sizeof request, "reject.xml");
  json_decref(confirm_answered(f, "urn:cli:reject", "Reject", NULL, 1, receipt,
                               request));
}

static void test_refuse_exit_3(void **state)
{
  struct fx *f = *state;
  char receipt[PATH_MAX], request[PATH_MAX];
  json_t *j;

  tmp_path(f, receipt, sizeof receipt, "refuse.der");
  tmp_path(f, request, sizeof request, "refuse.xml");
  j = confirm_answered(f, "urn:cli:refuse", "Refuse",
                       "Unknown Verification Type", 3, receipt, request);
  assert_string_equal(jstr(j, "Reason"), "Unknown Verification Type");
  json_decref(j);
}

/* out must contain needle; prints out otherwise. */
static void expect_in(const char *out, const char *needle)
{
  if (strstr(out, needle) == NULL)
    fail_msg("'%s' not in output:\n%s", needle, out);
}

/* Writes the DER receipt at der_path as PEM ("CMS") and as base64 text. */
static void receipt_forms(const char *der_path, const char *pem_path,
                          const char *b64_path)
{
  struct owcp_error err = {{0}};
  unsigned char *der = NULL;
  size_t len = 0;
  char *b64;
  FILE *fp;

  assert_int_equal(owcp_file_read(der_path, 1 << 20, &der, &len, &err), 0);
  fp = fopen(pem_path, "w");
  assert_non_null(fp);
  assert_true(PEM_write(fp, "CMS", "", der, (long)len) > 0);
  fclose(fp);
  b64 = owcp_base64_encode(der, len);
  assert_non_null(b64);
  /* wrapped and with a trailing newline, as a mail or a terminal has it */
  fp = fopen(b64_path, "w");
  assert_non_null(fp);
  for (size_t i = 0, n = strlen(b64); i < n; i += 60)
    fprintf(fp, "%.60s\n", b64 + i);
  fclose(fp);
  free(b64);
  free(der);
}

/* `owcp-request verify FILE` as an auditor uses it: the receipts saved by
 * the accept, reject and refuse tests above, in DER, PEM and base64, with
 * the client CA pinned or fetched from the dispatcher, with and without
 * the request; a tampered receipt fails. */
static void test_verify_as_auditor(void **state)
{
  struct fx *f = *state;
  char der[PATH_MAX], pem[PATH_MAX], b64[PATH_MAX], request[PATH_MAX];
  char path[PATH_MAX];
  char *out;
  json_t *j;

  tmp_path(f, der, sizeof der, "accept.der");
  tmp_path(f, request, sizeof request, "accept.xml");
  tmp_path(f, pem, sizeof pem, "accept.pem");
  tmp_path(f, b64, sizeof b64, "accept.b64");
  receipt_forms(der, pem, b64);

  /* As a new user types it: the file, and where the dispatcher is. */
  const char *v1[] = {der, "--dispatcher", f->env.base, "--insecure-http",
                      NULL};
  assert_int_equal(run(f, true, "verify", v1, &out), 0);
  expect_in(out, "receipt:      verified");
  expect_in(out, "account:      alice@example.com");
  expect_in(out, "response:     Accept");
  expect_in(out, "verification: PIN");
  expect_in(out, "signed:       20");
  expect_in(out, "request from: access@example.com");
  expect_in(out, "identifier:   urn:cli:accept");
  expect_in(out, "client:       ");
  expect_in(out, f->alice.id);
  expect_in(out, "no --request");
  free(out);

  /* PEM with the pinned CA and the request; every field in the JSON. */
  const char *v2[] = {pem,     "--client-ca", f->ca_file, "--request",
                      request, "--json",      NULL};
  assert_int_equal(run(f, true, "verify", v2, &out), 0);
  j = parse_json(out);
  assert_string_equal(jstr(j, "Response"), "Accept");
  assert_string_equal(jstr(j, "Account"), "alice@example.com");
  assert_string_equal(jstr(j, "Client"), f->alice.id);
  assert_string_equal(jstr(j, "From"), "access@example.com");
  assert_string_equal(jstr(j, "Identifier"), "urn:cli:accept");
  assert_non_null(jstr(j, "Transaction"));
  assert_non_null(jstr(j, "Signed"));
  assert_string_equal(
      json_string_value(json_array_get(json_object_get(j, "Verification"), 0)),
      "PIN");
  json_decref(j);
  free(out);

  /* base64, fetched CA, with the request: the human form says it covers
   * it. */
  const char *v3[] = {
      b64,         "--dispatcher", f->env.base, "--insecure-http",
      "--request", request,        NULL};
  assert_int_equal(run(f, true, "verify", v3, &out), 0);
  expect_in(out, "covers exactly");
  free(out);

  /* The signed answer is the exit status: reject 1, refuse 3 with Reason. */
  tmp_path(f, path, sizeof path, "reject.der");
  const char *v4[] = {path, "--client-ca", f->ca_file, NULL};
  assert_int_equal(run(f, true, "verify", v4, &out), 1);
  expect_in(out, "response:     Reject");
  free(out);
  tmp_path(f, path, sizeof path, "refuse.der");
  const char *v5[] = {path, "--client-ca", f->ca_file, NULL};
  assert_int_equal(run(f, true, "verify", v5, &out), 3);
  expect_in(out, "reason:       Unknown Verification Type");
  free(out);

  /* A tampered receipt (one byte of the signed content changed) fails. */
  struct owcp_error err = {{0}};
  unsigned char *bytes = NULL;
  size_t len = 0;
  assert_int_equal(owcp_file_read(der, 1 << 20, &bytes, &len, &err), 0);
  for (size_t i = 0; i + 5 < len; i++)
    if (memcmp(bytes + i, "alice", 5) == 0) {
      bytes[i] = 'A';
      break;
    }
  tmp_path(f, path, sizeof path, "tampered.der");
  assert_int_equal(owcp_file_write_atomic(path, bytes, len, 0644, &err), 0);
  free(bytes);
  const char *v6[] = {path, "--client-ca", f->ca_file, "--json", NULL};
  assert_int_equal(run(f, true, "verify", v6, &out), 5);
  j = parse_json(out);
  assert_string_equal(jstr(j, "Result"), "VERIFY_FAILED");
  assert_null(jstr(j, "Response"));
  json_decref(j);
  free(out);

  /* Usage: no CA source, two receipt files, an empty or foreign file. */
  const char *u1[] = {der, "--json", NULL};
  assert_int_equal(run(f, true, "verify", u1, &out), 4);
  expect_in(out, "--client-ca");
  free(out);
  const char *u2[] = {der, "--receipt", der, "--client-ca", f->ca_file, NULL};
  assert_int_equal(run(f, true, "verify", u2, &out), 4);
  free(out);
  tmp_path(f, path, sizeof path, "empty");
  write_file(path, "", 0644);
  const char *u3[] = {path, "--client-ca", f->ca_file, "--json", NULL};
  assert_int_equal(run(f, true, "verify", u3, &out), 4);
  expect_in(out, "empty");
  free(out);
  tmp_path(f, path, sizeof path, "foreign");
  write_file(path, "hello, auditor\n", 0644);
  const char *u4[] = {path, "--client-ca", f->ca_file, "--json", NULL};
  assert_int_equal(run(f, true, "verify", u4, &out), 4);
  expect_in(out, "neither DER");
  free(out);
  /* Plain http is for loopback tests only, and only when asked for. */
  const char *u5[] = {der, "--dispatcher", f->env.base, "--json", NULL};
  assert_int_equal(run(f, true, "verify", u5, &out), 5);
  expect_in(out, "http");
  free(out);
}

static void test_timeout_exit_2(void **state)
{
  struct fx *f = *state;
  const char *extra[] = {"--to",      "alice@example.com",
                         "--summary", "Expire me",
                         "--timeout", "1",
                         "--wait",    NULL};
  char *out;
  json_t *j;

  assert_int_equal(run(f, false, "confirm", extra, &out), 2);
  j = parse_json(out);
  assert_string_equal(jstr(j, "Result"), "TIMEOUT");
  assert_int_equal(json_integer_value(json_object_get(j, "HTTPStatus")), 408);
  json_decref(j);
  free(out);
}

/* --deadline gives up waiting and cancels: the user can no longer answer
 * a request the script has already treated as refused. */
static void test_deadline_cancels_exit_2(void **state)
{
  struct fx *f = *state;
  char request[PATH_MAX];
  char *out, *tx;
  json_t *j;

  tmp_path(f, request, sizeof request, "deadline.xml");
  const char *c[] = {"--to",      "alice@example.com",
                     "--summary", "Wait for me a second",
                     "--wait",    "--deadline",
                     "1",         "--request-out",
                     request,     NULL};
  assert_int_equal(run(f, false, "confirm", c, &out), 2);
  j = parse_json(out);
  assert_string_equal(jstr(j, "Result"), "DEADLINE");
  assert_non_null(strstr(jstr(j, "Error"), "cancelled"));
  tx = strdup(jstr(j, "Transaction"));
  json_decref(j);
  free(out);

  /* No longer pending (6): cancelled (2), and the user's client gets 408. */
  const char *s[] = {"--transaction", tx, "--request", request, NULL};
  assert_int_equal(run(f, false, "status", s, &out), 2);
  free(out);
  char *xml = NULL;
  size_t len = 0;
  struct owcp_error err = {{0}};
  struct itest_http h;
  assert_int_equal(
      owcp_file_read(request, 65536, (unsigned char **)&xml, &len, &err), 0);
  itest_reply(&f->env, &f->alice, tx, "Accept", NULL, xml, &h);
  ITEST_EXPECT(h, 408);
  itest_http_free(&h);
  free(xml);
  free(tx);
}

static void test_pending_6_then_final_cancel_2(void **state)
{
  struct fx *f = *state;
  char request[PATH_MAX];
  char *out, *tx;
  json_t *j;

  tmp_path(f, request, sizeof request, "pending.xml");
  const char *c[] = {"--to",
                     "alice@example.com",
                     "--summary",
                     "Pay <Money>?",
                     "--money",
                     "usd:9825.00",
                     "--type",
                     "Payment",
                     "--request-out",
                     request,
                     NULL};
  assert_int_equal(run(f, false, "confirm", c, &out), 6);
  j = parse_json(out);
  assert_string_equal(jstr(j, "Result"), "PENDING");
  assert_non_null(jstr(j, "Expires"));
  tx = strdup(jstr(j, "Transaction"));
  json_decref(j);
  free(out);

  const char *s[] = {"--transaction", tx, "--request", request, NULL};
  assert_int_equal(run(f, false, "status", s, &out), 6);
  free(out);
  assert_int_equal(run(f, false, "final", s, &out), 2);
  j = parse_json(out);
  assert_string_equal(jstr(j, "Result"), "TIMEOUT");
  json_decref(j);
  free(out);
  free(tx);
}

static void test_register_deregister_exit_0(void **state)
{
  struct fx *f = *state;
  const char *to[] = {"--to", "alice@example.com", NULL};
  const char *nobody[] = {"--to", "nobody@example.com", NULL};
  char *out;
  json_t *j;

  assert_int_equal(run(f, false, "register", to, &out), 0);
  j = parse_json(out);
  assert_true(json_is_true(json_object_get(j, "Ready")));
  json_decref(j);
  free(out);
  assert_int_equal(run(f, false, "deregister", to, &out), 0);
  free(out);
  assert_int_equal(run(f, false, "register", nobody, &out), 5);
  j = parse_json(out);
  assert_string_equal(jstr(j, "Result"), "NOT_FOUND");
  assert_int_equal(json_integer_value(json_object_get(j, "HTTPStatus")), 404);
  assert_non_null(jstr(j, "ServerError"));
  json_decref(j);
  free(out);
}

static void test_usage_exit_4(void **state)
{
  struct fx *f = *state;
  char open_token[PATH_MAX];
  char *out;

  assert_int_equal(run(f, true, NULL, NULL, &out), 4);
  free(out);
  assert_int_equal(run(f, true, "frobnicate", NULL, &out), 4);
  free(out);
  const char *bad_opt[] = {"--no-such-option", NULL};
  assert_int_equal(run(f, false, "confirm", bad_opt, &out), 4);
  free(out);
  const char *no_summary[] = {"--to", "alice@example.com", NULL};
  assert_int_equal(run(f, false, "confirm", no_summary, &out), 4);
  free(out);
  const char *bad_money[] = {"--to",    "alice@example.com", "--summary", "x",
                             "--money", "9825.00",           NULL};
  assert_int_equal(run(f, false, "confirm", bad_money, &out), 4);
  json_t *j = parse_json(out);
  assert_non_null(strstr(jstr(j, "Error"), "--money"));
  json_decref(j);
  free(out);
  const char *ctl[] = {"--to", "alice@example.com", "--summary", "a\x1b[2Jb",
                       NULL};
  assert_int_equal(run(f, false, "confirm", ctl, &out), 4);
  free(out);

  /* A token file others can read is refused, naming the fix. */
  tmp_path(f, open_token, sizeof open_token, "token-open");
  write_file(open_token, f->token, 0644);
  const char *open_args[] = {"--from",
                             "access@example.com",
                             "--token-file",
                             open_token,
                             "--dispatcher",
                             f->env.base,
                             "--insecure-http",
                             "--json",
                             "--to",
                             "alice@example.com",
                             NULL};
  assert_int_equal(run(f, true, "register", open_args, &out), 4);
  j = parse_json(out);
  assert_non_null(strstr(jstr(j, "Error"), "chmod 600"));
  json_decref(j);
  free(out);

  const char *help[] = {"--help", NULL};
  assert_int_equal(run(f, true, "confirm", help, &out), 0);
  assert_non_null(strstr(out, "Exit status"));
  assert_non_null(strstr(out, "3  refused by the client"));
  free(out);
}

static void test_service_errors_exit_5(void **state)
{
  struct fx *f = *state;
  char bad_token[PATH_MAX];
  char *out;
  json_t *j;

  tmp_path(f, bad_token, sizeof bad_token, "token-bad");
  write_file(bad_token, "wrong-token", 0600);
  const char *args401[] = {"--from",
                           "access@example.com",
                           "--token-file",
                           bad_token,
                           "--dispatcher",
                           f->env.base,
                           "--insecure-http",
                           "--json",
                           "--to",
                           "alice@example.com",
                           NULL};
  assert_int_equal(run(f, true, "register", args401, &out), 5);
  j = parse_json(out);
  assert_string_equal(jstr(j, "Result"), "NOT_AUTHENTICATED");
  json_decref(j);
  free(out);

  const char *down[] = {"--from",
                        "access@example.com",
                        "--token-file",
                        f->token_file,
                        "--dispatcher",
                        "http://127.0.0.1:1/owcp/0.1",
                        "--insecure-http",
                        "--json",
                        "--to",
                        "alice@example.com",
                        NULL};
  assert_int_equal(run(f, true, "register", down, &out), 5);
  j = parse_json(out);
  assert_string_equal(jstr(j, "Result"), "NETWORK_ERROR");
  json_decref(j);
  free(out);
}

/* The VPN example: exit 0 only on a verified Accept. */
static void run_vpn_gate(struct fx *f, const char *response, int expect)
{
  const char *argv[] = {OWCP_VPN_GATE_BIN,   f->env.base,       f->token_file,
                        "alice@example.com", "--insecure-http", NULL};
  struct run r = spawn(argv);
  char *out;

  answer_matching(f, "Connect laptop #234 to the corporate network?", response,
                  NULL);
  assert_int_equal(finish(r, &out), expect);
  assert_non_null(
      strstr(out, expect == 0 ? "connection allowed" : "connection denied"));
  free(out);
}

static void test_vpn_gate_example(void **state)
{
  run_vpn_gate(*state, "Accept", 0);
  run_vpn_gate(*state, "Reject", 1);
}

/* ---- discovery through a real DNS server (dnsmasq) ---------------------- */

#define DNSMASQ "/usr/sbin/dnsmasq"

/* A port free for both UDP and TCP on 127.0.0.1 (dnsmasq needs both). */
static int free_port(void)
{
  for (int attempt = 0; attempt < 50; attempt++) {
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t alen = sizeof a;
    int t = socket(AF_INET, SOCK_STREAM, 0), u, ok;

    assert_true(t >= 0);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(t, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(t, (struct sockaddr *)&a, &alen), 0);
    u = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(u >= 0);
    ok = bind(u, (struct sockaddr *)&a, sizeof a) == 0;
    close(u);
    close(t);
    if (ok)
      return ntohs(a.sin_port);
  }
  fail_msg("no free port found");
  return -1;
}

/* Starts dnsmasq authoritative for example.com with the given records on a
 * free port; returns its pid and writes "127.0.0.1:PORT" to servers. */
static pid_t dns_start(char *servers, size_t size, const char *const *records)
{
  int port = free_port();
  char port_arg[32];
  const char *argv[32] = {DNSMASQ,
                          "--keep-in-foreground",
                          "--conf-file=/dev/null",
                          "--no-resolv",
                          "--no-hosts",
                          "--listen-address=127.0.0.1",
                          "--bind-interfaces",
                          "--pid-file",
                          "--local=/example.com/",
                          "--log-facility=/dev/null",
                          port_arg};
  size_t argc = 11;
  pid_t pid;

  snprintf(port_arg, sizeof port_arg, "--port=%d", port);
  snprintf(servers, size, "127.0.0.1:%d", port);
  for (size_t i = 0; records[i] != NULL; i++)
    argv[argc++] = records[i];
  argv[argc] = NULL;
  pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    int devnull = open("/dev/null", O_RDWR);
    if (devnull >= 0) {
      dup2(devnull, STDOUT_FILENO);
      dup2(devnull, STDERR_FILENO);
    }
    execv(DNSMASQ, (char *const *)argv);
    _exit(127);
  }
  for (int i = 0; i < 100; i++) {
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port)};
    int sock = socket(AF_INET, SOCK_STREAM, 0), ok;

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok = connect(sock, (struct sockaddr *)&a, sizeof a) == 0;
    close(sock);
    if (ok)
      return pid;
    usleep(50000);
  }
  kill(pid, SIGTERM);
  waitpid(pid, NULL, 0);
  fail_msg("dnsmasq did not start listening on port %d", port);
  return -1;
}

/* Runs `register --to alice@example.com` for `from` with discovery through
 * a dnsmasq serving records (stopped before returning); returns the exit
 * status and stdout (the caller frees it). */
static int register_via_dns(struct fx *f, const char *from,
                            const char *const *records, char **out)
{
  char servers[64];
  pid_t dns = dns_start(servers, sizeof servers, records);
  const char *args[] = {"--from",
                        from,
                        "--token-file",
                        f->token_file,
                        "--dns",
                        servers,
                        "--insecure-http",
                        "--json",
                        "--to",
                        "alice@example.com",
                        NULL};
  int code = run(f, true, "register", args, out);

  kill(dns, SIGTERM);
  waitpid(dns, NULL, 0);
  return code;
}

/* With no --dispatcher the CLI finds the service by DNS: SRV records for
 * _owcp._tcp.example.com, the first (priority 0) at a closed port, the
 * second at the test dispatcher; the CLI fails over and succeeds. */
static void test_dns_discovery_and_failover(void **state)
{
  struct fx *f = *state;
  char dead[128], live[128], *out;
  const char *port = strrchr(f->env.root, ':') + 1;
  int dead_port = free_port();
  json_t *j;

  snprintf(dead, sizeof dead,
           "--srv-host=_owcp._tcp.example.com,127.0.0.1,%d,0,1", dead_port);
  snprintf(live, sizeof live,
           "--srv-host=_owcp._tcp.example.com,127.0.0.1,%s,1,1", port);
  const char *records[] = {
      dead, live,
      "--txt-record=_owcp._tcp.example.com,v=0.1 binding=json path=/owcp/0.1",
      NULL};
  int code = register_via_dns(f, "access@example.com", records, &out);

  if (code != 0)
    fail_msg("register through DNS exited %d: %s", code, out);
  j = parse_json(out);
  assert_true(json_is_true(json_object_get(j, "Ready")));
  json_decref(j);
  free(out);
}

/* A service domain with no OWCP records and no manual dispatcher is a
 * clear network error (5) naming the domain. */
static void test_dns_nxdomain_exit_5(void **state)
{
  struct fx *f = *state;
  char *out;
  const char *records[] = {"--local=/nowhere.test/", NULL};

  assert_int_equal(register_via_dns(f, "access@nowhere.test", records, &out),
                   5);
  json_t *j = parse_json(out);
  assert_string_equal(jstr(j, "Result"), "NETWORK_ERROR");
  assert_non_null(strstr(jstr(j, "Error"), "nowhere.test"));
  json_decref(j);
  free(out);
}

/* register under --require-registration: pending (6) with the consent
 * request's transaction; --wait while the user accepts → 0 and Ready;
 * withdrawn and asked again, --wait while the user rejects → 5. Restarts
 * the dispatcher, and restores it as it was. */
static void test_register_consent(void **state)
{
  struct fx *f = *state;
  const char *flags[] = {"--require-registration", NULL};
  const char *to[] = {"--to", "alice@example.com", NULL};
  const char *wait[] = {"--to", "alice@example.com", "--wait", NULL};
  const char *needle = "Allow access@example.com to send you";
  char *out;
  json_t *j;

  itest_stop(&f->env);
  itest_start(&f->env, flags);
  assert_int_equal(run(f, false, "register", to, &out), 6);
  j = parse_json(out);
  assert_string_equal(jstr(j, "Result"), "PENDING");
  char *tx = strdup(jstr(j, "Transaction"));
  assert_non_null(jstr(j, "Expires"));
  json_decref(j);
  free(out);

  struct run r = start(f, false, "register", wait);
  answer_matching(f, needle, "Accept", NULL);
  assert_int_equal(finish(r, &out), 0);
  j = parse_json(out);
  assert_string_equal(jstr(j, "Result"), "OK");
  assert_true(json_is_true(json_object_get(j, "Ready")));
  json_decref(j);
  free(out);
  free(tx);

  assert_int_equal(run(f, false, "deregister", to, &out), 0);
  free(out);
  r = start(f, false, "register", wait);
  answer_matching(f, needle, "Reject", NULL);
  assert_int_equal(finish(r, &out), 5);
  j = parse_json(out);
  assert_string_equal(jstr(j, "Result"), "REFUSED");
  assert_non_null(strstr(jstr(j, "ServerError"), "refused"));
  json_decref(j);
  free(out);

  itest_stop(&f->env);
  itest_start(&f->env, NULL);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_accept_exit_0_and_verify),
      cmocka_unit_test(test_reject_exit_1),
      cmocka_unit_test(test_refuse_exit_3),
      cmocka_unit_test(test_verify_as_auditor),
      cmocka_unit_test(test_timeout_exit_2),
      cmocka_unit_test(test_deadline_cancels_exit_2),
      cmocka_unit_test(test_pending_6_then_final_cancel_2),
      cmocka_unit_test(test_register_deregister_exit_0),
      cmocka_unit_test(test_usage_exit_4),
      cmocka_unit_test(test_service_errors_exit_5),
      cmocka_unit_test(test_dns_discovery_and_failover),
      cmocka_unit_test(test_dns_nxdomain_exit_5),
      cmocka_unit_test(test_vpn_gate_example),
      cmocka_unit_test(test_register_consent),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
