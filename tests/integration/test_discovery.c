/*
 * test_discovery.c — spec §7 discovery against a real DNS server: each test
 * group starts dnsmasq on 127.0.0.1 at a free port (no configuration file,
 * no upstream resolvers) serving URI records (--dns-rr type 256), SRV and
 * TXT records; everything under .test is answered locally, so names
 * without records give NXDOMAIN. SERVFAIL comes from a tiny upstream in
 * this program that answers every query with SERVFAIL (dnsmasq passes it
 * through); an upstream at a closed port makes dnsmasq stay silent (a
 * timeout). Answers dnsmasq would never give (TTLs with the top bit set,
 * overlong RDLENGTH, compression loops, 70 records) come from the same
 * in-program server queried directly. The last test resolves URI records
 * pointing at a down and a live dispatcher and posts through the HTTP client.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "itest.h"
#include "owcp/discovery.h"
#include "owcp/httpc.h"

#define DNSMASQ "/usr/sbin/dnsmasq"

/* ---- helpers: ports, processes ------------------------------------------ */

/* A port free for both UDP and TCP on 127.0.0.1 (dnsmasq needs both). */
static int free_port(void)
{
  for (int attempt = 0; attempt < 50; attempt++) {
    int t = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(t >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    assert_int_equal(bind(t, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(t, (struct sockaddr *)&a, &len), 0);
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(u >= 0);
    int ok = bind(u, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(u);
    close(t);
    if (ok) {
      return ntohs(a.sin_port);
    }
  }
  fail_msg("no free port found");
  return -1;
}

/* A running dnsmasq and the c-ares server string for it. */
struct dns {
  pid_t pid;
  int port;
  char servers[64];
};

/* Hex of a URI RR's RDATA (RFC 7553: priority, weight, target octets) for
 * dnsmasq's --dns-rr. */
static void uri_rr(char *out, size_t cap, const char *name, int prio,
                   int weight, const char *target)
{
  int n = snprintf(out, cap, "--dns-rr=%s,256,%04x%04x", name, prio, weight);
  for (const char *p = target; *p != '\0' && (size_t)n + 3 < cap; p++) {
    n += snprintf(out + n, cap - (size_t)n, "%02x", (unsigned char)*p);
  }
}

/* Starts dnsmasq with the NULL-terminated record arguments and waits until
 * it accepts TCP connections on its port. */
static void dns_start(struct dns *d, int ttl, const char *const *records)
{
  memset(d, 0, sizeof(*d));
  d->port = free_port();
  snprintf(d->servers, sizeof(d->servers), "127.0.0.1:%d", d->port);
  char port_arg[32], ttl_arg[32];
  snprintf(port_arg, sizeof(port_arg), "--port=%d", d->port);
  snprintf(ttl_arg, sizeof(ttl_arg), "--local-ttl=%d", ttl);
  const char *argv[64] = {DNSMASQ,
                          "--keep-in-foreground",
                          "--conf-file=/dev/null",
                          "--no-resolv",
                          "--no-hosts",
                          "--listen-address=127.0.0.1",
                          "--bind-interfaces",
                          "--pid-file",
                          "--local=/test/",
                          "--log-facility=/dev/null",
                          port_arg,
                          ttl_arg};
  size_t argc = 12;
  for (size_t i = 0; records != NULL && records[i] != NULL; i++) {
    assert_true(argc < 63);
    argv[argc++] = records[i];
  }
  argv[argc] = NULL;
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    int devnull = open("/dev/null", O_RDWR);
    if (devnull >= 0) {
      dup2(devnull, STDOUT_FILENO);
      dup2(devnull, STDERR_FILENO);
    }
    execv(DNSMASQ, (char *const *)argv);
    _exit(127);
  }
  d->pid = pid;
  for (int i = 0; i < 100; i++) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)d->port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ok = connect(s, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(s);
    if (ok) {
      return;
    }
    int status;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      d->pid = 0;
      fail_msg("dnsmasq exited at start-up (status %d)", status);
    }
    usleep(50000);
  }
  fail_msg("dnsmasq did not start listening on port %d", d->port);
}

static void dns_stop(struct dns *d)
{
  if (d->pid > 0) {
    kill(d->pid, SIGTERM);
    waitpid(d->pid, NULL, 0);
    d->pid = 0;
  }
}

/* ---- a scriptable UDP DNS server -------------------------------------------
 */

/* A DNS server in this program (UDP, and TCP on the same port for answers
 * over 512 octets, which go out truncated over UDP): answer() builds the
 * reply to each query (0: send nothing). Used as dnsmasq's SERVFAIL upstream
 * and, directly, as a hostile server whose answers dnsmasq would never produce.
 */
struct fakedns {
  int fd;
  int tcp_fd; /* same port: answers too large for UDP go over TCP */
  int port;
  int stop_pipe[2];
  pthread_t thread;
  size_t (*answer)(const unsigned char *q, size_t qlen, unsigned char *out,
                   size_t cap);
  pthread_mutex_t lock; /* guards the counters */
  int queries[3];       /* URI, SRV, TXT queries seen */
};

/* Counts the query by type and builds the answer. */
static size_t fakedns_reply(struct fakedns *s, const unsigned char *q, size_t n,
                            unsigned char *out, size_t cap)
{
  /* qtype sits right after the (uncompressed) question name. */
  size_t off = 12;
  while (off < n && q[off] != 0) {
    off += (size_t)q[off] + 1;
  }
  if (off + 3 <= n) {
    int qtype = (q[off + 1] << 8) | q[off + 2];
    pthread_mutex_lock(&s->lock);
    s->queries[qtype == 256 ? 0 : qtype == 33 ? 1 : 2]++;
    pthread_mutex_unlock(&s->lock);
  }
  return s->answer(q, n, out, cap);
}

static bool read_full(int fd, unsigned char *buf, size_t n)
{
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, buf + got, n - got);
    if (r <= 0) {
      return false;
    }
    got += (size_t)r;
  }
  return true;
}

/* One DNS-over-TCP exchange (RFC 1035 §4.2.2: two-octet length prefix). */
static void fakedns_tcp(struct fakedns *s)
{
  int c = accept(s->tcp_fd, NULL, NULL);
  if (c < 0) {
    return;
  }
  struct timeval tv = {.tv_sec = 2};
  setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  unsigned char lenb[2], q[512], out[4098];
  /* One exchange per connection, then close: waiting for a second query
   * would stall the UDP side of this single-threaded server. */
  if (read_full(c, lenb, 2)) {
    size_t n = ((size_t)lenb[0] << 8) | lenb[1];
    if (n >= 12 && n <= sizeof(q) && read_full(c, q, n)) {
      size_t m = fakedns_reply(s, q, n, out + 2, sizeof(out) - 2);
      out[0] = (unsigned char)(m >> 8);
      out[1] = (unsigned char)m;
      if (m > 0) {
        (void)write(c, out, m + 2);
      }
    }
  }
  close(c);
}

