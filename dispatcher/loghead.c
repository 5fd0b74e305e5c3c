/*
 * loghead.c — implementation of loghead.h: signing, checking, reading and
 * appending signed log heads.
 */
#include "loghead.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#define LOGHEAD_CONTEXT "owcp-log-head"
#define LOGHEAD_FILE_MAX ((size_t)256 * 1024 * 1024)
#define HEX_LEN ((size_t)2 * OWCP_SHA256_LEN)

/* The signed text: "owcp-log-head\n<Position>\n<Hash>\n<Time>". */
static int signed_text(int64_t position, const char *hash, const char *time,
                       char *out, size_t size, struct owcp_error *err)
{
  int n = snprintf(out, size, LOGHEAD_CONTEXT "\n%" PRId64 "\n%s\n%s", position,
                   hash, time);
  if (n < 0 || (size_t)n >= size) {
    owcp_error_set(err, "log head text too long");
    return -1;
  }
  return 0;
}

char *loghead_sign(EVP_PKEY *key, X509 *cert, int64_t position,
                   const unsigned char hash[OWCP_SHA256_LEN], time_t at,
                   struct owcp_error *err)
{
  char hex[HEX_LEN + 1], time[OWCP_TIME_LEN], key_id[OWCP_FINGERPRINT_LEN];
  char text[160], *b64, *doc = NULL;
  unsigned char *sig = NULL;
  size_t sig_len = 0;
  json_t *obj;

  owcp_hex_encode(hash, OWCP_SHA256_LEN, hex);
  owcp_time_format(at, time);
  if (owcp_cert_fingerprint(cert, key_id, err) != 0 ||
      signed_text(position, hex, time, text, sizeof text, err) != 0 ||
      owcp_sign_sha256(key, text, strlen(text), &sig, &sig_len, err) != 0)
    return NULL;
  b64 = owcp_base64_encode(sig, sig_len);
  free(sig);
  obj = b64 ? json_pack("{s:I, s:s, s:s, s:s, s:s}", "Position",
                        (json_int_t)position, "Hash", hex, "Time", time,
                        "KeyId", key_id, "Signature", b64)
            : NULL;
  free(b64);
  if (obj != NULL)
    doc = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(obj);
  if (doc == NULL)
    owcp_error_set(err, "out of memory building a log head");
  return doc;
}

/* A member of doc that must be a string of exactly len lowercase hex
 * digits (len 0: any length). */
static const char *member_string(const json_t *doc, const char *name,
                                 size_t hex_len, struct owcp_error *err)
{
  const char *v = json_string_value(json_object_get(doc, name));

  if (v == NULL) {
    owcp_error_set(err, "log head: \"%s\" is missing or not a string", name);
    return NULL;
  }
  if (hex_len == 0)
    return v;
  if (strlen(v) != hex_len || strspn(v, "0123456789abcdef") != hex_len) {
    owcp_error_set(err, "log head: \"%s\" must be %zu lowercase hex digits",
                   name, hex_len);
    return NULL;
  }
  return v;
}

/* The certificate of certs whose fingerprint is key_id, or NULL. */
static X509 *find_cert(X509 *const *certs, size_t n, const char *key_id,
                       struct owcp_error *err)
{
  char fp[OWCP_FINGERPRINT_LEN];

  for (size_t i = 0; i < n; i++) {
    if (owcp_cert_fingerprint(certs[i], fp, err) != 0)
      return NULL;
    if (strcmp(fp, key_id) == 0)
      return certs[i];
  }
  owcp_error_set(err,
                 "log head: KeyId %s names none of the %zu certificate(s) "
                 "given (the dispatcher's signing certificate: key_dir/"
                 "signing.pem or GET {base}/CA)",
                 key_id, n);
  return NULL;
}

/* Position, Hash, Time and KeyId of doc into out (forms checked). */
static int parse_fields(const json_t *doc, struct loghead *out,
                        struct owcp_error *err)
{
  const json_t *pos = json_object_get(doc, "Position");
  const char *hash, *time, *key_id;
  time_t t;

  if (!json_is_object(doc)) {
    owcp_error_set(err, "log head: not a JSON object");
    return -1;
  }
  if (!json_is_integer(pos) || json_integer_value(pos) < 0) {
    owcp_error_set(err, "log head: \"Position\" must be an integer >= 0");
    return -1;
  }
  hash = member_string(doc, "Hash", HEX_LEN, err);
  time = hash ? member_string(doc, "Time", 0, err) : NULL;
  key_id = time ? member_string(doc, "KeyId", HEX_LEN, err) : NULL;
  if (key_id == NULL)
    return -1;
  if (strlen(time) >= OWCP_TIME_LEN || owcp_time_parse(time, &t, err) != 0) {
    owcp_error_set(err, "log head: \"Time\" is not an RFC 3339 UTC time");
    return -1;
  }
  out->position = json_integer_value(pos);
  memcpy(out->hash, hash, HEX_LEN + 1);
  snprintf(out->time, sizeof out->time, "%s", time);
  memcpy(out->key_id, key_id, HEX_LEN + 1);
  return 0;
}

