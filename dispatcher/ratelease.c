/*
 * ratelease.c — see ratelease.h.
 */
#include "ratelease.h"

#include <pthread.h>
#include <stdlib.h>

struct lease {
  int64_t requestor; /* 0: empty (requestor ids start at 1) */
  uint64_t generation;
  int64_t deadline_ms;
  int units;
};

struct ratelease {
  pthread_mutex_t lock;
  size_t sets;
  struct lease *leases; /* sets × RATELEASE_WAYS */
  uint64_t spent, lost;
};

struct ratelease *ratelease_new(size_t sets)
{
  struct ratelease *l;

  if (sets == 0)
    return NULL;
  l = calloc(1, sizeof *l);
  if (l == NULL)
    return NULL;
  l->leases = calloc(sets * RATELEASE_WAYS, sizeof *l->leases);
  if (l->leases == NULL || pthread_mutex_init(&l->lock, NULL) != 0) {
    free(l->leases);
    free(l);
    return NULL;
  }
  l->sets = sets;
  return l;
}

void ratelease_free(struct ratelease *l)
{
  if (l == NULL)
    return;
  pthread_mutex_destroy(&l->lock);
  free(l->leases);
  free(l);
}

/* The first entry of requestor's set. */
static struct lease *set_of(struct ratelease *l, int64_t requestor)
{
  return &l->leases[((uint64_t)requestor % l->sets) * RATELEASE_WAYS];
}

/* requestor's entry in its set, or NULL. Lock held. */
static struct lease *find_locked(struct ratelease *l, int64_t requestor)
{
  struct lease *set = set_of(l, requestor);

  for (size_t i = 0; i < RATELEASE_WAYS; i++)
    if (set[i].requestor == requestor)
      return &set[i];
  return NULL;
}

/* Empties e, counting the units it still held as lost. Lock held. */
static void drop_locked(struct ratelease *l, struct lease *e)
{
  l->lost += (uint64_t)e->units;
  e->units = 0;
}

bool ratelease_take(struct ratelease *l, int64_t requestor, uint64_t generation,
                    int64_t now_ms)
{
  bool ok = false;

  pthread_mutex_lock(&l->lock);
  struct lease *e = find_locked(l, requestor);
  if (e != NULL && e->units > 0) {
    if (e->generation == generation && now_ms < e->deadline_ms) {
      e->units--;
      l->spent++;
      ok = true;
    } else {
      drop_locked(l, e);
    }
  }
  pthread_mutex_unlock(&l->lock);
  return ok;
}

/* How much an entry is worth keeping under generation: 0 empty, 1 of an
 * older generation (never usable again), 2 live. */
static int worth(const struct lease *e, uint64_t generation)
{
  if (e->units == 0)
    return 0;
  return e->generation == generation ? 2 : 1;
}

/* The entry to (re)use for requestor under generation: its own, else the
 * one least worth keeping, of those the one whose deadline comes first.
 * Lock held. */
static struct lease *slot_for_locked(struct ratelease *l, int64_t requestor,
                                     uint64_t generation)
{
  struct lease *own = find_locked(l, requestor);
  if (own != NULL)
    return own;
  struct lease *set = set_of(l, requestor), *victim = &set[0];
  for (size_t i = 1; i < RATELEASE_WAYS; i++) {
    struct lease *e = &set[i];
    int w = worth(e, generation), vw = worth(victim, generation);
    if (w < vw || (w == vw && e->deadline_ms < victim->deadline_ms))
      victim = e;
  }
  return victim;
}

void ratelease_put(struct ratelease *l, int64_t requestor, uint64_t generation,
                   int units, int64_t deadline_ms, int64_t now_ms)
{
  if (units <= 0 || requestor <= 0)
    return;
  pthread_mutex_lock(&l->lock);
  struct lease *e = slot_for_locked(l, requestor, generation);
  if (e->requestor == requestor && e->units > 0 &&
      e->generation == generation && now_ms < e->deadline_ms) {
    e->units += units;
    if (deadline_ms < e->deadline_ms)
      e->deadline_ms = deadline_ms;
  } else {
    drop_locked(l, e);
    e->requestor = requestor;
    e->generation = generation;
    e->deadline_ms = deadline_ms;
    e->units = units;
  }
  pthread_mutex_unlock(&l->lock);
}

uint64_t ratelease_spent(struct ratelease *l)
{
  pthread_mutex_lock(&l->lock);
  uint64_t v = l->spent;
  pthread_mutex_unlock(&l->lock);
  return v;
}

uint64_t ratelease_lost(struct ratelease *l)
{
  pthread_mutex_lock(&l->lock);
  uint64_t v = l->lost;
  pthread_mutex_unlock(&l->lock);
  return v;
}
