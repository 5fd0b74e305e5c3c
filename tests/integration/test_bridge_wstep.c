/*
 * test_bridge_wstep.c — owcp-bridge's WSTEP front end to end (issue 13):
 * requests shaped like Windows CES, cepces, PBIS and MS-MDE2 clients over
 * real HTTP to a real bridge, with a real dispatcher, a real user device
 * (libowcp-client) and a real FreeRADIUS checking the UsernameTokens.
 * Issue -> "Taken Under Submission" -> Accept -> QueryTokenStatus Issued
 * (certificate checked with openssl and the PKIResponse with asn1crypto),
 * polling the Reference URI, Reject, another account's query, every fault
 * of the table, hostile XML, KET, an anonymous renewal signed by the old
 * certificate, a dispatcher that is down, a pending request answered
 * while the bridge was down, expiry, the cached: and off policies, and
 * `owcp-bridge certificates`.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/x509v3.h>

#include "bridge_fixture.h"
#include "testutil.h"
#include "wstep_itest.h"

#define QUERY_TYPE                                                             \
  "http://schemas.microsoft.com/windows/pki/2009/01/enrollment/"               \
  "QueryTokenStatus"
#define V1_USER "1.3.6.1.4.1.311.20.2=ASN1:BMPSTRING:User"
#define V1_MAIL "1.3.6.1.4.1.311.20.2=ASN1:BMPSTRING:Mail"
#define V2_USER "1.3.6.1.4.1.311.21.7=" FX_OTHER_TEMPLATE_V2
#define UPN_ALICE                                                              \
  "subjectAltName=otherName:1.3.6.1.4.1.311.20.2.3;UTF8:alice@example.com"
#define UPN_BOB                                                                \
  "subjectAltName=otherName:1.3.6.1.4.1.311.20.2.3;UTF8:bob@example.com"
#define SHORT_TIMEOUT 3

/* The certificate the first test issued to alice (the renewal renews it). */
static unsigned char *alice_cert;
static size_t alice_cert_len;

static int setup(void **state)
{
  struct bridge_world *w = calloc(1, sizeof *w);
  assert_non_null(w);
  *state = w;
  bridge_world_setup(w, "wstep", true);
  wstep_world_configure(w, "required");
  bridge_itest_start(&w->bridge);
  return 0;
}

static int teardown(void **state)
{
  free(alice_cert);
  return bridge_world_group_teardown(state);
}

static struct wstep_req issue_req(enum wstep_shape shape,
                                  const unsigned char *csr, size_t len)
{
  return (struct wstep_req){.shape = shape,
                            .token = csr,
                            .token_len = len,
                            .user = WSTEP_ALICE,
                            .password = BRIDGE_ITEST_OTP};
}

/* A cepces-style QueryTokenStatus (empty token) for id as user. */
static void query(struct bridge_world *w, const char *path, const char *id,
                  const char *user, struct wstep_resp *out)
{
  struct wstep_req q = {.shape = SHAPE_CEPCES,
                        .request_type = QUERY_TYPE,
                        .empty_token = true,
                        .request_id = id,
                        .user = user,
                        .password = BRIDGE_ITEST_OTP};
  wstep_call(w, path, &q, out);
}

/* Fails unless r is "Taken Under Submission" naming the bridge's own URL. */
static void expect_pending(struct bridge_world *w, const struct wstep_resp *r)
{
  char uri[256];
  snprintf(uri, sizeof uri, "%s" WSTEP_PATH, w->bridge.root);
  if (r->status != 200 || r->disposition == NULL ||
      strcmp(r->disposition, "Taken Under Submission") != 0 ||
      r->reference == NULL || strcmp(r->reference, uri) != 0 ||
      r->request_id == NULL || strtol(r->request_id, NULL, 10) <= 0 ||
      r->cert != NULL || r->action == NULL ||
      strstr(r->action, "/RSTRC/wstep") == NULL) {
    itest_fail("not pending: HTTP %ld %s", r->status, r->body);
  }
}

static char *answer(struct bridge_world *w, const char *account,
                    enum owcp_answer a)
{
  return bridge_itest_device_answer(w->device, account, a, 10);
}

