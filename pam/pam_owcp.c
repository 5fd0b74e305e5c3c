/*
 * pam_owcp.c — the PAM entry points of pam_owcp.so: `auth` asks the user
 * to confirm the login on their device through an OWCP dispatcher and
 * succeeds only on a verified Accept; `account` succeeds (the decision is
 * auth's); setcred has nothing to set. docs/pam.md is the operator's
 * guide; the pieces are in pamo_config (arguments and [pam]), pamo_account
 * (user -> OWCP account), pamo_summary (what the device shows) and
 * pamo_confirm (the request and its verified outcome).
 *
 * Lifetime: nothing is kept between calls. Each pam_sm_authenticate()
 * reads the configuration, makes one requestor context and frees all of it
 * before returning, so a host that calls it many times (sshd, OpenVPN's
 * auth-pam plugin) keeps no descriptor or thread from it. The module is
 * linked with -z nodelete (pam/CMakeLists.txt says why), and exports
 * nothing but the pam_sm_* functions.
 */
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <security/pam_ext.h>
#include <security/pam_modules.h>
#include <security/pam_modutil.h>

#include "pamo_confirm.h"
#include "pamo_summary.h"

/* What one authentication decided, for its one log line. The char *
 * members are owned (decision_clear); outcome is a constant. */
struct decision {
  char *user;        /* cleaned for the log */
  char *account;     /* NULL: not mapped (yet) */
  char *transaction; /* NULL: no request sent */
  char *detail;
  const char *outcome;
  int rc;
};

static void decision_clear(struct decision *d)
{
  free(d->user);
  free(d->account);
  free(d->transaction);
  free(d->detail);
  memset(d, 0, sizeof *d);
}

static void log_decision(pam_handle_t *pamh, const struct decision *d)
{
  pam_syslog(pamh, d->rc == PAM_SUCCESS ? LOG_NOTICE : LOG_WARNING,
             "user=%s account=%s transaction=%s outcome=%s result=%s%s%s",
             d->user != NULL ? d->user : "?",
             d->account != NULL ? d->account : "-",
             d->transaction != NULL ? d->transaction : "-", d->outcome,
             pam_strerror(pamh, d->rc), d->detail != NULL ? ": " : "",
             d->detail != NULL ? d->detail : "");
}

/* The PAM result of a confirmation under the configured failmode. Only an
 * unreachable dispatcher is ever excused by failmode=safe. */
static int pam_result(enum pamo_outcome o, int failmode)
{
  switch (o) {
  case PAMO_ACCEPTED:
    return PAM_SUCCESS;
  case PAMO_UNREACHABLE:
    return failmode == PAMO_FAIL_SAFE ? PAM_SUCCESS : PAM_AUTHINFO_UNAVAIL;
  case PAMO_TLS_FAILED:
    return PAM_AUTHINFO_UNAVAIL;
  case PAMO_UNKNOWN_ACCOUNT:
    return PAM_USER_UNKNOWN;
  case PAMO_SERVICE_ERROR:
    return PAM_SERVICE_ERR;
  default:
    return PAM_AUTH_ERR;
  }
}

/* The conversation's notice before the wait (pamo_notify_fn). */
struct notice {
  pam_handle_t *pamh;
  const char *summary;
  long timeout;
};

static void tell_user(void *arg)
{
  const struct notice *n = arg;
  pam_info(n->pamh, "Confirm on your device within %ld seconds: %s", n->timeout,
           n->summary);
}

static const char *pam_str(pam_handle_t *pamh, int item)
{
  const void *v = NULL;
  if (pam_get_item(pamh, item, &v) != PAM_SUCCESS)
    return NULL;
  return v;
}

/* Builds the summary and asks; fills d. */
static int confirm_user(pam_handle_t *pamh, int flags,
                        const struct pamo_config *cfg, const char *user,
                        struct decision *d)
{
  char host[HOST_NAME_MAX + 1] = "unknown";
  struct owcp_error err = {{0}};
  struct pamo_confirm_result r = {0};

  if (gethostname(host, sizeof host) != 0)
    strcpy(host, "unknown");
  host[sizeof host - 1] = '\0';
  struct pamo_summary_vars vars = {.user = user,
                                   .host = host,
                                   .service = pam_str(pamh, PAM_SERVICE),
                                   .rhost = pam_str(pamh, PAM_RHOST)};
  char *summary = pamo_summary_expand(cfg->summary, &vars, &err);
  if (summary == NULL) {
    d->outcome = "service error";
    d->detail = strdup(err.msg);
    return d->rc = PAM_SERVICE_ERR;
  }
  struct notice n = {pamh, summary, cfg->timeout};
  pamo_confirm(cfg, d->account, summary,
               (flags & PAM_SILENT) != 0 ? NULL : tell_user, &n, &r);
  free(summary);
  d->rc = pam_result(r.outcome, cfg->failmode);
  d->outcome = r.outcome == PAMO_UNREACHABLE && d->rc == PAM_SUCCESS
                   ? "dispatcher unreachable, allowed by failmode=safe"
                   : pamo_outcome_name(r.outcome);
  d->transaction = r.transaction;
  d->detail = r.detail;
  return d->rc;
}

/* Everything after the configuration was read. */
static int authenticate(pam_handle_t *pamh, int flags,
                        const struct pamo_config *cfg, const char *user,
                        struct decision *d)
{
  struct owcp_error err = {{0}};
  char *account = NULL;

  if (cfg->exempt_group != NULL &&
      pam_modutil_user_in_group_nam_nam(pamh, user, cfg->exempt_group) == 1) {
    d->outcome = "exempt (member of exempt_group)";
    return d->rc = PAM_SUCCESS;
  }
  if (idmap_map(&cfg->accounts, user, &account, &err) != 0) {
    d->outcome = "unmapped user";
    d->detail = strdup(err.msg);
    return d->rc = PAM_USER_UNKNOWN;
  }
  d->account = account;
  return confirm_user(pamh, flags, cfg, user, d);
}

PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc,
                                   const char **argv)
{
  struct pamo_config cfg;
  struct owcp_error err = {{0}};
  const char *path = NULL, *user = NULL;
  struct decision d = {.outcome = "service error", .rc = PAM_SERVICE_ERR};

  int rc = pam_get_user(pamh, &user, NULL);
  if (rc != PAM_SUCCESS || user == NULL) {
    pam_syslog(pamh, LOG_ERR, "cannot get the user name: %s",
               pam_strerror(pamh, rc));
    return rc == PAM_SUCCESS ? PAM_USER_UNKNOWN : rc;
  }
  d.user = pamo_text_clean(user, PAMO_VALUE_MAX);
  if (pamo_args_parse(argc, argv, &path, &err) != 0 ||
      pamo_config_load(path, &cfg, &err) != 0) {
    d.detail = strdup(err.msg);
  } else {
    authenticate(pamh, flags, &cfg, user, &d);
    pamo_config_free(&cfg);
  }
  log_decision(pamh, &d);
  rc = d.rc;
  decision_clear(&d);
  return rc;
}

/* What account management and setcred do: nothing, successfully. The
 * decision is auth's, and a confirmation leaves no credential to set. */
static int nothing_to_do(pam_handle_t *pamh, int flags, int argc,
                         const char **argv)
{
  (void)pamh;
  (void)flags;
  (void)argc;
  (void)argv;
  return PAM_SUCCESS;
}

PAM_EXTERN int pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc,
                                const char **argv)
{
  return nothing_to_do(pamh, flags, argc, argv);
}

PAM_EXTERN int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc,
                              const char **argv)
{
  return nothing_to_do(pamh, flags, argc, argv);
}
