/*
 * owcp-admin.c — the administrator's command: migrations, accounts,
 * enrollment codes, requestors, clients and the confirmation log. Talks to
 * the database only through store.h; every change it makes is logged by
 * the stored procedures.
 */
#include "config.h"
#include "logchain.h"
#include "store.h"

#include "owcp/service/version.h"

#include <ctype.h>
#include <getopt.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
  EXIT_OK = 0,
  EXIT_FAILED = 1, /* refused / not found / conflict / chain broken */
  EXIT_USAGE = 2,
  EXIT_DB = 3 /* database unreachable or failed */
};

static const char usage_text[] =
    "usage: owcp-admin [--config FILE | --db CONNINFO] COMMAND [ARGS]\n"
    "\n"
    "Administers an owcp-dispatcher database.\n"
    "\n"
    "Global options:\n"
    "  --config FILE    the dispatcher's configuration file: its [dispatcher]\n"
    "                   db is the database (the whole file is validated)\n"
    "  --db CONNINFO    libpq connection string; overrides --config (default:\n"
    "                   $OWCP_DB, else " DISPATCHER_DEFAULT_CONFIG "\n"
    "                   when it exists). No password: use PGPASSFILE or\n"
    "                   service=NAME (docs/configuration.md)\n"
    "  --sql-dir DIR    migrations directory for 'migrate' (default:\n"
    "                   <dir of owcp-admin>/../share/owcp/sql/dispatcher,\n"
    "                   then the installed share/owcp/sql/dispatcher)\n"
    "  --version        print the version\n"
    "  -h, --help       this text\n"
    "\n"
    "Commands:\n"
    "  migrate                          apply pending NNN_*.sql migrations,\n"
    "                                   then every procedures/*.sql\n"
    "  account add ADDRESS              create an account (local@domain)\n"
    "  account disable ADDRESS          disable an account\n"
    "  account list                     list accounts\n"
    "  code issue ACCOUNT [--ttl SECS]  issue a one-time enrollment code\n"
    "                                   (default ttl 86400; printed once)\n"
    "  requestor add ADDRESS [--rate N] add a requestor (default 600 per\n"
    "                                   minute); prints its bearer token once\n"
    "  requestor disable ADDRESS        disable a requestor\n"
    "  requestor list                   list requestors\n"
    "  client list [ACCOUNT]            list clients\n"
    "  client revoke ID                 revoke a client (token stops working)\n"
    "  log show [--account A] [--requestor R] [--transaction T]\n"
    "           [--event E] [--since TIME] [--until TIME] [--json]\n"
    "                                   print log entries (TIME is RFC 3339;\n"
    "                                   --json prints one object per line)\n"
    "  log verify                       seal, then verify the hash chain\n"
    "\n"
    "Secrets (tokens, codes) are printed once and stored only as SHA-256.\n"
    "\n"
    "Exit status: 0 success; 1 refused, not found, already exists, or the\n"
    "log chain is broken (the first broken position is printed); 2 usage\n"
    "error; 3 database unavailable or database error.\n";

struct admin {
  struct store *st;
  const char *sql_dir;
};

/* What owcp-admin reads from a configuration file: the dispatcher's
 * section (an [admin] section would be one more member and table entry). */
struct admin_file {
  struct dispatcher_config dispatcher;
};

static const struct svc_cfg_section admin_file_sections[] = {
    SVC_CFG_SECTION_AT("dispatcher", dispatcher_config_keys, struct admin_file,
                       dispatcher),
    SVC_CFG_SECTION_END};

static int usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
  va_list ap;

  fprintf(stderr, "owcp-admin: ");
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\nTry 'owcp-admin --help'.\n");
  return EXIT_USAGE;
}

static int db_error(const struct owcp_error *err)
{
  fprintf(stderr, "owcp-admin: %s\n", err->msg);
  return EXIT_DB;
}

/* Normalises local@domain (domain lowercased) into out; false if invalid. */
static bool normalise_address(const char *in, char *out, size_t size)
{
  const char *at = strchr(in, '@');
  size_t n = strlen(in);

  if (at == NULL || at == in || at[1] == '\0' || strchr(at + 1, '@') ||
      n >= size)
    return false;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)in[i];

    if (c <= ' ' || c >= 0x7F || c == '<' || c == '>')
      return false;
    out[i] = (char)(&in[i] > at ? tolower(c) : c);
  }
  out[n] = '\0';
  return true;
}

/* Parses a positive integer option value. */
static bool parse_positive(const char *s, int max, int *out)
{
  char *end;
  long v = strtol(s, &end, 10);

  if (*s == '\0' || *end != '\0' || v <= 0 || v > max)
    return false;
  *out = (int)v;
  return true;
}

