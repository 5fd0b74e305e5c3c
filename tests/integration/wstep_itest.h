/*
 * wstep_itest.h — the WSTEP front's end-to-end helpers on top of
 * bridge_itest.h: the issuing CA and KET certificate files, the [wstep]
 * configuration, SOAP requests shaped like each client family of the
 * interop notes (§2: Windows CES, cepces, PBIS, MS-MDE2) and the seed's
 * examples, responses read with libxml2 XPath, and independent checks of
 * what the bridge issued (the openssl command, python3 asn1crypto).
 * Like bridge_itest.h, a helper that cannot do its job fails the test.
 */
#ifndef OWCP_WSTEP_ITEST_H
#define OWCP_WSTEP_ITEST_H

#include <stdbool.h>
#include <stddef.h>

#include "bridge_itest.h"

#define WSTEP_PATH "/wstep"
#define WSTEP_USER_OID "1.3.6.1.4.1.311.21.8.1.2" /* [wstep.template.User] */
#define WSTEP_ALICE "EXAMPLE\\alice"
#define WSTEP_BOB "EXAMPLE\\bob"
#define WSTEP_ALICE_ACCOUNT "alice@example.com"
#define WSTEP_BOB_ACCOUNT "bob@example.com"

/* Client shapes (interop notes §2). */
enum wstep_shape {
  SHAPE_WINDOWS, /* ReplyTo, #PKCS7, base64 lines ending "&#xD;\n", nil
                    RequestID, unqualified PasswordText Type */
  SHAPE_CEPCES,  /* no ReplyTo, #PKCS10, wsse:Type, empty wsu:Id, no
                    RequestID on Issue, Nonce and Created */
  SHAPE_PBIS,    /* #PKCS7 with a bare PKCS#10, "\n" base64, nil RequestID */
  SHAPE_MDE2     /* Windows plus AdditionalContext items */
};

/* One request. NULL strings are left out. */
struct wstep_req {
  enum wstep_shape shape;
  const char *action;         /* NULL: RST/wstep */
  const char *request_type;   /* NULL: Issue; "" leaves RequestType out */
  const char *token_type;     /* NULL: X509v3 */
  const unsigned char *token; /* DER; NULL: no BinarySecurityToken */
  size_t token_len;
  const char *token_text; /* instead of token: this text verbatim */
  bool empty_token;       /* an empty BinarySecurityToken (cepces QTS) */
  const char *encoding;   /* NULL: base64binary; "" leaves it out */
  const char *request_id; /* NULL: per shape; "nil": xsi:nil */
  const char *user;       /* NULL: no Security header */
  const char *password;
  bool ket; /* RequestKET */
};

/* The request document (caller frees) and its MessageID into msgid. */
char *wstep_req_xml(const struct wstep_req *r, char msgid[64]);

/* A response as read. Strings are NULL when absent. */
struct wstep_resp {
  long status;
  char *body;
  char *action, *relates_to;
  char *disposition, *request_id, *reference;
  unsigned char *pkcs7, *cert, *ket; /* decoded tokens */
  size_t pkcs7_len, cert_len, ket_len;
  char *code, *reason, *error_code, *invalid_request, *fault_request_id;
};

void wstep_resp_free(struct wstep_resp *r);

/* POSTs r to path (NULL: WSTEP_PATH) and reads the answer; fails the test
 * unless the body is a SOAP 1.2 envelope. */
void wstep_call(struct bridge_world *w, const char *path,
                const struct wstep_req *r, struct wstep_resp *out);

/* POSTs raw bytes with content_type and reads the answer likewise. */
void wstep_post_raw(struct bridge_world *w, const char *content_type,
                    const char *body, size_t len, struct wstep_resp *out);

/* Fails the test unless out is a fault (HTTP 500, Action
 * …EnrollmentWSDetailFault) with ErrorCode hresult, InvalidRequest inv and
 * Code s:Sender (sender) or s:Receiver. */
void wstep_expect_fault(const struct wstep_resp *r, long hresult, bool inv,
                        bool sender, const char *file, int line);
#define WSTEP_EXPECT_FAULT(r, hr, inv, sender)                                 \
  wstep_expect_fault(&(r), (hr), (inv), (sender), __FILE__, __LINE__)

/* Writes dir/wstep-ca.{pem,key} (an EC P-256 CA), dir/ket.{pem,key} (a
 * self-signed RSA certificate) and the [wstep] sections (confirm as
 * given) into w->bridge.opts.extra (a static
 * buffer: one world per program). */
void wstep_world_configure(struct bridge_world *w, const char *confirm);

/* The same with the [wstep] auth lines given (wstep_world_configure:
 * username and anonymous). */
void wstep_world_configure_auth(struct bridge_world *w, const char *confirm,
                                const char *auth);

/* A CSR with dir/user.key (RSA 2048), subject CN=Alice Example, and
 * addext lines (NULL-terminated); DER, caller frees. */
unsigned char *wstep_csr(struct bridge_world *w, const char *const *addext,
                         size_t *len);

/* Checks an Issued response independently: `openssl verify` under the CA;
 * the certificate's key is the CSR's (`openssl x509 -pubkey` vs `openssl
 * req -pubkey`); the PKIResponse with python3 asn1crypto
 * (tests/unit/check_pkiresponse.py) and `openssl cms -verify`. */
void wstep_check_issued(struct bridge_world *w, const struct wstep_resp *r,
                        const unsigned char *csr, size_t csr_len);

/* The standard output of `owcp-bridge --config CONF certificates
 * [--account account]` (which must exit 0); caller frees. */
char *wstep_certificates(struct bridge_world *w, const char *account);

#endif