/* Issue (shape) -> pending; returns the RequestID text (caller frees). */
static char *submit(struct bridge_world *w, enum wstep_shape shape,
                    const unsigned char *csr, size_t len)
{
  struct wstep_req r = issue_req(shape, csr, len);
  struct wstep_resp p;
  wstep_call(w, NULL, &r, &p);
  expect_pending(w, &p);
  char *id = strdup(p.request_id);
  wstep_resp_free(&p);
  return id;
}

/* Issue (shape) -> pending -> Accept -> QueryTokenStatus Issued, checked. */
static void accepted_issued(struct bridge_world *w, enum wstep_shape shape,
                            const unsigned char *csr, size_t len)
{
  char *id = submit(w, shape, csr, len);
  free(answer(w, WSTEP_ALICE_ACCOUNT, OWCP_ANSWER_ACCEPT));
  struct wstep_resp r;
  query(w, NULL, id, WSTEP_ALICE, &r);
  wstep_check_issued(w, &r, csr, len);
  wstep_resp_free(&r);
  free(id);
}

/* The issued certificate's profile: not a CA, exactly the template's EKUs. */
static void check_profile(const struct wstep_resp *r, const char *subject,
                          int eku_count)
{
  const unsigned char *p = r->cert;
  X509 *x = d2i_X509(NULL, &p, (long)r->cert_len);
  assert_non_null(x);
  assert_int_equal(X509_check_ca(x), 0);
  EXTENDED_KEY_USAGE *eku = X509_get_ext_d2i(x, NID_ext_key_usage, NULL, NULL);
  assert_non_null(eku);
  assert_int_equal(sk_ASN1_OBJECT_num(eku), eku_count);
  EXTENDED_KEY_USAGE_free(eku);
  char name[256];
  X509_NAME_oneline(X509_get_subject_name(x), name, sizeof name);
  assert_string_equal(name, subject);
  X509_free(x);
}

/* `owcp-bridge certificates` lists it for alice, not for bob. */
static void check_listed(struct bridge_world *w, const unsigned char *der,
                         size_t len)
{
  const unsigned char *p = der;
  X509 *x = d2i_X509(NULL, &p, (long)len);
  assert_non_null(x);
  BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
  char *hex = BN_bn2hex(bn);
  const char *serial = hex;
  while (*serial == '0')
    serial++;
  char line[256];
  snprintf(line, sizeof line, "%s\t", serial);
  char *all = wstep_certificates(w, WSTEP_ALICE_ACCOUNT);
  char *s = strstr(all, line);
  assert_non_null(s);
  assert_non_null(strstr(s, "\tUser\talice@example.com\t"));
  assert_non_null(strstr(s, "\tCN=alice@example.com\n"));
  free(all);
  all = wstep_certificates(w, WSTEP_BOB_ACCOUNT);
  assert_null(strstr(all, line));
  assert_non_null(strstr(all, "serial\tissued"));
  free(all);
  OPENSSL_free(hex);
  BN_free(bn);
  X509_free(x);
}

/* ---- the main path -------------------------------------------------------
 */

static void test_issue_pending_accept_issued(void **state)
{
  struct bridge_world *w = *state;
  size_t len = 0;
  unsigned char *csr =
      wstep_csr(w, (const char *const[]){V1_USER, UPN_ALICE, NULL}, &len);
  char *id = submit(w, SHAPE_WINDOWS, csr, len);
  struct wstep_resp r;
  query(w, NULL, id, WSTEP_ALICE, &r); /* not answered yet */
  expect_pending(w, &r);
  wstep_resp_free(&r);
  char *shown = answer(w, WSTEP_ALICE_ACCOUNT, OWCP_ANSWER_ACCEPT);
  assert_non_null(strstr(shown, "Issue certificate 'User' "
                                "(CN=alice@example.com, valid 365 days) to "
                                "alice@example.com?"));
  free(shown);
  /* cepces polls the Reference URI: the path of the pending answer. */
  query(w, WSTEP_PATH, id, WSTEP_ALICE, &r);
  wstep_check_issued(w, &r, csr, len);
  assert_string_equal(r.request_id, id);
  check_profile(&r, "/CN=alice@example.com", 2);
  alice_cert = malloc(r.cert_len);
  memcpy(alice_cert, r.cert, r.cert_len);
  alice_cert_len = r.cert_len;
  wstep_resp_free(&r);
  /* Asked again: the same certificate. */
  query(w, NULL, id, WSTEP_ALICE, &r);
  assert_int_equal(r.cert_len, alice_cert_len);
  assert_memory_equal(r.cert, alice_cert, alice_cert_len);
  wstep_resp_free(&r);
  check_listed(w, alice_cert, alice_cert_len);
  /* Another account's query of it: unknown RequestID, nothing issued. */
  query(w, NULL, id, WSTEP_BOB, &r);
  WSTEP_EXPECT_FAULT(r, -2146877436, false, false);
  assert_null(r.cert);
  wstep_resp_free(&r);
  free(id);
  free(csr);
}

