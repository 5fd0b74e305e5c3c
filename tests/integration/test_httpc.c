/*
 * test_httpc.c — the protocol HTTP client against a real owcp-dispatcher
 * (GET CA, JSON and multipart operations, failover past closed ports and
 * 503s) and against tiny libmicrohttpd servers in this program that play a
 * hostile or odd dispatcher (2 MiB answers, 503, slow answers, an echo that
 * records what the client sent).
 */
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <microhttpd.h>

#include "itest.h"
#include "owcp/discovery.h"
#include "owcp/httpc.h"
#include "owcp/multipart.h"
#include "owcp/util.h"
#include "testutil.h"

/* ---- tiny servers ------------------------------------------------------- */

enum srv_mode {
  SRV_BIG,         /* 2 MiB with Content-Length */
  SRV_BIG_CHUNKED, /* 2 MiB chunked, no length announced */
  SRV_AT_LIMIT,    /* exactly OWCP_HTTPC_MAX_RESPONSE octets */
  SRV_503,         /* {"Status":503,...} */
  SRV_SLOW,        /* answers 200 after 1.5 s */
  SRV_ECHO,        /* 200 {"Status":200}; records the request */
  SRV_TEXT,        /* 200 with a body that is not a JSON object */
};

#define BIG_LEN ((size_t)2 * 1024 * 1024)

struct srv {
  struct MHD_Daemon *daemon;
  enum srv_mode mode;
  int port;
  char base[128];
  pthread_mutex_t lock; /* guards the recorded request and counters */
  int connections;
  int requests;
  char url[256];
  char auth[256];
  char content_type[128];
  char body[4096];
  size_t body_len;
  char *big; /* SRV_BIG / SRV_AT_LIMIT payload */
};

struct upload {
  char data[4096];
  size_t len;
};

static void on_connection(void *cls, struct MHD_Connection *connection,
                          void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
  struct srv *s = cls;
  if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
    pthread_mutex_lock(&s->lock);
    s->connections++;
    pthread_mutex_unlock(&s->lock);
  }
}

static void on_completed(void *cls, struct MHD_Connection *connection,
                         void **con_cls, enum MHD_RequestTerminationCode toe)
{
  free(*con_cls);
  *con_cls = NULL;
}

static ssize_t chunked_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
  if (pos >= BIG_LEN) {
    return MHD_CONTENT_READER_END_OF_STREAM;
  }
  size_t n = BIG_LEN - pos < max ? (size_t)(BIG_LEN - pos) : max;
  memset(buf, 'x', n);
  return (ssize_t)n;
}

static enum MHD_Result queue_json(struct MHD_Connection *c, unsigned status,
                                  const char *text)
{
  struct MHD_Response *r = MHD_create_response_from_buffer(
      strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
  MHD_add_response_header(r, "Content-Type", "application/json");
  enum MHD_Result rc = MHD_queue_response(c, status, r);
  MHD_destroy_response(r);
  return rc;
}

static void record(struct srv *s, struct MHD_Connection *c, const char *url,
                   const struct upload *u)
{
  const char *auth =
      MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
  const char *ct =
      MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
  pthread_mutex_lock(&s->lock);
  s->requests++;
  snprintf(s->url, sizeof(s->url), "%s", url);
  snprintf(s->auth, sizeof(s->auth), "%s", auth != NULL ? auth : "");
  snprintf(s->content_type, sizeof(s->content_type), "%s",
           ct != NULL ? ct : "");
  memcpy(s->body, u->data, u->len);
  s->body_len = u->len;
  pthread_mutex_unlock(&s->lock);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
  struct srv *s = cls;
  struct upload *u = *con_cls;
  if (u == NULL) {
    u = calloc(1, sizeof(*u));
    if (u == NULL) {
      return MHD_NO;
    }
    *con_cls = u;
    return MHD_YES;
  }
  if (*upload_data_size > 0) {
    size_t n = *upload_data_size;
    if (n > sizeof(u->data) - u->len) {
      n = sizeof(u->data) - u->len;
    }
    memcpy(u->data + u->len, upload_data, n);
    u->len += n;
    *upload_data_size = 0;
    return MHD_YES;
  }
  record(s, c, url, u);
  struct MHD_Response *r = NULL;
  switch (s->mode) {
  case SRV_BIG:
    r = MHD_create_response_from_buffer(BIG_LEN, s->big,
                                        MHD_RESPMEM_PERSISTENT);
    break;
  case SRV_AT_LIMIT:
    r = MHD_create_response_from_buffer(OWCP_HTTPC_MAX_RESPONSE, s->big,
                                        MHD_RESPMEM_PERSISTENT);
    break;
  case SRV_BIG_CHUNKED:
    r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, (size_t)64 * 1024,
                                          chunked_reader, NULL, NULL);
    break;
  case SRV_503:
    return queue_json(c, 503,
                      "{\"Status\":503,\"Text\":\"Unavailable\",\"Error\":"
                      "\"shutting down\"}");
  case SRV_SLOW:
    usleep(1500000);
    return queue_json(c, 200, "{\"Status\":200,\"Text\":\"Success\"}");
  case SRV_ECHO:
    return queue_json(c, 200, "{\"Status\":200,\"Text\":\"Success\"}");
  case SRV_TEXT:
    return queue_json(c, 200, "[\"not\", \"an\", \"object\"]");
  }
  enum MHD_Result rc = MHD_queue_response(c, 200, r);
  MHD_destroy_response(r);
  return rc;
}

