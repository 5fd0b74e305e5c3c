/* The WSTEP front's payload, renewal and plan checks; see wstep_policy.h. */
#include "wstep_policy.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/core_names.h>
#include <openssl/err.h>

#include "csr_check.h"

#define OID_UPN "1.3.6.1.4.1.311.20.2.3"
#define OID_PKIDATA "1.3.6.1.5.5.7.12.2"
#define RSA_MIN_BITS 2048
#define RSA_MAX_BITS 16384

/* ---- the payload ---------------------------------------------------------
 */

/* The tag of the first element inside the outer SEQUENCE: V_ASN1_OBJECT
 * for a ContentInfo, V_ASN1_SEQUENCE for a PKCS#10; -1 otherwise. */
static int sniff(const unsigned char *der, size_t len)
{
  const unsigned char *p = der;
  long n = 0;
  int tag = 0, cls = 0;
  if (len < 2 || len > LONG_MAX ||
      (ASN1_get_object(&p, &n, &tag, &cls, (long)len) & 0x80) ||
      tag != V_ASN1_SEQUENCE || cls != V_ASN1_UNIVERSAL)
    return -1;
  long rest = (long)len - (long)(p - der);
  if (ASN1_get_object(&p, &n, &tag, &cls, rest) & 0x80 ||
      cls != V_ASN1_UNIVERSAL)
    return -1;
  return tag;
}

static int copy_der(const unsigned char *der, size_t len,
                    struct wstep_payload *out, struct owcp_error *err)
{
  out->csr = malloc(len > 0 ? len : 1);
  if (out->csr == NULL) {
    owcp_error_set(err, "out of memory");
    return -1;
  }
  memcpy(out->csr, der, len);
  out->csr_len = len;
  return 0;
}

/* Steps into one DER element of tag/class at *p (within end); the
 * content's start in *p and its length in *n. */
static bool enter(const unsigned char **p, const unsigned char *end, int tag,
                  int cls, long *n)
{
  int t = 0, c = 0;
  int r = ASN1_get_object(p, n, &t, &c, (long)(end - *p));
  return !(r & 0x80) && t == tag && c == cls;
}

/* PKIData { controlSequence, reqSequence { tcr [0] { bodyPartID, CSR } ...
 * }, ... }: the first TaggedCertificationRequest's CSR. */
static int csr_of_pkidata(const unsigned char *der, size_t len,
                          struct wstep_payload *out, struct owcp_error *err)
{
  const unsigned char *p = der, *end = der + len;
  long n = 0;
  if (enter(&p, end, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, &n) &&
      enter(&p, end, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, &n)) {
    p += n; /* controlSequence */
    const unsigned char *tcr;
    if (enter(&p, end, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, &n) &&
        enter(&p, end, 0, V_ASN1_CONTEXT_SPECIFIC, &n) &&
        enter(&p, end, V_ASN1_INTEGER, V_ASN1_UNIVERSAL, &n)) {
      p += n; /* bodyPartID */
      tcr = p;
      if (enter(&p, end, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, &n))
        return copy_der(tcr, (size_t)(p - tcr) + (size_t)n, out, err);
    }
  }
  owcp_error_set(err, "the CMC PKIData holds no TaggedCertificationRequest");
  return -1;
}

static int decode_cms(const unsigned char *der, size_t len,
                      struct wstep_payload *out, struct owcp_error *err)
{
  const unsigned char *p = der;
  out->cms = d2i_CMS_ContentInfo(NULL, &p, (long)len);
  if (out->cms == NULL || p != der + len ||
      OBJ_obj2nid(CMS_get0_type(out->cms)) != NID_pkcs7_signed) {
    owcp_error_set_ssl(err, "the token is not a CMS SignedData");
    return -1;
  }
  ASN1_OCTET_STRING **content = CMS_get0_content(out->cms);
  if (content == NULL || *content == NULL) {
    owcp_error_set(err, "the CMS SignedData has no content");
    return -1;
  }
  const unsigned char *c = ASN1_STRING_get0_data(*content);
  size_t clen = (size_t)ASN1_STRING_length(*content);
  char type[64];
  OBJ_obj2txt(type, sizeof type, CMS_get0_eContentType(out->cms), 1);
  if (strcmp(type, OID_PKIDATA) == 0)
    return csr_of_pkidata(c, clen, out, err);
  if (OBJ_obj2nid(CMS_get0_eContentType(out->cms)) == NID_pkcs7_data &&
      sniff(c, clen) == V_ASN1_SEQUENCE)
    return copy_der(c, clen, out, err);
  owcp_error_set(err, "the CMS content (%s) is not a certificate request",
                 type);
  return -1;
}

