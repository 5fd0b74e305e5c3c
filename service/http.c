/*
 * http.c — the HTTP(S) front (http.h).
 *
 * Deadlines. libmicrohttpd's MHD_OPTION_CONNECTION_TIMEOUT is an idle
 * timeout: every byte restarts it, so a client sending one byte every few
 * seconds holds a connection forever. The layer therefore tracks every
 * connection (MHD_OPTION_NOTIFY_CONNECTION gives its socket) with a
 * deadline by phase:
 *   headers — from accept, or from the end of the previous request on a
 *             kept-alive connection, until the access handler first runs
 *             (header_timeout_ms);
 *   body    — from then until the upload is complete (body_timeout_ms);
 *   none    — while the handler works, a long poll waits or the reply is
 *             sent (the idle timeout still applies).
 * A reaper thread shuts down (shutdown(2)) the socket of a connection past
 * its deadline; libmicrohttpd then sees the end of the stream and closes
 * it as usual. The list lock is held across shutdown() and across the
 * close notification, so a descriptor is never shut down after
 * libmicrohttpd has closed (and perhaps reused) it.
 *
 * Reload. libmicrohttpd cannot swap TLS credentials in a running daemon,
 * so a reload starts a second daemon on the same listening socket
 * (MHD_OPTION_LISTEN_SOCKET) with the new credentials, then quiesces the
 * old one (it stops accepting but serves what it has). The reaper stops a
 * retired daemon once it has no connection left or its drain time passed.
 */
#include "owcp/service/http.h"

#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "owcp/service/log.h"
#include "owcp/service/metrics.h"

/* A PEM certificate chain or key file; far above any real one. */
#define TLS_FILE_MAX ((size_t)1024 * 1024)
#define REAPER_TICK_MS 100
#define STOP_POLL_MS 20

/* One open connection and its deadline (0: none). */
struct conn_track {
  struct conn_track *prev, *next;
  int fd;
  int64_t deadline_ms;
  bool cut;
};

/* One libmicrohttpd daemon: the current one, or one retired by a reload. */
struct generation {
  struct generation *next;
  struct MHD_Daemon *mhd;
  int64_t retire_by_ms; /* when it is stopped whatever it still holds */
};

struct svc_http {
  struct svc_http_config cfg;
  struct svc_route builtin[2]; /* GET /healthz, GET /metrics */
  size_t builtin_count;
  bool tls;
  int listen_fd;
  unsigned short port;
  pthread_mutex_t gen_lock; /* guards current and retiring */
  struct generation *current, *retiring;
  pthread_mutex_t conn_lock; /* guards conns and every deadline */
  struct conn_track *conns;
  unsigned long conn_count;
  atomic_long active; /* requests in flight */
  atomic_bool stopping;
  pthread_t reaper;
  bool reaper_started;
  struct svc_metric *m_requests, *m_duration, *m_cut;
};

