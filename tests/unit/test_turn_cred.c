/* turn_cred.c: TURN credentials — `rest` (coturn --use-auth-secret) and
 * `msturn` (the layout of turn_cred.h) against vectors computed
 * independently with Python's hmac/hashlib/base64 (the script is next to
 * each vector), every msturn field decoded back, expiry from the minutes
 * asked, and the secret files (trimmed, rotation by reload: the first
 * mints; a failed reload keeps the old set). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "testutil.h"
#include "turn_cred.h"

#define NOW 1700000000
#define IDENTITY "sip:alice@example.com"

struct world {
  char dir[256];
  char p1[512], p2[512], p3[512];
};

static int setup(void **state)
{
  struct world *w = calloc(1, sizeof *w);
  if (w == NULL || testutil_tmpdir_make(w->dir, sizeof w->dir, "turn") != 0)
    return -1;
  snprintf(w->p1, sizeof w->p1, "%s/turn1.secret", w->dir);
  snprintf(w->p2, sizeof w->p2, "%s/turn2.secret", w->dir);
  snprintf(w->p3, sizeof w->p3, "%s/turn3.secret", w->dir);
  *state = w;
  return 0;
}

static int teardown(void **state)
{
  struct world *w = *state;
  int rc = testutil_tmpdir_remove(w->dir);
  free(w);
  return rc;
}

static void write_text(const char *path, const char *text)
{
  testutil_write_file(path, text, strlen(text));
}

static struct turn_secrets *load2(struct world *w)
{
  struct owcp_error err = {{0}};
  write_text(w->p1, "  first-turn-secret\r\n");
  write_text(w->p2, "second-turn-secret\n\n");
  const char *paths[] = {w->p1, w->p2};
  struct turn_secrets *s = turn_secrets_load(paths, 2, &err);
  assert_non_null(s);
  return s;
}

/* secret = b"first-turn-secret"; u = "1700028800:sip:alice@example.com"
 * base64.b64encode(hmac.new(secret, u.encode(), hashlib.sha1).digest()) */
static void test_rest(void **state)
{
  struct world *w = *state;
  struct turn_secrets *s = load2(w);
  struct turn_cred c;
  struct owcp_error err = {{0}};
  assert_int_equal(turn_cred_mint(s, TURN_REST, IDENTITY, 480, NOW, &c, &err),
                   0);
  assert_string_equal(c.username, "1700028800:" IDENTITY);
  assert_string_equal(c.password, "IuWXfw+Y/M9qedHT5SKefVjOjsI=");
  assert_int_equal(c.expires, NOW + 480 * 60);
  turn_cred_clear(&c);
  assert_null(c.username);
  /* 30 minutes: the expiry follows (same script, u = "1700001800:..."). */
  assert_int_equal(turn_cred_mint(s, TURN_REST, IDENTITY, 30, NOW, &c, &err),
                   0);
  assert_string_equal(c.username, "1700001800:" IDENTITY);
  assert_string_equal(c.password, "MFkzgssASA4Q4z2x5JDGKv0pvU4=");
  turn_cred_clear(&c);
  turn_secrets_free(s);
}

static void hmac_sha1(const char *key, const void *data, size_t len,
                      unsigned char out[20])
{
  unsigned int n = 20;
  assert_non_null(HMAC(EVP_sha1(), key, (int)strlen(key), data, len, out, &n));
}

static size_t b64_decode(const char *in, unsigned char *out)
{
  int n = EVP_DecodeBlock(out, (const unsigned char *)in, (int)strlen(in));
  assert_true(n >= 0);
  size_t len = strlen(in);
  /* EVP_DecodeBlock counts the padding as zero bytes. */
  while (len > 0 && in[len - 1] == '=') {
    len--;
    n--;
  }
  return (size_t)n;
}

/* k1, k2 = b"first-turn-secret", b"second-turn-secret"
 * ft = (1700028800 + 11644473600) * 10000000
 * blob = bytes([1, 0]) + struct.pack("<H", 32) + struct.pack("<Q", ft)
 *        + hmac.new(k1, b"sip:alice@example.com", hashlib.sha1).digest()
 * tok = blob + hmac.new(k1, blob, hashlib.sha1).digest()
 * username = base64(tok); password = base64(hmac.new(k2, tok, sha1)) */
