/*
 * bridge_itest.h — the enrollment bridge's end-to-end harness. It starts
 * owcp-bridge exactly as its contract says (../shared/spec/enrollment-bridge.md
 * §1 command line, §2 configuration file): an INI file written into a
 * private directory with the token, RADIUS secret and RA key files at mode
 * 0600, `owcp-bridge --config FILE migrate`, then `owcp-bridge --config
 * FILE` (serve) against the bridge's own database (a second database in the
 * throwaway cluster of scripts/with-pg.sh, never the dispatcher's), ready
 * when GET /healthz answers 200; stopped with SIGTERM and a clean exit 0.
 * Around it: an OTPCE client (signCertRequest bodies built with libxml2's
 * writer, POSTed with libcurl with the headers the test chooses, responses
 * read with libxml2 XPath), raw-socket HTTP for what libcurl would tidy up
 * (a huge Content-Length, a trickling client), the user's device
 * (libowcp-client answering with its PIN), and a UDP server that counts
 * RADIUS datagrams and answers them with lies.
 *
 * Like itest.h, functions whose failure makes the rest of a test
 * meaningless fail the current cmocka test; HTTP helpers never do (they
 * return status 0 on transport failure) and are safe on any thread.
 * Ownership: structs are the caller's and released with their *_free() /
 * *_fini() function; char * results are malloc()ed, the caller frees.
 */
#ifndef OWCP_BRIDGE_ITEST_H
#define OWCP_BRIDGE_ITEST_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "itest.h"
#include "owcp/client.h"
#include "radius_itest.h"

#define BRIDGE_ITEST_REQUESTOR "enroll@example.com"
#define BRIDGE_ITEST_PATH "/otpce"
#define BRIDGE_ITEST_CA1 "ca1.example.com\\Example Issuing CA"
#define BRIDGE_ITEST_CA2 "ca2.example.com\\Example Second CA"
#define BRIDGE_ITEST_PIN "8152" /* the device's PIN */

/* What the configuration file says (bridge_itest_configure() writes it).
 * bridge_itest_init() fills the defaults: confirm required, [owcp]
 * timeout 30, the env's dispatcher, templates {FX_TEMPLATE_OID}, issuing
 * CAs {CA1, CA2}, RADIUS timeout 300 ms and 1 retry, max_body 65536, no
 * RADIUS server (set radius[] before starting). */
struct bridge_itest_opts {
  const char *confirm;      /* [otpce] confirm */
  long owcp_timeout;        /* [owcp] timeout, seconds */
  char dispatcher[256];     /* [owcp] dispatcher */
  unsigned short radius[2]; /* [radius] server = 127.0.0.1:PORT, in order */
  size_t radius_count;
  int radius_timeout_ms;
  int radius_retries;
  const char *templates[4];  /* [otpce] template, NULL-terminated */
  const char *issuing_ca[4]; /* [otpce] issuing_ca, NULL-terminated */
  long max_body;             /* [bridge] max_body */
  /* More [identity] lines (MRAS, issue 14); NULL: none. */
  const char *identity_extra;
  const char *extra; /* appended verbatim (e.g. [wstep]); NULL: nothing */
  /* [bridge] tls_cert / tls_key (a self-signed certificate for 127.0.0.1
   * made with the openssl command: dir/bridge.pem, dir/bridge.key 0600):
   * BRIDGE_TLS_CERT only writes them (for [mras] sip_tls; HTTP stays
   * plain with insecure_http = yes), BRIDGE_TLS_HTTPS also serves HTTPS
   * (insecure_http = no; root becomes https://, trusting bridge.pem). */
  enum { BRIDGE_TLS_NONE, BRIDGE_TLS_CERT, BRIDGE_TLS_HTTPS } tls;
};