static int64_t now_ms(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void svc_http_config_defaults(struct svc_http_config *c)
{
  memset(c, 0, sizeof *c);
  c->threads = 8;
  c->max_connections = 16000;
  c->per_ip_connections = 256;
  c->max_body = (size_t)256 * 1024;
  c->idle_timeout_s = 120;
  c->header_timeout_ms = 10000;
  c->body_timeout_ms = 30000;
  c->drain_timeout_ms = 3600u * 1000u;
}

const char *svc_http_scheme(const struct svc_http *h)
{
  return h->tls ? "https" : "http";
}

unsigned short svc_http_port(const struct svc_http *h)
{
  return h->port;
}

/* ---- replies ------------------------------------------------------------ */

/* The route's own headers (struct svc_route.headers) that resp lacks. */
static void add_route_headers(struct MHD_Response *resp,
                              const struct svc_route *route)
{
  if (route == NULL || route->headers == NULL)
    return;
  for (const char *const *h = route->headers; h[0] != NULL && h[1] != NULL;
       h += 2)
    if (MHD_get_response_header(resp, h[0]) == NULL)
      (void)MHD_add_response_header(resp, h[0], h[1]);
}

enum MHD_Result svc_http_queue(struct svc_request *req, unsigned status,
                               struct MHD_Response *resp, size_t len)
{
  add_route_headers(resp, req->route);
  req->status = status;
  req->bytes = len;
  req->replied = true;
  return MHD_queue_response(req->con, status, resp);
}

/* An error the layer answers itself, in the daemon's format when it has
 * one. allow: the Allow header of a 405, else NULL; path_route: a route of
 * the request's path whose headers the reply carries (the matched route's
 * are added anyway), or NULL. */
static enum MHD_Result
reply_error(struct svc_request *req, unsigned status, const char *allow,
            const struct svc_route *path_route, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static enum MHD_Result reply_error(struct svc_request *req, unsigned status,
                                   const char *allow,
                                   const struct svc_route *path_route,
                                   const char *fmt, ...)
{
  char msg[OWCP_ERROR_MAX];
  va_list ap;
  size_t len = 0;
  struct MHD_Response *resp = NULL;

  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  svc_log(SVC_LOG_DEBUG, "http.refused", "%u: %s", status, msg);
  if (req->http->cfg.error != NULL)
    resp = req->http->cfg.error(req->http->cfg.app, status, msg, &len);
  if (resp == NULL) {
    char text[OWCP_ERROR_MAX + 2];
    len = (size_t)snprintf(text, sizeof text, "%s\n", msg);
    if (len >= sizeof text)
      len = sizeof text - 1;
    resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_COPY);
    if (resp == NULL)
      return MHD_NO;
    (void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                  "text/plain; charset=utf-8");
  }
  if (allow != NULL)
    (void)MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
  add_route_headers(resp, path_route);
  enum MHD_Result ret = svc_http_queue(req, status, resp, len);
  MHD_destroy_response(resp);
  return ret;
}

enum MHD_Result svc_http_reply(struct svc_request *req, unsigned status,
                               const char *type, char *body, size_t len)
{
  struct MHD_Response *resp =
      MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);

  if (resp == NULL) {
    free(body);
    return MHD_NO;
  }
  (void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
  (void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
                                "no-store");
  enum MHD_Result ret = svc_http_queue(req, status, resp, len);
  MHD_destroy_response(resp);
  return ret;
}

static enum MHD_Result serve_metrics(struct svc_request *req)
{
  size_t len = 0;
  char *text = svc_metrics_render(req->http->cfg.metrics, &len);

  if (text == NULL)
    return MHD_NO;
  return svc_http_reply(req, MHD_HTTP_OK,
                        "text/plain; version=0.0.4; charset=utf-8", text, len);
}

static enum MHD_Result serve_health_default(struct svc_request *req)
{
  char *text = strdup("ok\n");

  return text ? svc_http_reply(req, MHD_HTTP_OK, "text/plain", text, 3)
              : MHD_NO;
}

/* ---- connection deadlines ------------------------------------------------ */

static struct conn_track *track_of(struct MHD_Connection *con)
{
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(con, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

  return ci != NULL ? ci->socket_context : NULL;
}

/* Sets con's deadline ms from now (0: none). */
static void set_deadline(struct svc_http *h, struct MHD_Connection *con,
                         unsigned ms)
{
  struct conn_track *t = track_of(con);

  if (t == NULL)
    return;
  pthread_mutex_lock(&h->conn_lock);
  t->deadline_ms = ms > 0 ? now_ms() + ms : 0;
  pthread_mutex_unlock(&h->conn_lock);
}

static void on_connection(void *cls, struct MHD_Connection *con,
                          void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
  struct svc_http *h = cls;
  struct conn_track *t = *socket_context;

  if (code == MHD_CONNECTION_NOTIFY_STARTED) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(con, MHD_CONNECTION_INFO_CONNECTION_FD);
    t = calloc(1, sizeof *t);
    if (t == NULL || ci == NULL) {
      free(t); /* untracked: only the idle timeout applies to it */
      return;
    }
    t->fd = ci->connect_fd;
    pthread_mutex_lock(&h->conn_lock);
    t->deadline_ms = now_ms() + h->cfg.header_timeout_ms;
    t->next = h->conns;
    if (h->conns != NULL)
      h->conns->prev = t;
    h->conns = t;
    h->conn_count++;
    pthread_mutex_unlock(&h->conn_lock);
    *socket_context = t;
    return;
  }
  if (t == NULL)
    return;
  pthread_mutex_lock(&h->conn_lock);
  if (t->prev != NULL)
    t->prev->next = t->next;
  else
    h->conns = t->next;
  if (t->next != NULL)
    t->next->prev = t->prev;
  h->conn_count--;
  pthread_mutex_unlock(&h->conn_lock);
  free(t);
  *socket_context = NULL;
}

/* Shuts down every connection past its deadline; returns how many. */
static unsigned cut_late_connections(struct svc_http *h)
{
  unsigned cut = 0;
  int64_t now = now_ms();

  pthread_mutex_lock(&h->conn_lock);
  for (struct conn_track *t = h->conns; t != NULL; t = t->next) {
    if (t->cut || t->deadline_ms == 0 || now < t->deadline_ms)
      continue;
    (void)shutdown(t->fd, SHUT_RDWR);
    t->cut = true;
    cut++;
  }
  pthread_mutex_unlock(&h->conn_lock);
  return cut;
}

static unsigned current_connections(struct MHD_Daemon *mhd)
{
  const union MHD_DaemonInfo *info =
      MHD_get_daemon_info(mhd, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);

  return info != NULL ? info->num_connections : 0;
}

/* Stops the retired daemons that are done (or out of time). */
static void stop_retired(struct svc_http *h)
{
  int64_t now = now_ms();

  for (;;) {
    struct generation *done = NULL;
    pthread_mutex_lock(&h->gen_lock);
    for (struct generation **p = &h->retiring; *p != NULL; p = &(*p)->next)
      if (current_connections((*p)->mhd) == 0 || now >= (*p)->retire_by_ms) {
        done = *p;
        *p = done->next;
        break;
      }
    pthread_mutex_unlock(&h->gen_lock);
    if (done == NULL)
      return;
    /* Quiesced: stopping it leaves the shared listening socket open. */
    MHD_stop_daemon(done->mhd);
    free(done);
    svc_log(SVC_LOG_INFO, "http.reload", "the previous listener has stopped");
  }
}

static void *reaper_main(void *arg)
{
  struct svc_http *h = arg;

  while (!atomic_load(&h->stopping)) {
    unsigned cut = cut_late_connections(h);
    if (cut > 0) {
      svc_metric_add(h->m_cut, NULL, cut);
      svc_log(SVC_LOG_DEBUG, "http.deadline",
              "%u connection(s) cut off: header or body deadline passed", cut);
    }
    stop_retired(h);
    struct timespec ts = {0, REAPER_TICK_MS * 1000000L};
    nanosleep(&ts, NULL);
  }
  return NULL;
}

/* ---- requests ------------------------------------------------------------ */

static void client_address(struct MHD_Connection *con, char *out, size_t n)
{
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(con, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  const struct sockaddr *sa = ci != NULL ? ci->client_addr : NULL;
  socklen_t len = sa != NULL && sa->sa_family == AF_INET6
                      ? (socklen_t)sizeof(struct sockaddr_in6)
                      : (socklen_t)sizeof(struct sockaddr_in);

  if (sa == NULL ||
      getnameinfo(sa, len, out, (socklen_t)n, NULL, 0, NI_NUMERICHOST) != 0)
    snprintf(out, n, "-");
}

/* The request line has arrived: the request exists from here on (so its
 * duration counts from here), and libmicrohttpd hands the returned
 * pointer to every later callback. The URI is deliberately not kept. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *con)
{
  struct svc_http *h = cls;
  struct svc_request *req = calloc(1, sizeof *req);

  if (req == NULL)
    return NULL;
  req->http = h;
  req->con = con;
  req->app_ctx = h->cfg.app;
  clock_gettime(CLOCK_MONOTONIC, &req->started);
  client_address(con, req->client, sizeof req->client);
  svc_body_init(&req->body, h->cfg.max_body);
  atomic_fetch_add(&h->active, 1);
  return req;
}

static double seconds_since(const struct timespec *t0)
{
  struct timespec t1;

  clock_gettime(CLOCK_MONOTONIC, &t1);
  return (double)(t1.tv_sec - t0->tv_sec) +
         (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* The access-log line and the request metrics. Only the matched route's
 * path is logged: the URL may carry a query string, and no header (so no
 * token) is ever read here. */
static void account(struct svc_http *h, const struct svc_request *req)
{
  double s = seconds_since(&req->started);
  const char *route = req->route != NULL ? req->route->path : "-";
  char status[16];

  snprintf(status, sizeof status, "%u", req->status);
  svc_log(SVC_LOG_INFO, "http.access",
          "client=%s method=%s route=%s status=%u bytes=%zu ms=%.1f",
          req->client, req->method[0] ? req->method : "-", route, req->status,
          req->bytes, s * 1000.0);
  const char *labels[] = {req->route != NULL ? route : "unmatched", status};
  svc_metric_add(h->m_requests, labels, 1);
  svc_metric_observe(h->m_duration, labels, s);
}

static void on_completed(void *cls, struct MHD_Connection *con, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
  struct svc_http *h = cls;
  struct svc_request *req = *con_cls;

  (void)toe;
  *con_cls = NULL;
  /* The connection may carry another request: its headers are due in
   * time again. */
  set_deadline(h, con, h->cfg.header_timeout_ms);
  if (req == NULL)
    return;
  if (req->app_free != NULL && req->app != NULL)
    req->app_free(req->app);
  account(h, req);
  svc_body_free(&req->body);
  atomic_fetch_sub(&h->active, 1);
  free(req);
}

/* The route for path and method; with none, *allow lists the methods the
 * path has (empty when the path is unknown) and *path_route is the first
 * of its routes (NULL when none). */
static const struct svc_route *find_route(const struct svc_http *h,
                                          const char *path, const char *method,
                                          char *allow, size_t n,
                                          const struct svc_route **path_route)
{
  const struct svc_route *tables[] = {h->cfg.routes, h->builtin};
  const size_t counts[] = {h->cfg.route_count, h->builtin_count};

  allow[0] = '\0';
  *path_route = NULL;
  for (size_t t = 0; t < 2; t++)
    for (size_t i = 0; i < counts[t]; i++) {
      const struct svc_route *r = &tables[t][i];
      size_t plen = strlen(r->path);
      bool prefix = plen > 0 && r->path[plen - 1] == '*';
      if (prefix ? strncmp(r->path, path, plen - 1) != 0
                 : strcmp(r->path, path) != 0)
        continue;
      if (strcmp(r->method, method) == 0)
        return r;
      if (*path_route == NULL)
        *path_route = r;
      size_t used = strlen(allow);
      snprintf(allow + used, n - used, "%s%s", used ? ", " : "", r->method);
    }
  return NULL;
}

/* First call: headers are in. Route, method and declared length are
 * checked before any of the body is read. */
static enum MHD_Result first_call(struct svc_request *req, const char *url,
                                  const char *method)
{
  struct svc_http *h = req->http;
  char allow[128];
  const struct svc_route *path_route;

  req->seen = true;
  snprintf(req->method, sizeof req->method, "%s", method);
  req->path = url;
  set_deadline(h, req->con, h->cfg.body_timeout_ms);
  req->route = find_route(h, url, method, allow, sizeof allow, &path_route);
  if (req->route == NULL && allow[0] != '\0')
    return reply_error(req, MHD_HTTP_METHOD_NOT_ALLOWED, allow, path_route,
                       "Method %s is not allowed here.", req->method);
  if (req->route == NULL)
    return reply_error(req, MHD_HTTP_NOT_FOUND, NULL, NULL,
                       "There is nothing at this path.");
  if (svc_body_declared_too_large(req->con, h->cfg.max_body))
    return reply_error(req, MHD_HTTP_CONTENT_TOO_LARGE, NULL, NULL,
                       "The body is larger than %zu octets.", h->cfg.max_body);
  return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *con,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
  struct svc_request *req = *con_cls;

  (void)cls;
  (void)version;
  if (req == NULL)
    return MHD_NO; /* on_uri ran out of memory */
  if (!req->seen)
    return first_call(req, url, method);
  if (req->replied && !req->upload_done) {
    *upload_size = 0; /* an early refusal: discard the rest of the body */
    return MHD_YES;
  }
  if (*upload_size > 0)
    return svc_body_consume(&req->body, upload, upload_size) == 0 ? MHD_YES
                                                                  : MHD_NO;
  if (!req->upload_done) {
    req->upload_done = true;
    set_deadline(req->http, con, 0);
    if (req->body.too_large)
      return reply_error(req, MHD_HTTP_CONTENT_TOO_LARGE, NULL, NULL,
                         "The body is larger than %zu octets.",
                         req->http->cfg.max_body);
    if (svc_body_finish(&req->body) != 0)
      return MHD_NO;
  }
  return req->route->handle(req);
}

/* libmicrohttpd's own messages (TLS handshake failures, resource limits)
 * as log lines like every other. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
  char msg[512];

  (void)cls;
  vsnprintf(msg, sizeof msg, fmt, ap);
  size_t n = strlen(msg);
  while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
    msg[--n] = '\0';
  svc_log(SVC_LOG_WARN, "http.mhd", "%s", msg);
}

/* ---- daemons ------------------------------------------------------------- */

/* What a TLS listener loads, read from the files now (on start and on
 * reload); trust NULL when no client certificate is asked for. */
struct credentials {
  unsigned char *cert, *key, *trust;
  size_t key_len;
};

static void wipe_credentials(struct credentials *cr)
{
  if (cr->key != NULL)
    OPENSSL_cleanse(cr->key, cr->key_len);
  free(cr->key);
  free(cr->cert);
  free(cr->trust);
  memset(cr, 0, sizeof *cr);
}

static int read_credentials(const struct svc_http_config *c,
                            struct credentials *cr, struct owcp_error *err)
{
  size_t len = 0;

  memset(cr, 0, sizeof *cr);
  if (owcp_file_read(c->tls_cert_file, TLS_FILE_MAX, &cr->cert, &len, err) !=
          0 ||
      owcp_file_read(c->tls_key_file, TLS_FILE_MAX, &cr->key, &cr->key_len,
                     err) != 0 ||
      (c->tls_client_ca_file != NULL &&
       owcp_file_read(c->tls_client_ca_file, TLS_FILE_MAX, &cr->trust, &len,
                      err) != 0)) {
    wipe_credentials(cr);
    return -1;
  }
  return 0;
}

/* A daemon on sa (first start) or on the listening socket fd (reload). */
static struct MHD_Daemon *daemon_start(struct svc_http *h,
                                       const struct addrinfo *ai, int fd,
                                       const struct credentials *cr)
{
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
                   MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC | MHD_USE_ERROR_LOG;
  const struct svc_http_config *c = &h->cfg;
  struct MHD_OptionItem where[] = {
      {ai != NULL ? MHD_OPTION_SOCK_ADDR : MHD_OPTION_LISTEN_SOCKET,
       ai != NULL ? 0 : (intptr_t)fd, ai != NULL ? ai->ai_addr : NULL},
      {MHD_OPTION_END, 0, NULL}};
  /* MEM_TRUST makes libmicrohttpd request (GNUTLS_CERT_REQUEST, not
   * REQUIRE) a client certificate; it verifies nothing itself. */
  struct MHD_OptionItem tls[] = {
      {cr->cert != NULL ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0,
       (void *)cr->cert},
      {MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)cr->key},
      {MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)SVC_TLS_PRIORITIES},
      {cr->trust != NULL ? MHD_OPTION_HTTPS_MEM_TRUST : MHD_OPTION_END, 0,
       (void *)cr->trust},
      {MHD_OPTION_END, 0, NULL}};

  if (h->tls)
    flags |= MHD_USE_TLS;
  if ((ai != NULL && ai->ai_family == AF_INET6) ||
      (c->listen_host != NULL && strchr(c->listen_host, ':') != NULL))
    flags |= MHD_USE_IPv6;
  return MHD_start_daemon(
      flags, 0, NULL, NULL, &on_request, h, MHD_OPTION_ARRAY, where,
      MHD_OPTION_THREAD_POOL_SIZE, c->threads, MHD_OPTION_CONNECTION_LIMIT,
      c->max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
      c->per_ip_connections, MHD_OPTION_CONNECTION_TIMEOUT, c->idle_timeout_s,
      MHD_OPTION_URI_LOG_CALLBACK, &on_uri, h, MHD_OPTION_NOTIFY_COMPLETED,
      &on_completed, h, MHD_OPTION_NOTIFY_CONNECTION, &on_connection, h,
      MHD_OPTION_EXTERNAL_LOGGER, &mhd_log, h, MHD_OPTION_LISTEN_BACKLOG_SIZE,
      1024u, MHD_OPTION_ARRAY, tls, MHD_OPTION_END);
}

