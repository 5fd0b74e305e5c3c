/*
 * console_log.c — GET /: the confirmation log newest first, a page at a
 * time, narrowed by the query's filters (all combined with AND); and the
 * filters' parsing, shared with /export.
 */
#include "console.h"
#include "console_html.h"
#include "store_console.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* store_log_query's columns (store.h). */
enum {
  COL_SEQ,
  COL_AT,
  COL_EVENT,
  COL_ACCOUNT,
  COL_REQUESTOR,
  COL_TX,
  COL_CLIENT,
  COL_DETAIL,
  COL_POSITION,
  COL_HASH,
  COL_COUNT
};

#define VALUE_MAX 320 /* the longest address a filter can name */

struct query_walk {
  struct console_query q;
  bool export;
  struct owcp_error *err;
  bool bad;
};

/* A text filter: 1..VALUE_MAX octets, no control character. */
static bool text_ok(const char *v)
{
  size_t n = strlen(v);

  if (n == 0 || n > VALUE_MAX)
    return false;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
      return false;
  return true;
}

/* An event name as the log's CHECK allows: [a-z]+.[a-z]+ */
static bool event_ok(const char *v)
{
  const char *dot = strchr(v, '.');

  if (dot == NULL || dot == v || dot[1] == '\0' || strlen(v) > 64)
    return false;
  for (const char *p = v; *p; p++)
    if (p != dot && (*p < 'a' || *p > 'z'))
      return false;
  return true;
}

static bool set_text(const char **dst, const char *key, const char *v,
                     struct owcp_error *err)
{
  if (!text_ok(v)) {
    owcp_error_set(err,
                   "%s must be 1 to %d characters without control "
                   "characters",
                   key, VALUE_MAX);
    return false;
  }
  *dst = v;
  return true;
}

static bool set_before(int64_t *dst, const char *v, struct owcp_error *err)
{
  char *end;
  long long n = strtoll(v, &end, 10);

  if (*v < '1' || *v > '9' || *end != '\0' || n <= 0) {
    owcp_error_set(err, "before must be a positive log sequence number");
    return false;
  }
  *dst = n;
  return true;
}

/* One query parameter. */
static bool query_param(struct query_walk *w, const char *key, const char *v)
{
  struct store_log_filter *f = &w->q.filter;
  time_t *bound = NULL;

  if (v == NULL)
    v = "";
  if (strcmp(key, "account") == 0)
    return set_text(&f->account, key, v, w->err);
  if (strcmp(key, "requestor") == 0)
    return set_text(&f->requestor, key, v, w->err);
  if (strcmp(key, "transaction") == 0)
    return set_text(&f->transaction, key, v, w->err);
  if (strcmp(key, "event") == 0) {
    if (event_ok(v)) {
      f->event = v;
      return true;
    }
    owcp_error_set(w->err, "event must look like transaction.answered");
    return false;
  }
  if (strcmp(key, "from") == 0)
    bound = &f->since;
  else if (strcmp(key, "to") == 0)
    bound = &f->until;
  if (bound != NULL) {
    if (owcp_time_parse(v, bound, w->err) == 0)
      return true;
    owcp_error_set(w->err,
                   "%s must be an RFC 3339 time, e.g. "
                   "2026-01-02T03:04:05Z",
                   key);
    return false;
  }
  if (!w->export && strcmp(key, "before") == 0)
    return set_before(&w->q.before, v, w->err);
  if (w->export && strcmp(key, "format") == 0) {
    if (strcmp(v, "csv") == 0 || strcmp(v, "jsonl") == 0) {
      w->q.format = v;
      return true;
    }
    owcp_error_set(w->err, "format must be csv or jsonl");
    return false;
  }
  owcp_error_set(w->err, "unknown query parameter '%.40s'", key);
  return false;
}

static enum MHD_Result query_each(void *cls, enum MHD_ValueKind kind,
                                  const char *key, const char *value)
{
  struct query_walk *w = cls;

  (void)kind;
  /* An empty field of the filter form means "no filter". */
  if (w == NULL || value == NULL || value[0] == '\0')
    return MHD_YES;
  if (!query_param(w, key, value)) {
    w->bad = true;
    return MHD_NO;
  }
  return MHD_YES;
}

bool console_query_parse(struct svc_request *req, bool export,
                         struct console_query *q, struct owcp_error *err)
{
  struct query_walk w;

  memset(&w, 0, sizeof w);
  w.export = export;
  w.err = err;

  MHD_get_connection_values(req->con, MHD_GET_ARGUMENT_KIND, query_each, &w);
  *q = w.q;
  if (!w.bad && q->filter.since && q->filter.until &&
      q->filter.until <= q->filter.since) {
    owcp_error_set(err, "to must be later than from");
    return false;
  }
  return !w.bad;
}

/* ---- the page ---- */

struct page {
  struct html *h;
  int rows;
  int64_t last_seq;
};

static void cell(struct html *h, const char *v)
{
  html_raw(h, "<td>");
  html_text(h, v);
  html_raw(h, "</td>");
}

