/*
 * http.c — libmicrohttpd glue. Every request passes the same gates in the
 * same order before its handler runs, so no handler repeats them:
 *   route → method → body size (413, before reading more) → authentication
 *   (401) → media type (415) → JSON or multipart decoding (400) → the
 *   operation's parameter table (400/413) → handler.
 */
#include "http.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "log.h"
#include "notify.h"
#include "owcp/util.h"

#define BEARER_MAX 256
#define STORE_WAIT_MS 2000
/* A PEM certificate chain or key file; far above any real one. */
#define TLS_FILE_MAX ((size_t)1024 * 1024)

/* ---- replies ------------------------------------------------------------ */

static enum MHD_Result queue(struct request *r, int status, char *body,
                             size_t len, const char *content_type,
                             int retry_after)
{
  struct MHD_Response *resp =
      MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
  if (resp == NULL) {
    free(body);
    return MHD_NO;
  }
  if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                              content_type) != MHD_YES ||
      MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
                              "no-store") != MHD_YES) {
    MHD_destroy_response(resp);
    return MHD_NO;
  }
  if (status == OWCP_NOT_AUTHENTICATED)
    (void)MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                  "Bearer");
  if (retry_after > 0) {
    char v[16];
    snprintf(v, sizeof v, "%d", retry_after);
    (void)MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, v);
  }
  enum MHD_Result ret = MHD_queue_response(r->con, (unsigned)status, resp);
  MHD_destroy_response(resp);
  r->replied = true;
  return ret;
}

