/*
 * owcp/xmlsafe.h — the hardened libxml2 front every XML reader of the
 * project shares (the OWCP XML Request, the enrollment bridge's protocol
 * bodies): reading untrusted bytes into a tree with every risky parser
 * feature off, and validating that tree against a schema compiled into the
 * program, with libxml2's diagnostics turned into one sentence per call.
 *
 * owcp_xml_read() accepts a document only when, in this order:
 *  1. it is at most max_bytes long (else OWCP_XML_TOO_LARGE), checked
 *     before any parsing;
 *  2. it is not empty and contains no NUL byte (libxml2 would silently stop
 *     reading there, leaving the rest unvalidated);
 *  3. it is well-formed UTF-8 XML without any DOCTYPE: the parser is
 *     stopped the moment a DOCTYPE starts, so no entity or external subset
 *     is ever processed; network access, entity substitution, DTD loading
 *     and XInclude are off and libxml2's own size and depth guards stay on;
 *     an encoding declaration naming anything but UTF-8 is ignored and the
 *     bytes are read as UTF-8;
 *  4. no element is nested deeper than max_depth (the root is depth 1).
 *
 * Nothing is ever written to stderr; messages never contain control
 * characters. Safe to call from several threads at once once libxml2 has
 * been initialised (owcp_xml_schema_compile() does that).
 */
#ifndef OWCP_XMLSAFE_H
#define OWCP_XMLSAFE_H

#include <stdbool.h>
#include <stddef.h>

#include <libxml/tree.h>
#include <libxml/xmlschemas.h>

#include "owcp/util.h"
#include "owcp/xmlresult.h"

/* How one kind of document is read and named in error sentences. */
struct owcp_xml_source {
  const char *what;      /* e.g. "XML Request": starts every sentence */
  const char *namespace; /* stripped from libxml2's "{uri}name" messages */
  size_t max_bytes;      /* 1..INT_MAX */
  size_t max_depth;      /* ≥ 1 */
};

/* Reads xml[0..len) as described above. On OWCP_XML_OK *doc is a tree with
 * a root element that the caller releases with xmlFreeDoc(); otherwise
 * *doc is NULL and err names the problem. */
enum owcp_xml_result owcp_xml_read(const struct owcp_xml_source *src,
                                   const char *xml, size_t len, xmlDocPtr *doc,
                                   struct owcp_error *err);

/* Compiles an embedded schema (xsd[0..len)); `name` names it in errors
 * ("OWCP"). Returns a schema the caller releases with xmlSchemaFree(), or
 * NULL with err set. */
xmlSchemaPtr owcp_xml_schema_compile(const unsigned char *xsd, size_t len,
                                     const char *name, struct owcp_error *err);

/* Validates doc against schema; on failure err says "<what> does not match
 * the <schema_name> schema (line N: reason)". Returns OWCP_XML_OK,
 * OWCP_XML_INVALID or OWCP_XML_INTERNAL. */
enum owcp_xml_result owcp_xml_validate(const struct owcp_xml_source *src,
                                       xmlSchemaPtr schema,
                                       const char *schema_name, xmlDocPtr doc,
                                       struct owcp_error *err);

#endif
