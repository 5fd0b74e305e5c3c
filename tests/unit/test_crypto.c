/*
 * test_crypto.c — unit tests for owcp/keys.h and owcp/ca.h: P-256 keys
 * (plain and PIN-encrypted files), certificates, CSRs, the client CA and
 * DR-Complete signatures, including interoperability with the `openssl`
 * command line tool.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"
#include "owcp/crypto.h"

/* --- helpers ------------------------------------------------------------ */

struct fixture {
  char dir[64];
};

static int setup(void **state)
{
  struct fixture *f = calloc(1, sizeof *f);

  if (f == NULL)
    return -1;
  if (testutil_tmpdir_make(f->dir, sizeof f->dir, "crypto") != 0) {
    free(f);
    return -1;
  }
  *state = f;
  return 0;
}

static int teardown(void **state)
{
  struct fixture *f = *state;
  if (testutil_tmpdir_remove(f->dir) != 0)
    return -1;
  free(f);
  return 0;
}

static void path_in(const struct fixture *f, const char *name, char *out,
                    size_t size)
{
  snprintf(out, size, "%s/%s", f->dir, name);
}

/* First occurrence of the NUL-terminated needle in buf, or NULL. */
static unsigned char *find(unsigned char *buf, size_t len, const char *needle)
{
  size_t n = strlen(needle), i;

  for (i = 0; i + n <= len; i++)
    if (memcmp(buf + i, needle, n) == 0)
      return buf + i;
  return NULL;
}

static EVP_PKEY *new_key(void)
{
  struct owcp_error err;
  EVP_PKEY *key = owcp_key_new(&err);

  assert_non_null(key);
  return key;
}

static void assert_same_public_key(EVP_PKEY *a, EVP_PKEY *b)
{
  unsigned char *da = NULL, *db = NULL;
  size_t la = 0, lb = 0;
  struct owcp_error err;

  assert_int_equal(owcp_key_public_der(a, &da, &la, &err), 0);
  assert_int_equal(owcp_key_public_der(b, &db, &lb, &err), 0);
  assert_int_equal(la, lb);
  assert_memory_equal(da, db, la);
  free(da);
  free(db);
}

/* --- keys --------------------------------------------------------------- */

static void test_key_p256_check(void **state)
{
  struct owcp_error err;
  EVP_PKEY *key = new_key(), *p384, *rsa;

  (void)state;
  assert_int_equal(owcp_key_check_p256(key, &err), 0);
  p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
  assert_non_null(p384);
  assert_int_equal(owcp_key_check_p256(p384, &err), -1);
  testutil_assert_err_contains(&err, "secp384r1");
  rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
  assert_non_null(rsa);
  assert_int_equal(owcp_key_check_p256(rsa, &err), -1);
  testutil_assert_err_contains(&err, "RSA");
  assert_int_equal(owcp_key_check_p256(NULL, &err), -1);
  assert_int_equal(ERR_peek_error(), 0);
  EVP_PKEY_free(key);
  EVP_PKEY_free(p384);
  EVP_PKEY_free(rsa);
}

static void test_key_pem_file_is_0600_and_round_trips(void **state)
{
  struct fixture *f = *state;
  struct owcp_error err;
  EVP_PKEY *key = new_key(), *back;
  char path[128], text[128];
  struct stat st;

  path_in(f, "key.pem", path, sizeof path);
  assert_int_equal(owcp_key_save_pem(path, key, &err), 0);
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  back = owcp_key_load_pem(path, &err);
  assert_non_null(back);
  assert_same_public_key(key, back);
  /* Overwriting replaces the file atomically and keeps 0600. */
  assert_int_equal(owcp_key_save_pem(path, back, &err), 0);
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  /* The real tool reads it as an EC P-256 key. */
  path_in(f, "key.txt", text, sizeof text);
  assert_int_equal(
      testutil_openssl(text, "pkey", "-in", path, "-noout", "-text"), 0);
  testutil_assert_file_contains(text, "NIST CURVE: P-256");
  EVP_PKEY_free(key);
  EVP_PKEY_free(back);
}

