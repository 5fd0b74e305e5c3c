/*
 * receipt.c — signed receipts (spec §6): JSON content, CMS SignedData
 * creation, strict verification and matching. See owcp/receipt.h.
 */
#include "owcp/receipt.h"
#include "owcp/keys.h"
#include "receipt_internal.h"

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Member names, in the order the content is written. */
static const char *const members[] = {
    "Transaction", "Account", "Client", "Response", "Verification",
    "Request",     "Signed",  "Reason", "Match",
};

/* Members a receipt may leave out. */
static bool is_optional(const char *key)
{
  return strcmp(key, "Reason") == 0 || strcmp(key, "Match") == 0;
}

void owcp_receipt_free(struct owcp_receipt *r)
{
  size_t i;

  if (r == NULL)
    return;
  free(r->transaction);
  free(r->account);
  free(r->client);
  free(r->response);
  for (i = 0; i < r->verification_count; i++)
    free(r->verification[i]);
  free(r->verification);
  free(r->request);
  free(r->signed_at);
  free(r->reason);
  free(r->match);
  free(r);
}

static int check_text(const char *value, const char *field,
                      struct owcp_error *err)
{
  if (value == NULL || value[0] == '\0') {
    owcp_error_set(err, "receipt field '%s' is missing or empty", field);
    return -1;
  }
  return 0;
}

static int check_response_and_reason(const struct owcp_receipt *r,
                                     struct owcp_error *err)
{
  bool refuse;

  if (check_text(r->response, "Response", err) != 0)
    return -1;
  refuse = strcmp(r->response, "Refuse") == 0;
  if (!refuse && strcmp(r->response, "Accept") != 0 &&
      strcmp(r->response, "Reject") != 0) {
    owcp_error_set(err,
                   "receipt field 'Response' must be Accept, Reject or "
                   "Refuse, not '%.40s'",
                   r->response);
    return -1;
  }
  if (refuse && (r->reason == NULL || r->reason[0] == '\0')) {
    owcp_error_set(err, "receipt field 'Reason' is required for Refuse");
    return -1;
  }
  if (!refuse && r->reason != NULL) {
    owcp_error_set(err, "receipt field 'Reason' is allowed only for Refuse");
    return -1;
  }
  return 0;
}

int owcp_receipt_check(const struct owcp_receipt *r, struct owcp_error *err)
{
  time_t t;
  size_t i;

  if (r == NULL) {
    owcp_error_set(err, "no receipt given");
    return -1;
  }
  if (check_text(r->transaction, "Transaction", err) != 0 ||
      check_text(r->account, "Account", err) != 0 ||
      check_text(r->client, "Client", err) != 0 ||
      check_response_and_reason(r, err) != 0)
    return -1;
  if (r->verification_count > 0 && r->verification == NULL) {
    owcp_error_set(err, "receipt field 'Verification' is missing");
    return -1;
  }
  for (i = 0; i < r->verification_count; i++) {
    if (r->verification[i] == NULL || r->verification[i][0] == '\0') {
      owcp_error_set(err, "receipt field 'Verification' item %zu is empty", i);
      return -1;
    }
  }
  if (r->request == NULL || r->request_len == 0 ||
      memchr(r->request, '\0', r->request_len) != NULL) {
    owcp_error_set(err, "receipt field 'Request' is missing, empty or "
                        "contains NUL");
    return -1;
  }
  if (r->match != NULL &&
      !(r->match[0] >= '0' && r->match[0] <= '9' && r->match[1] >= '0' &&
        r->match[1] <= '9' && r->match[2] == '\0')) {
    owcp_error_set(err, "receipt field 'Match' must be exactly two digits");
    return -1;
  }
  if (r->signed_at != NULL && owcp_time_parse(r->signed_at, &t, err) != 0) {
    char inner[OWCP_ERROR_MAX];

    snprintf(inner, sizeof inner, "%s", err != NULL ? err->msg : "");
    owcp_error_set(err, "receipt field 'Signed': %s", inner);
    return -1;
  }
  return 0;
}

