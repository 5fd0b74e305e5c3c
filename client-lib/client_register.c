/*
 * client_register.c — libowcp-client's CD-Register (owcp/client.h): the
 * client key and CSR, registration with a code or through a device
 * approval (polled until decided), and the issued certificate checked
 * against the key, the account and the client identifier before the
 * account is saved.
 */
#include "owcp/client.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>

#include "owcp/ca.h"
#include "owcp/discovery.h"
#include "owcp/httpc.h"
#include "owcp/jsonspec.h"
#include "owcp/keys.h"
#include "owcp/receipt.h"
#include "owcp/request.h"
#include "client_internal.h"
#include "state.h"

#define DEFAULT_APPROVAL_TIMEOUT_S 600
#define DEFAULT_POLL_MS 1000

/* ---- CD-Register ------------------------------------------------------- */

/* Decodes a base64 DER certificate: a reply's, or one saved from it. */
X509 *client_cert_from_b64(const char *b64, struct owcp_error *err)
{
  unsigned char *der = NULL;
  size_t len = 0;
  X509 *cert = NULL;

  if (owcp_base64_decode(b64, strlen(b64), &der, &len, err) == 0)
    cert = owcp_cert_from_der(der, len, err);
  free(der);
  return cert;
}

/* Decodes a base64 DER certificate member of a reply. */
static X509 *reply_cert(const json_t *o, const char *name,
                        struct owcp_error *err)
{
  const char *b64 = json_string_value(json_object_get(o, name));

  if (b64 == NULL) {
    owcp_error_set(err, "CD-Register reply lacks '%s'", name);
    return NULL;
  }
  return client_cert_from_b64(b64, err);
}

/* True when cert's subject has exactly one CN and it is client, byte for
 * byte (the receipt names the Client; the dispatcher matches the signer's
 * certificate to it). */
static bool subject_is_client(X509 *cert, const char *client)
{
  const X509_NAME *name = X509_get_subject_name(cert);
  int at = X509_NAME_get_index_by_NID(name, NID_commonName, -1);

  if (at < 0 || X509_NAME_get_index_by_NID(name, NID_commonName, at) >= 0)
    return false;
  const ASN1_STRING *cn =
      X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, at));
  size_t len = strlen(client);
  return cn != NULL && (size_t)ASN1_STRING_length(cn) == len &&
         memcmp(ASN1_STRING_get0_data(cn), client, len) == 0;
}

/* The dispatcher is trusted only as far as it proves: the certificate must
 * chain to the CA it returned, carry our key and name our account and the
 * Client identifier it returned. */
static int check_issued(const json_t *o, EVP_PKEY *key, const char *account,
                        struct owcp_error *err)
{
  X509 *cert = reply_cert(o, "Certificate", err);
  X509 *ca = cert != NULL ? reply_cert(o, "CA", err) : NULL;
  const char *client = json_string_value(json_object_get(o, "Client"));
  char named[320];
  int rc = -1;

  if (ca == NULL || owcp_cert_verify_chain(cert, ca, err) != 0)
    goto out;
  if (client == NULL || !subject_is_client(cert, client)) {
    owcp_error_set(err, "CD-Register reply: the certificate's subject does "
                        "not name the returned 'Client'");
    goto out;
  }
  if (EVP_PKEY_eq(X509_get0_pubkey(cert), key) != 1) {
    owcp_error_set(err, "CD-Register reply: the certificate is not for this "
                        "device's key");
    goto out;
  }
  if (owcp_cert_get_account(cert, named, sizeof named, err) != 0)
    goto out;
  if (strcmp(named, account) != 0) {
    char *safe = client_neutral(named);
    owcp_error_set(err,
                   "CD-Register reply: the certificate names '%s', not "
                   "'%s'",
                   safe != NULL ? safe : "another account", account);
    free(safe);
    goto out;
  }
  rc = 0;
out:
  X509_free(cert);
  X509_free(ca);
  return rc;
}

/* Saves the account from a 200 CD-Register reply. */
static int adopt(struct owcp_client *c, const struct owcp_register_params *p,
                 const json_t *o, EVP_PKEY *key, char *pem,
                 struct owcp_error *err)
{
  struct owcp_account_state a = {0};

  if (check_issued(o, key, p->account, err) != 0)
    return -1;
  a.account = (char *)p->account;
  a.description = (char *)p->description;
  a.dispatcher = c->dispatcher;
  a.client = (char *)json_string_value(json_object_get(o, "Client"));
  a.token = (char *)json_string_value(json_object_get(o, "Token"));
  a.cert_b64 = (char *)json_string_value(json_object_get(o, "Certificate"));
  a.ca_b64 = (char *)json_string_value(json_object_get(o, "CA"));
  a.pin = p->pin != NULL;
  a.key_pem = pem;
  a.max_failures = p->max_pin_failures != 0
                       ? p->max_pin_failures
                       : OWCP_CLIENT_DEFAULT_MAX_PIN_FAILURES;
  if (a.client == NULL || a.client[0] == '\0' || a.token == NULL ||
      a.token[0] == '\0') {
    owcp_error_set(err, "CD-Register reply lacks 'Client' or 'Token'");
    return -1;
  }
  return client_account_store(c, &a, NULL, err); /* put copies every string */
}

