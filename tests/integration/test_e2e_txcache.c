/*
 * test_e2e_txcache.c — end to end, the reads a dispatcher answers from the
 * transactions it created and answered itself (dispatcher/txcache.h), with
 * two dispatcher processes on one database:
 *  - RD-Status of an answer committed by the same process comes from
 *    memory (owcp_tx_cache_hits_total counts it) and is the very document
 *    the other process reads from the database, for Accept and for a
 *    Refuse with Reason;
 *  - an answer or a cancellation made by the other process is what RD-Status
 *    reports, whichever process is asked (pending is never served from
 *    memory);
 *  - CD-Reply's request comes from memory only for the transaction's own
 *    account: another account's client gets the same 404 as from the
 *    database, and another requestor's RD-Status the same 404;
 *  - a CD-List long poll woken by an RD-Confirm of its own process answers
 *    from memory with what the database holds; one woken by the other
 *    process reads the database; a client revoked while its poll waits is
 *    given nothing;
 *  - a new long poll of an account a has just read empty waits without a
 *    read, and a transaction the other process creates then still reaches
 *    it at once (through the NOTIFY that ends what a knew), as it reaches
 *    a poll started after it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"

#define HITS "owcp_tx_cache_hits_total"

struct fx {
  struct itest_env a; /* owns the database */
  struct itest_env b; /* a second process on the same database */
  char *token;        /* requestor access@example.com */
  char *other;        /* requestor other@example.com */
  struct itest_client alice_a, alice_b, bob_a;
};

static int setup(void **state)
{
  struct fx *f = calloc(1, sizeof *f);
  assert_non_null(f);
  *state = f;
  itest_env_init(&f->a, "txcache");
  itest_account_add(&f->a, "alice@example.com");
  itest_account_add(&f->a, "bob@example.com");
  f->token = itest_requestor_add(&f->a, "access@example.com", 0);
  f->other = itest_requestor_add(&f->a, "other@example.com", 0);
  itest_start_pair(&f->a, &f->b);
  itest_client_init(&f->alice_a, "alice@example.com");
  itest_client_enrol(&f->a, &f->alice_a);
  itest_client_init(&f->alice_b, "alice@example.com");
  itest_client_enrol(&f->b, &f->alice_b);
  itest_client_init(&f->bob_a, "bob@example.com");
  itest_client_enrol(&f->a, &f->bob_a);
  return 0;
}

static int teardown(void **state)
{
  struct fx *f = *state;

  itest_pair_fini(&f->a, &f->b);
  itest_client_free(&f->alice_a);
  itest_client_free(&f->alice_b);
  itest_client_free(&f->bob_a);
  free(f->token);
  free(f->other);
  free(f);
  return 0;
}

static void status_on(const struct itest_env *e, const char *token,
                      const char *tx, struct itest_http *out)
{
  json_t *p = json_pack("{s:s}", "Transaction", tx);

  assert_non_null(p);
  itest_post(e, "RD-Status", token, p, out);
  json_decref(p);
}

/* RD-Status of tx on a (expected from memory: one hit) and on b (from the
 * database): both 200 and the same document. */
static void expect_same_answer(struct fx *f, const char *tx)
{
  struct itest_http on_a, on_b;
  double hits = itest_metric(&f->a, HITS);

  status_on(&f->a, f->token, tx, &on_a);
  ITEST_EXPECT(on_a, 200);
  assert_true(itest_metric(&f->a, HITS) == hits + 1);
  status_on(&f->b, f->token, tx, &on_b);
  ITEST_EXPECT(on_b, 200);
  if (!json_equal(on_a.json, on_b.json))
    fail_msg("RD-Status from memory:\n%s\nfrom the database:\n%s", on_a.body,
             on_b.body);
  itest_http_free(&on_a);
  itest_http_free(&on_b);
}

/* Accept and a Refuse with Reason, confirmed and answered through a: the
 * request for CD-Reply and the outcome for RD-Status come from memory and
 * match the database's. */
