/*
 * cd_register.c — CD-Register (spec §5): a new client joins an account and
 * receives its identifier, bearer token and certificate. Three ways in:
 * a one-time enrollment code, the approval of the account's existing
 * clients (a confirmation request they answer like any other), or open
 * self-subscription for an account that never existed.
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

#include "ops.h"
#include "owcp/ca.h"
#include "owcp/keys.h"
#include "owcp/request.h"
#include "owcp/request_write.h"

/* Client certificates live about as long as a device does; 825 days is
 * the familiar CA/Browser-Forum bound and well under OWCP_CERT_MAX_DAYS. */
#define CD_CLIENT_CERT_DAYS 825

/* Used when the operator configured no registration timeout. */
#define CD_APPROVAL_TIMEOUT_DEFAULT 300

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

/* Everything one CD-Register call works with, so the paths below take one
 * argument besides the request. */
struct reg {
  struct request *r;
  const struct cd_register_in *in;
  EVP_PKEY *pub; /* the verified CSR's public key */
  unsigned char csr_sha256[OWCP_SHA256_LEN];
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

/* http_reply() for a json_pack() result, which is NULL only when memory
 * ran out: a success reply must never go out without its fields. */
static enum MHD_Result reply_fields(struct request *r, int status,
                                    json_t *fields)
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

/* A fresh identifier, token and certificate for g's key. The certificate
 * is issued before the store decides, because the store writes the client
 * in the same database transaction that consumes the code or approval;
 * when the store then refuses, the unused certificate is simply dropped. */
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
  return reply_fields(r, 200, fields);
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
    return reply_fields(r, 202, json_pack("{s:s}", "Transaction", tx));
  case 403:
    return http_reply_error(r, 403,
                            "the registration request in transaction '%s' "
                            "was rejected by the account's clients",
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

/* ---- (c) open self-subscription ------------------------------------------
 */

static int create_open(const struct reg *g, const struct store_new_client *c,
                       int *status, struct owcp_error *err)
{
  return store_cd_register_open(g->r->st, c, status, err);
}

static enum MHD_Result open_refused(const struct reg *g, int status)
{
  if (status == 403)
    return http_reply_error(g->r, 403,
                            "account '%s' already exists (or was disabled) "
                            "and has no active client to approve a new "
                            "device; an enrollment code (parameter 'Code') "
                            "is required",
                            g->in->account);
  return unexpected_status(g, status);
}

/* ---- (c) approval request --------------------------------------------------
 */

/* The "Register a new device …?" request sent to the account's clients,
 * written by core's Request writer so that whatever the description
 * contains is escaped, never pasted into markup. *xml is malloc()ed
 * (caller frees). */
static int approval_xml(const struct reg *g, const char *tx, char **xml,
                        size_t *len, struct owcp_error *err)
{
  char summary[OPS_DESCRIPTION_MAX + STORE_ADDRESS_MAX + 64];
  char identifier[STORE_ID_MAX + 32];

  if ((size_t)snprintf(summary, sizeof summary,
                       "Register a new device \u201c%s\u201d for %s?",
                       g->in->description, g->in->account) >= sizeof summary ||
      (size_t)snprintf(identifier, sizeof identifier,
                       "urn:owcp:registration:%s", tx) >= sizeof identifier) {
    owcp_error_set(err, "the registration request text is too long");
    return -1;
  }
  return owcp_request_write_simple(g->r->d->system_address, g->in->account,
                                   "Registration", identifier, summary, NULL,
                                   NULL, true, xml, len, err);
}

/* Runs the generated request through the same validator as a requestor's
 * RD-Confirm, so clients are never sent anything a requestor could not
 * send. Returns 0, or the HTTP status to answer with err set; an invalid
 * result can only come from the description. */
static int approval_validate(const struct reg *g, const char *xml, size_t len,
                             struct owcp_error *err)
{
  struct owcp_error why = {{0}};
  struct owcp_request *req = NULL;
  enum owcp_xml_result xr;

  xr = owcp_request_parse(g->r->d->xml, xml, len, &req, &why);
  owcp_request_free(req);
  switch (xr) {
  case OWCP_XML_OK:
    return 0;
  case OWCP_XML_INVALID:
    owcp_error_set(err,
                   "parameter 'Description' cannot be shown in a "
                   "confirmation request: %s",
                   why.msg);
    return 400;
  case OWCP_XML_TOO_LARGE:
    owcp_error_set(err,
                   "parameter 'Description' makes the registration request "
                   "too large: %s",
                   why.msg);
    return 413;
  default:
    owcp_error_set(err, "could not validate the registration request: %s",
                   why.msg);
    return 500;
  }
}

/* Seconds the account's clients have to approve. */
static int approval_timeout(const struct dispatcher *d)
{
  if (d->cfg.registration_timeout > 0)
    return d->cfg.registration_timeout;
  if (d->cfg.default_timeout > 0)
    return d->cfg.default_timeout;
  return CD_APPROVAL_TIMEOUT_DEFAULT;
}

/* What to do when no approval could be started: an open service creates a
 * never-seen account; otherwise the caller needs an enrollment code. */
static enum MHD_Result approval_unavailable(const struct reg *g, int status)
{
  struct request *r = g->r;

  if (r->d->cfg.open)
    return create_client(g, create_open, open_refused);
  /* Closed service (spec §3: 403). Unknown accounts and accounts without a
   * client get the same answer, so the reply does not reveal which
   * accounts exist. */
  (void)status;
  return http_reply_error(r, 403,
                          "this service is closed: account '%s' can only "
                          "register a client with an enrollment code "
                          "(parameter 'Code') or an existing client's "
                          "approval",
                          g->in->account);
}

/* Stores the approval request and answers 202 with its transaction. */
static enum MHD_Result approval_start(const struct reg *g, const char *tx,
                                      const char *xml)
{
  struct request *r = g->r;
  struct owcp_error err = {{0}};
  struct store_approval_in in = {0};
  struct store_confirm_out out;
  char expires[OWCP_TIME_LEN];
  int rc;

  in.account = g->in->account;
  in.description = g->in->description;
  memcpy(in.csr_sha256, g->csr_sha256, OWCP_SHA256_LEN);
  in.transaction = tx;
  in.request_xml = xml;
  in.system_address = r->d->system_address;
  in.timeout_seconds = approval_timeout(r->d);
  in.now = 0;
  rc = store_cd_approval_start(r->st, &in, &out, &err);
  if (rc != 0)
    return http_reply_store_error(r, rc, &err);
  if (out.status == 403 || out.status == 404)
    return approval_unavailable(g, out.status);
  if (out.status != 202)
    return unexpected_status(g, out.status);
  owcp_time_format(out.expires, expires);
  return reply_fields(r, 202,
                      json_pack("{s:s, s:s}", "Transaction", out.transaction,
                                "Expires", expires));
}

/* First call without a code: ask the account's clients to approve. */
static enum MHD_Result register_by_approval(const struct reg *g)
{
  struct owcp_error err = {{0}};
  enum MHD_Result ret;
  char *tx = owcp_random_id();
  char *xml = NULL;
  size_t len = 0;
  int status;

  if (tx == NULL)
    return http_reply_error(g->r, 500, "could not generate a transaction id");
  if (approval_xml(g, tx, &xml, &len, &err) != 0)
    ret = http_reply_error(g->r, 500, "%s", err.msg);
  else if ((status = approval_validate(g, xml, len, &err)) != 0)
    ret = http_reply_error(g->r, status, "%s", err.msg);
  else
    ret = approval_start(g, tx, xml);
  free(xml);
  free(tx);
  return ret;
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
    ret = create_client(&g, create_by_code, code_refused);
  else if (g.in->transaction != NULL)
    ret = create_client(&g, create_by_approval, approval_refused);
  else
    ret = register_by_approval(&g);
  EVP_PKEY_free(g.pub);
  return ret;
}
