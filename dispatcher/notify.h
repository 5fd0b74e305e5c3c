/*
 * notify.h — long-poll wake-ups. A commit made by this process wakes its
 * own waiters in memory at once (notify_committed, the pool's wake
 * function) and hands the key to the notify sender (notify_send.h), which
 * passes it on to the other processes in a batched NOTIFY. One LISTEN
 * connection per process receives the other processes' (and psql's)
 * NOTIFY payloads ("account:<id>", "tx:<id>", or a batch) and resumes the
 * suspended connections waiting for those keys; the same thread resumes
 * waiters whose deadline passed. Busy polling of the database is never
 * used: a waiting request costs no query until it is woken.
 */
#ifndef OWCP_DISPATCHER_NOTIFY_H
#define OWCP_DISPATCHER_NOTIFY_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>

#include "owcp/util.h"

struct notify;
struct waiter;

struct authcache;

/* Called with every wake-up key before its waiters wake: this process's
 * commits' and the other processes', and "*" when every waiter is woken
 * (the LISTEN connection was lost and found, a key was lost). */
typedef void (*notify_observe_fn)(void *arg, const char *key);

/* Starts the LISTEN thread on conninfo. The payload "auth" (an
 * authentication changed) flushes auth, which is live exactly while the
 * LISTEN connection is (authcache.h); auth is borrowed and must outlive
 * the notifier, as must observe_arg (observe may be NULL). Caller frees
 * with notify_free(). */
struct notify *notify_new(const char *conninfo, struct authcache *auth,
                          notify_observe_fn observe, void *observe_arg,
                          struct owcp_error *err);

/* Resumes every waiter, stops the threads and frees everything. */
void notify_free(struct notify *n);

/* A store_wake_fn (store_pool_new_waking, arg: the struct notify): key's
 * change has just committed. Wakes this process's waiters for key now
 * ("*": every waiter) and queues key for the other processes. */
void notify_committed(void *arg, const char *key);

/* NOTIFY transactions the notify sender committed, and keys in them. */
uint64_t notify_sent_batches(const struct notify *n);
uint64_t notify_sent_keys(const struct notify *n);

/* Registers a waiter for key on con until deadline_ms (CLOCK_MONOTONIC
 * milliseconds). Owned by the caller until notify_unwatch(). */
struct waiter *notify_watch(struct notify *n, const char *key,
                            struct MHD_Connection *con, int64_t deadline_ms);

/* Clears the waiter's "fired" flag before the caller re-queries. */
void notify_rearm(struct notify *n, struct waiter *w);

/* How many commits of this process fired the waiter since it was armed
 * (notify_watch, notify_rearm); -1 when anything else did too: another
 * process's notification, the deadline, a wake-up of every waiter. */
int notify_local_fires(struct notify *n, const struct waiter *w);

/* Suspends the waiter's connection unless it fired since notify_rearm(),
 * in which case it returns false and the caller must re-query now. */
bool notify_suspend(struct notify *n, struct waiter *w);

/* Unregisters and frees the waiter (never while it is suspended). */
void notify_unwatch(struct notify *n, struct waiter *w);

/* True once the waiter's deadline has passed. */
bool notify_expired(const struct waiter *w);

/* Resumes every waiter now (shutdown, or the LISTEN connection was lost and
 * notifications may have been missed). */
void notify_wake_all(struct notify *n);

/* Milliseconds on CLOCK_MONOTONIC. */
int64_t notify_now_ms(void);

#endif
