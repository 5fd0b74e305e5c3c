/*
 * itest_receiver.c — a requestor's DR-Complete endpoint for integration
 * tests (test_completion.sh). It answers the first N POSTs with HTTP 500
 * (to exercise the dispatcher's backoff), then verifies each body's
 * OWCP-Signature against the dispatcher certificate taken from the
 * GET {base}/CA bundle and, when valid, appends the body as one line to the
 * accepted file and answers 200. Every attempt is appended to the attempts
 * file as "<unix milliseconds> <HTTP status>" so the test can check the
 * retry schedule.
 *
 *   itest_receiver --ca-bundle PEM --fail N --port-file F --accepted F
 *                  --attempts F [--delay-ms N]
 *
 * Listens on 127.0.0.1 at a free port, written to --port-file once serving;
 * runs until SIGTERM or SIGINT. The fail counter lives in --attempts (lines
 * already there count), so a restarted receiver keeps failing only the
 * remaining attempts. --delay-ms makes it a slow requestor: every answer
 * waits N ms, and as it serves one request at a time, a backlog of
 * deliveries to it takes N ms each (test_completion_fair.sh).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "owcp/keys.h"
#include "owcp/service/body.h"
#include "owcp/util.h"

#define MAX_BODY ((size_t)256 * 1024)

struct receiver {
  X509 *cert; /* the dispatcher's signing certificate */
  long fail_first;
  long delay_ms;
  long attempts; /* served by MHD's single internal thread only */
  const char *accepted_path, *attempts_path;
};

/* The second certificate of the GET {base}/CA bundle (client CA first,
 * then the dispatcher certificate, binding §4). */
static X509 *load_signing_cert(const char *path)
{
  FILE *fp = fopen(path, "r");
  X509 *ca, *sign = NULL;

  if (fp == NULL) {
    fprintf(stderr, "itest_receiver: cannot open '%s': %s\n", path,
            strerror(errno));
    return NULL;
  }
  ca = PEM_read_X509(fp, NULL, NULL, NULL);
  if (ca != NULL)
    sign = PEM_read_X509(fp, NULL, NULL, NULL);
  fclose(fp);
  X509_free(ca);
  if (sign == NULL)
    fprintf(stderr, "itest_receiver: '%s' does not hold two certificates\n",
            path);
  return sign;
}

static long count_lines(const char *path)
{
  FILE *fp = fopen(path, "r");
  long n = 0;
  int c;

  if (fp == NULL)
    return 0;
  while ((c = fgetc(fp)) != EOF)
    if (c == '\n')
      n++;
  fclose(fp);
  return n;
}

static int append_line(const char *path, const char *text, size_t len)
{
  FILE *fp = fopen(path, "a");
  int rc = 0;

  if (fp == NULL)
    return -1;
  if (fwrite(text, 1, len, fp) != len || fputc('\n', fp) == EOF)
    rc = -1;
  if (fclose(fp) != 0)
    rc = -1;
  return rc;
}

