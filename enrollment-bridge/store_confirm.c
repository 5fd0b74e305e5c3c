/*
 * store_confirm.c — store.h's confirmations: recorded when sent, read
 * back (also by a restarted bridge) with the exact request bytes, and
 * decided once (bridge_confirmation_decide, which also caches the
 * approval of an Accept under confirm = cached).
 */
#include "store_internal.h"

#include <stdlib.h>
#include <string.h>

/* The columns of a struct bridge_confirmation, in confirmation_fill's
 * order. */
#define CONFIRM_COLUMNS                                                        \
  "front, account, scope, transaction, request, state, receipt, "              \
  "reason, " BS_EPOCH("created_at") ", " BS_EPOCH(                             \
      "expires_at") ", "                                                       \
                    "coalesce(" BS_EPOCH("decided_at") ", 0)"

static const struct bstore_stmt stmt_record = {
    BS_CONFIRM_RECORD, "bridge_confirm_record",
    "INSERT INTO confirmations (front, account, scope, transaction, request, "
    "expires_at, created_at) VALUES ($1, $2, $3, $4, $5, " BS_TS(6) ", " BS_NOW(
        7) ")"};

static const struct bstore_stmt stmt_get = {
    BS_CONFIRM_GET, "bridge_confirm_get",
    "SELECT " CONFIRM_COLUMNS " FROM confirmations WHERE transaction = $1"};

static const struct bstore_stmt stmt_pending = {
    BS_CONFIRM_PENDING, "bridge_confirm_pending",
    "SELECT " CONFIRM_COLUMNS " FROM confirmations WHERE state = 'pending' "
    "AND ($1::text IS NULL OR front = $1) ORDER BY created_at, id LIMIT $2"};

static const struct bstore_stmt stmt_decide = {
    BS_CONFIRM_DECIDE, "bridge_confirm_decide",
    "SELECT o_status, o_state FROM bridge_confirmation_decide($1, $2, $3, "
    "$4, $5, " BS_TS(6) ")"};

/* Pending ones: while their question is open (their own expiry bounds
 * them); accepted ones: within the window and not yet handed out. */
static const struct bstore_stmt stmt_retry = {
    BS_CONFIRM_RETRY, "bridge_confirm_retry",
    "SELECT " CONFIRM_COLUMNS " FROM confirmations c "
    "WHERE c.front = $1 AND c.account = $2 AND c.scope = $3 AND "
    "((c.state = 'pending' AND c.expires_at > " BS_NOW(
        5) ") OR "
           "(c.state = 'accepted' AND c.decided_at <= " BS_NOW(
               5) " AND "
                  "c.decided_at > " BS_NOW(
                      5) " - make_interval(mins => $4::integer) AND "
                         "NOT EXISTS (SELECT 1 FROM issuances i WHERE "
                         "i.confirmation_id = c.id))) "
                         "ORDER BY c.created_at DESC, c.id DESC LIMIT 1"};

const struct bstore_stmt *const bstore_confirm_statements[] = {
    &stmt_record, &stmt_get, &stmt_pending, &stmt_decide, &stmt_retry, NULL};

int bridge_store_confirm_record(struct bridge_store *st,
                                const struct bridge_confirm_new *in,
                                struct owcp_error *err)
{
  struct svc_pg_params p = {0};
  PGresult *res;
  int rc;

  svc_pg_param_text(&p, in->front);
  svc_pg_param_text(&p, in->account);
  svc_pg_param_text(&p, in->scope);
  svc_pg_param_text(&p, in->transaction);
  svc_pg_param_bin(&p, in->request, in->request_len);
  svc_pg_param_int(&p, (int64_t)in->expires);
  svc_pg_param_time(&p, in->now);
  rc = bstore_run(st, &stmt_record, &p, &res, err);
  PQclear(res);
  return rc;
}

void bridge_confirmation_free(struct bridge_confirmation *c)
{
  if (c == NULL)
    return;
  free(c->scope);
  free(c->request);
  free(c->receipt);
  free(c->reason);
  memset(c, 0, sizeof *c);
}

void bridge_confirmation_list_free(struct bridge_confirmation_list *list)
{
  if (list == NULL)
    return;
  for (size_t i = 0; i < list->count; i++)
    bridge_confirmation_free(&list->items[i]);
  free(list->items);
  list->items = NULL;
  list->count = 0;
}

