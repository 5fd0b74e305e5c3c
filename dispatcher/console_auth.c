/*
 * console_auth.c — who may use the audit console: the administrators of
 * admin_users_file (crypt(3) hashes), sign-in at /login with throttling
 * after repeated failures, sessions kept in this process's memory (the
 * cookie is random; only its SHA-256 is kept, with an expiry), sign-out.
 */
#include "console.h"
#include "console_html.h"

#include <crypt.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A yescrypt hash no password matches, checked for unknown names so that
 * they take as long as known ones. */
static const char dummy_hash[] = "$y$j9T$HXQNb9daXVlER0aFMmZMf0$"
                                 "K9ZDYYeMVfxhBquTmmgvdzl9666xzCsDm7TV3Og7a09";

/* ---- administrators ---- */

void console_users_free(struct console *c)
{
  for (size_t i = 0; i < c->user_count; i++)
    free(c->users[i].hash);
  free(c->users);
  c->users = NULL;
  c->user_count = 0;
}

/* One "name:hash" line into u; false when malformed. */
static bool parse_user(char *line, struct console_user *u)
{
  char *colon = strchr(line, ':');
  size_t n;

  if (colon == NULL || colon == line || colon[1] != '$')
    return false;
  n = (size_t)(colon - line);
  if (n >= sizeof u->name)
    return false;
  memcpy(u->name, line, n);
  u->name[n] = '\0';
  u->hash = strdup(colon + 1);
  return u->hash != NULL;
}

int console_users_load(struct console *c, const char *path,
                       struct owcp_error *err)
{
  FILE *f = fopen(path, "r");
  struct console_user *users = NULL;
  size_t count = 0, lineno = 0;
  char line[512];
  int rc = 0;

  if (f == NULL) {
    owcp_error_set(err, "admin_users_file %s: %s", path, strerror(errno));
    return -1;
  }
  while (rc == 0 && fgets(line, sizeof line, f) != NULL) {
    struct console_user *grown;

    lineno++;
    line[strcspn(line, "\r\n")] = '\0';
    if (line[0] == '\0' || line[0] == '#')
      continue;
    grown = realloc(users, (count + 1) * sizeof *users);
    if (grown == NULL) {
      owcp_error_set(err, "out of memory reading %s", path);
      rc = -1;
      break;
    }
    users = grown;
    memset(&users[count], 0, sizeof users[count]);
    if (!parse_user(line, &users[count])) {
      owcp_error_set(err,
                     "admin_users_file %s:%zu: expected NAME:HASH (a crypt(3) "
                     "hash from owcp-admin passwd NAME)",
                     path, lineno);
      rc = -1;
      break;
    }
    count++;
  }
  fclose(f);
  pthread_mutex_lock(&c->lock);
  if (rc == 0) {
    console_users_free(c);
    c->users = users;
    c->user_count = count;
    users = NULL;
    count = 0;
  }
  pthread_mutex_unlock(&c->lock);
  for (size_t i = 0; i < count; i++)
    free(users[i].hash);
  free(users);
  return rc;
}

/* True when password is name's. Always runs one crypt(3). */
static bool password_ok(struct console *c, const char *name,
                        const char *password)
{
  char *hash = NULL, *computed;
  void *data = NULL;
  int size = 0;
  bool ok = false;

  pthread_mutex_lock(&c->lock);
  for (size_t i = 0; i < c->user_count && hash == NULL; i++)
    if (strcmp(c->users[i].name, name) == 0)
      hash = strdup(c->users[i].hash);
  pthread_mutex_unlock(&c->lock);
  computed = crypt_ra(password, hash != NULL ? hash : dummy_hash, &data, &size);
  if (hash != NULL && computed != NULL && computed[0] != '*' &&
      strlen(computed) == strlen(hash))
    ok = CRYPTO_memcmp(computed, hash, strlen(hash)) == 0;
  free(data);
  free(hash);
  return ok;
}

/* ---- throttling ---- */

/* The counter for key, made (replacing the least recently failed one)
 * when missing and make is set. Under the lock. */
static struct console_throttle *throttle_slot(struct console *c,
                                              const char *key, bool make)
{
  struct console_throttle *free_slot = NULL;

  for (size_t i = 0; i < CONSOLE_THROTTLE_MAX; i++) {
    struct console_throttle *t = &c->throttle[i];

    if (strcmp(t->key, key) == 0)
      return t;
    if (free_slot == NULL || t->key[0] == '\0' ||
        (free_slot->key[0] != '\0' && t->until < free_slot->until))
      free_slot = t;
  }
  if (!make)
    return NULL;
  memset(free_slot, 0, sizeof *free_slot);
  snprintf(free_slot->key, sizeof free_slot->key, "%s", key);
  return free_slot;
}

/* The counters' keys for a user name and a client address. */
static void throttle_keys(char keys[2][96], const char *user, const char *addr)
{
  snprintf(keys[0], 96, "u:%s", user);
  snprintf(keys[1], 96, "a:%s", addr);
}

