/*
 * test_config.c — the declarative INI parser of service/config.c: every
 * error names file:line and [section] key; lists, comments, '=' and ':' in
 * values, path resolution, secret-file modes, templated and switched
 * sections, settings applied over a file; and the enrollment bridge
 * contract's whole example (enrollment-bridge.md §2, tests/data/
 * bridge-example.conf) against a bridge-shaped schema.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "owcp/service/config.h"
#include "testutil.h"

/* ---- a small schema exercising every type --------------------------- */

struct tmpl {
  char *name;
  char *oid;
  int days;
};

struct small_extra {
  char *need;
  unsigned size;
};

struct small {
  char *db;
  char *dir;
  char *key;
  bool open;
  long threads;
  int level;
  struct svc_listen listen;
  struct svc_cfg_list domain;
  bool extra_on;
  struct small_extra extra;
  struct tmpl *tmpls;
  size_t tmpl_count;
};

static const char *const levels[] = {"error", "warn", "info", "debug", NULL};

static const struct svc_cfg_key small_keys[] = {
    SVC_CFG_STRING(struct small, db, "db", SVC_CFG_REQUIRED, NULL, "conninfo"),
    SVC_CFG_PATH(struct small, dir, "dir", 0, NULL, "a directory"),
    SVC_CFG_SECRET(struct small, key, "key", 0, "a private key"),
    SVC_CFG_BOOL(struct small, open, "open", 0, "no", "open service"),
    SVC_CFG_INT(struct small, threads, "threads", 0, "32", 1, 1024, "threads"),
    SVC_CFG_ENUM(struct small, level, "log_level", 0, "info", levels, "level"),
    SVC_CFG_LISTEN(struct small, listen, "listen", 0, NULL, "address"),
    SVC_CFG_LIST_OF(struct small, domain, "domain", 0, SVC_CFG_T_STRING, NULL,
                    "domains"),
    SVC_CFG_KEY_END};

static const struct svc_cfg_key extra_keys[] = {
    SVC_CFG_STRING(struct small_extra, need, "need", SVC_CFG_REQUIRED, NULL,
                   "needed when on"),
    SVC_CFG_INT(struct small_extra, size, "size", 0, "5", 0, 10, "size"),
    SVC_CFG_KEY_END};

static const struct svc_cfg_key tmpl_keys[] = {
    SVC_CFG_STRING(struct tmpl, oid, "oid", SVC_CFG_REQUIRED, NULL, "OID"),
    SVC_CFG_INT(struct tmpl, days, "days", 0, "365", 1, 3650, "validity"),
    SVC_CFG_KEY_END};

static const struct svc_cfg_section small_sections[] = {
    SVC_CFG_SECTION("main", small_keys),
    SVC_CFG_SECTION_SWITCHED("extra", extra_keys, struct small, extra,
                             extra_on),
    SVC_CFG_SECTION_TEMPLATE("t", tmpl_keys, struct small, tmpls, tmpl_count,
                             struct tmpl, name),
    SVC_CFG_SECTION_END};

struct fixture {
  char dir[256];
  char path[300];
  struct small c;
  struct owcp_error err;
};

static int setup(void **state)
{
  struct fixture *f = calloc(1, sizeof *f);
  if (f == NULL || testutil_tmpdir_make(f->dir, sizeof f->dir, "config"))
    return -1;
  snprintf(f->path, sizeof f->path, "%s/t.conf", f->dir);
  *state = f;
  return 0;
}

static int teardown(void **state)
{
  struct fixture *f = *state;
  svc_config_free(small_sections, &f->c);
  int rc = testutil_tmpdir_remove(f->dir);
  free(f);
  return rc;
}

/* Writes text as t.conf and loads it into f->c; returns the status. */
static int load(struct fixture *f, const char *text)
{
  testutil_write_file(f->path, text, strlen(text));
  memset(&f->err, 0, sizeof f->err);
  return svc_config_load(f->path, small_sections, &f->c, &f->err);
}

/* Expects text to fail with a message containing "t.conf:LINE: " + rest. */
static void expect_error(struct fixture *f, const char *text, const char *want)
{
  assert_int_equal(load(f, text), -1);
  testutil_assert_err_contains(&f->err, want);
  assert_null(f->c.db); /* nothing half-loaded */
}

static void write_mode(const char *dir, const char *name, mode_t mode)
{
  char p[400];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  testutil_write_file(p, "x\n", 2);
  assert_int_equal(chmod(p, mode), 0);
}

