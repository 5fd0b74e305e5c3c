/* Reading and checking Windows PKCS#10 requests; see csr_check.h. */
#include "csr_check.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/asn1t.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#define OID_TEMPLATE_V2 "1.3.6.1.4.1.311.21.7"
#define OID_TEMPLATE_V1 "1.3.6.1.4.1.311.20.2"
#define OID_NAME_VALUE "1.3.6.1.4.1.311.13.2.1"
#define OID_CLIENT_INFO "1.3.6.1.4.1.311.21.20"
#define OID_TEXT_MAX 128

/* CertificateTemplateOID (MS-WCCE 2.2.2.7.7.2). */
typedef struct {
  ASN1_OBJECT *id;
  ASN1_INTEGER *major;
  ASN1_INTEGER *minor;
} MS_TEMPLATE;

ASN1_SEQUENCE(MS_TEMPLATE) = {
    ASN1_SIMPLE(MS_TEMPLATE, id, ASN1_OBJECT),
    ASN1_OPT(MS_TEMPLATE, major, ASN1_INTEGER),
    ASN1_OPT(MS_TEMPLATE, minor, ASN1_INTEGER),
} static_ASN1_SEQUENCE_END(MS_TEMPLATE)

/* EnrollmentNameValuePair (MS-WCCE 2.2.2.7.10). */
typedef struct {
  ASN1_BMPSTRING *name;
  ASN1_BMPSTRING *value;
} MS_NAME_VALUE;

ASN1_SEQUENCE(MS_NAME_VALUE) = {
    ASN1_SIMPLE(MS_NAME_VALUE, name, ASN1_BMPSTRING),
    ASN1_SIMPLE(MS_NAME_VALUE, value, ASN1_BMPSTRING),
} static_ASN1_SEQUENCE_END(MS_NAME_VALUE)

/* ClientInfo (MS-WCCE 2.2.2.7.4: the 1.3.6.1.4.1.311.21.20 attribute). */
typedef struct {
  ASN1_INTEGER *client_id;
  ASN1_UTF8STRING *machine;
  ASN1_UTF8STRING *user;
  ASN1_UTF8STRING *process;
} MS_CLIENT_INFO;

ASN1_SEQUENCE(MS_CLIENT_INFO) = {
    ASN1_SIMPLE(MS_CLIENT_INFO, client_id, ASN1_INTEGER),
    ASN1_SIMPLE(MS_CLIENT_INFO, machine, ASN1_UTF8STRING),
    ASN1_SIMPLE(MS_CLIENT_INFO, user, ASN1_UTF8STRING),
    ASN1_SIMPLE(MS_CLIENT_INFO, process, ASN1_UTF8STRING),
} static_ASN1_SEQUENCE_END(MS_CLIENT_INFO)

/* Decodes exactly data[0..len) as item; NULL on any error or trailing
 * bytes. The caller frees with ASN1_item_free. */
static void *decode_exact(const ASN1_ITEM *item, const unsigned char *data,
                          long len)
{
  const unsigned char *p = data;
  ASN1_VALUE *v = ASN1_item_d2i(NULL, &p, len, item);
  if (v != NULL && p != data + len) {
    ASN1_item_free(v, item);
    v = NULL;
  }
  return v;
}

/* A new UTF-8 copy of s; NULL with err set when it cannot be converted or
 * holds a NUL or another control character. */
static char *string_utf8(const ASN1_STRING *s, const char *what,
                         struct owcp_error *err)
{
  unsigned char *utf8 = NULL;
  int n = ASN1_STRING_to_UTF8(&utf8, s);
  if (n < 0) {
    owcp_error_set_ssl(err, "the request's %s is not a valid string", what);
    return NULL;
  }
  for (int i = 0; i < n; i++) {
    if (utf8[i] < 0x20 || utf8[i] == 0x7f) {
      owcp_error_set(err, "the request's %s contains a control character",
                     what);
      OPENSSL_free(utf8);
      return NULL;
    }
  }
  char *copy = strndup((const char *)utf8, (size_t)n);
  OPENSSL_free(utf8);
  if (copy == NULL)
    owcp_error_set(err, "out of memory");
  return copy;
}

