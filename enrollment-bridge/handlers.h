/*
 * handlers.h — owcp-bridge's HTTP side: the route table built from the
 * configuration (routes.c), GET /healthz (routes.c) and the fronts'
 * handlers (otpce_signcert.c; WSTEP's are declared in wstep.h, MRAS's POST
 * in mras.h).
 * Handlers run on the service layer's worker threads with req->app_ctx
 * the process's struct bridge.
 */
#ifndef OWCP_BRIDGE_HANDLERS_H
#define OWCP_BRIDGE_HANDLERS_H

#include "confirm.h"
#include "context.h"
#include "owcp/service/http.h"

/* Under confirm = required an Accept covers one issuance. A byte-identical
 * retry (same account, template and CSR) of a request whose client gave
 * up, or whose bridge restarted, before the user answered is answered from
 * that request's Accept if nothing was issued from it yet and it was
 * recorded at most this many minutes ago (docs/enrollment-bridge.md,
 * "Restart semantics"). */
#define OTPCE_RETRY_MINUTES 15

/* POST {[otpce] path}: the MS-OTPCE SignCert operation. */
/* The headers of every response on that path (struct svc_route.headers):
 * X-OTPCEP-version: 1.0 (contract §4), also on the service layer's 405
 * and 413. */
extern const char *const otpce_response_headers[];

enum MHD_Result otpce_signcert(struct svc_request *req);

/* How long an OTPCE Accept is kept as an approval under policy p: the
 * cached: minutes; 0 (no approval) under required and off. */
int otpce_cache_minutes(const struct confirm_policy *p);

/* GET /healthz: 200 when the database answers a round trip, else 503. */
enum MHD_Result bridge_healthz(struct svc_request *req);

/* b->routes and b->route_count: one route per enabled front, its path
 * from the configuration. 0, or -1 with err. */
int routes_build(struct bridge *b, struct owcp_error *err);

/* Releases b->routes. */
void routes_free(struct bridge *b);

#endif
