"""CPx mode: the SAML 2.0 assertion a CPS card signs, checked leniently by the mock.

The mock accepts the assertion whatever the outcome (lenient mock) and records what it found;
strict judgement is the verifiers' business. The official example's certificate is an
expired IGC-Santé TEST one, so it verifies cryptographically but not against our trust list.
"""

from __future__ import annotations

import base64
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from lxml import etree
from signxml import XMLVerifier

DS = "http://www.w3.org/2000/09/xmldsig#"
SAML2 = "urn:oasis:names:tc:SAML:2.0:assertion"


def check_assertion(assertion: etree._Element, trust_pems: tuple[bytes, ...] = ()) -> dict[str, Any]:
    """What the assertion says and whether its signature holds: never raises."""
    result: dict[str, Any] = {
        "issuer": assertion.findtext(f"{{{SAML2}}}Issuer"),
        "name_id": assertion.findtext(f"{{{SAML2}}}Subject/{{{SAML2}}}NameID"),
        "attributes": {
            a.get("Name"): [v.text for v in a.findall(f"{{{SAML2}}}AttributeValue")]
            for a in assertion.iter(f"{{{SAML2}}}Attribute")
        },
        "signature_valid": False,
        "trusted": False,
        "problems": [],
    }
    certificate_b64 = assertion.findtext(f".//{{{DS}}}X509Certificate")
    if not certificate_b64:
        result["problems"].append("no signing certificate in KeyInfo")
        return result
    try:
        der = base64.b64decode("".join(certificate_b64.split()))
        certificate = x509.load_der_x509_certificate(der)
        pem = certificate.public_bytes(serialization.Encoding.PEM)
        XMLVerifier().verify(etree.tostring(assertion), x509_cert=pem.decode(), expect_references=1)
        result["signature_valid"] = True
        result["certificate_subject"] = certificate.subject.rfc4514_string()
        result["certificate_not_after"] = certificate.not_valid_after_utc.isoformat()
    except Exception as exc:  # signxml raises several unrelated types; each is a finding here
        result["problems"].append(f"signature does not verify: {type(exc).__name__}: {exc}")
        return result
    trusted = []
    for pem_bytes in trust_pems:
        issuer = x509.load_pem_x509_certificate(pem_bytes)
        try:
            certificate.verify_directly_issued_by(issuer)
            trusted.append(issuer.subject.rfc4514_string())
        except Exception:
            continue
    result["trusted"] = bool(trusted)
    if not trusted:
        result["problems"].append(f"signing certificate issued by {certificate.issuer.rfc4514_string()}, not trusted")
    return result
