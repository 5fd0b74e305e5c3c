/*
 * owcp/service/config.h — declarative INI configuration for every owcp
 * daemon (the format of enrollment-bridge.md §2, docs/configuration.md).
 * A daemon declares one table of svc_cfg_section entries, each with a table
 * of svc_cfg_key entries ({key, type, member of its struct, presence,
 * range or choices, doc}), and svc_config_load() reads a file into its
 * struct or fails with one sentence naming file:line and [section] key.
 * libinih splits the lines; this module adds what inih does not do:
 * inline '#' comments, types, ranges, duplicates, required keys, path
 * resolution and secret-file modes.
 *
 * Example:
 *   struct conf { char *db; int64_t max_body; struct svc_listen listen; };
 *   static const struct svc_cfg_key main_keys[] = {
 *     SVC_CFG_STRING(struct conf, db, "db", SVC_CFG_REQUIRED, NULL, "libpq"),
 *     SVC_CFG_INT(struct conf, max_body, "max_body", 0, "262144", 1024,
 *                 67108864, "bytes"),
 *     SVC_CFG_LISTEN(struct conf, listen, "listen", SVC_CFG_REQUIRED, NULL,
 *                    "HOST:PORT"),
 *     SVC_CFG_KEY_END};
 *   static const struct svc_cfg_section sections[] = {
 *     SVC_CFG_SECTION("main", main_keys), SVC_CFG_SECTION_END};
 *   struct conf c;
 *   if (svc_config_load("/etc/x.conf", sections, &c, &err) != 0) ...
 *   svc_config_free(sections, &c);
 *
 * Values (after trimming, never quoted):
 *  - bool: exactly "yes" or "no" (one spelling, as in the contract's
 *    example; true/false/on/off/1/0 are refused with a message saying so);
 *  - int: decimal, optional '-', within [min, max];
 *  - enum: one of `choices`, case-sensitive; stored as the index;
 *  - listen: HOST:PORT with a numeric IPv4 host, or [IPV6]:PORT; port 0-65535;
 *  - path: absolute, or relative to the configuration file's directory
 *    (stored resolved; a value set with svc_config_apply() and no base
 *    directory stays as given);
 *  - secret: a path as above to a regular file that exists and has no
 *    permission bits for group or others (secrets and private keys);
 *  - a key flagged SVC_CFG_LIST may repeat and keeps its order; any other
 *    key given twice is an error naming both lines.
 * Lines: '#' or ';' at the start of a line or after a blank starts a
 * comment; leading blanks are insignificant (no continuation lines);
 * a line holds at most SVC_CFG_LINE_MAX characters before its comment.
 */
#ifndef OWCP_SERVICE_CONFIG_H
#define OWCP_SERVICE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "owcp/util.h"

/* libinih's fixed line buffer (INI_MAX_LINE 200, Debian's build) less its
 * newline and NUL. Longer lines are an error, never silently split. */
#define SVC_CFG_LINE_MAX 197

/* A numeric host and port. host is without brackets ("::1"). */
struct svc_listen {
  char host[46]; /* INET6_ADDRSTRLEN */
  unsigned short port;
};

/* A list key: items[0..count) (NULL-terminated), each a copy. */
struct svc_cfg_list {
  char **items;
  size_t count;
};

enum svc_cfg_type {
  SVC_CFG_T_END = 0,
  SVC_CFG_T_STRING, /* char * (a copy) */
  SVC_CFG_T_PATH,   /* char * (a copy, resolved) */
  SVC_CFG_T_SECRET, /* char * (a copy, resolved, mode checked) */
  SVC_CFG_T_BOOL,   /* bool */
  SVC_CFG_T_INT,    /* any standard integer type, see svc_cfg_int_kind */
  SVC_CFG_T_ENUM,   /* int: index into choices */
  SVC_CFG_T_LISTEN  /* struct svc_listen */
};

