/*
 * sip_transport.h — the MRAS front's SIP listeners (`[mras] sip_udp`,
 * `sip_tcp`, `sip_tls`): sockets, TLS (OpenSSL, TLS 1.2 only, because
 * sipsak 0.9.8.1 fails against TLS 1.3, interop notes §5), stream framing
 * by Content-Length with partial and pipelined messages
 * (sip_message.h sip_frame), size limits, and a worker pool that hands
 * each complete message to the application's handler.
 *
 * Threads: one I/O thread does every socket read and write (an SSL object
 * is never touched by two threads); SIP_WORKERS worker threads run the
 * handler (which may wait for a confirmation, up to 30 s) with at most
 * SIP_QUEUE messages queued: more are dropped with a log line (a UDP
 * client retransmits). The handler answers through sip_source_send(),
 * from its own thread; stream replies are queued and written by the I/O
 * thread. Limits: SIP_MAX_CONNECTIONS stream connections, idle ones
 * closed after SIP_IDLE_S, a TLS handshake must finish in
 * SIP_HANDSHAKE_S; a stream that cannot be framed is closed; a datagram
 * over SIP_MAX_MESSAGE or not a request is dropped.
 */
#ifndef OWCP_BRIDGE_SIP_TRANSPORT_H
#define OWCP_BRIDGE_SIP_TRANSPORT_H

#include <stddef.h>

#include "owcp/service/config.h"
#include "owcp/util.h"

#define SIP_WORKERS 16
#define SIP_QUEUE 256
#define SIP_MAX_CONNECTIONS 256
#define SIP_IDLE_S 300
#define SIP_HANDSHAKE_S 10

struct sip_transport;
struct sip_source;

/* Called on a worker thread for every complete message (not NUL-
 * terminated; valid for the call). src is valid for the call. */
typedef void (*sip_handler)(void *app, const struct sip_source *src,
                            const char *msg, size_t len);

struct sip_transport_config {
  const struct svc_listen *udp, *tcp, *tls; /* NULL or host "": none */
  const char *tls_cert, *tls_key;           /* PEM, for tls */
  sip_handler handle;
  void *app;
};

/* Binds every configured listener and starts the threads. NULL with err
 * naming the listener. */
struct sip_transport *sip_transport_start(const struct sip_transport_config *c,
                                          struct owcp_error *err);

/* The bound port of "udp", "tcp" or "tls" (0 when not listening). */
unsigned short sip_transport_port(const struct sip_transport *t,
                                  const char *which);

/* Re-reads the TLS certificate and key for new connections; on failure
 * the old ones stay. 0 or -1 with err. */
int sip_transport_reload(struct sip_transport *t, struct owcp_error *err);

/* Stops accepting, closes every connection, waits for the workers (their
 * handlers must return: the application stops its waits first); frees.
 * NULL is fine. */
void sip_transport_stop(struct sip_transport *t);

/* "UDP", "TCP" or "TLS". */
const char *sip_source_transport(const struct sip_source *src);

/* The peer's address and port. */
const char *sip_source_ip(const struct sip_source *src);
unsigned sip_source_port(const struct sip_source *src);

/* Sends msg to the source (a datagram, or queued on its connection).
 * 0, or -1 when the connection is gone. */
int sip_source_send(const struct sip_source *src, const char *msg, size_t len);

#endif
