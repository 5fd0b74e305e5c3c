/*
 * test_util.c — unit tests for owcp/util.h: base64 (RFC 4648 vectors and
 * every strictness rule), random identifiers, SHA-256, constant-time
 * comparison, RFC 3339 time handling and the loopback rule.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "owcp/util.h"
#include "testutil.h"

static void test_error_set_formats_and_truncates(void **state)
{
  struct owcp_error err;
  char big[OWCP_ERROR_MAX * 2];

  (void)state;
  owcp_error_set(&err, "field '%s' must be <= %d", "Timeout", 86400);
  assert_string_equal(err.msg, "field 'Timeout' must be <= 86400");
  memset(big, 'x', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  owcp_error_set(&err, "%s", big);
  assert_int_equal(strlen(err.msg), OWCP_ERROR_MAX - 1);
  owcp_error_set(NULL, "ignored %d", 1); /* must not crash */
}

static void test_error_set_ssl_drains_queue(void **state)
{
  struct owcp_error err;

  (void)state;
  ERR_raise(ERR_LIB_EVP, EVP_R_BAD_DECRYPT);
  owcp_error_set_ssl(&err, "decrypting the key failed");
  assert_non_null(strstr(err.msg, "decrypting the key failed: "));
  assert_non_null(strstr(err.msg, "bad decrypt"));
  assert_int_equal(ERR_peek_error(), 0);

  ERR_raise(ERR_LIB_EVP, EVP_R_BAD_DECRYPT);
  owcp_error_set_ssl(NULL, "nothing");
  assert_int_equal(ERR_peek_error(), 0);

  owcp_error_set_ssl(&err, "no queued reason");
  assert_string_equal(err.msg, "no queued reason");
}

struct b64_vector {
  const char *plain;
  const char *encoded;
};

/* RFC 4648 §10. */
static const struct b64_vector rfc4648[] = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
};

static void test_base64_rfc4648_vectors(void **state)
{
  size_t i;

  (void)state;
  for (i = 0; i < sizeof rfc4648 / sizeof rfc4648[0]; i++) {
    struct owcp_error err = {{0}};
    unsigned char *dec = NULL;
    size_t dec_len = 99;
    char *enc = owcp_base64_encode((const unsigned char *)rfc4648[i].plain,
                                   strlen(rfc4648[i].plain));

    assert_non_null(enc);
    assert_string_equal(enc, rfc4648[i].encoded);
    free(enc);
    assert_int_equal(owcp_base64_decode(rfc4648[i].encoded,
                                        strlen(rfc4648[i].encoded), &dec,
                                        &dec_len, &err),
                     0);
    assert_non_null(dec);
    assert_int_equal(dec_len, strlen(rfc4648[i].plain));
    assert_memory_equal(dec, rfc4648[i].plain, dec_len);
    assert_int_equal(dec[dec_len], '\0');
    free(dec);
  }
}

static void test_base64_binary_round_trip(void **state)
{
  unsigned char data[256], *dec = NULL;
  size_t i, dec_len = 0, n;
  struct owcp_error err;

  (void)state;
  for (i = 0; i < sizeof data; i++)
    data[i] = (unsigned char)(255 - i);
  for (n = 0; n <= sizeof data; n += 37) {
    char *enc = owcp_base64_encode(data, n);

    assert_non_null(enc);
    assert_int_equal(strlen(enc), 4 * ((n + 2) / 3));
    assert_int_equal(owcp_base64_decode(enc, strlen(enc), &dec, &dec_len, &err),
                     0);
    assert_int_equal(dec_len, n);
    assert_memory_equal(dec, data, n);
    free(dec);
    free(enc);
  }
}

/* Decoding must fail and the error must contain `needle`. */
static void expect_b64_failure(const char *text, const char *needle)
{
  struct owcp_error err = {{0}};
  unsigned char *dec = (unsigned char *)"sentinel";
  size_t dec_len = 7;

  assert_int_equal(owcp_base64_decode(text, strlen(text), &dec, &dec_len, &err),
                   -1);
  assert_null(dec);
  assert_int_equal(dec_len, 0);
  if (strstr(err.msg, needle) == NULL)
    fail_msg("decoding '%s': error '%s' lacks '%s'", text, err.msg, needle);
}

