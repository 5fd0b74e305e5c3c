/* csr_check.c against Windows-like requests made with the real openssl
 * command (v2 template, v1 name) and in C (certreq name-value attribute,
 * client-info): signature, template forms, UPN extraction and the OTPCE
 * user check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bridge_fixture.h"
#include "csr_check.h"
#include "testutil.h"

static char dir[256];

static int group_setup(void **state)
{
  if (testutil_tmpdir_make(dir, sizeof dir, "csrcheck") != 0)
    return -1;
  fx_make_keys(dir);
  return 0;
}

static int group_teardown(void **state)
{
  return testutil_tmpdir_remove(dir);
}

static struct csr_info *parse_ok(const unsigned char *der, size_t len)
{
  struct csr_info *info = NULL;
  struct owcp_error err;
  assert_int_equal(csr_info_parse(der, len, &info, &err), 0);
  return info;
}

static const char *const allowed[] = {FX_TEMPLATE_OID, "DAOTPLogon"};

static void test_windows_csr(void **state)
{
  size_t len;
  unsigned char *der = fx_csr_windows(dir, "alice@example.com", &len);
  struct csr_info *info = parse_ok(der, len);
  struct owcp_error err;
  assert_int_equal(X509_REQ_get_signature_nid(info->req),
                   NID_sha1WithRSAEncryption);
  assert_int_equal(csr_verify_signature(info, &err), 0);
  assert_int_equal(info->template_count, 1);
  assert_int_equal(info->templates[0].form, CSR_TEMPLATE_V2);
  assert_string_equal(info->templates[0].value, FX_TEMPLATE_OID);
  assert_int_equal(info->upn_count, 1);
  assert_string_equal(info->upns[0], "alice@example.com");
  assert_string_equal(info->subject,
                      "CN=Alice Example,CN=Users,DC=example,DC=com");
  const char *matched = NULL;
  assert_int_equal(csr_template_check(info, allowed, 2, &matched, &err), 0);
  assert_string_equal(matched, FX_TEMPLATE_OID);
  csr_info_free(info);
  free(der);
}

static void test_bad_signature(void **state)
{
  size_t len;
  unsigned char *der = fx_csr_windows(dir, "alice@example.com", &len);
  der[len - 1] ^= 0x01; /* the last octet is in the signature BIT STRING */
  struct csr_info *info = parse_ok(der, len);
  struct owcp_error err;
  assert_int_equal(csr_verify_signature(info, &err), -1);
  testutil_assert_err_contains(&err, "signature does not verify");
  csr_info_free(info);
  free(der);
}

static void test_md5_refused(void **state)
{
  const char *ext[] = {"1.3.6.1.4.1.311.21.7=" FX_TEMPLATE_V2, NULL};
  size_t len;
  unsigned char *der = fx_csr_cli(dir, FX_SUBJECT, "md5", ext, &len);
  struct csr_info *info = parse_ok(der, len);
  struct owcp_error err;
  assert_int_equal(csr_verify_signature(info, &err), -1);
  testutil_assert_err_contains(&err, "md5WithRSAEncryption");
  csr_info_free(info);
  free(der);
}

static void expect_template_refused(const unsigned char *der, size_t len,
                                    const char *why)
{
  struct csr_info *info = parse_ok(der, len);
  struct owcp_error err;
  const char *matched = NULL;
  assert_int_equal(csr_template_check(info, allowed, 2, &matched, &err), -1);
  testutil_assert_err_contains(&err, why);
  assert_null(matched);
  csr_info_free(info);
}

static void test_template_missing_or_other(void **state)
{
  const char *none[] = {"extendedKeyUsage=1.3.6.1.4.1.311.20.2.2", NULL};
  size_t len;
  unsigned char *der = fx_csr_cli(dir, FX_SUBJECT, "sha1", none, &len);
  expect_template_refused(der, len, "names no certificate template");
  free(der);

  const char *other[] = {"1.3.6.1.4.1.311.21.7=" FX_OTHER_TEMPLATE_V2, NULL};
  der = fx_csr_cli(dir, FX_SUBJECT, "sha1", other, &len);
  expect_template_refused(der, len,
                          "names template '1.3.6.1.4.1.311.21.8.1.2'");
  free(der);
}

static void test_template_v1_name(void **state)
{
  const char *ext[] = {"1.3.6.1.4.1.311.20.2=ASN1:BMPSTRING:daotplogon", NULL};
  size_t len;
  unsigned char *der = fx_csr_cli(dir, FX_SUBJECT, "sha1", ext, &len);
  struct csr_info *info = parse_ok(der, len);
  assert_int_equal(info->template_count, 1);
  assert_int_equal(info->templates[0].form, CSR_TEMPLATE_V1);
  assert_string_equal(info->templates[0].value, "daotplogon");
  struct owcp_error err;
  const char *matched = NULL;
  assert_int_equal(csr_template_check(info, allowed, 2, &matched, &err), 0);
  assert_string_equal(matched, "DAOTPLogon");
  /* a name never matches a configured OID entry */
  assert_int_equal(csr_template_check(info, allowed, 1, &matched, &err), -1);
  csr_info_free(info);
  free(der);
}