static bool oid_is(const ASN1_OBJECT *obj, const char *dotted)
{
  char buf[OID_TEXT_MAX];
  int n = OBJ_obj2txt(buf, sizeof buf, obj, 1);
  return n > 0 && (size_t)n < sizeof buf && strcmp(buf, dotted) == 0;
}

static int push_template(struct csr_info *info, enum csr_template_form form,
                         char *value, struct owcp_error *err)
{
  if (value == NULL)
    return -1;
  struct csr_template *v = realloc(
      info->templates, (info->template_count + 1) * sizeof *info->templates);
  if (v == NULL) {
    free(value);
    owcp_error_set(err, "out of memory");
    return -1;
  }
  info->templates = v;
  info->templates[info->template_count++] =
      (struct csr_template){.form = form, .value = value};
  return 0;
}

static int push_upn(struct csr_info *info, char *upn, struct owcp_error *err)
{
  if (upn == NULL)
    return -1;
  char **v = realloc(info->upns, (info->upn_count + 1) * sizeof *info->upns);
  if (v == NULL) {
    free(upn);
    owcp_error_set(err, "out of memory");
    return -1;
  }
  info->upns = v;
  info->upns[info->upn_count++] = upn;
  return 0;
}

static int read_template_v2(struct csr_info *info, const ASN1_OCTET_STRING *os,
                            struct owcp_error *err)
{
  MS_TEMPLATE *t =
      decode_exact(ASN1_ITEM_rptr(MS_TEMPLATE), ASN1_STRING_get0_data(os),
                   ASN1_STRING_length(os));
  if (t == NULL) {
    owcp_error_set_ssl(err, "the request's template extension "
                            "(1.3.6.1.4.1.311.21.7) does not decode");
    return -1;
  }
  char buf[OID_TEXT_MAX];
  int n = OBJ_obj2txt(buf, sizeof buf, t->id, 1);
  ASN1_item_free((ASN1_VALUE *)t, ASN1_ITEM_rptr(MS_TEMPLATE));
  if (n <= 0 || (size_t)n >= sizeof buf) {
    owcp_error_set(err, "the request's template OID is too long");
    return -1;
  }
  char *value = strdup(buf);
  if (value == NULL)
    owcp_error_set(err, "out of memory");
  return push_template(info, CSR_TEMPLATE_V2, value, err);
}

static int read_template_v1(struct csr_info *info, const ASN1_OCTET_STRING *os,
                            struct owcp_error *err)
{
  ASN1_TYPE *t =
      decode_exact(ASN1_ITEM_rptr(ASN1_ANY), ASN1_STRING_get0_data(os),
                   ASN1_STRING_length(os));
  int type = t != NULL ? ASN1_TYPE_get(t) : -1;
  if (type != V_ASN1_BMPSTRING && type != V_ASN1_UTF8STRING &&
      type != V_ASN1_PRINTABLESTRING && type != V_ASN1_IA5STRING) {
    ASN1_TYPE_free(t);
    owcp_error_set_ssl(err, "the request's template name extension "
                            "(1.3.6.1.4.1.311.20.2) is not a string");
    return -1;
  }
  char *name = string_utf8(t->value.asn1_string, "template name", err);
  ASN1_TYPE_free(t);
  return push_template(info, CSR_TEMPLATE_V1, name, err);
}

static int read_san(struct csr_info *info, X509_EXTENSION *ext,
                    struct owcp_error *err)
{
  GENERAL_NAMES *names = X509V3_EXT_d2i(ext);
  if (names == NULL) {
    owcp_error_set_ssl(err, "the request's subjectAltName does not decode");
    return -1;
  }
  int rc = 0;
  for (int i = 0; rc == 0 && i < sk_GENERAL_NAME_num(names); i++) {
    const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);
    if (gn->type != GEN_OTHERNAME ||
        OBJ_obj2nid(gn->d.otherName->type_id) != NID_ms_upn)
      continue;
    const ASN1_TYPE *v = gn->d.otherName->value;
    if (v == NULL || v->type != V_ASN1_UTF8STRING) {
      owcp_error_set(err, "the request's UPN is not a UTF8String");
      rc = -1;
    } else {
      rc = push_upn(info, string_utf8(v->value.utf8string, "UPN", err), err);
    }
  }
  GENERAL_NAMES_free(names);
  return rc;
}

