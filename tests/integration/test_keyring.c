/*
 * test_keyring.c — the dispatcher's key directory (dispatcher/keyring.c):
 * keys are created once with safe permissions, reloaded identically, refused
 * when their permissions are unsafe, and created exactly once when several
 * processes start together.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "keyring.h"
#include "owcp/ca.h"
#include "owcp/keys.h"
#include "testutil.h"

#define CHILDREN 6

struct fixture {
  char root[64]; /* testutil_tmpdir_make directory */
  char dir[128]; /* key dir inside it, absent at the start */
};

static int setup(void **state)
{
  struct fixture *f = calloc(1, sizeof *f);

  if (f == NULL)
    return -1;
  umask(022);
  if (testutil_tmpdir_make(f->root, sizeof f->root, "keys") != 0) {
    free(f);
    return -1;
  }
  snprintf(f->dir, sizeof f->dir, "%s/keys", f->root);
  *state = f;
  return 0;
}

static int teardown(void **state)
{
  struct fixture *f = *state;
  int rc;

  chmod(f->dir, 0700);
  rc = testutil_tmpdir_remove(f->root);
  free(f);
  return rc;
}

static void path_in(const struct fixture *f, const char *name, char *out,
                    size_t size)
{
  snprintf(out, size, "%s/%s", f->dir, name);
}

static unsigned file_mode(const char *path)
{
  struct stat st;

  assert_int_equal(lstat(path, &st), 0);
  return (unsigned)(st.st_mode & 07777);
}

static void fingerprint(X509 *cert, char out[OWCP_FINGERPRINT_LEN])
{
  struct owcp_error err = {{0}};

  assert_int_equal(owcp_cert_fingerprint(cert, out, &err), 0);
}

static void load_ok(const struct fixture *f, struct dispatcher_keys *k)
{
  struct owcp_error err = {{0}};
  int rc = keyring_load_or_create(f->dir, "example.com", k, &err);

  if (rc != 0)
    fail_msg("keyring_load_or_create: %s", err.msg);
}

static void load_fails(const struct fixture *f, const char *needle)
{
  struct dispatcher_keys k;
  struct owcp_error err = {{0}};

  assert_int_equal(keyring_load_or_create(f->dir, "example.com", &k, &err), -1);
  if (strstr(err.msg, needle) == NULL)
    fail_msg("error '%s' does not mention '%s'", err.msg, needle);
  assert_null(k.ca_key);
  assert_null(k.pem_bundle);
}

static void test_created_with_safe_modes(void **state)
{
  struct fixture *f = *state;
  struct dispatcher_keys k;
  char path[256];

  load_ok(f, &k);
  assert_int_equal(file_mode(f->dir), 0700);
  path_in(f, "client-ca.key", path, sizeof path);
  assert_int_equal(file_mode(path), 0600);
  path_in(f, "signing.key", path, sizeof path);
  assert_int_equal(file_mode(path), 0600);
  path_in(f, "client-ca.pem", path, sizeof path);
  assert_int_equal(file_mode(path) & 0022, 0);
  path_in(f, "signing.pem", path, sizeof path);
  assert_int_equal(file_mode(path) & 0022, 0);
  assert_non_null(k.ca_key);
  assert_non_null(k.ca_cert);
  assert_non_null(k.sign_key);
  assert_non_null(k.sign_cert);
  keyring_free(&k);
  assert_null(k.ca_cert);
}

static void test_certificates_are_usable(void **state)
{
  struct fixture *f = *state;
  struct dispatcher_keys k;
  struct owcp_error err = {{0}};
  X509 *from_der, *first_pem, *second_pem;
  const char *second;
  char fp_a[OWCP_FINGERPRINT_LEN], fp_b[OWCP_FINGERPRINT_LEN];
  char *hdr;
  static const char body[] = "{\"Operation\":\"DR-Complete\"}";
  char name[256];

  load_ok(f, &k);
  /* ca_der is the CA certificate, and the bundle is CA then signing cert */
  from_der = owcp_cert_from_der(k.ca_der, k.ca_der_len, &err);
  assert_non_null(from_der);
  assert_int_equal(X509_cmp(from_der, k.ca_cert), 0);
  first_pem = owcp_cert_from_pem(k.pem_bundle, strlen(k.pem_bundle), &err);
  assert_non_null(first_pem);
  assert_int_equal(X509_cmp(first_pem, k.ca_cert), 0);
  second = strstr(k.pem_bundle + 1, "-----BEGIN CERTIFICATE-----");
  assert_non_null(second);
  second_pem = owcp_cert_from_pem(second, strlen(second), &err);
  assert_non_null(second_pem);
  fingerprint(second_pem, fp_a);
  fingerprint(k.sign_cert, fp_b);
  assert_string_equal(fp_a, fp_b);
  assert_null(strstr(k.pem_bundle, "PRIVATE KEY"));
  /* the CA subject names the domain */
  X509_NAME_oneline(X509_get_subject_name(k.ca_cert), name, sizeof name);
  assert_non_null(strstr(name, "OWCP client CA example.com"));
  /* the signing certificate is not issued by the client CA */
  assert_int_equal(owcp_cert_verify_chain(k.sign_cert, k.ca_cert, &err), -1);
  /* and signs DR-Complete bodies that verify against it */
  hdr = owcp_sig_header_make(k.sign_key, k.sign_cert, body, strlen(body), &err);
  assert_non_null(hdr);
  assert_int_equal(
      owcp_sig_header_verify(hdr, body, strlen(body), second_pem, &err), 0);
  assert_int_equal(
      owcp_sig_header_verify(hdr, body, strlen(body) - 1, second_pem, &err),
      -1);
  free(hdr);
  X509_free(second_pem);
  X509_free(first_pem);
  X509_free(from_der);
  keyring_free(&k);
}

