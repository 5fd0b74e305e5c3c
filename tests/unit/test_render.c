/* Unit tests for owcp/render.h: Money formatting, emphasis in both modes,
 * whitespace collapsing, table alignment, escape neutralisation and the
 * whole-request view. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "owcp/render.h"
#include "testutil.h"

#define NS "http://schema.comodo.com/2011/owcp/0.1"
#define FFFD "\xef\xbf\xbd"

static int setup(void **state)
{
  struct owcp_error err = {{0}};
  *state = owcp_xml_validator_new(NULL, &err);
  return *state == NULL ? -1 : 0;
}

static int teardown(void **state)
{
  owcp_xml_validator_free(*state);
  return 0;
}

static struct owcp_request *parse_or_fail(void **state, const char *xml)
{
  struct owcp_request *req = NULL;
  struct owcp_error err = {{0}};
  if (owcp_request_parse(*state, xml, strlen(xml), &req, &err) != OWCP_XML_OK)
    fail_msg("parse failed: %s", err.msg);
  return req;
}

/* Renders `fragment` placed inside <Summary>. */
static char *summary(void **state, const char *fragment,
                     enum owcp_render_mode mode, size_t *width)
{
  char xml[2048];
  snprintf(xml, sizeof xml,
           "<Request xmlns='" NS "'><Header><From>a@x</From><To>b@y</To>"
           "<Summary>%s</Summary></Header></Request>",
           fragment);
  struct owcp_request *req = parse_or_fail(state, xml);
  struct owcp_error err = {{0}};
  char *s = owcp_render_text(&req->header.summary, mode, width, &err);
  owcp_request_free(req);
  assert_non_null(s);
  return s;
}

static void assert_summary(void **state, const char *fragment,
                           enum owcp_render_mode mode, const char *expected)
{
  char *s = summary(state, fragment, mode, NULL);
  bool same = strcmp(s, expected) == 0;
  free(s);
  if (!same)
    fail_msg("rendering of \"%s\" differs from \"%s\"", fragment, expected);
}

/* ---- Money ---- */

