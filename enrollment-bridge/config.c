/*
 * config.c — owcp-bridge's configuration (see config.h): the key tables of
 * contract §2, then the rules that the table cannot express, each message
 * naming the file, line and key at fault.
 */
#include "config.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "owcp/util.h"

static const char *const log_levels[] = {"error", "warn", "info", "debug",
                                         NULL};
static const char *const auths[] = {"username", "certificate", "anonymous",
                                    NULL};
static const char *const subject_froms[] = {"upn", "request", NULL};
static const char *const challenges[] = {"407", "401", NULL};
static const char *const token_formats[] = {"rest", "msturn", NULL};
static const char *const locations[] = {"internet", "intranet", NULL};
static const char *const digests[] = {"MD5", "MD5-sess", NULL};

#define C struct bridge_config
static const struct svc_cfg_key bridge_keys[] = {
    SVC_CFG_LISTEN(C, listen, "listen", SVC_CFG_REQUIRED, NULL,
                   "numeric HOST:PORT of the HTTP(S) listener; port 0: any"),
    SVC_CFG_PATH(C, tls_cert, "tls_cert", 0, NULL, "PEM certificate chain"),
    SVC_CFG_SECRET(C, tls_key, "tls_key", 0, "PEM private key (mode 0600)"),
    SVC_CFG_BOOL(C, insecure_http, "insecure_http", 0, "no",
                 "plain HTTP, loopback listen address only"),
    SVC_CFG_STRING(C, public_url, "public_url", 0, NULL,
                   "how clients reach the bridge, no trailing slash"),
    SVC_CFG_STRING(C, db, "db", SVC_CFG_REQUIRED, NULL,
                   "libpq connection string (no password)"),
    SVC_CFG_INT(C, max_body, "max_body", 0, "262144", 1024, 64L * 1024 * 1024,
                "request body limit in bytes"),
    SVC_CFG_ENUM(C, log_level, "log_level", 0, "info", log_levels,
                 "error, warn, info or debug"),
    SVC_CFG_KEY_END};

static const struct svc_cfg_key owcp_keys[] = {
    SVC_CFG_STRING(C, requestor, "requestor", SVC_CFG_REQUIRED, NULL,
                   "the bridge's requestor account at the dispatcher"),
    SVC_CFG_SECRET(C, token_file, "token_file", SVC_CFG_REQUIRED,
                   "its bearer token (mode 0600)"),
    SVC_CFG_STRING(C, dispatcher, "dispatcher", 0, NULL,
                   "dispatcher base URL; absent: DNS discovery"),
    SVC_CFG_LISTEN(C, dns, "dns", 0, NULL, "resolver for discovery"),
    SVC_CFG_PATH(C, ca_file, "ca_file", 0, NULL, "extra TLS trust anchors"),
    SVC_CFG_BOOL(C, owcp_insecure_http, "insecure_http", 0, "no",
                 "http:// dispatcher on loopback"),
    SVC_CFG_INT(C, timeout, "timeout", 0, "120", 1, CONFIRM_TIMEOUT_MAX,
                "seconds the user has to answer"),
    SVC_CFG_KEY_END};

static const struct svc_cfg_key identity_keys[] = {
    SVC_CFG_LIST_OF(C, map, "map", SVC_CFG_REQUIRED, SVC_CFG_T_STRING, NULL,
                    "PATTERN -> ACCOUNT, first match wins"),
    SVC_CFG_LIST_OF(C, upn_suffix, "upn_suffix", 0, SVC_CFG_T_STRING, NULL,
                    "NETBIOS = suffix"),
    SVC_CFG_KEY_END};
#undef C

#define O struct bridge_otpce_config
static const struct svc_cfg_key otpce_keys[] = {
    SVC_CFG_STRING(O, path, "path", 0, "/otpce", "URL path (POST)"),
    SVC_CFG_LIST_OF(O, template, "template", SVC_CFG_REQUIRED, SVC_CFG_T_STRING,
                    NULL, "accepted template: OID (v2) or name"),
    SVC_CFG_PATH(O, ra_cert, "ra_cert", SVC_CFG_REQUIRED, NULL,
                 "enrollment agent certificate (PEM)"),
    SVC_CFG_SECRET(O, ra_key, "ra_key", SVC_CFG_REQUIRED,
                   "enrollment agent key (PEM, mode 0600)"),
    SVC_CFG_LIST_OF(O, issuing_ca, "issuing_ca", SVC_CFG_REQUIRED,
                    SVC_CFG_T_STRING, NULL, "IssuingCA, in this order"),
    SVC_CFG_STRING(O, confirm, "confirm", 0, "required",
                   "required | cached:MINUTES | off"),
    SVC_CFG_KEY_END};
