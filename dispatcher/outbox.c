/*
 * outbox.c — the DR-Complete sender (binding §4): claims due outbox rows,
 * POSTs each signed outcome to the requestor's Completion URI with libcurl
 * and records the result; the store computes each row's backoff and gives
 * up after 24 h.
 *
 * One thread drives a libcurl multi handle, so deliveries run side by
 * side: at most completion_max in flight, at most completion_per_host to
 * one destination (host:port). A destination whose transport fails
 * (refused, unreachable, timed out, TLS) is backed off as a whole, 1 s
 * doubling to 10 min while it keeps failing, and then probed by one
 * delivery at a time: its other rows go back to the outbox until then
 * instead of each paying the timeout. Claims take turns between requestors
 * (procedures/owcp_outbox_claim.sql), so neither one requestor's backlog
 * nor a Completion URI that never answers holds up another's completions.
 *
 * Delivery is at least once: a row is marked delivered only after the
 * requestor answered HTTP 200, so a crash in between resends it once the
 * claim's lease ends. Claims use SKIP LOCKED plus a lease, so no two
 * processes send the same row at the same time. A claimed row is started
 * at once or given back at once (its destination busy or backed off); at
 * shutdown the deliveries in flight are abandoned and their rows given
 * back, so another process sends them without waiting for the lease. The
 * per-destination state lives only in this thread: each process backs
 * off on its own.
 *
 * Transport decisions: TLS verification on (TLS 1.2 or later, system trust
 * store); no redirects (a redirect could turn a signed outcome into a POST
 * to a host the requestor did not name); environment proxies are ignored
 * (a daemon's delivery path should not change with an inherited http_proxy,
 * and loopback delivery in tests must stay direct); plain http only when
 * the dispatcher runs with --insecure-http, and then only to loopback
 * addresses, re-checked here at connect time. Completion URIs reach logs
 * only redacted (completion_uri.h).
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

#include "completion_uri.h"
#include "outbox_hosts.h"
#include "http.h"
#include "notify.h"
#include "owcp/keys.h"
#include "owcp/service/daemon.h"
#include "owcp/service/log.h"
#include "owcp/service/metrics.h"
#include "owcp/status.h"
#include "owcp/util.h"

/* Longer than the longest attempt (completion_timeout <= 40 s), so a row
 * is never sent by two processes at once. */
#define OUTBOX_LEASE_S 60
#define OUTBOX_CONNECT_TIMEOUT_MS 5000L
#define OUTBOX_IDLE_MS 200
#define OUTBOX_ACQUIRE_WAIT_MS 500
/* How long a finished send may wait for the database to record it before
 * the row is left to its lease (and sent again: at least once). */
#define OUTBOX_RECORD_TRIES 10
#define OUTBOX_ERROR_TEXT 200
/* A row whose destination has all its slots taken is due again after
 * this long. */
#define OUTBOX_BUSY_DEFER_MS 1000
/* As owcp_outbox_failed: a row this old is given up at its next failure. */
#define OUTBOX_GIVE_UP_S (24L * 3600L)

static const char refused_text[] =
    "delivery refused: the Completion host's address is not allowed "
    "(link-local, unspecified, multicast, shared 100.64.0.0/10, NAT64 "
    "64:ff9b::/96, or loopback)";

struct outbox;

/* One delivery in flight; owns its row, body and headers. */
struct outbox_transfer {
  struct outbox *ob;
  CURL *easy;
  struct store_outbox_item item;
  char host_key[OUTBOX_HOST_KEY_MAX];
  char *uri_logged; /* redacted, for logs */
  char *body;
  struct curl_slist *headers;
  bool plain_http; /* http: loopback only */
  bool refused;    /* open_socket refused the address */
};

