/*
 * csr.c — PKCS#10 certificate requests: made by clients for CD-Register,
 * verified by the dispatcher before it issues a certificate. See owcp/ca.h.
 */
#include "owcp/ca.h"
#include "owcp/keys.h"

#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Requests are a few hundred bytes; anything large is hostile. */
#define MAX_CSR_DER 16384

int owcp_csr_new(EVP_PKEY *key, const char *cn, unsigned char **der,
                 size_t *der_len, struct owcp_error *err)
{
  X509_REQ *req = NULL;
  X509_NAME *name = NULL;
  unsigned char *buf = NULL;
  int len, rc = -1;

  *der = NULL;
  *der_len = 0;
  if (cn == NULL || cn[0] == '\0') {
    owcp_error_set(err, "CSR subject CN must not be empty");
    return -1;
  }
  if (owcp_key_check_p256(key, err) != 0)
    return -1;
  req = X509_REQ_new();
  name = X509_NAME_new();
  if (req == NULL || name == NULL ||
      X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                 (const unsigned char *)cn, -1, -1, 0) != 1 ||
      X509_REQ_set_version(req, 0) != 1 ||
      X509_REQ_set_subject_name(req, name) != 1 ||
      X509_REQ_set_pubkey(req, key) != 1 ||
      X509_REQ_sign(req, key, EVP_sha256()) <= 0) {
    owcp_error_set_ssl(err, "cannot create the certificate request");
    goto out;
  }
  len = i2d_X509_REQ(req, &buf);
  if (len <= 0) {
    owcp_error_set_ssl(err, "cannot encode the certificate request");
    goto out;
  }
  *der = malloc((size_t)len);
  if (*der == NULL) {
    owcp_error_set(err, "out of memory");
    goto out;
  }
  memcpy(*der, buf, (size_t)len);
  *der_len = (size_t)len;
  rc = 0;
out:
  OPENSSL_free(buf);
  X509_NAME_free(name);
  X509_REQ_free(req);
  return rc;
}

/* Refuses SHA-1 and anything that is not ECDSA; X509_REQ_verify alone would
 * accept any digest the provider offers. */
static int check_csr_signature_alg(const X509_REQ *req, struct owcp_error *err)
{
  int nid = X509_REQ_get_signature_nid(req);

  switch (nid) {
  case NID_ecdsa_with_SHA256:
  case NID_ecdsa_with_SHA384:
  case NID_ecdsa_with_SHA512:
    return 0;
  default:
    owcp_error_set(err,
                   "CSR signature algorithm %s is not accepted (ECDSA with "
                   "SHA-256 or stronger required)",
                   nid != NID_undef ? OBJ_nid2sn(nid) : "unknown");
    return -1;
  }
}

EVP_PKEY *owcp_csr_verify(const unsigned char *der, size_t len,
                          struct owcp_error *err)
{
  const unsigned char *p = der;
  EVP_PKEY *pub = NULL;
  X509_REQ *req;

  if (der == NULL || len == 0) {
    owcp_error_set(err, "CSR is empty");
    return NULL;
  }
  if (len > MAX_CSR_DER) {
    owcp_error_set(err, "CSR is %zu bytes, more than the %d allowed", len,
                   MAX_CSR_DER);
    return NULL;
  }
  req = d2i_X509_REQ(NULL, &p, (long)len);
  if (req == NULL) {
    owcp_error_set_ssl(err, "CSR is not a DER PKCS#10 request");
    return NULL;
  }
  if (p != der + len) {
    owcp_error_set(err, "CSR has %zu trailing bytes at offset %td",
                   (size_t)(der + len - p), p - der);
    goto out;
  }
  if (X509_REQ_get_version(req) != 0) {
    owcp_error_set(err, "CSR version is %ld, expected 0 (PKCS#10 v1)",
                   X509_REQ_get_version(req));
    goto out;
  }
  pub = X509_REQ_get_pubkey(req);
  if (pub == NULL) {
    owcp_error_set_ssl(err, "CSR public key cannot be decoded");
    goto out;
  }
  /* Check the key first: a clearer sentence for RSA or other curves. */
  if (owcp_key_check_p256(pub, err) != 0) {
    char inner[OWCP_ERROR_MAX];

    snprintf(inner, sizeof inner, "%s", err != NULL ? err->msg : "");
    owcp_error_set(err, "CSR public key refused: %s", inner);
    goto fail;
  }
  if (check_csr_signature_alg(req, err) != 0)
    goto fail;
  if (X509_REQ_verify(req, pub) != 1) {
    owcp_error_set_ssl(err, "CSR self-signature does not verify");
    goto fail;
  }
  goto out;
fail:
  EVP_PKEY_free(pub);
  pub = NULL;
out:
  X509_REQ_free(req);
  ERR_clear_error();
  return pub;
}
