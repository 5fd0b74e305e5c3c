/*
 * http_peer.c — the TLS client certificate of a request (http.h,
 * svc_http_peer_cert). libmicrohttpd runs on GnuTLS and hands out the
 * connection's session; GnuTLS keeps the peer's certificates as DER, which
 * OpenSSL reads. Kept apart from http.c so that only this file knows
 * GnuTLS.
 */
#include <stdint.h>

#include <gnutls/gnutls.h>

#include "owcp/service/http.h"

X509 *svc_http_peer_cert(const struct svc_request *req)
{
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(req->con, MHD_CONNECTION_INFO_GNUTLS_SESSION);
  unsigned int n = 0;

  if (ci == NULL || ci->tls_session == NULL)
    return NULL;
  /* The list GnuTLS keeps for the session: leaf first, not ours to free. */
  const gnutls_datum_t *peers =
      gnutls_certificate_get_peers((gnutls_session_t)ci->tls_session, &n);
  if (peers == NULL || n == 0 || peers[0].size > (unsigned)INT32_MAX)
    return NULL;
  const unsigned char *p = peers[0].data;
  X509 *x = d2i_X509(NULL, &p, (long)peers[0].size);
  /* Bytes after the certificate: not one certificate, refuse it. */
  if (x != NULL && p != peers[0].data + peers[0].size) {
    X509_free(x);
    x = NULL;
  }
  return x;
}