/* The sender's metrics (families live in the dispatcher's registry). */
struct outbox_metrics {
  struct svc_metric *in_flight;  /* gauge */
  struct svc_metric *attempts;   /* counter{outcome} */
  struct svc_metric *deferred;   /* counter{reason} */
  struct svc_metric *gave_up;    /* counter */
  struct svc_metric *backed_off; /* gauge: destinations backed off */
};

/* The sender thread's state; owned by the thread, freed when it ends. */
struct outbox {
  struct dispatcher *d;
  CURLM *multi;
  struct outbox_transfer **running; /* n_running of cfg.completion_max */
  size_t n_running;
  struct outbox_hosts hosts;             /* destinations (outbox_hosts.h) */
  struct store_outbox_release *releases; /* given back after each pass */
  size_t n_releases;                     /* of cfg.completion_max */
  int64_t *busy_ids; /* claim_pass()'s scratch, completion_max each */
  int *busy_counts;
  int64_t next_claim_ms;
  bool failing; /* database unreachable: log once */
  struct outbox_metrics m;
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

/* Addresses a Completion URI may never reach, whatever the scheme:
 * link-local (169.254/16 holds cloud metadata services, fe80::/10),
 * unspecified, multicast and broadcast, the shared address space
 * 100.64.0.0/10 (carrier-grade NAT: the provider's side of the network)
 * and the NAT64 prefix 64:ff9b::/96 (which reaches any IPv4 address,
 * loopback and metadata included, around the IPv4 checks). */
static bool is_forbidden(const struct sockaddr *sa)
{
  static const unsigned char nat64[12] = {0x00, 0x64, 0xff, 0x9b};

  if (sa->sa_family == AF_INET) {
    uint32_t a = ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr);

    return (a >> 16) == 0xA9FE || (a >> 24) == 0 || (a >> 28) == 0xE ||
           a == 0xFFFFFFFFu || (a >> 22) == (0x64400000u >> 22);
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
           IN6_IS_ADDR_MULTICAST(a) ||
           memcmp(a->s6_addr, nat64, sizeof nat64) == 0;
  }
  return true;
}

/* Checks, at connect time (whatever name the URI used, after DNS), where a
 * completion may go: plain http only to loopback (--insecure-http); https
 * never to the forbidden ranges, nor to loopback unless --insecure-http, so
 * a requestor cannot make the dispatcher POST to services on its own host.
 * Private (RFC 1918 / ULA) addresses stay allowed: requestors commonly sit
 * on internal networks. Decision recorded in docs/protocol-decisions.md.
 * A refused address gets no socket, so no connection is ever attempted. */
static curl_socket_t open_socket(void *arg, curlsocktype purpose,
                                 struct curl_sockaddr *a)
{
  struct outbox_transfer *t = arg;
  bool loopback = owcp_sockaddr_is_loopback(&a->addr, a->addrlen);

  if (purpose != CURLSOCKTYPE_IPCXN)
    return CURL_SOCKET_BAD;
  if ((t->plain_http && !loopback) || is_forbidden(&a->addr) ||
      (loopback && !t->ob->d->cfg.insecure_http)) {
    t->refused = true;
    return CURL_SOCKET_BAD;
  }
  return socket(a->family, a->socktype, a->protocol);
}

