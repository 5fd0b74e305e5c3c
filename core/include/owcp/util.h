/*
 * owcp/util.h — small primitives every OWCP module needs: error reporting,
 * base64, random identifiers, SHA-256, constant-time comparison, RFC 3339
 * UTC time and the one loopback rule.
 *
 * Conventions used by all of libowcp-core:
 *  - fallible functions return 0 on success and -1 on failure, and fill the
 *    caller's `struct owcp_error` (which may be NULL) with one sentence that
 *    names the problem;
 *  - a function whose name ends in _new/_encode/_dup, or that returns a
 *    `char *`/`unsigned char **` out parameter, hands ownership of the result
 *    to the caller, who releases it with free() unless the header says
 *    otherwise.
 */
#ifndef OWCP_UTIL_H
#define OWCP_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#define OWCP_ERROR_MAX 256

/* A human-readable error sentence, e.g. "field 'Timeout' must be ≤ 86400". */
struct owcp_error {
  char msg[OWCP_ERROR_MAX];
};

/* Formats into err->msg (truncating); does nothing when err is NULL. */
void owcp_error_set(struct owcp_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Like owcp_error_set, then appends ": " and the reasons OpenSSL queued
 * (if any) and empties OpenSSL's error queue of this thread, so that no stale
 * error is blamed on a later call. Clears the queue even when err is NULL. */
void owcp_error_set_ssl(struct owcp_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Standard base64 (RFC 4648 §4) with padding. Returns a NUL-terminated
 * string the caller frees, or NULL on allocation failure. */
char *owcp_base64_encode(const unsigned char *data, size_t len);

/* Strict standard-base64 decoding: padding required, no whitespace, no
 * characters outside the alphabet, no non-zero trailing bits. On success
 * *out (caller frees; NUL-terminated for convenience, not counted in
 * *out_len) and *out_len are set. */
int owcp_base64_decode(const char *text, size_t text_len, unsigned char **out,
                       size_t *out_len, struct owcp_error *err);

/* Fills buf with cryptographically secure random bytes (OpenSSL RAND). */
int owcp_random_bytes(unsigned char *buf, size_t len);

/* A new random identifier: 192 random bits as 32 URL-safe base64 characters
 * (alphabet A-Z a-z 0-9 - _, no padding). Caller frees; NULL on failure. */
char *owcp_random_id(void);

#define OWCP_SHA256_LEN 32

/* SHA-256 of data into out. */
void owcp_sha256(const void *data, size_t len,
                 unsigned char out[OWCP_SHA256_LEN]);

/* Lowercase hex of data into out, which must hold 2 * len + 1 bytes. */
void owcp_hex_encode(const unsigned char *data, size_t len, char *out);

/* FNV-1a (64-bit) of the NUL-terminated string s, for spreading keys over
 * hash-table buckets. Not cryptographic: never use it on secrets or where
 * an attacker's choice of keys matters. */
uint64_t owcp_str_hash(const char *s);

/* True when a and b (both len bytes) are equal; time depends only on len. */
bool owcp_ct_equal(const void *a, const void *b, size_t len);

/* True when the NUL-terminated strings are equal; time depends only on the
 * lengths (use for comparing secrets of public length, such as hashes). */
bool owcp_ct_streq(const char *a, const char *b);

/* Replaces path with len bytes of data so that a crash leaves either the
 * old or the new file, never a partial one: writes a temporary file in the
 * same directory (created O_EXCL with the given permission bits, e.g. 0600),
 * fsync()s it, renames it over path and fsync()s the directory. */
int owcp_file_write_atomic(const char *path, const void *data, size_t len,
                           unsigned int mode, struct owcp_error *err);

/* Reads the whole regular file at path (at most max_len bytes, else an
 * error) into *out (caller frees; NUL-terminated, not counted in *out_len). */
int owcp_file_read(const char *path, size_t max_len, unsigned char **out,
                   size_t *out_len, struct owcp_error *err);

/* True when host (as curl_url returns it: a name, a dotted IPv4 address or
 * a bracketed IPv6 address) is loopback: 127.0.0.0/8 in dotted-quad form,
 * [::1] or "localhost" (any case). Everything else is false — "127.1",
 * "127.0.0.1.", "localhost." and [::ffff:127.0.0.1] included — so the rule
 * fails closed (curl_url already rewrites 127.1 and 0x7f.1 to 127.0.0.1).
 * The name-level half of where plain http may go; owcp_sockaddr_is_loopback
 * is the address-level half, checked on the socket actually opened. */
bool owcp_host_is_loopback(const char *host);

/* True when the socket address sa (len bytes) is loopback: AF_INET
 * 127.0.0.0/8, AF_INET6 ::1, or AF_INET6 IPv4-mapped ::ffff:127.0.0.0/104
 * (a dual-stack socket connecting there reaches 127.x, so it is loopback
 * too; a caller that refuses mapped addresses says so itself). False for
 * every other family and for a len too short for the family. */
bool owcp_sockaddr_is_loopback(const struct sockaddr *sa, socklen_t len);

#define OWCP_TIME_LEN 21 /* "2026-11-22T10:00:00Z" plus NUL */

/* Formats t as RFC 3339 UTC with a 'Z' suffix and whole seconds. */
void owcp_time_format(time_t t, char out[OWCP_TIME_LEN]);

/* Parses an RFC 3339 / xs:dateTime timestamp with 'Z' or a ±hh:mm offset
 * and optional fractional seconds (truncated) into UTC seconds. */
int owcp_time_parse(const char *text, time_t *out, struct owcp_error *err);

#endif
