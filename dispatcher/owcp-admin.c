/*
 * owcp-admin.c — the administrator's command: migrations, accounts,
 * enrollment codes, requestors, clients and the confirmation log. Talks to
 * the database only through store.h; every change it makes is logged by
 * the stored procedures.
 */
#include "admin.h"
#include "config.h"
#include "console.h"
#include "store.h"

#include "owcp/render.h"
#include "owcp/service/version.h"

#include <ctype.h>
#include <stddef.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
    "  migrate [--runtime-role ROLE]    apply pending NNN_*.sql migrations,\n"
    "                                   then every procedures/*.sql; with\n"
    "                                   --runtime-role, own every table and\n"
    "                                   grant ROLE (the dispatcher's) only\n"
    "                                   what it needs: on the log INSERT and\n"
    "                                   SELECT, never UPDATE, DELETE,\n"
    "                                   TRUNCATE or ownership\n"
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
    "  consent add ACCOUNT REQUESTOR    record that ACCOUNT's user consents "
    "to\n"
    "                                   REQUESTOR (--require-registration: as\n"
    "                                   if the user had accepted its consent\n"
    "                                   request; overrides a rejection)\n"
    "  consent remove ACCOUNT REQUESTOR withdraw it (and forget a rejection):\n"
    "                                   the requestor's next RD-Register asks\n"
    "                                   the user again\n"
    "  consent list [ACCOUNT]           consents, pending and rejected\n"
    "                                   consent requests\n"
    "  log show [--account A] [--requestor R] [--transaction T]\n"
    "           [--event E] [--since TIME] [--until TIME] [--json | --csv]\n"
    "                                   print log entries (TIME is RFC 3339;\n"
    "                                   --json prints one object per line "
    "with\n"
    "                                   its chain position and hash; --csv a\n"
    "                                   header and one row per entry)\n"
    "  log verify [--head FILE] [--cert FILE] [--no-head]\n"
    "                                   seal, verify the hash chain, and that "
    "it\n"
    "                                   still extends every signed log head "
    "in\n"
    "                                   FILE (a saved GET {base}/Log-Head, or "
    "the\n"
    "                                   dispatcher's head file; default with\n"
    "                                   --config: its log_head_file); prints\n"
    "                                   the position and hash verified. "
    "--cert:\n"
    "                                   the dispatcher's certificate(s), PEM\n"
    "                                   (GET {base}/CA; default with "
    "--config:\n"
    "                                   key_dir/signing.pem)\n"
    "  serve [--config FILE] --listen HOST:PORT\n"
    "        (--tls-cert F --tls-key F | --insecure-http)\n"
    "        [--db CONNINFO] [--admin-users-file F] [--key-dir DIR]\n"
    "        [--ready-file F]\n"
    "                                   the read-only audit console (web):\n"
    "                                   the log, transactions with their\n"
    "                                   receipts checked, chain verification\n"
    "                                   and export; settings from [admin]\n"
    "                                   (db, admin_users_file, key_dir,\n"
    "                                   log_head_file), flags override;\n"
    "                                   plain HTTP only on loopback\n"
    "                                   (docs/console.md)\n"
    "  passwd NAME                      print NAME:HASH (yescrypt) for\n"
    "                                   admin_users_file; asks twice on a\n"
    "                                   terminal, else reads one line\n"
    "\n"
    "Secrets (tokens, codes) are printed once and stored only as SHA-256.\n"
    "Control and bidi characters in printed fields are shown escaped (\\x1b,\n"
    "\\u202e; a backslash doubled) so stored text cannot drive the terminal.\n"
    "\n"
    "Exit status: 0 success; 1 refused, not found, already exists, or the\n"
    "log chain is broken (the first broken position is printed); 2 usage\n"
    "error; 3 database unavailable or database error.\n";

static const struct svc_cfg_section admin_file_sections[] = {
    SVC_CFG_SECTION_AT("dispatcher", dispatcher_config_keys, struct admin_file,
                       dispatcher),
    {.name = "admin",
     .keys = admin_config_keys,
     .base_offset = offsetof(struct admin_file, dispatcher.admin),
     .flags = SVC_CFG_OPTIONAL | SVC_CFG_ENABLE,
     .has_enabled = true,
     .enabled_offset = offsetof(struct admin_file, dispatcher.admin_section)},
    SVC_CFG_SECTION_END};

int admin_usage_error(const char *fmt, ...)
{
  va_list ap;

  fprintf(stderr, "owcp-admin: ");
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\nTry 'owcp-admin --help'.\n");
  return EXIT_USAGE;
}

int admin_db_error(const struct owcp_error *err)
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

/* Stored text (a device Description, an address) comes from the network:
 * never print it raw to the administrator's terminal. */
