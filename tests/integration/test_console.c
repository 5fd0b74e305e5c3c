/*
 * test_console.c — the audit console (owcp-admin serve, issue 16) against
 * a real dispatcher with traffic: this program makes accepted, rejected,
 * expired, cancelled and hostile transactions with the itest harness
 * (requestor and enrolled client devices, one with a hostile
 * description), tampers with one stored receipt, makes an administrator
 * with `owcp-admin passwd`, starts `owcp-admin serve` on loopback and runs
 * console_check.py, which checks the console over HTTP and in headless
 * Chromium (screenshots kept in the build tree, console-artefacts/).
 *
 * Usage: test_console CHECK_SCRIPT ARTEFACT_DIR (under scripts/with-pg.sh).
 */
#define _GNU_SOURCE /* asprintf */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "itest.h"
#include "owcp/util.h"

static const char *check_script, *artefacts;

/* Hostile text planted in requests and device descriptions. */
#define HOSTILE_SUMMARY                                                        \
  "&lt;script&gt;window.pwned=1&lt;/script&gt; &lt;img src=x "                 \
  "onerror=\"window.pwned=2\"&gt; javascript:window.pwned=3 "                  \
  "evil\xe2\x80\xae"                                                           \
  "txt.exe"
/* The dispatcher refuses bidi controls in a Description; the override is
 * added in the database afterwards (as if stored before that rule). */
#define HOSTILE_DESCRIPTION                                                    \
  "<img src=x onerror=\"window.pwned=4\"><script>window.pwned=5</script>"

struct fx {
  struct itest_env env;
  char *token;
  struct itest_client alice, mallory;
  json_t *ids; /* what console_check.py needs */
  pid_t console;
};

static char *xml_rich(const char *id)
{
  static const char fmt[] =
      "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
      "<Request xmlns=\"http://schema.comodo.com/2011/owcp/0.1\">"
      "<Header identifier=\"%s\" type=\"Payment\"><From>access@example.com"
      "</From><To>alice@example.com</To><Verification>PIN</Verification>"
      "<Summary>Pay <B>ACME Corp</B> <Money currency=\"EUR\" "
      "amount=\"1234.50\"/>?</Summary></Header><Body><P>Invoice <I>42</I> "
      "<U>due today</U></P><Table><TH><TD>Item</TD><TD>Price</TD></TH>"
      "<TR><TD>Widget</TD><TD>9.99</TD></TR></Table>"
      "<Barcode width=\"16\" height=\"2\" data=\"////AA==\"/></Body>"
      "</Request>";
  char *out = NULL;

  assert_true(asprintf(&out, fmt, id) > 0);
  return out;
}

static char *xml_hostile(const char *id)
{
  static const char fmt[] =
      "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
      "<Request xmlns=\"http://schema.comodo.com/2011/owcp/0.1\">"
      "<Header identifier=\"%s\" type=\"Access\"><From>access@example.com"
      "</From><To>alice@example.com</To><Summary>" HOSTILE_SUMMARY
      "</Summary></Header><Body><P>&lt;a href=\"javascript:window.pwned=6\""
      "&gt;click&lt;/a&gt;</P></Body></Request>";
  char *out = NULL;

  assert_true(asprintf(&out, fmt, id) > 0);
  return out;
}

/* Enrols c with a description of our choosing. */
static void enrol_described(struct itest_env *e, struct itest_client *c,
                            const char *description)
{
  char *code = itest_code_issue(e, c->account, 0);
  char *csr = owcp_base64_encode(c->csr, c->csr_len);
  json_t *p = json_pack("{s:s, s:s, s:s, s:s}", "Account", c->account,
                        "Description", description, "CSR", csr, "Code", code);
  struct itest_http h;

  assert_non_null(p);
  itest_post(e, "CD-Register", NULL, p, &h);
  ITEST_EXPECT(h, 200);
  itest_client_adopt(c, &h);
  itest_http_free(&h);
  json_decref(p);
  free(csr);
  free(code);
}

/* Confirms xml, lets client answer it with response; the transaction. */
static char *answered(struct fx *f, const struct itest_client *c,
                      const char *xml, const char *response)
{
  char *tx = itest_confirm_ok(&f->env, f->token, xml, 0);
  struct itest_http h;

  itest_reply(&f->env, c, tx, response, NULL, xml, &h);
  ITEST_EXPECT(h, 200);
  itest_http_free(&h);
  return tx;
}

