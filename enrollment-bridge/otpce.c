/* The OTPCE checks before RADIUS; see otpce.h for the order. */
#include "otpce.h"

#include <stdlib.h>
#include <string.h>

#include "csr_check.h"

/* Steps 1–3: everything the CSR itself must satisfy. */
static int check_csr(const struct otpce_policy *p,
                     const struct otpce_request *req,
                     const struct csr_info *info, const char **matched,
                     struct owcp_error *reason)
{
  if (csr_verify_signature(info, reason) != 0 ||
      csr_template_check(info, p->templates, p->template_count, matched,
                         reason) != 0 ||
      csr_check_windows_user(info, req->username, p->identity, reason) != 0)
    return -1;
  return 0;
}

static int fill_checked(const struct csr_info *info, const char *matched,
                        struct otpce_checked *out, struct owcp_error *reason)
{
  out->template_id = strdup(matched);
  out->subject = strdup(info->subject);
  out->upn = strdup(info->upns[0]);
  if (info->client_host != NULL)
    out->client_host = strdup(info->client_host);
  if (out->template_id == NULL || out->subject == NULL || out->upn == NULL ||
      (info->client_host != NULL && out->client_host == NULL)) {
    owcp_error_set(reason, "out of memory");
    return -1;
  }
  return 0;
}

enum otpce_status otpce_check(const struct otpce_policy *p,
                              const struct otpce_request *req,
                              struct otpce_checked *out,
                              struct owcp_error *reason)
{
  memset(out, 0, sizeof *out);
  struct csr_info *info = NULL;
  const char *matched = NULL;
  enum otpce_status status = OTPCE_OTHER_ERROR;
  if (csr_info_parse(req->csr_der, req->csr_len, &info, reason) != 0 ||
      check_csr(p, req, info, &matched, reason) != 0)
    goto out;
  if (idmap_map(p->identity, req->username, &out->account, reason) != 0) {
    status = OTPCE_AUTHENTICATION_ERROR;
    goto out;
  }
  if (fill_checked(info, matched, out, reason) == 0)
    status = OTPCE_SUCCESS;
out:
  csr_info_free(info);
  if (status != OTPCE_SUCCESS)
    otpce_checked_clear(out);
  return status;
}

void otpce_checked_clear(struct otpce_checked *c)
{
  free(c->account);
  free(c->template_id);
  free(c->subject);
  free(c->upn);
  free(c->client_host);
  memset(c, 0, sizeof *c);
}
