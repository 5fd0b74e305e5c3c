/* Unit tests for owcp/request.h: the draft's examples, every structure
 * field, hostile documents and the limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "owcp/request.h"
#include "testutil.h"

#define NS "http://schema.comodo.com/2011/owcp/0.1"

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

/* Parses a test-data file; returns the result code and, on failure, leaves
 * the error sentence in err. */
static enum owcp_xml_result parse_file(void **state, const char *name,
                                       struct owcp_request **req,
                                       struct owcp_error *err)
{
  size_t len;
  char *xml = testutil_data_load(name, &len);
  enum owcp_xml_result rc = owcp_request_parse(*state, xml, len, req, err);
  free(xml);
  return rc;
}

static enum owcp_xml_result parse_str(void **state, const char *xml,
                                      struct owcp_request **req,
                                      struct owcp_error *err)
{
  return owcp_request_parse(*state, xml, strlen(xml), req, err);
}

static time_t utc(int y, int mo, int d, int h, int mi, int s)
{
  struct tm tm = {.tm_year = y - 1900,
                  .tm_mon = mo - 1,
                  .tm_mday = d,
                  .tm_hour = h,
                  .tm_min = mi,
                  .tm_sec = s};
  return timegm(&tm);
}

static void assert_text_span(const struct owcp_span *s, const char *text)
{
  assert_int_equal(s->kind, OWCP_SPAN_TEXT);
  assert_string_equal(s->text, text);
  assert_null(s->currency);
  assert_int_equal(s->children.count, 0);
}

static void assert_money_span(const struct owcp_span *s, const char *currency,
                              const char *amount)
{
  assert_int_equal(s->kind, OWCP_SPAN_MONEY);
  assert_string_equal(s->currency, currency);
  assert_string_equal(s->amount, amount);
  assert_null(s->text);
}

/* A single plain-text body; asserts the text is exactly one span. */
static void assert_plain(const struct owcp_text *t, const char *text)
{
  assert_int_equal(t->count, 1);
  assert_text_span(&t->spans[0], text);
}

/* ---- The draft's three examples, exactly as printed ---- */

/* The Access example validates as printed: all its content fits the
 * schema and it has no Body. */
static void test_draft_access(void **state)
{
  struct owcp_request *req = NULL;
  struct owcp_error err = {{0}};
  assert_int_equal(parse_file(state, "request_draft_access.xml", &req, &err),
                   OWCP_XML_OK);
  const struct owcp_request_header *h = &req->header;
  assert_string_equal(h->issued, "2011-06-08T09:30:10Z");
  assert_true(h->issued_time == utc(2011, 6, 8, 9, 30, 10));
  assert_string_equal(h->identifier, "http://access.example.com/2737827178");
  assert_string_equal(h->type, "Access");
  assert_string_equal(h->from, "access@example.com");
  assert_string_equal(h->to, "alice@example.com");
  assert_int_equal(h->verification_count, 1);
  assert_string_equal(h->verification[0], "PIN");
  assert_plain(&h->summary, "Do you wish to connect to the corporate network "
                            "from Laptop #234 issued to Alice?");
  assert_int_equal(h->reference_count, 0);
  assert_null(h->references);
  assert_false(req->has_body);
  assert_int_equal(req->body_count, 0);
  owcp_request_free(req);
}

/* The Payment example validates as printed: Money in Summary and in a TD,
 * a Table with a TH header row. Whitespace is kept exactly as printed. */
