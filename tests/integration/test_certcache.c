/*
 * test_certcache.c — the dispatcher's parsed-certificate cache
 * (dispatcher/certcache.c): hits return the very certificate cached (with a
 * reference of their own), misses and other ids return nothing, a slot
 * collision replaces the older entry without freeing one still in use, and
 * concurrent readers and writers stay consistent (run under ASan).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "certcache.h"
#include "owcp/ca.h"
#include "owcp/keys.h"

/* A self-signed certificate whose subject CN is cn. */
static X509 *make_cert(const char *cn)
{
  struct owcp_error err = {{0}};
  EVP_PKEY *key = owcp_key_new(&err);
  X509 *cert;

  assert_non_null(key);
  cert = owcp_ca_new(key, cn, &err);
  if (cert == NULL)
    fail_msg("owcp_ca_new: %s", err.msg);
  EVP_PKEY_free(key);
  return cert;
}

static void test_hit_miss_and_references(void **state)
{
  struct certcache *c = certcache_new(64);
  X509 *a = make_cert("client a");
  X509 *got;

  (void)state;
  assert_non_null(c);
  assert_null(certcache_get(c, "client-a"));
  assert_int_equal(certcache_put(c, "client-a", a), 0);
  got = certcache_get(c, "client-a");
  assert_ptr_equal(got, a);
  X509_free(got);
  assert_null(certcache_get(c, "client-b"));
  /* The cache holds its own reference: the caller's may go. */
  X509_free(a);
  got = certcache_get(c, "client-a");
  assert_non_null(got);
  assert_non_null(X509_get_subject_name(got));
  X509_free(got);
  /* Ids longer than a client id are not cached (never truncated). */
  char long_id[200];
  memset(long_id, 'x', sizeof long_id - 1);
  long_id[sizeof long_id - 1] = '\0';
  X509 *b = make_cert("client b");
  assert_int_equal(certcache_put(c, long_id, b), 0);
  assert_null(certcache_get(c, long_id));
  X509_free(b);
  certcache_free(c);
}

/* One slot: every id collides. The newer entry wins, the older one is
 * released only by its last holder. */
static void test_collision_replaces(void **state)
{
  struct certcache *c = certcache_new(1);
  X509 *a = make_cert("client a"), *b = make_cert("client b");

  (void)state;
  assert_int_equal(certcache_put(c, "a", a), 0);
  X509 *held = certcache_get(c, "a");
  assert_ptr_equal(held, a);
  assert_int_equal(certcache_put(c, "b", b), 0);
  assert_null(certcache_get(c, "a"));
  X509 *got = certcache_get(c, "b");
  assert_ptr_equal(got, b);
  X509_free(got);
  /* `held` is still valid although the cache dropped it. */
  assert_non_null(X509_get_subject_name(held));
  X509_free(held);
  X509_free(a);
  X509_free(b);
  certcache_free(c);
  assert_null(certcache_new(0));
}

struct worker {
  struct certcache *c;
  X509 *certs[4];
  int hits;
};

static void *hammer(void *arg)
{
  struct worker *w = arg;
  char id[16];

  for (int i = 0; i < 20000; i++) {
    int k = i % 4;
    snprintf(id, sizeof id, "id-%d", k);
    if (i % 3 == 0) {
      if (certcache_put(w->c, id, w->certs[k]) != 0)
        return NULL;
    } else {
      X509 *got = certcache_get(w->c, id);
      if (got != NULL) {
        /* A hit is always the certificate cached for that id. */
        if (got != w->certs[k])
          return NULL;
        w->hits++;
        X509_free(got);
      }
    }
  }
  return w;
}

static void test_concurrent(void **state)
{
  struct certcache *c = certcache_new(3); /* four ids, three slots */
  struct worker w[4];
  pthread_t th[4];
  X509 *certs[4];

  (void)state;
  for (int k = 0; k < 4; k++) {
    char cn[16];
    snprintf(cn, sizeof cn, "client %d", k);
    certs[k] = make_cert(cn);
  }
  for (int t = 0; t < 4; t++) {
    w[t].c = c;
    memcpy(w[t].certs, certs, sizeof certs);
    w[t].hits = 0;
    assert_int_equal(pthread_create(&th[t], NULL, hammer, &w[t]), 0);
  }
  for (int t = 0; t < 4; t++) {
    void *ret;
    assert_int_equal(pthread_join(th[t], &ret), 0);
    assert_ptr_equal(ret, &w[t]);
    assert_true(w[t].hits > 0);
  }
  certcache_free(c);
  for (int k = 0; k < 4; k++)
    X509_free(certs[k]);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hit_miss_and_references),
      cmocka_unit_test(test_collision_replaces),
      cmocka_unit_test(test_concurrent),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