static void test_key_load_refuses_bad_files(void **state)
{
  struct fixture *f = *state;
  struct owcp_error err;
  EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
  char path[128];
  BIO *bio;
  FILE *fp;

  path_in(f, "missing.pem", path, sizeof path);
  assert_null(owcp_key_load_pem(path, &err));
  testutil_assert_err_contains(&err, "cannot open");
  path_in(f, "garbage.pem", path, sizeof path);
  testutil_write_file(path, "not a key\n", 10);
  assert_null(owcp_key_load_pem(path, &err));
  testutil_assert_err_contains(&err, "holds no unencrypted PEM private key");
  /* A P-384 key file is refused with the curve named. */
  path_in(f, "p384.pem", path, sizeof path);
  fp = fopen(path, "w");
  assert_non_null(fp);
  bio = BIO_new_fp(fp, BIO_NOCLOSE);
  assert_int_equal(
      PEM_write_bio_PrivateKey(bio, p384, NULL, NULL, 0, NULL, NULL), 1);
  BIO_free(bio);
  fclose(fp);
  assert_null(owcp_key_load_pem(path, &err));
  testutil_assert_err_contains(&err, "secp384r1");
  assert_int_equal(ERR_peek_error(), 0);
  EVP_PKEY_free(p384);
}

static void test_key_encrypted_right_and_wrong_pin(void **state)
{
  struct fixture *f = *state;
  struct owcp_error err;
  EVP_PKEY *key = new_key(), *back = NULL;
  char path[128], plain[128], text[128];
  struct stat st;
  int i;

  path_in(f, "enc.pem", path, sizeof path);
  assert_int_equal(owcp_key_save_encrypted(path, key, "4711", &err), 0);
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  assert_int_equal(owcp_key_load_encrypted(path, "4711", &back, &err), 0);
  assert_same_public_key(key, back);
  EVP_PKEY_free(back);
  /* Several wrong PINs: each one is reported as OWCP_ERR_BAD_PIN. */
  for (i = 0; i < 5; i++) {
    char pin[8];

    snprintf(pin, sizeof pin, "%d", 1000 + i);
    back = (EVP_PKEY *)1;
    assert_int_equal(owcp_key_load_encrypted(path, pin, &back, &err),
                     OWCP_ERR_BAD_PIN);
    assert_null(back);
    testutil_assert_err_contains(&err, "wrong PIN");
  }
  assert_int_equal(owcp_key_load_encrypted(path, "", &back, &err), -1);
  /* The unencrypted loader does not prompt and does not accept it. */
  assert_null(owcp_key_load_pem(path, &err));
  /* It is standard PKCS#8 with scrypt: the openssl tool decrypts it. */
  path_in(f, "enc.plain", plain, sizeof plain);
  assert_int_equal(testutil_openssl(NULL, "pkcs8", "-in", path, "-passin",
                                    "pass:4711", "-out", plain),
                   0);
  path_in(f, "enc.asn1", text, sizeof text);
  assert_int_equal(testutil_openssl(text, "asn1parse", "-in", path), 0);
  testutil_assert_file_contains(text, ":scrypt\n");
  testutil_assert_file_contains(text, ":aes-256-cbc\n");
  assert_int_equal(ERR_peek_error(), 0);
  EVP_PKEY_free(key);
}

static void test_key_encrypted_malformed_is_not_bad_pin(void **state)
{
  struct owcp_error err;
  EVP_PKEY *key = new_key(), *back = NULL;
  char *pem;
  size_t len;

  (void)state;
  assert_int_equal(owcp_key_decrypt_pem("junk", 4, "1234", &back, &err), -1);
  testutil_assert_err_contains(&err, "not a PEM ENCRYPTED PRIVATE KEY");
  assert_null(owcp_key_encrypt_pem(key, "", &err));
  testutil_assert_err_contains(&err, "PIN must not be empty");
  pem = owcp_key_encrypt_pem(key, "secret-pin", &err);
  assert_non_null(pem);
  assert_non_null(strstr(pem, "-----BEGIN ENCRYPTED PRIVATE KEY-----"));
  /* Truncating the PEM breaks its structure: an error, not a PIN count. */
  len = strlen(pem);
  assert_int_equal(
      owcp_key_decrypt_pem(pem, len / 2, "secret-pin", &back, &err), -1);
  assert_int_equal(owcp_key_decrypt_pem(pem, len, "secret-pin", &back, &err),
                   0);
  assert_same_public_key(key, back);
  EVP_PKEY_free(back);
  free(pem);
  EVP_PKEY_free(key);
}

