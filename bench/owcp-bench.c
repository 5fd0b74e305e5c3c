/*
 * owcp-bench.c — the load generator's command line and the pieces both
 * modes share: keep-alive HTTP transfers on libcurl easy handles and
 * clients enrolled with CD-Register exactly as an outside client would.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "bench.h"
#include "owcp/ca.h"
#include "owcp/keys.h"

/* A bearer token file holds one line; anything longer is not a token. */
#define TOKEN_MAX 512

double bench_now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- HTTP transfers ------------------------------------------------------ */

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
  struct bench_xfer *x = arg;
  size_t n = size * nmemb;

  if (x->resp_len + n + 1 > x->resp_cap) {
    size_t cap = x->resp_cap ? x->resp_cap : 1024;
    while (cap < x->resp_len + n + 1)
      cap *= 2;
    char *grown = realloc(x->resp, cap);
    if (grown == NULL)
      return 0; /* libcurl turns this into CURLE_WRITE_ERROR */
    x->resp = grown;
    x->resp_cap = cap;
  }
  memcpy(x->resp + x->resp_len, ptr, n);
  x->resp_len += n;
  x->resp[x->resp_len] = '\0';
  return n;
}

/* libcurl is about to send this transfer's request: from now on its upload
 * counter belongs to this request, not the previous one. */
static int on_prereq(void *arg, char *conn_primary_ip, char *conn_local_ip,
                     int conn_primary_port, int conn_local_port)
{
  struct bench_xfer *x = arg;

  (void)conn_primary_ip;
  (void)conn_local_ip;
  (void)conn_primary_port;
  (void)conn_local_port;
  x->begun = true;
  return CURL_PREREQFUNC_OK;
}

int bench_xfer_init(struct bench_xfer *x, const char *token, long timeout_s,
                    struct owcp_error *err)
{
  char auth[TOKEN_MAX + 32];

  memset(x, 0, sizeof *x);
  x->easy = curl_easy_init();
  if (x->easy == NULL) {
    owcp_error_set(err, "libcurl could not create an easy handle");
    return -1;
  }
  x->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
  if (x->hdrs != NULL)
    x->hdrs = curl_slist_append(x->hdrs, "Expect:");
  if (x->hdrs != NULL && token != NULL) {
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    struct curl_slist *more = curl_slist_append(x->hdrs, auth);
    OPENSSL_cleanse(auth, sizeof auth);
    if (more == NULL) {
      curl_slist_free_all(x->hdrs);
      x->hdrs = NULL;
    } else {
      x->hdrs = more;
    }
  }
  if (x->hdrs == NULL) {
    bench_xfer_cleanup(x);
    owcp_error_set(err, "out of memory building request headers");
    return -1;
  }
  curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->hdrs);
  curl_easy_setopt(x->easy, CURLOPT_POST, 1L);
  curl_easy_setopt(x->easy, CURLOPT_PREREQFUNCTION, on_prereq);
  curl_easy_setopt(x->easy, CURLOPT_PREREQDATA, x);
  curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x);
  curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
  curl_easy_setopt(x->easy, CURLOPT_TIMEOUT, timeout_s);
  curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(x->easy, CURLOPT_TCP_NODELAY, 1L);
  return 0;
}

void bench_xfer_cleanup(struct bench_xfer *x)
{
  if (x->easy != NULL)
    curl_easy_cleanup(x->easy);
  curl_slist_free_all(x->hdrs);
  free(x->body);
  free(x->resp);
  memset(x, 0, sizeof *x);
}

int bench_xfer_post(struct bench_xfer *x, const char *base, const char *op,
                    const json_t *params, struct owcp_error *err)
{
  char url[512];
  char *body = json_dumps(params, JSON_COMPACT);

  if (body == NULL) {
    owcp_error_set(err, "out of memory serialising the %s parameters", op);
    return -1;
  }
  if ((size_t)snprintf(url, sizeof url, "%s/%s", base, op) >= sizeof url) {
    free(body);
    owcp_error_set(err, "the base URL is too long (over %zu characters)",
                   sizeof url - 40);
    return -1;
  }
  /* POSTFIELDS (libcurl borrows the body until the next post): a small
   * body goes out in the same send() as the headers, as most HTTP clients
   * send it, instead of one send() and one server-side read each. */
  free(x->body);
  x->body = body;
  x->body_len = strlen(body);
  x->begun = false;
  curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, x->body);
  x->resp_len = 0;
  if (x->resp != NULL)
    x->resp[0] = '\0';
  x->status = 0;
  x->result = CURLE_OK;
  x->done = false;
  x->t_done = 0;
  curl_easy_setopt(x->easy, CURLOPT_URL, url);
  curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE_LARGE,
                   (curl_off_t)x->body_len);
  x->t_start = bench_now();
  return 0;
}

