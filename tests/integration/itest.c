/*
 * itest.c — the end-to-end harness (see itest.h): databases through libpq,
 * processes through fork/exec, HTTP through libcurl, and a client built on
 * libowcp-core exactly as an outside client would use it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <libpq-fe.h>

#include "itest.h"
#include "testutil.h"
#include "owcp/ca.h"
#include "owcp/keys.h"
#include "owcp/multipart.h"
#include "owcp/receipt.h"
#include "owcp/util.h"

#ifndef OWCP_ADMIN_BIN
#error "OWCP_ADMIN_BIN must name the built owcp-admin"
#endif
#ifndef OWCP_DISPATCHER_BIN
#error "OWCP_DISPATCHER_BIN must name the built owcp-dispatcher"
#endif

/* Bounded waits: ASan builds start slowly, but a dispatcher that is not
 * serving after this long is broken, not slow. */
#define READY_TIMEOUT_S 30.0
#define STOP_TIMEOUT_S 20.0
#define HTTP_TIMEOUT_S 40L

double itest_now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void itest_fail_at(const char *file, int line, const char *fmt, ...)
{
  char msg[4096];
  va_list ap;

  va_start(ap, fmt);
  (void)vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  print_error("%s\n", msg);
  _fail(file, line);
  /* _fail() leaves the test by longjmp (or exits); were it ever to return,
   * stopping here is the only behaviour that keeps the noreturn promise. */
  abort();
}

/* ---- database ------------------------------------------------------------ */

static PGconn *connect_or_fail(const char *conninfo)
{
  PGconn *pg = PQconnectdb(conninfo);
  if (PQstatus(pg) != CONNECTION_OK) {
    print_error("cannot connect to '%s': %s", conninfo, PQerrorMessage(pg));
    PQfinish(pg);
    itest_fail("database unavailable (run under scripts/with-pg.sh)");
  }
  return pg;
}

static void exec_or_fail(PGconn *pg, const char *sql)
{
  PGresult *res = PQexec(pg, sql);
  if (PQresultStatus(res) != PGRES_COMMAND_OK) {
    print_error("'%s' failed: %s", sql, PQerrorMessage(pg));
    PQclear(res);
    PQfinish(pg);
    itest_fail("SQL statement failed");
  }
  PQclear(res);
}

static const char *test_db_or_fail(void)
{
  const char *base = getenv("OWCP_TEST_DB");
  if (base == NULL || base[0] == '\0')
    itest_fail("OWCP_TEST_DB is not set: run under scripts/with-pg.sh");
  return base;
}

void itest_db_create(const char *dbname, char *conninfo, size_t size)
{
  const char *base = test_db_or_fail();
  PGconn *pg = connect_or_fail(base);
  char sql[256];

  snprintf(sql, sizeof sql, "CREATE DATABASE \"%s\"", dbname);
  exec_or_fail(pg, sql);
  PQfinish(pg);
  /* A later keyword overrides an earlier one in a libpq conninfo string. */
  int n = snprintf(conninfo, size, "%s dbname=%s", base, dbname);
  assert_true(n > 0 && (size_t)n < size);
  pg = connect_or_fail(conninfo);
  assert_string_equal(PQdb(pg), dbname);
  PQfinish(pg);
}

void itest_db_drop(const char *dbname)
{
  const char *base = getenv("OWCP_TEST_DB");
  if (base == NULL || dbname[0] == '\0')
    return;
  PGconn *pg = PQconnectdb(base);
  if (PQstatus(pg) == CONNECTION_OK) {
    char sql[256];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS \"%s\" WITH (FORCE)",
             dbname);
    PQclear(PQexec(pg, sql));
  }
  PQfinish(pg);
}

static void create_database(struct itest_env *e)
{
  snprintf(e->dbname, sizeof e->dbname, "e2e_%s_%ld", e->name, (long)getpid());
  itest_db_create(e->dbname, e->conninfo, sizeof e->conninfo);
}

