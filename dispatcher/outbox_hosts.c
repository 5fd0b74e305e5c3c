/*
 * outbox_hosts.c — the sender's per-destination table (outbox_hosts.h).
 */
#include "outbox_hosts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "owcp/service/log.h"

/* Destination backoff: 1 s doubling to 10 min (the rows' own schedule). */
#define OUTBOX_HOST_BACKOFF_MIN_MS 1000LL
#define OUTBOX_HOST_BACKOFF_MAX_MS 600000LL

struct outbox_host *outbox_host_find(struct outbox_hosts *t, const char *key)
{
  for (size_t i = 0; i < t->n; i++)
    if (strcmp(t->v[i].key, key) == 0)
      return &t->v[i];
  return NULL;
}

size_t outbox_hosts_prune(struct outbox_hosts *t, int64_t now_ms)
{
  size_t backed_off = 0;

  for (size_t i = 0; i < t->n;) {
    struct outbox_host *h = &t->v[i];

    if (h->in_flight == 0 && h->backoff_until_ms <= now_ms &&
        h->failures == 0) {
      *h = t->v[--t->n];
      continue;
    }
    if (h->backoff_until_ms > now_ms)
      backed_off++;
    i++;
  }
  return backed_off;
}

struct outbox_host *outbox_host_get(struct outbox_hosts *t, const char *key)
{
  struct outbox_host *h = outbox_host_find(t, key);

  if (h != NULL)
    return h;
  if (t->n == t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 16;
    struct outbox_host *more = realloc(t->v, cap * sizeof *more);

    if (more == NULL)
      return NULL;
    t->v = more;
    t->cap = cap;
  }
  h = &t->v[t->n++];
  memset(h, 0, sizeof *h);
  snprintf(h->key, sizeof h->key, "%s", key);
  return h;
}

unsigned outbox_host_slots(const struct outbox_host *h, unsigned per_host,
                           int64_t now_ms)
{
  unsigned cap = h->failures > 0 ? 1 : per_host;

  if (h->backoff_until_ms > now_ms || h->in_flight >= cap)
    return 0;
  return cap - h->in_flight;
}

void outbox_host_failed(struct outbox_host *h, int64_t now_ms, const char *why)
{
  int64_t delay = OUTBOX_HOST_BACKOFF_MIN_MS;

  if (h->backoff_until_ms > now_ms)
    return;
  h->failures++;
  for (unsigned i = 1; i < h->failures && delay < OUTBOX_HOST_BACKOFF_MAX_MS;
       i++)
    delay *= 2;
  if (delay > OUTBOX_HOST_BACKOFF_MAX_MS)
    delay = OUTBOX_HOST_BACKOFF_MAX_MS;
  h->backoff_until_ms = now_ms + delay;
  svc_log(SVC_LOG_WARN, "completion.backoff",
          "%s: %s; no deliveries there for %lld ms", h->key, why,
          (long long)delay);
}

void outbox_host_answered(struct outbox_host *h)
{
  if (h->failures > 0)
    svc_log(SVC_LOG_INFO, "completion.recovered", "%s answers again", h->key);
  h->failures = 0;
  h->backoff_until_ms = 0;
}

void outbox_hosts_free(struct outbox_hosts *t)
{
  free(t->v);
  t->v = NULL;
  t->n = t->cap = 0;
}