#undef O

#define R struct bridge_radius_config
static const struct svc_cfg_key radius_keys[] = {
    SVC_CFG_LIST_OF(R, server, "server", SVC_CFG_REQUIRED, SVC_CFG_T_STRING,
                    NULL, "HOST:PORT, tried in order"),
    SVC_CFG_SECRET(R, secret_file, "secret_file", SVC_CFG_REQUIRED,
                   "shared secret (mode 0600)"),
    SVC_CFG_INT(R, timeout_ms, "timeout_ms", 0, "2000", 1, 60000,
                "milliseconds per try"),
    SVC_CFG_INT(R, retries, "retries", 0, "1", 0, 10, "extra tries per server"),
    SVC_CFG_STRING(R, nas_identifier, "nas_identifier", 0, "owcp-bridge",
                   "NAS-Identifier"),
    SVC_CFG_BOOL(R, require_message_authenticator,
                 "require_message_authenticator", 0, "yes",
                 "refuse replies without a valid Message-Authenticator"),
    SVC_CFG_KEY_END};
#undef R

#define W struct bridge_wstep_config
static const struct svc_cfg_key wstep_keys[] = {
    SVC_CFG_STRING(W, path, "path", 0, "/wstep", "URL path (POST, SOAP 1.2)"),
    SVC_CFG_LIST_OF(W, auth, "auth", SVC_CFG_REQUIRED, SVC_CFG_T_ENUM, auths,
                    "username | certificate | anonymous"),
    SVC_CFG_PATH(W, ca_cert, "ca_cert", SVC_CFG_REQUIRED, NULL,
                 "the built-in issuing CA (PEM)"),
    SVC_CFG_SECRET(W, ca_key, "ca_key", SVC_CFG_REQUIRED,
                   "its key (PEM, mode 0600)"),
    SVC_CFG_PATH(W, ket_cert, "ket_cert", 0, NULL, "answered to KET requests"),
    SVC_CFG_STRING(W, confirm, "confirm", 0, "required",
                   "required | cached:MINUTES | off"),
    SVC_CFG_KEY_END};
#undef W

#define T struct bridge_wstep_template
static const struct svc_cfg_key template_keys[] = {
    SVC_CFG_STRING(T, oid, "oid", 0, NULL, "v2 template OID naming it too"),
    SVC_CFG_INT(T, validity_days, "validity_days", 0, "365", 1, 36500, "days"),
    SVC_CFG_STRING(T, key_usage, "key_usage", 0,
                   "digitalSignature, keyEncipherment", "key usages"),
    SVC_CFG_STRING(T, extended_key_usage, "extended_key_usage", 0, "clientAuth",
                   "extended key usages"),
    SVC_CFG_ENUM(T, subject_from, "subject_from", 0, "upn", subject_froms,
                 "upn | request"),
    SVC_CFG_KEY_END};
#undef T