/* The C type of an SVC_CFG_T_INT member (chosen by _Generic). */
enum svc_cfg_int_kind {
  SVC_CFG_INT_INT = 1,
  SVC_CFG_INT_UINT,
  SVC_CFG_INT_LONG,
  SVC_CFG_INT_ULONG,
  SVC_CFG_INT_LLONG,
  SVC_CFG_INT_ULLONG,
  SVC_CFG_INT_USHORT
};

/* Key flags. */
#define SVC_CFG_REQUIRED 0x1u /* absent is an error (unless section off) */
#define SVC_CFG_LIST 0x2u     /* may repeat; member is struct svc_cfg_list */

/* One key of a section. Write tables with the SVC_CFG_* macros. */
struct svc_cfg_key {
  const char *name;           /* NULL ends the table */
  const char *def;            /* default, as text (parsed like a value) */
  const char *doc;            /* one line for docs and --help */
  const char *const *choices; /* ENUM: NULL-terminated */
  size_t offset;              /* member within the section's struct */
  long long min, max;         /* INT range, inclusive */
  enum svc_cfg_type type;     /* list keys: the type of each item */
  enum svc_cfg_int_kind int_kind;
  unsigned flags;
};

/* Section flags. */
#define SVC_CFG_OPTIONAL                                                       \
  0x1u /* may be absent: its keys are then not                                 \
          required and keep their defaults */
#define SVC_CFG_ENABLE                                                         \
  0x2u /* accepts 'enabled = yes|no' (default yes);                            \
          with no, its keys are not required */
#define SVC_CFG_TEMPLATE                                                       \
  0x4u /* name is a prefix: [PREFIX.NAME] makes one                            \
          instance per NAME, see below */

/* One section. Key offsets are relative to `base_offset` into the loaded
 * struct, or, for a template section, to one instance struct: the loaded
 * struct's member at `base_offset` is `void *` to an array of instances of
 * `instance_size` bytes, `count_offset` its size_t count, and each
 * instance's char * at `name_offset` holds NAME. `enabled_offset` (with
 * OPTIONAL or ENABLE, not with TEMPLATE) is a bool member of the loaded
 * struct: true when the section is present and not 'enabled = no'. */
struct svc_cfg_section {
  const char *name; /* NULL ends the table */
  const struct svc_cfg_key *keys;
  size_t base_offset;
  size_t enabled_offset;
  size_t instance_size, count_offset, name_offset;
  unsigned flags;
  bool has_enabled;
};

/* offsetof(T, m) that compiles only when m has type `ctype`. */
#define SVC_CFG_MEMBER_(T, m, ctype)                                           \
  _Generic(&((T *)0)->m, ctype * : offsetof(T, m))

#define SVC_CFG_INT_KIND_(T, m)                                                \
  _Generic(&((T *)0)->m,                                                       \
      int *: SVC_CFG_INT_INT,                                                  \
      unsigned *: SVC_CFG_INT_UINT,                                            \
      long *: SVC_CFG_INT_LONG,                                                \
      unsigned long *: SVC_CFG_INT_ULONG,                                      \
      long long *: SVC_CFG_INT_LLONG,                                          \
      unsigned long long *: SVC_CFG_INT_ULLONG,                                \
      unsigned short *: SVC_CFG_INT_USHORT)

/* char *m: the value, trimmed, as given. */
#define SVC_CFG_STRING(T, m, name_, flags_, def_, doc_)                        \
  {                                                                            \
    .name = (name_), .type = SVC_CFG_T_STRING,                                 \
    .offset = SVC_CFG_MEMBER_(T, m, char *), .flags = (flags_), .def = (def_), \
    .doc = (doc_)                                                              \
  }

/* char *m: a path, resolved against the file's directory. */
#define SVC_CFG_PATH(T, m, name_, flags_, def_, doc_)                          \
  {                                                                            \
    .name = (name_), .type = SVC_CFG_T_PATH,                                   \
    .offset = SVC_CFG_MEMBER_(T, m, char *), .flags = (flags_), .def = (def_), \
    .doc = (doc_)                                                              \
  }

