/* Declarative JSON parameter parsing, account validation and the
 * multipart-to-JSON glue. See owcp/jsonspec.h for the contract. */
#include "owcp/jsonspec.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "owcp/multipart.h"

#define ACCOUNT_LOCAL_MAX 64
#define ACCOUNT_LABEL_MAX 63

/* Room for a peer-supplied name quoted in an error sentence. */
#define SAFE_NAME_MAX 64
#define SAFE_NAME_BUF (SAFE_NAME_MAX + 4)

/* Copies peer-controlled text (an unknown parameter name, a Content-Type,
 * a parser message) for an error sentence: error sentences end up in logs,
 * so anything but printable ASCII becomes '?' (no log injection, no broken
 * UTF-8 after truncation) and long text is cut with "...". */
static void safe_text(const char *in, size_t len, char out[SAFE_NAME_BUF])
{
  size_t n = len < SAFE_NAME_MAX ? len : SAFE_NAME_MAX;
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)in[i];
    out[i] = (char)((ch >= 0x20 && ch <= 0x7E) ? ch : '?');
  }
  if (len > SAFE_NAME_MAX) {
    memcpy(out + n, "...", 3);
    n += 3;
  }
  out[n] = '\0';
}

/* ---- account ----------------------------------------------------------- */

static bool is_atext(unsigned char ch)
{
  if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
      (ch >= '0' && ch <= '9'))
    return true;
  return ch != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", ch) != NULL;
}

static bool is_ldh(unsigned char ch)
{
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
         (ch >= '0' && ch <= '9') || ch == '-';
}

/* dot-atom-text (RFC 5322 §3.2.3) without CFWS. */
static int check_local(const char *s, size_t len, struct owcp_error *err)
{
  if (len == 0) {
    owcp_error_set(err, "account local part is empty");
    return -1;
  }
  if (len > ACCOUNT_LOCAL_MAX) {
    owcp_error_set(err, "account local part is longer than %d octets",
                   ACCOUNT_LOCAL_MAX);
    return -1;
  }
  size_t atom = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (ch == '.') {
      if (atom == 0) {
        owcp_error_set(err, "account local part has an empty atom before "
                            "a '.' (leading or doubled dot)");
        return -1;
      }
      atom = 0;
    } else if (is_atext(ch)) {
      atom++;
    } else {
      owcp_error_set(err,
                     "account local part has a character not allowed in "
                     "a dot-atom at position %zu",
                     i);
      return -1;
    }
  }
  if (atom == 0) {
    owcp_error_set(err, "account local part ends with a '.'");
    return -1;
  }
  return 0;
}

static int check_label(const char *label, size_t len, struct owcp_error *err)
{
  if (len == 0) {
    owcp_error_set(err, "account domain has an empty label (leading, "
                        "trailing or doubled dot)");
    return -1;
  }
  if (len > ACCOUNT_LABEL_MAX) {
    owcp_error_set(err, "account domain has a label longer than %d octets",
                   ACCOUNT_LABEL_MAX);
    return -1;
  }
  if (label[0] == '-' || label[len - 1] == '-') {
    owcp_error_set(err,
                   "account domain has a label that starts or ends with '-'");
    return -1;
  }
  return 0;
}

/* `pos0` is where the domain starts in the account, for messages. */
static int check_domain(const char *s, size_t len, size_t pos0,
                        struct owcp_error *err)
{
  if (len == 0) {
    owcp_error_set(err, "account domain is empty");
    return -1;
  }
  size_t start = 0;
  for (size_t i = 0; i <= len; i++) {
    if (i == len || s[i] == '.') {
      if (check_label(s + start, i - start, err) != 0)
        return -1;
      start = i + 1;
    } else if (!is_ldh((unsigned char)s[i])) {
      owcp_error_set(err,
                     "account domain has a character other than a letter, "
                     "digit, '-' or '.' at position %zu",
                     pos0 + i);
      return -1;
    }
  }
  return 0;
}

