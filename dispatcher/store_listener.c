/*
 * store_listener.c — store.h's LISTEN and NOTIFY connections: one of each
 * per process, the notifications received fanned out by dispatcher/notify.c,
 * those sent batched by dispatcher/notify_send.c.
 */
#include "store_internal.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

struct store_listener {
  PGconn *conn;
};

struct store_listener *store_listener_open(const char *conninfo,
                                           struct owcp_error *err)
{
  struct store_listener *l = calloc(1, sizeof *l);

  if (l == NULL) {
    owcp_error_set(err, "out of memory opening the LISTEN connection");
    return NULL;
  }
  l->conn = svc_pg_connect(conninfo, " for LISTEN", err);
  if (l->conn == NULL ||
      svc_pg_exec(l->conn, "LISTEN owcp", "LISTEN owcp", err) != 0) {
    store_listener_close(l);
    return NULL;
  }
  return l;
}

void store_listener_close(struct store_listener *l)
{
  if (l == NULL)
    return;
  PQfinish(l->conn);
  free(l);
}

int store_listener_fd(const struct store_listener *l)
{
  return PQsocket(l->conn);
}

static int drain_notifies(struct store_listener *l, store_notify_fn fn,
                          void *arg)
{
  PGnotify *n;
  int count = 0;

  while ((n = PQnotifies(l->conn)) != NULL) {
    fn(arg, n->extra);
    PQfreemem(n);
    count++;
  }
  return count;
}

int store_listener_wait(struct store_listener *l, int timeout_ms,
                        store_notify_fn fn, void *arg, struct owcp_error *err)
{
  char msg[OWCP_ERROR_MAX];
  struct pollfd pfd;
  int count, rc;

  if (!PQconsumeInput(l->conn))
    goto broken;
  count = drain_notifies(l, fn, arg);
  if (count > 0)
    return count;
  pfd.fd = PQsocket(l->conn);
  pfd.events = POLLIN;
  pfd.revents = 0;
  if (pfd.fd < 0)
    goto broken;
  rc = poll(&pfd, 1, timeout_ms);
  if (rc < 0) {
    if (errno == EINTR)
      return 0;
    owcp_error_set(err, "poll on the LISTEN connection failed: %s",
                   strerror(errno));
    return -1;
  }
  if (rc == 0)
    return 0;
  if (!PQconsumeInput(l->conn))
    goto broken;
  return drain_notifies(l, fn, arg);
broken:
  svc_pg_conn_error(l->conn, msg, sizeof msg);
  owcp_error_set(err, "database unavailable: LISTEN connection lost: %s", msg);
  return STORE_UNAVAILABLE;
}

/* ---- the notify sender's connection ---------------------------------------
 */

struct store_sender {
  PGconn *conn;
};

#define SENDER_STMT "notify_send"

/* One transaction (one statement), however many payloads. */
#define SENDER_SQL                                                             \
  "SELECT pg_notify('owcp', p) FROM unnest(string_to_array($1, E'\\n')) AS p"

/* Session settings of the sender's connection, then its statement. */
static int sender_setup(struct store_sender *s, const char *app_name,
                        struct owcp_error *err)
{
  const char *values[1] = {app_name};
  PGresult *res;
  int rc;

  rc = svc_pg_exec(s->conn, "SET synchronous_commit = off", "notify sender",
                   err);
  if (rc != 0)
    return rc;
  res =
      PQexecParams(s->conn, "SELECT set_config('application_name', $1, false)",
                   1, NULL, values, NULL, NULL, 0);
  if (PQresultStatus(res) != PGRES_TUPLES_OK)
    rc = svc_pg_fail(s->conn, res, "notify sender", err);
  PQclear(res);
  if (rc != 0)
    return rc;
  res = PQprepare(s->conn, SENDER_STMT, SENDER_SQL, 0, NULL);
  if (PQresultStatus(res) != PGRES_COMMAND_OK)
    rc = svc_pg_fail(s->conn, res, "notify sender", err);
  PQclear(res);
  return rc;
}

struct store_sender *store_sender_open(const char *conninfo,
                                       const char *app_name,
                                       struct owcp_error *err)
{
  struct store_sender *s = calloc(1, sizeof *s);

  if (s == NULL) {
    owcp_error_set(err, "out of memory opening the NOTIFY connection");
    return NULL;
  }
  s->conn = svc_pg_connect(conninfo, " for NOTIFY", err);
  if (s->conn == NULL || sender_setup(s, app_name, err) != 0) {
    store_sender_close(s);
    return NULL;
  }
  return s;
}

void store_sender_close(struct store_sender *s)
{
  if (s == NULL)
    return;
  PQfinish(s->conn);
  free(s);
}

int store_sender_send(struct store_sender *s, const char *payloads,
                      struct owcp_error *err)
{
  const char *values[1] = {payloads};
  PGresult *res =
      PQexecPrepared(s->conn, SENDER_STMT, 1, values, NULL, NULL, 0);
  int rc = 0;

  if (PQresultStatus(res) != PGRES_TUPLES_OK)
    rc = svc_pg_fail(s->conn, res, SENDER_STMT, err);
  PQclear(res);
  return rc;
}
