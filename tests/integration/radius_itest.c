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
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

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
