/*
 * certcache.h — parsed client certificates, kept per process so that
 * CD-Reply does not re-read and re-parse the caller's certificate on every
 * answer (≈ 20 % of the dispatcher's CPU in bench/run.sh).
 *
 * Why this is safe: a client identifier names one certificate for life (a
 * client that registers again gets a new identifier), and revocation is
 * enforced where it always was — the bearer token is looked up, with the
 * client's status, on every request before CD-Reply runs, and the reply's
 * stored procedure checks the client again. The cache only saves the
 * DER read and the parse; it decides nothing.
 *
 * A fixed number of slots, direct-mapped by a hash of the client id (a
 * collision replaces the slot's entry), so memory is bounded whatever the
 * number of clients. Thread-safe.
 *
 * Ownership: certcache_get() returns a new reference the caller frees with
 * X509_free(); certcache_put() takes its own reference and leaves the
 * caller's alone.
 */
#ifndef OWCP_DISPATCHER_CERTCACHE_H
#define OWCP_DISPATCHER_CERTCACHE_H

#include <stddef.h>

#include <openssl/x509.h>

struct certcache;

/* A cache of `slots` entries (≥ 1); NULL when memory runs out. */
struct certcache *certcache_new(size_t slots);

/* Releases every entry and the cache; NULL is fine. */
void certcache_free(struct certcache *c);

/* The certificate cached for client_id (new reference), or NULL. */
X509 *certcache_get(struct certcache *c, const char *client_id);

/* Caches cert for client_id, replacing whatever held its slot. Does
 * nothing for an id too long to keep. Returns 0, or -1 when OpenSSL could
 * not take a reference (nothing is cached then). */
int certcache_put(struct certcache *c, const char *client_id, X509 *cert);

#endif
