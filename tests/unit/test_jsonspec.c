/* Unit tests for declarative parameter parsing, account validation and the
 * multipart-to-JSON glue. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "owcp/jsonspec.h"
#include "owcp/multipart.h"

/* A table that exercises every parameter type and presence kind. */
struct all_in {
  char *str;
  int64_t num;
  bool num_present;
  bool flag;
  int choice;
  char **list;
  size_t list_n;
  unsigned char *blob;
  size_t blob_len;
  char *account;
  const json_t *extra;
};

static const char *const choices[] = {"Accept", "Reject", "Refuse", NULL};

static const struct owcp_param_spec all_params[] = {
    OWCP_PARAM_STRING("Str", struct all_in, str, OWCP_REQUIRED, 8),
    OWCP_PARAM_INT("Num", struct all_in, num,
                   OWCP_PRESENT(struct all_in, num_present), 1, 86400),
    OWCP_PARAM_BOOL("Flag", struct all_in, flag, OWCP_DEFAULT(true)),
    OWCP_PARAM_ENUM("Choice", struct all_in, choice, OWCP_OPTIONAL, choices),
    OWCP_PARAM_STRINGS("List", struct all_in, list, list_n, OWCP_OPTIONAL, 3,
                       4),
    OWCP_PARAM_BASE64("Blob", struct all_in, blob, blob_len, OWCP_OPTIONAL, 5),
    OWCP_PARAM_ACCOUNT("Account", struct all_in, account, OWCP_OPTIONAL),
    OWCP_PARAM_OBJECT("Extra", struct all_in, extra, OWCP_OPTIONAL),
    OWCP_PARAM_END};

/* The RD-Confirm table from the module's documentation. */
struct rd_confirm_in {
  char *request;
  int64_t timeout;
  char *completion;
};

static const struct owcp_param_spec rd_confirm_params[] = {
    OWCP_PARAM_STRING("Request", struct rd_confirm_in, request, OWCP_REQUIRED,
                      65536),
    OWCP_PARAM_INT("Timeout", struct rd_confirm_in, timeout, OWCP_DEFAULT(300),
                   1, 86400),
    OWCP_PARAM_STRING("Completion", struct rd_confirm_in, completion,
                      OWCP_OPTIONAL, 2048),
    OWCP_PARAM_END};

/* Parses `text` (duplicate keys refused, as the dispatcher loads bodies;
 * \u0000 allowed so that the parser's own NUL checks are exercised) against
 * all_params. The loaded object is returned in *root so that
 * borrowed members stay valid; the caller json_decref()s it. */
