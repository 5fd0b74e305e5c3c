/*
 * itest.h — the end-to-end test harness: a fresh PostgreSQL database per
 * test program, real owcp-admin and owcp-dispatcher processes (fork/exec
 * of the built binaries), real HTTP through libcurl, and a test client
 * that enrols with a P-256 key and signs receipts exactly as spec §6 says.
 *
 * The harness is for cmocka test programs: functions whose failure makes
 * the rest of a test meaningless (starting a process, running an admin
 * command, enrolling a client) fail the current cmocka test with a message
 * that says what went wrong instead of returning an error. HTTP helpers
 * never fail the test for a non-2xx status: they return what the server
 * said, and ITEST_EXPECT() fails loudly with the response body.
 * The HTTP helpers (itest_post*, itest_get) are safe to call from several
 * threads at once; they report transport failures as status 0.
 *
 * Ownership: struct itest_http and struct itest_client own their members
 * and are released with itest_http_free() / itest_client_free(); functions
 * returning char * hand over a malloc()ed string the caller free()s.
 */
#ifndef OWCP_ITEST_H
#define OWCP_ITEST_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

/* One dispatcher test environment: its database, temporary directory and
 * (at most one running) dispatcher process. */
struct itest_env {
  char name[64];           /* test program name, part of the db name */
  char dbname[96];         /* the fresh database created for this program */
  char conninfo[PATH_MAX]; /* libpq conninfo of dbname */
  char tmpdir[512];        /* mkdtemp: key dir, ready file, receipts */
  char keydir[PATH_MAX];
  pid_t pid;      /* running dispatcher, or 0 */
  char base[256]; /* "http://127.0.0.1:PORT/owcp/0.1" */
  char root[256]; /* "http://127.0.0.1:PORT" */
  /* Optional, set before itest_start(): a self-signed certificate and its
   * key make the dispatcher serve HTTPS (and the HTTP helpers trust that
   * certificate); stderr_path collects the dispatcher's log lines. */
  char tls_cert[PATH_MAX], tls_key[PATH_MAX];
  char stderr_path[PATH_MAX];
  /* Optional, set before itest_start(): the dispatcher is started with
   * NOTIFY_SOCKET set to notify_socket (an AF_UNIX datagram socket the
   * test bound) and, when watchdog_usec is not 0, WATCHDOG_USEC and
   * WATCHDOG_PID (its own pid), as systemd starts a Type=notify unit with
   * WatchdogSec=. */
  char notify_socket[108];
  unsigned long watchdog_usec;
};

/* Creates the database (CREATE DATABASE through libpq on OWCP_TEST_DB),
 * migrates it with owcp-admin and makes the temporary directory. Fails
 * the current test when anything is missing. */
void itest_env_init(struct itest_env *e, const char *name);

/* Stops a running dispatcher (SIGKILL), drops the database and removes
 * the temporary directory. */
void itest_env_fini(struct itest_env *e);

/* Makes b a second dispatcher environment on a's database and key
 * directory (a initialised); only b's ready file lives apart, in a's
 * temporary directory. Start it with itest_start(). */
void itest_env_second(struct itest_env *b, const struct itest_env *a);

/* Stops b when it runs and removes its directory; call before
 * itest_env_fini() of the first environment. */
void itest_env_second_fini(struct itest_env *b);

/* Two dispatcher processes on one database: starts a (initialised), makes
 * b its second environment (itest_env_second) and starts it. */
void itest_start_pair(struct itest_env *a, struct itest_env *b);

/* Undoes itest_start_pair and itest_env_init of a: b's and a's processes
 * stopped, b's directory removed, a's database dropped. */
void itest_pair_fini(struct itest_env *a, struct itest_env *b);

/* Starts owcp-dispatcher on 127.0.0.1:0 with --insecure-http (or the
 * env's TLS certificate and key when set), the env's
 * key dir, --domain example.com and the NULL-terminated extra arguments
 * (may be NULL), and waits (bounded) for its ready file. */
void itest_start(struct itest_env *e, const char *const *extra);

/* SIGTERM, waits, and asserts a clean exit with status 0. */
void itest_stop(struct itest_env *e);

/* SIGKILL and reap (a crash, as far as the database can tell). */
void itest_kill(struct itest_env *e);

/* Runs owcp-admin --db <env> with the NULL-terminated args; returns its
 * standard output (caller frees) and its exit status in *status. */
char *itest_admin(struct itest_env *e, int *status, const char *const *args);

/* owcp-admin account add; fails the test unless it exits 0. */
void itest_account_add(struct itest_env *e, const char *address);

