/*
 * verify.c — why a requestor may believe an answer (spec §§4, 6): the
 * client's CMS receipt must verify under the dispatcher's client CA and
 * cover exactly the request that was sent, for this transaction, account,
 * client and response, with every requested verification method
 * performed; a DR-Complete body must carry the dispatcher's signature.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "internal.h"
#include "owcp/ca.h"
#include "owcp/jsonspec.h"
#include "owcp/keys.h"
#include "owcp/receipt.h"

static enum owcp_rq_response response_of(const char *s)
{
  if (strcmp(s, "Accept") == 0)
    return OWCP_RQ_ACCEPT;
  if (strcmp(s, "Reject") == 0)
    return OWCP_RQ_REJECT;
  if (strcmp(s, "Refuse") == 0)
    return OWCP_RQ_REFUSE;
  return OWCP_RQ_NO_RESPONSE;
}

/* Spec §6: for Accept and Reject the client performed every method the
 * request named, so each must be listed in the signed receipt. */
static int check_methods(const struct owcp_receipt *r,
                         const struct owcp_request *req, struct owcp_error *err)
{
  if (strcmp(r->response, "Refuse") == 0)
    return 0;
  for (size_t i = 0; i < req->header.verification_count; i++) {
    const char *m = req->header.verification[i];
    bool found = false;
    for (size_t j = 0; j < r->verification_count && !found; j++)
      found = strcmp(r->verification[j], m) == 0;
    if (!found) {
      owcp_error_set(err,
                     "the request asked for verification '%s' but the "
                     "receipt does not list it",
                     m);
      return -1;
    }
  }
  return 0;
}

/* The receipt's Account must be the request's <To> (as an account). */
static int check_account(const struct owcp_receipt *r,
                         const struct owcp_request *req, struct owcp_error *err)
{
  if (rq_same_account(req->header.to, r->account))
    return 0;
  owcp_error_set(err,
                 "the receipt's Account '%s' is not the request's "
                 "<To> '%s'",
                 r->account, req->header.to);
  return -1;
}

/* The certificate that signed the (already verified) CMS receipt; the
 * caller frees it. */
static X509 *signer_cert(const unsigned char *der, size_t len,
                         struct owcp_error *err)
{
  const unsigned char *p = der;
  CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &p, (long)len);
  STACK_OF(CMS_SignerInfo) *sis = cms ? CMS_get0_SignerInfos(cms) : NULL;
  STACK_OF(X509) *certs = cms ? CMS_get1_certs(cms) : NULL;
  X509 *found = NULL;

  if (sis != NULL && sk_CMS_SignerInfo_num(sis) == 1 && certs != NULL) {
    CMS_SignerInfo *si = sk_CMS_SignerInfo_value(sis, 0);
    for (int i = 0; i < sk_X509_num(certs) && found == NULL; i++)
      if (CMS_SignerInfo_cert_cmp(si, sk_X509_value(certs, i)) == 0)
        found = X509_dup(sk_X509_value(certs, i));
  }
  if (found == NULL)
    owcp_error_set_ssl(err, "the receipt's signer certificate is missing");
  ERR_clear_error();
  sk_X509_pop_free(certs, X509_free);
  CMS_ContentInfo_free(cms);
  return found;
}

/* True when the certificate's subject holds exactly one CN and it is
 * exactly `client` (compared in full: no truncation to a buffer, no
 * stopping at an embedded NUL). */
