/* Unit tests for the status table (binding §3) and response skeleton. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "owcp/status.h"
#include "owcp/util.h"

/* The table of binding §3, transcribed independently of status.h. */
static const struct {
  int code;
  const char *text;
} spec_table[] = {
    {200, "Success"},           {202, "Incomplete"},
    {400, "Bad Request"},       {401, "Not Authenticated"},
    {403, "Refused"},           {404, "Not Found"},
    {408, "Timeout"},           {409, "Conflict"},
    {413, "Too Large"},         {415, "Unsupported Media Type"},
    {429, "Too Many Requests"}, {500, "Internal Error"},
    {503, "Unavailable"},
};

static void test_every_spec_code_has_its_phrase(void **state)
{
  (void)state;
  for (size_t i = 0; i < sizeof(spec_table) / sizeof(spec_table[0]); i++) {
    const char *text = owcp_status_text(spec_table[i].code);
    assert_non_null(text);
    assert_string_equal(text, spec_table[i].text);
  }
}

static void test_enum_values_are_the_codes(void **state)
{
  (void)state;
  assert_int_equal(OWCP_OK, 200);
  assert_int_equal(OWCP_INCOMPLETE, 202);
  assert_int_equal(OWCP_BAD_REQUEST, 400);
  assert_int_equal(OWCP_NOT_AUTHENTICATED, 401);
  assert_int_equal(OWCP_REFUSED, 403);
  assert_int_equal(OWCP_NOT_FOUND, 404);
  assert_int_equal(OWCP_TIMEOUT, 408);
  assert_int_equal(OWCP_CONFLICT, 409);
  assert_int_equal(OWCP_TOO_LARGE, 413);
  assert_int_equal(OWCP_UNSUPPORTED_MEDIA_TYPE, 415);
  assert_int_equal(OWCP_TOO_MANY_REQUESTS, 429);
  assert_int_equal(OWCP_INTERNAL_ERROR, 500);
  assert_int_equal(OWCP_UNAVAILABLE, 503);
}

static void test_unknown_codes(void **state)
{
  (void)state;
  const int unknown[] = {0, -1, 100, 201, 204, 302, 402, 418, 501, 999};
  for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
    assert_null(owcp_status_text(unknown[i]));
    assert_null(owcp_status_json(unknown[i], NULL));
    assert_null(owcp_status_json(unknown[i], "boom"));
  }
  /* Every code outside the spec table is unknown. */
  size_t known = 0;
  for (int code = -10; code < 1000; code++) {
    if (owcp_status_text(code) != NULL)
      known++;
  }
  assert_int_equal(known, sizeof(spec_table) / sizeof(spec_table[0]));
}

static void test_json_without_error(void **state)
{
  (void)state;
  json_t *obj = owcp_status_json(OWCP_INCOMPLETE, NULL);
  assert_non_null(obj);
  assert_int_equal(json_object_size(obj), 2);
  assert_int_equal(json_integer_value(json_object_get(obj, "Status")), 202);
  assert_string_equal(json_string_value(json_object_get(obj, "Text")),
                      "Incomplete");
  assert_null(json_object_get(obj, "Error"));
  json_decref(obj);
}

static void test_json_with_error(void **state)
{
  (void)state;
  json_t *obj = owcp_status_json(OWCP_BAD_REQUEST,
                                 "parameter 'Timeout' must be an integer "
                                 "between 1 and 86400");
  assert_non_null(obj);
  assert_int_equal(json_object_size(obj), 3);
  assert_true(json_is_integer(json_object_get(obj, "Status")));
  assert_int_equal(json_integer_value(json_object_get(obj, "Status")), 400);
  assert_string_equal(json_string_value(json_object_get(obj, "Text")),
                      "Bad Request");
  assert_string_equal(json_string_value(json_object_get(obj, "Error")),
                      "parameter 'Timeout' must be an integer between 1 and "
                      "86400");
  char *dump = json_dumps(obj, JSON_SORT_KEYS | JSON_COMPACT);
  assert_string_equal(dump, "{\"Error\":\"parameter 'Timeout' must be an "
                            "integer between 1 and 86400\",\"Status\":400,"
                            "\"Text\":\"Bad Request\"}");
  free(dump);
  json_decref(obj);
}

static void test_error_cut_mid_character(void **state)
{
  (void)state;
  /* owcp_error_set truncates by octets: make it cut "≤" (E2 89 A4). */
  char text[OWCP_ERROR_MAX + 8];
  memset(text, 'a', OWCP_ERROR_MAX - 6);
  memcpy(text + OWCP_ERROR_MAX - 6, "\xE2\x89\xA4\xE2\x89\xA4", 7);
  struct owcp_error err;
  owcp_error_set(&err, "%s", text);
  assert_int_equal(strlen(err.msg), OWCP_ERROR_MAX - 1);
  assert_memory_equal(err.msg + OWCP_ERROR_MAX - 3, "\xE2\x89", 2);

  json_t *obj = owcp_status_json(OWCP_BAD_REQUEST, err.msg);
  assert_non_null(obj);
  const char *e = json_string_value(json_object_get(obj, "Error"));
  assert_non_null(e);
  /* The partial second "≤" is dropped; the whole first one is kept. */
  assert_int_equal(strlen(e), OWCP_ERROR_MAX - 3);
  assert_memory_equal(e, text, OWCP_ERROR_MAX - 3);
  json_decref(obj);
}

static void test_error_invalid_utf8(void **state)
{
  (void)state;
  json_t *obj = owcp_status_json(OWCP_INTERNAL_ERROR, "bad \xFF\xFE in middle");
  assert_non_null(obj);
  assert_string_equal(json_string_value(json_object_get(obj, "Error")),
                      "the error description was not valid UTF-8");
  assert_string_equal(json_string_value(json_object_get(obj, "Text")),
                      "Internal Error");
  json_decref(obj);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_spec_code_has_its_phrase),
      cmocka_unit_test(test_enum_values_are_the_codes),
      cmocka_unit_test(test_unknown_codes),
      cmocka_unit_test(test_json_without_error),
      cmocka_unit_test(test_json_with_error),
      cmocka_unit_test(test_error_cut_mid_character),
      cmocka_unit_test(test_error_invalid_utf8),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
