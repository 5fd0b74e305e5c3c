/*
 * testutil.h — the scaffolding unit tests share: a private temporary
 * directory per test, running the real `openssl` command for interop
 * checks, writing fixture files, and asserting on error sentences.
 * Functions that assert fail the current cmocka test; the others return
 * a status for setup/teardown functions, which may not assert.
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

/* Runs a shell command built only from the test's own temporary paths and
 * constants; returns its exit status (-1 if it did not exit normally). */
int testutil_run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Writes len bytes of data to path (asserts on failure). */
void testutil_write_file(const char *path, const void *data, size_t len);

/* Fails the test unless err's sentence contains needle. */
void testutil_assert_err_contains(const struct owcp_error *err,
                                  const char *needle);

#endif
