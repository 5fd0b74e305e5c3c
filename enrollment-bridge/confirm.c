/*
 * confirm.c — the bridge's confirmation requests through libowcp-requestor:
 * building them, sending them, learning their verified outcome, and the
 * confirm = policy. See confirm.h for what is verified and why.
 */
#include "confirm.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/xmlstring.h>

#include "owcp/jsonspec.h"
#include "owcp/request.h"
#include "owcp/requestor.h"

/* Seconds of clock difference with the dispatcher tolerated when telling
 * an expired transaction from a cancelled one. */
#define CLOCK_SLACK_S 5

/* One thread's requestor context, on the service's list so that
 * confirm_service_free() can release those of threads still alive. */
struct rq_slot {
  struct confirm_service *svc;
  struct owcp_requestor *rq;
  struct rq_slot *prev, *next;
};

struct confirm_service {
  struct owcp_requestor_config rq_cfg; /* strings owned (copies) */
  long timeout;
  struct owcp_xml_validator *validator; /* shared read-only */
  pthread_key_t key;                    /* this thread's struct rq_slot */
  pthread_mutex_t lock;                 /* guards slots */
  struct rq_slot *slots;
};

/* ---- text checks -------------------------------------------------------- */

/* Code points that could hide, break or reorder what the user reads: C0
 * and C1 controls, DEL, line/paragraph separators, bidi controls. */
