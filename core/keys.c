/*
 * keys.c — P-256 keys (plain and PIN-encrypted PKCS#8), certificate
 * encoding and files, and DR-Complete body signatures. See owcp/keys.h.
 */
#include "owcp/keys.h"

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* Key and certificate files are small; a bigger one is not ours. */
#define MAX_PEM_FILE ((size_t)64 * 1024)

/* Refuses to prompt on a terminal when a PEM turns out to be encrypted. */
static int no_password(char *buf, int size, int rwflag, void *u)
{
  (void)buf;
  (void)size;
  (void)rwflag;
  (void)u;
  return -1;
}

/* Copies a memory BIO's contents into a malloc()ed NUL-terminated buffer,
 * wiping the BIO's copy when it held a secret. */
static char *bio_to_string(BIO *bio, size_t *len_out, struct owcp_error *err)
{
  char *data = NULL, *copy;
  long len = BIO_get_mem_data(bio, &data);

  if (len < 0 || data == NULL) {
    owcp_error_set_ssl(err, "cannot read encoded data");
    return NULL;
  }
  copy = malloc((size_t)len + 1);
  if (copy == NULL) {
    owcp_error_set(err, "out of memory");
    return NULL;
  }
  memcpy(copy, data, (size_t)len);
  copy[len] = '\0';
  if (len_out != NULL)
    *len_out = (size_t)len;
  return copy;
}

/* Copies an OPENSSL_malloc()ed buffer into a malloc()ed one so that callers
 * need to know only free(). */
static int take_openssl_buffer(unsigned char *buf, int len, unsigned char **out,
                               size_t *out_len, struct owcp_error *err)
{
  *out = NULL;
  *out_len = 0;
  if (len <= 0 || buf == NULL) {
    owcp_error_set_ssl(err, "DER encoding failed");
    return -1;
  }
  *out = malloc((size_t)len);
  if (*out == NULL) {
    OPENSSL_free(buf);
    owcp_error_set(err, "out of memory");
    return -1;
  }
  memcpy(*out, buf, (size_t)len);
  *out_len = (size_t)len;
  OPENSSL_free(buf);
  return 0;
}

EVP_PKEY *owcp_key_new(struct owcp_error *err)
{
  EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");

  if (key == NULL)
    owcp_error_set_ssl(err, "P-256 key generation failed");
  return key;
}

int owcp_key_check_p256(const EVP_PKEY *key, struct owcp_error *err)
{
  char group[80];
  size_t group_len = 0;

  if (key == NULL) {
    owcp_error_set(err, "no key given");
    return -1;
  }
  if (!EVP_PKEY_is_a(key, "EC")) {
    const char *type = EVP_PKEY_get0_type_name(key);

    owcp_error_set(err, "key type is %s, but OWCP requires an EC P-256 key",
                   type != NULL ? type : "unknown");
    return -1;
  }
  if (EVP_PKEY_get_group_name(key, group, sizeof group, &group_len) != 1) {
    owcp_error_set_ssl(err, "EC key does not use a named curve; OWCP "
                            "requires P-256");
    return -1;
  }
  if (OBJ_txt2nid(group) != NID_X9_62_prime256v1) {
    ERR_clear_error();
    owcp_error_set(err, "EC key is on curve %s, but OWCP requires P-256",
                   group);
    return -1;
  }
  return 0;
}

int owcp_key_save_pem(const char *path, EVP_PKEY *key, struct owcp_error *err)
{
  BIO *bio = BIO_new(BIO_s_secmem());
  size_t len = 0;
  char *pem = NULL;
  int rc = -1;

  if (bio == NULL) {
    owcp_error_set_ssl(err, "out of memory");
    return -1;
  }
  if (owcp_key_check_p256(key, err) != 0)
    goto out;
  if (PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) != 1) {
    owcp_error_set_ssl(err, "cannot encode the private key as PEM");
    goto out;
  }
  pem = bio_to_string(bio, &len, err);
  if (pem == NULL)
    goto out;
  rc = owcp_file_write_atomic(path, pem, len, 0600, err);
  OPENSSL_cleanse(pem, len);
out:
  free(pem);
  BIO_free(bio);
  return rc;
}