static void test_key_encrypted_by_openssl_tool_loads(void **state)
{
  struct fixture *f = *state;
  struct owcp_error err;
  EVP_PKEY *back = NULL;
  char plain[128], enc[128];

  path_in(f, "tool.pem", plain, sizeof plain);
  path_in(f, "tool-enc.pem", enc, sizeof enc);
  assert_int_equal(testutil_openssl(NULL, "ecparam", "-name", "prime256v1",
                                    "-genkey", "-noout", "-out", plain),
                   0);
  assert_int_equal(testutil_openssl(NULL, "pkcs8", "-topk8", "-scrypt", "-in",
                                    plain, "-out", enc, "-passout",
                                    "pass:2468"),
                   0);
  assert_int_equal(owcp_key_load_encrypted(enc, "2468", &back, &err), 0);
  EVP_PKEY_free(back);
  assert_int_equal(owcp_key_load_encrypted(enc, "2469", &back, &err),
                   OWCP_ERR_BAD_PIN);
}

/* --- certificates and CA ----------------------------------------------- */

struct ca {
  EVP_PKEY *key;
  X509 *cert;
};

static struct ca make_ca(const char *cn)
{
  struct owcp_error err;
  struct ca ca;

  ca.key = new_key();
  ca.cert = owcp_ca_new(ca.key, cn, &err);
  if (ca.cert == NULL)
    fail_msg("owcp_ca_new: %s", err.msg);
  return ca;
}

static void free_ca(struct ca *ca)
{
  X509_free(ca->cert);
  EVP_PKEY_free(ca->key);
}

static X509 *issue(const struct ca *ca, EVP_PKEY *client, const char *id,
                   const char *account)
{
  struct owcp_error err;
  X509 *cert =
      owcp_ca_issue_client(ca->cert, ca->key, client, id, account, 30, &err);

  if (cert == NULL)
    fail_msg("owcp_ca_issue_client: %s", err.msg);
  return cert;
}

static void test_ca_profile(void **state)
{
  struct ca ca = make_ca("OWCP client CA");
  const ASN1_INTEGER *serial = X509_get0_serialNumber(ca.cert);
  int crit = -1;
  BASIC_CONSTRAINTS *bc;
  ASN1_BIT_STRING *ku;
  struct owcp_error err;

  (void)state;
  assert_int_equal(X509_check_ca(ca.cert), 1);
  assert_int_equal(X509_get_pathlen(ca.cert), 0);
  assert_int_equal(X509_get_key_usage(ca.cert), KU_KEY_CERT_SIGN | KU_CRL_SIGN);
  bc = X509_get_ext_d2i(ca.cert, NID_basic_constraints, &crit, NULL);
  assert_non_null(bc);
  assert_int_equal(crit, 1);
  BASIC_CONSTRAINTS_free(bc);
  ku = X509_get_ext_d2i(ca.cert, NID_key_usage, &crit, NULL);
  assert_non_null(ku);
  assert_int_equal(crit, 1);
  ASN1_BIT_STRING_free(ku);
  assert_non_null(X509_get0_subject_key_id(ca.cert));
  /* 0x01 + 16 random octets. */
  assert_int_equal(ASN1_STRING_length(serial), 17);
  /* Ten years. */
  assert_true(X509_cmp_time(X509_get0_notAfter(ca.cert),
                            &(time_t){time(NULL) + 3650L * 86400}) > 0);
  assert_int_equal(owcp_cert_verify_chain(ca.cert, ca.cert, &err), 0);
  assert_null(owcp_ca_new(ca.key, "", &err));
  testutil_assert_err_contains(&err, "common name");
  free_ca(&ca);
}

static void test_ca_issue_client_and_chain(void **state)
{
  struct ca ca = make_ca("CA one"), other = make_ca("CA two");
  EVP_PKEY *client = new_key();
  X509 *c1 = issue(&ca, client, "client-1", "alice@example.com");
  X509 *c2 = issue(&ca, client, "client-1", "alice@example.com");
  char account[256], cn[128];
  struct owcp_error err;

  (void)state;
  assert_int_equal(owcp_cert_verify_chain(c1, ca.cert, &err), 0);
  assert_int_equal(owcp_cert_verify_chain(c1, other.cert, &err), -1);
  testutil_assert_err_contains(&err, "does not chain to the CA");
  assert_int_equal(X509_check_ca(c1), 0);
  assert_int_equal(X509_get_key_usage(c1),
                   KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION);
  assert_non_null(X509_get0_subject_key_id(c1));
  assert_non_null(X509_get0_authority_key_id(c1));
  assert_int_equal(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(c1),
                                         X509_get0_subject_key_id(ca.cert)),
                   0);
  assert_int_equal(owcp_cert_get_account(c1, account, sizeof account, &err), 0);
  assert_string_equal(account, "alice@example.com");
  assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(c1),
                                        NID_commonName, cn, sizeof cn) > 0);
  assert_string_equal(cn, "client-1");
  /* Random serials differ. */
  assert_int_not_equal(
      ASN1_INTEGER_cmp(X509_get0_serialNumber(c1), X509_get0_serialNumber(c2)),
      0);
  /* A CA certificate carries no account. */
  assert_int_equal(
      owcp_cert_get_account(ca.cert, account, sizeof account, &err), -1);
  X509_free(c1);
  X509_free(c2);
  EVP_PKEY_free(client);
  free_ca(&ca);
  free_ca(&other);
}

