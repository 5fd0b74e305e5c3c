/*
 * discovery_parse.c — raw URI, SRV and TXT answers to ordered dispatcher
 * bases (discovery_parse.h): ESRV record sets, validation of every
 * target, RFC 2782 ordering. No sockets, no cache: fuzzed on its own
 * (tests/fuzz/fuzz_dns.c).
 */
#include "discovery_parse.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ares.h>

#include "discovery_internal.h"

static const char DEFAULT_PATH[] = "/owcp/0.1";

/* The weighted draw sums the 16-bit weights of one priority in 32 bits. */
_Static_assert((uint64_t)MAX_RECORDS * 65535u < UINT32_MAX,
               "the weight sum of MAX_RECORDS records must fit in uint32_t");

void disc_candidates_free(struct owcp_dns_candidate *c, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    free(c[i].base);
  }
  free(c);
}

/* Deep copy, so that a cached answer and a caller's list never share. */
int disc_candidates_dup(const struct owcp_dns_candidate *c, size_t n,
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
      disc_candidates_free(*out, i);
      *out = NULL;
      return -1;
    }
  }
  return 0;
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
  if (disc_base_normalise(raw_base, lk->allow_insecure_http, &base, &why) !=
      0) {
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
    owcp_error_set(err, "URI records at %s: %s", lk->name,
                   disc_dns_status_text(rc));
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
  if (disc_dns_status_absent(txt->status)) {
    return 0;
  }
  if (txt->status != ARES_SUCCESS) {
    owcp_error_set(err, "DNS lookup of TXT at %s failed: %s", lk->name,
                   disc_dns_status_text(txt->status));
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
    owcp_error_set(err, "TXT records at %s: %s", lk->name,
                   disc_dns_status_text(rc));
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
    if (!disc_host_label_char(*p) && *p != '.') {
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
    owcp_error_set(err, "SRV records at %s: %s", lk->name,
                   disc_dns_status_text(rc));
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
  lk->ttl = disc_answer_min_ttl(srv->abuf, srv->alen, T_SRV_RR);
  if (txt->status == ARES_SUCCESS) {
    unsigned t = disc_answer_min_ttl(txt->abuf, txt->alen, T_TXT_RR);
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
        disc_printable_copy(s->host, shown, sizeof(shown));
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
int disc_base_list_take(struct owcp_dns_candidate *c, size_t n,
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
    disc_candidates_free(c, n);
    return -1;
  }
  out->bases = calloc(n, sizeof(*out->bases));
  if (out->bases == NULL) {
    disc_candidates_free(c, n);
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
  if (n > 0 && disc_candidates_dup(c, n, &copy) != 0) {
    memset(out, 0, sizeof(*out));
    owcp_error_set(err, "out of memory building the base list");
    return -1;
  }
  return disc_base_list_take(copy, n, source, out, err);
}

/* ---- answers to candidates --------------------------------------------------
 */

void owcp_dns_found_free(struct owcp_dns_found *found)
{
  if (found == NULL) {
    return;
  }
  disc_candidates_free(found->c, found->n);
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
  if (disc_dns_status_absent(uri->status)) {
    return 1;
  }
  if (uri->status != ARES_SUCCESS) {
    owcp_error_set(err, "DNS lookup of URI at %s failed: %s", lk->name,
                   disc_dns_status_text(uri->status));
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
  if (disc_dns_status_absent(srv->status)) {
    return 2;
  }
  if (srv->status != ARES_SUCCESS) {
    owcp_error_set(err, "DNS lookup of SRV at %s failed: %s", lk->name,
                   disc_dns_status_text(srv->status));
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
    disc_candidates_free(lk.c, lk.n);
    lk.c = NULL;
    lk.n = 0;
    lk.ttl = 0;
    rc = examine_srv(&lk, srv, txt, err);
    if (rc == 0) {
      found_take(&lk, OWCP_DISCOVERY_SRV, found);
      return 0;
    }
  }
  disc_candidates_free(lk.c, lk.n);
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
