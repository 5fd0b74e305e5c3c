/* libFuzzer target: owcp_receipt_verify() and
 * owcp_receipt_verify_known_signer() on hostile DER, against a client CA,
 * a client certificate and one genuine receipt made once in
 * LLVMFuzzerInitialize.
 *
 * The first input octet chooses the form: raw DER (the rest of the input),
 * or the genuine receipt with patches (offset, value pairs) and a
 * truncation, which reaches the signature, chain and content checks that
 * random octets rarely get past the ASN.1 decoder to. A receipt that
 * verifies must also pass owcp_receipt_check() and, when it was not
 * patched, match what was signed. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "owcp/ca.h"
#include "owcp/keys.h"
#include "owcp/receipt.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Made once, read-only afterwards: acceptable in a fuzzer (and only here). */
static X509 *ca_cert;
static X509 *client_cert;
static unsigned char *genuine;
static size_t genuine_len;

static const char REQUEST[] = "<Request>fuzz</Request>";

static void make_fixture(void)
{
  struct owcp_error err;
  EVP_PKEY *ca_key = owcp_key_new(&err);
  EVP_PKEY *client_key = owcp_key_new(&err);
  if (ca_key == NULL || client_key == NULL) {
    abort();
  }
  ca_cert = owcp_ca_new(ca_key, "fuzz CA", &err);
  if (ca_cert == NULL) {
    abort();
  }
  client_cert = owcp_ca_issue_client(ca_cert, ca_key, client_key, "client-1",
                                     "alice@fuzz.test", 30, &err);
  if (client_cert == NULL) {
    abort();
  }
  char *methods[] = {"PIN"};
  struct owcp_receipt r = {
      .transaction = "txn-1",
      .account = "alice@fuzz.test",
      .client = "client-1",
      .response = "Accept",
      .verification = methods,
      .verification_count = 1,
      .request = (char *)REQUEST,
      .request_len = sizeof(REQUEST) - 1,
  };
  if (owcp_receipt_create(&r, client_cert, client_key, &genuine, &genuine_len,
                          &err) != 0) {
    abort();
  }
  EVP_PKEY_free(ca_key);
  EVP_PKEY_free(client_key);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
  (void)argc;
  (void)argv;
  make_fixture();
  return 0;
}

/* The genuine receipt with the input's patches: a 16-bit truncation length,
 * then (16-bit offset, value) triples. */
static unsigned char *patched(const uint8_t *data, size_t size, size_t *len)
{
  unsigned char *der = malloc(genuine_len);
  if (der == NULL) {
    return NULL;
  }
  memcpy(der, genuine, genuine_len);
  *len = genuine_len;
  if (size >= 2) {
    size_t cut = ((size_t)data[0] << 8) | data[1];
    if (cut != 0 && cut < genuine_len) {
      *len = cut;
    }
    data += 2;
    size -= 2;
  }
  for (; size >= 3; data += 3, size -= 3) {
    size_t off = ((size_t)data[0] << 8) | data[1];
    der[off % *len] = data[2];
  }
  return der;
}

static void verify(const unsigned char *der, size_t len, bool untouched)
{
  struct owcp_error err;
  struct owcp_receipt *r = NULL;
  X509 *expected = len % 2 == 0 ? client_cert : NULL;
  if (owcp_receipt_verify(der, len, ca_cert, expected, &r, &err) == 0) {
    if (r == NULL || owcp_receipt_check(r, &err) != 0) {
      abort();
    }
    if (untouched && owcp_receipt_matches(r, "txn-1", "alice@fuzz.test",
                                          "client-1", "Accept", REQUEST,
                                          sizeof(REQUEST) - 1, &err) != 0) {
      abort();
    }
    owcp_receipt_free(r);
  } else if (r != NULL || untouched) {
    /* A refused receipt must not be handed out; the genuine one must
     * verify. */
    abort();
  }
  r = NULL;
  if (owcp_receipt_verify_known_signer(der, len, client_cert, &r, &err) == 0) {
    if (r == NULL || owcp_receipt_check(r, &err) != 0) {
      abort();
    }
    owcp_receipt_free(r);
  } else if (r != NULL) {
    abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size == 0 || size > OWCP_RECEIPT_MAX_DER) {
    return 0;
  }
  if (data[0] & 1) {
    verify(data + 1, size - 1, false);
    return 0;
  }
  size_t len = 0;
  unsigned char *der = patched(data + 1, size - 1, &len);
  if (der == NULL) {
    return 0;
  }
  verify(der, len, size == 1);
  free(der);
  return 0;
}