int loghead_verify(const json_t *doc, X509 *const *certs, size_t n,
                   struct loghead *out, struct owcp_error *err)
{
  const char *b64;
  unsigned char *sig = NULL;
  size_t sig_len = 0;
  char text[160];
  X509 *cert;
  int rc;

  memset(out, 0, sizeof *out);
  if (parse_fields(doc, out, err) != 0)
    return -1;
  b64 = member_string(doc, "Signature", 0, err);
  if (b64 == NULL)
    return -1;
  cert = find_cert(certs, n, out->key_id, err);
  if (cert == NULL)
    return -1;
  if (owcp_base64_decode(b64, strlen(b64), &sig, &sig_len, err) != 0) {
    owcp_error_set(err, "log head: \"Signature\" is not base64");
    return -1;
  }
  rc = signed_text(out->position, out->hash, out->time, text, sizeof text, err);
  if (rc == 0)
    rc = owcp_verify_sha256(cert, sig, sig_len, text, strlen(text), err);
  free(sig);
  if (rc != 0)
    owcp_error_set(err,
                   "log head of position %" PRId64 ": the signature does not "
                   "verify with the certificate its KeyId names",
                   out->position);
  return rc;
}

json_t *loghead_read_file(const char *path, struct owcp_error *err)
{
  unsigned char *data = NULL;
  size_t len = 0, off = 0;
  json_t *all = json_array();

  if (all == NULL ||
      owcp_file_read(path, LOGHEAD_FILE_MAX, &data, &len, err) != 0) {
    json_decref(all);
    return NULL;
  }
  for (;;) {
    json_error_t jerr;
    json_t *doc;

    off += strspn((const char *)data + off, " \t\r\n");
    if (off >= len)
      break;
    doc = json_loadb((const char *)data + off, len - off,
                     JSON_DISABLE_EOF_CHECK | JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(doc)) {
      owcp_error_set(err, "%s: byte %zu: not a JSON object%s%s", path, off,
                     doc ? "" : ": ", doc ? "" : jerr.text);
      json_decref(doc);
      goto fail;
    }
    json_array_append_new(all, doc);
    off += (size_t)jerr.position;
  }
  if (json_array_size(all) == 0) {
    owcp_error_set(err, "%s holds no log head", path);
    goto fail;
  }
  free(data);
  return all;
fail:
  free(data);
  json_decref(all);
  return NULL;
}

int loghead_certs_load(const char *path, X509 ***certs, size_t *n,
                       struct owcp_error *err)
{
  BIO *bio = BIO_new_file(path, "r");
  X509 *cert, **list = NULL;
  size_t count = 0;

  *certs = NULL;
  *n = 0;
  if (bio == NULL) {
    owcp_error_set_ssl(err, "cannot read certificate file %s", path);
    return -1;
  }
  while ((cert = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
    X509 **grown = realloc(list, (count + 1) * sizeof(X509 *));

    if (grown == NULL) {
      X509_free(cert);
      loghead_certs_free(list, count);
      BIO_free(bio);
      owcp_error_set(err, "out of memory reading %s", path);
      return -1;
    }
    list = grown;
    list[count++] = cert;
  }
  ERR_clear_error(); /* the loop ends on "no start line" */
  BIO_free(bio);
  if (count == 0) {
    owcp_error_set(err, "%s holds no PEM certificate", path);
    return -1;
  }
  *certs = list;
  *n = count;
  return 0;
}

void loghead_certs_free(X509 **certs, size_t n)
{
  for (size_t i = 0; i < n; i++)
    X509_free(certs[i]);
  free(certs);
}

int loghead_append(const char *path, const char *text, struct owcp_error *err)
{
  size_t len = strlen(text);
  char *line = malloc(len + 2);
  int fd, rc = 0;
  ssize_t w;

  if (line == NULL) {
    owcp_error_set(err, "out of memory appending a log head");
    return -1;
  }
  memcpy(line, text, len);
  line[len] = '\n';
  line[len + 1] = '\0';
  fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) {
    owcp_error_set(err, "cannot open log head file %s: %s", path,
                   strerror(errno));
    free(line);
    return -1;
  }
  w = write(fd, line, len + 1);
  if (w != (ssize_t)(len + 1) || fsync(fd) != 0) {
    owcp_error_set(err, "cannot append to log head file %s: %s", path,
                   w < 0 ? strerror(errno) : "short write or fsync failed");
    rc = -1;
  }
  if (close(fd) != 0 && rc == 0) {
    owcp_error_set(err, "cannot close log head file %s: %s", path,
                   strerror(errno));
    rc = -1;
  }
  free(line);
  return rc;
}
