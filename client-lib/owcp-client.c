/*
 * owcp-client — the OWCP terminal client: registers this device for an
 * account, lists and shows pending confirmation requests rendered as the
 * user must see them, and answers them with a signed receipt; `watch`
 * does so interactively as requests arrive.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "cli_pin.h"
#include "owcp/client.h"
#include "owcp/service/version.h"

enum exit_status {
  EXIT_OK = 0,
  EXIT_FAIL = 1,
  EXIT_USAGE = 2,
  EXIT_BAD_PIN = 3,
  EXIT_LOCKED = 4,
  EXIT_REFUSED = 5,
};

#define WATCH_WAIT_S 30

static const char usage_text[] =
    "usage: owcp-client [options] COMMAND [ARGS]\n"
    "\n"
    "commands:\n"
    "  register ACCOUNT [--code-file F | --code - | --approval]\n"
    "           [--pin | --pin-file F]\n"
    "      register this device for ACCOUNT: with an enrollment code, by\n"
    "      approval from a device already registered (waits for it), or,\n"
    "      without either, by open self-subscription when the service allows\n"
    "      it. With --pin the device key is encrypted under a PIN (asked\n"
    "      twice); without it, requests that need PIN verification are\n"
    "      refused (\"Unknown Verification Type\"). With --approval it\n"
    "      prints a two-digit number: type it on the approving device.\n"
    "  list [--wait S]        pending requests (long-poll up to S seconds)\n"
    "  show TX                a pending request, rendered\n"
    "  reply TX accept|reject|not-me\n"
    "                         answer a pending request (asks the PIN, and\n"
    "                         for a device approval the number the new\n"
    "                         device shows, unless --match); not-me: you did\n"
    "                         not start it, reported as fraud and the\n"
    "                         requestor is blocked from your account\n"
    "  watch                  wait for requests, show each, ask a/r/n (n:\n"
    "                         not me), the number for a device approval and\n"
    "                         the PIN, reply, keep waiting; q or end of\n"
    "                         input quits\n"
    "  accounts               the accounts registered on this device\n"
    "  deregister             remove this device's registration\n"
    "\n"
    "options:\n"
    "  --state-dir DIR        state (default $XDG_CONFIG_HOME/owcp-client or\n"
    "                         ~/.config/owcp-client; must be mode 0700)\n"
    "  --dispatcher URL       dispatcher base, e.g. https://h/owcp/0.1\n"
    "                         (default: the one used at registration, else\n"
    "                         DNS discovery)\n"
    "  --dns HOST:PORT        DNS server for discovery\n"
    "  --ca-file FILE         extra TLS trust anchors (PEM)\n"
    "  --insecure-http        allow http:// on loopback (tests only)\n"
    "  --account ACCOUNT      which account, when several are registered\n"
    "  --description TEXT     device name shown to your other devices\n"
    "  --max-pin-failures N   wrong PINs before the key is locked (default 5)\n"
    "  --timeout S            how long register waits for an approval\n"
    "  --wait S               long poll of list and watch (watch: 30)\n"
    "  --pin-file FILE        read the PIN from FILE (mode 0600 or stricter)\n"
    "                         instead of asking on the terminal\n"
    "  --match NN             reply: the number the new device shows, for\n"
    "                         accepting a device approval without asking\n"
    "  --code-file FILE       read the enrollment code from FILE (first line;\n"
    "                         mode 0600 or stricter); FILE - : standard input\n"
    "  --code -               the same as --code-file - (asked without echo\n"
    "                         on a terminal, else the first line piped in)\n"
    "  --code CODE            the code itself: visible to every local user\n"
    "                         (ps, /proc) while register runs; prefer the\n"
    "                         two forms above\n"
    "  --version              print the version\n"
    "  --help                 this text\n"
    "\n"
    "exit status: 0 success, 1 failure, 2 usage error, 3 wrong PIN,\n"
    "4 key locked after too many wrong PINs, 5 the request was refused\n"
    "because it needs a verification method this device cannot perform.\n";

struct opts {
  struct owcp_client_config cfg;
  const char *account;
  const char *code;
  const char *code_file;
  const char *description;
  const char *pin_file;
  const char *match;
  bool approval;
  bool pin;
  unsigned max_failures;
  int timeout_s;
  int wait_s;
};

static int parse_number(const char *text, long max, const char *what, long *out)
{
  char *end = NULL;
  long v;

  errno = 0;
  v = strtol(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || v < 0 || v > max) {
    fprintf(stderr, "owcp-client: %s must be a number 0..%ld\n", what, max);
    return -1;
  }
  *out = v;
  return 0;
}

/* Parses options anywhere on the line; the rest stays in argv[optind..]. */
static int parse_opts(int argc, char **argv, struct opts *o)
{
  static const struct option longs[] = {
      {"state-dir", required_argument, NULL, 'S'},
      {"dispatcher", required_argument, NULL, 'D'},
      {"dns", required_argument, NULL, 'N'},
      {"ca-file", required_argument, NULL, 'C'},
      {"insecure-http", no_argument, NULL, 'I'},
      {"account", required_argument, NULL, 'a'},
      {"code", required_argument, NULL, 'c'},
      {"code-file", required_argument, NULL, 'F'},
      {"approval", no_argument, NULL, 'A'},
      {"pin", no_argument, NULL, 'p'},
      {"pin-file", required_argument, NULL, 'P'},
      {"description", required_argument, NULL, 'd'},
      {"max-pin-failures", required_argument, NULL, 'm'},
      {"timeout", required_argument, NULL, 't'},
      {"wait", required_argument, NULL, 'w'},
      {"match", required_argument, NULL, 'M'},
      {"version", no_argument, NULL, 'V'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  long n;
  int ch;

  while ((ch = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
    switch (ch) {
    case 'S':
      o->cfg.state_dir = optarg;
      break;
    case 'D':
      o->cfg.dispatcher = optarg;
      break;
    case 'N':
      o->cfg.dns_servers = optarg;
      break;
    case 'C':
      o->cfg.ca_file = optarg;
      break;
    case 'I':
      o->cfg.allow_insecure_http = true;
      break;
    case 'a':
      o->account = optarg;
      break;
    case 'c':
      o->code = optarg;
      break;
    case 'F':
      o->code_file = optarg;
      break;
    case 'A':
      o->approval = true;
      break;
    case 'p':
      o->pin = true;
      break;
    case 'P':
      o->pin_file = optarg;
      break;
    case 'M':
      o->match = optarg;
      break;
    case 'd':
      o->description = optarg;
      break;
    case 'm':
      if (parse_number(optarg, 1000, "--max-pin-failures", &n) != 0 || n == 0)
        return -1;
      o->max_failures = (unsigned)n;
      break;
    case 't':
      if (parse_number(optarg, 86400, "--timeout", &n) != 0)
        return -1;
      o->timeout_s = (int)n;
      break;
    case 'w':
      if (parse_number(optarg, 3600, "--wait", &n) != 0)
        return -1;
      o->wait_s = (int)n;
      break;
    case 'V':
      printf("owcp-client %s\n", OWCP_VERSION);
      exit(EXIT_OK);
    case 'h':
      fputs(usage_text, stdout);
      exit(EXIT_OK);
    default:
      return -1;
    }
  }
  if ((o->code != NULL || o->code_file != NULL) && o->approval) {
    fprintf(stderr, "owcp-client: --code and --approval exclude each other\n");
    return -1;
  }
  if (o->code != NULL && o->code_file != NULL) {
    fprintf(stderr, "owcp-client: --code and --code-file exclude each other\n");
    return -1;
  }
  return 0;
}

/* ---- commands ----------------------------------------------------------- */

/* Prints an error sentence; it may quote the dispatcher or a request, so
 * it passes through the renderer's control-character filter first. */
static void print_error(const char *msg)
{
  char *safe = owcp_render_string(msg, NULL, NULL);

  fprintf(stderr, "owcp-client: %s\n",
          safe != NULL ? safe : "(error text unavailable: out of memory)");
  free(safe);
}

static int fail(const struct owcp_error *err, int status)
{
  print_error(err->msg);
  return status;
}

/* Maps a library result to an exit status, printing the error. */
static int lib_status(int rc, const struct owcp_error *err)
{
  if (rc == 0)
    return EXIT_OK;
  if (rc == OWCP_CLIENT_BAD_PIN)
    return fail(err, EXIT_BAD_PIN);
  if (rc == OWCP_CLIENT_LOCKED)
    return fail(err, EXIT_LOCKED);
  return fail(err, EXIT_FAIL);
}

static void announce_pending(const char *tx, void *arg)
{
  const char *account = arg;

  fprintf(stderr,
          "Waiting for approval: confirm \"Register a new device\" on another "
          "device of %s (transaction %s)...\n",
          account, tx);
}

static void announce_match(const char *tx, const char *match, void *arg)
{
  (void)tx;
  (void)arg;
  fprintf(stderr,
          "On the device that approves, type this number when asked: %s\n",
          match);
}

static int cmd_register(struct owcp_client *c, const struct opts *o,
                        const char *account)
{
  char pin[PIN_MAX] = "";
  char code[CODE_MAX] = "";
  char host[256] = "";
  char desc[300];
  struct owcp_error err = {{0}};
  bool with_pin = o->pin || o->pin_file != NULL;
  bool with_code = o->code != NULL || o->code_file != NULL;

  /* The code first: it may come from standard input, before any PIN is
   * asked on the terminal. */
  if (with_code && cli_code_get(o->code, o->code_file, code, sizeof code) != 0)
    return EXIT_FAIL;
  if (with_pin && cli_pin_new(o->pin_file, pin, sizeof pin) != 0) {
    OPENSSL_cleanse(pin, sizeof pin);
    OPENSSL_cleanse(code, sizeof code);
    return EXIT_FAIL;
  }
  if (o->description == NULL) {
    if (gethostname(host, sizeof host - 1) != 0)
      strcpy(host, "unknown host");
    snprintf(desc, sizeof desc, "owcp-client on %s", host);
  }
  struct owcp_register_params p = {
      .account = account,
      .description = o->description != NULL ? o->description : desc,
      .code = with_code ? code : NULL,
      .pin = with_pin ? pin : NULL,
      .max_pin_failures = o->max_failures,
      .approval_timeout_s = o->timeout_s,
      .on_pending = announce_pending,
      .arg = (void *)account,
      .on_match = announce_match,
  };
  int rc = owcp_client_register(c, &p, &err);
  OPENSSL_cleanse(pin, sizeof pin);
  OPENSSL_cleanse(code, sizeof code);
  if (rc != 0)
    return fail(&err, EXIT_FAIL);
  printf("Registered this device for %s%s.\n", account,
         with_pin ? " (key protected by your PIN)" : "");
  return EXIT_OK;
}

/* The account to act on: --account, else the only registered one. */
static int pick_account(struct owcp_client *c, const struct opts *o, char *out,
                        size_t size)
{
  struct owcp_error err = {{0}};
  char **names = NULL;
  size_t n = 0;
  int rc = -1;

  if (o->account != NULL) {
    if (strlen(o->account) >= size) {
      fprintf(stderr, "owcp-client: --account is longer than %zu characters\n",
              size - 1);
      return -1;
    }
    memcpy(out, o->account, strlen(o->account) + 1);
    return 0;
  }
  if (owcp_client_accounts(c, &names, &n, &err) != 0) {
    print_error(err.msg);
    return -1;
  }
  if (n == 1) {
    snprintf(out, size, "%s", names[0]);
    rc = 0;
  } else if (n == 0) {
    fprintf(stderr, "owcp-client: no account is registered on this device "
                    "(owcp-client register ACCOUNT ...)\n");
  } else {
    fprintf(stderr, "owcp-client: several accounts are registered; pass "
                    "--account (owcp-client accounts lists them)\n");
  }
  owcp_client_accounts_free(names, n);
  return rc;
}

static int cmd_accounts(struct owcp_client *c)
{
  struct owcp_error err = {{0}};
  char **names = NULL;
  size_t n = 0;

  if (owcp_client_accounts(c, &names, &n, &err) != 0)
    return fail(&err, EXIT_FAIL);
  for (size_t i = 0; i < n; i++)
    printf("%s%s\n", names[i],
           owcp_client_account_has_pin(c, names[i]) ? " (PIN)" : "");
  owcp_client_accounts_free(names, n);
  return EXIT_OK;
}

static enum owcp_render_mode out_mode(void)
{
  return isatty(STDOUT_FILENO) ? OWCP_RENDER_ANSI : OWCP_RENDER_PLAIN;
}

static int cmd_list(struct owcp_client *c, const struct opts *o,
                    const char *account)
{
  struct owcp_pending_list l;
  struct owcp_error err = {{0}};

  if (owcp_client_list(c, account, o->wait_s, &l, &err) != 0)
    return fail(&err, EXIT_FAIL);
  if (l.count == 0)
    printf("No pending requests for %s.\n", account);
  for (size_t i = 0; i < l.count; i++) {
    const struct owcp_pending *p = &l.items[i];
    struct owcp_view v;

    /* Only the view's neutralised fields reach the terminal. */
    if (owcp_client_view(c, account, p, OWCP_RENDER_PLAIN, &v, &err) == 0)
      printf("%s  from %s  expires %s\n    %s\n", v.transaction, v.from,
             v.expires, v.summary);
    else {
      printf("%s  (request not valid)\n", p->transaction);
      print_error(err.msg);
    }
    owcp_view_clear(&v);
  }
  owcp_pending_list_free(&l);
  return EXIT_OK;
}

/* Prints a pending request as the user must see it before answering. */
static void print_request(const struct owcp_view *v)
{
  printf("\n=== Request %s (expires %s) ===\n%s", v->transaction, v->expires,
         v->text);
  if (v->unsupported != NULL)
    printf("\nThis request asks for verification \"%s\", which this device "
           "cannot perform: it can only be refused (%s).\n",
           v->unsupported, OWCP_CLIENT_UNKNOWN_VERIFICATION);
  fflush(stdout);
}

/* CD-List and the entry for tx (which *l owns), or NULL with a message. */
static const struct owcp_pending *fetch(struct owcp_client *c,
                                        const char *account, const char *tx,
                                        struct owcp_pending_list *l)
{
  struct owcp_error err = {{0}};
  const struct owcp_pending *p;

  if (owcp_client_list(c, account, 0, l, &err) != 0) {
    print_error(err.msg);
    return NULL;
  }
  p = owcp_pending_find(l, tx);
  if (p == NULL)
    fprintf(stderr,
            "owcp-client: no pending request %s for %s (answered, expired or "
            "never addressed to it)\n",
            tx, account);
  return p;
}

static int cmd_show(struct owcp_client *c, const char *account, const char *tx)
{
  struct owcp_pending_list l = {0};
  struct owcp_error err = {{0}};
  struct owcp_view v;
  int status = EXIT_FAIL;
  const struct owcp_pending *p = fetch(c, account, tx, &l);

  if (p != NULL) {
    if (owcp_client_view(c, account, p, out_mode(), &v, &err) == 0) {
      print_request(&v);
      owcp_view_clear(&v);
      status = EXIT_OK;
    } else {
      status = fail(&err, EXIT_FAIL);
    }
  }
  owcp_pending_list_free(&l);
  return status;
}

/* The number the new device shows, for accepting a device approval:
 * --match, else asked on the terminal (it is not secret: it is on the
 * other screen). 0, or -1 at end of input. */
static int ask_match(const struct opts *o, char *out, size_t size)
{
  if (o->match != NULL) {
    snprintf(out, size, "%s", o->match);
    return 0;
  }
  printf("Type the number shown on the new device: ");
  fflush(stdout);
  return cli_read_line_fd(STDIN_FILENO, out, size);
}

/* Asks the number (accepting a device approval) and the PIN when needed
 * and replies; prints what was sent. */
static int answer(struct owcp_client *c, const struct opts *o,
                  const char *account, const struct owcp_pending *p,
                  const struct owcp_view *v, enum owcp_answer a)
{
  char pin[PIN_MAX] = "";
  char match[16] = "";
  struct owcp_error err = {{0}};
  enum owcp_answer sent = a;
  bool with_match = v->needs_match && a == OWCP_ANSWER_ACCEPT;
  int rc;

  if (with_match && ask_match(o, match, sizeof match) != 0)
    return EXIT_FAIL;
  if (v->needs_pin && cli_pin_get(o->pin_file, "PIN: ", pin, sizeof pin) != 0)
    return EXIT_FAIL;
  rc = owcp_client_reply_match(c, account, p, a, v->needs_pin ? pin : NULL,
                               with_match ? match : NULL, &sent, &err);
  OPENSSL_cleanse(pin, sizeof pin);
  if (rc != 0)
    return lib_status(rc, &err);
  if (sent == OWCP_ANSWER_NOT_ME) {
    printf("Sent Refuse (%s) for %s: reported as fraud; %s may not send to "
           "%s for a while.\n",
           OWCP_CLIENT_NOT_ME, v->transaction, v->from, account);
    return EXIT_OK;
  }
  if (sent == OWCP_ANSWER_REFUSE) {
    printf("Sent Refuse (%s) for %s.\n", OWCP_CLIENT_UNKNOWN_VERIFICATION,
           v->transaction);
    return EXIT_REFUSED;
  }
  printf("Sent %s for %s.\n", owcp_answer_name(sent), v->transaction);
  return EXIT_OK;
}

static int cmd_reply(struct owcp_client *c, const struct opts *o,
                     const char *account, const char *tx, const char *what)
{
  struct owcp_pending_list l = {0};
  struct owcp_error err = {{0}};
  struct owcp_view v;
  enum owcp_answer a;
  int status = EXIT_FAIL;

  if (strcmp(what, "accept") == 0) {
    a = OWCP_ANSWER_ACCEPT;
  } else if (strcmp(what, "reject") == 0) {
    a = OWCP_ANSWER_REJECT;
  } else if (strcmp(what, "not-me") == 0) {
    a = OWCP_ANSWER_NOT_ME;
  } else {
    fprintf(stderr,
            "owcp-client: reply takes accept, reject or not-me, not '%s'\n",
            what);
    return EXIT_USAGE;
  }
  const struct owcp_pending *p = fetch(c, account, tx, &l);
  if (p != NULL) {
    /* The request is shown again right before the PIN is asked: what is
     * signed is this fetch's bytes, which may differ from an earlier
     * `show` if the dispatcher is not honest. */
    if (owcp_client_view(c, account, p, out_mode(), &v, &err) == 0) {
      print_request(&v);
      status = answer(c, o, account, p, &v, a);
      owcp_view_clear(&v);
    } else {
      status = fail(&err, EXIT_FAIL);
    }
  }
  owcp_pending_list_free(&l);
  return status;
}

/* Asks accept/reject/not me/skip/quit on stdin: 'a', 'r', 'n', 's', or 'q'
 * (also EOF). */
static char ask_choice(void)
{
  char line[64];

  for (;;) {
    printf("Accept, Reject or Not me? [a/r/n (not me: you did not start "
           "it), s to skip, q to quit] ");
    fflush(stdout);
    if (cli_read_line_fd(STDIN_FILENO, line, sizeof line) != 0)
      return 'q';
    if (line[0] != '\0' && line[1] == '\0' && strchr("arnsq", line[0]))
      return line[0];
  }
}

/* The answer a watch choice stands for ('a', 'r' or 'n'). */
static enum owcp_answer choice_answer(char choice)
{
  if (choice == 'a')
    return OWCP_ANSWER_ACCEPT;
  return choice == 'n' ? OWCP_ANSWER_NOT_ME : OWCP_ANSWER_REJECT;
}

/* Throws away whatever was typed before the request is on screen: keys
 * pressed while `watch` waited (or a double Enter at the previous prompt)
 * must not answer a request the user has not seen yet. */
static void discard_typeahead(void)
{
  if (isatty(STDIN_FILENO) && tcflush(STDIN_FILENO, TCIFLUSH) != 0)
    fprintf(stderr, "owcp-client: cannot discard earlier input: %s\n",
            strerror(errno));
}

/* Handles one request in watch; returns false when the user quits. A wrong
 * PIN is asked again (each attempt counts towards the lockout). */
static bool watch_one(struct owcp_client *c, const struct opts *o,
                      const char *account, const struct owcp_pending *p)
{
  struct owcp_error err = {{0}};
  struct owcp_view v;
  char choice;
  int status;

  if (owcp_client_view(c, account, p, out_mode(), &v, &err) != 0) {
    print_error(err.msg);
    return true;
  }
  discard_typeahead();
  print_request(&v);
  choice = ask_choice();
  if (choice == 'a' || choice == 'r' || choice == 'n') {
    do {
      status = answer(c, o, account, p, &v, choice_answer(choice));
    } while (status == EXIT_BAD_PIN && o->pin_file == NULL);
  }
  owcp_view_clear(&v);
  return choice != 'q';
}

static bool seen_before(char **seen, size_t n, const char *tx)
{
  for (size_t i = 0; i < n; i++) {
    if (strcmp(seen[i], tx) == 0)
      return true;
  }
  return false;
}

/* Remembers tx so that a skipped request is not asked again. */
static int remember(char ***seen, size_t *n, const char *tx)
{
  char **grown = realloc(*seen, (*n + 1) * sizeof *grown);

  if (grown == NULL)
    return -1;
  *seen = grown;
  if ((grown[*n] = strdup(tx)) == NULL)
    return -1;
  (*n)++;
  return 0;
}

static int cmd_watch(struct owcp_client *c, const struct opts *o,
                     const char *account)
{
  char **seen = NULL;
  size_t nseen = 0;
  bool go = true;
  int status = EXIT_OK;
  int wait_s = o->wait_s > 0 ? o->wait_s : WATCH_WAIT_S;

  printf("Watching %s for confirmation requests (Ctrl-C stops).\n", account);
  fflush(stdout);
  while (go) {
    struct owcp_pending_list l;
    struct owcp_error err = {{0}};
    bool asked = false;

    if (owcp_client_list(c, account, wait_s, &l, &err) != 0) {
      status = fail(&err, EXIT_FAIL);
      break;
    }
    for (size_t i = 0; i < l.count && go; i++) {
      const struct owcp_pending *p = &l.items[i];
      if (seen_before(seen, nseen, p->transaction))
        continue;
      asked = true;
      if (remember(&seen, &nseen, p->transaction) != 0) {
        fprintf(stderr, "owcp-client: out of memory\n");
        go = false;
        status = EXIT_FAIL;
        break;
      }
      go = watch_one(c, o, account, p);
    }
    owcp_pending_list_free(&l);
    /* Everything listed was seen already: CD-List answers at once while it
     * is non-empty, so pause instead of spinning. */
    if (go && !asked)
      sleep(1);
  }
  for (size_t i = 0; i < nseen; i++)
    free(seen[i]);
  free(seen);
  return status;
}

static int cmd_deregister(struct owcp_client *c, const char *account)
{
  struct owcp_error err = {{0}};

  if (owcp_client_deregister(c, account, &err) != 0)
    return fail(&err, EXIT_FAIL);
  printf("Deregistered this device from %s.\n", account);
  return EXIT_OK;
}

/* Runs the command in args[0..n). */
static int run(struct owcp_client *c, const struct opts *o, char **args,
               size_t n)
{
  const char *cmd = args[0];
  char account[320];

  if (strcmp(cmd, "register") == 0) {
    if (n != 2) {
      fputs("usage: owcp-client register ACCOUNT [--code-file F | --code - "
            "| --approval] [--pin | --pin-file F]\n",
            stderr);
      return EXIT_USAGE;
    }
    return cmd_register(c, o, args[1]);
  }
  if (strcmp(cmd, "accounts") == 0)
    return cmd_accounts(c);
  if (strcmp(cmd, "list") != 0 && strcmp(cmd, "show") != 0 &&
      strcmp(cmd, "reply") != 0 && strcmp(cmd, "watch") != 0 &&
      strcmp(cmd, "deregister") != 0) {
    fprintf(stderr, "owcp-client: unknown command '%s' (see --help)\n", cmd);
    return EXIT_USAGE;
  }
  size_t want = strcmp(cmd, "show") == 0    ? 2
                : strcmp(cmd, "reply") == 0 ? 3
                                            : 1;
  if (n != want) {
    fprintf(stderr,
            "owcp-client: wrong number of arguments for '%s' (see "
            "--help)\n",
            cmd);
    return EXIT_USAGE;
  }
  if (pick_account(c, o, account, sizeof account) != 0)
    return EXIT_FAIL;
  if (strcmp(cmd, "list") == 0)
    return cmd_list(c, o, account);
  if (strcmp(cmd, "show") == 0)
    return cmd_show(c, account, args[1]);
  if (strcmp(cmd, "reply") == 0)
    return cmd_reply(c, o, account, args[1], args[2]);
  if (strcmp(cmd, "watch") == 0)
    return cmd_watch(c, o, account);
  return cmd_deregister(c, account);
}

int main(int argc, char **argv)
{
  struct opts o = {0};
  struct owcp_client *c = NULL;
  struct owcp_error err = {{0}};
  int status;

  if (parse_opts(argc, argv, &o) != 0)
    return EXIT_USAGE;
  if (optind >= argc) {
    fputs(usage_text, stderr);
    return EXIT_USAGE;
  }
  /* A dispatcher that goes away mid-request must not kill us silently. */
  signal(SIGPIPE, SIG_IGN);
  if (owcp_client_open(&o.cfg, &c, &err) != 0)
    return fail(&err, EXIT_FAIL);
  status = run(c, &o, &argv[optind], (size_t)(argc - optind));
  owcp_client_close(c);
  return status;
}
