/* otpce.c: the OTPCE checks before RADIUS in seed order (CSR signature,
 * template, UPN -> OtherError; identity mapping -> AuthenticationError),
 * and the whole pure path from a spec-shaped request body to a Success
 * response whose SignedCertRequest verifies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/pem.h>

#include "bridge_fixture.h"
#include "cmc.h"
#include "otpce.h"
#include "testutil.h"

static char dir[256];
static struct idmap ids;
static const char *const templates[] = {FX_TEMPLATE_OID, "DAOTPLogon"};
static const struct otpce_policy policy = {
    .identity = &ids, .templates = templates, .template_count = 2};

static int group_setup(void **state)
{
  struct owcp_error err;
  if (testutil_tmpdir_make(dir, sizeof dir, "otpce") != 0 ||
      idmap_add_rule(&ids, "EXAMPLE\\* -> *@example.com", &err) != 0 ||
      idmap_add_upn_suffix(&ids, "EXAMPLE = example.com", &err) != 0 ||
      idmap_add_upn_suffix(&ids, "OTHER = other.example", &err) != 0)
    return -1;
  fx_make_keys(dir);
  return 0;
}

static int group_teardown(void **state)
{
  idmap_clear(&ids);
  return testutil_tmpdir_remove(dir);
}

static enum otpce_status check(const char *username, unsigned char *csr,
                               size_t len, struct otpce_checked *out,
                               struct owcp_error *reason)
{
  struct otpce_request req = {.username = (char *)username,
                              .one_time_password = (char *)"123456",
                              .csr_der = csr,
                              .csr_len = len};
  return otpce_check(&policy, &req, out, reason);
}

static void expect_status(const char *username, unsigned char *csr, size_t len,
                          enum otpce_status want, const char *why)
{
  struct otpce_checked out;
  struct owcp_error reason;
  assert_int_equal(check(username, csr, len, &out, &reason), want);
  testutil_assert_err_contains(&reason, why);
  assert_null(out.account);
  assert_null(out.template_id);
}

static void test_success(void **state)
{
  size_t len;
  unsigned char *csr = fx_csr_windows(dir, "alice@example.com", &len);
  struct otpce_checked out;
  struct owcp_error reason;
  assert_int_equal(check("example\\Alice", csr, len, &out, &reason),
                   OTPCE_SUCCESS);
  assert_string_equal(out.account, "Alice@example.com");
  assert_string_equal(out.template_id, FX_TEMPLATE_OID);
  assert_string_equal(out.subject,
                      "CN=Alice Example,CN=Users,DC=example,DC=com");
  assert_string_equal(out.upn, "alice@example.com");
  assert_null(out.client_host);
  otpce_checked_clear(&out);
  free(csr);

  csr = fx_csr_c(dir, "alice@example.com", "daotplogon", true, &len);
  assert_int_equal(check("EXAMPLE\\alice", csr, len, &out, &reason),
                   OTPCE_SUCCESS);
  assert_string_equal(out.template_id, "DAOTPLogon");
  assert_string_equal(out.client_host, "LAPTOP-234.example.com");
  otpce_checked_clear(&out);
  free(csr);
}

static void test_other_errors(void **state)
{
  size_t len;
  unsigned char *csr = fx_csr_windows(dir, "alice@example.com", &len);
  csr[len - 1] ^= 0x01;
  expect_status("EXAMPLE\\alice", csr, len, OTPCE_OTHER_ERROR,
                "signature does not verify");
  free(csr);

  const char *none[] = {"subjectAltName=otherName:1.3.6.1.4.1.311.20.2.3;"
                        "UTF8:alice@example.com",
                        NULL};
  csr = fx_csr_cli(dir, FX_SUBJECT, "sha1", none, &len);
  expect_status("EXAMPLE\\alice", csr, len, OTPCE_OTHER_ERROR,
                "names no certificate template");
  free(csr);

  const char *other[] = {"1.3.6.1.4.1.311.21.7=" FX_OTHER_TEMPLATE_V2, NULL};
  csr = fx_csr_cli(dir, FX_SUBJECT, "sha1", other, &len);
  expect_status("EXAMPLE\\alice", csr, len, OTPCE_OTHER_ERROR,
                "is not configured");
  free(csr);

  csr = fx_csr_windows(dir, "bob@example.com", &len);
  expect_status("EXAMPLE\\alice", csr, len, OTPCE_OTHER_ERROR,
                "does not match the user name");
  free(csr);

  /* example 4.4: certRequest="asdf" */
  unsigned char asdf[] = {0x6a, 0xc7, 0x5f};
  expect_status("domain1\\user1", asdf, sizeof asdf, OTPCE_OTHER_ERROR,
                "not a DER PKCS#10");
}

