/*
 * rd_confirm.c — RD-Confirm (binding §4): a requestor submits an XML
 * <Request> for one of our accounts and gets a transaction identifier back.
 *
 * Everything the store cannot judge is checked here, before the database
 * sees the request: the XML is valid, <From> is the authenticated requestor
 * (no spoofing), <To> is in a domain we serve, the header identifier that
 * makes resubmission idempotent is present and sane, and the Completion URI
 * is one the DR-Complete sender may safely POST to. The store then decides
 * idempotency, rate limits, registration policy and whether the account
 * exists, in one database transaction.
 */
#include "ops.h"

#include "authcache.h"
#include "notify.h"
#include "ratelease.h"
#include "txcache.h"

#include "owcp/service/log.h"
#include "owcp/util.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

/* The header identifier is the (requestor, identifier) unique key in the
 * database; PostgreSQL refuses B-tree index entries over ~2.7 kB with an
 * internal error, so an honest bound here turns that into a 400. */
#define RD_IDENTIFIER_MAX 1024

const struct owcp_param_spec rd_confirm_params[] = {
    OWCP_PARAM_STRING("Request", struct rd_confirm_in, request, OWCP_REQUIRED,
                      OWCP_XML_DEFAULT_MAX_BYTES),
    OWCP_PARAM_INT("Timeout", struct rd_confirm_in, timeout,
                   OWCP_PRESENT(struct rd_confirm_in, has_timeout), 1,
                   OPS_TIMEOUT_MAX),
    OWCP_PARAM_STRING("Completion", struct rd_confirm_in, completion,
                      OWCP_OPTIONAL, OPS_COMPLETION_MAX),
    OWCP_PARAM_END};

/* What the checks below produce and the store call consumes; released by
 * confirm_checked_free(). */
struct confirm_checked {
  struct owcp_request *req;
  char *to;         /* normalised <To> */
  char *completion; /* libcurl's normalised form of Completion, or NULL */
};

static void confirm_checked_free(struct confirm_checked *c)
{
  owcp_request_free(c->req);
  free(c->to);
  free(c->completion);
}

/* Parses and validates the XML; returns 0 or the HTTP status to refuse
 * with (err says why). */
static int parse_request(const struct request *r, const char *xml,
                         struct owcp_request **out, struct owcp_error *err)
{
  struct owcp_error perr = {{0}};

  switch (owcp_request_parse(r->d->xml, xml, strlen(xml), out, &perr)) {
  case OWCP_XML_OK:
    return 0;
  case OWCP_XML_TOO_LARGE:
    owcp_error_set(err, "Parameter 'Request' is too large: %s", perr.msg);
    return OWCP_TOO_LARGE;
  case OWCP_XML_INVALID:
    owcp_error_set(err, "Parameter 'Request' is invalid: %s", perr.msg);
    return OWCP_BAD_REQUEST;
  default:
    owcp_error_set(err, "Parameter 'Request' could not be parsed: %s",
                   perr.msg);
    return OWCP_INTERNAL_ERROR;
  }
}

/* The identifier is REQUIRED (the spec's idempotency rule needs a key; an
 * absent one would make every retry a new confirmation for the user).
 * Control characters are refused because the identifier is echoed in
 * RD-Status and written into the confirmation log. */
static int check_identifier(const char *id, struct owcp_error *err)
{
  if (id == NULL || id[0] == '\0') {
    owcp_error_set(err, "<Header> attribute 'identifier' is required (it "
                        "makes resubmission idempotent) and must not be "
                        "empty.");
    return OWCP_BAD_REQUEST;
  }
  size_t len = strlen(id);
  if (len > RD_IDENTIFIER_MAX) {
    owcp_error_set(err,
                   "<Header> attribute 'identifier' is %zu octets long; at "
                   "most %d are allowed.",
                   len, RD_IDENTIFIER_MAX);
    return OWCP_BAD_REQUEST;
  }
  for (size_t i = 0; i < len; i++) {
    unsigned char ch = (unsigned char)id[i];
    if (ch < 0x20 || ch == 0x7f) {
      owcp_error_set(err,
                     "<Header> attribute 'identifier' contains a control "
                     "character at offset %zu.",
                     i);
      return OWCP_BAD_REQUEST;
    }
  }
  return 0;
}

/* type="Registration" is what the dispatcher's own device approvals are
 * called (cd_approval.c): clients ask their user for the new device's
 * number on exactly those, so a requestor may not send one. */
