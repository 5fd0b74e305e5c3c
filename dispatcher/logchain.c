/*
 * logchain.c — implementation of logchain.h: canonical entry encoding, the
 * sealer and the verifier of the confirmation log's hash chain.
 */
#include "logchain.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NULL_FIELD 0xFFFFFFFFu
#define SEAL_BATCH_MAX 10000

static void put_u64(unsigned char *p, uint64_t v)
{
  for (int i = 7; i >= 0; i--) {
    p[i] = (unsigned char)(v & 0xFF);
    v >>= 8;
  }
}

static void put_u32(unsigned char *p, uint32_t v)
{
  for (int i = 3; i >= 0; i--) {
    p[i] = (unsigned char)(v & 0xFF);
    v >>= 8;
  }
}

/* Encodes e canonically after prefix_len bytes copied from prefix, into a
 * new buffer (*out, caller frees) of *out_len bytes in all: the hash
 * input is then built in one allocation, not encoded and copied again. */
static int encode_after(const unsigned char *prefix, size_t prefix_len,
                        const struct store_log_entry *e, unsigned char **out,
                        size_t *out_len, struct owcp_error *err)
{
  const char *fields[6] = {e->event,       e->account, e->requestor,
                           e->transaction, e->client,  e->detail};
  size_t len = prefix_len + 16;
  unsigned char *buf, *w;

  for (int i = 0; i < 6; i++) {
    size_t n = fields[i] ? strlen(fields[i]) : 0;

    if (n >= NULL_FIELD) {
      owcp_error_set(err, "log entry %" PRId64 " has a field over 4 GiB",
                     e->seq);
      return -1;
    }
    len += 4 + n;
  }
  buf = malloc(len);
  if (buf == NULL) {
    owcp_error_set(err, "out of memory encoding log entry %" PRId64, e->seq);
    return -1;
  }
  if (prefix_len > 0)
    memcpy(buf, prefix, prefix_len);
  w = buf + prefix_len;
  put_u64(w, (uint64_t)e->seq);
  put_u64(w + 8, (uint64_t)e->at_us);
  w += 16;
  for (int i = 0; i < 6; i++) {
    if (fields[i] == NULL) {
      put_u32(w, NULL_FIELD);
      w += 4;
      continue;
    }
    size_t n = strlen(fields[i]);

    put_u32(w, (uint32_t)n);
    memcpy(w + 4, fields[i], n);
    w += 4 + n;
  }
  *out = buf;
  *out_len = len;
  return 0;
}

int logchain_encode(const struct store_log_entry *e, unsigned char **out,
                    size_t *out_len, struct owcp_error *err)
{
  return encode_after(NULL, 0, e, out, out_len, err);
}

int logchain_hash(const unsigned char prev[OWCP_SHA256_LEN],
                  const struct store_log_entry *e,
                  unsigned char hash[OWCP_SHA256_LEN], struct owcp_error *err)
{
  unsigned char *msg;
  size_t len;

  if (encode_after(prev, OWCP_SHA256_LEN, e, &msg, &len, err) != 0)
    return -1;
  owcp_sha256(msg, len, hash);
  free(msg);
  return 0;
}

/* The rows a seal pass appends, built while unsealed entries stream in. */
struct seal_batch {
  size_t n, cap;
  int64_t *pos, *seq;
  unsigned char (*prev)[OWCP_SHA256_LEN];
  unsigned char (*hash)[OWCP_SHA256_LEN];
  int64_t tip_pos;
  unsigned char tip[OWCP_SHA256_LEN];
  struct owcp_error *err;
};

static void seal_batch_free(struct seal_batch *b)
{
  free(b->pos);
  free(b->seq);
  free(b->prev);
  free(b->hash);
}

