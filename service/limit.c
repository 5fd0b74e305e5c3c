/*
 * limit.c — per-key caps (limit.h): a chained hash table under one mutex;
 * taking and giving back are a hash and a short chain walk.
 */
#include "owcp/service/limit.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define LIMIT_BUCKETS 1024u

struct entry {
  struct entry *next;
  unsigned char key[SVC_LIMIT_KEY_MAX];
  size_t len;
  unsigned count;
};

struct svc_limit {
  pthread_mutex_t lock;
  unsigned cap;
  unsigned long held;
  struct entry *buckets[LIMIT_BUCKETS];
};

struct svc_limit *svc_limit_new(unsigned cap)
{
  struct svc_limit *l = calloc(1, sizeof *l);

  if (l == NULL)
    return NULL;
  pthread_mutex_init(&l->lock, NULL);
  l->cap = cap;
  return l;
}

void svc_limit_free(struct svc_limit *l)
{
  if (l == NULL)
    return;
  for (unsigned i = 0; i < LIMIT_BUCKETS; i++) {
    struct entry *e = l->buckets[i];
    while (e != NULL) {
      struct entry *next = e->next;
      free(e);
      e = next;
    }
  }
  pthread_mutex_destroy(&l->lock);
  free(l);
}

/* The slot holding key's entry pointer (the entry may be NULL). */
static struct entry **slot(struct svc_limit *l, const void *key, size_t len)
{
  /* Keys are cryptographic hashes: their first octets are uniform. */
  uint64_t h = 0;
  memcpy(&h, key, len < sizeof h ? len : sizeof h);
  struct entry **p = &l->buckets[h % LIMIT_BUCKETS];

  while (*p != NULL && ((*p)->len != len || memcmp((*p)->key, key, len) != 0))
    p = &(*p)->next;
  return p;
}

bool svc_limit_take(struct svc_limit *l, const void *key, size_t len)
{
  bool taken = false;

  if (len > SVC_LIMIT_KEY_MAX)
    return false;
  pthread_mutex_lock(&l->lock);
  struct entry **p = slot(l, key, len);
  if (*p == NULL && (*p = calloc(1, sizeof **p)) != NULL) {
    memcpy((*p)->key, key, len);
    (*p)->len = len;
  }
  if (*p != NULL && (l->cap == 0 || (*p)->count < l->cap)) {
    (*p)->count++;
    l->held++;
    taken = true;
  } else if (*p != NULL && (*p)->count == 0) {
    free(*p);
    *p = NULL;
  }
  pthread_mutex_unlock(&l->lock);
  return taken;
}

void svc_limit_give(struct svc_limit *l, const void *key, size_t len)
{
  if (len > SVC_LIMIT_KEY_MAX)
    return;
  pthread_mutex_lock(&l->lock);
  struct entry **p = slot(l, key, len);
  if (*p != NULL && (*p)->count > 0) {
    l->held--;
    if (--(*p)->count == 0) {
      struct entry *gone = *p;
      *p = gone->next;
      free(gone);
    }
  }
  pthread_mutex_unlock(&l->lock);
}

unsigned long svc_limit_held(struct svc_limit *l)
{
  pthread_mutex_lock(&l->lock);
  unsigned long n = l->held;
  pthread_mutex_unlock(&l->lock);
  return n;
}
