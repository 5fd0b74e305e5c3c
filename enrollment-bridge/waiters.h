/*
 * waiters.h — the confirmation waiters: a fixed pool of threads that learn
 * how confirmations end (confirm_check(), an RD-Status long poll, verified
 * receipt) and record each outcome in the bridge's database, so that no
 * HTTP worker thread is held for the user's whole answer time. The HTTP
 * request that asked is suspended meanwhile (owcp/service/wakeup.h) and
 * resumed with the outcome.
 *
 * Bounded: at most WAITERS_THREADS threads and WAITERS_MAX_JOBS
 * confirmations in progress at once; waiters_submit() refuses more (the
 * caller answers its protocol's failure). The threads take turns over the
 * jobs: a thread holds one job for a long poll of up to
 * WAITERS_LONG_POLL_S seconds when nothing else waits, otherwise
 * WAITERS_SHORT_POLL_S, and puts a still pending job back at the end of
 * the queue.
 *
 * At start, waiters_recover() queues the confirmations the database still
 * has as pending (a previous process was stopped while they waited): their
 * outcomes are recorded as they come, and under cached: an Accept becomes
 * the approval the client's retry finds (under required the retry finds
 * the recorded Accept itself, docs/enrollment-bridge.md).
 */
#ifndef OWCP_BRIDGE_WAITERS_H
#define OWCP_BRIDGE_WAITERS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "confirm.h"
#include "context.h"
#include "owcp/util.h"

#define WAITERS_THREADS 4
#define WAITERS_MAX_JOBS 256
#define WAITERS_LONG_POLL_S 3
#define WAITERS_SHORT_POLL_S 1
/* A confirmation still pending this long after its expiry is withdrawn
 * (RD-Final) and recorded as such. */
#define WAITERS_EXPIRY_GRACE_S 60

struct svc_wakeup;

/* One confirmation being waited for. Shared by the submitter and the pool
 * (reference counted); the result members are written by the pool before
 * `done` is set and the wakeup fired, and read by the submitter after. */
struct confirm_job {
  atomic_int refs;
  /* what to ask about (owned copies) */
  char *transaction;
  char *request_xml;
  size_t request_len;
  char *account;
  time_t expires;
  int cache_minutes;         /* > 0: an Accept also becomes an approval */
  struct svc_wakeup *wakeup; /* NULL: nobody waits (recovered) */
  /* the outcome */
  atomic_bool done;
  enum confirm_outcome outcome; /* ACCEPTED only when recorded as such */
  bool recorded;                /* the outcome is in the database */
};

/* A job with one reference (the caller's), copies of the strings, and a
 * reference to wakeup (may be NULL). NULL when out of memory. */
struct confirm_job *confirm_job_new(const char *transaction,
                                    const char *request_xml, size_t len,
                                    const char *account, time_t expires,
                                    int cache_minutes,
                                    struct svc_wakeup *wakeup);

/* Drops a reference; the last frees. NULL is fine. */
void confirm_job_unref(struct confirm_job *job);

/* Starts the threads (b->confirm and b->pool must be set and outlive the
 * pool). NULL with err on failure. */
struct waiters *waiters_new(struct bridge *b, struct owcp_error *err);

/* Queues job (taking a reference of its own). false when the pool is at
 * WAITERS_MAX_JOBS or stopping: the caller keeps its job and decides. */
bool waiters_submit(struct waiters *w, struct confirm_job *job);

/* Has waiters_stop() begun? (A refused submit then means "stopping", not
 * "full": the confirmation stays pending for the next start.) */
bool waiters_stopping(struct waiters *w);

/* Jobs queued or being checked, for /metrics. */
size_t waiters_pending(struct waiters *w);

/* Queues every confirmation the database has as pending for front (the
 * previous process's). 0, or -1 with err (the database did not answer:
 * the caller logs it; nothing else depends on it). *queued (may be NULL)
 * gets how many. */
int waiters_recover(struct waiters *w, const char *front, size_t *queued,
                    struct owcp_error *err);

/* Stops: every job's submitter is woken with nothing decided (its request
 * answers a failure; the confirmation stays pending in the database for
 * the next start), the threads finish their current check and end. */
void waiters_stop(struct waiters *w);

/* Frees the pool (after waiters_stop). NULL is fine. */
void waiters_free(struct waiters *w);

#endif
