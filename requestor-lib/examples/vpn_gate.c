/*
 * vpn_gate.c — how a VPN gateway uses libowcp-requestor: before letting a
 * laptop connect, ask its owner to confirm on their phone, wait, and let
 * the connection through only on a verified Accept.
 *
 *   vpn_gate DISPATCHER_BASE TOKEN_FILE [USER] [--insecure-http]
 *
 * Exit status 0 only when the user accepted and the signed receipt
 * verified; 1 for anything else (rejected, timed out, error). Build with
 *   cc vpn_gate.c $(pkg-config --cflags --libs owcp-requestor)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <owcp/requestor.h>

int main(int argc, char **argv)
{
  struct owcp_requestor_config cfg = {0};
  struct owcp_confirm_opts opts = {.timeout_s = 120};
  struct owcp_error err = {{0}};
  struct owcp_requestor *rq = NULL;
  struct owcp_rq_result res = {0};
  const char *user = argc > 3 ? argv[3] : "alice@example.com";
  char *xml = NULL, *tx;
  size_t len = 0;
  int granted = 0;

  if (argc < 3) {
    fprintf(stderr, "usage: vpn_gate BASE TOKEN_FILE [USER] "
                    "[--insecure-http]\n");
    return 1;
  }
  cfg.account = "access@example.com";
  cfg.token_file = argv[2];
  cfg.dispatcher = argv[1];
  cfg.allow_insecure_http = argc > 4 && strcmp(argv[4], "--insecure-http") == 0;
  if (owcp_requestor_new(&cfg, &rq, &err) != 0) {
    fprintf(stderr, "vpn_gate: %s\n", err.msg);
    return 1;
  }
  /* Ask with a PIN, so the answer proves the phone's owner gave it. */
  if (owcp_request_build_simple(owcp_requestor_validator(rq), cfg.account, user,
                                "Access", NULL,
                                "Connect laptop #234 to the corporate "
                                "network?",
                                NULL, NULL, true, &xml, &len, &err) != 0) {
    fprintf(stderr, "vpn_gate: %s\n", err.msg);
    owcp_requestor_free(rq);
    return 1;
  }
  /* Give up after three minutes even if the dispatcher is unreachable. */
  switch (owcp_rq_confirm_and_wait(rq, xml, len, &opts, time(NULL) + 180, &res,
                                   &err)) {
  case OWCP_RQ_OK:
    printf("%s answered %s (client %s)\n", res.account,
           owcp_rq_response_name(res.response), res.client);
    granted = res.response == OWCP_RQ_ACCEPT;
    break;
  case OWCP_RQ_DEADLINE:
    /* We stop waiting, so cancel (RD-Final): the user must not be able to
     * "allow" a connection that was already refused. An answer that came
     * in just before the cancel is returned verified instead. */
    tx = res.transaction;
    res.transaction = NULL;
    owcp_rq_result_free(&res);
    if (owcp_rq_final(rq, tx, xml, len, &res, &err) == OWCP_RQ_OK)
      granted = res.response == OWCP_RQ_ACCEPT;
    else if (res.status != OWCP_RQ_TIMEOUT)
      fprintf(stderr, "vpn_gate: could not cancel: %s\n", err.msg);
    free(tx);
    if (!granted)
      printf("no answer in time: connection refused\n");
    break;
  case OWCP_RQ_TIMEOUT:
    printf("no answer in time: connection refused\n");
    break;
  default:
    fprintf(stderr, "vpn_gate: %s\n", err.msg);
  }
  printf("%s\n", granted ? "connection allowed" : "connection denied");
  owcp_rq_result_free(&res);
  owcp_requestor_free(rq);
  free(xml);
  return granted ? 0 : 1;
}
