/*
 * util.c — implementation of owcp/util.h: error sentences, strict base64,
 * random identifiers, SHA-256, constant-time comparison, RFC 3339 time and
 * the loopback rule.
 */
#include "owcp/util.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <arpa/inet.h>
#include <pthread.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

void owcp_error_set(struct owcp_error *err, const char *fmt, ...)
{
  va_list ap;

  if (err == NULL)
    return;
  va_start(ap, fmt);
  vsnprintf(err->msg, sizeof err->msg, fmt, ap);
  va_end(ap);
}

/* Appends OpenSSL's queued reasons to err->msg; always empties the queue. */
static void append_ssl_errors(struct owcp_error *err)
{
  unsigned long code;
  bool first = true;

  while ((code = ERR_get_error()) != 0) {
    char reason[160];
    size_t used;

    if (err == NULL)
      continue;
    used = strlen(err->msg);
    if (used + 3 >= sizeof err->msg)
      continue;
    ERR_error_string_n(code, reason, sizeof reason);
    snprintf(err->msg + used, sizeof err->msg - used, "%s%s",
             first ? ": " : "; ", reason);
    first = false;
  }
}

void owcp_error_set_ssl(struct owcp_error *err, const char *fmt, ...)
{
  va_list ap;

  if (err != NULL) {
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
  }
  append_ssl_errors(err);
}

char *owcp_base64_encode(const unsigned char *data, size_t len)
{
  size_t out_len;
  char *out;

  /* EVP_EncodeBlock takes an int length. */
  if (len > (size_t)INT_MAX / 4 * 3 - 3)
    return NULL;
  out_len = 4 * ((len + 2) / 3);
  out = malloc(out_len + 1);
  if (out == NULL)
    return NULL;
  if (len == 0) {
    out[0] = '\0';
    return out;
  }
  EVP_EncodeBlock((unsigned char *)out, data, (int)len);
  out[out_len] = '\0';
  return out;
}

/* Value of a standard-alphabet base64 character, or -1. */
static int b64_value(unsigned char c)
{
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+')
    return 62;
  if (c == '/')
    return 63;
  return -1;
}

/*
 * EVP_DecodeBlock is lenient (it skips surrounding whitespace, ignores
 * non-zero pad bits and does not tell how much padding it saw), so the text
 * is checked completely here first and the padding is accounted for by hand.
 */
static int b64_check(const char *text, size_t len, size_t *pad,
                     struct owcp_error *err)
{
  size_t i, data_chars;

  if (len % 4 != 0) {
    owcp_error_set(
        err, "base64 text has length %zu, which is not a multiple of 4", len);
    return -1;
  }
  *pad = 0;
  if (len > 0 && text[len - 1] == '=')
    *pad = (len > 1 && text[len - 2] == '=') ? 2 : 1;
  data_chars = len - *pad;
  for (i = 0; i < data_chars; i++) {
    if (b64_value((unsigned char)text[i]) < 0) {
      owcp_error_set(err, "base64 text has an invalid character at offset %zu",
                     i);
      return -1;
    }
  }
  if (*pad > 0) {
    /* The last data character carries bits that padding says are unused. */
    int last = b64_value((unsigned char)text[data_chars - 1]);
    int unused_mask = (*pad == 1) ? 0x03 : 0x0f;

    if (last & unused_mask) {
      owcp_error_set(err, "base64 text has non-zero padding bits at offset %zu",
                     data_chars - 1);
      return -1;
    }
  }
  return 0;
}

