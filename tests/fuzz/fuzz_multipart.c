/* libFuzzer target for the Binary Multipart Container decoder: any input
 * either fails with an error sentence or decodes to sections inside the
 * input, and re-encoding a decoded container reproduces its segments
 * exactly, never longer than the input (the encoder is minimal). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "owcp/multipart.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_inside(const struct owcp_mp_section *s,
                         const unsigned char *buf, size_t len)
{
  if (!s->present)
    return;
  if (s->ptr < buf || s->len > len || s->ptr > buf + (len - s->len))
    abort();
}

static bool same_section(const struct owcp_mp_section *a,
                         const struct owcp_mp_section *b)
{
  if (a->present != b->present || a->len != b->len)
    return false;
  return a->len == 0 || memcmp(a->ptr, b->ptr, a->len) == 0;
}

static bool same_segment(const struct owcp_mp_segment *a,
                         const struct owcp_mp_segment *b)
{
  return same_section(&a->content_type, &b->content_type) &&
         same_section(&a->content_id, &b->content_id) &&
         same_section(&a->data, &b->data);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static struct owcp_multipart first, second;
  struct owcp_error err = {{0}};
  if (owcp_multipart_decode(data, size, &first, &err) != 0) {
    if (err.msg[0] == '\0' || first.count != 0)
      abort();
    return 0;
  }
  if (first.count == 0 || first.count > OWCP_MP_MAX_SEGMENTS)
    abort();
  for (size_t i = 0; i < first.count; i++) {
    check_inside(&first.segments[i].content_type, data, size);
    check_inside(&first.segments[i].content_id, data, size);
    check_inside(&first.segments[i].data, data, size);
  }

  unsigned char *enc = NULL;
  size_t enc_len = 0;
  if (owcp_multipart_encode(first.segments, first.count, &enc, &enc_len,
                            &err) != 0)
    abort(); /* whatever decodes must encode */
  if (enc_len > size)
    abort();
  if (owcp_multipart_decode(enc, enc_len, &second, &err) != 0 ||
      second.count != first.count)
    abort();
  for (size_t i = 0; i < first.count; i++) {
    if (!same_segment(&first.segments[i], &second.segments[i]))
      abort();
  }

  /* The encoding is canonical: encoding it again gives the same octets. */
  unsigned char *again = NULL;
  size_t again_len = 0;
  if (owcp_multipart_encode(second.segments, second.count, &again, &again_len,
                            &err) != 0 ||
      again_len != enc_len || memcmp(again, enc, enc_len) != 0)
    abort();
  free(again);
  free(enc);
  return 0;
}
