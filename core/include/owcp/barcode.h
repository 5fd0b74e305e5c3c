/*
 * owcp/barcode.h — the <Barcode> element of an OWCP XML Request (binding
 * spec §9): a bitmap of `height` rows of `width` pixels, each row padded to
 * whole octets (ceil(width/8) octets a row), low-order bit first, 1 = black.
 * The module checks the data length strictly, exposes the pixel grid and
 * draws it for a terminal with Unicode half-block characters.
 */
#ifndef OWCP_BARCODE_H
#define OWCP_BARCODE_H

#include <stdbool.h>
#include <stddef.h>

#include "owcp/util.h"

/* A decoded barcode bitmap; create with owcp_barcode_new() or
 * owcp_barcode_from_base64(), release with owcp_barcode_free(). Read-only
 * for callers. */
struct owcp_barcode {
  size_t width;        /* pixels per row, ≥ 1 */
  size_t height;       /* rows, ≥ 1 */
  size_t row_octets;   /* ceil(width / 8) */
  unsigned char *bits; /* height * row_octets octets, owned */
  size_t bits_len;
};

/* Number of octets a width × height barcode must carry, or 0 when either
 * dimension is 0 or the product overflows. */
size_t owcp_barcode_expected_len(size_t width, size_t height);

/* Copies a bitmap into a new barcode. Refuses a zero dimension, a dimension
 * above max_dim, and a bits_len that is not exactly
 * owcp_barcode_expected_len(width, height) (e.g. a 33×33 code needs exactly
 * 165 octets). Padding bits beyond `width` in a row are ignored. Returns a
 * barcode the caller releases with owcp_barcode_free(), or NULL with err
 * set. */
struct owcp_barcode *owcp_barcode_new(size_t width, size_t height,
                                      const unsigned char *bits,
                                      size_t bits_len, size_t max_dim,
                                      struct owcp_error *err);

/* Decodes the xs:base64Binary `data` attribute of <Barcode> and checks it
 * as owcp_barcode_new() does. XML whitespace (space, tab, CR, LF) anywhere
 * in text is removed first, because xs:base64Binary permits it (the schema
 * has already accepted such a value); what remains must be strict RFC 4648
 * base64 with padding and zero trailing bits. On success *out receives a
 * barcode the caller releases with owcp_barcode_free(). */
int owcp_barcode_from_base64(size_t width, size_t height, const char *text,
                             size_t text_len, size_t max_dim,
                             struct owcp_barcode **out, struct owcp_error *err);

/* Releases a barcode; NULL is allowed. */
void owcp_barcode_free(struct owcp_barcode *b);

/* True when pixel (x, y) is black; (0, 0) is the top-left origin. Pixels
 * outside the grid are white (false), which is what a quiet zone needs. */
bool owcp_barcode_pixel(const struct owcp_barcode *b, size_t x, size_t y);

/* Default quiet zone, in pixels, around a drawn barcode (QR codes need 4). */
#define OWCP_BARCODE_QUIET 4

/* Draws the barcode as text: one line per two pixel rows, each character
 * one pixel column, using "█" (both black), "▀" (top black), "▄" (bottom
 * black) and " " (both white), surrounded by `quiet` white pixels on every
 * side; each line ends in "\n". Block characters are ink: on a terminal that
 * draws light text on a dark background pass invert = true so that black
 * pixels are drawn as spaces and white ones (including the quiet zone) as
 * blocks. Returns a NUL-terminated UTF-8 string the caller frees, or NULL
 * with err set. */
char *owcp_barcode_draw(const struct owcp_barcode *b, size_t quiet, bool invert,
                        struct owcp_error *err);

#endif