int owcp_base64_decode(const char *text, size_t text_len, unsigned char **out,
                       size_t *out_len, struct owcp_error *err)
{
  size_t pad, max_len;
  unsigned char *buf;
  int n;

  *out = NULL;
  *out_len = 0;
  if (text == NULL) {
    owcp_error_set(err, "base64 text is missing");
    return -1;
  }
  if (text_len > (size_t)INT_MAX) {
    owcp_error_set(err, "base64 text is too long (%zu characters)", text_len);
    return -1;
  }
  if (b64_check(text, text_len, &pad, err) != 0)
    return -1;
  max_len = text_len / 4 * 3;
  buf = malloc(max_len + 1);
  if (buf == NULL) {
    owcp_error_set(err, "out of memory decoding base64");
    return -1;
  }
  if (text_len > 0) {
    n = EVP_DecodeBlock(buf, (const unsigned char *)text, (int)text_len);
    if (n < 0 || (size_t)n != max_len) {
      free(buf);
      owcp_error_set_ssl(err, "base64 text could not be decoded");
      return -1;
    }
  }
  *out_len = max_len - pad;
  buf[*out_len] = '\0';
  *out = buf;
  return 0;
}

int owcp_random_bytes(unsigned char *buf, size_t len)
{
  while (len > 0) {
    int chunk = len > (size_t)INT_MAX ? INT_MAX : (int)len;

    if (RAND_bytes(buf, chunk) != 1) {
      ERR_clear_error();
      return -1;
    }
    buf += chunk;
    len -= (size_t)chunk;
  }
  return 0;
}

#define RANDOM_ID_BYTES 24
#define RANDOM_ID_CHARS 32

char *owcp_random_id(void)
{
  unsigned char raw[RANDOM_ID_BYTES];
  char *id;
  size_t i;

  if (owcp_random_bytes(raw, sizeof raw) != 0)
    return NULL;
  id = malloc(RANDOM_ID_CHARS + 1);
  if (id == NULL) {
    OPENSSL_cleanse(raw, sizeof raw);
    return NULL;
  }
  /* 24 bytes encode to exactly 32 characters with no padding. */
  EVP_EncodeBlock((unsigned char *)id, raw, (int)sizeof raw);
  OPENSSL_cleanse(raw, sizeof raw);
  for (i = 0; i < RANDOM_ID_CHARS; i++) {
    if (id[i] == '+')
      id[i] = '-';
    else if (id[i] == '/')
      id[i] = '_';
  }
  id[RANDOM_ID_CHARS] = '\0';
  return id;
}

/* SHA-256 fetched from the default provider once per process. EVP_sha256()
 * makes every EVP_Digest() fetch it again, under the provider store's
 * lock, which a dispatcher's handler threads contend for (a few hashes
 * per request: token look-up, request digest). Written once by
 * pthread_once, read-only afterwards, never freed (it lives as long as the
 * process). */
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha256_fetched;

static void sha256_fetch(void)
{
  sha256_fetched = EVP_MD_fetch(NULL, "SHA2-256", NULL);
}

/* The fetched SHA-256, or the implicit-fetch one when fetching failed. */
static const EVP_MD *sha256_md(void)
{
  if (pthread_once(&sha256_once, sha256_fetch) != 0 || sha256_fetched == NULL)
    return EVP_sha256();
  return sha256_fetched;
}

void owcp_sha256(const void *data, size_t len,
                 unsigned char out[OWCP_SHA256_LEN])
{
  unsigned int n = 0;

  /*
   * This can only fail when OpenSSL cannot allocate or its provider is
   * unusable. Returning a wrong digest could make two hashes compare equal,
   * so the process stops instead (fail closed).
   */
  if (EVP_Digest(data, len, out, &n, sha256_md(), NULL) != 1 ||
      n != OWCP_SHA256_LEN) {
    fputs("owcp: SHA-256 is unavailable; aborting\n", stderr);
    abort();
  }
}

void owcp_hex_encode(const unsigned char *data, size_t len, char *out)
{
  static const char digits[] = "0123456789abcdef";
  size_t i;

  for (i = 0; i < len; i++) {
    out[2 * i] = digits[data[i] >> 4];
    out[2 * i + 1] = digits[data[i] & 0x0f];
  }
  out[2 * len] = '\0';
}

uint64_t owcp_str_hash(const char *s)
{
  uint64_t h = 14695981039346656037ULL; /* FNV-1a 64-bit offset basis */

  for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
    h ^= *p;
    h *= 1099511628211ULL; /* FNV 64-bit prime */
  }
  return h;
}

