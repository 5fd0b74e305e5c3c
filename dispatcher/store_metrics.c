/*
 * store_metrics.c — monitoring queries (store_metrics.h). Each is served
 * by an index: the outbox's partial "due" index, and the primary keys of
 * log_chain (tip) and log (entries after it).
 */
#include "store_metrics.h"

#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

#include "owcp/service/pg.h"

static const char SAMPLE_SQL[] =
    "SELECT (SELECT count(*) FROM outbox"
    "         WHERE delivered_at IS NULL AND failed_at IS NULL),"
    "       (SELECT coalesce(extract(epoch FROM now() - min(created_at)), 0)"
    "          FROM outbox WHERE delivered_at IS NULL AND failed_at IS NULL),"
    "       (SELECT coalesce(extract(epoch FROM now() - min(l.at)), 0)"
    "          FROM log l WHERE l.seq > coalesce("
    "            (SELECT seq FROM log_chain ORDER BY pos DESC LIMIT 1), 0))";

struct store_metrics_conn {
  const char *conninfo;
  PGconn *pg;
};

struct store_metrics_conn *store_metrics_conn_new(const char *conninfo)
{
  struct store_metrics_conn *c = calloc(1, sizeof *c);

  if (c != NULL)
    c->conninfo = conninfo;
  return c;
}

void store_metrics_conn_free(struct store_metrics_conn *c)
{
  if (c == NULL)
    return;
  PQfinish(c->pg);
  free(c);
}

/* The query failed: the error classified as the pool's are
 * (SVC_PG_UNAVAILABLE or -1, one line), the connection dropped so that the
 * next sample reconnects. */
static int fail(struct store_metrics_conn *c, const PGresult *res,
                struct owcp_error *err)
{
  int rc = svc_pg_fail(c->pg, res, "metrics query", err);
  PQfinish(c->pg);
  c->pg = NULL;
  return rc;
}

int store_metrics_sample(struct store_metrics_conn *c,
                         struct store_metrics *out, struct owcp_error *err)
{
  if (c->pg == NULL &&
      (c->pg = svc_pg_connect(c->conninfo, " for metrics", err)) == NULL)
    return SVC_PG_UNAVAILABLE;
  PGresult *res = PQexec(c->pg, SAMPLE_SQL);
  if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
    int rc = fail(c, res, err);
    PQclear(res);
    return rc;
  }
  out->completion_backlog = strtod(PQgetvalue(res, 0, 0), NULL);
  out->completion_oldest_s = strtod(PQgetvalue(res, 0, 1), NULL);
  out->log_seal_lag_s = strtod(PQgetvalue(res, 0, 2), NULL);
  PQclear(res);
  return 0;
}
