/*
 * bridge_fixture.h — what the enrollment bridge's tests share: Windows-like
 * PKCS#10 requests made the way the interop notes show (the real `openssl
 * req` command for what it can add, OpenSSL's C API for the SEQUENCE-valued
 * attributes it cannot), and an RA certificate issued by a test CA. Every
 * function asserts (fails the current cmocka test) when it cannot do its
 * job.
 */
#ifndef OWCP_BRIDGE_FIXTURE_H
#define OWCP_BRIDGE_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>

/* The template the tests configure, and its v2 extension value:
 * SEQUENCE { 1.3.6.1.4.1.311.21.8.1.1, major 100, minor 3 }. */
#define FX_TEMPLATE_OID "1.3.6.1.4.1.311.21.8.1.1"
#define FX_TEMPLATE_V2 "DER:3013060b2b06010401823715080101020164020103"
/* Another template: ...21.8.1.2. */
#define FX_OTHER_TEMPLATE_V2 "DER:3013060b2b06010401823715080102020164020103"
#define FX_SUBJECT "/DC=com/DC=example/CN=Users/CN=Alice Example"

/* Writes dir/user.key (RSA 2048), dir/ra-ca.pem and dir/ra.pem + dir/ra.key
 * (the RA certificate, EKU DA OTP RA 1.3.6.1.4.1.311.81.1.1). */
void fx_make_keys(const char *dir);

/* `openssl req -new -key dir/user.key -subj subject -DIGEST` with one
 * -addext per entry of addext (NULL-terminated); returns the DER request
 * (caller frees) and its length. */
unsigned char *fx_csr_cli(const char *dir, const char *subject,
                          const char *digest, const char *const *addext,
                          size_t *len);

/* The Windows-like request of example 4.1's shape: FX_SUBJECT, the v2
 * template, UPN upn, EKU smart-card logon, SHA-1 RSA. */
unsigned char *fx_csr_windows(const char *dir, const char *upn, size_t *len);

/* A request built in C: subject FX_SUBJECT, UPN upn (unless NULL), and, as
 * asked, a 1.3.6.1.4.1.311.13.2.1 attribute CertificateTemplate:template
 * and a 1.3.6.1.4.1.311.21.20 client-info attribute naming the machine
 * account EXAMPLE\LAPTOP-234$ and LogonUI.exe. SHA-256 RSA. */
unsigned char *fx_csr_c(const char *dir, const char *upn, const char *template,
                        bool client_info, size_t *len);

/* Reads dir/name (asserting) into a malloc()ed buffer. */
unsigned char *fx_read(const char *dir, const char *name, size_t *len);

/* Joins dir and name into out (asserting it fits). */
void fx_path(char *out, size_t size, const char *dir, const char *name);

#endif
