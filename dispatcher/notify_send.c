/*
 * notify_send.c — the notify sender thread (notify_send.h).
 *
 * The queue is one string of space-separated keys under the mutex; the
 * thread swaps it out, sorts and de-duplicates the keys, packs them into
 * payloads and sends them in one transaction. Queued keys are bounded:
 * past QUEUE_MAX bytes (the database refused the sender for a long time)
 * they are replaced by "*", which wakes every waiter of the other
 * processes — later than a precise wake-up, never wrong.
 */
#include "notify_send.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "owcp/service/log.h"
#include "store.h"

#define QUEUE_MAX ((size_t)256 * 1024)

/* PostgreSQL refuses a NOTIFY payload of 8000 bytes or more. */
#define PAYLOAD_MAX 7999

#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 2000

struct notify_sender {
  char *conninfo;
  char origin[NOTIFY_ORIGIN_LEN + 1];
  pthread_mutex_t lock;
  pthread_cond_t more;
  char *queue; /* space-separated keys, queue_len bytes, no NUL kept */
  size_t queue_len, queue_cap;
  bool queue_all; /* overflowed: send "*" */
  bool stop;
  pthread_t thread;
  struct store_sender *conn; /* the thread's */
  atomic_uint_fast64_t batches, keys;
};

/* A batch taken from the queue, owned by the thread. */
struct batch {
  char *text; /* space-separated keys, NUL-terminated */
  size_t len;
  bool all;
};

