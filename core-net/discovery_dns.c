/*
 * discovery_dns.c — discovery's DNS queries through c-ares: a fresh
 * channel per lookup, the URI, SRV and TXT queries sent together, the
 * statuses put into words, and TTLs read from the answers' RR headers
 * (discovery_internal.h).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sys/time.h>
#include <time.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ares.h>

#include "discovery_internal.h"

/* ---- DNS through c-ares ---------------------------------------------------
 */

static void on_answer(void *arg, int status, int timeouts, unsigned char *abuf,
                      int alen)
{
  struct disc_dns_answer *a = arg;
  a->done = true;
  a->status = status;
  if (status == ARES_SUCCESS && abuf != NULL && alen > 0) {
    a->abuf = malloc((size_t)alen);
    if (a->abuf == NULL) {
      a->status = ARES_ENOMEM;
      return;
    }
    memcpy(a->abuf, abuf, (size_t)alen);
    a->alen = alen;
  }
}

static pthread_once_t ares_once = PTHREAD_ONCE_INIT;
static int ares_once_rc = ARES_ENOTINITIALIZED;

static void ares_global_once(void)
{
  ares_once_rc = ares_library_init(ARES_LIB_INIT_ALL);
}

/* A fresh channel per lookup: c-ares channels must not be shared between
 * threads, and the discovery object may be. */
static int channel_open(const char *servers, int timeout_ms, ares_channel *ch,
                        struct owcp_error *err)
{
  if (pthread_once(&ares_once, ares_global_once) != 0 ||
      ares_once_rc != ARES_SUCCESS) {
    owcp_error_set(err, "c-ares could not be initialised");
    return -1;
  }
  struct ares_options opts;
  memset(&opts, 0, sizeof(opts));
  /* Two tries that fit in the caller's budget (c-ares doubles later ones). */
  opts.timeout = timeout_ms / 3 > 0 ? timeout_ms / 3 : 1;
  opts.tries = 2;
  /* Without NOCHECKRESP, c-ares 1.18 turns SERVFAIL and REFUSED into
   * "connection refused" once every server was skipped; with it the rcode
   * reaches us and the error can say SERVFAIL (the price: no retry on the
   * next server for those rcodes). */
  opts.flags = ARES_FLAG_NOCHECKRESP;
  int rc = ares_init_options(
      ch, &opts, ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_FLAGS);
  if (rc != ARES_SUCCESS) {
    owcp_error_set(err, "c-ares channel: %s", ares_strerror(rc));
    return -1;
  }
  if (servers != NULL) {
    rc = ares_set_servers_ports_csv(*ch, servers);
    if (rc != ARES_SUCCESS) {
      owcp_error_set(err, "DNS server list '%.80s': %s", servers,
                     ares_strerror(rc));
      ares_destroy(*ch);
      return -1;
    }
  }
  return 0;
}

static bool answers_done(const struct disc_dns_answer *a, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    if (!a[i].done) {
      return false;
    }
  }
  return true;
}

/* Drives the channel with poll() until every query finished or the
 * deadline passed (then the rest are cancelled and marked as timed out). */
