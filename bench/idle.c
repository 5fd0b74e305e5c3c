/*
 * idle.c — the idle long-poll benchmark: holds M concurrent CD-List long
 * polls (Wait = the dispatcher's maximum) open against one dispatcher from
 * one thread, re-issuing each as it returns, so that the dispatcher's
 * memory per held poll can be measured (bench/run.sh reads its RSS) while
 * the flow benchmark runs beside it.
 *
 * One curl multi handle drives every poll through the socket API with
 * epoll, because curl_multi_poll() walks all transfers on every wake-up and
 * 10,000 of them would make the load generator, not the dispatcher, the
 * thing being measured. Each poll has its own connection (an unanswered
 * request cannot share one). SIGTERM/SIGINT arrive on a signalfd in the
 * same epoll set, so stopping needs no global state.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "bench.h"

/* Polls connecting at once: the dispatcher's listen backlog is 1024, and
 * a SYN flood of 10,000 would measure the kernel, not the dispatcher. */
#define RAMP_BATCH 256
/* A poll answered this much before its Wait ended was not held. */
#define EARLY_SLACK_S 2.0
/* Failed polls are retried after this pause, not in a tight loop. */
#define RETRY_PAUSE_S 1.0
#define ERRORS_PRINTED 5
#define OP_TIMEOUT_S 30L
#define MAX_EVENTS 512

struct idle {
  const struct bench_opts *o;
  CURLM *multi;
  int ep;          /* epoll: every libcurl socket and the signalfd */
  int sigfd;       /* SIGTERM/SIGINT */
  double timer_at; /* libcurl's next timeout (bench_now), <0: none */
  struct bench_client *clients;
  struct bench_xfer *polls;
  double *retry_at; /* per poll: when a failed one is re-issued, 0: not */
  int started;      /* polls [0, started) have been issued at least once */
  bool stop;
  /* results */
  long errors;
  long cycles; /* polls answered empty after their full Wait */
  long early;  /* polls answered empty well before their Wait */
  int held;    /* last count */
  int held_min, held_max;
  double t_begin, t_ready;
};

/* ---- libcurl socket API glue -------------------------------------------- */

static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp,
                     void *socketp)
{
  struct idle *id = userp;
  struct epoll_event ev = {0};

  (void)easy;
  (void)socketp;
  if (what == CURL_POLL_REMOVE) {
    /* The socket may already be closed (epoll forgets it then). */
    (void)epoll_ctl(id->ep, EPOLL_CTL_DEL, s, NULL);
    return 0;
  }
  ev.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0u) |
              ((what & CURL_POLL_OUT) ? EPOLLOUT : 0u);
  ev.data.fd = s;
  if (epoll_ctl(id->ep, EPOLL_CTL_MOD, s, &ev) != 0 &&
      (errno != ENOENT || epoll_ctl(id->ep, EPOLL_CTL_ADD, s, &ev) != 0))
    return -1;
  return 0;
}

static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
  struct idle *id = userp;
  (void)multi;
  id->timer_at = timeout_ms < 0 ? -1 : bench_now() + (double)timeout_ms / 1e3;
  return 0;
}

/* ---- polls ----------------------------------------------------------------
 */

static int issue(struct idle *id, int i, struct owcp_error *err)
{
  json_t *p = json_pack("{s:i}", "Wait", id->o->wait);
  int rc = -1;

  if (p == NULL) {
    owcp_error_set(err, "out of memory building CD-List");
    return -1;
  }
  if (bench_xfer_post(&id->polls[i], id->o->base, "CD-List", p, err) == 0) {
    CURLMcode mc = curl_multi_add_handle(id->multi, id->polls[i].easy);
    if (mc == CURLM_OK) {
      id->polls[i].active = true;
      id->retry_at[i] = 0;
      rc = 0;
    } else {
      owcp_error_set(err, "curl_multi_add_handle: %s", curl_multi_strerror(mc));
    }
  }
  json_decref(p);
  return rc;
}

/* True when a 200 CD-List answer holds an empty Pending array (the idle
 * accounts never receive a transaction). */
