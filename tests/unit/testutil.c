/*
 * testutil.c — see testutil.h.
 */
#define _XOPEN_SOURCE 700 /* nftw() */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ftw.h>
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

int testutil_run(const char *fmt, ...)
{
  char cmd[2048];
  va_list ap;
  int n, rc;

  va_start(ap, fmt);
  n = vsnprintf(cmd, sizeof cmd, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof cmd)
    return -1;
  rc = system(cmd);
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
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
