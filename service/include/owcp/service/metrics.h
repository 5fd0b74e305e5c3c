/*
 * metrics.h — a small thread-safe registry of counters, gauges (set, or
 * sampled from a callback at scrape time) and histograms, each with up to
 * SVC_METRIC_LABELS_MAX labels, rendered in the Prometheus text exposition
 * format (version 0.0.4) that the HTTP front serves at GET /metrics.
 * Names are the caller's: the project prefixes every one with "owcp_".
 *
 * Ownership: the registry owns every family and series; the struct
 * svc_metric pointers it hands out stay valid until svc_metrics_free().
 * Families are registered at start-up; updating a series is safe from any
 * thread at any time (one mutex per family, held for a few instructions).
 */
#ifndef OWCP_SERVICE_METRICS_H
#define OWCP_SERVICE_METRICS_H

#include <stddef.h>

#define SVC_METRIC_LABELS_MAX 4
#define SVC_METRIC_BUCKETS_MAX 16

struct svc_metrics;
struct svc_metric;

/* A callback gauge's sampler: the current value, or NAN to omit the
 * sample from this scrape (e.g. the value is not known yet). */
typedef double (*svc_metric_sample_fn)(void *arg);

/* A new registry holding only owcp_process_start_time_seconds, set to now:
 * create it first thing in main(). NULL when memory runs out. */
struct svc_metrics *svc_metrics_new(void);
void svc_metrics_free(struct svc_metrics *m);

/* Register a family. labels: NULL-terminated label names (NULL: none).
 * name, help and labels are borrowed and must outlive the registry
 * (string literals). NULL on out of memory, an invalid name or too many
 * labels/buckets. bounds: the histogram's upper bounds, ascending (the
 * +Inf bucket is implied). */
struct svc_metric *svc_metrics_counter(struct svc_metrics *m, const char *name,
                                       const char *help,
                                       const char *const *labels);
struct svc_metric *svc_metrics_gauge(struct svc_metrics *m, const char *name,
                                     const char *help,
                                     const char *const *labels);
struct svc_metric *svc_metrics_histogram(struct svc_metrics *m,
                                         const char *name, const char *help,
                                         const char *const *labels,
                                         const double *bounds, size_t nbounds);
struct svc_metric *svc_metrics_gauge_fn(struct svc_metrics *m, const char *name,
                                        const char *help,
                                        svc_metric_sample_fn sample, void *arg);

/* Update the series named by values (one per label, in order; NULL when
 * the family has no labels). A series is created on first use. NULL
 * metric is ignored, so optional metrics need no checks at call sites.
 * add: counters and gauges; set: gauges; observe: histograms. */
void svc_metric_add(struct svc_metric *mt, const char *const *values,
                    double delta);
void svc_metric_set(struct svc_metric *mt, const char *const *values,
                    double value);
void svc_metric_observe(struct svc_metric *mt, const char *const *values,
                        double value);

/* The whole registry in the text exposition format: a malloc()ed string
 * the caller frees (length in *len), or NULL when memory runs out. */
char *svc_metrics_render(struct svc_metrics *m, size_t *len);

/* True when name is a valid metric or label name ([a-zA-Z_:][a-zA-Z0-9_:]*
 * for metrics; no ':' for labels). */
int svc_metric_name_valid(const char *name, int is_label);

#endif
