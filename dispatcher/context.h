/*
 * context.h — the dispatcher process's one context struct. Everything a
 * handler or background thread needs is reached from here; there is no
 * other mutable global state. Nothing in it is needed by another
 * dispatcher process: shared state lives in the database.
 */
#ifndef OWCP_DISPATCHER_CONTEXT_H
#define OWCP_DISPATCHER_CONTEXT_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "owcp/request.h"
#include "owcp/service/config.h"
#include "store.h"

/* The [admin] section: owcp-admin serve's settings (the audit console,
 * docs/console.md). The dispatcher validates the section (one file serves
 * both programs) but uses none of it. Owned copies; NULL when unset. */
struct admin_config {
  char *db;               /* NULL: [dispatcher] db */
  char *admin_users_file; /* name:crypt-hash per line */
  char *key_dir;          /* NULL: [dispatcher] key_dir */
  char *log_head_file;    /* NULL: the dispatcher's head file */
};

/* Operator-configurable policy and limits (spec §2 defaults): the
 * [dispatcher] section of the configuration file and the flags that
 * override it (config.h, docs/configuration.md). Strings and lists are
 * owned copies, released by dispatcher_config_free(). */
struct dispatcher_config {
  char *db;                   /* libpq conninfo */
  struct svc_listen listen;   /* numeric address and port to bind */
  const char *listen_host;    /* = listen.host (set by the loader) */
  unsigned short listen_port; /* = listen.port; 0: any free port */
  struct svc_cfg_list domain; /* served domains, in order */
  char **domains;             /* = domain.items (set by the loader) */
  size_t domain_count;        /* = domain.count */
  char *tls_cert, *tls_key;   /* both or neither */
  bool insecure_http;         /* plain HTTP, loopback only */
  char *key_dir;
  bool open;                    /* self-subscription allowed */
  bool require_registration;    /* RD-Confirm only to RD-Registered accounts */
  unsigned threads;             /* HTTP worker threads = DB connections */
  size_t max_body;              /* 256 KiB */
  int max_wait;                 /* seconds, 60 */
  int default_timeout;          /* seconds, 300 */
  int max_timeout;              /* seconds, policy cap */
  int registration_timeout;     /* seconds an approval request waits */
  unsigned max_connections;     /* simultaneous HTTP connections */
  unsigned per_ip_connections;  /* connections from one client address */
  unsigned header_timeout;      /* seconds to send request line + headers */
  unsigned body_timeout;        /* seconds to send the body after them */
  unsigned longpolls_per_token; /* CD-List/RD-Status waits per token */
  char *ready_file;             /* written with the base URL once serving */
  int log_level;                /* enum svc_log_level (owcp/service/log.h) */
  char *config_file;            /* the file read, NULL: flags only (SIGHUP) */
  bool log_level_from_flag;     /* --log-level given: SIGHUP keeps it */
  /* Signed log heads (spec §10, dispatcher/log_head.c). */
  int log_head_interval; /* seconds between heads */
  char *log_head_file;   /* NULL: key_dir/log-heads.jsonl */
  /* DR-Complete delivery (outbox.c) */
  unsigned completion_max;      /* deliveries in flight, all hosts */
  unsigned completion_per_host; /* deliveries in flight per host:port */
  int completion_timeout;       /* seconds one attempt may take */
  /* Device approvals and "Not Me" (cd_register.c, cd_reply.c). */
  int approvals_per_hour;  /* approvals asked per account and hour */
  int register_per_minute; /* unauthenticated CD-Register per address */
  int not_me_block;        /* seconds a "Not Me" blocks a requestor */
  int group_commit;        /* most calls per group commit; 1: off */
  /* [admin] (owcp-admin serve), when present. */
  struct admin_config admin;
  bool admin_section;
};

/* The keys the dispatcher holds (created on first use, see keyring.h). */
struct dispatcher_keys {
  EVP_PKEY *ca_key; /* client CA: issues client certificates */
  X509 *ca_cert;
  unsigned char *ca_der; /* DER of ca_cert, returned by CD-Register */
  size_t ca_der_len;
  EVP_PKEY *sign_key; /* signs DR-Complete bodies */
  X509 *sign_cert;
  char *pem_bundle; /* GET {base}/CA: client CA then signing cert, PEM */
};

struct notify;
struct certcache;
struct authcache;
struct txcache;
struct listed;
struct ratelease;
struct svc_http;
struct svc_route;
struct svc_limit;
struct svc_metrics;
struct svc_metric;

/* Gauges the sweeper thread updates from the database (store_metrics.h). */
struct dispatcher_gauges {
  struct svc_metric *completion_backlog; /* DR-Completes not yet sent */
  struct svc_metric *completion_oldest;  /* age of the oldest, seconds */
  struct svc_metric *log_seal_lag;       /* oldest unsealed entry, s */
};

struct dispatcher {
  struct dispatcher_config cfg;
  struct dispatcher_keys keys;
  struct owcp_xml_validator *xml; /* shared read-only by all threads */
  struct store_pool *pool;
  struct notify *notify;        /* long-poll waiters + LISTEN thread */
  struct certcache *certs;      /* parsed client certificates (certcache.h) */
  struct authcache *auth;       /* accepted bearer tokens (authcache.h) */
  struct txcache *txs;          /* recent transactions (txcache.h) */
  struct listed *listed;        /* CD-List's listing writer (listed.h) */
  struct ratelease *leases;     /* RD-Confirm rate leases (ratelease.h) */
  struct svc_http *http;        /* the service layer's HTTP front */
  struct svc_route *svc_routes; /* http_routes as the layer sees them */
  struct svc_limit *longpolls;  /* long polls held per token hash */
  struct svc_metrics *metrics;  /* served at GET /metrics */
  struct dispatcher_gauges gauges;
  char base_url[300]; /* e.g. http://127.0.0.1:8480/owcp/0.1 */
  char system_address[STORE_ADDRESS_MAX]; /* From of approval requests */
  atomic_bool stopping;                   /* set on SIGTERM/SIGINT */
  pthread_t sweeper_thread, outbox_thread;
  bool sweeper_started, outbox_started;
  /* The newest log head this process signed (log_head.c), served at
   * GET {base}/Log-Head; guarded by log_head_lock. */
  pthread_mutex_t log_head_lock;
  bool log_head_ready; /* the lock is initialised */
  char *log_head;      /* the signed document, NULL before the first */
};

/* True when domain (lowercase) is one this dispatcher serves. */
bool dispatcher_serves_domain(const struct dispatcher *d, const char *domain);

/* True when account (normalised local@domain) is in a served domain. */
bool dispatcher_serves_account(const struct dispatcher *d, const char *account);

#endif
