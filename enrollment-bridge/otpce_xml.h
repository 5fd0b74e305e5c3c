/*
 * otpce_xml.h — the MS-OTPCE message bodies (seed 000, §2.2): reading a
 * SignCert Request and writing a SignCert Response. No HTTP here: the
 * caller checks the method, Content-Type and X-OTPCEP-version header and
 * answers every parse failure with HTTP 400 and an OtherError response.
 *
 * A request is accepted only when (in this order):
 *  1. owcp_xml_read() accepts it (size limit, no NUL, well-formed UTF-8,
 *     no DOCTYPE — so no entity is ever declared or expanded, nothing
 *     fetched — and depth ≤ OTPCE_MAX_DEPTH);
 *  2. after dropping every attribute of the root element other than the
 *     unqualified username, oneTimePassword and certRequest, it is valid
 *     against schema/otpcep.xsd (compiled in): root signCertRequest in the
 *     otpcep namespace, all three attributes present, no content. The
 *     attributes are dropped first because the schema has no
 *     anyAttribute, yet clients add their own (xsi:*, and the spec's own
 *     example 4.4 shows a stray `certificate=""`): they must make no
 *     difference, and they are never read;
 *  3. certRequest, with XML whitespace (space, tab, CR, LF: example 4.1
 *     carries &#xA; line breaks, 4.2 spaces) removed, is strict base64.
 * The CSR inside is not examined here (csr_check.h does that).
 */
#ifndef OWCP_BRIDGE_OTPCE_XML_H
#define OWCP_BRIDGE_OTPCE_XML_H

#include <stddef.h>

#include "owcp/util.h"
#include "owcp/xmlresult.h"

#define OTPCE_NAMESPACE "http://schemas.microsoft.com/otpcep/1.0/protocol"
#define OTPCE_DEFAULT_MAX_BYTES ((size_t)64 * 1024)
/* The request is one empty element; a little room for nothing. */
#define OTPCE_MAX_DEPTH 4u

/* The compiled schema and the size limit; immutable once made, shareable
 * between threads. */
struct otpce_parser;

/* Compiles the embedded schema. max_bytes 0 means the default; at most
 * INT_MAX. Returns NULL with err set on failure; free with
 * otpce_parser_free(). Call before starting threads (initialises
 * libxml2). */
struct otpce_parser *otpce_parser_new(size_t max_bytes, struct owcp_error *err);
void otpce_parser_free(struct otpce_parser *p);

/* A parsed SignCert Request. Strings are NUL-terminated UTF-8 exactly as
 * in the document after XML attribute normalisation. */
struct otpce_request {
  char *username;          /* DOMAIN\user as received */
  char *one_time_password; /* secret: wiped by otpce_request_clear() */
  unsigned char *csr_der;  /* certRequest, base64-decoded */
  size_t csr_len;
};

/* Parses body[0..len). On OWCP_XML_OK *out is filled (release with
 * otpce_request_clear()); otherwise *out is zeroed and err names the
 * problem in one sentence. OWCP_XML_TOO_LARGE and OWCP_XML_INTERNAL keep
 * their meaning from owcp/xmlresult.h. */
enum owcp_xml_result otpce_request_parse(const struct otpce_parser *p,
                                         const char *body, size_t len,
                                         struct otpce_request *out,
                                         struct owcp_error *err);

/* Frees what req owns (overwriting the one-time password first) and zeroes
 * it. Safe on a zeroed struct. */
void otpce_request_clear(struct otpce_request *req);

enum otpce_status {
  OTPCE_SUCCESS,
  OTPCE_AUTHENTICATION_ERROR,
  OTPCE_CHALLENGE_RESPONSE_REQUIRED,
  OTPCE_OTHER_ERROR
};

/* The statusCode spelling of a status ("Success", ...). */
const char *otpce_status_name(enum otpce_status status);

/* A Success response: statusCode="Success", SignedCertRequest = base64 of
 * signed[0..signed_len) (one line), then one IssuingCA child per
 * issuing_ca entry, in order. At least one CA is required (seed §3.2.5.1
 * step 5: an empty list is OtherError), and no entry may be empty or hold a
 * control character. On success *xml (caller frees) and *xml_len hold a
 * UTF-8 document with an XML declaration. */
int otpce_response_success(const unsigned char *signed_req, size_t signed_len,
                           const char *const *issuing_ca, size_t ca_count,
                           char **xml, size_t *xml_len, struct owcp_error *err);

/* A failure response: statusCode only (never SignedCertRequest or
 * IssuingCA). status must not be OTPCE_SUCCESS. */
int otpce_response_failure(enum otpce_status status, char **xml,
                           size_t *xml_len, struct owcp_error *err);

#endif
