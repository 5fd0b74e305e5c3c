/*
 * owcp-admin.c — the administrator's command: migrations, accounts,
 * enrollment codes, requestors, clients and the confirmation log. Talks to
 * the database only through store.h; every change it makes is logged by
 * the stored procedures.
 */
#include "config.h"
#include "logchain.h"
#include "loghead.h"
#include "store.h"

#include "owcp/render.h"
#include "owcp/service/version.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
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
    "\n"
    "Secrets (tokens, codes) are printed once and stored only as SHA-256.\n"
    "Control and bidi characters in printed fields are shown escaped (\\x1b,\n"
    "\\u202e; a backslash doubled) so stored text cannot drive the terminal.\n"
    "\n"
    "Exit status: 0 success; 1 refused, not found, already exists, or the\n"
    "log chain is broken (the first broken position is printed); 2 usage\n"
    "error; 3 database unavailable or database error.\n";

/* What owcp-admin reads from a configuration file: the dispatcher's
 * section (an [admin] section would be one more member and table entry). */
struct admin_file {
  struct dispatcher_config dispatcher;
};

struct admin {
  struct store *st;
  const char *sql_dir;
  struct admin_file file; /* the configuration file, when loaded */
  bool loaded;
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

/* Prints s (NULL: "-") for the administrator's terminal, with every
 * character that could drive it escaped (owcp_render_escape): stored text
 * (a device Description, an address) comes from the network. */
static int put_text(const char *s)
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
    if (put_text(fields[i]) != 0)
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
      return usage_error("migrate: the only option is --runtime-role ROLE");
    role = optarg;
  }
  if (optind != argc)
    return usage_error("migrate: unexpected argument '%s'", argv[optind]);
  if (store_migrate(a->st, a->sql_dir, &applied, &err) != 0)
    return db_error(&err);
  printf("migrations applied: %d\n", applied);
  if (role == NULL)
    return EXIT_OK;
  if (store_grant_runtime(a->st, role, &tables, &err) != 0)
    return db_error(&err);
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

enum log_format { LOG_TEXT, LOG_JSON, LOG_CSV };

struct log_out {
  enum log_format format;
  bool header_done;
};

/* store_log_query's columns (store.h). */
enum { COL_SEQ, COL_AT, COL_EVENT, COL_POSITION = 8, COL_HASH, COL_COUNT };

/* The CSV columns: the keys the audit console shares; each names a
 * store_log_query column. */
static const struct {
  const char *header;
  const char *column;
} csv_columns[] = {{"position", "position"},
                   {"time", "at"},
                   {"event", "event"},
                   {"account", "account"},
                   {"requestor", "requestor"},
                   {"client", "client"},
                   {"transaction", "transaction"},
                   {"hash", "hash"}};

/* One JSON object per line, escaped for the terminal in JSON's own form
 * (it stays valid JSON with the same content). */
static int print_log_json(int n, const char *const *names,
                          const char *const *fields)
{
  struct owcp_error err = {{0}};
  json_t *obj = json_object();
  char *text, *safe;

  if (obj == NULL)
    return -1;
  for (int i = 0; i < n; i++) {
    bool number = i == COL_SEQ || i == COL_POSITION;
    json_t *v = fields[i] == NULL ? json_null()
                : number          ? json_integer(strtoll(fields[i], NULL, 10))
                                  : json_string(fields[i]);

    json_object_set_new(obj, names[i], v);
  }
  text = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(obj);
  if (text == NULL)
    return -1;
  safe = owcp_render_escape(text, OWCP_ESCAPE_JSON, &err);
  free(text);
  if (safe == NULL)
    return -1;
  printf("%s\n", safe);
  free(safe);
  return 0;
}

/* One CSV field (RFC 4180): escaped for the terminal first (so it holds no
 * line break), quoted when it holds a comma, a quote or edge spaces. */
static int put_csv_field(const char *s)
{
  struct owcp_error err = {{0}};
  char *safe;
  size_t len;

  if (s == NULL)
    return 0;
  safe = owcp_render_escape(s, OWCP_ESCAPE_TEXT, &err);
  if (safe == NULL)
    return -1;
  len = strlen(safe);
  if (strpbrk(safe, ",\"") == NULL &&
      (len == 0 || (safe[0] != ' ' && safe[len - 1] != ' '))) {
    fputs(safe, stdout);
  } else {
    putchar('"');
    for (const char *p = safe; *p; p++) {
      if (*p == '"')
        putchar('"');
      putchar(*p);
    }
    putchar('"');
  }
  free(safe);
  return 0;
}

