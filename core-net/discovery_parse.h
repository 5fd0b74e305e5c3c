/*
 * discovery_parse.h — internal to owcp_core_net (not installed): the part
 * of discovery (core-net/discovery.c) that turns raw DNS answers into
 * dispatcher bases, without sockets or cache, so that it can be fuzzed on its
 * own (tests/fuzz/fuzz_dns.c). Applications use owcp/discovery.h instead.
 *
 * Ownership: a filled struct owcp_dns_found is released with
 * owcp_dns_found_free; the answers are borrowed.
 */
#ifndef OWCP_DISCOVERY_PARSE_H
#define OWCP_DISCOVERY_PARSE_H

#include <stdbool.h>
#include <stddef.h>

#include "owcp/discovery.h"
#include "owcp/util.h"

/* One target to try, before ordering: its priority and weight and the
 * validated, normalised base it stands for. */
struct owcp_dns_candidate {
  unsigned short priority;
  unsigned short weight;
  char *base;
};

/* One query's outcome as c-ares reported it: its status (ARES_SUCCESS,
 * ARES_ENOTFOUND, ...) and, on success, the raw answer message. */
struct owcp_dns_answer {
  int status;
  const unsigned char *abuf;
  int alen;
};

/* Usable targets from one set of answers and how long they may be reused. */
struct owcp_dns_found {
  struct owcp_dns_candidate *c;
  size_t n;
  unsigned ttl_s; /* 0: do not cache */
  enum owcp_discovery_source source;
};

/* Examines the answers to the URI, SRV and TXT queries (ans[0], ans[1],
 * ans[2]) for name (_owcp._tcp.DOMAIN). Returns 0 with *found filled
 * (found->n ≥ 1); 1 when the zone says there is no service here (NXDOMAIN,
 * no records, SRV target ".", only unsupported ESRV record sets), with the
 * reason in err so that the caller may fall back to a manual base; -1 on
 * a DNS failure, a malformed answer or records that are all refused. */
int owcp_dns_examine(const char *name, bool allow_insecure_http,
                     const struct owcp_dns_answer ans[3],
                     struct owcp_dns_found *found, struct owcp_error *err);

/* Frees the candidates and zeroes *found; NULL is fine. */
void owcp_dns_found_free(struct owcp_dns_found *found);

/* An RFC 2782 ordering of a copy of c (priority ascending, weighted random
 * within a priority) into *out, whose strings the caller frees with
 * owcp_base_list_free. */
int owcp_dns_base_list(const struct owcp_dns_candidate *c, size_t n,
                       enum owcp_discovery_source source,
                       struct owcp_base_list *out, struct owcp_error *err);

#endif
