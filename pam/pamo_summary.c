/* The summary template; see pamo_summary.h. */
#include "pamo_summary.h"

#include <stdlib.h>
#include <string.h>

char *pamo_text_clean(const char *s, size_t max)
{
  if (s == NULL)
    s = "unknown";
  size_t n = strnlen(s, max);
  char *out = malloc(n + 1);
  if (out == NULL)
    return NULL;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c < 0x7f)
      out[i] = s[i];
    else
      out[i] = '?';
  }
  out[n] = '\0';
  return out;
}

/* The value of placeholder c, or NULL when c is not one ("%" for %%). */
static const char *placeholder(char c, const struct pamo_summary_vars *v,
                               const char **raw)
{
  static const char percent[] = "%";
  switch (c) {
  case 'u':
    *raw = v->user;
    return "";
  case 'h':
    *raw = v->host;
    return "";
  case 's':
    *raw = v->service;
    return "";
  case 'r':
    *raw = v->rhost;
    return "";
  case '%':
    *raw = NULL;
    return percent;
  default:
    return NULL;
  }
}

int pamo_summary_check(const char *tmpl, struct owcp_error *err)
{
  static const struct pamo_summary_vars none = {0};
  for (const char *p = strchr(tmpl, '%'); p != NULL; p = strchr(p, '%')) {
    const char *raw;
    if (p[1] == '\0' || placeholder(p[1], &none, &raw) == NULL) {
      owcp_error_set(err,
                     "summary: '%%%.1s' is not a placeholder (%%u user, %%h "
                     "host, %%s service, %%r remote host, %%%% percent)",
                     p + 1);
      return -1;
    }
    p += 2;
  }
  return 0;
}

/* Appends text to *buf (length *len); -1 when memory runs out. */
static int append(char **buf, size_t *len, const char *text, size_t n)
{
  char *grown = realloc(*buf, *len + n + 1);
  if (grown == NULL)
    return -1;
  memcpy(grown + *len, text, n);
  *len += n;
  grown[*len] = '\0';
  *buf = grown;
  return 0;
}

/* Appends the expansion of the placeholder at p[1]. */
static int append_placeholder(char **buf, size_t *len, char c,
                              const struct pamo_summary_vars *v)
{
  const char *raw = NULL;
  const char *fixed = placeholder(c, v, &raw);
  if (fixed[0] != '\0')
    return append(buf, len, fixed, strlen(fixed));
  char *clean = pamo_text_clean(raw, PAMO_VALUE_MAX);
  int rc = clean == NULL ? -1 : append(buf, len, clean, strlen(clean));
  free(clean);
  return rc;
}

char *pamo_summary_expand(const char *tmpl, const struct pamo_summary_vars *v,
                          struct owcp_error *err)
{
  if (pamo_summary_check(tmpl, err) != 0)
    return NULL;
  char *buf = NULL;
  size_t len = 0;
  int rc = append(&buf, &len, "", 0);
  for (const char *p = tmpl; rc == 0 && *p != '\0';) {
    const char *pct = strchr(p, '%');
    size_t n = pct == NULL ? strlen(p) : (size_t)(pct - p);
    rc = append(&buf, &len, p, n);
    if (rc == 0 && pct != NULL)
      rc = append_placeholder(&buf, &len, pct[1], v);
    p += n + (pct != NULL ? 2 : 0);
  }
  if (rc != 0) {
    free(buf);
    owcp_error_set(err, "out of memory");
    return NULL;
  }
  return buf;
}