/* cepces (#PKCS10, v2 template, no RequestID) and MS-MDE2 (request
 * subject) Accepted; PBIS (#PKCS7, "\n" base64) Rejected. */
static void test_client_shapes(void **state)
{
  struct bridge_world *w = *state;
  size_t len = 0;
  unsigned char *csr = wstep_csr(w, (const char *const[]){V2_USER, NULL}, &len);
  accepted_issued(w, SHAPE_CEPCES, csr, len);
  free(csr);
  struct wstep_resp r;
  char *id;

  csr = wstep_csr(w,
                  (const char *const[]){
                      V1_MAIL, "subjectAltName=email:alice@example.com", NULL},
                  &len);
  id = submit(w, SHAPE_MDE2, csr, len);
  char *shown = answer(w, WSTEP_ALICE_ACCOUNT, OWCP_ANSWER_ACCEPT);
  assert_non_null(strstr(shown, "Issue certificate 'Mail' (CN=Alice Example, "
                                "valid 30 days) to alice@example.com?"));
  free(shown);
  query(w, NULL, id, WSTEP_ALICE, &r);
  wstep_check_issued(w, &r, csr, len);
  check_profile(&r, "/CN=Alice Example", 1);
  wstep_resp_free(&r);
  free(id);

  id = submit(w, SHAPE_PBIS, csr, len);
  free(answer(w, WSTEP_ALICE_ACCOUNT, OWCP_ANSWER_REJECT));
  query(w, NULL, id, WSTEP_ALICE, &r);
  WSTEP_EXPECT_FAULT(r, -2146877420, true, false);
  assert_string_equal(r.fault_request_id, id);
  wstep_resp_free(&r);
  query(w, NULL, id, WSTEP_ALICE, &r); /* stays denied */
  WSTEP_EXPECT_FAULT(r, -2146877420, true, false);
  wstep_resp_free(&r);
  free(id);
  free(csr);
}

/* ---- faults --------------------------------------------------------------
 */

struct fault_case {
  const char *what;
  struct wstep_req req;
  long hresult;
  bool inv, sender;
};

