/*
 * notify.h — long-poll wake-ups. One LISTEN connection per process
 * receives the database's NOTIFY payloads ("account:<id>", "tx:<id>") and
 * resumes the suspended connections waiting for that key; the same thread
 * resumes waiters whose deadline passed. Busy polling of the database is
 * never used: a waiting request costs no query until it is woken.
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

/* Starts the LISTEN thread on conninfo. The payload "auth" (an
 * authentication changed) flushes auth, which is live exactly while the
 * LISTEN connection is (authcache.h); auth is borrowed and must outlive
 * the notifier. Caller frees with notify_free(). */
struct notify *notify_new(const char *conninfo, struct authcache *auth,
                          struct owcp_error *err);

/* Resumes every waiter, stops the thread and frees everything. */
void notify_free(struct notify *n);

/* Registers a waiter for key on con until deadline_ms (CLOCK_MONOTONIC
 * milliseconds). Owned by the caller until notify_unwatch(). */
struct waiter *notify_watch(struct notify *n, const char *key,
                            struct MHD_Connection *con, int64_t deadline_ms);

/* Clears the waiter's "fired" flag before the caller re-queries. */
void notify_rearm(struct notify *n, struct waiter *w);

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
