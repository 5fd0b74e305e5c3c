/*
 * test_bridge_config.c — owcp-bridge's configuration (enrollment-bridge/
 * config.c): the contract's whole example (tests/data/bridge-example.conf)
 * parses into every member; a disabled or absent front needs none of its
 * keys; every cross-key rule refuses, naming file:line and [section] key;
 * secret files readable by others are refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "testutil.h"

struct fixture {
  char dir[256];
  char path[300];
  struct bridge_config c;
  struct owcp_error err;
};

static void write_mode(const char *dir, const char *name, mode_t mode)
{
  char p[400];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  testutil_write_file(p, "x\n", 2);
  assert_int_equal(chmod(p, mode), 0);
}

static int setup(void **state)
{
  static const char *const secrets[] = {
      "bridge.key",     "bridge.token",  "ra.key",      "radius.secret",
      "issuing-ca.key", "mras.htdigest", "turn.secret", "turn2.secret"};
  struct fixture *f = calloc(1, sizeof *f);
  if (f == NULL || testutil_tmpdir_make(f->dir, sizeof f->dir, "bconfig"))
    return -1;
  for (size_t i = 0; i < sizeof secrets / sizeof *secrets; i++)
    write_mode(f->dir, secrets[i], 0600);
  snprintf(f->path, sizeof f->path, "%s/t.conf", f->dir);
  *state = f;
  return 0;
}

static int teardown(void **state)
{
  struct fixture *f = *state;
  bridge_config_free(&f->c);
  int rc = testutil_tmpdir_remove(f->dir);
  free(f);
  return rc;
}

/* The smallest usable file: plain HTTP on loopback, no front. */
#define BASE                                                                   \
  "[bridge]\n"                                                                 \
  "listen = 127.0.0.1:8443\n"                                                  \
  "insecure_http = yes\n"                                                      \
  "db = dbname=owcp_bridge\n"                                                  \
  "[owcp]\n"                                                                   \
  "requestor = enroll@example.com\n"                                           \
  "token_file = bridge.token\n"                                                \
  "dispatcher = http://127.0.0.1:8480/owcp/0.1\n"                              \
  "insecure_http = yes\n"                                                      \
  "[identity]\n"                                                               \
  "map = EXAMPLE\\* -> *@example.com\n"                                        \
  "upn_suffix = EXAMPLE = example.com\n"

/* Lines 1-12 are BASE. */
#define OTPCE                                                                  \
  "[otpce]\n"                                                                  \
  "template = 1.3.6.1.4.1.311.21.8.1.1\n"                                      \
  "ra_cert = ra.pem\n"                                                         \
  "ra_key = ra.key\n"                                                          \
  "issuing_ca = ca1.example.com\\Example Issuing CA\n"

#define RADIUS                                                                 \
  "[radius]\n"                                                                 \
  "server = 127.0.0.1:1812\n"                                                  \
  "secret_file = radius.secret\n"

static int load(struct fixture *f, const char *text)
{
  bridge_config_free(&f->c);
  testutil_write_file(f->path, text, strlen(text));
  memset(&f->err, 0, sizeof f->err);
  return bridge_config_load(f->path, &f->c, &f->err);
}

/* Expects text to fail with a message containing want (after "t.conf"). */
static void expect_error(struct fixture *f, const char *text, const char *want)
{
  assert_int_equal(load(f, text), -1);
  testutil_assert_err_contains(&f->err, "t.conf");
  testutil_assert_err_contains(&f->err, want);
  assert_null(f->c.db); /* nothing half-loaded */
}

