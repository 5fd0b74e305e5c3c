/*
 * test_keystore.c — the client's key store and state directory: PIN-
 * encrypted device keys, wrong PINs counted and persisted, lockout after
 * the configured number, reset on success, 0700/0600 permissions, refusal
 * of directories and files others can read, and atomic replacement that
 * survives a crash between write and rename.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "owcp/ca.h"
#include "owcp/keys.h"
#include "owcp/receipt.h"
#include "state.h"
#include "testutil.h"

#define ACCOUNT "alice@example.com"
#define PIN "4711-secret"

struct fx {
  char dir[256];
};

static int setup(void **state)
{
  struct fx *f = calloc(1, sizeof *f);
  assert_non_null(f);
  assert_int_equal(testutil_tmpdir_make(f->dir, sizeof f->dir, "keystore"), 0);
  *state = f;
  return 0;
}

static int teardown(void **state)
{
  struct fx *f = *state;
  chmod(f->dir, 0700);
  int rc = testutil_tmpdir_remove(f->dir);
  free(f);
  return rc;
}

/* Saves one account whose key is pem (encrypted iff pin). */
static void save_account(const char *dir, const char *account, const char *pem,
                         bool pin, unsigned max_failures)
{
  struct owcp_state *st = NULL;
  struct owcp_error err = {{0}};
  struct owcp_account_state a = {
      .account = (char *)account,
      .description = "test phone",
      .client = "client-1",
      .token = "secret-token",
      .cert_b64 = "AA==",
      .ca_b64 = "AA==",
      .pin = pin,
      .key_pem = (char *)pem,
      .max_failures = max_failures,
  };

  if (owcp_state_load(dir, &st, &err) != 0)
    fail_msg("load: %s", err.msg);
  if (owcp_state_put(st, &a, &err) != 0 || owcp_state_save(dir, st, &err) != 0)
    fail_msg("save: %s", err.msg);
  owcp_state_free(st);
}

/* Creates a PIN-protected account and returns its key (caller frees). */
static EVP_PKEY *make_pin_account(const char *dir, unsigned max_failures)
{
  struct owcp_error err = {{0}};
  EVP_PKEY *key = NULL;
  char *pem = NULL;

  if (owcp_keystore_create(PIN, &key, &pem, &err) != 0)
    fail_msg("create: %s", err.msg);
  assert_non_null(strstr(pem, "BEGIN ENCRYPTED PRIVATE KEY"));
  save_account(dir, ACCOUNT, pem, true, max_failures);
  free(pem);
  return key;
}

static unsigned failures_of(const char *dir)
{
  struct owcp_state *st = NULL;
  struct owcp_error err = {{0}};

  if (owcp_state_load(dir, &st, &err) != 0)
    fail_msg("load: %s", err.msg);
  struct owcp_account_state *a = owcp_state_find(st, ACCOUNT);
  assert_non_null(a);
  unsigned n = a->failures;
  owcp_state_free(st);
  return n;
}

static bool key_present(const char *dir)
{
  struct owcp_state *st = NULL;
  struct owcp_error err = {{0}};

  if (owcp_state_load(dir, &st, &err) != 0)
    fail_msg("load: %s", err.msg);
  bool present = owcp_state_find(st, ACCOUNT)->key_pem != NULL;
  owcp_state_free(st);
  return present;
}

/* The state file itself never holds the key in the clear. */
static void assert_no_plain_key(const char *dir)
{
  char path[512];
  unsigned char *text = NULL;
  size_t len = 0;
  struct owcp_error err = {{0}};

  snprintf(path, sizeof path, "%s/state.json", dir);
  assert_int_equal(owcp_file_read(path, 1 << 20, &text, &len, &err), 0);
  assert_null(strstr((char *)text, "BEGIN PRIVATE KEY"));
  assert_non_null(strstr((char *)text, "BEGIN ENCRYPTED PRIVATE KEY"));
  free(text);
}