static int parse_all(const char *text, struct all_in *in, json_t **root,
                     struct owcp_error *err)
{
  json_error_t jerr;
  *root = json_loads(text, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
  if (*root == NULL)
    fail_msg("test JSON does not load: %s", jerr.text);
  memset(in, 0x5A, sizeof(*in)); /* garbage: parse must initialise all */
  return owcp_params_parse(*root, all_params, in, err);
}

/* Parses `text` expecting failure code `rc` with exactly `msg`, and checks
 * that nothing is left allocated in the struct. */
static void expect_all_error(const char *text, int rc, const char *msg)
{
  struct all_in in;
  json_t *root;
  struct owcp_error err = {{0}};
  assert_int_equal(parse_all(text, &in, &root, &err), rc);
  assert_string_equal(err.msg, msg);
  assert_null(in.str);
  assert_null(in.list);
  assert_int_equal(in.list_n, 0);
  assert_null(in.blob);
  assert_int_equal(in.blob_len, 0);
  assert_null(in.account);
  assert_null(in.extra);
  json_decref(root);
}

static void test_all_types_success(void **state)
{
  (void)state;
  struct all_in in;
  json_t *root;
  struct owcp_error err = {{0}};
  assert_int_equal(
      parse_all("{\"Str\":\"abc\",\"Num\":86400,\"Flag\":false,"
                "\"Choice\":\"Refuse\",\"List\":[\"PIN\",\"\",\"x\"],"
                "\"Blob\":\"aGVsbG8=\",\"Account\":\"Bob.X@Example.COM\","
                "\"Extra\":{\"k\":1}}",
                &in, &root, &err),
      0);
  assert_string_equal(in.str, "abc");
  assert_int_equal(in.num, 86400);
  assert_true(in.num_present);
  assert_false(in.flag);
  assert_int_equal(in.choice, 2);
  assert_int_equal(in.list_n, 3);
  assert_string_equal(in.list[0], "PIN");
  assert_string_equal(in.list[1], "");
  assert_string_equal(in.list[2], "x");
  assert_null(in.list[3]);
  assert_int_equal(in.blob_len, 5);
  assert_memory_equal(in.blob, "hello", 5);
  assert_string_equal(in.account, "Bob.X@example.com");
  assert_ptr_equal(in.extra, json_object_get(root, "Extra"));
  /* Copies, not borrowed pointers into the JSON. */
  assert_ptr_not_equal(in.str, json_string_value(json_object_get(root, "Str")));

  owcp_params_free(all_params, &in);
  assert_null(in.str);
  assert_null(in.list);
  assert_int_equal(in.list_n, 0);
  assert_null(in.blob);
  assert_null(in.account);
  assert_null(in.extra);
  owcp_params_free(all_params, &in); /* idempotent */
  json_decref(root);
}

static void test_optional_absent_defaults(void **state)
{
  (void)state;
  struct all_in in;
  json_t *root;
  assert_int_equal(parse_all("{\"Str\":\"\"}", &in, &root, NULL), 0);
  assert_string_equal(in.str, "");
  assert_int_equal(in.num, 0);
  assert_false(in.num_present);
  assert_true(in.flag); /* OWCP_DEFAULT(true) */
  assert_int_equal(in.choice, -1);
  assert_null(in.list);
  assert_int_equal(in.list_n, 0);
  assert_null(in.blob);
  assert_int_equal(in.blob_len, 0);
  assert_null(in.account);
  assert_null(in.extra);
  owcp_params_free(all_params, &in);
  json_decref(root);
}

static void test_rd_confirm_table(void **state)
{
  (void)state;
  json_t *root = json_loads("{\"Request\":\"<Request/>\"}", 0, NULL);
  struct rd_confirm_in in;
  struct owcp_error err = {{0}};
  assert_int_equal(owcp_params_parse(root, rd_confirm_params, &in, &err), 0);
  assert_string_equal(in.request, "<Request/>");
  assert_int_equal(in.timeout, 300);
  assert_null(in.completion);
  owcp_params_free(rd_confirm_params, &in);
  json_decref(root);

  root = json_loads("{\"Request\":\"<R/>\",\"Timeout\":0}", 0, NULL);
  assert_int_equal(owcp_params_parse(root, rd_confirm_params, &in, &err), -1);
  assert_string_equal(err.msg, "parameter 'Timeout' must be an integer "
                               "between 1 and 86400");
  assert_null(in.request);
  json_decref(root);

  root = json_loads("{\"Timeout\":5}", 0, NULL);
  assert_int_equal(owcp_params_parse(root, rd_confirm_params, &in, &err), -1);
  assert_string_equal(err.msg, "missing required parameter 'Request'");
  json_decref(root);
}

static void test_not_an_object(void **state)
{
  (void)state;
  const char *texts[] = {"[]", "\"Str\"", "1", "null", "true"};
  for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
    json_t *root = json_loads(texts[i], JSON_DECODE_ANY, NULL);
    assert_non_null(root);
    struct all_in in;
    struct owcp_error err = {{0}};
    assert_int_equal(owcp_params_parse(root, all_params, &in, &err), -1);
    assert_string_equal(err.msg, "the parameters must be a JSON object");
    assert_null(in.str);
    json_decref(root);
  }
  struct all_in in;
  assert_int_equal(owcp_params_parse(NULL, all_params, &in, NULL), -1);
}

