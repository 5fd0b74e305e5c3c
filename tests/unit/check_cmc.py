#!/usr/bin/python3
"""Independent check of the bridge's RA-signed CMC request (test_cmc.c).

Usage: check_cmc.py CMC.der CSR.der RA.pem
Decodes CMC.der with asn1crypto (not OpenSSL) and checks, per the interop
notes' Checks (OTPCE) item 7: ContentInfo -> SignedData v3, eContentType
id-cct-PKIData, reqSequence[0] = tcr {bodyPartID 1, the CSR byte for byte},
the other PKIData sequences empty, contentType and messageDigest signed
attributes right, the RA certificate present and the RA SignerInfo's
signature valid under its key (python3-cryptography). Exit 0 when all hold;
otherwise a message on stderr and exit 1.
"""
import hashlib
import sys

from asn1crypto import cms, core, csr, pem, x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding


class BodyPartID(core.Integer):
    pass


class TaggedCertificationRequest(core.Sequence):
    _fields = [("bodyPartID", BodyPartID),
               ("certificationRequest", csr.CertificationRequest)]


class TaggedRequest(core.Choice):
    _alternatives = [("tcr", TaggedCertificationRequest, {"implicit": 0}),
                     ("crm", core.Any, {"implicit": 1}),
                     ("orm", core.Any, {"implicit": 2})]


class Anys(core.SequenceOf):
    _child_spec = core.Any


class TaggedRequests(core.SequenceOf):
    _child_spec = TaggedRequest


class PKIData(core.Sequence):
    _fields = [("controlSequence", Anys), ("reqSequence", TaggedRequests),
               ("cmsSequence", Anys), ("otherMsgSequence", Anys)]


def check(cond, what):
    if not cond:
        sys.stderr.write("check_cmc: " + what + "\n")
        sys.exit(1)


def main(cmc_path, csr_path, ra_path):
    blob = open(cmc_path, "rb").read()
    csr_der = open(csr_path, "rb").read()
    ra_pem = open(ra_path, "rb").read()
    _, _, ra_der = pem.unarmor(ra_pem)
    ra = x509.Certificate.load(ra_der)

    ci = cms.ContentInfo.load(blob, strict=True)
    check(ci["content_type"].native == "signed_data", "not SignedData")
    sd = ci["content"]
    check(sd["version"].native == "v3", "SignedData is not v3")
    eci = sd["encap_content_info"]
    check(eci["content_type"].dotted == "1.3.6.1.5.5.7.12.2",
          "eContentType is not id-cct-PKIData")
    econtent = eci["content"].native
    pd = PKIData.load(econtent, strict=True)
    check(len(pd["controlSequence"]) == 0, "controlSequence not empty")
    check(len(pd["cmsSequence"]) == 0, "cmsSequence not empty")
    check(len(pd["otherMsgSequence"]) == 0, "otherMsgSequence not empty")
    check(len(pd["reqSequence"]) == 1, "reqSequence does not hold one entry")
    req = pd["reqSequence"][0]
    check(req.name == "tcr", "reqSequence[0] is not a tcr [0]")
    check(req.chosen["bodyPartID"].native == 1, "bodyPartID is not 1")
    check(req.chosen["certificationRequest"].dump() == csr_der,
          "the CSR inside differs from the CSR sent")

    certs = [c.chosen.dump() for c in sd["certificates"]]
    check(ra_der in certs, "the RA certificate is not in certificates")

    sis = sd["signer_infos"]
    check(len(sis) == 1, "not exactly one SignerInfo")
    si = sis[0]
    sid = si["sid"].chosen
    check(sid["issuer"] == ra.issuer and
          sid["serial_number"].native == ra.serial_number,
          "the SignerInfo does not name the RA certificate")
    check(si["digest_algorithm"]["algorithm"].native == "sha256",
          "digest is not SHA-256")
    attrs = {a["type"].native: a["values"] for a in si["signed_attrs"]}
    check(attrs["content_type"][0].dotted == "1.3.6.1.5.5.7.12.2",
          "contentType attribute is not id-cct-PKIData")
    check(attrs["message_digest"][0].native ==
          hashlib.sha256(econtent).digest(), "messageDigest is wrong")

    signed = bytearray(si["signed_attrs"].dump())
    signed[0] = 0x31  # signed over as a SET OF, not as [0] IMPLICIT
    key = serialization.load_der_public_key(ra.public_key.dump())
    key.verify(si["signature"].native, bytes(signed), padding.PKCS1v15(),
               hashes.SHA256())
    print("check_cmc: ok")


if __name__ == "__main__":
    main(*sys.argv[1:4])
