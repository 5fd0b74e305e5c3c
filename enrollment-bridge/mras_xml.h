/*
 * mras_xml.h — the MS-AVEDGEA (MRAS) bodies (seed 003_…: §2.2, §3.1.5):
 * reading and checking a `request` in the mrasp namespace, and writing the
 * `response` with libxml2's tree API. I/O-free.
 *
 * mras_request_parse() decides, in this order (docs/enrollment-bridge.md
 * "MRAS"):
 *  1. the body is read with core's hardened reader (owcp/xmlsafe.h: no
 *     DOCTYPE, entities, network; MRAS_XML_MAX_BYTES, depth 4) and must be
 *     a schema-conforming request: root {mrasp}request; requestID (1..64
 *     characters), version ([0-9]+.[0-9]+, at most 5), to and from (at
 *     most 10000) required, route optional (loadbalanced | directip); only
 *     {mrasp}credentialsRequest children, each with credentialsRequestID
 *     (1..64) and the sequence identity (1..64000 characters), location?
 *     (intranet | internet), duration? (a positive integer), and — as the
 *     seed's example 4.2 shows — route? (loadbalanced | directip); no
 *     other element, no other attribute but namespace declarations and
 *     xsi:*; prefixes and attribute order are free  -> Request Malformed;
 *  2. more than MRAS_MAX_CREDENTIALS credentialsRequest -> Request Too Large;
 *  3. a version other than 1.0, 2.0, 3.0                -> Version Mismatch;
 *  4. to and from parse as SIP URIs (libosip2: scheme sip or sips)
 *                                                       -> Request Malformed.
 */
#ifndef OWCP_BRIDGE_MRAS_XML_H
#define OWCP_BRIDGE_MRAS_XML_H

#include <stdbool.h>
#include <stddef.h>

#include "owcp/util.h"

#define MRAS_NS "http://schemas.microsoft.com/2006/09/sip/mrasp"
#define MRAS_CONTENT_TYPE "application/msrtc-media-relay-auth+xml"
#define MRAS_SERVER_VERSION "3.0"
#define MRAS_MAX_CREDENTIALS 100
/* 100 requests with 64000-character identities would be 6.4 MB: the
 * bridge serves people, not that; a body over this is Request Too Large. */
#define MRAS_XML_MAX_BYTES ((size_t)256 * 1024)

/* Every reasonPhrase of the seed's §2.2.4.7, in its order. */
enum mras_reason {
  MRAS_OK,
  MRAS_MALFORMED,
  MRAS_TOO_LARGE,
  MRAS_NOT_SUPPORTED,
  MRAS_SERVER_BUSY,
  MRAS_TIME_OUT,
  MRAS_FORBIDDEN,
  MRAS_INTERNAL_ERROR,
  MRAS_OTHER_FAILURE,
  MRAS_VERSION_MISMATCH
};

/* The seed's text ("Request Malformed", ...). */
const char *mras_reason_phrase(enum mras_reason r);

/* The SIP status of the seed's §3.1.5.6 table (200, 400, 413, 501, 486,
 * 408, 403, 500, 500, 501). */
unsigned mras_reason_sip_status(enum mras_reason r);

enum mras_location { MRAS_LOC_NONE = -1, MRAS_LOC_INTERNET, MRAS_LOC_INTRANET };

struct mras_cred_request {
  char *id;       /* credentialsRequestID */
  char *identity; /* exactly as received */
  enum mras_location location;
  long duration; /* minutes; 0 when absent */
  bool directip; /* route directip (element or the request's attribute) */
};

struct mras_request {
  char *request_id, *version, *to, *from;
  struct mras_cred_request *items;
  size_t count;
  /* The response's version (seed §3.1.5.2.2): the request's, or for
   * Version Mismatch the highest supported below it, or the server's. */
  char response_version[8];
};

void mras_request_free(struct mras_request *r);

/* Reads xml as described above. MRAS_OK with *out filled; otherwise the
 * reasonPhrase, with err saying why and *out holding what the response
 * echoes (nothing for Request Malformed). Release *out either way. */
enum mras_reason mras_request_parse(const char *xml, size_t len,
                                    struct mras_request *out,
                                    struct owcp_error *err);

/* One credentialsResponse. */
struct mras_cred_response {
  const char *id;
  const char *username, *password;
  long duration;
  const char *realm; /* NULL: no realm element */
  enum mras_location location;
  const char *host; /* hostName, or directIPAddress when direct */
  bool direct;
  unsigned udp_port, tcp_port;
};

/* The response document (XML declaration, UTF-8): reason r; requestID,
 * to and from echoed from req unless r is Request Malformed (req may then
 * be NULL); version req->response_version (MRAS_SERVER_VERSION without
 * req); serverVersion MRAS_SERVER_VERSION except when the request's
 * version is 1.0 (seed §3.1.5.3); the n credentialsResponse only for OK.
 * *xml (caller frees) and *len. 0, or -1 with err. */
int mras_response_build(const struct mras_request *req, enum mras_reason r,
                        const struct mras_cred_response *items, size_t n,
                        char **xml, size_t *len, struct owcp_error *err);

#endif
