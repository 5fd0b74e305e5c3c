/* The RA-signed CMC Full PKI Request; see cmc.h for the layout. */
#include "cmc.h"

#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1t.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/objects.h>

/* TaggedCertificationRequest (RFC 5272 §3.2.1.2.1). The request is held as
 * an ASN1_ANY so that its encoding is copied, not re-encoded from a parsed
 * X509_REQ: the CA must see the client's bytes, whose signature covers
 * them. */
typedef struct {
  ASN1_INTEGER *body_part_id;
  ASN1_TYPE *request;
} CMC_TAGGED_CR;

ASN1_SEQUENCE(CMC_TAGGED_CR) = {
    ASN1_SIMPLE(CMC_TAGGED_CR, body_part_id, ASN1_INTEGER),
    ASN1_SIMPLE(CMC_TAGGED_CR, request, ASN1_ANY),
} static_ASN1_SEQUENCE_END(CMC_TAGGED_CR)

/* PKIData (RFC 5272 §3.2.1). Its sequences are typed ANY: three stay
 * empty, and the element of reqSequence, TaggedRequest ::= CHOICE
 * { tcr [0] TaggedCertificationRequest, ... } with the CMC module's
 * implicit tags, is encoded by tagged_request_new(). */
typedef struct {
  STACK_OF(ASN1_TYPE) * control_sequence;
  STACK_OF(ASN1_TYPE) * req_sequence;
  STACK_OF(ASN1_TYPE) * cms_sequence;
  STACK_OF(ASN1_TYPE) * other_msg_sequence;
} CMC_PKIDATA;

ASN1_SEQUENCE(CMC_PKIDATA) = {
    ASN1_SEQUENCE_OF(CMC_PKIDATA, control_sequence, ASN1_ANY),
    ASN1_SEQUENCE_OF(CMC_PKIDATA, req_sequence, ASN1_ANY),
    ASN1_SEQUENCE_OF(CMC_PKIDATA, cms_sequence, ASN1_ANY),
    ASN1_SEQUENCE_OF(CMC_PKIDATA, other_msg_sequence, ASN1_ANY),
} static_ASN1_SEQUENCE_END(CMC_PKIDATA)

/* Moves an OpenSSL-allocated encoding of len bytes into a malloc()ed
 * *out, releasing der either way. */
static int take_der(unsigned char *der, int len, unsigned char **out,
                    size_t *out_len, struct owcp_error *err)
{
  *out = len > 0 ? malloc((size_t)len) : NULL;
  if (*out != NULL) {
    memcpy(*out, der, (size_t)len);
    *out_len = (size_t)len;
  } else {
    owcp_error_set(err, "out of memory");
  }
  OPENSSL_free(der);
  return *out != NULL ? 0 : -1;
}

/* The CSR as an ANY holding its own encoding; NULL unless csr is exactly
 * one DER SEQUENCE. */
static ASN1_TYPE *csr_as_any(const unsigned char *csr, size_t csr_len,
                             struct owcp_error *err)
{
  const unsigned char *p = csr;
  ASN1_TYPE *any =
      csr_len <= LONG_MAX ? d2i_ASN1_TYPE(NULL, &p, (long)csr_len) : NULL;
  if (any == NULL || p != csr + csr_len ||
      ASN1_TYPE_get(any) != V_ASN1_SEQUENCE) {
    ASN1_TYPE_free(any);
    owcp_error_set_ssl(err, "the certificate request is not one DER "
                            "SEQUENCE");
    return NULL;
  }
  return any;
}

static CMC_TAGGED_CR *tagged_cr_new(const unsigned char *csr, size_t csr_len,
                                    struct owcp_error *err)
{
  ASN1_TYPE *any = csr_as_any(csr, csr_len, err);
  if (any == NULL)
    return NULL;
  CMC_TAGGED_CR *tcr =
      (CMC_TAGGED_CR *)ASN1_item_new(ASN1_ITEM_rptr(CMC_TAGGED_CR));
  if (tcr == NULL ||
      ASN1_INTEGER_set(tcr->body_part_id, CMC_CSR_BODY_PART_ID) != 1) {
    ASN1_TYPE_free(any);
    ASN1_item_free((ASN1_VALUE *)tcr, ASN1_ITEM_rptr(CMC_TAGGED_CR));
    owcp_error_set_ssl(err, "out of memory building the CMC request");
    return NULL;
  }
  ASN1_TYPE_free(tcr->request);
  tcr->request = any;
  return tcr;
}

/* The TaggedRequest alternative tcr: the TaggedCertificationRequest
 * encoded by OpenSSL under the implicit context tag [0], held as an ANY
 * (V_ASN1_OTHER keeps a complete encoding and writes it out unchanged). */