/* Starts a server; with key and cert (PEM) it speaks TLS only, with the
 * GnuTLS priority string `priorities` (NULL: the default). */
static void srv_start_tls(struct srv *s, enum srv_mode mode, const char *key,
                          const char *cert, const char *priorities)
{
  memset(s, 0, sizeof(*s));
  s->mode = mode;
  assert_int_equal(pthread_mutex_init(&s->lock, NULL), 0);
  if (mode == SRV_BIG || mode == SRV_AT_LIMIT) {
    s->big = malloc(BIG_LEN);
    assert_non_null(s->big);
    memset(s->big, 'x', BIG_LEN);
  }
  struct sockaddr_in a = {.sin_family = AF_INET};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  unsigned flags =
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION;
  if (key != NULL) {
    s->daemon = MHD_start_daemon(
        flags | MHD_USE_TLS, 0, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR,
        &a, MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_HTTPS_MEM_KEY,
        key, MHD_OPTION_HTTPS_MEM_CERT, cert, MHD_OPTION_HTTPS_PRIORITIES,
        priorities != NULL ? priorities : "NORMAL", MHD_OPTION_END);
  } else {
    s->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, &a,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_END);
  }
  assert_non_null(s->daemon);
  const union MHD_DaemonInfo *info =
      MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
  assert_non_null(info);
  s->port = info->port;
  snprintf(s->base, sizeof(s->base), "%s://127.0.0.1:%d/owcp/0.1",
           key != NULL ? "https" : "http", s->port);
}

static void srv_start(struct srv *s, enum srv_mode mode)
{
  srv_start_tls(s, mode, NULL, NULL, NULL);
}

static void srv_stop(struct srv *s)
{
  MHD_stop_daemon(s->daemon);
  pthread_mutex_destroy(&s->lock);
  free(s->big);
}

/* ---- fixtures ------------------------------------------------------------ */

struct fx {
  struct itest_env env;
  char *token; /* requestor access@example.com */
};

static int fx_setup(void **state)
{
  static struct fx f;
  memset(&f, 0, sizeof(f));
  itest_env_init(&f.env, "net_httpc");
  itest_start(&f.env, NULL);
  itest_account_add(&f.env, "alice@example.com");
  f.token = itest_requestor_add(&f.env, "access@example.com", 0);
  *state = &f;
  return 0;
}

static int fx_teardown(void **state)
{
  struct fx *f = *state;
  free(f->token);
  itest_env_fini(&f->env);
  return 0;
}

static struct owcp_httpc *client(bool insecure, long timeout_ms)
{
  struct owcp_httpc_config cfg = {.allow_insecure_http = insecure,
                                  .timeout_ms = timeout_ms,
                                  .connect_timeout_ms = 2000};
  struct owcp_httpc *c = NULL;
  struct owcp_error err = {{0}};
  if (owcp_httpc_new(&cfg, &c, &err) != 0) {
    fail_msg("owcp_httpc_new: %s", err.msg);
  }
  return c;
}

/* A base list over the given strings (borrowed; not to be freed). */
struct list {
  struct owcp_base_list l;
  char *b[4];
};

static const struct owcp_base_list *bases(struct list *s, const char *b0,
                                          const char *b1)
{
  memset(s, 0, sizeof(*s));
  s->b[0] = (char *)b0;
  s->b[1] = (char *)b1;
  s->l.bases = s->b;
  s->l.n = b1 != NULL ? 2 : 1;
  s->l.source = OWCP_DISCOVERY_MANUAL;
  return &s->l;
}

/* A loopback port nothing listens on. */
static void closed_base(char *out, size_t cap)
{
  int s = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(s >= 0);
  struct sockaddr_in a = {.sin_family = AF_INET};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
  assert_int_equal(getsockname(s, (struct sockaddr *)&a, &len), 0);
  close(s);
  snprintf(out, cap, "http://127.0.0.1:%d/owcp/0.1", ntohs(a.sin_port));
}

/* ---- against the dispatcher -----------------------------------------------
 */

static void test_get_ca(void **state)
{
  struct fx *f = *state;
  struct owcp_httpc *c = client(true, 0);
  struct list s;
  char *pem = NULL;
  size_t pem_len = 0;
  struct owcp_error err = {{0}};
  if (owcp_httpc_get_ca(c, bases(&s, f->env.base, NULL), &pem, &pem_len,
                        &err) != 0) {
    fail_msg("GET CA: %s", err.msg);
  }
  struct itest_http h;
  itest_get(&f->env, "/owcp/0.1/CA", &h);
  ITEST_EXPECT(h, 200);
  assert_int_equal(pem_len, h.body_len);
  assert_memory_equal(pem, h.body, pem_len);
  const char *first = strstr(pem, "-----BEGIN CERTIFICATE-----");
  assert_non_null(first);
  assert_non_null(strstr(first + 1, "-----BEGIN CERTIFICATE-----"));
  itest_http_free(&h);
  free(pem);

  /* A base that answers, but not 200, is passed over for GET CA. */
  struct srv text;
  srv_start(&text, SRV_503);
  assert_int_equal(owcp_httpc_get_ca(c, bases(&s, text.base, f->env.base), &pem,
                                     &pem_len, &err),
                   0);
  assert_non_null(strstr(pem, "BEGIN CERTIFICATE"));
  free(pem);
  assert_int_equal(
      owcp_httpc_get_ca(c, bases(&s, text.base, NULL), &pem, &pem_len, &err),
      -1);
  assert_null(pem);
  testutil_assert_err_contains(&err, "HTTP 503");
  srv_stop(&text);
  owcp_httpc_free(c);
}

