/*
 * admin_log.c — owcp-admin's confirmation-log commands: `log show` (text,
 * --json, --csv, every stored field escaped) and `log verify` (the hash
 * chain end to end, and against signed log heads: spec §10).
 */
#include "admin.h"
#include "logchain.h"
#include "loghead.h"

#include "owcp/render.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* The value of the column named column, or NULL. */
static const char *column(int n, const char *const *names,
                          const char *const *fields, const char *name)
{
  for (int i = 0; i < n; i++)
    if (strcmp(names[i], name) == 0)
      return fields[i];
  return NULL;
}

/* A column's value as JSON: the sequence and position as numbers. */
static json_t *json_field(const char *name, const char *v)
{
  if (v == NULL)
    return json_null();
  if (strcmp(name, "seq") == 0 || strcmp(name, "position") == 0)
    return json_integer(strtoll(v, NULL, 10));
  return json_string(v);
}

/* One JSON object per line, escaped for the terminal in JSON's own form
 * (it stays valid JSON with the same content): every store column, or
 * (keyed) the CSV columns under their CSV names. */
static int print_log_json(FILE *out, bool keyed, int n,
                          const char *const *names, const char *const *fields)
{
  struct owcp_error err = {{0}};
  json_t *obj = json_object();
  size_t ncol = keyed ? sizeof csv_columns / sizeof csv_columns[0] : (size_t)n;
  char *text, *safe;

  if (obj == NULL)
    return -1;
  for (size_t k = 0; k < ncol; k++) {
    const char *key = keyed ? csv_columns[k].header : names[k];
    const char *col = keyed ? csv_columns[k].column : names[k];

    json_object_set_new(obj, key,
                        json_field(col, column(n, names, fields, col)));
  }
  text = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(obj);
  if (text == NULL)
    return -1;
  safe = owcp_render_escape(text, OWCP_ESCAPE_JSON, &err);
  free(text);
  if (safe == NULL)
    return -1;
  fprintf(out, "%s\n", safe);
  free(safe);
  return 0;
}

/* One CSV field (RFC 4180): escaped for the terminal first (so it holds no
 * line break), quoted when it holds a comma, a quote or edge spaces. */
static int put_csv_field(FILE *out, const char *s)
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
    fputs(safe, out);
  } else {
    fputc('"', out);
    for (const char *p = safe; *p; p++) {
      if (*p == '"')
        fputc('"', out);
      fputc(*p, out);
    }
    fputc('"', out);
  }
  free(safe);
  return 0;
}

/* The CSV header line (position,time,...,hash). */
static void print_csv_header(FILE *out)
{
  for (size_t k = 0; k < sizeof csv_columns / sizeof csv_columns[0]; k++)
    fprintf(out, "%s%s", k ? "," : "", csv_columns[k].header);
  fputc('\n', out);
}

static int print_log_csv(struct admin_log_out *o, int n,
                         const char *const *names, const char *const *fields)
{
  size_t ncol = sizeof csv_columns / sizeof csv_columns[0];

  if (!o->header_done) {
    print_csv_header(o->out);
    o->header_done = true;
  }
  for (size_t k = 0; k < ncol; k++) {
    if (k > 0)
      fputc(',', o->out);
    if (put_csv_field(o->out,
                      column(n, names, fields, csv_columns[k].column)) != 0)
      return -1;
  }
  fputc('\n', o->out);
  return 0;
}

void admin_log_finish(struct admin_log_out *o)
{
  if (o->format == ADMIN_LOG_CSV && !o->header_done) {
    print_csv_header(o->out);
    o->header_done = true;
  }
}

int admin_log_row(void *arg, int n, const char *const *names,
                  const char *const *fields)
{
  struct admin_log_out *o = arg;

  if (n != COL_COUNT) {
    fprintf(stderr, "owcp-admin: unexpected log columns (%d)\n", n);
    return -1;
  }
  if (o->format == ADMIN_LOG_JSON || o->format == ADMIN_LOG_JSONL)
    return print_log_json(o->out, o->format == ADMIN_LOG_JSONL, n, names,
                          fields);
  if (o->format == ADMIN_LOG_CSV)
    return print_log_csv(o, n, names, fields);
  printf("%s %s ", fields[COL_SEQ], fields[COL_AT]);
  if (admin_put_text(fields[COL_EVENT]) != 0)
    return -1;
  for (int i = COL_EVENT + 1; i < COL_POSITION; i++) {
    if (fields[i] == NULL)
      continue;
    printf(" %s=", names[i]);
    if (admin_put_text(fields[i]) != 0)
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
  struct admin_log_out out = {stdout, ADMIN_LOG_TEXT, false};
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
      if (out.format != ADMIN_LOG_TEXT)
        return admin_usage_error(
            "log show: --json and --csv exclude each other");
      out.format = c == 'j' ? ADMIN_LOG_JSON : ADMIN_LOG_CSV;
      break;
    default:
      return admin_usage_error("log show: unknown option");
    }
  }
  if (optind != argc)
    return admin_usage_error("log show: unexpected argument '%s'",
                             argv[argc - 1]);
  /* Sealed first, so every entry shown has its position and hash. */
  rc = logchain_seal_all(a->st, &err);
  if (rc == 0)
    rc = store_log_query(a->st, &f, admin_log_row, &out, &err);
  if (rc < 0)
    return admin_db_error(&err);
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
      return admin_usage_error("log verify: unknown option");
  }
  if (optind != argc)
    return admin_usage_error("log verify: unexpected argument '%s'",
                             argv[optind]);
  if (v->no_head && v->head_file != NULL)
    return admin_usage_error(
        "log verify: --head and --no-head exclude each other");
  if (a->loaded && v->head_file == NULL && !v->no_head) {
    if (dispatcher_log_head_path(&a->file.dispatcher, v->head_path,
                                 sizeof v->head_path, &err) != 0)
      return admin_usage_error("%s", err.msg);
    v->head_file = v->head_path;
    v->head_from_config = true;
  }
  if (a->loaded && v->cert_file == NULL) {
    snprintf(v->cert_path, sizeof v->cert_path, "%s/signing.pem",
             a->file.dispatcher.key_dir);
    v->cert_file = v->cert_path;
  }
  if (v->head_file != NULL && v->cert_file == NULL)
    return admin_usage_error(
        "log verify: no certificate to check the head's "
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
    return admin_db_error(&err);
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

int admin_cmd_log(struct admin *a, int argc, char **argv)
{
  if (argc >= 1 && strcmp(argv[0], "show") == 0)
    return log_show(a, argc, argv);
  if (argc >= 1 && strcmp(argv[0], "verify") == 0)
    return log_verify(a, argc, argv);
  return admin_usage_error(
      "log: expected 'show [FILTERS]' or 'verify [--head FILE]'");
}
