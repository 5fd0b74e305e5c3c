/*
 * owcp/requestor.h — libowcp-requestor: the requestor's side of OWCP 0.1
 * (binding spec §§4, 6, 7). A bank, a VPN gateway or a shell script uses it
 * to ask a user to confirm an action and to learn, with proof, what the user
 * answered:
 *
 *   1. build the XML <Request> (owcp_request_build) or bring your own;
 *   2. create a context (owcp_requestor_new) holding the requestor account,
 *      its bearer token, where the dispatcher is and which CA to trust;
 *   3. owcp_rq_confirm_and_wait (or RD-Confirm / RD-Status / RD-Final one by
 *      one), or RD-Confirm with a Completion URI served by the embedded
 *      receiver (owcp_rq_receiver_start);
 *   4. act only on OWCP_RQ_OK with response OWCP_RQ_ACCEPT: the library
 *      reports Accept/Reject/Refuse only after the client's signed receipt
 *      verified against the dispatcher's client CA and was shown to cover
 *      exactly the XML that was sent, this transaction and this response.
 *
 * Security decisions (see docs/protocol-decisions.md, "Requestor library"):
 *  - One context talks to one OWCP service: the one that issued its token.
 *    Discovery resolves the service domain (by default the domain of the
 *    requestor's own account), never the recipient's domain, so a bearer
 *    token is never sent to a dispatcher chosen by whoever controls a
 *    recipient's DNS.
 *  - Tokens are never logged, never put in URLs, never accepted from a
 *    world- or group-readable file, and wiped from memory when the context
 *    is freed.
 *  - TLS verification is always on; plain http is possible only with
 *    allow_insecure_http and only to loopback hosts (tests).
 *  - A receipt that fails any check is OWCP_RQ_VERIFY_FAILED, never an
 *    Accept. For Accept and Reject the receipt must also list every
 *    <Verification> method the request named (spec §6: the client performs
 *    each one before it signs).
 *
 * Conventions are those of owcp/util.h: errors are one sentence in a
 * caller-supplied struct owcp_error (which may be NULL). Ownership: objects
 * from *_new / *_start are released by the matching *_free / *_stop;
 * struct owcp_rq_result is filled by the library and released with
 * owcp_rq_result_free(); char ** / unsigned char ** out parameters hand a
 * malloc()ed buffer to the caller (free()). All inputs are borrowed.
 *
 * Threads: a struct owcp_requestor holds one HTTP connection and is not
 * thread-safe; use one per thread. A receiver calls its callback on its own
 * thread(s).
 */
#ifndef OWCP_REQUESTOR_H
#define OWCP_REQUESTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "owcp/request.h"
#include "owcp/util.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- building the XML Request ---------------------------------------- */

/* Serialises req (borrowed; the same structure owcp_request_parse()
 * produces) as an OWCP XML <Request> document with libowcp-core's Request
 * writer (libxml2's xmlTextWriter), so every string is escaped by the
 * library, never by string pasting.
 * header.identifier NULL: a random "urn:owcp:" identifier is generated;
 * header.issued NULL: the current UTC time is written; header.type NULL:
 * no type attribute. Refused with a sentence naming the field: a missing
 * From/To/Summary, text that is not UTF-8 or holds a control character
 * other than tab, CR and LF, a Money currency that is not three ASCII
 * letters or an amount that is not a decimal ("-12.50"), a barcode whose
 * data length does not fit its dimensions. The result is then validated
 * with owcp_request_parse() against v (NULL: a validator with default
 * limits is compiled for this call), so only schema-valid XML leaves this
 * function. On success *xml (NUL-terminated, caller frees) and *len. */
int owcp_request_build(const struct owcp_xml_validator *v,
                       const struct owcp_request *req, char **xml, size_t *len,
                       struct owcp_error *err);

