/*
 * config.h — owcp-dispatcher's configuration: the [dispatcher] section of
 * an INI file (service/config.h) and the command-line flags that override
 * it, one flag per key (--key-dir is key_dir). The one place that knows
 * the keys, their types, ranges and defaults, the usage text and the
 * cross-key rules; docs/configuration.md documents it for operators.
 */
#ifndef OWCP_DISPATCHER_CONFIG_H
#define OWCP_DISPATCHER_CONFIG_H

#include "context.h"
#include "owcp/service/config.h"

/* Read when neither --config nor any flag is given. */
#ifndef DISPATCHER_DEFAULT_CONFIG
#define DISPATCHER_DEFAULT_CONFIG "/etc/owcp/dispatcher.conf"
#endif

/* Exit statuses of the loader (and of owcp-dispatcher check). */
#define DISPATCHER_EXIT_UNUSABLE 1 /* check: a named file is unusable */
#define DISPATCHER_EXIT_CONFIG 4   /* invalid configuration or usage */

/* The keys of [dispatcher], members of struct dispatcher_config; another
 * program reading the same file (owcp-admin) builds its section table
 * from it. */
extern const struct svc_cfg_key dispatcher_config_keys[];

/* The keys of [admin] (owcp-admin serve), members of struct
 * admin_config. */
extern const struct svc_cfg_key admin_config_keys[];

/* The section table of a dispatcher configuration file: [dispatcher] and
 * the optional [admin]. */
extern const struct svc_cfg_section dispatcher_config_sections[];

/* The whole command line of owcp-dispatcher: --help, --version, `check`,
 * --config FILE (or the default file when no flag at all is given), then
 * the flags over it, then the cross-key rules. Returns true when the
 * dispatcher should start with *cfg (release it with
 * dispatcher_config_free()); false when the program should exit with
 * *exit_status (0 after --help, --version or a passing check; messages
 * already printed, *cfg released). */
bool dispatcher_config_from_args(int argc, char **argv,
                                 struct dispatcher_config *cfg,
                                 int *exit_status);

/* Reads and validates a configuration file alone (no flags): types,
 * unknown and missing keys, and the cross-key rules. 0, or -1 with err;
 * on success release *cfg with dispatcher_config_free(). */
int dispatcher_config_from_file(const char *path, struct dispatcher_config *cfg,
                                struct owcp_error *err);

/* What `check` adds to loading: the TLS files can be read and key_dir,
 * if it exists, is a directory we can use. 0, or -1 with err naming the
 * key. */
int dispatcher_config_check_files(const struct dispatcher_config *cfg,
                                  struct owcp_error *err);

/* The file signed log heads are appended to: log_head_file, else
 * key_dir/log-heads.jsonl, into out (size bytes). 0, or -1 with err. */
int dispatcher_log_head_path(const struct dispatcher_config *cfg, char *out,
                             size_t size, struct owcp_error *err);

/* Releases the copies in *cfg and zeroes it. */
void dispatcher_config_free(struct dispatcher_config *cfg);

#endif
