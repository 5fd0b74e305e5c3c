/*
 * test_e2e_approval.c — end to end, device approvals against push fatigue
 * (spec §5, §6; issue 10 sections 1 and 2): number matching (Match in the
 * 202, never in the request the other devices see; the right number
 * approves, a wrong one rejects and is logged), one pending approval per
 * account and approvals_per_hour (429 with Retry, nothing created), the
 * per-address limit, the same answers for unknown, disabled and
 * client-less accounts until the approval is decided, no client or
 * certificate before the approval, and "Not Me" (fraud.reported, RD-Confirm
 * 403 from that requestor to that account for not_me_block seconds).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ctype.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "itest.h"

#define APPROVAL_TIMEOUT_S 5
#define NOT_ME_BLOCK_S 3
#define PER_HOUR 3

struct fx {
  struct itest_env env;
  char *access;                           /* requestor access@example.com */
  char *other;                            /* requestor other@example.com */
  struct itest_client a1, d1, e1, g1, h1; /* alice, dave, erin, gina, hank */
};

static const char *const dispatcher_args[] = {
    "--registration-timeout",
    "5",
    "--approvals-per-hour",
    "3",
    "--not-me-block",
    "3",
    "--register-per-minute-per-address",
    "1000",
    NULL};

static void enrol(struct fx *f, struct itest_client *c, const char *account)
{
  itest_account_add(&f->env, account);
  itest_client_init(c, account);
  itest_client_enrol(&f->env, c);
}

static int setup(void **state)
{
  struct fx *f = calloc(1, sizeof *f);
  int status = 0;

  assert_non_null(f);
  *state = f;
  itest_env_init(&f->env, "approval");
  snprintf(f->env.stderr_path, sizeof f->env.stderr_path, "%s/dispatcher.log",
           f->env.tmpdir);
  itest_account_add(&f->env, "bob@example.com"); /* no client */
  itest_account_add(&f->env, "carol@example.com");
  const char *disable[] = {"account", "disable", "carol@example.com", NULL};
  free(itest_admin(&f->env, &status, disable));
  assert_int_equal(status, 0);
  f->access = itest_requestor_add(&f->env, "access@example.com", 0);
  f->other = itest_requestor_add(&f->env, "other@example.com", 0);
  itest_start(&f->env, dispatcher_args);
  enrol(f, &f->a1, "alice@example.com");
  enrol(f, &f->d1, "dave@example.com");
  enrol(f, &f->e1, "erin@example.com");
  enrol(f, &f->g1, "gina@example.com");
  enrol(f, &f->h1, "hank@example.com");
  return 0;
}

static int teardown(void **state)
{
  struct fx *f = *state;
  if (f->env.pid > 0)
    itest_stop(&f->env);
  itest_client_free(&f->a1);
  itest_client_free(&f->d1);
  itest_client_free(&f->e1);
  itest_client_free(&f->g1);
  itest_client_free(&f->h1);
  free(f->access);
  free(f->other);
  itest_env_fini(&f->env);
  free(f);
  return 0;
}

/* ---- helpers -------------------------------------------------------------
 */

static long long count1(struct fx *f, const char *sql, const char *param)
{
  return itest_sql_count1(&f->env, sql, param);
}

static long long clients_of(struct fx *f, const char *account)
{
  return count1(f,
                "SELECT count(*) FROM clients c JOIN accounts a ON "
                "a.id = c.account_id WHERE a.address = $1",
                account);
}

/* The first ask's 202 has exactly Status, Text, Transaction, Expires and
 * Match (two digits), whatever the account: its shape reveals nothing. */
