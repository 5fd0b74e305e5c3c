/*
 * wstep.c — the WSTEP front's entry (wstep.h): loading the CA, reading the
 * message, the Action / RequestType dispatch, authentication and the
 * replies every operation shares. In order, stopping at the first failure:
 *   Content-Type application/soap+xml, a readable SOAP 1.2 envelope
 *   (no DOCTYPE, depth, size)                      -> MALFORMED
 *   Action RST/wstep (RequestType Issue or QueryTokenStatus) or RST/KET
 *   (RequestType KET)                              -> ACTION_UNKNOWN /
 *                                                     REQUEST_TYPE
 *   TokenType, when present, X509v3                -> TOKEN_TYPE
 *   authentication per [wstep] auth: a UsernameToken (PasswordText) whose
 *   user maps ([identity]) and passes RADIUS; or, without one, a TLS
 *   client certificate of ca_cert on record (wstep_cert.c) when auth
 *   lists certificate; or, when auth lists anonymous and no credentials
 *   came, anonymous (the operation checks the renewal signature)
 *                                                  -> AUTHENTICATION /
 *                                                     UNREACHABLE
 *   the operation (wstep_issue.c, wstep_query.c, wstep_ket.c).
 */
#include "wstep.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/pem.h>

#include "owcp/service/log.h"
#include "owcp/service/metrics.h"
#include "pkiresponse.h"

/* ---- start and stop ------------------------------------------------------
 */

static int load_ket(struct bridge *b, struct wstep_front *f,
                    struct owcp_error *err)
{
  const char *path = b->cfg.wstep.ket_cert;
  FILE *fp = fopen(path, "r");
  X509 *x = fp ? PEM_read_X509(fp, NULL, NULL, NULL) : NULL;
  unsigned char *der = NULL;
  int n = x ? i2d_X509(x, &der) : -1;
  if (fp != NULL)
    fclose(fp);
  X509_free(x);
  if (n <= 0 || (f->ket_der = malloc((size_t)n)) == NULL) {
    OPENSSL_free(der);
    bridge_config_error(&b->cfg, err, "wstep", "ket_cert", 0,
                        "cannot read a PEM certificate from %s", path);
    return -1;
  }
  memcpy(f->ket_der, der, (size_t)n);
  f->ket_len = (size_t)n;
  OPENSSL_free(der);
  return 0;
}

int wstep_front_new(struct bridge *b, struct owcp_error *err)
{
  struct owcp_error why = {{0}};
  if (!b->cfg.wstep_on)
    return 0;
  struct wstep_front *f = calloc(1, sizeof *f);
  size_t n = strlen(b->cfg.public_url) + strlen(b->cfg.wstep.path) + 1;
  if (f == NULL || (f->reference_uri = malloc(n)) == NULL) {
    free(f);
    owcp_error_set(err, "out of memory");
    return -1;
  }
  snprintf(f->reference_uri, n, "%s%s", b->cfg.public_url, b->cfg.wstep.path);
  b->wstep = f;
  if (ca_load(b->cfg.wstep.ca_cert, b->cfg.wstep.ca_key, &f->ca, &why) != 0) {
    bridge_config_error(&b->cfg, err, "wstep", "ca_cert", 0, "%s", why.msg);
    return -1;
  }
  if (b->cfg.wstep.ket_cert != NULL && load_ket(b, f, err) != 0)
    return -1;
  return 0;
}

void wstep_front_free(struct bridge *b)
{
  if (b->wstep == NULL)
    return;
  ca_free(&b->wstep->ca);
  free(b->wstep->ket_der);
  free(b->wstep->reference_uri);
  free(b->wstep);
  b->wstep = NULL;
}

/* ---- replies ---------------------------------------------------------------
 */

void wstep_count(struct bridge *b, const char *outcome)
{
  svc_metric_add(b->counters.requests, (const char *const[]){"wstep", outcome},
                 1);
}

enum MHD_Result wstep_send(struct svc_request *req, unsigned status, char *xml,
                           size_t len)
{
  return svc_http_reply(req, status, "application/soap+xml; charset=utf-8", xml,
                        len);
}

