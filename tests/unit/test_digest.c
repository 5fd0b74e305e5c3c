/* digest.c: RFC 2617 Digest with the bridge as the challenger — the
 * request-digest (MD5 and MD5-sess) against the RFC 2617 §3.5 example and
 * vectors computed independently with Python's hashlib (the commands are
 * next to each vector), the htdigest reader, signed nonces (valid, stale
 * after the lifetime, tampered or foreign refused), the opaque, the
 * challenge header value and the answer checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "digest.h"
#include "testutil.h"

#define ALICE_HA1 "5f3b4d392d62686136b6dcfbeec41c21"
/* A nonce of the right shape that digest_nonce_new never made. */
#define VECTOR_NONCE                                                           \
  "0000000065a1b2c3deadbeefcafef00d0123456789abcdef0123456789abcdef"

static void test_rfc2617_example(void **state)
{
  (void)state;
  char ha1[DIGEST_HEX_LEN + 1], resp[DIGEST_HEX_LEN + 1];
  digest_ha1("Mufasa", "testrealm@host.com", "Circle Of Life", ha1);
  /* python3 -c 'import hashlib; print(hashlib.md5(
   *   b"Mufasa:testrealm@host.com:Circle Of Life").hexdigest())' */
  assert_string_equal(ha1, "939e7578ed9e3c518a452acee763bce9");
  digest_compute(ha1, DIGEST_MD5, "dcd98b7102dd2f0e8b11d0f600bfb0c093",
                 "00000001", "0a4f113b", "auth", "GET", "/dir/index.html",
                 resp);
  /* RFC 2617 §3.5 */
  assert_string_equal(resp, "6629fae49393a05397450978507c4ef1");
}

/* md5 = lambda s: hashlib.md5(s.encode()).hexdigest()
 * h1 = md5("alice@example.com:example.com:wonderland")
 * h2 = md5("SERVICE:sip:127.0.0.1:5060")
 * MD5:      md5(f"{h1}:{nonce}:00000001:0a4f113b:auth:{h2}")
 * MD5-sess: md5(f"{md5(f'{h1}:{nonce}:0a4f113b')}:{nonce}:00000001:"
 *               f"0a4f113b:auth:{h2}") */
static void test_service_vectors(void **state)
{
  (void)state;
  char ha1[DIGEST_HEX_LEN + 1], resp[DIGEST_HEX_LEN + 1];
  digest_ha1("alice@example.com", "example.com", "wonderland", ha1);
  assert_string_equal(ha1, ALICE_HA1);
  digest_compute(ha1, DIGEST_MD5, VECTOR_NONCE, "00000001", "0a4f113b", "auth",
                 "SERVICE", "sip:127.0.0.1:5060", resp);
  assert_string_equal(resp, "f7633f0f786da975fbe73c13b043b347");
  digest_compute(ha1, DIGEST_MD5_SESS, VECTOR_NONCE, "00000001", "0a4f113b",
                 "auth", "SERVICE", "sip:127.0.0.1:5060", resp);
  assert_string_equal(resp, "058ad7db85947ae1bd169f0294ce9f91");
}

static struct digest_answer answer(const char *response, const char *nc)
{
  struct digest_answer a = {0};
  a.username = strdup("alice@example.com");
  a.realm = strdup("example.com");
  a.nonce = strdup(VECTOR_NONCE);
  a.uri = strdup("sip:127.0.0.1:5060");
  a.response = strdup(response);
  a.cnonce = strdup("0a4f113b");
  a.qop = strdup("auth");
  a.nc = strdup(nc);
  return a;
}

