/* The WSTEP front's end-to-end helpers; see wstep_itest.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

#include "bridge_fixture.h"
#include "owcp/util.h"
#include "testutil.h"
#include "wstep_itest.h"

#define NS_ENROLL "http://schemas.microsoft.com/windows/pki/2009/01/enrollment"
#define NS_WST "http://docs.oasis-open.org/ws-sx/ws-trust/200512"
#define NS_WSSE                                                                \
  "http://docs.oasis-open.org/wss/2004/01/"                                    \
  "oasis-200401-wss-wssecurity-secext-1.0.xsd"
#define NS_WSU                                                                 \
  "http://docs.oasis-open.org/wss/2004/01/"                                    \
  "oasis-200401-wss-wssecurity-utility-1.0.xsd"
#define X509V3                                                                 \
  "http://docs.oasis-open.org/wss/2004/01/"                                    \
  "oasis-200401-wss-x509-token-profile-1.0#X509v3"
#define PASSWORD_TEXT                                                          \
  "http://docs.oasis-open.org/wss/2004/01/"                                    \
  "oasis-200401-wss-username-token-profile-1.0#PasswordText"

/* ---- requests ------------------------------------------------------------
 */

struct buf {
  char *p;
  size_t len, cap;
};

static void put(struct buf *b, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  assert_true(n >= 0);
  if (b->len + (size_t)n + 1 > b->cap) {
    b->cap = (b->len + (size_t)n + 1) * 2;
    b->p = realloc(b->p, b->cap);
    assert_non_null(b->p);
  }
  va_start(ap, fmt);
  vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

/* base64 of der broken as the shape does: Windows "&#xD;\n" every 64,
 * PBIS "\n" every 64, others one line. */
static void put_base64(struct buf *b, enum wstep_shape shape,
                       const unsigned char *der, size_t len)
{
  char *b64 = owcp_base64_encode(der, len);
  assert_non_null(b64);
  const char *brk = shape == SHAPE_WINDOWS || shape == SHAPE_MDE2 ? "&#xD;\n"
                    : shape == SHAPE_PBIS                         ? "\n"
                                                                  : NULL;
  size_t n = strlen(b64);
  for (size_t i = 0; i < n; i += 64)
    put(b, "%.64s%s", b64 + i, brk && i + 64 < n ? brk : "");
  free(b64);
}

static void put_security(struct buf *b, const struct wstep_req *r)
{
  if (r->user == NULL)
    return;
  put(b,
      "<o:Security s:mustUnderstand=\"1\" xmlns:o=\"" NS_WSSE "\">"
      "<o:UsernameToken u:Id=\"uuid-1\" xmlns:u=\"" NS_WSU "\">"
      "<o:Username>%s</o:Username>",
      r->user);
  if (r->shape == SHAPE_CEPCES)
    put(b,
        "<o:Password o:Type=\"" PASSWORD_TEXT "\">%s</o:Password>"
        "<o:Nonce>MTIzNDU2Nzg5MDEyMzQ1Ng==</o:Nonce>"
        "<u:Created>2026-01-01T00:00:00Z</u:Created>",
        r->password);
  else
    put(b, "<o:Password Type=\"" PASSWORD_TEXT "\">%s</o:Password>",
        r->password);
  put(b, "</o:UsernameToken></o:Security>");
}

static void put_token(struct buf *b, const struct wstep_req *r)
{
  if (r->token == NULL && r->token_text == NULL && !r->empty_token)
    return;
  const char *vt =
      r->shape == SHAPE_CEPCES ? NS_ENROLL "#PKCS10" : NS_WSSE "#PKCS7";
  put(b, "<BinarySecurityToken ValueType=\"%s\"", vt);
  if (r->encoding == NULL)
    put(b, " EncodingType=\"" NS_WSSE "#base64binary\"");
  else if (r->encoding[0] != '\0')
    put(b, " EncodingType=\"%s\"", r->encoding);
  if (r->shape == SHAPE_CEPCES)
    put(b, " a:Id=\"\" xmlns:a=\"" NS_WSU "\"");
  put(b, " xmlns=\"" NS_WSSE "\">");
  if (r->token_text != NULL)
    put(b, "%s", r->token_text);
  else if (r->token != NULL)
    put_base64(b, r->shape, r->token, r->token_len);
  put(b, "</BinarySecurityToken>");
}

static void put_request_id(struct buf *b, const struct wstep_req *r, bool issue)
{
  const char *id = r->request_id;
  if (id == NULL && issue && r->shape != SHAPE_CEPCES)
    id = "nil";
  if (id == NULL)
    return;
  if (strcmp(id, "nil") == 0)
    put(b, "<RequestID xsi:nil=\"true\" xmlns=\"" NS_ENROLL "\"/>");
  else
    put(b, "<RequestID xmlns=\"" NS_ENROLL "\">%s</RequestID>", id);
}

char *wstep_req_xml(const struct wstep_req *r, char msgid[64])
{
  struct buf b = {NULL, 0, 0};
  char *rnd = owcp_random_id();
  assert_non_null(rnd);
  snprintf(msgid, 64, "urn:uuid:%.32s", rnd);
  free(rnd);
  const char *action = r->action ? r->action : NS_ENROLL "/RST/wstep";
  const char *type = r->request_type ? r->request_type : NS_WST "/Issue";
  put(&b,
      "<s:Envelope xmlns:a=\"http://www.w3.org/2005/08/addressing\" "
      "xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Header>"
      "<a:Action s:mustUnderstand=\"1\">\n%s</a:Action>"
      "<a:MessageID>%s</a:MessageID>",
      action, msgid);
  if (r->shape != SHAPE_CEPCES)
    put(&b, "<a:ReplyTo><a:Address>http://www.w3.org/2005/08/addressing/"
            "anonymous</a:Address></a:ReplyTo>");
  put(&b, "<a:To s:mustUnderstand=\"1\">https://enroll.example.com/wstep"
          "</a:To>");
  put_security(&b, r);
  put(&b,
      "</s:Header><s:Body "
      "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
      "xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\">"
      "<RequestSecurityToken xmlns=\"" NS_WST "\">"
      "<TokenType>%s</TokenType>",
      r->token_type ? r->token_type : X509V3);
  if (type[0] != '\0')
    put(&b, "<RequestType>%s</RequestType>", type);
  put_token(&b, r);
  if (r->ket)
    put(&b, "<RequestKET/>");
  if (r->shape == SHAPE_MDE2)
    put(&b, "<ac:AdditionalContext "
            "xmlns=\"http://schemas.xmlsoap.org/ws/2006/12/authorization\" "
            "xmlns:ac=\"http://schemas.xmlsoap.org/ws/2006/12/"
            "authorization\"><ac:ContextItem Name=\"DeviceType\">"
            "<ac:Value>CIMClient_Windows</ac:Value></ac:ContextItem>"
            "<ac:ContextItem Name=\"EnrollmentType\"><ac:Value>Full"
            "</ac:Value></ac:ContextItem></ac:AdditionalContext>");
  put_request_id(&b, r, strcmp(type, NS_WST "/Issue") == 0);
  put(&b, "</RequestSecurityToken></s:Body></s:Envelope>");
  return b.p;
}

/* ---- responses -----------------------------------------------------------
 */

static char *xp(xmlXPathContextPtr ctx, const char *expr)
{
  xmlXPathObjectPtr o = xmlXPathEvalExpression(BAD_CAST expr, ctx);
  char *out = NULL;
  if (o != NULL && o->nodesetval != NULL && o->nodesetval->nodeNr > 0) {
    xmlChar *c = xmlNodeGetContent(o->nodesetval->nodeTab[0]);
    out = strdup(c ? (const char *)c : "");
    xmlFree(c);
  }
  xmlXPathFreeObject(o);
  return out;
}

static unsigned char *xp_b64(xmlXPathContextPtr ctx, const char *expr,
                             size_t *len)
{
  char *t = xp(ctx, expr);
  unsigned char *out = NULL;
  *len = 0;
  if (t != NULL) {
    size_t n = 0;
    for (size_t i = 0; t[i]; i++)
      if (t[i] != '\n' && t[i] != '\r' && t[i] != ' ')
        t[n++] = t[i];
    t[n] = '\0';
    struct owcp_error err = {{0}};
    assert_int_equal(owcp_base64_decode(t, n, &out, len, &err), 0);
  }
  free(t);
  return out;
}

static void read_resp(const struct bridge_http *h, struct wstep_resp *out)
{
  memset(out, 0, sizeof *out);
  out->status = h->status;
  out->body = strdup(h->body);
  xmlDocPtr doc =
      xmlReadMemory(h->body, (int)h->body_len, NULL, NULL, XML_PARSE_NONET);
  if (doc == NULL) {
    itest_fail("not XML (HTTP %ld): %s", h->status, h->body);
  }
  xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
  xmlXPathRegisterNs(ctx, BAD_CAST "s",
                     BAD_CAST "http://www.w3.org/2003/05/soap-envelope");
  xmlXPathRegisterNs(ctx, BAD_CAST "a",
                     BAD_CAST "http://www.w3.org/2005/08/addressing");
  xmlXPathRegisterNs(ctx, BAD_CAST "t", BAD_CAST NS_WST);
  xmlXPathRegisterNs(ctx, BAD_CAST "e", BAD_CAST NS_ENROLL);
  xmlXPathRegisterNs(ctx, BAD_CAST "o", BAD_CAST NS_WSSE);
  out->action = xp(ctx, "/s:Envelope/s:Header/a:Action");
  out->relates_to = xp(ctx, "/s:Envelope/s:Header/a:RelatesTo");
  const char *r = "/s:Envelope/s:Body/t:RequestSecurityTokenResponseCollection"
                  "/t:RequestSecurityTokenResponse";
  char q[512];
#define XQ(suffix) (snprintf(q, sizeof q, "%s%s", r, suffix), q)
  out->disposition = xp(ctx, XQ("/e:DispositionMessage[@xml:lang='en-US']"));
  out->request_id = xp(ctx, XQ("/e:RequestID"));
  out->reference =
      xp(ctx, XQ("/t:RequestedSecurityToken/o:SecurityTokenReference/"
                 "o:Reference/@URI"));
  out->pkcs7 =
      xp_b64(ctx, XQ("/o:BinarySecurityToken[@ValueType='" NS_WSSE "#PKCS7']"),
             &out->pkcs7_len);
  out->cert = xp_b64(ctx,
                     XQ("/t:RequestedSecurityToken/o:BinarySecurityToken"
                        "[@ValueType='" X509V3 "']"),
                     &out->cert_len);
  out->ket = xp_b64(ctx, XQ("/t:KeyExchangeToken/o:BinarySecurityToken"),
                    &out->ket_len);
#undef XQ
  const char *f = "/s:Envelope/s:Body/s:Fault";
#define FQ(suffix) (snprintf(q, sizeof q, "%s%s", f, suffix), q)
  out->code = xp(ctx, FQ("/s:Code/s:Value"));
  out->reason = xp(ctx, FQ("/s:Reason/s:Text[@xml:lang='en-US']"));
  out->error_code =
      xp(ctx, FQ("/s:Detail/e:CertificateEnrollmentWSDetail/e:ErrorCode"));
  out->invalid_request =
      xp(ctx, FQ("/s:Detail/e:CertificateEnrollmentWSDetail/e:InvalidRequest"));
  out->fault_request_id =
      xp(ctx, FQ("/s:Detail/e:CertificateEnrollmentWSDetail/e:RequestID"));
#undef FQ
  xmlXPathFreeContext(ctx);
  xmlFreeDoc(doc);
}

void wstep_resp_free(struct wstep_resp *r)
{
  free(r->body);
  free(r->action);
  free(r->relates_to);
  free(r->disposition);
  free(r->request_id);
  free(r->reference);
  free(r->pkcs7);
  free(r->cert);
  free(r->ket);
  free(r->code);
  free(r->reason);
  free(r->error_code);
  free(r->invalid_request);
  free(r->fault_request_id);
  memset(r, 0, sizeof *r);
}

void wstep_post_raw(struct bridge_world *w, const char *content_type,
                    const char *body, size_t len, struct wstep_resp *out)
{
  struct bridge_http h;
  bridge_itest_post_path(&w->bridge, WSTEP_PATH, content_type, body, len, &h);
  read_resp(&h, out);
  bridge_http_free(&h);
}

void wstep_call(struct bridge_world *w, const char *path,
                const struct wstep_req *r, struct wstep_resp *out)
{
  char msgid[64];
  char *xml = wstep_req_xml(r, msgid);
  struct bridge_http h;
  bridge_itest_post_path(&w->bridge, path ? path : WSTEP_PATH,
                         "application/soap+xml; charset=utf-8", xml,
                         strlen(xml), &h);
  read_resp(&h, out);
  bridge_http_free(&h);
  free(xml);
  if (out->relates_to == NULL || strcmp(out->relates_to, msgid) != 0) {
    itest_fail("RelatesTo is not %s: %s", msgid, out->body);
  }
}

void wstep_expect_fault(const struct wstep_resp *r, long hresult, bool inv,
                        bool sender, const char *file, int line)
{
  char want[32];
  snprintf(want, sizeof want, "%ld", hresult);
  if (r->status != 500 || r->action == NULL ||
      strstr(r->action, "RequestSecurityTokenCertificateEnrollmentWSDetail"
                        "Fault") == NULL ||
      r->error_code == NULL || strcmp(r->error_code, want) != 0 ||
      r->invalid_request == NULL ||
      strcmp(r->invalid_request, inv ? "true" : "false") != 0 ||
      r->code == NULL ||
      strcmp(r->code, sender ? "s:Sender" : "s:Receiver") != 0 ||
      r->reason == NULL) {
    itest_fail("%s:%d: want fault %s inv=%d %s, got HTTP %ld:\n%s", file, line,
               want, inv, sender ? "Sender" : "Receiver", r->status, r->body);
  }
}

/* ---- the world -----------------------------------------------------------
 */

static void path_in(struct bridge_world *w, char *out, size_t size,
                    const char *name)
{
  fx_path(out, size, w->bridge.dir, name);
}

void wstep_world_configure(struct bridge_world *w, const char *confirm)
{
  wstep_world_configure_auth(w, confirm, "auth = username\nauth = anonymous\n");
}

void wstep_world_configure_auth(struct bridge_world *w, const char *confirm,
                                const char *auth)
{
  static char extra[2048];
  char key[512], ca[512], ket[512], ketkey[512];
  path_in(w, key, sizeof key, "wstep-ca.key");
  path_in(w, ca, sizeof ca, "wstep-ca.pem");
  path_in(w, ket, sizeof ket, "ket.pem");
  path_in(w, ketkey, sizeof ketkey, "ket.key");
  struct stat st;
  if (stat(ca, &st) != 0) {
    assert_int_equal(
        testutil_openssl(NULL, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                         "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
                         "-subj", "/CN=Bridge Issuing CA", "-days", "30",
                         "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                         "-out", ca),
        0);
    assert_int_equal(testutil_openssl(NULL, "req", "-x509", "-newkey",
                                      "rsa:2048", "-nodes", "-keyout", ketkey,
                                      "-subj", "/CN=Bridge KET", "-days", "30",
                                      "-out", ket),
                     0);
    assert_int_equal(chmod(key, 0600), 0);
    assert_int_equal(chmod(ketkey, 0600), 0);
  }
  snprintf(extra, sizeof extra,
           "[wstep]\nenabled = yes\npath = " WSTEP_PATH "\n"
           "%s"
           "ca_cert = wstep-ca.pem\nca_key = wstep-ca.key\n"
           "ket_cert = ket.pem\nconfirm = %s\n\n"
           "[wstep.template.User]\noid = " WSTEP_USER_OID "\n"
           "validity_days = 365\n"
           "key_usage = digitalSignature, keyEncipherment\n"
           "extended_key_usage = clientAuth, emailProtection\n"
           "subject_from = upn\n\n"
           "[wstep.template.Mail]\nvalidity_days = 30\n"
           "key_usage = digitalSignature\n"
           "extended_key_usage = emailProtection\n"
           "subject_from = request\n",
           auth, confirm);
  w->bridge.opts.extra = extra;
}

unsigned char *wstep_csr(struct bridge_world *w, const char *const *addext,
                         size_t *len)
{
  return fx_csr_cli(w->bridge.dir, "/CN=Alice Example", "sha256", addext, len);
}

/* The command's standard output (at most 8 KiB) into out. */
static void run_out(const char *const argv[], char *out, size_t size,
                    const char *tmp)
{
  assert_int_equal(testutil_exec(argv, tmp), 0);
  FILE *f = fopen(tmp, "r");
  assert_non_null(f);
  size_t n = fread(out, 1, size - 1, f);
  out[n] = '\0';
  fclose(f);
}

void wstep_check_issued(struct bridge_world *w, const struct wstep_resp *r,
                        const unsigned char *csr, size_t csr_len)
{
  char cert[512], req[512], p7[512], ca[512], tmp[512];

  char a[4096], b[4096];
  path_in(w, cert, sizeof cert, "issued.der");
  path_in(w, req, sizeof req, "issued-csr.der");
  path_in(w, p7, sizeof p7, "issued.p7");
  path_in(w, ca, sizeof ca, "wstep-ca.pem");
  path_in(w, tmp, sizeof tmp, "out.txt");
  if (r->status != 200 || r->disposition == NULL ||
      strcmp(r->disposition, "Issued") != 0 || r->cert == NULL ||
      r->pkcs7 == NULL || r->request_id == NULL) {
    itest_fail("not Issued (HTTP %ld): %s", r->status, r->body);
  }
  char *end = NULL;
  long id = strtol(r->request_id, &end, 10);
  assert_true(*end == '\0' && id > 0);
  testutil_write_file(cert, r->cert, r->cert_len);
  testutil_write_file(req, csr, csr_len);
  testutil_write_file(p7, r->pkcs7, r->pkcs7_len);
  char pem[512];
  path_in(w, pem, sizeof pem, "issued.pem");
  assert_int_equal(testutil_openssl(NULL, "x509", "-inform", "DER", "-in", cert,
                                    "-out", pem),
                   0);
  assert_int_equal(testutil_openssl(NULL, "verify", "-CAfile", ca, pem), 0);
  run_out((const char *const[]){"openssl", "x509", "-inform", "DER", "-in",
                                cert, "-noout", "-pubkey", NULL},
          a, sizeof a, tmp);
  run_out((const char *const[]){"openssl", "req", "-inform", "DER", "-in", req,
                                "-noout", "-pubkey", NULL},
          b, sizeof b, tmp);
  assert_string_equal(a, b);
  assert_int_equal(testutil_openssl(NULL, "cms", "-verify", "-inform", "DER",
                                    "-in", p7, "-binary", "-CAfile", ca,
                                    "-purpose", "any", "-out", tmp),
                   0);
  assert_int_equal(
      testutil_exec((const char *const[]){OWCP_SOURCE_DIR
                                          "/tests/unit/check_pkiresponse.py",
                                          p7, cert, NULL},
                    NULL),
      0);
}

char *wstep_certificates(struct bridge_world *w, const char *account)
{
  char out[512];
  path_in(w, out, sizeof out, "certificates.txt");
  const char *argv[] = {OWCP_BRIDGE_BIN,
                        "--config",
                        w->bridge.conf,
                        "certificates",
                        account ? "--account" : NULL,
                        account,
                        NULL};
  assert_int_equal(testutil_exec(argv, out), 0);
  size_t len = 0;
  char *text = (char *)fx_read(w->bridge.dir, "certificates.txt", &len);
  char *z = realloc(text, len + 1);
  assert_non_null(z);
  z[len] = '\0';
  return z;
}
