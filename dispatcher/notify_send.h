/*
 * notify_send.h — the notify sender: passes the long-poll wake-up keys of
 * this process's commits on to the other dispatcher processes on the same
 * database, many commits' keys in one short NOTIFY transaction.
 *
 * One thread per process with its own connection (store_sender). A key
 * queued while the sender is idle is sent at once; keys queued while a
 * send is in flight wait for it and then all go together, so an idle
 * system notifies without delay and a busy one sends far fewer NOTIFY
 * transactions than it commits. A send that fails (the connection broke)
 * is retried on a new connection until it succeeds or the process stops.
 *
 * Payload format (parsed by notify.c): "@<origin> <key> <key> ...", where
 * origin is this process's random 16-hex-digit id (a process skips its own
 * batches: it woke those waiters in memory already) and each payload stays
 * under PostgreSQL's 8000-byte limit (a large batch is several payloads of
 * one transaction). The key "*" means every waiter.
 */
#ifndef OWCP_DISPATCHER_NOTIFY_SEND_H
#define OWCP_DISPATCHER_NOTIFY_SEND_H

#include <stdint.h>

#include "owcp/util.h"

#define NOTIFY_ORIGIN_LEN 16 /* hex digits */

struct notify_sender;

/* Starts the thread (it connects to conninfo, copied, on its first send).
 * origin: NOTIFY_ORIGIN_LEN hex digits, copied. Caller frees with
 * notify_sender_free(). */
struct notify_sender *notify_sender_new(const char *conninfo,
                                        const char *origin,
                                        struct owcp_error *err);

/* Tries once to send what is queued, stops the thread and frees it. */
void notify_sender_free(struct notify_sender *s);

/* Queues key (no spaces, "*" for every waiter) for the other processes.
 * Never blocks on the database. */
void notify_sender_queue(struct notify_sender *s, const char *key);

/* NOTIFY transactions committed, and keys sent in them, since start. */
uint64_t notify_sender_batches(const struct notify_sender *s);
uint64_t notify_sender_keys(const struct notify_sender *s);

#endif