static void test_values_and_defaults(void **state)
{
  struct fixture *f = *state;
  assert_int_equal(load(f, "[main]\n"
                           "db = host=/run/postgresql dbname=x  # conninfo\n"
                           "open = yes ; inline semicolon comment\n"
                           "listen = [::1]:8443\n"),
                   0);
  assert_string_equal(f->c.db, "host=/run/postgresql dbname=x");
  assert_true(f->c.open);
  assert_string_equal(f->c.listen.host, "::1");
  assert_int_equal(f->c.listen.port, 8443);
  assert_int_equal(f->c.threads, 32); /* default */
  assert_int_equal(f->c.level, 2);    /* "info" */
  assert_false(f->c.extra_on);        /* absent: off, need not required */
  assert_int_equal(f->c.tmpl_count, 0);
}

static void test_values_with_separators(void **state)
{
  struct fixture *f = *state;
  assert_int_equal(load(f, "[main]\n"
                           "db = a#b c=d:e  #comment\n"
                           "domain = EXAMPLE = example.com\n"
                           "domain = sip:*@example.com -> *@example.com\n"
                           "  domain = indented;not a comment\n"),
                   0);
  assert_string_equal(f->c.db, "a#b c=d:e");
  assert_int_equal(f->c.domain.count, 3);
  assert_string_equal(f->c.domain.items[0], "EXAMPLE = example.com");
  assert_string_equal(f->c.domain.items[1],
                      "sip:*@example.com -> *@example.com");
  assert_string_equal(f->c.domain.items[2], "indented;not a comment");
  assert_null(f->c.domain.items[3]);
}

static void test_list_order(void **state)
{
  struct fixture *f = *state;
  assert_int_equal(load(f, "[main]\ndb = x\ndomain = c.example\n"
                           "[extra]\nneed = 1\n"
                           "[main]\ndomain = a.example\ndomain = b.example\n"),
                   0);
  assert_int_equal(f->c.domain.count, 3);
  assert_string_equal(f->c.domain.items[0], "c.example");
  assert_string_equal(f->c.domain.items[1], "a.example");
  assert_string_equal(f->c.domain.items[2], "b.example");
}

static void test_error_unknown_key(void **state)
{
  expect_error(*state, "[main]\ndb = x\n\nthreds = 4\n",
               "t.conf:4: [main] threds: unknown key");
}

static void test_error_unknown_section(void **state)
{
  /* An empty unknown section is refused too. */
  expect_error(*state, "[main]\ndb = x\n[mian]\n",
               "t.conf:3: [mian]: unknown section");
}

static void test_error_bad_integer(void **state)
{
  expect_error(*state, "[main]\ndb = x\nthreads = 4x\n",
               "t.conf:3: [main] threads: must be an integer between 1 and "
               "1024, not '4x'");
}

static void test_error_out_of_range(void **state)
{
  expect_error(*state, "# comment\n[main]\ndb = x\nthreads = 1025\n",
               "t.conf:4: [main] threads: must be an integer between 1 and "
               "1024");
  expect_error(*state, "[extra]\nneed = 1\nsize = -1\n",
               "t.conf:3: [extra] size: must be an integer between 0 and 10");
}

static void test_error_bad_enum(void **state)
{
  expect_error(*state, "[main]\nlog_level = verbose\n",
               "t.conf:2: [main] log_level: must be one of "
               "error|warn|info|debug, not 'verbose'");
}

static void test_error_bad_bool(void **state)
{
  expect_error(*state, "[main]\ndb = x\nopen = true\n",
               "t.conf:3: [main] open: must be yes or no, not 'true'");
}

static void test_error_bad_listen(void **state)
{
  expect_error(*state, "[main]\nlisten = localhost:80\n",
               "t.conf:2: [main] listen: must be HOST:PORT");
  expect_error(*state, "[main]\nlisten = 127.0.0.1:65536\n",
               "t.conf:2: [main] listen: must be HOST:PORT");
  expect_error(*state, "[main]\nlisten = ::1:80\n",
               "t.conf:2: [main] listen: must be HOST:PORT");
}

static void test_error_duplicate(void **state)
{
  expect_error(*state, "[main]\ndb = x\nopen = no\ndb = y\n",
               "t.conf:4: [main] db: given twice (first on line 2)");
}

