/*
 * test_radius.c — unit tests for the bridge's RADIUS client encoding and
 * reply verification (enrollment-bridge/radius.h) against independently
 * computed vectors: the RFC 2865 §7.1 example exchange, and a request and
 * a reply built with python3's hashlib/hmac (the script is in the comment
 * above each vector), so that a mistake shared by the encoder and the
 * verifier cannot cancel out.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "owcp/util.h"
#include "radius.h"
#include "testutil.h"

/* Decodes the lowercase hex text into out (at most cap bytes). */
static size_t unhex(const char *text, unsigned char *out, size_t cap)
{
  size_t n = strlen(text) / 2;
  assert_true(n <= cap);
  for (size_t i = 0; i < n; i++) {
    char pair[3] = {text[2 * i], text[2 * i + 1], '\0'};
    out[i] = (unsigned char)strtoul(pair, NULL, 16);
  }
  return n;
}

static void assert_hex_equal(const unsigned char *data, size_t len,
                             const char *expect)
{
  char *hex = malloc(2 * len + 1);
  assert_non_null(hex);
  owcp_hex_encode(data, len, hex);
  assert_string_equal(hex, expect);
  free(hex);
}

/* RFC 2865 §7.1: user nemo, password "arctangent", secret "xyzzy5461". */
#define RFC_SECRET "xyzzy5461"
#define RFC_REQ_AUTH "0f403f9473978057bd83d5cb98f4227a"
#define RFC_ACCEPT                                                             \
  "0200002686fe220e7624ba2a1005f6bf9b55e0b20606000000010f06000000000e06c0a8"   \
  "0103"

static void test_pap_hide_rfc2865_example(void **state)
{
  unsigned char ra[RADIUS_AUTH_LEN], out[RADIUS_PASSWORD_MAX];
  size_t out_len = 0;
  struct owcp_error err = {{0}};

  (void)state;
  unhex(RFC_REQ_AUTH, ra, sizeof ra);
  assert_int_equal(radius_pap_hide((const unsigned char *)RFC_SECRET,
                                   strlen(RFC_SECRET), ra, "arctangent", 10,
                                   out, &out_len, &err),
                   0);
  assert_int_equal(out_len, 16);
  assert_hex_equal(out, out_len, "0dbe708d93d413ce3196e43f782a0aee");
}

static void test_pap_hide_lengths(void **state)
{
  unsigned char ra[RADIUS_AUTH_LEN] = {0}, out[RADIUS_PASSWORD_MAX];
  char pw[RADIUS_PASSWORD_MAX + 2];
  size_t out_len = 0;
  struct owcp_error err = {{0}};

  (void)state;
  memset(pw, 'p', sizeof pw);
  assert_int_equal(radius_pap_hide((const unsigned char *)"s", 1, ra, pw, 0,
                                   out, &out_len, &err),
                   0);
  assert_int_equal(out_len, 16); /* an empty password is one NUL block */
  assert_int_equal(radius_pap_hide((const unsigned char *)"s", 1, ra, pw, 17,
                                   out, &out_len, &err),
                   0);
  assert_int_equal(out_len, 32);
  assert_int_equal(radius_pap_hide((const unsigned char *)"s", 1, ra, pw, 128,
                                   out, &out_len, &err),
                   0);
  assert_int_equal(out_len, 128);
  assert_int_equal(radius_pap_hide((const unsigned char *)"s", 1, ra, pw, 129,
                                   out, &out_len, &err),
                   -1);
  testutil_assert_err_contains(&err, "at most 128");
}

/* python3:
 *   secret=b'owcp-unit-secret'; ra=bytes(range(0x10,0x20)); id=0x2a
 *   user=b'EXAMPLE\\alice'; pw=b'4711-123456-789012'; nas=b'owcp-bridge'
 *   attrs = [80,18]+16*0, [1,..]+user, [2,..]+hide(secret,ra,pw),
 *           [32,..]+nas;  MA = hmac.new(secret, pkt, 'md5') over the packet
 *   with the MA value zero. */
#define UNIT_SECRET "owcp-unit-secret"
#define UNIT_ID 0x2a
#define UNIT_REQUEST                                                           \
  "012a0064101112131415161718191a1b1c1d1e1f5012c1b88595019af1b683b8c305f257"   \
  "050e010f4558414d504c455c616c6963650222708e573bc79b2a8f622ab56f296116bf53"   \
  "ee246a24303ece233031d52dc7ef68200d6f7763702d627269646765"
/* Access-Challenge to it: Message-Authenticator (over the Request
 * Authenticator), Reply-Message "enter the ", State "challenge-1",
 * Reply-Message "next code"; Response Authenticator per RFC 2865 §3. */