static void test_template_certreq_attribute(void **state)
{
  size_t len;
  unsigned char *der =
      fx_csr_c(dir, "alice@example.com", "DAOTPLogon", false, &len);
  struct csr_info *info = parse_ok(der, len);
  assert_int_equal(info->template_count, 1);
  assert_int_equal(info->templates[0].form, CSR_TEMPLATE_ATTRIBUTE);
  assert_string_equal(info->templates[0].value, "DAOTPLogon");
  struct owcp_error err;
  assert_int_equal(csr_verify_signature(info, &err), 0);
  const char *matched = NULL;
  assert_int_equal(csr_template_check(info, allowed, 2, &matched, &err), 0);
  assert_string_equal(matched, "DAOTPLogon");
  csr_info_free(info);
  free(der);

  der = fx_csr_c(dir, "alice@example.com", "User", false, &len);
  expect_template_refused(der, len, "attribute names template 'User'");
  free(der);
}

static void test_two_forms_must_both_match(void **state)
{
  const char *ext[] = {"1.3.6.1.4.1.311.21.7=" FX_TEMPLATE_V2,
                       "1.3.6.1.4.1.311.20.2=ASN1:BMPSTRING:User", NULL};
  size_t len;
  unsigned char *der = fx_csr_cli(dir, FX_SUBJECT, "sha1", ext, &len);
  expect_template_refused(der, len, "(v1) names template 'User'");
  free(der);
}

static void test_client_info(void **state)
{
  size_t len;
  unsigned char *der = fx_csr_c(dir, "alice@example.com", NULL, true, &len);
  struct csr_info *info = parse_ok(der, len);
  assert_string_equal(info->client_host, "LAPTOP-234.example.com");
  struct idmap ids = {0};
  struct owcp_error err;
  assert_int_equal(idmap_add_upn_suffix(&ids, "EXAMPLE = example.com", &err),
                   0);
  /* client-info names the machine account; it is not compared */
  assert_int_equal(csr_check_windows_user(info, "EXAMPLE\\alice", &ids, &err),
                   0);
  idmap_clear(&ids);
  csr_info_free(info);
  free(der);
}

static void expect_user(const char *upn, const char *username, int want,
                        const char *why)
{
  size_t len;
  unsigned char *der = upn != NULL ? fx_csr_windows(dir, upn, &len)
                                   : fx_csr_c(dir, NULL, NULL, false, &len);
  struct csr_info *info = parse_ok(der, len);
  struct idmap ids = {0};
  struct owcp_error err;
  assert_int_equal(idmap_add_upn_suffix(&ids, "EXAMPLE = example.com", &err),
                   0);
  assert_int_equal(csr_check_windows_user(info, username, &ids, &err), want);
  if (why != NULL)
    testutil_assert_err_contains(&err, why);
  idmap_clear(&ids);
  csr_info_free(info);
  free(der);
}

static void test_user_check(void **state)
{
  expect_user("alice@example.com", "EXAMPLE\\alice", 0, NULL);
  expect_user("alice@example.com", "example\\alice", 0, NULL);
  expect_user("Alice@Example.COM", "Example\\ALICE", 0, NULL);
  expect_user("bob@example.com", "EXAMPLE\\alice", -1, "does not match");
  expect_user("alice@example.org", "EXAMPLE\\alice", -1, "does not match");
  expect_user("alice@example.com", "OTHER\\alice", -1, "no upn_suffix");
  expect_user("alice@example.com", "alice", -1, "DOMAIN\\user");
  expect_user("alice@example.com", "EXAMPLE\\a\\lice", -1, "DOMAIN\\user");
  expect_user("alice@example.com", "\\alice", -1, "DOMAIN\\user");
  expect_user(NULL, "EXAMPLE\\alice", -1, "carries no UPN");
}

static void test_malformed(void **state)
{
  struct csr_info *info = NULL;
  struct owcp_error err;
  static const unsigned char junk[] = {0x30, 0x03, 0x02, 0x01, 0x01};
  assert_int_equal(csr_info_parse(junk, sizeof junk, &info, &err), -1);
  testutil_assert_err_contains(&err, "not a DER PKCS#10");
  assert_null(info);
  assert_int_equal(
      csr_info_parse((const unsigned char *)"asdf", 3, &info, &err), -1);
  size_t len;
  unsigned char *der = fx_csr_windows(dir, "alice@example.com", &len);
  unsigned char *longer = malloc(len + 1);
  memcpy(longer, der, len);
  longer[len] = 0;
  assert_int_equal(csr_info_parse(longer, len + 1, &info, &err), -1);
  assert_int_equal(csr_info_parse(der, len - 1, &info, &err), -1);
  assert_int_equal(csr_info_parse(der, 0, &info, &err), -1);
  free(longer);
  free(der);

  const char *bad_v2[] = {"1.3.6.1.4.1.311.21.7=DER:020105", NULL};
  der = fx_csr_cli(dir, FX_SUBJECT, "sha1", bad_v2, &len);
  assert_int_equal(csr_info_parse(der, len, &info, &err), -1);
  testutil_assert_err_contains(&err, "template extension");
  free(der);

  const char *bad_upn[] = {
      "subjectAltName=otherName:1.3.6.1.4.1.311.20.2.3;IA5:alice@example.com",
      NULL};
  der = fx_csr_cli(dir, FX_SUBJECT, "sha1", bad_upn, &len);
  assert_int_equal(csr_info_parse(der, len, &info, &err), -1);
  testutil_assert_err_contains(&err, "UPN is not a UTF8String");
  free(der);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_windows_csr),
      cmocka_unit_test(test_bad_signature),
      cmocka_unit_test(test_md5_refused),
      cmocka_unit_test(test_template_missing_or_other),
      cmocka_unit_test(test_template_v1_name),
      cmocka_unit_test(test_template_certreq_attribute),
      cmocka_unit_test(test_two_forms_must_both_match),
      cmocka_unit_test(test_client_info),
      cmocka_unit_test(test_user_check),
      cmocka_unit_test(test_malformed),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