#define M struct bridge_mras_config
static const struct svc_cfg_key mras_keys[] = {
    SVC_CFG_LISTEN(M, sip_udp, "sip_udp", 0, NULL, "SIP over UDP"),
    SVC_CFG_LISTEN(M, sip_tcp, "sip_tcp", 0, NULL, "SIP over TCP"),
    SVC_CFG_LISTEN(M, sip_tls, "sip_tls", 0, NULL, "SIP over TLS"),
    SVC_CFG_STRING(M, http_path, "http_path", 0, NULL, "URL path (POST)"),
    SVC_CFG_STRING(M, realm, "realm", SVC_CFG_REQUIRED, NULL, "Digest realm"),
    SVC_CFG_SECRET(M, digest_users_file, "digest_users_file", SVC_CFG_REQUIRED,
                   "htdigest file (mode 0600)"),
    SVC_CFG_LIST_OF(M, digest_algorithm, "digest_algorithm", 0, SVC_CFG_T_ENUM,
                    digests, "MD5 | MD5-sess (default MD5)"),
    SVC_CFG_INT(M, nonce_lifetime, "nonce_lifetime", 0, "300", 1, 86400,
                "seconds"),
    SVC_CFG_ENUM(M, challenge, "challenge", 0, "407", challenges, "407 | 401"),
    SVC_CFG_ENUM(M, token_format, "token_format", 0, "rest", token_formats,
                 "rest | msturn"),
    SVC_CFG_LIST_OF(M, turn_secret_file, "turn_secret_file", SVC_CFG_REQUIRED,
                    SVC_CFG_T_SECRET, NULL, "TURN secrets, first mints"),
    SVC_CFG_STRING(M, turn_host, "turn_host", SVC_CFG_REQUIRED, NULL,
                   "mediaRelay hostName"),
    SVC_CFG_INT(M, turn_udp_port, "turn_udp_port", 0, "3478", 1, 65535, "port"),
    SVC_CFG_INT(M, turn_tcp_port, "turn_tcp_port", 0, "443", 1, 65535, "port"),
    SVC_CFG_ENUM(M, location, "location", 0, "internet", locations,
                 "internet | intranet"),
    SVC_CFG_INT(M, max_duration, "max_duration", 0, "480", 1,
                CONFIRM_CACHE_MINUTES_MAX, "minutes"),
    SVC_CFG_STRING(M, confirm, "confirm", 0, "required",
                   "required | cached:MINUTES | off"),
    SVC_CFG_KEY_END};
#undef M

const struct svc_cfg_section bridge_config_sections[] = {
    SVC_CFG_SECTION("bridge", bridge_keys),
    SVC_CFG_SECTION("owcp", owcp_keys),
    SVC_CFG_SECTION("identity", identity_keys),
    SVC_CFG_SECTION_SWITCHED("otpce", otpce_keys, struct bridge_config, otpce,
                             otpce_on),
    SVC_CFG_SECTION_SWITCHED("radius", radius_keys, struct bridge_config,
                             radius, radius_on),
    SVC_CFG_SECTION_SWITCHED("wstep", wstep_keys, struct bridge_config, wstep,
                             wstep_on),
    SVC_CFG_SECTION_TEMPLATE("wstep.template", template_keys,
                             struct bridge_config, templates, template_count,
                             struct bridge_wstep_template, name),
    SVC_CFG_SECTION_SWITCHED("mras", mras_keys, struct bridge_config, mras,
                             mras_on),
    SVC_CFG_SECTION_END};

/* Names the key usages and extended key usages a template may list. */
static const char *const key_usages[] = {"digitalSignature", "nonRepudiation",
                                         "keyEncipherment",  "dataEncipherment",
                                         "keyAgreement",     NULL};
static const char *const ext_key_usages[] = {
    "clientAuth",   "serverAuth",  "emailProtection", "codeSigning",
    "timeStamping", "OCSPSigning", "smartcardLogon",  NULL};