static int check_unique(const STACK_OF(X509_EXTENSION) * exts, int i,
                        struct owcp_error *err)
{
  const ASN1_OBJECT *obj =
      X509_EXTENSION_get_object(sk_X509_EXTENSION_value(exts, i));
  for (int j = 0; j < i; j++) {
    if (OBJ_cmp(obj, X509_EXTENSION_get_object(
                         sk_X509_EXTENSION_value(exts, j))) == 0) {
      char buf[OID_TEXT_MAX];
      OBJ_obj2txt(buf, sizeof buf, obj, 1);
      owcp_error_set(err, "the request carries extension %s twice", buf);
      return -1;
    }
  }
  return 0;
}

static int read_extension(struct csr_info *info, X509_EXTENSION *ext,
                          struct owcp_error *err)
{
  const ASN1_OBJECT *obj = X509_EXTENSION_get_object(ext);
  const ASN1_OCTET_STRING *data = X509_EXTENSION_get_data(ext);
  if (OBJ_obj2nid(obj) == NID_subject_alt_name)
    return read_san(info, ext, err);
  if (oid_is(obj, OID_TEMPLATE_V2))
    return read_template_v2(info, data, err);
  if (oid_is(obj, OID_TEMPLATE_V1))
    return read_template_v1(info, data, err);
  return 0;
}

static bool has_ext_request(const X509_REQ *req)
{
  return X509_REQ_get_attr_by_NID(req, NID_ext_req, -1) >= 0 ||
         X509_REQ_get_attr_by_NID(req, NID_ms_ext_req, -1) >= 0;
}

static int read_extensions(struct csr_info *info, struct owcp_error *err)
{
  STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(info->req);
  if (exts == NULL) {
    if (!has_ext_request(info->req))
      return 0;
    owcp_error_set_ssl(err, "the request's extensionRequest does not decode");
    return -1;
  }
  int rc = 0;
  for (int i = 0; rc == 0 && i < sk_X509_EXTENSION_num(exts); i++) {
    rc = check_unique(exts, i, err);
    if (rc == 0)
      rc = read_extension(info, sk_X509_EXTENSION_value(exts, i), err);
  }
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  return rc;
}

/* One value of a 1.3.6.1.4.1.311.13.2.1 attribute; only the pair named
 * CertificateTemplate is kept. */
static int read_name_value(struct csr_info *info, const ASN1_TYPE *t,
                           struct owcp_error *err)
{
  MS_NAME_VALUE *nv = NULL;
  if (t->type == V_ASN1_SEQUENCE)
    nv = decode_exact(ASN1_ITEM_rptr(MS_NAME_VALUE),
                      ASN1_STRING_get0_data(t->value.sequence),
                      ASN1_STRING_length(t->value.sequence));
  if (nv == NULL) {
    owcp_error_set_ssl(err, "the request's name-value attribute "
                            "(1.3.6.1.4.1.311.13.2.1) does not decode");
    return -1;
  }
  int rc = 0;
  char *name = string_utf8(nv->name, "name-value pair", err);
  static const char key[] = "CertificateTemplate";
  if (name == NULL)
    rc = -1;
  else if (idmap_ascii_iequal(name, strlen(name), key, sizeof key - 1))
    rc = push_template(info, CSR_TEMPLATE_ATTRIBUTE,
                       string_utf8(nv->value, "template name", err), err);
  free(name);
  ASN1_item_free((ASN1_VALUE *)nv, ASN1_ITEM_rptr(MS_NAME_VALUE));
  return rc;
}

/* The machine name of client-info, when it decodes and is printable. */
static void read_client_info(struct csr_info *info, const ASN1_TYPE *t)
{
  if (info->client_host != NULL || t->type != V_ASN1_SEQUENCE)
    return;
  MS_CLIENT_INFO *ci = decode_exact(ASN1_ITEM_rptr(MS_CLIENT_INFO),
                                    ASN1_STRING_get0_data(t->value.sequence),
                                    ASN1_STRING_length(t->value.sequence));
  if (ci == NULL) {
    ERR_clear_error();
    return;
  }
  info->client_host = string_utf8(ci->machine, "client-info", NULL);
  ASN1_item_free((ASN1_VALUE *)ci, ASN1_ITEM_rptr(MS_CLIENT_INFO));
}

