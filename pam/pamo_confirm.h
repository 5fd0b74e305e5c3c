/*
 * pamo_confirm.h — the one confirmation pam_owcp.so asks for: a Request of
 * type Access from the configured requestor to the user's account, sent
 * with libowcp-requestor, and the verified outcome. The library reports an
 * answer only after the client's receipt verified against the client CA
 * (pinned by `client_ca` or fetched from GET {base}/CA) and was shown to
 * cover exactly the bytes sent, this transaction, account and response;
 * this module only sorts what happened into the outcomes pam_owcp.c turns
 * into PAM results.
 *
 * Every call makes its own requestor context and frees it before it
 * returns, so no connection (file descriptor) or resolver thread outlives
 * a pam_authenticate() call, whatever the host does afterwards.
 */
#ifndef OWCP_PAMO_CONFIRM_H
#define OWCP_PAMO_CONFIRM_H

#include "pamo_config.h"

enum pamo_outcome {
  PAMO_ACCEPTED = 0,    /* a verified Accept */
  PAMO_DENIED,          /* verified Reject or Refuse, expiry, cancellation */
  PAMO_UNVERIFIED,      /* an answer that did not verify, or a dispatcher
                           that broke the protocol: never trusted */
  PAMO_UNREACHABLE,     /* no dispatcher answered: connection failure, DNS,
                           503 (the only outcome failmode=safe may excuse) */
  PAMO_TLS_FAILED,      /* a dispatcher whose TLS did not verify */
  PAMO_UNKNOWN_ACCOUNT, /* 404: the dispatcher does not know the account */
  PAMO_REFUSED,         /* the dispatcher would not ask (403, 429, 5xx) */
  PAMO_SERVICE_ERROR    /* our side: token, configuration, local failure */
};

/* A short name for logs ("accepted", "denied", ...). */
const char *pamo_outcome_name(enum pamo_outcome o);

/* Called once the dispatcher has taken the request, before the wait. */
typedef void (*pamo_notify_fn)(void *arg);

/* What pamo_confirm() learnt. Strings owned, released with
 * pamo_confirm_result_free(). */
struct pamo_confirm_result {
  enum pamo_outcome outcome;
  char *transaction; /* the dispatcher's Transaction, or NULL */
  char *detail;      /* one sentence: the answer or what went wrong */
};

/* Asks `account` to confirm `summary` and waits for the answer until the
 * configured timeout (the request expires then; if the dispatcher's expiry
 * does not come in time, the request is cancelled with RD-Final, and an
 * answer that arrived just before still counts, verified). Returns
 * out->outcome. */
enum pamo_outcome pamo_confirm(const struct pamo_config *cfg,
                               const char *account, const char *summary,
                               pamo_notify_fn notify, void *notify_arg,
                               struct pamo_confirm_result *out);

/* Releases the members and zeroes *r. */
void pamo_confirm_result_free(struct pamo_confirm_result *r);

#endif
