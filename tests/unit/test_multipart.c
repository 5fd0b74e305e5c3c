/* Unit tests for the Binary Multipart Container (binding §8). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "owcp/multipart.h"

/* Data, not a C string: no terminating NUL is stored. */
static const unsigned char NINETEEN[19] = {'n', 'i', 'n', 'e', 't', 'e', 'e',
                                           'n', ' ', 'o', 'c', 't', 'e', 't',
                                           's', '!', '!', '!', '!'};

/* Decodes a container holding one Data segment whose length is written as
 * `lenbytes`, followed by the 19 octets, and checks it means 19. */
static void check_nineteen(const unsigned char *lenbytes, size_t n)
{
  unsigned char buf[32];
  buf[0] = OWCP_MP_DATA;
  memcpy(buf + 1, lenbytes, n);
  memcpy(buf + 1 + n, NINETEEN, sizeof NINETEEN);
  struct owcp_multipart mp;
  struct owcp_error err = {{0}};
  assert_int_equal(owcp_multipart_decode(buf, 1 + n + 19, &mp, &err), 0);
  assert_int_equal(mp.count, 1);
  const struct owcp_mp_segment *s = &mp.segments[0];
  assert_false(s->content_type.present);
  assert_false(s->content_id.present);
  assert_true(s->data.present);
  assert_int_equal(s->data.len, 19);
  /* No copy: the section points into the input buffer. */
  assert_ptr_equal(s->data.ptr, buf + 1 + n);
}

static void test_spec_length_vectors(void **state)
{
  (void)state;
  const unsigned char short_form[] = {0x13};
  const unsigned char long1[] = {0x81, 0x13};
  const unsigned char long4[] = {0x84, 0x00, 0x00, 0x00, 0x13};
  const unsigned char long8[] = {0x88, 0, 0, 0, 0, 0, 0, 0, 0x13};
  check_nineteen(short_form, sizeof(short_form));
  check_nineteen(long1, sizeof(long1));
  check_nineteen(long4, sizeof(long4));
  check_nineteen(long8, sizeof(long8));
}

static void test_sections_in_bit_order(void **state)
{
  (void)state;
  const unsigned char buf[] = {0x07, 0x10, 'a', 'p',  'p', 'l',  'i', 'c', 'a',
                               't',  'i',  'o', 'n',  '/', 'j',  's', 'o', 'n',
                               0x02, 'i',  'd', 0x02, '{', '}',  /* segment 1 */
                               0x05, 0x03, 'a', '/',  'b', 0x00, /* segment 2 */
                               0x02, 0x01, 'x'};                 /* segment 3 */
  struct owcp_multipart mp;
  struct owcp_error err = {{0}};
  assert_int_equal(owcp_multipart_decode(buf, sizeof(buf), &mp, &err), 0);
  assert_int_equal(mp.count, 3);
  const struct owcp_mp_segment *s1 = &mp.segments[0];
  assert_true(s1->content_type.present);
  assert_int_equal(s1->content_type.len, 16);
  assert_memory_equal(s1->content_type.ptr, "application/json", 16);
  assert_ptr_equal(s1->content_type.ptr, buf + 2);
  assert_int_equal(s1->content_id.len, 2);
  assert_memory_equal(s1->content_id.ptr, "id", 2);
  assert_int_equal(s1->data.len, 2);
  assert_memory_equal(s1->data.ptr, "{}", 2);
  assert_true(owcp_mp_content_type_is(s1, "application/json"));

  const struct owcp_mp_segment *s2 = &mp.segments[1];
  assert_false(s2->content_id.present);
  assert_true(s2->data.present); /* present but empty is allowed for Data */
  assert_int_equal(s2->data.len, 0);

  const struct owcp_mp_segment *s3 = &mp.segments[2];
  assert_false(s3->content_type.present);
  assert_true(s3->content_id.present);
  assert_false(s3->data.present);
}

