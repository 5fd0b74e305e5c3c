/*
 * store_rd.c — store.h's RD operations: RD-Confirm (with its rate-limit
 * count), RD-Status, RD-Final, RD-Register/Deregister and a transaction's
 * outcome.
 */
#include "store_internal.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The result columns every transaction-outcome query returns, in order
 * (fill_result reads them). */
#define RESULT_COLS                                                            \
  "t.id, t.identifier, t.response, t.reason, "                                 \
  "array_to_json(t.verification)::text, t.client_id, " EPOCH(                  \
      "t.responded_at") ", " EPOCH("t.expires_at") ", t.receipt, "             \
                                                   "t.completion_uri, "        \
                                                   "t.requestor_id, "          \
                                                   "CASE WHEN t.state = "      \
                                                   "'answered' THEN 200 WHEN " \
                                                   "t.state = 'pending' AND "  \
                                                   "t.expires_at > "           \
                                                   "coalesce(" TS(             \
                                                       2) ", now()) THEN 202 " \
                                                          "ELSE 408 END "

static const struct store_stmt stmt_rate_take = {
    S_RATE_TAKE, "rate_take",
    "SELECT o_retry_after, o_granted, o_valid_ms FROM owcp_rate_take("
    "$1, " TS(2) ", $3)"};

static const struct store_stmt stmt_confirm = {
    S_CONFIRM, "confirm",
    "SELECT o_status, o_transaction, " EPOCH(
        "o_expires") ", o_retry_after FROM owcp_confirm($1, "
                     "$2, $3, $4, $5, $6, $7, $8, " TS(9) ", $10, $11)"};

/* The row by its id alone, then the requestor check: with both in one
 * WHERE, the generic plan PostgreSQL keeps for a prepared statement could
 * pick the (requestor_id, identifier) index and filter every transaction of
 * the requestor for the id (bench/run.sh: 23-41 % of database samples, on
 * one requestor's growing table). OFFSET 0 keeps the subquery apart, so
 * the primary key is the only way in. */
static const struct store_stmt stmt_status = {
    S_STATUS, "status",
    "SELECT " RESULT_COLS "FROM (SELECT * FROM transactions WHERE id = $1 "
    "OFFSET 0) t WHERE t.requestor_id = $3"};

static const struct store_stmt stmt_final = {
    S_FINAL, "final", "SELECT owcp_final($3, $1, " TS(2) ")"};

static const struct store_stmt stmt_outcome = {
    S_OUTCOME, "outcome",
    "SELECT " RESULT_COLS ", (SELECT q.address FROM requestors q "
    "WHERE q.id = t.requestor_id) FROM transactions t WHERE "
    "t.id = $1"};

static const struct store_stmt stmt_rd_register = {
    S_RD_REGISTER, "rd_register",
    "SELECT o_status, o_ready, o_transaction, " EPOCH(
        "o_expires") ", o_retry_after, o_reason FROM "
                     "owcp_rd_register($1, $2, $3, $4, $5, $6, $7, $8, " TS(
                         9) ")"};

static const struct store_stmt stmt_rd_deregister = {
    S_RD_DEREGISTER, "rd_deregister", "SELECT owcp_rd_deregister($1, $2)"};

const struct store_stmt *const store_rd_statements[] = {
    &stmt_rate_take, &stmt_confirm,     &stmt_status,        &stmt_final,
    &stmt_outcome,   &stmt_rd_register, &stmt_rd_deregister, NULL};

/* ---- RD operations
 * ------------------------------------------------------------ */

int store_rate_take(struct store *st, int64_t requestor_id, time_t now, int max,
                    struct store_rate_grant *out, struct owcp_error *err)
{
  struct svc_pg_params p = {0};
  PGresult *res;
  int rc;

  memset(out, 0, sizeof *out);
  svc_pg_param_int(&p, requestor_id);
  svc_pg_param_time(&p, now);
  svc_pg_param_int(&p, max);
  rc = store_run_row(st, &stmt_rate_take, &p, &res, err);
  if (rc != 0)
    return rc;
  out->retry_after = (int)svc_pg_get_int(res, 0, 0);
  out->granted = (int)svc_pg_get_int(res, 0, 1);
  out->valid_ms = (int)svc_pg_get_int(res, 0, 2);
  PQclear(res);
  return 0;
}

/* owcp_confirm's row into out. */
static int confirm_read(const PGresult *res, struct store_confirm_out *out,
                        struct owcp_error *err)
{
  int rc;

  out->status = (int)svc_pg_get_int(res, 0, 0);
  rc = svc_pg_get_fixed(res, 0, 1, out->transaction, sizeof out->transaction,
                        err);
  out->expires = (time_t)svc_pg_get_int(res, 0, 2);
  out->retry_after = (int)svc_pg_get_int(res, 0, 3);
  return rc;
}

