/*
 * routes.c — the route table: every URL the dispatcher answers, who may
 * call it, which handler runs and which parameter table its body is parsed
 * with. This is the one place to look for "where is X handled".
 */
#include "ops.h"

#define OP(name, auth_, fn, T)                                                 \
  {                                                                            \
    .method = "POST", .path = "/owcp/0.1/" name, .auth = (auth_),              \
    .handle = (fn), .params = fn##_params, .in_size = sizeof(struct T),        \
    .needs_db = true                                                           \
  }

const struct route http_routes[] = {
    OP("RD-Confirm", HTTP_AUTH_REQUESTOR, rd_confirm, rd_confirm_in),
    OP("RD-Status", HTTP_AUTH_REQUESTOR, rd_status, rd_status_in),
    OP("RD-Final", HTTP_AUTH_REQUESTOR, rd_final, rd_final_in),
    OP("RD-Register", HTTP_AUTH_REQUESTOR, rd_register, rd_register_in),
    OP("RD-Deregister", HTTP_AUTH_REQUESTOR, rd_deregister, rd_register_in),
    OP("CD-Register", HTTP_AUTH_NONE, cd_register, cd_register_in),
    OP("CD-Deregister", HTTP_AUTH_CLIENT, cd_deregister, cd_deregister_in),
    OP("CD-List", HTTP_AUTH_CLIENT, cd_list, cd_list_in),
    OP("CD-Reply", HTTP_AUTH_CLIENT, cd_reply, cd_reply_in),
    {.method = "GET",
     .path = "/owcp/0.1/CA",
     .auth = HTTP_AUTH_NONE,
     .handle = ca_get},
    {.method = "GET",
     .path = "/owcp/0.1/Log-Head",
     .auth = HTTP_AUTH_NONE,
     .handle = log_head_get},
};

const size_t http_route_count = sizeof http_routes / sizeof http_routes[0];

/* GET /healthz: the service layer serves the path, this row says how. */
const struct route http_health_route = {.method = "GET",
                                        .path = "/healthz",
                                        .auth = HTTP_AUTH_NONE,
                                        .handle = healthz,
                                        .needs_db = true};
