/*
 * turn_cred.c — TURN REST and MS-TURN credentials (turn_cred.h) with
 * OpenSSL's HMAC; the secrets under one mutex, swapped whole on reload.
 */
#include "turn_cred.h"

#include <ctype.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#define SECRET_MAX 4096
#define SHA1_LEN 20
#define BLOB_LEN 32
/* Seconds between 1601-01-01 and 1970-01-01 (FILETIME epoch). */
#define FILETIME_EPOCH_S 11644473600ULL

struct secret {
  unsigned char *data;
  size_t len;
};

struct turn_secrets {
  pthread_mutex_t lock;
  struct secret *items;
  size_t count;
};

static void secrets_wipe(struct secret *items, size_t count)
{
  for (size_t i = 0; i < count; i++)
    OPENSSL_clear_free(items[i].data, items[i].len);
  free(items);
}

/* One secret file, trimmed. */
static int read_secret(const char *path, struct secret *out,
                       struct owcp_error *err)
{
  unsigned char buf[SECRET_MAX + 1];
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    owcp_error_set(err, "[mras] turn_secret_file: cannot read %s", path);
    return -1;
  }
  size_t n = fread(buf, 1, sizeof buf, f);
  fclose(f);
  size_t a = 0;
  while (a < n && isspace(buf[a]))
    a++;
  while (n > a && isspace(buf[n - 1]))
    n--;
  if (n - a == 0 || n > SECRET_MAX) {
    OPENSSL_cleanse(buf, sizeof buf);
    owcp_error_set(
        err, "[mras] turn_secret_file: %s is empty or larger than %d bytes",
        path, SECRET_MAX);
    return -1;
  }
  out->len = n - a;
  out->data = malloc(out->len);
  if (out->data != NULL)
    memcpy(out->data, buf + a, out->len);
  OPENSSL_cleanse(buf, sizeof buf);
  if (out->data == NULL) {
    owcp_error_set(err, "out of memory");
    return -1;
  }
  return 0;
}

static int read_all(const char *const *paths, size_t count, struct secret **out,
                    struct owcp_error *err)
{
  struct secret *items = calloc(count ? count : 1, sizeof *items);
  if (items == NULL) {
    owcp_error_set(err, "out of memory");
    return -1;
  }
  for (size_t i = 0; i < count; i++)
    if (read_secret(paths[i], &items[i], err) != 0) {
      secrets_wipe(items, i);
      return -1;
    }
  *out = items;
  return 0;
}

struct turn_secrets *turn_secrets_load(const char *const *paths, size_t count,
                                       struct owcp_error *err)
{
  struct turn_secrets *s = calloc(1, sizeof *s);
  if (s == NULL) {
    owcp_error_set(err, "out of memory");
    return NULL;
  }
  if (read_all(paths, count, &s->items, err) != 0) {
    free(s);
    return NULL;
  }
  s->count = count;
  pthread_mutex_init(&s->lock, NULL);
  return s;
}

int turn_secrets_reload(struct turn_secrets *s, const char *const *paths,
                        size_t count, struct owcp_error *err)
{
  struct secret *items = NULL;
  if (read_all(paths, count, &items, err) != 0)
    return -1;
  pthread_mutex_lock(&s->lock);
  struct secret *old = s->items;
  size_t old_count = s->count;
  s->items = items;
  s->count = count;
  pthread_mutex_unlock(&s->lock);
  secrets_wipe(old, old_count);
  return 0;
}

void turn_secrets_free(struct turn_secrets *s)
{
  if (s == NULL)
    return;
  secrets_wipe(s->items, s->count);
  pthread_mutex_destroy(&s->lock);
  free(s);
}

void turn_cred_clear(struct turn_cred *c)
{
  if (c->password != NULL)
    OPENSSL_clear_free(c->password, strlen(c->password));
  free(c->username);
  memset(c, 0, sizeof *c);
}

static void hmac_sha1(const struct secret *k, const void *data, size_t len,
                      unsigned char out[SHA1_LEN])
{
  unsigned int n = SHA1_LEN;
  (void)HMAC(EVP_sha1(), k->data, (int)k->len, data, len, out, &n);
}

/* Under the lock. */
static int mint_rest(const struct turn_secrets *s, const char *identity,
                     time_t expires, struct turn_cred *out)
{
  unsigned char mac[SHA1_LEN];
  size_t n = strlen(identity) + 24;
  out->username = malloc(n);
  if (out->username == NULL)
    return -1;
  snprintf(out->username, n, "%lld:%s", (long long)expires, identity);
  hmac_sha1(&s->items[0], out->username, strlen(out->username), mac);
  out->password = owcp_base64_encode(mac, sizeof mac);
  return out->password ? 0 : -1;
}

/* Under the lock. */
static int mint_msturn(const struct turn_secrets *s, const char *identity,
                       time_t expires, struct turn_cred *out)
{
  unsigned char tok[BLOB_LEN + SHA1_LEN], mac[SHA1_LEN];
  uint64_t ft = ((uint64_t)expires + FILETIME_EPOCH_S) * 10000000ULL;
  tok[0] = 1; /* major */
  tok[1] = 0; /* minor */
  tok[2] = BLOB_LEN & 0xff;
  tok[3] = BLOB_LEN >> 8;
  for (int i = 0; i < 8; i++)
    tok[4 + i] = (unsigned char)(ft >> (8 * i));
  hmac_sha1(&s->items[0], identity, strlen(identity), tok + 12);
  hmac_sha1(&s->items[0], tok, BLOB_LEN, tok + BLOB_LEN);
  hmac_sha1(&s->items[1], tok, sizeof tok, mac);
  out->username = owcp_base64_encode(tok, sizeof tok);
  out->password = owcp_base64_encode(mac, sizeof mac);
  return out->username && out->password ? 0 : -1;
}

int turn_cred_mint(struct turn_secrets *s, enum turn_format fmt,
                   const char *identity, long minutes, time_t now,
                   struct turn_cred *out, struct owcp_error *err)
{
  memset(out, 0, sizeof *out);
  out->expires = now + 60 * (time_t)minutes;
  pthread_mutex_lock(&s->lock);
  int rc;
  if (s->count < (fmt == TURN_MSTURN ? 2u : 1u)) {
    owcp_error_set(err, "[mras] turn_secret_file: not enough secrets for %s",
                   fmt == TURN_MSTURN ? "msturn" : "rest");
    rc = -2;
  } else {
    rc = fmt == TURN_MSTURN ? mint_msturn(s, identity, out->expires, out)
                            : mint_rest(s, identity, out->expires, out);
  }
  pthread_mutex_unlock(&s->lock);
  if (rc != 0) {
    if (rc == -1)
      owcp_error_set(err, "out of memory minting TURN credentials");
    turn_cred_clear(out);
    return -1;
  }
  return 0;
}
