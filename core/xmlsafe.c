/* The hardened libxml2 reader and schema validator; see owcp/xmlsafe.h. */
#include "owcp/xmlsafe.h"

#include <limits.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/xmlerror.h>

/* libxml2 2.12 made the structured error argument const. */
#if LIBXML_VERSION >= 21200
typedef const xmlError *owcp_xml_error_ptr;
#else
typedef xmlError *owcp_xml_error_ptr;
#endif

/* What libxml2 reported during one call; only the first error is kept
 * because later ones are usually consequences of it. */
struct xml_diag {
  const char *namespace;
  bool doctype;
  bool have_error;
  bool nomem;
  int line;
  char msg[OWCP_ERROR_MAX];
};

/* Copies a libxml2 message into dst, dropping the namespace that libxml2
 * prints as "{uri}" before every element name (it would fill the sentence
 * without saying anything) and turning control characters and the trailing
 * newline into spaces, so the sentence is safe to log or return. */
static void clean_message(char *dst, size_t cap, const char *src,
                          const char *ns)
{
  size_t nslen = ns != NULL ? strlen(ns) : 0;
  size_t n = 0;
  while (*src != '\0' && n + 1 < cap) {
    if (nslen > 0 && src[0] == '{' && strncmp(src + 1, ns, nslen) == 0 &&
        src[1 + nslen] == '}') {
      src += nslen + 2;
      continue;
    }
    unsigned char c = (unsigned char)*src++;
    dst[n++] = (char)((c < 0x20 || c == 0x7f) ? ' ' : c);
  }
  while (n > 0 && dst[n - 1] == ' ')
    n--;
  dst[n] = '\0';
}

static void diag_record(struct xml_diag *d, owcp_xml_error_ptr e)
{
  if (e == NULL || e->level < XML_ERR_ERROR)
    return;
  if (e->code == XML_ERR_NO_MEMORY)
    d->nomem = true;
  if (d->have_error)
    return;
  d->have_error = true;
  d->line = e->line;
  clean_message(d->msg, sizeof d->msg,
                e->message != NULL ? e->message : "unknown error",
                d->namespace);
}

/* Structured handler for the parser: userData is the parser context, whose
 * _private points at this call's diagnostics. */
static void parser_error(void *user, owcp_xml_error_ptr e)
{
  xmlParserCtxtPtr ctxt = user;
  diag_record(ctxt->_private, e);
}

/* Structured handler for schema compilation and validation. */
static void schema_error(void *user, owcp_xml_error_ptr e)
{
  diag_record(user, e);
}

/* SAX hook called as soon as "<!DOCTYPE name ..." has been read and before
 * any of the internal subset is parsed: stopping here means no entity is
 * ever declared, let alone expanded. */
static void refuse_doctype(void *user, const xmlChar *name,
                           const xmlChar *external_id, const xmlChar *system_id)
{
  xmlParserCtxtPtr ctxt = user;
  struct xml_diag *d = ctxt->_private;
  d->doctype = true;
  xmlStopParser(ctxt);
}

/* Depth of the deepest element, walking the tree iteratively; on excess
 * *where is the first element past the limit. */
static bool depth_exceeds(const xmlNode *root, size_t limit,
                          const xmlNode **where)
{
  const xmlNode *n = root;
  size_t depth = 1;
  while (n != NULL) {
    if (n->type == XML_ELEMENT_NODE && depth > limit) {
      *where = n;
      return true;
    }
    if (n->type == XML_ELEMENT_NODE && n->children != NULL) {
      n = n->children;
      depth++;
      continue;
    }
    while (n != root && n->next == NULL) {
      n = n->parent;
      depth--;
    }
    n = n == root ? NULL : n->next;
  }
  return false;
}

/* Parses bytes into a tree with every risky feature off, refusing any
 * DOCTYPE; returns NULL with err set (and *nomem when memory ran out). */
static xmlDocPtr parse_document(const struct owcp_xml_source *src,
                                const char *xml, size_t len,
                                struct owcp_error *err, bool *nomem)
{
  struct xml_diag diag = {.namespace = src->namespace};
  xmlParserCtxtPtr ctxt = xmlNewParserCtxt();
  if (ctxt == NULL) {
    *nomem = true;
    owcp_error_set(err, "out of memory parsing the %s", src->what);
    return NULL;
  }
  ctxt->sax->internalSubset = refuse_doctype;
  ctxt->sax->serror = parser_error;
  /* No XML_PARSE_NOENT, DTDLOAD, DTDATTR, XINCLUDE or HUGE: entities stay
   * unexpanded, nothing external is fetched and libxml2's own size and
   * depth guards stay on. */
  int options = XML_PARSE_NONET | XML_PARSE_NOCDATA | XML_PARSE_IGNORE_ENC |
                XML_PARSE_BIG_LINES;
  ctxt->_private = &diag;
  xmlDocPtr doc =
      xmlCtxtReadMemory(ctxt, xml, (int)len, NULL, "UTF-8", options);
  bool well_formed = ctxt->wellFormed != 0;
  xmlFreeParserCtxt(ctxt);

