/*
 * ca.c — the dispatcher's certificates: client CA, client certificates and
 * the self-signed DR-Complete signing certificate. The profile is described
 * in owcp/ca.h.
 */
#include "owcp/ca.h"
#include "owcp/keys.h"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <stdio.h>
#include <string.h>

/* Clients' clocks run a little behind; don't make a fresh cert unusable. */
#define BACKDATE_SECONDS 300
/* RFC 5280 upper bound for a common name. */
#define MAX_CN 64
/* RFC 5321 limit for a forward path, the longest usable address. */
#define MAX_ACCOUNT 254

/* Serial = 0x01 followed by 128 random bits: positive, non-zero, 17 octets
 * (RFC 5280 allows 20). */
static int set_random_serial(X509 *cert, struct owcp_error *err)
{
  unsigned char raw[17];
  BIGNUM *bn;
  int ok;

  raw[0] = 0x01;
  if (owcp_random_bytes(raw + 1, sizeof raw - 1) != 0) {
    owcp_error_set(err, "no randomness for the certificate serial");
    return -1;
  }
  bn = BN_bin2bn(raw, (int)sizeof raw, NULL);
  ok = bn != NULL && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert));
  BN_free(bn);
  if (!ok) {
    owcp_error_set_ssl(err, "cannot set the certificate serial");
    return -1;
  }
  return 0;
}

static X509_NAME *name_with_cn(const char *cn, struct owcp_error *err)
{
  X509_NAME *name;

  if (cn == NULL || cn[0] == '\0' || strlen(cn) > MAX_CN) {
    owcp_error_set(err, "common name must be 1 to %d characters", MAX_CN);
    return NULL;
  }
  name = X509_NAME_new();
  if (name == NULL ||
      X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                 (const unsigned char *)cn, -1, -1, 0) != 1) {
    owcp_error_set_ssl(err, "common name '%s' cannot be encoded", cn);
    X509_NAME_free(name);
    return NULL;
  }
  return name;
}

/* A v3 certificate with serial, names, key and validity, not yet signed. */
static X509 *cert_skeleton(const X509_NAME *subject, const X509_NAME *issuer,
                           EVP_PKEY *pub, int days, struct owcp_error *err)
{
  X509 *cert;

  if (days < 1 || days > OWCP_CERT_MAX_DAYS) {
    owcp_error_set(err, "certificate validity must be 1 to %d days, not %d",
                   OWCP_CERT_MAX_DAYS, days);
    return NULL;
  }
  if (owcp_key_check_p256(pub, err) != 0)
    return NULL;
  cert = X509_new();
  if (cert == NULL || X509_set_version(cert, 2) != 1 ||
      X509_set_subject_name(cert, subject) != 1 ||
      X509_set_issuer_name(cert, issuer) != 1 ||
      X509_set_pubkey(cert, pub) != 1 ||
      X509_gmtime_adj(X509_getm_notBefore(cert), -BACKDATE_SECONDS) == NULL ||
      X509_time_adj_ex(X509_getm_notAfter(cert), days, 0, NULL) == NULL) {
    owcp_error_set_ssl(err, "cannot build the certificate");
    X509_free(cert);
    return NULL;
  }
  if (set_random_serial(cert, err) != 0) {
    X509_free(cert);
    return NULL;
  }
  return cert;
}

/* Adds one extension given in openssl.cnf syntax (fixed strings only). */
static int add_ext(X509 *cert, X509V3_CTX *ctx, int nid, const char *value,
                   struct owcp_error *err)
{
  X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, ctx, nid, value);
  int ok = ext != NULL && X509_add_ext(cert, ext, -1) == 1;

  X509_EXTENSION_free(ext);
  if (!ok) {
    owcp_error_set_ssl(err, "cannot add certificate extension %s",
                       OBJ_nid2sn(nid));
    return -1;
  }
  return 0;
}

/* Adds extensions[] (nid, value pairs) with issuer as the AKI source. */
struct ext_spec {
  int nid;
  const char *value;
};

