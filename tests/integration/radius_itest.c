/*
 * radius_itest.c — see radius_itest.h.
 */
#include "radius_itest.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "owcp/util.h"
#include "testutil.h"

unsigned short radius_itest_free_port(void)
{
  struct sockaddr_in addr = {.sin_family = AF_INET};
  socklen_t len = sizeof addr;
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  unsigned short port = 0;

  if (fd < 0)
    return 0;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) == 0 &&
      getsockname(fd, (struct sockaddr *)&addr, &len) == 0)
    port = ntohs(addr.sin_port);
  (void)close(fd);
  return port;
}

long long radius_itest_now_ms(void)
{
  struct timespec ts;

  (void)clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void radius_itest_config(struct radius_config *cfg,
                         struct radius_server servers[2],
                         const unsigned short *ports, size_t count,
                         const char *secret, int timeout_ms, int retries)
{
  assert_true(count >= 1 && count <= 2);
  memset(servers, 0, 2 * sizeof servers[0]);
  for (size_t i = 0; i < count; i++) {
    (void)snprintf(servers[i].host, sizeof servers[i].host, "127.0.0.1");
    servers[i].port = ports[i];
  }
  *cfg = (struct radius_config){
      .servers = servers,
      .server_count = count,
      .secret = (const unsigned char *)secret,
      .secret_len = strlen(secret),
      .timeout_ms = timeout_ms,
      .retries = retries,
      .nas_identifier = "owcp-bridge",
      .require_message_authenticator = true,
  };
}

/* ---- FreeRADIUS ---------------------------------------------------------- */

/* Setup may not assert (cmocka): these helpers say what failed on stderr
 * and return -1. */
static int write_text(const char *dir, const char *name, const char *text)
{
  char path[1024];
  struct owcp_error err;

  (void)snprintf(path, sizeof path, "%s/%s", dir, name);
  if (owcp_file_write_atomic(path, text, strlen(text), 0600, &err) != 0) {
    fprintf(stderr, "%s\n", err.msg);
    return -1;
  }
  return 0;
}

/* Replaces the first `from` in the file dir/name by `to`. */
static int edit_text(const char *dir, const char *name, const char *from,
                     const char *to)
{
  char path[1024];
  unsigned char *data = NULL;
  size_t len = 0;
  struct owcp_error err;

  (void)snprintf(path, sizeof path, "%s/%s", dir, name);
  if (owcp_file_read(path, (size_t)1 << 20, &data, &len, &err) != 0) {
    fprintf(stderr, "%s\n", err.msg);
    return -1;
  }
  const char *at = strstr((char *)data, from);
  size_t out_len = len - strlen(from) + strlen(to);
  char *out = at != NULL ? malloc(out_len + 1) : NULL;
  int rc = -1;
  if (out != NULL) {
    (void)snprintf(out, out_len + 1, "%.*s%s%s", (int)(at - (char *)data),
                   (char *)data, to, at + strlen(from));
    rc = owcp_file_write_atomic(path, out, out_len, 0600, &err);
  }
  if (rc != 0)
    fprintf(stderr, "cannot change '%s' in %s\n", from, path);
  free(out);
  free(data);
  return rc;
}

static int remove_file(const char *dir, const char *name)
{
  char path[1024];

  (void)snprintf(path, sizeof path, "%s/%s", dir, name);
  if (unlink(path) != 0) {
    fprintf(stderr, "cannot remove %s: %s\n", path, strerror(errno));
    return -1;
  }
  return 0;
}

/* The one virtual server: PAP against the users file, every reply signed
 * (FreeRADIUS 3.2.1 predates the BlastRADIUS fixes and signs a reply only
 * when asked to). The packaged default also listens on *, accounting and
 * IPv6, and needs the eap module; none of that is wanted here. */
static int configure_site(const struct radius_itest_freeradius *fr)
{
  char site[1024];

  (void)snprintf(site, sizeof site,
                 "server default {\n"
                 "  listen {\n"
                 "    type = auth\n"
                 "    ipaddr = 127.0.0.1\n"
                 "    port = %u\n"
                 "  }\n"
                 "  authorize {\n"
                 "    files\n"
                 "    pap\n"
                 "    update reply {\n"
                 "      Message-Authenticator := 0x00\n"
                 "    }\n"
                 "  }\n"
                 "  authenticate {\n"
                 "    Auth-Type PAP {\n"
                 "      pap\n"
                 "    }\n"
                 "  }\n"
                 "  post-auth {\n"
                 "  }\n"
                 "}\n",
                 fr->port);
  if (remove_file(fr->raddb, "sites-enabled/inner-tunnel") != 0 ||
      remove_file(fr->raddb, "sites-enabled/default") != 0 ||
      remove_file(fr->raddb, "mods-enabled/eap") != 0)
    return -1;
  return write_text(fr->raddb, "sites-enabled/default", site);
}

/* FreeRADIUS started as root loads its modules after dropping to the
 * freerad user: the copy must be readable by that user (files written
 * here are 0600 root). Started as anyone else, it cannot switch users, so
 * the copy loses the user/group lines and stays with its owner. */
static int own_files(const struct radius_itest_freeradius *fr)
{
  const char *chown_argv[] = {"chown", "-R", "freerad:freerad", fr->raddb,
                              NULL};

  if (getuid() != 0)
    return edit_text(fr->raddb, "radiusd.conf", "user = freerad", "#") != 0 ||
                   edit_text(fr->raddb, "radiusd.conf", "group = freerad",
                             "#") != 0
               ? -1
               : 0;
  if (chmod(fr->dir, 0711) != 0 || testutil_exec(chown_argv, NULL) != 0) {
    fprintf(stderr, "cannot hand %s to the freerad user\n", fr->raddb);
    return -1;
  }
  return 0;
}

/* The users file: the Accept and Challenge users of radius_itest.h, then
 * extra_users (may be NULL). Single-quoted names: a double-quoted one with
 * an escaped backslash did not match in 3.2.1 (interop notes). */
static int write_users(const struct radius_itest_freeradius *fr,
                       const char *extra_users)
{
  static const char users[] =
      "'" RADIUS_ITEST_ALICE
      "' Cleartext-Password := \"" RADIUS_ITEST_ALICE_PIN RADIUS_ITEST_ALICE_OTP
      "\"\n"
      "\tReply-Message = \"welcome alice\"\n"
      "'" RADIUS_ITEST_CAROL "' Cleartext-Password := \"" RADIUS_ITEST_CAROL_OTP
      "\", Response-Packet-Type := Access-Challenge\n"
      "\tReply-Message = \"enter the next code\", "
      "State = 0x6368616c6c656e67652d31\n";
  size_t size = sizeof users + (extra_users ? strlen(extra_users) : 0);
  char *text = malloc(size);

  if (text == NULL)
    return -1;
  (void)snprintf(text, size, "%s%s", users, extra_users ? extra_users : "");
  int rc = write_text(fr->raddb, "mods-config/files/authorize", text);
  free(text);
  return rc;
}

static int configure(const struct radius_itest_freeradius *fr,
                     const char *extra_users)
{
  const char *copy[] = {"cp", "-a", "/etc/freeradius/3.0/.", fr->raddb, NULL};

  if (mkdir(fr->raddb, 0700) != 0 || testutil_exec(copy, NULL) != 0) {
    fprintf(stderr, "cannot copy /etc/freeradius/3.0 to %s\n", fr->raddb);
    return -1;
  }
  if (configure_site(fr) != 0 ||
      write_text(fr->raddb, "clients.conf",
                 "client localhost {\n"
                 "  ipaddr = 127.0.0.1\n"
                 "  secret = " RADIUS_ITEST_SECRET "\n"
                 "  require_message_authenticator = yes\n"
                 "}\n") != 0 ||
      write_users(fr, extra_users) != 0 ||
      edit_text(fr->raddb, "radiusd.conf", "reject_delay = 1",
                "reject_delay = 0") != 0)
    return -1;
  return own_files(fr);
}

static bool log_says_ready(const struct radius_itest_freeradius *fr)
{
  unsigned char *data = NULL;
  size_t len = 0;

  if (owcp_file_read(fr->log, (size_t)16 << 20, &data, &len, NULL) != 0)
    return false;
  bool ready = strstr((char *)data, "Ready to process requests") != NULL;
  free(data);
  return ready;
}

/* Copies the end of FreeRADIUS's output to stderr: the test's directory
 * is gone by the time anyone could read the log. */
static void log_tail(const struct radius_itest_freeradius *fr)
{
  unsigned char *data = NULL;
  size_t len = 0;

  if (owcp_file_read(fr->log, (size_t)16 << 20, &data, &len, NULL) != 0)
    return;
  size_t from = len > 3000 ? len - 3000 : 0;
  fprintf(stderr, "--- end of %s\n%s\n---\n", fr->log, (char *)data + from);
  free(data);
}

/* Starts `freeradius -X` with its output in fr->log and waits (at most
 * 20 s) for "Ready to process requests". */
static int start(struct radius_itest_freeradius *fr)
{
  fr->pid = fork();
  if (fr->pid < 0)
    return -1;
  if (fr->pid == 0) {
    int fd = open(fr->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0)
      _exit(127);
    execlp("freeradius", "freeradius", "-X", "-d", fr->raddb, "-l", "stdout",
           (char *)NULL);
    _exit(127);
  }
  for (int i = 0; i < 200; i++) {
    if (log_says_ready(fr))
      return 0;
    if (waitpid(fr->pid, NULL, WNOHANG) == fr->pid) {
      fr->pid = 0;
      fprintf(stderr, "freeradius exited during start-up\n");
      log_tail(fr);
      return -1;
    }
    (void)usleep(100 * 1000);
  }
  fprintf(stderr, "freeradius not ready after 20 s\n");
  log_tail(fr);
  return -1;
}

int radius_itest_freeradius_start(struct radius_itest_freeradius *fr,
                                  const char *extra_users)
{
  memset(fr, 0, sizeof *fr);
  if (testutil_tmpdir_make(fr->dir, sizeof fr->dir, "radius") != 0)
    return -1;
  (void)snprintf(fr->raddb, sizeof fr->raddb, "%s/raddb", fr->dir);
  (void)snprintf(fr->log, sizeof fr->log, "%s/freeradius.log", fr->dir);
  fr->port = radius_itest_free_port();
  if (fr->port == 0 || configure(fr, extra_users) != 0 || start(fr) != 0)
    return -1;
  return 0;
}

void radius_itest_freeradius_stop(struct radius_itest_freeradius *fr)
{
  if (fr == NULL)
    return;
  if (fr->pid > 0) {
    (void)kill(fr->pid, SIGTERM);
    (void)waitpid(fr->pid, NULL, 0);
    fr->pid = 0;
  }
  if (fr->dir[0] != '\0')
    (void)testutil_tmpdir_remove(fr->dir);
  fr->dir[0] = '\0';
}