static int confirmation_fill(const PGresult *res, int i, void *item,
                             struct owcp_error *err)
{
  struct bridge_confirmation *c = item;

  c->created = (time_t)svc_pg_get_int(res, i, 8);
  c->expires = (time_t)svc_pg_get_int(res, i, 9);
  c->decided = (time_t)svc_pg_get_int(res, i, 10);
  if (svc_pg_get_fixed(res, i, 0, c->front, sizeof c->front, err) ||
      svc_pg_get_fixed(res, i, 1, c->account, sizeof c->account, err) ||
      svc_pg_get_dup(res, i, 2, &c->scope, err) ||
      svc_pg_get_fixed(res, i, 3, c->transaction, sizeof c->transaction, err) ||
      bstore_get_bytea_z(res, i, 4, &c->request, &c->request_len, err) ||
      svc_pg_get_fixed(res, i, 5, c->state, sizeof c->state, err) ||
      svc_pg_get_bytea(res, i, 6, &c->receipt, &c->receipt_len, err) ||
      svc_pg_get_dup(res, i, 7, &c->reason, err))
    return -1;
  return 0;
}

/* Runs a statement answering at most one confirmation row into *out. */
static int confirm_one(struct bridge_store *st, const struct bstore_stmt *s,
                       const struct svc_pg_params *p,
                       struct bridge_confirmation *out, bool *found,
                       struct owcp_error *err)
{
  PGresult *res;
  int rc;

  memset(out, 0, sizeof *out);
  *found = false;
  rc = bstore_run(st, s, p, &res, err);
  if (rc != 0)
    return rc;
  if (PQntuples(res) == 1) {
    rc = confirmation_fill(res, 0, out, err);
    if (rc != 0)
      bridge_confirmation_free(out);
    *found = rc == 0;
  }
  PQclear(res);
  return rc;
}

int bridge_store_confirm_retry(struct bridge_store *st, const char *front,
                               const char *account, const char *scope,
                               int window_minutes, time_t now,
                               struct bridge_confirmation *out, bool *found,
                               struct owcp_error *err)
{
  struct svc_pg_params p = {0};

  svc_pg_param_text(&p, front);
  svc_pg_param_text(&p, account);
  svc_pg_param_text(&p, scope);
  svc_pg_param_int(&p, window_minutes);
  svc_pg_param_time(&p, now);
  return confirm_one(st, &stmt_retry, &p, out, found, err);
}

int bridge_store_confirm_get(struct bridge_store *st, const char *transaction,
                             struct bridge_confirmation *out, bool *found,
                             struct owcp_error *err)
{
  struct svc_pg_params p = {0};

  svc_pg_param_text(&p, transaction);
  return confirm_one(st, &stmt_get, &p, out, found, err);
}

int bridge_store_confirm_pending(struct bridge_store *st, const char *front,
                                 int max, struct bridge_confirmation_list *out,
                                 struct owcp_error *err)
{
  struct svc_pg_params p = {0};
  void *items;
  int rc;

  svc_pg_param_text(&p, front);
  svc_pg_param_int(&p, max);
  rc = bstore_run_array(st, &stmt_pending, &p, sizeof *out->items,
                        confirmation_fill, &items, &out->count, err);
  out->items = items;
  if (rc != 0)
    bridge_confirmation_list_free(out);
  return rc;
}

int bridge_store_confirm_decide(struct bridge_store *st,
                                const struct bridge_confirm_outcome *in,
                                int *status, char *stored_state,
                                struct owcp_error *err)
{
  struct svc_pg_params p = {0};
  PGresult *res;
  int rc;

  svc_pg_param_text(&p, in->transaction);
  svc_pg_param_text(&p, in->state);
  if (in->receipt != NULL)
    svc_pg_param_bin(&p, in->receipt, in->receipt_len);
  else
    svc_pg_param_text(&p, NULL);
  svc_pg_param_text(&p, in->reason);
  svc_pg_param_int(&p, in->cache_minutes);
  svc_pg_param_time(&p, in->now);
  rc = bstore_run_row(st, &stmt_decide, &p, &res, err);
  if (rc != 0)
    return rc;
  *status = (int)svc_pg_get_int(res, 0, 0);
  if (stored_state != NULL)
    rc = svc_pg_get_fixed(res, 0, 1, stored_state, BRIDGE_STORE_STATE_MAX, err);
  PQclear(res);
  return rc;
}
