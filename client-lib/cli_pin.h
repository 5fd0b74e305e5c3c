/*
 * cli_pin.h — owcp-client's PIN input: the PIN that unlocks an account's
 * key, from a file (--pin-file) or the terminal. Internal to the
 * owcp-client program; the caller owns the buffers and cleanses them.
 */
#ifndef OWCP_CLI_PIN_H
#define OWCP_CLI_PIN_H

#include <stddef.h>

#define PIN_MAX 256
#define PIN_MIN 4

/* The PIN from pin_file when not NULL, else asked on the terminal with
 * prompt (echo off). 0, or -1 after a message on stderr. */
int cli_pin_get(const char *pin_file, const char *prompt, char *pin,
                size_t size);

/* A new PIN (at least PIN_MIN characters): from pin_file, or asked twice
 * on the terminal. 0, or -1 after a message on stderr. */
int cli_pin_new(const char *pin_file, char *pin, size_t size);

/* One line from fd into buf (cut to fit) without its line end; 0, or -1
 * at end of input with nothing read or on a read error. */
int cli_read_line_fd(int fd, char *buf, size_t size);

#endif