static ASN1_TYPE *tagged_request_new(const unsigned char *csr, size_t csr_len,
                                     struct owcp_error *err)
{
  CMC_TAGGED_CR *tcr = tagged_cr_new(csr, csr_len, err);
  if (tcr == NULL)
    return NULL;
  const ASN1_VALUE *v = (const ASN1_VALUE *)tcr;
  const ASN1_ITEM *it = ASN1_ITEM_rptr(CMC_TAGGED_CR);
  int len = ASN1_item_ex_i2d(&v, NULL, it, 0, V_ASN1_CONTEXT_SPECIFIC);
  unsigned char *der = len > 0 ? OPENSSL_malloc((size_t)len) : NULL;
  unsigned char *p = der;
  ASN1_STRING *enc = ASN1_STRING_type_new(V_ASN1_OTHER);
  ASN1_TYPE *tagged = ASN1_TYPE_new();
  bool ok = der != NULL && enc != NULL && tagged != NULL &&
            ASN1_item_ex_i2d(&v, &p, it, 0, V_ASN1_CONTEXT_SPECIFIC) == len &&
            ASN1_STRING_set(enc, der, len) == 1;
  OPENSSL_free(der);
  ASN1_item_free((ASN1_VALUE *)tcr, it);
  if (!ok) {
    ASN1_STRING_free(enc);
    ASN1_TYPE_free(tagged);
    owcp_error_set_ssl(err, "cannot encode the CMC TaggedRequest");
    return NULL;
  }
  ASN1_TYPE_set(tagged, V_ASN1_OTHER, enc);
  return tagged;
}

int cmc_pkidata_encode(const unsigned char *csr, size_t csr_len,
                       unsigned char **out, size_t *out_len,
                       struct owcp_error *err)
{
  *out = NULL;
  *out_len = 0;
  ASN1_TYPE *tr = tagged_request_new(csr, csr_len, err);
  if (tr == NULL)
    return -1;
  CMC_PKIDATA *pd = (CMC_PKIDATA *)ASN1_item_new(ASN1_ITEM_rptr(CMC_PKIDATA));
  if (pd == NULL || sk_ASN1_TYPE_push(pd->req_sequence, tr) <= 0) {
    ASN1_TYPE_free(tr);
    ASN1_item_free((ASN1_VALUE *)pd, ASN1_ITEM_rptr(CMC_PKIDATA));
    owcp_error_set_ssl(err, "out of memory building the CMC request");
    return -1;
  }
  unsigned char *der = NULL;
  int len = ASN1_item_i2d((ASN1_VALUE *)pd, &der, ASN1_ITEM_rptr(CMC_PKIDATA));
  ASN1_item_free((ASN1_VALUE *)pd, ASN1_ITEM_rptr(CMC_PKIDATA));
  if (len <= 0) {
    owcp_error_set_ssl(err, "cannot encode the CMC PKIData");
    return -1;
  }
  return take_der(der, len, out, out_len, err);
}

/* SignedData over content with eContentType id-cct-PKIData, one RA signer
 * and the RA certificate; NULL with err set on failure. */
static CMS_ContentInfo *sign_pkidata(BIO *content, X509 *ra_cert,
                                     EVP_PKEY *ra_key, struct owcp_error *err)
{
  const unsigned int flags = CMS_BINARY | CMS_NOSMIMECAP;
  ASN1_OBJECT *type = OBJ_txt2obj(CMC_OID_PKIDATA, 1);
  CMS_ContentInfo *cms = CMS_sign(NULL, NULL, NULL, NULL, CMS_PARTIAL | flags);
  bool ok =
      type != NULL && cms != NULL && CMS_set1_eContentType(cms, type) == 1 &&
      CMS_add1_signer(cms, ra_cert, ra_key, EVP_sha256(), flags) != NULL &&
      CMS_final(cms, content, NULL, flags) == 1;
  ASN1_OBJECT_free(type);
  if (!ok) {
    CMS_ContentInfo_free(cms);
    owcp_error_set_ssl(err, "cannot sign the CMC request with the RA "
                            "certificate");
    return NULL;
  }
  return cms;
}

int cmc_ra_sign(const unsigned char *csr, size_t csr_len, X509 *ra_cert,
                EVP_PKEY *ra_key, unsigned char **out, size_t *out_len,
                struct owcp_error *err)
{
  *out = NULL;
  *out_len = 0;
  unsigned char *pkidata = NULL;
  size_t pkidata_len = 0;
  if (cmc_pkidata_encode(csr, csr_len, &pkidata, &pkidata_len, err) != 0)
    return -1;
  BIO *content = BIO_new_mem_buf(pkidata, (int)pkidata_len);
  CMS_ContentInfo *cms =
      content != NULL ? sign_pkidata(content, ra_cert, ra_key, err) : NULL;
  if (content == NULL)
    owcp_error_set(err, "out of memory");
  BIO_free(content);
  free(pkidata);
  if (cms == NULL)
    return -1;
  unsigned char *der = NULL;
  int len = i2d_CMS_ContentInfo(cms, &der);
  CMS_ContentInfo_free(cms);
  if (len <= 0) {
    owcp_error_set_ssl(err, "cannot encode the signed CMC request");
    return -1;
  }
  return take_der(der, len, out, out_len, err);
}
