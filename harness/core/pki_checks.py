"""Checks of a client certificate against the test PKI, as a service would make them, with the reason in words."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from cryptography import x509
from cryptography.x509.oid import NameOID

from harness.core.pki import PkiLayout


def verify_client_certificate(
    cert: x509.Certificate,
    layout: PkiLayout,
    *,
    now: dt.datetime | None = None,
    expected_cns: Iterable[str] | None = None,
) -> list[str]:
    """Problems with a client certificate ([] when fine): chain, dates, revocation, CN."""
    now = now or dt.datetime.now(dt.UTC)
    problems = []
    issuers = [x509.load_pem_x509_certificate(p.read_bytes()) for p in layout.intermediate_ca_pems.values()]
    issuer = next((i for i in issuers if i.subject == cert.issuer), None)
    if issuer is None:
        problems.append(f"issuer not trusted: expected one of the harness CAs, received {cert.issuer.rfc4514_string()}")
    else:
        try:
            cert.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, Exception) as exc:  # InvalidSignature has no common base
            problems.append(f"signature does not verify against {issuer.subject.rfc4514_string()}: {exc}")
    if now < cert.not_valid_before_utc:
        problems.append(f"not yet valid: valid from {cert.not_valid_before_utc.isoformat()}, now {now.isoformat()}")
    if now > cert.not_valid_after_utc:
        problems.append(f"expired: valid until {cert.not_valid_after_utc.isoformat()}, now {now.isoformat()}")
    crl = x509.load_pem_x509_crl(layout.crl_pem.read_bytes())
    if crl.issuer == cert.issuer and crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None:
        problems.append(f"revoked: serial {cert.serial_number} is listed in the CRL of {crl.issuer.rfc4514_string()}")
    if expected_cns is not None:
        names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        cn = str(names[0].value) if names else None
        allowed = sorted(expected_cns)
        if cn not in allowed:
            problems.append(f"CN not allowed: expected one of {', '.join(allowed)}, received {cn}")
    return problems