static long long unix_ms(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_REALTIME, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static enum MHD_Result reply(struct MHD_Connection *con, unsigned code,
                             const char *text)
{
  struct MHD_Response *res = MHD_create_response_from_buffer(
      strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
  enum MHD_Result rc;

  if (res == NULL)
    return MHD_NO;
  rc = MHD_queue_response(con, code, res);
  MHD_destroy_response(res);
  return rc;
}

/* Decides the answer to one complete POST. */
static unsigned judge(struct receiver *rx, struct MHD_Connection *con,
                      const struct svc_body *up)
{
  const char *sig =
      MHD_lookup_connection_value(con, MHD_HEADER_KIND, "OWCP-Signature");
  const char *type =
      MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Content-Type");
  struct owcp_error err = {{0}};

  rx->attempts++;
  if (rx->attempts <= rx->fail_first)
    return 500;
  if (up->too_large || type == NULL || strcmp(type, "application/json") != 0) {
    fprintf(stderr, "itest_receiver: bad content type or size\n");
    return 400;
  }
  if (sig == NULL ||
      owcp_sig_header_verify(sig, up->data, up->len, rx->cert, &err) != 0) {
    fprintf(stderr, "itest_receiver: bad signature: %s\n",
            sig ? err.msg : "no OWCP-Signature header");
    return 401;
  }
  if (memchr(up->data, '\n', up->len) != NULL ||
      append_line(rx->accepted_path, up->data, up->len) != 0) {
    fprintf(stderr, "itest_receiver: cannot record the body\n");
    return 500;
  }
  return 200;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *con,
                              const char *url, const char *method,
                              const char *version, const char *data,
                              size_t *data_size, void **con_cls)
{
  struct receiver *rx = cls;
  struct svc_body *up = *con_cls;
  char line[64];
  unsigned code;

  if (strcmp(method, "POST") != 0)
    return reply(con, 405, "POST only\n");
  if (up == NULL) {
    up = calloc(1, sizeof *up);
    if (up == NULL)
      return MHD_NO;
    svc_body_init(up, MAX_BODY);
    *con_cls = up;
    return MHD_YES;
  }
  if (*data_size > 0)
    return svc_body_consume(up, data, data_size) == 0 ? MHD_YES : MHD_NO;
  if (up->len == 0)
    up->too_large = true; /* an empty body is not a DR-Complete */
  if (rx->delay_ms > 0) {
    struct timespec ts = {rx->delay_ms / 1000, (rx->delay_ms % 1000) * 1000000};

    nanosleep(&ts, NULL);
  }
  code = judge(rx, con, up);
  snprintf(line, sizeof line, "%lld %u", unix_ms(), code);
  if (append_line(rx->attempts_path, line, strlen(line)) != 0)
    fprintf(stderr, "itest_receiver: cannot record the attempt\n");
  return reply(con, code, code == 200 ? "{}" : "refused\n");
}

static void completed(void *cls, struct MHD_Connection *con, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
  struct svc_body *up = *con_cls;

  if (up != NULL) {
    svc_body_free(up);
    free(up);
    *con_cls = NULL;
  }
}

static int write_port(struct MHD_Daemon *mhd, const char *path)
{
  const union MHD_DaemonInfo *info =
      MHD_get_daemon_info(mhd, MHD_DAEMON_INFO_BIND_PORT);
  char text[16];
  struct owcp_error err = {{0}};

  if (info == NULL)
    return -1;
  snprintf(text, sizeof text, "%u\n", (unsigned)info->port);
  if (owcp_file_write_atomic(path, text, strlen(text), 0644, &err) != 0) {
    fprintf(stderr, "itest_receiver: %s\n", err.msg);
    return -1;
  }
  return 0;
}

int main(int argc, char **argv)
{
  static const struct option opts[] = {
      {"ca-bundle", required_argument, NULL, 'c'},
      {"fail", required_argument, NULL, 'f'},
      {"port-file", required_argument, NULL, 'p'},
      {"accepted", required_argument, NULL, 'a'},
      {"attempts", required_argument, NULL, 't'},
      {"delay-ms", required_argument, NULL, 'd'},
      {NULL, 0, NULL, 0}};
  struct receiver rx = {0};
  const char *bundle = NULL, *port_file = NULL;
  struct MHD_Daemon *mhd;
  sigset_t stop;
  int c, sig;

  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case 'c':
      bundle = optarg;
      break;
    case 'f':
      rx.fail_first = strtol(optarg, NULL, 10);
      break;
    case 'p':
      port_file = optarg;
      break;
    case 'a':
      rx.accepted_path = optarg;
      break;
    case 't':
      rx.attempts_path = optarg;
      break;
    case 'd':
      rx.delay_ms = strtol(optarg, NULL, 10);
      break;
    default:
      return 2;
    }
  }
  if (bundle == NULL || port_file == NULL || rx.accepted_path == NULL ||
      rx.attempts_path == NULL) {
    fprintf(stderr, "usage: itest_receiver --ca-bundle PEM --fail N "
                    "--port-file F --accepted F --attempts F\n");
    return 2;
  }
  rx.cert = load_signing_cert(bundle);
  if (rx.cert == NULL)
    return 1;
  rx.attempts = count_lines(rx.attempts_path);
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, NULL);
  signal(SIGPIPE, SIG_IGN);
  {
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};

    mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG,
                           0, NULL, NULL, handle, &rx, MHD_OPTION_SOCK_ADDR,
                           (struct sockaddr *)&sa, MHD_OPTION_NOTIFY_COMPLETED,
                           completed, NULL, MHD_OPTION_END);
  }
  if (mhd == NULL || write_port(mhd, port_file) != 0) {
    fprintf(stderr, "itest_receiver: cannot start listening\n");
    X509_free(rx.cert);
    return 1;
  }
  while (sigwait(&stop, &sig) != 0)
    ;
  MHD_stop_daemon(mhd);
  X509_free(rx.cert);
  return 0;
}