static void test_missing_and_unknown(void **state)
{
  (void)state;
  expect_all_error("{}", -1, "missing required parameter 'Str'");
  expect_all_error("{\"Num\":5}", -1, "missing required parameter 'Str'");
  expect_all_error("{\"Str\":\"a\",\"Foo\":1}", -1, "unknown parameter 'Foo'");
  /* Names are case-sensitive: a misspelling is unknown, not ignored. */
  expect_all_error("{\"Str\":\"a\",\"num\":5}", -1, "unknown parameter 'num'");
  /* A peer-chosen name is rendered safely: control characters and non-ASCII
   * become '?', and a long name is cut. */
  expect_all_error("{\"Str\":\"a\",\"x\\ny\\u00e9\":1}", -1,
                   "unknown parameter 'x?y?"
                   "?'" /* split: no trigraph */);
  /* A key with an embedded NUL must not pass as the key before the NUL
   * (jansson's parser refuses such keys, but objects can be built). */
  json_t *root = json_pack("{s:s}", "Str", "a");
  assert_int_equal(json_object_setn_new(root, "Str\0x", 5, json_integer(1)), 0);
  struct all_in in;
  struct owcp_error err = {{0}};
  assert_int_equal(owcp_params_parse(root, all_params, &in, &err), -1);
  assert_string_equal(err.msg, "unknown parameter 'Str?x'");
  assert_null(in.str);
  json_decref(root);
  char text[256];
  char name[101];
  memset(name, 'N', 100);
  name[100] = '\0';
  snprintf(text, sizeof(text), "{\"Str\":\"a\",\"%s\":1}", name);
  char expect[128];
  snprintf(expect, sizeof(expect), "unknown parameter '%.64s...'", name);
  expect_all_error(text, -1, expect);
}

static void test_null_is_not_absent(void **state)
{
  (void)state;
  expect_all_error("{\"Str\":null}", -1,
                   "parameter 'Str' must be a string of at most 8 bytes");
  expect_all_error("{\"Str\":\"a\",\"Num\":null}", -1,
                   "parameter 'Num' must be an integer between 1 and 86400");
}

static void test_string(void **state)
{
  (void)state;
  struct all_in in;
  json_t *root;
  assert_int_equal(parse_all("{\"Str\":\"12345678\"}", &in, &root, NULL), 0);
  assert_string_equal(in.str, "12345678");
  owcp_params_free(all_params, &in);
  json_decref(root);
  /* Limits count octets: four two-octet characters fit in 8. */
  assert_int_equal(
      parse_all("{\"Str\":\"\\u00e9\\u00e9\\u00e9\\u00e9\"}", &in, &root, NULL),
      0);
  assert_int_equal(strlen(in.str), 8);
  owcp_params_free(all_params, &in);
  json_decref(root);

  expect_all_error("{\"Str\":\"123456789\"}", OWCP_PARAMS_TOO_LARGE,
                   "parameter 'Str' must be a string of at most 8 bytes");
  expect_all_error("{\"Str\":\"\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\"}",
                   OWCP_PARAMS_TOO_LARGE,
                   "parameter 'Str' must be a string of at most 8 bytes");
  expect_all_error("{\"Str\":12}", -1,
                   "parameter 'Str' must be a string of at most 8 bytes");
  expect_all_error("{\"Str\":[\"a\"]}", -1,
                   "parameter 'Str' must be a string of at most 8 bytes");
  expect_all_error("{\"Str\":\"a\\u0000b\"}", -1,
                   "parameter 'Str' must not contain a NUL character");
}

static void test_int(void **state)
{
  (void)state;
  struct all_in in;
  json_t *root;
  assert_int_equal(parse_all("{\"Str\":\"\",\"Num\":1}", &in, &root, NULL), 0);
  assert_int_equal(in.num, 1);
  assert_true(in.num_present);
  owcp_params_free(all_params, &in);
  json_decref(root);

  const char *bad[] = {"0",
                       "86401",
                       "-1",
                       "1.0",
                       "\"5\"",
                       "true",
                       "[1]",
                       "{}",
                       "1e3",
                       "9223372036854775807",
                       "-9223372036854775808"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    char text[128];
    snprintf(text, sizeof(text), "{\"Str\":\"\",\"Num\":%s}", bad[i]);
    expect_all_error(text, -1,
                     "parameter 'Num' must be an integer between 1 and "
                     "86400");
  }
}

struct wide_in {
  int64_t v;
};

static void test_int_full_range(void **state)
{
  (void)state;
  static const struct owcp_param_spec wide[] = {
      OWCP_PARAM_INT("V", struct wide_in, v, OWCP_REQUIRED, INT64_MIN,
                     INT64_MAX),
      OWCP_PARAM_END};
  const char *texts[] = {"{\"V\":-9223372036854775808}",
                         "{\"V\":9223372036854775807}"};
  const int64_t values[] = {INT64_MIN, INT64_MAX};
  for (size_t i = 0; i < 2; i++) {
    json_t *root = json_loads(texts[i], 0, NULL);
    assert_non_null(root);
    struct wide_in in;
    assert_int_equal(owcp_params_parse(root, wide, &in, NULL), 0);
    assert_true(in.v == values[i]);
    json_decref(root);
  }
}

