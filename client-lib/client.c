/*
 * client.c — libowcp-client's protocol side: opening, the dispatcher
 * exchange, CD-List, CD-Reply with spec §6 receipts, CD-Deregister (see
 * owcp/client.h); CD-Register is in client_register.c.
 */
#include "owcp/client.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>

#include "owcp/ca.h"
#include "owcp/discovery.h"
#include "owcp/httpc.h"
#include "owcp/jsonspec.h"
#include "owcp/keys.h"
#include "owcp/receipt.h"
#include "owcp/request.h"
#include "client_internal.h"
#include "state.h"

/* Longest long poll this client asks for; the dispatcher caps it further
 * (spec §2: 60 s by default). */
#define MAX_WAIT_S 3600

/* The keystore's codes pass through owcp_client_reply unchanged. */
_Static_assert(OWCP_CLIENT_BAD_PIN == OWCP_ERR_BAD_PIN, "bad-PIN code");
_Static_assert(OWCP_CLIENT_LOCKED == OWCP_KEYSTORE_LOCKED, "locked code");

/* ---- opening ------------------------------------------------------------ */

static int dup_opt(char **dst, const char *src)
{
  *dst = NULL;
  if (src == NULL)
    return 0;
  *dst = strdup(src);
  return *dst != NULL ? 0 : -1;
}

/* $XDG_CONFIG_HOME/owcp-client or $HOME/.config/owcp-client into *dir
 * (caller frees); the parent is created (0700) when missing. */
static int default_dir(char **dir, struct owcp_error *err)
{
  const char *xdg = getenv("XDG_CONFIG_HOME");
  const char *home = getenv("HOME");
  char parent[PATH_MAX];
  char path[PATH_MAX];
  int n = -1;

  if (xdg != NULL && xdg[0] == '/')
    n = snprintf(parent, sizeof parent, "%s", xdg);
  else if (home != NULL && home[0] == '/')
    n = snprintf(parent, sizeof parent, "%s/.config", home);
  if (n < 0 || (size_t)n >= sizeof parent ||
      (size_t)snprintf(path, sizeof path, "%s/owcp-client", parent) >=
          sizeof path) {
    owcp_error_set(err, "no state directory: set HOME or XDG_CONFIG_HOME, "
                        "or pass a state directory");
    return -1;
  }
  if (mkdir(parent, 0700) != 0 && errno != EEXIST) {
    owcp_error_set(err, "cannot create '%s': %s", parent, strerror(errno));
    return -1;
  }
  if (dup_opt(dir, path) != 0) {
    owcp_error_set(err, "out of memory");
    return -1;
  }
  return 0;
}

int owcp_client_open(const struct owcp_client_config *cfg,
                     struct owcp_client **out, struct owcp_error *err)
{
  struct owcp_client *c = calloc(1, sizeof *c);
  struct owcp_httpc_config hc = {0};

  *out = NULL;
  if (c == NULL) {
    owcp_error_set(err, "out of memory");
    return -1;
  }
  c->insecure = cfg->allow_insecure_http;
  if (dup_opt(&c->dispatcher, cfg->dispatcher) != 0 ||
      dup_opt(&c->dns_servers, cfg->dns_servers) != 0 ||
      (cfg->state_dir != NULL && dup_opt(&c->dir, cfg->state_dir) != 0)) {
    owcp_error_set(err, "out of memory");
    owcp_client_close(c);
    return -1;
  }
  hc.ca_file = cfg->ca_file;
  hc.allow_insecure_http = cfg->allow_insecure_http;
  if ((c->dir == NULL && default_dir(&c->dir, err) != 0) ||
      owcp_state_dir_prepare(c->dir, err) != 0 ||
      owcp_httpc_new(&hc, &c->http, err) != 0 ||
      (c->xml = owcp_xml_validator_new(NULL, err)) == NULL) {
    owcp_client_close(c);
    return -1;
  }
  *out = c;
  return 0;
}

void owcp_client_close(struct owcp_client *c)
{
  if (c == NULL)
    return;
  owcp_xml_validator_free(c->xml);
  owcp_discovery_free(c->dns);
  owcp_httpc_free(c->http);
  free(c->dir);
  free(c->dispatcher);
  free(c->dns_servers);
  free(c);
}

const char *owcp_client_state_dir(const struct owcp_client *c)
{
  return c->dir;
}

/* ---- talking to the dispatcher ------------------------------------------ */

