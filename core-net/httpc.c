/*
 * httpc.c — the protocol HTTP client (owcp/httpc.h) on one libcurl easy
 * handle. Every base is checked with curl_url before any connection is
 * made: https only, or http to a loopback host when the configuration
 * allows it, so a hostile DNS answer or configuration cannot make the
 * client send a bearer token in clear text over the network.
 *
 * Decisions (docs/protocol-decisions.md):
 *  - failover moves on after any transport failure (refused URL, connect
 *    error, TLS failure, timeout, oversized answer) and after a 503; a
 *    POST may therefore reach two dispatchers when the first timed out
 *    after receiving it (the operations are idempotent or answer 409);
 *  - when some bases failed and others answered 503, the last 503 is
 *    returned (a dispatcher did answer); -1 only when none answered;
 *  - redirects are not followed (a 3xx is returned as the answer) and no
 *    Accept-Encoding is sent, so the size cap is on what is allocated;
 *  - plain http (tests) fails closed twice: the URL's host must be a
 *    loopback literal or "localhost", and the socket libcurl opens must go
 *    to a loopback address (so neither /etc/hosts, a resolver nor a proxy
 *    from the environment can carry the token off the machine); http
 *    requests never use a proxy.
 */
#include "owcp/httpc.h"

#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>

#include "owcp/multipart.h"

struct owcp_httpc {
  CURL *curl; /* reused so that connections are kept alive */
  char *ca_file;
  long connect_timeout_ms;
  long timeout_ms;
  bool allow_insecure_http;
};

/* curl_global_init is not thread-safe and must run once per process. */
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_once_rc = CURLE_FAILED_INIT;

