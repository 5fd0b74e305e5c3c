/*
 * radius.c — the enrollment bridge's PAP client (see radius.h for why it
 * exists and what it guarantees).
 */
#include "radius.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#define HEADER_LEN 20 /* Code, Identifier, Length, Authenticator */
#define MA_ATTR_LEN (2 + RADIUS_AUTH_LEN)

/* ---- cryptographic primitives (OpenSSL 3 EVP) ---------------------------- */

/* One piece of a message fed to a digest or MAC. */
struct chunk {
  const unsigned char *data;
  size_t len;
};

/* MD5 over the concatenated chunks. */
static int md5_chunks(const struct chunk *chunks, size_t n,
                      unsigned char out[RADIUS_AUTH_LEN],
                      struct owcp_error *err)
{
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  int ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_md5(), NULL) == 1;
  for (size_t i = 0; ok && i < n; i++)
    ok = EVP_DigestUpdate(ctx, chunks[i].data, chunks[i].len) == 1;
  unsigned int out_len = 0;
  ok = ok && EVP_DigestFinal_ex(ctx, out, &out_len) == 1 &&
       out_len == RADIUS_AUTH_LEN;
  EVP_MD_CTX_free(ctx); /* cleanses the digest state */
  if (!ok) {
    owcp_error_set_ssl(err, "MD5 is not available");
    return -1;
  }
  return 0;
}

/* HMAC-MD5 keyed with key over the concatenated chunks. */
static int hmac_md5_chunks(const unsigned char *key, size_t key_len,
                           const struct chunk *chunks, size_t n,
                           unsigned char out[RADIUS_AUTH_LEN],
                           struct owcp_error *err)
{
  EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
  EVP_MAC_CTX *ctx = mac != NULL ? EVP_MAC_CTX_new(mac) : NULL;
  char digest[] = "MD5";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_end()};
  int ok = ctx != NULL && EVP_MAC_init(ctx, key, key_len, params) == 1;
  for (size_t i = 0; ok && i < n; i++)
    ok = EVP_MAC_update(ctx, chunks[i].data, chunks[i].len) == 1;
  size_t out_len = 0;
  ok = ok && EVP_MAC_final(ctx, out, &out_len, RADIUS_AUTH_LEN) == 1 &&
       out_len == RADIUS_AUTH_LEN;
  EVP_MAC_CTX_free(ctx); /* cleanses the key schedule */
  EVP_MAC_free(mac);
  if (!ok) {
    owcp_error_set_ssl(err, "HMAC-MD5 is not available");
    return -1;
  }
  return 0;
}

int radius_message_authenticator(const unsigned char *pkt, size_t len,
                                 size_t ma_offset, const unsigned char *auth,
                                 const unsigned char *secret, size_t secret_len,
                                 unsigned char mac[RADIUS_AUTH_LEN],
                                 struct owcp_error *err)
{
  static const unsigned char zeros[RADIUS_AUTH_LEN];
  if (len < HEADER_LEN || ma_offset < HEADER_LEN + 2 ||
      ma_offset > len - RADIUS_AUTH_LEN) {
    owcp_error_set(err, "Message-Authenticator lies outside the packet");
    return -1;
  }
  const struct chunk chunks[] = {
      {pkt, 4},
      {auth != NULL ? auth : pkt + 4, RADIUS_AUTH_LEN},
      {pkt + HEADER_LEN, ma_offset - HEADER_LEN},
      {zeros, RADIUS_AUTH_LEN},
      {pkt + ma_offset + RADIUS_AUTH_LEN, len - ma_offset - RADIUS_AUTH_LEN},
  };
  return hmac_md5_chunks(secret, secret_len, chunks,
                         sizeof chunks / sizeof chunks[0], mac, err);
}

