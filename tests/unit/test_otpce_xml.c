/* otpce_xml.c: SignCert Request parsing (whitespace in base64, attribute
 * order, xmlns:xsd/xsi and unknown attributes, hostile XML) and SignCert
 * Response building, validated with the real xmllint against the schema. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "otpce_xml.h"
#include "testutil.h"

#define NS "http://schemas.microsoft.com/otpcep/1.0/protocol"
/* base64 of the 12 octets "Hello, OTPCE" with varied whitespace */
#define PLAIN "SGVsbG8sIE9UUENF"

static int setup(void **state)
{
  struct owcp_error err;
  *state = otpce_parser_new(0, &err);
  return *state != NULL ? 0 : -1;
}

static int teardown(void **state)
{
  otpce_parser_free(*state);
  return 0;
}

static void expect_ok(void **state, const char *xml, const char *user,
                      const char *otp)
{
  struct otpce_request req;
  struct owcp_error err = {{0}};
  enum owcp_xml_result rc =
      otpce_request_parse(*state, xml, strlen(xml), &req, &err);
  if (rc != OWCP_XML_OK)
    fail_msg("refused: %s", err.msg);
  assert_string_equal(req.username, user);
  assert_string_equal(req.one_time_password, otp);
  assert_int_equal(req.csr_len, 12);
  assert_memory_equal(req.csr_der, "Hello, OTPCE", 12);
  otpce_request_clear(&req);
  assert_null(req.username);
}

static void expect_refused(void **state, const char *xml, size_t len,
                           enum owcp_xml_result want, const char *why)
{
  struct otpce_request req;
  struct owcp_error err = {{0}};
  assert_int_equal(otpce_request_parse(*state, xml, len, &req, &err), want);
  testutil_assert_err_contains(&err, why);
  assert_null(req.username);
  assert_null(req.one_time_password);
  assert_null(req.csr_der);
}

static void test_base64_whitespace(void **state)
{
  expect_ok(state,
            "<signCertRequest xmlns=\"" NS "\" username=\"EXAMPLE\\alice\" "
            "oneTimePassword=\"1234\" certRequest=\"" PLAIN "\"/>",
            "EXAMPLE\\alice", "1234");
  /* character references survive attribute normalisation: LF, CRLF, tab */
  expect_ok(state,
            "<signCertRequest xmlns=\"" NS "\" username=\"EXAMPLE\\alice\" "
            "oneTimePassword=\"1234\" "
            "certRequest=\"SGVs&#xA;bG8s&#xD;&#xA;IE9U&#x9;UENF&#xA;\"/>",
            "EXAMPLE\\alice", "1234");
  /* literal line breaks and spaces (become spaces when normalised) */
  expect_ok(state,
            "<signCertRequest xmlns=\"" NS "\" username=\"EXAMPLE\\alice\" "
            "oneTimePassword=\"1234\" certRequest=\"SGVsbG8s\r\nIE9U\n "
            "UENF\"/>",
            "EXAMPLE\\alice", "1234");
}

static void test_attributes_make_no_difference(void **state)
{
  /* the spec examples' shape: XML declaration, xsd/xsi declarations,
   * certRequest first, username last */
  expect_ok(state,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<signCertRequest xmlns=\"" NS "\" certRequest=\"" PLAIN "\"\n"
            "oneTimePassword=\"Pa$$word1\" username=\"domain1\\user1\" "
            "xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\"\n"
            "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"/>",
            "domain1\\user1", "Pa$$word1");
  /* unknown attributes, qualified or not, and a prefixed root */
  expect_ok(state,
            "<o:signCertRequest xmlns:o=\"" NS "\" xmlns:x=\"urn:x\" "
            "certificate=\"\" x:extra=\"1\" username=\"d\\u\" "
            "oneTimePassword=\"p &amp; q\" certRequest=\"" PLAIN "\" "
            "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
            "xsi:type=\"o:SignCertResponse\"></o:signCertRequest>",
            "d\\u", "p & q");
}

