/* Unit tests for owcp/barcode.h: length rule, pixel order, base64 input and
 * block drawing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "owcp/barcode.h"

#define FULL "\xe2\x96\x88"
#define UPPER "\xe2\x96\x80"
#define LOWER "\xe2\x96\x84"

/* 3×2 pattern, one octet a row, low-order bit = leftmost pixel:
 *   row 0: 0x05 = 101 (x0 black, x1 white, x2 black)
 *   row 1: 0x02 = 010 */
static const unsigned char small_bits[] = {0x05, 0x02};

static void test_expected_len(void **state)
{
  (void)state;
  /* Spec §9: ceil(width/8) octets a row; 33×33 needs 165 (not the
   * draft's 155). */
  assert_int_equal(owcp_barcode_expected_len(33, 33), 165);
  assert_int_equal(owcp_barcode_expected_len(8, 1), 1);
  assert_int_equal(owcp_barcode_expected_len(9, 1), 2);
  assert_int_equal(owcp_barcode_expected_len(1, 7), 7);
  assert_int_equal(owcp_barcode_expected_len(0, 5), 0);
  assert_int_equal(owcp_barcode_expected_len(5, 0), 0);
  assert_int_equal(owcp_barcode_expected_len(SIZE_MAX, SIZE_MAX), 0);
}

static void test_pixels_low_bit_first(void **state)
{
  (void)state;
  struct owcp_error err = {{0}};
  struct owcp_barcode *b =
      owcp_barcode_new(3, 2, small_bits, sizeof small_bits, 1024, &err);
  assert_non_null(b);
  assert_int_equal(b->width, 3);
  assert_int_equal(b->height, 2);
  assert_int_equal(b->row_octets, 1);
  assert_true(owcp_barcode_pixel(b, 0, 0));
  assert_false(owcp_barcode_pixel(b, 1, 0));
  assert_true(owcp_barcode_pixel(b, 2, 0));
  assert_false(owcp_barcode_pixel(b, 0, 1));
  assert_true(owcp_barcode_pixel(b, 1, 1));
  assert_false(owcp_barcode_pixel(b, 2, 1));
  /* Outside the grid is white. */
  assert_false(owcp_barcode_pixel(b, 3, 0));
  assert_false(owcp_barcode_pixel(b, 0, 2));
  owcp_barcode_free(b);
}

static void test_padding_bits_ignored(void **state)
{
  (void)state;
  /* Bits 3..7 of each row octet lie beyond width 3: set but invisible. */
  const unsigned char bits[] = {0xfd, 0xfa};
  struct owcp_barcode *b = owcp_barcode_new(3, 2, bits, sizeof bits, 16, NULL);
  assert_non_null(b);
  assert_true(owcp_barcode_pixel(b, 0, 0));
  assert_false(owcp_barcode_pixel(b, 1, 0));
  assert_false(owcp_barcode_pixel(b, 3, 0));
  assert_false(owcp_barcode_pixel(b, 7, 0));
  assert_true(owcp_barcode_pixel(b, 1, 1));
  owcp_barcode_free(b);
}

static void test_multi_octet_rows(void **state)
{
  (void)state;
  /* 10 pixels a row → 2 octets; pixel 8 is bit 0 of the second octet. */
  const unsigned char bits[] = {0x80, 0x01, 0x00, 0x02};
  struct owcp_barcode *b = owcp_barcode_new(10, 2, bits, sizeof bits, 16, NULL);
  assert_non_null(b);
  assert_int_equal(b->row_octets, 2);
  for (size_t x = 0; x < 10; x++) {
    assert_int_equal(owcp_barcode_pixel(b, x, 0), x == 7 || x == 8);
    assert_int_equal(owcp_barcode_pixel(b, x, 1), x == 9);
  }
  owcp_barcode_free(b);
}

static void test_wrong_length_refused(void **state)
{
  (void)state;
  unsigned char bits[166] = {0};
  struct owcp_error err = {{0}};
  assert_null(owcp_barcode_new(33, 33, bits, 164, 1024, &err));
  assert_non_null(strstr(err.msg, "164 octets"));
  assert_non_null(strstr(err.msg, "exactly 165"));
  assert_null(owcp_barcode_new(33, 33, bits, 166, 1024, &err));
  assert_non_null(strstr(err.msg, "166 octets"));
  /* The draft's arithmetic slip: 155 octets is not enough for 33×33. */
  assert_null(owcp_barcode_new(33, 33, bits, 155, 1024, &err));
  struct owcp_barcode *b = owcp_barcode_new(33, 33, bits, 165, 1024, &err);
  assert_non_null(b);
  owcp_barcode_free(b);
}

