/* The built-in issuing CA; see ca.h for the certificate profile. */
#include "ca.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>

/* Serial length in bytes (the top bit cleared: positive, 127 bits). */
#define CA_SERIAL_BYTES 16
/* Backdating of notBefore against small clock differences. */
#define CA_BACKDATE_S 300

static const char *ssl_reason(void)
{
  const char *r = ERR_reason_error_string(ERR_peek_last_error());
  return r != NULL ? r : "no details";
}

static int read_pem(const char *path, X509 **cert, EVP_PKEY **key,
                    struct owcp_error *err)
{
  FILE *f = fopen(path, "r");
  if (f == NULL) {
    owcp_error_set(err, "cannot open %s", path);
    return -1;
  }
  if (cert != NULL)
    *cert = PEM_read_X509(f, NULL, NULL, NULL);
  else
    *key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
  fclose(f);
  if ((cert != NULL && *cert == NULL) || (key != NULL && *key == NULL)) {
    owcp_error_set(err, "%s holds no PEM %s (%s)", path,
                   cert ? "certificate" : "private key", ssl_reason());
    return -1;
  }
  return 0;
}

int ca_load(const char *cert_file, const char *key_file, struct ca *out,
            struct owcp_error *err)
{
  memset(out, 0, sizeof *out);
  if (read_pem(cert_file, &out->cert, NULL, err) != 0 ||
      read_pem(key_file, NULL, &out->key, err) != 0)
    goto fail;
  if (X509_check_private_key(out->cert, out->key) != 1) {
    owcp_error_set(err, "%s is not the key of %s", key_file, cert_file);
    goto fail;
  }
  if (X509_check_ca(out->cert) == 0 ||
      (X509_get_extension_flags(out->cert) & EXFLAG_KUSAGE &&
       !(X509_get_key_usage(out->cert) & KU_KEY_CERT_SIGN))) {
    owcp_error_set(err,
                   "%s is not a CA certificate (basicConstraints "
                   "CA:TRUE and keyCertSign needed)",
                   cert_file);
    goto fail;
  }
  return 0;
fail:
  ca_free(out);
  return -1;
}

void ca_free(struct ca *ca)
{
  X509_free(ca->cert);
  EVP_PKEY_free(ca->key);
  memset(ca, 0, sizeof *ca);
}

void ca_issued_free(struct ca_issued *c)
{
  X509_free(c->cert);
  free(c->der);
  free(c->subject);
  memset(c, 0, sizeof *c);
}

/* A random positive serial, and its canonical hex spelling. */
static int set_serial(X509 *x, char hex[CA_SERIAL_HEX_MAX],
                      struct owcp_error *err)
{
  unsigned char raw[CA_SERIAL_BYTES];
  BIGNUM *bn = NULL;
  char *h = NULL;
  int rc = -1;
  do {
    if (owcp_random_bytes(raw, sizeof raw) != 0)
      goto out;
    raw[0] &= 0x7f;
  } while (raw[0] == 0); /* keep 16 significant bytes: never zero */
  bn = BN_bin2bn(raw, sizeof raw, NULL);
  h = bn ? BN_bn2hex(bn) : NULL;
  ASN1_INTEGER *ai = bn ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
  if (h != NULL && ai != NULL && X509_set_serialNumber(x, ai) == 1) {
    const char *p = h;
    while (*p == '0' && p[1] != '\0')
      p++;
    snprintf(hex, CA_SERIAL_HEX_MAX, "%s", p);
    rc = 0;
  }
  ASN1_INTEGER_free(ai);
out:
  if (rc != 0)
    owcp_error_set_ssl(err, "cannot make a serial number");
  OPENSSL_free(h);
  BN_free(bn);
  return rc;
}

/* OpenSSL's spelling of the EKU names the configuration allows. */
static char *eku_value(const char *names)
{
  static const char from[] = "smartcardLogon";
  size_t n = strlen(names);
  char *out = malloc(2 * n + 16);
  if (out == NULL)
    return NULL;
  char *w = out;
  for (const char *p = names; *p != '\0';) {
    if (strncmp(p, from, sizeof from - 1) == 0) {
      w += sprintf(w, "msSmartcardLogin");
      p += sizeof from - 1;
    } else {
      *w++ = *p++;
    }
  }
  *w = '\0';
  return out;
}

