/* Parsing and validation of the OWCP XML Request; see owcp/request.h for
 * the order of checks and why each exists. */
#include "owcp/request.h"
#include "owcp/xmlsafe.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/tree.h>
#include <libxml/xmlschemas.h>

/* Generated from schema/owcp.xsd by cmake/embed.cmake. */
extern const unsigned char owcp_schema_xsd[];
extern const size_t owcp_schema_xsd_len;

struct owcp_xml_validator {
  xmlSchemaPtr schema;
  struct owcp_xml_limits limits;
};

void owcp_xml_limits_default(struct owcp_xml_limits *limits)
{
  limits->max_bytes = OWCP_XML_DEFAULT_MAX_BYTES;
  limits->max_depth = OWCP_XML_DEFAULT_MAX_DEPTH;
  limits->max_barcode_dim = OWCP_XML_DEFAULT_MAX_BARCODE_DIM;
}

static int check_limits(const struct owcp_xml_limits *l, struct owcp_error *err)
{
  if (l->max_bytes == 0 || l->max_bytes > INT_MAX) {
    owcp_error_set(err, "XML limit max_bytes must be 1..%d", INT_MAX);
    return -1;
  }
  if (l->max_depth < 3) {
    owcp_error_set(err, "XML limit max_depth must be at least 3");
    return -1;
  }
  if (l->max_barcode_dim == 0 || l->max_barcode_dim > 65535) {
    owcp_error_set(err, "XML limit max_barcode_dim must be 1..65535");
    return -1;
  }
  return 0;
}

struct owcp_xml_validator *
owcp_xml_validator_new(const struct owcp_xml_limits *limits,
                       struct owcp_error *err)
{
  struct owcp_xml_limits l;
  if (limits != NULL)
    l = *limits;
  else
    owcp_xml_limits_default(&l);
  if (check_limits(&l, err) != 0)
    return NULL;
  xmlSchemaPtr schema = owcp_xml_schema_compile(
      owcp_schema_xsd, owcp_schema_xsd_len, "OWCP", err);
  if (schema == NULL)
    return NULL;

  struct owcp_xml_validator *v = calloc(1, sizeof *v);
  if (v == NULL) {
    xmlSchemaFree(schema);
    owcp_error_set(err, "out of memory creating the XML validator");
    return NULL;
  }
  v->schema = schema;
  v->limits = l;
  return v;
}

void owcp_xml_validator_free(struct owcp_xml_validator *v)
{
  if (v == NULL)
    return;
  xmlSchemaFree(v->schema);
  free(v);
}

const struct owcp_xml_limits *
owcp_xml_validator_limits(const struct owcp_xml_validator *v)
{
  return &v->limits;
}

/* ---- Releasing the C structures ---- */

static void text_free(struct owcp_text *t)
{
  for (size_t i = 0; i < t->count; i++) {
    struct owcp_span *s = &t->spans[i];
    free(s->text);
    free(s->currency);
    free(s->amount);
    text_free(&s->children);
  }
  free(t->spans);
  t->spans = NULL;
  t->count = 0;
}

static void strings_free(char **v, size_t n)
{
  for (size_t i = 0; i < n; i++)
    free(v[i]);
  free(v);
}

static void table_free(struct owcp_table *t)
{
  for (size_t r = 0; r < t->row_count; r++) {
    struct owcp_table_row *row = &t->rows[r];
    for (size_t c = 0; c < row->cell_count; c++)
      text_free(&row->cells[c]);
    free(row->cells);
  }
  free(t->rows);
}

void owcp_request_free(struct owcp_request *req)
{
  if (req == NULL)
    return;
  struct owcp_request_header *h = &req->header;
  free(h->issued);
  free(h->identifier);
  free(h->type);
  free(h->from);
  free(h->to);
  strings_free(h->verification, h->verification_count);
  text_free(&h->summary);
  strings_free(h->references, h->reference_count);
  for (size_t i = 0; i < req->body_count; i++) {
    struct owcp_body_item *item = &req->body[i];
    text_free(&item->text);
    table_free(&item->table);
    owcp_barcode_free(item->barcode);
  }
  free(req->body);
  free(req);
}

/* ---- Building the C structures from a schema-valid tree ----
 *
 * The schema has already fixed the structure, but the builder still checks
 * every element it meets, so that a gap between schema and code is an
 * error rather than silently dropped content. */