/* Sets obj[key] = value, taking value; NULL value means invalid UTF-8 (or
 * no memory) in that field. */
static int put(json_t *obj, const char *key, json_t *value,
               struct owcp_error *err)
{
  if (value == NULL || json_object_set_new(obj, key, value) != 0) {
    owcp_error_set(err, "receipt field '%s' is not valid UTF-8", key);
    return -1;
  }
  return 0;
}

static json_t *verification_array(const struct owcp_receipt *r,
                                  struct owcp_error *err)
{
  json_t *arr = json_array();
  size_t i;

  if (arr == NULL) {
    owcp_error_set(err, "out of memory");
    return NULL;
  }
  for (i = 0; i < r->verification_count; i++) {
    if (json_array_append_new(arr, json_string(r->verification[i])) != 0) {
      owcp_error_set(err,
                     "receipt field 'Verification' item %zu is not valid "
                     "UTF-8",
                     i);
      json_decref(arr);
      return NULL;
    }
  }
  return arr;
}

/* The inner "Receipt" object, members in spec order. */
static json_t *receipt_object(const struct owcp_receipt *r,
                              const char *signed_at, struct owcp_error *err)
{
  json_t *obj = json_object(), *arr;

  if (obj == NULL) {
    owcp_error_set(err, "out of memory");
    return NULL;
  }
  if (put(obj, "Transaction", json_string(r->transaction), err) != 0 ||
      put(obj, "Account", json_string(r->account), err) != 0 ||
      put(obj, "Client", json_string(r->client), err) != 0 ||
      put(obj, "Response", json_string(r->response), err) != 0)
    goto fail;
  arr = verification_array(r, err);
  if (arr == NULL || json_object_set_new(obj, "Verification", arr) != 0)
    goto fail;
  if (put(obj, "Request", json_stringn(r->request, r->request_len), err) != 0 ||
      put(obj, "Signed", json_string(signed_at), err) != 0)
    goto fail;
  if (r->reason != NULL && put(obj, "Reason", json_string(r->reason), err))
    goto fail;
  if (r->match != NULL && put(obj, "Match", json_string(r->match), err))
    goto fail;
  return obj;
fail:
  json_decref(obj);
  return NULL;
}

int owcp_receipt_content(const struct owcp_receipt *r, char **json,
                         size_t *json_len, struct owcp_error *err)
{
  char now[OWCP_TIME_LEN];
  json_t *root = NULL, *inner;
  char *text;

  *json = NULL;
  *json_len = 0;
  if (owcp_receipt_check(r, err) != 0)
    return -1;
  owcp_time_format(time(NULL), now);
  inner = receipt_object(r, r->signed_at != NULL ? r->signed_at : now, err);
  if (inner == NULL)
    return -1;
  root = json_object();
  if (root == NULL || json_object_set_new(root, "Receipt", inner) != 0) {
    json_decref(root);
    owcp_error_set(err, "out of memory");
    return -1;
  }
  /* Member order is insertion order (jansson >= 2.8); compact, UTF-8. */
  text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(root);
  if (text == NULL) {
    owcp_error_set(err, "cannot serialise the receipt content");
    return -1;
  }
  *json = text;
  *json_len = strlen(text);
  return 0;
}

int owcp_receipt_create(const struct owcp_receipt *r, X509 *cert, EVP_PKEY *key,
                        unsigned char **der, size_t *der_len,
                        struct owcp_error *err)
{
  unsigned char *buf = NULL;
  CMS_ContentInfo *cms = NULL;
  char *json = NULL;
  size_t json_len = 0;
  BIO *in = NULL;
  int len, rc = -1;