static void test_own_answers_from_memory(void **state)
{
  struct fx *f = *state;
  const char *reasons[] = {NULL, "Not Me"};

  for (int i = 0; i < 2; i++) {
    char id[64];
    snprintf(id, sizeof id, "urn:itest:txcache:own-%d", i);
    char *xml = itest_request_xml("access@example.com", "alice@example.com", id,
                                  true, 0);
    char *tx = itest_confirm_ok(&f->a, f->token, xml, 0);
    struct itest_http h;
    double hits = itest_metric(&f->a, HITS);

    itest_reply(&f->a, &f->alice_a, tx, reasons[i] ? "Refuse" : "Accept",
                reasons[i], xml, &h);
    ITEST_EXPECT(h, 200);
    itest_http_free(&h);
    /* The request CD-Reply compared the receipt with. */
    assert_true(itest_metric(&f->a, HITS) == hits + 1);
    expect_same_answer(f, tx);
    free(tx);
    free(xml);
  }
}

/* Confirmed through a, answered through b: a holds it as pending, which it
 * never serves, so a reports b's answer; a's own late reply is refused by
 * the database (409) and changes nothing. */
static void test_answer_elsewhere_wins(void **state)
{
  struct fx *f = *state;
  char *xml = itest_request_xml("access@example.com", "alice@example.com",
                                "urn:itest:txcache:elsewhere", true, 0);
  char *tx = itest_confirm_ok(&f->a, f->token, xml, 0);
  struct itest_http h, on_b;

  itest_reply(&f->b, &f->alice_b, tx, "Reject", NULL, xml, &h);
  ITEST_EXPECT(h, 200);
  itest_http_free(&h);
  double hits = itest_metric(&f->a, HITS);
  status_on(&f->a, f->token, tx, &h);
  ITEST_EXPECT(h, 200);
  assert_string_equal(itest_str(&h, "Response"), "Reject");
  assert_string_equal(itest_str(&h, "Client"), f->alice_b.id);
  assert_true(itest_metric(&f->a, HITS) == hits);
  status_on(&f->b, f->token, tx, &on_b);
  ITEST_EXPECT(on_b, 200);
  assert_true(json_equal(h.json, on_b.json));
  itest_http_free(&h);
  itest_http_free(&on_b);

  itest_reply(&f->a, &f->alice_a, tx, "Accept", NULL, xml, &h);
  ITEST_EXPECT(h, 409);
  itest_http_free(&h);
  status_on(&f->a, f->token, tx, &h);
  ITEST_EXPECT(h, 200);
  assert_string_equal(itest_str(&h, "Response"), "Reject");
  itest_http_free(&h);
  free(tx);
  free(xml);
}

/* Confirmed through a, cancelled through b (RD-Final): a reports 408, not
 * the pending state it saw last. */
static void test_cancel_elsewhere_seen(void **state)
{
  struct fx *f = *state;
  char *xml = itest_request_xml("access@example.com", "alice@example.com",
                                "urn:itest:txcache:cancelled", true, 0);
  char *tx = itest_confirm_ok(&f->a, f->token, xml, 0);
  json_t *p = json_pack("{s:s}", "Transaction", tx);
  struct itest_http h;

  assert_non_null(p);
  itest_post(&f->b, "RD-Final", f->token, p, &h);
  json_decref(p);
  ITEST_EXPECT(h, 408);
  itest_http_free(&h);
  status_on(&f->a, f->token, tx, &h);
  ITEST_EXPECT(h, 408);
  itest_http_free(&h);
  itest_reply(&f->a, &f->alice_a, tx, "Accept", NULL, xml, &h);
  ITEST_EXPECT(h, 408);
  itest_http_free(&h);
  free(tx);
  free(xml);
}

/* Another account's client and another requestor get 404 from a, as from
 * the database; nothing is served to them from memory. */
static void test_others_get_nothing(void **state)
{
  struct fx *f = *state;
  char *xml = itest_request_xml("access@example.com", "alice@example.com",
                                "urn:itest:txcache:others", true, 0);
  char *tx = itest_confirm_ok(&f->a, f->token, xml, 0);
  struct itest_http h;
  double hits = itest_metric(&f->a, HITS);

  itest_reply(&f->a, &f->bob_a, tx, "Accept", NULL, xml, &h);
  ITEST_EXPECT(h, 404);
  ITEST_EXPECT_ERROR(h, "no transaction");
  itest_http_free(&h);
  assert_true(itest_metric(&f->a, HITS) == hits);

  itest_reply(&f->a, &f->alice_a, tx, "Accept", NULL, xml, &h);
  ITEST_EXPECT(h, 200);
  itest_http_free(&h);
  hits = itest_metric(&f->a, HITS);
  status_on(&f->a, f->other, tx, &h);
  ITEST_EXPECT(h, 404);
  itest_http_free(&h);
  assert_true(itest_metric(&f->a, HITS) == hits);
  free(tx);
  free(xml);
}

