/*
 * discovery.c — spec §7 discovery (owcp/discovery.h).
 */
#include "owcp/discovery.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

struct owcp_discovery {
  char *dns_servers;
  char *manual_base;
  bool manual_only;
  bool allow_insecure_http;
  int timeout_ms;
};

bool owcp_host_is_loopback(const char *host)
{
  if (host == NULL) {
    return false;
  }
  if (strcasecmp(host, "localhost") == 0) {
    return true;
  }
  struct in_addr v4;
  if (inet_pton(AF_INET, host, &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  size_t len = strlen(host);
  if (len > 2 && host[0] == '[' && host[len - 1] == ']') {
    char inner[INET6_ADDRSTRLEN + 1];
    if (len - 2 >= sizeof(inner)) {
      return false;
    }
    memcpy(inner, host + 1, len - 2);
    inner[len - 2] = '\0';
    struct in6_addr v6;
    return inet_pton(AF_INET6, inner, &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
  }
  return false;
}

/* Checks a candidate base and writes its normalised form
 * "scheme://host:port/path" (no trailing '/') into *out (caller frees). */
static int base_normalise(const char *base, bool allow_insecure_http,
                          char **out, struct owcp_error *err)
{
  *out = NULL;
  CURLU *u = curl_url();
  if (u == NULL) {
    owcp_error_set(err, "out of memory checking base '%.80s'", base);
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
    owcp_error_set(err, "base '%.80s' is not a valid absolute URL", base);
    goto done;
  }
  if (curl_url_get(u, CURLUPART_USER, &extra, 0) == CURLUE_OK ||
      curl_url_get(u, CURLUPART_PASSWORD, &extra, 0) == CURLUE_OK) {
    owcp_error_set(err, "base '%.80s' must not carry user information", base);
    goto done;
  }
  if (curl_url_get(u, CURLUPART_QUERY, &extra, 0) == CURLUE_OK) {
    owcp_error_set(err, "base '%.80s' must not carry a query", base);
    goto done;
  }
  if (curl_url_get(u, CURLUPART_FRAGMENT, &extra, 0) == CURLUE_OK) {
    owcp_error_set(err, "base '%.80s' must not carry a fragment", base);
    goto done;
  }
  if (host[0] == '\0') {
    owcp_error_set(err, "base '%.80s' has no host", base);
    goto done;
  }
  if (strcmp(scheme, "http") == 0) {
    if (!allow_insecure_http) {
      owcp_error_set(err, "base '%.80s' refused: plain http (https only)",
                     base);
      goto done;
    }
    if (!owcp_host_is_loopback(host)) {
      owcp_error_set(err,
                     "base '%.80s' refused: plain http is allowed only to "
                     "loopback hosts",
                     base);
      goto done;
    }
  } else if (strcmp(scheme, "https") != 0) {
    owcp_error_set(err, "base '%.80s' refused: scheme %.16s (https only)", base,
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
    owcp_error_set(err, "out of memory checking base '%.80s'", base);
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
  if (failed) {
    owcp_discovery_free(d);
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
  free(d->dns_servers);
  free(d->manual_base);
  free(d);
}

int owcp_discovery_resolve(struct owcp_discovery *d,
                           const char *domain_or_account,
                           struct owcp_base_list *out, struct owcp_error *err)
{
  memset(out, 0, sizeof(*out));
  if (d->manual_only) {
    return owcp_base_list_single(d->manual_base, d->allow_insecure_http, out,
                                 err);
  }
  owcp_error_set(err, "DNS discovery for %.80s is not implemented yet",
                 domain_or_account != NULL ? domain_or_account : "(null)");
  return -1;
}
