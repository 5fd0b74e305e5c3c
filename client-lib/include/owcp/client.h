/*
 * owcp/client.h — libowcp-client: what a confirmation application on a
 * user's device needs to take part in OWCP (spec §5, §6): register the
 * device for an account (CD-Register by enrollment code, by approval of an
 * existing device, or open self-subscription), list pending requests
 * (CD-List with long-poll), render them for the user, answer them with a
 * signed receipt (CD-Reply), and deregister (CD-Deregister).
 *
 * Device approvals use number matching (spec §5): the new device is given
 * two digits (owcp_register_params.on_match) that its user reads out to
 * the approving device; there, a request with owcp_view.needs_match can
 * be accepted only with those digits typed by the user
 * (owcp_client_reply_match), which go into the signed receipt; a wrong
 * number ends the approval as rejected. Any request may be answered "Not
 * Me" (OWCP_ANSWER_NOT_ME): the user did not start it; the dispatcher
 * records a fraud report and blocks that requestor from the account for
 * a while.
 *
 * The secure path is the only path:
 *  - The device key (P-256) is generated here and never leaves the device.
 *    For an account registered with a PIN it is stored only encrypted
 *    (PKCS#8, scrypt, AES-256) under that PIN, so no receipt can be signed
 *    without it; wrong PINs are counted in the state directory and the key
 *    is erased (locked for good) after max_pin_failures of them.
 *  - A request naming <Verification>PIN</Verification> can be accepted or
 *    rejected only by an account that has a PIN; any other method, or PIN on
 *    an account registered without one, is answered Refuse with Reason
 *    "Unknown Verification Type", whatever the user chose.
 *  - The receipt covers exactly the Request bytes of the struct
 *    owcp_pending that was rendered: callers render and reply with the same
 *    object, nothing is ever re-serialised.
 *  - State (accounts, client ids, bearer tokens, certificates, keys) lives
 *    in one directory (0700) in one file (0600), replaced atomically; a
 *    directory or file with group/other permissions is refused. Tokens are
 *    never printed or put into error messages.
 *
 * Conventions (as libowcp-core, owcp/util.h): functions return 0 on success
 * and a negative value on failure with one sentence in *err (which may be
 * NULL). Objects returned through out parameters belong to the caller and
 * are released with the matching _free/_close function named at each
 * declaration. A struct owcp_client is not thread-safe (one per thread);
 * several processes may share one state directory.
 */
#ifndef OWCP_CLIENT_H
#define OWCP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "owcp/render.h"
#include "owcp/util.h"

/* Returned instead of -1 when the PIN was wrong (the attempt was counted). */
#define OWCP_CLIENT_BAD_PIN (-2)
/* Returned when the account's key is locked after too many wrong PINs. */
#define OWCP_CLIENT_LOCKED (-3)

/* The reason sent with Refuse for a method this client cannot perform. */
#define OWCP_CLIENT_UNKNOWN_VERIFICATION "Unknown Verification Type"

/* The reason sent with Refuse when the user did not start the request. */
#define OWCP_CLIENT_NOT_ME "Not Me"

/* Default number of wrong PINs before the key is locked. */
#define OWCP_CLIENT_DEFAULT_MAX_PIN_FAILURES 5u

struct owcp_client_config {
  /* State directory; NULL: $XDG_CONFIG_HOME/owcp-client, else
   * $HOME/.config/owcp-client. */
  const char *state_dir;
  /* Manual dispatcher base ("https://host/owcp/0.1"); NULL: the base saved
   * at registration, else DNS discovery for the account's domain. */
  const char *dispatcher;
  /* DNS servers for discovery ("127.0.0.1:5353"); NULL: resolv.conf. */
  const char *dns_servers;
  /* Extra TLS trust anchors (PEM file); NULL: the system store. */
  const char *ca_file;
  /* Allow http:// dispatchers on loopback addresses (tests only). */
  bool allow_insecure_http;
};

