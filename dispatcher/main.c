/*
 * main.c — owcp-dispatcher: options, start-up in dependency order (XML
 * validator, keys, database pool, LISTEN thread, HTTP, workers), a reload
 * on SIGHUP (TLS certificate and key, log level) and a clean shutdown on
 * SIGTERM/SIGINT that lets requests in flight finish (the process runtime
 * is the service layer's, owcp/service/daemon.h).
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <libxml/parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "certcache.h"
#include "context.h"
#include "http.h"
#include "keys.h"
#include "owcp/service/daemon.h"
#include "owcp/service/log.h"
#include "owcp/service/metrics.h"
#include "notify.h"
#include "workers.h"

static const char usage[] =
    "usage: owcp-dispatcher --db CONNINFO --listen HOST:PORT --domain DOMAIN\n"
    "         [--domain DOMAIN ...] (--tls-cert FILE --tls-key FILE | "
    "--insecure-http)\n"
    "         --key-dir DIR [--open] [--require-registration] [options]\n"
    "\n"
    "The OWCP dispatcher: a store-and-forward hub between requestors and\n"
    "clients, serving POST {base}/<Operation> at /owcp/0.1, the client CA at\n"
    "GET /owcp/0.1/CA and its health at GET /healthz.\n"
    "\n"
    "  --db CONNINFO          libpq connection string of the database\n"
    "                         (migrate it first: owcp-admin --db ... migrate)\n"
    "  --listen HOST:PORT     numeric address to listen on; [::1]:PORT for "
    "IPv6;\n"
    "                         port 0 picks a free port (see --ready-file)\n"
    "  --domain DOMAIN        a domain whose accounts this dispatcher serves\n"
    "                         (repeat for several)\n"
    "  --tls-cert FILE        PEM certificate (chain) for HTTPS\n"
    "  --tls-key FILE         PEM private key for HTTPS\n"
    "  --insecure-http        plain HTTP; allowed only on a loopback address;\n"
    "                         also accepts http Completion URIs on loopback\n"
    "  --key-dir DIR          where the client CA and the DR-Complete signing\n"
    "                         key live (created on first use, keys mode 0600)\n"
    "  --open                 open service: a new account may self-subscribe "
    "by\n"
    "                         registering a client (default: closed)\n"
    "  --require-registration requestors may confirm only with accounts they\n"
    "                         RD-Registered\n"
    "  --threads N            HTTP worker threads = database connections (32)\n"
    "  --max-body BYTES       request body limit (262144)\n"
    "  --max-wait SECONDS     longest long poll (60)\n"
    "  --default-timeout S    RD-Confirm Timeout when absent (300)\n"
    "  --max-timeout S        cap on RD-Confirm Timeout (86400)\n"
    "  --registration-timeout S  how long a device approval waits (600)\n"
    "  --max-connections N    simultaneous HTTP connections (16000)\n"
    "  --ready-file FILE      write the base URL to FILE once serving\n"
    "  --help                 this text\n"
    "\n"
    "Logs are JSON objects, one per line, on standard error. Exit status: 0\n"
    "after a clean shutdown (SIGTERM/SIGINT), 1 on a start-up failure, 4 on a\n"
    "usage error.\n";

bool dispatcher_serves_domain(const struct dispatcher *d, const char *domain)
{
  for (size_t i = 0; i < d->cfg.domain_count; i++)
    if (strcasecmp(d->cfg.domains[i], domain) == 0)
      return true;
  return false;
}

bool dispatcher_serves_account(const struct dispatcher *d, const char *account)
{
  const char *at = strrchr(account, '@');
  return at != NULL && dispatcher_serves_domain(d, at + 1);
}

static int usage_error(const char *msg)
{
  fprintf(stderr, "owcp-dispatcher: %s\n(see owcp-dispatcher --help)\n", msg);
  return 4;
}

static bool parse_int(const char *s, long lo, long hi, long *out)
{
  char *end;
  long v = strtol(s, &end, 10);
  if (*s == '\0' || *end != '\0' || v < lo || v > hi)
    return false;
  *out = v;
  return true;
}

/* Splits HOST:PORT (or [V6]:PORT) into cfg. Writes into buf. */
static bool parse_listen(char *arg, struct dispatcher_config *cfg)
{
  char *colon = strrchr(arg, ':');
  if (colon == NULL)
    return false;
  *colon = '\0';
  long port;
  if (!parse_int(colon + 1, 0, 65535, &port))
    return false;
  char *host = arg;
  if (host[0] == '[') {
    size_t n = strlen(host);
    if (n < 3 || host[n - 1] != ']')
      return false;
    host[n - 1] = '\0';
    host++;
  }
  cfg->listen_host = host;
  cfg->listen_port = (unsigned short)port;
  return true;
}