static void test_bool(void **state)
{
  (void)state;
  struct all_in in;
  json_t *root;
  assert_int_equal(parse_all("{\"Str\":\"\",\"Flag\":true}", &in, &root, NULL),
                   0);
  assert_true(in.flag);
  owcp_params_free(all_params, &in);
  json_decref(root);
  const char *bad[] = {"1", "0", "\"true\"", "null"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    char text[64];
    snprintf(text, sizeof(text), "{\"Str\":\"\",\"Flag\":%s}", bad[i]);
    expect_all_error(text, -1, "parameter 'Flag' must be true or false");
  }
}

static void test_enum(void **state)
{
  (void)state;
  for (int i = 0; choices[i] != NULL; i++) {
    char text[64];
    snprintf(text, sizeof(text), "{\"Str\":\"\",\"Choice\":\"%s\"}",
             choices[i]);
    struct all_in in;
    json_t *root;
    assert_int_equal(parse_all(text, &in, &root, NULL), 0);
    assert_int_equal(in.choice, i);
    owcp_params_free(all_params, &in);
    json_decref(root);
  }
  const char *bad[] = {"\"accept\"", "\"Accept \"", "\"\"", "0",
                       "\"Accept\\u0000\""};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    char text[64];
    snprintf(text, sizeof(text), "{\"Str\":\"\",\"Choice\":%s}", bad[i]);
    expect_all_error(text, -1,
                     "parameter 'Choice' must be one of: Accept, Reject, "
                     "Refuse");
  }
}

struct enum_default_in {
  int e;
};

static void test_enum_default(void **state)
{
  (void)state;
  static const struct owcp_param_spec spec[] = {
      OWCP_PARAM_ENUM("E", struct enum_default_in, e, OWCP_DEFAULT(1), choices),
      OWCP_PARAM_END};
  json_t *root = json_object();
  struct enum_default_in in = {.e = 77};
  assert_int_equal(owcp_params_parse(root, spec, &in, NULL), 0);
  assert_int_equal(in.e, 1);
  json_decref(root);
}

static void test_string_array(void **state)
{
  (void)state;
  struct all_in in;
  json_t *root;
  assert_int_equal(parse_all("{\"Str\":\"\",\"List\":[]}", &in, &root, NULL),
                   0);
  assert_non_null(in.list); /* present but empty differs from absent */
  assert_null(in.list[0]);
  assert_int_equal(in.list_n, 0);
  owcp_params_free(all_params, &in);
  json_decref(root);

  expect_all_error("{\"Str\":\"\",\"List\":[\"a\",\"b\",\"c\",\"d\"]}",
                   OWCP_PARAMS_TOO_LARGE,
                   "parameter 'List' must be an array of at most 3 strings");
  expect_all_error("{\"Str\":\"\",\"List\":\"a\"}", -1,
                   "parameter 'List' must be an array of at most 3 strings");
  /* Failures part-way through release the items already copied. */
  expect_all_error("{\"Str\":\"\",\"List\":[\"abcd\",\"abcde\"]}",
                   OWCP_PARAMS_TOO_LARGE,
                   "parameter 'List'[1] must be a string of at most 4 "
                   "bytes");
  expect_all_error("{\"Str\":\"\",\"List\":[\"a\",\"b\",7]}", -1,
                   "parameter 'List'[2] must be a string of at most 4 bytes");
  expect_all_error("{\"Str\":\"\",\"List\":[\"a\\u0000\"]}", -1,
                   "parameter 'List'[0] must not contain a NUL character");
}

