/*
 * log.c — JSON lines on standard error (log.h). jansson escapes every
 * string, so input cannot forge a line; its json_string() refuses invalid
 * UTF-8, so such text is first made valid with iconv (which knows UTF-8
 * exactly) rather than dropped.
 */
#include "owcp/service/log.h"

#include <errno.h>
#include <iconv.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#define SVC_LOG_MSG_MAX 1024

static atomic_int threshold = SVC_LOG_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void svc_log_set_level(enum svc_log_level level)
{
  atomic_store(&threshold, (int)level);
}

enum svc_log_level svc_log_get_level(void)
{
  return (enum svc_log_level)atomic_load(&threshold);
}

int svc_log_level_parse(const char *name, enum svc_log_level *out)
{
  for (size_t i = 0; name != NULL && i < 4; i++)
    if (strcmp(name, level_names[i]) == 0) {
      *out = (enum svc_log_level)i;
      return 0;
    }
  return -1;
}

const char *svc_log_level_name(enum svc_log_level level)
{
  return (unsigned)level < 4 ? level_names[level] : "info";
}

/* Copies what iconv converted, then \xNN for the byte it stopped at. */
char *svc_utf8_sanitize(const char *s, size_t len)
{
  /* Worst case every byte becomes four characters. */
  size_t cap = len * 4 + 1, used = 0;
  char *out = malloc(cap);
  iconv_t cd = iconv_open("UTF-8", "UTF-8");

  if (out == NULL || cd == (iconv_t)-1) {
    free(out);
    if (cd != (iconv_t)-1)
      iconv_close(cd);
    return NULL;
  }
  char *in = (char *)s;
  size_t in_left = len;
  while (in_left > 0) {
    char *dst = out + used;
    size_t dst_left = cap - 1 - used;
    size_t rc = iconv(cd, &in, &in_left, &dst, &dst_left);
    used = (size_t)(dst - out);
    if (rc != (size_t)-1)
      break;
    /* EILSEQ or EINVAL (a truncated sequence at the end): one bad byte. */
    used += (size_t)snprintf(out + used, cap - used, "\\x%02X",
                             (unsigned)(unsigned char)*in);
    in++;
    in_left--;
    iconv(cd, NULL, NULL, NULL, NULL);
  }
  iconv_close(cd);
  out[used] = '\0';
  return out;
}

/* A jansson string of s; invalid UTF-8 is escaped, never dropped. */
static json_t *string_of(const char *s)
{
  json_t *j = json_string(s);

  if (j == NULL && s != NULL) {
    char *clean = svc_utf8_sanitize(s, strlen(s));

    j = clean ? json_string(clean) : NULL;
    free(clean);
  }
  return j;
}

/* The entry as a JSON object (NULL when out of memory). */
static json_t *log_object(const char *ts, enum svc_log_level level,
                          const char *event, const char *msg)
{
  json_t *o = json_object();

  if (o != NULL && json_object_set_new(o, "ts", json_string(ts)) == 0 &&
      json_object_set_new(o, "log_level",
                          json_string(svc_log_level_name(level))) == 0 &&
      json_object_set_new(o, "event", string_of(event ? event : "-")) == 0 &&
      json_object_set_new(o, "msg", string_of(msg ? msg : "")) == 0)
    return o;
  json_decref(o);
  return NULL;
}

#define LOG_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER)

char *svc_log_line(const char *ts, enum svc_log_level level, const char *event,
                   const char *msg)
{
  json_t *o = log_object(ts, level, event, msg);
  char *line = o != NULL ? json_dumps(o, LOG_FLAGS) : NULL;

  json_decref(o);
  return line;
}

/* Writes the entry and its newline with one write to stderr (unbuffered):
 * serialised into a stack buffer, which holds any message of
 * SVC_LOG_MSG_MAX bytes even if every byte is escaped as \uXXXX; a longer
 * line (a very long event name) goes through svc_log_line(). Returns -1
 * when the line could not be built. */
static int write_line(const char *ts, enum svc_log_level level,
                      const char *event, const char *msg)
{
  char buf[SVC_LOG_MSG_MAX * 6 + 256];
  json_t *o = log_object(ts, level, event, msg);
  size_t n;

  if (o == NULL)
    return -1;
  n = json_dumpb(o, buf, sizeof buf - 1, LOG_FLAGS);
  json_decref(o);
  if (n == 0)
    return -1;
  if (n < sizeof buf - 1) {
    buf[n] = '\n';
    fwrite(buf, 1, n + 1, stderr);
    return 0;
  }
  char *line = svc_log_line(ts, level, event, msg);
  if (line == NULL)
    return -1;
  fprintf(stderr, "%s\n", line);
  free(line);
  return 0;
}

static void now_rfc3339(char *ts, size_t n)
{
  struct timeval tv;
  struct tm tm;

  gettimeofday(&tv, NULL);
  gmtime_r(&tv.tv_sec, &tm);
  snprintf(ts, n, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
           tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
           (long)(tv.tv_usec / 1000));
}

void svc_log(enum svc_log_level level, const char *event, const char *fmt, ...)
{
  char msg[SVC_LOG_MSG_MAX];
  char ts[64];
  va_list ap;

  if ((int)level > atomic_load(&threshold))
    return;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  now_rfc3339(ts, sizeof ts);
  if (write_line(ts, level, event, msg) != 0) {
    /* Out of memory: still say that something happened, and where. */
    fprintf(stderr,
            "{\"ts\":\"%s\",\"log_level\":\"error\",\"event\":\"log\","
            "\"msg\":\"a log line could not be built\"}\n",
            ts);
  }
}
