/*
 * listed.h — the listing writer: records CD-List's first deliveries
 * ("transaction.listed") in batches, off the request path.
 *
 * CD-List's read is read-only (procedures/owcp_pending.sql); the handler
 * hands each first delivery it answered to listed_note(), which queues it
 * in memory. One background thread per process takes everything queued
 * and records it in ONE short transaction committed without waiting for
 * its WAL flush (store_listed_record(), procedures/owcp_listed_record.sql):
 * a listing is written once it is 50 ms old (listed.c says why), with
 * everything queued by then. At shutdown
 * (listed_stop(), after the HTTP front stopped) the queue is flushed.
 *
 * The queue is bounded. When it is full (the database slower than the
 * listings, or unreachable) listed_note() records on the caller's own
 * connection, as CD-List did before: a slower CD-List rather than a gap in
 * the audit trail (counted in owcp_listed_sync_total).
 *
 * What a crash can lose is what the listing could always lose (it was
 * never a durable commit): "listed" entries, never an answer, a creation
 * or a chain link; owcp_reply() records a still-missing listing before the
 * answer (docs/dispatcher-design.md, "Durable commits per confirmation").
 */
#ifndef OWCP_DISPATCHER_LISTED_H
#define OWCP_DISPATCHER_LISTED_H

#include <stddef.h>

#include "store.h"

struct listed;
struct svc_metrics;

/* Starts the writer thread: it borrows connections from pool and queues
 * at most capacity listings (> 0). Its counters are registered in metrics
 * (may be NULL). NULL and err filled on failure. Stop and free with
 * listed_stop(). */
struct listed *listed_start(struct store_pool *pool, size_t capacity,
                            struct svc_metrics *metrics,
                            struct owcp_error *err);

/* Hands n deliveries over (copied; the caller's items may be changed). What
 * does not fit in the queue is recorded at once on st, the caller's
 * connection. Nothing to
 * report back: CD-List's answer stands either way, and a failed write
 * loses only those listings (logged, counted in owcp_listed_lost_total),
 * as a crash could. */
void listed_note(struct listed *l, struct store *st, struct store_listed *items,
                 size_t n);

/* Flushes everything queued (one last try when the database fails), stops
 * the thread and frees l. Call after the last listed_note(). NULL is
 * ignored. */
void listed_stop(struct listed *l);

#endif
