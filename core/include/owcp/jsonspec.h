/*
 * owcp/jsonspec.h — declarative parsing of an operation's JSON parameters
 * (binding §§4–5) into a C struct, in the spirit of GNU Taler's
 * GNUNET_JSON_Specification but smaller: each operation declares one table
 * of owcp_param_spec entries, and owcp_params_parse() validates a request
 * object against it (types, ranges, lengths, allowed values, unknown and
 * missing parameters) and fills the caller's struct, or fails with one
 * sentence naming the offending parameter.
 *
 * Also here: account validation (binding §1) and the glue that turns an
 * application/owcp-multipart body (binding §8) into the same JSON object a
 * plain application/json body would have been.
 *
 * Example:
 *   struct rd_confirm_in { char *request; int64_t timeout; char *completion; };
 *   static const struct owcp_param_spec rd_confirm_params[] = {
 *     OWCP_PARAM_STRING("Request", struct rd_confirm_in, request,
 *                       OWCP_REQUIRED, 65536),
 *     OWCP_PARAM_INT("Timeout", struct rd_confirm_in, timeout,
 *                    OWCP_DEFAULT(300), 1, 86400),
 *     OWCP_PARAM_STRING("Completion", struct rd_confirm_in, completion,
 *                       OWCP_OPTIONAL, 2048),
 *     OWCP_PARAM_END};
 *   struct rd_confirm_in in;
 *   if (owcp_params_parse(body, rd_confirm_params, &in, &err) != 0) ...
 *   ...
 *   owcp_params_free(rd_confirm_params, &in);
 *
 * Rules common to every table:
 *  - parameters not in the table are rejected ("unknown parameter 'Foo'");
 *  - JSON null is a wrong type, not an absent parameter;
 *  - strings are UTF-8 (jansson guarantees it) and may not contain NUL;
 *    length limits count octets, not characters;
 *  - the macros check at compile time that each struct member has the C type
 *    its parameter type fills (listed at each macro).
 */
#ifndef OWCP_JSONSPEC_H
#define OWCP_JSONSPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "owcp/util.h"

/* Longest account accepted (RFC 5321 path limit minus the angle brackets). */
#define OWCP_ACCOUNT_MAX 254

/* owcp_params_parse() returns this instead of -1 when the problem is a
 * value over its size limit (a string, an array's item count, an array
 * item, decoded base64), so that the dispatcher can answer 413 (binding §2:
 * an XML Request over its limit is 413) rather than 400. Callers that only
 * test for non-zero treat it as any other failure. */
#define OWCP_PARAMS_TOO_LARGE (-2)

enum owcp_param_type {
  OWCP_PT_END = 0,      /* terminates a table */
  OWCP_PT_STRING,       /* char *, a copy */
  OWCP_PT_INT,          /* int64_t, within [min, max] */
  OWCP_PT_BOOL,         /* bool */
  OWCP_PT_ENUM,         /* int, index into `allowed` */
  OWCP_PT_STRING_ARRAY, /* char ** (NULL-terminated copies) + size_t count */
  OWCP_PT_BASE64,       /* unsigned char * (decoded copy) + size_t length */
  OWCP_PT_ACCOUNT,      /* char *, normalised copy (see owcp_account_...) */
  OWCP_PT_OBJECT        /* const json_t *, BORROWED from the parsed object */
};

/* One parameter. Write tables with the OWCP_PARAM_* macros below rather
 * than filling this in by hand. */
struct owcp_param_spec {
  const char *name;  /* JSON member name; NULL ends the table */
  size_t offset;     /* of the value member in the output struct */
  size_t aux_offset; /* size_t count (arrays) or length (base64) member */
  int64_t def;       /* INT value, BOOL 0/1, ENUM index */
  size_t present_offset;
  int64_t min, max;           /* INT range, inclusive */
  size_t max_len;             /* octets: string, array item, decoded base64 */
  size_t max_count;           /* array items */
  const char *const *allowed; /* ENUM: NULL-terminated allowed strings */
  /* The narrow members last, so that the struct has no padding holes. */
  enum owcp_param_type type;
  bool required;
  bool has_default; /* optional scalar: `def` when absent */
  bool has_present; /* optional: set a bool member when present */
};

