/* [pam] account values as idmap rules; see pamo_account.h. */
#include "pamo_account.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The rule "* -> T" for the template tmpl (T: tmpl with %u replaced by
 * '*'); caller frees. NULL with err set when tmpl is not a template. */
static char *template_rule(const char *tmpl, struct owcp_error *err)
{
  const char *u = strstr(tmpl, "%u");
  if (u == NULL || strstr(u + 2, "%u") != NULL) {
    owcp_error_set(err,
                   "account '%s': a template must hold %%u exactly once "
                   "(or write a rule PATTERN -> TEMPLATE)",
                   tmpl);
    return NULL;
  }
  const char *pct = strchr(tmpl, '%');
  if (strchr(tmpl, '*') != NULL || pct != u || strchr(u + 1, '%') != NULL) {
    owcp_error_set(err,
                   "account '%s': a template may hold no '*' and no '%%' "
                   "other than %%u",
                   tmpl);
    return NULL;
  }
  int head = (int)(u - tmpl);
  size_t n = strlen("* -> ") + strlen(tmpl) - 1; /* "%u" becomes '*' */
  char *rule = malloc(n + 1);
  if (rule == NULL) {
    owcp_error_set(err, "out of memory");
    return NULL;
  }
  snprintf(rule, n + 1, "* -> %.*s*%s", head, tmpl, u + 2);
  return rule;
}

int pamo_account_add(struct idmap *m, const char *value, struct owcp_error *err)
{
  if (strstr(value, "->") != NULL)
    return idmap_add_rule(m, value, err);
  char *rule = template_rule(value, err);
  if (rule == NULL)
    return -1;
  struct owcp_error why;
  int rc = idmap_add_rule(m, rule, &why);
  if (rc != 0)
    owcp_error_set(err, "account '%s': %s", value, why.msg);
  free(rule);
  return rc;
}
