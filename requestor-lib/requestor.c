/*
 * requestor.c — the requestor context (owcp/requestor.h): the account and
 * its token, discovery and the HTTP client for the one service that issued
 * the token, the XML validator, the dispatcher's CA bundle, and the
 * mapping of dispatcher answers onto enum owcp_rq_status.
 */
#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "internal.h"
#include "owcp/jsonspec.h"
#include "owcp/keys.h"
#include "owcp/status.h"

/* A bearer token is short; anything longer is not a token file. */
#define TOKEN_MAX 1024

const char *owcp_rq_status_name(enum owcp_rq_status s)
{
  static const char *const names[] = {
      [OWCP_RQ_OK] = "OK",
      [OWCP_RQ_PENDING] = "PENDING",
      [OWCP_RQ_BAD_REQUEST] = "BAD_REQUEST",
      [OWCP_RQ_NOT_AUTHENTICATED] = "NOT_AUTHENTICATED",
      [OWCP_RQ_REFUSED] = "REFUSED",
      [OWCP_RQ_NOT_FOUND] = "NOT_FOUND",
      [OWCP_RQ_TIMEOUT] = "TIMEOUT",
      [OWCP_RQ_CONFLICT] = "CONFLICT",
      [OWCP_RQ_TOO_LARGE] = "TOO_LARGE",
      [OWCP_RQ_UNSUPPORTED] = "UNSUPPORTED_MEDIA_TYPE",
      [OWCP_RQ_RATE_LIMITED] = "RATE_LIMITED",
      [OWCP_RQ_SERVER_ERROR] = "SERVER_ERROR",
      [OWCP_RQ_UNAVAILABLE] = "UNAVAILABLE",
      [OWCP_RQ_PROTOCOL_ERROR] = "PROTOCOL_ERROR",
      [OWCP_RQ_NETWORK_ERROR] = "NETWORK_ERROR",
      [OWCP_RQ_VERIFY_FAILED] = "VERIFY_FAILED",
      [OWCP_RQ_INVALID_INPUT] = "INVALID_INPUT",
      [OWCP_RQ_DEADLINE] = "DEADLINE",
      [OWCP_RQ_INTERNAL_ERROR] = "INTERNAL_ERROR",
  };
  if ((size_t)s < sizeof names / sizeof names[0] && names[s] != NULL)
    return names[s];
  return "UNKNOWN";
}

const char *owcp_rq_response_name(enum owcp_rq_response r)
{
  switch (r) {
  case OWCP_RQ_ACCEPT:
    return "Accept";
  case OWCP_RQ_REJECT:
    return "Reject";
  case OWCP_RQ_REFUSE:
    return "Refuse";
  case OWCP_RQ_NO_RESPONSE:
    break;
  }
  return "none";
}

void owcp_rq_result_free(struct owcp_rq_result *r)
{
  if (r == NULL)
    return;
  free(r->server_error);
  free(r->transaction);
  free(r->identifier);
  free(r->expires);
  free(r->reason);
  for (size_t i = 0; i < r->verification_count; i++)
    free(r->verification[i]);
  free(r->verification);
  free(r->client);
  free(r->account);
  free(r->responded);
  free(r->signed_at);
  free(r->receipt);
  free(r->match);
  free(r->from);
  memset(r, 0, sizeof *r);
}

int rq_dup_member(const json_t *obj, const char *name, char **dst)
{
  const char *s = json_string_value(json_object_get(obj, name));

  *dst = NULL;
  if (s == NULL)
    return 0;
  *dst = strdup(s);
  return *dst == NULL ? -1 : 0;
}

bool rq_same_account(const char *a, const char *b)
{
  char *na = NULL, *nb = NULL;
  bool same;

  if (a == NULL || b == NULL)
    return false;
  same = owcp_account_normalize(a, strlen(a), &na, NULL) == 0 &&
         owcp_account_normalize(b, strlen(b), &nb, NULL) == 0 &&
         strcmp(na, nb) == 0;
  free(na);
  free(nb);
  return same;
}

/* ---- token --------------------------------------------------------------- */

/* The token goes into an HTTP header: visible ASCII only, so that a token
 * file with stray bytes cannot inject header lines. */
static int check_token(const char *t, size_t len, struct owcp_error *err)
{
  if (len == 0) {
    owcp_error_set(err, "the token is empty");
    return -1;
  }
  for (size_t i = 0; i < len; i++) {
    if (t[i] < 0x21 || t[i] > 0x7e) {
      owcp_error_set(err,
                     "the token holds a character that is not visible "
                     "ASCII at offset %zu",
                     i);
      return -1;
    }
  }
  return 0;
}

