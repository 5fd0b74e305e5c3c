/*
 * test_request_write.c — core's XML Request writer (core/request_write.c,
 * owcp/request_write.h): whatever the caller's text holds, the output is
 * schema-valid XML that parses back (with the core parser) to exactly the
 * input; what XML cannot carry is refused with a sentence naming the field.
 * Also the requestor library's builders that wrap it with the schema check
 * (requestor-lib/request_build.c, owcp_request_build*).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "owcp/request_write.h"
#include "owcp/requestor.h"

struct fx {
  struct owcp_xml_validator *v;
};

static int setup(void **state)
{
  struct fx *f = calloc(1, sizeof *f);
  assert_non_null(f);
  f->v = owcp_xml_validator_new(NULL, NULL);
  assert_non_null(f->v);
  *state = f;
  return 0;
}

static int teardown(void **state)
{
  struct fx *f = *state;
  owcp_xml_validator_free(f->v);
  free(f);
  return 0;
}

/* A request with one plain summary span; the caller may change anything. */
static void base_request(struct owcp_request *req, struct owcp_span *span,
                         const char *summary)
{
  memset(req, 0, sizeof *req);
  memset(span, 0, sizeof *span);
  span->kind = OWCP_SPAN_TEXT;
  span->text = (char *)summary;
  req->header.from = "access@example.com";
  req->header.to = "alice@example.com";
  req->header.type = "Access";
  req->header.identifier = "urn:test:1";
  req->header.issued = "2026-11-22T10:00:00Z";
  req->header.summary.count = 1;
  req->header.summary.spans = span;
}

/* Writes req and parses the result back; returns the parsed request. */
static struct owcp_request *
round_trip(struct fx *f, const struct owcp_request *req, char **xml_out)
{
  struct owcp_error err = {{0}};
  struct owcp_request *back = NULL;
  char *xml = NULL;
  size_t len = 0;

  if (owcp_request_write(req, &xml, &len, &err) != 0)
    fail_msg("write failed: %s", err.msg);
  assert_int_equal(strlen(xml), len);
  assert_int_equal(owcp_request_parse(f->v, xml, len, &back, &err),
                   OWCP_XML_OK);
  if (xml_out != NULL)
    *xml_out = xml;
  else
    free(xml);
  return back;
}

/* Writes req expecting failure; the error must mention needle. */
static void expect_refused(struct fx *f, const struct owcp_request *req,
                           const char *needle)
{
  struct owcp_error err = {{0}};
  char *xml = (char *)"untouched";
  size_t len = 7;

  assert_int_equal(owcp_request_write(req, &xml, &len, &err), -1);
  assert_null(xml);
  assert_int_equal(len, 0);
  if (strstr(err.msg, needle) == NULL)
    fail_msg("error '%s' does not mention '%s'", err.msg, needle);
}

static void test_header_round_trip(void **state)
{
  struct owcp_request req, *back;
  struct owcp_span span;
  char *methods[] = {"PIN", "Biometric"};
  char *refs[] = {"https://bank.example/tx/1"};

  base_request(&req, &span, "Connect laptop #234?");
  req.header.verification = methods;
  req.header.verification_count = 2;
  req.header.references = refs;
  req.header.reference_count = 1;
  back = round_trip(*state, &req, NULL);
  assert_string_equal(back->header.from, "access@example.com");
  assert_string_equal(back->header.to, "alice@example.com");
  assert_string_equal(back->header.type, "Access");
  assert_string_equal(back->header.identifier, "urn:test:1");
  assert_string_equal(back->header.issued, "2026-11-22T10:00:00Z");
  assert_int_equal(back->header.verification_count, 2);
  assert_string_equal(back->header.verification[1], "Biometric");
  assert_int_equal(back->header.reference_count, 1);
  assert_string_equal(back->header.references[0], refs[0]);
  assert_int_equal(back->header.summary.count, 1);
  assert_string_equal(back->header.summary.spans[0].text,
                      "Connect laptop #234?");
  assert_false(back->has_body);
  owcp_request_free(back);
}

