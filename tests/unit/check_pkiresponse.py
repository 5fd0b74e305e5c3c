#!/usr/bin/python3
"""Independent check of the WSTEP front's CMC PKIResponse (test_bridge_wstep).

Usage: check_pkiresponse.py PKCS7.der CERT.der
Decodes PKCS7.der with asn1crypto (not OpenSSL) and checks, per the interop
notes' Checks (WSTEP) item 5: ContentInfo -> SignedData, eContentType
id-cct-PKIResponse (1.3.6.1.5.5.7.12.3), a controlSequence holding an
id-cmc-statusInfo (1.3.6.1.5.5.7.7.1) TaggedAttribute whose CMCStatusInfo
says success (0) for bodyList {1}, empty cmsSequence and otherMsgSequence,
and the issued certificate (CERT.der, byte for byte) among the
certificates. Exit 0 when all hold; otherwise a message and exit 1.
"""
import sys

from asn1crypto import cms, core


class BodyPartIDs(core.SequenceOf):
    _child_spec = core.Integer


class CMCStatusInfo(core.Sequence):
    _fields = [("cMCStatus", core.Integer), ("bodyList", BodyPartIDs),
               ("statusString", core.UTF8String, {"optional": True}),
               ("otherInfo", core.Any, {"optional": True})]


class AttrValues(core.SetOf):
    _child_spec = core.Any


class TaggedAttribute(core.Sequence):
    _fields = [("bodyPartID", core.Integer), ("attrType", core.ObjectIdentifier),
               ("attrValues", AttrValues)]


class Controls(core.SequenceOf):
    _child_spec = TaggedAttribute


class Anys(core.SequenceOf):
    _child_spec = core.Any


class PKIResponse(core.Sequence):
    _fields = [("controlSequence", Controls), ("cmsSequence", Anys),
               ("otherMsgSequence", Anys)]


def check(cond, what):
    if not cond:
        sys.stderr.write("check_pkiresponse: " + what + "\n")
        sys.exit(1)


def main(p7_path, cert_path):
    ci = cms.ContentInfo.load(open(p7_path, "rb").read())
    cert = open(cert_path, "rb").read()
    check(ci["content_type"].native == "signed_data", "not SignedData")
    sd = ci["content"]
    eci = sd["encap_content_info"]
    check(eci["content_type"].dotted == "1.3.6.1.5.5.7.12.3",
          "eContentType is " + eci["content_type"].dotted)
    resp = PKIResponse.load(eci["content"].native)
    controls = list(resp["controlSequence"])
    status = [c for c in controls
              if c["attrType"].dotted == "1.3.6.1.5.5.7.7.1"]
    check(len(status) == 1, "no single statusInfo control")
    check(status[0]["bodyPartID"].native == 1, "statusInfo bodyPartID not 1")
    vals = list(status[0]["attrValues"])
    check(len(vals) == 1, "statusInfo has not one value")
    si = CMCStatusInfo.load(vals[0].dump())
    check(si["cMCStatus"].native == 0, "cMCStatus is not success")
    check(si["bodyList"].native == [1], "bodyList is not {1}")
    check(len(resp["cmsSequence"]) == 0 and
          len(resp["otherMsgSequence"]) == 0, "extra sequences")
    certs = [c.chosen.dump() for c in sd["certificates"]]
    check(cert in certs, "the issued certificate is not in the SignedData")
    check(len(sd["signer_infos"]) == 1, "not one signer")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.stderr.write(__doc__)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2]))
