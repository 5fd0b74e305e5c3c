/*
 * http.h — the dispatcher's HTTP glue on top of the service layer
 * (owcp/service/http.h, which routes, limits bodies, logs and counts),
 * shared by every operation handler: the per-request state, how a handler
 * replies, and how long polls suspend. The dispatcher's cross-cutting work
 * (media types, JSON and multipart decoding, authentication, parameter
 * tables, borrowing a database connection) is done once in http.c before
 * a handler runs, so handlers contain only their operation's logic.
 */
#ifndef OWCP_DISPATCHER_HTTP_H
#define OWCP_DISPATCHER_HTTP_H

#include <jansson.h>
#include <microhttpd.h>
#include <stdbool.h>

#include "context.h"
#include "owcp/jsonspec.h"
#include "owcp/service/http.h"
#include "owcp/status.h"
#include "store.h"

struct request;

/* An operation handler. Called after the body was decoded, the caller
 * authenticated and the parameters parsed into r->in. It must either
 * reply (http_reply*) or suspend (http_longpoll_suspend) and return the
 * MHD_Result those return. Called again when a suspended request resumes. */
typedef enum MHD_Result (*http_handler)(struct request *r);

enum http_auth { HTTP_AUTH_NONE, HTTP_AUTH_REQUESTOR, HTTP_AUTH_CLIENT };

/* One row of the route table (routes.c). */
struct route {
  const char *method;                   /* "POST" or "GET" */
  const char *path;                     /* "/owcp/0.1/RD-Confirm" */
  http_handler handle;                  /* the operation */
  const struct owcp_param_spec *params; /* NULL for GET routes */
  size_t in_size;                       /* sizeof the struct params fill */
  enum http_auth auth;                  /* who may call it */
  bool needs_db; /* borrow a database connection for the handler */
};

/* The route table and its length (routes.c), registered with the service
 * layer by http_start(); and GET /healthz, which the layer serves with it. */
extern const struct route http_routes[];
extern const size_t http_route_count;
extern const struct route http_health_route;

/* Per-request state; owned by http.c, freed when the service layer
 * completes the request. Handlers read it and may use `op`/`op_free` for
 * their own state across a suspension. */
struct request {
  struct dispatcher *d;
  struct svc_request *svc; /* the layer's request (owns the body) */
  struct MHD_Connection *con;
  const struct route *route;
  const char *body; /* raw body, NUL-terminated; borrowed from svc */
  size_t body_len;
  bool started; /* the handler has run at least once */
  bool replied;
  json_t *params;   /* the decoded parameter object */
  void *in;         /* the operation's parameter struct (route->params) */
  struct store *st; /* borrowed for the duration of one handler call */
  struct store_requestor requestor;          /* HTTP_AUTH_REQUESTOR */
  struct store_client client;                /* HTTP_AUTH_CLIENT */
  struct waiter *waiter;                     /* long poll, see notify.h */
  unsigned char token_hash[OWCP_SHA256_LEN]; /* of the bearer token */
  bool has_token;
  bool longpoll_held;    /* counts against the token's long-poll cap */
  bool longpoll_refused; /* http_longpoll_arm() found the cap reached */
  void *op;              /* handler-owned state */
  void (*op_free)(void *op);
  struct timespec started_at;
};

/* Replies with status and the object `fields` (stolen; may be NULL), to
 * which Status and Text are added. */
enum MHD_Result http_reply(struct request *r, int status, json_t *fields);

/* Replies with status and an Error sentence (printf-style) naming the
 * offending field; logged at info level without secrets. */
enum MHD_Result http_reply_error(struct request *r, int status, const char *fmt,
                                 ...) __attribute__((format(printf, 3, 4)));

/* Maps a store failure (-1 → 500, STORE_UNAVAILABLE → 503) to a reply,
 * logging err's sentence. */
enum MHD_Result http_reply_store_error(struct request *r, int rc,
                                       const struct owcp_error *err);

/* Replies with a raw body of the given content type (GET {base}/CA). */
enum MHD_Result http_reply_raw(struct request *r, int status,
                               const char *content_type, const char *body,
                               size_t len);

/* The 32-byte-hash-keyed result of RD-Status/RD-Final as the JSON fields
 * the spec lists (Transaction, Identifier, Response, Reason, Verification,
 * Client, Responded, Receipt). New reference. */
json_t *http_result_fields(const struct store_result *res);

/* The reply RD-Status and RD-Final share for a transaction's outcome:
 * 200 with the result fields when answered, 404 when the requestor has no
 * such transaction, 500 for any status the caller did not handle itself. */
enum MHD_Result http_reply_tx_result(struct request *r,
                                     const struct store_result *res);

/* Long polls. A handler that wants to wait for `key` ("account:<id>" or
 * "tx:<id>") calls http_longpoll_arm() BEFORE querying (so a notification
 * between the query and the suspension is not lost), queries, and when
 * there is nothing to answer yet calls http_longpoll_suspend(), returning
 * its result. It returns MHD_YES having suspended, or — when a
 * notification already arrived — re-runs the handler at once. When the
 * wait ends (deadline, notification, shutdown) the handler is called
 * again; http_longpoll_expired() tells whether the deadline has passed. */
void http_longpoll_arm(struct request *r, const char *key, int wait_seconds);

/* When http_longpoll_arm() set r->longpoll_refused (the caller's token
 * already holds longpolls_per_token waiting polls), the handler
 * answers with this: 429 with Retry. */
enum MHD_Result http_reply_longpoll_refused(struct request *r);
enum MHD_Result http_longpoll_suspend(struct request *r);
bool http_longpoll_expired(const struct request *r);

/* Starts the service layer's HTTP front on d->cfg's address with the
 * route table; fills d->base_url. */
int http_start(struct dispatcher *d, struct owcp_error *err);

/* SIGHUP: re-reads d->cfg.tls_cert and tls_key and serves new connections
 * with them, established ones undisturbed (svc_http_reload). */
int http_reload(struct dispatcher *d, struct owcp_error *err);

/* Stops accepting, wakes every long poll, waits up to grace_ms for
 * requests in flight, then stops the listener. */
void http_stop(struct dispatcher *d, int grace_ms);

#endif
