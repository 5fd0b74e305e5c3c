/*
 * main.c — owcp-dispatcher: configuration (config.h), start-up in dependency
 * order (XML validator, keys, database pool, LISTEN thread, HTTP, workers), a
 * reload on SIGHUP (TLS certificate and key, log level) and a clean shutdown
 * on SIGTERM/SIGINT that lets requests in flight finish (the process runtime
 * is the service layer's, owcp/service/daemon.h).
 */
#include <libxml/parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "certcache.h"
#include "config.h"
#include "context.h"
#include "http.h"
#include "keyring.h"
#include "log_head.h"
#include "authcache.h"
#include "txcache.h"
#include "listed.h"
#include "ratelease.h"
#include "notify.h"
#include "owcp/service/daemon.h"
#include "owcp/service/log.h"
#include "owcp/service/metrics.h"
#include "workers.h"

static int write_ready_file(const char *path, const char *url)
{
  FILE *f = fopen(path, "w");
  if (f == NULL)
    return -1;
  int rc = fprintf(f, "%s\n", url) < 0 ? -1 : 0;
  return fclose(f) != 0 ? -1 : rc;
}

/* Certificate cache slots: 4096 × (65 B + a parsed certificate, ≈ 2 KiB)
 * bounds it near 8 MiB, and far more clients than that stay fast enough
 * (a miss costs one read and one parse). */
#define DISPATCHER_CERTCACHE_SLOTS 4096

/* Listings queued for the batch writer (listed.h): ≈ 140 B each, twice
 * (queue and batch being written). At hundreds of flows/s a batch holds a
 * handful; the bound only matters while the database stalls. */
#define DISPATCHER_LISTED_QUEUE 4096

/* Transaction cache slots: 4096 × (a request and a receipt of at most
 * TXCACHE_BYTES_MAX each, ≈ 2 KiB in the benchmark) bounds it near
 * 34 MiB; a miss costs the read it saves (txcache.h). */
#define DISPATCHER_TXCACHE_SLOTS 4096

/* Token cache slots: 4096 × ≈ 400 B ≈ 1.6 MiB; a miss costs one look-up. */
#define DISPATCHER_AUTHCACHE_SLOTS 4096
/* Rate-lease sets (× RATELEASE_WAYS requestors each; ratelease.h). */
#define DISPATCHER_RATELEASE_SETS 1024

/* The log threshold of the configuration: at start-up, and again on
 * SIGHUP from the configuration file as it is now (unless --log-level
 * pinned it), so an operator can turn on debug logging without a restart.
 * The [dispatcher] log_level enum lists error, warn, info, debug in the
 * order of enum svc_log_level. */
static void apply_log_level(struct dispatcher *d, bool reread)
{
  if (reread && d->cfg.config_file != NULL && !d->cfg.log_level_from_flag) {
    struct dispatcher_config now;
    struct owcp_error err = {{0}};
    memset(&now, 0, sizeof now);
    if (dispatcher_config_from_file(d->cfg.config_file, &now, &err) != 0) {
      svc_log(SVC_LOG_ERROR, "reload", "%s; keeping log level %s", err.msg,
              svc_log_level_name(svc_log_get_level()));
      return;
    }
    d->cfg.log_level = now.log_level;
    dispatcher_config_free(&now);
  }
  svc_log_set_level((enum svc_log_level)d->cfg.log_level);
}

/* The pool's numbers, sampled when /metrics is scraped. */
static double pool_in_use(void *arg)
{
  struct svc_pgpool_stats st;
  store_pool_stats(arg, &st);
  return (double)st.in_use;
}

static double pool_waits(void *arg)
{
  struct svc_pgpool_stats st;
  store_pool_stats(arg, &st);
  return (double)st.waits;
}

static double pool_wait_seconds(void *arg)
{
  struct svc_pgpool_stats st;
  store_pool_stats(arg, &st);
  return (double)st.wait_us / 1e6;
}

/* Group commit's numbers (store_group.h). */
static double group_groups(void *arg)
{
  struct store_group_counts n;
  store_pool_group_counts(arg, &n);
  return (double)n.groups;
}

static double group_calls(void *arg)
{
  struct store_group_counts n;
  store_pool_group_counts(arg, &n);
  return (double)n.calls;
}

/* The token cache's numbers (authcache.h). */
static double auth_hits(void *arg)
{
  return (double)authcache_hits(arg);
}

static double auth_flushes(void *arg)
{
  return (double)authcache_flushes(arg);
}

static int register_auth_gauges(struct dispatcher *d, struct owcp_error *err)
{
  if (svc_metrics_gauge_fn(d->metrics, "owcp_auth_cache_hits_total",
                           "Bearer tokens accepted from the token cache.",
                           auth_hits, d->auth) == NULL ||
      svc_metrics_gauge_fn(d->metrics, "owcp_auth_cache_flushes_total",
                           "Token cache flushes (revocations notified).",
                           auth_flushes, d->auth) == NULL) {
    owcp_error_set(err, "out of memory for the token cache metrics");
    return -1;
  }
  return 0;
}

