/*
 * testutil.h — the scaffolding unit tests share: a private temporary
 * directory per test, running the real `openssl` command for interop
 * checks (without a shell), writing fixture files, and asserting on error
 * sentences. Functions that assert fail the current cmocka test; the others
 * return a status for setup/teardown functions, which may not assert.
 */
#ifndef OWCP_TESTUTIL_H
#define OWCP_TESTUTIL_H

#include <stddef.h>

#include "owcp/util.h"

/* Creates a fresh 0700 directory /tmp/owcp-test-NAME-XXXXXX into dir
 * (size bytes). Returns 0, or -1 when it cannot. */
int testutil_tmpdir_make(char *dir, size_t size, const char *name);

/* Removes dir and everything below it (without a shell). Returns 0 or -1. */
int testutil_tmpdir_remove(const char *dir);

/* Runs the program argv[0] (looked up in PATH) with the NULL-terminated
 * argv, without a shell, so paths need no quoting. Its stdout goes to
 * out_path (created 0600 or truncated), or to /dev/null when out_path is
 * NULL; stdin and stderr are /dev/null. Returns its exit status, 127 if it
 * could not be started, -1 if it could not be waited for or did not exit
 * normally. */
int testutil_exec(const char *const argv[], const char *out_path);

/* testutil_exec of the `openssl` tool with the string arguments that
 * follow out_path; the argv array (NULL-terminated) is built here, so
 * there is no variadic function and no sentinel to forget. */
#define testutil_openssl(out_path, ...)                                        \
  testutil_exec((const char *const[]){"openssl", __VA_ARGS__, NULL}, (out_path))

/* Fails the test unless the file at path (at most 1 MiB) contains needle. */
void testutil_assert_file_contains(const char *path, const char *needle);

/* Reads the test-data file tests/data/NAME (at most 1 MiB) into a
 * malloc()ed, NUL-terminated buffer the caller frees, its length (without
 * the NUL) in *len; fails the test when it cannot. */
char *testutil_data_load(const char *name, size_t *len);

/* Writes len bytes of data to path (asserts on failure). */
void testutil_write_file(const char *path, const void *data, size_t len);

/* Fails the test unless err's sentence contains needle. */
void testutil_assert_err_contains(const struct owcp_error *err,
                                  const char *needle);

/* Fails the test (naming the line) unless every line of text is valid
 * Prometheus text exposition format 0.0.4: "# HELP name ...", "# TYPE name
 * counter|gauge|histogram|summary|untyped", or a sample
 * name{label="value",...} value; and text ends with a newline. */
void testutil_assert_exposition_valid(const char *text);

/* The value of the sample whose name-and-labels part is exactly series
 * (e.g. "owcp_x_total{route=\"/a\"}") in exposition text, or -1 when
 * absent. */
double testutil_exposition_value(const char *text, const char *series);

#endif