/* Seconds to wait before another attempt for user or address, 0: none. */
static long throttled(struct console *c, const char *user, const char *addr)
{
  char keys[2][96];
  time_t now = time(NULL);
  long wait = 0;

  throttle_keys(keys, user, addr);
  pthread_mutex_lock(&c->lock);
  for (int k = 0; k < 2; k++) {
    const struct console_throttle *t = throttle_slot(c, keys[k], false);

    if (t != NULL && t->failures >= CONSOLE_THROTTLE_FREE && t->until > now &&
        t->until - now > wait)
      wait = (long)(t->until - now);
  }
  pthread_mutex_unlock(&c->lock);
  return wait;
}

/* Counts a failure (ok false) or clears the counters (ok true); returns
 * the seconds to wait from now on (0 while under the free failures). */
static long throttle_record(struct console *c, const char *user,
                            const char *addr, bool ok)
{
  char keys[2][96];
  time_t now = time(NULL);
  long wait = 0;

  throttle_keys(keys, user, addr);
  pthread_mutex_lock(&c->lock);
  for (int k = 0; k < 2; k++) {
    struct console_throttle *t = throttle_slot(c, keys[k], !ok);
    int over;

    if (t == NULL)
      continue;
    if (ok) {
      memset(t, 0, sizeof *t);
      continue;
    }
    t->failures++;
    over = t->failures - CONSOLE_THROTTLE_FREE;
    /* 1 s from the fourth failure, doubling to at most 64 s. */
    t->until = now + (over <= 0 ? 1 : (1L << (over > 6 ? 6 : over - 1)));
    if (t->failures > CONSOLE_THROTTLE_FREE && t->until - now > wait)
      wait = (long)(t->until - now);
  }
  pthread_mutex_unlock(&c->lock);
  return wait;
}

/* ---- sessions ---- */

bool console_session(struct svc_request *req, struct console_session *out)
{
  struct console *c = console_of(req);
  const char *cookie =
      MHD_lookup_connection_value(req->con, MHD_COOKIE_KIND, CONSOLE_COOKIE);
  unsigned char hash[OWCP_SHA256_LEN];
  time_t now = time(NULL);
  bool found = false;

  if (cookie == NULL || cookie[0] == '\0')
    return false;
  owcp_sha256(cookie, strlen(cookie), hash);
  pthread_mutex_lock(&c->lock);
  for (size_t i = 0; i < CONSOLE_SESSION_MAX && !found; i++) {
    struct console_session *s = &c->sessions[i];

    if (s->expires > now && CRYPTO_memcmp(s->id_hash, hash, sizeof hash) == 0) {
      *out = *s;
      found = true;
    }
  }
  pthread_mutex_unlock(&c->lock);
  return found;
}

/* A new session for user; its cookie value into *cookie (caller frees). */
static int session_new(struct console *c, const char *user, char **cookie)
{
  char *id = owcp_random_id(), *csrf = owcp_random_id();
  struct console_session *slot = NULL;
  time_t now = time(NULL);

  if (id == NULL || csrf == NULL) {
    free(id);
    free(csrf);
    return -1;
  }
  pthread_mutex_lock(&c->lock);
  for (size_t i = 0; i < CONSOLE_SESSION_MAX; i++) {
    struct console_session *s = &c->sessions[i];

    if (slot == NULL || s->expires <= now || s->expires < slot->expires)
      slot = s;
    if (s->expires <= now)
      break;
  }
  memset(slot, 0, sizeof *slot);
  owcp_sha256(id, strlen(id), slot->id_hash);
  snprintf(slot->csrf, sizeof slot->csrf, "%s", csrf);
  snprintf(slot->user, sizeof slot->user, "%s", user);
  slot->expires = now + CONSOLE_SESSION_TTL;
  pthread_mutex_unlock(&c->lock);
  free(csrf);
  *cookie = id;
  return 0;
}

static void session_end(struct console *c, const struct console_session *s)
{
  pthread_mutex_lock(&c->lock);
  for (size_t i = 0; i < CONSOLE_SESSION_MAX; i++)
    if (memcmp(c->sessions[i].id_hash, s->id_hash, sizeof s->id_hash) == 0)
      memset(&c->sessions[i], 0, sizeof c->sessions[i]);
  pthread_mutex_unlock(&c->lock);
}

/* ---- forms ---- */

struct form {
  char user[CONSOLE_NAME_MAX];
  char password[256];
  char csrf[64];
  bool too_long;
};