static void test_draft_payment(void **state)
{
  struct owcp_request *req = NULL;
  struct owcp_error err = {{0}};
  assert_int_equal(parse_file(state, "request_draft_payment.xml", &req, &err),
                   OWCP_XML_OK);
  const struct owcp_request_header *h = &req->header;
  assert_string_equal(h->type, "Payment");
  assert_int_equal(h->summary.count, 3);
  assert_text_span(&h->summary.spans[0], "Do you wish to transfer ");
  assert_money_span(&h->summary.spans[1], "usd", "9825.00");
  assert_text_span(&h->summary.spans[2], " to the account of Barrister Mugu "
                                         "#666-201919 at Bank of Nigeria? ");

  assert_true(req->has_body);
  assert_int_equal(req->body_count, 2);
  assert_int_equal(req->body[0].kind, OWCP_BODY_P);
  assert_plain(&req->body[0].text, " Form of transfer: Wire ");
  assert_null(req->body[0].barcode);

  assert_int_equal(req->body[1].kind, OWCP_BODY_TABLE);
  const struct owcp_table *t = &req->body[1].table;
  assert_int_equal(t->row_count, 2);
  assert_true(t->rows[0].header);
  assert_int_equal(t->rows[0].cell_count, 2);
  assert_plain(&t->rows[0].cells[0], " Item ");
  assert_plain(&t->rows[0].cells[1], " Amount ");
  assert_false(t->rows[1].header);
  assert_int_equal(t->rows[1].cell_count, 2);
  assert_plain(&t->rows[1].cells[0], " Expeditiary Fee ");
  const struct owcp_text *fee = &t->rows[1].cells[1];
  assert_int_equal(fee->count, 3);
  assert_text_span(&fee->spans[0], " ");
  assert_money_span(&fee->spans[1], "usd", "9825.00");
  assert_text_span(&fee->spans[2], " ");
  owcp_request_free(req);
}

/* The concert-ticket example does NOT validate as printed. Its data
 * "wusdjkw2owehofwoih==" is not even xs:base64Binary: before "==" the last
 * character must leave the 4 unused low bits zero (one of A, Q, g, w), and
 * 'h' does not, so the schema refuses it. Even with that fixed
 * ("...oig==") it decodes to 13 octets, far from the 165 a 33×33 bitmap
 * needs (33 rows of ceil(33/8) = 5 octets), so the length rule refuses it. */
static void test_draft_ticket_refused(void **state)
{
  struct owcp_request *req = NULL;
  struct owcp_error err = {{0}};
  size_t len;
  char *xml = testutil_data_load("request_draft_ticket.xml", &len);
  assert_int_equal(owcp_request_parse(*state, xml, len, &req, &err),
                   OWCP_XML_INVALID);
  assert_null(req);
  assert_non_null(strstr(err.msg, "Barcode"));
  assert_non_null(strstr(err.msg, "xs:base64Binary"));

  char *data = strstr(xml, "wusdjkw2owehofwoih==");
  assert_non_null(data);
  data[17] = 'g';
  assert_int_equal(owcp_request_parse(*state, xml, len, &req, &err),
                   OWCP_XML_INVALID);
  assert_null(req);
  assert_non_null(strstr(err.msg, "13 octets"));
  assert_non_null(strstr(err.msg, "exactly 165"));
  free(xml);
}

/* The ticket with a real 33×33 bitmap (165 octets, base64 wrapped over
 * lines) validates; every pixel matches the pattern the file documents. */
static void test_ticket_fixed(void **state)
{
  struct owcp_request *req = NULL;
  struct owcp_error err = {{0}};
  assert_int_equal(parse_file(state, "request_ticket_fixed.xml", &req, &err),
                   OWCP_XML_OK);
  assert_null(req->header.verification);
  assert_int_equal(req->body_count, 3);
  assert_plain(&req->body[0].text, " This is your ticket. ");
  assert_int_equal(req->body[2].kind, OWCP_BODY_BARCODE);
  const struct owcp_barcode *b = req->body[2].barcode;
  assert_non_null(b);
  assert_int_equal(b->width, 33);
  assert_int_equal(b->height, 33);
  assert_int_equal(b->bits_len, 165);
  for (size_t y = 0; y < 33; y++)
    for (size_t x = 0; x < 33; x++)
      assert_int_equal(owcp_barcode_pixel(b, x, y), (7 * x + 3 * y) % 5 == 0);
  owcp_request_free(req);
}

/* ---- Every structure field ---- */