static void test_create_and_sign_with_right_pin(void **state)
{
  struct fx *f = *state;
  struct owcp_error err = {{0}};
  EVP_PKEY *orig = make_pin_account(f->dir, 5);
  EVP_PKEY *key = NULL;

  assert_no_plain_key(f->dir);
  assert_int_equal(owcp_keystore_unlock(f->dir, ACCOUNT, PIN, &key, &err), 0);
  assert_int_equal(EVP_PKEY_eq(orig, key), 1);

  /* The unlocked key signs a receipt that verifies under an issuing CA. */
  EVP_PKEY *ca_key = owcp_key_new(&err);
  X509 *ca = owcp_ca_new(ca_key, "test CA", &err);
  X509 *cert =
      owcp_ca_issue_client(ca, ca_key, key, "client-1", ACCOUNT, 1, &err);
  assert_non_null(cert);
  char *methods[] = {"PIN"};
  const char *xml = "<Request/>";
  struct owcp_receipt r = {.transaction = "tx1",
                           .account = ACCOUNT,
                           .client = "client-1",
                           .response = "Accept",
                           .verification = methods,
                           .verification_count = 1,
                           .request = (char *)xml,
                           .request_len = strlen(xml)};
  unsigned char *der = NULL;
  size_t der_len = 0;
  struct owcp_receipt *back = NULL;
  if (owcp_receipt_create(&r, cert, key, &der, &der_len, &err) != 0)
    fail_msg("sign: %s", err.msg);
  if (owcp_receipt_verify(der, der_len, ca, cert, &back, &err) != 0)
    fail_msg("verify: %s", err.msg);
  assert_int_equal(owcp_receipt_matches(back, "tx1", ACCOUNT, "client-1",
                                        "Accept", xml, strlen(xml), &err),
                   0);
  owcp_receipt_free(back);
  free(der);
  X509_free(cert);
  X509_free(ca);
  EVP_PKEY_free(ca_key);
  EVP_PKEY_free(key);
  EVP_PKEY_free(orig);
}

static void test_wrong_pin_counted_then_reset(void **state)
{
  struct fx *f = *state;
  struct owcp_error err = {{0}};
  EVP_PKEY *orig = make_pin_account(f->dir, 5);
  EVP_PKEY *key = NULL;

  assert_int_equal(owcp_keystore_unlock(f->dir, ACCOUNT, "0000", &key, &err),
                   OWCP_ERR_BAD_PIN);
  assert_null(key);
  assert_non_null(strstr(err.msg, "wrong PIN"));
  assert_non_null(strstr(err.msg, "1 of 5"));
  assert_int_equal(failures_of(f->dir), 1);
  assert_int_equal(owcp_keystore_unlock(f->dir, ACCOUNT, "1111", &key, &err),
                   OWCP_ERR_BAD_PIN);
  assert_int_equal(failures_of(f->dir), 2);

  /* No PIN at all is refused without spending an attempt. */
  assert_int_equal(owcp_keystore_unlock(f->dir, ACCOUNT, NULL, &key, &err), -1);
  assert_non_null(strstr(err.msg, "needs its PIN"));
  assert_int_equal(failures_of(f->dir), 2);

  assert_int_equal(owcp_keystore_unlock(f->dir, ACCOUNT, PIN, &key, &err), 0);
  assert_int_equal(EVP_PKEY_eq(orig, key), 1);
  assert_int_equal(failures_of(f->dir), 0);
  EVP_PKEY_free(key);
  EVP_PKEY_free(orig);
}

static void test_lockout_after_n_failures(void **state)
{
  struct fx *f = *state;
  struct owcp_error err = {{0}};
  EVP_PKEY *orig = make_pin_account(f->dir, 3);
  EVP_PKEY *key = NULL;

  assert_int_equal(owcp_keystore_unlock(f->dir, ACCOUNT, "1", &key, &err),
                   OWCP_ERR_BAD_PIN);
  assert_int_equal(owcp_keystore_unlock(f->dir, ACCOUNT, "2", &key, &err),
                   OWCP_ERR_BAD_PIN);
  assert_int_equal(owcp_keystore_unlock(f->dir, ACCOUNT, "3", &key, &err),
                   OWCP_KEYSTORE_LOCKED);
  assert_non_null(strstr(err.msg, "locked after 3 wrong PINs"));
  /* The encrypted key is gone: resetting the counter by hand cannot help. */
  assert_false(key_present(f->dir));
  assert_int_equal(owcp_keystore_unlock(f->dir, ACCOUNT, PIN, &key, &err),
                   OWCP_KEYSTORE_LOCKED);
  assert_null(key);
  EVP_PKEY_free(orig);
}

