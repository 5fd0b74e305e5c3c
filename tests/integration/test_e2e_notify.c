/*
 * test_e2e_notify.c — end to end, how commits wake long polls
 * (dispatcher/notify.h, notify_send.h), with two dispatcher processes on
 * one database: a process wakes its own long polls in memory, with no
 * NOTIFY reaching the database; its notify sender passes the keys of many
 * commits to the other process in one NOTIFY transaction; and a sender
 * whose connection broke sends again on a new one, so that nothing is lost.
 *
 * The sender is observed through its backend (application_name
 * "owcp-dispatcher notify <pid>"): frozen with SIGSTOP (the test runs as
 * the throwaway cluster's user), or terminated.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <libpq-fe.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "itest.h"

struct fx {
  struct itest_env a; /* owns the database */
  struct itest_env b; /* a second process on the same database */
  char *token;        /* requestor access@example.com */
  struct itest_client alice_a, alice_b; /* enrolled through a, b */
  pid_t frozen;                         /* a backend we SIGSTOPped, or 0 */
};

static int setup(void **state)
{
  struct fx *f = calloc(1, sizeof *f);
  assert_non_null(f);
  *state = f;
  itest_env_init(&f->a, "notify");
  itest_account_add(&f->a, "alice@example.com");
  f->token = itest_requestor_add(&f->a, "access@example.com", 0);
  itest_start_pair(&f->a, &f->b);
  itest_client_init(&f->alice_a, "alice@example.com");
  itest_client_enrol(&f->a, &f->alice_a);
  itest_client_init(&f->alice_b, "alice@example.com");
  itest_client_enrol(&f->b, &f->alice_b);
  return 0;
}

static int teardown(void **state)
{
  struct fx *f = *state;

  if (f->frozen > 0)
    kill(f->frozen, SIGCONT);
  itest_pair_fini(&f->a, &f->b);
  itest_client_free(&f->alice_a);
  itest_client_free(&f->alice_b);
  free(f->token);
  free(f);
  return 0;
}

static void sleep_s(double s)
{
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  nanosleep(&ts, NULL);
}

/* A transaction confirmed through a and answered (Accept) by alice_a, so
 * that nothing is pending afterwards; returns its id (caller frees). */
static char *flow(struct fx *f, const char *id)
{
  char *xml =
      itest_request_xml("access@example.com", "alice@example.com", id, true, 0);
  char *tx = itest_confirm_ok(&f->a, f->token, xml, 0);
  struct itest_http h;

  itest_reply(&f->a, &f->alice_a, tx, "Accept", NULL, xml, &h);
  ITEST_EXPECT(h, 200);
  itest_http_free(&h);
  free(xml);
  return tx;
}

/* The backend pid of env's notify sender, waiting up to 5 s for it to
 * connect (it connects on its first send); 0 when it never did. */
static pid_t sender_pid(struct fx *f, const struct itest_env *env)
{
  char app[64];

  snprintf(app, sizeof app, "owcp-dispatcher notify %ld", (long)env->pid);
  for (int i = 0; i < 100; i++) {
    long long pid =
        itest_sql_count1(&f->a,
                         "SELECT coalesce(max(pid), 0) FROM pg_stat_activity "
                         "WHERE application_name = $1",
                         app);
    if (pid > 0)
      return (pid_t)pid;
    sleep_s(0.05);
  }
  return 0;
}

/* A LISTEN owcp connection of the test's own. */
static PGconn *listen_owcp(struct fx *f)
{
  PGconn *c = PQconnectdb(f->a.conninfo);

  assert_int_equal(PQstatus(c), CONNECTION_OK);
  PGresult *r = PQexec(c, "LISTEN owcp");
  assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
  PQclear(r);
  return c;
}

/* Notifications received by c within wait_s seconds, those sent by
 * backend `from` counted in *from_count and their payloads appended to
 * from_text (size bytes, space-separated). Returns the total. */
static int drain(PGconn *c, double wait_s, pid_t from, int *from_count,
                 char *from_text, size_t size)
{
  int total = 0;
  double end = itest_now() + wait_s;

  for (;;) {
    PGnotify *n;
    assert_true(PQconsumeInput(c));
    while ((n = PQnotifies(c)) != NULL) {
      total++;
      if (n->be_pid == from) {
        size_t len = strlen(from_text);
        (*from_count)++;
        snprintf(from_text + len, size - len, " %s", n->extra);
      }
      PQfreemem(n);
    }
    double left = end - itest_now();
    if (left <= 0)
      return total;
    struct pollfd p = {PQsocket(c), POLLIN, 0};
    (void)poll(&p, 1, (int)(left * 1000) + 1);
  }
}

static json_t *wait_params(int seconds)
{
  return json_pack("{s:i}", "Wait", seconds);
}

/* With a's notify sender frozen, a's own long polls are still woken at
 * once by a's commits (in memory: nothing reaches the database, whose
 * listeners hear nothing), while b's poll waits; once the sender runs
 * again, every key of those commits reaches b in at most two NOTIFY
 * transactions (the one that was in flight and one more), and b's poll
 * answers. */
