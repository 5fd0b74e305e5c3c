/*
 * config_value.c — the values of declarative configuration
 * (owcp/service/config.h): each key type parsed from text into its struct
 * member (integers by range and C type, yes/no, enums, HOST:PORT, paths
 * resolved against the file's directory, secret files checked for their
 * mode), lists appended, and a member zeroed or released
 * (config_internal.h).
 */
#include "owcp/service/config.h"
#include "config_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- values ---------------------------------------------------------- */

void *svc_cfg_member(void *base, size_t offset)
{
  return (char *)base + offset;
}

static int parse_int(const char *v, long long min, long long max,
                     long long *out)
{
  char *end;
  errno = 0;
  long long n = strtoll(v, &end, 10);
  if (*v == '\0' || *end != '\0' || errno != 0 || n < min || n > max)
    return -1;
  *out = n;
  return 0;
}

static void store_int(void *p, enum svc_cfg_int_kind kind, long long v)
{
  switch (kind) {
  case SVC_CFG_INT_INT:
    *(int *)p = (int)v;
    break;
  case SVC_CFG_INT_UINT:
    *(unsigned *)p = (unsigned)v;
    break;
  case SVC_CFG_INT_LONG:
    *(long *)p = (long)v;
    break;
  case SVC_CFG_INT_ULONG:
    *(unsigned long *)p = (unsigned long)v;
    break;
  case SVC_CFG_INT_LLONG:
    *(long long *)p = v;
    break;
  case SVC_CFG_INT_ULLONG:
    *(unsigned long long *)p = (unsigned long long)v;
    break;
  case SVC_CFG_INT_USHORT:
    *(unsigned short *)p = (unsigned short)v;
    break;
  }
}

int svc_listen_parse(const char *text, struct svc_listen *out,
                     struct owcp_error *err)
{
  const char *colon = strrchr(text, ':');
  const char *host = text;
  size_t hlen = colon != NULL ? (size_t)(colon - text) : 0;
  long long port;
  unsigned char addr[sizeof(struct in6_addr)];
  int af = AF_INET;

  if (colon != NULL && hlen >= 2 && text[0] == '[' && colon[-1] == ']') {
    host++;
    hlen -= 2;
    af = AF_INET6;
  }
  if (colon == NULL || hlen == 0 || hlen >= sizeof out->host ||
      parse_int(colon + 1, 0, 65535, &port) != 0)
    goto bad;
  char h[sizeof out->host];
  memcpy(h, host, hlen);
  h[hlen] = '\0';
  if (inet_pton(af, h, addr) != 1)
    goto bad;
  memcpy(out->host, h, hlen + 1);
  out->port = (unsigned short)port;
  return 0;
bad:
  owcp_error_set(err,
                 "must be HOST:PORT with a numeric IPv4 host or [IPV6]:PORT, "
                 "not '%s'",
                 text);
  return -1;
}

int svc_secret_file_check(const char *path, struct owcp_error *err)
{
  struct stat st;
  if (stat(path, &st) != 0) {
    owcp_error_set(err, "cannot use secret file %s: %s", path, strerror(errno));
    return -1;
  }
  if (!S_ISREG(st.st_mode)) {
    owcp_error_set(err, "secret file %s is not a regular file", path);
    return -1;
  }
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    owcp_error_set(err,
                   "secret file %s has mode %04o: it must not be readable by "
                   "group or others (chmod 600 it)",
                   path, (unsigned)(st.st_mode & 07777));
    return -1;
  }
  return 0;
}

/* A new string: v, or dir/v when v is a relative path and dir is set. */
static char *resolve(const struct svc_cfg_key *k, const char *v,
                     const char *dir)
{
  bool relative = (k->type == SVC_CFG_T_PATH || k->type == SVC_CFG_T_SECRET) &&
                  v[0] != '/' && dir != NULL;
  if (!relative)
    return strdup(v);
  size_t n = strlen(dir) + strlen(v) + 2;
  char *p = malloc(n);
  if (p != NULL)
    snprintf(p, n, "%s/%s", dir, v);
  return p;
}

static int enum_index(const struct svc_cfg_key *k, const char *v,
                      struct owcp_error *err)
{
  char list[160] = "";
  for (int i = 0; k->choices[i] != NULL; i++) {
    if (strcmp(k->choices[i], v) == 0)
      return i;
    size_t used = strlen(list);
    snprintf(list + used, sizeof list - used, "%s%s", i ? "|" : "",
             k->choices[i]);
  }
  owcp_error_set(err, "must be one of %s, not '%s'", list, v);
  return -1;
}

/* A text value (string, path, secret, listen, enum item) checked and
 * copied; the copy the caller owns, or NULL with err. */
