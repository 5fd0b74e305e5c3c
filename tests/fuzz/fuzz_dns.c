/* libFuzzer target: DNS answers through owcp_dns_examine() (the part of
 * discovery that reads URI, SRV and TXT answers; core-net/discovery_parse.h)
 * and, when it finds bases, through owcp_dns_base_list().
 *
 * Two input forms, chosen by the first octet's top bit:
 *  - raw: three arbitrary messages (each prefixed by a 16-bit length), for
 *    what no well-formed builder would produce;
 *  - structured: records described by the input are written as real wire
 *    records behind a fixed header and question, so that the fuzzer reaches
 *    the code after c-ares' parsers (which are not instrumented, so it
 *    could not learn their formats from coverage) — hostile targets, TXT
 *    properties, TTLs, counts, wrong types and lying RDLENGTHs included.
 * Checked beyond "no crash": every base found is one owcp_base_list_single
 * accepts unchanged under the same policy, at most 64 come back, and a
 * failure always leaves a sentence and no candidates. */
#include <ares.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "discovery_parse.h"
#include "owcp/discovery.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NAME "_owcp._tcp.fuzz.test"
#define WIRE_MAX 8192

/* The fuzzer's input, read front to back; reads past the end give 0. */
struct reader {
  const uint8_t *p;
  size_t n;
};

static unsigned get8(struct reader *r)
{
  if (r->n == 0) {
    return 0;
  }
  r->n--;
  return *r->p++;
}

static unsigned get16(struct reader *r)
{
  unsigned hi = get8(r);
  return (hi << 8) | get8(r);
}

static uint32_t get32(struct reader *r)
{
  uint32_t hi = get16(r);
  return (hi << 16) | get16(r);
}

/* A message being written; writes past WIRE_MAX are dropped. */
struct wire {
  unsigned char b[WIRE_MAX];
  size_t len;
};

static void put(struct wire *w, const void *src, size_t n)
{
  if (n <= WIRE_MAX - w->len) {
    memcpy(w->b + w->len, src, n);
    w->len += n;
  }
}

static void put8(struct wire *w, unsigned v)
{
  unsigned char b = (unsigned char)v;
  put(w, &b, 1);
}

static void put16(struct wire *w, unsigned v)
{
  put8(w, v >> 8);
  put8(w, v & 0xff);
}

static void put32(struct wire *w, uint32_t v)
{
  put16(w, v >> 16);
  put16(w, v & 0xffff);
}

/* text as a domain name: labels split at '.', each cut to 63 octets,
 * empty ones dropped (other octets, '/' or '\0' included, kept). */
static void put_name(struct wire *w, const unsigned char *text, size_t len)
{
  size_t start = 0;
  for (size_t i = 0; i <= len; i++) {
    if (i == len || text[i] == '.') {
      size_t l = i - start > 63 ? 63 : i - start;
      if (l > 0) {
        put8(w, (unsigned)l);
        put(w, text + start, l);
      }
      start = i + 1;
    }
  }
  put8(w, 0);
}

/* Up to max octets of input for a target or string. */
static size_t take(struct reader *r, unsigned char *out, size_t max)
{
  size_t want = get8(r) % (max + 1);
  size_t n = want < r->n ? want : r->n;
  memcpy(out, r->p, n);
  r->p += n;
  r->n -= n;
  return n;
}

/* RDATA of one record of type `type` from the input. */
static void put_rdata(struct wire *w, unsigned type, struct reader *r)
{
  unsigned char text[256];
  if (type == 256) { /* URI: priority, weight, target octets */
    put16(w, get16(r));
    put16(w, get16(r));
    size_t n = take(r, text, 120);
    put(w, text, n);
  } else if (type == 33) { /* SRV: priority, weight, port, target name */
    put16(w, get16(r));
    put16(w, get16(r));
    put16(w, get16(r));
    size_t n = take(r, text, 120);
    put_name(w, text, n);
  } else { /* TXT: character-strings */
    unsigned strings = 1 + get8(r) % 4;
    for (unsigned i = 0; i < strings; i++) {
      size_t n = take(r, text, 255);
      put8(w, (unsigned)n);
      put(w, text, n);
    }
  }
}

