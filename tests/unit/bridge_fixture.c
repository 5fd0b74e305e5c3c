/* Test fixtures of the enrollment bridge; see bridge_fixture.h. */
#include "bridge_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/asn1.h>
#include <openssl/conf.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "testutil.h"

void fx_path(char *out, size_t size, const char *dir, const char *name)
{
  int n = snprintf(out, size, "%s/%s", dir, name);
  assert_true(n > 0 && (size_t)n < size);
}

unsigned char *fx_read(const char *dir, const char *name, size_t *len)
{
  char path[512];
  fx_path(path, sizeof path, dir, name);
  unsigned char *data = NULL;
  struct owcp_error err;
  assert_int_equal(owcp_file_read(path, 1 << 20, &data, len, &err), 0);
  return data;
}

static const char ra_ext[] = "[ra]\n"
                             "keyUsage = critical, digitalSignature\n"
                             "extendedKeyUsage = 1.3.6.1.4.1.311.81.1.1\n"
                             "subjectAltName = critical, DNS:da.example.com\n";

void fx_make_keys(const char *dir)
{
  char key[512], cakey[512], ca[512], rakey[512], racsr[512], ra[512], ext[512];
  fx_path(key, sizeof key, dir, "user.key");
  fx_path(cakey, sizeof cakey, dir, "ra-ca.key");
  fx_path(ca, sizeof ca, dir, "ra-ca.pem");
  fx_path(rakey, sizeof rakey, dir, "ra.key");
  fx_path(racsr, sizeof racsr, dir, "ra.csr");
  fx_path(ra, sizeof ra, dir, "ra.pem");
  fx_path(ext, sizeof ext, dir, "ra.ext");
  testutil_write_file(ext, ra_ext, strlen(ra_ext));
  assert_int_equal(testutil_openssl(NULL, "genpkey", "-algorithm", "RSA",
                                    "-pkeyopt", "rsa_keygen_bits:2048", "-out",
                                    key),
                   0);
  assert_int_equal(testutil_openssl(NULL, "req", "-x509", "-newkey", "ec",
                                    "-pkeyopt", "ec_paramgen_curve:P-256",
                                    "-nodes", "-keyout", cakey, "-subj",
                                    "/CN=Test RA CA", "-days", "2", "-out", ca),
                   0);
  assert_int_equal(testutil_openssl(NULL, "req", "-new", "-newkey", "rsa:2048",
                                    "-nodes", "-keyout", rakey, "-subj",
                                    "/CN=da.example.com", "-out", racsr),
                   0);
  assert_int_equal(testutil_openssl(NULL, "x509", "-req", "-in", racsr, "-CA",
                                    ca, "-CAkey", cakey, "-CAcreateserial",
                                    "-days", "2", "-extfile", ext,
                                    "-extensions", "ra", "-out", ra),
                   0);
}

unsigned char *fx_csr_cli(const char *dir, const char *subject,
                          const char *digest, const char *const *addext,
                          size_t *len)
{
  char key[512], out[512], md[32];
  fx_path(key, sizeof key, dir, "user.key");
  fx_path(out, sizeof out, dir, "req.der");
  snprintf(md, sizeof md, "-%s", digest);
  const char *argv[40] = {"openssl", "req", "-new",     "-key", key,    "-subj",
                          subject,   md,    "-outform", "DER",  "-out", out};
  size_t n = 12;
  for (size_t i = 0; addext[i] != NULL; i++) {
    assert_true(n + 3 < sizeof argv / sizeof *argv);
    argv[n++] = "-addext";
    argv[n++] = addext[i];
  }
  argv[n] = NULL;
  assert_int_equal(testutil_exec(argv, NULL), 0);
  return fx_read(dir, "req.der", len);
}

unsigned char *fx_csr_windows(const char *dir, const char *upn, size_t *len)
{
  char san[256];
  snprintf(san, sizeof san,
           "subjectAltName=otherName:1.3.6.1.4.1.311.20.2.3;UTF8:%s", upn);
  static const char v2[] = "1.3.6.1.4.1.311.21.7=" FX_TEMPLATE_V2;
  const char *ext[] = {v2, san, "extendedKeyUsage=1.3.6.1.4.1.311.20.2.2",
                       "keyUsage=critical,digitalSignature,keyEncipherment",
                       NULL};
  return fx_csr_cli(dir, FX_SUBJECT, "sha1", ext, len);
}