static void test_escaping_text_and_attributes(void **state)
{
  static const char hostile[] =
      "a < b && c > d \"q\" 'a' </Summary><Body><P>x</P></Body>]]> &amp;";
  struct owcp_request req, *back;
  struct owcp_span span;
  char *xml = NULL;

  base_request(&req, &span, hostile);
  req.header.identifier = "urn:x?a=1&b=\"2\"<3>";
  req.header.type = "Pay\"ment' <&>";
  back = round_trip(*state, &req, &xml);
  /* The text came back as text: no element was injected. */
  assert_int_equal(back->header.summary.count, 1);
  assert_string_equal(back->header.summary.spans[0].text, hostile);
  assert_false(back->has_body);
  assert_string_equal(back->header.identifier, req.header.identifier);
  assert_string_equal(back->header.type, req.header.type);
  assert_non_null(strstr(xml, "a &lt; b &amp;&amp; c"));
  assert_null(strstr(xml, "<P>x</P>"));
  owcp_request_free(back);
  free(xml);
}

static void test_whitespace_and_unicode_preserved(void **state)
{
  static const char text[] = "line1\nline2\ttab \xc3\xa9t\xc3\xa9 \xe2\x82\xac";
  struct owcp_request req, *back;
  struct owcp_span span;

  base_request(&req, &span, text);
  back = round_trip(*state, &req, NULL);
  assert_string_equal(back->header.summary.spans[0].text, text);
  owcp_request_free(back);
}

static void test_control_characters_refused(void **state)
{
  struct owcp_request req;
  struct owcp_span span;

  base_request(&req, &span, "bell\x07here");
  expect_refused(*state, &req,
                 "Summary span 1 holds control character "
                 "U+0007 at offset 4");
  base_request(&req, &span, "ok");
  req.header.type = "Acc\x1b[31mess";
  expect_refused(*state, &req, "Header type");
  base_request(&req, &span, "ok");
  req.header.identifier = "urn:\x01";
  expect_refused(*state, &req, "Header identifier");
}

static void test_invalid_utf8_refused(void **state)
{
  struct owcp_request req;
  struct owcp_span span;

  base_request(&req, &span, "caf\xc3");
  expect_refused(*state, &req, "Summary span 1 is not valid UTF-8");
}

static void test_money_spans(void **state)
{
  struct owcp_request req, *back;
  struct owcp_span spans[3];

  base_request(&req, &spans[0], "Transfer ");
  memset(&spans[1], 0, sizeof spans[1]);
  spans[1].kind = OWCP_SPAN_MONEY;
  spans[1].currency = "usd";
  spans[1].amount = "9825.00";
  memset(&spans[2], 0, sizeof spans[2]);
  spans[2].kind = OWCP_SPAN_TEXT;
  spans[2].text = " to Bob?";
  req.header.summary.spans = spans;
  req.header.summary.count = 3;
  back = round_trip(*state, &req, NULL);
  assert_int_equal(back->header.summary.count, 3);
  assert_int_equal(back->header.summary.spans[1].kind, OWCP_SPAN_MONEY);
  assert_string_equal(back->header.summary.spans[1].currency, "usd");
  assert_string_equal(back->header.summary.spans[1].amount, "9825.00");
  assert_string_equal(back->header.summary.spans[2].text, " to Bob?");
  owcp_request_free(back);

  spans[1].currency = "dollars";
  expect_refused(*state, &req, "Summary span 2: Money currency");
  spans[1].currency = "us\"";
  expect_refused(*state, &req, "Money currency");
  spans[1].currency = "EUR";
  spans[1].amount = "1e5";
  expect_refused(*state, &req, "Summary span 2: Money amount");
  spans[1].amount = "";
  expect_refused(*state, &req, "Money amount");
  spans[1].amount = "-.5";
  back = round_trip(*state, &req, NULL);
  assert_string_equal(back->header.summary.spans[1].amount, "-.5");
  owcp_request_free(back);
}

