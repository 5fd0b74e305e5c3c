/*
 * csr_check.h — what the enrollment bridge reads from, and checks in, a
 * PKCS#10 request a Windows client sends (OTPCE now, WSTEP later): the
 * signature, the certificate template it names and the UPNs it asks for.
 * Pure: no I/O, no configuration parsing.
 *
 * Template forms (all three are read; interop notes §1):
 *  - v2: extension 1.3.6.1.4.1.311.21.7, SEQUENCE {templateID OID,
 *    major INTEGER OPTIONAL, minor INTEGER OPTIONAL} (MS-WCCE makes both
 *    versions optional; only the OID is compared);
 *  - v1: extension 1.3.6.1.4.1.311.20.2, a string (BMPString in practice)
 *    holding the template name;
 *  - a request attribute 1.3.6.1.4.1.311.13.2.1 (EnrollmentNameValuePair
 *    SEQUENCE {name BMPString, value BMPString}) whose name is
 *    `CertificateTemplate` (case-insensitively): its value names the
 *    template, as `certreq -attrib CertificateTemplate:NAME` writes it.
 * Every form present must name a configured template; a request naming
 * none is refused, and so is one naming a configured template in one form
 * and another template in a second form (the CA could pick either).
 *
 * The signature: X509_REQ_verify with the request's own key. SHA-1 RSA is
 * accepted because Windows still signs with it (example 4.1); OpenSSL's
 * security level governs TLS and chain building, not this call. MD5/MD2
 * and unknown algorithms are refused by an allow-list.
 */
#ifndef OWCP_BRIDGE_CSR_CHECK_H
#define OWCP_BRIDGE_CSR_CHECK_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/x509.h>

#include "owcp/idmap.h"
#include "owcp/util.h"

/* Largest DER request accepted (an RSA-4096 Windows request is ~2.5 KiB). */
#define CSR_MAX_DER 65536

enum csr_template_form {
  CSR_TEMPLATE_V2,       /* value: the OID in dotted form */
  CSR_TEMPLATE_V1,       /* value: the name, UTF-8 */
  CSR_TEMPLATE_ATTRIBUTE /* value: the name, UTF-8 */
};

struct csr_template {
  enum csr_template_form form;
  char *value;
};

/* What csr_info_parse() read. Everything is owned by the struct. */
struct csr_info {
  X509_REQ *req;
  char *subject;                  /* RFC 2253 one-line, UTF-8 */
  size_t template_count;          /* every indication, request order */
  struct csr_template *templates; /* (extensions first, then attributes) */
  size_t upn_count;
  char **upns;       /* SAN otherName 1.3.6.1.4.1.311.20.2.3 (UTF-8) */
  char *client_host; /* 1.3.6.1.4.1.311.21.20 machine name, or NULL */
};

/* Decodes a DER PKCS#10 request (at most CSR_MAX_DER bytes, no trailing
 * bytes) and extracts the fields above. A malformed template extension or
 * attribute, a UPN that is not a UTF8String or contains a NUL, or a
 * duplicated extension is an error. client-info is informational: when it
 * does not decode it is left NULL. On success *out is new (csr_info_free);
 * on failure NULL with err set. */
int csr_info_parse(const unsigned char *der, size_t len, struct csr_info **out,
                   struct owcp_error *err);

void csr_info_free(struct csr_info *info);

/* 0 when the signature algorithm is allowed and the signature verifies
 * with the request's public key. */
int csr_verify_signature(const struct csr_info *info, struct owcp_error *err);

/* Checks the request's template indications against allowed[0..n) (each a
 * dotted OID, compared with v2 indications, or a name, compared
 * ASCII-case-insensitively with v1 and attribute indications). On success
 * *matched points at the allowed entry the request names (the v2 one when
 * several forms are present). */
int csr_template_check(const struct csr_info *info, const char *const *allowed,
                       size_t n, const char **matched, struct owcp_error *err);

/* The OTPCE user check: username must be DOMAIN\user; the request must
 * carry at least one UPN, and every UPN must be user@suffix where user
 * equals the part after '\' and suffix is idmap_upn_suffix(DOMAIN) (both
 * ASCII-case-insensitively). The subject DN and client-info are not
 * compared: Windows puts the display name in the DN ("CN=Alice Example")
 * and, when enrolling from the logon screen, the machine account
 * (`DOMAIN\HOST$`) in client-info, so comparing them would refuse
 * Windows's own example 4.1. */
int csr_check_windows_user(const struct csr_info *info, const char *username,
                           const struct idmap *ids, struct owcp_error *err);

#endif