/* The options of one delivery. */
static int configure(struct outbox_transfer *t, struct owcp_error *err)
{
  const struct dispatcher_config *cfg = &t->ob->d->cfg;
  const char *protocols = cfg->insecure_http ? "http,https" : "https";
  long total_ms = (long)cfg->completion_timeout * 1000L;
  long connect_ms = total_ms < OUTBOX_CONNECT_TIMEOUT_MS
                        ? total_ms
                        : OUTBOX_CONNECT_TIMEOUT_MS;
  CURL *c = t->easy;
  CURLcode rc = CURLE_OK;

#define SET(opt, val)                                                          \
  if (rc == CURLE_OK)                                                          \
  rc = curl_easy_setopt(c, opt, val)
  SET(CURLOPT_PRIVATE, t);
  SET(CURLOPT_URL, t->item.uri);
  SET(CURLOPT_NOSIGNAL, 1L);
  SET(CURLOPT_PROTOCOLS_STR, protocols);
  SET(CURLOPT_FOLLOWLOCATION, 0L);
  SET(CURLOPT_SSL_VERIFYPEER, 1L);
  SET(CURLOPT_SSL_VERIFYHOST, 2L);
  SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
  SET(CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
  SET(CURLOPT_TIMEOUT_MS, total_ms);
  SET(CURLOPT_PROXY, "");
  SET(CURLOPT_NETRC, (long)CURL_NETRC_IGNORED);
  SET(CURLOPT_USERAGENT, "owcp-dispatcher/0.1");
  SET(CURLOPT_WRITEFUNCTION, discard);
  SET(CURLOPT_OPENSOCKETFUNCTION, open_socket);
  SET(CURLOPT_OPENSOCKETDATA, t);
  SET(CURLOPT_TCP_KEEPALIVE, 1L);
  SET(CURLOPT_POST, 1L);
  SET(CURLOPT_HTTPHEADER, t->headers);
  SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(t->body));
  SET(CURLOPT_POSTFIELDS, t->body);
#undef SET
  if (rc != CURLE_OK) {
    owcp_error_set(err, "cannot configure libcurl: %s", curl_easy_strerror(rc));
    return -1;
  }
  return 0;
}

/* ---- rows -------------------------------------------------------------- */

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
                   const char *uri_logged, bool delivered, const char *why)
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
      rc = store_outbox_delivered(st, item->id, uri_logged, 0, &status, &err);
    else
      rc = store_outbox_failed(st, item->id, why, uri_logged, 0, &gave_up,
                               &next, &err);
    store_pool_release(ob->d->pool, st);
    if (rc == 0 && gave_up) {
      svc_metric_add(ob->m.gave_up, NULL, 1);
      svc_log(SVC_LOG_WARN, "completion.failed",
              "transaction %s to %s: gave up after %d attempts: %s",
              item->transaction, uri_logged, item->attempts + 1, why);
    } else if (rc == 0 && !delivered) {
      svc_log(SVC_LOG_INFO, "completion.retry",
              "transaction %s to %s: attempt %d: %s", item->transaction,
              uri_logged, item->attempts + 1, why);
    } else if (rc == 0) {
      svc_log(SVC_LOG_INFO, "completion.delivered",
              "transaction %s delivered to %s", item->transaction, uri_logged);
    }
  }
  if (rc != 0)
    svc_log(SVC_LOG_ERROR, "outbox.record",
            "transaction %s: cannot record attempt: %s", item->transaction,
            err.msg);
}

/* Queues item to be given back unattempted, due again in delay_ms. */
static void defer(struct outbox *ob, const struct store_outbox_item *item,
                  int64_t delay_ms, const char *reason)
{
  const char *labels[] = {reason};

  if (ob->n_releases == ob->d->cfg.completion_max)
    return; /* cannot happen (one pass claims at most that many); leased */
  ob->releases[ob->n_releases++] = (struct store_outbox_release){
      item->id, item->lease_us,
      (int)(delay_ms > INT32_MAX ? INT32_MAX : delay_ms)};
  svc_metric_add(ob->m.deferred, labels, 1);
}

/* Gives the queued rows back; when the database is away they stay leased
 * and return when their lease ends. */
static void flush_releases(struct outbox *ob)
{
  struct owcp_error err = {{0}};
  struct store *st = NULL;
  int released = 0, rc;

  if (ob->n_releases == 0)
    return;
  rc = store_pool_acquire(ob->d->pool, OUTBOX_ACQUIRE_WAIT_MS, &st, &err);
  if (rc == 0) {
    rc =
        store_outbox_release(st, ob->releases, ob->n_releases, &released, &err);
    store_pool_release(ob->d->pool, st);
  }
  if (rc != 0)
    svc_log(SVC_LOG_WARN, "outbox.release",
            "%zu claimed completions left for their lease to return: %s",
            ob->n_releases, err.msg);
  ob->n_releases = 0;
}

