/*
 * client.c — libowcp-client's protocol side: CD-Register, CD-List,
 * CD-Reply with spec §6 receipts, CD-Deregister (see owcp/client.h).
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
#include "state.h"

#define DEFAULT_APPROVAL_TIMEOUT_S 600
#define DEFAULT_POLL_MS 1000
/* Longest long poll this client asks for; the dispatcher caps it further
 * (spec §2: 60 s by default). */
#define MAX_WAIT_S 3600

/* The keystore's codes pass through owcp_client_reply unchanged. */
_Static_assert(OWCP_CLIENT_BAD_PIN == OWCP_ERR_BAD_PIN, "bad-PIN code");
_Static_assert(OWCP_CLIENT_LOCKED == OWCP_KEYSTORE_LOCKED, "locked code");

struct owcp_client {
  char *dir;
  char *dispatcher;
  char *dns_servers;
  bool insecure;
  struct owcp_httpc *http;
  struct owcp_discovery *dns; /* created on first use */
  struct owcp_xml_validator *xml;
};

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
static char *neutral(const char *s)
{
  return s != NULL ? owcp_render_string(s, NULL, NULL) : NULL;
}

/* One sentence for a reply that was not the expected status. */
static void reply_error(const char *op, const struct owcp_http_reply *r,
                        struct owcp_error *err)
{
  char *why = neutral(json_string_value(json_object_get(r->json, "Error")));
  char *text = neutral(json_string_value(json_object_get(r->json, "Text")));

  owcp_error_set(err, "%s failed with status %ld (%s)%s%s", op, r->status,
                 text != NULL ? text : "no OWCP reply", why != NULL ? ": " : "",
                 why != NULL ? why : "");
  free(why);
  free(text);
}

/* Transaction identifiers are opaque URL-safe text (spec §1); anything else
 * is refused before it can be shown, stored or signed. */
#define MAX_TRANSACTION_LEN 128
static bool transaction_ok(const char *tx)
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

static int post(struct owcp_client *c, const char *account, const char *saved,
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
static int account_store(struct owcp_client *c,
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

/* ---- CD-Register ------------------------------------------------------- */

/* Decodes a base64 DER certificate: a reply's, or one saved from it. */
static X509 *cert_from_b64(const char *b64, struct owcp_error *err)
{
  unsigned char *der = NULL;
  size_t len = 0;
  X509 *cert = NULL;

  if (owcp_base64_decode(b64, strlen(b64), &der, &len, err) == 0)
    cert = owcp_cert_from_der(der, len, err);
  free(der);
  return cert;
}

/* Decodes a base64 DER certificate member of a reply. */
static X509 *reply_cert(const json_t *o, const char *name,
                        struct owcp_error *err)
{
  const char *b64 = json_string_value(json_object_get(o, name));

  if (b64 == NULL) {
    owcp_error_set(err, "CD-Register reply lacks '%s'", name);
    return NULL;
  }
  return cert_from_b64(b64, err);
}

/* True when cert's subject has exactly one CN and it is client, byte for
 * byte (the receipt names the Client; the dispatcher matches the signer's
 * certificate to it). */
static bool subject_is_client(X509 *cert, const char *client)
{
  const X509_NAME *name = X509_get_subject_name(cert);
  int at = X509_NAME_get_index_by_NID(name, NID_commonName, -1);

  if (at < 0 || X509_NAME_get_index_by_NID(name, NID_commonName, at) >= 0)
    return false;
  const ASN1_STRING *cn =
      X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, at));
  size_t len = strlen(client);
  return cn != NULL && (size_t)ASN1_STRING_length(cn) == len &&
         memcmp(ASN1_STRING_get0_data(cn), client, len) == 0;
}

/* The dispatcher is trusted only as far as it proves: the certificate must
 * chain to the CA it returned, carry our key and name our account and the
 * Client identifier it returned. */
static int check_issued(const json_t *o, EVP_PKEY *key, const char *account,
                        struct owcp_error *err)
{
  X509 *cert = reply_cert(o, "Certificate", err);
  X509 *ca = cert != NULL ? reply_cert(o, "CA", err) : NULL;
  const char *client = json_string_value(json_object_get(o, "Client"));
  char named[320];
  int rc = -1;

  if (ca == NULL || owcp_cert_verify_chain(cert, ca, err) != 0)
    goto out;
  if (client == NULL || !subject_is_client(cert, client)) {
    owcp_error_set(err, "CD-Register reply: the certificate's subject does "
                        "not name the returned 'Client'");
    goto out;
  }
  if (EVP_PKEY_eq(X509_get0_pubkey(cert), key) != 1) {
    owcp_error_set(err, "CD-Register reply: the certificate is not for this "
                        "device's key");
    goto out;
  }
  if (owcp_cert_get_account(cert, named, sizeof named, err) != 0)
    goto out;
  if (strcmp(named, account) != 0) {
    char *safe = neutral(named);
    owcp_error_set(err,
                   "CD-Register reply: the certificate names '%s', not "
                   "'%s'",
                   safe != NULL ? safe : "another account", account);
    free(safe);
    goto out;
  }
  rc = 0;
out:
  X509_free(cert);
  X509_free(ca);
  return rc;
}

