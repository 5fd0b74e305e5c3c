/*
 * radius.h — the enrollment bridge's RADIUS client: one PAP Access-Request
 * (RFC 2865) per one-time-password check, sent to the configured servers
 * in order, and a strict check of every reply datagram.
 *
 * Why our own client instead of a library (docs/enrollment-bridge.md,
 * "RADIUS client"):
 *  - radcli 1.2.11 (Debian 12) accepts a forged Access-Accept: a reply
 *    with an all-zero Response Authenticator gives OK_RC, because the
 *    BADRESP_RC of rc_check_reply() is overwritten by populate_ctx() in
 *    lib/sendserver.c. It must not be used.
 *  - libkrad (MIT krb5) rejects forgeries but sends no Message-Authenticator.
 *  - Our contract ([radius] require_message_authenticator) needs a
 *    Message-Authenticator (attribute 80, HMAC-MD5) in every request and,
 *    with require_message_authenticator = yes, a valid one in every reply:
 *    the BlastRADIUS mitigation (CVE-2024-3596). Neither library does that.
 *
 * What this client does: the Message-Authenticator is the first attribute
 * of every request (BlastRADIUS advice: an attacker's chosen-prefix
 * collision needs control of what precedes it); a reply is taken only when
 * it comes from the server's address and port, has a sane length equal to
 * the datagram's, the request's identifier, a correct Response
 * Authenticator, well-formed attributes and (when present, or required) a
 * correct Message-Authenticator. Anything else is dropped, noted in the
 * result's diagnostics, and the client keeps listening until the try's
 * timeout, so a forged datagram cannot hide the genuine answer.
 *
 * Retransmission: the tries to one server resend the very same packet
 * (same identifier and Request Authenticator, RFC 5080 §2.2.1), so a late
 * answer to an earlier try is still accepted; the next server gets a new
 * packet with a fresh identifier and Request Authenticator.
 *
 * All functions are synchronous (poll()), keep no global state and may be
 * called from several threads at once. Passwords and secrets are never
 * logged; every copy this module makes of them (and every buffer that held
 * key material) is wiped with OPENSSL_cleanse() before it is released.
 */
#ifndef OWCP_BRIDGE_RADIUS_H
#define OWCP_BRIDGE_RADIUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "owcp/util.h"

#define RADIUS_AUTH_LEN 16          /* Request/Response Authenticator */
#define RADIUS_MAX_PACKET 4096      /* RFC 2865 §3: larger is invalid */
#define RADIUS_PASSWORD_MAX 128     /* RFC 2865 §5.2 User-Password */
#define RADIUS_ATTR_VALUE_MAX 253   /* one attribute's value */
#define RADIUS_DIAGNOSTICS_MAX 1024 /* dropped-datagram notes, truncated */

/* RADIUS packet codes (RFC 2865 §3). */
enum radius_code {
  RADIUS_CODE_ACCESS_REQUEST = 1,
  RADIUS_CODE_ACCESS_ACCEPT = 2,
  RADIUS_CODE_ACCESS_REJECT = 3,
  RADIUS_CODE_ACCESS_CHALLENGE = 11,
};

/* Attribute types this client writes or reads. */
enum radius_attr {
  RADIUS_ATTR_USER_NAME = 1,
  RADIUS_ATTR_USER_PASSWORD = 2,
  RADIUS_ATTR_REPLY_MESSAGE = 18,
  RADIUS_ATTR_STATE = 24,
  RADIUS_ATTR_NAS_IDENTIFIER = 32,
  RADIUS_ATTR_MESSAGE_AUTHENTICATOR = 80,
};

/* What the servers said. */
enum radius_outcome {
  RADIUS_ACCEPT,
  RADIUS_REJECT,
  RADIUS_CHALLENGE,
  RADIUS_NO_ANSWER /* no valid reply from any server within its tries */
};

struct radius_server {
  char host[64]; /* IP address or name (resolved at each radius_pap call) */
  unsigned short port;
};

/* Borrowed by radius_pap(); nothing here is copied or freed by it. */
struct radius_config {
  const struct radius_server *servers; /* tried in this order */
  size_t server_count;                 /* ≥ 1 */
  const unsigned char *secret;         /* shared secret, all servers */
  size_t secret_len;                   /* ≥ 1 */
  int timeout_ms;                      /* per try, ≥ 1 */
  int retries;                         /* extra tries per server, ≥ 0 */
  const char *nas_identifier;          /* 1..253 octets */
  bool require_message_authenticator;  /* refuse replies without a valid one */
};