static bool answered_empty(const struct bench_xfer *x)
{
  json_t *j = bench_xfer_json(x);
  json_t *pending = json_object_get(j, "Pending");
  bool empty = json_is_array(pending) && json_array_size(pending) == 0;
  json_decref(j);
  return empty;
}

static void note_error(struct idle *id, const struct bench_xfer *x)
{
  struct owcp_error e = {{0}};
  if (id->errors++ < ERRORS_PRINTED) {
    bench_xfer_describe(x, "CD-List", &e);
    fprintf(stderr, "owcp-bench idle: %s\n", e.msg);
  }
}

/* A poll came back: re-issue it at once after a full Wait, later after
 * a failure. */
static int finished(struct idle *id, struct bench_xfer *x,
                    struct owcp_error *err)
{
  int i = (int)x->index;

  if (x->status == 200 && answered_empty(x)) {
    if (x->t_done - x->t_start < id->o->wait - EARLY_SLACK_S)
      id->early++;
    else
      id->cycles++;
    return id->stop ? 0 : issue(id, i, err);
  }
  note_error(id, x);
  id->retry_at[i] = bench_now() + RETRY_PAUSE_S;
  return 0;
}

static int drain(struct idle *id, struct owcp_error *err)
{
  struct bench_xfer *x;

  while ((x = bench_multi_next_done(id->multi)) != NULL) {
    if (finished(id, x, err) != 0)
      return -1;
  }
  return 0;
}

/* Starts new polls while fewer than RAMP_BATCH are still being sent, and
 * re-issues failed polls whose pause is over. */
static int top_up(struct idle *id, struct owcp_error *err)
{
  int sending = 0;
  double now = bench_now();

  for (int i = 0; i < id->started; i++) {
    if (id->polls[i].active && !bench_xfer_sent(&id->polls[i]))
      sending++;
    else if (!id->polls[i].active && id->retry_at[i] > 0 &&
             id->retry_at[i] <= now && !id->stop) {
      if (issue(id, i, err) != 0)
        return -1;
      sending++;
    }
  }
  while (sending < RAMP_BATCH && id->started < id->o->polls && !id->stop) {
    if (issue(id, id->started, err) != 0)
      return -1;
    id->started++;
    sending++;
  }
  return 0;
}

/* Polls whose request is on the wire and that have no answer yet. */
static int count_held(const struct idle *id)
{
  int held = 0;
  for (int i = 0; i < id->started; i++)
    held += id->polls[i].active && bench_xfer_sent(&id->polls[i]);
  return held;
}

/* Replaces path with text (write to a temporary name, rename): readers
 * never see a half-written file. No fsync: these files are progress
 * reports, and an fsync would compete with the database being measured. */
static void write_file(const char *path, const char *text)
{
  char tmp[4096];
  FILE *f;

  if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
    return;
  f = fopen(tmp, "w");
  if (f == NULL)
    return;
  fputs(text, f);
  if (fclose(f) == 0)
    (void)rename(tmp, path);
}

/* Once a second: count, track min/max after ready, write the files. */
static void tick(struct idle *id)
{
  char text[256];
  double now = bench_now();

  id->held = count_held(id);
  if (id->t_ready == 0 &&
      (id->held >= id->o->polls || now - id->t_begin > id->o->ramp_timeout)) {
    id->t_ready = now;
    id->held_min = id->held_max = id->held;
    snprintf(text, sizeof text, "held %d\n", id->held);
    if (id->o->ready_file != NULL)
      write_file(id->o->ready_file, text);
    printf("owcp-bench idle: %d of %d long polls held after %.1f s\n", id->held,
           id->o->polls, now - id->t_begin);
    fflush(stdout);
  } else if (id->t_ready > 0) {
    id->held_min = id->held < id->held_min ? id->held : id->held_min;
    id->held_max = id->held > id->held_max ? id->held : id->held_max;
  }
  if (id->o->status_file != NULL) {
    snprintf(text, sizeof text,
             "held %d\nheld_min %d\nerrors %ld\nearly %ld\ncycles %ld\n",
             id->held, id->held_min, id->errors, id->early, id->cycles);
    write_file(id->o->status_file, text);
  }
}

