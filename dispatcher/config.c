/*
 * config.c — owcp-dispatcher's configuration (see config.h): the key
 * table, the flags generated from it, the usage text, and the rules that
 * involve several keys. Precedence: defaults < file < flags.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "owcp/util.h"
#include "owcp/service/version.h"

static const char usage[] =
    "usage: owcp-dispatcher [--config FILE] [options]\n"
    "       owcp-dispatcher check [--config FILE] [options]\n"
    "       owcp-dispatcher --db CONNINFO --listen HOST:PORT --domain DOMAIN\n"
    "         [--domain DOMAIN ...] (--tls-cert FILE --tls-key FILE | "
    "--insecure-http)\n"
    "         --key-dir DIR [--open] [--require-registration] [options]\n"
    "\n"
    "The OWCP dispatcher: a store-and-forward hub between requestors and\n"
    "clients, serving POST {base}/<Operation> at /owcp/0.1, the client CA at\n"
    "GET /owcp/0.1/CA, the newest signed log head at GET /owcp/0.1/Log-Head\n"
    "and its health at GET /healthz.\n"
    "\n"
    "Settings come from the [dispatcher] section of a configuration file\n"
    "(--config FILE; without --config and without any other "
    "flag, " DISPATCHER_DEFAULT_CONFIG ")\n"
    "and from flags, which override the file: every key has a flag of the\n"
    "same name with '-' for '_' (key_dir is --key-dir; yes/no keys are flags\n"
    "without a value), and a repeated flag replaces the file's list. See\n"
    "docs/configuration.md. 'check' validates the configuration (and that\n"
    "the TLS files and key directory are usable) and exits.\n"
    "\n"
    "  --config FILE          the configuration file\n"
    "  --db CONNINFO          libpq connection string of the database, no\n"
    "                         password (use PGPASSFILE or service=NAME);\n"
    "                         migrate it first: owcp-admin --db ... migrate\n"
    "  --listen HOST:PORT     numeric address to listen on; [::1]:PORT for "
    "IPv6;\n"
    "                         port 0 picks a free port (see --ready-file)\n"
    "  --domain DOMAIN        a domain whose accounts this dispatcher serves\n"
    "                         (repeat for several)\n"
    "  --tls-cert FILE        PEM certificate (chain) for HTTPS\n"
    "  --tls-key FILE         PEM private key for HTTPS (mode 0600 or "
    "stricter)\n"
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
    "  --per-ip-connections N simultaneous HTTP connections from one client\n"
    "                         address (256)\n"
    "  --header-timeout S     time a client has to send the request line and\n"
    "                         headers (10)\n"
    "  --body-timeout S       time a client has to send the body after the\n"
    "                         headers (30)\n"
    "  --longpolls-per-token N  long polls (CD-List, RD-Status) waiting at "
    "once\n"
    "                         per bearer token; more get 429 (8)\n"
    "  --ready-file FILE      write the base URL to FILE once serving\n"
    "  --completion-max N     DR-Complete deliveries in flight at once (64)\n"
    "  --completion-per-host N  ... per destination host and port (4)\n"
    "  --completion-timeout S longest DR-Complete attempt (15)\n"
    "  --approvals-per-hour N device approvals asked per account and hour (5)\n"
    "  --register-per-minute-per-address N  CD-Register without Transaction\n"
    "                         per client address (IPv6: /64) and minute (20)\n"
    "  --not-me-block S       how long a \"Not Me\" report blocks that\n"
    "                         requestor from that account (86400)\n"
    "  --log-level LEVEL      error, warn, info (default) or debug\n"
    "  --log-head-interval S  seconds between signed log heads (60)\n"
    "  --log-head-file FILE   append every signed log head to FILE\n"
    "                         (default KEY_DIR/log-heads.jsonl)\n"
    "  --version              print the version\n"
    "  --help                 this text\n"
    "\n"
    "Logs are JSON objects, one per line, on standard error. Exit status: 0\n"
    "after a clean shutdown (SIGTERM/SIGINT) or a passing check, 1 on a\n"
    "start-up failure or a check that finds a file unusable, 4 on a usage or\n"
    "configuration error.\n";

static const char *const log_levels[] = {"error", "warn", "info", "debug",
                                         NULL};

#define C struct dispatcher_config
const struct svc_cfg_key dispatcher_config_keys[] = {
    SVC_CFG_STRING(C, db, "db", SVC_CFG_REQUIRED, NULL,
                   "libpq connection string of the database (no password)"),
    SVC_CFG_LISTEN(C, listen, "listen", SVC_CFG_REQUIRED, NULL,
                   "numeric HOST:PORT or [V6]:PORT to listen on; port 0: any"),
    SVC_CFG_LIST_OF(C, domain, "domain", SVC_CFG_REQUIRED, SVC_CFG_T_STRING,
                    NULL, "a domain whose accounts this dispatcher serves"),
    SVC_CFG_PATH(C, tls_cert, "tls_cert", 0, NULL, "PEM certificate chain"),
    SVC_CFG_SECRET(C, tls_key, "tls_key", 0, "PEM private key (mode 0600)"),
    SVC_CFG_BOOL(C, insecure_http, "insecure_http", 0, "no",
                 "plain HTTP, loopback listen address only"),
    SVC_CFG_PATH(C, key_dir, "key_dir", SVC_CFG_REQUIRED, NULL,
                 "client CA and DR-Complete signing key directory"),
    SVC_CFG_BOOL(C, open, "open", 0, "no", "accounts may self-subscribe"),
    SVC_CFG_BOOL(C, require_registration, "require_registration", 0, "no",
                 "confirm only with RD-Registered accounts"),
    SVC_CFG_INT(C, threads, "threads", 0, "32", 1, 1024,
                "HTTP worker threads = database connections"),
    SVC_CFG_INT(C, max_body, "max_body", 0, "262144", 1024, 64L * 1024 * 1024,
                "request body limit in bytes"),
    SVC_CFG_INT(C, max_wait, "max_wait", 0, "60", 0, 3600,
                "longest long poll in seconds"),
    SVC_CFG_INT(C, default_timeout, "default_timeout", 0, "300", 1, 86400,
                "RD-Confirm Timeout when absent"),
    SVC_CFG_INT(C, max_timeout, "max_timeout", 0, "86400", 1, 86400,
                "cap on RD-Confirm Timeout"),
    SVC_CFG_INT(C, registration_timeout, "registration_timeout", 0, "600", 1,
                86400, "seconds a device approval waits"),
    SVC_CFG_INT(C, max_connections, "max_connections", 0, "16000", 16, 1000000,
                "simultaneous HTTP connections"),
    SVC_CFG_INT(C, per_ip_connections, "per_ip_connections", 0, "256", 1,
                1000000, "simultaneous HTTP connections from one address"),
    SVC_CFG_INT(C, header_timeout, "header_timeout", 0, "10", 1, 3600,
                "seconds a client has to send request line and headers"),
    SVC_CFG_INT(C, body_timeout, "body_timeout", 0, "30", 1, 3600,
                "seconds a client has to send the body after the headers"),
    SVC_CFG_INT(C, longpolls_per_token, "longpolls_per_token", 0, "8", 1,
                100000, "CD-List/RD-Status long polls waiting per token"),
    SVC_CFG_PATH(C, ready_file, "ready_file", 0, NULL,
                 "written with the base URL once serving"),
    SVC_CFG_ENUM(C, log_level, "log_level", 0, "info", log_levels,
                 "error, warn, info or debug"),
    /* Signed log heads (spec §10, log_head.c). */
    SVC_CFG_INT(C, log_head_interval, "log_head_interval", 0, "60", 1, 86400,
                "seconds between signed log heads"),
    SVC_CFG_PATH(C, log_head_file, "log_head_file", 0, NULL,
                 "file every signed log head is appended to "
                 "(default key_dir/log-heads.jsonl)"),
    SVC_CFG_INT(C, completion_max, "completion_max", 0, "64", 1, 4096,
                "DR-Complete deliveries in flight at once"),
    SVC_CFG_INT(C, completion_per_host, "completion_per_host", 0, "4", 1, 256,
                "DR-Complete deliveries in flight per destination host"),
    SVC_CFG_INT(C, completion_timeout, "completion_timeout", 0, "15", 1, 40,
                "seconds one DR-Complete attempt may take"),
    /* Device approvals and "Not Me" (spec §5, cd_register.c, cd_reply.c). */
    SVC_CFG_INT(C, approvals_per_hour, "approvals_per_hour", 0, "5", 1, 1000,
                "device approvals asked per account and hour"),
    SVC_CFG_INT(C, register_per_minute, "register_per_minute_per_address", 0,
                "20", 1, 1000000,
                "unauthenticated CD-Register per client address and minute"),
    SVC_CFG_INT(C, not_me_block, "not_me_block", 0, "86400", 1, 31536000,
                "seconds a \"Not Me\" report blocks that requestor"),
    SVC_CFG_KEY_END};
