/*
 * bridge_itest.c — see bridge_itest.h.
 */
#include "bridge_itest.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <libxml/parser.h>
#include <libxml/xmlwriter.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>
#include <openssl/evp.h>

#include "bridge_fixture.h"
#include "owcp/util.h"
#include "radius.h"
#include "radius_itest.h"
#include "testutil.h"

#ifndef OWCP_BRIDGE_BIN
#error "OWCP_BRIDGE_BIN must name the built owcp-bridge"
#endif
#ifndef OWCP_SOURCE_DIR
#error "OWCP_SOURCE_DIR must name the source tree (for check_cmc.py)"
#endif

#define OTPCEP_NS "http://schemas.microsoft.com/otpcep/1.0/protocol"
#define READY_TIMEOUT_S 30.0
#define STOP_TIMEOUT_S 20.0
#define HTTP_TIMEOUT_S 60L

static void sleep_ms(long ms)
{
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000L * 1000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}

/* Writes text to dir/name with mode 0600. */
static void write_secret(const struct bridge_itest *b, const char *name,
                         const char *text)
{
  char path[PATH_MAX];
  struct owcp_error err = {{0}};

  fx_path(path, sizeof path, b->dir, name);
  if (owcp_file_write_atomic(path, text, strlen(text), 0600, &err) != 0)
    itest_fail("%s", err.msg);
}

/* A TCP port on 127.0.0.1 that was free a moment ago: the contract's
 * listen key names a port, and the bridge has no ready file to report one
 * it picked, so readiness is GET /healthz. */
static unsigned short free_tcp_port(void)
{
  struct sockaddr_in addr = {.sin_family = AF_INET};
  socklen_t len = sizeof addr;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

  assert_true(fd >= 0);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof addr), 0);
  assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
  (void)close(fd);
  return ntohs(addr.sin_port);
}

void bridge_itest_init(struct bridge_itest *b, struct itest_env *env,
                       const char *name, const char *token)
{
  char key[PATH_MAX];

  memset(b, 0, sizeof *b);
  b->env = env;
  assert_int_equal(testutil_tmpdir_make(b->dir, sizeof b->dir, name), 0);
  fx_path(b->conf, sizeof b->conf, b->dir, "bridge.conf");
  fx_path(b->log, sizeof b->log, b->dir, "bridge.log");
  fx_path(b->ra_ca, sizeof b->ra_ca, b->dir, "ra-ca.pem");
  fx_path(b->ra_cert, sizeof b->ra_cert, b->dir, "ra.pem");
  fx_make_keys(b->dir);
  /* Private keys must not be readable by others (contract §2), whatever
   * mode the openssl command chose. */
  fx_path(key, sizeof key, b->dir, "ra.key");
  assert_int_equal(chmod(key, 0600), 0);
  write_secret(b, "bridge.token", token);
  write_secret(b, "radius.secret", RADIUS_ITEST_SECRET);
  snprintf(b->dbname, sizeof b->dbname, "bridge_%s_%ld", name, (long)getpid());
  itest_db_create(b->dbname, b->conninfo, sizeof b->conninfo);
  b->port = free_tcp_port();
  snprintf(b->root, sizeof b->root, "http://127.0.0.1:%u", b->port);

  struct bridge_itest_opts *o = &b->opts;
  o->confirm = "required";
  o->owcp_timeout = 30;
  snprintf(o->dispatcher, sizeof o->dispatcher, "%s", env->base);
  o->radius_timeout_ms = 300;
  o->radius_retries = 1;
  o->templates[0] = FX_TEMPLATE_OID;
  o->issuing_ca[0] = BRIDGE_ITEST_CA1;
  o->issuing_ca[1] = BRIDGE_ITEST_CA2;
  o->max_body = 65536;
}

void bridge_itest_fini(struct bridge_itest *b)
{
  if (b->pid > 0) {
    (void)kill(b->pid, SIGKILL);
    (void)waitpid(b->pid, NULL, 0);
    b->pid = 0;
  }
  itest_db_drop(b->dbname);
  if (b->dir[0] != '\0' && testutil_tmpdir_remove(b->dir) != 0)
    print_error("could not remove %s\n", b->dir);
}

