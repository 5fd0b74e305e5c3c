/*
 * store_wstep.c — store.h's WSTEP requests taken under submission: the
 * RequestID (a sequence kept in 1..2^31-1), the account-scoped lookup
 * QueryTokenStatus needs, and the one-call issue (certificate, issuance,
 * request state) or denial.
 */
#include "store_internal.h"

#include <stdlib.h>
#include <string.h>

static const struct bstore_stmt stmt_create = {
    BS_WSTEP_CREATE, "bridge_wstep_create",
    "SELECT bridge_wstep_create($1, $2, $3, $4, " BS_TS(5) ")"};

static const struct bstore_stmt stmt_attach = {
    BS_WSTEP_ATTACH, "bridge_wstep_attach",
    "SELECT bridge_wstep_attach($1, $2, $3)"};

static const struct bstore_stmt stmt_get = {
    BS_WSTEP_GET, "bridge_wstep_get",
    "SELECT w.request_id, w.template, w.csr, w.state, w.reason, "
    "coalesce(c.transaction, ''), coalesce(c.state, ''), k.der, "
    "coalesce(w.certificate_serial, ''), " BS_EPOCH(
        "w.created_at") " FROM wstep_requests w "
                        "LEFT JOIN confirmations c ON c.id = w.confirmation_id "
                        "LEFT JOIN certificates k ON k.serial = "
                        "w.certificate_serial "
                        "WHERE w.request_id = $1 AND w.account = $2"};

static const struct bstore_stmt stmt_issue = {
    BS_WSTEP_ISSUE, "bridge_wstep_issue",
    "SELECT bridge_wstep_issue($1, $2, $3, $4, $5, " BS_TS(6) ", " BS_TS(
        7) ", " BS_TS(8) ")"};

static const struct bstore_stmt stmt_deny = {
    BS_WSTEP_DENY, "bridge_wstep_deny",
    "SELECT bridge_wstep_deny($1, $2, $3, " BS_TS(4) ")"};

const struct bstore_stmt *const bstore_wstep_statements[] = {
    &stmt_create, &stmt_attach, &stmt_get, &stmt_issue, &stmt_deny, NULL};

int bridge_store_wstep_create(struct bridge_store *st,
                              const struct bridge_wstep_new *in,
                              int32_t *request_id, struct owcp_error *err)
{
  struct svc_pg_params p = {0};
  int64_t id;
  int rc;

  svc_pg_param_text(&p, in->account);
  svc_pg_param_text(&p, in->template_name);
  svc_pg_param_bin(&p, in->csr, in->csr_len);
  svc_pg_param_text(&p, in->transaction);
  svc_pg_param_time(&p, in->now);
  rc = bstore_run_int(st, &stmt_create, &p, &id, err);
  if (rc != 0)
    return rc;
  /* The column's constraint already keeps it in range; checked again
   * because a client would be handed a truncated number otherwise. */
  if (id < 1 || id > INT32_MAX) {
    owcp_error_set(err, "database returned RequestID %lld, outside 1..2^31-1",
                   (long long)id);
    return -1;
  }
  *request_id = (int32_t)id;
  return 0;
}

int bridge_store_wstep_attach(struct bridge_store *st, int32_t request_id,
                              const char *account, const char *transaction,
                              int *status, struct owcp_error *err)
{
  struct svc_pg_params p = {0};
  int64_t v;
  int rc;

  svc_pg_param_int(&p, request_id);
  svc_pg_param_text(&p, account);
  svc_pg_param_text(&p, transaction);
  rc = bstore_run_int(st, &stmt_attach, &p, &v, err);
  if (rc == 0)
    *status = (int)v;
  return rc;
}

void bridge_wstep_request_free(struct bridge_wstep_request *r)
{
  if (r == NULL)
    return;
  free(r->template_name);
  free(r->csr);
  free(r->reason);
  free(r->certificate);
  memset(r, 0, sizeof *r);
}

static int wstep_fill(const PGresult *res, struct bridge_wstep_request *r,
                      struct owcp_error *err)
{
  r->request_id = (int32_t)svc_pg_get_int(res, 0, 0);
  r->created = (time_t)svc_pg_get_int(res, 0, 9);
  if (svc_pg_get_dup(res, 0, 1, &r->template_name, err) ||
      svc_pg_get_bytea(res, 0, 2, &r->csr, &r->csr_len, err) ||
      svc_pg_get_fixed(res, 0, 3, r->state, sizeof r->state, err) ||
      svc_pg_get_dup(res, 0, 4, &r->reason, err) ||
      svc_pg_get_fixed(res, 0, 5, r->transaction, sizeof r->transaction, err) ||
      svc_pg_get_fixed(res, 0, 6, r->confirmation_state,
                       sizeof r->confirmation_state, err) ||
      svc_pg_get_bytea(res, 0, 7, &r->certificate, &r->certificate_len, err) ||
      svc_pg_get_fixed(res, 0, 8, r->serial, sizeof r->serial, err))
    return -1;
  return 0;
}

int bridge_store_wstep_get(struct bridge_store *st, int32_t request_id,
                           const char *account,
                           struct bridge_wstep_request *out, bool *found,
                           struct owcp_error *err)
{
  struct svc_pg_params p = {0};
  PGresult *res;
  int rc;

  memset(out, 0, sizeof *out);
  *found = false;
  svc_pg_param_int(&p, request_id);
  svc_pg_param_text(&p, account);
  rc = bstore_run(st, &stmt_get, &p, &res, err);
  if (rc != 0)
    return rc;
  if (PQntuples(res) == 1) {
    rc = wstep_fill(res, out, err);
    if (rc != 0)
      bridge_wstep_request_free(out);
    *found = rc == 0;
  }
  PQclear(res);
  return rc;
}

int bridge_store_wstep_issue(struct bridge_store *st, int32_t request_id,
                             const char *account,
                             const struct bridge_wstep_cert *cert, int *status,
                             struct owcp_error *err)
{
  struct svc_pg_params p = {0};
  int64_t v;
  int rc;

  svc_pg_param_int(&p, request_id);
  svc_pg_param_text(&p, account);
  svc_pg_param_text(&p, cert->serial);
  svc_pg_param_text(&p, cert->subject);
  svc_pg_param_bin(&p, cert->der, cert->der_len);
  svc_pg_param_int(&p, (int64_t)cert->not_before);
  svc_pg_param_int(&p, (int64_t)cert->not_after);
  svc_pg_param_time(&p, cert->now);
  rc = bstore_run_int(st, &stmt_issue, &p, &v, err);
  if (rc == 0)
    *status = (int)v;
  return rc;
}

int bridge_store_wstep_deny(struct bridge_store *st, int32_t request_id,
                            const char *account, const char *reason, time_t now,
                            int *status, struct owcp_error *err)
{
  struct svc_pg_params p = {0};
  int64_t v;
  int rc;

  svc_pg_param_int(&p, request_id);
  svc_pg_param_text(&p, account);
  svc_pg_param_text(&p, reason);
  svc_pg_param_time(&p, now);
  rc = bstore_run_int(st, &stmt_deny, &p, &v, err);
  if (rc == 0)
    *status = (int)v;
  return rc;
}