static void test_error_missing_required(void **state)
{
  expect_error(*state, "[main]\nopen = yes\n",
               "t.conf: [main] db: required but not given");
}

static void test_error_lines(void **state)
{
  struct fixture *f = *state;
  expect_error(f, "[main]\ndb: x\n", "t.conf:2: expected 'key = value'");
  expect_error(f, "[main]\njust words\n", "t.conf:2: expected 'key = value'");
  expect_error(f, "db = x\n[main]\n", "t.conf:1: db: a key before the first");
  expect_error(f, "[main\n", "t.conf:1: expected '[section]'");
  expect_error(f, "[main]\ndb =\n", "t.conf:2: [main] db: must not be empty");
  char longline[300] = "[main]\ndb = ";
  memset(longline + strlen(longline), 'a', 200);
  expect_error(f, longline, "t.conf:2: line longer than 197 characters");
}

static void test_paths_resolved(void **state)
{
  struct fixture *f = *state;
  char want[400];
  write_mode(f->dir, "k.key", 0600);
  assert_int_equal(load(f, "[main]\ndb = x\ndir = sub/keys\nkey = k.key\n"), 0);
  snprintf(want, sizeof want, "%s/sub/keys", f->dir);
  /* the tmpdir may sit below a symbolic link: compare the real directory */
  char *real = realpath(f->dir, NULL);
  assert_non_null(real);
  snprintf(want, sizeof want, "%s/sub/keys", real);
  assert_string_equal(f->c.dir, want);
  snprintf(want, sizeof want, "%s/k.key", real);
  assert_string_equal(f->c.key, want);
  free(real);
  svc_config_free(small_sections, &f->c);
  assert_int_equal(load(f, "[main]\ndb = x\ndir = /abs/keys\n"), 0);
  assert_string_equal(f->c.dir, "/abs/keys");
}

static void test_secret_mode(void **state)
{
  struct fixture *f = *state;
  write_mode(f->dir, "open.key", 0644);
  write_mode(f->dir, "group.key", 0640);
  expect_error(f, "[main]\ndb = x\nkey = open.key\n",
               "t.conf:3: [main] key: secret file");
  testutil_assert_err_contains(&f->err, "has mode 0644: it must not be "
                                        "readable by group or others");
  expect_error(f, "[main]\ndb = x\nkey = group.key\n", "has mode 0640");
  expect_error(f, "[main]\ndb = x\nkey = absent.key\n",
               "t.conf:3: [main] key: cannot use secret file");
}

static void test_switched_section(void **state)
{
  struct fixture *f = *state;
  assert_int_equal(load(f, "[main]\ndb = x\n[extra]\nenabled = no\n"), 0);
  assert_false(f->c.extra_on);
  svc_config_free(small_sections, &f->c);
  expect_error(f, "[main]\ndb = x\n[extra]\nsize = 3\n",
               "t.conf: [extra] need: required but not given");
  expect_error(f, "[main]\ndb = x\n[extra]\nenabled = maybe\n",
               "t.conf:4: [extra] enabled: must be yes or no");
  assert_int_equal(load(f, "[main]\ndb = x\n[extra]\nenabled = yes\n"
                           "need = n\nsize = 7\n"),
                   0);
  assert_true(f->c.extra_on);
  assert_string_equal(f->c.extra.need, "n");
  assert_int_equal(f->c.extra.size, 7);
}

static void test_template_sections(void **state)
{
  struct fixture *f = *state;
  assert_int_equal(load(f, "[main]\ndb = x\n"
                           "[t.User]\noid = 1.2.3\n"
                           "[t.Machine]\noid = 1.2.4\ndays = 30\n"),
                   0);
  assert_int_equal(f->c.tmpl_count, 2);
  assert_string_equal(f->c.tmpls[0].name, "User");
  assert_string_equal(f->c.tmpls[0].oid, "1.2.3");
  assert_int_equal(f->c.tmpls[0].days, 365);
  assert_string_equal(f->c.tmpls[1].name, "Machine");
  assert_int_equal(f->c.tmpls[1].days, 30);
  svc_config_free(small_sections, &f->c);
  expect_error(f, "[main]\ndb = x\n[t.User]\noid = 1\n[t.Web]\ndays = 2\n",
               "t.conf: [t.Web] oid: required but not given");
  expect_error(f, "[main]\ndb = x\n[t.User]\noid = 1\ndays = 0\n",
               "t.conf:5: [t.User] days: must be an integer between 1");
  expect_error(f, "[main]\ndb = x\n[t.User]\noid = 1\n[t.User]\noid = 2\n",
               "t.conf:6: [t.User] oid: given twice (first on line 4)");
  expect_error(f, "[main]\ndb = x\n[t]\n", "t.conf:3: [t]: unknown section");
}