static bool is_loopback(const char *host)
{
  struct in_addr a4;
  struct in6_addr a6;
  if (inet_pton(AF_INET, host, &a4) == 1)
    return (ntohl(a4.s_addr) >> 24) == 127;
  if (inet_pton(AF_INET6, host, &a6) == 1)
    return IN6_IS_ADDR_LOOPBACK(&a6);
  return false;
}

enum {
  OPT_DB = 256,
  OPT_LISTEN,
  OPT_DOMAIN,
  OPT_TLS_CERT,
  OPT_TLS_KEY,
  OPT_INSECURE,
  OPT_KEY_DIR,
  OPT_OPEN,
  OPT_REQREG,
  OPT_THREADS,
  OPT_MAX_BODY,
  OPT_MAX_WAIT,
  OPT_DEF_TIMEOUT,
  OPT_MAX_TIMEOUT,
  OPT_REG_TIMEOUT,
  OPT_MAX_CONN,
  OPT_READY,
  OPT_HELP
};

static const struct option options[] = {
    {"db", required_argument, NULL, OPT_DB},
    {"listen", required_argument, NULL, OPT_LISTEN},
    {"domain", required_argument, NULL, OPT_DOMAIN},
    {"tls-cert", required_argument, NULL, OPT_TLS_CERT},
    {"tls-key", required_argument, NULL, OPT_TLS_KEY},
    {"insecure-http", no_argument, NULL, OPT_INSECURE},
    {"key-dir", required_argument, NULL, OPT_KEY_DIR},
    {"open", no_argument, NULL, OPT_OPEN},
    {"require-registration", no_argument, NULL, OPT_REQREG},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"max-body", required_argument, NULL, OPT_MAX_BODY},
    {"max-wait", required_argument, NULL, OPT_MAX_WAIT},
    {"default-timeout", required_argument, NULL, OPT_DEF_TIMEOUT},
    {"max-timeout", required_argument, NULL, OPT_MAX_TIMEOUT},
    {"registration-timeout", required_argument, NULL, OPT_REG_TIMEOUT},
    {"max-connections", required_argument, NULL, OPT_MAX_CONN},
    {"ready-file", required_argument, NULL, OPT_READY},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0}};

static void config_defaults(struct dispatcher_config *c)
{
  memset(c, 0, sizeof *c);
  c->threads = 32;
  c->max_body = (size_t)256 * 1024;
  c->max_wait = 60;
  c->default_timeout = 300;
  c->max_timeout = 86400;
  c->registration_timeout = 600;
  c->max_connections = 16000;
}

/* A numeric option into *out, or a usage error naming it. */
static int int_option(const char *name, const char *arg, long lo, long hi,
                      long *out)
{
  if (parse_int(arg, lo, hi, out))
    return 0;
  char msg[160];
  snprintf(msg, sizeof msg, "--%s must be an integer between %ld and %ld", name,
           lo, hi);
  return usage_error(msg);
}

