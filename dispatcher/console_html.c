/*
 * console_html.c — the audit console's HTML writer and replies
 * (console_html.h).
 */
#include "console_html.h"

#include "owcp/render.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* No script, no inline style, nothing from elsewhere; the barcode is inline
 * SVG markup (no image fetch), the stylesheet is /style.css. */
#define CSP                                                                    \
  "default-src 'none'; style-src 'self'; img-src 'self'; form-action "         \
  "'self'; frame-ancestors 'none'; base-uri 'none'"

static const char stylesheet[] =
    "body{font-family:sans-serif;margin:0;color:#111;background:#fafafa}\n"
    "header{background:#234;color:#fff;padding:.5em 1em;display:flex;"
    "gap:1em;align-items:center}\n"
    "header a{color:#fff}\nheader form{margin-left:auto}\n"
    "main{padding:1em}\n"
    "table{border-collapse:collapse;margin:.5em 0}\n"
    "td,th{border:1px solid #bbb;padding:.2em .5em;text-align:left;"
    "vertical-align:top}\n"
    ".hash{font-family:monospace;font-size:.8em}\n"
    "pre{background:#eee;padding:.5em;white-space:pre-wrap;"
    "word-break:break-all}\n"
    ".ok{color:#060;font-weight:bold}\n.bad{color:#a00;font-weight:bold}\n"
    ".error{color:#a00}\n.request{border:1px solid #999;padding:.5em;"
    "background:#fff;max-width:50em}\n"
    "form.filter input{width:12em}\n";

static void put(struct html *h, const char *s, size_t n)
{
  if (h->failed)
    return;
  if (h->len + n + 1 > h->cap) {
    size_t cap = h->cap ? h->cap : 4096;
    char *nb;

    while (cap < h->len + n + 1)
      cap *= 2;
    nb = realloc(h->buf, cap);
    if (nb == NULL) {
      h->failed = true;
      return;
    }
    h->buf = nb;
    h->cap = cap;
  }
  memcpy(h->buf + h->len, s, n);
  h->len += n;
  h->buf[h->len] = '\0';
}

void html_raw(struct html *h, const char *markup)
{
  put(h, markup, strlen(markup));
}

void html_text(struct html *h, const char *s)
{
  struct owcp_error err = {{0}};
  char *visible;

  if (s == NULL) {
    put(h, "-", 1);
    return;
  }
  visible = owcp_render_escape(s, OWCP_ESCAPE_VISIBLE, &err);
  if (visible == NULL) {
    h->failed = true;
    return;
  }
  for (const char *p = visible; *p; p++) {
    switch (*p) {
    case '&':
      put(h, "&amp;", 5);
      break;
    case '<':
      put(h, "&lt;", 4);
      break;
    case '>':
      put(h, "&gt;", 4);
      break;
    case '"':
      put(h, "&quot;", 6);
      break;
    case '\'':
      put(h, "&#39;", 5);
      break;
    default:
      put(h, p, 1);
    }
  }
  free(visible);
}

void html_int(struct html *h, long long v)
{
  char num[32];

  snprintf(num, sizeof num, "%lld", v);
  html_raw(h, num);
}

void html_url(struct html *h, const char *s)
{
  static const char hex[] = "0123456789ABCDEF";

  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    char esc[3] = {'%', hex[*p >> 4], hex[*p & 15]};

    if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
        (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' ||
        *p == '~')
      put(h, (const char *)p, 1);
    else
      put(h, esc, 3);
  }
}

void html_free(struct html *h)
{
  free(h->buf);
  memset(h, 0, sizeof *h);
}

void html_begin(struct html *h, const char *title,
                const struct console_session *s)
{
  html_raw(h, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta "
              "charset=\"utf-8\"><title>");
  html_text(h, title);
  html_raw(h, " — owcp audit console</title><link rel=\"stylesheet\" "
              "href=\"/style.css\"></head><body><header><strong>owcp audit "
              "console</strong>");
  if (s != NULL) {
    html_raw(h, "<a href=\"/\">Log</a><a href=\"/verify\">Verify</a>"
                "<form method=\"post\" action=\"/logout\"><input "
                "type=\"hidden\" name=\"csrf\" value=\"");
    html_text(h, s->csrf);
    html_raw(h, "\"><span>");
    html_text(h, s->user);
    html_raw(h, "</span> <button type=\"submit\">Sign out</button></form>");
  }
  html_raw(h, "</header><main><h1>");
  html_text(h, title);
  html_raw(h, "</h1>\n");
}