int wstep_payload_decode(const unsigned char *der, size_t len,
                         struct wstep_payload *out, struct owcp_error *err)
{
  memset(out, 0, sizeof *out);
  int tag = len <= CSR_MAX_DER ? sniff(der, len) : -1;
  int rc = -1;
  if (tag == V_ASN1_SEQUENCE)
    rc = copy_der(der, len, out, err);
  else if (tag == V_ASN1_OBJECT)
    rc = decode_cms(der, len, out, err);
  else
    owcp_error_set(err, "the token is neither a PKCS#10 request nor CMS");
  if (rc != 0)
    wstep_payload_clear(out);
  return rc;
}

void wstep_payload_clear(struct wstep_payload *p)
{
  free(p->csr);
  CMS_ContentInfo_free(p->cms);
  memset(p, 0, sizeof *p);
}

X509 *wstep_payload_signer(const struct wstep_payload *p,
                           struct owcp_error *err)
{
  STACK_OF(CMS_SignerInfo) *sis = p->cms ? CMS_get0_SignerInfos(p->cms) : NULL;
  STACK_OF(X509) *certs = p->cms ? CMS_get1_certs(p->cms) : NULL;
  X509 *found = NULL;
  if (sis != NULL && sk_CMS_SignerInfo_num(sis) == 1)
    for (int i = 0; found == NULL && i < sk_X509_num(certs); i++)
      if (CMS_SignerInfo_cert_cmp(sk_CMS_SignerInfo_value(sis, 0),
                                  sk_X509_value(certs, i)) == 0)
        found = sk_X509_value(certs, i);
  if (found != NULL)
    X509_up_ref(found);
  else
    owcp_error_set(err, "the CMS does not have exactly one signer whose "
                        "certificate it carries");
  sk_X509_pop_free(certs, X509_free);
  return found;
}

int wstep_renewal_verify(const struct wstep_payload *p, X509 *ca_cert,
                         X509 **signer, struct owcp_error *err)
{
  *signer = NULL;
  if (p->cms == NULL) {
    owcp_error_set(err, "anonymous requests must be renewals signed with "
                        "the certificate being renewed (CMS)");
    return -1;
  }
  X509_STORE *store = X509_STORE_new();
  X509 *s = wstep_payload_signer(p, err);
  bool ok =
      store != NULL && s != NULL && X509_STORE_add_cert(store, ca_cert) == 1 &&
      X509_STORE_set_purpose(store, X509_PURPOSE_ANY) == 1 &&
      CMS_verify(p->cms, NULL, store, NULL, NULL, CMS_BINARY) == 1 &&
      X509_check_issued(ca_cert, s) == X509_V_OK && X509_cmp(ca_cert, s) != 0;
  X509_STORE_free(store);
  if (!ok) {
    if (s != NULL)
      owcp_error_set_ssl(err, "the renewal's signature or signer "
                              "certificate is not acceptable (an unexpired "
                              "certificate of the bridge's CA is needed)");
    X509_free(s);
    return -1;
  }
  *signer = s;
  return 0;
}

/* ---- the plan ------------------------------------------------------------
 */

void wstep_plan_clear(struct wstep_plan *p)
{
  EVP_PKEY_free(p->pubkey);
  X509_NAME_free(p->subject);
  GENERAL_NAMES_free(p->sans);
  free(p->subject_text);
  memset(p, 0, sizeof *p);
}

/* The template the request names, among the configured ones. */
static const struct bridge_wstep_template *
pick_template(const struct bridge_config *cfg, const struct csr_info *info,
              struct owcp_error *err)
{
  size_t n = 0;
  const char **allowed = calloc(2 * cfg->template_count + 1, sizeof *allowed);
  size_t *owner = calloc(2 * cfg->template_count + 1, sizeof *owner);
  const struct bridge_wstep_template *t = NULL;
  const char *matched = NULL;
  for (size_t i = 0; allowed && owner && i < cfg->template_count; i++) {
    owner[n] = i;
    allowed[n++] = cfg->templates[i].name;
    if (cfg->templates[i].oid != NULL) {
      owner[n] = i;
      allowed[n++] = cfg->templates[i].oid;
    }
  }
  if (allowed == NULL || owner == NULL)
    owcp_error_set(err, "out of memory");
  else if (csr_template_check(info, allowed, n, &matched, err) == 0)
    for (size_t i = 0; i < n && t == NULL; i++)
      if (allowed[i] == matched)
        t = &cfg->templates[owner[i]];
  free(allowed);
  free(owner);
  return t;
}

