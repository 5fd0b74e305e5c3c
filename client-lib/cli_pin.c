/*
 * cli_pin.c — owcp-client's secret input (cli_pin.h): the PIN and the
 * enrollment code, from a file (one line, the file checked to be private),
 * from standard input (the code) or from the terminal with echo off, and a
 * new PIN asked twice. Secrets are cleansed from memory after use.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "cli_pin.h"

/* ---- PIN input ---------------------------------------------------------- */

static void chomp(char *s)
{
  size_t n = strlen(s);

  while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
    s[--n] = '\0';
}

/* Reads the first line of fd into buf (the newline and a CR before it
 * dropped) with read(2), so no stdio buffer keeps a copy. A line that does
 * not fit is refused rather than silently cut. what/path name the source
 * in messages ("PIN file 'x'"). */
static int read_secret_line(int fd, const char *what, const char *path,
                            char *buf, size_t size)
{
  size_t n = 0;

  for (;;) {
    char ch;
    ssize_t r = read(fd, &ch, 1);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      fprintf(stderr, "owcp-client: cannot read %s '%s': %s\n", what, path,
              strerror(errno));
      OPENSSL_cleanse(buf, size);
      return -1;
    }
    if (r == 0 || ch == '\n')
      break;
    if (n + 1 >= size) {
      fprintf(stderr,
              "owcp-client: the line in %s '%s' is longer than %zu "
              "characters\n",
              what, path, size - 1);
      OPENSSL_cleanse(buf, size);
      return -1;
    }
    buf[n++] = ch;
  }
  buf[n] = '\0';
  chomp(buf);
  return 0;
}

/* The first line of a file only its owner can read. The file is opened
 * first (never through a symbolic link) and the open descriptor is
 * checked, so the file cannot be swapped between check and read. */
static int secret_from_file(const char *what, const char *path, char *buf,
                            size_t size)
{
  struct stat st;
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
  int rc;

  if (fd < 0) {
    fprintf(stderr, "owcp-client: cannot open %s '%s': %s\n", what, path,
            errno == ELOOP ? "it is a symbolic link" : strerror(errno));
    return -1;
  }
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
      (st.st_mode & 077) != 0) {
    fprintf(stderr,
            "owcp-client: %s '%s' must be a regular file of yours that "
            "group and others cannot access (chmod 600 %s)\n",
            what, path, path);
    close(fd);
    return -1;
  }
  rc = read_secret_line(fd, what, path, buf, size);
  close(fd);
  if (rc == 0 && buf[0] == '\0') {
    fprintf(stderr, "owcp-client: %s '%s' is empty\n", what, path);
    rc = -1;
  }
  return rc;
}

/* Reads one line from fd byte by byte so that nothing after the newline is
 * consumed (the terminal may already hold the next answer). */
int cli_read_line_fd(int fd, char *buf, size_t size)
{
  size_t n = 0;

  for (;;) {
    char ch;
    ssize_t r = read(fd, &ch, 1);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return n > 0 ? 0 : -1;
    if (ch == '\n')
      break;
    if (n + 1 < size)
      buf[n++] = ch;
  }
  buf[n] = '\0';
  chomp(buf);
  return 0;
}

/* Reads a secret typed on a raw terminal: Enter ends it, Backspace edits,
 * Ctrl-C or Ctrl-D cancel. Bytes typed after Enter stay unread. */
static int read_secret(int fd, char *buf, size_t size)
{
  size_t n = 0;
  bool too_long = false;

  for (;;) {
    unsigned char ch;
    ssize_t r = read(fd, &ch, 1);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0 || ch == 0x03 || ch == 0x04) {
      OPENSSL_cleanse(buf, size);
      return -1;
    }
    if (ch == '\n' || ch == '\r')
      break;
    if (ch == 0x7f || ch == 0x08) {
      if (n > 0)
        buf[--n] = '\0';
    } else if (n + 1 < size) {
      buf[n++] = (char)ch;
    } else {
      too_long = true; /* refused at Enter: a cut PIN is a different PIN */
    }
  }
  buf[n] = '\0';
  if (too_long) {
    OPENSSL_cleanse(buf, size);
    return -2;
  }
  return 0;
}

/* Asks for a PIN on the terminal (stdin when it is one, else /dev/tty)
 * with echo off. */