  *der = NULL;
  *der_len = 0;
  if (cert == NULL || owcp_key_check_p256(key, err) != 0)
    return -1;
  if (X509_check_private_key(cert, key) != 1) {
    owcp_error_set_ssl(err, "client key does not match its certificate");
    return -1;
  }
  if (owcp_receipt_content(r, &json, &json_len, err) != 0)
    return -1;
  in = BIO_new_mem_buf(json, (int)json_len);
  cms = CMS_sign(NULL, NULL, NULL, NULL, CMS_PARTIAL | CMS_BINARY);
  if (in == NULL || cms == NULL ||
      CMS_add1_signer(cms, cert, key, EVP_sha256(),
                      CMS_BINARY | CMS_NOSMIMECAP) == NULL ||
      CMS_final(cms, in, NULL, CMS_BINARY) != 1) {
    owcp_error_set_ssl(err, "cannot sign the receipt");
    goto out;
  }
  len = i2d_CMS_ContentInfo(cms, &buf);
  if (len <= 0 || (*der = malloc((size_t)len)) == NULL) {
    owcp_error_set_ssl(err, "cannot encode the receipt");
    goto out;
  }
  memcpy(*der, buf, (size_t)len);
  *der_len = (size_t)len;
  rc = 0;
out:
  OPENSSL_free(buf);
  CMS_ContentInfo_free(cms);
  BIO_free(in);
  free(json);
  return rc;
}

void receipt_parsed_free(struct receipt_parsed *p)
{
  X509_free(p->signer);
  CMS_ContentInfo_free(p->cms);
}

int receipt_check_size(const unsigned char *der, size_t len,
                       struct owcp_error *err)
{
  if (der == NULL || len == 0) {
    owcp_error_set(err, "receipt is empty");
    return -1;
  }
  if (len > OWCP_RECEIPT_MAX_DER) {
    owcp_error_set(err, "receipt is %zu bytes, more than the %zu allowed", len,
                   OWCP_RECEIPT_MAX_DER);
    return -1;
  }
  return 0;
}

int receipt_check_end(const unsigned char *der, size_t len,
                      const unsigned char *end, struct owcp_error *err)
{
  if (end != der + len) {
    owcp_error_set(err, "receipt has %zu trailing bytes at offset %td",
                   (size_t)(der + len - end), end - der);
    return -1;
  }
  return 0;
}

static int parse_der(const unsigned char *der, size_t len,
                     struct receipt_parsed *p, struct owcp_error *err)
{
  const unsigned char *q = der;

  if (receipt_check_size(der, len, err) != 0)
    return -1;
  p->cms = d2i_CMS_ContentInfo(NULL, &q, (long)len);
  if (p->cms == NULL) {
    owcp_error_set_ssl(err, "receipt is not DER CMS");
    return -1;
  }
  return receipt_check_end(der, len, q, err);
}

int receipt_check_shape(struct receipt_parsed *p, struct owcp_error *err)
{
  STACK_OF(CMS_SignerInfo) * sis;
  ASN1_OCTET_STRING **content;
  X509_ALGOR *digest = NULL;
  const ASN1_OBJECT *digest_oid = NULL;

  if (OBJ_obj2nid(CMS_get0_type(p->cms)) != NID_pkcs7_signed) {
    owcp_error_set(err, "receipt is not CMS SignedData");
    return -1;
  }
  if (OBJ_obj2nid(CMS_get0_eContentType(p->cms)) != NID_pkcs7_data) {
    owcp_error_set(err, "receipt content type is not id-data");
    return -1;
  }
  content = CMS_get0_content(p->cms);
  if (content == NULL || *content == NULL) {
    owcp_error_set(err, "receipt content is detached; it must be attached");
    return -1;
  }
  sis = CMS_get0_SignerInfos(p->cms);
  if (sis == NULL || sk_CMS_SignerInfo_num(sis) != 1) {
    owcp_error_set(err, "receipt must have exactly one signer, not %d",
                   sis == NULL ? 0 : sk_CMS_SignerInfo_num(sis));
    return -1;
  }
  p->si = sk_CMS_SignerInfo_value(sis, 0);
  CMS_SignerInfo_get0_algs(p->si, NULL, NULL, &digest, NULL);
  if (digest != NULL)
    X509_ALGOR_get0(&digest_oid, NULL, NULL, digest);
  if (OBJ_obj2nid(digest_oid) != NID_sha256) {
    owcp_error_set(err, "receipt signer digest is not SHA-256");
    return -1;
  }
  if (CMS_signed_get_attr_by_NID(p->si, NID_pkcs9_signingTime, -1) < 0) {
    owcp_error_set(err, "receipt signer has no signingTime attribute");
    return -1;
  }
  return 0;
}

