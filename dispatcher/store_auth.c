/*
 * store_auth.c — store.h's authentication lookups: requestors and clients
 * by token hash or address, a client's certificate, a transaction's
 * request for its account's clients.
 */
#include "store_internal.h"

#include <stdlib.h>
#include <string.h>

static const struct store_stmt stmt_requestor_by_token = {
    S_REQUESTOR_BY_TOKEN, "requestor_by_token",
    "SELECT id, address, status = 'active', "
    "rate_per_minute, token_hash FROM requestors "
    "WHERE token_hash = $1"};

static const struct store_stmt stmt_requestor_by_address = {
    S_REQUESTOR_BY_ADDRESS, "requestor_by_address",
    "SELECT id, address, status = 'active', "
    "rate_per_minute, "
    "coalesce(token_hash, '\\x'::bytea) FROM "
    "requestors WHERE address = $1"};

static const struct store_stmt stmt_client_by_token = {
    S_CLIENT_BY_TOKEN, "client_by_token",
    "SELECT c.id, c.account_id, a.address, "
    "c.status = 'active' AND a.status = 'active', "
    "c.token_hash FROM clients c JOIN accounts a ON "
    "a.id = c.account_id WHERE c.token_hash = $1"};

static const struct store_stmt stmt_client_cert = {
    S_CLIENT_CERT, "client_cert",
    "SELECT cert_der FROM clients WHERE id "
    "= $1 AND status = 'active'"};

static const struct store_stmt stmt_tx_request = {
    S_TX_REQUEST, "tx_request",
    "SELECT t.request_xml FROM transactions t JOIN clients c "
    "ON c.account_id = t.account_id WHERE t.id = $1 AND "
    "c.id = $2 AND c.status = 'active'"};

const struct store_stmt *const store_auth_statements[] = {
    &stmt_requestor_by_token, &stmt_requestor_by_address, &stmt_client_by_token,
    &stmt_client_cert,        &stmt_tx_request,           NULL};

/* ---- authentication lookups ------------------------------------------------
 */

static int fill_requestor(const PGresult *res, struct store_requestor *out,
                          struct owcp_error *err)
{
  memset(out, 0, sizeof *out);
  out->id = svc_pg_get_int(res, 0, 0);
  if (svc_pg_get_fixed(res, 0, 1, out->address, sizeof out->address, err) != 0)
    return -1;
  out->active = svc_pg_get_bool(res, 0, 2);
  out->rate_per_minute = (int)svc_pg_get_int(res, 0, 3);
  return svc_pg_get_hash(res, 0, 4, out->token_hash, err);
}

static int requestor_lookup(struct store *st, const struct store_stmt *s,
                            const struct svc_pg_params *p,
                            struct store_requestor *out, bool *found,
                            struct owcp_error *err)
{
  PGresult *res;
  int rc = store_run(st, s, p, &res, err);

  *found = false;
  if (rc != 0)
    return rc;
  if (PQntuples(res) == 1) {
    *found = true;
    rc = fill_requestor(res, out, err);
  }
  PQclear(res);
  return rc;
}

int store_requestor_by_token(struct store *st,
                             const unsigned char token_hash[OWCP_SHA256_LEN],
                             struct store_requestor *out, bool *found,
                             struct owcp_error *err)
{
  struct svc_pg_params p = {0};

  svc_pg_param_bin(&p, token_hash, OWCP_SHA256_LEN);
  return requestor_lookup(st, &stmt_requestor_by_token, &p, out, found, err);
}

int store_requestor_by_address(struct store *st, const char *address,
                               struct store_requestor *out, bool *found,
                               struct owcp_error *err)
{
  struct svc_pg_params p = {0};

  svc_pg_param_text(&p, address);
  return requestor_lookup(st, &stmt_requestor_by_address, &p, out, found, err);
}

int store_client_by_token(struct store *st,
                          const unsigned char token_hash[OWCP_SHA256_LEN],
                          struct store_client *out, bool *found,
                          struct owcp_error *err)
{
  struct svc_pg_params p = {0};
  PGresult *res;
  int rc;

  svc_pg_param_bin(&p, token_hash, OWCP_SHA256_LEN);
  *found = false;
  rc = store_run(st, &stmt_client_by_token, &p, &res, err);
  if (rc != 0)
    return rc;
  if (PQntuples(res) == 1) {
    memset(out, 0, sizeof *out);
    *found = true;
    out->account_id = svc_pg_get_int(res, 0, 1);
    out->active = svc_pg_get_bool(res, 0, 3);
    if (svc_pg_get_fixed(res, 0, 0, out->id, sizeof out->id, err) != 0 ||
        svc_pg_get_fixed(res, 0, 2, out->account, sizeof out->account, err) !=
            0 ||
        svc_pg_get_hash(res, 0, 4, out->token_hash, err) != 0)
      rc = -1;
  }
  PQclear(res);
  return rc;
}

int store_client_cert(struct store *st, const char *client_id,
                      unsigned char **der, size_t *der_len, bool *found,
                      struct owcp_error *err)
{
  struct svc_pg_params p = {0};
  PGresult *res;
  int rc;

  svc_pg_param_text(&p, client_id);
  *found = false;
  *der = NULL;
  *der_len = 0;
  rc = store_run(st, &stmt_client_cert, &p, &res, err);
  if (rc != 0)
    return rc;
  if (PQntuples(res) == 1) {
    *found = true;
    rc = svc_pg_get_bytea(res, 0, 0, der, der_len, err);
  }
  PQclear(res);
  return rc;
}

int store_tx_request(struct store *st, const char *client_id, const char *tx,
                     char **xml, size_t *len, int *status,
                     struct owcp_error *err)
{
  struct svc_pg_params p = {0};
  PGresult *res;

  svc_pg_param_text(&p, tx);
  svc_pg_param_text(&p, client_id);
  *xml = NULL;
  *len = 0;
  *status = 404;
  int rc = store_run(st, &stmt_tx_request, &p, &res, err);
  if (rc != 0)
    return rc;
  if (PQntuples(res) == 1) {
    rc = svc_pg_get_dup(res, 0, 0, xml, err);
    if (rc == 0 && *xml != NULL) {
      *len = strlen(*xml);
      *status = 200;
    }
  }
  PQclear(res);
  return rc;
}
