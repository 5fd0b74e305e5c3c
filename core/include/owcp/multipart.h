/*
 * owcp/multipart.h — the Binary Multipart Container of OWCP (binding §8):
 * the application/owcp-multipart request body that carries the JSON
 * parameters in its first segment and raw attachments (the XML Request, a
 * DER receipt) in the following ones.
 *
 * Wire format: a sequence of segments; a segment is one type octet followed
 * by one section for each bit set in it, lowest bit first (bit 0
 * Content-Type, bit 1 Content-ID, bit 2 Data; bits 3–7 reserved). A section
 * is an ASN.1-style length (below 128: one octet; otherwise 0x80|n and n
 * big-endian octets, 1 ≤ n ≤ 8, leading zero octets allowed) followed by
 * that many octets.
 *
 * Profile decisions (stricter than the bare wire format, because a
 * container that carries nothing is never legitimate and every accepted
 * oddity is attack surface):
 *  - an empty container (zero octets) is invalid;
 *  - a type octet of 0 (a segment with no sections) is invalid;
 *  - Content-Type and Content-ID, when present, must be non-empty printable
 *    ASCII (0x20–0x7E); Data may be empty;
 *  - at most OWCP_MP_MAX_SEGMENTS segments;
 *  - bytes after the last complete segment are parsed as a further segment,
 *    so trailing garbage is reported as a segment that is invalid or cut
 *    short.
 * Error sentences number segments from 1 and give the 0-based octet offset
 * of the offending octet, e.g. "segment 2 at offset 17: Data length field
 * of 9 octets exceeds 8".
 */
#ifndef OWCP_MULTIPART_H
#define OWCP_MULTIPART_H

#include <stdbool.h>
#include <stddef.h>

#include "owcp/util.h"

/* Most segments a container may hold (the JSON parameters plus a few
 * attachments; 64 leaves ample room without unbounded work). */
#define OWCP_MP_MAX_SEGMENTS 64

/* Bits of the segment type octet. */
#define OWCP_MP_CONTENT_TYPE 0x01u
#define OWCP_MP_CONTENT_ID 0x02u
#define OWCP_MP_DATA 0x04u

/* One section of a segment. After decoding, `ptr` points INTO the buffer
 * passed to owcp_multipart_decode() (nothing is copied, nothing is
 * NUL-terminated): the buffer must outlive every use of the section.
 * `present` distinguishes an absent section from a present empty one. */
struct owcp_mp_section {
  const unsigned char *ptr;
  size_t len;
  bool present;
};

/* One segment: each of its three sections is optional. */
struct owcp_mp_segment {
  struct owcp_mp_section content_type;
  struct owcp_mp_section content_id;
  struct owcp_mp_section data;
};

/* A decoded container: `count` segments in wire order. Fixed-size so that
 * decoding allocates nothing and the caller frees nothing. */
struct owcp_multipart {
  size_t count;
  struct owcp_mp_segment segments[OWCP_MP_MAX_SEGMENTS];
};

/* Decodes the container buf[0..len) into *out. On success every section
 * pointer refers into buf (no copies). On failure *out is cleared and err
 * names the segment, the offset and the reason. */
int owcp_multipart_decode(const unsigned char *buf, size_t len,
                          struct owcp_multipart *out, struct owcp_error *err);

/* Encodes `count` segments into a newly allocated buffer, using the
 * shortest length encoding. The segments are validated against the same
 * rules the decoder enforces, so the output always decodes. On success
 * *out (caller frees) and *out_len are set; on failure *out is NULL. */
int owcp_multipart_encode(const struct owcp_mp_segment *segments, size_t count,
                          unsigned char **out, size_t *out_len,
                          struct owcp_error *err);

/* True when the segment has a Content-Type equal to media_type, compared
 * ASCII case-insensitively (RFC 2045 media types are case-insensitive).
 * Parameters are not interpreted: "application/xml; charset=utf-8" does
 * not match "application/xml". */
bool owcp_mp_content_type_is(const struct owcp_mp_segment *segment,
                             const char *media_type);

#endif
