/*
 * console.h — the audit console (`owcp-admin serve`): a read-only web view
 * of the confirmation log on the service layer's HTTP front. What its
 * parts share: the process context, sign-in and sessions, query filters
 * and the page handlers, one file each:
 *   console_main.c    the command line, settings, start and run;
 *   console_auth.c    administrators, sessions, throttling, /login, /logout;
 *   console_html.c    the escaping HTML writer and replies (console_html.h);
 *   console_log.c     GET /          the log, filtered and paginated;
 *   console_tx.c      GET /tx/ID     one transaction, GET /receipt/ID;
 *   console_request.c the XML Request rendered as HTML (for console_tx.c);
 *   console_verify.c  GET /verify    the chain and the newest signed head;
 *   console_export.c  GET /export    the filtered log as CSV or JSON lines.
 * docs/console.md explains the security decisions.
 *
 * Threads: handlers run on the HTTP worker threads; the sessions, the
 * failure counters and the administrator list are behind `lock`.
 */
#ifndef OWCP_DISPATCHER_CONSOLE_H
#define OWCP_DISPATCHER_CONSOLE_H

#include "admin.h"
#include "store.h"

#include "owcp/request.h"
#include "owcp/service/http.h"

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <time.h>

#define CONSOLE_SESSION_MAX 256   /* sessions at once; the oldest goes */
#define CONSOLE_SESSION_TTL 28800 /* seconds a session lasts (8 hours) */
#define CONSOLE_THROTTLE_MAX                                                   \
  1024                          /* failure counters kept (users+addresses)     \
                                 */
#define CONSOLE_THROTTLE_FREE 3 /* failures in a row before throttling */
#define CONSOLE_NAME_MAX 64     /* an administrator's name */
#define CONSOLE_PAGE_SIZE 50    /* log rows per page */
#define CONSOLE_COOKIE "owcp_console"

/* One administrator of admin_users_file. */
struct console_user {
  char name[CONSOLE_NAME_MAX];
  char *hash; /* crypt(3) hash */
};

/* One signed-in session: the cookie is kept only as its SHA-256. */
struct console_session {
  unsigned char id_hash[OWCP_SHA256_LEN];
  char csrf[64]; /* the token POST forms carry */
  char user[CONSOLE_NAME_MAX];
  time_t expires; /* 0: free slot */
};

/* Failures in a row for one user name or client address. */
struct console_throttle {
  char key[96]; /* "u:NAME" or "a:ADDRESS" */
  int failures;
  time_t until; /* answers are 429 before this */
};

struct console {
  struct store_pool *pool;
  struct owcp_xml_validator *validator;
  char *client_ca_pem;         /* key_dir/client-ca.pem */
  char signing_cert[PATH_MAX]; /* key_dir/signing.pem */
  char head_file[PATH_MAX];    /* the signed log heads */
  char users_file[PATH_MAX];
  bool tls;             /* Secure cookies */
  pthread_mutex_t lock; /* guards what follows */
  struct console_user *users;
  size_t user_count;
  struct console_session sessions[CONSOLE_SESSION_MAX];
  struct console_throttle throttle[CONSOLE_THROTTLE_MAX];
};

/* The console of a request. */
static inline struct console *console_of(const struct svc_request *req)
{
  return req->app_ctx;
}

/* ---- console_auth.c ---- */

/* Reads admin_users_file (name:hash a line; '#' comments and blank lines
 * skipped) into c->users, replacing the list. 0, or -1 with err naming
 * the line. */
int console_users_load(struct console *c, const char *path,
                       struct owcp_error *err);

/* Frees the list of administrators. */
void console_users_free(struct console *c);

/* The valid session of req into *out (a copy), or false. */
bool console_session(struct svc_request *req, struct console_session *out);

/* The routes of sign-in. */
enum MHD_Result console_login_form(struct svc_request *req);
enum MHD_Result console_login(struct svc_request *req);
enum MHD_Result console_logout(struct svc_request *req);

/* ---- console_log.c ---- */

/* The filter of a request's query (account, requestor, transaction,
 * event, from, to; `before` and `format` when allowed): false with why in
 * err for an unknown parameter or a bad value. Strings are borrowed from
 * the connection. */
struct console_query {
  struct store_log_filter filter;
  int64_t before; /* 0: the newest page */
  const char *format;
};
bool console_query_parse(struct svc_request *req, bool export,
                         struct console_query *q, struct owcp_error *err);

enum MHD_Result console_page_log(struct svc_request *req);

/* ---- the other pages ---- */

enum MHD_Result console_page_tx(struct svc_request *req);     /* /tx/ID */
enum MHD_Result console_receipt(struct svc_request *req);     /* DER */
enum MHD_Result console_page_verify(struct svc_request *req); /* /verify */
enum MHD_Result console_export(struct svc_request *req);      /* /export */

/* `owcp-admin serve` and `owcp-admin passwd NAME` (console_main.c,
 * console_passwd.c); global_db and global_config are the global options
 * given before the command (may be NULL). An exit status. */
int admin_cmd_serve(int argc, char **argv, const char *global_db,
                    const char *global_config);
int admin_cmd_passwd(int argc, char **argv);

#endif
