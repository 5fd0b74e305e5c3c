/*
 * test_radius_freeradius.c — the bridge's RADIUS client against a real
 * FreeRADIUS 3.2.1 started here on loopback (design/enrollment-interop.md
 * §5): a copy of /etc/freeradius/3.0 whose only virtual server listens on
 * 127.0.0.1 at a free port, one client with require_message_authenticator
 * (so FreeRADIUS drops any request of ours without a valid
 * Message-Authenticator), reject_delay 0, replies signed with a
 * Message-Authenticator, and three users: an Accept user whose password is
 * PIN + OTP, a Challenge user, and wrong passwords for Reject.
 *
 * Run as root, FreeRADIUS reads its configuration as root and then drops
 * to the freerad user (radiusd.conf user/group); as another user the copy
 * loses those two lines, since only root can switch users.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
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
#include <unistd.h>

#include "owcp/util.h"
#include "radius.h"
#include "radius_itest.h"
#include "testutil.h"

#define SECRET "owcp-radius-itest-secret"
#define ALICE "EXAMPLE\\alice"
#define ALICE_PIN "4711"
#define ALICE_OTP "123456"
#define CAROL "EXAMPLE\\carol"
#define CAROL_OTP "000111"
#define TIMEOUT_MS 300

struct freeradius {
  char dir[512];   /* temporary directory */
  char raddb[600]; /* the configuration copy */
  char log[600];   /* FreeRADIUS -X output */
  unsigned short port;
  pid_t pid;
};

/* Setup may not assert (cmocka): these helpers say what failed on stderr
 * and return -1. */
static int write_text(const char *dir, const char *name, const char *text)
{
  char path[1024];
  struct owcp_error err;

  (void)snprintf(path, sizeof path, "%s/%s", dir, name);
  if (owcp_file_write_atomic(path, text, strlen(text), 0600, &err) != 0) {
    fprintf(stderr, "%s\n", err.msg);
    return -1;
  }
  return 0;
}

/* Replaces the first `from` in the file dir/name by `to`. */
static int edit_text(const char *dir, const char *name, const char *from,
                     const char *to)
{
  char path[1024];
  unsigned char *data = NULL;
  size_t len = 0;
  struct owcp_error err;

  (void)snprintf(path, sizeof path, "%s/%s", dir, name);
  if (owcp_file_read(path, (size_t)1 << 20, &data, &len, &err) != 0) {
    fprintf(stderr, "%s\n", err.msg);
    return -1;
  }
  const char *at = strstr((char *)data, from);
  size_t out_len = len - strlen(from) + strlen(to);
  char *out = at != NULL ? malloc(out_len + 1) : NULL;
  int rc = -1;
  if (out != NULL) {
    (void)snprintf(out, out_len + 1, "%.*s%s%s", (int)(at - (char *)data),
                   (char *)data, to, at + strlen(from));
    rc = owcp_file_write_atomic(path, out, out_len, 0600, &err);
  }
  if (rc != 0)
    fprintf(stderr, "cannot change '%s' in %s\n", from, path);
  free(out);
  free(data);
  return rc;
}

static int remove_file(const char *dir, const char *name)
{
  char path[1024];

  (void)snprintf(path, sizeof path, "%s/%s", dir, name);
  if (unlink(path) != 0) {
    fprintf(stderr, "cannot remove %s: %s\n", path, strerror(errno));
    return -1;
  }
  return 0;
}

/* The one virtual server: PAP against the users file, every reply signed
 * (FreeRADIUS 3.2.1 predates the BlastRADIUS fixes and signs a reply only
 * when asked to). The packaged default also listens on *, accounting and
 * IPv6, and needs the eap module; none of that is wanted here. */
static int configure_site(const struct freeradius *fr)
{
  char site[1024];

  (void)snprintf(site, sizeof site,
                 "server default {\n"
                 "  listen {\n"
                 "    type = auth\n"
                 "    ipaddr = 127.0.0.1\n"
                 "    port = %u\n"
                 "  }\n"
                 "  authorize {\n"
                 "    files\n"
                 "    pap\n"
                 "    update reply {\n"
                 "      Message-Authenticator := 0x00\n"
                 "    }\n"
                 "  }\n"
                 "  authenticate {\n"
                 "    Auth-Type PAP {\n"
                 "      pap\n"
                 "    }\n"
                 "  }\n"
                 "  post-auth {\n"
                 "  }\n"
                 "}\n",
                 fr->port);
  if (remove_file(fr->raddb, "sites-enabled/inner-tunnel") != 0 ||
      remove_file(fr->raddb, "sites-enabled/default") != 0 ||
      remove_file(fr->raddb, "mods-enabled/eap") != 0)
    return -1;
  return write_text(fr->raddb, "sites-enabled/default", site);
}

/* FreeRADIUS started as root loads its modules after dropping to the
 * freerad user: the copy must be readable by that user (files written
 * here are 0600 root). Started as anyone else, it cannot switch users, so
 * the copy loses the user/group lines and stays with its owner. */