enum MHD_Result wstep_fail(struct svc_request *req, struct wstep_call *c,
                           enum wstep_fault f, int32_t request_id,
                           const char *why)
{
  struct owcp_error err = {{0}};
  char *xml = NULL;
  size_t len = 0;
  const struct wstep_fault_info *fi = wstep_fault_info(f);
  svc_log(SVC_LOG_INFO, "wstep.fault", "%s %s, RequestID %d: %s: %s",
          c->account[0] ? "account" : "request",
          c->account[0] ? c->account : "unauthenticated", (int)request_id,
          fi->name, why ? why : "");
  wstep_count(req->app_ctx, fi->name);
  if (wstep_reply_fault(&c->head, f, request_id, &xml, &len, &err) != 0) {
    svc_log(SVC_LOG_ERROR, "wstep", "%s", err.msg);
    return MHD_NO;
  }
  return wstep_send(req, MHD_HTTP_INTERNAL_SERVER_ERROR, xml, len);
}

enum MHD_Result wstep_issued(struct svc_request *req, struct wstep_call *c,
                             int32_t request_id, const unsigned char *der,
                             size_t der_len)
{
  struct bridge *b = req->app_ctx;
  struct owcp_error err = {{0}};
  const unsigned char *p = der;
  X509 *x = d2i_X509(NULL, &p, (long)der_len);
  unsigned char *pkcs7 = NULL;
  size_t pkcs7_len = 0;
  char *xml = NULL;
  size_t len = 0;
  int rc = x == NULL ? -1
                     : pkiresponse_sign(x, b->wstep->ca.cert, b->wstep->ca.key,
                                        &pkcs7, &pkcs7_len, &err);
  X509_free(x);
  if (rc == 0)
    rc = wstep_reply_issued(&c->head, request_id, pkcs7, pkcs7_len, der,
                            der_len, &xml, &len, &err);
  free(pkcs7);
  if (rc != 0)
    return wstep_fail(req, c, WSTEP_FAULT_INTERNAL, request_id,
                      err.msg[0] ? err.msg : "stored certificate unreadable");
  wstep_count(b, "issued");
  return wstep_send(req, MHD_HTTP_OK, xml, len);
}

enum MHD_Result wstep_pending(struct svc_request *req, struct wstep_call *c,
                              int32_t request_id)
{
  struct bridge *b = req->app_ctx;
  struct owcp_error err = {{0}};
  char *xml = NULL;
  size_t len = 0;
  if (wstep_reply_pending(&c->head, request_id, b->wstep->reference_uri, &xml,
                          &len, &err) != 0)
    return wstep_fail(req, c, WSTEP_FAULT_INTERNAL, request_id, err.msg);
  wstep_count(b, "pending");
  return wstep_send(req, MHD_HTTP_OK, xml, len);
}

/* ---- authentication --------------------------------------------------------
 */

static bool auth_lists(const struct bridge *b, const char *method)
{
  const struct svc_cfg_list *l = &b->cfg.wstep.auth;
  for (size_t i = 0; i < l->count; i++)
    if (strcmp(l->items[i], method) == 0)
      return true;
  return false;
}

/* RADIUS for the UsernameToken; WSTEP_FAULT_COUNT when accepted. */
static enum wstep_fault check_password(struct bridge *b, struct wstep_call *c,
                                       struct owcp_error *err)
{
  struct radius_result rr;
  memset(&rr, 0, sizeof rr);
  int rc =
      radius_pap(&b->mat.radius, c->msg.username, c->msg.password, &rr, err);
  const char *name = rc == 0 ? radius_outcome_name(rr.outcome) : "ERROR";
  svc_metric_add(b->counters.radius, (const char *const[]){name}, 1);
  if (rc == 0 && rr.diagnostics[0] != '\0')
    svc_log(SVC_LOG_WARN, "radius", "%s", rr.diagnostics);
  if (rc != 0)
    return WSTEP_FAULT_UNREACHABLE;
  if (rr.outcome == RADIUS_ACCEPT)
    return WSTEP_FAULT_COUNT;
  owcp_error_set(err, "RADIUS %s for %s", name, c->msg.username);
  return rr.outcome == RADIUS_NO_ANSWER ? WSTEP_FAULT_UNREACHABLE
                                        : WSTEP_FAULT_AUTHENTICATION;
}

/* No UsernameToken: the TLS client certificate when auth lists
 * certificate and one came (refused: no fallback to anonymous), else
 * anonymous when listed. WSTEP_FAULT_COUNT when accepted. */
static enum wstep_fault without_token(struct svc_request *req,
                                      struct wstep_call *c,
                                      struct owcp_error *err)
{
  struct bridge *b = req->app_ctx;
  enum wstep_cert_auth a = auth_lists(b, "certificate")
                               ? wstep_client_cert(req, c, err)
                               : WSTEP_CERT_NONE;
  if (a != WSTEP_CERT_NONE)
    return a == WSTEP_CERT_ACCEPTED ? WSTEP_FAULT_COUNT
                                    : WSTEP_FAULT_AUTHENTICATION;
  c->anonymous = auth_lists(b, "anonymous");
  if (!c->anonymous)
    owcp_error_set(err, "no accepted credentials (no UsernameToken, no "
                        "TLS client certificate, auth lists no anonymous)");
  return c->anonymous ? WSTEP_FAULT_COUNT : WSTEP_FAULT_AUTHENTICATION;
}

