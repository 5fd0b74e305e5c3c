/*
 * test_svc_body.c — unit tests for request-body accumulation
 * (owcp/service/body.h): a declared Content-Length over the limit is
 * refused before reading, a body passing the limit while it arrives is
 * marked too large and stops growing, and an exact-limit body is kept.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "owcp/service/body.h"

static void test_declared_length(void **state)
{
  (void)state;
  assert_false(svc_body_length_exceeds(NULL, 10));
  assert_false(svc_body_length_exceeds("10", 10));
  assert_true(svc_body_length_exceeds("11", 10));
  assert_true(svc_body_length_exceeds("99999999999999999999999999", 10));
  assert_false(svc_body_length_exceeds("-5", 10));
  assert_false(svc_body_length_exceeds("abc", 10));
}

static void test_limit_while_reading(void **state)
{
  (void)state;
  struct svc_body b;
  char chunk[4] = "abcd";

  svc_body_init(&b, 10);
  assert_int_equal(svc_body_append(&b, chunk, 4), 0);
  assert_int_equal(svc_body_append(&b, chunk, 4), 0);
  assert_false(b.too_large);
  assert_int_equal(b.len, 8);
  assert_string_equal(b.data, "abcdabcd");
  /* 12 > 10: marked, and nothing of it is stored. */
  assert_int_equal(svc_body_append(&b, chunk, 4), 0);
  assert_true(b.too_large);
  assert_int_equal(b.len, 8);
  /* Later data is discarded, even when it would fit. */
  assert_int_equal(svc_body_append(&b, chunk, 1), 0);
  assert_int_equal(b.len, 8);
  svc_body_free(&b);
  assert_null(b.data);
}

static void test_exact_limit_and_consume(void **state)
{
  (void)state;
  struct svc_body b;
  size_t n = 10;

  svc_body_init(&b, 10);
  assert_int_equal(svc_body_consume(&b, "0123456789", &n), 0);
  assert_int_equal(n, 0);
  assert_false(b.too_large);
  assert_int_equal(svc_body_finish(&b), 0);
  assert_string_equal(b.data, "0123456789");
  svc_body_free(&b);
}

static void test_empty_body_is_a_string(void **state)
{
  (void)state;
  struct svc_body b;

  svc_body_init(&b, 10);
  assert_int_equal(svc_body_finish(&b), 0);
  assert_non_null(b.data);
  assert_string_equal(b.data, "");
  assert_int_equal(b.len, 0);
  svc_body_free(&b);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_declared_length),
      cmocka_unit_test(test_limit_while_reading),
      cmocka_unit_test(test_exact_limit_and_consume),
      cmocka_unit_test(test_empty_body_is_a_string),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
