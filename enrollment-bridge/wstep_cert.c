/*
 * wstep_cert.c — the certificates of the bridge's own CA as credentials
 * (wstep.h): the TLS client certificate of `[wstep] auth = certificate`,
 * and the account a certificate on record belongs to (shared with the
 * anonymous renewal of wstep_issue.c).
 *
 * The service layer hands over the peer's certificate unverified (GnuTLS
 * only asked for it), so it is judged here with OpenSSL: issued directly
 * by ca_cert and not the CA itself, valid now, fit for TLS client use
 * (clientAuth when it has an EKU), and on record in the certificates
 * table — there is no CRL, and a certificate the table does not know
 * (lost, or forged with a stolen key) is not one the bridge issued.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/x509_vfy.h>

#include "owcp/service/log.h"
#include "wstep.h"

int wstep_cert_account(struct bridge *b, const X509 *cert,
                       char account[BRIDGE_STORE_ACCOUNT_MAX],
                       struct owcp_error *err)
{
  struct bridge_store *st = NULL;
  bool found = false;
  BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
  char *hex = bn ? BN_bn2hex(bn) : NULL;
  const char *serial = hex;
  /* The table's spelling: upper-case hex without leading zeros. */
  while (serial != NULL && *serial == '0' && serial[1] != '\0')
    serial++;
  int rc = -1;
  if (serial == NULL)
    owcp_error_set(err, "out of memory");
  else
    rc = bridge_store_acquire(b->pool, WSTEP_DB_WAIT_MS, &st, err);
  if (rc == 0)
    rc = bridge_store_cert_owner(st, serial, account, &found, err);
  bridge_store_release(b->pool, st);
  if (rc == 0 && !found) {
    owcp_error_set(err, "certificate %s is not on record", serial);
    rc = -1;
  }
  OPENSSL_free(hex);
  BN_free(bn);
  return rc;
}

/* 0 when leaf is a TLS client certificate issued by ca and valid now. */
static int verify_client(X509 *ca, X509 *leaf, struct owcp_error *err)
{
  X509_STORE *store = X509_STORE_new();
  X509_STORE_CTX *ctx = X509_STORE_CTX_new();
  int ok = store != NULL && ctx != NULL &&
           X509_STORE_add_cert(store, ca) == 1 &&
           X509_STORE_CTX_init(ctx, store, leaf, NULL) == 1 &&
           X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT) == 1;
  /* The CA's own certificate is no client's; only its direct issues are. */
  if (ok && (X509_cmp(ca, leaf) == 0 || X509_check_issued(ca, leaf) != 0)) {
    owcp_error_set(err, "the client certificate was not issued by the "
                        "bridge's CA");
    ok = 0;
  } else if (ok && X509_verify_cert(ctx) != 1) {
    owcp_error_set(
        err, "the client certificate is not acceptable: %s",
        X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
    ok = 0;
  } else if (!ok) {
    owcp_error_set_ssl(err, "cannot verify the client certificate");
  }
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  return ok ? 0 : -1;
}

enum wstep_cert_auth wstep_client_cert(struct svc_request *req,
                                       struct wstep_call *c,
                                       struct owcp_error *err)
{
  struct bridge *b = req->app_ctx;
  X509 *peer = svc_http_peer_cert(req);
  if (peer == NULL)
    return WSTEP_CERT_NONE;
  int rc = verify_client(b->wstep->ca.cert, peer, err);
  if (rc == 0)
    rc = wstep_cert_account(b, peer, c->account, err);
  if (rc == 0) {
    char subject[256];
    X509_NAME_oneline(X509_get_subject_name(peer), subject, sizeof subject);
    svc_log(SVC_LOG_DEBUG, "wstep.auth", "%s: TLS client certificate %s",
            c->account, subject);
  } else {
    c->account[0] = '\0';
  }
  X509_free(peer);
  return rc == 0 ? WSTEP_CERT_ACCEPTED : WSTEP_CERT_REFUSED;
}
