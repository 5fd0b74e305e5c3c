/*
 * sweeper.c — the background thread that chains new confirmation-log
 * entries (every ~200 ms) and marks expired transactions (every ~1 s).
 *
 * Every dispatcher process runs one; the database arbitrates (the sealer's
 * advisory lock, SKIP LOCKED expiry), so running many is safe and running
 * none only delays sealing and expiry. A database outage is logged once and
 * retried on the next tick: the thread never exits before shutdown.
 * Also home of the small helpers both background threads share
 * (workers.h).
 */
#include "workers.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "logchain.h"
#include "notify.h"

#define SWEEP_TICK_MS 200
#define SWEEP_EXPIRE_EVERY_MS 1000
#define SWEEP_SLICE_MS 50
#define SWEEP_ACQUIRE_WAIT_MS 100
#define SWEEP_EXPIRE_BATCH 500
#define SWEEP_SEAL_BATCH 1000
/* Bounds one tick's work so a huge backlog cannot delay shutdown. */
#define SWEEP_MAX_BATCHES 20

/* What the thread carries from one tick to the next. */
struct sweeper_state {
  struct dispatcher *d;
  int64_t next_expire_ms;
  bool failing; /* last tick failed: log recovery, not every failure */
};

void workers_sleep_unless_stopping(struct dispatcher *d, int ms)
{
  while (ms > 0 && !atomic_load(&d->stopping)) {
    int slice = ms < SWEEP_SLICE_MS ? ms : SWEEP_SLICE_MS;
    struct timespec ts = {0, (long)slice * 1000000L};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
      ;
    ms -= slice;
  }
}

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

/* One tick: borrow a connection, seal, expire when due, give it back. */
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
  store_pool_release(s->d->pool, st);
  return rc;
}

static void *sweeper_main(void *arg)
{
  struct sweeper_state s = {.d = arg, .next_expire_ms = 0, .failing = false};

  while (!atomic_load(&s.d->stopping)) {
    struct owcp_error err = {{0}};
    int rc = tick(&s, &err);

    if (rc != 0 && !s.failing)
      dlog("error", "sweeper.failed", "%s (retrying every %d ms)", err.msg,
           SWEEP_TICK_MS);
    else if (rc == 0 && s.failing)
      dlog("info", "sweeper.recovered", "sweeper working again");
    s.failing = rc != 0;
    workers_sleep_unless_stopping(s.d, SWEEP_TICK_MS);
  }
  return NULL;
}

/* Runs start_routine with the shutdown signals blocked, so SIGTERM and
 * SIGINT reach the main thread's handler, and with SIGPIPE blocked, so a
 * peer that closes its socket mid-write yields EPIPE instead of killing the
 * process. (Faults such as SIGSEGV are left alone.) */
int workers_thread_create(pthread_t *thread, void *(*start_routine)(void *),
                          void *arg, struct owcp_error *err)
{
  sigset_t block, old;
  int rc;

  sigemptyset(&block);
  sigaddset(&block, SIGINT);
  sigaddset(&block, SIGTERM);
  sigaddset(&block, SIGHUP);
  sigaddset(&block, SIGQUIT);
  sigaddset(&block, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &block, &old);
  rc = pthread_create(thread, NULL, start_routine, arg);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc != 0) {
    owcp_error_set(err, "cannot start a background thread: %s", strerror(rc));
    return -1;
  }
  return 0;
}

int sweeper_start(struct dispatcher *d, struct owcp_error *err)
{
  if (d->sweeper_started) {
    owcp_error_set(err, "the sweeper is already running");
    return -1;
  }
  if (workers_thread_create(&d->sweeper_thread, sweeper_main, d, err) != 0)
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
