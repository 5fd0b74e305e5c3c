/*
 * rd_status.c — RD-Status (binding §4): the requestor asks how one of its
 * transactions ended, optionally holding the request open (Wait) until the
 * transaction is answered, expires or is cancelled.
 *
 * The long poll costs no database query while it waits: the handler arms a
 * waiter on "tx:<id>" before querying (so a NOTIFY that lands between the
 * query and the suspension still wakes it), and is run again by http.c on
 * a notification, at the deadline, or at shutdown.
 */
#include "ops.h"
#include "txcache.h"

#include <stdio.h>

const struct owcp_param_spec rd_status_params[] = {
    OWCP_PARAM_STRING("Transaction", struct rd_status_in, transaction,
                      OWCP_REQUIRED, OPS_ID_MAX),
    OWCP_PARAM_INT("Wait", struct rd_status_in, wait, OWCP_DEFAULT(0), 0,
                   OPS_WAIT_MAX),
    OWCP_PARAM_END};

/* Wait, clamped to the operator's cap. */
static int effective_wait(const struct dispatcher_config *cfg,
                          const struct rd_status_in *in)
{
  int64_t w = in->wait;

  if (w > cfg->max_wait)
    w = cfg->max_wait;
  return w > 0 ? (int)w : 0;
}

/* Arms the long poll when this call may still wait: Wait was asked for,
 * the deadline of an earlier arming has not passed and we are not shutting
 * down. Returns whether a waiter is armed. */
static bool arm_if_waiting(struct request *r, const struct rd_status_in *in)
{
  int wait = effective_wait(&r->d->cfg, in);
  char key[4 + STORE_ID_MAX];

  if (wait == 0 || atomic_load(&r->d->stopping))
    return false;
  /* http_longpoll_expired() is also true before the first arming. */
  if (r->waiter != NULL && http_longpoll_expired(r))
    return false;
  snprintf(key, sizeof key, "tx:%s", in->transaction);
  http_longpoll_arm(r, key, wait);
  /* No waiter means it could not be registered: answer now rather than
   * have http_longpoll_suspend() re-run us in a loop. */
  return r->waiter != NULL;
}

/* The reply for a transaction that has not been answered. */
static enum MHD_Result reply_unanswered(struct request *r, int status,
                                        const struct store_result *res)
{
  char expires[OWCP_TIME_LEN];
  json_t *fields = http_result_fields(res);

  if (fields == NULL)
    return MHD_NO;
  owcp_time_format(res->expires, expires);
  if (json_object_set_new(fields, "Expires", json_string(expires)) != 0 ||
      (status == OWCP_TIMEOUT &&
       json_object_set_new(fields, "Error",
                           json_string("The transaction expired or was "
                                       "cancelled before it was "
                                       "answered.")) != 0)) {
    json_decref(fields);
    return MHD_NO;
  }
  return http_reply(r, status, fields);
}

enum MHD_Result rd_status(struct request *r)
{
  const struct rd_status_in *in = r->in;
  struct store_result res = {0};
  struct owcp_error err = {{0}};
  enum MHD_Result ret;

  bool waiting = arm_if_waiting(r, in);
  if (r->longpoll_refused)
    return http_reply_longpoll_refused(r);
  /* An answer committed by this process is final: no read needed. */
  int rc = 0;
  if (!txcache_result(r->d->txs, in->transaction, r->requestor.id, &res))
    rc = store_status(r->st, r->requestor.id, in->transaction, 0, &res, &err);
  if (rc != 0)
    return http_reply_store_error(r, rc, &err);

  switch (res.status) {
  case OWCP_INCOMPLETE:
    ret = waiting ? http_longpoll_suspend(r)
                  : reply_unanswered(r, OWCP_INCOMPLETE, &res);
    break;
  case OWCP_TIMEOUT:
    ret = reply_unanswered(r, OWCP_TIMEOUT, &res);
    break;
  default:
    ret = http_reply_tx_result(r, &res);
    break;
  }
  store_result_free(&res);
  return ret;
}