static int report_status(int status, const char *what, const char *name)
{
  switch (status) {
  case 200:
    return EXIT_OK;
  case 404:
    fprintf(stderr,
            "owcp-admin: %s '%s' not found (or already in that "
            "state)\n",
            what, name);
    return EXIT_FAILED;
  case 409:
    fprintf(stderr, "owcp-admin: %s '%s' already exists\n", what, name);
    return EXIT_FAILED;
  default:
    fprintf(stderr, "owcp-admin: %s '%s' refused (status %d)\n", what, name,
            status);
    return EXIT_FAILED;
  }
}

/* Prints a listing row as tab-separated values (header on the first). */
struct table {
  bool header_done;
};

static int print_row(void *arg, int n, const char *const *names,
                     const char *const *fields)
{
  struct table *t = arg;

  if (!t->header_done) {
    for (int i = 0; i < n; i++)
      printf("%s%s", i ? "\t" : "", names[i]);
    printf("\n");
    t->header_done = true;
  }
  for (int i = 0; i < n; i++)
    printf("%s%s", i ? "\t" : "", fields[i] ? fields[i] : "-");
  printf("\n");
  return 0;
}

static int cmd_migrate(struct admin *a)
{
  struct owcp_error err = {{0}};
  int applied;

  if (store_migrate(a->st, a->sql_dir, &applied, &err) != 0)
    return db_error(&err);
  printf("migrations applied: %d\n", applied);
  return EXIT_OK;
}

static int cmd_account(struct admin *a, int argc, char **argv)
{
  struct owcp_error err = {{0}};
  char addr[STORE_ADDRESS_MAX];
  struct table t = {false};
  int status;

  if (argc == 1 && strcmp(argv[0], "list") == 0) {
    if (store_account_list(a->st, print_row, &t, &err) != 0)
      return db_error(&err);
    return EXIT_OK;
  }
  if (argc != 2)
    return usage_error("account: expected add|disable ADDRESS or list");
  if (!normalise_address(argv[1], addr, sizeof addr))
    return usage_error("'%s' is not an address of the form local@domain",
                       argv[1]);
  if (strcmp(argv[0], "add") == 0) {
    if (store_account_add(a->st, addr, &status, &err) != 0)
      return db_error(&err);
  } else if (strcmp(argv[0], "disable") == 0) {
    if (store_account_disable(a->st, addr, &status, &err) != 0)
      return db_error(&err);
  } else {
    return usage_error("account: unknown subcommand '%s'", argv[0]);
  }
  if (status == 200)
    printf("account %s %s\n", addr, argv[0][0] == 'a' ? "added" : "disabled");
  return report_status(status, "account", addr);
}

/* A new secret (printed once) and its stored SHA-256. */
static char *new_secret(unsigned char hash[OWCP_SHA256_LEN])
{
  char *secret = owcp_random_id();

  if (secret != NULL)
    owcp_sha256(secret, strlen(secret), hash);
  return secret;
}

static int cmd_code(struct admin *a, int argc, char **argv)
{
  static const struct option opts[] = {{"ttl", required_argument, NULL, 't'},
                                       {NULL, 0, NULL, 0}};
  struct owcp_error err = {{0}};
  unsigned char hash[OWCP_SHA256_LEN];
  char addr[STORE_ADDRESS_MAX];
  int ttl = 86400, status, c;
  char *code;

  optind = 0; /* glibc: 0 fully re-initialises getopt */
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    if (c != 't' || !parse_positive(optarg, 30 * 86400, &ttl))
      return usage_error("code issue: --ttl must be 1..2592000 seconds");
  }
  if (argc - optind != 2 || strcmp(argv[optind], "issue") != 0)
    return usage_error("code: expected 'code issue ACCOUNT [--ttl SECS]'");
  if (!normalise_address(argv[optind + 1], addr, sizeof addr))
    return usage_error("'%s' is not an address of the form local@domain",
                       argv[optind + 1]);
  code = new_secret(hash);
  if (code == NULL) {
    fprintf(stderr, "owcp-admin: cannot generate a random code\n");
    return EXIT_DB;
  }
  if (store_code_issue(a->st, addr, hash, ttl, 0, &status, &err) != 0) {
    free(code);
    return db_error(&err);
  }
  if (status == 200)
    printf("%s\n", code);
  free(code);
  return report_status(status, "account", addr);
}

