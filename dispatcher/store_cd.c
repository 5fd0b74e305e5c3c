/*
 * store_cd.c — store.h's CD operations: CD-List, CD-Reply, the three
 * ways of CD-Register and client revocation.
 */
#include "store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const struct store_stmt stmt_list = {
    S_LIST, "list",
    "SELECT o_transaction, o_from, o_type, " EPOCH("o_issued") ", " EPOCH(
        "o_expires") ", o_request, o_unlisted "
                     "FROM "
                     "owcp_pending($1, "
                     "$2, " TS(3) ")"};

static const struct store_stmt stmt_listed_record = {
    S_LISTED_RECORD, "listed_record",
    "SELECT o_transaction, o_busy FROM "
    "owcp_listed_record($1::text[], $2::text[], $3::timestamptz[])"};

/* The second column is the time owcp_reply() stores (its v_now: p_now, or
 * the transaction's start, which every call of a group commit shares), as
 * RD-Status reads it back: the process keeps the answer (txcache.h). */
static const struct store_stmt stmt_reply = {
    S_REPLY, "reply",
    "SELECT owcp_reply($1, $2, $3, $4, $5::text[], $6, " TS(
        7) ", $8, $9), " EPOCH("coalesce(" TS(7) ", now())")};

static const struct store_stmt stmt_register_code = {
    S_REGISTER_CODE, "register_code",
    "SELECT owcp_cd_register_code($1, $2, $3, $4, $5, "
    "$6, " TS(7) ")"};

static const struct store_stmt stmt_register_open = {
    S_REGISTER_OPEN, "register_open",
    "SELECT owcp_cd_register_open($1, $2, $3, $4, $5, " TS(6) ")"};

static const struct store_stmt stmt_approval_start = {
    S_APPROVAL_START, "approval_start",
    "SELECT o_status, o_transaction, " EPOCH(
        "o_expires") ", o_retry_after, o_sent FROM owcp_cd_approval_start($1, "
                     "$2, $3, $4, $5, $6, $7, $8, " TS(
                         9) ", $10, $11, $12, $13)"};

static const struct store_stmt stmt_approval_check = {
    S_APPROVAL_CHECK, "approval_check",
    "SELECT owcp_cd_approval_check($1, $2, $3, $4, " TS(5) ")"};

static const struct store_stmt stmt_code_check = {
    S_CODE_CHECK, "code_check", "SELECT owcp_cd_code_check($1, $2, " TS(3) ")"};

static const struct store_stmt stmt_register_rate_take = {
    S_REGISTER_RATE_TAKE, "register_rate_take",
    "SELECT o_retry_after FROM owcp_register_rate_take($1, $2, " TS(3) ")"};

static const struct store_stmt stmt_approval_finish = {
    S_APPROVAL_FINISH, "approval_finish",
    "SELECT owcp_cd_approval_finish($1, $2, $3, $4, "
    "$5, $6, $7, " TS(8) ")"};

static const struct store_stmt stmt_client_revoke = {
    S_CLIENT_REVOKE, "client_revoke",
    "SELECT owcp_client_revoke($1, $2, now())"};

const struct store_stmt *const store_cd_statements[] = {
    &stmt_list,
    &stmt_listed_record,
    &stmt_reply,
    &stmt_register_code,
    &stmt_register_open,
    &stmt_approval_start,
    &stmt_approval_finish,
    &stmt_client_revoke,
    &stmt_approval_check,
    &stmt_code_check,
    &stmt_register_rate_take,
    NULL};

/* ---- CD operations
 * ------------------------------------------------------------ */

void store_pending_list_free(struct store_pending_list *list)
{
  if (list == NULL)
    return;
  for (size_t i = 0; i < list->count; i++) {
    free(list->items[i].type);
    free(list->items[i].request_xml);
  }
  free(list->items);
  list->items = NULL;
  list->count = 0;
}

static int pending_fill(const PGresult *res, int i, void *item,
                        struct owcp_error *err)
{
  struct store_pending *it = item;

