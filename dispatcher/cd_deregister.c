/*
 * cd_deregister.c — CD-Deregister (spec §5): a client removes itself. Its
 * token stops working with the same database transaction (authentication
 * looks up active clients only; the token caches of every dispatcher
 * process are flushed by the NOTIFY it sends, authcache.h); receipts it
 * signed stay valid evidence.
 * Revoking other clients is an administrator's job (owcp-admin client
 * revoke), never a client's.
 */
#include <string.h>

#include "authcache.h"
#include "ops.h"

const struct owcp_param_spec cd_deregister_params[] = {
    OWCP_PARAM_STRING("Client", struct cd_deregister_in, client, OWCP_REQUIRED,
                      OPS_ID_MAX),
    OWCP_PARAM_END};

enum MHD_Result cd_deregister(struct request *r)
{
  const struct cd_deregister_in *in = r->in;
  struct owcp_error err = {{0}};
  int status = 0, rc;

  /* Another client, even of the same account, is answered exactly like an
   * unknown one (spec §3: "also for one the caller may not see"), so a
   * client cannot probe which identifiers exist. */
  if (strcmp(in->client, r->client.id) != 0)
    return http_reply_error(r, 404,
                            "parameter 'Client': no such client (a client "
                            "may deregister only itself)");
  rc = store_client_revoke(r->st, r->client.id, "self", &status, &err);
  if (rc != 0)
    return http_reply_store_error(r, rc, &err);
  if (status == 200) {
    /* This process refuses the token from now on, before the NOTIFY of
     * the change (which flushes every process) has come back. */
    authcache_flush(r->d->auth);
    return http_reply(r, 200, NULL);
  }
  if (status == 404)
    return http_reply_error(r, 404,
                            "parameter 'Client': client '%s' is unknown or "
                            "already deregistered",
                            r->client.id);
  return http_reply_error(r, 500,
                          "the store answered an unexpected status %d to "
                          "CD-Deregister",
                          status);
}
