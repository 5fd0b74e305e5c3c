/*
 * client_internal.h — internal to libowcp-client (not installed): what
 * client.c and client_register.c share — the client object and the
 * exchange with the dispatcher.
 */
#ifndef OWCP_CLIENT_INTERNAL_H
#define OWCP_CLIENT_INTERNAL_H

#include <stdbool.h>

#include <jansson.h>
#include <openssl/x509.h>

#include "owcp/client.h"
#include "owcp/httpc.h"
#include "state.h"

struct owcp_client {
  char *dir;
  char *dispatcher;
  char *dns_servers;
  bool insecure;
  struct owcp_httpc *http;
  struct owcp_discovery *dns; /* created on first use */
  struct owcp_xml_validator *xml;
};

/* Transaction identifiers are opaque URL-safe text (spec §1) of at most
 * this many characters. */
#define MAX_TRANSACTION_LEN 128

/* s made safe for a terminal (controls, bidi and escapes neutralised,
 * whitespace collapsed), or NULL when s is NULL or memory ran out; the
 * caller frees. */
char *client_neutral(const char *s);

/* One sentence in err for a reply that was not the expected status. */
void client_reply_error(const char *op, const struct owcp_http_reply *r,
                        struct owcp_error *err);

/* True when tx is a transaction identifier this client accepts; anything
 * else is refused before it can be shown, stored or signed. */
bool client_transaction_ok(const char *tx);

/* POSTs op with params (NULL: out of memory) to the account's dispatcher
 * (the configured base, else saved, else DNS discovery); *out is the
 * caller's to release. 0, or -1 with err. */
int client_post(struct owcp_client *c, const char *account, const char *saved,
                const char *op, const char *token, const json_t *params,
                int wait_s, struct owcp_http_reply *out,
                struct owcp_error *err);

/* Under the state lock: saves a (when not NULL) or removes the account
 * named remove. 0, or -1 with err. */
int client_account_store(struct owcp_client *c,
                         const struct owcp_account_state *a, const char *remove,
                         struct owcp_error *err);

/* Decodes a base64 DER certificate (the caller X509_free()s it); NULL
 * with err on failure. */
X509 *client_cert_from_b64(const char *b64, struct owcp_error *err);

#endif
