/*
 * test_e2e_service.c — the service layer (service/) as a real
 * owcp-dispatcher and the requestor library's receiver show it on the
 * wire: TLS 1.1 refused while 1.2 and 1.3 are accepted (openssl s_client);
 * SIGHUP with a replaced certificate serves new connections with it while
 * a CD-List long poll already waiting survives and completes; a client
 * trickling header bytes on 50 connections is cut off (header_timeout)
 * while a normal client is served within a second; connections from one
 * address beyond per_ip_connections are refused while another loopback
 * address is served; /metrics is valid exposition format and its counters
 * move; the access log names method, route and status but never the token
 * or the query string; a token's long polls are capped
 * (longpolls_per_token, 429); systemd hears READY=1, WATCHDOG=1 every half
 * WATCHDOG_USEC, RELOADING=1 and READY=1 on SIGHUP, STOPPING=1 on SIGTERM
 * (a real AF_UNIX datagram socket as NOTIFY_SOCKET); SIGTERM exits 0.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "itest.h"
#include "owcp/requestor.h"
#include "testutil.h"

#define TRICKLE_CONNECTIONS 50
#define TRICKLE_EVERY_S 1
/* setup_limits sets the header deadline (the default is 10 s); allow for
 * the reaper's tick and scheduling on a busy machine. */
#define HEADER_TIMEOUT_S 3
#define TRICKLE_CHECK_AFTER_S 6
/* setup_limits: long polls per token; setup_per_ip: connections per
 * client address. */
#define LONGPOLL_CAP 3
#define PER_IP_CAP 4
#define STR_(x) #x
#define STR(x) STR_(x)
/* setup_notify: systemd's WatchdogSec=1, so WATCHDOG=1 every 0.5 s. */
#define NOTIFY_WATCHDOG_USEC 1000000UL

struct fx {
  struct itest_env env;
  char *token; /* requestor access@example.com */
  struct itest_client alice;
  int notify_fd; /* the bound NOTIFY_SOCKET, or -1 */
};

/* ---- helpers ------------------------------------------------------------- */

/* A self-signed P-256 certificate for 127.0.0.1 named cn, written to
 * cert and key. */
static void make_cert(const char *cert, const char *key, const char *cn)
{
  char subj[128];

  snprintf(subj, sizeof subj, "/CN=%s", cn);
  if (testutil_openssl(NULL, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                       "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
                       "-subj", subj, "-addext", "subjectAltName=IP:127.0.0.1",
                       "-keyout", key, "-out", cert) != 0)
    itest_fail("openssl could not make a test certificate");
}

static unsigned port_of(const struct itest_env *e)
{
  const char *colon = strrchr(e->root, ':');
  assert_non_null(colon);
  return (unsigned)strtoul(colon + 1, NULL, 10);
}

/* openssl s_client with the given version flag against 127.0.0.1:port;
 * its output goes to out (may be NULL). Returns its exit status (0: the
 * handshake succeeded). */
static int handshake(unsigned port, const char *version, const char *out)
{
  char target[32];

  snprintf(target, sizeof target, "127.0.0.1:%u", port);
  /* SECLEVEL=0: Debian's OpenSSL would not even offer TLS 1.1 otherwise,
   * and the refusal must be the server's. */
  return testutil_openssl(out, "s_client", "-connect", target, version,
                          "-cipher", "DEFAULT@SECLEVEL=0", "-brief");
}

/* Reads a whole (small) file; caller frees. */
static char *slurp(const char *path)
{
  FILE *f = fopen(path, "r");
  if (f == NULL)
    return strdup("");
  char *buf = NULL;
  size_t cap = 0, len = 0, n;
  char chunk[4096];
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
    if (len + n + 1 > cap) {
      cap = (len + n + 1) * 2;
      char *grown = realloc(buf, cap);
      assert_non_null(grown);
      buf = grown;
    }
    memcpy(buf + len, chunk, n);
    len += n;
  }
  fclose(f);
  if (buf == NULL)
    return strdup("");
  buf[len] = '\0';
  return buf;
}