static void test_dimensions_refused(void **state)
{
  (void)state;
  unsigned char bits[1] = {0};
  struct owcp_error err = {{0}};
  assert_null(owcp_barcode_new(0, 1, bits, 0, 1024, &err));
  assert_non_null(strstr(err.msg, "at least 1"));
  assert_null(owcp_barcode_new(1, 0, bits, 0, 1024, &err));
  assert_null(owcp_barcode_new(8, 1025, bits, 1, 1024, &err));
  assert_non_null(strstr(err.msg, "limit of 1024"));
  assert_null(owcp_barcode_new(2000, 1, bits, 1, 1024, &err));
}

static void test_base64_input(void **state)
{
  (void)state;
  struct owcp_error err = {{0}};
  struct owcp_barcode *b = NULL;
  /* "BQI=" is base64 of 05 02. */
  assert_int_equal(owcp_barcode_from_base64(3, 2, "BQI=", 4, 16, &b, &err), 0);
  assert_memory_equal(b->bits, small_bits, 2);
  owcp_barcode_free(b);

  /* xs:base64Binary allows whitespace; it is removed before decoding. */
  const char *spaced = " B Q\n\tI =\r\n";
  assert_int_equal(
      owcp_barcode_from_base64(3, 2, spaced, strlen(spaced), 16, &b, &err), 0);
  assert_memory_equal(b->bits, small_bits, 2);
  owcp_barcode_free(b);
}

static void test_base64_refused(void **state)
{
  (void)state;
  struct owcp_error err = {{0}};
  struct owcp_barcode sentinel = {0};
  struct owcp_barcode *b = &sentinel; /* must be reset to NULL */
  /* Missing padding, non-zero trailing bits, foreign characters. */
  assert_int_equal(owcp_barcode_from_base64(3, 2, "BQI", 3, 16, &b, &err), -1);
  assert_null(b);
  assert_non_null(strstr(err.msg, "Barcode attribute 'data'"));
  assert_int_equal(owcp_barcode_from_base64(3, 2, "BQJ=", 4, 16, &b, &err), -1);
  assert_int_equal(owcp_barcode_from_base64(3, 2, "B*I=", 4, 16, &b, &err), -1);
  /* Valid base64 of the wrong length: 1 octet for a 3×2 code. */
  assert_int_equal(owcp_barcode_from_base64(3, 2, "BQ==", 4, 16, &b, &err), -1);
  assert_non_null(strstr(err.msg, "1 octets"));
  assert_null(b);
}

static void test_draw_blocks(void **state)
{
  (void)state;
  struct owcp_barcode *b = owcp_barcode_new(3, 2, small_bits, 2, 16, NULL);
  assert_non_null(b);
  struct owcp_error err = {{0}};
  /* Quiet zone 1: 5×4 drawing area, two text lines. Line 0 holds the quiet
   * row over pixel row 0 (101); line 1 holds pixel row 1 (010) over the
   * bottom quiet row. */
  char *s = owcp_barcode_draw(b, 1, false, &err);
  assert_non_null(s);
  assert_string_equal(s, " " LOWER " " LOWER " \n"
                         "  " UPPER "  \n");
  free(s);
  /* Inverted: white (including the quiet zone) becomes ink. */
  s = owcp_barcode_draw(b, 1, true, &err);
  assert_non_null(s);
  assert_string_equal(s, FULL UPPER FULL UPPER FULL
                      "\n" FULL FULL LOWER FULL FULL "\n");
  free(s);
  /* No quiet zone: both rows on one line. */
  s = owcp_barcode_draw(b, 0, false, &err);
  assert_non_null(s);
  assert_string_equal(s, UPPER LOWER UPPER "\n");
  free(s);
  owcp_barcode_free(b);
}

static void test_draw_odd_height(void **state)
{
  (void)state;
  const unsigned char bits[] = {0x01, 0x01, 0x01};
  struct owcp_barcode *b = owcp_barcode_new(1, 3, bits, 3, 16, NULL);
  assert_non_null(b);
  char *s = owcp_barcode_draw(b, 0, false, NULL);
  assert_non_null(s);
  assert_string_equal(s, FULL "\n" UPPER "\n");
  free(s);
  struct owcp_error err = {{0}};
  assert_null(owcp_barcode_draw(b, 65, false, &err));
  assert_non_null(strstr(err.msg, "quiet zone"));
  owcp_barcode_free(b);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_expected_len),
      cmocka_unit_test(test_pixels_low_bit_first),
      cmocka_unit_test(test_padding_bits_ignored),
      cmocka_unit_test(test_multi_octet_rows),
      cmocka_unit_test(test_wrong_length_refused),
      cmocka_unit_test(test_dimensions_refused),
      cmocka_unit_test(test_base64_input),
      cmocka_unit_test(test_base64_refused),
      cmocka_unit_test(test_draw_blocks),
      cmocka_unit_test(test_draw_odd_height),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
