/*
 * internal.h — what the files of libowcp-requestor share and applications
 * never see: the context's layout and the helpers rd_ops.c and verify.c
 * build on. Not installed.
 */
#ifndef OWCP_REQUESTOR_INTERNAL_H
#define OWCP_REQUESTOR_INTERNAL_H

#include <jansson.h>
#include <openssl/x509.h>

#include "owcp/discovery.h"
#include "owcp/httpc.h"
#include "owcp/requestor.h"

/* How many RD-Confirm requests a context remembers (oldest forgotten
 * first) to check receipts against what it sent. */
#define RQ_MEMO_MAX 64

/* The exact bytes sent for one transaction. */
struct rq_memo {
  char *transaction;
  char *xml;
  size_t xml_len;
};

struct owcp_requestor {
  char *account;        /* normalised */
  char *service_domain; /* what discovery resolves */
  char *token;          /* secret: wiped on free */
  struct owcp_discovery *disc;
  struct owcp_httpc *http;
  struct owcp_xml_validator *validator;
  X509 *client_ca;           /* pinned or fetched; NULL until needed */
  char *client_ca_pem;       /* PEM of client_ca */
  char *dispatcher_cert_pem; /* second PEM of the bundle, or NULL */
  struct rq_memo memo[RQ_MEMO_MAX];
  size_t memo_next; /* ring position */
};

/* POST {base}/{op} with params (borrowed) to the service's dispatchers.
 * Fills out->status, http_status, server_error, retry_after from the
 * answer and returns the reply's JSON object in *json (a new reference the
 * caller releases; NULL when no dispatcher answered). The returned status
 * is out->status. */
enum owcp_rq_status rq_post(struct owcp_requestor *rq, const char *op,
                            const json_t *params, int wait_s, json_t **json,
                            struct owcp_rq_result *out, struct owcp_error *err);

/* The client CA (pinned, or GET {base}/CA on first use); borrowed. */
X509 *rq_client_ca(struct owcp_requestor *rq, struct owcp_error *err);

/* rq_memo_put's answer when the dispatcher named a transaction it had
 * already given to different request bytes. */
#define RQ_MEMO_CLASH (-2)

/* Remembers a copy of the bytes sent for transaction: 0 (also when the same
 * bytes are already remembered for it, as after an idempotent resubmission),
 * RQ_MEMO_CLASH when different bytes are remembered for it (nothing
 * changes: one transaction must never stand for two requests), or -1 on
 * OOM. */
int rq_memo_put(struct owcp_requestor *rq, const char *transaction,
                const char *xml, size_t xml_len);

/* The remembered bytes for transaction, or NULL; borrowed. */
const struct rq_memo *rq_memo_get(const struct owcp_requestor *rq,
                                  const char *transaction);

/* Splits a GET {base}/CA bundle (PEM) into the client CA (required) and the
 * dispatcher certificate (optional); outputs are owned by the caller. */
int rq_split_bundle(const char *pem, size_t len, X509 **client_ca,
                    char **client_ca_pem, char **dispatcher_cert_pem,
                    struct owcp_error *err);

/* Verifies a result's receipt (out->receipt) against ca and the request
 * bytes (parsed with v), and fills out's answer fields from the signed
 * content. The dispatcher's reported Transaction, Client and Response (in
 * reported, borrowed) must agree with the receipt and its Identifier with
 * the request; Verification and Reason are taken from the receipt, which is
 * what the client signed, and out->identifier from the request. */
int rq_verify_result(X509 *ca, const struct owcp_xml_validator *v,
                     const char *xml, size_t xml_len, const json_t *reported,
                     struct owcp_rq_result *out, struct owcp_error *err);

/* Checks the receipt of a verified DR-Complete answer (c->status 200) for
 * the receiver: it verifies under ca, its signer is its Account and Client,
 * it matches c's Transaction, Client and Response, and its Request (parsed
 * with v) lists every method performed, was sent by `account` (normalised)
 * and carries c's Identifier. Returns 0, or -1 naming the failed check. */
int rq_check_completion(X509 *ca, const struct owcp_xml_validator *v,
                        const char *account, const struct owcp_completion *c,
                        struct owcp_error *err);

/* True when a and b are both accounts and the same one once normalised
 * (owcp_account_normalize: the domain compares case-insensitively, the
 * local part exactly); false for NULL or a text that is not an account. */
bool rq_same_account(const char *a, const char *b);

/* Copies the string member `name` of obj into *dst (NULL when absent or
 * not a string); -1 on allocation failure. */
int rq_dup_member(const json_t *obj, const char *name, char **dst);

#endif
