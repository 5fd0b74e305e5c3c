/*
 * test_bridge_otpce_refuse.c — what owcp-bridge's OTPCE front refuses, and
 * that it refuses it before any RADIUS packet: the only [radius] server is
 * a UDP socket of this program that counts datagrams (contract §4: the
 * version header, well-formedness, DOCTYPE, required attributes; seed
 * §3.2.5.1 via the contract: CSR signature, template, UPN -> OtherError;
 * an unmapped user -> AuthenticationError). Hostile input (billion laughs,
 * an external entity, a huge body, a client that trickles), RADIUS servers
 * that lie (forged authenticator, unsigned Accept), and /healthz and
 * /metrics on the bridge's listener.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bridge_fixture.h"
#include "bridge_itest.h"
#include "testutil.h"

#define ALICE "EXAMPLE\\alice"
#define ALICE_UPN "alice@example.com"
#define NS "http://schemas.microsoft.com/otpcep/1.0/protocol"

struct fx {
  struct bridge_world w;
  struct bridge_liar liar;
  unsigned char *csr; /* a good Windows-like CSR for alice */
  size_t csr_len;
};

static int setup(void **state)
{
  struct fx *f = calloc(1, sizeof *f);

  assert_non_null(f);
  *state = f;
  bridge_world_setup(&f->w, "otpcerefuse", false);
  bridge_liar_start(&f->liar, LIAR_SILENT);
  f->w.bridge.opts.radius[0] = f->liar.port;
  f->w.bridge.opts.radius_count = 1;
  f->w.bridge.opts.radius_retries = 0;
  bridge_itest_start(&f->w.bridge);
  f->csr = fx_csr_windows(f->w.bridge.dir, ALICE_UPN, &f->csr_len);
  return 0;
}

static int teardown(void **state)
{
  struct fx *f = *state;

  bridge_world_teardown(&f->w);
  bridge_liar_stop(&f->liar);
  free(f->csr);
  free(f);
  return 0;
}

/* Fails unless the counting server has seen no datagram. */
static void expect_no_radius(const struct fx *f)
{
  assert_int_equal(atomic_load(&f->liar.datagrams), 0);
}

/* POSTs body with version and expects HTTP status and statusCode, with no
 * RADIUS packet and no confirmation. */
static void refused(struct fx *f, const char *version, const char *body,
                    long status, const char *code, int line)
{
  struct bridge_http h;

  bridge_itest_post(&f->w.bridge, version, NULL, body, strlen(body), &h);
  bridge_itest_expect_otpce(&h, status, code, __FILE__, line);
  bridge_http_free(&h);
  expect_no_radius(f);
}
#define REFUSED(f, version, body, status, code)                                \
  refused((f), (version), (body), (status), (code), __LINE__)

static char *good_body(const struct fx *f)
{
  struct otpce_fields fl = {.username = ALICE,
                            .otp = BRIDGE_ITEST_OTP,
                            .csr = f->csr,
                            .csr_len = f->csr_len};
  return bridge_itest_otpce_xml(&fl);
}

/* Contract §4: no header, or another version -> 400 + OtherError. */
static void test_version_header(void **state)
{
  struct fx *f = *state;
  char *body = good_body(f);

  REFUSED(f, NULL, body, 400, "OtherError");
  REFUSED(f, "2.0", body, 400, "OtherError");
  REFUSED(f, "", body, 400, "OtherError");
  free(body);
}

static void test_malformed(void **state)
{
  struct fx *f = *state;
  static const char *const bodies[] = {
      "",                                                 /* empty */
      "<signCertRequest xmlns=\"" NS "\" username=\"a\"", /* not well-formed */
      "<?xml version=\"1.0\"?><signCertRequest username=\"EXAMPLE\\alice\" "
      "oneTimePassword=\"1\" certRequest=\"AAAA\"/>", /* no namespace */
      "<?xml version=\"1.0\"?><signCertResponse xmlns=\"" NS
      "\" statusCode=\"Success\"/>", /* another element */
      "not xml at all",
  };

  for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++)
    REFUSED(f, "1.0", bodies[i], 400, "OtherError");
}