int radius_pap_hide(const unsigned char *secret, size_t secret_len,
                    const unsigned char req_auth[RADIUS_AUTH_LEN],
                    const char *password, size_t pw_len,
                    unsigned char out[RADIUS_PASSWORD_MAX], size_t *out_len,
                    struct owcp_error *err)
{
  if (pw_len > RADIUS_PASSWORD_MAX) {
    owcp_error_set(err, "password is %zu octets; RADIUS PAP allows at most %d",
                   pw_len, RADIUS_PASSWORD_MAX);
    return -1;
  }
  size_t padded = pw_len == 0 ? RADIUS_AUTH_LEN
                              : (pw_len + RADIUS_AUTH_LEN - 1) /
                                    RADIUS_AUTH_LEN * RADIUS_AUTH_LEN;
  memset(out, 0, padded);
  memcpy(out, password, pw_len);
  unsigned char b[RADIUS_AUTH_LEN];
  int rc = 0;
  /* b1 = MD5(S + RA), bi = MD5(S + c(i-1)); ci = pi XOR bi */
  for (size_t off = 0; off < padded && rc == 0; off += RADIUS_AUTH_LEN) {
    const struct chunk chunks[] = {
        {secret, secret_len},
        {off == 0 ? req_auth : out + off - RADIUS_AUTH_LEN, RADIUS_AUTH_LEN},
    };
    rc = md5_chunks(chunks, 2, b, err);
    for (size_t i = 0; rc == 0 && i < RADIUS_AUTH_LEN; i++)
      out[off + i] ^= b[i];
  }
  OPENSSL_cleanse(b, sizeof b);
  if (rc != 0) {
    OPENSSL_cleanse(out, padded);
    return -1;
  }
  *out_len = padded;
  return 0;
}

/* ---- the Access-Request -------------------------------------------------- */

/* Checks what radius_request_encode() needs from the configuration and the
 * caller, so that radius_pap() refuses bad input before it sends anything. */
static int request_input_check(const struct radius_config *cfg,
                               const char *user, const char *password,
                               struct owcp_error *err)
{
  if (cfg->secret == NULL || cfg->secret_len == 0) {
    owcp_error_set(err, "radius: the shared secret is empty");
    return -1;
  }
  size_t nas_len = cfg->nas_identifier != NULL
                       ? strnlen(cfg->nas_identifier, RADIUS_ATTR_VALUE_MAX + 1)
                       : 0;
  if (nas_len == 0 || nas_len > RADIUS_ATTR_VALUE_MAX) {
    owcp_error_set(err, "radius: nas_identifier must have 1 to %d octets",
                   RADIUS_ATTR_VALUE_MAX);
    return -1;
  }
  size_t user_len = user != NULL ? strnlen(user, RADIUS_ATTR_VALUE_MAX + 1) : 0;
  if (user_len == 0 || user_len > RADIUS_ATTR_VALUE_MAX) {
    owcp_error_set(err, "radius: the user name must have 1 to %d octets",
                   RADIUS_ATTR_VALUE_MAX);
    return -1;
  }
  if (password == NULL ||
      strnlen(password, RADIUS_PASSWORD_MAX + 1) > RADIUS_PASSWORD_MAX) {
    owcp_error_set(err, "radius: the password must have at most %d octets",
                   RADIUS_PASSWORD_MAX);
    return -1;
  }
  return 0;
}

/* Appends one attribute at *off; the caller has checked that it fits. */
static void attr_put(unsigned char *pkt, size_t *off, uint8_t type,
                     const void *value, size_t len)
{
  pkt[*off] = type;
  pkt[*off + 1] = (unsigned char)(2 + len);
  memcpy(pkt + *off + 2, value, len);
  *off += 2 + len;
}

int radius_request_encode(const struct radius_config *cfg, const char *user,
                          const char *password, uint8_t id,
                          const unsigned char req_auth[RADIUS_AUTH_LEN],
                          unsigned char pkt[RADIUS_MAX_PACKET], size_t *len,
                          struct owcp_error *err)
{
  if (request_input_check(cfg, user, password, err) != 0)
    return -1;
  unsigned char hidden[RADIUS_PASSWORD_MAX];
  size_t hidden_len = 0;
  if (radius_pap_hide(cfg->secret, cfg->secret_len, req_auth, password,
                      strlen(password), hidden, &hidden_len, err) != 0)
    return -1;
  pkt[0] = RADIUS_CODE_ACCESS_REQUEST;
  pkt[1] = id;
  memcpy(pkt + 4, req_auth, RADIUS_AUTH_LEN);
  size_t off = HEADER_LEN;
  /* First, so that nothing an attacker might influence precedes it. */
  static const unsigned char zeros[RADIUS_AUTH_LEN];
  size_t ma_offset = off + 2;
  attr_put(pkt, &off, RADIUS_ATTR_MESSAGE_AUTHENTICATOR, zeros, sizeof zeros);
  attr_put(pkt, &off, RADIUS_ATTR_USER_NAME, user, strlen(user));
  attr_put(pkt, &off, RADIUS_ATTR_USER_PASSWORD, hidden, hidden_len);
  OPENSSL_cleanse(hidden, sizeof hidden);
  attr_put(pkt, &off, RADIUS_ATTR_NAS_IDENTIFIER, cfg->nas_identifier,
           strlen(cfg->nas_identifier));
  pkt[2] = (unsigned char)(off >> 8);
  pkt[3] = (unsigned char)(off & 0xff);
  if (radius_message_authenticator(pkt, off, ma_offset, NULL, cfg->secret,
                                   cfg->secret_len, pkt + ma_offset,
                                   err) != 0) {
    OPENSSL_cleanse(pkt, off);
    return -1;
  }
  *len = off;
  return 0;
}

