/*
 * owcp/idmap.h — user-name mapping: how a user name a protocol carries
 * (`EXAMPLE\alice`, `sip:alice@example.com`, a UPN, a PAM user) becomes the
 * OWCP account that is asked to confirm, and which UPN suffix belongs to a
 * Windows NetBIOS domain. The enrollment bridge's `[identity]` section
 * (every front: OTPCE, WSTEP, MRAS) and the PAM module's `[pam] account`
 * rules share it, so both read `PATTERN -> TEMPLATE` the same way; pure
 * (no I/O). The INI layer hands over the value
 * strings of the `map` and `upn_suffix` keys in file order.
 *
 * Rules (`map = PATTERN -> TEMPLATE`):
 *  - the value is split at its first "->"; both sides are trimmed of spaces
 *    and tabs and must not be empty or contain control characters;
 *  - each side holds at most one '*', and either both sides hold one or
 *    neither does: a starred pattern with a fixed template would map every
 *    matching user onto one account, which is never what a rule means;
 *  - the template, with the star replaced by a sample name, must be a valid
 *    OWCP account, so that a typo is refused when the file is read;
 *  - the pattern is compared ASCII-case-insensitively (Windows and SIP
 *    domain parts are case-insensitive); '*' matches one or more octets,
 *    which are copied into the template exactly as received (no case
 *    folding: an OWCP local part is case-sensitive, and folding could land
 *    on another account);
 *  - a captured part must not contain '@' or '\' (it would smuggle a
 *    second domain into the result, e.g. `EXAMPLE\bob@evil.com`) nor any
 *    control character;
 *  - the first rule whose pattern matches decides. When its capture is
 *    refused, or the result is not a valid account (owcp_account_normalize:
 *    dot-atom local part, LDH domain), the name is unmapped: later rules are
 *    not tried, because falling through to a broader rule would map a name
 *    the administrator meant to handle with this one.
 */
#ifndef OWCP_IDMAP_H
#define OWCP_IDMAP_H

#include <stdbool.h>
#include <stddef.h>

#include "owcp/util.h"

/* One `map` rule. All strings owned by the rule. */
struct idmap_rule {
  char *pattern;  /* left side, trimmed */
  char *template; /* right side, trimmed */
  bool has_star;  /* both sides hold one '*' */
  size_t p_star;  /* offset of '*' in pattern (when has_star) */
  size_t t_star;  /* offset of '*' in template (when has_star) */
};

/* One `upn_suffix` entry. All strings owned by the entry. */
struct idmap_suffix {
  char *netbios; /* as written, 1..15 characters */
  char *suffix;  /* a DNS domain, lowercased */
};

/* The whole section. Zero-initialise, fill with idmap_add_*, release with
 * idmap_clear(). */
struct idmap {
  struct idmap_rule *rules;
  size_t rule_count;
  struct idmap_suffix *suffixes;
  size_t suffix_count;
};

/* Parses one `map` value into *out (released with idmap_rule_clear()).
 * Returns 0, or -1 with err naming what is wrong. */
int idmap_rule_parse(const char *value, struct idmap_rule *out,
                     struct owcp_error *err);

/* Releases what a parsed rule owns and zeroes it. */
void idmap_rule_clear(struct idmap_rule *rule);

/* Appends one `map` value (in file order: first match wins). */
int idmap_add_rule(struct idmap *m, const char *value, struct owcp_error *err);

/* Appends one `upn_suffix` value `NETBIOS = suffix`; a NetBIOS name given
 * twice (compared case-insensitively) is refused. */
int idmap_add_upn_suffix(struct idmap *m, const char *value,
                         struct owcp_error *err);

/* Releases everything m owns and zeroes it. */
void idmap_clear(struct idmap *m);

/* Maps a protocol user name to an OWCP account. On success *account is a
 * new normalised account the caller frees. Returns -1 with err saying why
 * when the name is unmapped (no rule matches, the capture is refused, or
 * the result is not an account); *account is then NULL. */
int idmap_map(const struct idmap *m, const char *name, char **account,
              struct owcp_error *err);

/* The UPN suffix configured for the NetBIOS domain netbios[0..len)
 * (compared case-insensitively), or NULL. Owned by m. */
const char *idmap_upn_suffix(const struct idmap *m, const char *netbios,
                             size_t len);

/* True when a[0..alen) and b[0..blen) are equal with ASCII letters compared
 * case-insensitively; other octets (UTF-8 included) compare exactly.
 * Independent of the process locale. */
bool idmap_ascii_iequal(const char *a, size_t alen, const char *b, size_t blen);

#endif