static void test_full_document(void **state)
{
  struct owcp_request *req = NULL;
  struct owcp_error err = {{0}};
  assert_int_equal(parse_file(state, "request_full.xml", &req, &err),
                   OWCP_XML_OK);
  const struct owcp_request_header *h = &req->header;
  assert_string_equal(h->issued, "2026-11-22T10:00:00+01:00");
  assert_true(h->issued_time == utc(2026, 11, 22, 9, 0, 0));
  assert_string_equal(h->identifier, "urn:example:tx:42");
  assert_string_equal(h->from, "bank@example.com");
  assert_int_equal(h->verification_count, 2);
  assert_string_equal(h->verification[0], "PIN");
  assert_string_equal(h->verification[1], "Biometric");
  assert_int_equal(h->reference_count, 2);
  assert_string_equal(h->references[0], "invoice-17");
  assert_string_equal(h->references[1], "https://example.com/i/17");

  /* Summary: "Pay " Money " to " B("Bob " U("Smith")) "?" */
  const struct owcp_text *s = &h->summary;
  assert_int_equal(s->count, 5);
  assert_text_span(&s->spans[0], "Pay ");
  assert_money_span(&s->spans[1], "eur", "1234567.5");
  assert_text_span(&s->spans[2], " to ");
  assert_int_equal(s->spans[3].kind, OWCP_SPAN_BOLD);
  const struct owcp_text *bold = &s->spans[3].children;
  assert_int_equal(bold->count, 2);
  assert_text_span(&bold->spans[0], "Bob ");
  assert_int_equal(bold->spans[1].kind, OWCP_SPAN_UNDERLINE);
  assert_plain(&bold->spans[1].children, "Smith");
  assert_text_span(&s->spans[4], "?");

  assert_int_equal(req->body_count, 3);
  /* P: the comment vanishes, text around it merges, &amp; and CDATA are
   * character data. */
  const struct owcp_text *p = &req->body[0].text;
  assert_int_equal(p->count, 3);
  assert_text_span(&p->spans[0], "First ");
  assert_int_equal(p->spans[1].kind, OWCP_SPAN_ITALIC);
  assert_plain(&p->spans[1].children, "para");
  assert_text_span(&p->spans[2], "graph & <more>");

  const struct owcp_table *t = &req->body[1].table;
  assert_int_equal(t->row_count, 3);
  assert_true(t->rows[0].header);
  assert_int_equal(t->rows[0].cell_count, 3);
  assert_plain(&t->rows[0].cells[2], "Price");
  assert_int_equal(t->rows[1].cell_count, 3);
  assert_plain(&t->rows[1].cells[1], "2");
  assert_int_equal(t->rows[1].cells[2].count, 1);
  assert_money_span(&t->rows[1].cells[2].spans[0], "EUR", "-0012.50");
  assert_int_equal(t->rows[2].cell_count, 1);
  assert_plain(&t->rows[2].cells[0], "Gadget");

  const struct owcp_barcode *b = req->body[2].barcode;
  assert_int_equal(b->width, 3);
  assert_int_equal(b->height, 2);
  assert_true(owcp_barcode_pixel(b, 0, 0));
  assert_false(owcp_barcode_pixel(b, 1, 0));
  assert_true(owcp_barcode_pixel(b, 1, 1));
  owcp_request_free(req);
}

static void test_minimal_header(void **state)
{
  struct owcp_request *req = NULL;
  struct owcp_error err = {{0}};
  const char *xml = "<Request xmlns='" NS "'><Header><From>a@x</From>"
                    "<To>b@y</To><Summary/></Header><Body/></Request>";
  assert_int_equal(parse_str(state, xml, &req, &err), OWCP_XML_OK);
  assert_null(req->header.issued);
  assert_null(req->header.identifier);
  assert_null(req->header.type);
  assert_int_equal(req->header.summary.count, 0);
  assert_true(req->has_body);
  assert_int_equal(req->body_count, 0);
  owcp_request_free(req);
}

/* ---- Hostile documents ---- */

/* Each DOCTYPE document is refused as such: the parser stops at the
 * DOCTYPE, so neither the external entity nor the entity bomb is expanded
 * (the sentence carries none of their content). */
static void test_doctype_refused(void **state)
{
  const char *files[] = {"request_doctype.xml", "request_xxe.xml",
                         "request_billion_laughs.xml"};
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    struct owcp_request *req = (struct owcp_request *)1;
    struct owcp_error err = {{0}};
    assert_int_equal(parse_file(state, files[i], &req, &err), OWCP_XML_INVALID);
    assert_null(req);
    assert_string_equal(err.msg,
                        "XML Request must not contain a DOCTYPE declaration");
  }
}

