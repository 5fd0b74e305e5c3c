/*
 * config.c — declarative INI configuration (see owcp/service/config.h).
 * libinih splits lines into [section] and key = value; it is fed one line
 * at a time by our reader, which is where the line number comes from
 * (Debian's libinih has no line-number handler), where '#' inline
 * comments are cut (Debian's build strips only ';') and where lines inih
 * would silently split or truncate are refused. The values of each type
 * are parsed in config_value.c.
 */
#include "owcp/service/config.h"
#include "config_internal.h"

#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* libinih's MAX_SECTION and MAX_NAME (50) less the NUL: longer names would
 * be truncated silently by inih, so the reader refuses them. */
#define SVC_CFG_NAME_MAX 49

/* Largest configuration file read: far beyond any real one. */
#define CONFIG_FILE_MAX ((size_t)1024 * 1024)

/* A key already given: [section] key first set on line. */
struct seen {
  char *section;
  const char *key;
  int line;
};

/* One configuration file being read. */
struct loader {
  const char *path; /* as given, for messages */
  char *dir;        /* absolute directory of the file */
  const struct svc_cfg_section *sections;
  void *out;
  struct owcp_error *err;
  bool failed;
  char *text; /* the whole file */
  size_t len, pos;
  int line;
  struct seen *seen;
  size_t nseen, capseen;
};

static int keys_default(const struct svc_cfg_key *keys, void *base,
                        struct owcp_error *err)
{
  for (const struct svc_cfg_key *k = keys; k->name != NULL; k++) {
    struct owcp_error why = {{0}};
    if (k->def != NULL && svc_cfg_set_value(k, base, k->def, NULL, &why) != 0) {
      owcp_error_set(err, "default of %s: %s", k->name, why.msg);
      return -1;
    }
  }
  return 0;
}

/* A template's instance array: the member is an `I *`, read and written
 * through memcpy so that no `I *` is accessed as a `void *`. */
static char *array_get(const struct svc_cfg_section *s, void *out)
{
  char *a;
  memcpy(&a, svc_cfg_member(out, s->base_offset), sizeof a);
  return a;
}

static void array_set(const struct svc_cfg_section *s, void *out, char *a)
{
  memcpy(svc_cfg_member(out, s->base_offset), &a, sizeof a);
}

static void template_free(const struct svc_cfg_section *s, void *out)
{
  char *array = array_get(s, out);
  size_t *count = svc_cfg_member(out, s->count_offset);
  for (size_t i = 0; i < *count; i++) {
    char *inst = array + i * s->instance_size;
    for (const struct svc_cfg_key *k = s->keys; k->name != NULL; k++)
      svc_cfg_key_free(k, inst);
    char **name = svc_cfg_member(inst, s->name_offset);
    free(*name);
    *name = NULL;
  }
  free(array);
  array_set(s, out, NULL);
  *count = 0;
}

void svc_config_free(const struct svc_cfg_section *sections, void *out)
{
  for (const struct svc_cfg_section *s = sections; s->name != NULL; s++) {
    if (s->flags & SVC_CFG_TEMPLATE) {
      template_free(s, out);
      continue;
    }
    for (const struct svc_cfg_key *k = s->keys; k->name != NULL; k++)
      svc_cfg_key_free(k, svc_cfg_member(out, s->base_offset));
    if (s->has_enabled)
      *(bool *)svc_cfg_member(out, s->enabled_offset) = false;
  }
}

/* Zeroes every member the tables name, releasing nothing. */
static void config_zero(const struct svc_cfg_section *sections, void *out)
{
  for (const struct svc_cfg_section *s = sections; s->name != NULL; s++) {
    if (s->flags & SVC_CFG_TEMPLATE) {
      array_set(s, out, NULL);
      *(size_t *)svc_cfg_member(out, s->count_offset) = 0;
      continue;
    }
    if (s->has_enabled)
      *(bool *)svc_cfg_member(out, s->enabled_offset) = false;
    for (const struct svc_cfg_key *k = s->keys; k->name != NULL; k++)
      svc_cfg_key_zero(k, svc_cfg_member(out, s->base_offset));
  }
}

int svc_config_defaults(const struct svc_cfg_section *sections, void *out,
                        struct owcp_error *err)
{
  config_zero(sections, out);
  for (const struct svc_cfg_section *s = sections; s->name != NULL; s++) {
    if ((s->flags & SVC_CFG_TEMPLATE) == 0 &&
        keys_default(s->keys, svc_cfg_member(out, s->base_offset), err) != 0) {
      svc_config_free(sections, out);
      return -1;
    }
  }
  return 0;
}