EVP_PKEY *owcp_key_load_pem(const char *path, struct owcp_error *err)
{
  unsigned char *data = NULL;
  size_t len = 0;
  EVP_PKEY *key = NULL;
  BIO *bio;

  if (owcp_file_read(path, MAX_PEM_FILE, &data, &len, err) != 0)
    return NULL;
  bio = BIO_new_mem_buf(data, (int)len);
  if (bio == NULL) {
    owcp_error_set_ssl(err, "out of memory");
    goto out;
  }
  key = PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL);
  if (key == NULL) {
    owcp_error_set_ssl(err, "'%s' holds no unencrypted PEM private key", path);
    goto out;
  }
  if (owcp_key_check_p256(key, err) != 0) {
    EVP_PKEY_free(key);
    key = NULL;
  }
out:
  BIO_free(bio);
  OPENSSL_cleanse(data, len);
  free(data);
  return key;
}

/* Wraps key in a PBES2(scrypt, AES-256-CBC) EncryptedPrivateKeyInfo. */
static X509_SIG *encrypt_pkcs8(EVP_PKEY *key, const char *pin,
                               struct owcp_error *err)
{
  PKCS8_PRIV_KEY_INFO *p8inf = NULL;
  X509_ALGOR *pbe = NULL;
  X509_SIG *p8 = NULL;
  size_t pin_len = strlen(pin);

  if (pin_len > INT_MAX) {
    owcp_error_set(err, "PIN is too long");
    return NULL;
  }
  p8inf = EVP_PKEY2PKCS8(key);
  if (p8inf == NULL) {
    owcp_error_set_ssl(err, "cannot convert the key to PKCS#8");
    return NULL;
  }
  pbe = PKCS5_pbe2_set_scrypt(EVP_aes_256_cbc(), NULL, 16, NULL, OWCP_SCRYPT_N,
                              OWCP_SCRYPT_R, OWCP_SCRYPT_P);
  if (pbe == NULL) {
    owcp_error_set_ssl(err, "cannot set up scrypt key encryption");
    goto out;
  }
  p8 = PKCS8_set0_pbe(pin, (int)pin_len, p8inf, pbe);
  if (p8 == NULL) {
    X509_ALGOR_free(pbe); /* only consumed on success */
    owcp_error_set_ssl(err, "cannot encrypt the private key");
  }
out:
  PKCS8_PRIV_KEY_INFO_free(p8inf);
  return p8;
}

char *owcp_key_encrypt_pem(EVP_PKEY *key, const char *pin,
                           struct owcp_error *err)
{
  X509_SIG *p8 = NULL;
  BIO *bio = NULL;
  char *pem = NULL;

  if (pin == NULL || pin[0] == '\0') {
    owcp_error_set(err, "PIN must not be empty");
    return NULL;
  }
  if (owcp_key_check_p256(key, err) != 0)
    return NULL;
  p8 = encrypt_pkcs8(key, pin, err);
  if (p8 == NULL)
    return NULL;
  bio = BIO_new(BIO_s_mem());
  if (bio == NULL || PEM_write_bio_PKCS8(bio, p8) != 1)
    owcp_error_set_ssl(err, "cannot encode the encrypted key as PEM");
  else
    pem = bio_to_string(bio, NULL, err);
  BIO_free(bio);
  X509_SIG_free(p8);
  return pem;
}