static void test_missing_attribute(void **state)
{
  struct fx *f = *state;
  static const char *const names[] = {"username", "oneTimePassword",
                                      "certRequest"};

  for (size_t i = 0; i < 3; i++) {
    struct otpce_fields fl = {.username = ALICE,
                              .otp = BRIDGE_ITEST_OTP,
                              .csr = f->csr,
                              .csr_len = f->csr_len,
                              .omit = names[i]};
    char *body = bridge_itest_otpce_xml(&fl);
    REFUSED(f, "1.0", body, 400, "OtherError");
    free(body);
  }
}

/* Not base64, and base64 of something that is not a CSR. The first is a
 * schema violation (xs:base64Binary): 400 as malformed (contract §4);
 * the second is well-formed, so its OtherError comes from the CSR check
 * (HTTP status 200: see refused_csr). */
static void test_bad_base64(void **state)
{
  struct fx *f = *state;

  REFUSED(f, "1.0",
          "<?xml version=\"1.0\"?><signCertRequest xmlns=\"" NS
          "\" username=\"EXAMPLE\\alice\" oneTimePassword=\"4711123456\" "
          "certRequest=\"MII%notbase64!\"/>",
          400, "OtherError");
  REFUSED(f, "1.0",
          "<?xml version=\"1.0\"?><signCertRequest xmlns=\"" NS
          "\" username=\"EXAMPLE\\alice\" oneTimePassword=\"4711123456\" "
          "certRequest=\"aGVsbG8gd29ybGQ=\"/>",
          200, "OtherError");
}

/* A well-formed request whose CSR or user fails the checks: the protocol
 * answers (statusCode) with HTTP 200. OPEN POINT: the contract names HTTP
 * 400 only for malformed requests; for the seed's statusCode outcomes it
 * names no HTTP status, and 200 is what a SOAP-less XML protocol answers
 * with a well-formed reply. */
static void refused_csr(struct fx *f, const unsigned char *csr, size_t len,
                        const char *username, const char *code, int line)
{
  struct otpce_fields fl = {.username = username,
                            .otp = BRIDGE_ITEST_OTP,
                            .csr = csr,
                            .csr_len = len};
  char *body = bridge_itest_otpce_xml(&fl);

  refused(f, "1.0", body, 200, code, line);
  free(body);
}

static void test_bad_csr_signature(void **state)
{
  struct fx *f = *state;
  unsigned char *bad = malloc(f->csr_len);

  assert_non_null(bad);
  memcpy(bad, f->csr, f->csr_len);
  bad[f->csr_len - 10] ^= 0x01; /* inside the signature value */
  refused_csr(f, bad, f->csr_len, ALICE, "OtherError", __LINE__);
  free(bad);
}

static void test_wrong_template(void **state)
{
  struct fx *f = *state;
  static const char san[] =
      "subjectAltName=otherName:1.3.6.1.4.1.311.20.2.3;UTF8:" ALICE_UPN;
  static const char other[] = "1.3.6.1.4.1.311.21.7=" FX_OTHER_TEMPLATE_V2;
  const char *const with_other[] = {other, san, NULL};
  const char *const with_none[] = {san, NULL};
  size_t len;
  unsigned char *csr;

  csr = fx_csr_cli(f->w.bridge.dir, FX_SUBJECT, "sha1", with_other, &len);
  refused_csr(f, csr, len, ALICE, "OtherError", __LINE__);
  free(csr);
  csr = fx_csr_cli(f->w.bridge.dir, FX_SUBJECT, "sha1", with_none, &len);
  refused_csr(f, csr, len, ALICE, "OtherError", __LINE__);
  free(csr);
}

