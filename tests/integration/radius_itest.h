/*
 * radius_itest.h — what the RADIUS client's integration tests share
 * (test_radius_freeradius.c, test_radius_hostile.c): loopback UDP ports,
 * a monotonic clock, and a client configuration for one or two servers.
 */
#ifndef OWCP_RADIUS_ITEST_H
#define OWCP_RADIUS_ITEST_H

#include "radius.h"

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

#endif