/* Where to send account's operations: the configured base, else the one
 * saved at registration, else DNS discovery (spec §7). */
static int bases_for(struct owcp_client *c, const char *account,
                     const char *saved, struct owcp_base_list *out,
                     struct owcp_error *err)
{
  const char *manual = c->dispatcher != NULL ? c->dispatcher : saved;

  if (manual != NULL)
    return owcp_base_list_single(manual, c->insecure, out, err);
  if (c->dns == NULL) {
    struct owcp_discovery_config dc = {.dns_servers = c->dns_servers,
                                       .allow_insecure_http = c->insecure};
    if (owcp_discovery_new(&dc, &c->dns, err) != 0)
      return -1;
  }
  return owcp_discovery_resolve(c->dns, account, out, err);
}

/* s made safe for a terminal (controls, bidi and escapes neutralised,
 * whitespace collapsed), or NULL when s is NULL or memory ran out; the
 * caller frees. The dispatcher's words reach the user's terminal through
 * error sentences and listings, so they never pass unfiltered. */
char *client_neutral(const char *s)
{
  return s != NULL ? owcp_render_string(s, NULL, NULL) : NULL;
}

/* One sentence for a reply that was not the expected status. */
void client_reply_error(const char *op, const struct owcp_http_reply *r,
                        struct owcp_error *err)
{
  char *why =
      client_neutral(json_string_value(json_object_get(r->json, "Error")));
  char *text =
      client_neutral(json_string_value(json_object_get(r->json, "Text")));

  owcp_error_set(err, "%s failed with status %ld (%s)%s%s", op, r->status,
                 text != NULL ? text : "no OWCP reply", why != NULL ? ": " : "",
                 why != NULL ? why : "");
  free(why);
  free(text);
}

/* Transaction identifiers are opaque URL-safe text (spec §1); anything else
 * is refused before it can be shown, stored or signed. */
bool client_transaction_ok(const char *tx)
{
  size_t n = strlen(tx);

  if (n == 0 || n > MAX_TRANSACTION_LEN)
    return false;
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)tx[i];
    if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
          (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.' ||
          ch == '~'))
      return false;
  }
  return true;
}

int client_post(struct owcp_client *c, const char *account, const char *saved,
                const char *op, const char *token, const json_t *params,
                int wait_s, struct owcp_http_reply *out, struct owcp_error *err)
{
  struct owcp_base_list bases = {0};
  int rc;

  memset(out, 0, sizeof *out);
  if (params == NULL) {
    owcp_error_set(err, "out of memory");
    return -1;
  }
  if (bases_for(c, account, saved, &bases, err) != 0)
    return -1;
  rc = owcp_httpc_post_json(c->http, &bases, op, token, params, wait_s, out,
                            err);
  owcp_base_list_free(&bases);
  return rc;
}

/* ---- state helpers ------------------------------------------------------- */

/* A copy of account's saved entry (caller clears it). */
static int account_get(struct owcp_client *c, const char *account,
                       struct owcp_account_state *out, struct owcp_error *err)
{
  struct owcp_state *st = NULL;
  struct owcp_account_state *a;
  struct owcp_state one = {0};
  int rc = -1;

  memset(out, 0, sizeof *out);
  if (owcp_state_load(c->dir, &st, err) != 0)
    return -1;
  a = owcp_state_get(st, account, err);
  if (a != NULL && owcp_state_put(&one, a, err) == 0) {
    *out = one.accounts[0];
    free(one.accounts);
    rc = 0;
  }
  owcp_state_free(st);
  return rc;
}

/* Under the state lock: saves a (when not NULL) or removes the account
 * named remove. */
int client_account_store(struct owcp_client *c,
                         const struct owcp_account_state *a, const char *remove,
                         struct owcp_error *err)
{
  struct owcp_state *st = NULL;
  int fd = -1;
  int rc = -1;

  if (owcp_state_lock(c->dir, &fd, err) != 0)
    return -1;
  if (owcp_state_load(c->dir, &st, err) == 0 &&
      (a != NULL ? owcp_state_put(st, a, err)
                 : owcp_state_remove(st, remove, err)) == 0)
    rc = owcp_state_save(c->dir, st, err);
  owcp_state_free(st);
  owcp_state_unlock(fd);
  return rc;
}

int owcp_client_accounts(struct owcp_client *c, char ***accounts, size_t *n,
                         struct owcp_error *err)
{
  struct owcp_state *st = NULL;