static void *fakedns_run(void *arg)
{
  struct fakedns *s = arg;
  for (;;) {
    struct pollfd p[3] = {{.fd = s->fd, .events = POLLIN},
                          {.fd = s->stop_pipe[0], .events = POLLIN},
                          {.fd = s->tcp_fd, .events = POLLIN}};
    if (poll(p, 3, -1) < 0 && errno != EINTR) {
      return NULL;
    }
    if (p[1].revents != 0) {
      return NULL;
    }
    if (p[2].revents != 0) {
      fakedns_tcp(s);
    }
    if (p[0].revents == 0) {
      continue;
    }
    unsigned char q[512], out[4096];
    struct sockaddr_in from;
    socklen_t len = sizeof(from);
    ssize_t n =
        recvfrom(s->fd, q, sizeof(q), 0, (struct sockaddr *)&from, &len);
    if (n < 12) {
      continue;
    }
    size_t m = fakedns_reply(s, q, (size_t)n, out, sizeof(out));
    if (m > 512) {
      /* Too large for plain UDP: header and question with TC set. */
      m = (size_t)n;
      memcpy(out + 12, q + 12, (size_t)n - 12);
      out[2] |= 0x02;
      memset(out + 6, 0, 6);
    }
    if (m > 0) {
      (void)sendto(s->fd, out, m, 0, (struct sockaddr *)&from, len);
    }
  }
}