static void test_faults(void **state)
{
  struct bridge_world *w = *state;
  size_t len = 0, olen = 0, slen = 0, nlen = 0;
  unsigned char *good =
      wstep_csr(w, (const char *const[]){V1_USER, NULL}, &len);
  unsigned char *other = wstep_csr(
      w,
      (const char *const[]){"1.3.6.1.4.1.311.20.2=ASN1:BMPSTRING:Admin", NULL},
      &olen);
  unsigned char *none =
      wstep_csr(w, (const char *const[]){UPN_ALICE, NULL}, &nlen);
  unsigned char *bob =
      wstep_csr(w, (const char *const[]){V1_USER, UPN_BOB, NULL}, &slen);
  char small_key[512], small_csr[512];
  fx_path(small_key, sizeof small_key, w->bridge.dir, "small.key");
  fx_path(small_csr, sizeof small_csr, w->bridge.dir, "small.der");
  assert_int_equal(testutil_openssl(NULL, "req", "-new", "-newkey", "rsa:1024",
                                    "-nodes", "-keyout", small_key, "-subj",
                                    "/CN=x", "-addext", V1_USER, "-outform",
                                    "DER", "-out", small_csr),
                   0);
  size_t klen = 0;
  unsigned char *small = fx_read(w->bridge.dir, "small.der", &klen);
#define ALICE_AUTH .user = WSTEP_ALICE, .password = BRIDGE_ITEST_OTP
  const struct fault_case cases[] = {
      {"unknown Action",
       {.action = "http://example.com/other", ALICE_AUTH},
       -2147024846,
       false,
       true},
      {"unknown RequestType",
       {.request_type = "http://example.com/Renew", ALICE_AUTH},
       -2147024846,
       false,
       true},
      {"no RequestType",
       {.request_type = "", ALICE_AUTH},
       -2147024846,
       false,
       true},
      {"KET RequestType under RST/wstep",
       {.request_type = "http://docs.oasis-open.org/ws-sx/ws-trust/200512/KET",
        ALICE_AUTH},
       -2147024846,
       false,
       true},
      {"TokenType not X509v3",
       {.token_type = "urn:other", .token = good, .token_len = len, ALICE_AUTH},
       -2147024846,
       false,
       true},
      {"Issue without a token", {ALICE_AUTH}, -2147024809, false, true},
      {"token not base64",
       {.token_text = "@@not base64@@", ALICE_AUTH},
       -2146893819,
       false,
       true},
      {"token neither PKCS#10 nor CMS",
       {.token_text = "AgEF", ALICE_AUTH},
       -2146893819,
       false,
       true},
      {"EncodingType not base64binary",
       {.token = good, .token_len = len, .encoding = "urn:hex", ALICE_AUTH},
       -2146893819,
       false,
       true},
      {"QueryTokenStatus without RequestID",
       {.request_type = QUERY_TYPE, ALICE_AUTH},
       -2147024809,
       false,
       true},
      {"QueryTokenStatus with a nil RequestID",
       {.request_type = QUERY_TYPE, .request_id = "nil", ALICE_AUTH},
       -2147024809,
       false,
       true},
      {"QueryTokenStatus with a RequestID that is no number",
       {.request_type = QUERY_TYPE, .request_id = "abc", ALICE_AUTH},
       -2147024809,
       false,
       true},
      {"unknown RequestID",
       {.request_type = QUERY_TYPE, .request_id = "2147483000", ALICE_AUTH},
       -2146877436,
       false,
       false},
      {"KET without RequestKET",
       {.action = "http://docs.oasis-open.org/ws-sx/ws-trust/200512/RST/KET",
        .request_type = "http://docs.oasis-open.org/ws-sx/ws-trust/200512/KET",
        ALICE_AUTH},
       -2147024809,
       false,
       true},
      {"wrong password",
       {.token = good,
        .token_len = len,
        .user = WSTEP_ALICE,
        .password = "4711000000"},
       -2147024891,
       false,
       true},
      {"unmapped user",
       {.token = good,
        .token_len = len,
        .user = "OTHER\\alice",
        .password = BRIDGE_ITEST_OTP},
       -2147024891,
       false,
       true},
      {"a plain PKCS#10 without credentials",
       {.token = good, .token_len = len},
       -2147024891,
       false,
       true},
      {"template not configured",
       {.token = other, .token_len = olen, ALICE_AUTH},
       -2146877422,
       true,
       false},
      {"no template",
       {.token = none, .token_len = nlen, ALICE_AUTH},
       -2146877422,
       true,
       false},
      {"UPN of another user",
       {.token = bob, .token_len = slen, ALICE_AUTH},
       -2146877439,
       true,
       false},
      {"RSA 1024",
       {.token = small, .token_len = klen, ALICE_AUTH},
       -2146875375,
       true,
       false},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct wstep_resp r;
    fprintf(stderr, "fault case: %s\n", cases[i].what);
    wstep_call(w, NULL, &cases[i].req, &r);
    WSTEP_EXPECT_FAULT(r, cases[i].hresult, cases[i].inv, cases[i].sender);
    wstep_resp_free(&r);
  }
  /* Failed authentication or policy: nobody was asked. */
  assert_int_equal(
      bridge_itest_device_pending(w->device, WSTEP_ALICE_ACCOUNT, 1), 0);
  struct wstep_resp r;
  wstep_post_raw(w, "text/plain", "x", 1, &r);
  WSTEP_EXPECT_FAULT(r, -2147024809, false, true);
  wstep_resp_free(&r);
  free(good);
  free(other);
  free(none);
  free(bob);
  free(small);
}