  *accounts = NULL;
  *n = 0;
  if (owcp_state_load(c->dir, &st, err) != 0)
    return -1;
  char **list = calloc(st->count + 1, sizeof *list);
  if (list == NULL) {
    owcp_state_free(st);
    owcp_error_set(err, "out of memory");
    return -1;
  }
  for (size_t i = 0; i < st->count; i++) {
    /* Hand the strings over instead of copying them. */
    list[i] = st->accounts[i].account;
    st->accounts[i].account = NULL;
  }
  *n = st->count;
  *accounts = list;
  owcp_state_free(st);
  return 0;
}

void owcp_client_accounts_free(char **accounts, size_t n)
{
  for (size_t i = 0; i < n && accounts != NULL; i++)
    free(accounts[i]);
  free(accounts);
}

bool owcp_client_account_has_pin(struct owcp_client *c, const char *account)
{
  struct owcp_account_state a;
  bool pin;

  if (account_get(c, account, &a, NULL) != 0)
    return false;
  pin = a.pin;
  owcp_account_state_clear(&a);
  return pin;
}

/* ---- CD-Deregister ------------------------------------------------------ */

int owcp_client_deregister(struct owcp_client *c, const char *account,
                           struct owcp_error *err)
{
  struct owcp_account_state a;
  struct owcp_http_reply reply = {0};
  int rc = -1;

  if (account_get(c, account, &a, err) != 0)
    return -1;
  json_t *params = json_pack("{s:s}", "Client", a.client);
  if (client_post(c, account, a.dispatcher, "CD-Deregister", a.token, params, 0,
                  &reply, err) == 0) {
    if (reply.status == 200 || reply.status == 401 || reply.status == 404)
      rc = client_account_store(c, NULL, account, err);
    else
      client_reply_error("CD-Deregister", &reply, err);
  }
  json_decref(params);
  owcp_http_reply_free(&reply);
  owcp_account_state_clear(&a);
  return rc;
}

/* ---- CD-List ------------------------------------------------------------ */

static void pending_clear(struct owcp_pending *p)
{
  free(p->transaction);
  free(p->from);
  free(p->type);
  free(p->issued);
  free(p->expires);
  free(p->request);
  memset(p, 0, sizeof *p);
}

void owcp_pending_list_free(struct owcp_pending_list *l)
{
  for (size_t i = 0; i < l->count; i++)
    pending_clear(&l->items[i]);
  free(l->items);
  l->items = NULL;
  l->count = 0;
}

const struct owcp_pending *owcp_pending_find(const struct owcp_pending_list *l,
                                             const char *transaction)
{
  for (size_t i = 0; i < l->count; i++) {
    if (strcmp(l->items[i].transaction, transaction) == 0)
      return &l->items[i];
  }
  return NULL;
}

static int member(const json_t *o, const char *name, bool required, char **out,
                  size_t *len, size_t index, struct owcp_error *err)
{
  const json_t *v = json_object_get(o, name);

  *out = NULL;
  if (v == NULL && !required)
    return 0;
  if (!json_is_string(v)) {
    owcp_error_set(err, "CD-List reply: Pending[%zu].%s %s", index, name,
                   v == NULL ? "is missing" : "is not a string");
    return -1;
  }
  size_t n = json_string_length(v);
  *out = malloc(n + 1);
  if (*out == NULL) {
    owcp_error_set(err, "out of memory");
    return -1;
  }
  /* The exact bytes, embedded NULs included (parsing refuses them later). */
  memcpy(*out, json_string_value(v), n);
  (*out)[n] = '\0';
  if (len != NULL)
    *len = n;
  return 0;
}

static int pending_from_json(const json_t *o, size_t i, struct owcp_pending *p,
                             struct owcp_error *err)
{
  size_t tx_len = 0;

  if (!json_is_object(o)) {
    owcp_error_set(err, "CD-List reply: Pending[%zu] is not an object", i);
    return -1;
  }
  if (member(o, "Transaction", true, &p->transaction, &tx_len, i, err) ||
      member(o, "From", true, &p->from, NULL, i, err) ||
      member(o, "Type", false, &p->type, NULL, i, err) ||
      member(o, "Issued", true, &p->issued, NULL, i, err) ||
      member(o, "Expires", true, &p->expires, NULL, i, err) ||
      member(o, "Request", true, &p->request, &p->request_len, i, err))
    return -1;
  /* The identifier is signed into the receipt and shown to the user: an
   * embedded NUL or a control sequence must not get that far. */
  if (tx_len != strlen(p->transaction) ||
      !client_transaction_ok(p->transaction)) {
    owcp_error_set(err,
                   "CD-List reply: Pending[%zu].Transaction is not 1..%d "
                   "URL-safe characters",
                   i, MAX_TRANSACTION_LEN);
    return -1;
  }
  return 0;
}

