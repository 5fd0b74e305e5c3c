/*
 * store_listener.c — store.h's LISTEN connection: one per process, its
 * notifications fanned out by dispatcher/notify.c.
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