int admin_put_text(const char *s)
{
  struct owcp_error err = {{0}};
  char *safe;

  if (s == NULL)
    return fputs("-", stdout) < 0 ? -1 : 0;
  safe = owcp_render_escape(s, OWCP_ESCAPE_TEXT, &err);
  if (safe == NULL) {
    fprintf(stderr, "owcp-admin: %s\n", err.msg);
    return -1;
  }
  fputs(safe, stdout);
  free(safe);
  return 0;
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
  for (int i = 0; i < n; i++) {
    if (i > 0)
      putchar('\t');
    if (admin_put_text(fields[i]) != 0)
      return -1;
  }
  printf("\n");
  return 0;
}

static int cmd_migrate(struct admin *a, int argc, char **argv)
{
  static const struct option opts[] = {
      {"runtime-role", required_argument, NULL, 'r'}, {NULL, 0, NULL, 0}};
  struct owcp_error err = {{0}};
  const char *role = NULL;
  int applied, tables, c;

  optind = 0; /* glibc: 0 fully re-initialises getopt */
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    if (c != 'r' || optarg[0] == '\0')
      return admin_usage_error(
          "migrate: the only option is --runtime-role ROLE");
    role = optarg;
  }
  if (optind != argc)
    return admin_usage_error("migrate: unexpected argument '%s'", argv[optind]);
  if (store_migrate(a->st, a->sql_dir, &applied, &err) != 0)
    return admin_db_error(&err);
  printf("migrations applied: %d\n", applied);
  if (role == NULL)
    return EXIT_OK;
  if (store_grant_runtime(a->st, role, &tables, &err) != 0)
    return admin_db_error(&err);
  printf("runtime role %s granted on %d tables (log: INSERT, SELECT only)\n",
         role, tables);
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
      return admin_db_error(&err);
    return EXIT_OK;
  }
  if (argc != 2)
    return admin_usage_error("account: expected add|disable ADDRESS or list");
  if (!normalise_address(argv[1], addr, sizeof addr))
    return admin_usage_error("'%s' is not an address of the form local@domain",
                             argv[1]);
  if (strcmp(argv[0], "add") == 0) {
    if (store_account_add(a->st, addr, &status, &err) != 0)
      return admin_db_error(&err);
  } else if (strcmp(argv[0], "disable") == 0) {
    if (store_account_disable(a->st, addr, &status, &err) != 0)
      return admin_db_error(&err);
  } else {
    return admin_usage_error("account: unknown subcommand '%s'", argv[0]);
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
      return admin_usage_error("code issue: --ttl must be 1..2592000 seconds");
  }
  if (argc - optind != 2 || strcmp(argv[optind], "issue") != 0)
    return admin_usage_error(
        "code: expected 'code issue ACCOUNT [--ttl SECS]'");
  if (!normalise_address(argv[optind + 1], addr, sizeof addr))
    return admin_usage_error("'%s' is not an address of the form local@domain",
                             argv[optind + 1]);
  code = new_secret(hash);
  if (code == NULL) {
    fprintf(stderr, "owcp-admin: cannot generate a random code\n");
    return EXIT_DB;
  }
  if (store_code_issue(a->st, addr, hash, ttl, 0, &status, &err) != 0) {
    free(code);
    return admin_db_error(&err);
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
      return admin_usage_error("requestor add: --rate must be 1..1000000");
  }
  if (argc - optind != 1)
    return admin_usage_error("requestor add: expected one ADDRESS");
  if (!normalise_address(argv[optind], addr, sizeof addr))
    return admin_usage_error("'%s' is not an address of the form local@domain",
                             argv[optind]);
  token = new_secret(hash);
  if (token == NULL) {
    fprintf(stderr, "owcp-admin: cannot generate a random token\n");
    return EXIT_DB;
  }
  if (store_requestor_add(a->st, addr, hash, rate, &status, &id, &err) != 0) {
    free(token);
    return admin_db_error(&err);
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
      return admin_db_error(&err);
    return EXIT_OK;
  }
  if (argc != 2 || strcmp(argv[0], "disable") != 0)
    return admin_usage_error("requestor: expected add|disable ADDRESS or list");
  if (!normalise_address(argv[1], addr, sizeof addr))
    return admin_usage_error("'%s' is not an address of the form local@domain",
                             argv[1]);
  if (store_requestor_disable(a->st, addr, &status, &err) != 0)
    return admin_db_error(&err);
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
      return admin_usage_error(
          "'%s' is not an address of the form local@domain", argv[1]);
    if (store_client_list(a->st, argc == 2 ? addr : NULL, print_row, &t,
                          &err) != 0)
      return admin_db_error(&err);
    return EXIT_OK;
  }
  if (argc != 2 || strcmp(argv[0], "revoke") != 0)
    return admin_usage_error(
        "client: expected 'list [ACCOUNT]' or 'revoke ID'");
  if (store_client_revoke(a->st, argv[1], "admin", &status, &err) != 0)
    return admin_db_error(&err);
  if (status == 200)
    printf("client %s revoked\n", argv[1]);
  return report_status(status, "client", argv[1]);
}

