"""The MSSanté operator presents a certificate from outside IGC-Santé when a test asks (MSS-11)."""

from __future__ import annotations

import smtplib
import ssl

import pytest
from cryptography import x509

from harness.core import pki
from harness.core.recorder import ExchangeStore
from mock_services.mssante import Directory, start_operator
from mock_services.mssante.smtp import ActiveSession


@pytest.fixture(scope="module")
def operator(layout, tmp_path_factory):
    folder = tmp_path_factory.mktemp("mss-foreign")
    active = ActiveSession()
    exchanges = ExchangeStore(folder / "exchanges.sqlite3")
    running = start_operator(
        exchanges,
        pki.server_ssl_context(layout),
        foreign_ssl_context=pki.server_ssl_context(layout, credential=pki.foreign_server_credential(layout)),
        data_dir=folder,
        directory=Directory.load(),
        active=active,
    )
    yield running, active
    running.stop()
    exchanges.close()


def issuer_of(operator, context: ssl.SSLContext) -> str:
    running, _ = operator
    host, _, port = running.endpoints()["smtp"].rpartition(":")
    with smtplib.SMTP_SSL(host, int(port), context=context, timeout=10) as client:
        der = client.sock.getpeercert(binary_form=True)
    return x509.load_der_x509_certificate(der).issuer.rfc4514_string()


def trusting_anything() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    return context


def test_the_igc_sante_certificate_by_default_and_the_foreign_one_on_demand(operator, layout):
    _, active = operator
    assert "ELEMENTAIRE ORGANISATIONS" in issuer_of(operator, pki.client_ssl_context(layout, None))
    active.foreign_certificate = True
    try:
        assert "HORS IGC-SANTE" in issuer_of(operator, trusting_anything())
        with pytest.raises(ssl.SSLCertVerificationError):
            issuer_of(operator, pki.client_ssl_context(layout, None))
    finally:
        active.foreign_certificate = False
    assert "ELEMENTAIRE ORGANISATIONS" in issuer_of(operator, pki.client_ssl_context(layout, None))


def test_the_foreign_credential_is_made_once_and_reused(layout):
    first, second = pki.foreign_server_credential(layout), pki.foreign_server_credential(layout)
    assert first.certificate() == second.certificate() and "localhost" in first.subject
