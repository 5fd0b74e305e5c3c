/*
 * txcache.c — see txcache.h.
 */
#include "txcache.h"

#include "owcp/util.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* One kept transaction: the outcome as RD-Status reports it (status 202
 * until the answer is added) and what CD-Reply needs. */
struct entry {
  bool used;
  uint64_t seq; /* order of creation (txcache_seq()) */
  char account[STORE_ADDRESS_MAX];
  char from[STORE_ADDRESS_MAX];
  char *type;
  time_t issued;
  char *request_xml;
  size_t request_len;
  struct store_result result;
};

/* The slots of the newest creations, by sequence number (ring[seq %
 * RING_LEN]), so that a woken CD-List looks at what was created since it
 * was armed rather than at every slot. */
#define RING_LEN 1024

/* One entry found for a CD-List: its slot, in creation order. */
struct found {
  uint64_t seq;
  size_t slot;
};

/* What is known of one account's pending transactions (txcache.h); slots
 * are direct-mapped by account id, and accounts sharing one share its
 * event count (more forgetting, never less). */
struct known {
  uint64_t events; /* "account:<id>" keys seen for this slot */
  bool valid;      /* the fields below describe `account` */
  int64_t account;
  uint64_t at_events; /* events when it was learnt */
  uint64_t at_epoch;  /* the cache's epoch then ("*" keys) */
  uint64_t live;      /* the token cache's generation then */
  uint64_t base_seq;  /* it covers the entries created after this */
  int64_t read_ms;    /* the last database read that found nothing */
};

#define KNOWN_SLOTS 4096

struct txcache {
  pthread_mutex_t lock;
  size_t n;
  struct entry *slots;
  uint64_t seq; /* the newest entry's */
  struct found ring[RING_LEN];
  uint64_t epoch; /* "*" keys seen */
  struct known *known;
  uint64_t hits;
};

static size_t slot_of(const struct txcache *c, const char *tx)
{
  return (size_t)(owcp_str_hash(tx) % c->n);
}

static void entry_clear(struct entry *e)
{
  free(e->type);
  free(e->request_xml);
  store_result_free(&e->result);
  memset(e, 0, sizeof *e);
}

struct txcache *txcache_new(size_t slots)
{
  struct txcache *c;

  if (slots == 0)
    return NULL;
  c = calloc(1, sizeof *c);
  if (c == NULL)
    return NULL;
  c->slots = calloc(slots, sizeof *c->slots);
  c->known = calloc(KNOWN_SLOTS, sizeof *c->known);
  if (c->slots == NULL || c->known == NULL ||
      pthread_mutex_init(&c->lock, NULL) != 0) {
    free(c->slots);
    free(c->known);
    free(c);
    return NULL;
  }
  c->n = slots;
  return c;
}

void txcache_free(struct txcache *c)
{
  if (c == NULL)
    return;
  for (size_t i = 0; i < c->n; i++)
    entry_clear(&c->slots[i]);
  pthread_mutex_destroy(&c->lock);
  free(c->slots);
  free(c->known);
  free(c);
}

/* strdup() that keeps NULL; *ok becomes false when memory ran out. */
static char *dup_or_null(const char *s, bool *ok)
{
  char *d;

  if (s == NULL)
    return NULL;
  d = strdup(s);
  if (d == NULL)
    *ok = false;
  return d;
}

/* A copy of n bytes; *ok becomes false when memory ran out. */
static unsigned char *dup_bytes(const unsigned char *b, size_t n, bool *ok)
{
  unsigned char *d = malloc(n > 0 ? n : 1);

  if (d == NULL)
    *ok = false;
  else if (n > 0)
    memcpy(d, b, n);
  return d;
}

/* A copy of a verification list into *out; false when memory ran out
 * (what was copied is left in *out for store_result_free()). */
static bool dup_list(const char *const *v, size_t n, struct store_result *out)
{
  bool ok = true;

  if (n == 0)
    return true;
  out->verification = calloc(n, sizeof *out->verification);
  if (out->verification == NULL)
    return false;
  for (size_t i = 0; i < n && ok; i++) {
    out->verification[i] = dup_or_null(v[i], &ok);
    if (ok)
      out->verification_count = i + 1;
  }
  return ok;
}

/* The entry for t, built outside the lock; false when memory ran out or
 * an id does not fit (e is cleared then). */