static void expect_ask_shape(const struct itest_http *h)
{
  const char *want[] = {"Status", "Text", "Transaction", "Expires", "Match"};

  ITEST_EXPECT(*h, 202);
  assert_int_equal(json_object_size(h->json), 5);
  for (size_t i = 0; i < sizeof want / sizeof *want; i++)
    if (itest_str(h, want[i]) == NULL &&
        !json_is_integer(json_object_get(h->json, want[i])))
      itest_fail("202 lacks %s: %s", want[i], h->body);
  const char *m = itest_str(h, "Match");
  if (strlen(m) != 2 || !isdigit((unsigned char)m[0]) ||
      !isdigit((unsigned char)m[1]))
    itest_fail("Match is not two digits: %s", h->body);
}

/* First ask for c: the transaction (caller frees) and the digits. */
static char *ask(struct fx *f, const struct itest_client *c, char match[3])
{
  struct itest_http h;

  itest_register(&f->env, c, NULL, NULL, &h);
  expect_ask_shape(&h);
  memcpy(match, itest_str(&h, "Match"), 3);
  char *tx = strdup(itest_str(&h, "Transaction"));
  assert_non_null(tx);
  itest_http_free(&h);
  return tx;
}

/* The approval request for tx as the approving client c sees it in
 * CD-List (caller frees), or NULL when it is not listed. */
static char *listed_request(struct fx *f, const struct itest_client *c,
                            const char *tx)
{
  struct itest_http h;
  char *xml = NULL;

  itest_list(&f->env, c, -1, &h);
  ITEST_EXPECT(h, 200);
  const json_t *item = itest_pending_find(&h, tx);
  if (item != NULL)
    xml = strdup(json_string_value(json_object_get(item, "Request")));
  itest_http_free(&h);
  return xml;
}

/* Repeat CD-Register of c with tx; returns the status. */
static long repeat(struct fx *f, const struct itest_client *c, const char *tx,
                   struct itest_http *h)
{
  itest_register(&f->env, c, NULL, tx, h);
  return h->status;
}

/* Overwrites every occurrence of needle in s with spaces. */
static void blank(char *s, const char *needle)
{
  size_t n = strlen(needle);

  for (char *p = strstr(s, needle); p != NULL; p = strstr(p + n, needle))
    memset(p, ' ', n);
}

/* The request names when and from which address it was asked, and carries
 * no other digits than those of its timestamps, the transaction, the
 * address and the fixed XML text: the Match digits are not in it. */
static void expect_request_without_match(char *xml, const char *tx)
{
  regex_t time_re;
  regmatch_t m;

  if (strstr(xml, "from address 127.0.0.1") == NULL ||
      strstr(xml, "Asked 20") == NULL)
    itest_fail("the request does not say when and from where: %s", xml);
  blank(xml, tx);
  blank(xml, "127.0.0.1");
  blank(xml, "http://schema.comodo.com/2011/owcp/0.1");
  blank(xml, "version=\"1.0\"");
  blank(xml, "UTF-8");
  assert_int_equal(
      regcomp(&time_re,
              "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z",
              REG_EXTENDED),
      0);
  while (regexec(&time_re, xml, 1, &m, 0) == 0)
    memset(xml + m.rm_so, ' ', (size_t)(m.rm_eo - m.rm_so));
  regfree(&time_re);
  for (const char *p = xml; *p != '\0'; p++)
    if (isdigit((unsigned char)*p))
      itest_fail("the approval request carries digits beyond its time, "
                 "address and transaction: ...%.40s",
                 p);
}

/* A different two-digit number than m. */
static void other_number(const char m[3], char out[3])
{
  out[0] = (char)('0' + (m[0] - '0' + 1) % 10);
  out[1] = m[1];
  out[2] = '\0';
}

/* ---- number matching ------------------------------------------------------
 */