static json_t *wait_params(int seconds)
{
  json_t *p = json_pack("{s:i}", "Wait", seconds);

  assert_non_null(p);
  return p;
}

/* The Pending entry for tx in CD-List of c on e (no wait), copied. */
static json_t *listed_now(const struct itest_env *e,
                          const struct itest_client *c, const char *tx)
{
  struct itest_http h;
  const json_t *item;
  json_t *copy;

  itest_list(e, c, -1, &h);
  ITEST_EXPECT(h, 200);
  item = itest_pending_find(&h, tx);
  if (item == NULL)
    fail_msg("CD-List has no %s: %s", tx, h.body);
  copy = json_deep_copy(item);
  itest_http_free(&h);
  return copy;
}

/* Polls on a and b wait; an RD-Confirm on a wakes both: a answers from
 * memory (its transaction is kept before the commit's wake-up goes out),
 * b from the database, with the same entry. Then an RD-Confirm on b wakes
 * a's poll, which reads the database. Each round twice: the first after
 * a's empty first read, the second after a poll that skipped it. */
static void test_woken_list_from_memory(void **state)
{
  struct fx *f = *state;
  struct itest_call on_a, on_b;
  struct itest_http h;
  char *xml, *tx;

  for (int round = 0; round < 2; round++) {
    char id[64];
    snprintf(id, sizeof id, "urn:itest:txcache:list-a-%d", round);
    xml = itest_request_xml("access@example.com", "alice@example.com", id, true,
                            0);
    itest_call_start(&on_a, &f->a, "CD-List", f->alice_a.token,
                     wait_params(20));
    itest_call_start(&on_b, &f->b, "CD-List", f->alice_b.token,
                     wait_params(20));
    itest_let_poll_suspend();
    double hits = itest_metric(&f->a, HITS);
    tx = itest_confirm_ok(&f->a, f->token, xml, 0);
    itest_call_join(&on_a);
    itest_call_join(&on_b);
    ITEST_EXPECT(on_a.h, 200);
    ITEST_EXPECT(on_b.h, 200);
    /* CD-List's own saved read (CD-Reply's comes later). */
    if (itest_metric(&f->a, HITS) != hits + 1)
      fail_msg("round %d: the woken CD-List on a read the database", round);
    const json_t *mem = itest_pending_find(&on_a.h, tx);
    const json_t *db = itest_pending_find(&on_b.h, tx);
    if (mem == NULL || db == NULL || !json_equal(mem, db))
      fail_msg("woken CD-List on a:\n%s\non b, from the database:\n%s",
               on_a.h.body, on_b.h.body);
    assert_int_equal(json_array_size(json_object_get(on_a.h.json, "Pending")),
                     1);
    json_t *later = listed_now(&f->b, &f->alice_b, tx);
    assert_true(json_equal(mem, later));
    json_decref(later);
    itest_http_free(&on_a.h);
    itest_http_free(&on_b.h);
    itest_reply(&f->a, &f->alice_a, tx, "Accept", NULL, xml, &h);
    ITEST_EXPECT(h, 200);
    itest_http_free(&h);
    free(tx);
    free(xml);
  }

  xml = itest_request_xml("access@example.com", "alice@example.com",
                          "urn:itest:txcache:list-b", true, 0);
  itest_call_start(&on_a, &f->a, "CD-List", f->alice_a.token, wait_params(20));
  itest_let_poll_suspend();
  double hits = itest_metric(&f->a, HITS);
  tx = itest_confirm_ok(&f->b, f->token, xml, 0);
  itest_call_join(&on_a);
  ITEST_EXPECT(on_a.h, 200);
  if (itest_pending_find(&on_a.h, tx) == NULL)
    fail_msg("CD-List on a woke without %s: %s", tx, on_a.h.body);
  assert_true(itest_metric(&f->a, HITS) == hits);
  itest_http_free(&on_a.h);
  free(tx);
  free(xml);
}