/* ---- set-up ---------------------------------------------------------------
 */

/* Each poll is one connection here and one in the dispatcher. */
static void raise_fd_limit(int polls)
{
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
    return;
  rl.rlim_cur = rl.rlim_max;
  (void)setrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < (rlim_t)polls + 64)
    fprintf(stderr,
            "owcp-bench idle: the open-file limit (%llu) is below %d polls "
            "+ 64; expect connection failures\n",
            (unsigned long long)rl.rlim_cur, polls);
}

static int enrol(struct idle *id, struct owcp_error *err)
{
  struct bench_xfer reg;
  char account[256];
  int n =
      id->o->idle_clients < id->o->polls ? id->o->idle_clients : id->o->polls;

  if (bench_xfer_init(&reg, NULL, OP_TIMEOUT_S, err) != 0)
    return -1;
  for (int k = 0; k < n; k++) {
    snprintf(account, sizeof account, "%s-%d@%s", id->o->prefix, k,
             id->o->domain);
    if (bench_client_register(&id->clients[k], &reg, id->o->base, account,
                              err) != 0) {
      bench_xfer_cleanup(&reg);
      return -1;
    }
  }
  bench_xfer_cleanup(&reg);
  for (int i = 0; i < id->o->polls; i++) {
    if (bench_xfer_init(&id->polls[i], id->clients[i % n].token,
                        id->o->wait + OP_TIMEOUT_S, err) != 0)
      return -1;
    id->polls[i].index = (size_t)i;
  }
  return 0;
}

