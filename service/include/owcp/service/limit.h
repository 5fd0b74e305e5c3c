/*
 * limit.h — a cap on how many things one key holds at once, counted in
 * memory (e.g. concurrent long polls per bearer-token hash). Keys are
 * cryptographic hashes (their first octets pick the bucket), compared
 * exactly; never a secret itself. A key's
 * entry exists only while its count is above zero, so memory is bounded
 * by what is held, not by how many keys were ever seen.
 */
#ifndef OWCP_SERVICE_LIMIT_H
#define OWCP_SERVICE_LIMIT_H

#include <stdbool.h>
#include <stddef.h>

#define SVC_LIMIT_KEY_MAX 32

/* Default cap on concurrent long polls per bearer token: enough for a
 * client watching several things at once, far below what would let one
 * token hold the connection limit. */
#define SVC_LIMIT_LONGPOLLS_PER_KEY 8u

struct svc_limit;

/* At most cap held per key (cap 0: unlimited). NULL on out of memory.
 * Freed with svc_limit_free(). */
struct svc_limit *svc_limit_new(unsigned cap);
void svc_limit_free(struct svc_limit *l);

/* Takes one for key (len <= SVC_LIMIT_KEY_MAX) unless that key already
 * holds cap; returns whether it was taken. Thread-safe. */
bool svc_limit_take(struct svc_limit *l, const void *key, size_t len);

/* Gives back one taken with svc_limit_take(). */
void svc_limit_give(struct svc_limit *l, const void *key, size_t len);

/* How many are held over all keys (for a gauge). */
unsigned long svc_limit_held(struct svc_limit *l);

#endif
