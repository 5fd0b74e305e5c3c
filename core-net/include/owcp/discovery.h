/*
 * owcp/discovery.h — finding a dispatcher's {base} for an account's domain
 * (spec §7), shared by the requestor and client libraries.
 *
 * Order: URI records (RFC 7553) at _owcp._tcp.DOMAIN; otherwise SRV records
 * there (RFC 2782 priority, then weighted random) with ESRV properties in TXT
 * records at the same name (v=0.1, binding=json, path=/owcp/0.1; a record
 * set with an unsupported v or binding is skipped); otherwise the manually
 * configured base. Answers are cached for their TTL. DNS goes through c-ares;
 * the resolver servers are configurable so tests can point at their own.
 *
 * Security decisions (docs/protocol-decisions.md): DNS is not trusted for
 * anything but where to connect; every base it yields must be https (TLS
 * verification then authenticates the server). Plain http bases are accepted
 * only with allow_insecure_http and only for loopback hosts (tests). An SRV
 * target is used only when it is a plain host name (letters, digits, '-',
 * '_', '.'), so that no DNS octets can change the URL built around it; at
 * most 64 records of a kind are used and at most 128 domains cached, each
 * for at most a day.
 * NXDOMAIN / no records move on to the next step; a DNS failure (SERVFAIL,
 * REFUSED, timeout) is an error that says so, never silently replaced by the
 * manual base, so a broken zone is noticed.
 *
 * Thread safety: one struct owcp_discovery may be shared by threads (its
 * cache is locked). Ownership: owcp_discovery_new's result is freed with
 * owcp_discovery_free; a filled struct owcp_base_list with
 * owcp_base_list_free.
 */
#ifndef OWCP_DISCOVERY_H
#define OWCP_DISCOVERY_H

#include <stdbool.h>
#include <stddef.h>

#include "owcp/util.h"

struct owcp_discovery_config {
  /* c-ares server list, e.g. "127.0.0.1:5353" or "10.0.0.1,10.0.0.2";
   * NULL: the system's resolv.conf. */
  const char *dns_servers;
  /* The manual {base} (step 3), e.g. "https://owcp.example.com/owcp/0.1";
   * NULL: none. */
  const char *manual_base;
  /* Skip DNS entirely and use manual_base (which must then be set). */
  bool manual_only;
  /* Accept http:// bases whose host is a loopback address (tests only). SRV
   * targets then become http://target:port too when the target is loopback. */
  bool allow_insecure_http;
  /* Per-lookup timeout in milliseconds; 0: 5000. */
  int timeout_ms;
};

/* Where a base list came from. */
enum owcp_discovery_source {
  OWCP_DISCOVERY_URI,
  OWCP_DISCOVERY_SRV,
  OWCP_DISCOVERY_MANUAL,
};

/* Dispatcher bases to try, in order (failover: the next one on connection
 * failure or 503). */
struct owcp_base_list {
  char **bases; /* n strings, each "scheme://host:port/path", no trailing / */
  size_t n;
  enum owcp_discovery_source source;
};

struct owcp_discovery;

/* Creates a resolver with its cache. cfg is copied. */
int owcp_discovery_new(const struct owcp_discovery_config *cfg,
                       struct owcp_discovery **out, struct owcp_error *err);

/* Releases the resolver and its cache; NULL is fine. */
void owcp_discovery_free(struct owcp_discovery *d);

/* Resolves the bases for a domain ("example.com") or an account
 * ("alice@example.com": its domain part is used) into *out, in the order to
 * try them (weighted choices are drawn afresh per call, cached records are
 * reused until their TTL ends). Errors name the domain and the cause, e.g.
 * "no OWCP service for example.org: _owcp._tcp.example.org does not exist
 * (NXDOMAIN) and no manual dispatcher is configured". */
int owcp_discovery_resolve(struct owcp_discovery *d,
                           const char *domain_or_account,
                           struct owcp_base_list *out, struct owcp_error *err);

/* A one-entry list holding base (validated as discovery would: https, or
 * http on loopback when allow_insecure_http; no user information, query,
 * fragment or port 0), normalised to "scheme://host:port/path". */
int owcp_base_list_single(const char *base, bool allow_insecure_http,
                          struct owcp_base_list *out, struct owcp_error *err);

/* Frees the strings and zeroes *l. */
void owcp_base_list_free(struct owcp_base_list *l);

/* owcp_host_is_loopback() (the URL-level loopback rule discovery applies
 * to http bases) is declared in owcp/util.h, included above. */

/* Copies base into out (cap ≥ 1 bytes, truncated) for an error sentence:
 * everything between "://" (or the start) and the last '@' of the text
 * becomes "***" — user information even when a password holds '/', '?'
 * or '#', at the price of hiding the host of a path with an '@' — and
 * octets outside printable ASCII become '?', so neither a password nor
 * control characters from a hostile DNS answer reach a log. */
void owcp_base_redact(const char *base, char *out, size_t cap);

#endif
