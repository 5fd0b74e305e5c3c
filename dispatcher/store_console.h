/*
 * store_console.h — the queries only the audit console (owcp-admin serve)
 * runs: a page of the confirmation log newest first, and one transaction
 * with everything its page shows. Read-only; the SQL is in
 * store_console.c, the rest of the store interface in store.h.
 */
#ifndef OWCP_DISPATCHER_STORE_CONSOLE_H
#define OWCP_DISPATCHER_STORE_CONSOLE_H

#include "store.h"

/* Log entries matching f with seq below before_seq (0: no bound), newest
 * first, at most limit, calling fn per row with store_log_query's
 * columns (seq, at, event, account, requestor, transaction, client,
 * detail, position, hash). */
int store_log_page(struct store *st, const struct store_log_filter *f,
                   int64_t before_seq, int limit, store_row_fn fn, void *arg,
                   struct owcp_error *err);

/* One transaction as the console shows it. Times are RFC 3339 UTC text
 * (empty when not set); strings NULL for SQL NULL. */
struct store_tx_view {
  char state[16];
  char *requestor; /* From: the requestor's address */
  char *account;   /* To */
  char *type;
  char *identifier;
  char received[40], expires[40], listed[40], answered[40];
  char *response;
  char *reason;
  char *verification; /* the methods, comma-separated */
  char *client;
  char *client_description;
  unsigned char *receipt; /* DER as stored */
  size_t receipt_len;
  char *request_xml;
  size_t request_len;
};

/* Frees the pointer members and zeroes *v. */
void store_tx_view_free(struct store_tx_view *v);

/* The transaction id into *out; *found false when there is none. */
int store_tx_view(struct store *st, const char *id, struct store_tx_view *out,
                  bool *found, struct owcp_error *err);

#endif