static void test_ca_issue_refuses_bad_input(void **state)
{
  struct ca ca = make_ca("CA"), other = make_ca("Other");
  EVP_PKEY *client = new_key();
  EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
  struct owcp_error err;

  (void)state;
  assert_null(owcp_ca_issue_client(ca.cert, other.key, client, "c",
                                   "a@example.com", 30, &err));
  testutil_assert_err_contains(&err, "CA key does not match");
  assert_null(owcp_ca_issue_client(ca.cert, ca.key, client, "c",
                                   "a@example.com", 0, &err));
  testutil_assert_err_contains(&err, "validity");
  assert_null(owcp_ca_issue_client(ca.cert, ca.key, client, "c",
                                   "a@example.com", 100000, &err));
  testutil_assert_err_contains(&err, "validity");
  assert_null(owcp_ca_issue_client(ca.cert, ca.key, client, "c", "no-at-sign",
                                   30, &err));
  testutil_assert_err_contains(&err, "local@domain");
  assert_null(owcp_ca_issue_client(ca.cert, ca.key, client, "c",
                                   "a b@example.com", 30, &err));
  testutil_assert_err_contains(&err, "offset 1");
  assert_null(owcp_ca_issue_client(
      ca.cert, ca.key, client,
      "an-identifier-that-is-much-longer-than-sixty-four-characters-long-x",
      "a@example.com", 30, &err));
  testutil_assert_err_contains(&err, "common name");
  assert_null(owcp_ca_issue_client(ca.cert, ca.key, rsa, "c", "a@example.com",
                                   30, &err));
  testutil_assert_err_contains(&err, "RSA");
  assert_int_equal(ERR_peek_error(), 0);
  EVP_PKEY_free(rsa);
  EVP_PKEY_free(client);
  free_ca(&ca);
  free_ca(&other);
}

static void test_san_is_not_config_syntax(void **state)
{
  struct ca ca = make_ca("CA");
  EVP_PKEY *client = new_key();
  /* Printable ASCII such as ',' and ':' must land verbatim in a single
   * rfc822Name, never be parsed into a second name. */
  X509 *cert = issue(&ca, client, "c", "a,email:x@evil.example");
  char account[256];
  struct owcp_error err;

  (void)state;
  assert_int_equal(owcp_cert_get_account(cert, account, sizeof account, &err),
                   0);
  assert_string_equal(account, "a,email:x@evil.example");
  X509_free(cert);
  EVP_PKEY_free(client);
  free_ca(&ca);
}

