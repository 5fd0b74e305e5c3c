/*
 * console_tx.c — GET /tx/ID: one transaction (its state and times, the
 * request rendered as the client shows it and its exact XML, the answer
 * and whether its receipt verifies against the client CA and covers the
 * stored request byte for byte, checked now, and its log entries); GET
 * /receipt/ID: the stored receipt as a DER download.
 */
#include "console.h"
#include "console_html.h"
#include "console_request.h"
#include "store_console.h"

#include "owcp/requestor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TX_LOG_MAX 500 /* log entries shown on a transaction's page */

/* The ID after prefix in the request's path, when it is a well-formed
 * transaction identifier; else NULL. */
static const char *path_id(const struct svc_request *req, const char *prefix)
{
  size_t n = strlen(prefix), len;
  const char *id;

  if (req->path == NULL || strncmp(req->path, prefix, n) != 0)
    return NULL;
  id = req->path + n;
  len = strlen(id);
  if (len == 0 || len >= STORE_ID_MAX)
    return NULL;
  for (size_t i = 0; i < len; i++) {
    char ch = id[i];
    if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
          (ch >= '0' && ch <= '9') || ch == '-' || ch == '_'))
      return NULL;
  }
  return id;
}

static void row(struct html *h, const char *name, const char *value)
{
  html_raw(h, "<tr><th>");
  html_raw(h, name);
  html_raw(h, "</th><td>");
  html_text(h, value != NULL && value[0] != '\0' ? value : NULL);
  html_raw(h, "</td></tr>");
}

/* The exact XML with its line breaks kept (every other control and bidi
 * character shown escaped). */
static void xml_lines(struct html *h, const char *xml)
{
  char *copy = strdup(xml);

  if (copy == NULL) {
    h->failed = true;
    return;
  }
  for (char *line = copy, *nl; line != NULL; line = nl) {
    nl = strchr(line, '\n');
    if (nl != NULL)
      *nl++ = '\0';
    html_text(h, line);
    if (nl != NULL)
      html_raw(h, "\n");
  }
  free(copy);
}

/* The request as the client shows it, then its exact bytes. */
static void request_section(struct html *h, const struct console *c,
                            const struct store_tx_view *v)
{
  struct owcp_error err = {{0}};
  struct owcp_request *req = NULL;

  html_raw(h, "<h2>Request</h2>");
  if (owcp_request_parse(c->validator, v->request_xml, v->request_len, &req,
                         &err) == OWCP_XML_OK) {
    console_request_html(h, req);
    owcp_request_free(req);
  } else {
    html_raw(h, "<p class=\"bad\">The stored request does not parse: ");
    html_text(h, err.msg);
    html_raw(h, "</p>");
  }
  html_raw(h, "<h3>Exact XML</h3><pre id=\"xml\">");
  xml_lines(h, v->request_xml);
  html_raw(h, "</pre>\n");
}

/* The answer and the receipt check. */
static void answer_section(struct html *h, const struct console *c,
                           const char *id, const struct store_tx_view *v)
{
  struct owcp_rq_result res = {0};
  struct owcp_error err = {{0}};
  bool ok = false;

  html_raw(h, "<h2>Answer</h2>");
  if (v->response == NULL) {
    html_raw(h, "<p id=\"unanswered\">Not answered.</p>");
    return;
  }
  if (c->client_ca_pem == NULL)
    owcp_error_set(&err, "no client CA (key_dir/client-ca.pem) to check "
                         "it against");
  else if (v->receipt == NULL)
    owcp_error_set(&err, "no receipt stored");
  else
    ok = owcp_rq_verify_receipt(v->receipt, v->receipt_len, c->client_ca_pem,
                                v->request_xml, v->request_len, id, v->client,
                                v->response, &res, &err) == 0;
  html_raw(h, "<table>");
  row(h, "Response", v->response);
  if (v->reason != NULL)
    row(h, "Reason", v->reason);
  row(h, "Verification methods", v->verification);
  row(h, "Client", v->client);
  row(h, "Device description", v->client_description);
  row(h, "Signing time", ok ? res.signed_at : NULL);
  html_raw(h, "</table>");
  if (ok) {
    html_raw(h, "<p class=\"ok\" id=\"receipt\">Receipt verified</p>");
  } else {
    html_raw(h, "<p class=\"bad\" id=\"receipt\">Receipt NOT verified: ");
    html_text(h, err.msg);
    html_raw(h, "</p>");
  }
  if (v->receipt != NULL) {
    html_raw(h, "<p><a id=\"receipt-download\" href=\"/receipt/");
    html_url(h, id);
    html_raw(h, "\">Download the receipt (DER)</a></p>");
  }
  owcp_rq_result_free(&res);
}