  it->issued = (time_t)svc_pg_get_int(res, i, 3);
  it->expires = (time_t)svc_pg_get_int(res, i, 4);
  if (svc_pg_get_fixed(res, i, 0, it->transaction, sizeof it->transaction,
                       err) ||
      svc_pg_get_fixed(res, i, 1, it->from, sizeof it->from, err) ||
      svc_pg_get_dup(res, i, 2, &it->type, err) ||
      svc_pg_get_dup(res, i, 5, &it->request_xml, err))
    return -1;
  it->unlisted = strcmp(svc_pg_get(res, i, 6), "t") == 0;
  return 0;
}

int store_list(struct store *st, const char *client_id, int max, time_t now,
               struct store_pending_list *out, struct owcp_error *err)
{
  struct svc_pg_params p = {0};
  void *items;
  int rc;

  svc_pg_param_text(&p, client_id);
  svc_pg_param_int(&p, max);
  svc_pg_param_time(&p, now);
  rc = store_run_array(st, &stmt_list, &p, sizeof *out->items, pending_fill,
                       &items, &out->count, err);
  out->items = items;
  if (rc != 0)
    store_pending_list_free(out);
  return rc;
}

/* A PostgreSQL text[] literal: every element double-quoted with " and \
 * backslash-escaped. Caller frees. */
static char *text_array_literal(const char *const *items, size_t n)
{
  size_t cap = 3;
  char *out, *w;

  for (size_t i = 0; i < n; i++)
    cap += 2 * strlen(items[i]) + 3;
  out = malloc(cap);
  if (out == NULL)
    return NULL;
  w = out;
  *w++ = '{';
  for (size_t i = 0; i < n; i++) {
    if (i > 0)
      *w++ = ',';
    *w++ = '"';
    for (const char *c = items[i]; *c; c++) {
      if (*c == '"' || *c == '\\')
        *w++ = '\\';
      *w++ = *c;
    }
    *w++ = '"';
  }
  *w++ = '}';
  *w = '\0';
  return out;
}

int store_reply(struct store *st, const struct store_reply_in *in,
                struct store_reply_out *out, struct owcp_error *err)
{
  struct svc_pg_params p = {0};
  PGresult *res;
  char *verification =
      text_array_literal(in->verification, in->verification_count);
  int rc;

  if (verification == NULL) {
    owcp_error_set(err, "out of memory encoding the verification list");
    return -1;
  }
  svc_pg_param_text(&p, in->transaction);
  svc_pg_param_text(&p, in->client);
  svc_pg_param_text(&p, in->response);
  svc_pg_param_text(&p, in->reason);
  svc_pg_param_text(&p, verification);
  svc_pg_param_bin(&p, in->receipt, in->receipt_len);
  svc_pg_param_time(&p, in->now);
  svc_pg_param_text(&p, in->match);
  svc_pg_param_int(&p, in->block_seconds);
  memset(out, 0, sizeof *out);
  rc = store_run_row(st, &stmt_reply, &p, &res, err);
  free(verification);
  if (rc != 0)
    return rc;
  out->status = (int)svc_pg_get_int(res, 0, 0);
  out->responded = (time_t)svc_pg_get_int(res, 0, 1);
  PQclear(res);
  return 0;
}

/* A timestamptz literal for at_us (microseconds since the epoch, UTC);
 * buf holds at least 40 bytes. */
static void time_literal(int64_t at_us, char buf[40])
{
  time_t secs = (time_t)(at_us / 1000000);
  struct tm tm;
  char day[24];

  gmtime_r(&secs, &tm);
  strftime(day, sizeof day, "%Y-%m-%d %H:%M:%S", &tm);
  snprintf(buf, 40, "%s.%06ld+00", day, (long)(at_us % 1000000));
}

/* The three parallel array literals of owcp_listed_record(); 0, or -1
 * when memory ran out (nothing to free then). */
