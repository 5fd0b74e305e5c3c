/*
 * rd_register.c — RD-Register and RD-Deregister (binding §4): a requestor
 * declares (or withdraws) its intent to send confirmations to an account.
 * RD-Register's Ready tells the requestor whether the user can answer at
 * all (an active account with at least one client).
 *
 * With --require-registration, RD-Confirm goes only to accounts whose user
 * consented: the first RD-Register sends the account's clients a
 * confirmation request of type "Consent" ("Allow access@example.com to send
 * you confirmation requests?"), written here with core's Request writer,
 * and answers 202 with its Transaction; repeated, it answers 200 once the
 * user accepted, 403 after a reject, and 202 with the same Transaction
 * while undecided (docs/protocol-decisions-rd.md, "Consent").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"
#include "owcp/request.h"
#include "owcp/request_write.h"

/* Used when the operator configured neither a registration nor a default
 * timeout. */
#define RD_CONSENT_TIMEOUT_DEFAULT 600

const struct owcp_param_spec rd_register_params[] = {
    OWCP_PARAM_ACCOUNT("To", struct rd_register_in, to, OWCP_REQUIRED),
    OWCP_PARAM_END};

/* Same shape as RD-Register: one account. */
const struct owcp_param_spec rd_deregister_params[] = {
    OWCP_PARAM_ACCOUNT("To", struct rd_register_in, to, OWCP_REQUIRED),
    OWCP_PARAM_END};

/* An account outside our domains cannot exist here: 404 without asking
 * the database, the same answer an unknown account in our domain gets. */
static enum MHD_Result reply_not_served(struct request *r, const char *to)
{
  return http_reply_error(r, OWCP_NOT_FOUND,
                          "Parameter 'To' ('%s') is not in a domain this "
                          "dispatcher serves.",
                          to);
}

static enum MHD_Result reply_unknown(struct request *r, const char *to)
{
  return http_reply_error(
      r, OWCP_NOT_FOUND, "Parameter 'To' ('%s') is not an active account.", to);
}

static enum MHD_Result reply_unexpected(struct request *r, int status)
{
  return http_reply_error(r, OWCP_INTERNAL_ERROR,
                          "Internal error: unexpected store status %d.",
                          status);
}

/* ---- the consent request -------------------------------------------------
 */

/* What RD-Register hands the store when consent is required: a fresh
 * transaction id and the request the user would see. All malloc()ed. */
struct consent {
  char *tx;
  char identifier[OPS_ID_MAX + 32];
  char *xml;
};

static void consent_clear(struct consent *c)
{
  free(c->tx);
  free(c->xml);
}

/* Seconds the user has to answer: the device-approval timeout, which is
 * the operator's "how long a registration waits". */
static int consent_timeout(const struct dispatcher *d)
{
  if (d->cfg.registration_timeout > 0)
    return d->cfg.registration_timeout;
  return d->cfg.default_timeout > 0 ? d->cfg.default_timeout
                                    : RD_CONSENT_TIMEOUT_DEFAULT;
}

/* The request is from the requestor it concerns (the transaction is the
 * requestor's own, so RD-Status works on it), but the dispatcher writes
 * every byte: the requestor chooses nothing the user sees but its
 * authenticated address. No PIN: consenting to receive requests grants
 * nothing by itself, and every later request may ask for one. The result
 * is run through the same validator as a requestor's RD-Confirm. */
static int consent_make(struct request *r, const char *to, struct consent *c,
                        struct owcp_error *err)
{
  char summary[STORE_ADDRESS_MAX + 64];
  struct owcp_request *req = NULL;
  struct owcp_error why = {{0}};
  size_t len = 0;

  c->tx = owcp_random_id();
  if (c->tx == NULL) {
    owcp_error_set(err, "could not generate a transaction id");
    return -1;
  }
  snprintf(c->identifier, sizeof c->identifier, "urn:owcp:consent:%s", c->tx);
  snprintf(summary, sizeof summary,
           "Allow %s to send you confirmation requests?", r->requestor.address);
  if (owcp_request_write_simple(r->requestor.address, to, "Consent",
                                c->identifier, summary, NULL, NULL, false,
                                &c->xml, &len, err) != 0)
    return -1;
  if (owcp_request_parse(r->d->xml, c->xml, len, &req, &why) != OWCP_XML_OK) {
    owcp_error_set(err, "the consent request does not validate: %s", why.msg);
    return -1;
  }
  owcp_request_free(req);
  return 0;
}

