/* WSTEP SOAP messages in and out; see wstep_soap.h. */
#include "wstep_soap.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/tree.h>
#include <openssl/crypto.h>

#include "owcp/xmlsafe.h"

/* ---- reading -------------------------------------------------------------
 */

static bool is_xml_space(int c)
{
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool named(xmlNodePtr n, const char *ns, const char *name)
{
  return n != NULL && n->type == XML_ELEMENT_NODE && n->ns != NULL &&
         xmlStrcmp(n->ns->href, BAD_CAST ns) == 0 &&
         xmlStrcmp(n->name, BAD_CAST name) == 0;
}

/* The first element child of parent called {ns}name, or NULL. */
static xmlNodePtr child(xmlNodePtr parent, const char *ns, const char *name)
{
  for (xmlNodePtr n = parent ? parent->children : NULL; n != NULL; n = n->next)
    if (named(n, ns, name))
      return n;
  return NULL;
}

/* The element's text with surrounding whitespace trimmed (malloc()ed), or
 * NULL when n is NULL or out of memory (*nomem set). */
static char *text_of(xmlNodePtr n, bool *nomem)
{
  if (n == NULL)
    return NULL;
  xmlChar *c = xmlNodeGetContent(n);
  const char *s = c ? (const char *)c : "";
  while (is_xml_space((unsigned char)*s))
    s++;
  size_t len = strlen(s);
  while (len > 0 && is_xml_space((unsigned char)s[len - 1]))
    len--;
  char *out = strndup(s, len);
  if (out == NULL)
    *nomem = true;
  if (c != NULL)
    OPENSSL_cleanse(c, (size_t)xmlStrlen(c)); /* may be a password */
  xmlFree(c);
  return out;
}

/* xsi:nil="true" (or "1"). */
static bool is_nil(xmlNodePtr n)
{
  xmlChar *v = xmlGetNsProp(n, BAD_CAST "nil", BAD_CAST WSTEP_NS_XSI);
  bool nil = v != NULL && (xmlStrcmp(v, BAD_CAST "true") == 0 ||
                           xmlStrcmp(v, BAD_CAST "1") == 0);
  xmlFree(v);
  return nil;
}

/* An attribute unqualified or in ns (cepces qualifies Password's Type). */
static xmlChar *attr_either(xmlNodePtr n, const char *name, const char *ns)
{
  xmlChar *v = xmlGetNoNsProp(n, BAD_CAST name);
  return v != NULL ? v : xmlGetNsProp(n, BAD_CAST name, BAD_CAST ns);
}

static bool ends_with_ci(const char *s, const char *suffix)
{
  size_t n = strlen(s), k = strlen(suffix);
  return n >= k && strcasecmp(s + n - k, suffix) == 0;
}

static void read_security(xmlNodePtr header, struct wstep_msg *m, bool *nomem)
{
  xmlNodePtr sec = child(header, WSTEP_NS_WSSE, "Security");
  xmlNodePtr ut = child(sec, WSTEP_NS_WSSE, "UsernameToken");
  if (ut == NULL)
    return;
  xmlNodePtr pw = child(ut, WSTEP_NS_WSSE, "Password");
  m->username = text_of(child(ut, WSTEP_NS_WSSE, "Username"), nomem);
  m->password = text_of(pw, nomem);
  xmlChar *type = pw ? attr_either(pw, "Type", WSTEP_NS_WSSE) : NULL;
  m->password_text =
      type == NULL || ends_with_ci((const char *)type, "#PasswordText");
  xmlFree(type);
}

/* Decodes the token's text, skipping every XML whitespace character. */
static void decode_token(const char *text, struct wstep_msg *m, bool *nomem)
{
  size_t len = strlen(text), n = 0;
  char *compact = malloc(len + 1);
  if (compact == NULL) {
    *nomem = true;
    return;
  }
  for (size_t i = 0; i < len; i++)
    if (!is_xml_space((unsigned char)text[i]))
      compact[n++] = text[i];
  compact[n] = '\0';
  struct owcp_error why = {{0}};
  if (n / 4 * 3 > WSTEP_MAX_TOKEN)
    snprintf(m->token_error, sizeof m->token_error,
             "the token is over %d bytes", WSTEP_MAX_TOKEN);
  else if (owcp_base64_decode(compact, n, &m->token, &m->token_len, &why) != 0)
    snprintf(m->token_error, sizeof m->token_error,
             "the token is not base64 (%.120s)", why.msg);
  free(compact);
}

static void read_token(xmlNodePtr rst, struct wstep_msg *m, bool *nomem)
{
  xmlNodePtr bst = child(rst, WSTEP_NS_WSSE, "BinarySecurityToken");
  char *text = text_of(bst, nomem);
  /* cepces sends an empty one with QueryTokenStatus: no token. */
  if (text == NULL || text[0] == '\0') {
    free(text);
    return;
  }
  m->has_token = true;
  xmlChar *vt = xmlGetNoNsProp(bst, BAD_CAST "ValueType");
  xmlChar *enc = xmlGetNoNsProp(bst, BAD_CAST "EncodingType");
  if (vt != NULL && (m->value_type = strdup((const char *)vt)) == NULL)
    *nomem = true;
  if (enc != NULL && !ends_with_ci((const char *)enc, "#base64binary"))
    snprintf(m->token_error, sizeof m->token_error,
             "EncodingType '%.100s' is not base64binary", (const char *)enc);
  else
    decode_token(text, m, nomem);
  xmlFree(vt);
  xmlFree(enc);
  free(text);
}

/* RequestID: a decimal number, or anything else (-1). */
static void read_request_id(xmlNodePtr rst, struct wstep_msg *m, bool *nomem)
{
  xmlNodePtr n = child(rst, WSTEP_NS_ENROLL, "RequestID");
  if (n == NULL || is_nil(n))
    return;
  char *t = text_of(n, nomem);
  if (t == NULL || t[0] == '\0') {
    free(t);
    return;
  }
  m->has_request_id = true;
  m->request_id = -1;
  char *end = NULL;
  errno = 0;
  long long v = strtoll(t, &end, 10);
  if (t[0] >= '0' && t[0] <= '9' && *end == '\0' && errno == 0)
    m->request_id = v;
  free(t);
}

static int read_rst(xmlNodePtr body, struct wstep_msg *m, bool *nomem,
                    struct owcp_error *err)
{
  xmlNodePtr rst = child(body, WSTEP_NS_WST, "RequestSecurityToken");
  if (rst == NULL) {
    owcp_error_set(err, "WSTEP request: the Body holds no "
                        "RequestSecurityToken in the WS-Trust 1.3 namespace");
    return -1;
  }
  xmlNodePtr rt = child(rst, WSTEP_NS_WST, "RequestType");
  if (rt != NULL && !is_nil(rt))
    m->request_type = text_of(rt, nomem);
  m->token_type = text_of(child(rst, WSTEP_NS_WST, "TokenType"), nomem);
  m->has_request_ket = child(rst, WSTEP_NS_WST, "RequestKET") != NULL;
  read_token(rst, m, nomem);
  read_request_id(rst, m, nomem);
  return 0;
}

static int read_envelope(xmlNodePtr root, struct wstep_msg *m, bool *nomem,
                         struct owcp_error *err)
{
  if (!named(root, WSTEP_NS_SOAP, "Envelope")) {
    owcp_error_set(err, "WSTEP request: the root is not a SOAP 1.2 Envelope");
    return -1;
  }
  xmlNodePtr header = child(root, WSTEP_NS_SOAP, "Header");
  xmlNodePtr body = child(root, WSTEP_NS_SOAP, "Body");
  if (body == NULL) {
    owcp_error_set(err, "WSTEP request: the Envelope has no Body");
    return -1;
  }
  m->action = text_of(child(header, WSTEP_NS_WSA, "Action"), nomem);
  m->message_id = text_of(child(header, WSTEP_NS_WSA, "MessageID"), nomem);
  read_security(header, m, nomem);
  return read_rst(body, m, nomem, err);
}

enum owcp_xml_result wstep_msg_parse(const char *body, size_t len,
                                     size_t max_bytes, struct wstep_msg *out,
                                     struct owcp_error *err)
{
  const struct owcp_xml_source src = {.what = "WSTEP request",
                                      .namespace = WSTEP_NS_SOAP,
                                      .max_bytes = max_bytes,
                                      .max_depth = WSTEP_MAX_DEPTH};
  xmlDocPtr doc = NULL;
  bool nomem = false;
  memset(out, 0, sizeof *out);
  enum owcp_xml_result r = owcp_xml_read(&src, body, len, &doc, err);
  if (r != OWCP_XML_OK)
    return r;
  int rc = read_envelope(xmlDocGetRootElement(doc), out, &nomem, err);
  xmlFreeDoc(doc);
  if (rc == 0 && nomem) {
    owcp_error_set(err, "out of memory reading the WSTEP request");
    r = OWCP_XML_INTERNAL;
  } else if (rc != 0) {
    r = OWCP_XML_INVALID;
  }
  if (r != OWCP_XML_OK)
    wstep_msg_clear(out);
  return r;
}

void wstep_msg_clear(struct wstep_msg *m)
{
  if (m->password != NULL)
    OPENSSL_cleanse(m->password, strlen(m->password));
  free(m->action);
  free(m->message_id);
  free(m->username);
  free(m->password);
  free(m->request_type);
  free(m->token_type);
  free(m->token);
  free(m->value_type);
  memset(m, 0, sizeof *m);
}

/* ---- writing -------------------------------------------------------------
 */

/* A response under construction: the document, its Envelope's Body and
 * the namespaces declared on the Envelope. */
struct out {
  xmlDocPtr doc;
  xmlNodePtr body;
  xmlNsPtr s, a;
  bool nomem;
};

static xmlNodePtr add(struct out *o, xmlNodePtr parent, xmlNsPtr ns,
                      const char *name, const char *text)
{
  /* xmlNewTextChild escapes the text (xmlNewChild would read entities). */
  xmlNodePtr n =
      parent ? xmlNewTextChild(parent, ns, BAD_CAST name, BAD_CAST text) : NULL;
  if (n == NULL)
    o->nomem = true;
  return n;
}

/* An element in its own default namespace (xmlns="ns"), as Windows writes
 * WS-Trust, WS-Security and enrollment elements. */
static xmlNodePtr add_own_ns(struct out *o, xmlNodePtr parent, const char *ns,
                             const char *name, const char *text)
{
  xmlNodePtr n = add(o, parent, NULL, name, text);
  xmlNsPtr d = n ? xmlNewNs(n, BAD_CAST ns, NULL) : NULL;
  if (d == NULL)
    o->nomem = true;
  else
    xmlSetNs(n, d);
  return n;
}

static void set_attr(struct out *o, xmlNodePtr n, xmlNsPtr ns, const char *name,
                     const char *value)
{
  if (n == NULL || xmlNewNsProp(n, ns, BAD_CAST name, BAD_CAST value) == NULL)
    o->nomem = true;
}

static void begin(struct out *o, const struct wstep_reply_head *h,
                  const char *action)
{
  memset(o, 0, sizeof *o);
  o->doc = xmlNewDoc(BAD_CAST "1.0");
  xmlNodePtr env =
      o->doc ? xmlNewDocNode(o->doc, NULL, BAD_CAST "Envelope", NULL) : NULL;
  if (env == NULL) {
    o->nomem = true;
    return;
  }
  xmlDocSetRootElement(o->doc, env);
  o->s = xmlNewNs(env, BAD_CAST WSTEP_NS_SOAP, BAD_CAST "s");
  o->a = xmlNewNs(env, BAD_CAST WSTEP_NS_WSA, BAD_CAST "a");
  if (o->s == NULL || o->a == NULL) {
    o->nomem = true;
    return;
  }
  xmlSetNs(env, o->s);
  xmlNodePtr header = add(o, env, o->s, "Header", NULL);
  xmlNodePtr act = add(o, header, o->a, "Action", action);
  set_attr(o, act, o->s, "mustUnderstand", "1");
  if (h->relates_to != NULL)
    add(o, header, o->a, "RelatesTo", h->relates_to);
  o->body = add(o, env, o->s, "Body", NULL);
}

static int finish(struct out *o, char **xml, size_t *len,
                  struct owcp_error *err)
{
  xmlChar *mem = NULL;
  int n = 0;
  *xml = NULL;
  if (!o->nomem)
    xmlDocDumpMemoryEnc(o->doc, &mem, &n, "UTF-8");
  if (mem != NULL && n > 0 && (*xml = malloc((size_t)n + 1)) != NULL) {
    memcpy(*xml, mem, (size_t)n);
    (*xml)[n] = '\0';
    *len = (size_t)n;
  }
  xmlFree(mem);
  xmlFreeDoc(o->doc);
  if (*xml == NULL) {
    owcp_error_set(err, "out of memory writing the WSTEP response");
    return -1;
  }
  return 0;
}

/* A wsse:BinarySecurityToken of value_type holding data in base64. */
static void add_bst(struct out *o, xmlNodePtr parent, const char *value_type,
                    const unsigned char *data, size_t len)
{
  char *b64 = owcp_base64_encode(data, len);
  if (b64 == NULL) {
    o->nomem = true;
    return;
  }
  xmlNodePtr n =
      add_own_ns(o, parent, WSTEP_NS_WSSE, "BinarySecurityToken", b64);
  set_attr(o, n, NULL, "ValueType", value_type);
  set_attr(o, n, NULL, "EncodingType", WSTEP_ENCODING_BASE64);
  free(b64);
}

/* RSTRC/RSTR with TokenType and, unless NULL, the DispositionMessage. */
static xmlNodePtr add_rstr(struct out *o, const char *disposition)
{
  xmlNodePtr c = add_own_ns(o, o->body, WSTEP_NS_WST,
                            "RequestSecurityTokenResponseCollection", NULL);
  xmlNodePtr r =
      add(o, c, c ? c->ns : NULL, "RequestSecurityTokenResponse", NULL);
  add(o, r, r ? r->ns : NULL, "TokenType", WSTEP_TOKEN_X509V3);
  if (disposition != NULL) {
    xmlNodePtr d =
        add_own_ns(o, r, WSTEP_NS_ENROLL, "DispositionMessage", disposition);
    if (d != NULL)
      xmlNodeSetLang(d, BAD_CAST "en-US");
  }
  return r;
}

static void add_request_id(struct out *o, xmlNodePtr parent, int32_t id)
{
  char num[16];
  snprintf(num, sizeof num, "%d", (int)id);
  add_own_ns(o, parent, WSTEP_NS_ENROLL, "RequestID", num);
}

int wstep_reply_issued(const struct wstep_reply_head *h, int32_t request_id,
                       const unsigned char *pkcs7, size_t pkcs7_len,
                       const unsigned char *cert, size_t cert_len, char **xml,
                       size_t *len, struct owcp_error *err)
{
  struct out o;
  begin(&o, h, WSTEP_ACTION_RSTRC);
  xmlNodePtr r = add_rstr(&o, "Issued");
  add_bst(&o, r, WSTEP_VALUE_PKCS7, pkcs7, pkcs7_len);
  xmlNodePtr rst = add(&o, r, r ? r->ns : NULL, "RequestedSecurityToken", NULL);
  add_bst(&o, rst, WSTEP_TOKEN_X509V3, cert, cert_len);
  add_request_id(&o, r, request_id);
  return finish(&o, xml, len, err);
}

int wstep_reply_pending(const struct wstep_reply_head *h, int32_t request_id,
                        const char *uri, char **xml, size_t *len,
                        struct owcp_error *err)
{
  struct out o;
  begin(&o, h, WSTEP_ACTION_RSTRC);
  xmlNodePtr r = add_rstr(&o, "Taken Under Submission");
  xmlNodePtr rst = add(&o, r, r ? r->ns : NULL, "RequestedSecurityToken", NULL);
  xmlNodePtr str =
      add_own_ns(&o, rst, WSTEP_NS_WSSE, "SecurityTokenReference", NULL);
  xmlNodePtr ref = add(&o, str, str ? str->ns : NULL, "Reference", NULL);
  set_attr(&o, ref, NULL, "URI", uri);
  add_request_id(&o, r, request_id);
  return finish(&o, xml, len, err);
}

int wstep_reply_ket(const struct wstep_reply_head *h, const unsigned char *cert,
                    size_t cert_len, char **xml, size_t *len,
                    struct owcp_error *err)
{
  struct out o;
  begin(&o, h, WSTEP_ACTION_KET_FINAL);
  xmlNodePtr r = add_rstr(&o, NULL);
  xmlNodePtr k = add(&o, r, r ? r->ns : NULL, "KeyExchangeToken", NULL);
  add_bst(&o, k, WSTEP_TOKEN_X509V3, cert, cert_len);
  return finish(&o, xml, len, err);
}

/* An enrollment-namespace element that is nil (xsi:nil="true"). */
static void add_nil(struct out *o, xmlNodePtr parent, xmlNsPtr ns, xmlNsPtr xsi,
                    const char *name)
{
  xmlNodePtr n = add(o, parent, ns, name, NULL);
  set_attr(o, n, xsi, "nil", "true");
}

int wstep_reply_fault(const struct wstep_reply_head *h, enum wstep_fault f,
                      int32_t request_id, char **xml, size_t *len,
                      struct owcp_error *err)
{
  const struct wstep_fault_info *fi = wstep_fault_info(f);
  struct out o;
  char num[16];
  begin(&o, h, WSTEP_FAULT_ACTION);
  xmlNodePtr fault = add(&o, o.body, o.s, "Fault", NULL);
  xmlNodePtr code = add(&o, fault, o.s, "Code", NULL);
  add(&o, code, o.s, "Value", fi->sender ? "s:Sender" : "s:Receiver");
  xmlNodePtr reason = add(&o, fault, o.s, "Reason", NULL);
  xmlNodePtr text = add(&o, reason, o.s, "Text", fi->reason);
  if (text != NULL)
    xmlNodeSetLang(text, BAD_CAST "en-US");
  xmlNodePtr detail = add(&o, fault, o.s, "Detail", NULL);
  xmlNodePtr d = add_own_ns(&o, detail, WSTEP_NS_ENROLL,
                            "CertificateEnrollmentWSDetail", NULL);
  xmlNsPtr xsi = d ? xmlNewNs(d, BAD_CAST WSTEP_NS_XSI, BAD_CAST "xsi") : NULL;
  if (xsi == NULL)
    o.nomem = true;
  xmlNsPtr ns = d ? d->ns : NULL;
  add_nil(&o, d, ns, xsi, "BinaryResponse");
  snprintf(num, sizeof num, "%d", (int)fi->hresult);
  add(&o, d, ns, "ErrorCode", num);
  add(&o, d, ns, "InvalidRequest", fi->invalid_request ? "true" : "false");
  if (request_id > 0) {
    snprintf(num, sizeof num, "%d", (int)request_id);
    add(&o, d, ns, "RequestID", num);
  } else {
    add_nil(&o, d, ns, xsi, "RequestID");
  }
  return finish(&o, xml, len, err);
}