#define UNIT_CHALLENGE                                                         \
  "0b2a004a19fdb73b8d289c6e5ec0cb3f05c0a5975012b859b93574731696195a5c4e3b94"   \
  "7a9e120c656e7465722074686520180d6368616c6c656e67652d31120b6e657874206"      \
  "36f6465"

static void unit_req_auth(unsigned char ra[RADIUS_AUTH_LEN])
{
  for (int i = 0; i < RADIUS_AUTH_LEN; i++)
    ra[i] = (unsigned char)(0x10 + i);
}

static struct radius_config unit_config(void)
{
  struct radius_config cfg = {
      .secret = (const unsigned char *)UNIT_SECRET,
      .secret_len = strlen(UNIT_SECRET),
      .timeout_ms = 100,
      .nas_identifier = "owcp-bridge",
      .require_message_authenticator = true,
  };
  return cfg;
}

static void test_request_encode_matches_python(void **state)
{
  struct radius_config cfg = unit_config();
  unsigned char ra[RADIUS_AUTH_LEN], pkt[RADIUS_MAX_PACKET];
  size_t len = 0;
  struct owcp_error err = {{0}};

  (void)state;
  unit_req_auth(ra);
  assert_int_equal(radius_request_encode(&cfg, "EXAMPLE\\alice",
                                         "4711-123456-789012", UNIT_ID, ra, pkt,
                                         &len, &err),
                   0);
  assert_hex_equal(pkt, len, UNIT_REQUEST);
  /* Message-Authenticator is the first attribute (BlastRADIUS advice). */
  assert_int_equal(pkt[20], RADIUS_ATTR_MESSAGE_AUTHENTICATOR);
}

static void test_message_authenticator(void **state)
{
  unsigned char pkt[RADIUS_MAX_PACKET], mac[RADIUS_AUTH_LEN];
  size_t len = unhex(UNIT_REQUEST, pkt, sizeof pkt);
  struct owcp_error err = {{0}};

  (void)state;
  assert_int_equal(radius_message_authenticator(
                       pkt, len, 22, NULL, (const unsigned char *)UNIT_SECRET,
                       strlen(UNIT_SECRET), mac, &err),
                   0);
  assert_memory_equal(mac, pkt + 22, RADIUS_AUTH_LEN);
  /* Another key gives another value. */
  assert_int_equal(radius_message_authenticator(pkt, len, 22, NULL,
                                                (const unsigned char *)"other",
                                                5, mac, &err),
                   0);
  assert_memory_not_equal(mac, pkt + 22, RADIUS_AUTH_LEN);
  /* An offset outside the packet is refused. */
  assert_int_equal(radius_message_authenticator(
                       pkt, len, len - 10, NULL,
                       (const unsigned char *)UNIT_SECRET, 3, mac, &err),
                   -1);
}

static void test_request_input_refused(void **state)
{
  struct radius_config cfg = unit_config();
  unsigned char ra[RADIUS_AUTH_LEN] = {0}, pkt[RADIUS_MAX_PACKET];
  char long_pw[RADIUS_PASSWORD_MAX + 2], long_user[300];
  size_t len = 0;
  struct owcp_error err = {{0}};

  (void)state;
  memset(long_pw, 'x', sizeof long_pw - 1);
  long_pw[sizeof long_pw - 1] = '\0';
  assert_int_equal(
      radius_request_encode(&cfg, "u", long_pw, 1, ra, pkt, &len, &err), -1);
  testutil_assert_err_contains(&err, "password");
  long_pw[RADIUS_PASSWORD_MAX] = '\0'; /* exactly 128: allowed */
  assert_int_equal(
      radius_request_encode(&cfg, "u", long_pw, 1, ra, pkt, &len, &err), 0);
  memset(long_user, 'u', sizeof long_user - 1);
  long_user[sizeof long_user - 1] = '\0';
  assert_int_equal(
      radius_request_encode(&cfg, long_user, "p", 1, ra, pkt, &len, &err), -1);
  testutil_assert_err_contains(&err, "user name");
  assert_int_equal(radius_request_encode(&cfg, "", "p", 1, ra, pkt, &len, &err),
                   -1);
  cfg.nas_identifier = NULL;
  assert_int_equal(
      radius_request_encode(&cfg, "u", "p", 1, ra, pkt, &len, &err), -1);
  testutil_assert_err_contains(&err, "nas_identifier");
  cfg = unit_config();
  cfg.secret_len = 0;
  assert_int_equal(
      radius_request_encode(&cfg, "u", "p", 1, ra, pkt, &len, &err), -1);
  testutil_assert_err_contains(&err, "secret");
}