/* ---- sections -------------------------------------------------------- */

/* The table entry for a section name; *instance the NAME of a template. */
static const struct svc_cfg_section *
section_find(const struct svc_cfg_section *sections, const char *name,
             const char **instance)
{
  for (const struct svc_cfg_section *s = sections; s->name != NULL; s++) {
    size_t n = strlen(s->name);
    if ((s->flags & SVC_CFG_TEMPLATE) == 0) {
      if (strcmp(s->name, name) == 0)
        return s;
    } else if (strncmp(s->name, name, n) == 0 && name[n] == '.' &&
               name[n + 1] != '\0') {
      *instance = name + n + 1;
      return s;
    }
  }
  return NULL;
}

/* The instance of template s called name, created with defaults if new. */
static void *template_instance(const struct svc_cfg_section *s, void *out,
                               const char *name, struct owcp_error *err)
{
  char *array = array_get(s, out);
  size_t *count = svc_cfg_member(out, s->count_offset);
  for (size_t i = 0; i < *count; i++) {
    char *inst = array + i * s->instance_size;
    if (strcmp(*(char **)svc_cfg_member(inst, s->name_offset), name) == 0)
      return inst;
  }
  char *grown = realloc(array, (*count + 1) * s->instance_size);
  if (grown == NULL) {
    owcp_error_set(err, "out of memory");
    return NULL;
  }
  array_set(s, out, grown);
  char *inst = grown + *count * s->instance_size;
  memset(inst, 0, s->instance_size);
  (*count)++;
  char *copy = strdup(name);
  *(char **)svc_cfg_member(inst, s->name_offset) = copy;
  if (copy == NULL) {
    owcp_error_set(err, "out of memory");
    return NULL;
  }
  return keys_default(s->keys, inst, err) == 0 ? inst : NULL;
}

/* Where the keys of [name] live (out, a sub-struct or an instance). */
static void *section_base(const struct svc_cfg_section *s, void *out,
                          const char *instance, struct owcp_error *err)
{
  if (s->flags & SVC_CFG_TEMPLATE)
    return template_instance(s, out, instance, err);
  return svc_cfg_member(out, s->base_offset);
}

const struct svc_cfg_key *
svc_config_find(const struct svc_cfg_section *sections, const char *section,
                const char *key)
{
  const char *instance = NULL;
  const struct svc_cfg_section *s = section_find(sections, section, &instance);
  if (s == NULL)
    return NULL;
  for (const struct svc_cfg_key *k = s->keys; k->name != NULL; k++)
    if (strcmp(k->name, key) == 0)
      return k;
  return NULL;
}

/* ---- reading a file -------------------------------------------------- */

