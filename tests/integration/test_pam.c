/*
 * test_pam.c — pam_owcp.so (pam/) driven through libpam, as sshd and
 * OpenVPN's auth-pam plugin drive it: pam_start_confdir() with a private
 * service file naming the built module, a conversation function that
 * records what the user is told, against a real owcp-dispatcher (itest.h)
 * and a real device (libowcp-client, answering on a thread of its own).
 * Also a lying dispatcher (libmicrohttpd in this process) that serves
 * receipts for other bytes or from a forged CA, files with bad owners or
 * modes, an unmappable user, the exempt group, descriptor and thread
 * counts over many authentications, and pamtester with a service file in
 * /etc/pam.d (so the program must run as root, as the module demands of
 * its files anyway).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>
#include <security/pam_appl.h>

#include "itest.h"
#include "owcp/ca.h"
#include "owcp/client.h"
#include "owcp/keys.h"
#include "owcp/request.h"

#define PIN "4711"
#define REQUESTOR "access@example.com"
#define SERVICE "owcp-test"
#define RHOST "192.0.2.7"

/* ---- the lying dispatcher -------------------------------------------- */

enum lie {
  LIE_OTHER_BYTES, /* a genuine receipt of alice's, for another request */
  LIE_FORGED,      /* a receipt for the bytes sent, from a foreign CA */
  LIE_503          /* every operation: 503 */
};

struct fake {
  struct MHD_Daemon *daemon;
  pthread_mutex_t lock;
  enum lie lie;
  char *request; /* the XML of the last RD-Confirm */
  int confirms;
  const struct itest_client *alice;  /* genuine, real dispatcher's CA */
  const struct itest_client *forged; /* a CA of its own */
  char base[128];
};

struct body {
  char *data;
  size_t len;
};

struct fx {
  struct itest_env env;
  char token_file[PATH_MAX], client_ca[PATH_MAX], conf[PATH_MAX];
  char confdir[PATH_MAX], state[PATH_MAX];
  char host[256];
  struct owcp_client *device;
  struct itest_client alice; /* alice's second device, for genuine receipts */
  struct itest_client forged;
  struct fake fake;
};

/* The XML Request inside an RD-Confirm body, or NULL (caller frees). */
static char *request_of(const struct body *b)
{
  json_t *j = json_loadb(b->data != NULL ? b->data : "", b->len, 0, NULL);
  const char *xml = json_string_value(json_object_get(j, "Request"));
  char *copy = xml != NULL ? strdup(xml) : NULL;
  json_decref(j);
  return copy;
}

/* The answer of the lying dispatcher to op (caller frees), and its status. */
static char *fake_reply(struct fake *fk, const char *url, const struct body *b,
                        unsigned *status)
{
  json_t *j;
  if (fk->lie == LIE_503) {
    *status = 503;
    return strdup("{\"Status\":503,\"Text\":\"Service Unavailable\"}");
  }
  if (strstr(url, "/RD-Confirm") != NULL) {
    free(fk->request);
    fk->request = request_of(b);
    fk->confirms++;
    *status = 202;
    j = json_pack("{s:i,s:s,s:s,s:s}", "Status", 202, "Text", "Incomplete",
                  "Transaction", "tx-lie", "Expires", "2099-01-01T00:00:00Z");
  } else {
    const struct itest_client *c =
        fk->lie == LIE_FORGED ? fk->forged : fk->alice;
    char *other = itest_request_xml(REQUESTOR, "alice@example.com",
                                    "urn:pam:other", true, 0);
    const char *covered =
        fk->lie == LIE_FORGED && fk->request != NULL ? fk->request : other;
    char *b64 = itest_receipt_b64(c, "tx-lie", "Accept", NULL, covered);
    *status = 200;
    j = json_pack("{s:i,s:s,s:s,s:s,s:[s],s:s,s:s,s:s}", "Status", 200, "Text",
                  "Success", "Transaction", "tx-lie", "Response", "Accept",
                  "Verification", "PIN", "Client", c->id, "Responded",
                  "2026-01-01T00:00:00Z", "Receipt", b64);
    free(b64);
    free(other);
  }
  char *text = json_dumps(j, JSON_COMPACT);
  json_decref(j);
  return text;
}

