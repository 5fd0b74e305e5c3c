/*
 * outbox.c — the DR-Complete sender (binding §4): claims due outbox rows,
 * POSTs each signed outcome to the requestor's Completion URI with libcurl
 * and records the result; the store computes the backoff and gives up
 * after 24 h.
 *
 * Delivery is at least once: a row is marked delivered only after the
 * requestor answered HTTP 200, so a crash in between resends it once the
 * claim's lease ends. Claims use SKIP LOCKED plus a lease, so no two
 * processes send the same row at the same time; the sender keeps no state
 * beyond one reusable curl handle (for keep-alive).
 *
 * Transport decisions: TLS verification on (TLS 1.2 or later, system trust
 * store); no redirects (a redirect could turn a signed outcome into a POST
 * to a host the requestor did not name); environment proxies are ignored
 * (a daemon's delivery path should not change with an inherited http_proxy,
 * and loopback delivery in tests must stay direct); plain http only when
 * the dispatcher runs with --insecure-http, and then only to loopback
 * addresses, re-checked here at connect time.
 */
#include "workers.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "http.h"
#include "owcp/service/daemon.h"
#include "owcp/service/log.h"
#include "notify.h"
#include "owcp/keys.h"
#include "owcp/status.h"
#include "owcp/util.h"

#define OUTBOX_BATCH 16
#define OUTBOX_LEASE_S 60
#define OUTBOX_CONNECT_TIMEOUT_MS 5000L
#define OUTBOX_TOTAL_TIMEOUT_MS 15000L
/* A send is started only while this much of the lease is left, so it ends
 * before another process may claim the row again. */
#define OUTBOX_LEASE_MARGIN_MS (OUTBOX_TOTAL_TIMEOUT_MS + 10000L)
#define OUTBOX_IDLE_MS 200
#define OUTBOX_ACQUIRE_WAIT_MS 500
/* How long a finished send may wait for the database to record it before
 * the row is left to its lease (and sent again: at least once). */
#define OUTBOX_RECORD_TRIES 10
#define OUTBOX_ERROR_TEXT 160

/* The sender thread's state; owned by the thread, freed when it ends. */
struct outbox {
  struct dispatcher *d;
  CURL *curl;
  bool plain_http_now; /* the current URL is http: loopback only */
  bool refused_now;    /* open_socket refused the current URL's address */
  bool failing;        /* database unreachable: log once */
};

json_t *outbox_completion_body(const struct store_result *res)
{
  json_t *o;
  const char *text;

  if (res == NULL || (res->status != OWCP_OK && res->status != OWCP_TIMEOUT))
    return NULL;
  text = owcp_status_text(res->status);
  o = http_result_fields(res);
  if (o == NULL)
    return NULL;
  /* "Requestor" (our addition to spec §4) names whom the outcome is for
   * inside the signed body: any requestor may give any URI as its
   * Completion, and without it a receiver could not tell another
   * requestor's outcome (a 408 carries no receipt) from its own. */
  if (json_object_set_new(o, "Operation", json_string("DR-Complete")) != 0 ||
      json_object_set_new(o, "Status", json_integer(res->status)) != 0 ||
      json_object_set_new(o, "Text", json_string(text)) != 0 ||
      (res->requestor != NULL &&
       json_object_set_new(o, "Requestor", json_string(res->requestor)) != 0)) {
    json_decref(o);
    return NULL;
  }
  return o;
}

/* The response body is not used: the HTTP status is the acknowledgement. */
static size_t discard(char *data, size_t size, size_t nmemb, void *arg)
{
  (void)data;
  (void)arg;
  return size * nmemb;
}

/* Aborts a transfer in progress once shutdown begins, so that joining the
 * thread takes milliseconds rather than up to the 15 s send timeout. */
static int abort_on_stop(void *arg, curl_off_t dltotal, curl_off_t dlnow,
                         curl_off_t ultotal, curl_off_t ulnow)
{
  const struct outbox *ob = arg;

  return atomic_load(&ob->d->stopping) ? 1 : 0;
}

/* Addresses a Completion URI may never reach, whatever the scheme:
 * link-local (169.254/16 holds cloud metadata services, fe80::/10),
 * unspecified, multicast and broadcast. */
static bool is_forbidden(const struct sockaddr *sa)
{
  if (sa->sa_family == AF_INET) {
    uint32_t a = ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr);

    return (a >> 16) == 0xA9FE || (a >> 24) == 0 || (a >> 28) == 0xE ||
           a == 0xFFFFFFFFu;
  }
  if (sa->sa_family == AF_INET6) {
    const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;

    if (IN6_IS_ADDR_V4MAPPED(a)) {
      struct sockaddr_in v4 = {.sin_family = AF_INET};

      memcpy(&v4.sin_addr, &a->s6_addr[12], 4);
      return is_forbidden((const struct sockaddr *)&v4) ||
             owcp_sockaddr_is_loopback((const struct sockaddr *)&v4, sizeof v4);
    }
    return IN6_IS_ADDR_LINKLOCAL(a) || IN6_IS_ADDR_UNSPECIFIED(a) ||
           IN6_IS_ADDR_MULTICAST(a);
  }
  return true;
}

