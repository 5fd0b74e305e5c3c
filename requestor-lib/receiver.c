/*
 * receiver.c — the embeddable DR-Complete endpoint (owcp/requestor.h): a
 * libmicrohttpd daemon (bodies and TLS versions handled exactly as the
 * daemons' service layer does: owcp/service/body.h, SVC_TLS_PRIORITIES)
 * that believes a completion only when the
 * dispatcher's OWCP-Signature verifies over the exact body and, for an
 * answer, the client's receipt shows a Request from this requestor (the
 * signature does not say whom a completion is for, and any requestor may
 * name this receiver as its Completion URI), hands each
 * transaction to the application once, and acknowledges (200) only after
 * the application has handled it, so that delivery stays at least once.
 *
 * The daemon runs one internal polling thread, so requests — and with them
 * the de-duplication set and the callback — are handled one at a time;
 * the mutex guards the set anyway so the design stays correct if a
 * thread pool is ever configured.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <jansson.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>

#include "internal.h"
#include "owcp/jsonspec.h"
#include "owcp/keys.h"
#include "owcp/service/body.h"
#include "owcp/service/http.h"
#include "owcp/util.h"

#define RECEIVER_DEFAULT_MAX_BODY ((size_t)1024 * 1024)
#define RECEIVER_DEFAULT_DEDUP 4096u
#define RECEIVER_CONN_TIMEOUT_S 30u
/* A dispatcher sends one completion at a time per process; a cap keeps a
 * flood of idle connections from exhausting descriptors. */
#define RECEIVER_MAX_CONNECTIONS 64u

struct owcp_rq_receiver {
  struct MHD_Daemon *daemon;
  X509 *dispatcher_cert;
  X509 *client_ca;
  char *account; /* normalised */
  /* Used on the daemon's one thread only (judge). */
  struct owcp_xml_validator *validator;
  char *path; /* or NULL: any */
  /* Copies of the TLS PEMs, which libmicrohttpd only borrows; the key is
   * wiped on stop. */
  char *tls_cert, *tls_key;
  size_t max_body;
  owcp_completion_cb callback;
  void *callback_arg;
  unsigned short port;
  pthread_mutex_t lock; /* guards seen[] */
  char **seen;          /* ring of handled transactions */
  size_t seen_cap, seen_next;
};

static bool seen_has(struct owcp_rq_receiver *r, const char *tx)
{
  bool found = false;

  pthread_mutex_lock(&r->lock);
  for (size_t i = 0; i < r->seen_cap && !found; i++)
    found = r->seen[i] != NULL && strcmp(r->seen[i], tx) == 0;
  pthread_mutex_unlock(&r->lock);
  return found;
}

/* Remembers tx, forgetting the oldest when full. A failed copy only costs
 * a possible second callback (delivery is at least once anyway). */
static void seen_add(struct owcp_rq_receiver *r, const char *tx)
{
  char *copy = strdup(tx);

  if (copy == NULL)
    return;
  pthread_mutex_lock(&r->lock);
  free(r->seen[r->seen_next]);
  r->seen[r->seen_next] = copy;
  r->seen_next = (r->seen_next + 1) % r->seen_cap;
  pthread_mutex_unlock(&r->lock);
}