int owcp_account_normalize(const char *text, size_t len, char **out,
                           struct owcp_error *err)
{
  *out = NULL;
  if (len > OWCP_ACCOUNT_MAX) {
    owcp_error_set(err, "account is longer than %d octets", OWCP_ACCOUNT_MAX);
    return -1;
  }
  const char *at = memchr(text, '@', len);
  if (at == NULL || memchr(at + 1, '@', len - (size_t)(at - text) - 1)) {
    owcp_error_set(err, "account must contain exactly one '@'");
    return -1;
  }
  size_t local_len = (size_t)(at - text);
  if (check_local(text, local_len, err) != 0 ||
      check_domain(at + 1, len - local_len - 1, local_len + 1, err) != 0)
    return -1;
  char *copy = malloc(len + 1);
  if (copy == NULL) {
    owcp_error_set(err, "out of memory copying an account");
    return -1;
  }
  memcpy(copy, text, len);
  copy[len] = '\0';
  for (size_t i = local_len + 1; i < len; i++) {
    if (copy[i] >= 'A' && copy[i] <= 'Z')
      copy[i] = (char)(copy[i] - 'A' + 'a');
  }
  *out = copy;
  return 0;
}

/* ---- parameter table --------------------------------------------------- */

static void *member(void *out, size_t offset)
{
  return (char *)out + offset;
}

/* A JSON string that may be copied as a C string: no NUL, within max_len.
 * `what` names it in messages ("parameter 'X'" or "parameter 'X'[3]"). */
static int check_string(const json_t *v, size_t max_len, const char *what,
                        struct owcp_error *err)
{
  if (!json_is_string(v)) {
    owcp_error_set(err, "%s must be a string of at most %zu bytes", what,
                   max_len);
    return -1;
  }
  size_t len = json_string_length(v);
  if (len > max_len) {
    owcp_error_set(err, "%s must be a string of at most %zu bytes", what,
                   max_len);
    return OWCP_PARAMS_TOO_LARGE;
  }
  if (memchr(json_string_value(v), '\0', len) != NULL) {
    owcp_error_set(err, "%s must not contain a NUL character", what);
    return -1;
  }
  return 0;
}

static int copy_string(const json_t *v, char **dst, const char *what,
                       struct owcp_error *err)
{
  *dst = strdup(json_string_value(v));
  if (*dst == NULL) {
    owcp_error_set(err, "out of memory copying %s", what);
    return -1;
  }
  return 0;
}

static int parse_string(const struct owcp_param_spec *p, const json_t *v,
                        void *out, const char *what, struct owcp_error *err)
{
  int rc = check_string(v, p->max_len, what, err);
  if (rc != 0)
    return rc;
  return copy_string(v, member(out, p->offset), what, err);
}

static int parse_int(const struct owcp_param_spec *p, const json_t *v,
                     void *out, const char *what, struct owcp_error *err)
{
  json_int_t n = json_is_integer(v) ? json_integer_value(v) : 0;
  if (!json_is_integer(v) || n < p->min || n > p->max) {
    owcp_error_set(err,
                   "%s must be an integer between %" PRId64 " and %" PRId64,
                   what, p->min, p->max);
    return -1;
  }
  *(int64_t *)member(out, p->offset) = (int64_t)n;
  return 0;
}

static int parse_bool(const struct owcp_param_spec *p, const json_t *v,
                      void *out, const char *what, struct owcp_error *err)
{
  if (!json_is_boolean(v)) {
    owcp_error_set(err, "%s must be true or false", what);
    return -1;
  }
  *(bool *)member(out, p->offset) = json_is_true(v);
  return 0;
}

static int parse_enum(const struct owcp_param_spec *p, const json_t *v,
                      void *out, const char *what, struct owcp_error *err)
{
  if (json_is_string(v)) {
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    for (int i = 0; p->allowed[i] != NULL; i++) {
      if (strlen(p->allowed[i]) == len && memcmp(p->allowed[i], s, len) == 0) {
        *(int *)member(out, p->offset) = i;
        return 0;
      }
    }
  }
  char list[OWCP_ERROR_MAX] = "";
  size_t used = 0;
  for (int i = 0; p->allowed[i] != NULL && used < sizeof(list); i++) {
    int w = snprintf(list + used, sizeof(list) - used, "%s%s",
                     i > 0 ? ", " : "", p->allowed[i]);
    if (w < 0)
      break;
    used += (size_t)w;
  }
  owcp_error_set(err, "%s must be one of: %s", what, list);
  return -1;
}

static int parse_string_array(const struct owcp_param_spec *p, const json_t *v,
                              void *out, const char *what,
                              struct owcp_error *err)
{
  if (!json_is_array(v) || json_array_size(v) > p->max_count) {
    owcp_error_set(err, "%s must be an array of at most %zu strings", what,
                   p->max_count);
    return json_is_array(v) ? OWCP_PARAMS_TOO_LARGE : -1;
  }
  size_t n = json_array_size(v);
  char **items = calloc(n + 1, sizeof(*items));
  if (items == NULL) {
    owcp_error_set(err, "out of memory copying %s", what);
    return -1;
  }
  /* Published before filling so that owcp_params_free() can release a
   * partially copied array. */
  *(char ***)member(out, p->offset) = items;
  for (size_t i = 0; i < n; i++) {
    char item[OWCP_ERROR_MAX];
    snprintf(item, sizeof(item), "%s[%zu]", what, i);
    const json_t *e = json_array_get(v, i);
    int rc = check_string(e, p->max_len, item, err);
    if (rc != 0)
      return rc;
    if (copy_string(e, &items[i], item, err) != 0)
      return -1;
    *(size_t *)member(out, p->aux_offset) = i + 1;
  }
  return 0;
}

