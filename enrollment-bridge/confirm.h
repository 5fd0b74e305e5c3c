/*
 * confirm.h — the enrollment bridge asks the user (bridge contract §3).
 * Before the bridge issues a certificate or TURN credentials it sends an
 * OWCP confirmation request through the dispatcher, as an ordinary
 * requestor (libowcp-requestor; this module is its only caller in the
 * bridge), and issues only on a verified Accept.
 *
 * Use is two-step and non-blocking, so that a confirmation survives a
 * bridge restart: confirm_send() submits and hands back the Transaction,
 * the exact XML bytes sent and the expiry, which the caller stores in its
 * own database; confirm_check() (any thread, any later process built from
 * the same configuration) asks how it ended, given only those two;
 * confirm_cancel() gives up (RD-Final).
 *
 * What an ACCEPTED outcome proves. libowcp-requestor's RD-Status already
 * verifies, before reporting an answer: the client's CMS receipt under the
 * dispatcher's client CA (fetched once per context over the verified TLS
 * connection), its signer certificate naming the receipt's Account and
 * Client, the receipt covering exactly request_xml byte for byte, its
 * Transaction being the one asked about, its Response and Client being the
 * dispatcher's, its Account being the request's <To>, and every requested
 * <Verification> method (here PIN) listed. confirm_check() adds what the
 * library cannot know: request_xml must be a request of this bridge (its
 * <From> is the configured requestor), to the account the caller expects
 * (its <To>), naming PIN — so a stored row mixed up with another user's
 * cannot turn that user's Accept into this issuance. Anything that fails
 * is CONFIRM_FAILED, never an Accept.
 *
 * Threads: libowcp-requestor contexts are one per thread. A struct
 * confirm_service is shared by every thread: each thread that calls
 * confirm_send/check/cancel gets its own requestor context, made on its
 * first call and kept (thread-specific data) until the thread exits or the
 * service is freed. Create the service before starting threads (it
 * initialises libxml2) and free it after they have stopped.
 *
 * Conventions of owcp/util.h: errors are one sentence in a caller's
 * struct owcp_error (may be NULL); char * results and out-structs are the
 * caller's, released with free() / the matching *_free(); inputs are
 * borrowed.
 */
#ifndef OWCP_BRIDGE_CONFIRM_H
#define OWCP_BRIDGE_CONFIRM_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "owcp/util.h"

/* ---- the [owcp] section ---------------------------------------------- */

/* The [owcp] section, filled by the configuration layer (paths already
 * resolved). Copied by confirm_service_new(). */
struct confirm_config {
  const char *requestor;  /* requestor = (account); required */
  const char *token_file; /* token_file = (mode 0600); required */
  const char *dispatcher; /* dispatcher = {base}; NULL: DNS discovery */
  const char *dns;        /* dns = resolver "host:port"; NULL: system */
  const char *ca_file;    /* ca_file = extra TLS anchors; NULL: system */
  bool insecure_http;     /* insecure_http = yes: http:// on loopback */
  long timeout;           /* timeout = seconds to answer, 1..86400 */
};

#define CONFIRM_TIMEOUT_MAX 86400L

struct confirm_service;

/* Checks the configuration and makes the calling thread's requestor
 * context (so a bad account, token file or dispatcher URL is reported
 * here, naming the key, not at the first issuance). Nothing is sent. */
int confirm_service_new(const struct confirm_config *cfg,
                        struct confirm_service **out, struct owcp_error *err);

/* Frees every thread's context (wiping tokens); NULL is fine. No thread
 * may be using the service. */
void confirm_service_free(struct confirm_service *s);

/* ---- summaries (contract §3's three forms) --------------------------- */

/* "Issue a smart-card logon certificate (template TEMPLATE) to USERNAME
 * for HOST?" (" for HOST" left out when host is NULL). template_name is
 * the configured OID or name, username as received. */
char *confirm_summary_otpce(const char *template_name, const char *username,
                            const char *host, struct owcp_error *err);

/* "Issue certificate 'TEMPLATE' (SUBJECT, valid N days) to ACCOUNT?";
 * validity_days 1..36500 ("1 day" when 1). */
char *confirm_summary_wstep(const char *template_name, const char *subject,
                            long validity_days, const char *account,
                            struct owcp_error *err);

/* "Allow audio/video relay credentials for IDENTITY (DURATION)?" where
 * DURATION is "8 hours" / "1 hour" when minutes is a whole number of
 * hours, else "90 minutes" / "1 minute"; minutes 1..10080. */
char *confirm_summary_mras(const char *identity, long minutes,
                           struct owcp_error *err);

/* ---- building and sending -------------------------------------------- */

enum confirm_kind {
  CONFIRM_ENROLLMENT, /* Type "Enrollment" (OTPCE, WSTEP) */
  CONFIRM_CREDENTIALS /* Type "Credentials" (MRAS) */
};

/* One row of the details table: label and value, plain text. */
struct confirm_detail {
  const char *label; /* "Subject", "SAN", "Key", "Validity", "Client host" */
  const char *value;
};

struct confirm_request {
  enum confirm_kind kind;
  const char *to;      /* the mapped OWCP account */
  const char *summary; /* exactly what will be handed out */
  const struct confirm_detail *details;
  size_t detail_count; /* 0: no body */
  /* The <Header identifier>; NULL: a random one. A stable one (e.g. the
   * WSTEP RequestID) makes a resubmission after a crash idempotent. */
  const char *identifier;
};

