/*
 * request_write.c — implementation of owcp/request_write.h: turns a struct
 * owcp_request into the XML <Request> document. Every byte of caller text
 * goes through libxml2's xmlTextWriter, which escapes it; this file only
 * checks what the writer cannot (control characters, UTF-8, Money syntax,
 * barcode size) so that the caller is told which field is wrong instead of
 * getting a schema error about the serialised document.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/encoding.h>
#include <libxml/xmlstring.h>
#include <libxml/xmlwriter.h>

#include "owcp/barcode.h"
#include "owcp/jsonspec.h"
#include "owcp/request.h"
#include "owcp/request_write.h"
#include "owcp/util.h"

/* Deeper B/I/U nesting than the validator's default depth can never be
 * valid; refusing it here also bounds this file's recursion. */
#define BUILD_MAX_NESTING 28
#define FIELD_MAX 96

/* Formats the name of a nested field for error sentences ("Body item 2
 * (Table) row 1 cell 3 span 2"). A very deep path is cut short, which only
 * shortens a message. */
static void field_path(char *dst, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void field_path(char *dst, size_t size, const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  (void)vsnprintf(dst, size, fmt, ap);
  va_end(ap);
}

/* Non-NULL, valid UTF-8, no C0 control but tab, LF and CR (XML 1.0 cannot
 * carry them at all, not even as character references). */
static int check_text(const char *s, const char *field, bool allow_empty,
                      struct owcp_error *err)
{
  if (s == NULL || (!allow_empty && s[0] == '\0')) {
    owcp_error_set(err, "%s is missing or empty", field);
    return -1;
  }
  if (!xmlCheckUTF8((const xmlChar *)s)) {
    owcp_error_set(err, "%s is not valid UTF-8", field);
    return -1;
  }
  for (size_t i = 0; s[i] != '\0'; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
      owcp_error_set(err,
                     "%s holds control character U+%04X at offset %zu, "
                     "which XML cannot carry",
                     field, c, i);
      return -1;
    }
  }
  return 0;
}

/* xs:decimal: optional sign, digits with an optional fraction, at least
 * one digit in all; no exponent, no spaces. */
static bool is_decimal(const char *s)
{
  size_t digits = 0;

  if (*s == '+' || *s == '-')
    s++;
  while (*s >= '0' && *s <= '9') {
    s++;
    digits++;
  }
  if (*s == '.') {
    s++;
    while (*s >= '0' && *s <= '9') {
      s++;
      digits++;
    }
  }
  return *s == '\0' && digits > 0;
}

static bool is_currency(const char *s)
{
  for (int i = 0; i < 3; i++) {
    char c = s[i];
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')))
      return false;
  }
  return s[3] == '\0';
}

static int check_account(const char *s, const char *field,
                         struct owcp_error *err)
{
  struct owcp_error why = {{0}};
  char *norm = NULL;

  if (check_text(s, field, false, err) != 0)
    return -1;
  if (owcp_account_normalize(s, strlen(s), &norm, &why) != 0) {
    owcp_error_set(err, "%s '%s' is not an account: %s", field, s, why.msg);
    return -1;
  }
  free(norm);
  return 0;
}

/* Writer calls return -1 on failure; this turns that into one sentence. */
static int wr(int rc, struct owcp_error *err)
{
  if (rc < 0) {
    owcp_error_set(err, "the XML writer failed (out of memory?)");
    return -1;
  }
  return 0;
}

static int write_text(xmlTextWriterPtr w, const struct owcp_text *t,
                      const char *field, int depth, struct owcp_error *err);

