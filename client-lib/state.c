/*
 * state.c — the client's state directory: permissions, locking and the
 * atomically replaced state.json (see state.h).
 */
#include "state.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>

#define STATE_FILE "state.json"
#define LOCK_FILE "state.lock"
#define STATE_VERSION 1

/* Secrets must not linger in freed memory. */
static void free_secret(char *s)
{
  if (s != NULL)
    OPENSSL_cleanse(s, strlen(s));
  free(s);
}

static int join(char *out, size_t size, const char *dir, const char *name,
                struct owcp_error *err)
{
  int n = snprintf(out, size, "%s/%s", dir, name);

  if (n < 0 || (size_t)n >= size) {
    owcp_error_set(err, "state directory path '%s' is too long", dir);
    return -1;
  }
  return 0;
}

/* Group/other bits or a foreign owner expose tokens and keys. */
static int check_private(const struct stat *st, const char *path,
                         const char *what, struct owcp_error *err)
{
  if (st->st_uid != geteuid()) {
    owcp_error_set(err, "%s '%s' belongs to another user", what, path);
    return -1;
  }
  if ((st->st_mode & 077) != 0) {
    owcp_error_set(err,
                   "%s '%s' has mode %04o: group and other permissions must "
                   "be removed (chmod %s %s)",
                   what, path, (unsigned)(st->st_mode & 07777),
                   S_ISDIR(st->st_mode) ? "700" : "600", path);
    return -1;
  }
  return 0;
}

int owcp_state_dir_prepare(const char *dir, struct owcp_error *err)
{
  struct stat st;

  if (dir == NULL || dir[0] == '\0') {
    owcp_error_set(err, "no state directory given");
    return -1;
  }
  if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
    owcp_error_set(err, "cannot create state directory '%s': %s", dir,
                   strerror(errno));
    return -1;
  }
  /* lstat: a symbolic link in place of the directory is refused, so the
   * state cannot be redirected to a directory someone else chose. */
  if (lstat(dir, &st) != 0) {
    owcp_error_set(err, "cannot inspect state directory '%s': %s", dir,
                   strerror(errno));
    return -1;
  }
  if (!S_ISDIR(st.st_mode)) {
    owcp_error_set(err,
                   "state directory '%s' is not a directory (symbolic links "
                   "are refused)",
                   dir);
    return -1;
  }
  return check_private(&st, dir, "state directory", err);
}

int owcp_state_lock(const char *dir, int *fd, struct owcp_error *err)
{
  char path[PATH_MAX];

  *fd = -1;
  if (owcp_state_dir_prepare(dir, err) != 0 ||
      join(path, sizeof path, dir, LOCK_FILE, err) != 0)
    return -1;
  struct stat sb;
  int f = open(
      path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK,
      0600);
  if (f < 0) {
    owcp_error_set(err, "cannot open lock file '%s': %s", path,
                   strerror(errno));
    return -1;
  }
  if (fstat(f, &sb) != 0 || !S_ISREG(sb.st_mode)) {
    owcp_error_set(err, "lock file '%s' is not a regular file", path);
    close(f);
    return -1;
  }
  if (check_private(&sb, path, "lock file", err) != 0) {
    close(f);
    return -1;
  }
  while (flock(f, LOCK_EX) != 0) {
    if (errno != EINTR) {
      owcp_error_set(err, "cannot lock '%s': %s", path, strerror(errno));
      close(f);
      return -1;
    }
  }
  *fd = f;
  return 0;
}

void owcp_state_unlock(int fd)
{
  if (fd >= 0)
    close(fd); /* closing releases the flock */
}

void owcp_account_state_clear(struct owcp_account_state *a)
{
  free(a->account);
  free(a->description);
  free(a->dispatcher);
  free(a->client);
  free_secret(a->token);
  free(a->cert_b64);
  free(a->ca_b64);
  free_secret(a->key_pem);
  memset(a, 0, sizeof *a);
}

void owcp_state_free(struct owcp_state *st)
{
  if (st == NULL)
    return;
  for (size_t i = 0; i < st->count; i++)
    owcp_account_state_clear(&st->accounts[i]);
  free(st->accounts);
  free(st);
}

