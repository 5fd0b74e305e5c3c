/*
 * log.h — the dispatcher's operational log: one JSON object per line on
 * stderr, so that log collectors need no parser of ours. (The confirmation
 * log, the audit trail, is in the database: see logchain.h.) Never pass a
 * secret to these functions.
 */
#ifndef OWCP_DISPATCHER_LOG_H
#define OWCP_DISPATCHER_LOG_H

/* Writes {"ts":..., "level":level, "event":event, "msg":<formatted>}. */
void dlog(const char *level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