static void test_post_json_register(void **state)
{
  struct fx *f = *state;
  struct owcp_httpc *c = client(true, 0);
  struct list s;
  struct owcp_http_reply r;
  struct owcp_error err = {{0}};
  json_t *p = json_pack("{s:s}", "To", "alice@example.com");
  assert_int_equal(owcp_httpc_post_json(c, bases(&s, f->env.base, NULL),
                                        "RD-Register", f->token, p, 0, &r,
                                        &err),
                   0);
  assert_int_equal(r.status, 200);
  assert_string_equal(r.base, f->env.base);
  assert_non_null(r.json);
  assert_int_equal(json_integer_value(json_object_get(r.json, "Status")), 200);
  assert_true(json_is_boolean(json_object_get(r.json, "Ready")));
  assert_int_equal(strlen(r.body), r.body_len);
  owcp_http_reply_free(&r);
  assert_null(r.json);
  json_decref(p);

  /* Unknown account: the dispatcher's 404 is an answer, not a failure. */
  p = json_pack("{s:s}", "To", "nobody@example.com");
  assert_int_equal(owcp_httpc_post_json(c, bases(&s, f->env.base, NULL),
                                        "RD-Register", f->token, p, 0, &r,
                                        &err),
                   0);
  assert_int_equal(r.status, 404);
  assert_true(json_is_string(json_object_get(r.json, "Error")));
  owcp_http_reply_free(&r);

  /* No token: 401. */
  assert_int_equal(owcp_httpc_post_json(c, bases(&s, f->env.base, NULL),
                                        "RD-Register", NULL, p, 0, &r, &err),
                   0);
  assert_int_equal(r.status, 401);
  owcp_http_reply_free(&r);
  json_decref(p);
  owcp_httpc_free(c);
}

/* RD-Confirm with the XML as an application/xml segment, CD-Reply with the
 * DER receipt as an application/pkcs7-mime segment, then RD-Status shows
 * the receipt the client sent. */
static void test_multipart_confirm_and_reply(void **state)
{
  struct fx *f = *state;
  struct itest_client cl;
  itest_client_init(&cl, "alice@example.com");
  itest_client_enrol(&f->env, &cl);
  struct owcp_httpc *c = client(true, 0);
  struct list s;
  const struct owcp_base_list *b = bases(&s, f->env.base, NULL);
  struct owcp_http_reply r;
  struct owcp_error err = {{0}};

  char *xml = itest_request_xml("access@example.com", "alice@example.com",
                                "net-mp-1", true, 0);
  json_t *p = json_object();
  assert_int_equal(owcp_httpc_post_multipart(c, b, "RD-Confirm", f->token, p,
                                             xml, strlen(xml), NULL, 0, 0, &r,
                                             &err),
                   0);
  if (r.status != 202) {
    fail_msg("RD-Confirm: %ld %s", r.status, r.body);
  }
  char *tx = strdup(json_string_value(json_object_get(r.json, "Transaction")));
  owcp_http_reply_free(&r);
  json_decref(p);

  char *receipt_b64 = itest_receipt_b64(&cl, tx, "Accept", NULL, xml);
  unsigned char *der = NULL;
  size_t der_len = 0;
  assert_int_equal(owcp_base64_decode(receipt_b64, strlen(receipt_b64), &der,
                                      &der_len, &err),
                   0);
  p = json_pack("{s:s, s:s}", "Transaction", tx, "Response", "Accept");
  assert_int_equal(owcp_httpc_post_multipart(c, b, "CD-Reply", cl.token, p,
                                             NULL, 0, der, der_len, 0, &r,
                                             &err),
                   0);
  if (r.status != 200) {
    fail_msg("CD-Reply: %ld %s", r.status, r.body);
  }
  owcp_http_reply_free(&r);
  json_decref(p);

  p = json_pack("{s:s}", "Transaction", tx);
  assert_int_equal(
      owcp_httpc_post_json(c, b, "RD-Status", f->token, p, 0, &r, &err), 0);
  assert_int_equal(r.status, 200);
  assert_string_equal(json_string_value(json_object_get(r.json, "Response")),
                      "Accept");
  assert_string_equal(json_string_value(json_object_get(r.json, "Receipt")),
                      receipt_b64);
  owcp_http_reply_free(&r);
  json_decref(p);

  /* Both attachments at once (an RD-Confirm does not take a receipt: the
   * dispatcher must still parse the container and answer). */
  p = json_object();
  assert_int_equal(owcp_httpc_post_multipart(c, b, "RD-Confirm", f->token, p,
                                             xml, strlen(xml), der, der_len, 0,
                                             &r, &err),
                   0);
  assert_true(r.status == 202 || r.status == 400);
  owcp_http_reply_free(&r);
  json_decref(p);

  free(der);
  free(receipt_b64);
  free(tx);
  free(xml);
  owcp_httpc_free(c);
  itest_client_free(&cl);
}

