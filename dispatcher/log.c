#include "log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

void dlog(const char *level, const char *event, const char *fmt, ...)
{
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);

  struct timeval tv;
  gettimeofday(&tv, NULL);
  struct tm tm;
  gmtime_r(&tv.tv_sec, &tm);
  char ts[96];
  snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
           tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
           tm.tm_sec, (long)(tv.tv_usec / 1000));

  /* jansson escapes the message, so no log line can be forged by input. */
  json_t *o = json_pack("{s:s, s:s, s:s, s:s?}", "ts", ts, "level", level,
                        "event", event, "msg", msg);
  char *line = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
  if (line) {
    fprintf(stderr, "%s\n", line);
  } else {
    fprintf(stderr, "{\"level\":\"error\",\"event\":\"log\"}\n");
  }
  free(line);
  json_decref(o);
}