int owcp_key_decrypt_pem(const char *pem, size_t pem_len, const char *pin,
                         EVP_PKEY **out, struct owcp_error *err)
{
  PKCS8_PRIV_KEY_INFO *p8inf = NULL;
  X509_SIG *p8 = NULL;
  EVP_PKEY *key = NULL;
  BIO *bio = NULL;
  size_t pin_len;
  int rc = -1;

  *out = NULL;
  if (pin == NULL || pin[0] == '\0' || (pin_len = strlen(pin)) > INT_MAX) {
    owcp_error_set(err, "PIN must not be empty");
    return -1;
  }
  if (pem_len > MAX_PEM_FILE) {
    owcp_error_set(err, "encrypted key is larger than %zu bytes", MAX_PEM_FILE);
    return -1;
  }
  bio = BIO_new_mem_buf(pem, (int)pem_len);
  if (bio == NULL) {
    owcp_error_set_ssl(err, "out of memory");
    return -1;
  }
  p8 = PEM_read_bio_PKCS8(bio, NULL, no_password, NULL);
  if (p8 == NULL) {
    owcp_error_set_ssl(err, "text is not a PEM ENCRYPTED PRIVATE KEY");
    goto out;
  }
  /* A wrong PIN shows up either as bad padding or as garbage plaintext. */
  p8inf = PKCS8_decrypt(p8, pin, (int)pin_len);
  if (p8inf != NULL)
    key = EVP_PKCS82PKEY(p8inf);
  if (key == NULL) {
    ERR_clear_error();
    owcp_error_set(err, "wrong PIN: the private key could not be decrypted");
    rc = OWCP_ERR_BAD_PIN;
    goto out;
  }
  if (owcp_key_check_p256(key, err) != 0) {
    EVP_PKEY_free(key);
    goto out;
  }
  *out = key;
  rc = 0;
out:
  PKCS8_PRIV_KEY_INFO_free(p8inf);
  X509_SIG_free(p8);
  BIO_free(bio);
  return rc;
}

int owcp_key_save_encrypted(const char *path, EVP_PKEY *key, const char *pin,
                            struct owcp_error *err)
{
  char *pem = owcp_key_encrypt_pem(key, pin, err);
  int rc;

  if (pem == NULL)
    return -1;
  rc = owcp_file_write_atomic(path, pem, strlen(pem), 0600, err);
  free(pem);
  return rc;
}

int owcp_key_load_encrypted(const char *path, const char *pin, EVP_PKEY **out,
                            struct owcp_error *err)
{
  unsigned char *data = NULL;
  size_t len = 0;
  int rc;

  *out = NULL;
  if (owcp_file_read(path, MAX_PEM_FILE, &data, &len, err) != 0)
    return -1;
  rc = owcp_key_decrypt_pem((const char *)data, len, pin, out, err);
  free(data);
  return rc;
}

int owcp_key_public_der(const EVP_PKEY *key, unsigned char **der,
                        size_t *der_len, struct owcp_error *err)
{
  unsigned char *buf = NULL;
  int len = i2d_PUBKEY(key, &buf);

  return take_openssl_buffer(buf, len, der, der_len, err);
}

X509 *owcp_cert_from_der(const unsigned char *der, size_t len,
                         struct owcp_error *err)
{
  const unsigned char *p = der;
  X509 *cert;

  if (der == NULL || len == 0 || len > LONG_MAX) {
    owcp_error_set(err, "certificate DER is empty");
    return NULL;
  }
  cert = d2i_X509(NULL, &p, (long)len);
  if (cert == NULL) {
    owcp_error_set_ssl(err, "certificate is not valid DER X.509");
    return NULL;
  }
  if (p != der + len) {
    owcp_error_set(err, "certificate DER has %zu trailing bytes at offset %td",
                   (size_t)(der + len - p), p - der);
    X509_free(cert);
    return NULL;
  }
  return cert;
}

int owcp_cert_to_der(X509 *cert, unsigned char **der, size_t *der_len,
                     struct owcp_error *err)
{
  unsigned char *buf = NULL;
  int len = i2d_X509(cert, &buf);

  return take_openssl_buffer(buf, len, der, der_len, err);
}

X509 *owcp_cert_from_pem(const char *pem, size_t pem_len,
                         struct owcp_error *err)
{
  BIO *bio;
  X509 *cert;

  if (pem_len > INT_MAX) {
    owcp_error_set(err, "certificate PEM is too large");
    return NULL;
  }
  bio = BIO_new_mem_buf(pem, (int)pem_len);
  if (bio == NULL) {
    owcp_error_set_ssl(err, "out of memory");
    return NULL;
  }
  cert = PEM_read_bio_X509(bio, NULL, no_password, NULL);
  if (cert == NULL)
    owcp_error_set_ssl(err, "text holds no PEM CERTIFICATE");
  BIO_free(bio);
  return cert;
}