static void test_right_number_approves(void **state)
{
  struct fx *f = *state;
  struct itest_client nc;
  struct itest_http h;
  char match[3];
  long long before = clients_of(f, "alice@example.com");

  itest_client_init(&nc, "alice@example.com");
  char *tx = ask(f, &nc, match);
  /* Nothing is issued before the approval: no client row, no DER. */
  assert_int_equal(repeat(f, &nc, tx, &h), 202);
  assert_null(itest_str(&h, "Certificate"));
  assert_null(itest_str(&h, "Token"));
  itest_http_free(&h);
  assert_int_equal(clients_of(f, "alice@example.com"), before);

  char *xml = listed_request(f, &f->a1, tx);
  assert_non_null(xml);
  char *copy = strdup(xml);
  expect_request_without_match(copy, tx);
  free(copy);

  /* Accepting without the number changes nothing (400). */
  itest_reply(&f->env, &f->a1, tx, "Accept", NULL, xml, &h);
  ITEST_EXPECT(h, 400);
  ITEST_EXPECT_ERROR(h, "Match");
  itest_http_free(&h);
  assert_int_equal(repeat(f, &nc, tx, &h), 202);
  itest_http_free(&h);

  itest_reply_match(&f->env, &f->a1, tx, "Accept", NULL, xml, match, &h);
  ITEST_EXPECT(h, 200);
  itest_http_free(&h);
  assert_int_equal(repeat(f, &nc, tx, &h), 200);
  itest_client_adopt(&nc, &h);
  itest_http_free(&h);
  assert_int_equal(clients_of(f, "alice@example.com"), before + 1);
  /* The stored certificate is the one returned. */
  unsigned char *der = NULL;
  int len = i2d_X509(nc.cert, &der);
  assert_true(len > 0);
  char *hex = calloc((size_t)len * 2 + 1, 1);
  assert_non_null(hex);
  for (size_t i = 0; i < (size_t)len; i++)
    snprintf(hex + 2 * i, 3, "%02x", der[i]);
  OPENSSL_free(der);
  assert_int_equal(count1(f,
                          "SELECT count(*) FROM clients WHERE "
                          "cert_der = decode($1, 'hex')",
                          hex),
                   1);
  free(hex);
  free(xml);
  free(tx);
  itest_client_free(&nc);
}

static void test_wrong_number_rejects(void **state)
{
  struct fx *f = *state;
  struct itest_client nc;
  struct itest_http h;
  char match[3], wrong[3];
  long long before = clients_of(f, "dave@example.com");

  itest_client_init(&nc, "dave@example.com");
  char *tx = ask(f, &nc, match);
  char *xml = listed_request(f, &f->d1, tx);
  assert_non_null(xml);
  other_number(match, wrong);
  itest_reply_match(&f->env, &f->d1, tx, "Accept", NULL, xml, wrong, &h);
  ITEST_EXPECT(h, 403);
  ITEST_EXPECT_ERROR(h, "rejected");
  itest_http_free(&h);
  assert_int_equal(count1(f,
                          "SELECT count(*) FROM log WHERE "
                          "event = 'approval.mismatch' AND transaction = $1",
                          tx),
                   1);
  /* The approval is over: the right number now is too late. */
  itest_reply_match(&f->env, &f->d1, tx, "Accept", NULL, xml, match, &h);
  ITEST_EXPECT(h, 409);
  itest_http_free(&h);
  assert_int_equal(repeat(f, &nc, tx, &h), 403);
  assert_null(itest_str(&h, "Certificate"));
  itest_http_free(&h);
  assert_int_equal(clients_of(f, "dave@example.com"), before);

  /* Match belongs only in the answer to a device approval. */
  char *rxml = itest_request_xml("access@example.com", "dave@example.com",
                                 "urn:itest:approval:match-elsewhere", true, 0);
  char *rtx = itest_confirm_ok(&f->env, f->access, rxml, 0);
  itest_reply_match(&f->env, &f->d1, rtx, "Accept", NULL, rxml, "12", &h);
  ITEST_EXPECT(h, 400);
  itest_http_free(&h);
  itest_reply(&f->env, &f->d1, rtx, "Accept", NULL, rxml, &h);
  ITEST_EXPECT(h, 200);
  itest_http_free(&h);
  free(rtx);
  free(rxml);
  free(xml);
  free(tx);
  itest_client_free(&nc);
}

