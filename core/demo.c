/*
 * demo.c — owcp-core-demo: walks through the core library once, end to
 * end, on the draft's payment example: validate and render the request,
 * make a client key and certificate from a small CA, sign a receipt for
 * the user's "Reject", verify it, and carry it in a Binary Multipart
 * Container. `scripts/run.sh` runs it until the dispatcher exists.
 */
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <libxml/parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "owcp/ca.h"
#include "owcp/keys.h"
#include "owcp/multipart.h"
#include "owcp/receipt.h"
#include "owcp/render.h"
#include "owcp/request.h"
#include "owcp/util.h"

static const char payment[] =
    "<?xml version=\"1.0\" encoding=\"utf-8\" ?>"
    "<Request xmlns=\"http://schema.comodo.com/2011/owcp/0.1\">"
    "<Header issued=\"2011-06-08T09:30:10Z\" "
    "identifier=\"http://access.example.com/2737827178\" type=\"Payment\">"
    "<From>access@example.com</From><To>alice@example.com</To>"
    "<Verification>PIN</Verification>"
    "<Summary>Do you wish to transfer <Money currency=\"usd\" "
    "amount=\"9825.00\"/> to the account of Barrister Mugu #666-201919 at "
    "Bank of Nigeria? </Summary></Header>"
    "<Body><P> Form of transfer: Wire </P><Table>"
    "<TH><TD> Item </TD><TD> Amount </TD></TH>"
    "<TR><TD> Expeditiary Fee </TD><TD><Money currency=\"usd\" "
    "amount=\"9825.00\"/></TD></TR></Table></Body></Request>";

struct demo {
  struct owcp_xml_validator *xml;
  struct owcp_request *req;
  EVP_PKEY *ca_key, *client_key, *client_pub;
  X509 *ca, *client_cert;
  unsigned char *csr, *receipt, *container;
  size_t csr_len, receipt_len, container_len;
  struct owcp_receipt *verified;
};

static int fail(const char *step, const struct owcp_error *err)
{
  fprintf(stderr, "owcp-core-demo: %s: %s\n", step, err->msg);
  return 1;
}

static int show_request(struct demo *d, struct owcp_error *err)
{
  struct owcp_xml_limits limits;
  owcp_xml_limits_default(&limits);
  d->xml = owcp_xml_validator_new(&limits, err);
  if (d->xml == NULL || owcp_request_parse(d->xml, payment, strlen(payment),
                                           &d->req, err) != OWCP_XML_OK)
    return -1;
  char *text = owcp_render_request(d->req, OWCP_RENDER_PLAIN, err);
  if (text == NULL)
    return -1;
  printf("1. The request validates against schema/owcp.xsd and renders as:"
         "\n\n%s\n",
         text);
  free(text);
  return 0;
}

static int enrol_client(struct demo *d, struct owcp_error *err)
{
  d->ca_key = owcp_key_new(err);
  d->ca = d->ca_key ? owcp_ca_new(d->ca_key, "OWCP demo client CA", err) : NULL;
  d->client_key = d->ca ? owcp_key_new(err) : NULL;
  if (d->client_key == NULL ||
      owcp_csr_new(d->client_key, "demo", &d->csr, &d->csr_len, err) != 0)
    return -1;
  d->client_pub = owcp_csr_verify(d->csr, d->csr_len, err);
  d->client_cert =
      d->client_pub
          ? owcp_ca_issue_client(d->ca, d->ca_key, d->client_pub, "demo-client",
                                 "alice@example.com", 30, err)
          : NULL;
  if (d->client_cert == NULL)
    return -1;
  printf("2. A client key (P-256) made a %zu-octet CSR; the CA issued its "
         "certificate.\n",
         d->csr_len);
  return 0;
}

static int sign_and_verify(struct demo *d, struct owcp_error *err)
{
  char now[OWCP_TIME_LEN];
  owcp_time_format(time(NULL), now);
  char *methods[] = {"PIN"};
  struct owcp_receipt r = {.transaction = "demo-transaction",
                           .account = "alice@example.com",
                           .client = "demo-client",
                           .response = "Reject",
                           .verification = methods,
                           .verification_count = 1,
                           .request = (char *)payment,
                           .request_len = strlen(payment),
                           .signed_at = now};
  if (owcp_receipt_create(&r, d->client_cert, d->client_key, &d->receipt,
                          &d->receipt_len, err) != 0)
    return -1;
  if (owcp_receipt_verify(d->receipt, d->receipt_len, d->ca, d->client_cert,
                          &d->verified, err) != 0 ||
      owcp_receipt_matches(d->verified, "demo-transaction", "alice@example.com",
                           "demo-client", "Reject", payment, strlen(payment),
                           err) != 0)
    return -1;
  printf("3. Alice (wisely) rejects: a %zu-octet CMS receipt, signed with "
         "her device key, verifies against the CA and covers the request "
         "byte for byte.\n",
         d->receipt_len);
  return 0;
}

static int wrap(struct demo *d, struct owcp_error *err)
{
  static const char params[] = "{\"Transaction\":\"demo-transaction\","
                               "\"Response\":\"Reject\"}";
  struct owcp_mp_segment seg[2] = {0};
  seg[0].content_type = (struct owcp_mp_section){
      (const unsigned char *)"application/json", 16, true};
  seg[0].data = (struct owcp_mp_section){(const unsigned char *)params,
                                         strlen(params), true};
  seg[1].content_type = (struct owcp_mp_section){
      (const unsigned char *)"application/pkcs7-mime", 22, true};
  seg[1].data = (struct owcp_mp_section){d->receipt, d->receipt_len, true};
  struct owcp_multipart back;
  if (owcp_multipart_encode(seg, 2, &d->container, &d->container_len, err) ||
      owcp_multipart_decode(d->container, d->container_len, &back, err))
    return -1;
  printf("4. CD-Reply as application/owcp-multipart: %zu octets, %zu "
         "segments decoded back.\n",
         d->container_len, back.count);
  return 0;
}

static void demo_free(struct demo *d)
{
  owcp_receipt_free(d->verified);
  free(d->container);
  free(d->receipt);
  free(d->csr);
  X509_free(d->client_cert);
  X509_free(d->ca);
  EVP_PKEY_free(d->client_pub);
  EVP_PKEY_free(d->client_key);
  EVP_PKEY_free(d->ca_key);
  owcp_request_free(d->req);
  owcp_xml_validator_free(d->xml);
}

int main(void)
{
  struct demo d;
  memset(&d, 0, sizeof d);
  struct owcp_error err = {{0}};
  xmlInitParser();
  int rc = 0;
  if (show_request(&d, &err) != 0)
    rc = fail("request", &err);
  else if (enrol_client(&d, &err) != 0)
    rc = fail("enrolment", &err);
  else if (sign_and_verify(&d, &err) != 0)
    rc = fail("receipt", &err);
  else if (wrap(&d, &err) != 0)
    rc = fail("multipart", &err);
  demo_free(&d);
  xmlCleanupParser();
  return rc;
}