static enum MHD_Result reply_json(struct request *r, int status, json_t *fields,
                                  const char *error)
{
  json_t *o = owcp_status_json(status, error);
  if (o == NULL) {
    json_decref(fields);
    return MHD_NO;
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
    return MHD_NO;
  return queue(r, status, body, strlen(body), "application/json", retry);
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
  dlog("info", "request.refused", "%s %d: %s", r->route ? r->route->path : "-",
       status, msg);
  return reply_json(r, status, NULL, msg);
}

enum MHD_Result http_reply_store_error(struct request *r, int rc,
                                       const struct owcp_error *err)
{
  dlog("error", "store", "%s", err->msg);
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

bool http_longpoll_expired(const struct request *r)
{
  return r->waiter == NULL || notify_expired(r->waiter) ||
         atomic_load(&r->d->stopping);
}

/* ---- the gates ------------------------------------------------------------
 */

static const struct route *find_route(const char *url, const char *method,
                                      bool *wrong_method)
{
  *wrong_method = false;
  for (size_t i = 0; i < http_route_count; i++) {
    if (strcmp(http_routes[i].path, url) != 0)
      continue;
    if (strcmp(http_routes[i].method, method) == 0)
      return &http_routes[i];
    *wrong_method = true;
  }
  return NULL;
}

/* The media type of the body without parameters, e.g. "application/json". */
static bool media_type_is(const char *header, const char *type)
{
  size_t n = strlen(type);
  if (header == NULL || strncasecmp(header, type, n) != 0)
    return false;
  return header[n] == '\0' || header[n] == ';' || header[n] == ' ';
}

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
  if (media_type_is(ct, "application/json")) {
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
  if (media_type_is(ct, "application/owcp-multipart")) {
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

static enum MHD_Result authenticate(struct request *r)
{
  if (r->route->auth == HTTP_AUTH_NONE)
    return MHD_YES;
  const char *token = bearer_token(r);
  if (token == NULL)
    return http_reply_error(r, OWCP_NOT_AUTHENTICATED,
                            "An Authorization: Bearer token is required.");
  unsigned char hash[OWCP_SHA256_LEN];
  owcp_sha256(token, strlen(token), hash);
  struct owcp_error err = {{0}};
  bool found = false, ok = false;
  int rc;
  if (r->route->auth == HTTP_AUTH_REQUESTOR) {
    rc = store_requestor_by_token(r->st, hash, &r->requestor, &found, &err);
    ok = rc == 0 && found && r->requestor.active &&
         owcp_ct_equal(hash, r->requestor.token_hash, OWCP_SHA256_LEN);
  } else {
    rc = store_client_by_token(r->st, hash, &r->client, &found, &err);
    ok = rc == 0 && found && r->client.active &&
         owcp_ct_equal(hash, r->client.token_hash, OWCP_SHA256_LEN);
  }
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

static struct request *request_new(struct dispatcher *d,
                                   struct MHD_Connection *con)
{
  struct request *r = calloc(1, sizeof *r);
  if (r == NULL)
    return NULL;
  r->d = d;
  r->con = con;
  clock_gettime(CLOCK_MONOTONIC, &r->started_at);
  atomic_fetch_add(&d->active, 1);
  return r;
}

static void request_free(struct request *r)
{
  if (r->waiter)
    notify_unwatch(r->d->notify, r->waiter);
  if (r->op_free && r->op)
    r->op_free(r->op);
  if (r->in && r->route && r->route->params)
    owcp_params_free(r->route->params, r->in);
  free(r->in);
  json_decref(r->params);
  free(r->body);
  atomic_fetch_sub(&r->d->active, 1);
  free(r);
}

static enum MHD_Result first_call(struct request *r, const char *url,
                                  const char *method)
{
  bool wrong_method;
  r->route = find_route(url, method, &wrong_method);
  if (r->route == NULL && wrong_method)
    return http_reply_error(r, OWCP_BAD_REQUEST,
                            "Method %s is not allowed on %s.", method, url);
  if (r->route == NULL)
    return http_reply_error(r, OWCP_NOT_FOUND, "There is no operation at %s.",
                            url);
  const char *cl = MHD_lookup_connection_value(r->con, MHD_HEADER_KIND,
                                               MHD_HTTP_HEADER_CONTENT_LENGTH);
  if (cl != NULL && strtoull(cl, NULL, 10) > r->d->cfg.max_body)
    return http_reply_error(r, OWCP_TOO_LARGE,
                            "The body is larger than %zu octets.",
                            r->d->cfg.max_body);
  return MHD_YES;
}

static void append_body(struct request *r, const char *data, size_t len)
{
  if (r->body_too_large)
    return;
  if (r->body_len + len > r->d->cfg.max_body) {
    r->body_too_large = true;
    return;
  }
  char *nb = realloc(r->body, r->body_len + len + 1);
  if (nb == NULL) {
    r->body_too_large = true;
    return;
  }
  memcpy(nb + r->body_len, data, len);
  r->body = nb;
  r->body_len += len;
  r->body[r->body_len] = '\0';
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *con,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
  struct dispatcher *d = cls;
  struct request *r = *con_cls;
  if (r == NULL) {
    r = request_new(d, con);
    if (r == NULL)
      return MHD_NO;
    *con_cls = r;
    return first_call(r, url, method);
  }
  if (r->replied) {
    *upload_size = 0; /* an early refusal: discard the rest of the body */
    return MHD_YES;
  }
  if (*upload_size > 0) {
    append_body(r, upload, *upload_size);
    *upload_size = 0;
    return MHD_YES;
  }
  if (r->body_too_large)
    return http_reply_error(r, OWCP_TOO_LARGE,
                            "The body is larger than %zu octets.",
                            r->d->cfg.max_body);
  if (r->body == NULL && (r->body = calloc(1, 1)) == NULL)
    return MHD_NO;
  return process(r);
}

static void on_completed(void *cls, struct MHD_Connection *con, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
  struct request *r = *con_cls;
  if (r != NULL)
    request_free(r);
  *con_cls = NULL;
}

/* ---- start and stop ---------------------------------------------------------
 */

int http_start(struct dispatcher *d, struct owcp_error *err)
{
  struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_PASSIVE,
                           .ai_socktype = SOCK_STREAM};
  struct addrinfo *ai = NULL;
  char port[8];
  snprintf(port, sizeof port, "%u", (unsigned)d->cfg.listen_port);
  if (getaddrinfo(d->cfg.listen_host, port, &hints, &ai) != 0) {
    owcp_error_set(err, "--listen: '%s' is not a numeric IP address",
                   d->cfg.listen_host);
    return -1;
  }
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
                   MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC | MHD_USE_ERROR_LOG;
  if (ai->ai_family == AF_INET6)
    flags |= MHD_USE_IPv6;
  unsigned char *cert = NULL, *key = NULL;
  size_t cert_len = 0, key_len = 0;
  if (d->cfg.tls_cert) {
    int rc =
        owcp_file_read(d->cfg.tls_cert, TLS_FILE_MAX, &cert, &cert_len, err);
    if (rc == 0)
      rc = owcp_file_read(d->cfg.tls_key, TLS_FILE_MAX, &key, &key_len, err);
    if (rc != 0) {
      free(cert);
      freeaddrinfo(ai);
      return -1;
    }
    flags |= MHD_USE_TLS;
  }
  struct MHD_OptionItem tls_opts[] = {
      {cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, cert},
      {MHD_OPTION_HTTPS_MEM_KEY, 0, key},
      {MHD_OPTION_END, 0, NULL}};
  d->mhd = MHD_start_daemon(
      flags, 0, NULL, NULL, &on_request, d, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
      MHD_OPTION_THREAD_POOL_SIZE, (unsigned)d->cfg.threads,
      MHD_OPTION_CONNECTION_LIMIT, d->cfg.max_connections,
      MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(d->cfg.max_wait + 60),
      MHD_OPTION_NOTIFY_COMPLETED, &on_completed, d,
      MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u, MHD_OPTION_ARRAY, tls_opts,
      MHD_OPTION_END);
  freeaddrinfo(ai);
  /* MHD copies the certificate and key; wipe our copy of the key. */
  if (key)
    OPENSSL_cleanse(key, key_len);
  free(cert);
  free(key);
  if (d->mhd == NULL) {
    owcp_error_set(err,
                   "cannot listen on %s:%u (address in use, or TLS "
                   "certificate/key unusable)",
                   d->cfg.listen_host, (unsigned)d->cfg.listen_port);
    return -1;
  }
  const union MHD_DaemonInfo *info =
      MHD_get_daemon_info(d->mhd, MHD_DAEMON_INFO_BIND_PORT);
  unsigned bound = info ? info->port : d->cfg.listen_port;
  bool v6 = strchr(d->cfg.listen_host, ':') != NULL;
  snprintf(d->base_url, sizeof d->base_url, "%s://%s%s%s:%u/owcp/0.1",
           d->cfg.tls_cert ? "https" : "http", v6 ? "[" : "",
           d->cfg.listen_host, v6 ? "]" : "", bound);
  return 0;
}

void http_stop(struct dispatcher *d, int grace_ms)
{
  if (d->mhd == NULL)
    return;
  MHD_socket ls = MHD_quiesce_daemon(d->mhd);
  if (ls != MHD_INVALID_SOCKET)
    close(ls);
  notify_wake_all(d->notify);
  for (int waited = 0; waited < grace_ms && atomic_load(&d->active) > 0;
       waited += 20) {
    struct timespec ts = {0, 20L * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  MHD_stop_daemon(d->mhd);
  d->mhd = NULL;
}