static void test_contract_example(void **state)
{
  struct fixture *f = *state;
  size_t len;
  char path[400];
  char *text = testutil_data_load("bridge-example.conf", &len);
  snprintf(path, sizeof path, "%s/bridge.conf", f->dir);
  testutil_write_file(path, text, len);
  free(text);
  if (bridge_config_load(path, &f->c, &f->err) != 0)
    fail_msg("%s", f->err.msg);
  const struct bridge_config *c = &f->c;
  assert_int_equal(c->listen.port, 8443);
  assert_false(c->insecure_http);
  assert_string_equal(c->public_url, "https://enroll.example.com:8443");
  assert_int_equal(c->max_body, 262144);
  assert_int_equal(c->log_level, 2);
  assert_string_equal(c->requestor, "enroll@example.com");
  assert_string_equal(c->dns_text, "127.0.0.1:53");
  assert_int_equal(c->timeout, 120);
  assert_int_equal(c->idmap.rule_count, 3);
  assert_int_equal(c->idmap.suffix_count, 1);
  assert_true(c->otpce_on && c->radius_on && c->wstep_on && c->mras_on);
  assert_string_equal(c->otpce.path, "/otpce");
  assert_int_equal(c->otpce.policy.mode, CONFIRM_MODE_REQUIRED);
  assert_int_equal(c->radius.server.count, 1);
  assert_string_equal(c->radius.servers[0].host, "127.0.0.1");
  assert_int_equal(c->radius.servers[0].port, 1812);
  assert_int_equal(c->radius.timeout_ms, 2000);
  assert_int_equal(c->radius.retries, 1);
  assert_string_equal(c->radius.nas_identifier, "owcp-bridge");
  assert_true(c->radius.require_message_authenticator);
  assert_true(c->wstep.auth_username);
  assert_int_equal(c->template_count, 1);
  assert_string_equal(c->templates[0].name, "User");
  assert_int_equal(c->templates[0].validity_days, 365);
  assert_int_equal(c->mras.policy.mode, CONFIRM_MODE_CACHED);
  assert_int_equal(c->mras.policy.minutes, 480);
  assert_int_equal(c->mras.sip_tls.port, 5061);
  assert_int_equal(c->mras.challenge, 0);
  assert_int_equal(c->mras.max_duration, 480);
}

static void test_minimal_and_disabled_fronts(void **state)
{
  struct fixture *f = *state;
  assert_int_equal(load(f, BASE), 0);
  assert_false(f->c.otpce_on || f->c.radius_on || f->c.wstep_on ||
               f->c.mras_on);
  /* A disabled front needs none of its keys, nor [radius]. */
  assert_int_equal(load(f, BASE "[otpce]\nenabled = no\n"
                                "[wstep]\nenabled = no\n"
                                "[mras]\nenabled = no\n"),
                   0);
  assert_false(f->c.otpce_on);
  /* Enabled, it needs them. */
  expect_error(f, BASE "[otpce]\nenabled = yes\n",
               "[otpce] template: required but not given");
  assert_int_equal(load(f, BASE OTPCE RADIUS), 0);
  assert_true(f->c.otpce_on);
  assert_int_equal(f->c.otpce.policy.mode, CONFIRM_MODE_REQUIRED);
  assert_string_equal(f->c.otpce.path, "/otpce");
}

static void test_rule_tls(void **state)
{
  struct fixture *f = *state;
  expect_error(f,
               "[bridge]\nlisten = 127.0.0.1:1\ndb = x\ntls_key = ra.key\n"
               "[owcp]\nrequestor = a@example.com\ntoken_file = bridge.token\n"
               "[identity]\nmap = * -> *@example.com\n",
               "t.conf:4: [bridge] tls_key: needs tls_cert too");
  expect_error(f,
               "[bridge]\nlisten = 127.0.0.1:1\ndb = x\n"
               "[owcp]\nrequestor = a@example.com\ntoken_file = bridge.token\n"
               "[identity]\nmap = * -> *@example.com\n",
               "t.conf: [bridge] insecure_http: give tls_cert and tls_key");
  expect_error(f,
               "[bridge]\nlisten = 192.0.2.1:1\ndb = x\ninsecure_http = yes\n"
               "[owcp]\nrequestor = a@example.com\ntoken_file = bridge.token\n"
               "[identity]\nmap = * -> *@example.com\n",
               "t.conf:4: [bridge] insecure_http: allowed only on a loopback "
               "listen address, not 192.0.2.1");
}

static void test_rule_radius_needed(void **state)
{
  struct fixture *f = *state;
  expect_error(f, BASE OTPCE, "[radius]: required (and enabled) by [otpce]");
  expect_error(f, BASE OTPCE "[radius]\nenabled = no\n",
               "[radius]: required (and enabled) by [otpce]");
  expect_error(f,
               BASE "[bridge]\npublic_url = https://e.example.com\n"
                    "[wstep]\nauth = certificate\nauth = username\n"
                    "ca_cert = ca.pem\nca_key = issuing-ca.key\n"
                    "[wstep.template.User]\n",
               "[radius]: required (and enabled) by [wstep] auth = username");
  /* certificate auth alone needs no [radius] */
  assert_int_equal(load(f, BASE "[wstep]\nauth = certificate\n"
                                "ca_cert = ca.pem\nca_key = issuing-ca.key\n"
                                "[wstep.template.User]\n"
                                "[bridge]\npublic_url = https://e.example\n"),
                   0);
  assert_false(f->c.wstep.auth_username);
  assert_string_equal(f->c.templates[0].key_usage,
                      "digitalSignature, keyEncipherment");
}