bool bench_xfer_sent(const struct bench_xfer *x)
{
  curl_off_t up = 0;

  /* libcurl counts the body's octets as the send() that carries them
   * returns, and resets the count before on_prereq() for a new request. */
  return x->body != NULL && x->begun &&
         curl_easy_getinfo(x->easy, CURLINFO_SIZE_UPLOAD_T, &up) == CURLE_OK &&
         up == (curl_off_t)x->body_len;
}

/* Records the outcome of a finished transfer (status, t_done). */
static void xfer_finish(struct bench_xfer *x, CURLcode result, double when)
{
  x->result = result;
  x->status = 0;
  if (result == CURLE_OK)
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->status);
  x->t_done = when;
  x->done = true;
  x->active = false;
}

struct bench_xfer *bench_multi_next_done(CURLM *multi)
{
  CURLMsg *msg;
  int left;

  while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
    struct bench_xfer *x = NULL;
    if (msg->msg != CURLMSG_DONE)
      continue;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
    CURLcode result = msg->data.result;
    curl_multi_remove_handle(multi, msg->easy_handle);
    if (x != NULL) {
      xfer_finish(x, result, bench_now());
      return x;
    }
  }
  return NULL;
}

void bench_xfer_perform(struct bench_xfer *x)
{
  CURLcode rc = curl_easy_perform(x->easy);
  xfer_finish(x, rc, bench_now());
}

json_t *bench_xfer_json(const struct bench_xfer *x)
{
  json_t *j;

  if (x->resp == NULL)
    return NULL;
  j = json_loadb(x->resp, x->resp_len, 0, NULL);
  if (j != NULL && !json_is_object(j)) {
    json_decref(j);
    j = NULL;
  }
  return j;
}

void bench_xfer_describe(const struct bench_xfer *x, const char *op,
                         struct owcp_error *err)
{
  if (x->result != CURLE_OK)
    owcp_error_set(err, "%s failed: %s", op, curl_easy_strerror(x->result));
  else
    owcp_error_set(err, "%s answered HTTP %ld: %.160s", op, x->status,
                   x->resp ? x->resp : "");
}

/* ---- benchmark clients ----------------------------------------------------
 */

/* Takes the base64 DER certificate member `name` of a CD-Register reply. */
static X509 *reply_cert(json_t *reply, const char *name, struct owcp_error *err)
{
  const char *b64 = json_string_value(json_object_get(reply, name));
  unsigned char *der = NULL;
  size_t len = 0;
  X509 *cert;

  if (b64 == NULL) {
    owcp_error_set(err, "CD-Register reply lacks '%s'", name);
    return NULL;
  }
  if (owcp_base64_decode(b64, strlen(b64), &der, &len, err) != 0)
    return NULL;
  cert = owcp_cert_from_der(der, len, err);
  free(der);
  return cert;
}

/* Copies Client and Token and parses Certificate from a 200 reply. */
static int adopt_identity(struct bench_client *c, json_t *reply,
                          struct owcp_error *err)
{
  const char *id = json_string_value(json_object_get(reply, "Client"));
  const char *token = json_string_value(json_object_get(reply, "Token"));

  if (id == NULL || token == NULL || strlen(token) > TOKEN_MAX) {
    owcp_error_set(err, "CD-Register reply lacks a usable Client or Token");
    return -1;
  }
  c->id = strdup(id);
  c->token = strdup(token);
  if (c->id == NULL || c->token == NULL) {
    owcp_error_set(err, "out of memory keeping the client identity");
    return -1;
  }
  c->cert = reply_cert(reply, "Certificate", err);
  if (c->cert == NULL)
    return -1;
  /* A certificate for another key would make every receipt a 400. */
  if (EVP_PKEY_eq(X509_get0_pubkey(c->cert), c->key) != 1) {
    owcp_error_set(err, "CD-Register returned a certificate for another key");
    return -1;
  }
  return 0;
}

int bench_client_register(struct bench_client *c, struct bench_xfer *x,
                          const char *base, const char *account,
                          struct owcp_error *err)
{
  unsigned char *csr = NULL;
  size_t csr_len = 0;
  char *csr_b64 = NULL;
  json_t *params = NULL, *reply = NULL;
  int rc = -1;

