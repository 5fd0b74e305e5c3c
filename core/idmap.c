/* User-name mapping ([identity] map, [pam] account); see owcp/idmap.h for
 * the rules and why. */
#include "owcp/idmap.h"

#include <stdlib.h>
#include <string.h>

#include "owcp/jsonspec.h"

#define NETBIOS_MAX 15

static bool is_control(unsigned char c)
{
  return c < 0x20 || c == 0x7f;
}

static bool has_control(const char *s, size_t len)
{
  for (size_t i = 0; i < len; i++)
    if (is_control((unsigned char)s[i]))
      return true;
  return false;
}

static char ascii_lower(char c)
{
  if (c >= 'A' && c <= 'Z')
    c = (char)(c + ('a' - 'A'));
  return c;
}

bool idmap_ascii_iequal(const char *a, size_t alen, const char *b, size_t blen)
{
  if (alen != blen)
    return false;
  for (size_t i = 0; i < alen; i++)
    if (ascii_lower(a[i]) != ascii_lower(b[i]))
      return false;
  return true;
}

/* A new copy of s[0..len) without the spaces and tabs around it; NULL when
 * memory runs out. */
static char *trimmed_dup(const char *s, size_t len)
{
  while (len > 0 && (*s == ' ' || *s == '\t')) {
    s++;
    len--;
  }
  while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
    len--;
  return strndup(s, len);
}

/* Offset of the only '*' in s, SIZE_MAX when there is none; -1 when there
 * are several. */
static int find_star(const char *s, size_t *at)
{
  const char *star = strchr(s, '*');
  *at = star == NULL ? SIZE_MAX : (size_t)(star - s);
  return (star != NULL && strchr(star + 1, '*') != NULL) ? -1 : 0;
}

/* The template with its star (if any) replaced by capture[0..len), as a
 * normalised account; NULL with err set when it is not one. */
static char *expand(const struct idmap_rule *r, const char *capture, size_t len,
                    struct owcp_error *err)
{
  size_t tlen = strlen(r->template);
  size_t head = r->has_star ? r->t_star : tlen;
  size_t tail = r->has_star ? tlen - r->t_star - 1 : 0;
  size_t n = head + (r->has_star ? len : 0) + tail;
  char *text = malloc(n + 1);
  if (text == NULL) {
    owcp_error_set(err, "out of memory");
    return NULL;
  }
  memcpy(text, r->template, head);
  if (r->has_star) {
    memcpy(text + head, capture, len);
    memcpy(text + head + len, r->template + r->t_star + 1, tail);
  }
  text[n] = '\0';
  char *account = NULL;
  struct owcp_error why;
  if (owcp_account_normalize(text, n, &account, &why) != 0)
    owcp_error_set(err, "'%s' is not a valid OWCP account: %s", text, why.msg);
  free(text);
  return account;
}

static int check_side(const char *side, const char *what, const char *value,
                      struct owcp_error *err)
{
  if (side[0] == '\0') {
    owcp_error_set(err, "identity map '%s': the %s is empty", value, what);
    return -1;
  }
  if (has_control(side, strlen(side))) {
    owcp_error_set(err, "identity map: the %s contains a control character",
                   what);
    return -1;
  }
  return 0;
}

static int check_stars(struct idmap_rule *r, const char *value,
                       struct owcp_error *err)
{
  if (find_star(r->pattern, &r->p_star) != 0 ||
      find_star(r->template, &r->t_star) != 0) {
    owcp_error_set(err, "identity map '%s': at most one '*' per side", value);
    return -1;
  }
  if ((r->p_star == SIZE_MAX) != (r->t_star == SIZE_MAX)) {
    owcp_error_set(err,
                   "identity map '%s': '*' must appear on both sides or on "
                   "neither",
                   value);
    return -1;
  }
  r->has_star = r->p_star != SIZE_MAX;
  return 0;
}