static int seal_entry(void *arg, const struct store_log_entry *e)
{
  struct seal_batch *b = arg;
  size_t i = b->n;

  if (i >= b->cap)
    return -1; /* store_log_unsealed is limited to cap rows */
  b->pos[i] = b->tip_pos + 1;
  b->seq[i] = e->seq;
  memcpy(b->prev[i], b->tip, OWCP_SHA256_LEN);
  if (logchain_hash(b->tip, e, b->hash[i], b->err) != 0)
    return -1;
  memcpy(b->tip, b->hash[i], OWCP_SHA256_LEN);
  b->tip_pos++;
  b->n++;
  return 0;
}

int logchain_seal(struct store *st, int limit, int *sealed,
                  struct owcp_error *err)
{
  struct seal_batch b = {0};
  char xmin[STORE_XID_LEN];
  bool locked;
  int rc;

  if (sealed != NULL)
    *sealed = 0;
  if (limit <= 0 || limit > SEAL_BATCH_MAX)
    limit = SEAL_BATCH_MAX;
  b.cap = (size_t)limit;
  b.err = err;
  b.pos = calloc(b.cap, sizeof *b.pos);
  b.seq = calloc(b.cap, sizeof *b.seq);
  b.prev = calloc(b.cap, sizeof *b.prev);
  b.hash = calloc(b.cap, sizeof *b.hash);
  if (!b.pos || !b.seq || !b.prev || !b.hash) {
    seal_batch_free(&b);
    owcp_error_set(err, "out of memory preparing to seal the log");
    return -1;
  }
  rc = store_seal_begin(st, &locked, err);
  if (rc != 0 || !locked) {
    seal_batch_free(&b);
    return rc;
  }
  rc = store_chain_tip(st, &b.tip_pos, b.tip, err);
  /* xmin is read before the entries: every transaction below it had
   * finished, so the entries read next include all of theirs. */
  if (rc == 0)
    rc = store_seal_xmin(st, xmin, err);
  if (rc == 0)
    rc = store_log_unsealed(st, limit, seal_entry, &b, err);
  if (rc == 0 && b.n > 0)
    rc = store_chain_append(
        st, b.n, b.pos, b.seq, (const unsigned char(*)[OWCP_SHA256_LEN])b.prev,
        (const unsigned char(*)[OWCP_SHA256_LEN])b.hash, err);
  /* A pass cut short by the limit may have left entries below xmin. */
  if (rc == 0 && b.n < b.cap)
    rc = store_seal_advance(st, xmin, err);
  if (rc == 0)
    rc = store_seal_end(st, true, err);
  else
    store_seal_end(st, false, NULL);
  if (rc == 0 && sealed != NULL)
    *sealed = (int)b.n;
  seal_batch_free(&b);
  return rc;
}

int logchain_seal_all(struct store *st, struct owcp_error *err)
{
  int sealed, rc;

  do {
    rc = logchain_seal(st, SEAL_BATCH_MAX, &sealed, err);
  } while (rc == 0 && sealed == SEAL_BATCH_MAX);
  return rc;
}

struct verify_state {
  struct logchain_report *r;
  int64_t expect_pos;
  unsigned char prev[OWCP_SHA256_LEN];
  struct logchain_head *heads; /* sorted by position */
  size_t nheads, next_head;    /* next_head: first not yet reached */
  struct owcp_error *err;
};

/* Records the first break and stops the walk. */
static int broken(struct verify_state *v, int64_t pos, const char *what)
{
  v->r->ok = false;
  v->r->broken_pos = pos;
  snprintf(v->r->problem, sizeof v->r->problem,
           "chain position %" PRId64 ": %s", pos, what);
  return 1;
}

/* The hash of position 0, the empty chain, in a head. */
static const char zero_hex[2 * OWCP_SHA256_LEN + 1] =
    "0000000000000000000000000000000000000000000000000000000000000000";

/* Compares hash (of chain position pos) with every head signed for pos;
 * 1 after recording a mismatch. */