static int listed_literals(const struct store_listed *items, size_t n,
                           char *out[3])
{
  const char **tx = calloc(n + 1, sizeof *tx);
  const char **cl = calloc(n + 1, sizeof *cl);
  const char **at = calloc(n + 1, sizeof *at);
  char(*times)[40] = calloc(n + 1, sizeof *times);
  int rc = -1;

  if (tx != NULL && cl != NULL && at != NULL && times != NULL) {
    for (size_t i = 0; i < n; i++) {
      tx[i] = items[i].transaction;
      cl[i] = items[i].client;
      time_literal(items[i].at_us, times[i]);
      at[i] = times[i];
    }
    out[0] = text_array_literal(tx, n);
    out[1] = text_array_literal(cl, n);
    out[2] = text_array_literal(at, n);
    rc = out[0] && out[1] && out[2] ? 0 : -1;
    if (rc != 0)
      for (int k = 0; k < 3; k++)
        free(out[k]);
  }
  free(tx);
  free(cl);
  free(at);
  free(times);
  return rc;
}

/* Marks items[i].busy for every item of the busy transaction tx. */
static void mark_busy(struct store_listed *items, size_t n, const char *tx)
{
  for (size_t i = 0; i < n; i++)
    if (strcmp(items[i].transaction, tx) == 0)
      items[i].busy = true;
}

int store_listed_record(struct store *st, struct store_listed *items, size_t n,
                        int *recorded, struct owcp_error *err)
{
  struct svc_pg_params p = {0};
  char *arrays[3] = {NULL, NULL, NULL};
  PGresult *res;
  int rc;

  if (recorded != NULL)
    *recorded = 0;
  for (size_t i = 0; i < n; i++)
    items[i].busy = false;
  if (listed_literals(items, n, arrays) != 0) {
    owcp_error_set(err, "out of memory encoding the listings");
    return -1;
  }
  for (int k = 0; k < 3; k++)
    svc_pg_param_text(&p, arrays[k]);
  rc = store_run(st, &stmt_listed_record, &p, &res, err);
  if (rc == 0) {
    for (int r = 0; r < PQntuples(res); r++) {
      if (strcmp(svc_pg_get(res, r, 1), "t") == 0)
        mark_busy(items, n, svc_pg_get(res, r, 0));
      else if (recorded != NULL)
        (*recorded)++;
    }
    PQclear(res);
  }
  for (int k = 0; k < 3; k++)
    free(arrays[k]);
  return rc;
}

int store_cd_register_code(struct store *st, const struct store_new_client *c,
                           const unsigned char code_hash[OWCP_SHA256_LEN],
                           int *status, struct owcp_error *err)
{
  struct svc_pg_params p = {0};

  svc_pg_param_text(&p, c->account);
  svc_pg_param_bin(&p, code_hash, OWCP_SHA256_LEN);
  svc_pg_param_text(&p, c->client_id);
  svc_pg_param_text(&p, c->description);
  svc_pg_param_bin(&p, c->token_hash, OWCP_SHA256_LEN);
  svc_pg_param_bin(&p, c->cert_der, c->cert_len);
  svc_pg_param_time(&p, c->now);
  return store_run_status(st, &stmt_register_code, &p, status, err);
}

int store_cd_register_open(struct store *st, const struct store_new_client *c,
                           int *status, struct owcp_error *err)
{
  struct svc_pg_params p = {0};

  svc_pg_param_text(&p, c->account);
  svc_pg_param_text(&p, c->client_id);
  svc_pg_param_text(&p, c->description);
  svc_pg_param_bin(&p, c->token_hash, OWCP_SHA256_LEN);
  svc_pg_param_bin(&p, c->cert_der, c->cert_len);
  svc_pg_param_time(&p, c->now);
  return store_run_status(st, &stmt_register_open, &p, status, err);
}

int store_cd_code_check(struct store *st, const char *account,
                        const unsigned char code_hash[OWCP_SHA256_LEN],
                        time_t now, int *status, struct owcp_error *err)
{
  struct svc_pg_params p = {0};

  svc_pg_param_text(&p, account);
  svc_pg_param_bin(&p, code_hash, OWCP_SHA256_LEN);
  svc_pg_param_time(&p, now);
  return store_run_status(st, &stmt_code_check, &p, status, err);
}