static enum MHD_Result fake_answer(void *cls, struct MHD_Connection *con,
                                   const char *url, const char *method,
                                   const char *version, const char *data,
                                   size_t *data_size, void **con_cls)
{
  struct fake *fk = cls;
  struct body *b = *con_cls;
  (void)method;
  (void)version;
  if (b == NULL) {
    *con_cls = calloc(1, sizeof *b);
    return *con_cls != NULL ? MHD_YES : MHD_NO;
  }
  if (*data_size > 0) {
    char *grown = realloc(b->data, b->len + *data_size + 1);
    if (grown == NULL)
      return MHD_NO;
    memcpy(grown + b->len, data, *data_size);
    b->len += *data_size;
    grown[b->len] = '\0';
    b->data = grown;
    *data_size = 0;
    return MHD_YES;
  }
  unsigned status = 500;
  pthread_mutex_lock(&fk->lock);
  char *text = fake_reply(fk, url, b, &status);
  pthread_mutex_unlock(&fk->lock);
  if (text == NULL)
    return MHD_NO;
  struct MHD_Response *res = MHD_create_response_from_buffer(
      strlen(text), text, MHD_RESPMEM_MUST_FREE);
  MHD_add_response_header(res, "Content-Type", "application/json");
  enum MHD_Result rc = MHD_queue_response(con, status, res);
  MHD_destroy_response(res);
  return rc;
}

static void fake_done(void *cls, struct MHD_Connection *con, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
  struct body *b = *con_cls;
  (void)cls;
  (void)con;
  (void)toe;
  if (b != NULL) {
    free(b->data);
    free(b);
  }
  *con_cls = NULL;
}

static void fake_start(struct fx *f, enum lie lie)
{
  struct fake *fk = &f->fake;
  fk->lie = lie;
  fk->confirms = 0;
  fk->alice = &f->alice;
  fk->forged = &f->forged;
  fk->daemon =
      MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO, 0, NULL,
                       NULL, fake_answer, fk, MHD_OPTION_NOTIFY_COMPLETED,
                       fake_done, NULL, MHD_OPTION_END);
  assert_non_null(fk->daemon);
  const union MHD_DaemonInfo *info =
      MHD_get_daemon_info(fk->daemon, MHD_DAEMON_INFO_BIND_PORT);
  assert_non_null(info);
  snprintf(fk->base, sizeof fk->base, "http://127.0.0.1:%u/owcp/0.1",
           (unsigned)info->port);
}

static void fake_stop(struct fx *f)
{
  MHD_stop_daemon(f->fake.daemon);
  f->fake.daemon = NULL;
  free(f->fake.request);
  f->fake.request = NULL;
}

/* A client of a CA of its own: its receipts chain to nothing we trust. */
static void forged_client_init(struct itest_client *c)
{
  struct owcp_error err = {{0}};
  EVP_PKEY *ca_key = owcp_key_new(&err);
  assert_non_null(ca_key);
  X509 *ca = owcp_ca_new(ca_key, "forged client CA", &err);
  assert_non_null(ca);
  memset(c, 0, sizeof *c);
  snprintf(c->account, sizeof c->account, "alice@example.com");
  c->key = owcp_key_new(&err);
  assert_non_null(c->key);
  c->cert = owcp_ca_issue_client(ca, ca_key, c->key, "forged-client",
                                 "alice@example.com", 1, &err);
  assert_non_null(c->cert);
  c->id = strdup("forged-client");
  c->ca = ca;
  EVP_PKEY_free(ca_key);
}

/* ---- files ----------------------------------------------------------- */

static void write_file(const char *path, const char *text, mode_t mode)
{
  FILE *fp = fopen(path, "w");
  if (fp == NULL)
    itest_fail("%s: %s", path, strerror(errno));
  fputs(text, fp);
  assert_int_equal(fclose(fp), 0);
  assert_int_equal(chmod(path, mode), 0);
}