static void test_account_without_pin(void **state)
{
  struct fx *f = *state;
  struct owcp_error err = {{0}};
  EVP_PKEY *orig = NULL, *key = NULL;
  char *pem = NULL;

  assert_int_equal(owcp_keystore_create(NULL, &orig, &pem, &err), 0);
  assert_non_null(strstr(pem, "BEGIN PRIVATE KEY"));
  save_account(f->dir, ACCOUNT, pem, false, 5);
  assert_int_equal(owcp_keystore_unlock(f->dir, ACCOUNT, NULL, &key, &err), 0);
  assert_int_equal(EVP_PKEY_eq(orig, key), 1);
  EVP_PKEY_free(key);
  EVP_PKEY_free(orig);
  free(pem);

  /* An empty PIN is not a PIN. */
  assert_int_equal(owcp_keystore_create("", &orig, &pem, &err), -1);
  assert_null(orig);
  assert_non_null(strstr(err.msg, "empty"));

  assert_int_equal(
      owcp_keystore_unlock(f->dir, "bob@example.com", NULL, &key, &err), -1);
  assert_non_null(strstr(err.msg, "not registered"));
}

static mode_t mode_of(const char *path)
{
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  return st.st_mode & 07777;
}

static void test_permissions(void **state)
{
  struct fx *f = *state;
  char dir[300], path[400];
  struct owcp_error err = {{0}};
  int fd = -1;

  /* A state directory that does not exist yet is created 0700. */
  snprintf(dir, sizeof dir, "%s/new", f->dir);
  umask(022);
  assert_int_equal(owcp_state_lock(dir, &fd, &err), 0);
  owcp_state_unlock(fd);
  assert_int_equal(mode_of(dir), 0700);
  snprintf(path, sizeof path, "%s/state.lock", dir);
  assert_int_equal(mode_of(path), 0600);

  save_account(dir, ACCOUNT, "pem", true, 5);
  snprintf(path, sizeof path, "%s/state.json", dir);
  assert_int_equal(mode_of(path), 0600);
  assert_int_equal(testutil_tmpdir_remove(dir), 0);
}

static void test_refuses_open_directory_and_file(void **state)
{
  struct fx *f = *state;
  struct owcp_state *st = NULL;
  struct owcp_error err = {{0}};
  char path[400];

  save_account(f->dir, ACCOUNT, "pem", true, 5);
  assert_int_equal(chmod(f->dir, 0755), 0);
  assert_int_equal(owcp_state_load(f->dir, &st, &err), -1);
  assert_null(st);
  assert_non_null(strstr(err.msg, "state directory"));
  assert_non_null(strstr(err.msg, "0755"));
  assert_non_null(strstr(err.msg, "group and other"));
  /* Nothing is written into such a directory either. */
  assert_int_equal(owcp_state_save(f->dir, &(struct owcp_state){0}, &err), -1);

  assert_int_equal(chmod(f->dir, 0700), 0);
  snprintf(path, sizeof path, "%s/state.json", f->dir);
  assert_int_equal(chmod(path, 0640), 0);
  assert_int_equal(owcp_state_load(f->dir, &st, &err), -1);
  assert_non_null(strstr(err.msg, "state file"));
  assert_non_null(strstr(err.msg, "0640"));

  /* A symlink in place of the state file is refused as well. */
  assert_int_equal(unlink(path), 0);
  assert_int_equal(symlink("/etc/passwd", path), 0);
  assert_int_equal(owcp_state_load(f->dir, &st, &err), -1);
  assert_non_null(strstr(err.msg, "not a regular file"));
}

static void write_raw(const char *dir, const char *text)
{
  char path[400];
  struct owcp_error err = {{0}};

  snprintf(path, sizeof path, "%s/state.json", dir);
  assert_int_equal(owcp_file_write_atomic(path, text, strlen(text), 0600, &err),
                   0);
}