struct confirm_then {
  const struct store_confirm_in *in;
  const char *id;
};

/* After the commit, before its wake-ups: a created transaction (a 202
 * naming the new id, not an earlier one with the same identifier) is
 * handed to the caller's committed function (store.h). */
static void confirm_committed(void *arg, const PGresult *res)
{
  const struct confirm_then *t = arg;
  struct store_confirm_out out = {0};
  struct owcp_error err = {{0}};

  if (PQntuples(res) == 1 && confirm_read(res, &out, &err) == 0 &&
      out.status == 202 && strcmp(out.transaction, t->id) == 0)
    t->in->committed(t->in->committed_arg, t->in, &out);
}

int store_confirm(struct store *st, const struct store_confirm_in *in,
                  struct store_confirm_out *out, struct owcp_error *err)
{
  struct svc_pg_params p = {0};
  char *id = owcp_random_id();
  PGresult *res;
  int rc;

  memset(out, 0, sizeof *out);
  if (id == NULL) {
    owcp_error_set(err, "cannot generate a transaction identifier");
    return -1;
  }
  if (!in->rate_counted) {
    struct store_rate_grant g;
    rc = store_rate_take(st, in->requestor_id, in->now, 1, &g, err);
    if (rc != 0 || g.retry_after > 0) {
      free(id);
      out->status = rc == 0 ? 429 : 0;
      out->retry_after = g.retry_after;
      return rc;
    }
  }
  svc_pg_param_int(&p, in->requestor_id);
  svc_pg_param_text(&p, in->account);
  svc_pg_param_text(&p, in->identifier);
  svc_pg_param_text(&p, in->request_xml);
  svc_pg_param_bin(&p, in->request_sha256, OWCP_SHA256_LEN);
  svc_pg_param_text(&p, in->type);
  svc_pg_param_text(&p, in->completion);
  svc_pg_param_int(&p, in->timeout_seconds);
  svc_pg_param_time(&p, in->now);
  svc_pg_param_text(&p, id);
  svc_pg_param_bool(&p, in->require_registration);
  struct confirm_then ct = {in, id};
  struct store_then then = {confirm_committed, &ct};
  rc = store_run_then(st, &stmt_confirm, &p,
                      in->committed != NULL ? &then : NULL, &res, err);
  if (rc == 0)
    rc = svc_pg_expect_one(&res, stmt_confirm.name, err);
  if (rc == 0) {
    rc = confirm_read(res, out, err);
    PQclear(res);
  }
  free(id);
  return rc;
}

void store_result_free(struct store_result *res)
{
  if (res == NULL)
    return;
  free(res->identifier);
  free(res->response);
  free(res->reason);
  for (size_t i = 0; i < res->verification_count; i++)
    free(res->verification[i]);
  free(res->verification);
  free(res->receipt);
  free(res->completion_uri);
  free(res->requestor);
  memset(res, 0, sizeof *res);
}

/* Parses the JSON array text of the verification column. */
static int parse_verification(const char *text, struct store_result *out,
                              struct owcp_error *err)
{
  json_t *arr;
  size_t n;

  if (text == NULL)
    return 0;
  arr = json_loads(text, 0, NULL);
  if (!json_is_array(arr)) {
    json_decref(arr);
    owcp_error_set(err, "database returned a malformed verification list");
    return -1;
  }
  n = json_array_size(arr);
  out->verification = calloc(n ? n : 1, sizeof *out->verification);
  if (out->verification == NULL) {
    json_decref(arr);
    owcp_error_set(err, "out of memory copying the verification list");
    return -1;
  }
  for (size_t i = 0; i < n; i++) {
    const char *s = json_string_value(json_array_get(arr, i));

    out->verification[i] = strdup(s ? s : "");
    if (out->verification[i] == NULL) {
      json_decref(arr);
      owcp_error_set(err, "out of memory copying the verification list");
      return -1;
    }
    out->verification_count = i + 1;
  }
  json_decref(arr);
  return 0;
}

/* Fills out from a RESULT_COLS row. */
static int fill_result(const PGresult *res, struct store_result *out,
                       struct owcp_error *err)
{
  if (svc_pg_get_fixed(res, 0, 0, out->transaction, sizeof out->transaction,
                       err) ||
      svc_pg_get_dup(res, 0, 1, &out->identifier, err) ||
      svc_pg_get_dup(res, 0, 2, &out->response, err) ||
      svc_pg_get_dup(res, 0, 3, &out->reason, err) ||
      parse_verification(svc_pg_get(res, 0, 4), out, err) ||
      svc_pg_get_fixed(res, 0, 5, out->client, sizeof out->client, err) ||
      svc_pg_get_bytea(res, 0, 8, &out->receipt, &out->receipt_len, err) ||
      svc_pg_get_dup(res, 0, 9, &out->completion_uri, err)) {
    store_result_free(out);
    return -1;
  }
  out->responded = (time_t)svc_pg_get_int(res, 0, 6);
  out->expires = (time_t)svc_pg_get_int(res, 0, 7);
  out->requestor_id = svc_pg_get_int(res, 0, 10);
  out->status = (int)svc_pg_get_int(res, 0, 11);
  /* &stmt_outcome also names the requestor (for DR-Complete). */
  if (PQnfields(res) > 12 && svc_pg_get_dup(res, 0, 12, &out->requestor, err)) {
    store_result_free(out);
    return -1;
  }
  return 0;
}