static void count_attempt(struct outbox *ob, const char *outcome)
{
  const char *labels[] = {outcome};

  svc_metric_add(ob->m.attempts, labels, 1);
}

/* A row that cannot be sent at all: recorded as a failed attempt. */
static void fail_unsent(struct outbox *ob, const struct store_outbox_item *item,
                        const char *why)
{
  char *logged = completion_uri_redacted(item->uri);

  count_attempt(ob, "error");
  record(ob, item, logged ? logged : COMPLETION_URI_UNPARSEABLE, false, why);
  free(logged);
}

/* ---- deliveries -------------------------------------------------------- */

static void transfer_free(struct outbox_transfer *t)
{
  if (t == NULL)
    return;
  curl_easy_cleanup(t->easy);
  curl_slist_free_all(t->headers);
  free(t->body);
  free(t->uri_logged);
  free(t->item.uri);
  free(t->item.body);
  free(t);
}

/* The headers of one delivery into t->headers; 0 or -1 (why says). */
static int build_headers(struct outbox_transfer *t, char *why, size_t why_size)
{
  struct owcp_error err = {{0}};
  const struct dispatcher_keys *k = &t->ob->d->keys;
  char *sig = owcp_sig_header_make(k->sign_key, k->sign_cert, t->body,
                                   strlen(t->body), &err);
  const char *lines[3] = {"Content-Type: application/json",
                          "Expect:", /* no 100-continue round trip */
                          NULL};
  char *header = NULL;
  size_t len;

  if (sig == NULL) {
    svc_log(SVC_LOG_ERROR, "outbox.sign", "transaction %s: %s",
            t->item.transaction, err.msg);
    snprintf(why, why_size, "cannot sign the body");
    return -1;
  }
  len = strlen("OWCP-Signature: ") + strlen(sig) + 1;
  header = malloc(len);
  if (header != NULL) {
    snprintf(header, len, "OWCP-Signature: %s", sig);
    lines[2] = header;
  }
  for (size_t i = 0; i < 3 && lines[i] != NULL; i++) {
    struct curl_slist *next = curl_slist_append(t->headers, lines[i]);

    if (next == NULL) {
      lines[2] = NULL;
      break;
    }
    t->headers = next;
  }
  free(header);
  free(sig);
  if (lines[2] == NULL) {
    snprintf(why, why_size, "out of memory building the request");
    return -1;
  }
  return 0;
}

/* Renders, signs and starts the delivery of *item (moved into the
 * transfer on success, left to the caller otherwise). 0 started; -1 failed
 * for good (why); STORE_UNAVAILABLE: the database was away, try later. */
static int transfer_start(struct outbox *ob, struct store_outbox_item *item,
                          struct outbox_host *h, char *why, size_t why_size)
{
  struct owcp_error err = {{0}};
  struct outbox_transfer *t = calloc(1, sizeof *t);
  int rc;

  if (t == NULL) {
    snprintf(why, why_size, "out of memory starting a delivery");
    return STORE_UNAVAILABLE;
  }
  t->ob = ob;
  t->item = *item;
  snprintf(t->host_key, sizeof t->host_key, "%s", h->key);
  t->plain_http = strncmp(item->uri, "http:", 5) == 0;
  rc = render_body(ob, item, &t->body, why, why_size);
  if (rc == 0)
    rc = build_headers(t, why, why_size);
  if (rc == 0 &&
      ((t->uri_logged = completion_uri_redacted(item->uri)) == NULL ||
       (t->easy = curl_easy_init()) == NULL)) {
    snprintf(why, why_size, "out of memory starting a delivery");
    rc = STORE_UNAVAILABLE;
  }
  if (rc == 0 && configure(t, &err) != 0) {
    snprintf(why, why_size, "%s", err.msg);
    rc = -1;
  }
  if (rc == 0 && curl_multi_add_handle(ob->multi, t->easy) != CURLM_OK) {
    snprintf(why, why_size, "cannot start the transfer");
    rc = STORE_UNAVAILABLE;
  }
  if (rc != 0) {
    t->item.uri = NULL; /* still the caller's */
    t->item.body = NULL;
    transfer_free(t);
    return rc;
  }
  item->uri = NULL; /* moved */
  item->body = NULL;
  h->in_flight++;
  ob->running[ob->n_running++] = t;
  svc_metric_set(ob->m.in_flight, NULL, (double)ob->n_running);
  return 0;
}