static void test_msturn(void **state)
{
  struct world *w = *state;
  struct turn_secrets *s = load2(w);
  struct turn_cred c;
  struct owcp_error err = {{0}};
  assert_int_equal(turn_cred_mint(s, TURN_MSTURN, IDENTITY, 480, NOW, &c, &err),
                   0);
  assert_string_equal(c.username, "AQAgAABAkNSKF9oBaQCDOwJgUUJuihWijMUpS1ujl2E6"
                                  "Ugb0aLTc7ZUlDPkUZPwo7p9GYg==");
  assert_string_equal(c.password, "HxjQurvNaSOtBaBd7rZ4kQIbYOg=");
  /* Decoded field by field. */
  unsigned char tok[64], mac[20];
  assert_int_equal(b64_decode(c.username, tok), 52);
  assert_int_equal(tok[0], 1);    /* major */
  assert_int_equal(tok[1], 0);    /* minor */
  assert_int_equal(tok[2], 0x20); /* size, little-endian: 32 */
  assert_int_equal(tok[3], 0x00);
  uint64_t ft = 0;
  for (int i = 7; i >= 0; i--)
    ft = ft << 8 | tok[4 + i];
  assert_true(ft % 10000000ULL == 0);
  assert_int_equal((int64_t)(ft / 10000000ULL) - 11644473600LL, NOW + 480 * 60);
  hmac_sha1("first-turn-secret", IDENTITY, strlen(IDENTITY), mac);
  assert_memory_equal(tok + 12, mac, 20); /* clientID */
  hmac_sha1("first-turn-secret", tok, 32, mac);
  assert_memory_equal(tok + 32, mac, 20); /* the blob's signature */
  unsigned char pw[32];
  assert_int_equal(b64_decode(c.password, pw), 20);
  hmac_sha1("second-turn-secret", tok, 52, mac);
  assert_memory_equal(pw, mac, 20);
  /* The seed's §4 example has the same shape: 01 00 20 00, 52 bytes. */
  assert_int_equal(
      b64_decode("AQAgAIaoZr4EM8gBrxTJGY83uqdEgRXUunam2c+RID/vAJeJSL4YINbAYMvRA"
                 "HeANv+Zew==",
                 tok),
      52);
  assert_memory_equal(tok, "\x01\x00\x20\x00", 4);
  turn_cred_clear(&c);
  turn_secrets_free(s);
}

static void test_msturn_needs_two(void **state)
{
  struct world *w = *state;
  struct owcp_error err = {{0}};
  struct turn_cred c;
  write_text(w->p1, "only-one");
  const char *paths[] = {w->p1};
  struct turn_secrets *s = turn_secrets_load(paths, 1, &err);
  assert_non_null(s);
  assert_int_equal(turn_cred_mint(s, TURN_MSTURN, IDENTITY, 480, NOW, &c, &err),
                   -1);
  testutil_assert_err_contains(&err, "not enough secrets for msturn");
  assert_null(c.username);
  assert_null(c.password);
  assert_int_equal(turn_cred_mint(s, TURN_REST, IDENTITY, 1, NOW, &c, &err), 0);
  turn_cred_clear(&c);
  turn_secrets_free(s);
}

static void test_rotation(void **state)
{
  struct world *w = *state;
  struct turn_secrets *s = load2(w);
  struct turn_cred before, after, again;
  struct owcp_error err = {{0}};
  assert_int_equal(
      turn_cred_mint(s, TURN_REST, IDENTITY, 480, NOW, &before, &err), 0);
  /* A new secret put first (the rotation procedure): it mints. */
  write_text(w->p3, "third-turn-secret\n");
  const char *rotated[] = {w->p3, w->p1};
  assert_int_equal(turn_secrets_reload(s, rotated, 2, &err), 0);
  assert_int_equal(
      turn_cred_mint(s, TURN_REST, IDENTITY, 480, NOW, &after, &err), 0);
  assert_string_equal(after.username, before.username);
  assert_string_not_equal(after.password, before.password);
  unsigned char mac[20], b64[64];
  hmac_sha1("third-turn-secret", after.username, strlen(after.username), mac);
  EVP_EncodeBlock(b64, mac, 20);
  assert_string_equal(after.password, (char *)b64);
  /* A reload that fails (a file gone, an empty one) keeps the set. */
  const char *missing[] = {w->p3, "/nonexistent/turn.secret"};
  assert_int_equal(turn_secrets_reload(s, missing, 2, &err), -1);
  testutil_assert_err_contains(&err, "/nonexistent/turn.secret");
  write_text(w->p2, " \n\t\n");
  const char *empty[] = {w->p2};
  assert_int_equal(turn_secrets_reload(s, empty, 1, &err), -1);
  testutil_assert_err_contains(&err, "empty");
  assert_int_equal(
      turn_cred_mint(s, TURN_REST, IDENTITY, 480, NOW, &again, &err), 0);
  assert_string_equal(again.password, after.password);
  turn_cred_clear(&before);
  turn_cred_clear(&after);
  turn_cred_clear(&again);
  turn_secrets_free(s);
  /* Loading refuses the same way. */
  assert_null(turn_secrets_load(empty, 1, &err));
  testutil_assert_err_contains(&err, "turn_secret_file");
  turn_secrets_free(NULL);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rest),
      cmocka_unit_test(test_msturn),
      cmocka_unit_test(test_msturn_needs_two),
      cmocka_unit_test(test_rotation),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
