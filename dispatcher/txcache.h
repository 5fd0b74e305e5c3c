/*
 * txcache.h — the transactions this process created lately, and their
 * answers, kept so that the reads which follow them in every flow are
 * answered from memory rather than by a database round trip (issue 11,
 * bench/README.md "What each change bought"):
 *  - CD-Reply's stored request, which the receipt must match byte for byte;
 *  - RD-Status of a transaction answered here;
 *  - a CD-List long poll woken by RD-Confirms of this process only: it
 *    answers with exactly the transactions whose commits woke it (see
 *    txcache_pending() for why that is what the database would say);
 *  - a new CD-List long poll of an account known to have nothing pending
 *    (txcache_known_empty()): it waits without a first read.
 *
 * Why this is safe: nothing kept here ever changes once committed. A
 * transaction's request, account, requestor, identifier, expiry and
 * completion URI are written once by RD-Confirm; an answer is final (no
 * procedure changes an answered transaction, and rows are never deleted:
 * 012_durable_path_cost.sql). An entry is put only after the commit that
 * made it true, by the thread that committed it. What can change — a
 * client's, account's or requestor's status — is not kept: it is checked
 * where it always was (the token look-up before every handler, and the
 * stored procedure of every write). A transaction created or answered by
 * another process, or whose slot was reused since, is a miss: the caller
 * reads the database as before.
 *
 * A fixed number of slots, direct-mapped by a hash of the transaction id
 * (a collision replaces the slot's entry), each holding one request and
 * one receipt of at most TXCACHE_BYTES_MAX bytes (larger ones are not
 * kept), so memory is bounded. Thread-safe.
 */
#ifndef OWCP_DISPATCHER_TXCACHE_H
#define OWCP_DISPATCHER_TXCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "store.h"

struct txcache;

/* The largest request or receipt kept (both are far smaller in practice:
 * a few hundred bytes and ≈ 1.4 KiB). */
#define TXCACHE_BYTES_MAX 4096

/* A transaction RD-Confirm has just created and committed. */
struct txcache_created {
  const char *transaction;
  const char *account; /* normalised address of the account asked */
  int64_t requestor_id;
  const char *requestor; /* its address (CD-List's From) */
  const char *type;      /* as stored: "" when the request has none */
  time_t issued;
  const char *identifier;
  const char *request_xml;
  const char *completion_uri; /* NULL: none */
  time_t expires;
};

/* The answer CD-Reply has just committed (the store said 200). */
struct txcache_answer {
  const char *transaction;
  const char *client;
  const char *response;
  const char *reason; /* NULL unless Refuse */
  const char *const *verification;
  size_t verification_count;
  const unsigned char *receipt;
  size_t receipt_len;
  time_t responded; /* as the store recorded it */
};

/* A cache of `slots` entries (≥ 1); NULL when memory runs out. */
struct txcache *txcache_new(size_t slots);

/* Frees every entry and the cache; NULL is fine. */
void txcache_free(struct txcache *c);

/* Keeps t, replacing whatever held its slot. Out of memory, or an id too
 * long to keep, keeps nothing (later reads miss). */
void txcache_put_created(struct txcache *c, const struct txcache_created *t);

/* Adds a's answer to its transaction's entry; nothing when the entry is
 * not kept (any more) or already answered. Out of memory drops the entry. */
void txcache_put_answer(struct txcache *c, const struct txcache_answer *a);

/* The stored request of tx when it is kept and was sent to account: a
 * malloc()ed copy the caller frees, its length in *len. NULL on a miss
 * (read the database) or when memory ran out. */
char *txcache_request_dup(struct txcache *c, const char *tx,
                          const char *account, size_t *len);

/* When tx is kept, answered and requestor_id's: fills *out as
 * store_status() would (status 200; the caller frees it with
 * store_result_free()) and returns true. False on a miss or when memory
 * ran out (*out is left zeroed then). */
bool txcache_result(struct txcache *c, const char *tx, int64_t requestor_id,
                    struct store_result *out);

/* The newest creation kept so far (a sequence number that only grows):
 * read it when a CD-List long poll is armed. */
uint64_t txcache_seq(struct txcache *c);

/* CD-List's answer for a long poll of account armed when txcache_seq()
 * was `since`, and woken by exactly `fires` commits of this process
 * (notify_local_fires()). The transactions kept for account since then
 * must number exactly `fires`: then every commit that woke the poll is
 * one of them, and nothing else of this process woke it (a device
 * approval, an expiry, another process's notification make the counts
 * differ, and the caller reads the database). The poll's first read found
 * nothing pending, so those transactions are what is pending now, as far
 * as this process knows; the ones still pending and unexpired at `now`
 * are put in *out, oldest first, at most max (unlisted: the listing
 * writer records each first delivery once). Returns true with at least
 * one item; false otherwise (*out empty: read the database). RD-Confirm
 * keeps its transaction before its commit's wake-up goes out
 * (store_confirm_in.committed), so the poll it wakes finds it here.
 * On success this is also what is known of the account (account_id, see
 * below) from now on, under the token cache's generation live_generation.
 */
bool txcache_pending(struct txcache *c, int64_t account_id, const char *account,
                     uint64_t since, int fires, time_t now, size_t max,
                     uint64_t live_generation, struct store_pending_list *out);

/* ---- accounts known to have nothing pending --------------------------------
 *
 * What this process knows of an account's pending transactions, so that a
 * new long poll need not read the database to learn that there are none.
 * The knowledge starts from a database read that found nothing, or from a
 * woken CD-List answered from memory (txcache_pending(): then the pending
 * transactions are exactly those it delivered), and lasts while nothing
 * can have added one: every creation of a pending transaction for an
 * account, in any process, raises the wake-up key "account:<id>", which
 * this process sees either from its own commit or through its LISTEN
 * connection, and passes to txcache_key() before any waiter wakes. It also
 * ends when the token cache's generation moves (live_generation of
 * authcache.h: an account or client changed, or the LISTEN connection
 * was lost and found), and TXCACHE_KNOWN_MS after the last database read
 * that found nothing. The one thing a skipped read could have found is a
 * transaction whose creator died between its commit and its NOTIFY; a
 * poll that began within TXCACHE_KNOWN_MS of that read then learns of it
 * at its deadline, as every poll already waiting did before. */
#define TXCACHE_KNOWN_MS 1000

/* The account's event count, read before a database read whose empty
 * result is then passed to txcache_note_empty(). */
uint64_t txcache_account_events(struct txcache *c, int64_t account_id);

/* A wake-up key committed by this process or received from another:
 * "account:<id>" ends what is known of that account, "*" of every one;
 * other keys change nothing. */
void txcache_key(struct txcache *c, const char *key);

/* CD-List read the account's pending transactions from the database and
 * found none, with txcache_account_events() `events` before the read and
 * the token cache's generation `live_generation`; kept unless an event
 * came since. now_ms: CLOCK_MONOTONIC milliseconds. */
void txcache_note_empty(struct txcache *c, int64_t account_id, uint64_t events,
                        uint64_t live_generation, int64_t now_ms);

/* True when account (its id and address) is known to have nothing pending
 * now: the knowledge is current (no event, same generation, fresh
 * enough), and every transaction it covers was answered by this process
 * since. */
bool txcache_known_empty(struct txcache *c, int64_t account_id,
                         const char *account, uint64_t live_generation,
                         int64_t now_ms);

/* Database reads saved since the start (each function above that
 * answered), for /metrics. */
uint64_t txcache_hits(struct txcache *c);

#endif
