/*
 * keyring.c — loads the dispatcher's client CA and DR-Complete signing key
 * from the key directory, creating whatever is missing.
 *
 * Permission checks follow ssh's rule: a private key anyone but its owner
 * could read, or a directory anyone else could write into (and so swap
 * files in), is refused rather than silently used, because either would let
 * a local user forge receipts' trust anchor or DR-Complete signatures.
 */
#include "keyring.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "owcp/ca.h"
#include "owcp/keys.h"

#define KEYRING_PATH_MAX 4096

/* One key and the certificate made for it, as stored in the directory. */
struct key_pair_files {
  const char *key_name;
  const char *cert_name;
};

static const struct key_pair_files CA_FILES = {"client-ca.key",
                                               "client-ca.pem"};
static const struct key_pair_files SIGN_FILES = {"signing.key", "signing.pem"};

static int join_path(char *out, const char *dir, const char *name,
                     struct owcp_error *err)
{
  int n = snprintf(out, KEYRING_PATH_MAX, "%s/%s", dir, name);

  if (n < 0 || n >= KEYRING_PATH_MAX) {
    owcp_error_set(err, "key directory path '%s' is too long", dir);
    return -1;
  }
  return 0;
}

/* Creates dir (0700) when absent and refuses one that another user could
 * write into or that belongs to someone else. */
static int check_dir(const char *dir, struct owcp_error *err)
{
  struct stat st;

  if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
    owcp_error_set(err, "cannot create key directory '%s': %s", dir,
                   strerror(errno));
    return -1;
  }
  if (stat(dir, &st) != 0) {
    owcp_error_set(err, "cannot inspect key directory '%s': %s", dir,
                   strerror(errno));
    return -1;
  }
  if (!S_ISDIR(st.st_mode)) {
    owcp_error_set(err, "key directory '%s' is not a directory", dir);
    return -1;
  }
  if (st.st_uid != geteuid()) {
    owcp_error_set(err, "key directory '%s' is owned by uid %ld, not by us",
                   dir, (long)st.st_uid);
    return -1;
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    owcp_error_set(err,
                   "key directory '%s' is group- or world-writable (mode "
                   "%04o); refusing to use it (chmod 700 it)",
                   dir, (unsigned)(st.st_mode & 07777));
    return -1;
  }
  return 0;
}

/* Takes the directory's exclusive creation lock; returns the descriptor
 * (closing it releases the lock) or -1. */
static int lock_dir(const char *dir, struct owcp_error *err)
{
  char path[KEYRING_PATH_MAX];
  int fd;

  if (join_path(path, dir, ".lock", err) != 0)
    return -1;
  fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    owcp_error_set(err, "cannot open lock file '%s': %s", path,
                   strerror(errno));
    return -1;
  }
  while (flock(fd, LOCK_EX) != 0) {
    if (errno != EINTR) {
      owcp_error_set(err, "cannot lock '%s': %s", path, strerror(errno));
      close(fd);
      return -1;
    }
  }
  return fd;
}

/* *exists tells whether path is present; a symlink or non-regular file is
 * an error so that nobody can point a key name at another file. */
static int file_exists(const char *path, bool *exists, struct owcp_error *err)
{
  struct stat st;

  *exists = false;
  if (lstat(path, &st) != 0) {
    if (errno == ENOENT)
      return 0;
    owcp_error_set(err, "cannot inspect '%s': %s", path, strerror(errno));
    return -1;
  }
  if (!S_ISREG(st.st_mode)) {
    owcp_error_set(err, "'%s' is not a regular file (symlinks are refused)",
                   path);
    return -1;
  }
  *exists = true;
  return 0;
}

/* Refuses a private key file that group or others may access, or that
 * another user owns (an attacker-supplied key would be trusted). */
static int check_key_file(const char *path, struct owcp_error *err)
{
  struct stat st;

  if (lstat(path, &st) != 0) {
    owcp_error_set(err, "cannot inspect '%s': %s", path, strerror(errno));
    return -1;
  }
  if (!S_ISREG(st.st_mode)) {
    owcp_error_set(err, "'%s' is not a regular file (symlinks are refused)",
                   path);
    return -1;
  }
  if (st.st_uid != geteuid()) {
    owcp_error_set(err, "private key '%s' is owned by uid %ld, not by us", path,
                   (long)st.st_uid);
    return -1;
  }
  if ((st.st_mode & 07777 & ~(mode_t)0600) != 0) {
    owcp_error_set(err,
                   "private key '%s' has mode %04o, wider than 0600; "
                   "refusing to use it (chmod 600 it)",
                   path, (unsigned)(st.st_mode & 07777));
    return -1;
  }
  return 0;
}

typedef X509 *(*cert_maker)(EVP_PKEY *key, const char *cn,
                            struct owcp_error *err);

static X509 *make_ca_cert(EVP_PKEY *key, const char *cn, struct owcp_error *err)
{
  return owcp_ca_new(key, cn, err);
}

static X509 *make_sign_cert(EVP_PKEY *key, const char *cn,
                            struct owcp_error *err)
{
  return owcp_dispatcher_cert_new(key, cn, OWCP_CA_DAYS, err);
}

/* Under the lock: creates the key when absent, then its certificate when
 * absent. The key is written first, so a crash in between leaves a key
 * whose certificate the next start makes; a certificate whose key is gone
 * is refused instead, since silently replacing a CA key would invalidate
 * every certificate it issued. */
static int create_missing(const char *dir, const struct key_pair_files *f,
                          const char *cn, cert_maker make,
                          struct owcp_error *err)
{
  char key_path[KEYRING_PATH_MAX], cert_path[KEYRING_PATH_MAX];
  bool have_key, have_cert;
  EVP_PKEY *key = NULL;
  X509 *cert = NULL;
  int rc = -1;