void bridge_config_error(const struct bridge_config *cfg,
                         struct owcp_error *err, const char *section,
                         const char *key, size_t nth, const char *fmt, ...)
{
  char msg[OWCP_ERROR_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  const char *file = cfg->config_file ? cfg->config_file : "";
  int line = cfg->config_file
                 ? svc_config_key_line(cfg->config_file, section, key, nth)
                 : 0;
  if (line > 0)
    owcp_error_set(err, "%s:%d: [%s] %s: %s", file, line, section, key, msg);
  else
    owcp_error_set(err, "%s: [%s] %s: %s", file, section, key, msg);
}

void bridge_config_free(struct bridge_config *cfg)
{
  free(cfg->config_file);
  free(cfg->radius.servers);
  idmap_clear(&cfg->idmap);
  svc_config_free(bridge_config_sections, cfg);
  memset(cfg, 0, sizeof *cfg);
}

/* ---- the rules --------------------------------------------------------- */

static int rule_tls(const struct bridge_config *c, struct owcp_error *err)
{
  if ((c->tls_cert == NULL) != (c->tls_key == NULL)) {
    const char *missing = c->tls_cert ? "tls_key" : "tls_cert";
    const char *given = c->tls_cert ? "tls_cert" : "tls_key";
    bridge_config_error(c, err, "bridge", given, 0,
                        "needs %s too (they go together)", missing);
    return -1;
  }
  if (!c->insecure_http && c->tls_cert == NULL) {
    bridge_config_error(c, err, "bridge", "insecure_http", 0,
                        "give tls_cert and tls_key for HTTPS, or "
                        "insecure_http = yes (loopback only)");
    return -1;
  }
  if (c->insecure_http && !owcp_host_is_loopback(c->listen.host)) {
    bridge_config_error(c, err, "bridge", "insecure_http", 0,
                        "allowed only on a loopback listen address, not %s",
                        c->listen.host);
    return -1;
  }
  return 0;
}

static int rule_public_url(const struct bridge_config *c,
                           struct owcp_error *err)
{
  const char *u = c->public_url;
  if (u == NULL) {
    if (!c->wstep_on)
      return 0;
    bridge_config_error(c, err, "bridge", "public_url", 0,
                        "required by [wstep] (its Reference URI)");
    return -1;
  }
  size_t n = strlen(u);
  bool scheme = strncmp(u, "https://", 8) == 0 || strncmp(u, "http://", 7) == 0;
  if (!scheme || u[n - 1] == '/' || strpbrk(u, " \t?#") != NULL) {
    bridge_config_error(c, err, "bridge", "public_url", 0,
                        "must be an http:// or https:// URL without a "
                        "trailing slash, query or blanks, not '%s'",
                        u);
    return -1;
  }
  return 0;
}

static int rule_identity(struct bridge_config *c, struct owcp_error *err)
{
  struct owcp_error why = {{0}};
  for (size_t i = 0; i < c->map.count; i++)
    if (idmap_add_rule(&c->idmap, c->map.items[i], &why) != 0) {
      bridge_config_error(c, err, "identity", "map", i, "%s", why.msg);
      return -1;
    }
  for (size_t i = 0; i < c->upn_suffix.count; i++)
    if (idmap_add_upn_suffix(&c->idmap, c->upn_suffix.items[i], &why) != 0) {
      bridge_config_error(c, err, "identity", "upn_suffix", i, "%s", why.msg);
      return -1;
    }
  return 0;
}

static int policy(const struct bridge_config *c, const char *section,
                  const char *text, struct confirm_policy *out,
                  struct owcp_error *err)
{
  struct owcp_error why = {{0}};
  if (confirm_policy_parse(text, out, &why) != 0) {
    bridge_config_error(c, err, section, "confirm", 0, "%s", why.msg);
    return -1;
  }
  return 0;
}

static int rule_policies(struct bridge_config *c, struct owcp_error *err)
{
  if (c->otpce_on &&
      policy(c, "otpce", c->otpce.confirm, &c->otpce.policy, err) != 0)
    return -1;
  if (c->wstep_on &&
      policy(c, "wstep", c->wstep.confirm, &c->wstep.policy, err) != 0)
    return -1;
  if (c->mras_on &&
      policy(c, "mras", c->mras.confirm, &c->mras.policy, err) != 0)
    return -1;
  return 0;
}

/* HOST:PORT or [V6]:PORT; the host may be a name (resolved at each use). */
static int server_parse(const char *text, struct radius_server *out)
{
  const char *colon = strrchr(text, ':');
  const char *host = text;
  if (colon == NULL)
    return -1;
  size_t hlen = (size_t)(colon - text);
  if (hlen >= 2 && text[0] == '[' && colon[-1] == ']') {
    host++;
    hlen -= 2;
  } else if (memchr(text, ':', hlen) != NULL) {
    return -1; /* an IPv6 address needs its brackets */
  }
  char *end = NULL;
  long port = strtol(colon + 1, &end, 10);
  if (hlen == 0 || hlen >= sizeof out->host ||
      !isdigit((unsigned char)colon[1]) || *end != '\0' || port < 1 ||
      port > 65535)
    return -1;
  for (size_t i = 0; i < hlen; i++)
    if (!isalnum((unsigned char)host[i]) && strchr(".-:", host[i]) == NULL)
      return -1;
  memcpy(out->host, host, hlen);
  out->host[hlen] = '\0';
  out->port = (unsigned short)port;
  return 0;
}

static int rule_radius(struct bridge_config *c, struct owcp_error *err)
{
  const char *needer = c->otpce_on ? "[otpce] (the one-time password check)"
                       : c->wstep_on && c->wstep.auth_username
                           ? "[wstep] auth = username"
                           : NULL;
  if (needer != NULL && !c->radius_on) {
    owcp_error_set(err, "%s: [radius]: required (and enabled) by %s",
                   c->config_file, needer);
    return -1;
  }
  if (!c->radius_on)
    return 0;
  c->radius.servers = calloc(c->radius.server.count, sizeof *c->radius.servers);
  if (c->radius.servers == NULL) {
    owcp_error_set(err, "out of memory");
    return -1;
  }
  for (size_t i = 0; i < c->radius.server.count; i++)
    if (server_parse(c->radius.server.items[i], &c->radius.servers[i]) != 0) {
      bridge_config_error(c, err, "radius", "server", i,
                          "must be HOST:PORT or [IPV6]:PORT, not '%s'",
                          c->radius.server.items[i]);
      return -1;
    }
  if (strlen(c->radius.nas_identifier) > RADIUS_ATTR_VALUE_MAX) {
    bridge_config_error(c, err, "radius", "nas_identifier", 0,
                        "at most %d octets", RADIUS_ATTR_VALUE_MAX);
    return -1;
  }
  return 0;
}

/* One URL path of a front: "/x", no query, not the layer's own. */
static int path_ok(const char *p)
{
  return p[0] == '/' && strpbrk(p, " \t?#") == NULL &&
         strcmp(p, "/healthz") != 0 && strcmp(p, "/metrics") != 0;
}

static int rule_paths(const struct bridge_config *c, struct owcp_error *err)
{
  struct {
    bool on;
    const char *section, *key, *path;
  } p[] = {{c->otpce_on, "otpce", "path", c->otpce.path},
           {c->wstep_on, "wstep", "path", c->wstep.path},
           {c->mras_on && c->mras.http_path, "mras", "http_path",
            c->mras.http_path}};
  size_t n = sizeof p / sizeof p[0];
  for (size_t i = 0; i < n; i++) {
    if (!p[i].on)
      continue;
    if (!path_ok(p[i].path)) {
      bridge_config_error(c, err, p[i].section, p[i].key, 0,
                          "must be a URL path starting with '/' (not "
                          "/healthz or /metrics), not '%s'",
                          p[i].path);
      return -1;
    }
    for (size_t j = 0; j < i; j++)
      if (p[j].on && strcmp(p[i].path, p[j].path) == 0) {
        bridge_config_error(c, err, p[i].section, p[i].key, 0,
                            "%s is [%s] %s already", p[i].path, p[j].section,
                            p[j].key);
        return -1;
      }
  }
  return 0;
}

static bool is_dotted_oid(const char *s)
{
  int arcs = 0;
  for (const char *p = s; *p != '\0'; arcs++) {
    if (!isdigit((unsigned char)*p))
      return false;
    while (isdigit((unsigned char)*p))
      p++;
    if (*p == '.' && p[1] != '\0')
      p++;
    else if (*p != '\0')
      return false;
  }
  return arcs >= 2;
}

/* A comma-separated list whose every item is one of names (or, with
 * oids_too, a dotted OID); the first unknown item is copied to bad. */
static bool usages_ok(const char *text, const char *const *names, bool oids_too,
                      char *bad, size_t bad_size)
{
  const char *p = text;
  while (*p != '\0') {
    while (*p == ' ' || *p == ',')
      p++;
    size_t n = strcspn(p, ",");
    while (n > 0 && p[n - 1] == ' ')
      n--;
    if (n == 0)
      break;
    bool known = false;
    for (size_t i = 0; names[i] != NULL && !known; i++)
      known = strlen(names[i]) == n && strncmp(names[i], p, n) == 0;
    snprintf(bad, bad_size, "%.*s", (int)n, p);
    if (!known && !(oids_too && is_dotted_oid(bad)))
      return false;
    p += n;
  }
  return true;
}

static int rule_templates(const struct bridge_config *c, struct owcp_error *err)
{
  char bad[128];
  if (c->wstep_on && c->template_count == 0) {
    owcp_error_set(err,
                   "%s: [wstep]: needs at least one [wstep.template.NAME] "
                   "section",
                   c->config_file);
    return -1;
  }
  for (size_t i = 0; i < c->template_count; i++) {
    const struct bridge_wstep_template *t = &c->templates[i];
    char section[128];
    snprintf(section, sizeof section, "wstep.template.%s", t->name);
    if (t->oid != NULL && !is_dotted_oid(t->oid)) {
      bridge_config_error(c, err, section, "oid", 0,
                          "must be a dotted OID, not '%s'", t->oid);
      return -1;
    }
    if (!usages_ok(t->key_usage, key_usages, false, bad, sizeof bad)) {
      bridge_config_error(c, err, section, "key_usage", 0,
                          "unknown key usage '%s'", bad);
      return -1;
    }
    if (!usages_ok(t->extended_key_usage, ext_key_usages, true, bad,
                   sizeof bad)) {
      bridge_config_error(c, err, section, "extended_key_usage", 0,
                          "unknown extended key usage '%s'", bad);
      return -1;
    }
  }
  return 0;
}

static int rule_mras(const struct bridge_config *c, struct owcp_error *err)
{
  const struct bridge_mras_config *m = &c->mras;
  if (!c->mras_on)
    return 0;
  if (!m->sip_udp.host[0] && !m->sip_tcp.host[0] && !m->sip_tls.host[0] &&
      m->http_path == NULL) {
    owcp_error_set(err,
                   "%s: [mras]: needs at least one of sip_udp, sip_tcp, "
                   "sip_tls or http_path",
                   c->config_file);
    return -1;
  }
  if (m->sip_tls.host[0] && c->tls_cert == NULL) {
    bridge_config_error(c, err, "mras", "sip_tls", 0,
                        "needs [bridge] tls_cert and tls_key");
    return -1;
  }
  if (m->token_format == 1 && m->turn_secret_file.count < 2) {
    bridge_config_error(c, err, "mras", "token_format", 0,
                        "msturn needs two turn_secret_file entries (its two "
                        "keys)");
    return -1;
  }
  return 0;
}

/* The rules, in the order of the file's sections. */
static int finish(struct bridge_config *c, struct owcp_error *err)
{
  if (svc_config_check(bridge_config_sections, c, c->config_file, err) != 0)
    return -1;
  for (size_t i = 0; c->wstep_on && i < c->wstep.auth.count; i++) {
    if (strcmp(c->wstep.auth.items[i], "username") == 0)
      c->wstep.auth_username = true;
    if (strcmp(c->wstep.auth.items[i], "certificate") == 0)
      c->wstep.auth_certificate = true;
  }
  if (c->dns.host[0] != '\0') {
    bool v6 = strchr(c->dns.host, ':') != NULL;
    snprintf(c->dns_text, sizeof c->dns_text, "%s%s%s:%u", v6 ? "[" : "",
             c->dns.host, v6 ? "]" : "", (unsigned)c->dns.port);
  }
  if (rule_tls(c, err) != 0 || rule_public_url(c, err) != 0 ||
      rule_identity(c, err) != 0 || rule_policies(c, err) != 0 ||
      rule_radius(c, err) != 0 || rule_paths(c, err) != 0 ||
      rule_templates(c, err) != 0 || rule_mras(c, err) != 0)
    return -1;
  return 0;
}

int bridge_config_load(const char *path, struct bridge_config *cfg,
                       struct owcp_error *err)
{
  memset(cfg, 0, sizeof *cfg);
  if (svc_config_read(path, bridge_config_sections, cfg, err) != 0) {
    memset(cfg, 0, sizeof *cfg);
    return -1;
  }
  cfg->config_file = strdup(path);
  if (cfg->config_file == NULL) {
    owcp_error_set(err, "out of memory");
    bridge_config_free(cfg);
    return -1;
  }
  if (finish(cfg, err) != 0) {
    bridge_config_free(cfg);
    return -1;
  }
  return 0;
}
