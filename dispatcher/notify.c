/*
 * notify.c — long-poll waiters, the in-memory wake-up of this process's
 * commits, and the LISTEN thread that wakes them on the others'.
 *
 * Waiters live in a hash table keyed by their wake-up key and in one list
 * ordered by nothing in particular that the thread scans for deadlines
 * (every 50 ms; a deadline needs no better precision). One mutex guards
 * both: waking is rare compared with the work a woken request does.
 *
 * Lost wake-ups are prevented by the arm → query → suspend order (http.h):
 * a notification that arrives after arming sets `fired`, and
 * notify_suspend() refuses to suspend a fired waiter.
 */
#include "notify.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "authcache.h"
#include "notify_send.h"
#include "owcp/service/log.h"
#include "owcp/util.h"
#include "store.h"

#define BUCKETS 4096
#define KEY_MAX 96
#define TICK_MS 50

struct waiter {
  char key[KEY_MAX];
  struct MHD_Connection *con;
  int64_t deadline_ms;
  bool fired;
  /* Since the last arming: the commits of this process that fired it, and
   * whether anything else did (notify_local_fires()). */
  unsigned local_fires;
  bool other_fire;
  bool suspended;
  atomic_bool expired;
  struct waiter *bucket_next, **bucket_prev;
  struct waiter *all_next, **all_prev;
};

struct notify {
  char *conninfo;
  struct authcache *auth; /* borrowed */
  notify_observe_fn observe;
  void *observe_arg; /* borrowed */
  struct notify_sender *sender;
  char origin[NOTIFY_ORIGIN_LEN + 1]; /* this process's batches */
  pthread_mutex_t lock;
  struct waiter *buckets[BUCKETS];
  struct waiter *all;
  pthread_t thread;
  atomic_bool stop;
};

int64_t notify_now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static size_t bucket_of(const char *key)
{
  return (size_t)(owcp_str_hash(key) % BUCKETS);
}

/* Resumes w if suspended; marks it fired either way, by a commit of this
 * process when local. Lock held. */
static void fire_locked(struct waiter *w, bool local)
{
  w->fired = true;
  if (local)
    w->local_fires++;
  else
    w->other_fire = true;
  if (w->suspended) {
    w->suspended = false;
    MHD_resume_connection(w->con);
  }
}

/* The payload the database sends when an authentication changed
 * (sql/dispatcher/009_auth_cache.sql). */
#define AUTH_PAYLOAD "auth"

/* The key that wakes every waiter (notify_send.h). */
#define ALL_KEY "*"

/* Fires every waiter for key; local: a commit of this process. */
static void wake_key(struct notify *n, const char *key, bool local)
{
  if (strcmp(key, ALL_KEY) == 0) {
    notify_wake_all(n); /* which tells the observer */
    return;
  }
  if (n->observe != NULL)
    n->observe(n->observe_arg, key);
  pthread_mutex_lock(&n->lock);
  for (struct waiter *w = n->buckets[bucket_of(key)]; w; w = w->bucket_next)
    if (strcmp(w->key, key) == 0)
      fire_locked(w, local);
  pthread_mutex_unlock(&n->lock);
}

static void on_key(struct notify *n, const char *key)
{
  if (strcmp(key, AUTH_PAYLOAD) == 0)
    authcache_flush(n->auth);
  else
    wake_key(n, key, false);
}

/* A batch "@<origin> <key> ..." (notify_send.h): another process's keys.
 * Our own were woken in memory when they committed. */
static void on_batch(struct notify *n, const char *payload)
{
  const char *p = payload + 1;
  size_t len = strcspn(p, " ");
  char key[KEY_MAX];

  if (len == NOTIFY_ORIGIN_LEN && memcmp(p, n->origin, len) == 0)
    return;
  for (p += len; *p != '\0'; p += len) {
    p += strspn(p, " ");
    len = strcspn(p, " ");
    if (len == 0)
      break;
    if (len >= sizeof key) {
      /* Not a key of ours: let every waiter look again. */
      notify_wake_all(n);
      continue;
    }
    memcpy(key, p, len);
    key[len] = '\0';
    on_key(n, key);
  }
}

static void on_payload(void *arg, const char *payload)
{
  struct notify *n = arg;

  if (payload[0] == '@')
    on_batch(n, payload);
  else
    on_key(n, payload);
}

void notify_committed(void *arg, const char *key)
{
  struct notify *n = arg;

  wake_key(n, key, true);
  notify_sender_queue(n->sender, key);
}

uint64_t notify_sent_batches(const struct notify *n)
{
  return notify_sender_batches(n->sender);
}

uint64_t notify_sent_keys(const struct notify *n)
{
  return notify_sender_keys(n->sender);
}

static void expire_due(struct notify *n)
{
  int64_t now = notify_now_ms();
  pthread_mutex_lock(&n->lock);
  for (struct waiter *w = n->all; w; w = w->all_next) {
    if (now >= w->deadline_ms && !atomic_load(&w->expired)) {
      atomic_store(&w->expired, true);
      fire_locked(w, false);
    }
  }
  pthread_mutex_unlock(&n->lock);
}