static void fakedns_start(struct fakedns *s,
                          size_t (*answer)(const unsigned char *, size_t,
                                           unsigned char *, size_t))
{
  memset(s, 0, sizeof(*s));
  s->answer = answer;
  assert_int_equal(pthread_mutex_init(&s->lock, NULL), 0);
  s->port = free_port();
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_port = htons((uint16_t)s->port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  s->fd = socket(AF_INET, SOCK_DGRAM, 0);
  s->tcp_fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(s->fd >= 0 && s->tcp_fd >= 0);
  assert_int_equal(bind(s->fd, (struct sockaddr *)&a, sizeof(a)), 0);
  assert_int_equal(bind(s->tcp_fd, (struct sockaddr *)&a, sizeof(a)), 0);
  assert_int_equal(listen(s->tcp_fd, 4), 0);
  assert_int_equal(pipe(s->stop_pipe), 0);
  assert_int_equal(pthread_create(&s->thread, NULL, fakedns_run, s), 0);
}

static void fakedns_stop(struct fakedns *s)
{
  assert_int_equal(write(s->stop_pipe[1], "x", 1), 1);
  pthread_join(s->thread, NULL);
  close(s->stop_pipe[0]);
  close(s->stop_pipe[1]);
  close(s->fd);
  close(s->tcp_fd);
  pthread_mutex_destroy(&s->lock);
}

static int fakedns_count(struct fakedns *s, int which)
{
  pthread_mutex_lock(&s->lock);
  int n = s->queries[which];
  pthread_mutex_unlock(&s->lock);
  return n;
}

/* Every query: SERVFAIL. */
static size_t servfail_answer(const unsigned char *q, size_t qlen,
                              unsigned char *out, size_t cap)
{
  memcpy(out, q, qlen);
  out[2] |= 0x80;                     /* QR: a response */
  out[3] = (unsigned char)(0x80 | 2); /* RA, RCODE 2 = SERVFAIL */
  memset(out + 6, 0, 6);              /* no AN, NS, AR records */
  return qlen;
}

/* A reply under construction: header and question copied from the query,
 * then answer records appended. */
struct pkt {
  unsigned char *b;
  size_t len;
  size_t cap;
  unsigned ancount;
};

static void put(struct pkt *p, const void *data, size_t n)
{
  assert_true(p->len + n <= p->cap);
  memcpy(p->b + p->len, data, n);
  p->len += n;
}

static void put16(struct pkt *p, unsigned v)
{
  unsigned char b[2] = {(unsigned char)(v >> 8), (unsigned char)v};
  put(p, b, 2);
}

static void put32(struct pkt *p, uint32_t v)
{
  put16(p, v >> 16);
  put16(p, v & 0xffff);
}

static void put_name(struct pkt *p, const char *name)
{
  while (*name != '\0') {
    const char *dot = strchr(name, '.');
    size_t n = dot != NULL ? (size_t)(dot - name) : strlen(name);
    unsigned char l = (unsigned char)n;
    put(p, &l, 1);
    put(p, name, n);
    name += n + (dot != NULL ? 1 : 0);
  }
  put(p, "", 1);
}

/* An answer record owned by the question name (pointer to offset 12). */
static void rr_begin(struct pkt *p, unsigned type, uint32_t ttl, unsigned rdlen)
{
  put16(p, 0xc00c);
  put16(p, type);
  put16(p, 1);
  put32(p, ttl);
  put16(p, rdlen);
  p->ancount++;
}

static void rr_uri(struct pkt *p, uint32_t ttl, const char *target)
{
  rr_begin(p, 256, ttl, 4 + (unsigned)strlen(target));
  put16(p, 1);
  put16(p, 1);
  put(p, target, strlen(target));
}

static void rr_srv(struct pkt *p, uint32_t ttl, unsigned prio, const char *host,
                   unsigned port)
{
  struct pkt tmp = {.b = (unsigned char[300]){0}, .cap = 300};
  put_name(&tmp, host);
  rr_begin(p, 33, ttl, 6 + (unsigned)tmp.len);
  put16(p, prio);
  put16(p, 1);
  put16(p, port);
  put(p, tmp.b, tmp.len);
}

static void rr_txt(struct pkt *p, uint32_t ttl, const char *text, size_t len)
{
  rr_begin(p, 16, ttl, 1 + (unsigned)len);
  unsigned char l = (unsigned char)len;
  put(p, &l, 1);
  put(p, text, len);
}

/* Hostile and edge-case zones, chosen by the label after _owcp._tcp:
 * ttl (URI, TTL 5), negttl (URI, TTL with the top bit set), srvttl (SRV
 * TTL 5, TXT TTL 1), many (70 SRV records), badlen (an RDLENGTH past the
 * end), loop (an owner name that points at itself), ctrl (TXT with a
 * control octet); anything else NXDOMAIN. */
static size_t hostile_answer(const unsigned char *q, size_t qlen,
                             unsigned char *out, size_t cap)
{
  size_t off = 12;
  char label[64] = "";
  int idx = 0;
  while (off < qlen && q[off] != 0) {
    size_t n = q[off];
    if (idx++ == 2 && n < sizeof(label)) {
      memcpy(label, q + off + 1, n);
      label[n] = '\0';
    }
    off += n + 1;
  }
  if (off + 5 > qlen) {
    return 0;
  }
  int qtype = (q[off + 1] << 8) | q[off + 2];
  struct pkt p = {.b = out, .cap = cap};
  put(&p, q, off + 5);
  out[2] = (unsigned char)(0x84 | (q[2] & 1)); /* QR, AA, RD copied */
  out[3] = 0x80;                               /* RA, NOERROR */
  memset(out + 6, 0, 6);
  if (strcmp(label, "ttl") == 0 && qtype == 256) {
    rr_uri(&p, 5, "https://ttl.example/p");
  } else if (strcmp(label, "negttl") == 0 && qtype == 256) {
    rr_uri(&p, 0x80000005u, "https://negttl.example/p");
  } else if (strcmp(label, "srvttl") == 0 && qtype == 33) {
    rr_srv(&p, 5, 0, "s.example", 443);
  } else if (strcmp(label, "srvttl") == 0 && qtype == 16) {
    rr_txt(&p, 1, "v=0.1", 5);
  } else if (strcmp(label, "many") == 0 && qtype == 33) {
    for (int i = 0; i < 70; i++) {
      char host[32];
      snprintf(host, sizeof(host), "h%d.e", i);
      rr_srv(&p, 60, (unsigned)i, host, 443);
    }
  } else if (strcmp(label, "badlen") == 0 && qtype == 256) {
    rr_begin(&p, 256, 60, 200);
    put(&p, "\0\1\0\1https://x", 13);
  } else if (strcmp(label, "loop") == 0 && qtype == 256) {
    size_t here = p.len;
    put16(&p, 0xc000 | (unsigned)here);
    put16(&p, 256);
    put16(&p, 1);
    put32(&p, 60);
    put16(&p, 8);
    put(&p, "\0\1\0\1http", 8);
    p.ancount++;
  } else if (strcmp(label, "slash") == 0 && qtype == 33) {
    rr_srv(&p, 60, 0, "evil.example/x", 443);
    rr_srv(&p, 60, 1, "q?x.example", 443);
  } else if (strcmp(label, "slashmix") == 0 && qtype == 33) {
    rr_srv(&p, 60, 0, "evil.example:80/x", 443);
    rr_srv(&p, 60, 1, "good.example", 443);
  } else if (strcmp(label, "ctrl") == 0 && qtype == 33) {
    rr_srv(&p, 60, 0, "c.example", 443);
  } else if (strcmp(label, "ctrl") == 0 && qtype == 16) {
    rr_txt(&p, 60, "v=0.1 path=/a\x01z", 15);
  } else if (strcmp(label, "ttl") != 0 && strcmp(label, "negttl") != 0 &&
             strcmp(label, "srvttl") != 0 && strcmp(label, "many") != 0 &&
             strcmp(label, "badlen") != 0 && strcmp(label, "loop") != 0 &&
             strcmp(label, "ctrl") != 0 && strcmp(label, "slash") != 0 &&
             strcmp(label, "slashmix") != 0) {
    out[3] = 0x83; /* NXDOMAIN */
  }
  out[6] = (unsigned char)(p.ancount >> 8);
  out[7] = (unsigned char)p.ancount;
  return p.len;
}

static struct owcp_discovery *disco(const char *servers, const char *manual,
                                    bool insecure, int timeout_ms)
{
  struct owcp_discovery_config cfg = {
      .dns_servers = servers,
      .manual_base = manual,
      .allow_insecure_http = insecure,
      .timeout_ms = timeout_ms,
  };
  struct owcp_discovery *d = NULL;
  struct owcp_error err = {{0}};
  if (owcp_discovery_new(&cfg, &d, &err) != 0) {
    fail_msg("owcp_discovery_new: %s", err.msg);
  }
  return d;
}

/* Resolves and expects success; the list is the caller's. */
static void resolve_ok(struct owcp_discovery *d, const char *name,
                       struct owcp_base_list *l)
{
  struct owcp_error err = {{0}};
  if (owcp_discovery_resolve(d, name, l, &err) != 0) {
    fail_msg("resolve %s: %s", name, err.msg);
  }
}

/* Resolves expecting failure with an error containing each needle. */
static void resolve_fails(struct owcp_discovery *d, const char *name,
                          const char *needle1, const char *needle2)
{
  struct owcp_base_list l;
  struct owcp_error err = {{0}};
  int rc = owcp_discovery_resolve(d, name, &l, &err);
  if (rc == 0) {
    fail_msg("resolve %s unexpectedly gave %zu bases, first %s", name, l.n,
             l.n > 0 ? l.bases[0] : "-");
  }
  assert_int_equal(l.n, 0);
  if (strstr(err.msg, needle1) == NULL ||
      (needle2 != NULL && strstr(err.msg, needle2) == NULL)) {
    fail_msg("error '%s' lacks '%s'/'%s'", err.msg, needle1,
             needle2 != NULL ? needle2 : "");
  }
}

/* ---- the shared zone ----------------------------------------------------- */

struct zone {
  struct dns dns;
  struct fakedns upstream;
  int closed_port;
  char rr[16][600];
  char fwd[2][128];
};

static int zone_setup(void **state)
{
  static struct zone z;
  memset(&z, 0, sizeof(z));
  fakedns_start(&z.upstream, servfail_answer);
  z.closed_port = free_port();
  size_t k = 0;
  const char *records[40];
  size_t n = 0;
#define URI(name, p, w, t)                                                     \
  (uri_rr(z.rr[k], sizeof(z.rr[k]), name, p, w, t), z.rr[k++])
  /* both.test: URI beats SRV. */
  records[n++] =
      URI("_owcp._tcp.both.test", 1, 1, "https://uri.example/owcp/0.1");
  records[n++] = "--srv-host=_owcp._tcp.both.test,srv.example,443,0,1";
  /* prio.test: URI priority order, trailing '/' stripped. */
  records[n++] =
      URI("_owcp._tcp.prio.test", 20, 1, "https://b.example/owcp/0.1/");
  records[n++] =
      URI("_owcp._tcp.prio.test", 10, 1, "https://a.example:8443/owcp/0.1");
  records[n++] = URI("_owcp._tcp.prio.test", 30, 1, "https://c.example/x");
  /* insec.test: plain http targets. */
  records[n++] =
      URI("_owcp._tcp.insec.test", 1, 1, "http://127.0.0.1:8080/owcp/0.1");
  /* mixed.test: one refused target among good ones is dropped. */
  records[n++] =
      URI("_owcp._tcp.mixed.test", 1, 1, "http://evil.example/owcp/0.1");
  records[n++] =
      URI("_owcp._tcp.mixed.test", 2, 1, "https://good.example/owcp/0.1");
  records[n++] =
      URI("_owcp._tcp.mixed.test", 3, 1, "https://user:pw@creds.example/p");
  records[n++] = URI("_owcp._tcp.mixed.test", 4, 1, "https://q.example/p?x=1");
  records[n++] = URI("_owcp._tcp.mixed.test", 5, 1, "not a url\x01");
#undef URI
  /* w.test: SRV priority 0 weights 90/10, priority 5 a lone backup. */
  records[n++] = "--srv-host=_owcp._tcp.w.test,h90.example,443,0,90";
  records[n++] = "--srv-host=_owcp._tcp.w.test,h10.example,443,0,10";
  records[n++] = "--srv-host=_owcp._tcp.w.test,backup.example,443,5,50";
  /* z.test: two weight-0 records share the load. */
  records[n++] = "--srv-host=_owcp._tcp.z.test,z1.example,443,0,0";
  records[n++] = "--srv-host=_owcp._tcp.z.test,z2.example,443,0,0";
  /* path.test: ESRV path honoured; other TXT ignored. */
  records[n++] = "--srv-host=_owcp._tcp.path.test,h.example,8443,0,1";
  records[n++] = "--txt-record=_owcp._tcp.path.test,v=0.1 binding=json "
                 "path=/custom/base";
  records[n++] = "--txt-record=_owcp._tcp.path.test,some unrelated text";
  /* dflt.test: SRV without TXT, to a loopback target. */
  records[n++] = "--srv-host=_owcp._tcp.dflt.test,127.0.0.1,9443,0,1";
  /* vers.test: v=0.2 skipped, v=0.1 (two strings) used. */
  records[n++] = "--srv-host=_owcp._tcp.vers.test,h.example,443,0,1";
  records[n++] = "--txt-record=_owcp._tcp.vers.test,v=0.2 path=/future";
  records[n++] = "--txt-record=_owcp._tcp.vers.test,v=0.1,path=/owcp/ok";
  /* unsup.test: only unsupported record sets: the SRV set is skipped. */
  records[n++] = "--srv-host=_owcp._tcp.unsup.test,h.example,443,0,1";
  records[n++] = "--txt-record=_owcp._tcp.unsup.test,v=0.2 binding=json";
  records[n++] = "--txt-record=_owcp._tcp.unsup.test,v=0.1 binding=xml";
  records[n++] = "--txt-record=_owcp._tcp.unsup.test,v=0.1 v=0.1";
  /* conflict.test: two supported sets disagree on the path. */
  records[n++] = "--srv-host=_owcp._tcp.conflict.test,h.example,443,0,1";
  records[n++] = "--txt-record=_owcp._tcp.conflict.test,v=0.1 path=/a";
  records[n++] = "--txt-record=_owcp._tcp.conflict.test,v=0.1 path=/b";
  /* dot.test: target "." means decidedly not available. */
  records[n++] = "--srv-host=_owcp._tcp.dot.test";
  /* fail.test / slow.test: SERVFAIL, and an upstream that never answers. */
  snprintf(z.fwd[0], sizeof(z.fwd[0]), "--server=/fail.test/127.0.0.1#%d",
           z.upstream.port);
  snprintf(z.fwd[1], sizeof(z.fwd[1]), "--server=/slow.test/127.0.0.1#%d",
           z.closed_port);
  records[n++] = z.fwd[0];
  records[n++] = z.fwd[1];
  records[n] = NULL;
  assert_true(n < 40);
  dns_start(&z.dns, 300, records);
  *state = &z;
  return 0;
}

static int zone_teardown(void **state)
{
  struct zone *z = *state;
  dns_stop(&z->dns);
  fakedns_stop(&z->upstream);
  return 0;
}

/* ---- tests -----------------------------------------------------------------
 */

static void test_uri_preferred_over_srv(void **state)
{
  struct zone *z = *state;
  struct owcp_discovery *d = disco(z->dns.servers, NULL, false, 3000);
  struct owcp_base_list l;
  resolve_ok(d, "alice@both.test", &l);
  assert_int_equal(l.source, OWCP_DISCOVERY_URI);
  assert_int_equal(l.n, 1);
  assert_string_equal(l.bases[0], "https://uri.example:443/owcp/0.1");
  owcp_base_list_free(&l);
  assert_null(l.bases);
  owcp_discovery_free(d);
}

static void test_uri_priority_order(void **state)
{
  struct zone *z = *state;
  struct owcp_discovery *d = disco(z->dns.servers, NULL, false, 3000);
  for (int round = 0; round < 5; round++) {
    struct owcp_base_list l;
    resolve_ok(d, "PRIO.test.", &l); /* case and root dot do not matter */
    assert_int_equal(l.source, OWCP_DISCOVERY_URI);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.bases[0], "https://a.example:8443/owcp/0.1");
    assert_string_equal(l.bases[1], "https://b.example:443/owcp/0.1");
    assert_string_equal(l.bases[2], "https://c.example:443/x");
    owcp_base_list_free(&l);
  }
  owcp_discovery_free(d);
}