static void test_emphasis_nesting(void **state)
{
  struct owcp_request req, *back;
  struct owcp_span outer, inner, leaf;

  memset(&leaf, 0, sizeof leaf);
  leaf.kind = OWCP_SPAN_TEXT;
  leaf.text = "urgent";
  memset(&inner, 0, sizeof inner);
  inner.kind = OWCP_SPAN_UNDERLINE;
  inner.children.count = 1;
  inner.children.spans = &leaf;
  base_request(&req, &outer, NULL);
  outer.kind = OWCP_SPAN_BOLD;
  outer.children.count = 1;
  outer.children.spans = &inner;
  back = round_trip(*state, &req, NULL);
  assert_int_equal(back->header.summary.spans[0].kind, OWCP_SPAN_BOLD);
  const struct owcp_span *u = &back->header.summary.spans[0].children.spans[0];
  assert_int_equal(u->kind, OWCP_SPAN_UNDERLINE);
  assert_string_equal(u->children.spans[0].text, "urgent");
  owcp_request_free(back);

  leaf.text = "x\x02";
  expect_refused(*state, &req, "Summary span 1 <B> span 1 <U> span 1");
}

static void test_nesting_too_deep_refused(void **state)
{
  enum { N = 40 };
  struct owcp_span spans[N];
  struct owcp_request req;

  base_request(&req, &spans[0], NULL);
  for (int i = 0; i < N; i++) {
    memset(&spans[i], 0, sizeof spans[i]);
    spans[i].kind = i == N - 1 ? OWCP_SPAN_TEXT : OWCP_SPAN_ITALIC;
    spans[i].text = i == N - 1 ? "deep" : NULL;
    if (i < N - 1) {
      spans[i].children.count = 1;
      spans[i].children.spans = &spans[i + 1];
    }
  }
  req.header.summary.spans = spans;
  expect_refused(*state, &req, "nested deeper than");
}

static void test_body_table_and_paragraph(void **state)
{
  struct owcp_request req, *back;
  struct owcp_span sum, p, h1, h2, c1, money;
  struct owcp_text head_cells[2], row_cells[2];
  struct owcp_table_row rows[2];
  struct owcp_body_item items[2];

  base_request(&req, &sum, "Pay?");
  memset(&p, 0, sizeof p);
  p.kind = OWCP_SPAN_TEXT;
  p.text = "Form of transfer: Wire";
  h1 = p;
  h1.text = "Item";
  h2 = p;
  h2.text = "Amount";
  c1 = p;
  c1.text = "Fee & <tax>";
  memset(&money, 0, sizeof money);
  money.kind = OWCP_SPAN_MONEY;
  money.currency = "usd";
  money.amount = "12.50";
  head_cells[0] = (struct owcp_text){1, &h1};
  head_cells[1] = (struct owcp_text){1, &h2};
  row_cells[0] = (struct owcp_text){1, &c1};
  row_cells[1] = (struct owcp_text){1, &money};
  rows[0] = (struct owcp_table_row){true, 2, head_cells};
  rows[1] = (struct owcp_table_row){false, 2, row_cells};
  memset(items, 0, sizeof items);
  items[0].kind = OWCP_BODY_P;
  items[0].text = (struct owcp_text){1, &p};
  items[1].kind = OWCP_BODY_TABLE;
  items[1].table = (struct owcp_table){2, rows};
  req.body = items;
  req.body_count = 2;
  back = round_trip(*state, &req, NULL);
  assert_true(back->has_body);
  assert_int_equal(back->body_count, 2);
  assert_int_equal(back->body[0].kind, OWCP_BODY_P);
  assert_string_equal(back->body[0].text.spans[0].text, p.text);
  assert_int_equal(back->body[1].kind, OWCP_BODY_TABLE);
  const struct owcp_table *t = &back->body[1].table;
  assert_int_equal(t->row_count, 2);
  assert_true(t->rows[0].header);
  assert_false(t->rows[1].header);
  assert_string_equal(t->rows[0].cells[1].spans[0].text, "Amount");
  assert_string_equal(t->rows[1].cells[0].spans[0].text, "Fee & <tax>");
  assert_int_equal(t->rows[1].cells[1].spans[0].kind, OWCP_SPAN_MONEY);
  assert_string_equal(t->rows[1].cells[1].spans[0].amount, "12.50");
  owcp_request_free(back);

  c1.text = "bad\x1f";
  expect_refused(*state, &req, "Body item 2 (Table) row 2 cell 1");
}

