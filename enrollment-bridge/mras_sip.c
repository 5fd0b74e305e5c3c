/*
 * mras_sip.c — the MRAS front's SIP side (mras.h), per request:
 *   not a parsable request                 -> dropped (nothing to answer)
 *   ACK                                    -> ignored
 *   a retransmission (same server transaction, RFC 3261 §17.2.3): the
 *       stored final response again, or nothing while it is being served
 *       (never a second confirmation)
 *   a method other than SERVICE            -> 501, no body
 *   another Content-Type                   -> 415 with Accept, no body
 *   no valid Digest answer (digest.h)      -> 407 Proxy-Authenticate or
 *       401 WWW-Authenticate ([mras] challenge), one header per
 *       digest_algorithm, one nonce; stale=true when only the nonce's age
 *       failed; non-Digest Authorization headers (SIPE's own) are ignored
 *   a (nonce, nc) used before (store.h)    -> a new challenge
 *   then mras_serve() -> the reasonPhrase's SIP status with the XML body.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mras_internal.h"
#include "owcp/service/log.h"
#include "sip_message.h"
#include "sip_transport.h"
#include "store.h"

#define DB_WAIT_MS 2000

/* ---- server transactions ----------------------------------------------------
 */

enum txn_state { TXN_NEW, TXN_BUSY, TXN_DONE };

/* Finds or claims key: TXN_DONE with a copy of the response, TXN_BUSY, or
 * TXN_NEW (claimed now; finish with txn_done). */
static enum txn_state txn_begin(struct mras_front *f, const char *key,
                                char **resp, size_t *len)
{
  time_t now = time(NULL);
  size_t free_slot = MRAS_TXN_MAX;
  enum txn_state st = TXN_NEW;
  pthread_mutex_lock(&f->lock);
  for (size_t i = 0; i < MRAS_TXN_MAX; i++) {
    struct mras_txn *t = &f->txns[i];
    if (t->key != NULL && t->response != NULL &&
        now - t->done_at > MRAS_TXN_KEEP_S) {
      free(t->key);
      free(t->response);
      memset(t, 0, sizeof *t);
    }
    if (t->key == NULL) {
      if (free_slot == MRAS_TXN_MAX)
        free_slot = i;
      continue;
    }
    if (strcmp(t->key, key) != 0)
      continue;
    /* Being served (or no memory for the copy): absorbed. */
    st = TXN_BUSY;
    if (t->response != NULL && (*resp = malloc(t->len)) != NULL) {
      memcpy(*resp, t->response, t->len);
      *len = t->len;
      st = TXN_DONE;
    }
    break;
  }
  if (st == TXN_NEW && free_slot < MRAS_TXN_MAX)
    f->txns[free_slot].key = strdup(key);
  pthread_mutex_unlock(&f->lock);
  return st;
}

/* Stores the final response of key (a copy). */
static void txn_done(struct mras_front *f, const char *key, const char *resp,
                     size_t len)
{
  pthread_mutex_lock(&f->lock);
  for (size_t i = 0; i < MRAS_TXN_MAX; i++) {
    struct mras_txn *t = &f->txns[i];
    if (t->key != NULL && t->response == NULL && strcmp(t->key, key) == 0) {
      t->response = malloc(len);
      if (t->response != NULL)
        memcpy(t->response, resp, len);
      t->len = len;
      t->done_at = time(NULL);
      if (t->response == NULL) {
        free(t->key);
        t->key = NULL;
      }
      break;
    }
  }
  pthread_mutex_unlock(&f->lock);
}

/* ---- replies ----------------------------------------------------------------
 */

struct ctx {
  struct bridge *b;
  const struct sip_source *src;
  osip_message_t *req;
  char *key;
  char tag[17];
};

static void reply(struct ctx *c, unsigned status, const struct sip_header *h,
                  size_t nh, const char *body, size_t body_len)
{
  char *out = NULL;
  size_t len = 0;
  if (sip_response(c->req, status, NULL, c->tag, sip_source_ip(c->src),
                   sip_source_port(c->src), h, nh,
                   body ? MRAS_CONTENT_TYPE : NULL, body, body_len, &out,
                   &len) != 0) {
    svc_log(SVC_LOG_ERROR, "sip", "cannot build a %u response", status);
    return;
  }
  txn_done(c->b->mras, c->key, out, len);
  if (sip_source_send(c->src, out, len) != 0)
    svc_log(SVC_LOG_INFO, "sip", "%s peer %s gone before the %u",
            sip_source_transport(c->src), sip_source_ip(c->src), status);
  free(out);
}