/* One verified reply (radius_reply_check). Reply-Message attributes are
 * concatenated in order (RFC 2865 §5.18 lets a server split one message);
 * the text is also NUL-terminated. */
struct radius_reply {
  uint8_t code; /* enum radius_code: ACCEPT, REJECT or CHALLENGE */
  bool has_message_authenticator;
  char reply_message[RADIUS_MAX_PACKET];
  size_t reply_message_len;
  unsigned char state[RADIUS_ATTR_VALUE_MAX];
  size_t state_len; /* 0: no State attribute */
};

/* The outcome of radius_pap(). For RADIUS_CHALLENGE the bridge must send
 * `state` back unchanged in the next request (not done by this module). */
struct radius_result {
  enum radius_outcome outcome;
  struct radius_reply reply; /* valid unless outcome is RADIUS_NO_ANSWER */
  size_t server_index;       /* which server answered (not NO_ANSWER) */
  unsigned dropped;          /* datagrams refused during this call */
  /* one note per refused datagram or silent server, e.g.
   * "127.0.0.1:1812: dropped: Response Authenticator does not verify";
   * never contains the password or the secret */
  char diagnostics[RADIUS_DIAGNOSTICS_MAX];
};

/* Checks the whole PAP exchange: builds the Access-Request for user (sent
 * exactly as given, e.g. "EXAMPLE\alice") and password (at most
 * RADIUS_PASSWORD_MAX octets), tries each server 1 + retries times with
 * timeout_ms each, and fills *out. Returns 0 with out->outcome set (also
 * for RADIUS_NO_ANSWER), or -1 for a local failure (bad configuration,
 * user or password too long, socket failure) with err set; nothing is sent
 * when the configuration or the input is bad. */
int radius_pap(const struct radius_config *cfg, const char *user,
               const char *password, struct radius_result *out,
               struct owcp_error *err);

/* Builds the Access-Request into pkt (RADIUS_MAX_PACKET bytes) with the
 * given identifier and Request Authenticator: Message-Authenticator first,
 * then User-Name, User-Password (hidden), NAS-Identifier. Sets *len.
 * Exposed for the unit tests; radius_pap() draws id and req_auth from
 * RAND_bytes(). */
int radius_request_encode(const struct radius_config *cfg, const char *user,
                          const char *password, uint8_t id,
                          const unsigned char req_auth[RADIUS_AUTH_LEN],
                          unsigned char pkt[RADIUS_MAX_PACKET], size_t *len,
                          struct owcp_error *err);

/* RFC 2865 §5.2 hiding of password (pw_len ≤ RADIUS_PASSWORD_MAX octets,
 * padded with NULs to a multiple of 16, at least 16) into out, which holds
 * RADIUS_PASSWORD_MAX bytes; sets *out_len. */
int radius_pap_hide(const unsigned char *secret, size_t secret_len,
                    const unsigned char req_auth[RADIUS_AUTH_LEN],
                    const char *password, size_t pw_len,
                    unsigned char out[RADIUS_PASSWORD_MAX], size_t *out_len,
                    struct owcp_error *err);

/* HMAC-MD5 of the len-byte packet pkt keyed with secret, computed with the
 * 16 value bytes at ma_offset taken as zero and, when auth is not NULL,
 * with auth in place of the packet's authenticator field (RFC 3579 §3.2:
 * a reply's Message-Authenticator is computed over the Request
 * Authenticator). */
int radius_message_authenticator(const unsigned char *pkt, size_t len,
                                 size_t ma_offset, const unsigned char *auth,
                                 const unsigned char *secret, size_t secret_len,
                                 unsigned char mac[RADIUS_AUTH_LEN],
                                 struct owcp_error *err);

/* Verifies one reply datagram of len bytes to the request with identifier
 * id and Request Authenticator req_auth; pure (no I/O), for the client, the
 * fuzzer and the unit tests. Returns 0 and fills *out when the datagram is
 * a valid Access-Accept, Access-Reject or Access-Challenge; -1 with err
 * naming the first problem otherwise (*out is then unspecified). */
int radius_reply_check(const unsigned char *pkt, size_t len,
                       const unsigned char req_auth[RADIUS_AUTH_LEN],
                       uint8_t id, const unsigned char *secret,
                       size_t secret_len, bool require_ma,
                       struct radius_reply *out, struct owcp_error *err);

/* "ACCEPT", "REJECT", "CHALLENGE" or "NO_ANSWER". */
const char *radius_outcome_name(enum radius_outcome outcome);

#endif
