/*
 * cli_pin.h — owcp-client's secret input: the PIN that unlocks an account's
 * key, from a file (--pin-file) or the terminal, and the enrollment code
 * (--code-file FILE, or standard input with "-", since a code in argv is
 * visible to every local user). Internal to the owcp-client program; the
 * caller owns the buffers and cleanses them.
 */
#ifndef OWCP_CLI_PIN_H
#define OWCP_CLI_PIN_H

#include <stddef.h>

#define PIN_MAX 256
#define PIN_MIN 4
#define CODE_MAX 256

/* The PIN from pin_file when not NULL, else asked on the terminal with
 * prompt (echo off). 0, or -1 after a message on stderr. */
int cli_pin_get(const char *pin_file, const char *prompt, char *pin,
                size_t size);

/* A new PIN (at least PIN_MIN characters): from pin_file, or asked twice
 * on the terminal. 0, or -1 after a message on stderr. */
int cli_pin_new(const char *pin_file, char *pin, size_t size);

/* The enrollment code into out: from code_file (a private file, first
 * line), from standard input when code or code_file is "-" (asked without
 * echo when it is a terminal), else code itself. Exactly one of code and
 * code_file may be set. 0, or -1 after a message on stderr. */
int cli_code_get(const char *code, const char *code_file, char *out,
                 size_t size);

/* One line from fd into buf (cut to fit) without its line end; 0, or -1
 * at end of input with nothing read or on a read error. */
int cli_read_line_fd(int fd, char *buf, size_t size);

#endif