static int requestor_add(struct admin *a, int argc, char **argv)
{
  static const struct option opts[] = {{"rate", required_argument, NULL, 'r'},
                                       {NULL, 0, NULL, 0}};
  struct owcp_error err = {{0}};
  unsigned char hash[OWCP_SHA256_LEN];
  char addr[STORE_ADDRESS_MAX];
  int rate = 600, status, c;
  int64_t id;
  char *token;

  optind = 0; /* glibc: 0 fully re-initialises getopt */
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    if (c != 'r' || !parse_positive(optarg, 1000000, &rate))
      return usage_error("requestor add: --rate must be 1..1000000");
  }
  if (argc - optind != 1)
    return usage_error("requestor add: expected one ADDRESS");
  if (!normalise_address(argv[optind], addr, sizeof addr))
    return usage_error("'%s' is not an address of the form local@domain",
                       argv[optind]);
  token = new_secret(hash);
  if (token == NULL) {
    fprintf(stderr, "owcp-admin: cannot generate a random token\n");
    return EXIT_DB;
  }
  if (store_requestor_add(a->st, addr, hash, rate, &status, &id, &err) != 0) {
    free(token);
    return db_error(&err);
  }
  if (status == 200)
    printf("%s\n", token);
  free(token);
  return report_status(status, "requestor", addr);
}

static int cmd_requestor(struct admin *a, int argc, char **argv)
{
  struct owcp_error err = {{0}};
  char addr[STORE_ADDRESS_MAX];
  struct table t = {false};
  int status;

  if (argc >= 1 && strcmp(argv[0], "add") == 0)
    return requestor_add(a, argc, argv);
  if (argc == 1 && strcmp(argv[0], "list") == 0) {
    if (store_requestor_list(a->st, print_row, &t, &err) != 0)
      return db_error(&err);
    return EXIT_OK;
  }
  if (argc != 2 || strcmp(argv[0], "disable") != 0)
    return usage_error("requestor: expected add|disable ADDRESS or list");
  if (!normalise_address(argv[1], addr, sizeof addr))
    return usage_error("'%s' is not an address of the form local@domain",
                       argv[1]);
  if (store_requestor_disable(a->st, addr, &status, &err) != 0)
    return db_error(&err);
  if (status == 200)
    printf("requestor %s disabled\n", addr);
  return report_status(status, "requestor", addr);
}

static int cmd_client(struct admin *a, int argc, char **argv)
{
  struct owcp_error err = {{0}};
  char addr[STORE_ADDRESS_MAX];
  struct table t = {false};
  int status;

  if (argc >= 1 && argc <= 2 && strcmp(argv[0], "list") == 0) {
    if (argc == 2 && !normalise_address(argv[1], addr, sizeof addr))
      return usage_error("'%s' is not an address of the form local@domain",
                         argv[1]);
    if (store_client_list(a->st, argc == 2 ? addr : NULL, print_row, &t,
                          &err) != 0)
      return db_error(&err);
    return EXIT_OK;
  }
  if (argc != 2 || strcmp(argv[0], "revoke") != 0)
    return usage_error("client: expected 'list [ACCOUNT]' or 'revoke ID'");
  if (store_client_revoke(a->st, argv[1], "admin", &status, &err) != 0)
    return db_error(&err);
  if (status == 200)
    printf("client %s revoked\n", argv[1]);
  return report_status(status, "client", argv[1]);
}

/* Prints one log row, as text or as a JSON object per line. */
static int print_log_row(void *arg, int n, const char *const *names,
                         const char *const *fields)
{
  const bool *json = arg;

  if (*json) {
    json_t *obj = json_object();
    char *text;

    if (obj == NULL)
      return -1;
    for (int i = 0; i < n; i++) {
      json_t *v = fields[i] == NULL ? json_null()
                  : i == 0          ? json_integer(strtoll(fields[i], NULL, 10))
                                    : json_string(fields[i]);

      json_object_set_new(obj, names[i], v);
    }
    text = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(obj);
    if (text == NULL)
      return -1;
    printf("%s\n", text);
    free(text);
    return 0;
  }
  printf("%s %s %s", fields[0], fields[1], fields[2]);
  for (int i = 3; i < n; i++)
    if (fields[i] != NULL)
      printf(" %s=%s", names[i], fields[i]);
  printf("\n");
  return 0;
}

static int log_show(struct admin *a, int argc, char **argv)
{
  static const struct option opts[] = {
      {"account", required_argument, NULL, 'a'},
      {"requestor", required_argument, NULL, 'r'},
      {"transaction", required_argument, NULL, 't'},
      {"event", required_argument, NULL, 'e'},
      {"since", required_argument, NULL, 's'},
      {"until", required_argument, NULL, 'u'},
      {"json", no_argument, NULL, 'j'},
      {NULL, 0, NULL, 0}};
  struct store_log_filter f = {0};
  struct owcp_error err = {{0}};
  bool json = false;
  int c, rc;

  optind = 0; /* glibc: 0 fully re-initialises getopt */
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    time_t *bound = NULL;

    switch (c) {
    case 'a':
      f.account = optarg;
      break;
    case 'r':
      f.requestor = optarg;
      break;
    case 't':
      f.transaction = optarg;
      break;
    case 'e':
      f.event = optarg;
      break;
    case 's':
    case 'u':
      bound = c == 's' ? &f.since : &f.until;
      if (owcp_time_parse(optarg, bound, &err) != 0) {
        fprintf(stderr, "owcp-admin: --%s: %s\n", c == 's' ? "since" : "until",
                err.msg);
        return EXIT_USAGE;
      }
      break;
    case 'j':
      json = true;
      break;
    default:
      return usage_error("log show: unknown option");
    }
  }
  if (optind != argc)
    return usage_error("log show: unexpected argument '%s'", argv[argc - 1]);
  rc = store_log_query(a->st, &f, print_log_row, &json, &err);
  if (rc < 0)
    return db_error(&err);
  return EXIT_OK;
}