/* One bridge: its directory, database, configuration and process. */
struct bridge_itest {
  struct itest_env *env; /* the dispatcher's environment (borrowed) */
  char dir[512];         /* private: bridge.conf, keys, secrets, log, CSRs */
  char dbname[96];
  char conninfo[PATH_MAX];
  char conf[PATH_MAX];
  char log[PATH_MAX];   /* the bridge's stderr, appended across restarts */
  char ra_ca[PATH_MAX]; /* the CA that issued the RA certificate */
  char ra_cert[PATH_MAX];
  unsigned short port;   /* the listen port, picked free at init */
  char root[64];         /* "http://127.0.0.1:PORT" (https:// with HTTPS) */
  char tls_ca[PATH_MAX]; /* dir/bridge.pem: trust it for TLS (opts.tls) */
  pid_t pid;             /* serving process, or 0 */
  struct bridge_itest_opts opts;
  /* With opts.tls: the TLS client certificate and key (PEM files) every
   * request presents; "" for none. */
  char client_cert[PATH_MAX];
  char client_key[PATH_MAX];
};

/* Makes the directory, the bridge's database (bridge_NAME_PID), the RA
 * certificate and key with the openssl command (bridge_fixture.h: also
 * dir/user.key for the tests' CSRs), the token file (token, 0600) and the
 * RADIUS secret file (RADIUS_ITEST_SECRET, 0600); picks a free port and
 * fills b->opts with the defaults. Starts nothing. */
void bridge_itest_init(struct bridge_itest *b, struct itest_env *env,
                       const char *name, const char *token);

/* Kills a running bridge, drops its database, removes its directory. */
void bridge_itest_fini(struct bridge_itest *b);

/* Writes b->conf from b->opts (INI, contract §2; [bridge] listen on
 * 127.0.0.1:port with insecure_http = yes, or TLS with opts.tls). */
void bridge_itest_configure(struct bridge_itest *b);

/* Runs `owcp-bridge --config FILE COMMAND` (e.g. "migrate", "check") to
 * completion, its stderr appended to b->log; returns its exit status. */
int bridge_itest_run(struct bridge_itest *b, const char *command);

/* configure, migrate (must exit 0), serve, and wait (bounded) until GET
 * /healthz answers 200. */
void bridge_itest_start(struct bridge_itest *b);

/* SIGTERM; fails the test unless the bridge exits 0 within 20 s. */
void bridge_itest_stop(struct bridge_itest *b);

/* Stops a running bridge, then starts it with b->opts as they are now. */
void bridge_itest_restart(struct bridge_itest *b);

/* Drops and re-creates the bridge's database (the bridge must be stopped;
 * the next bridge_itest_start() migrates it): a bridge with no memory of
 * earlier approvals. */
void bridge_itest_reset_db(struct bridge_itest *b);

/* Whether needle occurs in hay (memmem, which C11 lacks). */
bool bridge_itest_has(const void *hay, size_t hay_len, const void *needle,
                      size_t needle_len);

/* How many times needle occurs in the bridge's log (all its runs so far). */
size_t bridge_itest_log_count(const struct bridge_itest *b, const char *needle);

/* Whether the bridge's log (all its runs so far) contains needle. */
bool bridge_itest_log_contains(const struct bridge_itest *b,
                               const char *needle);

/* Copies the last lines of the bridge's log to stderr (for a failing
 * test's output). */
void bridge_itest_log_tail(const struct bridge_itest *b);

/* ---- HTTP ---------------------------------------------------------------- */

struct bridge_http {
  long status; /* 0: the request could not be made */
  char *body;  /* NUL-terminated */
  size_t body_len;
  char *version;      /* the X-OTPCEP-version header's value, or NULL */
  char *content_type; /* the Content-Type header's value, or NULL */
  double seconds;     /* wall time */
};

/* Releases the members and zeroes *h. */
void bridge_http_free(struct bridge_http *h);

/* GET {root}{path}. */
void bridge_itest_get(const struct bridge_itest *b, const char *path,
                      struct bridge_http *out);

/* POST {root}/otpce of body with X-OTPCEP-version: version (NULL: no such
 * header) and Content-Type: content_type (NULL: the spec's
 * "Application/xml;charset=utf-8"). */