static void test_base64_strictness(void **state)
{
  (void)state;
  expect_b64_failure("Zg", "not a multiple of 4");         /* no padding */
  expect_b64_failure("Zg=", "not a multiple of 4");        /* short pad */
  expect_b64_failure("Zm9vYmFy\n", "not a multiple of 4"); /* newline */
  expect_b64_failure(" Zm9v", "not a multiple of 4");      /* space */
  expect_b64_failure("Zm9v Zm9", "invalid character at offset 4");
  expect_b64_failure("Zm9\nZm9v", "invalid character at offset 3");
  expect_b64_failure("Zm-v", "invalid character at offset 2"); /* base64url */
  expect_b64_failure("Zm_v", "invalid character at offset 2");
  expect_b64_failure("Z=9v", "invalid character at offset 1"); /* inner = */
  expect_b64_failure("Zg==Zg==", "invalid character at offset 2");
  expect_b64_failure("Z===", "invalid character at offset 1");
  expect_b64_failure("====", "invalid character at offset 0");
  expect_b64_failure("Zh==", "non-zero padding bits at offset 1");
  expect_b64_failure("Zm9=", "non-zero padding bits at offset 2");
  expect_b64_failure("Zm\xc3\xa9", "invalid character at offset 2");
}

static void test_base64_embedded_nul_is_rejected(void **state)
{
  struct owcp_error err;
  unsigned char *dec = NULL;
  size_t dec_len = 0;

  (void)state;
  assert_int_equal(owcp_base64_decode("Zm\0v", 4, &dec, &dec_len, &err), -1);
  assert_non_null(strstr(err.msg, "offset 2"));
  assert_int_equal(owcp_base64_decode(NULL, 0, &dec, &dec_len, &err), -1);
  assert_non_null(strstr(err.msg, "missing"));
}

static void test_random_bytes_fill(void **state)
{
  unsigned char a[64], b[64];

  (void)state;
  memset(a, 0, sizeof a);
  memset(b, 0, sizeof b);
  assert_int_equal(owcp_random_bytes(a, sizeof a), 0);
  assert_int_equal(owcp_random_bytes(b, sizeof b), 0);
  /* 512 random bits colliding would mean a broken generator. */
  assert_memory_not_equal(a, b, sizeof a);
  assert_int_equal(owcp_random_bytes(a, 0), 0);
}

static bool is_url_safe(char c)
{
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9') || c == '-' || c == '_';
}

#define N_IDS 2000

