/*
 * pamo_summary.h — the `[pam] summary` template: the sentence the user's
 * device shows, e.g. "Log in to %h as %u from %r?". %u is the PAM user,
 * %h this host's name, %s the PAM service, %r the PAM remote host (or
 * "unknown"), %% a percent sign. The values come partly from the network
 * (a remote host name, a user name typed at a prompt), so each is cleaned
 * before it goes into the request (pamo_text_clean).
 */
#ifndef OWCP_PAMO_SUMMARY_H
#define OWCP_PAMO_SUMMARY_H

#include <stddef.h>

#include "owcp/util.h"

/* Longest value substituted for one placeholder (longer ones are cut). */
#define PAMO_VALUE_MAX 128

struct pamo_summary_vars {
  const char *user, *host, *service, *rhost; /* NULL: "unknown" */
};

/* Checks a template: every '%' starts one of %u %h %s %r %%. Returns 0 or
 * -1 with err naming the placeholder. */
int pamo_summary_check(const char *tmpl, struct owcp_error *err);

/* The template with its placeholders replaced by the cleaned values; a
 * new string the caller frees, or NULL with err set. */
char *pamo_summary_expand(const char *tmpl, const struct pamo_summary_vars *v,
                          struct owcp_error *err);

/* A copy of at most max octets of s (NULL: "unknown") in which every octet
 * that is not printable ASCII is '?', so that neither a summary nor a log
 * line can carry control characters, invalid UTF-8 or forged line breaks;
 * caller frees (NULL when memory runs out). */
char *pamo_text_clean(const char *s, size_t max);

#endif
