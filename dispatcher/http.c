/*
 * http.c — the dispatcher's part of HTTP. The service layer
 * (owcp/service/http.h) routes, enforces the body limit, logs and counts
 * every request; here every dispatcher route passes the same gates in the
 * same order before its handler runs, so no handler repeats them:
 *   authentication (401) → media type (415) → JSON or multipart decoding
 *   (400) → the operation's parameter table (400/413) → handler.
 * Replies are OWCP JSON (status.h), including the errors the layer
 * answers itself (404, 413).
 */
#include "http.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>

#include "authcache.h"
#include "notify.h"
#include "owcp/service/limit.h"
#include "owcp/service/log.h"
#include "owcp/service/metrics.h"
#include "owcp/util.h"

#define BEARER_MAX 256
#define STORE_WAIT_MS 2000
/* Seconds a client refused a long poll (429) is asked to wait. */
#define LONGPOLL_RETRY_S 1

/* ---- replies ------------------------------------------------------------ */

/* A response carrying body (taken over) with the headers every reply
 * has; NULL (body freed) when memory runs out. */
static struct MHD_Response *response_new(int status, char *body, size_t len,
                                         const char *content_type,
                                         int retry_after)
{
  struct MHD_Response *resp =
      MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
  if (resp == NULL) {
    free(body);
    return NULL;
  }
  if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                              content_type) != MHD_YES ||
      MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
                              "no-store") != MHD_YES) {
    MHD_destroy_response(resp);
    return NULL;
  }
  if (status == OWCP_NOT_AUTHENTICATED)
    (void)MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                  "Bearer");
  if (retry_after > 0) {
    char v[16];
    snprintf(v, sizeof v, "%d", retry_after);
    (void)MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, v);
  }
  return resp;
}

static enum MHD_Result queue(struct request *r, int status, char *body,
                             size_t len, const char *content_type,
                             int retry_after)
{
  struct MHD_Response *resp =
      response_new(status, body, len, content_type, retry_after);
  if (resp == NULL)
    return MHD_NO;
  enum MHD_Result ret = svc_http_queue(r->svc, (unsigned)status, resp, len);
  MHD_destroy_response(resp);
  r->replied = true;
  return ret;
}

/* The OWCP JSON reply {"Status", "Text", ["Error"], fields...} as a
 * response; fields is stolen (may be NULL). Its Retry, if any, also
 * becomes the Retry-After header. */
static struct MHD_Response *json_response(int status, json_t *fields,
                                          const char *error, size_t *len)
{
  json_t *o = owcp_status_json(status, error);
  if (o == NULL) {
    json_decref(fields);
    return NULL;
  }
  int retry = 0;
  if (fields != NULL) {
    json_t *rv = json_object_get(fields, "Retry");
    if (json_is_integer(rv))
      retry = (int)json_integer_value(rv);
    json_object_update(o, fields);
    json_decref(fields);
  }
  char *body = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(o);
  if (body == NULL)
    return NULL;
  *len = strlen(body);
  return response_new(status, body, *len, "application/json", retry);
}

static enum MHD_Result reply_json(struct request *r, int status, json_t *fields,
                                  const char *error)
{
  size_t len = 0;
  struct MHD_Response *resp = json_response(status, fields, error, &len);
  if (resp == NULL)
    return MHD_NO;
  enum MHD_Result ret = svc_http_queue(r->svc, (unsigned)status, resp, len);
  MHD_destroy_response(resp);
  r->replied = true;
  return ret;
}

/* The service layer's own refusals (404, 413) in OWCP JSON; a status the
 * protocol does not define (405) keeps the layer's plain text. */
static struct MHD_Response *render_error(void *app, unsigned status,
                                         const char *message, size_t *len)
{
  (void)app;
  if (owcp_status_text((int)status) == NULL)
    return NULL;
  return json_response((int)status, NULL, message, len);
}

enum MHD_Result http_reply(struct request *r, int status, json_t *fields)
{
  return reply_json(r, status, fields, NULL);
}

