/*
 * discovery.c — spec §7 discovery (owcp/discovery.h): URI, then SRV with
 * ESRV TXT properties, then the manual base, through c-ares with a
 * per-domain TTL cache.
 *
 * Decisions (docs/protocol-decisions.md):
 *  - c-ares 1.18 gives URI TTLs but not SRV/TXT ones: those are read from
 *    the answer section's RR headers (smallest TTL of the type; SRV and
 *    TXT together count as one answer with the smaller of the two), and
 *    no answer is reused longer than MAX_TTL_S.
 *  - "record set" (ESRV): one TXT resource record, its character-strings
 *    joined by spaces. TXT records without v= are not ESRV and ignored.
 *    No ESRV record: defaults (path /owcp/0.1). ESRV records present but
 *    none supported: the SRV set is skipped. Supported records that name
 *    different paths: an error (ambiguous zone).
 *  - URI or SRV records that all fail validation (http to a non-loopback
 *    host, user information, query, fragment, not a URL) are an error (a
 *    broken zone is noticed), not a silent fall-through to the manual
 *    base; invalid records among valid ones are dropped.
 *  - The zone saying there is no service here (SRV target ".", or only
 *    unsupported ESRV record sets) moves on to the manual base, like
 *    NXDOMAIN: the manual base is the user's own explicit choice.
 *  - NXDOMAIN / NODATA are absence; every other DNS failure (SERVFAIL,
 *    REFUSED, FORMERR, timeout, malformed answer) is an error naming it.
 *    c-ares runs with ARES_FLAG_NOCHECKRESP so that SERVFAIL/REFUSED are
 *    reported as such (1.18 otherwise reports "connection refused").
 *  - The URI, SRV and TXT queries go out together (one round trip).
 */
#include "owcp/discovery.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sys/time.h>
#include <time.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ares.h>
#include <curl/curl.h>

#include "discovery_parse.h"

/* Most records of one kind taken from an answer, and most domains cached:
 * bounds on the work and memory a hostile zone can cause. */
#define MAX_RECORDS 64
#define MAX_CACHE 128
/* Longest time an answer is reused, whatever its TTL says. */
#define MAX_TTL_S 86400u

/* The weighted draw sums the 16-bit weights of one priority in 32 bits. */
_Static_assert((uint64_t)MAX_RECORDS * 65535u < UINT32_MAX,
               "the weight sum of MAX_RECORDS records must fit in uint32_t");

#define T_TXT_RR 16
#define T_SRV_RR 33
#define T_URI_RR 256
#define C_IN_RR 1

static const char DEFAULT_PATH[] = "/owcp/0.1";

/* A domain's usable DNS answer, kept until expires_ms (monotonic). */
struct cache_entry {
  char *domain;
  struct owcp_dns_found found;
  uint64_t expires_ms;
  struct cache_entry *next;
};

struct owcp_discovery {
  char *dns_servers;
  char *manual_base;
  bool manual_only;
  bool allow_insecure_http;
  int timeout_ms;
  pthread_mutex_t lock; /* guards cache and cache_n */
  struct cache_entry *cache;
  size_t cache_n;
};

static uint64_t now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void candidates_free(struct owcp_dns_candidate *c, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    free(c[i].base);
  }
  free(c);
}

/* Deep copy, so that a cached answer and a caller's list never share. */
static int candidates_dup(const struct owcp_dns_candidate *c, size_t n,
                          struct owcp_dns_candidate **out)
{
  *out = calloc(n, sizeof(**out));
  if (*out == NULL) {
    return -1;
  }
  for (size_t i = 0; i < n; i++) {
    (*out)[i] = c[i];
    (*out)[i].base = strdup(c[i].base);
    if ((*out)[i].base == NULL) {
      candidates_free(*out, i);
      *out = NULL;
      return -1;
    }
  }
  return 0;
}

static void cache_entry_free(struct cache_entry *e)
{
  if (e != NULL) {
    free(e->domain);
    owcp_dns_found_free(&e->found);
    free(e);
  }
}

/* ch itself when it is printable ASCII, else '?': what an error sentence
 * may show of one octet of untrusted text. */
static char printable_or_mark(char ch)
{
  unsigned char u = (unsigned char)ch;
  if (u < 0x20 || u >= 0x7f) {
    return '?';
  }
  return ch;
}

/* in, truncated to cap, through printable_or_mark. */
static void printable_copy(const char *in, char *out, size_t cap)
{
  size_t o = 0;
  for (const char *p = in; *p != '\0' && o + 1 < cap; p++) {
    out[o++] = printable_or_mark(*p);
  }
  out[o] = '\0';
}

void owcp_base_redact(const char *base, char *out, size_t cap)
{
  if (cap == 0) {
    return;
  }
  if (base == NULL) {
    snprintf(out, cap, "(none)");
    return;
  }
  /* Everything between "://" and the LAST '@' of the whole text counts
   * as user information. Stopping at the first '/', '?' or '#' (where a
   * valid URL's authority ends) would show the rest of a password that
   * contains one of them ("https://u:p/ss@h" is not a valid URL, so its
   * error sentence quotes it). Over-redacting a path with an '@' is the
   * price. */
  const char *auth = strstr(base, "://");
  auth = auth != NULL ? auth + 3 : base;
  const char *at = strrchr(auth, '@');
  size_t o = 0;
  for (const char *p = base; *p != '\0' && o + 1 < cap; p++) {
    if (at != NULL && p == auth) {
      for (const char *m = "***"; *m != '\0' && o + 1 < cap; m++) {
        out[o++] = *m;
      }
      p = at; /* continue with the '@' */
      if (o + 1 >= cap) {
        break; /* "***" filled the buffer: no room for the '@' */
      }
    }
    out[o++] = printable_or_mark(*p);
  }
  out[o] = '\0';
}

/* Checks a candidate base and writes its normalised form
 * "scheme://host:port/path" (no trailing '/') into *out (caller frees). */
