/*
 * test_client_hostile.c — libowcp-client against a dispatcher that lies: a
 * scripted HTTP server on 127.0.0.1 answers every operation with whatever
 * the test puts there. Proves that transaction identifiers carrying control
 * sequences are refused; that the From, Expires and verification method a
 * view exposes are terminal-safe; that the list's one-line summary comes
 * from the request's <Summary> and cannot be spoofed through <Header type>;
 * that a request addressed to another account is neither shown nor signed;
 * that error text from the dispatcher is neutralised; and that CD-Register
 * refuses a certificate naming another client and a 202 with a hostile
 * transaction identifier, saving nothing then.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "owcp/ca.h"
#include "owcp/client.h"
#include "owcp/keys.h"
#include "owcp/util.h"

#define ACCOUNT "alice@example.com"

#define XML_HEAD                                                               \
  "<Request xmlns=\"http://schema.comodo.com/2011/owcp/0.1\"><Header "         \
  "identifier=\"urn:hostile:1\" type=\"x Summary: Pay nothing\">"              \
  "<From>access@example.com</From><To>alice@example.com</To>"

/* The real summary sits after a type that imitates the summary line. */
static const char xml_pin[] =
    XML_HEAD "<Verification>PIN</Verification><Summary>Transfer <B>all</B> "
             "funds?</Summary></Header></Request>";
/* A verification method carrying the 8-bit CSI (U+009B) and an RLO. */
static const char xml_method[] =
    XML_HEAD "<Verification>Reti\xc2\x9b"
             "2Jna\xe2\x80\xae</Verification><Summary>Open?</Summary>"
             "</Header></Request>";

/* What the fake dispatcher answers; a CD-Register reply that needs the
 * device's CSR is built by the server thread itself (issue_for). */
struct fake {
  int listen_fd;
  int port;
  pthread_t thread;
  pthread_mutex_t mu;
  char *reply;           /* JSON body for the next requests */
  const char *issue_for; /* when set: sign the CSR with CN=issue_for */
  X509 *ca;
  EVP_PKEY *ca_key;
  int requests;
};

/* True when s holds a C0/C1 control (newline allowed when lines), DEL or
 * a bidi override: anything that could drive or reorder a terminal. */
static bool has_control(const char *s, bool lines)
{
  for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
    if ((*p < 0x20 && !(lines && *p == '\n')) || *p == 0x7f)
      return true;
    if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
      return true; /* C1 controls, 8-bit CSI included */
    if (p[0] == 0xe2 && p[1] == 0x80 && p[2] >= 0xaa && p[2] <= 0xae)
      return true; /* bidi embeddings and overrides */
  }
  return false;
}

static bool contains_control(const char *s)
{
  return has_control(s, false);
}

/* Reads one HTTP request (headers and Content-Length body) into a string
 * the caller frees. */
static char *read_request(int fd)
{
  size_t cap = 1 << 16, used = 0;
  char *buf = malloc(cap + 1);

  if (buf == NULL)
    return NULL;
  for (;;) {
    ssize_t n = read(fd, buf + used, cap - used);
    if (n <= 0)
      break;
    used += (size_t)n;
    buf[used] = '\0';
    const char *end = strstr(buf, "\r\n\r\n");
    const char *cl = strstr(buf, "Content-Length:");
    if (end != NULL && (cl == NULL || used >= (size_t)(end + 4 - buf) +
                                                  strtoul(cl + 15, NULL, 10)))
      break;
    if (used == cap)
      break;
  }
  buf[used] = '\0';
  return buf;
}

/* A 200 CD-Register body with a certificate for the CSR in request, issued
 * to CN=cn and returned under Client "mine". */