static int check_type(const char *type, struct owcp_error *err)
{
  if (type != NULL && strcmp(type, "Registration") == 0) {
    owcp_error_set(err, "<Request> type 'Registration' is reserved for the "
                        "dispatcher's device approvals.");
    return OWCP_BAD_REQUEST;
  }
  return 0;
}

/* <From> must name the authenticated requestor, compared as accounts
 * (domain case-insensitive, local part exact), so a requestor cannot make
 * a user believe another party is asking. */
static int check_from(const struct store_requestor *rq, const char *from,
                      struct owcp_error *err)
{
  char *want = NULL, *got = NULL;
  struct owcp_error aerr = {{0}};
  int status = 0;

  if (owcp_account_normalize(rq->address, strlen(rq->address), &want, &aerr) !=
      0) {
    owcp_error_set(err,
                   "The requestor's stored address is not an account: "
                   "%s",
                   aerr.msg);
    return OWCP_INTERNAL_ERROR;
  }
  if (owcp_account_normalize(from, strlen(from), &got, &aerr) != 0) {
    owcp_error_set(err, "<From> is not an account: %s", aerr.msg);
    status = OWCP_BAD_REQUEST;
  } else if (strcmp(want, got) != 0) {
    owcp_error_set(err, "<From> '%s' is not the authenticated requestor '%s'.",
                   got, want);
    status = OWCP_REFUSED;
  }
  free(want);
  free(got);
  return status;
}

/* <To> must be an account in one of our domains; *out receives its
 * normalised form (caller frees). */
static int check_to(const struct dispatcher *d, const char *to, char **out,
                    struct owcp_error *err)
{
  struct owcp_error aerr = {{0}};

  if (owcp_account_normalize(to, strlen(to), out, &aerr) != 0) {
    owcp_error_set(err, "<To> is not an account: %s", aerr.msg);
    return OWCP_BAD_REQUEST;
  }
  if (!dispatcher_serves_account(d, *out)) {
    owcp_error_set(err, "<To> '%s' is not in a domain this dispatcher serves.",
                   *out);
    free(*out);
    *out = NULL;
    return OWCP_NOT_FOUND;
  }
  return 0;
}

/* True when libcurl found the given URL part (user, password, ...). */
static bool url_has_part(CURLU *u, CURLUPart part)
{
  char *v = NULL;
  CURLUcode rc = curl_url_get(u, part, &v, 0);

  curl_free(v);
  return rc == CURLUE_OK;
}

/* Checks a parsed Completion URL against the transport policy. */
static int check_url_parts(const struct dispatcher_config *cfg, CURLU *u,
                           struct owcp_error *err)
{
  char *scheme = NULL, *host = NULL;
  int status = 0;

  if (url_has_part(u, CURLUPART_USER) || url_has_part(u, CURLUPART_PASSWORD) ||
      url_has_part(u, CURLUPART_OPTIONS)) {
    owcp_error_set(err, "Parameter 'Completion' must not carry user "
                        "information (credentials belong in no URI).");
    return OWCP_BAD_REQUEST;
  }
  if (url_has_part(u, CURLUPART_ZONEID)) {
    owcp_error_set(err, "Parameter 'Completion' must not carry an IPv6 zone "
                        "identifier.");
    return OWCP_BAD_REQUEST;
  }
  if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
      host[0] == '\0') {
    owcp_error_set(err, "Parameter 'Completion' must name a scheme and a "
                        "host.");
    status = OWCP_BAD_REQUEST;
  } else if (strcmp(scheme, "https") == 0) {
    status = 0;
  } else if (strcmp(scheme, "http") != 0 || !cfg->insecure_http) {
    owcp_error_set(err, "Parameter 'Completion' must be an https URI.");
    status = OWCP_BAD_REQUEST;
  } else if (!owcp_host_is_loopback(host)) {
    /* Plain http (--insecure-http) only on loopback, so that tests never
     * send outcomes across a network in clear text. */
    owcp_error_set(err,
                   "Parameter 'Completion' may use http only with a loopback "
                   "host (127.0.0.0/8, [::1] or localhost), not '%s'.",
                   host);
    status = OWCP_BAD_REQUEST;
  }
  curl_free(scheme);
  curl_free(host);
  return status;
}

/* Validates Completion with libcurl's URL parser (the same one the
 * DR-Complete sender uses, so what we check is what it will connect to)
 * and stores libcurl's normalised form in *out (caller frees). */
