/*
 * certcache.c — see certcache.h.
 */
#include "certcache.h"

#include "owcp/util.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Client ids are 32 characters (owcp_random_id); longer ones are not
 * cached rather than truncated. */
#define CERTCACHE_ID_MAX 64

struct slot {
  char id[CERTCACHE_ID_MAX + 1];
  X509 *cert; /* NULL: empty */
};

struct certcache {
  pthread_mutex_t lock;
  size_t n;
  struct slot *slots;
};

static size_t slot_of(const struct certcache *c, const char *id)
{
  return (size_t)(owcp_str_hash(id) % c->n);
}

struct certcache *certcache_new(size_t slots)
{
  struct certcache *c;

  if (slots == 0)
    return NULL;
  c = calloc(1, sizeof *c);
  if (c == NULL)
    return NULL;
  c->slots = calloc(slots, sizeof *c->slots);
  if (c->slots == NULL || pthread_mutex_init(&c->lock, NULL) != 0) {
    free(c->slots);
    free(c);
    return NULL;
  }
  c->n = slots;
  return c;
}

void certcache_free(struct certcache *c)
{
  if (c == NULL)
    return;
  for (size_t i = 0; i < c->n; i++)
    X509_free(c->slots[i].cert);
  pthread_mutex_destroy(&c->lock);
  free(c->slots);
  free(c);
}

X509 *certcache_get(struct certcache *c, const char *client_id)
{
  X509 *cert = NULL;
  struct slot *s;

  if (strlen(client_id) > CERTCACHE_ID_MAX)
    return NULL;
  s = &c->slots[slot_of(c, client_id)];
  pthread_mutex_lock(&c->lock);
  if (s->cert != NULL && strcmp(s->id, client_id) == 0 &&
      X509_up_ref(s->cert) == 1)
    cert = s->cert;
  pthread_mutex_unlock(&c->lock);
  return cert;
}

int certcache_put(struct certcache *c, const char *client_id, X509 *cert)
{
  size_t len = strlen(client_id);
  X509 *old;
  struct slot *s;

  if (len > CERTCACHE_ID_MAX)
    return 0;
  if (X509_up_ref(cert) != 1)
    return -1;
  s = &c->slots[slot_of(c, client_id)];
  pthread_mutex_lock(&c->lock);
  old = s->cert;
  memcpy(s->id, client_id, len + 1);
  s->cert = cert;
  pthread_mutex_unlock(&c->lock);
  X509_free(old);
  return 0;
}
