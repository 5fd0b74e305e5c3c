/*
 * sip_transport.c — SIP over UDP, TCP and TLS (sip_transport.h): one
 * poll() loop on the I/O thread, a bounded worker pool for the handler.
 */
#define _GNU_SOURCE /* accept4, pipe2 */
#include "sip_transport.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "owcp/service/daemon.h"
#include "owcp/service/log.h"
#include "sip_message.h"

#define READ_CHUNK 16384
#define IN_MAX (SIP_MAX_MESSAGE + SIP_MAX_HEAD)
#define OUT_MAX ((size_t)4 * SIP_MAX_MESSAGE)

struct sip_conn {
  atomic_int refs;
  int fd;
  SSL *ssl; /* NULL on TCP */
  bool handshaken;
  char ip[INET6_ADDRSTRLEN];
  unsigned port;
  int wake_fd; /* the transport's wake pipe (write end) */
  time_t since, last;
  char *in; /* I/O thread only */
  size_t in_len;
  pthread_mutex_t lock; /* out, out_len, closed */
  char *out;
  size_t out_len;
  bool closed;
};

struct sip_source {
  const char *transport;
  int udp_fd; /* UDP: the socket; else -1 */
  struct sockaddr_storage addr;
  socklen_t alen;
  struct sip_conn *conn; /* streams */
  char ip[INET6_ADDRSTRLEN];
  unsigned port;
};

struct job {
  struct sip_source src;
  char *msg;
  size_t len;
};

struct sip_transport {
  struct sip_transport_config cfg;
  int udp, tcp, tls; /* listening sockets or -1 */
  unsigned short ports[3];
  int wake[2];
  pthread_mutex_t ctx_lock;
  SSL_CTX *ctx;
  struct sip_conn *conns[SIP_MAX_CONNECTIONS];
  atomic_bool stopping;
  pthread_t io;
  bool io_started;
  /* the worker queue */
  pthread_mutex_t lock;
  pthread_cond_t ready;
  struct job queue[SIP_QUEUE];
  size_t head, count;
  pthread_t workers[SIP_WORKERS];
  size_t started;
  char dgram[SIP_MAX_MESSAGE + 1]; /* the I/O thread's datagram buffer */
};

/* ---- connections ----------------------------------------------------------
 */

static void conn_unref(struct sip_conn *c)
{
  if (c == NULL || atomic_fetch_sub(&c->refs, 1) != 1)
    return;
  SSL_free(c->ssl);
  if (c->fd >= 0)
    close(c->fd);
  free(c->in);
  free(c->out);
  pthread_mutex_destroy(&c->lock);
  free(c);
}

static void conn_close(struct sip_transport *t, size_t i)
{
  struct sip_conn *c = t->conns[i];
  pthread_mutex_lock(&c->lock);
  c->closed = true;
  pthread_mutex_unlock(&c->lock);
  if (c->ssl != NULL && c->handshaken)
    (void)SSL_shutdown(c->ssl);
  shutdown(c->fd, SHUT_RDWR);
  t->conns[i] = NULL;
  conn_unref(c);
}

static void addr_text(const struct sockaddr_storage *a, char *ip, size_t n,
                      unsigned *port)
{
  if (a->ss_family == AF_INET6) {
    const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)a;
    inet_ntop(AF_INET6, &s->sin6_addr, ip, (socklen_t)n);
    *port = ntohs(s->sin6_port);
  } else {
    const struct sockaddr_in *s = (const struct sockaddr_in *)a;
    inet_ntop(AF_INET, &s->sin_addr, ip, (socklen_t)n);
    *port = ntohs(s->sin_port);
  }
}

/* ---- the worker pool ------------------------------------------------------
 */

static void enqueue(struct sip_transport *t, const struct sip_source *src,
                    const char *msg, size_t len)
{
  char *copy = malloc(len + 1);
  if (copy == NULL)
    return;
  memcpy(copy, msg, len);
  copy[len] = '\0';
  pthread_mutex_lock(&t->lock);
  if (t->count == SIP_QUEUE) {
    pthread_mutex_unlock(&t->lock);
    free(copy);
    svc_log(SVC_LOG_WARN, "sip", "%s message from %s dropped: %d queued",
            src->transport, src->ip, SIP_QUEUE);
    return;
  }
  struct job *j = &t->queue[(t->head + t->count) % SIP_QUEUE];
  j->src = *src;
  if (j->src.conn != NULL)
    atomic_fetch_add(&j->src.conn->refs, 1);
  j->msg = copy;
  j->len = len;
  t->count++;
  pthread_cond_signal(&t->ready);
  pthread_mutex_unlock(&t->lock);
}

