/*
 * test_e2e_listed.c — end to end, CD-List's listings recorded in batches
 * off the request path (dispatcher/listed.h,
 * procedures/owcp_listed_record.sql): what accumulates while a batch is
 * being written is the next batch (listing write transactions per
 * delivery well below 1), a transaction listed twice, or by two
 * dispatcher processes, is recorded once, a CD-Reply that beats its
 * listing's batch still logs "listed" before "answered", the queue is
 * flushed at SIGTERM, and the log's chain verifies.
 *
 * A batch is held back deterministically by locking the transactions
 * table from the test in EXCLUSIVE mode: CD-List's reads go on, the
 * writer's batch waits for its row locks, and what CD-List delivers
 * meanwhile queues up behind it. (A row lock would not do: the writer
 * skips rows other transactions hold, owcp_listed_record.sql.)
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "itest.h"

#define CLIENTS 8

struct fx {
  struct itest_env a; /* owns the database and the key directory */
  struct itest_env b; /* a second process: same database, same keys */
  char *token;        /* requestor access@example.com */
  struct itest_client c[CLIENTS];
  char *tx[CLIENTS];  /* one pending transaction per client's account */
  char *xml[CLIENTS]; /* its request */
};

static int setup(void **state)
{
  struct fx *f = calloc(1, sizeof *f);
  assert_non_null(f);
  *state = f;
  itest_env_init(&f->a, "listed");
  f->token = itest_requestor_add(&f->a, "access@example.com", 0);
  itest_start(&f->a, NULL);
  for (int i = 0; i < CLIENTS; i++) {
    char account[64], ident[32];

    snprintf(account, sizeof account, "lister%d@example.com", i);
    snprintf(ident, sizeof ident, "listed-%d", i);
    itest_account_add(&f->a, account);
    itest_client_init(&f->c[i], account);
    itest_client_enrol(&f->a, &f->c[i]);
    f->xml[i] =
        itest_request_xml("access@example.com", account, ident, true, 0);
    f->tx[i] = itest_confirm_ok(&f->a, f->token, f->xml[i], 300);
  }
  return 0;
}

static int teardown(void **state)
{
  struct fx *f = *state;

  if (f->b.pid > 0 || f->b.base[0] != '\0')
    itest_env_second_fini(&f->b);
  if (f->a.pid > 0)
    itest_stop(&f->a);
  for (int i = 0; i < CLIENTS; i++) {
    itest_client_free(&f->c[i]);
    free(f->tx[i]);
    free(f->xml[i]);
  }
  free(f->token);
  itest_env_fini(&f->a);
  free(f);
  return 0;
}