static int parse_base64(const struct owcp_param_spec *p, const json_t *v,
                        void *out, const char *what, struct owcp_error *err)
{
  if (!json_is_string(v)) {
    owcp_error_set(err, "%s must be a base64 string", what);
    return -1;
  }
  size_t len = json_string_length(v);
  /* Refuse oversized text before decoding so that a hostile value cannot
   * make us allocate more than the limit. */
  size_t max_text =
      p->max_len < SIZE_MAX / 2 ? (p->max_len + 2) / 3 * 4 : SIZE_MAX;
  if (len > max_text) {
    owcp_error_set(err, "%s must decode to at most %zu bytes", what,
                   p->max_len);
    return OWCP_PARAMS_TOO_LARGE;
  }
  if (len == 0) {
    owcp_error_set(err, "%s must not be empty", what);
    return -1;
  }
  struct owcp_error inner = {{0}};
  unsigned char *bytes = NULL;
  size_t n = 0;
  if (owcp_base64_decode(json_string_value(v), len, &bytes, &n, &inner) != 0) {
    owcp_error_set(err, "%s is not valid base64: %s", what, inner.msg);
    return -1;
  }
  if (n > p->max_len) {
    free(bytes);
    owcp_error_set(err, "%s must decode to at most %zu bytes", what,
                   p->max_len);
    return OWCP_PARAMS_TOO_LARGE;
  }
  *(unsigned char **)member(out, p->offset) = bytes;
  *(size_t *)member(out, p->aux_offset) = n;
  return 0;
}

static int parse_account(const struct owcp_param_spec *p, const json_t *v,
                         void *out, const char *what, struct owcp_error *err)
{
  if (!json_is_string(v)) {
    owcp_error_set(err, "%s must be an account string local@domain", what);
    return -1;
  }
  struct owcp_error inner = {{0}};
  if (owcp_account_normalize(json_string_value(v), json_string_length(v),
                             member(out, p->offset), &inner) != 0) {
    owcp_error_set(err, "%s: %s", what, inner.msg);
    return -1;
  }
  return 0;
}

static int parse_object(const struct owcp_param_spec *p, const json_t *v,
                        void *out, const char *what, struct owcp_error *err)
{
  if (!json_is_object(v)) {
    owcp_error_set(err, "%s must be a JSON object", what);
    return -1;
  }
  *(const json_t **)member(out, p->offset) = v;
  return 0;
}

static int parse_value(const struct owcp_param_spec *p, const json_t *v,
                       void *out, struct owcp_error *err)
{
  char what[SAFE_NAME_BUF + 16];
  snprintf(what, sizeof(what), "parameter '%s'", p->name);
  switch (p->type) {
  case OWCP_PT_STRING:
    return parse_string(p, v, out, what, err);
  case OWCP_PT_INT:
    return parse_int(p, v, out, what, err);
  case OWCP_PT_BOOL:
    return parse_bool(p, v, out, what, err);
  case OWCP_PT_ENUM:
    return parse_enum(p, v, out, what, err);
  case OWCP_PT_STRING_ARRAY:
    return parse_string_array(p, v, out, what, err);
  case OWCP_PT_BASE64:
    return parse_base64(p, v, out, what, err);
  case OWCP_PT_ACCOUNT:
    return parse_account(p, v, out, what, err);
  case OWCP_PT_OBJECT:
    return parse_object(p, v, out, what, err);
  case OWCP_PT_END:
    break;
  }
  owcp_error_set(err, "parameter '%s' has an unsupported type in its table",
                 p->name);
  return -1;
}

/* Puts every member the table names into its "absent" state, so that a
 * failed or partial parse can always be released by owcp_params_free(). */