static int setup(struct idle *id, struct owcp_error *err)
{
  sigset_t mask;
  struct epoll_event ev = {.events = EPOLLIN};

  id->clients = calloc((size_t)id->o->idle_clients, sizeof *id->clients);
  id->polls = calloc((size_t)id->o->polls, sizeof *id->polls);
  id->retry_at = calloc((size_t)id->o->polls, sizeof *id->retry_at);
  if (id->clients == NULL || id->polls == NULL || id->retry_at == NULL) {
    owcp_error_set(err, "out of memory for %d polls", id->o->polls);
    return -1;
  }
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  if (sigprocmask(SIG_BLOCK, &mask, NULL) != 0 ||
      (id->sigfd = signalfd(-1, &mask, SFD_CLOEXEC)) < 0 ||
      (id->ep = epoll_create1(EPOLL_CLOEXEC)) < 0) {
    owcp_error_set(err, "cannot set up signalfd/epoll: %s", strerror(errno));
    return -1;
  }
  ev.data.fd = id->sigfd;
  if (epoll_ctl(id->ep, EPOLL_CTL_ADD, id->sigfd, &ev) != 0) {
    owcp_error_set(err, "epoll_ctl: %s", strerror(errno));
    return -1;
  }
  id->multi = curl_multi_init();
  if (id->multi == NULL) {
    owcp_error_set(err, "libcurl could not create a multi handle");
    return -1;
  }
  curl_multi_setopt(id->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
  curl_multi_setopt(id->multi, CURLMOPT_SOCKETDATA, id);
  curl_multi_setopt(id->multi, CURLMOPT_TIMERFUNCTION, on_timer);
  curl_multi_setopt(id->multi, CURLMOPT_TIMERDATA, id);
  return enrol(id, err);
}

static void cleanup(struct idle *id)
{
  for (int i = 0; id->polls != NULL && i < id->o->polls; i++) {
    if (id->polls[i].active)
      curl_multi_remove_handle(id->multi, id->polls[i].easy);
    bench_xfer_cleanup(&id->polls[i]);
  }
  if (id->multi != NULL)
    curl_multi_cleanup(id->multi);
  for (int k = 0; id->clients != NULL && k < id->o->idle_clients; k++)
    bench_client_cleanup(&id->clients[k]);
  free(id->clients);
  free(id->polls);
  free(id->retry_at);
  if (id->ep >= 0)
    close(id->ep);
  if (id->sigfd >= 0)
    close(id->sigfd);
}

/* ---- the loop -------------------------------------------------------------
 */

/* Milliseconds epoll may sleep: until libcurl's timer, at most 1 s. */
static int sleep_ms(const struct idle *id)
{
  double ms = 1000;
  if (id->timer_at >= 0) {
    double until = (id->timer_at - bench_now()) * 1e3;
    ms = until < 0 ? 0 : until < ms ? until : ms;
  }
  return (int)ms;
}

static int dispatch(struct idle *id, const struct epoll_event *ev)
{
  int running = 0;
  int flags = 0;

  if (ev->data.fd == id->sigfd) {
    struct signalfd_siginfo si;
    (void)!read(id->sigfd, &si, sizeof si);
    id->stop = true;
    return 0;
  }
  flags |= (ev->events & EPOLLIN) ? CURL_CSELECT_IN : 0;
  flags |= (ev->events & EPOLLOUT) ? CURL_CSELECT_OUT : 0;
  flags |= (ev->events & (EPOLLERR | EPOLLHUP)) ? CURL_CSELECT_ERR : 0;
  return curl_multi_socket_action(id->multi, ev->data.fd, flags, &running) ==
                 CURLM_OK
             ? 0
             : -1;
}

static int run(struct idle *id, struct owcp_error *err)
{
  struct epoll_event evs[MAX_EVENTS];
  double end = id->t_begin + id->o->seconds, next_tick = id->t_begin;
  int running = 0;

  while (!id->stop && bench_now() < end) {
    if (top_up(id, err) != 0)
      return -1;
    int n = epoll_wait(id->ep, evs, MAX_EVENTS, sleep_ms(id));
    if (n < 0 && errno != EINTR) {
      owcp_error_set(err, "epoll_wait: %s", strerror(errno));
      return -1;
    }
    for (int i = 0; i < n; i++)
      if (dispatch(id, &evs[i]) != 0) {
        owcp_error_set(err, "curl_multi_socket_action failed");
        return -1;
      }
    if (id->timer_at >= 0 && bench_now() >= id->timer_at) {
      id->timer_at = -1;
      curl_multi_socket_action(id->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    }
    if (drain(id, err) != 0)
      return -1;
    if (bench_now() >= next_tick) {
      tick(id);
      next_tick += 1.0;
    }
  }
  tick(id);
  return 0;
}

static int report(const struct idle *id)
{
  FILE *sum = id->o->summary ? fopen(id->o->summary, "w") : NULL;
  double ramp = id->t_ready > 0 ? id->t_ready - id->t_begin : -1;

  printf("owcp-bench idle: %d CD-List long polls wanted (Wait %d s) over %d "
         "clients\n",
         id->o->polls, id->o->wait,
         id->o->idle_clients < id->o->polls ? id->o->idle_clients
                                            : id->o->polls);
  printf("  held at stop               %d\n", id->held);
  printf("  held min/max once ramped   %d / %d (ramp %.1f s)\n", id->held_min,
         id->held_max, ramp);
  printf("  full Waits ended, re-issued %ld\n", id->cycles);
  printf("  answered early (not held)  %ld\n", id->early);
  printf("  errors                     %ld\n", id->errors);
  if (sum != NULL) {
    fprintf(sum,
            "idle_wanted %d\nidle_held %d\nidle_held_min %d\nidle_held_max "
            "%d\nidle_ramp_s %.1f\nidle_cycles %ld\nidle_early %ld\n"
            "idle_errors %ld\n",
            id->o->polls, id->held, id->held_min, id->held_max, ramp,
            id->cycles, id->early, id->errors);
    fclose(sum);
  }
  return id->errors > 0 || id->early > 0 ? 1 : 0;
}

int bench_idle(const struct bench_opts *o, struct owcp_error *err)
{
  struct idle id = {.o = o, .ep = -1, .sigfd = -1, .timer_at = -1};
  int rc = -1;

  raise_fd_limit(o->polls);
  if (setup(&id, err) == 0) {
    id.t_begin = bench_now();
    if (run(&id, err) == 0)
      rc = report(&id);
  }
  cleanup(&id);
  return rc;
}