/* The common case in one call: a Request from `from` to `to` of the given
 * type (NULL: none) whose Summary is the plain `summary` text, followed by
 * a Money span when currency is not NULL (amount then required), with a
 * PIN <Verification> when pin is true. identifier NULL: random. Same
 * checks, validation and ownership as owcp_request_build(). */
int owcp_request_build_simple(const struct owcp_xml_validator *v,
                              const char *from, const char *to,
                              const char *type, const char *identifier,
                              const char *summary, const char *currency,
                              const char *amount, bool pin, char **xml,
                              size_t *len, struct owcp_error *err);

/* ---- outcomes -------------------------------------------------------- */

/* What an operation came to. Every dispatcher status of spec §3 has its
 * own value; the rest are local or transport outcomes. */
enum owcp_rq_status {
  OWCP_RQ_OK = 0,            /* 200: done; for RD-Status/RD-Final/wait the
                                result (response, receipt) is verified */
  OWCP_RQ_PENDING,           /* 202: submitted / not answered yet */
  OWCP_RQ_BAD_REQUEST,       /* 400 from the dispatcher */
  OWCP_RQ_NOT_AUTHENTICATED, /* 401: token missing, wrong or revoked */
  OWCP_RQ_REFUSED,           /* 403: policy, spoofed From, unregistered */
  OWCP_RQ_NOT_FOUND,         /* 404: unknown account or transaction */
  OWCP_RQ_TIMEOUT,           /* 408: expired unanswered, or cancelled */
  OWCP_RQ_CONFLICT,          /* 409: same identifier, different bytes */
  OWCP_RQ_TOO_LARGE,         /* 413 */
  OWCP_RQ_UNSUPPORTED,       /* 415 */
  OWCP_RQ_RATE_LIMITED,      /* 429: see retry_after */
  OWCP_RQ_SERVER_ERROR,      /* 500 */
  OWCP_RQ_UNAVAILABLE,       /* 503 from every dispatcher tried */
  OWCP_RQ_PROTOCOL_ERROR,    /* the dispatcher's answer broke the protocol
                                (not JSON, unknown Status, missing field) */
  OWCP_RQ_NETWORK_ERROR,     /* discovery failed or no dispatcher reachable */
  OWCP_RQ_VERIFY_FAILED,     /* a receipt or signature did not verify, or
                                did not cover what was sent: never trust */
  OWCP_RQ_INVALID_INPUT,     /* the caller's input was refused locally */
  OWCP_RQ_DEADLINE,          /* owcp_rq_confirm_and_wait: the caller's
                                deadline passed while still pending */
  OWCP_RQ_INTERNAL_ERROR     /* local failure (memory, OpenSSL) */
};

/* A short constant name for s ("OK", "TIMEOUT", ...) for logs and JSON. */
const char *owcp_rq_status_name(enum owcp_rq_status s);

/* The user's answer, from the verified receipt. */
enum owcp_rq_response {
  OWCP_RQ_NO_RESPONSE = 0, /* not answered (or not an RD-Status result) */
  OWCP_RQ_ACCEPT,
  OWCP_RQ_REJECT,
  OWCP_RQ_REFUSE /* the client could not process the request: see reason */
};

/* "Accept", "Reject", "Refuse" or "none". */
const char *owcp_rq_response_name(enum owcp_rq_response r);

/* The result of one operation. Every pointer is owned by the result (NULL
 * when absent) and released by owcp_rq_result_free(). */