/* Saves the account from a 200 CD-Register reply. */
static int adopt(struct owcp_client *c, const struct owcp_register_params *p,
                 const json_t *o, EVP_PKEY *key, char *pem,
                 struct owcp_error *err)
{
  struct owcp_account_state a = {0};

  if (check_issued(o, key, p->account, err) != 0)
    return -1;
  a.account = (char *)p->account;
  a.description = (char *)p->description;
  a.dispatcher = c->dispatcher;
  a.client = (char *)json_string_value(json_object_get(o, "Client"));
  a.token = (char *)json_string_value(json_object_get(o, "Token"));
  a.cert_b64 = (char *)json_string_value(json_object_get(o, "Certificate"));
  a.ca_b64 = (char *)json_string_value(json_object_get(o, "CA"));
  a.pin = p->pin != NULL;
  a.key_pem = pem;
  a.max_failures = p->max_pin_failures != 0
                       ? p->max_pin_failures
                       : OWCP_CLIENT_DEFAULT_MAX_PIN_FAILURES;
  if (a.client == NULL || a.client[0] == '\0' || a.token == NULL ||
      a.token[0] == '\0') {
    owcp_error_set(err, "CD-Register reply lacks 'Client' or 'Token'");
    return -1;
  }
  return account_store(c, &a, NULL, err); /* put copies every string */
}

static json_t *register_params(const struct owcp_register_params *p,
                               const char *csr_b64, const char *tx)
{
  json_t *o = json_pack("{s:s, s:s, s:s}", "Account", p->account, "Description",
                        p->description, "CSR", csr_b64);

  if (o != NULL && p->code != NULL)
    json_object_set_new(o, "Code", json_string(p->code));
  if (o != NULL && tx != NULL)
    json_object_set_new(o, "Transaction", json_string(tx));
  return o;
}

