/*
 * logchain.h — the confirmation log's hash chain: canonical encoding of a
 * log entry, the sealer that chains new entries, and end-to-end
 * verification. Shared by owcp-dispatcher (sealer) and owcp-admin (verify).
 *
 * Canonical encoding of an entry (all integers big-endian):
 *   u64(seq) || u64(at, microseconds since the Unix epoch, two's complement)
 *   || field(event) || field(account) || field(requestor)
 *   || field(transaction) || field(client) || field(detail)
 * where field(x) = u32(byte length of x) || x, and a SQL NULL is
 * u32(0xFFFFFFFF) with no bytes (so NULL and "" differ).
 *
 * Chain: row pos (1, 2, ...) has prev_hash = hash of pos-1 (32 zero bytes
 * for pos 1) and hash = SHA-256(prev_hash || canonical(entry)).
 */
#ifndef OWCP_DISPATCHER_LOGCHAIN_H
#define OWCP_DISPATCHER_LOGCHAIN_H

#include "store.h"

/* Encodes e canonically into a new buffer (*out, caller frees). */
int logchain_encode(const struct store_log_entry *e, unsigned char **out,
                    size_t *out_len, struct owcp_error *err);

/* hash = SHA-256(prev || canonical(e)). */
int logchain_hash(const unsigned char prev[OWCP_SHA256_LEN],
                  const struct store_log_entry *e,
                  unsigned char hash[OWCP_SHA256_LEN], struct owcp_error *err);

/* Chains up to `limit` unsealed entries (in seq order as visible now) under
 * the sealer's advisory lock. *sealed (may be NULL) gets how many; 0 also
 * when another process holds the lock. Returns 0, -1 or STORE_UNAVAILABLE. */
int logchain_seal(struct store *st, int limit, int *sealed,
                  struct owcp_error *err);

/* Seals until nothing visible is left unsealed (logchain_seal in full
 * batches). 0, -1 or STORE_UNAVAILABLE. */
int logchain_seal_all(struct store *st, struct owcp_error *err);

struct logchain_report {
  bool ok;
  int64_t entries;                    /* chain rows checked */
  unsigned char tip[OWCP_SHA256_LEN]; /* hash of position `entries` */
  size_t heads_checked;               /* signed heads the chain extends */
  int64_t broken_pos;                 /* first bad chain position (0: none) */
  int64_t unchained_seq;        /* first log entry not chained (0: none) */
  char problem[OWCP_ERROR_MAX]; /* one sentence when !ok */
};

/* Seals everything, then walks the chain from pos 1 recomputing every hash
 * and checking positions are contiguous, prev_hash links, every chain row
 * has its entry, and every log entry is chained exactly once. A broken
 * chain is a successful call with report->ok false. */
int logchain_verify(struct store *st, struct logchain_report *report,
                    struct owcp_error *err);

/* A signed head (loghead.h) the log must still extend. */
struct logchain_head {
  int64_t position;
  char hash[2 * OWCP_SHA256_LEN + 1]; /* lowercase hex */
  char time[32];                      /* when it was signed, for messages */
};

/* logchain_verify, and also: for every head, the chain still has its
 * position and the hash there is the head's. A head beyond the chain's end
 * (entries deleted, the tables truncated) or a different hash at its
 * position (a rewrite, even with recomputed hashes) makes report->ok false.
 * heads (n of them, any order) is sorted in place. */
int logchain_verify_heads(struct store *st, struct logchain_head *heads,
                          size_t n, struct logchain_report *report,
                          struct owcp_error *err);

#endif