static void *work(void *arg)
{
  struct sip_transport *t = arg;
  pthread_mutex_lock(&t->lock);
  for (;;) {
    while (t->count == 0 && !atomic_load(&t->stopping))
      pthread_cond_wait(&t->ready, &t->lock);
    if (t->count == 0)
      break;
    struct job j = t->queue[t->head];
    t->head = (t->head + 1) % SIP_QUEUE;
    t->count--;
    pthread_mutex_unlock(&t->lock);
    if (!atomic_load(&t->stopping))
      t->cfg.handle(t->cfg.app, &j.src, j.msg, j.len);
    free(j.msg);
    conn_unref(j.src.conn);
    pthread_mutex_lock(&t->lock);
  }
  pthread_mutex_unlock(&t->lock);
  return NULL;
}

/* ---- sources ----------------------------------------------------------------
 */

const char *sip_source_transport(const struct sip_source *src)
{
  return src->transport;
}

const char *sip_source_ip(const struct sip_source *src)
{
  return src->ip;
}

unsigned sip_source_port(const struct sip_source *src)
{
  return src->port;
}

int sip_source_send(const struct sip_source *src, const char *msg, size_t len)
{
  if (src->conn == NULL)
    return sendto(src->udp_fd, msg, len, 0, (const struct sockaddr *)&src->addr,
                  src->alen) == (ssize_t)len
               ? 0
               : -1;
  struct sip_conn *c = src->conn;
  int rc = -1;
  pthread_mutex_lock(&c->lock);
  if (!c->closed && c->out_len + len <= OUT_MAX) {
    char *o = realloc(c->out, c->out_len + len);
    if (o != NULL) {
      memcpy(o + c->out_len, msg, len);
      c->out = o;
      c->out_len += len;
      rc = 0;
    }
  }
  pthread_mutex_unlock(&c->lock);
  if (rc == 0) /* the I/O thread writes it */
    (void)!write(c->wake_fd, "w", 1);
  return rc;
}

/* ---- reading ----------------------------------------------------------------
 */

static void source_of_conn(struct sip_conn *c, struct sip_source *src)
{
  memset(src, 0, sizeof *src);
  src->transport = c->ssl ? "TLS" : "TCP";
  src->udp_fd = -1;
  src->conn = c;
  snprintf(src->ip, sizeof src->ip, "%s", c->ip);
  src->port = c->port;
}

/* Hands every complete message of c->in to the workers; false when the
 * stream cannot be framed. */
static bool frame_all(struct sip_transport *t, struct sip_conn *c)
{
  struct sip_source src;
  source_of_conn(c, &src);
  for (;;) {
    size_t skip = 0;
    long n = sip_frame(c->in, c->in_len, &skip);
    if (n < 0) {
      svc_log(SVC_LOG_INFO, "sip", "%s connection from %s closed: not SIP",
              src.transport, c->ip);
      return false;
    }
    if (n > 0)
      enqueue(t, &src, c->in + skip, (size_t)n);
    size_t used = n > 0 ? skip + (size_t)n : skip;
    memmove(c->in, c->in + used, c->in_len - used);
    c->in_len -= used;
    if (n == 0)
      return true;
  }
}

/* Reads what c has; false to close it. */
static bool conn_read(struct sip_transport *t, struct sip_conn *c)
{
  if (c->ssl != NULL && !c->handshaken) {
    int r = SSL_accept(c->ssl);
    if (r == 1) {
      c->handshaken = true;
    } else {
      int e = SSL_get_error(c->ssl, r);
      ERR_clear_error();
      return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE;
    }
  }
  for (;;) {
    if (c->in_len == IN_MAX)
      return false;
    size_t room = IN_MAX - c->in_len;
    if (room > READ_CHUNK)
      room = READ_CHUNK;
    ssize_t n;
    if (c->ssl != NULL) {
      int r = SSL_read(c->ssl, c->in + c->in_len, (int)room);
      if (r <= 0) {
        int e = SSL_get_error(c->ssl, r);
        ERR_clear_error();
        return (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) &&
               frame_all(t, c);
      }
      n = r;
    } else {
      n = recv(c->fd, c->in + c->in_len, room, 0);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return frame_all(t, c);
      if (n <= 0)
        return false;
    }
    c->in_len += (size_t)n;
    c->last = time(NULL);
    if (c->ssl == NULL && (size_t)n < room)
      return frame_all(t, c);
  }
}