/* Writes the [pam] configuration: the real dispatcher (or `dispatcher`),
 * the pinned client CA, `timeout`, and `extra` lines; an `account` line
 * unless extra has one. */
static void write_conf(struct fx *f, const char *dispatcher, int timeout,
                       const char *extra)
{
  char text[3 * PATH_MAX + 512];
  snprintf(text, sizeof text,
           "# pam_owcp test configuration\n"
           "[pam]\n"
           "requestor = " REQUESTOR "\n"
           "token_file = %s\n"
           "dispatcher = %s\n"
           "insecure_http = yes\n"
           "client_ca = %s\n"
           "timeout = %d\n"
           "%s%s",
           f->token_file, dispatcher != NULL ? dispatcher : f->env.base,
           f->client_ca, timeout,
           strstr(extra, "account") == NULL ? "account = %u@example.com\n" : "",
           extra);
  write_file(f->conf, text, 0644);
}

/* ---- the device ------------------------------------------------------ */

/* Plays alice's phone: answers `count` requests from the requestor with
 * `answer`, each within 30 seconds; records the last summary it showed. */
struct device {
  struct fx *f;
  enum owcp_answer answer;
  int count, answered;
  char summary[512];
  char error[512];
  pthread_t thread;
};

/* The Summary text of request bytes (parsed as the device parses them). */
static void summary_of(const struct owcp_pending *p, char *out, size_t size)
{
  struct owcp_error err = {{0}};
  struct owcp_xml_validator *v = owcp_xml_validator_new(NULL, &err);
  struct owcp_request *req = NULL;
  out[0] = '\0';
  if (v != NULL &&
      owcp_request_parse(v, p->request, p->request_len, &req, &err) ==
          OWCP_XML_OK &&
      req->header.summary.count == 1 &&
      req->header.summary.spans[0].kind == OWCP_SPAN_TEXT)
    snprintf(out, size, "%s", req->header.summary.spans[0].text);
  owcp_request_free(req);
  owcp_xml_validator_free(v);
}

static int device_answer_one(struct device *d, double until)
{
  struct owcp_error err = {{0}};
  while (itest_now() < until) {
    struct owcp_pending_list list = {0};
    if (owcp_client_list(d->f->device, "alice@example.com", 2, &list, &err) !=
        0) {
      snprintf(d->error, sizeof d->error, "list: %s", err.msg);
      return -1;
    }
    if (list.count > 0) {
      enum owcp_answer sent;
      summary_of(&list.items[0], d->summary, sizeof d->summary);
      int rc = owcp_client_reply(d->f->device, "alice@example.com",
                                 &list.items[0], d->answer, PIN, &sent, &err);
      owcp_pending_list_free(&list);
      if (rc != 0)
        snprintf(d->error, sizeof d->error, "reply: %s", err.msg);
      return rc;
    }
    owcp_pending_list_free(&list);
  }
  snprintf(d->error, sizeof d->error, "no request arrived");
  return -1;
}

static void *device_main(void *arg)
{
  struct device *d = arg;
  for (int i = 0; i < d->count; i++) {
    if (device_answer_one(d, itest_now() + 30) != 0)
      break;
    d->answered++;
  }
  return NULL;
}

static void device_start(struct device *d, struct fx *f,
                         enum owcp_answer answer, int count)
{
  memset(d, 0, sizeof *d);
  d->f = f;
  d->answer = answer;
  d->count = count;
  assert_int_equal(pthread_create(&d->thread, NULL, device_main, d), 0);
}

static void device_join(struct device *d)
{
  assert_int_equal(pthread_join(d->thread, NULL), 0);
  if (d->answered != d->count)
    itest_fail("device answered %d of %d: %s", d->answered, d->count, d->error);
}

/* ---- libpam ---------------------------------------------------------- */

/* What the module told the user through the conversation. */
struct conv_log {
  char info[1024];
  int infos, prompts;
};