static bool names_client(X509 *cert, const char *client)
{
  const X509_NAME *name = X509_get_subject_name(cert);
  int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  unsigned char *utf8 = NULL;
  bool same;
  int n;

  if (i < 0 || X509_NAME_get_index_by_NID(name, NID_commonName, i) >= 0)
    return false;
  n = ASN1_STRING_to_UTF8(
      &utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
  same = n >= 0 && (size_t)n == strlen(client) &&
         memcmp(utf8, client, (size_t)n) == 0;
  OPENSSL_free(utf8);
  ERR_clear_error();
  return same;
}

/* The CA binds a client certificate to its account (rfc822Name) and client
 * (CN); the receipt's Account and Client must be those, so a client of one
 * account cannot sign for another even if a dispatcher let it through. */
static int check_signer_identity(const unsigned char *der, size_t len,
                                 const struct owcp_receipt *r,
                                 struct owcp_error *err)
{
  char account[OWCP_ACCOUNT_MAX + 1];
  X509 *cert = signer_cert(der, len, err);
  int rc = -1;

  if (cert == NULL)
    return -1;
  if (owcp_cert_get_account(cert, account, sizeof account, err) != 0)
    goto done;
  if (!rq_same_account(account, r->account)) {
    owcp_error_set(err,
                   "the receipt claims Account '%s' but was signed by a "
                   "certificate of '%s'",
                   r->account, account);
    goto done;
  }
  if (!names_client(cert, r->client)) {
    owcp_error_set(err,
                   "the receipt claims Client '%s' but its signer "
                   "certificate names another client",
                   r->client);
    goto done;
  }
  rc = 0;
done:
  X509_free(cert);
  return rc;
}

/* Copies the signed content into out's answer fields. */
static int fill_answer(const struct owcp_receipt *r, struct owcp_rq_result *out)
{
  out->response = response_of(r->response);
  if ((r->reason != NULL && (out->reason = strdup(r->reason)) == NULL) ||
      (out->client = strdup(r->client)) == NULL ||
      (out->account = strdup(r->account)) == NULL ||
      (out->signed_at = strdup(r->signed_at)) == NULL)
    return -1;
  if (out->transaction == NULL &&
      (out->transaction = strdup(r->transaction)) == NULL)
    return -1;
  if (r->verification_count > 0) {
    out->verification = calloc(r->verification_count, sizeof(char *));
    if (out->verification == NULL)
      return -1;
    for (size_t i = 0; i < r->verification_count; i++) {
      out->verification[i] = strdup(r->verification[i]);
      if (out->verification[i] == NULL)
        return -1;
      out->verification_count = i + 1;
    }
  }
  return 0;
}

/* The receipt covers exactly xml and what the caller expects (NULL
 * expectations are skipped). */
static int check_matches(const struct owcp_receipt *r, const char *xml,
                         size_t xml_len, const char *tx, const char *client,
                         const char *response, struct owcp_error *err)
{
  return owcp_receipt_matches(
      r, tx ? tx : r->transaction, r->account, client ? client : r->client,
      response ? response : r->response, xml, xml_len, err);
}

/* Everything but the CMS signature: the content against what was sent and
 * what the caller expects (NULL expectations are skipped). */
static int check_content(const struct owcp_receipt *r,
                         const struct owcp_request *req, const char *xml,
                         size_t xml_len, const char *tx, const char *client,
                         const char *response, struct owcp_error *err)
{
  if (check_matches(r, xml, xml_len, tx, client, response, err) != 0)
    return -1;
  return check_account(r, req, err) != 0 || check_methods(r, req, err) != 0 ? -1
                                                                            : 0;
}

/* The result names the request by its own identifier (the one in the bytes
 * that were checked), so an application that keys its pending actions by
 * identifier cannot be pointed at another one by the dispatcher's JSON. */
static int take_identifier(const json_t *reported,
                           const struct owcp_request *req,
                           struct owcp_rq_result *out, struct owcp_error *err)
{
  const char *said = json_string_value(json_object_get(reported, "Identifier"));
  const char *ours = req->header.identifier;

  if (said != NULL && (ours == NULL || strcmp(said, ours) != 0)) {
    owcp_error_set(err, "the answer's Identifier is not the identifier of the "
                        "request that was sent");
    return -1;
  }
  free(out->identifier);
  out->identifier = NULL;
  if (ours != NULL && (out->identifier = strdup(ours)) == NULL) {
    owcp_error_set(err, "out of memory");
    return -1;
  }
  return 0;
}

int rq_verify_result(X509 *ca, const struct owcp_xml_validator *v,
                     const char *xml, size_t xml_len, const json_t *reported,
                     struct owcp_rq_result *out, struct owcp_error *err)
{
  const char *tx = json_string_value(json_object_get(reported, "Transaction"));
  const char *client = json_string_value(json_object_get(reported, "Client"));
  const char *resp = json_string_value(json_object_get(reported, "Response"));
  struct owcp_receipt *r = NULL;
  struct owcp_request *req = NULL;
  int rc = -1;

  if (tx == NULL || client == NULL || resp == NULL) {
    owcp_error_set(err, "the answer lacks Transaction, Client or Response");
    return -1;
  }
  if (owcp_receipt_verify(out->receipt, out->receipt_len, ca, NULL, &r, err) !=
      0)
    return -1;
  if (check_signer_identity(out->receipt, out->receipt_len, r, err) != 0)
    goto done;
  if (owcp_request_parse(v, xml, xml_len, &req, err) != OWCP_XML_OK)
    goto done;
  if (check_content(r, req, xml, xml_len, tx, client, resp, err) != 0 ||
      take_identifier(reported, req, out, err) != 0)
    goto done;
  if (rq_dup_member(reported, "Responded", &out->responded) != 0 ||
      fill_answer(r, out) != 0) {
    owcp_error_set(err, "out of memory");
    goto done;
  }
  rc = 0;
done:
  owcp_request_free(req);
  owcp_receipt_free(r);
  return rc;
}

/* out's fields beyond fill_answer(): Match, and the covered request's
 * identifier and From. */
static int fill_extra(const struct owcp_receipt *r,
                      const struct owcp_request *req,
                      struct owcp_rq_result *out)
{
  if ((r->match != NULL && (out->match = strdup(r->match)) == NULL) ||
      (out->from = strdup(req->header.from)) == NULL)
    return -1;
  return req->header.identifier == NULL ||
                 (out->identifier = strdup(req->header.identifier)) != NULL
             ? 0
             : -1;
}

int owcp_rq_verify_receipt(const unsigned char *der, size_t der_len,
                           const char *client_ca_pem, const char *request_xml,
                           size_t xml_len, const char *transaction,
                           const char *client, const char *response,
                           struct owcp_rq_result *out, struct owcp_error *err)
{
  struct owcp_xml_validator *v = NULL;
  struct owcp_receipt *r = NULL;
  struct owcp_request *req = NULL;
  struct owcp_error why = {{0}};
  X509 *ca = NULL;
  int rc = -1;

  if (out != NULL)
    memset(out, 0, sizeof *out);
  if (der == NULL || client_ca_pem == NULL) {
    owcp_error_set(err, "a receipt and a client CA are required");
    return -1;
  }
  ca = owcp_cert_from_pem(client_ca_pem, strlen(client_ca_pem), &why);
  if (ca == NULL) {
    owcp_error_set(err, "the client CA is unusable: %s", why.msg);
    return -1;
  }
  if (owcp_receipt_verify(der, der_len, ca, NULL, &r, err) != 0 ||
      check_signer_identity(der, der_len, r, err) != 0)
    goto done;
  /* Without the bytes that were sent, the request inside the receipt is
   * checked the same way: schema, <To>, verification methods. */
  if (request_xml == NULL) {
    request_xml = r->request;
    xml_len = r->request_len;
  }
  v = owcp_xml_validator_new(NULL, err);
  if (v == NULL ||
      owcp_request_parse(v, request_xml, xml_len, &req, err) != OWCP_XML_OK ||
      check_content(r, req, request_xml, xml_len, transaction, client, response,
                    err) != 0)
    goto done;
  if (out != NULL) {
    if (fill_answer(r, out) != 0 || fill_extra(r, req, out) != 0) {
      owcp_rq_result_free(out);
      owcp_error_set(err, "out of memory");
      goto done;
    }
    out->status = OWCP_RQ_OK;
  }
  rc = 0;
done:
  owcp_request_free(req);
  owcp_xml_validator_free(v);
  owcp_receipt_free(r);
  X509_free(ca);
  return rc;
}

/* True for the octets base64 text may be wrapped with. */
static bool is_space(unsigned char c)
{
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* PEM "CMS" or "PKCS7" (what `openssl cms -outform PEM` writes) to DER. */
static int receipt_from_pem(const void *data, size_t len, unsigned char **der,
                            size_t *der_len, struct owcp_error *err)
{
  BIO *bio = BIO_new_mem_buf(data, len > INT_MAX ? INT_MAX : (int)len);
  char *name = NULL, *header = NULL;
  unsigned char *body = NULL;
  long body_len = 0;
  int rc = -1;

  if (bio == NULL || PEM_read_bio(bio, &name, &header, &body, &body_len) != 1) {
    owcp_error_set_ssl(err, "the receipt's PEM does not decode");
  } else if (strcmp(name, "CMS") != 0 && strcmp(name, "PKCS7") != 0) {
    owcp_error_set(err,
                   "the receipt's PEM holds a '%s', not a CMS or PKCS7 "
                   "receipt",
                   name);
  } else if ((*der = malloc((size_t)body_len)) == NULL) {
    owcp_error_set(err, "out of memory");
  } else {
    memcpy(*der, body, (size_t)body_len);
    *der_len = (size_t)body_len;
    rc = 0;
  }
  OPENSSL_free(name);
  OPENSSL_free(header);
  OPENSSL_free(body);
  BIO_free(bio);
  ERR_clear_error();
  return rc;
}

/* base64 text, white space ignored, to DER. */
static int receipt_from_base64(const unsigned char *data, size_t len,
                               unsigned char **der, size_t *der_len,
                               struct owcp_error *err)
{
  struct owcp_error why = {{0}};
  char *text = malloc(len + 1);
  size_t n = 0;
  int rc;

  if (text == NULL) {
    owcp_error_set(err, "out of memory");
    return -1;
  }
  for (size_t i = 0; i < len; i++)
    if (!is_space(data[i]))
      text[n++] = (char)data[i];
  text[n] = '\0';
  rc = owcp_base64_decode(text, n, der, der_len, &why);
  free(text);
  if (rc != 0 || *der_len == 0 || (*der)[0] != 0x30) {
    if (rc == 0)
      free(*der);
    *der = NULL;
    owcp_error_set(err,
                   "the receipt file is neither DER (a CMS SignedData), PEM "
                   "(-----BEGIN CMS-----) nor base64 text%s%s",
                   rc != 0 ? ": " : "", rc != 0 ? why.msg : "");
    return -1;
  }
  return 0;
}

int owcp_rq_receipt_decode(const void *data, size_t len, unsigned char **der,
                           size_t *der_len, struct owcp_error *err)
{
  const unsigned char *p = data;

  *der = NULL;
  *der_len = 0;
  if (data == NULL || len == 0) {
    owcp_error_set(err, "the receipt file is empty");
    return -1;
  }
  size_t lead = 0;

  while (lead < len && is_space(p[lead]))
    lead++;
  if (len - lead >= 11 && memcmp(p + lead, "-----BEGIN ", 11) == 0)
    return receipt_from_pem(data, len, der, der_len, err);
  /* DER is a SEQUENCE (0x30, '0'); base64 of one starts with 'M', so text
   * starting with '0' is never the base64 of a receipt. */
  if (p[0] == 0x30) {
    if ((*der = malloc(len)) == NULL) {
      owcp_error_set(err, "out of memory");
      return -1;
    }
    memcpy(*der, data, len);
    *der_len = len;
    return 0;
  }
  return receipt_from_base64(p, len, der, der_len, err);
}

/* The receipt's Request must come from this requestor and be the one the
 * completion names. */
static int check_sender(const struct owcp_request *req, const char *account,
                        const char *identifier, struct owcp_error *err)
{
  bool ours;

  if (!rq_same_account(req->header.from, account)) {
    owcp_error_set(err,
                   "the receipt's Request is from '%s', not from this "
                   "requestor",
                   req->header.from);
    return -1;
  }
  ours = identifier != NULL && req->header.identifier != NULL &&
         strcmp(identifier, req->header.identifier) == 0;
  if (!ours) {
    owcp_error_set(err, "the completion's Identifier is not the identifier "
                        "of the Request the receipt covers");
    return -1;
  }
  return 0;
}

int rq_check_completion(X509 *ca, const struct owcp_xml_validator *v,
                        const char *account, const struct owcp_completion *c,
                        struct owcp_error *err)
{
  struct owcp_receipt *r = NULL;
  struct owcp_request *req = NULL;
  int rc = -1;

  if (c->client == NULL || c->response == NULL) {
    owcp_error_set(err, "the completion lacks Client or Response");
    return -1;
  }
  if (owcp_receipt_verify(c->receipt, c->receipt_len, ca, NULL, &r, err) != 0 ||
      check_signer_identity(c->receipt, c->receipt_len, r, err) != 0 ||
      owcp_request_parse(v, r->request, r->request_len, &req, err) !=
          OWCP_XML_OK ||
      check_content(r, req, r->request, r->request_len, c->transaction,
                    c->client, c->response, err) != 0 ||
      check_sender(req, account, c->identifier, err) != 0)
    goto done;
  rc = 0;
done:
  owcp_request_free(req);
  owcp_receipt_free(r);
  return rc;
}

int owcp_rq_verify_completion(const char *signature_header, const void *body,
                              size_t body_len, const char *dispatcher_cert_pem,
                              struct owcp_error *err)
{
  X509 *cert;
  int rc;

  if (signature_header == NULL) {
    owcp_error_set(err, "no OWCP-Signature header");
    return -1;
  }
  if (dispatcher_cert_pem == NULL) {
    owcp_error_set(err, "no dispatcher certificate to verify against");
    return -1;
  }
  cert =
      owcp_cert_from_pem(dispatcher_cert_pem, strlen(dispatcher_cert_pem), err);
  if (cert == NULL)
    return -1;
  rc = owcp_sig_header_verify(signature_header, body, body_len, cert, err);
  X509_free(cert);
  return rc;
}
