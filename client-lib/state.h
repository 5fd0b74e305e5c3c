/*
 * state.h (internal to libowcp-client) — the client's state directory and
 * the device keys kept in it.
 *
 * Layout: DIR (0700, owned by the user) holds state.json (0600), replaced
 * atomically with owcp_file_write_atomic (write, fsync, rename, fsync dir),
 * and state.lock, an flock(2) lock taken around every read-modify-write so
 * that two owcp-client processes (e.g. `watch` and `reply`) never lose each
 * other's updates. A directory or file that grants any group/other
 * permission, or belongs to another user, is refused: it would expose
 * bearer tokens and key material.
 *
 * Ownership: owcp_state_load's result is freed with owcp_state_free; every
 * string in it is owned by the state. Tokens and keys are wiped before
 * they are freed.
 */
#ifndef OWCP_CLIENT_STATE_H
#define OWCP_CLIENT_STATE_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/evp.h>

#include "owcp/util.h"

/* Returned when the account's key is locked after too many wrong PINs. */
#define OWCP_KEYSTORE_LOCKED (-3)
/* Default number of wrong PINs after which a key is locked. */
#define OWCP_KEYSTORE_DEFAULT_MAX_FAILURES 5u
/* Largest state file read (many accounts, each with two certificates). */
#define OWCP_STATE_MAX_BYTES ((size_t)4 * 1024 * 1024)

/* One registered account of this device. */
struct owcp_account_state {
  char *account;     /* local@domain */
  char *description; /* the device description sent in CD-Register */
  char *dispatcher;  /* manual base used at registration, or NULL */
  char *client;      /* Client identifier */
  char *token;       /* bearer token: secret, never printed */
  char *cert_b64;    /* client certificate, base64 DER */
  char *ca_b64;      /* client CA certificate, base64 DER */
  bool pin;          /* the key is encrypted under a PIN */
  char *key_pem;     /* PKCS#8 PEM (encrypted iff pin); NULL once locked */
  unsigned failures; /* consecutive wrong PINs */
  unsigned max_failures;
};

struct owcp_state {
  size_t count;
  struct owcp_account_state *accounts;
};

/* Makes dir (mode 0700) when missing, then checks it: a directory owned by
 * this user with no group/other permission bits. */
int owcp_state_dir_prepare(const char *dir, struct owcp_error *err);

/* Takes the exclusive lock of dir (blocking); *fd receives the lock to pass
 * to owcp_state_unlock. */
int owcp_state_lock(const char *dir, int *fd, struct owcp_error *err);

/* Releases a lock taken by owcp_state_lock (fd < 0 is fine). */
void owcp_state_unlock(int fd);

/* Reads DIR/state.json into *out (an empty state when the file does not
 * exist), after checking dir and file permissions. Caller frees with
 * owcp_state_free. */
int owcp_state_load(const char *dir, struct owcp_state **out,
                    struct owcp_error *err);

/* Writes st to DIR/state.json atomically with mode 0600. The caller holds
 * the lock (owcp_state_lock): temporary files left by writers that died
 * before their rename are removed afterwards. */
int owcp_state_save(const char *dir, const struct owcp_state *st,
                    struct owcp_error *err);

/* Wipes secrets and frees st; NULL is fine. */
void owcp_state_free(struct owcp_state *st);

/* The entry for account (exact match), or NULL. Borrowed from st. */
struct owcp_account_state *owcp_state_find(struct owcp_state *st,
                                           const char *account);

/* The entry for account like owcp_state_find, but a missing one is an
 * error: NULL with err saying the account is not registered. */
struct owcp_account_state *owcp_state_get(struct owcp_state *st,
                                          const char *account,
                                          struct owcp_error *err);

/* Appends a copy of a (every string duplicated); an existing entry for the
 * same account is replaced. */
int owcp_state_put(struct owcp_state *st, const struct owcp_account_state *a,
                   struct owcp_error *err);

/* Removes account's entry; 0 when it was there, -1 (err set) when not. */
int owcp_state_remove(struct owcp_state *st, const char *account,
                      struct owcp_error *err);

/* Wipes and frees the members of a (not a itself). */
void owcp_account_state_clear(struct owcp_account_state *a);

/* ---- device keys (keystore.c) ------------------------------------------ */

/* Generates a P-256 device key. With pin (non-empty) *pem receives it
 * encrypted (PKCS#8, scrypt, AES-256-CBC); with pin NULL unencrypted. Both
 * *key and *pem belong to the caller (EVP_PKEY_free / free). */
int owcp_keystore_create(const char *pin, EVP_PKEY **key, char **pem,
                         struct owcp_error *err);

/* Unlocks account's key in dir for signing, under the state lock. For a
 * PIN-protected key the failure counter is raised and saved *before* the
 * decryption is tried (killing the process mid-attempt cannot dodge the
 * count) and reset to zero on success. Returns 0 with *key (caller
 * frees); OWCP_ERR_BAD_PIN for a wrong PIN; OWCP_KEYSTORE_LOCKED when the key
 * was already locked or this failure reached the limit (the encrypted key
 * is then erased from the state: only re-registration helps); -1
 * otherwise (including a PIN-protected key with pin NULL). An unencrypted
 * key ignores pin. */
int owcp_keystore_unlock(const char *dir, const char *account, const char *pin,
                         EVP_PKEY **key, struct owcp_error *err);

#endif
