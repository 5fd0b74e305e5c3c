/*
 * pgpool.h — a thread-safe pool of PostgreSQL connections for any daemon
 * of the service layer. Connections are opened lazily, a broken one is
 * reopened on the next borrow, and each new connection goes through the
 * daemon's setup hook (the dispatcher prepares its statements there and
 * keeps its per-connection state). Statistics for metrics come from
 * svc_pgpool_stats().
 *
 * Errors follow owcp/service/pg.h: SVC_PG_UNAVAILABLE when the database
 * cannot be reached or no connection became free in time.
 */
#ifndef OWCP_SERVICE_PGPOOL_H
#define OWCP_SERVICE_PGPOOL_H

#include "owcp/service/pg.h"

#include <stddef.h>
#include <stdint.h>

struct svc_pgpool;

/* A borrowed connection, owned by the pool. */
struct svc_pgconn;

/* Runs once on every newly opened connection, before it is lent: may run
 * SQL (SET, PREPARE) and store per-connection state in *state (passed to
 * teardown when the connection is closed). A non-zero return closes the
 * connection and fails the borrow with that value. */
typedef int (*svc_pgpool_setup_fn)(void *arg, PGconn *conn, void **state,
                                   struct owcp_error *err);

/* Frees what setup stored (the connection itself is closed by the pool
 * afterwards); state may be NULL. */
typedef void (*svc_pgpool_teardown_fn)(void *arg, void *state);

struct svc_pgpool_hooks {
  svc_pgpool_setup_fn setup;       /* NULL: no setup */
  svc_pgpool_teardown_fn teardown; /* NULL: nothing to free */
  void *arg;                       /* borrowed for the pool's lifetime */
};

/* At most `size` connections to conninfo (copied). hooks may be NULL and
 * are copied. Returns NULL on a zero size or out of memory (the database
 * may be down at start: nothing connects yet). Caller frees with
 * svc_pgpool_free() once every connection has been released. */
struct svc_pgpool *svc_pgpool_new(const char *conninfo, size_t size,
                                  const struct svc_pgpool_hooks *hooks,
                                  struct owcp_error *err);

/* Closes every connection (teardown first) and frees the pool; NULL is
 * ignored. */
void svc_pgpool_free(struct svc_pgpool *pool);

/* Borrows a connection into *out, waiting up to wait_ms for one to be
 * free; a broken or never-opened one is (re)opened and set up outside the
 * pool's lock. Give it back with svc_pgpool_release(). */
int svc_pgpool_acquire(struct svc_pgpool *pool, int wait_ms,
                       struct svc_pgconn **out, struct owcp_error *err);

/* Gives a borrowed connection back; a transaction left open is rolled
 * back; a broken connection is reopened by a later borrow. NULL is
 * ignored. */
void svc_pgpool_release(struct svc_pgpool *pool, struct svc_pgconn *c);

/* The libpq connection and the setup hook's state of a borrowed
 * connection (both owned by the pool). */
PGconn *svc_pgconn_pg(const struct svc_pgconn *c);
void *svc_pgconn_state(const struct svc_pgconn *c);

struct svc_pgpool_stats {
  size_t size;            /* configured maximum */
  size_t open;            /* connections currently open */
  size_t in_use;          /* currently borrowed */
  uint64_t acquired;      /* successful borrows since start */
  uint64_t waits;         /* borrows that found no free connection */
  uint64_t wait_us;       /* total time those borrows waited */
  uint64_t timeouts;      /* borrows that gave up waiting */
  uint64_t connects;      /* connections opened (first time or reopened) */
  uint64_t connect_fails; /* opens or setups that failed */
};

/* A consistent snapshot of the pool's counters. */
void svc_pgpool_stats(struct svc_pgpool *pool, struct svc_pgpool_stats *out);

#endif
