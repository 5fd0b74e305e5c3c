/*
 * bridge_metrics.h — owcp-bridge's own series on GET /metrics, next to the
 * service layer's HTTP and process series:
 *   owcp_bridge_requests_total{front,outcome}   each answered request, by
 *       the protocol's status (Success, AuthenticationError, ...; BadRequest
 *       for HTTP 400)
 *   owcp_bridge_radius_total{outcome}           ACCEPT, REJECT, CHALLENGE,
 *       NO_ANSWER, ERROR
 *   owcp_bridge_confirmations_total{outcome}    accepted, rejected, ...
 *   owcp_bridge_confirmations_pending           confirmations waited for
 *   owcp_db_pool_connections_in_use, owcp_db_pool_waits_total
 */
#ifndef OWCP_BRIDGE_METRICS_H
#define OWCP_BRIDGE_METRICS_H

#include "context.h"

/* Creates b->metrics and the series above (b->pool must exist; the
 * pending gauge reads b->waiters when set). 0, or -1 with err. */
int bridge_metrics_start(struct bridge *b, struct owcp_error *err);

#endif