/* Appends printf output to a growing configuration text. */
static void conf_add(char *conf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void conf_add(char *conf, size_t size, const char *fmt, ...)
{
  size_t used = strlen(conf);
  va_list ap;

  va_start(ap, fmt);
  int n = vsnprintf(conf + used, size - used, fmt, ap);
  va_end(ap);
  assert_true(n >= 0 && (size_t)n < size - used);
}

/* The certificate of opts.tls, made once per bridge directory. */
static void make_tls_cert(struct bridge_itest *b)
{
  char key[PATH_MAX];
  struct stat st;

  fx_path(b->tls_ca, sizeof b->tls_ca, b->dir, "bridge.pem");
  fx_path(key, sizeof key, b->dir, "bridge.key");
  if (stat(b->tls_ca, &st) == 0)
    return;
  assert_int_equal(testutil_openssl(NULL, "req", "-x509", "-newkey", "ec",
                                    "-pkeyopt", "ec_paramgen_curve:P-256",
                                    "-nodes", "-keyout", key, "-out", b->tls_ca,
                                    "-days", "2", "-subj", "/CN=127.0.0.1",
                                    "-addext", "subjectAltName=IP:127.0.0.1"),
                   0);
  assert_int_equal(chmod(key, 0600), 0);
}

void bridge_itest_configure(struct bridge_itest *b)
{
  const struct bridge_itest_opts *o = &b->opts;
  char conf[8192] = "";
  bool https = o->tls == BRIDGE_TLS_HTTPS;

  if (o->tls != BRIDGE_TLS_NONE)
    make_tls_cert(b);
  snprintf(b->root, sizeof b->root, "%s://127.0.0.1:%u",
           https ? "https" : "http", b->port);

  /* Relative paths: the contract resolves them against the file's
   * directory, and the file lives beside them. */
  conf_add(conf, sizeof conf,
           "# written by bridge_itest.c\n"
           "[bridge]\n"
           "listen = 127.0.0.1:%u\n"
           "insecure_http = %s\n"
           "public_url = %s\n"
           "db = %s\n"
           "max_body = %ld\n"
           "log_level = debug\n",
           b->port, https ? "no" : "yes", b->root, b->conninfo, o->max_body);
  if (o->tls != BRIDGE_TLS_NONE)
    conf_add(conf, sizeof conf,
             "tls_cert = bridge.pem\ntls_key = bridge.key\n");
  conf_add(conf, sizeof conf, "\n");
  conf_add(conf, sizeof conf,
           "[owcp]\n"
           "requestor = " BRIDGE_ITEST_REQUESTOR "\n"
           "token_file = bridge.token\n"
           "dispatcher = %s\n"
           "insecure_http = yes\n"
           "timeout = %ld\n\n",
           o->dispatcher, o->owcp_timeout);
  conf_add(conf, sizeof conf,
           "[identity]\n"
           "map = EXAMPLE\\* -> *@example.com\n"
           "upn_suffix = EXAMPLE = example.com\n"
           "; a domain with a UPN suffix and no mapping: its users are "
           "unmapped\n"
           "upn_suffix = OTHER = other.example\n");
  if (o->identity_extra != NULL)
    conf_add(conf, sizeof conf, "%s", o->identity_extra);
  conf_add(conf, sizeof conf,
           "\n[otpce]\n"
           "enabled = yes\n"
           "path = " BRIDGE_ITEST_PATH "\n");
  for (size_t i = 0; o->templates[i] != NULL; i++)
    conf_add(conf, sizeof conf, "template = %s\n", o->templates[i]);
  conf_add(conf, sizeof conf, "ra_cert = ra.pem\nra_key = ra.key\n");
  for (size_t i = 0; o->issuing_ca[i] != NULL; i++)
    conf_add(conf, sizeof conf, "issuing_ca = %s\n", o->issuing_ca[i]);
  conf_add(conf, sizeof conf, "confirm = %s\n\n[radius]\n", o->confirm);
  for (size_t i = 0; i < o->radius_count; i++)
    conf_add(conf, sizeof conf, "server = 127.0.0.1:%u\n", o->radius[i]);
  conf_add(conf, sizeof conf,
           "secret_file = radius.secret\n"
           "timeout_ms = %d\n"
           "retries = %d\n"
           "nas_identifier = owcp-bridge\n"
           "require_message_authenticator = yes\n",
           o->radius_timeout_ms, o->radius_retries);
  if (o->extra != NULL)
    conf_add(conf, sizeof conf, "\n%s", o->extra);
  testutil_write_file(b->conf, conf, strlen(conf));
}

/* fork/exec of owcp-bridge --config FILE [command], stdout and stderr
 * appended to the log. */
static pid_t spawn(const struct bridge_itest *b, const char *command)
{
  const char *argv[] = {OWCP_BRIDGE_BIN, "--config", b->conf, command, NULL};
  pid_t pid = fork();

  assert_true(pid >= 0);
  if (pid == 0) {
    int fd = open(b->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0 || dup2(fd, STDERR_FILENO) < 0 || dup2(fd, STDOUT_FILENO) < 0)
      _exit(126);
    execv(argv[0], (char *const *)argv);
    _exit(127);
  }
  return pid;
}

static int exit_status(int ws)
{
  return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
}

int bridge_itest_run(struct bridge_itest *b, const char *command)
{
  int ws = 0;
  pid_t pid = spawn(b, command);

  while (waitpid(pid, &ws, 0) < 0) {
    if (errno != EINTR)
      itest_fail("cannot wait for owcp-bridge %s: %s", command,
                 strerror(errno));
  }
  return exit_status(ws);
}

void bridge_itest_log_tail(const struct bridge_itest *b)
{
  unsigned char *data = NULL;
  size_t len = 0;

  if (owcp_file_read(b->log, (size_t)16 << 20, &data, &len, NULL) != 0)
    return;
  size_t from = len > 4000 ? len - 4000 : 0;
  print_error("--- end of %s\n%s\n---\n", b->log, (char *)data + from);
  free(data);
}

bool bridge_itest_has(const void *hay, size_t hay_len, const void *needle,
                      size_t needle_len)
{
  const unsigned char *h = hay;

  for (size_t i = 0; needle_len <= hay_len && i <= hay_len - needle_len; i++)
    if (memcmp(h + i, needle, needle_len) == 0)
      return true;
  return false;
}

size_t bridge_itest_log_count(const struct bridge_itest *b, const char *needle)
{
  unsigned char *data = NULL;
  size_t len = 0, n = 0, nl = strlen(needle);

  if (nl == 0 ||
      owcp_file_read(b->log, (size_t)64 << 20, &data, &len, NULL) != 0)
    return 0;
  for (size_t i = 0; i + nl <= len; i++)
    if (memcmp(data + i, needle, nl) == 0) {
      n++;
      i += nl - 1;
    }
  free(data);
  return n;
}

bool bridge_itest_log_contains(const struct bridge_itest *b, const char *needle)
{
  return bridge_itest_log_count(b, needle) > 0;
}

void bridge_itest_start(struct bridge_itest *b)
{
  assert_int_equal(b->pid, 0);
  bridge_itest_configure(b);
  int status = bridge_itest_run(b, "migrate");
  if (status != 0) {
    bridge_itest_log_tail(b);
    itest_fail("owcp-bridge migrate exited %d", status);
  }
  b->pid = spawn(b, NULL); /* serve is the default command (contract §1) */
  double deadline = itest_now() + READY_TIMEOUT_S;
  for (;;) {
    struct bridge_http h;
    int ws;
    if (waitpid(b->pid, &ws, WNOHANG) == b->pid) {
      b->pid = 0;
      bridge_itest_log_tail(b);
      itest_fail("owcp-bridge exited during start-up (status %d)",
                 exit_status(ws));
    }
    bridge_itest_get(b, "/healthz", &h);
    long got = h.status;
    bridge_http_free(&h);
    if (got == 200)
      return;
    if (itest_now() > deadline) {
      bridge_itest_log_tail(b);
      itest_fail("owcp-bridge: GET /healthz not 200 within %.0f s (last %ld)",
                 READY_TIMEOUT_S, got);
    }
    sleep_ms(50);
  }
}

void bridge_itest_stop(struct bridge_itest *b)
{
  int ws = 0;
  pid_t got;

  assert_true(b->pid > 0);
  assert_int_equal(kill(b->pid, SIGTERM), 0);
  double deadline = itest_now() + STOP_TIMEOUT_S;
  while ((got = waitpid(b->pid, &ws, WNOHANG)) == 0) {
    if (itest_now() > deadline) {
      (void)kill(b->pid, SIGKILL);
      (void)waitpid(b->pid, NULL, 0);
      b->pid = 0;
      bridge_itest_log_tail(b);
      itest_fail("owcp-bridge did not stop within %.0f s of SIGTERM",
                 STOP_TIMEOUT_S);
    }
    sleep_ms(20);
  }
  b->pid = 0;
  if (got < 0)
    itest_fail("cannot wait for owcp-bridge: %s", strerror(errno));
  if (exit_status(ws) != 0) {
    bridge_itest_log_tail(b);
    itest_fail("owcp-bridge exited %d after SIGTERM (contract §1: 0)",
               exit_status(ws));
  }
}

void bridge_itest_restart(struct bridge_itest *b)
{
  if (b->pid > 0)
    bridge_itest_stop(b);
  bridge_itest_start(b);
}

void bridge_itest_reset_db(struct bridge_itest *b)
{
  assert_int_equal(b->pid, 0);
  itest_db_drop(b->dbname);
  itest_db_create(b->dbname, b->conninfo, sizeof b->conninfo);
}

/* ---- HTTP ---------------------------------------------------------------- */

struct sink {
  char *data;
  size_t len;
};

static size_t sink_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
  struct sink *s = arg;
  size_t n = size * nmemb;
  char *grown = realloc(s->data, s->len + n + 1);

  if (grown == NULL)
    return 0;
  s->data = grown;
  memcpy(s->data + s->len, ptr, n);
  s->len += n;
  s->data[s->len] = '\0';
  return n;
}