static int check_completion(const struct dispatcher_config *cfg,
                            const char *uri, char **out, struct owcp_error *err)
{
  /* Only printable ASCII: no spaces or controls for a parser to disagree
   * about, and a fragment is never sent to a server, so it can only
   * mislead whoever reads the stored URI. */
  for (size_t i = 0; uri[i] != '\0'; i++) {
    unsigned char ch = (unsigned char)uri[i];
    if (ch <= 0x20 || ch >= 0x7f) {
      owcp_error_set(err,
                     "Parameter 'Completion' contains a character outside "
                     "printable ASCII at offset %zu.",
                     i);
      return OWCP_BAD_REQUEST;
    }
    if (ch == '#') {
      owcp_error_set(err,
                     "Parameter 'Completion' must not carry a fragment ('#' "
                     "at offset %zu).",
                     i);
      return OWCP_BAD_REQUEST;
    }
  }

  CURLU *u = curl_url();
  if (u == NULL) {
    owcp_error_set(err, "Out of memory parsing parameter 'Completion'.");
    return OWCP_INTERNAL_ERROR;
  }
  int status = 0;
  CURLUcode rc = curl_url_set(u, CURLUPART_URL, uri, 0);
  if (rc != CURLUE_OK) {
    owcp_error_set(err, "Parameter 'Completion' is not an absolute URI: %s.",
                   curl_url_strerror(rc));
    status = OWCP_BAD_REQUEST;
  } else {
    status = check_url_parts(cfg, u, err);
  }
  if (status == 0) {
    char *norm = NULL;
    if (curl_url_get(u, CURLUPART_URL, &norm, 0) != CURLUE_OK ||
        (*out = strdup(norm)) == NULL) {
      owcp_error_set(err, "Out of memory normalising parameter 'Completion'.");
      status = OWCP_INTERNAL_ERROR;
    }
    curl_free(norm);
  }
  curl_url_cleanup(u);
  return status;
}

/* Timeout: the requestor's choice or the operator's default, never beyond
 * the operator's cap (a non-positive cap means none beyond the wire
 * limit). */
static int effective_timeout(const struct dispatcher_config *cfg,
                             const struct rd_confirm_in *in)
{
  int64_t t = in->has_timeout ? in->timeout : cfg->default_timeout;

  if (cfg->max_timeout > 0 && t > cfg->max_timeout)
    t = cfg->max_timeout;
  if (t <= 0 || t > OPS_TIMEOUT_MAX)
    t = OPS_TIMEOUT_MAX;
  return (int)t;
}

/* Runs every check that needs no database; returns 0 or the HTTP status
 * to refuse with. */
static int check_confirm(const struct request *r,
                         const struct rd_confirm_in *in,
                         struct confirm_checked *c, struct owcp_error *err)
{
  int status = parse_request(r, in->request, &c->req, err);
  if (status == 0)
    status = check_identifier(c->req->header.identifier, err);
  if (status == 0)
    status = check_type(c->req->header.type, err);
  if (status == 0)
    status = check_from(&r->requestor, c->req->header.from, err);
  if (status == 0)
    status = check_to(r->d, c->req->header.to, &c->to, err);
  if (status == 0 && in->completion != NULL)
    status = check_completion(&r->d->cfg, in->completion, &c->completion, err);
  return status;
}

/* Turns the store's protocol outcome into the reply. */
static enum MHD_Result reply_outcome(struct request *r,
                                     const struct confirm_checked *c,
                                     const struct store_confirm_out *out)
{
  char expires[OWCP_TIME_LEN];
  json_t *fields;

  switch (out->status) {
  case OWCP_INCOMPLETE:
    owcp_time_format(out->expires, expires);
    fields = json_pack("{s:s, s:s}", "Transaction", out->transaction, "Expires",
                       expires);
    return fields ? http_reply(r, OWCP_INCOMPLETE, fields) : MHD_NO;
  case OWCP_TOO_MANY_REQUESTS:
    svc_log(SVC_LOG_INFO, "request.refused",
            "RD-Confirm 429: requestor %s over its "
            "rate limit",
            r->requestor.address);
    /* http_reply turns an integer "Retry" into a Retry-After header. */
    fields = json_pack(
        "{s:s, s:i}", "Error",
        "This requestor's rate limit is exhausted; retry after 'Retry' "
        "seconds.",
        "Retry", out->retry_after > 0 ? out->retry_after : 1);
    return fields ? http_reply(r, OWCP_TOO_MANY_REQUESTS, fields) : MHD_NO;
  case OWCP_CONFLICT:
    return http_reply_error(
        r, OWCP_CONFLICT,
        "<Header> identifier was already used by this requestor for a "
        "different Request.");
  case OWCP_NOT_FOUND:
    return http_reply_error(r, OWCP_NOT_FOUND,
                            "<To> '%s' is not an active account.", c->to);
  case OWCP_REFUSED:
    if (out->retry_after > 0)
      return http_reply_error(r, OWCP_REFUSED,
                              "The user of '%s' reported a request from this "
                              "requestor as not theirs (\"Not Me\"); this "
                              "requestor may not send to '%s' for another %d "
                              "seconds.",
                              c->to, c->to, out->retry_after);
    if (r->d->cfg.require_registration)
      return http_reply_error(r, OWCP_REFUSED,
                              "<To> '%s' has not been RD-Registered by this "
                              "requestor, or the requestor is disabled.",
                              c->to);
    return http_reply_error(r, OWCP_REFUSED, "This requestor is disabled.");
  default:
    return http_reply_error(r, OWCP_INTERNAL_ERROR,
                            "Internal error: unexpected store status %d.",
                            out->status);
  }
}