char *owcp_cert_to_pem(X509 *cert, struct owcp_error *err)
{
  BIO *bio = BIO_new(BIO_s_mem());
  char *pem = NULL;

  if (bio == NULL || PEM_write_bio_X509(bio, cert) != 1)
    owcp_error_set_ssl(err, "cannot encode the certificate as PEM");
  else
    pem = bio_to_string(bio, NULL, err);
  BIO_free(bio);
  return pem;
}

X509 *owcp_cert_load_pem(const char *path, struct owcp_error *err)
{
  unsigned char *data = NULL;
  size_t len = 0;
  X509 *cert;

  if (owcp_file_read(path, MAX_PEM_FILE, &data, &len, err) != 0)
    return NULL;
  cert = owcp_cert_from_pem((const char *)data, len, err);
  free(data);
  return cert;
}

X509 *owcp_cert_load_der(const char *path, struct owcp_error *err)
{
  unsigned char *data = NULL;
  size_t len = 0;
  X509 *cert;

  if (owcp_file_read(path, MAX_PEM_FILE, &data, &len, err) != 0)
    return NULL;
  cert = owcp_cert_from_der(data, len, err);
  free(data);
  return cert;
}

int owcp_cert_save_pem(const char *path, X509 *cert, struct owcp_error *err)
{
  char *pem = owcp_cert_to_pem(cert, err);
  int rc;

  if (pem == NULL)
    return -1;
  rc = owcp_file_write_atomic(path, pem, strlen(pem), 0644, err);
  free(pem);
  return rc;
}

int owcp_cert_save_der(const char *path, X509 *cert, struct owcp_error *err)
{
  unsigned char *der = NULL;
  size_t len = 0;
  int rc;

  if (owcp_cert_to_der(cert, &der, &len, err) != 0)
    return -1;
  rc = owcp_file_write_atomic(path, der, len, 0644, err);
  free(der);
  return rc;
}

int owcp_cert_fingerprint(X509 *cert, char out[OWCP_FINGERPRINT_LEN],
                          struct owcp_error *err)
{
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;

  out[0] = '\0';
  if (cert == NULL || X509_digest(cert, EVP_sha256(), md, &n) != 1 ||
      n != OWCP_SHA256_LEN) {
    owcp_error_set_ssl(err, "cannot compute the certificate fingerprint");
    return -1;
  }
  owcp_hex_encode(md, n, out);
  return 0;
}

/* ECDSA P-256 SHA-256 signature (DER) over body. */
int owcp_sign_sha256(EVP_PKEY *key, const void *body, size_t len,
                     unsigned char **sig, size_t *sig_len,
                     struct owcp_error *err)
{
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  int rc = -1;

  *sig = NULL;
  if (ctx == NULL ||
      EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) != 1 ||
      EVP_DigestSign(ctx, NULL, sig_len, body, len) != 1) {
    owcp_error_set_ssl(err, "cannot sign the body");
    goto out;
  }
  *sig = malloc(*sig_len);
  if (*sig == NULL) {
    owcp_error_set(err, "out of memory");
    goto out;
  }
  if (EVP_DigestSign(ctx, *sig, sig_len, body, len) != 1) {
    owcp_error_set_ssl(err, "cannot sign the body");
    free(*sig);
    *sig = NULL;
    goto out;
  }
  rc = 0;
out:
  EVP_MD_CTX_free(ctx);
  return rc;
}

char *owcp_sig_header_make(EVP_PKEY *key, X509 *cert, const void *body,
                           size_t len, struct owcp_error *err)
{
  char keyid[OWCP_FINGERPRINT_LEN], *b64 = NULL, *header = NULL;
  unsigned char *sig = NULL;
  size_t sig_len = 0, header_len;

  if (owcp_key_check_p256(key, err) != 0)
    return NULL;
  if (X509_check_private_key(cert, key) != 1) {
    owcp_error_set_ssl(err, "signing key does not match the certificate");
    return NULL;
  }
  if (owcp_cert_fingerprint(cert, keyid, err) != 0 ||
      owcp_sign_sha256(key, body, len, &sig, &sig_len, err) != 0)
    return NULL;
  b64 = owcp_base64_encode(sig, sig_len);
  free(sig);
  if (b64 == NULL) {
    owcp_error_set(err, "out of memory");
    return NULL;
  }
  header_len = strlen("keyid=,sig=") + strlen(keyid) + strlen(b64) + 1;
  header = malloc(header_len);
  if (header == NULL)
    owcp_error_set(err, "out of memory");
  else
    snprintf(header, header_len, "keyid=%s,sig=%s", keyid, b64);
  free(b64);
  return header;
}

