/*
 * admin.h — what the parts of owcp-admin share: its context, exit
 * statuses and output helpers. owcp-admin.c holds the command line and
 * the account, code, requestor and client commands; admin_log.c the
 * confirmation log's commands (log show, log verify).
 */
#ifndef OWCP_DISPATCHER_ADMIN_H
#define OWCP_DISPATCHER_ADMIN_H

#include <stdbool.h>
#include <stdio.h>

#include "config.h"
#include "store.h"

enum {
  EXIT_OK = 0,
  EXIT_FAILED = 1, /* refused / not found / conflict / chain broken */
  EXIT_USAGE = 2,
  EXIT_DB = 3 /* database unreachable or failed */
};

/* What owcp-admin reads from a configuration file: the dispatcher's
 * sections ([dispatcher], and [admin] in dispatcher.admin). */
struct admin_file {
  struct dispatcher_config dispatcher;
};

struct admin {
  struct store *st;
  const char *sql_dir;
  struct admin_file file; /* the configuration file, when loaded */
  bool loaded;
};

/* Prints "owcp-admin: <message>" and the --help hint on stderr; returns
 * EXIT_USAGE. */
int admin_usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* Prints err's sentence on stderr; returns EXIT_DB. */
int admin_db_error(const struct owcp_error *err);

/* Prints s (NULL: "-") on stdout with every character that could drive a
 * terminal escaped (owcp_render_escape); 0, or -1 after saying why. */
int admin_put_text(const char *s);

/* How admin_log_row writes log rows: text (as `log show` prints them,
 * always on stdout), every column as one JSON object a line, CSV with the
 * header position,time,event,account,requestor,client,transaction,hash,
 * or JSON lines with those keys (the audit console's export). Stored text
 * is escaped for a terminal in each format's own way. */
enum admin_log_format {
  ADMIN_LOG_TEXT,
  ADMIN_LOG_JSON,
  ADMIN_LOG_CSV,
  ADMIN_LOG_JSONL
};

struct admin_log_out {
  FILE *out;
  enum admin_log_format format;
  bool header_done;
};

/* A store_row_fn for store_log_query's columns: writes the row to
 * ((struct admin_log_out *)arg)->out. */
int admin_log_row(void *arg, int n, const char *const *names,
                  const char *const *fields);

/* After the last row: writes the CSV header if no row came. */
void admin_log_finish(struct admin_log_out *o);

/* log show [FILTERS] | log verify [--head FILE ...] (admin_log.c). */
int admin_cmd_log(struct admin *a, int argc, char **argv);

#endif
