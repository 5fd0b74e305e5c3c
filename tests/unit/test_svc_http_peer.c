/*
 * test_svc_http_peer.c — the service layer's TLS client certificate
 * (http.h: svc_http_config.tls_client_ca_file, svc_http_peer_cert) over
 * real loopback sockets with libcurl as the client: requested, not
 * required (no certificate still connects); handed over unverified (a
 * stranger's certificate arrives too, the caller judges); not asked for
 * without the CA file, nor over plain HTTP; still asked for after a
 * reload; a CA file without TLS refused at start.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "owcp/service/http.h"
#include "testutil.h"

struct fx {
  char dir[256];
  char path[8][PATH_MAX]; /* see the names below */
};

enum { SERVER, SERVER_KEY, CA, CA_KEY, CLIENT, STRANGER, USER_KEY, CSR };

static const char *const names[] = {"server.pem", "server.key", "ca.pem",
                                    "ca.key",     "client.pem", "stranger.pem",
                                    "user.key",   "user.csr"};

/* Answers the subject of the client certificate, or "none". */
static enum MHD_Result serve_peer(struct svc_request *req)
{
  char text[256] = "none";
  X509 *x = svc_http_peer_cert(req);
  if (x != NULL)
    X509_NAME_oneline(X509_get_subject_name(x), text, sizeof text);
  X509_free(x);
  size_t n = strlen(text);
  struct MHD_Response *r =
      MHD_create_response_from_buffer(n, text, MHD_RESPMEM_MUST_COPY);
  enum MHD_Result ret = svc_http_queue(req, 200, r, n);
  MHD_destroy_response(r);
  return ret;
}

static const struct svc_route routes[] = {
    {.method = "GET", .path = "/peer", .handle = serve_peer}};

static int setup(void **state)
{
  struct fx *f = calloc(1, sizeof *f);
  assert_non_null(f);
  assert_int_equal(testutil_tmpdir_make(f->dir, sizeof f->dir, "svcpeer"), 0);
  for (size_t i = 0; i < 8; i++)
    snprintf(f->path[i], sizeof f->path[i], "%s/%s", f->dir, names[i]);
  assert_int_equal(testutil_openssl(NULL, "req", "-x509", "-newkey", "ec",
                                    "-pkeyopt", "ec_paramgen_curve:P-256",
                                    "-nodes", "-keyout", f->path[SERVER_KEY],
                                    "-subj", "/CN=127.0.0.1", "-addext",
                                    "subjectAltName=IP:127.0.0.1", "-days", "2",
                                    "-out", f->path[SERVER]),
                   0);
  assert_int_equal(testutil_openssl(NULL, "req", "-x509", "-newkey", "ec",
                                    "-pkeyopt", "ec_paramgen_curve:P-256",
                                    "-nodes", "-keyout", f->path[CA_KEY],
                                    "-subj", "/CN=Client CA", "-days", "2",
                                    "-out", f->path[CA]),
                   0);
  assert_int_equal(testutil_openssl(NULL, "req", "-newkey", "ec", "-pkeyopt",
                                    "ec_paramgen_curve:P-256", "-nodes",
                                    "-keyout", f->path[USER_KEY], "-subj",
                                    "/CN=peer client", "-out", f->path[CSR]),
                   0);
  assert_int_equal(testutil_openssl(NULL, "x509", "-req", "-in", f->path[CSR],
                                    "-CA", f->path[CA], "-CAkey",
                                    f->path[CA_KEY], "-set_serial", "7",
                                    "-days", "2", "-out", f->path[CLIENT]),
                   0);
  /* Self-signed with the same key: not of the CA the server names. */
  assert_int_equal(testutil_openssl(NULL, "req", "-x509", "-key",
                                    f->path[USER_KEY], "-subj", "/CN=stranger",
                                    "-days", "2", "-out", f->path[STRANGER]),
                   0);
  *state = f;
  return 0;
}

static int teardown(void **state)
{
  struct fx *f = *state;
  testutil_tmpdir_remove(f->dir);
  free(f);
  return 0;
}