/* Starts one claimed row, or gives it back, or records why it cannot be
 * sent; frees nothing of *item but what it moved. */
static void dispatch(struct outbox *ob, struct store_outbox_item *item)
{
  char key[OUTBOX_HOST_KEY_MAX], why[OUTBOX_ERROR_TEXT] = "";
  int64_t now = notify_now_ms();
  struct outbox_host *h;
  int rc;

  if (completion_uri_host_key(item->uri, key, sizeof key) != 0) {
    fail_unsent(ob, item,
                "delivery failed: the Completion URI cannot be parsed");
    return;
  }
  h = outbox_host_get(&ob->hosts, key);
  if (h == NULL) {
    defer(ob, item, OUTBOX_BUSY_DEFER_MS, "error");
    return;
  }
  if (h->backoff_until_ms > now) {
    if (time(NULL) - item->created >= OUTBOX_GIVE_UP_S)
      fail_unsent(ob, item,
                  "delivery failed: the Completion host is backed off after "
                  "transport failures");
    else
      defer(ob, item, h->backoff_until_ms - now, "host_backoff");
    return;
  }
  if (outbox_host_slots(h, ob->d->cfg.completion_per_host, now) == 0) {
    /* a probe may take up to the attempt timeout */
    defer(ob, item,
          h->failures > 0 ? ob->d->cfg.completion_timeout * 1000LL
                          : OUTBOX_BUSY_DEFER_MS,
          "host_busy");
    return;
  }
  rc = transfer_start(ob, item, h, why, sizeof why);
  if (rc == STORE_UNAVAILABLE)
    defer(ob, item, OUTBOX_BUSY_DEFER_MS, "error");
  else if (rc != 0)
    fail_unsent(ob, item, why);
}

/* Deliveries in flight per requestor, for the claim's turn order: fills
 * ids/counts (room for n_running each), returns the number of entries. */
static size_t busy_requestors(const struct outbox *ob, int64_t *ids,
                              int *counts)
{
  size_t n = 0;

  for (size_t i = 0; i < ob->n_running; i++) {
    int64_t r = ob->running[i]->item.requestor;
    size_t j = 0;

    while (j < n && ids[j] != r)
      j++;
    if (j == n) {
      ids[n] = r;
      counts[n++] = 0;
    }
    counts[j]++;
  }
  return n;
}

/* Claims as many rows as there are free slots and starts or gives back
 * each; returns how many were started, or a negative store code. */
static int claim_pass(struct outbox *ob, struct owcp_error *err)
{
  size_t room = ob->d->cfg.completion_max - ob->n_running;
  struct store_outbox_claim_opts o = {.limit = (int)room,
                                      .per_requestor = (int)room,
                                      .lease_seconds = OUTBOX_LEASE_S,
                                      .busy_requestors = ob->busy_ids,
                                      .busy_counts = ob->busy_counts};
  struct store_outbox_batch batch = {0};
  struct store *st = NULL;
  size_t before = ob->n_running;
  int rc;

  o.busy_count = busy_requestors(ob, ob->busy_ids, ob->busy_counts);
  rc = store_pool_acquire(ob->d->pool, OUTBOX_ACQUIRE_WAIT_MS, &st, err);
  if (rc != 0)
    return rc;
  rc = store_outbox_claim(st, &o, 0, &batch, err);
  store_pool_release(ob->d->pool, st); /* never held across HTTP */
  if (rc != 0)
    return rc;
  svc_metric_set(ob->m.backed_off, NULL,
                 (double)outbox_hosts_prune(&ob->hosts, notify_now_ms()));
  for (size_t i = 0; i < batch.count; i++) {
    if (atomic_load(&ob->d->stopping))
      defer(ob, &batch.items[i], 0, "shutdown");
    else
      dispatch(ob, &batch.items[i]);
  }
  flush_releases(ob);
  store_outbox_batch_free(&batch);
  return (int)(ob->n_running - before);
}

