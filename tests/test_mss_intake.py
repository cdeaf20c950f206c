"""What the MSSanté SMTP mock answers to a message it cannot read (mock_services.mssante.intake)."""

from __future__ import annotations

import smtplib
import time

import pytest
from zip_forgery import needing_version

from harness.core import pki
from harness.core.recorder import FAULT, REJECTED, ExchangeStore
from harness.protocols import mssmail
from harness.run.sut import xdm_writer
from harness.run.sut.reference_cda import build_n1_document, minimal_pdf
from mock_services.dmp.patients import PatientBase
from mock_services.mssante import Directory, MssSettings, intake, smtp, start_operator

SENDER = "docteur.medecin-test@harnais.mssante.fr"
COLLEAGUE = "claire.hospitaliere-test@harnais.mssante.fr"


def message(package: bytes | None = None) -> bytes:
    patient = PatientBase.load()["OUVERT"].identity()
    cda = build_n1_document(patient, title="Compte rendu")
    return mssmail.DocumentMessage(
        sender=SENDER,
        recipients=[COLLEAGUE],
        subject=mssmail.document_subject("Compte rendu", patient),
        body="Bonjour,\n",
        xdm=package if package is not None else xdm_writer.build_xdm(cda, recipients=[COLLEAGUE], sender=SENDER),
        pdf=minimal_pdf("CR"),
    ).to_bytes()


def unsupported() -> bytes:
    patient = PatientBase.load()["OUVERT"].identity()
    package = xdm_writer.build_xdm(build_n1_document(patient, title="CR"), recipients=[COLLEAGUE], sender=SENDER)
    return message(needing_version(package))


def test_an_unsupported_xdm_is_refused_as_media_not_supported():
    screening = intake.screen(unsupported(), smtp.inspect)
    assert screening.message is None and screening.outcome == REJECTED
    assert screening.reply is not None and screening.reply.startswith("554 5.6.1 ")


def test_the_accept_setting_relays_an_unsupported_xdm_untouched():
    screening = intake.screen(unsupported(), smtp.inspect, "accept")
    assert screening.reply is None and screening.message is not None
    assert screening.message["From"] == SENDER


def test_a_failure_of_the_mock_is_a_temporary_failure():
    def broken(raw: bytes):
        raise RuntimeError("bug")

    screening = intake.screen(message(), broken)
    assert screening.outcome == FAULT and screening.reply == "451 4.3.0 Erreur interne du service: RuntimeError"


def test_a_readable_message_passes_and_a_refused_one_keeps_its_reply():
    assert intake.screen(message(), smtp.inspect).reply is None
    refused = intake.screen(b"From: a@b\r\nSubject: x", smtp.inspect)
    assert refused.reply is not None and refused.reply.startswith("554 5.6.0 ")


@pytest.fixture(scope="module")
def operator(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("mss-intake")
    layout = pki.init_pki(folder / "pki")
    exchanges = ExchangeStore(folder / "exchanges.sqlite3")
    running = start_operator(
        exchanges, pki.server_ssl_context(layout), settings=MssSettings(), directory=Directory.load()
    )
    yield running, layout, exchanges
    time.sleep(0.2)  # ServedSmtp.stop does not wait for the last QUIT's transport to close (a ResourceWarning)
    running.stop()
    exchanges.close()


def test_over_smtp_an_unsupported_xdm_is_recorded_and_answered_554_5_6_1(operator):
    running, layout, exchanges = operator
    host, _, port = running.endpoints()["smtp"].rpartition(":")
    with smtplib.SMTP_SSL(host, int(port), context=pki.client_ssl_context(layout)) as client:
        client.login(SENDER, "segur-test")
        with pytest.raises(smtplib.SMTPDataError) as refused:
            client.sendmail(SENDER, [COLLEAGUE], unsupported())
        assert client.noop()[0] == 250  # the connection is kept
    assert refused.value.smtp_code == 554 and b"5.6.1" in refused.value.smtp_error
    (recorded,) = [e for e in exchanges.exchanges(service="mss") if e.operation == "smtp.data"]
    assert recorded.outcome == REJECTED and recorded.summary["response"].startswith("554 5.6.1")
    assert running.store.messages(COLLEAGUE) == []


def test_the_mss_03_verifier_judges_a_relayed_unsupported_xdm_as_a_zip_format_finding():
    from harness.core.recorder import OK, Exchange
    from harness.run.verify import mss as verify_mss

    raw = unsupported()
    exchange = Exchange("mss", "k", "smtp.data", OK, raw, b"250", 0.0, 0.0, request_meta={"rcpt_tos": [COLLEAGUE]})
    findings = verify_mss.check_xdm(verify_mss.submitted([exchange]))
    assert [(f.rule, f.requirement) for f in findings] == [("xdm.zip-format", "MSS-03")]
    assert findings[0].message_fr and exchange.id in (findings[0].location or "")


def test_multiparts_nested_too_deep_for_the_email_parser_are_refused_not_a_crash():
    nested = b"".join(b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i) for i in range(3000))
    raw = b"From: a@b.fr\r\nDate: Sun, 22 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n" + nested + b"\r\nx\r\n"
    screening = intake.screen(raw, smtp.inspect)
    assert screening.outcome == REJECTED and (screening.reply or "").startswith("554 5.6.0 ")
