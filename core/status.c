/* The status table of binding §3 and the response skeleton built on it. */
#include "owcp/status.h"

#include <string.h>

struct status_entry {
  int code;
  const char *text;
};

#define OWCP_STATUS_ENTRY_(name, code, text) {code, text},
static const struct status_entry status_table[] = {
    OWCP_STATUS_TABLE(OWCP_STATUS_ENTRY_)};
#undef OWCP_STATUS_ENTRY_

const char *owcp_status_text(int status)
{
  for (size_t i = 0; i < sizeof(status_table) / sizeof(status_table[0]); i++) {
    if (status_table[i].code == status)
      return status_table[i].text;
  }
  return NULL;
}

/* Error sentences are built by truncating formatters (OWCP_ERROR_MAX), which
 * can cut a multi-octet UTF-8 character in half; jansson rightly refuses
 * such a string, so drop the partial character (at most 3 octets) rather
 * than lose the whole sentence. */
static json_t *error_string(const char *error)
{
  size_t len = strlen(error);
  for (size_t cut = 0; cut <= 3 && cut <= len; cut++) {
    json_t *s = json_stringn(error, len - cut);
    if (s != NULL)
      return s;
  }
  return json_string("the error description was not valid UTF-8");
}

json_t *owcp_status_json(int status, const char *error_or_null)
{
  const char *text = owcp_status_text(status);
  if (text == NULL)
    return NULL;
  json_t *obj = json_object();
  if (obj == NULL)
    return NULL;
  if (json_object_set_new(obj, "Status", json_integer(status)) != 0 ||
      json_object_set_new(obj, "Text", json_string(text)) != 0)
    goto fail;
  if (error_or_null != NULL &&
      json_object_set_new(obj, "Error", error_string(error_or_null)) != 0)
    goto fail;
  return obj;
fail:
  json_decref(obj);
  return NULL;
}
