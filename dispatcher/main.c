/*
 * main.c — owcp-dispatcher: configuration (config.h), start-up in dependency
 * order (XML validator, keys, database pool, LISTEN thread, HTTP, workers), and
 * a clean shutdown on SIGTERM/SIGINT that lets requests in flight finish.
 */
#include <libxml/parser.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <curl/curl.h>

#include "certcache.h"
#include "config.h"
#include "context.h"
#include "http.h"
#include "keyring.h"
#include "log.h"
#include "notify.h"
#include "workers.h"

/* Room for --max-connections sockets plus database and key files. */
static void raise_fd_limit(unsigned want)
{
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
    return;
  rlim_t need = (rlim_t)want + 256;
  if (rl.rlim_cur < need) {
    rl.rlim_cur = need < rl.rlim_max ? need : rl.rlim_max;
    (void)setrlimit(RLIMIT_NOFILE, &rl);
  }
}

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

static int start(struct dispatcher *d, struct owcp_error *err)
{
  struct owcp_xml_limits limits;
  owcp_xml_limits_default(&limits);
  d->xml = owcp_xml_validator_new(&limits, err);
  if (d->xml == NULL)
    return -1;
  if (keyring_load_or_create(d->cfg.key_dir, d->cfg.domains[0], &d->keys, err))
    return -1;
  snprintf(d->system_address, sizeof d->system_address, "dispatcher@%s",
           d->cfg.domains[0]);
  d->pool = store_pool_new(d->cfg.db, d->cfg.threads + 2, err);
  if (d->pool == NULL)
    return -1;
  d->notify = notify_new(d->cfg.db, err);
  if (d->notify == NULL)
    return -1;
  d->certs = certcache_new(DISPATCHER_CERTCACHE_SLOTS);
  if (d->certs == NULL) {
    owcp_error_set(err, "out of memory for the certificate cache");
    return -1;
  }
  if (http_start(d, err) != 0)
    return -1;
  if (sweeper_start(d, err) != 0 || outbox_start(d, err) != 0)
    return -1;
  return 0;
}

static void stop(struct dispatcher *d)
{
  atomic_store(&d->stopping, true);
  http_stop(d, 10000);
  sweeper_join(d);
  outbox_join(d);
  notify_free(d->notify);
  certcache_free(d->certs);
  store_pool_free(d->pool);
  keyring_free(&d->keys);
  owcp_xml_validator_free(d->xml);
}

int main(int argc, char **argv)
{
  struct dispatcher d;
  memset(&d, 0, sizeof d);
  int rc = 0;
  if (!dispatcher_config_from_args(argc, argv, &d.cfg, &rc))
    return rc;

  /* Signals are taken synchronously by main; every thread inherits the
   * mask, so none of them is interrupted. */
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, NULL);
  signal(SIGPIPE, SIG_IGN);
  raise_fd_limit(d.cfg.max_connections);
  xmlInitParser();
  curl_global_init(CURL_GLOBAL_DEFAULT);

  struct owcp_error err = {{0}};
  if (start(&d, &err) != 0) {
    dlog("error", "start", "%s", err.msg);
    stop(&d);
    curl_global_cleanup();
    xmlCleanupParser();
    dispatcher_config_free(&d.cfg);
    return 1;
  }
  dlog("info", "start", "serving %s", d.base_url);
  if (d.cfg.ready_file && write_ready_file(d.cfg.ready_file, d.base_url))
    dlog("warning", "start", "cannot write --ready-file %s", d.cfg.ready_file);

  int sig = 0;
  sigwait(&sigs, &sig);
  dlog("info", "stop", "signal %d: finishing requests in flight", sig);
  stop(&d);
  curl_global_cleanup();
  xmlCleanupParser();
  dlog("info", "stop", "stopped");
  dispatcher_config_free(&d.cfg);
  return 0;
}
