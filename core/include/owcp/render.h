/*
 * owcp/render.h — turns a parsed OWCP XML Request into the text a terminal
 * client shows its user.
 *
 * Rules every function here follows:
 *  - Text is displayed like XML display text: each run of whitespace (space,
 *    tab, CR, LF), also across span boundaries, becomes one space, and the
 *    text is trimmed at both ends.
 *  - Hostile text cannot drive the terminal: every C0 control, DEL, C1
 *    control (U+0080..U+009F, which includes the 8-bit CSI U+009B), the
 *    line and paragraph separators (U+2028, U+2029), the bidirectional
 *    marks, overrides and isolates (U+061C, U+200E, U+200F,
 *    U+202A..U+202E, U+2066..U+2069), and any invalid UTF-8 sequence is
 *    replaced by U+FFFD "�". The only escape sequences in the output are the
 *    renderer's own SGR codes in OWCP_RENDER_ANSI mode.
 *  - <B>, <I>, <U> emphasis: in OWCP_RENDER_ANSI mode SGR 1/22 (bold),
 *    3/23 (italic) and 4/24 (underline), switched on when the outermost span
 *    of that kind starts and off when it ends; in OWCP_RENDER_PLAIN mode the
 *    marks *bold*, /italic/ and _underline_ around the outermost span. Marks
 *    hug the text: surrounding whitespace stays outside them, and an empty
 *    span produces nothing.
 *  - Display width is the number of Unicode code points (combining marks and
 *    wide characters are not special-cased).
 * Every returned string is NUL-terminated UTF-8 that the caller frees.
 */
#ifndef OWCP_RENDER_H
#define OWCP_RENDER_H

#include <stddef.h>

#include "owcp/request.h"
#include "owcp/util.h"

enum owcp_render_mode {
  OWCP_RENDER_PLAIN, /* emphasis as *bold*, /italic/, _underline_ */
  OWCP_RENDER_ANSI   /* emphasis as SGR escape sequences */
};

/* Formats a <Money> amount for display: "USD 9,825.00". The currency is
 * uppercased (ASCII) and neutralised like any text. The amount is an
 * xs:decimal string handled purely as a string (never as a floating-point
 * number): surrounding XML whitespace is ignored; a leading '+' is dropped
 * and a '-' kept ("USD -5.00") unless every digit is zero ("-0.00" shows as
 * "0.00"); leading zeros of the integer part are removed, leaving at least
 * "0" (".5" → "0.5", "007" → "7"); the integer part gets a ',' every three
 * digits; the fraction keeps exactly the digits written ("9825.00" keeps
 * ".00", "1.5" stays "1.5") and a bare trailing '.' is dropped ("5." → "5").
 * An amount that is not an xs:decimal is refused with err set. */
char *owcp_render_money(const char *currency, const char *amount,
                        struct owcp_error *err);

/* Renders formatted text (Summary, P, TD) on one line. *width, when not
 * NULL, receives its display width (escape sequences excluded). */
char *owcp_render_text(const struct owcp_text *text, enum owcp_render_mode mode,
                       size_t *width, struct owcp_error *err);

/* Renders a plain string (From, To, Type) with the same whitespace and
 * control-character rules as owcp_render_text(). */
char *owcp_render_string(const char *s, size_t *width, struct owcp_error *err);

/* Renders a table with its columns aligned: cells padded with spaces to the
 * widest cell of their column and separated by " | "; a line stops after
 * its last non-empty cell (no trailing padding or separator); a header (<TH>)
 * row followed by a <TR> row is separated from it by a rule of '-' joined with
 * "-+-". Each line ends in "\n"; an empty table renders as "". */
char *owcp_render_table(const struct owcp_table *table,
                        enum owcp_render_mode mode, struct owcp_error *err);

/* Renders the whole request as the user sees it:
 *     From: <from>\nTo: <to>\n[Type: <type>\n]Summary: <summary>\n
 * then each body item after an empty line: a paragraph as one line, a
 * table as owcp_render_table(), a barcode as owcp_barcode_draw() with an
 * OWCP_BARCODE_QUIET quiet zone, not inverted. */
char *owcp_render_request(const struct owcp_request *req,
                          enum owcp_render_mode mode, struct owcp_error *err);

/* How owcp_render_escape() shows a code point that could drive a terminal
 * (the set neutralised above: C0, DEL, C1, U+2028/U+2029 and the bidi
 * marks, overrides and isolates). Unlike the renderer, which replaces them
 * with U+FFFD for a user, escaping keeps them visible and distinguishable
 * for an administrator or auditor. */
enum owcp_escape_form {
  /* Text for a terminal: "\x1b" for an ASCII control (C0, DEL),
   * "\u202e" (4 lowercase hex digits) for any other such code point,
   * "\xff" for each byte of invalid UTF-8, and a backslash doubled, so
   * the output reads back unambiguously. */
  OWCP_ESCAPE_TEXT,
  /* Serialised JSON text (e.g. from json_dumps): such code points become
   * "\u009b", "\u202e" (valid JSON, since they can only occur inside
   * strings); every other byte, backslashes included, is left alone. */
  OWCP_ESCAPE_JSON,
  /* Text for a page (the audit console, which HTML-escapes the result):
   * "[U+202E]" (4 or more uppercase hex digits) for any such code point,
   * "[0xFF]" for each byte of invalid UTF-8; every other byte is left
   * alone. */
  OWCP_ESCAPE_VISIBLE
};

/* A copy of s with every code point that could drive a terminal escaped
 * in the given form (see enum owcp_escape_form). Caller frees; NULL with
 * err set when memory runs out. */
char *owcp_render_escape(const char *s, enum owcp_escape_form form,
                         struct owcp_error *err);

#endif