static json_t *register_params(const struct owcp_register_params *p,
                               const char *csr_b64, const char *tx)
{
  json_t *o = json_pack("{s:s, s:s, s:s}", "Account", p->account, "Description",
                        p->description, "CSR", csr_b64);

  if (o != NULL && p->code != NULL)
    json_object_set_new(o, "Code", json_string(p->code));
  if (o != NULL && tx != NULL)
    json_object_set_new(o, "Transaction", json_string(tx));
  return o;
}

static double mono_now(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(int ms)
{
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}

/* The first 202 of an approval: the transaction is remembered in *tx and
 * the caller's callbacks learn it and the digits to show (spec §5: the
 * approving user types them). 0, or -1 with err. */
static int approval_started(const struct owcp_register_params *p,
                            const json_t *reply, const char *t, char **tx,
                            struct owcp_error *err)
{
  const char *m = json_string_value(json_object_get(reply, "Match"));

  if (m == NULL || !(m[0] >= '0' && m[0] <= '9' && m[1] >= '0' && m[1] <= '9' &&
                     m[2] == '\0')) {
    owcp_error_set(err, "CD-Register answered 202 without 'Match', the two "
                        "digits to show for the approval");
    return -1;
  }
  if ((*tx = strdup(t)) == NULL) {
    owcp_error_set(err, "out of memory");
    return -1;
  }
  if (p->on_pending != NULL)
    p->on_pending(*tx, p->arg);
  if (p->on_match != NULL)
    p->on_match(*tx, m, p->arg);
  return 0;
}

/* Sends CD-Register until it is no longer 202 (approval pending). */
static int register_exchange(struct owcp_client *c,
                             const struct owcp_register_params *p,
                             const char *csr_b64, struct owcp_http_reply *reply,
                             struct owcp_error *err)
{
  int timeout = p->approval_timeout_s > 0 ? p->approval_timeout_s
                                          : DEFAULT_APPROVAL_TIMEOUT_S;
  int poll_ms = p->poll_interval_ms > 0 ? p->poll_interval_ms : DEFAULT_POLL_MS;
  double deadline = mono_now() + timeout;
  char *tx = NULL;
  int rc;

  for (;;) {
    json_t *params = register_params(p, csr_b64, tx);
    rc = client_post(c, p->account, NULL, "CD-Register", NULL, params, 0, reply,
                     err);
    json_decref(params);
    if (rc != 0 || reply->status != 202)
      break;
    const char *t =
        json_string_value(json_object_get(reply->json, "Transaction"));
    if (t == NULL || !client_transaction_ok(t)) {
      owcp_error_set(err,
                     "CD-Register answered 202 without a valid "
                     "'Transaction' (1..%d URL-safe characters)",
                     MAX_TRANSACTION_LEN);
      rc = -1;
      break;
    }
    if (tx != NULL && strcmp(tx, t) != 0) {
      owcp_error_set(err, "CD-Register answered 202 with a different "
                          "'Transaction' than the one being approved");
      rc = -1;
      break;
    }
    if (tx == NULL && approval_started(p, reply->json, t, &tx, err) != 0) {
      rc = -1;
      break;
    }
    if (mono_now() >= deadline) {
      owcp_error_set(err, "no device approved the registration within %d s",
                     timeout);
      rc = -1;
      break;
    }
    owcp_http_reply_free(reply);
    sleep_ms(poll_ms);
  }
  free(tx);
  return rc;
}

static int register_check_params(const struct owcp_register_params *p,
                                 struct owcp_error *err)
{
  if (p->account == NULL || strchr(p->account, '@') == NULL) {
    owcp_error_set(err, "the account must be of the form local@domain");
    return -1;
  }
  if (p->description == NULL || p->description[0] == '\0') {
    owcp_error_set(err, "the device description must not be empty");
    return -1;
  }
  if (p->pin != NULL && p->pin[0] == '\0') {
    owcp_error_set(err, "the PIN must not be empty");
    return -1;
  }
  return 0;
}

int owcp_client_register(struct owcp_client *c,
                         const struct owcp_register_params *p,
                         struct owcp_error *err)
{
  EVP_PKEY *key = NULL;
  char *pem = NULL;
  unsigned char *csr = NULL;
  size_t csr_len = 0;
  char *csr_b64 = NULL;
  struct owcp_http_reply reply = {0};
  int rc = -1;

  if (register_check_params(p, err) != 0 ||
      owcp_keystore_create(p->pin, &key, &pem, err) != 0 ||
      owcp_csr_new(key, p->account, &csr, &csr_len, err) != 0)
    goto out;
  csr_b64 = owcp_base64_encode(csr, csr_len);
  if (csr_b64 == NULL) {
    owcp_error_set(err, "out of memory");
    goto out;
  }
  if (register_exchange(c, p, csr_b64, &reply, err) != 0)
    goto out;
  if (reply.status == 200)
    rc = adopt(c, p, reply.json, key, pem, err);
  else if (reply.status == 403 && p->code == NULL)
    client_reply_error("CD-Register (the registration was rejected, or "
                       "approved with the wrong number)",
                       &reply, err);
  else if (reply.status == 429)
    client_reply_error("CD-Register (too many registration attempts; try "
                       "again later)",
                       &reply, err);
  else if (reply.status == 408)
    client_reply_error("CD-Register (the approval expired)", &reply, err);
  else
    client_reply_error("CD-Register", &reply, err);
out:
  owcp_http_reply_free(&reply);
  if (pem != NULL)
    OPENSSL_cleanse(pem, strlen(pem));
  free(pem);
  free(csr);
  free(csr_b64);
  EVP_PKEY_free(key);
  return rc;
}