static char *issue_reply(struct fake *f, const char *request, const char *cn)
{
  const char *body = strstr(request, "\r\n\r\n");
  json_t *in = body != NULL ? json_loads(body + 4, 0, NULL) : NULL;
  const char *csr_b64 = json_string_value(json_object_get(in, "CSR"));
  unsigned char *csr = NULL, *der = NULL;
  size_t csr_len = 0;
  struct owcp_error err = {{0}};
  char *out = NULL;

  if (csr_b64 != NULL &&
      owcp_base64_decode(csr_b64, strlen(csr_b64), &csr, &csr_len, &err) == 0) {
    EVP_PKEY *pub = owcp_csr_verify(csr, csr_len, &err);
    X509 *cert = pub != NULL ? owcp_ca_issue_client(f->ca, f->ca_key, pub, cn,
                                                    ACCOUNT, 30, &err)
                             : NULL;
    int len = cert != NULL ? i2d_X509(cert, &der) : -1;
    unsigned char *ca_der = NULL;
    int ca_len = i2d_X509(f->ca, &ca_der);
    if (len > 0 && ca_len > 0) {
      char *c64 = owcp_base64_encode(der, (size_t)len);
      char *a64 = owcp_base64_encode(ca_der, (size_t)ca_len);
      json_t *o = json_pack("{s:i, s:s, s:s, s:s, s:s}", "Status", 200,
                            "Client", "mine", "Token", "secret-token",
                            "Certificate", c64, "CA", a64);
      out = json_dumps(o, 0);
      json_decref(o);
      free(c64);
      free(a64);
    }
    OPENSSL_free(der);
    OPENSSL_free(ca_der);
    X509_free(cert);
    EVP_PKEY_free(pub);
  }
  free(csr);
  json_decref(in);
  return out;
}

static void *serve(void *arg)
{
  struct fake *f = arg;

  for (;;) {
    int fd = accept(f->listen_fd, NULL, NULL);
    if (fd < 0)
      return NULL; /* the listener was shut down */
    char *request = read_request(fd);
    pthread_mutex_lock(&f->mu);
    f->requests++;
    char *body = f->issue_for != NULL && request != NULL
                     ? issue_reply(f, request, f->issue_for)
                     : strdup(f->reply != NULL ? f->reply : "{}");
    pthread_mutex_unlock(&f->mu);
    json_t *o = body != NULL ? json_loads(body, 0, NULL) : NULL;
    long status = (long)json_integer_value(json_object_get(o, "Status"));
    json_decref(o);
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %ld X\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                     status, body != NULL ? strlen(body) : 0);
    if (write(fd, head, (size_t)n) < 0 ||
        (body != NULL && write(fd, body, strlen(body)) < 0))
      perror("fake dispatcher write");
    free(body);
    free(request);
    close(fd);
  }
}

static int fake_start(void **state)
{
  struct fake *f = calloc(1, sizeof *f);
  struct sockaddr_in sa = {.sin_family = AF_INET};
  socklen_t sl = sizeof sa;
  struct owcp_error err = {{0}};

  assert_non_null(f);
  pthread_mutex_init(&f->mu, NULL);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  f->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  assert_true(f->listen_fd >= 0);
  assert_int_equal(bind(f->listen_fd, (struct sockaddr *)&sa, sizeof sa), 0);
  assert_int_equal(listen(f->listen_fd, 16), 0);
  assert_int_equal(getsockname(f->listen_fd, (struct sockaddr *)&sa, &sl), 0);
  f->port = ntohs(sa.sin_port);
  f->ca_key = owcp_key_new(&err);
  assert_non_null(f->ca_key);
  f->ca = owcp_ca_new(f->ca_key, "hostile CA", &err);
  assert_non_null(f->ca);
  assert_int_equal(pthread_create(&f->thread, NULL, serve, f), 0);
  *state = f;
  return 0;
}

static int fake_stop(void **state)
{
  struct fake *f = *state;

  shutdown(f->listen_fd, SHUT_RDWR);
  close(f->listen_fd);
  pthread_join(f->thread, NULL);
  free(f->reply);
  X509_free(f->ca);
  EVP_PKEY_free(f->ca_key);
  pthread_mutex_destroy(&f->mu);
  free(f);
  return 0;
}

/* Sets the JSON body the fake answers with from now on (o is consumed). */
static void fake_answer(struct fake *f, json_t *o)
{
  char *text = json_dumps(o, 0);

  assert_non_null(text);
  json_decref(o);
  pthread_mutex_lock(&f->mu);
  free(f->reply);
  f->reply = text;
  f->issue_for = NULL;
  pthread_mutex_unlock(&f->mu);
}