  memset(c, 0, sizeof *c);
  snprintf(c->account, sizeof c->account, "%s", account);
  c->key = owcp_key_new(err);
  if (c->key == NULL ||
      owcp_csr_new(c->key, "owcp-bench", &csr, &csr_len, err) != 0)
    goto out;
  csr_b64 = owcp_base64_encode(csr, csr_len);
  params = csr_b64 ? json_pack("{s:s, s:s, s:s}", "Account", account,
                               "Description", "owcp-bench", "CSR", csr_b64)
                   : NULL;
  if (params == NULL) {
    owcp_error_set(err, "out of memory building CD-Register for %s", account);
    goto out;
  }
  if (bench_xfer_post(x, base, "CD-Register", params, err) != 0)
    goto out;
  bench_xfer_perform(x);
  if (x->status != 200) {
    bench_xfer_describe(x, "CD-Register", err);
    goto out;
  }
  reply = bench_xfer_json(x);
  if (reply == NULL) {
    owcp_error_set(err, "CD-Register for %s answered 200 without JSON",
                   account);
    goto out;
  }
  rc = adopt_identity(c, reply, err);
out:
  json_decref(reply);
  json_decref(params);
  free(csr_b64);
  free(csr);
  return rc;
}

void bench_client_cleanup(struct bench_client *c)
{
  EVP_PKEY_free(c->key);
  free(c->id);
  if (c->token != NULL)
    OPENSSL_cleanse(c->token, strlen(c->token));
  free(c->token);
  X509_free(c->cert);
  memset(c, 0, sizeof *c);
}

/* ---- command line ---------------------------------------------------------
 */

static const char usage[] =
    "usage: owcp-bench flows --base URL --token-file FILE [options]\n"
    "       owcp-bench idle  --base URL [options]\n"
    "\n"
    "Load generator for owcp-dispatcher (started with --open, so that the\n"
    "benchmark's clients self-subscribe with CD-Register).\n"
    "\n"
    "  flows: N concurrent complete flows (client CD-List long poll waiting\n"
    "         -> RD-Confirm -> CD-List answers -> signed receipt -> CD-Reply\n"
    "         -> RD-Status 200) for --seconds after --warmup; reports "
    "flows/s,\n"
    "         p50/p99 per operation and the long-poll wake-up latency.\n"
    "  idle:  holds --polls idle CD-List long polls (Wait = --wait) with one\n"
    "         curl multi handle, re-issuing each as it returns, until\n"
    "         --seconds pass or SIGTERM/SIGINT; reports how many are held.\n"
    "\n"
    "  --base URL           dispatcher base, e.g. "
    "http://127.0.0.1:8480/owcp/0.1\n"
    "  --token-file FILE    requestor bearer tokens, one a line: TOKEN (the\n"
    "                       --requestor account) or ADDRESS TOKEN; flow i\n"
    "                       uses line i mod lines (flows)\n"
    "  --requestor ADDR     requestor account (bench@example.com)\n"
    "  --prefix P           client accounts are P-i@DOMAIN (bench; idle:\n"
    "                       bench-idle); use a new one for each run\n"
    "  --domain D           domain the dispatcher serves (example.com)\n"
    "  --flows N            concurrent flows (32)\n"
    "  --seconds S          measured seconds (flows: 20; idle: 3600)\n"
    "  --warmup S           flows: unmeasured seconds first (3)\n"
    "  --wait S             long-poll Wait, the dispatcher's --max-wait (60)\n"
    "  --polls M            idle: long polls to hold (10000)\n"
    "  --idle-clients K     idle: clients the polls are spread over (100)\n"
    "  --ramp-timeout S     idle: longest time to reach M held polls (120)\n"
    "  --ready-file FILE    idle: written once the polls are held\n"
    "  --status-file FILE   idle: rewritten every second (held, errors)\n"
    "  --summary FILE       write the figures as 'key value' lines\n"
    "  --window-cmd PROG    flows: run 'PROG open' as the measured window\n"
    "                       opens and 'PROG close' as it closes (each waited\n"
    "                       for), e.g. to read counters over exactly it\n"
    "\n"
    "Exit status: 0 all operations as expected; 1 some failed (counted and\n"
    "printed); 2 could not run; 4 usage error.\n";

/* Parses a number option within [lo, hi]. */
static int num_option(const char *name, const char *text, double lo, double hi,
                      double *out)
{
  char *end = NULL;
  errno = 0;
  double v = strtod(text, &end);
  if (errno != 0 || end == text || *end != '\0' || v < lo || v > hi) {
    fprintf(stderr, "owcp-bench: --%s must be a number from %g to %g\n", name,
            lo, hi);
    return -1;
  }
  *out = v;
  return 0;
}

