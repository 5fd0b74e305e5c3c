/*
 * owcp-request — ask a user to confirm an action from a shell script
 * (libowcp-requestor's command line). The exit status is the decision, so
 * `owcp-request confirm ... --wait && grant` is safe: only a verified
 * Accept exits 0. See usage() for the whole interface.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cli.h"
#include "owcp/requestor.h"
#include "owcp/service/version.h"
#include "owcp/util.h"

/* Longest --timeout, --deadline or --wait-seconds: a year. */
#define SECONDS_MAX (86400L * 366)

static void usage(FILE *fp)
{
  fputs(
      "usage: owcp-request COMMAND [OPTIONS]\n"
      "       owcp-request --version\n"
      "\n"
      "Commands:\n"
      "  confirm     send a confirmation request (RD-Confirm)\n"
      "  status      ask for the answer (RD-Status)\n"
      "  final       fetch the answer, or cancel if unanswered (RD-Final)\n"
      "  register    register a recipient account (RD-Register)\n"
      "  deregister  remove that registration (RD-Deregister)\n"
      "  verify      check a receipt file and print what was signed\n"
      "\n"
      "Connection (all commands but verify, which needs no account):\n"
      "  --from ACCOUNT      the requestor account (required)\n"
      "  --token-file F      file holding the bearer token, mode 0600\n"
      "                      (default: $OWCP_TOKEN_FILE). Tokens are never\n"
      "                      taken on the command line: argv is visible to\n"
      "                      every user through ps.\n"
      "  --dispatcher URL    dispatcher base, e.g. "
      "https://owcp.example.com/owcp/0.1\n"
      "  --dns HOST:PORT     discover by DNS through this server\n"
      "                      (default with no --dispatcher: system resolver)\n"
      "  --ca-file F         extra TLS trust anchors (PEM)\n"
      "  --client-ca F       pin the GET {base}/CA bundle (PEM) instead of\n"
      "                      fetching it\n"
      "  --insecure-http     allow http:// to loopback (tests only)\n"
      "  --json              print one JSON object on stdout\n"
      "\n"
      "confirm: --to ACCOUNT and --summary TEXT (or --request-file F with\n"
      "  your own XML Request) [--type TYPE (default Access)] [--pin]\n"
      "  [--money CUR:AMOUNT, e.g. usd:9825.00] [--identifier URI]\n"
      "  [--timeout S] [--completion URL] [--wait] [--deadline S (stop\n"
      "  waiting after S seconds and cancel the request)]\n"
      "  [--receipt-out F] [--request-out F (the exact XML sent)]\n"
      "status: --transaction TX --request F [--wait-seconds S] "
      "[--receipt-out F]\n"
      "final:  --transaction TX --request F [--receipt-out F]\n"
      "register: --to ACCOUNT [--wait [--deadline S]]. A dispatcher with\n"
      "  --require-registration first asks the user to consent: register\n"
      "  then reports the consent request pending (exit 6, its transaction\n"
      "  printed; run register again later), or with --wait waits for the\n"
      "  user's answer: 0 consented, 5 refused (the dispatcher's Error says\n"
      "  why), 2 expired or the deadline passed\n"
      "deregister: --to ACCOUNT\n"
      "verify FILE (--client-ca F | --dispatcher URL [--ca-file F]\n"
      "  [--insecure-http]) [--request F] [--transaction TX]\n"
      "  FILE: the receipt, DER, PEM or base64 (--receipt FILE also works).\n"
      "  The client CA is pinned (--client-ca) or fetched from the\n"
      "  dispatcher (GET {base}/CA over verified TLS). Prints what the\n"
      "  client signed: transaction, account, client, response,\n"
      "  verification, signing time, match, reason, and the request's sender\n"
      "  and identifier. --request F: the receipt must cover exactly the\n"
      "  XML in F (without it, the receipt proves only what the user\n"
      "  answered to the request it carries, not that you sent that request:\n"
      "  scripts that act on the answer must pass --request)\n"
      "\n"
      "The answer is reported only after the client's signed receipt has\n"
      "verified against the dispatcher's client CA and covers exactly the\n"
      "XML Request that was sent (status and final need it: --request).\n"
      "\n"
      "Exit status:\n"
      "  0  accepted (verified); or register/deregister succeeded\n"
      "  1  rejected by the user\n"
      "  2  timed out or cancelled\n"
      "  3  refused by the client (e.g. unknown verification type)\n"
      "  4  usage error or invalid input\n"
      "  5  service, network or verification error\n"
      "  6  submitted / still pending (confirm without --wait, status,\n"
      "     register awaiting the user's consent)\n",
      fp);
}

