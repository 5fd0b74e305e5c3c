/*
 * store_console.c — store_console.h's queries for the audit console: a
 * page of the log newest first, one transaction's view.
 */
#include "store_console.h"
#include "store_internal.h"

#include <stdlib.h>
#include <string.h>

#define RFC3339_FMT "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'"

/* The filter of store_log_query, a keyset bound and a limit. */
static const struct store_stmt stmt_log_page = {
    S_LOG_PAGE, "log_page",
    "SELECT l.seq, to_char(l.at AT TIME ZONE 'UTC', "
    "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS at, l.event, l.account, "
    "l.requestor, l.transaction, l.client, l.detail, c.pos AS position, "
    "encode(c.hash, 'hex') AS hash FROM log l LEFT JOIN log_chain c ON "
    "c.seq = l.seq WHERE ($1::text IS NULL OR l.account = $1) AND "
    "($2::text IS NULL OR l.requestor = $2) AND ($3::text IS NULL OR "
    "l.transaction = $3) AND ($4::text IS NULL OR l.event = $4) AND "
    "($5::float8 IS NULL OR l.at >= " TS(
        5) ") AND ($6::float8 IS NULL OR "
           "l.at < " TS(6) ") AND ($7::bigint IS NULL OR l.seq < $7) "
                           "ORDER BY l.seq DESC LIMIT $8"};

/* Times as RFC 3339 UTC text, '' when unset (fixed buffers). */
static const struct store_stmt stmt_tx_view = {
    S_TX_VIEW, "tx_view",
    "SELECT t.state, q.address, a.address, t.type, t.identifier, "
    "coalesce(to_char(t.created_at AT TIME ZONE 'UTC', " RFC3339_FMT "), ''), "
    "coalesce(to_char(t.expires_at AT TIME ZONE 'UTC', " RFC3339_FMT "), ''), "
    "coalesce(to_char(t.first_listed_at AT TIME ZONE 'UTC', " RFC3339_FMT
    "), ''), "
    "coalesce(to_char(t.responded_at AT TIME ZONE 'UTC', " RFC3339_FMT
    "), ''), "
    "t.response, t.reason, array_to_string(t.verification, ', '), "
    "t.client_id, c.description, t.receipt, t.request_xml "
    "FROM transactions t JOIN requestors q ON q.id = t.requestor_id "
    "JOIN accounts a ON a.id = t.account_id "
    "LEFT JOIN clients c ON c.id = t.client_id WHERE t.id = $1"};

const struct store_stmt *const store_console_statements[] = {
    &stmt_log_page, &stmt_tx_view, NULL};

int store_log_page(struct store *st, const struct store_log_filter *f,
                   int64_t before_seq, int limit, store_row_fn fn, void *arg,
                   struct owcp_error *err)
{
  struct store_listing l = {fn, arg};
  struct svc_pg_params p = {0};

  store_log_filter_params(&p, f);
  if (before_seq > 0)
    svc_pg_param_int(&p, before_seq);
  else
    svc_pg_param_text(&p, NULL);
  svc_pg_param_int(&p, limit);
  return store_run_rows(st, &stmt_log_page, &p, store_listing_row, &l, err);
}

void store_tx_view_free(struct store_tx_view *v)
{
  free(v->requestor);
  free(v->account);
  free(v->type);
  free(v->identifier);
  free(v->response);
  free(v->reason);
  free(v->verification);
  free(v->client);
  free(v->client_description);
  free(v->receipt);
  free(v->request_xml);
  memset(v, 0, sizeof *v);
}

/* Columns 1.. of stmt_tx_view into v. */
static int tx_view_fill(const PGresult *res, struct store_tx_view *v,
                        struct owcp_error *err)
{
  char **strs[] = {&v->requestor, &v->account, &v->type, &v->identifier};
  char *times[] = {v->received, v->expires, v->listed, v->answered};
  char **more[] = {&v->response, &v->reason, &v->verification, &v->client,
                   &v->client_description};
  int col = 1;

  if (svc_pg_get_fixed(res, 0, 0, v->state, sizeof v->state, err) != 0)
    return -1;
  for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
    if (svc_pg_get_dup(res, 0, col++, strs[i], err) != 0)
      return -1;
  for (size_t i = 0; i < sizeof times / sizeof times[0]; i++)
    if (svc_pg_get_fixed(res, 0, col++, times[i], sizeof v->received, err))
      return -1;
  for (size_t i = 0; i < sizeof more / sizeof more[0]; i++)
    if (svc_pg_get_dup(res, 0, col++, more[i], err) != 0)
      return -1;
  if (svc_pg_get_bytea(res, 0, col++, &v->receipt, &v->receipt_len, err) != 0)
    return -1;
  if (svc_pg_get_dup(res, 0, col, &v->request_xml, err) != 0)
    return -1;
  v->request_len = v->request_xml != NULL ? strlen(v->request_xml) : 0;
  return 0;
}

int store_tx_view(struct store *st, const char *id, struct store_tx_view *out,
                  bool *found, struct owcp_error *err)
{
  struct svc_pg_params p = {0};
  PGresult *res;
  int rc;

  memset(out, 0, sizeof *out);
  *found = false;
  svc_pg_param_text(&p, id);
  rc = store_run(st, &stmt_tx_view, &p, &res, err);
  if (rc != 0)
    return rc;
  if (PQntuples(res) == 1) {
    *found = true;
    rc = tx_view_fill(res, out, err);
  }
  PQclear(res);
  if (rc != 0)
    store_tx_view_free(out);
  return rc;
}
