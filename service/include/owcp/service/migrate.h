/*
 * migrate.h — the migration runner every daemon of the service layer uses
 * for its database schema (docs/database-migrations.md).
 *
 * A daemon's directory (share/owcp/sql/<daemon>/ installed, sql/<daemon>/
 * in the source tree) holds:
 *   NNN_name.sql          numbered migrations (tables, indexes, types,
 *                         triggers, data changes), applied once each in
 *                         number order and recorded in schema_migrations;
 *                         never edited once released;
 *   procedures/NAME.sql   one stored procedure each, its live definition
 *                         (CREATE OR REPLACE), re-applied at every migrate
 *                         in name order after the numbered files; edited in
 *                         place.
 * A run is one transaction under an advisory lock, so concurrent runs are
 * safe (the second waits, then finds nothing left to do) and a failing file
 * leaves the database as it was.
 *
 * Errors follow owcp/service/pg.h (SVC_PG_UNAVAILABLE when the database is
 * unreachable).
 */
#ifndef OWCP_SERVICE_MIGRATE_H
#define OWCP_SERVICE_MIGRATE_H

#include "owcp/service/pg.h"

#include <stddef.h>

/* The default directory of `daemon`'s migrations: the first existing one of
 *   <directory of /proc/self/exe>/../share/owcp/sql/<daemon>  (an installed
 *       tree wherever it was moved, and the build tree, which mirrors it)
 *   <install datadir>/owcp/sql/<daemon>                       (absolute)
 * written into dir (size bytes). When none exists, err names every path
 * tried and -1 is returned. */
int svc_migrate_locate(const char *daemon, char *dir, size_t size,
                       struct owcp_error *err);

struct svc_migrate_result {
  int applied;    /* numbered migrations applied by this run */
  int procedures; /* procedure files (re)applied by this run */
};

/* Applies dir's pending numbered migrations and every procedure file to
 * conn, which must not be inside a transaction. out may be NULL. */
int svc_migrate(PGconn *conn, const char *dir, struct svc_migrate_result *out,
                struct owcp_error *err);

#endif
