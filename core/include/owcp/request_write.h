/*
 * owcp/request_write.h — the one writer of the OWCP XML <Request> (binding
 * spec §9): the requestor library builds its RD-Confirm documents with it
 * and the dispatcher its device-approval requests, so both send the same
 * kind of bytes and no component pastes XML by hand.
 *
 * The writer escapes through libxml2's xmlTextWriter and refuses, with a
 * sentence naming the field, what XML or the schema cannot carry. It does
 * not run the schema: a caller validates the result with
 * owcp_request_parse() before sending it (owcp_request_build() and the
 * dispatcher do), which is where document size and depth limits live.
 *
 * Ownership as in owcp/util.h: inputs are borrowed; on success *xml is a
 * malloc()ed, NUL-terminated document the caller frees, *len its length.
 */
#ifndef OWCP_REQUEST_WRITE_H
#define OWCP_REQUEST_WRITE_H

#include <stdbool.h>
#include <stddef.h>

#include "owcp/request.h"
#include "owcp/util.h"

/* Serialises req (the same structure owcp_request_parse() produces) as an
 * OWCP XML <Request> document. header.identifier NULL: a random
 * "urn:owcp:" identifier is generated; header.issued NULL: the current UTC
 * time is written; header.type NULL: no type attribute. Refused (-1, *xml
 * NULL and *len 0) with a sentence naming the field: a missing
 * From/To/Summary, From or To not an account, text that is not UTF-8 or
 * holds a control character other than tab, CR and LF, a Money currency
 * that is not three ASCII letters or an amount that is not a decimal
 * ("-12.50"), B/I/U nested too deep, a barcode whose data length does not
 * fit its dimensions. Returns 0 on success. */
int owcp_request_write(const struct owcp_request *req, char **xml, size_t *len,
                       struct owcp_error *err);

/* The common case in one call: a Request from `from` to `to` of the given
 * type (NULL: none) whose Summary is the plain `summary` text, followed by
 * a Money span when currency is not NULL (amount then required), with a
 * PIN <Verification> when pin is true, issued now. identifier NULL: random.
 * Same checks and ownership as owcp_request_write(). */
int owcp_request_write_simple(const char *from, const char *to,
                              const char *type, const char *identifier,
                              const char *summary, const char *currency,
                              const char *amount, bool pin, char **xml,
                              size_t *len, struct owcp_error *err);

#endif
