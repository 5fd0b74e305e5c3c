/* MS-OTPCE request parsing and response building; see otpce_xml.h. */
#include "otpce_xml.h"

#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/tree.h>
#include <libxml/xmlstring.h>
#include <openssl/crypto.h>

#include "owcp/xmlsafe.h"

/* Generated from schema/otpcep.xsd by cmake/embed.cmake. */
extern const unsigned char otpce_schema_xsd[];
extern const size_t otpce_schema_xsd_len;

struct otpce_parser {
  xmlSchemaPtr schema;
  size_t max_bytes;
};

static const char *const known_attributes[] = {"username", "oneTimePassword",
                                               "certRequest"};

struct otpce_parser *otpce_parser_new(size_t max_bytes, struct owcp_error *err)
{
  if (max_bytes == 0)
    max_bytes = OTPCE_DEFAULT_MAX_BYTES;
  if (max_bytes > INT_MAX) {
    owcp_error_set(err, "OTPCE request size limit must be at most %d", INT_MAX);
    return NULL;
  }
  struct otpce_parser *p = calloc(1, sizeof *p);
  if (p == NULL) {
    owcp_error_set(err, "out of memory");
    return NULL;
  }
  p->schema = owcp_xml_schema_compile(otpce_schema_xsd, otpce_schema_xsd_len,
                                      "MS-OTPCE", err);
  if (p->schema == NULL) {
    free(p);
    return NULL;
  }
  p->max_bytes = max_bytes;
  return p;
}

void otpce_parser_free(struct otpce_parser *p)
{
  if (p == NULL)
    return;
  xmlSchemaFree(p->schema);
  free(p);
}

static bool is_known_attribute(const xmlAttr *a)
{
  if (a->ns != NULL)
    return false;
  for (size_t i = 0; i < sizeof known_attributes / sizeof *known_attributes;
       i++)
    if (xmlStrEqual(a->name, (const xmlChar *)known_attributes[i]))
      return true;
  return false;
}

/* Removes every attribute of root but the three the protocol defines. */
static void drop_unknown_attributes(xmlNodePtr root)
{
  xmlAttrPtr a = root->properties;
  while (a != NULL) {
    xmlAttrPtr next = a->next;
    if (!is_known_attribute(a))
      xmlRemoveProp(a);
    a = next;
  }
}

/* A malloc()ed copy of the unqualified attribute `name` of root (present:
 * the schema requires it); NULL when memory runs out. */
static char *attribute_copy(xmlNodePtr root, const char *name)
{
  xmlChar *v = xmlGetNoNsProp(root, (const xmlChar *)name);
  if (v == NULL)
    return NULL;
  char *copy = strdup((const char *)v);
  OPENSSL_cleanse(v, (size_t)xmlStrlen(v));
  xmlFree(v);
  return copy;
}

/* Overwrites the text of attribute `name` in the tree, so that the
 * one-time password does not outlive the parse in freed memory. */
static void wipe_attribute(xmlNodePtr root, const char *name)
{
  xmlAttrPtr a = xmlHasNsProp(root, (const xmlChar *)name, NULL);
  for (xmlNodePtr t = a != NULL ? a->children : NULL; t != NULL; t = t->next)
    if (t->content != NULL)
      OPENSSL_cleanse(t->content, (size_t)xmlStrlen(t->content));
}