void bridge_itest_post(const struct bridge_itest *b, const char *version,
                       const char *content_type, const void *body, size_t len,
                       struct bridge_http *out);

/* POST {root}{path} of body with Content-Type: content_type and nothing
 * else (the WSTEP front's SOAP requests). */
void bridge_itest_post_path(const struct bridge_itest *b, const char *path,
                            const char *content_type, const void *body,
                            size_t len, struct bridge_http *out);

/* One OTPCE POST (version 1.0, the spec's Content-Type) on a thread of its
 * own, for a request that waits for the user while the test plays the
 * device. The struct must stay put until bridge_call_join(). */
struct bridge_call {
  const struct bridge_itest *b;
  char *body; /* owned until bridge_call_join() */
  struct bridge_http h;
  atomic_bool done; /* h is final */
  pthread_t thread;
};

/* Takes body over (NULL fails the test) and starts the POST. */
void bridge_call_start(struct bridge_call *c, const struct bridge_itest *b,
                       char *body);

/* Waits for the POST to finish and frees the body; c->h holds the reply,
 * released with bridge_http_free(). */
void bridge_call_join(struct bridge_call *c);

/* Connects to the bridge's listener (a TCP socket, fails the test when it
 * cannot). */
int bridge_itest_connect(const struct bridge_itest *b);

/* Reads what the peer sends on fd until it closes or timeout_ms pass
 * without data; returns it NUL-terminated (caller frees). */
char *bridge_itest_read_all(int fd, int timeout_ms);

/* The value of header name (case-insensitive) in a raw HTTP response
 * head, or NULL (caller frees). */
char *bridge_itest_raw_header(const char *response, const char *name);

/* ---- OTPCE bodies ------------------------------------------------------- */

/* The fields of one signCertRequest and how to write them. */
struct otpce_fields {
  const char *username;
  const char *otp;
  const unsigned char *csr;
  size_t csr_len;
  const char *b64_break;    /* written after every 64 base64 characters (e.g.
                               "\n", "\r\n", " "); NULL: one line */
  bool reversed;            /* certRequest, oneTimePassword, username order */
  bool xsd_xsi;             /* .NET's xmlns:xsd and xmlns:xsi declarations */
  const char *unknown_attr; /* one more attribute of that name, value "" */
  const char *omit;         /* the attribute to leave out, or NULL */
};

/* The signCertRequest document (libxml2's writer: every value escaped);
 * caller frees. */
char *bridge_itest_otpce_xml(const struct otpce_fields *f);

/* A signCertResponse as read with XPath. */
struct otpce_reply {
  char *status_code;         /* NULL when absent */
  bool has_signed;           /* a SignedCertRequest element is present */
  unsigned char *signed_req; /* its decoded base64, or NULL */
  size_t signed_len;
  char *issuing_ca[8];
  size_t ca_count; /* IssuingCA elements, in document order */
};

/* Parses h's body (fails the test unless it is a well-formed
 * signCertResponse in the otpcep namespace); release with
 * otpce_reply_free(). */
void bridge_itest_otpce_parse(const struct bridge_http *h,
                              struct otpce_reply *out);

void otpce_reply_free(struct otpce_reply *r);

/* Fails the test (at file:line, printing the body) unless h has HTTP
 * status, X-OTPCEP-version 1.0 and statusCode code; a non-Success reply
 * must carry neither SignedCertRequest nor IssuingCA. */
void bridge_itest_expect_otpce(const struct bridge_http *h, long status,
                               const char *code, const char *file, int line);
#define BRIDGE_EXPECT(h, status, code)                                         \
  bridge_itest_expect_otpce(&(h), (status), (code), __FILE__, __LINE__)

/* Checks a SignedCertRequest independently: tests/unit/check_cmc.py
 * (asn1crypto: eContentType id-cct-PKIData, bodyPartID 1, the CSR byte
 * for byte, the RA signature) and `openssl cms -verify -CAfile <RA CA>
 * -purpose any`. Fails the test when either refuses. */
