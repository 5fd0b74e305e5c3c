/*
 * mras_internal.h — what the MRAS front's files (mras_service.c,
 * mras_sip.c, mras_http.c) share: the struct mras_front behind mras.h.
 */
#ifndef OWCP_BRIDGE_MRAS_INTERNAL_H
#define OWCP_BRIDGE_MRAS_INTERNAL_H

#include <pthread.h>
#include <time.h>

#include "digest.h"
#include "mras.h"
#include "turn_cred.h"
#include "waiters.h"

#define MRAS_PENDING_MAX 256 /* questions followed for retries */
#define MRAS_TXN_MAX 1024    /* SIP server transactions remembered */
/* A final response is resent to retransmissions this long (Timer J). */
#define MRAS_TXN_KEEP_S 32

/* A confirmation being waited for, by (account, scope): a retry (a new
 * request, or one after Time Out) follows it instead of asking again. */
struct mras_pending {
  char *account, *scope;
  struct confirm_job *job; /* one reference */
  time_t created;
};

/* One SIP server transaction. */
struct mras_txn {
  char *key;
  char *response; /* NULL while the request is being served */
  size_t len;
  time_t done_at;
};

struct mras_front {
  struct bridge *b;
  struct digest_users users;
  struct digest_key key;
  struct turn_secrets *secrets;
  struct sip_transport *sip;
  pthread_mutex_t lock; /* pending and txns */
  struct mras_pending pending[MRAS_PENDING_MAX];
  struct mras_txn txns[MRAS_TXN_MAX];
};

/* The minutes an MRAS Accept is cached under the policy (0: none). */
int mras_cache_minutes(const struct bridge *b);

#endif
