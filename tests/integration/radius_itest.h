/*
 * radius_itest.h — what the RADIUS client's integration tests share
 * (test_radius_freeradius.c, test_radius_hostile.c) and the bridge's
 * end-to-end tests: loopback UDP ports, a monotonic clock, a client
 * configuration for one or two servers, and a real FreeRADIUS 3.2.1
 * started on loopback (design/enrollment-interop.md §5): a copy of
 * /etc/freeradius/3.0 whose only virtual server listens on 127.0.0.1 at a
 * free port, one client with require_message_authenticator (so FreeRADIUS
 * drops any request without a valid Message-Authenticator), reject_delay
 * 0, replies signed with a Message-Authenticator, an Accept user whose
 * password is PIN + OTP and a Challenge user.
 *
 * Run as root, FreeRADIUS reads its configuration as root and then drops
 * to the freerad user (radiusd.conf user/group); as another user the copy
 * loses those two lines, since only root can switch users.
 */
#ifndef OWCP_RADIUS_ITEST_H
#define OWCP_RADIUS_ITEST_H

#include <sys/types.h>

#include "radius.h"

/* The FreeRADIUS users and shared secret. */
#define RADIUS_ITEST_SECRET "owcp-radius-itest-secret"
#define RADIUS_ITEST_ALICE "EXAMPLE\\alice" /* Accept with PIN + OTP */
#define RADIUS_ITEST_ALICE_PIN "4711"
#define RADIUS_ITEST_ALICE_OTP "123456"
#define RADIUS_ITEST_CAROL "EXAMPLE\\carol" /* Challenge */
#define RADIUS_ITEST_CAROL_OTP "000111"

/* A UDP port on 127.0.0.1 that was free a moment ago (bound to port 0,
 * read back, closed): for a server's configuration, or as a dead port that
 * nothing answers on. 0 when no socket can be had (callable from cmocka
 * setup functions, which may not assert). */
unsigned short radius_itest_free_port(void);

/* Milliseconds of CLOCK_MONOTONIC, for measuring how long a call took. */
long long radius_itest_now_ms(void);

/* Servers 127.0.0.1:ports[i] (count ≤ 2) and a configuration for them with
 * the given secret, timeout and retries; NAS-Identifier "owcp-bridge",
 * Message-Authenticator required. cfg->servers points into servers. */
void radius_itest_config(struct radius_config *cfg,
                         struct radius_server servers[2],
                         const unsigned short *ports, size_t count,
                         const char *secret, int timeout_ms, int retries);

/* One FreeRADIUS process and its private directory. */
struct radius_itest_freeradius {
  char dir[512];   /* temporary directory */
  char raddb[600]; /* the configuration copy */
  char log[600];   /* FreeRADIUS -X output */
  unsigned short port;
  pid_t pid;
};

/* Configures and starts `freeradius -X` on 127.0.0.1 at a free port and
 * waits (at most 20 s) for "Ready to process requests". extra_users (may
 * be NULL) is appended to the users file (mods-config/files/authorize).
 * Returns 0, or -1 with the reason (and FreeRADIUS's last output) on
 * stderr: callable from cmocka setup functions, which may not assert.
 * Release with radius_itest_freeradius_stop() either way. */
int radius_itest_freeradius_start(struct radius_itest_freeradius *fr,
                                  const char *extra_users);

/* SIGTERM, reap, remove the directory; NULL and repeated calls are fine. */
void radius_itest_freeradius_stop(struct radius_itest_freeradius *fr);

#endif
