/*
 * flows.c — the flow benchmark: N threads, each one virtual requestor and
 * one enrolled client of its own account driving complete flows
 *   client CD-List (Wait) already waiting → RD-Confirm (202) → CD-List
 *   answers → client signs a real receipt (spec §6) → CD-Reply (200) →
 *   RD-Status (200 with the result)
 * over keep-alive connections. Each thread drives its transfers through
 * its own curl multi handle so that the long poll and the requestor's
 * requests are in flight at once and every answer is timed when it
 * arrives, not when the thread gets round to it.
 */
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

#include "bench.h"
#include "owcp/receipt.h"

/* Requestor/CD-Reply requests answer in milliseconds; a generous bound
 * still ends a hung run instead of waiting forever. */
#define OP_TIMEOUT_S 30L
/* A thread that keeps failing stops instead of spinning on errors. */
#define MAX_ERRORS_PER_FLOW 200
/* First error sentences printed per thread (the rest are only counted). */
#define ERRORS_PRINTED 3

/* What the threads share: a start gate (every thread enrols its client,
 * then all start together), the abort flag set when one could not, and the
 * measured window. Guarded by mu until the gate opens; read-only after. */
struct flows_shared {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int ready;  /* threads that finished enrolling (or failed to) */
  bool open;  /* set by the main thread once all are ready */
  bool abort; /* some thread could not enrol */
  double measure_from, measure_to;
  char run_tag[17]; /* random hex, keeps identifiers unique across runs */
};

/* Latency samples of one thread (merged after the run). */
struct flow_samples {
  struct bench_samples confirm; /* RD-Confirm round trip */
  struct bench_samples wake;    /* RD-Confirm sent → CD-List answer */
  struct bench_samples wakeup;  /* RD-Confirm 202 → CD-List answer */
  struct bench_samples sign;    /* building and signing the receipt */
  struct bench_samples reply;   /* CD-Reply round trip */
  struct bench_samples status;  /* RD-Status round trip */
  struct bench_samples flow;    /* RD-Confirm sent → RD-Status 200 */
};

/* One virtual requestor/client pair and its thread's results. */
struct flow {
  const struct bench_opts *o;
  struct flows_shared *shared;
  int index;
  pthread_t thread;
  struct bench_client client;
  CURLM *multi;
  struct bench_xfer list;      /* the client's long poll */
  struct bench_xfer requestor; /* RD-Confirm, RD-Status, RD-Final */
  struct bench_xfer reply;     /* CD-Reply */
  unsigned long seq;
  double measure_from, measure_to; /* copied from shared at the gate */
  /* results */
  struct flow_samples s;
  long flows;      /* completed inside the measured window */
  long errors;     /* operations that did not answer as expected */
  long clamped;    /* wake-ups that arrived before the 202 did */
  long list_empty; /* long polls that ended without the transaction */
  bool setup_failed;
  struct owcp_error setup_err;
};

/* Per-flow scratch: what one iteration learnt. */
struct flow_step {
  char tx[128];
  char *request_xml; /* as CD-List delivered it (owned) */
  char *receipt_b64; /* as sent in CD-Reply (owned) */
};

static void step_free(struct flow_step *st)
{
  free(st->request_xml);
  free(st->receipt_b64);
  memset(st, 0, sizeof *st);
}

/* ---- driving the multi handle -------------------------------------------- */

/* Marks every transfer the multi handle reports finished, timestamped now. */
static void drain(struct flow *f)
{
  while (bench_multi_next_done(f->multi) != NULL)
    ;
}

static int start(struct flow *f, struct bench_xfer *x, struct owcp_error *err)
{
  CURLMcode mc = curl_multi_add_handle(f->multi, x->easy);
  if (mc != CURLM_OK) {
    owcp_error_set(err, "curl_multi_add_handle: %s", curl_multi_strerror(mc));
    return -1;
  }
  x->active = true;
  return 0;
}

/* Runs the multi handle until target is done (or, with until_sent, until
 * its whole request has been handed to the socket). */