static void put_id(struct fx *f, const char *key, const char *value)
{
  json_object_set_new(f->ids, key, json_string(value));
}

/* The traffic: one transaction of each kind. */
static void make_traffic(struct fx *f)
{
  char *xml, *tx;
  struct itest_http h;
  json_t *p;
  char sql[256];

  xml = xml_rich("urn:console:accepted");
  tx = answered(f, &f->alice, xml, "Accept");
  put_id(f, "accepted", tx);
  free(tx);
  free(xml);

  xml = itest_request_xml("access@example.com", "alice@example.com",
                          "urn:console:rejected", true, 0);
  tx = answered(f, &f->alice, xml, "Reject");
  put_id(f, "rejected", tx);
  free(tx);
  free(xml);

  xml = xml_hostile("urn:console:hostile");
  tx = answered(f, &f->mallory, xml, "Accept");
  put_id(f, "hostile", tx);
  free(tx);
  free(xml);

  /* Answered and verified once, then its stored receipt altered: the
   * signed content's "Accept" becomes "accept". */
  xml = itest_request_xml("access@example.com", "alice@example.com",
                          "urn:console:tampered", true, 0);
  tx = answered(f, &f->alice, xml, "Accept");
  put_id(f, "tampered", tx);
  snprintf(sql, sizeof sql,
           "WITH u AS (UPDATE transactions SET receipt = set_byte(receipt, "
           "position('\"Accept\"'::bytea IN receipt), 97) WHERE id = '%s' "
           "AND position('\"Accept\"'::bytea IN receipt) > 0 RETURNING 1) "
           "SELECT count(*) FROM u",
           tx);
  assert_int_equal(itest_sql_count(&f->env, sql), 1);
  free(tx);
  free(xml);

  xml = itest_request_xml("access@example.com", "alice@example.com",
                          "urn:console:cancelled", true, 0);
  tx = itest_confirm_ok(&f->env, f->token, xml, 0);
  p = json_pack("{s:s}", "Transaction", tx);
  itest_post(&f->env, "RD-Final", f->token, p, &h);
  ITEST_EXPECT(h, 408);
  itest_http_free(&h);
  json_decref(p);
  put_id(f, "cancelled", tx);
  free(tx);
  free(xml);

  xml = itest_request_xml("access@example.com", "alice@example.com",
                          "urn:console:expired", true, 0);
  tx = itest_confirm_ok(&f->env, f->token, xml, 1);
  put_id(f, "expired", tx);
  for (double end = itest_now() + 20; itest_now() < end;) {
    if (itest_sql_count1(&f->env,
                         "SELECT count(*) FROM transactions WHERE id = $1 "
                         "AND state = 'expired'",
                         tx) == 1)
      break;
    usleep(200 * 1000);
  }
  assert_int_equal(itest_sql_count1(&f->env,
                                    "SELECT count(*) FROM transactions WHERE "
                                    "id = $1 AND state = 'expired'",
                                    tx),
                   1);
  free(tx);
  free(xml);
}

/* Runs argv (no shell) with stdin_text on its standard input and its
 * standard output into out_path (NULL: inherited); its exit status. */
static int run(char *const argv[], const char *stdin_text, const char *out_path)
{
  int in[2], status = -1;
  pid_t pid;

  assert_int_equal(pipe(in), 0);
  pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    dup2(in[0], STDIN_FILENO);
    close(in[0]);
    close(in[1]);
    if (out_path != NULL && freopen(out_path, "w", stdout) == NULL)
      _exit(126);
    execvp(argv[0], argv);
    _exit(127);
  }
  close(in[0]);
  if (stdin_text != NULL)
    assert_true(write(in[1], stdin_text, strlen(stdin_text)) ==
                (ssize_t)strlen(stdin_text));
  close(in[1]);
  assert_int_equal(waitpid(pid, &status, 0), pid);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* owcp-admin passwd NAME with the password on stdin: the NAME:HASH line. */
