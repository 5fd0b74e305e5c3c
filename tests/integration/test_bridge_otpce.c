/*
 * test_bridge_otpce.c — owcp-bridge's OTPCE front end to end, the paths
 * that reach RADIUS: a real FreeRADIUS, a real dispatcher and the user's
 * device answering. Success for Windows-like requests (SHA-1 RSA CSR with
 * the v2 template; a certreq-attribute CSR) with the RA-signed CMC checked
 * by an independent decoder and by `openssl cms -verify`, and what the
 * user was asked; the interop notes' request variations (base64 line
 * breaks, attribute order, .NET namespaces, unknown attributes, the
 * domain's case); RADIUS Reject, Challenge, a server that is down, and
 * failover (contract §4, interop notes "Checks (OTPCE)").
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge_fixture.h"
#include "bridge_itest.h"
#include "testutil.h"

#define ALICE "EXAMPLE\\alice"
#define ALICE_UPN "alice@example.com"
#define TEMPLATE_NAME "SmartcardLogon"

static int setup(void **state)
{
  struct bridge_world *w = calloc(1, sizeof *w);

  assert_non_null(w);
  *state = w;
  bridge_world_setup(w, "otpce", true);
  /* Both forms of the one template: the OID (v2 extension, what Windows
   * sends) and a name (certreq -attrib "CertificateTemplate:NAME"). */
  w->bridge.opts.templates[1] = TEMPLATE_NAME;
  bridge_itest_start(&w->bridge);
  return 0;
}

/* The Success reply's SignedCertRequest carries csr (byte for byte, the
 * decoder's check) and IssuingCA is exactly the configured list. */
static void expect_success(const struct bridge_world *w,
                           const struct bridge_http *h,
                           const unsigned char *csr, size_t csr_len,
                           bool full_check)
{
  struct otpce_reply r;

  BRIDGE_EXPECT(*h, 200, "Success");
  bridge_itest_otpce_parse(h, &r);
  assert_true(r.has_signed);
  assert_int_equal(r.ca_count, 2);
  assert_string_equal(r.issuing_ca[0], BRIDGE_ITEST_CA1);
  assert_string_equal(r.issuing_ca[1], BRIDGE_ITEST_CA2);
  if (full_check)
    bridge_itest_check_cmc(&w->bridge, r.signed_req, r.signed_len, csr,
                           csr_len);
  else /* the CSR inside, unchanged (the full decode runs once above) */
    assert_true(bridge_itest_has(r.signed_req, r.signed_len, csr, csr_len));
  otpce_reply_free(&r);
}

static void test_success_windows_csr(void **state)
{
  struct bridge_world *w = *state;
  struct bridge_http h;
  unsigned char *csr;
  size_t csr_len;
  char *body = bridge_world_request(w, ALICE, BRIDGE_ITEST_OTP, ALICE_UPN, &csr,
                                    &csr_len);

  char *shown = bridge_world_post_answered(w, body, "alice@example.com",
                                           OWCP_ANSWER_ACCEPT, &h);
  expect_success(w, &h, csr, csr_len, true);
  /* Contract §3: the Summary names username and the template as
   * configured; the table lists the CSR's subject and UPN. */
  if (strstr(shown, ALICE) == NULL || strstr(shown, FX_TEMPLATE_OID) == NULL ||
      strstr(shown, "Alice Example") == NULL ||
      strstr(shown, ALICE_UPN) == NULL)
    fail_msg("the device was shown:\n%s", shown);
  /* The OTP went to RADIUS exactly as received (PIN prefix included)... */
  testutil_assert_file_contains(w->fr.log,
                                "User-Password = \"" BRIDGE_ITEST_OTP "\"");
  /* ...and nowhere into the bridge's log (debug level). */
  assert_false(bridge_itest_log_contains(&w->bridge, BRIDGE_ITEST_OTP));
  free(shown);
  bridge_http_free(&h);
  free(csr);
}