#undef C

/* [admin]: the audit console's settings (owcp-admin serve). */
#define A struct admin_config
const struct svc_cfg_key admin_config_keys[] = {
    SVC_CFG_STRING(A, db, "db", 0, NULL,
                   "libpq conninfo for the console (default: [dispatcher] "
                   "db)"),
    SVC_CFG_PATH(A, admin_users_file, "admin_users_file", 0, NULL,
                 "administrators, one name:hash a line (owcp-admin passwd)"),
    SVC_CFG_PATH(A, key_dir, "key_dir", 0, NULL,
                 "the dispatcher's key directory (default: [dispatcher] "
                 "key_dir)"),
    SVC_CFG_PATH(A, log_head_file, "log_head_file", 0, NULL,
                 "the signed log heads (default: the dispatcher's)"),
    SVC_CFG_KEY_END};
#undef A

const struct svc_cfg_section dispatcher_config_sections[] = {
    SVC_CFG_SECTION("dispatcher", dispatcher_config_keys),
    SVC_CFG_SECTION_SWITCHED("admin", admin_config_keys,
                             struct dispatcher_config, admin, admin_section),
    SVC_CFG_SECTION_END};

/* Room for the generated getopt table: one flag per key plus the rest. */
#define FLAG_MAX 40
#define FLAG_NAME_MAX 40

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