/* Copies the string member name of o into *out (NULL when absent and
 * optional). */
static int get_str(const json_t *o, const char *name, bool required, char **out,
                   size_t index, struct owcp_error *err)
{
  const json_t *v = json_object_get(o, name);

  *out = NULL;
  if (v == NULL && !required)
    return 0;
  if (!json_is_string(v)) {
    owcp_error_set(err, "state file: account %zu: member '%s' %s", index, name,
                   v == NULL ? "is missing" : "must be a string");
    return -1;
  }
  *out = strdup(json_string_value(v));
  if (*out == NULL) {
    owcp_error_set(err, "out of memory");
    return -1;
  }
  return 0;
}

static int get_uint(const json_t *o, const char *name, unsigned *out,
                    size_t index, struct owcp_error *err)
{
  const json_t *v = json_object_get(o, name);

  if (!json_is_integer(v) || json_integer_value(v) < 0 ||
      json_integer_value(v) > 1000000) {
    owcp_error_set(err,
                   "state file: account %zu: member '%s' must be an integer "
                   "0..1000000",
                   index, name);
    return -1;
  }
  *out = (unsigned)json_integer_value(v);
  return 0;
}

static int account_from_json(const json_t *o, size_t i,
                             struct owcp_account_state *a,
                             struct owcp_error *err)
{
  const json_t *pin = json_object_get(o, "PIN");

  if (!json_is_object(o)) {
    owcp_error_set(err, "state file: account %zu is not an object", i);
    return -1;
  }
  if (get_str(o, "Account", true, &a->account, i, err) != 0 ||
      get_str(o, "Description", true, &a->description, i, err) != 0 ||
      get_str(o, "Dispatcher", false, &a->dispatcher, i, err) != 0 ||
      get_str(o, "Client", true, &a->client, i, err) != 0 ||
      get_str(o, "Token", true, &a->token, i, err) != 0 ||
      get_str(o, "Certificate", true, &a->cert_b64, i, err) != 0 ||
      get_str(o, "CA", true, &a->ca_b64, i, err) != 0 ||
      get_str(o, "Key", false, &a->key_pem, i, err) != 0 ||
      get_uint(o, "Failures", &a->failures, i, err) != 0 ||
      get_uint(o, "MaxFailures", &a->max_failures, i, err) != 0)
    return -1;
  if (!json_is_boolean(pin)) {
    owcp_error_set(err,
                   "state file: account %zu: member 'PIN' must be a "
                   "boolean",
                   i);
    return -1;
  }
  a->pin = json_is_true(pin);
  if (a->max_failures == 0) {
    owcp_error_set(err,
                   "state file: account %zu: 'MaxFailures' must be at "
                   "least 1",
                   i);
    return -1;
  }
  return 0;
}

static int state_from_json(const json_t *root, struct owcp_state *st,
                           struct owcp_error *err)
{
  const json_t *list = json_object_get(root, "Accounts");
  const json_t *ver = json_object_get(root, "Version");

  if (!json_is_integer(ver) || json_integer_value(ver) != STATE_VERSION) {
    owcp_error_set(err, "state file: 'Version' must be %d", STATE_VERSION);
    return -1;
  }
  if (!json_is_array(list)) {
    owcp_error_set(err, "state file: 'Accounts' must be an array");
    return -1;
  }
  size_t n = json_array_size(list);
  st->accounts = n > 0 ? calloc(n, sizeof *st->accounts) : NULL;
  if (n > 0 && st->accounts == NULL) {
    owcp_error_set(err, "out of memory");
    return -1;
  }
  for (size_t i = 0; i < n; i++) {
    st->count = i + 1; /* so that owcp_state_free releases a partial entry */
    if (account_from_json(json_array_get(list, i), i, &st->accounts[i], err) !=
        0)
      return -1;
  }
  return 0;
}

/* Reads the whole of fd (at most OWCP_STATE_MAX_BYTES) into *text (caller
 * wipes and frees). */