/* Decodes buf expecting failure with exactly `msg`, and a cleared result. */
static void expect_decode_error(const unsigned char *buf, size_t len,
                                const char *msg)
{
  struct owcp_multipart mp;
  memset(&mp, 0xA5, sizeof(mp));
  struct owcp_error err = {{0}};
  assert_int_equal(owcp_multipart_decode(buf, len, &mp, &err), -1);
  assert_string_equal(err.msg, msg);
  assert_int_equal(mp.count, 0);
  assert_null(mp.segments[0].data.ptr);
}

static void test_empty_container(void **state)
{
  (void)state;
  const unsigned char one[] = {0};
  expect_decode_error(one, 0, "multipart container is empty");
  expect_decode_error(NULL, 0, "multipart container is empty");
}

static void test_type_octet_errors(void **state)
{
  (void)state;
  const unsigned char zero[] = {0x00};
  expect_decode_error(zero, sizeof(zero),
                      "segment 1 at offset 0: type octet 0 declares no "
                      "sections");
  for (unsigned bit = 3; bit < 8; bit++) {
    const unsigned char reserved[] = {(unsigned char)(0x04u | (1u << bit)),
                                      0x00};
    struct owcp_multipart mp;
    struct owcp_error err = {{0}};
    assert_int_equal(
        owcp_multipart_decode(reserved, sizeof(reserved), &mp, &err), -1);
    assert_non_null(strstr(err.msg, "sets reserved bits"));
    assert_non_null(strstr(err.msg, "segment 1 at offset 0"));
  }
  const unsigned char second[] = {0x04, 0x01, 'a', 0x0C, 0x00};
  expect_decode_error(second, sizeof(second),
                      "segment 2 at offset 3: type octet 0x0c sets reserved "
                      "bits");
}

static void test_length_field_errors(void **state)
{
  (void)state;
  const unsigned char nine[] = {0x04, 0x02, 'h', 'i', 0x04, 0x89, 0, 0,
                                0,    0,    0,   0,   0,    0,    1};
  expect_decode_error(nine, sizeof(nine),
                      "segment 2 at offset 5: Data length field of 9 octets "
                      "exceeds 8");
  const unsigned char n0[] = {0x01, 0x80};
  expect_decode_error(n0, sizeof(n0),
                      "segment 1 at offset 1: Content-Type length field 0x80 "
                      "declares no length octets");
  const unsigned char cut[] = {0x02, 0x83, 0x00, 0x01};
  expect_decode_error(cut, sizeof(cut),
                      "segment 1 at offset 1: Content-ID length field needs 3 "
                      "octets but only 2 remain");
  const unsigned char missing[] = {0x05, 0x01, 'a'};
  expect_decode_error(missing, sizeof(missing),
                      "segment 1 at offset 3: Data length is missing (the "
                      "container ends)");
  const unsigned char overrun[] = {0x04, 0x05, 'a', 'b', 'c', 'd'};
  expect_decode_error(overrun, sizeof(overrun),
                      "segment 1 at offset 1: Data length 5 overruns the "
                      "container (4 octets remain)");
  /* The largest 8-octet length must be refused as an overrun, not wrap. */
  const unsigned char huge[] = {0x04, 0x88, 0xFF, 0xFF, 0xFF, 0xFF,
                                0xFF, 0xFF, 0xFF, 0xFF, 'x'};
  struct owcp_multipart mp;
  struct owcp_error err = {{0}};
  assert_int_equal(owcp_multipart_decode(huge, sizeof(huge), &mp, &err), -1);
  assert_non_null(strstr(err.msg, "segment 1 at offset 1: Data length"));
  assert_non_null(strstr(err.msg, "(1 octets remain)"));
}

