/*
 * cd_register.c — CD-Register (spec §5): a new client joins an account and
 * receives its identifier, bearer token and certificate. Three ways in:
 * a one-time enrollment code, the approval of the account's existing
 * clients (a confirmation request they answer like any other; the first
 * ask is cd_approval.c), or open self-subscription for an account that
 * never existed.
 *
 * Nothing is signed before the call is authorized: the code is checked,
 * or the approval found accepted with the right number, before the
 * certificate is issued; the store then decides again, atomically, when
 * it stores the client (so a lost race only drops an unused certificate).
 *
 * Secrets: the token is returned exactly once and only its SHA-256 reaches
 * the store; the enrollment code is hashed before the store sees it.
 * Neither is ever logged.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cd_register.h"
#include "owcp/ca.h"

/* Client certificates live about as long as a device does; 825 days is
 * the familiar CA/Browser-Forum bound and well under OWCP_CERT_MAX_DAYS. */
#define CD_CLIENT_CERT_DAYS 825

const struct owcp_param_spec cd_register_params[] = {
    OWCP_PARAM_ACCOUNT("Account", struct cd_register_in, account,
                       OWCP_REQUIRED),
    OWCP_PARAM_STRING("Description", struct cd_register_in, description,
                      OWCP_REQUIRED, OPS_DESCRIPTION_MAX),
    OWCP_PARAM_BASE64("CSR", struct cd_register_in, csr, csr_len, OWCP_REQUIRED,
                      OPS_CSR_MAX),
    OWCP_PARAM_STRING("Code", struct cd_register_in, code, OWCP_OPTIONAL,
                      OPS_CODE_MAX),
    OWCP_PARAM_STRING("Transaction", struct cd_register_in, transaction,
                      OWCP_OPTIONAL, OPS_ID_MAX),
    OWCP_PARAM_END};

/* The client about to be created. `token` is the bearer secret: returned
 * once in the 200 reply and wiped on release; `row` is what the store
 * receives (its pointers borrow from this struct and from the request). */
struct new_client {
  char *id;
  char *token;
  unsigned char *cert_der;
  size_t cert_len;
  struct store_new_client row;
};

/* ---- Description ---------------------------------------------------------
 */

/* True at a UTF-8 bidirectional embedding/override/isolate control
 * (U+202A–U+202E, U+2066–U+2069): they can make the description shown to
 * the approving user read differently from what was sent. */
static bool is_bidi_control(const unsigned char *p, size_t left)
{
  if (left < 3 || p[0] != 0xE2)
    return false;
  if (p[1] == 0x80 && p[2] >= 0xAA && p[2] <= 0xAE)
    return true;
  return p[1] == 0x81 && p[2] >= 0xA6 && p[2] <= 0xA9;
}

/* The description is shown to the user's other devices inside the
 * approval request, so it must be visible text: not empty or blank, no
 * control characters (XML 1.0 cannot carry most of them) and no bidi
 * controls. jansson already guarantees valid UTF-8. */
static int description_check(const char *desc, struct owcp_error *err)
{
  const unsigned char *p = (const unsigned char *)desc;
  size_t len = strlen(desc);
  bool visible = false;

  for (size_t i = 0; i < len; i++) {
    if (p[i] < 0x20 || p[i] == 0x7F) {
      owcp_error_set(err,
                     "parameter 'Description' contains a control character "
                     "at offset %zu",
                     i);
      return -1;
    }
    if (is_bidi_control(p + i, len - i)) {
      owcp_error_set(err,
                     "parameter 'Description' contains a bidirectional "
                     "text control character at offset %zu",
                     i);
      return -1;
    }
    if (p[i] != ' ')
      visible = true;
  }
  if (!visible) {
    owcp_error_set(err, "parameter 'Description' must not be empty or blank");
    return -1;
  }
  return 0;
}

enum MHD_Result cd_reply_fields(struct request *r, int status, json_t *fields)
{
  if (fields == NULL)
    return http_reply_error(r, 500, "out of memory building the reply");
  return http_reply(r, status, fields);
}

/* ---- the new client --------------------------------------------------------
 */

/* Releases what new_client_make() allocated, wiping the token first. */
static void new_client_clear(struct new_client *nc)
{
  if (nc->token != NULL)
    OPENSSL_cleanse(nc->token, strlen(nc->token));
  free(nc->token);
  free(nc->id);
  free(nc->cert_der);
  memset(nc, 0, sizeof *nc);
}

/* A fresh identifier, token and certificate for g's key. Called only once
 * the code or approval was found valid (or the account free, on an open
 * service); the store decides again when it writes the client in the same
 * database transaction that consumes the code or approval, and when it
 * then refuses (a concurrent use won), the unused certificate is dropped. */