static int pump(struct flow *f, struct bench_xfer *target, bool until_sent,
                double timeout_s, struct owcp_error *err)
{
  double deadline = bench_now() + timeout_s;
  int running = 0;

  for (;;) {
    CURLMcode mc = curl_multi_perform(f->multi, &running);
    if (mc != CURLM_OK) {
      owcp_error_set(err, "curl_multi_perform: %s", curl_multi_strerror(mc));
      return -1;
    }
    drain(f);
    if (target->done || (until_sent && bench_xfer_sent(target)))
      return 0;
    if (!target->active) {
      owcp_error_set(err, "internal: waiting for a transfer never started");
      return -1;
    }
    if (bench_now() > deadline) {
      owcp_error_set(err, "no answer within %.0f s", timeout_s);
      return -1;
    }
    mc = curl_multi_poll(f->multi, NULL, 0, 100, NULL);
    if (mc != CURLM_OK) {
      owcp_error_set(err, "curl_multi_poll: %s", curl_multi_strerror(mc));
      return -1;
    }
  }
}

/* ---- the operations ------------------------------------------------------ */

/* Sends the client's CD-List long poll. */
static int list_issue(struct flow *f, struct owcp_error *err)
{
  json_t *p = json_pack("{s:i}", "Wait", f->o->wait);
  int rc = p ? bench_xfer_post(&f->list, f->o->base, "CD-List", p, err) : -1;
  json_decref(p);
  if (p == NULL)
    owcp_error_set(err, "out of memory building CD-List");
  return rc == 0 ? start(f, &f->list, err) : -1;
}

/* The schema-valid request of this flow's seq-th confirmation. */
static char *request_xml(const struct flow *f)
{
  static const char fmt[] =
      "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
      "<Request xmlns=\"http://schema.comodo.com/2011/owcp/0.1\">"
      "<Header issued=\"2026-01-02T03:04:05Z\" "
      "identifier=\"urn:owcp-bench:%s:%s:%d:%lu\" type=\"Access\">"
      "<From>%s</From><To>%s</To><Verification>PIN</Verification>"
      "<Summary>Connect laptop #%lu to the corporate network?</Summary>"
      "</Header></Request>";
  const char *from = f->o->requestors[f->index % f->o->n_requestors].address;
  char *xml = NULL;
  int n = 0;

  n = snprintf(NULL, 0, fmt, f->shared->run_tag, f->o->prefix, f->index, f->seq,
               from, f->client.account, f->seq);
  if (n < 0 || (xml = malloc((size_t)n + 1)) == NULL)
    return NULL;
  snprintf(xml, (size_t)n + 1, fmt, f->shared->run_tag, f->o->prefix, f->index,
           f->seq, from, f->client.account, f->seq);
  return xml;
}

/* RD-Confirm; on 202 copies the Transaction into st->tx. */
static int confirm(struct flow *f, struct flow_step *st, struct owcp_error *err)
{
  char *xml = request_xml(f);
  json_t *p = xml ? json_pack("{s:s}", "Request", xml) : NULL;
  json_t *reply = NULL;
  int rc = -1;

  free(xml);
  if (p == NULL) {
    owcp_error_set(err, "out of memory building RD-Confirm");
    return -1;
  }
  if (bench_xfer_post(&f->requestor, f->o->base, "RD-Confirm", p, err) != 0 ||
      start(f, &f->requestor, err) != 0 ||
      pump(f, &f->requestor, false, OP_TIMEOUT_S + 5, err) != 0)
    goto out;
  if (f->requestor.status != 202) {
    bench_xfer_describe(&f->requestor, "RD-Confirm", err);
    goto out;
  }
  reply = bench_xfer_json(&f->requestor);
  const char *tx = json_string_value(json_object_get(reply, "Transaction"));
  if (tx == NULL || strlen(tx) >= sizeof st->tx) {
    owcp_error_set(err, "RD-Confirm 202 lacks a usable Transaction");
    goto out;
  }
  snprintf(st->tx, sizeof st->tx, "%s", tx);
  rc = 0;
out:
  json_decref(reply);
  json_decref(p);
  return rc;
}

/* Finds st->tx in the Pending list of a CD-List answer and keeps its
 * Request. Returns 1 when found, 0 when the list was empty, -1 when it
 * held something else (a transaction this flow did not expect). */
