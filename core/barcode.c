/* The <Barcode> bitmap: strict length check, pixel access, block drawing. */
#include "owcp/barcode.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

size_t owcp_barcode_expected_len(size_t width, size_t height)
{
  if (width == 0 || height == 0)
    return 0;
  size_t row = width / 8 + (width % 8 != 0);
  if (row > SIZE_MAX / height)
    return 0;
  return row * height;
}

struct owcp_barcode *owcp_barcode_new(size_t width, size_t height,
                                      const unsigned char *bits,
                                      size_t bits_len, size_t max_dim,
                                      struct owcp_error *err)
{
  if (width == 0 || height == 0) {
    owcp_error_set(err, "Barcode width and height must be at least 1");
    return NULL;
  }
  if (width > max_dim || height > max_dim) {
    owcp_error_set(err,
                   "Barcode %zux%zu exceeds the limit of %zu pixels a side",
                   width, height, max_dim);
    return NULL;
  }
  size_t expected = owcp_barcode_expected_len(width, height);
  if (expected == 0 || bits_len != expected) {
    owcp_error_set(err,
                   "Barcode data is %zu octets but a %zux%zu code needs "
                   "exactly %zu (%zu rows of %zu octets)",
                   bits_len, width, height, expected, height,
                   expected / height);
    return NULL;
  }
  struct owcp_barcode *b = calloc(1, sizeof *b);
  unsigned char *copy = malloc(expected);
  if (b == NULL || copy == NULL) {
    free(b);
    free(copy);
    owcp_error_set(err, "out of memory decoding Barcode");
    return NULL;
  }
  memcpy(copy, bits, expected);
  b->width = width;
  b->height = height;
  b->row_octets = expected / height;
  b->bits = copy;
  b->bits_len = expected;
  return b;
}

static bool is_xml_space(char c)
{
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int owcp_barcode_from_base64(size_t width, size_t height, const char *text,
                             size_t text_len, size_t max_dim,
                             struct owcp_barcode **out, struct owcp_error *err)
{
  *out = NULL;
  char *compact = malloc(text_len + 1);
  if (compact == NULL) {
    owcp_error_set(err, "out of memory decoding Barcode");
    return -1;
  }
  size_t n = 0;
  for (size_t i = 0; i < text_len; i++)
    if (!is_xml_space(text[i]))
      compact[n++] = text[i];
  compact[n] = '\0';

  unsigned char *bits = NULL;
  size_t bits_len = 0;
  struct owcp_error inner;
  int rc = owcp_base64_decode(compact, n, &bits, &bits_len, &inner);
  free(compact);
  if (rc != 0) {
    owcp_error_set(err, "Barcode attribute 'data': %s", inner.msg);
    return -1;
  }
  *out = owcp_barcode_new(width, height, bits, bits_len, max_dim, err);
  free(bits);
  return *out != NULL ? 0 : -1;
}

void owcp_barcode_free(struct owcp_barcode *b)
{
  if (b == NULL)
    return;
  free(b->bits);
  free(b);
}

bool owcp_barcode_pixel(const struct owcp_barcode *b, size_t x, size_t y)
{
  if (x >= b->width || y >= b->height)
    return false;
  unsigned char octet = b->bits[y * b->row_octets + x / 8];
  return (octet >> (x % 8)) & 1u;
}

/* Pixel at drawing coordinates, which include the quiet zone. */
static bool drawn_pixel(const struct owcp_barcode *b, size_t quiet, size_t x,
                        size_t y)
{
  if (x < quiet || y < quiet)
    return false;
  return owcp_barcode_pixel(b, x - quiet, y - quiet);
}

static const char *half_block(bool top, bool bottom)
{
  if (top && bottom)
    return "\xe2\x96\x88"; /* U+2588 FULL BLOCK */
  if (top)
    return "\xe2\x96\x80"; /* U+2580 UPPER HALF BLOCK */
  if (bottom)
    return "\xe2\x96\x84"; /* U+2584 LOWER HALF BLOCK */
  return " ";
}

char *owcp_barcode_draw(const struct owcp_barcode *b, size_t quiet, bool invert,
                        struct owcp_error *err)
{
  /* The quiet zone is bounded so that the size arithmetic below cannot
   * overflow even for the largest barcode a validator admits. */
  if (quiet > 64 || b->width > SIZE_MAX / 8 || b->height > SIZE_MAX / 8) {
    owcp_error_set(err, "Barcode drawing: quiet zone or size out of range");
    return NULL;
  }
  size_t cols = b->width + 2 * quiet;
  size_t rows = b->height + 2 * quiet;
  size_t lines = rows / 2 + rows % 2;
  /* Each column is at most 3 UTF-8 octets; each line ends in "\n". */
  if (cols > (SIZE_MAX - 2) / 3 || lines > (SIZE_MAX - 1) / (3 * cols + 1)) {
    owcp_error_set(err, "Barcode drawing too large");
    return NULL;
  }
  char *out = malloc(lines * (3 * cols + 1) + 1);
  if (out == NULL) {
    owcp_error_set(err, "out of memory drawing Barcode");
    return NULL;
  }
  size_t pos = 0;
  for (size_t line = 0; line < lines; line++) {
    for (size_t x = 0; x < cols; x++) {
      /* Rows past the bottom quiet zone (odd total) are white. */
      bool top = drawn_pixel(b, quiet, x, 2 * line) != invert;
      bool bottom = 2 * line + 1 < rows
                        ? drawn_pixel(b, quiet, x, 2 * line + 1) != invert
                        : invert;
      const char *glyph = half_block(top, bottom);
      size_t glen = strlen(glyph);
      memcpy(out + pos, glyph, glen);
      pos += glen;
    }
    out[pos++] = '\n';
  }
  out[pos] = '\0';
  return out;
}