static void test_own_wakeups_need_no_notify(void **state)
{
  struct fx *f = *state;
  enum { FLOWS = 4 };
  char *txs[FLOWS + 1] = {NULL};
  char text[8192] = "";
  int from_a = 0;

  free(flow(f, "urn:itest:notify:warm-up"));
  pid_t sender = sender_pid(f, &f->a);
  assert_true(sender > 0);
  PGconn *listener = listen_owcp(f);
  (void)drain(listener, 0.3, 0, &from_a, text, sizeof text);
  assert_int_equal(kill(sender, SIGSTOP), 0);
  f->frozen = sender;

  struct itest_call on_b;
  itest_call_start(&on_b, &f->b, "CD-List", f->alice_b.token, wait_params(20));
  itest_let_poll_suspend();
  for (int i = 0; i <= FLOWS; i++) {
    char id[64];
    snprintf(id, sizeof id, "urn:itest:notify:frozen-%d", i);
    char *xml = itest_request_xml("access@example.com", "alice@example.com", id,
                                  true, 0);
    struct itest_call on_a;
    itest_call_start(&on_a, &f->a, "CD-List", f->alice_a.token,
                     wait_params(10));
    itest_let_poll_suspend();
    txs[i] = itest_confirm_ok(&f->a, f->token, xml, 0);
    double committed = itest_now();
    itest_call_join(&on_a);
    ITEST_EXPECT(on_a.h, 200);
    if (itest_pending_find(&on_a.h, txs[i]) == NULL)
      fail_msg("CD-List on a woke without %s: %s", txs[i], on_a.h.body);
    if (on_a.ended - committed > 2.0)
      fail_msg("a's own long poll took %.1f s to wake", on_a.ended - committed);
    itest_http_free(&on_a.h);
    if (i < FLOWS) {
      struct itest_http h;
      itest_reply(&f->a, &f->alice_a, txs[i], "Accept", NULL, xml, &h);
      ITEST_EXPECT(h, 200);
      itest_http_free(&h);
    }
    free(xml);
  }
  /* Nothing was notified while the sender was frozen. */
  assert_int_equal(drain(listener, 0.3, 0, &from_a, text, sizeof text), 0);

  double resumed = itest_now();
  assert_int_equal(kill(sender, SIGCONT), 0);
  f->frozen = 0;
  itest_call_join(&on_b);
  ITEST_EXPECT(on_b.h, 200);
  if (itest_pending_find(&on_b.h, txs[FLOWS]) == NULL)
    fail_msg("CD-List on b woke without %s: %s", txs[FLOWS], on_b.h.body);
  if (on_b.ended < resumed)
    fail_msg("b's long poll answered while a's sender was frozen");
  if (on_b.ended - resumed > 2.0)
    fail_msg("b's long poll took %.1f s to wake", on_b.ended - resumed);
  itest_http_free(&on_b.h);

  (void)drain(listener, 1.0, sender, &from_a, text, sizeof text);
  /* 2 * FLOWS + 1 commits, at most 2 NOTIFY transactions, every key. */
  if (from_a < 1 || from_a > 2)
    fail_msg("a's sender sent %d notifications for %d commits", from_a,
             2 * FLOWS + 1);
  for (int i = 0; i <= FLOWS; i++) {
    char key[96];
    snprintf(key, sizeof key, " tx:%s", txs[i]);
    if (i < FLOWS && strstr(text, key) == NULL)
      fail_msg("key%s missing from a's notifications:%s", key, text);
    free(txs[i]);
  }
  assert_non_null(strstr(text, " account:"));
  PQfinish(listener);
}

/* The sender's connection is terminated: the next wake-up for b is sent
 * again on a new connection, and b's long poll answers at once rather
 * than at its deadline. */
static void test_sender_sends_again(void **state)
{
  struct fx *f = *state;
  char pid[32];

  free(flow(f, "urn:itest:notify:before"));
  pid_t sender = sender_pid(f, &f->a);
  assert_true(sender > 0);
  snprintf(pid, sizeof pid, "%ld", (long)sender);
  assert_int_equal(
      itest_sql_count1(&f->a,
                       "SELECT count(*) FROM pg_terminate_backend($1::int) t "
                       "WHERE t",
                       pid),
      1);
  for (int i = 0; i < 100 && itest_sql_count1(&f->a,
                                              "SELECT count(*) FROM "
                                              "pg_stat_activity WHERE pid = "
                                              "$1::int",
                                              pid) > 0;
       i++)
    sleep_s(0.05);

  struct itest_call on_b;
  itest_call_start(&on_b, &f->b, "CD-List", f->alice_b.token, wait_params(15));
  itest_let_poll_suspend();
  char *xml = itest_request_xml("access@example.com", "alice@example.com",
                                "urn:itest:notify:after", true, 0);
  char *tx = itest_confirm_ok(&f->a, f->token, xml, 0);
  double committed = itest_now();
  itest_call_join(&on_b);
  ITEST_EXPECT(on_b.h, 200);
  if (itest_pending_find(&on_b.h, tx) == NULL)
    fail_msg("CD-List on b woke without %s: %s", tx, on_b.h.body);
  if (on_b.ended - committed > 3.0)
    fail_msg("b's long poll took %.1f s to wake after the sender's "
             "connection broke",
             on_b.ended - committed);
  itest_http_free(&on_b.h);
  pid_t again = sender_pid(f, &f->a);
  assert_true(again > 0 && again != sender);
  free(tx);
  free(xml);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_own_wakeups_need_no_notify, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_sender_sends_again, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