/* libxml2 must never print: every diagnostic goes into the sentence. */
static void test_nothing_on_stderr(void **state)
{
  const char *files[] = {
      "request_doctype.xml",         "request_xxe.xml",
      "request_billion_laughs.xml",  "request_wrong_namespace.xml",
      "request_missing_summary.xml", "request_unknown_element.xml",
      "request_bad_money.xml",       "request_not_wellformed.xml",
      "request_latin1.xml",          "request_draft_ticket.xml"};
  FILE *capture = tmpfile();
  assert_non_null(capture);
  fflush(stderr);
  int saved = dup(STDERR_FILENO);
  assert_true(saved >= 0);
  assert_true(dup2(fileno(capture), STDERR_FILENO) >= 0);
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    struct owcp_request *req = NULL;
    struct owcp_error err = {{0}};
    enum owcp_xml_result rc = parse_file(state, files[i], &req, &err);
    if (rc != OWCP_XML_INVALID) {
      dup2(saved, STDERR_FILENO);
      fail_msg("%s was not refused", files[i]);
    }
  }
  fflush(stderr);
  assert_true(dup2(saved, STDERR_FILENO) >= 0);
  close(saved);
  assert_int_equal(fseek(capture, 0, SEEK_END), 0);
  assert_int_equal(ftell(capture), 0);
  fclose(capture);
}

static void assert_refused(void **state, const char *file, const char *what)
{
  struct owcp_request *req = NULL;
  struct owcp_error err = {{0}};
  assert_int_equal(parse_file(state, file, &req, &err), OWCP_XML_INVALID);
  assert_null(req);
  if (strstr(err.msg, what) == NULL)
    fail_msg("%s: \"%s\" lacks \"%s\"", file, err.msg, what);
}

static void test_schema_violations(void **state)
{
  assert_refused(state, "request_wrong_namespace.xml",
                 "No matching global declaration");
  assert_refused(state, "request_wrong_namespace.xml", "owcp/0.2}Request");
  assert_refused(state, "request_missing_summary.xml",
                 "Element 'Header': Missing child element(s)");
  assert_refused(state, "request_unknown_element.xml",
                 "Element 'Script': This element is not expected");
  assert_refused(state, "request_bad_money.xml",
                 "'9,825.00' is not a valid value of the atomic type "
                 "'xs:decimal'");
  assert_refused(state, "request_bad_money.xml", "line 2");
}

static void test_semantic_violations(void **state)
{
  assert_refused(state, "request_bad_currency.xml",
                 "Money attribute 'currency' must be a three-letter");
  assert_refused(state, "request_not_wellformed.xml",
                 "not well-formed (line 2: Opening and ending tag mismatch");
  assert_refused(state, "request_latin1.xml", "not proper UTF-8");
}

static void test_barcode_rules(void **state)
{
  struct {
    const char *attrs;
    const char *error;
  } cases[] = {
      {"width='3' height='2'", "needs 'width', 'height' and 'data'"},
      {"width='0' height='2' data='BQI='", "'width' must be an integer from 1"},
      {"width='3' height='-2' data='BQI='", "'height' must be an integer"},
      {"width='1025' height='1' data='AA=='", "from 1 to 1024"},
      {"width='3' height='3' data='BQI='", "2 octets but a 3x3 code"},
      {"width='3' height='2' data='BQJ='", "xs:base64Binary"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char xml[512];
    snprintf(xml, sizeof xml,
             "<Request xmlns='" NS "'><Header><From>a@x</From><To>b@y</To>"
             "<Summary>s</Summary></Header><Body><Barcode %s/></Body>"
             "</Request>",
             cases[i].attrs);
    struct owcp_request *req = NULL;
    struct owcp_error err = {{0}};
    assert_int_equal(parse_str(state, xml, &req, &err), OWCP_XML_INVALID);
    assert_null(req);
    if (strstr(err.msg, cases[i].error) == NULL)
      fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err.msg, cases[i].error);
  }
  /* Accepted forms of xs:integer and wrapped base64. */
  const char *ok = "<Request xmlns='" NS "'><Header><From>a@x</From><To>b@y"
                   "</To><Summary>s</Summary></Header><Body><Barcode "
                   "width=' +003 ' height='2' data=' BQ\nI= '/></Body>"
                   "</Request>";
  struct owcp_request *req = NULL;
  struct owcp_error err = {{0}};
  assert_int_equal(parse_str(state, ok, &req, &err), OWCP_XML_OK);
  assert_int_equal(req->body[0].barcode->width, 3);
  owcp_request_free(req);
}