/* consent add|remove ACCOUNT REQUESTOR, consent list [ACCOUNT]. */
static int cmd_consent(struct admin *a, int argc, char **argv)
{
  struct owcp_error err = {{0}};
  char addr[STORE_ADDRESS_MAX], req[STORE_ADDRESS_MAX];
  struct table t = {false};
  bool add;
  int status;

  if (argc >= 1 && argc <= 2 && strcmp(argv[0], "list") == 0) {
    if (argc == 2 && !normalise_address(argv[1], addr, sizeof addr))
      return admin_usage_error(
          "'%s' is not an address of the form local@domain", argv[1]);
    if (store_consent_list(a->st, argc == 2 ? addr : NULL, print_row, &t,
                           &err) != 0)
      return admin_db_error(&err);
    return EXIT_OK;
  }
  if (argc != 3 ||
      (strcmp(argv[0], "add") != 0 && strcmp(argv[0], "remove") != 0))
    return admin_usage_error("consent: expected 'add|remove ACCOUNT "
                             "REQUESTOR' or 'list [ACCOUNT]'");
  if (!normalise_address(argv[1], addr, sizeof addr))
    return admin_usage_error("'%s' is not an address of the form local@domain",
                             argv[1]);
  if (!normalise_address(argv[2], req, sizeof req))
    return admin_usage_error("'%s' is not an address of the form local@domain",
                             argv[2]);
  add = strcmp(argv[0], "add") == 0;
  if ((add ? store_consent_add : store_consent_remove)(a->st, addr, req,
                                                       &status, &err) != 0)
    return admin_db_error(&err);
  if (status == 200) {
    printf("consent of %s to requestor %s %s\n", addr, req,
           add ? "recorded" : "removed");
    return EXIT_OK;
  }
  if (status == 409) {
    /* Idempotent for scripts: the wanted state already holds. */
    printf("consent of %s to requestor %s %s\n", addr, req,
           add ? "was already recorded" : "was not recorded");
    return EXIT_OK;
  }
  if (status == 404) {
    fprintf(stderr, "owcp-admin: unknown account '%s' or requestor '%s'\n",
            addr, req);
    return EXIT_FAILED;
  }
  return report_status(status, "consent", addr);
}

static int dispatch(struct admin *a, int argc, char **argv)
{
  const char *cmd = argv[0];

  if (strcmp(cmd, "migrate") == 0)
    return cmd_migrate(a, argc, argv);
  if (strcmp(cmd, "account") == 0)
    return cmd_account(a, argc - 1, argv + 1);
  if (strcmp(cmd, "code") == 0)
    return cmd_code(a, argc, argv);
  if (strcmp(cmd, "requestor") == 0)
    return cmd_requestor(a, argc - 1, argv + 1);
  if (strcmp(cmd, "client") == 0)
    return cmd_client(a, argc - 1, argv + 1);
  if (strcmp(cmd, "log") == 0)
    return admin_cmd_log(a, argc - 1, argv + 1);
  if (strcmp(cmd, "consent") == 0)
    return cmd_consent(a, argc - 1, argv + 1);
  return admin_usage_error("unknown command '%s'", cmd);
}

/* The database: --db, else the configuration file's [dispatcher] db
 * (--config, or the default file when neither --db nor $OWCP_DB is set
 * and it exists), else $OWCP_DB. Opens it into a->st; an exit status. */
static int open_store(struct admin *a, const char *db, const char *config)
{
  struct owcp_error err = {{0}};

  if (db == NULL && config == NULL && getenv("OWCP_DB") == NULL &&
      access(DISPATCHER_DEFAULT_CONFIG, F_OK) == 0)
    config = DISPATCHER_DEFAULT_CONFIG;
  if (config != NULL) {
    if (svc_config_load(config, admin_file_sections, &a->file, &err) != 0)
      return admin_usage_error("%s", err.msg);
    a->loaded = true;
    if (db == NULL)
      db = a->file.dispatcher.db;
  }
  if (db == NULL)
    db = getenv("OWCP_DB");
  if (db == NULL)
    return admin_usage_error(
        "no database: pass --db CONNINFO or --config FILE, "
        "or set OWCP_DB");
  a->st = store_open(db, &err);
  return a->st == NULL ? admin_db_error(&err) : EXIT_OK;
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
  struct admin a;
  const char *db = NULL, *config = NULL;
  int c, rc;

  memset(&a, 0, sizeof a);
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
      return admin_usage_error("invalid global option");
    }
  }
  if (optind >= argc)
    return admin_usage_error("missing COMMAND");
  /* These two open what they need themselves (passwd: nothing). */
  if (strcmp(argv[optind], "passwd") == 0)
    return admin_cmd_passwd(argc - optind, argv + optind);
  if (strcmp(argv[optind], "serve") == 0)
    return admin_cmd_serve(argc - optind, argv + optind, db, config);
  rc = open_store(&a, db, config);
  if (rc == EXIT_OK)
    rc = dispatch(&a, argc - optind, argv + optind);
  store_close(a.st);
  if (a.loaded)
    svc_config_free(admin_file_sections, &a.file);
  return rc;
}