/* The notifier's observer (notify.h): what the transaction cache knows of
 * an account ends with its wake-up key. */
static void observe_key(void *arg, const char *key)
{
  txcache_key(arg, key);
}

/* Reads the transaction cache answered (txcache.h). */
static double txcache_hit_count(void *arg)
{
  return (double)txcache_hits(arg);
}

static int register_txcache_gauge(struct dispatcher *d, struct owcp_error *err)
{
  if (svc_metrics_gauge_fn(d->metrics, "owcp_tx_cache_hits_total",
                           "Database reads the transaction cache saved: "
                           "stored requests, answers, woken CD-Lists and "
                           "first reads of accounts known to have nothing "
                           "pending.",
                           txcache_hit_count, d->txs) == NULL) {
    owcp_error_set(err, "out of memory for the transaction cache metric");
    return -1;
  }
  return 0;
}

/* The notify sender's numbers (notify.h). */
static double notify_batches(void *arg)
{
  return (double)notify_sent_batches(arg);
}

static double notify_keys(void *arg)
{
  return (double)notify_sent_keys(arg);
}

static int register_notify_gauges(struct dispatcher *d, struct owcp_error *err)
{
  if (svc_metrics_gauge_fn(d->metrics, "owcp_notify_batches_total",
                           "NOTIFY transactions sent to other processes.",
                           notify_batches, d->notify) == NULL ||
      svc_metrics_gauge_fn(d->metrics, "owcp_notify_keys_total",
                           "Wake-up keys sent in them.", notify_keys,
                           d->notify) == NULL) {
    owcp_error_set(err, "out of memory for the notify metrics");
    return -1;
  }
  return 0;
}

/* The rate leases' numbers (ratelease.h). */
static double lease_spent(void *arg)
{
  return (double)ratelease_spent(arg);
}

static double lease_lost(void *arg)
{
  return (double)ratelease_lost(arg);
}

static int start_rate_leases(struct dispatcher *d, struct owcp_error *err)
{
  d->leases = ratelease_new(DISPATCHER_RATELEASE_SETS);
  if (d->leases == NULL ||
      svc_metrics_gauge_fn(d->metrics, "owcp_rate_lease_spent_total",
                           "RD-Confirm attempts counted from this process's "
                           "rate leases (no database call).",
                           lease_spent, d->leases) == NULL ||
      svc_metrics_gauge_fn(d->metrics, "owcp_rate_lease_lost_total",
                           "Leased rate units given up unused (window "
                           "ended, lease replaced or invalidated).",
                           lease_lost, d->leases) == NULL) {
    owcp_error_set(err, "out of memory for the rate leases");
    return -1;
  }
  return 0;
}

static int register_pool_gauges(struct dispatcher *d, struct owcp_error *err)
{
  if (svc_metrics_gauge_fn(d->metrics, "owcp_db_pool_connections_in_use",
                           "Database connections lent to requests now.",
                           pool_in_use, d->pool) == NULL ||
      svc_metrics_gauge_fn(d->metrics, "owcp_db_pool_waits_total",
                           "Borrows that found no free database connection.",
                           pool_waits, d->pool) == NULL ||
      svc_metrics_gauge_fn(d->metrics, "owcp_db_pool_wait_seconds_total",
                           "Time borrows spent waiting for a connection.",
                           pool_wait_seconds, d->pool) == NULL ||
      svc_metrics_gauge_fn(d->metrics, "owcp_db_group_commits_total",
                           "Group commits of RD-Confirm/CD-Reply calls.",
                           group_groups, d->pool) == NULL ||
      svc_metrics_gauge_fn(d->metrics, "owcp_db_group_calls_total",
                           "RD-Confirm/CD-Reply calls group commits carried.",
                           group_calls, d->pool) == NULL) {
    owcp_error_set(err, "out of memory for the pool metrics");
    return -1;
  }
  return 0;
}

