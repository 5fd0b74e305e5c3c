/*
 * store_admin.c — store.h's administration (owcp-admin): accounts,
 * enrollment codes, requestors and the listings.
 */
#include "store_internal.h"

static const struct store_stmt stmt_account_add = {
    S_ACCOUNT_ADD, "account_add", "SELECT owcp_account_add($1)"};

static const struct store_stmt stmt_account_disable = {
    S_ACCOUNT_DISABLE, "account_disable", "SELECT owcp_account_disable($1)"};

static const struct store_stmt stmt_code_issue = {
    S_CODE_ISSUE, "code_issue",
    "SELECT owcp_code_issue($1, $2, $3, " TS(4) ")"};

static const struct store_stmt stmt_requestor_add = {
    S_REQUESTOR_ADD, "requestor_add",
    "SELECT o_status, o_id FROM "
    "owcp_requestor_add($1, $2, $3)"};

static const struct store_stmt stmt_requestor_disable = {
    S_REQUESTOR_DISABLE, "requestor_disable",
    "SELECT owcp_requestor_disable($1)"};

static const struct store_stmt stmt_account_list = {
    S_ACCOUNT_LIST, "account_list",
    "SELECT a.address, a.status, a.created_at::text AS "
    "created_at, (SELECT count(*) FROM clients c WHERE "
    "c.account_id = a.id AND c.status = 'active') AS "
    "clients FROM accounts a ORDER BY a.address"};

static const struct store_stmt stmt_requestor_list = {
    S_REQUESTOR_LIST, "requestor_list",
    "SELECT address, status, rate_per_minute, "
    "created_at::text AS created_at, token_hash IS "
    "NULL AS system FROM requestors ORDER BY address"};

static const struct store_stmt stmt_client_list = {
    S_CLIENT_LIST, "client_list",
    "SELECT c.id, a.address AS account, c.status, "
    "c.description, c.created_at::text AS created_at, "
    "c.revoked_at::text AS revoked_at FROM clients c JOIN "
    "accounts a ON a.id = c.account_id WHERE $1::text IS "
    "NULL OR a.address = $1 ORDER BY a.address, "
    "c.created_at, c.id"};

static const struct store_stmt stmt_consent_add = {
    S_CONSENT_ADD, "consent_add", "SELECT owcp_consent_add($1, $2, NULL)"};

static const struct store_stmt stmt_consent_remove = {
    S_CONSENT_REMOVE, "consent_remove", "SELECT owcp_consent_remove($1, $2)"};

/* procedures/owcp_consent_list.sql */
static const struct store_stmt stmt_consent_list = {
    S_CONSENT_LIST, "consent_list",
    "SELECT account, requestor, state, by, transaction, at FROM "
    "owcp_consent_list($1)"};

const struct store_stmt *const store_admin_statements[] = {
    &stmt_account_add,    &stmt_account_disable,   &stmt_code_issue,
    &stmt_requestor_add,  &stmt_requestor_disable, &stmt_account_list,
    &stmt_requestor_list, &stmt_client_list,       &stmt_consent_add,
    &stmt_consent_remove, &stmt_consent_list,      NULL};

/* ---- administration -------------------------------------------------------
 */

int store_account_add(struct store *st, const char *address, int *status,
                      struct owcp_error *err)
{
  struct svc_pg_params p = {0};

  svc_pg_param_text(&p, address);
  return store_run_status(st, &stmt_account_add, &p, status, err);
}

int store_account_disable(struct store *st, const char *address, int *status,
                          struct owcp_error *err)
{
  struct svc_pg_params p = {0};

  svc_pg_param_text(&p, address);
  return store_run_status(st, &stmt_account_disable, &p, status, err);
}

int store_code_issue(struct store *st, const char *account,
                     const unsigned char code_hash[OWCP_SHA256_LEN],
                     int ttl_seconds, time_t now, int *status,
                     struct owcp_error *err)
{
  struct svc_pg_params p = {0};

  svc_pg_param_text(&p, account);
  svc_pg_param_bin(&p, code_hash, OWCP_SHA256_LEN);
  svc_pg_param_int(&p, ttl_seconds);
  svc_pg_param_time(&p, now);
  return store_run_status(st, &stmt_code_issue, &p, status, err);
}

int store_requestor_add(struct store *st, const char *address,
                        const unsigned char token_hash[OWCP_SHA256_LEN],
                        int rate_per_minute, int *status, int64_t *id,
                        struct owcp_error *err)
{
  struct svc_pg_params p = {0};
  PGresult *res;
  int rc;

  svc_pg_param_text(&p, address);
  svc_pg_param_bin(&p, token_hash, OWCP_SHA256_LEN);
  svc_pg_param_int(&p, rate_per_minute);
  rc = store_run_row(st, &stmt_requestor_add, &p, &res, err);
  if (rc != 0)
    return rc;
  *status = (int)svc_pg_get_int(res, 0, 0);
  *id = svc_pg_get_int(res, 0, 1);
  PQclear(res);
  return 0;
}

int store_requestor_disable(struct store *st, const char *address, int *status,
                            struct owcp_error *err)
{
  struct svc_pg_params p = {0};

  svc_pg_param_text(&p, address);
  return store_run_status(st, &stmt_requestor_disable, &p, status, err);
}

int store_account_list(struct store *st, store_row_fn fn, void *arg,
                       struct owcp_error *err)
{
  struct store_listing l = {fn, arg};

  return store_run_rows(st, &stmt_account_list, NULL, store_listing_row, &l,
                        err);
}

int store_requestor_list(struct store *st, store_row_fn fn, void *arg,
                         struct owcp_error *err)
{
  struct store_listing l = {fn, arg};

  return store_run_rows(st, &stmt_requestor_list, NULL, store_listing_row, &l,
                        err);
}

int store_client_list(struct store *st, const char *account, store_row_fn fn,
                      void *arg, struct owcp_error *err)
{
  struct store_listing l = {fn, arg};
  struct svc_pg_params p = {0};

  svc_pg_param_text(&p, account);
  return store_run_rows(st, &stmt_client_list, &p, store_listing_row, &l, err);
}

/* ---- requestor consent ---------------------------------------------------
 */

int store_consent_add(struct store *st, const char *account,
                      const char *requestor, int *status,
                      struct owcp_error *err)
{
  struct svc_pg_params p = {0};

  svc_pg_param_text(&p, account);
  svc_pg_param_text(&p, requestor);
  return store_run_status(st, &stmt_consent_add, &p, status, err);
}

int store_consent_remove(struct store *st, const char *account,
                         const char *requestor, int *status,
                         struct owcp_error *err)
{
  struct svc_pg_params p = {0};

  svc_pg_param_text(&p, account);
  svc_pg_param_text(&p, requestor);
  return store_run_status(st, &stmt_consent_remove, &p, status, err);
}

int store_consent_list(struct store *st, const char *account, store_row_fn fn,
                       void *arg, struct owcp_error *err)
{
  struct store_listing l = {fn, arg};
  struct svc_pg_params p = {0};

  svc_pg_param_text(&p, account);
  return store_run_rows(st, &stmt_consent_list, &p, store_listing_row, &l, err);
}
