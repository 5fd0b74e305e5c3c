/* The CMC PKIResponse of a WSTEP Issued answer; see pkiresponse.h. */
#include "pkiresponse.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1t.h>
#include <openssl/cms.h>

/* CMCStatusInfo (RFC 5272 §6.1.1), otherInfo left out. */
typedef struct {
  ASN1_INTEGER *status;
  STACK_OF(ASN1_INTEGER) * body_list;
  ASN1_UTF8STRING *status_string;
} PKIR_STATUS_INFO;

ASN1_SEQUENCE(PKIR_STATUS_INFO) = {
    ASN1_SIMPLE(PKIR_STATUS_INFO, status, ASN1_INTEGER),
    ASN1_SEQUENCE_OF(PKIR_STATUS_INFO, body_list, ASN1_INTEGER),
    ASN1_OPT(PKIR_STATUS_INFO, status_string, ASN1_UTF8STRING),
} static_ASN1_SEQUENCE_END(PKIR_STATUS_INFO)

/* TaggedAttribute (RFC 5272 §3.2.1.1). */
typedef struct {
  ASN1_INTEGER *body_part_id;
  ASN1_OBJECT *type;
  STACK_OF(ASN1_TYPE) * values;
} PKIR_TAGGED_ATTR;

ASN1_SEQUENCE(PKIR_TAGGED_ATTR) = {
    ASN1_SIMPLE(PKIR_TAGGED_ATTR, body_part_id, ASN1_INTEGER),
    ASN1_SIMPLE(PKIR_TAGGED_ATTR, type, ASN1_OBJECT),
    ASN1_SET_OF(PKIR_TAGGED_ATTR, values, ASN1_ANY),
} static_ASN1_SEQUENCE_END(PKIR_TAGGED_ATTR)

/* PKIResponse (RFC 5272 §3.2.2); the last two sequences stay empty. The
 * controls are held as ANYs holding their own encodings (any_of). */
typedef struct {
  STACK_OF(ASN1_TYPE) * controls;
  STACK_OF(ASN1_TYPE) * cms_sequence;
  STACK_OF(ASN1_TYPE) * other_msg_sequence;
} PKIR_RESPONSE;

ASN1_SEQUENCE(PKIR_RESPONSE) = {
    ASN1_SEQUENCE_OF(PKIR_RESPONSE, controls, ASN1_ANY),
    ASN1_SEQUENCE_OF(PKIR_RESPONSE, cms_sequence, ASN1_ANY),
    ASN1_SEQUENCE_OF(PKIR_RESPONSE, other_msg_sequence, ASN1_ANY),
} static_ASN1_SEQUENCE_END(PKIR_RESPONSE)

/* A SEQUENCE value of item it as an ANY holding its encoding; NULL when
 * v is NULL or on failure. Frees v. */
static ASN1_TYPE *any_of(ASN1_VALUE *v, const ASN1_ITEM *it)
{
  unsigned char *der = NULL;
  ASN1_TYPE *any = NULL;
  int len = v != NULL ? ASN1_item_i2d(v, &der, it) : -1;
  const unsigned char *p = der;
  if (len > 0)
    any = d2i_ASN1_TYPE(NULL, &p, len);
  OPENSSL_free(der);
  ASN1_item_free(v, it);
  return any;
}

/* The statusInfo value {success, bodyList {1}, "Issued"} as an ANY. */
static ASN1_TYPE *status_any(void)
{
  const ASN1_ITEM *it = ASN1_ITEM_rptr(PKIR_STATUS_INFO);
  PKIR_STATUS_INFO *si = (PKIR_STATUS_INFO *)ASN1_item_new(it);
  ASN1_INTEGER *one = ASN1_INTEGER_new();
  bool ok = si != NULL && one != NULL && ASN1_INTEGER_set(si->status, 0) == 1 &&
            ASN1_INTEGER_set(one, 1) == 1 &&
            sk_ASN1_INTEGER_push(si->body_list, one) > 0;
  if (ok) {
    one = NULL;
    si->status_string = ASN1_UTF8STRING_new();
    ok = si->status_string != NULL &&
         ASN1_STRING_set(si->status_string, "Issued", 6) == 1;
  }
  ASN1_INTEGER_free(one);
  if (!ok) {
    ASN1_item_free((ASN1_VALUE *)si, it);
    return NULL;
  }
  return any_of((ASN1_VALUE *)si, it);
}