static int read_attributes(struct csr_info *info, struct owcp_error *err)
{
  for (int i = 0; i < X509_REQ_get_attr_count(info->req); i++) {
    X509_ATTRIBUTE *attr = X509_REQ_get_attr(info->req, i);
    const ASN1_OBJECT *obj = X509_ATTRIBUTE_get0_object(attr);
    bool name_value = oid_is(obj, OID_NAME_VALUE);
    bool client_info = oid_is(obj, OID_CLIENT_INFO);
    for (int j = 0; j < X509_ATTRIBUTE_count(attr); j++) {
      const ASN1_TYPE *t = X509_ATTRIBUTE_get0_type(attr, j);
      if (name_value && read_name_value(info, t, err) != 0)
        return -1;
      if (client_info)
        read_client_info(info, t);
    }
  }
  return 0;
}

static char *subject_text(const X509_REQ *req, struct owcp_error *err)
{
  BIO *bio = BIO_new(BIO_s_mem());
  char *text = NULL;
  if (bio != NULL &&
      X509_NAME_print_ex(bio, X509_REQ_get_subject_name(req), 0,
                         XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0) {
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    text = strndup(n > 0 ? data : "", n > 0 ? (size_t)n : 0);
  }
  BIO_free(bio);
  if (text == NULL)
    owcp_error_set_ssl(err, "cannot print the request's subject");
  return text;
}

int csr_info_parse(const unsigned char *der, size_t len, struct csr_info **out,
                   struct owcp_error *err)
{
  *out = NULL;
  if (len == 0 || len > CSR_MAX_DER) {
    owcp_error_set(err, "the certificate request is %zu bytes, not 1 to %d",
                   len, CSR_MAX_DER);
    return -1;
  }
  struct csr_info *info = calloc(1, sizeof *info);
  if (info == NULL) {
    owcp_error_set(err, "out of memory");
    return -1;
  }
  info->req = decode_exact(ASN1_ITEM_rptr(X509_REQ), der, (long)len);
  if (info->req == NULL) {
    owcp_error_set_ssl(err, "the certificate request is not a DER PKCS#10 "
                            "request");
  } else if ((info->subject = subject_text(info->req, err)) != NULL &&
             read_extensions(info, err) == 0 &&
             read_attributes(info, err) == 0) {
    *out = info;
    return 0;
  }
  csr_info_free(info);
  return -1;
}

void csr_info_free(struct csr_info *info)
{
  if (info == NULL)
    return;
  X509_REQ_free(info->req);
  free(info->subject);
  for (size_t i = 0; i < info->template_count; i++)
    free(info->templates[i].value);
  free(info->templates);
  for (size_t i = 0; i < info->upn_count; i++)
    free(info->upns[i]);
  free(info->upns);
  free(info->client_host);
  free(info);
}

static bool signature_alg_allowed(int nid)
{
  switch (nid) {
  case NID_sha1WithRSAEncryption: /* what Windows sends (example 4.1) */
  case NID_sha224WithRSAEncryption:
  case NID_sha256WithRSAEncryption:
  case NID_sha384WithRSAEncryption:
  case NID_sha512WithRSAEncryption:
  case NID_rsassaPss:
  case NID_ecdsa_with_SHA1:
  case NID_ecdsa_with_SHA256:
  case NID_ecdsa_with_SHA384:
  case NID_ecdsa_with_SHA512:
    return true;
  default:
    return false;
  }
}

int csr_verify_signature(const struct csr_info *info, struct owcp_error *err)
{
  int nid = X509_REQ_get_signature_nid(info->req);
  if (!signature_alg_allowed(nid)) {
    owcp_error_set(err,
                   "the certificate request is signed with %s, which is "
                   "not accepted",
                   nid == NID_undef ? "an unknown algorithm" : OBJ_nid2ln(nid));
    return -1;
  }
  EVP_PKEY *key = X509_REQ_get0_pubkey(info->req);
  if (key == NULL || X509_REQ_verify(info->req, key) != 1) {
    owcp_error_set_ssl(err, "the certificate request's signature does not "
                            "verify");
    return -1;
  }
  return 0;
}

/* Whether one indication names the allowed entry: OIDs are compared as
 * objects (so "1.2.03" cannot sneak past "1.2.3"), names case-insensitively. */
static bool template_matches(const struct csr_template *t, const char *entry)
{
  if (t->value == NULL || entry == NULL)
    return false; /* neither happens: push_template() and the caller */
  ASN1_OBJECT *want = OBJ_txt2obj(entry, 1);
  bool match;
  if (t->form == CSR_TEMPLATE_V2) {
    ASN1_OBJECT *got = OBJ_txt2obj(t->value, 1);
    match = want != NULL && got != NULL && OBJ_cmp(want, got) == 0;
    ASN1_OBJECT_free(got);
  } else {
    match = want == NULL && idmap_ascii_iequal(t->value, strlen(t->value),
                                               entry, strlen(entry));
  }
  ASN1_OBJECT_free(want);
  ERR_clear_error();
  return match;
}

static const char *form_name(enum csr_template_form form)
{
  switch (form) {
  case CSR_TEMPLATE_V2:
    return "template extension (v2)";
  case CSR_TEMPLATE_V1:
    return "template name extension (v1)";
  default:
    return "CertificateTemplate attribute";
  }
}

int csr_template_check(const struct csr_info *info, const char *const *allowed,
                       size_t n, const char **matched, struct owcp_error *err)
{
  *matched = NULL;
  if (info->template_count == 0) {
    owcp_error_set(err, "the certificate request names no certificate "
                        "template");
    return -1;
  }
  const char *chosen = NULL;
  for (size_t i = 0; i < info->template_count; i++) {
    const struct csr_template *t = &info->templates[i];
    const char *hit = NULL;
    for (size_t j = 0; hit == NULL && j < n; j++)
      if (template_matches(t, allowed[j]))
        hit = allowed[j];
    if (hit == NULL) {
      owcp_error_set(err,
                     "the certificate request's %s names template "
                     "'%.80s', which is not configured",
                     form_name(t->form), t->value);
      return -1;
    }
    if (chosen == NULL || t->form == CSR_TEMPLATE_V2)
      chosen = hit;
  }
  *matched = chosen;
  return 0;
}

/* Whether upn is user@suffix, both compared ASCII-case-insensitively. */
static bool upn_matches(const char *upn, const char *user, size_t user_len,
                        const char *suffix)
{
  const char *at = strchr(upn, '@');
  if (at == NULL || strchr(at + 1, '@') != NULL)
    return false;
  return idmap_ascii_iequal(upn, (size_t)(at - upn), user, user_len) &&
         idmap_ascii_iequal(at + 1, strlen(at + 1), suffix, strlen(suffix));
}

int csr_check_windows_user(const struct csr_info *info, const char *username,
                           const struct idmap *ids, struct owcp_error *err)
{
  const char *sep = strchr(username, '\\');
  if (sep == NULL || sep == username || sep[1] == '\0' ||
      strchr(sep + 1, '\\') != NULL) {
    owcp_error_set(err, "username is not of the form DOMAIN\\user");
    return -1;
  }
  const char *suffix =
      idmap_upn_suffix(ids, username, (size_t)(sep - username));
  if (suffix == NULL) {
    owcp_error_set(err, "no upn_suffix is configured for the user's NetBIOS "
                        "domain");
    return -1;
  }
  if (info->upn_count == 0) {
    owcp_error_set(err, "the certificate request carries no UPN "
                        "(subjectAltName otherName 1.3.6.1.4.1.311.20.2.3)");
    return -1;
  }
  for (size_t i = 0; i < info->upn_count; i++) {
    if (!upn_matches(info->upns[i], sep + 1, strlen(sep + 1), suffix)) {
      owcp_error_set(err,
                     "the certificate request's UPN '%.80s' does not "
                     "match the user name and the domain's UPN suffix",
                     info->upns[i]);
      return -1;
    }
  }
  return 0;
}
