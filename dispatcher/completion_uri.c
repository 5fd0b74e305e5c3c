/*
 * completion_uri.c — redaction and destination of Completion URIs
 * (completion_uri.h), on libcurl's URL API.
 */
#include "completion_uri.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* uri parsed by libcurl, or NULL. Any scheme is accepted so that even a
 * row stored by an older, laxer dispatcher is redacted, not refused. */
static CURLU *parse(const char *uri)
{
  CURLU *u = curl_url();

  if (u != NULL && curl_url_set(u, CURLUPART_URL, uri,
                                CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK) {
    curl_url_cleanup(u);
    u = NULL;
  }
  return u;
}

char *completion_uri_redacted(const char *uri)
{
  static const CURLUPart secret[] = {CURLUPART_USER, CURLUPART_PASSWORD,
                                     CURLUPART_OPTIONS, CURLUPART_QUERY,
                                     CURLUPART_FRAGMENT};
  CURLU *u = parse(uri);
  char *text = NULL, *out;
  CURLUcode rc = u != NULL ? CURLUE_OK : CURLUE_MALFORMED_INPUT;

  for (size_t i = 0; rc == CURLUE_OK && i < sizeof secret / sizeof *secret; i++)
    rc = curl_url_set(u, secret[i], NULL, 0);
  if (rc == CURLUE_OK)
    rc = curl_url_get(u, CURLUPART_URL, &text, 0);
  out = strdup(rc == CURLUE_OK ? text : COMPLETION_URI_UNPARSEABLE);
  curl_free(text);
  curl_url_cleanup(u);
  return out;
}

int completion_uri_host_key(const char *uri, char *out, size_t size)
{
  CURLU *u = parse(uri);
  char *host = NULL, *port = NULL;
  int rc = -1;

  if (u != NULL && curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK) {
    int n = snprintf(out, size, "%s:%s", host, port);

    rc = n > 0 && (size_t)n < size ? 0 : -1;
  }
  curl_free(host);
  curl_free(port);
  curl_url_cleanup(u);
  return rc;
}