static void curl_global_once(void)
{
  curl_once_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* Longest configurable timeout (a day): keeps timeout + wait far from
 * overflowing a long. */
#define MAX_TIMEOUT_MS 86400000L

/* A configured timeout: 0 means the default; negative or beyond a day is
 * refused (so that adding a long-poll wait cannot overflow). */
static int timeout_from(long configured, long dflt, const char *what, long *out,
                        struct owcp_error *err)
{
  if (configured < 0 || configured > MAX_TIMEOUT_MS) {
    owcp_error_set(err, "%s of %ld ms is outside 0..%ld", what, configured,
                   MAX_TIMEOUT_MS);
    return -1;
  }
  *out = configured > 0 ? configured : dflt;
  return 0;
}

int owcp_httpc_new(const struct owcp_httpc_config *cfg, struct owcp_httpc **out,
                   struct owcp_error *err)
{
  *out = NULL;
  if (pthread_once(&curl_once, curl_global_once) != 0 ||
      curl_once_rc != CURLE_OK) {
    owcp_error_set(err, "libcurl could not be initialised");
    return -1;
  }
  long connect_timeout_ms = 0, timeout_ms = 0;
  if (timeout_from(cfg != NULL ? cfg->connect_timeout_ms : 0, 10000,
                   "connect_timeout_ms", &connect_timeout_ms, err) != 0 ||
      timeout_from(cfg != NULL ? cfg->timeout_ms : 0, 30000, "timeout_ms",
                   &timeout_ms, err) != 0) {
    return -1;
  }
  struct owcp_httpc *c = calloc(1, sizeof(*c));
  if (c == NULL) {
    owcp_error_set(err, "out of memory creating the HTTP client");
    return -1;
  }
  c->connect_timeout_ms = connect_timeout_ms;
  c->timeout_ms = timeout_ms;
  c->allow_insecure_http = cfg != NULL && cfg->allow_insecure_http;
  if (cfg != NULL && cfg->ca_file != NULL) {
    c->ca_file = strdup(cfg->ca_file);
    if (c->ca_file == NULL) {
      owcp_error_set(err, "out of memory creating the HTTP client");
      owcp_httpc_free(c);
      return -1;
    }
  }
  c->curl = curl_easy_init();
  if (c->curl == NULL) {
    owcp_error_set(err, "libcurl could not create a handle");
    owcp_httpc_free(c);
    return -1;
  }
  *out = c;
  return 0;
}

void owcp_httpc_free(struct owcp_httpc *c)
{
  if (c == NULL) {
    return;
  }
  if (c->curl != NULL) {
    curl_easy_cleanup(c->curl);
  }
  free(c->ca_file);
  free(c);
}

void owcp_http_reply_free(struct owcp_http_reply *r)
{
  if (r == NULL) {
    return;
  }
  json_decref(r->json);
  /* A CD-Register answer carries the client's bearer token. */
  if (r->body != NULL) {
    explicit_bzero(r->body, r->body_len);
  }
  free(r->body);
  free(r->base);
  memset(r, 0, sizeof(*r));
}

/* ---- URL policy ---------------------------------------------------------- */

/* True when curl_url has the part (the caller only needs to know). */
static bool url_has(CURLU *u, CURLUPart part)
{
  char *value = NULL;
  bool has = curl_url_get(u, part, &value, 0) == CURLUE_OK;
  curl_free(value);
  return has;
}

/* The scheme rule: https always; http only when allowed and only to a
 * loopback host. Returns 0 or -1 with why filled. */
static int scheme_allowed(const struct owcp_httpc *c, const char *scheme,
                          const char *host, char *why, size_t why_len)
{
  if (strcmp(scheme, "https") == 0) {
    return 0;
  }
  if (strcmp(scheme, "http") != 0) {
    snprintf(why, why_len, "scheme %.16s refused (https only)", scheme);
    return -1;
  }
  if (!c->allow_insecure_http) {
    snprintf(why, why_len, "plain http refused (https only)");
    return -1;
  }
  if (!owcp_host_is_loopback(host)) {
    char shown[64];
    owcp_base_redact(host, shown, sizeof(shown));
    snprintf(why, why_len,
             "plain http refused to non-loopback host %s (not connected)",
             shown);
    return -1;
  }
  return 0;
}

/* Checks url against the transport policy before anything is sent; *http
 * tells whether it is plain http (then only loopback sockets may open). */
static int url_allowed(const struct owcp_httpc *c, const char *url, bool *http,
                       char *why, size_t why_len)
{
  *http = false;
  CURLU *u = curl_url();
  if (u == NULL) {
    snprintf(why, why_len, "out of memory");
    return -1;
  }
  char *scheme = NULL;
  char *host = NULL;
  int rc = -1;
  if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
    snprintf(why, why_len, "not a valid URL");
  } else if (url_has(u, CURLUPART_USER) || url_has(u, CURLUPART_PASSWORD) ||
             url_has(u, CURLUPART_OPTIONS)) {
    snprintf(why, why_len, "URL carries user information");
  } else if (url_has(u, CURLUPART_QUERY) || url_has(u, CURLUPART_FRAGMENT)) {
    /* The operation must be the last path segment, not a query. */
    snprintf(why, why_len, "base carries a query or fragment");
  } else {
    rc = scheme_allowed(c, scheme, host, why, why_len);
    *http = rc == 0 && strcmp(scheme, "http") == 0;
  }
  curl_free(scheme);
  curl_free(host);
  curl_url_cleanup(u);
  return rc;
}

/* libcurl's socket opener for plain http: refuses (CURL_SOCKET_BAD, so the
 * transfer fails before a byte is sent) any address that is not loopback,
 * whatever the host name resolved to. clientp: the bool "plain http". */
static curl_socket_t open_socket(void *clientp, curlsocktype purpose,
                                 struct curl_sockaddr *addr)
{
  const bool *http = clientp;
  if (http == NULL) {
    return CURL_SOCKET_BAD; /* outside a request: nothing may connect */
  }
  if (*http && (purpose != CURLSOCKTYPE_IPCXN ||
                !owcp_sockaddr_is_loopback(&addr->addr, addr->addrlen))) {
    return CURL_SOCKET_BAD;
  }
  return socket(addr->family, addr->socktype, addr->protocol);
}

/* Operation names become a URL path segment: only letters, digits and '-'
 * so that no caller can steer the request elsewhere on the server. */