struct owcp_rq_result {
  enum owcp_rq_status status;
  int http_status;    /* the dispatcher's Status; 0 if none answered */
  char *server_error; /* the dispatcher's "Error" sentence, verbatim */
  char *transaction;  /* Transaction */
  char *identifier;   /* Identifier (the XML header's identifier) */
  char *expires;      /* RD-Confirm / pending RD-Status: Expires */
  long retry_after;   /* 429: seconds to wait; else 0 */
  bool ready;         /* RD-Register: Ready */
  /* Set only when status is OWCP_RQ_OK after RD-Status/RD-Final/waiting,
   * and then taken from the verified receipt: */
  enum owcp_rq_response response;
  char *reason;        /* Refuse only */
  char **verification; /* methods the client performed */
  size_t verification_count;
  char *client;           /* the answering client's identifier */
  char *account;          /* the account that answered (the <To>) */
  char *responded;        /* dispatcher's Responded (RFC 3339) */
  char *signed_at;        /* the receipt's Signed (RFC 3339) */
  unsigned char *receipt; /* the DER CMS receipt, byte for byte */
  size_t receipt_len;
  /* Set by owcp_rq_verify_receipt from the signed content: */
  char *match; /* "Match": the digits typed to approve a device, or NULL */
  char *from;  /* the <From> of the Request the receipt covers */
};

/* Releases the members and zeroes *r (safe on a zeroed struct). */
void owcp_rq_result_free(struct owcp_rq_result *r);

/* ---- the context ----------------------------------------------------- */

struct owcp_requestor_config {
  /* The requestor account (the <From> of every request), e.g.
   * "access@example.com". Required. */
  const char *account;
  /* The bearer token, as text, or the path of a file holding it (one line;
   * trailing newline ignored; refused when group/other may read it). Set
   * exactly one. Prefer token_file: a token in argv or the environment is
   * visible to other processes. */
  const char *token;
  const char *token_file;
  /* The OWCP service to discover (spec §7); NULL: the domain of account. */
  const char *service_domain;
  /* Manual {base}, e.g. "https://owcp.example.com/owcp/0.1". With
   * use_dns false and dns_servers NULL it is used alone (no DNS at all);
   * otherwise it is the fallback when DNS has no OWCP records (spec §7
   * step 3). NULL: DNS only. */
  const char *dispatcher;
  /* Discover by DNS (spec §7) even though `dispatcher` is set. DNS is
   * always used when `dispatcher` is NULL or dns_servers is set. */
  bool use_dns;
  const char *dns_servers; /* c-ares servers, "127.0.0.1:5353"; NULL: system */
  const char *ca_file;     /* extra TLS trust anchors (PEM); NULL: system */
  /* The GET {base}/CA bundle to pin (PEM text: the client CA, optionally
   * followed by the dispatcher's DR-Complete certificate). NULL: fetched
   * from the dispatcher once, on first need, over the verified TLS
   * connection. */
  const char *pinned_ca_pem;
  bool allow_insecure_http; /* tests only: http:// to loopback */
  long timeout_ms;          /* per HTTP request, before any Wait; 0: 30000 */
};

struct owcp_requestor;

/* Creates a context: validates the account, reads the token (file mode must
 * deny group and other: `chmod 600`), parses a pinned CA bundle, sets up
 * discovery (manual only when `dispatcher` is set and use_dns is false and
 * dns_servers is NULL) and the HTTP client, and compiles the XML
 * validator. Nothing is sent. *out is released with owcp_requestor_free. */
int owcp_requestor_new(const struct owcp_requestor_config *cfg,
                       struct owcp_requestor **out, struct owcp_error *err);

/* Releases the context and wipes the token; NULL is fine. */
void owcp_requestor_free(struct owcp_requestor *rq);

/* The requestor account (normalised); borrowed from rq. */
const char *owcp_requestor_account(const struct owcp_requestor *rq);

/* The context's XML validator (default limits), for owcp_request_build();
 * borrowed from rq. */
const struct owcp_xml_validator *
owcp_requestor_validator(const struct owcp_requestor *rq);

/* The dispatcher's CA bundle: the pinned one, or GET {base}/CA fetched now
 * (once per context). On success *client_ca_pem and (when the bundle holds
 * one) *dispatcher_cert_pem receive PEM copies the caller frees; either
 * out parameter may be NULL. */
int owcp_requestor_ca(struct owcp_requestor *rq, char **client_ca_pem,
                      char **dispatcher_cert_pem, struct owcp_error *err);

/* ---- operations (spec §4) -------------------------------------------- */