struct builder {
  const struct owcp_xml_limits *limits;
  struct owcp_error *err;
  bool nomem;
};

static int out_of_memory(struct builder *b)
{
  b->nomem = true;
  owcp_error_set(b->err, "out of memory building the XML Request");
  return -1;
}

static bool is_owcp(const xmlNode *n, const char *name)
{
  return n->type == XML_ELEMENT_NODE && n->ns != NULL &&
         xmlStrEqual(n->ns->href, BAD_CAST OWCP_XML_NAMESPACE) &&
         xmlStrEqual(n->name, BAD_CAST name);
}

static int unexpected(struct builder *b, const xmlNode *n, const char *where)
{
  owcp_error_set(b->err, "XML Request line %ld: unexpected element '%s' in %s",
                 xmlGetLineNo(n), (const char *)n->name, where);
  return -1;
}

/* Malloc'd copy of an xmlChar string (NULL stays NULL); libxml2 memory is
 * never handed to callers, who free with free(). */
static char *copy_xml_string(struct builder *b, const xmlChar *s, bool *failed)
{
  *failed = false;
  if (s == NULL)
    return NULL;
  char *copy = strdup((const char *)s);
  if (copy == NULL) {
    *failed = true;
    out_of_memory(b);
  }
  return copy;
}

/* The text content of an element (concatenated text, without comments). */
static int element_text(struct builder *b, const xmlNode *n, char **out)
{
  xmlChar *content = xmlNodeGetContent(n);
  if (content == NULL)
    return out_of_memory(b);
  bool failed;
  *out = copy_xml_string(b, content, &failed);
  xmlFree(content);
  return failed ? -1 : 0;
}

/* An unqualified attribute, or NULL when absent. */
static int attribute(struct builder *b, const xmlNode *n, const char *name,
                     char **out)
{
  xmlChar *value = xmlGetNoNsProp(n, BAD_CAST name);
  bool failed;
  *out = copy_xml_string(b, value, &failed);
  xmlFree(value);
  return failed ? -1 : 0;
}

