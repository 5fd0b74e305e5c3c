/*
 * mras_xml.c — MS-AVEDGEA request checks and response writing
 * (mras_xml.h) on libxml2 (core's hardened reader; the tree API for
 * output) and libosip2's URI parser for the to/from SIP URI check.
 */
#include "mras_xml.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/tree.h>
#include <osipparser2/osip_port.h>
#include <osipparser2/osip_uri.h>

#include "owcp/xmlsafe.h"

#define XSI_NS "http://www.w3.org/2001/XMLSchema-instance"
#define ID_MAX 64
#define URI_MAX 10000
#define IDENTITY_MAX 64000
#define VERSION_MAX 5
#define DEPTH_MAX 4

static const char *const phrases[] = {"OK",
                                      "Request Malformed",
                                      "Request Too Large",
                                      "Not Supported",
                                      "Server Busy",
                                      "Time Out",
                                      "Forbidden",
                                      "Internal Server Error",
                                      "Other Failure",
                                      "Version Mismatch"};
static const unsigned statuses[] = {200, 400, 413, 501, 486,
                                    408, 403, 500, 500, 501};

const char *mras_reason_phrase(enum mras_reason r)
{
  return phrases[r];
}

unsigned mras_reason_sip_status(enum mras_reason r)
{
  return statuses[r];
}

void mras_request_free(struct mras_request *r)
{
  for (size_t i = 0; i < r->count; i++) {
    free(r->items[i].id);
    free(r->items[i].identity);
  }
  free(r->items);
  free(r->request_id);
  free(r->version);
  free(r->to);
  free(r->from);
  memset(r, 0, sizeof *r);
}

/* ---- reading ---------------------------------------------------------------
 */

static bool in_ns(const xmlNode *n, const char *name)
{
  return n->type == XML_ELEMENT_NODE && n->ns != NULL &&
         strcmp((const char *)n->ns->href, MRAS_NS) == 0 &&
         strcmp((const char *)n->name, name) == 0;
}

/* Unqualified attribute name of e (NULL when absent). Caller frees. */
static char *attr(const xmlNode *e, const char *name)
{
  return (char *)xmlGetNoNsProp(e, (const xmlChar *)name);
}

/* Only the allowed unqualified attributes, and xsi:* ones. */
static bool attrs_only(const xmlNode *e, const char *const *allowed)
{
  for (const xmlAttr *a = e->properties; a != NULL; a = a->next) {
    if (a->ns != NULL) {
      if (strcmp((const char *)a->ns->href, XSI_NS) != 0)
        return false;
      continue;
    }
    bool ok = false;
    for (size_t i = 0; allowed[i] != NULL && !ok; i++)
      ok = strcmp((const char *)a->name, allowed[i]) == 0;
    if (!ok)
      return false;
  }
  return true;
}

/* The next element sibling from n on; false when non-blank text or
 * anything but comments lies in between. */
static bool next_element(const xmlNode *n, const xmlNode **out)
{
  for (; n != NULL; n = n->next) {
    if (n->type == XML_ELEMENT_NODE) {
      *out = n;
      return true;
    }
    if (n->type == XML_TEXT_NODE) {
      if (!xmlIsBlankNode(n))
        return false;
    } else if (n->type != XML_COMMENT_NODE && n->type != XML_PI_NODE) {
      return false;
    }
  }
  *out = NULL;
  return true;
}

/* Text content of a simple element (no element children). */
static char *simple_text(const xmlNode *e)
{
  for (const xmlNode *c = e->children; c != NULL; c = c->next)
    if (c->type == XML_ELEMENT_NODE)
      return NULL;
  if (e->properties != NULL)
    return NULL;
  return (char *)xmlNodeGetContent(e);
}

static char *trimmed(char *s)
{
  if (s == NULL)
    return NULL;
  size_t a = strspn(s, " \t\r\n"), n = strlen(s);
  while (n > a && strchr(" \t\r\n", s[n - 1]))
    n--;
  memmove(s, s + a, n - a);
  s[n - a] = '\0';
  return s;
}

/* UTF-8 characters in s. */
static size_t chars(const char *s)
{
  size_t n = 0;
  for (; *s; s++)
    if (((unsigned char)*s & 0xc0) != 0x80)
      n++;
  return n;
}