static int list_take(struct flow_step *st, const struct bench_xfer *list,
                     struct owcp_error *err)
{
  json_t *reply = bench_xfer_json(list);
  json_t *pending = json_object_get(reply, "Pending");
  json_t *item;
  size_t i;
  int rc = -1;

  if (!json_is_array(pending)) {
    owcp_error_set(err, "CD-List 200 lacks the Pending array");
    goto out;
  }
  if (json_array_size(pending) == 0) {
    rc = 0;
    goto out;
  }
  json_array_foreach(pending, i, item)
  {
    const char *tx = json_string_value(json_object_get(item, "Transaction"));
    const char *xml = json_string_value(json_object_get(item, "Request"));
    if (tx != NULL && xml != NULL && strcmp(tx, st->tx) == 0) {
      st->request_xml = strdup(xml);
      rc = st->request_xml ? 1 : -1;
      if (rc < 0)
        owcp_error_set(err, "out of memory keeping the request");
      goto out;
    }
  }
  owcp_error_set(err, "CD-List answered %zu transaction(s) without %s",
                 json_array_size(pending), st->tx);
out:
  json_decref(reply);
  return rc;
}

/* Waits for the long poll to deliver st->tx (re-issuing it when a Wait
 * ends empty) and records the wake-up latencies. */
static int await_list(struct flow *f, struct flow_step *st,
                      struct owcp_error *err)
{
  for (;;) {
    if (pump(f, &f->list, false, (double)(f->o->wait + OP_TIMEOUT_S), err) != 0)
      return -1;
    if (f->list.status != 200) {
      bench_xfer_describe(&f->list, "CD-List", err);
      return -1;
    }
    int found = list_take(st, &f->list, err);
    if (found < 0)
      return -1;
    if (found > 0)
      return 0;
    /* The Wait ended before the transaction arrived: spec §5 says it is
     * answered within a second of its commit, so this is worth counting. */
    f->list_empty++;
    if (list_issue(f, err) != 0)
      return -1;
  }
}

/* Signs the receipt for st->tx over the request CD-List delivered. */
static int sign(struct flow *f, struct flow_step *st, struct owcp_error *err)
{
  char *pin[] = {(char *)"PIN"};
  struct owcp_receipt r = {
      .transaction = st->tx,
      .account = f->client.account,
      .client = f->client.id,
      .response = (char *)"Accept",
      .verification = pin,
      .verification_count = 1,
      .request = st->request_xml,
      .request_len = strlen(st->request_xml),
  };
  unsigned char *der = NULL;
  size_t len = 0;

  if (owcp_receipt_create(&r, f->client.cert, f->client.key, &der, &len, err) !=
      0)
    return -1;
  st->receipt_b64 = owcp_base64_encode(der, len);
  free(der);
  if (st->receipt_b64 == NULL) {
    owcp_error_set(err, "out of memory encoding the receipt");
    return -1;
  }
  return 0;
}

static int reply(struct flow *f, struct flow_step *st, struct owcp_error *err)
{
  json_t *p = json_pack("{s:s, s:s, s:s}", "Transaction", st->tx, "Response",
                        "Accept", "Receipt", st->receipt_b64);
  int rc = -1;

  if (p == NULL) {
    owcp_error_set(err, "out of memory building CD-Reply");
    return -1;
  }
  if (bench_xfer_post(&f->reply, f->o->base, "CD-Reply", p, err) == 0 &&
      start(f, &f->reply, err) == 0 &&
      pump(f, &f->reply, false, OP_TIMEOUT_S + 5, err) == 0) {
    rc = f->reply.status == 200 ? 0 : -1;
    if (rc != 0)
      bench_xfer_describe(&f->reply, "CD-Reply", err);
  }
  json_decref(p);
  return rc;
}

/* RD-Status must answer 200 with our Accept and the receipt byte for byte. */
static int check_status(const struct flow *f, const struct flow_step *st,
                        struct owcp_error *err)
{
  json_t *j;
  int rc = -1;

