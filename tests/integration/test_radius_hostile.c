/*
 * test_radius_hostile.c — the bridge's RADIUS client against lying UDP
 * servers: a thread of this program that answers the client's first
 * Access-Request with a scripted series of datagrams (forged Response
 * Authenticator, wrong secret, missing or wrong Message-Authenticator,
 * wrong identifier, oversized, truncated, garbage, from another port, or
 * genuine). The replies and the checks of the request on the wire are
 * computed here with OpenSSL's one-shot MD5 and HMAC, independently of
 * enrollment-bridge/radius.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "radius.h"
#include "radius_itest.h"

#define SECRET "owcp-liar-secret"
#define USER "EXAMPLE\\alice"
#define PASSWORD "4711-123456-0123456789" /* two PAP blocks */
#define TIMEOUT_MS 200
#define MAX_SCRIPT 4
#define MAX_SEEN 4

/* What one scripted datagram is. */
enum lie {
  GENUINE,
  ZERO_AUTH,    /* Access-Accept with an all-zero Response Authenticator */
  WRONG_SECRET, /* everything signed with another secret */
  NO_MA,        /* correctly signed, no Message-Authenticator */
  WRONG_MA,     /* right Response Authenticator, wrong Message-Auth. */
  WRONG_ID,     /* correctly signed for another identifier */
  OVERSIZED,    /* correctly signed, 4200 octets */
  TRUNCATED,    /* the first 30 octets of a genuine reply */
  GARBAGE,      /* 7 octets of text */
  OTHER_PORT,   /* genuine, but sent from another port */
};

struct liar {
  int fd, fd_other;
  unsigned short port;
  enum lie script[MAX_SCRIPT];
  size_t script_len;
  pthread_t thread;
  atomic_bool stop;
  unsigned char seen[MAX_SEEN][RADIUS_MAX_PACKET]; /* requests received */
  size_t seen_len[MAX_SEEN];
  size_t seen_count;
};

/* The liar thread may not assert (cmocka's failure jumps belong to the
 * main thread): these return 0 or -1, and a wrong digest shows up as a
 * failed test anyway. */
static int md5(const void *data, size_t len, unsigned char out[16])
{
  return EVP_Digest(data, len, out, NULL, EVP_md5(), NULL) == 1 ? 0 : -1;
}

/* MD5(data + suffix), for the Response Authenticator. */
static int md5_then(const void *data, size_t len, const char *suffix,
                    unsigned char out[16])
{
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  int ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_md5(), NULL) == 1 &&
           EVP_DigestUpdate(ctx, data, len) == 1 &&
           EVP_DigestUpdate(ctx, suffix, strlen(suffix)) == 1 &&
           EVP_DigestFinal_ex(ctx, out, NULL) == 1;
  EVP_MD_CTX_free(ctx);
  return ok ? 0 : -1;
}

static int hmac_md5(const char *key, const void *data, size_t len,
                    unsigned char out[16])
{
  size_t out_len = 0;
  return EVP_Q_mac(NULL, "HMAC", NULL, "MD5", NULL, key, strlen(key), data, len,
                   out, 16, &out_len) != NULL &&
                 out_len == 16
             ? 0
             : -1;
}

/* Builds the datagram for lie in answer to req into out (RADIUS_MAX_PACKET
 * + 200 bytes); returns its length. */