/* The UPN must be user@suffix of username's domain. */
static void test_upn_mismatch(void **state)
{
  struct fx *f = *state;
  static const char *const upns[] = {"bob@example.com", "alice@other.example",
                                     "alice@example.org"};

  for (size_t i = 0; i < 3; i++) {
    size_t len;
    unsigned char *csr = fx_csr_windows(f->w.bridge.dir, upns[i], &len);
    refused_csr(f, csr, len, ALICE, "OtherError", __LINE__);
    free(csr);
  }
  /* and a CSR without any UPN */
  size_t len;
  unsigned char *csr = fx_csr_c(f->w.bridge.dir, NULL, NULL, false, &len);
  refused_csr(f, csr, len, ALICE, "OtherError", __LINE__);
  free(csr);
}

/* OTHER has a UPN suffix but no mapping: the user is not listed. */
static void test_unmapped_user(void **state)
{
  struct fx *f = *state;
  size_t len;
  unsigned char *csr =
      fx_csr_windows(f->w.bridge.dir, "alice@other.example", &len);

  refused_csr(f, csr, len, "OTHER\\alice", "AuthenticationError", __LINE__);
  free(csr);
}

static void test_billion_laughs(void **state)
{
  struct fx *f = *state;
  char body[4096];

  snprintf(body, sizeof body,
           "<?xml version=\"1.0\"?>\n"
           "<!DOCTYPE signCertRequest [\n"
           " <!ENTITY a \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\">\n"
           " <!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">\n"
           " <!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">\n"
           " <!ENTITY d \"&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;\">\n"
           " <!ENTITY e \"&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;\">\n"
           " <!ENTITY f \"&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;\">\n"
           "]>\n"
           "<signCertRequest xmlns=\"" NS "\" username=\"&f;\" "
           "oneTimePassword=\"1\" certRequest=\"AAAA\"/>");
  double t0 = itest_now();
  REFUSED(f, "1.0", body, 400, "OtherError");
  assert_true(itest_now() - t0 < 5.0);
}

static void test_external_entity(void **state)
{
  struct fx *f = *state;
  struct bridge_http h;
  static const char body[] =
      "<?xml version=\"1.0\"?>\n"
      "<!DOCTYPE signCertRequest [\n"
      " <!ENTITY x SYSTEM \"file:///etc/passwd\">\n"
      "]>\n"
      "<signCertRequest xmlns=\"" NS "\" username=\"&x;\" "
      "oneTimePassword=\"1\" certRequest=\"AAAA\"/>";

  REFUSED(f, "1.0", body, 400, "OtherError");
  bridge_itest_post(&f->w.bridge, "1.0", NULL, body, strlen(body), &h);
  assert_null(strstr(h.body, "root:"));
  bridge_http_free(&h);
  /* An internal DOCTYPE with nothing in it is refused as well. */
  REFUSED(f, "1.0",
          "<?xml version=\"1.0\"?><!DOCTYPE signCertRequest>"
          "<signCertRequest xmlns=\"" NS "\" username=\"EXAMPLE\\alice\" "
          "oneTimePassword=\"1\" certRequest=\"AAAA\"/>",
          400, "OtherError");
}

/* Opens a connection and sends an OTPCE POST head announcing
 * content_length octets, then the start of a body (may be ""); returns
 * the socket. */
static int raw_post(const struct fx *f, long content_length,
                    const char *body_start)
{
  char head[512];
  int fd = bridge_itest_connect(&f->w.bridge);
  int n = snprintf(head, sizeof head,
                   "POST " BRIDGE_ITEST_PATH " HTTP/1.1\r\n"
                   "Host: 127.0.0.1:%u\r\n"
                   "X-OTPCEP-version: 1.0\r\n"
                   "Content-Type: Application/xml;charset=utf-8\r\n"
                   "Content-Length: %ld\r\n\r\n%s",
                   f->w.bridge.port, content_length, body_start);

  assert_true(n > 0 && (size_t)n < sizeof head);
  assert_int_equal(send(fd, head, (size_t)n, MSG_NOSIGNAL), (ssize_t)n);
  return fd;
}