struct owcp_client;

/* Opens a client on the state directory (created 0700 when missing; refused
 * when it grants group/other access). cfg is copied. Release with
 * owcp_client_close. */
int owcp_client_open(const struct owcp_client_config *cfg,
                     struct owcp_client **out, struct owcp_error *err);

/* Releases the client; NULL is fine. */
void owcp_client_close(struct owcp_client *c);

/* The state directory in use (borrowed from c). */
const char *owcp_client_state_dir(const struct owcp_client *c);

/* ---- registration ---------------------------------------------------- */

struct owcp_register_params {
  const char *account;     /* local@domain */
  const char *description; /* device name shown to other devices */
  /* Enrollment code; NULL: approval by an existing device (the dispatcher
   * answers 202 and the call polls) or open self-subscription (200). */
  const char *code;
  /* PIN protecting the device key; NULL: no PIN (the account then Refuses
   * every request that names PIN verification). */
  const char *pin;
  unsigned max_pin_failures; /* 0: OWCP_CLIENT_DEFAULT_MAX_PIN_FAILURES */
  int approval_timeout_s;    /* how long to poll an approval; 0: 600 */
  int poll_interval_ms;      /* between approval polls; 0: 1000 */
  /* Called once with the approval transaction when the dispatcher answers
   * 202 (e.g. to tell the user to approve on another device); may be NULL. */
  void (*on_pending)(const char *transaction, void *arg);
  void *arg;
  /* Called once, right after on_pending, with the two digits ("Match")
   * the user must type on the approving device: show them. May be NULL
   * (then the approval cannot succeed unless shown some other way). */
  void (*on_match)(const char *transaction, const char *match, void *arg);
};

/* Generates the device key, sends CD-Register and, on 200, checks the
 * issued certificate (chains to the returned CA, carries this key and this
 * account) and saves the account (a previous registration of the same
 * account on this device is replaced). Without a code a 202 is polled
 * (repeating CD-Register with its Transaction) until 200, 403 (the other
 * device rejected it, or was given the wrong number), 408 (expired) or the
 * timeout; a 202 without two digits in Match is refused. */
int owcp_client_register(struct owcp_client *c,
                         const struct owcp_register_params *p,
                         struct owcp_error *err);

/* The accounts registered on this device into *accounts (an array of *n
 * strings; release with owcp_client_accounts_free). */
int owcp_client_accounts(struct owcp_client *c, char ***accounts, size_t *n,
                         struct owcp_error *err);

/* Releases what owcp_client_accounts returned. */
void owcp_client_accounts_free(char **accounts, size_t n);

/* True when account was registered with a PIN; false when it was not or is
 * unknown. */
bool owcp_client_account_has_pin(struct owcp_client *c, const char *account);

/* CD-Deregister of this device's client for account, then removes the
 * account (token, key, certificates) from the state directory. When the
 * dispatcher already forgot the client (401/404) the local state is
 * removed too. */
int owcp_client_deregister(struct owcp_client *c, const char *account,
                           struct owcp_error *err);

/* ---- pending requests -------------------------------------------------- */

/* One CD-List entry. request holds the exact Request bytes the dispatcher
 * stored; render and reply with this same object. */
struct owcp_pending {
  char *transaction;
  char *from;
  char *type; /* or NULL */
  char *issued;
  char *expires;
  char *request;
  size_t request_len;
};

struct owcp_pending_list {
  size_t count;
  struct owcp_pending *items;
};

/* CD-List for account; wait_s > 0 long-polls (an empty list is held open up
 * to that many seconds). Release *out with owcp_pending_list_free. */
int owcp_client_list(struct owcp_client *c, const char *account, int wait_s,
                     struct owcp_pending_list *out, struct owcp_error *err);

/* Releases the items and zeroes *l. */
void owcp_pending_list_free(struct owcp_pending_list *l);