static void test_uri_http_refused_unless_loopback_allowed(void **state)
{
  struct zone *z = *state;
  struct owcp_discovery *d = disco(z->dns.servers, NULL, false, 3000);
  resolve_fails(d, "insec.test", "every URI record", "plain http");
  owcp_discovery_free(d);

  d = disco(z->dns.servers, NULL, true, 3000);
  struct owcp_base_list l;
  resolve_ok(d, "insec.test", &l);
  assert_int_equal(l.n, 1);
  assert_string_equal(l.bases[0], "http://127.0.0.1:8080/owcp/0.1");
  owcp_base_list_free(&l);

  /* Even with allow_insecure_http: http to a non-loopback host, user
   * information, a query and garbage are all dropped. */
  resolve_ok(d, "mixed.test", &l);
  assert_int_equal(l.n, 1);
  assert_string_equal(l.bases[0], "https://good.example:443/owcp/0.1");
  owcp_base_list_free(&l);
  owcp_discovery_free(d);
}

/* Position of the bases in l, or -1. */
static int index_of(const struct owcp_base_list *l, const char *base)
{
  for (size_t i = 0; i < l->n; i++) {
    if (strcmp(l->bases[i], base) == 0) {
      return (int)i;
    }
  }
  return -1;
}

static void test_srv_priority_and_weights(void **state)
{
  struct zone *z = *state;
  struct owcp_discovery *d = disco(z->dns.servers, NULL, false, 3000);
  const int rounds = 2000;
  int h90_first = 0;
  for (int i = 0; i < rounds; i++) {
    struct owcp_base_list l;
    resolve_ok(d, "w.test", &l);
    assert_int_equal(l.source, OWCP_DISCOVERY_SRV);
    assert_int_equal(l.n, 3);
    /* Priority first: the backup is always last. */
    assert_int_equal(index_of(&l, "https://backup.example:443/owcp/0.1"), 2);
    assert_true(index_of(&l, "https://h90.example:443/owcp/0.1") >= 0);
    assert_true(index_of(&l, "https://h10.example:443/owcp/0.1") >= 0);
    if (index_of(&l, "https://h90.example:443/owcp/0.1") == 0) {
      h90_first++;
    }
    owcp_base_list_free(&l);
  }
  /* Expected 90 % (1800); 5 sigma is about 67. */
  if (h90_first < 1650 || h90_first > 1950) {
    fail_msg("weight 90 came first %d times in %d", h90_first, rounds);
  }

  int z1_first = 0;
  for (int i = 0; i < 1000; i++) {
    struct owcp_base_list l;
    resolve_ok(d, "z.test", &l);
    assert_int_equal(l.n, 2);
    if (index_of(&l, "https://z1.example:443/owcp/0.1") == 0) {
      z1_first++;
    }
    owcp_base_list_free(&l);
  }
  if (z1_first < 380 || z1_first > 620) {
    fail_msg("weight-0 z1 came first %d times in 1000", z1_first);
  }
  owcp_discovery_free(d);
}

