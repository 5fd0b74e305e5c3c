/* The RA-signed CMC Full PKI Request; see cmc.h for the layout. */
#include "cmc.h"

#include <limits.h>
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

ASN1_SEQUENCE(CMC_TAGGED_CR) =
    {
        ASN1_SIMPLE(CMC_TAGGED_CR, body_part_id, ASN1_INTEGER),
        ASN1_SIMPLE(CMC_TAGGED_CR, request, ASN1_ANY),
} static_ASN1_SEQUENCE_END(CMC_TAGGED_CR)

    /* TaggedRequest ::= CHOICE { tcr [0] TaggedCertificationRequest, ... }
     * (the CMC module uses implicit tags). Only tcr is ever built. */
    typedef struct {
  int type;
  union {
    CMC_TAGGED_CR *tcr;
  } d;
} CMC_TAGGED_REQUEST;

ASN1_CHOICE(CMC_TAGGED_REQUEST) =
    {
        ASN1_IMP(CMC_TAGGED_REQUEST, d.tcr, CMC_TAGGED_CR, 0),
} static_ASN1_CHOICE_END(CMC_TAGGED_REQUEST)

        DEFINE_STACK_OF(CMC_TAGGED_REQUEST)

    /* PKIData (RFC 5272 §3.2.1). The sequences the bridge leaves empty are
     * typed ANY: nothing is ever put in them. */
    typedef struct {
  STACK_OF(ASN1_TYPE) * control_sequence;
  STACK_OF(CMC_TAGGED_REQUEST) * req_sequence;
  STACK_OF(ASN1_TYPE) * cms_sequence;
  STACK_OF(ASN1_TYPE) * other_msg_sequence;
} CMC_PKIDATA;

ASN1_SEQUENCE(CMC_PKIDATA) =
    {
        ASN1_SEQUENCE_OF(CMC_PKIDATA, control_sequence, ASN1_ANY),
        ASN1_SEQUENCE_OF(CMC_PKIDATA, req_sequence, CMC_TAGGED_REQUEST),
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

static CMC_TAGGED_REQUEST *tagged_request_new(const unsigned char *csr,
                                              size_t csr_len,
                                              struct owcp_error *err)
{
  ASN1_TYPE *any = csr_as_any(csr, csr_len, err);
  if (any == NULL)
    return NULL;
  CMC_TAGGED_REQUEST *tr =
      (CMC_TAGGED_REQUEST *)ASN1_item_new(ASN1_ITEM_rptr(CMC_TAGGED_REQUEST));
  CMC_TAGGED_CR *tcr =
      (CMC_TAGGED_CR *)ASN1_item_new(ASN1_ITEM_rptr(CMC_TAGGED_CR));
  if (tr == NULL || tcr == NULL ||
      ASN1_INTEGER_set(tcr->body_part_id, CMC_CSR_BODY_PART_ID) != 1) {
    ASN1_TYPE_free(any);
    ASN1_item_free((ASN1_VALUE *)tcr, ASN1_ITEM_rptr(CMC_TAGGED_CR));
    ASN1_item_free((ASN1_VALUE *)tr, ASN1_ITEM_rptr(CMC_TAGGED_REQUEST));
    owcp_error_set_ssl(err, "out of memory building the CMC request");
    return NULL;
  }
  ASN1_TYPE_free(tcr->request);
  tcr->request = any;
  tr->type = 0;
  tr->d.tcr = tcr;
  return tr;
}

int cmc_pkidata_encode(const unsigned char *csr, size_t csr_len,
                       unsigned char **out, size_t *out_len,
                       struct owcp_error *err)
{
  *out = NULL;
  *out_len = 0;
  CMC_TAGGED_REQUEST *tr = tagged_request_new(csr, csr_len, err);
  if (tr == NULL)
    return -1;
  CMC_PKIDATA *pd = (CMC_PKIDATA *)ASN1_item_new(ASN1_ITEM_rptr(CMC_PKIDATA));
  if (pd == NULL || sk_CMC_TAGGED_REQUEST_push(pd->req_sequence, tr) <= 0) {
    ASN1_item_free((ASN1_VALUE *)tr, ASN1_ITEM_rptr(CMC_TAGGED_REQUEST));
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
