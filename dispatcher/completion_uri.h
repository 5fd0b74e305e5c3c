/*
 * completion_uri.h — what the DR-Complete sender needs to know about a
 * requestor's Completion URI besides sending to it: the form that logs and
 * error texts may show (a URI may carry secrets in its userinfo, query or
 * fragment), and the destination host that per-host limits and backoff are
 * kept for. Both parse with libcurl's URL API, the parser the sender
 * connects with.
 */
#ifndef OWCP_DISPATCHER_COMPLETION_URI_H
#define OWCP_DISPATCHER_COMPLETION_URI_H

#include <stddef.h>

/* What stands in for a URI libcurl cannot parse. */
#define COMPLETION_URI_UNPARSEABLE "(unparseable URI)"

/* The URI as logs may show it: scheme, host, port and path, without
 * userinfo, query or fragment. malloc()ed (the caller frees);
 * COMPLETION_URI_UNPARSEABLE (a copy) when libcurl cannot parse uri; NULL
 * only when memory runs out. */
char *completion_uri_redacted(const char *uri);

/* The destination of uri as "host:port" (the scheme's default port when
 * none is given) into out; 0, or -1 when libcurl cannot parse uri or out
 * is too small. */
int completion_uri_host_key(const char *uri, char *out, size_t size);

#endif
