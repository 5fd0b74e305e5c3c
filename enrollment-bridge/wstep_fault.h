/*
 * wstep_fault.h — the one table of the WSTEP front's SOAP faults (contract
 * §4 WSTEP, seed §3.1.4.1.3.7): for every error the front reports, the
 * HRESULT put in CertificateEnrollmentWSDetail/ErrorCode, whether
 * InvalidRequest is true (the request was denied, as opposed to failing),
 * whether the SOAP Code is s:Sender (the message was wrong) or s:Receiver
 * (the bridge, its policy or the user said no), and the Reason text the
 * client shows. docs/enrollment-bridge.md ("WSTEP", fault table) documents
 * the same rows for operators; a test walks them all.
 *
 * Every fault is sent with HTTP 500 and the Action
 * WSTEP_FAULT_ACTION (the one TameMyCerts and the CES emulators use).
 */
#ifndef OWCP_BRIDGE_WSTEP_FAULT_H
#define OWCP_BRIDGE_WSTEP_FAULT_H

#include <stdbool.h>
#include <stdint.h>

#define WSTEP_FAULT_ACTION                                                     \
  "http://schemas.microsoft.com/windows/pki/2009/01/enrollment/"               \
  "RequestSecurityTokenCertificateEnrollmentWSDetailFault"

enum wstep_fault {
  WSTEP_FAULT_MALFORMED,       /* not a SOAP 1.2 RST we can read (DOCTYPE,
                                  depth, not XML, wrong Content-Type) */
  WSTEP_FAULT_ACTION_UNKNOWN,  /* wsa:Action neither RST/wstep nor RST/KET */
  WSTEP_FAULT_REQUEST_TYPE,    /* RequestType missing, nil or unknown */
  WSTEP_FAULT_TOKEN_TYPE,      /* TokenType present and not X509v3 */
  WSTEP_FAULT_NO_TOKEN,        /* Issue without a BinarySecurityToken */
  WSTEP_FAULT_BAD_TOKEN,       /* token not base64 / not a PKCS#10 or CMS /
                                  bad signature / bad EncodingType */
  WSTEP_FAULT_NO_REQUEST_ID,   /* QueryTokenStatus: RequestID missing, nil,
                                  empty or not 1..2^31-1 */
  WSTEP_FAULT_NO_REQUEST_KET,  /* KET without RequestKET */
  WSTEP_FAULT_KET_UNAVAILABLE, /* KET while no ket_cert is configured */
  WSTEP_FAULT_AUTHENTICATION,  /* no accepted credentials, RADIUS Reject or
                                  Challenge, unmapped user, unknown account,
                                  renewal signature not acceptable */
  WSTEP_FAULT_TEMPLATE,        /* no template named, or not configured */
  WSTEP_FAULT_SUBJECT,         /* UPN SAN is not the mapped account */
  WSTEP_FAULT_KEY,             /* key type or size refused */
  WSTEP_FAULT_UNKNOWN_REQUEST, /* RequestID unknown or another account's */
  WSTEP_FAULT_REJECTED,        /* the user rejected (or the device refused) */
  WSTEP_FAULT_EXPIRED,         /* nobody answered in time, or withdrawn */
  WSTEP_FAULT_UNREACHABLE,     /* dispatcher or RADIUS not reachable */
  WSTEP_FAULT_INTERNAL,        /* database, CA or anything else of ours */
  WSTEP_FAULT_COUNT
};

struct wstep_fault_info {
  int32_t hresult;      /* ErrorCode, the HRESULT as a signed 32-bit int */
  bool invalid_request; /* InvalidRequest */
  bool sender;          /* s:Sender (else s:Receiver) */
  const char *name;     /* for logs and metrics, e.g. "template" */
  const char *reason;   /* Reason/Text (xml:lang en-US) */
};

/* The row of f (f < WSTEP_FAULT_COUNT). */
const struct wstep_fault_info *wstep_fault_info(enum wstep_fault f);

#endif
