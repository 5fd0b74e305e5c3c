/*
 * owcp/keys.h — P-256 keys, X.509 certificates and DR-Complete body
 * signatures for OWCP (OpenSSL 3 EVP/X509 only).
 *
 * Every OWCP key (client keys, the client CA, the dispatcher's signing key)
 * is an ECDSA P-256 key; loaders refuse anything else so that a swapped file
 * cannot silently downgrade a deployment.
 *
 * Ownership: functions returning EVP_PKEY * / X509 * hand the object to the
 * caller, who releases it with EVP_PKEY_free() / X509_free(). Functions that
 * return `char *` or fill `unsigned char **` hand over a malloc()ed buffer
 * that the caller releases with free(). Inputs are borrowed, never freed.
 * Errors follow owcp/util.h (0 / -1 and a sentence in *err); OpenSSL's error
 * queue is always left empty.
 */
#ifndef OWCP_KEYS_H
#define OWCP_KEYS_H

#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "owcp/util.h"

/* Returned (instead of -1) by the PIN-protected key loaders when the PIN is
 * wrong (or the ciphertext was altered; the two cannot be told apart), so
 * that callers can count failed attempts. */
#define OWCP_ERR_BAD_PIN (-2)

/* Length of the lowercase-hex SHA-256 fingerprint plus its NUL. */
#define OWCP_FINGERPRINT_LEN (2 * OWCP_SHA256_LEN + 1)

/* scrypt parameters for PIN-encrypted keys: N = 2^14, r = 8, p = 1 (16 MiB,
 * the `openssl pkcs8 -scrypt` defaults), 16-byte random salt, AES-256-CBC.
 * A PIN has little entropy; scrypt only makes each offline guess costly. */
#define OWCP_SCRYPT_N 16384
#define OWCP_SCRYPT_R 8
#define OWCP_SCRYPT_P 1

/* Generates a new P-256 key pair. Caller frees; NULL on failure. */
EVP_PKEY *owcp_key_new(struct owcp_error *err);

/* 0 when key is an EC key on the named curve P-256 (prime256v1); otherwise
 * -1 with a sentence naming the key type or curve that was found. */
int owcp_key_check_p256(const EVP_PKEY *key, struct owcp_error *err);

/* Writes key (unencrypted PKCS#8 PEM) to path atomically: a temporary file
 * in the same directory is created O_EXCL with mode 0600, written, fsync()ed
 * and renamed over path, and the directory is fsync()ed. */
int owcp_key_save_pem(const char *path, EVP_PKEY *key, struct owcp_error *err);

/* Reads an unencrypted PEM private key (never prompts for a password) and
 * requires it to be P-256. Caller frees; NULL on failure. */
EVP_PKEY *owcp_key_load_pem(const char *path, struct owcp_error *err);

/* Encrypts key under pin as PEM "ENCRYPTED PRIVATE KEY" (PKCS#8, PBES2 with
 * scrypt per the OWCP_SCRYPT_* parameters and AES-256-CBC). pin must be
 * non-empty. Returns the NUL-terminated PEM (caller frees), or NULL. */
char *owcp_key_encrypt_pem(EVP_PKEY *key, const char *pin,
                           struct owcp_error *err);

/* Decrypts PEM from owcp_key_encrypt_pem (or `openssl pkcs8 -topk8`) with
 * pin into *out (caller frees). Returns 0; OWCP_ERR_BAD_PIN when the PIN
 * does not decrypt it; -1 when the text is not an encrypted private key, the
 * key is not P-256 or another error occurred. */
int owcp_key_decrypt_pem(const char *pem, size_t pem_len, const char *pin,
                         EVP_PKEY **out, struct owcp_error *err);

/* owcp_key_encrypt_pem written to path like owcp_key_save_pem (0600). */
int owcp_key_save_encrypted(const char *path, EVP_PKEY *key, const char *pin,
                            struct owcp_error *err);

/* owcp_key_decrypt_pem on the contents of path; same return values. */
int owcp_key_load_encrypted(const char *path, const char *pin, EVP_PKEY **out,
                            struct owcp_error *err);

/* DER SubjectPublicKeyInfo of key's public half into *der (caller frees). */
int owcp_key_public_der(const EVP_PKEY *key, unsigned char **der,
                        size_t *der_len, struct owcp_error *err);

/* Parses one DER certificate that must span exactly len bytes. Caller
 * frees; NULL on failure. */
X509 *owcp_cert_from_der(const unsigned char *der, size_t len,
                         struct owcp_error *err);

/* DER encoding of cert into *der (caller frees). */
int owcp_cert_to_der(X509 *cert, unsigned char **der, size_t *der_len,
                     struct owcp_error *err);

/* Parses the first PEM "CERTIFICATE" block of pem. Caller frees. */
X509 *owcp_cert_from_pem(const char *pem, size_t pem_len,
                         struct owcp_error *err);

/* PEM text of cert (NUL-terminated; caller frees), or NULL. */
char *owcp_cert_to_pem(X509 *cert, struct owcp_error *err);

/* Loads a PEM certificate file. Caller frees; NULL on failure. */
X509 *owcp_cert_load_pem(const char *path, struct owcp_error *err);

/* Loads a DER certificate file (exactly one certificate, nothing after). */
X509 *owcp_cert_load_der(const char *path, struct owcp_error *err);

/* Writes cert as PEM / DER to path atomically (mode 0644). */
int owcp_cert_save_pem(const char *path, X509 *cert, struct owcp_error *err);
int owcp_cert_save_der(const char *path, X509 *cert, struct owcp_error *err);

/* Lowercase hex SHA-256 of cert's DER encoding (the DR-Complete keyid). */
int owcp_cert_fingerprint(X509 *cert, char out[OWCP_FINGERPRINT_LEN],
                          struct owcp_error *err);

/* DER ECDSA signature with SHA-256 of data by key (P-256) into *sig
 * (caller frees): DR-Complete bodies and signed log heads. */
int owcp_sign_sha256(EVP_PKEY *key, const void *data, size_t len,
                     unsigned char **sig, size_t *sig_len,
                     struct owcp_error *err);

/* 0 when sig is a DER ECDSA SHA-256 signature of data by cert's P-256 key;
 * -1 with err otherwise. */
int owcp_verify_sha256(X509 *cert, const unsigned char *sig, size_t sig_len,
                       const void *data, size_t len, struct owcp_error *err);

/* The OWCP-Signature header value for a DR-Complete body (spec §4):
 * "keyid=<hex SHA-256 of cert's DER>,sig=<base64 DER ECDSA P-256 SHA-256
 * signature over body>". key must be P-256 and match cert. Caller frees;
 * NULL on failure. */
char *owcp_sig_header_make(EVP_PKEY *key, X509 *cert, const void *body,
                           size_t len, struct owcp_error *err);

/* Verifies an OWCP-Signature header against body and the dispatcher
 * certificate. The header must be exactly "keyid=" + 64 lowercase hex digits
 * + ",sig=" + strict base64 (no spaces, no other parameters, nothing
 * after); keyid must equal cert's fingerprint and the signature must verify
 * with cert's P-256 key. Returns 0 when valid, -1 otherwise. */
int owcp_sig_header_verify(const char *header, const void *body, size_t len,
                           X509 *cert, struct owcp_error *err);

#endif