/* ---- caps -------------------------------------------------------------------
 */

static void expect_429(const struct itest_http *h, int max_retry)
{
  ITEST_EXPECT(*h, 429);
  json_t *retry = json_object_get(h->json, "Retry");
  if (!json_is_integer(retry) || json_integer_value(retry) < 1 ||
      json_integer_value(retry) > max_retry)
    itest_fail("429 without a Retry in 1..%d: %s", max_retry, h->body);
}

static void test_one_pending_per_account(void **state)
{
  struct fx *f = *state;
  struct itest_client n1, n2;
  struct itest_http h;
  char match[3];

  itest_client_init(&n1, "erin@example.com");
  itest_client_init(&n2, "erin@example.com");
  char *tx = ask(f, &n1, match);
  long long txs = itest_sql_count(&f->env, "SELECT count(*) FROM transactions");
  long long asks =
      itest_sql_count(&f->env, "SELECT count(*) FROM approval_asks");
  itest_register(&f->env, &n2, NULL, NULL, &h);
  expect_429(&h, APPROVAL_TIMEOUT_S);
  itest_http_free(&h);
  /* The same key asking again is no different. */
  itest_register(&f->env, &n1, NULL, NULL, &h);
  expect_429(&h, APPROVAL_TIMEOUT_S);
  itest_http_free(&h);
  assert_int_equal(
      itest_sql_count(&f->env, "SELECT count(*) FROM transactions"), txs);
  assert_int_equal(
      itest_sql_count(&f->env, "SELECT count(*) FROM approval_asks"), asks);
  /* Decided, the next may ask. */
  char *xml = listed_request(f, &f->e1, tx);
  assert_non_null(xml);
  itest_reply(&f->env, &f->e1, tx, "Reject", NULL, xml, &h);
  ITEST_EXPECT(h, 200);
  itest_http_free(&h);
  char *tx2 = ask(f, &n2, match);
  free(tx2);
  free(xml);
  free(tx);
  itest_client_free(&n1);
  itest_client_free(&n2);
}

static void test_approvals_per_hour(void **state)
{
  struct fx *f = *state;
  struct itest_client nc;
  struct itest_http h;
  char match[3];

  itest_client_init(&nc, "gina@example.com");
  for (int i = 0; i < PER_HOUR; i++) {
    char *tx = ask(f, &nc, match);
    char *xml = listed_request(f, &f->g1, tx);
    assert_non_null(xml);
    itest_reply(&f->env, &f->g1, tx, "Reject", NULL, xml, &h);
    ITEST_EXPECT(h, 200);
    itest_http_free(&h);
    free(xml);
    free(tx);
  }
  long long txs = itest_sql_count(&f->env, "SELECT count(*) FROM transactions");
  itest_register(&f->env, &nc, NULL, NULL, &h);
  expect_429(&h, 3600);
  assert_true(json_integer_value(json_object_get(h.json, "Retry")) > 3000);
  itest_http_free(&h);
  assert_int_equal(
      itest_sql_count(&f->env, "SELECT count(*) FROM transactions"), txs);
  itest_client_free(&nc);
}

/* ---- no oracle
 * ---------------------------------------------------------------
 */

/* Polls the repeat of c/tx until it is no longer 202 (bounded); returns
 * the final status. */
static long settle(struct fx *f, const struct itest_client *c, const char *tx)
{
  struct itest_http h;
  long status = 0;

  for (int i = 0; i < 4 * (APPROVAL_TIMEOUT_S + 5); i++) {
    status = repeat(f, c, tx, &h);
    itest_http_free(&h);
    if (status != 202)
      break;
    usleep(250000);
  }
  return status;
}

