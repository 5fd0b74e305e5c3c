/*
 * main.c — owcp-bridge, the enrollment bridge (contract §1): the command
 * line (serve, migrate, check, certificates, --version, --help), start-up in
 * dependency order (keys, schema, requestor, database pool, metrics,
 * confirmation waiters, HTTP, recovery of pending confirmations), SIGHUP (TLS
 * files and log level) and a clean stop on SIGTERM/SIGINT that answers
 * suspended requests and lets requests in flight finish. The runtime is the
 * service layer's (owcp/service/daemon.h); the parts are the modules of
 * handlers.h, waiters.h, material.h, config.h and store.h.
 */
#include <curl/curl.h>
#include <getopt.h>
#include <libxml/parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_certs.h"
#include "bridge_metrics.h"
#include "config.h"
#include "context.h"
#include "handlers.h"
#include "material.h"
#include "mras.h"
#include "sip_message.h"
#include "owcp/service/daemon.h"
#include "owcp/service/http.h"
#include "owcp/service/log.h"
#include "owcp/service/metrics.h"
#include "owcp/service/version.h"
#include "store.h"
#include "waiters.h"
#include "wstep.h"

/* libmicrohttpd worker threads: they run RADIUS checks and send
 * confirmations, never wait for answers (waiters.h). */
#define BRIDGE_HTTP_THREADS 8
/* How long a stop waits for requests in flight. */
#define BRIDGE_STOP_GRACE_MS 10000

static const char usage[] =
    "usage: owcp-bridge [--config FILE] [serve]\n"
    "       owcp-bridge [--config FILE] migrate\n"
    "       owcp-bridge [--config FILE] check\n"
    "       owcp-bridge [--config FILE] certificates [--account ACCOUNT]\n"
    "       owcp-bridge --version | --help\n"
    "\n"
    "The enrollment bridge: certificate enrollment (MS-OTPCE, MS-WSTEP) and\n"
    "media relay credentials (MRAS over SIP and HTTPS) behind the\n"
    "user's confirmation through an OWCP dispatcher.\n"
    "\n"
    "  serve     run (the default): the fronts of the configuration, GET\n"
    "            /healthz and GET /metrics on [bridge] listen\n"
    "  migrate   create or upgrade the bridge's tables in [bridge] db, exit\n"
    "  check     parse and check the configuration and the files it names,\n"
    "            exit 0 when usable\n"
    "  certificates  list the certificates the WSTEP CA issued (serial,\n"
    "            issued, not after, template, requester, transaction,\n"
    "            subject; tab-separated), with --account ACCOUNT only that\n"
    "            account's\n"
    "  --config FILE  the configuration file (default " BRIDGE_DEFAULT_CONFIG
    ")\n"
    "\n"
    "Logs are JSON objects, one per line, on standard error. SIGHUP reloads\n"
    "the TLS certificate and key, the TURN secrets and the log level.\n"
    "Exit status: 0 after a\n"
    "clean stop (SIGTERM/SIGINT) or a passing check/migrate, 1 on a\n"
    "start-up failure or an unusable file, 4 on a usage or configuration\n"
    "error. See owcp-bridge(8) and docs/enrollment-bridge.md.\n";

enum command { CMD_SERVE, CMD_MIGRATE, CMD_CHECK, CMD_CERTIFICATES };

/* 0 with *config and *cmd set, or an exit status (-1: printed help or
 * version, exit 0). */
static int parse_args(int argc, char **argv, const char **config,
                      enum command *cmd, const char **account)
{
  static const struct option opts[] = {
      {"config", required_argument, NULL, 'c'},
      {"version", no_argument, NULL, 'V'},
      {"help", no_argument, NULL, 'h'},
      {"account", required_argument, NULL, 'a'},
      {NULL, 0, NULL, 0}};
  int o;
  *config = BRIDGE_DEFAULT_CONFIG;
  *cmd = CMD_SERVE;
  while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (o) {
    case 'c':
      *config = optarg;
      break;
    case 'a':
      *account = optarg;
      break;
    case 'V':
      printf("owcp-bridge %s\n", OWCP_VERSION);
      return -1;
    case 'h':
      fputs(usage, stdout);
      return -1;
    default:
      fprintf(stderr, "owcp-bridge: unknown option (see owcp-bridge --help)\n");
      return BRIDGE_EXIT_CONFIG;
    }
  }
  if (optind < argc) {
    const char *c = argv[optind++];
    if (strcmp(c, "migrate") == 0)
      *cmd = CMD_MIGRATE;
    else if (strcmp(c, "check") == 0)
      *cmd = CMD_CHECK;
    else if (strcmp(c, "certificates") == 0)
      *cmd = CMD_CERTIFICATES;
    else if (strcmp(c, "serve") != 0) {
      fprintf(stderr,
              "owcp-bridge: unknown command '%s': say serve, migrate, "
              "check or certificates\n",
              c);
      return BRIDGE_EXIT_CONFIG;
    }
  }
  if (optind != argc) {
    fprintf(stderr, "owcp-bridge: unexpected argument '%s'\n", argv[optind]);
    return BRIDGE_EXIT_CONFIG;
  }
  if (*account != NULL && *cmd != CMD_CERTIFICATES) {
    fprintf(stderr, "owcp-bridge: --account goes with certificates only\n");
    return BRIDGE_EXIT_CONFIG;
  }
  return 0;
}