static bool is_xml_space(char c)
{
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool is_text_node(const xmlNode *n)
{
  return n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE;
}

/* Comments and processing instructions carry nothing to display. */
static bool is_ignorable(const xmlNode *n)
{
  return n->type == XML_COMMENT_NODE || n->type == XML_PI_NODE;
}

static int append_text(struct builder *b, struct owcp_span *span,
                       const xmlChar *s)
{
  size_t old = span->text != NULL ? strlen(span->text) : 0;
  size_t add = strlen((const char *)s);
  char *grown = realloc(span->text, old + add + 1);
  if (grown == NULL)
    return out_of_memory(b);
  memcpy(grown + old, s, add + 1);
  span->text = grown;
  return 0;
}

/* ISO 4217 form, so that a currency cannot carry words, digits or spaces
 * into the rendered amount ("USD 1 (one)" style spoofing). */
static int check_currency(struct builder *b, const xmlNode *n,
                          const char *currency)
{
  size_t len = strlen(currency);
  bool ok = len == 3;
  for (size_t i = 0; ok && i < len; i++) {
    char c = currency[i];
    ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
  }
  if (!ok) {
    owcp_error_set(b->err,
                   "XML Request line %ld: Money attribute 'currency' must be "
                   "a three-letter ISO 4217 code",
                   xmlGetLineNo(n));
    return -1;
  }
  return 0;
}

static int build_money(struct builder *b, const xmlNode *n,
                       struct owcp_span *span)
{
  span->kind = OWCP_SPAN_MONEY;
  if (attribute(b, n, "currency", &span->currency) != 0 ||
      attribute(b, n, "amount", &span->amount) != 0)
    return -1;
  if (span->currency == NULL || span->amount == NULL) {
    owcp_error_set(b->err,
                   "XML Request line %ld: Money needs 'currency' and 'amount'",
                   xmlGetLineNo(n));
    return -1;
  }
  return check_currency(b, n, span->currency);
}

static int build_text(struct builder *b, const xmlNode *parent,
                      struct owcp_text *out);

static int build_emphasis(struct builder *b, const xmlNode *n,
                          struct owcp_span *span)
{
  if (is_owcp(n, "B"))
    span->kind = OWCP_SPAN_BOLD;
  else if (is_owcp(n, "I"))
    span->kind = OWCP_SPAN_ITALIC;
  else if (is_owcp(n, "U"))
    span->kind = OWCP_SPAN_UNDERLINE;
  else
    return unexpected(b, n, "formatted text");
  return build_text(b, n, &span->children);
}

/* TextType: mixed content of text, Money, B, I and U. Adjacent text (split
 * only by comments) becomes one span. */
static int build_text(struct builder *b, const xmlNode *parent,
                      struct owcp_text *out)
{
  size_t max = 0;
  for (const xmlNode *n = parent->children; n != NULL; n = n->next)
    max++;
  if (max == 0)
    return 0;
  out->spans = calloc(max, sizeof *out->spans);
  if (out->spans == NULL)
    return out_of_memory(b);
  for (const xmlNode *n = parent->children; n != NULL; n = n->next) {
    if (is_ignorable(n))
      continue;
    if (is_text_node(n)) {
      struct owcp_span *last =
          out->count > 0 ? &out->spans[out->count - 1] : NULL;
      if (last == NULL || last->kind != OWCP_SPAN_TEXT) {
        last = &out->spans[out->count++];
        last->kind = OWCP_SPAN_TEXT;
      }
      if (append_text(b, last, n->content != NULL ? n->content : BAD_CAST "") !=
          0)
        return -1;
      continue;
    }
    if (n->type != XML_ELEMENT_NODE) {
      owcp_error_set(b->err, "XML Request line %ld: unexpected node in '%s'",
                     xmlGetLineNo(n), (const char *)parent->name);
      return -1;
    }
    struct owcp_span *span = &out->spans[out->count++];
    int rc = is_owcp(n, "Money") ? build_money(b, n, span)
                                 : build_emphasis(b, n, span);
    if (rc != 0)
      return -1;
  }
  return 0;
}

static int push_string(struct builder *b, char ***v, size_t *count, char *s)
{
  char **grown = realloc(*v, (*count + 1) * sizeof **v);
  if (grown == NULL) {
    free(s);
    return out_of_memory(b);
  }
  grown[(*count)++] = s;
  *v = grown;
  return 0;
}

/* `issued` is the requestor's own claim, but a time without a zone would
 * be ambiguous, so it must parse as RFC 3339 with 'Z' or an offset. */
static int parse_issued(struct builder *b, const xmlNode *n,
                        struct owcp_request_header *h)
{
  const char *s = h->issued;
  size_t len = strlen(s);
  while (len > 0 && is_xml_space(s[len - 1]))
    len--;
  while (len > 0 && is_xml_space(*s)) {
    s++;
    len--;
  }
  char *trimmed = strndup(s, len);
  if (trimmed == NULL)
    return out_of_memory(b);
  struct owcp_error inner = {{0}};
  int rc = owcp_time_parse(trimmed, &h->issued_time, &inner);
  free(trimmed);
  if (rc != 0)
    owcp_error_set(b->err,
                   "XML Request line %ld: Header attribute 'issued': %s",
                   xmlGetLineNo(n), inner.msg);
  return rc;
}

static int build_header_attributes(struct builder *b, const xmlNode *n,
                                   struct owcp_request_header *h)
{
  if (attribute(b, n, "issued", &h->issued) != 0 ||
      attribute(b, n, "identifier", &h->identifier) != 0 ||
      attribute(b, n, "type", &h->type) != 0)
    return -1;
  if (h->issued != NULL)
    return parse_issued(b, n, h);
  return 0;
}

static int build_header_child(struct builder *b, const xmlNode *c,
                              struct owcp_request_header *h, bool *have_summary)
{
  char *s = NULL;
  if (is_owcp(c, "From") && h->from == NULL)
    return element_text(b, c, &h->from);
  if (is_owcp(c, "To") && h->to == NULL)
    return element_text(b, c, &h->to);
  if (is_owcp(c, "Summary") && !*have_summary) {
    *have_summary = true;
    return build_text(b, c, &h->summary);
  }
  if (is_owcp(c, "Verification")) {
    if (element_text(b, c, &s) != 0)
      return -1;
    return push_string(b, &h->verification, &h->verification_count, s);
  }
  if (is_owcp(c, "Reference")) {
    if (element_text(b, c, &s) != 0)
      return -1;
    return push_string(b, &h->references, &h->reference_count, s);
  }
  return unexpected(b, c, "Header");
}

static int build_header(struct builder *b, const xmlNode *n,
                        struct owcp_request_header *h)
{
  if (build_header_attributes(b, n, h) != 0)
    return -1;
  bool have_summary = false;
  for (const xmlNode *c = n->children; c != NULL; c = c->next) {
    if (c->type != XML_ELEMENT_NODE)
      continue;
    if (build_header_child(b, c, h, &have_summary) != 0)
      return -1;
  }
  if (h->from == NULL || h->to == NULL || !have_summary) {
    owcp_error_set(b->err,
                   "XML Request line %ld: Header needs From, To and Summary",
                   xmlGetLineNo(n));
    return -1;
  }
  return 0;
}

static size_t count_elements(const xmlNode *parent)
{
  size_t n = 0;
  for (const xmlNode *c = parent->children; c != NULL; c = c->next)
    n += c->type == XML_ELEMENT_NODE;
  return n;
}

static int build_row(struct builder *b, const xmlNode *n,
                     struct owcp_table_row *row)
{
  row->header = is_owcp(n, "TH");
  size_t max = count_elements(n);
  if (max == 0)
    return 0;
  row->cells = calloc(max, sizeof *row->cells);
  if (row->cells == NULL)
    return out_of_memory(b);
  for (const xmlNode *c = n->children; c != NULL; c = c->next) {
    if (c->type != XML_ELEMENT_NODE)
      continue;
    if (!is_owcp(c, "TD"))
      return unexpected(b, c, "a table row");
    if (build_text(b, c, &row->cells[row->cell_count++]) != 0)
      return -1;
  }
  return 0;
}

static int build_table(struct builder *b, const xmlNode *n,
                       struct owcp_table *t)
{
  size_t max = count_elements(n);
  if (max == 0)
    return 0;
  t->rows = calloc(max, sizeof *t->rows);
  if (t->rows == NULL)
    return out_of_memory(b);
  for (const xmlNode *c = n->children; c != NULL; c = c->next) {
    if (c->type != XML_ELEMENT_NODE)
      continue;
    if (!is_owcp(c, "TH") && !is_owcp(c, "TR"))
      return unexpected(b, c, "Table");
    if (build_row(b, c, &t->rows[t->row_count++]) != 0)
      return -1;
  }
  return 0;
}

/* xs:integer as the schema admits it (surrounding whitespace, optional
 * sign, leading zeros); anything outside 1..max is refused. */
static int barcode_dimension(struct builder *b, const xmlNode *n,
                             const char *name, const char *text, size_t *out)
{
  while (is_xml_space(*text))
    text++;
  if (*text == '+')
    text++;
  size_t value = 0;
  bool digits = false;
  while (*text >= '0' && *text <= '9') {
    digits = true;
    value = value * 10 + (size_t)(*text++ - '0');
    if (value > b->limits->max_barcode_dim)
      break;
  }
  while (is_xml_space(*text))
    text++;
  if (!digits || *text != '\0' || value == 0 ||
      value > b->limits->max_barcode_dim) {
    owcp_error_set(b->err,
                   "XML Request line %ld: Barcode attribute '%s' must be an "
                   "integer from 1 to %zu",
                   xmlGetLineNo(n), name, b->limits->max_barcode_dim);
    return -1;
  }
  *out = value;
  return 0;
}

static int build_barcode(struct builder *b, const xmlNode *n,
                         struct owcp_barcode **out)
{
  char *width = NULL, *height = NULL, *data = NULL;
  int rc = -1;
  if (attribute(b, n, "width", &width) != 0 ||
      attribute(b, n, "height", &height) != 0 ||
      attribute(b, n, "data", &data) != 0)
    goto done;
  if (width == NULL || height == NULL || data == NULL) {
    owcp_error_set(b->err,
                   "XML Request line %ld: Barcode needs 'width', 'height' and "
                   "'data'",
                   xmlGetLineNo(n));
    goto done;
  }
  size_t w, h;
  if (barcode_dimension(b, n, "width", width, &w) != 0 ||
      barcode_dimension(b, n, "height", height, &h) != 0)
    goto done;
  struct owcp_error inner = {{0}};
  if (owcp_barcode_from_base64(w, h, data, strlen(data),
                               b->limits->max_barcode_dim, out, &inner) != 0) {
    owcp_error_set(b->err, "XML Request line %ld: %s", xmlGetLineNo(n),
                   inner.msg);
    goto done;
  }
  rc = 0;
done:
  free(width);
  free(height);
  free(data);
  return rc;
}

static int build_body_item(struct builder *b, const xmlNode *c,
                           struct owcp_body_item *item)
{
  if (is_owcp(c, "P")) {
    item->kind = OWCP_BODY_P;
    return build_text(b, c, &item->text);
  }
  if (is_owcp(c, "Table")) {
    item->kind = OWCP_BODY_TABLE;
    return build_table(b, c, &item->table);
  }
  if (is_owcp(c, "Barcode")) {
    item->kind = OWCP_BODY_BARCODE;
    return build_barcode(b, c, &item->barcode);
  }
  return unexpected(b, c, "Body");
}

static int build_body(struct builder *b, const xmlNode *n,
                      struct owcp_request *req)
{
  req->has_body = true;
  size_t max = count_elements(n);
  if (max == 0)
    return 0;
  req->body = calloc(max, sizeof *req->body);
  if (req->body == NULL)
    return out_of_memory(b);
  for (const xmlNode *c = n->children; c != NULL; c = c->next) {
    if (c->type != XML_ELEMENT_NODE)
      continue;
    if (build_body_item(b, c, &req->body[req->body_count++]) != 0)
      return -1;
  }
  return 0;
}

static int build_request(struct builder *b, const xmlNode *root,
                         struct owcp_request *req)
{
  if (!is_owcp(root, "Request"))
    return unexpected(b, root, "the document");
  bool have_header = false;
  for (const xmlNode *c = root->children; c != NULL; c = c->next) {
    if (c->type != XML_ELEMENT_NODE)
      continue;
    int rc;
    if (is_owcp(c, "Header") && !have_header) {
      have_header = true;
      rc = build_header(b, c, &req->header);
    } else if (is_owcp(c, "Body") && have_header && !req->has_body) {
      rc = build_body(b, c, req);
    } else {
      rc = unexpected(b, c, "Request");
    }
    if (rc != 0)
      return -1;
  }
  if (!have_header) {
    owcp_error_set(b->err, "XML Request has no Header");
    return -1;
  }
  return 0;
}

/* ---- The parse pipeline ---- */

static struct owcp_xml_source request_source(const struct owcp_xml_validator *v)
{
  return (struct owcp_xml_source){.what = "XML Request",
                                  .namespace = OWCP_XML_NAMESPACE,
                                  .max_bytes = v->limits.max_bytes,
                                  .max_depth = v->limits.max_depth};
}

static enum owcp_xml_result build(const struct owcp_xml_validator *v,
                                  xmlDocPtr doc, struct owcp_request **out,
                                  struct owcp_error *err)
{
  struct owcp_request *req = calloc(1, sizeof *req);
  if (req == NULL) {
    owcp_error_set(err, "out of memory building the XML Request");
    return OWCP_XML_INTERNAL;
  }
  struct builder b = {.limits = &v->limits, .err = err, .nomem = false};
  if (build_request(&b, xmlDocGetRootElement(doc), req) != 0) {
    owcp_request_free(req);
    return b.nomem ? OWCP_XML_INTERNAL : OWCP_XML_INVALID;
  }
  *out = req;
  return OWCP_XML_OK;
}

/* Reads, optionally validates against the schema, and builds. */
static enum owcp_xml_result parse(const struct owcp_xml_validator *v,
                                  const char *xml, size_t len, bool validate,
                                  struct owcp_request **out,
                                  struct owcp_error *err)
{
  *out = NULL;
  struct owcp_xml_source src = request_source(v);
  xmlDocPtr doc = NULL;
  enum owcp_xml_result rc = owcp_xml_read(&src, xml, len, &doc, err);
  if (rc != OWCP_XML_OK)
    return rc;
  if (validate)
    rc = owcp_xml_validate(&src, v->schema, "OWCP", doc, err);
  if (rc == OWCP_XML_OK)
    rc = build(v, doc, out, err);
  xmlFreeDoc(doc);
  return rc;
}

enum owcp_xml_result owcp_request_parse(const struct owcp_xml_validator *v,
                                        const char *xml, size_t len,
                                        struct owcp_request **out,
                                        struct owcp_error *err)
{
  return parse(v, xml, len, true, out, err);
}

enum owcp_xml_result
owcp_request_parse_stored(const struct owcp_xml_validator *v, const char *xml,
                          size_t len, struct owcp_request **out,
                          struct owcp_error *err)
{
  return parse(v, xml, len, false, out, err);
}