static void sleep_ms(int ms)
{
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

void notify_sender_queue(struct notify_sender *s, const char *key)
{
  size_t n = strlen(key);

  pthread_mutex_lock(&s->lock);
  if (!s->queue_all) {
    size_t need = s->queue_len + n + 1;
    if (need > QUEUE_MAX) {
      s->queue_all = true;
      s->queue_len = 0;
    } else if (need > s->queue_cap) {
      size_t cap = s->queue_cap ? s->queue_cap * 2 : 1024;
      while (cap < need)
        cap *= 2;
      char *grown = realloc(s->queue, cap);
      if (grown == NULL) {
        s->queue_all = true;
        s->queue_len = 0;
      } else {
        s->queue = grown;
        s->queue_cap = cap;
      }
    }
    if (!s->queue_all) {
      if (s->queue_len > 0)
        s->queue[s->queue_len++] = ' ';
      memcpy(s->queue + s->queue_len, key, n);
      s->queue_len += n;
    }
  }
  pthread_cond_signal(&s->more);
  pthread_mutex_unlock(&s->lock);
}

/* Moves the queue into b (lock held). False when there is nothing. */
static bool take_locked(struct notify_sender *s, struct batch *b)
{
  if (s->queue_len == 0 && !s->queue_all)
    return false;
  b->all = s->queue_all;
  b->len = 0;
  b->text = NULL;
  if (!b->all) {
    b->text = malloc(s->queue_len + 1);
    if (b->text == NULL) {
      b->all = true;
    } else {
      memcpy(b->text, s->queue, s->queue_len);
      b->text[s->queue_len] = '\0';
      b->len = s->queue_len;
    }
  }
  s->queue_len = 0;
  s->queue_all = false;
  return true;
}

static int key_cmp(const void *a, const void *b)
{
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Splits b's keys in place into a sorted array; *count keys. NULL when
 * out of memory. */
static char **sorted_keys(struct batch *b, size_t *count)
{
  size_t cap = 1;
  for (size_t i = 0; i < b->len; i++)
    cap += b->text[i] == ' ';
  char **keys = calloc(cap, sizeof *keys);
  if (keys == NULL)
    return NULL;
  size_t n = 0;
  char *save = NULL;
  for (char *k = strtok_r(b->text, " ", &save); k != NULL;
       k = strtok_r(NULL, " ", &save))
    keys[n++] = k;
  qsort(keys, n, sizeof *keys, key_cmp);
  *count = n;
  return keys;
}

/* Appends text to out (out_len bytes so far, room for it checked by the
 * caller). */
static void put(char *out, size_t *out_len, const char *text, size_t n)
{
  memcpy(out + *out_len, text, n);
  *out_len += n;
}

/* The '\n'-separated payloads of batch b, each "@origin key key ..." under
 * PAYLOAD_MAX bytes, distinct keys once; *nkeys gets how many. Caller
 * frees. NULL when out of memory. */
static char *payloads_of(const struct notify_sender *s, struct batch *b,
                         uint64_t *nkeys)
{
  size_t count = 0;
  char **keys = NULL;
  static char *const all[] = {"*"};

  if (!b->all && (keys = sorted_keys(b, &count)) == NULL)
    return NULL;
  char *const *list = b->all ? all : keys;
  if (b->all)
    count = 1;
  /* Worst case: every key on a line of its own. */
  size_t cap = b->len + count * (NOTIFY_ORIGIN_LEN + 3) + 8;
  char *out = malloc(cap);
  size_t out_len = 0, line_len = 0;
  *nkeys = 0;
  for (size_t i = 0; out != NULL && i < count; i++) {
    size_t n = strlen(list[i]);
    if (i > 0 && strcmp(list[i], list[i - 1]) == 0)
      continue;
    if (line_len > 0 && line_len + 1 + n > PAYLOAD_MAX) {
      put(out, &out_len, "\n", 1);
      line_len = 0;
    }
    if (line_len == 0) {
      size_t at = out_len;
      put(out, &out_len, "@", 1);
      put(out, &out_len, s->origin, NOTIFY_ORIGIN_LEN);
      line_len = out_len - at;
    }
    put(out, &out_len, " ", 1);
    put(out, &out_len, list[i], n);
    line_len += n + 1;
    (*nkeys)++;
  }
  if (out != NULL)
    out[out_len] = '\0';
  free(keys);
  return out;
}

/* Sends payloads, reconnecting and resending until it is done or the
 * process stops (once only when it is stopping). True once sent. */
static bool send_until_done(struct notify_sender *s, const char *payloads)
{
  char app[64];
  int backoff = BACKOFF_MIN_MS;

  snprintf(app, sizeof app, "owcp-dispatcher notify %ld", (long)getpid());
  for (;;) {
    struct owcp_error err = {{0}};
    if (s->conn == NULL)
      s->conn = store_sender_open(s->conninfo, app, &err);
    if (s->conn != NULL) {
      if (store_sender_send(s->conn, payloads, &err) == 0)
        return true;
      store_sender_close(s->conn);
      s->conn = NULL;
    }
    svc_log(SVC_LOG_WARN, "notify.send", "%s; sending again", err.msg);
    pthread_mutex_lock(&s->lock);
    bool stop = s->stop;
    pthread_mutex_unlock(&s->lock);
    if (stop)
      return false;
    sleep_ms(backoff);
    backoff = backoff < BACKOFF_MAX_MS ? backoff * 2 : BACKOFF_MAX_MS;
  }
}

static void send_batch(struct notify_sender *s, struct batch *b)
{
  uint64_t nkeys = 0;
  char *payloads = payloads_of(s, b, &nkeys);

  if (payloads == NULL) {
    svc_log(SVC_LOG_WARN, "notify.send",
            "out of memory: %zu bytes of wake-up keys not sent", b->len);
    return;
  }
  if (send_until_done(s, payloads)) {
    atomic_fetch_add(&s->batches, 1);
    atomic_fetch_add(&s->keys, nkeys);
  }
  free(payloads);
}

static void *sender_thread(void *arg)
{
  struct notify_sender *s = arg;
  struct batch b;

  pthread_mutex_lock(&s->lock);
  for (;;) {
    while (!s->stop && s->queue_len == 0 && !s->queue_all)
      pthread_cond_wait(&s->more, &s->lock);
    bool stop = s->stop;
    bool have = take_locked(s, &b);
    pthread_mutex_unlock(&s->lock);
    if (have) {
      send_batch(s, &b);
      free(b.text);
    }
    if (stop)
      break;
    pthread_mutex_lock(&s->lock);
  }
  store_sender_close(s->conn);
  s->conn = NULL;
  return NULL;
}

struct notify_sender *notify_sender_new(const char *conninfo,
                                        const char *origin,
                                        struct owcp_error *err)
{
  struct notify_sender *s = calloc(1, sizeof *s);

  if (s == NULL || (s->conninfo = strdup(conninfo)) == NULL) {
    free(s);
    owcp_error_set(err, "out of memory for the notify sender");
    return NULL;
  }
  snprintf(s->origin, sizeof s->origin, "%s", origin);
  pthread_mutex_init(&s->lock, NULL);
  pthread_cond_init(&s->more, NULL);
  if (pthread_create(&s->thread, NULL, sender_thread, s) != 0) {
    pthread_cond_destroy(&s->more);
    pthread_mutex_destroy(&s->lock);
    free(s->conninfo);
    free(s);
    owcp_error_set(err, "cannot start the notify sender thread");
    return NULL;
  }
  return s;
}

void notify_sender_free(struct notify_sender *s)
{
  if (s == NULL)
    return;
  pthread_mutex_lock(&s->lock);
  s->stop = true;
  pthread_cond_signal(&s->more);
  pthread_mutex_unlock(&s->lock);
  pthread_join(s->thread, NULL);
  pthread_cond_destroy(&s->more);
  pthread_mutex_destroy(&s->lock);
  free(s->queue);
  free(s->conninfo);
  free(s);
}

uint64_t notify_sender_batches(const struct notify_sender *s)
{
  return atomic_load(&s->batches);
}

uint64_t notify_sender_keys(const struct notify_sender *s)
{
  return atomic_load(&s->keys);
}