static void test_cert_der_pem_files(void **state)
{
  struct fixture *f = *state;
  struct ca ca = make_ca("CA");
  unsigned char *der = NULL, *bad;
  size_t len = 0;
  char path[128], fp[OWCP_FINGERPRINT_LEN], hex[OWCP_FINGERPRINT_LEN];
  unsigned char md[OWCP_SHA256_LEN];
  struct owcp_error err;
  char *pem;
  X509 *back;

  assert_int_equal(owcp_cert_to_der(ca.cert, &der, &len, &err), 0);
  back = owcp_cert_from_der(der, len, &err);
  assert_non_null(back);
  assert_int_equal(X509_cmp(back, ca.cert), 0);
  X509_free(back);
  /* Trailing bytes and truncation are refused. */
  bad = malloc(len + 1);
  assert_non_null(bad);
  memcpy(bad, der, len);
  bad[len] = 0;
  assert_null(owcp_cert_from_der(bad, len + 1, &err));
  testutil_assert_err_contains(&err, "1 trailing bytes");
  assert_null(owcp_cert_from_der(bad, len - 1, &err));
  testutil_assert_err_contains(&err, "not valid DER");
  free(bad);
  /* Fingerprint = SHA-256 of the DER. */
  assert_int_equal(owcp_cert_fingerprint(ca.cert, fp, &err), 0);
  owcp_sha256(der, len, md);
  owcp_hex_encode(md, sizeof md, hex);
  assert_string_equal(fp, hex);
  /* PEM in memory and files, DER files. */
  pem = owcp_cert_to_pem(ca.cert, &err);
  assert_non_null(pem);
  back = owcp_cert_from_pem(pem, strlen(pem), &err);
  assert_non_null(back);
  assert_int_equal(X509_cmp(back, ca.cert), 0);
  X509_free(back);
  free(pem);
  path_in(f, "ca.pem", path, sizeof path);
  assert_int_equal(owcp_cert_save_pem(path, ca.cert, &err), 0);
  back = owcp_cert_load_pem(path, &err);
  assert_non_null(back);
  assert_int_equal(X509_cmp(back, ca.cert), 0);
  X509_free(back);
  assert_null(owcp_cert_load_der(path, &err)); /* PEM is not DER */
  path_in(f, "ca.der", path, sizeof path);
  assert_int_equal(owcp_cert_save_der(path, ca.cert, &err), 0);
  back = owcp_cert_load_der(path, &err);
  assert_non_null(back);
  assert_int_equal(X509_cmp(back, ca.cert), 0);
  X509_free(back);
  assert_null(owcp_cert_from_pem("junk", 4, &err));
  testutil_assert_err_contains(&err, "no PEM CERTIFICATE");
  assert_int_equal(ERR_peek_error(), 0);
  free(der);
  free_ca(&ca);
}

static void test_client_cert_verifies_with_openssl_tool(void **state)
{
  struct fixture *f = *state;
  struct ca ca = make_ca("CA");
  EVP_PKEY *client = new_key();
  X509 *cert = issue(&ca, client, "client-x", "bob@example.org");
  char ca_path[128], cert_path[128], text_path[128];
  struct owcp_error err;

  path_in(f, "v-ca.pem", ca_path, sizeof ca_path);
  path_in(f, "v-client.pem", cert_path, sizeof cert_path);
  assert_int_equal(owcp_cert_save_pem(ca_path, ca.cert, &err), 0);
  assert_int_equal(owcp_cert_save_pem(cert_path, cert, &err), 0);
  assert_int_equal(
      testutil_openssl(NULL, "verify", "-CAfile", ca_path, cert_path), 0);
  path_in(f, "v-client.txt", text_path, sizeof text_path);
  assert_int_equal(testutil_openssl(text_path, "x509", "-in", cert_path,
                                    "-noout", "-ext", "subjectAltName"),
                   0);
  testutil_assert_file_contains(text_path, "email:bob@example.org");
  X509_free(cert);
  EVP_PKEY_free(client);
  free_ca(&ca);
}

/* --- CSR ---------------------------------------------------------------- */

static void test_csr_round_trip(void **state)
{
  EVP_PKEY *key = new_key(), *pub;
  unsigned char *der = NULL;
  size_t len = 0;
  struct owcp_error err;

  (void)state;
  assert_int_equal(owcp_csr_new(key, "my phone", &der, &len, &err), 0);
  pub = owcp_csr_verify(der, len, &err);
  if (pub == NULL)
    fail_msg("owcp_csr_verify: %s", err.msg);
  assert_same_public_key(key, pub);
  EVP_PKEY_free(pub);
  free(der);
  assert_int_equal(owcp_csr_new(key, "", &der, &len, &err), -1);
  assert_null(der);
  EVP_PKEY_free(key);
}

static void test_csr_refuses_tampering_and_garbage(void **state)
{
  EVP_PKEY *key = new_key();
  unsigned char *der = NULL, *copy;
  size_t len = 0;
  struct owcp_error err;

  (void)state;
  assert_int_equal(owcp_csr_new(key, "dev", &der, &len, &err), 0);
  copy = malloc(len + 1);
  assert_non_null(copy);
  /* Last octet belongs to the signature's s value. */
  memcpy(copy, der, len);
  copy[len - 1] ^= 0x01;
  assert_null(owcp_csr_verify(copy, len, &err));
  testutil_assert_err_contains(&err, "self-signature does not verify");
  /* Changing the subject invalidates the signature too. */
  memcpy(copy, der, len);
  {
    unsigned char *p = find(copy, len, "dev");

    assert_non_null(p);
    p[0] = 'x';
  }
  assert_null(owcp_csr_verify(copy, len, &err));
  testutil_assert_err_contains(&err, "self-signature does not verify");
  memcpy(copy, der, len);
  copy[len] = 0;
  assert_null(owcp_csr_verify(copy, len + 1, &err));
  testutil_assert_err_contains(&err, "trailing");
  assert_null(owcp_csr_verify(copy, len / 2, &err));
  testutil_assert_err_contains(&err, "not a DER PKCS#10");
  assert_null(owcp_csr_verify((const unsigned char *)"\x30\x00", 2, &err));
  assert_null(owcp_csr_verify(NULL, 0, &err));
  testutil_assert_err_contains(&err, "empty");
  assert_int_equal(ERR_peek_error(), 0);
  free(copy);
  free(der);
  EVP_PKEY_free(key);
}