/* Splits "keyid=<hex>,sig=<b64>" strictly; *sig points into header. */
static int parse_sig_header(const char *header, char keyid[65],
                            const char **sig, struct owcp_error *err)
{
  static const char prefix[] = "keyid=", middle[] = ",sig=";
  const char *p = header;
  size_t i;

  if (strncmp(p, prefix, sizeof prefix - 1) != 0) {
    owcp_error_set(err, "OWCP-Signature must start with 'keyid='");
    return -1;
  }
  p += sizeof prefix - 1;
  for (i = 0; i < (size_t)2 * OWCP_SHA256_LEN; i++) {
    char c = p[i];

    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      owcp_error_set(err,
                     "OWCP-Signature keyid must be 64 lowercase hex digits "
                     "(bad character at offset %td)",
                     p + i - header);
      return -1;
    }
    keyid[i] = c;
  }
  keyid[i] = '\0';
  p += i;
  if (strncmp(p, middle, sizeof middle - 1) != 0) {
    owcp_error_set(err,
                   "OWCP-Signature must continue with ',sig=' at offset "
                   "%td",
                   p - header);
    return -1;
  }
  *sig = p + sizeof middle - 1;
  return 0;
}

/* Verifies a DER ECDSA signature over body with cert's key. */
int owcp_verify_sha256(X509 *cert, const unsigned char *sig, size_t sig_len,
                       const void *body, size_t len, struct owcp_error *err)
{
  EVP_PKEY *pub = X509_get0_pubkey(cert);
  EVP_MD_CTX *ctx;
  int ok;

  if (pub == NULL) {
    owcp_error_set_ssl(err, "dispatcher certificate has no usable key");
    return -1;
  }
  if (owcp_key_check_p256(pub, err) != 0)
    return -1;
  ctx = EVP_MD_CTX_new();
  ok = ctx != NULL &&
       EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pub) == 1 &&
       EVP_DigestVerify(ctx, sig, sig_len, body, len) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok) {
    owcp_error_set_ssl(err, "the signature does not verify over the signed "
                            "data");
    return -1;
  }
  return 0;
}

int owcp_sig_header_verify(const char *header, const void *body, size_t len,
                           X509 *cert, struct owcp_error *err)
{
  char keyid[OWCP_FINGERPRINT_LEN], want[OWCP_FINGERPRINT_LEN];
  unsigned char *sig = NULL;
  size_t sig_len = 0;
  const char *sig_b64;
  int rc;

  if (header == NULL || cert == NULL) {
    owcp_error_set(err, "OWCP-Signature header or certificate is missing");
    return -1;
  }
  if (parse_sig_header(header, keyid, &sig_b64, err) != 0)
    return -1;
  if (sig_b64[0] == '\0') {
    owcp_error_set(err, "OWCP-Signature sig is empty");
    return -1;
  }
  if (owcp_base64_decode(sig_b64, strlen(sig_b64), &sig, &sig_len, err) != 0) {
    char inner[OWCP_ERROR_MAX];

    snprintf(inner, sizeof inner, "%s", err != NULL ? err->msg : "");
    owcp_error_set(err, "OWCP-Signature sig: %s", inner);
    return -1;
  }
  if (owcp_cert_fingerprint(cert, want, err) != 0) {
    free(sig);
    return -1;
  }
  if (strcmp(keyid, want) != 0) {
    owcp_error_set(err,
                   "OWCP-Signature keyid %s does not name the dispatcher "
                   "certificate (%s)",
                   keyid, want);
    free(sig);
    return -1;
  }
  rc = owcp_verify_sha256(cert, sig, sig_len, body, len, err);
  free(sig);
  return rc;
}
