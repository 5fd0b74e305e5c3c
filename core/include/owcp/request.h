/*
 * owcp/request.h — parsing and validation of the OWCP XML Request (binding
 * spec §9): the <Request> document a requestor sends in RD-Confirm and a
 * client shows to its user.
 *
 * A document is accepted only when all of these hold, checked in this order:
 *  1. it is at most limits.max_bytes long (else OWCP_XML_TOO_LARGE, HTTP
 *     413), checked before any parsing;
 *  2. it contains no NUL byte (libxml2 would silently stop reading there,
 *     leaving the rest unvalidated) and is well-formed UTF-8 XML without
 *     any DOCTYPE (the parser is stopped
 *     the moment a DOCTYPE starts, so no entity or external subset is ever
 *     processed; network access, entity substitution, DTD loading and
 *     XInclude are all off; an encoding declaration naming anything but
 *     UTF-8 is ignored and the bytes are read as UTF-8);
 *  3. no element is nested deeper than limits.max_depth (<Request> is depth
 *     1);
 *  4. it is valid against schema/owcp.xsd (compiled into the library);
 *  5. semantic rules the schema cannot express: a <Barcode> carries width,
 *     height and data; width and height are 1..limits.max_barcode_dim; data
 *     decodes to exactly height × ceil(width/8) octets (owcp/barcode.h); a
 *     <Money> currency is three ASCII letters (ISO 4217 form) so that it
 *     cannot smuggle text into a rendered amount; an `issued` attribute
 *     carries a time zone (owcp_time_parse()).
 * Every failure other than 1 is OWCP_XML_INVALID (HTTP 400), except an
 * allocation failure, which is OWCP_XML_INTERNAL (HTTP 500).
 *
 * libxml2 diagnostics are captured per call into the caller's
 * struct owcp_error (one sentence naming the line and element); nothing is
 * ever written to stderr.
 *
 * Threads: create one validator per process (before starting threads, as it
 * initialises libxml2) and share it read-only; owcp_request_parse() may run
 * concurrently on it.
 */
#ifndef OWCP_REQUEST_H
#define OWCP_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "owcp/barcode.h"
#include "owcp/util.h"
#include "owcp/xmlresult.h"

/* The XML namespace of every element of an OWCP 0.1 Request. */
#define OWCP_XML_NAMESPACE "http://schema.comodo.com/2011/owcp/0.1"

#define OWCP_XML_DEFAULT_MAX_BYTES ((size_t)64 * 1024)
#define OWCP_XML_DEFAULT_MAX_DEPTH 32u
#define OWCP_XML_DEFAULT_MAX_BARCODE_DIM 1024u

/* Resource limits applied by a validator. */
struct owcp_xml_limits {
  size_t max_bytes;       /* document size; 1..INT_MAX */
  size_t max_depth;       /* element nesting; ≥ 3 (Request/Header/From) */
  size_t max_barcode_dim; /* barcode width and height; 1..65535 */
};

/* Fills *limits with the spec §2 defaults (64 KiB, depth 32) and a 1024
 * pixel barcode bound. */
void owcp_xml_limits_default(struct owcp_xml_limits *limits);

/* Outcome of owcp_request_parse(): enum owcp_xml_result (owcp/xmlresult.h). */

/* The compiled schema plus limits. Opaque; immutable after creation. */
struct owcp_xml_validator;

/* Compiles the embedded schema. limits may be NULL for the defaults; limits
 * outside the ranges documented in struct owcp_xml_limits are refused.
 * Returns a validator the caller releases with owcp_xml_validator_free(),
 * or NULL with err set. */
struct owcp_xml_validator *
owcp_xml_validator_new(const struct owcp_xml_limits *limits,
                       struct owcp_error *err);

/* Releases a validator (NULL allowed). No parse may be running on it. */
void owcp_xml_validator_free(struct owcp_xml_validator *v);

/* The limits a validator enforces. */
const struct owcp_xml_limits *
owcp_xml_validator_limits(const struct owcp_xml_validator *v);

/* ---- The parsed request. All strings are NUL-terminated UTF-8 owned by
 * the request; everything is released by owcp_request_free(). ---- */

enum owcp_span_kind {
  OWCP_SPAN_TEXT,     /* character data exactly as in the document */
  OWCP_SPAN_MONEY,    /* <Money currency amount/> */
  OWCP_SPAN_BOLD,     /* <B>: children */
  OWCP_SPAN_ITALIC,   /* <I>: children */
  OWCP_SPAN_UNDERLINE /* <U>: children */
};

struct owcp_span;

/* Formatted text (the schema's TextType, mixed content): ordered spans.
 * Whitespace is kept as written; the renderer collapses it. */
struct owcp_text {
  size_t count;
  struct owcp_span *spans;
};

struct owcp_span {
  enum owcp_span_kind kind;
  char *text;                /* OWCP_SPAN_TEXT, else NULL */
  char *currency;            /* OWCP_SPAN_MONEY: as written, else NULL */
  char *amount;              /* OWCP_SPAN_MONEY: as written, else NULL */
  struct owcp_text children; /* B, I and U; empty otherwise */
};

struct owcp_request_header {
  char *issued;       /* attribute as written, or NULL when absent */
  time_t issued_time; /* UTC seconds; meaningful only when issued != NULL */
  char *identifier;   /* or NULL */
  char *type;         /* or NULL */
  char *from;         /* text content exactly as written */
  char *to;
  size_t verification_count;
  char **verification; /* <Verification> texts, document order */
  struct owcp_text summary;
  size_t reference_count;
  char **references;
};

struct owcp_table_row {
  bool header; /* <TH> when true, <TR> when false */
  size_t cell_count;
  struct owcp_text *cells; /* one per <TD> */
};

struct owcp_table {
  size_t row_count;
  struct owcp_table_row *rows;
};

enum owcp_body_kind { OWCP_BODY_P, OWCP_BODY_TABLE, OWCP_BODY_BARCODE };

struct owcp_body_item {
  enum owcp_body_kind kind;
  struct owcp_text text;        /* OWCP_BODY_P */
  struct owcp_table table;      /* OWCP_BODY_TABLE */
  struct owcp_barcode *barcode; /* OWCP_BODY_BARCODE, else NULL */
};

struct owcp_request {
  struct owcp_request_header header;
  bool has_body; /* a <Body> element was present (possibly empty) */
  size_t body_count;
  struct owcp_body_item *body; /* document order */
};

/* Parses and validates the len bytes at xml (need not be NUL-terminated)
 * as described at the top of this header. On OWCP_XML_OK *out receives a
 * request the caller releases with owcp_request_free(); on failure *out is
 * NULL and err holds one sentence naming the problem. */
enum owcp_xml_result owcp_request_parse(const struct owcp_xml_validator *v,
                                        const char *xml, size_t len,
                                        struct owcp_request **out,
                                        struct owcp_error *err);

/* For bytes this program validated with owcp_request_parse() before it
 * stored them (the dispatcher's CD-Reply reads back the request RD-Confirm
 * validated): the same reading limits, well-formedness and strict element
 * rules, without running the schema a second time. Never for bytes from
 * the network. Same results and ownership as owcp_request_parse(). */
enum owcp_xml_result
owcp_request_parse_stored(const struct owcp_xml_validator *v, const char *xml,
                          size_t len, struct owcp_request **out,
                          struct owcp_error *err);

/* Releases a request and everything it owns; NULL is allowed. */
void owcp_request_free(struct owcp_request *req);

#endif
