/*
 * test_e2e_cd.c — end to end, the client's side: CD-Register by one-time
 * code (single use), by approval of an existing client (accept and
 * reject), and by open self-subscription; CD-Deregister and admin revoke
 * (the token stops working at once); CD-Reply conflicts, including two
 * clients of one account answering the same transaction at once; and bad
 * receipts that must change nothing, also once the client's certificate
 * is cached.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "itest.h"
#include "owcp/util.h"

struct fx {
  struct itest_env env;
  char *token;                /* requestor access@example.com */
  struct itest_client a1, a2; /* two clients of alice */
};

static int setup(void **state)
{
  struct fx *f = calloc(1, sizeof *f);
  assert_non_null(f);
  *state = f;
  itest_env_init(&f->env, "cd");
  itest_account_add(&f->env, "alice@example.com");
  itest_account_add(&f->env, "bob@example.com");
  f->token = itest_requestor_add(&f->env, "access@example.com", 0);
  itest_start(&f->env, NULL);
  itest_client_init(&f->a1, "alice@example.com");
  itest_client_enrol(&f->env, &f->a1);
  itest_client_init(&f->a2, "alice@example.com");
  itest_client_enrol(&f->env, &f->a2);
  return 0;
}

static int teardown(void **state)
{
  struct fx *f = *state;
  if (f->env.pid > 0)
    itest_stop(&f->env);
  itest_client_free(&f->a1);
  itest_client_free(&f->a2);
  free(f->token);
  itest_env_fini(&f->env);
  free(f);
  return 0;
}

static long long clients_of(struct fx *f, const char *account)
{
  return itest_sql_count1(&f->env,
                          "SELECT count(*) FROM clients c JOIN accounts a ON "
                          "a.id = c.account_id WHERE a.address = $1",
                          account);
}

static void test_code_is_single_use(void **state)
{
  struct fx *f = *state;
  struct itest_client c1, c2;
  struct itest_http h;
  char *code = itest_code_issue(&f->env, "bob@example.com", 0);

  itest_client_init(&c1, "bob@example.com");
  itest_client_init(&c2, "bob@example.com");
  itest_register(&f->env, &c1, code, NULL, &h);
  ITEST_EXPECT(h, 200);
  itest_client_adopt(&c1, &h);
  itest_http_free(&h);
  assert_int_equal(clients_of(f, "bob@example.com"), 1);

  itest_register(&f->env, &c2, code, NULL, &h);
  ITEST_EXPECT(h, 401);
  itest_http_free(&h);

  itest_register(&f->env, &c2, "not-a-code-that-was-ever-issued", NULL, &h);
  ITEST_EXPECT(h, 401);
  itest_http_free(&h);
  assert_int_equal(clients_of(f, "bob@example.com"), 1);

  /* The code is bound to its account: bob's code does not enrol alice. */
  char *code2 = itest_code_issue(&f->env, "bob@example.com", 0);
  struct itest_client c3;
  itest_client_init(&c3, "alice@example.com");
  itest_register(&f->env, &c3, code2, NULL, &h);
  ITEST_EXPECT(h, 401);
  itest_http_free(&h);
  itest_client_free(&c3);
  free(code2);

  itest_client_free(&c1);
  itest_client_free(&c2);
  free(code);
}

/* Starts an approval for c: 202 with a transaction (caller frees) and the
 * two digits the new device shows, into match. */
static char *approval_start(struct fx *f, const struct itest_client *c,
                            char match[3])
{
  struct itest_http h;
  itest_register(&f->env, c, NULL, NULL, &h);
  ITEST_EXPECT(h, 202);
  const char *tx = itest_str(&h, "Transaction");
  const char *m = itest_str(&h, "Match");
  assert_non_null(tx);
  assert_non_null(m);
  assert_int_equal(strlen(m), 2);
  memcpy(match, m, 3);
  char *copy = strdup(tx);
  itest_http_free(&h);
  return copy;
}