/* char *m: a path to a secret or private key (mode checked). */
#define SVC_CFG_SECRET(T, m, name_, flags_, doc_)                              \
  {                                                                            \
    .name = (name_), .type = SVC_CFG_T_SECRET,                                 \
    .offset = SVC_CFG_MEMBER_(T, m, char *), .flags = (flags_), .doc = (doc_)  \
  }

/* bool m: yes or no. */
#define SVC_CFG_BOOL(T, m, name_, flags_, def_, doc_)                          \
  {                                                                            \
    .name = (name_), .type = SVC_CFG_T_BOOL,                                   \
    .offset = SVC_CFG_MEMBER_(T, m, bool), .flags = (flags_), .def = (def_),   \
    .doc = (doc_)                                                              \
  }

/* Any standard integer member m: a decimal in [min_, max_]. */
#define SVC_CFG_INT(T, m, name_, flags_, def_, min_, max_, doc_)               \
  {                                                                            \
    .name = (name_), .type = SVC_CFG_T_INT, .offset = offsetof(T, m),          \
    .int_kind = SVC_CFG_INT_KIND_(T, m), .flags = (flags_), .def = (def_),     \
    .min = (min_), .max = (max_), .doc = (doc_)                                \
  }

/* int m: the index in choices_ (NULL-terminated) of the value. */
#define SVC_CFG_ENUM(T, m, name_, flags_, def_, choices_, doc_)                \
  {                                                                            \
    .name = (name_), .type = SVC_CFG_T_ENUM,                                   \
    .offset = SVC_CFG_MEMBER_(T, m, int), .flags = (flags_), .def = (def_),    \
    .choices = (choices_), .doc = (doc_)                                       \
  }

/* struct svc_listen m: HOST:PORT or [V6]:PORT. */
#define SVC_CFG_LISTEN(T, m, name_, flags_, def_, doc_)                        \
  {                                                                            \
    .name = (name_), .type = SVC_CFG_T_LISTEN,                                 \
    .offset = SVC_CFG_MEMBER_(T, m, struct svc_listen), .flags = (flags_),     \
    .def = (def_), .doc = (doc_)                                               \
  }

/* struct svc_cfg_list m: a repeatable key whose every item is checked as
 * item_type (STRING, PATH, SECRET, LISTEN or ENUM with choices_) and kept
 * as text (paths resolved). */
#define SVC_CFG_LIST_OF(T, m, name_, flags_, item_type, choices_, doc_)        \
  {                                                                            \
    .name = (name_), .type = (item_type),                                      \
    .offset = SVC_CFG_MEMBER_(T, m, struct svc_cfg_list),                      \
    .flags = (flags_) | SVC_CFG_LIST, .choices = (choices_), .doc = (doc_)     \
  }

#define SVC_CFG_KEY_END                                                        \
  {                                                                            \
    .name = NULL                                                               \
  }

/* A section whose keys' members are in the loaded struct itself. */
#define SVC_CFG_SECTION(name_, keys_)                                          \
  {                                                                            \
    .name = (name_), .keys = (keys_)                                           \
  }

/* A section whose keys' members are in the struct at T.sub_m: how a
 * program reuses another's key table inside a struct of its own. */
#define SVC_CFG_SECTION_AT(name_, keys_, T, sub_m)                             \
  {                                                                            \
    .name = (name_), .keys = (keys_), .base_offset = offsetof(T, sub_m)        \
  }

/* A section that may be absent or say 'enabled = no'; bool T.enabled_m
 * says which; its keys' members are in the struct at T.sub_m. */
#define SVC_CFG_SECTION_SWITCHED(name_, keys_, T, sub_m, enabled_m)            \
  {                                                                            \
    .name = (name_), .keys = (keys_), .base_offset = offsetof(T, sub_m),       \
    .flags = SVC_CFG_OPTIONAL | SVC_CFG_ENABLE, .has_enabled = true,           \
    .enabled_offset = SVC_CFG_MEMBER_(T, enabled_m, bool)                      \
  }

/* [prefix_.NAME] sections: T.array_m (a pointer to I) and T.count_m hold
 * one I per NAME in file order; I.name_m is NAME. */
