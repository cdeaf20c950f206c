"""The signature document of a DMP submission: an XML signature over a manifest of documents.

Shape of the DMP kit's ``TD2.1-SignatureXades.xml`` (IHE DSG): ``ds:Signature`` whose SignedInfo
references a ``ds:Manifest`` (Id ``IHEManifest``) listing each document as ``urn:oid:<uniqueId>``
with its digest, plus XAdES SignedProperties (signing time, signing certificate digest) and the
purpose of signature. signxml does not process manifests, so both sides are written here:
the reference client signs with it, the verifiers check the signature and every manifest digest.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree

from harness.core.signing import load_own_private_key

DS = "http://www.w3.org/2000/09/xmldsig#"
XADES = "http://uri.etsi.org/01903/v1.3.2#"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
MANIFEST_TYPE = "http://www.w3.org/2000/09/xmldsig#Manifest"
PURPOSE_SOURCE = "1.2.840.10065.1.12.1.14"  # purpose of signature in the kit sample (ASTM E1762 "Source")
_DIGESTS = {SHA256: hashlib.sha256, "http://www.w3.org/2000/09/xmldsig#sha1": hashlib.sha1}
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def _c14n(element: etree._Element, algorithm: str = EXC_C14N) -> bytes:
    """Canonical form for the four c14n algorithms of XML-DSig (the kit's sample uses inclusive c14n)."""
    exclusive = algorithm.startswith("http://www.w3.org/2001/10/xml-exc-c14n#")
    if not exclusive:
        # libxml2's inclusive c14n of a subtree in place writes spurious xmlns="" on some
        # descendants; a copy carries the in-scope namespaces and canonicalises correctly.
        element = copy.deepcopy(element)
    return etree.tostring(element, method="c14n", exclusive=exclusive, with_comments=algorithm.endswith("WithComments"))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _ds(parent: etree._Element, name: str, text: str | None = None, **attrs: str) -> etree._Element:
    element = etree.SubElement(parent, f"{{{DS}}}{name}", **attrs)
    if text is not None:
        element.text = text
    return element


class DocumentSigner:
    """Signs submissions with one key and certificate, loaded once."""

    def __init__(self, key_pem: bytes, cert_pem: bytes):
        key = load_own_private_key(key_pem)  # the harness PKI's (its callers' data folder)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("the signature key must be an RSA key")
        self._key = key
        self.certificate = x509.load_pem_x509_certificate(cert_pem)

    @classmethod
    def from_files(cls, key_path: Path, cert_path: Path) -> DocumentSigner:
        return cls(Path(key_path).read_bytes(), Path(cert_path).read_bytes())

    def sign_manifest(self, documents: dict[str, bytes], now: dt.datetime | None = None) -> bytes:
        """The signature document over ``documents`` (uniqueId -> bytes)."""
        signature_id = f"sig-{uuid.uuid4()}"
        signature = etree.Element(f"{{{DS}}}Signature", nsmap={"ds": DS}, Id=signature_id)
        signed_info = _ds(signature, "SignedInfo")
        _ds(signed_info, "CanonicalizationMethod", Algorithm=EXC_C14N)
        _ds(signed_info, "SignatureMethod", Algorithm=RSA_SHA256)
        value = _ds(signature, "SignatureValue")
        key_info = _ds(signature, "KeyInfo")
        der = self.certificate.public_bytes(serialization.Encoding.DER)
        _ds(_ds(key_info, "X509Data"), "X509Certificate", _b64(der))
        manifest = _ds(_ds(signature, "Object"), "Manifest", Id="IHEManifest")
        for unique_id, data in documents.items():
            reference = _ds(manifest, "Reference", URI=f"urn:oid:{unique_id}")
            _ds(reference, "DigestMethod", Algorithm=SHA256)
            _ds(reference, "DigestValue", _b64(hashlib.sha256(data).digest()))
        properties = etree.SubElement(_ds(signature, "Object"), f"{{{DS}}}SignatureProperties")
        etree.SubElement(
            properties, f"{{{DS}}}SignatureProperty", Id="purposeOfSignature", Target=f"#{signature_id}"
        ).text = PURPOSE_SOURCE
        qualifying = etree.SubElement(
            _ds(signature, "Object"),
            f"{{{XADES}}}QualifyingProperties",
            nsmap={"xades": XADES},
            Target=f"#{signature_id}",
        )
        signed_properties = etree.SubElement(qualifying, f"{{{XADES}}}SignedProperties", Id="SignedProperties")
        signature_properties = etree.SubElement(signed_properties, f"{{{XADES}}}SignedSignatureProperties")
        moment = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0)
        etree.SubElement(signature_properties, f"{{{XADES}}}SigningTime").text = moment.isoformat()
        cert = etree.SubElement(
            etree.SubElement(signature_properties, f"{{{XADES}}}SigningCertificate"), f"{{{XADES}}}Cert"
        )
        digest = etree.SubElement(cert, f"{{{XADES}}}CertDigest")
        _ds(digest, "DigestMethod", Algorithm=SHA256)
        _ds(digest, "DigestValue", _b64(hashlib.sha256(der).digest()))
        for target, kind in (
            (manifest, MANIFEST_TYPE),
            (signed_properties, "http://uri.etsi.org/01903#SignedProperties"),
        ):
            reference = _ds(signed_info, "Reference", Type=kind, URI=f"#{target.get('Id')}")
            _ds(reference, "Transforms").append(etree.Element(f"{{{DS}}}Transform", Algorithm=EXC_C14N))
            _ds(reference, "DigestMethod", Algorithm=SHA256)
            _ds(reference, "DigestValue", _b64(hashlib.sha256(_c14n(target)).digest()))
        value.text = _b64(self._key.sign(_c14n(signed_info), padding.PKCS1v15(), hashes.SHA256()))
        return etree.tostring(signature, xml_declaration=True, encoding="UTF-8")


