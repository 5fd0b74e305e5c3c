/*
 * cd_approval.c — the first CD-Register without Code or Transaction (spec
 * §5): the account's existing clients are asked "Register a new device
 * …?" and the new device gets 202 with the transaction and the two digits
 * (Match) its user must type on the approving device.
 *
 * Against push fatigue: at most one approval per account name is pending
 * and approvals_per_hour are asked per hour (both 429 with Retry), and
 * every unauthenticated CD-Register that can create something counts
 * against register_per_minute_per_address. Against an account oracle: an
 * account that does not exist, is disabled, has no client or has blocked
 * approvals with "Not Me" gets the same 202 (Transaction, Expires, Match)
 * after the same work — the request XML is built and validated, one row
 * is recorded and the caps apply — only nobody is asked, so the approval
 * expires as an unanswered one does. The approval request names when and
 * from which address it was asked; the digits are never in it.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cd_register.h"
#include "owcp/request.h"
#include "owcp/request_write.h"
#include "owcp/service/log.h"

/* Used when the operator configured no registration timeout. */
#define CD_APPROVAL_TIMEOUT_DEFAULT 300

/* Room for a client address as the store keeps it ("…::/64"). */
#define CD_ADDRESS_KEY_MAX 64

/* ---- the per-address limit ---------------------------------------------- */

/* The key the per-address limit counts under: an IPv4 address as is (also
 * when IPv4-mapped), an IPv6 address reduced to its /64, since one host
 * commonly holds a whole /64. */
static void address_key(const char *client, char *out, size_t size)
{
  unsigned char a6[16];
  char text[INET6_ADDRSTRLEN];

  if (inet_pton(AF_INET6, client, a6) != 1) {
    snprintf(out, size, "%s", client);
    return;
  }
  static const unsigned char mapped[12] = {0, 0, 0, 0, 0,    0,
                                           0, 0, 0, 0, 0xff, 0xff};
  if (memcmp(a6, mapped, sizeof mapped) == 0 &&
      inet_ntop(AF_INET, a6 + 12, text, sizeof text) != NULL) {
    snprintf(out, size, "%s", text);
    return;
  }
  memset(a6 + 8, 0, 8);
  if (inet_ntop(AF_INET6, a6, text, sizeof text) == NULL)
    snprintf(out, size, "%s", client);
  else
    snprintf(out, size, "%s/64", text);
}

bool cd_register_rate_ok(const struct reg *g, enum MHD_Result *ret)
{
  struct request *r = g->r;
  struct owcp_error err = {{0}};
  char key[CD_ADDRESS_KEY_MAX];
  int retry = 0, rc;

  address_key(r->svc->client, key, sizeof key);
  rc = store_register_rate_take(r->st, key, r->d->cfg.register_per_minute, 0,
                                &retry, &err);
  if (rc != 0) {
    *ret = http_reply_store_error(r, rc, &err);
    return false;
  }
  if (retry <= 0)
    return true;
  svc_log(SVC_LOG_INFO, "request.refused",
          "CD-Register 429: address %s over "
          "register_per_minute_per_address",
          key);
  *ret = cd_reply_fields(r, 429,
                         json_pack("{s:s, s:i}", "Error",
                                   "Too many CD-Register requests from this "
                                   "address; retry after 'Retry' seconds.",
                                   "Retry", retry));
  return false;
}

/* ---- the approval request ------------------------------------------------ */

/* Two uniformly random decimal digits (rejection sampling: 200 of the 256
 * octet values map evenly onto 00..99). 0, or -1 when the generator
 * failed. */
static int match_digits(char out[3])
{
  unsigned char b = 255;

  do {
    if (owcp_random_bytes(&b, 1) != 0)
      return -1;
  } while (b >= 200);
  out[0] = (char)('0' + (b % 100) / 10);
  out[1] = (char)('0' + b % 10);
  out[2] = '\0';
  return 0;
}

/* The "Register a new device …?" request sent to the account's clients,
 * written by core's Request writer so that whatever the description
 * contains is escaped, never pasted into markup. It names when and from
 * which address it was asked, so that the user can tell an ask of their
 * own from someone else's; it never carries the digits. *xml is
 * malloc()ed (caller frees). */
static int approval_xml(const struct reg *g, const char *tx, char **xml,
                        size_t *len, struct owcp_error *err)
{
  char summary[OPS_DESCRIPTION_MAX + STORE_ADDRESS_MAX + OWCP_TIME_LEN +
               sizeof g->r->svc->client + 96];
  char identifier[STORE_ID_MAX + 32];
  char now[OWCP_TIME_LEN];

  owcp_time_format(time(NULL), now);
  if ((size_t)snprintf(summary, sizeof summary,
                       "Register a new device \u201c%s\u201d for %s? Asked "
                       "%s from address %s.",
                       g->in->description, g->in->account, now,
                       g->r->svc->client) >= sizeof summary ||
      (size_t)snprintf(identifier, sizeof identifier,
                       "urn:owcp:registration:%s", tx) >= sizeof identifier) {
    owcp_error_set(err, "the registration request text is too long");
    return -1;
  }
  return owcp_request_write_simple(g->r->d->system_address, g->in->account,
                                   "Registration", identifier, summary, NULL,
                                   NULL, true, xml, len, err);
}