static void test_apply_settings(void **state)
{
  struct fixture *f = *state;
  assert_int_equal(load(f, "[main]\ndb = x\ndomain = a\ndomain = b\n"
                           "threads = 4\n"),
                   0);
  const struct svc_cfg_setting flags[] = {{"main", "domain", "c", "--domain"},
                                          {"main", "threads", "8", "--threads"},
                                          {"main", "domain", "d", "--domain"},
                                          {"main", "dir", "rel/dir", "--dir"}};
  assert_int_equal(svc_config_apply(small_sections, flags, 4, &f->c, &f->err),
                   0);
  assert_int_equal(f->c.domain.count, 2);
  assert_string_equal(f->c.domain.items[0], "c");
  assert_string_equal(f->c.domain.items[1], "d");
  assert_int_equal(f->c.threads, 8);
  assert_string_equal(f->c.dir, "rel/dir"); /* flags: as given */
  const struct svc_cfg_setting bad[] = {{"main", "threads", "0", "--threads"}};
  assert_int_equal(svc_config_apply(small_sections, bad, 1, &f->c, &f->err),
                   -1);
  testutil_assert_err_contains(&f->err, "--threads: must be an integer "
                                        "between 1 and 1024, not '0'");
  const struct svc_cfg_setting unknown[] = {{"main", "nope", "1", "--nope"}};
  assert_int_equal(svc_config_apply(small_sections, unknown, 1, &f->c, &f->err),
                   -1);
  testutil_assert_err_contains(&f->err, "--nope: no key [main] nope");
}

static void test_missing_file(void **state)
{
  struct fixture *f = *state;
  assert_int_equal(
      svc_config_load("/nonexistent/x.conf", small_sections, &f->c, &f->err),
      -1);
  testutil_assert_err_contains(&f->err, "cannot read /nonexistent/x.conf");
}

/* ---- the bridge contract's example ---------------------------------- */

struct bridge_template {
  char *name, *oid, *key_usage, *extended_key_usage;
  int validity_days, subject_from;
};

struct bridge_otpce {
  char *path, *ra_cert, *ra_key, *confirm;
  struct svc_cfg_list template, issuing_ca;
};

struct bridge_radius {
  struct svc_cfg_list server;
  char *secret_file, *nas_identifier;
  int timeout_ms, retries;
  bool require_message_authenticator;
};

struct bridge_wstep {
  char *path, *ca_cert, *ca_key, *ket_cert, *confirm;
  struct svc_cfg_list auth;
};

struct bridge_mras {
  struct svc_listen sip_udp, sip_tcp, sip_tls;
  char *http_path, *realm, *digest_users_file, *turn_host, *confirm;
  struct svc_cfg_list digest_algorithm, turn_secret_file;
  int nonce_lifetime, challenge, token_format, location, max_duration;
  unsigned short turn_udp_port, turn_tcp_port;
};

struct bridge_conf {
  struct svc_listen listen;
  char *tls_cert, *tls_key, *public_url, *db;
  bool insecure_http;
  size_t max_body;
  int log_level;
  char *requestor, *token_file, *dispatcher, *ca_file;
  struct svc_listen dns;
  bool owcp_insecure_http;
  int timeout;
  struct svc_cfg_list map, upn_suffix;
  bool otpce_on, radius_on, wstep_on, mras_on;
  struct bridge_otpce otpce;
  struct bridge_radius radius;
  struct bridge_wstep wstep;
  struct bridge_mras mras;
  struct bridge_template *templates;
  size_t template_count;
};

#define B struct bridge_conf
static const struct svc_cfg_key bridge_keys[] = {
    SVC_CFG_LISTEN(B, listen, "listen", SVC_CFG_REQUIRED, NULL, "listener"),
    SVC_CFG_PATH(B, tls_cert, "tls_cert", 0, NULL, "PEM chain"),
    SVC_CFG_SECRET(B, tls_key, "tls_key", 0, "PEM key"),
    SVC_CFG_BOOL(B, insecure_http, "insecure_http", 0, "no", "plain HTTP"),
    SVC_CFG_STRING(B, public_url, "public_url", SVC_CFG_REQUIRED, NULL, "URL"),
    SVC_CFG_STRING(B, db, "db", SVC_CFG_REQUIRED, NULL, "conninfo"),
    SVC_CFG_INT(B, max_body, "max_body", 0, "262144", 1024, 67108864, "bytes"),
    SVC_CFG_ENUM(B, log_level, "log_level", 0, "info", levels, "level"),
    SVC_CFG_KEY_END};