static void test_same_answer_for_every_account(void **state)
{
  struct fx *f = *state;
  /* A real one nobody answers, an unknown, a client-less and a disabled
   * account. */
  const char *accounts[] = {"hank@example.com", "nobody@example.com",
                            "bob@example.com", "carol@example.com"};
  enum { N = sizeof accounts / sizeof *accounts };
  struct itest_client c[N];
  char *tx[N];
  char match[3];
  struct itest_http h;
  long long before =
      itest_sql_count(&f->env, "SELECT count(*) FROM transactions");

  for (size_t i = 0; i < N; i++) {
    itest_client_init(&c[i], accounts[i]);
    tx[i] = ask(f, &c[i], match);
  }
  /* Only the real account's clients were asked. */
  assert_int_equal(
      itest_sql_count(&f->env, "SELECT count(*) FROM transactions"),
      before + 1);
  for (size_t i = 0; i < N; i++) {
    /* Pending alike: a repeat is 202, another ask 429. */
    assert_int_equal(repeat(f, &c[i], tx[i], &h), 202);
    assert_int_equal(json_object_size(h.json), 3);
    itest_http_free(&h);
    struct itest_client again;
    itest_client_init(&again, accounts[i]);
    itest_register(&f->env, &again, NULL, NULL, &h);
    expect_429(&h, APPROVAL_TIMEOUT_S);
    itest_http_free(&h);
    itest_client_free(&again);
  }
  /* And a stranger's key cannot collect any of them, alike. */
  for (size_t i = 0; i < N; i++) {
    struct itest_client thief;
    itest_client_init(&thief, accounts[i]);
    assert_int_equal(repeat(f, &thief, tx[i], &h), 404);
    itest_http_free(&h);
    itest_client_free(&thief);
  }
  /* Then they expire alike. */
  for (size_t i = 0; i < N; i++) {
    long status = settle(f, &c[i], tx[i]);
    if (status != 408)
      itest_fail("%s: repeat ended with %ld, want 408", accounts[i], status);
  }
  assert_int_equal(itest_sql_count(&f->env,
                                   "SELECT count(*) FROM accounts WHERE "
                                   "address = 'nobody@example.com'"),
                   0);
  assert_int_equal(clients_of(f, "bob@example.com"), 0);
  for (size_t i = 0; i < N; i++) {
    free(tx[i]);
    itest_client_free(&c[i]);
  }
}

/* ---- Not Me -----------------------------------------------------------------
 */

static char *confirm_to(struct fx *f, const char *token, const char *from,
                        const char *to, const char *id, long *status)
{
  char *xml = itest_request_xml(from, to, id, true, 0);
  struct itest_http h;
  char *tx = NULL;

  itest_confirm(&f->env, token, xml, 0, &h);
  *status = h.status;
  if (h.status == 202)
    tx = strdup(itest_str(&h, "Transaction"));
  else if (h.status == 403 && strstr(h.body, "Not Me") == NULL)
    itest_fail("403 that does not say why: %s", h.body);
  itest_http_free(&h);
  free(xml);
  return tx;
}

static void test_not_me_blocks_requestor(void **state)
{
  struct fx *f = *state;
  struct itest_http h;
  long status;
  char *xml = itest_request_xml("access@example.com", "alice@example.com",
                                "urn:itest:approval:notme", true, 0);
  char *tx = itest_confirm_ok(&f->env, f->access, xml, 0);

  itest_reply(&f->env, &f->a1, tx, "Refuse", "Not Me", xml, &h);
  ITEST_EXPECT(h, 200);
  itest_http_free(&h);
  double reported = itest_now();
  assert_int_equal(count1(f,
                          "SELECT count(*) FROM log WHERE event = "
                          "'fraud.reported' AND transaction = $1",
                          tx),
                   1);
  free(confirm_to(f, f->access, "access@example.com", "alice@example.com",
                  "urn:itest:approval:notme-2", &status));
  assert_int_equal(status, 403);
  /* Other requestors, and other accounts, are unaffected. */
  free(confirm_to(f, f->other, "other@example.com", "alice@example.com",
                  "urn:itest:approval:notme-3", &status));
  assert_int_equal(status, 202);
  free(confirm_to(f, f->access, "access@example.com", "dave@example.com",
                  "urn:itest:approval:notme-4", &status));
  assert_int_equal(status, 202);
  /* After not_me_block it works again. */
  char id[64];
  char *later = NULL;
  for (int i = 0; i < 40 && later == NULL; i++) {
    snprintf(id, sizeof id, "urn:itest:approval:notme-later-%d", i);
    later = confirm_to(f, f->access, "access@example.com", "alice@example.com",
                       id, &status);
    if (later == NULL)
      usleep(250000);
  }
  if (later == NULL)
    itest_fail("still blocked long after %d s", NOT_ME_BLOCK_S);
  assert_true(itest_now() - reported >= NOT_ME_BLOCK_S - 1);
  free(later);
  free(tx);
  free(xml);
}