static int count_of(const char *hay, const char *needle)
{
  int n = 0;
  for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
    n++;
  return n;
}

static void sleep_s(double s)
{
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  nanosleep(&ts, NULL);
}

/* Binds an AF_UNIX datagram socket at TMPDIR/notify, as systemd's
 * notification socket, and names it in e->notify_socket. Returns it. */
static int notify_socket_bind(struct itest_env *e)
{
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  int n = snprintf(sa.sun_path, sizeof sa.sun_path, "%s/notify", e->tmpdir);
  assert_true(n > 0 && (size_t)n < sizeof sa.sun_path);
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  assert_true(fd >= 0);
  if (bind(fd, (const struct sockaddr *)&sa, sizeof sa) != 0)
    itest_fail("bind %s: %s", sa.sun_path, strerror(errno));
  snprintf(e->notify_socket, sizeof e->notify_socket, "%s", sa.sun_path);
  return fd;
}

/* ---- fixtures ------------------------------------------------------------ */

/* A dispatcher with accounts alice and bob, a requestor and alice's
 * client, started with the NULL-terminated extra flags (may be NULL);
 * with notify, it reports to f->notify_fd as it would to systemd, with a
 * watchdog of NOTIFY_WATCHDOG_USEC. */
static struct fx *fx_start(const char *name, bool tls, const char *const *extra,
                           bool notify)
{
  struct fx *f = calloc(1, sizeof *f);
  assert_non_null(f);
  f->notify_fd = -1;
  itest_env_init(&f->env, name);
  snprintf(f->env.stderr_path, sizeof f->env.stderr_path, "%s/stderr.log",
           f->env.tmpdir);
  if (tls) {
    snprintf(f->env.tls_cert, sizeof f->env.tls_cert, "%s/tls.crt",
             f->env.tmpdir);
    snprintf(f->env.tls_key, sizeof f->env.tls_key, "%s/tls.key",
             f->env.tmpdir);
    make_cert(f->env.tls_cert, f->env.tls_key, "owcp-test-first");
  }
  if (notify) {
    f->notify_fd = notify_socket_bind(&f->env);
    f->env.watchdog_usec = NOTIFY_WATCHDOG_USEC;
  }
  itest_account_add(&f->env, "alice@example.com");
  itest_account_add(&f->env, "bob@example.com");
  f->token = itest_requestor_add(&f->env, "access@example.com", 0);
  itest_start(&f->env, extra);
  itest_client_init(&f->alice, "alice@example.com");
  itest_client_enrol(&f->env, &f->alice);
  return f;
}

static int setup_plain(void **state)
{
  *state = fx_start("svc_plain", false, NULL, false);
  return 0;
}

static int setup_tls(void **state)
{
  *state = fx_start("svc_tls", true, NULL, false);
  return 0;
}

/* Small limits, so that the tests reach them quickly. */
static int setup_limits(void **state)
{
  static const char *const extra[] = {"--header-timeout", STR(HEADER_TIMEOUT_S),
                                      "--longpolls-per-token",
                                      STR(LONGPOLL_CAP), NULL};
  *state = fx_start("svc_limits", false, extra, false);
  return 0;
}

static int setup_per_ip(void **state)
{
  static const char *const extra[] = {"--per-ip-connections", STR(PER_IP_CAP),
                                      NULL};
  *state = fx_start("svc_per_ip", false, extra, false);
  return 0;
}

static int setup_notify(void **state)
{
  *state = fx_start("svc_notify", false, NULL, true);
  return 0;
}

static int teardown(void **state)
{
  struct fx *f = *state;
  if (f->env.pid > 0)
    itest_stop(&f->env);
  itest_client_free(&f->alice);
  free(f->token);
  if (f->notify_fd >= 0)
    close(f->notify_fd);
  itest_env_fini(&f->env);
  free(f);
  return 0;
}

/* ---- TLS ----------------------------------------------------------------- */