static char *text_value(const struct svc_cfg_key *k, const char *v,
                        const char *dir, struct owcp_error *err)
{
  struct svc_listen l;
  if (k->type == SVC_CFG_T_LISTEN && svc_listen_parse(v, &l, err) != 0)
    return NULL;
  if (k->type == SVC_CFG_T_ENUM && enum_index(k, v, err) < 0)
    return NULL;
  char *copy = resolve(k, v, dir);
  if (copy == NULL) {
    owcp_error_set(err, "out of memory");
    return NULL;
  }
  if (k->type == SVC_CFG_T_SECRET && svc_secret_file_check(copy, err) != 0) {
    free(copy);
    return NULL;
  }
  return copy;
}

static int list_append(struct svc_cfg_list *l, char *item,
                       struct owcp_error *err)
{
  char **grown = realloc(l->items, (l->count + 2) * sizeof *grown);
  if (grown == NULL) {
    free(item);
    owcp_error_set(err, "out of memory");
    return -1;
  }
  grown[l->count++] = item;
  grown[l->count] = NULL;
  l->items = grown;
  return 0;
}

void svc_cfg_list_clear(struct svc_cfg_list *l)
{
  for (size_t i = 0; i < l->count; i++)
    free(l->items[i]);
  free(l->items);
  l->items = NULL;
  l->count = 0;
}

static int scalar_value(const struct svc_cfg_key *k, void *p, const char *v,
                        const char *dir, struct owcp_error *err)
{
  long long n;
  int idx;
  char *s;

  switch (k->type) {
  case SVC_CFG_T_BOOL:
    if (strcmp(v, "yes") != 0 && strcmp(v, "no") != 0) {
      owcp_error_set(err, "must be yes or no, not '%s'", v);
      return -1;
    }
    *(bool *)p = v[0] == 'y';
    return 0;
  case SVC_CFG_T_INT:
    if (parse_int(v, k->min, k->max, &n) != 0) {
      owcp_error_set(err, "must be an integer between %lld and %lld, not '%s'",
                     k->min, k->max, v);
      return -1;
    }
    store_int(p, k->int_kind, n);
    return 0;
  case SVC_CFG_T_ENUM:
    if ((idx = enum_index(k, v, err)) < 0)
      return -1;
    *(int *)p = idx;
    return 0;
  case SVC_CFG_T_LISTEN:
    return svc_listen_parse(v, p, err);
  default:
    if ((s = text_value(k, v, dir, err)) == NULL)
      return -1;
    free(*(char **)p);
    *(char **)p = s;
    return 0;
  }
}

/* Sets key k of the section at base from text v (list keys append). */
int svc_cfg_set_value(const struct svc_cfg_key *k, void *base, const char *v,
                      const char *dir, struct owcp_error *err)
{
  void *p = svc_cfg_member(base, k->offset);
  if (*v == '\0') {
    owcp_error_set(err, "must not be empty");
    return -1;
  }
  if ((k->flags & SVC_CFG_LIST) == 0)
    return scalar_value(k, p, v, dir, err);
  char *item = text_value(k, v, dir, err);
  return item == NULL ? -1 : list_append(p, item, err);
}

/* ---- defaults and release ------------------------------------------- */

/* Zeroes key k's member without releasing what it held. */
void svc_cfg_key_zero(const struct svc_cfg_key *k, void *base)
{
  void *p = svc_cfg_member(base, k->offset);
  if (k->flags & SVC_CFG_LIST) {
    *(struct svc_cfg_list *)p = (struct svc_cfg_list){NULL, 0};
    return;
  }
  switch (k->type) {
  case SVC_CFG_T_STRING:
  case SVC_CFG_T_PATH:
  case SVC_CFG_T_SECRET:
    *(char **)p = NULL;
    break;
  case SVC_CFG_T_BOOL:
    *(bool *)p = false;
    break;
  case SVC_CFG_T_INT:
    store_int(p, k->int_kind, 0);
    break;
  case SVC_CFG_T_ENUM:
    *(int *)p = 0;
    break;
  case SVC_CFG_T_LISTEN:
    memset(p, 0, sizeof(struct svc_listen));
    break;
  case SVC_CFG_T_END:
    break;
  }
}

/* Releases key k's member and zeroes it. */
void svc_cfg_key_free(const struct svc_cfg_key *k, void *base)
{
  void *p = svc_cfg_member(base, k->offset);
  if (k->flags & SVC_CFG_LIST)
    svc_cfg_list_clear(p);
  else if (k->type == SVC_CFG_T_STRING || k->type == SVC_CFG_T_PATH ||
           k->type == SVC_CFG_T_SECRET)
    free(*(char **)p);
  svc_cfg_key_zero(k, base);
}

/* Sets the defaults of one section instance (its members zeroed). */