/* The first daemon: binds cfg's address. */
static int first_start(struct svc_http *h, struct owcp_error *err)
{
  struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_PASSIVE,
                           .ai_socktype = SOCK_STREAM};
  struct addrinfo *ai = NULL;
  struct credentials cr = {0};
  char port[8];

  snprintf(port, sizeof port, "%u", (unsigned)h->cfg.listen_port);
  if (h->cfg.listen_host == NULL ||
      getaddrinfo(h->cfg.listen_host, port, &hints, &ai) != 0) {
    owcp_error_set(err, "listen address '%s' is not a numeric IP address",
                   h->cfg.listen_host ? h->cfg.listen_host : "(none)");
    return -1;
  }
  if (h->tls && read_credentials(&h->cfg, &cr, err) != 0) {
    freeaddrinfo(ai);
    return -1;
  }
  struct MHD_Daemon *mhd = daemon_start(h, ai, -1, &cr);
  freeaddrinfo(ai);
  /* libmicrohttpd has loaded the credentials into GnuTLS: wipe ours. */
  wipe_credentials(&cr);
  if (mhd == NULL) {
    owcp_error_set(err,
                   "cannot listen on %s:%u (address in use, or TLS "
                   "certificate/key unusable)",
                   h->cfg.listen_host, (unsigned)h->cfg.listen_port);
    return -1;
  }
  const union MHD_DaemonInfo *fd =
      MHD_get_daemon_info(mhd, MHD_DAEMON_INFO_LISTEN_FD);
  const union MHD_DaemonInfo *bound =
      MHD_get_daemon_info(mhd, MHD_DAEMON_INFO_BIND_PORT);
  h->current = calloc(1, sizeof *h->current);
  if (fd == NULL || h->current == NULL) {
    MHD_stop_daemon(mhd);
    free(h->current);
    h->current = NULL;
    owcp_error_set(err, "cannot set up the listener");
    return -1;
  }
  h->current->mhd = mhd;
  h->listen_fd = fd->listen_fd;
  h->port = bound != NULL ? bound->port : h->cfg.listen_port;
  return 0;
}

