/*
 * mras.h — the MRAS front (contract §4 MRAS, docs/enrollment-bridge.md
 * "MRAS"): TURN credentials over SIP SERVICE (mras_sip.c: transactions,
 * Digest, the 501/415 checks) and over HTTPS at `[mras] http_path`
 * (mras_http.c: HTTP Basic against the same HA1), both ending in one
 * operation (mras_service.c: identities mapped through `[identity]` to the
 * authenticated account, the confirmation per `[mras] confirm`, waited for
 * at most MRAS_WAIT_S, credentials minted and recorded).
 *
 * The front's state is one struct mras_front, owned by the process's
 * struct bridge (b->mras) from mras_front_start() to mras_front_stop().
 */
#ifndef OWCP_BRIDGE_MRAS_H
#define OWCP_BRIDGE_MRAS_H

#include <stddef.h>

#include "context.h"
#include "digest.h"
#include "mras_xml.h"
#include "owcp/service/http.h"

/* SIP gives up on a transaction after 32 s (64 x T1): the user's answer
 * is awaited at most this long, then Time Out (the question stays open). */
#define MRAS_WAIT_S 30

struct mras_front;

/* Loads the user file and the TURN secrets, recovers the MRAS
 * confirmations a previous process left pending, and starts the SIP
 * listeners (b->waiters and b->pool must be up). NULL with err. */
struct mras_front *mras_front_start(struct bridge *b, struct owcp_error *err);

/* SIGHUP: re-reads the TURN secrets (as configured now in `paths`) and
 * the SIP TLS certificate. 0, or -1 with err (what could not be read is
 * kept as it was). */
int mras_front_reload(struct mras_front *m, const char *const *paths,
                      size_t count, struct owcp_error *err);

/* Stops the SIP listeners (waits end at once) and frees. NULL is fine. */
void mras_front_stop(struct mras_front *m);

/* The SIP listener ports (for the start log line); 0 when none. */
unsigned short mras_front_port(const struct mras_front *m, const char *which);

/* The user file (HA1 values) and the nonce key. */
const struct digest_users *mras_front_users(const struct mras_front *m);
const struct digest_key *mras_front_key(const struct mras_front *m);

/* The operation: body (an MRAS request) from the authenticated account.
 * Returns the reasonPhrase answered, with *xml (caller frees) and *len the
 * response document; NULL *xml only when out of memory. transport names
 * the front in logs ("SIP/UDP", "HTTP"). */
enum mras_reason mras_serve(struct bridge *b, const char *account,
                            const char *transport, const char *body, size_t len,
                            char **xml, size_t *xml_len);

/* The SIP handler (sip_transport.h's sip_handler; app is the bridge). */
struct sip_source;
void mras_sip_handle(void *app, const struct sip_source *src, const char *msg,
                     size_t len);

/* POST {[mras] http_path}. */
enum MHD_Result mras_http(struct svc_request *req);

#endif