/* Writes what is queued on c; false to close it. */
static bool conn_write(struct sip_conn *c)
{
  pthread_mutex_lock(&c->lock);
  bool ok = true;
  while (ok && c->out_len > 0 && (c->ssl == NULL || c->handshaken)) {
    ssize_t n;
    if (c->ssl != NULL) {
      int r = SSL_write(c->ssl, c->out, (int)c->out_len);
      if (r <= 0) {
        int e = SSL_get_error(c->ssl, r);
        ERR_clear_error();
        ok = e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ;
        break;
      }
      n = r;
    } else {
      n = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL);
      if (n < 0) {
        ok = errno == EAGAIN || errno == EWOULDBLOCK;
        break;
      }
    }
    memmove(c->out, c->out + n, c->out_len - (size_t)n);
    c->out_len -= (size_t)n;
  }
  pthread_mutex_unlock(&c->lock);
  return ok;
}

static bool has_output(struct sip_conn *c)
{
  pthread_mutex_lock(&c->lock);
  bool out = c->out_len > 0;
  pthread_mutex_unlock(&c->lock);
  return out;
}

static void accept_one(struct sip_transport *t, int lfd, bool tls)
{
  struct sockaddr_storage a;
  socklen_t alen = sizeof a;
  memset(&a, 0, sizeof a); /* what accept4 does not fill stays defined */
  int fd =
      accept4(lfd, (struct sockaddr *)&a, &alen, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0)
    return;
  size_t slot = SIP_MAX_CONNECTIONS;
  for (size_t i = 0; i < SIP_MAX_CONNECTIONS && slot == SIP_MAX_CONNECTIONS;
       i++)
    if (t->conns[i] == NULL)
      slot = i;
  struct sip_conn *c = slot < SIP_MAX_CONNECTIONS ? calloc(1, sizeof *c) : NULL;
  if (c == NULL || (c->in = malloc(IN_MAX)) == NULL) {
    free(c);
    close(fd);
    svc_log(SVC_LOG_WARN, "sip", "connection refused: %d open",
            SIP_MAX_CONNECTIONS);
    return;
  }
  atomic_init(&c->refs, 1);
  pthread_mutex_init(&c->lock, NULL);
  c->fd = fd;
  c->wake_fd = t->wake[1];
  c->since = c->last = time(NULL);
  addr_text(&a, c->ip, sizeof c->ip, &c->port);
  if (tls) {
    pthread_mutex_lock(&t->ctx_lock);
    c->ssl = SSL_new(t->ctx);
    pthread_mutex_unlock(&t->ctx_lock);
    if (c->ssl == NULL || SSL_set_fd(c->ssl, fd) != 1) {
      ERR_clear_error();
      conn_unref(c);
      return;
    }
  }
  t->conns[slot] = c;
}

static void read_datagram(struct sip_transport *t)
{
  char *buf = t->dgram;
  struct sip_source src;
  memset(&src, 0, sizeof src);
  src.transport = "UDP";
  src.udp_fd = t->udp;
  src.alen = sizeof src.addr;
  ssize_t n = recvfrom(t->udp, buf, sizeof t->dgram, MSG_TRUNC,
                       (struct sockaddr *)&src.addr, &src.alen);
  if (n <= 0 || (size_t)n > SIP_MAX_MESSAGE)
    return; /* over the limit, or a keep-alive: dropped */
  addr_text(&src.addr, src.ip, sizeof src.ip, &src.port);
  size_t skip = 0;
  while (skip + 1 < (size_t)n && buf[skip] == '\r' && buf[skip + 1] == '\n')
    skip += 2;
  if (skip < (size_t)n)
    enqueue(t, &src, buf + skip, (size_t)n - skip);
}

