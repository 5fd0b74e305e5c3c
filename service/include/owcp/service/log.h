/*
 * log.h — the operational log every owcp daemon writes: one JSON object
 * per line on standard error, {"ts":..., "log_level":..., "event":...,
 * "msg":...}, so that log collectors need no parser of ours. (The
 * dispatcher's confirmation log, the audit trail, is in the database.)
 * Never pass a secret to these functions.
 *
 * The threshold is the one piece of process-wide mutable state in the
 * service layer, kept in an atomic inside log.c: standard error itself is
 * process-wide, every thread of every module writes to it, and threading a
 * context pointer through each call site would buy nothing. SIGHUP changes
 * it at run time (svc_log_set_level).
 */
#ifndef OWCP_SERVICE_LOG_H
#define OWCP_SERVICE_LOG_H

#include <stddef.h>

/* Ordered by verbosity: a line is written when its level <= threshold. */
enum svc_log_level {
  SVC_LOG_ERROR = 0,
  SVC_LOG_WARN = 1,
  SVC_LOG_INFO = 2,
  SVC_LOG_DEBUG = 3,
};

/* Writes one line when level is at or above the threshold (default info).
 * A message or event that is not valid UTF-8 keeps every byte: each
 * invalid byte is written as the visible text \xNN. */
void svc_log(enum svc_log_level level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Sets / reads the threshold (thread-safe). */
void svc_log_set_level(enum svc_log_level level);
enum svc_log_level svc_log_get_level(void);

/* "error", "warn", "info" or "debug" (exactly these spellings) into *out;
 * returns 0, or -1 for anything else (and leaves *out alone). */
int svc_log_level_parse(const char *name, enum svc_log_level *out);

/* The spelling of level ("info" for an out-of-range value). */
const char *svc_log_level_name(enum svc_log_level level);

/* The line svc_log() would write for these values, without the newline:
 * a malloc()ed NUL-terminated string the caller frees, or NULL when memory
 * runs out. ts is an RFC 3339 timestamp. Exposed for tests. */
char *svc_log_line(const char *ts, enum svc_log_level level, const char *event,
                   const char *msg);

/* A copy of the len bytes at s in which every byte that is not part of a
 * valid UTF-8 sequence is replaced by the four characters \xNN. Caller
 * frees; NULL when memory runs out. */
char *svc_utf8_sanitize(const char *s, size_t len);

#endif
