"""Signing a VIHF: an enveloped XML signature over the assertion, with the certificate in KeyInfo.

:class:`VihfSigner` loads one key and certificate once, since signing is on the reference
client's hot path, and signs with rsa-sha256 unless the legacy rsa-sha1 of 2019 clients is asked
for. Which algorithms a verifier accepts is :mod:`harness.protocols.vihf.verify`'s business.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from lxml import etree
from signxml import DigestAlgorithm, SignatureConstructionMethod, SignatureMethod, XMLSigner

from harness.core.signing import load_own_private_key
from harness.protocols.vihf.names import DS, EXC_C14N, SAML2, qname

# The 2019-2020 kit samples are rsa-sha1 and products still send it, so SHA-1 is accepted when
# verifying. The signer uses rsa-sha256 unless someone asks for the legacy algorithm.
_ALGORITHMS: dict[str, tuple[SignatureMethod, DigestAlgorithm]] = {
    "rsa-sha1": (SignatureMethod.RSA_SHA1, DigestAlgorithm.SHA1),
    "rsa-sha256": (SignatureMethod.RSA_SHA256, DigestAlgorithm.SHA256),
    "rsa-sha384": (SignatureMethod.RSA_SHA384, DigestAlgorithm.SHA384),
    "rsa-sha512": (SignatureMethod.RSA_SHA512, DigestAlgorithm.SHA512),
    "ecdsa-sha256": (SignatureMethod.ECDSA_SHA256, DigestAlgorithm.SHA256),
    "ecdsa-sha384": (SignatureMethod.ECDSA_SHA384, DigestAlgorithm.SHA384),
    "ecdsa-sha512": (SignatureMethod.ECDSA_SHA512, DigestAlgorithm.SHA512),
}


class _LegacyTolerantSigner(XMLSigner):
    def check_deprecated_methods(self) -> None:
        # signxml refuses SHA-1 by default; rsa-sha1 is only chosen on purpose, to reproduce 2019 clients.
        return None


class VihfSigner:
    """Signs VIHFs with one key and certificate, both loaded once (signing is on the hot path)."""

    def __init__(self, key_pem: bytes, cert_pem: bytes, *, algorithm: str = "rsa-sha256") -> None:
        if algorithm not in _ALGORITHMS:
            raise ValueError(f"unsupported signature algorithm {algorithm!r}: expected one of {', '.join(_ALGORITHMS)}")
        key = load_own_private_key(key_pem)  # the harness PKI's (its callers' data folder)
        if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            raise ValueError(f"unsupported key type {type(key).__name__}: RSA or EC expected")
        # The harness's PEM files hold the leaf first, then its issuer; KeyInfo carries the leaf only, like the samples.
        certificates = x509.load_pem_x509_certificates(cert_pem)
        certificate = certificates[0]
        spki = serialization.PublicFormat.SubjectPublicKeyInfo
        if key.public_key().public_bytes(serialization.Encoding.DER, spki) != certificate.public_key().public_bytes(
            serialization.Encoding.DER, spki
        ):
            raise ValueError("the private key does not match the certificate's public key")
        self._key = key
        self.certificate = certificate
        self.algorithm = algorithm
        self.issuer: str = certificate.subject.rfc4514_string()

    @classmethod
    def from_files(
        cls, key_path: str | os.PathLike[str], cert_path: str | os.PathLike[str], *, algorithm: str = "rsa-sha256"
    ) -> VihfSigner:
        return cls(Path(key_path).read_bytes(), Path(cert_path).read_bytes(), algorithm=algorithm)

    def sign(self, assertion: etree._Element) -> etree._Element:
        """A signed copy: enveloped, exclusive c14n, Reference to ``#ID``, ``ds:Signature`` after Issuer."""
        assertion_id = assertion.get("ID")
        if not assertion_id:
            raise ValueError("the assertion has no ID to reference")
        work = copy.deepcopy(assertion)
        for previous in work.findall(qname(DS, "Signature")):
            work.remove(previous)
        placeholder = etree.Element(qname(DS, "Signature"), Id="placeholder", nsmap={"ds": DS})
        issuer = work.find(qname(SAML2, "Issuer"))
        if issuer is not None:
            issuer.addnext(placeholder)
        else:
            work.insert(0, placeholder)
        method, digest = _ALGORITHMS[self.algorithm]
        signer = _LegacyTolerantSigner(
            method=SignatureConstructionMethod.enveloped,
            signature_algorithm=method,
            digest_algorithm=digest,
            c14n_algorithm=EXC_C14N,
        )
        return signer.sign(work, key=self._key, cert=[self.certificate], reference_uri=f"#{assertion_id}")