/* Finds the included certificate that the signer identifier names. */
static int find_signer_cert(struct receipt_parsed *p, struct owcp_error *err)
{
  STACK_OF(X509) *certs = CMS_get1_certs(p->cms);
  int i;

  for (i = 0; certs != NULL && i < sk_X509_num(certs); i++) {
    X509 *c = sk_X509_value(certs, i);

    if (CMS_SignerInfo_cert_cmp(p->si, c) == 0) {
      if (X509_up_ref(c) == 1)
        p->signer = c;
      break;
    }
  }
  sk_X509_pop_free(certs, X509_free);
  if (p->signer == NULL) {
    owcp_error_set(err, "receipt does not include the signer's certificate");
    return -1;
  }
  return 0;
}

int receipt_check_not_ca(X509 *signer, struct owcp_error *err)
{
  if (X509_check_ca(signer) != 0) {
    owcp_error_set(err, "receipt signer certificate is a CA certificate, not "
                        "a client certificate");
    return -1;
  }
  return 0;
}

static int same_cert(X509 *a, X509 *b, struct owcp_error *err)
{
  unsigned char *da = NULL, *db = NULL;
  size_t la = 0, lb = 0;
  int same;

  if (owcp_cert_to_der(a, &da, &la, err) != 0 ||
      owcp_cert_to_der(b, &db, &lb, err) != 0) {
    free(da);
    return -1;
  }
  same = la == lb && memcmp(da, db, la) == 0;
  free(da);
  free(db);
  if (!same) {
    owcp_error_set(err, "receipt signer certificate is not the expected "
                        "client certificate");
    return -1;
  }
  return 0;
}

/* Parse + shape + signer certificate (the CA-chained verifier). */
static int open_receipt(const unsigned char *der, size_t len,
                        struct receipt_parsed *p, struct owcp_error *err)
{
  memset(p, 0, sizeof *p);
  if (parse_der(der, len, p, err) != 0 || receipt_check_shape(p, err) != 0 ||
      find_signer_cert(p, err) != 0) {
    receipt_parsed_free(p);
    memset(p, 0, sizeof *p);
    ERR_clear_error();
    return -1;
  }
  return 0;
}

/* Copies a JSON string member known to exist and be a string. */
static char *dup_member(const json_t *obj, const char *key)
{
  return strdup(json_string_value(json_object_get(obj, key)));
}

static bool is_member(const char *key)
{
  size_t i;

  for (i = 0; i < sizeof members / sizeof members[0]; i++)
    if (strcmp(key, members[i]) == 0)
      return true;
  return false;
}

/* Member types: every listed member is present (except Reason) and has the
 * right type, and no other member exists. */