static bool is_xml_space(char c)
{
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Decodes base64 text that may hold XML whitespace anywhere. */
static int decode_cert_request(const char *text, unsigned char **der,
                               size_t *der_len, struct owcp_error *err)
{
  size_t len = strlen(text);
  char *compact = malloc(len + 1);
  if (compact == NULL) {
    owcp_error_set(err, "out of memory");
    return -1;
  }
  size_t n = 0;
  for (size_t i = 0; i < len; i++)
    if (!is_xml_space(text[i]))
      compact[n++] = text[i];
  compact[n] = '\0';
  struct owcp_error why;
  int rc = owcp_base64_decode(compact, n, der, der_len, &why);
  free(compact);
  if (rc != 0)
    owcp_error_set(err, "OTPCE request: certRequest is not valid base64 (%s)",
                   why.msg);
  else if (*der_len == 0)
    owcp_error_set(err, "OTPCE request: certRequest is empty");
  return rc != 0 || *der_len == 0 ? -1 : 0;
}

static enum owcp_xml_result extract(xmlNodePtr root, struct otpce_request *out,
                                    struct owcp_error *err)
{
  out->username = attribute_copy(root, "username");
  out->one_time_password = attribute_copy(root, "oneTimePassword");
  wipe_attribute(root, "oneTimePassword");
  char *cert = attribute_copy(root, "certRequest");
  if (out->username == NULL || out->one_time_password == NULL || cert == NULL) {
    free(cert);
    owcp_error_set(err, "out of memory reading the OTPCE request");
    return OWCP_XML_INTERNAL;
  }
  int rc = decode_cert_request(cert, &out->csr_der, &out->csr_len, err);
  free(cert);
  return rc == 0 ? OWCP_XML_OK : OWCP_XML_INVALID;
}

enum owcp_xml_result otpce_request_parse(const struct otpce_parser *p,
                                         const char *body, size_t len,
                                         struct otpce_request *out,
                                         struct owcp_error *err)
{
  memset(out, 0, sizeof *out);
  const struct owcp_xml_source src = {.what = "OTPCE request",
                                      .namespace = OTPCE_NAMESPACE,
                                      .max_bytes = p->max_bytes,
                                      .max_depth = OTPCE_MAX_DEPTH};
  xmlDocPtr doc = NULL;
  enum owcp_xml_result rc = owcp_xml_read(&src, body, len, &doc, err);
  if (rc != OWCP_XML_OK)
    return rc;
  xmlNodePtr root = xmlDocGetRootElement(doc);
  drop_unknown_attributes(root);
  rc = owcp_xml_validate(&src, p->schema, "MS-OTPCE", doc, err);
  if (rc == OWCP_XML_OK)
    rc = extract(root, out, err);
  else
    wipe_attribute(root, "oneTimePassword");
  xmlFreeDoc(doc);
  if (rc != OWCP_XML_OK)
    otpce_request_clear(out);
  return rc;
}

void otpce_request_clear(struct otpce_request *req)
{
  free(req->username);
  if (req->one_time_password != NULL)
    OPENSSL_cleanse(req->one_time_password, strlen(req->one_time_password));
  free(req->one_time_password);
  free(req->csr_der);
  memset(req, 0, sizeof *req);
}

const char *otpce_status_name(enum otpce_status status)
{
  switch (status) {
  case OTPCE_SUCCESS:
    return "Success";
  case OTPCE_AUTHENTICATION_ERROR:
    return "AuthenticationError";
  case OTPCE_CHALLENGE_RESPONSE_REQUIRED:
    return "ChallengeResponseRequired";
  default:
    return "OtherError";
  }
}

/* A new document whose root is <signCertResponse statusCode="..."> in the
 * otpcep namespace (declared as the default namespace, as the spec's
 * examples do); *ns receives that namespace for children. */
static xmlDocPtr response_new(enum otpce_status status, xmlNsPtr *ns)
{
  xmlDocPtr doc = xmlNewDoc((const xmlChar *)"1.0");
  xmlNodePtr root =
      doc != NULL
          ? xmlNewDocNode(doc, NULL, (const xmlChar *)"signCertResponse", NULL)
          : NULL;
  if (root == NULL) {
    xmlFreeDoc(doc);
    return NULL;
  }
  xmlDocSetRootElement(doc, root);
  *ns = xmlNewNs(root, (const xmlChar *)OTPCE_NAMESPACE, NULL);
  if (*ns == NULL ||
      xmlNewProp(root, (const xmlChar *)"statusCode",
                 (const xmlChar *)otpce_status_name(status)) == NULL) {
    xmlFreeDoc(doc);
    return NULL;
  }
  xmlSetNs(root, *ns);
  return doc;
}

/* Serialises doc (UTF-8, with an XML declaration) into a malloc()ed
 * buffer and frees doc. */
static int response_finish(xmlDocPtr doc, char **xml, size_t *xml_len,
                           struct owcp_error *err)
{
  xmlChar *mem = NULL;
  int size = 0;
  xmlDocDumpMemoryEnc(doc, &mem, &size, "UTF-8");
  xmlFreeDoc(doc);
  if (mem == NULL || size <= 0 || (*xml = malloc((size_t)size + 1)) == NULL) {
    xmlFree(mem);
    owcp_error_set(err, "out of memory writing the OTPCE response");
    return -1;
  }
  memcpy(*xml, mem, (size_t)size);
  (*xml)[size] = '\0';
  *xml_len = (size_t)size;
  xmlFree(mem);
  return 0;
}

static int check_issuing_cas(const char *const *cas, size_t n,
                             struct owcp_error *err)
{
  if (n == 0) {
    owcp_error_set(err, "no issuing CA is configured");
    return -1;
  }
  for (size_t i = 0; i < n; i++) {
    size_t len = strlen(cas[i]);
    bool ok = len > 0 && xmlCheckUTF8((const unsigned char *)cas[i]) != 0;
    for (size_t j = 0; ok && j < len; j++)
      ok = (unsigned char)cas[i][j] >= 0x20 && cas[i][j] != 0x7f;
    if (!ok) {
      owcp_error_set(err,
                     "issuing CA %zu is empty, not UTF-8 or holds a "
                     "control character",
                     i + 1);
      return -1;
    }
  }
  return 0;
}

int otpce_response_success(const unsigned char *signed_req, size_t signed_len,
                           const char *const *issuing_ca, size_t ca_count,
                           char **xml, size_t *xml_len, struct owcp_error *err)
{
  *xml = NULL;
  *xml_len = 0;
  if (signed_len == 0) {
    owcp_error_set(err, "the signed certificate request is empty");
    return -1;
  }
  if (check_issuing_cas(issuing_ca, ca_count, err) != 0)
    return -1;
  char *b64 = owcp_base64_encode(signed_req, signed_len);
  xmlNsPtr ns = NULL;
  xmlDocPtr doc = b64 != NULL ? response_new(OTPCE_SUCCESS, &ns) : NULL;
  bool ok = doc != NULL && xmlNewProp(xmlDocGetRootElement(doc),
                                      (const xmlChar *)"SignedCertRequest",
                                      (const xmlChar *)b64) != NULL;
  for (size_t i = 0; ok && i < ca_count; i++)
    ok = xmlNewTextChild(xmlDocGetRootElement(doc), ns,
                         (const xmlChar *)"IssuingCA",
                         (const xmlChar *)issuing_ca[i]) != NULL;
  free(b64);
  if (!ok) {
    xmlFreeDoc(doc);
    owcp_error_set(err, "out of memory writing the OTPCE response");
    return -1;
  }
  return response_finish(doc, xml, xml_len, err);
}

int otpce_response_failure(enum otpce_status status, char **xml,
                           size_t *xml_len, struct owcp_error *err)
{
  *xml = NULL;
  *xml_len = 0;
  if (status == OTPCE_SUCCESS) {
    owcp_error_set(err, "a Success response needs the signed request");
    return -1;
  }
  xmlNsPtr ns = NULL;
  xmlDocPtr doc = response_new(status, &ns);
  if (doc == NULL) {
    owcp_error_set(err, "out of memory writing the OTPCE response");
    return -1;
  }
  return response_finish(doc, xml, xml_len, err);
}
