/*
 * body.h — accumulating an HTTP request body under a size limit, the one
 * implementation every libmicrohttpd front in the project uses (the
 * service layer's HTTP front, the requestor library's DR-Complete
 * receiver, the test receiver). A body whose Content-Length already
 * exceeds the limit is refused before any of it is read; one sent without
 * a length (chunked) is cut off at the limit while it arrives, and what
 * arrives after that is discarded rather than stored.
 */
#ifndef OWCP_SERVICE_BODY_H
#define OWCP_SERVICE_BODY_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>

/* One body being received. Zero-initialise, then svc_body_init(). Owns
 * data; released with svc_body_free(). */
struct svc_body {
  char *data; /* NUL-terminated once svc_body_finish() returned 0 */
  size_t len;
  size_t max;
  bool too_large; /* the limit was passed; data stops growing */
};

void svc_body_init(struct svc_body *b, size_t max);

/* True when the Content-Length header value (may be NULL: absent) declares
 * more than max octets, including a value too large to represent. */
bool svc_body_length_exceeds(const char *content_length, size_t max);

/* The same for the request on con. */
bool svc_body_declared_too_large(struct MHD_Connection *con, size_t max);

/* Appends len bytes, or marks the body too large when that would pass the
 * limit. Returns -1 only when memory runs out (the request should fail). */
int svc_body_append(struct svc_body *b, const char *data, size_t len);

/* For a libmicrohttpd access handler: consumes *upload_size bytes of
 * upload into b and sets *upload_size to 0. Returns -1 on out of memory. */
int svc_body_consume(struct svc_body *b, const char *upload,
                     size_t *upload_size);

/* Once the upload is complete: makes data a NUL-terminated string even for
 * an empty body. Returns -1 on out of memory. */
int svc_body_finish(struct svc_body *b);

/* Frees data and zeroes *b. */
void svc_body_free(struct svc_body *b);

#endif