static void test_barcode(void **state)
{
  /* 9 pixels wide: 2 octets a row; 3 rows. */
  unsigned char bits[6] = {0x01, 0x01, 0xff, 0x00, 0x80, 0x01};
  struct owcp_barcode bc = {9, 3, 2, bits, sizeof bits};
  struct owcp_request req, *back;
  struct owcp_span sum;
  struct owcp_body_item item;

  base_request(&req, &sum, "Your ticket");
  memset(&item, 0, sizeof item);
  item.kind = OWCP_BODY_BARCODE;
  item.barcode = &bc;
  req.body = &item;
  req.body_count = 1;
  back = round_trip(*state, &req, NULL);
  assert_int_equal(back->body[0].kind, OWCP_BODY_BARCODE);
  assert_int_equal(back->body[0].barcode->width, 9);
  assert_int_equal(back->body[0].barcode->height, 3);
  assert_memory_equal(back->body[0].barcode->bits, bits, sizeof bits);
  assert_true(owcp_barcode_pixel(back->body[0].barcode, 8, 0));
  assert_false(owcp_barcode_pixel(back->body[0].barcode, 1, 0));
  owcp_request_free(back);

  bc.bits_len = 5;
  expect_refused(*state, &req,
                 "Body item 1 (Barcode): a barcode of 9 x 3 "
                 "pixels needs exactly 6 octets");
  bc.bits_len = 6;
  bc.width = 0;
  expect_refused(*state, &req, "Barcode");
}

static void test_accounts_checked(void **state)
{
  struct owcp_request req;
  struct owcp_span span;

  base_request(&req, &span, "x");
  req.header.to = NULL;
  expect_refused(*state, &req, "To is missing");
  req.header.to = "alice at example.com";
  expect_refused(*state, &req, "To 'alice at example.com' is not an account");
  req.header.to = "alice@example.com";
  req.header.from = "";
  expect_refused(*state, &req, "From is missing or empty");
}

static void test_summary_required(void **state)
{
  struct owcp_request req;
  struct owcp_span span;

  base_request(&req, &span, "x");
  req.header.summary.count = 0;
  expect_refused(*state, &req, "Summary is empty");
}

static void test_defaults_random_identifier(void **state)
{
  struct fx *f = *state;
  struct owcp_request req, *a, *b;
  struct owcp_span span;
  time_t t;

  base_request(&req, &span, "x");
  req.header.identifier = NULL;
  req.header.issued = NULL;
  req.header.type = NULL;
  a = round_trip(f, &req, NULL);
  b = round_trip(f, &req, NULL);
  assert_true(strncmp(a->header.identifier, "urn:owcp:", 9) == 0);
  assert_true(strlen(a->header.identifier) > 9 + 20);
  assert_string_not_equal(a->header.identifier, b->header.identifier);
  assert_null(a->header.type);
  assert_int_equal(owcp_time_parse(a->header.issued, &t, NULL), 0);
  assert_true(labs((long)(time(NULL) - t)) < 60);
  owcp_request_free(a);
  owcp_request_free(b);
}

static void test_write_simple(void **state)
{
  struct fx *f = *state;
  struct owcp_error err = {{0}};
  struct owcp_request *back = NULL;
  char *xml = NULL;
  size_t len = 0;

  assert_int_equal(owcp_request_write_simple("access@example.com",
                                             "alice@example.com", "Payment",
                                             "urn:s:1", "Pay ", "usd",
                                             "9825.00", true, &xml, &len, &err),
                   0);
  assert_int_equal(owcp_request_parse(f->v, xml, len, &back, &err),
                   OWCP_XML_OK);
  assert_string_equal(back->header.type, "Payment");
  assert_int_equal(back->header.verification_count, 1);
  assert_string_equal(back->header.verification[0], "PIN");
  assert_int_equal(back->header.summary.count, 2);
  assert_string_equal(back->header.summary.spans[1].currency, "usd");
  owcp_request_free(back);
  free(xml);

  assert_int_equal(owcp_request_write_simple(
                       "access@example.com", "alice@example.com", NULL, NULL,
                       "Hi", NULL, NULL, false, &xml, &len, &err),
                   0);
  assert_non_null(strstr(xml, "<Summary>Hi</Summary>"));
  assert_null(strstr(xml, "Verification"));
  free(xml);

  assert_int_equal(
      owcp_request_write_simple("access@example.com", "alice@example.com", NULL,
                                NULL, "", NULL, NULL, false, &xml, &len, &err),
      -1);
  assert_non_null(strstr(err.msg, "Summary is empty"));
  assert_int_equal(owcp_request_write_simple(
                       "access@example.com", "alice@example.com", NULL, NULL,
                       "x", "usd", NULL, false, &xml, &len, &err),
                   -1);
  assert_non_null(strstr(err.msg, "Money amount"));
}