static int print_log_csv(struct log_out *o, int n, const char *const *names,
                         const char *const *fields)
{
  size_t ncol = sizeof csv_columns / sizeof csv_columns[0];

  if (!o->header_done) {
    for (size_t k = 0; k < ncol; k++)
      printf("%s%s", k ? "," : "", csv_columns[k].header);
    printf("\n");
    o->header_done = true;
  }
  for (size_t k = 0; k < ncol; k++) {
    const char *v = NULL;

    for (int i = 0; i < n; i++)
      if (strcmp(names[i], csv_columns[k].column) == 0)
        v = fields[i];
    if (k > 0)
      putchar(',');
    if (put_csv_field(v) != 0)
      return -1;
  }
  printf("\n");
  return 0;
}

/* Prints one log row as text, a JSON object per line, or a CSV row. */
static int print_log_row(void *arg, int n, const char *const *names,
                         const char *const *fields)
{
  struct log_out *o = arg;

  if (n != COL_COUNT) {
    fprintf(stderr, "owcp-admin: unexpected log columns (%d)\n", n);
    return -1;
  }
  if (o->format == LOG_JSON)
    return print_log_json(n, names, fields);
  if (o->format == LOG_CSV)
    return print_log_csv(o, n, names, fields);
  printf("%s %s ", fields[COL_SEQ], fields[COL_AT]);
  if (put_text(fields[COL_EVENT]) != 0)
    return -1;
  for (int i = COL_EVENT + 1; i < COL_POSITION; i++) {
    if (fields[i] == NULL)
      continue;
    printf(" %s=", names[i]);
    if (put_text(fields[i]) != 0)
      return -1;
  }
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
      {"csv", no_argument, NULL, 'c'},
      {NULL, 0, NULL, 0}};
  struct store_log_filter f = {0};
  struct owcp_error err = {{0}};
  struct log_out out = {LOG_TEXT, false};
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
    case 'c':
      if (out.format != LOG_TEXT)
        return usage_error("log show: --json and --csv exclude each other");
      out.format = c == 'j' ? LOG_JSON : LOG_CSV;
      break;
    default:
      return usage_error("log show: unknown option");
    }
  }
  if (optind != argc)
    return usage_error("log show: unexpected argument '%s'", argv[argc - 1]);
  /* Sealed first, so every entry shown has its position and hash. */
  rc = logchain_seal_all(a->st, &err);
  if (rc == 0)
    rc = store_log_query(a->st, &f, print_log_row, &out, &err);
  if (rc < 0)
    return db_error(&err);
  return EXIT_OK;
}

/* Where log verify finds heads and certificates: options, else the
 * configuration file. */
struct verify_args {
  const char *head_file;
  const char *cert_file;
  bool no_head;
  bool head_from_config; /* head_file is the configured one */
  char head_path[PATH_MAX], cert_path[PATH_MAX];
};

static int verify_args_parse(struct admin *a, int argc, char **argv,
                             struct verify_args *v)
{
  static const struct option opts[] = {{"head", required_argument, NULL, 'H'},
                                       {"cert", required_argument, NULL, 'C'},
                                       {"no-head", no_argument, NULL, 'N'},
                                       {NULL, 0, NULL, 0}};
  struct owcp_error err = {{0}};
  int c;

  optind = 0; /* glibc: 0 fully re-initialises getopt */
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    if (c == 'H')
      v->head_file = optarg;
    else if (c == 'C')
      v->cert_file = optarg;
    else if (c == 'N')
      v->no_head = true;
    else
      return usage_error("log verify: unknown option");
  }
  if (optind != argc)
    return usage_error("log verify: unexpected argument '%s'", argv[optind]);
  if (v->no_head && v->head_file != NULL)
    return usage_error("log verify: --head and --no-head exclude each other");
  if (a->loaded && v->head_file == NULL && !v->no_head) {
    if (dispatcher_log_head_path(&a->file.dispatcher, v->head_path,
                                 sizeof v->head_path, &err) != 0)
      return usage_error("%s", err.msg);
    v->head_file = v->head_path;
    v->head_from_config = true;
  }
  if (a->loaded && v->cert_file == NULL) {
    snprintf(v->cert_path, sizeof v->cert_path, "%s/signing.pem",
             a->file.dispatcher.key_dir);
    v->cert_file = v->cert_path;
  }
  if (v->head_file != NULL && v->cert_file == NULL)
    return usage_error("log verify: no certificate to check the head's "
                       "signature: pass --cert FILE (the dispatcher's GET "
                       "{base}/CA, or key_dir/signing.pem) or --config");
  return EXIT_OK;
}