static double held_connections(void *arg)
{
  struct svc_http *h = arg;

  pthread_mutex_lock(&h->conn_lock);
  double n = (double)h->conn_count;
  pthread_mutex_unlock(&h->conn_lock);
  return n;
}

static void register_metrics(struct svc_http *h)
{
  static const char *const route_status[] = {"route", "status", NULL};
  static const double seconds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                   1,     2.5,  5,     10,   30,  60,   120};
  struct svc_metrics *m = h->cfg.metrics;

  if (m == NULL)
    return;
  h->m_requests =
      svc_metrics_counter(m, "owcp_http_requests_total",
                          "HTTP requests by route and status.", route_status);
  h->m_duration = svc_metrics_histogram(
      m, "owcp_http_request_duration_seconds",
      "Time from the request line to the end of the reply (long polls "
      "included).",
      route_status, seconds, sizeof seconds / sizeof seconds[0]);
  h->m_cut = svc_metrics_counter(
      m, "owcp_http_deadline_cutoffs_total",
      "Connections cut off because their headers or body came too slowly.",
      NULL);
  (void)svc_metrics_gauge_fn(m, "owcp_http_connections",
                             "Open HTTP connections.", held_connections, h);
}

static void builtin_routes(struct svc_http *h)
{
  h->builtin[0] = (struct svc_route){
      .method = "GET",
      .path = "/healthz",
      .handle = h->cfg.health ? h->cfg.health : serve_health_default,
      .data = h->cfg.health_data};
  h->builtin_count = 1;
  if (h->cfg.metrics != NULL)
    h->builtin[h->builtin_count++] = (struct svc_route){
        .method = "GET", .path = "/metrics", .handle = serve_metrics};
}