/* Takes a finished delivery off the running list. */
static void unlink_transfer(struct outbox *ob, struct outbox_transfer *t)
{
  for (size_t i = 0; i < ob->n_running; i++)
    if (ob->running[i] == t) {
      ob->running[i] = ob->running[--ob->n_running];
      break;
    }
  svc_metric_set(ob->m.in_flight, NULL, (double)ob->n_running);
}

/* Judges and records one finished delivery. */
static void finish(struct outbox *ob, struct outbox_transfer *t,
                   CURLcode result)
{
  struct outbox_host *h = outbox_host_find(&ob->hosts, t->host_key);
  char why[OUTBOX_ERROR_TEXT] = "";
  long code = 0;
  bool delivered = false;

  curl_multi_remove_handle(ob->multi, t->easy);
  unlink_transfer(ob, t);
  if (h != NULL && h->in_flight > 0)
    h->in_flight--;
  if (result == CURLE_OK) {
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &code);
    delivered = code == 200;
    if (!delivered)
      snprintf(why, sizeof why, "requestor answered HTTP %ld, not 200", code);
    count_attempt(ob, delivered ? "delivered" : "rejected");
    if (h != NULL)
      outbox_host_answered(h);
  } else if (t->refused) {
    snprintf(why, sizeof why, "%s", refused_text);
    count_attempt(ob, "refused");
  } else {
    snprintf(why, sizeof why, "delivery failed: %s",
             curl_easy_strerror(result));
    count_attempt(ob, "unreachable");
    if (h != NULL)
      outbox_host_failed(h, notify_now_ms(), why);
  }
  record(ob, &t->item, t->uri_logged, delivered, why);
  transfer_free(t);
}

/* Collects the deliveries libcurl finished; returns how many. */
static int reap(struct outbox *ob)
{
  CURLMsg *msg;
  int left, n = 0;

  while ((msg = curl_multi_info_read(ob->multi, &left)) != NULL) {
    char *priv = NULL;

    if (msg->msg != CURLMSG_DONE)
      continue;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
    if (priv != NULL) {
      finish(ob, (struct outbox_transfer *)(void *)priv, msg->data.result);
      n++;
    }
  }
  return n;
}

/* Shutdown: abandons the deliveries in flight and gives their rows back,
 * so another dispatcher sends them now rather than after the lease
 * (at least once: one of them may have reached its requestor). */
static void abandon_all(struct outbox *ob)
{
  size_t n = ob->n_running;

  while (ob->n_running > 0) {
    struct outbox_transfer *t = ob->running[ob->n_running - 1];

    curl_multi_remove_handle(ob->multi, t->easy);
    defer(ob, &t->item, 0, "shutdown");
    ob->n_running--;
    transfer_free(t);
  }
  flush_releases(ob);
  svc_metric_set(ob->m.in_flight, NULL, 0);
  if (n > 0)
    svc_log(SVC_LOG_INFO, "outbox.stop",
            "%zu deliveries in flight given back to the outbox", n);
}

/* One turn of the loop: claim when there is room and it is time, drive
 * the transfers, wait for sockets or the next claim. */