static void test_base64(void **state)
{
  (void)state;
  struct all_in in;
  json_t *root;
  assert_int_equal(
      parse_all("{\"Str\":\"\",\"Blob\":\"AA==\"}", &in, &root, NULL), 0);
  assert_int_equal(in.blob_len, 1);
  assert_int_equal(in.blob[0], 0);
  owcp_params_free(all_params, &in);
  json_decref(root);

  /* 8 characters pass the length pre-check but decode to 6 > 5 octets. */
  expect_all_error("{\"Str\":\"\",\"Blob\":\"aGVsbG8h\"}",
                   OWCP_PARAMS_TOO_LARGE,
                   "parameter 'Blob' must decode to at most 5 bytes");
  /* 12 characters are refused before anything is decoded. */
  expect_all_error("{\"Str\":\"\",\"Blob\":\"aGVsbG8haGVs\"}",
                   OWCP_PARAMS_TOO_LARGE,
                   "parameter 'Blob' must decode to at most 5 bytes");
  expect_all_error("{\"Str\":\"\",\"Blob\":\"\"}", -1,
                   "parameter 'Blob' must not be empty");
  expect_all_error("{\"Str\":\"\",\"Blob\":5}", -1,
                   "parameter 'Blob' must be a base64 string");
  struct all_in bad;
  struct owcp_error err = {{0}};
  const char *invalid[] = {"aGVsbG8", "aGV!bG8=", "aGVs bG8", "aGVsbG9="};
  for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
    char text[64];
    snprintf(text, sizeof(text), "{\"Str\":\"\",\"Blob\":\"%s\"}", invalid[i]);
    assert_int_equal(parse_all(text, &bad, &root, &err), -1);
    assert_non_null(strstr(err.msg, "parameter 'Blob' is not valid base64: "));
    assert_null(bad.blob);
    json_decref(root);
  }
}

static void test_object(void **state)
{
  (void)state;
  expect_all_error("{\"Str\":\"\",\"Extra\":[]}", -1,
                   "parameter 'Extra' must be a JSON object");
  expect_all_error("{\"Str\":\"\",\"Extra\":\"{}\"}", -1,
                   "parameter 'Extra' must be a JSON object");
}

/* ---- accounts ---------------------------------------------------------- */

static void expect_account(const char *in, const char *normalised)
{
  char *out = NULL;
  struct owcp_error err = {{0}};
  if (owcp_account_normalize(in, strlen(in), &out, &err) != 0)
    fail_msg("'%s' refused: %s", in, err.msg);
  assert_string_equal(out, normalised);
  free(out);
}

static void expect_bad_account(const char *in, size_t len, const char *msg)
{
  char *out = (char *)in;
  struct owcp_error err = {{0}};
  assert_int_equal(owcp_account_normalize(in, len, &out, &err), -1);
  assert_null(out);
  assert_string_equal(err.msg, msg);
}

static void test_account_valid(void **state)
{
  (void)state;
  expect_account("alice@example.com", "alice@example.com");
  expect_account("Alice.B+tag@Example.COM", "Alice.B+tag@example.com");
  expect_account("a@localhost", "a@localhost");
  expect_account("x!#$%&'*+-/=?^_`{|}~@a-b.c0", "x!#$%&'*+-/=?^_`{|}~@a-b.c0");
  expect_account("0@1.2", "0@1.2");

  /* Exactly at the limits: 64-octet local part, 63-octet labels, 254 in
   * all. */
  char buf[300];
  memset(buf, 'l', 64);
  buf[64] = '@';
  size_t p = 65;
  const size_t labels[] = {63, 63, 61};
  for (size_t i = 0; i < 3; i++) {
    if (i > 0)
      buf[p++] = '.';
    memset(buf + p, 'D', labels[i]);
    p += labels[i];
  }
  buf[p] = '\0';
  assert_int_equal(strlen(buf), OWCP_ACCOUNT_MAX);
  char *out = NULL;
  assert_int_equal(owcp_account_normalize(buf, p, &out, NULL), 0);
  assert_int_equal(strlen(out), OWCP_ACCOUNT_MAX);
  assert_memory_equal(out, buf, 65);
  assert_int_equal(out[65], 'd');
  free(out);

  /* One more octet is too long. */
  buf[p] = 'D';
  buf[p + 1] = '\0';
  expect_bad_account(buf, p + 1, "account is longer than 254 octets");
}

