/*
 * ops.h — every protocol operation the dispatcher serves: its handler and
 * the struct its field-spec table parses the request parameters into.
 * The tables themselves live beside each handler (rd_confirm.c, ...); the
 * route table (routes.c) ties operation names to both.
 */
#ifndef OWCP_DISPATCHER_OPS_H
#define OWCP_DISPATCHER_OPS_H

#include <stdbool.h>
#include <stdint.h>

#include "http.h"

/* Upper bounds accepted on the wire; policy (config) may clamp lower. */
#define OPS_ID_MAX 64           /* transaction/client identifiers */
#define OPS_TIMEOUT_MAX 86400   /* RD-Confirm Timeout, seconds */
#define OPS_WAIT_MAX 3600       /* Wait, seconds (clamped to cfg.max_wait) */
#define OPS_LIST_MAX 1000       /* CD-List Max */
#define OPS_COMPLETION_MAX 2048 /* Completion URI */
#define OPS_DESCRIPTION_MAX 256 /* CD-Register Description */
#define OPS_CSR_MAX 4096        /* CD-Register CSR, DER octets */
#define OPS_CODE_MAX 128        /* enrollment code */
#define OPS_REASON_MAX 256      /* CD-Reply Reason */
#define OPS_RECEIPT_MAX ((size_t)256 * 1024)

struct rd_confirm_in {
  char *request;
  int64_t timeout;
  bool has_timeout;
  char *completion;
};
extern const struct owcp_param_spec rd_confirm_params[];
enum MHD_Result rd_confirm(struct request *r);

struct rd_status_in {
  char *transaction;
  int64_t wait;
};
extern const struct owcp_param_spec rd_status_params[];
enum MHD_Result rd_status(struct request *r);

struct rd_final_in {
  char *transaction;
};
extern const struct owcp_param_spec rd_final_params[];
enum MHD_Result rd_final(struct request *r);

struct rd_register_in {
  char *to;
};
extern const struct owcp_param_spec rd_register_params[];
enum MHD_Result rd_register(struct request *r);
extern const struct owcp_param_spec rd_deregister_params[];
enum MHD_Result rd_deregister(struct request *r);

struct cd_register_in {
  char *account;
  char *description;
  unsigned char *csr;
  size_t csr_len;
  char *code;
  char *transaction;
};
extern const struct owcp_param_spec cd_register_params[];
enum MHD_Result cd_register(struct request *r);

struct cd_deregister_in {
  char *client;
};
extern const struct owcp_param_spec cd_deregister_params[];
enum MHD_Result cd_deregister(struct request *r);

struct cd_list_in {
  int64_t wait;
  int64_t max;
};
extern const struct owcp_param_spec cd_list_params[];
enum MHD_Result cd_list(struct request *r);

struct cd_reply_in {
  char *transaction;
  int response; /* index into cd_reply_responses */
  char *reason;
  unsigned char *receipt;
  size_t receipt_len;
};
extern const char *const cd_reply_responses[]; /* Accept, Reject, Refuse */
extern const struct owcp_param_spec cd_reply_params[];
enum MHD_Result cd_reply(struct request *r);

/* GET {base}/CA, GET {base}/Log-Head (log_head.c) and GET /healthz. */
enum MHD_Result ca_get(struct request *r);
enum MHD_Result log_head_get(struct request *r);
enum MHD_Result healthz(struct request *r);

#endif
