/* The confirmation call; see pamo_confirm.h. */
#include "pamo_confirm.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "owcp/requestor.h"

/* Seconds after the request's own expiry the module still waits for the
 * dispatcher to report it (408), before cancelling it itself. */
#define EXPIRY_GRACE_S 10
/* Per HTTP exchange (connect, TLS, answer) before any long-poll Wait. */
#define HTTP_TIMEOUT_MS 15000L

const char *pamo_outcome_name(enum pamo_outcome o)
{
  static const char *const names[] = {
      [PAMO_ACCEPTED] = "accepted",
      [PAMO_DENIED] = "denied",
      [PAMO_UNVERIFIED] = "unverified answer",
      [PAMO_UNREACHABLE] = "dispatcher unreachable",
      [PAMO_TLS_FAILED] = "TLS verification failed",
      [PAMO_UNKNOWN_ACCOUNT] = "account unknown to the dispatcher",
      [PAMO_REFUSED] = "refused by the dispatcher",
      [PAMO_SERVICE_ERROR] = "service error"};
  return (unsigned)o < sizeof names / sizeof names[0] ? names[o] : "?";
}

void pamo_confirm_result_free(struct pamo_confirm_result *r)
{
  free(r->transaction);
  free(r->detail);
  memset(r, 0, sizeof *r);
}

/* Whether a transport failure was TLS refusing the dispatcher. The
 * library reports it as OWCP_RQ_NETWORK_ERROR with libcurl's sentence in
 * the message, so the sentences of libcurl's TLS failures are looked for:
 * failmode=safe must not let a dispatcher with a bad certificate (an
 * impostor) count as "unreachable". */
static bool is_tls_failure(const char *msg)
{
  static const CURLcode tls_codes[] = {CURLE_PEER_FAILED_VERIFICATION,
                                       CURLE_SSL_CONNECT_ERROR,
                                       CURLE_SSL_CACERT_BADFILE,
                                       CURLE_SSL_CERTPROBLEM,
                                       CURLE_SSL_CIPHER,
                                       CURLE_SSL_ISSUER_ERROR,
                                       CURLE_SSL_PINNEDPUBKEYNOTMATCH,
                                       CURLE_SSL_INVALIDCERTSTATUS,
                                       CURLE_SSL_CRL_BADFILE,
                                       CURLE_SSL_ENGINE_INITFAILED};
  for (size_t i = 0; i < sizeof tls_codes / sizeof tls_codes[0]; i++)
    if (strstr(msg, curl_easy_strerror(tls_codes[i])) != NULL)
      return true;
  /* The library's transport policy (plain http off loopback): ours. */
  return false;
}

static enum pamo_outcome of_network_error(const char *msg)
{
  if (strstr(msg, "refused (https only)") != NULL)
    return PAMO_SERVICE_ERROR;
  return is_tls_failure(msg) ? PAMO_TLS_FAILED : PAMO_UNREACHABLE;
}

/* The outcome of a finished operation (not PENDING). */
static enum pamo_outcome
classify(enum owcp_rq_status s, const struct owcp_rq_result *r, const char *msg)
{
  switch (s) {
  case OWCP_RQ_OK:
    return r->response == OWCP_RQ_ACCEPT ? PAMO_ACCEPTED : PAMO_DENIED;
  case OWCP_RQ_TIMEOUT:
  case OWCP_RQ_DEADLINE:
    return PAMO_DENIED;
  case OWCP_RQ_VERIFY_FAILED:
  case OWCP_RQ_PROTOCOL_ERROR:
  case OWCP_RQ_CONFLICT:
    return PAMO_UNVERIFIED;
  case OWCP_RQ_UNAVAILABLE:
    return PAMO_UNREACHABLE;
  case OWCP_RQ_NETWORK_ERROR:
    return of_network_error(msg);
  case OWCP_RQ_NOT_FOUND:
    return PAMO_UNKNOWN_ACCOUNT;
  case OWCP_RQ_REFUSED:
  case OWCP_RQ_RATE_LIMITED:
  case OWCP_RQ_SERVER_ERROR:
    return PAMO_REFUSED;
  default: /* 400, 401, 413, 415, our input, memory */
    return PAMO_SERVICE_ERROR;
  }
}

static int make_requestor(const struct pamo_config *cfg,
                          struct owcp_requestor **rq, struct owcp_error *err)
{
  struct owcp_requestor_config c = {.account = cfg->requestor,
                                    .token_file = cfg->token_file,
                                    .dispatcher = cfg->dispatcher,
                                    .dns_servers = cfg->dns,
                                    .ca_file = cfg->ca_file,
                                    .pinned_ca_pem = cfg->client_ca_pem,
                                    .allow_insecure_http = cfg->insecure_http,
                                    .timeout_ms = HTTP_TIMEOUT_MS};
  return owcp_requestor_new(&c, rq, err);
}