/* The approval request as a1 sees it in CD-List (caller frees). */
static char *approval_request(struct fx *f, const char *tx)
{
  struct itest_http h;
  itest_list(&f->env, &f->a1, -1, &h);
  ITEST_EXPECT(h, 200);
  const json_t *item = itest_pending_find(&h, tx);
  if (item == NULL)
    fail_msg("approval %s not in CD-List: %s", tx, h.body);
  char *xml = strdup(json_string_value(json_object_get(item, "Request")));
  assert_non_null(xml);
  /* One name for the kind of request: CD-List's Type and the XML's type. */
  assert_string_equal(json_string_value(json_object_get(item, "Type")),
                      "Registration");
  assert_non_null(strstr(xml, "type=\"Registration\""));
  itest_http_free(&h);
  return xml;
}

static void test_register_by_approval(void **state)
{
  struct fx *f = *state;
  struct itest_client nc;
  struct itest_http h;
  long long before = clients_of(f, "alice@example.com");

  char match[3];
  itest_client_init(&nc, "alice@example.com");
  char *tx = approval_start(f, &nc, match);
  itest_register(&f->env, &nc, NULL, tx, &h);
  ITEST_EXPECT(h, 202); /* not answered yet: nothing issued */
  itest_http_free(&h);
  assert_int_equal(clients_of(f, "alice@example.com"), before);

  char *xml = approval_request(f, tx);
  assert_non_null(strstr(xml, "itest phone")); /* shows the Description */
  itest_reply_match(&f->env, &f->a1, tx, "Accept", NULL, xml, match, &h);
  ITEST_EXPECT(h, 200);
  itest_http_free(&h);

  itest_register(&f->env, &nc, NULL, tx, &h);
  ITEST_EXPECT(h, 200);
  itest_client_adopt(&nc, &h);
  itest_http_free(&h);
  assert_int_equal(clients_of(f, "alice@example.com"), before + 1);

  /* The new client works. */
  itest_list(&f->env, &nc, -1, &h);
  ITEST_EXPECT(h, 200);
  itest_http_free(&h);

  /* A second collection of the same approval issues nothing more. */
  itest_register(&f->env, &nc, NULL, tx, &h);
  assert_true(h.status == 409 || h.status == 403);
  itest_http_free(&h);
  assert_int_equal(clients_of(f, "alice@example.com"), before + 1);

  free(xml);
  free(tx);
  itest_client_free(&nc);
}

static void test_register_by_approval_rejected(void **state)
{
  struct fx *f = *state;
  struct itest_client nc;
  struct itest_http h;
  long long before = clients_of(f, "alice@example.com");

  char match[3];
  itest_client_init(&nc, "alice@example.com");
  char *tx = approval_start(f, &nc, match);
  char *xml = approval_request(f, tx);
  itest_reply(&f->env, &f->a2, tx, "Reject", NULL, xml, &h);
  ITEST_EXPECT(h, 200);
  itest_http_free(&h);

  itest_register(&f->env, &nc, NULL, tx, &h);
  ITEST_EXPECT(h, 403);
  assert_null(itest_str(&h, "Token"));
  itest_http_free(&h);
  assert_int_equal(clients_of(f, "alice@example.com"), before);

  /* A different key cannot collect someone else's approval. */
  struct itest_client thief;
  itest_client_init(&thief, "alice@example.com");
  itest_register(&f->env, &thief, NULL, tx, &h);
  assert_true(h.status == 404 || h.status == 403);
  itest_http_free(&h);
  itest_client_free(&thief);

  free(xml);
  free(tx);
  itest_client_free(&nc);
}

static void test_second_reply_conflicts(void **state)
{
  struct fx *f = *state;
  struct itest_http h;
  char *xml = itest_request_xml("access@example.com", "alice@example.com",
                                "urn:itest:cd:second", true, 0);
  char *tx = itest_confirm_ok(&f->env, f->token, xml, 0);

  itest_reply(&f->env, &f->a1, tx, "Accept", NULL, xml, &h);
  ITEST_EXPECT(h, 200);
  itest_http_free(&h);
  itest_reply(&f->env, &f->a2, tx, "Reject", NULL, xml, &h);
  ITEST_EXPECT(h, 409);
  itest_http_free(&h);
  itest_reply(&f->env, &f->a1, tx, "Accept", NULL, xml, &h);
  ITEST_EXPECT(h, 409);
  itest_http_free(&h);
  /* The first answer stands. */
  assert_int_equal(itest_sql_count1(&f->env,
                                    "SELECT count(*) FROM transactions WHERE "
                                    "id = $1 AND response = 'Accept'",
                                    tx),
                   1);
  free(tx);
  free(xml);
}