/* The value of a "Name: value" header line when its name is name. */
static char *header_value(const char *line, size_t len, const char *name)
{
  size_t nl = strlen(name);

  if (len <= nl || line[nl] != ':' || strncasecmp(line, name, nl) != 0)
    return NULL;
  const char *v = line + nl + 1;
  const char *end = line + len;
  while (v < end && (*v == ' ' || *v == '\t'))
    v++;
  while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
    end--;
  return strndup(v, (size_t)(end - v));
}

static size_t sink_header(char *ptr, size_t size, size_t nmemb, void *arg)
{
  struct bridge_http *h = arg;
  size_t n = size * nmemb;
  char *v;

  if ((v = header_value(ptr, n, "X-OTPCEP-version")) != NULL) {
    free(h->version);
    h->version = v;
  } else if ((v = header_value(ptr, n, "Content-Type")) != NULL) {
    free(h->content_type);
    h->content_type = v;
  }
  return n;
}

void bridge_http_free(struct bridge_http *h)
{
  free(h->body);
  free(h->version);
  free(h->content_type);
  memset(h, 0, sizeof *h);
}

/* GET when body is NULL, else POST with the given headers. */
static void perform(const struct bridge_itest *b, const char *path,
                    struct curl_slist *hdrs, const void *body, size_t len,
                    struct bridge_http *out)
{
  struct sink s = {NULL, 0};
  char url[256];
  CURL *c = curl_easy_init();