static bool entry_build(struct entry *e, const struct txcache_created *t)
{
  struct store_result *r = &e->result;
  bool ok = true;

  if (strlen(t->transaction) >= sizeof r->transaction ||
      strlen(t->account) >= sizeof e->account ||
      strlen(t->requestor) >= sizeof e->from ||
      strlen(t->request_xml) > TXCACHE_BYTES_MAX)
    return false;
  memcpy(r->transaction, t->transaction, strlen(t->transaction) + 1);
  memcpy(e->account, t->account, strlen(t->account) + 1);
  memcpy(e->from, t->requestor, strlen(t->requestor) + 1);
  e->type = dup_or_null(t->type, &ok);
  e->issued = t->issued;
  e->request_len = strlen(t->request_xml);
  e->request_xml = dup_or_null(t->request_xml, &ok);
  r->status = 202;
  r->identifier = dup_or_null(t->identifier, &ok);
  r->completion_uri = dup_or_null(t->completion_uri, &ok);
  r->requestor_id = t->requestor_id;
  r->expires = t->expires;
  e->used = true;
  if (!ok)
    entry_clear(e);
  return ok;
}

void txcache_put_created(struct txcache *c, const struct txcache_created *t)
{
  struct entry e = {0}, old;
  size_t i;

  if (!entry_build(&e, t))
    return;
  i = slot_of(c, t->transaction);
  pthread_mutex_lock(&c->lock);
  old = c->slots[i];
  e.seq = ++c->seq;
  c->slots[i] = e;
  c->ring[e.seq % RING_LEN] = (struct found){e.seq, i};
  pthread_mutex_unlock(&c->lock);
  entry_clear(&old);
}

/* The answer's fields as a result's (status 200); false when memory ran
 * out or the client id does not fit (what was copied is left in *r). */
static bool answer_build(struct store_result *r, const struct txcache_answer *a)
{
  bool ok = true;

  if (strlen(a->client) >= sizeof r->client ||
      a->receipt_len > TXCACHE_BYTES_MAX)
    return false;
  memcpy(r->client, a->client, strlen(a->client) + 1);
  r->status = 200;
  r->response = dup_or_null(a->response, &ok);
  r->reason = dup_or_null(a->reason, &ok);
  r->receipt = dup_bytes(a->receipt, a->receipt_len, &ok);
  r->receipt_len = a->receipt_len;
  r->responded = a->responded;
  return ok && dup_list(a->verification, a->verification_count, r);
}

void txcache_put_answer(struct txcache *c, const struct txcache_answer *a)
{
  struct store_result ans = {0};
  struct entry dropped = {0};
  bool ok = answer_build(&ans, a);
  size_t i = slot_of(c, a->transaction);
  struct entry *e;

  pthread_mutex_lock(&c->lock);
  e = &c->slots[i];
  if (e->used && strcmp(e->result.transaction, a->transaction) == 0 &&
      e->result.status == 202) {
    if (ok) {
      /* Moved in: the entry keeps its own fields, ans its pointers. */
      struct store_result *r = &e->result;

      memcpy(r->client, ans.client, sizeof r->client);
      r->status = 200;
      r->response = ans.response;
      r->reason = ans.reason;
      r->verification = ans.verification;
      r->verification_count = ans.verification_count;
      r->receipt = ans.receipt;
      r->receipt_len = ans.receipt_len;
      r->responded = ans.responded;
      memset(&ans, 0, sizeof ans);
    } else {
      dropped = *e;
      memset(e, 0, sizeof *e);
    }
  }
  pthread_mutex_unlock(&c->lock);
  store_result_free(&ans);
  entry_clear(&dropped);
}

/* The entry of tx, or NULL; call with the lock held. */
static struct entry *find(struct txcache *c, const char *tx)
{
  struct entry *e = &c->slots[slot_of(c, tx)];

  return e->used && strcmp(e->result.transaction, tx) == 0 ? e : NULL;
}

char *txcache_request_dup(struct txcache *c, const char *tx,
                          const char *account, size_t *len)
{
  char *copy = NULL;
  struct entry *e;

  pthread_mutex_lock(&c->lock);
  e = find(c, tx);
  if (e != NULL && strcmp(e->account, account) == 0) {
    copy = malloc(e->request_len + 1);
    if (copy != NULL) {
      memcpy(copy, e->request_xml, e->request_len + 1);
      *len = e->request_len;
      c->hits++;
    }
  }
  pthread_mutex_unlock(&c->lock);
  return copy;
}

