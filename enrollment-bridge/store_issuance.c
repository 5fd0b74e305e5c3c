/*
 * store_issuance.c — store.h's record of what was handed out (CMC
 * requests, TURN credentials; certificates go through store_cert.c,
 * which records their issuance with them).
 */
#include "store_internal.h"

static const struct bstore_stmt stmt_record = {
    BS_ISSUANCE_RECORD, "bridge_issuance_record",
    "SELECT bridge_issuance_record($1, $2, $3, $4, $5, $6::jsonb, $7, "
    "NULL, " BS_TS(8) ")"};

const struct bstore_stmt *const bstore_issuance_statements[] = {&stmt_record,
                                                                NULL};

int bridge_store_issuance_record(struct bridge_store *st,
                                 const struct bridge_issuance_new *in,
                                 int64_t *id, struct owcp_error *err)
{
  struct svc_pg_params p = {0};
  int64_t row;
  int rc;

  svc_pg_param_text(&p, in->front);
  svc_pg_param_text(&p, in->account);
  svc_pg_param_text(&p, in->scope);
  svc_pg_param_text(&p, in->kind);
  svc_pg_param_text(&p, in->description);
  svc_pg_param_text(&p, in->details_json);
  svc_pg_param_text(&p, in->transaction);
  svc_pg_param_time(&p, in->now);
  rc = bstore_run_int(st, &stmt_record, &p, &row, err);
  if (rc == 0 && id != NULL)
    *id = row;
  return rc;
}
