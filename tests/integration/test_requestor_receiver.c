/*
 * test_requestor_receiver.c — the embedded DR-Complete receiver against a
 * real dispatcher: a completion arrives signed and is handed to the
 * callback once; the same signed body replayed is acknowledged without a
 * second callback; a forged, unsigned or altered body is refused (401)
 * without a callback; a callback failure answers 500 and the dispatcher
 * retries until the callback succeeds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <curl/curl.h>

#include "itest.h"
#include "owcp/ca.h"
#include "owcp/keys.h"
#include "owcp/requestor.h"

#define MAX_SEEN 16

/* What the callback saw; written on the receiver's thread. */
struct seen {
  pthread_mutex_t lock;
  int calls;     /* every callback invocation */
  int fail_left; /* answer failure this many more times */
  int handled;   /* successful ones */
  char tx[MAX_SEEN][80];
  int status[MAX_SEEN];
  double at[MAX_SEEN];
  char *last_body;
  char *last_sig;
  unsigned char *receipt;
  size_t receipt_len;
  char response[16];
};

struct fx {
  struct itest_env env;
  char *token;
  char *mallory_token; /* another requestor of the same dispatcher */
  struct itest_client alice;
  struct owcp_requestor *rq;
  struct owcp_rq_receiver *rx;
  char *client_ca, *disp_cert;
  char completion[128];
  struct seen seen;
};

static int on_completion(const struct owcp_completion *c, void *arg)
{
  struct seen *s = arg;
  int rc = 0;

  pthread_mutex_lock(&s->lock);
  if (s->calls < MAX_SEEN) {
    snprintf(s->tx[s->calls], sizeof s->tx[0], "%s", c->transaction);
    s->status[s->calls] = c->status;
    s->at[s->calls] = itest_now();
  }
  s->calls++;
  if (s->fail_left > 0) {
    s->fail_left--;
    rc = -1;
  } else {
    s->handled++;
    free(s->last_body);
    s->last_body = strndup(c->body, c->body_len);
    free(s->last_sig);
    s->last_sig = strdup(c->signature);
    free(s->receipt);
    s->receipt = NULL;
    s->receipt_len = 0;
    if (c->receipt != NULL) {
      s->receipt = malloc(c->receipt_len);
      if (s->receipt != NULL) {
        memcpy(s->receipt, c->receipt, c->receipt_len);
        s->receipt_len = c->receipt_len;
      }
    }
    snprintf(s->response, sizeof s->response, "%s",
             c->response ? c->response : "");
  }
  pthread_mutex_unlock(&s->lock);
  return rc;
}

static int setup(void **state)
{
  struct fx *f = calloc(1, sizeof *f);
  struct owcp_requestor_config cfg = {0};
  struct owcp_receiver_config rc = {0};
  struct owcp_error err = {{0}};

  assert_non_null(f);
  *state = f;
  pthread_mutex_init(&f->seen.lock, NULL);
  itest_env_init(&f->env, "rqrecv");
  itest_account_add(&f->env, "alice@example.com");
  f->token = itest_requestor_add(&f->env, "access@example.com", 1000);
  f->mallory_token = itest_requestor_add(&f->env, "mallory@example.com", 1000);
  itest_start(&f->env, NULL);
  itest_client_init(&f->alice, "alice@example.com");
  itest_client_enrol(&f->env, &f->alice);

  cfg.account = "access@example.com";
  cfg.token = f->token;
  cfg.dispatcher = f->env.base;
  cfg.allow_insecure_http = true;
  if (owcp_requestor_new(&cfg, &f->rq, &err) != 0 ||
      owcp_requestor_ca(f->rq, &f->client_ca, &f->disp_cert, &err) != 0)
    fail_msg("%s", err.msg);

  rc.host = "127.0.0.1";
  rc.path = "/owcp/done";
  rc.dispatcher_cert_pem = f->disp_cert;
  rc.client_ca_pem = f->client_ca;
  rc.account = "access@example.com";
  rc.callback = on_completion;
  rc.callback_arg = &f->seen;
  rc.max_body = (size_t)64 * 1024;
  if (owcp_rq_receiver_start(&rc, &f->rx, &err) != 0)
    fail_msg("receiver: %s", err.msg);
  assert_true(owcp_rq_receiver_port(f->rx) > 0);
  snprintf(f->completion, sizeof f->completion, "http://127.0.0.1:%u/owcp/done",
           (unsigned)owcp_rq_receiver_port(f->rx));
  return 0;
}

