/*
 * keyring.h — the dispatcher's own keys: its client CA and its DR-Complete
 * signing key (the key formats and signatures themselves are core's,
 * owcp/keys.h). Both are created on first use in --key-dir (private keys
 * mode 0600, the directory 0700), under an exclusive lock so several
 * processes starting together create them once, and loaded by every later
 * start.
 */
#ifndef OWCP_DISPATCHER_KEYRING_H
#define OWCP_DISPATCHER_KEYRING_H

#include "context.h"

/* Loads or creates the keys in dir into *k. */
int keyring_load_or_create(const char *dir, const char *cn_domain,
                           struct dispatcher_keys *k, struct owcp_error *err);

/* Frees everything in *k and zeroes it. */
void keyring_free(struct dispatcher_keys *k);

#endif