  memset(out, 0, sizeof *out);
  if (c == NULL)
    return;
  snprintf(url, sizeof url, "%s%s", b->root, path);
  curl_easy_setopt(c, CURLOPT_URL, url);
  if (body != NULL) {
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, sink_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, out);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, HTTP_TIMEOUT_S);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  if (b->opts.tls == BRIDGE_TLS_HTTPS)
    curl_easy_setopt(c, CURLOPT_CAINFO, b->tls_ca);
  if (b->client_cert[0] != '\0') {
    curl_easy_setopt(c, CURLOPT_SSLCERT, b->client_cert);
    curl_easy_setopt(c, CURLOPT_SSLKEY, b->client_key);
  }
  double t0 = itest_now();
  CURLcode rc = curl_easy_perform(c);
  out->seconds = itest_now() - t0;
  if (rc == CURLE_OK)
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
  curl_easy_cleanup(c);
  out->body = s.data != NULL ? s.data : strdup("");
  out->body_len = s.len;
}

void bridge_itest_get(const struct bridge_itest *b, const char *path,
                      struct bridge_http *out)
{
  perform(b, path, NULL, NULL, 0, out);
}

void bridge_itest_post(const struct bridge_itest *b, const char *version,
                       const char *content_type, const void *body, size_t len,
                       struct bridge_http *out)
{
  struct curl_slist *hdrs = NULL;
  char ct[256], ver[128];

  snprintf(ct, sizeof ct, "Content-Type: %s",
           content_type ? content_type : "Application/xml;charset=utf-8");
  hdrs = curl_slist_append(hdrs, ct);
  /* No "Expect: 100-continue": the whole body goes at once. */
  hdrs = curl_slist_append(hdrs, "Expect:");
  if (version != NULL) {
    snprintf(ver, sizeof ver, "X-OTPCEP-version: %s", version);
    hdrs = curl_slist_append(hdrs, ver);
  }
  perform(b, BRIDGE_ITEST_PATH, hdrs, body ? body : "", len, out);
  curl_slist_free_all(hdrs);
}

void bridge_itest_post_path(const struct bridge_itest *b, const char *path,
                            const char *content_type, const void *body,
                            size_t len, struct bridge_http *out)
{
  char ct[256];
  snprintf(ct, sizeof ct, "Content-Type: %s", content_type);
  struct curl_slist *hdrs = curl_slist_append(NULL, ct);
  hdrs = curl_slist_append(hdrs, "Expect:");
  perform(b, path, hdrs, body ? body : "", len, out);
  curl_slist_free_all(hdrs);
}

static void *call_run(void *arg)
{
  struct bridge_call *c = arg;

  bridge_itest_post(c->b, "1.0", NULL, c->body, strlen(c->body), &c->h);
  atomic_store(&c->done, true);
  return NULL;
}

void bridge_call_start(struct bridge_call *c, const struct bridge_itest *b,
                       char *body)
{
  assert_non_null(body);
  memset(c, 0, sizeof *c);
  c->b = b;
  c->body = body;
  atomic_init(&c->done, false);
  assert_int_equal(pthread_create(&c->thread, NULL, call_run, c), 0);
}

void bridge_call_join(struct bridge_call *c)
{
  assert_int_equal(pthread_join(c->thread, NULL), 0);
  free(c->body);
  c->body = NULL;
}

int bridge_itest_connect(const struct bridge_itest *b)
{
  struct sockaddr_in addr = {.sin_family = AF_INET};
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

  assert_true(fd >= 0);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(b->port);
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0)
    itest_fail("cannot connect to %s: %s", b->root, strerror(errno));
  return fd;
}

char *bridge_itest_read_all(int fd, int timeout_ms)
{
  struct sink s = {NULL, 0};
  char chunk[4096];

  for (;;) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, timeout_ms) <= 0)
      break;
    ssize_t n = recv(fd, chunk, sizeof chunk, 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0 || sink_body(chunk, 1, (size_t)n, &s) != (size_t)n)
      break;
  }
  return s.data != NULL ? s.data : strdup("");
}