  if (join_path(key_path, dir, f->key_name, err) != 0 ||
      join_path(cert_path, dir, f->cert_name, err) != 0 ||
      file_exists(key_path, &have_key, err) != 0 ||
      file_exists(cert_path, &have_cert, err) != 0)
    return -1;
  if (have_key && have_cert)
    return 0;
  if (!have_key && have_cert) {
    owcp_error_set(err,
                   "'%s' exists but its private key '%s' is missing; "
                   "restore the key or remove both to start afresh",
                   cert_path, key_path);
    return -1;
  }
  if (have_key) {
    if (check_key_file(key_path, err) != 0)
      return -1;
    key = owcp_key_load_pem(key_path, err);
  } else {
    key = owcp_key_new(err);
    if (key != NULL && owcp_key_save_pem(key_path, key, err) != 0)
      goto out;
  }
  if (key == NULL)
    goto out;
  cert = make(key, cn, err);
  if (cert == NULL || owcp_cert_save_pem(cert_path, cert, err) != 0)
    goto out;
  rc = 0;
out:
  X509_free(cert);
  EVP_PKEY_free(key);
  return rc;
}

/* Loads one key and its certificate and checks that they belong together. */
static int load_pair(const char *dir, const struct key_pair_files *f,
                     EVP_PKEY **key_out, X509 **cert_out,
                     struct owcp_error *err)
{
  char key_path[KEYRING_PATH_MAX], cert_path[KEYRING_PATH_MAX];
  EVP_PKEY *key;
  X509 *cert;
  bool exists;

  if (join_path(key_path, dir, f->key_name, err) != 0 ||
      join_path(cert_path, dir, f->cert_name, err) != 0 ||
      check_key_file(key_path, err) != 0 ||
      file_exists(cert_path, &exists, err) != 0)
    return -1;
  key = owcp_key_load_pem(key_path, err);
  if (key == NULL)
    return -1;
  cert = owcp_cert_load_pem(cert_path, err);
  if (cert == NULL) {
    EVP_PKEY_free(key);
    return -1;
  }
  if (X509_check_private_key(cert, key) != 1) {
    owcp_error_set_ssl(err, "certificate '%s' does not match key '%s'",
                       cert_path, key_path);
    X509_free(cert);
    EVP_PKEY_free(key);
    return -1;
  }
  *key_out = key;
  *cert_out = cert;
  return 0;
}

/* GET {base}/CA's body: the client CA, then the signing certificate. */
static int make_bundle(struct dispatcher_keys *k, struct owcp_error *err)
{
  char *ca_pem = owcp_cert_to_pem(k->ca_cert, err);
  char *sign_pem = ca_pem ? owcp_cert_to_pem(k->sign_cert, err) : NULL;
  size_t a, b;
  int rc = -1;

  if (sign_pem == NULL)
    goto out;
  a = strlen(ca_pem);
  b = strlen(sign_pem);
  k->pem_bundle = malloc(a + b + 1);
  if (k->pem_bundle == NULL) {
    owcp_error_set(err, "out of memory building the certificate bundle");
    goto out;
  }
  memcpy(k->pem_bundle, ca_pem, a);
  memcpy(k->pem_bundle + a, sign_pem, b + 1);
  rc = 0;
out:
  free(sign_pem);
  free(ca_pem);
  return rc;
}

static int create_and_load(const char *dir, const char *cn_domain,
                           struct dispatcher_keys *k, struct owcp_error *err)
{
  char ca_cn[400], sign_cn[400];

  snprintf(ca_cn, sizeof ca_cn, "OWCP client CA %s", cn_domain);
  snprintf(sign_cn, sizeof sign_cn, "OWCP dispatcher %s", cn_domain);
  if (create_missing(dir, &CA_FILES, ca_cn, make_ca_cert, err) != 0 ||
      create_missing(dir, &SIGN_FILES, sign_cn, make_sign_cert, err) != 0 ||
      load_pair(dir, &CA_FILES, &k->ca_key, &k->ca_cert, err) != 0 ||
      load_pair(dir, &SIGN_FILES, &k->sign_key, &k->sign_cert, err) != 0 ||
      owcp_cert_to_der(k->ca_cert, &k->ca_der, &k->ca_der_len, err) != 0 ||
      make_bundle(k, err) != 0)
    return -1;
  return 0;
}

int keyring_load_or_create(const char *dir, const char *cn_domain,
                           struct dispatcher_keys *k, struct owcp_error *err)
{
  int lock_fd, rc;

  memset(k, 0, sizeof *k);
  if (dir == NULL || *dir == '\0' || cn_domain == NULL) {
    owcp_error_set(err, "no key directory or domain given");
    return -1;
  }
  if (strlen(cn_domain) > 255) {
    owcp_error_set(err,
                   "domain '%.40s...' is too long for a certificate "
                   "name",
                   cn_domain);
    return -1;
  }
  if (check_dir(dir, err) != 0)
    return -1;
  lock_fd = lock_dir(dir, err);
  if (lock_fd < 0)
    return -1;
  rc = create_and_load(dir, cn_domain, k, err);
  close(lock_fd); /* releases the flock */
  if (rc != 0)
    keyring_free(k);
  return rc;
}

void keyring_free(struct dispatcher_keys *k)
{
  if (k == NULL)
    return;
  EVP_PKEY_free(k->ca_key);
  X509_free(k->ca_cert);
  free(k->ca_der);
  EVP_PKEY_free(k->sign_key);
  X509_free(k->sign_cert);
  free(k->pem_bundle);
  memset(k, 0, sizeof *k);
}
