/*
 * owcp/httpc.h — the protocol's HTTP client (libcurl), shared by the
 * requestor and client libraries: POST {base}/{Operation} with a JSON or
 * application/owcp-multipart body, bearer authentication, GET {base}/CA,
 * and failover across the ordered bases discovery found (spec §7: on a
 * connection failure or a 503 the next base is tried).
 *
 * TLS verification is always on (peer and host name, TLS ≥ 1.2); ca_file
 * adds trust anchors. Proxies from the environment (https_proxy, ...) are
 * honoured for https only; plain http (loopback tests) never uses one. One
 * struct owcp_httpc holds one curl handle so connections are kept alive between
 * calls; it is not thread-safe (one per thread). Bearer tokens are sent only in
 * the Authorization header, never logged and never put in a URL. Responses are
 * limited in size (a hostile server cannot make the client allocate without
 * bound).
 *
 * Ownership: owcp_httpc_new's result is freed with owcp_httpc_free; a filled
 * struct owcp_http_reply with owcp_http_reply_free (which wipes the body:
 * it may hold a bearer token). Inputs are borrowed.
 */
#ifndef OWCP_HTTPC_H
#define OWCP_HTTPC_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "owcp/discovery.h"
#include "owcp/util.h"

/* Largest response body accepted (a receipt-carrying RD-Status fits). */
#define OWCP_HTTPC_MAX_RESPONSE ((size_t)1024 * 1024)

struct owcp_httpc_config {
  const char *ca_file; /* extra trust anchors (PEM); NULL: system store */
  /* 0: 10000; at most 86400000 (a day). */
  long connect_timeout_ms;
  /* Per request, before any long-poll Wait; 0: 30000; at most 86400000. */
  long timeout_ms;
  /* http:// only to loopback hosts (tests): the URL's host must be
   * 127.0.0.0/8, [::1] or localhost AND every socket must connect to a
   * loopback address; such requests never go through a proxy. */
  bool allow_insecure_http;
};

struct owcp_httpc;

/* One answer from a dispatcher. */
struct owcp_http_reply {
  long status;  /* the HTTP status (equals the body's "Status") */
  json_t *json; /* the response object; NULL if the body was not one */
  char *body;   /* raw body, NUL-terminated */
  size_t body_len;
  char *base; /* the base that answered */
};

/* Creates a client (cfg copied; NULL: the defaults). Refuses timeouts
 * outside 0..86400000 ms. */
int owcp_httpc_new(const struct owcp_httpc_config *cfg, struct owcp_httpc **out,
                   struct owcp_error *err);

/* Releases the client; NULL is fine. */
void owcp_httpc_free(struct owcp_httpc *c);

/* Frees the members and zeroes *r. */
void owcp_http_reply_free(struct owcp_http_reply *r);

/* POST {base}/{op} with params as application/json, trying each base of
 * bases in order: a base that cannot be reached or answers 503 is skipped
 * for the next, and so is one the transport policy refuses without
 * connecting (not https, or http to a non-loopback host; user information,
 * a query or a fragment). token may be NULL (no Authorization header).
 * wait_s (0..86400) extends the timeout for long polls by that many
 * seconds. Returns 0 when a dispatcher answered (any status; a 503 only
 * when no base answered anything else) with the answer in *out; -1 when
 * none could be reached, with every base's failure summarised in err. */
int owcp_httpc_post_json(struct owcp_httpc *c,
                         const struct owcp_base_list *bases, const char *op,
                         const char *token, const json_t *params, int wait_s,
                         struct owcp_http_reply *out, struct owcp_error *err);

/* As owcp_httpc_post_json, as application/owcp-multipart (spec §8): params
 * first, then xml (if not NULL) as an application/xml segment and receipt
 * (if not NULL) as an application/pkcs7-mime segment. */
int owcp_httpc_post_multipart(
    struct owcp_httpc *c, const struct owcp_base_list *bases, const char *op,
    const char *token, const json_t *params, const char *xml, size_t xml_len,
    const unsigned char *receipt, size_t receipt_len, int wait_s,
    struct owcp_http_reply *out, struct owcp_error *err);

/* GET {base}/CA from the first base that answers 200: the PEM certificates
 * (client CA, then dispatcher certificate) into *pem (caller frees). */
int owcp_httpc_get_ca(struct owcp_httpc *c, const struct owcp_base_list *bases,
                      char **pem, size_t *pem_len, struct owcp_error *err);

#endif
