/*
 * test_svc_log.c — unit tests for the service layer's JSON log
 * (owcp/service/log.h): every line is one JSON object with ts, log_level,
 * event and msg; invalid UTF-8 is escaped, never dropped; the level
 * spellings and the run-time threshold.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "owcp/service/log.h"

/* Parses line as one JSON object; fails the test otherwise. */
static json_t *parse_line(const char *line)
{
  json_error_t jerr;
  json_t *o = json_loads(line, JSON_REJECT_DUPLICATES, &jerr);

  if (!json_is_object(o))
    fail_msg("not a JSON object: %s (%s)", line, jerr.text);
  return o;
}

static void test_line_fields(void **state)
{
  (void)state;
  char *line = svc_log_line("2026-01-02T03:04:05.006Z", SVC_LOG_WARN, "start",
                            "a \"quoted\"\nmessage");
  assert_non_null(line);
  assert_null(strchr(line, '\n'));
  json_t *o = parse_line(line);
  assert_string_equal(json_string_value(json_object_get(o, "ts")),
                      "2026-01-02T03:04:05.006Z");
  assert_string_equal(json_string_value(json_object_get(o, "log_level")),
                      "warn");
  assert_string_equal(json_string_value(json_object_get(o, "event")), "start");
  assert_string_equal(json_string_value(json_object_get(o, "msg")),
                      "a \"quoted\"\nmessage");
  assert_int_equal(json_object_size(o), 4);
  json_decref(o);
  free(line);
}

static void test_invalid_utf8_escaped_not_dropped(void **state)
{
  (void)state;
  /* A stray continuation byte, a truncated sequence, an overlong '/', a
   * surrogate, and valid text around them. */
  const char msg[] = "user \x80x \xC3 end \xC0\xAF s\xED\xA0\x80 \xC3\xA9!";
  char *line = svc_log_line("t", SVC_LOG_INFO, "ev\xFF", msg);
  assert_non_null(line);
  json_t *o = parse_line(line);
  const char *m = json_string_value(json_object_get(o, "msg"));
  assert_non_null(m);
  assert_string_equal(m, "user \\x80x \\xC3 end \\xC0\\xAF s\\xED\\xA0\\x80 "
                         "\xC3\xA9!");
  assert_string_equal(json_string_value(json_object_get(o, "event")),
                      "ev\\xFF");
  json_decref(o);
  free(line);
}

static void test_sanitize_keeps_valid_text(void **state)
{
  (void)state;
  const char ok[] = "plain \xE2\x82\xAC \xF0\x9F\x98\x80";
  char *s = svc_utf8_sanitize(ok, strlen(ok));
  assert_string_equal(s, ok);
  free(s);
  s = svc_utf8_sanitize("\xF0\x9F", 2); /* truncated 4-byte sequence */
  assert_string_equal(s, "\\xF0\\x9F");
  free(s);
}

static void test_level_names(void **state)
{
  (void)state;
  const char *names[] = {"error", "warn", "info", "debug"};
  for (int i = 0; i < 4; i++) {
    enum svc_log_level l = SVC_LOG_DEBUG;
    assert_int_equal(svc_log_level_parse(names[i], &l), 0);
    assert_int_equal((int)l, i);
    assert_string_equal(svc_log_level_name(l), names[i]);
  }
  enum svc_log_level l = SVC_LOG_ERROR;
  assert_int_equal(svc_log_level_parse("warning", &l), -1);
  assert_int_equal(svc_log_level_parse("INFO", &l), -1);
  assert_int_equal(svc_log_level_parse("", &l), -1);
  assert_int_equal(svc_log_level_parse(NULL, &l), -1);
  assert_int_equal((int)l, SVC_LOG_ERROR);
}

/* Runs svc_log() with stderr redirected to a file; returns what it wrote
 * (caller frees). */
static char *capture_event(enum svc_log_level level, const char *event,
                           const char *msg)
{
  char path[] = "/tmp/owcp-test-svclog-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  fflush(stderr);
  int saved = dup(STDERR_FILENO);
  assert_true(saved >= 0);
  assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
  svc_log(level, event, "%s", msg);
  fflush(stderr);
  assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
  close(saved);
  off_t n = lseek(fd, 0, SEEK_END);
  char *buf = calloc(1, (size_t)n + 1);
  assert_non_null(buf);
  assert_int_equal(pread(fd, buf, (size_t)n, 0), n);
  close(fd);
  unlink(path);
  return buf;
}

static char *capture(enum svc_log_level level, const char *msg)
{
  return capture_event(level, "capture", msg);
}

/* Exactly one line holding one JSON object; returns it parsed. */
static json_t *one_line(char *out)
{
  size_t n = strlen(out);

  assert_true(n > 0 && out[n - 1] == '\n');
  out[n - 1] = '\0';
  assert_null(strchr(out, '\n'));
  return parse_line(out);
}

/* The longest message, every byte escaped six-fold (\u0001), and a line
 * longer than the stack buffer (a long event name) are still written
 * whole, one line each. */
static void test_longest_lines_whole(void **state)
{
  (void)state;
  char msg[1024], *event = malloc(10001), *out;
  json_t *o;

  assert_non_null(event);
  memset(msg, 0x01, sizeof msg - 1);
  msg[sizeof msg - 1] = '\0';
  out = capture(SVC_LOG_INFO, msg);
  o = one_line(out);
  assert_string_equal(json_string_value(json_object_get(o, "msg")), msg);
  json_decref(o);
  free(out);
  memset(event, 'e', 10000);
  event[10000] = '\0';
  out = capture_event(SVC_LOG_INFO, event, msg);
  o = one_line(out);
  assert_string_equal(json_string_value(json_object_get(o, "event")), event);
  assert_string_equal(json_string_value(json_object_get(o, "msg")), msg);
  json_decref(o);
  free(out);
  free(event);
}

static void test_threshold(void **state)
{
  (void)state;
  svc_log_set_level(SVC_LOG_WARN);
  char *out = capture(SVC_LOG_INFO, "hidden");
  assert_string_equal(out, "");
  free(out);
  out = capture(SVC_LOG_ERROR, "shown \xFF");
  size_t n = strlen(out);
  assert_true(n > 0 && out[n - 1] == '\n');
  out[n - 1] = '\0';
  assert_null(strchr(out, '\n'));
  json_t *o = parse_line(out);
  assert_string_equal(json_string_value(json_object_get(o, "log_level")),
                      "error");
  assert_string_equal(json_string_value(json_object_get(o, "msg")),
                      "shown \\xFF");
  json_decref(o);
  free(out);
  svc_log_set_level(SVC_LOG_DEBUG);
  out = capture(SVC_LOG_DEBUG, "now shown");
  assert_non_null(strstr(out, "\"log_level\":\"debug\""));
  free(out);
  assert_int_equal(svc_log_get_level(), SVC_LOG_DEBUG);
  svc_log_set_level(SVC_LOG_INFO);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_line_fields),
      cmocka_unit_test(test_invalid_utf8_escaped_not_dropped),
      cmocka_unit_test(test_sanitize_keeps_valid_text),
      cmocka_unit_test(test_level_names),
      cmocka_unit_test(test_threshold),
      cmocka_unit_test(test_longest_lines_whole),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