/* Checks, at connect time (whatever name the URI used, after DNS), where a
 * completion may go: plain http only to loopback (--insecure-http); https
 * never to the forbidden ranges, nor to loopback unless --insecure-http, so
 * a requestor cannot make the dispatcher POST to services on its own host.
 * Private (RFC 1918 / ULA) addresses stay allowed: requestors commonly sit
 * on internal networks. Decision recorded in docs/protocol-decisions.md. */
static curl_socket_t open_socket(void *arg, curlsocktype purpose,
                                 struct curl_sockaddr *a)
{
  struct outbox *ob = arg;
  bool loopback = owcp_sockaddr_is_loopback(&a->addr, a->addrlen);

  if (purpose != CURLSOCKTYPE_IPCXN)
    return CURL_SOCKET_BAD;
  if ((ob->plain_http_now && !loopback) || is_forbidden(&a->addr) ||
      (loopback && !ob->d->cfg.insecure_http)) {
    ob->refused_now = true;
    return CURL_SOCKET_BAD;
  }
  return socket(a->family, a->socktype, a->protocol);
}

/* The options every send shares; set once so the handle's connection cache
 * gives keep-alive. */
static int configure(struct outbox *ob, struct owcp_error *err)
{
  const char *protocols = ob->d->cfg.insecure_http ? "http,https" : "https";
  CURL *c = ob->curl;
  CURLcode rc = CURLE_OK;

#define SET(opt, val)                                                          \
  if (rc == CURLE_OK)                                                          \
  rc = curl_easy_setopt(c, opt, val)
  SET(CURLOPT_NOSIGNAL, 1L);
  SET(CURLOPT_PROTOCOLS_STR, protocols);
  SET(CURLOPT_FOLLOWLOCATION, 0L);
  SET(CURLOPT_SSL_VERIFYPEER, 1L);
  SET(CURLOPT_SSL_VERIFYHOST, 2L);
  SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
  SET(CURLOPT_CONNECTTIMEOUT_MS, OUTBOX_CONNECT_TIMEOUT_MS);
  SET(CURLOPT_TIMEOUT_MS, OUTBOX_TOTAL_TIMEOUT_MS);
  SET(CURLOPT_PROXY, "");
  SET(CURLOPT_NETRC, (long)CURL_NETRC_IGNORED);
  SET(CURLOPT_USERAGENT, "owcp-dispatcher/0.1");
  SET(CURLOPT_WRITEFUNCTION, discard);
  SET(CURLOPT_OPENSOCKETFUNCTION, open_socket);
  SET(CURLOPT_OPENSOCKETDATA, ob);
  SET(CURLOPT_XFERINFOFUNCTION, abort_on_stop);
  SET(CURLOPT_XFERINFODATA, ob);
  SET(CURLOPT_NOPROGRESS, 0L);
  SET(CURLOPT_TCP_KEEPALIVE, 1L);
  SET(CURLOPT_POST, 1L);
#undef SET
  if (rc != CURLE_OK) {
    owcp_error_set(err, "cannot configure libcurl: %s", curl_easy_strerror(rc));
    return -1;
  }
  return 0;
}

/* POSTs body with its signature header; 0 when the requestor answered
 * 200, else -1 with a short reason (no URI: it may carry a secret). */
