/*
 * itest_blackhole.c — a Completion endpoint that never answers, for the
 * DR-Complete fairness tests (test_completion_fair.sh): it accepts every
 * TCP connection and neither reads nor writes, so an HTTP client waits
 * until its own timeout. It counts the connections open at once.
 *
 *   itest_blackhole --host ADDRESS --port-file F --stats F
 *
 * Listens on ADDRESS (numeric IPv4, e.g. 127.0.0.2) at a free port,
 * written to --port-file once listening. After every change the stats file
 * is rewritten as "accepted N open N max N" (connections accepted so far,
 * open now, most open at once). A connection counts as open until its peer
 * shuts it down. Runs until SIGTERM or SIGINT.
 */
#define _GNU_SOURCE /* POLLRDHUP */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "owcp/util.h"

#define MAX_OPEN 1024

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
  (void)sig;
  stop = 1;
}

/* Listening socket on host at a free port; -1 on failure (message out). */
static int listen_on(const char *host, unsigned *port)
{
  struct sockaddr_in sa = {.sin_family = AF_INET};
  socklen_t len = sizeof sa;
  int fd;

  if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
    fprintf(stderr, "itest_blackhole: '%s' is not an IPv4 address\n", host);
    return -1;
  }
  fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
      listen(fd, 256) != 0 ||
      getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
    fprintf(stderr, "itest_blackhole: cannot listen on %s: %s\n", host,
            strerror(errno));
    if (fd >= 0)
      close(fd);
    return -1;
  }
  *port = ntohs(sa.sin_port);
  return fd;
}

static int write_text(const char *path, const char *text)
{
  struct owcp_error err = {{0}};

  if (owcp_file_write_atomic(path, text, strlen(text), 0644, &err) != 0) {
    fprintf(stderr, "itest_blackhole: %s\n", err.msg);
    return -1;
  }
  return 0;
}

static void write_stats(const char *path, long accepted, int open, int max)
{
  char text[96];

  snprintf(text, sizeof text, "accepted %ld open %d max %d\n", accepted, open,
           max);
  write_text(path, text);
}

int main(int argc, char **argv)
{
  static const struct option opts[] = {
      {"host", required_argument, NULL, 'h'},
      {"port-file", required_argument, NULL, 'p'},
      {"stats", required_argument, NULL, 's'},
      {NULL, 0, NULL, 0}};
  const char *host = NULL, *port_file = NULL, *stats = NULL;
  struct pollfd fds[MAX_OPEN + 1];
  int nfds = 1, max = 0, c;
  long accepted = 0;
  unsigned port = 0;
  char text[16];

  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    if (c == 'h')
      host = optarg;
    else if (c == 'p')
      port_file = optarg;
    else if (c == 's')
      stats = optarg;
    else
      return 2;
  }
  if (host == NULL || port_file == NULL || stats == NULL) {
    fprintf(stderr,
            "usage: itest_blackhole --host ADDRESS --port-file F --stats F\n");
    return 2;
  }
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);
  signal(SIGPIPE, SIG_IGN);
  fds[0].fd = listen_on(host, &port);
  fds[0].events = POLLIN;
  if (fds[0].fd < 0)
    return 1;
  write_stats(stats, 0, 0, 0);
  snprintf(text, sizeof text, "%u\n", port);
  if (write_text(port_file, text) != 0)
    return 1;
  while (!stop) {
    if (poll(fds, (nfds_t)nfds, 500) < 0)
      continue; /* EINTR: the signal sets stop */
    for (int i = nfds - 1; i >= 1; i--)
      if (fds[i].revents & (POLLRDHUP | POLLHUP | POLLERR)) {
        close(fds[i].fd);
        fds[i] = fds[--nfds];
        write_stats(stats, accepted, nfds - 1, max);
      }
    if ((fds[0].revents & POLLIN) && nfds <= MAX_OPEN) {
      int fd = accept(fds[0].fd, NULL, NULL);

      if (fd >= 0) {
        /* never read: only the peer's shutdown is of interest */
        fds[nfds++] = (struct pollfd){.fd = fd, .events = POLLRDHUP};
        accepted++;
        if (nfds - 1 > max)
          max = nfds - 1;
        write_stats(stats, accepted, nfds - 1, max);
      }
    }
  }
  for (int i = 0; i < nfds; i++)
    close(fds[i].fd);
  return 0;
}