static int check_heads(struct verify_state *v, int64_t pos,
                       const unsigned char hash[OWCP_SHA256_LEN])
{
  char hex[2 * OWCP_SHA256_LEN + 1];

  owcp_hex_encode(hash, OWCP_SHA256_LEN, hex);
  for (; v->next_head < v->nheads && v->heads[v->next_head].position <= pos;
       v->next_head++) {
    const struct logchain_head *h = &v->heads[v->next_head];

    /* Position 0 is the empty chain: every chain extends it. */
    if (strcmp(h->hash, h->position < pos ? zero_hex : hex) != 0) {
      char what[96];

      snprintf(what, sizeof what,
               "hash differs from the head signed at %s (the log was "
               "rewritten)",
               h->time);
      return broken(v, pos, what);
    }
    v->r->heads_checked++;
  }
  return 0;
}

static int verify_row(void *arg, int64_t pos, const unsigned char *prev,
                      const unsigned char *hash,
                      const struct store_log_entry *e)
{
  struct verify_state *v = arg;
  unsigned char want[OWCP_SHA256_LEN];

  if (pos != v->expect_pos)
    return broken(v, v->expect_pos, "position missing from the chain");
  if (e == NULL)
    return broken(v, pos, "its log entry is missing");
  if (!owcp_ct_equal(prev, v->prev, OWCP_SHA256_LEN))
    return broken(v, pos, "prev_hash does not match the previous hash");
  if (logchain_hash(prev, e, want, v->err) != 0)
    return -1;
  if (!owcp_ct_equal(want, hash, OWCP_SHA256_LEN))
    return broken(v, pos, "hash does not match the entry (entry altered)");
  if (check_heads(v, pos, hash) != 0)
    return 1;
  memcpy(v->prev, hash, OWCP_SHA256_LEN);
  v->expect_pos++;
  v->r->entries++;
  return 0;
}

static int head_order(const void *a, const void *b)
{
  int64_t x = ((const struct logchain_head *)a)->position;
  int64_t y = ((const struct logchain_head *)b)->position;

  return (x > y) - (x < y);
}

int logchain_verify(struct store *st, struct logchain_report *report,
                    struct owcp_error *err)
{
  return logchain_verify_heads(st, NULL, 0, report, err);
}

/* After the walk: heads the chain no longer reaches (and those of
 * position 0 when the chain is empty). */
static void heads_after_walk(struct verify_state *v)
{
  for (; v->next_head < v->nheads; v->next_head++) {
    const struct logchain_head *h = &v->heads[v->next_head];

    if (h->position == 0 && strcmp(h->hash, zero_hex) == 0) {
      v->r->heads_checked++;
      continue;
    }
    v->r->ok = false;
    v->r->broken_pos = h->position;
    snprintf(v->r->problem, sizeof v->r->problem,
             "the log no longer reaches position %" PRId64
             " of the head signed at %s: the chain ends at %" PRId64
             " (entries were deleted or the log truncated)",
             h->position, h->time, v->r->entries);
    return;
  }
}

int logchain_verify_heads(struct store *st, struct logchain_head *heads,
                          size_t n, struct logchain_report *report,
                          struct owcp_error *err)
{
  struct verify_state v = {report, 1, {0}, heads, n, 0, err};
  int64_t unchained = 0, first = 0;
  int rc;

  memset(report, 0, sizeof *report);
  report->ok = true;
  /* Seal until nothing is left, so entries committed before verify began
   * are judged; a concurrent sealer holding the lock also finishes them. */
  rc = logchain_seal_all(st, err);
  if (rc != 0)
    return rc;
  if (n > 0)
    qsort(heads, n, sizeof *heads, head_order);
  rc = store_chain_walk(st, verify_row, &v, err);
  if (rc < 0)
    return rc;
  memcpy(report->tip, v.prev, OWCP_SHA256_LEN);
  if (report->ok)
    heads_after_walk(&v);
  if (!report->ok)
    return 0;
  rc = store_log_unchained(st, &unchained, &first, err);
  if (rc != 0)
    return rc;
  if (unchained > 0) {
    report->ok = false;
    report->unchained_seq = first;
    snprintf(report->problem, sizeof report->problem,
             "%" PRId64 " log entries are not chained (first seq %" PRId64 ")",
             unchained, first);
  }
  return 0;
}