int dispatcher_log_head_path(const struct dispatcher_config *cfg, char *out,
                             size_t size, struct owcp_error *err)
{
  int n = cfg->log_head_file != NULL
              ? snprintf(out, size, "%s", cfg->log_head_file)
              : snprintf(out, size, "%s/log-heads.jsonl",
                         cfg->key_dir ? cfg->key_dir : ".");
  if (n < 0 || (size_t)n >= size) {
    owcp_error_set(err, "[dispatcher] log_head_file: the path is too long");
    return -1;
  }
  return 0;
}

void dispatcher_config_free(struct dispatcher_config *cfg)
{
  free(cfg->config_file);
  svc_config_free(dispatcher_config_sections, cfg);
  memset(cfg, 0, sizeof *cfg);
}

/* The rules that involve several keys, then the members derived for
 * readers that predate the table (listen_host, domains). */
static int finish(struct dispatcher_config *c, const char *where,
                  struct owcp_error *err)
{
  const char *w = where ? where : "", *sep = where ? ": " : "";
  if (svc_config_check(dispatcher_config_sections, c, where, err) != 0)
    return -1;
  if ((c->tls_cert == NULL) != (c->tls_key == NULL)) {
    owcp_error_set(err, "%s%s[dispatcher] %s: tls_cert and tls_key go together",
                   w, sep, c->tls_cert ? "tls_key" : "tls_cert");
    return -1;
  }
  if ((c->tls_cert != NULL) == c->insecure_http) {
    owcp_error_set(err,
                   "%s%s[dispatcher] insecure_http: give either tls_cert and "
                   "tls_key, or insecure_http = yes",
                   w, sep);
    return -1;
  }
  if (c->insecure_http && !owcp_host_is_loopback(c->listen.host)) {
    owcp_error_set(err,
                   "%s%s[dispatcher] insecure_http: allowed only on a loopback "
                   "listen address, not %s",
                   w, sep, c->listen.host);
    return -1;
  }
  if (c->default_timeout > c->max_timeout)
    c->default_timeout = c->max_timeout;
  c->listen_host = c->listen.host;
  c->listen_port = c->listen.port;
  c->domains = c->domain.items;
  c->domain_count = c->domain.count;
  return 0;
}