/* Counts the attempt against the requestor's rate limit: one unit of this
 * process's lease when it holds one (no database call), else a chunk the
 * database counts at once, whose rest becomes the lease (ratelease.h;
 * while the token cache is not live, changes to the requestor could go
 * unnoticed, so exactly one unit is taken and nothing kept). Returns 0
 * with *retry_after > 0 when over the limit, or a store error. */
static int count_attempt(struct request *r, int *retry_after,
                         struct owcp_error *err)
{
  struct dispatcher *d = r->d;
  uint64_t gen;
  bool live = authcache_live_generation(d->auth, &gen);
  /* Read before the database's clock is: the lease's deadline is then
   * never after the window's end. */
  int64_t start_ms = notify_now_ms();
  struct store_rate_grant g;

  *retry_after = 0;
  if (live && ratelease_take(d->leases, r->requestor.id, gen, start_ms))
    return 0;
  int rc = store_rate_take(r->st, r->requestor.id, 0,
                           live ? RATELEASE_CHUNK_MAX : 1, &g, err);
  if (rc != 0)
    return rc;
  *retry_after = g.retry_after;
  if (g.retry_after == 0 && live && g.granted > 1)
    ratelease_put(d->leases, r->requestor.id, gen, g.granted - 1,
                  start_ms + g.valid_ms, notify_now_ms());
  return 0;
}

/* store_confirm_in.committed: keeps the transaction just committed, for
 * the CD-List it wakes and the CD-Reply and RD-Status that follow
 * (txcache.h). arg: the request. */
static void keep_created(void *arg, const struct store_confirm_in *in,
                         const struct store_confirm_out *out)
{
  const struct request *r = arg;
  struct txcache_created t = {
      .transaction = out->transaction,
      .account = in->account,
      .requestor_id = in->requestor_id,
      .requestor = r->requestor.address,
      .type = in->type,
      /* created_at as CD-List reports it: o_expires is created_at plus
       * the timeout, both rounded to the second the same way. */
      .issued = out->expires - in->timeout_seconds,
      .identifier = in->identifier,
      .request_xml = in->request_xml,
      .completion_uri = in->completion,
      .expires = out->expires,
  };

  txcache_put_created(r->d->txs, &t);
}

enum MHD_Result rd_confirm(struct request *r)
{
  const struct rd_confirm_in *in = r->in;
  struct confirm_checked c = {0};
  struct owcp_error err = {{0}};
  enum MHD_Result ret;

  int status = check_confirm(r, in, &c, &err);
  if (status != 0) {
    confirm_checked_free(&c);
    return http_reply_error(r, status, "%s", err.msg);
  }

  struct store_confirm_in sin = {
      .requestor_id = r->requestor.id,
      .account = c.to,
      .identifier = c.req->header.identifier,
      .request_xml = in->request,
      /* Stored NOT NULL; an absent type attribute reads as "". */
      .type = c.req->header.type ? c.req->header.type : "",
      .completion = c.completion,
      .timeout_seconds = effective_timeout(&r->d->cfg, in),
      .now = 0,
      .require_registration = r->d->cfg.require_registration,
      .rate_counted = true,
      .committed = keep_created,
      .committed_arg = r,
  };
  owcp_sha256(in->request, strlen(in->request), sin.request_sha256);

  struct store_confirm_out out = {0};
  int rc = count_attempt(r, &out.retry_after, &err);
  if (rc == 0 && out.retry_after > 0)
    out.status = OWCP_TOO_MANY_REQUESTS;
  else if (rc == 0)
    rc = store_confirm(r->st, &sin, &out, &err);
  if (rc != 0)
    ret = http_reply_store_error(r, rc, &err);
  else
    ret = reply_outcome(r, &c, &out);
  confirm_checked_free(&c);
  return ret;
}