static void tx_page(struct html *h, const struct console *c, const char *id,
                    const struct store_tx_view *v)
{
  html_raw(h, "<table id=\"tx\">");
  row(h, "Transaction", id);
  row(h, "State", v->state);
  row(h, "From", v->requestor);
  row(h, "To", v->account);
  row(h, "Type", v->type);
  row(h, "Identifier", v->identifier);
  row(h, "Received", v->received);
  row(h, "Expires", v->expires);
  row(h, "First listed", v->listed);
  row(h, "Answered", v->answered);
  html_raw(h, "</table>\n");
  request_section(h, c, v);
  answer_section(h, c, id, v);
  html_raw(h, "<h2>Log entries</h2>");
}

enum MHD_Result console_page_tx(struct svc_request *req)
{
  struct console *c = console_of(req);
  struct store_log_filter f = {0};
  struct store_tx_view v;
  struct owcp_error err = {{0}};
  struct console_session s;
  struct html h = {0};
  const char *id = path_id(req, "/tx/");
  struct store *st;
  int64_t last;
  bool found = false;
  int rows, rc;

  if (!console_session(req, &s))
    return console_redirect(req, "/login", NULL);
  if (id == NULL)
    return console_reply_message(req, 404, "Transaction",
                                 "no such transaction");
  if (store_pool_acquire(c->pool, 5000, &st, &err) != 0)
    return console_reply_message(req, 503, "Transaction", err.msg);
  rc = store_tx_view(st, id, &v, &found, &err);
  if (rc == 0 && found) {
    html_begin(&h, "Transaction", &s);
    tx_page(&h, c, id, &v);
    f.transaction = id;
    rc = console_log_table(&h, st, &f, 0, TX_LOG_MAX, &rows, &last, &err);
    html_end(&h);
    store_tx_view_free(&v);
  }
  store_pool_release(c->pool, st);
  if (rc != 0) {
    html_free(&h);
    return console_reply_message(req, 500, "Transaction", err.msg);
  }
  if (!found)
    return console_reply_message(req, 404, "Transaction",
                                 "no such transaction");
  return console_reply_html(req, 200, &h, NULL);
}

enum MHD_Result console_receipt(struct svc_request *req)
{
  struct console *c = console_of(req);
  struct owcp_error err = {{0}};
  struct console_session s;
  struct store_tx_view v;
  const char *id = path_id(req, "/receipt/");
  char name[STORE_ID_MAX + 16];
  struct store *st;
  bool found = false;
  char *der;
  size_t len;
  int rc;

  if (!console_session(req, &s))
    return console_redirect(req, "/login", NULL);
  if (id == NULL)
    return console_reply_message(req, 404, "Receipt", "no such transaction");
  if (store_pool_acquire(c->pool, 5000, &st, &err) != 0)
    return console_reply_message(req, 503, "Receipt", err.msg);
  rc = store_tx_view(st, id, &v, &found, &err);
  store_pool_release(c->pool, st);
  if (rc != 0)
    return console_reply_message(req, 500, "Receipt", err.msg);
  if (!found || v.receipt == NULL) {
    store_tx_view_free(&v);
    return console_reply_message(req, 404, "Receipt", "no receipt stored");
  }
  der = (char *)v.receipt;
  len = v.receipt_len;
  v.receipt = NULL;
  store_tx_view_free(&v);
  snprintf(name, sizeof name, "%s.p7s", id);
  return console_reply_download(req, der, len, "application/pkcs7-mime", name);
}
