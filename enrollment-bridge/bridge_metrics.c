/*
 * bridge_metrics.c — registering owcp-bridge's series (bridge_metrics.h).
 */
#include "bridge_metrics.h"

#include "owcp/service/metrics.h"
#include "store.h"
#include "waiters.h"

static double pending(void *arg)
{
  struct bridge *b = arg;
  return b->waiters ? (double)waiters_pending(b->waiters) : 0.0;
}

static double pool_in_use(void *arg)
{
  struct svc_pgpool_stats st;
  bridge_store_pool_stats(arg, &st);
  return (double)st.in_use;
}

static double pool_waits(void *arg)
{
  struct svc_pgpool_stats st;
  bridge_store_pool_stats(arg, &st);
  return (double)st.waits;
}

int bridge_metrics_start(struct bridge *b, struct owcp_error *err)
{
  static const char *const front_outcome[] = {"front", "outcome", NULL};
  static const char *const outcome[] = {"outcome", NULL};
  struct bridge_counters *c = &b->counters;
  b->metrics = svc_metrics_new();
  if (b->metrics == NULL)
    goto oom;
  c->requests = svc_metrics_counter(
      b->metrics, "owcp_bridge_requests_total",
      "Requests answered, by front and protocol outcome.", front_outcome);
  c->radius = svc_metrics_counter(b->metrics, "owcp_bridge_radius_total",
                                  "RADIUS checks, by outcome.", outcome);
  c->confirmations = svc_metrics_counter(
      b->metrics, "owcp_bridge_confirmations_total",
      "Confirmations ended (or refused when sent), by outcome.", outcome);
  if (c->requests == NULL || c->radius == NULL || c->confirmations == NULL ||
      svc_metrics_gauge_fn(b->metrics, "owcp_bridge_confirmations_pending",
                           "Confirmations the waiters are waiting for.",
                           pending, b) == NULL ||
      svc_metrics_gauge_fn(b->metrics, "owcp_db_pool_connections_in_use",
                           "Database connections lent now.", pool_in_use,
                           b->pool) == NULL ||
      svc_metrics_gauge_fn(b->metrics, "owcp_db_pool_waits_total",
                           "Borrows that found no free database connection.",
                           pool_waits, b->pool) == NULL)
    goto oom;
  return 0;
oom:
  owcp_error_set(err, "out of memory for the metrics registry");
  return -1;
}
