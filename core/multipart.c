/* Binary Multipart Container (binding §8): strict decoder and minimal
 * encoder. See owcp/multipart.h for the profile decisions. */
#include "owcp/multipart.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MP_RESERVED_BITS 0xF8u
#define MP_MAX_LENGTH_OCTETS 8u

/* Where the decoder is, so that every error can name segment and offset. */
struct mp_cursor {
  const unsigned char *buf;
  size_t len;
  size_t pos;
  size_t segment; /* 1-based, for messages */
};

/* owcp_core_multipart is declared in core/CMakeLists.txt without a link to
 * owcp_core_util, so it formats its own error sentences rather than call
 * mp_error(); the contract (truncate, NULL err allowed) is the same. */
static void mp_error(struct owcp_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void mp_error(struct owcp_error *err, const char *fmt, ...)
{
  if (err == NULL)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
  va_end(ap);
}

static const char *section_name(unsigned bit)
{
  switch (bit) {
  case OWCP_MP_CONTENT_TYPE:
    return "Content-Type";
  case OWCP_MP_CONTENT_ID:
    return "Content-ID";
  default:
    return "Data";
  }
}

/* Reads the long-form length octets after the 0x80|n octet at `at`. */
static int read_long_length(struct mp_cursor *c, size_t at, unsigned n,
                            const char *name, size_t *value,
                            struct owcp_error *err)
{
  if (n == 0) {
    mp_error(err,
             "segment %zu at offset %zu: %s length field 0x80 "
             "declares no length octets",
             c->segment, at, name);
    return -1;
  }
  if (n > MP_MAX_LENGTH_OCTETS) {
    mp_error(err,
             "segment %zu at offset %zu: %s length field of %u "
             "octets exceeds 8",
             c->segment, at, name, n);
    return -1;
  }
  if (c->len - c->pos < n) {
    mp_error(err,
             "segment %zu at offset %zu: %s length field needs %u "
             "octets but only %zu remain",
             c->segment, at, name, n, c->len - c->pos);
    return -1;
  }
  /* Accumulate in uintmax_t and check against SIZE_MAX so that 32-bit
   * builds reject what they cannot represent instead of wrapping. */
  uintmax_t v = 0;
  for (unsigned i = 0; i < n; i++)
    v = (v << 8) | c->buf[c->pos + i];
  if (v > SIZE_MAX) {
    mp_error(err,
             "segment %zu at offset %zu: %s length does not fit in "
             "this platform's size_t",
             c->segment, at, name);
    return -1;
  }
  c->pos += n;
  *value = (size_t)v;
  return 0;
}

/* Reads one length specifier and checks it against what remains. */
static int read_length(struct mp_cursor *c, const char *name, size_t *value,
                       struct owcp_error *err)
{
  size_t at = c->pos;
  if (at >= c->len) {
    mp_error(err,
             "segment %zu at offset %zu: %s length is missing "
             "(the container ends)",
             c->segment, at, name);
    return -1;
  }
  unsigned first = c->buf[c->pos++];
  size_t v = first;
  if (first & 0x80u) {
    if (read_long_length(c, at, first & 0x7Fu, name, &v, err) != 0)
      return -1;
  }
  if (v > c->len - c->pos) {
    mp_error(err,
             "segment %zu at offset %zu: %s length %zu overruns the "
             "container (%zu octets remain)",
             c->segment, at, name, v, c->len - c->pos);
    return -1;
  }
  *value = v;
  return 0;
}

/* Content-Type and Content-ID are header-like text: a present one must be
 * non-empty printable ASCII so that it can be compared and logged safely.
 * `base` is the offset of s->ptr within the container, for messages. */
static int check_label(const struct owcp_mp_section *s, const char *name,
                       size_t segment, size_t base, struct owcp_error *err)
{
  if (s->len == 0) {
    mp_error(err, "segment %zu at offset %zu: %s is empty", segment, base,
             name);
    return -1;
  }
  for (size_t i = 0; i < s->len; i++) {
    if (s->ptr[i] < 0x20 || s->ptr[i] > 0x7E) {
      mp_error(err,
               "segment %zu at offset %zu: %s octet 0x%02x is not "
               "printable ASCII",
               segment, base + i, name, (unsigned)s->ptr[i]);
      return -1;
    }
  }
  return 0;
}

static struct owcp_mp_section *section_of(struct owcp_mp_segment *seg,
                                          unsigned bit)
{
  switch (bit) {
  case OWCP_MP_CONTENT_TYPE:
    return &seg->content_type;
  case OWCP_MP_CONTENT_ID:
    return &seg->content_id;
  default:
    return &seg->data;
  }
}

static const struct owcp_mp_section *
section_at(const struct owcp_mp_segment *seg, unsigned bit)
{
  switch (bit) {
  case OWCP_MP_CONTENT_TYPE:
    return &seg->content_type;
  case OWCP_MP_CONTENT_ID:
    return &seg->content_id;
  default:
    return &seg->data;
  }
}

static int decode_segment(struct mp_cursor *c, struct owcp_mp_segment *seg,
                          struct owcp_error *err)
{
  size_t at = c->pos;
  unsigned type = c->buf[c->pos++];
  if (type & MP_RESERVED_BITS) {
    mp_error(err,
             "segment %zu at offset %zu: type octet 0x%02x sets "
             "reserved bits",
             c->segment, at, type);
    return -1;
  }
  if (type == 0) {
    mp_error(err,
             "segment %zu at offset %zu: type octet 0 declares no "
             "sections",
             c->segment, at);
    return -1;
  }
  memset(seg, 0, sizeof(*seg));
  for (unsigned bit = 1; bit <= OWCP_MP_DATA; bit <<= 1) {
    if (!(type & bit))
      continue;
    const char *name = section_name(bit);
    struct owcp_mp_section *s = section_of(seg, bit);
    size_t n;
    if (read_length(c, name, &n, err) != 0)
      return -1;
    s->ptr = c->buf + c->pos;
    s->len = n;
    s->present = true;
    if (bit != OWCP_MP_DATA &&
        check_label(s, name, c->segment, c->pos, err) != 0)
      return -1;
    c->pos += n;
  }
  return 0;
}

int owcp_multipart_decode(const unsigned char *buf, size_t len,
                          struct owcp_multipart *out, struct owcp_error *err)
{
  memset(out, 0, sizeof(*out));
  if (buf == NULL || len == 0) {
    mp_error(err, "multipart container is empty");
    return -1;
  }
  struct mp_cursor c = {.buf = buf, .len = len, .pos = 0, .segment = 0};
  while (c.pos < c.len) {
    c.segment++;
    if (out->count == OWCP_MP_MAX_SEGMENTS) {
      mp_error(err,
               "segment %zu at offset %zu: a container may hold at "
               "most %d segments",
               c.segment, c.pos, OWCP_MP_MAX_SEGMENTS);
      memset(out, 0, sizeof(*out));
      return -1;
    }
    if (decode_segment(&c, &out->segments[out->count], err) != 0) {
      memset(out, 0, sizeof(*out));
      return -1;
    }
    out->count++;
  }
  return 0;
}

/* Octets needed to encode length n in the shortest form. */
static size_t length_size(size_t n)
{
  if (n < 0x80)
    return 1;
  size_t octets = 0;
  for (size_t v = n; v != 0; v >>= 8)
    octets++;
  return 1 + octets;
}

static unsigned char *put_length(unsigned char *p, size_t n)
{
  if (n < 0x80) {
    *p++ = (unsigned char)n;
    return p;
  }
  size_t octets = length_size(n) - 1;
  *p++ = (unsigned char)(0x80u | octets);
  for (size_t i = octets; i > 0; i--)
    *p++ = (unsigned char)(n >> (8 * (i - 1)));
  return p;
}

static unsigned segment_type(const struct owcp_mp_segment *seg)
{
  return (seg->content_type.present ? OWCP_MP_CONTENT_TYPE : 0u) |
         (seg->content_id.present ? OWCP_MP_CONTENT_ID : 0u) |
         (seg->data.present ? OWCP_MP_DATA : 0u);
}

/* Validates one segment for encoding and adds its size to *total.
 * `offset` is where it will start in the output, for messages. */
static int encoded_segment_size(const struct owcp_mp_segment *seg,
                                size_t number, size_t offset, size_t *total,
                                struct owcp_error *err)
{
  if (segment_type(seg) == 0) {
    mp_error(err,
             "segment %zu at offset %zu: a segment must carry at "
             "least one section",
             number, offset);
    return -1;
  }
  size_t size = 1;
  for (unsigned bit = 1; bit <= OWCP_MP_DATA; bit <<= 1) {
    const struct owcp_mp_section *s = section_at(seg, bit);
    if (!s->present)
      continue;
    if (s->len > 0 && s->ptr == NULL) {
      mp_error(err, "segment %zu: %s has a length but no octets", number,
               section_name(bit));
      return -1;
    }
    size_t hdr = length_size(s->len);
    if (bit != OWCP_MP_DATA && check_label(s, section_name(bit), number,
                                           offset + size + hdr, err) != 0)
      return -1;
    if (s->len > SIZE_MAX - hdr || size > SIZE_MAX - hdr - s->len) {
      mp_error(err, "segment %zu: encoded size overflows size_t", number);
      return -1;
    }
    size += hdr + s->len;
  }
  if (*total > SIZE_MAX - size) {
    mp_error(err, "segment %zu: encoded size overflows size_t", number);
    return -1;
  }
  *total += size;
  return 0;
}

int owcp_multipart_encode(const struct owcp_mp_segment *segments, size_t count,
                          unsigned char **out, size_t *out_len,
                          struct owcp_error *err)
{
  *out = NULL;
  *out_len = 0;
  if (count == 0) {
    mp_error(err, "cannot encode an empty multipart container");
    return -1;
  }
  if (count > OWCP_MP_MAX_SEGMENTS) {
    mp_error(err,
             "cannot encode %zu segments: a container may hold at "
             "most %d",
             count, OWCP_MP_MAX_SEGMENTS);
    return -1;
  }
  size_t total = 0;
  for (size_t i = 0; i < count; i++) {
    if (encoded_segment_size(&segments[i], i + 1, total, &total, err) != 0)
      return -1;
  }
  unsigned char *buf = malloc(total);
  if (buf == NULL) {
    mp_error(err, "out of memory encoding a %zu-octet container", total);
    return -1;
  }
  unsigned char *p = buf;
  for (size_t i = 0; i < count; i++) {
    const struct owcp_mp_segment *seg = &segments[i];
    *p++ = (unsigned char)segment_type(seg);
    for (unsigned bit = 1; bit <= OWCP_MP_DATA; bit <<= 1) {
      const struct owcp_mp_section *s = section_at(seg, bit);
      if (!s->present)
        continue;
      p = put_length(p, s->len);
      if (s->len > 0)
        memcpy(p, s->ptr, s->len);
      p += s->len;
    }
  }
  *out = buf;
  *out_len = total;
  return 0;
}

bool owcp_mp_content_type_is(const struct owcp_mp_segment *segment,
                             const char *media_type)
{
  const struct owcp_mp_section *s = &segment->content_type;
  size_t n = strlen(media_type);
  if (!s->present || s->len != n)
    return false;
  for (size_t i = 0; i < n; i++) {
    unsigned char a = s->ptr[i];
    unsigned char b = (unsigned char)media_type[i];
    if (a >= 'A' && a <= 'Z')
      a = (unsigned char)(a - 'A' + 'a');
    if (b >= 'A' && b <= 'Z')
      b = (unsigned char)(b - 'A' + 'a');
    if (a != b)
      return false;
  }
  return true;
}
