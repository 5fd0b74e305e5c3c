/* cmc.c: the RA-signed CMC Full PKI Request, checked by three independent
 * readers: `openssl cms -verify` against the RA's CA, `openssl asn1parse`
 * for the layout, and check_cmc.py (python3-asn1crypto + cryptography) for
 * every field of Checks (OTPCE) item 7. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/pem.h>

#include "bridge_fixture.h"
#include "cmc.h"
#include "testutil.h"

static char dir[256];

static int group_setup(void **state)
{
  if (testutil_tmpdir_make(dir, sizeof dir, "cmc") != 0)
    return -1;
  fx_make_keys(dir);
  return 0;
}

static int group_teardown(void **state)
{
  return testutil_tmpdir_remove(dir);
}

static X509 *load_cert(const char *name)
{
  char path[512];
  fx_path(path, sizeof path, dir, name);
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  X509 *c = PEM_read_X509(f, NULL, NULL, NULL);
  fclose(f);
  assert_non_null(c);
  return c;
}

static EVP_PKEY *load_key(const char *name)
{
  char path[512];
  fx_path(path, sizeof path, dir, name);
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
  fclose(f);
  assert_non_null(k);
  return k;
}

/* Signs the Windows-like CSR; writes csr.der and cmc.der into dir. */
static void sign_windows_csr(void)
{
  size_t csr_len;
  unsigned char *csr = fx_csr_windows(dir, "alice@example.com", &csr_len);
  X509 *ra = load_cert("ra.pem");
  EVP_PKEY *key = load_key("ra.key");
  unsigned char *cmc = NULL;
  size_t cmc_len = 0;
  struct owcp_error err;
  assert_int_equal(cmc_ra_sign(csr, csr_len, ra, key, &cmc, &cmc_len, &err), 0);
  char path[512];
  fx_path(path, sizeof path, dir, "csr.der");
  testutil_write_file(path, csr, csr_len);
  fx_path(path, sizeof path, dir, "cmc.der");
  testutil_write_file(path, cmc, cmc_len);
  free(cmc);
  free(csr);
  X509_free(ra);
  EVP_PKEY_free(key);
}

static void test_openssl_cms_verify(void **state)
{
  sign_windows_csr();
  char cmc[512], ca[512], out[512];
  fx_path(cmc, sizeof cmc, dir, "cmc.der");
  fx_path(ca, sizeof ca, dir, "ra-ca.pem");
  fx_path(out, sizeof out, dir, "econtent.der");
  assert_int_equal(testutil_openssl(NULL, "cms", "-verify", "-inform", "DER",
                                    "-in", cmc, "-CAfile", ca, "-purpose",
                                    "any", "-binary", "-out", out),
                   0);
  /* the verified eContent is exactly the PKIData around the CSR */
  size_t got_len, csr_len, want_len;
  unsigned char *got = fx_read(dir, "econtent.der", &got_len);
  unsigned char *csr = fx_read(dir, "csr.der", &csr_len);
  unsigned char *want = NULL;
  struct owcp_error err;
  assert_int_equal(cmc_pkidata_encode(csr, csr_len, &want, &want_len, &err), 0);
  assert_int_equal(got_len, want_len);
  assert_memory_equal(got, want, want_len);
  free(want);
  free(got);
  free(csr);

  /* and a different CA does not vouch for it */
  char other[512], otherkey[512];
  fx_path(other, sizeof other, dir, "other-ca.pem");
  fx_path(otherkey, sizeof otherkey, dir, "other-ca.key");
  assert_int_equal(testutil_openssl(NULL, "req", "-x509", "-newkey", "ec",
                                    "-pkeyopt", "ec_paramgen_curve:P-256",
                                    "-nodes", "-keyout", otherkey, "-subj",
                                    "/CN=Other", "-out", other),
                   0);
  assert_int_not_equal(testutil_openssl(NULL, "cms", "-verify", "-inform",
                                        "DER", "-in", cmc, "-CAfile", other,
                                        "-purpose", "any", "-out", out),
                       0);
}