static size_t build_reply(enum lie lie, const unsigned char *req,
                          unsigned char *out)
{
  const char *secret = lie == WRONG_SECRET ? "another-secret" : SECRET;
  size_t len = 20;
  size_t ma_at = 0;

  if (lie == GARBAGE) {
    static const unsigned char garbage[] = {'g', 'a', 'r', 'b', 'a', 'g', 'e'};
    memcpy(out, garbage, sizeof garbage);
    return sizeof garbage;
  }
  out[0] = RADIUS_CODE_ACCESS_ACCEPT;
  out[1] = (unsigned char)(lie == WRONG_ID ? req[1] + 1 : req[1]);
  if (lie != NO_MA) {
    out[len] = RADIUS_ATTR_MESSAGE_AUTHENTICATOR;
    out[len + 1] = 18;
    memset(out + len + 2, 0, 16);
    ma_at = len + 2;
    len += 18;
  }
  do { /* one Reply-Message, or enough of them for OVERSIZED */
    size_t n = lie == OVERSIZED ? 253 : 5;
    out[len] = RADIUS_ATTR_REPLY_MESSAGE;
    out[len + 1] = (unsigned char)(n + 2);
    memset(out + len + 2, 'm', n);
    len += n + 2;
  } while (lie == OVERSIZED && len < 4200 - 255);
  out[2] = (unsigned char)(len >> 8);
  out[3] = (unsigned char)len;
  /* Both authenticators are computed with the Request Authenticator in the
   * authenticator field (RFC 2865 §3, RFC 3579 §3.2). */
  memcpy(out + 4, req + 4, 16);
  if (ma_at != 0)
    (void)hmac_md5(lie == WRONG_MA ? "another-secret" : secret, out, len,
                   out + ma_at);
  (void)md5_then(out, len, secret, out + 4);
  if (lie == ZERO_AUTH)
    memset(out + 4, 0, 16);
  return lie == TRUNCATED ? 30 : len;
}

static void liar_answer(struct liar *l, const unsigned char *req,
                        const struct sockaddr_in *client)
{
  unsigned char out[RADIUS_MAX_PACKET + 200];

  for (size_t i = 0; i < l->script_len; i++) {
    size_t len = build_reply(l->script[i], req, out);
    int fd = l->script[i] == OTHER_PORT ? l->fd_other : l->fd;
    (void)sendto(fd, out, len, 0, (const struct sockaddr *)client,
                 sizeof *client);
  }
}

static void *liar_run(void *arg)
{
  struct liar *l = arg;

  while (!atomic_load(&l->stop)) {
    struct pollfd pfd = {.fd = l->fd, .events = POLLIN};
    if (poll(&pfd, 1, 20) <= 0)
      continue;
    unsigned char req[RADIUS_MAX_PACKET];
    struct sockaddr_in client;
    socklen_t client_len = sizeof client;
    ssize_t n = recvfrom(l->fd, req, sizeof req, 0, (struct sockaddr *)&client,
                         &client_len);
    if (n < 20 || l->seen_count == MAX_SEEN)
      continue;
    memcpy(l->seen[l->seen_count], req, (size_t)n);
    l->seen_len[l->seen_count] = (size_t)n;
    if (l->seen_count++ == 0) /* only the first try is answered */
      liar_answer(l, req, &client);
  }
  return NULL;
}

static int bound_socket(unsigned short *port)
{
  struct sockaddr_in addr = {.sin_family = AF_INET};
  socklen_t len = sizeof addr;
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

  assert_true(fd >= 0);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof addr), 0);
  assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
  *port = ntohs(addr.sin_port);
  return fd;
}

/* A liar on a fresh port, running its script (count datagrams). */
static struct liar *liar_start(const enum lie *script, size_t count)
{
  struct liar *l = calloc(1, sizeof *l);
  unsigned short other = 0;

  assert_non_null(l);
  assert_true(count <= MAX_SCRIPT);
  if (count > 0)
    memcpy(l->script, script, count * sizeof script[0]);
  l->script_len = count;
  l->fd = bound_socket(&l->port);
  l->fd_other = bound_socket(&other);
  atomic_init(&l->stop, false);
  assert_int_equal(pthread_create(&l->thread, NULL, liar_run, l), 0);
  return l;
}

/* Stops the thread, so that what it saw can be read; the caller frees l. */
static void liar_stop(struct liar *l)
{
  atomic_store(&l->stop, true);
  assert_int_equal(pthread_join(l->thread, NULL), 0);
  (void)close(l->fd);
  (void)close(l->fd_other);
}