static const struct svc_cfg_key owcp_keys[] = {
    SVC_CFG_STRING(B, requestor, "requestor", SVC_CFG_REQUIRED, NULL, "acct"),
    SVC_CFG_SECRET(B, token_file, "token_file", SVC_CFG_REQUIRED, "token"),
    SVC_CFG_STRING(B, dispatcher, "dispatcher", 0, NULL, "base URL"),
    SVC_CFG_LISTEN(B, dns, "dns", 0, NULL, "resolver"),
    SVC_CFG_PATH(B, ca_file, "ca_file", 0, NULL, "trust anchors"),
    SVC_CFG_BOOL(B, owcp_insecure_http, "insecure_http", 0, "no", "http"),
    SVC_CFG_INT(B, timeout, "timeout", 0, "120", 1, 86400, "seconds"),
    SVC_CFG_KEY_END};

static const struct svc_cfg_key identity_keys[] = {
    SVC_CFG_LIST_OF(B, map, "map", SVC_CFG_REQUIRED, SVC_CFG_T_STRING, NULL,
                    "name -> account"),
    SVC_CFG_LIST_OF(B, upn_suffix, "upn_suffix", 0, SVC_CFG_T_STRING, NULL,
                    "NETBIOS = suffix"),
    SVC_CFG_KEY_END};
#undef B

#define O struct bridge_otpce
static const struct svc_cfg_key otpce_keys[] = {
    SVC_CFG_STRING(O, path, "path", 0, "/otpce", "URL path"),
    SVC_CFG_LIST_OF(O, template, "template", SVC_CFG_REQUIRED, SVC_CFG_T_STRING,
                    NULL, "templates"),
    SVC_CFG_PATH(O, ra_cert, "ra_cert", SVC_CFG_REQUIRED, NULL, "RA cert"),
    SVC_CFG_SECRET(O, ra_key, "ra_key", SVC_CFG_REQUIRED, "RA key"),
    SVC_CFG_LIST_OF(O, issuing_ca, "issuing_ca", SVC_CFG_REQUIRED,
                    SVC_CFG_T_STRING, NULL, "CAs"),
    SVC_CFG_STRING(O, confirm, "confirm", 0, "required", "policy"),
    SVC_CFG_KEY_END};
#undef O

#define R struct bridge_radius
static const struct svc_cfg_key radius_keys[] = {
    SVC_CFG_LIST_OF(R, server, "server", SVC_CFG_REQUIRED, SVC_CFG_T_LISTEN,
                    NULL, "servers"),
    SVC_CFG_SECRET(R, secret_file, "secret_file", SVC_CFG_REQUIRED, "secret"),
    SVC_CFG_INT(R, timeout_ms, "timeout_ms", 0, "2000", 100, 60000, "ms"),
    SVC_CFG_INT(R, retries, "retries", 0, "1", 0, 10, "retries"),
    SVC_CFG_STRING(R, nas_identifier, "nas_identifier", 0, NULL, "NAS id"),
    SVC_CFG_BOOL(R, require_message_authenticator,
                 "require_message_authenticator", 0, "yes", "BlastRADIUS"),
    SVC_CFG_KEY_END};
#undef R

static const char *const auths[] = {"username", "certificate", "anonymous",
                                    NULL};

#define W struct bridge_wstep
static const struct svc_cfg_key wstep_keys[] = {
    SVC_CFG_STRING(W, path, "path", 0, "/wstep", "URL path"),
    SVC_CFG_LIST_OF(W, auth, "auth", SVC_CFG_REQUIRED, SVC_CFG_T_ENUM, auths,
                    "auth methods"),
    SVC_CFG_PATH(W, ca_cert, "ca_cert", SVC_CFG_REQUIRED, NULL, "CA cert"),
    SVC_CFG_SECRET(W, ca_key, "ca_key", SVC_CFG_REQUIRED, "CA key"),
    SVC_CFG_PATH(W, ket_cert, "ket_cert", 0, NULL, "KET"),
    SVC_CFG_STRING(W, confirm, "confirm", 0, "required", "policy"),
    SVC_CFG_KEY_END};
