/*
 * console_main.c — `owcp-admin serve`: the audit console's command line,
 * its settings (flags over the configuration file's [admin] section over
 * its [dispatcher] section), start-up, the signal loop (SIGHUP re-reads
 * admin_users_file and the TLS files) and shutdown.
 */
#include "console.h"
#include "console_html.h"

#include "owcp/service/daemon.h"
#include "owcp/service/log.h"

#include <arpa/inet.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CONSOLE_THREADS 4
#define CONSOLE_MAX_BODY 16384 /* the sign-in form is small */

static const struct svc_route console_routes[] = {
    {.method = "GET", .path = "/", .handle = console_page_log},
    {.method = "GET", .path = "/login", .handle = console_login_form},
    {.method = "POST", .path = "/login", .handle = console_login},
    {.method = "POST", .path = "/logout", .handle = console_logout},
    {.method = "GET", .path = "/tx/*", .handle = console_page_tx},
    {.method = "GET", .path = "/receipt/*", .handle = console_receipt},
    {.method = "GET", .path = "/verify", .handle = console_page_verify},
    {.method = "GET", .path = "/export", .handle = console_export},
    {.method = "GET", .path = "/style.css", .handle = console_stylesheet},
};

/* The command line of serve. */
struct serve_args {
  const char *config, *db, *users_file, *key_dir;
  const char *listen, *tls_cert, *tls_key, *ready_file;
  bool insecure_http;
};

/* Everything serve resolved, and what it owns. */
struct serve {
  struct admin_file file;
  bool loaded;
  const char *db, *users_file, *key_dir;
  char host[64];
  unsigned short port;
  struct console c;
  struct svc_http *http;
};

static int parse_args(int argc, char **argv, struct serve_args *a)
{
  static const struct option opts[] = {
      {"config", required_argument, NULL, 'c'},
      {"db", required_argument, NULL, 'd'},
      {"admin-users-file", required_argument, NULL, 'u'},
      {"key-dir", required_argument, NULL, 'k'},
      {"listen", required_argument, NULL, 'l'},
      {"tls-cert", required_argument, NULL, 'C'},
      {"tls-key", required_argument, NULL, 'K'},
      {"insecure-http", no_argument, NULL, 'i'},
      {"ready-file", required_argument, NULL, 'r'},
      {NULL, 0, NULL, 0}};
  int c;

  optind = 0; /* glibc: 0 fully re-initialises getopt */
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case 'c':
      a->config = optarg;
      break;
    case 'd':
      a->db = optarg;
      break;
    case 'u':
      a->users_file = optarg;
      break;
    case 'k':
      a->key_dir = optarg;
      break;
    case 'l':
      a->listen = optarg;
      break;
    case 'C':
      a->tls_cert = optarg;
      break;
    case 'K':
      a->tls_key = optarg;
      break;
    case 'r':
      a->ready_file = optarg;
      break;
    case 'i':
      a->insecure_http = true;
      break;
    default:
      return admin_usage_error("serve: unknown option");
    }
  }
  if (optind != argc)
    return admin_usage_error("serve: unexpected argument '%s'", argv[optind]);
  if (a->listen == NULL)
    return admin_usage_error("serve: --listen HOST:PORT is required");
  if ((a->tls_cert == NULL) != (a->tls_key == NULL))
    return admin_usage_error("serve: --tls-cert and --tls-key go together");
  if ((a->tls_cert != NULL) == a->insecure_http)
    return admin_usage_error(
        "serve: pass --tls-cert F --tls-key F, or --insecure-http");
  return EXIT_OK;
}