static int new_client_make(const struct reg *g, struct new_client *nc,
                           struct owcp_error *err)
{
  struct dispatcher *d = g->r->d;
  X509 *cert;
  int rc;

  memset(nc, 0, sizeof *nc);
  nc->id = owcp_random_id();
  nc->token = owcp_random_id();
  if (nc->id == NULL || nc->token == NULL) {
    owcp_error_set(err, "could not generate a client identifier or token");
    new_client_clear(nc);
    return -1;
  }
  cert = owcp_ca_issue_client(d->keys.ca_cert, d->keys.ca_key, g->pub, nc->id,
                              g->in->account, CD_CLIENT_CERT_DAYS, err);
  if (cert == NULL) {
    new_client_clear(nc);
    return -1;
  }
  rc = owcp_cert_to_der(cert, &nc->cert_der, &nc->cert_len, err);
  X509_free(cert);
  if (rc != 0) {
    new_client_clear(nc);
    return -1;
  }
  nc->row.account = g->in->account;
  nc->row.client_id = nc->id;
  nc->row.description = g->in->description;
  owcp_sha256(nc->token, strlen(nc->token), nc->row.token_hash);
  nc->row.cert_der = nc->cert_der;
  nc->row.cert_len = nc->cert_len;
  nc->row.now = 0;
  return 0;
}

/* The 200 reply: the only place the token ever leaves the dispatcher. */
static enum MHD_Result reply_new_client(struct request *r,
                                        const struct new_client *nc)
{
  char *cert_b64 = owcp_base64_encode(nc->cert_der, nc->cert_len);
  char *ca_b64 = owcp_base64_encode(r->d->keys.ca_der, r->d->keys.ca_der_len);
  json_t *fields = NULL;

  if (cert_b64 != NULL && ca_b64 != NULL)
    fields = json_pack("{s:s, s:s, s:s, s:s}", "Client", nc->id, "Token",
                       nc->token, "Certificate", cert_b64, "CA", ca_b64);
  free(cert_b64);
  free(ca_b64);
  return cd_reply_fields(r, 200, fields);
}

/* Runs one of the store's client-creating calls for a freshly made client
 * and answers 200 with it, or hands the store's status to `refused`. */
typedef int (*create_fn)(const struct reg *g, const struct store_new_client *c,
                         int *status, struct owcp_error *err);
typedef enum MHD_Result (*refused_fn)(const struct reg *g, int status);

static enum MHD_Result create_client(const struct reg *g, create_fn create,
                                     refused_fn refused)
{
  struct owcp_error err = {{0}};
  struct new_client nc;
  enum MHD_Result ret;
  int status = 0, rc;

  if (new_client_make(g, &nc, &err) != 0)
    return http_reply_error(g->r, 500, "could not issue the client: %s",
                            err.msg);
  rc = create(g, &nc.row, &status, &err);
  if (rc != 0)
    ret = http_reply_store_error(g->r, rc, &err);
  else if (status == 200)
    ret = reply_new_client(g->r, &nc);
  else
    ret = refused(g, status);
  new_client_clear(&nc);
  return ret;
}

/* Answers a store status this file has no specific sentence for. */
static enum MHD_Result unexpected_status(const struct reg *g, int status)
{
  return http_reply_error(g->r, 500,
                          "the store answered an unexpected status %d to "
                          "CD-Register",
                          status);
}

/* ---- (a) one-time enrollment code ------------------------------------------
 */

static int create_by_code(const struct reg *g, const struct store_new_client *c,
                          int *status, struct owcp_error *err)
{
  unsigned char code_hash[OWCP_SHA256_LEN];

  owcp_sha256(g->in->code, strlen(g->in->code), code_hash);
  return store_cd_register_code(g->r->st, c, code_hash, status, err);
}

static enum MHD_Result code_refused(const struct reg *g, int status)
{
  if (status == 401)
    return http_reply_error(g->r, 401,
                            "parameter 'Code' is not a valid enrollment code "
                            "for account '%s' (unknown, used or expired)",
                            g->in->account);
  return unexpected_status(g, status);
}

/* Counted per address (code guessing), checked, then issued. */
static enum MHD_Result register_by_code(const struct reg *g)
{
  struct owcp_error err = {{0}};
  unsigned char code_hash[OWCP_SHA256_LEN];
  enum MHD_Result ret;
  int status = 0, rc;

  if (!cd_register_rate_ok(g, &ret))
    return ret;
  owcp_sha256(g->in->code, strlen(g->in->code), code_hash);
  rc = store_cd_code_check(g->r->st, g->in->account, code_hash, 0, &status,
                           &err);
  if (rc != 0)
    return http_reply_store_error(g->r, rc, &err);
  if (status != 200)
    return code_refused(g, status);
  return create_client(g, create_by_code, code_refused);
}

