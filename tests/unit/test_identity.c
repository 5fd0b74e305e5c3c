/* core/idmap.c (owcp/idmap.h): rule parsing, first match, case rules, captures,
 * unmapped, and the NetBIOS -> UPN suffix list. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "owcp/idmap.h"
#include "testutil.h"

static void add_rules(struct idmap *m, const char *const *rules)
{
  struct owcp_error err;
  for (size_t i = 0; rules[i] != NULL; i++)
    assert_int_equal(idmap_add_rule(m, rules[i], &err), 0);
}

static void expect_map(const struct idmap *m, const char *name,
                       const char *want)
{
  char *account = NULL;
  struct owcp_error err;
  assert_int_equal(idmap_map(m, name, &account, &err), 0);
  assert_string_equal(account, want);
  free(account);
}

static void expect_unmapped(const struct idmap *m, const char *name,
                            const char *why)
{
  char *account = NULL;
  struct owcp_error err;
  assert_int_equal(idmap_map(m, name, &account, &err), -1);
  assert_null(account);
  testutil_assert_err_contains(&err, why);
}

static const char *const spec_rules[] = {
    "EXAMPLE\\* -> *@example.com", "sip:*@example.com -> *@example.com",
    "*@example.com -> *@example.com", NULL};

static void test_spec_rules(void **state)
{
  struct idmap m = {0};
  add_rules(&m, spec_rules);
  expect_map(&m, "EXAMPLE\\alice", "alice@example.com");
  expect_map(&m, "sip:bob@example.com", "bob@example.com");
  expect_map(&m, "carol@example.com", "carol@example.com");
  idmap_clear(&m);
}

static void test_left_side_case_insensitive(void **state)
{
  struct idmap m = {0};
  add_rules(&m, spec_rules);
  expect_map(&m, "example\\alice", "alice@example.com");
  expect_map(&m, "SIP:bob@EXAMPLE.COM", "bob@example.com");
  /* the capture is copied as received: no case folding */
  expect_map(&m, "Example\\Alice", "Alice@example.com");
  idmap_clear(&m);
}

static void test_first_match_wins(void **state)
{
  struct idmap m = {0};
  const char *const rules[] = {"EXAMPLE\\admin -> root@example.com",
                               "EXAMPLE\\* -> *@example.com",
                               "EXAMPLE\\* -> *@other.example", NULL};
  add_rules(&m, rules);
  expect_map(&m, "EXAMPLE\\admin", "root@example.com");
  expect_map(&m, "EXAMPLE\\ADMIN", "root@example.com");
  expect_map(&m, "EXAMPLE\\eve", "eve@example.com");
  idmap_clear(&m);
}

static void test_capture_rules(void **state)
{
  struct idmap m = {0};
  add_rules(&m, spec_rules);
  /* '@' would bring its own domain; the first matching rule decides, so
   * the broader third rule is not tried. */
  expect_unmapped(&m, "EXAMPLE\\bob@evil.com", "must not contain '@'");
  expect_unmapped(&m, "sip:a\\b@example.com", "must not contain '@', '\\'");
  expect_unmapped(&m, "EXAMPLE\\a\tb", "control characters");
  /* the star needs at least one octet */
  expect_unmapped(&m, "EXAMPLE\\", "matches no identity map rule");
  /* a capture that is no dot-atom local part */
  expect_unmapped(&m, "EXAMPLE\\a b", "not a valid OWCP account");
  idmap_clear(&m);
}

static void test_unmapped(void **state)
{
  struct idmap m = {0};
  add_rules(&m, spec_rules);
  expect_unmapped(&m, "OTHER\\alice", "matches no identity map rule");
  expect_unmapped(&m, "alice@example.org", "matches no identity map rule");
  expect_unmapped(&m, "", "matches no identity map rule");
  struct idmap empty = {0};
  expect_unmapped(&empty, "EXAMPLE\\alice", "matches no identity map rule");
  idmap_clear(&m);
}

static void expect_bad_rule(const char *value, const char *why)
{
  struct idmap_rule r;
  struct owcp_error err;
  assert_int_equal(idmap_rule_parse(value, &r, &err), -1);
  testutil_assert_err_contains(&err, why);
  assert_null(r.pattern);
}

