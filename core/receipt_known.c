/*
 * receipt_known.c — owcp_receipt_verify_known_signer() (owcp/receipt.h):
 * the dispatcher's CD-Reply path, where the signer's certificate is the
 * one the dispatcher issued and already holds parsed.
 *
 * Why a second decoder: d2i_CMS_ContentInfo() decodes every certificate
 * the CMS carries, and with OpenSSL 3.0 decoding a certificate's public
 * key sets up a provider decoder chain (OSSL_DECODER_CTX_new_for_pkey) on
 * every call — the largest single cost of a CD-Reply in bench/run.sh. On
 * this path the included certificate must be byte-identical to the known
 * one, so it never needs decoding: the receipt is first read with an ASN.1
 * template that keeps the SignedData's fields as raw encodings and the
 * certificates as opaque octets, each certificate is compared byte for byte
 * with the known one, and the SignedData is re-encoded without its
 * certificates and handed to OpenSSL's CMS decoder. Everything that is
 * verified — shape, signer identifier, signed attributes, signature,
 * content digest, content — is verified by the same OpenSSL CMS calls as
 * before, on the same signer info and content octets (fields other than
 * the certificates are re-encoded verbatim: SETs and SEQUENCEs held as ANY
 * keep their bytes).
 */
#include "owcp/receipt.h"
#include "receipt_internal.h"

#include <openssl/asn1t.h>
#include <openssl/err.h>
#include <openssl/objects.h>

#include <stdbool.h>
#include <string.h>

/* ContentInfo ::= SEQUENCE { contentType, [0] EXPLICIT ANY } (RFC 5652
 * §3), the content kept as its raw encoding. */
typedef struct {
  ASN1_OBJECT *type;
  ASN1_TYPE *content;
} RAW_CONTENT_INFO;

ASN1_SEQUENCE(RAW_CONTENT_INFO) = {
    ASN1_SIMPLE(RAW_CONTENT_INFO, type, ASN1_OBJECT),
    ASN1_EXP_OPT(RAW_CONTENT_INFO, content, ASN1_ANY, 0),
} static_ASN1_SEQUENCE_END(RAW_CONTENT_INFO)

/* SignedData (RFC 5652 §5.1) with every field but the certificates kept as
 * its raw encoding; certificates and CRLs as opaque octets. */
typedef struct {
  ASN1_TYPE *version;
  ASN1_TYPE *digest_algorithms;
  ASN1_TYPE *encap_content_info;
  STACK_OF(ASN1_TYPE) * certificates;
  STACK_OF(ASN1_TYPE) * crls;
  ASN1_TYPE *signer_infos;
} RAW_SIGNED_DATA;

ASN1_SEQUENCE(RAW_SIGNED_DATA) = {
    ASN1_SIMPLE(RAW_SIGNED_DATA, version, ASN1_ANY),
    ASN1_SIMPLE(RAW_SIGNED_DATA, digest_algorithms, ASN1_ANY),
    ASN1_SIMPLE(RAW_SIGNED_DATA, encap_content_info, ASN1_ANY),
    ASN1_IMP_SET_OF_OPT(RAW_SIGNED_DATA, certificates, ASN1_ANY, 0),
    ASN1_IMP_SET_OF_OPT(RAW_SIGNED_DATA, crls, ASN1_ANY, 1),
    ASN1_SIMPLE(RAW_SIGNED_DATA, signer_infos, ASN1_ANY),
} static_ASN1_SEQUENCE_END(RAW_SIGNED_DATA)

/* The receipt's outer layers and, once found, whether the CMS carries the
 * known certificate byte for byte. */
struct raw_receipt {
  RAW_CONTENT_INFO *ci;
  RAW_SIGNED_DATA *sd;
  bool has_known_cert;
};

static void raw_receipt_free(struct raw_receipt *raw)
{
  ASN1_item_free((ASN1_VALUE *)raw->sd, ASN1_ITEM_rptr(RAW_SIGNED_DATA));
  ASN1_item_free((ASN1_VALUE *)raw->ci, ASN1_ITEM_rptr(RAW_CONTENT_INFO));
}

/* Decodes the ContentInfo and its SignedData without decoding any
 * certificate. */
static int raw_parse(const unsigned char *der, size_t len,
                     struct raw_receipt *raw, struct owcp_error *err)
{
  const unsigned char *q = der, *sq;
  const ASN1_STRING *body;

  raw->ci = (RAW_CONTENT_INFO *)ASN1_item_d2i(NULL, &q, (long)len,
                                              ASN1_ITEM_rptr(RAW_CONTENT_INFO));
  if (raw->ci == NULL) {
    owcp_error_set_ssl(err, "receipt is not DER CMS");
    return -1;
  }
  if (receipt_check_end(der, len, q, err) != 0)
    return -1;
  if (OBJ_obj2nid(raw->ci->type) != NID_pkcs7_signed) {
    owcp_error_set(err, "receipt is not CMS SignedData");
    return -1;
  }
  if (raw->ci->content == NULL ||
      ASN1_TYPE_get(raw->ci->content) != V_ASN1_SEQUENCE) {
    owcp_error_set(err, "receipt is not DER CMS: no SignedData content");
    return -1;
  }
  /* An ANY SEQUENCE holds its whole encoding, tag and length included. */
  body = raw->ci->content->value.sequence;
  sq = body->data;
  raw->sd = (RAW_SIGNED_DATA *)ASN1_item_d2i(NULL, &sq, body->length,
                                             ASN1_ITEM_rptr(RAW_SIGNED_DATA));
  if (raw->sd == NULL || sq != body->data + body->length) {
    owcp_error_set_ssl(err, "receipt is not DER CMS: malformed SignedData");
    return -1;
  }
  return 0;
}

