/*
 * keys.h — the dispatcher's client CA and DR-Complete signing key. Both are
 * created on first use in --key-dir (private keys mode 0600, the directory
 * 0700), under an exclusive lock so several processes starting together
 * create them once, and loaded by every later start.
 */
#ifndef OWCP_DISPATCHER_KEYS_H
#define OWCP_DISPATCHER_KEYS_H

#include "context.h"

/* Loads or creates the keys in dir into *k. */
int keys_load_or_create(const char *dir, const char *cn_domain,
                        struct dispatcher_keys *k, struct owcp_error *err);

/* Frees everything in *k and zeroes it. */
void keys_free(struct dispatcher_keys *k);

#endif