/* A CSR for any key type, built without the library's P-256 check. */
static void raw_csr(EVP_PKEY *key, const EVP_MD *md, unsigned char **der,
                    size_t *len)
{
  X509_REQ *req = X509_REQ_new();
  X509_NAME *name = X509_REQ_get_subject_name(req);
  unsigned char *buf = NULL;
  int n;

  assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                              (const unsigned char *)"x", -1,
                                              -1, 0),
                   1);
  assert_int_equal(X509_REQ_set_pubkey(req, key), 1);
  assert_true(X509_REQ_sign(req, key, md) > 0);
  n = i2d_X509_REQ(req, &buf);
  assert_true(n > 0);
  *der = malloc((size_t)n);
  assert_non_null(*der);
  memcpy(*der, buf, (size_t)n);
  *len = (size_t)n;
  OPENSSL_free(buf);
  X509_REQ_free(req);
}

static void test_csr_refuses_rsa_other_curves_and_sha1(void **state)
{
  EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
  EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
  EVP_PKEY *p256 = new_key();
  unsigned char *der = NULL;
  size_t len = 0;
  struct owcp_error err;

  (void)state;
  raw_csr(rsa, EVP_sha256(), &der, &len);
  assert_null(owcp_csr_verify(der, len, &err));
  testutil_assert_err_contains(&err, "CSR public key refused: key type is RSA");
  free(der);
  raw_csr(p384, EVP_sha256(), &der, &len);
  assert_null(owcp_csr_verify(der, len, &err));
  testutil_assert_err_contains(&err, "secp384r1");
  free(der);
  raw_csr(p256, EVP_sha1(), &der, &len);
  assert_null(owcp_csr_verify(der, len, &err));
  testutil_assert_err_contains(&err, "ecdsa-with-SHA1");
  free(der);
  assert_int_equal(ERR_peek_error(), 0);
  EVP_PKEY_free(rsa);
  EVP_PKEY_free(p384);
  EVP_PKEY_free(p256);
}

static void test_csr_from_openssl_tool_is_accepted(void **state)
{
  struct fixture *f = *state;
  char key_path[128], csr_path[128];
  unsigned char *der = NULL;
  size_t len = 0;
  struct owcp_error err;
  EVP_PKEY *pub, *key;

  path_in(f, "csr-key.pem", key_path, sizeof key_path);
  path_in(f, "req.der", csr_path, sizeof csr_path);
  assert_int_equal(testutil_openssl(NULL, "ecparam", "-name", "prime256v1",
                                    "-genkey", "-noout", "-out", key_path),
                   0);
  assert_int_equal(testutil_openssl(NULL, "req", "-new", "-key", key_path,
                                    "-subj", "/CN=x", "-outform", "DER", "-out",
                                    csr_path),
                   0);
  assert_int_equal(owcp_file_read(csr_path, 65536, &der, &len, &err), 0);
  pub = owcp_csr_verify(der, len, &err);
  if (pub == NULL)
    fail_msg("openssl CSR refused: %s", err.msg);
  key = owcp_key_load_pem(key_path, &err);
  assert_non_null(key);
  assert_same_public_key(key, pub);
  EVP_PKEY_free(key);
  EVP_PKEY_free(pub);
  free(der);
  /* And the tool accepts ours. */
  key = new_key();
  assert_int_equal(owcp_csr_new(key, "ours", &der, &len, &err), 0);
  testutil_write_file(csr_path, der, len);
  assert_int_equal(testutil_openssl(NULL, "req", "-inform", "DER", "-in",
                                    csr_path, "-verify", "-noout"),
                   0);
  free(der);
  EVP_PKEY_free(key);
}

/* --- DR-Complete signatures -------------------------------------------- */

struct signer {
  EVP_PKEY *key;
  X509 *cert;
};

static struct signer make_signer(void)
{
  struct owcp_error err;
  struct signer s;