/* Presence, the fourth argument of every OWCP_PARAM_* macro:
 *  OWCP_REQUIRED         — absent is an error;
 *  OWCP_OPTIONAL         — absent leaves pointers NULL and counts 0, and
 *                          scalars 0/false (an ENUM index -1);
 *  OWCP_DEFAULT(v)       — optional INT/BOOL/ENUM reading as v when absent;
 *  OWCP_PRESENT(T, flag) — optional; bool member `flag` of T says whether the
 *                          parameter was sent (absent values as OPTIONAL). */
#define OWCP_REQUIRED .required = true
#define OWCP_OPTIONAL .required = false
#define OWCP_DEFAULT(v) .required = false, .has_default = true, .def = (v)
#define OWCP_PRESENT(T, flag)                                                  \
  .required = false, .has_present = true,                                      \
  .present_offset = OWCP_PARAM_MEMBER_(T, flag, bool)

/* offsetof(T, m), refusing to compile unless m has type `ctype`: the
 * _Generic has no other association and no default, so a member of any
 * other type leaves it without a match, which is a compile-time error.
 * Its controlling expression is never evaluated, so the table stays a
 * static initializer; it takes the member's address rather than reading
 * it through the null pointer, the offsetof idiom static analyzers know. */
#define OWCP_PARAM_MEMBER_(T, m, ctype)                                        \
  _Generic(&((T *)0)->m, ctype * : offsetof(T, m))

/* char *m: a copy of a string of at most max_len octets. */
#define OWCP_PARAM_STRING(name_, T, m, presence, max_len_)                     \
  {                                                                            \
    .name = (name_), .type = OWCP_PT_STRING,                                   \
    .offset = OWCP_PARAM_MEMBER_(T, m, char *), presence,                      \
    .max_len = (max_len_)                                                      \
  }

/* int64_t m: an integer in [min_, max_] (JSON reals such as 1.0 refused). */
#define OWCP_PARAM_INT(name_, T, m, presence, min_, max_)                      \
  {                                                                            \
    .name = (name_), .type = OWCP_PT_INT,                                      \
    .offset = OWCP_PARAM_MEMBER_(T, m, int64_t), presence, .min = (min_),      \
    .max = (max_)                                                              \
  }

/* bool m: JSON true or false. */
#define OWCP_PARAM_BOOL(name_, T, m, presence)                                 \
  {                                                                            \
    .name = (name_), .type = OWCP_PT_BOOL,                                     \
    .offset = OWCP_PARAM_MEMBER_(T, m, bool), presence                         \
  }

/* int m: the index in `allowed_` (a NULL-terminated array of strings,
 * matched exactly, case-sensitively) of the string sent. */
#define OWCP_PARAM_ENUM(name_, T, m, presence, allowed_)                       \
  {                                                                            \
    .name = (name_), .type = OWCP_PT_ENUM,                                     \
    .offset = OWCP_PARAM_MEMBER_(T, m, int), presence, .allowed = (allowed_)   \
  }

/* char **m (NULL-terminated array of copies) and size_t count_m: an array of
 * at most max_count_ strings of at most max_len_ octets each. */
#define OWCP_PARAM_STRINGS(name_, T, m, count_m, presence, max_count_,         \
                           max_len_)                                           \
  {                                                                            \
    .name = (name_), .type = OWCP_PT_STRING_ARRAY,                             \
    .offset = OWCP_PARAM_MEMBER_(T, m, char **),                               \
    .aux_offset = OWCP_PARAM_MEMBER_(T, count_m, size_t), presence,            \
    .max_count = (max_count_), .max_len = (max_len_)                           \
  }

