/* mras_xml.c: the MS-AVEDGEA request checks (seed 003_…: §2.2, §3.1.5)
 * and the response document — every reasonPhrase with its SIP status
 * (§3.1.5.6), requestID length, version negotiation (1.0, 2.0, 3.0 served;
 * Version Mismatch with the highest version below the client's), 1..100
 * credentialsRequest (more: Request Too Large), malformed requests
 * answered without requestID/to/from, what SIPE sends (prefixes, xmlns:xsi,
 * attribute order), and hostile XML (DOCTYPE, entities, oversize, depth). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mras_xml.h"
#include "testutil.h"

#define NS "http://schemas.microsoft.com/2006/09/sip/mrasp"
#define CRED(id, extra)                                                        \
  "<credentialsRequest credentialsRequestID=\"" id "\">"                       \
  "<identity>sip:alice@example.com</identity>" extra "</credentialsRequest>"
#define REQ(attrs, body)                                                       \
  "<request " attrs " xmlns=\"" NS "\">" body "</request>"
#define STD_ATTRS(version)                                                     \
  "requestID=\"123\" from=\"sip:alice@example.com\" version=\"" version        \
  "\" to=\"sip:MRASLoc.example.com@example.com\""

static enum mras_reason parse(const char *xml, struct mras_request *r)
{
  struct owcp_error err = {{0}};
  enum mras_reason rc = mras_request_parse(xml, strlen(xml), r, &err);
  if (rc != MRAS_OK)
    assert_true(err.msg[0] != '\0'); /* every refusal says why */
  return rc;
}

static void expect_reason(const char *xml, enum mras_reason want)
{
  struct mras_request r;
  enum mras_reason got = parse(xml, &r);
  if (got != want)
    fail_msg("want %s, got %s for %s", mras_reason_phrase(want),
             mras_reason_phrase(got), xml);
  if (got == MRAS_MALFORMED) {
    /* Nothing to echo. */
    assert_null(r.request_id);
    assert_null(r.to);
    assert_null(r.from);
    assert_int_equal(r.count, 0);
  }
  mras_request_free(&r);
}

static char *build(const struct mras_request *req, enum mras_reason rc,
                   const struct mras_cred_response *items, size_t n)
{
  char *xml = NULL;
  size_t len = 0;
  struct owcp_error err = {{0}};
  assert_int_equal(mras_response_build(req, rc, items, n, &xml, &len, &err), 0);
  assert_int_equal(strlen(xml), len);
  return xml;
}