struct owcp_confirm_opts {
  long timeout_s;         /* Timeout: seconds until expiry; 0: server default */
  const char *completion; /* Completion URI for DR-Complete; NULL: none */
};

/* RD-Confirm of the xml_len bytes at xml, validated locally first (a
 * request whose <From> is not this requestor's account is refused here).
 * opts may be NULL. OWCP_RQ_PENDING on success with transaction, identifier
 * and expires set; the context remembers the exact bytes sent for this
 * transaction so later results can be checked against them. */
enum owcp_rq_status owcp_rq_confirm(struct owcp_requestor *rq, const char *xml,
                                    size_t xml_len,
                                    const struct owcp_confirm_opts *opts,
                                    struct owcp_rq_result *out,
                                    struct owcp_error *err);

/* RD-Status with Wait = wait_s (0: answer at once; above 3600, the wire
 * maximum, 3600; the dispatcher may cap it further). OWCP_RQ_PENDING while
 * unanswered, OWCP_RQ_TIMEOUT once expired or cancelled, OWCP_RQ_OK with
 * the verified answer. The receipt is matched against request_xml (the
 * exact bytes sent); NULL: the bytes this context sent in RD-Confirm for
 * that transaction — when neither is available the answer cannot be
 * checked and the result is OWCP_RQ_VERIFY_FAILED. */
enum owcp_rq_status owcp_rq_status(struct owcp_requestor *rq,
                                   const char *transaction,
                                   const char *request_xml, size_t xml_len,
                                   int wait_s, struct owcp_rq_result *out,
                                   struct owcp_error *err);

/* RD-Final: the verified answer (OWCP_RQ_OK) if there was one, otherwise
 * the transaction is cancelled (OWCP_RQ_TIMEOUT). request_xml as for
 * owcp_rq_status(). */
enum owcp_rq_status owcp_rq_final(struct owcp_requestor *rq,
                                  const char *transaction,
                                  const char *request_xml, size_t xml_len,
                                  struct owcp_rq_result *out,
                                  struct owcp_error *err);

/* RD-Register of account `to`: OWCP_RQ_OK with ready set. A dispatcher
 * started with --require-registration asks the account's user to consent
 * first: OWCP_RQ_PENDING with transaction and expires set (the consent
 * request, the same one until it is answered), OWCP_RQ_REFUSED once the
 * user refused (server_error says so), OWCP_RQ_RATE_LIMITED (retry_after)
 * when this requestor cancelled its last consent request with RD-Final. */
enum owcp_rq_status owcp_rq_register(struct owcp_requestor *rq, const char *to,
                                     struct owcp_rq_result *out,
                                     struct owcp_error *err);

/* RD-Register, and while the user's consent is pending, RD-Status long
 * polls on the consent request until it is decided, then RD-Register again
 * for the outcome: OWCP_RQ_OK (consented, ready set), OWCP_RQ_REFUSED
 * (refused), OWCP_RQ_TIMEOUT (the request expired unanswered or was
 * cancelled), or OWCP_RQ_DEADLINE when `deadline` (absolute time(), 0:
 * none) passes first (the request stays pending). A 503, a 429 or a lost
 * connection while polling is retried as in owcp_rq_confirm_and_wait. */
enum owcp_rq_status owcp_rq_register_and_wait(struct owcp_requestor *rq,
                                              const char *to, time_t deadline,
                                              struct owcp_rq_result *out,
                                              struct owcp_error *err);

/* RD-Deregister of account `to`: OWCP_RQ_OK once removed. */
enum owcp_rq_status owcp_rq_deregister(struct owcp_requestor *rq,
                                       const char *to,
                                       struct owcp_rq_result *out,
                                       struct owcp_error *err);

