/*
 * log_head.c — the dispatcher's signed log heads (log_head.h) and
 * GET {base}/Log-Head, which serves the newest one. Public by design, like
 * GET {base}/CA: a head discloses only a position and a hash.
 */
#include "log_head.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "loghead.h"
#include "logchain.h"
#include "ops.h"
#include "owcp/service/log.h"

#define LOG_HEAD_ACQUIRE_WAIT_MS 2000

int log_head_init(struct dispatcher *d, struct owcp_error *err)
{
  if (pthread_mutex_init(&d->log_head_lock, NULL) != 0) {
    owcp_error_set(err, "cannot initialise the log head lock");
    return -1;
  }
  d->log_head_ready = true;
  return 0;
}

void log_head_fini(struct dispatcher *d)
{
  if (!d->log_head_ready)
    return;
  pthread_mutex_destroy(&d->log_head_lock);
  free(d->log_head);
  d->log_head = NULL;
  d->log_head_ready = false;
}

/* Makes doc (taken over) the newest head served. */
static void keep_newest(struct dispatcher *d, char *doc)
{
  char *old;

  pthread_mutex_lock(&d->log_head_lock);
  old = d->log_head;
  d->log_head = doc;
  pthread_mutex_unlock(&d->log_head_lock);
  free(old);
}

int log_head_sign(struct dispatcher *d, struct store *st,
                  struct owcp_error *err)
{
  unsigned char hash[OWCP_SHA256_LEN];
  char path[PATH_MAX];
  int64_t pos;
  char *doc;
  int rc = store_chain_tip(st, &pos, hash, err);

  if (rc != 0)
    return rc;
  if (dispatcher_log_head_path(&d->cfg, path, sizeof path, err) != 0)
    return -1;
  doc = loghead_sign(d->keys.sign_key, d->keys.sign_cert, pos, hash, time(NULL),
                     err);
  if (doc == NULL)
    return -1;
  /* Appended before it is served: a head anyone saw is in the file. */
  rc = loghead_append(path, doc, err);
  if (rc != 0) {
    free(doc);
    return rc;
  }
  svc_log(SVC_LOG_DEBUG, "log.head", "signed position %lld", (long long)pos);
  keep_newest(d, doc);
  return 0;
}

void log_head_final(struct dispatcher *d)
{
  struct owcp_error err = {{0}};
  struct store *st = NULL;
  int rc;

  if (d->pool == NULL || !d->log_head_ready || d->keys.sign_key == NULL)
    return;
  rc = store_pool_acquire(d->pool, LOG_HEAD_ACQUIRE_WAIT_MS, &st, &err);
  if (rc == 0)
    rc = logchain_seal_all(st, &err);
  if (rc == 0)
    rc = log_head_sign(d, st, &err);
  if (st != NULL)
    store_pool_release(d->pool, st);
  if (rc != 0)
    svc_log(SVC_LOG_ERROR, "log.head", "no final log head: %s", err.msg);
}

enum MHD_Result log_head_get(struct request *r)
{
  struct dispatcher *d = r->d;
  enum MHD_Result ret;

  pthread_mutex_lock(&d->log_head_lock);
  if (d->log_head == NULL) {
    pthread_mutex_unlock(&d->log_head_lock);
    return http_reply_error(r, OWCP_UNAVAILABLE,
                            "No log head has been signed yet.");
  }
  ret = http_reply_raw(r, OWCP_OK, "application/json", d->log_head,
                       strlen(d->log_head));
  pthread_mutex_unlock(&d->log_head_lock);
  return ret;
}
