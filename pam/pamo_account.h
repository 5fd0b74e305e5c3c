/*
 * pamo_account.h — how a PAM user becomes the OWCP account that is asked
 * to confirm: the `[pam] account` values, each either a template holding
 * %u once ("%u@example.com") or a rule "PATTERN -> TEMPLATE" with the
 * enrollment bridge's `[identity] map` syntax (owcp/idmap.h). Both kinds
 * become idmap rules (a template T is the rule "* -> T with * for %u"), so
 * one ordered list decides: the first value that matches wins, and a user
 * it cannot map is refused without any request being sent.
 */
#ifndef OWCP_PAMO_ACCOUNT_H
#define OWCP_PAMO_ACCOUNT_H

#include "owcp/idmap.h"
#include "owcp/util.h"

/* Appends one `account` value to m (in file order). A template must hold
 * %u exactly once and no other '%' or '*'. Returns 0, or -1 with err
 * naming the value and what is wrong. */
int pamo_account_add(struct idmap *m, const char *value,
                     struct owcp_error *err);

#endif