static void test_python_decoder(void **state)
{
  sign_windows_csr();
  char cmc[512], csr[512], ra[512], out[512];
  fx_path(cmc, sizeof cmc, dir, "cmc.der");
  fx_path(csr, sizeof csr, dir, "csr.der");
  fx_path(ra, sizeof ra, dir, "ra.pem");
  fx_path(out, sizeof out, dir, "check.out");
  const char *script = OWCP_SOURCE_DIR "/tests/unit/check_cmc.py";
  const char *argv[] = {"/usr/bin/python3", script, cmc, csr, ra, NULL};
  assert_int_equal(testutil_exec(argv, out), 0);
  testutil_assert_file_contains(out, "check_cmc: ok");

  /* the checker is not blind: another CSR is not the one inside */
  size_t len;
  unsigned char *other = fx_csr_windows(dir, "bob@example.com", &len);
  testutil_write_file(csr, other, len);
  free(other);
  assert_int_equal(testutil_exec(argv, out), 1);
}

static void test_pkidata_layout(void **state)
{
  size_t csr_len;
  unsigned char *csr = fx_csr_windows(dir, "alice@example.com", &csr_len);
  unsigned char *pd = NULL;
  size_t pd_len = 0;
  struct owcp_error err;
  assert_int_equal(cmc_pkidata_encode(csr, csr_len, &pd, &pd_len, &err), 0);
  /* SEQUENCE { SEQUENCE {}, SEQUENCE { [0] { INTEGER 1, CSR } },
   *            SEQUENCE {}, SEQUENCE {} }, lengths in long form */
  size_t tcr_len = 3 + csr_len;
  size_t at = 2 + (pd[1] & 0x7f);
  static const unsigned char empty[] = {0x30, 0x00};
  assert_memory_equal(pd + at, empty, 2);
  at += 2;
  assert_int_equal(pd[at], 0x30);
  at += 2 + (pd[at + 1] & 0x7f);
  assert_int_equal(pd[at], 0xa0);
  assert_int_equal(pd[at + 1], 0x82);
  assert_int_equal((size_t)(pd[at + 2] << 8 | pd[at + 3]), tcr_len);
  at += 4;
  static const unsigned char one[] = {0x02, 0x01, 0x01};
  assert_memory_equal(pd + at, one, 3);
  assert_memory_equal(pd + at + 3, csr, csr_len);
  at += 3 + csr_len;
  assert_int_equal(pd_len, at + 4);
  assert_memory_equal(pd + at, empty, 2);
  assert_memory_equal(pd + at + 2, empty, 2);
  free(pd);
  free(csr);
}

static void test_refusals(void **state)
{
  X509 *ra = load_cert("ra.pem");
  EVP_PKEY *user = load_key("user.key");
  size_t csr_len;
  unsigned char *csr = fx_csr_windows(dir, "alice@example.com", &csr_len);
  unsigned char *out = NULL;
  size_t out_len = 0;
  struct owcp_error err;
  /* a key that is not the RA certificate's */
  assert_int_equal(cmc_ra_sign(csr, csr_len, ra, user, &out, &out_len, &err),
                   -1);
  testutil_assert_err_contains(&err, "cannot sign the CMC request");
  assert_null(out);
  /* not one DER SEQUENCE: trailing bytes, a truncation, another type */
  EVP_PKEY *key = load_key("ra.key");
  unsigned char *longer = malloc(csr_len + 2);
  memcpy(longer, csr, csr_len);
  longer[csr_len] = 0x05;
  longer[csr_len + 1] = 0x00;
  assert_int_equal(
      cmc_ra_sign(longer, csr_len + 2, ra, key, &out, &out_len, &err), -1);
  testutil_assert_err_contains(&err, "not one DER SEQUENCE");
  assert_int_equal(cmc_ra_sign(csr, csr_len - 1, ra, key, &out, &out_len, &err),
                   -1);
  static const unsigned char integer[] = {0x02, 0x01, 0x01};
  assert_int_equal(
      cmc_ra_sign(integer, sizeof integer, ra, key, &out, &out_len, &err), -1);
  free(longer);
  free(csr);
  X509_free(ra);
  EVP_PKEY_free(user);
  EVP_PKEY_free(key);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_openssl_cms_verify),
      cmocka_unit_test(test_python_decoder),
      cmocka_unit_test(test_pkidata_layout),
      cmocka_unit_test(test_refusals),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