static void challenge(struct ctx *c, bool stale, const char *why)
{
  const struct bridge_mras_config *m = &c->b->cfg.mras;
  const struct digest_key *key = mras_front_key(c->b->mras);
  char nonce[DIGEST_NONCE_LEN + 1], opaque[DIGEST_OPAQUE_LEN + 1];
  struct sip_header h[2];
  char *values[2] = {NULL, NULL};
  size_t n = 0;
  bool want_sess = false, want_md5 = m->digest_algorithm.count == 0;
  for (size_t i = 0; i < m->digest_algorithm.count; i++) {
    if (strcasecmp(m->digest_algorithm.items[i], "MD5-sess") == 0)
      want_sess = true;
    else
      want_md5 = true;
  }
  if (digest_nonce_new(key, time(NULL), nonce) != 0)
    return;
  digest_opaque(key, nonce, opaque);
  const char *name =
      m->challenge == 1 ? "WWW-Authenticate" : "Proxy-Authenticate";
  /* In the configured order. */
  for (size_t i = 0; i < 2; i++) {
    bool first_is_sess =
        m->digest_algorithm.count > 0 &&
        strcasecmp(m->digest_algorithm.items[0], "MD5-sess") == 0;
    enum digest_alg a =
        (i == 0) == first_is_sess ? DIGEST_MD5_SESS : DIGEST_MD5;
    if ((a == DIGEST_MD5 && !want_md5) || (a == DIGEST_MD5_SESS && !want_sess))
      continue;
    values[n] = digest_challenge(m->realm, nonce, opaque, a, stale);
    h[n] = (struct sip_header){name, values[n]};
    if (values[n] != NULL)
      n++;
  }
  svc_log(SVC_LOG_DEBUG, "sip", "%s %s: challenged%s: %s",
          sip_source_transport(c->src), sip_source_ip(c->src),
          stale ? " (stale)" : "", why);
  reply(c, m->challenge == 1 ? 401 : 407, h, n, NULL, 0);
  free(values[0]);
  free(values[1]);
}

/* ---- Digest -----------------------------------------------------------------
 */

/* The first Digest answer among the Authorization and Proxy-Authorization
 * headers (others, e.g. SIPE's NTLM/Kerberos/TLS-DSK, ignored). */
static bool find_digest(const osip_message_t *req, struct digest_answer *a)
{
  osip_authorization_t *h = NULL;
  for (int kind = 0; kind < 2; kind++)
    for (int pos = 0;; pos++) {
      int rc = kind == 0 ? osip_message_get_proxy_authorization(req, pos, &h)
                         : osip_message_get_authorization(req, pos, &h);
      if (rc < 0 || h == NULL)
        break;
      if (h->auth_type == NULL || strcasecmp(h->auth_type, "Digest") != 0)
        continue;
      a->username = digest_unquote(h->username);
      a->realm = digest_unquote(h->realm);
      a->nonce = digest_unquote(h->nonce);
      a->uri = digest_unquote(h->uri);
      a->response = digest_unquote(h->response);
      a->algorithm = digest_unquote(h->algorithm);
      a->cnonce = digest_unquote(h->cnonce);
      a->opaque = digest_unquote(h->opaque);
      a->qop = digest_unquote(h->message_qop);
      a->nc = digest_unquote(h->nonce_count);
      return true;
    }
  return false;
}

static bool offered(const struct bridge_mras_config *m, enum digest_alg a)
{
  if (m->digest_algorithm.count == 0)
    return a == DIGEST_MD5;
  for (size_t i = 0; i < m->digest_algorithm.count; i++) {
    enum digest_alg x;
    if (digest_alg_parse(m->digest_algorithm.items[i], &x) && x == a)
      return true;
  }
  return false;
}