static void test_pap_refuses_bad_config(void **state)
{
  struct radius_config cfg = unit_config();
  struct radius_server server = {.host = "127.0.0.1", .port = 0};
  struct radius_result result;
  struct owcp_error err = {{0}};

  (void)state;
  assert_int_equal(radius_pap(&cfg, "u", "p", &result, &err), -1);
  testutil_assert_err_contains(&err, "no server");
  cfg.servers = &server;
  cfg.server_count = 1;
  assert_int_equal(radius_pap(&cfg, "u", "p", &result, &err), -1);
  testutil_assert_err_contains(&err, "host and a port");
  server.port = 1812;
  cfg.timeout_ms = 0;
  assert_int_equal(radius_pap(&cfg, "u", "p", &result, &err), -1);
  testutil_assert_err_contains(&err, "timeout_ms");
}

static void test_reply_rfc2865_accept(void **state)
{
  unsigned char ra[RADIUS_AUTH_LEN], pkt[64];
  size_t len = unhex(RFC_ACCEPT, pkt, sizeof pkt);
  struct radius_reply reply;
  struct owcp_error err = {{0}};

  (void)state;
  unhex(RFC_REQ_AUTH, ra, sizeof ra);
  assert_int_equal(radius_reply_check(pkt, len, ra, 0,
                                      (const unsigned char *)RFC_SECRET,
                                      strlen(RFC_SECRET), false, &reply, &err),
                   0);
  assert_int_equal(reply.code, RADIUS_CODE_ACCESS_ACCEPT);
  assert_false(reply.has_message_authenticator);
  /* The 1997 example carries no Message-Authenticator: refused when one is
   * required. */
  assert_int_equal(radius_reply_check(pkt, len, ra, 0,
                                      (const unsigned char *)RFC_SECRET,
                                      strlen(RFC_SECRET), true, &reply, &err),
                   -1);
  testutil_assert_err_contains(&err, "no Message-Authenticator");
}

/* Checks the unit challenge, optionally changed at one offset, and
 * returns radius_reply_check's result. */
static int check_challenge(size_t flip, uint8_t id, const char *secret,
                           struct radius_reply *reply, struct owcp_error *err)
{
  unsigned char ra[RADIUS_AUTH_LEN], pkt[RADIUS_MAX_PACKET];
  size_t len = unhex(UNIT_CHALLENGE, pkt, sizeof pkt);

  unit_req_auth(ra);
  if (flip < len)
    pkt[flip] ^= 0x01;
  return radius_reply_check(pkt, len, ra, id, (const unsigned char *)secret,
                            strlen(secret), true, reply, err);
}

static void test_reply_python_challenge(void **state)
{
  struct radius_reply reply;
  struct owcp_error err = {{0}};

  (void)state;
  assert_int_equal(
      check_challenge(SIZE_MAX, UNIT_ID, UNIT_SECRET, &reply, &err), 0);
  assert_int_equal(reply.code, RADIUS_CODE_ACCESS_CHALLENGE);
  assert_true(reply.has_message_authenticator);
  assert_string_equal(reply.reply_message, "enter the next code");
  assert_int_equal(reply.reply_message_len, 19);
  assert_int_equal(reply.state_len, 11);
  assert_memory_equal(reply.state, "challenge-1", 11);

  assert_int_equal(
      check_challenge(SIZE_MAX, UNIT_ID + 1, UNIT_SECRET, &reply, &err), -1);
  testutil_assert_err_contains(&err, "identifier");
  assert_int_equal(
      check_challenge(SIZE_MAX, UNIT_ID, "wrong-secret", &reply, &err), -1);
  testutil_assert_err_contains(&err, "Response Authenticator");
  assert_int_equal(check_challenge(5, UNIT_ID, UNIT_SECRET, &reply, &err), -1);
  testutil_assert_err_contains(&err, "Response Authenticator");
  assert_int_equal(check_challenge(60, UNIT_ID, UNIT_SECRET, &reply, &err), -1);
  testutil_assert_err_contains(&err, "Response Authenticator");
  assert_int_equal(check_challenge(0, UNIT_ID, UNIT_SECRET, &reply, &err), -1);
  testutil_assert_err_contains(&err, "code 10");
}

/* Builds a reply whose Response Authenticator is right for the attribute
 * bytes given, so that only the structure can be at fault. */
