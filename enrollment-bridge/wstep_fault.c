/* The WSTEP fault table; see wstep_fault.h and docs/enrollment-bridge.md. */
#include "wstep_fault.h"

/* HRESULTs (winerror.h), as the signed ints ErrorCode carries. */
#define HR(x) ((int32_t)(x))
#define E_FAIL_ HR(0x80004005u)
#define E_ACCESSDENIED_ HR(0x80070005u)
#define E_INVALIDARG_ HR(0x80070057u)
#define E_NOT_SUPPORTED_ HR(0x80070032u) /* ERROR_NOT_SUPPORTED */
#define E_TIMEOUT_ HR(0x800705B4u)       /* ERROR_TIMEOUT */
#define E_UNAVAILABLE_ HR(0x800706BAu)   /* RPC_S_SERVER_UNAVAILABLE */
#define NTE_BAD_DATA_ HR(0x80090005u)    /* the token */
#define CERTSRV_E_BAD_REQUESTSUBJECT_ HR(0x80094001u)
#define CERTSRV_E_PROPERTY_EMPTY_ HR(0x80094004u) /* no such request */
#define CERTSRV_E_TEMPLATE_DENIED_ HR(0x80094012u)
#define CERTSRV_E_ADMIN_DENIED_REQUEST_ HR(0x80094014u)
#define CERTSRV_E_KEY_LENGTH_ HR(0x80094811u)

static const struct wstep_fault_info table[WSTEP_FAULT_COUNT] = {
    [WSTEP_FAULT_MALFORMED] = {E_INVALIDARG_, false, true, "malformed",
                               "The request is not a readable SOAP 1.2 "
                               "RequestSecurityToken message."},
    [WSTEP_FAULT_ACTION_UNKNOWN] = {E_NOT_SUPPORTED_, false, true, "action",
                                    "The WS-Addressing Action is not "
                                    "supported."},
    [WSTEP_FAULT_REQUEST_TYPE] = {E_NOT_SUPPORTED_, false, true, "request_type",
                                  "The RequestType is missing or not "
                                  "supported."},
    [WSTEP_FAULT_TOKEN_TYPE] = {E_NOT_SUPPORTED_, false, true, "token_type",
                                "The TokenType is not X509v3."},
    [WSTEP_FAULT_NO_TOKEN] = {E_INVALIDARG_, false, true, "no_token",
                              "The request carries no BinarySecurityToken."},
    [WSTEP_FAULT_BAD_TOKEN] = {NTE_BAD_DATA_, false, true, "bad_token",
                               "The BinarySecurityToken is not a valid "
                               "certificate request."},
    [WSTEP_FAULT_NO_REQUEST_ID] = {E_INVALIDARG_, false, true, "no_request_id",
                                   "QueryTokenStatus needs a RequestID."},
    [WSTEP_FAULT_NO_REQUEST_KET] = {E_INVALIDARG_, false, true,
                                    "no_request_ket",
                                    "A KET request needs RequestKET."},
    [WSTEP_FAULT_KET_UNAVAILABLE] = {E_NOT_SUPPORTED_, false, false,
                                     "ket_unavailable",
                                     "No key exchange certificate is "
                                     "configured."},
    [WSTEP_FAULT_AUTHENTICATION] = {E_ACCESSDENIED_, false, true,
                                    "authentication", "Authentication failed."},
    [WSTEP_FAULT_TEMPLATE] = {CERTSRV_E_TEMPLATE_DENIED_, true, false,
                              "template",
                              "The request names no certificate template "
                              "this server issues."},
    [WSTEP_FAULT_SUBJECT] = {CERTSRV_E_BAD_REQUESTSUBJECT_, true, false,
                             "subject",
                             "The requested subject or UPN is not the "
                             "authenticated user's."},
    [WSTEP_FAULT_KEY] = {CERTSRV_E_KEY_LENGTH_, true, false, "key",
                         "The public key type or size is not allowed."},
    [WSTEP_FAULT_UNKNOWN_REQUEST] = {CERTSRV_E_PROPERTY_EMPTY_, false, false,
                                     "unknown_request", "No such request."},
    [WSTEP_FAULT_REJECTED] = {CERTSRV_E_ADMIN_DENIED_REQUEST_, true, false,
                              "rejected",
                              "The request was denied by the user."},
    [WSTEP_FAULT_EXPIRED] = {E_TIMEOUT_, true, false, "expired",
                             "The request was not confirmed in time."},
    [WSTEP_FAULT_UNREACHABLE] = {E_UNAVAILABLE_, false, false, "unreachable",
                                 "The confirmation service is not "
                                 "reachable; try again later."},
    [WSTEP_FAULT_INTERNAL] = {E_FAIL_, false, false, "internal",
                              "The server could not process the request."},
};

const struct wstep_fault_info *wstep_fault_info(enum wstep_fault f)
{
  return &table[f < WSTEP_FAULT_COUNT ? f : WSTEP_FAULT_INTERNAL];
}