static int pin_from_tty(const char *prompt, char *pin, size_t size)
{
  int fd = isatty(STDIN_FILENO) ? STDIN_FILENO : -1;
  bool opened = false;
  struct termios old, quiet;
  int rc;

  if (fd < 0) {
    fd = open("/dev/tty", O_RDWR | O_CLOEXEC);
    opened = fd >= 0;
  }
  if (fd < 0 || tcgetattr(fd, &old) != 0) {
    fprintf(stderr, "owcp-client: no terminal to ask the PIN on; use "
                    "--pin-file\n");
    if (opened)
      close(fd);
    return -1;
  }
  /* Byte-at-a-time without echo or signals: Ctrl-C then cancels through
   * read_secret, so the terminal is always restored (no signal handler,
   * no global state). */
  quiet = old;
  quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ICANON | ISIG);
  quiet.c_cc[VMIN] = 1;
  quiet.c_cc[VTIME] = 0;
  /* Echo goes off before the prompt appears, so nothing typed in answer
   * to the prompt can be echoed. */
  /* TCSAFLUSH also drops anything typed before the prompt, so a PIN
   * cannot be consumed by a prompt the user did not see. */
  if (tcsetattr(fd, TCSAFLUSH, &quiet) != 0) {
    fprintf(stderr, "\nowcp-client: cannot turn off echo: %s\n",
            strerror(errno));
    if (opened)
      close(fd);
    return -1;
  }
  fputs(prompt, stderr);
  fflush(stderr);
  rc = read_secret(fd, pin, size);
  if (tcsetattr(fd, TCSADRAIN, &old) != 0)
    fprintf(stderr, "\nowcp-client: cannot restore the terminal: %s",
            strerror(errno));
  fputc('\n', stderr);
  if (opened)
    close(fd);
  if (rc == -2)
    fprintf(stderr, "owcp-client: the PIN is longer than %zu characters\n",
            size - 1);
  else if (rc != 0)
    fprintf(stderr, "owcp-client: no PIN entered (cancelled)\n");
  return rc != 0 ? -1 : 0;
}

int cli_pin_get(const char *pin_file, const char *prompt, char *pin,
                size_t size)
{
  return pin_file != NULL ? secret_from_file("PIN file", pin_file, pin, size)
                          : pin_from_tty(prompt, pin, size);
}

/* A new PIN: from the file, or asked twice on the terminal. */
int cli_pin_new(const char *pin_file, char *pin, size_t size)
{
  char again[PIN_MAX];
  int rc = cli_pin_get(pin_file, "New PIN: ", pin, size);

  if (rc == 0 && strlen(pin) < PIN_MIN) {
    fprintf(stderr, "owcp-client: the PIN must have at least %d characters\n",
            PIN_MIN);
    rc = -1;
  }
  if (rc == 0 && pin_file == NULL) {
    rc = pin_from_tty("Repeat PIN: ", again, sizeof again);
    if (rc == 0 && strcmp(pin, again) != 0) {
      fprintf(stderr, "owcp-client: the PINs differ\n");
      rc = -1;
    }
    OPENSSL_cleanse(again, sizeof again);
  }
  return rc;
}

/* The code from standard input: asked without echo on a terminal, else
 * the first line of what is piped in. */
static int code_from_stdin(char *code, size_t size)
{
  int rc;

  if (isatty(STDIN_FILENO))
    return pin_from_tty("Enrollment code: ", code, size);
  rc = read_secret_line(STDIN_FILENO, "standard input", "-", code, size);
  if (rc == 0 && code[0] == '\0') {
    fprintf(stderr, "owcp-client: no enrollment code on standard input\n");
    rc = -1;
  }
  return rc;
}

int cli_code_get(const char *code, const char *code_file, char *out,
                 size_t size)
{
  if (code != NULL && code_file != NULL) {
    fprintf(stderr, "owcp-client: --code and --code-file exclude each other\n");
    return -1;
  }
  if ((code != NULL && strcmp(code, "-") == 0) ||
      (code_file != NULL && strcmp(code_file, "-") == 0))
    return code_from_stdin(out, size);
  if (code_file != NULL)
    return secret_from_file("code file", code_file, out, size);
  if (code == NULL || code[0] == '\0' || strlen(code) >= size) {
    fprintf(stderr, "owcp-client: --code must be 1..%zu characters\n",
            size - 1);
    return -1;
  }
  memcpy(out, code, strlen(code) + 1);
  return 0;
}