static enum MHD_Result form_field(void *cls, enum MHD_ValueKind kind,
                                  const char *key, const char *filename,
                                  const char *type, const char *encoding,
                                  const char *data, uint64_t off, size_t size)
{
  struct form *f = cls;
  char *dst = NULL;
  size_t cap = 0;

  (void)kind, (void)filename, (void)type, (void)encoding;
  if (strcmp(key, "user") == 0)
    dst = f->user, cap = sizeof f->user;
  else if (strcmp(key, "password") == 0)
    dst = f->password, cap = sizeof f->password;
  else if (strcmp(key, "csrf") == 0)
    dst = f->csrf, cap = sizeof f->csrf;
  if (dst == NULL)
    return MHD_YES;
  if (off + size >= cap) {
    f->too_long = true;
    return MHD_YES;
  }
  memcpy(dst + off, data, size);
  dst[off + size] = '\0';
  return MHD_YES;
}

/* The urlencoded body of req into *f; false when it is not one. */
static bool form_parse(struct svc_request *req, struct form *f)
{
  struct MHD_PostProcessor *pp =
      MHD_create_post_processor(req->con, 1024, form_field, f);
  bool ok;

  memset(f, 0, sizeof *f);
  if (pp == NULL)
    return false;
  ok = MHD_post_process(pp, req->body.data, req->body.len) == MHD_YES;
  MHD_destroy_post_processor(pp);
  return ok && !f->too_long;
}

static void login_page(struct html *h, const char *error)
{
  html_begin(h, "Sign in", NULL);
  if (error != NULL) {
    html_raw(h, "<p class=\"error\" id=\"error\">");
    html_text(h, error);
    html_raw(h, "</p>");
  }
  html_raw(h, "<form method=\"post\" action=\"/login\"><p><label>User "
              "<input name=\"user\" autocomplete=\"username\" required>"
              "</label></p><p><label>Password <input type=\"password\" "
              "name=\"password\" autocomplete=\"current-password\" "
              "required></label></p><p><button type=\"submit\">Sign in"
              "</button></p></form>");
  html_end(h);
}

enum MHD_Result console_login_form(struct svc_request *req)
{
  struct html h = {0};

  login_page(&h, NULL);
  return console_reply_html(req, 200, &h, NULL);
}

static enum MHD_Result too_many(struct svc_request *req, long wait)
{
  struct html h = {0};
  struct MHD_Response *resp;
  enum MHD_Result r;
  char secs[24];

  login_page(&h, "Too many failed attempts: wait, then try again.");
  if (h.failed) {
    html_free(&h);
    return MHD_NO;
  }
  resp = MHD_create_response_from_buffer(h.len, h.buf, MHD_RESPMEM_MUST_FREE);
  if (resp == NULL) {
    html_free(&h);
    return MHD_NO;
  }
  snprintf(secs, sizeof secs, "%ld", wait);
  MHD_add_response_header(resp, "Content-Type", "text/html; charset=utf-8");
  MHD_add_response_header(resp, "Retry-After", secs);
  console_headers(resp);
  r = svc_http_queue(req, 429, resp, h.len);
  MHD_destroy_response(resp);
  return r;
}

enum MHD_Result console_login(struct svc_request *req)
{
  struct console *c = console_of(req);
  struct form f;
  struct html h = {0};
  char cookie[256];
  char *id;
  long wait;

  if (!form_parse(req, &f) || f.user[0] == '\0')
    return console_reply_message(req, 400, "Sign in",
                                 "expected the form fields user and password");
  wait = throttled(c, f.user, req->client);
  if (wait > 0)
    return too_many(req, wait);
  if (!password_ok(c, f.user, f.password)) {
    OPENSSL_cleanse(f.password, sizeof f.password);
    wait = throttle_record(c, f.user, req->client, false);
    if (wait > 0)
      return too_many(req, wait);
    login_page(&h, "Wrong user name or password.");
    return console_reply_html(req, 200, &h, NULL);
  }
  OPENSSL_cleanse(f.password, sizeof f.password);
  throttle_record(c, f.user, req->client, true);
  if (session_new(c, f.user, &id) != 0)
    return console_reply_message(req, 500, "Sign in", "no session");
  snprintf(cookie, sizeof cookie,
           CONSOLE_COOKIE "=%s; Path=/; Max-Age=%d; HttpOnly; "
                          "SameSite=Strict%s",
           id, CONSOLE_SESSION_TTL, c->tls ? "; Secure" : "");
  free(id);
  return console_redirect(req, "/", cookie);
}

enum MHD_Result console_logout(struct svc_request *req)
{
  struct console_session s;
  struct form f;

  if (!console_session(req, &s))
    return console_redirect(req, "/login", NULL);
  if (!form_parse(req, &f) || strlen(f.csrf) != strlen(s.csrf) ||
      CRYPTO_memcmp(f.csrf, s.csrf, strlen(s.csrf)) != 0)
    return console_reply_message(req, 403, "Sign out",
                                 "the form's CSRF token is missing or wrong");
  session_end(console_of(req), &s);
  return console_redirect(req, "/login",
                          CONSOLE_COOKIE "=; Path=/; Max-Age=0; HttpOnly; "
                                         "SameSite=Strict");
}