static void test_reload_is_identical(void **state)
{
  struct fixture *f = *state;
  struct dispatcher_keys a, b;
  char fa[OWCP_FINGERPRINT_LEN], fb[OWCP_FINGERPRINT_LEN];

  load_ok(f, &a);
  load_ok(f, &b);
  assert_int_equal(a.ca_der_len, b.ca_der_len);
  assert_memory_equal(a.ca_der, b.ca_der, a.ca_der_len);
  fingerprint(a.sign_cert, fa);
  fingerprint(b.sign_cert, fb);
  assert_string_equal(fa, fb);
  assert_int_equal(EVP_PKEY_eq(a.ca_key, b.ca_key), 1);
  assert_int_equal(EVP_PKEY_eq(a.sign_key, b.sign_key), 1);
  assert_string_equal(a.pem_bundle, b.pem_bundle);
  /* the two keys are distinct */
  assert_int_not_equal(EVP_PKEY_eq(a.ca_key, a.sign_key), 1);
  keyring_free(&a);
  keyring_free(&b);
}

static void test_refuses_readable_key(void **state)
{
  struct fixture *f = *state;
  struct dispatcher_keys k;
  char path[256];

  load_ok(f, &k);
  keyring_free(&k);
  path_in(f, "signing.key", path, sizeof path);
  assert_int_equal(chmod(path, 0644), 0);
  load_fails(f, "0644");
  load_fails(f, "signing.key");
  assert_int_equal(chmod(path, 0640), 0);
  load_fails(f, "wider than 0600");
  assert_int_equal(chmod(path, 0400), 0);
  load_ok(f, &k); /* narrower than 0600 is fine */
  keyring_free(&k);
}

static void test_refuses_writable_dir(void **state)
{
  struct fixture *f = *state;
  struct dispatcher_keys k;

  load_ok(f, &k);
  keyring_free(&k);
  assert_int_equal(chmod(f->dir, 0770), 0);
  load_fails(f, "group- or world-writable");
  assert_int_equal(chmod(f->dir, 0703), 0);
  load_fails(f, "writable");
  assert_int_equal(chmod(f->dir, 0755), 0);
  load_ok(f, &k); /* readable by others is allowed, like ~/.ssh */
  keyring_free(&k);
}

static void test_refuses_symlinked_key(void **state)
{
  struct fixture *f = *state;
  struct dispatcher_keys k;
  char path[256], target[256];

  load_ok(f, &k);
  keyring_free(&k);
  path_in(f, "client-ca.key", path, sizeof path);
  snprintf(target, sizeof target, "%s/elsewhere.key", f->root);
  assert_int_equal(rename(path, target), 0);
  assert_int_equal(symlink(target, path), 0);
  load_fails(f, "symlink");
  unlink(target);
}

static void test_cert_without_key_refused(void **state)
{
  struct fixture *f = *state;
  struct dispatcher_keys k;
  char path[256];

  load_ok(f, &k);
  keyring_free(&k);
  path_in(f, "client-ca.key", path, sizeof path);
  assert_int_equal(unlink(path), 0);
  load_fails(f, "missing");
}

static void test_missing_cert_recreated_from_key(void **state)
{
  struct fixture *f = *state;
  struct dispatcher_keys a, b;
  char path[256];

  load_ok(f, &a);
  path_in(f, "signing.pem", path, sizeof path);
  assert_int_equal(unlink(path), 0);
  load_ok(f, &b);
  assert_int_equal(EVP_PKEY_eq(a.sign_key, b.sign_key), 1);
  assert_int_equal(X509_check_private_key(b.sign_cert, a.sign_key), 1);
  keyring_free(&a);
  keyring_free(&b);
}