/* RD-Confirm, then RD-Status long polls until the transaction is answered
 * (OWCP_RQ_OK, verified), expires (OWCP_RQ_TIMEOUT) or `deadline` (absolute
 * time(), 0: none) passes (OWCP_RQ_DEADLINE; the transaction is left
 * pending — call owcp_rq_final to cancel it). A 503, a 429 (after its
 * Retry) or a lost connection while polling is retried after a pause until
 * the deadline or the expiry; with a deadline, so is the RD-Confirm itself
 * (resubmitting the same bytes is idempotent: the dispatcher answers with
 * the existing transaction). Any other outcome is returned as it
 * happened. */
enum owcp_rq_status
owcp_rq_confirm_and_wait(struct owcp_requestor *rq, const char *xml,
                         size_t xml_len, const struct owcp_confirm_opts *opts,
                         time_t deadline, struct owcp_rq_result *out,
                         struct owcp_error *err);

/* ---- verification (spec §§4, 6) -------------------------------------- */

/* Verifies a DER receipt on its own: CMS signature, signer certificate
 * chaining to client_ca_pem (the first certificate of that PEM text is the
 * client CA), content well-formed, its Account and Client equal to the
 * account (rfc822Name) and client (CN) its signer certificate names, and
 * the Request it covers (the one given, else its own) schema-valid, with
 * <To> the receipt's Account and, for Accept and Reject, every requested
 * verification method listed. When request_xml is not NULL the receipt
 * must cover exactly those bytes; transaction, client and response (each
 * may be NULL to skip) must match too. Without request_xml this proves
 * only what the user of Account answered to the request inside the
 * receipt, not that it is a request you sent.
 * On success, when out is not NULL, it receives the receipt's content:
 * response, verification, client, account, signed_at, transaction, reason,
 * match, and the covered request's identifier and from (status
 * OWCP_RQ_OK). Returns 0, or -1 with the first failed check named. */
int owcp_rq_verify_receipt(const unsigned char *der, size_t der_len,
                           const char *client_ca_pem, const char *request_xml,
                           size_t xml_len, const char *transaction,
                           const char *client, const char *response,
                           struct owcp_rq_result *out, struct owcp_error *err);

/* A receipt file's bytes as DER, whatever form they came in: DER as is,
 * PEM ("-----BEGIN CMS-----" or "PKCS7"), or base64 text (as RD-Status
 * returns it; white space ignored). Refused, naming the forms, when it is
 * none of them. *der is malloc()ed (caller frees). */
int owcp_rq_receipt_decode(const void *data, size_t len, unsigned char **der,
                           size_t *der_len, struct owcp_error *err);

/* GET {base}/CA from the dispatcher at base (e.g.
 * "https://owcp.example.com/owcp/0.1") over a verified TLS connection
 * (ca_file: extra trust anchors, NULL: the system's; plain http only with
 * allow_insecure_http and only to loopback), for checking receipts without
 * a requestor account. *client_ca_pem receives the client CA, and
 * *dispatcher_cert_pem (may be NULL) the DR-Complete certificate when the
 * bundle holds one; both PEM, caller frees. No token is sent. */
int owcp_rq_fetch_ca(const char *base, const char *ca_file,
                     bool allow_insecure_http, char **client_ca_pem,
                     char **dispatcher_cert_pem, struct owcp_error *err);

/* Verifies a DR-Complete OWCP-Signature header over the exact body bytes:
 * keyid must equal the SHA-256 of the DER of the certificate in
 * dispatcher_cert_pem, and the ECDSA P-256 signature must verify with its
 * key. Returns 0 when authentic. */
int owcp_rq_verify_completion(const char *signature_header, const void *body,
                              size_t body_len, const char *dispatcher_cert_pem,
                              struct owcp_error *err);

/* ---- the DR-Complete receiver ---------------------------------------- */

/* One verified completion, passed to the callback. Borrowed: valid only
 * during the call. */