static void test_malformed_state_named(void **state)
{
  struct fx *f = *state;
  struct owcp_state *st = NULL;
  struct owcp_error err = {{0}};

  write_raw(f->dir, "{\"Version\":1,\"Accounts\":[{\"Account\":1}]}");
  assert_int_equal(owcp_state_load(f->dir, &st, &err), -1);
  assert_non_null(strstr(err.msg, "'Account' must be a string"));

  write_raw(f->dir, "{\"Version\":2,\"Accounts\":[]}");
  assert_int_equal(owcp_state_load(f->dir, &st, &err), -1);
  assert_non_null(strstr(err.msg, "'Version'"));

  write_raw(f->dir, "{\"Version\":1,\"Accounts\":[]");
  assert_int_equal(owcp_state_load(f->dir, &st, &err), -1);
  assert_non_null(strstr(err.msg, "not valid JSON"));

  write_raw(f->dir, "{\"Version\":1,\"Version\":1,\"Accounts\":[]}");
  assert_int_equal(owcp_state_load(f->dir, &st, &err), -1);
}

/* A crash after the temporary file was written but before the rename
 * leaves a stray temporary file; the old state must still load. */
static void test_stray_temp_file_ignored(void **state)
{
  struct fx *f = *state;
  struct owcp_state *st = NULL;
  struct owcp_error err = {{0}};
  char path[400];

  save_account(f->dir, ACCOUNT, "old-pem", true, 5);
  snprintf(path, sizeof path, "%s/state.json.tmp-crashed", f->dir);
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, "{\"Version\":1,\"Acc", 17), 17);
  close(fd);

  assert_int_equal(owcp_state_load(f->dir, &st, &err), 0);
  assert_string_equal(owcp_state_find(st, ACCOUNT)->key_pem, "old-pem");
  owcp_state_free(st);
  save_account(f->dir, ACCOUNT, "new-pem", true, 5);
  assert_int_equal(owcp_state_load(f->dir, &st, &err), 0);
  assert_string_equal(owcp_state_find(st, ACCOUNT)->key_pem, "new-pem");
  owcp_state_free(st);
  /* The next save (under the lock) tidies the leftover away. */
  assert_int_equal(access(path, F_OK), -1);
}

/* A child rewrites a large state in a loop and is killed at arbitrary
 * moments; every time, the file is one complete version or the other. */
static void test_kill_during_write(void **state)
{
  struct fx *f = *state;
  char *big = malloc(200000);

  assert_non_null(big);
  memset(big, 'k', 199999);
  big[199999] = '\0';
  save_account(f->dir, ACCOUNT, "v0", true, 5);
  for (int round = 0; round < 20; round++) {
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
      for (;;) {
        big[0] = (char)('a' + round % 26);
        save_account(f->dir, ACCOUNT, big, true, 5);
        save_account(f->dir, ACCOUNT, "small", true, 5);
      }
    }
    usleep(2000 + (useconds_t)(round * 1500));
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);

    struct owcp_state *st = NULL;
    struct owcp_error err = {{0}};
    if (owcp_state_load(f->dir, &st, &err) != 0)
      fail_msg("round %d: state unreadable after kill: %s", round, err.msg);
    const char *pem = owcp_state_find(st, ACCOUNT)->key_pem;
    assert_true(strcmp(pem, "v0") == 0 || strcmp(pem, "small") == 0 ||
                strlen(pem) == 199999);
    owcp_state_free(st);
  }
  free(big);
}

/* A symbolic link in place of the state directory is refused, even one that
 * points at a private directory of ours: the state must not be redirected. */
