"""Certificates naming a CRL distribution point, and the CRLs published there (SC.MSS/CONF.22).

The test PKI is made before any port is bound, so its certificates name no distribution point.
Once the harness serves one (``mock_services.crl``), :func:`issue_crl_scenario` issues, with the
"organisations" CA key kept in the PKI folder, two operator server certificates naming its URL (one
in good standing, one revoked) and the CRLs the point can publish: the current one, which lists the
revoked certificate, and an expired one (its nextUpdate has passed) that lists nothing, so that a
product taking whatever CRL it is served would accept the revoked certificate.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from harness.core.pki import (
    ORGANISATIONS_KEY,
    Credential,
    PkiLayout,
    _Issuer,
    _key,
    _leaf,
    _name,
    _save_credential,
    loopback_names,
)
from harness.core.signing import load_own_private_key

CURRENT_CRL_DAYS = 30  # nextUpdate of the current CRL: beyond any run
EXPIRED_CRL_AGE = dt.timedelta(days=2)  # the expired CRL's nextUpdate is this long ago


@dataclass(frozen=True)
class CrlScenario:
    """What the CRL distribution point and the operator present in the SC.MSS/CONF.22 scenario."""

    distribution_point: str
    good: Credential  # operator server certificate, not revoked, naming the distribution point
    revoked: Credential  # the same, listed in the current CRL
    current_crl: bytes  # DER, valid for CURRENT_CRL_DAYS
    expired_crl: bytes  # DER, correctly signed, nextUpdate passed, revoking nothing

    @property
    def revoked_serial(self) -> int:
        return self.revoked.certificate().serial_number


def _organisations(layout: PkiLayout) -> _Issuer:
    key = load_own_private_key((layout.directory / "ca" / ORGANISATIONS_KEY).read_bytes())
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{layout.directory / 'ca' / ORGANISATIONS_KEY} is not an RSA key")
    cert = x509.load_pem_x509_certificate(layout.intermediate_ca_pems["organisations"].read_bytes())
    return _Issuer(cert.subject, key, cert)


def _crl(issuer: _Issuer, last: dt.datetime, next_: dt.datetime, revoked: list[int]) -> bytes:
    builder = x509.CertificateRevocationListBuilder().issuer_name(issuer.name).last_update(last).next_update(next_)
    for serial in revoked:
        entry = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(last).build()
        builder = builder.add_revoked_certificate(entry)
    return builder.sign(issuer.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def issue_crl_scenario(
    layout: PkiLayout, distribution_point: str, directory: Path, *, now: dt.datetime | None = None
) -> CrlScenario:
    """Issue the scenario's certificates (PEM, key, p12 in ``directory``) and CRLs for ``distribution_point``."""
    now = now or dt.datetime.now(dt.UTC)
    orgs = _organisations(layout)
    assert orgs.cert is not None
    point = x509.CRLDistributionPoints(
        [x509.DistributionPoint([x509.UniformResourceIdentifier(distribution_point)], None, None, None)]
    )
    key = _key()  # one key for both: they differ by serial and revocation, not by key
    issued = {}
    for name in ("good", "revoked"):
        cert = _leaf(
            _name("localhost", "SERVICES SIMULES"),
            orgs,
            key,
            now - dt.timedelta(days=1),
            30,
            "server",
            loopback_names(),
            extra=[point],
        )
        issued[name] = _save_credential(directory, f"operator-crl-{name}", cert, key, [orgs.cert])
    revoked_serial = issued["revoked"].certificate().serial_number
    return CrlScenario(
        distribution_point=distribution_point,
        good=issued["good"],
        revoked=issued["revoked"],
        current_crl=_crl(
            orgs, now - dt.timedelta(hours=1), now + dt.timedelta(days=CURRENT_CRL_DAYS), [revoked_serial]
        ),
        expired_crl=_crl(orgs, now - EXPIRED_CRL_AGE - dt.timedelta(days=7), now - EXPIRED_CRL_AGE, []),
    )
