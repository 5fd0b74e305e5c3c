/*
 * keystore.c — device keys: created on the device, kept encrypted under the
 * PIN when the account uses PIN verification, and locked after too many
 * wrong PINs (see state.h).
 */
#include "state.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/pem.h>

#include "owcp/keys.h"

/* Unencrypted PKCS#8 PEM of key (caller frees), for accounts without PIN. */
static char *plain_pem(EVP_PKEY *key, struct owcp_error *err)
{
  BIO *bio = BIO_new(BIO_s_secmem());
  char *pem = NULL;
  char *data = NULL;
  long len;

  if (bio == NULL ||
      PEM_write_bio_PKCS8PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) != 1) {
    owcp_error_set_ssl(err, "cannot encode the device key");
    BIO_free(bio);
    return NULL;
  }
  len = BIO_get_mem_data(bio, &data);
  if (len > 0 && (pem = malloc((size_t)len + 1)) != NULL) {
    memcpy(pem, data, (size_t)len);
    pem[len] = '\0';
  } else {
    owcp_error_set(err, "out of memory");
  }
  BIO_free(bio);
  return pem;
}

int owcp_keystore_create(const char *pin, EVP_PKEY **key, char **pem,
                         struct owcp_error *err)
{
  *key = NULL;
  *pem = NULL;
  if (pin != NULL && pin[0] == '\0') {
    owcp_error_set(err, "the PIN must not be empty");
    return -1;
  }
  EVP_PKEY *k = owcp_key_new(err);
  if (k == NULL)
    return -1;
  char *text =
      pin != NULL ? owcp_key_encrypt_pem(k, pin, err) : plain_pem(k, err);
  if (text == NULL) {
    EVP_PKEY_free(k);
    return -1;
  }
  *key = k;
  *pem = text;
  return 0;
}

/* Parses an unencrypted PEM key and requires P-256 (caller frees). */
static EVP_PKEY *plain_load(const char *pem, struct owcp_error *err)
{
  BIO *bio = BIO_new_mem_buf(pem, -1);
  EVP_PKEY *key =
      bio != NULL ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;

  BIO_free(bio);
  if (key == NULL) {
    owcp_error_set_ssl(err, "the stored device key cannot be read");
    return NULL;
  }
  if (owcp_key_check_p256(key, err) != 0) {
    EVP_PKEY_free(key);
    return NULL;
  }
  return key;
}

/* Loads the state under the lock and finds account's entry. */
static int locked_entry(const char *dir, const char *account,
                        struct owcp_state **st, struct owcp_account_state **a,
                        struct owcp_error *err)
{
  if (owcp_state_load(dir, st, err) != 0)
    return -1;
  *a = owcp_state_get(*st, account, err);
  return *a != NULL ? 0 : -1;
}

/* Counts one more attempt and saves it before the PIN is tried, so that
 * killing the process during the (slow) scrypt cannot dodge the count. */
static int count_attempt(const char *dir, struct owcp_state *st,
                         struct owcp_account_state *a, struct owcp_error *err)
{
  a->failures++;
  return owcp_state_save(dir, st, err);
}

/* Erases the encrypted key, so the account stays locked whatever happens
 * to the counter later (only re-registration helps). */
static int lock_out(const char *dir, struct owcp_state *st,
                    struct owcp_account_state *a, struct owcp_error *err)
{
  if (a->key_pem != NULL) {
    OPENSSL_cleanse(a->key_pem, strlen(a->key_pem));
    free(a->key_pem);
    a->key_pem = NULL;
  }
  if (owcp_state_save(dir, st, err) != 0)
    return -1;
  owcp_error_set(err,
                 "the device key of '%s' is locked after %u wrong PINs; "
                 "deregister and register this device again",
                 a->account, a->max_failures);
  return OWCP_KEYSTORE_LOCKED;
}

/* The PIN path of owcp_keystore_unlock; the caller holds the lock. */
static int pin_unlock(const char *dir, struct owcp_state *st,
                      struct owcp_account_state *a, const char *pin,
                      EVP_PKEY **key, struct owcp_error *err)
{
  if (a->key_pem == NULL || a->failures >= a->max_failures)
    return lock_out(dir, st, a, err);
  if (pin == NULL || pin[0] == '\0') {
    owcp_error_set(err, "the device key of '%s' needs its PIN", a->account);
    return -1;
  }
  if (count_attempt(dir, st, a, err) != 0)
    return -1;
  int rc = owcp_key_decrypt_pem(a->key_pem, strlen(a->key_pem), pin, key, err);
  if (rc == OWCP_ERR_BAD_PIN) {
    if (a->failures >= a->max_failures)
      return lock_out(dir, st, a, err);
    owcp_error_set(err, "wrong PIN for '%s' (%u of %u attempts used)",
                   a->account, a->failures, a->max_failures);
    return OWCP_ERR_BAD_PIN;
  }
  if (rc != 0)
    return -1;
  a->failures = 0;
  if (owcp_state_save(dir, st, err) != 0) {
    EVP_PKEY_free(*key);
    *key = NULL;
    return -1;
  }
  return 0;
}

int owcp_keystore_unlock(const char *dir, const char *account, const char *pin,
                         EVP_PKEY **key, struct owcp_error *err)
{
  struct owcp_state *st = NULL;
  struct owcp_account_state *a = NULL;
  int fd = -1;
  int rc = -1;

  *key = NULL;
  if (owcp_state_lock(dir, &fd, err) != 0)
    return -1;
  if (locked_entry(dir, account, &st, &a, err) == 0) {
    if (a->pin) {
      rc = pin_unlock(dir, st, a, pin, key, err);
    } else if (a->key_pem == NULL) {
      owcp_error_set(err, "the device key of '%s' is missing", account);
    } else {
      *key = plain_load(a->key_pem, err);
      rc = *key != NULL ? 0 : -1;
    }
  }
  owcp_state_free(st);
  owcp_state_unlock(fd);
  return rc;
}