/* Contract §2: a larger body -> 413 before it is read. The request
 * announces 10 MB and sends none of it: the answer can only come from the
 * announcement. It still carries the version header (contract §4). */
static void test_oversize_body(void **state)
{
  struct fx *f = *state;
  int fd = raw_post(f, 10000000L, "");

  char *reply = bridge_itest_read_all(fd, 5000);
  (void)close(fd);
  if (strncmp(reply, "HTTP/1.1 413", 12) != 0)
    fail_msg("expected 413 for a 10 MB body, got '%.200s'", reply);
  char *version = bridge_itest_raw_header(reply, "X-OTPCEP-version");
  assert_non_null(version);
  assert_string_equal(version, "1.0");
  free(version);
  free(reply);
  expect_no_radius(f);
}

/* A client that sends half a request and waits does not hold up another
 * client's request. */
static void test_slow_client(void **state)
{
  struct fx *f = *state;
  struct bridge_http h;
  int fd = raw_post(f, 1000, "<?xml version=\"1.0\"?><signCert");

  bridge_itest_post(&f->w.bridge, NULL, NULL, "<x/>", 4, &h);
  BRIDGE_EXPECT(h, 400, "OtherError");
  assert_true(h.seconds < 2.0);
  bridge_http_free(&h);
  bridge_itest_get(&f->w.bridge, "/healthz", &h);
  assert_int_equal(h.status, 200);
  assert_true(h.seconds < 2.0);
  bridge_http_free(&h);
  (void)close(fd);
}

static void test_healthz_metrics(void **state)
{
  struct fx *f = *state;
  struct bridge_http h;

  bridge_itest_get(&f->w.bridge, "/healthz", &h);
  assert_int_equal(h.status, 200);
  bridge_http_free(&h);
  bridge_itest_get(&f->w.bridge, "/metrics", &h);
  assert_int_equal(h.status, 200);
  assert_true(h.body_len > 0);
  testutil_assert_exposition_valid(h.body);
  bridge_http_free(&h);
}

/* A lying RADIUS server's Accept is never a Success. */
static void liar_gets_other_error(struct fx *f, enum bridge_liar_mode mode)
{
  struct bridge_itest_opts saved = f->w.bridge.opts;
  struct bridge_liar liar;
  struct bridge_http h;
  char *body = good_body(f);

  bridge_liar_start(&liar, mode);
  f->w.bridge.opts.radius[0] = liar.port;
  bridge_itest_restart(&f->w.bridge);
  bridge_world_post(&f->w, body, &h);
  BRIDGE_EXPECT(h, 200, "OtherError");
  bridge_liar_stop(&liar);
  assert_true(atomic_load(&liar.datagrams) >= 1); /* it was asked */
  assert_int_equal(
      bridge_itest_device_pending(f->w.device, "alice@example.com", 0), 0);
  bridge_http_free(&h);
  free(body);
  f->w.bridge.opts = saved;
  bridge_itest_restart(&f->w.bridge);
}

static void test_liar_forged_authenticator(void **state)
{
  liar_gets_other_error(*state, LIAR_FORGED);
}

static void test_liar_without_message_authenticator(void **state)
{
  liar_gets_other_error(*state, LIAR_UNSIGNED);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_version_header),
      cmocka_unit_test(test_malformed),
      cmocka_unit_test(test_missing_attribute),
      cmocka_unit_test(test_bad_base64),
      cmocka_unit_test(test_bad_csr_signature),
      cmocka_unit_test(test_wrong_template),
      cmocka_unit_test(test_upn_mismatch),
      cmocka_unit_test(test_unmapped_user),
      cmocka_unit_test(test_billion_laughs),
      cmocka_unit_test(test_external_entity),
      cmocka_unit_test(test_oversize_body),
      cmocka_unit_test(test_slow_client),
      cmocka_unit_test(test_healthz_metrics),
      cmocka_unit_test(test_liar_forged_authenticator),
      cmocka_unit_test(test_liar_without_message_authenticator),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