static void test_refuses_symlinked_dir_and_loose_lock(void **state)
{
  struct fx *f = *state;
  struct owcp_state *st = NULL;
  struct owcp_error err = {{0}};
  char link[300];
  char lock[300];
  int fd = -1;

  save_account(f->dir, ACCOUNT, "pem", true, 5);
  snprintf(link, sizeof link, "%s.link", f->dir);
  unlink(link);
  assert_int_equal(symlink(f->dir, link), 0);
  assert_int_equal(owcp_state_load(link, &st, &err), -1);
  assert_null(st);
  assert_non_null(strstr(err.msg, "symbolic links are refused"));
  assert_int_equal(owcp_state_lock(link, &fd, &err), -1);
  assert_int_equal(fd, -1);
  unlink(link);

  /* A lock file others can open would let them hold the lock (and stall
   * every PIN attempt); it is refused like the state file. */
  snprintf(lock, sizeof lock, "%s/state.lock", f->dir);
  assert_int_equal(owcp_state_lock(f->dir, &fd, &err), 0);
  owcp_state_unlock(fd);
  assert_int_equal(chmod(lock, 0644), 0);
  assert_int_equal(owcp_state_lock(f->dir, &fd, &err), -1);
  assert_non_null(strstr(err.msg, "lock file"));
  assert_non_null(strstr(err.msg, "0644"));
  assert_int_equal(unlink(lock), 0);
  assert_int_equal(mkfifo(lock, 0600), 0);
  assert_int_equal(owcp_state_lock(f->dir, &fd, &err), -1);
  assert_non_null(strstr(err.msg, "not a regular file"));
  assert_int_equal(unlink(lock), 0);
}

/* Several processes guessing at once: every attempt is counted (the
 * check-decrypt-update is one critical section) and the key locks at the
 * limit; none of them can slip an extra guess past it. */
static void test_concurrent_wrong_pins_all_counted(void **state)
{
  struct fx *f = *state;
  EVP_PKEY *orig = make_pin_account(f->dir, 4);
  pid_t kids[6];
  int bad = 0;
  int locked = 0;

  for (size_t i = 0; i < 6; i++) {
    kids[i] = fork();
    assert_true(kids[i] >= 0);
    if (kids[i] == 0) {
      struct owcp_error err = {{0}};
      EVP_PKEY *key = NULL;
      int rc = owcp_keystore_unlock(f->dir, ACCOUNT, "0000", &key, &err);
      _exit(rc == OWCP_ERR_BAD_PIN ? 10 : rc == OWCP_KEYSTORE_LOCKED ? 11 : 12);
    }
  }
  for (size_t i = 0; i < 6; i++) {
    int ws = 0;
    assert_int_equal(waitpid(kids[i], &ws, 0), kids[i]);
    assert_true(WIFEXITED(ws));
    bad += WEXITSTATUS(ws) == 10;
    locked += WEXITSTATUS(ws) == 11;
  }
  /* 3 wrong PINs below the limit, the 4th locks, the rest find it locked. */
  assert_int_equal(bad, 3);
  assert_int_equal(locked, 3);
  assert_false(key_present(f->dir));
  EVP_PKEY_free(orig);
}

/* Killing the process while scrypt runs does not undo the attempt: the
 * counter was saved before the decryption started. */
static void test_kill_during_attempt_still_counted(void **state)
{
  struct fx *f = *state;
  EVP_PKEY *orig = make_pin_account(f->dir, 5);

  for (int round = 0; round < 3; round++) {
    pid_t kid = fork();
    assert_true(kid >= 0);
    if (kid == 0) {
      struct owcp_error err = {{0}};
      EVP_PKEY *key = NULL;
      (void)owcp_keystore_unlock(f->dir, ACCOUNT, "0000", &key, &err);
      _exit(0);
    }
    /* Wait until the attempt is on disk, then kill before it can finish
     * its bookkeeping (or after: either way it must count). */
    for (int spin = 0; spin < 2000 && failures_of(f->dir) <= (unsigned)round;
         spin++)
      usleep(500);
    kill(kid, SIGKILL);
    assert_int_equal(waitpid(kid, NULL, 0), kid);
    assert_int_equal(failures_of(f->dir), (unsigned)round + 1);
  }
  EVP_PKEY_free(orig);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_create_and_sign_with_right_pin,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_wrong_pin_counted_then_reset, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_lockout_after_n_failures, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_account_without_pin, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_permissions, setup, teardown),
      cmocka_unit_test_setup_teardown(test_refuses_open_directory_and_file,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_malformed_state_named, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_stray_temp_file_ignored, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_kill_during_write, setup, teardown),
      cmocka_unit_test_setup_teardown(test_refuses_symlinked_dir_and_loose_lock,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_concurrent_wrong_pins_all_counted,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_kill_during_attempt_still_counted,
                                      setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
