/*
 * sip_message.h — SIP messages for the MRAS front, on libosip2's parser
 * (-losipparser2; sofia-sip cannot parse a SERVICE request line, interop
 * notes §5): parsing a request, framing requests on a stream transport
 * (Content-Length), the transaction key that recognises retransmissions,
 * and building responses that copy Via (every one, in order; the top one
 * with received/rport filled, RFC 3261 §18.2.1 and RFC 3581), From,
 * To (with a tag of ours), Call-ID and CSeq, with Content-Length always
 * written. I/O-free; thread-safe once sip_message_init() ran.
 */
#ifndef OWCP_BRIDGE_SIP_MESSAGE_H
#define OWCP_BRIDGE_SIP_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>

#include <osipparser2/osip_parser.h>

#include "owcp/util.h"

/* Largest SIP message taken on any transport (also the UDP datagram
 * limit: the largest UDP payload). */
#define SIP_MAX_MESSAGE 65507
/* Largest header block accepted on a stream before its blank line. */
#define SIP_MAX_HEAD 16384

/* Once per process, before any thread parses: libosip2's tables, and its
 * trace output (it prints "| ERROR |" lines for garbage) switched off. */
void sip_message_init(void);

/* Parses one whole message. A request with a request line, Via, From, To,
 * Call-ID and CSeq whose method equals the request line's: *out (release
 * with osip_message_free). -1 with err otherwise (nothing to answer). */
int sip_parse_request(const char *buf, size_t len, osip_message_t **out,
                      struct owcp_error *err);

/* Stream framing: of buf[0..len), how long is the first message? > 0 its
 * length, 0 not complete yet, -1 not framable (no valid head within
 * SIP_MAX_HEAD, a bad or missing Content-Length, or larger than
 * SIP_MAX_MESSAGE: the connection is closed). Leading CRLFs (keep-alives)
 * are counted in *skip and not part of the message. */
long sip_frame(const char *buf, size_t len, size_t *skip);

/* The key of the request's server transaction (RFC 3261 §17.2.3): top Via
 * branch, sent-by, method and CSeq number, with the Call-ID (and From
 * tag) for branches without the magic cookie. Caller frees. */
char *sip_transaction_key(const osip_message_t *req);

/* The body, or NULL/0. */
void sip_body(const osip_message_t *req, const char **body, size_t *len);

/* Is the Content-Type type/subtype (case-insensitive, parameters
 * ignored)? false when absent. */
bool sip_content_type_is(const osip_message_t *req, const char *mime);

/* One extra response header. */
struct sip_header {
  const char *name;
  const char *value;
};

/* Builds the response to req: "SIP/2.0 status reason", the copied
 * headers (the top Via gets received=src_ip when it differs from its host
 * and rport=src_port when rport was asked for), To with to_tag unless it
 * has a tag, the extra headers in order, Content-Type and the body when
 * content_type is not NULL, Content-Length always. *out (caller frees) and
 * *len; -1 when out of memory. */
int sip_response(const osip_message_t *req, unsigned status, const char *reason,
                 const char *to_tag, const char *src_ip, unsigned src_port,
                 const struct sip_header *extra, size_t extra_count,
                 const char *content_type, const char *body, size_t body_len,
                 char **out, size_t *len);

/* The reason phrase of a status the bridge sends ("OK", "Unauthorized",
 * ...). */
const char *sip_reason(unsigned status);

#endif