  s.key = new_key();
  s.cert = owcp_dispatcher_cert_new(s.key, "owcp.example.com", 365, &err);
  if (s.cert == NULL)
    fail_msg("owcp_dispatcher_cert_new: %s", err.msg);
  return s;
}

static void free_signer(struct signer *s)
{
  X509_free(s->cert);
  EVP_PKEY_free(s->key);
}

static const char body[] =
    "{\"Operation\":\"DR-Complete\",\"Status\":200,\"Transaction\":\"t1\"}";

static void test_dispatcher_cert_profile(void **state)
{
  struct signer s = make_signer();
  struct owcp_error err;

  (void)state;
  assert_int_equal(X509_check_ca(s.cert), 0);
  assert_int_equal(X509_get_key_usage(s.cert), KU_DIGITAL_SIGNATURE);
  /* Self-signed: its own name as issuer, its own key's signature. */
  assert_int_equal(X509_NAME_cmp(X509_get_subject_name(s.cert),
                                 X509_get_issuer_name(s.cert)),
                   0);
  assert_int_equal(X509_verify(s.cert, s.key), 1);
  assert_null(owcp_dispatcher_cert_new(s.key, "x", 0, &err));
  free_signer(&s);
}

static void test_sig_header_round_trip(void **state)
{
  struct signer s = make_signer(), other = make_signer();
  char fp[OWCP_FINGERPRINT_LEN];
  struct owcp_error err;
  char *header;

  (void)state;
  header = owcp_sig_header_make(s.key, s.cert, body, strlen(body), &err);
  assert_non_null(header);
  assert_int_equal(owcp_cert_fingerprint(s.cert, fp, &err), 0);
  assert_int_equal(strncmp(header, "keyid=", 6), 0);
  assert_int_equal(strncmp(header + 6, fp, 64), 0);
  assert_int_equal(strncmp(header + 70, ",sig=", 5), 0);
  assert_int_equal(
      owcp_sig_header_verify(header, body, strlen(body), s.cert, &err), 0);
  /* One byte less of body. */
  assert_int_equal(
      owcp_sig_header_verify(header, body, strlen(body) - 1, s.cert, &err), -1);
  testutil_assert_err_contains(&err, "does not verify");
  /* Another dispatcher's certificate: keyid mismatch. */
  assert_int_equal(
      owcp_sig_header_verify(header, body, strlen(body), other.cert, &err), -1);
  testutil_assert_err_contains(&err,
                               "does not name the dispatcher certificate");
  /* Key that does not match the certificate. */
  assert_null(owcp_sig_header_make(other.key, s.cert, body, 3, &err));
  testutil_assert_err_contains(&err, "does not match");
  assert_int_equal(ERR_peek_error(), 0);
  free(header);
  free_signer(&s);
  free_signer(&other);
}

static void expect_header_refused(X509 *cert, const char *header,
                                  const char *needle)
{
  struct owcp_error err = {{0}};

  if (owcp_sig_header_verify(header, body, strlen(body), cert, &err) == 0)
    fail_msg("header '%s' unexpectedly verified", header);
  if (strstr(err.msg, needle) == NULL)
    fail_msg("header '%s': error '%s' lacks '%s'", header, err.msg, needle);
}

static void test_sig_header_strict_parsing(void **state)
{
  struct signer s = make_signer();
  struct owcp_error err;
  char *good = owcp_sig_header_make(s.key, s.cert, body, strlen(body), &err);
  char buf[512];
  size_t i;

  (void)state;
  assert_non_null(good);
  expect_header_refused(s.cert, "", "start with 'keyid='");
  expect_header_refused(s.cert, " keyid=", "start with 'keyid='");
  expect_header_refused(s.cert, "keyid=abc,sig=AAAA", "64 lowercase hex");
  /* Uppercase hex is refused. */
  snprintf(buf, sizeof buf, "%s", good);
  for (i = 6; i < 70; i++)
    if (buf[i] >= 'a' && buf[i] <= 'f')
      buf[i] = (char)(buf[i] - 'a' + 'A');
  expect_header_refused(s.cert, buf, "64 lowercase hex");
  /* Reordered, extra or spaced parameters. */
  snprintf(buf, sizeof buf, "sig=%s,keyid=%.64s", good + 75, good + 6);
  expect_header_refused(s.cert, buf, "start with 'keyid='");
  snprintf(buf, sizeof buf, "%.70s, sig=%s", good, good + 75);
  expect_header_refused(s.cert, buf, "',sig='");
  snprintf(buf, sizeof buf, "%s,alg=es256", good);
  expect_header_refused(s.cert, buf, "OWCP-Signature sig: base64");
  snprintf(buf, sizeof buf, "%s ", good);
  expect_header_refused(s.cert, buf, "sig");
  snprintf(buf, sizeof buf, "%.75s", good);
  expect_header_refused(s.cert, buf, "sig is empty");
  snprintf(buf, sizeof buf, "%.75sAAAA", good);
  expect_header_refused(s.cert, buf, "does not verify");
  free(good);
  free_signer(&s);
}