struct owcp_completion {
  const char *transaction;
  const char *identifier;
  int status;       /* 200 answered, 408 expired or cancelled */
  const char *body; /* the exact signed JSON body */
  /* its verified OWCP-Signature header value (keep it with body as proof
   * of delivery) */
  const char *signature;
  size_t body_len;
  /* For status 200, the answer. The receiver has verified the client's
   * receipt under the client CA and checked that it covers this
   * transaction, client and response, and a Request sent by this
   * requestor's account with this identifier. It has not seen the bytes
   * you sent: before acting, look the transaction up among your own
   * pending ones (by transaction, which the dispatcher assigned, not by
   * identifier alone), or check the bytes with owcp_rq_verify_receipt() or
   * owcp_rq_status(). Every completion handed to the callback names this
   * receiver's account in its signed "Requestor" member (others are
   * refused with 403); a 408 carries no receipt, so still act on it only
   * for a transaction you have pending. */
  const char *response; /* "Accept" / "Reject" / "Refuse" or NULL */
  const char *reason;
  const char *client;
  const unsigned char *receipt;
  size_t receipt_len;
  const char *requestor; /* the signed "Requestor": this receiver's account */
};

/* Called once per new transaction. Return 0 when the outcome is safely
 * handled (the receiver then answers 200 and remembers the transaction);
 * any other value makes the receiver answer 500 so that the dispatcher
 * retries later. The in-memory de-duplication set is bounded and lost on
 * restart: an application that must never act twice records handled
 * transactions durably itself and returns 0 for ones it already has. */
typedef int (*owcp_completion_cb)(const struct owcp_completion *c, void *arg);

struct owcp_receiver_config {
  const char *host;    /* listen address, e.g. "127.0.0.1"; NULL: 0.0.0.0 */
  unsigned short port; /* 0: any free port (see owcp_rq_receiver_port) */
  const char *path;    /* accepted path; NULL: any */
  /* TLS certificate (chain) and unencrypted private key, PEM text, both or
   * neither; copied (the key copy is wiped on stop). The dispatcher accepts
   * only https Completion URIs outside tests, so production receivers set
   * these or sit behind a TLS-terminating proxy. NULL: plain http. */
  const char *tls_cert_pem;
  const char *tls_key_pem;
  /* The dispatcher's DR-Complete certificate (the second PEM of
   * GET {base}/CA, see owcp_requestor_ca). Required. */
  const char *dispatcher_cert_pem;
  /* The client CA (the first PEM of GET {base}/CA) and this requestor's
   * account. Required: the dispatcher's signature says nothing about whom
   * a completion is for, and any requestor of the same dispatcher may name
   * this receiver as its own Completion URI, so an answer is handed over
   * only when its receipt shows a Request from this account. */
  const char *client_ca_pem;
  const char *account;
  size_t max_body;       /* 0: 1 MiB */
  size_t dedup_capacity; /* transactions remembered; 0: 4096 */
  owcp_completion_cb callback;
  void *callback_arg;
};

struct owcp_rq_receiver;

/* Starts the embedded HTTP(S) server (libmicrohttpd, its own thread).
 * Each POST: body over max_body → 413; no or malformed or forged
 * OWCP-Signature → 401; not a JSON object with Operation "DR-Complete", a
 * Transaction and Status 200/408 → 400; a 200 whose receipt does not
 * verify under the client CA, does not match the completion's
 * Transaction, Client, Response and Identifier, or covers a Request whose
 * <From> is not cfg.account → 403 without calling back; a transaction
 * already handled → 200 without calling back; otherwise the callback, then
 * 200 or 500.
 * Released with owcp_rq_receiver_stop. */
int owcp_rq_receiver_start(const struct owcp_receiver_config *cfg,
                           struct owcp_rq_receiver **out,
                           struct owcp_error *err);

/* The TCP port the receiver listens on (the chosen one when cfg.port was
 * 0). */
unsigned short owcp_rq_receiver_port(const struct owcp_rq_receiver *r);

/* Stops the server (waits for a running callback) and frees it; NULL is
 * fine. */
void owcp_rq_receiver_stop(struct owcp_rq_receiver *r);

#ifdef __cplusplus
}
#endif

#endif
