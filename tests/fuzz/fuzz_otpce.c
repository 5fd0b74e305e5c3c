/* libFuzzer target: arbitrary bytes through the OTPCE request parser and,
 * when a request is accepted, through the checks before RADIUS (the CSR
 * decoder, signature, template and UPN checks, the identity mapping); and
 * the same bytes directly through the CSR reader, which the XML layer
 * would otherwise reach only through valid base64. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "csr_check.h"
#include "otpce.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Built once and read-only afterwards, as in the bridge; a static pointer
 * is acceptable in a fuzzer (and only here). */
static struct otpce_parser *parser;
static struct idmap ids;

static void init(void)
{
  struct owcp_error err;
  parser = otpce_parser_new(0, &err);
  if (parser == NULL ||
      idmap_add_rule(&ids, "EXAMPLE\\* -> *@example.com", &err) != 0 ||
      idmap_add_upn_suffix(&ids, "EXAMPLE = example.com", &err) != 0)
    abort();
}

static void check_csr_bytes(const uint8_t *data, size_t size)
{
  static const char *const templates[] = {"1.3.6.1.4.1.311.21.8.1.1", "User"};
  struct csr_info *info = NULL;
  struct owcp_error err;
  if (csr_info_parse(data, size, &info, &err) != 0) {
    if (info != NULL)
      abort();
    return;
  }
  const char *matched = NULL;
  (void)csr_verify_signature(info, &err);
  (void)csr_template_check(info, templates, 2, &matched, &err);
  (void)csr_check_windows_user(info, "EXAMPLE\\alice", &ids, &err);
  csr_info_free(info);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (parser == NULL)
    init();
  check_csr_bytes(data, size);
  struct otpce_request req;
  struct owcp_error err;
  if (otpce_request_parse(parser, (const char *)data, size, &req, &err) !=
      OWCP_XML_OK) {
    if (req.username != NULL || req.csr_der != NULL)
      abort(); /* a failed parse must not hand out a request */
    return 0;
  }
  static const char *const templates[] = {"1.3.6.1.4.1.311.21.8.1.1"};
  const struct otpce_policy policy = {
      .identity = &ids, .templates = templates, .template_count = 1};
  struct otpce_checked checked;
  if (otpce_check(&policy, &req, &checked, &err) == OTPCE_SUCCESS &&
      checked.account == NULL)
    abort();
  otpce_checked_clear(&checked);
  otpce_request_clear(&req);
  return 0;
}