/* Reads a token file that only its owner may read. The mode is checked on
 * the opened descriptor, so the file cannot be swapped between the check
 * and the read, and a symbolic link is not followed: whoever may write the
 * directory must not be able to point the token at another secret file,
 * which would then be sent as a bearer token. O_NONBLOCK keeps a FIFO in
 * its place from blocking open(); reads of a regular file ignore it. */
static char *read_token_file(const char *path, struct owcp_error *err)
{
  char buf[TOKEN_MAX + 2];
  struct stat st;
  size_t len = 0;
  char *tok = NULL;
  int fd =
      open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK);

  if (fd < 0 && errno == ELOOP) {
    owcp_error_set(err,
                   "token file '%s' is a symbolic link; name the file "
                   "itself",
                   path);
    return NULL;
  }
  if (fd < 0) {
    owcp_error_set(err, "cannot open token file '%s': %s", path,
                   strerror(errno));
    return NULL;
  }
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    owcp_error_set(err, "token file '%s' is not a regular file", path);
    goto done;
  }
  if ((st.st_mode & 077) != 0) {
    owcp_error_set(err,
                   "token file '%s' may be read by group or others (mode "
                   "%03o); run chmod 600 on it",
                   path, (unsigned)(st.st_mode & 0777));
    goto done;
  }
  while (len < sizeof buf) {
    ssize_t n = read(fd, buf + len, sizeof buf - len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      owcp_error_set(err, "cannot read token file '%s': %s", path,
                     strerror(errno));
      goto done;
    }
    if (n == 0)
      break;
    len += (size_t)n;
  }
  while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
    len--;
  if (len > TOKEN_MAX) {
    owcp_error_set(err, "token file '%s' is longer than %d octets", path,
                   TOKEN_MAX);
    goto done;
  }
  if (check_token(buf, len, err) != 0) {
    owcp_error_set(err, "token file '%s' does not hold a token", path);
    goto done;
  }
  tok = malloc(len + 1);
  if (tok == NULL) {
    owcp_error_set(err, "out of memory");
    goto done;
  }
  memcpy(tok, buf, len);
  tok[len] = '\0';
done:
  OPENSSL_cleanse(buf, sizeof buf);
  close(fd);
  return tok;
}

static char *load_token(const struct owcp_requestor_config *cfg,
                        struct owcp_error *err)
{
  char *tok;

  if ((cfg->token == NULL) == (cfg->token_file == NULL)) {
    owcp_error_set(err, "set exactly one of token and token_file");
    return NULL;
  }
  if (cfg->token_file != NULL)
    return read_token_file(cfg->token_file, err);
  if (check_token(cfg->token, strlen(cfg->token), err) != 0)
    return NULL;
  tok = strdup(cfg->token);
  if (tok == NULL)
    owcp_error_set(err, "out of memory");
  return tok;
}

/* ---- CA bundle ----------------------------------------------------------- */

int rq_split_bundle(const char *pem, size_t len, X509 **client_ca,
                    char **client_ca_pem, char **dispatcher_cert_pem,
                    struct owcp_error *err)
{
  BIO *bio;
  X509 *ca = NULL, *disp = NULL;
  char *ca_pem = NULL, *disp_pem = NULL;
  int rc = -1;

  if (len > INT32_MAX) {
    owcp_error_set(err, "the CA bundle is too large");
    return -1;
  }
  bio = BIO_new_mem_buf(pem, (int)len);
  if (bio == NULL) {
    owcp_error_set_ssl(err, "out of memory reading the CA bundle");
    return -1;
  }
  ca = PEM_read_bio_X509(bio, NULL, NULL, NULL);
  if (ca == NULL) {
    owcp_error_set_ssl(err, "the CA bundle holds no PEM certificate");
    goto done;
  }
  disp = PEM_read_bio_X509(bio, NULL, NULL, NULL);
  ERR_clear_error(); /* the end of the bundle is not an error */
  ca_pem = owcp_cert_to_pem(ca, err);
  if (ca_pem == NULL)
    goto done;
  if (disp != NULL) {
    disp_pem = owcp_cert_to_pem(disp, err);
    if (disp_pem == NULL)
      goto done;
  }
  if (client_ca != NULL) {
    *client_ca = ca;
    ca = NULL;
  }
  if (client_ca_pem != NULL) {
    *client_ca_pem = ca_pem;
    ca_pem = NULL;
  }
  if (dispatcher_cert_pem != NULL) {
    *dispatcher_cert_pem = disp_pem;
    disp_pem = NULL;
  }
  rc = 0;
done:
  BIO_free(bio);
  X509_free(ca);
  X509_free(disp);
  free(ca_pem);
  free(disp_pem);
  return rc;
}