char *bridge_itest_raw_header(const char *response, const char *name)
{
  const char *end = strstr(response, "\r\n\r\n");
  const char *line = strstr(response, "\r\n");

  if (end == NULL)
    end = response + strlen(response);
  while (line != NULL && line < end) {
    line += 2;
    const char *eol = strstr(line, "\r\n");
    if (eol == NULL)
      eol = line + strlen(line);
    char *v = header_value(line, (size_t)(eol - line), name);
    if (v != NULL)
      return v;
    line = eol;
  }
  return NULL;
}

/* ---- OTPCE bodies ------------------------------------------------------- */

/* base64 of the CSR with brk after every 64 characters (not at the end). */
static char *csr_base64(const struct otpce_fields *f)
{
  char *plain = owcp_base64_encode(f->csr, f->csr_len);
  assert_non_null(plain);
  if (f->b64_break == NULL)
    return plain;
  size_t len = strlen(plain), bl = strlen(f->b64_break);
  char *out = malloc(len + (len / 64 + 1) * bl + 1);
  assert_non_null(out);
  size_t o = 0;
  for (size_t i = 0; i < len; i += 64) {
    size_t n = len - i < 64 ? len - i : 64;
    if (i > 0) {
      memcpy(out + o, f->b64_break, bl);
      o += bl;
    }
    memcpy(out + o, plain + i, n);
    o += n;
  }
  out[o] = '\0';
  free(plain);
  return out;
}

static void write_attr(xmlTextWriterPtr w, const struct otpce_fields *f,
                       const char *name, const char *value)
{
  if (f->omit != NULL && strcmp(f->omit, name) == 0)
    return;
  assert_true(xmlTextWriterWriteAttribute(w, BAD_CAST name, BAD_CAST value) >=
              0);
}

char *bridge_itest_otpce_xml(const struct otpce_fields *f)
{
  xmlBufferPtr buf = xmlBufferCreate();
  xmlTextWriterPtr w = xmlNewTextWriterMemory(buf, 0);
  char *b64 = csr_base64(f);

  assert_true(buf != NULL && w != NULL);
  assert_true(xmlTextWriterStartDocument(w, "1.0", "utf-8", NULL) >= 0);
  assert_true(xmlTextWriterStartElementNS(w, NULL, BAD_CAST "signCertRequest",
                                          BAD_CAST OTPCEP_NS) >= 0);
  if (f->xsd_xsi) {
    write_attr(w, f, "xmlns:xsd", "http://www.w3.org/2001/XMLSchema");
    write_attr(w, f, "xmlns:xsi", "http://www.w3.org/2001/XMLSchema-instance");
  }
  const char *names[3] = {"username", "oneTimePassword", "certRequest"};
  const char *values[3] = {f->username, f->otp, b64};
  for (size_t k = 0; k < 3; k++) {
    size_t i = f->reversed ? 2 - k : k;
    write_attr(w, f, names[i], values[i]);
  }
  if (f->unknown_attr != NULL)
    write_attr(w, f, f->unknown_attr, "");
  assert_true(xmlTextWriterEndElement(w) >= 0);
  assert_true(xmlTextWriterEndDocument(w) >= 0);
  xmlFreeTextWriter(w);
  char *xml = strdup((const char *)xmlBufferContent(buf));
  assert_non_null(xml);
  xmlBufferFree(buf);
  free(b64);
  return xml;
}

/* ---- responses ---------------------------------------------------------- */

static char *xpath_string(xmlXPathContextPtr ctx, const char *expr)
{
  xmlXPathObjectPtr o = xmlXPathEvalExpression(BAD_CAST expr, ctx);
  char *value = NULL;

  if (o != NULL && o->nodesetval != NULL && o->nodesetval->nodeNr > 0) {
    xmlChar *s = xmlNodeGetContent(o->nodesetval->nodeTab[0]);
    value = strdup(s != NULL ? (const char *)s : "");
    xmlFree(s);
  }
  xmlXPathFreeObject(o);
  return value;
}

static void read_issuing_cas(xmlXPathContextPtr ctx, struct otpce_reply *out)
{
  xmlXPathObjectPtr o =
      xmlXPathEvalExpression(BAD_CAST "/o:signCertResponse/o:IssuingCA", ctx);

  assert_non_null(o);
  int count = o->nodesetval != NULL ? o->nodesetval->nodeNr : 0;
  if (count > 8) {
    xmlXPathFreeObject(o);
    itest_fail("%d IssuingCA elements; this reader takes 8", count);
  }
  for (int i = 0; i < count; i++) {
    xmlChar *s = xmlNodeGetContent(o->nodesetval->nodeTab[i]);
    out->issuing_ca[i] = strdup(s ? (const char *)s : "");
    xmlFree(s);
    out->ca_count = (size_t)i + 1;
  }
  xmlXPathFreeObject(o);
}