static int write_span(xmlTextWriterPtr w, const struct owcp_span *sp,
                      const char *field, int depth, struct owcp_error *err)
{
  static const char *const names[] = {
      [OWCP_SPAN_BOLD] = "B",
      [OWCP_SPAN_ITALIC] = "I",
      [OWCP_SPAN_UNDERLINE] = "U",
  };
  char sub[FIELD_MAX * 2];

  switch (sp->kind) {
  case OWCP_SPAN_TEXT:
    if (check_text(sp->text, field, true, err) != 0)
      return -1;
    return wr(xmlTextWriterWriteString(w, (const xmlChar *)sp->text), err);
  case OWCP_SPAN_MONEY:
    if (sp->currency == NULL || !is_currency(sp->currency)) {
      owcp_error_set(err,
                     "%s: Money currency must be three ASCII letters "
                     "(ISO 4217, e.g. usd)",
                     field);
      return -1;
    }
    if (sp->amount == NULL || !is_decimal(sp->amount)) {
      owcp_error_set(err,
                     "%s: Money amount must be a decimal number such as "
                     "9825.00",
                     field);
      return -1;
    }
    if (wr(xmlTextWriterStartElement(w, BAD_CAST "Money"), err) != 0 ||
        wr(xmlTextWriterWriteAttribute(w, BAD_CAST "currency",
                                       (const xmlChar *)sp->currency),
           err) != 0 ||
        wr(xmlTextWriterWriteAttribute(w, BAD_CAST "amount",
                                       (const xmlChar *)sp->amount),
           err) != 0)
      return -1;
    return wr(xmlTextWriterEndElement(w), err);
  case OWCP_SPAN_BOLD:
  case OWCP_SPAN_ITALIC:
  case OWCP_SPAN_UNDERLINE:
    if (depth >= BUILD_MAX_NESTING) {
      owcp_error_set(err, "%s: B/I/U nested deeper than %d levels", field,
                     BUILD_MAX_NESTING);
      return -1;
    }
    field_path(sub, sizeof sub, "%s <%s>", field, names[sp->kind]);
    if (wr(xmlTextWriterStartElement(w, (const xmlChar *)names[sp->kind]),
           err) != 0 ||
        write_text(w, &sp->children, sub, depth + 1, err) != 0)
      return -1;
    return wr(xmlTextWriterEndElement(w), err);
  }
  owcp_error_set(err, "%s: unknown span kind %d", field, (int)sp->kind);
  return -1;
}

static int write_text(xmlTextWriterPtr w, const struct owcp_text *t,
                      const char *field, int depth, struct owcp_error *err)
{
  char sub[FIELD_MAX * 2];

  if (t->count > 0 && t->spans == NULL) {
    owcp_error_set(err, "%s has %zu spans but no span array", field, t->count);
    return -1;
  }
  for (size_t i = 0; i < t->count; i++) {
    field_path(sub, sizeof sub, "%s span %zu", field, i + 1);
    if (write_span(w, &t->spans[i], sub, depth, err) != 0)
      return -1;
  }
  return 0;
}

/* <name>text</name> for a plain string element. */
static int write_plain(xmlTextWriterPtr w, const char *name, const char *text,
                       const char *field, struct owcp_error *err)
{
  if (check_text(text, field, false, err) != 0)
    return -1;
  return wr(xmlTextWriterWriteElement(w, (const xmlChar *)name,
                                      (const xmlChar *)text),
            err);
}

static int write_header(xmlTextWriterPtr w, const struct owcp_request_header *h,
                        const char *identifier, const char *issued,
                        struct owcp_error *err)
{
  char field[FIELD_MAX];

  if (check_text(identifier, "Header identifier", false, err) != 0 ||
      check_text(issued, "Header issued", false, err) != 0 ||
      (h->type != NULL &&
       check_text(h->type, "Header type", false, err) != 0) ||
      check_account(h->from, "From", err) != 0 ||
      check_account(h->to, "To", err) != 0)
    return -1;
  if (wr(xmlTextWriterStartElement(w, BAD_CAST "Header"), err) != 0 ||
      wr(xmlTextWriterWriteAttribute(w, BAD_CAST "issued",
                                     (const xmlChar *)issued),
         err) != 0 ||
      wr(xmlTextWriterWriteAttribute(w, BAD_CAST "identifier",
                                     (const xmlChar *)identifier),
         err) != 0)
    return -1;
  if (h->type != NULL && wr(xmlTextWriterWriteAttribute(
                                w, BAD_CAST "type", (const xmlChar *)h->type),
                            err) != 0)
    return -1;
  if (write_plain(w, "From", h->from, "From", err) != 0 ||
      write_plain(w, "To", h->to, "To", err) != 0)
    return -1;
  for (size_t i = 0; i < h->verification_count; i++) {
    snprintf(field, sizeof field, "Verification %zu", i + 1);
    if (write_plain(w, "Verification", h->verification[i], field, err) != 0)
      return -1;
  }
  if (h->summary.count == 0) {
    owcp_error_set(err, "Summary is empty: say what the user confirms");
    return -1;
  }
  if (wr(xmlTextWriterStartElement(w, BAD_CAST "Summary"), err) != 0 ||
      write_text(w, &h->summary, "Summary", 0, err) != 0 ||
      wr(xmlTextWriterEndElement(w), err) != 0)
    return -1;
  for (size_t i = 0; i < h->reference_count; i++) {
    snprintf(field, sizeof field, "Reference %zu", i + 1);
    if (write_plain(w, "Reference", h->references[i], field, err) != 0)
      return -1;
  }
  return wr(xmlTextWriterEndElement(w), err);
}