static void init_members(const struct owcp_param_spec *spec, void *out)
{
  for (const struct owcp_param_spec *p = spec; p->name != NULL; p++) {
    if (p->has_present)
      *(bool *)member(out, p->present_offset) = false;
    switch (p->type) {
    case OWCP_PT_STRING:
    case OWCP_PT_ACCOUNT:
      *(char **)member(out, p->offset) = NULL;
      break;
    case OWCP_PT_INT:
      *(int64_t *)member(out, p->offset) = p->has_default ? p->def : 0;
      break;
    case OWCP_PT_BOOL:
      *(bool *)member(out, p->offset) = p->has_default && p->def != 0;
      break;
    case OWCP_PT_ENUM:
      *(int *)member(out, p->offset) = p->has_default ? (int)p->def : -1;
      break;
    case OWCP_PT_STRING_ARRAY:
      *(char ***)member(out, p->offset) = NULL;
      *(size_t *)member(out, p->aux_offset) = 0;
      break;
    case OWCP_PT_BASE64:
      *(unsigned char **)member(out, p->offset) = NULL;
      *(size_t *)member(out, p->aux_offset) = 0;
      break;
    case OWCP_PT_OBJECT:
      *(const json_t **)member(out, p->offset) = NULL;
      break;
    case OWCP_PT_END:
      break;
    }
  }
}

static bool in_table(const struct owcp_param_spec *spec, const char *key)
{
  for (const struct owcp_param_spec *p = spec; p->name != NULL; p++) {
    if (strcmp(p->name, key) == 0)
      return true;
  }
  return false;
}

/* Unknown parameters are refused rather than ignored: a misspelt optional
 * parameter ("Timout") must not silently fall back to its default. */
static int reject_unknown(const json_t *obj, const struct owcp_param_spec *spec,
                          struct owcp_error *err)
{
  const char *key;
  size_t key_len;
  json_t *value;
  /* jansson's iteration macro wants a non-const object; nothing is
   * modified through it. */
  json_object_keylen_foreach((json_t *)obj, key, key_len, value)
  {
    (void)value;
    if (memchr(key, '\0', key_len) != NULL || !in_table(spec, key)) {
      char shown[SAFE_NAME_BUF];
      safe_text(key, key_len, shown);
      owcp_error_set(err, "unknown parameter '%s'", shown);
      return -1;
    }
  }
  return 0;
}

int owcp_params_parse(const json_t *obj, const struct owcp_param_spec *spec,
                      void *out, struct owcp_error *err)
{
  init_members(spec, out);
  if (!json_is_object(obj)) {
    owcp_error_set(err, "the parameters must be a JSON object");
    return -1;
  }
  if (reject_unknown(obj, spec, err) != 0)
    return -1;
  for (const struct owcp_param_spec *p = spec; p->name != NULL; p++) {
    const json_t *v = json_object_get(obj, p->name);
    if (v == NULL) {
      if (!p->required)
        continue;
      owcp_error_set(err, "missing required parameter '%s'", p->name);
      owcp_params_free(spec, out);
      return -1;
    }
    int rc = parse_value(p, v, out, err);
    if (rc != 0) {
      owcp_params_free(spec, out);
      return rc;
    }
    if (p->has_present)
      *(bool *)member(out, p->present_offset) = true;
  }
  return 0;
}

void owcp_params_free(const struct owcp_param_spec *spec, void *out)
{
  for (const struct owcp_param_spec *p = spec; p->name != NULL; p++) {
    switch (p->type) {
    case OWCP_PT_STRING:
    case OWCP_PT_ACCOUNT: {
      char **s = member(out, p->offset);
      free(*s);
      *s = NULL;
      break;
    }
    case OWCP_PT_STRING_ARRAY: {
      char ***items = member(out, p->offset);
      for (size_t i = 0; *items != NULL && (*items)[i] != NULL; i++)
        free((*items)[i]);
      free(*items);
      *items = NULL;
      *(size_t *)member(out, p->aux_offset) = 0;
      break;
    }
    case OWCP_PT_BASE64: {
      unsigned char **b = member(out, p->offset);
      free(*b);
      *b = NULL;
      *(size_t *)member(out, p->aux_offset) = 0;
      break;
    }
    case OWCP_PT_OBJECT:
      *(const json_t **)member(out, p->offset) = NULL;
      break;
    case OWCP_PT_INT:
    case OWCP_PT_BOOL:
    case OWCP_PT_ENUM:
    case OWCP_PT_END:
      break;
    }
  }
}

/* ---- multipart glue ---------------------------------------------------- */

#define MT_JSON "application/json"
#define MT_XML "application/xml"
#define MT_PKCS7 "application/pkcs7-mime"

