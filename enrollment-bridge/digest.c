/*
 * digest.c — RFC 2617 Digest as the challenger (digest.h): MD5 through
 * OpenSSL's EVP, HMAC-SHA256 nonce signatures, htdigest reading.
 */
#include "digest.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#define NONCE_BODY 16 /* TIME(8) || RANDOM(8) */
#define NONCE_MAC 16
#define KEY_LABEL "owcp-bridge mras nonce"
#define USERS_MAX_BYTES ((size_t)1024 * 1024)

/* MD5 of the parts joined with ':' in hex into out. */
static void md5_join(const char *const *parts, size_t count, char *out)
{
  EVP_MD_CTX *c = EVP_MD_CTX_new();
  unsigned char d[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (c == NULL || EVP_DigestInit_ex(c, EVP_md5(), NULL) != 1) {
    EVP_MD_CTX_free(c);
    memset(out, '0', DIGEST_HEX_LEN);
    out[DIGEST_HEX_LEN] = '\0';
    return;
  }
  for (size_t i = 0; i < count; i++) {
    if (i > 0)
      (void)EVP_DigestUpdate(c, ":", 1);
    (void)EVP_DigestUpdate(c, parts[i], strlen(parts[i]));
  }
  (void)EVP_DigestFinal_ex(c, d, &n);
  EVP_MD_CTX_free(c);
  owcp_hex_encode(d, n, out);
}

static void hmac(const struct digest_key *key, const void *data, size_t len,
                 unsigned char out[32])
{
  unsigned int n = 32;
  (void)HMAC(EVP_sha256(), key->k, sizeof key->k, data, len, out, &n);
}

/* ---- the user file --------------------------------------------------------
 */

static bool is_hex(const char *s, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (!isxdigit((unsigned char)s[i]))
      return false;
  return s[n] == '\0';
}

static int add_user(struct digest_users *u, char *line, size_t lineno,
                    const char *path, struct owcp_error *err)
{
  char *c1 = strchr(line, ':');
  char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
  if (c2 == NULL || c1 == line || !is_hex(c2 + 1, DIGEST_HEX_LEN)) {
    owcp_error_set(err, "%s:%zu: not user:realm:HA1 (32 hex digits)", path,
                   lineno);
    return -1;
  }
  *c1 = *c2 = '\0';
  struct digest_user *items =
      realloc(u->items, (u->count + 1) * sizeof *u->items);
  if (items == NULL) {
    owcp_error_set(err, "out of memory");
    return -1;
  }
  u->items = items;
  struct digest_user *e = &u->items[u->count];
  e->user = strdup(line);
  e->realm = strdup(c1 + 1);
  for (size_t i = 0; i <= DIGEST_HEX_LEN; i++)
    e->ha1[i] = (char)tolower((unsigned char)c2[1 + i]);
  u->count++;
  if (e->user == NULL || e->realm == NULL) {
    owcp_error_set(err, "out of memory");
    return -1;
  }
  return 0;
}

static char *read_small(const char *path, size_t *len, struct owcp_error *err)
{
  FILE *f = fopen(path, "rb");
  char *buf = malloc(USERS_MAX_BYTES + 1);
  size_t n = 0;
  if (f == NULL || buf == NULL) {
    owcp_error_set(err, "cannot read %s", path);
    if (f)
      fclose(f);
    free(buf);
    return NULL;
  }
  n = fread(buf, 1, USERS_MAX_BYTES + 1, f);
  bool bad = ferror(f) || n > USERS_MAX_BYTES;
  fclose(f);
  if (bad) {
    owcp_error_set(err, "cannot read %s (or larger than %zu bytes)", path,
                   USERS_MAX_BYTES);
    OPENSSL_clear_free(buf, USERS_MAX_BYTES + 1);
    return NULL;
  }
  buf[n] = '\0';
  *len = n;
  return buf;
}

int digest_users_load(const char *path, struct digest_users *out,
                      struct digest_key *key, struct owcp_error *err)
{
  size_t len = 0, lineno = 0;
  char *buf = read_small(path, &len, err);
  int rc = 0;
  memset(out, 0, sizeof *out);
  if (buf == NULL)
    return -1;
  if (key != NULL) {
    unsigned int n = sizeof key->k;
    (void)HMAC(EVP_sha256(), KEY_LABEL, sizeof KEY_LABEL - 1,
               (unsigned char *)buf, len, key->k, &n);
  }
  char *save = NULL;
  for (char *line = buf; rc == 0 && line != NULL; line = save) {
    save = strchr(line, '\n');
    if (save != NULL)
      *save++ = '\0';
    lineno++;
    size_t l = strlen(line);
    if (l > 0 && line[l - 1] == '\r')
      line[--l] = '\0';
    if (l == 0 || line[0] == '#')
      continue;
    rc = add_user(out, line, lineno, path, err);
  }
  OPENSSL_clear_free(buf, USERS_MAX_BYTES + 1);
  if (rc != 0)
    digest_users_free(out);
  return rc;
}

void digest_users_free(struct digest_users *u)
{
  for (size_t i = 0; i < u->count; i++) {
    free(u->items[i].user);
    free(u->items[i].realm);
    OPENSSL_cleanse(u->items[i].ha1, sizeof u->items[i].ha1);
  }
  free(u->items);
  memset(u, 0, sizeof *u);
}

const char *digest_users_ha1(const struct digest_users *u, const char *user,
                             const char *realm)
{
  for (size_t i = 0; user != NULL && i < u->count; i++)
    if (strcmp(u->items[i].user, user) == 0 &&
        strcmp(u->items[i].realm, realm) == 0)
      return u->items[i].ha1;
  return NULL;
}

/* ---- nonces ---------------------------------------------------------------
 */

int digest_nonce_new(const struct digest_key *key, time_t now, char *out)
{
  unsigned char raw[NONCE_BODY + 32];
  uint64_t t = (uint64_t)now;
  for (int i = 7; i >= 0; i--, t >>= 8)
    raw[i] = (unsigned char)(t & 0xff);
  if (owcp_random_bytes(raw + 8, 8) != 0)
    return -1;
  hmac(key, raw, NONCE_BODY, raw + NONCE_BODY);
  owcp_hex_encode(raw, NONCE_BODY + NONCE_MAC, out);
  return 0;
}

static int hexval(int c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  c = tolower(c);
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

enum digest_nonce_state digest_nonce_check(const struct digest_key *key,
                                           const char *nonce, time_t now,
                                           int lifetime, time_t *expires)
{
  unsigned char raw[NONCE_BODY + NONCE_MAC], mac[32];
  if (nonce == NULL || strlen(nonce) != DIGEST_NONCE_LEN)
    return DIGEST_NONCE_BAD;
  for (size_t i = 0; i < sizeof raw; i++) {
    int hi = hexval((unsigned char)nonce[2 * i]);
    int lo = hexval((unsigned char)nonce[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return DIGEST_NONCE_BAD;
    raw[i] = (unsigned char)(hi << 4 | lo);
  }
  hmac(key, raw, NONCE_BODY, mac);
  if (CRYPTO_memcmp(mac, raw + NONCE_BODY, NONCE_MAC) != 0)
    return DIGEST_NONCE_BAD;
  uint64_t t = 0;
  for (int i = 0; i < 8; i++)
    t = t << 8 | raw[i];
  if (t > (uint64_t)now + 5) /* a little clock slack between processes */
    return DIGEST_NONCE_BAD;
  if (expires != NULL)
    *expires = (time_t)t + lifetime;
  return (uint64_t)now - t <= (uint64_t)lifetime || t > (uint64_t)now
             ? DIGEST_NONCE_VALID
             : DIGEST_NONCE_STALE;
}

void digest_opaque(const struct digest_key *key, const char *nonce, char *out)
{
  unsigned char mac[32];
  char buf[8 + DIGEST_NONCE_LEN + 1];
  int n = snprintf(buf, sizeof buf, "opaque:%s", nonce);
  hmac(key, buf, n > 0 ? (size_t)n : 0, mac);
  owcp_hex_encode(mac, DIGEST_OPAQUE_LEN / 2, out);
}

/* ---- challenge and answer -------------------------------------------------
 */

const char *digest_alg_name(enum digest_alg alg)
{
  return alg == DIGEST_MD5_SESS ? "MD5-sess" : "MD5";
}

bool digest_alg_parse(const char *text, enum digest_alg *out)
{
  if (text == NULL || text[0] == '\0' || strcasecmp(text, "MD5") == 0)
    *out = DIGEST_MD5;
  else if (strcasecmp(text, "MD5-sess") == 0)
    *out = DIGEST_MD5_SESS;
  else
    return false;
  return true;
}

char *digest_challenge(const char *realm, const char *nonce, const char *opaque,
                       enum digest_alg alg, bool stale)
{
  size_t n = strlen(realm) + strlen(nonce) + strlen(opaque) + 128;
  char *s = malloc(n);
  if (s != NULL)
    snprintf(s, n,
             "Digest realm=\"%s\", nonce=\"%s\", opaque=\"%s\", "
             "algorithm=%s, qop=\"auth\"%s",
             realm, nonce, opaque, digest_alg_name(alg),
             stale ? ", stale=true" : "");
  return s;
}

void digest_ha1(const char *user, const char *realm, const char *password,
                char *out)
{
  const char *parts[] = {user, realm, password};
  md5_join(parts, 3, out);
}

void digest_compute(const char *ha1_hex, enum digest_alg alg, const char *nonce,
                    const char *nc, const char *cnonce, const char *qop,
                    const char *method, const char *uri, char *out)
{
  char ha1[DIGEST_HEX_LEN + 1], ha2[DIGEST_HEX_LEN + 1];
  snprintf(ha1, sizeof ha1, "%s", ha1_hex);
  if (alg == DIGEST_MD5_SESS) {
    const char *s[] = {ha1_hex, nonce, cnonce};
    md5_join(s, 3, ha1);
  }
  const char *h2[] = {method, uri};
  md5_join(h2, 2, ha2);
  const char *r[] = {ha1, nonce, nc, cnonce, qop, ha2};
  md5_join(r, 6, out);
  OPENSSL_cleanse(ha1, sizeof ha1);
}

void digest_answer_clear(struct digest_answer *a)
{
  char **f[] = {&a->username,  &a->realm,  &a->nonce,  &a->uri, &a->response,
                &a->algorithm, &a->cnonce, &a->opaque, &a->qop, &a->nc};
  for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
    free(*f[i]);
    *f[i] = NULL;
  }
}

char *digest_unquote(const char *value)
{
  if (value == NULL)
    return NULL;
  size_t n = strlen(value);
  char *out = malloc(n + 1), *o = out;
  if (out == NULL)
    return NULL;
  if (n >= 2 && value[0] == '"' && value[n - 1] == '"') {
    for (size_t i = 1; i < n - 1; i++) {
      if (value[i] == '\\' && i + 1 < n - 1)
        i++;
      *o++ = value[i];
    }
    *o = '\0';
  } else {
    memcpy(out, value, n + 1);
  }
  return out;
}

bool digest_answer_complete(const struct digest_answer *a, unsigned *nc,
                            struct owcp_error *err)
{
  const char *missing = !a->username   ? "username"
                        : !a->realm    ? "realm"
                        : !a->nonce    ? "nonce"
                        : !a->uri      ? "uri"
                        : !a->response ? "response"
                        : !a->cnonce   ? "cnonce"
                        : !a->nc       ? "nc"
                        : !a->qop      ? "qop"
                                       : NULL;
  if (missing != NULL) {
    owcp_error_set(err, "Digest answer without %s", missing);
    return false;
  }
  if (strcasecmp(a->qop, "auth") != 0) {
    owcp_error_set(err, "Digest answer with qop other than auth");
    return false;
  }
  if (strlen(a->response) != DIGEST_HEX_LEN ||
      !is_hex(a->response, DIGEST_HEX_LEN) || strlen(a->nc) != 8 ||
      !is_hex(a->nc, 8)) {
    owcp_error_set(err, "Digest answer with a malformed response or nc");
    return false;
  }
  unsigned long v = strtoul(a->nc, NULL, 16);
  if (v == 0) {
    owcp_error_set(err, "Digest answer with nc 0");
    return false;
  }
  *nc = (unsigned)v;
  return true;
}

bool digest_answer_verify(const struct digest_answer *a, const char *ha1_hex,
                          enum digest_alg alg, const char *method)
{
  char want[DIGEST_HEX_LEN + 1], got[DIGEST_HEX_LEN + 1];
  digest_compute(ha1_hex, alg, a->nonce, a->nc, a->cnonce, a->qop, method,
                 a->uri, want);
  for (size_t i = 0; i <= DIGEST_HEX_LEN; i++)
    got[i] = (char)tolower((unsigned char)a->response[i]);
  return CRYPTO_memcmp(want, got, DIGEST_HEX_LEN) == 0;
}