/* Idle and slow-handshake connections. */
static void expire(struct sip_transport *t, time_t now)
{
  for (size_t i = 0; i < SIP_MAX_CONNECTIONS; i++) {
    struct sip_conn *c = t->conns[i];
    if (c != NULL &&
        (now - c->last > SIP_IDLE_S ||
         (c->ssl && !c->handshaken && now - c->since > SIP_HANDSHAKE_S)))
      conn_close(t, i);
  }
}

static void *io_loop(void *arg)
{
  struct sip_transport *t = arg;
  struct pollfd fds[4 + SIP_MAX_CONNECTIONS];
  size_t map[4 + SIP_MAX_CONNECTIONS];
  while (!atomic_load(&t->stopping)) {
    size_t n = 0;
    fds[n++] = (struct pollfd){.fd = t->wake[0], .events = POLLIN};
    fds[n++] = (struct pollfd){.fd = t->udp, .events = POLLIN};
    fds[n++] = (struct pollfd){.fd = t->tcp, .events = POLLIN};
    fds[n++] = (struct pollfd){.fd = t->tls, .events = POLLIN};
    for (size_t i = 0; i < SIP_MAX_CONNECTIONS; i++)
      if (t->conns[i] != NULL) {
        short ev = POLLIN;
        if (has_output(t->conns[i]))
          ev |= POLLOUT;
        map[n] = i;
        fds[n++] = (struct pollfd){.fd = t->conns[i]->fd, .events = ev};
      }
    if (poll(fds, n, 1000) < 0 && errno != EINTR)
      break;
    if (fds[0].revents & POLLIN) {
      char drain[64];
      while (read(t->wake[0], drain, sizeof drain) > 0)
        ;
    }
    if (fds[1].revents & POLLIN)
      read_datagram(t);
    for (size_t i = 4; i < n; i++) {
      struct sip_conn *c = t->conns[map[i]];
      bool ok = true;
      if (fds[i].revents & (POLLIN | POLLERR | POLLHUP))
        ok = conn_read(t, c);
      if (ok)
        ok = conn_write(c);
      if (!ok)
        conn_close(t, map[i]);
    }
    if (fds[2].revents & POLLIN)
      accept_one(t, t->tcp, false);
    if (fds[3].revents & POLLIN)
      accept_one(t, t->tls, true);
    expire(t, time(NULL));
  }
  return NULL;
}

/* ---- start and stop ---------------------------------------------------------
 */

static int bind_one(const struct svc_listen *l, int type, const char *what,
                    unsigned short *port, struct owcp_error *err)
{
  struct addrinfo hints = {.ai_family = AF_UNSPEC,
                           .ai_socktype = type,
                           .ai_flags = AI_NUMERICHOST | AI_PASSIVE};
  struct addrinfo *ai = NULL;
  char service[8];
  snprintf(service, sizeof service, "%u", (unsigned)l->port);
  if (getaddrinfo(l->host, service, &hints, &ai) != 0) {
    owcp_error_set(err, "[mras] %s: not a numeric address: %s", what, l->host);
    return -1;
  }
  int fd = socket(ai->ai_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  if (fd >= 0)
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 ||
      (type == SOCK_STREAM && listen(fd, 64) != 0)) {
    owcp_error_set(err, "[mras] %s: cannot listen on %s:%u: %s", what, l->host,
                   (unsigned)l->port, strerror(errno));
    if (fd >= 0)
      close(fd);
    freeaddrinfo(ai);
    return -1;
  }
  freeaddrinfo(ai);
  struct sockaddr_storage a;
  socklen_t alen = sizeof a;
  memset(&a, 0, sizeof a);
  char ip[INET6_ADDRSTRLEN];
  unsigned p = 0;
  if (getsockname(fd, (struct sockaddr *)&a, &alen) == 0)
    addr_text(&a, ip, sizeof ip, &p);
  *port = (unsigned short)p;
  return fd;
}

static SSL_CTX *tls_context(const char *cert, const char *key,
                            struct owcp_error *err)
{
  SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == NULL || SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION) != 1 ||
      SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(ctx) != 1) {
    owcp_error_set_ssl(err, "[mras] sip_tls: cannot use %s and %s", cert, key);
    SSL_CTX_free(ctx);
    return NULL;
  }
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                            SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  return ctx;
}

