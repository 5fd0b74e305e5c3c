/*
 * store_metrics.h — the few numbers the dispatcher's /metrics shows from
 * the database: the DR-Complete backlog and the age of its oldest entry,
 * and how far the confirmation-log sealer lags. Kept apart from store.h:
 * these are read-only monitoring queries on a connection of their own
 * (opened lazily, reopened after a failure), so monitoring can never hold
 * a pool connection a request needs.
 */
#ifndef OWCP_DISPATCHER_STORE_METRICS_H
#define OWCP_DISPATCHER_STORE_METRICS_H

#include "owcp/util.h"

struct store_metrics_conn;

struct store_metrics {
  double completion_backlog;  /* outbox rows neither delivered nor failed */
  double completion_oldest_s; /* age of the oldest of them (0: none) */
  double log_seal_lag_s;      /* age of the oldest entry after the chain
                                 tip (0: all sealed) */
};

/* A handle for conninfo (borrowed; must outlive it). No connection is made
 * until the first sample. NULL on out of memory. */
struct store_metrics_conn *store_metrics_conn_new(const char *conninfo);
void store_metrics_conn_free(struct store_metrics_conn *c);

/* One round trip; 0, or with err set (one line, as owcp/service/pg.h
 * words it) SVC_PG_UNAVAILABLE when the database cannot be reached or the
 * connection broke, -1 on another failure. The connection is then dropped
 * and reopened by the next sample. */
int store_metrics_sample(struct store_metrics_conn *c,
                         struct store_metrics *out, struct owcp_error *err);

#endif