static int pending_list_from_json(const json_t *o, struct owcp_pending_list *l,
                                  struct owcp_error *err)
{
  const json_t *arr = json_object_get(o, "Pending");

  if (!json_is_array(arr)) {
    owcp_error_set(err, "CD-List reply lacks the 'Pending' array");
    return -1;
  }
  size_t n = json_array_size(arr);
  if (n == 0)
    return 0;
  l->items = calloc(n, sizeof *l->items);
  if (l->items == NULL) {
    owcp_error_set(err, "out of memory");
    return -1;
  }
  for (size_t i = 0; i < n; i++) {
    l->count = i + 1;
    if (pending_from_json(json_array_get(arr, i), i, &l->items[i], err) != 0) {
      owcp_pending_list_free(l);
      return -1;
    }
  }
  return 0;
}

int owcp_client_list(struct owcp_client *c, const char *account, int wait_s,
                     struct owcp_pending_list *out, struct owcp_error *err)
{
  struct owcp_account_state a;
  struct owcp_http_reply reply = {0};
  int rc = -1;

  memset(out, 0, sizeof *out);
  if (wait_s < 0 || wait_s > MAX_WAIT_S) {
    owcp_error_set(err, "the wait must be 0..%d seconds", MAX_WAIT_S);
    return -1;
  }
  if (account_get(c, account, &a, err) != 0)
    return -1;
  json_t *params =
      wait_s > 0 ? json_pack("{s:i}", "Wait", wait_s) : json_object();
  if (client_post(c, account, a.dispatcher, "CD-List", a.token, params, wait_s,
                  &reply, err) == 0) {
    if (reply.status == 200)
      rc = pending_list_from_json(reply.json, out, err);
    else
      client_reply_error("CD-List", &reply, err);
  }
  json_decref(params);
  owcp_http_reply_free(&reply);
  owcp_account_state_clear(&a);
  return rc;
}

/* ---- rendering and verification methods --------------------------------- */

/* The first method account cannot perform (borrowed from req), or NULL. PIN
 * is the one method defined (spec §6), and only a PIN-protected key can
 * honestly claim it. */
static const char *unsupported_method(const struct owcp_request *req,
                                      bool has_pin)
{
  for (size_t i = 0; i < req->header.verification_count; i++) {
    const char *m = req->header.verification[i];
    if (!(has_pin && strcmp(m, "PIN") == 0))
      return m;
  }
  return NULL;
}

/* A request addressed to another account is never shown or signed by
 * this account's key: a dispatcher that mixes up (or swaps) accounts must
 * not obtain a receipt of ours over someone else's request. Accounts
 * compare as the dispatcher compares them (domain case-insensitive). */
static int check_addressee(const struct owcp_request *req, const char *account,
                           const char *tx, struct owcp_error *err)
{
  char *to = NULL;
  char *me = NULL;
  struct owcp_error why = {{0}};
  int rc = -1;

  if (owcp_account_normalize(req->header.to, strlen(req->header.to), &to,
                             &why) == 0 &&
      owcp_account_normalize(account, strlen(account), &me, &why) == 0 &&
      strcmp(to, me) == 0)
    rc = 0;
  if (rc != 0) {
    char *safe = client_neutral(req->header.to);
    owcp_error_set(err,
                   "transaction %s: the request is addressed to '%s', not to "
                   "'%s'",
                   tx, safe != NULL ? safe : "another account", account);
    free(safe);
  }
  free(to);
  free(me);
  return rc;
}

static int parse_pending(struct owcp_client *c, const char *account,
                         const struct owcp_pending *p,
                         struct owcp_request **req, struct owcp_error *err)
{
  struct owcp_error why = {{0}};