/* radius_pap of USER / PASSWORD against the liars' ports. */
static void ask(struct liar *const *liars, size_t count, int retries,
                bool require_ma, struct radius_result *out)
{
  struct radius_config cfg;
  struct radius_server servers[2];
  unsigned short ports[2] = {0, 0};
  struct owcp_error err = {{0}};

  for (size_t i = 0; i < count; i++)
    ports[i] = liars[i]->port;
  radius_itest_config(&cfg, servers, ports, count, SECRET, TIMEOUT_MS, retries);
  cfg.require_message_authenticator = require_ma;
  if (radius_pap(&cfg, USER, PASSWORD, out, &err) != 0)
    fail_msg("radius_pap: %s", err.msg);
}

/* The value of the first attribute of type in the request, or NULL. */
static const unsigned char *request_attr(const unsigned char *req, size_t len,
                                         uint8_t type, size_t *value_len)
{
  for (size_t off = 20; off + 2 <= len && req[off + 1] >= 2;
       off += req[off + 1]) {
    if (req[off] == type) {
      *value_len = (size_t)req[off + 1] - 2;
      return req + off + 2;
    }
  }
  return NULL;
}

/* RFC 2865 §5.2 in reverse, written here independently of radius.c. */
static void pap_reveal(const unsigned char *hidden, size_t len,
                       const unsigned char *req_auth, char *out)
{
  unsigned char buf[sizeof SECRET - 1 + 16], b[16];

  assert_int_equal(len % 16, 0);
  for (size_t off = 0; off < len; off += 16) {
    memcpy(buf, SECRET, sizeof SECRET - 1);
    memcpy(buf + sizeof SECRET - 1, off == 0 ? req_auth : hidden + off - 16,
           16);
    assert_int_equal(md5(buf, sizeof buf, b), 0);
    for (size_t i = 0; i < 16; i++)
      out[off + i] = (char)(hidden[off + i] ^ b[i]);
  }
  out[len] = '\0';
}

static void test_request_on_the_wire(void **state)
{
  enum lie script[] = {GENUINE};
  struct liar *l = liar_start(script, 1);
  struct radius_result r;
  unsigned char copy[RADIUS_MAX_PACKET], mac[16];
  char password[RADIUS_PASSWORD_MAX + 1];
  size_t n = 0;

  (void)state;
  ask(&l, 1, 0, true, &r);
  liar_stop(l);
  assert_string_equal(radius_outcome_name(r.outcome), "ACCEPT");
  assert_true(r.reply.has_message_authenticator);
  assert_string_equal(r.reply.reply_message, "mmmmm");
  assert_int_equal(l->seen_count, 1);
  const unsigned char *req = l->seen[0];
  size_t len = l->seen_len[0];
  assert_int_equal(req[0], RADIUS_CODE_ACCESS_REQUEST);
  assert_int_equal(((size_t)req[2] << 8) | req[3], len);
  /* Message-Authenticator first, HMAC-MD5 over the packet with it zeroed */
  assert_int_equal(req[20], RADIUS_ATTR_MESSAGE_AUTHENTICATOR);
  assert_int_equal(req[21], 18);
  memcpy(copy, req, len);
  memset(copy + 22, 0, 16);
  assert_int_equal(hmac_md5(SECRET, copy, len, mac), 0);
  assert_memory_equal(mac, req + 22, 16);
  const unsigned char *v = request_attr(req, len, RADIUS_ATTR_USER_NAME, &n);
  assert_non_null(v);
  assert_int_equal(n, strlen(USER));
  assert_memory_equal(v, USER, n);
  v = request_attr(req, len, RADIUS_ATTR_USER_PASSWORD, &n);
  assert_non_null(v);
  assert_int_equal(n, 32);
  pap_reveal(v, n, req + 4, password);
  assert_string_equal(password, PASSWORD);
  v = request_attr(req, len, RADIUS_ATTR_NAS_IDENTIFIER, &n);
  assert_non_null(v);
  assert_memory_equal(v, "owcp-bridge", n);
  free(l);
}

struct refusal {
  enum lie lie;
  const char *why; /* in the diagnostics */
};