static void test_answer_verify(void **state)
{
  (void)state;
  unsigned nc = 0;
  struct owcp_error err = {{0}};
  /* Upper-case hex is the same response. */
  struct digest_answer a =
      answer("F7633F0F786DA975FBE73C13B043B347", "0000000a");
  assert_true(digest_answer_complete(&a, &nc, &err));
  assert_int_equal(nc, 10);
  assert_false(digest_answer_verify(&a, ALICE_HA1, DIGEST_MD5, "SERVICE"));
  free(a.nc);
  a.nc = strdup("00000001");
  assert_true(digest_answer_verify(&a, ALICE_HA1, DIGEST_MD5, "SERVICE"));
  /* The method is part of HA2; MD5 claimed as MD5-sess (SIPp) fails. */
  assert_false(digest_answer_verify(&a, ALICE_HA1, DIGEST_MD5, "REGISTER"));
  assert_false(digest_answer_verify(&a, ALICE_HA1, DIGEST_MD5_SESS, "SERVICE"));
  /* A wrong password's HA1 fails. */
  char other[DIGEST_HEX_LEN + 1];
  digest_ha1("alice@example.com", "example.com", "Wonderland", other);
  assert_false(digest_answer_verify(&a, other, DIGEST_MD5, "SERVICE"));
  digest_answer_clear(&a);
  a = answer("058ad7db85947ae1bd169f0294ce9f91", "00000001");
  assert_true(digest_answer_verify(&a, ALICE_HA1, DIGEST_MD5_SESS, "SERVICE"));
  digest_answer_clear(&a);
  assert_null(a.username);
}

static void test_answer_complete(void **state)
{
  (void)state;
  unsigned nc = 0;
  struct owcp_error err = {{0}};
  struct digest_answer a =
      answer("f7633f0f786da975fbe73c13b043b347", "0000001");
  assert_false(digest_answer_complete(&a, &nc, &err)); /* 7 digits */
  testutil_assert_err_contains(&err, "nc");
  free(a.nc);
  a.nc = strdup("00000000");
  assert_false(digest_answer_complete(&a, &nc, &err));
  testutil_assert_err_contains(&err, "nc 0");
  free(a.nc);
  a.nc = strdup("00000001");
  free(a.qop);
  a.qop = strdup("auth-int");
  assert_false(digest_answer_complete(&a, &nc, &err));
  testutil_assert_err_contains(&err, "qop");
  free(a.qop);
  a.qop = NULL;
  assert_false(digest_answer_complete(&a, &nc, &err));
  testutil_assert_err_contains(&err, "without qop");
  a.qop = strdup("AUTH");
  free(a.cnonce);
  a.cnonce = NULL;
  assert_false(digest_answer_complete(&a, &nc, &err));
  testutil_assert_err_contains(&err, "without cnonce");
  a.cnonce = strdup("x");
  free(a.response);
  a.response = strdup("f7633f0f786da975fbe73c13b043b34g");
  assert_false(digest_answer_complete(&a, &nc, &err));
  testutil_assert_err_contains(&err, "malformed response");
  free(a.response);
  a.response = strdup("f7633f0f786da975fbe73c13b043b347");
  assert_true(digest_answer_complete(&a, &nc, &err));
  digest_answer_clear(&a);
}