void html_end(struct html *h)
{
  html_raw(h, "</main></body></html>\n");
}

void console_headers(struct MHD_Response *resp)
{
  MHD_add_response_header(resp, "Content-Security-Policy", CSP);
  MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
  MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
  MHD_add_response_header(resp, "X-Frame-Options", "DENY");
  MHD_add_response_header(resp, "Cache-Control", "no-store");
}

/* Queues a buffer (taken over) with the headers every reply has. */
static enum MHD_Result reply(char *data, size_t len, const char *type,
                             struct MHD_Response **out)
{
  struct MHD_Response *resp =
      MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);

  *out = resp;
  if (resp == NULL) {
    free(data);
    return MHD_NO;
  }
  MHD_add_response_header(resp, "Content-Type", type);
  console_headers(resp);
  return MHD_YES;
}

static enum MHD_Result queue(struct svc_request *req, unsigned status,
                             struct MHD_Response *resp, size_t len)
{
  enum MHD_Result r = svc_http_queue(req, status, resp, len);

  MHD_destroy_response(resp);
  return r;
}

enum MHD_Result console_reply_html(struct svc_request *req, unsigned status,
                                   struct html *h, const char *cookie)
{
  struct MHD_Response *resp;
  size_t len = h->len;
  char *data = h->buf;

  if (h->failed) {
    html_free(h);
    return console_reply_message(req, 500, "Error", "out of memory");
  }
  h->buf = NULL;
  html_free(h);
  if (data == NULL)
    data = strdup("");
  if (data == NULL ||
      reply(data, len, "text/html; charset=utf-8", &resp) != MHD_YES)
    return MHD_NO;
  if (cookie != NULL)
    MHD_add_response_header(resp, "Set-Cookie", cookie);
  return queue(req, status, resp, len);
}

enum MHD_Result console_reply_message(struct svc_request *req, unsigned status,
                                      const char *title, const char *message)
{
  struct html h = {0};

  html_begin(&h, title, NULL);
  html_raw(&h, "<p class=\"error\">");
  html_text(&h, message);
  html_raw(&h, "</p><p><a href=\"/\">Back to the log</a></p>");
  html_end(&h);
  if (h.failed) {
    html_free(&h);
    return MHD_NO;
  }
  return console_reply_html(req, status, &h, NULL);
}

enum MHD_Result console_redirect(struct svc_request *req, const char *location,
                                 const char *cookie)
{
  struct MHD_Response *resp;
  char *empty = strdup("");

  if (empty == NULL ||
      reply(empty, 0, "text/plain; charset=utf-8", &resp) != MHD_YES)
    return MHD_NO;
  MHD_add_response_header(resp, "Location", location);
  if (cookie != NULL)
    MHD_add_response_header(resp, "Set-Cookie", cookie);
  return queue(req, 303, resp, 0);
}

enum MHD_Result console_reply_download(struct svc_request *req, char *data,
                                       size_t len, const char *type,
                                       const char *filename)
{
  struct MHD_Response *resp;
  char disposition[128];

  if (reply(data, len, type, &resp) != MHD_YES)
    return MHD_NO;
  snprintf(disposition, sizeof disposition, "attachment; filename=\"%s\"",
           filename);
  MHD_add_response_header(resp, "Content-Disposition", disposition);
  return queue(req, 200, resp, len);
}

enum MHD_Result console_stylesheet(struct svc_request *req)
{
  struct MHD_Response *resp;
  char *css = strdup(stylesheet);

  if (css == NULL || reply(css, sizeof stylesheet - 1,
                           "text/css; charset=utf-8", &resp) != MHD_YES)
    return MHD_NO;
  return queue(req, 200, resp, sizeof stylesheet - 1);
}