static void test_failover_past_closed_port(void **state)
{
  struct fx *f = *state;
  char down[128];
  closed_base(down, sizeof(down));
  struct owcp_httpc *c = client(true, 0);
  struct list s;
  struct owcp_http_reply r;
  struct owcp_error err = {{0}};
  json_t *p = json_pack("{s:s}", "To", "alice@example.com");
  assert_int_equal(owcp_httpc_post_json(c, bases(&s, down, f->env.base),
                                        "RD-Register", f->token, p, 0, &r,
                                        &err),
                   0);
  assert_int_equal(r.status, 200);
  assert_string_equal(r.base, f->env.base);
  owcp_http_reply_free(&r);

  char *pem = NULL;
  size_t pem_len = 0;
  assert_int_equal(
      owcp_httpc_get_ca(c, bases(&s, down, f->env.base), &pem, &pem_len, &err),
      0);
  free(pem);
  json_decref(p);
  owcp_httpc_free(c);
}

static void test_all_bases_down(void **state)
{
  (void)state;
  char down1[128], down2[128];
  closed_base(down1, sizeof(down1));
  closed_base(down2, sizeof(down2));
  assert_string_not_equal(down1, down2);
  struct owcp_httpc *c = client(true, 0);
  struct list s;
  struct owcp_http_reply r;
  struct owcp_error err = {{0}};
  json_t *p = json_object();
  assert_int_equal(owcp_httpc_post_json(c, bases(&s, down1, down2), "RD-Status",
                                        "tok", p, 0, &r, &err),
                   -1);
  assert_null(r.body);
  assert_null(r.base);
  testutil_assert_err_contains(&err, "no dispatcher reachable");
  testutil_assert_err_contains(&err, down1);
  testutil_assert_err_contains(&err, down2);
  testutil_assert_err_contains(&err, "connect");
  json_decref(p);

  struct owcp_base_list empty = {0};
  assert_int_equal(
      owcp_httpc_post_json(c, &empty, "RD-Status", NULL, NULL, 0, &r, &err),
      -1);
  testutil_assert_err_contains(&err, "no dispatcher base");
  owcp_httpc_free(c);
}

static void test_http_refused_without_connecting(void **state)
{
  struct fx *f = *state;
  struct owcp_httpc *c = client(true, 0);
  struct list s;
  struct owcp_http_reply r;
  struct owcp_error err = {{0}};
  /* 192.0.2.1 (TEST-NET-1) would hang or fail slowly if connected to. */
  double t0 = itest_now();
  assert_int_equal(
      owcp_httpc_post_json(c, bases(&s, "http://192.0.2.1/owcp/0.1", NULL),
                           "RD-Status", f->token, NULL, 0, &r, &err),
      -1);
  assert_true(itest_now() - t0 < 0.5);
  testutil_assert_err_contains(&err, "non-loopback");
  testutil_assert_err_contains(&err, "not connected");

  /* Refused base skipped, the next (loopback) one used. */
  json_t *p = json_pack("{s:s}", "To", "alice@example.com");
  assert_int_equal(owcp_httpc_post_json(
                       c, bases(&s, "http://192.0.2.1/owcp/0.1", f->env.base),
                       "RD-Register", f->token, p, 0, &r, &err),
                   0);
  assert_string_equal(r.base, f->env.base);
  owcp_http_reply_free(&r);
  owcp_httpc_free(c);

  /* Without allow_insecure_http even loopback http is refused. */
  c = client(false, 0);
  assert_int_equal(owcp_httpc_post_json(c, bases(&s, f->env.base, NULL),
                                        "RD-Register", f->token, p, 0, &r,
                                        &err),
                   -1);
  testutil_assert_err_contains(&err, "https only");
  /* Other schemes and user information never pass. */
  assert_int_equal(owcp_httpc_post_json(c,
                                        bases(&s, "ftp://127.0.0.1/owcp/0.1",
                                              "https://u:pw123@127.0.0.1/x"),
                                        "RD-Register", f->token, p, 0, &r,
                                        &err),
                   -1);
  testutil_assert_err_contains(&err, "scheme ftp");
  testutil_assert_err_contains(&err, "user information");
  assert_null(strstr(err.msg, "pw123"));
  json_decref(p);
  owcp_httpc_free(c);
}

/* TLS is verified: https to a port that speaks plain HTTP fails (and is
 * reported), it is never downgraded. */
static void test_https_to_plain_port_fails(void **state)
{
  struct fx *f = *state;
  char tls_base[300];
  snprintf(tls_base, sizeof(tls_base), "https%s", f->env.base + 4);
  struct owcp_httpc *c = client(false, 3000);
  struct list s;
  char *pem = NULL;
  size_t pem_len = 0;
  struct owcp_error err = {{0}};
  assert_int_equal(
      owcp_httpc_get_ca(c, bases(&s, tls_base, NULL), &pem, &pem_len, &err),
      -1);
  testutil_assert_err_contains(&err, tls_base);
  testutil_assert_err_contains(&err, "SSL");
  owcp_httpc_free(c);
}

