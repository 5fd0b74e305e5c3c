/*
 * turn_cred.h — the TURN credentials the MRAS front hands out (contract
 * §4 MRAS, docs/enrollment-bridge.md "MRAS"), minted from the shared
 * secrets of `[mras] turn_secret_file` (the first mints; all are kept so
 * that a rotation is a list edit and a SIGHUP):
 *
 *  - rest (coturn --use-auth-secret, TURN REST): username
 *    "EXPIRY:IDENTITY" (EXPIRY = now + 60 x minutes, unix seconds;
 *    IDENTITY exactly as requested), password
 *    base64(HMAC-SHA1(secret, username));
 *  - msturn (the MS-TURN token layout of the interop notes, the seed's §4
 *    example decoded): TokenBlob = major 1 | minor 0 | size 0x0020
 *    (16-bit little-endian, the blob's length) | expiry as a Windows
 *    FILETIME (64-bit little-endian, 100 ns since 1601) | clientID =
 *    HMAC-SHA1(key1, UTF-8 identity); username = base64(TokenBlob ||
 *    HMAC-SHA1(key1, TokenBlob)) (52 bytes before base64); password =
 *    base64(HMAC-SHA1(key2, those 52 bytes)). key1, key2: the first two
 *    secrets.
 *
 * The secrets live in a struct turn_secrets that SIGHUP replaces as a
 * whole (turn_secrets_reload): a mint in progress finishes with the set it
 * started with. Thread-safe.
 */
#ifndef OWCP_BRIDGE_TURN_CRED_H
#define OWCP_BRIDGE_TURN_CRED_H

#include <stddef.h>
#include <time.h>

#include "owcp/util.h"

enum turn_format { TURN_REST = 0, TURN_MSTURN = 1 };

struct turn_secrets;

/* Reads every file of paths (each one secret, surrounding whitespace
 * trimmed, not empty). NULL with err naming the file. */
struct turn_secrets *turn_secrets_load(const char *const *paths, size_t count,
                                       struct owcp_error *err);

/* Re-reads the files into s; on failure s keeps its secrets and err says
 * why. 0 or -1. */
int turn_secrets_reload(struct turn_secrets *s, const char *const *paths,
                        size_t count, struct owcp_error *err);

/* Wipes and frees; NULL is fine. */
void turn_secrets_free(struct turn_secrets *s);

/* Minted credentials (caller frees both with free()). */
struct turn_cred {
  char *username;
  char *password;
  time_t expires;
};

void turn_cred_clear(struct turn_cred *c);

/* Mints credentials for identity valid `minutes` from now. 0, or -1 with
 * err (msturn with fewer than two secrets, out of memory). */
int turn_cred_mint(struct turn_secrets *s, enum turn_format fmt,
                   const char *identity, long minutes, time_t now,
                   struct turn_cred *out, struct owcp_error *err);

#endif
