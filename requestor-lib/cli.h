/*
 * cli.h — what the files of the owcp-request program share (not part of
 * the library): its options, exit statuses and result printing
 * (owcp-request.c) and the verify command (cli_verify.c). Like any outside
 * program, they use only the installed libowcp-requestor API.
 */
#ifndef OWCP_REQUEST_CLI_H
#define OWCP_REQUEST_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "owcp/requestor.h"

/* Exit statuses (documented in usage() and README). */
enum {
  EXIT_ACCEPTED = 0,
  EXIT_REJECTED = 1,
  EXIT_TIMEOUT = 2,
  EXIT_REFUSED = 3,
  EXIT_USAGE = 4,
  EXIT_SERVICE = 5,
  EXIT_PENDING = 6
};

/* Largest file read (XML Request, CA bundle, receipt). */
#define FILE_MAX ((size_t)1024 * 1024)

struct opts {
  const char *cmd;
  const char *positional; /* verify FILE */
  const char *from, *token_file, *dispatcher, *dns, *ca_file, *client_ca;
  bool insecure, json;
  const char *to, *summary, *type, *money, *identifier, *completion;
  const char *request_file, *request_out, *receipt_out, *receipt;
  const char *transaction;
  bool pin, wait;
  long timeout, deadline, wait_seconds;
};

/* Prints r (human text, or one JSON object with --json; error when it
 * failed) and returns the exit status it stands for. */
int cli_report(const struct opts *o, const struct owcp_rq_result *r,
               const char *error);

/* cli_report() of a local failure s before any result exists. */
int cli_fail_local(const struct opts *o, enum owcp_rq_status s,
                   const char *error);

/* Reads a file of at most FILE_MAX bytes into *out (NUL-terminated,
 * caller frees). */
int cli_read_text(const char *path, char **out, size_t *len,
                  struct owcp_error *err);

/* owcp-request verify: checks a receipt file offline (or with the client
 * CA fetched from --dispatcher) and prints what was signed. */
int cli_cmd_verify(const struct opts *o);

#endif