bool owcp_ct_equal(const void *a, const void *b, size_t len)
{
  return CRYPTO_memcmp(a, b, len) == 0;
}

bool owcp_ct_streq(const char *a, const char *b)
{
  size_t la = strlen(a), lb = strlen(b);

  if (la != lb)
    return false;
  return CRYPTO_memcmp(a, b, la) == 0;
}

/* The range whose RFC 3339 form has a four-digit year. */
#define TIME_MIN ((time_t)-62167219200LL) /* 0000-01-01T00:00:00Z */
#define TIME_MAX ((time_t)253402300799LL) /* 9999-12-31T23:59:59Z */

void owcp_time_format(time_t t, char out[OWCP_TIME_LEN])
{
  struct tm tm;

  /* Clamp so that the result always fits OWCP_TIME_LEN. */
  if (t < TIME_MIN)
    t = TIME_MIN;
  if (t > TIME_MAX)
    t = TIME_MAX;
  if (gmtime_r(&t, &tm) == NULL ||
      strftime(out, OWCP_TIME_LEN, "%Y-%m-%dT%H:%M:%SZ", &tm) !=
          OWCP_TIME_LEN - 1) {
    /* Unreachable for the clamped range; never leave out undefined. */
    snprintf(out, OWCP_TIME_LEN, "%s", "0000-01-01T00:00:00Z");
  }
}

/* Reads exactly n decimal digits at *p (no sign, no spaces); advances *p. */
static int read_digits(const char **p, int n, int *value)
{
  int v = 0, i;

  for (i = 0; i < n; i++) {
    char c = (*p)[i];

    if (c < '0' || c > '9')
      return -1;
    v = v * 10 + (c - '0');
  }
  *p += n;
  *value = v;
  return 0;
}

static bool is_leap_year(int y)
{
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
  static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

  return (m == 2 && is_leap_year(y)) ? 29 : days[m - 1];
}

/* Expects character c at *p and advances past it. */
static int expect(const char **p, char c)
{
  if (**p != c)
    return -1;
  (*p)++;
  return 0;
}

struct parsed_time {
  int year, month, day, hour, minute, second;
  int offset_seconds; /* local time minus UTC */
};

/* Parses "YYYY-MM-DDTHH:MM:SS"; on failure *where says what was wrong. */
static int parse_date_time(const char **p, struct parsed_time *pt,
                           const char **where)
{
  if (read_digits(p, 4, &pt->year) || expect(p, '-') ||
      read_digits(p, 2, &pt->month) || expect(p, '-') ||
      read_digits(p, 2, &pt->day)) {
    *where = "date (expected YYYY-MM-DD)";
    return -1;
  }
  if (**p != 'T' && **p != 't') {
    *where = "date/time separator (expected 'T')";
    return -1;
  }
  (*p)++;
  if (read_digits(p, 2, &pt->hour) || expect(p, ':') ||
      read_digits(p, 2, &pt->minute) || expect(p, ':') ||
      read_digits(p, 2, &pt->second)) {
    *where = "time (expected hh:mm:ss)";
    return -1;
  }
  if (pt->month < 1 || pt->month > 12 || pt->day < 1 ||
      pt->day > days_in_month(pt->year, pt->month)) {
    *where = "date (no such day)";
    return -1;
  }
  /* Second 60 is an RFC 3339 leap second; it normalises to the next one. */
  if (pt->hour > 23 || pt->minute > 59 || pt->second > 60) {
    *where = "time (field out of range)";
    return -1;
  }
  return 0;
}