static int post(struct outbox *ob, const char *uri, const char *body,
                const char *sig_header, char *why, size_t why_size)
{
  struct curl_slist *h = NULL, *next;
  CURLcode rc;
  long code = 0;

  ob->plain_http_now = strncmp(uri, "http:", 5) == 0;
  ob->refused_now = false;
  next = curl_slist_append(h, "Content-Type: application/json");
  if (next != NULL) {
    h = next;
    next = curl_slist_append(h, sig_header);
  }
  if (next != NULL) {
    h = next;
    next = curl_slist_append(h, "Expect:"); /* no 100-continue round trip */
  }
  if (next == NULL) {
    curl_slist_free_all(h);
    snprintf(why, why_size, "out of memory building the request");
    return -1;
  }
  h = next;
  rc = curl_easy_setopt(ob->curl, CURLOPT_URL, uri);
  if (rc == CURLE_OK)
    rc = curl_easy_setopt(ob->curl, CURLOPT_HTTPHEADER, h);
  if (rc == CURLE_OK)
    rc = curl_easy_setopt(ob->curl, CURLOPT_POSTFIELDSIZE_LARGE,
                          (curl_off_t)strlen(body));
  if (rc == CURLE_OK)
    rc = curl_easy_setopt(ob->curl, CURLOPT_POSTFIELDS, body);
  if (rc == CURLE_OK)
    rc = curl_easy_perform(ob->curl);
  if (rc == CURLE_OK)
    curl_easy_getinfo(ob->curl, CURLINFO_RESPONSE_CODE, &code);
  /* the handle must not keep pointers to what is freed below */
  curl_easy_setopt(ob->curl, CURLOPT_HTTPHEADER, NULL);
  curl_easy_setopt(ob->curl, CURLOPT_POSTFIELDS, NULL);
  curl_slist_free_all(h);
  if (rc != CURLE_OK && ob->refused_now) {
    /* the policy is spelled out at open_socket() */
    snprintf(why, why_size, "%s",
             "delivery refused: the Completion host's address is not "
             "allowed (link-local, unspecified, multicast, or loopback)");
    return -1;
  }
  if (rc != CURLE_OK) {
    snprintf(why, why_size, "delivery failed: %s", curl_easy_strerror(rc));
    return -1;
  }
  if (code != 200) {
    snprintf(why, why_size, "requestor answered HTTP %ld, not 200", code);
    return -1;
  }
  return 0;
}

/* The exact bytes to send for item: its stored body, or the transaction's
 * outcome rendered once. Returns 0 (*out caller-owned), -1 when there is
 * no outcome to send (why says so), STORE_UNAVAILABLE when the database
 * could not be asked (the row stays leased and is retried later). */
static int render_body(struct outbox *ob, const struct store_outbox_item *item,
                       char **out, char *why, size_t why_size)
{
  struct store_result res;
  struct owcp_error err = {{0}};
  struct store *st = NULL;
  json_t *o;
  int rc;

  *out = NULL;
  if (item->body != NULL) {
    *out = strdup(item->body);
    if (*out == NULL) {
      snprintf(why, why_size, "out of memory copying the body");
      return -1;
    }
    return 0;
  }
  memset(&res, 0, sizeof res);
  rc = store_pool_acquire(ob->d->pool, OUTBOX_ACQUIRE_WAIT_MS, &st, &err);
  if (rc == 0) {
    rc = store_outcome(st, item->transaction, 0, &res, &err);
    store_pool_release(ob->d->pool, st);
  }
  if (rc != 0) {
    svc_log(SVC_LOG_ERROR, "outbox.outcome", "transaction %s: %s",
            item->transaction, err.msg);
    store_result_free(&res);
    return rc == STORE_UNAVAILABLE ? STORE_UNAVAILABLE : -1;
  }
  o = outbox_completion_body(&res);
  if (o == NULL) {
    snprintf(why, why_size, "transaction has no final outcome (status %d)",
             res.status);
    store_result_free(&res);
    return -1;
  }
  *out = json_dumps(o, JSON_COMPACT);
  json_decref(o);
  store_result_free(&res);
  if (*out == NULL) {
    snprintf(why, why_size, "out of memory serialising the outcome");
    return -1;
  }
  return 0;
}

/* Records the attempt, retrying briefly while the database is away. After
 * that the row is left to its lease: a delivered row may then be sent a
 * second time, which at-least-once allows and requestors de-duplicate. */
static void record(struct outbox *ob, const struct store_outbox_item *item,
                   bool delivered, const char *why)
{
  struct owcp_error err = {{0}};
  int rc = STORE_UNAVAILABLE;

  for (int i = 0; i < OUTBOX_RECORD_TRIES && rc == STORE_UNAVAILABLE; i++) {
    struct store *st = NULL;
    bool gave_up = false;
    time_t next = 0;
    int status = 0;

    if (i > 0)
      svc_sleep_unless(&ob->d->stopping, OUTBOX_IDLE_MS);
    rc = store_pool_acquire(ob->d->pool, OUTBOX_ACQUIRE_WAIT_MS, &st, &err);
    if (rc != 0)
      continue;
    if (delivered)
      rc = store_outbox_delivered(st, item->id, 0, &status, &err);
    else
      rc = store_outbox_failed(st, item->id, why, 0, &gave_up, &next, &err);
    store_pool_release(ob->d->pool, st);
    if (rc == 0 && gave_up)
      svc_log(SVC_LOG_WARN, "completion.failed",
              "transaction %s: gave up after %d attempts: %s",
              item->transaction, item->attempts + 1, why);
    else if (rc == 0 && !delivered)
      svc_log(SVC_LOG_INFO, "completion.retry",
              "transaction %s: attempt %d: %s", item->transaction,
              item->attempts + 1, why);
    else if (rc == 0)
      svc_log(SVC_LOG_INFO, "completion.delivered", "transaction %s delivered",
              item->transaction);
  }
  if (rc != 0)
    svc_log(SVC_LOG_ERROR, "outbox.record",
            "transaction %s: cannot record attempt: %s", item->transaction,
            err.msg);
}

