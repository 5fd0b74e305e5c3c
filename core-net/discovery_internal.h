/*
 * discovery_internal.h — internal to owcp_core_net (not installed): what
 * the files of discovery share. discovery.c holds the resolver, the
 * order of resolution and the cache; discovery_base.c the base URL checks;
 * discovery_dns.c the c-ares queries; discovery_parse.c the answers to
 * ordered bases. Ownership as in discovery_parse.h.
 */
#ifndef OWCP_DISCOVERY_INTERNAL_H
#define OWCP_DISCOVERY_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "discovery_parse.h"

/* Most records of one kind taken from an answer: a bound on the work and
 * memory a hostile zone can cause. */
#define MAX_RECORDS 64
/* Longest time an answer is reused, whatever its TTL says. */
#define MAX_TTL_S 86400u

#define T_TXT_RR 16
#define T_SRV_RR 33
#define T_URI_RR 256
#define C_IN_RR 1

/* One query's outcome: its c-ares status and a copy of the answer
 * (malloc()ed; the caller frees abuf). */
struct disc_dns_answer {
  int status;
  unsigned char *abuf;
  int alen;
  bool done;
};

/* Milliseconds on a monotonic clock. */
uint64_t disc_now_ms(void);

/* ---- discovery.c */

/* A character of a host-name label as discovery accepts it. */
bool disc_host_label_char(char ch);

/* ---- discovery_base.c */

/* ch itself when it is printable ASCII, else '?'. */
char disc_printable_or_mark(char ch);

/* in with every octet that is not printable ASCII shown as '?', cut to
 * fit out (cap bytes). */
void disc_printable_copy(const char *in, char *out, size_t cap);

/* The checked, normalised form of base in *out (malloc()ed, the caller
 * frees); 0, or -1 with err naming the problem. */
int disc_base_normalise(const char *base, bool allow_insecure_http, char **out,
                        struct owcp_error *err);

/* ---- discovery_parse.c */

/* Frees n candidates and the array. */
void disc_candidates_free(struct owcp_dns_candidate *c, size_t n);

/* A deep copy of n candidates in *out (free with disc_candidates_free);
 * 0, or -1 out of memory. */
int disc_candidates_dup(const struct owcp_dns_candidate *c, size_t n,
                        struct owcp_dns_candidate **out);

/* owcp_dns_base_list on candidates the caller hands over: c is ordered in
 * place, its strings move into *out and c is freed on every path. */
int disc_base_list_take(struct owcp_dns_candidate *c, size_t n,
                        enum owcp_discovery_source source,
                        struct owcp_base_list *out, struct owcp_error *err);

/* ---- discovery_dns.c */

/* Sends the URI, SRV and TXT queries for name at once (servers: c-ares
 * "host:port,..." or NULL for the system's) and waits up to timeout_ms
 * for all three; ans[i].abuf are the caller's to free. 0, or -1 with err. */
int disc_dns_query_all(const char *servers, int timeout_ms, const char *name,
                       struct disc_dns_answer ans[3], struct owcp_error *err);

/* A c-ares status in words, for error sentences. */
const char *disc_dns_status_text(int status);

/* True for the statuses that mean "no such record" (NXDOMAIN, NODATA). */
bool disc_dns_status_absent(int status);

/* The smallest TTL of the answer section's records of type: MAX_TTL_S
 * when there is none, 0 for a malformed message or a TTL with the top bit
 * set (RFC 2181 §8). */
unsigned disc_answer_min_ttl(const unsigned char *abuf, int alen, int type);

#endif
