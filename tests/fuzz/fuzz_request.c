/* libFuzzer target: arbitrary bytes through owcp_request_parse() and, when
 * a document is accepted, through both rendering modes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "owcp/render.h"
#include "owcp/request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The validator is process-wide and read-only, as in the dispatcher; a
 * static pointer is acceptable in a fuzzer (and only here). */
static struct owcp_xml_validator *validator;

static void render_all(const struct owcp_request *req)
{
  static const enum owcp_render_mode modes[] = {OWCP_RENDER_PLAIN,
                                                OWCP_RENDER_ANSI};
  for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
    struct owcp_error err;
    char *s = owcp_render_request(req, modes[i], &err);
    /* Money amounts are schema-valid decimals, so rendering an accepted
     * request can fail only for lack of memory. */
    if (s == NULL)
      abort();
    free(s);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (validator == NULL) {
    struct owcp_error err;
    validator = owcp_xml_validator_new(NULL, &err);
    if (validator == NULL)
      abort();
  }
  struct owcp_request *req = NULL;
  struct owcp_error err;
  enum owcp_xml_result rc =
      owcp_request_parse(validator, (const char *)data, size, &req, &err);
  if (rc == OWCP_XML_OK) {
    render_all(req);
    owcp_request_free(req);
  } else if (req != NULL) {
    abort(); /* a failed parse must not hand out a request */
  }
  return 0;
}