static bool op_valid(const char *op)
{
  if (op == NULL || op[0] == '\0' || strlen(op) > 64) {
    return false;
  }
  for (const char *p = op; *p != '\0'; p++) {
    char ch = *p;
    if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
          (ch >= '0' && ch <= '9') || ch == '-')) {
      return false;
    }
  }
  return true;
}

/* A token goes into a header line: printable ASCII without spaces, so it
 * cannot inject headers or be split. */
static bool token_valid(const char *token)
{
  if (token[0] == '\0' || strlen(token) > 4096) {
    return false;
  }
  for (const char *p = token; *p != '\0'; p++) {
    unsigned char ch = (unsigned char)*p;
    if (ch <= 0x20 || ch >= 0x7f) {
      return false;
    }
  }
  return true;
}

/* ---- one exchange ---------------------------------------------------------
 */

struct body_buf {
  char *data;
  size_t len;
  bool too_large;
};

/* Collects the response, refusing to grow past OWCP_HTTPC_MAX_RESPONSE
 * (returning short makes libcurl abort the transfer). */
static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
  struct body_buf *b = userdata;
  size_t n = size * nmemb;
  if (n > OWCP_HTTPC_MAX_RESPONSE - b->len) {
    b->too_large = true;
    return 0;
  }
  char *grown = realloc(b->data, b->len + n + 1);
  if (grown == NULL) {
    return 0;
  }
  memcpy(grown + b->len, ptr, n);
  b->data = grown;
  b->len += n;
  b->data[b->len] = '\0';
  return n;
}

/* What one request sends; the same for every base. */
struct request_spec {
  const char *op; /* path segment after the base */
  const char *content_type;
  const void *body; /* NULL: GET */
  size_t body_len;
  const char *token;
  int wait_s;
};

/* Zeroes the header list's strings (the bearer token) before freeing. */
static void headers_free(struct curl_slist *h)
{
  for (struct curl_slist *p = h; p != NULL; p = p->next) {
    explicit_bzero(p->data, strlen(p->data));
  }
  curl_slist_free_all(h);
}

/* Appends line to *h (libcurl copies it); on failure the whole list is
 * freed and *h becomes NULL. */
static bool header_add(struct curl_slist **h, const char *line)
{
  struct curl_slist *next = curl_slist_append(*h, line);
  if (next == NULL) {
    headers_free(*h);
    *h = NULL;
    return false;
  }
  *h = next;
  return true;
}

static struct curl_slist *headers_build(const struct request_spec *rq)
{
  struct curl_slist *h = NULL;
  /* Waiting for 100-continue only adds a round trip, hence "Expect:". */
  if (!header_add(&h, "Accept: application/json") ||
      !header_add(&h, "Expect:")) {
    return NULL;
  }
  if (rq->content_type != NULL) {
    char line[128];
    snprintf(line, sizeof(line), "Content-Type: %s", rq->content_type);
    if (!header_add(&h, line)) {
      return NULL;
    }
  }
  if (rq->token != NULL) {
    size_t len = strlen("Authorization: Bearer ") + strlen(rq->token) + 1;
    char *line = malloc(len);
    if (line == NULL) {
      headers_free(h);
      return NULL;
    }
    snprintf(line, len, "Authorization: Bearer %s", rq->token);
    bool added = header_add(&h, line);
    explicit_bzero(line, len);
    free(line);
    if (!added) {
      return NULL;
    }
  }
  return h;
}

