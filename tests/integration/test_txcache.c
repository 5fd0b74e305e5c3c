/*
 * test_txcache.c — the dispatcher's recent-transaction cache
 * (dispatcher/txcache.c): a kept request is given only to its own account,
 * an outcome only once answered and only to its own requestor, an answer
 * for a transaction not kept (or kept again under another id in its slot)
 * is ignored, oversized requests and receipts are not kept, and concurrent
 * writers and readers stay consistent (run under ASan).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "txcache.h"

static const char *const ver[] = {"PIN", "Face"};
static const unsigned char receipt[] = {0x30, 0x03, 0x02, 0x01, 0x00};

static void created(struct txcache *c, const char *tx, const char *account,
                    int64_t requestor, const char *xml)
{
  struct txcache_created t = {.transaction = tx,
                              .account = account,
                              .requestor_id = requestor,
                              .requestor = "bank@example.com",
                              .type = "Access",
                              .issued = 1000,
                              .identifier = "urn:id",
                              .request_xml = xml,
                              .completion_uri = "https://r.example/done",
                              .expires = 2000};

  txcache_put_created(c, &t);
}

static void answered(struct txcache *c, const char *tx, const char *reason,
                     size_t receipt_len)
{
  unsigned char *big = calloc(receipt_len, 1);
  struct txcache_answer a = {.transaction = tx,
                             .client = "client-1",
                             .response = reason ? "Refuse" : "Accept",
                             .reason = reason,
                             .verification = ver,
                             .verification_count = 2,
                             .receipt =
                                 receipt_len == sizeof receipt ? receipt : big,
                             .receipt_len = receipt_len,
                             .responded = 1500};

  assert_non_null(big);
  txcache_put_answer(c, &a);
  free(big);
}

static void test_request_for_its_account_only(void **state)
{
  struct txcache *c = txcache_new(64);
  size_t len = 0;
  char *xml;

  (void)state;
  assert_non_null(c);
  created(c, "tx-aaaaaaaaaaaaaaaaaaaaaa", "alice@example.com", 7, "<Request/>");
  xml = txcache_request_dup(c, "tx-aaaaaaaaaaaaaaaaaaaaaa", "alice@example.com",
                            &len);
  assert_non_null(xml);
  assert_string_equal(xml, "<Request/>");
  assert_int_equal(len, strlen("<Request/>"));
  free(xml);
  assert_null(txcache_request_dup(c, "tx-aaaaaaaaaaaaaaaaaaaaaa",
                                  "bob@example.com", &len));
  assert_null(txcache_request_dup(c, "tx-unknown", "alice@example.com", &len));
  assert_int_equal(txcache_hits(c), 1);
  txcache_free(c);
}

static void test_outcome_only_when_answered(void **state)
{
  struct txcache *c = txcache_new(64);
  struct store_result r;

  (void)state;
  assert_non_null(c);
  created(c, "tx-bbbbbbbbbbbbbbbbbbbbbb", "alice@example.com", 7, "<R/>");
  /* Pending: another process may answer or cancel it; never served. */
  assert_false(txcache_result(c, "tx-bbbbbbbbbbbbbbbbbbbbbb", 7, &r));
  answered(c, "tx-bbbbbbbbbbbbbbbbbbbbbb", "Not Me", sizeof receipt);
  assert_false(txcache_result(c, "tx-bbbbbbbbbbbbbbbbbbbbbb", 8, &r));
  assert_true(txcache_result(c, "tx-bbbbbbbbbbbbbbbbbbbbbb", 7, &r));
  assert_int_equal(r.status, 200);
  assert_string_equal(r.transaction, "tx-bbbbbbbbbbbbbbbbbbbbbb");
  assert_string_equal(r.identifier, "urn:id");
  assert_string_equal(r.response, "Refuse");
  assert_string_equal(r.reason, "Not Me");
  assert_int_equal(r.verification_count, 2);
  assert_string_equal(r.verification[1], "Face");
  assert_string_equal(r.client, "client-1");
  assert_int_equal(r.responded, 1500);
  assert_int_equal(r.expires, 2000);
  assert_int_equal(r.requestor_id, 7);
  assert_string_equal(r.completion_uri, "https://r.example/done");
  assert_int_equal(r.receipt_len, sizeof receipt);
  assert_memory_equal(r.receipt, receipt, sizeof receipt);
  store_result_free(&r);
  /* A second answer (the store would have said 409) changes nothing. */
  answered(c, "tx-bbbbbbbbbbbbbbbbbbbbbb", NULL, sizeof receipt);
  assert_true(txcache_result(c, "tx-bbbbbbbbbbbbbbbbbbbbbb", 7, &r));
  assert_string_equal(r.response, "Refuse");
  store_result_free(&r);
  txcache_free(c);
}