static int add_exts(X509 *cert, X509 *issuer, const struct ext_spec *exts,
                    size_t n, struct owcp_error *err)
{
  X509V3_CTX ctx;
  size_t i;

  X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
  for (i = 0; i < n; i++)
    if (add_ext(cert, &ctx, exts[i].nid, exts[i].value, err) != 0)
      return -1;
  return 0;
}

static int sign_cert(X509 *cert, EVP_PKEY *key, struct owcp_error *err)
{
  if (X509_sign(cert, key, EVP_sha256()) <= 0) {
    owcp_error_set_ssl(err, "cannot sign the certificate");
    return -1;
  }
  return 0;
}

/* Builds, extends and signs a self-signed certificate for key. */
static X509 *self_signed(EVP_PKEY *key, const char *cn, int days,
                         const struct ext_spec *exts, size_t n,
                         struct owcp_error *err)
{
  X509_NAME *name = name_with_cn(cn, err);
  X509 *cert;

  if (name == NULL)
    return NULL;
  cert = cert_skeleton(name, name, key, days, err);
  X509_NAME_free(name);
  if (cert == NULL)
    return NULL;
  if (add_exts(cert, cert, exts, n, err) != 0 || sign_cert(cert, key, err)) {
    X509_free(cert);
    return NULL;
  }
  return cert;
}

X509 *owcp_ca_new(EVP_PKEY *ca_key, const char *cn, struct owcp_error *err)
{
  static const struct ext_spec exts[] = {
      {NID_basic_constraints, "critical,CA:TRUE,pathlen:0"},
      {NID_key_usage, "critical,keyCertSign,cRLSign"},
      {NID_subject_key_identifier, "hash"},
  };

  return self_signed(ca_key, cn, OWCP_CA_DAYS, exts,
                     sizeof exts / sizeof exts[0], err);
}

X509 *owcp_dispatcher_cert_new(EVP_PKEY *key, const char *cn, int days,
                               struct owcp_error *err)
{
  static const struct ext_spec exts[] = {
      {NID_basic_constraints, "critical,CA:FALSE"},
      {NID_key_usage, "critical,digitalSignature"},
      {NID_subject_key_identifier, "hash"},
  };

  return self_signed(key, cn, days, exts, sizeof exts / sizeof exts[0], err);
}

/* local@domain, printable ASCII without spaces, both parts non-empty. The
 * dispatcher validates accounts fully; this guards the certificate. */
static int check_account(const char *account, struct owcp_error *err)
{
  const char *at, *p;

  if (account == NULL || account[0] == '\0' || strlen(account) > MAX_ACCOUNT) {
    owcp_error_set(err, "account must be 1 to %d characters", MAX_ACCOUNT);
    return -1;
  }
  for (p = account; *p != '\0'; p++) {
    if (*p < 0x21 || *p > 0x7e) {
      owcp_error_set(err,
                     "account has a character outside printable ASCII at "
                     "offset %td",
                     p - account);
      return -1;
    }
  }
  at = strrchr(account, '@');
  if (at == NULL || at == account || at[1] == '\0') {
    owcp_error_set(err, "account '%s' is not of the form local@domain",
                   account);
    return -1;
  }
  return 0;
}

/* subjectAltName rfc822Name=account, built directly so that no character
 * of the account is interpreted as configuration syntax. */
static int add_account_san(X509 *cert, const char *account,
                           struct owcp_error *err)
{
  GENERAL_NAMES *names = sk_GENERAL_NAME_new_null();
  GENERAL_NAME *gn = GENERAL_NAME_new();
  ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();
  int ok = 0;

  if (names != NULL && gn != NULL && ia5 != NULL &&
      ASN1_STRING_set(ia5, account, -1) == 1) {
    GENERAL_NAME_set0_value(gn, GEN_EMAIL, ia5);
    ia5 = NULL;
    if (sk_GENERAL_NAME_push(names, gn) > 0) {
      gn = NULL;
      ok = X509_add1_ext_i2d(cert, NID_subject_alt_name, names, 0,
                             X509V3_ADD_APPEND) == 1;
    }
  }
  ASN1_IA5STRING_free(ia5);
  GENERAL_NAME_free(gn);
  GENERAL_NAMES_free(names);
  if (!ok) {
    owcp_error_set_ssl(err, "cannot add the account to the certificate");
    return -1;
  }
  return 0;
}