/* Renders, signs and sends one claimed row, then records the attempt. */
static void deliver(struct outbox *ob, const struct store_outbox_item *item)
{
  char why[OUTBOX_ERROR_TEXT] = "";
  struct owcp_error err = {{0}};
  char *body = NULL, *sig = NULL, *header = NULL;
  size_t header_len;
  int rc = render_body(ob, item, &body, why, sizeof why);

  if (rc == STORE_UNAVAILABLE)
    return; /* leased: retried when the lease ends */
  if (rc == 0) {
    sig = owcp_sig_header_make(ob->d->keys.sign_key, ob->d->keys.sign_cert,
                               body, strlen(body), &err);
    if (sig == NULL) {
      svc_log(SVC_LOG_ERROR, "outbox.sign", "transaction %s: %s",
              item->transaction, err.msg);
      snprintf(why, sizeof why, "cannot sign the body");
      rc = -1;
    }
  }
  if (rc == 0) {
    header_len = strlen("OWCP-Signature: ") + strlen(sig) + 1;
    header = malloc(header_len);
    if (header == NULL) {
      snprintf(why, sizeof why, "out of memory building the request");
      rc = -1;
    } else {
      snprintf(header, header_len, "OWCP-Signature: %s", sig);
      rc = post(ob, item->uri, body, header, why, sizeof why);
    }
  }
  record(ob, item, rc == 0, why);
  free(header);
  free(sig);
  free(body);
}

/* Claims and sends one batch; returns how many rows were claimed, or a
 * negative store code (err filled). */
static int run_batch(struct outbox *ob, struct owcp_error *err)
{
  struct store_outbox_batch batch = {0};
  struct store *st = NULL;
  int64_t deadline;
  int rc, claimed;

  rc = store_pool_acquire(ob->d->pool, OUTBOX_ACQUIRE_WAIT_MS, &st, err);
  if (rc != 0)
    return rc;
  rc = store_outbox_claim(st, OUTBOX_BATCH, OUTBOX_LEASE_S, 0, &batch, err);
  store_pool_release(ob->d->pool, st); /* never held across HTTP */
  if (rc != 0)
    return rc;
  deadline = notify_now_ms() + OUTBOX_LEASE_S * 1000LL - OUTBOX_LEASE_MARGIN_MS;
  for (size_t i = 0; i < batch.count && !atomic_load(&ob->d->stopping); i++) {
    if (notify_now_ms() > deadline) {
      svc_log(SVC_LOG_WARN, "outbox.lease",
              "%zu claimed completions left for their lease to return",
              batch.count - i);
      break;
    }
    deliver(ob, &batch.items[i]);
  }
  claimed = (int)batch.count;
  store_outbox_batch_free(&batch);
  return claimed;
}

static void *outbox_main(void *arg)
{
  struct outbox *ob = arg;

  while (!atomic_load(&ob->d->stopping)) {
    struct owcp_error err = {{0}};
    int n = run_batch(ob, &err);

    if (n < 0 && !ob->failing)
      svc_log(SVC_LOG_ERROR, "outbox.failed", "%s (retrying)", err.msg);
    else if (n >= 0 && ob->failing)
      svc_log(SVC_LOG_INFO, "outbox.recovered", "outbox working again");
    ob->failing = n < 0;
    if (n < OUTBOX_BATCH) /* a full batch: more may be due at once */
      svc_sleep_unless(&ob->d->stopping, OUTBOX_IDLE_MS);
  }
  curl_easy_cleanup(ob->curl);
  free(ob);
  return NULL;
}

int outbox_start(struct dispatcher *d, struct owcp_error *err)
{
  struct outbox *ob;

  if (d->outbox_started) {
    owcp_error_set(err, "the outbox sender is already running");
    return -1;
  }
  ob = calloc(1, sizeof *ob);
  if (ob == NULL) {
    owcp_error_set(err, "out of memory starting the outbox sender");
    return -1;
  }
  ob->d = d;
  ob->curl = curl_easy_init();
  if (ob->curl == NULL) {
    owcp_error_set(err, "cannot create a libcurl handle");
    free(ob);
    return -1;
  }
  if (configure(ob, err) != 0 ||
      svc_thread_create(&d->outbox_thread, outbox_main, ob, err) != 0) {
    curl_easy_cleanup(ob->curl);
    free(ob);
    return -1;
  }
  d->outbox_started = true;
  return 0;
}

void outbox_join(struct dispatcher *d)
{
  if (!d->outbox_started)
    return;
  pthread_join(d->outbox_thread, NULL);
  d->outbox_started = false;
}