/* A response to the query of `qtype` with records from the input. */
static void build_answer(struct wire *w, unsigned qtype, struct reader *r)
{
  static const unsigned types[] = {256, 33, 16, 1};
  w->len = 0;
  put16(w, 0x1234);
  put16(w, 0x8180); /* response, RD, RA, NOERROR */
  put16(w, 1);
  size_t an_at = w->len;
  put16(w, 0);
  put16(w, 0);
  put16(w, 0);
  put_name(w, (const unsigned char *)NAME, strlen(NAME));
  put16(w, qtype);
  put16(w, 1);
  unsigned count = get8(r) % 80;
  for (unsigned i = 0; i < count; i++) {
    unsigned how = get8(r);
    /* Mostly the asked type; sometimes another one in the same answer. */
    unsigned type = how < 224 ? qtype : types[how % 4];
    put16(w, 0xc00c); /* owner: the question name */
    put16(w, type);
    put16(w, 1);
    put32(w, get32(r));
    size_t rdlen_at = w->len;
    put16(w, 0);
    size_t rdata_at = w->len;
    put_rdata(w, type, r);
    size_t rdlen = w->len - rdata_at;
    if (how == 255) {
      rdlen += get8(r); /* a lying RDLENGTH */
    }
    if (rdlen_at + 2 <= w->len) {
      w->b[rdlen_at] = (unsigned char)(rdlen >> 8);
      w->b[rdlen_at + 1] = (unsigned char)rdlen;
    }
  }
  if (an_at + 2 <= w->len) {
    w->b[an_at] = (unsigned char)(count >> 8);
    w->b[an_at + 1] = (unsigned char)count;
  }
}

/* The statuses c-ares reports that discovery distinguishes. */
static int status_of(unsigned sel)
{
  static const int statuses[] = {ARES_SUCCESS,   ARES_SUCCESS, ARES_SUCCESS,
                                 ARES_ENOTFOUND, ARES_ENODATA, ARES_ESERVFAIL,
                                 ARES_ETIMEOUT,  ARES_EREFUSED};
  return statuses[sel % 8];
}

static void examine(const struct owcp_dns_answer ans[3], bool insecure)
{
  struct owcp_dns_found found;
  struct owcp_error err;
  err.msg[0] = '\0';
  int rc = owcp_dns_examine(NAME, insecure, ans, &found, &err);
  if (rc != 0) {
    if ((rc != 1 && rc != -1) || found.n != 0 || found.c != NULL ||
        err.msg[0] == '\0') {
      abort();
    }
    return;
  }
  if (found.n == 0 || found.n > 64 || found.ttl_s > 86400u) {
    abort();
  }
  for (size_t i = 0; i < found.n; i++) {
    struct owcp_base_list one;
    if (owcp_base_list_single(found.c[i].base, insecure, &one, &err) != 0 ||
        strcmp(one.bases[0], found.c[i].base) != 0) {
      abort();
    }
    owcp_base_list_free(&one);
  }
  struct owcp_base_list l;
  if (owcp_dns_base_list(found.c, found.n, found.source, &l, &err) != 0 ||
      l.n != found.n) {
    abort();
  }
  owcp_base_list_free(&l);
  owcp_dns_found_free(&found);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size > 16384) {
    return 0;
  }
  struct reader r = {.p = data, .n = size};
  unsigned mode = get8(&r);
  bool insecure = (mode & 0x40) != 0;
  static const unsigned qtypes[3] = {256, 33, 16};
  static struct wire w[3];
  struct owcp_dns_answer ans[3];
  for (size_t i = 0; i < 3; i++) {
    ans[i].status = status_of(get8(&r));
    if (mode & 0x80) {
      size_t len = get16(&r);
      len = len < r.n ? len : r.n;
      len = len < WIRE_MAX ? len : WIRE_MAX;
      memcpy(w[i].b, r.p, len);
      w[i].len = len;
      r.p += len;
      r.n -= len;
    } else {
      build_answer(&w[i], qtypes[i], &r);
    }
    ans[i].abuf = w[i].b;
    ans[i].alen = (int)w[i].len;
  }
  examine(ans, insecure);
  return 0;
}