static int check_members(const json_t *obj, struct owcp_error *err)
{
  const char *key;
  json_t *value;
  size_t i;

  json_object_foreach((json_t *)obj, key, value)
  {
    if (!is_member(key)) {
      owcp_error_set(err, "receipt content has unknown member '%.40s'", key);
      return -1;
    }
  }
  for (i = 0; i < sizeof members / sizeof members[0]; i++) {
    const json_t *v = json_object_get(obj, members[i]);
    bool want_array = strcmp(members[i], "Verification") == 0;

    if (v == NULL && is_optional(members[i]))
      continue;
    if (v == NULL) {
      owcp_error_set(err, "receipt content lacks member '%s'", members[i]);
      return -1;
    }
    if (want_array ? !json_is_array(v) : !json_is_string(v)) {
      owcp_error_set(err, "receipt member '%s' must be %s", members[i],
                     want_array ? "an array of strings" : "a string");
      return -1;
    }
  }
  json_array_foreach(json_object_get(obj, "Verification"), i, value)
  {
    if (!json_is_string(value)) {
      owcp_error_set(err,
                     "receipt member 'Verification' item %zu is not a "
                     "string",
                     i);
      return -1;
    }
  }
  return 0;
}

static struct owcp_receipt *receipt_from_json(const json_t *obj,
                                              struct owcp_error *err)
{
  struct owcp_receipt *r = calloc(1, sizeof *r);
  const json_t *ver = json_object_get(obj, "Verification");
  const json_t *req = json_object_get(obj, "Request");
  size_t i, n = json_array_size(ver);
  bool oom;

  if (r == NULL)
    goto oom;
  r->transaction = dup_member(obj, "Transaction");
  r->account = dup_member(obj, "Account");
  r->client = dup_member(obj, "Client");
  r->response = dup_member(obj, "Response");
  r->signed_at = dup_member(obj, "Signed");
  if (json_object_get(obj, "Reason") != NULL)
    r->reason = dup_member(obj, "Reason");
  if (json_object_get(obj, "Match") != NULL)
    r->match = dup_member(obj, "Match");
  r->request_len = json_string_length(req);
  r->request = malloc(r->request_len + 1);
  if (r->request != NULL) {
    memcpy(r->request, json_string_value(req), r->request_len);
    r->request[r->request_len] = '\0';
  }
  r->verification = calloc(n + 1, sizeof *r->verification);
  oom = r->transaction == NULL || r->account == NULL || r->client == NULL ||
        r->response == NULL || r->signed_at == NULL || r->request == NULL ||
        r->verification == NULL ||
        (json_object_get(obj, "Reason") != NULL && r->reason == NULL) ||
        (json_object_get(obj, "Match") != NULL && r->match == NULL);
  for (i = 0; !oom && i < n; i++) {
    r->verification[i] = strdup(json_string_value(json_array_get(ver, i)));
    r->verification_count = i + 1;
    oom = r->verification[i] == NULL;
  }
  if (oom)
    goto oom;
  return r;
oom:
  owcp_receipt_free(r);
  owcp_error_set(err, "out of memory parsing the receipt");
  return NULL;
}

/* Strict parse of the signed content into a new receipt. */
static struct owcp_receipt *parse_content(const char *text, size_t len,
                                          struct owcp_error *err)
{
  struct owcp_receipt *r = NULL;
  json_error_t jerr;
  json_t *root, *inner;

  root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
  if (root == NULL) {
    owcp_error_set(err, "receipt content is not valid JSON at offset %d: %s",
                   jerr.position, jerr.text);
    return NULL;
  }
  inner = json_object_get(root, "Receipt");
  if (!json_is_object(root) || json_object_size(root) != 1 ||
      !json_is_object(inner)) {
    owcp_error_set(err, "receipt content must be an object with exactly "
                        "one member, the object \"Receipt\"");
    goto out;
  }
  if (check_members(inner, err) != 0)
    goto out;
  r = receipt_from_json(inner, err);
  if (r != NULL && owcp_receipt_check(r, err) != 0) {
    owcp_receipt_free(r);
    r = NULL;
  }
out:
  json_decref(root);
  return r;
}

int receipt_content_to_receipt(BIO *content, struct owcp_receipt **out,
                               struct owcp_error *err)
{
  char *data = NULL;
  long len = BIO_get_mem_data(content, &data);