/* ---- (b) repeat after approval ---------------------------------------------
 */

static int create_by_approval(const struct reg *g,
                              const struct store_new_client *c, int *status,
                              struct owcp_error *err)
{
  return store_cd_approval_finish(g->r->st, g->in->transaction, g->csr_sha256,
                                  c, status, err);
}

/* Why a repeated CD-Register did not yield a client. The store issues a
 * client for an approval at most once (409 afterwards), so the token made
 * for a call that ends here is dropped and never reaches anyone. */
static enum MHD_Result approval_refused(const struct reg *g, int status)
{
  struct request *r = g->r;
  const char *tx = g->in->transaction;

  switch (status) {
  case 202:
    return cd_reply_fields(r, 202, json_pack("{s:s}", "Transaction", tx));
  case 403:
    return http_reply_error(r, 403,
                            "the registration request in transaction '%s' "
                            "was rejected by the account's clients (or "
                            "accepted with a number other than the one "
                            "this device showed)",
                            tx);
  case 404:
    return http_reply_error(r, 404,
                            "parameter 'Transaction': no registration request "
                            "'%s' for this account and CSR",
                            tx);
  case 408:
    return http_reply_error(r, 408,
                            "the registration request in transaction '%s' "
                            "expired or was cancelled",
                            tx);
  case 409:
    return http_reply_error(r, 409,
                            "a client was already issued for transaction "
                            "'%s'",
                            tx);
  default:
    return unexpected_status(g, status);
  }
}

/* Repeat with Transaction: where the approval stands, and only once it was
 * accepted with the right number a certificate. Not counted per address:
 * it creates nothing, and the new device polls it. */
static enum MHD_Result register_repeat(const struct reg *g)
{
  struct owcp_error err = {{0}};
  int status = 0, rc;

  rc = store_cd_approval_check(g->r->st, g->in->transaction, g->csr_sha256,
                               g->in->account, g->in->description, 0, &status,
                               &err);
  if (rc != 0)
    return http_reply_store_error(g->r, rc, &err);
  if (status != 200)
    return approval_refused(g, status);
  return create_client(g, create_by_approval, approval_refused);
}

/* ---- (c) open self-subscription ------------------------------------------
 */

static int create_open(const struct reg *g, const struct store_new_client *c,
                       int *status, struct owcp_error *err)
{
  return store_cd_register_open(g->r->st, c, status, err);
}

static enum MHD_Result open_refused(const struct reg *g, int status)
{
  /* Only when the account was created between the ask and now. */
  if (status == 403)
    return http_reply_error(g->r, 403,
                            "account '%s' was created meanwhile; register "
                            "again",
                            g->in->account);
  return unexpected_status(g, status);
}

enum MHD_Result cd_register_open(const struct reg *g)
{
  return create_client(g, create_open, open_refused);
}

/* ---- the operation ---------------------------------------------------------
 */

/* Checks that do not need the database, cheapest first; fills g->pub and
 * g->csr_sha256. Returns false having replied. */
static bool register_precheck(struct reg *g, enum MHD_Result *ret)
{
  struct request *r = g->r;
  const struct cd_register_in *in = g->in;
  struct owcp_error err = {{0}};

  if (in->code != NULL && in->transaction != NULL) {
    *ret = http_reply_error(r, 400,
                            "parameters 'Code' and 'Transaction' "
                            "are mutually exclusive");
    return false;
  }
  if (description_check(in->description, &err) != 0) {
    *ret = http_reply_error(r, 400, "%s", err.msg);
    return false;
  }
  if (!dispatcher_serves_account(r->d, in->account)) {
    *ret = http_reply_error(r, 404,
                            "parameter 'Account': '%s' is not in a domain "
                            "this dispatcher serves",
                            in->account);
    return false;
  }
  g->pub = owcp_csr_verify(in->csr, in->csr_len, &err);
  if (g->pub == NULL) {
    *ret = http_reply_error(r, 400, "parameter 'CSR' is refused: %s", err.msg);
    return false;
  }
  owcp_sha256(in->csr, in->csr_len, g->csr_sha256);
  return true;
}

enum MHD_Result cd_register(struct request *r)
{
  struct reg g = {.r = r, .in = r->in};
  enum MHD_Result ret;

  if (!register_precheck(&g, &ret))
    return ret;
  if (g.in->code != NULL)
    ret = register_by_code(&g);
  else if (g.in->transaction != NULL)
    ret = register_repeat(&g);
  else
    ret = cd_approval_ask(&g);
  EVP_PKEY_free(g.pub);
  return ret;
}
