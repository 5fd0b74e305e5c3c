/*
 * routes.c — the one route table of owcp-bridge: every URL it answers and
 * which handler runs. The fronts' paths are configuration ([otpce] path,
 * ...), so the table is built at start from it; /healthz and /metrics are
 * the service layer's. This is the place to look for "where is X handled".
 */
#include <stdlib.h>
#include <string.h>

#include "handlers.h"
#include "mras.h"
#include "owcp/service/log.h"
#include "store.h"
#include "wstep.h"

/* How long /healthz waits for a database connection. */
#define HEALTHZ_DB_WAIT_MS 2000

int routes_build(struct bridge *b, struct owcp_error *err)
{
  /* One slot per HTTP front: OTPCE, WSTEP, MRAS. */
  b->routes = calloc(3, sizeof *b->routes);
  if (b->routes == NULL) {
    owcp_error_set(err, "out of memory for the route table");
    return -1;
  }
  b->route_count = 0;
  if (b->cfg.otpce_on)
    b->routes[b->route_count++] =
        (struct svc_route){.method = "POST",
                           .path = b->cfg.otpce.path,
                           .handle = otpce_signcert,
                           .headers = otpce_response_headers};
  if (b->cfg.mras_on && b->cfg.mras.http_path != NULL)
    b->routes[b->route_count++] = (struct svc_route){
        .method = "POST", .path = b->cfg.mras.http_path, .handle = mras_http};
  /* [wstep]: MS-WSTEP (wstep.h) */
  if (b->cfg.wstep_on)
    b->routes[b->route_count++] = (struct svc_route){
        .method = "POST", .path = b->cfg.wstep.path, .handle = wstep_post};
  return 0;
}

void routes_free(struct bridge *b)
{
  free(b->routes);
  b->routes = NULL;
  b->route_count = 0;
}

static enum MHD_Result reply_text(struct svc_request *req, unsigned status,
                                  const char *text)
{
  size_t len = strlen(text);
  struct MHD_Response *resp = MHD_create_response_from_buffer(
      len, (void *)text, MHD_RESPMEM_PERSISTENT);
  if (resp == NULL)
    return MHD_NO;
  (void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                "text/plain; charset=utf-8");
  (void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
                                "no-store");
  enum MHD_Result ret = svc_http_queue(req, status, resp, len);
  MHD_destroy_response(resp);
  return ret;
}

enum MHD_Result bridge_healthz(struct svc_request *req)
{
  struct bridge *b = req->app_ctx;
  struct owcp_error err = {{0}};
  struct bridge_store *st = NULL;
  if (atomic_load(&b->stopping))
    return reply_text(req, MHD_HTTP_SERVICE_UNAVAILABLE, "stopping\n");
  int rc = bridge_store_acquire(b->pool, HEALTHZ_DB_WAIT_MS, &st, &err);
  if (rc == 0)
    rc = bridge_store_ping(st, &err);
  bridge_store_release(b->pool, st);
  if (rc != 0) {
    svc_log(SVC_LOG_WARN, "healthz", "database: %s", err.msg);
    return reply_text(req, MHD_HTTP_SERVICE_UNAVAILABLE,
                      "database unavailable\n");
  }
  return reply_text(req, MHD_HTTP_OK, "ok\n");
}