static bool len_ok(const char *s, size_t lo, size_t hi)
{
  size_t n = s ? chars(s) : 0;
  return s != NULL && n >= lo && n <= hi;
}

static bool version_syntax(const char *v)
{
  size_t a = strspn(v, "0123456789");
  if (a == 0 || v[a] != '.')
    return false;
  size_t b = strspn(v + a + 1, "0123456789");
  return b > 0 && v[a + 1 + b] == '\0' && strlen(v) <= VERSION_MAX;
}

static bool route_value(const char *v, bool *directip)
{
  if (strcmp(v, "directip") == 0)
    *directip = true;
  else if (strcmp(v, "loadbalanced") != 0)
    return false;
  return true;
}

/* The optional element named name at *cur: its trimmed text or NULL. */
static bool optional(const xmlNode **cur, const char *name, char **text,
                     bool *bad)
{
  *text = NULL;
  if (*cur == NULL || !in_ns(*cur, name))
    return false;
  *text = trimmed(simple_text(*cur));
  if (*text == NULL)
    *bad = true;
  if (!next_element((*cur)->next, cur))
    *bad = true;
  return true;
}

static bool positive_integer(const char *s, long *out)
{
  if (s[0] == '+')
    s++;
  size_t n = strspn(s, "0123456789");
  if (n == 0 || s[n] != '\0')
    return false;
  while (*s == '0' && s[1] != '\0')
    s++;
  /* A huge request is clamped to the maximum later: keep it large. */
  *out = strlen(s) > 9 ? 999999999L : strtol(s, NULL, 10);
  return *out > 0;
}

static bool one_credentials(const xmlNode *e, struct mras_cred_request *c,
                            bool route_directip)
{
  static const char *const allowed[] = {"credentialsRequestID", NULL};
  const xmlNode *cur = NULL;
  char *t = NULL;
  bool bad = false;
  c->location = MRAS_LOC_NONE;
  c->directip = route_directip;
  c->id = attr(e, "credentialsRequestID");
  if (!attrs_only(e, allowed) || !len_ok(c->id, 1, ID_MAX) ||
      !next_element(e->children, &cur) || cur == NULL ||
      !in_ns(cur, "identity"))
    return false;
  c->identity = simple_text(cur);
  if (!len_ok(c->identity, 1, IDENTITY_MAX) || !next_element(cur->next, &cur))
    return false;
  if (optional(&cur, "location", &t, &bad) && !bad) {
    if (strcmp(t, "internet") == 0)
      c->location = MRAS_LOC_INTERNET;
    else if (strcmp(t, "intranet") == 0)
      c->location = MRAS_LOC_INTRANET;
    else
      bad = true;
  }
  /* t is NULLed after each use: a step skipped after an error must not
   * free the previous step's text again. */
  xmlFree(t);
  t = NULL;
  if (!bad && optional(&cur, "duration", &t, &bad) && !bad &&
      !positive_integer(t, &c->duration))
    bad = true;
  xmlFree(t);
  t = NULL;
  if (!bad && optional(&cur, "route", &t, &bad) && !bad &&
      !route_value(t, &c->directip))
    bad = true;
  xmlFree(t);
  return !bad && cur == NULL;
}

static bool sip_uri(const char *s)
{
  osip_uri_t *u = NULL;
  if (osip_uri_init(&u) != 0)
    return false;
  bool ok = osip_uri_parse(u, s) == 0 && u->scheme != NULL &&
            (osip_strcasecmp(u->scheme, "sip") == 0 ||
             osip_strcasecmp(u->scheme, "sips") == 0) &&
            u->host != NULL && u->host[0] != '\0';
  osip_uri_free(u);
  return ok;
}

/* Step 1: the root's attributes. */
static bool root_ok(const xmlNode *root, struct mras_request *r, bool *directip)
{
  static const char *const allowed[] = {"requestID", "version", "to",
                                        "from",      "route",   NULL};
  if (!in_ns(root, "request") || !attrs_only(root, allowed))
    return false;
  r->request_id = attr(root, "requestID");
  r->version = attr(root, "version");
  r->to = attr(root, "to");
  r->from = attr(root, "from");
  char *route = attr(root, "route");
  bool ok = len_ok(r->request_id, 1, ID_MAX) && r->version != NULL &&
            version_syntax(r->version) && len_ok(r->to, 1, URI_MAX) &&
            len_ok(r->from, 1, URI_MAX) &&
            (route == NULL || route_value(route, directip));
  xmlFree(route);
  return ok;
}

