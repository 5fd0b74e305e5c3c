/*
 * daemon.c — the process runtime (daemon.h).
 */
#include "owcp/service/daemon.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "owcp/service/log.h"

#define SVC_SLEEP_SLICE_MS 50

static void main_signals(sigset_t *set)
{
  sigemptyset(set);
  sigaddset(set, SIGTERM);
  sigaddset(set, SIGINT);
  sigaddset(set, SIGHUP);
}

void svc_signals_init(void)
{
  sigset_t set;

  main_signals(&set);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);
}

/* sd_notify with the monotonic time systemd wants alongside RELOADING=1
 * (Type=notify-reload); a failure to notify is not the daemon's failure. */
static void notify_reloading(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  (void)sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
                   (unsigned long long)ts.tv_sec * 1000000ull +
                       (unsigned long long)ts.tv_nsec / 1000ull);
}

/* Half of $WATCHDOG_USEC as a timespec, or false when no watchdog. */
static bool watchdog_interval(struct timespec *every)
{
  uint64_t usec = 0;

  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0)
    return false;
  usec /= 2;
  every->tv_sec = (time_t)(usec / 1000000u);
  every->tv_nsec = (long)(usec % 1000000u) * 1000L;
  return true;
}

int svc_run(svc_reload_fn reload, void *arg, const char *status)
{
  sigset_t set;
  struct timespec every;
  bool watchdog = watchdog_interval(&every);

  main_signals(&set);
  if (status != NULL)
    (void)sd_notifyf(0, "READY=1\nSTATUS=%s", status);
  else
    (void)sd_notify(0, "READY=1");
  for (;;) {
    int sig =
        watchdog ? sigtimedwait(&set, NULL, &every) : sigwaitinfo(&set, NULL);
    if (sig < 0) {
      if (errno == EAGAIN)
        (void)sd_notify(0, "WATCHDOG=1");
      continue; /* EINTR, or the watchdog tick */
    }
    if (sig == SIGHUP) {
      svc_log(SVC_LOG_INFO, "reload", "SIGHUP: reloading");
      notify_reloading();
      if (reload != NULL && reload(arg) != 0)
        svc_log(SVC_LOG_ERROR, "reload",
                "reload failed; the previous settings stay in force");
      (void)sd_notify(0, "READY=1");
      continue;
    }
    (void)sd_notify(0, "STOPPING=1");
    return sig;
  }
}

int svc_thread_create(pthread_t *thread, void *(*start_routine)(void *),
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

void svc_sleep_unless(const atomic_bool *stop, int ms)
{
  while (ms > 0 && !atomic_load(stop)) {
    int slice = ms < SVC_SLEEP_SLICE_MS ? ms : SVC_SLEEP_SLICE_MS;
    struct timespec ts = {0, (long)slice * 1000000L};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
      ;
    ms -= slice;
  }
}

unsigned long svc_raise_fd_limit(unsigned want)
{
  struct rlimit rl;

  if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
    return 0;
  rlim_t need = (rlim_t)want + 256;
  if (rl.rlim_cur < need) {
    rl.rlim_cur = need < rl.rlim_max ? need : rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
      (void)getrlimit(RLIMIT_NOFILE, &rl);
  }
  return (unsigned long)rl.rlim_cur;
}