static void test_issued_rules(void **state)
{
  struct owcp_request *req = NULL;
  struct owcp_error err = {{0}};
  /* Schema-valid xs:dateTime, but without a zone it is ambiguous. */
  const char *local = "<Request xmlns='" NS "'><Header "
                      "issued='2011-06-08T09:30:10'><From>a@x</From>"
                      "<To>b@y</To><Summary>s</Summary></Header></Request>";
  assert_int_equal(parse_str(state, local, &req, &err), OWCP_XML_INVALID);
  assert_non_null(strstr(err.msg, "Header attribute 'issued'"));
  const char *bad = "<Request xmlns='" NS "'><Header issued='yesterday'>"
                    "<From>a@x</From><To>b@y</To><Summary>s</Summary>"
                    "</Header></Request>";
  assert_int_equal(parse_str(state, bad, &req, &err), OWCP_XML_INVALID);
  assert_non_null(strstr(err.msg, "issued"));
}

static void test_malformed_inputs(void **state)
{
  struct owcp_request *req = NULL;
  struct owcp_error err = {{0}};
  assert_int_equal(owcp_request_parse(*state, NULL, 0, &req, &err),
                   OWCP_XML_INVALID);
  assert_string_equal(err.msg, "XML Request is empty");
  assert_int_equal(owcp_request_parse(*state, "", 0, &req, &err),
                   OWCP_XML_INVALID);
  const char *cases[] = {
      "   ",
      "<Request xmlns='" NS "'>",
      "<Request xmlns='" NS "'><Header><From>a</From><To>b</To><Summary>s"
      "</Summary></Header></Request><Request/>",
      "<Request xmlns='" NS "'><Header><From>&foo;</From><To>b</To>"
      "<Summary>s</Summary></Header></Request>",
      "<Request xmlns='" NS "'><Header><From>a</From><To>b</To><Summary>s"
      "</Summary></Header></Request>\x00 trailing",
      "<Request xmlns='" NS "' xmlns:xi='http://www.w3.org/2001/XInclude'>"
      "<Header><From>a</From><To>b</To><Summary><xi:include "
      "href='file:///etc/passwd' parse='text'/></Summary></Header></Request>",
  };
  size_t lens[] = {3, 0, 0, 0, 0, 0};
  lens[4] = strlen(cases[4]) + 10;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    size_t len = lens[i] != 0 ? lens[i] : strlen(cases[i]);
    if (owcp_request_parse(*state, cases[i], len, &req, &err) !=
        OWCP_XML_INVALID) {
      owcp_request_free(req);
      fail_msg("malformed case %zu accepted", i);
    }
    assert_null(req);
    assert_true(strlen(err.msg) > 0);
  }
  /* Bytes after a NUL would never be seen by the parser. */
  assert_int_equal(owcp_request_parse(*state, cases[4], lens[4], &req, &err),
                   OWCP_XML_INVALID);
  char expected[OWCP_ERROR_MAX];
  snprintf(expected, sizeof expected,
           "XML Request contains a NUL byte at offset %zu", strlen(cases[4]));
  assert_string_equal(err.msg, expected);
}

/* ---- Limits ---- */

static void test_size_limit(void **state)
{
  size_t max = owcp_xml_validator_limits(*state)->max_bytes;
  assert_int_equal(max, 64 * 1024);
  /* A valid document padded to exactly the limit is accepted ... */
  const char *doc = "<Request xmlns='" NS "'><Header><From>a@x</From><To>b@y"
                    "</To><Summary>s</Summary></Header></Request>";
  size_t doc_len = strlen(doc);
  char *buf = malloc(max + 1);
  assert_non_null(buf);
  assert_true(doc_len < max);
  assert_int_equal(snprintf(buf, max + 1, "%s", doc), (int)doc_len);
  /* Spaces over the terminator too: the parser gets a length, not a C
   * string, and must not read past it. */
  memset(buf + doc_len, ' ', max + 1 - doc_len);
  struct owcp_request *req = NULL;
  struct owcp_error err = {{0}};
  assert_int_equal(owcp_request_parse(*state, buf, max, &req, &err),
                   OWCP_XML_OK);
  owcp_request_free(req);
  /* ... and one byte more is "too large" (413), decided before parsing:
   * the same bytes with garbage in front still report the size. */
  assert_int_equal(owcp_request_parse(*state, buf, max + 1, &req, &err),
                   OWCP_XML_TOO_LARGE);
  assert_null(req);
  assert_string_equal(err.msg,
                      "XML Request is 65537 bytes, over the limit of 65536");
  buf[0] = '\x01';
  assert_int_equal(owcp_request_parse(*state, buf, max + 1, &req, &err),
                   OWCP_XML_TOO_LARGE);
  free(buf);
}