static int write_table(xmlTextWriterPtr w, const struct owcp_table *t,
                       const char *field, struct owcp_error *err)
{
  char sub[FIELD_MAX];

  if (wr(xmlTextWriterStartElement(w, BAD_CAST "Table"), err) != 0)
    return -1;
  for (size_t r = 0; r < t->row_count; r++) {
    const struct owcp_table_row *row = &t->rows[r];
    if (wr(xmlTextWriterStartElement(w, BAD_CAST(row->header ? "TH" : "TR")),
           err) != 0)
      return -1;
    for (size_t c = 0; c < row->cell_count; c++) {
      field_path(sub, sizeof sub, "%s row %zu cell %zu", field, r + 1, c + 1);
      if (wr(xmlTextWriterStartElement(w, BAD_CAST "TD"), err) != 0 ||
          write_text(w, &row->cells[c], sub, 0, err) != 0 ||
          wr(xmlTextWriterEndElement(w), err) != 0)
        return -1;
    }
    if (wr(xmlTextWriterEndElement(w), err) != 0)
      return -1;
  }
  return wr(xmlTextWriterEndElement(w), err);
}

static int write_barcode(xmlTextWriterPtr w, const struct owcp_barcode *b,
                         const char *field, struct owcp_error *err)
{
  char num[32];
  char *data;
  int rc;

  if (b == NULL || b->bits == NULL ||
      b->bits_len != owcp_barcode_expected_len(b->width, b->height)) {
    owcp_error_set(err,
                   "%s: a barcode of %zu x %zu pixels needs exactly %zu "
                   "octets of data",
                   field, b ? b->width : 0, b ? b->height : 0,
                   b ? owcp_barcode_expected_len(b->width, b->height) : 0);
    return -1;
  }
  data = owcp_base64_encode(b->bits, b->bits_len);
  if (data == NULL) {
    owcp_error_set(err, "%s: out of memory", field);
    return -1;
  }
  rc = wr(xmlTextWriterStartElement(w, BAD_CAST "Barcode"), err);
  snprintf(num, sizeof num, "%zu", b->width);
  if (rc == 0)
    rc =
        wr(xmlTextWriterWriteAttribute(w, BAD_CAST "width", BAD_CAST num), err);
  snprintf(num, sizeof num, "%zu", b->height);
  if (rc == 0)
    rc = wr(xmlTextWriterWriteAttribute(w, BAD_CAST "height", BAD_CAST num),
            err);
  if (rc == 0)
    rc =
        wr(xmlTextWriterWriteAttribute(w, BAD_CAST "data", BAD_CAST data), err);
  if (rc == 0)
    rc = wr(xmlTextWriterEndElement(w), err);
  free(data);
  return rc;
}

static int write_body(xmlTextWriterPtr w, const struct owcp_request *req,
                      struct owcp_error *err)
{
  char field[FIELD_MAX];

  if (!req->has_body && req->body_count == 0)
    return 0;
  if (wr(xmlTextWriterStartElement(w, BAD_CAST "Body"), err) != 0)
    return -1;
  for (size_t i = 0; i < req->body_count; i++) {
    const struct owcp_body_item *it = &req->body[i];
    int rc;
    switch (it->kind) {
    case OWCP_BODY_P:
      snprintf(field, sizeof field, "Body item %zu (P)", i + 1);
      rc = wr(xmlTextWriterStartElement(w, BAD_CAST "P"), err);
      if (rc == 0)
        rc = write_text(w, &it->text, field, 0, err);
      if (rc == 0)
        rc = wr(xmlTextWriterEndElement(w), err);
      break;
    case OWCP_BODY_TABLE:
      snprintf(field, sizeof field, "Body item %zu (Table)", i + 1);
      rc = write_table(w, &it->table, field, err);
      break;
    case OWCP_BODY_BARCODE:
      snprintf(field, sizeof field, "Body item %zu (Barcode)", i + 1);
      rc = write_barcode(w, it->barcode, field, err);
      break;
    default:
      owcp_error_set(err, "Body item %zu has unknown kind %d", i + 1,
                     (int)it->kind);
      rc = -1;
    }
    if (rc != 0)
      return -1;
  }
  return wr(xmlTextWriterEndElement(w), err);
}

