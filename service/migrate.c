/*
 * migrate.c — implementation of owcp/service/migrate.h.
 */
#include "owcp/service/migrate.h"

#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef OWCP_INSTALL_DATADIR
#define OWCP_INSTALL_DATADIR "/usr/local/share"
#endif

/* Advisory lock key ("OWCPMIGR" as big-endian ASCII), the one the runner
 * before it took per session, so old and new runners exclude each other. */
#define MIGRATE_LOCK "5716493375148493138"

/* A migration or procedure file; the largest is a few dozen KiB. */
#define MIGRATION_MAX ((size_t)1024 * 1024)

/* ---- finding the directory -------------------------------------------- */

static bool is_dir(const char *path)
{
  struct stat sb;

  return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* "<dir of the running executable>/../share/owcp/sql/<daemon>" into buf;
 * false when /proc/self/exe cannot be read. */
static bool exe_relative(const char *daemon, char *buf, size_t size)
{
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);

  if (n <= 0)
    return false;
  exe[n] = '\0';
  return (size_t)snprintf(buf, size, "%s/../share/owcp/sql/%s", dirname(exe),
                          daemon) < size;
}

int svc_migrate_locate(const char *daemon, char *dir, size_t size,
                       struct owcp_error *err)
{
  char rel[PATH_MAX] = "(/proc/self/exe unreadable)";
  char abs[PATH_MAX];

  if (exe_relative(daemon, rel, sizeof rel) && is_dir(rel) &&
      (size_t)snprintf(dir, size, "%s", rel) < size)
    return 0;
  snprintf(abs, sizeof abs, "%s/owcp/sql/%s", OWCP_INSTALL_DATADIR, daemon);
  if (is_dir(abs) && (size_t)snprintf(dir, size, "%s", abs) < size)
    return 0;
  owcp_error_set(err, "no %s migrations found: looked in %s and %s", daemon,
                 rel, abs);
  return -1;
}

/* ---- listing files ------------------------------------------------------ */

struct names {
  char **v;
  size_t n;
};

static void names_free(struct names *l)
{
  for (size_t i = 0; i < l->n; i++)
    free(l->v[i]);
  free(l->v);
  l->v = NULL;
  l->n = 0;
}

static bool ends_with_sql(const char *name)
{
  size_t n = strlen(name);

  return n > 4 && strcmp(name + n - 4, ".sql") == 0;
}

/* NNN_name.sql */
static bool is_migration_name(const char *name)
{
  return strlen(name) > 8 && name[0] >= '0' && name[0] <= '9' &&
         name[1] >= '0' && name[1] <= '9' && name[2] >= '0' && name[2] <= '9' &&
         name[3] == '_' && ends_with_sql(name);
}

static bool is_procedure_name(const char *name)
{
  return name[0] != '.' && ends_with_sql(name);
}

static int cmp_names(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int names_add(struct names *l, const char *name)
{
  char **grown = realloc(l->v, (l->n + 1) * sizeof *l->v);

  if (grown == NULL)
    return -1;
  l->v = grown;
  l->v[l->n] = strdup(name);
  if (l->v[l->n] == NULL)
    return -1;
  l->n++;
  return 0;
}

/* The names in dir that match, sorted (zero-padded numbers sort by value).
 * A missing directory is an empty list when optional. */
static int list_dir(const char *dir, bool (*match)(const char *), bool optional,
                    struct names *out, struct owcp_error *err)
{
  DIR *d = opendir(dir);
  struct dirent *de;

  out->v = NULL;
  out->n = 0;
  if (d == NULL) {
    if (optional && errno == ENOENT)
      return 0;
    owcp_error_set(err, "cannot open migrations directory %s: %s", dir,
                   strerror(errno));
    return -1;
  }
  while ((de = readdir(d)) != NULL) {
    if (match(de->d_name) && names_add(out, de->d_name) != 0) {
      closedir(d);
      names_free(out);
      owcp_error_set(err, "out of memory listing %s", dir);
      return -1;
    }
  }
  closedir(d);
  if (out->n > 0)
    qsort(out->v, out->n, sizeof *out->v, cmp_names);
  return 0;
}

/* Two files with one number would make "applied once" ambiguous. */
static int check_unique_numbers(const char *dir, const struct names *m,
                                struct owcp_error *err)
{
  for (size_t i = 1; i < m->n; i++) {
    if (strncmp(m->v[i - 1], m->v[i], 3) == 0) {
      owcp_error_set(err, "migrations %s and %s in %s share a number",
                     m->v[i - 1], m->v[i], dir);
      return -1;
    }
  }
  return 0;
}

/* ---- applying ----------------------------------------------------------- */

/* Runs one file's SQL text inside the migration transaction. */
static int run_file(PGconn *conn, const char *dir, const char *name,
                    struct owcp_error *err)
{
  char path[PATH_MAX];
  unsigned char *sql = NULL;
  size_t len;
  int rc;

  if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path) {
    owcp_error_set(err, "migration path too long: %s/%s", dir, name);
    return -1;
  }
  if (owcp_file_read(path, MIGRATION_MAX, &sql, &len, err) != 0)
    return -1;
  rc = svc_pg_exec(conn, (const char *)sql, name, err);
  free(sql);
  return rc;
}