/* A Summary holding `levels` nested <B>; Request/Header/Summary are depths
 * 1..3, so the deepest B is at depth 3 + levels. */
static char *nested_doc(size_t levels)
{
  size_t cap = 256 + levels * 8;
  char *s = malloc(cap);
  assert_non_null(s);
  size_t n = (size_t)snprintf(s, cap,
                              "<Request xmlns='" NS "'><Header><From>a@x"
                              "</From><To>b@y</To><Summary>");
  for (size_t i = 0; i < levels; i++)
    n += (size_t)snprintf(s + n, cap - n, "<B>");
  n += (size_t)snprintf(s + n, cap - n, "x");
  for (size_t i = 0; i < levels; i++)
    n += (size_t)snprintf(s + n, cap - n, "</B>");
  snprintf(s + n, cap - n, "</Summary></Header></Request>");
  return s;
}

static void test_depth_limit(void **state)
{
  struct owcp_request *req = NULL;
  struct owcp_error err = {{0}};
  char *ok = nested_doc(29); /* deepest element at depth 32 */
  assert_int_equal(parse_str(state, ok, &req, &err), OWCP_XML_OK);
  const struct owcp_text *t = &req->header.summary;
  for (size_t i = 0; i < 29; i++) {
    assert_int_equal(t->count, 1);
    assert_int_equal(t->spans[0].kind, OWCP_SPAN_BOLD);
    t = &t->spans[0].children;
  }
  assert_plain(t, "x");
  owcp_request_free(req);
  free(ok);

  char *deep = nested_doc(30); /* depth 33 */
  assert_int_equal(parse_str(state, deep, &req, &err), OWCP_XML_INVALID);
  assert_null(req);
  assert_string_equal(err.msg, "XML Request nests elements deeper than 32 "
                               "levels (element 'B' at line 1)");
  free(deep);

  /* Far beyond libxml2's own guard: still a clean 400. */
  char *abyss = nested_doc(5000);
  assert_int_equal(parse_str(state, abyss, &req, &err), OWCP_XML_INVALID);
  assert_null(req);
  free(abyss);
}

static void test_custom_limits(void **state)
{
  (void)state;
  struct owcp_xml_limits l;
  owcp_xml_limits_default(&l);
  assert_int_equal(l.max_bytes, 65536);
  assert_int_equal(l.max_depth, 32);
  assert_int_equal(l.max_barcode_dim, 1024);
  struct owcp_error err = {{0}};
  l.max_bytes = 0;
  assert_null(owcp_xml_validator_new(&l, &err));
  assert_non_null(strstr(err.msg, "max_bytes"));
  owcp_xml_limits_default(&l);
  l.max_depth = 2;
  assert_null(owcp_xml_validator_new(&l, &err));
  assert_non_null(strstr(err.msg, "max_depth"));
  owcp_xml_limits_default(&l);
  l.max_barcode_dim = 0;
  assert_null(owcp_xml_validator_new(&l, &err));

  owcp_xml_limits_default(&l);
  l.max_bytes = 200;
  l.max_barcode_dim = 2;
  struct owcp_xml_validator *v = owcp_xml_validator_new(&l, &err);
  assert_non_null(v);
  void *vstate = v;
  struct owcp_request *req = NULL;
  assert_int_equal(parse_file(&vstate, "request_draft_access.xml", &req, &err),
                   OWCP_XML_TOO_LARGE);
  const char *wide = "<Request xmlns='" NS "'><Header><From>a</From><To>b"
                     "</To><Summary/></Header><Body><Barcode width='3' "
                     "height='2' data='BQI='/></Body></Request>";
  assert_int_equal(parse_str(&vstate, wide, &req, &err), OWCP_XML_INVALID);
  assert_non_null(strstr(err.msg, "from 1 to 2"));
  owcp_xml_validator_free(v);
}

/* ---- One validator shared by threads ---- */

struct worker {
  const struct owcp_xml_validator *v;
  const char *good, *bad;
  size_t good_len, bad_len;
  int failures;
};

static void *parse_many(void *arg)
{
  struct worker *w = arg;
  for (int i = 0; i < 50; i++) {
    struct owcp_request *req = NULL;
    struct owcp_error err = {{0}};
    if (owcp_request_parse(w->v, w->good, w->good_len, &req, &err) !=
            OWCP_XML_OK ||
        strcmp(req->header.type, "Payment") != 0)
      w->failures++;
    owcp_request_free(req);
    req = NULL;
    if (owcp_request_parse(w->v, w->bad, w->bad_len, &req, &err) !=
            OWCP_XML_INVALID ||
        strstr(err.msg, "xs:decimal") == NULL)
      w->failures++;
  }
  return NULL;
}

