/*
 * console_passwd.c — `owcp-admin passwd NAME`: hashes a password for the
 * audit console's admin_users_file with yescrypt (libcrypt's
 * crypt_gensalt_ra / crypt_ra) and prints the line NAME:HASH. On a
 * terminal it asks twice without echo; otherwise it reads one line from
 * standard input. The password itself is never printed or stored.
 */
#include "console.h"

#include <crypt.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#define PASSWORD_MAX 256

/* A name for name:hash lines: 1..63 characters of [A-Za-z0-9._@-]. */
static bool name_ok(const char *name)
{
  size_t n = strlen(name);

  if (n == 0 || n >= CONSOLE_NAME_MAX)
    return false;
  for (size_t i = 0; i < n; i++) {
    char c = name[i];
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
          (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '@' ||
          c == '-'))
      return false;
  }
  return true;
}

/* One line of stdin into buf without its newline; false at EOF or when
 * the line is too long. With prompt, on a terminal, echo is off. */
static bool read_line(const char *prompt, char *buf, size_t size)
{
  struct termios old, quiet;
  bool tty = prompt != NULL && tcgetattr(STDIN_FILENO, &old) == 0;
  bool ok;

  if (tty) {
    fputs(prompt, stderr);
    fflush(stderr);
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
  }
  ok = fgets(buf, (int)size, stdin) != NULL;
  if (tty) {
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
    fputc('\n', stderr);
  }
  if (!ok || strchr(buf, '\n') == NULL) {
    if (ok && strlen(buf) < size - 1)
      return true; /* the last line, without a newline */
    return false;
  }
  buf[strcspn(buf, "\r\n")] = '\0';
  return true;
}

/* The password: twice on a terminal, once otherwise. */
static int get_password(char *pw, size_t size)
{
  char again[PASSWORD_MAX];

  if (!isatty(STDIN_FILENO)) {
    if (!read_line(NULL, pw, size)) {
      fprintf(stderr, "owcp-admin: passwd: no password line on standard "
                      "input (or longer than 255 characters)\n");
      return EXIT_USAGE;
    }
  } else {
    if (!read_line("Password: ", pw, size) ||
        !read_line("Again: ", again, sizeof again)) {
      fprintf(stderr, "owcp-admin: passwd: no password\n");
      return EXIT_USAGE;
    }
    if (strcmp(pw, again) != 0) {
      OPENSSL_cleanse(again, sizeof again);
      fprintf(stderr, "owcp-admin: passwd: the passwords differ\n");
      return EXIT_FAILED;
    }
    OPENSSL_cleanse(again, sizeof again);
  }
  if (pw[0] == '\0') {
    fprintf(stderr, "owcp-admin: passwd: the password is empty\n");
    return EXIT_USAGE;
  }
  return EXIT_OK;
}

int admin_cmd_passwd(int argc, char **argv)
{
  char pw[PASSWORD_MAX];
  char *salt, *hash;
  void *data = NULL;
  int size = 0, rc;

  if (argc != 2)
    return admin_usage_error("passwd: expected one NAME");
  if (!name_ok(argv[1]))
    return admin_usage_error("passwd: NAME must be 1 to %d of the characters "
                             "A-Z a-z 0-9 . _ @ -",
                             CONSOLE_NAME_MAX - 1);
  rc = get_password(pw, sizeof pw);
  if (rc != EXIT_OK) {
    OPENSSL_cleanse(pw, sizeof pw);
    return rc;
  }
  salt = crypt_gensalt_ra("$y$", 0, NULL, 0);
  hash = salt != NULL ? crypt_ra(pw, salt, &data, &size) : NULL;
  OPENSSL_cleanse(pw, sizeof pw);
  if (hash == NULL || hash[0] == '*') {
    fprintf(stderr, "owcp-admin: passwd: libcrypt cannot make a yescrypt "
                    "hash\n");
    rc = EXIT_FAILED;
  } else {
    printf("%s:%s\n", argv[1], hash);
  }
  free(salt);
  free(data);
  return rc;
}