static void test_trailing_garbage(void **state)
{
  (void)state;
  /* A complete segment followed by one stray octet that starts a segment
   * which is then cut short. */
  const unsigned char stray[] = {0x04, 0x01, 'a', 0x04};
  expect_decode_error(stray, sizeof(stray),
                      "segment 2 at offset 4: Data length is missing (the "
                      "container ends)");
  const unsigned char short_data[] = {0x04, 0x01, 'a', 0x04, 0x03, 'x'};
  expect_decode_error(short_data, sizeof(short_data),
                      "segment 2 at offset 4: Data length 3 overruns the "
                      "container (1 octets remain)");
  const unsigned char zero_tail[] = {0x04, 0x01, 'a', 0x00};
  expect_decode_error(zero_tail, sizeof(zero_tail),
                      "segment 2 at offset 3: type octet 0 declares no "
                      "sections");
}

static void test_label_checks(void **state)
{
  (void)state;
  const unsigned char empty_ct[] = {0x05, 0x00, 0x00};
  expect_decode_error(empty_ct, sizeof(empty_ct),
                      "segment 1 at offset 2: Content-Type is empty");
  const unsigned char empty_id[] = {0x02, 0x00};
  expect_decode_error(empty_id, sizeof(empty_id),
                      "segment 1 at offset 2: Content-ID is empty");
  const unsigned char newline[] = {0x01, 0x03, 'a', '\n', 'b'};
  expect_decode_error(newline, sizeof(newline),
                      "segment 1 at offset 3: Content-Type octet 0x0a is not "
                      "printable ASCII");
  const unsigned char del[] = {0x02, 0x01, 0x7F};
  expect_decode_error(del, sizeof(del),
                      "segment 1 at offset 2: Content-ID octet 0x7f is not "
                      "printable ASCII");
  const unsigned char high[] = {0x01, 0x02, 0xC3, 0xA4};
  expect_decode_error(high, sizeof(high),
                      "segment 1 at offset 2: Content-Type octet 0xc3 is not "
                      "printable ASCII");
  /* Space and tilde are the printable bounds and are accepted. */
  const unsigned char bounds[] = {0x01, 0x02, ' ', '~'};
  struct owcp_multipart mp;
  assert_int_equal(owcp_multipart_decode(bounds, sizeof(bounds), &mp, NULL), 0);
}

static void test_segment_cap(void **state)
{
  (void)state;
  unsigned char buf[3 * (OWCP_MP_MAX_SEGMENTS + 1)];
  for (size_t i = 0; i < OWCP_MP_MAX_SEGMENTS + 1; i++) {
    buf[3 * i] = OWCP_MP_DATA;
    buf[3 * i + 1] = 1;
    buf[3 * i + 2] = (unsigned char)i;
  }
  struct owcp_multipart mp;
  struct owcp_error err = {{0}};
  assert_int_equal(
      owcp_multipart_decode(buf, (size_t)3 * OWCP_MP_MAX_SEGMENTS, &mp, &err),
      0);
  assert_int_equal(mp.count, OWCP_MP_MAX_SEGMENTS);
  assert_int_equal(mp.segments[63].data.ptr[0], 63);
  expect_decode_error(buf, sizeof(buf),
                      "segment 65 at offset 192: a container may hold at "
                      "most 64 segments");
}

static void test_error_without_err(void **state)
{
  (void)state;
  const unsigned char bad[] = {0xFF};
  struct owcp_multipart mp;
  assert_int_equal(owcp_multipart_decode(bad, sizeof(bad), &mp, NULL), -1);
}

static struct owcp_mp_section text_section(const char *s)
{
  struct owcp_mp_section sec = {(const unsigned char *)s, strlen(s), true};
  return sec;
}

