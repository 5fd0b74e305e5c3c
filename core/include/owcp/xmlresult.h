/*
 * owcp/xmlresult.h — the outcome of reading an XML document from the
 * network, shared by the OWCP XML Request parser (owcp/request.h) and the
 * hardened reader under it (owcp/xmlsafe.h). Kept apart so that users of
 * the request API need no libxml2 headers.
 */
#ifndef OWCP_XMLRESULT_H
#define OWCP_XMLRESULT_H

/* Every failure is negative so that `!= 0` tests work as for the rest of
 * the library. */
enum owcp_xml_result {
  OWCP_XML_OK = 0,
  OWCP_XML_INVALID = -1,   /* malformed, refused or schema-invalid: 400 */
  OWCP_XML_TOO_LARGE = -2, /* over the size limit: 413 */
  OWCP_XML_INTERNAL = -3   /* allocation failure: 500 */
};

#endif