static void test_hostile_xml(void **state)
{
  struct bridge_world *w = *state;
  static const char doctype[] =
      "<?xml version=\"1.0\"?><!DOCTYPE s:Envelope [<!ENTITY a \"aaaa\">"
      "<!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;\">]>"
      "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\">"
      "<s:Body>&b;</s:Body></s:Envelope>";
  static const char external[] =
      "<!DOCTYPE x SYSTEM \"file:///etc/passwd\"><x/>";
  const char *ct = "application/soap+xml; charset=utf-8";
  struct wstep_resp r;
  wstep_post_raw(w, ct, doctype, strlen(doctype), &r);
  WSTEP_EXPECT_FAULT(r, -2147024809, false, true);
  assert_null(strstr(r.body, "aaaa"));
  wstep_resp_free(&r);
  wstep_post_raw(w, ct, external, strlen(external), &r);
  WSTEP_EXPECT_FAULT(r, -2147024809, false, true);
  assert_null(strstr(r.body, "root:"));
  wstep_resp_free(&r);
  /* Nesting beyond the limit inside the Body. */
  static const char open_env[] = "<s:Envelope xmlns:s=\"http://www.w3.org/"
                                 "2003/05/soap-envelope\"><s:Body>";
  static const char close_env[] = "</s:Body></s:Envelope>";
  char deep[8192];
  size_t n = (size_t)snprintf(deep, sizeof deep, "%s", open_env);
  for (int i = 0; i < 100; i++)
    n += (size_t)snprintf(deep + n, sizeof deep - n, "<d>");
  for (int i = 0; i < 100; i++)
    n += (size_t)snprintf(deep + n, sizeof deep - n, "</d>");
  snprintf(deep + n, sizeof deep - n, "%s", close_env);
  wstep_post_raw(w, ct, deep, strlen(deep), &r);
  WSTEP_EXPECT_FAULT(r, -2147024809, false, true);
  wstep_resp_free(&r);
  wstep_post_raw(w, ct, "<s:Envelope", 11, &r);
  WSTEP_EXPECT_FAULT(r, -2147024809, false, true);
  wstep_resp_free(&r);
  /* Over max_body: 413 before the body is read. */
  size_t big = (size_t)w->bridge.opts.max_body + 1;
  char *huge = malloc(big);
  memset(huge, ' ', big);
  struct bridge_http h;
  bridge_itest_post_path(&w->bridge, WSTEP_PATH, ct, huge, big, &h);
  assert_int_equal(h.status, 413);
  bridge_http_free(&h);
  free(huge);
}

static void test_ket(void **state)
{
  struct bridge_world *w = *state;
  struct wstep_req k = {
      .action = "http://docs.oasis-open.org/ws-sx/ws-trust/200512/RST/KET",
      .request_type = "http://docs.oasis-open.org/ws-sx/ws-trust/200512/KET",
      .ket = true,
      ALICE_AUTH};
  struct wstep_resp r;
  wstep_call(w, NULL, &k, &r);
  assert_int_equal(r.status, 200);
  assert_string_equal(
      r.action,
      "http://docs.oasis-open.org/ws-sx/ws-trust/200512/RSTR/KETFinal");
  char ket[512], der[512];
  fx_path(ket, sizeof ket, w->bridge.dir, "ket.pem");
  fx_path(der, sizeof der, w->bridge.dir, "ket.der");
  assert_int_equal(testutil_openssl(NULL, "x509", "-in", ket, "-outform", "DER",
                                    "-out", der),
                   0);
  size_t len = 0;
  unsigned char *want = fx_read(w->bridge.dir, "ket.der", &len);
  assert_int_equal(r.ket_len, len);
  assert_memory_equal(r.ket, want, len);
  free(want);
  wstep_resp_free(&r);
}

/* Anonymous renewal: a CMS signed with the certificate of the first test;
 * its confirmation goes to that certificate's account, and the new
 * certificate keeps its subject. A CMS signed by a stranger is refused. */