/* A client on a fresh state directory, talking to the fake. */
static struct owcp_client *open_client(struct fake *f, char *dir, size_t size)
{
  char base[64];
  struct owcp_client *c = NULL;
  struct owcp_error err = {{0}};

  snprintf(dir, size, "/tmp/test_client_hostile.XXXXXX");
  assert_non_null(mkdtemp(dir));
  snprintf(base, sizeof base, "http://127.0.0.1:%d/owcp/0.1", f->port);
  struct owcp_client_config cfg = {
      .state_dir = dir, .dispatcher = base, .allow_insecure_http = true};
  if (owcp_client_open(&cfg, &c, &err) != 0)
    fail_msg("open: %s", err.msg);
  return c;
}

static void remove_dir(const char *dir)
{
  char path[300];
  static const char *const names[] = {"state.json", "state.lock"};

  for (size_t i = 0; i < 2; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    unlink(path);
  }
  assert_int_equal(rmdir(dir), 0);
}

/* Writes a state with one PIN-less account whose saved dispatcher is the
 * fake (only CD-List and views are exercised with it). */
static void save_dummy_account(const char *dir)
{
  char path[300];
  struct owcp_error err = {{0}};
  const char *text =
      "{\"Version\":1,\"Accounts\":[{\"Account\":\"" ACCOUNT "\","
      "\"Description\":\"d\",\"Client\":\"mine\",\"Token\":\"t\","
      "\"Certificate\":\"AA==\",\"CA\":\"AA==\",\"PIN\":false,"
      "\"Key\":\"k\",\"Failures\":0,\"MaxFailures\":5}]}";

  snprintf(path, sizeof path, "%s/state.json", dir);
  assert_int_equal(owcp_file_write_atomic(path, text, strlen(text), 0600, &err),
                   0);
}

static json_t *pending(const char *tx, const char *from, const char *expires,
                       const char *xml)
{
  return json_pack("{s:i, s:[{s:s, s:s, s:s, s:s, s:s, s:s}]}", "Status", 200,
                   "Pending", "Transaction", tx, "From", from, "Type", "Access",
                   "Issued", "2026-01-01T00:00:00Z", "Expires", expires,
                   "Request", xml);
}

static void test_list_refuses_hostile_transaction(void **state)
{
  struct fake *f = *state;
  char dir[64];
  struct owcp_client *c = open_client(f, dir, sizeof dir);
  struct owcp_pending_list l = {0};
  struct owcp_error err = {{0}};

  save_dummy_account(dir);
  fake_answer(f, pending("abc\x1b[2J\x1b]0;owned\x07", ACCOUNT,
                         "2026-01-02T00:00:00Z", xml_pin));
  assert_int_equal(owcp_client_list(c, ACCOUNT, 0, &l, &err), -1);
  assert_non_null(strstr(err.msg, "Pending[0].Transaction"));
  assert_false(contains_control(err.msg));
  assert_int_equal(l.count, 0);

  /* An embedded NUL cannot hide a tail behind a short identifier (the JSON
   * layer already refuses NULs; the list checks again). */
  json_t *o = json_loads("{\"Status\":200,\"Pending\":[{\"Transaction\":"
                         "\"ok\\u0000evil\",\"From\":\"a@b\",\"Issued\":\"x\","
                         "\"Expires\":\"x\",\"Request\":\"<x/>\"}]}",
                         JSON_ALLOW_NUL, NULL);
  assert_non_null(o);
  fake_answer(f, o);
  assert_int_equal(owcp_client_list(c, ACCOUNT, 0, &l, &err), -1);
  assert_true(err.msg[0] != '\0');
  owcp_client_close(c);
  remove_dir(dir);
}