static int parse_long(const char *s, const char *name, long *out)
{
  char *end;
  long v = strtol(s, &end, 10);

  if (*s == '\0' || *end != '\0' || v < 0 || v > SECONDS_MAX) {
    fprintf(stderr, "owcp-request: %s must be a number of seconds\n", name);
    return -1;
  }
  *out = v;
  return 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
  enum {
    O_FROM = 256,
    O_TOKEN_FILE,
    O_DISPATCHER,
    O_DNS,
    O_CA_FILE,
    O_CLIENT_CA,
    O_INSECURE,
    O_JSON,
    O_TO,
    O_SUMMARY,
    O_TYPE,
    O_PIN,
    O_MONEY,
    O_IDENTIFIER,
    O_TIMEOUT,
    O_COMPLETION,
    O_WAIT,
    O_DEADLINE,
    O_RECEIPT_OUT,
    O_REQUEST_OUT,
    O_REQUEST_FILE,
    O_REQUEST,
    O_TRANSACTION,
    O_WAIT_SECONDS,
    O_RECEIPT,
    O_HELP
  };
  static const struct option longopts[] = {
      {"from", required_argument, NULL, O_FROM},
      {"token-file", required_argument, NULL, O_TOKEN_FILE},
      {"dispatcher", required_argument, NULL, O_DISPATCHER},
      {"dns", required_argument, NULL, O_DNS},
      {"ca-file", required_argument, NULL, O_CA_FILE},
      {"client-ca", required_argument, NULL, O_CLIENT_CA},
      {"insecure-http", no_argument, NULL, O_INSECURE},
      {"json", no_argument, NULL, O_JSON},
      {"to", required_argument, NULL, O_TO},
      {"summary", required_argument, NULL, O_SUMMARY},
      {"type", required_argument, NULL, O_TYPE},
      {"pin", no_argument, NULL, O_PIN},
      {"money", required_argument, NULL, O_MONEY},
      {"identifier", required_argument, NULL, O_IDENTIFIER},
      {"timeout", required_argument, NULL, O_TIMEOUT},
      {"completion", required_argument, NULL, O_COMPLETION},
      {"wait", no_argument, NULL, O_WAIT},
      {"deadline", required_argument, NULL, O_DEADLINE},
      {"receipt-out", required_argument, NULL, O_RECEIPT_OUT},
      {"request-out", required_argument, NULL, O_REQUEST_OUT},
      {"request-file", required_argument, NULL, O_REQUEST_FILE},
      {"request", required_argument, NULL, O_REQUEST},
      {"transaction", required_argument, NULL, O_TRANSACTION},
      {"wait-seconds", required_argument, NULL, O_WAIT_SECONDS},
      {"receipt", required_argument, NULL, O_RECEIPT},
      {"help", no_argument, NULL, O_HELP},
      {NULL, 0, NULL, 0}};
  int c;

  memset(o, 0, sizeof *o);
  o->type = "Access";
  if (argc < 2) {
    usage(stderr);
    return -1;
  }
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    usage(stdout);
    exit(EXIT_ACCEPTED);
  }
  if (strcmp(argv[1], "--version") == 0) {
    printf("owcp-request %s\n", OWCP_VERSION);
    exit(EXIT_ACCEPTED);
  }
  o->cmd = argv[1];
  optind = 2;
  while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    switch (c) {
    case O_FROM:
      o->from = optarg;
      break;
    case O_TOKEN_FILE:
      o->token_file = optarg;
      break;
    case O_DISPATCHER:
      o->dispatcher = optarg;
      break;
    case O_DNS:
      o->dns = optarg;
      break;
    case O_CA_FILE:
      o->ca_file = optarg;
      break;
    case O_CLIENT_CA:
      o->client_ca = optarg;
      break;
    case O_INSECURE:
      o->insecure = true;
      break;
    case O_JSON:
      o->json = true;
      break;
    case O_TO:
      o->to = optarg;
      break;
    case O_SUMMARY:
      o->summary = optarg;
      break;
    case O_TYPE:
      o->type = optarg;
      break;
    case O_PIN:
      o->pin = true;
      break;
    case O_MONEY:
      o->money = optarg;
      break;
    case O_IDENTIFIER:
      o->identifier = optarg;
      break;
    case O_COMPLETION:
      o->completion = optarg;
      break;
    case O_WAIT:
      o->wait = true;
      break;
    case O_RECEIPT_OUT:
      o->receipt_out = optarg;
      break;
    case O_REQUEST_OUT:
      o->request_out = optarg;
      break;
    case O_REQUEST_FILE:
    case O_REQUEST:
      o->request_file = optarg;
      break;
    case O_TRANSACTION:
      o->transaction = optarg;
      break;
    case O_RECEIPT:
      o->receipt = optarg;
      break;
    case O_TIMEOUT:
      if (parse_long(optarg, "--timeout", &o->timeout) != 0)
        return -1;
      break;
    case O_DEADLINE:
      if (parse_long(optarg, "--deadline", &o->deadline) != 0)
        return -1;
      break;
    case O_WAIT_SECONDS:
      if (parse_long(optarg, "--wait-seconds", &o->wait_seconds) != 0)
        return -1;
      break;
    case O_HELP:
      usage(stdout);
      exit(EXIT_ACCEPTED);
    default:
      return -1;
    }
  }
  /* verify takes its receipt file as the one positional argument. */
  if (strcmp(o->cmd, "verify") == 0 && optind < argc)
    o->positional = argv[optind++];
  if (optind != argc) {
    fprintf(stderr, "owcp-request: unexpected argument '%s'\n", argv[optind]);
    return -1;
  }
  if (o->token_file == NULL)
    o->token_file = getenv("OWCP_TOKEN_FILE");
  return 0;
}

