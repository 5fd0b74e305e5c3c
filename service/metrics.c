/*
 * metrics.c — the metrics registry (metrics.h). Series are kept in a list
 * per family: the families the daemons register have a handful of series
 * each (routes × statuses), so a list is both the simplest and fast
 * enough, and rendering walks it in insertion order.
 */
#include "owcp/service/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum kind { KIND_COUNTER, KIND_GAUGE, KIND_HISTOGRAM, KIND_GAUGE_FN };

struct series {
  struct series *next;
  char *values[SVC_METRIC_LABELS_MAX];
  double value; /* counter, gauge; histogram: sum */
  unsigned long long count;
  unsigned long long buckets[SVC_METRIC_BUCKETS_MAX]; /* not cumulative */
};

struct svc_metric {
  struct svc_metric *next;
  enum kind kind;
  const char *name, *help;
  const char *labels[SVC_METRIC_LABELS_MAX];
  size_t nlabels;
  double bounds[SVC_METRIC_BUCKETS_MAX];
  size_t nbounds;
  svc_metric_sample_fn sample;
  void *arg;
  pthread_mutex_t lock; /* guards the series list and values */
  struct series *series, *last;
};

struct svc_metrics {
  pthread_mutex_t lock; /* guards the family list */
  struct svc_metric *first, *last;
};

/* A growing output buffer; a failed append marks it failed. */
struct out {
  char *buf;
  size_t len, cap;
  int failed;
};

int svc_metric_name_valid(const char *name, int is_label)
{
  if (name == NULL || name[0] == '\0' || (name[0] >= '0' && name[0] <= '9'))
    return 0;
  for (const char *p = name; *p; p++) {
    char c = *p;
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
             (c >= '0' && c <= '9') || c == '_' || (c == ':' && !is_label);
    if (!ok)
      return 0;
  }
  return 1;
}

struct svc_metrics *svc_metrics_new(void)
{
  struct svc_metrics *m = calloc(1, sizeof *m);
  struct timespec now;

  if (m == NULL)
    return NULL;
  pthread_mutex_init(&m->lock, NULL);
  /* Created first thing in main(): close enough to the process start. */
  struct svc_metric *start = svc_metrics_gauge(
      m, "owcp_process_start_time_seconds",
      "Start time of the process since the Unix epoch in seconds.", NULL);
  if (start == NULL) {
    svc_metrics_free(m);
    return NULL;
  }
  clock_gettime(CLOCK_REALTIME, &now);
  svc_metric_set(start, NULL, (double)now.tv_sec + (double)now.tv_nsec / 1e9);
  return m;
}

static void series_free(struct series *s, size_t nlabels)
{
  for (size_t i = 0; i < nlabels; i++)
    free(s->values[i]);
  free(s);
}

void svc_metrics_free(struct svc_metrics *m)
{
  if (m == NULL)
    return;
  struct svc_metric *f = m->first;
  while (f != NULL) {
    struct svc_metric *next = f->next;
    struct series *s = f->series;
    while (s != NULL) {
      struct series *sn = s->next;
      series_free(s, f->nlabels);
      s = sn;
    }
    pthread_mutex_destroy(&f->lock);
    free(f);
    f = next;
  }
  pthread_mutex_destroy(&m->lock);
  free(m);
}

static struct svc_metric *family_add(struct svc_metrics *m, enum kind kind,
                                     const char *name, const char *help,
                                     const char *const *labels)
{
  if (m == NULL || !svc_metric_name_valid(name, 0))
    return NULL;
  struct svc_metric *f = calloc(1, sizeof *f);
  if (f == NULL)
    return NULL;
  f->kind = kind;
  f->name = name;
  f->help = help;
  for (size_t i = 0; labels != NULL && labels[i] != NULL; i++) {
    if (i == SVC_METRIC_LABELS_MAX || !svc_metric_name_valid(labels[i], 1)) {
      free(f);
      return NULL;
    }
    f->labels[f->nlabels++] = labels[i];
  }
  pthread_mutex_init(&f->lock, NULL);
  pthread_mutex_lock(&m->lock);
  if (m->last != NULL)
    m->last->next = f;
  else
    m->first = f;
  m->last = f;
  pthread_mutex_unlock(&m->lock);
  return f;
}

struct svc_metric *svc_metrics_counter(struct svc_metrics *m, const char *name,
                                       const char *help,
                                       const char *const *labels)
{
  return family_add(m, KIND_COUNTER, name, help, labels);
}