static int teardown(void **state)
{
  struct fx *f = *state;

  owcp_rq_receiver_stop(f->rx);
  owcp_requestor_free(f->rq);
  if (f->env.pid > 0)
    itest_stop(&f->env);
  itest_client_free(&f->alice);
  free(f->token);
  free(f->mallory_token);
  free(f->client_ca);
  free(f->disp_cert);
  free(f->seen.last_body);
  free(f->seen.last_sig);
  free(f->seen.receipt);
  pthread_mutex_destroy(&f->seen.lock);
  itest_env_fini(&f->env);
  free(f);
  return 0;
}

static int handled(struct fx *f)
{
  pthread_mutex_lock(&f->seen.lock);
  int n = f->seen.handled;
  pthread_mutex_unlock(&f->seen.lock);
  return n;
}

static int calls(struct fx *f)
{
  pthread_mutex_lock(&f->seen.lock);
  int n = f->seen.calls;
  pthread_mutex_unlock(&f->seen.lock);
  return n;
}

/* Waits (bounded) until the callback has succeeded `n` times in all. */
static void await_handled(struct fx *f, int n, double seconds)
{
  double until = itest_now() + seconds;

  while (handled(f) < n) {
    if (itest_now() > until)
      fail_msg("no completion handled within %.0f s (calls %d)", seconds,
               calls(f));
    struct timespec ts = {0, 50L * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
}

static size_t sink(char *p, size_t size, size_t n, void *arg)
{
  (void)p;
  (void)arg;
  return size * n;
}

/* POSTs body to the receiver with the given OWCP-Signature (NULL: none)
 * and returns the HTTP status (0 on transport failure). */
static long post(struct fx *f, const char *body, size_t len, const char *sig)
{
  CURL *c = curl_easy_init();
  struct curl_slist *h = NULL;
  char line[1024];
  long status = 0;

  assert_non_null(c);
  h = curl_slist_append(h, "Content-Type: application/json");
  if (sig != NULL) {
    snprintf(line, sizeof line, "OWCP-Signature: %s", sig);
    h = curl_slist_append(h, line);
  }
  curl_easy_setopt(c, CURLOPT_URL, f->completion);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
  if (curl_easy_perform(c) == CURLE_OK)
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
  return status;
}

static char *confirm_with_completion(struct fx *f, const char *id,
                                     char **xml_out, size_t *len)
{
  struct owcp_confirm_opts o = {300, f->completion};
  struct owcp_error err = {{0}};
  struct owcp_rq_result r;
  char *xml = NULL, *tx;

  memset(&r, 0, sizeof r);
  if (owcp_request_build_simple(owcp_requestor_validator(f->rq),
                                "access@example.com", "alice@example.com",
                                "Access", id, "Let laptop #234 in?", NULL, NULL,
                                true, &xml, len, &err) != 0 ||
      owcp_rq_confirm(f->rq, xml, *len, &o, &r, &err) != OWCP_RQ_PENDING ||
      r.transaction == NULL) {
    *xml_out = xml;
    fail_msg("confirm: %s", err.msg);
    return NULL;
  }
  tx = strdup(r.transaction);
  owcp_rq_result_free(&r);
  *xml_out = xml;
  return tx;
}

static void test_completion_delivered_once(void **state)
{
  struct fx *f = *state;
  struct owcp_error err = {{0}};
  struct itest_http h;
  size_t len;
  char *xml;
  char *tx = confirm_with_completion(f, "urn:rx:accept", &xml, &len);
  int before = handled(f);

  itest_reply(&f->env, &f->alice, tx, "Accept", NULL, xml, &h);
  ITEST_EXPECT(h, 200);
  itest_http_free(&h);
  await_handled(f, before + 1, 30);

  pthread_mutex_lock(&f->seen.lock);
  int idx = f->seen.calls - 1;
  assert_string_equal(f->seen.tx[idx], tx);
  assert_int_equal(f->seen.status[idx], 200);
  assert_string_equal(f->seen.response, "Accept");
  /* The receipt in the completion covers exactly what was sent. */
  assert_int_equal(owcp_rq_verify_receipt(f->seen.receipt, f->seen.receipt_len,
                                          f->client_ca, xml, len, tx,
                                          f->alice.id, "Accept", NULL, &err),
                   0);
  pthread_mutex_unlock(&f->seen.lock);
  free(tx);
  free(xml);
}

static void test_cancel_outcome_delivered(void **state)
{
  struct fx *f = *state;
  struct owcp_error err = {{0}};
  struct owcp_rq_result r;
  size_t len;
  char *xml;
  char *tx = confirm_with_completion(f, "urn:rx:cancel", &xml, &len);
  int before = handled(f);

  assert_int_equal(owcp_rq_final(f->rq, tx, NULL, 0, &r, &err),
                   OWCP_RQ_TIMEOUT);
  owcp_rq_result_free(&r);
  await_handled(f, before + 1, 30);
  pthread_mutex_lock(&f->seen.lock);
  assert_string_equal(f->seen.tx[f->seen.calls - 1], tx);
  assert_int_equal(f->seen.status[f->seen.calls - 1], 408);
  assert_null(f->seen.receipt);
  pthread_mutex_unlock(&f->seen.lock);
  free(tx);
  free(xml);
}

/* The base64 DER ECDSA signature of body by a key that is not the
 * dispatcher's (a fresh client key). */
static char *forge_signature(const char *body, size_t len)
{
  struct owcp_error err = {{0}};
  struct itest_client mallory;
  char *sig;

  itest_client_init(&mallory, "mallory@example.com");
  unsigned char *der = NULL;
  size_t der_len = 0;
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  assert_non_null(md);
  assert_int_equal(
      EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, mallory.key), 1);
  assert_int_equal(
      EVP_DigestSign(md, NULL, &der_len, (const unsigned char *)body, len), 1);
  der = malloc(der_len);
  assert_non_null(der);
  assert_int_equal(
      EVP_DigestSign(md, der, &der_len, (const unsigned char *)body, len), 1);
  EVP_MD_CTX_free(md);
  sig = owcp_base64_encode(der, der_len);
  assert_non_null(sig);
  free(der);
  itest_client_free(&mallory);
  (void)err;
  return sig;
}

static void test_replay_and_forgeries(void **state)
{
  struct fx *f = *state;
  struct owcp_error err = {{0}};
  struct itest_http h;
  size_t len;
  char *xml;
  char *tx = confirm_with_completion(f, "urn:rx:replay", &xml, &len);
  char header[2048], fingerprint[OWCP_FINGERPRINT_LEN];
  X509 *cert;

  /* Let the dispatcher deliver; keep its exact body and signature, as a
   * network attacker recording the delivery would. */
  int before = handled(f);
  itest_reply(&f->env, &f->alice, tx, "Accept", NULL, xml, &h);
  ITEST_EXPECT(h, 200);
  itest_http_free(&h);
  await_handled(f, before + 1, 30);
  pthread_mutex_lock(&f->seen.lock);
  char *body = strdup(f->seen.last_body);
  char *genuine = strdup(f->seen.last_sig);
  pthread_mutex_unlock(&f->seen.lock);
  assert_non_null(body);
  assert_non_null(genuine);
  size_t blen = strlen(body);
  assert_int_equal(
      owcp_rq_verify_completion(genuine, body, blen, f->disp_cert, &err), 0);

  /* The replayed delivery is acknowledged (200) but not handed over
   * again. */
  int calls_before = calls(f);
  assert_int_equal(post(f, body, blen, genuine), 200);
  assert_int_equal(post(f, body, blen, genuine), 200);
  assert_int_equal(calls(f), calls_before);
  assert_int_equal(handled(f), before + 1);

  cert = owcp_cert_from_pem(f->disp_cert, strlen(f->disp_cert), &err);
  assert_non_null(cert);
  assert_int_equal(owcp_cert_fingerprint(cert, fingerprint, &err), 0);
  X509_free(cert);

  /* Forged: the right keyid, a signature by another key. */
  char *forged = forge_signature(body, blen);
  snprintf(header, sizeof header, "keyid=%s,sig=%s", fingerprint, forged);
  assert_int_equal(post(f, body, blen, header), 401);
  /* No signature at all, a malformed one, an altered body. */
  assert_int_equal(post(f, body, blen, NULL), 401);
  assert_int_equal(post(f, body, blen, "keyid=00,sig=AAAA"), 401);
  /* The genuine signature over an altered body (a flipped Response). */
  char *flip = strstr(body, "\"Accept\"");
  assert_non_null(flip);
  static const char reject[] = {'"', 'R', 'e', 'j', 'e', 'c', 't', '"'};
  memcpy(flip, reject, sizeof reject);
  assert_int_equal(post(f, body, blen, genuine), 401);
  assert_int_equal(
      owcp_rq_verify_completion(genuine, body, blen, f->disp_cert, &err), -1);
  assert_int_equal(calls(f), calls_before);
  free(genuine);
  free(forged);
  free(body);
  free(tx);
  free(xml);
}

/* Mallory, another requestor of the same dispatcher, sends a request
 * (identifier id) to alice whose Completion is our receiver: *mallory is
 * her context and *mxml the bytes sent (both the caller's). Returns the
 * transaction (the caller frees it). */
static char *mallory_confirm(struct fx *f, const char *id, const char *summary,
                             struct owcp_requestor **mallory, char **mxml,
                             size_t *mlen)
{
  struct owcp_requestor_config cfg = {0};
  struct owcp_confirm_opts o = {300, f->completion};
  struct owcp_error err = {{0}};
  struct owcp_rq_result r;
  char *tx;

  cfg.account = "mallory@example.com";
  cfg.token = f->mallory_token;
  cfg.dispatcher = f->env.base;
  cfg.allow_insecure_http = true;
  *mallory = NULL;
  *mxml = NULL;
  assert_int_equal(owcp_requestor_new(&cfg, mallory, &err), 0);
  assert_int_equal(owcp_request_build_simple(
                       owcp_requestor_validator(*mallory),
                       "mallory@example.com", "alice@example.com", "Access", id,
                       summary, NULL, NULL, true, mxml, mlen, &err),
                   0);
  assert_int_equal(owcp_rq_confirm(*mallory, *mxml, *mlen, &o, &r, &err),
                   OWCP_RQ_PENDING);
  tx = strdup(r.transaction);
  assert_non_null(tx);
  owcp_rq_result_free(&r);
  return tx;
}

/* Mallory, another requestor of the same dispatcher, names our receiver
 * as her Completion URI and uses the identifier of one of our pending
 * requests. The dispatcher signs and delivers her answered transaction to
 * us: it must never reach our callback (403), while our own still does. */
static void test_other_requestors_completion_refused(void **state)
{
  struct fx *f = *state;
  struct owcp_requestor *mallory;
  struct itest_http h;
  size_t len, mlen;
  char *xml, *mxml;
  char *tx = confirm_with_completion(f, "urn:rx:victim", &xml, &len);
  int calls_before = calls(f);
  char *mtx = mallory_confirm(f, "urn:rx:victim", "Like this post?", &mallory,
                              &mxml, &mlen);

  itest_reply(&f->env, &f->alice, mtx, "Accept", NULL, mxml, &h);
  ITEST_EXPECT(h, 200);
  itest_http_free(&h);

  /* The dispatcher delivers at once and retries from 1 s on: give it time
   * for several attempts. */
  struct timespec ts = {4, 0};
  nanosleep(&ts, NULL);
  assert_int_equal(calls(f), calls_before);

  /* Our own transaction, answered, still arrives. */
  int before = handled(f);
  itest_reply(&f->env, &f->alice, tx, "Accept", NULL, xml, &h);
  ITEST_EXPECT(h, 200);
  itest_http_free(&h);
  await_handled(f, before + 1, 30);
  pthread_mutex_lock(&f->seen.lock);
  assert_string_equal(f->seen.tx[f->seen.calls - 1], tx);
  pthread_mutex_unlock(&f->seen.lock);
  owcp_requestor_free(mallory);
  free(mxml);
  free(mtx);
  free(tx);
  free(xml);
}

/* Mallory cancels a transaction of hers whose Completion is our receiver:
 * the 408 carries no receipt, so only the signed "Requestor" tells it is
 * not ours. It never reaches our callback, and the dispatcher records our
 * receiver's 403. */
static void test_other_requestors_cancel_refused(void **state)
{
  struct fx *f = *state;
  struct owcp_error err = {{0}};
  struct owcp_requestor *mallory;
  struct owcp_rq_result r;
  size_t mlen;
  char *mxml;
  int calls_before = calls(f);
  char *tx = mallory_confirm(f, "urn:rx:mallory-cancel", "Cancel me", &mallory,
                             &mxml, &mlen);

  assert_int_equal(owcp_rq_final(mallory, tx, mxml, mlen, &r, &err),
                   OWCP_RQ_TIMEOUT);
  owcp_rq_result_free(&r);

  double deadline = itest_now() + 20;
  long long refused = 0;
  while (refused == 0 && itest_now() < deadline) {
    refused = itest_sql_count1(&f->env,
                               "SELECT count(*) FROM outbox WHERE "
                               "transaction_id = $1 AND attempts >= 1 AND "
                               "last_error LIKE '%403%'",
                               tx);
    if (refused == 0) {
      struct timespec ts = {0, 100L * 1000 * 1000};
      nanosleep(&ts, NULL);
    }
  }
  if (refused != 1)
    fail_msg("no refused (403) delivery of mallory's cancel within 20 s");
  assert_int_equal(calls(f), calls_before);
  owcp_requestor_free(mallory);
  free(mxml);
  free(tx);
}

/* The callback fails twice: the receiver answers 500 each time, the
 * dispatcher retries with backoff, and the third attempt is handled. */
static void test_callback_failure_retried(void **state)
{
  struct fx *f = *state;
  struct owcp_error err = {{0}};
  struct owcp_rq_result r;
  size_t len;
  char *xml;
  char *tx = confirm_with_completion(f, "urn:rx:retry", &xml, &len);
  int handled_before = handled(f), calls_before = calls(f);

  pthread_mutex_lock(&f->seen.lock);
  f->seen.fail_left = 2;
  pthread_mutex_unlock(&f->seen.lock);
  assert_int_equal(owcp_rq_final(f->rq, tx, NULL, 0, &r, &err),
                   OWCP_RQ_TIMEOUT);
  owcp_rq_result_free(&r);
  await_handled(f, handled_before + 1, 60);
  pthread_mutex_lock(&f->seen.lock);
  int n = f->seen.calls - calls_before;
  assert_int_equal(n, 3); /* two refusals (500), then success */
  for (int i = calls_before; i < f->seen.calls; i++)
    assert_string_equal(f->seen.tx[i], tx);
  /* Backoff: the retries are spread out, not hammered. */
  assert_true(f->seen.at[f->seen.calls - 1] - f->seen.at[calls_before] >= 1.0);
  pthread_mutex_unlock(&f->seen.lock);

  /* Nothing more arrives once acknowledged. */
  struct timespec ts = {2, 0};
  nanosleep(&ts, NULL);
  assert_int_equal(calls(f), calls_before + 3);
  free(tx);
  free(xml);
}

/* Sends raw request bytes to the receiver and reads the first answer bytes
 * into reply (NUL-terminated), waiting at most 5 s. */
static int raw_exchange(struct fx *f, const char *request, char *reply,
                        size_t size)
{
  struct sockaddr_in sa = {0};
  struct timeval tv = {5, 0};
  ssize_t n;
  int fd = socket(AF_INET, SOCK_STREAM, 0);

  if (fd < 0)
    return -1;
  sa.sin_family = AF_INET;
  sa.sin_port = htons(owcp_rq_receiver_port(f->rx));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0 ||
      connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
      write(fd, request, strlen(request)) != (ssize_t)strlen(request)) {
    close(fd);
    return -1;
  }
  n = read(fd, reply, size - 1);
  close(fd);
  if (n <= 0)
    return -1;
  reply[n] = '\0';
  return 0;
}