static int start(struct dispatcher *d, struct owcp_error *err)
{
  struct owcp_xml_limits limits;
  apply_log_level(d, false);
  d->metrics = svc_metrics_new();
  if (d->metrics == NULL) {
    owcp_error_set(err, "out of memory for the metrics registry");
    return -1;
  }
  owcp_xml_limits_default(&limits);
  d->xml = owcp_xml_validator_new(&limits, err);
  if (d->xml == NULL)
    return -1;
  if (keyring_load_or_create(d->cfg.key_dir, d->cfg.domains[0], &d->keys, err))
    return -1;
  if (log_head_init(d, err) != 0)
    return -1;
  snprintf(d->system_address, sizeof d->system_address, "dispatcher@%s",
           d->cfg.domains[0]);
  d->auth = authcache_new(DISPATCHER_AUTHCACHE_SLOTS);
  if (d->auth == NULL) {
    owcp_error_set(err, "out of memory for the token cache");
    return -1;
  }
  if (register_auth_gauges(d, err) != 0 || start_rate_leases(d, err) != 0)
    return -1;
  /* Before the notifier, which passes it every wake-up key. */
  d->txs = txcache_new(DISPATCHER_TXCACHE_SLOTS);
  if (d->txs == NULL || register_txcache_gauge(d, err) != 0) {
    owcp_error_set(err, "out of memory for the transaction cache");
    return -1;
  }
  d->notify = notify_new(d->cfg.db, d->auth, observe_key, d->txs, err);
  if (d->notify == NULL || register_notify_gauges(d, err) != 0)
    return -1;
  /* The pool's commits wake long polls through the notifier (notify.h).
   * + the sweeper, the outbox sender and the listing writer. */
  d->pool = store_pool_new_waking(d->cfg.db, d->cfg.threads + 3,
                                  notify_committed, d->notify, err);
  if (d->pool == NULL)
    return -1;
  if (store_pool_group_commit(d->pool, (size_t)d->cfg.group_commit, err) != 0)
    return -1;
  if (register_pool_gauges(d, err) != 0)
    return -1;
  d->certs = certcache_new(DISPATCHER_CERTCACHE_SLOTS);
  if (d->certs == NULL) {
    owcp_error_set(err, "out of memory for the certificate cache");
    return -1;
  }
  d->listed = listed_start(d->pool, DISPATCHER_LISTED_QUEUE, d->metrics, err);
  if (d->listed == NULL)
    return -1;
  if (http_start(d, err) != 0)
    return -1;
  if (sweeper_start(d, err) != 0 || outbox_start(d, err) != 0)
    return -1;
  return 0;
}

/* SIGHUP: the TLS certificate and key are re-read from their configured
 * paths and the log level from the configuration file; nothing else
 * changes (other keys need a restart: docs/configuration.md). */
static int reload(void *arg)
{
  struct dispatcher *d = arg;
  struct owcp_error err = {{0}};
  int rc = 0;

  apply_log_level(d, true);
  if (http_reload(d, &err) != 0) {
    svc_log(SVC_LOG_ERROR, "reload", "%s", err.msg);
    rc = -1;
  }
  return rc;
}

static void stop(struct dispatcher *d)
{
  atomic_store(&d->stopping, true);
  http_stop(d, 10000);
  sweeper_join(d);
  outbox_join(d);
  listed_stop(d->listed); /* no CD-List runs any more: flush the queue */
  d->listed = NULL;
  log_head_final(d); /* after every request that could log has ended */
  notify_free(d->notify);
  authcache_free(d->auth);
  ratelease_free(d->leases);
  certcache_free(d->certs);
  txcache_free(d->txs);
  store_pool_free(d->pool);
  log_head_fini(d);
  keyring_free(&d->keys);
  owcp_xml_validator_free(d->xml);
  svc_metrics_free(d->metrics);
}

int main(int argc, char **argv)
{
  struct dispatcher d;
  memset(&d, 0, sizeof d);
  int rc = 0;
  if (!dispatcher_config_from_args(argc, argv, &d.cfg, &rc))
    return rc;

  /* Before any thread exists: every thread inherits the blocked mask, so
   * only svc_run() on this thread takes SIGTERM, SIGINT and SIGHUP. */
  svc_signals_init();
  svc_raise_fd_limit(d.cfg.max_connections);
  xmlInitParser();
  curl_global_init(CURL_GLOBAL_DEFAULT);

  struct owcp_error err = {{0}};
  if (start(&d, &err) != 0) {
    svc_log(SVC_LOG_ERROR, "start", "%s", err.msg);
    stop(&d);
    curl_global_cleanup();
    xmlCleanupParser();
    dispatcher_config_free(&d.cfg);
    return 1;
  }
  svc_log(SVC_LOG_INFO, "start", "serving %s", d.base_url);
  if (d.cfg.ready_file && write_ready_file(d.cfg.ready_file, d.base_url))
    svc_log(SVC_LOG_WARN, "start", "cannot write --ready-file %s",
            d.cfg.ready_file);

  int sig = svc_run(reload, &d, d.base_url);
  svc_log(SVC_LOG_INFO, "stop", "signal %d: finishing requests in flight", sig);
  stop(&d);
  curl_global_cleanup();
  xmlCleanupParser();
  svc_log(SVC_LOG_INFO, "stop", "stopped");
  dispatcher_config_free(&d.cfg);
  return 0;
}