/* Frees the requestors read from the token file (tokens cleansed). */
static void requestors_free(struct bench_opts *o)
{
  for (size_t i = 0; i < o->n_requestors; i++) {
    free(o->requestors[i].address);
    if (o->requestors[i].token != NULL)
      OPENSSL_cleanse(o->requestors[i].token, strlen(o->requestors[i].token));
    free(o->requestors[i].token);
  }
  free(o->requestors);
  o->requestors = NULL;
  o->n_requestors = 0;
}

/* Adds one token-file line: "TOKEN" (for --requestor) or "ADDRESS TOKEN". */
static int requestor_add(struct bench_opts *o, const char *line, size_t lineno,
                         struct owcp_error *err)
{
  const char *space = strchr(line, ' ');
  const char *token = space ? space + 1 : line;
  struct bench_requestor *grown;
  struct bench_requestor *r;

  if (token[0] == '\0' || strchr(token, ' ') != NULL ||
      strlen(token) > TOKEN_MAX) {
    owcp_error_set(err,
                   "token file line %zu is neither TOKEN nor "
                   "ADDRESS TOKEN",
                   lineno);
    return -1;
  }
  grown = realloc(o->requestors, (o->n_requestors + 1) * sizeof *grown);
  if (grown == NULL) {
    owcp_error_set(err, "out of memory reading the token file");
    return -1;
  }
  o->requestors = grown;
  r = &o->requestors[o->n_requestors];
  r->address =
      space ? strndup(line, (size_t)(space - line)) : strdup(o->requestor);
  r->token = strdup(token);
  o->n_requestors++;
  if (r->address == NULL || r->token == NULL) {
    owcp_error_set(err, "out of memory reading the token file");
    return -1;
  }
  return 0;
}

/* Reads the requestors' bearer tokens, one a line, into o->requestors. */
static int read_tokens(const char *path, struct bench_opts *o,
                       struct owcp_error *err)
{
  char line[TOKEN_MAX + 300];
  size_t lineno = 0;
  int rc = 0;
  FILE *f = fopen(path, "r");

  if (f == NULL) {
    owcp_error_set(err, "cannot open token file %s: %s", path, strerror(errno));
    return -1;
  }
  while (rc == 0 && fgets(line, sizeof line, f) != NULL) {
    lineno++;
    line[strcspn(line, "\r\n")] = '\0';
    if (line[0] != '\0')
      rc = requestor_add(o, line, lineno, err);
  }
  fclose(f);
  OPENSSL_cleanse(line, sizeof line);
  if (rc == 0 && o->n_requestors == 0) {
    owcp_error_set(err, "token file %s holds no token", path);
    rc = -1;
  }
  return rc;
}

enum {
  OPT_BASE = 256,
  OPT_TOKEN,
  OPT_REQUESTOR,
  OPT_PREFIX,
  OPT_DOMAIN,
  OPT_FLOWS,
  OPT_SECONDS,
  OPT_WARMUP,
  OPT_WAIT,
  OPT_POLLS,
  OPT_IDLE_CLIENTS,
  OPT_RAMP,
  OPT_READY,
  OPT_STATUS,
  OPT_SUMMARY,
  OPT_WINDOW_CMD,
  OPT_HELP
};

static const struct option long_opts[] = {
    {"base", required_argument, NULL, OPT_BASE},
    {"token-file", required_argument, NULL, OPT_TOKEN},
    {"requestor", required_argument, NULL, OPT_REQUESTOR},
    {"prefix", required_argument, NULL, OPT_PREFIX},
    {"domain", required_argument, NULL, OPT_DOMAIN},
    {"flows", required_argument, NULL, OPT_FLOWS},
    {"seconds", required_argument, NULL, OPT_SECONDS},
    {"warmup", required_argument, NULL, OPT_WARMUP},
    {"wait", required_argument, NULL, OPT_WAIT},
    {"polls", required_argument, NULL, OPT_POLLS},
    {"idle-clients", required_argument, NULL, OPT_IDLE_CLIENTS},
    {"ramp-timeout", required_argument, NULL, OPT_RAMP},
    {"ready-file", required_argument, NULL, OPT_READY},
    {"status-file", required_argument, NULL, OPT_STATUS},
    {"summary", required_argument, NULL, OPT_SUMMARY},
    {"window-cmd", required_argument, NULL, OPT_WINDOW_CMD},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0}};