/* A client revoked while its poll waits on a is not given the transaction
 * an RD-Confirm on a then creates: the poll ends empty at its deadline. */
static void test_revoked_while_waiting(void **state)
{
  struct fx *f = *state;
  struct itest_client late;
  struct itest_call poll;
  char *xml = itest_request_xml("access@example.com", "alice@example.com",
                                "urn:itest:txcache:revoked", true, 0);

  itest_client_init(&late, "alice@example.com");
  itest_client_enrol(&f->a, &late);
  itest_call_start(&poll, &f->a, "CD-List", late.token, wait_params(3));
  itest_let_poll_suspend();
  itest_client_revoke(&f->a, late.id);
  itest_let_poll_suspend(); /* the revocation's notification arrives */
  char *tx = itest_confirm_ok(&f->a, f->token, xml, 0);
  itest_call_join(&poll);
  if (poll.h.status == 200 && itest_pending_find(&poll.h, tx) != NULL)
    fail_msg("a revoked client was given %s: %s", tx, poll.h.body);
  itest_http_free(&poll.h);
  itest_client_free(&late);
  free(tx);
  free(xml);
}

/* CD-List of c on e with Wait seconds, on its own thread. */
static void poll_start(struct itest_call *call, const struct itest_env *e,
                       const struct itest_client *c, int wait)
{
  itest_call_start(call, e, "CD-List", c->token, wait_params(wait));
}

/* Joins a poll and fails unless it answered 200 with tx within 2 s. */
static void expect_delivered(struct itest_call *call, const char *tx)
{
  itest_call_join(call);
  ITEST_EXPECT(call->h, 200);
  if (itest_pending_find(&call->h, tx) == NULL)
    fail_msg("CD-List answered without %s: %s", tx, call->h.body);
  if (call->ended - call->started > 2.0)
    fail_msg("CD-List took %.1f s to deliver %s", call->ended - call->started,
             tx);
  itest_http_free(&call->h);
}

static void test_known_empty_skips_first_read(void **state)
{
  struct fx *f = *state;
  struct itest_call poll, again;
  struct itest_http h;
  char *xml = itest_request_xml("access@example.com", "alice@example.com",
                                "urn:itest:txcache:quiet-1", true, 0);

  /* An empty read (no wait) teaches a that alice has nothing pending; the
   * next poll waits without reading (one more saved read). */
  itest_list(&f->a, &f->alice_a, 0, &h);
  ITEST_EXPECT(h, 200);
  assert_int_equal(json_array_size(json_object_get(h.json, "Pending")), 0);
  itest_http_free(&h);
  double hits = itest_metric(&f->a, HITS);
  poll_start(&poll, &f->a, &f->alice_a, 20);
  itest_let_poll_suspend();
  assert_true(itest_metric(&f->a, HITS) == hits + 1);
  /* Created by b: its NOTIFY ends what a knew and wakes the poll. */
  char *tx = itest_confirm_ok(&f->b, f->token, xml, 0);
  expect_delivered(&poll, tx);
  /* Still pending: a new poll reads it at once. */
  poll_start(&again, &f->a, &f->alice_a, 20);
  expect_delivered(&again, tx);
  itest_reply(&f->b, &f->alice_b, tx, "Accept", NULL, xml, &h);
  ITEST_EXPECT(h, 200);
  itest_http_free(&h);
  free(tx);
  free(xml);

  /* Read empty again, then b creates one and a poll starts at once: with
   * or without the first read (the NOTIFY may not have arrived), it is
   * delivered without waiting for the deadline. */
  xml = itest_request_xml("access@example.com", "alice@example.com",
                          "urn:itest:txcache:quiet-2", true, 0);
  itest_list(&f->a, &f->alice_a, 0, &h);
  ITEST_EXPECT(h, 200);
  itest_http_free(&h);
  tx = itest_confirm_ok(&f->b, f->token, xml, 0);
  poll_start(&poll, &f->a, &f->alice_a, 20);
  expect_delivered(&poll, tx);
  free(tx);
  free(xml);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_own_answers_from_memory, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_answer_elsewhere_wins, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_cancel_elsewhere_seen, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_others_get_nothing, setup, teardown),
      cmocka_unit_test_setup_teardown(test_woken_list_from_memory, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_revoked_while_waiting, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_known_empty_skips_first_read, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
