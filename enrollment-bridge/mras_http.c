/*
 * mras_http.c — POST {[mras] http_path}: the MRAS body over HTTPS
 * (contract §4 MRAS). HTTP Basic is checked against the HA1 of
 * `digest_users_file` (MD5(user:realm:password), constant time) → 401
 * with `WWW-Authenticate: Basic` otherwise; a Content-Type other than the
 * MRAS one → 415 with Accept; then mras_serve(): HTTP 200 for OK, the
 * seed's SIP code otherwise (486 Server Busy → 503), the MRAS
 * Content-Type. The operation waits on this worker thread (at most
 * MRAS_WAIT_S).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "mras_internal.h"
#include "owcp/service/log.h"

static enum MHD_Result reply(struct svc_request *req, unsigned status,
                             const char *ct, char *body, size_t len,
                             const char *hname, const char *hvalue)
{
  struct MHD_Response *resp = MHD_create_response_from_buffer(
      len, body ? body : (void *)"",
      body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
  if (resp == NULL) {
    free(body);
    return MHD_NO;
  }
  if (ct != NULL)
    (void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ct);
  if (hname != NULL)
    (void)MHD_add_response_header(resp, hname, hvalue);
  (void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
                                "no-store");
  enum MHD_Result ret = svc_http_queue(req, status, resp, len);
  MHD_destroy_response(resp);
  return ret;
}

/* The Basic user when the password's HA1 matches (caller frees), or NULL. */
static char *basic_user(struct svc_request *req, const struct bridge *b)
{
  char *password = NULL;
  char *user = MHD_basic_auth_get_username_password(req->con, &password);
  char *out = NULL;
  if (user != NULL && password != NULL) {
    char ha1[DIGEST_HEX_LEN + 1];
    const char *want =
        digest_users_ha1(mras_front_users(b->mras), user, b->cfg.mras.realm);
    digest_ha1(user, b->cfg.mras.realm, password, ha1);
    if (want != NULL && owcp_ct_streq(ha1, want))
      out = strdup(user);
    OPENSSL_cleanse(ha1, sizeof ha1);
  }
  if (password != NULL) {
    OPENSSL_cleanse(password, strlen(password));
    MHD_free(password);
  }
  if (user != NULL)
    MHD_free(user);
  return out;
}

enum MHD_Result mras_http(struct svc_request *req)
{
  struct bridge *b = req->app_ctx;
  char challenge[256];
  char *user = basic_user(req, b);
  if (user == NULL) {
    snprintf(challenge, sizeof challenge, "Basic realm=\"%s\"",
             b->cfg.mras.realm);
    return reply(req, MHD_HTTP_UNAUTHORIZED, NULL, NULL, 0,
                 MHD_HTTP_HEADER_WWW_AUTHENTICATE, challenge);
  }
  if (!svc_media_type_is(
          MHD_lookup_connection_value(req->con, MHD_HEADER_KIND,
                                      MHD_HTTP_HEADER_CONTENT_TYPE),
          MRAS_CONTENT_TYPE)) {
    free(user);
    return reply(req, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, NULL, NULL, 0,
                 MHD_HTTP_HEADER_ACCEPT, MRAS_CONTENT_TYPE);
  }
  char *xml = NULL;
  size_t len = 0;
  enum mras_reason r =
      mras_serve(b, user, "HTTP", req->body.data, req->body.len, &xml, &len);
  free(user);
  if (xml == NULL)
    return reply(req, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, NULL, 0, NULL,
                 NULL);
  unsigned status = mras_reason_sip_status(r);
  if (status == 486)
    status = MHD_HTTP_SERVICE_UNAVAILABLE;
  return reply(req, status, MRAS_CONTENT_TYPE, xml, len, NULL, NULL);
}