#undef W

static const char *const subject_froms[] = {"upn", "request", NULL};

#define T struct bridge_template
static const struct svc_cfg_key template_keys[] = {
    SVC_CFG_STRING(T, oid, "oid", 0, NULL, "OID"),
    SVC_CFG_INT(T, validity_days, "validity_days", 0, "365", 1, 3650, "days"),
    SVC_CFG_STRING(T, key_usage, "key_usage", 0, NULL, "KU"),
    SVC_CFG_STRING(T, extended_key_usage, "extended_key_usage", 0, NULL, "EKU"),
    SVC_CFG_ENUM(T, subject_from, "subject_from", 0, "upn", subject_froms,
                 "subject"),
    SVC_CFG_KEY_END};
#undef T

static const char *const challenges[] = {"407", "401", NULL};
static const char *const token_formats[] = {"rest", "msturn", NULL};
static const char *const locations[] = {"internet", "intranet", NULL};
static const char *const digests[] = {"MD5", "MD5-sess", NULL};

#define M struct bridge_mras
static const struct svc_cfg_key mras_keys[] = {
    SVC_CFG_LISTEN(M, sip_udp, "sip_udp", 0, NULL, "SIP/UDP"),
    SVC_CFG_LISTEN(M, sip_tcp, "sip_tcp", 0, NULL, "SIP/TCP"),
    SVC_CFG_LISTEN(M, sip_tls, "sip_tls", 0, NULL, "SIP/TLS"),
    SVC_CFG_STRING(M, http_path, "http_path", 0, NULL, "URL path"),
    SVC_CFG_STRING(M, realm, "realm", SVC_CFG_REQUIRED, NULL, "realm"),
    SVC_CFG_SECRET(M, digest_users_file, "digest_users_file", SVC_CFG_REQUIRED,
                   "htdigest"),
    SVC_CFG_LIST_OF(M, digest_algorithm, "digest_algorithm", 0, SVC_CFG_T_ENUM,
                    digests, "algorithms"),
    SVC_CFG_INT(M, nonce_lifetime, "nonce_lifetime", 0, "300", 1, 86400, "s"),
    SVC_CFG_ENUM(M, challenge, "challenge", 0, "407", challenges, "status"),
    SVC_CFG_ENUM(M, token_format, "token_format", 0, "rest", token_formats,
                 "format"),
    SVC_CFG_LIST_OF(M, turn_secret_file, "turn_secret_file", SVC_CFG_REQUIRED,
                    SVC_CFG_T_SECRET, NULL, "TURN secrets"),
    SVC_CFG_STRING(M, turn_host, "turn_host", SVC_CFG_REQUIRED, NULL, "host"),
    SVC_CFG_INT(M, turn_udp_port, "turn_udp_port", 0, "3478", 1, 65535, "p"),
    SVC_CFG_INT(M, turn_tcp_port, "turn_tcp_port", 0, "443", 1, 65535, "p"),
    SVC_CFG_ENUM(M, location, "location", 0, "internet", locations, "where"),
    SVC_CFG_INT(M, max_duration, "max_duration", 0, "480", 1, 1440, "min"),
    SVC_CFG_STRING(M, confirm, "confirm", 0, "required", "policy"),
    SVC_CFG_KEY_END};
#undef M

static const struct svc_cfg_section bridge_sections[] = {
    SVC_CFG_SECTION("bridge", bridge_keys),
    SVC_CFG_SECTION("owcp", owcp_keys),
    SVC_CFG_SECTION("identity", identity_keys),
    SVC_CFG_SECTION_SWITCHED("otpce", otpce_keys, struct bridge_conf, otpce,
                             otpce_on),
    SVC_CFG_SECTION_SWITCHED("radius", radius_keys, struct bridge_conf, radius,
                             radius_on),
    SVC_CFG_SECTION_SWITCHED("wstep", wstep_keys, struct bridge_conf, wstep,
                             wstep_on),
    SVC_CFG_SECTION_TEMPLATE("wstep.template", template_keys,
                             struct bridge_conf, templates, template_count,
                             struct bridge_template, name),
    SVC_CFG_SECTION_SWITCHED("mras", mras_keys, struct bridge_conf, mras,
                             mras_on),
    SVC_CFG_SECTION_END};