#define SVC_CFG_SECTION_TEMPLATE(prefix_, keys_, T, array_m, count_m, I,       \
                                 name_m)                                       \
  {                                                                            \
    .name = (prefix_), .keys = (keys_), .flags = SVC_CFG_TEMPLATE,             \
    .base_offset = SVC_CFG_MEMBER_(T, array_m, I *),                           \
    .count_offset = SVC_CFG_MEMBER_(T, count_m, size_t),                       \
    .instance_size = sizeof(I),                                                \
    .name_offset = SVC_CFG_MEMBER_(I, name_m, char *)                          \
  }

#define SVC_CFG_SECTION_END                                                    \
  {                                                                            \
    .name = NULL                                                               \
  }

/* Zeroes every member the tables name (without releasing anything: `out`
 * may be uninitialised) and sets the defaults. Returns 0, or -1 with err
 * naming the key whose default does not parse (a table bug). */
int svc_config_defaults(const struct svc_cfg_section *sections, void *out,
                        struct owcp_error *err);

/* Sets the defaults, then reads `path` into `out`, then checks required
 * keys. On failure releases everything (members zeroed) and sets err to
 * "FILE:LINE: [SECTION] KEY: PROBLEM" (FILE:LINE: PROBLEM for a line that
 * is not a key, "FILE: [SECTION] KEY: ..." for a missing key). On success
 * the caller releases with svc_config_free(). */
int svc_config_load(const char *path, const struct svc_cfg_section *sections,
                    void *out, struct owcp_error *err);

/* svc_config_load() without the check of required keys, for callers that
 * apply settings (flags) on top before svc_config_check(). */
int svc_config_read(const char *path, const struct svc_cfg_section *sections,
                    void *out, struct owcp_error *err);

/* Checks that every SVC_CFG_REQUIRED key of every enabled section (and of
 * every template instance) is set; `where` (a file name, or NULL) prefixes
 * the message "[SECTION] KEY: required but not given". Only string, path,
 * secret, listen and list keys may be required (numbers and switches take a
 * default instead): "set" means non-NULL / non-empty. */
int svc_config_check(const struct svc_cfg_section *sections, void *out,
                     const char *where, struct owcp_error *err);

/* One value from elsewhere (a command-line flag) for [section] key. */
struct svc_cfg_setting {
  const char *section, *key, *value;
  const char *origin; /* names it in errors, e.g. "--threads" */
};

/* Applies settings over a loaded (or defaulted) `out`, in order: the first
 * setting of a list key replaces the list, later ones append; a scalar
 * takes the last value. Paths are kept as given (relative to the working
 * directory). Unknown keys are an error. On failure `out` stays valid
 * (still to be freed) and err reads "ORIGIN: PROBLEM". */
int svc_config_apply(const struct svc_cfg_section *sections,
                     const struct svc_cfg_setting *settings, size_t n,
                     void *out, struct owcp_error *err);

/* Releases every copy in `out` and zeroes the members; safe twice. */
void svc_config_free(const struct svc_cfg_section *sections, void *out);

/* Parses HOST:PORT / [V6]:PORT (numeric host). 0 or -1 with err. */
int svc_listen_parse(const char *text, struct svc_listen *out,
                     struct owcp_error *err);

/* Checks that path is a regular file without group/other permissions.
 * 0, or -1 with err saying what is wrong (mode in octal). */
int svc_secret_file_check(const char *path, struct owcp_error *err);

/* The line of path on which [section] key is given for the nth time (0:
 * the first), or 0 when it is not there: for messages about rules a daemon
 * checks after loading (a value that parsed but does not fit another key),
 * so they too read "FILE:LINE: [SECTION] KEY: ...". */
int svc_config_key_line(const char *path, const char *section, const char *key,
                        size_t nth);

/* The section table entry and key for [section] key, or NULL. */
const struct svc_cfg_key *
svc_config_find(const struct svc_cfg_section *sections, const char *section,
                const char *key);

#endif