static int cmp_str(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_random_id_format_and_uniqueness(void **state)
{
  char **ids = calloc(N_IDS, sizeof *ids);
  bool seen_dash_or_underscore = false;
  size_t i, j;

  (void)state;
  assert_non_null(ids);
  for (i = 0; i < N_IDS; i++) {
    ids[i] = owcp_random_id();
    assert_non_null(ids[i]);
    assert_int_equal(strlen(ids[i]), 32);
    for (j = 0; j < 32; j++) {
      assert_true(is_url_safe(ids[i][j]));
      if (ids[i][j] == '-' || ids[i][j] == '_')
        seen_dash_or_underscore = true;
    }
  }
  /* 64000 characters without '-' or '_' means no translation happened. */
  assert_true(seen_dash_or_underscore);
  qsort(ids, N_IDS, sizeof *ids, cmp_str);
  for (i = 1; i < N_IDS; i++)
    assert_string_not_equal(ids[i - 1], ids[i]);
  for (i = 0; i < N_IDS; i++)
    free(ids[i]);
  free(ids);
}

static void test_sha256_vectors(void **state)
{
  unsigned char d[OWCP_SHA256_LEN];
  char hex[2 * OWCP_SHA256_LEN + 1];

  (void)state;
  owcp_sha256("abc", 3, d);
  owcp_hex_encode(d, sizeof d, hex);
  assert_string_equal(
      hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  owcp_sha256("", 0, d);
  owcp_hex_encode(d, sizeof d, hex);
  assert_string_equal(
      hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  owcp_sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56,
              d);
  owcp_hex_encode(d, sizeof d, hex);
  assert_string_equal(
      hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void test_hex_encode(void **state)
{
  const unsigned char in[] = {0x00, 0x0f, 0xa5, 0xff};
  char out[9];

  (void)state;
  owcp_hex_encode(in, sizeof in, out);
  assert_string_equal(out, "000fa5ff");
  owcp_hex_encode(in, 0, out);
  assert_string_equal(out, "");
}

static void test_ct_equal(void **state)
{
  (void)state;
  assert_true(owcp_ct_equal("abcdef", "abcdef", 6));
  assert_false(owcp_ct_equal("abcdef", "abcdeg", 6));
  assert_false(owcp_ct_equal("xbcdef", "abcdef", 6));
  assert_true(owcp_ct_equal("abc", "abd", 2));
  assert_true(owcp_ct_equal("a", "b", 0));
  assert_true(owcp_ct_streq("secret", "secret"));
  assert_false(owcp_ct_streq("secret", "secreT"));
  assert_false(owcp_ct_streq("secret", "secret2"));
  assert_false(owcp_ct_streq("", "x"));
  assert_true(owcp_ct_streq("", ""));
}

static void test_time_format(void **state)
{
  char buf[OWCP_TIME_LEN];

  (void)state;
  owcp_time_format(0, buf);
  assert_string_equal(buf, "1970-01-01T00:00:00Z");
  owcp_time_format(1795341600, buf);
  assert_string_equal(buf, "2026-11-22T10:00:00Z");
  owcp_time_format(951782400, buf); /* leap day 2000 */
  assert_string_equal(buf, "2000-02-29T00:00:00Z");
  /* Out-of-range instants clamp instead of overflowing the buffer. */
  owcp_time_format((time_t)400000000000LL, buf);
  assert_string_equal(buf, "9999-12-31T23:59:59Z");
  owcp_time_format((time_t)-70000000000LL, buf);
  assert_string_equal(buf, "0000-01-01T00:00:00Z");
}

static void expect_time(const char *text, time_t want)
{
  struct owcp_error err = {{0}};
  time_t got = 12345;

  if (owcp_time_parse(text, &got, &err) != 0)
    fail_msg("parsing '%s' failed: %s", text, err.msg);
  if (got != want)
    fail_msg("parsing '%s' gave %lld, want %lld", text, (long long)got,
             (long long)want);
}

static void test_time_parse_valid(void **state)
{
  (void)state;
  expect_time("2026-11-22T10:00:00Z", 1795341600);
  expect_time("2026-11-22t10:00:00z", 1795341600);
  expect_time("2026-11-22T10:00:00.999999Z", 1795341600);
  expect_time("2026-11-22T11:30:00+01:30", 1795341600);
  expect_time("2026-11-22T05:00:00-05:00", 1795341600);
  expect_time("2026-11-22T10:00:00.5+00:00", 1795341600);
  expect_time("2026-11-22T10:00:00-00:00", 1795341600);
  expect_time("2026-11-23T09:59:00+23:59", 1795341600);
  expect_time("1970-01-01T00:00:00Z", 0);
  expect_time("1969-12-31T23:59:59Z", -1);
  expect_time("2000-02-29T00:00:00Z", 951782400);
  expect_time("2016-12-31T23:59:60Z", 1483228800); /* leap second */
}

static void expect_time_failure(const char *text, const char *needle)
{
  struct owcp_error err = {{0}};
  time_t got = 777;

  if (owcp_time_parse(text, &got, &err) == 0)
    fail_msg("parsing '%s' unexpectedly succeeded", text);
  assert_int_equal(got, 777);
  if (strstr(err.msg, needle) == NULL)
    fail_msg("parsing '%s': error '%s' lacks '%s'", text, err.msg, needle);
}

static void test_time_parse_invalid(void **state)
{
  (void)state;
  expect_time_failure("", "date");
  expect_time_failure("2026-11-22", "separator");
  expect_time_failure("2026-11-22 10:00:00Z", "separator");
  expect_time_failure("2026-11-22T10:00:00", "time zone");
  expect_time_failure("2026-11-22T10:00Z", "time (expected hh:mm:ss)");
  expect_time_failure("26-11-22T10:00:00Z", "date (expected YYYY-MM-DD)");
  expect_time_failure("2026-1-22T10:00:00Z", "date (expected");
  expect_time_failure("+2026-11-22T10:00:00Z", "date (expected");
  expect_time_failure("2026-13-01T10:00:00Z", "no such day");
  expect_time_failure("2026-00-01T10:00:00Z", "no such day");
  expect_time_failure("2026-02-29T10:00:00Z", "no such day");
  expect_time_failure("1900-02-29T10:00:00Z", "no such day");
  expect_time_failure("2026-04-31T10:00:00Z", "no such day");
  expect_time_failure("2026-11-00T10:00:00Z", "no such day");
  expect_time_failure("2026-11-22T24:00:00Z", "out of range");
  expect_time_failure("2026-11-22T10:60:00Z", "out of range");
  expect_time_failure("2026-11-22T10:00:61Z", "out of range");
  expect_time_failure("2026-11-22T10:00:00.Z", "fractional");
  expect_time_failure("2026-11-22T10:00:00+0100", "offset");
  expect_time_failure("2026-11-22T10:00:00+24:00", "offset");
  expect_time_failure("2026-11-22T10:00:00+01:60", "offset");
  expect_time_failure("2026-11-22T10:00:00+1:00", "offset");
  expect_time_failure("2026-11-22T10:00:00ZZ",
                      "trailing characters at offset 20");
  expect_time_failure("2026-11-22T10:00:00Z ", "trailing");
  expect_time_failure("2026-11-22T1 :00:00Z", "time (expected");
  expect_time_failure("2026-11-22T10:00:00UTC", "time zone");
}

static void test_time_round_trip(void **state)
{
  char buf[OWCP_TIME_LEN];
  time_t t, back = 0;
  struct owcp_error err;

  (void)state;
  for (t = (time_t)-86400 * 365; t < (time_t)4000000000LL;
       t += (time_t)86400 * 37 + 3671) {
    owcp_time_format(t, buf);
    assert_int_equal(owcp_time_parse(buf, &back, &err), 0);
    assert_int_equal(back, t);
  }
}

/* Number of directory entries other than . and .. */
static int count_entries(const char *dir)
{
  DIR *d = opendir(dir);
  struct dirent *e;
  int n = 0;

  assert_non_null(d);
  while ((e = readdir(d)) != NULL)
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
      n++;
  closedir(d);
  return n;
}

static void test_file_write_atomic_and_read(void **state)
{
  char dir[64], path[96];
  unsigned char *data = NULL;
  size_t len = 0;
  struct owcp_error err;
  struct stat st;

  (void)state;
  assert_int_equal(testutil_tmpdir_make(dir, sizeof dir, "util"), 0);
  snprintf(path, sizeof path, "%s/secret", dir);
  assert_int_equal(owcp_file_write_atomic(path, "first", 5, 0600, &err), 0);
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  assert_int_equal(owcp_file_write_atomic(path, "second!", 7, 0600, &err), 0);
  assert_int_equal(owcp_file_read(path, 100, &data, &len, &err), 0);
  assert_int_equal(len, 7);
  assert_memory_equal(data, "second!", 7);
  assert_int_equal(data[7], '\0');
  free(data);
  /* No temporary file is left behind. */
  assert_int_equal(count_entries(dir), 1);
  /* Size limit, directories and missing files are errors naming the path. */
  assert_int_equal(owcp_file_read(path, 6, &data, &len, &err), -1);
  assert_null(data);
  assert_non_null(strstr(err.msg, "larger than 6 bytes"));
  assert_int_equal(owcp_file_read(dir, 100, &data, &len, &err), -1);
  assert_non_null(strstr(err.msg, "not a regular file"));
  snprintf(path, sizeof path, "%s/missing", dir);
  assert_int_equal(owcp_file_read(path, 100, &data, &len, &err), -1);
  assert_non_null(strstr(err.msg, "cannot open"));
  /* Writing into a directory that does not exist fails cleanly. */
  snprintf(path, sizeof path, "%s/no/such/file", dir);
  assert_int_equal(owcp_file_write_atomic(path, "x", 1, 0600, &err), -1);
  assert_non_null(strstr(err.msg, "cannot create"));
  assert_int_equal(testutil_tmpdir_remove(dir), 0);
}

/* Published FNV-1a 64-bit test vectors. */
static void test_str_hash_fnv1a(void **state)
{
  (void)state;
  assert_true(owcp_str_hash("") == 0xcbf29ce484222325ULL);
  assert_true(owcp_str_hash("a") == 0xaf63dc4c8601ec8cULL);
  assert_true(owcp_str_hash("foobar") == 0x85944171f73967e8ULL);
}

/* The URL-host rule: canonical loopback forms only, failing closed. */
static void test_host_is_loopback(void **state)
{
  static const char *const loopback[] = {"127.0.0.1", "127.255.0.1",
                                         "localhost", "LOCALHOST",
                                         "[::1]",     "[0:0:0:0:0:0:0:1]"};
  /* Not in curl_url's canonical form, or not loopback; "::1" unbracketed
   * is not how curl_url gives a host. */
  static const char *const not_loopback[] = {
      "localhost.evil.example",
      "[::2]",
      "::1",
      "127.1",
      "0x7f.0.0.1",
      "017700000001",
      "127.0.0.1.",
      "localhost.",
      "[::ffff:127.0.0.1]",
      "[::1%25lo]",
      "[::1",
      "",
      "[]",
      "128.0.0.1",
      "0.0.0.0",
      "[::]",
      "126.255.255.255",
      "[0000:0000:0000:0000:0000:0000:0000:0000:0001]"};

  (void)state;
  for (size_t i = 0; i < sizeof loopback / sizeof loopback[0]; i++) {
    if (!owcp_host_is_loopback(loopback[i]))
      fail_msg("'%s' not taken for loopback", loopback[i]);
  }
  for (size_t i = 0; i < sizeof not_loopback / sizeof not_loopback[0]; i++) {
    if (owcp_host_is_loopback(not_loopback[i]))
      fail_msg("'%s' taken for loopback", not_loopback[i]);
  }
  assert_false(owcp_host_is_loopback(NULL));
}

/* owcp_sockaddr_is_loopback() of the address text as a sockaddr_in or
 * sockaddr_in6 of full length. */
static bool addr_is_loopback(const char *text)
{
  struct sockaddr_in a4;
  struct sockaddr_in6 a6;

  memset(&a4, 0, sizeof a4);
  memset(&a6, 0, sizeof a6);
  a4.sin_family = AF_INET;
  a6.sin6_family = AF_INET6;
  if (inet_pton(AF_INET, text, &a4.sin_addr) == 1)
    return owcp_sockaddr_is_loopback((const struct sockaddr *)&a4, sizeof a4);
  assert_int_equal(inet_pton(AF_INET6, text, &a6.sin6_addr), 1);
  return owcp_sockaddr_is_loopback((const struct sockaddr *)&a6, sizeof a6);
}

/* The socket-address rule: 127/8, ::1 and IPv4-mapped 127/8 (a dual-stack
 * socket reaches 127.x through it); a short length or another family is
 * never loopback. */
static void test_sockaddr_is_loopback(void **state)
{
  static const struct {
    const char *addr;
    bool loopback;
  } cases[] = {
      {"127.0.0.1", true},
      {"127.255.255.254", true},
      {"126.255.255.255", false},
      {"128.0.0.1", false},
      {"0.0.0.0", false},
      {"10.0.0.1", false},
      {"::1", true},
      {"::ffff:127.0.0.1", true},
      {"::ffff:127.9.8.7", true},
      {"::ffff:128.0.0.1", false},
      {"::ffff:10.0.0.1", false},
      {"::", false},
      {"::2", false},
      {"fe80::1", false},
      {"::127.0.0.1", false},        /* IPv4-compatible, not mapped */
      {"64:ff9b::127.0.0.1", false}, /* NAT64: not this host */
  };

  (void)state;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    if (addr_is_loopback(cases[i].addr) != cases[i].loopback)
      fail_msg("%s: expected %s", cases[i].addr,
               cases[i].loopback ? "loopback" : "not loopback");
  }

  struct sockaddr_in a4;
  struct sockaddr_in6 a6;
  memset(&a4, 0, sizeof a4);
  memset(&a6, 0, sizeof a6);
  a4.sin_family = AF_INET;
  a4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a6.sin6_family = AF_INET6;
  a6.sin6_addr = in6addr_loopback;
  assert_true(
      owcp_sockaddr_is_loopback((const struct sockaddr *)&a4, sizeof a4));
  assert_true(
      owcp_sockaddr_is_loopback((const struct sockaddr *)&a6, sizeof a6));
  /* A length too short for the family is refused, not over-read. */
  assert_false(
      owcp_sockaddr_is_loopback((const struct sockaddr *)&a4, sizeof a4 - 1));
  assert_false(
      owcp_sockaddr_is_loopback((const struct sockaddr *)&a6, sizeof a6 - 1));
  assert_false(
      owcp_sockaddr_is_loopback((const struct sockaddr *)&a6, sizeof a4));
  /* Another family, or none. */
  struct sockaddr_storage other;
  memset(&other, 0, sizeof other);
  other.ss_family = AF_UNIX;
  assert_false(
      owcp_sockaddr_is_loopback((const struct sockaddr *)&other, sizeof other));
  assert_false(owcp_sockaddr_is_loopback(NULL, 0));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_str_hash_fnv1a),
      cmocka_unit_test(test_host_is_loopback),
      cmocka_unit_test(test_sockaddr_is_loopback),
      cmocka_unit_test(test_error_set_formats_and_truncates),
      cmocka_unit_test(test_error_set_ssl_drains_queue),
      cmocka_unit_test(test_base64_rfc4648_vectors),
      cmocka_unit_test(test_base64_binary_round_trip),
      cmocka_unit_test(test_base64_strictness),
      cmocka_unit_test(test_base64_embedded_nul_is_rejected),
      cmocka_unit_test(test_random_bytes_fill),
      cmocka_unit_test(test_random_id_format_and_uniqueness),
      cmocka_unit_test(test_sha256_vectors),
      cmocka_unit_test(test_hex_encode),
      cmocka_unit_test(test_ct_equal),
      cmocka_unit_test(test_time_format),
      cmocka_unit_test(test_time_parse_valid),
      cmocka_unit_test(test_time_parse_invalid),
      cmocka_unit_test(test_time_round_trip),
      cmocka_unit_test(test_file_write_atomic_and_read),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