/* WSTEP_FAULT_COUNT when c is authenticated (or anonymous is allowed). */
static enum wstep_fault authenticate(struct svc_request *req,
                                     struct wstep_call *c,
                                     struct owcp_error *err)
{
  struct bridge *b = req->app_ctx;
  char *account = NULL;
  if (c->msg.username == NULL)
    return without_token(req, c, err);
  if (!auth_lists(b, "username") || !c->msg.password_text ||
      c->msg.password == NULL) {
    owcp_error_set(err, "UsernameToken refused (username authentication "
                        "not enabled, or the password is not PasswordText)");
    return WSTEP_FAULT_AUTHENTICATION;
  }
  if (idmap_map(&b->cfg.idmap, c->msg.username, &account, err) != 0)
    return WSTEP_FAULT_AUTHENTICATION;
  snprintf(c->account, sizeof c->account, "%s", account);
  free(account);
  enum wstep_fault f = check_password(b, c, err);
  OPENSSL_cleanse(c->msg.password, strlen(c->msg.password));
  if (f != WSTEP_FAULT_COUNT)
    c->account[0] = '\0';
  return f;
}

/* ---- dispatch --------------------------------------------------------------
 */

static bool same(const char *a, const char *b)
{
  return a != NULL && strcmp(a, b) == 0;
}

/* Which operation the Action and RequestType name; WSTEP_FAULT_COUNT when
 * one does (*op set). */
static enum wstep_fault operation(const struct wstep_msg *m, int *op)
{
  if (same(m->action, WSTEP_ACTION_RST)) {
    *op = same(m->request_type, WSTEP_TYPE_ISSUE)   ? 1
          : same(m->request_type, WSTEP_TYPE_QUERY) ? 2
                                                    : 0;
    return *op ? WSTEP_FAULT_COUNT : WSTEP_FAULT_REQUEST_TYPE;
  }
  if (same(m->action, WSTEP_ACTION_KET)) {
    *op = same(m->request_type, WSTEP_TYPE_KET) ? 3 : 0;
    return *op ? WSTEP_FAULT_COUNT : WSTEP_FAULT_REQUEST_TYPE;
  }
  return WSTEP_FAULT_ACTION_UNKNOWN;
}

static void call_free(void *arg)
{
  struct wstep_call *c = arg;
  wstep_msg_clear(&c->msg);
  free(c);
}

enum MHD_Result wstep_post(struct svc_request *req)
{
  struct bridge *b = req->app_ctx;
  struct owcp_error err = {{0}};
  struct wstep_call *c = calloc(1, sizeof *c);
  int op = 0;
  if (c == NULL)
    return MHD_NO;
  req->app = c;
  req->app_free = call_free;
  if (!svc_media_type_is(
          MHD_lookup_connection_value(req->con, MHD_HEADER_KIND,
                                      MHD_HTTP_HEADER_CONTENT_TYPE),
          "application/soap+xml"))
    return wstep_fail(req, c, WSTEP_FAULT_MALFORMED, 0,
                      "Content-Type must be application/soap+xml");
  if (wstep_msg_parse(req->body.data, req->body.len, (size_t)b->cfg.max_body,
                      &c->msg, &err) != OWCP_XML_OK)
    return wstep_fail(req, c, WSTEP_FAULT_MALFORMED, 0, err.msg);
  c->head.relates_to = c->msg.message_id;
  enum wstep_fault f = operation(&c->msg, &op);
  if (f != WSTEP_FAULT_COUNT)
    return wstep_fail(req, c, f, 0, c->msg.action ? c->msg.action : "none");
  if (c->msg.token_type != NULL && !same(c->msg.token_type, WSTEP_TOKEN_X509V3))
    return wstep_fail(req, c, WSTEP_FAULT_TOKEN_TYPE, 0, c->msg.token_type);
  if ((f = authenticate(req, c, &err)) != WSTEP_FAULT_COUNT)
    return wstep_fail(req, c, f, 0, err.msg);
  return op == 1   ? wstep_issue(req, c)
         : op == 2 ? wstep_query(req, c)
                   : wstep_ket(req, c);
}