static void test_account_invalid(void **state)
{
  (void)state;
  static const struct {
    const char *in;
    const char *msg;
  } cases[] = {
      {"", "account must contain exactly one '@'"},
      {"alice", "account must contain exactly one '@'"},
      {"a@b@c", "account must contain exactly one '@'"},
      {"\"a@b\"@c", "account must contain exactly one '@'"},
      {"@example.com", "account local part is empty"},
      {".a@x.com", "account local part has an empty atom before a '.' "
                   "(leading or doubled dot)"},
      {"a..b@x.com", "account local part has an empty atom before a '.' "
                     "(leading or doubled dot)"},
      {"a.@x.com", "account local part ends with a '.'"},
      {"a b@x.com", "account local part has a character not allowed in a "
                    "dot-atom at position 1"},
      {"\"q\"@x.com", "account local part has a character not allowed in a "
                      "dot-atom at position 0"},
      {"a(c)@x.com", "account local part has a character not allowed in a "
                     "dot-atom at position 1"},
      {"\xC3\xA4@x.com", "account local part has a character not allowed in "
                         "a dot-atom at position 0"},
      {"a@", "account domain is empty"},
      {"a@.x", "account domain has an empty label (leading, trailing or "
               "doubled dot)"},
      {"a@x.", "account domain has an empty label (leading, trailing or "
               "doubled dot)"},
      {"a@x..y", "account domain has an empty label (leading, trailing or "
                 "doubled dot)"},
      {"a@-x.com", "account domain has a label that starts or ends with '-'"},
      {"a@x.com-", "account domain has a label that starts or ends with '-'"},
      {"a@x_y.com", "account domain has a character other than a letter, "
                    "digit, '-' or '.' at position 3"},
      {"a@[1.2.3.4]", "account domain has a character other than a letter, "
                      "digit, '-' or '.' at position 2"},
      {"a@ex ample.com", "account domain has a character other than a "
                         "letter, digit, '-' or '.' at position 4"},
      {"<a@x.com>", "account local part has a character not allowed in a "
                    "dot-atom at position 0"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
    expect_bad_account(cases[i].in, strlen(cases[i].in), cases[i].msg);

  char local[80];
  memset(local, 'a', 65);
  memcpy(local + 65, "@x.com", 7);
  expect_bad_account(local, strlen(local),
                     "account local part is longer than 64 octets");
  char domain[80];
  domain[0] = 'a';
  domain[1] = '@';
  memset(domain + 2, 'b', 64);
  memcpy(domain + 66, ".com", 5);
  expect_bad_account(domain, strlen(domain),
                     "account domain has a label longer than 63 octets");
  /* An embedded NUL (the length is explicit) is not hidden by C strings. */
  expect_bad_account("a\0b@x.com", 9,
                     "account local part has a character not allowed in a "
                     "dot-atom at position 1");
  expect_bad_account("a@x.com\0", 8,
                     "account domain has a character other than a letter, "
                     "digit, '-' or '.' at position 7");
}

static void test_account_parameter(void **state)
{
  (void)state;
  expect_all_error("{\"Str\":\"\",\"Account\":\"a@b@c\"}", -1,
                   "parameter 'Account': account must contain exactly one "
                   "'@'");
  expect_all_error("{\"Str\":\"\",\"Account\":7}", -1,
                   "parameter 'Account' must be an account string "
                   "local@domain");
  expect_all_error("{\"Str\":\"\",\"Account\":\"a@x.com\\u0000\"}", -1,
                   "parameter 'Account': account domain has a character "
                   "other than a letter, digit, '-' or '.' at position 7");
}

/* ---- multipart glue ---------------------------------------------------- */

static struct owcp_mp_section sec(const void *p, size_t n)
{
  struct owcp_mp_section s = {p, n, true};
  return s;
}

static struct owcp_mp_section text(const char *s)
{
  return sec(s, strlen(s));
}

/* Encodes segs and runs owcp_params_from_multipart on the result. */
static int from_segments(const struct owcp_mp_segment *segs, size_t n,
                         json_t **out, struct owcp_error *err)
{
  unsigned char *body = NULL;
  size_t len = 0;
  assert_int_equal(owcp_multipart_encode(segs, n, &body, &len, NULL), 0);
  int rc = owcp_params_from_multipart(body, len, out, err);
  free(body);
  return rc;
}

static void expect_multipart_error(const struct owcp_mp_segment *segs, size_t n,
                                   const char *msg)
{
  json_t *out = json_object(); /* must be replaced by NULL */
  json_t *keep = out;
  struct owcp_error err = {{0}};
  assert_int_equal(from_segments(segs, n, &out, &err), -1);
  assert_null(out);
  assert_string_equal(err.msg, msg);
  json_decref(keep);
}

static const unsigned char der[] = {0x30, 0x82, 0x00, 0xFF};

static void test_multipart_full(void **state)
{
  (void)state;
  struct owcp_mp_segment segs[3] = {0};
  segs[0].content_type = text("application/json");
  segs[0].data = text("{\"Transaction\":\"t1\",\"Response\":\"Accept\"}");
  segs[1].content_type = text("Application/XML"); /* case-insensitive */
  segs[1].content_id = text("request");           /* ignored */
  segs[1].data = text("<Request>\xC3\xA9</Request>");
  segs[2].content_type = text("application/pkcs7-mime");
  segs[2].data = sec(der, sizeof(der));
  json_t *obj = NULL;
  struct owcp_error err = {{0}};
  assert_int_equal(from_segments(segs, 3, &obj, &err), 0);
  assert_int_equal(json_object_size(obj), 4);
  assert_string_equal(json_string_value(json_object_get(obj, "Transaction")),
                      "t1");
  assert_string_equal(json_string_value(json_object_get(obj, "Request")),
                      "<Request>\xC3\xA9</Request>");
  assert_string_equal(json_string_value(json_object_get(obj, "Receipt")),
                      "MIIA/w==");
  json_decref(obj);
}

struct reply_in {
  char *transaction;
  unsigned char *receipt;
  size_t receipt_len;
};

static void test_multipart_then_params(void **state)
{
  (void)state;
  static const struct owcp_param_spec reply[] = {
      OWCP_PARAM_STRING("Transaction", struct reply_in, transaction,
                        OWCP_REQUIRED, 64),
      OWCP_PARAM_BASE64("Receipt", struct reply_in, receipt, receipt_len,
                        OWCP_REQUIRED, 65536),
      OWCP_PARAM_END};
  struct owcp_mp_segment segs[2] = {0};
  segs[0].content_type = text("application/json");
  segs[0].data = text("{\"Transaction\":\"t1\"}");
  segs[1].content_type = text("application/pkcs7-mime");
  segs[1].data = sec(der, sizeof(der));
  json_t *obj = NULL;
  assert_int_equal(from_segments(segs, 2, &obj, NULL), 0);
  struct reply_in in;
  assert_int_equal(owcp_params_parse(obj, reply, &in, NULL), 0);
  /* The receipt arrives byte for byte as attached. */
  assert_int_equal(in.receipt_len, sizeof(der));
  assert_memory_equal(in.receipt, der, sizeof(der));
  owcp_params_free(reply, &in);
  json_decref(obj);
}

static void test_multipart_only_json(void **state)
{
  (void)state;
  struct owcp_mp_segment seg = {0};
  seg.content_type = text("application/json");
  seg.data = text("{}");
  json_t *obj = NULL;
  assert_int_equal(from_segments(&seg, 1, &obj, NULL), 0);
  assert_true(json_is_object(obj));
  assert_int_equal(json_object_size(obj), 0);
  json_decref(obj);
}

static void test_multipart_first_segment_errors(void **state)
{
  (void)state;
  struct owcp_mp_segment seg = {0};
  seg.content_type = text("application/xml");
  seg.data = text("{}");
  expect_multipart_error(&seg, 1,
                         "multipart segment 1 must be application/json "
                         "holding the parameters");
  seg.content_type.present = false;
  expect_multipart_error(&seg, 1,
                         "multipart segment 1 must be application/json "
                         "holding the parameters");
  seg.content_type = text("application/json");
  seg.data.present = false;
  expect_multipart_error(&seg, 1, "multipart segment 1 has no Data section");
  seg.data = text("[1,2]");
  expect_multipart_error(&seg, 1,
                         "multipart segment 1 must hold a JSON object");
  seg.data = text("{\"A\":1,\"A\":2}");
  json_t *out = NULL;
  struct owcp_error err = {{0}};
  assert_int_equal(from_segments(&seg, 1, &out, &err), -1);
  assert_non_null(strstr(err.msg, "multipart segment 1 is not valid JSON"));
  assert_non_null(strstr(err.msg, "duplicate"));
  seg.data = text("{} x");
  assert_int_equal(from_segments(&seg, 1, &out, &err), -1);
  assert_non_null(strstr(err.msg, "multipart segment 1 is not valid JSON"));
  seg.data = text("");
  assert_int_equal(from_segments(&seg, 1, &out, &err), -1);
  assert_non_null(strstr(err.msg, "multipart segment 1 is not valid JSON"));
  /* jansson's message quotes the input; control characters must not pass
   * into the error sentence. */
  seg.data = text("\x01\x1b[31m");
  assert_int_equal(from_segments(&seg, 1, &out, &err), -1);
  assert_null(strchr(err.msg, '\x1b'));
  assert_null(strchr(err.msg, '\x01'));
}

static void test_multipart_attachment_errors(void **state)
{
  (void)state;
  struct owcp_mp_segment segs[3] = {0};
  segs[0].content_type = text("application/json");
  segs[0].data = text("{\"Request\":\"<a/>\"}");
  segs[1].content_type = text("application/xml");
  segs[1].data = text("<b/>");
  expect_multipart_error(segs, 2,
                         "multipart segment 2 duplicates parameter 'Request', "
                         "which is already present");
  segs[0].data = text("{}");
  segs[2] = segs[1];
  expect_multipart_error(segs, 3,
                         "multipart segment 3 duplicates parameter 'Request', "
                         "which is already present");
  segs[0].data = text("{\"Receipt\":\"AA==\"}");
  segs[1].content_type = text("application/pkcs7-mime");
  expect_multipart_error(segs, 2,
                         "multipart segment 2 duplicates parameter 'Receipt', "
                         "which is already present");
  segs[0].data = text("{}");
  segs[1].content_type = text("text/plain");
  expect_multipart_error(segs, 2,
                         "multipart segment 2 has unsupported Content-Type "
                         "'text/plain' (expected application/xml or "
                         "application/pkcs7-mime)");
  segs[1].content_type = text("application/xml; charset=utf-8");
  expect_multipart_error(segs, 2,
                         "multipart segment 2 has unsupported Content-Type "
                         "'application/xml; charset=utf-8' (expected "
                         "application/xml or application/pkcs7-mime)");
  segs[1].content_type = text("application/json");
  expect_multipart_error(segs, 2,
                         "multipart segment 2 has unsupported Content-Type "
                         "'application/json' (expected application/xml or "
                         "application/pkcs7-mime)");
  segs[1].content_type.present = false;
  expect_multipart_error(segs, 2, "multipart segment 2 has no Content-Type");
  segs[1].content_type = text("application/xml");
  segs[1].data.present = false;
  segs[1].content_id = text("x");
  expect_multipart_error(segs, 2,
                         "multipart segment 2 (application/xml) has no Data "
                         "section");
  segs[1].data = sec("<a>\0</a>", 8);
  expect_multipart_error(segs, 2,
                         "multipart segment 2 (application/xml) contains a "
                         "NUL octet");
  segs[1].data = text("<a>\xC3\x28</a>");
  expect_multipart_error(segs, 2,
                         "multipart segment 2 (application/xml) is not valid "
                         "UTF-8");
}

static void test_multipart_container_errors(void **state)
{
  (void)state;
  json_t *out = NULL;
  struct owcp_error err = {{0}};
  assert_int_equal(owcp_params_from_multipart(NULL, 0, &out, &err), -1);
  assert_string_equal(err.msg,
                      "invalid multipart body: multipart container is empty");
  const unsigned char bad[] = {0x05, 0x01, 'a', 0x89};
  assert_int_equal(owcp_params_from_multipart(bad, sizeof(bad), &out, &err),
                   -1);
  assert_null(out);
  assert_string_equal(err.msg, "invalid multipart body: segment 1 at offset "
                               "3: Data length field of 9 octets exceeds 8");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_all_types_success),
      cmocka_unit_test(test_optional_absent_defaults),
      cmocka_unit_test(test_rd_confirm_table),
      cmocka_unit_test(test_not_an_object),
      cmocka_unit_test(test_missing_and_unknown),
      cmocka_unit_test(test_null_is_not_absent),
      cmocka_unit_test(test_string),
      cmocka_unit_test(test_int),
      cmocka_unit_test(test_int_full_range),
      cmocka_unit_test(test_bool),
      cmocka_unit_test(test_enum),
      cmocka_unit_test(test_enum_default),
      cmocka_unit_test(test_string_array),
      cmocka_unit_test(test_base64),
      cmocka_unit_test(test_object),
      cmocka_unit_test(test_account_valid),
      cmocka_unit_test(test_account_invalid),
      cmocka_unit_test(test_account_parameter),
      cmocka_unit_test(test_multipart_full),
      cmocka_unit_test(test_multipart_then_params),
      cmocka_unit_test(test_multipart_only_json),
      cmocka_unit_test(test_multipart_first_segment_errors),
      cmocka_unit_test(test_multipart_attachment_errors),
      cmocka_unit_test(test_multipart_container_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