static void test_sig_header_interop_with_openssl_dgst(void **state)
{
  struct fixture *f = *state;
  struct signer s = make_signer();
  char body_path[128], sig_path[128], pub_path[128], key_path[128];
  unsigned char *sig = NULL;
  size_t sig_len = 0;
  struct owcp_error err;
  char *header, *b64, hdr[512], fp[OWCP_FINGERPRINT_LEN];
  FILE *fp_pub;

  path_in(f, "body.json", body_path, sizeof body_path);
  path_in(f, "sig.der", sig_path, sizeof sig_path);
  path_in(f, "pub.pem", pub_path, sizeof pub_path);
  path_in(f, "disp-key.pem", key_path, sizeof key_path);
  testutil_write_file(body_path, body, strlen(body));
  fp_pub = fopen(pub_path, "w");
  assert_non_null(fp_pub);
  assert_int_equal(PEM_write_PUBKEY(fp_pub, s.key), 1);
  fclose(fp_pub);
  /* Ours verifies with openssl dgst. */
  header = owcp_sig_header_make(s.key, s.cert, body, strlen(body), &err);
  assert_non_null(header);
  assert_int_equal(owcp_base64_decode(header + 75, strlen(header + 75), &sig,
                                      &sig_len, &err),
                   0);
  testutil_write_file(sig_path, sig, sig_len);
  free(sig);
  assert_int_equal(testutil_openssl(NULL, "dgst", "-sha256", "-verify",
                                    pub_path, "-signature", sig_path,
                                    body_path),
                   0);
  /* openssl dgst's signature verifies with ours. */
  assert_int_equal(owcp_key_save_pem(key_path, s.key, &err), 0);
  assert_int_equal(testutil_openssl(NULL, "dgst", "-sha256", "-sign", key_path,
                                    "-out", sig_path, body_path),
                   0);
  assert_int_equal(owcp_file_read(sig_path, 1024, &sig, &sig_len, &err), 0);
  b64 = owcp_base64_encode(sig, sig_len);
  assert_non_null(b64);
  assert_int_equal(owcp_cert_fingerprint(s.cert, fp, &err), 0);
  snprintf(hdr, sizeof hdr, "keyid=%s,sig=%s", fp, b64);
  assert_int_equal(
      owcp_sig_header_verify(hdr, body, strlen(body), s.cert, &err), 0);
  free(b64);
  free(sig);
  free(header);
  free_signer(&s);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_key_p256_check),
      cmocka_unit_test(test_key_pem_file_is_0600_and_round_trips),
      cmocka_unit_test(test_key_load_refuses_bad_files),
      cmocka_unit_test(test_key_encrypted_right_and_wrong_pin),
      cmocka_unit_test(test_key_encrypted_malformed_is_not_bad_pin),
      cmocka_unit_test(test_key_encrypted_by_openssl_tool_loads),
      cmocka_unit_test(test_ca_profile),
      cmocka_unit_test(test_ca_issue_client_and_chain),
      cmocka_unit_test(test_ca_issue_refuses_bad_input),
      cmocka_unit_test(test_san_is_not_config_syntax),
      cmocka_unit_test(test_cert_der_pem_files),
      cmocka_unit_test(test_client_cert_verifies_with_openssl_tool),
      cmocka_unit_test(test_csr_round_trip),
      cmocka_unit_test(test_csr_refuses_tampering_and_garbage),
      cmocka_unit_test(test_csr_refuses_rsa_other_curves_and_sha1),
      cmocka_unit_test(test_csr_from_openssl_tool_is_accepted),
      cmocka_unit_test(test_dispatcher_cert_profile),
      cmocka_unit_test(test_sig_header_round_trip),
      cmocka_unit_test(test_sig_header_strict_parsing),
      cmocka_unit_test(test_sig_header_interop_with_openssl_dgst),
  };

  return cmocka_run_group_tests(tests, setup, teardown);
}
