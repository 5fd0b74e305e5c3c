/*
 * sip_message.c — SIP parsing, framing and responses on libosip2
 * (sip_message.h).
 */
#include "sip_message.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <osipparser2/osip_port.h>

#define COOKIE "z9hG4bK"

static void quiet(const char *fi, int li, osip_trace_level_t level,
                  const char *chfr, va_list ap)
{
  (void)fi;
  (void)li;
  (void)level;
  (void)chfr;
  (void)ap;
}

void sip_message_init(void)
{
  parser_init();
  osip_trace_initialize_func(OSIP_FATAL, quiet);
  for (int l = 0; l < END_TRACE_LEVEL; l++)
    osip_trace_disable_level((osip_trace_level_t)l);
}

int sip_parse_request(const char *buf, size_t len, osip_message_t **out,
                      struct owcp_error *err)
{
  osip_message_t *m = NULL;
  *out = NULL;
  if (len == 0 || len > SIP_MAX_MESSAGE || memchr(buf, '\0', len) != NULL) {
    owcp_error_set(err, "empty, oversized or binary SIP message");
    return -1;
  }
  if (osip_message_init(&m) != 0) {
    owcp_error_set(err, "out of memory");
    return -1;
  }
  osip_via_t *via = NULL;
  if (osip_message_parse(m, buf, len) != 0 || !MSG_IS_REQUEST(m) ||
      m->sip_method == NULL || osip_message_get_via(m, 0, &via) < 0 ||
      via == NULL || m->from == NULL || m->to == NULL || m->call_id == NULL ||
      m->cseq == NULL || m->cseq->method == NULL || m->cseq->number == NULL ||
      strcmp(m->cseq->method, m->sip_method) != 0) {
    osip_message_free(m);
    owcp_error_set(err, "not a SIP request with Via, From, To, Call-ID and "
                        "a matching CSeq");
    return -1;
  }
  *out = m;
  return 0;
}

/* The head's Content-Length through the parser; -1 when not parsable. */
static long head_content_length(const char *head, size_t len)
{
  osip_message_t *m = NULL;
  long cl = -1;
  if (osip_message_init(&m) != 0)
    return -1;
  /* With a Content-Length above 0 and no body, the parse fails in its
   * body step, after the headers (the length among them) were read. */
  int rc = osip_message_parse(m, head, len);
  const osip_content_length_t *c = osip_message_get_content_length(m);
  if (c != NULL && c->value != NULL) {
    char *end = NULL;
    cl = strtol(c->value, &end, 10);
    if (end == c->value || *end != '\0' || cl < 0)
      cl = -1;
  } else if (rc == 0) {
    cl = 0; /* RFC 3261 §18.3 requires it on streams; absent means none */
  }
  osip_message_free(m);
  return cl;
}

long sip_frame(const char *buf, size_t len, size_t *skip)
{
  size_t s = 0;
  while (s + 1 < len && buf[s] == '\r' && buf[s + 1] == '\n')
    s += 2;
  *skip = s;
  const char *p = buf + s;
  size_t n = len - s;
  size_t window = n < SIP_MAX_HEAD ? n : SIP_MAX_HEAD;
  const char *end = NULL;
  for (size_t i = 0; i + 3 < window && end == NULL; i++)
    if (memcmp(p + i, "\r\n\r\n", 4) == 0)
      end = p + i + 4;
  if (end == NULL)
    return n >= SIP_MAX_HEAD ? -1 : 0;
  size_t head = (size_t)(end - p);
  if (memchr(p, '\0', head) != NULL)
    return -1;
  long cl = head_content_length(p, head);
  if (cl < 0 || head + (size_t)cl > SIP_MAX_MESSAGE)
    return -1;
  return n >= head + (size_t)cl ? (long)(head + (size_t)cl) : 0;
}

char *sip_transaction_key(const osip_message_t *req)
{
  osip_via_t *via = NULL;
  osip_generic_param_t *branch = NULL;
  osip_generic_param_t *tag = NULL;
  (void)osip_message_get_via(req, 0, &via);
  if (via != NULL)
    (void)osip_via_param_get_byname(via, "branch", &branch);
  (void)osip_from_get_tag(req->from, &tag);
  const char *b = branch && branch->gvalue ? branch->gvalue : "";
  const char *host = via && via->host ? via->host : "";
  const char *port = via && via->port ? via->port : "";
  const char *cid = req->call_id->number ? req->call_id->number : "";
  const char *cidh = req->call_id->host ? req->call_id->host : "";
  const char *ft = tag && tag->gvalue ? tag->gvalue : "";
  bool rfc3261 = strncmp(b, COOKIE, sizeof COOKIE - 1) == 0;
  size_t n = strlen(b) + strlen(host) + strlen(port) + strlen(cid) +
             strlen(cidh) + strlen(ft) + strlen(req->cseq->number) +
             strlen(req->sip_method) + 16;
  char *key = malloc(n);
  if (key == NULL)
    return NULL;
  if (rfc3261)
    snprintf(key, n, "%s|%s:%s|%s|%s", b, host, port, req->sip_method,
             req->cseq->number);
  else
    snprintf(key, n, "%s|%s@%s|%s|%s|%s|%s", b, cid, cidh, ft,
             req->cseq->number, req->sip_method, host);
  return key;
}

