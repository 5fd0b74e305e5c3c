/* Terminal rendering of an OWCP XML Request; the rules are in
 * owcp/render.h. */
#include "owcp/render.h"

#include <limits.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/tree.h>
#include <libxml/xmlstring.h>

/* Output accumulator: a libxml2 buffer plus a sticky failure flag, so that
 * every append is checked without an if after each call; the flag is
 * inspected once when the string is handed out. */
struct out {
  xmlBufferPtr buf;
  bool failed;
};

static bool out_init(struct out *o)
{
  o->buf = xmlBufferCreate();
  o->failed = o->buf == NULL;
  return !o->failed;
}

static void out_put(struct out *o, const char *s, size_t len)
{
  if (o->failed || len == 0)
    return;
  if (len > INT_MAX || xmlBufferAdd(o->buf, BAD_CAST s, (int)len) != 0)
    o->failed = true;
}

static void out_str(struct out *o, const char *s)
{
  out_put(o, s, strlen(s));
}

static void out_repeat(struct out *o, char c, size_t n)
{
  for (size_t i = 0; i < n; i++)
    out_put(o, &c, 1);
}

/* Hands out a malloc'd copy of the accumulated text and releases the
 * buffer; NULL with err set when any append failed. */
static char *out_finish(struct out *o, struct owcp_error *err)
{
  char *s = NULL;
  if (!o->failed) {
    const xmlChar *content = xmlBufferContent(o->buf);
    s = strdup(content != NULL ? (const char *)content : "");
  }
  xmlBufferFree(o->buf);
  o->buf = NULL;
  if (s == NULL)
    owcp_error_set(err, "out of memory rendering the XML Request");
  return s;
}

/* ---- One line of display text ---- */

enum style { STYLE_BOLD, STYLE_ITALIC, STYLE_UNDERLINE, STYLE_COUNT };

static const char *const ansi_on[STYLE_COUNT] = {"\x1b[1m", "\x1b[3m",
                                                 "\x1b[4m"};
static const char *const ansi_off[STYLE_COUNT] = {"\x1b[22m", "\x1b[23m",
                                                  "\x1b[24m"};
static const char *const plain_mark[STYLE_COUNT] = {"*", "/", "_"};

/* Emission state for one line. Whitespace and opening marks are held back
 * until visible content follows, which is what collapses whitespace across
 * spans, trims the ends and keeps marks hugging their text. At most one
 * opening mark per style can be pending, so three slots suffice. */
struct line {
  struct out *o;
  enum owcp_render_mode mode;
  bool emitted;       /* visible content written */
  bool pending_space; /* whitespace seen since the last visible content */
  size_t width;       /* code points written, marks excluded */
  size_t depth[STYLE_COUNT];
  enum style pending[STYLE_COUNT];
  size_t npending;
  struct owcp_error *err;
  bool failed;
};

static void line_open_mark(struct line *l, enum style s)
{
  out_str(l->o, l->mode == OWCP_RENDER_ANSI ? ansi_on[s] : plain_mark[s]);
}

static void line_close_mark(struct line *l, enum style s)
{
  out_str(l->o, l->mode == OWCP_RENDER_ANSI ? ansi_off[s] : plain_mark[s]);
}

static void line_visible(struct line *l, const char *bytes, size_t len)
{
  if (l->pending_space && l->emitted) {
    out_put(l->o, " ", 1);
    l->width++;
  }
  l->pending_space = false;
  for (size_t i = 0; i < l->npending; i++)
    line_open_mark(l, l->pending[i]);
  l->npending = 0;
  out_put(l->o, bytes, len);
  l->width++;
  l->emitted = true;
}

/* Code points that could move the cursor, start an escape sequence, break
 * the line or reorder what the user reads. */