/* HOST:PORT or [V6]:PORT, numeric, into s->host and s->port. */
static int parse_listen(const char *v, struct serve *s)
{
  const char *colon = v != NULL ? strrchr(v, ':') : NULL;
  const char *host = v;
  size_t n = colon != NULL ? (size_t)(colon - v) : 0;
  unsigned char addr[16];
  char *end;
  long port;

  if (n >= 2 && v[0] == '[' && v[n - 1] == ']') {
    host = v + 1;
    n -= 2;
  }
  if (colon == NULL || n == 0 || n >= sizeof s->host)
    return admin_usage_error("serve: --listen '%s' is not HOST:PORT",
                             v != NULL ? v : "");
  memcpy(s->host, host, n);
  s->host[n] = '\0';
  port = strtol(colon + 1, &end, 10);
  if (colon[1] == '\0' || *end != '\0' || port < 0 || port > 65535 ||
      (inet_pton(AF_INET, s->host, addr) != 1 &&
       inet_pton(AF_INET6, s->host, addr) != 1))
    return admin_usage_error(
        "serve: --listen '%s': a numeric address and a port 0-65535", v);
  s->port = (unsigned short)port;
  return EXIT_OK;
}

/* The configuration file (if any) and the settings over it. */
static int resolve(struct serve *s, const struct serve_args *a,
                   const char *global_db, const char *global_config)
{
  struct owcp_error err = {{0}};
  const char *config = a->config ? a->config : global_config;
  const char *db = a->db ? a->db : global_db;
  const struct admin_config *ad = &s->file.dispatcher.admin;

  if (db == NULL && config == NULL && getenv("OWCP_DB") == NULL &&
      access(DISPATCHER_DEFAULT_CONFIG, F_OK) == 0)
    config = DISPATCHER_DEFAULT_CONFIG;
  if (config != NULL) {
    if (dispatcher_config_from_file(config, &s->file.dispatcher, &err) != 0)
      return admin_usage_error("%s", err.msg);
    s->loaded = true;
  }
  s->db = db ? db : ad->db ? ad->db : s->file.dispatcher.db;
  if (s->db == NULL)
    s->db = getenv("OWCP_DB");
  s->users_file = a->users_file ? a->users_file : ad->admin_users_file;
  s->key_dir = a->key_dir    ? a->key_dir
               : ad->key_dir ? ad->key_dir
                             : s->file.dispatcher.key_dir;
  if (s->db == NULL)
    return admin_usage_error("serve: no database: --db, --config or OWCP_DB");
  if (s->users_file == NULL)
    return admin_usage_error("serve: no administrators: --admin-users-file "
                             "or [admin] admin_users_file");
  if (s->key_dir == NULL)
    return admin_usage_error("serve: no key directory: --key-dir or [admin] "
                             "key_dir (to check receipts and log heads)");
  snprintf(s->c.signing_cert, sizeof s->c.signing_cert, "%s/signing.pem",
           s->key_dir);
  snprintf(s->c.users_file, sizeof s->c.users_file, "%s", s->users_file);
  if (ad->log_head_file != NULL)
    snprintf(s->c.head_file, sizeof s->c.head_file, "%s", ad->log_head_file);
  else if (s->loaded && a->key_dir == NULL)
    return dispatcher_log_head_path(&s->file.dispatcher, s->c.head_file,
                                    sizeof s->c.head_file, &err) != 0
               ? admin_usage_error("%s", err.msg)
               : EXIT_OK;
  else
    snprintf(s->c.head_file, sizeof s->c.head_file, "%s/log-heads.jsonl",
             s->key_dir);
  return EXIT_OK;
}

/* The parts the handlers use: validator, client CA, users, pool. */
static int open_parts(struct serve *s)
{
  struct owcp_error err = {{0}};
  char ca[PATH_MAX];
  unsigned char *pem = NULL;
  size_t len = 0;

  s->c.validator = owcp_xml_validator_new(NULL, &err);
  if (s->c.validator == NULL)
    return admin_db_error(&err);
  snprintf(ca, sizeof ca, "%s/client-ca.pem", s->key_dir);
  if (owcp_file_read(ca, 1 << 20, &pem, &len, &err) != 0)
    svc_log(SVC_LOG_WARN, "console",
            "no client CA (%s): receipts will show "
            "as not verified",
            err.msg);
  s->c.client_ca_pem = (char *)pem;
  if (console_users_load(&s->c, s->users_file, &err) != 0) {
    fprintf(stderr, "owcp-admin: %s\n", err.msg);
    return EXIT_USAGE;
  }
  s->c.pool = store_pool_new(s->db, CONSOLE_THREADS + 1, &err);
  return s->c.pool == NULL ? admin_db_error(&err) : EXIT_OK;
}