/* Reads a transaction's outcome; status 404 when no row matches. */
static int read_result(struct store *st, const struct store_stmt *s,
                       int64_t requestor_id, const char *tx, time_t now,
                       struct store_result *out, struct owcp_error *err)
{
  struct svc_pg_params p = {0};
  PGresult *res;
  int rc;

  memset(out, 0, sizeof *out);
  svc_pg_param_text(&p, tx);
  svc_pg_param_time(&p, now);
  if (s == &stmt_status)
    svc_pg_param_int(&p, requestor_id);
  rc = store_run(st, s, &p, &res, err);
  if (rc != 0)
    return rc;
  if (PQntuples(res) == 1)
    rc = fill_result(res, out, err);
  else
    out->status = 404;
  PQclear(res);
  return rc;
}

int store_status(struct store *st, int64_t requestor_id, const char *tx,
                 time_t now, struct store_result *out, struct owcp_error *err)
{
  return read_result(st, &stmt_status, requestor_id, tx, now, out, err);
}

int store_outcome(struct store *st, const char *tx, time_t now,
                  struct store_result *out, struct owcp_error *err)
{
  return read_result(st, &stmt_outcome, 0, tx, now, out, err);
}

int store_final(struct store *st, int64_t requestor_id, const char *tx,
                time_t now, struct store_result *out, struct owcp_error *err)
{
  struct svc_pg_params p = {0};
  int status, rc;

  memset(out, 0, sizeof *out);
  svc_pg_param_text(&p, tx);
  svc_pg_param_time(&p, now);
  svc_pg_param_int(&p, requestor_id);
  rc = store_run_status(st, &stmt_final, &p, &status, err);
  if (rc != 0)
    return rc;
  if (status == 200) {
    /* Answered is final: the read after the call cannot see another
     * state. */
    rc = read_result(st, &stmt_status, requestor_id, tx, now, out, err);
    if (rc != 0)
      return rc;
  }
  out->status = status;
  if (status != 200)
    snprintf(out->transaction, sizeof out->transaction, "%s", tx);
  return 0;
}

int store_rd_register(struct store *st, const struct store_rd_register_in *in,
                      struct store_rd_register_out *out, struct owcp_error *err)
{
  struct svc_pg_params p = {0};
  unsigned char req_hash[OWCP_SHA256_LEN];
  PGresult *res;
  int rc;

  memset(out, 0, sizeof *out);
  svc_pg_param_int(&p, in->requestor_id);
  svc_pg_param_text(&p, in->account);
  svc_pg_param_bool(&p, in->require_consent);
  svc_pg_param_text(&p, in->transaction);
  svc_pg_param_text(&p, in->identifier);
  svc_pg_param_text(&p, in->request_xml);
  if (in->request_xml != NULL) {
    owcp_sha256(in->request_xml, strlen(in->request_xml), req_hash);
    svc_pg_param_bin(&p, req_hash, OWCP_SHA256_LEN);
  } else {
    svc_pg_param_text(&p, NULL);
  }
  svc_pg_param_int(&p, in->timeout_seconds);
  svc_pg_param_time(&p, in->now);
  rc = store_run_row(st, &stmt_rd_register, &p, &res, err);
  if (rc != 0)
    return rc;
  out->status = (int)svc_pg_get_int(res, 0, 0);
  out->ready = svc_pg_get_bool(res, 0, 1);
  rc = svc_pg_get_fixed(res, 0, 2, out->transaction, sizeof out->transaction,
                        err);
  out->expires = (time_t)svc_pg_get_int(res, 0, 3);
  out->retry_after = (int)svc_pg_get_int(res, 0, 4);
  if (rc == 0)
    rc = svc_pg_get_fixed(res, 0, 5, out->reason, sizeof out->reason, err);
  PQclear(res);
  return rc;
}

int store_rd_deregister(struct store *st, int64_t requestor_id,
                        const char *account, int *status,
                        struct owcp_error *err)
{
  struct svc_pg_params p = {0};

  svc_pg_param_int(&p, requestor_id);
  svc_pg_param_text(&p, account);
  return store_run_status(st, &stmt_rd_deregister, &p, status, err);
}