static void step(struct outbox *ob)
{
  struct owcp_error err = {{0}};
  int64_t now = notify_now_ms(), wait;
  int running = 0;

  if (ob->n_running < ob->d->cfg.completion_max && now >= ob->next_claim_ms) {
    size_t room = ob->d->cfg.completion_max - ob->n_running;
    int n = claim_pass(ob, &err);

    if (n < 0 && !ob->failing)
      svc_log(SVC_LOG_ERROR, "outbox.failed", "%s (retrying)", err.msg);
    else if (n >= 0 && ob->failing)
      svc_log(SVC_LOG_INFO, "outbox.recovered", "outbox working again");
    ob->failing = n < 0;
    /* every slot filled: more may be due at once */
    ob->next_claim_ms = n > 0 && (size_t)n == room ? now : now + OUTBOX_IDLE_MS;
  }
  curl_multi_perform(ob->multi, &running);
  if (reap(ob) > 0 && !ob->failing)
    ob->next_claim_ms = notify_now_ms(); /* a slot is free */
  wait = ob->next_claim_ms - notify_now_ms();
  if (ob->n_running == ob->d->cfg.completion_max || wait > OUTBOX_IDLE_MS)
    wait = OUTBOX_IDLE_MS;
  if (wait > 0)
    curl_multi_poll(ob->multi, NULL, 0, (int)wait, NULL);
}

static void outbox_free(struct outbox *ob)
{
  if (ob == NULL)
    return;
  curl_multi_cleanup(ob->multi);
  free(ob->running);
  free(ob->releases);
  free(ob->busy_ids);
  free(ob->busy_counts);
  outbox_hosts_free(&ob->hosts);
  free(ob);
}

static void *outbox_main(void *arg)
{
  struct outbox *ob = arg;

  while (!atomic_load(&ob->d->stopping))
    step(ob);
  abandon_all(ob);
  outbox_free(ob);
  return NULL;
}

static void register_metrics(struct dispatcher *d, struct outbox_metrics *m)
{
  static const char *const outcome[] = {"outcome", NULL};
  static const char *const reason[] = {"reason", NULL};

  m->in_flight = svc_metrics_gauge(d->metrics, "owcp_completion_in_flight",
                                   "DR-Complete deliveries in flight.", NULL);
  m->attempts = svc_metrics_counter(
      d->metrics, "owcp_completion_attempts_total",
      "DR-Complete attempts by outcome: delivered, rejected (not HTTP 200), "
      "unreachable (transport), refused (address not allowed), error.",
      outcome);
  m->deferred = svc_metrics_counter(
      d->metrics, "owcp_completion_deferred_total",
      "Claimed DR-Completes given back unattempted: host_busy, "
      "host_backoff, shutdown, error.",
      reason);
  m->gave_up = svc_metrics_counter(d->metrics, "owcp_completion_given_up_total",
                                   "DR-Completes given up after 24 h.", NULL);
  m->backed_off = svc_metrics_gauge(
      d->metrics, "owcp_completion_hosts_backed_off",
      "Completion destinations backed off after transport failures.", NULL);
}

int outbox_start(struct dispatcher *d, struct owcp_error *err)
{
  struct outbox *ob;
  size_t max = d->cfg.completion_max;

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
  ob->multi = curl_multi_init();
  ob->running = calloc(max, sizeof(struct outbox_transfer *));
  ob->releases = calloc(max, sizeof *ob->releases);
  ob->busy_ids = calloc(max, sizeof *ob->busy_ids);
  ob->busy_counts = calloc(max, sizeof *ob->busy_counts);
  if (ob->multi == NULL || ob->running == NULL || ob->releases == NULL ||
      ob->busy_ids == NULL || ob->busy_counts == NULL) {
    owcp_error_set(err, "out of memory starting the outbox sender");
    outbox_free(ob);
    return -1;
  }
  register_metrics(d, &ob->m);
  if (svc_thread_create(&d->outbox_thread, outbox_main, ob, err) != 0) {
    outbox_free(ob);
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
