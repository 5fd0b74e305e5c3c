/*
 * store_outbox.c — store.h's background work: the expiry sweep and the
 * DR-Complete outbox.
 */
#include "store_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

static const struct store_stmt stmt_expire = {
    S_EXPIRE, "expire", "SELECT owcp_expire($1, " TS(2) ")"};

static const struct store_stmt stmt_outbox_claim = {
    S_OUTBOX_CLAIM, "outbox_claim",
    "SELECT o_id, o_transaction, o_uri, o_body, o_attempts, " EPOCH(
        "o_created") ", o_requestor, o_lease_us "
                     "FROM owcp_outbox_claim($1, $2, $3, $4, $5, " TS(6) ")"};

static const struct store_stmt stmt_outbox_delivered = {
    S_OUTBOX_DELIVERED, "outbox_delivered",
    "SELECT owcp_outbox_delivered($1, $2, " TS(3) ")"};

static const struct store_stmt stmt_outbox_failed = {
    S_OUTBOX_FAILED, "outbox_failed",
    "SELECT o_status, o_gave_up, " EPOCH(
        "o_next") " FROM owcp_outbox_failed($1, $2, $3, " TS(4) ")"};

static const struct store_stmt stmt_outbox_release = {
    S_OUTBOX_RELEASE, "outbox_release",
    "SELECT owcp_outbox_release($1, $2, $3)"};

const struct store_stmt *const store_outbox_statements[] = {
    &stmt_expire,        &stmt_outbox_claim,   &stmt_outbox_delivered,
    &stmt_outbox_failed, &stmt_outbox_release, NULL};

/* PostgreSQL's text form of an integer array ("{1,2,3}"), element i being
 * at(arg, i); malloc()ed, NULL when memory runs out. */
static char *int_array_text(size_t n, int64_t (*at)(const void *, size_t),
                            const void *arg)
{
  size_t size = 3 + n * 21, used = 1;
  char *text = malloc(size);

  if (text == NULL)
    return NULL;
  text[0] = '{';
  for (size_t i = 0; i < n; i++)
    used += (size_t)snprintf(text + used, size - used, "%s%" PRId64,
                             i > 0 ? "," : "", at(arg, i));
  snprintf(text + used, size - used, "}");
  return text;
}

static int64_t busy_id_at(const void *arg, size_t i)
{
  return ((const struct store_outbox_claim_opts *)arg)->busy_requestors[i];
}

static int64_t busy_count_at(const void *arg, size_t i)
{
  return ((const struct store_outbox_claim_opts *)arg)->busy_counts[i];
}

static int64_t release_id_at(const void *arg, size_t i)
{
  return ((const struct store_outbox_release *)arg)[i].id;
}

static int64_t release_lease_at(const void *arg, size_t i)
{
  return ((const struct store_outbox_release *)arg)[i].lease_us;
}

static int64_t release_delay_at(const void *arg, size_t i)
{
  return ((const struct store_outbox_release *)arg)[i].delay_ms;
}

/* ---- sweeper and outbox ----------------------------------------------------
 */

int store_expire(struct store *st, int limit, time_t now, int *count,
                 struct owcp_error *err)
{
  struct svc_pg_params p = {0};

  svc_pg_param_int(&p, limit);
  svc_pg_param_time(&p, now);
  return store_run_status(st, &stmt_expire, &p, count, err);
}

void store_outbox_batch_free(struct store_outbox_batch *batch)
{
  if (batch == NULL)
    return;
  for (size_t i = 0; i < batch->count; i++) {
    free(batch->items[i].uri);
    free(batch->items[i].body);
  }
  free(batch->items);
  batch->items = NULL;
  batch->count = 0;
}

static int outbox_fill(const PGresult *res, int i, void *item,
                       struct owcp_error *err)
{
  struct store_outbox_item *it = item;

