/*
 * test_bridge_wstep_cert.c — WSTEP authentication by TLS client
 * certificate (issue 13, `[wstep] auth = certificate`) end to end: a
 * bridge on HTTPS, a real dispatcher, device and FreeRADIUS. A certificate
 * the bridge issued (first enrollment by UsernameToken) is then the TLS
 * client certificate (libcurl, CURLOPT_SSLCERT/SSLKEY) of a second Issue
 * without any UsernameToken: pending, the confirmation goes to its
 * account, Accept, Issued. Refused, with nobody asked: a certificate of
 * another CA carrying the very serial of the genuine one, a certificate
 * signed with the bridge's CA key but not on record, and — when
 * certificate is the only method — no client certificate at all.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/x509.h>

#include "bridge_fixture.h"
#include "testutil.h"
#include "wstep_itest.h"

#define QUERY_TYPE                                                             \
  "http://schemas.microsoft.com/windows/pki/2009/01/enrollment/"               \
  "QueryTokenStatus"
#define V1_USER "1.3.6.1.4.1.311.20.2=ASN1:BMPSTRING:User"
#define AUTH_FAULT (-2147024891L) /* E_ACCESSDENIED, the sender's fault */
#define BOTH "auth = username\nauth = certificate\n"

/* The serial of the certificate the first test had issued (upper-case
 * hex without leading zeros, as `owcp-bridge certificates` lists it). */
static char alice_serial[80];

static int setup(void **state)
{
  struct bridge_world *w = calloc(1, sizeof *w);
  assert_non_null(w);
  *state = w;
  bridge_world_setup(w, "wcert", true);
  w->bridge.opts.tls = BRIDGE_TLS_HTTPS;
  wstep_world_configure_auth(w, "required", BOTH);
  bridge_itest_start(&w->bridge);
  return 0;
}

/* Issue with the CSR, as user (NULL: no UsernameToken) -> pending; the
 * RequestID (caller frees). */
static char *submit(struct bridge_world *w, const char *user,
                    const unsigned char *csr, size_t len)
{
  struct wstep_req r = {.shape = SHAPE_CEPCES,
                        .token = csr,
                        .token_len = len,
                        .user = user,
                        .password = user ? BRIDGE_ITEST_OTP : NULL};
  struct wstep_resp p;
  wstep_call(w, NULL, &r, &p);
  if (p.status != 200 || p.disposition == NULL ||
      strcmp(p.disposition, "Taken Under Submission") != 0 ||
      p.request_id == NULL)
    itest_fail("not pending: HTTP %ld %s", p.status, p.body);
  char *id = strdup(p.request_id);
  wstep_resp_free(&p);
  return id;
}

/* Alice accepts on her device; QueryTokenStatus (as user, NULL: by the
 * client certificate) answers Issued, checked independently. */
static void accept_and_query(struct bridge_world *w, const char *id,
                             const char *user, const unsigned char *csr,
                             size_t len, struct wstep_resp *out)
{
  free(bridge_itest_device_answer(w->device, WSTEP_ALICE_ACCOUNT,
                                  OWCP_ANSWER_ACCEPT, 10));
  struct wstep_req q = {.shape = SHAPE_CEPCES,
                        .request_type = QUERY_TYPE,
                        .empty_token = true,
                        .request_id = id,
                        .user = user,
                        .password = user ? BRIDGE_ITEST_OTP : NULL};
  wstep_call(w, NULL, &q, out);
  wstep_check_issued(w, out, csr, len);
}

/* Issue without credentials must be the authentication fault, and nobody
 * may have been asked. */
static void expect_refused(struct bridge_world *w, const unsigned char *csr,
                           size_t len)
{
  struct wstep_req r = {.shape = SHAPE_CEPCES, .token = csr, .token_len = len};
  struct wstep_resp p;
  wstep_call(w, NULL, &r, &p);
  WSTEP_EXPECT_FAULT(p, AUTH_FAULT, false, true);
  wstep_resp_free(&p);
  assert_int_equal(
      bridge_itest_device_pending(w->device, WSTEP_ALICE_ACCOUNT, 1), 0);
}

static void use_client(struct bridge_world *w, const char *cert,
                       const char *key)
{
  fx_path(w->bridge.client_cert, sizeof w->bridge.client_cert, w->bridge.dir,
          cert);
  fx_path(w->bridge.client_key, sizeof w->bridge.client_key, w->bridge.dir,
          key);
}

