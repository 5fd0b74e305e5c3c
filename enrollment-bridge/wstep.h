/*
 * wstep.h — the WSTEP front (MS-WSTEP, contract §4 WSTEP): POST {[wstep]
 * path} with a SOAP 1.2 RequestSecurityToken. wstep.c reads the message,
 * dispatches on the WS-Addressing Action and the RequestType, and
 * authenticates; one file per operation does the rest:
 *   wstep_issue.c  Issue: payload, renewal, checks, then Issued at once
 *                  (confirm = off or a cached approval) or a confirmation
 *                  and "Taken Under Submission" with a RequestID;
 *   wstep_query.c  QueryTokenStatus: asks the dispatcher how the
 *                  confirmation ended (RD-Status, no waiting) and answers
 *                  Issued, pending or a fault;
 *   wstep_ket.c    KET: the configured ket_cert.
 * Nothing waits for the user on a worker thread: Issue answers pending at
 * once and the client polls, so a WSTEP request is never suspended.
 * Every failure is a SOAP fault of wstep_fault.h's table with HTTP 500.
 */
#ifndef OWCP_BRIDGE_WSTEP_H
#define OWCP_BRIDGE_WSTEP_H

#include <stdint.h>

#include "ca.h"
#include "context.h"
#include "owcp/service/http.h"
#include "store.h"
#include "wstep_fault.h"
#include "wstep_soap.h"

#define WSTEP_DB_WAIT_MS 2000

/* What the front loads at start ([wstep] ca_cert, ca_key, ket_cert). */
struct wstep_front {
  struct ca ca;
  unsigned char *ket_der; /* NULL when no ket_cert */
  size_t ket_len;
  char *reference_uri; /* public_url + path */
};

/* Loads b->wstep when [wstep] is enabled (else leaves it NULL). 0, or -1
 * with err naming the key. */
int wstep_front_new(struct bridge *b, struct owcp_error *err);

/* Releases b->wstep; NULL is fine. */
void wstep_front_free(struct bridge *b);

/* POST {[wstep] path}. */
enum MHD_Result wstep_post(struct svc_request *req);

/* ---- shared by the operation files ----------------------------------- */

/* One WSTEP request being answered. */
struct wstep_call {
  struct wstep_msg msg;
  struct wstep_reply_head head;
  /* the authenticated account; "" when anonymous (the operation decides
   * whether an anonymous request can name one) */
  char account[BRIDGE_STORE_ACCOUNT_MAX];
  bool anonymous;
};

/* Queues xml (taken over) as the SOAP 1.2 response with HTTP status. */
enum MHD_Result wstep_send(struct svc_request *req, unsigned status, char *xml,
                           size_t len);

/* Answers fault f (HTTP 500) with RequestID request_id (<= 0: nil); why
 * goes to the log only. */
enum MHD_Result wstep_fail(struct svc_request *req, struct wstep_call *c,
                           enum wstep_fault f, int32_t request_id,
                           const char *why);

/* Answers Issued for the DER certificate (the PKIResponse signed now). */
enum MHD_Result wstep_issued(struct svc_request *req, struct wstep_call *c,
                             int32_t request_id, const unsigned char *der,
                             size_t der_len);

/* Answers "Taken Under Submission" for request_id. */
enum MHD_Result wstep_pending(struct svc_request *req, struct wstep_call *c,
                              int32_t request_id);

/* Counts one answer on /metrics ({front wstep, outcome}). */
void wstep_count(struct bridge *b, const char *outcome);

enum MHD_Result wstep_issue(struct svc_request *req, struct wstep_call *c);
enum MHD_Result wstep_query(struct svc_request *req, struct wstep_call *c);
enum MHD_Result wstep_ket(struct svc_request *req, struct wstep_call *c);

/* ---- certificates of the bridge's CA as credentials (wstep_cert.c) --- */

/* The account the certificates table records for cert (looked up by its
 * serial); 0, or -1 with err (not on record, database). */
int wstep_cert_account(struct bridge *b, const X509 *cert,
                       char account[BRIDGE_STORE_ACCOUNT_MAX],
                       struct owcp_error *err);

enum wstep_cert_auth {
  WSTEP_CERT_NONE,     /* no TLS client certificate (or plain HTTP) */
  WSTEP_CERT_ACCEPTED, /* c->account is the certificate's account */
  WSTEP_CERT_REFUSED   /* presented but not acceptable: err says why */
};

/* Authenticates c by req's TLS client certificate: issued by [wstep]
 * ca_cert (directly, not the CA itself), valid now, fit for client
 * authentication, and on record. */
enum wstep_cert_auth wstep_client_cert(struct svc_request *req,
                                       struct wstep_call *c,
                                       struct owcp_error *err);

/* The certificate for a stored request: its payload (a PKCS#10, or the CMS
 * of an anonymous renewal) re-planned for account and template tpl_name,
 * then signed. 0 with *out, or -1 with *fault and err. */
int wstep_sign_stored(struct bridge *b, const unsigned char *payload,
                      size_t payload_len, const char *account,
                      const char *tpl_name, struct ca_issued *out,
                      enum wstep_fault *fault, struct owcp_error *err);

#endif
