/*
 * daemon.h — the process runtime every owcp daemon shares: signals taken
 * in one place (the main thread, synchronously), systemd notification
 * (READY, RELOADING, STOPPING, WATCHDOG through libsystemd's sd_notify;
 * silently nothing when not run by systemd), background threads that
 * never receive the process's signals, and the descriptor limit.
 *
 * Protocol: main() calls svc_signals_init() before any thread exists, then
 * starts its parts, then svc_run() until it returns, then stops its parts.
 *   SIGTERM, SIGINT → svc_run() returns (the daemon drains and exits 0);
 *   SIGHUP          → the daemon's reload callback runs on the main thread
 *                     (certificates, log level), between RELOADING=1 and
 *                     READY=1.
 */
#ifndef OWCP_SERVICE_DAEMON_H
#define OWCP_SERVICE_DAEMON_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "owcp/util.h"

/* Blocks SIGTERM, SIGINT and SIGHUP in the calling thread (so every thread
 * created later inherits the mask and only svc_run() takes them) and
 * ignores SIGPIPE (a peer closing its socket yields EPIPE). */
void svc_signals_init(void);

/* Reload callback: returns 0, or -1 having logged why (the daemon keeps
 * running with its previous settings). */
typedef int (*svc_reload_fn)(void *arg);

/* Sends READY=1 (with STATUS=status when not NULL), then waits for
 * signals, calling reload on SIGHUP and sending WATCHDOG=1 every half of
 * $WATCHDOG_USEC when systemd asked for it. Returns the stopping signal's
 * number after sending STOPPING=1. */
int svc_run(svc_reload_fn reload, void *arg, const char *status);

/* pthread_create() with SIGINT, SIGTERM, SIGHUP, SIGQUIT and SIGPIPE
 * blocked in the new thread (they belong to the main thread, and a peer
 * closing its socket must yield EPIPE rather than kill the process).
 * Fills err on failure. */
int svc_thread_create(pthread_t *thread, void *(*start_routine)(void *),
                      void *arg, struct owcp_error *err);

/* Sleeps about ms in 50 ms slices, returning early once *stop is true, so
 * that shutdown is noticed promptly. */
void svc_sleep_unless(const atomic_bool *stop, int ms);

/* Raises the soft RLIMIT_NOFILE to want + 256 (room for that many sockets
 * plus database connections and files), up to the hard limit. Returns the
 * soft limit in force afterwards (0 when it cannot be read). */
unsigned long svc_raise_fd_limit(unsigned want);

#endif