int idmap_rule_parse(const char *value, struct idmap_rule *out,
                     struct owcp_error *err)
{
  memset(out, 0, sizeof *out);
  const char *arrow = strstr(value, "->");
  if (arrow == NULL) {
    owcp_error_set(err, "identity map '%s' is not PATTERN -> TEMPLATE", value);
    return -1;
  }
  out->pattern = trimmed_dup(value, (size_t)(arrow - value));
  out->template = trimmed_dup(arrow + 2, strlen(arrow + 2));
  if (out->pattern == NULL || out->template == NULL) {
    owcp_error_set(err, "out of memory");
    idmap_rule_clear(out);
    return -1;
  }
  if (check_side(out->pattern, "pattern", value, err) != 0 ||
      check_side(out->template, "template", value, err) != 0 ||
      check_stars(out, value, err) != 0) {
    idmap_rule_clear(out);
    return -1;
  }
  struct owcp_error why;
  char *sample = expand(out, "user", 4, &why);
  if (sample == NULL) {
    owcp_error_set(err, "identity map '%s': the template gives no account (%s)",
                   value, why.msg);
    idmap_rule_clear(out);
    return -1;
  }
  free(sample);
  return 0;
}

void idmap_rule_clear(struct idmap_rule *rule)
{
  free(rule->pattern);
  free(rule->template);
  memset(rule, 0, sizeof *rule);
}

int idmap_add_rule(struct idmap *m, const char *value, struct owcp_error *err)
{
  struct idmap_rule rule;
  if (idmap_rule_parse(value, &rule, err) != 0)
    return -1;
  struct idmap_rule *v =
      realloc(m->rules, (m->rule_count + 1) * sizeof *m->rules);
  if (v == NULL) {
    idmap_rule_clear(&rule);
    owcp_error_set(err, "out of memory");
    return -1;
  }
  m->rules = v;
  m->rules[m->rule_count++] = rule;
  return 0;
}

static bool netbios_char_ok(unsigned char c)
{
  return c > 0x20 && c < 0x7f && strchr("\\/:*?\"<>|@", c) == NULL;
}

static int check_netbios(const char *name, const char *value,
                         struct owcp_error *err)
{
  size_t len = strlen(name);
  bool ok = len >= 1 && len <= NETBIOS_MAX;
  for (size_t i = 0; ok && i < len; i++)
    ok = netbios_char_ok((unsigned char)name[i]);
  if (!ok)
    owcp_error_set(err,
                   "upn_suffix '%s': the NetBIOS domain must be 1 to %d "
                   "printable characters without spaces or \\/:*?\"<>|@",
                   value, NETBIOS_MAX);
  return ok ? 0 : -1;
}

/* The suffix as a lowercased DNS domain, checked by the same rule as an
 * account's domain (a UPN suffix ends up as one). */
static char *normalise_suffix(const char *suffix, const char *value,
                              struct owcp_error *err)
{
  size_t len = strlen(suffix);
  char *probe = malloc(len + 3);
  if (probe == NULL) {
    owcp_error_set(err, "out of memory");
    return NULL;
  }
  probe[0] = 'u';
  probe[1] = '@';
  memcpy(probe + 2, suffix, len + 1);
  char *account = NULL;
  struct owcp_error why;
  int rc = owcp_account_normalize(probe, len + 2, &account, &why);
  free(probe);
  if (rc != 0 || strchr(suffix, '@') != NULL) {
    owcp_error_set(err, "upn_suffix '%s': '%s' is not a DNS domain", value,
                   suffix);
    free(account);
    return NULL;
  }
  memmove(account, account + 2, len + 1);
  return account;
}

static int push_suffix(struct idmap *m, char *netbios, char *suffix,
                       const char *value, struct owcp_error *err)
{
  if (idmap_upn_suffix(m, netbios, strlen(netbios)) != NULL) {
    owcp_error_set(err, "upn_suffix '%s': NetBIOS domain %s is given twice",
                   value, netbios);
    return -1;
  }
  struct idmap_suffix *v =
      realloc(m->suffixes, (m->suffix_count + 1) * sizeof *m->suffixes);
  if (v == NULL) {
    owcp_error_set(err, "out of memory");
    return -1;
  }
  m->suffixes = v;
  m->suffixes[m->suffix_count++] =
      (struct idmap_suffix){.netbios = netbios, .suffix = suffix};
  return 0;
}