/* ---- the reply ----------------------------------------------------------- */

/* Where radius_reply_check() found the attributes it cares about. */
struct reply_attrs {
  size_t ma_offset; /* value offset of Message-Authenticator, 0: none */
};

/* Collects one attribute of the reply into out / found. */
static int reply_attr_take(const unsigned char *pkt, size_t off,
                           struct reply_attrs *found, struct radius_reply *out,
                           struct owcp_error *err)
{
  uint8_t type = pkt[off];
  size_t vlen = (size_t)pkt[off + 1] - 2;
  const unsigned char *value = pkt + off + 2;
  switch (type) {
  case RADIUS_ATTR_MESSAGE_AUTHENTICATOR:
    if (found->ma_offset != 0) {
      owcp_error_set(err, "more than one Message-Authenticator");
      return -1;
    }
    if (vlen != RADIUS_AUTH_LEN) {
      owcp_error_set(err, "Message-Authenticator has %zu octets, not 16", vlen);
      return -1;
    }
    found->ma_offset = off + 2;
    return 0;
  case RADIUS_ATTR_STATE:
    if (out->state_len != 0 || vlen == 0) {
      owcp_error_set(err, "State is empty or appears more than once");
      return -1;
    }
    memcpy(out->state, value, vlen);
    out->state_len = vlen;
    return 0;
  case RADIUS_ATTR_REPLY_MESSAGE:
    /* Fits: all attribute values together are shorter than the packet. */
    memcpy(out->reply_message + out->reply_message_len, value, vlen);
    out->reply_message_len += vlen;
    out->reply_message[out->reply_message_len] = '\0';
    return 0;
  default:
    return 0;
  }
}

/* Walks the attributes of the len-byte packet with strict bounds. */
static int reply_attrs_parse(const unsigned char *pkt, size_t len,
                             struct reply_attrs *found,
                             struct radius_reply *out, struct owcp_error *err)
{
  size_t off = HEADER_LEN;
  while (off < len) {
    if (len - off < 2) {
      owcp_error_set(err, "attribute header at offset %zu is truncated", off);
      return -1;
    }
    size_t alen = pkt[off + 1];
    if (alen < 2 || alen > len - off) {
      owcp_error_set(err, "attribute %u at offset %zu has length %zu, which %s",
                     pkt[off], off, alen,
                     alen < 2 ? "is below 2" : "runs past the end");
      return -1;
    }
    if (reply_attr_take(pkt, off, found, out, err) != 0)
      return -1;
    off += alen;
  }
  return 0;
}

/* Header checks: sizes, code, identifier. */
static int reply_header_check(const unsigned char *pkt, size_t len, uint8_t id,
                              struct owcp_error *err)
{
  if (len < HEADER_LEN || len > RADIUS_MAX_PACKET) {
    owcp_error_set(err, "datagram of %zu octets (a RADIUS packet has 20 to %d)",
                   len, RADIUS_MAX_PACKET);
    return -1;
  }
  size_t field = ((size_t)pkt[2] << 8) | pkt[3];
  if (field != len) {
    owcp_error_set(err, "Length field says %zu but the datagram has %zu octets",
                   field, len);
    return -1;
  }
  if (pkt[0] != RADIUS_CODE_ACCESS_ACCEPT &&
      pkt[0] != RADIUS_CODE_ACCESS_REJECT &&
      pkt[0] != RADIUS_CODE_ACCESS_CHALLENGE) {
    owcp_error_set(err, "code %u is not Access-Accept, -Reject or -Challenge",
                   pkt[0]);
    return -1;
  }
  if (pkt[1] != id) {
    owcp_error_set(err, "identifier %u does not match the request's %u", pkt[1],
                   id);
    return -1;
  }
  return 0;
}

