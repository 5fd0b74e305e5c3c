/*
 * store_migrate.c — store.h's migrations: the dispatcher's use of the
 * service layer's runner (owcp/service/migrate.h) on sql/dispatcher/.
 */
#include "store_internal.h"

#include "owcp/service/migrate.h"

#include <limits.h>

int store_migrate(struct store *st, const char *dir, int *applied,
                  struct owcp_error *err)
{
  struct svc_migrate_result res = {0, 0};
  char found[PATH_MAX];
  int rc;

  if (applied != NULL)
    *applied = 0;
  if (dir == NULL) {
    if (svc_migrate_locate("dispatcher", found, sizeof found, err) != 0)
      return -1;
    dir = found;
  }
  rc = svc_migrate(st->conn, dir, &res, err);
  if (rc == 0)
    rc = store_prepare_all(st, err);
  if (applied != NULL)
    *applied = res.applied;
  return rc;
}

int store_grant_runtime(struct store *st, const char *role, int *tables,
                        struct owcp_error *err)
{
  const char *params[1] = {role};
  PGresult *res = PQexecParams(st->conn, "SELECT owcp_grant_runtime($1)", 1,
                               NULL, params, NULL, NULL, 0);
  int rc = 0;

  if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
    rc = svc_pg_fail(st->conn, res, "granting the runtime role", err);
  else if (tables != NULL)
    *tables = (int)svc_pg_get_int(res, 0, 0);
  PQclear(res);
  return rc;
}