/* ---- output -------------------------------------------------------------- */

static int exit_for(const struct owcp_rq_result *r, const char *cmd)
{
  switch (r->status) {
  case OWCP_RQ_OK:
    switch (r->response) {
    case OWCP_RQ_ACCEPT:
      return EXIT_ACCEPTED;
    case OWCP_RQ_REJECT:
      return EXIT_REJECTED;
    case OWCP_RQ_REFUSE:
      return EXIT_REFUSED;
    case OWCP_RQ_NO_RESPONSE:
      break;
    }
    /* register/deregister succeeded; anything else has no answer */
    return strcmp(cmd, "register") == 0 || strcmp(cmd, "deregister") == 0
               ? EXIT_ACCEPTED
               : EXIT_SERVICE;
  case OWCP_RQ_PENDING:
    return EXIT_PENDING;
  case OWCP_RQ_TIMEOUT:
  case OWCP_RQ_DEADLINE:
    return EXIT_TIMEOUT;
  case OWCP_RQ_INVALID_INPUT:
    return EXIT_USAGE;
  default:
    return EXIT_SERVICE;
  }
}

static void json_put(json_t *o, const char *k, const char *v)
{
  if (v != NULL)
    json_object_set_new(o, k, json_string(v));
}

static void print_json(const struct owcp_rq_result *r, const char *cmd,
                       const char *error, int code)
{
  json_t *o = json_object();
  json_t *ver = json_array();
  char *text;

  json_put(o, "Command", cmd);
  json_put(o, "Result", owcp_rq_status_name(r->status));
  json_object_set_new(o, "Exit", json_integer(code));
  if (r->response != OWCP_RQ_NO_RESPONSE)
    json_put(o, "Response", owcp_rq_response_name(r->response));
  json_put(o, "Transaction", r->transaction);
  json_put(o, "Identifier", r->identifier);
  json_put(o, "Expires", r->expires);
  json_put(o, "Reason", r->reason);
  json_put(o, "Client", r->client);
  json_put(o, "Account", r->account);
  json_put(o, "Responded", r->responded);
  json_put(o, "Signed", r->signed_at);
  json_put(o, "Match", r->match);
  json_put(o, "From", r->from);
  for (size_t i = 0; i < r->verification_count; i++)
    json_array_append_new(ver, json_string(r->verification[i]));
  if (r->response != OWCP_RQ_NO_RESPONSE)
    json_object_set(o, "Verification", ver);
  if (strcmp(cmd, "register") == 0 && r->status == OWCP_RQ_OK)
    json_object_set_new(o, "Ready", json_boolean(r->ready));
  if (r->http_status != 0)
    json_object_set_new(o, "HTTPStatus", json_integer(r->http_status));
  json_put(o, "ServerError", r->server_error);
  if (r->status != OWCP_RQ_OK && r->status != OWCP_RQ_PENDING)
    json_put(o, "Error", error);
  text = json_dumps(o, JSON_COMPACT);
  if (text != NULL)
    printf("%s\n", text);
  free(text);
  json_decref(ver);
  json_decref(o);
}