static void test_tls_versions(void **state)
{
  struct fx *f = *state;
  unsigned port = port_of(&f->env);

  assert_int_not_equal(handshake(port, "-tls1_1", NULL), 0);
  assert_int_equal(handshake(port, "-tls1_2", NULL), 0);
  assert_int_equal(handshake(port, "-tls1_3", NULL), 0);
  /* The server said no, and logged why (libmicrohttpd via svc_log). */
  char *log = slurp(f->env.stderr_path);
  assert_non_null(strstr(log, "\"event\":\"http.mhd\""));
  free(log);
  /* Still serving over TLS. */
  struct itest_http h;
  itest_get(&f->env, "/healthz", &h);
  ITEST_EXPECT(h, 200);
  itest_http_free(&h);
}

static int on_completion(const struct owcp_completion *c, void *arg)
{
  (void)c;
  (void)arg;
  return 0;
}

static void test_receiver_tls_versions(void **state)
{
  struct fx *f = *state;
  char *cert = slurp(f->env.tls_cert), *key = slurp(f->env.tls_key);
  struct owcp_receiver_config cfg = {.host = "127.0.0.1",
                                     .tls_cert_pem = cert,
                                     .tls_key_pem = key,
                                     .dispatcher_cert_pem = cert,
                                     .client_ca_pem = cert,
                                     .account = "access@example.com",
                                     .callback = on_completion};
  struct owcp_rq_receiver *rx = NULL;
  struct owcp_error err = {{0}};

  if (owcp_rq_receiver_start(&cfg, &rx, &err) != 0)
    itest_fail("receiver did not start: %s", err.msg);
  unsigned port = owcp_rq_receiver_port(rx);
  assert_int_not_equal(handshake(port, "-tls1_1", NULL), 0);
  assert_int_equal(handshake(port, "-tls1_2", NULL), 0);
  assert_int_equal(handshake(port, "-tls1_3", NULL), 0);
  owcp_rq_receiver_stop(rx);
  free(cert);
  OPENSSL_cleanse(key, strlen(key));
  free(key);
}

/* Whether a new TLS connection is served the certificate named cn. */
static bool serves_cert(const struct fx *f, const char *cn)
{
  char out[PATH_MAX + 16];
  snprintf(out, sizeof out, "%s/s_client.out", f->env.tmpdir);
  char target[32];
  snprintf(target, sizeof target, "127.0.0.1:%u", port_of(&f->env));
  if (testutil_openssl(out, "s_client", "-connect", target, "-showcerts") != 0)
    return false;
  char *text = slurp(out);
  bool found = strstr(text, cn) != NULL;
  free(text);
  return found;
}

static void test_sighup_reload_keeps_long_poll(void **state)
{
  struct fx *f = *state;
  struct itest_call poll;
  char cert2[PATH_MAX + 16], key2[PATH_MAX + 16];

  assert_true(serves_cert(f, "owcp-test-first"));
  itest_call_start(&poll, &f->env, "CD-List", f->alice.token,
                   json_pack("{s:i}", "Wait", 20));
  itest_let_poll_suspend();

  /* Replace the files in place (rename), then SIGHUP. */
  snprintf(cert2, sizeof cert2, "%s/new.crt", f->env.tmpdir);
  snprintf(key2, sizeof key2, "%s/new.key", f->env.tmpdir);
  make_cert(cert2, key2, "owcp-test-second");
  assert_int_equal(rename(key2, f->env.tls_key), 0);
  assert_int_equal(rename(cert2, f->env.tls_cert), 0);
  assert_int_equal(kill(f->env.pid, SIGHUP), 0);
  double deadline = itest_now() + 10;
  while (!serves_cert(f, "owcp-test-second")) {
    if (itest_now() > deadline)
      itest_fail("new connections still see the old certificate");
    sleep_s(0.2);
  }

  /* New connections work with the new certificate ... */
  struct itest_http h;
  itest_get(&f->env, "/healthz", &h);
  ITEST_EXPECT(h, 200);
  itest_http_free(&h);
  /* ... and the long poll held across the reload is answered normally. */
  char *xml = itest_request_xml("access@example.com", "alice@example.com",
                                "urn:itest:svc:reload", true, 0);
  char *tx = itest_confirm_ok(&f->env, f->token, xml, 0);
  itest_call_join(&poll);
  ITEST_EXPECT(poll.h, 200);
  if (itest_pending_find(&poll.h, tx) == NULL)
    fail_msg("the long poll did not return the new transaction: %s",
             poll.h.body);
  assert_true(poll.ended - poll.started < 19.0);
  itest_http_free(&poll.h);
  free(tx);
  free(xml);

  /* SIGTERM still exits 0 (asserted by itest_stop) after a reload. */
  itest_stop(&f->env);
  char *log = slurp(f->env.stderr_path);
  assert_non_null(strstr(log, "\"event\":\"http.reload\""));
  assert_non_null(strstr(log, "\"msg\":\"stopped\""));
  free(log);
}