static void test_wrong_method_path_and_type(void **state)
{
  struct fx *f = *state;
  CURL *c = curl_easy_init();
  char url[160];
  long status = 0;

  assert_non_null(c);
  curl_easy_setopt(c, CURLOPT_URL, f->completion);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
  assert_int_equal(curl_easy_perform(c), CURLE_OK);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  assert_int_equal(status, 405);
  snprintf(url, sizeof url, "http://127.0.0.1:%u/elsewhere",
           (unsigned)owcp_rq_receiver_port(f->rx));
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, "{}");
  assert_int_equal(curl_easy_perform(c), CURLE_OK);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  assert_int_equal(status, 404);
  curl_easy_cleanup(c);

  /* Over max_body (64 KiB): 413 before any signature work. */
  size_t big = (size_t)70 * 1024;
  char *body = malloc(big);
  assert_non_null(body);
  memset(body, 'x', big);
  assert_int_equal(post(f, body, big, "keyid=00,sig=AAAA"), 413);
  free(body);

  /* A declared length over the limit is refused at once, before the body
   * is read or buffered: the answer comes though no body byte is sent. */
  char reply[256];
  int calls_before = calls(f);
  assert_int_equal(
      raw_exchange(f,
                   "POST /owcp/done HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   "Content-Type: application/json\r\n"
                   "Content-Length: 1000000000000\r\n\r\n",
                   reply, sizeof reply),
      0);
  assert_non_null(strstr(reply, " 413 "));
  assert_int_equal(calls(f), calls_before);
}