static void test_unknown_collided_and_oversized(void **state)
{
  struct txcache *c = txcache_new(1); /* every id shares the one slot */
  char *big = malloc(TXCACHE_BYTES_MAX + 2);
  struct store_result r;
  size_t len;

  (void)state;
  assert_non_null(c);
  assert_non_null(big);
  /* An answer for a transaction never kept is ignored. */
  answered(c, "tx-never", NULL, sizeof receipt);
  assert_false(txcache_result(c, "tx-never", 7, &r));
  /* The newer transaction replaces the older in the slot. */
  created(c, "tx-old", "alice@example.com", 7, "<Old/>");
  created(c, "tx-new", "alice@example.com", 7, "<New/>");
  answered(c, "tx-old", NULL, sizeof receipt);
  assert_false(txcache_result(c, "tx-old", 7, &r));
  assert_false(txcache_result(c, "tx-new", 7, &r));
  assert_null(txcache_request_dup(c, "tx-old", "alice@example.com", &len));
  /* An oversized receipt drops the entry: the database answers. */
  answered(c, "tx-new", NULL, TXCACHE_BYTES_MAX + 1);
  assert_false(txcache_result(c, "tx-new", 7, &r));
  assert_null(txcache_request_dup(c, "tx-new", "alice@example.com", &len));
  /* An oversized request is not kept (and does not keep the old one). */
  created(c, "tx-small", "alice@example.com", 7, "<S/>");
  memset(big, 'x', TXCACHE_BYTES_MAX + 1);
  big[TXCACHE_BYTES_MAX + 1] = '\0';
  created(c, "tx-big", "alice@example.com", 7, big);
  assert_null(txcache_request_dup(c, "tx-big", "alice@example.com", &len));
  free(big);
  txcache_free(c);
}

/* txcache_pending() for alice (account id 1), token cache generation 5. */
static bool alice_pending(struct txcache *c, uint64_t since, int fires,
                          time_t now, size_t max, struct store_pending_list *l)
{
  return txcache_pending(c, 1, "alice@example.com", since, fires, now, max, 5,
                         l);
}

/* A woken CD-List's answer: given only when the account's creations since
 * the arming number exactly the commits that woke it; oldest first,
 * answered and expired ones left out, at most max. */
static void test_pending_counts_must_agree(void **state)
{
  struct txcache *c = txcache_new(4096);
  struct store_pending_list l;
  uint64_t since;

  (void)state;
  assert_non_null(c);
  created(c, "tx-before", "alice@example.com", 7, "<B/>");
  since = txcache_seq(c);
  created(c, "tx-first", "alice@example.com", 7, "<F/>");
  created(c, "tx-bob", "bob@example.com", 7, "<X/>");
  created(c, "tx-second", "alice@example.com", 7, "<S/>");
  /* Two creations for alice woke the poll: both, oldest first. */
  assert_true(alice_pending(c, since, 2, 1000, 10, &l));
  assert_int_equal(l.count, 2);
  assert_string_equal(l.items[0].transaction, "tx-first");
  assert_string_equal(l.items[1].transaction, "tx-second");
  assert_string_equal(l.items[0].from, "bank@example.com");
  assert_string_equal(l.items[0].type, "Access");
  assert_string_equal(l.items[0].request_xml, "<F/>");
  assert_int_equal(l.items[0].issued, 1000);
  assert_int_equal(l.items[0].expires, 2000);
  assert_true(l.items[0].unlisted);
  store_pending_list_free(&l);
  /* One or three wake-ups: something else woke it, or one is missing. */
  assert_false(alice_pending(c, since, 1, 1000, 10, &l));
  assert_int_equal(l.count, 0);
  assert_false(alice_pending(c, since, 3, 1000, 10, &l));
  assert_false(alice_pending(c, since, 0, 1000, 10, &l));
  /* At most max; expired ones and answered ones are not pending. */
  assert_true(alice_pending(c, since, 2, 1000, 1, &l));
  assert_int_equal(l.count, 1);
  assert_string_equal(l.items[0].transaction, "tx-first");
  store_pending_list_free(&l);
  assert_false(alice_pending(c, since, 2, 2000, 10, &l));
  answered(c, "tx-first", NULL, sizeof receipt);
  assert_true(alice_pending(c, since, 2, 1000, 10, &l));
  assert_int_equal(l.count, 1);
  assert_string_equal(l.items[0].transaction, "tx-second");
  store_pending_list_free(&l);
  answered(c, "tx-second", NULL, sizeof receipt);
  assert_false(alice_pending(c, since, 2, 1000, 10, &l));
  /* More creations since the arming than the cache remembers in order. */
  since = txcache_seq(c);
  for (int i = 0; i < 1100; i++) {
    char tx[32];
    snprintf(tx, sizeof tx, "tx-many-%d", i);
    created(c, tx, "carol@example.com", 7, "<M/>");
  }
  created(c, "tx-last", "alice@example.com", 7, "<L/>");
  assert_false(alice_pending(c, since, 1, 1000, 10, &l));
  txcache_free(c);
}

/* What is known of an account having nothing pending: learnt from an
 * empty read or a woken CD-List answered from memory, ended by its
 * "account:<id>" key, any "*" key or an unreadable account key, another
 * token cache generation and age; an event during the read keeps it from
 * being learnt; delivered transactions keep it from being empty until
 * this process has seen them answered. */