/* ---- against the tiny servers ----------------------------------------------
 */

static void test_oversized_response_refused(void **state)
{
  (void)state;
  struct owcp_httpc *c = client(true, 0);
  struct list s;
  struct owcp_http_reply r;
  struct owcp_error err = {{0}};
  enum srv_mode modes[] = {SRV_BIG, SRV_BIG_CHUNKED};
  for (size_t i = 0; i < 2; i++) {
    struct srv big;
    srv_start(&big, modes[i]);
    assert_int_equal(owcp_httpc_post_json(c, bases(&s, big.base, NULL),
                                          "RD-Status", NULL, NULL, 0, &r, &err),
                     -1);
    assert_null(r.body);
    testutil_assert_err_contains(&err, "larger than 1048576");
    testutil_assert_err_contains(&err, big.base);
    srv_stop(&big);
  }
  /* Exactly at the limit is accepted. */
  struct srv edge;
  srv_start(&edge, SRV_AT_LIMIT);
  assert_int_equal(owcp_httpc_post_json(c, bases(&s, edge.base, NULL),
                                        "RD-Status", NULL, NULL, 0, &r, &err),
                   0);
  assert_int_equal(r.body_len, OWCP_HTTPC_MAX_RESPONSE);
  assert_null(r.json);
  owcp_http_reply_free(&r);
  srv_stop(&edge);
  owcp_httpc_free(c);
}

static void test_503_skipped(void **state)
{
  struct fx *f = *state;
  struct srv a, b;
  srv_start(&a, SRV_503);
  srv_start(&b, SRV_503);
  struct owcp_httpc *c = client(true, 0);
  struct list s;
  struct owcp_http_reply r;
  struct owcp_error err = {{0}};
  json_t *p = json_pack("{s:s}", "To", "alice@example.com");
  assert_int_equal(owcp_httpc_post_json(c, bases(&s, a.base, f->env.base),
                                        "RD-Register", f->token, p, 0, &r,
                                        &err),
                   0);
  assert_int_equal(r.status, 200);
  assert_string_equal(r.base, f->env.base);
  assert_int_equal(a.requests, 1);
  owcp_http_reply_free(&r);

  /* Every base 503: the last 503 is the answer. */
  assert_int_equal(owcp_httpc_post_json(c, bases(&s, a.base, b.base),
                                        "RD-Register", f->token, p, 0, &r,
                                        &err),
                   0);
  assert_int_equal(r.status, 503);
  assert_string_equal(r.base, b.base);
  assert_int_equal(json_integer_value(json_object_get(r.json, "Status")), 503);
  owcp_http_reply_free(&r);
  json_decref(p);
  owcp_httpc_free(c);
  srv_stop(&a);
  srv_stop(&b);
}

/* What goes on the wire: path, bearer header, media type, compact JSON;
 * and a second request reuses the connection. */
static void test_request_shape_and_keepalive(void **state)
{
  (void)state;
  struct srv e;
  srv_start(&e, SRV_ECHO);
  struct owcp_httpc *c = client(true, 0);
  struct list s;
  struct owcp_http_reply r;
  struct owcp_error err = {{0}};
  json_t *p = json_pack("{s:s, s:i}", "Transaction", "t1", "Wait", 5);
  assert_int_equal(owcp_httpc_post_json(c, bases(&s, e.base, NULL), "RD-Status",
                                        "secret-token-123", p, 0, &r, &err),
                   0);
  assert_int_equal(r.status, 200);
  owcp_http_reply_free(&r);
  assert_string_equal(e.url, "/owcp/0.1/RD-Status");
  assert_string_equal(e.auth, "Bearer secret-token-123");
  assert_string_equal(e.content_type, "application/json");
  assert_int_equal(e.body_len, strlen("{\"Transaction\":\"t1\",\"Wait\":5}"));
  assert_memory_equal(e.body, "{\"Transaction\":\"t1\",\"Wait\":5}",
                      e.body_len);

  /* Multipart: the media type and a container that decodes. */
  assert_int_equal(owcp_httpc_post_multipart(c, bases(&s, e.base, NULL),
                                             "RD-Confirm", NULL, p, "<x/>", 4,
                                             (const unsigned char *)"\x30\x00",
                                             2, 0, &r, &err),
                   0);
  owcp_http_reply_free(&r);
  assert_string_equal(e.content_type, "application/owcp-multipart");
  assert_string_equal(e.auth, ""); /* no token: no Authorization header */
  struct owcp_multipart mp;
  assert_int_equal(owcp_multipart_decode((const unsigned char *)e.body,
                                         e.body_len, &mp, &err),
                   0);
  assert_int_equal(mp.count, 3);
  assert_true(owcp_mp_content_type_is(&mp.segments[0], "application/json"));
  assert_true(owcp_mp_content_type_is(&mp.segments[1], "application/xml"));
  assert_true(
      owcp_mp_content_type_is(&mp.segments[2], "application/pkcs7-mime"));
  assert_int_equal(mp.segments[1].data.len, 4);
  assert_memory_equal(mp.segments[1].data.ptr, "<x/>", 4);
  assert_int_equal(mp.segments[2].data.len, 2);
  assert_int_equal(e.requests, 2);
  /* Kept alive: both requests on one connection. */
  assert_int_equal(e.connections, 1);
  json_decref(p);
  owcp_httpc_free(c);
  srv_stop(&e);
}

