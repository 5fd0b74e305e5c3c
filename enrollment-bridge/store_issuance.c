/*
 * store_issuance.c — store.h's record of what was handed out (CMC
 * requests, TURN credentials; certificates go through store_cert.c,
 * which records their issuance with them). The _once form is for an
 * Accept that covers one issuance only (OTPCE under confirm = required).
 */
#include "store_internal.h"

static const struct bstore_stmt stmt_record = {
    BS_ISSUANCE_RECORD, "bridge_issuance_record",
    "SELECT bridge_issuance_record($1, $2, $3, $4, $5, $6::jsonb, $7, "
    "NULL, " BS_TS(8) ")"};

static const struct bstore_stmt stmt_record_once = {
    BS_ISSUANCE_RECORD_ONCE, "bridge_issuance_record_once",
    "SELECT o_status, o_id FROM bridge_issuance_record_once($1, $2, $3, $4, "
    "$5, $6::jsonb, $7, " BS_TS(8) ")"};

const struct bstore_stmt *const bstore_issuance_statements[] = {
    &stmt_record, &stmt_record_once, NULL};

/* The parameters both statements take, in their order. */
static void issuance_params(struct svc_pg_params *p,
                            const struct bridge_issuance_new *in)
{
  svc_pg_param_text(p, in->front);
  svc_pg_param_text(p, in->account);
  svc_pg_param_text(p, in->scope);
  svc_pg_param_text(p, in->kind);
  svc_pg_param_text(p, in->description);
  svc_pg_param_text(p, in->details_json);
  svc_pg_param_text(p, in->transaction);
  svc_pg_param_time(p, in->now);
}

int bridge_store_issuance_record(struct bridge_store *st,
                                 const struct bridge_issuance_new *in,
                                 int64_t *id, struct owcp_error *err)
{
  struct svc_pg_params p = {0};
  int64_t row;
  int rc;

  issuance_params(&p, in);
  rc = bstore_run_int(st, &stmt_record, &p, &row, err);
  if (rc == 0 && id != NULL)
    *id = row;
  return rc;
}

int bridge_store_issuance_record_once(struct bridge_store *st,
                                      const struct bridge_issuance_new *in,
                                      int *status, int64_t *id,
                                      struct owcp_error *err)
{
  struct svc_pg_params p = {0};
  PGresult *res;
  int rc;

  issuance_params(&p, in);
  rc = bstore_run_row(st, &stmt_record_once, &p, &res, err);
  if (rc != 0)
    return rc;
  *status = (int)svc_pg_get_int(res, 0, 0);
  if (id != NULL)
    *id = *status == 200 ? svc_pg_get_int(res, 0, 1) : 0;
  PQclear(res);
  return 0;
}