static int check_key(EVP_PKEY *k, char *text, size_t size,
                     struct owcp_error *err)
{
  int bits = EVP_PKEY_get_bits(k);
  char group[32] = "";
  size_t glen = 0;
  if (EVP_PKEY_get_base_id(k) == EVP_PKEY_RSA && bits >= RSA_MIN_BITS &&
      bits <= RSA_MAX_BITS) {
    snprintf(text, size, "RSA %d", bits);
    return 0;
  }
  if (EVP_PKEY_get_base_id(k) == EVP_PKEY_EC &&
      EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group,
                                     sizeof group, &glen) == 1) {
    static const char *const curves[][2] = {{"prime256v1", "P-256"},
                                            {"secp384r1", "P-384"},
                                            {"secp521r1", "P-521"}};
    for (size_t i = 0; i < 3; i++)
      if (strcmp(group, curves[i][0]) == 0) {
        snprintf(text, size, "EC %s", curves[i][1]);
        return 0;
      }
  }
  owcp_error_set(err,
                 "key %s (%d bits%s%s) is not allowed: RSA 2048..16384 "
                 "or EC P-256/P-384/P-521",
                 OBJ_nid2sn(EVP_PKEY_get_base_id(k)), bits,
                 group[0] ? ", " : "", group);
  return -1;
}

static int check_upns(const struct csr_info *info, const char *account,
                      struct owcp_error *err)
{
  for (size_t i = 0; i < info->upn_count; i++)
    if (strcasecmp(info->upns[i], account) != 0) {
      owcp_error_set(err, "the request's UPN %s is not %s", info->upns[i],
                     account);
      return -1;
    }
  return 0;
}

static GENERAL_NAME *upn_name(const char *account)
{
  GENERAL_NAME *g = GENERAL_NAME_new();
  ASN1_TYPE *v = ASN1_TYPE_new();
  ASN1_UTF8STRING *s = ASN1_UTF8STRING_new();
  ASN1_OBJECT *oid = OBJ_txt2obj(OID_UPN, 1);
  if (g == NULL || v == NULL || s == NULL || oid == NULL ||
      ASN1_STRING_set(s, account, -1) != 1) {
    GENERAL_NAME_free(g);
    ASN1_TYPE_free(v);
    ASN1_UTF8STRING_free(s);
    ASN1_OBJECT_free(oid);
    return NULL;
  }
  ASN1_TYPE_set(v, V_ASN1_UTF8STRING, s);
  GENERAL_NAME_set0_othername(g, oid, v);
  return g;
}

static int names_from_upn(const char *account, struct wstep_plan *out)
{
  GENERAL_NAME *g = upn_name(account);
  out->subject = X509_NAME_new();
  if (g == NULL || out->subject == NULL ||
      X509_NAME_add_entry_by_txt(out->subject, "CN", MBSTRING_UTF8,
                                 (const unsigned char *)account, -1, -1,
                                 0) != 1 ||
      sk_GENERAL_NAME_push(out->sans, g) <= 0) {
    GENERAL_NAME_free(g);
    return -1;
  }
  return 0;
}

/* Whether g is a UPN or e-mail SAN equal to account. */
static bool san_is_account(const GENERAL_NAME *g, const char *account)
{
  const ASN1_STRING *s = NULL;
  char oid[32] = "";
  if (g->type == GEN_EMAIL)
    s = g->d.rfc822Name;
  else if (g->type == GEN_OTHERNAME &&
           OBJ_obj2txt(oid, sizeof oid, g->d.otherName->type_id, 1) > 0 &&
           strcmp(oid, OID_UPN) == 0 &&
           g->d.otherName->value->type == V_ASN1_UTF8STRING)
    s = g->d.otherName->value->value.utf8string;
  return s != NULL && (size_t)ASN1_STRING_length(s) == strlen(account) &&
         strncasecmp((const char *)ASN1_STRING_get0_data(s), account,
                     strlen(account)) == 0;
}