static void test_known_empty(void **state)
{
  struct txcache *c = txcache_new(4096);
  struct store_pending_list l;
  uint64_t ev, since;

  (void)state;
  assert_non_null(c);
  assert_false(txcache_known_empty(c, 1, "alice@example.com", 5, 100));
  ev = txcache_account_events(c, 1);
  txcache_note_empty(c, 1, ev, 5, 100);
  assert_true(txcache_known_empty(c, 1, "alice@example.com", 5, 100));
  assert_false(txcache_known_empty(c, 1, "alice@example.com", 6, 100));
  assert_false(txcache_known_empty(c, 1, "alice@example.com", 5,
                                   100 + TXCACHE_KNOWN_MS));
  assert_false(txcache_known_empty(c, 2, "bob@example.com", 5, 100));
  txcache_key(c, "account:2");
  txcache_key(c, "tx:whatever");
  assert_true(txcache_known_empty(c, 1, "alice@example.com", 5, 100));
  txcache_key(c, "account:1");
  assert_false(txcache_known_empty(c, 1, "alice@example.com", 5, 100));

  /* An event between the read's start and its end: not learnt. */
  ev = txcache_account_events(c, 1);
  txcache_key(c, "account:1");
  txcache_note_empty(c, 1, ev, 5, 200);
  assert_false(txcache_known_empty(c, 1, "alice@example.com", 5, 200));
  txcache_note_empty(c, 1, txcache_account_events(c, 1), 5, 200);
  assert_true(txcache_known_empty(c, 1, "alice@example.com", 5, 200));
  txcache_key(c, "*");
  assert_false(txcache_known_empty(c, 1, "alice@example.com", 5, 200));
  txcache_note_empty(c, 1, txcache_account_events(c, 1), 5, 200);
  txcache_key(c, "account:1x");
  assert_false(txcache_known_empty(c, 1, "alice@example.com", 5, 200));

  /* A poll armed after an empty read, woken by one creation (whose key
   * comes first, as a commit's does) and answered from memory: not empty
   * until that transaction is answered here. */
  txcache_note_empty(c, 1, txcache_account_events(c, 1), 5, 300);
  since = txcache_seq(c);
  txcache_key(c, "account:1");
  created(c, "tx-delivered", "alice@example.com", 7, "<D/>");
  assert_false(txcache_known_empty(c, 1, "alice@example.com", 5, 300));
  assert_true(alice_pending(c, since, 1, 1000, 10, &l));
  store_pending_list_free(&l);
  assert_false(txcache_known_empty(c, 1, "alice@example.com", 5, 300));
  answered(c, "tx-delivered", NULL, sizeof receipt);
  assert_true(txcache_known_empty(c, 1, "alice@example.com", 5, 300));
  /* The age still counts from the last read. */
  assert_false(txcache_known_empty(c, 1, "alice@example.com", 5,
                                   300 + TXCACHE_KNOWN_MS));
  /* Another account's creations do not matter; a new one of its own,
   * never announced by a key (a hypothetical), is not answered: not empty. */
  created(c, "tx-carol", "carol@example.com", 7, "<C/>");
  assert_true(txcache_known_empty(c, 1, "alice@example.com", 5, 300));
  created(c, "tx-quiet", "alice@example.com", 7, "<Q/>");
  assert_false(txcache_known_empty(c, 1, "alice@example.com", 5, 300));
  txcache_free(c);
}

struct worker {
  struct txcache *c;
  int id;
};

static void *churn(void *arg)
{
  struct worker *w = arg;
  char tx[64];
  struct store_result r;
  size_t len;

  for (int i = 0; i < 2000; i++) {
    snprintf(tx, sizeof tx, "tx-%d-%d", w->id, i % 50);
    created(w->c, tx, "alice@example.com", w->id, "<Request/>");
    answered(w->c, tx, NULL, sizeof receipt);
    char *xml = txcache_request_dup(w->c, tx, "alice@example.com", &len);
    free(xml);
    if (txcache_result(w->c, tx, w->id, &r)) {
      if (strcmp(r.transaction, tx) != 0 || r.requestor_id != w->id)
        abort();
      store_result_free(&r);
    }
  }
  return NULL;
}

static void test_concurrent_use(void **state)
{
  struct txcache *c = txcache_new(16);
  pthread_t t[4];
  struct worker w[4];

  (void)state;
  assert_non_null(c);
  for (int i = 0; i < 4; i++) {
    w[i] = (struct worker){c, i + 1};
    assert_int_equal(pthread_create(&t[i], NULL, churn, &w[i]), 0);
  }
  for (int i = 0; i < 4; i++)
    assert_int_equal(pthread_join(t[i], NULL), 0);
  assert_true(txcache_hits(c) > 0);
  txcache_free(c);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_request_for_its_account_only),
      cmocka_unit_test(test_outcome_only_when_answered),
      cmocka_unit_test(test_unknown_collided_and_oversized),
      cmocka_unit_test(test_pending_counts_must_agree),
      cmocka_unit_test(test_known_empty),
      cmocka_unit_test(test_concurrent_use),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