static void print_human(const struct owcp_rq_result *r, const char *cmd,
                        const char *error)
{
  if (r->transaction != NULL)
    printf("transaction: %s\n", r->transaction);
  if (r->identifier != NULL)
    printf("identifier:  %s\n", r->identifier);
  switch (r->status) {
  case OWCP_RQ_OK:
    if (r->response == OWCP_RQ_NO_RESPONSE) {
      if (strcmp(cmd, "register") == 0)
        printf("registered; ready: %s\n", r->ready ? "yes" : "no");
      else
        printf("done\n");
      return;
    }
    printf("response:    %s (receipt verified)\n",
           owcp_rq_response_name(r->response));
    if (r->reason != NULL)
      printf("reason:      %s\n", r->reason);
    printf("account:     %s\nclient:      %s\n", r->account ? r->account : "",
           r->client ? r->client : "");
    for (size_t i = 0; i < r->verification_count; i++)
      printf("verified by: %s\n", r->verification[i]);
    if (r->responded != NULL)
      printf("responded:   %s\n", r->responded);
    return;
  case OWCP_RQ_PENDING:
    printf("pending%s%s\n", r->expires ? "; expires " : "",
           r->expires ? r->expires : "");
    if (strcmp(cmd, "register") == 0)
      printf("the user has been asked to consent (register again, or "
             "register --wait)\n");
    return;
  default:
    fprintf(stderr, "owcp-request: %s\n", error);
  }
}

int cli_report(const struct opts *o, const struct owcp_rq_result *r,
               const char *error)
{
  int code = exit_for(r, o->cmd);

  if (o->json)
    print_json(r, o->cmd, error, code);
  else
    print_human(r, o->cmd, error);
  return code;
}

/* A local failure before any result exists. */
int cli_fail_local(const struct opts *o, enum owcp_rq_status s,
                   const char *error)
{
  struct owcp_rq_result r;

  memset(&r, 0, sizeof r);
  r.status = s;
  return cli_report(o, &r, error);
}

/* ---- commands ------------------------------------------------------------ */

int cli_read_text(const char *path, char **out, size_t *len,
                  struct owcp_error *err)
{
  return owcp_file_read(path, FILE_MAX, (unsigned char **)out, len, err);
}

/* The end of confirm, status and final: saves the receipt (--receipt-out;
 * a failed write makes the result an error), reports and frees *r. Returns
 * the exit status. */
static int conclude(const struct opts *o, struct owcp_rq_result *r,
                    struct owcp_error *err)
{
  int code;