static struct confirm_config confirm_config_of(const struct bridge_config *c)
{
  return (struct confirm_config){.requestor = c->requestor,
                                 .token_file = c->token_file,
                                 .dispatcher = c->dispatcher,
                                 .dns = c->dns_text[0] ? c->dns_text : NULL,
                                 .ca_file = c->ca_file,
                                 .insecure_http = c->owcp_insecure_http,
                                 .timeout = c->timeout};
}

/* The [owcp] section as the requestor library sees it (names the key). */
static int confirm_start(struct bridge *b, struct owcp_error *err)
{
  struct confirm_config cc = confirm_config_of(&b->cfg);
  struct owcp_error why = {{0}};
  if (confirm_service_new(&cc, &b->confirm, &why) != 0) {
    owcp_error_set(err, "%s: [owcp]: %s", b->cfg.config_file, why.msg);
    return -1;
  }
  return 0;
}

/* `check`: what `serve` loads before it listens, without the database. */
static int check(struct bridge *b)
{
  struct owcp_error err = {{0}};
  FILE *f;
  int rc = bridge_material_load(&b->cfg, &b->mat, &err);
  if (rc == 0 && b->cfg.tls_cert != NULL) {
    const char *keys[] = {"tls_cert", "tls_key"};
    const char *paths[] = {b->cfg.tls_cert, b->cfg.tls_key};
    for (size_t i = 0; rc == 0 && i < 2; i++) {
      if ((f = fopen(paths[i], "r")) == NULL) {
        bridge_config_error(&b->cfg, &err, "bridge", keys[i], 0,
                            "cannot read %s", paths[i]);
        rc = -1;
      } else {
        fclose(f);
      }
    }
  }
  if (rc == 0)
    rc = wstep_front_new(b, &err);
  if (rc == 0)
    rc = confirm_start(b, &err);
  if (rc != 0) {
    fprintf(stderr, "owcp-bridge: %s\n", err.msg);
    return BRIDGE_EXIT_FAILURE;
  }
  printf("owcp-bridge: configuration OK\n");
  return 0;
}

static int migrate(const struct bridge_config *cfg)
{
  struct owcp_error err = {{0}};
  int applied = 0;
  if (bridge_store_migrate(cfg->db, NULL, &applied, &err) != 0) {
    fprintf(stderr, "owcp-bridge: [bridge] db: %s\n", err.msg);
    return BRIDGE_EXIT_FAILURE;
  }
  printf("owcp-bridge: migrations applied: %d\n", applied);
  return 0;
}

/* ---- serve ---------------------------------------------------------------
 */

static int http_start(struct bridge *b, struct owcp_error *err)
{
  struct svc_http_config c;
  if (routes_build(b, err) != 0)
    return -1;
  svc_http_config_defaults(&c);
  c.listen_host = b->cfg.listen.host;
  c.listen_port = b->cfg.listen.port;
  if (!b->cfg.insecure_http) {
    c.tls_cert_file = b->cfg.tls_cert;
    c.tls_key_file = b->cfg.tls_key;
    /* [wstep] auth = certificate: clients may present a certificate of
     * the bridge's CA (wstep_cert.c verifies it). */
    if (b->cfg.wstep_on && b->cfg.wstep.auth_certificate)
      c.tls_client_ca_file = b->cfg.wstep.ca_cert;
  }
  c.threads = BRIDGE_HTTP_THREADS;
  c.max_body = (size_t)b->cfg.max_body;
  /* A suspended SignCert sends nothing while the user decides. */
  c.idle_timeout_s = (unsigned)b->cfg.timeout + WAITERS_EXPIRY_GRACE_S + 60;
  c.routes = b->routes;
  c.route_count = b->route_count;
  c.health = bridge_healthz;
  c.metrics = b->metrics;
  c.app = b;
  if (svc_http_start(&c, &b->http, err) != 0)
    return -1;
  bool v6 = strchr(b->cfg.listen.host, ':') != NULL;
  snprintf(b->base_url, sizeof b->base_url, "%s://%s%s%s:%u",
           svc_http_scheme(b->http), v6 ? "[" : "", b->cfg.listen.host,
           v6 ? "]" : "", (unsigned)svc_http_port(b->http));
  return 0;
}