/* A deep copy of src into *dst; false when memory ran out (*dst freed and
 * zeroed then). */
static bool result_copy(struct store_result *dst,
                        const struct store_result *src)
{
  bool ok = true;

  *dst = *src;
  dst->identifier = dup_or_null(src->identifier, &ok);
  dst->response = dup_or_null(src->response, &ok);
  dst->reason = dup_or_null(src->reason, &ok);
  dst->completion_uri = dup_or_null(src->completion_uri, &ok);
  dst->requestor = NULL;
  dst->receipt = dup_bytes(src->receipt, src->receipt_len, &ok);
  dst->verification = NULL;
  dst->verification_count = 0;
  ok = ok && dup_list((const char *const *)src->verification,
                      src->verification_count, dst);
  if (!ok)
    store_result_free(dst);
  return ok;
}

bool txcache_result(struct txcache *c, const char *tx, int64_t requestor_id,
                    struct store_result *out)
{
  bool hit = false;
  struct entry *e;

  memset(out, 0, sizeof *out);
  pthread_mutex_lock(&c->lock);
  e = find(c, tx);
  if (e != NULL && e->result.status == 200 &&
      e->result.requestor_id == requestor_id) {
    hit = result_copy(out, &e->result);
    if (hit)
      c->hits++;
  }
  pthread_mutex_unlock(&c->lock);
  return hit;
}

/* *v, read under the cache's lock. */
static uint64_t read_locked(struct txcache *c, const uint64_t *v)
{
  uint64_t value;

  pthread_mutex_lock(&c->lock);
  value = *v;
  pthread_mutex_unlock(&c->lock);
  return value;
}

uint64_t txcache_seq(struct txcache *c)
{
  return read_locked(c, &c->seq);
}

/* The pending item for e; false when memory ran out. */
static bool pending_item(struct store_pending *p, const struct entry *e)
{
  bool ok = true;

  memcpy(p->transaction, e->result.transaction, sizeof p->transaction);
  memcpy(p->from, e->from, sizeof p->from);
  p->type = dup_or_null(e->type, &ok);
  p->issued = e->issued;
  p->expires = e->result.expires;
  p->request_xml = dup_or_null(e->request_xml, &ok);
  p->unlisted = true;
  return ok;
}

/* True when the ring still names every creation after since. Lock
 * held. */
static bool ring_reaches(const struct txcache *c, uint64_t since)
{
  return c->seq - since <= RING_LEN;
}

/* The ring's record of creation number s (since < s <= c->seq, with
 * ring_reaches(c, since)), or NULL when its slot has been taken by a newer
 * entry since (or it was dropped). Lock held. */
static const struct found *created_locked(const struct txcache *c, uint64_t s)
{
  const struct found *r = &c->ring[s % RING_LEN];

  return r->seq == s && c->slots[r->slot].seq == s ? r : NULL;
}

/* The entries of account created after since, oldest first, at most
 * `room` of them, into found; returns how many there are (which may
 * exceed room), or SIZE_MAX when that cannot be told: more creations
 * since then than the ring remembers. A creation whose slot was taken
 * by a newer one since is not counted (the caller then finds too few).
 * Lock held. */
static size_t since_locked(const struct txcache *c, const char *account,
                           uint64_t since, struct found *found, size_t room)
{
  size_t n = 0;

  if (!ring_reaches(c, since))
    return SIZE_MAX;
  for (uint64_t s = since + 1; s <= c->seq; s++) {
    const struct found *r = created_locked(c, s);

    if (r != NULL && strcmp(c->slots[r->slot].account, account) == 0) {
      if (n < room)
        found[n] = *r;
      n++;
    }
  }
  return n;
}

static struct known *known_of(struct txcache *c, int64_t account_id)
{
  return &c->known[(uint64_t)account_id % KNOWN_SLOTS];
}

/* From now on, the account's pending transactions are those of its
 * entries created after base_seq that this process has not seen
 * answered. Lock held. */
static void learn_locked(struct txcache *c, int64_t account_id,
                         uint64_t base_seq, uint64_t live)
{
  struct known *k = known_of(c, account_id);
  int64_t read_ms = k->valid && k->account == account_id ? k->read_ms : 0;

  k->valid = true;
  k->account = account_id;
  k->at_events = k->events;
  k->at_epoch = c->epoch;
  k->live = live;
  k->base_seq = base_seq;
  k->read_ms = read_ms;
}