  it->id = svc_pg_get_int(res, i, 0);
  it->attempts = (int)svc_pg_get_int(res, i, 4);
  it->created = (time_t)svc_pg_get_int(res, i, 5);
  it->requestor = svc_pg_get_int(res, i, 6);
  it->lease_us = svc_pg_get_int(res, i, 7);
  if (svc_pg_get_fixed(res, i, 1, it->transaction, sizeof it->transaction,
                       err) ||
      svc_pg_get_dup(res, i, 2, &it->uri, err) ||
      svc_pg_get_dup(res, i, 3, &it->body, err))
    return -1;
  return 0;
}

int store_outbox_claim(struct store *st,
                       const struct store_outbox_claim_opts *o, time_t now,
                       struct store_outbox_batch *out, struct owcp_error *err)
{
  struct svc_pg_params p = {0};
  char *ids = int_array_text(o->busy_count, busy_id_at, o);
  char *counts = int_array_text(o->busy_count, busy_count_at, o);
  void *items = NULL;
  int rc = -1;

  out->items = NULL;
  out->count = 0;
  if (ids == NULL || counts == NULL) {
    owcp_error_set(err, "out of memory claiming completions");
  } else {
    svc_pg_param_int(&p, o->limit);
    svc_pg_param_int(&p, o->per_requestor);
    svc_pg_param_text(&p, ids);
    svc_pg_param_text(&p, counts);
    svc_pg_param_int(&p, o->lease_seconds);
    svc_pg_param_time(&p, now);
    rc = store_run_array(st, &stmt_outbox_claim, &p, sizeof *out->items,
                         outbox_fill, &items, &out->count, err);
    out->items = items;
  }
  free(ids);
  free(counts);
  if (rc != 0)
    store_outbox_batch_free(out);
  return rc;
}

int store_outbox_delivered(struct store *st, int64_t id, const char *uri_logged,
                           time_t now, int *status, struct owcp_error *err)
{
  struct svc_pg_params p = {0};

  svc_pg_param_int(&p, id);
  svc_pg_param_text(&p, uri_logged);
  svc_pg_param_time(&p, now);
  return store_run_status(st, &stmt_outbox_delivered, &p, status, err);
}

int store_outbox_failed(struct store *st, int64_t id, const char *last_error,
                        const char *uri_logged, time_t now, bool *gave_up,
                        time_t *next_attempt, struct owcp_error *err)
{
  struct svc_pg_params p = {0};
  PGresult *res;
  int rc;

  svc_pg_param_int(&p, id);
  svc_pg_param_text(&p, last_error);
  svc_pg_param_text(&p, uri_logged);
  svc_pg_param_time(&p, now);
  rc = store_run_row(st, &stmt_outbox_failed, &p, &res, err);
  if (rc != 0)
    return rc;
  if (svc_pg_get_int(res, 0, 0) != 200) {
    owcp_error_set(err, "outbox row %" PRId64 " is not pending", id);
    PQclear(res);
    return -1;
  }
  *gave_up = svc_pg_get_bool(res, 0, 1);
  *next_attempt = (time_t)svc_pg_get_int(res, 0, 2);
  PQclear(res);
  return 0;
}

int store_outbox_release(struct store *st,
                         const struct store_outbox_release *rows, size_t count,
                         int *released, struct owcp_error *err)
{
  struct svc_pg_params p = {0};
  char *ids = int_array_text(count, release_id_at, rows);
  char *leases = int_array_text(count, release_lease_at, rows);
  char *delays = int_array_text(count, release_delay_at, rows);
  int rc = -1;

  if (ids == NULL || leases == NULL || delays == NULL) {
    owcp_error_set(err, "out of memory releasing completions");
  } else {
    svc_pg_param_text(&p, ids);
    svc_pg_param_text(&p, leases);
    svc_pg_param_text(&p, delays);
    rc = store_run_status(st, &stmt_outbox_release, &p, released, err);
  }
  free(ids);
  free(leases);
  free(delays);
  return rc;
}