static void test_reason_table(void **state)
{
  (void)state;
  /* The seed's §2.2.4.7 enumeration with §3.1.5.6's SIP codes. */
  static const struct {
    const char *phrase;
    enum mras_reason r;
    unsigned sip;
  } table[] = {{"OK", MRAS_OK, 200},
               {"Request Malformed", MRAS_MALFORMED, 400},
               {"Request Too Large", MRAS_TOO_LARGE, 413},
               {"Not Supported", MRAS_NOT_SUPPORTED, 501},
               {"Server Busy", MRAS_SERVER_BUSY, 486},
               {"Time Out", MRAS_TIME_OUT, 408},
               {"Forbidden", MRAS_FORBIDDEN, 403},
               {"Internal Server Error", MRAS_INTERNAL_ERROR, 500},
               {"Other Failure", MRAS_OTHER_FAILURE, 500},
               {"Version Mismatch", MRAS_VERSION_MISMATCH, 501}};
  struct mras_request req;
  assert_int_equal(parse(REQ(STD_ATTRS("2.0"), CRED("1", "")), &req), MRAS_OK);
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
    assert_string_equal(mras_reason_phrase(table[i].r), table[i].phrase);
    assert_int_equal(mras_reason_sip_status(table[i].r), table[i].sip);
    /* Each phrase goes into a response body; only Request Malformed
     * leaves out requestID, to and from. */
    char *xml = build(&req, table[i].r, NULL, 0);
    char want[64];
    snprintf(want, sizeof want, "reasonPhrase=\"%s\"", table[i].phrase);
    assert_non_null(strstr(xml, want));
    assert_non_null(strstr(xml, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"));
    assert_non_null(strstr(xml, "<response xmlns=\"" NS "\""));
    assert_null(strstr(xml, "credentialsResponse"));
    bool echo = table[i].r != MRAS_MALFORMED;
    assert_int_equal(strstr(xml, "requestID=\"123\"") != NULL, echo);
    assert_int_equal(strstr(xml, "from=\"sip:alice@example.com\"") != NULL,
                     echo);
    assert_int_equal(
        strstr(xml, "to=\"sip:MRASLoc.example.com@example.com\"") != NULL,
        echo);
    free(xml);
  }
  mras_request_free(&req);
  /* Malformed without a request at all. */
  char *xml = build(NULL, MRAS_MALFORMED, NULL, 0);
  assert_non_null(strstr(xml, "version=\"3.0\" serverVersion=\"3.0\" "
                              "reasonPhrase=\"Request Malformed\""));
  free(xml);
}

static void test_sipe_request(void **state)
{
  (void)state;
  /* pidgin-sipe's template: one line, no declaration, xmlns:xsi, its
   * attribute order (interop notes §3). */
  const char *sipe =
      "<request requestID=\"98765\" from=\"sip:alice@example.com\" "
      "version=\"1.0\" to=\"sip:MRASLoc.example.com@example.com\" "
      "xmlns=\"" NS
      "\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">"
      "<credentialsRequest credentialsRequestID=\"98765\"><identity>"
      "sip:alice@example.com</identity><location>internet</location>"
      "<duration>480</duration></credentialsRequest></request>";
  struct mras_request r;
  assert_int_equal(parse(sipe, &r), MRAS_OK);
  assert_string_equal(r.request_id, "98765");
  assert_string_equal(r.version, "1.0");
  assert_string_equal(r.response_version, "1.0");
  assert_int_equal(r.count, 1);
  assert_string_equal(r.items[0].id, "98765");
  assert_string_equal(r.items[0].identity, "sip:alice@example.com");
  assert_int_equal(r.items[0].location, MRAS_LOC_INTERNET);
  assert_int_equal(r.items[0].duration, 480);
  assert_false(r.items[0].directip);
  struct mras_cred_response c = {.id = "98765",
                                 .username = "1700028800:sip:alice@example.com",
                                 .password = "IuWXfw+Y/M9qedHT5SKefVjOjsI=",
                                 .duration = 480,
                                 .location = MRAS_LOC_INTERNET,
                                 .host = "turn.example.com",
                                 .udp_port = 3478,
                                 .tcp_port = 443};
  char *xml = build(&r, MRAS_OK, &c, 1);
  /* 1.0: no serverVersion (seed §3.1.5.3 MUST NOT). */
  assert_null(strstr(xml, "serverVersion"));
  assert_non_null(strstr(
      xml, "<credentialsResponse credentialsRequestID=\"98765\">"
           "<credentials><username>1700028800:sip:alice@example.com</username>"
           "<password>IuWXfw+Y/M9qedHT5SKefVjOjsI=</password>"
           "<duration>480</duration></credentials><mediaRelayList>"
           "<mediaRelay><location>internet</location>"
           "<hostName>turn.example.com</hostName><udpPort>3478</udpPort>"
           "<tcpPort>443</tcpPort></mediaRelay></mediaRelayList>"
           "</credentialsResponse>"));
  free(xml);
  /* A direct relay names its address; a realm when given. */
  c.direct = true;
  c.host = "192.0.2.7";
  c.realm = "example.com";
  c.location = MRAS_LOC_INTRANET;
  xml = build(&r, MRAS_OK, &c, 1);
  assert_non_null(strstr(xml, "<directIPAddress>192.0.2.7</directIPAddress>"));
  assert_non_null(strstr(xml, "<realm>example.com</realm>"));
  assert_non_null(strstr(xml, "<location>intranet</location>"));
  free(xml);
  mras_request_free(&r);
}

static void test_tolerated_shapes(void **state)
{
  (void)state;
  struct mras_request r;
  /* Prefixes, a declaration, attributes reordered, comments and
   * whitespace between elements, several requests, route element and
   * attribute, xsi attributes, no location or duration. */
  const char *xml =
      "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
      "<m:request xmlns:m=\"" NS "\" to=\"sips:relay@example.com\" "
      "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
      "xsi:type=\"m:requestType\" version=\"3.0\" route=\"loadbalanced\" "
      "from=\"sip:alice@example.com\" requestID=\"a\">\n  <!-- c -->\n"
      "  <m:credentialsRequest credentialsRequestID=\"1\">"
      "<m:identity>sip:alice@example.com</m:identity></m:credentialsRequest>\n"
      "  <m:credentialsRequest credentialsRequestID=\"2\">"
      "<m:identity>sip:alice@example.com</m:identity>"
      "<m:location> intranet </m:location><m:duration>+030</m:duration>"
      "<m:route>directip</m:route></m:credentialsRequest>\n"
      "</m:request>";
  assert_int_equal(parse(xml, &r), MRAS_OK);
  assert_int_equal(r.count, 2);
  assert_int_equal(r.items[0].location, MRAS_LOC_NONE);
  assert_int_equal(r.items[0].duration, 0);
  assert_false(r.items[0].directip);
  assert_int_equal(r.items[1].location, MRAS_LOC_INTRANET);
  assert_int_equal(r.items[1].duration, 30);
  assert_true(r.items[1].directip);
  char *out = build(&r, MRAS_OK, NULL, 0);
  assert_non_null(strstr(out, "version=\"3.0\" serverVersion=\"3.0\""));
  free(out);
  mras_request_free(&r);
  /* The request's route attribute applies to every credentialsRequest. */
  assert_int_equal(
      parse(REQ(STD_ATTRS("2.0") " route=\"directip\"", CRED("1", "")), &r),
      MRAS_OK);
  assert_true(r.items[0].directip);
  mras_request_free(&r);
  /* A huge duration is kept large (clamped by the caller). */
  assert_int_equal(
      parse(REQ(STD_ATTRS("2.0"),
                CRED("1", "<duration>99999999999999999999</duration>")),
            &r),
      MRAS_OK);
  assert_true(r.items[0].duration >= 999999999L);
  mras_request_free(&r);
}

static void test_request_id(void **state)
{
  (void)state;
  char xml[4096], id[80];
  for (size_t n = 63; n <= 65; n++) {
    memset(id, '7', n);
    id[n] = '\0';
    snprintf(xml, sizeof xml,
             "<request requestID=\"%s\" from=\"sip:a@example.com\" "
             "version=\"2.0\" to=\"sip:m@example.com\" xmlns=\"" NS "\">"
             "<credentialsRequest credentialsRequestID=\"%s\"><identity>x"
             "</identity></credentialsRequest></request>",
             id, id);
    expect_reason(xml, n <= 64 ? MRAS_OK : MRAS_MALFORMED);
  }
  /* A multi-byte character counts once. */
  memset(id, 'e', 62);
  memcpy(id + 62, "\xc3\xa9\xc3\xa9", 5);
  snprintf(xml, sizeof xml,
           "<request requestID=\"%s\" from=\"sip:a@example.com\" "
           "version=\"2.0\" to=\"sip:m@example.com\" xmlns=\"" NS
           "\">" CRED("1", "") "</request>",
           id);
  expect_reason(xml, MRAS_OK);
  expect_reason(REQ("requestID=\"\" from=\"sip:a@example.com\" version=\"2.0\" "
                    "to=\"sip:m@example.com\"",
                    CRED("1", "")),
                MRAS_MALFORMED);
}

static void test_versions(void **state)
{
  (void)state;
  static const struct {
    const char *v;
    enum mras_reason r;
    const char *answered;
  } cases[] = {{"1.0", MRAS_OK, "1.0"},
               {"2.0", MRAS_OK, "2.0"},
               {"3.0", MRAS_OK, "3.0"},
               {"4.0", MRAS_VERSION_MISMATCH, "3.0"},
               {"3.5", MRAS_VERSION_MISMATCH, "3.0"},
               {"2.1", MRAS_VERSION_MISMATCH, "2.0"},
               {"1.5", MRAS_VERSION_MISMATCH, "1.0"},
               {"0.9", MRAS_VERSION_MISMATCH, "3.0"},
               {"10.0", MRAS_VERSION_MISMATCH, "3.0"}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char xml[1024];
    struct mras_request r;
    snprintf(xml, sizeof xml,
             "<request requestID=\"5\" from=\"sip:a@example.com\" "
             "version=\"%s\" to=\"sip:m@example.com\" xmlns=\"" NS
             "\">" CRED("5", "") "</request>",
             cases[i].v);
    assert_int_equal(parse(xml, &r), cases[i].r);
    assert_string_equal(r.response_version, cases[i].answered);
    char *out = build(&r, cases[i].r, NULL, 0);
    char want[64];
    snprintf(want, sizeof want, "version=\"%s\"", cases[i].answered);
    assert_non_null(strstr(out, want));
    /* A mismatch still echoes requestID, to and from. */
    assert_non_null(strstr(out, "requestID=\"5\""));
    free(out);
    mras_request_free(&r);
  }
  /* Not a version at all: malformed. */
  const char *bad[] = {"1", "1.0.0", "a.b", "123.45", ""};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char xml[1024];
    snprintf(xml, sizeof xml,
             "<request requestID=\"5\" from=\"sip:a@example.com\" "
             "version=\"%s\" to=\"sip:m@example.com\" xmlns=\"" NS
             "\">" CRED("5", "") "</request>",
             bad[i]);
    expect_reason(xml, MRAS_MALFORMED);
  }
}