static int base_normalise(const char *base, bool allow_insecure_http,
                          char **out, struct owcp_error *err)
{
  *out = NULL;
  char shown[96]; /* the base as error sentences may show it */
  owcp_base_redact(base, shown, sizeof(shown));
  CURLU *u = curl_url();
  if (u == NULL) {
    owcp_error_set(err, "out of memory checking base '%s'", shown);
    return -1;
  }
  char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL;
  char *extra = NULL;
  int rc = -1;
  if (curl_url_set(u, CURLUPART_URL, base, 0) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK) {
    owcp_error_set(err, "base '%s' is not a valid absolute URL", shown);
    goto done;
  }
  if (curl_url_get(u, CURLUPART_USER, &extra, 0) == CURLUE_OK ||
      curl_url_get(u, CURLUPART_PASSWORD, &extra, 0) == CURLUE_OK) {
    owcp_error_set(err, "base '%s' must not carry user information", shown);
    goto done;
  }
  if (curl_url_get(u, CURLUPART_QUERY, &extra, 0) == CURLUE_OK) {
    owcp_error_set(err, "base '%s' must not carry a query", shown);
    goto done;
  }
  if (curl_url_get(u, CURLUPART_FRAGMENT, &extra, 0) == CURLUE_OK) {
    owcp_error_set(err, "base '%s' must not carry a fragment", shown);
    goto done;
  }
  if (host[0] == '\0') {
    owcp_error_set(err, "base '%s' has no host", shown);
    goto done;
  }
  if (strcmp(port, "0") == 0) {
    owcp_error_set(err, "base '%s' names port 0", shown);
    goto done;
  }
  if (strcmp(scheme, "http") == 0) {
    if (!allow_insecure_http) {
      owcp_error_set(err, "base '%s' refused: plain http (https only)", shown);
      goto done;
    }
    if (!owcp_host_is_loopback(host)) {
      owcp_error_set(err,
                     "base '%s' refused: plain http is allowed only to "
                     "loopback hosts",
                     shown);
      goto done;
    }
  } else if (strcmp(scheme, "https") != 0) {
    owcp_error_set(err, "base '%s' refused: scheme %.16s (https only)", shown,
                   scheme);
    goto done;
  }
  size_t plen = strlen(path);
  while (plen > 0 && path[plen - 1] == '/') {
    path[--plen] = '\0';
  }
  size_t len = strlen(scheme) + 3 + strlen(host) + 1 + strlen(port) + plen + 1;
  *out = malloc(len);
  if (*out == NULL) {
    owcp_error_set(err, "out of memory checking base '%s'", shown);
    goto done;
  }
  snprintf(*out, len, "%s://%s:%s%s", scheme, host, port, path);
  rc = 0;
done:
  curl_free(scheme);
  curl_free(host);
  curl_free(port);
  curl_free(path);
  curl_free(extra);
  curl_url_cleanup(u);
  return rc;
}

int owcp_base_list_single(const char *base, bool allow_insecure_http,
                          struct owcp_base_list *out, struct owcp_error *err)
{
  memset(out, 0, sizeof(*out));
  if (base == NULL) {
    owcp_error_set(err, "no dispatcher base given");
    return -1;
  }
  char *norm = NULL;
  if (base_normalise(base, allow_insecure_http, &norm, err) != 0) {
    return -1;
  }
  out->bases = malloc(sizeof(*out->bases));
  if (out->bases == NULL) {
    free(norm);
    owcp_error_set(err, "out of memory building the base list");
    return -1;
  }
  out->bases[0] = norm;
  out->n = 1;
  out->source = OWCP_DISCOVERY_MANUAL;
  return 0;
}

void owcp_base_list_free(struct owcp_base_list *l)
{
  if (l == NULL) {
    return;
  }
  for (size_t i = 0; i < l->n; i++) {
    free(l->bases[i]);
  }
  free(l->bases);
  memset(l, 0, sizeof(*l));
}

static char *dup_or_null(const char *s, bool *failed)
{
  if (s == NULL) {
    return NULL;
  }
  char *d = strdup(s);
  if (d == NULL) {
    *failed = true;
  }
  return d;
}

int owcp_discovery_new(const struct owcp_discovery_config *cfg,
                       struct owcp_discovery **out, struct owcp_error *err)
{
  *out = NULL;
  if (cfg == NULL) {
    owcp_error_set(err, "discovery needs a configuration");
    return -1;
  }
  if (cfg->manual_only && cfg->manual_base == NULL) {
    owcp_error_set(err, "manual_only discovery needs a manual_base");
    return -1;
  }
  if (cfg->manual_base != NULL) {
    char *norm = NULL;
    if (base_normalise(cfg->manual_base, cfg->allow_insecure_http, &norm,
                       err) != 0) {
      return -1;
    }
    free(norm);
  }
  struct owcp_discovery *d = calloc(1, sizeof(*d));
  if (d == NULL) {
    owcp_error_set(err, "out of memory creating the resolver");
    return -1;
  }
  bool failed = false;
  d->dns_servers = dup_or_null(cfg->dns_servers, &failed);
  d->manual_base = dup_or_null(cfg->manual_base, &failed);
  d->manual_only = cfg->manual_only;
  d->allow_insecure_http = cfg->allow_insecure_http;
  d->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 5000;
  if (failed || pthread_mutex_init(&d->lock, NULL) != 0) {
    free(d->dns_servers);
    free(d->manual_base);
    free(d);
    owcp_error_set(err, "out of memory creating the resolver");
    return -1;
  }
  *out = d;
  return 0;
}

void owcp_discovery_free(struct owcp_discovery *d)
{
  if (d == NULL) {
    return;
  }
  while (d->cache != NULL) {
    struct cache_entry *e = d->cache;
    d->cache = e->next;
    cache_entry_free(e);
  }
  pthread_mutex_destroy(&d->lock);
  free(d->dns_servers);
  free(d->manual_base);
  free(d);
}

/* ---- domain names -------------------------------------------------------- */

/* A character of a host-name label as discovery accepts it: ASCII letters,
 * digits, '-' and '_' (the '_' of service labels). */
static bool host_label_char(char ch)
{
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
         (ch >= '0' && ch <= '9') || ch == '-' || ch == '_';
}

/* The domain part of an account or domain, lowercased, without a trailing
 * dot, checked to be a plain host name (so nothing odd reaches DNS). */