static size_t signed_reply(unsigned char *pkt, const unsigned char *attrs,
                           size_t attrs_len)
{
  const unsigned char *secret = (const unsigned char *)UNIT_SECRET;
  unsigned char ra[RADIUS_AUTH_LEN];
  size_t len = 20 + attrs_len;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  unsigned int md_len = 0;

  unit_req_auth(ra);
  pkt[0] = RADIUS_CODE_ACCESS_ACCEPT;
  pkt[1] = UNIT_ID;
  pkt[2] = (unsigned char)(len >> 8);
  pkt[3] = (unsigned char)len;
  memcpy(pkt + 20, attrs, attrs_len);
  assert_non_null(ctx);
  assert_int_equal(EVP_DigestInit_ex(ctx, EVP_md5(), NULL), 1);
  assert_int_equal(EVP_DigestUpdate(ctx, pkt, 4), 1);
  assert_int_equal(EVP_DigestUpdate(ctx, ra, sizeof ra), 1);
  assert_int_equal(EVP_DigestUpdate(ctx, attrs, attrs_len), 1);
  assert_int_equal(EVP_DigestUpdate(ctx, secret, strlen(UNIT_SECRET)), 1);
  assert_int_equal(EVP_DigestFinal_ex(ctx, pkt + 4, &md_len), 1);
  EVP_MD_CTX_free(ctx);
  return len;
}

static int check_structure(const unsigned char *attrs, size_t attrs_len,
                           struct owcp_error *err)
{
  unsigned char pkt[RADIUS_MAX_PACKET], ra[RADIUS_AUTH_LEN];
  struct radius_reply reply;
  size_t len = signed_reply(pkt, attrs, attrs_len);

  unit_req_auth(ra);
  return radius_reply_check(pkt, len, ra, UNIT_ID,
                            (const unsigned char *)UNIT_SECRET,
                            strlen(UNIT_SECRET), false, &reply, err);
}

static void test_reply_structure(void **state)
{
  static const unsigned char ok[] = {18, 4, 'h', 'i'};
  static const unsigned char short_attr[] = {18, 1, 'h', 'i'};
  static const unsigned char past_end[] = {18, 9, 'h', 'i'};
  static const unsigned char half_header[] = {18, 4, 'h', 'i', 24};
  static const unsigned char empty_state[] = {24, 2};
  static const unsigned char short_ma[] = {80, 4, 0, 0};
  unsigned char two_ma[36] = {80, 18};
  unsigned char pkt[RADIUS_MAX_PACKET + 1] = {0}, ra[RADIUS_AUTH_LEN];
  struct radius_reply reply;
  struct owcp_error err = {{0}};

  (void)state;
  two_ma[18] = 80;
  two_ma[19] = 18;
  assert_int_equal(check_structure(ok, sizeof ok, &err), 0);
  assert_int_equal(check_structure(short_attr, sizeof short_attr, &err), -1);
  testutil_assert_err_contains(&err, "below 2");
  assert_int_equal(check_structure(past_end, sizeof past_end, &err), -1);
  testutil_assert_err_contains(&err, "past the end");
  assert_int_equal(check_structure(half_header, sizeof half_header, &err), -1);
  testutil_assert_err_contains(&err, "truncated");
  assert_int_equal(check_structure(empty_state, sizeof empty_state, &err), -1);
  testutil_assert_err_contains(&err, "State");
  assert_int_equal(check_structure(short_ma, sizeof short_ma, &err), -1);
  testutil_assert_err_contains(&err, "not 16");
  assert_int_equal(check_structure(two_ma, sizeof two_ma, &err), -1);
  testutil_assert_err_contains(&err, "more than one");

  /* Length field and datagram length must agree; 20..4096 octets. */
  size_t len = signed_reply(pkt, ok, sizeof ok);
  unit_req_auth(ra);
  assert_int_equal(radius_reply_check(pkt, len - 1, ra, UNIT_ID,
                                      (const unsigned char *)UNIT_SECRET,
                                      strlen(UNIT_SECRET), false, &reply, &err),
                   -1);
  testutil_assert_err_contains(&err, "Length field");
  assert_int_equal(radius_reply_check(pkt, 19, ra, UNIT_ID,
                                      (const unsigned char *)UNIT_SECRET,
                                      strlen(UNIT_SECRET), false, &reply, &err),
                   -1);
  assert_int_equal(radius_reply_check(pkt, RADIUS_MAX_PACKET + 1, ra, UNIT_ID,
                                      (const unsigned char *)UNIT_SECRET,
                                      strlen(UNIT_SECRET), false, &reply, &err),
                   -1);
  testutil_assert_err_contains(&err, "4096");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pap_hide_rfc2865_example),
      cmocka_unit_test(test_pap_hide_lengths),
      cmocka_unit_test(test_request_encode_matches_python),
      cmocka_unit_test(test_message_authenticator),
      cmocka_unit_test(test_request_input_refused),
      cmocka_unit_test(test_pap_refuses_bad_config),
      cmocka_unit_test(test_reply_rfc2865_accept),
      cmocka_unit_test(test_reply_python_challenge),
      cmocka_unit_test(test_reply_structure),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