/* Step 1: every child. */
static bool children_ok(const xmlNode *root, struct mras_request *r,
                        bool directip)
{
  size_t n = 0;
  for (const xmlNode *c = root->children; c != NULL; c = c->next)
    if (c->type == XML_ELEMENT_NODE)
      n++;
  if (n == 0)
    return false;
  r->items = calloc(n, sizeof *r->items);
  if (r->items == NULL)
    return false;
  const xmlNode *cur = NULL;
  if (!next_element(root->children, &cur))
    return false;
  while (cur != NULL) {
    if (!in_ns(cur, "credentialsRequest"))
      return false;
    if (!one_credentials(cur, &r->items[r->count++], directip))
      return false;
    if (!next_element(cur->next, &cur))
      return false;
  }
  return true;
}

/* Seed §3.1.5.2.2 for Version Mismatch: the highest supported version
 * below the client's, else the server's. */
static void mismatch_version(const char *v, char *out, size_t size)
{
  static const char *const supported[] = {"3.0", "2.0", "1.0"};
  long major = strtol(v, NULL, 10);
  long minor = strtol(strchr(v, '.') + 1, NULL, 10);
  for (size_t i = 0; i < 3; i++) {
    long sm = supported[i][0] - '0';
    if (sm < major || (sm == major && minor > 0)) {
      snprintf(out, size, "%s", supported[i]);
      return;
    }
  }
  snprintf(out, size, "%s", MRAS_SERVER_VERSION);
}

static enum mras_reason malformed(struct mras_request *r,
                                  struct owcp_error *err, const char *why)
{
  mras_request_free(r);
  snprintf(r->response_version, sizeof r->response_version, "%s",
           MRAS_SERVER_VERSION);
  owcp_error_set(err, "MRAS request malformed: %s", why);
  return MRAS_MALFORMED;
}

enum mras_reason mras_request_parse(const char *xml, size_t len,
                                    struct mras_request *out,
                                    struct owcp_error *err)
{
  static const struct owcp_xml_source src = {.what = "MRAS request",
                                             .namespace = MRAS_NS,
                                             .max_bytes = MRAS_XML_MAX_BYTES,
                                             .max_depth = DEPTH_MAX};
  xmlDocPtr doc = NULL;
  bool directip = false;
  memset(out, 0, sizeof *out);
  enum owcp_xml_result x = owcp_xml_read(&src, xml, len, &doc, err);
  if (x == OWCP_XML_TOO_LARGE) {
    snprintf(out->response_version, sizeof out->response_version, "%s",
             MRAS_SERVER_VERSION);
    return MRAS_TOO_LARGE;
  }
  if (x != OWCP_XML_OK) {
    /* err holds the reader's sentence. */
    snprintf(out->response_version, sizeof out->response_version, "%s",
             MRAS_SERVER_VERSION);
    return MRAS_MALFORMED;
  }
  xmlNode *root = xmlDocGetRootElement(doc);
  bool ok = root_ok(root, out, &directip) && children_ok(root, out, directip);
  xmlFreeDoc(doc);
  if (!ok)
    return malformed(out, err, "not a request of the mrasp schema");
  snprintf(out->response_version, sizeof out->response_version, "%s",
           out->version);
  if (out->count > MRAS_MAX_CREDENTIALS) {
    owcp_error_set(err, "MRAS request with %zu credentialsRequest (at most %d)",
                   out->count, MRAS_MAX_CREDENTIALS);
    return MRAS_TOO_LARGE;
  }
  if (strcmp(out->version, "1.0") != 0 && strcmp(out->version, "2.0") != 0 &&
      strcmp(out->version, "3.0") != 0) {
    mismatch_version(out->version, out->response_version,
                     sizeof out->response_version);
    owcp_error_set(err, "MRAS request version %s not served", out->version);
    return MRAS_VERSION_MISMATCH;
  }
  if (!sip_uri(out->to) || !sip_uri(out->from))
    return malformed(out, err, "to or from is not a SIP URI");
  return MRAS_OK;
}