/* Parses optional ".digits" (discarded) and the mandatory zone. */
static int parse_fraction_and_zone(const char **p, struct parsed_time *pt,
                                   const char **where)
{
  int oh, om, sign;

  if (**p == '.') {
    (*p)++;
    if (**p < '0' || **p > '9') {
      *where = "fractional seconds (no digits after '.')";
      return -1;
    }
    while (**p >= '0' && **p <= '9')
      (*p)++;
  }
  if (**p == 'Z' || **p == 'z') {
    (*p)++;
    pt->offset_seconds = 0;
    return 0;
  }
  if (**p != '+' && **p != '-') {
    *where = "time zone (expected 'Z' or +hh:mm / -hh:mm)";
    return -1;
  }
  sign = **p == '-' ? -1 : 1;
  (*p)++;
  if (read_digits(p, 2, &oh) || expect(p, ':') || read_digits(p, 2, &om) ||
      oh > 23 || om > 59) {
    *where = "time zone offset (expected hh:mm)";
    return -1;
  }
  pt->offset_seconds = sign * (oh * 3600 + om * 60);
  return 0;
}

int owcp_time_parse(const char *text, time_t *out, struct owcp_error *err)
{
  struct parsed_time pt;
  const char *p = text, *where = NULL;
  struct tm tm;
  time_t t;

  if (text == NULL) {
    owcp_error_set(err, "timestamp is missing");
    return -1;
  }
  if (parse_date_time(&p, &pt, &where) != 0 ||
      parse_fraction_and_zone(&p, &pt, &where) != 0) {
    owcp_error_set(err, "timestamp has an invalid %s at offset %td", where,
                   p - text);
    return -1;
  }
  if (*p != '\0') {
    owcp_error_set(err, "timestamp has trailing characters at offset %td",
                   p - text);
    return -1;
  }
  memset(&tm, 0, sizeof tm);
  tm.tm_year = pt.year - 1900;
  tm.tm_mon = pt.month - 1;
  tm.tm_mday = pt.day;
  tm.tm_hour = pt.hour;
  tm.tm_min = pt.minute;
  tm.tm_sec = pt.second;
  t = timegm(&tm);
  /* (time_t)-1 is also a valid instant: 1969-12-31T23:59:59Z. */
  if (t == (time_t)-1 &&
      !(pt.year == 1969 && pt.month == 12 && pt.day == 31 && pt.hour == 23 &&
        pt.minute == 59 && pt.second == 59)) {
    owcp_error_set(err, "timestamp '%.40s' is out of range", text);
    return -1;
  }
  *out = t - pt.offset_seconds;
  return 0;
}

/* The directory part of path ("." when there is none); caller frees. */
static char *dir_of(const char *path)
{
  const char *slash = strrchr(path, '/');

  if (slash == NULL)
    return strdup(".");
  if (slash == path)
    return strdup("/");
  return strndup(path, (size_t)(slash - path));
}

static int write_all(int fd, const unsigned char *p, size_t len)
{
  while (len > 0) {
    ssize_t n = write(fd, p, len);

    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return -1;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

/* Makes the rename durable; a failure here is reported, not ignored. */
static int fsync_dir(const char *path, struct owcp_error *err)
{
  char *dir = dir_of(path);
  int fd, rc = 0;

  if (dir == NULL) {
    owcp_error_set(err, "out of memory");
    return -1;
  }
  fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 || fsync(fd) != 0) {
    owcp_error_set(err, "cannot sync directory '%s': %s", dir, strerror(errno));
    rc = -1;
  }
  if (fd >= 0)
    close(fd);
  free(dir);
  return rc;
}

int owcp_file_write_atomic(const char *path, const void *data, size_t len,
                           unsigned int mode, struct owcp_error *err)
{
  char *suffix = owcp_random_id(), *tmp = NULL;
  size_t tmp_len;
  int fd = -1;

  if (suffix == NULL)
    goto oom;
  tmp_len = strlen(path) + 6 + strlen(suffix) + 1;
  tmp = malloc(tmp_len);
  if (tmp == NULL)
    goto oom;
  snprintf(tmp, tmp_len, "%s.tmp-%s", path, suffix);
  fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
            (mode_t)mode);
  if (fd < 0) {
    owcp_error_set(err, "cannot create '%s': %s", tmp, strerror(errno));
    goto fail;
  }
  if (write_all(fd, data, len) != 0 || fsync(fd) != 0) {
    owcp_error_set(err, "cannot write '%s': %s", tmp, strerror(errno));
    goto fail;
  }
  if (close(fd) != 0) {
    fd = -1;
    owcp_error_set(err, "cannot write '%s': %s", tmp, strerror(errno));
    goto fail;
  }
  fd = -1;
  if (rename(tmp, path) != 0) {
    owcp_error_set(err, "cannot rename '%s' to '%s': %s", tmp, path,
                   strerror(errno));
    goto fail;
  }
  free(tmp);
  free(suffix);
  return fsync_dir(path, err);
oom:
  owcp_error_set(err, "out of memory writing '%s'", path);
  free(suffix);
  free(tmp);
  return -1;
fail:
  if (fd >= 0)
    close(fd);
  unlink(tmp);
  free(tmp);
  free(suffix);
  return -1;
}

