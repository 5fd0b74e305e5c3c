/*
 * test_radius_freeradius.c — the bridge's RADIUS client against a real
 * FreeRADIUS 3.2.1 started on loopback by radius_itest.h (its Accept and
 * Challenge users, and wrong passwords for Reject).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "owcp/util.h"
#include "radius.h"
#include "radius_itest.h"
#include "testutil.h"

#define SECRET RADIUS_ITEST_SECRET
#define ALICE RADIUS_ITEST_ALICE
#define ALICE_PIN RADIUS_ITEST_ALICE_PIN
#define ALICE_OTP RADIUS_ITEST_ALICE_OTP
#define CAROL RADIUS_ITEST_CAROL
#define CAROL_OTP RADIUS_ITEST_CAROL_OTP
#define TIMEOUT_MS 300

static int setup(void **state)
{
  struct radius_itest_freeradius *fr = calloc(1, sizeof *fr);

  if (fr == NULL)
    return -1;
  *state = fr;
  return radius_itest_freeradius_start(fr, NULL);
}

static int teardown(void **state)
{
  radius_itest_freeradius_stop(*state);
  free(*state);
  return 0;
}

/* radius_pap against the given ports; asserts that it returns 0. */
static void ask(const unsigned short *ports, size_t count, const char *secret,
                const char *user, const char *password,
                struct radius_result *out)
{
  struct radius_config cfg;
  struct radius_server servers[2];
  struct owcp_error err = {{0}};

  radius_itest_config(&cfg, servers, ports, count, secret, TIMEOUT_MS, 1);
  if (radius_pap(&cfg, user, password, out, &err) != 0)
    fail_msg("radius_pap: %s", err.msg);
}

static void test_accept_with_pin_prefix(void **state)
{
  struct radius_itest_freeradius *fr = *state;
  struct radius_result r;

  ask(&fr->port, 1, SECRET, ALICE, ALICE_PIN ALICE_OTP, &r);
  assert_string_equal(radius_outcome_name(r.outcome), "ACCEPT");
  assert_true(r.reply.has_message_authenticator);
  assert_string_equal(r.reply.reply_message, "welcome alice");
  assert_int_equal(r.dropped, 0);
  /* FreeRADIUS decoded exactly PIN + OTP from the hidden User-Password,
   * and matched the user name with its backslash. */
  testutil_assert_file_contains(fr->log,
                                "User-Password = \"" ALICE_PIN ALICE_OTP "\"");
  testutil_assert_file_contains(fr->log, "User-Name = \"EXAMPLE\\\\alice\"");
}

static void test_reject(void **state)
{
  struct radius_itest_freeradius *fr = *state;
  struct radius_result r;

  /* The OTP alone, without the PIN prefix, is a wrong password. */
  ask(&fr->port, 1, SECRET, ALICE, ALICE_OTP, &r);
  assert_string_equal(radius_outcome_name(r.outcome), "REJECT");
  assert_true(r.reply.has_message_authenticator);
  ask(&fr->port, 1, SECRET, ALICE, ALICE_PIN "654321", &r);
  assert_string_equal(radius_outcome_name(r.outcome), "REJECT");
  /* An unknown user too. */
  ask(&fr->port, 1, SECRET, "EXAMPLE\\mallory", ALICE_PIN ALICE_OTP, &r);
  assert_string_equal(radius_outcome_name(r.outcome), "REJECT");
}

static void test_challenge(void **state)
{
  struct radius_itest_freeradius *fr = *state;
  struct radius_result r;

  ask(&fr->port, 1, SECRET, CAROL, CAROL_OTP, &r);
  assert_string_equal(radius_outcome_name(r.outcome), "CHALLENGE");
  assert_string_equal(r.reply.reply_message, "enter the next code");
  assert_int_equal(r.reply.state_len, 11);
  assert_memory_equal(r.reply.state, "challenge-1", 11);
}

static void test_wrong_secret_no_answer(void **state)
{
  struct radius_itest_freeradius *fr = *state;
  struct radius_result r;

  /* FreeRADIUS drops the request (its Message-Authenticator does not
   * verify); a reply, were one sent, would not verify here either. */
  ask(&fr->port, 1, "not-the-secret", ALICE, ALICE_PIN ALICE_OTP, &r);
  assert_string_equal(radius_outcome_name(r.outcome), "NO_ANSWER");
  assert_non_null(strstr(r.diagnostics, "no valid answer"));
}

static void test_dead_port_within_timeout(void **state)
{
  unsigned short dead = radius_itest_free_port();
  struct radius_result r;

  (void)state;
  assert_int_not_equal(dead, 0);
  long long start_ms = radius_itest_now_ms();
  ask(&dead, 1, SECRET, ALICE, ALICE_PIN ALICE_OTP, &r);
  long long took = radius_itest_now_ms() - start_ms;
  assert_string_equal(radius_outcome_name(r.outcome), "NO_ANSWER");
  /* two tries (retries = 1) of TIMEOUT_MS each */
  assert_true(took >= 2LL * TIMEOUT_MS);
  assert_true(took < 2LL * TIMEOUT_MS + 250);
}

static void test_failover_to_second_server(void **state)
{
  struct radius_itest_freeradius *fr = *state;
  unsigned short ports[2] = {radius_itest_free_port(), fr->port};
  struct radius_result r;
  char dead_note[64];

  assert_int_not_equal(ports[0], 0);
  long long start_ms = radius_itest_now_ms();
  ask(ports, 2, SECRET, ALICE, ALICE_PIN ALICE_OTP, &r);
  long long took = radius_itest_now_ms() - start_ms;
  assert_string_equal(radius_outcome_name(r.outcome), "ACCEPT");
  assert_int_equal(r.server_index, 1);
  (void)snprintf(dead_note, sizeof dead_note, "127.0.0.1:%u: no valid answer",
                 ports[0]);
  assert_non_null(strstr(r.diagnostics, dead_note));
  assert_true(took >= 2LL * TIMEOUT_MS); /* the first server had its tries */
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_accept_with_pin_prefix),
      cmocka_unit_test(test_reject),
      cmocka_unit_test(test_challenge),
      cmocka_unit_test(test_wrong_secret_no_answer),
      cmocka_unit_test(test_dead_port_within_timeout),
      cmocka_unit_test(test_failover_to_second_server),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