/* Returns 0 to go on, -1 after --help, or an exit status. */
static int parse_options(int argc, char **argv, struct dispatcher_config *c)
{
  config_defaults(c);
  int o;
  long v = 0;
  while ((o = getopt_long(argc, argv, "", options, NULL)) != -1) {
    int rc = 0;
    switch (o) {
    case OPT_DB:
      c->db = optarg;
      break;
    case OPT_LISTEN:
      if (!parse_listen(optarg, c))
        return usage_error("--listen must be HOST:PORT with a numeric host");
      break;
    case OPT_DOMAIN:
      if (c->domain_count == DISPATCHER_MAX_DOMAINS)
        return usage_error("too many --domain options");
      c->domains[c->domain_count++] = optarg;
      break;
    case OPT_TLS_CERT:
      c->tls_cert = optarg;
      break;
    case OPT_TLS_KEY:
      c->tls_key = optarg;
      break;
    case OPT_INSECURE:
      c->insecure_http = true;
      break;
    case OPT_KEY_DIR:
      c->key_dir = optarg;
      break;
    case OPT_OPEN:
      c->open = true;
      break;
    case OPT_REQREG:
      c->require_registration = true;
      break;
    case OPT_THREADS:
      rc = int_option("threads", optarg, 1, 1024, &v);
      c->threads = (unsigned)v;
      break;
    case OPT_MAX_BODY:
      rc = int_option("max-body", optarg, 1024, 64L * 1024 * 1024, &v);
      c->max_body = (size_t)v;
      break;
    case OPT_MAX_WAIT:
      rc = int_option("max-wait", optarg, 0, 3600, &v);
      c->max_wait = (int)v;
      break;
    case OPT_DEF_TIMEOUT:
      rc = int_option("default-timeout", optarg, 1, 86400, &v);
      c->default_timeout = (int)v;
      break;
    case OPT_MAX_TIMEOUT:
      rc = int_option("max-timeout", optarg, 1, 86400, &v);
      c->max_timeout = (int)v;
      break;
    case OPT_REG_TIMEOUT:
      rc = int_option("registration-timeout", optarg, 1, 86400, &v);
      c->registration_timeout = (int)v;
      break;
    case OPT_MAX_CONN:
      rc = int_option("max-connections", optarg, 16, 1000000, &v);
      c->max_connections = (unsigned)v;
      break;
    case OPT_READY:
      c->ready_file = optarg;
      break;
    case OPT_HELP:
      fputs(usage, stdout);
      return -1;
    default:
      return usage_error("unknown option");
    }
    if (rc != 0)
      return rc;
  }
  if (optind != argc)
    return usage_error("unexpected argument");
  if (c->db == NULL || c->listen_host == NULL || c->domain_count == 0 ||
      c->key_dir == NULL)
    return usage_error("--db, --listen, --domain and --key-dir are required");
  if ((c->tls_cert == NULL) != (c->tls_key == NULL))
    return usage_error("--tls-cert and --tls-key go together");
  if ((c->tls_cert != NULL) == c->insecure_http)
    return usage_error("give either --tls-cert/--tls-key or --insecure-http");
  if (c->insecure_http && !is_loopback(c->listen_host))
    return usage_error("--insecure-http is allowed only on a loopback address");
  if (c->default_timeout > c->max_timeout)
    c->default_timeout = c->max_timeout;
  return 0;
}

static int write_ready_file(const char *path, const char *url)
{
  FILE *f = fopen(path, "w");
  if (f == NULL)
    return -1;
  int rc = fprintf(f, "%s\n", url) < 0 ? -1 : 0;
  return fclose(f) != 0 ? -1 : rc;
}

/* Certificate cache slots: 4096 × (65 B + a parsed certificate, ≈ 2 KiB)
 * bounds it near 8 MiB, and far more clients than that stay fast enough
 * (a miss costs one read and one parse). */
#define DISPATCHER_CERTCACHE_SLOTS 4096

/* The configured log threshold (start-up and SIGHUP). */
static int apply_log_level(const struct dispatcher *d)
{
  enum svc_log_level level = SVC_LOG_INFO;

  if (d->cfg.log_level != NULL &&
      svc_log_level_parse(d->cfg.log_level, &level) != 0) {
    svc_log(SVC_LOG_ERROR, "config",
            "log level '%s' is not error, warn, info or debug; keeping %s",
            d->cfg.log_level, svc_log_level_name(svc_log_get_level()));
    return -1;
  }
  svc_log_set_level(level);
  return 0;
}

