/*
 * test_e2e_xml.c — end to end, hostile and malformed XML Requests and
 * bodies: an external entity, billion laughs, any DOCTYPE, nesting deeper
 * than the limit, not well-formed, wrong namespace → 400; an XML Request
 * over 64 KiB and a body over --max-body → 413; a broken multipart
 * container → 400. After every refusal nothing is stored: no transaction
 * and no transaction.created log entry.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"
#include "owcp/util.h"

struct fx {
  struct itest_env env;
  char *token; /* requestor access@example.com */
};

static int setup(void **state)
{
  struct fx *f = calloc(1, sizeof *f);
  assert_non_null(f);
  *state = f;
  itest_env_init(&f->env, "xml");
  itest_account_add(&f->env, "alice@example.com");
  f->token = itest_requestor_add(&f->env, "access@example.com", 0);
  itest_start(&f->env, NULL);
  return 0;
}

static int teardown(void **state)
{
  struct fx *f = *state;
  if (f->env.pid > 0)
    itest_stop(&f->env);
  free(f->token);
  itest_env_fini(&f->env);
  free(f);
  return 0;
}

static void assert_nothing_stored(struct fx *f)
{
  assert_int_equal(
      itest_sql_count(&f->env, "SELECT count(*) FROM transactions"), 0);
  assert_int_equal(itest_sql_count(&f->env,
                                   "SELECT count(*) FROM log WHERE event = "
                                   "'transaction.created'"),
                   0);
}

static char *data_file(const char *name)
{
  char path[512];
  unsigned char *text = NULL;
  size_t len = 0;
  struct owcp_error err = {{0}};
  snprintf(path, sizeof path, "%s/%s", OWCP_TEST_DATA, name);
  if (owcp_file_read(path, 1 << 20, &text, &len, &err) != 0)
    fail_msg("%s: %s", path, err.msg);
  return (char *)text;
}

static void expect_refused(struct fx *f, const char *xml, long status)
{
  struct itest_http h;
  itest_confirm(&f->env, f->token, xml, 0, &h);
  ITEST_EXPECT(h, status);
  assert_non_null(itest_str(&h, "Error"));
  itest_http_free(&h);
  /* The same document as a multipart attachment fares no better. */
  json_t *p = json_object();
  itest_post_multipart(&f->env, "RD-Confirm", f->token, p, xml, &h);
  ITEST_EXPECT(h, status);
  itest_http_free(&h);
  json_decref(p);
  assert_nothing_stored(f);
}

static void test_hostile_files(void **state)
{
  static const char *const files[] = {"request_xxe.xml",
                                      "request_billion_laughs.xml",
                                      "request_doctype.xml",
                                      "request_not_wellformed.xml",
                                      "request_wrong_namespace.xml",
                                      "request_unknown_element.xml",
                                      "request_missing_summary.xml"};
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    char *xml = data_file(files[i]);
    print_message("refusing %s\n", files[i]);
    expect_refused(*state, xml, 400);
    free(xml);
  }
}

static void test_internal_doctype_without_entities(void **state)
{
  const char *xml =
      "<?xml version=\"1.0\"?>\n<!DOCTYPE Request>\n"
      "<Request xmlns=\"http://schema.comodo.com/2011/owcp/0.1\">"
      "<Header identifier=\"urn:itest:xml:doctype\" type=\"Access\">"
      "<From>access@example.com</From><To>alice@example.com</To>"
      "<Summary>Hi</Summary></Header></Request>";
  expect_refused(*state, xml, 400);
}

static void test_over_deep_nesting(void **state)
{
  char *xml = NULL;
  size_t len = 0;
  FILE *m = open_memstream(&xml, &len);
  assert_non_null(m);
  fputs("<Request xmlns=\"http://schema.comodo.com/2011/owcp/0.1\">"
        "<Header identifier=\"urn:itest:xml:deep\" type=\"Access\">"
        "<From>access@example.com</From><To>alice@example.com</To>"
        "<Summary>deep</Summary></Header><Body><P>",
        m);
  for (int i = 0; i < 200; i++)
    fputs("<B>", m);
  fputs("x", m);
  for (int i = 0; i < 200; i++)
    fputs("</B>", m);
  fputs("</P></Body></Request>", m);
  assert_int_equal(fclose(m), 0);
  expect_refused(*state, xml, 400);
  free(xml);
}

static void test_xml_over_64k(void **state)
{
  char *xml = itest_request_xml("access@example.com", "alice@example.com",
                                "urn:itest:xml:big", true, (size_t)70 * 1024);
  assert_true(strlen(xml) > (size_t)64 * 1024);
  assert_true(strlen(xml) < (size_t)200 * 1024); /* under the body limit */
  expect_refused(*state, xml, 413);
  free(xml);
}

static void test_bad_multipart(void **state)
{
  struct fx *f = *state;
  /* Type octet with a reserved bit; a length that overruns the buffer. */
  static const unsigned char reserved[] = {0x08, 0x01, 'x'};
  static const unsigned char overrun[] = {0x04, 0x82, 0x10, 0x00, '{'};
  struct itest_http h;
  itest_post_raw(&f->env, "RD-Confirm", f->token, "application/owcp-multipart",
                 reserved, sizeof reserved, &h);
  ITEST_EXPECT(h, 400);
  itest_http_free(&h);
  itest_post_raw(&f->env, "RD-Confirm", f->token, "application/owcp-multipart",
                 overrun, sizeof overrun, &h);
  ITEST_EXPECT(h, 400);
  ITEST_EXPECT_ERROR(h, "offset");
  itest_http_free(&h);
  assert_nothing_stored(f);
}

static void test_body_over_max_body(void **state)
{
  struct fx *f = *state;
  const char *flags[] = {"--max-body", "4096", NULL};
  itest_stop(&f->env);
  itest_start(&f->env, flags);
  char *xml = itest_request_xml("access@example.com", "alice@example.com",
                                "urn:itest:xml:body", true, 6000);
  expect_refused(f, xml, 413);
  free(xml);
  /* A request under the limit still goes through on the same process. */
  char *small = itest_request_xml("access@example.com", "alice@example.com",
                                  "urn:itest:xml:small", true, 0);
  char *tx = itest_confirm_ok(&f->env, f->token, small, 0);
  free(tx);
  free(small);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hostile_files),
      cmocka_unit_test(test_internal_doctype_without_entities),
      cmocka_unit_test(test_over_deep_nesting),
      cmocka_unit_test(test_xml_over_64k),
      cmocka_unit_test(test_bad_multipart),
      cmocka_unit_test(test_body_over_max_body),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