  if (f->requestor.status != 200) {
    bench_xfer_describe(&f->requestor, "RD-Status", err);
    return -1;
  }
  j = bench_xfer_json(&f->requestor);
  const char *resp = json_string_value(json_object_get(j, "Response"));
  const char *receipt = json_string_value(json_object_get(j, "Receipt"));
  const char *client = json_string_value(json_object_get(j, "Client"));
  if (resp == NULL || strcmp(resp, "Accept") != 0)
    owcp_error_set(err, "RD-Status 200 has Response %s, not Accept",
                   resp ? resp : "(none)");
  else if (receipt == NULL || strcmp(receipt, st->receipt_b64) != 0)
    owcp_error_set(err, "RD-Status 200 does not return the receipt as sent");
  else if (client == NULL || strcmp(client, f->client.id) != 0)
    owcp_error_set(err, "RD-Status 200 names another Client");
  else
    rc = 0;
  json_decref(j);
  return rc;
}

/* Sends the next long poll and RD-Status together (the poll is then
 * already waiting when the next RD-Confirm goes out) and checks the
 * status. */
static int status_and_relist(struct flow *f, const struct flow_step *st,
                             struct owcp_error *err)
{
  json_t *p = json_pack("{s:s}", "Transaction", st->tx);
  int rc = -1;

  if (p == NULL) {
    owcp_error_set(err, "out of memory building RD-Status");
    return -1;
  }
  if (list_issue(f, err) == 0 &&
      bench_xfer_post(&f->requestor, f->o->base, "RD-Status", p, err) == 0 &&
      start(f, &f->requestor, err) == 0 &&
      pump(f, &f->requestor, false, OP_TIMEOUT_S + 5, err) == 0)
    rc = check_status(f, st, err);
  json_decref(p);
  return rc;
}

/* Best effort after a failed flow: cancel its transaction so that the
 * account's next CD-List does not keep returning it. */
static void cancel(struct flow *f, const struct flow_step *st)
{
  struct owcp_error ignored = {{0}};
  json_t *p = json_pack("{s:s}", "Transaction", st->tx);

  if (p != NULL && !f->requestor.active &&
      bench_xfer_post(&f->requestor, f->o->base, "RD-Final", p, &ignored) ==
          0 &&
      start(f, &f->requestor, &ignored) == 0)
    (void)pump(f, &f->requestor, false, OP_TIMEOUT_S + 5, &ignored);
  json_decref(p);
}

/* Adds the samples of one completed flow (f->requestor holds its
 * RD-Status exchange; t_conf0 is when its RD-Confirm was sent). */
static int record(struct flow *f, double t_conf0, double t_sign0,
                  double t_sign1)
{
  if (f->requestor.t_done < f->measure_from ||
      f->requestor.t_done > f->measure_to)
    return 0;
  f->flows++;
  return bench_samples_add(&f->s.sign, t_sign1 - t_sign0) |
         bench_samples_add(&f->s.reply, f->reply.t_done - f->reply.t_start) |
         bench_samples_add(&f->s.status,
                           f->requestor.t_done - f->requestor.t_start) |
         bench_samples_add(&f->s.flow, f->requestor.t_done - t_conf0);
}

/* One complete flow; the long poll is in flight when it starts and again
 * when it ends. */
static int one_flow(struct flow *f, struct owcp_error *err)
{
  struct flow_step st;
  double t_conf0, t_202, t_sign0, t_sign1;
  int rc = -1;

  memset(&st, 0, sizeof st);
  f->seq++;
  if (!f->list.active && list_issue(f, err) != 0)
    return -1;
  /* "Already waiting": the whole CD-List request is on the wire before the
   * RD-Confirm is sent (and, in steady state, an RD-Status round trip ago). */
  if (pump(f, &f->list, true, OP_TIMEOUT_S, err) != 0)
    return -1;
  if (f->list.done) {
    /* Answered before any confirmation: nothing was pending, or a failed
     * flow left a transaction behind. Either way it is unexpected. */
    bench_xfer_describe(&f->list, "CD-List (answered early)", err);
    return -1;
  }
  if (confirm(f, &st, err) != 0)
    goto out;
  t_conf0 = f->requestor.t_start;
  t_202 = f->requestor.t_done;
  bool in_window = t_202 >= f->measure_from && t_202 <= f->measure_to;
  if (in_window &&
      bench_samples_add(&f->s.confirm, t_202 - f->requestor.t_start) != 0)
    goto oom;
  if (await_list(f, &st, err) != 0)
    goto fail;
  if (in_window) {
    double wakeup = f->list.t_done - t_202;
    if (wakeup < 0) {
      f->clamped++;
      wakeup = 0;
    }
    if (bench_samples_add(&f->s.wakeup, wakeup) != 0 ||
        bench_samples_add(&f->s.wake, f->list.t_done - t_conf0) != 0)
      goto oom;
  }
  t_sign0 = bench_now();
  if (sign(f, &st, err) != 0)
    goto fail;
  t_sign1 = bench_now();
  if (reply(f, &st, err) != 0)
    goto fail;
  if (status_and_relist(f, &st, err) != 0)
    goto out;
  if (record(f, t_conf0, t_sign0, t_sign1) != 0)
    goto oom;
  rc = 0;
  goto out;
oom:
  owcp_error_set(err, "out of memory recording samples");
  goto out;
fail:
  cancel(f, &st);
out:
  step_free(&st);
  return rc;
}

