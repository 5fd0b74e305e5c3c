/*
 * wstep_soap.h — the WSTEP front's messages (seed MS-WSTEP §2–§4, interop
 * notes §2): reading a SOAP 1.2 RequestSecurityToken envelope with
 * WS-Addressing and WS-Security headers into plain C, and writing the
 * responses (Issued, pending, KET, fault) with libxml2's tree API, every
 * namespace declared on the element that uses it.
 *
 * Reading goes through owcp_xml_read() (core/xmlsafe): no DOCTYPE (the
 * parser stops at one), no entities, no network, a size bound and
 * WSTEP_MAX_DEPTH. Tolerance, per the client families the interop notes
 * list: ReplyTo optional (cepces); the UsernameToken Password Type may be
 * unqualified, wsse-qualified or absent (PasswordText then); an empty
 * wsu:Id is fine; RequestID may be absent, nil or a number; elements the
 * front does not use (MS-MDE2 AdditionalContext, WCF ActivityId, Nonce,
 * Created, ...) are ignored; the token's base64 may carry any XML
 * whitespace (\n, \r\n, spaces, &#xD;); a missing EncodingType is
 * tolerated, another than base64binary is a token error; ValueType is
 * recorded but never trusted (the payload is sniffed, wstep_token.h).
 *
 * Pure: no I/O. Strings and buffers in a struct wstep_msg are owned by it;
 * every char * a wstep_reply_*() returns is malloc()ed (caller frees).
 */
#ifndef OWCP_BRIDGE_WSTEP_SOAP_H
#define OWCP_BRIDGE_WSTEP_SOAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "owcp/util.h"
#include "owcp/xmlresult.h"
#include "wstep_fault.h"

#define WSTEP_NS_SOAP "http://www.w3.org/2003/05/soap-envelope"
#define WSTEP_NS_WSA "http://www.w3.org/2005/08/addressing"
#define WSTEP_NS_WST "http://docs.oasis-open.org/ws-sx/ws-trust/200512"
#define WSTEP_NS_WSSE                                                          \
  "http://docs.oasis-open.org/wss/2004/01/"                                    \
  "oasis-200401-wss-wssecurity-secext-1.0.xsd"
#define WSTEP_NS_ENROLL                                                        \
  "http://schemas.microsoft.com/windows/pki/2009/01/enrollment"
#define WSTEP_NS_XSI "http://www.w3.org/2001/XMLSchema-instance"

#define WSTEP_ACTION_RST WSTEP_NS_ENROLL "/RST/wstep"
#define WSTEP_ACTION_RSTRC WSTEP_NS_ENROLL "/RSTRC/wstep"
#define WSTEP_ACTION_KET WSTEP_NS_WST "/RST/KET"
#define WSTEP_ACTION_KET_FINAL WSTEP_NS_WST "/RSTR/KETFinal"
#define WSTEP_TYPE_ISSUE WSTEP_NS_WST "/Issue"
#define WSTEP_TYPE_QUERY WSTEP_NS_ENROLL "/QueryTokenStatus"
#define WSTEP_TYPE_KET WSTEP_NS_WST "/KET"
#define WSTEP_TOKEN_X509V3                                                     \
  "http://docs.oasis-open.org/wss/2004/01/"                                    \
  "oasis-200401-wss-x509-token-profile-1.0#X509v3"
#define WSTEP_VALUE_PKCS7 WSTEP_NS_WSSE "#PKCS7"
#define WSTEP_ENCODING_BASE64 WSTEP_NS_WSSE "#base64binary"
#define WSTEP_PASSWORD_TEXT                                                    \
  "http://docs.oasis-open.org/wss/2004/01/"                                    \
  "oasis-200401-wss-username-token-profile-1.0#PasswordText"

/* Deepest element nesting accepted (the deepest legitimate path, Envelope
 * Header Security UsernameToken Password, is 5). */
#define WSTEP_MAX_DEPTH 24
/* Largest decoded token accepted (a renewal CMS with a chain is ~8 KiB). */
#define WSTEP_MAX_TOKEN 65536

/* One request as read. Absent text is NULL. */
struct wstep_msg {
  char *action;         /* wsa:Action, surrounding whitespace trimmed */
  char *message_id;     /* wsa:MessageID (RelatesTo of the answer) */
  char *username;       /* wsse:UsernameToken/Username */
  char *password;       /* its Password (wiped on free) */
  bool password_text;   /* the Type says PasswordText (or is absent) */
  char *request_type;   /* wst:RequestType, trimmed; NULL absent or nil */
  char *token_type;     /* wst:TokenType, trimmed */
  bool has_token;       /* a non-empty wsse:BinarySecurityToken in the RST */
  unsigned char *token; /* its decoded bytes (has_token, no token_error) */
  size_t token_len;
  char *value_type;      /* its ValueType (informational) */
  char token_error[160]; /* why the token could not be decoded, or "" */
  bool has_request_id;   /* a RequestID element with text */
  int64_t request_id;    /* its value when it is a decimal number, else -1 */
  bool has_request_ket;  /* wst:RequestKET present */
};

/* Reads body[0..len) (at most max_bytes). OWCP_XML_OK with *out filled;
 * otherwise err says why (the front answers WSTEP_FAULT_MALFORMED, or 413
 * for OWCP_XML_TOO_LARGE). Release with wstep_msg_clear(). */
enum owcp_xml_result wstep_msg_parse(const char *body, size_t len,
                                     size_t max_bytes, struct wstep_msg *out,
                                     struct owcp_error *err);

/* Releases the members (the password wiped first) and zeroes *m. */
void wstep_msg_clear(struct wstep_msg *m);

/* ---- responses ------------------------------------------------------- */

/* What every response's header carries. */
struct wstep_reply_head {
  const char *relates_to; /* the request's MessageID, or NULL */
};

/* RSTRC with DispositionMessage "Issued", the PKIResponse under #PKCS7,
 * RequestedSecurityToken/BinarySecurityToken #X509v3 = cert, RequestID. */
int wstep_reply_issued(const struct wstep_reply_head *h, int32_t request_id,
                       const unsigned char *pkcs7, size_t pkcs7_len,
                       const unsigned char *cert, size_t cert_len, char **xml,
                       size_t *len, struct owcp_error *err);

/* RSTRC with DispositionMessage "Taken Under Submission",
 * RequestedSecurityToken/SecurityTokenReference/Reference/@URI = uri and
 * RequestID. */
int wstep_reply_pending(const struct wstep_reply_head *h, int32_t request_id,
                        const char *uri, char **xml, size_t *len,
                        struct owcp_error *err);

/* RSTRC (Action …/RSTR/KETFinal) with KeyExchangeToken/BinarySecurityToken
 * #X509v3 = cert. */
int wstep_reply_ket(const struct wstep_reply_head *h, const unsigned char *cert,
                    size_t cert_len, char **xml, size_t *len,
                    struct owcp_error *err);

/* A SOAP 1.2 Fault of f's row (wstep_fault.h) with
 * CertificateEnrollmentWSDetail {BinaryResponse nil, ErrorCode,
 * InvalidRequest, RequestID (nil when request_id <= 0)}. */
int wstep_reply_fault(const struct wstep_reply_head *h, enum wstep_fault f,
                      int32_t request_id, char **xml, size_t *len,
                      struct owcp_error *err);

#endif
