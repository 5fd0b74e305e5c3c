/*
 * console_verify.c — GET /verify: the confirmation log's hash chain
 * verified end to end (logchain.h, which seals what is not yet chained
 * first) and against every signed head of the head file whose signature
 * verifies, and the newest head: position, hash, time and whether its
 * signature verifies with the dispatcher's certificate.
 */
#include "console.h"
#include "console_html.h"
#include "logchain.h"
#include "loghead.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The heads of the head file: every one whose signature verifies into
 * heads, and the newest document (highest Position) with its check. */
struct heads {
  struct logchain_head *ok;
  size_t n;
  bool have_newest, newest_ok;
  struct loghead newest;
  char newest_problem[OWCP_ERROR_MAX];
  char problem[OWCP_ERROR_MAX]; /* the file could not be read */
};

static void heads_read(const struct console *c, struct heads *hs)
{
  struct owcp_error err = {{0}};
  X509 **certs = NULL;
  size_t ncerts = 0;
  json_t *docs;
  int64_t best = -1;

  memset(hs, 0, sizeof *hs);
  if (access(c->head_file, F_OK) != 0 && errno == ENOENT) {
    snprintf(hs->problem, sizeof hs->problem,
             "no signed head yet: the head file does not exist");
    return;
  }
  docs = loghead_read_file(c->head_file, &err);
  if (docs == NULL ||
      loghead_certs_load(c->signing_cert, &certs, &ncerts, &err) != 0) {
    snprintf(hs->problem, sizeof hs->problem, "%s", err.msg);
    json_decref(docs);
    return;
  }
  hs->ok = calloc(json_array_size(docs) + 1, sizeof *hs->ok);
  for (size_t i = 0; hs->ok != NULL && i < json_array_size(docs); i++) {
    const json_t *doc = json_array_get(docs, i);
    json_int_t pos = json_integer_value(json_object_get(doc, "Position"));
    struct loghead h;
    bool ok = loghead_verify(doc, certs, ncerts, &h, &err) == 0;

    if (ok) {
      struct logchain_head *out = &hs->ok[hs->n++];

      out->position = h.position;
      memcpy(out->hash, h.hash, sizeof h.hash);
      snprintf(out->time, sizeof out->time, "%s", h.time);
    }
    if (pos > best) {
      const char *hash = json_string_value(json_object_get(doc, "Hash"));
      const char *time = json_string_value(json_object_get(doc, "Time"));

      best = pos;
      hs->have_newest = true;
      hs->newest_ok = ok;
      memset(&hs->newest, 0, sizeof hs->newest);
      hs->newest.position = pos;
      snprintf(hs->newest.hash, sizeof hs->newest.hash, "%s", hash ? hash : "");
      snprintf(hs->newest.time, sizeof hs->newest.time, "%s", time ? time : "");
      snprintf(hs->newest_problem, sizeof hs->newest_problem, "%s",
               ok ? "" : err.msg);
    }
  }
  loghead_certs_free(certs, ncerts);
  json_decref(docs);
}

static void row(struct html *h, const char *name, const char *value)
{
  html_raw(h, "<tr><th>");
  html_raw(h, name);
  html_raw(h, "</th><td>");
  html_text(h, value);
  html_raw(h, "</td></tr>");
}

static void chain_html(struct html *h, const struct logchain_report *r)
{
  char hex[2 * OWCP_SHA256_LEN + 1];

  if (r->ok) {
    html_raw(h, "<p class=\"ok\" id=\"chain\">Log chain verified: ");
    html_int(h, r->entries);
    html_raw(h, " entries, extending ");
    html_int(h, (long long)r->heads_checked);
    html_raw(h, " signed head(s)</p>");
  } else {
    html_raw(h, "<p class=\"bad\" id=\"chain\">Log chain BROKEN: ");
    html_text(h, r->problem);
    if (r->broken_pos > 0) {
      html_raw(h, " (first broken position ");
      html_int(h, r->broken_pos);
      html_raw(h, ")");
    }
    html_raw(h, "</p>");
  }
  owcp_hex_encode(r->tip, OWCP_SHA256_LEN, hex);
  html_raw(h, "<table>");
  html_raw(h, "<tr><th>Verified position</th><td>");
  html_int(h, r->entries);
  html_raw(h, "</td></tr>");
  row(h, "Verified hash", hex);
  html_raw(h, "</table>");
}

static void head_html(struct html *h, const struct heads *hs)
{
  html_raw(h, "<h2>Newest signed log head</h2>");
  if (!hs->have_newest) {
    html_raw(h, "<p id=\"head\">");
    html_text(h, hs->problem[0] ? hs->problem : "no signed head");
    html_raw(h, "</p>");
    return;
  }
  html_raw(h, "<table id=\"head\"><tr><th>Position</th><td>");
  html_int(h, hs->newest.position);
  html_raw(h, "</td></tr>");
  row(h, "Hash", hs->newest.hash);
  row(h, "Time", hs->newest.time);
  html_raw(h, "</table>");
  if (hs->newest_ok) {
    html_raw(h, "<p class=\"ok\" id=\"head-signature\">Signature verified</p>");
  } else {
    html_raw(h, "<p class=\"bad\" id=\"head-signature\">Signature NOT "
                "verified: ");
    html_text(h, hs->newest_problem);
    html_raw(h, "</p>");
  }
}

enum MHD_Result console_page_verify(struct svc_request *req)
{
  struct console *c = console_of(req);
  struct logchain_report r = {0};
  struct owcp_error err = {{0}};
  struct console_session s;
  struct html h = {0};
  struct heads hs;
  struct store *st;
  int rc;

  if (!console_session(req, &s))
    return console_redirect(req, "/login", NULL);
  heads_read(c, &hs);
  if (store_pool_acquire(c->pool, 5000, &st, &err) != 0) {
    free(hs.ok);
    return console_reply_message(req, 503, "Verify", err.msg);
  }
  rc = logchain_verify_heads(st, hs.ok, hs.n, &r, &err);
  store_pool_release(c->pool, st);
  free(hs.ok);
  if (rc != 0)
    return console_reply_message(req, 500, "Verify", err.msg);
  html_begin(&h, "Verify the log", &s);
  chain_html(&h, &r);
  head_html(&h, &hs);
  html_end(&h);
  return console_reply_html(req, 200, &h, NULL);
}