int dispatcher_config_from_file(const char *path, struct dispatcher_config *cfg,
                                struct owcp_error *err)
{
  if (svc_config_read(path, dispatcher_config_sections, cfg, err) != 0)
    return -1;
  if (finish(cfg, path, err) != 0) {
    dispatcher_config_free(cfg);
    return -1;
  }
  return 0;
}

static int readable(const char *key, const char *path, struct owcp_error *err)
{
  FILE *f = fopen(path, "r");
  if (f == NULL) {
    owcp_error_set(err, "[dispatcher] %s: cannot read %s: %s", key, path,
                   strerror(errno));
    return -1;
  }
  fclose(f);
  return 0;
}

int dispatcher_config_check_files(const struct dispatcher_config *cfg,
                                  struct owcp_error *err)
{
  struct stat st;
  if (cfg->tls_cert != NULL && (readable("tls_cert", cfg->tls_cert, err) ||
                                readable("tls_key", cfg->tls_key, err)))
    return -1;
  if (stat(cfg->key_dir, &st) != 0) {
    if (errno == ENOENT) /* created on first start */
      return 0;
    owcp_error_set(err, "[dispatcher] key_dir: cannot use %s: %s", cfg->key_dir,
                   strerror(errno));
    return -1;
  }
  if (!S_ISDIR(st.st_mode)) {
    owcp_error_set(err, "[dispatcher] key_dir: %s is not a directory",
                   cfg->key_dir);
    return -1;
  }
  if (access(cfg->key_dir, R_OK | W_OK | X_OK) != 0) {
    owcp_error_set(err, "[dispatcher] key_dir: cannot use %s: %s", cfg->key_dir,
                   strerror(errno));
    return -1;
  }
  return 0;
}

/* ---- the command line ------------------------------------------------ */

enum { OPT_KEY = 256, OPT_CONFIG, OPT_VERSION, OPT_HELP };

/* The command line, parsed but not yet applied. */
struct args {
  const char *config;
  bool help, version, check;
  struct svc_cfg_setting *settings; /* argc entries */
  size_t n;
  char (*origins)[FLAG_NAME_MAX + 2]; /* "--flag" of each setting */
};

/* One flag per key (key_dir: --key-dir), then --config, --version, --help:
 * a flag's index in opts is its key's index in the table. names holds the
 * flag spellings. */
static void flag_table(struct option *opts, char (*names)[FLAG_NAME_MAX])
{
  size_t n = 0;
  for (const struct svc_cfg_key *k = dispatcher_config_keys;
       k->name != NULL && n < FLAG_MAX; k++) {
    snprintf(names[n], FLAG_NAME_MAX, "%s", k->name);
    for (char *p = names[n]; *p; p++)
      if (*p == '_')
        *p = '-';
    bool flag_only = k->type == SVC_CFG_T_BOOL;
    opts[n] = (struct option){
        names[n], flag_only ? no_argument : required_argument, NULL, OPT_KEY};
    n++;
  }
  opts[n] = (struct option){"config", required_argument, NULL, OPT_CONFIG};
  opts[n + 1] = (struct option){"version", no_argument, NULL, OPT_VERSION};
  opts[n + 2] = (struct option){"help", no_argument, NULL, OPT_HELP};
  opts[n + 3] = (struct option){NULL, 0, NULL, 0};
}

static int usage_error(const char *msg)
{
  fprintf(stderr, "owcp-dispatcher: %s\n(see owcp-dispatcher --help)\n", msg);
  return DISPATCHER_EXIT_CONFIG;
}