/* ---- writing ---------------------------------------------------------------
 */

static xmlNodePtr child(xmlNodePtr parent, xmlNsPtr ns, const char *name,
                        const char *text)
{
  return xmlNewTextChild(parent, ns, (const xmlChar *)name,
                         (const xmlChar *)text);
}

static void child_long(xmlNodePtr parent, xmlNsPtr ns, const char *name, long v)
{
  char buf[24];
  snprintf(buf, sizeof buf, "%ld", v);
  child(parent, ns, name, buf);
}

static void credentials(xmlNodePtr root, xmlNsPtr ns,
                        const struct mras_cred_response *c)
{
  xmlNodePtr cr = xmlNewChild(root, ns, BAD_CAST "credentialsResponse", NULL);
  xmlNewProp(cr, BAD_CAST "credentialsRequestID", BAD_CAST c->id);
  xmlNodePtr cred = xmlNewChild(cr, ns, BAD_CAST "credentials", NULL);
  child(cred, ns, "username", c->username);
  child(cred, ns, "password", c->password);
  child_long(cred, ns, "duration", c->duration);
  if (c->realm != NULL)
    child(cred, ns, "realm", c->realm);
  xmlNodePtr list = xmlNewChild(cr, ns, BAD_CAST "mediaRelayList", NULL);
  xmlNodePtr relay = xmlNewChild(list, ns, BAD_CAST "mediaRelay", NULL);
  child(relay, ns, "location",
        c->location == MRAS_LOC_INTRANET ? "intranet" : "internet");
  child(relay, ns, c->direct ? "directIPAddress" : "hostName", c->host);
  child_long(relay, ns, "udpPort", (long)c->udp_port);
  child_long(relay, ns, "tcpPort", (long)c->tcp_port);
}

int mras_response_build(const struct mras_request *req, enum mras_reason r,
                        const struct mras_cred_response *items, size_t n,
                        char **xml, size_t *len, struct owcp_error *err)
{
  xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
  xmlNodePtr root = doc ? xmlNewNode(NULL, BAD_CAST "response") : NULL;
  xmlChar *buf = NULL;
  int size = 0;
  if (root == NULL) {
    xmlFreeDoc(doc);
    owcp_error_set(err, "out of memory building the MRAS response");
    return -1;
  }
  xmlDocSetRootElement(doc, root);
  xmlNsPtr ns = xmlNewNs(root, BAD_CAST MRAS_NS, NULL);
  xmlSetNs(root, ns);
  bool echo = req != NULL && r != MRAS_MALFORMED;
  const char *version = req != NULL && req->response_version[0]
                            ? req->response_version
                            : MRAS_SERVER_VERSION;
  if (echo)
    xmlNewProp(root, BAD_CAST "requestID", BAD_CAST req->request_id);
  xmlNewProp(root, BAD_CAST "version", BAD_CAST version);
  if (!(echo && strcmp(req->version, "1.0") == 0))
    xmlNewProp(root, BAD_CAST "serverVersion", BAD_CAST MRAS_SERVER_VERSION);
  if (echo) {
    xmlNewProp(root, BAD_CAST "to", BAD_CAST req->to);
    xmlNewProp(root, BAD_CAST "from", BAD_CAST req->from);
  }
  xmlNewProp(root, BAD_CAST "reasonPhrase", BAD_CAST mras_reason_phrase(r));
  for (size_t i = 0; r == MRAS_OK && i < n; i++)
    credentials(root, ns, &items[i]);
  xmlDocDumpMemoryEnc(doc, &buf, &size, "UTF-8");
  xmlFreeDoc(doc);
  if (buf == NULL || size <= 0) {
    xmlFree(buf);
    owcp_error_set(err, "cannot serialise the MRAS response");
    return -1;
  }
  *xml = malloc((size_t)size + 1);
  if (*xml != NULL) {
    memcpy(*xml, buf, (size_t)size);
    (*xml)[size] = '\0';
    *len = (size_t)size;
  }
  xmlFree(buf);
  if (*xml == NULL) {
    owcp_error_set(err, "out of memory");
    return -1;
  }
  return 0;
}