int svc_http_start(const struct svc_http_config *cfg, struct svc_http **out,
                   struct owcp_error *err)
{
  struct svc_http *h;

  *out = NULL;
  if ((cfg->tls_cert_file == NULL) != (cfg->tls_key_file == NULL)) {
    owcp_error_set(err, "TLS needs both a certificate and a key file");
    return -1;
  }
  if (cfg->tls_client_ca_file != NULL && cfg->tls_cert_file == NULL) {
    owcp_error_set(err, "a client certificate CA needs TLS (a certificate "
                        "and a key file)");
    return -1;
  }
  h = calloc(1, sizeof *h);
  if (h == NULL) {
    owcp_error_set(err, "out of memory");
    return -1;
  }
  h->cfg = *cfg;
  h->tls = cfg->tls_cert_file != NULL;
  h->listen_fd = -1;
  pthread_mutex_init(&h->gen_lock, NULL);
  pthread_mutex_init(&h->conn_lock, NULL);
  builtin_routes(h);
  register_metrics(h);
  if (first_start(h, err) != 0) {
    svc_http_stop(h, 0, NULL, NULL);
    return -1;
  }
  if (pthread_create(&h->reaper, NULL, reaper_main, h) != 0) {
    owcp_error_set(err, "cannot start the connection reaper thread");
    svc_http_stop(h, 0, NULL, NULL);
    return -1;
  }
  h->reaper_started = true;
  *out = h;
  return 0;
}