/* Collects argv into a; 0, or an exit status after a usage error. */
static int parse_args(int argc, char **argv, struct args *a)
{
  struct option opts[FLAG_MAX + 4];
  char names[FLAG_MAX][FLAG_NAME_MAX];
  int o, idx = 0;

  flag_table(opts, names);

  optind = 0; /* glibc: 0 fully re-initialises getopt */
  while ((o = getopt_long(argc, argv, "", opts, &idx)) != -1) {
    switch (o) {
    case OPT_KEY: {
      struct svc_cfg_setting *s = &a->settings[a->n];
      *s = (struct svc_cfg_setting){"dispatcher",
                                    dispatcher_config_keys[idx].name,
                                    optarg ? optarg : "yes", a->origins[a->n]};
      snprintf(a->origins[a->n], sizeof a->origins[a->n], "--%s",
               opts[idx].name);
      a->n++;
      break;
    }
    case OPT_CONFIG:
      a->config = optarg;
      break;
    case OPT_VERSION:
      a->version = true;
      break;
    case OPT_HELP:
      a->help = true;
      break;
    default:
      return usage_error("unknown option");
    }
  }
  if (optind < argc && strcmp(argv[optind], "check") == 0) {
    a->check = true;
    optind++;
  }
  if (optind != argc)
    return usage_error("unexpected argument");
  return 0;
}

/* The file (if any), the flags over it, the rules. 0 or -1 with err. */
static int load(const struct args *a, struct dispatcher_config *cfg,
                struct owcp_error *err)
{
  const char *file = a->config;
  if (file == NULL && a->n == 0)
    file = DISPATCHER_DEFAULT_CONFIG;
  int rc = file != NULL
               ? svc_config_read(file, dispatcher_config_sections, cfg, err)
               : svc_config_defaults(dispatcher_config_sections, cfg, err);
  if (rc != 0) {
    if (a->config == NULL && file != NULL)
      snprintf(err->msg + strlen(err->msg), sizeof err->msg - strlen(err->msg),
               " (no --config and no flags given: the default file)");
    return -1;
  }
  if (svc_config_apply(dispatcher_config_sections, a->settings, a->n, cfg,
                       err) != 0 ||
      finish(cfg, file, err) != 0) {
    dispatcher_config_free(cfg);
    return -1;
  }
  /* SIGHUP re-reads the file's log_level unless a flag set it. */
  for (size_t i = 0; i < a->n; i++)
    if (strcmp(a->settings[i].key, "log_level") == 0)
      cfg->log_level_from_flag = true;
  if (file != NULL && (cfg->config_file = strdup(file)) == NULL) {
    owcp_error_set(err, "out of memory");
    dispatcher_config_free(cfg);
    return -1;
  }
  return 0;
}

/* What `owcp-dispatcher check` prints and returns once *cfg is loaded. */
static int check_result(struct dispatcher_config *cfg)
{
  struct owcp_error err = {{0}};
  int rc = dispatcher_config_check_files(cfg, &err);
  if (rc != 0)
    fprintf(stderr, "owcp-dispatcher: %s\n", err.msg);
  else
    printf("owcp-dispatcher: configuration OK\n");
  dispatcher_config_free(cfg);
  return rc != 0 ? DISPATCHER_EXIT_UNUSABLE : 0;
}

bool dispatcher_config_from_args(int argc, char **argv,
                                 struct dispatcher_config *cfg,
                                 int *exit_status)
{
  struct owcp_error err = {{0}};
  struct args a = {0};
  memset(cfg, 0, sizeof *cfg);
  a.settings = calloc((size_t)argc + 1, sizeof *a.settings);
  a.origins = calloc((size_t)argc + 1, sizeof *a.origins);
  if (a.settings == NULL || a.origins == NULL)
    *exit_status = usage_error("out of memory");
  else if ((*exit_status = parse_args(argc, argv, &a)) != 0)
    ;
  else if (a.help)
    fputs(usage, stdout);
  else if (a.version)
    printf("owcp-dispatcher %s\n", OWCP_VERSION);
  else if (load(&a, cfg, &err) != 0)
    *exit_status = usage_error(err.msg);
  else if (a.check)
    *exit_status = check_result(cfg);
  else {
    free(a.settings);
    free(a.origins);
    return true;
  }
  free(a.settings);
  free(a.origins);
  return false;
}