static void fail(struct loader *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Records the first problem as "FILE:LINE: ..." and stops the parse. */
static void fail(struct loader *l, const char *fmt, ...)
{
  char msg[OWCP_ERROR_MAX];
  va_list ap;
  if (l->failed)
    return;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  owcp_error_set(l->err, "%s:%d: %s", l->path, l->line, msg);
  l->failed = true;
}

static struct seen *seen_find(struct loader *l, const char *section,
                              const char *key)
{
  for (size_t i = 0; i < l->nseen; i++)
    if (strcmp(l->seen[i].section, section) == 0 &&
        strcmp(l->seen[i].key, key) == 0)
      return &l->seen[i];
  return NULL;
}

static int seen_add(struct loader *l, const char *section, const char *key)
{
  if (l->nseen == l->capseen) {
    size_t cap = l->capseen ? 2 * l->capseen : 32;
    struct seen *grown = realloc(l->seen, cap * sizeof *grown);
    if (grown == NULL)
      return -1;
    l->seen = grown;
    l->capseen = cap;
  }
  char *copy = strdup(section);
  if (copy == NULL)
    return -1;
  struct seen *s = &l->seen[l->nseen++];
  s->section = copy;
  s->key = key;
  s->line = l->line;
  return 0;
}

/* A [section] header: known, and a switched section becomes enabled. */
static void section_begin(struct loader *l, const char *name)
{
  const char *instance = NULL;
  const struct svc_cfg_section *s = section_find(l->sections, name, &instance);
  struct owcp_error why = {{0}};
  if (s == NULL) {
    fail(l, "[%s]: unknown section", name);
    return;
  }
  if (section_base(s, l->out, instance, &why) == NULL) {
    fail(l, "[%s]: %s", name, why.msg);
    return;
  }
  if (s->has_enabled && seen_find(l, name, "enabled") == NULL)
    *(bool *)svc_cfg_member(l->out, s->enabled_offset) = true;
}

/* 'enabled = yes|no' of a switched section. */
static int set_enabled(struct loader *l, const struct svc_cfg_section *s,
                       const char *section, const char *value)
{
  static const struct svc_cfg_key enabled = {.name = "enabled",
                                             .type = SVC_CFG_T_BOOL};
  struct owcp_error why = {{0}};
  if (svc_cfg_set_value(&enabled, svc_cfg_member(l->out, s->enabled_offset),
                        value, NULL, &why) != 0) {
    fail(l, "[%s] enabled: %s", section, why.msg);
    return 0;
  }
  return 1;
}

static const struct svc_cfg_key *key_find(const struct svc_cfg_section *s,
                                          const char *name)
{
  for (const struct svc_cfg_key *k = s->keys; k->name != NULL; k++)
    if (strcmp(k->name, name) == 0)
      return k;
  return NULL;
}

/* libinih's handler: one key = value of [section]. 1 to go on, 0 on error. */
static int on_value(void *user, const char *section, const char *name,
                    const char *value)
{
  struct loader *l = user;
  const char *instance = NULL;
  struct owcp_error why = {{0}};
  const struct svc_cfg_section *s =
      section_find(l->sections, section, &instance);

  if (*section == '\0') {
    fail(l, "%s: a key before the first [section]", name);
    return 0;
  }
  if (s == NULL) /* section_begin() already failed */
    return 0;
  bool is_enabled = s->has_enabled && strcmp(name, "enabled") == 0;
  const struct svc_cfg_key *k = is_enabled ? NULL : key_find(s, name);
  if (k == NULL && !is_enabled) {
    fail(l, "[%s] %s: unknown key", section, name);
    return 0;
  }
  const char *kname = is_enabled ? "enabled" : k->name;
  struct seen *prev = seen_find(l, section, kname);
  if (prev != NULL && (is_enabled || (k->flags & SVC_CFG_LIST) == 0)) {
    fail(l, "[%s] %s: given twice (first on line %d); only list keys repeat",
         section, name, prev->line);
    return 0;
  }
  if (prev == NULL && seen_add(l, section, kname) != 0) {
    fail(l, "out of memory");
    return 0;
  }
  if (is_enabled)
    return set_enabled(l, s, section, value);
  void *base = section_base(s, l->out, instance, &why);
  if (base == NULL || svc_cfg_set_value(k, base, value, l->dir, &why) != 0) {
    fail(l, "[%s] %s: %s", section, name, why.msg);
    return 0;
  }
  return 1;
}

static bool is_blank(char c)
{
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Cuts a comment ('#' or ';' at the start or after a blank) and trailing
 * blanks; returns the new length. */
static size_t strip_comment(char *s, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if ((s[i] == '#' || s[i] == ';') && (i == 0 || is_blank(s[i - 1]))) {
      n = i;
      break;
    }
  while (n > 0 && is_blank(s[n - 1]))
    n--;
  s[n] = '\0';
  return n;
}

/* Refuses what libinih would take differently from the documented format:
 * over-long lines, section names it would truncate, 'key: value'. A
 * section header is checked (and a switched section enabled) here because
 * libinih calls the handler only for keys, so an empty [unknown] section
 * would otherwise pass. */
static void check_line(struct loader *l, char *s, size_t n)
{
  if (n > SVC_CFG_LINE_MAX) {
    fail(l, "line longer than %d characters", SVC_CFG_LINE_MAX);
    return;
  }
  if (s[0] == '[') {
    if (n < 3 || s[n - 1] != ']') {
      fail(l, "expected '[section]'");
      return;
    }
    s[n - 1] = '\0';
    if (n - 2 > SVC_CFG_NAME_MAX)
      fail(l, "section name longer than %d characters", SVC_CFG_NAME_MAX);
    else if (l->sections != NULL) /* NULL: svc_config_key_line() */
      section_begin(l, s + 1);
    s[n - 1] = ']';
    return;
  }
  size_t key_len = strcspn(s, "=:");
  if (n > 0 && (s[key_len] != '=' || key_len == 0))
    fail(l, "expected 'key = value' or '[section]'");
}

/* libinih's reader: the next line, leading blanks and comment removed. */
static char *next_line(char *str, int num, void *stream)
{
  struct loader *l = stream;
  if (l->failed || l->pos >= l->len)
    return NULL;
  if (num < SVC_CFG_LINE_MAX + 3) {
    fail(l, "libinih's line buffer is only %d octets", num);
    return NULL;
  }
  const char *start = l->text + l->pos;
  const char *nl = memchr(start, '\n', l->len - l->pos);
  size_t n = nl != NULL ? (size_t)(nl - start) : l->len - l->pos;
  l->pos += n + (nl != NULL);
  l->line++;
  if (l->line == 1 && n >= 3 && memcmp(start, "\xEF\xBB\xBF", 3) == 0) {
    start += 3; /* UTF-8 byte order mark */
    n -= 3;
  }
  while (n > 0 && is_blank(*start)) {
    start++;
    n--;
  }
  /* Work on a copy of at most the allowed length plus one, to detect
   * over-long lines before inih could split them. */
  char buf[SVC_CFG_LINE_MAX + 2];
  size_t take = n < sizeof buf - 1 ? n : sizeof buf - 1;
  memcpy(buf, start, take);
  buf[take] = '\0';
  if (memchr(buf, '\0', take) != NULL) {
    fail(l, "NUL character in line");
    return NULL;
  }
  take = strip_comment(buf, take);
  check_line(l, buf, take);
  if (l->failed)
    return NULL;
  snprintf(str, (size_t)num, "%s\n", buf);
  return str;
}

/* Reads path into l->text and its absolute directory into l->dir. */
static int read_file(struct loader *l)
{
  FILE *f = fopen(l->path, "r");
  char *real = NULL;
  if (f == NULL || (real = realpath(l->path, NULL)) == NULL) {
    owcp_error_set(l->err, "cannot read %s: %s", l->path, strerror(errno));
    if (f != NULL)
      fclose(f);
    return -1;
  }
  char *slash = strrchr(real, '/');
  slash[slash == real ? 1 : 0] = '\0';
  l->dir = real;
  size_t cap = 4096;
  l->text = malloc(cap);
  while (l->text != NULL) {
    l->len += fread(l->text + l->len, 1, cap - l->len, f);
    if (l->len < cap)
      break;
    char *grown = NULL;
    if (cap < CONFIG_FILE_MAX) {
      cap *= 2;
      grown = realloc(l->text, cap);
    }
    if (grown == NULL)
      free(l->text);
    l->text = grown;
  }
  bool bad = ferror(f) != 0;
  fclose(f);
  if (l->text == NULL || bad) {
    owcp_error_set(l->err, "cannot read %s: %s", l->path,
                   l->text == NULL ? "over 1 MiB or out of memory"
                                   : "read error");
    return -1;
  }
  return 0;
}

static void loader_free(struct loader *l)
{
  for (size_t i = 0; i < l->nseen; i++)
    free(l->seen[i].section);
  free(l->seen);
  free(l->text);
  free(l->dir);
}

/* Defaults, then the file: no check of required keys. */
static int config_read(const char *path, const struct svc_cfg_section *sections,
                       void *out, struct owcp_error *err)
{
  struct loader l = {
      .path = path, .sections = sections, .out = out, .err = err};
  if (svc_config_defaults(sections, out, err) != 0)
    return -1;
  if (read_file(&l) != 0) {
    loader_free(&l);
    svc_config_free(sections, out); /* the defaults */
    return -1;
  }
  int rc = ini_parse_stream(next_line, &l, on_value, &l);
  if (rc != 0 && !l.failed) {
    l.line = rc;
    fail(&l, "expected 'key = value' or '[section]'");
  }
  loader_free(&l);
  if (l.failed) {
    svc_config_free(sections, out);
    return -1;
  }
  return 0;
}

/* ---- required keys --------------------------------------------------- */

static bool key_is_set(const struct svc_cfg_key *k, void *base)
{
  void *p = svc_cfg_member(base, k->offset);
  if (k->flags & SVC_CFG_LIST)
    return ((struct svc_cfg_list *)p)->count > 0;
  if (k->type == SVC_CFG_T_LISTEN)
    return ((struct svc_listen *)p)->host[0] != '\0';
  return *(char **)p != NULL;
}

/* First required key of one section instance that is missing, or NULL. */
static const struct svc_cfg_key *missing_key(const struct svc_cfg_key *keys,
                                             void *base)
{
  for (const struct svc_cfg_key *k = keys; k->name != NULL; k++)
    if ((k->flags & SVC_CFG_REQUIRED) && !key_is_set(k, base))
      return k;
  return NULL;
}

/* Checks the required keys of every enabled section. `where` (a file name
 * or NULL) prefixes the message. */
static int check_required(const struct svc_cfg_section *sections, void *out,
                          const char *where, struct owcp_error *err)
{
  for (const struct svc_cfg_section *s = sections; s->name != NULL; s++) {
    size_t n = 1;
    if (s->flags & SVC_CFG_TEMPLATE)
      n = *(size_t *)svc_cfg_member(out, s->count_offset);
    else if (s->has_enabled && !*(bool *)svc_cfg_member(out, s->enabled_offset))
      continue;
    for (size_t i = 0; i < n; i++) {
      void *base = svc_cfg_member(out, s->base_offset);
      const char *inst = NULL;
      if (s->flags & SVC_CFG_TEMPLATE) {
        base = array_get(s, out) + i * s->instance_size;
        inst = *(char **)svc_cfg_member(base, s->name_offset);
      }
      const struct svc_cfg_key *k = missing_key(s->keys, base);
      if (k != NULL) {
        owcp_error_set(err, "%s%s[%s%s%s] %s: required but not given",
                       where ? where : "", where ? ": " : "", s->name,
                       inst ? "." : "", inst ? inst : "", k->name);
        return -1;
      }
    }
  }
  return 0;
}

int svc_config_check(const struct svc_cfg_section *sections, void *out,
                     const char *where, struct owcp_error *err)
{
  return check_required(sections, out, where, err);
}

int svc_config_read(const char *path, const struct svc_cfg_section *sections,
                    void *out, struct owcp_error *err)
{
  return config_read(path, sections, out, err);
}

int svc_config_load(const char *path, const struct svc_cfg_section *sections,
                    void *out, struct owcp_error *err)
{
  if (config_read(path, sections, out, err) != 0)
    return -1;
  if (check_required(sections, out, path, err) != 0) {
    svc_config_free(sections, out);
    return -1;
  }
  return 0;
}

/* ---- settings from elsewhere ---------------------------------------- */

/* True when an earlier setting in [0, i) names the same list key. */
static bool list_started(const struct svc_cfg_setting *settings, size_t i)
{
  for (size_t j = 0; j < i; j++)
    if (strcmp(settings[j].section, settings[i].section) == 0 &&
        strcmp(settings[j].key, settings[i].key) == 0)
      return true;
  return false;
}

int svc_config_apply(const struct svc_cfg_section *sections,
                     const struct svc_cfg_setting *settings, size_t n,
                     void *out, struct owcp_error *err)
{
  for (size_t i = 0; i < n; i++) {
    const struct svc_cfg_setting *st = &settings[i];
    const char *instance = NULL;
    const struct svc_cfg_section *s =
        section_find(sections, st->section, &instance);
    const struct svc_cfg_key *k =
        s != NULL && instance == NULL ? key_find(s, st->key) : NULL;
    struct owcp_error why = {{0}};
    if (k == NULL) {
      owcp_error_set(err, "%s: no key [%s] %s", st->origin, st->section,
                     st->key);
      return -1;
    }
    void *base = svc_cfg_member(out, s->base_offset);
    if ((k->flags & SVC_CFG_LIST) && !list_started(settings, i))
      svc_cfg_list_clear(svc_cfg_member(base, k->offset));
    if (svc_cfg_set_value(k, base, st->value, NULL, &why) != 0) {
      owcp_error_set(err, "%s: %s", st->origin, why.msg);
      return -1;
    }
  }
  return 0;
}

/* ---- where a key is given ------------------------------------------- */

/* The search of svc_config_key_line(): the nth [section] key. */
struct locate {
  const struct loader *l;
  const char *section, *key;
  size_t nth, seen;
  int line;
};

/* libinih's handler for the search: stops at the match. */
static int on_locate(void *user, const char *section, const char *name,
                     const char *value)
{
  struct locate *loc = user;
  (void)value;
  if (strcmp(section, loc->section) != 0 || strcmp(name, loc->key) != 0 ||
      loc->seen++ != loc->nth)
    return 1;
  loc->line = loc->l->line;
  return 0;
}

int svc_config_key_line(const char *path, const char *section, const char *key,
                        size_t nth)
{
  struct owcp_error ignored = {{0}};
  struct loader l = {.path = path, .err = &ignored};
  struct locate loc = {.l = &l, .section = section, .key = key, .nth = nth};
  if (read_file(&l) == 0)
    (void)ini_parse_stream(next_line, &l, on_locate, &loc);
  loader_free(&l);
  return loc.line;
}
