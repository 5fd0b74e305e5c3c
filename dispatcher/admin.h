/*
 * admin.h — what the parts of owcp-admin share: its context, exit
 * statuses and output helpers. owcp-admin.c holds the command line and
 * the account, code, requestor and client commands; admin_log.c the
 * confirmation log's commands (log show, log verify).
 */
#ifndef OWCP_DISPATCHER_ADMIN_H
#define OWCP_DISPATCHER_ADMIN_H

#include <stdbool.h>

#include "config.h"
#include "store.h"

enum {
  EXIT_OK = 0,
  EXIT_FAILED = 1, /* refused / not found / conflict / chain broken */
  EXIT_USAGE = 2,
  EXIT_DB = 3 /* database unreachable or failed */
};

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

/* Prints "owcp-admin: <message>" and the --help hint on stderr; returns
 * EXIT_USAGE. */
int admin_usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* Prints err's sentence on stderr; returns EXIT_DB. */
int admin_db_error(const struct owcp_error *err);

/* Prints s (NULL: "-") on stdout with every character that could drive a
 * terminal escaped (owcp_render_escape); 0, or -1 after saying why. */
int admin_put_text(const char *s);

/* log show [FILTERS] | log verify [--head FILE ...] (admin_log.c). */
int admin_cmd_log(struct admin *a, int argc, char **argv);

#endif