static CURLcode set_options(struct owcp_httpc *c, const char *url,
                            const struct request_spec *rq,
                            struct curl_slist *headers, struct body_buf *buf,
                            bool *http)
{
  CURL *h = c->curl;
  long timeout = c->timeout_ms + (long)rq->wait_s * 1000L;
  CURLcode rc = CURLE_OK;
  /* Reset drops the previous request's options but keeps live
   * connections, so keep-alive survives. */
  curl_easy_reset(h);
#define SET(opt, val)                                                          \
  do {                                                                         \
    if (rc == CURLE_OK) {                                                      \
      rc = curl_easy_setopt(h, opt, val);                                      \
    }                                                                          \
  } while (0)
  SET(CURLOPT_URL, url);
  SET(CURLOPT_PROTOCOLS_STR, c->allow_insecure_http ? "http,https" : "https");
  SET(CURLOPT_REDIR_PROTOCOLS_STR, "https");
  SET(CURLOPT_FOLLOWLOCATION, 0L);
  SET(CURLOPT_NOSIGNAL, 1L);
  SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
  SET(CURLOPT_SSL_VERIFYPEER, 1L);
  SET(CURLOPT_SSL_VERIFYHOST, 2L);
  SET(CURLOPT_OPENSOCKETFUNCTION, open_socket);
  SET(CURLOPT_OPENSOCKETDATA, http);
  if (*http) {
    /* A proxy would be a non-loopback hop carrying the token in clear. */
    SET(CURLOPT_PROXY, "");
  }
  if (c->ca_file != NULL) {
    /* Replaces libcurl's CA bundle; its built-in CA directory (Debian:
     * /etc/ssl/certs) stays in force, so the file adds anchors. */
    SET(CURLOPT_CAINFO, c->ca_file);
  }
  SET(CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
  SET(CURLOPT_TIMEOUT_MS, timeout);
  SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)OWCP_HTTPC_MAX_RESPONSE);
  SET(CURLOPT_HTTPHEADER, headers);
  SET(CURLOPT_WRITEFUNCTION, on_body);
  SET(CURLOPT_WRITEDATA, buf);
  if (rq->body != NULL) {
    SET(CURLOPT_POST, 1L);
    SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
    SET(CURLOPT_POSTFIELDS, rq->body);
  } else {
    SET(CURLOPT_HTTPGET, 1L);
  }
#undef SET
  return rc;
}

/* Turns a collected body into the reply (takes the buffer). */
static int reply_fill(struct owcp_http_reply *out, long status,
                      struct body_buf *buf, const char *base)
{
  memset(out, 0, sizeof(*out));
  if (buf->data == NULL) {
    buf->data = calloc(1, 1);
    if (buf->data == NULL) {
      return -1;
    }
  }
  out->base = strdup(base);
  if (out->base == NULL) {
    return -1;
  }
  out->status = status;
  out->body = buf->data;
  out->body_len = buf->len;
  buf->data = NULL;
  buf->len = 0;
  json_error_t jerr;
  json_t *j =
      json_loadb(out->body, out->body_len, JSON_REJECT_DUPLICATES, &jerr);
  if (j != NULL && !json_is_object(j)) {
    json_decref(j);
    j = NULL;
  }
  out->json = j;
  return 0;
}

/* Appends "; base: why" to the failure summary (truncating quietly). */
static void reasons_add(char *reasons, size_t cap, const char *base,
                        const char *why)
{
  size_t used = strlen(reasons);
  if (used + 1 >= cap) {
    return;
  }
  char shown[96];
  owcp_base_redact(base, shown, sizeof(shown));
  /* Truncation is intended: the first bases matter most. */
  if (snprintf(reasons + used, cap - used, "%s%s: %s", used > 0 ? "; " : "",
               shown, why) < 0) {
    reasons[used] = '\0';
  }
}

/* Sends rq to one base. Returns 0 with *status and *buf filled when the
 * server answered, -1 with why filled when it could not be used. */