static int bases(struct owcp_requestor *rq, struct owcp_base_list *out,
                 struct owcp_error *err)
{
  return owcp_discovery_resolve(rq->disc, rq->service_domain, out, err);
}

/* Loads the bundle once: from the pinned text (at creation) or from
 * GET {base}/CA over the verified connection. */
static int ensure_ca(struct owcp_requestor *rq, struct owcp_error *err)
{
  struct owcp_base_list list = {0};
  char *pem = NULL;
  size_t pem_len = 0;
  int rc;

  if (rq->client_ca != NULL)
    return 0;
  if (bases(rq, &list, err) != 0)
    return -1;
  rc = owcp_httpc_get_ca(rq->http, &list, &pem, &pem_len, err);
  owcp_base_list_free(&list);
  if (rc != 0)
    return -1;
  rc = rq_split_bundle(pem, pem_len, &rq->client_ca, &rq->client_ca_pem,
                       &rq->dispatcher_cert_pem, err);
  free(pem);
  return rc;
}

int owcp_rq_fetch_ca(const char *base, const char *ca_file,
                     bool allow_insecure_http, char **client_ca_pem,
                     char **dispatcher_cert_pem, struct owcp_error *err)
{
  struct owcp_httpc_config hc = {0};
  struct owcp_base_list list = {0};
  struct owcp_httpc *http = NULL;
  char *pem = NULL, *ca_pem = NULL, *disp_pem = NULL;
  size_t pem_len = 0;
  X509 *ca = NULL;
  int rc = -1;

  *client_ca_pem = NULL;
  if (dispatcher_cert_pem != NULL)
    *dispatcher_cert_pem = NULL;
  if (base == NULL) {
    owcp_error_set(err, "no dispatcher URL to fetch the client CA from");
    return -1;
  }
  hc.ca_file = ca_file;
  hc.allow_insecure_http = allow_insecure_http;
  if (owcp_base_list_single(base, allow_insecure_http, &list, err) != 0 ||
      owcp_httpc_new(&hc, &http, err) != 0 ||
      owcp_httpc_get_ca(http, &list, &pem, &pem_len, err) != 0 ||
      rq_split_bundle(pem, pem_len, &ca, &ca_pem, &disp_pem, err) != 0)
    goto done;
  *client_ca_pem = ca_pem;
  ca_pem = NULL;
  if (dispatcher_cert_pem != NULL) {
    *dispatcher_cert_pem = disp_pem;
    disp_pem = NULL;
  }
  rc = 0;
done:
  X509_free(ca);
  free(ca_pem);
  free(disp_pem);
  free(pem);
  owcp_httpc_free(http);
  owcp_base_list_free(&list);
  return rc;
}

X509 *rq_client_ca(struct owcp_requestor *rq, struct owcp_error *err)
{
  return ensure_ca(rq, err) == 0 ? rq->client_ca : NULL;
}

int owcp_requestor_ca(struct owcp_requestor *rq, char **client_ca_pem,
                      char **dispatcher_cert_pem, struct owcp_error *err)
{
  char *a = NULL, *b = NULL;

  if (ensure_ca(rq, err) != 0)
    return -1;
  if (client_ca_pem != NULL) {
    a = strdup(rq->client_ca_pem);
    if (a == NULL)
      goto oom;
  }
  if (dispatcher_cert_pem != NULL) {
    if (rq->dispatcher_cert_pem == NULL) {
      free(a);
      owcp_error_set(err, "the CA bundle holds no dispatcher certificate "
                          "(pin the whole GET {base}/CA bundle)");
      return -1;
    }
    b = strdup(rq->dispatcher_cert_pem);
    if (b == NULL)
      goto oom;
  }
  if (client_ca_pem != NULL)
    *client_ca_pem = a;
  if (dispatcher_cert_pem != NULL)
    *dispatcher_cert_pem = b;
  return 0;
oom:
  free(a);
  owcp_error_set(err, "out of memory");
  return -1;
}

/* ---- memo of requests sent ----------------------------------------------- */