static void test_esrv_path_and_defaults(void **state)
{
  struct zone *z = *state;
  struct owcp_discovery *d = disco(z->dns.servers, NULL, false, 3000);
  struct owcp_base_list l;
  resolve_ok(d, "path.test", &l);
  assert_int_equal(l.source, OWCP_DISCOVERY_SRV);
  assert_int_equal(l.n, 1);
  assert_string_equal(l.bases[0], "https://h.example:8443/custom/base");
  owcp_base_list_free(&l);

  /* No TXT: default path; a loopback target stays https by default. */
  resolve_ok(d, "dflt.test", &l);
  assert_string_equal(l.bases[0], "https://127.0.0.1:9443/owcp/0.1");
  owcp_base_list_free(&l);
  owcp_discovery_free(d);

  d = disco(z->dns.servers, NULL, true, 3000);
  resolve_ok(d, "dflt.test", &l);
  assert_string_equal(l.bases[0], "http://127.0.0.1:9443/owcp/0.1");
  owcp_base_list_free(&l);
  owcp_discovery_free(d);
}

static void test_esrv_unsupported_skipped(void **state)
{
  struct zone *z = *state;
  struct owcp_discovery *d = disco(z->dns.servers, NULL, false, 3000);
  struct owcp_base_list l;
  /* v=0.2 is skipped; the v=0.1 record (two character-strings) is used. */
  resolve_ok(d, "vers.test", &l);
  assert_int_equal(l.n, 1);
  assert_string_equal(l.bases[0], "https://h.example:443/owcp/ok");
  owcp_base_list_free(&l);

  /* Only unsupported sets (v=0.2, binding=xml, a repeated key). */
  resolve_fails(d, "unsup.test", "skipped", "supported v=0.1");
  resolve_fails(d, "conflict.test", "disagree", "/a");
  owcp_discovery_free(d);

  d = disco(z->dns.servers, "https://manual.example/owcp/0.1", false, 3000);
  resolve_ok(d, "unsup.test", &l);
  assert_int_equal(l.source, OWCP_DISCOVERY_MANUAL);
  assert_string_equal(l.bases[0], "https://manual.example:443/owcp/0.1");
  owcp_base_list_free(&l);
  owcp_discovery_free(d);
}

static void test_srv_dot_target(void **state)
{
  struct zone *z = *state;
  struct owcp_discovery *d = disco(z->dns.servers, NULL, false, 3000);
  resolve_fails(d, "dot.test", "decidedly not available", "dot.test");
  owcp_discovery_free(d);
}

static void test_nxdomain(void **state)
{
  struct zone *z = *state;
  struct owcp_discovery *d = disco(z->dns.servers, NULL, false, 3000);
  resolve_fails(d, "bob@nx.test", "NXDOMAIN", "no manual dispatcher");
  resolve_fails(d, "bob@nx.test", "_owcp._tcp.nx.test", NULL);
  owcp_discovery_free(d);

  d = disco(z->dns.servers, "https://manual.example:8443/owcp/0.1/", false,
            3000);
  struct owcp_base_list l;
  resolve_ok(d, "bob@nx.test", &l);
  assert_int_equal(l.source, OWCP_DISCOVERY_MANUAL);
  assert_int_equal(l.n, 1);
  assert_string_equal(l.bases[0], "https://manual.example:8443/owcp/0.1");
  owcp_base_list_free(&l);
  owcp_discovery_free(d);
}

static void test_servfail_is_an_error(void **state)
{
  struct zone *z = *state;
  /* A manual base is configured and must NOT be used: a broken zone is
   * reported, not papered over. */
  struct owcp_discovery *d =
      disco(z->dns.servers, "https://manual.example/owcp/0.1", false, 3000);
  resolve_fails(d, "fail.test", "SERVFAIL", "_owcp._tcp.fail.test");
  owcp_discovery_free(d);
}

static void test_silent_upstream_times_out(void **state)
{
  struct zone *z = *state;
  struct owcp_discovery *d =
      disco(z->dns.servers, "https://manual.example/owcp/0.1", false, 800);
  double t0 = itest_now();
  resolve_fails(d, "slow.test", "timeout", "slow.test");
  double took = itest_now() - t0;
  assert_true(took >= 0.7);
  assert_true(took < 3.0);
  owcp_discovery_free(d);
}

static void test_no_dns_server(void **state)
{
  (void)state;
  char servers[64];
  snprintf(servers, sizeof(servers), "127.0.0.1:%d", free_port());
  struct owcp_discovery *d =
      disco(servers, "https://manual.example/owcp/0.1", false, 600);
  resolve_fails(d, "example.test", "example.test", NULL);
  owcp_discovery_free(d);
}

static void test_manual_only_skips_dns(void **state)
{
  (void)state;
  char servers[64];
  snprintf(servers, sizeof(servers), "127.0.0.1:%d", free_port());
  struct owcp_discovery_config cfg = {
      .dns_servers = servers,
      .manual_base = "https://m.example/owcp/0.1",
      .manual_only = true,
  };
  struct owcp_discovery *d = NULL;
  struct owcp_error err = {{0}};
  assert_int_equal(owcp_discovery_new(&cfg, &d, &err), 0);
  struct owcp_base_list l;
  double t0 = itest_now();
  resolve_ok(d, "alice@anything.test", &l);
  assert_true(itest_now() - t0 < 0.5);
  assert_int_equal(l.source, OWCP_DISCOVERY_MANUAL);
  assert_string_equal(l.bases[0], "https://m.example:443/owcp/0.1");
  owcp_base_list_free(&l);
  owcp_discovery_free(d);

  cfg.manual_base = NULL;
  assert_int_equal(owcp_discovery_new(&cfg, &d, &err), -1);
  assert_null(d);
  assert_non_null(strstr(err.msg, "manual_base"));

  cfg.manual_only = false;
  cfg.manual_base = "http://m.example/owcp/0.1";
  assert_int_equal(owcp_discovery_new(&cfg, &d, &err), -1);
  assert_non_null(strstr(err.msg, "plain http"));
}

static void test_bad_names(void **state)
{
  struct zone *z = *state;
  struct owcp_discovery *d = disco(z->dns.servers, NULL, false, 3000);
  resolve_fails(d, "alice@exa mple.test", "' '", "offset 9");
  resolve_fails(d, "alice@", "no valid domain", NULL);
  resolve_fails(d, "a..test", "empty label", NULL);
  resolve_fails(d, "alice@x.test\n_owcp", "offset 12", "x.test?_owcp");
  char longlabel[100];
  memset(longlabel, 'a', 64);
  snprintf(longlabel + 64, sizeof(longlabel) - 64, ".test");
  resolve_fails(d, longlabel, "63", NULL);
  struct owcp_base_list l;
  struct owcp_error err = {{0}};
  assert_int_equal(owcp_discovery_resolve(d, NULL, &l, &err), -1);
  owcp_discovery_free(d);
  owcp_discovery_free(NULL);
}