int owcp_file_read(const char *path, size_t max_len, unsigned char **out,
                   size_t *out_len, struct owcp_error *err)
{
  unsigned char *buf = NULL;
  size_t used = 0;
  struct stat st;
  int fd;

  *out = NULL;
  *out_len = 0;
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    owcp_error_set(err, "cannot open '%s': %s", path, strerror(errno));
    return -1;
  }
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    owcp_error_set(err, "'%s' is not a regular file", path);
    goto fail;
  }
  if ((uintmax_t)st.st_size > max_len) {
    owcp_error_set(err, "'%s' is larger than %zu bytes", path, max_len);
    goto fail;
  }
  buf = malloc(max_len + 1);
  if (buf == NULL) {
    owcp_error_set(err, "out of memory reading '%s'", path);
    goto fail;
  }
  for (;;) {
    ssize_t n = read(fd, buf + used, max_len + 1 - used);

    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      owcp_error_set(err, "cannot read '%s': %s", path, strerror(errno));
      goto fail;
    }
    if (n == 0)
      break;
    used += (size_t)n;
    if (used > max_len) {
      owcp_error_set(err, "'%s' is larger than %zu bytes", path, max_len);
      goto fail;
    }
  }
  close(fd);
  buf[used] = '\0';
  *out = buf;
  *out_len = used;
  return 0;
fail:
  free(buf);
  close(fd);
  return -1;
}

/* 127.0.0.0/8; a is in network byte order. */
static bool v4_is_loopback(const struct in_addr *a)
{
  return (ntohl(a->s_addr) >> 24) == 127;
}

/* "[...]" around an IPv6 literal that is ::1. */
static bool bracketed_v6_is_loopback(const char *host, size_t len)
{
  char inner[INET6_ADDRSTRLEN + 1];
  struct in6_addr v6;

  if (len <= 2 || host[0] != '[' || host[len - 1] != ']' ||
      len - 2 >= sizeof inner)
    return false;
  memcpy(inner, host + 1, len - 2);
  inner[len - 2] = '\0';
  return inet_pton(AF_INET6, inner, &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

bool owcp_host_is_loopback(const char *host)
{
  struct in_addr v4;

  if (host == NULL)
    return false;
  if (strcasecmp(host, "localhost") == 0)
    return true;
  if (inet_pton(AF_INET, host, &v4) == 1)
    return v4_is_loopback(&v4);
  return bracketed_v6_is_loopback(host, strlen(host));
}

bool owcp_sockaddr_is_loopback(const struct sockaddr *sa, socklen_t len)
{
  if (sa == NULL)
    return false;
  if (sa->sa_family == AF_INET &&
      len >= (socklen_t)sizeof(struct sockaddr_in)) {
    struct sockaddr_in v4;
    memcpy(&v4, sa, sizeof v4);
    return v4_is_loopback(&v4.sin_addr);
  }
  if (sa->sa_family == AF_INET6 &&
      len >= (socklen_t)sizeof(struct sockaddr_in6)) {
    struct sockaddr_in6 v6;
    memcpy(&v6, sa, sizeof v6);
    if (IN6_IS_ADDR_LOOPBACK(&v6.sin6_addr))
      return true;
    return IN6_IS_ADDR_V4MAPPED(&v6.sin6_addr) &&
           v6.sin6_addr.s6_addr[12] == 127;
  }
  return false;
}