/* Response Authenticator = MD5(Code+ID+Length+RequestAuth+Attributes+Secret)
 * (RFC 2865 §3). */
static int response_auth_check(const unsigned char *pkt, size_t len,
                               const unsigned char req_auth[RADIUS_AUTH_LEN],
                               const unsigned char *secret, size_t secret_len,
                               struct owcp_error *err)
{
  const struct chunk chunks[] = {
      {pkt, 4},
      {req_auth, RADIUS_AUTH_LEN},
      {pkt + HEADER_LEN, len - HEADER_LEN},
      {secret, secret_len},
  };
  unsigned char expect[RADIUS_AUTH_LEN];
  if (md5_chunks(chunks, sizeof chunks / sizeof chunks[0], expect, err) != 0)
    return -1;
  if (CRYPTO_memcmp(expect, pkt + 4, RADIUS_AUTH_LEN) != 0) {
    owcp_error_set(err, "Response Authenticator does not verify (forged, or "
                        "a different shared secret)");
    return -1;
  }
  return 0;
}

/* The reply's Message-Authenticator, computed over the Request
 * Authenticator (RFC 3579 §3.2). */
static int reply_ma_check(const unsigned char *pkt, size_t len,
                          size_t ma_offset,
                          const unsigned char req_auth[RADIUS_AUTH_LEN],
                          const unsigned char *secret, size_t secret_len,
                          struct owcp_error *err)
{
  unsigned char expect[RADIUS_AUTH_LEN];
  if (radius_message_authenticator(pkt, len, ma_offset, req_auth, secret,
                                   secret_len, expect, err) != 0)
    return -1;
  if (CRYPTO_memcmp(expect, pkt + ma_offset, RADIUS_AUTH_LEN) != 0) {
    owcp_error_set(err, "Message-Authenticator does not verify");
    return -1;
  }
  return 0;
}

int radius_reply_check(const unsigned char *pkt, size_t len,
                       const unsigned char req_auth[RADIUS_AUTH_LEN],
                       uint8_t id, const unsigned char *secret,
                       size_t secret_len, bool require_ma,
                       struct radius_reply *out, struct owcp_error *err)
{
  memset(out, 0, sizeof *out);
  struct reply_attrs found = {0};
  if (reply_header_check(pkt, len, id, err) != 0 ||
      reply_attrs_parse(pkt, len, &found, out, err) != 0 ||
      response_auth_check(pkt, len, req_auth, secret, secret_len, err) != 0)
    return -1;
  if (found.ma_offset == 0 && require_ma) {
    owcp_error_set(err, "no Message-Authenticator, and one is required "
                        "(require_message_authenticator)");
    return -1;
  }
  if (found.ma_offset != 0 &&
      reply_ma_check(pkt, len, found.ma_offset, req_auth, secret, secret_len,
                     err) != 0)
    return -1;
  out->code = pkt[0];
  out->has_message_authenticator = found.ma_offset != 0;
  return 0;
}

const char *radius_outcome_name(enum radius_outcome outcome)
{
  switch (outcome) {
  case RADIUS_ACCEPT:
    return "ACCEPT";
  case RADIUS_REJECT:
    return "REJECT";
  case RADIUS_CHALLENGE:
    return "CHALLENGE";
  case RADIUS_NO_ANSWER:
    return "NO_ANSWER";
  }
  return "?";
}

/* ---- the exchange -------------------------------------------------------- */

/* Appends one sentence to out->diagnostics ("; "-separated, truncated). */
static void __attribute__((format(printf, 2, 3)))
note(struct radius_result *out, const char *fmt, ...)
{
  size_t used = strlen(out->diagnostics);
  if (used + 3 >= sizeof out->diagnostics)
    return;
  if (used > 0) {
    memcpy(out->diagnostics + used, "; ", 3);
    used += 2;
  }
  va_list ap;
  va_start(ap, fmt);
  (void)vsnprintf(out->diagnostics + used, sizeof out->diagnostics - used, fmt,
                  ap);
  va_end(ap);
}

