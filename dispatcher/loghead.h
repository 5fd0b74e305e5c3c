/*
 * loghead.h — signed log heads (spec §10): the dispatcher's signed
 * statement "the confirmation log's chain has entry N with hash H", which
 * lets anyone holding a saved head detect entries removed or rewritten
 * after it (a hash chain alone cannot show its own truncation).
 *
 * Document (one JSON object; the dispatcher writes it compactly on one
 * line):
 *   {"Position": N, "Hash": "<64 lowercase hex>", "Time": "<RFC 3339 UTC>",
 *    "KeyId": "<hex SHA-256 of the DER certificate>",
 *    "Signature": "<base64 DER ECDSA P-256 SHA-256 signature>"}
 * The signature covers the UTF-8 text
 *   "owcp-log-head\n<Position>\n<Hash>\n<Time>"
 * (no trailing newline), made with the dispatcher's signing key, whose
 * certificate is key_dir/signing.pem and the second certificate of
 * GET {base}/CA. Shared by owcp-dispatcher (signs) and owcp-admin
 * (verifies).
 */
#ifndef OWCP_DISPATCHER_LOGHEAD_H
#define OWCP_DISPATCHER_LOGHEAD_H

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdint.h>
#include <time.h>

#include "owcp/keys.h"
#include "owcp/util.h"

/* A head whose signature has been checked. */
struct loghead {
  int64_t position;                   /* chain position, >= 0 */
  char hash[2 * OWCP_SHA256_LEN + 1]; /* lowercase hex, as signed */
  char time[OWCP_TIME_LEN];
  char key_id[OWCP_FINGERPRINT_LEN];
};

/* Signs (position, hash) at time `at` with key, whose certificate is
 * cert, and returns the document as compact one-line JSON (caller frees),
 * or NULL with err. Position 0 (an empty chain) has 32 zero bytes as its
 * hash. */
char *loghead_sign(EVP_PKEY *key, X509 *cert, int64_t position,
                   const unsigned char hash[OWCP_SHA256_LEN], time_t at,
                   struct owcp_error *err);

/* Checks one document: the members and their forms, KeyId naming one of
 * certs[0..n), and the signature verifying with that certificate. Fills
 * *out; -1 with err naming the problem otherwise. */
int loghead_verify(const json_t *doc, X509 *const *certs, size_t n,
                   struct loghead *out, struct owcp_error *err);

/* Every JSON object in the file at path, in order (a saved GET Log-Head
 * answer holds one; the dispatcher's head file one per line), as a new
 * JSON array the caller releases with json_decref(). An empty file, or
 * anything but JSON objects, is an error. */
json_t *loghead_read_file(const char *path, struct owcp_error *err);

/* Every certificate of the PEM file at path (e.g. key_dir/signing.pem or
 * the bundle of GET {base}/CA) into *certs (caller frees with
 * loghead_certs_free). */
int loghead_certs_load(const char *path, X509 ***certs, size_t *n,
                       struct owcp_error *err);

/* Frees what loghead_certs_load returned. */
void loghead_certs_free(X509 **certs, size_t n);

/* Appends text and a newline to path (created 0644 when missing) with one
 * write(2) on an O_APPEND descriptor, then fsync(2): processes on one host
 * may share the file, each line stays whole. */
int loghead_append(const char *path, const char *text, struct owcp_error *err);

#endif