struct racer {
  const struct itest_env *env;
  const char *token;
  json_t *params;
  pthread_barrier_t *start;
  long status;
};

static void *race(void *arg)
{
  struct racer *r = arg;
  struct itest_http h;
  pthread_barrier_wait(r->start);
  itest_post(r->env, "CD-Reply", r->token, r->params, &h);
  r->status = h.status;
  itest_http_free(&h);
  return NULL;
}

static json_t *reply_params(const struct itest_client *c, const char *tx,
                            const char *response, const char *xml)
{
  char *receipt = itest_receipt_b64(c, tx, response, NULL, xml);
  json_t *p = itest_reply_params(tx, response, NULL, receipt);
  free(receipt);
  return p;
}

static void test_concurrent_replies(void **state)
{
  struct fx *f = *state;

  for (int round = 0; round < 5; round++) {
    char id[64];
    snprintf(id, sizeof id, "urn:itest:cd:race-%d", round);
    char *xml = itest_request_xml("access@example.com", "alice@example.com", id,
                                  true, 0);
    char *tx = itest_confirm_ok(&f->env, f->token, xml, 0);
    pthread_barrier_t start;
    pthread_t th[2];
    struct racer r[2] = {
        {&f->env, f->a1.token, reply_params(&f->a1, tx, "Accept", xml), &start,
         0},
        {&f->env, f->a2.token, reply_params(&f->a2, tx, "Reject", xml), &start,
         0},
    };
    assert_int_equal(pthread_barrier_init(&start, NULL, 2), 0);
    for (int i = 0; i < 2; i++)
      assert_int_equal(pthread_create(&th[i], NULL, race, &r[i]), 0);
    for (int i = 0; i < 2; i++)
      pthread_join(th[i], NULL);
    pthread_barrier_destroy(&start);
    if (!((r[0].status == 200 && r[1].status == 409) ||
          (r[0].status == 409 && r[1].status == 200)))
      fail_msg("round %d: replies got %ld and %ld, want one 200 and one 409",
               round, r[0].status, r[1].status);
    /* The stored answer is the winner's (a1 accepted, a2 rejected). */
    assert_int_equal(itest_sql_count1(&f->env,
                                      "SELECT count(*) FROM transactions "
                                      "WHERE id = $1 AND response = 'Accept'",
                                      tx),
                     r[0].status == 200 ? 1 : 0);
    json_decref(r[0].params);
    json_decref(r[1].params);
    free(tx);
    free(xml);
  }
}

static void test_bad_receipts_change_nothing(void **state)
{
  struct fx *f = *state;
  struct itest_http h;
  char *xml = itest_request_xml("access@example.com", "alice@example.com",
                                "urn:itest:cd:bad-receipt", true, 0);
  char *tx = itest_confirm_ok(&f->env, f->token, xml, 0);

  /* Signed by a2 but sent with a1's token. */
  char *other = itest_receipt_b64(&f->a2, tx, "Accept", NULL, xml);
  json_t *p = json_pack("{s:s, s:s, s:s}", "Transaction", tx, "Response",
                        "Accept", "Receipt", other);
  itest_post(&f->env, "CD-Reply", f->a1.token, p, &h);
  ITEST_EXPECT(h, 400);
  itest_http_free(&h);
  json_decref(p);
  free(other);

  /* Receipt says Reject, the parameter says Accept. */
  char *rej = itest_receipt_b64(&f->a1, tx, "Reject", NULL, xml);
  p = json_pack("{s:s, s:s, s:s}", "Transaction", tx, "Response", "Accept",
                "Receipt", rej);
  itest_post(&f->env, "CD-Reply", f->a1.token, p, &h);
  ITEST_EXPECT(h, 400);
  itest_http_free(&h);
  json_decref(p);
  free(rej);

  /* Receipt over a different request text. */
  char *altered = itest_request_xml("access@example.com", "alice@example.com",
                                    "urn:itest:cd:bad-receipt", false, 0);
  char *wrong = itest_receipt_b64(&f->a1, tx, "Accept", NULL, altered);
  p = json_pack("{s:s, s:s, s:s}", "Transaction", tx, "Response", "Accept",
                "Receipt", wrong);
  itest_post(&f->env, "CD-Reply", f->a1.token, p, &h);
  ITEST_EXPECT(h, 400);
  itest_http_free(&h);
  json_decref(p);
  free(wrong);
  free(altered);

  /* Not a receipt at all. */
  p = json_pack("{s:s, s:s, s:s}", "Transaction", tx, "Response", "Accept",
                "Receipt", "AAECAwQF");
  itest_post(&f->env, "CD-Reply", f->a1.token, p, &h);
  ITEST_EXPECT(h, 400);
  itest_http_free(&h);
  json_decref(p);

  assert_int_equal(itest_sql_count1(&f->env,
                                    "SELECT count(*) FROM transactions WHERE "
                                    "id = $1 AND state = 'pending' AND "
                                    "receipt IS NULL",
                                    tx),
                   1);
  /* And the genuine reply still wins afterwards. */
  itest_reply(&f->env, &f->a1, tx, "Accept", NULL, xml, &h);
  ITEST_EXPECT(h, 200);
  itest_http_free(&h);
  free(tx);
  free(xml);
}