  if (o->receipt_out != NULL && r->receipt != NULL &&
      owcp_file_write_atomic(o->receipt_out, r->receipt, r->receipt_len, 0644,
                             err) != 0)
    r->status = OWCP_RQ_INTERNAL_ERROR;
  code = cli_report(o, r, err->msg);
  owcp_rq_result_free(r);
  return code;
}

static int open_requestor(const struct opts *o, struct owcp_requestor **rq,
                          struct owcp_error *err)
{
  struct owcp_requestor_config cfg = {0};
  char *pinned = NULL;
  size_t pinned_len = 0;
  int rc;

  if (o->from == NULL || o->token_file == NULL) {
    owcp_error_set(err,
                   "%s needs --from and --token-file "
                   "(or OWCP_TOKEN_FILE)",
                   o->cmd);
    return EXIT_USAGE;
  }
  if (o->client_ca != NULL &&
      cli_read_text(o->client_ca, &pinned, &pinned_len, err) != 0)
    return EXIT_USAGE;
  cfg.account = o->from;
  cfg.token_file = o->token_file;
  cfg.dispatcher = o->dispatcher;
  cfg.dns_servers = o->dns;
  cfg.use_dns = o->dns != NULL || o->dispatcher == NULL;
  cfg.ca_file = o->ca_file;
  cfg.pinned_ca_pem = pinned;
  cfg.allow_insecure_http = o->insecure;
  rc = owcp_requestor_new(&cfg, rq, err);
  free(pinned);
  return rc == 0 ? 0 : EXIT_USAGE;
}

/* The XML to send: the caller's file, or one built from the options. */
static int confirm_xml(const struct opts *o, struct owcp_requestor *rq,
                       char **xml, size_t *len, struct owcp_error *err)
{
  char currency[8] = "";
  const char *amount = NULL;

  if (o->request_file != NULL)
    return cli_read_text(o->request_file, xml, len, err);
  if (o->to == NULL || o->summary == NULL) {
    owcp_error_set(err, "confirm needs --to and --summary, or "
                        "--request-file");
    return -1;
  }
  if (o->money != NULL) {
    const char *colon = strchr(o->money, ':');
    if (colon == NULL || (size_t)(colon - o->money) >= sizeof currency) {
      owcp_error_set(err, "--money must be CURRENCY:AMOUNT, e.g. "
                          "usd:9825.00");
      return -1;
    }
    memcpy(currency, o->money, (size_t)(colon - o->money));
    currency[colon - o->money] = '\0';
    amount = colon + 1;
  }
  return owcp_request_build_simple(
      owcp_requestor_validator(rq), o->from, o->to, o->type, o->identifier,
      o->summary, o->money ? currency : NULL, amount, o->pin, xml, len, err);
}

/* The script has stopped waiting, so the user must not be left able to
 * answer: RD-Final cancels the transaction. If the answer arrived just
 * before, the verified answer replaces the deadline; if the cancel cannot
 * be sent, the deadline (exit 2) stands with the transaction pending. */
static void cancel_at_deadline(struct owcp_requestor *rq, const char *xml,
                               size_t len, struct owcp_rq_result *r,
                               struct owcp_error *err)
{
  struct owcp_error ferr = {{0}};
  struct owcp_rq_result fin;

  if (r->transaction == NULL)
    return;
  switch (owcp_rq_final(rq, r->transaction, xml, len, &fin, &ferr)) {
  case OWCP_RQ_OK:
    owcp_rq_result_free(r);
    *r = fin;
    return;
  case OWCP_RQ_TIMEOUT:
    owcp_error_set(err,
                   "transaction %s was unanswered at the deadline and has "
                   "been cancelled",
                   r->transaction);
    break;
  default:
    owcp_error_set(err,
                   "transaction %s was unanswered at the deadline and could "
                   "not be cancelled (it stays pending): %s",
                   r->transaction, ferr.msg);
  }
  owcp_rq_result_free(&fin);
}