static void test_rule_radius_servers(void **state)
{
  struct fixture *f = *state;
  assert_int_equal(load(f,
                        BASE OTPCE RADIUS "server = radius.example.com:1645\n"
                                          "server = [::1]:1812\n"),
                   0);
  assert_int_equal(f->c.radius.server.count, 3);
  assert_string_equal(f->c.radius.servers[1].host, "radius.example.com");
  assert_int_equal(f->c.radius.servers[1].port, 1645);
  assert_string_equal(f->c.radius.servers[2].host, "::1");
  expect_error(f, BASE OTPCE RADIUS "server = ::1:1812\n",
               "t.conf:21: [radius] server: must be HOST:PORT");
  expect_error(f, BASE OTPCE RADIUS "server = 127.0.0.1\n",
               "t.conf:21: [radius] server: must be HOST:PORT");
  expect_error(f, BASE OTPCE RADIUS "server = 127.0.0.1:0\n",
               "t.conf:21: [radius] server");
  expect_error(f, BASE OTPCE RADIUS "retries = 11\n",
               "t.conf:21: [radius] retries: must be an integer between 0");
}

static void test_rule_identity(void **state)
{
  struct fixture *f = *state;
  expect_error(f, BASE "[identity]\nmap = no arrow here\n",
               "t.conf:14: [identity] map:");
  expect_error(f, BASE "[identity]\nupn_suffix = EXAMPLE = other.example\n",
               "t.conf:14: [identity] upn_suffix:");
}

static void test_rule_confirm(void **state)
{
  struct fixture *f = *state;
  expect_error(f, BASE OTPCE RADIUS "[otpce]\nconfirm = cached:0\n",
               "t.conf:22: [otpce] confirm:");
  expect_error(f, BASE OTPCE RADIUS "[otpce]\nconfirm = sometimes\n",
               "t.conf:22: [otpce] confirm:");
  assert_int_equal(load(f, BASE OTPCE RADIUS "[otpce]\nconfirm = cached:30\n"),
                   0);
  assert_int_equal(f->c.otpce.policy.mode, CONFIRM_MODE_CACHED);
  assert_int_equal(f->c.otpce.policy.minutes, 30);
  assert_int_equal(load(f, BASE OTPCE RADIUS "[otpce]\nconfirm = off\n"), 0);
  assert_int_equal(f->c.otpce.policy.mode, CONFIRM_MODE_OFF);
}

static void test_rule_paths(void **state)
{
  struct fixture *f = *state;
  expect_error(f, BASE OTPCE RADIUS "[otpce]\npath = otpce\n",
               "t.conf:22: [otpce] path: must be a URL path");
  expect_error(f, BASE OTPCE RADIUS "[otpce]\npath = /metrics\n",
               "t.conf:22: [otpce] path: must be a URL path");
  expect_error(f,
               BASE OTPCE RADIUS "[otpce]\npath = /enroll\n"
                                 "[mras]\nhttp_path = /enroll\nrealm = r\n"
                                 "digest_users_file = mras.htdigest\n"
                                 "turn_secret_file = turn.secret\n"
                                 "turn_host = turn.example.com\n",
               "t.conf:24: [mras] http_path: /enroll is [otpce] path already");
}

