/*
 * store_approval.c — store.h's cached approvals (confirm = cached): the
 * lookup "does an Accept still cover (front, account, scope) now". They
 * are written only by bridge_store_confirm_decide, with the Accept.
 */
#include "store_internal.h"

#include <string.h>

static const struct bstore_stmt stmt_find = {
    BS_APPROVAL_FIND, "bridge_approval_find",
    "SELECT " BS_EPOCH("a.approved_at") ", " BS_EPOCH(
        "a.expires_at") ", c.transaction FROM approvals a "
                        "JOIN confirmations c ON c.id = a.confirmation_id "
                        "WHERE a.front = $1 AND a.account = $2 AND a.scope = "
                        "$3 AND a.approved_at <= " BS_NOW(
                            4) " AND a.expires_at > " BS_NOW(4)};

const struct bstore_stmt *const bstore_approval_statements[] = {&stmt_find,
                                                                NULL};

int bridge_store_approval_find(struct bridge_store *st, const char *front,
                               const char *account, const char *scope,
                               time_t now, struct bridge_approval *out,
                               bool *found, struct owcp_error *err)
{
  struct svc_pg_params p = {0};
  PGresult *res;
  int rc;

  memset(out, 0, sizeof *out);
  *found = false;
  svc_pg_param_text(&p, front);
  svc_pg_param_text(&p, account);
  svc_pg_param_text(&p, scope);
  svc_pg_param_time(&p, now);
  rc = bstore_run(st, &stmt_find, &p, &res, err);
  if (rc != 0)
    return rc;
  if (PQntuples(res) == 1) {
    out->approved_at = (time_t)svc_pg_get_int(res, 0, 0);
    out->expires_at = (time_t)svc_pg_get_int(res, 0, 1);
    rc = svc_pg_get_fixed(res, 0, 2, out->transaction, sizeof out->transaction,
                          err);
    *found = rc == 0;
  }
  PQclear(res);
  return rc;
}
