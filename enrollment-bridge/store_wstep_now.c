/*
 * store_wstep_now.c — store.h's WSTEP additions: a certificate issued at
 * once (bridge_wstep_issue_now), the account a RequestID belongs to (an
 * anonymous renewal's QueryTokenStatus) and the account a certificate was
 * issued to (whose confirmation an anonymous renewal asks for).
 */
#include "store_internal.h"

#include <string.h>

static const struct bstore_stmt stmt_issue_now = {
    BS_WSTEP_ISSUE_NOW, "bridge_wstep_issue_now",
    "SELECT bridge_wstep_issue_now($1, $2, $3, $4, $5, $6, $7, " BS_TS(
        8) ", " BS_TS(9) ", " BS_TS(10) ")"};

static const struct bstore_stmt stmt_owner = {
    BS_WSTEP_OWNER, "bridge_wstep_owner",
    "SELECT account FROM wstep_requests WHERE request_id = $1"};

static const struct bstore_stmt stmt_cert_owner = {
    BS_CERT_OWNER, "bridge_cert_owner",
    "SELECT requester FROM certificates WHERE serial = $1"};

const struct bstore_stmt *const bstore_wstep_now_statements[] = {
    &stmt_issue_now, &stmt_owner, &stmt_cert_owner, NULL};

int bridge_store_wstep_issue_now(struct bridge_store *st,
                                 const struct bridge_wstep_new *in,
                                 const struct bridge_wstep_cert *cert,
                                 int32_t *request_id, struct owcp_error *err)
{
  struct svc_pg_params p = {0};
  int64_t id;
  svc_pg_param_text(&p, in->account);
  svc_pg_param_text(&p, in->template_name);
  svc_pg_param_bin(&p, in->csr, in->csr_len);
  svc_pg_param_text(&p, in->transaction);
  svc_pg_param_text(&p, cert->serial);
  svc_pg_param_text(&p, cert->subject);
  svc_pg_param_bin(&p, cert->der, cert->der_len);
  svc_pg_param_int(&p, (int64_t)cert->not_before);
  svc_pg_param_int(&p, (int64_t)cert->not_after);
  svc_pg_param_time(&p, cert->now);
  int rc = bstore_run_int(st, &stmt_issue_now, &p, &id, err);
  if (rc == 0 && (id < 1 || id > INT32_MAX)) {
    owcp_error_set(err, "database returned RequestID %lld, outside 1..2^31-1",
                   (long long)id);
    rc = -1;
  }
  if (rc == 0)
    *request_id = (int32_t)id;
  return rc;
}

/* One text column of at most one row into out. */
static int owner_of(struct bridge_store *st, const struct bstore_stmt *s,
                    struct svc_pg_params *p, char out[BRIDGE_STORE_ACCOUNT_MAX],
                    bool *found, struct owcp_error *err)
{
  PGresult *res = NULL;
  *found = false;
  out[0] = '\0';
  int rc = bstore_run(st, s, p, &res, err);
  if (rc == 0 && PQntuples(res) == 1) {
    rc = svc_pg_get_fixed(res, 0, 0, out, BRIDGE_STORE_ACCOUNT_MAX, err);
    *found = rc == 0;
  }
  PQclear(res);
  return rc;
}

int bridge_store_wstep_owner(struct bridge_store *st, int32_t request_id,
                             char account[BRIDGE_STORE_ACCOUNT_MAX],
                             bool *found, struct owcp_error *err)
{
  struct svc_pg_params p = {0};
  svc_pg_param_int(&p, request_id);
  return owner_of(st, &stmt_owner, &p, account, found, err);
}

int bridge_store_cert_owner(struct bridge_store *st, const char *serial,
                            char account[BRIDGE_STORE_ACCOUNT_MAX], bool *found,
                            struct owcp_error *err)
{
  struct svc_pg_params p = {0};
  svc_pg_param_text(&p, serial);
  return owner_of(st, &stmt_cert_owner, &p, account, found, err);
}