static int conv(int n, const struct pam_message **msg,
                struct pam_response **resp, void *arg)
{
  struct conv_log *log = arg;
  struct pam_response *r = calloc((size_t)n, sizeof *r);
  if (r == NULL)
    return PAM_BUF_ERR;
  for (int i = 0; i < n; i++) {
    if (msg[i]->msg_style == PAM_TEXT_INFO) {
      log->infos++;
      snprintf(log->info, sizeof log->info, "%s", msg[i]->msg);
    } else {
      log->prompts++;
    }
  }
  *resp = r;
  return PAM_SUCCESS;
}

/* One pam_start_confdir / pam_authenticate / pam_end; returns the result
 * of pam_authenticate. rhost NULL: no PAM_RHOST. */
static int authenticate(struct fx *f, const char *user, const char *rhost,
                        int flags, struct conv_log *log)
{
  struct conv_log ignored = {.infos = 0};
  struct pam_conv c = {conv, log != NULL ? log : &ignored};
  pam_handle_t *h = NULL;
  assert_int_equal(pam_start_confdir(SERVICE, user, &c, f->confdir, &h),
                   PAM_SUCCESS);
  if (rhost != NULL)
    assert_int_equal(pam_set_item(h, PAM_RHOST, rhost), PAM_SUCCESS);
  int rc = pam_authenticate(h, flags);
  pam_end(h, rc);
  return rc;
}

static long long transactions(struct fx *f)
{
  return itest_sql_count(&f->env, "SELECT count(*) FROM transactions");
}

/* ---- setup ----------------------------------------------------------- */

static void write_client_ca(struct fx *f)
{
  struct itest_http h = {0};
  itest_get(&f->env, "/owcp/0.1/CA", &h);
  ITEST_EXPECT(h, 200);
  snprintf(f->client_ca, sizeof f->client_ca, "%s/client-ca.pem",
           f->env.tmpdir);
  write_file(f->client_ca, h.body, 0644);
  itest_http_free(&h);
}

/* The private service file: the built module with config=conf. */
static void service_file(struct fx *f, const char *conf)
{
  char path[PATH_MAX + 32], text[2 * PATH_MAX + 128];
  snprintf(path, sizeof path, "%s/" SERVICE, f->confdir);
  snprintf(text, sizeof text,
           "auth required " PAM_OWCP_MODULE " config=%s\n"
           "account required " PAM_OWCP_MODULE "\n",
           conf);
  write_file(path, text, 0644);
}

static void write_service(struct fx *f)
{
  snprintf(f->confdir, sizeof f->confdir, "%s/pam.d", f->env.tmpdir);
  assert_int_equal(mkdir(f->confdir, 0755), 0);
  service_file(f, f->conf);
}

static void enrol_device(struct fx *f)
{
  struct owcp_error err = {{0}};
  snprintf(f->state, sizeof f->state, "%s/device", f->env.tmpdir);
  struct owcp_client_config ccfg = {.state_dir = f->state,
                                    .dispatcher = f->env.base,
                                    .allow_insecure_http = true};
  if (owcp_client_open(&ccfg, &f->device, &err) != 0)
    fail_msg("owcp_client_open: %s", err.msg);
  char *code = itest_code_issue(&f->env, "alice@example.com", 0);
  struct owcp_register_params reg = {.account = "alice@example.com",
                                     .description = "pam test phone",
                                     .code = code,
                                     .pin = PIN};
  if (owcp_client_register(f->device, &reg, &err) != 0)
    fail_msg("owcp_client_register: %s", err.msg);
  free(code);
}