static int cmd_confirm(const struct opts *o, struct owcp_requestor *rq)
{
  struct owcp_confirm_opts co = {o->timeout, o->completion};
  struct owcp_error err = {{0}};
  struct owcp_rq_result r;
  char *xml = NULL;
  size_t len = 0;
  int code;

  memset(&r, 0, sizeof r);
  if (confirm_xml(o, rq, &xml, &len, &err) != 0)
    return cli_fail_local(o, OWCP_RQ_INVALID_INPUT, err.msg);
  if (o->request_out != NULL &&
      owcp_file_write_atomic(o->request_out, xml, len, 0644, &err) != 0) {
    free(xml);
    return cli_fail_local(o, OWCP_RQ_INVALID_INPUT, err.msg);
  }
  if (o->wait &&
      owcp_rq_confirm_and_wait(rq, xml, len, &co,
                               o->deadline ? time(NULL) + o->deadline : 0, &r,
                               &err) == OWCP_RQ_DEADLINE)
    cancel_at_deadline(rq, xml, len, &r, &err);
  else if (!o->wait)
    owcp_rq_confirm(rq, xml, len, &co, &r, &err);
  code = conclude(o, &r, &err);
  free(xml);
  return code;
}

static int cmd_result(const struct opts *o, struct owcp_requestor *rq,
                      bool final)
{
  struct owcp_error err = {{0}};
  struct owcp_rq_result r;
  char *xml = NULL;
  size_t len = 0;
  int code;

  if (o->transaction == NULL || o->request_file == NULL)
    return cli_fail_local(o, OWCP_RQ_INVALID_INPUT,
                          "status and final need --transaction and --request "
                          "(the exact XML sent, see confirm --request-out)");
  if (cli_read_text(o->request_file, &xml, &len, &err) != 0)
    return cli_fail_local(o, OWCP_RQ_INVALID_INPUT, err.msg);
  if (final)
    owcp_rq_final(rq, o->transaction, xml, len, &r, &err);
  else
    owcp_rq_status(rq, o->transaction, xml, len, (int)o->wait_seconds, &r,
                   &err);
  code = conclude(o, &r, &err);
  free(xml);
  return code;
}

static int cmd_account(const struct opts *o, struct owcp_requestor *rq,
                       bool reg)
{
  struct owcp_error err = {{0}};
  struct owcp_rq_result r;
  int code;

  if (o->to == NULL)
    return cli_fail_local(o, OWCP_RQ_INVALID_INPUT, "this command needs --to");
  if (reg && o->wait)
    owcp_rq_register_and_wait(
        rq, o->to, o->deadline ? time(NULL) + o->deadline : 0, &r, &err);
  else if (reg)
    owcp_rq_register(rq, o->to, &r, &err);
  else
    owcp_rq_deregister(rq, o->to, &r, &err);
  code = cli_report(o, &r, err.msg);
  owcp_rq_result_free(&r);
  return code;
}

int main(int argc, char **argv)
{
  struct owcp_error err = {{0}};
  struct owcp_requestor *rq = NULL;
  struct opts o;
  int code;

  if (parse_args(argc, argv, &o) != 0)
    return EXIT_USAGE;
  if (strcmp(o.cmd, "verify") == 0)
    return cli_cmd_verify(&o);
  if (strcmp(o.cmd, "confirm") != 0 && strcmp(o.cmd, "status") != 0 &&
      strcmp(o.cmd, "final") != 0 && strcmp(o.cmd, "register") != 0 &&
      strcmp(o.cmd, "deregister") != 0) {
    fprintf(stderr, "owcp-request: unknown command '%s' (see --help)\n", o.cmd);
    return EXIT_USAGE;
  }
  if (open_requestor(&o, &rq, &err) != 0)
    return cli_fail_local(&o, OWCP_RQ_INVALID_INPUT, err.msg);
  if (strcmp(o.cmd, "confirm") == 0)
    code = cmd_confirm(&o, rq);
  else if (strcmp(o.cmd, "status") == 0)
    code = cmd_result(&o, rq, false);
  else if (strcmp(o.cmd, "final") == 0)
    code = cmd_result(&o, rq, true);
  else
    code = cmd_account(&o, rq, strcmp(o.cmd, "register") == 0);
  owcp_requestor_free(rq);
  return code;
}