/* Applies one numeric option to o. */
static int set_number(struct bench_opts *o, int opt, const char *arg)
{
  double v = 0;
  switch (opt) {
  case OPT_FLOWS:
    if (num_option("flows", arg, 1, 4096, &v) != 0)
      return -1;
    o->flows = (int)v;
    return 0;
  case OPT_SECONDS:
    if (num_option("seconds", arg, 0.1, 86400, &v) != 0)
      return -1;
    o->seconds = v;
    return 0;
  case OPT_WARMUP:
    if (num_option("warmup", arg, 0, 3600, &v) != 0)
      return -1;
    o->warmup = v;
    return 0;
  case OPT_WAIT:
    if (num_option("wait", arg, 1, 3600, &v) != 0)
      return -1;
    o->wait = (int)v;
    return 0;
  case OPT_POLLS:
    if (num_option("polls", arg, 1, 1000000, &v) != 0)
      return -1;
    o->polls = (int)v;
    return 0;
  case OPT_IDLE_CLIENTS:
    if (num_option("idle-clients", arg, 1, 100000, &v) != 0)
      return -1;
    o->idle_clients = (int)v;
    return 0;
  default:
    if (num_option("ramp-timeout", arg, 1, 3600, &v) != 0)
      return -1;
    o->ramp_timeout = v;
    return 0;
  }
}

/* Fills o from argv; returns 0, or 4 (usage error) after saying why. */
static int parse_args(int argc, char **argv, struct bench_opts *o,
                      const char **token_file)
{
  int opt;
  bool seconds_set = false;

  if (argc < 2 ||
      (strcmp(argv[1], "flows") != 0 && strcmp(argv[1], "idle") != 0)) {
    fputs(usage, argc >= 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr);
    return argc >= 2 && strcmp(argv[1], "--help") == 0 ? 1 : 4;
  }
  o->mode = argv[1];
  optind = 2;
  while ((opt = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
    switch (opt) {
    case OPT_BASE:
      o->base = optarg;
      break;
    case OPT_TOKEN:
      *token_file = optarg;
      break;
    case OPT_REQUESTOR:
      o->requestor = optarg;
      break;
    case OPT_PREFIX:
      o->prefix = optarg;
      break;
    case OPT_DOMAIN:
      o->domain = optarg;
      break;
    case OPT_READY:
      o->ready_file = optarg;
      break;
    case OPT_STATUS:
      o->status_file = optarg;
      break;
    case OPT_SUMMARY:
      o->summary = optarg;
      break;
    case OPT_WINDOW_CMD:
      o->window_cmd = optarg;
      break;
    case OPT_HELP:
      fputs(usage, stdout);
      return 1;
    case '?':
      return 4;
    default:
      if (set_number(o, opt, optarg) != 0)
        return 4;
      seconds_set |= opt == OPT_SECONDS;
      break;
    }
  }
  if (optind != argc) {
    fprintf(stderr, "owcp-bench: unexpected argument '%s'\n", argv[optind]);
    return 4;
  }
  if (o->base == NULL) {
    fputs("owcp-bench: --base is required\n", stderr);
    return 4;
  }
  if (strcmp(o->mode, "flows") == 0 && *token_file == NULL) {
    fputs("owcp-bench: flows needs --token-file (the requestor's token)\n",
          stderr);
    return 4;
  }
  if (!seconds_set && strcmp(o->mode, "idle") == 0)
    o->seconds = 3600;
  /* Distinct defaults, so that both modes can run against one database. */
  if (o->prefix == NULL)
    o->prefix = strcmp(o->mode, "idle") == 0 ? "bench-idle" : "bench";
  return 0;
}

int main(int argc, char **argv)
{
  struct bench_opts o = {
      .requestor = "bench@example.com",
      .domain = "example.com",
      .flows = 32,
      .seconds = 20,
      .warmup = 3,
      .wait = 60,
      .polls = 10000,
      .idle_clients = 100,
      .ramp_timeout = 120,
  };
  const char *token_file = NULL;
  struct owcp_error err = {{0}};
  int rc = parse_args(argc, argv, &o, &token_file);

  if (rc != 0)
    return rc == 1 ? 0 : rc;
  if (token_file != NULL && read_tokens(token_file, &o, &err) != 0) {
    fprintf(stderr, "owcp-bench: %s\n", err.msg);
    requestors_free(&o);
    return 2;
  }
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    fputs("owcp-bench: libcurl failed to initialise\n", stderr);
    requestors_free(&o);
    return 2;
  }
  if (strcmp(o.mode, "flows") == 0)
    rc = bench_flows(&o, &err);
  else
    rc = bench_idle(&o, &err);
  if (rc < 0)
    fprintf(stderr, "owcp-bench: %s\n", err.msg);
  curl_global_cleanup();
  requestors_free(&o);
  return rc < 0 ? 2 : rc;
}
