/*
 * test_svc_metrics.c — unit tests for the metrics registry
 * (owcp/service/metrics.h): the rendering is valid text exposition format
 * (every line checked), counters, gauges, callback gauges and cumulative
 * histogram buckets carry the right values, label values are escaped, and
 * invalid names are refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "owcp/service/metrics.h"
#include "testutil.h"

static double sample_seven(void *arg)
{
  return *(double *)arg;
}

static double sample_unknown(void *arg)
{
  (void)arg;
  return NAN;
}

static void test_render_valid_and_values(void **state)
{
  (void)state;
  struct svc_metrics *m = svc_metrics_new();
  static const char *const labels[] = {"route", "status", NULL};
  static const double bounds[] = {0.1, 1, 10};
  double seven = 7.5;

  assert_non_null(m);
  struct svc_metric *req =
      svc_metrics_counter(m, "owcp_test_requests_total", "Requests.", labels);
  struct svc_metric *held =
      svc_metrics_gauge(m, "owcp_test_held", "Held \\ now\nreally.", NULL);
  struct svc_metric *dur = svc_metrics_histogram(
      m, "owcp_test_seconds", "Durations.", labels, bounds, 3);
  assert_non_null(svc_metrics_gauge_fn(m, "owcp_test_sampled", "Sampled.",
                                       sample_seven, &seven));
  assert_non_null(svc_metrics_gauge_fn(m, "owcp_test_unknown", "Unknown.",
                                       sample_unknown, NULL));
  assert_non_null(req);
  assert_non_null(held);
  assert_non_null(dur);

  const char *a[] = {"/a", "200"}, *b[] = {"/b \"q\"\\", "404"};
  svc_metric_add(req, a, 1);
  svc_metric_add(req, a, 2);
  svc_metric_add(req, b, 1);
  svc_metric_add(req, a, -5); /* a counter never goes down */
  svc_metric_set(held, NULL, 4);
  svc_metric_add(held, NULL, -1);
  svc_metric_observe(dur, a, 0.05);
  svc_metric_observe(dur, a, 0.5);
  svc_metric_observe(dur, a, 100);

  size_t len = 0;
  char *text = svc_metrics_render(m, &len);
  assert_non_null(text);
  assert_int_equal(strlen(text), len);
  testutil_assert_exposition_valid(text);
  assert_non_null(strstr(text, "# TYPE owcp_test_requests_total counter\n"));
  assert_non_null(strstr(text, "# TYPE owcp_test_seconds histogram\n"));
  assert_non_null(
      strstr(text, "# HELP owcp_test_held Held \\\\ now\\nreally.\n"));
  assert_true(
      testutil_exposition_value(
          text, "owcp_test_requests_total{route=\"/a\",status=\"200\"}") == 3);
  assert_true(
      testutil_exposition_value(text, "owcp_test_requests_total{route=\"/b "
                                      "\\\"q\\\"\\\\\",status=\"404\"}") == 1);
  assert_true(testutil_exposition_value(text, "owcp_test_held") == 3);
  assert_true(testutil_exposition_value(text, "owcp_test_sampled") == 7.5);
  assert_true(testutil_exposition_value(text, "owcp_test_unknown") == -1);
  assert_true(testutil_exposition_value(
                  text, "owcp_test_seconds_bucket{route=\"/a\",status=\"200\","
                        "le=\"0.1\"}") == 1);
  assert_true(testutil_exposition_value(
                  text, "owcp_test_seconds_bucket{route=\"/a\",status=\"200\","
                        "le=\"1\"}") == 2);
  assert_true(testutil_exposition_value(
                  text, "owcp_test_seconds_bucket{route=\"/a\",status=\"200\","
                        "le=\"+Inf\"}") == 3);
  assert_true(
      testutil_exposition_value(
          text, "owcp_test_seconds_count{route=\"/a\",status=\"200\"}") == 3);
  assert_true(
      fabs(testutil_exposition_value(
               text, "owcp_test_seconds_sum{route=\"/a\",status=\"200\"}") -
           100.55) < 1e-9);
  free(text);
  svc_metrics_free(m);
}

static void test_process_start_time(void **state)
{
  (void)state;
  struct svc_metrics *m = svc_metrics_new();
  size_t len;
  char *text = svc_metrics_render(m, &len);
  testutil_assert_exposition_valid(text);
  assert_true(testutil_exposition_value(
                  text, "owcp_process_start_time_seconds") > 1.7e9);
  free(text);
  svc_metrics_free(m);
}

static void test_invalid_names_refused(void **state)
{
  (void)state;
  struct svc_metrics *m = svc_metrics_new();
  static const char *const bad_label[] = {"a:b", NULL};
  static const char *const too_many[] = {"a", "b", "c", "d", "e", NULL};
  static const double desc[] = {2, 1};

  assert_null(svc_metrics_counter(m, "9lives", "x", NULL));
  assert_null(svc_metrics_counter(m, "has space", "x", NULL));
  assert_null(svc_metrics_counter(m, "ok_name", "x", bad_label));
  assert_null(svc_metrics_counter(m, "ok_name", "x", too_many));
  assert_null(svc_metrics_histogram(m, "ok_hist", "x", NULL, desc, 2));
  /* Updating a NULL metric is a no-op, not a crash. */
  svc_metric_add(NULL, NULL, 1);
  svc_metrics_free(m);
}

struct hammer {
  struct svc_metric *c;
};

static void *hammer_main(void *arg)
{
  struct hammer *h = arg;
  const char *v[] = {"x"};
  for (int i = 0; i < 10000; i++)
    svc_metric_add(h->c, v, 1);
  return NULL;
}

static void test_thread_safe_counts(void **state)
{
  (void)state;
  struct svc_metrics *m = svc_metrics_new();
  static const char *const labels[] = {"k", NULL};
  struct hammer h = {
      svc_metrics_counter(m, "owcp_test_hits_total", "Hits.", labels)};
  pthread_t t[4];
  for (int i = 0; i < 4; i++)
    assert_int_equal(pthread_create(&t[i], NULL, hammer_main, &h), 0);
  for (int i = 0; i < 4; i++)
    pthread_join(t[i], NULL);
  size_t len;
  char *text = svc_metrics_render(m, &len);
  assert_true(testutil_exposition_value(
                  text, "owcp_test_hits_total{k=\"x\"}") == 40000);
  free(text);
  svc_metrics_free(m);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_render_valid_and_values),
      cmocka_unit_test(test_process_start_time),
      cmocka_unit_test(test_invalid_names_refused),
      cmocka_unit_test(test_thread_safe_counts),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