/* True when version (the file's NNN) is recorded; *rc set on failure. */
static bool is_recorded(PGconn *conn, const char *name, int *rc,
                        struct owcp_error *err)
{
  char version[4];
  const char *vals[1] = {version};
  PGresult *res;
  bool found;

  memcpy(version, name, 3);
  version[3] = '\0';
  res = PQexecParams(conn,
                     "SELECT 1 FROM schema_migrations WHERE version = $1::int",
                     1, NULL, vals, NULL, NULL, 0);
  if (PQresultStatus(res) != PGRES_TUPLES_OK) {
    *rc = svc_pg_fail(conn, res, "migration lookup", err);
    PQclear(res);
    return false;
  }
  found = PQntuples(res) > 0;
  PQclear(res);
  return found;
}

static int record(PGconn *conn, const char *name, struct owcp_error *err)
{
  char version[4];
  const char *vals[2] = {version, name};
  PGresult *res;
  int rc = 0;

  memcpy(version, name, 3);
  version[3] = '\0';
  res = PQexecParams(conn,
                     "INSERT INTO schema_migrations (version, name) "
                     "VALUES ($1::int, $2)",
                     2, NULL, vals, NULL, NULL, 0);
  if (PQresultStatus(res) != PGRES_COMMAND_OK)
    rc = svc_pg_fail(conn, res, "migration record", err);
  PQclear(res);
  return rc;
}

/* Applies the numbered files not yet recorded; *applied counts them. */
static int apply_numbered(PGconn *conn, const char *dir, const struct names *m,
                          int *applied, struct owcp_error *err)
{
  for (size_t i = 0; i < m->n; i++) {
    int rc = 0;

    if (is_recorded(conn, m->v[i], &rc, err) || rc != 0) {
      if (rc != 0)
        return rc;
      continue;
    }
    rc = run_file(conn, dir, m->v[i], err);
    if (rc == 0)
      rc = record(conn, m->v[i], err);
    if (rc != 0)
      return rc;
    (*applied)++;
  }
  return 0;
}

static int apply_procedures(PGconn *conn, const char *pdir,
                            const struct names *p, int *count,
                            struct owcp_error *err)
{
  for (size_t i = 0; i < p->n; i++) {
    int rc = run_file(conn, pdir, p->v[i], err);

    if (rc != 0)
      return rc;
    (*count)++;
  }
  return 0;
}

/* The whole run, inside the transaction and under the lock. */
static int apply_all(PGconn *conn, const char *dir, const struct names *m,
                     const char *pdir, const struct names *p,
                     struct svc_migrate_result *out, struct owcp_error *err)
{
  int rc = svc_pg_exec(conn, "SELECT pg_advisory_xact_lock(" MIGRATE_LOCK ")",
                       "migration lock", err);

  if (rc == 0)
    rc = svc_pg_exec(conn,
                     "CREATE TABLE IF NOT EXISTS schema_migrations ("
                     "version integer PRIMARY KEY, name text NOT NULL, "
                     "applied_at timestamptz NOT NULL DEFAULT now())",
                     "schema_migrations", err);
  if (rc == 0)
    rc = apply_numbered(conn, dir, m, &out->applied, err);
  if (rc == 0)
    rc = apply_procedures(conn, pdir, p, &out->procedures, err);
  return rc;
}

int svc_migrate(PGconn *conn, const char *dir, struct svc_migrate_result *out,
                struct owcp_error *err)
{
  struct svc_migrate_result local = {0, 0};
  struct names m, p = {NULL, 0};
  char pdir[PATH_MAX];
  int rc;

  if (out == NULL)
    out = &local;
  out->applied = 0;
  out->procedures = 0;
  if (list_dir(dir, is_migration_name, false, &m, err) != 0)
    return -1;
  snprintf(pdir, sizeof pdir, "%s/procedures", dir);
  rc = check_unique_numbers(dir, &m, err);
  if (rc == 0)
    rc = list_dir(pdir, is_procedure_name, true, &p, err);
  if (rc == 0 && m.n == 0) {
    owcp_error_set(err, "no NNN_name.sql migrations in %s", dir);
    rc = -1;
  }
  if (rc == 0)
    rc = svc_pg_exec(conn, "BEGIN", "migration", err);
  if (rc == 0) {
    rc = apply_all(conn, dir, &m, pdir, &p, out, err);
    if (rc == 0)
      rc = svc_pg_exec(conn, "COMMIT", "migration commit", err);
    else
      svc_pg_exec(conn, "ROLLBACK", "migration rollback", NULL);
  }
  if (rc != 0) {
    out->applied = 0;
    out->procedures = 0;
  }
  names_free(&m);
  names_free(&p);
  return rc;
}