static int start(struct dispatcher *d, struct owcp_error *err)
{
  struct owcp_xml_limits limits;
  if (apply_log_level(d) != 0) {
    owcp_error_set(err, "invalid log level");
    return -1;
  }
  d->metrics = svc_metrics_new();
  if (d->metrics == NULL) {
    owcp_error_set(err, "out of memory for the metrics registry");
    return -1;
  }
  owcp_xml_limits_default(&limits);
  d->xml = owcp_xml_validator_new(&limits, err);
  if (d->xml == NULL)
    return -1;
  if (keys_load_or_create(d->cfg.key_dir, d->cfg.domains[0], &d->keys, err))
    return -1;
  snprintf(d->system_address, sizeof d->system_address, "dispatcher@%s",
           d->cfg.domains[0]);
  d->pool = store_pool_new(d->cfg.db, d->cfg.threads + 2, err);
  if (d->pool == NULL)
    return -1;
  /* LEAD: once service/pgpool.c offers pool statistics, register
   * owcp_db_pool_connections_in_use and owcp_db_pool_waits_total here as
   * callback gauges (svc_metrics_gauge_fn) sampling d->pool. */
  d->notify = notify_new(d->cfg.db, err);
  if (d->notify == NULL)
    return -1;
  d->certs = certcache_new(DISPATCHER_CERTCACHE_SLOTS);
  if (d->certs == NULL) {
    owcp_error_set(err, "out of memory for the certificate cache");
    return -1;
  }
  if (http_start(d, err) != 0)
    return -1;
  if (sweeper_start(d, err) != 0 || outbox_start(d, err) != 0)
    return -1;
  return 0;
}

/* SIGHUP: the TLS certificate and key are re-read from their configured
 * paths and the log level applied again; nothing else changes. */
static int reload(void *arg)
{
  struct dispatcher *d = arg;
  struct owcp_error err = {{0}};
  int rc = apply_log_level(d);

  if (http_reload(d, &err) != 0) {
    svc_log(SVC_LOG_ERROR, "reload", "%s", err.msg);
    rc = -1;
  }
  return rc;
}

static void stop(struct dispatcher *d)
{
  atomic_store(&d->stopping, true);
  http_stop(d, 10000);
  sweeper_join(d);
  outbox_join(d);
  notify_free(d->notify);
  certcache_free(d->certs);
  store_pool_free(d->pool);
  keys_free(&d->keys);
  owcp_xml_validator_free(d->xml);
  svc_metrics_free(d->metrics);
}

int main(int argc, char **argv)
{
  struct dispatcher d;
  memset(&d, 0, sizeof d);
  int rc = parse_options(argc, argv, &d.cfg);
  if (rc != 0)
    return rc < 0 ? 0 : rc;

  /* Before any thread exists: every thread inherits the blocked mask, so
   * only svc_run() on this thread takes SIGTERM, SIGINT and SIGHUP. */
  svc_signals_init();
  svc_raise_fd_limit(d.cfg.max_connections);
  xmlInitParser();
  curl_global_init(CURL_GLOBAL_DEFAULT);

  struct owcp_error err = {{0}};
  if (start(&d, &err) != 0) {
    svc_log(SVC_LOG_ERROR, "start", "%s", err.msg);
    stop(&d);
    curl_global_cleanup();
    xmlCleanupParser();
    return 1;
  }
  svc_log(SVC_LOG_INFO, "start", "serving %s", d.base_url);
  if (d.cfg.ready_file && write_ready_file(d.cfg.ready_file, d.base_url))
    svc_log(SVC_LOG_WARN, "start", "cannot write --ready-file %s",
            d.cfg.ready_file);

  int sig = svc_run(reload, &d, d.base_url);
  svc_log(SVC_LOG_INFO, "stop", "signal %d: finishing requests in flight", sig);
  stop(&d);
  curl_global_cleanup();
  xmlCleanupParser();
  svc_log(SVC_LOG_INFO, "stop", "stopped");
  return 0;
}
