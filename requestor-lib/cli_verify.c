/*
 * cli_verify.c — `owcp-request verify FILE`, the auditor's command: the
 * receipt file (DER, PEM or base64), the client CA from --client-ca or
 * fetched from --dispatcher (GET {base}/CA over verified TLS), and
 * optionally the request that was sent (--request: the receipt must cover
 * exactly those bytes). Prints what the client signed. The exit status is
 * the signed answer (0 Accept, 1 Reject, 3 Refuse) only once everything
 * verified; 5 when anything does not, 4 for usage errors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* The client CA as PEM: the pinned file, else fetched from the
 * dispatcher. Returns 0, or the exit status to fail with (err set). */
static int client_ca(const struct opts *o, char **pem, bool *usage,
                     struct owcp_error *err)
{
  size_t len = 0;

  *usage = false;
  if (o->client_ca != NULL) {
    *usage = true;
    return cli_read_text(o->client_ca, pem, &len, err);
  }
  if (o->dispatcher == NULL) {
    *usage = true;
    owcp_error_set(err, "verify needs the client CA: --client-ca FILE, or "
                        "--dispatcher URL to fetch it (GET {base}/CA)");
    return -1;
  }
  return owcp_rq_fetch_ca(o->dispatcher, o->ca_file, o->insecure, pem, NULL,
                          err);
}

/* The receipt file's bytes as DER. */
static int receipt_der(const char *path, unsigned char **der, size_t *len,
                       struct owcp_error *err)
{
  unsigned char *raw = NULL;
  size_t raw_len = 0;
  int rc;

  if (owcp_file_read(path, FILE_MAX, &raw, &raw_len, err) != 0)
    return -1;
  rc = owcp_rq_receipt_decode(raw, raw_len, der, len, err);
  free(raw);
  return rc;
}

static void line(const char *label, const char *value)
{
  if (value != NULL)
    printf("%-13s %s\n", label, value);
}

/* What the client signed, one field a line. */
static void print_signed(const struct opts *o, const struct owcp_rq_result *r)
{
  printf("receipt:      verified (signature and signer certificate under "
         "the client CA)\n");
  line("transaction:", r->transaction);
  line("account:", r->account);
  line("client:", r->client);
  line("response:", owcp_rq_response_name(r->response));
  for (size_t i = 0; i < r->verification_count; i++)
    line("verification:", r->verification[i]);
  if (r->verification_count == 0)
    line("verification:", "(none)");
  line("signed:", r->signed_at);
  line("match:", r->match);
  line("reason:", r->reason);
  line("request from:", r->from);
  line("identifier:", r->identifier);
  if (o->request_file != NULL)
    printf("%-13s covers exactly %s\n", "request:", o->request_file);
  else
    printf("%-13s not compared with a request you sent (no --request): the "
           "receipt proves what the user of %s answered to the request it "
           "carries\n",
           "request:", r->account != NULL ? r->account : "the account");
}

int cli_cmd_verify(const struct opts *o)
{
  struct owcp_error err = {{0}};
  struct owcp_rq_result r;
  unsigned char *der = NULL;
  char *ca = NULL, *xml = NULL;
  size_t der_len = 0, xml_len = 0;
  const char *file = o->positional != NULL ? o->positional : o->receipt;
  bool usage = false;
  int code;

  memset(&r, 0, sizeof r);
  if (file == NULL || (o->positional != NULL && o->receipt != NULL))
    return cli_fail_local(o, OWCP_RQ_INVALID_INPUT,
                          "verify needs exactly one receipt file: "
                          "owcp-request verify FILE (or --receipt FILE)");
  if (receipt_der(file, &der, &der_len, &err) != 0 ||
      (o->request_file != NULL &&
       cli_read_text(o->request_file, &xml, &xml_len, &err) != 0)) {
    code = cli_fail_local(o, OWCP_RQ_INVALID_INPUT, err.msg);
    goto done;
  }
  if (client_ca(o, &ca, &usage, &err) != 0) {
    code = cli_fail_local(
        o, usage ? OWCP_RQ_INVALID_INPUT : OWCP_RQ_NETWORK_ERROR, err.msg);
    goto done;
  }
  if (owcp_rq_verify_receipt(der, der_len, ca, xml, xml_len, o->transaction,
                             NULL, NULL, &r, &err) != 0) {
    r.status = OWCP_RQ_VERIFY_FAILED;
    code = cli_report(o, &r, err.msg);
  } else if (o->json) {
    code = cli_report(o, &r, NULL);
  } else {
    print_signed(o, &r);
    code = r.response == OWCP_RQ_ACCEPT   ? EXIT_ACCEPTED
           : r.response == OWCP_RQ_REJECT ? EXIT_REJECTED
                                          : EXIT_REFUSED;
  }
done:
  owcp_rq_result_free(&r);
  free(der);
  free(ca);
  free(xml);
  return code;
}