enum MHD_Result http_reply_error(struct request *r, int status, const char *fmt,
                                 ...)
{
  char msg[OWCP_ERROR_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  svc_log(SVC_LOG_INFO, "request.refused", "%s %d: %s",
          r->route ? r->route->path : "-", status, msg);
  return reply_json(r, status, NULL, msg);
}

enum MHD_Result http_reply_store_error(struct request *r, int rc,
                                       const struct owcp_error *err)
{
  svc_log(SVC_LOG_ERROR, "store", "%s", err->msg);
  if (rc == STORE_UNAVAILABLE)
    return reply_json(r, OWCP_UNAVAILABLE, NULL,
                      "The database is unavailable; retry later.");
  /* Details of internal failures stay in our log, not in the response. */
  return reply_json(r, OWCP_INTERNAL_ERROR, NULL,
                    "Internal error; nothing was changed.");
}

enum MHD_Result http_reply_raw(struct request *r, int status,
                               const char *content_type, const char *body,
                               size_t len)
{
  char *copy = malloc(len + 1);
  if (copy == NULL)
    return MHD_NO;
  memcpy(copy, body, len);
  return queue(r, status, copy, len, content_type, 0);
}

json_t *http_result_fields(const struct store_result *res)
{
  json_t *o = json_object();
  if (o == NULL)
    return NULL;
  json_object_set_new(o, "Transaction", json_string(res->transaction));
  if (res->identifier)
    json_object_set_new(o, "Identifier", json_string(res->identifier));
  if (res->status == OWCP_OK) {
    char t[OWCP_TIME_LEN];
    owcp_time_format(res->responded, t);
    json_object_set_new(o, "Response", json_string(res->response));
    if (res->reason)
      json_object_set_new(o, "Reason", json_string(res->reason));
    json_t *v = json_array();
    for (size_t i = 0; i < res->verification_count; i++)
      json_array_append_new(v, json_string(res->verification[i]));
    json_object_set_new(o, "Verification", v);
    json_object_set_new(o, "Client", json_string(res->client));
    json_object_set_new(o, "Responded", json_string(t));
    char *b64 = owcp_base64_encode(res->receipt, res->receipt_len);
    json_object_set_new(o, "Receipt", b64 ? json_string(b64) : json_null());
    free(b64);
  }
  return o;
}

enum MHD_Result http_reply_tx_result(struct request *r,
                                     const struct store_result *res)
{
  json_t *fields;

  switch (res->status) {
  case OWCP_OK:
    fields = http_result_fields(res);
    return fields ? http_reply(r, OWCP_OK, fields) : MHD_NO;
  case OWCP_NOT_FOUND:
    return http_reply_error(r, OWCP_NOT_FOUND,
                            "Parameter 'Transaction' names no transaction of "
                            "this requestor.");
  default:
    return http_reply_error(r, OWCP_INTERNAL_ERROR,
                            "Internal error: unexpected store status %d.",
                            res->status);
  }
}

/* ---- long polls ---------------------------------------------------------- */

void http_longpoll_arm(struct request *r, const char *key, int wait_seconds)
{
  if (r->waiter == NULL) {
    /* One hold per request, counted by the caller's token hash, so that
     * one token cannot tie up every connection with waiting polls. */
    if (!r->longpoll_held) {
      r->longpoll_held =
          r->has_token &&
          svc_limit_take(r->d->longpolls, r->token_hash, sizeof r->token_hash);
      r->longpoll_refused = !r->longpoll_held;
      if (r->longpoll_refused)
        return;
    }
    int64_t deadline = notify_now_ms() + (int64_t)wait_seconds * 1000;
    r->waiter = notify_watch(r->d->notify, key, r->con, deadline);
  } else {
    notify_rearm(r->d->notify, r->waiter);
  }
}

enum MHD_Result http_longpoll_suspend(struct request *r)
{
  if (r->waiter == NULL || atomic_load(&r->d->stopping))
    return r->route->handle(r);
  if (notify_suspend(r->d->notify, r->waiter))
    return MHD_YES;
  /* A notification arrived between the query and now: query again. */
  return r->route->handle(r);
}

enum MHD_Result http_reply_longpoll_refused(struct request *r)
{
  json_t *fields = json_pack("{s:i}", "Retry", LONGPOLL_RETRY_S);

  svc_log(SVC_LOG_INFO, "request.refused",
          "%s 429: too many long polls with one token",
          r->route ? r->route->path : "-");
  return fields ? reply_json(r, OWCP_TOO_MANY_REQUESTS, fields,
                             "Too many long polls are waiting with this "
                             "token; retry later.")
                : MHD_NO;
}

bool http_longpoll_expired(const struct request *r)
{
  return r->waiter == NULL || notify_expired(r->waiter) ||
         atomic_load(&r->d->stopping);
}

/* ---- the gates ------------------------------------------------------------
 */

/* jansson's messages quote the input; keep control and non-ASCII octets
 * out of our replies and logs. */
static void printable(char *s)
{
  for (; *s; s++)
    if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
      *s = '?';
}

static enum MHD_Result decode_body(struct request *r)
{
  const char *ct = MHD_lookup_connection_value(r->con, MHD_HEADER_KIND,
                                               MHD_HTTP_HEADER_CONTENT_TYPE);
  struct owcp_error err = {{0}};
  if (svc_media_type_is(ct, "application/json")) {
    json_error_t jerr;
    r->params = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (r->params == NULL) {
      printable(jerr.text);
      return http_reply_error(r, OWCP_BAD_REQUEST,
                              "The body is not valid JSON: %s at line %d.",
                              jerr.text, jerr.line);
    }
    if (!json_is_object(r->params))
      return http_reply_error(r, OWCP_BAD_REQUEST,
                              "The body must be a JSON object.");
    return MHD_YES;
  }
  if (svc_media_type_is(ct, "application/owcp-multipart")) {
    if (owcp_params_from_multipart((const unsigned char *)r->body, r->body_len,
                                   &r->params, &err) != 0)
      return http_reply_error(r, OWCP_BAD_REQUEST, "%s", err.msg);
    return MHD_YES;
  }
  return http_reply_error(r, OWCP_UNSUPPORTED_MEDIA_TYPE,
                          "Content-Type must be application/json or "
                          "application/owcp-multipart.");
}

static enum MHD_Result parse_params(struct request *r)
{
  r->in = calloc(1, r->route->in_size);
  if (r->in == NULL)
    return MHD_NO;
  struct owcp_error err = {{0}};
  int rc = owcp_params_parse(r->params, r->route->params, r->in, &err);
  if (rc == OWCP_PARAMS_TOO_LARGE)
    return http_reply_error(r, OWCP_TOO_LARGE, "%s", err.msg);
  if (rc != 0)
    return http_reply_error(r, OWCP_BAD_REQUEST, "%s", err.msg);
  return MHD_YES;
}

/* The token of "Authorization: Bearer <token>", or NULL. */
static const char *bearer_token(struct request *r)
{
  const char *h = MHD_lookup_connection_value(r->con, MHD_HEADER_KIND,
                                              MHD_HTTP_HEADER_AUTHORIZATION);
  if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
    return NULL;
  const char *t = h + 7;
  size_t n = strlen(t);
  if (n == 0 || n > BEARER_MAX)
    return NULL;
  return t;
}

/* The caller's identity for token hash `hash`: from the process's token
 * cache when it was accepted moments ago (authcache.h), else from the
 * database (then cached). *ok: an active requestor/client holds it. */
static int identify(struct request *r, const unsigned char *hash, bool *ok,
                    struct owcp_error *err)
{
  struct authcache *cache = r->d->auth;
  bool found = false;
  int rc;

  if (r->route->auth == HTTP_AUTH_REQUESTOR) {
    if (authcache_get_requestor(cache, hash, &r->requestor)) {
      *ok = true;
      return 0;
    }
    uint64_t gen = authcache_generation(cache);
    rc = store_requestor_by_token(r->st, hash, &r->requestor, &found, err);
    *ok = rc == 0 && found && r->requestor.active &&
          owcp_ct_equal(hash, r->requestor.token_hash, OWCP_SHA256_LEN);
    if (*ok)
      authcache_put_requestor(cache, gen, &r->requestor);
    return rc;
  }
  if (authcache_get_client(cache, hash, &r->client)) {
    *ok = true;
    return 0;
  }
  uint64_t gen = authcache_generation(cache);
  rc = store_client_by_token(r->st, hash, &r->client, &found, err);
  *ok = rc == 0 && found && r->client.active &&
        owcp_ct_equal(hash, r->client.token_hash, OWCP_SHA256_LEN);
  if (*ok)
    authcache_put_client(cache, gen, &r->client);
  return rc;
}

static enum MHD_Result authenticate(struct request *r)
{
  if (r->route->auth == HTTP_AUTH_NONE)
    return MHD_YES;
  const char *token = bearer_token(r);
  if (token == NULL)
    return http_reply_error(r, OWCP_NOT_AUTHENTICATED,
                            "An Authorization: Bearer token is required.");
  unsigned char *hash = r->token_hash;
  owcp_sha256(token, strlen(token), hash);
  r->has_token = true;
  struct owcp_error err = {{0}};
  bool ok = false;
  int rc = identify(r, hash, &ok, &err);
  if (rc != 0)
    return http_reply_store_error(r, rc, &err);
  if (!ok)
    return http_reply_error(r, OWCP_NOT_AUTHENTICATED,
                            "The bearer token is unknown or revoked.");
  return MHD_YES;
}

/* Runs the gates once, then the handler (again on every resume). The
 * database connection is borrowed only while code runs, never while the
 * request is suspended. */
static enum MHD_Result process(struct request *r)
{
  struct owcp_error err = {{0}};
  if (r->route->needs_db) {
    int rc = store_pool_acquire(r->d->pool, STORE_WAIT_MS, &r->st, &err);
    if (rc != 0)
      return http_reply_store_error(r, rc, &err);
  }

  enum MHD_Result ret = MHD_YES;
  if (!r->started) {
    r->started = true;
    if (r->route->params != NULL) {
      ret = authenticate(r);
      if (ret == MHD_YES && !r->replied)
        ret = decode_body(r);
      if (ret == MHD_YES && !r->replied)
        ret = parse_params(r);
    }
  }
  if (ret == MHD_YES && !r->replied)
    ret = r->route->handle(r);
  if (r->st != NULL)
    store_pool_release(r->d->pool, r->st);
  r->st = NULL;
  return ret;
}

static struct request *request_new(struct dispatcher *d, struct svc_request *sr)
{
  struct request *r = calloc(1, sizeof *r);
  if (r == NULL)
    return NULL;
  r->d = d;
  r->svc = sr;
  r->con = sr->con;
  r->route = sr->route->data;
  r->body = sr->body.data;
  r->body_len = sr->body.len;
  clock_gettime(CLOCK_MONOTONIC, &r->started_at);
  return r;
}

/* Called by the service layer when the request completes. */
static void request_free(void *arg)
{
  struct request *r = arg;
  if (r->waiter)
    notify_unwatch(r->d->notify, r->waiter);
  if (r->longpoll_held)
    svc_limit_give(r->d->longpolls, r->token_hash, sizeof r->token_hash);
  if (r->op_free && r->op)
    r->op_free(r->op);
  if (r->in && r->route && r->route->params)
    owcp_params_free(r->route->params, r->in);
  free(r->in);
  json_decref(r->params);
  OPENSSL_cleanse(r->token_hash, sizeof r->token_hash);
  free(r);
}

/* The one service-layer handler of every dispatcher route: the route's
 * data is its row of http_routes (routes.c). Runs on the first call and
 * again on every resume. */
static enum MHD_Result dispatch(struct svc_request *sr)
{
  struct request *r = sr->app;
  if (r == NULL) {
    r = request_new(sr->app_ctx, sr);
    if (r == NULL)
      return MHD_NO;
    sr->app = r;
    sr->app_free = request_free;
  }
  return process(r);
}

/* ---- start, reload and stop ---------------------------------------------- */

/* The service layer's route table from routes.c's. */
static struct svc_route *routes_for_service(void)
{
  struct svc_route *t = calloc(http_route_count, sizeof *t);
  if (t == NULL)
    return NULL;
  for (size_t i = 0; i < http_route_count; i++)
    t[i] = (struct svc_route){.method = http_routes[i].method,
                              .path = http_routes[i].path,
                              .handle = dispatch,
                              .data = &http_routes[i]};
  return t;
}

static double longpolls_held(void *arg)
{
  return (double)svc_limit_held(arg);
}

int http_start(struct dispatcher *d, struct owcp_error *err)
{
  struct svc_http_config c;

  d->longpolls = svc_limit_new(d->cfg.longpolls_per_token);
  d->svc_routes = routes_for_service();
  if (d->longpolls == NULL || d->svc_routes == NULL) {
    owcp_error_set(err, "out of memory for the route table");
    return -1;
  }
  (void)svc_metrics_gauge_fn(d->metrics, "owcp_longpolls_held",
                             "Long polls waiting (CD-List, RD-Status).",
                             longpolls_held, d->longpolls);
  svc_http_config_defaults(&c);
  c.listen_host = d->cfg.listen_host;
  c.listen_port = d->cfg.listen_port;
  c.tls_cert_file = d->cfg.tls_cert;
  c.tls_key_file = d->cfg.tls_key;
  c.threads = d->cfg.threads;
  c.max_connections = d->cfg.max_connections;
  c.per_ip_connections = d->cfg.per_ip_connections;
  c.header_timeout_ms = d->cfg.header_timeout * 1000u;
  c.body_timeout_ms = d->cfg.body_timeout * 1000u;
  c.max_body = d->cfg.max_body;
  /* A long poll sends nothing while it waits. */
  c.idle_timeout_s = (unsigned)(d->cfg.max_wait + 60);
  c.routes = d->svc_routes;
  c.route_count = http_route_count;
  c.health = dispatch;
  c.health_data = &http_health_route;
  c.error = render_error;
  c.metrics = d->metrics;
  c.app = d;
  if (svc_http_start(&c, &d->http, err) != 0)
    return -1;
  bool v6 = strchr(d->cfg.listen_host, ':') != NULL;
  snprintf(d->base_url, sizeof d->base_url, "%s://%s%s%s:%u/owcp/0.1",
           svc_http_scheme(d->http), v6 ? "[" : "", d->cfg.listen_host,
           v6 ? "]" : "", (unsigned)svc_http_port(d->http));
  return 0;
}

int http_reload(struct dispatcher *d, struct owcp_error *err)
{
  return svc_http_reload(d->http, err);
}

static void wake_long_polls(void *arg)
{
  notify_wake_all(arg);
}

void http_stop(struct dispatcher *d, int grace_ms)
{
  svc_http_stop(d->http, grace_ms, wake_long_polls, d->notify);
  d->http = NULL;
  svc_limit_free(d->longpolls);
  d->longpolls = NULL;
  free(d->svc_routes);
  d->svc_routes = NULL;
}