static void test_order(void **state)
{
  size_t len;
  /* the UPN check comes before the mapping: OTHER has a UPN suffix but no
   * map rule */
  unsigned char *csr = fx_csr_windows(dir, "alice@other.example", &len);
  expect_status("OTHER\\alice", csr, len, OTPCE_AUTHENTICATION_ERROR,
                "matches no identity map rule");
  expect_status("OTHER\\bob", csr, len, OTPCE_OTHER_ERROR,
                "does not match the user name");
  /* the signature comes first of all */
  csr[len - 1] ^= 0x01;
  expect_status("OTHER\\bob", csr, len, OTPCE_OTHER_ERROR,
                "signature does not verify");
  free(csr);
}

static X509 *load_ra(EVP_PKEY **key)
{
  char path[512];
  fx_path(path, sizeof path, dir, "ra.pem");
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  X509 *ra = PEM_read_X509(f, NULL, NULL, NULL);
  fclose(f);
  fx_path(path, sizeof path, dir, "ra.key");
  f = fopen(path, "r");
  assert_non_null(f);
  *key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
  fclose(f);
  assert_true(ra != NULL && *key != NULL);
  return ra;
}

/* The base64 of der wrapped every 64 characters with "&#xA;", as the
 * spec's example 4.1 writes it. */
static char *wrapped_base64(const unsigned char *der, size_t len)
{
  char *b64 = owcp_base64_encode(der, len);
  size_t n = strlen(b64);
  char *out = malloc(n + (n / 64 + 1) * 5 + 1);
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    if (i > 0 && i % 64 == 0) {
      memcpy(out + o, "&#xA;", 5);
      o += 5;
    }
    out[o++] = b64[i];
  }
  out[o] = '\0';
  free(b64);
  return out;
}

static void test_request_to_response(void **state)
{
  size_t csr_len;
  unsigned char *csr = fx_csr_windows(dir, "alice@example.com", &csr_len);
  char *b64 = wrapped_base64(csr, csr_len);
  size_t cap = strlen(b64) + 1024;
  char *body = malloc(cap);
  snprintf(body, cap,
           "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<signCertRequest "
           "xmlns=\"http://schemas.microsoft.com/otpcep/1.0/protocol\" "
           "certRequest=\"%s\" oneTimePassword=\"1234567890\" "
           "username=\"EXAMPLE\\alice\" "
           "xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" "
           "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"/>",
           b64);
  free(b64);
  struct owcp_error err;
  struct otpce_parser *parser = otpce_parser_new(0, &err);
  assert_non_null(parser);
  struct otpce_request req;
  assert_int_equal(otpce_request_parse(parser, body, strlen(body), &req, &err),
                   OWCP_XML_OK);
  assert_int_equal(req.csr_len, csr_len);
  assert_memory_equal(req.csr_der, csr, csr_len);
  struct otpce_checked checked;
  assert_int_equal(otpce_check(&policy, &req, &checked, &err), OTPCE_SUCCESS);

  EVP_PKEY *key = NULL;
  X509 *ra = load_ra(&key);
  unsigned char *cmc = NULL;
  size_t cmc_len = 0;
  assert_int_equal(
      cmc_ra_sign(req.csr_der, req.csr_len, ra, key, &cmc, &cmc_len, &err), 0);
  const char *cas[] = {"ca1.example.com\\Example Issuing CA"};
  char *xml = NULL;
  size_t xml_len = 0;
  assert_int_equal(
      otpce_response_success(cmc, cmc_len, cas, 1, &xml, &xml_len, &err), 0);

  /* the SignedCertRequest the client gets is the CMC that verifies */
  char path[512], ca[512], out[512];
  fx_path(path, sizeof path, dir, "response.xml");
  testutil_write_file(path, xml, xml_len);
  fx_path(ca, sizeof ca, dir, "ra-ca.pem");
  fx_path(out, sizeof out, dir, "signed.b64");
  static const char expr[] = "string(/*[local-name()='signCertResponse']/"
                             "@SignedCertRequest)";
  const char *xpath[] = {"xmllint", "--xpath", expr, path, NULL};
  assert_int_equal(testutil_exec(xpath, out), 0);
  char der[512];
  fx_path(der, sizeof der, dir, "signed.der");
  assert_int_equal(
      testutil_openssl(NULL, "base64", "-d", "-A", "-in", out, "-out", der), 0);
  assert_int_equal(testutil_openssl(NULL, "cms", "-verify", "-inform", "DER",
                                    "-in", der, "-CAfile", ca, "-purpose",
                                    "any", "-out", "/dev/null"),
                   0);
  free(xml);
  free(cmc);
  X509_free(ra);
  EVP_PKEY_free(key);
  otpce_checked_clear(&checked);
  otpce_request_clear(&req);
  otpce_parser_free(parser);
  free(body);
  free(csr);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_success),
      cmocka_unit_test(test_other_errors),
      cmocka_unit_test(test_order),
      cmocka_unit_test(test_request_to_response),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