/* CD-Reply with receipt_b64 as c; expects status, frees receipt_b64. */
static void reply_expect(struct fx *f, const struct itest_client *c,
                         const char *tx, char *receipt_b64, long status)
{
  struct itest_http h;
  json_t *p = itest_reply_params(tx, "Accept", NULL, receipt_b64);

  itest_post(&f->env, "CD-Reply", c->token, p, &h);
  ITEST_EXPECT(h, status);
  itest_http_free(&h);
  json_decref(p);
  free(receipt_b64);
}

/* c's genuine receipt with the last octet (its signature's) flipped. */
static char *forged_receipt(const struct itest_client *c, const char *tx,
                            const char *xml)
{
  char *b64 = itest_receipt_b64(c, tx, "Accept", NULL, xml), *out;
  unsigned char *der = NULL;
  size_t len = 0;
  struct owcp_error err;

  assert_int_equal(owcp_base64_decode(b64, strlen(b64), &der, &len, &err), 0);
  der[len - 1] ^= 0x01;
  out = owcp_base64_encode(der, len);
  assert_non_null(out);
  free(der);
  free(b64);
  return out;
}

/* Once a client's certificate is cached (it answered before), a forged
 * receipt, another client's receipt and a receipt over other bytes are
 * still refused, and revoking the client still refuses its next reply. */
/* Revokes c and waits (up to 5 s) until the dispatcher has emptied its
 * token cache on the revocation's notification: refusing a withdrawn token
 * is promised within that delay, not before it (dispatcher/authcache.h). */
static void revoke_and_await_flush(struct fx *f, const struct itest_client *c)
{
  const char *series = "owcp_auth_cache_flushes_total";
  double before = itest_metric(&f->env, series);

  itest_client_revoke(&f->env, c->id);
  for (int i = 0; i < 100 && itest_metric(&f->env, series) <= before; i++) {
    struct timespec ts = {0, 50000000L};
    nanosleep(&ts, NULL);
  }
  assert_true(itest_metric(&f->env, series) > before);
}

static void test_warm_client_still_checked(void **state)
{
  struct fx *f = *state;
  struct itest_client c, d;
  struct itest_http h;
  char *xml1 = itest_request_xml("access@example.com", "bob@example.com",
                                 "urn:itest:cd:warm-1", true, 0);
  char *xml2 = itest_request_xml("access@example.com", "bob@example.com",
                                 "urn:itest:cd:warm-2", true, 0);
  char *other = itest_request_xml("access@example.com", "bob@example.com",
                                  "urn:itest:cd:warm-2", false, 0);

  itest_client_init(&c, "bob@example.com");
  itest_client_enrol(&f->env, &c);
  itest_client_init(&d, "bob@example.com");
  itest_client_enrol(&f->env, &d);
  char *tx1 = itest_confirm_ok(&f->env, f->token, xml1, 0);
  itest_reply(&f->env, &c, tx1, "Accept", NULL, xml1, &h);
  ITEST_EXPECT(h, 200);
  itest_http_free(&h);

  char *tx2 = itest_confirm_ok(&f->env, f->token, xml2, 0);
  reply_expect(f, &c, tx2, forged_receipt(&c, tx2, xml2), 400);
  reply_expect(f, &c, tx2, itest_receipt_b64(&d, tx2, "Accept", NULL, xml2),
               400);
  reply_expect(f, &c, tx2, itest_receipt_b64(&c, tx2, "Accept", NULL, other),
               400);
  revoke_and_await_flush(f, &c);
  reply_expect(f, &c, tx2, itest_receipt_b64(&c, tx2, "Accept", NULL, xml2),
               401);
  assert_int_equal(itest_sql_count1(&f->env,
                                    "SELECT count(*) FROM transactions WHERE "
                                    "id = $1 AND state = 'pending' AND "
                                    "receipt IS NULL",
                                    tx2),
                   1);
  itest_reply(&f->env, &d, tx2, "Accept", NULL, xml2, &h);
  ITEST_EXPECT(h, 200);
  itest_http_free(&h);
  itest_client_free(&c);
  itest_client_free(&d);
  free(tx1);
  free(tx2);
  free(xml1);
  free(xml2);
  free(other);
}