static int exchange(struct owcp_httpc *c, const char *base,
                    const struct request_spec *rq, long *status,
                    struct body_buf *buf, char *why, size_t why_len)
{
  size_t url_len = strlen(base) + 1 + strlen(rq->op) + 1;
  char *url = malloc(url_len);
  if (url == NULL) {
    snprintf(why, why_len, "out of memory");
    return -1;
  }
  snprintf(url, url_len, "%s/%s", base, rq->op);
  int rc = -1;
  struct curl_slist *headers = NULL;
  bool http = false; /* read by open_socket during curl_easy_perform */
  if (url_allowed(c, url, &http, why, why_len) != 0) {
    goto done;
  }
  headers = headers_build(rq);
  if (headers == NULL) {
    snprintf(why, why_len, "out of memory");
    goto done;
  }
  CURLcode cc = set_options(c, url, rq, headers, buf, &http);
  if (cc == CURLE_OK) {
    cc = curl_easy_perform(c->curl);
  }
  if (buf->too_large || cc == CURLE_FILESIZE_EXCEEDED) {
    snprintf(why, why_len, "response larger than %zu bytes refused",
             (size_t)OWCP_HTTPC_MAX_RESPONSE);
  } else if (cc != CURLE_OK) {
    snprintf(why, why_len, "%s", curl_easy_strerror(cc));
  } else if (curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, status) !=
             CURLE_OK) {
    snprintf(why, why_len, "no HTTP status");
  } else {
    rc = 0;
  }
done:
  /* Nothing of this request (its token, its stack flag) may outlive it. */
  (void)curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, NULL);
  (void)curl_easy_setopt(c->curl, CURLOPT_OPENSOCKETDATA, NULL);
  headers_free(headers);
  free(url);
  return rc;
}

/* The failover loop shared by every call: tries each base in order and
 * moves on after a transport failure or a skipped status (503 for POSTs;
 * anything but 200 when only_200, for GET CA). For POSTs the last 503 is
 * returned when no base gave anything better; with only_200 that is -1. */
static int send_failover(struct owcp_httpc *c,
                         const struct owcp_base_list *bases,
                         const struct request_spec *rq, bool only_200,
                         struct owcp_http_reply *out, struct owcp_error *err)
{
  memset(out, 0, sizeof(*out));
  if (bases == NULL || bases->n == 0 || bases->bases == NULL) {
    owcp_error_set(err, "no dispatcher base to send %s to", rq->op);
    return -1;
  }
  char reasons[OWCP_ERROR_MAX];
  reasons[0] = '\0';
  struct owcp_http_reply last = {0};
  bool have_last = false;
  for (size_t i = 0; i < bases->n; i++) {
    const char *base = bases->bases[i];
    struct body_buf buf = {0};
    long status = 0;
    char why[160];
    if (exchange(c, base, rq, &status, &buf, why, sizeof(why)) != 0) {
      free(buf.data);
      reasons_add(reasons, sizeof(reasons), base, why);
      continue;
    }
    bool skip = only_200 ? status != 200 : status == 503;
    struct owcp_http_reply r;
    if (reply_fill(&r, status, &buf, base) != 0) {
      free(buf.data);
      owcp_http_reply_free(&r);
      owcp_http_reply_free(&last);
      owcp_error_set(err, "out of memory reading an answer");
      return -1;
    }
    if (!skip) {
      owcp_http_reply_free(&last);
      *out = r;
      return 0;
    }
    snprintf(why, sizeof(why), "HTTP %ld", status);
    reasons_add(reasons, sizeof(reasons), base, why);
    owcp_http_reply_free(&last);
    last = r;
    have_last = true;
  }
  if (have_last && !only_200) {
    *out = last;
    return 0;
  }
  owcp_http_reply_free(&last);
  owcp_error_set(err, "no dispatcher reachable for %s: %s", rq->op, reasons);
  return -1;
}

/* Common checks and serialisation of the JSON parameters (caller frees). */
static char *params_dump(const char *op, const char *token,
                         const json_t *params, int wait_s,
                         struct owcp_error *err)
{
  if (!op_valid(op)) {
    owcp_error_set(err, "operation name '%.64s' is not a plain token",
                   op != NULL ? op : "(null)");
    return NULL;
  }
  if (token != NULL && !token_valid(token)) {
    /* The token itself is a secret: never echo it. */
    owcp_error_set(err,
                   "bearer token for %s contains characters that "
                   "cannot be sent in a header",
                   op);
    return NULL;
  }
  if (wait_s < 0 || wait_s > 86400) {
    owcp_error_set(err, "wait of %d s for %s is outside 0..86400", wait_s, op);
    return NULL;
  }
  if (params != NULL && !json_is_object(params)) {
    owcp_error_set(err, "parameters for %s must be a JSON object", op);
    return NULL;
  }
  char *text = params != NULL ? json_dumps(params, JSON_COMPACT) : strdup("{}");
  if (text == NULL) {
    owcp_error_set(err, "parameters for %s could not be serialised", op);
  }
  return text;
}