/* The entry for transaction, or NULL (borrowed from l). */
const struct owcp_pending *owcp_pending_find(const struct owcp_pending_list *l,
                                             const char *transaction);

/* What the user must be shown and asked for one pending request. Every
 * string is terminal-safe (owcp_render_string / owcp_render_text rules:
 * controls, escapes and bidi overrides neutralised): show these, never the
 * raw members of struct owcp_pending. */
struct owcp_view {
  char *text;     /* owcp_render_request of the exact bytes (barcodes drawn) */
  bool needs_pin; /* a reply must be signed with the PIN-protected key */
  /* The first <Verification> this account cannot perform, or NULL; when
   * set, any reply is sent as Refuse "Unknown Verification Type". */
  char *unsupported;
  char *transaction; /* the dispatcher's transaction identifier */
  char *from;    /* CD-List From: the requestor the dispatcher vouches for */
  char *expires; /* CD-List Expires */
  char *summary; /* the request's <Summary> on one line */
  /* A device approval (type "Registration"): accepting it needs the two
   * digits the new device shows, typed by the user
   * (owcp_client_reply_match). */
  bool needs_match;
};

/* Validates p->request (schema and limits; its <To> must be account,
 * domain compared case-insensitively), renders it and works out what a
 * reply needs for account. Release *out with owcp_view_clear. */
int owcp_client_view(struct owcp_client *c, const char *account,
                     const struct owcp_pending *p, enum owcp_render_mode mode,
                     struct owcp_view *out, struct owcp_error *err);

/* Frees the members and zeroes *v. */
void owcp_view_clear(struct owcp_view *v);

/* ---- replying ------------------------------------------------------------ */

enum owcp_answer {
  OWCP_ANSWER_ACCEPT,
  OWCP_ANSWER_REJECT,
  OWCP_ANSWER_REFUSE, /* what was sent when a method was unsupported */
  OWCP_ANSWER_NOT_ME  /* Refuse with Reason "Not Me": a fraud report */
};

/* Answers p for account (checked as owcp_client_view checks it, so a
 * request addressed to another account is never signed): performs the
 * verification the request names
 * (unlocking the key with pin when the account has one), signs the spec §6
 * receipt over p->request exactly and sends CD-Reply. When the request
 * names a method this account cannot perform, Refuse with Reason
 * "Unknown Verification Type" is sent instead of answer. *sent (may be
 * NULL) receives what was sent. Returns 0 when the dispatcher accepted the
 * reply; OWCP_CLIENT_BAD_PIN / OWCP_CLIENT_LOCKED (nothing sent); -1
 * otherwise, e.g. "already answered" (409) or "expired" (408).
 * OWCP_ANSWER_NOT_ME sends Refuse with Reason "Not Me" (also when a method
 * is unsupported). Accepting a device approval (owcp_view.needs_match)
 * needs owcp_client_reply_match(); here it fails with nothing sent. */
int owcp_client_reply(struct owcp_client *c, const char *account,
                      const struct owcp_pending *p, enum owcp_answer answer,
                      const char *pin, enum owcp_answer *sent,
                      struct owcp_error *err);

/* owcp_client_reply() for a device approval: match is the two digits the
 * user typed (what the new device shows), signed into the receipt with an
 * Accept; ignored for other answers, and refused (nothing sent) on a
 * request that is not a device approval. Not two digits: -1, nothing
 * sent. A wrong number is sent: the dispatcher then ends the approval as
 * rejected and this returns -1 naming it. */
int owcp_client_reply_match(struct owcp_client *c, const char *account,
                            const struct owcp_pending *p,
                            enum owcp_answer answer, const char *pin,
                            const char *match, enum owcp_answer *sent,
                            struct owcp_error *err);

/* "Accept", "Reject" or "Refuse" (also for OWCP_ANSWER_NOT_ME). */
const char *owcp_answer_name(enum owcp_answer a);

#endif
