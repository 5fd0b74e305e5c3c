/*
 * context.h — the owcp-bridge process's one context struct. Everything a
 * handler, the confirmation waiters or the reload needs is reached from
 * here; there is no other mutable global state. What must survive a
 * restart is in the bridge's database (store.h), not here.
 */
#ifndef OWCP_BRIDGE_CONTEXT_H
#define OWCP_BRIDGE_CONTEXT_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "otpce.h"
#include "radius.h"

struct bridge_store_pool;
struct confirm_service;
struct mras_front;
struct otpce_parser;
struct svc_http;
struct svc_metrics;
struct svc_metric;
struct svc_route;
struct waiters;
struct wstep_front;

/* The keys and secrets the configuration names, loaded (material.c). */
struct bridge_material {
  X509 *ra_cert; /* [otpce] ra_cert */
  EVP_PKEY *ra_key;
  unsigned char *radius_secret; /* [radius] secret_file, wiped on free */
  size_t radius_secret_len;
  struct radius_config radius; /* points into cfg and radius_secret */
};

/* The bridge's counters on /metrics (metrics.c). */
struct bridge_counters {
  struct svc_metric *requests;      /* {front, outcome} */
  struct svc_metric *radius;        /* {outcome} */
  struct svc_metric *confirmations; /* {outcome} */
};

struct bridge {
  struct bridge_config cfg;
  struct bridge_material mat;
  struct otpce_policy otpce_policy; /* points into cfg */
  struct otpce_parser *otpce;       /* compiled schema; read-only */
  struct confirm_service *confirm;  /* shared by every thread */
  struct bridge_store_pool *pool;
  struct waiters *waiters;   /* confirmation waiter threads */
  struct mras_front *mras;   /* the MRAS front (mras.h), NULL when off */
  struct wstep_front *wstep; /* [wstep]: the CA and KET (wstep.h); NULL off */
  struct svc_metrics *metrics;
  struct bridge_counters counters;
  struct svc_http *http;
  struct svc_route *routes; /* built from cfg at start (routes.c) */
  size_t route_count;
  char base_url[128]; /* e.g. http://127.0.0.1:8443 */
  atomic_bool stopping;
};

#endif