static void test_schema_refusals(void **state)
{
  const char *missing = "<signCertRequest xmlns=\"" NS "\" username=\"d\\u\" "
                        "certRequest=\"" PLAIN "\"/>";
  expect_refused(state, missing, strlen(missing), OWCP_XML_INVALID,
                 "oneTimePassword");
  const char *wrong_ns = "<signCertRequest xmlns=\"urn:other\" "
                         "username=\"d\\u\" oneTimePassword=\"1\" "
                         "certRequest=\"" PLAIN "\"/>";
  expect_refused(state, wrong_ns, strlen(wrong_ns), OWCP_XML_INVALID,
                 "does not match the MS-OTPCE schema");
  const char *no_ns = "<signCertRequest username=\"d\\u\" "
                      "oneTimePassword=\"1\" certRequest=\"" PLAIN "\"/>";
  expect_refused(state, no_ns, strlen(no_ns), OWCP_XML_INVALID,
                 "does not match the MS-OTPCE schema");
  const char *response =
      "<signCertResponse xmlns=\"" NS "\" statusCode=\"Success\"/>";
  expect_refused(state, response, strlen(response), OWCP_XML_INVALID,
                 "does not match the MS-OTPCE schema");
  const char *child =
      "<signCertRequest xmlns=\"" NS "\" username=\"d\\u\" "
      "oneTimePassword=\"1\" certRequest=\"" PLAIN "\"><x/></signCertRequest>";
  expect_refused(state, child, strlen(child), OWCP_XML_INVALID,
                 "does not match the MS-OTPCE schema");
  const char *bad_b64 = "<signCertRequest xmlns=\"" NS "\" username=\"d\\u\" "
                        "oneTimePassword=\"1\" certRequest=\"SGVsbG8*\"/>";
  expect_refused(state, bad_b64, strlen(bad_b64), OWCP_XML_INVALID,
                 "MS-OTPCE schema");
  const char *empty = "<signCertRequest xmlns=\"" NS "\" username=\"d\\u\" "
                      "oneTimePassword=\"1\" certRequest=\"\"/>";
  expect_refused(state, empty, strlen(empty), OWCP_XML_INVALID,
                 "certRequest is empty");
}

static void test_hostile_xml(void **state)
{
  const char *doctype =
      "<!DOCTYPE signCertRequest [<!ENTITY u \"EXAMPLE\\alice\">]>"
      "<signCertRequest xmlns=\"" NS "\" username=\"&u;\" "
      "oneTimePassword=\"1\" certRequest=\"" PLAIN "\"/>";
  expect_refused(state, doctype, strlen(doctype), OWCP_XML_INVALID,
                 "must not contain a DOCTYPE");
  const char *xxe = "<!DOCTYPE r SYSTEM \"file:///etc/passwd\">"
                    "<signCertRequest xmlns=\"" NS "\" username=\"d\\u\" "
                    "oneTimePassword=\"1\" certRequest=\"" PLAIN "\"/>";
  expect_refused(state, xxe, strlen(xxe), OWCP_XML_INVALID,
                 "must not contain a DOCTYPE");
  const char *laughs =
      "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">"
      "<!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">"
      "<!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">]>"
      "<signCertRequest xmlns=\"" NS "\" username=\"&lol3;\" "
      "oneTimePassword=\"1\" certRequest=\"" PLAIN "\"/>";
  expect_refused(state, laughs, strlen(laughs), OWCP_XML_INVALID,
                 "must not contain a DOCTYPE");
  const char *undeclared = "<signCertRequest xmlns=\"" NS "\" username=\"&u;\" "
                           "oneTimePassword=\"1\" certRequest=\"" PLAIN "\"/>";
  expect_refused(state, undeclared, strlen(undeclared), OWCP_XML_INVALID,
                 "not well-formed");
  const char *broken = "<signCertRequest xmlns=\"" NS "\" username=\"d\\u\"";
  expect_refused(state, broken, strlen(broken), OWCP_XML_INVALID,
                 "not well-formed");
  const char *twice =
      "<signCertRequest xmlns=\"" NS "\" username=\"a\" "
      "username=\"b\" oneTimePassword=\"1\" certRequest=\"" PLAIN "\"/>";
  expect_refused(state, twice, strlen(twice), OWCP_XML_INVALID,
                 "not well-formed");
  const char nul[] = "<signCertRequest xmlns=\"" NS "\" username=\"d\\u\" "
                     "oneTimePassword=\"1\0\" certRequest=\"" PLAIN "\"/>";
  expect_refused(state, nul, sizeof nul - 1, OWCP_XML_INVALID, "NUL byte");
  expect_refused(state, "", 0, OWCP_XML_INVALID, "is empty");
}

static void test_size_and_depth(void **state)
{
  size_t big = OTPCE_DEFAULT_MAX_BYTES + 1;
  char *xml = malloc(big + 1);
  assert_non_null(xml);
  memset(xml, ' ', big);
  xml[big] = '\0';
  expect_refused(state, xml, big, OWCP_XML_TOO_LARGE, "over the limit");
  free(xml);

  const char *deep =
      "<signCertRequest xmlns=\"" NS "\" username=\"d\\u\" "
      "oneTimePassword=\"1\" certRequest=\"" PLAIN "\">"
      "<a><a><a><a><a><a><a><a><a><a></a></a></a></a></a></a></a></a></a></a>"
      "</signCertRequest>";
  expect_refused(state, deep, strlen(deep), OWCP_XML_INVALID,
                 "deeper than 4 levels");

  /* a parser with a smaller limit refuses a request the default accepts */
  struct owcp_error err;
  struct otpce_parser *small = otpce_parser_new(64, &err);
  assert_non_null(small);
  const char *ok = "<signCertRequest xmlns=\"" NS "\" username=\"d\\u\" "
                   "oneTimePassword=\"1\" certRequest=\"" PLAIN "\"/>";
  void *p = small;
  expect_refused(&p, ok, strlen(ok), OWCP_XML_TOO_LARGE, "over the limit");
  otpce_parser_free(small);
}