static bool is_hiding(int cp)
{
  return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x061c ||
         cp == 0x200e || cp == 0x200f || cp == 0x2028 || cp == 0x2029 ||
         (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

/* Non-empty UTF-8 without any is_hiding() code point; err names field. */
static int check_shown(const char *s, const char *field, struct owcp_error *err)
{
  size_t len, i = 0;

  if (s == NULL || s[0] == '\0') {
    owcp_error_set(err, "%s is missing or empty", field);
    return -1;
  }
  len = strlen(s);
  while (i < len) {
    int avail = len - i > 4 ? 4 : (int)(len - i);
    int cp = xmlGetUTF8Char((const unsigned char *)s + i, &avail);
    if (cp < 0 || avail <= 0) {
      owcp_error_set(err, "%s is not valid UTF-8 (at byte %zu)", field, i);
      return -1;
    }
    if (is_hiding(cp)) {
      owcp_error_set(err,
                     "%s holds U+%04X at byte %zu, a control or "
                     "bidirectional character that could hide or reorder "
                     "what the user reads",
                     field, (unsigned)cp, i);
      return -1;
    }
    i += (size_t)avail;
  }
  return 0;
}

/* ---- summaries ---------------------------------------------------------- */

/* printf into a new buffer (caller frees); NULL with err on failure. */
static char *format_new(struct owcp_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static char *format_new(struct owcp_error *err, const char *fmt, ...)
{
  va_list ap;
  int n;
  char *out;

  va_start(ap, fmt);
  n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  out = n < 0 ? NULL : malloc((size_t)n + 1);
  if (out == NULL) {
    owcp_error_set(err, "out of memory");
    return NULL;
  }
  va_start(ap, fmt);
  (void)vsnprintf(out, (size_t)n + 1, fmt, ap);
  va_end(ap);
  return out;
}

char *confirm_summary_otpce(const char *template_name, const char *username,
                            const char *host, struct owcp_error *err)
{
  if (check_shown(template_name, "the template", err) != 0 ||
      check_shown(username, "the username", err) != 0 ||
      (host != NULL && check_shown(host, "the client host", err) != 0))
    return NULL;
  return format_new(err,
                    "Issue a smart-card logon certificate (template %s) to "
                    "%s%s%s?",
                    template_name, username, host ? " for " : "",
                    host ? host : "");
}

char *confirm_summary_wstep(const char *template_name, const char *subject,
                            long validity_days, const char *account,
                            struct owcp_error *err)
{
  if (check_shown(template_name, "the template", err) != 0 ||
      check_shown(subject, "the subject", err) != 0 ||
      check_shown(account, "the account", err) != 0)
    return NULL;
  if (validity_days < 1 || validity_days > 36500) {
    owcp_error_set(err, "the validity (%ld days) is not within 1..36500",
                   validity_days);
    return NULL;
  }
  return format_new(err, "Issue certificate '%s' (%s, valid %ld day%s) to %s?",
                    template_name, subject, validity_days,
                    validity_days == 1 ? "" : "s", account);
}

char *confirm_summary_mras(const char *identity, long minutes,
                           struct owcp_error *err)
{
  bool hours;
  long n;

  if (check_shown(identity, "the identity", err) != 0)
    return NULL;
  if (minutes < 1 || minutes > CONFIRM_CACHE_MINUTES_MAX) {
    owcp_error_set(err, "the duration (%ld minutes) is not within 1..%ld",
                   minutes, CONFIRM_CACHE_MINUTES_MAX);
    return NULL;
  }
  hours = minutes % 60 == 0;
  n = hours ? minutes / 60 : minutes;
  return format_new(err,
                    "Allow audio/video relay credentials for %s (%ld %s%s)?",
                    identity, n, hours ? "hour" : "minute", n == 1 ? "" : "s");
}

/* ---- the service and its per-thread contexts ---------------------------- */

static void slot_unlink(struct confirm_service *s, struct rq_slot *slot)
{
  if (slot->prev != NULL)
    slot->prev->next = slot->next;
  else
    s->slots = slot->next;
  if (slot->next != NULL)
    slot->next->prev = slot->prev;
}

/* Thread exit: the thread's context goes with it. */
static void slot_destroy(void *p)
{
  struct rq_slot *slot = p;

  pthread_mutex_lock(&slot->svc->lock);
  slot_unlink(slot->svc, slot);
  pthread_mutex_unlock(&slot->svc->lock);
  owcp_requestor_free(slot->rq);
  free(slot);
}

/* The calling thread's requestor context, made on first use; borrowed. */
static struct owcp_requestor *thread_rq(struct confirm_service *s,
                                        struct owcp_error *err)
{
  struct rq_slot *slot = pthread_getspecific(s->key);

  if (slot != NULL)
    return slot->rq;
  slot = calloc(1, sizeof *slot);
  if (slot == NULL) {
    owcp_error_set(err, "out of memory");
    return NULL;
  }
  slot->svc = s;
  if (owcp_requestor_new(&s->rq_cfg, &slot->rq, err) != 0) {
    free(slot);
    return NULL;
  }
  if (pthread_setspecific(s->key, slot) != 0) {
    owcp_requestor_free(slot->rq);
    free(slot);
    owcp_error_set(err, "cannot keep this thread's requestor context");
    return NULL;
  }
  pthread_mutex_lock(&s->lock);
  slot->next = s->slots;
  if (s->slots != NULL)
    s->slots->prev = slot;
  s->slots = slot;
  pthread_mutex_unlock(&s->lock);
  return slot->rq;
}

/* Copies the optional string src into *dst; false only when out of
 * memory. */
static bool dup_opt(const char *src, const char **dst)
{
  char *copy;

  *dst = NULL;
  if (src == NULL)
    return true;
  copy = strdup(src);
  *dst = copy;
  return copy != NULL;
}

static void free_rq_cfg(struct owcp_requestor_config *c)
{
  free((char *)c->account);
  free((char *)c->token_file);
  free((char *)c->dispatcher);
  free((char *)c->dns_servers);
  free((char *)c->ca_file);
}

/* The [owcp] keys libowcp-requestor does not check itself. */
static int check_config(const struct confirm_config *cfg,
                        struct owcp_error *err)
{
  if (cfg->requestor == NULL || cfg->requestor[0] == '\0') {
    owcp_error_set(err, "[owcp] requestor is required");
    return -1;
  }
  if (cfg->token_file == NULL || cfg->token_file[0] == '\0') {
    owcp_error_set(err, "[owcp] token_file is required");
    return -1;
  }
  if (cfg->timeout < 1 || cfg->timeout > CONFIRM_TIMEOUT_MAX) {
    owcp_error_set(err, "[owcp] timeout = %ld is not within 1..%ld seconds",
                   cfg->timeout, CONFIRM_TIMEOUT_MAX);
    return -1;
  }
  return 0;
}

/* Fills s's requestor configuration with copies of cfg's strings. */
static int copy_config(struct confirm_service *s,
                       const struct confirm_config *cfg, struct owcp_error *err)
{
  struct owcp_requestor_config *c = &s->rq_cfg;

  if (!dup_opt(cfg->requestor, &c->account) ||
      !dup_opt(cfg->token_file, &c->token_file) ||
      !dup_opt(cfg->dispatcher, &c->dispatcher) ||
      !dup_opt(cfg->dns, &c->dns_servers) ||
      !dup_opt(cfg->ca_file, &c->ca_file)) {
    owcp_error_set(err, "out of memory");
    return -1;
  }
  c->allow_insecure_http = cfg->insecure_http;
  s->timeout = cfg->timeout;
  return 0;
}

int confirm_service_new(const struct confirm_config *cfg,
                        struct confirm_service **out, struct owcp_error *err)
{
  struct confirm_service *s;
  struct owcp_error why = {{0}};

  *out = NULL;
  if (check_config(cfg, err) != 0)
    return -1;
  s = calloc(1, sizeof *s);
  if (s == NULL) {
    owcp_error_set(err, "out of memory");
    return -1;
  }
  if (pthread_key_create(&s->key, slot_destroy) != 0) {
    free(s);
    owcp_error_set(err, "cannot create the per-thread requestor key");
    return -1;
  }
  pthread_mutex_init(&s->lock, NULL);
  if (copy_config(s, cfg, err) != 0)
    goto fail;
  s->validator = owcp_xml_validator_new(NULL, err);
  if (s->validator == NULL)
    goto fail;
  if (thread_rq(s, &why) == NULL) {
    owcp_error_set(err, "[owcp] is unusable: %s", why.msg);
    goto fail;
  }
  *out = s;
  return 0;
fail:
  confirm_service_free(s);
  return -1;
}

void confirm_service_free(struct confirm_service *s)
{
  struct rq_slot *slot, *next;

  if (s == NULL)
    return;
  /* Deleting the key first: no destructor runs for it afterwards, so the
   * list is ours alone. */
  pthread_key_delete(s->key);
  for (slot = s->slots; slot != NULL; slot = next) {
    next = slot->next;
    owcp_requestor_free(slot->rq);
    free(slot);
  }
  pthread_mutex_destroy(&s->lock);
  owcp_xml_validator_free(s->validator);
  free_rq_cfg(&s->rq_cfg);
  free(s);
}

/* ---- building ------------------------------------------------------------ */

/* Every shown string of req, checked; err names the one at fault. */
static int check_request(const struct confirm_request *req,
                         struct owcp_error *err)
{
  char field[160];

  if (req->kind != CONFIRM_ENROLLMENT && req->kind != CONFIRM_CREDENTIALS) {
    owcp_error_set(err, "unknown confirmation kind %d", (int)req->kind);
    return -1;
  }
  if (check_shown(req->summary, "the summary", err) != 0)
    return -1;
  if (req->detail_count > 0 && req->details == NULL) {
    owcp_error_set(err, "%zu details announced but none given",
                   req->detail_count);
    return -1;
  }
  for (size_t i = 0; i < req->detail_count; i++) {
    snprintf(field, sizeof field, "the label of detail %zu", i + 1);
    if (check_shown(req->details[i].label, field, err) != 0)
      return -1;
    snprintf(field, sizeof field, "the value of detail %zu ('%.20s')", i + 1,
             req->details[i].label);
    if (check_shown(req->details[i].value, field, err) != 0)
      return -1;
  }
  return 0;
}

/* One table cell holding the plain text s (borrowed into the span). */
static void cell_of(struct owcp_text *cell, struct owcp_span *span,
                    const char *s)
{
  span->kind = OWCP_SPAN_TEXT;
  /* The builder only reads the structure it is given. */
  span->text = (char *)s;
  cell->count = 1;
  cell->spans = span;
}

/* The details table rows (arrays the caller frees: rows, cells, spans). */
static int table_of(const struct confirm_request *req,
                    struct owcp_table_row **rows, struct owcp_text **cells,
                    struct owcp_span **spans)
{
  size_t n = req->detail_count;

  *rows = calloc(n, sizeof **rows);
  *cells = calloc(2 * n, sizeof **cells);
  *spans = calloc(2 * n, sizeof **spans);
  if (*rows == NULL || *cells == NULL || *spans == NULL)
    return -1;
  for (size_t i = 0; i < n; i++) {
    cell_of(&(*cells)[2 * i], &(*spans)[2 * i], req->details[i].label);
    cell_of(&(*cells)[2 * i + 1], &(*spans)[2 * i + 1], req->details[i].value);
    (*rows)[i].header = false;
    (*rows)[i].cell_count = 2;
    (*rows)[i].cells = &(*cells)[2 * i];
  }
  return 0;
}

int confirm_build(struct confirm_service *s, const struct confirm_request *req,
                  char **xml, size_t *len, struct owcp_error *err)
{
  struct owcp_request r = {0};
  struct owcp_span summary = {0};
  struct owcp_body_item body = {0};
  struct owcp_table_row *rows = NULL;
  struct owcp_text *cells = NULL;
  struct owcp_span *spans = NULL;
  char *pin = "PIN";
  struct owcp_requestor *rq;
  int rc = -1;

  *xml = NULL;
  *len = 0;
  if (check_request(req, err) != 0)
    return -1;
  rq = thread_rq(s, err);
  if (rq == NULL)
    return -1;
  r.header.type =
      req->kind == CONFIRM_CREDENTIALS ? "Credentials" : "Enrollment";
  r.header.identifier = (char *)req->identifier;
  r.header.from = (char *)owcp_requestor_account(rq);
  r.header.to = (char *)req->to;
  r.header.verification_count = 1;
  r.header.verification = &pin;
  cell_of(&r.header.summary, &summary, req->summary);
  if (req->detail_count > 0) {
    if (table_of(req, &rows, &cells, &spans) != 0) {
      owcp_error_set(err, "out of memory");
      goto done;
    }
    body.kind = OWCP_BODY_TABLE;
    body.table.row_count = req->detail_count;
    body.table.rows = rows;
    r.has_body = true;
    r.body_count = 1;
    r.body = &body;
  }
  rc = owcp_request_build(owcp_requestor_validator(rq), &r, xml, len, err);
done:
  free(rows);
  free(cells);
  free(spans);
  return rc;
}

/* ---- outcomes ------------------------------------------------------------ */

const char *confirm_outcome_name(enum confirm_outcome o)
{
  switch (o) {
  case CONFIRM_PENDING:
    return "pending";
  case CONFIRM_ACCEPTED:
    return "accepted";
  case CONFIRM_REJECTED:
    return "rejected";
  case CONFIRM_REFUSED:
    return "refused";
  case CONFIRM_EXPIRED:
    return "expired";
  case CONFIRM_CANCELLED:
    return "cancelled";
  case CONFIRM_UNKNOWN_ACCOUNT:
    return "unknown-account";
  case CONFIRM_UNREACHABLE:
    return "unreachable";
  case CONFIRM_FAILED:
    return "failed";
  }
  return "failed";
}

void confirm_sent_free(struct confirm_sent *s)
{
  if (s == NULL)
    return;
  free(s->transaction);
  free(s->request_xml);
  memset(s, 0, sizeof *s);
}

void confirm_result_free(struct confirm_result *r)
{
  if (r == NULL)
    return;
  free(r->reason);
  free(r->client);
  free(r->account);
  free(r->receipt);
  memset(r, 0, sizeof *r);
}

/* "Not now" rather than "no": the dispatcher could not be asked. */
static bool unreachable(enum owcp_rq_status st)
{
  return st == OWCP_RQ_NETWORK_ERROR || st == OWCP_RQ_UNAVAILABLE ||
         st == OWCP_RQ_RATE_LIMITED;
}

/* RFC 3339 text to time_t; 0 when absent or unreadable. */
static time_t time_of(const char *text)
{
  time_t t = 0;

  if (text == NULL || owcp_time_parse(text, &t, NULL) != 0)
    return 0;
  return t;
}

enum confirm_outcome confirm_send(struct confirm_service *s,
                                  const struct confirm_request *req,
                                  struct confirm_sent *out,
                                  struct owcp_error *err)
{
  struct owcp_confirm_opts opts = {s->timeout, NULL};
  struct owcp_rq_result res = {0};
  struct owcp_requestor *rq;
  enum owcp_rq_status st;
  char *xml = NULL;
  size_t len = 0;

  memset(out, 0, sizeof *out);
  if (confirm_build(s, req, &xml, &len, err) != 0)
    return CONFIRM_FAILED;
  rq = thread_rq(s, err);
  if (rq == NULL) {
    free(xml);
    return CONFIRM_FAILED;
  }
  st = owcp_rq_confirm(rq, xml, len, &opts, &res, err);
  if (st == OWCP_RQ_PENDING) {
    out->transaction = res.transaction;
    res.transaction = NULL;
    out->request_xml = xml;
    out->request_len = len;
    out->expires = time_of(res.expires);
    owcp_rq_result_free(&res);
    return CONFIRM_PENDING;
  }
  free(xml);
  owcp_rq_result_free(&res);
  if (st == OWCP_RQ_NOT_FOUND)
    return CONFIRM_UNKNOWN_ACCOUNT;
  if (st == OWCP_RQ_REFUSED)
    return CONFIRM_REFUSED;
  return unreachable(st) ? CONFIRM_UNREACHABLE : CONFIRM_FAILED;
}

/* True when a and b name the same account (normalised: domain
 * case-insensitive, local part case-sensitive). */
static bool same_account(const char *a, const char *b)
{
  char *na = NULL, *nb = NULL;
  bool same;

  if (a == NULL || b == NULL ||
      owcp_account_normalize(a, strlen(a), &na, NULL) != 0 ||
      owcp_account_normalize(b, strlen(b), &nb, NULL) != 0) {
    free(na);
    return false;
  }
  same = strcmp(na, nb) == 0;
  free(na);
  free(nb);
  return same;
}

/* What the library cannot know (confirm.h): the stored bytes are a
 * request of ours, to the account the caller expects, asking for PIN. */
static int check_ours(struct confirm_service *s, const char *xml, size_t len,
                      const char *account, struct owcp_error *err)
{
  struct owcp_request *req = NULL;
  struct owcp_error why = {{0}};
  bool pin = false;
  int rc = -1;

  if (xml == NULL || account == NULL) {
    owcp_error_set(err, "the request sent and its account are required");
    return -1;
  }
  if (owcp_request_parse(s->validator, xml, len, &req, &why) != OWCP_XML_OK) {
    owcp_error_set(err, "the stored request is not a valid XML Request: %s",
                   why.msg);
    return -1;
  }
  for (size_t i = 0; i < req->header.verification_count; i++)
    pin = pin || strcmp(req->header.verification[i], "PIN") == 0;
  if (!same_account(req->header.from, s->rq_cfg.account))
    owcp_error_set(err,
                   "the stored request's <From> '%s' is not this "
                   "bridge's requestor '%s'",
                   req->header.from, s->rq_cfg.account);
  else if (!same_account(req->header.to, account))
    owcp_error_set(err,
                   "the stored request's <To> '%s' is not the account "
                   "'%s' this confirmation is for",
                   req->header.to, account);
  else if (!pin)
    owcp_error_set(err, "the stored request does not ask for PIN "
                        "verification");
  else
    rc = 0;
  owcp_request_free(req);
  return rc;
}

/* Moves owned strings and the receipt from a verified answer into out. */
static enum confirm_outcome take_answer(struct owcp_rq_result *res,
                                        struct confirm_result *out,
                                        struct owcp_error *err)
{
  switch (res->response) {
  case OWCP_RQ_ACCEPT:
    out->outcome = CONFIRM_ACCEPTED;
    break;
  case OWCP_RQ_REJECT:
    out->outcome = CONFIRM_REJECTED;
    break;
  case OWCP_RQ_REFUSE:
    out->outcome = CONFIRM_REFUSED;
    break;
  case OWCP_RQ_NO_RESPONSE:
    owcp_error_set(err, "the answer names no response");
    return out->outcome = CONFIRM_FAILED;
  }
  out->reason = res->reason;
  res->reason = NULL;
  out->client = res->client;
  res->client = NULL;
  out->account = res->account;
  res->account = NULL;
  out->receipt = res->receipt;
  out->receipt_len = res->receipt_len;
  res->receipt = NULL;
  out->signed_at = time_of(res->signed_at);
  return out->outcome;
}

/* A 408 of RD-Status: cancelled before its expiry, else expired. The
 * dispatcher judged expiry by its clock; within CLOCK_SLACK_S of the
 * expiry ours cannot tell, and "expired" is the likelier. */
static enum confirm_outcome unanswered(time_t expires)
{
  return expires != 0 && time(NULL) + CLOCK_SLACK_S < expires
             ? CONFIRM_CANCELLED
             : CONFIRM_EXPIRED;
}

/* Maps a library result onto out (final: it answered RD-Final). */
static enum confirm_outcome map_result(enum owcp_rq_status st,
                                       struct owcp_rq_result *res, bool final,
                                       struct confirm_result *out,
                                       struct owcp_error *err)
{
  out->expires = time_of(res->expires);
  switch (st) {
  case OWCP_RQ_OK:
    return take_answer(res, out, err);
  case OWCP_RQ_PENDING:
    return out->outcome = CONFIRM_PENDING;
  case OWCP_RQ_TIMEOUT:
    out->outcome = final ? CONFIRM_CANCELLED : unanswered(out->expires);
    return out->outcome;
  default:
    break;
  }
  out->outcome = unreachable(st) ? CONFIRM_UNREACHABLE : CONFIRM_FAILED;
  return out->outcome;
}

/* RD-Status (final false) or RD-Final (final true), checked and mapped. */
static enum confirm_outcome ask(struct confirm_service *s, bool final,
                                const char *tx, const char *xml, size_t len,
                                const char *account, int wait_seconds,
                                struct confirm_result *out,
                                struct owcp_error *err)
{
  struct owcp_rq_result res = {0};
  struct owcp_requestor *rq;
  enum owcp_rq_status st;
  enum confirm_outcome o;

  memset(out, 0, sizeof *out);
  out->outcome = CONFIRM_FAILED;
  if (check_ours(s, xml, len, account, err) != 0)
    return CONFIRM_FAILED;
  rq = thread_rq(s, err);
  if (rq == NULL)
    return CONFIRM_FAILED;
  st = final ? owcp_rq_final(rq, tx, xml, len, &res, err)
             : owcp_rq_status(rq, tx, xml, len, wait_seconds, &res, err);
  o = map_result(st, &res, final, out, err);
  if (o == CONFIRM_FAILED) {
    /* Nothing of a failed answer is handed on. */
    confirm_result_free(out);
    out->outcome = CONFIRM_FAILED;
  }
  owcp_rq_result_free(&res);
  return o;
}

enum confirm_outcome confirm_check(struct confirm_service *s,
                                   const char *transaction,
                                   const char *request_xml, size_t xml_len,
                                   const char *account, int wait_seconds,
                                   struct confirm_result *out,
                                   struct owcp_error *err)
{
  return ask(s, false, transaction, request_xml, xml_len, account, wait_seconds,
             out, err);
}

enum confirm_outcome
confirm_cancel(struct confirm_service *s, const char *transaction,
               const char *request_xml, size_t xml_len, const char *account,
               struct confirm_result *out, struct owcp_error *err)
{
  return ask(s, true, transaction, request_xml, xml_len, account, 0, out, err);
}

/* ---- the confirm = policy ------------------------------------------------ */

/* MINUTES of cached:MINUTES: decimal digits only, 1..max. */
static int parse_minutes(const char *text, long *out, struct owcp_error *err)
{
  char *end = NULL;
  long v;

  if (text[0] < '0' || text[0] > '9') {
    owcp_error_set(err,
                   "confirm = cached:%s: MINUTES must be a whole number of "
                   "minutes (1..%ld)",
                   text, CONFIRM_CACHE_MINUTES_MAX);
    return -1;
  }
  errno = 0;
  v = strtol(text, &end, 10);
  if (*end != '\0') {
    owcp_error_set(err,
                   "confirm = cached:%s: MINUTES holds '%s' after the "
                   "number",
                   text, end);
    return -1;
  }
  if (errno == ERANGE || v < 1 || v > CONFIRM_CACHE_MINUTES_MAX) {
    owcp_error_set(err,
                   "confirm = cached:%s: MINUTES must be within 1..%ld (one "
                   "week)",
                   text, CONFIRM_CACHE_MINUTES_MAX);
    return -1;
  }
  *out = v;
  return 0;
}

int confirm_policy_parse(const char *text, struct confirm_policy *out,
                         struct owcp_error *err)
{
  static const char cached[] = "cached:";
  long minutes = 0;

  if (text == NULL || text[0] == '\0') {
    owcp_error_set(err, "confirm is empty: say required, cached:MINUTES or "
                        "off");
    return -1;
  }
  if (strcmp(text, "required") == 0) {
    *out = (struct confirm_policy){CONFIRM_MODE_REQUIRED, 0};
    return 0;
  }
  if (strcmp(text, "off") == 0) {
    *out = (struct confirm_policy){CONFIRM_MODE_OFF, 0};
    return 0;
  }
  if (strncmp(text, cached, sizeof cached - 1) != 0) {
    owcp_error_set(err, "confirm = %.64s: not required, cached:MINUTES or off",
                   text);
    return -1;
  }
  if (parse_minutes(text + sizeof cached - 1, &minutes, err) != 0)
    return -1;
  *out = (struct confirm_policy){CONFIRM_MODE_CACHED, minutes};
  return 0;
}

bool confirm_cache_covers(time_t approved_at, long minutes, time_t now)
{
  if (minutes < 1 || minutes > CONFIRM_CACHE_MINUTES_MAX)
    return false;
  return approved_at <= now && now - approved_at < (time_t)minutes * 60;
}