long long itest_sql_count1(struct itest_env *e, const char *sql,
                           const char *param)
{
  PGconn *pg = connect_or_fail(e->conninfo);
  const char *params[1] = {param};
  PGresult *res = PQexecParams(pg, sql, param ? 1 : 0, NULL,
                               param ? params : NULL, NULL, NULL, 0);
  if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 ||
      PQnfields(res) != 1 || PQgetisnull(res, 0, 0)) {
    print_error("query '%s' failed: %s", sql, PQerrorMessage(pg));
    PQclear(res);
    PQfinish(pg);
    itest_fail("SQL query did not return one integer");
  }
  long long n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
  PQclear(res);
  PQfinish(pg);
  return n;
}

long long itest_sql_count(struct itest_env *e, const char *sql)
{
  return itest_sql_count1(e, sql, NULL);
}

/* ---- processes ----------------------------------------------------------- */

/* Reads fd to EOF into a malloc()ed NUL-terminated string. */
static char *read_all(int fd)
{
  size_t cap = 256, len = 0;
  char *buf = malloc(cap);
  assert_non_null(buf);
  for (;;) {
    if (len + 1 == cap) {
      cap *= 2;
      buf = realloc(buf, cap);
      assert_non_null(buf);
    }
    ssize_t n = read(fd, buf + len, cap - len - 1);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    len += (size_t)n;
  }
  buf[len] = '\0';
  return buf;
}

char *itest_admin(struct itest_env *e, int *status, const char *const *args)
{
  const char *argv[32];
  size_t n = 0;
  int fds[2];

  argv[n++] = OWCP_ADMIN_BIN;
  argv[n++] = "--db";
  argv[n++] = e->conninfo;
  for (size_t i = 0; args[i] != NULL; i++) {
    assert_true(n < 31);
    argv[n++] = args[i];
  }
  argv[n] = NULL;
  assert_int_equal(pipe(fds), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    execv(argv[0], (char *const *)argv);
    _exit(127);
  }
  close(fds[1]);
  char *out = read_all(fds[0]);
  close(fds[0]);
  int ws = 0;
  while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
    ;
  *status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
  return out;
}

/* Runs owcp-admin, requires exit 0, returns the first output line. */
static char *admin_ok(struct itest_env *e, const char *const *args)
{
  int status;
  char *out = itest_admin(e, &status, args);
  if (status != 0) {
    print_error("owcp-admin %s %s exited %d, output: %s", args[0],
                args[1] ? args[1] : "", status, out);
    free(out);
    itest_fail("owcp-admin failed");
  }
  out[strcspn(out, "\n")] = '\0';
  return out;
}

void itest_account_add(struct itest_env *e, const char *address)
{
  const char *args[] = {"account", "add", address, NULL};
  free(admin_ok(e, args));
}

char *itest_requestor_add(struct itest_env *e, const char *address, int rate)
{
  char r[32];
  snprintf(r, sizeof r, "%d", rate);
  const char *with_rate[] = {"requestor", "add", address, "--rate", r, NULL};
  const char *plain[] = {"requestor", "add", address, NULL};
  char *token = admin_ok(e, rate > 0 ? with_rate : plain);
  assert_true(strlen(token) >= 20);
  return token;
}

char *itest_code_issue(struct itest_env *e, const char *account, int ttl)
{
  char t[32];
  snprintf(t, sizeof t, "%d", ttl);
  const char *with_ttl[] = {"code", "issue", account, "--ttl", t, NULL};
  const char *plain[] = {"code", "issue", account, NULL};
  char *code = admin_ok(e, ttl > 0 ? with_ttl : plain);
  assert_true(strlen(code) >= 20);
  return code;
}

void itest_client_revoke(struct itest_env *e, const char *client_id)
{
  const char *args[] = {"client", "revoke", client_id, NULL};
  free(admin_ok(e, args));
}