struct svc_metric *svc_metrics_gauge(struct svc_metrics *m, const char *name,
                                     const char *help,
                                     const char *const *labels)
{
  return family_add(m, KIND_GAUGE, name, help, labels);
}

struct svc_metric *svc_metrics_histogram(struct svc_metrics *m,
                                         const char *name, const char *help,
                                         const char *const *labels,
                                         const double *bounds, size_t nbounds)
{
  if (nbounds == 0 || nbounds > SVC_METRIC_BUCKETS_MAX)
    return NULL;
  for (size_t i = 1; i < nbounds; i++)
    if (!(bounds[i] > bounds[i - 1]))
      return NULL;
  struct svc_metric *f = family_add(m, KIND_HISTOGRAM, name, help, labels);
  if (f != NULL) {
    memcpy(f->bounds, bounds, nbounds * sizeof *bounds);
    f->nbounds = nbounds;
  }
  return f;
}

struct svc_metric *svc_metrics_gauge_fn(struct svc_metrics *m, const char *name,
                                        const char *help,
                                        svc_metric_sample_fn sample, void *arg)
{
  if (sample == NULL)
    return NULL;
  struct svc_metric *f = family_add(m, KIND_GAUGE_FN, name, help, NULL);
  if (f != NULL) {
    f->sample = sample;
    f->arg = arg;
  }
  return f;
}

/* The series for values, created when new; call with f->lock held. */
static struct series *series_get(struct svc_metric *f,
                                 const char *const *values)
{
  for (struct series *s = f->series; s != NULL; s = s->next) {
    size_t i = 0;
    while (i < f->nlabels && strcmp(s->values[i], values[i]) == 0)
      i++;
    if (i == f->nlabels)
      return s;
  }
  struct series *s = calloc(1, sizeof *s);
  if (s == NULL)
    return NULL;
  for (size_t i = 0; i < f->nlabels; i++)
    if ((s->values[i] = strdup(values[i] ? values[i] : "")) == NULL) {
      series_free(s, i);
      return NULL;
    }
  if (f->last != NULL)
    f->last->next = s;
  else
    f->series = s;
  f->last = s;
  return s;
}

static void update(struct svc_metric *f, const char *const *values, double v,
                   enum kind want, int set)
{
  if (f == NULL ||
      (f->kind != want && !(want == KIND_COUNTER && f->kind == KIND_GAUGE)))
    return;
  if (f->nlabels > 0 && values == NULL)
    return;
  pthread_mutex_lock(&f->lock);
  struct series *s = series_get(f, values);
  if (s != NULL) {
    if (want == KIND_HISTOGRAM) {
      size_t b = 0;
      while (b < f->nbounds && v > f->bounds[b])
        b++;
      if (b < f->nbounds)
        s->buckets[b]++;
      s->count++;
      s->value += v;
    } else if (set) {
      s->value = v;
    } else {
      s->value += v;
    }
  }
  pthread_mutex_unlock(&f->lock);
}

void svc_metric_add(struct svc_metric *mt, const char *const *values,
                    double delta)
{
  /* A counter only goes up. */
  if (mt != NULL && mt->kind == KIND_COUNTER && delta < 0)
    return;
  update(mt, values, delta, KIND_COUNTER, 0);
}

void svc_metric_set(struct svc_metric *mt, const char *const *values,
                    double value)
{
  update(mt, values, value, KIND_GAUGE, 1);
}

void svc_metric_observe(struct svc_metric *mt, const char *const *values,
                        double value)
{
  update(mt, values, value, KIND_HISTOGRAM, 0);
}

/* ---- rendering ----------------------------------------------------------- */

static void put(struct out *o, const char *s, size_t n)
{
  if (o->failed)
    return;
  if (o->len + n + 1 > o->cap) {
    size_t cap = o->cap ? o->cap : 4096;
    while (o->len + n + 1 > cap)
      cap *= 2;
    char *grown = realloc(o->buf, cap);
    if (grown == NULL) {
      o->failed = 1;
      return;
    }
    o->buf = grown;
    o->cap = cap;
  }
  memcpy(o->buf + o->len, s, n);
  o->len += n;
  o->buf[o->len] = '\0';
}

static void puts_(struct out *o, const char *s)
{
  put(o, s, strlen(s));
}

/* The shortest of %.15g and %.17g that reads back as v ("0.1", not
 * "0.10000000000000001"), infinities and NaN spelled the way the format
 * wants. */