static int own_files(const struct freeradius *fr)
{
  const char *chown_argv[] = {"chown", "-R", "freerad:freerad", fr->raddb,
                              NULL};

  if (getuid() != 0)
    return edit_text(fr->raddb, "radiusd.conf", "user = freerad", "#") != 0 ||
                   edit_text(fr->raddb, "radiusd.conf", "group = freerad",
                             "#") != 0
               ? -1
               : 0;
  if (chmod(fr->dir, 0711) != 0 || testutil_exec(chown_argv, NULL) != 0) {
    fprintf(stderr, "cannot hand %s to the freerad user\n", fr->raddb);
    return -1;
  }
  return 0;
}

static int configure(const struct freeradius *fr)
{
  const char *copy[] = {"cp", "-a", "/etc/freeradius/3.0/.", fr->raddb, NULL};

  if (mkdir(fr->raddb, 0700) != 0 || testutil_exec(copy, NULL) != 0) {
    fprintf(stderr, "cannot copy /etc/freeradius/3.0 to %s\n", fr->raddb);
    return -1;
  }
  if (configure_site(fr) != 0 ||
      write_text(fr->raddb, "clients.conf",
                 "client localhost {\n"
                 "  ipaddr = 127.0.0.1\n"
                 "  secret = " SECRET "\n"
                 "  require_message_authenticator = yes\n"
                 "}\n") != 0 ||
      /* Single-quoted names: a double-quoted one with an escaped backslash
       * did not match in 3.2.1 (interop notes). */
      write_text(fr->raddb, "mods-config/files/authorize",
                 "'" ALICE "' Cleartext-Password := \"" ALICE_PIN ALICE_OTP
                 "\"\n"
                 "\tReply-Message = \"welcome alice\"\n"
                 "'" CAROL "' Cleartext-Password := \"" CAROL_OTP "\", "
                 "Response-Packet-Type := Access-Challenge\n"
                 "\tReply-Message = \"enter the next code\", "
                 "State = 0x6368616c6c656e67652d31\n") != 0 ||
      edit_text(fr->raddb, "radiusd.conf", "reject_delay = 1",
                "reject_delay = 0") != 0)
    return -1;
  return own_files(fr);
}

static bool log_says_ready(const struct freeradius *fr)
{
  unsigned char *data = NULL;
  size_t len = 0;

  if (owcp_file_read(fr->log, (size_t)16 << 20, &data, &len, NULL) != 0)
    return false;
  bool ready = strstr((char *)data, "Ready to process requests") != NULL;
  free(data);
  return ready;
}

/* Copies the end of FreeRADIUS's output to stderr: the test's directory
 * is gone by the time anyone could read the log. */
static void log_tail(const struct freeradius *fr)
{
  unsigned char *data = NULL;
  size_t len = 0;

  if (owcp_file_read(fr->log, (size_t)16 << 20, &data, &len, NULL) != 0)
    return;
  size_t from = len > 3000 ? len - 3000 : 0;
  fprintf(stderr, "--- end of %s\n%s\n---\n", fr->log, (char *)data + from);
  free(data);
}

/* Starts `freeradius -X` with its output in fr->log and waits (at most
 * 20 s) for "Ready to process requests". */
static int start(struct freeradius *fr)
{
  fr->pid = fork();
  if (fr->pid < 0)
    return -1;
  if (fr->pid == 0) {
    int fd = open(fr->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0)
      _exit(127);
    execlp("freeradius", "freeradius", "-X", "-d", fr->raddb, "-l", "stdout",
           (char *)NULL);
    _exit(127);
  }
  for (int i = 0; i < 200; i++) {
    if (log_says_ready(fr))
      return 0;
    if (waitpid(fr->pid, NULL, WNOHANG) == fr->pid) {
      fr->pid = 0;
      fprintf(stderr, "freeradius exited during start-up\n");
      log_tail(fr);
      return -1;
    }
    (void)usleep(100 * 1000);
  }
  fprintf(stderr, "freeradius not ready after 20 s\n");
  log_tail(fr);
  return -1;
}

static int setup(void **state)
{
  struct freeradius *fr = calloc(1, sizeof *fr);

  if (fr == NULL ||
      testutil_tmpdir_make(fr->dir, sizeof fr->dir, "radius") != 0) {
    free(fr);
    return -1;
  }
  *state = fr;
  (void)snprintf(fr->raddb, sizeof fr->raddb, "%s/raddb", fr->dir);
  (void)snprintf(fr->log, sizeof fr->log, "%s/freeradius.log", fr->dir);
  fr->port = radius_itest_free_port();
  if (fr->port == 0 || configure(fr) != 0 || start(fr) != 0)
    return -1;
  return 0;
}

static int teardown(void **state)
{
  struct freeradius *fr = *state;

  if (fr == NULL)
    return 0;
  if (fr->pid > 0) {
    (void)kill(fr->pid, SIGTERM);
    (void)waitpid(fr->pid, NULL, 0);
  }
  (void)testutil_tmpdir_remove(fr->dir);
  free(fr);
  return 0;
}

