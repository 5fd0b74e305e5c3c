/*
 * wstep_ket.c — WSTEP KET (seed §3.1.4.2.2.1): RequestKET required; the
 * answer (Action …/RSTR/KETFinal) carries [wstep] ket_cert as
 * KeyExchangeToken/BinarySecurityToken #X509v3. Without ket_cert the
 * bridge has no key exchange certificate and faults.
 */
#include <stdlib.h>

#include "owcp/service/log.h"
#include "wstep.h"

enum MHD_Result wstep_ket(struct svc_request *req, struct wstep_call *c)
{
  struct bridge *b = req->app_ctx;
  struct owcp_error err = {{0}};
  char *xml = NULL;
  size_t len = 0;
  if (!c->msg.has_request_ket)
    return wstep_fail(req, c, WSTEP_FAULT_NO_REQUEST_KET, 0, "no RequestKET");
  if (b->wstep->ket_der == NULL)
    return wstep_fail(req, c, WSTEP_FAULT_KET_UNAVAILABLE, 0,
                      "no ket_cert configured");
  if (wstep_reply_ket(&c->head, b->wstep->ket_der, b->wstep->ket_len, &xml,
                      &len, &err) != 0)
    return wstep_fail(req, c, WSTEP_FAULT_INTERNAL, 0, err.msg);
  wstep_count(b, "ket");
  return wstep_send(req, MHD_HTTP_OK, xml, len);
}