static void test_deregister_and_revoke(void **state)
{
  struct fx *f = *state;
  struct itest_client c, d;
  struct itest_http h;

  itest_client_init(&c, "bob@example.com");
  itest_client_enrol(&f->env, &c);
  itest_list(&f->env, &c, -1, &h);
  ITEST_EXPECT(h, 200);
  itest_http_free(&h);
  json_t *p = json_pack("{s:s}", "Client", c.id);
  itest_post(&f->env, "CD-Deregister", c.token, p, &h);
  ITEST_EXPECT(h, 200);
  itest_http_free(&h);
  json_decref(p);
  itest_list(&f->env, &c, -1, &h);
  ITEST_EXPECT(h, 401);
  itest_http_free(&h);

  itest_client_init(&d, "bob@example.com");
  itest_client_enrol(&f->env, &d);
  itest_client_revoke(&f->env, d.id);
  itest_list(&f->env, &d, -1, &h);
  ITEST_EXPECT(h, 401);
  itest_http_free(&h);
  assert_int_equal(itest_sql_count1(&f->env,
                                    "SELECT count(*) FROM clients WHERE id = "
                                    "$1 AND status = 'revoked'",
                                    d.id),
                   1);
  itest_client_free(&c);
  itest_client_free(&d);
}

static void test_open_self_subscription(void **state)
{
  struct fx *f = *state;
  const char *open[] = {"--open", NULL};
  struct itest_client c, d;
  struct itest_http h;

  itest_stop(&f->env);
  itest_start(&f->env, open);
  itest_client_init(&c, "carol@example.com");
  itest_register(&f->env, &c, NULL, NULL, &h);
  ITEST_EXPECT(h, 200);
  itest_client_adopt(&c, &h);
  itest_http_free(&h);
  assert_int_equal(clients_of(f, "carol@example.com"), 1);

  /* Now the account exists with a client: a second device needs approval,
   * not self-subscription. */
  itest_client_init(&d, "carol@example.com");
  itest_register(&f->env, &d, NULL, NULL, &h);
  ITEST_EXPECT(h, 202);
  itest_http_free(&h);
  assert_int_equal(clients_of(f, "carol@example.com"), 1);

  /* A domain the dispatcher does not serve is never self-subscribed. */
  struct itest_client e;
  itest_client_init(&e, "eve@elsewhere.org");
  itest_register(&f->env, &e, NULL, NULL, &h);
  assert_true(h.status == 404 || h.status == 403);
  itest_http_free(&h);
  assert_int_equal(itest_sql_count(&f->env, "SELECT count(*) FROM accounts "
                                            "WHERE address LIKE '%elsewhere%'"),
                   0);
  itest_client_free(&e);
  itest_client_free(&c);
  itest_client_free(&d);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_code_is_single_use),
      cmocka_unit_test(test_register_by_approval),
      cmocka_unit_test(test_register_by_approval_rejected),
      cmocka_unit_test(test_second_reply_conflicts),
      cmocka_unit_test(test_concurrent_replies),
      cmocka_unit_test(test_bad_receipts_change_nothing),
      cmocka_unit_test(test_warm_client_still_checked),
      cmocka_unit_test(test_deregister_and_revoke),
      cmocka_unit_test(test_open_self_subscription),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
