/*
 * admin_certs.c — `owcp-bridge [--config FILE] certificates [--account A]`:
 * every certificate the WSTEP front's built-in CA issued (the certificates
 * table, contract §5), oldest first, one tab-separated line each:
 *   SERIAL  ISSUED  NOT_AFTER  TEMPLATE  REQUESTER  TRANSACTION  SUBJECT
 * (times UTC, ISO 8601; TRANSACTION "-" under confirm = off), preceded by
 * a header line. --account lists one requester's certificates only.
 */
#include "admin_certs.h"

#include <stdio.h>
#include <time.h>

#include "store.h"

/* More than any listing an administrator reads on a terminal. */
#define CERTS_MAX 100000
#define CERTS_DB_WAIT_MS 5000

static void utc(time_t t, char out[32])
{
  struct tm tm;
  if (gmtime_r(&t, &tm) == NULL ||
      strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
    snprintf(out, 32, "%lld", (long long)t);
}

int bridge_certificates(const struct bridge_config *cfg, const char *account)
{
  struct owcp_error err = {{0}};
  struct bridge_cert_list list = {0};
  struct bridge_store *st = NULL;
  struct bridge_store_pool *pool = bridge_store_pool_new(cfg->db, 1, &err);
  int rc = pool ? bridge_store_acquire(pool, CERTS_DB_WAIT_MS, &st, &err) : -1;
  if (rc == 0)
    rc = bridge_store_cert_list(st, account, CERTS_MAX, &list, &err);
  bridge_store_release(pool, st);
  bridge_store_pool_free(pool);
  if (rc != 0) {
    fprintf(stderr, "owcp-bridge: [bridge] db: %s\n", err.msg);
    return BRIDGE_EXIT_FAILURE;
  }
  printf("serial\tissued\tnot_after\ttemplate\trequester\ttransaction\t"
         "subject\n");
  for (size_t i = 0; i < list.count; i++) {
    const struct bridge_cert *c = &list.items[i];
    char issued[32], until[32];
    utc(c->issued_at, issued);
    utc(c->not_after, until);
    printf("%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c->serial, issued, until,
           c->template_name, c->requester,
           c->transaction[0] ? c->transaction : "-", c->subject);
  }
  bridge_cert_list_free(&list);
  return fflush(stdout) == 0 ? 0 : BRIDGE_EXIT_FAILURE;
}