void bridge_itest_check_cmc(const struct bridge_itest *b,
                            const unsigned char *cmc, size_t cmc_len,
                            const unsigned char *csr, size_t csr_len);

/* ---- the user's device -------------------------------------------------- */

/* Opens a libowcp-client state in env->tmpdir/NAME and registers each
 * account of the NULL-terminated list with BRIDGE_ITEST_PIN. */
struct owcp_client *bridge_itest_device(struct itest_env *env, const char *name,
                                        const char *const *accounts);

/* How many confirmations are pending for account after a long poll of up
 * to wait_s seconds (it returns as soon as there is one). */
size_t bridge_itest_device_pending(struct owcp_client *c, const char *account,
                                   int wait_s);

/* Waits (long poll, up to wait_s) for the one confirmation pending for
 * account, answers it with the PIN, and returns what the user was shown
 * (owcp_client_view's plain text, summary first; caller frees). Fails the
 * test when none or more than one is pending. */
char *bridge_itest_device_answer(struct owcp_client *c, const char *account,
                                 enum owcp_answer answer, int wait_s);

/* ---- a RADIUS server that lies ------------------------------------------ */

enum bridge_liar_mode {
  LIAR_SILENT,  /* counts datagrams, answers none */
  LIAR_FORGED,  /* Access-Accept with an all-zero Response Authenticator */
  LIAR_UNSIGNED /* a correctly signed Access-Accept (RADIUS_ITEST_SECRET)
                   without Message-Authenticator */
};

struct bridge_liar {
  int fd;
  unsigned short port;
  enum bridge_liar_mode mode;
  atomic_int datagrams; /* received so far */
  atomic_bool stop;
  pthread_t thread;
};

/* Binds 127.0.0.1:0 and starts answering on a thread. */
void bridge_liar_start(struct bridge_liar *l, enum bridge_liar_mode mode);

/* Stops the thread and closes the socket. */
void bridge_liar_stop(struct bridge_liar *l);

/* ---- one test program's world ------------------------------------------ */

/* The RADIUS users beyond radius_itest.h's (all with PIN + OTP): the
 * lower-case domain spelling of alice, bob, and dave (whom the dispatcher
 * does not know). */
#define BRIDGE_ITEST_OTP RADIUS_ITEST_ALICE_PIN RADIUS_ITEST_ALICE_OTP

/* A dispatcher with the accounts alice, bob and carol@example.com and the
 * bridge's requestor, a device registered for those three, optionally a
 * FreeRADIUS, and a bridge (initialised, not started; its opts point at
 * the FreeRADIUS when there is one). */
struct bridge_world {
  struct itest_env env;
  struct radius_itest_freeradius fr; /* fr.pid == 0: none */
  struct bridge_itest bridge;
  struct owcp_client *device;
};

/* Builds the world (fails the test when anything cannot be had). */
void bridge_world_setup(struct bridge_world *w, const char *name,
                        bool freeradius);

/* Stops and removes everything; safe on a partly built world. */
void bridge_world_teardown(struct bridge_world *w);

/* A cmocka group teardown for a malloc()ed world in *state. */
int bridge_world_group_teardown(void **state);

/* A signCertRequest for username / otp around a Windows-like CSR
 * (fx_csr_windows: SHA-1 RSA, v2 template FX_TEMPLATE_OID) whose UPN is
 * upn; the CSR is returned in *csr (caller frees, may be NULL). */
char *bridge_world_request(struct bridge_world *w, const char *username,
                           const char *otp, const char *upn,
                           unsigned char **csr, size_t *csr_len);

/* POSTs body on a thread, has the device answer the one confirmation for
 * account, and returns the HTTP reply in *out and what the device showed
 * (caller frees). Takes body over. */
char *bridge_world_post_answered(struct bridge_world *w, char *body,
                                 const char *account, enum owcp_answer answer,
                                 struct bridge_http *out);

/* POSTs body (borrowed) synchronously with version 1.0. */
void bridge_world_post(struct bridge_world *w, const char *body,
                       struct bridge_http *out);

#endif