static void test_non_object_body(void **state)
{
  (void)state;
  struct srv t;
  srv_start(&t, SRV_TEXT);
  struct owcp_httpc *c = client(true, 0);
  struct list s;
  struct owcp_http_reply r;
  struct owcp_error err = {{0}};
  assert_int_equal(owcp_httpc_post_json(c, bases(&s, t.base, NULL), "CD-List",
                                        NULL, NULL, 0, &r, &err),
                   0);
  assert_int_equal(r.status, 200);
  assert_null(r.json);
  assert_string_equal(r.body, "[\"not\", \"an\", \"object\"]");
  owcp_http_reply_free(&r);
  owcp_httpc_free(c);
  srv_stop(&t);
}

static void test_wait_extends_timeout(void **state)
{
  (void)state;
  struct srv slow;
  srv_start(&slow, SRV_SLOW);
  struct owcp_httpc *c = client(true, 700);
  struct list s;
  struct owcp_http_reply r;
  struct owcp_error err = {{0}};
  assert_int_equal(owcp_httpc_post_json(c, bases(&s, slow.base, NULL),
                                        "CD-List", NULL, NULL, 0, &r, &err),
                   -1);
  testutil_assert_err_contains(&err, "imeout");
  assert_int_equal(owcp_httpc_post_json(c, bases(&s, slow.base, NULL),
                                        "CD-List", NULL, NULL, 2, &r, &err),
                   0);
  assert_int_equal(r.status, 200);
  owcp_http_reply_free(&r);
  owcp_httpc_free(c);
  srv_stop(&slow);
}

static void test_bad_arguments_send_nothing(void **state)
{
  (void)state;
  struct srv e;
  srv_start(&e, SRV_ECHO);
  struct owcp_httpc *c = client(true, 0);
  struct list s;
  const struct owcp_base_list *b = bases(&s, e.base, NULL);
  struct owcp_http_reply r;
  struct owcp_error err = {{0}};
  assert_int_equal(owcp_httpc_post_json(c, b, "../CA", NULL, NULL, 0, &r, &err),
                   -1);
  testutil_assert_err_contains(&err, "operation name");
  assert_int_equal(owcp_httpc_post_json(c, b, "", NULL, NULL, 0, &r, &err), -1);
  assert_int_equal(
      owcp_httpc_post_json(c, b, "RD-Status?x=1", NULL, NULL, 0, &r, &err), -1);
  assert_int_equal(owcp_httpc_post_json(c, b, "RD-Status", "abc\r\nX-Evil: yes",
                                        NULL, 0, &r, &err),
                   -1);
  testutil_assert_err_contains(&err, "bearer token");
  assert_null(strstr(err.msg, "X-Evil")); /* the secret is not echoed */
  assert_int_equal(
      owcp_httpc_post_json(c, b, "RD-Status", "", NULL, 0, &r, &err), -1);
  json_t *arr = json_array();
  assert_int_equal(
      owcp_httpc_post_json(c, b, "RD-Status", NULL, arr, 0, &r, &err), -1);
  testutil_assert_err_contains(&err, "JSON object");
  assert_int_equal(owcp_httpc_post_multipart(c, b, "RD-Status", NULL, arr, NULL,
                                             0, NULL, 0, 0, &r, &err),
                   -1);
  json_decref(arr);
  assert_int_equal(
      owcp_httpc_post_json(c, b, "RD-Status", NULL, NULL, -1, &r, &err), -1);
  testutil_assert_err_contains(&err, "wait");
  assert_int_equal(e.requests, 0);
  assert_int_equal(e.connections, 0);
  owcp_httpc_free(c);
  owcp_httpc_free(NULL);
  owcp_http_reply_free(NULL);
  srv_stop(&e);
}

/* Bases a caller filled by hand get the same scrutiny as discovered ones:
 * no query or fragment (the operation would not be the path's last
 * segment), no user information of any kind; nothing is connected. */
static void test_hand_made_bases_checked(void **state)
{
  (void)state;
  struct srv e;
  srv_start(&e, SRV_ECHO);
  struct owcp_httpc *c = client(true, 0);
  struct list s;
  struct owcp_http_reply r;
  struct owcp_error err = {{0}};
  char bad[4][300];
  snprintf(bad[0], sizeof(bad[0]), "%s?x=", e.base);
  snprintf(bad[1], sizeof(bad[1]), "%s#f", e.base);
  snprintf(bad[2], sizeof(bad[2]), "http://:hidden-pw@127.0.0.1:%d/owcp/0.1",
           e.port);
  snprintf(bad[3], sizeof(bad[3]), "http://u;opt@127.0.0.1:%d/owcp/0.1",
           e.port);
  for (size_t i = 0; i < 4; i++) {
    assert_int_equal(owcp_httpc_post_json(c, bases(&s, bad[i], NULL),
                                          "RD-Status", "tok", NULL, 0, &r,
                                          &err),
                     -1);
    testutil_assert_err_contains(&err, i < 2 ? "query or fragment"
                                             : "user information");
    assert_null(strstr(err.msg, "hidden-pw"));
  }
  assert_int_equal(e.requests, 0);
  assert_int_equal(e.connections, 0);
  /* "localhost" is a loopback name: allowed, and it reaches 127.0.0.1. */
  char lh[300];
  snprintf(lh, sizeof(lh), "http://localhost:%d/owcp/0.1", e.port);
  assert_int_equal(owcp_httpc_post_json(c, bases(&s, lh, NULL), "RD-Status",
                                        "tok", NULL, 0, &r, &err),
                   0);
  assert_int_equal(r.status, 200);
  owcp_http_reply_free(&r);
  assert_int_equal(e.requests, 1);
  owcp_httpc_free(c);
  srv_stop(&e);
}