/* Per-call parser and validation contexts keep concurrent parses apart:
 * each thread sees its own results and its own error sentences. */
static void test_threads_share_validator(void **state)
{
  size_t good_len, bad_len;
  char *good = testutil_data_load("request_draft_payment.xml", &good_len);
  char *bad = testutil_data_load("request_bad_money.xml", &bad_len);
  struct worker workers[4];
  pthread_t threads[4];
  for (size_t i = 0; i < 4; i++) {
    workers[i] = (struct worker){*state, good, bad, good_len, bad_len, 0};
    assert_int_equal(pthread_create(&threads[i], NULL, parse_many, &workers[i]),
                     0);
  }
  for (size_t i = 0; i < 4; i++) {
    assert_int_equal(pthread_join(threads[i], NULL), 0);
    assert_int_equal(workers[i].failures, 0);
  }
  free(good);
  free(bad);
}

/* ---- Reading back a stored request ---- */

/* owcp_request_parse_stored(): what owcp_request_parse() builds from a
 * valid request, byte for byte the same fields; every reading and
 * structural refusal kept; only the schema is not run again (a document
 * the schema alone refuses is read). */
static void test_parse_stored(void **state)
{
  struct owcp_request *a = NULL, *b = NULL;
  struct owcp_error err = {{0}};
  size_t len;
  char *xml = testutil_data_load("request_full.xml", &len);

  assert_int_equal(owcp_request_parse(*state, xml, len, &a, &err), OWCP_XML_OK);
  assert_int_equal(owcp_request_parse_stored(*state, xml, len, &b, &err),
                   OWCP_XML_OK);
  assert_string_equal(a->header.from, b->header.from);
  assert_string_equal(a->header.to, b->header.to);
  assert_int_equal(a->header.verification_count, b->header.verification_count);
  for (size_t i = 0; i < a->header.verification_count; i++)
    assert_string_equal(a->header.verification[i], b->header.verification[i]);
  assert_int_equal(a->body_count, b->body_count);
  assert_int_equal(a->has_body, b->has_body);
  owcp_request_free(a);
  owcp_request_free(b);
  free(xml);
  const char *refused[] = {
      "request_doctype.xml",        "request_xxe.xml",
      "request_billion_laughs.xml", "request_not_wellformed.xml",
      "request_latin1.xml",         "request_bad_currency.xml",
      "request_unknown_element.xml"};
  for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
    xml = testutil_data_load(refused[i], &len);
    b = (struct owcp_request *)1;
    if (owcp_request_parse_stored(*state, xml, len, &b, &err) !=
        OWCP_XML_INVALID)
      fail_msg("%s read as a stored request", refused[i]);
    assert_null(b);
    free(xml);
  }
  /* Schema-only: a decimal with a thousands separator. */
  xml = testutil_data_load("request_bad_money.xml", &len);
  assert_int_equal(owcp_request_parse(*state, xml, len, &a, &err),
                   OWCP_XML_INVALID);
  assert_int_equal(owcp_request_parse_stored(*state, xml, len, &b, &err),
                   OWCP_XML_OK);
  owcp_request_free(b);
  free(xml);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_draft_access),
      cmocka_unit_test(test_draft_payment),
      cmocka_unit_test(test_draft_ticket_refused),
      cmocka_unit_test(test_ticket_fixed),
      cmocka_unit_test(test_full_document),
      cmocka_unit_test(test_minimal_header),
      cmocka_unit_test(test_doctype_refused),
      cmocka_unit_test(test_nothing_on_stderr),
      cmocka_unit_test(test_schema_violations),
      cmocka_unit_test(test_semantic_violations),
      cmocka_unit_test(test_barcode_rules),
      cmocka_unit_test(test_issued_rules),
      cmocka_unit_test(test_malformed_inputs),
      cmocka_unit_test(test_size_limit),
      cmocka_unit_test(test_depth_limit),
      cmocka_unit_test(test_custom_limits),
      cmocka_unit_test(test_threads_share_validator),
      cmocka_unit_test(test_parse_stored),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