static void test_rule_wstep(void **state)
{
  struct fixture *f = *state;
#define WSTEP                                                                  \
  "[wstep]\nauth = certificate\nca_cert = ca.pem\nca_key = issuing-ca.key\n"
  expect_error(f, BASE "[bridge]\npublic_url = https://e.example\n" WSTEP,
               "[wstep]: needs at least one [wstep.template.NAME]");
  expect_error(f, BASE WSTEP "[wstep.template.User]\n",
               "[bridge] public_url: required by [wstep]");
  expect_error(f, BASE "[bridge]\npublic_url = https://e.example/\n",
               "t.conf:14: [bridge] public_url: must be an http:// or "
               "https:// URL without a trailing slash");
  expect_error(f,
               BASE "[bridge]\npublic_url = https://e.example\n" WSTEP
                    "[wstep.template.User]\noid = 1.3.x\n",
               "t.conf:20: [wstep.template.User] oid: must be a dotted OID");
  expect_error(f,
               BASE "[bridge]\npublic_url = https://e.example\n" WSTEP
                    "[wstep.template.User]\nkey_usage = digitalSignature, "
                    "cRLSign\n",
               "t.conf:20: [wstep.template.User] key_usage: unknown key "
               "usage 'cRLSign'");
  expect_error(f,
               BASE "[bridge]\npublic_url = https://e.example\n" WSTEP
                    "[wstep.template.User]\nextended_key_usage = anyThing\n",
               "[wstep.template.User] extended_key_usage: unknown extended");
  assert_int_equal(
      load(f, BASE "[bridge]\npublic_url = https://e.example\n" WSTEP
                   "[wstep.template.User]\n"
                   "extended_key_usage = clientAuth, 1.3.6.1.4.1.311.20.2.2\n"
                   "subject_from = request\n"),
      0);
  assert_int_equal(f->c.templates[0].subject_from, 1);
#undef WSTEP
}

static void test_rule_mras(void **state)
{
  struct fixture *f = *state;
#define MRAS                                                                   \
  "[mras]\nrealm = example.com\ndigest_users_file = mras.htdigest\n"           \
  "turn_secret_file = turn.secret\nturn_host = turn.example.com\n"
  expect_error(f, BASE MRAS,
               "[mras]: needs at least one of sip_udp, sip_tcp, sip_tls or "
               "http_path");
  expect_error(f, BASE MRAS "sip_tls = 127.0.0.1:5061\n",
               "t.conf:18: [mras] sip_tls: needs [bridge] tls_cert and "
               "tls_key");
  expect_error(f, BASE MRAS "sip_udp = 127.0.0.1:5060\ntoken_format = msturn\n",
               "t.conf:19: [mras] token_format: msturn needs two");
  assert_int_equal(load(f, BASE MRAS "sip_udp = 127.0.0.1:5060\n"
                                     "token_format = msturn\n"
                                     "turn_secret_file = turn2.secret\n"),
                   0);
  assert_int_equal(f->c.mras.token_format, 1);
  assert_int_equal(f->c.mras.policy.mode, CONFIRM_MODE_REQUIRED);
#undef MRAS
}

static void test_secret_mode(void **state)
{
  struct fixture *f = *state;
  write_mode(f->dir, "open.key", 0644);
  expect_error(f, BASE "[otpce]\nra_key = open.key\n",
               "t.conf:14: [otpce] ra_key: secret file");
  testutil_assert_err_contains(&f->err, "has mode 0644");
  write_mode(f->dir, "group.token", 0640);
  expect_error(f, "[owcp]\ntoken_file = group.token\n",
               "t.conf:2: [owcp] token_file: secret file");
}

static void test_unknown_key_and_section(void **state)
{
  struct fixture *f = *state;
  expect_error(f, BASE "[otpce]\ntemplates = 1.2.3\n",
               "t.conf:14: [otpce] templates: unknown key");
  expect_error(f, BASE "[scep]\n", "t.conf:13: [scep]: unknown section");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_contract_example, setup, teardown),
      cmocka_unit_test_setup_teardown(test_minimal_and_disabled_fronts, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_rule_tls, setup, teardown),
      cmocka_unit_test_setup_teardown(test_rule_radius_needed, setup, teardown),
      cmocka_unit_test_setup_teardown(test_rule_radius_servers, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_rule_identity, setup, teardown),
      cmocka_unit_test_setup_teardown(test_rule_confirm, setup, teardown),
      cmocka_unit_test_setup_teardown(test_rule_paths, setup, teardown),
      cmocka_unit_test_setup_teardown(test_rule_wstep, setup, teardown),
      cmocka_unit_test_setup_teardown(test_rule_mras, setup, teardown),
      cmocka_unit_test_setup_teardown(test_secret_mode, setup, teardown),
      cmocka_unit_test_setup_teardown(test_unknown_key_and_section, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