/* ---- threads ------------------------------------------------------------- */

static int flow_setup(struct flow *f, struct owcp_error *err)
{
  struct bench_xfer reg;
  char account[256];
  int rc;

  snprintf(account, sizeof account, "%s-%d@%s", f->o->prefix, f->index,
           f->o->domain);
  if (bench_xfer_init(&reg, NULL, OP_TIMEOUT_S, err) != 0)
    return -1;
  rc = bench_client_register(&f->client, &reg, f->o->base, account, err);
  bench_xfer_cleanup(&reg);
  if (rc != 0)
    return -1;
  f->multi = curl_multi_init();
  if (f->multi == NULL) {
    owcp_error_set(err, "libcurl could not create a multi handle");
    return -1;
  }
  if (bench_xfer_init(&f->list, f->client.token, f->o->wait + OP_TIMEOUT_S,
                      err) != 0 ||
      bench_xfer_init(&f->requestor,
                      f->o->requestors[f->index % f->o->n_requestors].token,
                      OP_TIMEOUT_S, err) != 0 ||
      bench_xfer_init(&f->reply, f->client.token, OP_TIMEOUT_S, err) != 0)
    return -1;
  return 0;
}

/* Takes every transfer out of the multi handle: after a failed flow
 * their state is unknown, and an answer meant for one flow must not be
 * read as the next one's. */
static void abandon_transfers(struct flow *f)
{
  struct bench_xfer *xs[] = {&f->list, &f->requestor, &f->reply};
  for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++)
    if (xs[i]->active) {
      curl_multi_remove_handle(f->multi, xs[i]->easy);
      xs[i]->active = false;
    }
}

/* Reports this thread ready and waits for the gate; false when the run
 * is aborted. */
static bool pass_gate(struct flow *f, bool setup_ok)
{
  struct flows_shared *sh = f->shared;
  bool go;

  pthread_mutex_lock(&sh->mu);
  sh->ready++;
  if (!setup_ok)
    sh->abort = true;
  pthread_cond_broadcast(&sh->cv);
  while (!sh->open)
    pthread_cond_wait(&sh->cv, &sh->mu);
  go = !sh->abort;
  f->measure_from = sh->measure_from;
  f->measure_to = sh->measure_to;
  pthread_mutex_unlock(&sh->mu);
  return go;
}

static void *flow_main(void *arg)
{
  struct flow *f = arg;
  struct owcp_error err = {{0}};
  long printed = 0;

  f->setup_failed = flow_setup(f, &f->setup_err) != 0;
  if (!pass_gate(f, !f->setup_failed))
    return NULL;
  while (bench_now() < f->measure_to && f->errors < MAX_ERRORS_PER_FLOW) {
    if (one_flow(f, &err) == 0)
      continue;
    f->errors++;
    if (printed++ < ERRORS_PRINTED)
      fprintf(stderr, "owcp-bench: flow %d: %s\n", f->index, err.msg);
    abandon_transfers(f);
    struct timespec pause = {0, 50L * 1000 * 1000};
    nanosleep(&pause, NULL);
  }
  return NULL;
}

