/*
 * cmc.h — the RA-signed CMC Full PKI Request the OTPCE front returns as
 * SignedCertRequest: the client's PKCS#10, unchanged, wrapped by the
 * enrollment agent (RA) so that the CA's "one authorised signature with
 * application policy DA OTP RA" issuance rule is met.
 *
 * Layout (RFC 5272 §3.2, RFC 5652; decisions and reasons in
 * docs/enrollment-bridge.md, section OTPCE):
 *   ContentInfo { id-signedData, SignedData v3 {
 *     digestAlgorithms { sha256 },
 *     encapContentInfo { id-cct-PKIData (1.3.6.1.5.5.7.12.2), PKIData {
 *       controlSequence {},                        -- no controls
 *       reqSequence { tcr [0] { bodyPartID 1, the CSR byte for byte } },
 *       cmsSequence {}, otherMsgSequence {} } },
 *     certificates { the RA certificate },
 *     signerInfos { one SignerInfo: the RA (issuer and serial), sha256,
 *       signed attributes contentType, signingTime, messageDigest } } }
 * The single RA signer verifies with `openssl cms -verify`; Windows's own
 * dummy second signer (id-alg-noSignature) is not emitted.
 */
#ifndef OWCP_BRIDGE_CMC_H
#define OWCP_BRIDGE_CMC_H

#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "owcp/util.h"

/* The eContentType of a CMC Full PKI Request (id-cct-PKIData). */
#define CMC_OID_PKIDATA "1.3.6.1.5.5.7.12.2"

/* The bodyPartID the client's request carries inside the PKIData. */
#define CMC_CSR_BODY_PART_ID 1

/* The DER PKIData described above around csr[0..csr_len), which must be
 * one complete DER SEQUENCE (it is copied, never re-encoded). On success
 * *out (caller frees) and *out_len are set. */
int cmc_pkidata_encode(const unsigned char *csr, size_t csr_len,
                       unsigned char **out, size_t *out_len,
                       struct owcp_error *err);

/* The DER ContentInfo described above, signed with ra_key (which must be
 * the key of ra_cert). On success *out (caller frees) and *out_len are
 * set; on failure err says why (the caller answers OtherError). */
int cmc_ra_sign(const unsigned char *csr, size_t csr_len, X509 *ra_cert,
                EVP_PKEY *ra_key, unsigned char **out, size_t *out_len,
                struct owcp_error *err);

#endif