static size_t sink(char *data, size_t size, size_t n, void *arg)
{
  char *out = arg;
  size_t have = strlen(out), add = size * n;
  if (have + add >= 256)
    return 0;
  memcpy(out + have, data, add);
  out[have + add] = '\0';
  return add;
}

/* GET /peer presenting cert (NULL: none); the body into out, or "" when
 * the request failed. */
static void get_peer(const struct fx *f, const struct svc_http *h,
                     const char *cert, char out[256])
{
  char url[128];
  snprintf(url, sizeof url, "%s://127.0.0.1:%u/peer", svc_http_scheme(h),
           (unsigned)svc_http_port(h));
  out[0] = '\0';
  CURL *c = curl_easy_init();
  assert_non_null(c);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_CAINFO, f->path[SERVER]);
  if (cert != NULL) {
    curl_easy_setopt(c, CURLOPT_SSLCERT, cert);
    curl_easy_setopt(c, CURLOPT_SSLKEY, f->path[USER_KEY]);
  }
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
  CURLcode rc = curl_easy_perform(c);
  curl_easy_cleanup(c);
  if (rc != CURLE_OK)
    fail_msg("GET %s: %s", url, curl_easy_strerror(rc));
}

static struct svc_http *start(const struct fx *f, bool tls, bool client_ca)
{
  struct svc_http_config c;
  struct svc_http *h = NULL;
  struct owcp_error err = {{0}};
  svc_http_config_defaults(&c);
  c.listen_host = "127.0.0.1";
  c.threads = 2;
  c.routes = routes;
  c.route_count = 1;
  if (tls) {
    c.tls_cert_file = f->path[SERVER];
    c.tls_key_file = f->path[SERVER_KEY];
  }
  if (client_ca)
    c.tls_client_ca_file = f->path[CA];
  if (svc_http_start(&c, &h, &err) != 0)
    fail_msg("svc_http_start: %s", err.msg);
  return h;
}

static void test_requested_not_required(void **state)
{
  const struct fx *f = *state;
  char body[256];
  struct svc_http *h = start(f, true, true);
  get_peer(f, h, NULL, body);
  assert_string_equal(body, "none");
  get_peer(f, h, f->path[CLIENT], body);
  assert_string_equal(body, "/CN=peer client");
  /* Unverified by the layer: the caller's job. */
  get_peer(f, h, f->path[STRANGER], body);
  assert_string_equal(body, "/CN=stranger");
  /* A reload re-reads the CA file and keeps asking. */
  struct owcp_error err = {{0}};
  assert_int_equal(svc_http_reload(h, &err), 0);
  get_peer(f, h, f->path[CLIENT], body);
  assert_string_equal(body, "/CN=peer client");
  svc_http_stop(h, 0, NULL, NULL);
}

static void test_not_asked(void **state)
{
  const struct fx *f = *state;
  char body[256];
  struct svc_http *h = start(f, true, false);
  get_peer(f, h, f->path[CLIENT], body);
  assert_string_equal(body, "none");
  svc_http_stop(h, 0, NULL, NULL);
  h = start(f, false, false);
  get_peer(f, h, NULL, body);
  assert_string_equal(body, "none");
  svc_http_stop(h, 0, NULL, NULL);
}

static void test_ca_without_tls(void **state)
{
  const struct fx *f = *state;
  struct svc_http_config c;
  struct svc_http *h = NULL;
  struct owcp_error err = {{0}};
  svc_http_config_defaults(&c);
  c.listen_host = "127.0.0.1";
  c.routes = routes;
  c.route_count = 1;
  c.tls_client_ca_file = f->path[CA];
  assert_int_equal(svc_http_start(&c, &h, &err), -1);
  assert_null(h);
  testutil_assert_err_contains(&err, "client certificate CA needs TLS");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_requested_not_required),
      cmocka_unit_test(test_not_asked),
      cmocka_unit_test(test_ca_without_tls),
  };
  curl_global_init(CURL_GLOBAL_DEFAULT);
  int rc = cmocka_run_group_tests(tests, setup, teardown);
  curl_global_cleanup();
  return rc;
}