/* DER of the ASN1_generate_nconf() description `spec` whose sections are
 * in config. */
static unsigned char *generate(const char *spec, const char *config, int *len)
{
  CONF *conf = NCONF_new(NULL);
  BIO *bio = BIO_new_mem_buf(config, -1);
  long line = 0;
  assert_true(conf != NULL && bio != NULL && NCONF_load_bio(conf, bio, &line));
  ASN1_TYPE *t = ASN1_generate_nconf(spec, conf);
  assert_non_null(t);
  unsigned char *der = NULL;
  *len = i2d_ASN1_TYPE(t, &der);
  assert_true(*len > 0);
  ASN1_TYPE_free(t);
  BIO_free(bio);
  NCONF_free(conf);
  return der;
}

static void add_seq_attr(X509_REQ *req, const char *oid, const char *spec,
                         const char *config)
{
  int len = 0;
  unsigned char *der = generate(spec, config, &len);
  ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
  assert_non_null(obj);
  assert_int_equal(
      X509_REQ_add1_attr_by_OBJ(req, obj, V_ASN1_SEQUENCE, der, len), 1);
  ASN1_OBJECT_free(obj);
  OPENSSL_free(der);
}

static void add_upn(X509_REQ *req, const char *upn)
{
  char value[256];
  snprintf(value, sizeof value, "otherName:1.3.6.1.4.1.311.20.2.3;UTF8:%s",
           upn);
  STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
  X509_EXTENSION *ext =
      X509V3_EXT_nconf_nid(NULL, NULL, NID_subject_alt_name, value);
  assert_non_null(ext);
  assert_true(sk_X509_EXTENSION_push(exts, ext) > 0);
  assert_int_equal(X509_REQ_add_extensions(req, exts), 1);
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
}

static EVP_PKEY *load_user_key(const char *dir)
{
  char path[512];
  fx_path(path, sizeof path, dir, "user.key");
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  EVP_PKEY *key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
  fclose(f);
  assert_non_null(key);
  return key;
}

unsigned char *fx_csr_c(const char *dir, const char *upn, const char *template,
                        bool client_info, size_t *len)
{
  EVP_PKEY *key = load_user_key(dir);
  X509_REQ *req = X509_REQ_new();
  X509_NAME *name = X509_NAME_new();
  assert_true(req != NULL && name != NULL);
  assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                              (const unsigned char *)"Alice",
                                              -1, -1, 0),
                   1);
  assert_int_equal(X509_REQ_set_subject_name(req, name), 1);
  assert_int_equal(X509_REQ_set_pubkey(req, key), 1);
  if (upn != NULL)
    add_upn(req, upn);
  if (template != NULL) {
    char config[256];
    snprintf(config, sizeof config,
             "[nv]\nname = BMPSTRING:CertificateTemplate\n"
             "value = BMPSTRING:%s\n",
             template);
    add_seq_attr(req, "1.3.6.1.4.1.311.13.2.1", "SEQUENCE:nv", config);
  }
  if (client_info)
    add_seq_attr(req, "1.3.6.1.4.1.311.21.20", "SEQUENCE:ci",
                 "[ci]\nid = INTEGER:5\n"
                 "machine = UTF8:LAPTOP-234.example.com\n"
                 "user = UTF8:EXAMPLE\\\\LAPTOP-234\\$\n"
                 "process = UTF8:LogonUI.exe\n");
  assert_true(X509_REQ_sign(req, key, EVP_sha256()) > 0);
  unsigned char *der = NULL;
  int n = i2d_X509_REQ(req, &der);
  assert_true(n > 0);
  unsigned char *copy = malloc((size_t)n);
  assert_non_null(copy);
  memcpy(copy, der, (size_t)n);
  *len = (size_t)n;
  OPENSSL_free(der);
  X509_NAME_free(name);
  X509_REQ_free(req);
  EVP_PKEY_free(key);
  return copy;
}