static int start_http(struct serve *s, const struct serve_args *a)
{
  struct svc_http_config hc;
  struct owcp_error err = {{0}};

  svc_http_config_defaults(&hc);
  hc.listen_host = s->host;
  hc.listen_port = s->port;
  hc.tls_cert_file = a->tls_cert;
  hc.tls_key_file = a->tls_key;
  hc.threads = CONSOLE_THREADS;
  hc.max_connections = 256;
  hc.per_ip_connections = 64;
  hc.max_body = CONSOLE_MAX_BODY;
  hc.drain_timeout_ms = 10000;
  hc.routes = console_routes;
  hc.route_count = sizeof console_routes / sizeof console_routes[0];
  hc.app = &s->c;
  s->c.tls = a->tls_cert != NULL;
  if (svc_http_start(&hc, &s->http, &err) != 0) {
    fprintf(stderr, "owcp-admin: serve: %s\n", err.msg);
    return EXIT_FAILED;
  }
  return EXIT_OK;
}

/* SIGHUP: the administrators and the TLS files again. */
static int reload(void *arg)
{
  struct serve *s = arg;
  struct owcp_error err = {{0}};

  if (console_users_load(&s->c, s->c.users_file, &err) != 0 ||
      svc_http_reload(s->http, &err) != 0) {
    svc_log(SVC_LOG_ERROR, "reload", "%s", err.msg);
    return -1;
  }
  svc_log(SVC_LOG_INFO, "reload", "administrators and TLS files re-read");
  return 0;
}

static int write_ready(const char *path, const char *url)
{
  FILE *f = fopen(path, "w");
  int rc;

  if (f == NULL)
    return -1;
  rc = fprintf(f, "%s\n", url) < 0 ? -1 : 0;
  return fclose(f) != 0 ? -1 : rc;
}

static void serve_free(struct serve *s)
{
  svc_http_stop(s->http, 5000, NULL, NULL);
  store_pool_free(s->c.pool);
  owcp_xml_validator_free(s->c.validator);
  free(s->c.client_ca_pem);
  console_users_free(&s->c);
  pthread_mutex_destroy(&s->c.lock);
  if (s->loaded)
    dispatcher_config_free(&s->file.dispatcher);
}

int admin_cmd_serve(int argc, char **argv, const char *global_db,
                    const char *global_config)
{
  struct serve_args a = {0};
  struct serve *s = calloc(1, sizeof *s);
  char url[128];
  int rc;

  if (s == NULL)
    return EXIT_DB;
  pthread_mutex_init(&s->c.lock, NULL);
  rc = parse_args(argc, argv, &a);
  if (rc == EXIT_OK)
    rc = parse_listen(a.listen, s);
  if (rc == EXIT_OK && a.insecure_http && strcmp(s->host, "::1") != 0 &&
      !owcp_host_is_loopback(s->host))
    rc = admin_usage_error("serve: --insecure-http only on a loopback "
                           "address (127.0.0.1, ::1)");
  if (rc == EXIT_OK)
    rc = resolve(s, &a, global_db, global_config);
  /* Before any thread: the signals belong to svc_run on this thread. */
  svc_signals_init();
  if (rc == EXIT_OK)
    rc = open_parts(s);
  if (rc == EXIT_OK)
    rc = start_http(s, &a);
  if (rc == EXIT_OK) {
    snprintf(url, sizeof url, "%s://%s%s%s:%u", svc_http_scheme(s->http),
             strchr(s->host, ':') ? "[" : "", s->host,
             strchr(s->host, ':') ? "]" : "", svc_http_port(s->http));
    svc_log(SVC_LOG_INFO, "start", "audit console at %s", url);
    if (a.ready_file != NULL && write_ready(a.ready_file, url) != 0)
      svc_log(SVC_LOG_WARN, "start", "cannot write --ready-file %s",
              a.ready_file);
    svc_run(reload, s, url);
  }
  serve_free(s);
  free(s);
  return rc;
}
