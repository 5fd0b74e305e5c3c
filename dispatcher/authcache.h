/*
 * authcache.h — bearer-token authentications kept per process, so that a
 * request does not look its token up in the database when the same token
 * was accepted moments ago (four look-ups per confirmation flow: RD-Confirm,
 * CD-List, CD-Reply, RD-Status; issue 11).
 *
 * Why this is safe: only accepted tokens of active requestors and clients
 * are kept, and every change that can withdraw one (a requestor disabled, a
 * client revoked, an account disabled, any other UPDATE or DELETE of those
 * tables) makes the database send NOTIFY owcp 'auth' (trigger of
 * sql/dispatcher/009_auth_cache.sql). Every dispatcher process's LISTEN
 * thread (notify.c) then empties its cache, so a revocation takes effect on
 * every process within the notification's delay (milliseconds). While the
 * LISTEN connection is down notifications could be missed, so the cache is
 * empty and unused until it is back (authcache_set_live). A look-up racing
 * with a revocation cannot leave a stale entry behind: an answer read before
 * the flush is only stored when no flush happened since the look-up began
 * (generation check). Entries also age out after AUTHCACHE_TTL_MS, which
 * bounds how long a LISTEN connection that hangs without breaking could
 * let a withdrawn token be read with.
 *
 * A fixed number of slots, direct-mapped by the token hash (a SHA-256, so
 * evenly spread; a collision replaces the slot's entry). Thread-safe.
 */
#ifndef OWCP_DISPATCHER_AUTHCACHE_H
#define OWCP_DISPATCHER_AUTHCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* Longest an entry is used without a fresh database look-up. */
#define AUTHCACHE_TTL_MS 60000

struct authcache;

/* A cache of `slots` entries (≥ 1), not live until authcache_set_live();
 * NULL when memory runs out. */
struct authcache *authcache_new(size_t slots);

/* Releases the cache; NULL is fine. */
void authcache_free(struct authcache *c);

/* The generation to pass to the _put functions: read it before the
 * database look-up whose answer will be stored. */
uint64_t authcache_generation(struct authcache *c);

/* True when the cache is live (notifications are being received), with
 * *generation the current generation, read together: other per-process
 * state that must end when a requestor changes (ratelease.h) binds itself
 * to it. */
bool authcache_live_generation(struct authcache *c, uint64_t *generation);

/* True and *out filled when token_hash is cached as an active requestor. */
bool authcache_get_requestor(struct authcache *c,
                             const unsigned char token_hash[OWCP_SHA256_LEN],
                             struct store_requestor *out);

/* True and *out filled when token_hash is cached as an active client. */
bool authcache_get_client(struct authcache *c,
                          const unsigned char token_hash[OWCP_SHA256_LEN],
                          struct store_client *out);

/* Stores an accepted requestor (its token_hash is the key) unless the
 * cache was flushed or not live since `generation` was read. */
void authcache_put_requestor(struct authcache *c, uint64_t generation,
                             const struct store_requestor *r);

/* Same for an accepted client. */
void authcache_put_client(struct authcache *c, uint64_t generation,
                          const struct store_client *cl);

/* Empties the cache: something that authenticates changed. */
void authcache_flush(struct authcache *c);

/* Live: notifications are being received, the cache may be used. Either
 * change also empties it. */
void authcache_set_live(struct authcache *c, bool live);

/* Look-ups answered from the cache, and flushes, since the start. */
uint64_t authcache_hits(struct authcache *c);
uint64_t authcache_flushes(struct authcache *c);

#endif