/* ---- limits -------------------------------------------------------------- */

/* A TCP connection to 127.0.0.1:port from the loopback address src
 * (NULL: the kernel's choice, 127.0.0.1). */
static int connect_from(const char *src, unsigned port)
{
  struct sockaddr_in sa = {.sin_family = AF_INET,
                           .sin_port = htons((uint16_t)port),
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  if (src != NULL) {
    struct sockaddr_in from = {.sin_family = AF_INET};
    assert_int_equal(inet_pton(AF_INET, src, &from.sin_addr), 1);
    if (bind(fd, (const struct sockaddr *)&from, sizeof from) != 0)
      itest_fail("bind %s: %s", src, strerror(errno));
  }
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
    itest_fail("connect: %s", strerror(errno));
  return fd;
}

static int connect_to(unsigned port)
{
  return connect_from(NULL, port);
}

/* True once the server closed fd (EOF or reset), without blocking. */
static bool closed_by_peer(int fd)
{
  struct pollfd p = {.fd = fd, .events = POLLIN};
  char c;
  if (poll(&p, 1, 0) <= 0)
    return false;
  ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

static void test_slow_trickle_cut_off(void **state)
{
  struct fx *f = *state;
  static const char request[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n"
                                "X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
  int fds[TRICKLE_CONNECTIONS];
  unsigned port = port_of(&f->env);
  size_t sent = 0;

  for (int i = 0; i < TRICKLE_CONNECTIONS; i++)
    fds[i] = connect_to(port);
  double start = itest_now(), worst = 0;
  while (itest_now() - start < TRICKLE_CHECK_AFTER_S) {
    /* One byte on every connection, every TRICKLE_EVERY_S seconds. */
    for (int i = 0; i < TRICKLE_CONNECTIONS && sent < sizeof request - 1; i++)
      (void)send(fds[i], request + sent, 1, MSG_NOSIGNAL);
    sent++;
    /* Meanwhile a normal client is served promptly. */
    struct itest_http h;
    itest_get(&f->env, "/healthz", &h);
    ITEST_EXPECT(h, 200);
    if (h.seconds > worst)
      worst = h.seconds;
    itest_http_free(&h);
    sleep_s(TRICKLE_EVERY_S);
  }
  print_message("slowest normal request during the trickle: %.3f s\n", worst);
  assert_true(worst < 1.0);
  int cut = 0;
  for (int i = 0; i < TRICKLE_CONNECTIONS; i++) {
    cut += closed_by_peer(fds[i]);
    close(fds[i]);
  }
  print_message("%d of %d trickling connections cut off\n", cut,
                TRICKLE_CONNECTIONS);
  assert_int_equal(cut, TRICKLE_CONNECTIONS);
}

static void test_longpoll_cap_per_token(void **state)
{
  struct fx *f = *state;
  struct itest_client bob;
  struct itest_call polls[LONGPOLL_CAP];

  itest_client_init(&bob, "bob@example.com");
  itest_client_enrol(&f->env, &bob);
  for (int i = 0; i < LONGPOLL_CAP; i++)
    itest_call_start(&polls[i], &f->env, "CD-List", bob.token,
                     json_pack("{s:i}", "Wait", 3));
  itest_let_poll_suspend();
  /* One more with the same token is refused; another token is not. */
  struct itest_http h;
  itest_list(&f->env, &bob, 3, &h);
  ITEST_EXPECT(h, 429);
  assert_non_null(strstr(h.body, "\"Retry\""));
  itest_http_free(&h);
  itest_list(&f->env, &f->alice, 0, &h);
  ITEST_EXPECT(h, 200);
  itest_http_free(&h);
  for (int i = 0; i < LONGPOLL_CAP; i++) {
    itest_call_join(&polls[i]);
    ITEST_EXPECT(polls[i].h, 200);
    itest_http_free(&polls[i].h);
  }
  /* Once they ended, the token may wait again. */
  itest_list(&f->env, &bob, 1, &h);
  ITEST_EXPECT(h, 200);
  itest_http_free(&h);
  itest_client_free(&bob);
}

/* Sends GET /healthz on fd and waits (bounded) for the answer: true for a
 * 200, false when the server closed the connection without one. */
static bool healthz_served(int fd)
{
  static const char request[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  char reply[64] = {0};
  struct pollfd p = {.fd = fd, .events = POLLIN};

  (void)send(fd, request, sizeof request - 1, MSG_NOSIGNAL);
  if (poll(&p, 1, 5000) <= 0)
    itest_fail("neither an answer nor a close within 5 s");
  ssize_t n = recv(fd, reply, sizeof reply - 1, 0);
  if (n <= 0)
    return false;
  if (strncmp(reply, "HTTP/1.1 200", 12) != 0)
    itest_fail("unexpected answer: %s", reply);
  return true;
}

static void test_per_ip_connection_cap(void **state)
{
  struct fx *f = *state;
  unsigned port = port_of(&f->env);
  int held[PER_IP_CAP];

  for (int i = 0; i < PER_IP_CAP; i++) {
    held[i] = connect_from("127.0.0.1", port);
    assert_true(healthz_served(held[i]));
  }
  /* One more from the same address is refused ... */
  int over = connect_from("127.0.0.1", port);
  assert_false(healthz_served(over));
  close(over);
  /* ... while another address is served meanwhile. */
  int other = connect_from("127.0.0.2", port);
  assert_true(healthz_served(other));
  close(other);
  /* A connection closed makes room again (once the server noticed). */
  close(held[0]);
  bool again = false;
  for (double end = itest_now() + 5; !again && itest_now() < end;) {
    int fd = connect_from("127.0.0.1", port);
    again = healthz_served(fd);
    close(fd);
    if (!again)
      sleep_s(0.1);
  }
  assert_true(again);
  for (int i = 1; i < PER_IP_CAP; i++)
    close(held[i]);
}

/* ---- systemd ------------------------------------------------------------- */

/* The next notification within timeout_s into msg; false on timeout. */
static bool notification(int fd, double timeout_s, char *msg, size_t size)
{
  struct pollfd p = {.fd = fd, .events = POLLIN};
  if (poll(&p, 1, (int)(timeout_s * 1000)) <= 0)
    return false;
  ssize_t n = recv(fd, msg, size - 1, 0);
  assert_true(n >= 0);
  msg[n] = '\0';
  return true;
}

/* Waits (10 s at most) for the next notification other than WATCHDOG=1
 * (those are counted in *watchdogs) and fails unless it starts with want.
 * The whole message is left in msg. */
static void expect_notification(int fd, const char *want, int *watchdogs,
                                char *msg, size_t size)
{
  double deadline = itest_now() + 10;
  for (;;) {
    double left = deadline - itest_now();
    if (left <= 0 || !notification(fd, left, msg, size))
      itest_fail("no %s notification within 10 s", want);
    if (strcmp(msg, "WATCHDOG=1") == 0) {
      (*watchdogs)++;
      continue;
    }
    if (strncmp(msg, want, strlen(want)) != 0)
      itest_fail("expected %s, got '%s'", want, msg);
    return;
  }
}

static void test_systemd_notify(void **state)
{
  struct fx *f = *state;
  char msg[512];
  int watchdogs = 0;

  expect_notification(f->notify_fd, "READY=1", &watchdogs, msg, sizeof msg);
  /* Serving: WATCHDOG=1 every half WATCHDOG_USEC (0.5 s), nothing else.
   * Those already queued are not counted. */
  while (notification(f->notify_fd, 0, msg, sizeof msg))
    if (strcmp(msg, "WATCHDOG=1") != 0)
      itest_fail("unexpected notification while serving: '%s'", msg);
  int ticks = 0;
  for (double end = itest_now() + 2; itest_now() < end;) {
    if (!notification(f->notify_fd, end - itest_now(), msg, sizeof msg))
      break;
    if (strcmp(msg, "WATCHDOG=1") != 0)
      itest_fail("unexpected notification while serving: '%s'", msg);
    ticks++;
  }
  print_message("%d WATCHDOG=1 in 2 s\n", ticks);
  assert_in_range(ticks, 3, 5);
  /* SIGHUP: RELOADING=1 with the monotonic time, then READY=1 again. */
  assert_int_equal(kill(f->env.pid, SIGHUP), 0);
  expect_notification(f->notify_fd, "RELOADING=1", &watchdogs, msg, sizeof msg);
  assert_non_null(strstr(msg, "\nMONOTONIC_USEC="));
  expect_notification(f->notify_fd, "READY=1", &watchdogs, msg, sizeof msg);
  struct itest_http h;
  itest_get(&f->env, "/healthz", &h);
  ITEST_EXPECT(h, 200);
  itest_http_free(&h);
  /* SIGTERM: STOPPING=1, then a clean exit. */
  itest_stop(&f->env);
  expect_notification(f->notify_fd, "STOPPING=1", &watchdogs, msg, sizeof msg);
  while (notification(f->notify_fd, 0, msg, sizeof msg))
    if (strcmp(msg, "WATCHDOG=1") != 0)
      itest_fail("unexpected notification after STOPPING=1: '%s'", msg);
}

/* ---- observability ------------------------------------------------------- */

static double metric(const struct itest_env *e, const char *series)
{
  struct itest_http h;
  itest_get(e, "/metrics", &h);
  ITEST_EXPECT(h, 200);
  testutil_assert_exposition_valid(h.body);
  double v = testutil_exposition_value(h.body, series);
  itest_http_free(&h);
  return v;
}

/* Requests are counted when they complete, just after the client has the
 * reply: wait (bounded) for series to reach at least want; returns it. */
static double metric_reaching(const struct itest_env *e, const char *series,
                              double want)
{
  double deadline = itest_now() + 3, v;
  while ((v = metric(e, series)) < want && itest_now() < deadline)
    sleep_s(0.05);
  return v;
}

static void test_metrics(void **state)
{
  struct fx *f = *state;
  const char *healthz =
      "owcp_http_requests_total{route=\"/healthz\",status=\"200\"}";
  struct itest_http h;

  itest_get(&f->env, "/healthz", &h);
  ITEST_EXPECT(h, 200);
  itest_http_free(&h);
  double before = metric_reaching(&f->env, healthz, 1);
  assert_true(before >= 1);
  for (int i = 0; i < 3; i++) {
    itest_get(&f->env, "/healthz", &h);
    itest_http_free(&h);
  }
  assert_true(metric_reaching(&f->env, healthz, before + 3) == before + 3);
  itest_get(&f->env, "/metrics", &h);
  ITEST_EXPECT(h, 200);
  assert_true(testutil_exposition_value(
                  h.body, "owcp_process_start_time_seconds") > 1.7e9);
  assert_true(testutil_exposition_value(h.body, "owcp_longpolls_held") >= 0);
  assert_true(testutil_exposition_value(h.body, "owcp_http_connections") >= 1);
  /* The pool's gauges are present (-1: absent); a background thread may
   * hold a connection at the moment of the scrape, so only their range is
   * fixed. */
  double in_use =
      testutil_exposition_value(h.body, "owcp_db_pool_connections_in_use");
  assert_true(in_use >= 0 && in_use <= 64);
  assert_true(testutil_exposition_value(h.body, "owcp_db_pool_waits_total") >=
              0);
  assert_true(testutil_exposition_value(
                  h.body, "owcp_db_pool_wait_seconds_total") >= 0);
  assert_true(testutil_exposition_value(h.body, "owcp_db_group_calls_total") >=
              testutil_exposition_value(h.body, "owcp_db_group_commits_total"));
  assert_true(
      testutil_exposition_value(h.body, "owcp_db_group_commits_total") >= 0);
  assert_non_null(
      strstr(h.body, "# TYPE owcp_http_request_duration_seconds histogram"));
  itest_http_free(&h);
  /* The sweeper samples the database every 5 s. */
  double deadline = itest_now() + 8;
  while (metric(&f->env, "owcp_completion_backlog") < 0) {
    if (itest_now() > deadline)
      itest_fail("owcp_completion_backlog never appeared");
    sleep_s(0.5);
  }
  assert_true(metric(&f->env, "owcp_log_seal_lag_seconds") >= 0);
}

static void test_access_log(void **state)
{
  struct fx *f = *state;
  struct itest_http h;

  itest_get(&f->env, "/healthz?secret=query-s3cr3t", &h);
  ITEST_EXPECT(h, 200);
  itest_http_free(&h);
  itest_list(&f->env, &f->alice, 0, &h);
  ITEST_EXPECT(h, 200);
  itest_http_free(&h);
  itest_get(&f->env, "/no/such/path?x=query-s3cr3t", &h);
  ITEST_EXPECT(h, 404);
  itest_http_free(&h);
  itest_post_raw(&f->env, "CD-List", NULL, "application/json", "{}", 2,
                 &h); /* no token: 401 */
  itest_http_free(&h);
  itest_get(&f->env, "/owcp/0.1/CD-List", &h);
  ITEST_EXPECT(h, 405);
  itest_http_free(&h);

  /* The line is written as the request completes: allow a moment. */
  char *log = NULL;
  double deadline = itest_now() + 3;
  do {
    free(log);
    sleep_s(0.2);
    log = slurp(f->env.stderr_path);
  } while (strstr(log, "method=GET route=- status=405") == NULL &&
           itest_now() < deadline);
  assert_non_null(strstr(log, "\"event\":\"http.access\""));
  assert_non_null(strstr(log, "method=GET route=/healthz status=200"));
  assert_non_null(
      strstr(log, "method=POST route=/owcp/0.1/CD-List status=200"));
  assert_non_null(
      strstr(log, "method=POST route=/owcp/0.1/CD-List status=401"));
  assert_non_null(strstr(log, "method=GET route=- status=404"));
  /* 405: no route matched, so no route is named. */
  assert_non_null(strstr(log, "method=GET route=- status=405"));
  assert_non_null(strstr(log, "client=127.0.0.1"));
  assert_null(strstr(log, "query-s3cr3t"));
  assert_null(strstr(log, f->alice.token));
  assert_null(strstr(log, f->token));
  /* One spelling per level, and every line is a JSON object. */
  assert_int_equal(count_of(log, "\"log_level\":\"warning\""), 0);
  assert_int_equal(count_of(log, "\"level\""), 0);
  free(log);
}

static void test_sigterm_exits_zero(void **state)
{
  struct fx *f = *state;
  struct itest_call poll;

  /* A long poll in flight is answered, then the process exits 0. */
  itest_call_start(&poll, &f->env, "CD-List", f->alice.token,
                   json_pack("{s:i}", "Wait", 20));
  itest_let_poll_suspend();
  itest_stop(&f->env);
  itest_call_join(&poll);
  ITEST_EXPECT(poll.h, 200);
  itest_http_free(&poll.h);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_tls_versions, setup_tls, teardown),
      cmocka_unit_test_setup_teardown(test_receiver_tls_versions, setup_tls,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_sighup_reload_keeps_long_poll,
                                      setup_tls, teardown),
      cmocka_unit_test_setup_teardown(test_slow_trickle_cut_off, setup_limits,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_longpoll_cap_per_token, setup_limits,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_per_ip_connection_cap, setup_per_ip,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_systemd_notify, setup_notify,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_metrics, setup_plain, teardown),
      cmocka_unit_test_setup_teardown(test_access_log, setup_plain, teardown),
      cmocka_unit_test_setup_teardown(test_sigterm_exits_zero, setup_plain,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