/* A request with n credentialsRequest. */
static char *many(size_t n)
{
  size_t size = 256 + n * 160;
  char *xml = malloc(size);
  size_t used = (size_t)snprintf(
      xml, size, "<request " STD_ATTRS("2.0") " xmlns=\"" NS "\">");
  for (size_t i = 0; i < n; i++)
    used += (size_t)snprintf(xml + used, size - used,
                             "<credentialsRequest credentialsRequestID=\"%zu\">"
                             "<identity>sip:alice@example.com</identity>"
                             "</credentialsRequest>",
                             i);
  snprintf(xml + used, size - used, "</request>");
  return xml;
}

static void test_counts(void **state)
{
  (void)state;
  struct mras_request r;
  char *xml = many(1);
  assert_int_equal(parse(xml, &r), MRAS_OK);
  mras_request_free(&r);
  free(xml);
  xml = many(100);
  assert_int_equal(parse(xml, &r), MRAS_OK);
  assert_int_equal(r.count, 100);
  assert_string_equal(r.items[99].id, "99");
  mras_request_free(&r);
  free(xml);
  xml = many(101);
  assert_int_equal(parse(xml, &r), MRAS_TOO_LARGE);
  /* Not malformed: the answer echoes the request. */
  assert_string_equal(r.request_id, "123");
  char *out = build(&r, MRAS_TOO_LARGE, NULL, 0);
  assert_non_null(strstr(out, "requestID=\"123\""));
  assert_non_null(strstr(out, "reasonPhrase=\"Request Too Large\""));
  free(out);
  mras_request_free(&r);
  free(xml);
  /* None at all: malformed (minOccurs 1). */
  expect_reason(REQ(STD_ATTRS("2.0"), ""), MRAS_MALFORMED);
}

