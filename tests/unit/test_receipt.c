/*
 * test_receipt.c — unit tests for owcp/receipt.h: the exact JSON content,
 * create/verify round trips, every structural and content refusal, the
 * known-signer fast path, field matching, and interoperability with
 * `openssl cms` in both directions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/cms.h>
#include <openssl/err.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "testutil.h"
#include "owcp/crypto.h"

/* --- fixture ------------------------------------------------------------ */

struct party {
  EVP_PKEY *key;
  X509 *cert;
};

struct fixture {
  char dir[64];
  struct party ca, other_ca, client, client2, foreign;
};

static const char xml[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<Request xmlns=\"http://schema.comodo.com/2011/owcp/0.1\">"
    "<Text>Pay \xe2\x82\xac"
    "10 to \"Bob\" & co</Text></Request>";

static struct party make_ca(const char *cn)
{
  struct owcp_error err;
  struct party p;

  p.key = owcp_key_new(&err);
  assert_non_null(p.key);
  p.cert = owcp_ca_new(p.key, cn, &err);
  assert_non_null(p.cert);
  return p;
}

static struct party make_client(const struct party *ca, const char *id)
{
  struct owcp_error err;
  struct party p;

  p.key = owcp_key_new(&err);
  assert_non_null(p.key);
  p.cert = owcp_ca_issue_client(ca->cert, ca->key, p.key, id,
                                "alice@example.com", 30, &err);
  assert_non_null(p.cert);
  return p;
}

static void free_party(struct party *p)
{
  X509_free(p->cert);
  EVP_PKEY_free(p->key);
}

static int setup(void **state)
{
  struct fixture *f = calloc(1, sizeof *f);

  if (f == NULL)
    return -1;
  if (testutil_tmpdir_make(f->dir, sizeof f->dir, "receipt") != 0) {
    free(f);
    return -1;
  }
  f->ca = make_ca("client CA");
  f->other_ca = make_ca("other CA");
  f->client = make_client(&f->ca, "client-1");
  f->client2 = make_client(&f->ca, "client-2");
  f->foreign = make_client(&f->other_ca, "client-1");
  *state = f;
  return 0;
}

static int teardown(void **state)
{
  struct fixture *f = *state;
  if (testutil_tmpdir_remove(f->dir) != 0)
    return -1;
  free_party(&f->ca);
  free_party(&f->other_ca);
  free_party(&f->client);
  free_party(&f->client2);
  free_party(&f->foreign);
  free(f);
  return 0;
}

/* --- helpers ------------------------------------------------------------ */

static char *verification_pin[] = {"PIN"};

/* A valid Accept receipt whose strings are borrowed (never freed). */
static struct owcp_receipt sample(void)
{
  struct owcp_receipt r;

  memset(&r, 0, sizeof r);
  r.transaction = "T-0001";
  r.account = "alice@example.com";
  r.client = "client-1";
  r.response = "Accept";
  r.verification = verification_pin;
  r.verification_count = 1;
  r.request = (char *)xml;
  r.request_len = strlen(xml);
  r.signed_at = "2026-11-22T10:00:00Z";
  return r;
}

static void create(const struct fixture *f, const struct owcp_receipt *r,
                   unsigned char **der, size_t *len)
{
  struct owcp_error err;

  if (owcp_receipt_create(r, f->client.cert, f->client.key, der, len, &err))
    fail_msg("owcp_receipt_create: %s", err.msg);
}

/* Signs arbitrary content bytes with a CMS built by hand, so that tests can
 * produce receipts the library itself would never create. */
static void sign_raw(const struct party *signer, const struct party *second,
                     const char *content, size_t content_len,
                     unsigned int flags, unsigned char **der, size_t *len)
{
  BIO *in = BIO_new_mem_buf(content, (int)content_len);
  CMS_ContentInfo *cms =
      CMS_sign(NULL, NULL, NULL, NULL, CMS_PARTIAL | CMS_BINARY | flags);
  unsigned char *buf = NULL;
  int n;

  assert_non_null(cms);
  assert_non_null(
      CMS_add1_signer(cms, signer->cert, signer->key, EVP_sha256(), flags));
  if (second != NULL)
    assert_non_null(
        CMS_add1_signer(cms, second->cert, second->key, EVP_sha256(), flags));
  assert_int_equal(CMS_final(cms, in, NULL, CMS_BINARY | flags), 1);
  n = i2d_CMS_ContentInfo(cms, &buf);
  assert_true(n > 0);
  *der = malloc((size_t)n);
  assert_non_null(*der);
  memcpy(*der, buf, (size_t)n);
  *len = (size_t)n;
  OPENSSL_free(buf);
  CMS_ContentInfo_free(cms);
  BIO_free(in);
}

/* Verification (both verifiers) must fail with `needle` in the error. */
static void expect_refused(const struct fixture *f, const unsigned char *der,
                           size_t len, const char *needle)
{
  struct owcp_receipt *r = (struct owcp_receipt *)1;
  struct owcp_error err = {{0}};

  if (owcp_receipt_verify(der, len, f->ca.cert, NULL, &r, &err) == 0)
    fail_msg("receipt unexpectedly verified (wanted '%s')", needle);
  assert_null(r);
  if (strstr(err.msg, needle) == NULL)
    fail_msg("verify: error '%s' lacks '%s'", err.msg, needle);
  r = (struct owcp_receipt *)1;
  if (owcp_receipt_verify_known_signer(der, len, f->client.cert, &r, &err) == 0)
    fail_msg("receipt unexpectedly verified by known signer ('%s')", needle);
  assert_null(r);
  assert_int_equal(ERR_peek_error(), 0);
}

/* Content signed correctly by the client must be refused for `needle`. */
static void expect_content_refused(const struct fixture *f, const char *content,
                                   const char *needle)
{
  unsigned char *der = NULL;
  size_t len = 0;
  struct owcp_receipt *r = NULL;
  struct owcp_error err = {{0}};

  sign_raw(&f->client, NULL, content, strlen(content), 0, &der, &len);
  if (owcp_receipt_verify(der, len, f->ca.cert, f->client.cert, &r, &err) == 0)
    fail_msg("content '%s' unexpectedly accepted", content);
  if (strstr(err.msg, needle) == NULL)
    fail_msg("content '%s': error '%s' lacks '%s'", content, err.msg, needle);
  assert_int_equal(
      owcp_receipt_verify_known_signer(der, len, f->client.cert, &r, &err), -1);
  if (strstr(err.msg, needle) == NULL)
    fail_msg("fast path, content '%s': error '%s' lacks '%s'", content, err.msg,
             needle);
  free(der);
}

static void assert_receipt_equal(const struct owcp_receipt *a,
                                 const struct owcp_receipt *b)
{
  size_t i;

  assert_string_equal(a->transaction, b->transaction);
  assert_string_equal(a->account, b->account);
  assert_string_equal(a->client, b->client);
  assert_string_equal(a->response, b->response);
  assert_int_equal(a->verification_count, b->verification_count);
  for (i = 0; i < a->verification_count; i++)
    assert_string_equal(a->verification[i], b->verification[i]);
  assert_int_equal(a->request_len, b->request_len);
  assert_memory_equal(a->request, b->request, a->request_len);
  assert_string_equal(a->signed_at, b->signed_at);
  if (a->reason == NULL)
    assert_null(b->reason);
  else
    assert_string_equal(a->reason, b->reason);
}

/* --- content ------------------------------------------------------------ */

static void test_content_exact_bytes(void **state)
{
  struct owcp_receipt r = sample();
  struct owcp_error err;
  char *json = NULL;
  size_t len = 0;

  (void)state;
  r.request = "<Request/>";
  r.request_len = 10;
  assert_int_equal(owcp_receipt_content(&r, &json, &len, &err), 0);
  assert_string_equal(
      json, "{\"Receipt\":{\"Transaction\":\"T-0001\",\"Account\":"
            "\"alice@example.com\",\"Client\":\"client-1\",\"Response\":"
            "\"Accept\",\"Verification\":[\"PIN\"],\"Request\":"
            "\"<Request/>\",\"Signed\":\"2026-11-22T10:00:00Z\"}}");
  assert_int_equal(len, strlen(json));
  free(json);
  r.response = "Refuse";
  r.reason = "Unknown Verification Type";
  r.verification_count = 0;
  assert_int_equal(owcp_receipt_content(&r, &json, &len, &err), 0);
  assert_non_null(strstr(json, "\"Verification\":[],\"Request\":"
                               "\"<Request/>\",\"Signed\":"
                               "\"2026-11-22T10:00:00Z\",\"Reason\":"
                               "\"Unknown Verification Type\"}}"));
  free(json);
}

static void test_content_refuses_invalid_fields(void **state)
{
  struct owcp_receipt r;
  struct owcp_error err;
  char *json = NULL;
  size_t len;
  char *bad_ver[] = {""};

  (void)state;
  r = sample();
  r.response = "Maybe";
  assert_int_equal(owcp_receipt_content(&r, &json, &len, &err), -1);
  testutil_assert_err_contains(&err,
                               "'Response' must be Accept, Reject or Refuse");
  r = sample();
  r.response = "Refuse";
  assert_int_equal(owcp_receipt_content(&r, &json, &len, &err), -1);
  testutil_assert_err_contains(&err, "'Reason' is required for Refuse");
  r = sample();
  r.reason = "why";
  assert_int_equal(owcp_receipt_content(&r, &json, &len, &err), -1);
  testutil_assert_err_contains(&err, "'Reason' is allowed only for Refuse");
  r = sample();
  r.transaction = "";
  assert_int_equal(owcp_receipt_content(&r, &json, &len, &err), -1);
  testutil_assert_err_contains(&err, "'Transaction'");
  r = sample();
  r.account = NULL;
  assert_int_equal(owcp_receipt_content(&r, &json, &len, &err), -1);
  testutil_assert_err_contains(&err, "'Account'");
  r = sample();
  r.signed_at = "yesterday";
  assert_int_equal(owcp_receipt_content(&r, &json, &len, &err), -1);
  testutil_assert_err_contains(&err, "'Signed'");
  r = sample();
  r.verification = bad_ver;
  assert_int_equal(owcp_receipt_content(&r, &json, &len, &err), -1);
  testutil_assert_err_contains(&err, "'Verification' item 0");
  r = sample();
  r.request = "a\0b";
  r.request_len = 3;
  assert_int_equal(owcp_receipt_content(&r, &json, &len, &err), -1);
  testutil_assert_err_contains(&err, "'Request'");
  r = sample();
  r.client = "\xff\xfe";
  assert_int_equal(owcp_receipt_content(&r, &json, &len, &err), -1);
  testutil_assert_err_contains(&err, "'Client' is not valid UTF-8");
  assert_null(json);
}

static void test_content_defaults_signed_to_now(void **state)
{
  struct owcp_receipt r = sample();
  struct owcp_error err;
  const char *p;
  char *json = NULL;
  size_t len;
  time_t t = 0, before = time(NULL);
  char stamp[OWCP_TIME_LEN];

  (void)state;
  r.signed_at = NULL;
  assert_int_equal(owcp_receipt_content(&r, &json, &len, &err), 0);
  p = strstr(json, "\"Signed\":\"");
  assert_non_null(p);
  memcpy(stamp, p + 10, OWCP_TIME_LEN - 1);
  stamp[OWCP_TIME_LEN - 1] = '\0';
  assert_int_equal(owcp_time_parse(stamp, &t, &err), 0);
  assert_true(t >= before && t <= time(NULL));
  free(json);
}

/* --- round trips -------------------------------------------------------- */

static void test_create_verify_round_trip(void **state)
{
  struct fixture *f = *state;
  struct owcp_receipt r = sample(), *back = NULL;
  unsigned char *der = NULL;
  size_t len = 0;
  struct owcp_error err;

  create(f, &r, &der, &len);
  if (owcp_receipt_verify(der, len, f->ca.cert, NULL, &back, &err) != 0)
    fail_msg("verify: %s", err.msg);
  assert_receipt_equal(&r, back);
  owcp_receipt_free(back);
  back = NULL;
  assert_int_equal(
      owcp_receipt_verify(der, len, f->ca.cert, f->client.cert, &back, &err),
      0);
  assert_receipt_equal(&r, back);
  owcp_receipt_free(back);
  back = NULL;
  if (owcp_receipt_verify_known_signer(der, len, f->client.cert, &back, &err))
    fail_msg("known signer: %s", err.msg);
  assert_receipt_equal(&r, back);
  assert_int_equal(owcp_receipt_matches(back, "T-0001", "alice@example.com",
                                        "client-1", "Accept", xml, strlen(xml),
                                        &err),
                   0);
  owcp_receipt_free(back);
  assert_int_equal(ERR_peek_error(), 0);
  free(der);
}

static void test_refuse_round_trip(void **state)
{
  struct fixture *f = *state;
  struct owcp_receipt r = sample(), *back = NULL;
  unsigned char *der = NULL;
  size_t len = 0;
  struct owcp_error err;

  r.response = "Refuse";
  r.reason = "Unknown Verification Type";
  r.verification_count = 0;
  create(f, &r, &der, &len);
  assert_int_equal(
      owcp_receipt_verify(der, len, f->ca.cert, f->client.cert, &back, &err),
      0);
  assert_receipt_equal(&r, back);
  assert_int_equal(back->verification_count, 0);
  owcp_receipt_free(back);
  free(der);
}

/* Spec §6: an approval's receipt carries "Match", last, two digits. */
static void test_match_round_trip(void **state)
{
  struct fixture *f = *state;
  struct owcp_receipt r = sample(), *back = NULL;
  unsigned char *der = NULL;
  size_t len = 0;
  struct owcp_error err;
  char *json = NULL;

  r.match = "07";
  assert_int_equal(owcp_receipt_content(&r, &json, &len, &err), 0);
  assert_non_null(
      strstr(json, "\"Signed\":\"2026-11-22T10:00:00Z\",\"Match\":\"07\"}}"));
  free(json);
  create(f, &r, &der, &len);
  assert_int_equal(
      owcp_receipt_verify(der, len, f->ca.cert, f->client.cert, &back, &err),
      0);
  assert_string_equal(back->match, "07");
  owcp_receipt_free(back);
  free(der);
  const char *bad[] = {"7", "007", "0a", "", " 7"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    r.match = (char *)bad[i];
    assert_int_equal(owcp_receipt_content(&r, &json, &len, &err), -1);
    assert_non_null(strstr(err.msg, "Match"));
  }
}

static void test_create_refuses_mismatched_key(void **state)
{
  struct fixture *f = *state;
  struct owcp_receipt r = sample();
  unsigned char *der = NULL;
  size_t len = 0;
  struct owcp_error err;

  assert_int_equal(
      owcp_receipt_create(&r, f->client.cert, f->client2.key, &der, &len, &err),
      -1);
  testutil_assert_err_contains(&err, "does not match its certificate");
  assert_null(der);
  assert_int_equal(ERR_peek_error(), 0);
}

/* --- refusals ----------------------------------------------------------- */

static void test_tampered_content_refused(void **state)
{
  struct fixture *f = *state;
  struct owcp_receipt r = sample();
  unsigned char *der = NULL, *p;
  size_t len = 0, i;

  create(f, &r, &der, &len);
  for (p = NULL, i = 0; i + 6 <= len; i++)
    if (memcmp(der + i, "Accept", 6) == 0)
      p = der + i;
  /* An explicit branch: cmocka's fail_msg does not return, but it is not
   * declared noreturn, so the analyzer would follow p == NULL onwards. */
  if (p == NULL) {
    fail_msg("the receipt DER holds no \"Accept\"");
  } else {
    static const unsigned char reject[6] = {'R', 'e', 'j', 'e', 'c', 't'};

    memcpy(p, reject, sizeof reject);
    expect_refused(f, der, len, "does not verify");
  }
  free(der);
}

static void test_tampered_signature_refused(void **state)
{
  struct fixture *f = *state;
  struct owcp_receipt r = sample();
  unsigned char *der = NULL;
  size_t len = 0;

  create(f, &r, &der, &len);
  der[len - 1] ^= 0x01; /* last octet of the ECDSA s value */
  expect_refused(f, der, len, "does not verify");
  free(der);
}

static void test_wrong_ca_refused(void **state)
{
  struct fixture *f = *state;
  struct owcp_receipt r = sample(), *back = NULL;
  unsigned char *der = NULL;
  size_t len = 0;
  struct owcp_error err;

  create(f, &r, &der, &len);
  assert_int_equal(
      owcp_receipt_verify(der, len, f->other_ca.cert, NULL, &back, &err), -1);
  testutil_assert_err_contains(&err, "does not verify against the client CA");
  assert_null(back);
  assert_int_equal(ERR_peek_error(), 0);
  free(der);
  /* A client of another CA signing its own receipt is refused too. */
  sign_raw(&f->foreign, NULL, "{}", 2, 0, &der, &len);
  expect_refused(f, der, len, "does not verify against the client CA");
  free(der);
}

static void test_unexpected_signer_refused(void **state)
{
  struct fixture *f = *state;
  struct owcp_receipt r = sample(), *back = NULL;
  unsigned char *der = NULL;
  size_t len = 0;
  struct owcp_error err;

  create(f, &r, &der, &len);
  /* Valid under the CA, but signed by client-1 while client-2 was expected */
  assert_int_equal(
      owcp_receipt_verify(der, len, f->ca.cert, f->client2.cert, &back, &err),
      -1);
  testutil_assert_err_contains(&err, "not the expected client certificate");
  assert_int_equal(
      owcp_receipt_verify_known_signer(der, len, f->client2.cert, &back, &err),
      -1);
  testutil_assert_err_contains(&err, "not the expected client certificate");
  /* Same key, same names, re-issued certificate: not byte-identical. */
  {
    struct owcp_error e2;
    X509 *reissued = owcp_ca_issue_client(
        f->ca.cert, f->ca.key, X509_get0_pubkey(f->client.cert), "client-1",
        "alice@example.com", 30, &e2);

    assert_non_null(reissued);
    assert_int_equal(
        owcp_receipt_verify(der, len, f->ca.cert, reissued, &back, &err), -1);
    testutil_assert_err_contains(&err, "not the expected client certificate");
    assert_int_equal(
        owcp_receipt_verify_known_signer(der, len, reissued, &back, &err), -1);
    X509_free(reissued);
  }
  assert_null(back);
  free(der);
}

static void test_structural_refusals(void **state)
{
  struct fixture *f = *state;
  struct owcp_receipt r = sample();
  unsigned char *der = NULL, *bigger;
  char *json = NULL;
  size_t len = 0, json_len = 0;
  struct owcp_error err;

  assert_int_equal(owcp_receipt_content(&r, &json, &json_len, &err), 0);
  sign_raw(&f->client, NULL, json, json_len, CMS_NOCERTS, &der, &len);
  expect_refused(f, der, len, "does not include the signer's certificate");
  free(der);
  sign_raw(&f->client, NULL, json, json_len, CMS_DETACHED, &der, &len);
  expect_refused(f, der, len, "detached");
  free(der);
  sign_raw(&f->client, &f->client2, json, json_len, 0, &der, &len);
  expect_refused(f, der, len, "exactly one signer, not 2");
  free(der);
  sign_raw(&f->client, NULL, json, json_len, CMS_NOATTR, &der, &len);
  expect_refused(f, der, len, "signingTime");
  free(der);
  /* The CA key may not stand in for a client. */
  sign_raw(&f->ca, NULL, json, json_len, 0, &der, &len);
  expect_refused(f, der, len, "is a CA certificate");
  free(der);
  /* Trailing bytes, truncation, garbage, empty. */
  create(f, &r, &der, &len);
  bigger = malloc(len + 1);
  assert_non_null(bigger);
  memcpy(bigger, der, len);
  bigger[len] = 0;
  expect_refused(f, bigger, len + 1, "1 trailing bytes");
  expect_refused(f, bigger, len - 10, "not DER CMS");
  free(bigger);
  expect_refused(f, (const unsigned char *)"garbage", 7, "not DER CMS");
  expect_refused(f, (const unsigned char *)"", 0, "empty");
  free(der);
  free(json);
}

static void test_not_signed_data_refused(void **state)
{
  struct fixture *f = *state;
  CMS_ContentInfo *cms;
  BIO *in = BIO_new_mem_buf("{}", 2);
  unsigned char *buf = NULL;
  int n;

  /* A plain id-data ContentInfo. */
  cms = CMS_data_create(in, CMS_BINARY);
  assert_non_null(cms);
  n = i2d_CMS_ContentInfo(cms, &buf);
  assert_true(n > 0);
  expect_refused(f, buf, (size_t)n, "not CMS SignedData");
  OPENSSL_free(buf);
  CMS_ContentInfo_free(cms);
  BIO_free(in);
}

static void test_hostile_content_refused(void **state)
{
  struct fixture *f = *state;

#define BASE                                                                   \
  "\"Transaction\":\"T\",\"Account\":\"a@b\",\"Client\":\"c\","                \
  "\"Verification\":[],\"Request\":\"<R/>\",\"Signed\":"                       \
  "\"2026-11-22T10:00:00Z\""
  expect_content_refused(f, "not json", "not valid JSON");
  expect_content_refused(f, "[]", "exactly one member");
  expect_content_refused(f, "{\"Receipt\":[]}", "exactly one member");
  expect_content_refused(f,
                         "{\"Receipt\":{" BASE ",\"Response\":\"Accept\"},"
                         "\"Extra\":1}",
                         "exactly one member");
  expect_content_refused(f, "{\"Receipt\":{" BASE "}}",
                         "lacks member 'Response'");
  expect_content_refused(f,
                         "{\"Receipt\":{" BASE ",\"Response\":\"Accept\","
                         "\"Evil\":true}}",
                         "unknown member 'Evil'");
  expect_content_refused(f,
                         "{\"Receipt\":{" BASE ",\"Response\":\"Accept\","
                         "\"Response\":\"Reject\"}}",
                         "not valid JSON");
  expect_content_refused(f, "{\"Receipt\":{" BASE ",\"Response\":1}}",
                         "'Response' must be a string");
  expect_content_refused(f, "{\"Receipt\":{" BASE ",\"Response\":\"Yes\"}}",
                         "must be Accept, Reject or Refuse");
  expect_content_refused(f, "{\"Receipt\":{" BASE ",\"Response\":\"Refuse\"}}",
                         "'Reason' is required for Refuse");
  expect_content_refused(f,
                         "{\"Receipt\":{" BASE ",\"Response\":\"Accept\","
                         "\"Reason\":\"x\"}}",
                         "'Reason' is allowed only for Refuse");
  expect_content_refused(f,
                         "{\"Receipt\":{" BASE ",\"Response\":\"Refuse\","
                         "\"Reason\":7}}",
                         "'Reason' must be a string");
  expect_content_refused(f,
                         "{\"Receipt\":{\"Transaction\":\"T\",\"Account\":"
                         "\"a@b\",\"Client\":\"c\",\"Verification\":[1],"
                         "\"Request\":\"<R/>\",\"Signed\":"
                         "\"2026-11-22T10:00:00Z\",\"Response\":"
                         "\"Accept\"}}",
                         "'Verification' item 0 is not a string");
  expect_content_refused(f,
                         "{\"Receipt\":{\"Transaction\":\"T\",\"Account\":"
                         "\"a@b\",\"Client\":\"c\",\"Verification\":\"PIN\","
                         "\"Request\":\"<R/>\",\"Signed\":"
                         "\"2026-11-22T10:00:00Z\",\"Response\":"
                         "\"Accept\"}}",
                         "'Verification' must be an array");
  expect_content_refused(f,
                         "{\"Receipt\":{\"Transaction\":\"T\",\"Account\":"
                         "\"a@b\",\"Client\":\"c\",\"Verification\":[],"
                         "\"Request\":\"<R/>\",\"Signed\":\"soon\","
                         "\"Response\":\"Accept\"}}",
                         "'Signed'");
  expect_content_refused(f,
                         "{\"Receipt\":{\"Transaction\":\"\",\"Account\":"
                         "\"a@b\",\"Client\":\"c\",\"Verification\":[],"
                         "\"Request\":\"<R/>\",\"Signed\":"
                         "\"2026-11-22T10:00:00Z\",\"Response\":"
                         "\"Accept\"}}",
                         "'Transaction' is missing or empty");
  expect_content_refused(f,
                         "{\"Receipt\":{\"Transaction\":\"T\\u0000x\","
                         "\"Account\":\"a@b\",\"Client\":\"c\","
                         "\"Verification\":[],\"Request\":\"<R/>\","
                         "\"Signed\":\"2026-11-22T10:00:00Z\","
                         "\"Response\":\"Accept\"}}",
                         "not valid JSON");
  expect_content_refused(f,
                         "{\"Receipt\":{" BASE ",\"Response\":\"Accept\"}}"
                         "trailing",
                         "not valid JSON");
#undef BASE
}

static void test_member_order_is_not_required(void **state)
{
  struct fixture *f = *state;
  static const char content[] =
      "{\"Receipt\":{\"Signed\":\"2026-11-22T10:00:00+01:00\",\"Request\":"
      "\"<R/>\",\"Verification\":[\"PIN\"],\"Response\":\"Reject\","
      "\"Client\":\"c\",\"Account\":\"a@b\",\"Transaction\":\"T\"}}";
  unsigned char *der = NULL;
  size_t len = 0;
  struct owcp_receipt *r = NULL;
  struct owcp_error err;

  sign_raw(&f->client, NULL, content, strlen(content), 0, &der, &len);
  assert_int_equal(owcp_receipt_verify(der, len, f->ca.cert, NULL, &r, &err),
                   0);
  assert_string_equal(r->response, "Reject");
  assert_string_equal(r->signed_at, "2026-11-22T10:00:00+01:00");
  assert_int_equal(r->request_len, 4);
  owcp_receipt_free(r);
  free(der);
}

/* --- matching ----------------------------------------------------------- */

static void test_matches_each_field(void **state)
{
  struct owcp_receipt r = sample();
  struct owcp_error err;
  char other[sizeof xml];
  size_t n = strlen(xml);

  (void)state;
  assert_int_equal(owcp_receipt_matches(&r, "T-0001", "alice@example.com",
                                        "client-1", "Accept", xml, n, &err),
                   0);
  assert_int_equal(owcp_receipt_matches(&r, "T-0002", "alice@example.com",
                                        "client-1", "Accept", xml, n, &err),
                   -1);
  testutil_assert_err_contains(&err, "'Transaction'");
  assert_int_equal(owcp_receipt_matches(&r, "T-0001", "Alice@example.com",
                                        "client-1", "Accept", xml, n, &err),
                   -1);
  testutil_assert_err_contains(&err, "'Account'");
  assert_int_equal(owcp_receipt_matches(&r, "T-0001", "alice@example.com",
                                        "client-2", "Accept", xml, n, &err),
                   -1);
  testutil_assert_err_contains(&err, "'Client'");
  assert_int_equal(owcp_receipt_matches(&r, "T-0001", "alice@example.com",
                                        "client-1", "Reject", xml, n, &err),
                   -1);
  testutil_assert_err_contains(&err, "'Response'");
  /* Request: one byte changed, one byte shorter, one byte longer. */
  memcpy(other, xml, sizeof xml);
  other[n - 3] ^= 0x20;
  assert_int_equal(owcp_receipt_matches(&r, "T-0001", "alice@example.com",
                                        "client-1", "Accept", other, n, &err),
                   -1);
  testutil_assert_err_contains(&err, "'Request'");
  assert_int_equal(owcp_receipt_matches(&r, "T-0001", "alice@example.com",
                                        "client-1", "Accept", xml, n - 1, &err),
                   -1);
  testutil_assert_err_contains(&err, "'Request'");
  assert_int_equal(owcp_receipt_matches(&r, "T-0001", "alice@example.com",
                                        "client-1", "Accept", xml, n + 1, &err),
                   -1);
  assert_int_equal(owcp_receipt_matches(&r, NULL, "alice@example.com",
                                        "client-1", "Accept", xml, n, &err),
                   -1);
  assert_int_equal(owcp_receipt_matches(NULL, "T-0001", "alice@example.com",
                                        "client-1", "Accept", xml, n, &err),
                   -1);
}

/* --- interoperability with openssl cms ---------------------------------- */

static void test_openssl_cms_verifies_ours(void **state)
{
  struct fixture *f = *state;
  struct owcp_receipt r = sample();
  unsigned char *der = NULL, *out = NULL;
  size_t len = 0, out_len = 0, json_len = 0;
  char ca_path[128], r_path[128], out_path[128], *json = NULL;
  struct owcp_error err;

  snprintf(ca_path, sizeof ca_path, "%s/ca.pem", f->dir);
  snprintf(r_path, sizeof r_path, "%s/r.der", f->dir);
  snprintf(out_path, sizeof out_path, "%s/out.json", f->dir);
  assert_int_equal(owcp_cert_save_pem(ca_path, f->ca.cert, &err), 0);
  create(f, &r, &der, &len);
  testutil_write_file(r_path, der, len);
  assert_int_equal(testutil_openssl(NULL, "cms", "-verify", "-inform", "DER",
                                    "-in", r_path, "-CAfile", ca_path,
                                    "-purpose", "any", "-out", out_path),
                   0);
  assert_int_equal(owcp_file_read(out_path, 1 << 20, &out, &out_len, &err), 0);
  assert_int_equal(owcp_receipt_content(&r, &json, &json_len, &err), 0);
  assert_int_equal(out_len, json_len);
  assert_memory_equal(out, json, json_len);
  /* And the tool refuses it under another CA. */
  assert_int_equal(owcp_cert_save_pem(ca_path, f->other_ca.cert, &err), 0);
  assert_int_not_equal(testutil_openssl(NULL, "cms", "-verify", "-inform",
                                        "DER", "-in", r_path, "-CAfile",
                                        ca_path, "-purpose", "any", "-out",
                                        "/dev/null"),
                       0);
  free(json);
  free(out);
  free(der);
}

static void test_we_verify_openssl_cms_sign(void **state)
{
  struct fixture *f = *state;
  struct owcp_receipt r = sample(), *back = NULL;
  char cert_path[128], key_path[128], in_path[128], r_path[128];
  unsigned char *der = NULL;
  size_t len = 0, json_len = 0;
  struct owcp_error err;
  char *json = NULL;

  snprintf(cert_path, sizeof cert_path, "%s/client.pem", f->dir);
  snprintf(key_path, sizeof key_path, "%s/client-key.pem", f->dir);
  snprintf(in_path, sizeof in_path, "%s/content.json", f->dir);
  snprintf(r_path, sizeof r_path, "%s/tool.der", f->dir);
  assert_int_equal(owcp_cert_save_pem(cert_path, f->client.cert, &err), 0);
  assert_int_equal(owcp_key_save_pem(key_path, f->client.key, &err), 0);
  assert_int_equal(owcp_receipt_content(&r, &json, &json_len, &err), 0);
  testutil_write_file(in_path, json, json_len);
  assert_int_equal(testutil_openssl(NULL, "cms", "-sign", "-binary",
                                    "-nodetach", "-outform", "DER", "-md",
                                    "sha256", "-signer", cert_path, "-inkey",
                                    key_path, "-in", in_path, "-out", r_path),
                   0);
  assert_int_equal(owcp_file_read(r_path, 1 << 20, &der, &len, &err), 0);
  if (owcp_receipt_verify(der, len, f->ca.cert, f->client.cert, &back, &err))
    fail_msg("openssl-made receipt refused: %s", err.msg);
  assert_receipt_equal(&r, back);
  owcp_receipt_free(back);
  back = NULL;
  if (owcp_receipt_verify_known_signer(der, len, f->client.cert, &back, &err))
    fail_msg("openssl-made receipt refused by fast path: %s", err.msg);
  assert_receipt_equal(&r, back);
  owcp_receipt_free(back);
  free(der);
  free(json);
}

/* A receipt for r signed by `signer`, carrying `extra` too (when not NULL),
 * as DER or, with `stream`, as indefinite-length BER. */
static void sign_with(const struct party *signer, X509 *extra,
                      unsigned int flags, bool stream,
                      const struct owcp_receipt *r, unsigned char **der,
                      size_t *len)
{
  struct owcp_error err;
  char *json = NULL;
  size_t json_len = 0;
  BIO *in, *out = BIO_new(BIO_s_mem());
  CMS_ContentInfo *cms;
  unsigned int mode = CMS_PARTIAL | CMS_BINARY | flags;
  char *data = NULL;
  long n;

  assert_int_equal(owcp_receipt_content(r, &json, &json_len, &err), 0);
  in = BIO_new_mem_buf(json, (int)json_len);
  cms = CMS_sign(NULL, NULL, NULL, NULL, mode | (stream ? CMS_STREAM : 0));
  assert_non_null(cms);
  assert_non_null(
      CMS_add1_signer(cms, signer->cert, signer->key, EVP_sha256(), flags));
  if (extra != NULL)
    assert_int_equal(CMS_add1_cert(cms, extra), 1);
  if (stream)
    assert_int_equal(i2d_CMS_bio_stream(out, cms, in, mode | CMS_STREAM), 1);
  else
    assert_int_equal(CMS_final(cms, in, NULL, mode), 1);
  if (!stream)
    assert_true(i2d_CMS_bio(out, cms) == 1);
  n = BIO_get_mem_data(out, &data);
  assert_true(n > 0);
  *der = malloc((size_t)n);
  assert_non_null(*der);
  memcpy(*der, data, (size_t)n);
  *len = (size_t)n;
  CMS_ContentInfo_free(cms);
  BIO_free(in);
  BIO_free(out);
  free(json);
}

/* The known-signer path never decodes the included certificates: the
 * signer identifier must still name the known certificate and the CMS must
 * still carry it byte for byte, whatever else it carries. */
static void test_known_signer_named_and_included(void **state)
{
  struct fixture *f = *state;
  struct owcp_receipt r = sample(), *back = NULL;
  unsigned char *der = NULL;
  size_t len = 0;
  struct owcp_error err = {{0}};

  /* Signed by client 2, client 1's certificate along for the ride. */
  sign_with(&f->client2, f->client.cert, 0, false, &r, &der, &len);
  assert_int_equal(
      owcp_receipt_verify_known_signer(der, len, f->client.cert, &back, &err),
      -1);
  testutil_assert_err_contains(&err, "not the expected client certificate");
  free(der);
  /* Signed by client 1 without its certificate, client 2's included. */
  sign_with(&f->client, f->client2.cert, CMS_NOCERTS, false, &r, &der, &len);
  assert_int_equal(
      owcp_receipt_verify_known_signer(der, len, f->client.cert, &back, &err),
      -1);
  testutil_assert_err_contains(&err,
                               "does not include the signer's certificate");
  free(der);
  assert_null(back);
  /* Signed by client 1 with the CA's certificate beside its own: fine. */
  sign_with(&f->client, f->ca.cert, 0, false, &r, &der, &len);
  if (owcp_receipt_verify_known_signer(der, len, f->client.cert, &back, &err))
    fail_msg("receipt with an extra certificate refused: %s", err.msg);
  assert_receipt_equal(&r, back);
  owcp_receipt_free(back);
  free(der);
}

/* BER (indefinite lengths, constructed content octets) is read by the
 * known-signer path as by OpenSSL's own decoder, and a tampered byte in it
 * is still refused. */
static void test_known_signer_reads_ber(void **state)
{
  struct fixture *f = *state;
  struct owcp_receipt r = sample(), *back = NULL;
  unsigned char *der = NULL, *p;
  size_t len = 0, i;
  struct owcp_error err = {{0}};

  sign_with(&f->client, NULL, 0, true, &r, &der, &len);
  /* Indefinite length: the outer SEQUENCE's length octet is 0x80. */
  assert_int_equal(der[1], 0x80);
  if (owcp_receipt_verify(der, len, f->ca.cert, f->client.cert, &back, &err))
    fail_msg("BER receipt refused: %s", err.msg);
  owcp_receipt_free(back);
  back = NULL;
  if (owcp_receipt_verify_known_signer(der, len, f->client.cert, &back, &err))
    fail_msg("BER receipt refused by the known-signer path: %s", err.msg);
  assert_receipt_equal(&r, back);
  owcp_receipt_free(back);
  back = NULL;
  for (p = NULL, i = 0; i + 6 <= len; i++)
    if (memcmp(der + i, "T-0001", 6) == 0)
      p = der + i;
  if (p == NULL) {
    fail_msg("the BER receipt holds no \"T-0001\"");
  } else {
    p[5] = '2';
    assert_int_equal(
        owcp_receipt_verify_known_signer(der, len, f->client.cert, &back, &err),
        -1);
    testutil_assert_err_contains(&err, "does not match its signature");
  }
  assert_null(back);
  free(der);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_content_exact_bytes),
      cmocka_unit_test(test_content_refuses_invalid_fields),
      cmocka_unit_test(test_content_defaults_signed_to_now),
      cmocka_unit_test(test_create_verify_round_trip),
      cmocka_unit_test(test_refuse_round_trip),
      cmocka_unit_test(test_match_round_trip),
      cmocka_unit_test(test_create_refuses_mismatched_key),
      cmocka_unit_test(test_tampered_content_refused),
      cmocka_unit_test(test_tampered_signature_refused),
      cmocka_unit_test(test_wrong_ca_refused),
      cmocka_unit_test(test_unexpected_signer_refused),
      cmocka_unit_test(test_structural_refusals),
      cmocka_unit_test(test_not_signed_data_refused),
      cmocka_unit_test(test_hostile_content_refused),
      cmocka_unit_test(test_member_order_is_not_required),
      cmocka_unit_test(test_matches_each_field),
      cmocka_unit_test(test_openssl_cms_verifies_ours),
      cmocka_unit_test(test_we_verify_openssl_cms_sign),
      cmocka_unit_test(test_known_signer_named_and_included),
      cmocka_unit_test(test_known_signer_reads_ber),
  };

  return cmocka_run_group_tests(tests, setup, teardown);
}