static void sleep_ms(int ms)
{
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static void *listen_thread(void *arg)
{
  struct notify *n = arg;
  struct store_listener *l = NULL;
  int backoff = 100;
  while (!atomic_load(&n->stop)) {
    struct owcp_error err = {{0}};
    if (l == NULL) {
      l = store_listener_open(n->conninfo, &err);
      if (l == NULL) {
        svc_log(SVC_LOG_WARN, "notify.listen", "%s", err.msg);
        expire_due(n);
        sleep_ms(backoff);
        backoff = backoff < 2000 ? backoff * 2 : 2000;
        continue;
      }
      backoff = 100;
      /* Anything that happened while we were not listening is unseen:
       * let every waiter look again, and trust no cached token. */
      authcache_set_live(n->auth, true);
      notify_wake_all(n);
    }
    int rc = store_listener_wait(l, TICK_MS, on_payload, n, &err);
    if (rc == STORE_UNAVAILABLE || rc < 0) {
      svc_log(SVC_LOG_WARN, "notify.listen", "%s", err.msg);
      authcache_set_live(n->auth, false);
      store_listener_close(l);
      l = NULL;
    }
    expire_due(n);
  }
  authcache_set_live(n->auth, false);
  store_listener_close(l);
  return NULL;
}

struct notify *notify_new(const char *conninfo, struct authcache *auth,
                          notify_observe_fn observe, void *observe_arg,
                          struct owcp_error *err)
{
  struct notify *n = calloc(1, sizeof *n);
  if (n == NULL || (n->conninfo = strdup(conninfo)) == NULL) {
    free(n);
    owcp_error_set(err, "out of memory");
    return NULL;
  }
  n->auth = auth;
  n->observe = observe;
  n->observe_arg = observe_arg;
  unsigned char id[NOTIFY_ORIGIN_LEN / 2];
  if (owcp_random_bytes(id, sizeof id) != 0) {
    free(n->conninfo);
    free(n);
    owcp_error_set(err, "no random bytes for the notify origin");
    return NULL;
  }
  owcp_hex_encode(id, sizeof id, n->origin);
  n->sender = notify_sender_new(conninfo, n->origin, err);
  if (n->sender == NULL) {
    free(n->conninfo);
    free(n);
    return NULL;
  }
  pthread_mutex_init(&n->lock, NULL);
  if (pthread_create(&n->thread, NULL, listen_thread, n) != 0) {
    notify_sender_free(n->sender);
    pthread_mutex_destroy(&n->lock);
    free(n->conninfo);
    free(n);
    owcp_error_set(err, "cannot start the LISTEN thread");
    return NULL;
  }
  return n;
}

void notify_wake_all(struct notify *n)
{
  if (n->observe != NULL)
    n->observe(n->observe_arg, ALL_KEY);
  pthread_mutex_lock(&n->lock);
  for (struct waiter *w = n->all; w; w = w->all_next)
    fire_locked(w, false);
  pthread_mutex_unlock(&n->lock);
}

void notify_free(struct notify *n)
{
  if (n == NULL)
    return;
  notify_wake_all(n);
  atomic_store(&n->stop, true);
  pthread_join(n->thread, NULL);
  notify_sender_free(n->sender);
  pthread_mutex_destroy(&n->lock);
  free(n->conninfo);
  free(n);
}

struct waiter *notify_watch(struct notify *n, const char *key,
                            struct MHD_Connection *con, int64_t deadline_ms)
{
  struct waiter *w = calloc(1, sizeof *w);
  if (w == NULL)
    return NULL;
  snprintf(w->key, sizeof w->key, "%s", key);
  w->con = con;
  w->deadline_ms = deadline_ms;
  atomic_init(&w->expired, notify_now_ms() >= deadline_ms);
  pthread_mutex_lock(&n->lock);
  struct waiter **b = &n->buckets[bucket_of(w->key)];
  w->bucket_next = *b;
  w->bucket_prev = b;
  if (*b)
    (*b)->bucket_prev = &w->bucket_next;
  *b = w;
  w->all_next = n->all;
  w->all_prev = &n->all;
  if (n->all)
    n->all->all_prev = &w->all_next;
  n->all = w;
  pthread_mutex_unlock(&n->lock);
  return w;
}

void notify_rearm(struct notify *n, struct waiter *w)
{
  pthread_mutex_lock(&n->lock);
  w->fired = false;
  w->local_fires = 0;
  w->other_fire = false;
  pthread_mutex_unlock(&n->lock);
}

int notify_local_fires(struct notify *n, const struct waiter *w)
{
  int fires;

  pthread_mutex_lock(&n->lock);
  fires = w->other_fire ? -1 : (int)w->local_fires;
  pthread_mutex_unlock(&n->lock);
  return fires;
}

bool notify_suspend(struct notify *n, struct waiter *w)
{
  pthread_mutex_lock(&n->lock);
  bool suspend = !w->fired && !atomic_load(&w->expired);
  if (suspend) {
    w->suspended = true;
    MHD_suspend_connection(w->con);
  }
  pthread_mutex_unlock(&n->lock);
  return suspend;
}

void notify_unwatch(struct notify *n, struct waiter *w)
{
  if (w == NULL)
    return;
  pthread_mutex_lock(&n->lock);
  *w->bucket_prev = w->bucket_next;
  if (w->bucket_next)
    w->bucket_next->bucket_prev = w->bucket_prev;
  *w->all_prev = w->all_next;
  if (w->all_next)
    w->all_next->all_prev = w->all_prev;
  pthread_mutex_unlock(&n->lock);
  free(w);
}

bool notify_expired(const struct waiter *w)
{
  return atomic_load(&w->expired);
}
