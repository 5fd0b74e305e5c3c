/* libFuzzer target for parameter parsing: the input is loaded as a JSON
 * body (duplicates refused, as the dispatcher does) and parsed against a
 * table using every parameter type, then read as an application/owcp-
 * multipart body and parsed the same way, then checked as an account.
 * Invariants: failures leave no allocation behind and always carry an
 * error sentence that a response can hold; successes are consistent. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "owcp/jsonspec.h"
#include "owcp/status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_in {
  char *request;
  int64_t timeout;
  bool timeout_present;
  bool ready;
  int response;
  char **verification;
  size_t verification_n;
  unsigned char *receipt;
  size_t receipt_len;
  char *to;
  const json_t *extra;
};

static const char *const responses[] = {"Accept", "Reject", "Refuse", NULL};

static const struct owcp_param_spec fuzz_params[] = {
    OWCP_PARAM_STRING("Request", struct fuzz_in, request, OWCP_OPTIONAL, 65536),
    OWCP_PARAM_INT("Timeout", struct fuzz_in, timeout,
                   OWCP_PRESENT(struct fuzz_in, timeout_present), 1, 86400),
    OWCP_PARAM_BOOL("Ready", struct fuzz_in, ready, OWCP_DEFAULT(false)),
    OWCP_PARAM_ENUM("Response", struct fuzz_in, response, OWCP_OPTIONAL,
                    responses),
    OWCP_PARAM_STRINGS("Verification", struct fuzz_in, verification,
                       verification_n, OWCP_OPTIONAL, 8, 64),
    OWCP_PARAM_BASE64("Receipt", struct fuzz_in, receipt, receipt_len,
                      OWCP_OPTIONAL, 65536),
    OWCP_PARAM_ACCOUNT("To", struct fuzz_in, to, OWCP_OPTIONAL),
    OWCP_PARAM_OBJECT("Extra", struct fuzz_in, extra, OWCP_OPTIONAL),
    OWCP_PARAM_END};

/* The error sentence must be non-empty and fit in a JSON response. */
static void check_error(const struct owcp_error *err)
{
  if (err->msg[0] == '\0')
    abort();
  json_t *resp = owcp_status_json(OWCP_BAD_REQUEST, err->msg);
  if (resp == NULL)
    abort();
  json_decref(resp);
}

static void parse_and_check(const json_t *obj)
{
  struct fuzz_in in;
  struct owcp_error err = {{0}};
  int rc = owcp_params_parse(obj, fuzz_params, &in, &err);
  if (rc != 0) {
    if (rc != -1 && rc != OWCP_PARAMS_TOO_LARGE)
      abort();
    check_error(&err);
    if (in.request || in.verification || in.receipt || in.to || in.extra)
      abort();
    return;
  }
  if (in.timeout_present != (json_object_get(obj, "Timeout") != NULL))
    abort();
  if (in.timeout_present && (in.timeout < 1 || in.timeout > 86400))
    abort();
  if (in.response < -1 || in.response > 2)
    abort();
  if (in.verification != NULL &&
      (in.verification_n > 8 || in.verification[in.verification_n] != NULL))
    abort();
  if (in.receipt != NULL && (in.receipt_len == 0 || in.receipt_len > 65536))
    abort();
  if (in.to != NULL) {
    char *again = NULL;
    if (owcp_account_normalize(in.to, strlen(in.to), &again, NULL) != 0 ||
        strcmp(again, in.to) != 0)
      abort(); /* normalisation is idempotent */
    free(again);
  }
  owcp_params_free(fuzz_params, &in);
  if (in.request || in.verification || in.receipt || in.to)
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  json_error_t jerr;
  json_t *obj =
      json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
  if (obj != NULL) {
    parse_and_check(obj);
    json_decref(obj);
  }

  struct owcp_error err = {{0}};
  json_t *params = NULL;
  if (owcp_params_from_multipart(data, size, &params, &err) == 0) {
    if (!json_is_object(params))
      abort();
    parse_and_check(params);
    json_decref(params);
  } else {
    if (params != NULL)
      abort();
    check_error(&err);
  }

  char *account = NULL;
  if (owcp_account_normalize((const char *)data, size, &account, &err) == 0) {
    if (strlen(account) != size)
      abort();
    free(account);
  } else {
    if (account != NULL)
      abort();
    check_error(&err);
  }
  return 0;
}