int rq_memo_put(struct owcp_requestor *rq, const char *transaction,
                const char *xml, size_t xml_len)
{
  const struct rq_memo *known = rq_memo_get(rq, transaction);
  struct rq_memo *m = &rq->memo[rq->memo_next];
  char *tx, *copy;

  if (known != NULL)
    return known->xml_len == xml_len && memcmp(known->xml, xml, xml_len) == 0
               ? 0
               : RQ_MEMO_CLASH;
  tx = strdup(transaction);
  copy = malloc(xml_len + 1);
  if (tx == NULL || copy == NULL) {
    free(tx);
    free(copy);
    return -1;
  }
  memcpy(copy, xml, xml_len);
  copy[xml_len] = '\0';
  free(m->transaction);
  free(m->xml);
  m->transaction = tx;
  m->xml = copy;
  m->xml_len = xml_len;
  rq->memo_next = (rq->memo_next + 1) % RQ_MEMO_MAX;
  return 0;
}

const struct rq_memo *rq_memo_get(const struct owcp_requestor *rq,
                                  const char *transaction)
{
  for (size_t i = 0; i < RQ_MEMO_MAX; i++)
    if (rq->memo[i].transaction != NULL &&
        strcmp(rq->memo[i].transaction, transaction) == 0)
      return &rq->memo[i];
  return NULL;
}

/* ---- create / free ------------------------------------------------------- */

static int setup_net(struct owcp_requestor *rq,
                     const struct owcp_requestor_config *cfg,
                     struct owcp_error *err)
{
  struct owcp_discovery_config dc = {0};
  struct owcp_httpc_config hc = {0};

  dc.dns_servers = cfg->dns_servers;
  dc.manual_base = cfg->dispatcher;
  dc.manual_only =
      cfg->dispatcher != NULL && !cfg->use_dns && cfg->dns_servers == NULL;
  dc.allow_insecure_http = cfg->allow_insecure_http;
  if (owcp_discovery_new(&dc, &rq->disc, err) != 0)
    return -1;
  hc.ca_file = cfg->ca_file;
  hc.timeout_ms = cfg->timeout_ms;
  hc.allow_insecure_http = cfg->allow_insecure_http;
  return owcp_httpc_new(&hc, &rq->http, err);
}

static int setup_identity(struct owcp_requestor *rq,
                          const struct owcp_requestor_config *cfg,
                          struct owcp_error *err)
{
  struct owcp_error why = {{0}};
  const char *domain;

  if (cfg->account == NULL ||
      owcp_account_normalize(cfg->account, strlen(cfg->account), &rq->account,
                             &why) != 0) {
    owcp_error_set(err, "the requestor account is not an account: %s",
                   cfg->account == NULL ? "none given" : why.msg);
    return -1;
  }
  domain = cfg->service_domain != NULL ? cfg->service_domain
                                       : strchr(rq->account, '@') + 1;
  rq->service_domain = strdup(domain);
  if (rq->service_domain == NULL) {
    owcp_error_set(err, "out of memory");
    return -1;
  }
  rq->token = load_token(cfg, err);
  return rq->token == NULL ? -1 : 0;
}

int owcp_requestor_new(const struct owcp_requestor_config *cfg,
                       struct owcp_requestor **out, struct owcp_error *err)
{
  struct owcp_requestor *rq;

  if (cfg == NULL || out == NULL) {
    owcp_error_set(err, "owcp_requestor_new: NULL argument");
    return -1;
  }
  *out = NULL;
  rq = calloc(1, sizeof *rq);
  if (rq == NULL) {
    owcp_error_set(err, "out of memory");
    return -1;
  }
  if (setup_identity(rq, cfg, err) != 0)
    goto fail;
  if (cfg->pinned_ca_pem != NULL &&
      rq_split_bundle(cfg->pinned_ca_pem, strlen(cfg->pinned_ca_pem),
                      &rq->client_ca, &rq->client_ca_pem,
                      &rq->dispatcher_cert_pem, err) != 0)
    goto fail;
  if (setup_net(rq, cfg, err) != 0)
    goto fail;
  rq->validator = owcp_xml_validator_new(NULL, err);
  if (rq->validator == NULL)
    goto fail;
  *out = rq;
  return 0;
fail:
  owcp_requestor_free(rq);
  return -1;
}

void owcp_requestor_free(struct owcp_requestor *rq)
{
  if (rq == NULL)
    return;
  if (rq->token != NULL) {
    OPENSSL_cleanse(rq->token, strlen(rq->token));
    free(rq->token);
  }
  free(rq->account);
  free(rq->service_domain);
  owcp_discovery_free(rq->disc);
  owcp_httpc_free(rq->http);
  owcp_xml_validator_free(rq->validator);
  X509_free(rq->client_ca);
  free(rq->client_ca_pem);
  free(rq->dispatcher_cert_pem);
  for (size_t i = 0; i < RQ_MEMO_MAX; i++) {
    free(rq->memo[i].transaction);
    free(rq->memo[i].xml);
  }
  free(rq);
}

