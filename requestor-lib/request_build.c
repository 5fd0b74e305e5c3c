/*
 * request_build.c — the requestor library's Request builder
 * (owcp/requestor.h): core's writer (owcp/request_write.h) followed by the
 * schema check, so that only XML a dispatcher will accept leaves the
 * library.
 */
#include <stdlib.h>

#include "owcp/request.h"
#include "owcp/request_write.h"
#include "owcp/requestor.h"
#include "owcp/util.h"

/* Parses xml back with v (NULL: a validator with default limits compiled
 * for this call); 0 when it is a valid Request. */
static int validate(const struct owcp_xml_validator *v, const char *xml,
                    size_t len, struct owcp_error *err)
{
  struct owcp_xml_validator *own = NULL;
  struct owcp_request *parsed = NULL;
  struct owcp_error why = {{0}};
  enum owcp_xml_result r;

  if (v == NULL) {
    own = owcp_xml_validator_new(NULL, err);
    if (own == NULL)
      return -1;
    v = own;
  }
  r = owcp_request_parse(v, xml, len, &parsed, &why);
  owcp_request_free(parsed);
  owcp_xml_validator_free(own);
  if (r != OWCP_XML_OK) {
    owcp_error_set(err, "the built request is not valid: %s", why.msg);
    return -1;
  }
  return 0;
}

/* Validates what the writer returned (rc, *xml, *len); on any failure
 * frees *xml and leaves *xml NULL and *len 0. */
static int validated(const struct owcp_xml_validator *v, int rc, char **xml,
                     size_t *len, struct owcp_error *err)
{
  if (rc == 0 && validate(v, *xml, *len, err) == 0)
    return 0;
  if (rc == 0) {
    free(*xml);
    *xml = NULL;
    *len = 0;
  }
  return -1;
}

int owcp_request_build(const struct owcp_xml_validator *v,
                       const struct owcp_request *req, char **xml, size_t *len,
                       struct owcp_error *err)
{
  int rc = owcp_request_write(req, xml, len, err);

  return validated(v, rc, xml, len, err);
}

int owcp_request_build_simple(const struct owcp_xml_validator *v,
                              const char *from, const char *to,
                              const char *type, const char *identifier,
                              const char *summary, const char *currency,
                              const char *amount, bool pin, char **xml,
                              size_t *len, struct owcp_error *err)
{
  int rc = owcp_request_write_simple(from, to, type, identifier, summary,
                                     currency, amount, pin, xml, len, err);

  return validated(v, rc, xml, len, err);
}