static int read_all(int fd, const char *path, unsigned char **text, size_t *len,
                    struct owcp_error *err)
{
  unsigned char *buf = malloc(OWCP_STATE_MAX_BYTES + 1);
  size_t used = 0;

  if (buf == NULL) {
    owcp_error_set(err, "out of memory");
    return -1;
  }
  for (;;) {
    ssize_t n = read(fd, buf + used, OWCP_STATE_MAX_BYTES + 1 - used);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 || used + (size_t)n > OWCP_STATE_MAX_BYTES) {
      owcp_error_set(err, n < 0 ? "cannot read '%s'" : "'%s' is too large",
                     path);
      OPENSSL_cleanse(buf, used);
      free(buf);
      return -1;
    }
    if (n == 0)
      break;
    used += (size_t)n;
  }
  buf[used] = '\0';
  *text = buf;
  *len = used;
  return 0;
}

/* Opens path without following a symbolic link and checks the open file
 * (regular, ours, 0600 or stricter) before reading it, so nothing can be
 * swapped in between check and read. Returns 1 when the file does not
 * exist. */
static int read_private(const char *path, unsigned char **text, size_t *len,
                        struct owcp_error *err)
{
  struct stat sb;
  int fd =
      open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
  int rc;

  if (fd < 0 && errno == ENOENT)
    return 1;
  if (fd < 0) {
    if (errno == ELOOP)
      owcp_error_set(err,
                     "state file '%s' is not a regular file (it is a "
                     "symbolic link)",
                     path);
    else
      owcp_error_set(err, "cannot open state file '%s': %s", path,
                     strerror(errno));
    return -1;
  }
  if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
    owcp_error_set(err, "state file '%s' is not a regular file", path);
    rc = -1;
  } else {
    rc = check_private(&sb, path, "state file", err) == 0
             ? read_all(fd, path, text, len, err)
             : -1;
  }
  close(fd);
  return rc;
}

int owcp_state_load(const char *dir, struct owcp_state **out,
                    struct owcp_error *err)
{
  char path[PATH_MAX];
  unsigned char *text = NULL;
  size_t len = 0;
  json_error_t jerr;

  *out = NULL;
  if (owcp_state_dir_prepare(dir, err) != 0 ||
      join(path, sizeof path, dir, STATE_FILE, err) != 0)
    return -1;
  struct owcp_state *st = calloc(1, sizeof *st);
  if (st == NULL) {
    owcp_error_set(err, "out of memory");
    return -1;
  }
  int rc = read_private(path, &text, &len, err);
  if (rc == 1) {
    *out = st; /* no state file yet */
    return 0;
  }
  if (rc != 0) {
    free(st);
    return -1;
  }
  json_t *root =
      json_loadb((const char *)text, len, JSON_REJECT_DUPLICATES, &jerr);
  OPENSSL_cleanse(text, len);
  free(text);
  if (root == NULL) {
    owcp_error_set(err, "state file '%s' is not valid JSON: %s (line %d)", path,
                   jerr.text, jerr.line);
    free(st);
    return -1;
  }
  rc = state_from_json(root, st, err);
  json_decref(root);
  if (rc != 0) {
    owcp_state_free(st);
    return -1;
  }
  *out = st;
  return 0;
}

static json_t *account_to_json(const struct owcp_account_state *a)
{
  return json_pack(
      "{s:s, s:s, s:s*, s:s, s:s, s:s, s:s, s:b, s:s*, s:i, s:i}", "Account",
      a->account, "Description", a->description, "Dispatcher", a->dispatcher,
      "Client", a->client, "Token", a->token, "Certificate", a->cert_b64, "CA",
      a->ca_b64, "PIN", a->pin, "Key", a->key_pem, "Failures",
      (json_int_t)a->failures, "MaxFailures", (json_int_t)a->max_failures);
}

/* A writer killed between write and rename leaves STATE_FILE.tmp-*
 * behind (owcp_file_write_atomic's temporary names). Only a lock holder
 * calls this, so no live write can be mid-way. Best effort: a leftover is
 * harmless, only untidy. */