/* A request made with `certreq -attrib CertificateTemplate:NAME`, with the
 * client-info attribute Windows adds at the logon screen. */
static void test_success_certreq_attribute(void **state)
{
  struct bridge_world *w = *state;
  struct bridge_http h;
  size_t len;
  unsigned char *csr =
      fx_csr_c(w->bridge.dir, ALICE_UPN, TEMPLATE_NAME, true, &len);
  struct otpce_fields f = {
      .username = ALICE, .otp = BRIDGE_ITEST_OTP, .csr = csr, .csr_len = len};

  char *shown =
      bridge_world_post_answered(w, bridge_itest_otpce_xml(&f),
                                 "alice@example.com", OWCP_ANSWER_ACCEPT, &h);
  expect_success(w, &h, csr, len, false);
  /* the template as configured: here its name */
  assert_non_null(strstr(shown, TEMPLATE_NAME));
  free(shown);
  bridge_http_free(&h);
  free(csr);
}

/* Interop notes, Checks (OTPCE) 2: example 4.1 breaks lines, 4.2 spaces. */
static void test_base64_whitespace(void **state)
{
  struct bridge_world *w = *state;
  static const char *const breaks[] = {"\n", "\r\n", " "};
  size_t len;
  unsigned char *csr = fx_csr_windows(w->bridge.dir, ALICE_UPN, &len);

  for (size_t i = 0; i < 3; i++) {
    struct bridge_http h;
    struct otpce_fields f = {.username = ALICE,
                             .otp = BRIDGE_ITEST_OTP,
                             .csr = csr,
                             .csr_len = len,
                             .b64_break = breaks[i]};
    free(bridge_world_post_answered(w, bridge_itest_otpce_xml(&f),
                                    "alice@example.com", OWCP_ANSWER_ACCEPT,
                                    &h));
    expect_success(w, &h, csr, len, false);
    bridge_http_free(&h);
  }
  free(csr);
}

/* Checks (OTPCE) 3: attribute order, .NET's xmlns:xsd/xsi and an unknown
 * attribute (example 4.4's certificate="") make no difference. */
static void test_attribute_variations(void **state)
{
  struct bridge_world *w = *state;
  struct bridge_http h;
  size_t len;
  unsigned char *csr = fx_csr_windows(w->bridge.dir, ALICE_UPN, &len);
  struct otpce_fields f = {.username = ALICE,
                           .otp = BRIDGE_ITEST_OTP,
                           .csr = csr,
                           .csr_len = len,
                           .reversed = true,
                           .xsd_xsi = true,
                           .unknown_attr = "certificate"};

  free(bridge_world_post_answered(w, bridge_itest_otpce_xml(&f),
                                  "alice@example.com", OWCP_ANSWER_ACCEPT, &h));
  expect_success(w, &h, csr, len, false);
  bridge_http_free(&h);
  free(csr);
}

/* Checks (OTPCE) 5: `example\alice` matches the EXAMPLE suffix and map;
 * RADIUS gets the name exactly as received (FreeRADIUS has that spelling
 * as a user of its own). */
static void test_domain_case(void **state)
{
  struct bridge_world *w = *state;
  struct bridge_http h;
  unsigned char *csr;
  size_t len;
  char *body = bridge_world_request(w, "example\\alice", BRIDGE_ITEST_OTP,
                                    ALICE_UPN, &csr, &len);

  char *shown = bridge_world_post_answered(w, body, "alice@example.com",
                                           OWCP_ANSWER_ACCEPT, &h);
  expect_success(w, &h, csr, len, false);
  testutil_assert_file_contains(w->fr.log, "User-Name = \"example\\\\alice\"");
  free(shown);
  bridge_http_free(&h);
  free(csr);
}

/* RADIUS Reject (a wrong OTP, or the OTP without its PIN) ->
 * AuthenticationError, and nobody is asked. */
