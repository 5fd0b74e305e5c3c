/*
 * http.h — the HTTP(S) front every owcp daemon stands on, built on
 * libmicrohttpd. The daemon supplies a route table (method, path, handler,
 * its own per-route data) and a health handler; the layer does what every
 * daemon would otherwise repeat:
 *   - route lookup, 404, and 405 with an Allow header;
 *   - the request body, accumulated once (body.h) under max_body: 413
 *     from Content-Length before reading, or while reading;
 *   - GET /healthz (the daemon's handler) and GET /metrics (metrics.h);
 *   - one access-log line per request (client address, method, matched
 *     route path — never the URL or its query string —, status, bytes,
 *     milliseconds) and the request counters and duration histogram;
 *   - TLS 1.2 and 1.3 only (SVC_TLS_PRIORITIES), never older versions;
 *   - optionally, a TLS client certificate requested (tls_client_ca_file)
 *     and handed to the handler unverified (svc_http_peer_cert);
 *   - resource limits: connections in total and per client address, a
 *     header deadline and a body deadline per connection (a client that
 *     trickles bytes is cut off, see docs/service-layer.md), and the
 *     idle timeout;
 *   - reload (svc_http_reload): re-reads the certificate and key files and
 *     restarts the listener without dropping a connection.
 *
 * Threads: handlers run on libmicrohttpd's worker threads. Ownership: the
 * struct svc_http is owned by the caller of svc_http_start() and freed by
 * svc_http_stop(); a struct svc_request is owned by the layer and lives
 * from the request line until the request completes.
 */
#ifndef OWCP_SERVICE_HTTP_H
#define OWCP_SERVICE_HTTP_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <openssl/x509.h>

#include "owcp/service/body.h"
#include "owcp/util.h"

/* The only TLS versions any owcp listener accepts: GnuTLS's NORMAL set
 * (Debian's default also enables TLS 1.0 and 1.1) with every version
 * removed but 1.3 and 1.2. */
#define SVC_TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

struct svc_http;
struct svc_request;
struct svc_metrics;

/* A route's handler. Called once the whole body is in req->body, and again
 * each time a request it suspended (MHD_suspend_connection) resumes. It
 * must reply (svc_http_queue) or suspend, and return the MHD_Result. */
typedef enum MHD_Result (*svc_http_handler)(struct svc_request *req);

/* One row of a daemon's route table. */
struct svc_route {
  const char *method; /* "GET", "POST" */
  /* Exact match, e.g. "/owcp/0.1/RD-Confirm"; ending in '*': every path
   * with that prefix ("/tx/" then a star), the handler reads the rest from
   * req->path. */
  const char *path;
  svc_http_handler handle;
  const void *data; /* the daemon's own route data (req->route->data) */
  /* Headers every reply on this path carries, also the layer's own 405
   * and 413 (a protocol that requires a header on every response): "Name",
   * "value" pairs, NULL-terminated; NULL: none. Added to a reply that does
   * not already have the header. */
  const char *const *headers;
};

/* Renders an error the layer answers itself (404, 405, 413) in the
 * daemon's format: a response (the caller queues and destroys it) and its
 * body length in *len; NULL for the layer's plain-text default. */
typedef struct MHD_Response *(*svc_http_error_fn)(void *app, unsigned status,
                                                  const char *message,
                                                  size_t *len);

/* One request, as the layer tracks it. Handlers read it; `app`/`app_free`
 * are theirs (per-request state, freed by app_free when the request
 * completes). */
struct svc_request {
  struct svc_http *http;
  struct MHD_Connection *con;
  const struct svc_route *route; /* NULL until matched */
  void *app_ctx;                 /* svc_http_config.app */
  /* The request's path, without the query string (libmicrohttpd's copy,
   * valid until the request completes). For handlers; never logged. */
  const char *path;
  struct svc_body body;
  void *app;
  void (*app_free)(void *app);
  /* The layer's bookkeeping for the access log and metrics. */
  char method[16];
  char client[64];
  unsigned status; /* 0 until a reply is queued */
  size_t bytes;    /* body bytes of the reply */
  struct timespec started;
  bool seen;        /* the access handler has run */
  bool upload_done; /* the whole body is in */
  bool replied;
};