/* subject_from = request: the request's DN and its UPN / e-mail SANs. */
static int names_from_request(X509_REQ *req, const char *account,
                              struct wstep_plan *out, struct owcp_error *err)
{
  STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(req);
  GENERAL_NAMES *gens = NULL;
  int rc = 0;
  out->subject = X509_NAME_dup(X509_REQ_get_subject_name(req));
  for (int i = 0; i < sk_X509_EXTENSION_num(exts) && gens == NULL; i++)
    if (OBJ_obj2nid(X509_EXTENSION_get_object(
            sk_X509_EXTENSION_value(exts, i))) == NID_subject_alt_name)
      gens = X509V3_EXT_d2i(sk_X509_EXTENSION_value(exts, i));
  for (int i = 0; rc == 0 && i < sk_GENERAL_NAME_num(gens); i++) {
    GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
    if (!san_is_account(g, account)) {
      owcp_error_set(err,
                     "the request asks for a subject alternative name "
                     "other than a UPN or e-mail address equal to %s",
                     account);
      rc = -1;
    } else if (sk_GENERAL_NAME_push(out->sans, GENERAL_NAME_dup(g)) <= 0) {
      rc = -1;
    }
  }
  GENERAL_NAMES_free(gens);
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  return out->subject == NULL ? -1 : rc;
}

static int names_from_renewed(X509 *renewed, struct wstep_plan *out)
{
  GENERAL_NAMES *g =
      X509_get_ext_d2i(renewed, NID_subject_alt_name, NULL, NULL);
  out->subject = X509_NAME_dup(X509_get_subject_name(renewed));
  if (g != NULL) {
    GENERAL_NAMES_free(out->sans);
    out->sans = g;
  }
  return out->subject != NULL ? 0 : -1;
}

static char *name_text(const X509_NAME *n)
{
  BIO *b = BIO_new(BIO_s_mem());
  char *data = NULL, *out = NULL;
  if (b != NULL && X509_NAME_print_ex(
                       b, n, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0) {
    long len = BIO_get_mem_data(b, &data);
    out = strndup(data ? data : "", (size_t)len);
  }
  BIO_free(b);
  return out;
}

static int plan_names(const struct csr_info *info, const char *account,
                      X509 *renewed, struct wstep_plan *out,
                      enum wstep_fault *fault, struct owcp_error *err)
{
  int rc;
  out->sans = sk_GENERAL_NAME_new_null();
  if (out->sans == NULL)
    return -1;
  if (renewed != NULL)
    rc = names_from_renewed(renewed, out);
  else if (out->tpl->subject_from == 0)
    rc = names_from_upn(account, out);
  else if ((rc = names_from_request(info->req, account, out, err)) != 0 &&
           err != NULL && err->msg[0] != '\0')
    *fault = WSTEP_FAULT_SUBJECT;
  if (rc == 0 && (out->subject_text = name_text(out->subject)) == NULL)
    rc = -1;
  return rc;
}

int wstep_plan_make(const struct bridge_config *cfg, const unsigned char *csr,
                    size_t csr_len, const char *account, X509 *renewed,
                    struct wstep_plan *out, enum wstep_fault *fault,
                    struct owcp_error *err)
{
  struct csr_info *info = NULL;
  memset(out, 0, sizeof *out);
  *fault = WSTEP_FAULT_BAD_TOKEN;
  if (csr_info_parse(csr, csr_len, &info, err) != 0 ||
      csr_verify_signature(info, err) != 0)
    goto fail;
  *fault = WSTEP_FAULT_TEMPLATE;
  if ((out->tpl = pick_template(cfg, info, err)) == NULL)
    goto fail;
  *fault = WSTEP_FAULT_SUBJECT;
  if (check_upns(info, account, err) != 0)
    goto fail;
  *fault = WSTEP_FAULT_KEY;
  out->pubkey = X509_REQ_get_pubkey(info->req);
  if (out->pubkey == NULL ||
      check_key(out->pubkey, out->key_text, sizeof out->key_text, err) != 0)
    goto fail;
  *fault = WSTEP_FAULT_INTERNAL;
  if (plan_names(info, account, renewed, out, fault, err) != 0)
    goto fail;
  csr_info_free(info);
  return 0;
fail:
  if (err != NULL && err->msg[0] == '\0')
    owcp_error_set(err, "out of memory planning the certificate");
  csr_info_free(info);
  wstep_plan_clear(out);
  return -1;
}