static void test_radius_reject(void **state)
{
  struct bridge_world *w = *state;
  static const char *const wrong[] = {RADIUS_ITEST_ALICE_PIN "999999",
                                      RADIUS_ITEST_ALICE_OTP};

  for (size_t i = 0; i < 2; i++) {
    struct bridge_http h;
    char *body = bridge_world_request(w, ALICE, wrong[i], ALICE_UPN, NULL, 0);
    bridge_world_post(w, body, &h);
    BRIDGE_EXPECT(h, 200, "AuthenticationError");
    bridge_http_free(&h);
    free(body);
  }
  assert_int_equal(
      bridge_itest_device_pending(w->device, "alice@example.com", 0), 0);
}

/* RADIUS Access-Challenge -> ChallengeResponseRequired, nobody asked. */
static void test_radius_challenge(void **state)
{
  struct bridge_world *w = *state;
  struct bridge_http h;
  char *body =
      bridge_world_request(w, RADIUS_ITEST_CAROL, RADIUS_ITEST_CAROL_OTP,
                           "carol@example.com", NULL, 0);

  bridge_world_post(w, body, &h);
  BRIDGE_EXPECT(h, 200, "ChallengeResponseRequired");
  assert_int_equal(
      bridge_itest_device_pending(w->device, "carol@example.com", 0), 0);
  bridge_http_free(&h);
  free(body);
}

/* No answer from any server -> OtherError within servers x (1 + retries)
 * x timeout_ms (docs/enrollment-bridge.md, RADIUS client). */
static void test_radius_down(void **state)
{
  struct bridge_world *w = *state;
  struct bridge_itest_opts saved = w->bridge.opts;
  struct bridge_http h;

  w->bridge.opts.radius[0] = radius_itest_free_port(); /* nobody there */
  w->bridge.opts.radius_count = 1;
  bridge_itest_restart(&w->bridge);
  char *body =
      bridge_world_request(w, ALICE, BRIDGE_ITEST_OTP, ALICE_UPN, NULL, 0);
  bridge_world_post(w, body, &h);
  BRIDGE_EXPECT(h, 200, "OtherError");
  /* two tries of 300 ms; the rest of the request is quick */
  if (h.seconds < 0.55 || h.seconds > 0.6 + 2.5)
    fail_msg("RADIUS down answered after %.2f s, expected about 0.6 s",
             h.seconds);
  assert_int_equal(
      bridge_itest_device_pending(w->device, "alice@example.com", 0), 0);
  bridge_http_free(&h);
  free(body);
  w->bridge.opts = saved;
  bridge_itest_restart(&w->bridge);
}

/* The first server dead, the second FreeRADIUS: Success. */
static void test_radius_failover(void **state)
{
  struct bridge_world *w = *state;
  struct bridge_itest_opts saved = w->bridge.opts;
  struct bridge_http h;
  unsigned char *csr;
  size_t len;

  w->bridge.opts.radius[0] = radius_itest_free_port();
  w->bridge.opts.radius[1] = w->fr.port;
  w->bridge.opts.radius_count = 2;
  bridge_itest_restart(&w->bridge);
  char *body =
      bridge_world_request(w, ALICE, BRIDGE_ITEST_OTP, ALICE_UPN, &csr, &len);
  free(bridge_world_post_answered(w, body, "alice@example.com",
                                  OWCP_ANSWER_ACCEPT, &h));
  expect_success(w, &h, csr, len, false);
  bridge_http_free(&h);
  free(csr);
  w->bridge.opts = saved;
  bridge_itest_restart(&w->bridge);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_success_windows_csr),
      cmocka_unit_test(test_success_certreq_attribute),
      cmocka_unit_test(test_base64_whitespace),
      cmocka_unit_test(test_attribute_variations),
      cmocka_unit_test(test_domain_case),
      cmocka_unit_test(test_radius_reject),
      cmocka_unit_test(test_radius_challenge),
      cmocka_unit_test(test_radius_down),
      cmocka_unit_test(test_radius_failover),
  };
  return cmocka_run_group_tests(tests, setup, bridge_world_group_teardown);
}