/* Fills out from a finished operation. */
static enum pamo_outcome finish(struct pamo_confirm_result *out,
                                enum owcp_rq_status s,
                                const struct owcp_rq_result *r,
                                const struct owcp_error *err)
{
  out->outcome = classify(s, r, err->msg);
  if (out->transaction == NULL && r->transaction != NULL)
    out->transaction = strdup(r->transaction);
  free(out->detail);
  if (s == OWCP_RQ_OK)
    out->detail = strdup(owcp_rq_response_name(r->response));
  else if (s == OWCP_RQ_TIMEOUT || s == OWCP_RQ_DEADLINE)
    out->detail = strdup("no answer in time");
  else
    out->detail =
        strdup(err->msg[0] != '\0' ? err->msg : owcp_rq_status_name(s));
  return out->outcome;
}

/* The wait after a successful submission: the library resubmits the same
 * bytes (idempotent: same identifier, same transaction) and long-polls,
 * retrying a 503 or a lost connection until the deadline. Past the
 * deadline the request is cancelled so that a late Accept cannot count. */
static enum pamo_outcome wait_answer(struct owcp_requestor *rq,
                                     const struct pamo_config *cfg,
                                     const char *xml, size_t len,
                                     struct pamo_confirm_result *out)
{
  struct owcp_confirm_opts opts = {.timeout_s = cfg->timeout};
  struct owcp_rq_result r = {0};
  struct owcp_error err = {{0}};
  time_t deadline = time(NULL) + cfg->timeout + EXPIRY_GRACE_S;
  enum owcp_rq_status s =
      owcp_rq_confirm_and_wait(rq, xml, len, &opts, deadline, &r, &err);
  if (s == OWCP_RQ_DEADLINE && out->transaction != NULL) {
    owcp_rq_result_free(&r);
    s = owcp_rq_final(rq, out->transaction, xml, len, &r, &err);
  }
  finish(out, s, &r, &err);
  owcp_rq_result_free(&r);
  return out->outcome;
}

/* Builds and submits the request; PAMO_ACCEPTED here means "pending". */
static enum pamo_outcome submit(struct owcp_requestor *rq,
                                const struct pamo_config *cfg,
                                const char *account, const char *summary,
                                char **xml, size_t *len,
                                struct pamo_confirm_result *out)
{
  struct owcp_confirm_opts opts = {.timeout_s = cfg->timeout};
  struct owcp_rq_result r = {0};
  struct owcp_error err = {{0}};
  if (owcp_request_build_simple(owcp_requestor_validator(rq), cfg->requestor,
                                account, "Access", NULL, summary, NULL, NULL,
                                cfg->pin, xml, len, &err) != 0) {
    out->outcome = PAMO_SERVICE_ERROR;
    out->detail = strdup(err.msg);
    return out->outcome;
  }
  enum owcp_rq_status s = owcp_rq_confirm(rq, *xml, *len, &opts, &r, &err);
  if (s == OWCP_RQ_PENDING) {
    out->transaction = r.transaction != NULL ? strdup(r.transaction) : NULL;
    out->outcome = PAMO_ACCEPTED;
  } else {
    finish(out, s, &r, &err);
    if (out->outcome == PAMO_ACCEPTED) /* a 200 to RD-Confirm: a lie */
      out->outcome = PAMO_UNVERIFIED;
  }
  owcp_rq_result_free(&r);
  return out->outcome;
}

enum pamo_outcome pamo_confirm(const struct pamo_config *cfg,
                               const char *account, const char *summary,
                               pamo_notify_fn notify, void *notify_arg,
                               struct pamo_confirm_result *out)
{
  struct owcp_requestor *rq = NULL;
  struct owcp_error err = {{0}};
  char *xml = NULL;
  size_t len = 0;

  memset(out, 0, sizeof *out);
  if (make_requestor(cfg, &rq, &err) != 0) {
    out->outcome = PAMO_SERVICE_ERROR;
    out->detail = strdup(err.msg);
    return out->outcome;
  }
  if (submit(rq, cfg, account, summary, &xml, &len, out) == PAMO_ACCEPTED) {
    if (notify != NULL)
      notify(notify_arg);
    wait_answer(rq, cfg, xml, len, out);
  }
  free(xml);
  owcp_requestor_free(rq);
  return out->outcome;
}
