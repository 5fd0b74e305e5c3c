/*
 * sweeper.c — the background thread that chains new confirmation-log
 * entries (every ~200 ms), marks expired transactions (every ~1 s) and
 * signs log heads (every log_head_interval seconds, log_head.h).
 *
 * Every dispatcher process runs one; the database arbitrates (the sealer's
 * advisory lock, SKIP LOCKED expiry), so running many is safe and running
 * none only delays sealing and expiry. A database outage is logged once and
 * retried on the next tick: the thread never exits before shutdown.
 */
#include "workers.h"

#include <string.h>

#include "owcp/service/daemon.h"
#include "owcp/service/log.h"
#include "owcp/service/metrics.h"
#include "store_metrics.h"
#include "log_head.h"
#include "logchain.h"
#include "notify.h"

#define SWEEP_TICK_MS 200
#define SWEEP_EXPIRE_EVERY_MS 1000
#define SWEEP_ACQUIRE_WAIT_MS 100
#define SWEEP_EXPIRE_BATCH 500
#define SWEEP_SEAL_BATCH 1000
/* How often the /metrics gauges are refreshed from the database. */
#define SWEEP_METRICS_EVERY_MS 5000
/* Bounds one tick's work so a huge backlog cannot delay shutdown. */
#define SWEEP_MAX_BATCHES 20

/* What the thread carries from one tick to the next. */
struct sweeper_state {
  struct dispatcher *d;
  int64_t next_expire_ms;
  int64_t next_head_ms; /* next signed log head (log_head.c) */
  bool failing;         /* last tick failed: log recovery, not every failure */
  struct store_metrics_conn *metrics; /* NULL: gauges not sampled */
  int64_t next_metrics_ms;
  bool metrics_failing;
};

/* Chains every unsealed entry (up to a bound per tick). */
static int seal(struct sweeper_state *s, struct store *st,
                struct owcp_error *err)
{
  for (int i = 0; i < SWEEP_MAX_BATCHES && !atomic_load(&s->d->stopping); i++) {
    int sealed = 0;
    int rc = logchain_seal(st, SWEEP_SEAL_BATCH, &sealed, err);

    if (rc != 0)
      return rc;
    if (sealed < SWEEP_SEAL_BATCH)
      break;
  }
  return 0;
}

/* Expires due transactions in batches while batches come back full. */
static int expire(struct sweeper_state *s, struct store *st,
                  struct owcp_error *err)
{
  for (int i = 0; i < SWEEP_MAX_BATCHES && !atomic_load(&s->d->stopping); i++) {
    int count = 0;
    int rc = store_expire(st, SWEEP_EXPIRE_BATCH, 0, &count, err);

    if (rc != 0)
      return rc;
    if (count < SWEEP_EXPIRE_BATCH)
      break;
  }
  return 0;
}

/* One tick: borrow a connection, seal, expire and sign a log head when
 * due, give it back. */
static int tick(struct sweeper_state *s, struct owcp_error *err)
{
  struct store *st = NULL;
  int rc = store_pool_acquire(s->d->pool, SWEEP_ACQUIRE_WAIT_MS, &st, err);

  if (rc != 0)
    return rc;
  rc = seal(s, st, err);
  if (rc == 0 && notify_now_ms() >= s->next_expire_ms) {
    rc = expire(s, st, err);
    if (rc == 0)
      s->next_expire_ms = notify_now_ms() + SWEEP_EXPIRE_EVERY_MS;
  }
  if (rc == 0 && notify_now_ms() >= s->next_head_ms) {
    rc = log_head_sign(s->d, st, err);
    if (rc == 0)
      s->next_head_ms =
          notify_now_ms() + (int64_t)s->d->cfg.log_head_interval * 1000;
  }
  store_pool_release(s->d->pool, st);
  return rc;
}

/* Refreshes the backlog and seal-lag gauges when due. A failure only
 * leaves the gauges at their last value (logged once). */
static void sample_metrics(struct sweeper_state *s)
{
  struct store_metrics m;
  struct owcp_error err = {{0}};

  if (s->metrics == NULL || notify_now_ms() < s->next_metrics_ms)
    return;
  s->next_metrics_ms = notify_now_ms() + SWEEP_METRICS_EVERY_MS;
  int rc = store_metrics_sample(s->metrics, &m, &err);
  if (rc != 0 && !s->metrics_failing)
    svc_log(SVC_LOG_WARN, "metrics.sample", "%s", err.msg);
  s->metrics_failing = rc != 0;
  if (rc != 0)
    return;
  svc_metric_set(s->d->gauges.completion_backlog, NULL, m.completion_backlog);
  svc_metric_set(s->d->gauges.completion_oldest, NULL, m.completion_oldest_s);
  svc_metric_set(s->d->gauges.log_seal_lag, NULL, m.log_seal_lag_s);
}

static void *sweeper_main(void *arg)
{
  struct sweeper_state s = {.d = arg, .next_expire_ms = 0, .failing = false};

  s.metrics = store_metrics_conn_new(s.d->cfg.db);
  while (!atomic_load(&s.d->stopping)) {
    sample_metrics(&s);
    struct owcp_error err = {{0}};
    int rc = tick(&s, &err);

    if (rc != 0 && !s.failing)
      svc_log(SVC_LOG_ERROR, "sweeper.failed", "%s (retrying every %d ms)",
              err.msg, SWEEP_TICK_MS);
    else if (rc == 0 && s.failing)
      svc_log(SVC_LOG_INFO, "sweeper.recovered", "sweeper working again");
    s.failing = rc != 0;
    svc_sleep_unless(&s.d->stopping, SWEEP_TICK_MS);
  }
  store_metrics_conn_free(s.metrics);
  return NULL;
}

/* The gauges sample_metrics() keeps current. */
static void register_gauges(struct dispatcher *d)
{
  d->gauges.completion_backlog = svc_metrics_gauge(
      d->metrics, "owcp_completion_backlog",
      "DR-Complete deliveries neither delivered nor given up.", NULL);
  d->gauges.completion_oldest = svc_metrics_gauge(
      d->metrics, "owcp_completion_oldest_age_seconds",
      "Age of the oldest pending DR-Complete delivery (0: none).", NULL);
  d->gauges.log_seal_lag = svc_metrics_gauge(
      d->metrics, "owcp_log_seal_lag_seconds",
      "Age of the oldest confirmation-log entry after the chain tip (0: "
      "all sealed).",
      NULL);
}

int sweeper_start(struct dispatcher *d, struct owcp_error *err)
{
  if (d->sweeper_started) {
    owcp_error_set(err, "the sweeper is already running");
    return -1;
  }
  register_gauges(d);
  if (svc_thread_create(&d->sweeper_thread, sweeper_main, d, err) != 0)
    return -1;
  d->sweeper_started = true;
  return 0;
}

void sweeper_join(struct dispatcher *d)
{
  if (!d->sweeper_started)
    return;
  pthread_join(d->sweeper_thread, NULL);
  d->sweeper_started = false;
}