/* owcp-admin requestor add [--rate N] (rate 0: default); returns the bearer
 * token it printed (caller frees). */
char *itest_requestor_add(struct itest_env *e, const char *address, int rate);

/* owcp-admin code issue ACCOUNT [--ttl S] (ttl 0: default); returns the
 * one-time enrollment code (caller frees). */
char *itest_code_issue(struct itest_env *e, const char *account, int ttl);

/* owcp-admin client revoke ID; fails the test unless it exits 0. */
void itest_client_revoke(struct itest_env *e, const char *client_id);

/* Creates the database dbname in the OWCP_TEST_DB cluster and writes its
 * libpq conninfo into conninfo (size bytes); for a second database beside
 * the env's (e.g. the enrollment bridge's own). Fails the test on error. */
void itest_db_create(const char *dbname, char *conninfo, size_t size);

/* Drops dbname (WITH (FORCE)) when it exists; errors are ignored, since
 * this runs in teardown. */
void itest_db_drop(const char *dbname);

/* Runs one SQL query returning a single integer (e.g. SELECT count(*))
 * on the env's database; fails the test on any error. */
long long itest_sql_count(struct itest_env *e, const char *sql);

/* As itest_sql_count with one text parameter ($1). */
long long itest_sql_count1(struct itest_env *e, const char *sql,
                           const char *param);

/* ---- HTTP ---------------------------------------------------------------- */

/* One HTTP response. json is the parsed body when it was a JSON object. */
struct itest_http {
  long status; /* HTTP status; 0 when the request could not be made */
  char *body;  /* raw body, NUL-terminated */
  size_t body_len;
  json_t *json;
  double seconds; /* wall time of the request */
};

/* Releases the members and zeroes *h. */
void itest_http_free(struct itest_http *h);

/* The value of one series in e's GET /metrics (fails the test unless it
 * answers 200); -1 when the series is absent. */
double itest_metric(const struct itest_env *e, const char *series);

/* POST {base}/{op} with Content-Type application/json and the serialised
 * params (borrowed); token may be NULL (no Authorization header). */
void itest_post(const struct itest_env *e, const char *op, const char *token,
                const json_t *params, struct itest_http *out);

/* POST {base}/{op} with an arbitrary body and Content-Type (NULL: none). */
void itest_post_raw(const struct itest_env *e, const char *op,
                    const char *token, const char *content_type,
                    const void *body, size_t len, struct itest_http *out);

/* POST {base}/{op} as application/owcp-multipart: params first, then the
 * XML Request as an application/xml segment (when xml is not NULL). */
void itest_post_multipart(const struct itest_env *e, const char *op,
                          const char *token, const json_t *params,
                          const char *xml, struct itest_http *out);

/* GET {root}{path}, e.g. "/healthz" or "/owcp/0.1/CA". */
void itest_get(const struct itest_env *e, const char *path,
               struct itest_http *out);

/* One itest_post running on a thread of its own, for a long poll that must
 * be waiting before the event it waits for, or for replies that race. The
 * thread makes no cmocka call. The struct must stay where it is until
 * itest_call_join(); read h, started and ended after that. */
struct itest_call {
  const struct itest_env *env;
  const char *op;
  const char *token; /* borrowed; NULL: no Authorization header */
  json_t *params;    /* owned until itest_call_join() */
  struct itest_http h;
  double started, ended; /* itest_now() around the request */
  pthread_t thread;
};

/* Starts POST {base}/{op} of params (the reference is taken over; NULL
 * fails the test) on a new thread; fails the test when the thread cannot
 * be created. */
void itest_call_start(struct itest_call *c, const struct itest_env *e,
                      const char *op, const char *token, json_t *params);

/* Waits for the call to finish and releases its params; c->h then holds the
 * response, released with itest_http_free(). Fails the test when the
 * thread cannot be joined. */
void itest_call_join(struct itest_call *c);

/* Sleeps half a second, so that a long poll started with itest_call_start()
 * is suspended in the dispatcher before the event it waits for. Not
 * synchronisation: had the event come first, the poll would answer at once
 * and the assertions still hold. */
void itest_let_poll_suspend(void);

/* Fails the current test (at file:line) unless h->status == status,
 * printing the response body. */
void itest_expect_status(const struct itest_http *h, long status,
                         const char *file, int line);
#define ITEST_EXPECT(h, status)                                                \
  itest_expect_status(&(h), (status), __FILE__, __LINE__)

/* The string member `name` of the response, or NULL. Borrowed from h. */
const char *itest_str(const struct itest_http *h, const char *name);