static void test_money_formats(void **state)
{
  (void)state;
  static const struct {
    const char *currency, *amount, *expected;
  } cases[] = {
      {"usd", "9825.00", "USD 9,825.00"}, /* the draft's example */
      {"EUR", "1234567.5", "EUR 1,234,567.5"},
      {"gbp", ".5", "GBP 0.5"},
      {"usd", "0.5", "USD 0.5"},
      {"usd", "-0012.50", "USD -12.50"},
      {"usd", "+1000", "USD 1,000"},
      {"usd", "-0.00", "USD 0.00"},
      {"usd", "-.0", "USD 0.0"},
      {"usd", "5.", "USD 5"},
      {"usd", "000", "USD 0"},
      {"usd", " 100 ", "USD 100"},
      {"usd", "123", "USD 123"},
      {"usd", "123456", "USD 123,456"},
      {"usd", "1234", "USD 1,234"},
      {"jpy", "100000000000000000000000000001",
       "JPY 100,000,000,000,000,000,000,000,000,001"},
      {"usd", "0.000000000000000000001", "USD 0.000000000000000000001"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct owcp_error err = {{0}};
    char *s = owcp_render_money(cases[i].currency, cases[i].amount, &err);
    assert_non_null(s);
    if (strcmp(s, cases[i].expected) != 0)
      fail_msg("%s %s -> \"%s\", want \"%s\"", cases[i].currency,
               cases[i].amount, s, cases[i].expected);
    free(s);
  }
}

static void test_money_refused(void **state)
{
  (void)state;
  const char *bad[] = {"",    "-",    ".",     "+.",  "1.2.3", "9,825.00",
                       "1e5", "0x10", "12 34", "--1", "1-",    "NaN"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    struct owcp_error err = {{0}};
    char *s = owcp_render_money("usd", bad[i], &err);
    if (s != NULL) {
      free(s);
      fail_msg("amount \"%s\" accepted", bad[i]);
    }
    assert_string_equal(err.msg, "Money amount is not a decimal number");
  }
}

/* ---- Emphasis and whitespace ---- */

static void test_emphasis_plain_and_ansi(void **state)
{
  const char *f = "<B>bold</B> <I>it</I> <U>under</U>";
  assert_summary(state, f, OWCP_RENDER_PLAIN, "*bold* /it/ _under_");
  assert_summary(state, f, OWCP_RENDER_ANSI,
                 "\x1b[1mbold\x1b[22m \x1b[3mit\x1b[23m \x1b[4munder\x1b[24m");
}

static void test_emphasis_nesting(void **state)
{
  /* Only the outermost span of a style switches it. */
  const char *f = "<B>a <B>b</B> <I>c <U>d</U></I></B>";
  assert_summary(state, f, OWCP_RENDER_PLAIN, "*a b /c _d_/*");
  assert_summary(state, f, OWCP_RENDER_ANSI,
                 "\x1b[1ma b \x1b[3mc \x1b[4md\x1b[24m\x1b[23m\x1b[22m");
}

static void test_whitespace_collapsing(void **state)
{
  /* Runs collapse across spans, ends are trimmed, marks hug their text
   * and empty or blank spans vanish. */
  assert_summary(state, "  Hello \n\t <B> world </B>  !  ", OWCP_RENDER_PLAIN,
                 "Hello *world* !");
  assert_summary(state, "a<B> </B>b", OWCP_RENDER_PLAIN, "a b");
  assert_summary(state, "a<I></I>b", OWCP_RENDER_ANSI, "ab");
  assert_summary(state, "<U>  </U>", OWCP_RENDER_ANSI, "");
  assert_summary(state, "x<B>y</B>z", OWCP_RENDER_PLAIN, "x*y*z");
  assert_summary(state,
                 " Pay\n  <Money currency='usd' amount='9825.00'/>\n now ",
                 OWCP_RENDER_PLAIN, "Pay USD 9,825.00 now");
  assert_summary(state, "<B><Money currency='eur' amount='1000'/></B>",
                 OWCP_RENDER_ANSI, "\x1b[1mEUR 1,000\x1b[22m");
}

static void test_width_excludes_marks(void **state)
{
  size_t width = 0;
  char *s = summary(state, " <B>h\xc3\xa9llo</B> w ", OWCP_RENDER_ANSI, &width);
  assert_string_equal(s, "\x1b[1mh\xc3\xa9llo\x1b[22m w");
  assert_int_equal(width, 7); /* "héllo w": code points, not bytes */
  free(s);
}

/* ---- Escape-sequence neutralisation ---- */

static void test_controls_neutralised(void **state)
{
  /* XML 1.0 forbids ESC even as &#27;, but C1 CSI (U+009B) and bidi
   * overrides are legal XML characters: they are replaced. */
  assert_summary(state, "a&#x9b;31mb", OWCP_RENDER_PLAIN, "a" FFFD "31mb");
  assert_summary(state, "pay &#x202e;kcab", OWCP_RENDER_PLAIN,
                 "pay " FFFD "kcab");
  assert_summary(state, "x&#x85;y&#x7f;z", OWCP_RENDER_ANSI,
                 "x" FFFD "y" FFFD "z");
  assert_summary(state, "1&#x2028;2&#x2066;3&#x200f;4", OWCP_RENDER_PLAIN,
                 "1" FFFD "2" FFFD "3" FFFD "4");

  /* A caller-built text (not from XML) with a raw ESC, BEL, backspace and
   * a broken UTF-8 sequence. */
  struct owcp_span spans[] = {
      {.kind = OWCP_SPAN_TEXT, .text = "\x1b]0;pwned\x07ok\b\xc3("},
  };
  struct owcp_text t = {.count = 1, .spans = spans};
  struct owcp_error err = {{0}};
  size_t width = 0;
  char *s = owcp_render_text(&t, OWCP_RENDER_ANSI, &width, &err);
  assert_non_null(s);
  assert_string_equal(s, FFFD "]0;pwned" FFFD "ok" FFFD FFFD "(");
  assert_null(strchr(s, '\x1b'));
  assert_int_equal(width, 15);
  free(s);

  s = owcp_render_money("\x1b[2J", "1", &err);
  assert_non_null(s);
  assert_string_equal(s, FFFD "[2J 1");
  free(s);

  s = owcp_render_string(" evil\x1b[31m@example.com ", NULL, &err);
  assert_non_null(s);
  assert_string_equal(s, "evil" FFFD "[31m@example.com");
  free(s);
}

static void test_no_raw_escape_from_xml(void **state)
{
  /* Every raw control byte libxml2 could hand over is refused by the
   * parser itself or neutralised; the ESC byte never reaches output. */
  const char *xml = "<Request xmlns='" NS "'><Header><From>a&#x9b;@x</From>"
                    "<To>b@y</To><Summary>s</Summary></Header></Request>";
  struct owcp_request *req = parse_or_fail(state, xml);
  struct owcp_error err = {{0}};
  char *s = owcp_render_request(req, OWCP_RENDER_ANSI, &err);
  assert_non_null(s);
  assert_string_equal(s, "From: a" FFFD "@x\nTo: b@y\nSummary: s\n");
  free(s);
  owcp_request_free(req);

  const char *esc = "<Request xmlns='" NS "'><Header><From>a&#27;@x</From>"
                    "<To>b@y</To><Summary>s</Summary></Header></Request>";
  req = NULL;
  assert_int_equal(owcp_request_parse(*state, esc, strlen(esc), &req, &err),
                   OWCP_XML_INVALID);
  assert_null(req);
}

/* ---- Tables ---- */

static void test_table_alignment(void **state)
{
  const char *xml =
      "<Request xmlns='" NS "'><Header><From>a</From><To>b</To><Summary/>"
      "</Header><Body><Table>"
      "<TH><TD>Name</TD><TD>Qty</TD><TD>Note</TD></TH>"
      "<TR><TD>\xc3\x9cn\xc3\xaf"
      "c\xc3\xb8"
      "d\xc3\xa9</TD><TD>12</TD>"
      "<TD><B>x</B></TD></TR>"
      "<TR><TD>ab</TD></TR>"
      "<TR><TD/><TD>3</TD></TR>"
      "</Table></Body></Request>";
  struct owcp_request *req = parse_or_fail(state, xml);
  struct owcp_error err = {{0}};
  char *s = owcp_render_table(&req->body[0].table, OWCP_RENDER_PLAIN, &err);
  assert_non_null(s);
  /* "Ünïcødé" is 7 code points (11 bytes): the column is 7 wide. */
  assert_string_equal(s, "Name    | Qty | Note\n"
                         "--------+-----+-----\n"
                         "\xc3\x9cn\xc3\xaf"
                         "c\xc3\xb8"
                         "d\xc3\xa9 | 12  | *x*\n"
                         "ab\n"
                         "        | 3\n");
  free(s);
  /* ANSI marks take no column width. */
  s = owcp_render_table(&req->body[0].table, OWCP_RENDER_ANSI, &err);
  assert_non_null(s);
  assert_non_null(strstr(s, "| 12  | \x1b[1mx\x1b[22m\n"));
  assert_non_null(strstr(s, "Name    | Qty | Note\n"));
  free(s);
  owcp_request_free(req);
}

static void test_table_rules(void **state)
{
  /* A rule only between a header row and a following data row. */
  const char *xml = "<Request xmlns='" NS "'><Header><From>a</From><To>b"
                    "</To><Summary/></Header><Body><Table>"
                    "<TR><TD>r1</TD></TR><TH><TD>h1</TD></TH>"
                    "<TH><TD>h2</TD></TH><TR><TD>r2</TD></TR><TH><TD>h3</TD>"
                    "</TH></Table><Table/></Body></Request>";
  struct owcp_request *req = parse_or_fail(state, xml);
  struct owcp_error err = {{0}};
  char *s = owcp_render_table(&req->body[0].table, OWCP_RENDER_PLAIN, &err);
  assert_non_null(s);
  assert_string_equal(s, "r1\nh1\nh2\n--\nr2\nh3\n");
  free(s);
  s = owcp_render_table(&req->body[1].table, OWCP_RENDER_PLAIN, &err);
  assert_non_null(s);
  assert_string_equal(s, "");
  free(s);
  owcp_request_free(req);
}

/* ---- Whole requests ---- */

static void test_render_draft_payment(void **state)
{
  size_t len;
  char *xml = testutil_data_load("request_draft_payment.xml", &len);
  struct owcp_request *req = NULL;
  struct owcp_error err = {{0}};
  assert_int_equal(owcp_request_parse(*state, xml, len, &req, &err),
                   OWCP_XML_OK);
  free(xml);
  char *s = owcp_render_request(req, OWCP_RENDER_PLAIN, &err);
  assert_non_null(s);
  assert_string_equal(s, "From: access@example.com\n"
                         "To: alice@example.com\n"
                         "Type: Payment\n"
                         "Summary: Do you wish to transfer USD 9,825.00 to "
                         "the account of Barrister Mugu #666-201919 at Bank "
                         "of Nigeria?\n"
                         "\n"
                         "Form of transfer: Wire\n"
                         "\n"
                         "Item            | Amount\n"
                         "----------------+-------------\n"
                         "Expeditiary Fee | USD 9,825.00\n");
  free(s);
  owcp_request_free(req);
}

static void test_render_barcode_request(void **state)
{
  const char *xml = "<Request xmlns='" NS "'><Header><From>a</From><To>b"
                    "</To><Summary>Ticket</Summary></Header><Body>"
                    "<Barcode width='1' height='1' data='AQ=='/></Body>"
                    "</Request>";
  struct owcp_request *req = parse_or_fail(state, xml);
  struct owcp_error err = {{0}};
  char *s = owcp_render_request(req, OWCP_RENDER_PLAIN, &err);
  assert_non_null(s);
  /* One black pixel in a 4-pixel quiet zone: 9×9 pixels, 5 lines; the
   * pixel is row 4, the top half of line 2, column 4. */
  assert_string_equal(s, "From: a\nTo: b\nSummary: Ticket\n\n"
                         "         \n"
                         "         \n"
                         "    \xe2\x96\x80    \n"
                         "         \n"
                         "         \n");
  free(s);
  owcp_request_free(req);
}

/* One escape of s in form, compared with want. */
static void expect_escape(const char *s, enum owcp_escape_form form,
                          const char *want)
{
  struct owcp_error err = {{0}};
  char *got = owcp_render_escape(s, form, &err);
  assert_non_null(got);
  assert_string_equal(got, want);
  free(got);
}

/* owcp-admin's escaping: every code point the renderer neutralises stays
 * visible as an escape, ordinary text (non-ASCII included) is untouched,
 * and the text form doubles backslashes so it reads back unambiguously. */
static void test_escape_for_terminals(void **state)
{
  (void)state;
  expect_escape("Alice's phone \xc3\xa9", OWCP_ESCAPE_TEXT,
                "Alice's phone \xc3\xa9");
  expect_escape("a\x1b[2Jb\tc\n\x7f", OWCP_ESCAPE_TEXT,
                "a\\x1b[2Jb\\x09c\\x0a\\x7f");
  expect_escape("\xc2\x9b"
                "31m",
                OWCP_ESCAPE_TEXT, "\\u009b31m");
  expect_escape("x\xe2\x80\xaey\xe2\x81\xa6z\xe2\x80\x8e\xd8\x9c",
                OWCP_ESCAPE_TEXT, "x\\u202ey\\u2066z\\u200e\\u061c");
  expect_escape("\xe2\x80\xa8", OWCP_ESCAPE_TEXT, "\\u2028");
  expect_escape("bad\xff\xc3", OWCP_ESCAPE_TEXT, "bad\\xff\\xc3");
  expect_escape("C:\\x1b", OWCP_ESCAPE_TEXT, "C:\\\\x1b");
  /* JSON form: only what jansson leaves raw; backslashes untouched. */
  expect_escape("{\"d\":\"a\\u001b\xe2\x80\xae\x7f\xc2\x85\"}",
                OWCP_ESCAPE_JSON, "{\"d\":\"a\\u001b\\u202e\\u007f\\u0085\"}");
  /* Visible form (the audit console): brackets, backslashes untouched. */
  expect_escape("x\xe2\x80\xaey\x1b\\\xff<b>", OWCP_ESCAPE_VISIBLE,
                "x[U+202E]y[U+001B]\\[0xFF]<b>");
  expect_escape("\xc2\x9b\xe2\x81\xa9", OWCP_ESCAPE_VISIBLE,
                "[U+009B][U+2069]");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_money_formats),
      cmocka_unit_test(test_money_refused),
      cmocka_unit_test(test_emphasis_plain_and_ansi),
      cmocka_unit_test(test_emphasis_nesting),
      cmocka_unit_test(test_whitespace_collapsing),
      cmocka_unit_test(test_width_excludes_marks),
      cmocka_unit_test(test_controls_neutralised),
      cmocka_unit_test(test_no_raw_escape_from_xml),
      cmocka_unit_test(test_table_alignment),
      cmocka_unit_test(test_table_rules),
      cmocka_unit_test(test_render_draft_payment),
      cmocka_unit_test(test_render_barcode_request),
      cmocka_unit_test(test_escape_for_terminals),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