static bool is_dangerous(int cp)
{
  return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x061c ||
         cp == 0x200e || cp == 0x200f || cp == 0x2028 || cp == 0x2029 ||
         (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

static bool is_xml_space(int cp)
{
  return cp == ' ' || cp == '\t' || cp == '\r' || cp == '\n';
}

static const char replacement[] = "\xef\xbf\xbd"; /* U+FFFD */

static void line_text(struct line *l, const char *s)
{
  size_t len = strlen(s);
  size_t i = 0;
  while (i < len) {
    int avail = len - i > 4 ? 4 : (int)(len - i);
    int cp = xmlGetUTF8Char((const unsigned char *)s + i, &avail);
    if (cp < 0 || avail <= 0) {
      line_visible(l, replacement, sizeof replacement - 1);
      i++;
    } else if (is_xml_space(cp)) {
      l->pending_space = true;
      i += (size_t)avail;
    } else if (is_dangerous(cp)) {
      line_visible(l, replacement, sizeof replacement - 1);
      i += (size_t)avail;
    } else {
      line_visible(l, s + i, (size_t)avail);
      i += (size_t)avail;
    }
  }
}

static void line_spans(struct line *l, const struct owcp_text *t);

static void line_emphasis(struct line *l, enum style s,
                          const struct owcp_text *children)
{
  if (l->depth[s]++ == 0)
    l->pending[l->npending++] = s;
  line_spans(l, children);
  if (--l->depth[s] != 0)
    return;
  /* Only this span's own mark can be the last pending one for style s. */
  if (l->npending > 0 && l->pending[l->npending - 1] == s)
    l->npending--;
  else
    line_close_mark(l, s);
}

static void line_money(struct line *l, const struct owcp_span *span)
{
  char *money = owcp_render_money(span->currency, span->amount, l->err);
  if (money == NULL) {
    l->failed = true;
    return;
  }
  line_text(l, money);
  free(money);
}

static void line_spans(struct line *l, const struct owcp_text *t)
{
  for (size_t i = 0; i < t->count && !l->failed; i++) {
    const struct owcp_span *span = &t->spans[i];
    switch (span->kind) {
    case OWCP_SPAN_TEXT:
      line_text(l, span->text != NULL ? span->text : "");
      break;
    case OWCP_SPAN_MONEY:
      line_money(l, span);
      break;
    case OWCP_SPAN_BOLD:
      line_emphasis(l, STYLE_BOLD, &span->children);
      break;
    case OWCP_SPAN_ITALIC:
      line_emphasis(l, STYLE_ITALIC, &span->children);
      break;
    case OWCP_SPAN_UNDERLINE:
      line_emphasis(l, STYLE_UNDERLINE, &span->children);
      break;
    }
  }
}

static void line_init(struct line *l, struct out *o, enum owcp_render_mode mode,
                      struct owcp_error *err)
{
  memset(l, 0, sizeof *l);
  l->o = o;
  l->mode = mode;
  l->err = err;
}

/* ---- Money ---- */

struct decimal {
  bool negative;
  const char *int_digits;
  size_t int_len;
  const char *frac_digits;
  size_t frac_len;
};

static bool all_zero(const char *s, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (s[i] != '0')
      return false;
  return true;
}

static size_t count_digits(const char *s)
{
  size_t n = 0;
  while (s[n] >= '0' && s[n] <= '9')
    n++;
  return n;
}

/* Splits an xs:decimal, (+|-)?([0-9]+(.[0-9]*)?|.[0-9]+) with optional
 * surrounding whitespace, into its parts without converting it. */
static int split_decimal(const char *s, struct decimal *d)
{
  memset(d, 0, sizeof *d);
  while (is_xml_space((unsigned char)*s))
    s++;
  if (*s == '+' || *s == '-')
    d->negative = *s++ == '-';
  d->int_digits = s;
  d->int_len = count_digits(s);
  s += d->int_len;
  if (*s == '.') {
    s++;
    d->frac_digits = s;
    d->frac_len = count_digits(s);
    s += d->frac_len;
  }
  while (is_xml_space((unsigned char)*s))
    s++;
  if (*s != '\0' || d->int_len + d->frac_len == 0)
    return -1;
  while (d->int_len > 0 && *d->int_digits == '0') {
    d->int_digits++;
    d->int_len--;
  }
  if (all_zero(d->frac_digits, d->frac_len) && d->int_len == 0)
    d->negative = false;
  return 0;
}

static void put_grouped(struct out *o, const char *digits, size_t n)
{
  if (n == 0) {
    out_put(o, "0", 1);
    return;
  }
  for (size_t i = 0; i < n; i++) {
    if (i > 0 && (n - i) % 3 == 0)
      out_put(o, ",", 1);
    out_put(o, digits + i, 1);
  }
}

char *owcp_render_money(const char *currency, const char *amount,
                        struct owcp_error *err)
{
  struct decimal d;
  if (currency == NULL || amount == NULL || split_decimal(amount, &d) != 0) {
    owcp_error_set(err, "Money amount is not a decimal number");
    return NULL;
  }
  struct out raw;
  if (!out_init(&raw)) {
    owcp_error_set(err, "out of memory rendering Money");
    return NULL;
  }
  for (const char *c = currency; *c != '\0'; c++) {
    char up = (char)((*c >= 'a' && *c <= 'z') ? *c - 'a' + 'A' : *c);
    out_put(&raw, &up, 1);
  }
  out_put(&raw, " ", 1);
  if (d.negative)
    out_put(&raw, "-", 1);
  put_grouped(&raw, d.int_digits, d.int_len);
  if (d.frac_len > 0) {
    out_put(&raw, ".", 1);
    out_put(&raw, d.frac_digits, d.frac_len);
  }
  char *unsafe = out_finish(&raw, err);
  if (unsafe == NULL)
    return NULL;
  /* The currency is the requestor's text: pass it through the same
   * neutralisation as everything else. */
  char *safe = owcp_render_string(unsafe, NULL, err);
  free(unsafe);
  return safe;
}

/* ---- Text and strings ---- */

char *owcp_render_text(const struct owcp_text *text, enum owcp_render_mode mode,
                       size_t *width, struct owcp_error *err)
{
  struct out o;
  if (!out_init(&o)) {
    owcp_error_set(err, "out of memory rendering text");
    return NULL;
  }
  struct line l;
  line_init(&l, &o, mode, err);
  line_spans(&l, text);
  if (l.failed) {
    xmlBufferFree(o.buf);
    return NULL;
  }
  if (width != NULL)
    *width = l.width;
  return out_finish(&o, err);
}

char *owcp_render_string(const char *s, size_t *width, struct owcp_error *err)
{
  struct owcp_span span = {.kind = OWCP_SPAN_TEXT, .text = (char *)s};
  struct owcp_text text = {.count = 1, .spans = &span};
  return owcp_render_text(&text, OWCP_RENDER_PLAIN, width, err);
}

/* ---- Tables ---- */

struct cell {
  char *text;
  size_t width;
};

struct grid {
  size_t rows, cols;
  struct cell *cells; /* rows * cols, row-major; missing cells are "" */
  size_t *col_width;
};

static void grid_free(struct grid *g)
{
  if (g->cells != NULL)
    for (size_t i = 0; i < g->rows * g->cols; i++)
      free(g->cells[i].text);
  free(g->cells);
  free(g->col_width);
}

static int grid_fill(struct grid *g, const struct owcp_table *t,
                     enum owcp_render_mode mode, struct owcp_error *err)
{
  for (size_t r = 0; r < t->row_count; r++) {
    const struct owcp_table_row *row = &t->rows[r];
    for (size_t c = 0; c < row->cell_count; c++) {
      struct cell *cell = &g->cells[r * g->cols + c];
      cell->text = owcp_render_text(&row->cells[c], mode, &cell->width, err);
      if (cell->text == NULL)
        return -1;
      if (cell->width > g->col_width[c])
        g->col_width[c] = cell->width;
    }
  }
  return 0;
}

static int grid_build(struct grid *g, const struct owcp_table *t,
                      enum owcp_render_mode mode, struct owcp_error *err)
{
  memset(g, 0, sizeof *g);
  g->rows = t->row_count;
  for (size_t r = 0; r < t->row_count; r++)
    if (t->rows[r].cell_count > g->cols)
      g->cols = t->rows[r].cell_count;
  if (g->rows == 0 || g->cols == 0)
    return 0;
  g->cells = calloc(g->rows * g->cols, sizeof *g->cells);
  g->col_width = calloc(g->cols, sizeof *g->col_width);
  if (g->cells == NULL || g->col_width == NULL) {
    owcp_error_set(err, "out of memory rendering a table");
    return -1;
  }
  return grid_fill(g, t, mode, err);
}

/* Cells after the last non-empty one are left out so that no line ends in
 * padding or a dangling separator. */
static void grid_line(struct out *o, const struct grid *g, size_t r)
{
  size_t used = 0;
  for (size_t c = 0; c < g->cols; c++)
    if (g->cells[r * g->cols + c].width > 0)
      used = c + 1;
  for (size_t c = 0; c < used; c++) {
    const struct cell *cell = &g->cells[r * g->cols + c];
    if (c > 0)
      out_str(o, " | ");
    out_str(o, cell->text != NULL ? cell->text : "");
    if (c + 1 < used)
      out_repeat(o, ' ', g->col_width[c] - cell->width);
  }
  out_put(o, "\n", 1);
}

static void grid_rule(struct out *o, const struct grid *g)
{
  for (size_t c = 0; c < g->cols; c++) {
    if (c > 0)
      out_str(o, "-+-");
    out_repeat(o, '-', g->col_width[c]);
  }
  out_put(o, "\n", 1);
}

char *owcp_render_table(const struct owcp_table *table,
                        enum owcp_render_mode mode, struct owcp_error *err)
{
  struct grid g;
  if (grid_build(&g, table, mode, err) != 0) {
    grid_free(&g);
    return NULL;
  }
  struct out o;
  if (!out_init(&o)) {
    grid_free(&g);
    owcp_error_set(err, "out of memory rendering a table");
    return NULL;
  }
  for (size_t r = 0; r < g.rows && g.cols > 0; r++) {
    grid_line(&o, &g, r);
    if (table->rows[r].header && r + 1 < g.rows && !table->rows[r + 1].header)
      grid_rule(&o, &g);
  }
  grid_free(&g);
  return out_finish(&o, err);
}

/* ---- The whole request ---- */

/* Appends a rendered piece (taking ownership); a NULL piece fails the
 * output, its error sentence already set. */
static void out_take(struct out *o, char *piece)
{
  if (piece == NULL) {
    o->failed = true;
    return;
  }
  out_str(o, piece);
  free(piece);
}

static void render_labelled(struct out *o, const char *label, const char *s,
                            struct owcp_error *err)
{
  out_str(o, label);
  out_take(o, owcp_render_string(s, NULL, err));
  out_put(o, "\n", 1);
}

static void render_item(struct out *o, const struct owcp_body_item *item,
                        enum owcp_render_mode mode, struct owcp_error *err)
{
  switch (item->kind) {
  case OWCP_BODY_P:
    out_take(o, owcp_render_text(&item->text, mode, NULL, err));
    out_put(o, "\n", 1);
    break;
  case OWCP_BODY_TABLE:
    out_take(o, owcp_render_table(&item->table, mode, err));
    break;
  case OWCP_BODY_BARCODE:
    if (item->barcode == NULL) {
      owcp_error_set(err, "Barcode body item has no bitmap");
      o->failed = true;
      break;
    }
    out_take(o,
             owcp_barcode_draw(item->barcode, OWCP_BARCODE_QUIET, false, err));
    break;
  }
}

char *owcp_render_request(const struct owcp_request *req,
                          enum owcp_render_mode mode, struct owcp_error *err)
{
  struct out o;
  if (!out_init(&o)) {
    owcp_error_set(err, "out of memory rendering the XML Request");
    return NULL;
  }
  const struct owcp_request_header *h = &req->header;
  render_labelled(&o, "From: ", h->from != NULL ? h->from : "", err);
  render_labelled(&o, "To: ", h->to != NULL ? h->to : "", err);
  if (h->type != NULL)
    render_labelled(&o, "Type: ", h->type, err);
  out_str(&o, "Summary: ");
  out_take(&o, owcp_render_text(&h->summary, mode, NULL, err));
  out_put(&o, "\n", 1);
  for (size_t i = 0; i < req->body_count && !o.failed; i++) {
    out_put(&o, "\n", 1);
    render_item(&o, &req->body[i], mode, err);
  }
  if (o.failed) {
    xmlBufferFree(o.buf);
    return NULL;
  }
  return out_finish(&o, err);
}

/* ---- Escaping for administrators' terminals ---- */

/* Appends the escape of the code point cp in the given form. */
static void escape_cp(struct out *o, enum owcp_escape_form form, int cp)
{
  char esc[16];
  if (form == OWCP_ESCAPE_VISIBLE)
    snprintf(esc, sizeof esc, "[U+%04X]", (unsigned)cp);
  else if (form == OWCP_ESCAPE_TEXT && cp < 0x80)
    snprintf(esc, sizeof esc, "\\x%02x", (unsigned)cp);
  else
    snprintf(esc, sizeof esc, "\\u%04x", (unsigned)cp);
  out_str(o, esc);
}

char *owcp_render_escape(const char *s, enum owcp_escape_form form,
                         struct owcp_error *err)
{
  struct out o;
  size_t len = strlen(s), i = 0;
  if (!out_init(&o)) {
    owcp_error_set(err, "out of memory escaping text");
    return NULL;
  }
  while (i < len) {
    int avail = len - i > 4 ? 4 : (int)(len - i);
    int cp = xmlGetUTF8Char((const unsigned char *)s + i, &avail);
    if (cp < 0 || avail <= 0) {
      if (form != OWCP_ESCAPE_JSON) {
        char esc[16];
        if (form == OWCP_ESCAPE_TEXT)
          snprintf(esc, sizeof esc, "\\x%02x", (unsigned char)s[i]);
        else
          snprintf(esc, sizeof esc, "[0x%02X]", (unsigned char)s[i]);
        out_str(&o, esc);
      } else {
        out_put(&o, replacement, sizeof replacement - 1);
      }
      i++;
      continue;
    }
    if (is_dangerous(cp))
      escape_cp(&o, form, cp);
    else if (cp == '\\' && form == OWCP_ESCAPE_TEXT)
      out_str(&o, "\\\\");
    else
      out_put(&o, s + i, (size_t)avail);
    i += (size_t)avail;
  }
  return out_finish(&o, err);
}