static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value,
                   struct owcp_error *err)
{
  X509_EXTENSION *e = X509V3_EXT_nconf_nid(NULL, ctx, nid, value);
  int ok = e != NULL && X509_add_ext(x, e, -1) == 1;
  X509_EXTENSION_free(e);
  if (!ok)
    owcp_error_set_ssl(err, "cannot add extension %s = %s", OBJ_nid2sn(nid),
                       value);
  return ok ? 0 : -1;
}

static int add_extensions(const struct ca *ca, const struct ca_profile *p,
                          X509 *x, const GENERAL_NAMES *sans,
                          struct owcp_error *err)
{
  X509V3_CTX ctx;
  char ku[256];
  X509V3_set_ctx(&ctx, ca->cert, x, NULL, NULL, 0);
  snprintf(ku, sizeof ku, "critical, %s", p->key_usage);
  char *eku = eku_value(p->extended_key_usage);
  int rc = eku == NULL ? -1 : 0;
  if (rc == 0)
    rc = add_ext(x, &ctx, NID_basic_constraints, "critical, CA:FALSE", err);
  if (rc == 0 && p->key_usage[0] != '\0')
    rc = add_ext(x, &ctx, NID_key_usage, ku, err);
  if (rc == 0 && p->extended_key_usage[0] != '\0')
    rc = add_ext(x, &ctx, NID_ext_key_usage, eku, err);
  if (rc == 0)
    rc = add_ext(x, &ctx, NID_subject_key_identifier, "hash", err);
  if (rc == 0)
    rc = add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always", err);
  if (rc == 0 && sans != NULL && sk_GENERAL_NAME_num(sans) > 0 &&
      X509_add1_ext_i2d(x, NID_subject_alt_name, (void *)sans, 0,
                        X509V3_ADD_DEFAULT) != 1) {
    owcp_error_set_ssl(err, "cannot add the subject alternative names");
    rc = -1;
  }
  free(eku);
  return rc;
}

static int set_validity(X509 *x, int days, struct ca_issued *out,
                        struct owcp_error *err)
{
  time_t now = time(NULL);
  out->not_before = now - CA_BACKDATE_S;
  out->not_after = now + (time_t)days * 86400;
  if (X509_time_adj_ex(X509_getm_notBefore(x), 0, -CA_BACKDATE_S, &now) ==
          NULL ||
      X509_time_adj_ex(X509_getm_notAfter(x), days, 0, &now) == NULL) {
    owcp_error_set_ssl(err, "cannot set the validity");
    return -1;
  }
  return 0;
}

static int finish(X509 *x, struct ca_issued *out, struct owcp_error *err)
{
  unsigned char *der = NULL;
  int n = i2d_X509(x, &der);
  BIO *b = BIO_new(BIO_s_mem());
  char *text = NULL;
  long tl = 0;
  if (n > 0 && b != NULL &&
      X509_NAME_print_ex(b, X509_get_subject_name(x), 0,
                         XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0)
    tl = BIO_get_mem_data(b, &text);
  out->der = n > 0 ? malloc((size_t)n) : NULL;
  out->subject = text != NULL ? strndup(text, (size_t)tl) : NULL;
  BIO_free(b);
  if (out->der == NULL || out->subject == NULL) {
    OPENSSL_free(der);
    owcp_error_set_ssl(err, "cannot encode the certificate");
    return -1;
  }
  memcpy(out->der, der, (size_t)n);
  out->der_len = (size_t)n;
  OPENSSL_free(der);
  out->cert = x;
  return 0;
}

int ca_issue(const struct ca *ca, const struct ca_profile *p, EVP_PKEY *pubkey,
             const X509_NAME *subject, const GENERAL_NAMES *sans,
             struct ca_issued *out, struct owcp_error *err)
{
  memset(out, 0, sizeof *out);
  X509 *x = X509_new();
  if (x == NULL || X509_set_version(x, X509_VERSION_3) != 1 ||
      X509_set_issuer_name(x, X509_get_subject_name(ca->cert)) != 1 ||
      X509_set_subject_name(x, subject) != 1 ||
      X509_set_pubkey(x, pubkey) != 1) {
    owcp_error_set_ssl(err, "cannot build the certificate");
    goto fail;
  }
  if (set_serial(x, out->serial, err) != 0 ||
      set_validity(x, p->validity_days, out, err) != 0 ||
      add_extensions(ca, p, x, sans, err) != 0)
    goto fail;
  if (X509_sign(x, ca->key, EVP_sha256()) <= 0) {
    owcp_error_set_ssl(err, "cannot sign the certificate");
    goto fail;
  }
  if (finish(x, out, err) == 0)
    return 0;
fail:
  X509_free(x);
  ca_issued_free(out);
  return -1;
}