/* Plain http never goes through a proxy from the environment (it would be
 * a hop that reads the bearer token): with http_proxy and ALL_PROXY
 * pointing at a recording server, the request still goes straight to the
 * loopback dispatcher and the "proxy" sees nothing. */
static void test_http_ignores_proxy_environment(void **state)
{
  (void)state;
  struct srv target, proxy;
  srv_start(&target, SRV_ECHO);
  srv_start(&proxy, SRV_ECHO);
  char proxy_url[64];
  snprintf(proxy_url, sizeof(proxy_url), "http://127.0.0.1:%d", proxy.port);
  setenv("http_proxy", proxy_url, 1);
  setenv("ALL_PROXY", proxy_url, 1);
  unsetenv("no_proxy");
  unsetenv("NO_PROXY");
  struct owcp_httpc *c = client(true, 0);
  struct list s;
  struct owcp_http_reply r;
  struct owcp_error err = {{0}};
  int rc = owcp_httpc_post_json(c, bases(&s, target.base, NULL), "RD-Status",
                                "proxy-secret", NULL, 0, &r, &err);
  unsetenv("http_proxy");
  unsetenv("ALL_PROXY");
  assert_int_equal(rc, 0);
  assert_int_equal(r.status, 200);
  owcp_http_reply_free(&r);
  assert_int_equal(target.requests, 1);
  assert_int_equal(proxy.requests, 0);
  assert_int_equal(proxy.connections, 0);
  owcp_httpc_free(c);
  srv_stop(&target);
  srv_stop(&proxy);
}

/* Timeouts beyond a day (or negative) are refused at creation, so adding a
 * long-poll wait can never overflow. */
static void test_timeouts_bounded(void **state)
{
  (void)state;
  struct owcp_httpc *c = NULL;
  struct owcp_error err = {{0}};
  struct owcp_httpc_config cfg = {.timeout_ms = LONG_MAX};
  assert_int_equal(owcp_httpc_new(&cfg, &c, &err), -1);
  assert_null(c);
  testutil_assert_err_contains(&err, "timeout_ms");
  cfg = (struct owcp_httpc_config){.connect_timeout_ms = -5};
  assert_int_equal(owcp_httpc_new(&cfg, &c, &err), -1);
  testutil_assert_err_contains(&err, "connect_timeout_ms of -5 ms");
  cfg = (struct owcp_httpc_config){.timeout_ms = 86400000L,
                                   .connect_timeout_ms = 86400000L};
  assert_int_equal(owcp_httpc_new(&cfg, &c, &err), 0);
  owcp_httpc_free(c);
  assert_int_equal(owcp_httpc_new(NULL, &c, &err), 0);
  owcp_httpc_free(c);
}

/* ---- TLS --------------------------------------------------------------- */

/* A self-signed P-256 certificate with the given subjectAltName, made with
 * the openssl tool into dir; its key and certificate PEM are returned
 * (caller frees) and the certificate's path written to cert_path. */
static void make_cert(const char *dir, const char *name, const char *san,
                      char **key, char **cert, char *cert_path, size_t cap)
{
  char key_path[600], san_arg[128];
  snprintf(key_path, sizeof(key_path), "%s/%s.key", dir, name);
  snprintf(cert_path, cap, "%s/%s.pem", dir, name);
  snprintf(san_arg, sizeof(san_arg), "subjectAltName=%s", san);
  assert_int_equal(testutil_openssl(NULL, "req", "-x509", "-newkey", "ec",
                                    "-pkeyopt", "ec_paramgen_curve:P-256",
                                    "-nodes", "-days", "1", "-subj",
                                    "/CN=owcp-test", "-addext", san_arg,
                                    "-keyout", key_path, "-out", cert_path),
                   0);
  unsigned char *k = NULL, *c = NULL;
  size_t klen = 0, clen = 0;
  struct owcp_error err = {{0}};
  assert_int_equal(owcp_file_read(key_path, 65536, &k, &klen, &err), 0);
  assert_int_equal(owcp_file_read(cert_path, 65536, &c, &clen, &err), 0);
  *key = (char *)k;
  *cert = (char *)c;
}

static struct owcp_httpc *tls_client(const char *ca_file)
{
  struct owcp_httpc_config cfg = {
      .ca_file = ca_file, .connect_timeout_ms = 2000, .timeout_ms = 3000};
  struct owcp_httpc *c = NULL;
  struct owcp_error err = {{0}};
  if (owcp_httpc_new(&cfg, &c, &err) != 0) {
    fail_msg("owcp_httpc_new: %s", err.msg);
  }
  return c;
}