static void flow_cleanup(struct flow *f)
{
  if (f->multi != NULL) {
    abandon_transfers(f);
    curl_multi_cleanup(f->multi);
  }
  bench_xfer_cleanup(&f->list);
  bench_xfer_cleanup(&f->requestor);
  bench_xfer_cleanup(&f->reply);
  bench_client_cleanup(&f->client);
  struct bench_samples *ss[] = {&f->s.confirm, &f->s.wake,  &f->s.wakeup,
                                &f->s.sign,    &f->s.reply, &f->s.status,
                                &f->s.flow};
  for (size_t i = 0; i < sizeof ss / sizeof ss[0]; i++)
    bench_samples_free(ss[i]);
}

/* ---- report ---------------------------------------------------------------
 */

/* CPU seconds this process (all threads) has used so far. */
static double cpu_seconds(void)
{
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) != 0)
    return 0;
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* Sums the per-thread results and prints the report; cpu is the CPUs the
 * load generator itself used while the flows ran (it shares the machine
 * with the dispatcher and the database). Returns 0 when no operation
 * failed, 1 otherwise. */
static int report(const struct bench_opts *o, struct flow *fl, int n,
                  double cpu)
{
  struct flow_samples all;
  long flows = 0, errors = 0, clamped = 0, empty = 0;
  FILE *sum = o->summary ? fopen(o->summary, "w") : NULL;
  int oom = 0;

  memset(&all, 0, sizeof all);
  if (o->summary != NULL && sum == NULL)
    fprintf(stderr, "owcp-bench: cannot write %s\n", o->summary);
  for (int i = 0; i < n; i++) {
    flows += fl[i].flows;
    errors += fl[i].errors;
    clamped += fl[i].clamped;
    empty += fl[i].list_empty;
    oom |= bench_samples_merge(&all.confirm, &fl[i].s.confirm) |
           bench_samples_merge(&all.wake, &fl[i].s.wake) |
           bench_samples_merge(&all.wakeup, &fl[i].s.wakeup) |
           bench_samples_merge(&all.sign, &fl[i].s.sign) |
           bench_samples_merge(&all.reply, &fl[i].s.reply) |
           bench_samples_merge(&all.status, &fl[i].s.status) |
           bench_samples_merge(&all.flow, &fl[i].s.flow);
  }
  double rate = (double)flows / o->seconds;
  printf("owcp-bench flows: %d concurrent flows, %.1f s measured after %.1f s "
         "warm-up\n",
         n, o->seconds, o->warmup);
  printf("  flows completed            %ld (%.1f flows/s)\n", flows, rate);
  printf("  errors                     %ld\n", errors);
  bench_samples_report(&all.confirm, "RD-Confirm", "confirm", stdout, sum);
  bench_samples_report(&all.wake, "CD-List wake (from send)", "list_wake",
                       stdout, sum);
  bench_samples_report(&all.wakeup, "wake-up (202 -> answer)", "wakeup", stdout,
                       sum);
  printf("  %-26s %ld (answer arrived before the 202; counted as 0)\n",
         "wake-up clamped to 0", clamped);
  bench_samples_report(&all.sign, "receipt signing (client)", "sign", stdout,
                       sum);
  bench_samples_report(&all.reply, "CD-Reply", "reply", stdout, sum);
  bench_samples_report(&all.status, "RD-Status", "status", stdout, sum);
  bench_samples_report(&all.flow, "whole flow", "flow", stdout, sum);
  if (empty > 0)
    printf("  long polls ended empty     %ld\n", empty);
  /* Per flow, to compare runs whose flows/s differ (issue 11). */
  double ms_per_flow = rate > 0 ? 1000 * cpu / rate : 0;
  printf("  owcp-bench's own CPU use   %.2f CPUs, %.3f ms per flow\n", cpu,
         ms_per_flow);
  if (sum != NULL) {
    fprintf(sum,
            "flows %ld\nflows_per_s %.2f\nerrors %ld\nwakeup_clamped %ld\n"
            "list_empty %ld\ncpu_per_s %.2f\ncpu_ms_per_flow %.3f\n",
            flows, rate, errors, clamped, empty, cpu, ms_per_flow);
    fclose(sum);
  }
  if (oom)
    fputs("owcp-bench: out of memory merging samples; figures incomplete\n",
          stderr);
  bench_samples_free(&all.confirm);
  bench_samples_free(&all.wake);
  bench_samples_free(&all.wakeup);
  bench_samples_free(&all.sign);
  bench_samples_free(&all.reply);
  bench_samples_free(&all.status);
  bench_samples_free(&all.flow);
  return errors > 0 || oom ? 1 : 0;
}

