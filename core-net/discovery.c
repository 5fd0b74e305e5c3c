/*
 * discovery.c — spec §7 discovery (owcp/discovery.h): URI, then SRV with
 * ESRV TXT properties, then the manual base, with a per-domain TTL cache.
 * This file holds the resolver object, the order of resolution and the
 * cache; discovery_base.c checks base URLs, discovery_dns.c asks c-ares,
 * discovery_parse.c turns answers into ordered bases
 * (discovery_internal.h).
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

#include <pthread.h>
#include <time.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "discovery_internal.h"

#define MAX_CACHE 128

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

uint64_t disc_now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void cache_entry_free(struct cache_entry *e)
{
  if (e != NULL) {
    free(e->domain);
    owcp_dns_found_free(&e->found);
    free(e);
  }
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
    if (disc_base_normalise(cfg->manual_base, cfg->allow_insecure_http, &norm,
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
bool disc_host_label_char(char ch)
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
  disc_printable_copy(in, shown, sizeof(shown));
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
    } else if (disc_host_label_char(ch)) {
      if (++label > 63) {
        owcp_error_set(err, "domain of '%s' has a label over 63 characters",
                       shown);
        return -1;
      }
    } else {
      owcp_error_set(err,
                     "domain of '%s' contains '%c' at offset %zu (letters, "
                     "digits, '-', '_' and '.' only)",
                     shown, disc_printable_or_mark(ch), (size_t)(dom - in) + i);
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
  uint64_t now = disc_now_ms();
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
      rc = disc_candidates_dup(e->found.c, e->found.n, &copy) == 0 ? 0 : -1;
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
  return disc_base_list_take(copy, n, source, out, err);
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
  e->expires_ms = disc_now_ms() + (uint64_t)ttl * 1000u;
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

/* Turns the three answers into a base list (or the reason there is none),
 * caching a positive answer. */
static int resolve_answers(struct owcp_discovery *d, const char *domain,
                           const char *name,
                           const struct disc_dns_answer ans[3],
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
  struct disc_dns_answer ans[3];
  rc = disc_dns_query_all(d->dns_servers, d->timeout_ms, name, ans, err);
  if (rc == 0) {
    rc = resolve_answers(d, domain, name, ans, out, err);
  }
  for (size_t i = 0; i < 3; i++) {
    free(ans[i].abuf);
  }
  return rc;
}