static int channel_run(ares_channel ch, uint64_t deadline_ms,
                       struct disc_dns_answer *a, size_t n,
                       struct owcp_error *err)
{
  while (!answers_done(a, n)) {
    uint64_t now = disc_now_ms();
    if (now >= deadline_ms) {
      ares_cancel(ch);
      for (size_t i = 0; i < n; i++) {
        if (a[i].status == ARES_ECANCELLED) {
          a[i].status = ARES_ETIMEOUT;
        }
      }
      return 0;
    }
    ares_socket_t socks[ARES_GETSOCK_MAXNUM];
    /* c-ares' ARES_GETSOCK_WRITABLE shifts a signed 1 into the sign bit
     * for the last socket; test the bits unsigned instead. */
    unsigned bits = (unsigned)ares_getsock(ch, socks, ARES_GETSOCK_MAXNUM);
    struct pollfd pfd[ARES_GETSOCK_MAXNUM];
    nfds_t nfds = 0;
    for (int i = 0; i < ARES_GETSOCK_MAXNUM; i++) {
      short ev = 0;
      if (bits & (1u << i)) {
        ev |= POLLIN;
      }
      if (bits & (1u << (i + ARES_GETSOCK_MAXNUM))) {
        ev |= POLLOUT;
      }
      if (ev != 0) {
        pfd[nfds].fd = socks[i];
        pfd[nfds].events = ev;
        pfd[nfds].revents = 0;
        nfds++;
      }
    }
    uint64_t left = deadline_ms - now;
    struct timeval maxtv = {.tv_sec = (time_t)(left / 1000),
                            .tv_usec = (suseconds_t)(left % 1000) * 1000};
    struct timeval tv;
    const struct timeval *t = ares_timeout(ch, &maxtv, &tv);
    int wait_ms = (int)(t->tv_sec * 1000 + (t->tv_usec + 999) / 1000);
    int ready = poll(pfd, nfds, wait_ms);
    if (ready < 0 && errno != EINTR) {
      owcp_error_set(err, "waiting for DNS answers: %s", strerror(errno));
      return -1;
    }
    if (ready <= 0) {
      /* Lets c-ares notice its own timeouts and retry. */
      ares_process_fd(ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
      continue;
    }
    for (nfds_t i = 0; i < nfds; i++) {
      short r = pfd[i].revents;
      ares_process_fd(
          ch, (r & (POLLIN | POLLERR | POLLHUP)) ? pfd[i].fd : ARES_SOCKET_BAD,
          (r & POLLOUT) ? pfd[i].fd : ARES_SOCKET_BAD);
    }
  }
  return 0;
}

/* A DNS failure in words a DNS operator recognises. */
const char *disc_dns_status_text(int status)
{
  switch (status) {
  case ARES_ENOTFOUND:
    return "does not exist (NXDOMAIN)";
  case ARES_ENODATA:
    return "has no records of that type";
  case ARES_ESERVFAIL:
    return "server failure (SERVFAIL)";
  case ARES_EREFUSED:
    return "query refused (REFUSED)";
  case ARES_ETIMEOUT:
    return "no answer in time (timeout)";
  case ARES_ECONNREFUSED:
    return "no DNS server reachable (connection refused)";
  case ARES_EFORMERR:
    return "query rejected as malformed (FORMERR)";
  case ARES_ENOTIMP:
    return "query type not implemented by the server (NOTIMP)";
  case ARES_EBADRESP:
    return "malformed answer";
  case ARES_EBADNAME:
    return "malformed answer (bad domain name)";
  default:
    return ares_strerror(status);
  }
}

/* "No such records" moves discovery on; anything else is a failure. */
bool disc_dns_status_absent(int status)
{
  return status == ARES_ENOTFOUND || status == ARES_ENODATA;
}

/* Smallest TTL of the answer-section records of `type` (c-ares' SRV and
 * TXT parsers drop TTLs, so the fixed RR headers are read here). Returns
 * MAX_TTL_S when none is found; TTLs with the top bit set count as 0
 * (RFC 2181 §8). */
unsigned disc_answer_min_ttl(const unsigned char *abuf, int alen, int type)
{
  unsigned best = MAX_TTL_S;
  if (alen < 12) {
    return 0;
  }
  unsigned qd = ((unsigned)abuf[4] << 8) | abuf[5];
  unsigned an = ((unsigned)abuf[6] << 8) | abuf[7];
  const unsigned char *p = abuf + 12;
  const unsigned char *end = abuf + alen;
  for (unsigned i = 0; i < qd + an; i++) {
    char *name = NULL;
    long enclen = 0;
    if (ares_expand_name(p, abuf, alen, &name, &enclen) != ARES_SUCCESS) {
      return 0;
    }
    ares_free_string(name);
    p += enclen;
    size_t fixed = i < qd ? 4 : 10;
    if ((size_t)(end - p) < fixed) {
      return 0;
    }
    if (i < qd) {
      p += fixed;
      continue;
    }
    int rtype = (p[0] << 8) | p[1];
    uint32_t ttl = ((uint32_t)p[4] << 24) | ((uint32_t)p[5] << 16) |
                   ((uint32_t)p[6] << 8) | p[7];
    size_t rdlen = ((size_t)p[8] << 8) | p[9];
    p += fixed;
    if ((size_t)(end - p) < rdlen) {
      return 0;
    }
    p += rdlen;
    if (rtype == type) {
      unsigned t = (ttl & 0x80000000u) ? 0 : ttl;
      if (t < best) {
        best = t;
      }
    }
  }
  return best;
}

/* Sends the URI, SRV and TXT queries at once and waits for all three. */
int disc_dns_query_all(const char *servers, int timeout_ms, const char *name,
                       struct disc_dns_answer ans[3], struct owcp_error *err)
{
  static const int types[3] = {T_URI_RR, T_SRV_RR, T_TXT_RR};
  memset(ans, 0, 3 * sizeof(*ans));
  ares_channel ch;
  if (channel_open(servers, timeout_ms, &ch, err) != 0) {
    return -1;
  }
  for (size_t i = 0; i < 3; i++) {
    ans[i].status = ARES_ECANCELLED;
    ares_query(ch, name, C_IN_RR, types[i], on_answer, &ans[i]);
  }
  int rc = channel_run(ch, disc_now_ms() + (uint64_t)timeout_ms, ans, 3, err);
  ares_destroy(ch);
  return rc;
}
