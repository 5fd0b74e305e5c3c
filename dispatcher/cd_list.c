/*
 * cd_list.c — CD-List (spec §5): the confirmation requests waiting for the
 * calling client's account, oldest first, optionally held open (long poll)
 * until one arrives or the wait ends.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "authcache.h"
#include "listed.h"
#include "notify.h"
#include "ops.h"
#include "owcp/service/log.h"
#include "txcache.h"

/* Spec §5 leaves Max's default open; 100 keeps one reply well under the
 * body limits a client is likely to use even with large requests. */
#define CD_LIST_MAX_DEFAULT 100

const struct owcp_param_spec cd_list_params[] = {
    OWCP_PARAM_INT("Wait", struct cd_list_in, wait, OWCP_DEFAULT(0), 0,
                   OPS_WAIT_MAX),
    OWCP_PARAM_INT("Max", struct cd_list_in, max,
                   OWCP_DEFAULT(CD_LIST_MAX_DEFAULT), 1, OPS_LIST_MAX),
    OWCP_PARAM_END};

/* Wait in seconds after the operator's cap (spec §2: configurable). */
static int effective_wait(const struct request *r)
{
  const struct cd_list_in *in = r->in;
  int64_t cap = r->d->cfg.max_wait > 0 ? r->d->cfg.max_wait : 0;

  return (int)(in->wait < cap ? in->wait : cap);
}

/* One Pending entry; NULL when memory ran out. */
static json_t *pending_json(const struct store_pending *p)
{
  char issued[OWCP_TIME_LEN], expires[OWCP_TIME_LEN];

  owcp_time_format(p->issued, issued);
  owcp_time_format(p->expires, expires);
  return json_pack("{s:s, s:s, s:s?, s:s, s:s, s:s}", "Transaction",
                   p->transaction, "From", p->from, "Type", p->type, "Issued",
                   issued, "Expires", expires, "Request", p->request_xml);
}

/* The 200 reply for list (empty allowed). */
static enum MHD_Result reply_list(struct request *r,
                                  const struct store_pending_list *list)
{
  json_t *items = json_array();
  json_t *fields;

  for (size_t i = 0; items != NULL && i < list->count; i++) {
    if (json_array_append_new(items, pending_json(&list->items[i])) != 0) {
      json_decref(items);
      items = NULL;
    }
  }
  fields = items != NULL ? json_pack("{s:o}", "Pending", items) : NULL;
  if (fields == NULL)
    return http_reply_error(r, 500, "out of memory building the reply");
  return http_reply(r, 200, fields);
}

/* Hands the first deliveries of list to the listing writer (listed.h),
 * stamped now. Out of memory loses only those listings, as a crash could
 * (owcp_reply() records a missing one before the answer). */