static int setup(void **state)
{
  struct fx *f = calloc(1, sizeof *f);
  struct owcp_error err = {{0}};
  assert_non_null(f);
  *state = f;
  if (geteuid() != 0)
    fail_msg("test_pam must run as root (the module demands root-owned "
             "files, and pamtester needs /etc/pam.d)");
  pthread_mutex_init(&f->fake.lock, NULL);
  itest_env_init(&f->env, "pam");
  itest_account_add(&f->env, "alice@example.com");
  itest_account_add(&f->env, "daemon@example.com");
  char *token = itest_requestor_add(&f->env, REQUESTOR, 1000);
  snprintf(f->token_file, sizeof f->token_file, "%s/requestor.token",
           f->env.tmpdir);
  if (owcp_file_write_atomic(f->token_file, token, strlen(token), 0600, &err) !=
      0)
    fail_msg("%s", err.msg);
  free(token);
  itest_start(&f->env, NULL);
  write_client_ca(f);
  snprintf(f->conf, sizeof f->conf, "%s/pam.conf", f->env.tmpdir);
  write_service(f);
  enrol_device(f);
  itest_client_init(&f->alice, "alice@example.com");
  itest_client_enrol(&f->env, &f->alice);
  forged_client_init(&f->forged);
  assert_int_equal(gethostname(f->host, sizeof f->host), 0);
  return 0;
}

static int teardown(void **state)
{
  struct fx *f = *state;
  owcp_client_close(f->device);
  itest_client_free(&f->alice);
  itest_client_free(&f->forged);
  if (f->env.pid > 0)
    itest_stop(&f->env);
  itest_env_fini(&f->env);
  pthread_mutex_destroy(&f->fake.lock);
  free(f);
  return 0;
}

/* ---- tests ----------------------------------------------------------- */

/* Accept on the device: success, the user was told before the wait, the
 * device saw the default summary, and account/setcred succeed. */
static void test_accept(void **state)
{
  struct fx *f = *state;
  struct conv_log log = {.infos = 0};
  struct device d;
  char want[600];
  pam_handle_t *h = NULL;
  struct pam_conv c = {conv, &log};

  write_conf(f, NULL, 60, "pin = yes\n");
  device_start(&d, f, OWCP_ANSWER_ACCEPT, 1);
  assert_int_equal(pam_start_confdir(SERVICE, "alice", &c, f->confdir, &h),
                   PAM_SUCCESS);
  assert_int_equal(pam_set_item(h, PAM_RHOST, RHOST), PAM_SUCCESS);
  assert_int_equal(pam_authenticate(h, 0), PAM_SUCCESS);
  assert_int_equal(pam_acct_mgmt(h, 0), PAM_SUCCESS);
  assert_int_equal(pam_setcred(h, PAM_ESTABLISH_CRED), PAM_SUCCESS);
  pam_end(h, PAM_SUCCESS);
  device_join(&d);
  snprintf(want, sizeof want, "Log in to %s as alice from " RHOST "?", f->host);
  assert_string_equal(d.summary, want);
  assert_int_equal(log.infos, 1);
  assert_non_null(strstr(log.info, "Confirm on your device"));
  assert_non_null(strstr(log.info, want));
  assert_int_equal(log.prompts, 0);
}

/* Reject on the device: PAM_AUTH_ERR; PAM_SILENT keeps the module quiet. */
static void test_reject(void **state)
{
  struct fx *f = *state;
  struct conv_log log = {.infos = 0};
  struct device d;

  write_conf(f, NULL, 60, "");
  device_start(&d, f, OWCP_ANSWER_REJECT, 1);
  assert_int_equal(authenticate(f, "alice", RHOST, PAM_SILENT, &log),
                   PAM_AUTH_ERR);
  device_join(&d);
  assert_int_equal(log.infos, 0);
}

/* The summary template as the device sees it: every placeholder, %%, and
 * "unknown" without PAM_RHOST. */
static void test_summary_template(void **state)
{
  struct fx *f = *state;
  struct device d;
  char want[600];

  write_conf(f, NULL, 60, "summary = %s: %u on %h from %r (100%%)\n");
  device_start(&d, f, OWCP_ANSWER_ACCEPT, 1);
  assert_int_equal(authenticate(f, "alice", NULL, 0, NULL), PAM_SUCCESS);
  device_join(&d);
  snprintf(want, sizeof want, SERVICE ": alice on %s from unknown (100%%)",
           f->host);
  assert_string_equal(d.summary, want);
}