static void test_nonces(void **state)
{
  (void)state;
  struct digest_key key, other;
  char n1[DIGEST_NONCE_LEN + 1], n2[DIGEST_NONCE_LEN + 1];
  time_t expires = 0, now = 1700000000;
  memset(key.k, 0x11, sizeof key.k);
  memset(other.k, 0x22, sizeof other.k);
  assert_int_equal(digest_nonce_new(&key, now, n1), 0);
  assert_int_equal(digest_nonce_new(&key, now, n2), 0);
  assert_int_equal(strlen(n1), DIGEST_NONCE_LEN);
  assert_string_not_equal(n1, n2); /* random part */
  /* Its time is readable: the first 8 bytes, big-endian. */
  assert_memory_equal(n1, "000000006553f100", 16);
  assert_int_equal(digest_nonce_check(&key, n1, now, 300, &expires),
                   DIGEST_NONCE_VALID);
  assert_int_equal(expires, now + 300);
  assert_int_equal(digest_nonce_check(&key, n1, now + 300, 300, NULL),
                   DIGEST_NONCE_VALID);
  assert_int_equal(digest_nonce_check(&key, n1, now + 301, 300, NULL),
                   DIGEST_NONCE_STALE);
  /* Another key (another user file) does not know it. */
  assert_int_equal(digest_nonce_check(&other, n1, now, 300, NULL),
                   DIGEST_NONCE_BAD);
  /* Tampered: every position flipped in turn is refused, the time too
   * (a client cannot make its nonce younger). */
  for (size_t i = 0; i < DIGEST_NONCE_LEN; i++) {
    char t[DIGEST_NONCE_LEN + 1];
    memcpy(t, n1, sizeof t);
    t[i] = t[i] == '0' ? '1' : '0';
    assert_int_equal(digest_nonce_check(&key, t, now, 300, NULL),
                     DIGEST_NONCE_BAD);
  }
  /* Wrong length, not hex, NULL, the vector nonce (never signed). */
  assert_int_equal(digest_nonce_check(&key, "abcd", now, 300, NULL),
                   DIGEST_NONCE_BAD);
  char nothex[DIGEST_NONCE_LEN + 1];
  memset(nothex, 'z', DIGEST_NONCE_LEN);
  nothex[DIGEST_NONCE_LEN] = '\0';
  assert_int_equal(digest_nonce_check(&key, nothex, now, 300, NULL),
                   DIGEST_NONCE_BAD);
  assert_int_equal(digest_nonce_check(&key, NULL, now, 300, NULL),
                   DIGEST_NONCE_BAD);
  assert_int_equal(digest_nonce_check(&key, VECTOR_NONCE, now, 300, NULL),
                   DIGEST_NONCE_BAD);
  /* From the future (beyond the slack): not ours. */
  assert_int_equal(digest_nonce_new(&key, now + 60, n2), 0);
  assert_int_equal(digest_nonce_check(&key, n2, now, 300, NULL),
                   DIGEST_NONCE_BAD);
}

static void test_opaque_and_challenge(void **state)
{
  (void)state;
  struct digest_key key, other;
  char n[DIGEST_NONCE_LEN + 1], o1[DIGEST_OPAQUE_LEN + 1],
      o2[DIGEST_OPAQUE_LEN + 1], o3[DIGEST_OPAQUE_LEN + 1];
  memset(key.k, 0x11, sizeof key.k);
  memset(other.k, 0x22, sizeof other.k);
  assert_int_equal(digest_nonce_new(&key, 1700000000, n), 0);
  digest_opaque(&key, n, o1);
  digest_opaque(&key, n, o2);
  digest_opaque(&other, n, o3);
  assert_int_equal(strlen(o1), DIGEST_OPAQUE_LEN);
  assert_string_equal(o1, o2);     /* derived, nothing stored */
  assert_string_not_equal(o1, o3); /* keyed */
  char *c = digest_challenge("example.com", n, o1, DIGEST_MD5_SESS, true);
  char want[256];
  snprintf(want, sizeof want,
           "Digest realm=\"example.com\", nonce=\"%s\", opaque=\"%s\", "
           "algorithm=MD5-sess, qop=\"auth\", stale=true",
           n, o1);
  assert_string_equal(c, want);
  free(c);
  c = digest_challenge("example.com", n, o1, DIGEST_MD5, false);
  assert_non_null(strstr(c, "algorithm=MD5, qop=\"auth\""));
  assert_null(strstr(c, "stale"));
  free(c);
}