/* With a certificate and key the receiver speaks only TLS: an https POST
 * that trusts exactly that certificate reaches it (and, unsigned, is
 * refused with 401); plain http gets no HTTP answer. */
static void test_tls_receiver(void **state)
{
  struct fx *f = *state;
  struct owcp_receiver_config rc = {0};
  struct owcp_error err = {{0}};
  struct owcp_rq_receiver *rx = NULL;
  char keypath[PATH_MAX], url[128];
  unsigned char *key_pem = NULL;
  size_t key_len = 0;
  EVP_PKEY *key = owcp_key_new(&err);
  X509 *cert;
  char *cert_pem;
  long status = 0;

  assert_non_null(key);
  cert = owcp_dispatcher_cert_new(key, "receiver.test", 1, &err);
  assert_non_null(cert);
  cert_pem = owcp_cert_to_pem(cert, &err);
  assert_non_null(cert_pem);
  snprintf(keypath, sizeof keypath, "%s/rx-key.pem", f->env.tmpdir);
  assert_int_equal(owcp_key_save_pem(keypath, key, &err), 0);
  assert_int_equal(
      owcp_file_read(keypath, (size_t)64 * 1024, &key_pem, &key_len, &err), 0);
  rc.host = "127.0.0.1";
  rc.tls_cert_pem = cert_pem;
  rc.tls_key_pem = (const char *)key_pem;
  rc.dispatcher_cert_pem = f->disp_cert;
  rc.client_ca_pem = f->client_ca;
  rc.account = "access@example.com";
  rc.callback = on_completion;
  rc.callback_arg = &f->seen;
  if (owcp_rq_receiver_start(&rc, &rx, &err) != 0)
    fail_msg("TLS receiver: %s", err.msg);

  CURL *c = curl_easy_init();
  struct curl_blob ca = {cert_pem, strlen(cert_pem), CURL_BLOB_COPY};
  assert_non_null(c);
  snprintf(url, sizeof url, "https://127.0.0.1:%u/",
           (unsigned)owcp_rq_receiver_port(rx));
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &ca);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L); /* CN is not the IP */
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, "{}");
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
  assert_int_equal(curl_easy_perform(c), CURLE_OK);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  assert_int_equal(status, 401);
  snprintf(url, sizeof url, "http://127.0.0.1:%u/",
           (unsigned)owcp_rq_receiver_port(rx));
  curl_easy_setopt(c, CURLOPT_URL, url);
  status = 0;
  curl_easy_perform(c);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  assert_int_equal(status, 0);
  curl_easy_cleanup(c);

  /* Half a TLS configuration is refused. */
  owcp_rq_receiver_stop(rx);
  rx = NULL;
  rc.tls_key_pem = NULL;
  assert_int_equal(owcp_rq_receiver_start(&rc, &rx, &err), -1);
  assert_null(rx);
  assert_non_null(strstr(err.msg, "both a certificate and a key"));

  free(key_pem);
  free(cert_pem);
  X509_free(cert);
  EVP_PKEY_free(key);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_completion_delivered_once),
      cmocka_unit_test(test_cancel_outcome_delivered),
      cmocka_unit_test(test_replay_and_forgeries),
      cmocka_unit_test(test_other_requestors_completion_refused),
      cmocka_unit_test(test_other_requestors_cancel_refused),
      cmocka_unit_test(test_callback_failure_retried),
      cmocka_unit_test(test_wrong_method_path_and_type),
      cmocka_unit_test(test_tls_receiver),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
