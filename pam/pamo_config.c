/* pam_owcp.so's configuration; see pamo_config.h. */
#include "pamo_config.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "pamo_account.h"
#include "pamo_summary.h"

/* Largest client CA bundle read (a few certificates of PEM). */
#define CLIENT_CA_MAX ((size_t)64 * 1024)

static const char *const failmodes[] = {"secure", "safe", NULL};

static const struct svc_cfg_key pam_keys[] = {
    SVC_CFG_STRING(struct pamo_config, requestor, "requestor", SVC_CFG_REQUIRED,
                   NULL, "the requestor account (the From of every request)"),
    SVC_CFG_SECRET(struct pamo_config, token_file, "token_file",
                   SVC_CFG_REQUIRED, "its bearer token (0600, owned by root)"),
    SVC_CFG_STRING(struct pamo_config, dispatcher, "dispatcher", 0, NULL,
                   "{base} URL; absent: DNS discovery"),
    SVC_CFG_STRING(struct pamo_config, dns, "dns", 0, NULL,
                   "resolver HOST:PORT for discovery; absent: the system's"),
    SVC_CFG_PATH(struct pamo_config, ca_file, "ca_file", 0, NULL,
                 "extra TLS trust anchors (PEM)"),
    SVC_CFG_PATH(struct pamo_config, client_ca, "client_ca", 0, NULL,
                 "the dispatcher's client CA (PEM); absent: GET {base}/CA"),
    SVC_CFG_BOOL(struct pamo_config, insecure_http, "insecure_http", 0, "no",
                 "plain http to a loopback dispatcher (tests)"),
    SVC_CFG_INT(struct pamo_config, timeout, "timeout", 0, "60", 5, 3600,
                "seconds the user has to answer"),
    SVC_CFG_LIST_OF(struct pamo_config, account, "account", SVC_CFG_REQUIRED,
                    SVC_CFG_T_STRING, NULL,
                    "%u template or PATTERN -> TEMPLATE; first match wins"),
    SVC_CFG_STRING(struct pamo_config, summary, "summary", 0,
                   PAMO_DEFAULT_SUMMARY, "what the device shows"),
    SVC_CFG_BOOL(struct pamo_config, pin, "pin", 0, "no",
                 "ask the device for its PIN"),
    SVC_CFG_ENUM(struct pamo_config, failmode, "failmode", 0, "secure",
                 failmodes, "safe: allow when no dispatcher is reachable"),
    SVC_CFG_STRING(struct pamo_config, exempt_group, "exempt_group", 0, NULL,
                   "members skip the confirmation"),
    SVC_CFG_KEY_END};

static const struct svc_cfg_section sections[] = {
    SVC_CFG_SECTION("pam", pam_keys), SVC_CFG_SECTION_END};

int pamo_args_parse(int argc, const char **argv, const char **config_path,
                    struct owcp_error *err)
{
  *config_path = PAMO_DEFAULT_CONFIG;
  for (int i = 0; i < argc; i++) {
    if (strncmp(argv[i], "config=", 7) == 0 && argv[i][7] == '/') {
      *config_path = argv[i] + 7;
      continue;
    }
    owcp_error_set(err,
                   "unknown module argument '%s' (the only one is "
                   "config=/ABSOLUTE/PATH)",
                   argv[i]);
    return -1;
  }
  return 0;
}

int pamo_root_file_check(const char *path, const char *what,
                         struct owcp_error *err)
{
  struct stat st;
  if (lstat(path, &st) != 0) {
    owcp_error_set(err, "%s %s: %s", what, path, strerror(errno));
    return -1;
  }
  if (!S_ISREG(st.st_mode)) {
    owcp_error_set(err,
                   "%s %s is not a regular file (symbolic links are "
                   "refused: name the file itself)",
                   what, path);
    return -1;
  }
  if (st.st_uid != 0) {
    owcp_error_set(err, "%s %s is owned by uid %u, not by root", what, path,
                   (unsigned)st.st_uid);
    return -1;
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    owcp_error_set(err, "%s %s has mode %03o: group or others may write it",
                   what, path, (unsigned)(st.st_mode & 0777));
    return -1;
  }
  return 0;
}

/* insecure_http only towards a loopback dispatcher (the library checks
 * again on every request; refusing here makes it a configuration error). */
static int check_insecure_http(const struct pamo_config *c,
                               struct owcp_error *err)
{
  if (!c->insecure_http)
    return 0;
  if (c->dispatcher == NULL) {
    owcp_error_set(err, "[pam] insecure_http = yes needs a dispatcher URL "
                        "on loopback (not DNS discovery)");
    return -1;
  }
  CURLU *u = curl_url();
  char *host = NULL;
  bool ok = u != NULL &&
            curl_url_set(u, CURLUPART_URL, c->dispatcher, 0) == CURLUE_OK &&
            curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
            owcp_host_is_loopback(host);
  curl_free(host);
  curl_url_cleanup(u);
  if (!ok)
    owcp_error_set(err,
                   "[pam] insecure_http = yes: dispatcher %s is not a "
                   "loopback URL",
                   c->dispatcher);
  return ok ? 0 : -1;
}

static int read_client_ca(struct pamo_config *c, struct owcp_error *err)
{
  unsigned char *pem = NULL;
  size_t len = 0;
  struct owcp_error why;
  if (c->client_ca == NULL)
    return 0;
  if (pamo_root_file_check(c->client_ca, "[pam] client_ca", err) != 0)
    return -1;
  if (owcp_file_read(c->client_ca, CLIENT_CA_MAX, &pem, &len, &why) != 0) {
    owcp_error_set(err, "[pam] client_ca %s: %s", c->client_ca, why.msg);
    return -1;
  }
  c->client_ca_pem = (char *)pem;
  return 0;
}

/* Everything checked after the keys were read. */
static int check_loaded(struct pamo_config *c, struct owcp_error *err)
{
  struct owcp_error why;
  for (size_t i = 0; i < c->account.count; i++)
    if (pamo_account_add(&c->accounts, c->account.items[i], &why) != 0) {
      owcp_error_set(err, "[pam] %s", why.msg);
      return -1;
    }
  if (pamo_summary_check(c->summary, &why) != 0) {
    owcp_error_set(err, "[pam] %s", why.msg);
    return -1;
  }
  if (pamo_root_file_check(c->token_file, "[pam] token_file", err) != 0 ||
      (c->ca_file != NULL &&
       pamo_root_file_check(c->ca_file, "[pam] ca_file", err) != 0))
    return -1;
  return check_insecure_http(c, err) != 0 ? -1 : read_client_ca(c, err);
}

int pamo_config_load(const char *path, struct pamo_config *cfg,
                     struct owcp_error *err)
{
  memset(cfg, 0, sizeof *cfg);
  if (pamo_root_file_check(path, "configuration", err) != 0)
    return -1;
  if (svc_config_load(path, sections, cfg, err) != 0)
    return -1;
  if (check_loaded(cfg, err) != 0) {
    pamo_config_free(cfg);
    return -1;
  }
  return 0;
}

void pamo_config_free(struct pamo_config *cfg)
{
  svc_config_free(sections, cfg);
  idmap_clear(&cfg->accounts);
  free(cfg->client_ca_pem);
  cfg->client_ca_pem = NULL;
}