static void test_alg_and_unquote(void **state)
{
  (void)state;
  enum digest_alg a = DIGEST_MD5_SESS;
  assert_true(digest_alg_parse(NULL, &a));
  assert_int_equal(a, DIGEST_MD5);
  assert_true(digest_alg_parse("md5-SESS", &a));
  assert_int_equal(a, DIGEST_MD5_SESS);
  assert_true(digest_alg_parse("", &a));
  assert_int_equal(a, DIGEST_MD5);
  assert_false(digest_alg_parse("SHA-256", &a));
  assert_string_equal(digest_alg_name(DIGEST_MD5_SESS), "MD5-sess");
  char *s = digest_unquote("\"a\\\"b\"");
  assert_string_equal(s, "a\"b");
  free(s);
  s = digest_unquote("auth");
  assert_string_equal(s, "auth");
  free(s);
  s = digest_unquote("\"\"");
  assert_string_equal(s, "");
  free(s);
  assert_null(digest_unquote(NULL));
}

static void test_users_file(void **state)
{
  (void)state;
  char dir[256], path[512];
  struct digest_users u;
  struct digest_key k1, k2;
  struct owcp_error err = {{0}};
  assert_int_equal(testutil_tmpdir_make(dir, sizeof dir, "digest"), 0);
  snprintf(path, sizeof path, "%s/users", dir);
  const char *text = "# htdigest\r\n\n"
                     "alice@example.com:example.com:" ALICE_HA1 "\r\n"
                     "bob@example.com:other:5F3B4D392D62686136B6DCFBEEC41C21\n";
  testutil_write_file(path, text, strlen(text));
  assert_int_equal(digest_users_load(path, &u, &k1, &err), 0);
  assert_int_equal(u.count, 2);
  assert_string_equal(digest_users_ha1(&u, "alice@example.com", "example.com"),
                      ALICE_HA1);
  /* Stored lower-case; realm must match; unknown users are NULL. */
  assert_string_equal(digest_users_ha1(&u, "bob@example.com", "other"),
                      ALICE_HA1);
  assert_null(digest_users_ha1(&u, "bob@example.com", "example.com"));
  assert_null(digest_users_ha1(&u, "carol@example.com", "example.com"));
  assert_null(digest_users_ha1(&u, NULL, "example.com"));
  digest_users_free(&u);
  assert_int_equal(u.count, 0);
  /* The nonce key follows the file: the same bytes, the same key. */
  assert_int_equal(digest_users_load(path, &u, &k2, &err), 0);
  digest_users_free(&u);
  assert_memory_equal(k1.k, k2.k, sizeof k1.k);
  const char *changed = "alice@example.com:example.com:" ALICE_HA1 "\n";
  testutil_write_file(path, changed, strlen(changed));
  assert_int_equal(digest_users_load(path, &u, &k2, &err), 0);
  digest_users_free(&u);
  assert_memory_not_equal(k1.k, k2.k, sizeof k1.k);
  /* Bad lines name the line; a clear password is not an HA1. */
  const char *bad[] = {"alice@example.com:example.com:wonderland\n",
                       "ok:r:" ALICE_HA1 "\nno-realm-here\n",
                       ":example.com:" ALICE_HA1 "\n", "a:r:" ALICE_HA1 "0\n"};
  const char *where[] = {":1:", ":2:", ":1:", ":1:"};
  for (size_t i = 0; i < 4; i++) {
    testutil_write_file(path, bad[i], strlen(bad[i]));
    assert_int_equal(digest_users_load(path, &u, NULL, &err), -1);
    testutil_assert_err_contains(&err, where[i]);
    testutil_assert_err_contains(&err, "user:realm:HA1");
    assert_int_equal(u.count, 0);
  }
  snprintf(path, sizeof path, "%s/missing", dir);
  assert_int_equal(digest_users_load(path, &u, NULL, &err), -1);
  testutil_assert_err_contains(&err, "cannot read");
  assert_int_equal(testutil_tmpdir_remove(dir), 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rfc2617_example),
      cmocka_unit_test(test_service_vectors),
      cmocka_unit_test(test_answer_verify),
      cmocka_unit_test(test_answer_complete),
      cmocka_unit_test(test_nonces),
      cmocka_unit_test(test_opaque_and_challenge),
      cmocka_unit_test(test_alg_and_unquote),
      cmocka_unit_test(test_users_file),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
