/*
 * ratelease.h — per-process leases on RD-Confirm's rate limit, so that
 * most confirmations cost no database transaction for the count (issue 11).
 *
 * The limit itself lives in the database (rate_windows, one row per
 * requestor and minute, shared by every dispatcher process). Counting each
 * attempt there cost one short write transaction per RD-Confirm. Instead a
 * process asks owcp_rate_take() for a CHUNK of units (the database counts
 * them all at once) and keeps what its current attempt did not use here,
 * spending one per later attempt of the same requestor. The central count
 * includes every unit any process holds, so no number of processes can
 * admit more than the limit in a window; what leases lose is only
 * under-admission (units still held when the window ends, when a lease is
 * replaced or dropped), bounded by the database's chunk rule
 * (procedures/owcp_rate_take.sql: ≤ 1/256 of the limit and ≤
 * RATELEASE_CHUNK_MAX - 1 per process and requestor each time).
 *
 * A lease is bound to a generation: the caller passes the token cache's
 * (authcache_live_generation()), which moves whenever the database says a
 * requestor changed (NOTIFY 'auth': disabled, rate changed) and whenever
 * the LISTEN connection is lost or back. A lease of another generation is
 * never used, so a lowered limit takes effect on every process within the
 * notification's delay. A lease also ends at a monotonic-clock deadline no
 * later than its window's end.
 *
 * Bounded: RATELEASE_WAYS entries per set, sets chosen by requestor id
 * (ids are handed out in sequence, so they spread evenly); a full set
 * replaces its entry closest to expiry. Thread-safe (one mutex).
 */
#ifndef OWCP_DISPATCHER_RATELEASE_H
#define OWCP_DISPATCHER_RATELEASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The most units one database take may grant (its p_max). */
#define RATELEASE_CHUNK_MAX 64

/* Entries per set. */
#define RATELEASE_WAYS 4

struct ratelease;

/* A table of `sets` × RATELEASE_WAYS leases (sets ≥ 1); NULL when memory
 * runs out or sets is 0. */
struct ratelease *ratelease_new(size_t sets);

/* Releases the table (units still held are simply not used); NULL is
 * fine. */
void ratelease_free(struct ratelease *l);

/* Spends one unit of requestor's lease: true when its lease is of
 * `generation`, not past its deadline at now_ms (CLOCK_MONOTONIC, ms) and
 * not empty. False: the attempt must be counted by the database. */
bool ratelease_take(struct ratelease *l, int64_t requestor, uint64_t generation,
                    int64_t now_ms);

/* Keeps `units` (> 0) the database granted beyond the attempt's own for
 * requestor, usable until deadline_ms (CLOCK_MONOTONIC, ms) under
 * `generation`. Threads of one process that found the lease empty at the
 * same time each take a chunk: when the requestor's lease is of the same
 * generation and still running at now_ms, the units are added to it and
 * the earlier deadline kept (units of either chunk are then never spent
 * after either window); otherwise the old lease is replaced (its units are
 * lost). */
void ratelease_put(struct ratelease *l, int64_t requestor, uint64_t generation,
                   int units, int64_t deadline_ms, int64_t now_ms);

/* Units spent from leases, and units given up unspent (replaced, evicted,
 * expired or of an old generation when looked at again), since the start. */
uint64_t ratelease_spent(struct ratelease *l);
uint64_t ratelease_lost(struct ratelease *l);

#endif