/* The requestor library's builders: the writer's output, then the schema
 * check, so what the writer accepts but the schema refuses never leaves. */
static void test_requestor_build(void **state)
{
  struct fx *f = *state;
  struct owcp_error err = {{0}};
  struct owcp_request req, *back = NULL;
  struct owcp_span span;
  char *xml = NULL;
  size_t len = 0;

  assert_int_equal(owcp_request_build_simple(f->v, "access@example.com",
                                             "alice@example.com", "Payment",
                                             "urn:s:1", "Pay ", "usd",
                                             "9825.00", true, &xml, &len, &err),
                   0);
  assert_int_equal(owcp_request_parse(f->v, xml, len, &back, &err),
                   OWCP_XML_OK);
  assert_string_equal(back->header.type, "Payment");
  owcp_request_free(back);
  free(xml);

  /* No validator given: one is compiled for the call. */
  assert_int_equal(owcp_request_build_simple(
                       NULL, "access@example.com", "alice@example.com", NULL,
                       NULL, "Hi", NULL, NULL, false, &xml, &len, &err),
                   0);
  assert_non_null(strstr(xml, "<Summary>Hi</Summary>"));
  assert_null(strstr(xml, "Verification"));
  free(xml);

  assert_int_equal(owcp_request_build_simple(
                       f->v, "access@example.com", "alice@example.com", NULL,
                       NULL, "", NULL, NULL, false, &xml, &len, &err),
                   -1);
  assert_non_null(strstr(err.msg, "Summary is empty"));
  assert_int_equal(owcp_request_build_simple(
                       f->v, "access@example.com", "alice@example.com", NULL,
                       NULL, "x", "usd", NULL, false, &xml, &len, &err),
                   -1);
  assert_non_null(strstr(err.msg, "Money amount"));

  /* An issued time without a zone is text the writer carries but the
   * schema check refuses: built, then refused, and nothing returned. */
  base_request(&req, &span, "x");
  req.header.issued = "2026-11-22T10:00:00";
  assert_int_equal(owcp_request_write(&req, &xml, &len, &err), 0);
  free(xml);
  xml = (char *)"untouched";
  len = 7;
  assert_int_equal(owcp_request_build(f->v, &req, &xml, &len, &err), -1);
  assert_null(xml);
  assert_int_equal(len, 0);
  assert_non_null(strstr(err.msg, "the built request is not valid"));
  req.header.issued = "2026-11-22T10:00:00Z";
  assert_int_equal(owcp_request_build(NULL, &req, &xml, &len, &err), 0);
  free(xml);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_header_round_trip),
      cmocka_unit_test(test_escaping_text_and_attributes),
      cmocka_unit_test(test_whitespace_and_unicode_preserved),
      cmocka_unit_test(test_control_characters_refused),
      cmocka_unit_test(test_invalid_utf8_refused),
      cmocka_unit_test(test_money_spans),
      cmocka_unit_test(test_emphasis_nesting),
      cmocka_unit_test(test_nesting_too_deep_refused),
      cmocka_unit_test(test_body_table_and_paragraph),
      cmocka_unit_test(test_barcode),
      cmocka_unit_test(test_accounts_checked),
      cmocka_unit_test(test_summary_required),
      cmocka_unit_test(test_defaults_random_identifier),
      cmocka_unit_test(test_write_simple),
      cmocka_unit_test(test_requestor_build),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