X509 *owcp_ca_issue_client(X509 *ca_cert, EVP_PKEY *ca_key,
                           EVP_PKEY *client_pub, const char *client_id,
                           const char *account, int days,
                           struct owcp_error *err)
{
  static const struct ext_spec exts[] = {
      {NID_basic_constraints, "critical,CA:FALSE"},
      {NID_key_usage, "critical,digitalSignature,nonRepudiation"},
      {NID_subject_key_identifier, "hash"},
      {NID_authority_key_identifier, "keyid:always"},
  };
  X509_NAME *name;
  X509 *cert;

  if (ca_cert == NULL || X509_check_private_key(ca_cert, ca_key) != 1) {
    owcp_error_set_ssl(err, "CA key does not match the CA certificate");
    return NULL;
  }
  if (check_account(account, err) != 0)
    return NULL;
  name = name_with_cn(client_id, err);
  if (name == NULL)
    return NULL;
  cert = cert_skeleton(name, X509_get_subject_name(ca_cert), client_pub, days,
                       err);
  X509_NAME_free(name);
  if (cert == NULL)
    return NULL;
  if (add_exts(cert, ca_cert, exts, sizeof exts / sizeof exts[0], err) != 0 ||
      add_account_san(cert, account, err) != 0 ||
      sign_cert(cert, ca_key, err) != 0) {
    X509_free(cert);
    return NULL;
  }
  return cert;
}

int owcp_cert_verify_chain(X509 *cert, X509 *ca_cert, struct owcp_error *err)
{
  X509_STORE *store = X509_STORE_new();
  X509_STORE_CTX *ctx = X509_STORE_CTX_new();
  int rc = -1;

  if (store == NULL || ctx == NULL ||
      X509_STORE_add_cert(store, ca_cert) != 1 ||
      X509_STORE_CTX_init(ctx, store, cert, NULL) != 1 ||
      X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_ANY) != 1) {
    owcp_error_set_ssl(err, "cannot set up certificate verification");
    goto out;
  }
  if (X509_verify_cert(ctx) != 1) {
    owcp_error_set(
        err, "certificate does not chain to the CA: %s",
        X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
    ERR_clear_error();
    goto out;
  }
  rc = 0;
out:
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  return rc;
}

int owcp_cert_get_account(X509 *cert, char *out, size_t out_size,
                          struct owcp_error *err)
{
  GENERAL_NAMES *names;
  const ASN1_IA5STRING *found = NULL;
  int i, count = 0, crit = 0;

  if (out_size > 0)
    out[0] = '\0';
  names = X509_get_ext_d2i(cert, NID_subject_alt_name, &crit, NULL);
  if (names == NULL) {
    ERR_clear_error();
    owcp_error_set(err, "certificate has no subjectAltName");
    return -1;
  }
  for (i = 0; i < sk_GENERAL_NAME_num(names); i++) {
    const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);

    if (gn->type == GEN_EMAIL) {
      found = gn->d.rfc822Name;
      count++;
    }
  }
  if (count != 1 || (size_t)ASN1_STRING_length(found) >= out_size ||
      memchr(ASN1_STRING_get0_data(found), '\0',
             (size_t)ASN1_STRING_length(found)) != NULL) {
    owcp_error_set(err,
                   "certificate must name exactly one account "
                   "(rfc822Name), found %d usable",
                   count);
    GENERAL_NAMES_free(names);
    return -1;
  }
  memcpy(out, ASN1_STRING_get0_data(found), (size_t)ASN1_STRING_length(found));
  out[ASN1_STRING_length(found)] = '\0';
  GENERAL_NAMES_free(names);
  return 0;
}
