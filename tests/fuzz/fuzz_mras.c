/* libFuzzer target: arbitrary bytes through the MRAS front's input path as
 * the SIP listeners take it (enrollment-bridge/mras_sip.c): stream framing
 * (sip_frame) of the bytes and then each framed message, the request
 * parser, the transaction key, Content-Type, the Digest answer taken from
 * Authorization / Proxy-Authorization and checked, a response built from
 * the request; and the body (or, for input that is no SIP request, the
 * bytes themselves) through the MRAS XML checks and the response writer. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "digest.h"
#include "mras_xml.h"
#include "sip_message.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void mras_body(const char *body, size_t len)
{
  struct mras_request req;
  struct owcp_error err;
  enum mras_reason r = mras_request_parse(body, len, &req, &err);
  if (r == MRAS_MALFORMED &&
      (req.request_id != NULL || req.to != NULL || req.count != 0))
    abort(); /* a malformed request must not echo anything */
  if (r == MRAS_OK && (req.count == 0 || req.count > MRAS_MAX_CREDENTIALS))
    abort();
  struct mras_cred_response *out =
      calloc(req.count ? req.count : 1, sizeof *out);
  for (size_t i = 0; out != NULL && i < req.count; i++)
    out[i] = (struct mras_cred_response){.id = req.items[i].id,
                                         .username = req.items[i].identity,
                                         .password = "p",
                                         .duration = req.items[i].duration,
                                         .location = req.items[i].location,
                                         .host = "turn.example.com",
                                         .udp_port = 3478,
                                         .tcp_port = 443};
  char *xml = NULL;
  size_t xml_len = 0;
  if (out != NULL &&
      mras_response_build(r == MRAS_MALFORMED ? NULL : &req, r, out, req.count,
                          &xml, &xml_len, &err) == 0) {
    if (strlen(xml) != xml_len)
      abort();
    free(xml);
  }
  free(out);
  mras_request_free(&req);
}

/* As mras_sip.c reads an answer: every Digest header, unquoted, checked. */
static void digest_headers(const osip_message_t *m)
{
  osip_authorization_t *h = NULL;
  for (int kind = 0; kind < 2; kind++)
    for (int pos = 0;
         (kind == 0 ? osip_message_get_proxy_authorization(m, pos, &h)
                    : osip_message_get_authorization(m, pos, &h)) >= 0 &&
         h != NULL;
         pos++) {
      if (h->auth_type == NULL || strcasecmp(h->auth_type, "Digest") != 0)
        continue;
      struct digest_answer a = {.username = digest_unquote(h->username),
                                .realm = digest_unquote(h->realm),
                                .nonce = digest_unquote(h->nonce),
                                .uri = digest_unquote(h->uri),
                                .response = digest_unquote(h->response),
                                .algorithm = digest_unquote(h->algorithm),
                                .cnonce = digest_unquote(h->cnonce),
                                .opaque = digest_unquote(h->opaque),
                                .qop = digest_unquote(h->message_qop),
                                .nc = digest_unquote(h->nonce_count)};
      unsigned nc = 0;
      struct owcp_error err;
      struct digest_key key = {{0}};
      enum digest_alg alg;
      if (digest_answer_complete(&a, &nc, &err) &&
          digest_alg_parse(a.algorithm, &alg)) {
        (void)digest_nonce_check(&key, a.nonce, 1700000000, 300, NULL);
        (void)digest_answer_verify(&a, "5f3b4d392d62686136b6dcfbeec41c21", alg,
                                   "SERVICE");
      }
      digest_answer_clear(&a);
    }
}

static void one_message(const char *buf, size_t len)
{
  osip_message_t *m = NULL;
  struct owcp_error err;
  if (sip_parse_request(buf, len, &m, &err) != 0) {
    if (m != NULL)
      abort();
    mras_body(buf, len);
    return;
  }
  free(sip_transaction_key(m));
  (void)sip_content_type_is(m, MRAS_CONTENT_TYPE);
  digest_headers(m);
  const char *body = NULL;
  size_t body_len = 0;
  sip_body(m, &body, &body_len);
  if (body != NULL)
    mras_body(body, body_len);
  static const struct sip_header extra = {"Accept", MRAS_CONTENT_TYPE};
  char *out = NULL;
  size_t out_len = 0;
  if (sip_response(m, 415, NULL, "0123456789abcdef", "127.0.0.1", 5060, &extra,
                   1, MRAS_CONTENT_TYPE, "<x/>", 4, &out, &out_len) == 0)
    free(out);
  osip_message_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static int ready;
  if (!ready) {
    sip_message_init();
    ready = 1;
  }
  const char *buf = (const char *)data;
  /* As a datagram. */
  one_message(buf, size);
  /* As a stream: every message the framing finds. */
  size_t off = 0;
  while (off < size) {
    size_t skip = 0;
    long n = sip_frame(buf + off, size - off, &skip);
    if (n <= 0)
      break;
    if (skip + (size_t)n > size - off)
      abort(); /* framed beyond what was given */
    one_message(buf + off + skip, (size_t)n);
    off += skip + (size_t)n;
  }
  return 0;
}