/* One server being asked: its resolved address and the packet for it. */
struct exchange {
  const struct radius_config *cfg;
  const struct radius_server *server;
  struct sockaddr_storage addr;
  socklen_t addr_len;
  int fd;
  uint8_t id;
  unsigned char req_auth[RADIUS_AUTH_LEN];
  unsigned char pkt[RADIUS_MAX_PACKET];
  size_t pkt_len;
};

static long long now_ms(void)
{
  struct timespec ts;
  (void)clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* True when the datagram came from the server's own address and port. */
static bool same_endpoint(const struct sockaddr_storage *a,
                          const struct sockaddr_storage *b)
{
  if (a->ss_family != b->ss_family)
    return false;
  if (a->ss_family == AF_INET) {
    const struct sockaddr_in *x = (const struct sockaddr_in *)a;
    const struct sockaddr_in *y = (const struct sockaddr_in *)b;
    return x->sin_port == y->sin_port &&
           x->sin_addr.s_addr == y->sin_addr.s_addr;
  }
  if (a->ss_family == AF_INET6) {
    const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)a;
    const struct sockaddr_in6 *y = (const struct sockaddr_in6 *)b;
    return x->sin6_port == y->sin6_port &&
           memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0;
  }
  return false;
}

/* Resolves the server and opens a UDP socket of its family. Returns 0, 1
 * when the server cannot be resolved (noted; the next server is tried), or
 * -1 for a local failure. */
static int exchange_open(struct exchange *ex, struct radius_result *out,
                         struct owcp_error *err)
{
  char port[8];
  (void)snprintf(port, sizeof port, "%u", ex->server->port);
  struct addrinfo hints = {.ai_family = AF_UNSPEC,
                           .ai_socktype = SOCK_DGRAM,
                           .ai_protocol = IPPROTO_UDP,
                           .ai_flags = AI_NUMERICSERV};
  struct addrinfo *ai = NULL;
  int gai = getaddrinfo(ex->server->host, port, &hints, &ai);
  if (gai != 0 || ai == NULL) {
    note(out, "%s:%u: cannot resolve: %s", ex->server->host, ex->server->port,
         gai_strerror(gai));
    return 1;
  }
  memcpy(&ex->addr, ai->ai_addr, ai->ai_addrlen);
  ex->addr_len = ai->ai_addrlen;
  ex->fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDP);
  freeaddrinfo(ai);
  if (ex->fd < 0) {
    owcp_error_set(err, "radius: cannot open a UDP socket: %s",
                   strerror(errno));
    return -1;
  }
  return 0;
}

/* Takes one datagram waiting on the socket. Returns 1 when it is a valid
 * reply (out->reply filled), 0 when it was dropped or none was there. */
static int exchange_receive(struct exchange *ex, struct radius_result *out)
{
  unsigned char buf[RADIUS_MAX_PACKET + 1];
  struct sockaddr_storage from;
  socklen_t from_len = sizeof from;
  ssize_t n = recvfrom(ex->fd, buf, sizeof buf, MSG_DONTWAIT | MSG_TRUNC,
                       (struct sockaddr *)&from, &from_len);
  if (n < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
      note(out, "%s:%u: receive failed: %s", ex->server->host, ex->server->port,
           strerror(errno));
    return 0;
  }
  const char *why = NULL;
  struct owcp_error check = {{0}};
  if (!same_endpoint(&from, &ex->addr))
    why = "it came from another address or port";
  else if ((size_t)n > RADIUS_MAX_PACKET)
    why = "it is longer than 4096 octets";
  else if (radius_reply_check(buf, (size_t)n, ex->req_auth, ex->id,
                              ex->cfg->secret, ex->cfg->secret_len,
                              ex->cfg->require_message_authenticator,
                              &out->reply, &check) != 0)
    why = check.msg;
  if (why != NULL) {
    out->dropped++;
    note(out, "%s:%u: dropped a datagram of %zd octets: %s", ex->server->host,
         ex->server->port, n, why);
    return 0;
  }
  return 1;
}

/* Waits until deadline (monotonic ms) for a valid reply, dropping invalid
 * datagrams. Returns 1 with out->reply filled, 0 on timeout, -1 when
 * poll() fails. */
static int exchange_wait(struct exchange *ex, long long deadline,
                         struct radius_result *out, struct owcp_error *err)
{
  for (;;) {
    long long left = deadline - now_ms();
    if (left <= 0)
      return 0;
    struct pollfd pfd = {.fd = ex->fd, .events = POLLIN};
    int ready = poll(&pfd, 1, (int)left);
    if (ready < 0 && errno != EINTR) {
      owcp_error_set(err, "radius: poll failed: %s", strerror(errno));
      return -1;
    }
    if (ready > 0 && exchange_receive(ex, out) == 1)
      return 1;
  }
}