  if (diag.doctype) {
    owcp_error_set(err, "%s must not contain a DOCTYPE declaration", src->what);
  } else if (diag.nomem) {
    *nomem = true;
    owcp_error_set(err, "out of memory parsing the %s", src->what);
  } else if (doc == NULL || !well_formed || diag.have_error) {
    owcp_error_set(err, "%s is not well-formed (line %d: %s)", src->what,
                   diag.line, diag.have_error ? diag.msg : "no root element");
  } else {
    return doc;
  }
  xmlFreeDoc(doc);
  return NULL;
}

/* Steps 1 and 2 of owcp/xmlsafe.h. */
static enum owcp_xml_result check_bytes(const struct owcp_xml_source *src,
                                        const char *xml, size_t len,
                                        struct owcp_error *err)
{
  if (len > src->max_bytes || len > INT_MAX) {
    owcp_error_set(err, "%s is %zu bytes, over the limit of %zu", src->what,
                   len, src->max_bytes);
    return OWCP_XML_TOO_LARGE;
  }
  if (xml == NULL || len == 0) {
    owcp_error_set(err, "%s is empty", src->what);
    return OWCP_XML_INVALID;
  }
  const char *nul = memchr(xml, '\0', len);
  if (nul != NULL) {
    owcp_error_set(err, "%s contains a NUL byte at offset %zu", src->what,
                   (size_t)(nul - xml));
    return OWCP_XML_INVALID;
  }
  return OWCP_XML_OK;
}

enum owcp_xml_result owcp_xml_read(const struct owcp_xml_source *src,
                                   const char *xml, size_t len, xmlDocPtr *doc,
                                   struct owcp_error *err)
{
  *doc = NULL;
  enum owcp_xml_result rc = check_bytes(src, xml, len, err);
  if (rc != OWCP_XML_OK)
    return rc;
  bool nomem = false;
  xmlDocPtr d = parse_document(src, xml, len, err, &nomem);
  if (d == NULL)
    return nomem ? OWCP_XML_INTERNAL : OWCP_XML_INVALID;

  const xmlNode *deep = NULL;
  const xmlNode *root = xmlDocGetRootElement(d);
  if (root == NULL) {
    owcp_error_set(err, "%s has no root element", src->what);
  } else if (depth_exceeds(root, src->max_depth, &deep)) {
    owcp_error_set(err,
                   "%s nests elements deeper than %zu levels "
                   "(element '%s' at line %ld)",
                   src->what, src->max_depth, (const char *)deep->name,
                   xmlGetLineNo(deep));
  } else {
    *doc = d;
    return OWCP_XML_OK;
  }
  xmlFreeDoc(d);
  return OWCP_XML_INVALID;
}

xmlSchemaPtr owcp_xml_schema_compile(const unsigned char *xsd, size_t len,
                                     const char *name, struct owcp_error *err)
{
  if (len > INT_MAX) {
    owcp_error_set(err, "embedded %s schema is too large", name);
    return NULL;
  }
  xmlInitParser();
  struct xml_diag diag = {0};
  xmlSchemaParserCtxtPtr pctxt =
      xmlSchemaNewMemParserCtxt((const char *)xsd, (int)len);
  if (pctxt == NULL) {
    owcp_error_set(err, "out of memory compiling the %s schema", name);
    return NULL;
  }
  xmlSchemaSetParserStructuredErrors(pctxt, schema_error, &diag);
  xmlSchemaPtr schema = xmlSchemaParse(pctxt);
  xmlSchemaFreeParserCtxt(pctxt);
  if (schema == NULL)
    owcp_error_set(err, "embedded %s schema does not compile (line %d: %s)",
                   name, diag.line,
                   diag.have_error ? diag.msg : "unknown error");
  return schema;
}

enum owcp_xml_result owcp_xml_validate(const struct owcp_xml_source *src,
                                       xmlSchemaPtr schema,
                                       const char *schema_name, xmlDocPtr doc,
                                       struct owcp_error *err)
{
  struct xml_diag diag = {.namespace = src->namespace};
  xmlSchemaValidCtxtPtr vctxt = xmlSchemaNewValidCtxt(schema);
  if (vctxt == NULL) {
    owcp_error_set(err, "out of memory validating the %s", src->what);
    return OWCP_XML_INTERNAL;
  }
  xmlSchemaSetValidStructuredErrors(vctxt, schema_error, &diag);
  int rc = xmlSchemaValidateDoc(vctxt, doc);
  xmlSchemaFreeValidCtxt(vctxt);
  if (rc == 0)
    return OWCP_XML_OK;
  if (diag.nomem) {
    owcp_error_set(err, "out of memory validating the %s", src->what);
    return OWCP_XML_INTERNAL;
  }
  owcp_error_set(err, "%s does not match the %s schema (line %d: %s)",
                 src->what, schema_name, diag.line,
                 diag.have_error ? diag.msg : "validation failed");
  return OWCP_XML_INVALID;
}