/* Nobody answers: failure once `timeout` has passed, not before. */
static void test_no_answer(void **state)
{
  struct fx *f = *state;
  write_conf(f, NULL, 5, "");
  double t0 = itest_now();
  assert_int_equal(authenticate(f, "alice", RHOST, 0, NULL), PAM_AUTH_ERR);
  double took = itest_now() - t0;
  assert_true(took >= 5.0);
  assert_true(took < 30.0);
}

/* A port nothing listens on. */
static unsigned closed_port(void)
{
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  int s = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(s >= 0);
  assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
  assert_int_equal(getsockname(s, (struct sockaddr *)&a, &len), 0);
  close(s);
  return ntohs(a.sin_port);
}

/* No dispatcher: PAM_AUTHINFO_UNAVAIL under secure, success under safe. */
static void test_dispatcher_down(void **state)
{
  struct fx *f = *state;
  char base[128];
  snprintf(base, sizeof base, "http://127.0.0.1:%u/owcp/0.1", closed_port());
  write_conf(f, base, 60, "");
  assert_int_equal(authenticate(f, "alice", RHOST, 0, NULL),
                   PAM_AUTHINFO_UNAVAIL);
  write_conf(f, base, 60, "failmode = secure\n");
  assert_int_equal(authenticate(f, "alice", RHOST, 0, NULL),
                   PAM_AUTHINFO_UNAVAIL);
  write_conf(f, base, 60, "failmode = safe\n");
  assert_int_equal(authenticate(f, "alice", RHOST, 0, NULL), PAM_SUCCESS);
}

/* A dispatcher answering 503 is unavailable too. */
static void test_dispatcher_503(void **state)
{
  struct fx *f = *state;
  fake_start(f, LIE_503);
  write_conf(f, f->fake.base, 60, "");
  assert_int_equal(authenticate(f, "alice", RHOST, 0, NULL),
                   PAM_AUTHINFO_UNAVAIL);
  write_conf(f, f->fake.base, 60, "failmode = safe\n");
  assert_int_equal(authenticate(f, "alice", RHOST, 0, NULL), PAM_SUCCESS);
  fake_stop(f);
}

/* A lying dispatcher's Accept never lets anyone in, not even under safe:
 * a genuine receipt for other bytes, and a receipt for the right bytes
 * from a client CA that is not the pinned one. */
static void test_lying_dispatcher(void **state)
{
  struct fx *f = *state;
  static const enum lie lies[] = {LIE_OTHER_BYTES, LIE_FORGED};
  static const char *const modes[] = {"", "failmode = safe\n"};
  for (size_t i = 0; i < 2; i++)
    for (size_t m = 0; m < 2; m++) {
      fake_start(f, lies[i]);
      write_conf(f, f->fake.base, 60, modes[m]);
      assert_int_equal(authenticate(f, "alice", RHOST, 0, NULL), PAM_AUTH_ERR);
      assert_int_equal(f->fake.confirms, 2); /* submitted, resubmitted */
      if (lies[i] == LIE_FORGED)
        assert_non_null(f->fake.request); /* the receipt covered it */
      fake_stop(f);
    }
}

/* Files anyone but root could change, a bad configuration: refused with
 * PAM_SERVICE_ERR, even under failmode=safe, and nothing is sent. */
