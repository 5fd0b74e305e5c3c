/*
 * testutil.c — see testutil.h.
 */
#define _XOPEN_SOURCE 700 /* nftw() */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

int testutil_tmpdir_make(char *dir, size_t size, const char *name)
{
  int n = snprintf(dir, size, "/tmp/owcp-test-%s-XXXXXX", name);

  if (n < 0 || (size_t)n >= size)
    return -1;
  return mkdtemp(dir) != NULL ? 0 : -1;
}

static int remove_one(const char *path, const struct stat *st, int flag,
                      struct FTW *ftw)
{
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

int testutil_tmpdir_remove(const char *dir)
{
  return nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* In the child: stdin and stderr from/to /dev/null, stdout to out_path
 * (or /dev/null), then exec. Never returns. */
static void exec_child(const char *const argv[], const char *out_path)
{
  int null_fd = open("/dev/null", O_RDWR);
  int out_fd = out_path != NULL
                   ? open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600)
                   : null_fd;

  if (null_fd < 0 || out_fd < 0 || dup2(null_fd, STDIN_FILENO) < 0 ||
      dup2(out_fd, STDOUT_FILENO) < 0 || dup2(null_fd, STDERR_FILENO) < 0)
    _exit(127);
  /* execvp's argv is `char *const[]` for historical reasons; it does not
   * modify the strings. */
  execvp(argv[0], (char *const *)argv);
  _exit(127);
}

int testutil_exec(const char *const argv[], const char *out_path)
{
  pid_t pid, got;
  int status;

  if (argv == NULL || argv[0] == NULL)
    return -1;
  pid = fork();
  if (pid < 0)
    return -1;
  if (pid == 0)
    exec_child(argv, out_path);
  do
    got = waitpid(pid, &status, 0);
  while (got < 0 && errno == EINTR);
  if (got != pid)
    return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void testutil_assert_file_contains(const char *path, const char *needle)
{
  unsigned char *data = NULL;
  size_t len = 0;
  struct owcp_error err;
  bool found;

  if (owcp_file_read(path, (size_t)1 << 20, &data, &len, &err) != 0) {
    fail_msg("cannot read %s: %s", path, err.msg);
    return; /* not reached: fail_msg jumps out of the test */
  }
  /* owcp_file_read terminates the data, so strstr stays inside it. */
  found = strstr((const char *)data, needle) != NULL;
  free(data);
  if (!found)
    fail_msg("%s lacks '%s'", path, needle);
}

char *testutil_data_load(const char *name, size_t *len)
{
  char path[512];
  unsigned char *data = NULL;
  struct owcp_error err;
  int n = snprintf(path, sizeof path, "%s/%s", OWCP_TEST_DATA, name);

  if (n < 0 || (size_t)n >= sizeof path)
    fail_msg("test-data path for %s is too long", name);
  else if (owcp_file_read(path, (size_t)1 << 20, &data, len, &err) != 0)
    fail_msg("cannot read %s: %s", path, err.msg);
  return (char *)data;
}

void testutil_write_file(const char *path, const void *data, size_t len)
{
  FILE *fp = fopen(path, "wb");

  assert_non_null(fp);
  assert_int_equal(fwrite(data, 1, len, fp), len);
  assert_int_equal(fclose(fp), 0);
}

void testutil_assert_err_contains(const struct owcp_error *err,
                                  const char *needle)
{
  if (strstr(err->msg, needle) == NULL)
    fail_msg("error '%s' lacks '%s'", err->msg, needle);
}

/* ---- Prometheus text exposition format ---------------------------------- */

#define EXPO_NAME "[a-zA-Z_:][a-zA-Z0-9_:]*"
#define EXPO_LABEL "[a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\]|\\\\.)*\""
#define EXPO_VALUE "(NaN|[+-]Inf|[-+]?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?)"

static const char *const expo_patterns[] = {
    "^# HELP " EXPO_NAME " .*$",
    "^# TYPE " EXPO_NAME " (counter|gauge|histogram|summary|untyped)$",
    "^" EXPO_NAME "(\\{" EXPO_LABEL "(," EXPO_LABEL ")*\\})? " EXPO_VALUE
    "( -?[0-9]+)?$",
};

static bool expo_line_valid(const regex_t *re, size_t n, const char *line)
{
  for (size_t i = 0; i < n; i++)
    if (regexec(&re[i], line, 0, NULL, 0) == 0)
      return true;
  return false;
}

void testutil_assert_exposition_valid(const char *text)
{
  enum { N = sizeof expo_patterns / sizeof expo_patterns[0] };
  regex_t re[N];

  for (size_t i = 0; i < N; i++)
    assert_int_equal(
        regcomp(&re[i], expo_patterns[i], REG_EXTENDED | REG_NOSUB), 0);
  size_t len = strlen(text);
  if (len == 0 || text[len - 1] != '\n')
    fail_msg("exposition text does not end with a newline");
  char *copy = strdup(text), *save = NULL;
  assert_non_null(copy);
  int lineno = 0;
  for (char *line = strtok_r(copy, "\n", &save); line != NULL;
       line = strtok_r(NULL, "\n", &save)) {
    lineno++;
    if (!expo_line_valid(re, N, line))
      fail_msg("line %d is not valid exposition format: %s", lineno, line);
  }
  free(copy);
  for (size_t i = 0; i < N; i++)
    regfree(&re[i]);
}

double testutil_exposition_value(const char *text, const char *series)
{
  size_t n = strlen(series);

  for (const char *p = text; p != NULL && *p != '\0';) {
    if (strncmp(p, series, n) == 0 && p[n] == ' ')
      return strtod(p + n + 1, NULL);
    p = strchr(p, '\n');
    if (p != NULL)
      p++;
  }
  return -1;
}
