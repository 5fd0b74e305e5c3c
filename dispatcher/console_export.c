/*
 * console_export.c — GET /export?format=csv|jsonl&FILTERS: the filtered
 * log, oldest first, as a download, written by owcp-admin log show's own
 * writer (admin_log_row): CSV with the header
 * position,time,event,account,requestor,client,transaction,hash or JSON
 * lines with those keys. Without a session: 401 (a download has no page
 * to be redirected to).
 */
#include "console.h"
#include "console_html.h"
#include "logchain.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The export of q into a new buffer (*data, *len). 0, or a store error. */
static int export_write(struct store *st, const struct console_query *q,
                        char **data, size_t *len, struct owcp_error *err)
{
  struct admin_log_out o = {NULL, ADMIN_LOG_CSV, false};
  int rc;

  if (strcmp(q->format, "jsonl") == 0)
    o.format = ADMIN_LOG_JSONL;
  o.out = open_memstream(data, len);
  if (o.out == NULL) {
    owcp_error_set(err, "out of memory");
    return -1;
  }
  /* Sealed first, so every entry exported has its position and hash. */
  rc = logchain_seal_all(st, err);
  if (rc == 0)
    rc = store_log_query(st, &q->filter, admin_log_row, &o, err);
  if (rc == 0)
    admin_log_finish(&o);
  if (fclose(o.out) != 0 && rc == 0) {
    owcp_error_set(err, "out of memory");
    rc = -1;
  }
  if (rc != 0) {
    free(*data);
    *data = NULL;
  }
  return rc;
}

enum MHD_Result console_export(struct svc_request *req)
{
  struct console *c = console_of(req);
  struct owcp_error err = {{0}};
  struct console_session s;
  struct console_query q;
  struct store *st;
  char *data = NULL;
  size_t len = 0;
  int rc;

  if (!console_session(req, &s))
    return console_reply_message(req, 401, "Export", "sign in first (/login)");
  if (!console_query_parse(req, true, &q, &err))
    return console_reply_message(req, 400, "Bad filter", err.msg);
  if (q.format == NULL)
    return console_reply_message(req, 400, "Bad filter",
                                 "format must be csv or jsonl");
  if (store_pool_acquire(c->pool, 5000, &st, &err) != 0)
    return console_reply_message(req, 503, "Export", err.msg);
  rc = export_write(st, &q, &data, &len, &err);
  store_pool_release(c->pool, st);
  if (rc != 0)
    return console_reply_message(req, 500, "Export", err.msg);
  if (strcmp(q.format, "csv") == 0)
    return console_reply_download(req, data, len, "text/csv; charset=utf-8",
                                  "owcp-log.csv");
  return console_reply_download(
      req, data, len, "application/jsonl; charset=utf-8", "owcp-log.jsonl");
}