static void remove_stale_temps(const char *dir)
{
  static const char prefix[] = STATE_FILE ".tmp-";
  DIR *d = opendir(dir);
  const struct dirent *e;

  if (d == NULL)
    return;
  while ((e = readdir(d)) != NULL) {
    if (strncmp(e->d_name, prefix, sizeof prefix - 1) == 0)
      (void)unlinkat(dirfd(d), e->d_name, 0);
  }
  closedir(d);
}

int owcp_state_save(const char *dir, const struct owcp_state *st,
                    struct owcp_error *err)
{
  char path[PATH_MAX];

  if (owcp_state_dir_prepare(dir, err) != 0 ||
      join(path, sizeof path, dir, STATE_FILE, err) != 0)
    return -1;
  json_t *list = json_array();
  json_t *root =
      json_pack("{s:i, s:o}", "Version", STATE_VERSION, "Accounts", list);
  if (root == NULL) {
    owcp_error_set(err, "out of memory");
    return -1;
  }
  for (size_t i = 0; i < st->count; i++) {
    if (json_array_append_new(list, account_to_json(&st->accounts[i])) != 0) {
      json_decref(root);
      owcp_error_set(err, "out of memory");
      return -1;
    }
  }
  char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  json_decref(root);
  if (text == NULL) {
    owcp_error_set(err, "out of memory");
    return -1;
  }
  int rc = owcp_file_write_atomic(path, text, strlen(text), 0600, err);
  free_secret(text);
  if (rc == 0)
    remove_stale_temps(dir);
  return rc;
}

struct owcp_account_state *owcp_state_find(struct owcp_state *st,
                                           const char *account)
{
  for (size_t i = 0; i < st->count; i++) {
    if (strcmp(st->accounts[i].account, account) == 0)
      return &st->accounts[i];
  }
  return NULL;
}

static int dup_opt(char **dst, const char *src)
{
  *dst = NULL;
  if (src == NULL)
    return 0;
  *dst = strdup(src);
  return *dst != NULL ? 0 : -1;
}

int owcp_state_put(struct owcp_state *st, const struct owcp_account_state *a,
                   struct owcp_error *err)
{
  struct owcp_account_state copy = *a;

  if (dup_opt(&copy.account, a->account) != 0 ||
      dup_opt(&copy.description, a->description) != 0 ||
      dup_opt(&copy.dispatcher, a->dispatcher) != 0 ||
      dup_opt(&copy.client, a->client) != 0 ||
      dup_opt(&copy.token, a->token) != 0 ||
      dup_opt(&copy.cert_b64, a->cert_b64) != 0 ||
      dup_opt(&copy.ca_b64, a->ca_b64) != 0 ||
      dup_opt(&copy.key_pem, a->key_pem) != 0) {
    owcp_account_state_clear(&copy);
    owcp_error_set(err, "out of memory");
    return -1;
  }
  struct owcp_account_state *old = owcp_state_find(st, a->account);
  if (old != NULL) {
    owcp_account_state_clear(old);
    *old = copy;
    return 0;
  }
  struct owcp_account_state *grown =
      realloc(st->accounts, (st->count + 1) * sizeof *grown);
  if (grown == NULL) {
    owcp_account_state_clear(&copy);
    owcp_error_set(err, "out of memory");
    return -1;
  }
  st->accounts = grown;
  st->accounts[st->count++] = copy;
  return 0;
}

struct owcp_account_state *owcp_state_get(struct owcp_state *st,
                                          const char *account,
                                          struct owcp_error *err)
{
  struct owcp_account_state *a = owcp_state_find(st, account);

  if (a == NULL)
    owcp_error_set(err, "account '%s' is not registered on this device",
                   account);
  return a;
}

int owcp_state_remove(struct owcp_state *st, const char *account,
                      struct owcp_error *err)
{
  struct owcp_account_state *a = owcp_state_get(st, account, err);

  if (a == NULL)
    return -1;
  size_t i = (size_t)(a - st->accounts);
  owcp_account_state_clear(a);
  memmove(&st->accounts[i], &st->accounts[i + 1],
          (st->count - i - 1) * sizeof *a);
  st->count--;
  return 0;
}