/* Waits until every started thread is ready, then opens the gate with
 * the measured window (or the abort flag when not all could start). */
static void open_gate(struct flows_shared *sh, const struct bench_opts *o,
                      int started)
{
  pthread_mutex_lock(&sh->mu);
  while (sh->ready < started)
    pthread_cond_wait(&sh->cv, &sh->mu);
  if (started < o->flows)
    sh->abort = true;
  sh->measure_from = bench_now() + o->warmup;
  sh->measure_to = sh->measure_from + o->seconds;
  sh->open = true;
  pthread_cond_broadcast(&sh->cv);
  pthread_mutex_unlock(&sh->mu);
}

/* Sleeps until bench_now() reaches t. */
static void sleep_until(double t)
{
  double d;
  while ((d = t - bench_now()) > 0) {
    struct timespec ts = {(time_t)d, (long)((d - (double)(time_t)d) * 1e9)};
    nanosleep(&ts, NULL);
  }
}

extern char **environ;

/* Runs "prog edge" and waits for it; a failure is reported, not fatal
 * (the flows' own figures stay valid). */
static void window_hook(const char *prog, const char *edge)
{
  char *argv[] = {(char *)prog, (char *)edge, NULL};
  pid_t pid;
  int status = 0;
  int rc = posix_spawnp(&pid, prog, NULL, NULL, argv, environ);

  if (rc == 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
      WEXITSTATUS(status) == 0)
    return;
  fprintf(stderr, "owcp-bench: --window-cmd '%s %s' failed\n", prog, edge);
}

/* Runs the window command at the measured window's edges (main thread,
 * while the flow threads run). */
static void window_edges(const struct bench_opts *o,
                         const struct flows_shared *sh)
{
  if (o->window_cmd == NULL || sh->abort)
    return;
  sleep_until(sh->measure_from);
  window_hook(o->window_cmd, "open");
  sleep_until(sh->measure_to);
  window_hook(o->window_cmd, "close");
}

/* The first enrolment failure, for the error sentence. */
static void setup_failure(const struct flow *fl, int started, int wanted,
                          struct owcp_error *err)
{
  for (int i = 0; i < started; i++)
    if (fl[i].setup_failed) {
      owcp_error_set(err, "flow %d could not start: %s", i,
                     fl[i].setup_err.msg);
      return;
    }
  owcp_error_set(err, "could only start %d of %d flow threads", started,
                 wanted);
}

int bench_flows(const struct bench_opts *o, struct owcp_error *err)
{
  struct flows_shared shared = {.ready = 0};
  unsigned char tag[8];
  struct flow *fl = calloc((size_t)o->flows, sizeof *fl);
  int started = 0, rc = -1;

  if (fl == NULL) {
    owcp_error_set(err, "out of memory for %d flows", o->flows);
    return -1;
  }
  if (owcp_random_bytes(tag, sizeof tag) != 0) {
    free(fl);
    owcp_error_set(err, "no random bytes for the run tag");
    return -1;
  }
  owcp_hex_encode(tag, sizeof tag, shared.run_tag);
  pthread_mutex_init(&shared.mu, NULL);
  pthread_cond_init(&shared.cv, NULL);
  for (; started < o->flows; started++) {
    fl[started].o = o;
    fl[started].shared = &shared;
    fl[started].index = started;
    if (pthread_create(&fl[started].thread, NULL, flow_main, &fl[started]) != 0)
      break;
  }
  open_gate(&shared, o, started);
  double cpu0 = cpu_seconds(), t0 = bench_now();
  window_edges(o, &shared);
  for (int i = 0; i < started; i++)
    pthread_join(fl[i].thread, NULL);
  double cpu = (cpu_seconds() - cpu0) / (bench_now() - t0);
  if (shared.abort)
    setup_failure(fl, started, o->flows, err);
  else
    rc = report(o, fl, started, cpu);
  for (int i = 0; i < started; i++)
    flow_cleanup(&fl[i]);
  pthread_cond_destroy(&shared.cv);
  pthread_mutex_destroy(&shared.mu);
  free(fl);
  return rc;
}