/* 403 for RD-Register: why, in one sentence. */
static enum MHD_Result reply_refused(struct request *r, const char *to,
                                     const struct store_rd_register_out *out)
{
  if (strcmp(out->reason, "rejected") == 0)
    return http_reply_error(r, OWCP_REFUSED,
                            "The user of '%s' refused this requestor's "
                            "consent request (transaction '%s'); only an "
                            "administrator can record consent now.",
                            to, out->transaction);
  if (strcmp(out->reason, "no-client") == 0)
    return http_reply_error(r, OWCP_REFUSED,
                            "Account '%s' has no active client to ask for "
                            "consent; register again once it has one.",
                            to);
  return http_reply_error(r, OWCP_REFUSED,
                          "Policy refuses this requestor's registration "
                          "for '%s'.",
                          to);
}

static enum MHD_Result reply_register(struct request *r, const char *to,
                                      const struct store_rd_register_out *out)
{
  char expires[OWCP_TIME_LEN];
  json_t *fields;

  switch (out->status) {
  case OWCP_OK:
    fields = json_pack("{s:b}", "Ready", out->ready);
    return fields ? http_reply(r, OWCP_OK, fields) : MHD_NO;
  case OWCP_INCOMPLETE:
    owcp_time_format(out->expires, expires);
    fields = json_pack("{s:s, s:s}", "Transaction", out->transaction, "Expires",
                       expires);
    return fields ? http_reply(r, OWCP_INCOMPLETE, fields) : MHD_NO;
  case OWCP_TOO_MANY_REQUESTS:
    /* http_reply turns an integer "Retry" into a Retry-After header. */
    fields = json_pack("{s:s, s:i}", "Error",
                       "This requestor cancelled its last consent request "
                       "for this account; it may ask again after 'Retry' "
                       "seconds.",
                       "Retry", out->retry_after > 0 ? out->retry_after : 1);
    return fields ? http_reply(r, OWCP_TOO_MANY_REQUESTS, fields) : MHD_NO;
  case OWCP_REFUSED:
    return reply_refused(r, to, out);
  case OWCP_NOT_FOUND:
    return reply_unknown(r, to);
  default:
    return reply_unexpected(r, out->status);
  }
}

enum MHD_Result rd_register(struct request *r)
{
  const struct rd_register_in *in = r->in;
  struct store_rd_register_in sin = {0};
  struct store_rd_register_out out;
  struct consent c = {0};
  struct owcp_error err = {{0}};
  enum MHD_Result ret;
  int rc;

  if (!dispatcher_serves_account(r->d, in->to))
    return reply_not_served(r, in->to);
  sin.requestor_id = r->requestor.id;
  sin.account = in->to;
  sin.require_consent = r->d->cfg.require_registration;
  if (sin.require_consent) {
    if (consent_make(r, in->to, &c, &err) != 0) {
      consent_clear(&c);
      return http_reply_error(r, OWCP_INTERNAL_ERROR, "%s", err.msg);
    }
    sin.transaction = c.tx;
    sin.identifier = c.identifier;
    sin.request_xml = c.xml;
    sin.timeout_seconds = consent_timeout(r->d);
  }
  rc = store_rd_register(r->st, &sin, &out, &err);
  if (rc != 0)
    ret = http_reply_store_error(r, rc, &err);
  else
    ret = reply_register(r, in->to, &out);
  consent_clear(&c);
  return ret;
}

enum MHD_Result rd_deregister(struct request *r)
{
  const struct rd_register_in *in = r->in;
  struct owcp_error err = {{0}};
  int status = 0;

  if (!dispatcher_serves_account(r->d, in->to))
    return reply_not_served(r, in->to);
  int rc = store_rd_deregister(r->st, r->requestor.id, in->to, &status, &err);
  if (rc != 0)
    return http_reply_store_error(r, rc, &err);
  switch (status) {
  case OWCP_OK:
    return http_reply(r, OWCP_OK, NULL);
  case OWCP_NOT_FOUND:
    return reply_unknown(r, in->to);
  default:
    return reply_unexpected(r, status);
  }
}
