/*
 * store_nonce.c — store.h's MRAS Digest replay guard: a (nonce, nc) pair
 * is accepted once, by whichever connection inserts it first (the primary
 * key decides, also between concurrent requests and across restarts).
 */
#include "store_internal.h"

static const struct bstore_stmt stmt_use = {
    BS_NONCE_USE, "bridge_nonce_use",
    "INSERT INTO digest_nonces (nonce, nc, expires_at, used_at) "
    "VALUES ($1, $2, " BS_TS(3) ", " BS_NOW(
        4) ") ON CONFLICT (nonce, nc) DO NOTHING RETURNING 1"};

static const struct bstore_stmt stmt_purge = {
    BS_NONCE_PURGE, "bridge_nonce_purge",
    "WITH gone AS (DELETE FROM digest_nonces WHERE expires_at <= " BS_NOW(
        1) " RETURNING 1) SELECT count(*) FROM gone"};

const struct bstore_stmt *const bstore_nonce_statements[] = {&stmt_use,
                                                             &stmt_purge, NULL};

int bridge_store_nonce_use(struct bridge_store *st, const char *nonce,
                           uint32_t nc, time_t expires, time_t now, bool *fresh,
                           struct owcp_error *err)
{
  struct svc_pg_params p = {0};
  PGresult *res;
  int rc;

  *fresh = false;
  svc_pg_param_text(&p, nonce);
  svc_pg_param_int(&p, nc);
  svc_pg_param_int(&p, (int64_t)expires);
  svc_pg_param_time(&p, now);
  rc = bstore_run(st, &stmt_use, &p, &res, err);
  if (rc != 0)
    return rc;
  *fresh = PQntuples(res) == 1;
  PQclear(res);
  return 0;
}

int bridge_store_nonce_purge(struct bridge_store *st, time_t now,
                             int64_t *purged, struct owcp_error *err)
{
  struct svc_pg_params p = {0};
  int64_t n;
  int rc;

  svc_pg_param_time(&p, now);
  rc = bstore_run_int(st, &stmt_purge, &p, &n, err);
  if (rc == 0 && purged != NULL)
    *purged = n;
  return rc;
}
