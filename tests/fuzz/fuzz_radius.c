/* libFuzzer target: radius_reply_check() (enrollment-bridge/radius.h) on
 * hostile datagrams.
 *
 * The first input octet holds flags, the rest is the datagram. Random
 * octets never carry a correct Response Authenticator or
 * Message-Authenticator, so the flags let the fuzzer have them fixed up
 * (independently of radius.c, with OpenSSL's one-shot MD5 and HMAC) to
 * reach the code behind those checks:
 *   bit 0: set the identifier and the Length field to match;
 *   bit 1: compute the first well-placed Message-Authenticator correctly;
 *   bit 2: compute the Response Authenticator correctly;
 *   bit 3: require a Message-Authenticator.
 * A reply that verifies must make sense: an outcome code, text and State
 * within bounds, a Message-Authenticator when one was required, and a
 * Response Authenticator the fuzzer fixed (a forged one verifying would be
 * a missing check). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "radius.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ID 0x5a
#define FUZZ_MAX (RADIUS_MAX_PACKET + 64)

static const unsigned char SECRET[] = "fuzz-secret";
static const unsigned char REQ_AUTH[RADIUS_AUTH_LEN] = {
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

/* Offset of the first Message-Authenticator value whose attribute lies
 * wholly inside the packet, or 0. */
static size_t find_ma(const unsigned char *pkt, size_t len)
{
  for (size_t off = 20;
       off + 2 <= len && pkt[off + 1] >= 2 && pkt[off + 1] <= len - off;
       off += pkt[off + 1]) {
    if (pkt[off] == RADIUS_ATTR_MESSAGE_AUTHENTICATOR && pkt[off + 1] == 18)
      return off + 2;
  }
  return 0;
}

static void fix_ma(unsigned char *pkt, size_t len)
{
  size_t at = find_ma(pkt, len);
  unsigned char mac[RADIUS_AUTH_LEN];
  size_t mac_len = 0;

  if (at == 0)
    return;
  memcpy(pkt + 4, REQ_AUTH, RADIUS_AUTH_LEN);
  memset(pkt + at, 0, RADIUS_AUTH_LEN);
  if (EVP_Q_mac(NULL, "HMAC", NULL, "MD5", NULL, SECRET, sizeof SECRET - 1, pkt,
                len, mac, sizeof mac, &mac_len) == NULL)
    abort();
  memcpy(pkt + at, mac, sizeof mac);
}

static void fix_response_auth(unsigned char *pkt, size_t len)
{
  static unsigned char buf[FUZZ_MAX + sizeof SECRET];

  memcpy(buf, pkt, len);
  memcpy(buf + 4, REQ_AUTH, RADIUS_AUTH_LEN);
  memcpy(buf + len, SECRET, sizeof SECRET - 1);
  if (EVP_Digest(buf, len + sizeof SECRET - 1, pkt + 4, NULL, EVP_md5(),
                 NULL) != 1)
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static unsigned char pkt[FUZZ_MAX];
  static struct radius_reply reply;
  struct owcp_error err;

  if (size < 1 || size - 1 > FUZZ_MAX)
    return 0;
  uint8_t flags = data[0];
  size_t len = size - 1;
  memcpy(pkt, data + 1, len);
  bool fixable = len >= 20;
  if (fixable && (flags & 1)) {
    pkt[1] = FUZZ_ID;
    pkt[2] = (unsigned char)(len >> 8);
    pkt[3] = (unsigned char)len;
  }
  if (fixable && (flags & 2))
    fix_ma(pkt, len);
  if (fixable && (flags & 4))
    fix_response_auth(pkt, len);
  bool require_ma = (flags & 8) != 0;

  if (radius_reply_check(pkt, len, REQ_AUTH, FUZZ_ID, SECRET, sizeof SECRET - 1,
                         require_ma, &reply, &err) != 0)
    return 0;
  if (!(flags & 4))
    abort(); /* a Response Authenticator nobody computed verified */
  if (reply.code != RADIUS_CODE_ACCESS_ACCEPT &&
      reply.code != RADIUS_CODE_ACCESS_REJECT &&
      reply.code != RADIUS_CODE_ACCESS_CHALLENGE)
    abort();
  if (require_ma && !reply.has_message_authenticator)
    abort();
  if (reply.has_message_authenticator && !(flags & 2))
    abort();
  if (reply.reply_message_len + 20 > len ||
      reply.reply_message[reply.reply_message_len] != '\0' ||
      reply.state_len > RADIUS_ATTR_VALUE_MAX)
    abort();
  return 0;
}