  if (len <= 0 || data == NULL) {
    owcp_error_set(err, "receipt content is empty");
    return -1;
  }
  *out = parse_content(data, (size_t)len, err);
  return *out != NULL ? 0 : -1;
}

int owcp_receipt_verify(const unsigned char *der, size_t der_len, X509 *ca_cert,
                        X509 *expected_signer, struct owcp_receipt **out,
                        struct owcp_error *err)
{
  struct receipt_parsed p;
  X509_STORE *store = NULL;
  BIO *content = NULL;
  int rc = -1;

  *out = NULL;
  if (ca_cert == NULL) {
    owcp_error_set(err, "no CA certificate to verify the receipt against");
    return -1;
  }
  if (open_receipt(der, der_len, &p, err) != 0)
    return -1;
  if (receipt_check_not_ca(p.signer, err) != 0 ||
      (expected_signer != NULL && same_cert(p.signer, expected_signer, err)))
    goto out;
  store = X509_STORE_new();
  content = BIO_new(BIO_s_mem());
  if (store == NULL || content == NULL ||
      X509_STORE_add_cert(store, ca_cert) != 1 ||
      X509_STORE_set_purpose(store, X509_PURPOSE_ANY) != 1) {
    owcp_error_set_ssl(err, "cannot set up receipt verification");
    goto out;
  }
  /* certs = NULL: the signer certificate can only come from the CMS. */
  if (CMS_verify(p.cms, NULL, store, NULL, content, CMS_BINARY) != 1) {
    owcp_error_set_ssl(err, "receipt signature or signer certificate does "
                            "not verify against the client CA");
    goto out;
  }
  rc = receipt_content_to_receipt(content, out, err);
out:
  BIO_free(content);
  X509_STORE_free(store);
  receipt_parsed_free(&p);
  ERR_clear_error();
  return rc;
}

int receipt_verify_content_digest(struct receipt_parsed *p, BIO *content,
                                  struct owcp_error *err)
{
  BIO *cmsbio = CMS_dataInit(p->cms, NULL);
  char buf[4096];
  int n, ok;

  if (cmsbio == NULL) {
    owcp_error_set_ssl(err, "cannot read the receipt content");
    return -1;
  }
  while ((n = BIO_read(cmsbio, buf, sizeof buf)) > 0) {
    if (BIO_write(content, buf, n) != n) {
      BIO_free_all(cmsbio);
      owcp_error_set_ssl(err, "out of memory reading the receipt content");
      return -1;
    }
  }
  ok = CMS_SignerInfo_verify_content(p->si, cmsbio) == 1;
  BIO_free_all(cmsbio);
  if (!ok) {
    owcp_error_set_ssl(err, "receipt content does not match its signature");
    return -1;
  }
  return 0;
}

static int match_field(const char *got, const char *want, const char *field,
                       struct owcp_error *err)
{
  if (want == NULL || got == NULL || strcmp(got, want) != 0) {
    owcp_error_set(err, "receipt field '%s' does not match the transaction",
                   field);
    return -1;
  }
  return 0;
}

int owcp_receipt_matches(const struct owcp_receipt *r, const char *transaction,
                         const char *account, const char *client,
                         const char *response, const char *request,
                         size_t request_len, struct owcp_error *err)
{
  if (r == NULL) {
    owcp_error_set(err, "no receipt given");
    return -1;
  }
  if (match_field(r->transaction, transaction, "Transaction", err) != 0 ||
      match_field(r->account, account, "Account", err) != 0 ||
      match_field(r->client, client, "Client", err) != 0 ||
      match_field(r->response, response, "Response", err) != 0)
    return -1;
  if (request == NULL || r->request_len != request_len ||
      memcmp(r->request, request, request_len) != 0) {
    owcp_error_set(err, "receipt field 'Request' differs from the stored "
                        "request");
    return -1;
  }
  return 0;
}
