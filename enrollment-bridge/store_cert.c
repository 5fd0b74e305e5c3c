/*
 * store_cert.c — store.h's certificates issued by the built-in CA:
 * recorded with their issuance (bridge_certificate_insert) and listed for
 * the administrator.
 */
#include "store_internal.h"

#include <stdlib.h>
#include <string.h>

static const struct bstore_stmt stmt_insert = {
    BS_CERT_INSERT, "bridge_cert_insert",
    "SELECT bridge_certificate_insert($1, $2, $3, $4, $5, $6, " BS_TS(
        7) ", " BS_TS(8) ", " BS_TS(9) ")"};

static const struct bstore_stmt stmt_list = {
    BS_CERT_LIST, "bridge_cert_list",
    "SELECT k.serial, k.subject, k.template, k.requester, "
    "coalesce(c.transaction, ''), " BS_EPOCH("k.not_before") ", " BS_EPOCH(
        "k.not_after") ", " BS_EPOCH("k.issued_at") " FROM certificates k "
                                                    "LEFT JOIN confirmations c "
                                                    "ON c.id = "
                                                    "k.confirmation_id WHERE "
                                                    "$1::text IS NULL OR "
                                                    "k.requester = $1 "
                                                    "ORDER BY k.issued_at, "
                                                    "k.serial LIMIT $2"};

const struct bstore_stmt *const bstore_cert_statements[] = {&stmt_insert,
                                                            &stmt_list, NULL};

int bridge_store_cert_insert(struct bridge_store *st,
                             const struct bridge_cert_new *in,
                             struct owcp_error *err)
{
  struct svc_pg_params p = {0};
  PGresult *res;
  int rc;

  svc_pg_param_text(&p, in->serial);
  svc_pg_param_text(&p, in->subject);
  svc_pg_param_text(&p, in->template_name);
  svc_pg_param_text(&p, in->requester);
  svc_pg_param_text(&p, in->transaction);
  svc_pg_param_bin(&p, in->der, in->der_len);
  svc_pg_param_int(&p, (int64_t)in->not_before);
  svc_pg_param_int(&p, (int64_t)in->not_after);
  svc_pg_param_time(&p, in->now);
  rc = bstore_run(st, &stmt_insert, &p, &res, err);
  PQclear(res);
  return rc;
}

void bridge_cert_list_free(struct bridge_cert_list *list)
{
  if (list == NULL)
    return;
  for (size_t i = 0; i < list->count; i++) {
    free(list->items[i].subject);
    free(list->items[i].template_name);
  }
  free(list->items);
  list->items = NULL;
  list->count = 0;
}

static int cert_fill(const PGresult *res, int i, void *item,
                     struct owcp_error *err)
{
  struct bridge_cert *c = item;

  c->not_before = (time_t)svc_pg_get_int(res, i, 5);
  c->not_after = (time_t)svc_pg_get_int(res, i, 6);
  c->issued_at = (time_t)svc_pg_get_int(res, i, 7);
  if (svc_pg_get_fixed(res, i, 0, c->serial, sizeof c->serial, err) ||
      svc_pg_get_dup(res, i, 1, &c->subject, err) ||
      svc_pg_get_dup(res, i, 2, &c->template_name, err) ||
      svc_pg_get_fixed(res, i, 3, c->requester, sizeof c->requester, err) ||
      svc_pg_get_fixed(res, i, 4, c->transaction, sizeof c->transaction, err))
    return -1;
  return 0;
}

int bridge_store_cert_list(struct bridge_store *st, const char *requester,
                           int max, struct bridge_cert_list *out,
                           struct owcp_error *err)
{
  struct svc_pg_params p = {0};
  void *items;
  int rc;

  svc_pg_param_text(&p, requester);
  svc_pg_param_int(&p, max);
  rc = bstore_run_array(st, &stmt_list, &p, sizeof *out->items, cert_fill,
                        &items, &out->count, err);
  out->items = items;
  if (rc != 0)
    bridge_cert_list_free(out);
  return rc;
}
