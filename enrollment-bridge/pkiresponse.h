/*
 * pkiresponse.h — the CMC Full PKI Response a WSTEP Issued answer carries
 * under ValueType #PKCS7 (interop notes §2 "Issued response", RFC 5272
 * §3.2.2):
 *   ContentInfo { id-signedData, SignedData v3 {
 *     digestAlgorithms { sha256 },
 *     encapContentInfo { id-cct-PKIResponse (1.3.6.1.5.5.7.12.3),
 *       PKIResponse {
 *         controlSequence { TaggedAttribute { bodyPartID 1,
 *           id-cmc-statusInfo (1.3.6.1.5.5.7.7.1),
 *           { CMCStatusInfo { success (0), bodyList { 1 }, "Issued" } } } },
 *         cmsSequence {}, otherMsgSequence {} } },
 *     certificates { the CA certificate, the issued certificate },
 *     signerInfos { the CA: sha256, contentType, signingTime,
 *       messageDigest } } }
 * AD CS adds a 1.3.6.1.4.1.311.10.10.1 control with the certificate's
 * SHA-1 hash; no client reads it (cepces and PBIS take the certificate
 * from RequestedSecurityToken) and it is left out.
 */
#ifndef OWCP_BRIDGE_PKIRESPONSE_H
#define OWCP_BRIDGE_PKIRESPONSE_H

#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "owcp/util.h"

#define PKIRESPONSE_OID "1.3.6.1.5.5.7.12.3"
#define CMC_STATUS_INFO_OID "1.3.6.1.5.5.7.7.1"

/* The DER ContentInfo above for issued, signed with ca_key. *out
 * (caller frees) and *out_len on success; -1 with err otherwise. */
int pkiresponse_sign(X509 *issued, X509 *ca_cert, EVP_PKEY *ca_key,
                     unsigned char **out, size_t *out_len,
                     struct owcp_error *err);

#endif