static int start(struct bridge *b, struct owcp_error *err)
{
  size_t recovered = 0;
  struct owcp_error why = {{0}};
  svc_log_set_level((enum svc_log_level)b->cfg.log_level);
  if (bridge_material_load(&b->cfg, &b->mat, err) != 0 ||
      (b->otpce = otpce_parser_new(0, err)) == NULL ||
      wstep_front_new(b, err) != 0 || confirm_start(b, err) != 0)
    return -1;
  b->otpce_policy = (struct otpce_policy){
      .identity = &b->cfg.idmap,
      .templates = (const char *const *)b->cfg.otpce.template.items,
      .template_count = b->cfg.otpce.template.count};
  b->pool = bridge_store_pool_new(
      b->cfg.db, BRIDGE_HTTP_THREADS + WAITERS_THREADS + 2, err);
  if (b->pool == NULL || bridge_metrics_start(b, err) != 0 ||
      (b->waiters = waiters_new(b, err)) == NULL || http_start(b, err) != 0)
    return -1;
  /* MRAS: after the waiters (it resumes its own pending questions). */
  if (b->cfg.mras_on && mras_front_start(b, err) == NULL)
    return -1;
  if (waiters_recover(b->waiters, "otpce", &recovered, &why) != 0)
    svc_log(SVC_LOG_WARN, "start",
            "pending confirmations not resumed (retried at the next "
            "start): %s",
            why.msg);
  else if (recovered > 0)
    svc_log(SVC_LOG_INFO, "start", "%zu pending confirmation(s) resumed",
            recovered);
  return 0;
}

/* SIGHUP: the log level from the file as it is now, the TLS files. */
static int reload(void *arg)
{
  struct bridge *b = arg;
  struct bridge_config now;
  struct owcp_error err = {{0}};
  int rc = 0;
  if (bridge_config_load(b->cfg.config_file, &now, &err) != 0) {
    svc_log(SVC_LOG_ERROR, "reload", "%s; keeping log level %s", err.msg,
            svc_log_level_name(svc_log_get_level()));
    rc = -1;
  } else {
    svc_log_set_level((enum svc_log_level)now.log_level);
    if (b->mras != NULL &&
        mras_front_reload(b->mras,
                          (const char *const *)now.mras.turn_secret_file.items,
                          now.mras.turn_secret_file.count, &err) != 0) {
      svc_log(SVC_LOG_ERROR, "reload", "%s", err.msg);
      rc = -1;
    }
    bridge_config_free(&now);
  }
  if (svc_http_reload(b->http, &err) != 0) {
    svc_log(SVC_LOG_ERROR, "reload", "%s", err.msg);
    rc = -1;
  }
  return rc;
}

/* Wakes every suspended request (svc_http_stop's wake callback). */
static void wake_suspended(void *arg)
{
  waiters_stop(arg);
}

static void stop(struct bridge *b)
{
  atomic_store(&b->stopping, true);
  svc_http_stop(b->http, BRIDGE_STOP_GRACE_MS, wake_suspended, b->waiters);
  b->http = NULL;
  mras_front_stop(b->mras); /* its waits see `stopping` and end */
  b->mras = NULL;
  waiters_stop(b->waiters);
  waiters_free(b->waiters);
  routes_free(b);
  confirm_service_free(b->confirm);
  bridge_store_pool_free(b->pool);
  otpce_parser_free(b->otpce);
  wstep_front_free(b);
  svc_metrics_free(b->metrics);
  bridge_material_free(&b->mat);
}

static int serve(struct bridge *b)
{
  struct owcp_error err = {{0}};
  if (start(b, &err) != 0) {
    svc_log(SVC_LOG_ERROR, "start", "%s", err.msg);
    fprintf(stderr, "owcp-bridge: %s\n", err.msg);
    stop(b);
    return BRIDGE_EXIT_FAILURE;
  }
  svc_log(SVC_LOG_INFO, "start", "serving %s%s", b->base_url,
          b->cfg.otpce_on ? b->cfg.otpce.path : "");
  int sig = svc_run(reload, b, b->base_url);
  svc_log(SVC_LOG_INFO, "stop", "signal %d: finishing requests in flight", sig);
  stop(b);
  svc_log(SVC_LOG_INFO, "stop", "stopped");
  return 0;
}

int main(int argc, char **argv)
{
  struct bridge b; /* the process's one context */
  const char *config = NULL, *account = NULL;
  enum command cmd;
  struct owcp_error err = {{0}};
  memset(&b, 0, sizeof b);
  int rc = parse_args(argc, argv, &config, &cmd, &account);
  if (rc != 0)
    return rc < 0 ? 0 : rc;
  if (bridge_config_load(config, &b.cfg, &err) != 0) {
    fprintf(stderr, "owcp-bridge: %s\n", err.msg);
    return BRIDGE_EXIT_CONFIG;
  }
  /* Before any thread: only svc_run() takes SIGTERM, SIGINT, SIGHUP. */
  svc_signals_init();
  xmlInitParser();
  sip_message_init();
  curl_global_init(CURL_GLOBAL_DEFAULT);
  if (cmd == CMD_MIGRATE)
    rc = migrate(&b.cfg);
  else if (cmd == CMD_CHECK)
    rc = check(&b);
  else if (cmd == CMD_CERTIFICATES)
    rc = bridge_certificates(&b.cfg, account);
  else
    rc = serve(&b);
  if (cmd == CMD_CHECK) {
    confirm_service_free(b.confirm);
    wstep_front_free(&b);
    bridge_material_free(&b.mat);
  }
  curl_global_cleanup();
  xmlCleanupParser();
  bridge_config_free(&b.cfg);
  return rc;
}