void itest_env_init(struct itest_env *e, const char *name)
{
  memset(e, 0, sizeof *e);
  snprintf(e->name, sizeof e->name, "%s", name);
  assert_int_equal(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK);
  const char *tmp = getenv("TMPDIR");
  snprintf(e->tmpdir, sizeof e->tmpdir, "%s/owcp-e2e-%s.XXXXXX",
           tmp && tmp[0] ? tmp : "/tmp", name);
  assert_non_null(mkdtemp(e->tmpdir));
  snprintf(e->keydir, sizeof e->keydir, "%s/keys", e->tmpdir);
  create_database(e);
  const char *args[] = {"migrate", NULL};
  free(admin_ok(e, args));
}

void itest_env_fini(struct itest_env *e)
{
  if (e->pid > 0)
    itest_kill(e);
  itest_db_drop(e->dbname);
  if (e->tmpdir[0] != '\0' && testutil_tmpdir_remove(e->tmpdir) != 0)
    print_error("could not remove %s\n", e->tmpdir);
  curl_global_cleanup();
}

void itest_env_second(struct itest_env *b, const struct itest_env *a)
{
  size_t len = strlen(a->tmpdir);

  *b = *a;
  b->pid = 0;
  assert_true(len + 3 <= sizeof b->tmpdir);
  memcpy(b->tmpdir + len, "/b", 3);
  assert_int_equal(mkdir(b->tmpdir, 0700), 0);
}

void itest_env_second_fini(struct itest_env *b)
{
  char ready[sizeof b->tmpdir + 16];

  if (b->pid > 0)
    itest_stop(b);
  snprintf(ready, sizeof ready, "%s/ready", b->tmpdir);
  unlink(ready);
  rmdir(b->tmpdir);
}

void itest_start_pair(struct itest_env *a, struct itest_env *b)
{
  itest_start(a, NULL);
  itest_env_second(b, a);
  itest_start(b, NULL);
}

void itest_pair_fini(struct itest_env *a, struct itest_env *b)
{
  itest_env_second_fini(b);
  if (a->pid > 0)
    itest_stop(a);
  itest_env_fini(a);
}

/* The ready file once it holds a complete line, else NULL. */
static char *ready_url(const char *path)
{
  FILE *f = fopen(path, "r");
  if (f == NULL)
    return NULL;
  char line[512];
  char *url = NULL;
  if (fgets(line, sizeof line, f) != NULL && strchr(line, '\n') != NULL) {
    line[strcspn(line, "\n")] = '\0';
    url = strdup(line);
  }
  fclose(f);
  return url;
}

/* In the forked child: the variables systemd sets for a Type=notify
 * service (and its watchdog), as the env asks. 0, or -1 when one cannot
 * be set. */
static int systemd_environment(const struct itest_env *e)
{
  char v[32];
  if (e->notify_socket[0] != '\0' &&
      setenv("NOTIFY_SOCKET", e->notify_socket, 1) != 0)
    return -1;
  if (e->watchdog_usec == 0)
    return 0;
  snprintf(v, sizeof v, "%lu", e->watchdog_usec);
  if (setenv("WATCHDOG_USEC", v, 1) != 0)
    return -1;
  snprintf(v, sizeof v, "%ld", (long)getpid());
  return setenv("WATCHDOG_PID", v, 1);
}