  if (owcp_request_parse(c->xml, p->request, p->request_len, req, &why) !=
      OWCP_XML_OK) {
    /* The parser's sentence may quote the hostile document. */
    char *safe = client_neutral(why.msg);
    owcp_error_set(err, "transaction %s: the request is not valid: %s",
                   p->transaction, safe != NULL ? safe : "(out of memory)");
    free(safe);
    return -1;
  }
  if (check_addressee(*req, account, p->transaction, err) != 0) {
    owcp_request_free(*req);
    *req = NULL;
    return -1;
  }
  return 0;
}

/* A device approval: the dispatcher reserves the type for them (a
 * requestor cannot send it), and accepting one needs the new device's
 * number (spec §5). */
static bool is_approval(const struct owcp_request *req)
{
  return req->header.type != NULL &&
         strcmp(req->header.type, "Registration") == 0;
}

void owcp_view_clear(struct owcp_view *v)
{
  free(v->text);
  free(v->unsupported);
  free(v->transaction);
  free(v->from);
  free(v->expires);
  free(v->summary);
  memset(v, 0, sizeof *v);
}

/* The one-line, terminal-safe members of a view. */
static int view_fields(const struct owcp_request *req,
                       const struct owcp_pending *p, const char *method,
                       enum owcp_render_mode mode, struct owcp_view *out,
                       struct owcp_error *err)
{
  out->summary = owcp_render_text(&req->header.summary, mode, NULL, err);
  if (out->summary == NULL)
    return -1;
  if ((method != NULL && (out->unsupported = client_neutral(method)) == NULL) ||
      (out->transaction = client_neutral(p->transaction)) == NULL ||
      (out->from = client_neutral(p->from)) == NULL ||
      (out->expires = client_neutral(p->expires)) == NULL) {
    owcp_error_set(err, "out of memory");
    return -1;
  }
  return 0;
}

int owcp_client_view(struct owcp_client *c, const char *account,
                     const struct owcp_pending *p, enum owcp_render_mode mode,
                     struct owcp_view *out, struct owcp_error *err)
{
  struct owcp_request *req = NULL;
  int rc = -1;

  memset(out, 0, sizeof *out);
  if (parse_pending(c, account, p, &req, err) != 0)
    return -1;
  out->needs_pin = owcp_client_account_has_pin(c, account);
  out->needs_match = is_approval(req);
  out->text = owcp_render_request(req, mode, err);
  if (out->text != NULL &&
      view_fields(req, p, unsupported_method(req, out->needs_pin), mode, out,
                  err) == 0)
    rc = 0;
  owcp_request_free(req);
  if (rc != 0)
    owcp_view_clear(out);
  return rc;
}

/* ---- CD-Reply ----------------------------------------------------------- */

const char *owcp_answer_name(enum owcp_answer a)
{
  switch (a) {
  case OWCP_ANSWER_ACCEPT:
    return "Accept";
  case OWCP_ANSWER_REJECT:
    return "Reject";
  case OWCP_ANSWER_REFUSE:
  case OWCP_ANSWER_NOT_ME:
    break;
  }
  return "Refuse";
}

/* Signs the spec §6 receipt over p->request into base64 DER (caller
 * frees). Verification lists PIN exactly when the key was unlocked by it. */
static char *sign_receipt(const struct owcp_account_state *a,
                          const struct owcp_pending *p, const char *response,
                          const char *reason, const char *match, EVP_PKEY *key,
                          struct owcp_error *err)
{
  char *methods[1] = {"PIN"};
  struct owcp_receipt r = {
      .transaction = p->transaction,
      .account = a->account,
      .client = a->client,
      .response = (char *)response,
      .verification = a->pin ? methods : NULL,
      .verification_count = a->pin ? 1 : 0,
      .request = p->request,
      .request_len = p->request_len,
      .reason = (char *)reason,
      .match = (char *)match,
  };
  unsigned char *der = NULL;
  size_t len = 0;
  char *b64 = NULL;
  X509 *cert = client_cert_from_b64(a->cert_b64, err);

  if (cert != NULL &&
      owcp_receipt_create(&r, cert, key, &der, &len, err) == 0) {
    b64 = owcp_base64_encode(der, len);
    if (b64 == NULL)
      owcp_error_set(err, "out of memory");
  }
  free(der);
  X509_free(cert);
  return b64;
}

static int send_reply(struct owcp_client *c, const struct owcp_account_state *a,
                      const struct owcp_pending *p, const char *response,
                      const char *reason, const char *receipt,
                      struct owcp_error *err)
{
  struct owcp_http_reply reply = {0};
  json_t *params = json_pack("{s:s, s:s, s:s}", "Transaction", p->transaction,
                             "Response", response, "Receipt", receipt);
  int rc = -1;