static json_t *first_segment_params(const struct owcp_mp_segment *seg,
                                    struct owcp_error *err)
{
  if (!owcp_mp_content_type_is(seg, MT_JSON)) {
    owcp_error_set(err, "multipart segment 1 must be " MT_JSON
                        " holding the parameters");
    return NULL;
  }
  if (!seg->data.present) {
    owcp_error_set(err, "multipart segment 1 has no Data section");
    return NULL;
  }
  json_error_t jerr;
  json_t *obj = json_loadb((const char *)seg->data.ptr, seg->data.len,
                           JSON_REJECT_DUPLICATES, &jerr);
  if (obj == NULL) {
    char shown[SAFE_NAME_BUF];
    safe_text(jerr.text, strlen(jerr.text), shown);
    owcp_error_set(err,
                   "multipart segment 1 is not valid JSON (line %d, column "
                   "%d): %s",
                   jerr.line, jerr.column, shown);
    return NULL;
  }
  if (!json_is_object(obj)) {
    json_decref(obj);
    owcp_error_set(err, "multipart segment 1 must hold a JSON object");
    return NULL;
  }
  return obj;
}

/* The JSON string value an attachment segment stands for, or NULL. */
static json_t *attachment_value(const struct owcp_mp_segment *seg,
                                size_t number, bool xml, struct owcp_error *err)
{
  const char *type = xml ? MT_XML : MT_PKCS7;
  if (!seg->data.present) {
    owcp_error_set(err, "multipart segment %zu (%s) has no Data section",
                   number, type);
    return NULL;
  }
  const char *data = (const char *)seg->data.ptr;
  size_t len = seg->data.len;
  if (xml) {
    if (len > 0 && memchr(data, '\0', len) != NULL) {
      owcp_error_set(err, "multipart segment %zu (%s) contains a NUL octet",
                     number, type);
      return NULL;
    }
    json_t *s = json_stringn(len > 0 ? data : "", len);
    if (s == NULL)
      owcp_error_set(err, "multipart segment %zu (%s) is not valid UTF-8",
                     number, type);
    return s;
  }
  char *b64 = owcp_base64_encode(seg->data.ptr, len);
  json_t *s = b64 != NULL ? json_string(b64) : NULL;
  free(b64);
  if (s == NULL)
    owcp_error_set(err, "out of memory encoding multipart segment %zu", number);
  return s;
}

static int add_attachment(json_t *params, const struct owcp_mp_segment *seg,
                          size_t number, struct owcp_error *err)
{
  if (!seg->content_type.present) {
    owcp_error_set(err, "multipart segment %zu has no Content-Type", number);
    return -1;
  }
  bool xml = owcp_mp_content_type_is(seg, MT_XML);
  if (!xml && !owcp_mp_content_type_is(seg, MT_PKCS7)) {
    char shown[SAFE_NAME_BUF];
    safe_text((const char *)seg->content_type.ptr, seg->content_type.len,
              shown);
    owcp_error_set(err,
                   "multipart segment %zu has unsupported Content-Type '%s' "
                   "(expected " MT_XML " or " MT_PKCS7 ")",
                   number, shown);
    return -1;
  }
  const char *name = xml ? "Request" : "Receipt";
  if (json_object_get(params, name) != NULL) {
    owcp_error_set(err,
                   "multipart segment %zu duplicates parameter '%s', which "
                   "is already present",
                   number, name);
    return -1;
  }
  json_t *value = attachment_value(seg, number, xml, err);
  if (value == NULL)
    return -1;
  if (json_object_set_new(params, name, value) != 0) {
    owcp_error_set(err, "out of memory adding multipart segment %zu", number);
    return -1;
  }
  return 0;
}

int owcp_params_from_multipart(const unsigned char *body, size_t len,
                               json_t **out, struct owcp_error *err)
{
  *out = NULL;
  struct owcp_multipart *mp = malloc(sizeof(*mp));
  if (mp == NULL) {
    owcp_error_set(err, "out of memory decoding a multipart body");
    return -1;
  }
  struct owcp_error inner = {{0}};
  json_t *params = NULL;
  if (owcp_multipart_decode(body, len, mp, &inner) != 0) {
    owcp_error_set(err, "invalid multipart body: %s", inner.msg);
    goto fail;
  }
  params = first_segment_params(&mp->segments[0], err);
  if (params == NULL)
    goto fail;
  for (size_t i = 1; i < mp->count; i++) {
    if (add_attachment(params, &mp->segments[i], i + 1, err) != 0)
      goto fail;
  }
  free(mp);
  *out = params;
  return 0;
fail:
  json_decref(params);
  free(mp);
  return -1;
}