void bridge_itest_otpce_parse(const struct bridge_http *h,
                              struct otpce_reply *out)
{
  memset(out, 0, sizeof *out);
  xmlDocPtr doc =
      xmlReadMemory(h->body, (int)h->body_len, "reply.xml", NULL,
                    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
  if (doc == NULL)
    itest_fail("the OTPCE reply is not well-formed XML: '%s'", h->body);
  xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
  assert_non_null(ctx);
  assert_int_equal(xmlXPathRegisterNs(ctx, BAD_CAST "o", BAD_CAST OTPCEP_NS),
                   0);
  char *root = xpath_string(ctx, "/o:signCertResponse");
  if (root == NULL)
    itest_fail("the OTPCE reply is not a signCertResponse in the otpcep "
               "namespace: '%s'",
               h->body);
  free(root);
  out->status_code = xpath_string(ctx, "/o:signCertResponse/@statusCode");
  char *signed_b64 =
      xpath_string(ctx, "/o:signCertResponse/@SignedCertRequest");
  if (signed_b64 != NULL && signed_b64[0] != '\0') {
    struct owcp_error err = {{0}};
    /* The spec line-wraps it; base64 ignores XML whitespace here. */
    size_t o = 0;
    for (size_t i = 0; signed_b64[i] != '\0'; i++)
      if (strchr(" \t\r\n", signed_b64[i]) == NULL)
        signed_b64[o++] = signed_b64[i];
    signed_b64[o] = '\0';
    out->has_signed = true;
    if (owcp_base64_decode(signed_b64, o, &out->signed_req, &out->signed_len,
                           &err) != 0)
      itest_fail("SignedCertRequest is not base64: %s", err.msg);
  }
  free(signed_b64);
  read_issuing_cas(ctx, out);
  xmlXPathFreeContext(ctx);
  xmlFreeDoc(doc);
}

void otpce_reply_free(struct otpce_reply *r)
{
  free(r->status_code);
  free(r->signed_req);
  for (size_t i = 0; i < r->ca_count; i++)
    free(r->issuing_ca[i]);
  memset(r, 0, sizeof *r);
}

void bridge_itest_expect_otpce(const struct bridge_http *h, long status,
                               const char *code, const char *file, int line)
{
  struct otpce_reply r;

  if (h->status != status)
    itest_fail_at(file, line, "HTTP status %ld, expected %ld; body: '%s'",
                  h->status, status, h->body ? h->body : "");
  if (h->version == NULL || strcmp(h->version, "1.0") != 0)
    itest_fail_at(file, line, "X-OTPCEP-version is '%s', expected 1.0",
                  h->version ? h->version : "(absent)");
  bridge_itest_otpce_parse(h, &r);
  if (r.status_code == NULL || strcmp(r.status_code, code) != 0) {
    char got[64];
    snprintf(got, sizeof got, "%s", r.status_code ? r.status_code : "(none)");
    otpce_reply_free(&r);
    itest_fail_at(file, line, "statusCode %s, expected %s; body: '%s'", got,
                  code, h->body);
  }
  bool extra = strcmp(code, "Success") != 0 && r.has_signed;
  for (size_t i = 0; strcmp(code, "Success") != 0 && i < r.ca_count; i++)
    extra = extra || r.issuing_ca[i][0] != '\0';
  otpce_reply_free(&r);
  if (extra) /* interop notes, Checks (OTPCE) 9 */
    itest_fail_at(file, line,
                  "a %s reply carries SignedCertRequest or IssuingCA: '%s'",
                  code, h->body);
}

void bridge_itest_check_cmc(const struct bridge_itest *b,
                            const unsigned char *cmc, size_t cmc_len,
                            const unsigned char *csr, size_t csr_len)
{
  char cmc_path[PATH_MAX], csr_path[PATH_MAX], out[PATH_MAX];
  const char *script = OWCP_SOURCE_DIR "/tests/unit/check_cmc.py";

  fx_path(cmc_path, sizeof cmc_path, b->dir, "reply-cmc.der");
  fx_path(csr_path, sizeof csr_path, b->dir, "reply-csr.der");
  fx_path(out, sizeof out, b->dir, "reply-check.out");
  testutil_write_file(cmc_path, cmc, cmc_len);
  testutil_write_file(csr_path, csr, csr_len);
  const char *argv[] = {"/usr/bin/python3", script,     cmc_path,
                        csr_path,           b->ra_cert, NULL};
  if (testutil_exec(argv, out) != 0)
    itest_fail("check_cmc.py refuses the SignedCertRequest (its reason is "
               "on stderr above)");
  testutil_assert_file_contains(out, "check_cmc: ok");
  assert_int_equal(testutil_openssl(NULL, "cms", "-verify", "-inform", "DER",
                                    "-in", cmc_path, "-CAfile", b->ra_ca,
                                    "-purpose", "any", "-out", out),
                   0);
}

/* ---- the user's device -------------------------------------------------- */

struct owcp_client *bridge_itest_device(struct itest_env *env, const char *name,
                                        const char *const *accounts)
{
  struct owcp_error err = {{0}};
  struct owcp_client *c = NULL;
  char state[PATH_MAX];

  snprintf(state, sizeof state, "%s/%s", env->tmpdir, name);
  struct owcp_client_config cfg = {
      .state_dir = state, .dispatcher = env->base, .allow_insecure_http = true};
  if (owcp_client_open(&cfg, &c, &err) != 0)
    itest_fail("owcp_client_open: %s", err.msg);
  for (size_t i = 0; accounts[i] != NULL; i++) {
    char *code = itest_code_issue(env, accounts[i], 0);
    struct owcp_register_params reg = {.account = accounts[i],
                                       .description = "bridge test phone",
                                       .code = code,
                                       .pin = BRIDGE_ITEST_PIN};
    if (owcp_client_register(c, &reg, &err) != 0)
      itest_fail("owcp_client_register %s: %s", accounts[i], err.msg);
    free(code);
  }
  return c;
}

static void device_list(struct owcp_client *c, const char *account, int wait_s,
                        struct owcp_pending_list *list)
{
  struct owcp_error err = {{0}};