int owcp_httpc_post_json(struct owcp_httpc *c,
                         const struct owcp_base_list *bases, const char *op,
                         const char *token, const json_t *params, int wait_s,
                         struct owcp_http_reply *out, struct owcp_error *err)
{
  memset(out, 0, sizeof(*out));
  if (c == NULL) {
    owcp_error_set(err, "no HTTP client given");
    return -1;
  }
  char *text = params_dump(op, token, params, wait_s, err);
  if (text == NULL) {
    return -1;
  }
  struct request_spec rq = {
      .op = op,
      .content_type = "application/json",
      .body = text,
      .body_len = strlen(text),
      .token = token,
      .wait_s = wait_s,
  };
  int rc = send_failover(c, bases, &rq, false, out, err);
  free(text);
  return rc;
}

static struct owcp_mp_section section_of(const void *ptr, size_t len)
{
  struct owcp_mp_section s = {.ptr = ptr, .len = len, .present = true};
  return s;
}

int owcp_httpc_post_multipart(
    struct owcp_httpc *c, const struct owcp_base_list *bases, const char *op,
    const char *token, const json_t *params, const char *xml, size_t xml_len,
    const unsigned char *receipt, size_t receipt_len, int wait_s,
    struct owcp_http_reply *out, struct owcp_error *err)
{
  static const char json_type[] = "application/json";
  static const char xml_type[] = "application/xml";
  static const char receipt_type[] = "application/pkcs7-mime";
  memset(out, 0, sizeof(*out));
  if (c == NULL) {
    owcp_error_set(err, "no HTTP client given");
    return -1;
  }
  char *text = params_dump(op, token, params, wait_s, err);
  if (text == NULL) {
    return -1;
  }
  struct owcp_mp_segment segs[3];
  size_t n = 0;
  memset(segs, 0, sizeof(segs));
  segs[n].content_type = section_of(json_type, strlen(json_type));
  segs[n++].data = section_of(text, strlen(text));
  if (xml != NULL) {
    segs[n].content_type = section_of(xml_type, strlen(xml_type));
    segs[n++].data = section_of(xml, xml_len);
  }
  if (receipt != NULL) {
    segs[n].content_type = section_of(receipt_type, strlen(receipt_type));
    segs[n++].data = section_of(receipt, receipt_len);
  }
  unsigned char *body = NULL;
  size_t body_len = 0;
  struct owcp_error mp_err;
  if (owcp_multipart_encode(segs, n, &body, &body_len, &mp_err) != 0) {
    owcp_error_set(err, "multipart body for %s: %s", op, mp_err.msg);
    free(text);
    return -1;
  }
  free(text);
  struct request_spec rq = {
      .op = op,
      .content_type = "application/owcp-multipart",
      .body = body,
      .body_len = body_len,
      .token = token,
      .wait_s = wait_s,
  };
  int rc = send_failover(c, bases, &rq, false, out, err);
  free(body);
  return rc;
}

int owcp_httpc_get_ca(struct owcp_httpc *c, const struct owcp_base_list *bases,
                      char **pem, size_t *pem_len, struct owcp_error *err)
{
  *pem = NULL;
  *pem_len = 0;
  if (c == NULL) {
    owcp_error_set(err, "no HTTP client given");
    return -1;
  }
  struct request_spec rq = {.op = "CA"};
  struct owcp_http_reply r;
  if (send_failover(c, bases, &rq, true, &r, err) != 0) {
    return -1;
  }
  *pem = r.body;
  *pem_len = r.body_len;
  r.body = NULL;
  owcp_http_reply_free(&r);
  return 0;
}