static int cmd_log(struct admin *a, int argc, char **argv)
{
  struct owcp_error err = {{0}};
  struct logchain_report r;

  if (argc >= 1 && strcmp(argv[0], "show") == 0)
    return log_show(a, argc, argv);
  if (argc != 1 || strcmp(argv[0], "verify") != 0)
    return usage_error("log: expected 'show [FILTERS]' or 'verify'");
  if (logchain_verify(a->st, &r, &err) != 0)
    return db_error(&err);
  if (!r.ok) {
    printf("log chain BROKEN: %s\n", r.problem);
    if (r.broken_pos > 0)
      printf("first broken position: %lld\n", (long long)r.broken_pos);
    return EXIT_FAILED;
  }
  printf("log chain OK: %lld entries\n", (long long)r.entries);
  return EXIT_OK;
}

static int dispatch(struct admin *a, int argc, char **argv)
{
  const char *cmd = argv[0];

  if (strcmp(cmd, "migrate") == 0)
    return argc == 1 ? cmd_migrate(a)
                     : usage_error("migrate takes no arguments");
  if (strcmp(cmd, "account") == 0)
    return cmd_account(a, argc - 1, argv + 1);
  if (strcmp(cmd, "code") == 0)
    return cmd_code(a, argc, argv);
  if (strcmp(cmd, "requestor") == 0)
    return cmd_requestor(a, argc - 1, argv + 1);
  if (strcmp(cmd, "client") == 0)
    return cmd_client(a, argc - 1, argv + 1);
  if (strcmp(cmd, "log") == 0)
    return cmd_log(a, argc - 1, argv + 1);
  return usage_error("unknown command '%s'", cmd);
}

/* The database: --db, else the configuration file's [dispatcher] db
 * (--config, or the default file when neither --db nor $OWCP_DB is set
 * and it exists), else $OWCP_DB. Opens it into a->st; an exit status. */
static int open_store(struct admin *a, const char *db, const char *config)
{
  struct owcp_error err = {{0}};
  struct admin_file file;
  bool loaded = false;

  if (db == NULL && config == NULL && getenv("OWCP_DB") == NULL &&
      access(DISPATCHER_DEFAULT_CONFIG, F_OK) == 0)
    config = DISPATCHER_DEFAULT_CONFIG;
  if (config != NULL) {
    if (svc_config_load(config, admin_file_sections, &file, &err) != 0)
      return usage_error("%s", err.msg);
    loaded = true;
    if (db == NULL)
      db = file.dispatcher.db;
  }
  if (db == NULL)
    db = getenv("OWCP_DB");
  if (db == NULL)
    return usage_error("no database: pass --db CONNINFO or --config FILE, "
                       "or set OWCP_DB");
  a->st = store_open(db, &err);
  if (loaded)
    svc_config_free(admin_file_sections, &file);
  return a->st == NULL ? db_error(&err) : EXIT_OK;
}

int main(int argc, char **argv)
{
  static const struct option opts[] = {
      {"db", required_argument, NULL, 'd'},
      {"config", required_argument, NULL, 'c'},
      {"sql-dir", required_argument, NULL, 's'},
      {"version", no_argument, NULL, 'V'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  struct admin a = {NULL, NULL};
  const char *db = NULL, *config = NULL;
  int c, rc;

  /* '+': stop at the command so its own options are parsed per command. */
  while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
    switch (c) {
    case 'd':
      db = optarg;
      break;
    case 'c':
      config = optarg;
      break;
    case 's':
      a.sql_dir = optarg;
      break;
    case 'V':
      printf("owcp-admin %s\n", OWCP_VERSION);
      return EXIT_OK;
    case 'h':
      fputs(usage_text, stdout);
      return EXIT_OK;
    default:
      return usage_error("invalid global option");
    }
  }
  if (optind >= argc)
    return usage_error("missing COMMAND");
  rc = open_store(&a, db, config);
  if (rc != EXIT_OK)
    return rc;
  rc = dispatch(&a, argc - optind, argv + optind);
  store_close(a.st);
  return rc;
}
