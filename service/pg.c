/*
 * pg.c — implementation of owcp/service/pg.h: libpq connection, failure
 * classification, parameters and column readers shared by every daemon.
 */
#include "owcp/service/pg.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void quiet_notice(void *arg, const char *message)
{
}

void svc_pg_conn_error(const PGconn *conn, char *buf, size_t size)
{
  const char *msg =
      conn ? PQerrorMessage(conn) : "out of memory allocating a connection";
  size_t n = 0;

  if (size == 0)
    return;
  /* libpq ends with "\n" and continues hints on "\n\t" lines: one line. */
  for (const char *c = msg; *c != '\0' && n + 1 < size; c++) {
    if (*c == '\n' || *c == '\t') {
      if (n > 0 && buf[n - 1] != ' ')
        buf[n++] = ' ';
      continue;
    }
    buf[n++] = *c;
  }
  while (n > 0 && buf[n - 1] == ' ')
    n--;
  buf[n] = '\0';
}

PGconn *svc_pg_connect(const char *conninfo, const char *purpose,
                       struct owcp_error *err)
{
  PGconn *conn = PQconnectdb(conninfo);

  if (PQstatus(conn) != CONNECTION_OK) {
    char msg[OWCP_ERROR_MAX];

    svc_pg_conn_error(conn, msg, sizeof msg);
    owcp_error_set(err, "database unavailable%s: %s", purpose, msg);
    PQfinish(conn);
    return NULL;
  }
  PQsetNoticeProcessor(conn, quiet_notice, NULL);
  return conn;
}

bool svc_pg_is_broken(const PGconn *conn)
{
  return conn == NULL || PQstatus(conn) != CONNECTION_OK;
}

int svc_pg_fail(const PGconn *conn, const PGresult *res, const char *what,
                struct owcp_error *err)
{
  const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
  const char *primary =
      res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
  char msg[OWCP_ERROR_MAX];

  if (primary != NULL)
    snprintf(msg, sizeof msg, "%s", primary);
  else
    svc_pg_conn_error(conn, msg, sizeof msg);
  if (svc_pg_is_broken(conn) ||
      (state != NULL &&
       (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0))) {
    owcp_error_set(err, "database unavailable during %s: %s", what, msg);
    return SVC_PG_UNAVAILABLE;
  }
  owcp_error_set(err, "database error during %s: %s%s%s", what,
                 state ? state : "", state ? " " : "", msg);
  return -1;
}

int svc_pg_exec(PGconn *conn, const char *sql, const char *what,
                struct owcp_error *err)
{
  PGresult *res = PQexec(conn, sql);
  ExecStatusType status = PQresultStatus(res);
  int rc = 0;

  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK &&
      status != PGRES_EMPTY_QUERY)
    rc = svc_pg_fail(conn, res, what, err);
  PQclear(res);
  return rc;
}

void svc_pg_reset_transaction(PGconn *conn)
{
  if (!svc_pg_is_broken(conn) && PQtransactionStatus(conn) != PQTRANS_IDLE)
    svc_pg_exec(conn, "ROLLBACK", "release", NULL);
}

bool svc_pg_missing_schema(const PGresult *res)
{
  const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

  return state != NULL &&
         (strcmp(state, "42883") == 0 || strcmp(state, "42P01") == 0);
}

int svc_pg_expect_one(PGresult **res, const char *what, struct owcp_error *err)
{
  if (PQntuples(*res) == 1)
    return 0;
  owcp_error_set(err, "database error during %s: expected one row, got %d",
                 what, PQntuples(*res));
  PQclear(*res);
  *res = NULL;
  return -1;
}

int svc_pg_rows_array(PGresult *res, const char *what, size_t item_size,
                      svc_pg_fill_fn fill, void **items, size_t *count,
                      struct owcp_error *err)
{
  int n = PQntuples(res);
  int rc = 0;