/* unsigned char *m and size_t len_m: standard base64 (strict, see
 * owcp_base64_decode) decoding to 1..max_len_ octets. */
#define OWCP_PARAM_BASE64(name_, T, m, len_m, presence, max_len_)              \
  {                                                                            \
    .name = (name_), .type = OWCP_PT_BASE64,                                   \
    .offset = OWCP_PARAM_MEMBER_(T, m, unsigned char *),                       \
    .aux_offset = OWCP_PARAM_MEMBER_(T, len_m, size_t), presence,              \
    .max_len = (max_len_)                                                      \
  }

/* char *m: an account local@domain, normalised (owcp_account_normalize). */
#define OWCP_PARAM_ACCOUNT(name_, T, m, presence)                              \
  {                                                                            \
    .name = (name_), .type = OWCP_PT_ACCOUNT,                                  \
    .offset = OWCP_PARAM_MEMBER_(T, m, char *), presence,                      \
    .max_len = OWCP_ACCOUNT_MAX                                                \
  }

/* const json_t *m: a JSON object, borrowed — valid only while the object
 * passed to owcp_params_parse() is alive; not released by
 * owcp_params_free(). */
#define OWCP_PARAM_OBJECT(name_, T, m, presence)                               \
  {                                                                            \
    .name = (name_), .type = OWCP_PT_OBJECT,                                   \
    .offset = OWCP_PARAM_MEMBER_(T, m, const json_t *), presence               \
  }

#define OWCP_PARAM_END                                                         \
  {                                                                            \
    .name = NULL, .type = OWCP_PT_END                                          \
  }

/* Validates `obj` against the table `spec` and fills the struct `out`.
 * Every member named by the table is overwritten (previous contents are
 * not freed); on success the caller releases the copies with
 * owcp_params_free(). Returns 0 on success; on failure releases whatever
 * it had filled in (members are left NULL/0), sets err to one sentence
 * naming the parameter, and returns OWCP_PARAMS_TOO_LARGE when a value
 * exceeded its length limit or -1 for any other problem. */
int owcp_params_parse(const json_t *obj, const struct owcp_param_spec *spec,
                      void *out, struct owcp_error *err);

/* Releases every copy owcp_params_parse() made into `out` and resets those
 * members to NULL/0. Safe on a zeroed struct and safe to call twice. */
void owcp_params_free(const struct owcp_param_spec *spec, void *out);

/* Checks that text[0..len) is an account `local@domain` (binding §1), kept
 * deliberately simpler and stricter than RFC 2822: exactly one '@'; a local
 * part of 1–64 octets of dot-atom text (atext atoms separated by single
 * dots); a domain of LDH labels (letters, digits, '-', not at either end of
 * a label, 1–63 octets each) separated by single dots, with no trailing
 * dot (a single label such as "localhost" is allowed); at most
 * OWCP_ACCOUNT_MAX octets in all. No quoted strings, comments, domain
 * literals or non-ASCII. On success *out is a new NUL-terminated copy with
 * the domain lowercased (the local part is case-sensitive) that the caller
 * frees. */
int owcp_account_normalize(const char *text, size_t len, char **out,
                           struct owcp_error *err);

/* Turns an application/owcp-multipart body into the parameter object:
 * segment 1 must be application/json holding a JSON object (duplicate keys
 * refused); each later segment must be application/xml, which sets
 * "Request" to its octets as a string (valid UTF-8, no NUL), or
 * application/pkcs7-mime, which sets "Receipt" to the base64 of its octets.
 * A segment that would set a parameter already present, a segment without
 * a Content-Type or Data, and any other Content-Type are refused;
 * Content-IDs are ignored. On success *out is a new reference the caller
 * owns (json_decref); on failure it is NULL. */
int owcp_params_from_multipart(const unsigned char *body, size_t len,
                               json_t **out, struct owcp_error *err);

#endif