static void sleep_ms(long ms)
{
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* CD-List (Wait 0) of client i on e, expecting its transaction. */
static void list(struct fx *f, const struct itest_env *e, int i)
{
  struct itest_http h;

  itest_list(e, &f->c[i], 0, &h);
  ITEST_EXPECT(h, 200);
  if (itest_pending_find(&h, f->tx[i]) == NULL)
    itest_fail("CD-List of client %d did not deliver %s", i, f->tx[i]);
  itest_http_free(&h);
}

static long long listed_entries(struct fx *f, const char *tx)
{
  return itest_sql_count1(&f->a,
                          "SELECT count(*) FROM log WHERE event = "
                          "'transaction.listed' AND transaction = $1",
                          tx);
}

/* Waits (bounded) until tx's listing is recorded. */
static void await_recorded(struct fx *f, const char *tx)
{
  double deadline = itest_now() + 10;

  while (itest_sql_count1(&f->a,
                          "SELECT count(*) FROM transactions WHERE id = $1 "
                          "AND first_listed_at IS NOT NULL",
                          tx) == 0) {
    if (itest_now() > deadline)
      itest_fail("the listing of %s was not recorded within 10 s", tx);
    sleep_ms(20);
  }
}

/* A test connection holding the transactions table in EXCLUSIVE mode:
 * reads go on, the listing writer's next batch (and any CD-Reply) waits. */
static PGconn *lock_table(struct fx *f)
{
  PGconn *c = PQconnectdb(f->a.conninfo);
  PGresult *r;

  assert_int_equal(PQstatus(c), CONNECTION_OK);
  r = PQexec(c, "BEGIN; LOCK TABLE transactions IN EXCLUSIVE MODE");
  assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
  PQclear(r);
  return c;
}

static void unlock_table(PGconn *c)
{
  PGresult *r = PQexec(c, "COMMIT");

  assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
  PQclear(r);
  PQfinish(c);
}

/* Lists client 0's transaction with the table locked, and waits until the
 * writer's batch is blocked on that lock. */
static PGconn *hold_first_batch(struct fx *f)
{
  PGconn *lock = lock_table(f);
  double deadline = itest_now() + 10;

  list(f, &f->a, 0);
  while (itest_sql_count(&f->a, "SELECT count(*) FROM pg_stat_activity "
                                "WHERE wait_event_type = 'Lock' AND query "
                                "LIKE '%owcp_listed_record%'") == 0) {
    if (itest_now() > deadline)
      itest_fail("the listing writer never waited on the locked row");
    sleep_ms(10);
  }
  return lock;
}

/* Distinct transactions (xids) that recorded the listings of clients
 * [from, to). */
static long long writers(struct fx *f, int from, int to)
{
  char sql[4096];
  size_t len = (size_t)snprintf(
      sql, sizeof sql,
      "SELECT count(DISTINCT xmin::text) FROM transactions WHERE id IN (");

  for (int i = from; i < to; i++)
    len += (size_t)snprintf(sql + len, sizeof sql - len, "%s'%s'",
                            i > from ? ", " : "", f->tx[i]);
  snprintf(sql + len, sizeof sql - len, ")");
  return itest_sql_count(&f->a, sql);
}

/* Everything delivered while a batch is being written is one batch: 8
 * deliveries, 2 write transactions (the held one and the rest). */
static void test_batches(void **state)
{
  struct fx *f = *state;
  PGconn *lock = hold_first_batch(f);

  for (int i = 1; i < CLIENTS; i++)
    list(f, &f->a, i);
  for (int i = 1; i < CLIENTS; i++)
    assert_int_equal(listed_entries(f, f->tx[i]), 0);
  unlock_table(lock);
  for (int i = 0; i < CLIENTS; i++)
    await_recorded(f, f->tx[i]);
  assert_int_equal(writers(f, 0, CLIENTS), 2);
  for (int i = 0; i < CLIENTS; i++)
    assert_int_equal(listed_entries(f, f->tx[i]), 1);
}

/* Listed twice by one process and again by a second process on the same
 * database: one entry each, and the process's later listings add none. */
static void test_once_across_processes(void **state)
{
  struct fx *f = *state;

  itest_env_second(&f->b, &f->a);
  itest_start(&f->b, NULL);
  for (int i = 0; i < CLIENTS; i++) {
    list(f, &f->a, i);
    list(f, &f->b, i);
    list(f, &f->a, i);
  }
  for (int i = 0; i < CLIENTS; i++)
    await_recorded(f, f->tx[i]);
  for (int i = 0; i < CLIENTS; i++) {
    list(f, &f->b, i);
    list(f, &f->a, i);
  }
  sleep_ms(300); /* any further batch would have been written by now */
  for (int i = 0; i < CLIENTS; i++)
    assert_int_equal(listed_entries(f, f->tx[i]), 1);
}

/* A CD-Reply racing its listing's batch (both held by the table lock, then
 * let go together; test_store.c fixes the order where the reply wins):
 * the log has exactly one "listed" entry for it, before "answered". */
static void test_listed_before_answered(void **state)
{
  struct fx *f = *state;
  PGconn *lock = hold_first_batch(f);
  int ws = -1;

  list(f, &f->a, 1); /* queued behind the held batch */
  pid_t child = fork();
  assert_true(child >= 0);
  if (child == 0) {
    struct itest_http h;
    itest_reply(&f->a, &f->c[1], f->tx[1], "Accept", NULL, f->xml[1], &h);
    _exit(h.status == 200 ? 0 : 1);
  }
  sleep_ms(300); /* the reply waits on the table lock too */
  unlock_table(lock);
  assert_int_equal(waitpid(child, &ws, 0), child);
  assert_true(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
  await_recorded(f, f->tx[0]);
  sleep_ms(300); /* the queued batch has run */
  assert_int_equal(listed_entries(f, f->tx[1]), 1);
  assert_int_equal(
      itest_sql_count1(&f->a,
                       "SELECT count(*) FROM log li JOIN log an ON "
                       "an.transaction = li.transaction WHERE li.event = "
                       "'transaction.listed' AND an.event = "
                       "'transaction.answered' AND li.seq < an.seq AND "
                       "li.transaction = $1",
                       f->tx[1]),
      1);
}

/* SIGTERM while listings wait in the queue (behind a held batch): the
 * process writes them before it exits, and the chain verifies. */
static void test_flushed_at_shutdown(void **state)
{
  struct fx *f = *state;
  PGconn *lock = hold_first_batch(f);
  const char *const verify[] = {"log", "verify", "--no-head", NULL};
  int status = -1;

  for (int i = 1; i < CLIENTS; i++)
    list(f, &f->a, i);
  assert_int_equal(kill(f->a.pid, SIGTERM), 0);
  sleep_ms(500); /* shutting down, its writer still held */
  unlock_table(lock);
  itest_stop(&f->a);
  for (int i = 0; i < CLIENTS; i++)
    assert_int_equal(listed_entries(f, f->tx[i]), 1);
  /* A later process seals the entries; the chain verifies. */
  itest_start(&f->a, NULL);
  double deadline = itest_now() + 10;
  while (itest_sql_count(&f->a, "SELECT count(*) FROM log l WHERE NOT EXISTS "
                                "(SELECT 1 FROM log_chain c "
                                "WHERE c.seq = l.seq)") != 0) {
    if (itest_now() > deadline)
      itest_fail("the log was not sealed within 10 s");
    sleep_ms(50);
  }
  free(itest_admin(&f->a, &status, verify));
  assert_int_equal(status, 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_batches, setup, teardown),
      cmocka_unit_test_setup_teardown(test_once_across_processes, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_listed_before_answered, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_flushed_at_shutdown, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