static enum MHD_Result answer(struct MHD_Connection *con, unsigned code,
                              const char *text)
{
  struct MHD_Response *res = MHD_create_response_from_buffer(
      strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
  enum MHD_Result rc;

  if (res == NULL)
    return MHD_NO;
  MHD_add_response_header(res, "Content-Type", "text/plain");
  rc = MHD_queue_response(con, code, res);
  MHD_destroy_response(res);
  return rc;
}

/* The fields of a verified body; borrowed from json. */
static int read_completion(const json_t *json, struct owcp_completion *c,
                           unsigned char **receipt)
{
  const char *op = json_string_value(json_object_get(json, "Operation"));
  const json_t *st = json_object_get(json, "Status");
  const char *b64 = json_string_value(json_object_get(json, "Receipt"));
  size_t len = 0;

  c->transaction = json_string_value(json_object_get(json, "Transaction"));
  c->identifier = json_string_value(json_object_get(json, "Identifier"));
  c->response = json_string_value(json_object_get(json, "Response"));
  c->reason = json_string_value(json_object_get(json, "Reason"));
  c->client = json_string_value(json_object_get(json, "Client"));
  c->requestor = json_string_value(json_object_get(json, "Requestor"));
  if (op == NULL || strcmp(op, "DR-Complete") != 0 || c->transaction == NULL ||
      c->transaction[0] == '\0' || !json_is_integer(st))
    return -1;
  c->status = (int)json_integer_value(st);
  if (c->status != 200 && c->status != 408)
    return -1;
  if (c->status == 200) {
    if (c->response == NULL || b64 == NULL ||
        owcp_base64_decode(b64, strlen(b64), receipt, &len, NULL) != 0)
      return -1;
    c->receipt = *receipt;
    c->receipt_len = len;
  }
  return 0;
}

/* True when the signed body's Requestor is this receiver's account. The
 * dispatcher names the requestor inside the signature because any
 * requestor may give our URI as its Completion; a completion without one
 * cannot be attributed (a 408 carries no receipt) and is refused. */
static bool names_us(const struct owcp_rq_receiver *r, const char *requestor)
{
  return rq_same_account(requestor, r->account);
}

/* Decides the answer to one complete POST. */
static unsigned judge(struct owcp_rq_receiver *r, struct MHD_Connection *con,
                      const struct svc_body *up, const char **text)
{
  const char *sig =
      MHD_lookup_connection_value(con, MHD_HEADER_KIND, "OWCP-Signature");
  const char *type =
      MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Content-Type");
  struct owcp_completion c;
  unsigned char *receipt = NULL;
  json_t *json;
  unsigned code;

  if (up->too_large) {
    *text = "body too large\n";
    return MHD_HTTP_CONTENT_TOO_LARGE;
  }
  if (sig == NULL || owcp_sig_header_verify(sig, up->data, up->len,
                                            r->dispatcher_cert, NULL) != 0) {
    *text = "missing or invalid OWCP-Signature\n";
    return MHD_HTTP_UNAUTHORIZED;
  }
  if (type == NULL || strcasecmp(type, "application/json") != 0) {
    *text = "Content-Type must be application/json\n";
    return MHD_HTTP_UNSUPPORTED_MEDIA_TYPE;
  }
  json = json_loadb(up->data, up->len, JSON_REJECT_DUPLICATES, NULL);
  memset(&c, 0, sizeof c);
  if (!json_is_object(json) || read_completion(json, &c, &receipt) != 0) {
    json_decref(json);
    free(receipt);
    *text = "not a DR-Complete body\n";
    return MHD_HTTP_BAD_REQUEST;
  }
  c.body = up->data;
  c.body_len = up->len;
  c.signature = sig;
  if (!names_us(r, c.requestor)) {
    *text = "this completion is for another requestor\n";
    code = MHD_HTTP_FORBIDDEN;
  } else if (c.status == 200 &&
             rq_check_completion(r->client_ca, r->validator, r->account, &c,
                                 NULL) != 0) {
    *text = "the receipt does not show an answer to this requestor\n";
    code = MHD_HTTP_FORBIDDEN;
  } else if (seen_has(r, c.transaction)) {
    *text = "already handled\n";
    code = MHD_HTTP_OK;
  } else if (r->callback(&c, r->callback_arg) == 0) {
    seen_add(r, c.transaction);
    *text = "handled\n";
    code = MHD_HTTP_OK;
  } else {
    *text = "not handled; retry later\n";
    code = MHD_HTTP_INTERNAL_SERVER_ERROR;
  }
  json_decref(json);
  free(receipt);
  return code;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *con,
                                  const char *url, const char *method,
                                  const char *version, const char *data,
                                  size_t *data_size, void **con_cls)
{
  struct owcp_rq_receiver *r = cls;
  struct svc_body *up = *con_cls;
  const char *text = "";
  unsigned code;

  if (up == NULL) {
    if (strcmp(method, "POST") != 0)
      return answer(con, MHD_HTTP_METHOD_NOT_ALLOWED, "POST only\n");
    if (r->path != NULL && strcmp(url, r->path) != 0)
      return answer(con, MHD_HTTP_NOT_FOUND, "no such path\n");
    if (svc_body_declared_too_large(con, r->max_body))
      return answer(con, MHD_HTTP_CONTENT_TOO_LARGE, "body too large\n");
    up = calloc(1, sizeof *up);
    if (up == NULL)
      return MHD_NO;
    svc_body_init(up, r->max_body);
    *con_cls = up;
    return MHD_YES;
  }
  if (*data_size > 0)
    return svc_body_consume(up, data, data_size) == 0 ? MHD_YES : MHD_NO;
  if (svc_body_finish(up) != 0)
    return MHD_NO;
  code = judge(r, con, up, &text);
  return answer(con, code, text);
}

static void on_completed(void *cls, struct MHD_Connection *con, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
  struct svc_body *up = *con_cls;

  if (up != NULL) {
    svc_body_free(up);
    free(up);
    *con_cls = NULL;
  }
}

static int listen_addr(const char *host, unsigned short port,
                       struct sockaddr_storage *ss, unsigned *flags,
                       struct owcp_error *err)
{
  struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

  memset(ss, 0, sizeof *ss);
  if (host == NULL)
    host = "0.0.0.0";
  if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
    in4->sin_family = AF_INET;
    in4->sin_port = htons(port);
    return 0;
  }
  if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    *flags |= MHD_USE_IPv6;
    return 0;
  }
  owcp_error_set(err, "receiver host '%s' is not an IPv4 or IPv6 address",
                 host);
  return -1;
}

