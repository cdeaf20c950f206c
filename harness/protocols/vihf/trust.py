"""Whether a VIHF's signing certificate is trusted and fit for signing.

The signer must be pinned or issued directly by a trusted CA, be within its validity period, and
carry keyUsage nonRepudiation (a VIHF is signed with the CPS signature key). Some IGC-Santé TEST
CPS certificates are not strict DER, so their public key is also found by walking the DER by hand.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from cryptography import x509
from cryptography.exceptions import InvalidSignature as CryptoInvalidSignature


def _der_element(data: bytes, start: int) -> tuple[int, int, int]:
    """(tag, content start, content end) of the DER element at ``start``."""
    tag, length = data[start], data[start + 1]
    position = start + 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(data[position : position + count], "big")
        position += count
    end = position + length
    if end > len(data):
        raise ValueError("truncated DER")
    return tag, position, end


def subject_public_key_info(der: bytes) -> bytes | None:
    """The SubjectPublicKeyInfo of a certificate, found by walking the TBSCertificate fields."""
    try:
        _, certificate_start, _ = _der_element(der, 0)
        _, position, tbs_end = _der_element(der, certificate_start)
        fields: list[tuple[int, int, int]] = []
        while position < tbs_end and len(fields) < 8:
            tag, _, end = _der_element(der, position)
            fields.append((tag, position, end))
            position = end
        if fields and fields[0][0] == 0xA0:  # [0] version
            fields = fields[1:]
        # serial, signature algorithm, issuer, validity, subject, subjectPublicKeyInfo
        _, spki_start, spki_end = fields[5]
        return der[spki_start:spki_end]
    except (IndexError, ValueError):
        return None


def trust_problem(
    certificate: x509.Certificate, trusted: Sequence[x509.Certificate], *, now: dt.datetime | None = None
) -> str | None:
    """Why the signer certificate is not trusted, or None: it must be pinned in ``trusted`` or issued
    directly by a CA certificate there, and be within its validity period at ``now``."""
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    subject = certificate.subject.rfc4514_string()
    if now < certificate.not_valid_before_utc:
        return f"the signing certificate {subject} is not valid before {certificate.not_valid_before_utc.isoformat()}"
    if now > certificate.not_valid_after_utc:
        return f"the signing certificate {subject} expired on {certificate.not_valid_after_utc.isoformat()}"
    if any(candidate == certificate for candidate in trusted):
        return None
    for candidate in trusted:
        if candidate.subject != certificate.issuer or not _is_ca(candidate):
            continue
        if not candidate.not_valid_before_utc <= now <= candidate.not_valid_after_utc:
            continue
        try:
            certificate.verify_directly_issued_by(candidate)
        except (ValueError, TypeError, CryptoInvalidSignature):
            continue
        return None
    return f"the signing certificate {subject} is issued by {certificate.issuer.rfc4514_string()}, which is not trusted"


def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        return bool(certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except (x509.ExtensionNotFound, ValueError):
        return False


def has_non_repudiation(certificate: x509.Certificate) -> bool:
    try:
        return bool(certificate.extensions.get_extension_for_class(x509.KeyUsage).value.content_commitment)
    except (x509.ExtensionNotFound, ValueError):
        return False