int store_register_rate_take(struct store *st, const char *address, int limit,
                             time_t now, int *retry_after,
                             struct owcp_error *err)
{
  struct svc_pg_params p = {0};
  PGresult *res;
  int rc;

  svc_pg_param_text(&p, address);
  svc_pg_param_int(&p, limit);
  svc_pg_param_time(&p, now);
  rc = store_run_row(st, &stmt_register_rate_take, &p, &res, err);
  if (rc != 0)
    return rc;
  *retry_after = (int)svc_pg_get_int(res, 0, 0);
  PQclear(res);
  return 0;
}

int store_cd_approval_check(struct store *st, const char *transaction,
                            const unsigned char csr_sha256[OWCP_SHA256_LEN],
                            const char *account, const char *description,
                            time_t now, int *status, struct owcp_error *err)
{
  struct svc_pg_params p = {0};

  svc_pg_param_text(&p, transaction);
  svc_pg_param_text(&p, account);
  svc_pg_param_bin(&p, csr_sha256, OWCP_SHA256_LEN);
  svc_pg_param_text(&p, description);
  svc_pg_param_time(&p, now);
  return store_run_status(st, &stmt_approval_check, &p, status, err);
}

int store_cd_approval_start(struct store *st,
                            const struct store_approval_in *in,
                            struct store_approval_out *out,
                            struct owcp_error *err)
{
  struct svc_pg_params p = {0};
  unsigned char req_hash[OWCP_SHA256_LEN];
  PGresult *res;
  int rc;

  memset(out, 0, sizeof *out);
  owcp_sha256(in->request_xml, strlen(in->request_xml), req_hash);
  svc_pg_param_text(&p, in->account);
  svc_pg_param_text(&p, in->description);
  svc_pg_param_bin(&p, in->csr_sha256, OWCP_SHA256_LEN);
  svc_pg_param_text(&p, in->transaction);
  svc_pg_param_text(&p, in->request_xml);
  svc_pg_param_bin(&p, req_hash, OWCP_SHA256_LEN);
  svc_pg_param_text(&p, in->system_address);
  svc_pg_param_int(&p, in->timeout_seconds);
  svc_pg_param_time(&p, in->now);
  svc_pg_param_text(&p, in->asked_from);
  svc_pg_param_text(&p, in->match);
  svc_pg_param_int(&p, in->per_hour);
  svc_pg_param_bool(&p, in->open);
  rc = store_run_row(st, &stmt_approval_start, &p, &res, err);
  if (rc != 0)
    return rc;
  out->status = (int)svc_pg_get_int(res, 0, 0);
  rc = svc_pg_get_fixed(res, 0, 1, out->transaction, sizeof out->transaction,
                        err);
  out->expires = (time_t)svc_pg_get_int(res, 0, 2);
  out->retry_after = (int)svc_pg_get_int(res, 0, 3);
  out->sent = svc_pg_get_bool(res, 0, 4);
  PQclear(res);
  return rc;
}

int store_cd_approval_finish(struct store *st, const char *transaction,
                             const unsigned char csr_sha256[OWCP_SHA256_LEN],
                             const struct store_new_client *c, int *status,
                             struct owcp_error *err)
{
  struct svc_pg_params p = {0};

  svc_pg_param_text(&p, transaction);
  svc_pg_param_text(&p, c->account);
  svc_pg_param_bin(&p, csr_sha256, OWCP_SHA256_LEN);
  svc_pg_param_text(&p, c->client_id);
  svc_pg_param_text(&p, c->description);
  svc_pg_param_bin(&p, c->token_hash, OWCP_SHA256_LEN);
  svc_pg_param_bin(&p, c->cert_der, c->cert_len);
  svc_pg_param_time(&p, c->now);
  return store_run_status(st, &stmt_approval_finish, &p, status, err);
}

int store_client_revoke(struct store *st, const char *client_id,
                        const char *actor, int *status, struct owcp_error *err)
{
  struct svc_pg_params p = {0};

  svc_pg_param_text(&p, client_id);
  svc_pg_param_text(&p, actor);
  return store_run_status(st, &stmt_client_revoke, &p, status, err);
}