/* Peer and host name are verified; ca_file is what makes a private CA
 * trusted; TLS below 1.2 is refused. */
static void test_tls_verification(void **state)
{
  (void)state;
  char dir[64];
  assert_int_equal(testutil_tmpdir_make(dir, sizeof(dir), "net-tls"), 0);
  char *good_key, *good_cert, *other_key, *other_cert;
  char good_path[700], other_path[700];
  make_cert(dir, "good", "IP:127.0.0.1", &good_key, &good_cert, good_path,
            sizeof(good_path));
  make_cert(dir, "other", "DNS:other.example", &other_key, &other_cert,
            other_path, sizeof(other_path));
  struct list s;
  struct owcp_http_reply r;
  struct owcp_error err = {{0}};

  struct srv good;
  srv_start_tls(&good, SRV_ECHO, good_key, good_cert, NULL);
  /* Unknown issuer: refused. */
  struct owcp_httpc *c = tls_client(NULL);
  assert_int_equal(owcp_httpc_post_json(c, bases(&s, good.base, NULL),
                                        "RD-Status", "tok", NULL, 0, &r, &err),
                   -1);
  testutil_assert_err_contains(&err, good.base);
  assert_int_equal(good.requests, 0);
  owcp_httpc_free(c);
  /* Trusted through ca_file: answered over TLS. */
  c = tls_client(good_path);
  assert_int_equal(owcp_httpc_post_json(c, bases(&s, good.base, NULL),
                                        "RD-Status", "tok", NULL, 0, &r, &err),
                   0);
  assert_int_equal(r.status, 200);
  assert_string_equal(r.base, good.base);
  assert_string_equal(good.auth, "Bearer tok");
  owcp_http_reply_free(&r);
  owcp_httpc_free(c);
  srv_stop(&good);

  /* Trusted issuer, wrong host name (certificate for other.example). */
  struct srv other;
  srv_start_tls(&other, SRV_ECHO, other_key, other_cert, NULL);
  c = tls_client(other_path);
  assert_int_equal(owcp_httpc_post_json(c, bases(&s, other.base, NULL),
                                        "RD-Status", "tok", NULL, 0, &r, &err),
                   -1);
  testutil_assert_err_contains(&err, other.base);
  assert_int_equal(other.requests, 0);
  owcp_httpc_free(c);
  srv_stop(&other);

  /* A server that offers only TLS 1.1 and 1.0 is refused. */
  struct srv old;
  srv_start_tls(&old, SRV_ECHO, good_key, good_cert,
                "NORMAL:-VERS-ALL:+VERS-TLS1.1:+VERS-TLS1.0");
  c = tls_client(good_path);
  assert_int_equal(owcp_httpc_post_json(c, bases(&s, old.base, NULL),
                                        "RD-Status", "tok", NULL, 0, &r, &err),
                   -1);
  assert_int_equal(old.requests, 0);
  owcp_httpc_free(c);
  srv_stop(&old);

  free(good_key);
  free(good_cert);
  free(other_key);
  free(other_cert);
  assert_int_equal(testutil_tmpdir_remove(dir), 0);
}

/* The system OpenSSL policy (Debian: MinProtocol TLSv1.2) would refuse old
 * TLS on its own; a permissive configuration for this process makes the
 * TLS 1.1 check prove the client's own minimum. */
static const char *permissive_openssl(void)
{
  static char path[] = "/tmp/owcp-net-openssl.XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  static const char conf[] =
      "openssl_conf = init\n[init]\nssl_conf = ssl\n[ssl]\n"
      "system_default = sys\n[sys]\nMinProtocol = TLSv1\n"
      "CipherString = DEFAULT@SECLEVEL=0\n";
  assert_int_equal(write(fd, conf, sizeof(conf) - 1),
                   (ssize_t)sizeof(conf) - 1);
  close(fd);
  setenv("OPENSSL_CONF", path, 1);
  return path;
}

int main(void)
{
  signal(SIGPIPE, SIG_IGN);
  const char *conf = permissive_openssl();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_get_ca),
      cmocka_unit_test(test_post_json_register),
      cmocka_unit_test(test_multipart_confirm_and_reply),
      cmocka_unit_test(test_failover_past_closed_port),
      cmocka_unit_test(test_all_bases_down),
      cmocka_unit_test(test_http_refused_without_connecting),
      cmocka_unit_test(test_https_to_plain_port_fails),
      cmocka_unit_test(test_tls_verification),
      cmocka_unit_test(test_oversized_response_refused),
      cmocka_unit_test(test_503_skipped),
      cmocka_unit_test(test_request_shape_and_keepalive),
      cmocka_unit_test(test_non_object_body),
      cmocka_unit_test(test_wait_extends_timeout),
      cmocka_unit_test(test_bad_arguments_send_nothing),
      cmocka_unit_test(test_hand_made_bases_checked),
      cmocka_unit_test(test_http_ignores_proxy_environment),
      cmocka_unit_test(test_timeouts_bounded),
  };
  int failed =
      cmocka_run_group_tests_name("httpc", tests, fx_setup, fx_teardown);
  unlink(conf);
  return failed;
}
