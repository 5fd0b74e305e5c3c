/*
 * digest.h — HTTP/SIP Digest authentication (RFC 2617) with the bridge as
 * the challenger, for the MRAS front (contract §4 MRAS, interop notes §4):
 * the user file (htdigest `user:realm:HA1`, no clear passwords), signed
 * nonces that survive restarts and are checked without a lookup, the
 * challenge header values, and the verification of an answer (MD5 and
 * MD5-sess, qop=auth, opaque echoed, the header's uri hashed as received,
 * constant-time comparison). Pure but for digest_users_load(); the (nonce,
 * nc) replay guard is the caller's (store.h bridge_store_nonce_use).
 *
 * Nonce: hex(TIME(8, big-endian) || RANDOM(8) || HMAC-SHA256(key, TIME ||
 * RANDOM)[0..16)) — 64 characters. opaque: hex(HMAC-SHA256(key, "opaque:"
 * nonce)[0..8)). The key is derived from a secret of the bridge's
 * (digest_key_derive), so a restarted bridge checks the nonces it handed
 * out before without having stored them.
 */
#ifndef OWCP_BRIDGE_DIGEST_H
#define OWCP_BRIDGE_DIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "owcp/util.h"

#define DIGEST_NONCE_LEN 64
#define DIGEST_OPAQUE_LEN 16
#define DIGEST_HEX_LEN 32 /* an MD5 in hex */

enum digest_alg { DIGEST_MD5, DIGEST_MD5_SESS };

/* The key nonces and opaques are signed with. */
struct digest_key {
  unsigned char k[32];
};

/* One htdigest entry. */
struct digest_user {
  char *user;
  char *realm;
  char ha1[DIGEST_HEX_LEN + 1]; /* lowercase hex */
};

/* The whole file. */
struct digest_users {
  struct digest_user *items;
  size_t count;
};

/* Reads an htdigest file (`user:realm:HA1` per line, HA1 32 hex digits;
 * empty lines and lines starting with '#' skipped). The key is derived from
 * the file's bytes too (*key, may be NULL): HMAC-SHA256("owcp-bridge mras
 * nonce", contents). 0, or -1 with err naming the line. */
int digest_users_load(const char *path, struct digest_users *out,
                      struct digest_key *key, struct owcp_error *err);

/* Releases *u and zeroes it (HA1 values wiped). */
void digest_users_free(struct digest_users *u);

/* The HA1 (hex) of user in realm, or NULL. */
const char *digest_users_ha1(const struct digest_users *u, const char *user,
                             const char *realm);

/* A fresh nonce for time now into out (DIGEST_NONCE_LEN + 1 bytes). */
int digest_nonce_new(const struct digest_key *key, time_t now, char *out);

enum digest_nonce_state {
  DIGEST_NONCE_VALID,
  DIGEST_NONCE_STALE, /* ours, older than lifetime seconds */
  DIGEST_NONCE_BAD    /* not ours (or from the future) */
};

/* Checks nonce's signature and age; *expires (may be NULL) gets when it
 * stops being valid. */
enum digest_nonce_state digest_nonce_check(const struct digest_key *key,
                                           const char *nonce, time_t now,
                                           int lifetime, time_t *expires);

/* The opaque that goes with nonce, into out (DIGEST_OPAQUE_LEN + 1). */
void digest_opaque(const struct digest_key *key, const char *nonce, char *out);

/* "Digest realm="R", nonce="N", opaque="O", algorithm=A, qop="auth""
 * with ", stale=true" when stale. Caller frees; NULL when out of memory. */
char *digest_challenge(const char *realm, const char *nonce, const char *opaque,
                       enum digest_alg alg, bool stale);

/* "MD5" / "MD5-sess". */
const char *digest_alg_name(enum digest_alg alg);

/* Parses an algorithm token (case-insensitively; NULL or "" is MD5, RFC
 * 2617 §3.2.2). false when unknown. */
bool digest_alg_parse(const char *text, enum digest_alg *out);

/* The request-digest of RFC 2617 §3.2.2.1 with qop=auth into out
 * (DIGEST_HEX_LEN + 1): HA1 (as stored, or MD5(HA1:nonce:cnonce) for
 * MD5-sess), HA2 = MD5(method:uri). */
void digest_compute(const char *ha1_hex, enum digest_alg alg, const char *nonce,
                    const char *nc, const char *cnonce, const char *qop,
                    const char *method, const char *uri, char *out);

/* MD5(user:realm:password) in hex into out (DIGEST_HEX_LEN + 1). */
void digest_ha1(const char *user, const char *realm, const char *password,
                char *out);

/* An answer's parameters, unquoted (NULL when absent). */
struct digest_answer {
  char *username, *realm, *nonce, *uri, *response, *algorithm, *cnonce, *opaque,
      *qop, *nc;
};

void digest_answer_clear(struct digest_answer *a);

/* Copies value without its surrounding double quotes (and with \x escapes
 * resolved), or NULL for NULL. Caller frees. */
char *digest_unquote(const char *value);

/* Does the answer hold everything qop=auth needs (username, realm, nonce,
 * uri, response of 32 hex digits, qop "auth", nc of 8 hex digits, cnonce)?
 * *nc gets its value. false with err saying what is missing. */
bool digest_answer_complete(const struct digest_answer *a, unsigned *nc,
                            struct owcp_error *err);

/* Does the answer's response equal the one computed from ha1 (constant
 * time)? */
bool digest_answer_verify(const struct digest_answer *a, const char *ha1_hex,
                          enum digest_alg alg, const char *method);

#endif
