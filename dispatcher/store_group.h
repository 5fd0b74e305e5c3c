/*
 * store_group.h — group commit: durable procedure calls made at the same
 * moment by several request threads run as one transaction (one commit,
 * one round trip). Used by store_run() for the statements marked
 * `grouped` (RD-Confirm, CD-Reply); store_group.c says why and what stays
 * the same.
 */
#ifndef OWCP_DISPATCHER_STORE_GROUP_H
#define OWCP_DISPATCHER_STORE_GROUP_H

#include "owcp/service/pg.h"
#include "owcp/util.h"
#include "store.h"

struct store_then; /* store_internal.h */

#include <libpq-fe.h>

#include <stddef.h>

/* The most calls one group may take. */
#define STORE_GROUP_MAX 64

struct store;
struct store_stmt;
struct store_group;

/* A group committer for one process's pool; max calls per group
 * (1..STORE_GROUP_MAX). NULL when out of memory. Free with
 * store_group_free() once no thread uses it. */
struct store_group *store_group_new(size_t max);
void store_group_free(struct store_group *g);

/* Runs prepared statement s with p as part of a group, using st's
 * connection when this caller leads the group. Returns like store_run():
 * 0 with *out the result the caller PQclear()s, or an error in err. The
 * result is durable when this returns. then (may be NULL) is run once the
 * group committed, before its wake-up keys go out, by whichever thread
 * leads it (store_internal.h). */
int store_group_run(struct store_group *g, struct store *st,
                    const struct store_stmt *s, const struct svc_pg_params *p,
                    const struct store_then *then, PGresult **out,
                    struct owcp_error *err);

/* Its counts since start (struct store_group_counts: store.h). */
void store_group_counts(struct store_group *g, struct store_group_counts *out);

#endif