void sip_body(const osip_message_t *req, const char **body, size_t *len)
{
  osip_body_t *b = NULL;
  *body = NULL;
  *len = 0;
  if (osip_message_get_body(req, 0, &b) >= 0 && b != NULL) {
    *body = b->body;
    *len = b->length;
  }
}

bool sip_content_type_is(const osip_message_t *req, const char *mime)
{
  const osip_content_type_t *ct = req->content_type;
  if (ct == NULL || ct->type == NULL || ct->subtype == NULL)
    return false;
  const char *slash = strchr(mime, '/');
  size_t tl = (size_t)(slash - mime);
  return strlen(ct->type) == tl && strncasecmp(ct->type, mime, tl) == 0 &&
         strcasecmp(ct->subtype, slash + 1) == 0;
}

const char *sip_reason(unsigned status)
{
  switch (status) {
  case 100:
    return "Trying";
  case 200:
    return "OK";
  case 400:
    return "Bad Request";
  case 401:
    return "Unauthorized";
  case 403:
    return "Forbidden";
  case 407:
    return "Proxy Authentication Required";
  case 408:
    return "Request Timeout";
  case 413:
    return "Request Entity Too Large";
  case 415:
    return "Unsupported Media Type";
  case 486:
    return "Busy Here";
  case 500:
    return "Server Internal Error";
  case 501:
    return "Not Implemented";
  case 503:
    return "Service Unavailable";
  default:
    return "Unknown";
  }
}

/* Every Via, in order; the top one with received/rport. */
static int copy_vias(const osip_message_t *req, osip_message_t *resp,
                     const char *src_ip, unsigned src_port)
{
  osip_via_t *via = NULL;
  for (int pos = 0; osip_message_get_via(req, pos, &via) >= 0; pos++) {
    osip_via_t *v = NULL;
    if (osip_via_clone(via, &v) != 0)
      return -1;
    if (pos == 0 && src_ip != NULL) {
      osip_generic_param_t *rport = NULL;
      if (v->host == NULL || strcmp(v->host, src_ip) != 0)
        osip_via_set_received(v, osip_strdup(src_ip));
      (void)osip_via_param_get_byname(v, "rport", &rport);
      if (rport != NULL && rport->gvalue == NULL) {
        char p[8];
        snprintf(p, sizeof p, "%u", src_port);
        rport->gvalue = osip_strdup(p);
      }
    }
    osip_list_add(&resp->vias, v, -1);
  }
  return 0;
}

static int copy_dialog(const osip_message_t *req, osip_message_t *resp,
                       const char *to_tag)
{
  osip_generic_param_t *tag = NULL;
  if (osip_from_clone(req->from, &resp->from) != 0 ||
      osip_to_clone(req->to, &resp->to) != 0 ||
      osip_call_id_clone(req->call_id, &resp->call_id) != 0 ||
      osip_cseq_clone(req->cseq, &resp->cseq) != 0)
    return -1;
  if (osip_to_get_tag(resp->to, &tag) != 0 && to_tag != NULL)
    osip_to_set_tag(resp->to, osip_strdup(to_tag));
  return 0;
}

int sip_response(const osip_message_t *req, unsigned status, const char *reason,
                 const char *to_tag, const char *src_ip, unsigned src_port,
                 const struct sip_header *extra, size_t extra_count,
                 const char *content_type, const char *body, size_t body_len,
                 char **out, size_t *len)
{
  osip_message_t *r = NULL;
  char *text = NULL;
  size_t n = 0;
  char cl[24];
  if (osip_message_init(&r) != 0)
    return -1;
  osip_message_set_version(r, osip_strdup("SIP/2.0"));
  osip_message_set_status_code(r, (int)status);
  osip_message_set_reason_phrase(
      r, osip_strdup(reason ? reason : sip_reason(status)));
  int rc = copy_vias(req, r, src_ip, src_port);
  if (rc == 0)
    rc = copy_dialog(req, r, to_tag);
  for (size_t i = 0; rc == 0 && i < extra_count; i++)
    rc =
        osip_message_set_header(r, extra[i].name, extra[i].value) == 0 ? 0 : -1;
  if (rc == 0)
    rc = osip_message_set_header(r, "Server", "owcp-bridge") == 0 ? 0 : -1;
  if (rc == 0 && content_type != NULL)
    rc = osip_message_set_content_type(r, content_type) == 0 &&
                 osip_message_set_body(r, body, body_len) == 0
             ? 0
             : -1;
  snprintf(cl, sizeof cl, "%zu", content_type != NULL ? body_len : 0);
  if (rc == 0)
    rc = osip_message_set_content_length(r, cl) == 0 ? 0 : -1;
  if (rc == 0)
    rc = osip_message_to_str(r, &text, &n) == 0 ? 0 : -1;
  osip_message_free(r);
  if (rc != 0) {
    osip_free(text);
    return -1;
  }
  *out = malloc(n + 1);
  if (*out != NULL) {
    memcpy(*out, text, n);
    (*out)[n] = '\0';
    *len = n;
  }
  osip_free(text);
  return *out ? 0 : -1;
}