static void test_rule_parse(void **state)
{
  struct idmap_rule r;
  struct owcp_error err;
  assert_int_equal(
      idmap_rule_parse("  EXAMPLE\\*\t->  *@Example.COM ", &r, &err), 0);
  assert_string_equal(r.pattern, "EXAMPLE\\*");
  assert_string_equal(r.template, "*@Example.COM");
  assert_true(r.has_star);
  assert_int_equal(r.p_star, 8);
  assert_int_equal(r.t_star, 0);
  idmap_rule_clear(&r);

  expect_bad_rule("EXAMPLE\\* *@example.com", "not PATTERN -> TEMPLATE");
  expect_bad_rule(" -> a@example.com", "pattern is empty");
  expect_bad_rule("a ->", "template is empty");
  expect_bad_rule("*\\* -> *@example.com", "at most one '*'");
  expect_bad_rule("EXAMPLE\\* -> helpdesk@example.com", "on both sides");
  expect_bad_rule("admin -> *@example.com", "on both sides");
  expect_bad_rule("EXAMPLE\\* -> *", "gives no account");
  expect_bad_rule("EXAMPLE\\* -> *@exa mple.com", "gives no account");
  expect_bad_rule("EXA\x01MPLE\\* -> *@example.com", "control character");
}

static void test_upn_suffix(void **state)
{
  struct idmap m = {0};
  struct owcp_error err;
  assert_int_equal(idmap_add_upn_suffix(&m, "EXAMPLE = Example.COM", &err), 0);
  assert_int_equal(idmap_add_upn_suffix(&m, "corp=corp.example.org", &err), 0);
  assert_string_equal(idmap_upn_suffix(&m, "example", 7), "example.com");
  assert_string_equal(idmap_upn_suffix(&m, "CORP", 4), "corp.example.org");
  assert_null(idmap_upn_suffix(&m, "OTHER", 5));
  assert_null(idmap_upn_suffix(&m, "EXAMPL", 6));

  assert_int_equal(idmap_add_upn_suffix(&m, "Example = x.example", &err), -1);
  testutil_assert_err_contains(&err, "given twice");
  assert_int_equal(idmap_add_upn_suffix(&m, "EXAMPLE example.com", &err), -1);
  testutil_assert_err_contains(&err, "not NETBIOS = suffix");
  assert_int_equal(idmap_add_upn_suffix(&m, "A\\B = example.com", &err), -1);
  testutil_assert_err_contains(&err, "NetBIOS domain must be");
  assert_int_equal(
      idmap_add_upn_suffix(&m, "SIXTEENCHARSLONG = example.com", &err), -1);
  testutil_assert_err_contains(&err, "1 to 15");
  assert_int_equal(idmap_add_upn_suffix(&m, "X = a@example.com", &err), -1);
  testutil_assert_err_contains(&err, "is not a DNS domain");
  assert_int_equal(idmap_add_upn_suffix(&m, "X = exa_mple.com", &err), -1);
  testutil_assert_err_contains(&err, "is not a DNS domain");
  assert_int_equal(m.suffix_count, 2);
  idmap_clear(&m);
}

static void test_ascii_iequal(void **state)
{
  assert_true(idmap_ascii_iequal("AbC", 3, "aBc", 3));
  assert_false(idmap_ascii_iequal("abc", 3, "abd", 3));
  assert_false(idmap_ascii_iequal("abc", 3, "ab", 2));
  /* non-ASCII octets compare exactly (no locale-dependent folding) */
  assert_false(idmap_ascii_iequal("\xc3\xa9", 2, "\xc3\x89", 2));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_spec_rules),
      cmocka_unit_test(test_left_side_case_insensitive),
      cmocka_unit_test(test_first_match_wins),
      cmocka_unit_test(test_capture_rules),
      cmocka_unit_test(test_unmapped),
      cmocka_unit_test(test_rule_parse),
      cmocka_unit_test(test_upn_suffix),
      cmocka_unit_test(test_ascii_iequal),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