/* The DER PKIResponse (OpenSSL-allocated), its length in *len. */
static unsigned char *response_der(int *len)
{
  const ASN1_ITEM *rit = ASN1_ITEM_rptr(PKIR_RESPONSE);
  const ASN1_ITEM *ait = ASN1_ITEM_rptr(PKIR_TAGGED_ATTR);
  PKIR_RESPONSE *r = (PKIR_RESPONSE *)ASN1_item_new(rit);
  PKIR_TAGGED_ATTR *a = (PKIR_TAGGED_ATTR *)ASN1_item_new(ait);
  ASN1_TYPE *status = status_any();
  ASN1_TYPE *control = NULL;
  unsigned char *der = NULL;
  *len = -1;
  if (a != NULL && status != NULL &&
      ASN1_INTEGER_set(a->body_part_id, 1) == 1 &&
      sk_ASN1_TYPE_push(a->values, status) > 0) {
    status = NULL;
    ASN1_OBJECT_free(a->type);
    a->type = OBJ_txt2obj(CMC_STATUS_INFO_OID, 1);
    if (a->type != NULL)
      control = any_of((ASN1_VALUE *)a, ait); /* frees a */
    else
      ASN1_item_free((ASN1_VALUE *)a, ait);
    a = NULL;
  }
  if (r != NULL && control != NULL &&
      sk_ASN1_TYPE_push(r->controls, control) > 0) {
    control = NULL;
    *len = ASN1_item_i2d((ASN1_VALUE *)r, &der, rit);
  }
  ASN1_TYPE_free(control);
  ASN1_TYPE_free(status);
  ASN1_item_free((ASN1_VALUE *)a, ait);
  ASN1_item_free((ASN1_VALUE *)r, rit);
  return *len > 0 ? der : NULL;
}

/* SignedData over content (eContentType id-cct-PKIResponse) by the CA,
 * with the issued certificate added. */
static CMS_ContentInfo *sign(BIO *content, X509 *issued, X509 *ca_cert,
                             EVP_PKEY *ca_key)
{
  const unsigned int flags = CMS_BINARY | CMS_NOSMIMECAP;
  ASN1_OBJECT *type = OBJ_txt2obj(PKIRESPONSE_OID, 1);
  CMS_ContentInfo *cms = CMS_sign(NULL, NULL, NULL, NULL, CMS_PARTIAL | flags);
  bool ok =
      type != NULL && cms != NULL && CMS_set1_eContentType(cms, type) == 1 &&
      CMS_add1_signer(cms, ca_cert, ca_key, EVP_sha256(), flags) != NULL &&
      CMS_add1_cert(cms, issued) == 1 &&
      CMS_final(cms, content, NULL, flags) == 1;
  ASN1_OBJECT_free(type);
  if (!ok) {
    CMS_ContentInfo_free(cms);
    return NULL;
  }
  return cms;
}

int pkiresponse_sign(X509 *issued, X509 *ca_cert, EVP_PKEY *ca_key,
                     unsigned char **out, size_t *out_len,
                     struct owcp_error *err)
{
  int len = 0;
  unsigned char *body = response_der(&len);
  BIO *content = body != NULL ? BIO_new_mem_buf(body, len) : NULL;
  CMS_ContentInfo *cms =
      content != NULL ? sign(content, issued, ca_cert, ca_key) : NULL;
  unsigned char *der = NULL;
  int n = cms != NULL ? i2d_CMS_ContentInfo(cms, &der) : -1;
  BIO_free(content);
  OPENSSL_free(body);
  CMS_ContentInfo_free(cms);
  *out = n > 0 ? malloc((size_t)n) : NULL;
  if (*out == NULL) {
    OPENSSL_free(der);
    owcp_error_set_ssl(err, "cannot build the CMC PKIResponse");
    return -1;
  }
  memcpy(*out, der, (size_t)n);
  *out_len = (size_t)n;
  OPENSSL_free(der);
  return 0;
}