/* Serialises without validating; *out is a copy the caller frees. */
static int serialise(const struct owcp_request *req, const char *identifier,
                     const char *issued, char **out, size_t *out_len,
                     struct owcp_error *err)
{
  xmlBufferPtr buf = xmlBufferCreate();
  xmlTextWriterPtr w = buf ? xmlNewTextWriterMemory(buf, 0) : NULL;
  int rc = -1;

  if (w == NULL) {
    owcp_error_set(err, "out of memory creating the XML writer");
    goto done;
  }
  if (wr(xmlTextWriterStartDocument(w, "1.0", "UTF-8", NULL), err) != 0 ||
      wr(xmlTextWriterStartElementNS(w, NULL, BAD_CAST "Request",
                                     BAD_CAST OWCP_XML_NAMESPACE),
         err) != 0 ||
      write_header(w, &req->header, identifier, issued, err) != 0 ||
      write_body(w, req, err) != 0 || wr(xmlTextWriterEndDocument(w), err) != 0)
    goto done;
  xmlFreeTextWriter(w); /* flushes into buf */
  w = NULL;
  {
    size_t n = (size_t)xmlBufferLength(buf);
    char *copy = malloc(n + 1);
    if (copy == NULL) {
      owcp_error_set(err, "out of memory copying the XML");
      goto done;
    }
    memcpy(copy, xmlBufferContent(buf), n);
    copy[n] = '\0';
    *out = copy;
    *out_len = n;
  }
  rc = 0;
done:
  if (w != NULL)
    xmlFreeTextWriter(w);
  if (buf != NULL)
    xmlBufferFree(buf);
  return rc;
}

int owcp_request_write(const struct owcp_request *req, char **xml, size_t *len,
                       struct owcp_error *err)
{
  char *random_id = NULL, *out = NULL;
  char identifier_buf[64];
  char issued[OWCP_TIME_LEN];
  const char *identifier = NULL;
  size_t out_len = 0;
  int rc = -1;

  if (req == NULL || xml == NULL || len == NULL) {
    owcp_error_set(err, "owcp_request_write: NULL argument");
    return -1;
  }
  *xml = NULL;
  *len = 0;
  identifier = req->header.identifier;
  if (identifier == NULL) {
    random_id = owcp_random_id();
    if (random_id == NULL) {
      owcp_error_set(err, "cannot generate a random identifier");
      return -1;
    }
    snprintf(identifier_buf, sizeof identifier_buf, "urn:owcp:%s", random_id);
    identifier = identifier_buf;
  }
  if (req->header.issued != NULL)
    snprintf(issued, sizeof issued, "%s", req->header.issued);
  else
    owcp_time_format(time(NULL), issued);
  if (req->header.issued != NULL &&
      strlen(req->header.issued) >= sizeof issued) {
    owcp_error_set(err, "Header issued must be an RFC 3339 time such as "
                        "2026-11-22T10:00:00Z");
    goto done;
  }
  if (serialise(req, identifier, issued, &out, &out_len, err) != 0)
    goto done;
  *xml = out;
  *len = out_len;
  out = NULL;
  rc = 0;
done:
  free(out);
  free(random_id);
  return rc;
}

int owcp_request_write_simple(const char *from, const char *to,
                              const char *type, const char *identifier,
                              const char *summary, const char *currency,
                              const char *amount, bool pin, char **xml,
                              size_t *len, struct owcp_error *err)
{
  struct owcp_span spans[2];
  char *methods[1] = {"PIN"};
  struct owcp_request req;

  memset(&req, 0, sizeof req);
  memset(spans, 0, sizeof spans);
  spans[0].kind = OWCP_SPAN_TEXT;
  spans[0].text = (char *)summary;
  req.header.summary.spans = spans;
  req.header.summary.count = 1;
  if (summary == NULL || summary[0] == '\0') {
    owcp_error_set(err, "Summary is empty: say what the user confirms");
    return -1;
  }
  if (currency != NULL || amount != NULL) {
    spans[1].kind = OWCP_SPAN_MONEY;
    spans[1].currency = (char *)currency;
    spans[1].amount = (char *)amount;
    req.header.summary.count = 2;
  }
  req.header.from = (char *)from;
  req.header.to = (char *)to;
  req.header.type = (char *)type;
  req.header.identifier = (char *)identifier;
  if (pin) {
    req.header.verification = methods;
    req.header.verification_count = 1;
  }
  return owcp_request_write(&req, xml, len, err);
}
