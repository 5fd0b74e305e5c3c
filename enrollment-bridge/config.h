/*
 * config.h — owcp-bridge's configuration file (contract
 * ../shared/spec/enrollment-bridge.md §2): the key tables of every section
 * ([bridge], [owcp], [identity], [otpce], [radius], [wstep],
 * [wstep.template.NAME], [mras]) on the service layer's declarative INI
 * parser (owcp/service/config.h), and the rules that involve several keys
 * or need a value parsed further (identity rules, confirm policies, RADIUS
 * servers, URL paths). The one place that knows the keys, their types,
 * defaults and ranges; docs/enrollment-bridge.md ("Daemon") documents them
 * for operators and contrib/bridge.conf.example shows every one.
 *
 * Every message names the file, the line and the key: "FILE:LINE:
 * [SECTION] KEY: PROBLEM" (or "FILE: [SECTION] KEY: ..." for a key that
 * is missing, which has no line).
 *
 * Every front's section is read and checked in full; [otpce], [wstep] and
 * [mras] are served (otpce_signcert.c, wstep.h, mras.h).
 */
#ifndef OWCP_BRIDGE_CONFIG_H
#define OWCP_BRIDGE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "confirm.h"
#include "owcp/idmap.h"
#include "owcp/service/config.h"
#include "radius.h"

/* Read when --config is not given (the installed path). */
#ifndef BRIDGE_DEFAULT_CONFIG
#define BRIDGE_DEFAULT_CONFIG "/etc/owcp/bridge.conf"
#endif

/* Exit statuses (the dispatcher's). */
#define BRIDGE_EXIT_FAILURE 1 /* start-up failure; `check`: a file unusable */
#define BRIDGE_EXIT_CONFIG 4  /* usage or configuration error */

/* [otpce]. Strings and lists are owned copies. */
struct bridge_otpce_config {
  char *path;                     /* POST here */
  struct svc_cfg_list template;   /* accepted templates: OID or name */
  char *ra_cert, *ra_key;         /* enrollment agent (RA) */
  struct svc_cfg_list issuing_ca; /* sent in this order */
  char *confirm;                  /* as written */
  struct confirm_policy policy;   /* confirm, parsed */
};

/* [radius]. */
struct bridge_radius_config {
  struct svc_cfg_list server; /* HOST:PORT, tried in order */
  char *secret_file;
  int timeout_ms, retries;
  char *nas_identifier;
  bool require_message_authenticator;
  struct radius_server *servers; /* server, parsed (server.count) */
};

/* [wstep] (the front: wstep.h). */
struct bridge_wstep_config {
  char *path;
  struct svc_cfg_list auth; /* username | certificate | anonymous */
  char *ca_cert, *ca_key, *ket_cert;
  char *confirm;
  struct confirm_policy policy;
  bool auth_username; /* auth lists 'username' (needs [radius]) */
  /* auth lists 'certificate' (the HTTPS listener asks for a client
   * certificate of ca_cert) */
  bool auth_certificate;
};

/* One [wstep.template.NAME]. */
struct bridge_wstep_template {
  char *name; /* NAME */
  char *oid;  /* optional v2 template OID */
  int validity_days;
  char *key_usage, *extended_key_usage; /* comma-separated names */
  int subject_from;                     /* 0 upn, 1 request */
};

/* [mras]: the MRAS front (mras.h). */
struct bridge_mras_config {
  struct svc_listen sip_udp, sip_tcp, sip_tls; /* host "" when absent */
  char *http_path;
  char *realm;
  char *digest_users_file;
  struct svc_cfg_list digest_algorithm; /* MD5, MD5-sess; empty: MD5 */
  int nonce_lifetime;
  int challenge;    /* 0: 407, 1: 401 */
  int token_format; /* 0: rest, 1: msturn */
  struct svc_cfg_list turn_secret_file;
  char *turn_host;
  int turn_udp_port, turn_tcp_port;
  int location; /* 0: internet, 1: intranet */
  int max_duration;
  char *confirm;
  struct confirm_policy policy;
};

/* The whole file. Release with bridge_config_free(). */
struct bridge_config {
  /* [bridge] */
  struct svc_listen listen;
  char *tls_cert, *tls_key;
  bool insecure_http;
  char *public_url;
  char *db;
  long max_body;
  int log_level; /* enum svc_log_level order: error, warn, info, debug */
  /* [owcp] */
  char *requestor, *token_file, *dispatcher, *ca_file;
  struct svc_listen dns;
  bool owcp_insecure_http;
  long timeout;
  /* [identity] */
  struct svc_cfg_list map, upn_suffix;
  struct idmap idmap; /* map and upn_suffix, parsed */
  /* the fronts and their helpers */
  bool otpce_on, radius_on, wstep_on, mras_on;
  struct bridge_otpce_config otpce;
  struct bridge_radius_config radius;
  struct bridge_wstep_config wstep;
  struct bridge_wstep_template *templates;
  size_t template_count;
  struct bridge_mras_config mras;
  /* derived */
  char *config_file; /* the file read (SIGHUP re-reads it) */
  char dns_text[64]; /* dns as "host:port", "" when absent */
};

/* The section table (for docs and tests). */
extern const struct svc_cfg_section bridge_config_sections[];

/* Reads and checks path: every key, then the cross-key rules below. 0, or
 * -1 with err "FILE:LINE: [SECTION] KEY: PROBLEM" (cfg then zeroed). On
 * success release with bridge_config_free().
 * Cross-key rules:
 *  - tls_cert and tls_key go together; insecure_http = no needs both;
 *    insecure_http = yes only on a loopback listen address;
 *  - public_url: http(s)://..., no trailing slash; required with [wstep];
 *  - [identity] map and upn_suffix parse (owcp/idmap.h);
 *  - every confirm = parses (required | cached:MINUTES | off);
 *  - [radius] is required (present, enabled) when [otpce] is enabled or
 *    [wstep] auth lists username; its servers parse as HOST:PORT;
 *  - URL paths start with '/', differ from each other and from /healthz
 *    and /metrics;
 *  - [wstep] needs at least one [wstep.template.NAME]; a template's oid is
 *    a dotted OID, its usages known names;
 *  - [mras] needs a SIP listener or http_path; sip_tls needs tls_cert and
 *    tls_key; token_format = msturn needs two turn_secret_file entries. */
int bridge_config_load(const char *path, struct bridge_config *cfg,
                       struct owcp_error *err);

/* Releases everything in *cfg and zeroes it; safe twice. */
void bridge_config_free(struct bridge_config *cfg);

/* Sets err to "FILE:LINE: [section] key: " + the formatted text, the line
 * being that of the nth value of the key in cfg->config_file (no line when
 * it is not there, e.g. a default). */
void bridge_config_error(const struct bridge_config *cfg,
                         struct owcp_error *err, const char *section,
                         const char *key, size_t nth, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

#endif
