/*
 * bench.h — owcp-bench, the dispatcher load generator: shared options, the
 * HTTP transfer wrapper (one libcurl easy handle per virtual actor, kept
 * alive across requests), the enrolled benchmark client, and latency
 * statistics. The two modes live in flows.c (complete RD/CD flows) and
 * idle.c (many idle CD-List long polls); owcp-bench.c parses the command
 * line and holds the helpers both modes share.
 *
 * Ownership: every struct here owns what its pointers point to and is
 * released by its _cleanup() or _free() function; functions that return
 * char * hand over a malloc()ed string the caller free()s. Errors follow
 * owcp/util.h (0 / -1 and a sentence in struct owcp_error).
 */
#ifndef OWCP_BENCH_H
#define OWCP_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "owcp/util.h"

/* ---- options ------------------------------------------------------------ */

/* One requestor identity from the token file. */
struct bench_requestor {
  char *address; /* the XML <From>; owned */
  char *token;   /* bearer token; owned, cleansed when freed */
};

struct bench_opts {
  const char *mode;      /* "flows" or "idle" */
  const char *base;      /* e.g. http://127.0.0.1:PORT/owcp/0.1 */
  const char *requestor; /* default requestor account (--requestor) */
  struct bench_requestor *requestors; /* from --token-file; flow i uses
                                         requestors[i % n_requestors] */
  size_t n_requestors;
  const char *prefix;      /* accounts are PREFIX-i@DOMAIN */
  const char *domain;      /* domain the dispatcher serves */
  const char *summary;     /* write "key value" lines here (may be NULL) */
  const char *ready_file;  /* idle: written once the polls are held */
  const char *status_file; /* idle: rewritten every second with "held N" */
  const char *window_cmd;  /* flows: run with "open"/"close" at the measured
                              window's edges (may be NULL) */
  int flows;               /* flows: concurrent flows */
  double seconds;          /* flows: measured seconds; idle: hold time */
  double warmup;           /* flows: seconds before measuring */
  int wait;                /* long-poll Wait (the dispatcher's --max-wait) */
  int polls;               /* idle: concurrent long polls to hold */
  int idle_clients;        /* idle: clients the polls are spread over */
  double ramp_timeout;     /* idle: give up reaching `polls` after this */
};

/* Seconds on a monotonic clock. */
double bench_now(void);

/* ---- HTTP transfers ------------------------------------------------------ */

/* One request/response exchange on a long-lived easy handle. The handle
 * (and so its keep-alive connection) is reused for every request of the
 * actor that owns it; bench_xfer_post() only replaces URL and body. */
struct bench_xfer {
  CURL *easy;
  struct curl_slist *hdrs;
  char *body; /* request body being sent */
  size_t body_len;
  bool begun; /* libcurl is sending this request (not the previous one) */
  char *resp; /* response body, NUL-terminated */
  size_t resp_len;
  size_t resp_cap;
  double t_start; /* request started (bench_now) */
  double t_done;  /* response complete (bench_now), set by the pump */
  long status;    /* HTTP status, 0 on a transport failure */
  CURLcode result;
  bool active; /* added to a multi handle and not finished */
  bool done;
  size_t index; /* idle: the poll this transfer is */
};

/* Creates the easy handle: keep-alive, no Expect: 100-continue, JSON
 * content type, Authorization: Bearer token when token is not NULL (the
 * token is copied into the header list), a timeout of timeout_s. */
int bench_xfer_init(struct bench_xfer *x, const char *token, long timeout_s,
                    struct owcp_error *err);

/* Releases the handle and buffers and zeroes *x. */
void bench_xfer_cleanup(struct bench_xfer *x);

/* Prepares POST {base}/{op} with params serialised compactly as the body
 * (params is borrowed). The caller then adds x->easy to a multi handle or
 * calls bench_xfer_perform(). */
int bench_xfer_post(struct bench_xfer *x, const char *base, const char *op,
                    const json_t *params, struct owcp_error *err);

/* True once libcurl has taken the whole request body (it is on the wire or
 * in the socket buffer): used to know a long poll has been sent. */
bool bench_xfer_sent(const struct bench_xfer *x);

/* The next transfer the multi handle reports done, removed from it with
 * its outcome recorded (status, t_done = now), or NULL when none is
 * left — the pumps call it until NULL. */
struct bench_xfer *bench_multi_next_done(CURLM *multi);

/* Runs a prepared request to completion (blocking, curl_easy_perform). */
void bench_xfer_perform(struct bench_xfer *x);

/* The response parsed as a JSON object (new reference), or NULL. */
json_t *bench_xfer_json(const struct bench_xfer *x);

/* Fills err with "OP answered HTTP n: <body excerpt>" or the transport
 * error; used for every unexpected reply. */
void bench_xfer_describe(const struct bench_xfer *x, const char *op,
                         struct owcp_error *err);

/* ---- benchmark clients ----------------------------------------------------
 */

/* A client enrolled through CD-Register: its account, key pair, identity
 * and certificate, as an outside client would hold them. */
struct bench_client {
  char account[256];
  EVP_PKEY *key;
  char *id;
  char *token;
  X509 *cert;
};

/* Generates a P-256 key and CSR and registers it for account with
 * CD-Register on an open dispatcher (no Code: the account is created by
 * self-subscription), using x for the request. Expects 200. */
int bench_client_register(struct bench_client *c, struct bench_xfer *x,
                          const char *base, const char *account,
                          struct owcp_error *err);

/* Releases everything c holds and zeroes it. */
void bench_client_cleanup(struct bench_client *c);

/* ---- statistics -------------------------------------------------------------
 */

/* A growable set of latency samples in seconds. */
struct bench_samples {
  double *v;
  size_t n;
  size_t cap;
};

/* Appends one sample; -1 when memory ran out. */
int bench_samples_add(struct bench_samples *s, double value);

/* Appends every sample of from to to. */
int bench_samples_merge(struct bench_samples *to,
                        const struct bench_samples *from);

/* The p-quantile (0 ≤ p ≤ 1, nearest rank) of the samples; sorts them in
 * place. 0 when there are none. */
double bench_samples_quantile(struct bench_samples *s, double p);

/* Frees the samples and zeroes *s. */
void bench_samples_free(struct bench_samples *s);

/* Prints "name  n=..  p50=.. ms  p99=.. ms  max=.. ms" to f and, when
 * summary is not NULL, "key_p50_ms"/"key_p99_ms" lines to it. */
void bench_samples_report(struct bench_samples *s, const char *name,
                          const char *key, FILE *f, FILE *summary);

/* ---- modes --------------------------------------------------------------- */

/* Runs the flow benchmark; prints its report. Returns 0 when every flow
 * went as the protocol says, 1 when any operation failed, -1 when the
 * benchmark could not run at all. */
int bench_flows(const struct bench_opts *o, struct owcp_error *err);

/* Holds the idle long polls until --seconds pass or SIGTERM/SIGINT;
 * prints its report. Same return values as bench_flows. */
int bench_idle(const struct bench_opts *o, struct owcp_error *err);

#endif