/* Writes xml to dir/name and validates it with xmllint against the schema;
 * returns xmllint's exit status. */
static int xmllint(const char *dir, const char *name, const char *xml,
                   size_t len)
{
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  testutil_write_file(path, xml, len);
  static const char schema[] = OWCP_SOURCE_DIR "/schema/otpcep.xsd";
  const char *argv[] = {"xmllint", "--noout", "--nonet", "--schema",
                        schema,    path,      NULL};
  return testutil_exec(argv, NULL);
}

static void test_response_success(void **state)
{
  char dir[256];
  assert_int_equal(testutil_tmpdir_make(dir, sizeof dir, "otpcexml"), 0);
  const char *cas[] = {"ca1.example.com\\Example Issuing CA",
                       "ca2.example.com\\Second <CA> & Co"};
  char *xml = NULL;
  size_t len = 0;
  struct owcp_error err;
  assert_int_equal(otpce_response_success((const unsigned char *)"Hello, OTPCE",
                                          12, cas, 2, &xml, &len, &err),
                   0);
  assert_int_equal(len, strlen(xml));
  assert_non_null(strstr(xml, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"));
  assert_non_null(strstr(xml, "<signCertResponse xmlns=\"" NS "\""));
  assert_non_null(strstr(xml, "statusCode=\"Success\""));
  assert_non_null(strstr(xml, "SignedCertRequest=\"" PLAIN "\""));
  const char *first =
      strstr(xml, "<IssuingCA>ca1.example.com\\Example Issuing CA</IssuingCA>");
  const char *second = strstr(
      xml,
      "<IssuingCA>ca2.example.com\\Second &lt;CA&gt; &amp; Co</IssuingCA>");
  assert_non_null(first);
  assert_non_null(second);
  assert_true(first < second);
  assert_int_equal(xmllint(dir, "success.xml", xml, len), 0);
  free(xml);

  /* no CA, an empty one, a control character, an empty signed request */
  assert_int_equal(otpce_response_success((const unsigned char *)"x", 1, cas, 0,
                                          &xml, &len, &err),
                   -1);
  testutil_assert_err_contains(&err, "no issuing CA");
  const char *bad[] = {"ca\\x\n"};
  assert_int_equal(otpce_response_success((const unsigned char *)"x", 1, bad, 1,
                                          &xml, &len, &err),
                   -1);
  testutil_assert_err_contains(&err, "control character");
  assert_int_equal(otpce_response_success(NULL, 0, cas, 1, &xml, &len, &err),
                   -1);
  assert_null(xml);
  assert_int_equal(testutil_tmpdir_remove(dir), 0);
}

static void test_response_failures(void **state)
{
  char dir[256];
  assert_int_equal(testutil_tmpdir_make(dir, sizeof dir, "otpcexml"), 0);
  const enum otpce_status all[] = {OTPCE_AUTHENTICATION_ERROR,
                                   OTPCE_CHALLENGE_RESPONSE_REQUIRED,
                                   OTPCE_OTHER_ERROR};
  for (size_t i = 0; i < 3; i++) {
    char *xml = NULL;
    size_t len = 0;
    struct owcp_error err;
    assert_int_equal(otpce_response_failure(all[i], &xml, &len, &err), 0);
    char want[64];
    snprintf(want, sizeof want, "statusCode=\"%s\"", otpce_status_name(all[i]));
    assert_non_null(strstr(xml, want));
    assert_null(strstr(xml, "SignedCertRequest"));
    assert_null(strstr(xml, "IssuingCA"));
    assert_int_equal(xmllint(dir, "failure.xml", xml, len), 0);
    free(xml);
  }
  char *xml = NULL;
  size_t len = 0;
  struct owcp_error err;
  assert_int_equal(otpce_response_failure(OTPCE_SUCCESS, &xml, &len, &err), -1);
  assert_null(xml);
  /* xmllint is not blind: a response without statusCode is invalid */
  const char *bad = "<signCertResponse xmlns=\"" NS "\"/>";
  assert_int_not_equal(xmllint(dir, "bad.xml", bad, strlen(bad)), 0);
  assert_int_equal(testutil_tmpdir_remove(dir), 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_base64_whitespace),
      cmocka_unit_test(test_attributes_make_no_difference),
      cmocka_unit_test(test_schema_refusals),
      cmocka_unit_test(test_hostile_xml),
      cmocka_unit_test(test_size_and_depth),
      cmocka_unit_test(test_response_success),
      cmocka_unit_test(test_response_failures),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