static void test_view_fields_are_terminal_safe(void **state)
{
  struct fake *f = *state;
  char dir[64];
  struct owcp_client *c = open_client(f, dir, sizeof dir);
  struct owcp_pending_list l = {0};
  struct owcp_view v;
  struct owcp_error err = {{0}};

  save_dummy_account(dir);
  fake_answer(f, pending("tx-1", "access@example.com\x1b]0;owned\x07",
                         "2026\xe2\x80\xae-01-02\x1b[8m", xml_pin));
  if (owcp_client_list(c, ACCOUNT, 0, &l, &err) != 0)
    fail_msg("list: %s", err.msg);
  assert_int_equal(l.count, 1);
  assert_int_equal(
      owcp_client_view(c, ACCOUNT, &l.items[0], OWCP_RENDER_PLAIN, &v, &err),
      0);
  assert_string_equal(v.transaction, "tx-1");
  assert_false(contains_control(v.from));
  assert_non_null(strstr(v.from, "access@example.com"));
  assert_false(contains_control(v.expires));
  assert_false(has_control(v.text, true));
  /* The summary is the request's own, not the first "Summary: " in the
   * rendered text (the type line imitates one). */
  assert_string_equal(v.summary, "Transfer *all* funds?");
  /* A PIN-less device cannot perform PIN: it is reported, safely. */
  assert_string_equal(v.unsupported, "PIN");
  owcp_view_clear(&v);
  owcp_pending_list_free(&l);

  fake_answer(f, pending("tx-2", "access@example.com", "2026-01-02T00:00:00Z",
                         xml_method));
  if (owcp_client_list(c, ACCOUNT, 0, &l, &err) != 0)
    fail_msg("list: %s", err.msg);
  assert_int_equal(
      owcp_client_view(c, ACCOUNT, &l.items[0], OWCP_RENDER_ANSI, &v, &err), 0);
  assert_non_null(v.unsupported);
  assert_false(contains_control(v.unsupported));
  assert_non_null(strstr(v.unsupported, "Reti"));
  owcp_view_clear(&v);
  owcp_pending_list_free(&l);
  owcp_client_close(c);
  remove_dir(dir);
}

/* A request addressed to someone else is neither shown nor signed with
 * this account's key. */
static void test_request_for_other_account_refused(void **state)
{
  struct fake *f = *state;
  char dir[64];
  struct owcp_client *c = open_client(f, dir, sizeof dir);
  struct owcp_pending_list l = {0};
  struct owcp_view v;
  struct owcp_error err = {{0}};
  static const char xml_bob[] =
      "<Request xmlns=\"http://schema.comodo.com/2011/owcp/0.1\"><Header "
      "identifier=\"urn:hostile:2\"><From>access@example.com</From>"
      "<To>bob@example.com</To><Summary>Pay?</Summary></Header></Request>";
  static const char xml_case[] =
      "<Request xmlns=\"http://schema.comodo.com/2011/owcp/0.1\"><Header "
      "identifier=\"urn:hostile:3\"><From>access@example.com</From>"
      "<To>alice@EXAMPLE.com</To><Summary>Pay?</Summary></Header></Request>";

  save_dummy_account(dir);
  fake_answer(f, pending("tx-3", "access@example.com", "2026-01-02T00:00:00Z",
                         xml_bob));
  if (owcp_client_list(c, ACCOUNT, 0, &l, &err) != 0)
    fail_msg("list: %s", err.msg);
  assert_int_equal(
      owcp_client_view(c, ACCOUNT, &l.items[0], OWCP_RENDER_PLAIN, &v, &err),
      -1);
  assert_non_null(strstr(err.msg, "addressed to 'bob@example.com'"));
  assert_null(v.text);
  assert_int_equal(owcp_client_reply(c, ACCOUNT, &l.items[0],
                                     OWCP_ANSWER_ACCEPT, NULL, NULL, &err),
                   -1);
  assert_non_null(strstr(err.msg, "addressed to"));
  owcp_pending_list_free(&l);

  /* The domain compares case-insensitively, as the dispatcher does. */
  fake_answer(f, pending("tx-4", "access@example.com", "2026-01-02T00:00:00Z",
                         xml_case));
  if (owcp_client_list(c, ACCOUNT, 0, &l, &err) != 0)
    fail_msg("list: %s", err.msg);
  assert_int_equal(
      owcp_client_view(c, ACCOUNT, &l.items[0], OWCP_RENDER_PLAIN, &v, &err),
      0);
  owcp_view_clear(&v);
  owcp_pending_list_free(&l);
  owcp_client_close(c);
  remove_dir(dir);
}

