/*
 * stats.c — latency samples and their quantiles for owcp-bench. Nearest-rank
 * quantiles over every sample (no histogram buckets), so p99 of a short run
 * is an observed value, not an interpolation.
 */
#include <stdlib.h>
#include <string.h>

#include "bench.h"

int bench_samples_add(struct bench_samples *s, double value)
{
  if (s->n == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 1024;
    double *grown = realloc(s->v, cap * sizeof *grown);
    if (grown == NULL)
      return -1;
    s->v = grown;
    s->cap = cap;
  }
  s->v[s->n++] = value;
  return 0;
}

int bench_samples_merge(struct bench_samples *to,
                        const struct bench_samples *from)
{
  for (size_t i = 0; i < from->n; i++)
    if (bench_samples_add(to, from->v[i]) != 0)
      return -1;
  return 0;
}

static int cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

double bench_samples_quantile(struct bench_samples *s, double p)
{
  size_t rank;

  if (s->n == 0)
    return 0;
  qsort(s->v, s->n, sizeof *s->v, cmp_double);
  if (p <= 0)
    return s->v[0];
  if (p >= 1)
    return s->v[s->n - 1];
  /* Nearest rank: the smallest value with at least p of the samples at or
   * below it. */
  rank = (size_t)(p * (double)s->n);
  if ((double)rank < p * (double)s->n)
    rank++;
  return s->v[rank > 0 ? rank - 1 : 0];
}

void bench_samples_free(struct bench_samples *s)
{
  free(s->v);
  memset(s, 0, sizeof *s);
}

void bench_samples_report(struct bench_samples *s, const char *name,
                          const char *key, FILE *f, FILE *summary)
{
  double p50 = bench_samples_quantile(s, 0.50) * 1e3;
  double p99 = bench_samples_quantile(s, 0.99) * 1e3;
  double max = bench_samples_quantile(s, 1.0) * 1e3;

  fprintf(f, "  %-26s n=%-7zu p50=%8.2f ms  p99=%8.2f ms  max=%8.2f ms\n", name,
          s->n, p50, p99, max);
  if (summary != NULL)
    fprintf(summary, "%s_p50_ms %.3f\n%s_p99_ms %.3f\n%s_n %zu\n", key, p50,
            key, p99, key, s->n);
}