int svc_http_reload(struct svc_http *h, struct owcp_error *err)
{
  struct credentials cr = {0};

  if (!h->tls)
    return 0;
  if (read_credentials(&h->cfg, &cr, err) != 0)
    return -1;
  struct generation *next = calloc(1, sizeof *next);
  if (next != NULL)
    next->mhd = daemon_start(h, NULL, h->listen_fd, &cr);
  wipe_credentials(&cr);
  if (next == NULL || next->mhd == NULL) {
    free(next);
    owcp_error_set(err, "cannot start a listener with the new certificate "
                        "and key (are they a matching, valid pair?)");
    return -1;
  }
  pthread_mutex_lock(&h->gen_lock);
  struct generation *old = h->current;
  h->current = next;
  /* The old daemon stops accepting; the socket stays open for the new. */
  (void)MHD_quiesce_daemon(old->mhd);
  old->retire_by_ms = now_ms() + h->cfg.drain_timeout_ms;
  old->next = h->retiring;
  h->retiring = old;
  pthread_mutex_unlock(&h->gen_lock);
  svc_log(SVC_LOG_INFO, "http.reload",
          "serving new connections with the reloaded certificate; the "
          "previous listener drains its connections");
  return 0;
}

void svc_http_stop(struct svc_http *h, int grace_ms, void (*wake)(void *arg),
                   void *arg)
{
  if (h == NULL)
    return;
  pthread_mutex_lock(&h->gen_lock);
  if (h->current != NULL)
    (void)MHD_quiesce_daemon(h->current->mhd);
  pthread_mutex_unlock(&h->gen_lock);
  if (wake != NULL)
    wake(arg);
  for (int waited = 0; waited < grace_ms && atomic_load(&h->active) > 0;
       waited += STOP_POLL_MS) {
    struct timespec ts = {0, STOP_POLL_MS * 1000000L};
    nanosleep(&ts, NULL);
  }
  atomic_store(&h->stopping, true);
  if (h->reaper_started)
    pthread_join(h->reaper, NULL);
  struct generation *all[] = {h->current, h->retiring};
  for (size_t i = 0; i < 2; i++)
    for (struct generation *g = all[i]; g != NULL;) {
      struct generation *next = i == 0 ? NULL : g->next;
      MHD_stop_daemon(g->mhd);
      free(g);
      g = next;
    }
  /* Every daemon was quiesced, so none closed the socket: we do. */
  if (h->listen_fd >= 0)
    close(h->listen_fd);
  pthread_mutex_destroy(&h->gen_lock);
  pthread_mutex_destroy(&h->conn_lock);
  free(h);
}

bool svc_media_type_is(const char *header, const char *type)
{
  size_t n = strlen(type);

  if (header == NULL || strncasecmp(header, type, n) != 0)
    return false;
  return header[n] == '\0' || header[n] == ';' || header[n] == ' ';
}