static void test_renewal(void **state)
{
  struct bridge_world *w = *state;
  assert_non_null(alice_cert);
  char old[512], pem[512], csrp[512], p7[512], key[512];
  fx_path(old, sizeof old, w->bridge.dir, "old.der");
  fx_path(pem, sizeof pem, w->bridge.dir, "old.pem");
  fx_path(csrp, sizeof csrp, w->bridge.dir, "renew-csr.der");
  fx_path(p7, sizeof p7, w->bridge.dir, "renew.p7");
  fx_path(key, sizeof key, w->bridge.dir, "user.key");
  testutil_write_file(old, alice_cert, alice_cert_len);
  assert_int_equal(
      testutil_openssl(NULL, "x509", "-inform", "DER", "-in", old, "-out", pem),
      0);
  size_t len = 0;
  unsigned char *csr = wstep_csr(w, (const char *const[]){V1_USER, NULL}, &len);
  testutil_write_file(csrp, csr, len);
  assert_int_equal(testutil_openssl(NULL, "cms", "-sign", "-binary",
                                    "-nodetach", "-signer", pem, "-inkey", key,
                                    "-in", csrp, "-outform", "DER", "-out", p7),
                   0);
  size_t plen = 0;
  unsigned char *cms = fx_read(w->bridge.dir, "renew.p7", &plen);
  struct wstep_req rq = {
      .shape = SHAPE_WINDOWS, .token = cms, .token_len = plen};
  struct wstep_resp r;
  wstep_call(w, NULL, &rq, &r);
  expect_pending(w, &r);
  char *id = strdup(r.request_id);
  wstep_resp_free(&r);
  free(answer(w, WSTEP_ALICE_ACCOUNT, OWCP_ANSWER_ACCEPT));
  query(w, NULL, id, NULL, &r); /* anonymous, as the renewing client */
  wstep_check_issued(w, &r, csr, len);
  check_profile(&r, "/CN=alice@example.com", 2);
  wstep_resp_free(&r);
  free(id);

  /* Signed by a certificate of another CA (the KET's self-signed one). */
  char ket[512], ketkey[512];
  fx_path(ket, sizeof ket, w->bridge.dir, "ket.pem");
  fx_path(ketkey, sizeof ketkey, w->bridge.dir, "ket.key");
  assert_int_equal(testutil_openssl(NULL, "cms", "-sign", "-binary",
                                    "-nodetach", "-signer", ket, "-inkey",
                                    ketkey, "-in", csrp, "-outform", "DER",
                                    "-out", p7),
                   0);
  free(cms);
  cms = fx_read(w->bridge.dir, "renew.p7", &plen);
  rq.token = cms;
  rq.token_len = plen;
  wstep_call(w, NULL, &rq, &r);
  WSTEP_EXPECT_FAULT(r, -2147024891, false, true);
  wstep_resp_free(&r);
  assert_int_equal(
      bridge_itest_device_pending(w->device, WSTEP_ALICE_ACCOUNT, 1), 0);
  free(cms);
  free(csr);
}

/* ---- restarts and policies ----------------------------------------------
 */

/* Dispatcher unreachable: Issue faults (and nobody is asked); a request
 * pending from before stays pending and is Issued once it is back. The
 * bridge is pointed at a port nobody listens on. */
static void test_dispatcher_down(void **state)
{
  struct bridge_world *w = *state;
  struct bridge_itest_opts saved = w->bridge.opts;
  size_t len = 0;
  unsigned char *csr = wstep_csr(w, (const char *const[]){V1_USER, NULL}, &len);
  char *id = submit(w, SHAPE_WINDOWS, csr, len);
  snprintf(w->bridge.opts.dispatcher, sizeof w->bridge.opts.dispatcher,
           "http://127.0.0.1:%u/owcp/0.1", radius_itest_free_port());
  bridge_itest_restart(&w->bridge);
  struct wstep_req rq = issue_req(SHAPE_CEPCES, csr, len);
  struct wstep_resp r;
  wstep_call(w, NULL, &rq, &r);
  WSTEP_EXPECT_FAULT(r, -2147023174, false, false);
  wstep_resp_free(&r);
  query(w, NULL, id, WSTEP_ALICE, &r);
  WSTEP_EXPECT_FAULT(r, -2147023174, false, false);
  wstep_resp_free(&r);
  w->bridge.opts = saved;
  bridge_itest_restart(&w->bridge);
  free(answer(w, WSTEP_ALICE_ACCOUNT, OWCP_ANSWER_ACCEPT));
  query(w, NULL, id, WSTEP_ALICE, &r);
  wstep_check_issued(w, &r, csr, len);
  wstep_resp_free(&r);
  free(id);
  free(csr);
}

