/*
 * body.c — request bodies under a limit (body.h).
 */
#include "owcp/service/body.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void svc_body_init(struct svc_body *b, size_t max)
{
  memset(b, 0, sizeof *b);
  b->max = max;
}

bool svc_body_length_exceeds(const char *content_length, size_t max)
{
  unsigned long long n;
  char *end;

  if (content_length == NULL || content_length[0] < '0' ||
      content_length[0] > '9')
    return false; /* absent or malformed: MHD refuses malformed lengths */
  errno = 0;
  n = strtoull(content_length, &end, 10);
  if (errno == ERANGE)
    return true;
  return *end == '\0' && n > (unsigned long long)max;
}

bool svc_body_declared_too_large(struct MHD_Connection *con, size_t max)
{
  return svc_body_length_exceeds(
      MHD_lookup_connection_value(con, MHD_HEADER_KIND,
                                  MHD_HTTP_HEADER_CONTENT_LENGTH),
      max);
}

int svc_body_append(struct svc_body *b, const char *data, size_t len)
{
  if (b->too_large || len == 0)
    return 0;
  if (len > b->max - b->len) {
    b->too_large = true;
    return 0;
  }
  char *grown = realloc(b->data, b->len + len + 1);
  if (grown == NULL)
    return -1;
  memcpy(grown + b->len, data, len);
  b->data = grown;
  b->len += len;
  b->data[b->len] = '\0';
  return 0;
}

int svc_body_consume(struct svc_body *b, const char *upload,
                     size_t *upload_size)
{
  int rc = svc_body_append(b, upload, *upload_size);

  *upload_size = 0;
  return rc;
}

int svc_body_finish(struct svc_body *b)
{
  if (b->data == NULL && (b->data = calloc(1, 1)) == NULL)
    return -1;
  return 0;
}

void svc_body_free(struct svc_body *b)
{
  free(b->data);
  memset(b, 0, sizeof *b);
}