/* "Not Me" to a device approval blocks approvals for the account: the
 * next ask gets the usual 202, but its clients are not asked. */
static void test_not_me_blocks_approvals(void **state)
{
  struct fx *f = *state;
  struct itest_client nc;
  struct itest_http h;
  char match[3];

  itest_client_init(&nc, "alice@example.com");
  char *tx = ask(f, &nc, match);
  char *xml = listed_request(f, &f->a1, tx);
  assert_non_null(xml);
  itest_reply(&f->env, &f->a1, tx, "Refuse", "Not Me", xml, &h);
  ITEST_EXPECT(h, 200);
  itest_http_free(&h);
  assert_int_equal(repeat(f, &nc, tx, &h), 403);
  itest_http_free(&h);
  char *tx2 = ask(f, &nc, match);
  char *none = listed_request(f, &f->a1, tx2);
  if (none != NULL) {
    free(none);
    itest_fail("approvals still reach alice's devices after Not Me");
  }
  free(tx2);
  free(xml);
  free(tx);
  itest_client_free(&nc);
}

/* ---- per-address limit ------------------------------------------------------
 */

static void test_per_address_limit(void **state)
{
  struct fx *f = *state;
  const char *args[] = {"--register-per-minute-per-address", "2", NULL};
  struct itest_client c;
  struct itest_http h;
  long st[3];

  itest_stop(&f->env);
  itest_start(&f->env, args);
  itest_client_init(&c, "dave@example.com");
  /* A fixed one-minute window: a run straddling a minute boundary is
   * tried once more (it cannot straddle two within a few seconds). */
  for (int attempt = 0; attempt < 2; attempt++) {
    time_t minute = time(NULL) / 60;
    /* The earlier tests' calls this minute were counted too. */
    itest_sql_count(&f->env, "WITH d AS (DELETE FROM register_windows "
                             "RETURNING 1) SELECT count(*) FROM d");
    for (int i = 0; i < 3; i++) {
      itest_register(&f->env, &c, "never-issued-code", NULL, &h);
      st[i] = h.status;
      if (i == 2 && h.status == 429)
        expect_429(&h, 60);
      itest_http_free(&h);
    }
    if (time(NULL) / 60 == minute)
      break;
  }
  assert_int_equal(st[0], 401);
  assert_int_equal(st[1], 401);
  assert_int_equal(st[2], 429);
  /* Every unauthenticated kind counts: a first ask too. */
  itest_register(&f->env, &c, NULL, NULL, &h);
  expect_429(&h, 60);
  itest_http_free(&h);
  itest_client_free(&c);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_right_number_approves),
      cmocka_unit_test(test_wrong_number_rejects),
      cmocka_unit_test(test_one_pending_per_account),
      cmocka_unit_test(test_approvals_per_hour),
      cmocka_unit_test(test_same_answer_for_every_account),
      cmocka_unit_test(test_not_me_blocks_requestor),
      cmocka_unit_test(test_not_me_blocks_approvals),
      cmocka_unit_test(test_per_address_limit),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
