/*
 * discovery_base.c — dispatcher base URLs as discovery and the manual
 * setting give them (owcp/discovery.h): normalised and checked (https, or
 * http to loopback when allowed; no user information, query or fragment),
 * redacted for messages, and the single-entry list of a manual base.
 */
#include "owcp/discovery.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "discovery_internal.h"

/* ch itself when it is printable ASCII, else '?': what an error sentence
 * may show of one octet of untrusted text. */
char disc_printable_or_mark(char ch)
{
  unsigned char u = (unsigned char)ch;
  if (u < 0x20 || u >= 0x7f) {
    return '?';
  }
  return ch;
}

/* in, truncated to cap, through printable_or_mark. */
void disc_printable_copy(const char *in, char *out, size_t cap)
{
  size_t o = 0;
  for (const char *p = in; *p != '\0' && o + 1 < cap; p++) {
    out[o++] = disc_printable_or_mark(*p);
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
    out[o++] = disc_printable_or_mark(*p);
  }
  out[o] = '\0';
}

/* Checks a candidate base and writes its normalised form
 * "scheme://host:port/path" (no trailing '/') into *out (caller frees). */
int disc_base_normalise(const char *base, bool allow_insecure_http, char **out,
                        struct owcp_error *err)
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
  if (disc_base_normalise(base, allow_insecure_http, &norm, err) != 0) {
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
