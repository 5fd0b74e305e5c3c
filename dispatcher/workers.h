/*
 * workers.h — the dispatcher's background threads: the sweeper (expires
 * transactions and seals the confirmation log) and the DR-Complete outbox
 * sender. Both hold no state another process needs: all their work is
 * claimed from the database with SKIP LOCKED, so any number of processes
 * can run them at once. Threads are created and paced with the service
 * layer's runtime (owcp/service/daemon.h).
 */
#ifndef OWCP_DISPATCHER_WORKERS_H
#define OWCP_DISPATCHER_WORKERS_H

#include <jansson.h>
#include <pthread.h>

#include "context.h"

/* Start the threads (they stop when d->stopping becomes true). */
int sweeper_start(struct dispatcher *d, struct owcp_error *err);
int outbox_start(struct dispatcher *d, struct owcp_error *err);

/* Join the threads after d->stopping was set. */
void sweeper_join(struct dispatcher *d);
void outbox_join(struct dispatcher *d);

/* The DR-Complete body for a final outcome: {"Operation":"DR-Complete",
 * "Status":200|408, "Text":..., + the RD-Status result fields}. New
 * reference the caller owns (json_decref); NULL when res is not final
 * (status other than 200 or 408) or memory runs out. */
json_t *outbox_completion_body(const struct store_result *res);

#endif
