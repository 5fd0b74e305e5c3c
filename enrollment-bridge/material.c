/*
 * material.c — loading the RA certificate and key and the RADIUS secret
 * (material.h). PEM through OpenSSL's file readers; the secret is the
 * file's content less trailing line breaks (an editor's final newline is
 * not part of a shared secret; any other byte is).
 */
#include "material.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A shared secret longer than this is surely the wrong file. */
#define RADIUS_SECRET_MAX 4096

/* The SSL error queue's first reason, for messages. */
static const char *ssl_reason(void)
{
  const char *r = ERR_reason_error_string(ERR_peek_last_error());
  return r != NULL ? r : "no details";
}

static int load_ra(const struct bridge_config *cfg, struct bridge_material *m,
                   struct owcp_error *err)
{
  FILE *f = fopen(cfg->otpce.ra_cert, "r");
  if (f != NULL) {
    m->ra_cert = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
  }
  if (m->ra_cert == NULL) {
    bridge_config_error(cfg, err, "otpce", "ra_cert", 0,
                        "cannot read a PEM certificate from %s (%s)",
                        cfg->otpce.ra_cert, f ? ssl_reason() : "no such file");
    return -1;
  }
  f = fopen(cfg->otpce.ra_key, "r");
  if (f != NULL) {
    m->ra_key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
  }
  if (m->ra_key == NULL) {
    bridge_config_error(cfg, err, "otpce", "ra_key", 0,
                        "cannot read a PEM private key from %s (%s)",
                        cfg->otpce.ra_key, f ? ssl_reason() : "no such file");
    return -1;
  }
  if (X509_check_private_key(m->ra_cert, m->ra_key) != 1) {
    bridge_config_error(cfg, err, "otpce", "ra_key", 0,
                        "does not belong to ra_cert");
    return -1;
  }
  ERR_clear_error();
  return 0;
}

static int load_radius(const struct bridge_config *cfg,
                       struct bridge_material *m, struct owcp_error *err)
{
  struct owcp_error why = {{0}};
  unsigned char *s = NULL;
  size_t len = 0;
  if (owcp_file_read(cfg->radius.secret_file, RADIUS_SECRET_MAX, &s, &len,
                     &why) != 0) {
    bridge_config_error(cfg, err, "radius", "secret_file", 0, "%s", why.msg);
    return -1;
  }
  while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == '\r'))
    s[--len] = '\0';
  m->radius_secret = s;
  m->radius_secret_len = len;
  if (len == 0) {
    bridge_config_error(cfg, err, "radius", "secret_file", 0,
                        "%s holds no secret", cfg->radius.secret_file);
    return -1;
  }
  m->radius =
      (struct radius_config){.servers = cfg->radius.servers,
                             .server_count = cfg->radius.server.count,
                             .secret = m->radius_secret,
                             .secret_len = m->radius_secret_len,
                             .timeout_ms = cfg->radius.timeout_ms,
                             .retries = cfg->radius.retries,
                             .nas_identifier = cfg->radius.nas_identifier,
                             .require_message_authenticator =
                                 cfg->radius.require_message_authenticator};
  return 0;
}

int bridge_material_load(const struct bridge_config *cfg,
                         struct bridge_material *out, struct owcp_error *err)
{
  memset(out, 0, sizeof *out);
  if ((cfg->otpce_on && load_ra(cfg, out, err) != 0) ||
      (cfg->radius_on && load_radius(cfg, out, err) != 0)) {
    bridge_material_free(out);
    return -1;
  }
  return 0;
}

void bridge_material_free(struct bridge_material *m)
{
  X509_free(m->ra_cert);
  EVP_PKEY_free(m->ra_key);
  if (m->radius_secret != NULL) {
    OPENSSL_cleanse(m->radius_secret, m->radius_secret_len);
    free(m->radius_secret);
  }
  memset(m, 0, sizeof *m);
}