static void test_bad_files(void **state)
{
  struct fx *f = *state;
  char missing[PATH_MAX + 16];
  long long before = transactions(f);

  write_conf(f, NULL, 60, "failmode = safe\n");
  assert_int_equal(chmod(f->token_file, 0640), 0);
  assert_int_equal(authenticate(f, "alice", RHOST, 0, NULL), PAM_SERVICE_ERR);
  assert_int_equal(chmod(f->token_file, 0600), 0);
  assert_int_equal(chown(f->token_file, 1, 1), 0);
  assert_int_equal(authenticate(f, "alice", RHOST, 0, NULL), PAM_SERVICE_ERR);
  assert_int_equal(chown(f->token_file, 0, 0), 0);

  assert_int_equal(chmod(f->conf, 0664), 0);
  assert_int_equal(authenticate(f, "alice", RHOST, 0, NULL), PAM_SERVICE_ERR);
  assert_int_equal(chmod(f->conf, 0644), 0);
  assert_int_equal(chmod(f->client_ca, 0666), 0);
  assert_int_equal(authenticate(f, "alice", RHOST, 0, NULL), PAM_SERVICE_ERR);
  assert_int_equal(chmod(f->client_ca, 0644), 0);

  write_conf(f, NULL, 60, "failmode = sometimes\n");
  assert_int_equal(authenticate(f, "alice", RHOST, 0, NULL), PAM_SERVICE_ERR);
  write_conf(f, NULL, 60, "account = %u@%u.example.com\n");
  assert_int_equal(authenticate(f, "alice", RHOST, 0, NULL), PAM_SERVICE_ERR);
  write_conf(f, NULL, 60, "summary = Log in as %x?\n");
  assert_int_equal(authenticate(f, "alice", RHOST, 0, NULL), PAM_SERVICE_ERR);
  write_conf(f, "http://192.0.2.1/owcp/0.1", 60, "");
  assert_int_equal(authenticate(f, "alice", RHOST, 0, NULL), PAM_SERVICE_ERR);

  /* A configuration file that is not there. */
  snprintf(missing, sizeof missing, "%s/absent.conf", f->env.tmpdir);
  service_file(f, missing);
  assert_int_equal(authenticate(f, "alice", RHOST, 0, NULL), PAM_SERVICE_ERR);
  service_file(f, f->conf);
  assert_int_equal(transactions(f), before);
}

/* A user no `account` value maps: PAM_USER_UNKNOWN without a request; an
 * account the dispatcher does not know (404): PAM_USER_UNKNOWN too. */
static void test_unmappable_user(void **state)
{
  struct fx *f = *state;
  long long before = transactions(f);
  struct device d;

  write_conf(f, NULL, 60,
             "account = alice -> alice@example.com\n"
             "account = ops-* -> *@ops.example.com\n");
  assert_int_equal(authenticate(f, "mallory", RHOST, 0, NULL),
                   PAM_USER_UNKNOWN);
  assert_int_equal(authenticate(f, "al\\ice", RHOST, 0, NULL),
                   PAM_USER_UNKNOWN);
  assert_int_equal(transactions(f), before);
  /* ops-bob maps to bob@ops.example.com, which the dispatcher lacks. */
  assert_int_equal(authenticate(f, "ops-bob", RHOST, 0, NULL),
                   PAM_USER_UNKNOWN);
  /* The first rule still maps alice (first match wins). */
  device_start(&d, f, OWCP_ANSWER_ACCEPT, 1);
  assert_int_equal(authenticate(f, "ALICE", RHOST, 0, NULL), PAM_SUCCESS);
  device_join(&d);
}

/* Members of exempt_group skip the confirmation; others do not. */
static void test_exempt_group(void **state)
{
  struct fx *f = *state;
  long long before = transactions(f);

  write_conf(f, NULL, 60, "exempt_group = root\n");
  assert_int_equal(authenticate(f, "root", RHOST, 0, NULL), PAM_SUCCESS);
  assert_int_equal(transactions(f), before);
  /* daemon is not in group root: asked (daemon@example.com has no
   * device, so nobody answers: deny after the timeout). */
  write_conf(f, NULL, 5, "exempt_group = root\n");
  assert_int_equal(authenticate(f, "daemon", RHOST, 0, NULL), PAM_AUTH_ERR);
  assert_int_equal(transactions(f), before + 1);
}

/* Entries of a /proc directory, without "." and "..". */
static int entries(const char *path)
{
  DIR *dir = opendir(path);
  int n = 0;
  assert_non_null(dir);
  for (struct dirent *e = readdir(dir); e != NULL; e = readdir(dir))
    if (e->d_name[0] != '.')
      n++;
  closedir(dir);
  return n;
}

/* Open descriptors, not counting the one that lists them. */
static int open_fds(void)
{
  return entries("/proc/self/fd") - 1;
}

static int threads(void)
{
  return entries("/proc/self/task");
}