static void test_malformed(void **state)
{
  (void)state;
  const char *cases[] = {
      "",
      "not xml",
      "<request",
      /* another namespace, another root */
      "<request " STD_ATTRS("2.0") " xmlns=\"urn:x\">" CRED("1",
                                                            "") "</request>",
      "<response " STD_ATTRS("2.0") " xmlns=\"" NS "\"/>",
      /* a required attribute missing */
      REQ("requestID=\"1\" version=\"2.0\" to=\"sip:m@example.com\"",
          CRED("1", "")),
      REQ("requestID=\"1\" from=\"sip:a@example.com\" to=\"sip:m@x.com\"",
          CRED("1", "")),
      /* an unknown attribute or element */
      REQ(STD_ATTRS("2.0") " extra=\"1\"", CRED("1", "")),
      REQ(STD_ATTRS("2.0"), CRED("1", "<extra/>")),
      REQ(STD_ATTRS("2.0"), "<other/>"),
      /* text where only elements go */
      REQ(STD_ATTRS("2.0"), "text" CRED("1", "")),
      /* bad values */
      REQ(STD_ATTRS("2.0"), CRED("1", "<location>moon</location>")),
      REQ(STD_ATTRS("2.0"), CRED("1", "<duration>0</duration>")),
      REQ(STD_ATTRS("2.0"), CRED("1", "<duration>-5</duration>")),
      REQ(STD_ATTRS("2.0"), CRED("1", "<duration>5m</duration>")),
      REQ(STD_ATTRS("2.0"), CRED("1", "<route>anywhere</route>")),
      REQ(STD_ATTRS("2.0") " route=\"anywhere\"", CRED("1", "")),
      /* order: duration before location */
      REQ(STD_ATTRS("2.0"), CRED("1", "<duration>5</duration>"
                                      "<location>intranet</location>")),
      /* identity missing or empty, credentialsRequestID missing */
      REQ(STD_ATTRS("2.0"), "<credentialsRequest credentialsRequestID=\"1\">"
                            "<location>intranet</location>"
                            "</credentialsRequest>"),
      REQ(STD_ATTRS("2.0"), "<credentialsRequest credentialsRequestID=\"1\">"
                            "<identity></identity></credentialsRequest>"),
      REQ(STD_ATTRS("2.0"), "<credentialsRequest><identity>x</identity>"
                            "</credentialsRequest>"),
      /* to / from that are no SIP URIs */
      REQ("requestID=\"1\" from=\"alice@example.com\" version=\"2.0\" "
          "to=\"sip:m@example.com\"",
          CRED("1", "")),
      REQ("requestID=\"1\" from=\"sip:a@example.com\" version=\"2.0\" "
          "to=\"http://example.com/\"",
          CRED("1", "")),
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    expect_reason(cases[i], MRAS_MALFORMED);
}

static void test_hostile(void **state)
{
  (void)state;
  /* DOCTYPE, internal and external entities: refused, nothing expanded. */
  expect_reason(
      "<!DOCTYPE request [<!ENTITY e \"sip:alice@example.com\">]>"
      "<request " STD_ATTRS(
          "2.0") " xmlns=\"" NS "\">"
                 "<credentialsRequest credentialsRequestID=\"1\"><identity>&e;"
                 "</identity></credentialsRequest></request>",
      MRAS_MALFORMED);
  expect_reason("<!DOCTYPE r SYSTEM \"file:///etc/passwd\"><request/>",
                MRAS_MALFORMED);
  expect_reason("<!DOCTYPE r [<!ENTITY a \"aaaa\"><!ENTITY b \"&a;&a;&a;\">]>"
                "<request>&b;</request>",
                MRAS_MALFORMED);
  /* Too deep: beyond the schema's depth. */
  expect_reason(REQ(STD_ATTRS("2.0"),
                    CRED("1", "<duration><a><b><c/></b></a></duration>")),
                MRAS_MALFORMED);
  /* Oversize: larger than MRAS_XML_MAX_BYTES is Request Too Large without
   * being parsed. */
  size_t n = MRAS_XML_MAX_BYTES + 16;
  char *big = malloc(n + 1);
  memset(big, ' ', n);
  memcpy(big, "<request>", 9);
  big[n] = '\0';
  struct mras_request r;
  struct owcp_error err = {{0}};
  assert_int_equal(mras_request_parse(big, n, &r, &err), MRAS_TOO_LARGE);
  assert_null(r.request_id);
  assert_string_equal(r.response_version, "3.0");
  mras_request_free(&r);
  free(big);
  /* An embedded NUL is not a shorter document. */
  const char nul[] = "<request " STD_ATTRS("2.0") " xmlns=\"" NS "\">\0"
                                                  "</request>";
  assert_int_equal(mras_request_parse(nul, sizeof nul - 1, &r, &err),
                   MRAS_MALFORMED);
  mras_request_free(&r);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reason_table),
      cmocka_unit_test(test_sipe_request),
      cmocka_unit_test(test_tolerated_shapes),
      cmocka_unit_test(test_request_id),
      cmocka_unit_test(test_versions),
      cmocka_unit_test(test_counts),
      cmocka_unit_test(test_malformed),
      cmocka_unit_test(test_hostile),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