/* Reads and checks every head of path into *heads (caller frees). */
static int load_heads(const struct verify_args *v, struct logchain_head **heads,
                      size_t *n)
{
  struct owcp_error err = {{0}};
  X509 **certs = NULL;
  size_t ncerts = 0;
  json_t *docs;
  int rc = EXIT_OK;

  *heads = NULL;
  *n = 0;
  if (v->head_from_config && access(v->head_file, F_OK) != 0 &&
      errno == ENOENT) {
    fprintf(stderr,
            "owcp-admin: the head file %s does not exist: the dispatcher has "
            "not signed a head yet, or the file was removed (--no-head "
            "checks the chain alone)\n",
            v->head_file);
    return EXIT_FAILED;
  }
  docs = loghead_read_file(v->head_file, &err);
  if (docs == NULL ||
      loghead_certs_load(v->cert_file, &certs, &ncerts, &err) != 0) {
    json_decref(docs);
    fprintf(stderr, "owcp-admin: %s\n", err.msg);
    return EXIT_FAILED;
  }
  *heads = calloc(json_array_size(docs), sizeof **heads);
  for (size_t i = 0; *heads != NULL && i < json_array_size(docs); i++) {
    struct loghead h;

    if (loghead_verify(json_array_get(docs, i), certs, ncerts, &h, &err)) {
      fprintf(stderr, "owcp-admin: %s: head %zu: %s\n", v->head_file, i + 1,
              err.msg);
      rc = EXIT_FAILED;
      break;
    }
    (*heads)[i].position = h.position;
    memcpy((*heads)[i].hash, h.hash, sizeof h.hash);
    snprintf((*heads)[i].time, sizeof(*heads)[i].time, "%s", h.time);
    *n = i + 1;
  }
  if (*heads == NULL) {
    fprintf(stderr, "owcp-admin: out of memory reading log heads\n");
    rc = EXIT_FAILED;
  }
  loghead_certs_free(certs, ncerts);
  json_decref(docs);
  return rc;
}

/* The newest head (highest position) of heads[0..n), or NULL. */
static const struct logchain_head *newest_head(const struct logchain_head *h,
                                               size_t n)
{
  const struct logchain_head *best = NULL;

  for (size_t i = 0; i < n; i++)
    if (best == NULL || h[i].position > best->position)
      best = &h[i];
  return best;
}

static int log_verify(struct admin *a, int argc, char **argv)
{
  struct owcp_error err = {{0}};
  struct verify_args v = {0};
  struct logchain_head *heads = NULL;
  const struct logchain_head *top;
  struct logchain_report r = {0};
  char hex[2 * OWCP_SHA256_LEN + 1];
  size_t n = 0;
  int rc = verify_args_parse(a, argc, argv, &v);

  if (rc == EXIT_OK && v.head_file != NULL)
    rc = load_heads(&v, &heads, &n);
  if (rc != EXIT_OK) {
    free(heads);
    return rc;
  }
  rc = logchain_verify_heads(a->st, heads, n, &r, &err);
  top = newest_head(heads, n);
  if (rc != 0) {
    free(heads);
    return db_error(&err);
  }
  if (!r.ok) {
    printf("log chain BROKEN: %s\n", r.problem);
    if (r.broken_pos > 0)
      printf("first broken position: %lld\n", (long long)r.broken_pos);
    free(heads);
    return EXIT_FAILED;
  }
  owcp_hex_encode(r.tip, OWCP_SHA256_LEN, hex);
  printf("log chain OK: %lld entries\n", (long long)r.entries);
  if (top != NULL)
    printf("extends %zu signed head(s) of %s; newest: position %lld signed "
           "at %s\n",
           r.heads_checked, v.head_file, (long long)top->position, top->time);
  else
    printf("no signed head checked: the chain alone was verified\n");
  printf("verified position: %lld\nverified hash: %s\n", (long long)r.entries,
         hex);
  free(heads);
  return EXIT_OK;
}

static int cmd_log(struct admin *a, int argc, char **argv)
{
  if (argc >= 1 && strcmp(argv[0], "show") == 0)
    return log_show(a, argc, argv);
  if (argc >= 1 && strcmp(argv[0], "verify") == 0)
    return log_verify(a, argc, argv);
  return usage_error(
      "log: expected 'show [FILTERS]' or 'verify [--head FILE]'");
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
    return cmd_log(a, argc - 1, argv + 1);
  return usage_error("unknown command '%s'", cmd);
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
      return usage_error("%s", err.msg);
    a->loaded = true;
    if (db == NULL)
      db = a->file.dispatcher.db;
  }
  if (db == NULL)
    db = getenv("OWCP_DB");
  if (db == NULL)
    return usage_error("no database: pass --db CONNINFO or --config FILE, "
                       "or set OWCP_DB");
  a->st = store_open(db, &err);
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
      return usage_error("invalid global option");
    }
  }
  if (optind >= argc)
    return usage_error("missing COMMAND");
  rc = open_store(&a, db, config);
  if (rc == EXIT_OK)
    rc = dispatch(&a, argc - optind, argv + optind);
  store_close(a.st);
  if (a.loaded)
    svc_config_free(admin_file_sections, &a.file);
  return rc;
}
