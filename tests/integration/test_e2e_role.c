/*
 * test_e2e_role.c — the dispatcher's own database role (issue 10 §3):
 * after `owcp-admin migrate --runtime-role ROLE` a dispatcher connected as
 * ROLE serves a full RD-Confirm → CD-List → CD-Reply → RD-Status flow and
 * seals the log, while ROLE cannot DELETE, UPDATE or TRUNCATE log rows nor
 * disable the log's triggers (which needs ownership); the command refuses
 * a superuser or unknown role. Real PostgreSQL, real processes, HTTP.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "itest.h"

struct fx {
  struct itest_env env;
  char role[128];
  char admin_conninfo[PATH_MAX]; /* the migrating (super)user's */
  char *token;                   /* requestor access@example.com */
  char *code;                    /* alice's enrollment code */
};

/* Runs sql on conninfo; returns the error message ("" on success). */
static char *run_sql(const char *conninfo, const char *sql)
{
  PGconn *pg = PQconnectdb(conninfo);
  PGresult *res;
  char *msg;

  if (PQstatus(pg) != CONNECTION_OK)
    itest_fail("cannot connect: %s", PQerrorMessage(pg));
  res = PQexec(pg, sql);
  msg = strdup(PQresultStatus(res) == PGRES_COMMAND_OK ||
                       PQresultStatus(res) == PGRES_TUPLES_OK
                   ? ""
                   : PQresultErrorMessage(res));
  assert_non_null(msg);
  PQclear(res);
  PQfinish(pg);
  return msg;
}

static void run_sql_ok(const char *conninfo, const char *sql)
{
  char *msg = run_sql(conninfo, sql);
  if (msg[0] != '\0')
    itest_fail("%s: %s", sql, msg);
  free(msg);
}

static void admin_expect(struct fx *f, int want, const char *needle,
                         const char *const *args)
{
  int status;
  char *out = itest_admin(&f->env, &status, args);
  if (status != want || (needle && strstr(out, needle) == NULL))
    itest_fail("owcp-admin %s: status %d (want %d), output: %s", args[0],
               status, want, out);
  free(out);
}

static int setup(void **state)
{
  struct fx *f = calloc(1, sizeof *f);
  char sql[256];

  assert_non_null(f);
  *state = f;
  itest_env_init(&f->env, "role");
  snprintf(f->role, sizeof f->role, "owcp_rt_%s", f->env.dbname);
  snprintf(sql, sizeof sql, "CREATE ROLE \"%s\" LOGIN", f->role);
  run_sql_ok(f->env.conninfo, sql);
  snprintf(f->admin_conninfo, sizeof f->admin_conninfo, "%s", f->env.conninfo);
  const char *grant[] = {"migrate", "--runtime-role", f->role, NULL};
  admin_expect(f, 0, "log: INSERT, SELECT only", grant);
  itest_account_add(&f->env, "alice@example.com");
  f->token = itest_requestor_add(&f->env, "access@example.com", 0);
  f->code = itest_code_issue(&f->env, "alice@example.com", 0);
  /* From here on the env's conninfo is the runtime role's: the dispatcher
   * and the harness's queries connect as it. */
  int n = snprintf(f->env.conninfo, sizeof f->env.conninfo, "%.3900s user=%s",
                   f->admin_conninfo, f->role);
  assert_true(n > 0 && (size_t)n < sizeof f->env.conninfo);
  return 0;
}

static int teardown(void **state)
{
  struct fx *f = *state;
  if (f->env.pid > 0)
    itest_stop(&f->env);
  free(f->token);
  free(f->code);
  itest_env_fini(&f->env);
  free(f);
  return 0;
}

