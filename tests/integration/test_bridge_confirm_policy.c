/*
 * test_bridge_confirm_policy.c — the parts of enrollment-bridge/confirm.h
 * that need no dispatcher: the confirm = policy parser, the cache-window
 * rule, the contract's three summaries, the checks on [owcp] and on the
 * text a confirmation shows.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "confirm.h"

static void expect_policy(const char *text, enum confirm_mode mode,
                          long minutes)
{
  struct confirm_policy p = {CONFIRM_MODE_OFF, -1};
  struct owcp_error err = {{0}};

  if (confirm_policy_parse(text, &p, &err) != 0)
    fail_msg("'%s' refused: %s", text, err.msg);
  assert_int_equal(p.mode, mode);
  assert_int_equal(p.minutes, minutes);
}

/* text is refused, *out is untouched and the error mentions needle. */
static void expect_refused(const char *text, const char *needle)
{
  struct confirm_policy p = {CONFIRM_MODE_CACHED, 77};
  struct owcp_error err = {{0}};

  assert_int_equal(confirm_policy_parse(text, &p, &err), -1);
  print_message("'%s': %s\n", text ? text : "(null)", err.msg);
  assert_non_null(strstr(err.msg, needle));
  assert_int_equal(p.mode, CONFIRM_MODE_CACHED);
  assert_int_equal(p.minutes, 77);
}

static void test_policy_parse(void **state)
{
  (void)state;
  expect_policy("required", CONFIRM_MODE_REQUIRED, 0);
  expect_policy("off", CONFIRM_MODE_OFF, 0);
  expect_policy("cached:480", CONFIRM_MODE_CACHED, 480);
  expect_policy("cached:1", CONFIRM_MODE_CACHED, 1);
  expect_policy("cached:10080", CONFIRM_MODE_CACHED, 10080);

  expect_refused(NULL, "empty");
  expect_refused("", "empty");
  expect_refused("Required", "not required, cached:MINUTES or off");
  expect_refused("sometimes", "not required, cached:MINUTES or off");
  expect_refused("cached", "not required, cached:MINUTES or off");
  expect_refused("cached:", "whole number");
  expect_refused("cached:0", "1..10080");
  expect_refused("cached:10081", "1..10080");
  expect_refused("cached:99999999999999999999", "1..10080");
  expect_refused("cached:-5", "whole number");
  expect_refused("cached:+5", "whole number");
  expect_refused("cached: 5", "whole number");
  expect_refused("cached:5m", "'m' after the number");
  expect_refused("cached:5 ", "after the number");
}

static void test_cache_window(void **state)
{
  const time_t t = 1800000000;

  (void)state;
  assert_true(confirm_cache_covers(t, 480, t));
  assert_true(confirm_cache_covers(t, 480, t + (time_t)480 * 60 - 1));
  assert_false(confirm_cache_covers(t, 480, t + (time_t)480 * 60));
  assert_false(confirm_cache_covers(t, 1, t + 3600));
  /* An approval from the future covers nothing. */
  assert_false(confirm_cache_covers(t + 1, 480, t));
  /* Nor does a window outside the policy's range. */
  assert_false(confirm_cache_covers(t, 0, t));
  assert_false(confirm_cache_covers(t, -1, t));
  assert_false(confirm_cache_covers(t, 10081, t));
}

static void expect_summary(char *got, const char *want)
{
  assert_non_null(got);
  assert_string_equal(got, want);
  free(got);
}

