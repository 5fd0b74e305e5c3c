/*
 * ca_get.c — GET {base}/CA (binding §§4, 6): the PEM bundle anyone needs to
 * verify receipts (the client CA) and DR-Complete signatures (the
 * dispatcher's signing certificate). Public by design; no authentication.
 */
#include "ops.h"

#include <string.h>

enum MHD_Result ca_get(struct request *r)
{
  const char *pem = r->d->keys.pem_bundle;

  if (pem == NULL || pem[0] == '\0')
    return http_reply_error(r, OWCP_UNAVAILABLE,
                            "The certificate bundle is not loaded yet.");
  return http_reply_raw(r, OWCP_OK, "application/x-pem-file", pem, strlen(pem));
}