  memset(list, 0, sizeof *list);
  if (owcp_client_list(c, account, wait_s, list, &err) != 0)
    itest_fail("owcp_client_list %s: %s", account, err.msg);
}

size_t bridge_itest_device_pending(struct owcp_client *c, const char *account,
                                   int wait_s)
{
  struct owcp_pending_list list;

  device_list(c, account, wait_s, &list);
  size_t n = list.count;
  owcp_pending_list_free(&list);
  return n;
}

char *bridge_itest_device_answer(struct owcp_client *c, const char *account,
                                 enum owcp_answer answer, int wait_s)
{
  struct owcp_error err = {{0}};
  struct owcp_pending_list list;
  struct owcp_view view = {0};
  enum owcp_answer sent;

  device_list(c, account, wait_s, &list);
  if (list.count != 1)
    itest_fail("%zu confirmations pending for %s, expected 1", list.count,
               account);
  const struct owcp_pending *p = &list.items[0];
  if (p->from == NULL || strcmp(p->from, BRIDGE_ITEST_REQUESTOR) != 0)
    itest_fail("the confirmation comes from '%s', not the bridge",
               p->from ? p->from : "(nobody)");
  if (owcp_client_view(c, account, p, OWCP_RENDER_PLAIN, &view, &err) != 0)
    itest_fail("owcp_client_view: %s", err.msg);
  assert_true(view.needs_pin); /* contract §3: <Verification>PIN */
  size_t size = strlen(view.summary) + strlen(view.text) + 2;
  char *shown = malloc(size);
  assert_non_null(shown);
  snprintf(shown, size, "%s\n%s", view.summary, view.text);
  owcp_view_clear(&view);
  if (owcp_client_reply(c, account, p, answer, BRIDGE_ITEST_PIN, &sent, &err) !=
      0)
    itest_fail("owcp_client_reply: %s", err.msg);
  assert_int_equal(sent, answer);
  owcp_pending_list_free(&list);
  return shown;
}

/* ---- a RADIUS server that lies ------------------------------------------ */

/* The reply the liar's mode calls for to the Access-Request req (at least
 * 20 octets); returns its length, 0 for none. */
static size_t liar_reply(enum bridge_liar_mode mode, const unsigned char *req,
                         unsigned char out[20])
{
  if (mode == LIAR_SILENT)
    return 0;
  out[0] = RADIUS_CODE_ACCESS_ACCEPT;
  out[1] = req[1];
  out[2] = 0;
  out[3] = 20;
  memset(out + 4, 0, 16);
  if (mode == LIAR_UNSIGNED) {
    /* Response Authenticator = MD5(Code+ID+Length+RequestAuth+Secret) */
    unsigned char buf[20 + sizeof RADIUS_ITEST_SECRET - 1];
    memcpy(buf, out, 4);
    memcpy(buf + 4, req + 4, 16);
    memcpy(buf + 20, RADIUS_ITEST_SECRET, sizeof RADIUS_ITEST_SECRET - 1);
    if (EVP_Digest(buf, sizeof buf, out + 4, NULL, EVP_md5(), NULL) != 1)
      return 0;
  }
  return 20;
}

/* The thread makes no cmocka call. */
static void *liar_run(void *arg)
{
  struct bridge_liar *l = arg;

  while (!atomic_load(&l->stop)) {
    struct pollfd p = {.fd = l->fd, .events = POLLIN};
    if (poll(&p, 1, 20) <= 0)
      continue;
    unsigned char req[RADIUS_MAX_PACKET], reply[20];
    struct sockaddr_in from;
    socklen_t from_len = sizeof from;
    ssize_t n = recvfrom(l->fd, req, sizeof req, 0, (struct sockaddr *)&from,
                         &from_len);
    if (n <= 0)
      continue;
    atomic_fetch_add(&l->datagrams, 1);
    size_t len = n >= 20 ? liar_reply(l->mode, req, reply) : 0;
    if (len > 0)
      (void)sendto(l->fd, reply, len, 0, (struct sockaddr *)&from, from_len);
  }
  return NULL;
}

void bridge_liar_start(struct bridge_liar *l, enum bridge_liar_mode mode)
{
  struct sockaddr_in addr = {.sin_family = AF_INET};
  socklen_t len = sizeof addr;

  memset(l, 0, sizeof *l);
  l->mode = mode;
  atomic_init(&l->datagrams, 0);
  atomic_init(&l->stop, false);
  l->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  assert_true(l->fd >= 0);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(bind(l->fd, (struct sockaddr *)&addr, sizeof addr), 0);
  assert_int_equal(getsockname(l->fd, (struct sockaddr *)&addr, &len), 0);
  l->port = ntohs(addr.sin_port);
  assert_int_equal(pthread_create(&l->thread, NULL, liar_run, l), 0);
}

void bridge_liar_stop(struct bridge_liar *l)
{
  atomic_store(&l->stop, true);
  assert_int_equal(pthread_join(l->thread, NULL), 0);
  (void)close(l->fd);
  l->fd = -1;
}

/* ---- one test program's world ------------------------------------------ */

static const char extra_users[] =
    "'example\\alice' Cleartext-Password := \"" BRIDGE_ITEST_OTP "\"\n"
    "'EXAMPLE\\bob' Cleartext-Password := \"" BRIDGE_ITEST_OTP "\"\n"
    "'EXAMPLE\\dave' Cleartext-Password := \"" BRIDGE_ITEST_OTP "\"\n";

void bridge_world_setup(struct bridge_world *w, const char *name,
                        bool freeradius)
{
  static const char *const accounts[] = {"alice@example.com", "bob@example.com",
                                         "carol@example.com", NULL};

  memset(w, 0, sizeof *w);
  itest_env_init(&w->env, name);
  for (size_t i = 0; accounts[i] != NULL; i++)
    itest_account_add(&w->env, accounts[i]);
  char *token = itest_requestor_add(&w->env, BRIDGE_ITEST_REQUESTOR, 1000);
  itest_start(&w->env, NULL);
  w->device = bridge_itest_device(&w->env, "device", accounts);
  if (freeradius && radius_itest_freeradius_start(&w->fr, extra_users) != 0) {
    free(token);
    itest_fail("FreeRADIUS did not start (its output is above)");
  }
  bridge_itest_init(&w->bridge, &w->env, name, token);
  free(token);
  if (freeradius) {
    w->bridge.opts.radius[0] = w->fr.port;
    w->bridge.opts.radius_count = 1;
  }
}

void bridge_world_teardown(struct bridge_world *w)
{
  if (w->bridge.pid > 0)
    bridge_itest_stop(&w->bridge);
  bridge_itest_fini(&w->bridge);
  radius_itest_freeradius_stop(&w->fr);
  owcp_client_close(w->device);
  w->device = NULL;
  if (w->env.pid > 0)
    itest_stop(&w->env);
  itest_env_fini(&w->env);
}

int bridge_world_group_teardown(void **state)
{
  struct bridge_world *w = *state;

  if (w != NULL)
    bridge_world_teardown(w);
  free(w);
  return 0;
}

char *bridge_world_request(struct bridge_world *w, const char *username,
                           const char *otp, const char *upn,
                           unsigned char **csr, size_t *csr_len)
{
  size_t len = 0;
  unsigned char *der = fx_csr_windows(w->bridge.dir, upn, &len);
  struct otpce_fields f = {
      .username = username, .otp = otp, .csr = der, .csr_len = len};
  char *xml = bridge_itest_otpce_xml(&f);

  if (csr != NULL) {
    *csr = der;
    *csr_len = len;
  } else {
    free(der);
  }
  return xml;
}

char *bridge_world_post_answered(struct bridge_world *w, char *body,
                                 const char *account, enum owcp_answer answer,
                                 struct bridge_http *out)
{
  struct bridge_call call;

  bridge_call_start(&call, &w->bridge, body);
  /* Until the question arrives; a bridge that answered without asking is
   * reported with its reply rather than as a device that waited. */
  double deadline = itest_now() + 15;
  while (bridge_itest_device_pending(w->device, account, 1) == 0) {
    if (atomic_load(&call.done) || itest_now() > deadline) {
      bridge_call_join(&call);
      itest_fail("no confirmation reached %s; the bridge answered HTTP %ld "
                 "'%s'",
                 account, call.h.status, call.h.body ? call.h.body : "");
    }
  }
  char *shown = bridge_itest_device_answer(w->device, account, answer, 15);
  bridge_call_join(&call);
  *out = call.h;
  return shown;
}

void bridge_world_post(struct bridge_world *w, const char *body,
                       struct bridge_http *out)
{
  bridge_itest_post(&w->bridge, "1.0", NULL, body, strlen(body), out);
}
