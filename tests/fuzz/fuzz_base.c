/* libFuzzer target: arbitrary text through the base checks shared by
 * discovery and the HTTP client — owcp_base_list_single() (both policies),
 * owcp_host_is_loopback() and owcp_base_redact() — asserting what the rest
 * of the code relies on rather than just "no crash". */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "owcp/discovery.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The redaction contract: NUL-terminated within cap, printable ASCII only,
 * and nothing between "://" and the last '@' survives. */
static void check_redact(const char *text)
{
  static const size_t caps[] = {1, 2, 9, 96, 512};
  for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
    char out[512];
    memset(out, 'Z', sizeof(out));
    owcp_base_redact(text, out, caps[i]);
    size_t len = strnlen(out, caps[i]);
    if (len >= caps[i]) {
      abort(); /* not terminated within cap */
    }
    for (size_t j = 0; j < len; j++) {
      unsigned char ch = (unsigned char)out[j];
      if (ch < 0x20 || ch >= 0x7f) {
        abort();
      }
    }
  }
  /* With room enough, the output is exactly: the text up to "://", then
   * "***" for everything up to the last '@' (if any), then the rest, with
   * non-printable octets as '?'. */
  char want[1100];
  size_t w = 0;
  const char *auth = strstr(text, "://");
  auth = auth != NULL ? auth + 3 : text;
  const char *at = strrchr(auth, '@');
  for (const char *p = text; *p != '\0'; p++) {
    if (at != NULL && p == auth) {
      memcpy(want + w, "***", 3);
      w += 3;
      p = at;
    }
    unsigned char ch = (unsigned char)*p;
    char shown = '?';
    if (ch >= 0x20 && ch < 0x7f) {
      shown = *p;
    }
    want[w++] = shown;
  }
  want[w] = '\0';
  char out[1100];
  owcp_base_redact(text, out, sizeof(out));
  if (strcmp(out, want) != 0) {
    abort();
  }
}

/* An accepted base is normalised: the scheme the policy allows, no user
 * information, query or fragment, no trailing '/', and normalising it
 * again gives the same text. */
static void check_single(const char *text, bool insecure)
{
  struct owcp_base_list l;
  struct owcp_error err;
  err.msg[0] = '\0';
  if (owcp_base_list_single(text, insecure, &l, &err) != 0) {
    if (l.n != 0 || l.bases != NULL || err.msg[0] == '\0') {
      abort();
    }
    return;
  }
  if (l.n != 1 || l.source != OWCP_DISCOVERY_MANUAL) {
    abort();
  }
  const char *b = l.bases[0];
  bool https = strncmp(b, "https://", 8) == 0;
  bool http = strncmp(b, "http://", 7) == 0;
  if (!https && !(http && insecure)) {
    abort();
  }
  const char *auth = b + (https ? 8 : 7);
  size_t auth_len = strcspn(auth, "/");
  if (memchr(auth, '@', auth_len) != NULL || strpbrk(b, "?#") != NULL) {
    abort();
  }
  size_t len = strlen(b);
  if (b[len - 1] == '/') {
    abort();
  }
  struct owcp_base_list again;
  if (owcp_base_list_single(b, insecure, &again, &err) != 0 ||
      strcmp(again.bases[0], b) != 0) {
    abort();
  }
  owcp_base_list_free(&again);
  owcp_base_list_free(&l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size > 1000) {
    return 0;
  }
  char *text = malloc(size + 1);
  if (text == NULL) {
    return 0;
  }
  memcpy(text, data, size);
  text[size] = '\0';
  check_single(text, false);
  check_single(text, true);
  (void)owcp_host_is_loopback(text);
  check_redact(text);
  free(text);
  return 0;
}
