/*
 * healthz.c — GET /healthz: whether this process can serve, for load
 * balancers and orchestration. It reports 503 while shutting down so that
 * traffic drains before the process stops, and when the database does not
 * answer a round trip (then every operation would fail anyway).
 */
#include "ops.h"

#include "owcp/service/log.h"

/* The 503 body: which part is unhealthy, and why in one sentence. */
static enum MHD_Result reply_unhealthy(struct request *r, const char *database,
                                       const char *why)
{
  json_t *fields = json_pack("{s:s, s:s}", "Database", database, "Error", why);

  return fields ? http_reply(r, OWCP_UNAVAILABLE, fields) : MHD_NO;
}

enum MHD_Result healthz(struct request *r)
{
  struct owcp_error err = {{0}};

  if (atomic_load(&r->d->stopping))
    return reply_unhealthy(r, "ok", "The dispatcher is shutting down.");
  if (r->st == NULL || store_ping(r->st, &err) != 0) {
    svc_log(SVC_LOG_WARN, "healthz", "database ping failed: %s", err.msg);
    return reply_unhealthy(r, "unavailable",
                           "The database did not answer a round trip.");
  }
  json_t *fields = json_pack("{s:s}", "Database", "ok");
  return fields ? http_reply(r, OWCP_OK, fields) : MHD_NO;
}