static void test_bridge_example(void **state)
{
  struct fixture *f = *state;
  static const char *const secrets[] = {
      "bridge.key",     "bridge.token",  "ra.key",     "radius.secret",
      "issuing-ca.key", "mras.htdigest", "turn.secret"};
  struct bridge_conf b;
  size_t len;
  char path[400], want[600];
  char *text = testutil_data_load("bridge-example.conf", &len);

  for (size_t i = 0; i < sizeof secrets / sizeof *secrets; i++)
    write_mode(f->dir, secrets[i], 0600);
  snprintf(path, sizeof path, "%s/bridge.conf", f->dir);
  testutil_write_file(path, text, len);
  free(text);
  if (svc_config_load(path, bridge_sections, &b, &f->err) != 0)
    fail_msg("%s", f->err.msg);

  char *real = realpath(f->dir, NULL);
  assert_non_null(real);
  assert_string_equal(b.listen.host, "127.0.0.1");
  assert_int_equal(b.listen.port, 8443);
  snprintf(want, sizeof want, "%s/bridge.key", real);
  assert_string_equal(b.tls_key, want);
  assert_false(b.insecure_http);
  assert_string_equal(b.public_url, "https://enroll.example.com:8443");
  assert_string_equal(b.db, "host=/run/postgresql dbname=owcp_bridge");
  assert_int_equal(b.max_body, 262144);
  assert_int_equal(b.log_level, 2);
  assert_string_equal(b.dispatcher, "https://owcp.example.com/owcp/0.1");
  assert_int_equal(b.dns.port, 53);
  assert_int_equal(b.timeout, 120);
  assert_int_equal(b.map.count, 3);
  assert_string_equal(b.map.items[0], "EXAMPLE\\* -> *@example.com");
  assert_string_equal(b.map.items[1], "sip:*@example.com -> *@example.com");
  assert_string_equal(b.upn_suffix.items[0], "EXAMPLE = example.com");
  assert_true(b.otpce_on && b.radius_on && b.wstep_on && b.mras_on);
  assert_string_equal(b.otpce.template.items[0], "1.3.6.1.4.1.311.21.8.1.1");
  assert_string_equal(b.otpce.issuing_ca.items[0],
                      "ca1.example.com\\Example Issuing CA");
  assert_string_equal(b.otpce.confirm, "required");
  assert_string_equal(b.radius.server.items[0], "127.0.0.1:1812");
  assert_int_equal(b.radius.timeout_ms, 2000);
  assert_true(b.radius.require_message_authenticator);
  assert_int_equal(b.wstep.auth.count, 1);
  assert_string_equal(b.wstep.auth.items[0], "username");
  assert_int_equal(b.template_count, 1);
  assert_string_equal(b.templates[0].name, "User");
  assert_string_equal(b.templates[0].oid, "1.3.6.1.4.1.311.21.8.1.2");
  assert_string_equal(b.templates[0].extended_key_usage,
                      "clientAuth, emailProtection");
  assert_int_equal(b.templates[0].subject_from, 0);
  assert_int_equal(b.mras.sip_tls.port, 5061);
  assert_int_equal(b.mras.challenge, 0);
  assert_int_equal(b.mras.token_format, 0);
  assert_int_equal(b.mras.turn_tcp_port, 443);
  assert_string_equal(b.mras.confirm, "cached:480");
  snprintf(want, sizeof want, "%s/turn.secret", real);
  assert_string_equal(b.mras.turn_secret_file.items[0], want);
  free(real);
  svc_config_free(bridge_sections, &b);
  assert_null(b.templates);
  assert_null(b.map.items);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
#define T_(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
      T_(test_values_and_defaults),
      T_(test_values_with_separators),
      T_(test_list_order),
      T_(test_error_unknown_key),
      T_(test_error_unknown_section),
      T_(test_error_bad_integer),
      T_(test_error_out_of_range),
      T_(test_error_bad_enum),
      T_(test_error_bad_bool),
      T_(test_error_bad_listen),
      T_(test_error_duplicate),
      T_(test_error_missing_required),
      T_(test_error_lines),
      T_(test_paths_resolved),
      T_(test_secret_mode),
      T_(test_switched_section),
      T_(test_template_sections),
      T_(test_apply_settings),
      T_(test_missing_file),
      T_(test_bridge_example),
#undef T_
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