/* Fails the test unless the response's Error sentence contains needle. */
void itest_expect_error_mentions(const struct itest_http *h, const char *needle,
                                 const char *file, int line);
#define ITEST_EXPECT_ERROR(h, needle)                                          \
  itest_expect_error_mentions(&(h), (needle), __FILE__, __LINE__)

/* ---- protocol helpers --------------------------------------------------- */

/* A schema-valid XML Request from `from` to `to` with the given identifier;
 * with_pin adds <Verification>PIN</Verification>; pad adds that many
 * characters of body text (to build oversized requests). Caller frees. */
char *itest_request_xml(const char *from, const char *to,
                        const char *identifier, bool with_pin, size_t pad);

/* RD-Confirm of xml (timeout 0: none sent); returns the response. */
void itest_confirm(const struct itest_env *e, const char *token,
                   const char *xml, int timeout, struct itest_http *out);

/* RD-Confirm expecting 202; returns the Transaction (caller frees). */
char *itest_confirm_ok(const struct itest_env *e, const char *token,
                       const char *xml, int timeout);

/* A test client: its key pair, CSR and, once registered, its identity. */
struct itest_client {
  char account[256];
  EVP_PKEY *key;
  unsigned char *csr;
  size_t csr_len;
  char *id;    /* Client */
  char *token; /* bearer token */
  X509 *cert;
  X509 *ca;
};

/* Generates the key pair and CSR for a client of account. */
void itest_client_init(struct itest_client *c, const char *account);

/* Releases everything the client holds and zeroes it. */
void itest_client_free(struct itest_client *c);

/* CD-Register of c's account, description and CSR, with Code and
 * Transaction when not NULL; returns the response. */
void itest_register(const struct itest_env *e, const struct itest_client *c,
                    const char *code, const char *transaction,
                    struct itest_http *out);

/* Takes Client, Token, Certificate and CA from a 200 CD-Register reply
 * into c; fails the test when any is missing or malformed. */
void itest_client_adopt(struct itest_client *c, const struct itest_http *h);

/* Issues a code with owcp-admin and registers c with it (expects 200). */
void itest_client_enrol(struct itest_env *e, struct itest_client *c);

/* Builds and signs the receipt (spec §6) for tx: Transaction, Account,
 * Client, Response, Verification (["PIN"] unless Refuse), the exact
 * request XML, Signed now, and Reason for Refuse. Returns base64 DER
 * (caller frees). */
char *itest_receipt_b64(const struct itest_client *c, const char *tx,
                        const char *response, const char *reason,
                        const char *request_xml);

/* As itest_receipt_b64, with "Match" (the digits typed to approve a new
 * device, spec §6) when match is not NULL. */
char *itest_receipt_b64_match(const struct itest_client *c, const char *tx,
                              const char *response, const char *reason,
                              const char *request_xml, const char *match);

/* CD-Reply parameters (new reference): Transaction, Response, the base64
 * Receipt (borrowed) and, when reason is not NULL, Reason. */
json_t *itest_reply_params(const char *tx, const char *response,
                           const char *reason, const char *receipt_b64);

/* CD-Reply with a correctly built receipt; returns the response. */
void itest_reply(const struct itest_env *e, const struct itest_client *c,
                 const char *tx, const char *response, const char *reason,
                 const char *request_xml, struct itest_http *out);

/* itest_reply whose receipt carries match (NULL: none). */
void itest_reply_match(const struct itest_env *e, const struct itest_client *c,
                       const char *tx, const char *response, const char *reason,
                       const char *request_xml, const char *match,
                       struct itest_http *out);

/* CD-List (wait < 0: no Wait sent); returns the response. */
void itest_list(const struct itest_env *e, const struct itest_client *c,
                int wait, struct itest_http *out);

/* From a 200 CD-List response: the Pending entry for tx, or NULL.
 * Borrowed from h. */
const json_t *itest_pending_find(const struct itest_http *h, const char *tx);

/* ---- failing and timing ------------------------------------------------- */

/* Fails the current cmocka test with a printf-style message, as fail_msg()
 * does, but is declared noreturn (cmocka's is not), so that compilers and
 * static analyzers (cppcheck reads the attribute, not C11 _Noreturn) know
 * no code after it runs. Use itest_fail(). */
void itest_fail_at(const char *file, int line, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 3, 4)));
#define itest_fail(...) itest_fail_at(__FILE__, __LINE__, __VA_ARGS__)

/* Seconds on a monotonic clock. */
double itest_now(void);

#endif
