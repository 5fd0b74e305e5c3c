/*
 * pamo_config.h — pam_owcp.so's configuration: the module arguments
 * (`config=FILE`) and the `[pam]` section of that file, read with the
 * daemons' INI parser (owcp/service/config.h) so that the module and the
 * daemons accept exactly the same syntax. docs/pam.md lists every key.
 *
 * Trust: whoever can write the configuration, the token file, the client
 * CA or the TLS anchors decides who gets in, so all of them must be owned
 * by root and writable by nobody else (the token file readable by nobody
 * else either); anything else is a configuration error (PAM_SERVICE_ERR),
 * never a reason to allow.
 *
 * Ownership: struct pamo_config owns every member and is released with
 * pamo_config_free(); errors are one sentence in a caller's owcp_error.
 */
#ifndef OWCP_PAMO_CONFIG_H
#define OWCP_PAMO_CONFIG_H

#include <stdbool.h>

#include "owcp/idmap.h"
#include "owcp/service/config.h"
#include "owcp/util.h"

#define PAMO_DEFAULT_CONFIG "/etc/owcp/pam.conf"
#define PAMO_DEFAULT_SUMMARY "Log in to %h as %u from %r?"

/* failmode = secure | safe (the index in the key's choices). */
enum pamo_failmode { PAMO_FAIL_SECURE = 0, PAMO_FAIL_SAFE = 1 };

/* The [pam] section as read (svc_config_load fills the first members). */
struct pamo_config {
  char *requestor;  /* the requestor account (the <From>) */
  char *token_file; /* its bearer token, mode 0600, owned by root */
  char *dispatcher; /* {base}; NULL: DNS discovery */
  char *dns;        /* resolver "HOST:PORT" for discovery; NULL: system */
  char *ca_file;    /* extra TLS trust anchors (PEM); NULL: system */
  char *client_ca;  /* the pinned client CA (PEM); NULL: GET {base}/CA */
  bool insecure_http;
  long timeout; /* seconds the user has to answer */
  struct svc_cfg_list account;
  char *summary;
  bool pin;
  int failmode; /* enum pamo_failmode */
  char *exempt_group;
  /* Derived after reading: */
  struct idmap accounts; /* every `account` value, in file order */
  char *client_ca_pem;   /* the contents of client_ca, or NULL */
};

/* The configuration file named by the module arguments: `config=FILE`
 * (absolute) or the default. Any other argument is refused, so that a typo
 * in /etc/pam.d does not silently fall back to the default file. The result
 * is borrowed from argv or static. */
int pamo_args_parse(int argc, const char **argv, const char **config_path,
                    struct owcp_error *err);

/* Checks that path is a regular file (not a symbolic link) owned by root
 * that neither group nor others may write; `what` names it in err. */
int pamo_root_file_check(const char *path, const char *what,
                         struct owcp_error *err);

/* Reads and checks the configuration at path (its ownership and mode, the
 * [pam] keys, the account rules, the summary template, the token file's and
 * the CA files' ownership, insecure_http only towards loopback). On failure
 * *cfg holds nothing to free. */
int pamo_config_load(const char *path, struct pamo_config *cfg,
                     struct owcp_error *err);

/* Releases everything cfg owns and zeroes it; safe twice. */
void pamo_config_free(struct pamo_config *cfg);

#endif