/* Builds the XML Request with libowcp-requestor's builder (libxml2's
 * writer: markup in the text is escaped, never interpreted): Type, From
 * the configured requestor, To, <Verification>PIN</Verification>, the
 * Summary and a <Table> of one <TR> per detail (label, value). Summary,
 * labels and values are refused, naming the field, when not UTF-8 or when
 * holding characters that could hide or reorder what the user reads: any
 * C0 or C1 control (tab and newline too), DEL, the bidirectional controls
 * (U+061C, U+200E, U+200F, U+202A..U+202E, U+2066..U+2069) and the line
 * and paragraph separators (U+2028, U+2029). On success *xml (caller frees,
 * NUL-terminated) and *len. */
int confirm_build(struct confirm_service *s, const struct confirm_request *req,
                  char **xml, size_t *len, struct owcp_error *err);

/* How a confirmation stands. */
enum confirm_outcome {
  CONFIRM_PENDING = 0,     /* sent / not answered yet */
  CONFIRM_ACCEPTED,        /* verified Accept: issue */
  CONFIRM_REJECTED,        /* the user rejected (verified) */
  CONFIRM_REFUSED,         /* the client refused (reason), or the dispatcher
                              refused by policy (403) */
  CONFIRM_EXPIRED,         /* nobody answered in time */
  CONFIRM_CANCELLED,       /* given up with confirm_cancel() */
  CONFIRM_UNKNOWN_ACCOUNT, /* confirm_send: the dispatcher has no such
                              account (404) */
  CONFIRM_UNREACHABLE,     /* no dispatcher reachable, 503 or 429: the state
                              is unknown; ask again later */
  CONFIRM_FAILED           /* verification failure, protocol error, bad
                              input or configuration: never an Accept */
};

/* "pending", "accepted", ... for logs and the database. */
const char *confirm_outcome_name(enum confirm_outcome o);

/* What confirm_send() hands back for the caller's database. */
struct confirm_sent {
  char *transaction;  /* the dispatcher's Transaction */
  char *request_xml;  /* the exact bytes sent (NUL-terminated) */
  size_t request_len; /* not counting the NUL */
  time_t expires;     /* when the user's time runs out */
};

/* Releases the members and zeroes *s (safe on a zeroed struct). */
void confirm_sent_free(struct confirm_sent *s);

/* confirm_build() then RD-Confirm with Timeout = the configured timeout.
 * CONFIRM_PENDING with *out filled; otherwise *out is zeroed and the
 * outcome is CONFIRM_UNKNOWN_ACCOUNT, CONFIRM_REFUSED, CONFIRM_UNREACHABLE
 * or CONFIRM_FAILED, with err naming why. */
enum confirm_outcome confirm_send(struct confirm_service *s,
                                  const struct confirm_request *req,
                                  struct confirm_sent *out,
                                  struct owcp_error *err);

/* The answer, as far as it is known. Owned pointers, NULL when absent. */
struct confirm_result {
  enum confirm_outcome outcome;
  char *reason;           /* REFUSED: the client's Reason or the
                             dispatcher's refusal sentence */
  char *client;           /* answered: the answering client (receipt) */
  char *account;          /* answered: the account that answered */
  time_t signed_at;       /* answered: the receipt's signing time */
  unsigned char *receipt; /* answered: the verified DER receipt */
  size_t receipt_len;
  time_t expires; /* PENDING / EXPIRED: the transaction's expiry, or 0 */
};

/* Releases the members and zeroes *r (safe on a zeroed struct). */
void confirm_result_free(struct confirm_result *r);

/* RD-Status of transaction, holding the request open up to wait_seconds
 * (0: answer at once; MRAS uses at most 30, spec §4) while unanswered.
 * request_xml / xml_len: the bytes confirm_send() returned; account: the
 * mapped account the confirmation was sent to. A 408 is CANCELLED when
 * the dispatcher's Expires is more than 5 s ahead of this host's clock,
 * else EXPIRED. Returns out->outcome; on CONFIRM_FAILED *out holds
 * nothing but the outcome. */
enum confirm_outcome confirm_check(struct confirm_service *s,
                                   const char *transaction,
                                   const char *request_xml, size_t xml_len,
                                   const char *account, int wait_seconds,
                                   struct confirm_result *out,
                                   struct owcp_error *err);

/* RD-Final: an answer that arrived first is reported (verified) as by
 * confirm_check(); otherwise the request is withdrawn from the user's
 * devices and the outcome is CONFIRM_CANCELLED (also when it had expired
 * already: RD-Final does not tell them apart, and neither was answered). */
enum confirm_outcome
confirm_cancel(struct confirm_service *s, const char *transaction,
               const char *request_xml, size_t xml_len, const char *account,
               struct confirm_result *out, struct owcp_error *err);

/* ---- the confirm = policy --------------------------------------------- */

enum confirm_mode {
  CONFIRM_MODE_REQUIRED, /* every issuance asks */
  CONFIRM_MODE_CACHED,   /* one Accept covers `minutes` */
  CONFIRM_MODE_OFF       /* no confirmation */
};

#define CONFIRM_CACHE_MINUTES_MAX 10080L /* one week */

struct confirm_policy {
  enum confirm_mode mode;
  long minutes; /* CONFIRM_MODE_CACHED: 1..CONFIRM_CACHE_MINUTES_MAX */
};

/* Parses `required`, `off` or `cached:MINUTES` (lowercase, as written;
 * MINUTES decimal digits only, 1..10080). Bad text leaves *out unchanged
 * and names the problem. */
int confirm_policy_parse(const char *text, struct confirm_policy *out,
                         struct owcp_error *err);

/* Does an Accept recorded at approved_at, cached for `minutes`, still
 * cover `now`? True for approved_at <= now < approved_at + 60 * minutes.
 * An approval dated in the future (the clock went back, or a forged row)
 * covers nothing; minutes outside 1..10080 cover nothing. */
bool confirm_cache_covers(time_t approved_at, long minutes, time_t now);

#endif