bool txcache_pending(struct txcache *c, int64_t account_id, const char *account,
                     uint64_t since, int fires, time_t now, size_t max,
                     uint64_t live_generation, struct store_pending_list *out)
{
  struct found *found;
  bool ok = true;

  memset(out, 0, sizeof *out);
  if (fires <= 0 || max == 0)
    return false;
  found = calloc((size_t)fires, sizeof *found);
  out->items = calloc((size_t)fires, sizeof *out->items);
  if (found == NULL || out->items == NULL) {
    free(found);
    store_pending_list_free(out);
    return false;
  }
  pthread_mutex_lock(&c->lock);
  if (since_locked(c, account, since, found, (size_t)fires) == (size_t)fires) {
    for (int i = 0; i < fires && ok && out->count < max; i++) {
      const struct entry *e = &c->slots[found[i].slot];

      if (e->result.status != 202 || e->result.expires <= now)
        continue;
      ok = pending_item(&out->items[out->count], e);
      out->count++;
    }
    if (ok && out->count > 0) {
      c->hits++;
      learn_locked(c, account_id, since, live_generation);
    }
  }
  pthread_mutex_unlock(&c->lock);
  free(found);
  if (!ok || out->count == 0) {
    store_pending_list_free(out);
    return false;
  }
  return true;
}

uint64_t txcache_account_events(struct txcache *c, int64_t account_id)
{
  return read_locked(c, &known_of(c, account_id)->events);
}

void txcache_key(struct txcache *c, const char *key)
{
  static const char prefix[] = "account:";
  char *end = NULL;
  long long id;

  if (strcmp(key, "*") == 0) {
    pthread_mutex_lock(&c->lock);
    c->epoch++;
    pthread_mutex_unlock(&c->lock);
    return;
  }
  if (strncmp(key, prefix, sizeof prefix - 1) != 0)
    return;
  id = strtoll(key + sizeof prefix - 1, &end, 10);
  pthread_mutex_lock(&c->lock);
  if (end == NULL || *end != '\0' || end == key + sizeof prefix - 1)
    c->epoch++; /* not an id we know how to read: forget everything */
  else
    known_of(c, id)->events++;
  pthread_mutex_unlock(&c->lock);
}

void txcache_note_empty(struct txcache *c, int64_t account_id, uint64_t events,
                        uint64_t live_generation, int64_t now_ms)
{
  struct known *k;

  pthread_mutex_lock(&c->lock);
  k = known_of(c, account_id);
  if (k->events == events) {
    learn_locked(c, account_id, c->seq, live_generation);
    k->read_ms = now_ms;
  }
  pthread_mutex_unlock(&c->lock);
}

/* True when every entry of account created after since was answered by
 * this process (none at all is fine); false when that cannot be told: the
 * ring does not reach back that far, or a slot was taken by a newer
 * entry since (whose account the older one was is then unknown). Lock
 * held. */
static bool all_answered_locked(const struct txcache *c, const char *account,
                                uint64_t since)
{
  if (!ring_reaches(c, since))
    return false;
  for (uint64_t s = since + 1; s <= c->seq; s++) {
    const struct found *r = created_locked(c, s);
    const struct entry *e = r != NULL ? &c->slots[r->slot] : NULL;

    if (e == NULL ||
        (strcmp(e->account, account) == 0 && e->result.status != 200))
      return false;
  }
  return true;
}

bool txcache_known_empty(struct txcache *c, int64_t account_id,
                         const char *account, uint64_t live_generation,
                         int64_t now_ms)
{
  bool empty;
  const struct known *k;

  pthread_mutex_lock(&c->lock);
  k = known_of(c, account_id);
  empty = k->valid && k->account == account_id && k->at_events == k->events &&
          k->at_epoch == c->epoch && k->live == live_generation &&
          k->read_ms > 0 && now_ms - k->read_ms < TXCACHE_KNOWN_MS &&
          all_answered_locked(c, account, k->base_seq);
  if (empty)
    c->hits++;
  pthread_mutex_unlock(&c->lock);
  return empty;
}

uint64_t txcache_hits(struct txcache *c)
{
  return read_locked(c, &c->hits);
}