static double mono_now(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(int ms)
{
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}

/* Sends CD-Register until it is no longer 202 (approval pending). */
static int register_exchange(struct owcp_client *c,
                             const struct owcp_register_params *p,
                             const char *csr_b64, struct owcp_http_reply *reply,
                             struct owcp_error *err)
{
  int timeout = p->approval_timeout_s > 0 ? p->approval_timeout_s
                                          : DEFAULT_APPROVAL_TIMEOUT_S;
  int poll_ms = p->poll_interval_ms > 0 ? p->poll_interval_ms : DEFAULT_POLL_MS;
  double deadline = mono_now() + timeout;
  char *tx = NULL;
  int rc;

  for (;;) {
    json_t *params = register_params(p, csr_b64, tx);
    rc = post(c, p->account, NULL, "CD-Register", NULL, params, 0, reply, err);
    json_decref(params);
    if (rc != 0 || reply->status != 202)
      break;
    const char *t =
        json_string_value(json_object_get(reply->json, "Transaction"));
    if (t == NULL || !transaction_ok(t)) {
      owcp_error_set(err,
                     "CD-Register answered 202 without a valid "
                     "'Transaction' (1..%d URL-safe characters)",
                     MAX_TRANSACTION_LEN);
      rc = -1;
      break;
    }
    if (tx != NULL && strcmp(tx, t) != 0) {
      owcp_error_set(err, "CD-Register answered 202 with a different "
                          "'Transaction' than the one being approved");
      rc = -1;
      break;
    }
    if (tx == NULL) {
      if ((tx = strdup(t)) == NULL) {
        owcp_error_set(err, "out of memory");
        rc = -1;
        break;
      }
      if (p->on_pending != NULL)
        p->on_pending(tx, p->arg);
    }
    if (mono_now() >= deadline) {
      owcp_error_set(err, "no device approved the registration within %d s",
                     timeout);
      rc = -1;
      break;
    }
    owcp_http_reply_free(reply);
    sleep_ms(poll_ms);
  }
  free(tx);
  return rc;
}

static int register_check_params(const struct owcp_register_params *p,
                                 struct owcp_error *err)
{
  if (p->account == NULL || strchr(p->account, '@') == NULL) {
    owcp_error_set(err, "the account must be of the form local@domain");
    return -1;
  }
  if (p->description == NULL || p->description[0] == '\0') {
    owcp_error_set(err, "the device description must not be empty");
    return -1;
  }
  if (p->pin != NULL && p->pin[0] == '\0') {
    owcp_error_set(err, "the PIN must not be empty");
    return -1;
  }
  return 0;
}

int owcp_client_register(struct owcp_client *c,
                         const struct owcp_register_params *p,
                         struct owcp_error *err)
{
  EVP_PKEY *key = NULL;
  char *pem = NULL;
  unsigned char *csr = NULL;
  size_t csr_len = 0;
  char *csr_b64 = NULL;
  struct owcp_http_reply reply = {0};
  int rc = -1;

  if (register_check_params(p, err) != 0 ||
      owcp_keystore_create(p->pin, &key, &pem, err) != 0 ||
      owcp_csr_new(key, p->account, &csr, &csr_len, err) != 0)
    goto out;
  csr_b64 = owcp_base64_encode(csr, csr_len);
  if (csr_b64 == NULL) {
    owcp_error_set(err, "out of memory");
    goto out;
  }
  if (register_exchange(c, p, csr_b64, &reply, err) != 0)
    goto out;
  if (reply.status == 200)
    rc = adopt(c, p, reply.json, key, pem, err);
  else if (reply.status == 403 && p->code == NULL)
    reply_error("CD-Register (the registration was rejected or the service "
                "is closed)",
                &reply, err);
  else if (reply.status == 408)
    reply_error("CD-Register (the approval expired)", &reply, err);
  else
    reply_error("CD-Register", &reply, err);
out:
  owcp_http_reply_free(&reply);
  if (pem != NULL)
    OPENSSL_cleanse(pem, strlen(pem));
  free(pem);
  free(csr);
  free(csr_b64);
  EVP_PKEY_free(key);
  return rc;
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
  if (post(c, account, a.dispatcher, "CD-Deregister", a.token, params, 0,
           &reply, err) == 0) {
    if (reply.status == 200 || reply.status == 401 || reply.status == 404)
      rc = account_store(c, NULL, account, err);
    else
      reply_error("CD-Deregister", &reply, err);
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
  if (tx_len != strlen(p->transaction) || !transaction_ok(p->transaction)) {
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
  if (post(c, account, a.dispatcher, "CD-List", a.token, params, wait_s, &reply,
           err) == 0) {
    if (reply.status == 200)
      rc = pending_list_from_json(reply.json, out, err);
    else
      reply_error("CD-List", &reply, err);
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
    char *safe = neutral(req->header.to);
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
    char *safe = neutral(why.msg);
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
  if ((method != NULL && (out->unsupported = neutral(method)) == NULL) ||
      (out->transaction = neutral(p->transaction)) == NULL ||
      (out->from = neutral(p->from)) == NULL ||
      (out->expires = neutral(p->expires)) == NULL) {
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
    break;
  }
  return "Refuse";
}

/* Signs the spec §6 receipt over p->request into base64 DER (caller
 * frees). Verification lists PIN exactly when the key was unlocked by it. */
static char *sign_receipt(const struct owcp_account_state *a,
                          const struct owcp_pending *p, const char *response,
                          const char *reason, EVP_PKEY *key,
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
  };
  unsigned char *der = NULL;
  size_t len = 0;
  char *b64 = NULL;
  X509 *cert = cert_from_b64(a->cert_b64, err);

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
  if (post(c, a->account, a->dispatcher, "CD-Reply", a->token, params, 0,
           &reply, err) == 0) {
    if (reply.status == 200)
      rc = 0;
    else if (reply.status == 409)
      reply_error("CD-Reply (already answered)", &reply, err);
    else if (reply.status == 408)
      reply_error("CD-Reply (expired or cancelled)", &reply, err);
    else
      reply_error("CD-Reply", &reply, err);
  }
  json_decref(params);
  owcp_http_reply_free(&reply);
  return rc;
}

int owcp_client_reply(struct owcp_client *c, const char *account,
                      const struct owcp_pending *p, enum owcp_answer answer,
                      const char *pin, enum owcp_answer *sent,
                      struct owcp_error *err)
{
  struct owcp_account_state a;
  struct owcp_request *req = NULL;
  EVP_PKEY *key = NULL;
  char *receipt = NULL;
  enum owcp_answer what = answer;
  int rc;

  if (account_get(c, account, &a, err) != 0)
    return -1;
  rc = parse_pending(c, account, p, &req, err);
  if (rc == 0 && unsupported_method(req, a.pin) != NULL)
    what = OWCP_ANSWER_REFUSE;
  owcp_request_free(req);
  if (rc == 0)
    rc = owcp_keystore_unlock(c->dir, account, pin, &key, err);
  if (rc == 0) {
    const char *reason =
        what == OWCP_ANSWER_REFUSE ? OWCP_CLIENT_UNKNOWN_VERIFICATION : NULL;
    receipt = sign_receipt(&a, p, owcp_answer_name(what), reason, key, err);
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