  *items = NULL;
  *count = 0;
  if (n > 0) {
    *items = calloc((size_t)n, item_size);
    if (*items == NULL) {
      PQclear(res);
      owcp_error_set(err, "out of memory reading %d rows of %s", n, what);
      return -1;
    }
  }
  for (int i = 0; i < n && rc == 0; i++) {
    *count = (size_t)i + 1;
    rc = fill(res, i, (char *)*items + (size_t)i * item_size, err);
  }
  PQclear(res);
  return rc;
}

/* ---- parameters ------------------------------------------------------- */

void svc_pg_param_text(struct svc_pg_params *p, const char *s)
{
  p->v[p->n] = s;
  p->len[p->n] = 0;
  p->fmt[p->n] = 0;
  p->n++;
}

void svc_pg_param_bin(struct svc_pg_params *p, const void *data, size_t len)
{
  p->v[p->n] = data;
  p->len[p->n] = (int)len;
  p->fmt[p->n] = 1;
  p->n++;
}

void svc_pg_param_int(struct svc_pg_params *p, int64_t v)
{
  snprintf(p->num[p->n], sizeof p->num[p->n], "%" PRId64, v);
  svc_pg_param_text(p, p->num[p->n]);
}

void svc_pg_param_time(struct svc_pg_params *p, time_t t)
{
  if (t == 0) {
    svc_pg_param_text(p, NULL);
    return;
  }
  svc_pg_param_int(p, (int64_t)t);
}

void svc_pg_param_bool(struct svc_pg_params *p, bool b)
{
  svc_pg_param_text(p, b ? "true" : "false");
}

/* ---- column readers --------------------------------------------------- */

const char *svc_pg_get(const PGresult *res, int row, int col)
{
  return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

int64_t svc_pg_get_int(const PGresult *res, int row, int col)
{
  const char *v = svc_pg_get(res, row, col);

  return v ? strtoll(v, NULL, 10) : 0;
}

bool svc_pg_get_bool(const PGresult *res, int row, int col)
{
  const char *v = svc_pg_get(res, row, col);

  return v != NULL && v[0] == 't';
}

int svc_pg_get_fixed(const PGresult *res, int row, int col, char *buf,
                     size_t size, struct owcp_error *err)
{
  const char *v = svc_pg_get(res, row, col);
  size_t n = v ? strlen(v) : 0;

  if (n >= size) {
    owcp_error_set(err, "database value in column %d is %zu bytes, over %zu",
                   col, n, size - 1);
    return -1;
  }
  memcpy(buf, v ? v : "", n + 1);
  return 0;
}

int svc_pg_get_dup(const PGresult *res, int row, int col, char **out,
                   struct owcp_error *err)
{
  const char *v = svc_pg_get(res, row, col);

  *out = NULL;
  if (v == NULL)
    return 0;
  *out = strdup(v);
  if (*out == NULL) {
    owcp_error_set(err, "out of memory copying a database value");
    return -1;
  }
  return 0;
}

int svc_pg_get_bytea(const PGresult *res, int row, int col, unsigned char **out,
                     size_t *len, struct owcp_error *err)
{
  const char *v = svc_pg_get(res, row, col);
  unsigned char *tmp;

  *out = NULL;
  *len = 0;
  if (v == NULL)
    return 0;
  tmp = PQunescapeBytea((const unsigned char *)v, len);
  if (tmp == NULL) {
    owcp_error_set(err, "cannot decode a bytea value in column %d", col);
    return -1;
  }
  *out = malloc(*len ? *len : 1);
  if (*out == NULL) {
    PQfreemem(tmp);
    owcp_error_set(err, "out of memory copying a bytea value");
    return -1;
  }
  memcpy(*out, tmp, *len);
  PQfreemem(tmp);
  return 0;
}

int svc_pg_get_hash(const PGresult *res, int row, int col,
                    unsigned char out[OWCP_SHA256_LEN], struct owcp_error *err)
{
  unsigned char *buf;
  size_t len;

  if (svc_pg_get_bytea(res, row, col, &buf, &len, err) != 0)
    return -1;
  memset(out, 0, OWCP_SHA256_LEN);
  if (buf != NULL && len == OWCP_SHA256_LEN)
    memcpy(out, buf, len);
  free(buf);
  return 0;
}