static int page_row(void *arg, int n, const char *const *names,
                    const char *const *fields)
{
  struct page *p = arg;
  struct html *h = p->h;

  (void)names;
  if (n != COL_COUNT)
    return -1;
  p->rows++;
  p->last_seq = strtoll(fields[COL_SEQ], NULL, 10);
  html_raw(h, "<tr class=\"entry\">");
  cell(h, fields[COL_POSITION]);
  cell(h, fields[COL_AT]);
  cell(h, fields[COL_EVENT]);
  cell(h, fields[COL_ACCOUNT]);
  cell(h, fields[COL_REQUESTOR]);
  cell(h, fields[COL_CLIENT]);
  html_raw(h, "<td>");
  if (fields[COL_TX] != NULL) {
    html_raw(h, "<a class=\"tx\" href=\"/tx/");
    html_url(h, fields[COL_TX]);
    html_raw(h, "\">");
    html_text(h, fields[COL_TX]);
    html_raw(h, "</a>");
  }
  html_raw(h, "</td></tr>\n");
  return 0;
}

int console_log_table(struct html *h, struct store *st,
                      const struct store_log_filter *f, int64_t before,
                      int limit, int *rows, int64_t *last_seq,
                      struct owcp_error *err)
{
  struct page p = {h, 0, 0};
  int rc;

  html_raw(h, "<table id=\"log\"><thead><tr><th>Position</th><th>Time</th>"
              "<th>Event</th><th>Account</th><th>Requestor</th><th>Client"
              "</th><th>Transaction</th></tr></thead><tbody>\n");
  rc = store_log_page(st, f, before, limit, page_row, &p, err);
  html_raw(h, "</tbody></table>\n");
  *rows = p.rows;
  *last_seq = p.last_seq;
  return rc;
}

/* One filter input, holding the current value. */
static void filter_input(struct html *h, const char *name, const char *label,
                         const char *value)
{
  html_raw(h, "<label>");
  html_raw(h, label);
  html_raw(h, " <input name=\"");
  html_raw(h, name);
  html_raw(h, "\" value=\"");
  if (value != NULL)
    html_text(h, value);
  html_raw(h, "\"></label> ");
}

/* The query string of the filters (for the next page and the export),
 * starting with '&' per parameter. */
static void filter_query(struct html *h, const struct svc_request *req)
{
  static const char *const keys[] = {"account", "requestor", "transaction",
                                     "event",   "from",      "to"};

  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
    const char *v =
        MHD_lookup_connection_value(req->con, MHD_GET_ARGUMENT_KIND, keys[i]);

    if (v == NULL || v[0] == '\0')
      continue;
    html_raw(h, "&amp;");
    html_raw(h, keys[i]);
    html_raw(h, "=");
    html_url(h, v);
  }
}

static void filter_form(struct html *h, const struct svc_request *req)
{
  static const char *const keys[][2] = {{"account", "Account"},
                                        {"requestor", "Requestor"},
                                        {"transaction", "Transaction"},
                                        {"event", "Event"},
                                        {"from", "From (RFC 3339, inclusive)"},
                                        {"to", "To (exclusive)"}};

  html_raw(h, "<form class=\"filter\" method=\"get\" action=\"/\">");
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
    filter_input(h, keys[i][0], keys[i][1],
                 MHD_lookup_connection_value(req->con, MHD_GET_ARGUMENT_KIND,
                                             keys[i][0]));
  html_raw(h, "<button type=\"submit\">Filter</button></form>\n");
}

enum MHD_Result console_page_log(struct svc_request *req)
{
  struct console *c = console_of(req);
  struct console_session s;
  struct console_query q;
  struct owcp_error err = {{0}};
  struct html h = {0};
  struct page p = {NULL, 0, 0};
  struct store *st;
  int rc;

  if (!console_session(req, &s))
    return console_redirect(req, "/login", NULL);
  if (!console_query_parse(req, false, &q, &err))
    return console_reply_message(req, 400, "Bad filter", err.msg);
  if (store_pool_acquire(c->pool, 5000, &st, &err) != 0)
    return console_reply_message(req, 503, "Log", err.msg);
  html_begin(&h, "Confirmation log", &s);
  filter_form(&h, req);
  html_raw(&h, "<p><a href=\"/export?format=csv");
  filter_query(&h, req);
  html_raw(&h, "\">Export CSV</a> · <a href=\"/export?format=jsonl");
  filter_query(&h, req);
  html_raw(&h, "\">Export JSON lines</a></p>\n");
  rc = console_log_table(&h, st, &q.filter, q.before, CONSOLE_PAGE_SIZE,
                         &p.rows, &p.last_seq, &err);
  store_pool_release(c->pool, st);
  if (rc != 0) {
    html_free(&h);
    return console_reply_message(req, 500, "Log", err.msg);
  }
  if (p.rows == 0)
    html_raw(&h, "<p id=\"empty\">No log entries match.</p>");
  if (p.rows == CONSOLE_PAGE_SIZE) {
    html_raw(&h, "<p><a id=\"older\" href=\"/?before=");
    html_int(&h, p.last_seq);
    filter_query(&h, req);
    html_raw(&h, "\">Older entries</a></p>");
  }
  html_end(&h);
  return console_reply_html(req, 200, &h, NULL);
}
