/*
 * rd_final.c — RD-Final (binding §4): the requestor closes a transaction.
 * An answered one yields its result, as RD-Status would; anything else is
 * cancelled (the store does that atomically with its log entry, its
 * DR-Complete and its NOTIFY, so a client's CD-Reply racing with us either
 * wins with 200 here or loses with 408 there, never both).
 */
#include "ops.h"

const struct owcp_param_spec rd_final_params[] = {
    OWCP_PARAM_STRING("Transaction", struct rd_final_in, transaction,
                      OWCP_REQUIRED, OPS_ID_MAX),
    OWCP_PARAM_END};

/* The 408 reply: the result fields the store still knows, plus why. */
static enum MHD_Result reply_cancelled(struct request *r,
                                       const struct store_result *res)
{
  json_t *fields = http_result_fields(res);

  if (fields == NULL ||
      json_object_set_new(fields, "Error",
                          json_string("The transaction was not answered; it "
                                      "is cancelled (or had already expired "
                                      "or been cancelled).")) != 0) {
    json_decref(fields);
    return MHD_NO;
  }
  return http_reply(r, OWCP_TIMEOUT, fields);
}

enum MHD_Result rd_final(struct request *r)
{
  const struct rd_final_in *in = r->in;
  struct store_result res = {0};
  struct owcp_error err = {{0}};
  enum MHD_Result ret;

  int rc = store_final(r->st, r->requestor.id, in->transaction, 0, &res, &err);
  if (rc != 0)
    return http_reply_store_error(r, rc, &err);

  switch (res.status) {
  case OWCP_TIMEOUT:
    ret = reply_cancelled(r, &res);
    break;
  default:
    ret = http_reply_tx_result(r, &res);
    break;
  }
  store_result_free(&res);
  return ret;
}
