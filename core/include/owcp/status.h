/*
 * owcp/status.h — the OWCP status codes and their phrases (binding §3), and
 * the JSON skeleton every response carries: {"Status": n, "Text": "...",
 * ["Error": "..."]}. The codes equal the HTTP status of the response.
 *
 * The X-macro OWCP_STATUS_TABLE is the single source of truth: the enum
 * and the phrase lookup are both generated from it, so they cannot drift.
 */
#ifndef OWCP_STATUS_H
#define OWCP_STATUS_H

#include <jansson.h>

/* X(enumerator, code, phrase) for every status of binding §3. */
#define OWCP_STATUS_TABLE(X)                                                   \
  X(OWCP_OK, 200, "Success")                                                   \
  X(OWCP_INCOMPLETE, 202, "Incomplete")                                        \
  X(OWCP_BAD_REQUEST, 400, "Bad Request")                                      \
  X(OWCP_NOT_AUTHENTICATED, 401, "Not Authenticated")                          \
  X(OWCP_REFUSED, 403, "Refused")                                              \
  X(OWCP_NOT_FOUND, 404, "Not Found")                                          \
  X(OWCP_TIMEOUT, 408, "Timeout")                                              \
  X(OWCP_CONFLICT, 409, "Conflict")                                            \
  X(OWCP_TOO_LARGE, 413, "Too Large")                                          \
  X(OWCP_UNSUPPORTED_MEDIA_TYPE, 415, "Unsupported Media Type")                \
  X(OWCP_TOO_MANY_REQUESTS, 429, "Too Many Requests")                          \
  X(OWCP_INTERNAL_ERROR, 500, "Internal Error")                                \
  X(OWCP_UNAVAILABLE, 503, "Unavailable")

#define OWCP_STATUS_ENUM_(name, code, text) name = (code),
enum owcp_status { OWCP_STATUS_TABLE(OWCP_STATUS_ENUM_) };
#undef OWCP_STATUS_ENUM_

/* The phrase of a status ("Success" for 200), or NULL when `status` is not
 * an OWCP status — callers that relay a peer's Status use this to reject
 * codes the protocol does not define. The string is static. */
const char *owcp_status_text(int status);

/* A new JSON object {"Status": status, "Text": phrase} plus "Error":
 * error_or_null when that is non-NULL (one sentence naming the offending
 * field). An error that is not valid UTF-8 because it was truncated
 * mid-character is cut back to its last whole character; one that is
 * otherwise invalid is replaced by a fixed sentence saying so. Returns a new
 * reference the caller owns (json_decref), or NULL when `status` is not an
 * OWCP status or memory runs out. */
json_t *owcp_status_json(int status, const char *error_or_null);

#endif