static void note_listed(struct request *r,
                        const struct store_pending_list *list)
{
  struct store_listed *items;
  struct timespec now;
  size_t n = 0;

  if (list->count == 0)
    return;
  items = calloc(list->count, sizeof *items);
  if (items == NULL) {
    svc_log(SVC_LOG_WARN, "listed.failed",
            "out of memory queueing %zu listings", list->count);
    return;
  }
  clock_gettime(CLOCK_REALTIME, &now);
  for (size_t i = 0; i < list->count; i++) {
    if (!list->items[i].unlisted)
      continue;
    memcpy(items[n].transaction, list->items[i].transaction,
           sizeof items[n].transaction);
    memcpy(items[n].client, r->client.id, sizeof items[n].client);
    items[n].at_us = (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
    n++;
  }
  listed_note(r->d->listed, r->st, items, n);
  free(items);
}

/* What a long poll keeps across its suspensions (the request's op). */
struct cd_list_state {
  uint64_t since; /* txcache_seq() when the poll was last armed */
};

/* The state of r's long poll, made on first use; NULL when memory ran out
 * (the poll then always reads the database). */
static struct cd_list_state *list_state(struct request *r)
{
  if (r->op == NULL) {
    r->op = calloc(1, sizeof(struct cd_list_state));
    r->op_free = free;
  }
  return r->op;
}

/* Pending transactions of a poll woken only by RD-Confirms of this
 * process, from memory (txcache_pending() says when that is exact). The
 * client must still be authenticated as it was when the poll began: a
 * revocation since then empties the token cache, and the database read,
 * which checks the client, answers instead. Call before re-arming. */
static bool woken_from_memory(struct request *r, struct store_pending_list *out)
{
  const struct cd_list_in *in = r->in;
  const struct cd_list_state *s = r->op;
  struct store_client now;
  uint64_t live;
  int fires;

  if (r->waiter == NULL || s == NULL ||
      !authcache_live_generation(r->d->auth, &live))
    return false;
  fires = notify_local_fires(r->d->notify, r->waiter);
  if (fires <= 0 ||
      !authcache_get_client(r->d->auth, r->client.token_hash, &now) ||
      strcmp(now.id, r->client.id) != 0)
    return false;
  return txcache_pending(r->d->txs, r->client.account_id, r->client.account,
                         s->since, fires, time(NULL), (size_t)in->max, live,
                         out);
}

/* True when the account is known to have nothing pending (txcache.h), so
 * that an armed poll may wait without a first read. */
static bool known_empty(struct request *r)
{
  uint64_t live;

  return authcache_live_generation(r->d->auth, &live) &&
         txcache_known_empty(r->d->txs, r->client.account_id, r->client.account,
                             live, notify_now_ms());
}

/* CD-List's database read; when it finds nothing, that is what the
 * transaction cache knows of the account from now on. */
static int read_pending(struct request *r, struct store_pending_list *list,
                        struct owcp_error *err)
{
  const struct cd_list_in *in = r->in;
  uint64_t live = 0;
  bool is_live = authcache_live_generation(r->d->auth, &live);
  uint64_t events = txcache_account_events(r->d->txs, r->client.account_id);
  int rc = store_list(r->st, r->client.id, (int)in->max, 0, list, err);

  if (rc == 0 && list->count == 0 && is_live)
    txcache_note_empty(r->d->txs, r->client.account_id, events, live,
                       notify_now_ms());
  return rc;
}

/* Arms the long poll when an empty answer may be held open: a wait was
 * asked for, an earlier arming's deadline has not passed, and the process
 * is not shutting down (shutdown wakes every long poll to answer now).
 * Armed before the query, so that a transaction committed between the
 * query and the suspension still wakes us (http.h). Returns whether a
 * waiter is armed; when none could be registered we answer at once rather
 * than have http_longpoll_suspend() re-run us in a loop. */
static bool arm_if_waiting(struct request *r)
{
  int wait = effective_wait(r);
  char key[32];

  if (wait <= 0 || atomic_load(&r->d->stopping))
    return false;
  /* http_longpoll_expired() is also true before the first arming. */
  if (r->waiter != NULL && http_longpoll_expired(r))
    return false;
  snprintf(key, sizeof key, "account:%" PRId64, r->client.account_id);
  struct cd_list_state *s = list_state(r);
  if (s != NULL)
    s->since = txcache_seq(r->d->txs);
  http_longpoll_arm(r, key, wait);
  return r->waiter != NULL;
}

enum MHD_Result cd_list(struct request *r)
{
  struct store_pending_list list = {0};
  struct owcp_error err = {{0}};
  enum MHD_Result ret;
  bool from_memory = woken_from_memory(r, &list);
  bool may_wait = arm_if_waiting(r);
  int rc = 0;

  if (r->longpoll_refused) {
    store_pending_list_free(&list);
    return http_reply_longpoll_refused(r);
  }
  if (!from_memory && may_wait && known_empty(r))
    return http_longpoll_suspend(r);
  if (!from_memory)
    rc = read_pending(r, &list, &err);
  if (rc != 0)
    return http_reply_store_error(r, rc, &err);
  if (list.count == 0 && may_wait)
    ret = http_longpoll_suspend(r);
  else {
    ret = reply_list(r, &list);
    note_listed(r, &list);
  }
  store_pending_list_free(&list);
  return ret;
}