static int domain_extract(const char *in, char *out, size_t cap,
                          struct owcp_error *err)
{
  if (in == NULL) {
    owcp_error_set(err, "no domain or account to discover");
    return -1;
  }
  char shown[96]; /* the input as error sentences may show it */
  printable_copy(in, shown, sizeof(shown));
  const char *at = strrchr(in, '@');
  const char *dom = at != NULL ? at + 1 : in;
  size_t len = strlen(dom);
  if (len > 0 && dom[len - 1] == '.') {
    len--;
  }
  if (len == 0 || len > 253 || len >= cap) {
    owcp_error_set(err, "'%s' has no valid domain (1-253 characters)", shown);
    return -1;
  }
  size_t label = 0;
  for (size_t i = 0; i < len; i++) {
    char ch = dom[i];
    if (ch == '.') {
      if (label == 0) {
        owcp_error_set(err, "domain of '%s' has an empty label", shown);
        return -1;
      }
      label = 0;
    } else if (host_label_char(ch)) {
      if (++label > 63) {
        owcp_error_set(err, "domain of '%s' has a label over 63 characters",
                       shown);
        return -1;
      }
    } else {
      owcp_error_set(err,
                     "domain of '%s' contains '%c' at offset %zu (letters, "
                     "digits, '-', '_' and '.' only)",
                     shown, printable_or_mark(ch), (size_t)(dom - in) + i);
      return -1;
    }
    out[i] = (char)((ch >= 'A' && ch <= 'Z') ? ch - 'A' + 'a' : ch);
  }
  if (label == 0) {
    owcp_error_set(err, "domain of '%s' has an empty label", shown);
    return -1;
  }
  out[len] = '\0';
  return 0;
}

/* ---- DNS through c-ares ---------------------------------------------------
 */

/* One query's outcome: its c-ares status and a copy of the answer. */
struct dns_answer {
  int status;
  unsigned char *abuf;
  int alen;
  bool done;
};

static void on_answer(void *arg, int status, int timeouts, unsigned char *abuf,
                      int alen)
{
  struct dns_answer *a = arg;
  a->done = true;
  a->status = status;
  if (status == ARES_SUCCESS && abuf != NULL && alen > 0) {
    a->abuf = malloc((size_t)alen);
    if (a->abuf == NULL) {
      a->status = ARES_ENOMEM;
      return;
    }
    memcpy(a->abuf, abuf, (size_t)alen);
    a->alen = alen;
  }
}

static pthread_once_t ares_once = PTHREAD_ONCE_INIT;
static int ares_once_rc = ARES_ENOTINITIALIZED;

static void ares_global_once(void)
{
  ares_once_rc = ares_library_init(ARES_LIB_INIT_ALL);
}

/* A fresh channel per lookup: c-ares channels must not be shared between
 * threads, and the discovery object may be. */
static int channel_open(const struct owcp_discovery *d, ares_channel *ch,
                        struct owcp_error *err)
{
  if (pthread_once(&ares_once, ares_global_once) != 0 ||
      ares_once_rc != ARES_SUCCESS) {
    owcp_error_set(err, "c-ares could not be initialised");
    return -1;
  }
  struct ares_options opts;
  memset(&opts, 0, sizeof(opts));
  /* Two tries that fit in the caller's budget (c-ares doubles later ones). */
  opts.timeout = d->timeout_ms / 3 > 0 ? d->timeout_ms / 3 : 1;
  opts.tries = 2;
  /* Without NOCHECKRESP, c-ares 1.18 turns SERVFAIL and REFUSED into
   * "connection refused" once every server was skipped; with it the rcode
   * reaches us and the error can say SERVFAIL (the price: no retry on the
   * next server for those rcodes). */
  opts.flags = ARES_FLAG_NOCHECKRESP;
  int rc = ares_init_options(
      ch, &opts, ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_FLAGS);
  if (rc != ARES_SUCCESS) {
    owcp_error_set(err, "c-ares channel: %s", ares_strerror(rc));
    return -1;
  }
  if (d->dns_servers != NULL) {
    rc = ares_set_servers_ports_csv(*ch, d->dns_servers);
    if (rc != ARES_SUCCESS) {
      owcp_error_set(err, "DNS server list '%.80s': %s", d->dns_servers,
                     ares_strerror(rc));
      ares_destroy(*ch);
      return -1;
    }
  }
  return 0;
}

static bool answers_done(const struct dns_answer *a, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    if (!a[i].done) {
      return false;
    }
  }
  return true;
}

/* Drives the channel with poll() until every query finished or the
 * deadline passed (then the rest are cancelled and marked as timed out). */