static void test_pending_across_restart(void **state)
{
  struct bridge_world *w = *state;
  size_t len = 0;
  unsigned char *csr = wstep_csr(w, (const char *const[]){V1_USER, NULL}, &len);
  char *id = submit(w, SHAPE_WINDOWS, csr, len);
  bridge_itest_stop(&w->bridge);
  free(answer(w, WSTEP_ALICE_ACCOUNT, OWCP_ANSWER_ACCEPT));
  bridge_itest_start(&w->bridge);
  struct wstep_resp r;
  query(w, NULL, id, WSTEP_ALICE, &r);
  wstep_check_issued(w, &r, csr, len);
  wstep_resp_free(&r);
  free(id);
  free(csr);
}

static void test_expiry(void **state)
{
  struct bridge_world *w = *state;
  bridge_itest_stop(&w->bridge);
  w->bridge.opts.owcp_timeout = SHORT_TIMEOUT;
  bridge_itest_start(&w->bridge);
  size_t len = 0;
  unsigned char *csr = wstep_csr(w, (const char *const[]){V1_USER, NULL}, &len);
  char *id = submit(w, SHAPE_CEPCES, csr, len);
  sleep(SHORT_TIMEOUT + 2);
  struct wstep_resp r;
  query(w, NULL, id, WSTEP_ALICE, &r);
  WSTEP_EXPECT_FAULT(r, -2147023436, true, false);
  assert_string_equal(r.fault_request_id, id);
  wstep_resp_free(&r);
  /* The device no longer offers it. */
  assert_int_equal(
      bridge_itest_device_pending(w->device, WSTEP_ALICE_ACCOUNT, 1), 0);
  free(id);
  free(csr);
}

/* Issued at once: no confirmation reaches the device. */
static void expect_issued_unasked(struct bridge_world *w,
                                  const unsigned char *csr, size_t len)
{
  struct wstep_req rq = issue_req(SHAPE_CEPCES, csr, len);
  struct wstep_resp r;
  wstep_call(w, NULL, &rq, &r);
  wstep_check_issued(w, &r, csr, len);
  wstep_resp_free(&r);
  assert_int_equal(
      bridge_itest_device_pending(w->device, WSTEP_ALICE_ACCOUNT, 1), 0);
}

static void test_cached_and_off(void **state)
{
  struct bridge_world *w = *state;
  bridge_itest_stop(&w->bridge);
  w->bridge.opts.owcp_timeout = 30;
  wstep_world_configure(w, "cached:5");
  bridge_itest_start(&w->bridge);
  size_t len = 0;
  unsigned char *csr = wstep_csr(w, (const char *const[]){V1_USER, NULL}, &len);
  accepted_issued(w, SHAPE_WINDOWS, csr, len);
  expect_issued_unasked(w, csr, len); /* the approval covers it */

  bridge_itest_stop(&w->bridge);
  wstep_world_configure(w, "off");
  bridge_itest_start(&w->bridge);
  expect_issued_unasked(w, csr, len);
  assert_int_equal(bridge_itest_run(&w->bridge, "check"), 0);
  free(csr);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_issue_pending_accept_issued),
      cmocka_unit_test(test_client_shapes),
      cmocka_unit_test(test_faults),
      cmocka_unit_test(test_hostile_xml),
      cmocka_unit_test(test_ket),
      cmocka_unit_test(test_renewal),
      cmocka_unit_test(test_dispatcher_down),
      cmocka_unit_test(test_pending_across_restart),
      cmocka_unit_test(test_expiry),
      cmocka_unit_test(test_cached_and_off),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