static int start_daemon(struct owcp_rq_receiver *r,
                        const struct owcp_receiver_config *cfg,
                        struct owcp_error *err)
{
  struct sockaddr_storage ss;
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO;
  const union MHD_DaemonInfo *info;
  bool tls = cfg->tls_cert_pem != NULL;

  if (tls != (cfg->tls_key_pem != NULL)) {
    owcp_error_set(err, "receiver TLS needs both a certificate and a key");
    return -1;
  }
  if (listen_addr(cfg->host, cfg->port, &ss, &flags, err) != 0)
    return -1;
  if (tls && ((r->tls_cert = strdup(cfg->tls_cert_pem)) == NULL ||
              (r->tls_key = strdup(cfg->tls_key_pem)) == NULL)) {
    owcp_error_set(err, "out of memory");
    return -1;
  }
  if (tls)
    flags |= MHD_USE_TLS;
  r->daemon = MHD_start_daemon(
      flags, cfg->port, NULL, NULL, on_request, r, MHD_OPTION_SOCK_ADDR,
      (struct sockaddr *)&ss, MHD_OPTION_NOTIFY_COMPLETED, on_completed, r,
      MHD_OPTION_CONNECTION_TIMEOUT, RECEIVER_CONN_TIMEOUT_S,
      MHD_OPTION_CONNECTION_LIMIT, RECEIVER_MAX_CONNECTIONS,
      tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, r->tls_cert,
      MHD_OPTION_HTTPS_MEM_KEY, r->tls_key, MHD_OPTION_HTTPS_PRIORITIES,
      SVC_TLS_PRIORITIES, MHD_OPTION_END);
  if (r->daemon == NULL) {
    owcp_error_set(err, "cannot start the receiver on %s:%u%s",
                   cfg->host ? cfg->host : "0.0.0.0", (unsigned)cfg->port,
                   tls ? " (TLS: check the certificate and key)" : "");
    return -1;
  }
  info = MHD_get_daemon_info(r->daemon, MHD_DAEMON_INFO_BIND_PORT);
  r->port = info != NULL ? info->port : cfg->port;
  return 0;
}