const char *owcp_requestor_account(const struct owcp_requestor *rq)
{
  return rq->account;
}

const struct owcp_xml_validator *
owcp_requestor_validator(const struct owcp_requestor *rq)
{
  return rq->validator;
}

/* ---- one exchange -------------------------------------------------------- */

static enum owcp_rq_status map_status(long http)
{
  switch (http) {
  case 200:
    return OWCP_RQ_OK;
  case 202:
    return OWCP_RQ_PENDING;
  case 400:
    return OWCP_RQ_BAD_REQUEST;
  case 401:
    return OWCP_RQ_NOT_AUTHENTICATED;
  case 403:
    return OWCP_RQ_REFUSED;
  case 404:
    return OWCP_RQ_NOT_FOUND;
  case 408:
    return OWCP_RQ_TIMEOUT;
  case 409:
    return OWCP_RQ_CONFLICT;
  case 413:
    return OWCP_RQ_TOO_LARGE;
  case 415:
    return OWCP_RQ_UNSUPPORTED;
  case 429:
    return OWCP_RQ_RATE_LIMITED;
  case 500:
    return OWCP_RQ_SERVER_ERROR;
  case 503:
    return OWCP_RQ_UNAVAILABLE;
  default:
    return OWCP_RQ_PROTOCOL_ERROR;
  }
}

/* Checks the answer's framing (spec §2: a JSON object whose Status equals
 * the HTTP status) and records Status, Error and Retry in out. */
static enum owcp_rq_status read_reply(const struct owcp_http_reply *reply,
                                      const char *op,
                                      struct owcp_rq_result *out,
                                      struct owcp_error *err)
{
  json_int_t st;
  const char *error;

  out->http_status = (int)reply->status;
  if (!json_is_object(reply->json)) {
    owcp_error_set(err,
                   "%s: the dispatcher answered HTTP %ld without a JSON "
                   "object",
                   op, reply->status);
    return OWCP_RQ_PROTOCOL_ERROR;
  }
  st = json_integer_value(json_object_get(reply->json, "Status"));
  if (st != reply->status || owcp_status_text((int)st) == NULL) {
    owcp_error_set(err,
                   "%s: the dispatcher's Status %lld does not match HTTP "
                   "%ld or is not an OWCP status",
                   op, (long long)st, reply->status);
    return OWCP_RQ_PROTOCOL_ERROR;
  }
  error = json_string_value(json_object_get(reply->json, "Error"));
  if (error != NULL) {
    out->server_error = strdup(error);
    if (out->server_error == NULL) {
      owcp_error_set(err, "out of memory");
      return OWCP_RQ_INTERNAL_ERROR;
    }
  }
  out->retry_after =
      (long)json_integer_value(json_object_get(reply->json, "Retry"));
  if (st >= 400)
    owcp_error_set(err, "%s: %lld %s%s%s", op, (long long)st,
                   owcp_status_text((int)st), error ? ": " : "",
                   error ? error : "");
  return map_status(st);
}

enum owcp_rq_status rq_post(struct owcp_requestor *rq, const char *op,
                            const json_t *params, int wait_s, json_t **json,
                            struct owcp_rq_result *out, struct owcp_error *err)
{
  struct owcp_base_list list = {0};
  struct owcp_http_reply reply = {0};
  struct owcp_error why = {{0}};

  *json = NULL;
  if (bases(rq, &list, &why) != 0) {
    owcp_error_set(err, "%s: cannot find the dispatcher: %s", op, why.msg);
    return out->status = OWCP_RQ_NETWORK_ERROR;
  }
  if (owcp_httpc_post_json(rq->http, &list, op, rq->token, params, wait_s,
                           &reply, &why) != 0) {
    owcp_base_list_free(&list);
    owcp_error_set(err, "%s: no dispatcher answered: %s", op, why.msg);
    return out->status = OWCP_RQ_NETWORK_ERROR;
  }
  owcp_base_list_free(&list);
  out->status = read_reply(&reply, op, out, err);
  if (out->status != OWCP_RQ_PROTOCOL_ERROR &&
      out->status != OWCP_RQ_INTERNAL_ERROR)
    *json = json_incref(reply.json);
  owcp_http_reply_free(&reply);
  return out->status;
}
