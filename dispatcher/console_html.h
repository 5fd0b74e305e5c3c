/*
 * console_html.h — how the audit console writes HTML: a growing buffer
 * where markup comes only from string literals (html_raw) and every other
 * value goes through html_text, which shows control and bidi characters
 * as visible escapes ("[U+202E]", owcp_render_escape's VISIBLE form) and
 * turns & < > " ' into character references, so stored text is never
 * read as markup, in element content or in a quoted attribute. Also the
 * replies: every page with the same security headers (a strict
 * Content-Security-Policy and friends).
 */
#ifndef OWCP_DISPATCHER_CONSOLE_HTML_H
#define OWCP_DISPATCHER_CONSOLE_HTML_H

#include "console.h"

#include <stdint.h>

/* An HTML document being written. Zero-initialise; `failed` once memory
 * ran out (the reply is then a 500). Owns buf until handed to a reply. */
struct html {
  char *buf;
  size_t len, cap;
  bool failed;
};

/* Appends trusted markup: call only with string literals. */
void html_raw(struct html *h, const char *markup);

/* Appends untrusted text escaped for element content and quoted
 * attributes; NULL appends "-". */
void html_text(struct html *h, const char *s);

/* Appends a number. */
void html_int(struct html *h, long long v);

/* Appends s percent-encoded (everything but A-Z a-z 0-9 - . _ ~), for a
 * query value or path segment in an attribute. */
void html_url(struct html *h, const char *s);

/* Releases the buffer. */
void html_free(struct html *h);

/* The page's head, stylesheet and navigation (with the sign-out form and
 * the session's CSRF token when s is not NULL), then <main>. */
void html_begin(struct html *h, const char *title,
                const struct console_session *s);

/* Closes <main>, the body and the document. */
void html_end(struct html *h);

/* The security headers every console reply carries. */
void console_headers(struct MHD_Response *resp);

/* Queues h as a text/html reply with status (and Set-Cookie when cookie
 * is not NULL), freeing h's buffer. */
enum MHD_Result console_reply_html(struct svc_request *req, unsigned status,
                                   struct html *h, const char *cookie);

/* A complete small page saying message (escaped) with status. */
enum MHD_Result console_reply_message(struct svc_request *req, unsigned status,
                                      const char *title, const char *message);

/* Queues a 303 to location (a literal path of the console). */
enum MHD_Result console_redirect(struct svc_request *req, const char *location,
                                 const char *cookie);

/* Queues data (len bytes, taken over: freed) of content type as a
 * download named filename (Content-Disposition: attachment). */
enum MHD_Result console_reply_download(struct svc_request *req, char *data,
                                       size_t len, const char *type,
                                       const char *filename);

/* Writes the log entries matching f (seq below before, 0: none), newest
 * first, at most limit, as <table id="log">; *rows and *last_seq (the
 * oldest seq shown) for paging. 0, or a store error with err
 * (console_log.c). */
int console_log_table(struct html *h, struct store *st,
                      const struct store_log_filter *f, int64_t before,
                      int limit, int *rows, int64_t *last_seq,
                      struct owcp_error *err);

/* GET /style.css: the console's only stylesheet. */
enum MHD_Result console_stylesheet(struct svc_request *req);

#endif
