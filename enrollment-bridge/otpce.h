/*
 * otpce.h — the OTPCE front's checks before any RADIUS packet or
 * confirmation, in the order of seed §3.2.5.1 step 1–2. Pure: the HTTP
 * handler calls otpce_check() after otpce_request_parse() and, on
 * OTPCE_SUCCESS, goes on to RADIUS, the confirmation and cmc_ra_sign().
 */
#ifndef OWCP_BRIDGE_OTPCE_H
#define OWCP_BRIDGE_OTPCE_H

#include <stddef.h>

#include "owcp/idmap.h"
#include "otpce_xml.h"
#include "owcp/util.h"

/* What the checks depend on: the [identity] section and the [otpce]
 * template list. Nothing is owned. */
struct otpce_policy {
  const struct idmap *identity;
  const char *const *templates; /* each a dotted OID or a template name */
  size_t template_count;
};

/* What a request that passed the checks is about, for the confirmation's
 * Summary and table. All strings owned by the struct. */
struct otpce_checked {
  char *account;     /* the mapped OWCP account */
  char *template_id; /* the configured entry the request matched */
  char *subject;     /* the CSR's subject, RFC 2253 */
  char *upn;         /* the CSR's (first) UPN */
  char *client_host; /* the CSR's client-info machine name, or NULL */
};

/* Runs, in this order, and stops at the first failure:
 *  1. the CSR decodes and its signature verifies     -> OTPCE_OTHER_ERROR
 *  2. it names configured templates only             -> OTPCE_OTHER_ERROR
 *  3. its UPNs match username (csr_check_windows_user) -> OTPCE_OTHER_ERROR
 *  4. username maps to an OWCP account ([identity])  ->
 * OTPCE_AUTHENTICATION_ERROR and returns OTPCE_SUCCESS with *out filled
 * (release with otpce_checked_clear()), meaning "go on to RADIUS". On any other
 * result *out is zeroed and reason says why (for the log, never for the
 * client). A result the HTTP layer may not send to the client as-is never comes
 * back: there is no SignedCertRequest at this stage. */
enum otpce_status otpce_check(const struct otpce_policy *p,
                              const struct otpce_request *req,
                              struct otpce_checked *out,
                              struct owcp_error *reason);

void otpce_checked_clear(struct otpce_checked *c);

#endif