/* What judging a completion needs: the dispatcher certificate, the client
 * CA, the account and a validator. */
static int load_checks(struct owcp_rq_receiver *r,
                       const struct owcp_receiver_config *cfg,
                       struct owcp_error *err)
{
  struct owcp_error why = {{0}};

  if (owcp_account_normalize(cfg->account, strlen(cfg->account), &r->account,
                             &why) != 0) {
    owcp_error_set(err, "the receiver's account is not an account: %s",
                   why.msg);
    return -1;
  }
  r->dispatcher_cert = owcp_cert_from_pem(
      cfg->dispatcher_cert_pem, strlen(cfg->dispatcher_cert_pem), err);
  if (r->dispatcher_cert == NULL)
    return -1;
  r->client_ca =
      owcp_cert_from_pem(cfg->client_ca_pem, strlen(cfg->client_ca_pem), &why);
  if (r->client_ca == NULL) {
    owcp_error_set(err, "the receiver's client CA is unusable: %s", why.msg);
    return -1;
  }
  r->validator = owcp_xml_validator_new(NULL, err);
  return r->validator == NULL ? -1 : 0;
}

int owcp_rq_receiver_start(const struct owcp_receiver_config *cfg,
                           struct owcp_rq_receiver **out,
                           struct owcp_error *err)
{
  struct owcp_rq_receiver *r;

  if (cfg == NULL || out == NULL || cfg->callback == NULL ||
      cfg->dispatcher_cert_pem == NULL || cfg->client_ca_pem == NULL ||
      cfg->account == NULL) {
    owcp_error_set(err, "the receiver needs a callback, the dispatcher "
                        "certificate, the client CA and the requestor "
                        "account");
    return -1;
  }
  *out = NULL;
  r = calloc(1, sizeof *r);
  if (r == NULL) {
    owcp_error_set(err, "out of memory");
    return -1;
  }
  pthread_mutex_init(&r->lock, NULL);
  r->max_body = cfg->max_body ? cfg->max_body : RECEIVER_DEFAULT_MAX_BODY;
  r->seen_cap =
      cfg->dedup_capacity ? cfg->dedup_capacity : RECEIVER_DEFAULT_DEDUP;
  r->seen = calloc(r->seen_cap, sizeof(char *));
  r->callback = cfg->callback;
  r->callback_arg = cfg->callback_arg;
  if (r->seen == NULL ||
      (cfg->path != NULL && (r->path = strdup(cfg->path)) == NULL)) {
    owcp_error_set(err, "out of memory");
    goto fail;
  }
  if (load_checks(r, cfg, err) != 0 || start_daemon(r, cfg, err) != 0)
    goto fail;
  *out = r;
  return 0;
fail:
  owcp_rq_receiver_stop(r);
  return -1;
}

unsigned short owcp_rq_receiver_port(const struct owcp_rq_receiver *r)
{
  return r->port;
}

void owcp_rq_receiver_stop(struct owcp_rq_receiver *r)
{
  if (r == NULL)
    return;
  if (r->daemon != NULL)
    MHD_stop_daemon(r->daemon);
  X509_free(r->dispatcher_cert);
  X509_free(r->client_ca);
  free(r->account);
  owcp_xml_validator_free(r->validator);
  if (r->seen != NULL)
    for (size_t i = 0; i < r->seen_cap; i++)
      free(r->seen[i]);
  free(r->seen);
  free(r->path);
  free(r->tls_cert);
  if (r->tls_key != NULL) {
    OPENSSL_cleanse(r->tls_key, strlen(r->tls_key));
    free(r->tls_key);
  }
  pthread_mutex_destroy(&r->lock);
  free(r);
}