/* The authenticated user (a pointer into a), or NULL having answered. */
static const char *authenticate(struct ctx *c, struct digest_answer *a)
{
  const struct bridge_mras_config *m = &c->b->cfg.mras;
  const struct mras_front *f = c->b->mras;
  struct owcp_error err = {{0}};
  enum digest_alg alg;
  unsigned nc = 0;
  time_t expires = 0;
  char opaque[DIGEST_OPAQUE_LEN + 1];
  if (!find_digest(c->req, a))
    return challenge(c, false, "no Digest answer"), NULL;
  if (!digest_answer_complete(a, &nc, &err) ||
      strcmp(a->realm, m->realm) != 0 ||
      !digest_alg_parse(a->algorithm, &alg) || !offered(m, alg))
    return challenge(c, false, err.msg[0] ? err.msg : "realm or algorithm"),
           NULL;
  enum digest_nonce_state ns = digest_nonce_check(
      mras_front_key(f), a->nonce, time(NULL), m->nonce_lifetime, &expires);
  digest_opaque(mras_front_key(f), a->nonce, opaque);
  if (ns == DIGEST_NONCE_BAD || a->opaque == NULL ||
      !owcp_ct_streq(a->opaque, opaque))
    return challenge(c, false, "not our nonce, or opaque not echoed"), NULL;
  const char *ha1 =
      digest_users_ha1(mras_front_users(f), a->username, m->realm);
  if (ha1 == NULL || !digest_answer_verify(a, ha1, alg, "SERVICE"))
    return challenge(c, false, "wrong user or password"), NULL;
  if (ns == DIGEST_NONCE_STALE)
    return challenge(c, true, "nonce past nonce_lifetime"), NULL;
  struct bridge_store *st = NULL;
  bool fresh = false;
  int rc = bridge_store_acquire(c->b->pool, DB_WAIT_MS, &st, &err);
  if (rc == 0)
    rc = bridge_store_nonce_use(st, a->nonce, nc, expires, 0, &fresh, &err);
  bridge_store_release(c->b->pool, st);
  if (rc != 0) {
    svc_log(SVC_LOG_ERROR, "sip", "nonce store: %s", err.msg);
    reply(c, 503, NULL, 0, NULL, 0);
    return NULL;
  }
  if (!fresh)
    return challenge(c, false, "(nonce, nc) replayed"), NULL;
  return a->username;
}

/* ---- the handler ------------------------------------------------------------
 */

static void serve(struct ctx *c)
{
  static const struct sip_header accept = {"Accept", MRAS_CONTENT_TYPE};
  static const struct sip_header allow = {"Allow", "SERVICE"};
  struct digest_answer a = {0};
  if (strcmp(c->req->sip_method, "SERVICE") != 0) {
    reply(c, 501, &allow, 1, NULL, 0);
    return;
  }
  if (!sip_content_type_is(c->req, MRAS_CONTENT_TYPE)) {
    reply(c, 415, &accept, 1, NULL, 0);
    return;
  }
  const char *user = authenticate(c, &a);
  if (user != NULL) {
    const char *body = NULL;
    size_t len = 0, xml_len = 0;
    char *xml = NULL;
    char transport[16];
    snprintf(transport, sizeof transport, "SIP/%s",
             sip_source_transport(c->src));
    sip_body(c->req, &body, &len);
    enum mras_reason r = mras_serve(c->b, user, transport, body ? body : "",
                                    len, &xml, &xml_len);
    if (xml == NULL)
      reply(c, 500, NULL, 0, NULL, 0);
    else
      reply(c, mras_reason_sip_status(r), NULL, 0, xml, xml_len);
    free(xml);
  }
  digest_answer_clear(&a);
}

void mras_sip_handle(void *app, const struct sip_source *src, const char *msg,
                     size_t len)
{
  struct ctx c = {.b = app, .src = src};
  struct owcp_error err = {{0}};
  char *again = NULL;
  size_t again_len = 0;
  unsigned char r[8];
  if (sip_parse_request(msg, len, &c.req, &err) != 0) {
    svc_log(SVC_LOG_DEBUG, "sip", "%s %s: dropped: %s",
            sip_source_transport(src), sip_source_ip(src), err.msg);
    return;
  }
  c.key = sip_transaction_key(c.req);
  if (c.key == NULL || strcmp(c.req->sip_method, "ACK") == 0)
    goto out;
  switch (txn_begin(c.b->mras, c.key, &again, &again_len)) {
  case TXN_DONE:
    (void)sip_source_send(src, again, again_len);
    free(again);
    goto out;
  case TXN_BUSY:
    goto out; /* being served: the final response will follow */
  default:
    break;
  }
  (void)owcp_random_bytes(r, sizeof r);
  owcp_hex_encode(r, sizeof r, c.tag);
  serve(&c);
out:
  free(c.key);
  osip_message_free(c.req);
}