static void make_users_file(const char *path)
{
  char *const argv[] = {OWCP_ADMIN_BIN, "passwd", "auditor", NULL};
  char line[512];
  FILE *out;

  assert_int_equal(run(argv, "correct horse battery\n", path), 0);
  out = fopen(path, "r");
  assert_non_null(out);
  assert_true(fgets(line, sizeof line, out) != NULL);
  fclose(out);
  assert_int_equal(strncmp(line, "auditor:$y$", 11), 0);
}

static void start_console(struct fx *f, const char *users, const char *ready)
{
  char conf[PATH_MAX];
  FILE *c;

  snprintf(conf, sizeof conf, "%s/console.conf", f->env.tmpdir);
  c = fopen(conf, "w");
  assert_non_null(c);
  fprintf(c,
          "[dispatcher]\ndb = %s\nlisten = 127.0.0.1:0\ndomain = "
          "example.com\nkey_dir = %s\ninsecure_http = yes\n\n[admin]\n"
          "admin_users_file = %s\n",
          f->env.conninfo, f->env.keydir, users);
  fclose(c);
  f->console = fork();
  assert_true(f->console >= 0);
  if (f->console == 0) {
    execl(OWCP_ADMIN_BIN, "owcp-admin", "serve", "--config", conf, "--listen",
          "127.0.0.1:0", "--insecure-http", "--ready-file", ready,
          (char *)NULL);
    _exit(127);
  }
  for (double end = itest_now() + 20; itest_now() < end;) {
    if (access(ready, F_OK) == 0)
      return;
    usleep(100 * 1000);
  }
  itest_fail("owcp-admin serve did not start");
}

static int setup(void **state)
{
  struct fx *f = calloc(1, sizeof *f);
  static const char *const extra[] = {"--log-head-interval", "1", NULL};

  assert_non_null(f);
  *state = f;
  itest_env_init(&f->env, "console");
  itest_account_add(&f->env, "alice@example.com");
  itest_account_add(&f->env, "bob@example.com");
  f->token = itest_requestor_add(&f->env, "access@example.com", 0);
  itest_start(&f->env, extra);
  itest_client_init(&f->alice, "alice@example.com");
  itest_client_enrol(&f->env, &f->alice);
  itest_client_init(&f->mallory, "alice@example.com");
  enrol_described(&f->env, &f->mallory, HOSTILE_DESCRIPTION);
  assert_int_equal(
      itest_sql_count1(&f->env,
                       "WITH u AS (UPDATE clients SET description = "
                       "description || U&'\\202Ephone' WHERE id = $1 "
                       "RETURNING 1) SELECT count(*) FROM u",
                       f->mallory.id),
      1);
  f->ids = json_object();
  return 0;
}

static int teardown(void **state)
{
  struct fx *f = *state;

  if (f->console > 0) {
    kill(f->console, SIGTERM);
    waitpid(f->console, NULL, 0);
  }
  if (f->env.pid > 0)
    itest_stop(&f->env);
  itest_client_free(&f->alice);
  itest_client_free(&f->mallory);
  json_decref(f->ids);
  free(f->token);
  itest_env_fini(&f->env);
  free(f);
  return 0;
}

static void test_console(void **state)
{
  struct fx *f = *state;
  char users[PATH_MAX], ready[PATH_MAX], ids[PATH_MAX];

  make_traffic(f);
  snprintf(users, sizeof users, "%s/admins", f->env.tmpdir);
  snprintf(ready, sizeof ready, "%s/console.ready", f->env.tmpdir);
  snprintf(ids, sizeof ids, "%s/ids.json", f->env.tmpdir);
  make_users_file(users);
  start_console(f, users, ready);
  json_object_set_new(f->ids, "db", json_string(f->env.conninfo));
  assert_int_equal(json_dump_file(f->ids, ids, 0), 0);
  {
    char *const argv[] = {
        "python3", (char *)check_script, "--ready",         ready, "--ids",
        ids,       "--artefacts",        (char *)artefacts, NULL};
    assert_int_equal(run(argv, NULL, NULL), 0);
  }
}

int main(int argc, char **argv)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_console, setup, teardown)};

  if (argc != 3) {
    fprintf(stderr, "usage: test_console CHECK_SCRIPT ARTEFACT_DIR\n");
    return 2;
  }
  check_script = argv[1];
  artefacts = argv[2];
  return cmocka_run_group_tests(tests, NULL, NULL);
}