static void test_encode_exact_bytes(void **state)
{
  (void)state;
  struct owcp_mp_segment segs[2] = {0};
  segs[0].content_type = text_section("application/json");
  segs[0].data = text_section("{}");
  segs[1].content_id = text_section("r");
  unsigned char *out = NULL;
  size_t len = 0;
  struct owcp_error err = {{0}};
  assert_int_equal(owcp_multipart_encode(segs, 2, &out, &len, &err), 0);
  const unsigned char expect[] = {0x05, 0x10, 'a',  'p', 'p', 'l',  'i',  'c',
                                  'a',  't',  'i',  'o', 'n', '/',  'j',  's',
                                  'o',  'n',  0x02, '{', '}', 0x02, 0x01, 'r'};
  assert_int_equal(len, sizeof(expect));
  assert_memory_equal(out, expect, sizeof(expect));
  free(out);
}

/* Encodes one Data segment of n octets and checks the length prefix is the
 * shortest form, then that it decodes back to the same octets. */
static void check_minimal_length(size_t n, const unsigned char *prefix,
                                 size_t prefix_len)
{
  unsigned char *data = malloc(n ? n : 1);
  assert_non_null(data);
  for (size_t i = 0; i < n; i++)
    data[i] = (unsigned char)(i * 7);
  struct owcp_mp_segment seg = {0};
  seg.data.ptr = data;
  seg.data.len = n;
  seg.data.present = true;
  unsigned char *out = NULL;
  size_t len = 0;
  assert_int_equal(owcp_multipart_encode(&seg, 1, &out, &len, NULL), 0);
  assert_int_equal(len, 1 + prefix_len + n);
  assert_int_equal(out[0], OWCP_MP_DATA);
  assert_memory_equal(out + 1, prefix, prefix_len);
  struct owcp_multipart mp;
  assert_int_equal(owcp_multipart_decode(out, len, &mp, NULL), 0);
  assert_int_equal(mp.count, 1);
  assert_int_equal(mp.segments[0].data.len, n);
  if (n > 0)
    assert_memory_equal(mp.segments[0].data.ptr, data, n);
  free(out);
  free(data);
}

static void test_encode_minimal_lengths(void **state)
{
  (void)state;
  const unsigned char p0[] = {0x00};
  const unsigned char p127[] = {0x7F};
  const unsigned char p128[] = {0x81, 0x80};
  const unsigned char p255[] = {0x81, 0xFF};
  const unsigned char p256[] = {0x82, 0x01, 0x00};
  const unsigned char p65536[] = {0x83, 0x01, 0x00, 0x00};
  check_minimal_length(0, p0, 1);
  check_minimal_length(127, p127, 1);
  check_minimal_length(128, p128, 2);
  check_minimal_length(255, p255, 2);
  check_minimal_length(256, p256, 3);
  check_minimal_length(65536, p65536, 4);
}

static void test_round_trip_many(void **state)
{
  (void)state;
  struct owcp_mp_segment segs[OWCP_MP_MAX_SEGMENTS];
  memset(segs, 0, sizeof(segs));
  unsigned char payload[300];
  for (size_t i = 0; i < sizeof(payload); i++)
    payload[i] = (unsigned char)(255 - i);
  for (size_t i = 0; i < OWCP_MP_MAX_SEGMENTS; i++) {
    if (i % 2 == 0)
      segs[i].content_type = text_section("application/xml");
    if (i % 3 == 0)
      segs[i].content_id = text_section("cid");
    if (i % 2 == 1 || i % 3 != 0) {
      segs[i].data.ptr = payload;
      segs[i].data.len = i * 4;
      segs[i].data.present = true;
    }
  }
  unsigned char *out = NULL;
  size_t len = 0;
  assert_int_equal(
      owcp_multipart_encode(segs, OWCP_MP_MAX_SEGMENTS, &out, &len, NULL), 0);
  struct owcp_multipart mp;
  assert_int_equal(owcp_multipart_decode(out, len, &mp, NULL), 0);
  assert_int_equal(mp.count, OWCP_MP_MAX_SEGMENTS);
  for (size_t i = 0; i < OWCP_MP_MAX_SEGMENTS; i++) {
    const struct owcp_mp_segment *a = &segs[i], *b = &mp.segments[i];
    assert_int_equal(a->content_type.present, b->content_type.present);
    assert_int_equal(a->content_id.present, b->content_id.present);
    assert_int_equal(a->data.present, b->data.present);
    assert_int_equal(a->data.len, b->data.len);
    if (a->data.len > 0)
      assert_memory_equal(a->data.ptr, b->data.ptr, a->data.len);
    if (a->content_type.present)
      assert_memory_equal(b->content_type.ptr, "application/xml", 15);
  }
  free(out);
}