static void test_each_lie_refused(void **state)
{
  static const struct refusal refusals[] = {
      {ZERO_AUTH, "Response Authenticator does not verify"},
      {WRONG_SECRET, "Response Authenticator does not verify"},
      {NO_MA, "no Message-Authenticator"},
      {WRONG_MA, "Message-Authenticator does not verify"},
      {WRONG_ID, "does not match the request's"},
      {OVERSIZED, "longer than 4096 octets"},
      {TRUNCATED, "Length field says"},
      {GARBAGE, "datagram of 7 octets"},
      {OTHER_PORT, "another address or port"},
  };

  (void)state;
  for (size_t i = 0; i < sizeof refusals / sizeof refusals[0]; i++) {
    struct liar *l = liar_start(&refusals[i].lie, 1);
    struct radius_result r;
    ask(&l, 1, 0, true, &r);
    liar_stop(l);
    free(l);
    if (r.outcome != RADIUS_NO_ANSWER || r.dropped != 1 ||
        strstr(r.diagnostics, refusals[i].why) == NULL)
      fail_msg("lie %d: outcome %s, %u dropped, diagnostics '%s'",
               (int)refusals[i].lie, radius_outcome_name(r.outcome), r.dropped,
               r.diagnostics);
  }
}

static void test_missing_ma_allowed_when_not_required(void **state)
{
  enum lie script[] = {NO_MA};
  struct liar *l = liar_start(script, 1);
  struct radius_result r;

  (void)state;
  ask(&l, 1, 0, false, &r);
  liar_stop(l);
  free(l);
  assert_string_equal(radius_outcome_name(r.outcome), "ACCEPT");
  assert_false(r.reply.has_message_authenticator);
}

static void test_bogus_then_genuine(void **state)
{
  enum lie script[] = {ZERO_AUTH, WRONG_ID, OTHER_PORT, GENUINE};
  struct liar *l = liar_start(script, 4);
  struct radius_result r;

  (void)state;
  ask(&l, 1, 0, true, &r);
  liar_stop(l);
  free(l);
  assert_string_equal(radius_outcome_name(r.outcome), "ACCEPT");
  assert_int_equal(r.dropped, 3);
}

static void test_retransmission_resends_same_packet(void **state)
{
  struct liar *l = liar_start(NULL, 0); /* silent */
  struct radius_result r;

  (void)state;
  long long start_ms = radius_itest_now_ms();
  ask(&l, 1, 2, true, &r);
  long long took = radius_itest_now_ms() - start_ms;
  liar_stop(l);
  assert_string_equal(radius_outcome_name(r.outcome), "NO_ANSWER");
  assert_true(took >= 3LL * TIMEOUT_MS && took < 3LL * TIMEOUT_MS + 250);
  assert_int_equal(l->seen_count, 3);
  for (size_t i = 1; i < 3; i++) {
    assert_int_equal(l->seen_len[i], l->seen_len[0]);
    assert_memory_equal(l->seen[i], l->seen[0], l->seen_len[0]);
  }
  free(l);
}

static void test_failover_sends_fresh_packet(void **state)
{
  enum lie genuine[] = {GENUINE};
  struct liar *liars[2] = {liar_start(NULL, 0), liar_start(genuine, 1)};
  struct radius_result r;

  (void)state;
  ask(liars, 2, 0, true, &r);
  liar_stop(liars[0]);
  liar_stop(liars[1]);
  assert_string_equal(radius_outcome_name(r.outcome), "ACCEPT");
  assert_int_equal(r.server_index, 1);
  assert_int_equal(liars[0]->seen_count, 1);
  assert_int_equal(liars[1]->seen_count, 1);
  /* a new Request Authenticator for the next server */
  assert_memory_not_equal(liars[0]->seen[0] + 4, liars[1]->seen[0] + 4, 16);
  free(liars[0]);
  free(liars[1]);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_request_on_the_wire),
      cmocka_unit_test(test_each_lie_refused),
      cmocka_unit_test(test_missing_ma_allowed_when_not_required),
      cmocka_unit_test(test_bogus_then_genuine),
      cmocka_unit_test(test_retransmission_resends_same_packet),
      cmocka_unit_test(test_failover_sends_fresh_packet),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