/* Limits and listener settings. Start from svc_http_config_defaults(). */
struct svc_http_config {
  const char *listen_host;    /* numeric address */
  unsigned short listen_port; /* 0: any free port */
  const char *tls_cert_file;  /* PEM; both or neither; re-read on reload */
  const char *tls_key_file;
  /* PEM CA certificates; NULL: no client certificate asked for. With TLS,
   * the listener requests (never requires) a client certificate naming
   * these CAs; re-read on reload. The layer does not judge the
   * certificate: a handler reads it with svc_http_peer_cert() and verifies
   * it itself. */
  const char *tls_client_ca_file;
  unsigned threads;            /* worker threads (default 8) */
  unsigned max_connections;    /* in total (default 16000) */
  unsigned per_ip_connections; /* per client address (default 256) */
  size_t max_body;             /* default 256 KiB */
  unsigned idle_timeout_s;     /* no byte either way for this long (120) */
  unsigned header_timeout_ms;  /* request line + headers (10000) */
  unsigned body_timeout_ms;    /* the whole body after them (30000) */
  /* After a reload, how long the previous listener may keep serving its
   * connections (long polls) before it is stopped (default 3600000). */
  unsigned drain_timeout_ms;
  const struct svc_route *routes; /* borrowed for the daemon's lifetime */
  size_t route_count;
  svc_http_handler health;     /* GET /healthz (NULL: 200 "ok") */
  const void *health_data;     /* its route data */
  svc_http_error_fn error;     /* NULL: plain text */
  struct svc_metrics *metrics; /* borrowed; NULL: no /metrics */
  void *app;                   /* passed as req->app_ctx */
};

void svc_http_config_defaults(struct svc_http_config *c);

/* Starts listening. *out is freed by svc_http_stop(). */
int svc_http_start(const struct svc_http_config *cfg, struct svc_http **out,
                   struct owcp_error *err);

/* True when a Content-Type header value names `type` (compared
 * case-insensitively: clients send "Application/xml;charset=utf-8"),
 * parameters after ';' or a space ignored; false for NULL. */
bool svc_media_type_is(const char *header, const char *type);

/* "http" or "https", and the bound port. */
const char *svc_http_scheme(const struct svc_http *h);
unsigned short svc_http_port(const struct svc_http *h);

/* Re-reads the certificate and key and serves new connections with them:
 * a new libmicrohttpd daemon accepts on the same listening socket, the
 * previous one is quiesced and keeps its established connections
 * (including suspended long polls) until they end or drain_timeout_ms
 * passes. On failure the previous listener keeps serving and err says
 * why. Plain HTTP: nothing to reload, returns 0. Call from one thread. */
int svc_http_reload(struct svc_http *h, struct owcp_error *err);

/* Queues resp with status for req (recording status and len for the
 * access log and metrics). Does not take resp over: destroy it after. */
enum MHD_Result svc_http_queue(struct svc_request *req, unsigned status,
                               struct MHD_Response *resp, size_t len);

/* Replies status with body (len bytes, taken over: freed even on failure)
 * as Content-Type type, never cached (Cache-Control: no-store). */
enum MHD_Result svc_http_reply(struct svc_request *req, unsigned status,
                               const char *type, char *body, size_t len);

/* The leaf of the TLS client certificate chain the peer of req presented
 * (the caller frees it), or NULL: plain HTTP, no client certificate, or
 * not a readable X.509 certificate. NOT verified: GnuTLS accepted it
 * without any check, so the caller verifies the chain, validity and
 * purpose (with OpenSSL) before trusting anything in it. */
X509 *svc_http_peer_cert(const struct svc_request *req);

/* Stops accepting; then wake() (may be NULL) so the daemon can answer
 * its long polls; waits up to grace_ms for requests in flight; stops
 * every listener and frees h. NULL is ignored. */
void svc_http_stop(struct svc_http *h, int grace_ms, void (*wake)(void *arg),
                   void *arg);

#endif