/* Sends the packet 1 + retries times to one server, each try waiting
 * timeout_ms. Returns 1 with an answer, 0 without, -1 on local failure. */
static int exchange_run(struct exchange *ex, struct radius_result *out,
                        struct owcp_error *err)
{
  for (int attempt = 0; attempt <= ex->cfg->retries; attempt++) {
    long long deadline = now_ms() + ex->cfg->timeout_ms;
    if (sendto(ex->fd, ex->pkt, ex->pkt_len, 0,
               (const struct sockaddr *)&ex->addr, ex->addr_len) < 0) {
      note(out, "%s:%u: send failed: %s", ex->server->host, ex->server->port,
           strerror(errno));
      continue;
    }
    int rc = exchange_wait(ex, deadline, out, err);
    if (rc != 0)
      return rc;
  }
  note(out, "%s:%u: no valid answer to %d tries of %d ms", ex->server->host,
       ex->server->port, ex->cfg->retries + 1, ex->cfg->timeout_ms);
  return 0;
}

/* Asks one server: a fresh identifier, Request Authenticator and socket. */
static int ask_server(const struct radius_config *cfg, size_t index,
                      const char *user, const char *password,
                      struct radius_result *out, struct owcp_error *err)
{
  struct exchange ex = {.cfg = cfg, .server = &cfg->servers[index], .fd = -1};
  int rc = exchange_open(&ex, out, err);
  if (rc != 0)
    return rc < 0 ? -1 : 0;
  if (RAND_bytes(&ex.id, 1) != 1 ||
      RAND_bytes(ex.req_auth, sizeof ex.req_auth) != 1) {
    owcp_error_set_ssl(err, "radius: no random bytes");
    rc = -1;
  } else if (radius_request_encode(cfg, user, password, ex.id, ex.req_auth,
                                   ex.pkt, &ex.pkt_len, err) != 0) {
    rc = -1;
  } else {
    rc = exchange_run(&ex, out, err);
  }
  OPENSSL_cleanse(ex.pkt, sizeof ex.pkt);
  (void)close(ex.fd);
  return rc;
}

/* Checks the parts of the configuration radius_request_encode() does not. */
static int config_check(const struct radius_config *cfg, struct owcp_error *err)
{
  if (cfg->servers == NULL || cfg->server_count == 0) {
    owcp_error_set(err, "radius: no server configured");
    return -1;
  }
  if (cfg->timeout_ms < 1 || cfg->retries < 0) {
    owcp_error_set(err, "radius: timeout_ms must be ≥ 1 and retries ≥ 0");
    return -1;
  }
  for (size_t i = 0; i < cfg->server_count; i++) {
    const struct radius_server *s = &cfg->servers[i];
    if (memchr(s->host, '\0', sizeof s->host) == NULL || s->host[0] == '\0' ||
        s->port == 0) {
      owcp_error_set(err, "radius: server %zu needs a host and a port", i + 1);
      return -1;
    }
  }
  return 0;
}

static enum radius_outcome outcome_of(uint8_t code)
{
  switch (code) {
  case RADIUS_CODE_ACCESS_ACCEPT:
    return RADIUS_ACCEPT;
  case RADIUS_CODE_ACCESS_REJECT:
    return RADIUS_REJECT;
  default: /* radius_reply_check() lets only the three codes through */
    return RADIUS_CHALLENGE;
  }
}

int radius_pap(const struct radius_config *cfg, const char *user,
               const char *password, struct radius_result *out,
               struct owcp_error *err)
{
  memset(out, 0, sizeof *out);
  out->outcome = RADIUS_NO_ANSWER;
  if (config_check(cfg, err) != 0 ||
      request_input_check(cfg, user, password, err) != 0)
    return -1;
  for (size_t i = 0; i < cfg->server_count; i++) {
    int rc = ask_server(cfg, i, user, password, out, err);
    if (rc < 0)
      return -1;
    if (rc == 1) {
      out->outcome = outcome_of(out->reply.code);
      out->server_index = i;
      return 0;
    }
  }
  memset(&out->reply, 0, sizeof out->reply);
  return 0;
}