/* Many authentications in one process (a handle per login, as OpenVPN's
 * plugin does, and many logins on one handle): no descriptor or thread
 * left once pam_authenticate returned or pam_end unloaded the module. */
static void test_many_no_leaks(void **state)
{
  struct fx *f = *state;
  struct device d;
  struct pam_conv c = {conv, NULL};
  struct conv_log log = {.infos = 0};
  pam_handle_t *h = NULL;

  write_conf(f, NULL, 60, "");
  /* Warm-up: the module and its libraries are mapped for good and the
   * device's own connection is open. */
  device_start(&d, f, OWCP_ANSWER_ACCEPT, 1);
  assert_int_equal(authenticate(f, "alice", RHOST, 0, NULL), PAM_SUCCESS);
  device_join(&d);
  int fds = open_fds();
  int tasks = threads();

  device_start(&d, f, OWCP_ANSWER_ACCEPT, 50);
  for (int i = 0; i < 25; i++)
    assert_int_equal(authenticate(f, "alice", RHOST, 0, NULL), PAM_SUCCESS);
  c.appdata_ptr = &log;
  assert_int_equal(pam_start_confdir(SERVICE, "alice", &c, f->confdir, &h),
                   PAM_SUCCESS);
  for (int i = 0; i < 25; i++) {
    assert_int_equal(pam_authenticate(h, 0), PAM_SUCCESS);
    /* after pam_authenticate returned, with the module still loaded */
    if (i == 24) {
      device_join(&d);
      assert_true(open_fds() <= fds);
      assert_int_equal(threads(), tasks);
    }
  }
  pam_end(h, PAM_SUCCESS);
  assert_true(open_fds() <= fds);
  assert_int_equal(threads(), tasks);
  assert_int_equal(log.infos, 25);
}

/* pamtester, an ordinary PAM application, with a service file in
 * /etc/pam.d: exit 0 on Accept, non-zero on Reject. */
static int run_pamtester(const char *service, const char *user)
{
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    if (PAM_HOST_PRELOAD[0] != '\0') {
      /* Sanitizer build: the uninstrumented pamtester loads an
       * instrumented module only with the sanitizer runtimes preloaded. */
      setenv("LD_PRELOAD", PAM_HOST_PRELOAD, 1);
      setenv("ASAN_OPTIONS", "verify_asan_link_order=0:detect_leaks=0", 1);
    }
    execlp("pamtester", "pamtester", "-v", service, user, "authenticate",
           (char *)NULL);
    _exit(127);
  }
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  return WEXITSTATUS(status);
}

static void test_pamtester(void **state)
{
  struct fx *f = *state;
  char service[64], path[128], text[2 * PATH_MAX + 256];
  struct device d;

  snprintf(service, sizeof service, "owcp-itest-%ld", (long)getpid());
  snprintf(path, sizeof path, "/etc/pam.d/%s", service);
  snprintf(text, sizeof text,
           "auth required " PAM_OWCP_MODULE " config=%s\n"
           "account required " PAM_OWCP_MODULE " config=%s\n",
           f->conf, f->conf);
  write_conf(f, NULL, 60, "");
  write_file(path, text, 0644);
  device_start(&d, f, OWCP_ANSWER_ACCEPT, 1);
  int accepted = run_pamtester(service, "alice");
  device_join(&d);
  device_start(&d, f, OWCP_ANSWER_REJECT, 1);
  int rejected = run_pamtester(service, "alice");
  device_join(&d);
  unlink(path);
  assert_int_equal(accepted, 0);
  assert_int_not_equal(rejected, 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_accept),
      cmocka_unit_test(test_reject),
      cmocka_unit_test(test_summary_template),
      cmocka_unit_test(test_no_answer),
      cmocka_unit_test(test_dispatcher_down),
      cmocka_unit_test(test_dispatcher_503),
      cmocka_unit_test(test_lying_dispatcher),
      cmocka_unit_test(test_bad_files),
      cmocka_unit_test(test_unmappable_user),
      cmocka_unit_test(test_exempt_group),
      cmocka_unit_test(test_many_no_leaks),
      cmocka_unit_test(test_pamtester),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