static void test_base_list_single_validation(void **state)
{
  (void)state;
  struct {
    const char *base;
    bool insecure;
    const char *want; /* normalised base, or NULL: refused */
    const char *needle;
  } cases[] = {
      {"https://d.example/owcp/0.1/", false, "https://d.example:443/owcp/0.1",
       NULL},
      {"https://d.example:8443", false, "https://d.example:8443", NULL},
      {"http://d.example/owcp/0.1", true, NULL, "loopback"},
      {"http://127.0.0.1:1/owcp/0.1", false, NULL, "plain http"},
      {"http://127.0.0.2:1/owcp/0.1", true, "http://127.0.0.2:1/owcp/0.1",
       NULL},
      {"http://[::1]:80/x", true, "http://[::1]:80/x", NULL},
      {"http://localhost:80/x", true, "http://localhost:80/x", NULL},
      {"http://128.0.0.1/x", true, NULL, "loopback"},
      {"https://u:secretpw@d.example/x", false, NULL, "user information"},
      {"https://d.example/x?a=b", false, NULL, "query"},
      {"https://d.example/x#f", false, NULL, "fragment"},
      {"ftp://d.example/x", false, NULL, "scheme"},
      {"d.example/owcp", false, NULL, "not a valid"},
      {"", false, NULL, "not a valid"},
      /* Loopback spellings curl_url rewrites to dotted quads pass... */
      {"http://127.1/x", true, "http://127.0.0.1:80/x", NULL},
      {"http://0x7f.1/x", true, "http://127.0.0.1:80/x", NULL},
      {"http://2130706433/x", true, "http://127.0.0.1:80/x", NULL},
      {"http://%31%32%37.0.0.1/x", true, "http://127.0.0.1:80/x", NULL},
      {"http://[0:0:0:0:0:0:0:1]/x", true, "http://[::1]:80/x", NULL},
      /* ...anything else fails closed. */
      {"http://[::ffff:127.0.0.1]/x", true, NULL, "loopback"},
      {"http://[::127.0.0.1]/x", true, NULL, "loopback"},
      {"http://127.0.0.1./x", true, NULL, "loopback"},
      {"http://localhost./x", true, NULL, "loopback"},
      {"http://localhost.evil.example/x", true, NULL, "loopback"},
      {"http://127.0.0.1:80@evil.example/x", true, NULL, "user information"},
      {"http://127.0.0.1%2f@evil.example/x", true, NULL, "user information"},
      {"https://:pw@d.example/x", false, NULL, "user information"},
      {"https://d.example:0/x", false, NULL, "port 0"},
      {"https://d.example:99999/x", false, NULL, "not a valid"},
      {"https://d.example/a b", false, NULL, "not a valid"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    struct owcp_base_list l;
    struct owcp_error err = {{0}};
    int rc = owcp_base_list_single(cases[i].base, cases[i].insecure, &l, &err);
    if (cases[i].want != NULL) {
      if (rc != 0) {
        fail_msg("%s refused: %s", cases[i].base, err.msg);
      }
      assert_int_equal(l.n, 1);
      assert_int_equal(l.source, OWCP_DISCOVERY_MANUAL);
      assert_string_equal(l.bases[0], cases[i].want);
      owcp_base_list_free(&l);
    } else {
      if (rc == 0) {
        fail_msg("%s accepted as %s", cases[i].base, l.bases[0]);
      }
      assert_int_equal(l.n, 0);
      if (strstr(err.msg, cases[i].needle) == NULL) {
        fail_msg("%s: error '%s' lacks '%s'", cases[i].base, err.msg,
                 cases[i].needle);
      }
    }
  }
  /* The password never appears in the sentence. */
  struct owcp_base_list l;
  struct owcp_error err = {{0}};
  assert_int_equal(
      owcp_base_list_single("https://u:secretpw@d.example/x", false, &l, &err),
      -1);
  assert_null(strstr(err.msg, "secretpw"));
  assert_non_null(strstr(err.msg, "https://***@d.example/x"));
  /* A password holding '/', '?' or '#' makes the URL invalid; the error
   * sentence quoting it still hides it. */
  const char *slashy[] = {"https://u:se/cret@d.example/x",
                          "https://u:se?cret@d.example/x",
                          "https://u:se#cret@d.example/x"};
  for (size_t i = 0; i < 3; i++) {
    assert_int_equal(owcp_base_list_single(slashy[i], false, &l, &err), -1);
    if (strstr(err.msg, "cret") != NULL || strstr(err.msg, "se") == NULL) {
      fail_msg("%s: error '%s' shows the password", slashy[i], err.msg);
    }
    assert_non_null(strstr(err.msg, "https://***@d.example/x"));
  }

  char shown[32];
  owcp_base_redact("https://a:b@h.example/x@y", shown, sizeof(shown));
  assert_string_equal(shown, "https://***@y");
  owcp_base_redact("u:pw@h.example", shown, sizeof(shown));
  assert_string_equal(shown, "***@h.example");
  /* "***" reaching the end of the buffer: no octet past it (fuzz_base
   * found the '@' written at out[cap], its NUL one further). */
  char tiny[8];
  memset(tiny, 'Z', sizeof(tiny));
  owcp_base_redact("u@h", tiny, 2);
  assert_string_equal(tiny, "*");
  assert_int_equal(tiny[2], 'Z');
  owcp_base_redact("ab://u@h", tiny, 7);
  assert_string_equal(tiny, "ab://*");
  assert_int_equal(tiny[7], 'Z');
  /* The same through a base whose "://" sits at the end of the 96-octet
   * sentence buffer (a URI record can carry any text): refused, no
   * overflow (ASan would report one). */
  char longbase[200];
  memset(longbase, 'x', 91);
  snprintf(longbase + 91, sizeof(longbase) - 91, "://u:p@h.example/");
  assert_int_equal(owcp_base_list_single(longbase, false, &l, &err), -1);
  assert_null(strstr(err.msg, "u:p"));
  owcp_base_redact("http://h/\x01\n", shown, sizeof(shown));
  assert_string_equal(shown, "http://h/??");
  owcp_base_redact("https://long.example/path", shown, 9);
  assert_string_equal(shown, "https://");
  owcp_base_redact(NULL, shown, sizeof(shown));
  assert_string_equal(shown, "(none)");
}

/* Answers are reused within their TTL (even with the server gone) and
 * asked again after it. Own dnsmasq with a 2 s TTL. */
static void test_ttl_cache(void **state)
{
  (void)state;
  char rr1[300], rr2[300];
  uri_rr(rr1, sizeof(rr1), "_owcp._tcp.cache.test", 1, 1,
         "https://cached.example/owcp/0.1");
  snprintf(rr2, sizeof(rr2),
           "--srv-host=_owcp._tcp.scache.test,s.example,"
           "443,0,1");
  const char *records[] = {rr1, rr2,
                           "--txt-record=_owcp._tcp.scache.test,v=0.1", NULL};
  struct dns dns;
  dns_start(&dns, 2, records);
  struct owcp_discovery *d = disco(dns.servers, NULL, false, 500);
  struct owcp_base_list l;
  resolve_ok(d, "cache.test", &l);
  owcp_base_list_free(&l);
  resolve_ok(d, "scache.test", &l);
  owcp_base_list_free(&l);
  double t0 = itest_now();
  dns_stop(&dns);

  /* Within the TTL: answered from the cache although no server runs. */
  resolve_ok(d, "cache.test", &l);
  assert_string_equal(l.bases[0], "https://cached.example:443/owcp/0.1");
  owcp_base_list_free(&l);
  resolve_ok(d, "bob@scache.test", &l);
  assert_int_equal(l.source, OWCP_DISCOVERY_SRV);
  assert_string_equal(l.bases[0], "https://s.example:443/owcp/0.1");
  owcp_base_list_free(&l);
  assert_true(itest_now() - t0 < 1.5);

  /* After the TTL: asked again, and the dead server is noticed. */
  usleep((useconds_t)((2.3 - (itest_now() - t0)) * 1e6));
  resolve_fails(d, "cache.test", "cache.test", NULL);
  resolve_fails(d, "scache.test", "scache.test", NULL);
  owcp_discovery_free(d);
}

/* A TTL of 0 means no caching at all. */
static void test_ttl_zero_not_cached(void **state)
{
  (void)state;
  char rr[300];
  uri_rr(rr, sizeof(rr), "_owcp._tcp.nocache.test", 1, 1,
         "https://x.example/owcp/0.1");
  const char *records[] = {rr, NULL};
  struct dns dns;
  dns_start(&dns, 0, records);
  struct owcp_discovery *d = disco(dns.servers, NULL, false, 500);
  struct owcp_base_list l;
  resolve_ok(d, "nocache.test", &l);
  owcp_base_list_free(&l);
  dns_stop(&dns);
  resolve_fails(d, "nocache.test", "nocache.test", NULL);
  owcp_discovery_free(d);
}

/* Several threads share one resolver and its cache. */
struct thread_arg {
  struct owcp_discovery *d;
  int failures;
};

static void *resolve_many(void *p)
{
  struct thread_arg *a = p;
  for (int i = 0; i < 200; i++) {
    struct owcp_base_list l;
    struct owcp_error err;
    if (owcp_discovery_resolve(a->d, i % 2 ? "w.test" : "prio.test", &l,
                               &err) != 0 ||
        l.n != 3) {
      a->failures++;
    }
    owcp_base_list_free(&l);
  }
  return NULL;
}

static void test_threads_share_cache(void **state)
{
  struct zone *z = *state;
  struct owcp_discovery *d = disco(z->dns.servers, NULL, false, 3000);
  pthread_t t[4];
  struct thread_arg args[4];
  for (int i = 0; i < 4; i++) {
    args[i].d = d;
    args[i].failures = 0;
    assert_int_equal(pthread_create(&t[i], NULL, resolve_many, &args[i]), 0);
  }
  for (int i = 0; i < 4; i++) {
    pthread_join(t[i], NULL);
    assert_int_equal(args[i].failures, 0);
  }
  owcp_discovery_free(d);
}

/* URI records: a down dispatcher first, a live one second; resolve and
 * post: the live one answers. */
static void test_failover_through_dns(void **state)
{
  (void)state;
  struct itest_env env;
  itest_env_init(&env, "net_disco");
  itest_start(&env, NULL);
  itest_account_add(&env, "alice@example.com");
  char *token = itest_requestor_add(&env, "access@example.com", 0);

  char down[128], rr1[600], rr2[600];
  snprintf(down, sizeof(down), "http://127.0.0.1:%d/owcp/0.1", free_port());
  uri_rr(rr1, sizeof(rr1), "_owcp._tcp.fo.test", 1, 1, down);
  uri_rr(rr2, sizeof(rr2), "_owcp._tcp.fo.test", 2, 1, env.base);
  const char *records[] = {rr1, rr2, NULL};
  struct dns dns;
  dns_start(&dns, 60, records);

  struct owcp_discovery *d = disco(dns.servers, NULL, true, 3000);
  struct owcp_base_list l;
  resolve_ok(d, "alice@fo.test", &l);
  assert_int_equal(l.n, 2);
  assert_string_equal(l.bases[0], down);
  assert_string_equal(l.bases[1], env.base);

  struct owcp_httpc_config hc = {.allow_insecure_http = true};
  struct owcp_httpc *c = NULL;
  struct owcp_error err = {{0}};
  assert_int_equal(owcp_httpc_new(&hc, &c, &err), 0);
  json_t *params = json_pack("{s:s}", "To", "alice@example.com");
  struct owcp_http_reply r;
  if (owcp_httpc_post_json(c, &l, "RD-Register", token, params, 0, &r, &err) !=
      0) {
    fail_msg("post: %s", err.msg);
  }
  assert_int_equal(r.status, 200);
  assert_string_equal(r.base, env.base);
  assert_non_null(r.json);
  assert_true(json_is_boolean(json_object_get(r.json, "Ready")));
  owcp_http_reply_free(&r);
  json_decref(params);
  owcp_httpc_free(c);
  owcp_base_list_free(&l);
  owcp_discovery_free(d);
  dns_stop(&dns);
  free(token);
  itest_env_fini(&env);
}

/* Answers no dnsmasq would give, straight from a hostile server. */
static void test_hostile_answers(void **state)
{
  (void)state;
  struct fakedns f;
  fakedns_start(&f, hostile_answer);
  char servers[64];
  snprintf(servers, sizeof(servers), "127.0.0.1:%d", f.port);
  struct owcp_discovery *d = disco(servers, NULL, false, 2000);
  struct owcp_base_list l;

  /* URI TTL 5: the second resolve is served from the cache. */
  resolve_ok(d, "ttl.test", &l);
  assert_string_equal(l.bases[0], "https://ttl.example:443/p");
  owcp_base_list_free(&l);
  int uri_before = fakedns_count(&f, 0);
  resolve_ok(d, "ttl.test", &l);
  owcp_base_list_free(&l);
  assert_int_equal(fakedns_count(&f, 0), uri_before);

  /* A TTL with the top bit set counts as 0 (RFC 2181): never cached. */
  resolve_ok(d, "negttl.test", &l);
  owcp_base_list_free(&l);
  uri_before = fakedns_count(&f, 0);
  resolve_ok(d, "negttl.test", &l);
  owcp_base_list_free(&l);
  assert_int_equal(fakedns_count(&f, 0), uri_before + 1);

  /* SRV TTL 5 with TXT TTL 1: the answer lives 1 s (the smaller). */
  resolve_ok(d, "srvttl.test", &l);
  assert_int_equal(l.source, OWCP_DISCOVERY_SRV);
  assert_string_equal(l.bases[0], "https://s.example:443/owcp/0.1");
  owcp_base_list_free(&l);
  double t0 = itest_now();
  int srv_before = fakedns_count(&f, 1);
  resolve_ok(d, "srvttl.test", &l);
  owcp_base_list_free(&l);
  assert_true(itest_now() - t0 < 0.9);
  assert_int_equal(fakedns_count(&f, 1), srv_before);
  usleep(1300000);
  resolve_ok(d, "srvttl.test", &l);
  owcp_base_list_free(&l);
  assert_int_equal(fakedns_count(&f, 1), srv_before + 1);

  /* 70 SRV records: bounded to the first 64, in priority order. */
  resolve_ok(d, "many.test", &l);
  assert_int_equal(l.n, 64);
  assert_string_equal(l.bases[0], "https://h0.e:443/owcp/0.1");
  assert_string_equal(l.bases[63], "https://h63.e:443/owcp/0.1");
  owcp_base_list_free(&l);

  resolve_fails(d, "badlen.test", "URI records at _owcp._tcp.badlen.test",
                "malformed");
  resolve_fails(d, "loop.test", "_owcp._tcp.loop.test", "malformed");
  resolve_fails(d, "ctrl.test", "skipped", NULL);
  resolve_fails(d, "gone.test", "NXDOMAIN", NULL);

  /* SRV targets are host names, never pasted into a URL otherwise. */
  resolve_fails(d, "slash.test", "every SRV record",
                "SRV target 'evil.example/x' is not a host name");
  resolve_ok(d, "slashmix.test", &l);
  assert_int_equal(l.n, 1);
  assert_string_equal(l.bases[0], "https://good.example:443/owcp/0.1");
  owcp_base_list_free(&l);
  owcp_discovery_free(d);
  fakedns_stop(&f);
}

/* The cache holds at most 128 domains: after 130 cached answers the one
 * closest to expiry (the first) is asked again, the newest is not. */
static void test_cache_bounded(void **state)
{
  (void)state;
  struct fakedns f;
  fakedns_start(&f, hostile_answer);
  char servers[64], name[64];
  snprintf(servers, sizeof(servers), "127.0.0.1:%d", f.port);
  struct owcp_discovery *d = disco(servers, NULL, false, 2000);
  struct owcp_base_list l;
  for (int i = 0; i < 130; i++) {
    snprintf(name, sizeof(name), "ttl.%d.test", i);
    resolve_ok(d, name, &l);
    owcp_base_list_free(&l);
  }
  assert_int_equal(fakedns_count(&f, 0), 130);
  resolve_ok(d, "ttl.129.test", &l);
  owcp_base_list_free(&l);
  assert_int_equal(fakedns_count(&f, 0), 130);
  resolve_ok(d, "ttl.0.test", &l);
  assert_string_equal(l.bases[0], "https://ttl.example:443/p");
  owcp_base_list_free(&l);
  assert_int_equal(fakedns_count(&f, 0), 131);
  owcp_discovery_free(d);
  fakedns_stop(&f);
}

/* Threads resolve names whose cached answers live 1 s, so entries expire
 * (and are freed by one thread) while others look them up: ASan would
 * report a use after free; every resolve must still succeed. */
struct expiry_arg {
  struct owcp_discovery *d;
  int failures;
  int resolves;
};

static void *resolve_while_expiring(void *p)
{
  struct expiry_arg *a = p;
  double t0 = itest_now();
  for (int i = 0; itest_now() - t0 < 2.5; i++) {
    char name[64];
    snprintf(name, sizeof(name), "srvttl.%d.test", i % 4);
    struct owcp_base_list l;
    struct owcp_error err;
    if (owcp_discovery_resolve(a->d, name, &l, &err) != 0 || l.n != 1 ||
        strcmp(l.bases[0], "https://s.example:443/owcp/0.1") != 0) {
      a->failures++;
    }
    a->resolves++;
    owcp_base_list_free(&l);
  }
  return NULL;
}

static void test_cache_expiry_under_threads(void **state)
{
  (void)state;
  struct fakedns f;
  fakedns_start(&f, hostile_answer);
  char servers[64];
  snprintf(servers, sizeof(servers), "127.0.0.1:%d", f.port);
  struct owcp_discovery *d = disco(servers, NULL, false, 2000);
  pthread_t t[4];
  struct expiry_arg args[4];
  for (int i = 0; i < 4; i++) {
    args[i] = (struct expiry_arg){.d = d};
    assert_int_equal(
        pthread_create(&t[i], NULL, resolve_while_expiring, &args[i]), 0);
  }
  int resolves = 0;
  for (int i = 0; i < 4; i++) {
    pthread_join(t[i], NULL);
    assert_int_equal(args[i].failures, 0);
    resolves += args[i].resolves;
  }
  /* Mostly from the cache, and asked again at least once per expiry. */
  int srv_queries = fakedns_count(&f, 1);
  assert_true(srv_queries >= 8);
  assert_true(srv_queries < resolves);
  owcp_discovery_free(d);
  fakedns_stop(&f);
}

int main(void)
{
  /* A dispatcher or dnsmasq dying must not kill the test with SIGPIPE. */
  signal(SIGPIPE, SIG_IGN);
  const struct CMUnitTest zone_tests[] = {
      cmocka_unit_test(test_uri_preferred_over_srv),
      cmocka_unit_test(test_uri_priority_order),
      cmocka_unit_test(test_uri_http_refused_unless_loopback_allowed),
      cmocka_unit_test(test_srv_priority_and_weights),
      cmocka_unit_test(test_esrv_path_and_defaults),
      cmocka_unit_test(test_esrv_unsupported_skipped),
      cmocka_unit_test(test_srv_dot_target),
      cmocka_unit_test(test_nxdomain),
      cmocka_unit_test(test_servfail_is_an_error),
      cmocka_unit_test(test_silent_upstream_times_out),
      cmocka_unit_test(test_bad_names),
      cmocka_unit_test(test_threads_share_cache),
  };
  const struct CMUnitTest solo_tests[] = {
      cmocka_unit_test(test_no_dns_server),
      cmocka_unit_test(test_manual_only_skips_dns),
      cmocka_unit_test(test_base_list_single_validation),
      cmocka_unit_test(test_ttl_cache),
      cmocka_unit_test(test_ttl_zero_not_cached),
      cmocka_unit_test(test_hostile_answers),
      cmocka_unit_test(test_cache_bounded),
      cmocka_unit_test(test_cache_expiry_under_threads),
      cmocka_unit_test(test_failover_through_dns),
  };
  int failed = cmocka_run_group_tests_name(
      "discovery (shared zone)", zone_tests, zone_setup, zone_teardown);
  failed += cmocka_run_group_tests_name("discovery (own servers)", solo_tests,
                                        NULL, NULL);
  return failed;
}