static void test_error_text_neutralised(void **state)
{
  struct fake *f = *state;
  char dir[64];
  struct owcp_client *c = open_client(f, dir, sizeof dir);
  struct owcp_pending_list l = {0};
  struct owcp_error err = {{0}};

  save_dummy_account(dir);
  fake_answer(f, json_pack("{s:i, s:s, s:s}", "Status", 400, "Error",
                           "x\x1b[2J\xc2\x9b"
                           "31m",
                           "Text", "Bad\x1b]0;owned\x07 request"));
  assert_int_equal(owcp_client_list(c, ACCOUNT, 0, &l, &err), -1);
  assert_non_null(strstr(err.msg, "status 400"));
  assert_non_null(strstr(err.msg, "Bad"));
  assert_false(contains_control(err.msg));
  owcp_client_close(c);
  remove_dir(dir);
}

/* The dispatcher's 202 transaction is shown to the user (on_pending):
 * a control sequence there is refused before the callback runs. */
static void count_pending(const char *tx, void *arg)
{
  (void)tx;
  (*(int *)arg)++;
}

static void test_register_refuses_hostile_202(void **state)
{
  struct fake *f = *state;
  char dir[64];
  struct owcp_client *c = open_client(f, dir, sizeof dir);
  struct owcp_error err = {{0}};
  int called = 0;
  struct owcp_register_params p = {.account = ACCOUNT,
                                   .description = "phone",
                                   .on_pending = count_pending,
                                   .arg = &called,
                                   .approval_timeout_s = 5,
                                   .poll_interval_ms = 10};

  fake_answer(
      f, json_pack("{s:i, s:s}", "Status", 202, "Transaction", "t\x1b[2Jx"));
  assert_int_equal(owcp_client_register(c, &p, &err), -1);
  assert_non_null(strstr(err.msg, "Transaction"));
  assert_int_equal(called, 0);
  assert_false(owcp_client_account_has_pin(c, ACCOUNT));
  owcp_client_close(c);
  remove_dir(dir);
}

static void test_register_refuses_certificate_of_other_client(void **state)
{
  struct fake *f = *state;
  char dir[64];
  char path[300];
  struct owcp_client *c = open_client(f, dir, sizeof dir);
  struct owcp_error err = {{0}};
  struct stat st;
  char **names = NULL;
  size_t n = 0;
  struct owcp_register_params p = {
      .account = ACCOUNT, .description = "phone", .code = "code"};

  /* Certificate chains, carries our key and names our account, but its
   * subject is another client than the 'Client' returned. */
  pthread_mutex_lock(&f->mu);
  f->issue_for = "someone-else";
  pthread_mutex_unlock(&f->mu);
  assert_int_equal(owcp_client_register(c, &p, &err), -1);
  assert_non_null(strstr(err.msg, "Client"));
  snprintf(path, sizeof path, "%s/state.json", dir);
  assert_int_equal(stat(path, &st), -1);

  /* The same reply naming the right client is adopted. */
  pthread_mutex_lock(&f->mu);
  f->issue_for = "mine";
  pthread_mutex_unlock(&f->mu);
  if (owcp_client_register(c, &p, &err) != 0)
    fail_msg("register: %s", err.msg);
  assert_int_equal(owcp_client_accounts(c, &names, &n, &err), 0);
  assert_int_equal(n, 1);
  assert_string_equal(names[0], ACCOUNT);
  owcp_client_accounts_free(names, n);
  owcp_client_close(c);
  remove_dir(dir);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_list_refuses_hostile_transaction),
      cmocka_unit_test(test_view_fields_are_terminal_safe),
      cmocka_unit_test(test_request_for_other_account_refused),
      cmocka_unit_test(test_error_text_neutralised),
      cmocka_unit_test(test_register_refuses_hostile_202),
      cmocka_unit_test(test_register_refuses_certificate_of_other_client),
  };
  return cmocka_run_group_tests(tests, fake_start, fake_stop);
}
