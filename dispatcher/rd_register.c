/*
 * rd_register.c — RD-Register and RD-Deregister (binding §4): a requestor
 * declares (or withdraws) its intent to send confirmations to an account.
 * With --require-registration, RD-Confirm to an unregistered account is
 * refused; RD-Register's Ready tells the requestor whether the user can
 * answer at all (an active account with at least one client).
 */
#include "ops.h"

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

enum MHD_Result rd_register(struct request *r)
{
  const struct rd_register_in *in = r->in;
  struct owcp_error err = {{0}};
  int status = 0;
  bool ready = false;

  if (!dispatcher_serves_account(r->d, in->to))
    return reply_not_served(r, in->to);
  int rc =
      store_rd_register(r->st, r->requestor.id, in->to, &status, &ready, &err);
  if (rc != 0)
    return http_reply_store_error(r, rc, &err);
  switch (status) {
  case OWCP_OK: {
    json_t *fields = json_pack("{s:b}", "Ready", ready);
    return fields ? http_reply(r, OWCP_OK, fields) : MHD_NO;
  }
  case OWCP_REFUSED:
    return http_reply_error(r, OWCP_REFUSED,
                            "Policy refuses this requestor's registration "
                            "for '%s'.",
                            in->to);
  case OWCP_NOT_FOUND:
    return reply_unknown(r, in->to);
  default:
    return reply_unexpected(r, status);
  }
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
