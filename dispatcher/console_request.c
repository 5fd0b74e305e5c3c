/*
 * console_request.c — an XML Request shown as HTML with the structure the
 * terminal client gives it (owcp/render.h): From, To, Type, the Summary,
 * then each body item — paragraphs, tables with their header rows, Money
 * as the client formats it, <B>/<I>/<U> as emphasis, a barcode as inline
 * SVG (markup, not a fetched image: nothing for the CSP to allow). Every
 * text goes through html_text: control and bidi characters stay visible
 * as "[U+202E]" for the auditor rather than the client's U+FFFD.
 */
#include "console_request.h"

#include "owcp/render.h"

#include <stdlib.h>

static void text_html(struct html *h, const struct owcp_text *t);

static void span_html(struct html *h, const struct owcp_span *s)
{
  static const char *const open[] = {"", "", "<b>", "<i>", "<u>"};
  static const char *const close[] = {"", "", "</b>", "</i>", "</u>"};
  struct owcp_error err = {{0}};
  char *money;

  switch (s->kind) {
  case OWCP_SPAN_TEXT:
    html_text(h, s->text);
    break;
  case OWCP_SPAN_MONEY:
    money = owcp_render_money(s->currency, s->amount, &err);
    html_raw(h, "<span class=\"money\">");
    html_text(h, money != NULL ? money : err.msg);
    html_raw(h, "</span>");
    free(money);
    break;
  default:
    html_raw(h, open[s->kind]);
    text_html(h, &s->children);
    html_raw(h, close[s->kind]);
  }
}

static void text_html(struct html *h, const struct owcp_text *t)
{
  for (size_t i = 0; i < t->count; i++)
    span_html(h, &t->spans[i]);
}

static void table_html(struct html *h, const struct owcp_table *t)
{
  html_raw(h, "<table class=\"body\">");
  for (size_t r = 0; r < t->row_count; r++) {
    const struct owcp_table_row *row = &t->rows[r];

    html_raw(h, "<tr>");
    for (size_t c = 0; c < row->cell_count; c++) {
      html_raw(h, row->header ? "<th>" : "<td>");
      text_html(h, &row->cells[c]);
      html_raw(h, row->header ? "</th>" : "</td>");
    }
    html_raw(h, "</tr>");
  }
  html_raw(h, "</table>");
}

/* One black module per 1×1 rectangle of a single path, inside a white
 * quiet zone; scaled up by the viewBox. */
static void barcode_html(struct html *h, const struct owcp_barcode *b)
{
  long long q = OWCP_BARCODE_QUIET;
  long long w = (long long)b->width + 2 * q, hh = (long long)b->height + 2 * q;

  html_raw(h, "<svg class=\"barcode\" xmlns=\"http://www.w3.org/2000/svg\" "
              "role=\"img\" aria-label=\"barcode\" width=\"");
  html_int(h, w * 4);
  html_raw(h, "\" height=\"");
  html_int(h, hh * 4);
  html_raw(h, "\" viewBox=\"0 0 ");
  html_int(h, w);
  html_raw(h, " ");
  html_int(h, hh);
  html_raw(h, "\" shape-rendering=\"crispEdges\"><rect width=\"100%\" "
              "height=\"100%\" fill=\"#fff\"/><path fill=\"#000\" d=\"");
  for (size_t y = 0; y < b->height; y++)
    for (size_t x = 0; x < b->width; x++)
      if (owcp_barcode_pixel(b, x, y)) {
        html_raw(h, "M");
        html_int(h, (long long)x + q);
        html_raw(h, " ");
        html_int(h, (long long)y + q);
        html_raw(h, "h1v1h-1z");
      }
  html_raw(h, "\"/></svg>");
}

static void field(struct html *h, const char *name, const char *value)
{
  html_raw(h, "<tr><th>");
  html_raw(h, name);
  html_raw(h, "</th><td>");
  html_text(h, value);
  html_raw(h, "</td></tr>");
}

void console_request_html(struct html *h, const struct owcp_request *req)
{
  html_raw(h, "<div class=\"request\" id=\"rendered\"><table>");
  field(h, "From", req->header.from);
  field(h, "To", req->header.to);
  if (req->header.type != NULL)
    field(h, "Type", req->header.type);
  html_raw(h, "<tr><th>Summary</th><td id=\"summary\">");
  text_html(h, &req->header.summary);
  html_raw(h, "</td></tr></table>");
  for (size_t i = 0; i < req->body_count; i++) {
    const struct owcp_body_item *it = &req->body[i];

    if (it->kind == OWCP_BODY_P) {
      html_raw(h, "<p>");
      text_html(h, &it->text);
      html_raw(h, "</p>");
    } else if (it->kind == OWCP_BODY_TABLE) {
      table_html(h, &it->table);
    } else if (it->barcode != NULL) {
      barcode_html(h, it->barcode);
    }
  }
  html_raw(h, "</div>\n");
}