static void test_summaries(void **state)
{
  struct owcp_error err = {{0}};

  (void)state;
  expect_summary(confirm_summary_otpce("1.3.6.1.4.1.311.21.8.1.1",
                                       "EXAMPLE\\alice",
                                       "LAPTOP-234.example.com", &err),
                 "Issue a smart-card logon certificate (template "
                 "1.3.6.1.4.1.311.21.8.1.1) to EXAMPLE\\alice for "
                 "LAPTOP-234.example.com?");
  expect_summary(
      confirm_summary_otpce("SmartcardLogon", "EXAMPLE\\alice", NULL, &err),
      "Issue a smart-card logon certificate (template SmartcardLogon) to "
      "EXAMPLE\\alice?");
  expect_summary(confirm_summary_wstep("User", "CN=Alice Example", 365,
                                       "alice@example.com", &err),
                 "Issue certificate 'User' (CN=Alice Example, valid 365 "
                 "days) to alice@example.com?");
  expect_summary(
      confirm_summary_wstep("User", "CN=A", 1, "a@example.com", &err),
      "Issue certificate 'User' (CN=A, valid 1 day) to "
      "a@example.com?");
  expect_summary(confirm_summary_mras("sip:alice@example.com", 480, &err),
                 "Allow audio/video relay credentials for "
                 "sip:alice@example.com (8 hours)?");
  expect_summary(confirm_summary_mras("sip:a@example.com", 60, &err),
                 "Allow audio/video relay credentials for sip:a@example.com "
                 "(1 hour)?");
  expect_summary(confirm_summary_mras("sip:a@example.com", 90, &err),
                 "Allow audio/video relay credentials for sip:a@example.com "
                 "(90 minutes)?");
  expect_summary(confirm_summary_mras("sip:a@example.com", 1, &err),
                 "Allow audio/video relay credentials for sip:a@example.com "
                 "(1 minute)?");
}

static void test_summary_refusals(void **state)
{
  struct owcp_error err = {{0}};

  (void)state;
  assert_null(confirm_summary_otpce("T", "EXAMPLE\\alice",
                                    "evil\xe2\x80\xaemoc.elpmaxe", &err));
  assert_non_null(strstr(err.msg, "client host"));
  assert_non_null(strstr(err.msg, "U+202E"));
  assert_null(confirm_summary_otpce("T", "EXAMPLE\\al\x1b[2Jice", NULL, &err));
  assert_non_null(strstr(err.msg, "U+001B"));
  assert_null(confirm_summary_otpce("T", "\xff\xfe", NULL, &err));
  assert_non_null(strstr(err.msg, "not valid UTF-8"));
  assert_null(confirm_summary_wstep("User", "CN=A\xe2\x81\xa6", 365,
                                    "a@example.com", &err));
  assert_non_null(strstr(err.msg, "U+2066"));
  assert_null(confirm_summary_wstep("User", "CN=A", 0, "a@example.com", &err));
  assert_non_null(strstr(err.msg, "validity"));
  assert_null(confirm_summary_mras("sip:a@example.com", 0, &err));
  assert_non_null(strstr(err.msg, "duration"));
  assert_null(confirm_summary_mras("", 60, &err));
  assert_non_null(strstr(err.msg, "identity"));
}

static void test_config_refusals(void **state)
{
  struct confirm_config c = {.requestor = "enroll@example.com",
                             .token_file = "/nonexistent/token",
                             .dispatcher = "http://127.0.0.1:1/owcp/0.1",
                             .insecure_http = true,
                             .timeout = 0};
  struct confirm_service *s = (struct confirm_service *)&c;
  struct owcp_error err = {{0}};

  (void)state;
  assert_int_equal(confirm_service_new(&c, &s, &err), -1);
  assert_null(s);
  assert_non_null(strstr(err.msg, "[owcp] timeout"));
  c.timeout = 120;
  c.requestor = NULL;
  assert_int_equal(confirm_service_new(&c, &s, &err), -1);
  assert_non_null(strstr(err.msg, "[owcp] requestor"));
  c.requestor = "enroll@example.com";
  /* The token file is read at once, not at the first issuance. */
  assert_int_equal(confirm_service_new(&c, &s, &err), -1);
  assert_null(s);
  print_message("%s\n", err.msg);
  assert_non_null(strstr(err.msg, "[owcp] is unusable"));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_policy_parse),
      cmocka_unit_test(test_cache_window),
      cmocka_unit_test(test_summaries),
      cmocka_unit_test(test_summary_refusals),
      cmocka_unit_test(test_config_refusals),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