/* Enrolled by UsernameToken, then authenticated by that certificate. */
static void test_certificate_issue(void **state)
{
  struct bridge_world *w = *state;
  size_t len = 0;
  unsigned char *csr = wstep_csr(w, (const char *const[]){V1_USER, NULL}, &len);
  char *id = submit(w, WSTEP_ALICE, csr, len);
  struct wstep_resp r;
  accept_and_query(w, id, WSTEP_ALICE, csr, len, &r);
  free(id);

  /* The issued certificate and the CSR's key: the TLS client identity. */
  const unsigned char *p = r.cert;
  X509 *x = d2i_X509(NULL, &p, (long)r.cert_len);
  assert_non_null(x);
  BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
  char *hex = BN_bn2hex(bn);
  const char *digits = hex;
  while (*digits == '0' && digits[1] != '\0') /* the table's spelling */
    digits++;
  snprintf(alice_serial, sizeof alice_serial, "%s", digits);
  OPENSSL_free(hex);
  BN_free(bn);
  char der[512], pem[512];
  fx_path(der, sizeof der, w->bridge.dir, "alice.der");
  fx_path(pem, sizeof pem, w->bridge.dir, "alice.pem");
  testutil_write_file(der, r.cert, r.cert_len);
  assert_int_equal(
      testutil_openssl(NULL, "x509", "-inform", "DER", "-in", der, "-out", pem),
      0);
  X509_free(x);
  wstep_resp_free(&r);
  use_client(w, "alice.pem", "user.key");

  /* No UsernameToken: the certificate says who asks. */
  id = submit(w, NULL, csr, len);
  accept_and_query(w, id, NULL, csr, len, &r);
  p = r.cert;
  x = d2i_X509(NULL, &p, (long)r.cert_len);
  assert_non_null(x);
  char subject[256];
  X509_NAME_oneline(X509_get_subject_name(x), subject, sizeof subject);
  assert_string_equal(subject, "/CN=alice@example.com");
  X509_free(x);
  wstep_resp_free(&r);
  free(id);
  assert_true(bridge_itest_log_contains(
      &w->bridge, "alice@example.com: TLS client certificate"));
  char *list = wstep_certificates(w, WSTEP_ALICE_ACCOUNT);
  assert_non_null(strstr(list, alice_serial));
  free(list);
  free(csr);
}

/* A certificate of another CA with the genuine serial, and one signed with
 * the bridge's CA key that the certificates table does not know. */
static void test_foreign_certificates(void **state)
{
  struct bridge_world *w = *state;
  assert_true(alice_serial[0] != '\0');
  char req[512], key[512], out[512], ca[512], cakey[512], serial[96];
  fx_path(req, sizeof req, w->bridge.dir, "forged.csr");
  fx_path(key, sizeof key, w->bridge.dir, "user.key");
  assert_int_equal(testutil_openssl(NULL, "req", "-new", "-key", key, "-subj",
                                    "/CN=alice@example.com", "-out", req),
                   0);
  size_t len = 0;
  unsigned char *csr = wstep_csr(w, (const char *const[]){V1_USER, NULL}, &len);

  /* Another CA (the KET's self-signed certificate), the same serial. */
  snprintf(serial, sizeof serial, "0x%s", alice_serial);
  fx_path(out, sizeof out, w->bridge.dir, "other-ca.pem");
  fx_path(ca, sizeof ca, w->bridge.dir, "ket.pem");
  fx_path(cakey, sizeof cakey, w->bridge.dir, "ket.key");
  assert_int_equal(testutil_openssl(NULL, "x509", "-req", "-in", req, "-CA", ca,
                                    "-CAkey", cakey, "-set_serial", serial,
                                    "-days", "30", "-out", out),
                   0);
  use_client(w, "other-ca.pem", "user.key");
  expect_refused(w, csr, len);

  /* The bridge's own CA key, a serial it never issued. */
  fx_path(out, sizeof out, w->bridge.dir, "unrecorded.pem");
  fx_path(ca, sizeof ca, w->bridge.dir, "wstep-ca.pem");
  fx_path(cakey, sizeof cakey, w->bridge.dir, "wstep-ca.key");
  assert_int_equal(testutil_openssl(NULL, "x509", "-req", "-in", req, "-CA", ca,
                                    "-CAkey", cakey, "-set_serial",
                                    "0x0123456789ABCDEF", "-days", "30", "-out",
                                    out),
                   0);
  use_client(w, "unrecorded.pem", "user.key");
  expect_refused(w, csr, len);
  assert_true(bridge_itest_log_contains(&w->bridge,
                                        "certificate 123456789ABCDEF is not "
                                        "on record"));
  free(csr);
}

/* auth = certificate alone: no client certificate, or a UsernameToken,
 * is refused; the certificate still works. */
static void test_certificate_only(void **state)
{
  struct bridge_world *w = *state;
  bridge_itest_stop(&w->bridge);
  wstep_world_configure_auth(w, "required", "auth = certificate\n");
  bridge_itest_start(&w->bridge);
  size_t len = 0;
  unsigned char *csr = wstep_csr(w, (const char *const[]){V1_USER, NULL}, &len);
  w->bridge.client_cert[0] = w->bridge.client_key[0] = '\0';
  expect_refused(w, csr, len);

  struct wstep_req r = {.shape = SHAPE_CEPCES,
                        .token = csr,
                        .token_len = len,
                        .user = WSTEP_ALICE,
                        .password = BRIDGE_ITEST_OTP};
  struct wstep_resp p;
  wstep_call(w, NULL, &r, &p);
  WSTEP_EXPECT_FAULT(p, AUTH_FAULT, false, true);
  wstep_resp_free(&p);

  use_client(w, "alice.pem", "user.key");
  char *id = submit(w, NULL, csr, len);
  accept_and_query(w, id, NULL, csr, len, &p);
  wstep_resp_free(&p);
  free(id);
  free(csr);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_certificate_issue),
      cmocka_unit_test(test_foreign_certificates),
      cmocka_unit_test(test_certificate_only),
  };
  return cmocka_run_group_tests(tests, setup, bridge_world_group_teardown);
}