int idmap_add_upn_suffix(struct idmap *m, const char *value,
                         struct owcp_error *err)
{
  const char *eq = strchr(value, '=');
  if (eq == NULL) {
    owcp_error_set(err, "upn_suffix '%s' is not NETBIOS = suffix", value);
    return -1;
  }
  char *netbios = trimmed_dup(value, (size_t)(eq - value));
  char *raw = trimmed_dup(eq + 1, strlen(eq + 1));
  char *suffix = NULL;
  int rc = -1;
  if (netbios == NULL || raw == NULL)
    owcp_error_set(err, "out of memory");
  else if (check_netbios(netbios, value, err) == 0 &&
           (suffix = normalise_suffix(raw, value, err)) != NULL)
    rc = push_suffix(m, netbios, suffix, value, err);
  free(raw);
  if (rc != 0) {
    free(netbios);
    free(suffix);
  }
  return rc;
}

void idmap_clear(struct idmap *m)
{
  for (size_t i = 0; i < m->rule_count; i++)
    idmap_rule_clear(&m->rules[i]);
  free(m->rules);
  for (size_t i = 0; i < m->suffix_count; i++) {
    free(m->suffixes[i].netbios);
    free(m->suffixes[i].suffix);
  }
  free(m->suffixes);
  memset(m, 0, sizeof *m);
}

const char *idmap_upn_suffix(const struct idmap *m, const char *netbios,
                             size_t len)
{
  for (size_t i = 0; i < m->suffix_count; i++) {
    const struct idmap_suffix *s = &m->suffixes[i];
    if (idmap_ascii_iequal(s->netbios, strlen(s->netbios), netbios, len))
      return s->suffix;
  }
  return NULL;
}

/* Whether name matches r's pattern; on a match with a star, the captured
 * part is name[*cap_at .. *cap_at + *cap_len). */
static bool pattern_matches(const struct idmap_rule *r, const char *name,
                            size_t *cap_at, size_t *cap_len)
{
  size_t nlen = strlen(name);
  size_t plen = strlen(r->pattern);
  if (!r->has_star)
    return idmap_ascii_iequal(r->pattern, plen, name, nlen);
  size_t head = r->p_star;
  size_t tail = plen - head - 1;
  if (nlen < head + tail + 1)
    return false;
  if (!idmap_ascii_iequal(r->pattern, head, name, head) ||
      !idmap_ascii_iequal(r->pattern + head + 1, tail, name + nlen - tail,
                          tail))
    return false;
  *cap_at = head;
  *cap_len = nlen - head - tail;
  return true;
}

static int check_capture(const char *cap, size_t len, struct owcp_error *err)
{
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)cap[i];
    if (c == '@' || c == '\\' || is_control(c)) {
      owcp_error_set(err, "user name is not mapped: the part matched by '*' "
                          "must not contain '@', '\\' or control characters");
      return -1;
    }
  }
  return 0;
}

int idmap_map(const struct idmap *m, const char *name, char **account,
              struct owcp_error *err)
{
  *account = NULL;
  for (size_t i = 0; i < m->rule_count; i++) {
    const struct idmap_rule *r = &m->rules[i];
    size_t at = 0, len = 0;
    if (!pattern_matches(r, name, &at, &len))
      continue;
    if (r->has_star && check_capture(name + at, len, err) != 0)
      return -1;
    struct owcp_error why;
    *account = expand(r, name + at, len, &why);
    if (*account == NULL) {
      owcp_error_set(err, "user name is not mapped: %s", why.msg);
      return -1;
    }
    return 0;
  }
  owcp_error_set(err, "user name matches no identity map rule");
  return -1;
}