void itest_start(struct itest_env *e, const char *const *extra)
{
  char ready[PATH_MAX + 16];
  const char *argv[48];
  size_t n = 0;

  assert_int_equal(e->pid, 0);
  snprintf(ready, sizeof ready, "%s/ready", e->tmpdir);
  unlink(ready);
  argv[n++] = OWCP_DISPATCHER_BIN;
  argv[n++] = "--db";
  argv[n++] = e->conninfo;
  argv[n++] = "--listen";
  argv[n++] = "127.0.0.1:0";
  if (e->tls_cert[0] != '\0') {
    argv[n++] = "--tls-cert";
    argv[n++] = e->tls_cert;
    argv[n++] = "--tls-key";
    argv[n++] = e->tls_key;
  } else {
    argv[n++] = "--insecure-http";
  }
  argv[n++] = "--key-dir";
  argv[n++] = e->keydir;
  argv[n++] = "--domain";
  argv[n++] = "example.com";
  argv[n++] = "--threads";
  argv[n++] = "8";
  argv[n++] = "--ready-file";
  argv[n++] = ready;
  for (size_t i = 0; extra != NULL && extra[i] != NULL; i++) {
    assert_true(n < 47);
    argv[n++] = extra[i];
  }
  argv[n] = NULL;

  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    if (e->stderr_path[0] != '\0') {
      int fd = open(e->stderr_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
      if (fd < 0 || dup2(fd, STDERR_FILENO) < 0)
        _exit(126);
      close(fd);
    }
    if (systemd_environment(e) != 0)
      _exit(126);
    execv(argv[0], (char *const *)argv);
    _exit(127);
  }
  e->pid = pid;
  double deadline = itest_now() + READY_TIMEOUT_S;
  char *url = NULL;
  while ((url = ready_url(ready)) == NULL) {
    int ws;
    if (waitpid(pid, &ws, WNOHANG) == pid) {
      e->pid = 0;
      itest_fail("owcp-dispatcher exited during start-up (status %d)",
                 WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws));
    }
    if (itest_now() > deadline)
      itest_fail("owcp-dispatcher wrote no ready file within %.0f s",
                 READY_TIMEOUT_S);
    struct timespec ts = {0, 20L * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  snprintf(e->base, sizeof e->base, "%s", url);
  free(url);
  const char *suffix = "/owcp/0.1";
  size_t bl = strlen(e->base), sl = strlen(suffix);
  assert_true(
      strncmp(e->base,
              e->tls_cert[0] ? "https://127.0.0.1:" : "http://127.0.0.1:",
              e->tls_cert[0] ? 18 : 17) == 0);
  assert_true(bl > sl && strcmp(e->base + bl - sl, suffix) == 0);
  snprintf(e->root, sizeof e->root, "%.*s", (int)(bl - sl), e->base);
}

void itest_stop(struct itest_env *e)
{
  assert_true(e->pid > 0);
  assert_int_equal(kill(e->pid, SIGTERM), 0);
  double deadline = itest_now() + STOP_TIMEOUT_S;
  int ws = 0;
  pid_t got;
  while ((got = waitpid(e->pid, &ws, WNOHANG)) == 0) {
    if (itest_now() > deadline) {
      itest_kill(e);
      itest_fail("owcp-dispatcher did not stop within %.0f s of SIGTERM",
                 STOP_TIMEOUT_S);
    }
    struct timespec ts = {0, 20L * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  e->pid = 0;
  /* A failed waitpid leaves ws unset: it must not read as a clean exit. */
  if (got < 0)
    itest_fail("cannot wait for owcp-dispatcher: %s", strerror(errno));
  if (!WIFEXITED(ws))
    itest_fail("owcp-dispatcher died of signal %d after SIGTERM", WTERMSIG(ws));
  assert_int_equal(WEXITSTATUS(ws), 0);
}

void itest_kill(struct itest_env *e)
{
  assert_true(e->pid > 0);
  kill(e->pid, SIGKILL);
  waitpid(e->pid, NULL, 0);
  e->pid = 0;
}

/* ---- HTTP ---------------------------------------------------------------- */

struct buf {
  char *data;
  size_t len;
};

static size_t collect(char *ptr, size_t size, size_t nmemb, void *arg)
{
  struct buf *b = arg;
  size_t n = size * nmemb;
  char *grown = realloc(b->data, b->len + n + 1);
  if (grown == NULL)
    return 0;
  b->data = grown;
  memcpy(b->data + b->len, ptr, n);
  b->len += n;
  b->data[b->len] = '\0';
  return n;
}

void itest_http_free(struct itest_http *h)
{
  free(h->body);
  json_decref(h->json);
  memset(h, 0, sizeof *h);
}

/* One request; method POST when body != NULL, else GET. Thread-safe: no
 * cmocka assertions, transport failures come back as status 0. */
static void request(const struct itest_env *e, const char *url,
                    const char *token, const char *content_type,
                    const void *body, size_t len, struct itest_http *out)
{
  struct buf b = {NULL, 0};
  struct curl_slist *hdrs = NULL;
  char auth[512];
  char ct[256];
  CURL *c = curl_easy_init();

  memset(out, 0, sizeof *out);
  if (c == NULL)
    return;
  if (token != NULL) {
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    hdrs = curl_slist_append(hdrs, auth);
  }
  if (body != NULL) {
    /* No "Expect: 100-continue": the server must see the whole body. */
    hdrs = curl_slist_append(hdrs, "Expect:");
    if (content_type != NULL)
      snprintf(ct, sizeof ct, "Content-Type: %s", content_type);
    else
      snprintf(ct, sizeof ct, "Content-Type:");
    hdrs = curl_slist_append(hdrs, ct);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
  }
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, HTTP_TIMEOUT_S);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  if (e->tls_cert[0] != '\0') /* self-signed: it is its own trust anchor */
    curl_easy_setopt(c, CURLOPT_CAINFO, e->tls_cert);
  double t0 = itest_now();
  CURLcode rc = curl_easy_perform(c);
  out->seconds = itest_now() - t0;
  if (rc == CURLE_OK)
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
  else
    fprintf(stderr, "itest: %s: %s\n", url, curl_easy_strerror(rc));
  curl_easy_cleanup(c);
  curl_slist_free_all(hdrs);
  out->body = b.data ? b.data : strdup("");
  out->body_len = b.len;
  if (out->body != NULL) {
    out->json = json_loadb(out->body, out->body_len, 0, NULL);
    if (out->json != NULL && !json_is_object(out->json)) {
      json_decref(out->json);
      out->json = NULL;
    }
  }
}

void itest_post_raw(const struct itest_env *e, const char *op,
                    const char *token, const char *content_type,
                    const void *body, size_t len, struct itest_http *out)
{
  char url[512];
  snprintf(url, sizeof url, "%s/%s", e->base, op);
  request(e, url, token, content_type, body ? body : "", len, out);
}

void itest_post(const struct itest_env *e, const char *op, const char *token,
                const json_t *params, struct itest_http *out)
{
  char *text = json_dumps(params, JSON_COMPACT);
  if (text == NULL) {
    memset(out, 0, sizeof *out);
    return;
  }
  itest_post_raw(e, op, token, "application/json", text, strlen(text), out);
  free(text);
}

static struct owcp_mp_section section(const void *p, size_t len)
{
  struct owcp_mp_section s = {p, len, true};
  return s;
}

void itest_post_multipart(const struct itest_env *e, const char *op,
                          const char *token, const json_t *params,
                          const char *xml, struct itest_http *out)
{
  static const char json_type[] = "application/json";
  static const char xml_type[] = "application/xml";
  struct owcp_mp_segment segs[2];
  struct owcp_error err = {{0}};
  unsigned char *mp = NULL;
  size_t mp_len = 0;
  char *text = json_dumps(params, JSON_COMPACT);

  memset(out, 0, sizeof *out);
  memset(segs, 0, sizeof segs);
  if (text == NULL)
    return;
  segs[0].content_type = section(json_type, strlen(json_type));
  segs[0].data = section(text, strlen(text));
  if (xml != NULL) {
    segs[1].content_type = section(xml_type, strlen(xml_type));
    segs[1].data = section(xml, strlen(xml));
  }
  if (owcp_multipart_encode(segs, xml ? 2 : 1, &mp, &mp_len, &err) == 0)
    itest_post_raw(e, op, token, "application/owcp-multipart", mp, mp_len, out);
  else
    fprintf(stderr, "itest: multipart encoding failed: %s\n", err.msg);
  free(mp);
  free(text);
}

void itest_get(const struct itest_env *e, const char *path,
               struct itest_http *out)
{
  char url[512];
  snprintf(url, sizeof url, "%s%s", e->root, path);
  request(e, url, NULL, NULL, NULL, 0, out);
}

double itest_metric(const struct itest_env *e, const char *series)
{
  struct itest_http h;
  itest_get(e, "/metrics", &h);
  ITEST_EXPECT(h, 200);
  double v = testutil_exposition_value(h.body, series);
  itest_http_free(&h);
  return v;
}

static void *call_thread(void *arg)
{
  struct itest_call *c = arg;
  c->started = itest_now();
  itest_post(c->env, c->op, c->token, c->params, &c->h);
  c->ended = itest_now();
  return NULL;
}

void itest_call_start(struct itest_call *c, const struct itest_env *e,
                      const char *op, const char *token, json_t *params)
{
  assert_non_null(params);
  memset(c, 0, sizeof *c);
  c->env = e;
  c->op = op;
  c->token = token;
  c->params = params;
  int rc = pthread_create(&c->thread, NULL, call_thread, c);
  if (rc != 0) {
    json_decref(params);
    c->params = NULL;
    itest_fail("cannot start a thread for %s: %s", op, strerror(rc));
  }
}

void itest_call_join(struct itest_call *c)
{
  int rc = pthread_join(c->thread, NULL);
  json_decref(c->params);
  c->params = NULL;
  if (rc != 0)
    itest_fail("cannot join the thread of %s: %s", c->op, strerror(rc));
}

void itest_let_poll_suspend(void)
{
  struct timespec ts = {0, 500L * 1000 * 1000};
  nanosleep(&ts, NULL);
}

void itest_expect_status(const struct itest_http *h, long status,
                         const char *file, int line)
{
  if (h->status == status)
    return;
  print_error("%s:%d: expected HTTP %ld, got %ld; body: %.2000s\n", file, line,
              status, h->status, h->body ? h->body : "(none)");
  _fail(file, line);
}

const char *itest_str(const struct itest_http *h, const char *name)
{
  return h->json ? json_string_value(json_object_get(h->json, name)) : NULL;
}

void itest_expect_error_mentions(const struct itest_http *h, const char *needle,
                                 const char *file, int line)
{
  const char *msg = itest_str(h, "Error");
  if (msg != NULL && strstr(msg, needle) != NULL)
    return;
  print_error("%s:%d: expected an Error naming '%s'; body: %.2000s\n", file,
              line, needle, h->body ? h->body : "(none)");
  _fail(file, line);
}

/* ---- protocol helpers --------------------------------------------------- */

char *itest_request_xml(const char *from, const char *to,
                        const char *identifier, bool with_pin, size_t pad)
{
  static const char head[] =
      "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
      "<Request xmlns=\"http://schema.comodo.com/2011/owcp/0.1\">"
      "<Header issued=\"2026-01-02T03:04:05Z\" identifier=\"%s\" "
      "type=\"Access\"><From>%s</From><To>%s</To>%s"
      "<Summary>Connect laptop #234 to the corporate network?</Summary>"
      "</Header>";
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  assert_non_null(f);
  fprintf(f, head, identifier, from, to,
          with_pin ? "<Verification>PIN</Verification>" : "");
  if (pad > 0) {
    fputs("<Body><P>", f);
    for (size_t i = 0; i < pad; i++)
      fputc('x', f);
    fputs("</P></Body>", f);
  }
  fputs("</Request>", f);
  assert_int_equal(fclose(f), 0);
  return text;
}

void itest_confirm(const struct itest_env *e, const char *token,
                   const char *xml, int timeout, struct itest_http *out)
{
  json_t *p = json_pack("{s:s}", "Request", xml);
  assert_non_null(p);
  if (timeout > 0)
    json_object_set_new(p, "Timeout", json_integer(timeout));
  itest_post(e, "RD-Confirm", token, p, out);
  json_decref(p);
}

char *itest_confirm_ok(const struct itest_env *e, const char *token,
                       const char *xml, int timeout)
{
  struct itest_http h;
  itest_confirm(e, token, xml, timeout, &h);
  ITEST_EXPECT(h, 202);
  const char *tx = itest_str(&h, "Transaction");
  assert_non_null(tx);
  assert_true(strlen(tx) >= 22); /* at least 128 random bits */
  assert_non_null(itest_str(&h, "Expires"));
  char *copy = strdup(tx);
  assert_non_null(copy);
  itest_http_free(&h);
  return copy;
}

void itest_client_init(struct itest_client *c, const char *account)
{
  struct owcp_error err = {{0}};
  memset(c, 0, sizeof *c);
  snprintf(c->account, sizeof c->account, "%s", account);
  c->key = owcp_key_new(&err);
  if (c->key == NULL)
    itest_fail("key generation: %s", err.msg);
  if (owcp_csr_new(c->key, "itest device", &c->csr, &c->csr_len, &err) != 0)
    itest_fail("CSR: %s", err.msg);
}

void itest_client_free(struct itest_client *c)
{
  EVP_PKEY_free(c->key);
  free(c->csr);
  free(c->id);
  free(c->token);
  X509_free(c->cert);
  X509_free(c->ca);
  memset(c, 0, sizeof *c);
}

/* CD-Register parameters for c (new reference); code and transaction may
 * be NULL. */
static json_t *register_params(const struct itest_client *c, const char *code,
                               const char *transaction)
{
  char *csr = owcp_base64_encode(c->csr, c->csr_len);
  assert_non_null(csr);
  json_t *p = json_pack("{s:s, s:s, s:s}", "Account", c->account, "Description",
                        "itest phone", "CSR", csr);
  free(csr);
  assert_non_null(p);
  if (code != NULL)
    json_object_set_new(p, "Code", json_string(code));
  if (transaction != NULL)
    json_object_set_new(p, "Transaction", json_string(transaction));
  return p;
}

void itest_register(const struct itest_env *e, const struct itest_client *c,
                    const char *code, const char *transaction,
                    struct itest_http *out)
{
  json_t *p = register_params(c, code, transaction);
  itest_post(e, "CD-Register", NULL, p, out);
  json_decref(p);
}

/* Decodes a base64 DER certificate member of a reply. */
static X509 *cert_member(const struct itest_http *h, const char *name)
{
  struct owcp_error err = {{0}};
  const char *b64 = itest_str(h, name);
  unsigned char *der = NULL;
  size_t len = 0;
  if (b64 == NULL)
    itest_fail("CD-Register reply lacks '%s': %s", name, h->body);
  if (owcp_base64_decode(b64, strlen(b64), &der, &len, &err) != 0)
    itest_fail("CD-Register '%s' is not base64: %s", name, err.msg);
  X509 *cert = owcp_cert_from_der(der, len, &err);
  free(der);
  if (cert == NULL)
    itest_fail("CD-Register '%s' is not a certificate: %s", name, err.msg);
  return cert;
}

void itest_client_adopt(struct itest_client *c, const struct itest_http *h)
{
  struct owcp_error err = {{0}};
  const char *id = itest_str(h, "Client");
  const char *token = itest_str(h, "Token");
  if (id == NULL || token == NULL)
    itest_fail("CD-Register reply lacks Client/Token: %s", h->body);
  c->id = strdup(id);
  c->token = strdup(token);
  assert_non_null(c->id);
  assert_non_null(c->token);
  c->cert = cert_member(h, "Certificate");
  c->ca = cert_member(h, "CA");
  /* The issued certificate must carry our key and chain to the CA. */
  if (owcp_cert_verify_chain(c->cert, c->ca, &err) != 0)
    itest_fail("client certificate does not chain to the CA: %s", err.msg);
  EVP_PKEY *pub = X509_get0_pubkey(c->cert);
  assert_non_null(pub);
  assert_int_equal(EVP_PKEY_eq(pub, c->key), 1);
  char account[256];
  assert_int_equal(
      owcp_cert_get_account(c->cert, account, sizeof account, &err), 0);
  assert_string_equal(account, c->account);
}

void itest_client_enrol(struct itest_env *e, struct itest_client *c)
{
  char *code = itest_code_issue(e, c->account, 0);
  struct itest_http h;
  itest_register(e, c, code, NULL, &h);
  ITEST_EXPECT(h, 200);
  itest_client_adopt(c, &h);
  itest_http_free(&h);
  free(code);
}

char *itest_receipt_b64(const struct itest_client *c, const char *tx,
                        const char *response, const char *reason,
                        const char *request_xml)
{
  return itest_receipt_b64_match(c, tx, response, reason, request_xml, NULL);
}

char *itest_receipt_b64_match(const struct itest_client *c, const char *tx,
                              const char *response, const char *reason,
                              const char *request_xml, const char *match)
{
  struct owcp_error err = {{0}};
  char *pin[] = {(char *)"PIN"};
  bool refuse = strcmp(response, "Refuse") == 0;
  struct owcp_receipt r = {
      .transaction = (char *)tx,
      .account = (char *)c->account,
      .client = c->id,
      .response = (char *)response,
      .verification = refuse ? NULL : pin,
      .verification_count = refuse ? 0 : 1,
      .request = (char *)request_xml,
      .request_len = strlen(request_xml),
      .signed_at = NULL,
      .reason = refuse ? (char *)reason : NULL,
      .match = (char *)match,
  };
  unsigned char *der = NULL;
  size_t len = 0;
  if (owcp_receipt_create(&r, c->cert, c->key, &der, &len, &err) != 0)
    itest_fail("receipt: %s", err.msg);
  char *b64 = owcp_base64_encode(der, len);
  free(der);
  assert_non_null(b64);
  return b64;
}

json_t *itest_reply_params(const char *tx, const char *response,
                           const char *reason, const char *receipt_b64)
{
  json_t *p = json_pack("{s:s, s:s, s:s}", "Transaction", tx, "Response",
                        response, "Receipt", receipt_b64);
  assert_non_null(p);
  if (reason != NULL)
    json_object_set_new(p, "Reason", json_string(reason));
  return p;
}

void itest_reply(const struct itest_env *e, const struct itest_client *c,
                 const char *tx, const char *response, const char *reason,
                 const char *request_xml, struct itest_http *out)
{
  itest_reply_match(e, c, tx, response, reason, request_xml, NULL, out);
}

void itest_reply_match(const struct itest_env *e, const struct itest_client *c,
                       const char *tx, const char *response, const char *reason,
                       const char *request_xml, const char *match,
                       struct itest_http *out)
{
  char *receipt =
      itest_receipt_b64_match(c, tx, response, reason, request_xml, match);
  json_t *p = itest_reply_params(tx, response, reason, receipt);
  itest_post(e, "CD-Reply", c->token, p, out);
  json_decref(p);
  free(receipt);
}

void itest_list(const struct itest_env *e, const struct itest_client *c,
                int wait, struct itest_http *out)
{
  json_t *p = json_object();
  assert_non_null(p);
  if (wait >= 0)
    json_object_set_new(p, "Wait", json_integer(wait));
  itest_post(e, "CD-List", c->token, p, out);
  json_decref(p);
}

const json_t *itest_pending_find(const struct itest_http *h, const char *tx)
{
  const json_t *pending = h->json ? json_object_get(h->json, "Pending") : NULL;
  size_t i;
  const json_t *item;
  if (!json_is_array(pending))
    return NULL;
  json_array_foreach(pending, i, item)
  {
    const char *id = json_string_value(json_object_get(item, "Transaction"));
    if (id != NULL && strcmp(id, tx) == 0)
      return item;
  }
  return NULL;
}