static void test_mismatched_cert_refused(void **state)
{
  struct fixture *f = *state;
  struct dispatcher_keys k;
  char from[256], to[256];

  load_ok(f, &k);
  keyring_free(&k);
  /* put the CA certificate where the signing certificate belongs */
  path_in(f, "client-ca.pem", from, sizeof from);
  path_in(f, "signing.pem", to, sizeof to);
  assert_int_equal(rename(from, to), 0);
  path_in(f, "client-ca.key", from, sizeof from);
  path_in(f, "client-ca.pem", to, sizeof to);
  /* recreate a CA cert for the CA key so only the signing pair is wrong */
  {
    struct owcp_error err = {{0}};
    EVP_PKEY *key = owcp_key_load_pem(from, &err);
    X509 *cert = key ? owcp_ca_new(key, "x", &err) : NULL;

    assert_non_null(cert);
    assert_int_equal(owcp_cert_save_pem(to, cert, &err), 0);
    X509_free(cert);
    EVP_PKEY_free(key);
  }
  load_fails(f, "does not match");
}

static void test_bad_arguments(void **state)
{
  struct fixture *f = *state;
  struct dispatcher_keys k;
  struct owcp_error err = {{0}};
  char long_domain[300];

  assert_int_equal(keyring_load_or_create("", "example.com", &k, &err), -1);
  assert_non_null(strstr(err.msg, "key directory"));
  memset(long_domain, 'a', sizeof long_domain - 1);
  long_domain[sizeof long_domain - 1] = '\0';
  assert_int_equal(keyring_load_or_create(f->dir, long_domain, &k, &err), -1);
  assert_non_null(strstr(err.msg, "too long"));
  /* a regular file where the directory should be */
  assert_int_equal(mkdir(f->dir, 0700), 0);
  rmdir(f->dir);
  {
    FILE *fp = fopen(f->dir, "w");

    assert_non_null(fp);
    fclose(fp);
  }
  assert_int_equal(keyring_load_or_create(f->dir, "example.com", &k, &err), -1);
  assert_non_null(strstr(err.msg, "not a directory"));
  unlink(f->dir);
}

/* Child: load or create, then report the CA and signing fingerprints. */
static void child_load(const struct fixture *f, int fd)
{
  struct dispatcher_keys k;
  struct owcp_error err = {{0}};
  char line[2 * OWCP_FINGERPRINT_LEN + 2];
  char a[OWCP_FINGERPRINT_LEN], b[OWCP_FINGERPRINT_LEN];

  if (keyring_load_or_create(f->dir, "example.com", &k, &err) != 0 ||
      owcp_cert_fingerprint(k.ca_cert, a, &err) != 0 ||
      owcp_cert_fingerprint(k.sign_cert, b, &err) != 0)
    _exit(1);
  snprintf(line, sizeof line, "%s%s\n", a, b);
  if (write(fd, line, strlen(line)) != (ssize_t)strlen(line))
    _exit(2);
  keyring_free(&k);
  _exit(0);
}

static void test_concurrent_creation_makes_one_key(void **state)
{
  struct fixture *f = *state;
  struct dispatcher_keys k;
  char expect[2 * OWCP_FINGERPRINT_LEN + 2];
  char got[CHILDREN][2 * OWCP_FINGERPRINT_LEN + 1];
  char a[OWCP_FINGERPRINT_LEN], b[OWCP_FINGERPRINT_LEN];
  int fds[CHILDREN][2];
  pid_t pids[CHILDREN];
  DIR *d;
  struct dirent *e;
  int files = 0;

  for (int i = 0; i < CHILDREN; i++) {
    assert_int_equal(pipe(fds[i]), 0);
    pids[i] = fork();
    assert_true(pids[i] >= 0);
    if (pids[i] == 0) {
      close(fds[i][0]);
      child_load(f, fds[i][1]);
    }
    close(fds[i][1]);
  }
  for (int i = 0; i < CHILDREN; i++) {
    int status;
    ssize_t n = read(fds[i][0], got[i], (size_t)2 * OWCP_FINGERPRINT_LEN);

    assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(n, 2 * (OWCP_FINGERPRINT_LEN - 1) + 1);
    got[i][n] = '\0';
    close(fds[i][0]);
  }
  load_ok(f, &k);
  fingerprint(k.ca_cert, a);
  fingerprint(k.sign_cert, b);
  snprintf(expect, sizeof expect, "%s%s\n", a, b);
  for (int i = 0; i < CHILDREN; i++)
    assert_string_equal(got[i], expect);
  keyring_free(&k);
  /* exactly the four files and the lock: no leftover temporaries */
  d = opendir(f->dir);
  assert_non_null(d);
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] != '.' || strcmp(e->d_name, ".lock") == 0)
      files++;
  closedir(d);
  assert_int_equal(files, 5);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_created_with_safe_modes, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_certificates_are_usable, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_reload_is_identical, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_refuses_readable_key, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_refuses_writable_dir, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_refuses_symlinked_key, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_cert_without_key_refused, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_missing_cert_recreated_from_key,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_mismatched_cert_refused, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
      cmocka_unit_test_setup_teardown(test_concurrent_creation_makes_one_key,
                                      setup, teardown),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