  if (params != NULL && reason != NULL)
    json_object_set_new(params, "Reason", json_string(reason));
  if (client_post(c, a->account, a->dispatcher, "CD-Reply", a->token, params, 0,
                  &reply, err) == 0) {
    if (reply.status == 200)
      rc = 0;
    else if (reply.status == 409)
      client_reply_error("CD-Reply (already answered)", &reply, err);
    else if (reply.status == 408)
      client_reply_error("CD-Reply (expired or cancelled)", &reply, err);
    else if (reply.status == 403)
      client_reply_error("CD-Reply (wrong number: the registration was "
                         "rejected)",
                         &reply, err);
    else
      client_reply_error("CD-Reply", &reply, err);
  }
  json_decref(params);
  owcp_http_reply_free(&reply);
  return rc;
}

/* True when m is exactly two ASCII digits. */
static bool two_digits(const char *m)
{
  return m != NULL && m[0] >= '0' && m[0] <= '9' && m[1] >= '0' &&
         m[1] <= '9' && m[2] == '\0';
}

/* What is sent for answer to req (Refuse when a method is unsupported,
 * unless the user said "Not Me"), and the digits the receipt carries:
 * only an Accept of a device approval has them. -1 with err (nothing to
 * send) when they are missing, malformed or out of place. */
static int decide(const struct owcp_request *req, bool has_pin,
                  enum owcp_answer answer, const char *match,
                  enum owcp_answer *what, const char **signed_match,
                  struct owcp_error *err)
{
  bool approval = is_approval(req);

  *what = answer;
  *signed_match = NULL;
  if (match != NULL && !approval) {
    owcp_error_set(err, "this request is not a device approval: there is no "
                        "number to type");
    return -1;
  }
  if (answer != OWCP_ANSWER_NOT_ME && unsupported_method(req, has_pin) != NULL)
    *what = OWCP_ANSWER_REFUSE;
  if (!approval || *what != OWCP_ANSWER_ACCEPT)
    return 0;
  if (match == NULL) {
    owcp_error_set(err, "accepting a device approval needs the two-digit "
                        "number the new device shows");
    return -1;
  }
  if (!two_digits(match)) {
    owcp_error_set(err, "the number shown on the new device has exactly two "
                        "digits");
    return -1;
  }
  *signed_match = match;
  return 0;
}

/* The Reason sent with what, or NULL. */
static const char *reason_of(enum owcp_answer what)
{
  if (what == OWCP_ANSWER_NOT_ME)
    return OWCP_CLIENT_NOT_ME;
  if (what == OWCP_ANSWER_REFUSE)
    return OWCP_CLIENT_UNKNOWN_VERIFICATION;
  return NULL;
}

int owcp_client_reply(struct owcp_client *c, const char *account,
                      const struct owcp_pending *p, enum owcp_answer answer,
                      const char *pin, enum owcp_answer *sent,
                      struct owcp_error *err)
{
  return owcp_client_reply_match(c, account, p, answer, pin, NULL, sent, err);
}

int owcp_client_reply_match(struct owcp_client *c, const char *account,
                            const struct owcp_pending *p,
                            enum owcp_answer answer, const char *pin,
                            const char *match, enum owcp_answer *sent,
                            struct owcp_error *err)
{
  struct owcp_account_state a;
  struct owcp_request *req = NULL;
  EVP_PKEY *key = NULL;
  char *receipt = NULL;
  enum owcp_answer what = answer;
  const char *digits = NULL;
  int rc;

  if (account_get(c, account, &a, err) != 0)
    return -1;
  rc = parse_pending(c, account, p, &req, err);
  if (rc == 0)
    rc = decide(req, a.pin, answer, match, &what, &digits, err);
  owcp_request_free(req);
  if (rc == 0)
    rc = owcp_keystore_unlock(c->dir, account, pin, &key, err);
  if (rc == 0) {
    const char *reason = reason_of(what);
    receipt =
        sign_receipt(&a, p, owcp_answer_name(what), reason, digits, key, err);
    rc = receipt != NULL ? send_reply(c, &a, p, owcp_answer_name(what), reason,
                                      receipt, err)
                         : -1;
  }
  if (rc == 0 && sent != NULL)
    *sent = what;
  EVP_PKEY_free(key);
  free(receipt);
  owcp_account_state_clear(&a);
  return rc;
}
