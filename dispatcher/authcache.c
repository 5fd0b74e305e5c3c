/*
 * authcache.c — see authcache.h.
 */
#include "authcache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "owcp/util.h"

enum kind { EMPTY, REQUESTOR, CLIENT };

struct slot {
  enum kind kind;
  int64_t expires_ms; /* CLOCK_MONOTONIC */
  unsigned char hash[OWCP_SHA256_LEN];
  union {
    struct store_requestor requestor;
    struct store_client client;
  } u;
};

struct authcache {
  pthread_mutex_t lock;
  size_t n;
  struct slot *slots;
  uint64_t generation; /* bumped by every flush and liveness change */
  bool live;
  uint64_t hits, flushes;
};

static int64_t now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static size_t slot_of(const struct authcache *c,
                      const unsigned char hash[OWCP_SHA256_LEN])
{
  uint64_t v;
  memcpy(&v, hash, sizeof v);
  return (size_t)(v % c->n);
}

struct authcache *authcache_new(size_t slots)
{
  struct authcache *c;

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

/* Lock held. */
static void clear_locked(struct authcache *c)
{
  OPENSSL_cleanse(c->slots, c->n * sizeof *c->slots);
  c->generation++;
}

void authcache_free(struct authcache *c)
{
  if (c == NULL)
    return;
  clear_locked(c);
  pthread_mutex_destroy(&c->lock);
  free(c->slots);
  free(c);
}

uint64_t authcache_generation(struct authcache *c)
{
  pthread_mutex_lock(&c->lock);
  uint64_t g = c->generation;
  pthread_mutex_unlock(&c->lock);
  return g;
}

bool authcache_live_generation(struct authcache *c, uint64_t *generation)
{
  pthread_mutex_lock(&c->lock);
  bool live = c->live;
  *generation = c->generation;
  pthread_mutex_unlock(&c->lock);
  return live;
}

/* The live, unexpired slot holding hash as kind, or NULL. Lock held. */
static struct slot *find_locked(struct authcache *c, enum kind kind,
                                const unsigned char hash[OWCP_SHA256_LEN])
{
  struct slot *s = &c->slots[slot_of(c, hash)];

  if (!c->live || s->kind != kind || now_ms() >= s->expires_ms ||
      !owcp_ct_equal(s->hash, hash, OWCP_SHA256_LEN))
    return NULL;
  c->hits++;
  return s;
}

bool authcache_get_requestor(struct authcache *c,
                             const unsigned char token_hash[OWCP_SHA256_LEN],
                             struct store_requestor *out)
{
  pthread_mutex_lock(&c->lock);
  struct slot *s = find_locked(c, REQUESTOR, token_hash);
  if (s != NULL)
    *out = s->u.requestor;
  pthread_mutex_unlock(&c->lock);
  return s != NULL;
}

bool authcache_get_client(struct authcache *c,
                          const unsigned char token_hash[OWCP_SHA256_LEN],
                          struct store_client *out)
{
  pthread_mutex_lock(&c->lock);
  struct slot *s = find_locked(c, CLIENT, token_hash);
  if (s != NULL)
    *out = s->u.client;
  pthread_mutex_unlock(&c->lock);
  return s != NULL;
}

/* The slot to fill for hash, or NULL when the answer is too old (a flush
 * since `generation`) or the cache is not live. Lock held. */
static struct slot *slot_for_put_locked(struct authcache *c,
                                        uint64_t generation,
                                        const unsigned char *hash)
{
  if (!c->live || generation != c->generation)
    return NULL;
  struct slot *s = &c->slots[slot_of(c, hash)];
  memcpy(s->hash, hash, OWCP_SHA256_LEN);
  s->expires_ms = now_ms() + AUTHCACHE_TTL_MS;
  return s;
}

void authcache_put_requestor(struct authcache *c, uint64_t generation,
                             const struct store_requestor *r)
{
  if (!r->active)
    return;
  pthread_mutex_lock(&c->lock);
  struct slot *s = slot_for_put_locked(c, generation, r->token_hash);
  if (s != NULL) {
    s->kind = REQUESTOR;
    s->u.requestor = *r;
  }
  pthread_mutex_unlock(&c->lock);
}

void authcache_put_client(struct authcache *c, uint64_t generation,
                          const struct store_client *cl)
{
  if (!cl->active)
    return;
  pthread_mutex_lock(&c->lock);
  struct slot *s = slot_for_put_locked(c, generation, cl->token_hash);
  if (s != NULL) {
    s->kind = CLIENT;
    s->u.client = *cl;
  }
  pthread_mutex_unlock(&c->lock);
}

void authcache_flush(struct authcache *c)
{
  pthread_mutex_lock(&c->lock);
  clear_locked(c);
  c->flushes++;
  pthread_mutex_unlock(&c->lock);
}

void authcache_set_live(struct authcache *c, bool live)
{
  pthread_mutex_lock(&c->lock);
  clear_locked(c);
  c->live = live;
  pthread_mutex_unlock(&c->lock);
}

uint64_t authcache_hits(struct authcache *c)
{
  pthread_mutex_lock(&c->lock);
  uint64_t v = c->hits;
  pthread_mutex_unlock(&c->lock);
  return v;
}

uint64_t authcache_flushes(struct authcache *c)
{
  pthread_mutex_lock(&c->lock);
  uint64_t v = c->flushes;
  pthread_mutex_unlock(&c->lock);
  return v;
}