static int channel_run(ares_channel ch, uint64_t deadline_ms,
                       struct dns_answer *a, size_t n, struct owcp_error *err)
{
  while (!answers_done(a, n)) {
    uint64_t now = now_ms();
    if (now >= deadline_ms) {
      ares_cancel(ch);
      for (size_t i = 0; i < n; i++) {
        if (a[i].status == ARES_ECANCELLED) {
          a[i].status = ARES_ETIMEOUT;
        }
      }
      return 0;
    }
    ares_socket_t socks[ARES_GETSOCK_MAXNUM];
    /* c-ares' ARES_GETSOCK_WRITABLE shifts a signed 1 into the sign bit
     * for the last socket; test the bits unsigned instead. */
    unsigned bits = (unsigned)ares_getsock(ch, socks, ARES_GETSOCK_MAXNUM);
    struct pollfd pfd[ARES_GETSOCK_MAXNUM];
    nfds_t nfds = 0;
    for (int i = 0; i < ARES_GETSOCK_MAXNUM; i++) {
      short ev = 0;
      if (bits & (1u << i)) {
        ev |= POLLIN;
      }
      if (bits & (1u << (i + ARES_GETSOCK_MAXNUM))) {
        ev |= POLLOUT;
      }
      if (ev != 0) {
        pfd[nfds].fd = socks[i];
        pfd[nfds].events = ev;
        pfd[nfds].revents = 0;
        nfds++;
      }
    }
    uint64_t left = deadline_ms - now;
    struct timeval maxtv = {.tv_sec = (time_t)(left / 1000),
                            .tv_usec = (suseconds_t)(left % 1000) * 1000};
    struct timeval tv;
    const struct timeval *t = ares_timeout(ch, &maxtv, &tv);
    int wait_ms = (int)(t->tv_sec * 1000 + (t->tv_usec + 999) / 1000);
    int ready = poll(pfd, nfds, wait_ms);
    if (ready < 0 && errno != EINTR) {
      owcp_error_set(err, "waiting for DNS answers: %s", strerror(errno));
      return -1;
    }
    if (ready <= 0) {
      /* Lets c-ares notice its own timeouts and retry. */
      ares_process_fd(ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
      continue;
    }
    for (nfds_t i = 0; i < nfds; i++) {
      short r = pfd[i].revents;
      ares_process_fd(
          ch, (r & (POLLIN | POLLERR | POLLHUP)) ? pfd[i].fd : ARES_SOCKET_BAD,
          (r & POLLOUT) ? pfd[i].fd : ARES_SOCKET_BAD);
    }
  }
  return 0;
}

/* A DNS failure in words a DNS operator recognises. */
static const char *dns_status_text(int status)
{
  switch (status) {
  case ARES_ENOTFOUND:
    return "does not exist (NXDOMAIN)";
  case ARES_ENODATA:
    return "has no records of that type";
  case ARES_ESERVFAIL:
    return "server failure (SERVFAIL)";
  case ARES_EREFUSED:
    return "query refused (REFUSED)";
  case ARES_ETIMEOUT:
    return "no answer in time (timeout)";
  case ARES_ECONNREFUSED:
    return "no DNS server reachable (connection refused)";
  case ARES_EFORMERR:
    return "query rejected as malformed (FORMERR)";
  case ARES_ENOTIMP:
    return "query type not implemented by the server (NOTIMP)";
  case ARES_EBADRESP:
    return "malformed answer";
  case ARES_EBADNAME:
    return "malformed answer (bad domain name)";
  default:
    return ares_strerror(status);
  }
}

/* "No such records" moves discovery on; anything else is a failure. */
static bool dns_status_absent(int status)
{
  return status == ARES_ENOTFOUND || status == ARES_ENODATA;
}

/* Smallest TTL of the answer-section records of `type` (c-ares' SRV and
 * TXT parsers drop TTLs, so the fixed RR headers are read here). Returns
 * MAX_TTL_S when none is found; TTLs with the top bit set count as 0
 * (RFC 2181 §8). */
static unsigned answer_min_ttl(const unsigned char *abuf, int alen, int type)
{
  unsigned best = MAX_TTL_S;
  if (alen < 12) {
    return 0;
  }
  unsigned qd = ((unsigned)abuf[4] << 8) | abuf[5];
  unsigned an = ((unsigned)abuf[6] << 8) | abuf[7];
  const unsigned char *p = abuf + 12;
  const unsigned char *end = abuf + alen;
  for (unsigned i = 0; i < qd + an; i++) {
    char *name = NULL;
    long enclen = 0;
    if (ares_expand_name(p, abuf, alen, &name, &enclen) != ARES_SUCCESS) {
      return 0;
    }
    ares_free_string(name);
    p += enclen;
    size_t fixed = i < qd ? 4 : 10;
    if ((size_t)(end - p) < fixed) {
      return 0;
    }
    if (i < qd) {
      p += fixed;
      continue;
    }
    int rtype = (p[0] << 8) | p[1];
    uint32_t ttl = ((uint32_t)p[4] << 24) | ((uint32_t)p[5] << 16) |
                   ((uint32_t)p[6] << 8) | p[7];
    size_t rdlen = ((size_t)p[8] << 8) | p[9];
    p += fixed;
    if ((size_t)(end - p) < rdlen) {
      return 0;
    }
    p += rdlen;
    if (rtype == type) {
      unsigned t = (ttl & 0x80000000u) ? 0 : ttl;
      if (t < best) {
        best = t;
      }
    }
  }
  return best;
}

/* ---- record sets to candidates --------------------------------------------
 */

/* Collects the lookup's verdict while the record sets are examined. */
struct lookup {
  bool allow_insecure_http;
  const char *name; /* _owcp._tcp.DOMAIN */
  struct owcp_dns_candidate *c;
  size_t n;
  unsigned ttl;
  char refused[OWCP_ERROR_MAX]; /* why the first refused record was refused */
};

static int candidate_add(struct lookup *lk, unsigned short priority,
                         unsigned short weight, const char *raw_base)
{
  if (lk->n >= MAX_RECORDS) {
    return 0; /* beyond the bound: ignored, the first ones suffice */
  }
  struct owcp_error why;
  char *base = NULL;
  if (base_normalise(raw_base, lk->allow_insecure_http, &base, &why) != 0) {
    if (lk->refused[0] == '\0') {
      snprintf(lk->refused, sizeof(lk->refused), "%s", why.msg);
    }
    return 0;
  }
  struct owcp_dns_candidate *grown =
      realloc(lk->c, (lk->n + 1) * sizeof(*grown));
  if (grown == NULL) {
    free(base);
    return -1;
  }
  lk->c = grown;
  lk->c[lk->n].priority = priority;
  lk->c[lk->n].weight = weight;
  lk->c[lk->n].base = base;
  lk->n++;
  return 0;
}

static int uri_candidates(struct lookup *lk, const struct owcp_dns_answer *a,
                          struct owcp_error *err)
{
  struct ares_uri_reply *uris = NULL;
  int rc = ares_parse_uri_reply(a->abuf, a->alen, &uris);
  if (rc == ARES_ENODATA) {
    return 0;
  }
  if (rc != ARES_SUCCESS) {
    owcp_error_set(err, "URI records at %s: %s", lk->name, dns_status_text(rc));
    return -1;
  }
  int out = 0;
  lk->ttl = MAX_TTL_S;
  for (const struct ares_uri_reply *u = uris; u != NULL && out == 0;
       u = u->next) {
    unsigned t = u->ttl < 0 ? 0 : (unsigned)u->ttl;
    if (t < lk->ttl) {
      lk->ttl = t;
    }
    out = candidate_add(lk, u->priority, u->weight, u->uri);
  }
  ares_free_data(uris);
  if (out != 0) {
    owcp_error_set(err, "out of memory reading URI records at %s", lk->name);
  }
  return out;
}

/* ESRV properties of one TXT record (its strings joined by spaces). */
struct esrv {
  bool is_esrv; /* it has a v= key: it speaks about this service */
  bool supported;
  char path[256];
  char v[16];
  char binding[16];
};

/* Copies val into dst (size cap) and refuses a key given twice. */
static bool esrv_take(char *dst, size_t cap, bool *seen, const char *val)
{
  if (*seen || strlen(val) >= cap) {
    return false;
  }
  *seen = true;
  snprintf(dst, cap, "%s", val);
  return true;
}

/* Parses "v=0.1 binding=json path=/owcp/0.1". A record with a repeated
 * key, a token without '=' or a path not starting with '/' is treated as
 * an unsupported record set (it said something we cannot trust). */
static void esrv_parse(char *text, struct esrv *e)
{
  memset(e, 0, sizeof(*e));
  bool seen_v = false, seen_b = false, seen_p = false, ok = true;
  char *save = NULL;
  for (char *tok = strtok_r(text, " ", &save); tok != NULL;
       tok = strtok_r(NULL, " ", &save)) {
    char *eq = strchr(tok, '=');
    if (eq == NULL) {
      ok = false;
      continue;
    }
    *eq = '\0';
    const char *val = eq + 1;
    if (strcmp(tok, "v") == 0) {
      ok = esrv_take(e->v, sizeof(e->v), &seen_v, val) && ok;
    } else if (strcmp(tok, "binding") == 0) {
      ok = esrv_take(e->binding, sizeof(e->binding), &seen_b, val) && ok;
    } else if (strcmp(tok, "path") == 0) {
      ok = esrv_take(e->path, sizeof(e->path), &seen_p, val) && ok;
    }
  }
  e->is_esrv = seen_v;
  if (!seen_p) {
    snprintf(e->path, sizeof(e->path), "%s", DEFAULT_PATH);
  }
  e->supported = ok && seen_v && strcmp(e->v, "0.1") == 0 &&
                 (!seen_b || strcmp(e->binding, "json") == 0) &&
                 e->path[0] == '/';
}

/* Joins the character-strings of each TXT record and parses it; a string
 * with control octets makes its record unsupported. */
static int txt_records(const struct owcp_dns_answer *a, struct esrv *sets,
                       size_t *n_sets)
{
  *n_sets = 0;
  struct ares_txt_ext *txt = NULL;
  int rc = ares_parse_txt_reply_ext(a->abuf, a->alen, &txt);
  if (rc != ARES_SUCCESS) {
    return rc;
  }
  char buf[1024];
  size_t used = 0;
  bool bad = false;
  for (const struct ares_txt_ext *t = txt; t != NULL; t = t->next) {
    /* A record's strings end where the next record starts or the list. */
    if (t->record_start) {
      used = 0;
      bad = false;
    }
    if (used > 0 && used < sizeof(buf) - 1) {
      buf[used++] = ' ';
    }
    for (size_t i = 0; i < t->length; i++) {
      unsigned char ch = t->txt[i];
      if (ch < 0x20 || ch >= 0x7f || used >= sizeof(buf) - 1) {
        bad = true;
        continue;
      }
      buf[used++] = (char)ch;
    }
    if ((t->next == NULL || t->next->record_start) && *n_sets < MAX_RECORDS) {
      buf[used] = '\0';
      esrv_parse(buf, &sets[*n_sets]);
      if (bad && sets[*n_sets].is_esrv) {
        sets[*n_sets].supported = false;
      }
      (*n_sets)++;
    }
  }
  ares_free_data(txt);
  return ARES_SUCCESS;
}

/* The path the SRV records are served at, from the ESRV TXT records:
 * no ESRV record → the default; otherwise the path of the supported
 * records (they must agree); none supported → 1 (the SRV set is skipped). */
static int esrv_path(const struct lookup *lk, const struct owcp_dns_answer *txt,
                     char *path, size_t cap, struct owcp_error *err)
{
  snprintf(path, cap, "%s", DEFAULT_PATH);
  if (dns_status_absent(txt->status)) {
    return 0;
  }
  if (txt->status != ARES_SUCCESS) {
    owcp_error_set(err, "DNS lookup of TXT at %s failed: %s", lk->name,
                   dns_status_text(txt->status));
    return -1;
  }
  struct esrv *sets = calloc(MAX_RECORDS, sizeof(*sets));
  if (sets == NULL) {
    owcp_error_set(err, "out of memory reading TXT records at %s", lk->name);
    return -1;
  }
  size_t n = 0;
  int rc = txt_records(txt, sets, &n);
  if (rc != ARES_SUCCESS && rc != ARES_ENODATA) {
    owcp_error_set(err, "TXT records at %s: %s", lk->name, dns_status_text(rc));
    free(sets);
    return -1;
  }
  size_t esrv_n = 0, supported_n = 0;
  int out = 0;
  for (size_t i = 0; i < n && out == 0; i++) {
    if (!sets[i].is_esrv) {
      continue;
    }
    esrv_n++;
    if (!sets[i].supported) {
      continue;
    }
    if (supported_n++ == 0) {
      snprintf(path, cap, "%s", sets[i].path);
    } else if (strcmp(path, sets[i].path) != 0) {
      owcp_error_set(err,
                     "TXT records at %s disagree on the OWCP path ('%.60s' "
                     "and '%.60s')",
                     lk->name, path, sets[i].path);
      out = -1;
    }
  }
  free(sets);
  if (out == 0 && esrv_n > 0 && supported_n == 0) {
    return 1;
  }
  return out;
}

/* An SRV target as c-ares gives it is only pasted into a URL when it is a
 * plain host name: letters, digits, '-', '_' and '.', at most 253 octets
 * (c-ares 1.18 escapes some special octets but passes '/', '?', '#', ':'
 * and '%' through). */
static bool srv_target_valid(const char *host)
{
  size_t len = strlen(host);
  if (len == 0 || len > 253 || host[0] == '.') {
    return false;
  }
  for (const char *p = host; *p != '\0'; p++) {
    if (!host_label_char(*p) && *p != '.') {
      return false;
    }
  }
  return true;
}

/* SRV records plus the ESRV path into candidates. Returns 1 when the
 * service is declared unavailable ("." target) or has no supported ESRV
 * record set, with the reason in err. */
static int srv_candidates(struct lookup *lk, const struct owcp_dns_answer *srv,
                          const struct owcp_dns_answer *txt,
                          struct owcp_error *err)
{
  struct ares_srv_reply *srvs = NULL;
  int rc = ares_parse_srv_reply(srv->abuf, srv->alen, &srvs);
  if (rc == ARES_ENODATA) {
    return 0;
  }
  if (rc != ARES_SUCCESS) {
    owcp_error_set(err, "SRV records at %s: %s", lk->name, dns_status_text(rc));
    return -1;
  }
  char path[256];
  int out = esrv_path(lk, txt, path, sizeof(path), err);
  if (out == 1) {
    owcp_error_set(err,
                   "SRV records at %s skipped: no TXT record set with a "
                   "supported v=0.1 and binding=json",
                   lk->name);
  }
  lk->ttl = answer_min_ttl(srv->abuf, srv->alen, T_SRV_RR);
  if (txt->status == ARES_SUCCESS) {
    unsigned t = answer_min_ttl(txt->abuf, txt->alen, T_TXT_RR);
    lk->ttl = t < lk->ttl ? t : lk->ttl;
  }
  size_t dots = 0, total = 0;
  for (const struct ares_srv_reply *s = srvs; s != NULL && out == 0;
       s = s->next) {
    total++;
    if (s->host[0] == '\0' || strcmp(s->host, ".") == 0) {
      dots++; /* RFC 2782: "." means not available here */
      continue;
    }
    if (s->port == 0) {
      continue;
    }
    if (!srv_target_valid(s->host)) {
      /* Not pasted into a URL: "a/b" or "a?b" would change its meaning. */
      if (lk->refused[0] == '\0') {
        char shown[96];
        printable_copy(s->host, shown, sizeof(shown));
        snprintf(lk->refused, sizeof(lk->refused),
                 "SRV target '%s' is not a host name", shown);
      }
      continue;
    }
    const char *scheme =
        lk->allow_insecure_http && owcp_host_is_loopback(s->host) ? "http"
                                                                  : "https";
    char raw[600];
    snprintf(raw, sizeof(raw), "%s://%s:%u%s", scheme, s->host,
             (unsigned)s->port, path);
    if (candidate_add(lk, s->priority, s->weight, raw) != 0) {
      owcp_error_set(err, "out of memory reading SRV records at %s", lk->name);
      out = -1;
    }
  }
  ares_free_data(srvs);
  if (out == 0 && total > 0 && dots == total) {
    owcp_error_set(err,
                   "the OWCP service is decidedly not available at %s (SRV "
                   "target \".\")",
                   lk->name);
    out = 1;
  }
  return out;
}

/* ---- ordering (RFC 2782) ---------------------------------------------------
 */

static int by_priority(const void *a, const void *b)
{
  const struct owcp_dns_candidate *x = a, *y = b;
  if (x->priority != y->priority) {
    return x->priority < y->priority ? -1 : 1;
  }
  /* Weight-0 records first within a priority, as RFC 2782 asks. */
  if ((x->weight == 0) != (y->weight == 0)) {
    return x->weight == 0 ? -1 : 1;
  }
  return 0;
}

/* Index in [i, end) of the record RFC 2782's weighted draw picks. */
static int weighted_pick(const struct owcp_dns_candidate *c, size_t i,
                         size_t end, size_t *pick, struct owcp_error *err)
{
  /* At most MAX_RECORDS weights of 16 bits: no overflow (static assert). */
  uint32_t sum = 0;
  for (size_t j = i; j < end; j++) {
    sum += c[j].weight;
  }
  uint32_t draw = 0;
  if (owcp_random_bytes((unsigned char *)&draw, sizeof(draw)) != 0) {
    owcp_error_set(err, "no randomness for the weighted order");
    return -1;
  }
  if (sum == 0) {
    /* Only weight-0 records left: RFC 2782's draw would always take the
     * first; a uniform choice spreads the load as intended. */
    *pick = i + draw % (end - i);
    return 0;
  }
  draw %= sum + 1;
  uint32_t running = 0;
  *pick = end - 1;
  for (size_t j = i; j < end; j++) {
    running += c[j].weight;
    if (running >= draw) {
      *pick = j;
      break;
    }
  }
  return 0;
}

/* Orders c in place: priority ascending, then within each priority the
 * RFC 2782 weighted selection (running sums, uniform draw in [0, sum]). */
static int candidates_order(struct owcp_dns_candidate *c, size_t n,
                            struct owcp_error *err)
{
  if (n == 0) {
    return 0;
  }
  qsort(c, n, sizeof(*c), by_priority);
  size_t start = 0;
  while (start < n) {
    size_t end = start;
    while (end < n && c[end].priority == c[start].priority) {
      end++;
    }
    for (size_t i = start; i < end; i++) {
      size_t pick = i;
      if (weighted_pick(c, i, end, &pick, err) != 0) {
        return -1;
      }
      /* Move the pick to position i keeping the rest in order, so the
       * weight-0-first arrangement of the remainder survives. */
      struct owcp_dns_candidate chosen = c[pick];
      memmove(&c[i + 1], &c[i], (pick - i) * sizeof(*c));
      c[i] = chosen;
    }
    start = end;
  }
  return 0;
}

/* owcp_dns_base_list on candidates the caller hands over: c is ordered in
 * place, its strings move into *out and c is freed on every path. */
static int base_list_take(struct owcp_dns_candidate *c, size_t n,
                          enum owcp_discovery_source source,
                          struct owcp_base_list *out, struct owcp_error *err)
{
  memset(out, 0, sizeof(*out));
  if (n == 0) {
    free(c);
    owcp_error_set(err, "no dispatcher base to order");
    return -1;
  }
  if (candidates_order(c, n, err) != 0) {
    candidates_free(c, n);
    return -1;
  }
  out->bases = calloc(n, sizeof(*out->bases));
  if (out->bases == NULL) {
    candidates_free(c, n);
    owcp_error_set(err, "out of memory building the base list");
    return -1;
  }
  for (size_t i = 0; i < n; i++) {
    out->bases[i] = c[i].base;
  }
  free(c);
  out->n = n;
  out->source = source;
  return 0;
}

int owcp_dns_base_list(const struct owcp_dns_candidate *c, size_t n,
                       enum owcp_discovery_source source,
                       struct owcp_base_list *out, struct owcp_error *err)
{
  struct owcp_dns_candidate *copy = NULL;
  if (n > 0 && candidates_dup(c, n, &copy) != 0) {
    memset(out, 0, sizeof(*out));
    owcp_error_set(err, "out of memory building the base list");
    return -1;
  }
  return base_list_take(copy, n, source, out, err);
}

/* ---- answers to candidates --------------------------------------------------
 */

void owcp_dns_found_free(struct owcp_dns_found *found)
{
  if (found == NULL) {
    return;
  }
  candidates_free(found->c, found->n);
  memset(found, 0, sizeof(*found));
}

/* Hands the lookup's candidates to *found (they are taken from lk). */
static void found_take(struct lookup *lk, enum owcp_discovery_source source,
                       struct owcp_dns_found *found)
{
  found->c = lk->c;
  found->n = lk->n;
  found->ttl_s = lk->ttl;
  found->source = source;
  lk->c = NULL;
  lk->n = 0;
}

/* Step 1 (URI records): 0 with candidates in lk, 1 when there are none,
 * -1 when the answer is unusable or every record was refused. */
static int examine_uri(struct lookup *lk, const struct owcp_dns_answer *uri,
                       struct owcp_error *err)
{
  if (dns_status_absent(uri->status)) {
    return 1;
  }
  if (uri->status != ARES_SUCCESS) {
    owcp_error_set(err, "DNS lookup of URI at %s failed: %s", lk->name,
                   dns_status_text(uri->status));
    return -1;
  }
  if (uri_candidates(lk, uri, err) != 0) {
    return -1;
  }
  if (lk->n > 0) {
    return 0;
  }
  if (lk->refused[0] != '\0') {
    owcp_error_set(err, "every URI record at %s was refused: %s", lk->name,
                   lk->refused);
    return -1;
  }
  return 1;
}

/* Step 2 (SRV records with ESRV TXT): as examine_uri; 1 also when the zone
 * declares the service unavailable (err then says how). */
static int examine_srv(struct lookup *lk, const struct owcp_dns_answer *srv,
                       const struct owcp_dns_answer *txt,
                       struct owcp_error *err)
{
  if (dns_status_absent(srv->status)) {
    return 2;
  }
  if (srv->status != ARES_SUCCESS) {
    owcp_error_set(err, "DNS lookup of SRV at %s failed: %s", lk->name,
                   dns_status_text(srv->status));
    return -1;
  }
  int rc = srv_candidates(lk, srv, txt, err);
  if (rc != 0) {
    return rc;
  }
  if (lk->n > 0) {
    return 0;
  }
  if (lk->refused[0] != '\0') {
    owcp_error_set(err, "every SRV record at %s was refused: %s", lk->name,
                   lk->refused);
    return -1;
  }
  return 2;
}

int owcp_dns_examine(const char *name, bool allow_insecure_http,
                     const struct owcp_dns_answer ans[3],
                     struct owcp_dns_found *found, struct owcp_error *err)
{
  memset(found, 0, sizeof(*found));
  struct lookup lk = {.allow_insecure_http = allow_insecure_http, .name = name};
  const struct owcp_dns_answer *uri = &ans[0], *srv = &ans[1], *txt = &ans[2];
  int rc = examine_uri(&lk, uri, err);
  if (rc == 0) {
    found_take(&lk, OWCP_DISCOVERY_URI, found);
    return 0;
  }
  if (rc == 1) {
    /* Nothing usable from URI: SRV decides, with a fresh verdict. */
    candidates_free(lk.c, lk.n);
    lk.c = NULL;
    lk.n = 0;
    lk.ttl = 0;
    rc = examine_srv(&lk, srv, txt, err);
    if (rc == 0) {
      found_take(&lk, OWCP_DISCOVERY_SRV, found);
      return 0;
    }
  }
  candidates_free(lk.c, lk.n);
  if (rc == 2) {
    owcp_error_set(err, "%s %s", name,
                   uri->status == ARES_ENOTFOUND &&
                           srv->status == ARES_ENOTFOUND
                       ? "does not exist (NXDOMAIN)"
                       : "has no usable URI or SRV records");
    return 1;
  }
  return rc;
}

/* ---- cache ------------------------------------------------------------------
 */

/* Ordered bases from a live cache entry; 1 when there is none. Expired
 * entries are unlinked and freed under the lock, and a live one is copied
 * under it, so no thread ever reads an entry another one frees. */
static int cache_lookup(struct owcp_discovery *d, const char *domain,
                        struct owcp_base_list *out, struct owcp_error *err)
{
  struct owcp_dns_candidate *copy = NULL;
  size_t n = 0;
  enum owcp_discovery_source source = OWCP_DISCOVERY_URI;
  int rc = 1;
  uint64_t now = now_ms();
  pthread_mutex_lock(&d->lock);
  for (struct cache_entry **pp = &d->cache; *pp != NULL;) {
    struct cache_entry *e = *pp;
    if (e->expires_ms <= now) {
      *pp = e->next;
      d->cache_n--;
      cache_entry_free(e);
      continue;
    }
    if (strcmp(e->domain, domain) == 0) {
      rc = candidates_dup(e->found.c, e->found.n, &copy) == 0 ? 0 : -1;
      n = e->found.n;
      source = e->found.source;
      break;
    }
    pp = &e->next;
  }
  pthread_mutex_unlock(&d->lock);
  if (rc == -1) {
    owcp_error_set(err, "out of memory reading the discovery cache");
    return -1;
  }
  if (rc == 1) {
    return 1;
  }
  /* The copy made under the lock is ordered and handed out as it is. */
  return base_list_take(copy, n, source, out, err);
}

/* Unlinks and frees the entry for domain, if any (lock held). */
static void cache_remove_locked(struct owcp_discovery *d, const char *domain)
{
  for (struct cache_entry **pp = &d->cache; *pp != NULL; pp = &(*pp)->next) {
    struct cache_entry *old = *pp;
    if (strcmp(old->domain, domain) == 0) {
      *pp = old->next;
      d->cache_n--;
      cache_entry_free(old);
      return;
    }
  }
}

/* Unlinks and frees the entry closest to expiry, the oldest among equals
 * (the list is newest first, hence "<="; lock held). */
static void cache_evict_soonest_locked(struct owcp_discovery *d)
{
  struct cache_entry **soonest = NULL;
  for (struct cache_entry **pp = &d->cache; *pp != NULL; pp = &(*pp)->next) {
    if (soonest == NULL || (*pp)->expires_ms <= (*soonest)->expires_ms) {
      soonest = pp;
    }
  }
  if (soonest != NULL) {
    struct cache_entry *old = *soonest;
    *soonest = old->next;
    d->cache_n--;
    cache_entry_free(old);
  }
}

/* Keeps the found candidates (taking them) until their TTL ends. A full
 * cache drops the entry closest to expiry. */
static void cache_store(struct owcp_discovery *d, const char *domain,
                        struct owcp_dns_found *found)
{
  if (found->ttl_s == 0) {
    return;
  }
  struct cache_entry *e = calloc(1, sizeof(*e));
  if (e == NULL || (e->domain = strdup(domain)) == NULL) {
    free(e);
    return; /* caching is an optimisation: the answer is still returned */
  }
  unsigned ttl = found->ttl_s < MAX_TTL_S ? found->ttl_s : MAX_TTL_S;
  e->found = *found;
  memset(found, 0, sizeof(*found));
  e->expires_ms = now_ms() + (uint64_t)ttl * 1000u;
  pthread_mutex_lock(&d->lock);
  cache_remove_locked(d, domain);
  while (d->cache_n >= MAX_CACHE) {
    cache_evict_soonest_locked(d);
  }
  e->next = d->cache;
  d->cache = e;
  d->cache_n++;
  pthread_mutex_unlock(&d->lock);
}

/* ---- resolve
 * ----------------------------------------------------------------- */

/* The manual base when configured; otherwise the error `why` explains. */
static int manual_or_fail(struct owcp_discovery *d, const char *domain,
                          const char *why, struct owcp_base_list *out,
                          struct owcp_error *err)
{
  if (d->manual_base != NULL) {
    return owcp_base_list_single(d->manual_base, d->allow_insecure_http, out,
                                 err);
  }
  owcp_error_set(err,
                 "no OWCP service for %s: %s and no manual dispatcher is "
                 "configured",
                 domain, why);
  return -1;
}

/* Sends the URI, SRV and TXT queries at once and waits for all three. */
static int dns_query_all(struct owcp_discovery *d, const char *name,
                         struct dns_answer ans[3], struct owcp_error *err)
{
  static const int types[3] = {T_URI_RR, T_SRV_RR, T_TXT_RR};
  memset(ans, 0, 3 * sizeof(*ans));
  ares_channel ch;
  if (channel_open(d, &ch, err) != 0) {
    return -1;
  }
  for (size_t i = 0; i < 3; i++) {
    ans[i].status = ARES_ECANCELLED;
    ares_query(ch, name, C_IN_RR, types[i], on_answer, &ans[i]);
  }
  int rc = channel_run(ch, now_ms() + (uint64_t)d->timeout_ms, ans, 3, err);
  ares_destroy(ch);
  return rc;
}

/* Turns the three answers into a base list (or the reason there is none),
 * caching a positive answer. */
static int resolve_answers(struct owcp_discovery *d, const char *domain,
                           const char *name, const struct dns_answer ans[3],
                           struct owcp_base_list *out, struct owcp_error *err)
{
  struct owcp_dns_answer view[3];
  for (size_t i = 0; i < 3; i++) {
    view[i].status = ans[i].status;
    view[i].abuf = ans[i].abuf;
    view[i].alen = ans[i].alen;
  }
  struct owcp_dns_found found;
  int rc = owcp_dns_examine(name, d->allow_insecure_http, view, &found, err);
  if (rc == 1) {
    char why[OWCP_ERROR_MAX];
    snprintf(why, sizeof(why), "%s", err->msg);
    return manual_or_fail(d, domain, why, out, err);
  }
  if (rc != 0) {
    return -1;
  }
  rc = owcp_dns_base_list(found.c, found.n, found.source, out, err);
  if (rc == 0) {
    cache_store(d, domain, &found);
  }
  owcp_dns_found_free(&found);
  return rc;
}

int owcp_discovery_resolve(struct owcp_discovery *d,
                           const char *domain_or_account,
                           struct owcp_base_list *out, struct owcp_error *err)
{
  memset(out, 0, sizeof(*out));
  if (d == NULL) {
    owcp_error_set(err, "no resolver given");
    return -1;
  }
  if (d->manual_only) {
    return owcp_base_list_single(d->manual_base, d->allow_insecure_http, out,
                                 err);
  }
  /* Sub-steps read back the sentence they wrote, so one must exist. */
  struct owcp_error local;
  if (err == NULL) {
    err = &local;
  }
  char domain[256];
  if (domain_extract(domain_or_account, domain, sizeof(domain), err) != 0) {
    return -1;
  }
  int rc = cache_lookup(d, domain, out, err);
  if (rc != 1) {
    return rc;
  }
  char name[300];
  snprintf(name, sizeof(name), "_owcp._tcp.%s", domain);
  struct dns_answer ans[3];
  rc = dns_query_all(d, name, ans, err);
  if (rc == 0) {
    rc = resolve_answers(d, domain, name, ans, out, err);
  }
  for (size_t i = 0; i < 3; i++) {
    free(ans[i].abuf);
  }
  return rc;
}