static void format_double(double v, char *num, size_t n)
{
  if (isnan(v))
    snprintf(num, n, "NaN");
  else if (isinf(v))
    snprintf(num, n, v > 0 ? "+Inf" : "-Inf");
  else if (snprintf(num, n, "%.15g", v) > 0 && strtod(num, NULL) != v)
    snprintf(num, n, "%.17g", v);
}

static void put_value(struct out *o, double v)
{
  char num[64];

  format_double(v, num, sizeof num);
  puts_(o, num);
}

/* HELP text escapes \ and newline; label values also escape ". */
static void put_escaped(struct out *o, const char *s, int quote)
{
  for (; *s; s++) {
    if (*s == '\\')
      puts_(o, "\\\\");
    else if (*s == '\n')
      puts_(o, "\\n");
    else if (*s == '"' && quote)
      puts_(o, "\\\"");
    else
      put(o, s, 1);
  }
}

/* name{l1="v1",...,extra="x"} — extra (e.g. le) may be NULL. */
static void put_sample_name(struct out *o, const struct svc_metric *f,
                            const char *suffix, const struct series *s,
                            const char *extra_name, const char *extra_value)
{
  puts_(o, f->name);
  puts_(o, suffix);
  if (f->nlabels == 0 && extra_name == NULL)
    return;
  puts_(o, "{");
  for (size_t i = 0; i < f->nlabels; i++) {
    if (i > 0)
      puts_(o, ",");
    puts_(o, f->labels[i]);
    puts_(o, "=\"");
    put_escaped(o, s->values[i], 1);
    puts_(o, "\"");
  }
  if (extra_name != NULL) {
    if (f->nlabels > 0)
      puts_(o, ",");
    puts_(o, extra_name);
    puts_(o, "=\"");
    puts_(o, extra_value);
    puts_(o, "\"");
  }
  puts_(o, "}");
}

static void render_histogram(struct out *o, const struct svc_metric *f,
                             const struct series *s)
{
  unsigned long long cumulative = 0;
  char le[64];

  for (size_t b = 0; b < f->nbounds; b++) {
    cumulative += s->buckets[b];
    format_double(f->bounds[b], le, sizeof le);
    put_sample_name(o, f, "_bucket", s, "le", le);
    puts_(o, " ");
    put_value(o, (double)cumulative);
    puts_(o, "\n");
  }
  put_sample_name(o, f, "_bucket", s, "le", "+Inf");
  puts_(o, " ");
  put_value(o, (double)s->count);
  puts_(o, "\n");
  put_sample_name(o, f, "_sum", s, NULL, NULL);
  puts_(o, " ");
  put_value(o, s->value);
  puts_(o, "\n");
  put_sample_name(o, f, "_count", s, NULL, NULL);
  puts_(o, " ");
  put_value(o, (double)s->count);
  puts_(o, "\n");
}

static void render_family(struct out *o, struct svc_metric *f)
{
  static const char *const types[] = {"counter", "gauge", "histogram", "gauge"};

  puts_(o, "# HELP ");
  puts_(o, f->name);
  puts_(o, " ");
  put_escaped(o, f->help ? f->help : "", 0);
  puts_(o, "\n# TYPE ");
  puts_(o, f->name);
  puts_(o, " ");
  puts_(o, types[f->kind]);
  puts_(o, "\n");
  if (f->kind == KIND_GAUGE_FN) {
    double v = f->sample(f->arg);
    if (!isnan(v)) {
      puts_(o, f->name);
      puts_(o, " ");
      put_value(o, v);
      puts_(o, "\n");
    }
    return;
  }
  pthread_mutex_lock(&f->lock);
  for (const struct series *s = f->series; s != NULL; s = s->next) {
    if (f->kind == KIND_HISTOGRAM) {
      render_histogram(o, f, s);
      continue;
    }
    put_sample_name(o, f, "", s, NULL, NULL);
    puts_(o, " ");
    put_value(o, s->value);
    puts_(o, "\n");
  }
  pthread_mutex_unlock(&f->lock);
}

char *svc_metrics_render(struct svc_metrics *m, size_t *len)
{
  struct out o = {0};

  puts_(&o, "");
  /* Callback gauges run under this lock: they must be cheap and must not
   * register families. */
  pthread_mutex_lock(&m->lock);
  for (struct svc_metric *f = m->first; f != NULL; f = f->next)
    render_family(&o, f);
  pthread_mutex_unlock(&m->lock);
  if (o.failed) {
    free(o.buf);
    return NULL;
  }
  *len = o.len;
  return o.buf;
}