/* radius_pap against the given ports; asserts that it returns 0. */
static void ask(const unsigned short *ports, size_t count, const char *secret,
                const char *user, const char *password,
                struct radius_result *out)
{
  struct radius_config cfg;
  struct radius_server servers[2];
  struct owcp_error err = {{0}};

  radius_itest_config(&cfg, servers, ports, count, secret, TIMEOUT_MS, 1);
  if (radius_pap(&cfg, user, password, out, &err) != 0)
    fail_msg("radius_pap: %s", err.msg);
}

static void test_accept_with_pin_prefix(void **state)
{
  struct freeradius *fr = *state;
  struct radius_result r;

  ask(&fr->port, 1, SECRET, ALICE, ALICE_PIN ALICE_OTP, &r);
  assert_string_equal(radius_outcome_name(r.outcome), "ACCEPT");
  assert_true(r.reply.has_message_authenticator);
  assert_string_equal(r.reply.reply_message, "welcome alice");
  assert_int_equal(r.dropped, 0);
  /* FreeRADIUS decoded exactly PIN + OTP from the hidden User-Password,
   * and matched the user name with its backslash. */
  testutil_assert_file_contains(fr->log,
                                "User-Password = \"" ALICE_PIN ALICE_OTP "\"");
  testutil_assert_file_contains(fr->log, "User-Name = \"EXAMPLE\\\\alice\"");
}

static void test_reject(void **state)
{
  struct freeradius *fr = *state;
  struct radius_result r;

  /* The OTP alone, without the PIN prefix, is a wrong password. */
  ask(&fr->port, 1, SECRET, ALICE, ALICE_OTP, &r);
  assert_string_equal(radius_outcome_name(r.outcome), "REJECT");
  assert_true(r.reply.has_message_authenticator);
  ask(&fr->port, 1, SECRET, ALICE, ALICE_PIN "654321", &r);
  assert_string_equal(radius_outcome_name(r.outcome), "REJECT");
  /* An unknown user too. */
  ask(&fr->port, 1, SECRET, "EXAMPLE\\mallory", ALICE_PIN ALICE_OTP, &r);
  assert_string_equal(radius_outcome_name(r.outcome), "REJECT");
}

static void test_challenge(void **state)
{
  struct freeradius *fr = *state;
  struct radius_result r;

  ask(&fr->port, 1, SECRET, CAROL, CAROL_OTP, &r);
  assert_string_equal(radius_outcome_name(r.outcome), "CHALLENGE");
  assert_string_equal(r.reply.reply_message, "enter the next code");
  assert_int_equal(r.reply.state_len, 11);
  assert_memory_equal(r.reply.state, "challenge-1", 11);
}

static void test_wrong_secret_no_answer(void **state)
{
  struct freeradius *fr = *state;
  struct radius_result r;

  /* FreeRADIUS drops the request (its Message-Authenticator does not
   * verify); a reply, were one sent, would not verify here either. */
  ask(&fr->port, 1, "not-the-secret", ALICE, ALICE_PIN ALICE_OTP, &r);
  assert_string_equal(radius_outcome_name(r.outcome), "NO_ANSWER");
  assert_non_null(strstr(r.diagnostics, "no valid answer"));
}

static void test_dead_port_within_timeout(void **state)
{
  unsigned short dead = radius_itest_free_port();
  struct radius_result r;

  (void)state;
  assert_int_not_equal(dead, 0);
  long long start_ms = radius_itest_now_ms();
  ask(&dead, 1, SECRET, ALICE, ALICE_PIN ALICE_OTP, &r);
  long long took = radius_itest_now_ms() - start_ms;
  assert_string_equal(radius_outcome_name(r.outcome), "NO_ANSWER");
  /* two tries (retries = 1) of TIMEOUT_MS each */
  assert_true(took >= 2LL * TIMEOUT_MS);
  assert_true(took < 2LL * TIMEOUT_MS + 250);
}

static void test_failover_to_second_server(void **state)
{
  struct freeradius *fr = *state;
  unsigned short ports[2] = {radius_itest_free_port(), fr->port};
  struct radius_result r;
  char dead_note[64];

  assert_int_not_equal(ports[0], 0);
  long long start_ms = radius_itest_now_ms();
  ask(ports, 2, SECRET, ALICE, ALICE_PIN ALICE_OTP, &r);
  long long took = radius_itest_now_ms() - start_ms;
  assert_string_equal(radius_outcome_name(r.outcome), "ACCEPT");
  assert_int_equal(r.server_index, 1);
  (void)snprintf(dead_note, sizeof dead_note, "127.0.0.1:%u: no valid answer",
                 ports[0]);
  assert_non_null(strstr(r.diagnostics, dead_note));
  assert_true(took >= 2LL * TIMEOUT_MS); /* the first server had its tries */
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_accept_with_pin_prefix),
      cmocka_unit_test(test_reject),
      cmocka_unit_test(test_challenge),
      cmocka_unit_test(test_wrong_secret_no_answer),
      cmocka_unit_test(test_dead_port_within_timeout),
      cmocka_unit_test(test_failover_to_second_server),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