static void flow_as_runtime_role(void **state)
{
  struct fx *f = *state;
  struct itest_client alice;
  struct itest_http h;

  itest_start(&f->env, NULL);
  itest_client_init(&alice, "alice@example.com");
  itest_register(&f->env, &alice, f->code, NULL, &h);
  ITEST_EXPECT(h, 200);
  itest_client_adopt(&alice, &h);
  itest_http_free(&h);

  char *xml = itest_request_xml("access@example.com", "alice@example.com",
                                "urn:itest:role:1", true, 0);
  char *tx = itest_confirm_ok(&f->env, f->token, xml, 0);
  itest_list(&f->env, &alice, -1, &h);
  ITEST_EXPECT(h, 200);
  assert_non_null(itest_pending_find(&h, tx));
  itest_http_free(&h);
  itest_reply(&f->env, &alice, tx, "Accept", NULL, xml, &h);
  ITEST_EXPECT(h, 200);
  itest_http_free(&h);
  json_t *p = json_pack("{s:s}", "Transaction", tx);
  itest_post(&f->env, "RD-Status", f->token, p, &h);
  json_decref(p);
  ITEST_EXPECT(h, 200);
  assert_string_equal(itest_str(&h, "Response"), "Accept");
  itest_http_free(&h);

  /* The sealer runs as the runtime role too: everything gets chained. */
  for (int i = 0; i < 100; i++) {
    if (itest_sql_count(&f->env, "SELECT count(*) FROM log l WHERE NOT "
                                 "EXISTS (SELECT 1 FROM log_chain c WHERE "
                                 "c.seq = l.seq)") == 0)
      break;
    usleep(100 * 1000);
  }
  assert_int_equal(itest_sql_count(&f->env, "SELECT count(*) FROM log l "
                                            "WHERE NOT EXISTS (SELECT 1 FROM "
                                            "log_chain c WHERE c.seq = "
                                            "l.seq)"),
                   0);
  assert_true(itest_sql_count(&f->env, "SELECT count(*) FROM log WHERE "
                                       "event = 'transaction.answered'") == 1);
  itest_get(&f->env, "/owcp/0.1/Log-Head", &h);
  ITEST_EXPECT(h, 200);
  itest_http_free(&h);
  itest_stop(&f->env);
  free(tx);
  free(xml);
  itest_client_free(&alice);
}

/* Each statement, as the runtime role, fails for lack of privilege or
 * ownership, not because of the append-only trigger (which an owner
 * could disable). */
static void runtime_role_cannot_erase(void **state)
{
  struct fx *f = *state;
  static const char replace_trigger_fn[] =
      "CREATE OR REPLACE FUNCTION owcp_log_immutable() RETURNS trigger "
      "LANGUAGE plpgsql AS $$ BEGIN RETURN OLD; END $$";
  static const char *const attacks[] = {
      "DELETE FROM log",
      "DELETE FROM log_chain",
      "UPDATE log SET detail = 'forged'",
      "UPDATE log_chain SET hash = hash",
      "TRUNCATE log",
      "TRUNCATE log_chain",
      "ALTER TABLE log DISABLE TRIGGER ALL",
      "ALTER TABLE log_chain DISABLE TRIGGER log_chain_no_change",
      "DROP TABLE log_chain",
      replace_trigger_fn,
      "SELECT owcp_grant_runtime(current_user)",
  };

  for (size_t i = 0; i < sizeof attacks / sizeof attacks[0]; i++) {
    char *msg = run_sql(f->env.conninfo, attacks[i]);
    if (strstr(msg, "permission denied") == NULL &&
        strstr(msg, "must be owner") == NULL)
      itest_fail("as the runtime role, '%s' was not refused for lack of "
                 "privilege: '%s'",
                 attacks[i], msg);
    free(msg);
  }
  /* The same role can still append (the dispatcher needs it). */
  run_sql_ok(f->env.conninfo, "SELECT owcp_log_append('account.added', "
                              "'x@example.com', NULL, NULL, NULL, NULL)");
}

static void refuses_unfit_roles(void **state)
{
  struct fx *f = *state;
  char saved[PATH_MAX];

  snprintf(saved, sizeof saved, "%s", f->env.conninfo);
  snprintf(f->env.conninfo, sizeof f->env.conninfo, "%s", f->admin_conninfo);
  const char *super[] = {"migrate", "--runtime-role", "postgres", NULL};
  admin_expect(f, 3, NULL, super); /* stderr: "... is a superuser ..." */
  const char *none[] = {"migrate", "--runtime-role", "no_such_role", NULL};
  admin_expect(f, 3, NULL, none);
  const char *empty[] = {"migrate", "--runtime-role", "", NULL};
  admin_expect(f, 2, NULL, empty);
  snprintf(f->env.conninfo, sizeof f->env.conninfo, "%s", saved);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(flow_as_runtime_role),
      cmocka_unit_test(runtime_role_cannot_erase),
      cmocka_unit_test(refuses_unfit_roles),
  };
  /* One database and role for the group (the role is cluster-wide). */
  return cmocka_run_group_tests(tests, setup, teardown);
}