static bool wanted(const struct svc_listen *l)
{
  return l != NULL && l->host[0] != '\0';
}

static int listeners(struct sip_transport *t, struct owcp_error *err)
{
  const struct sip_transport_config *c = &t->cfg;
  if (wanted(c->udp) &&
      (t->udp = bind_one(c->udp, SOCK_DGRAM, "sip_udp", &t->ports[0], err)) < 0)
    return -1;
  if (wanted(c->tcp) && (t->tcp = bind_one(c->tcp, SOCK_STREAM, "sip_tcp",
                                           &t->ports[1], err)) < 0)
    return -1;
  if (wanted(c->tls)) {
    if ((t->ctx = tls_context(c->tls_cert, c->tls_key, err)) == NULL)
      return -1;
    if ((t->tls = bind_one(c->tls, SOCK_STREAM, "sip_tls", &t->ports[2], err)) <
        0)
      return -1;
  }
  return 0;
}

struct sip_transport *sip_transport_start(const struct sip_transport_config *c,
                                          struct owcp_error *err)
{
  struct sip_transport *t = calloc(1, sizeof *t);
  if (t == NULL) {
    owcp_error_set(err, "out of memory");
    return NULL;
  }
  t->cfg = *c;
  t->udp = t->tcp = t->tls = t->wake[0] = t->wake[1] = -1;
  pthread_mutex_init(&t->lock, NULL);
  pthread_mutex_init(&t->ctx_lock, NULL);
  pthread_cond_init(&t->ready, NULL);
  if (pipe2(t->wake, O_NONBLOCK | O_CLOEXEC) != 0) {
    owcp_error_set(err, "pipe: %s", strerror(errno));
    sip_transport_stop(t);
    return NULL;
  }
  if (listeners(t, err) != 0) {
    sip_transport_stop(t);
    return NULL;
  }
  for (; t->started < SIP_WORKERS; t->started++)
    if (svc_thread_create(&t->workers[t->started], work, t, err) != 0) {
      sip_transport_stop(t);
      return NULL;
    }
  if (svc_thread_create(&t->io, io_loop, t, err) != 0) {
    sip_transport_stop(t);
    return NULL;
  }
  t->io_started = true;
  return t;
}

unsigned short sip_transport_port(const struct sip_transport *t,
                                  const char *which)
{
  if (t == NULL)
    return 0;
  if (strcmp(which, "udp") == 0)
    return t->ports[0];
  if (strcmp(which, "tcp") == 0)
    return t->ports[1];
  return t->ports[2];
}

int sip_transport_reload(struct sip_transport *t, struct owcp_error *err)
{
  if (t == NULL || t->tls < 0)
    return 0;
  SSL_CTX *ctx = tls_context(t->cfg.tls_cert, t->cfg.tls_key, err);
  if (ctx == NULL)
    return -1;
  pthread_mutex_lock(&t->ctx_lock);
  SSL_CTX *old = t->ctx;
  t->ctx = ctx;
  pthread_mutex_unlock(&t->ctx_lock);
  SSL_CTX_free(old); /* live connections hold their own reference */
  return 0;
}

void sip_transport_stop(struct sip_transport *t)
{
  if (t == NULL)
    return;
  atomic_store(&t->stopping, true);
  if (t->wake[1] >= 0)
    (void)!write(t->wake[1], "s", 1);
  if (t->io_started)
    pthread_join(t->io, NULL);
  pthread_mutex_lock(&t->lock);
  pthread_cond_broadcast(&t->ready);
  pthread_mutex_unlock(&t->lock);
  for (size_t i = 0; i < t->started; i++)
    pthread_join(t->workers[i], NULL);
  for (size_t i = 0; i < SIP_MAX_CONNECTIONS; i++)
    if (t->conns[i] != NULL)
      conn_close(t, i);
  int fds[] = {t->udp, t->tcp, t->tls, t->wake[0], t->wake[1]};
  for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
    if (fds[i] >= 0)
      close(fds[i]);
  SSL_CTX_free(t->ctx);
  pthread_mutex_destroy(&t->lock);
  pthread_mutex_destroy(&t->ctx_lock);
  pthread_cond_destroy(&t->ready);
  free(t);
}