@dataclass
class SignatureCheck:
    signature_valid: bool = False
    signer: x509.Certificate | None = None
    signed_documents: dict[str, str] = field(default_factory=dict)  # urn:oid:uniqueId -> "ok" / problem
    problems: list[str] = field(default_factory=list)


def verify_signature_document(data: bytes, documents: dict[str, bytes]) -> SignatureCheck:
    """Check the signature value, each signed reference, and every manifest digest; never raises."""
    check = SignatureCheck()
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        check.problems.append(f"the signature document is not well-formed XML: {exc}")
        return check
    if root.tag != f"{{{DS}}}Signature":
        check.problems.append(f"the signature document's root is {root.tag}, not ds:Signature")
        return check
    signed_info = root.find(f"{{{DS}}}SignedInfo")
    certificate_text = root.findtext(f".//{{{DS}}}X509Certificate")
    if signed_info is None or not certificate_text:
        check.problems.append("ds:SignedInfo or the signer's X509Certificate is missing")
        return check
    try:
        certificate = x509.load_der_x509_certificate(base64.b64decode("".join(certificate_text.split())))
        public_key = certificate.public_key()
        if not isinstance(public_key, rsa.RSAPublicKey):
            raise ValueError("not an RSA key")
        algorithm = signed_info.find(f"{{{DS}}}SignatureMethod")
        chosen = (
            hashes.SHA1()
            if algorithm is not None and algorithm.get("Algorithm", "").endswith("rsa-sha1")
            else hashes.SHA256()
        )
        signature_value = base64.b64decode("".join((root.findtext(f"{{{DS}}}SignatureValue") or "").split()))
        method = signed_info.find(f"{{{DS}}}CanonicalizationMethod")
        c14n = method.get("Algorithm", EXC_C14N) if method is not None else EXC_C14N
        public_key.verify(signature_value, _c14n(signed_info, c14n), padding.PKCS1v15(), chosen)
        check.signer = certificate
    except (ValueError, InvalidSignature) as exc:
        check.problems.append(f"the signature value does not verify: {type(exc).__name__} {exc}")
        return check
    by_id = {e.get("Id"): e for e in root.iter() if e.get("Id")}
    for reference in signed_info.findall(f"{{{DS}}}Reference"):
        target = by_id.get((reference.get("URI") or "").lstrip("#"))
        if target is None:
            check.problems.append(f"signed reference {reference.get('URI')} points to nothing in the signature")
            continue
        transform = reference.find(f"{{{DS}}}Transforms/{{{DS}}}Transform")
        algorithm = transform.get("Algorithm", "") if transform is not None else ""
        if not _digest_matches(reference, _c14n(target, algorithm if "c14n" in algorithm else EXC_C14N)):
            check.problems.append(f"signed reference {reference.get('URI')}: digest differs (altered after signing)")
    manifest = by_id.get("IHEManifest")
    if manifest is None:
        check.problems.append("no ds:Manifest with Id IHEManifest listing the signed documents")
        return check
    for reference in manifest.findall(f"{{{DS}}}Reference"):
        uri = reference.get("URI") or ""
        unique_id = uri.removeprefix("urn:oid:")
        if unique_id not in documents:
            check.signed_documents[uri] = "not in the submission"
            continue
        check.signed_documents[uri] = "ok" if _digest_matches(reference, documents[unique_id]) else "digest differs"
    check.signature_valid = not check.problems
    return check


def _digest_matches(reference: etree._Element, data: bytes) -> bool:
    method = reference.find(f"{{{DS}}}DigestMethod")
    digest = _DIGESTS.get(method.get("Algorithm", "") if method is not None else "")
    expected = "".join((reference.findtext(f"{{{DS}}}DigestValue") or "").split())
    return digest is not None and _b64(digest(data).digest()) == expected
