/*
 * store_migrate.c — `owcp-bridge migrate`: the service layer's runner
 * (owcp/service/migrate.h) on sql/bridge/, over a connection of its own
 * (a pool's connections prepare statements that need the schema first).
 */
#include "store_internal.h"

#include "owcp/service/migrate.h"

#include <limits.h>

int bridge_store_migrate(const char *conninfo, const char *sql_dir,
                         int *applied, struct owcp_error *err)
{
  struct svc_migrate_result res = {0, 0};
  char found[PATH_MAX];
  PGconn *conn;
  int rc;

  if (applied != NULL)
    *applied = 0;
  if (sql_dir == NULL) {
    if (svc_migrate_locate("bridge", found, sizeof found, err) != 0)
      return -1;
    sql_dir = found;
  }
  conn = svc_pg_connect(conninfo, "", err);
  if (conn == NULL)
    return BRIDGE_STORE_UNAVAILABLE;
  rc = svc_migrate(conn, sql_dir, &res, err);
  PQfinish(conn);
  if (applied != NULL)
    *applied = res.applied;
  return rc;
}