/* Notes whether one of the included certificates is known_der byte for
 * byte, then drops them all: OpenSSL never sees them. */
static void take_certificates(struct raw_receipt *raw,
                              const unsigned char *known_der, int known_len)
{
  STACK_OF(ASN1_TYPE) *certs = raw->sd->certificates;

  for (int i = 0; i < sk_ASN1_TYPE_num(certs); i++) {
    const ASN1_TYPE *c = sk_ASN1_TYPE_value(certs, i);

    /* A Certificate is a SEQUENCE; other CertificateChoices never match. */
    if (ASN1_TYPE_get(c) == V_ASN1_SEQUENCE &&
        c->value.sequence->length == known_len &&
        memcmp(c->value.sequence->data, known_der, (size_t)known_len) == 0)
      raw->has_known_cert = true;
  }
  sk_ASN1_TYPE_pop_free(certs, ASN1_TYPE_free);
  raw->sd->certificates = NULL;
}

/* Re-encodes the receipt without its certificates and decodes that with
 * OpenSSL's CMS decoder into p->cms. */
static int reparse_without_certificates(struct raw_receipt *raw,
                                        struct receipt_parsed *p,
                                        struct owcp_error *err)
{
  unsigned char *sd_der = NULL, *ci_der = NULL;
  const unsigned char *q;
  int sd_len, ci_len, rc = -1;

  sd_len = ASN1_item_i2d((ASN1_VALUE *)raw->sd, &sd_der,
                         ASN1_ITEM_rptr(RAW_SIGNED_DATA));
  if (sd_len <= 0 ||
      ASN1_STRING_set(raw->ci->content->value.sequence, sd_der, sd_len) != 1) {
    owcp_error_set_ssl(err, "cannot re-encode the receipt");
    goto out;
  }
  ci_len = ASN1_item_i2d((ASN1_VALUE *)raw->ci, &ci_der,
                         ASN1_ITEM_rptr(RAW_CONTENT_INFO));
  if (ci_len <= 0) {
    owcp_error_set_ssl(err, "cannot re-encode the receipt");
    goto out;
  }
  q = ci_der;
  p->cms = d2i_CMS_ContentInfo(NULL, &q, ci_len);
  if (p->cms == NULL || q != ci_der + ci_len) {
    owcp_error_set_ssl(err, "receipt is not DER CMS");
    goto out;
  }
  rc = 0;
out:
  OPENSSL_free(sd_der);
  OPENSSL_free(ci_der);
  return rc;
}

/* Parse and shape, certificates compared but never decoded. */
static int open_known(const unsigned char *der, size_t len, X509 *known,
                      struct receipt_parsed *p, bool *has_known_cert,
                      struct owcp_error *err)
{
  struct raw_receipt raw = {0};
  unsigned char *known_der = NULL;
  int known_len, rc = -1;

  if (receipt_check_size(der, len, err) != 0 ||
      raw_parse(der, len, &raw, err) != 0)
    goto out;
  known_len = i2d_X509(known, &known_der);
  if (known_len <= 0) {
    owcp_error_set_ssl(err, "cannot encode the client certificate");
    goto out;
  }
  take_certificates(&raw, known_der, known_len);
  *has_known_cert = raw.has_known_cert;
  if (reparse_without_certificates(&raw, p, err) != 0 ||
      receipt_check_shape(p, err) != 0)
    goto out;
  rc = 0;
out:
  OPENSSL_free(known_der);
  raw_receipt_free(&raw);
  return rc;
}

/* The signer identifier must name the known certificate, and the CMS must
 * include that certificate byte for byte. */
static int check_signer(struct receipt_parsed *p, X509 *known,
                        bool has_known_cert, struct owcp_error *err)
{
  if (CMS_SignerInfo_cert_cmp(p->si, known) != 0) {
    owcp_error_set(err, "receipt signer certificate is not the expected "
                        "client certificate");
    return -1;
  }
  if (!has_known_cert) {
    owcp_error_set(err, "receipt does not include the signer's certificate "
                        "byte for byte");
    return -1;
  }
  return receipt_check_not_ca(known, err);
}

int owcp_receipt_verify_known_signer(const unsigned char *der, size_t der_len,
                                     X509 *signer_cert,
                                     struct owcp_receipt **out,
                                     struct owcp_error *err)
{
  struct receipt_parsed p = {0};
  bool has_known_cert = false;
  BIO *content = NULL;
  int rc = -1;

  *out = NULL;
  if (signer_cert == NULL) {
    owcp_error_set(err, "no signer certificate to verify the receipt with");
    return -1;
  }
  if (open_known(der, der_len, signer_cert, &p, &has_known_cert, err) != 0 ||
      check_signer(&p, signer_cert, has_known_cert, err) != 0)
    goto out;
  /* The caller's parsed certificate (and its cached key) signs. */
  CMS_SignerInfo_set1_signer_cert(p.si, signer_cert);
  if (CMS_SignerInfo_verify(p.si) != 1) {
    owcp_error_set_ssl(err, "receipt signature does not verify with the "
                            "client's key");
    goto out;
  }
  content = BIO_new(BIO_s_mem());
  if (content == NULL) {
    owcp_error_set_ssl(err, "out of memory");
    goto out;
  }
  if (receipt_verify_content_digest(&p, content, err) != 0)
    goto out;
  rc = receipt_content_to_receipt(content, out, err);
out:
  BIO_free(content);
  receipt_parsed_free(&p);
  ERR_clear_error();
  return rc;
}