static void expect_encode_error(const struct owcp_mp_segment *segs,
                                size_t count, const char *msg)
{
  static unsigned char sentinel;
  unsigned char *out = &sentinel; /* must be reset to NULL */
  size_t len = 99;
  struct owcp_error err = {{0}};
  assert_int_equal(owcp_multipart_encode(segs, count, &out, &len, &err), -1);
  assert_null(out);
  assert_int_equal(len, 0);
  assert_string_equal(err.msg, msg);
}

static void test_encode_errors(void **state)
{
  (void)state;
  struct owcp_mp_segment segs[OWCP_MP_MAX_SEGMENTS + 1];
  memset(segs, 0, sizeof(segs));
  for (size_t i = 0; i < OWCP_MP_MAX_SEGMENTS + 1; i++)
    segs[i].content_id = text_section("x");
  expect_encode_error(segs, 0, "cannot encode an empty multipart container");
  expect_encode_error(segs, OWCP_MP_MAX_SEGMENTS + 1,
                      "cannot encode 65 segments: a container may hold at "
                      "most 64");

  struct owcp_mp_segment bad[2] = {0};
  bad[0].data = text_section("abc");
  expect_encode_error(bad, 2,
                      "segment 2 at offset 5: a segment must carry at least "
                      "one section");
  bad[1].content_type = text_section("");
  expect_encode_error(bad, 2, "segment 2 at offset 7: Content-Type is empty");
  bad[1].content_type = text_section("a\tb");
  expect_encode_error(bad, 2,
                      "segment 2 at offset 8: Content-Type octet 0x09 is not "
                      "printable ASCII");
  bad[1].content_type = text_section("ok");
  bad[1].data.ptr = NULL;
  bad[1].data.len = 4;
  bad[1].data.present = true;
  expect_encode_error(bad, 2, "segment 2: Data has a length but no octets");
}

static void test_content_type_is(void **state)
{
  (void)state;
  struct owcp_mp_segment seg = {0};
  assert_false(owcp_mp_content_type_is(&seg, "application/xml"));
  seg.content_type = text_section("Application/XML");
  assert_true(owcp_mp_content_type_is(&seg, "application/xml"));
  assert_true(owcp_mp_content_type_is(&seg, "APPLICATION/xml"));
  assert_false(owcp_mp_content_type_is(&seg, "application/xm"));
  assert_false(owcp_mp_content_type_is(&seg, "application/xmlx"));
  seg.content_type = text_section("application/xml; charset=utf-8");
  assert_false(owcp_mp_content_type_is(&seg, "application/xml"));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_spec_length_vectors),
      cmocka_unit_test(test_sections_in_bit_order),
      cmocka_unit_test(test_empty_container),
      cmocka_unit_test(test_type_octet_errors),
      cmocka_unit_test(test_length_field_errors),
      cmocka_unit_test(test_trailing_garbage),
      cmocka_unit_test(test_label_checks),
      cmocka_unit_test(test_segment_cap),
      cmocka_unit_test(test_error_without_err),
      cmocka_unit_test(test_encode_exact_bytes),
      cmocka_unit_test(test_encode_minimal_lengths),
      cmocka_unit_test(test_round_trip_many),
      cmocka_unit_test(test_encode_errors),
      cmocka_unit_test(test_content_type_is),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