/* Runs the generated request through the same validator as a requestor's
 * RD-Confirm, so clients are never sent anything a requestor could not
 * send. Returns 0, or the HTTP status to answer with err set; an invalid
 * result can only come from the description. */
static int approval_validate(const struct reg *g, const char *xml, size_t len,
                             struct owcp_error *err)
{
  struct owcp_error why = {{0}};
  struct owcp_request *req = NULL;
  enum owcp_xml_result xr;

  xr = owcp_request_parse(g->r->d->xml, xml, len, &req, &why);
  owcp_request_free(req);
  switch (xr) {
  case OWCP_XML_OK:
    return 0;
  case OWCP_XML_INVALID:
    owcp_error_set(err,
                   "parameter 'Description' cannot be shown in a "
                   "confirmation request: %s",
                   why.msg);
    return 400;
  case OWCP_XML_TOO_LARGE:
    owcp_error_set(err,
                   "parameter 'Description' makes the registration request "
                   "too large: %s",
                   why.msg);
    return 413;
  default:
    owcp_error_set(err, "could not validate the registration request: %s",
                   why.msg);
    return 500;
  }
}

/* Seconds the account's clients have to approve. */
static int approval_timeout(const struct dispatcher *d)
{
  if (d->cfg.registration_timeout > 0)
    return d->cfg.registration_timeout;
  if (d->cfg.default_timeout > 0)
    return d->cfg.default_timeout;
  return CD_APPROVAL_TIMEOUT_DEFAULT;
}

/* The store's answer to the first ask. */
static enum MHD_Result approval_outcome(const struct reg *g,
                                        const struct store_approval_out *out,
                                        const char *match)
{
  struct request *r = g->r;
  char expires[OWCP_TIME_LEN];

  switch (out->status) {
  case 202:
    if (!out->sent)
      svc_log(SVC_LOG_INFO, "registration.unsent",
              "CD-Register for %s from %s: unknown, disabled or client-less "
              "account, or approvals blocked; answered as pending, nobody "
              "asked",
              g->in->account, r->svc->client);
    owcp_time_format(out->expires, expires);
    return cd_reply_fields(r, 202,
                           json_pack("{s:s, s:s, s:s}", "Transaction",
                                     out->transaction, "Expires", expires,
                                     "Match", match));
  case 404:
    return cd_register_open(g);
  case 429:
    return cd_reply_fields(
        r, 429,
        json_pack("{s:s, s:i}", "Error",
                  "A device approval for this account is already pending, "
                  "or too many were asked within the last hour; retry "
                  "after 'Retry' seconds.",
                  "Retry", out->retry_after > 0 ? out->retry_after : 1));
  default:
    return http_reply_error(r, 500,
                            "the store answered an unexpected status %d to "
                            "CD-Register",
                            out->status);
  }
}

/* Records the ask (and, for an account that can approve, the request to
 * its clients) and answers. */
static enum MHD_Result approval_start(const struct reg *g, const char *tx,
                                      const char *xml)
{
  struct request *r = g->r;
  struct owcp_error err = {{0}};
  struct store_approval_in in = {0};
  struct store_approval_out out;
  char match[3];
  int rc;

  if (match_digits(match) != 0)
    return http_reply_error(r, 500, "could not generate the number to match");
  in.account = g->in->account;
  in.description = g->in->description;
  memcpy(in.csr_sha256, g->csr_sha256, OWCP_SHA256_LEN);
  in.transaction = tx;
  in.request_xml = xml;
  in.system_address = r->d->system_address;
  in.timeout_seconds = approval_timeout(r->d);
  in.now = 0;
  in.asked_from = r->svc->client;
  in.match = match;
  in.per_hour = r->d->cfg.approvals_per_hour;
  in.open = r->d->cfg.open;
  rc = store_cd_approval_start(r->st, &in, &out, &err);
  if (rc != 0)
    return http_reply_store_error(r, rc, &err);
  return approval_outcome(g, &out, match);
}

enum MHD_Result cd_approval_ask(const struct reg *g)
{
  struct owcp_error err = {{0}};
  enum MHD_Result ret;
  char *tx;
  char *xml = NULL;
  size_t len = 0;
  int status;

  if (!cd_register_rate_ok(g, &ret))
    return ret;
  if ((tx = owcp_random_id()) == NULL)
    return http_reply_error(g->r, 500, "could not generate a transaction id");
  if (approval_xml(g, tx, &xml, &len, &err) != 0)
    ret = http_reply_error(g->r, 500, "%s", err.msg);
  else if ((status = approval_validate(g, xml, len, &err)) != 0)
    ret = http_reply_error(g->r, status, "%s", err.msg);
  else
    ret = approval_start(g, tx, xml);
  free(xml);
  free(tx);
  return ret;
}
