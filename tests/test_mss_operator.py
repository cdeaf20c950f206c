"""The MSSanté operator mock with clients this project did not write: smtplib, imaplib, curl."""

from __future__ import annotations

import base64
import imaplib
import io
import shutil
import smtplib
import subprocess
import time
import zipfile
from pathlib import Path

import pytest

from harness.core import pki
from harness.core.recorder import ExchangeStore
from harness.protocols import mssmail
from harness.run.sut import xdm_writer
from harness.run.sut.reference_cda import build_n1_document, minimal_pdf
from mock_services.dmp.patients import PatientBase
from mock_services.mssante import Directory, MssSettings, start_operator
from mock_services.psc.tokens import KeyRing

SENDER = "docteur.medecin-test@harnais.mssante.fr"  # PER mailbox of IdNatPs 899900000011
COLLEAGUE = "claire.hospitaliere-test@harnais.mssante.fr"  # answers with a positive MDN
KO = "integration-ko@harnais.mssante.fr"  # answers with a 902 MDN
APP = "dpi-reference@harnais.mssante.fr"  # ORG certificate CN DMP-ORG
PATIENT = PatientBase.load()["OUVERT"].identity()


@pytest.fixture(scope="module")
def operator(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("mss")
    layout = pki.init_pki(folder / "pki")
    keyring = KeyRing()
    exchanges = ExchangeStore(folder / "exchanges.sqlite3")
    running = start_operator(
        exchanges,
        pki.server_ssl_context(layout),
        data_dir=folder,
        settings=MssSettings(max_message_bytes=2 * 1024 * 1024),
        directory=Directory.load(),
        bearer=keyring.verify,
    )
    yield {"op": running, "layout": layout, "keyring": keyring, "exchanges": exchanges}
    running.stop()
    exchanges.close()


def token(operator, owner: str = "899900000011", lifetime: int = 300) -> str:
    now = int(time.time())
    return str(operator["keyring"].sign({"preferred_username": owner, "iat": now, "exp": now + lifetime}))


def address(operator, name: str) -> tuple[str, int]:
    host, _, port = operator["op"].endpoints()[name].rpartition(":")
    return host, int(port)


def context(operator, client: str | None = None):
    return pki.client_ssl_context(operator["layout"], client)


def document(to: list[str], sender: str = SENDER, patient: dict = PATIENT, package: bytes | None = None) -> bytes:
    cda = build_n1_document(patient, title="Compte rendu")
    return mssmail.DocumentMessage(
        sender=sender,
        recipients=to,
        subject=mssmail.document_subject("Compte rendu", patient),
        body="Bonjour,\n",
        xdm=package if package is not None else xdm_writer.build_xdm(cda, recipients=to, sender=sender),
        pdf=minimal_pdf("CR"),
        ack_to=sender,
    ).to_bytes()


def xoauth2(client: smtplib.SMTP, user: str, bearer: str) -> None:
    blob = base64.b64encode(f"user={user}\x01auth=Bearer {bearer}\x01\x01".encode()).decode()
    code, answer = client.docmd("AUTH", f"XOAUTH2 {blob}")
    if code == 334:  # Google's XOAUTH2 failure: an error challenge the client answers with an empty line
        code, answer = client.docmd("")
    if code != 235:
        raise smtplib.SMTPAuthenticationError(code, answer)


def inbox(operator, mailbox: str) -> list:
    return operator["op"].store.messages(mailbox)


# -- submission and authentication -----------------------------------------------------------


def test_smtplib_submits_over_implicit_tls_with_a_psc_token(operator):
    before = len(inbox(operator, COLLEAGUE))
    with smtplib.SMTP_SSL(*address(operator, "smtp"), context=context(operator)) as client:
        client.ehlo()
        xoauth2(client, SENDER, token(operator))
        client.sendmail(SENDER, [COLLEAGUE], document([COLLEAGUE]))
    assert len(inbox(operator, COLLEAGUE)) == before + 1


def test_starttls_listener_refuses_auth_before_tls_and_accepts_it_after(operator):
    with smtplib.SMTP(*address(operator, "smtp_starttls")) as client:
        client.ehlo()
        code, answer = client.docmd("AUTH", "PLAIN " + base64.b64encode(f"\0{SENDER}\0segur-test".encode()).decode())
        assert code == 530 and b"STARTTLS" in answer  # nothing but STARTTLS before TLS (RFC 3207)
        client.starttls(context=context(operator))
        client.ehlo()
        client.login(SENDER, "segur-test")
        client.sendmail(SENDER, [COLLEAGUE], document([COLLEAGUE]))


def test_an_org_certificate_authenticates_its_applicative_mailbox(operator):
    with smtplib.SMTP_SSL(*address(operator, "smtp"), context=context(operator, "dmp-org")) as client:
        client.sendmail(APP, [COLLEAGUE], document([COLLEAGUE], sender=APP))


@pytest.mark.parametrize(
    ("bearer_owner", "lifetime"),
    [("899900000029", 300), ("899900000011", -10)],  # another professional's token; an expired token
)
def test_a_token_that_does_not_own_the_mailbox_is_refused(operator, bearer_owner, lifetime):
    with smtplib.SMTP_SSL(*address(operator, "smtp"), context=context(operator)) as client:
        client.ehlo()
        with pytest.raises(smtplib.SMTPAuthenticationError):
            xoauth2(client, SENDER, token(operator, bearer_owner, lifetime))


def test_unauthenticated_mail_and_foreign_senders_are_refused(operator):
    with smtplib.SMTP_SSL(*address(operator, "smtp"), context=context(operator)) as client:
        client.ehlo()
        assert client.mail(SENDER)[0] == 530
    with smtplib.SMTP_SSL(*address(operator, "smtp"), context=context(operator)) as client:
        client.login(SENDER, "segur-test")
        assert client.mail(COLLEAGUE)[0] == 553


@pytest.mark.parametrize(
    "recipient",
    ["nobody@harnais.mssante.fr", "123456789012345@patient.mssante.fr", "199019912399972@patient.mssante.fr"],
)
def test_unknown_mailboxes_and_unknown_or_invalid_ins_are_refused(operator, recipient):
    with smtplib.SMTP_SSL(*address(operator, "smtp"), context=context(operator)) as client:
        client.login(SENDER, "segur-test")
        client.mail(SENDER)
        assert client.rcpt(recipient)[0] == 550


def test_a_patient_mailbox_exists_for_an_open_dmp(operator):
    mailbox = f"{PATIENT['ins']}@patient.mssante.fr"
    with smtplib.SMTP_SSL(*address(operator, "smtp"), context=context(operator)) as client:
        client.login(SENDER, "segur-test")
        client.sendmail(SENDER, [mailbox], document([mailbox]))
    assert inbox(operator, mailbox)


# -- acknowledgements -------------------------------------------------------------------------


def test_auto_acknowledging_mailboxes_answer_with_mdns(operator):
    with smtplib.SMTP_SSL(*address(operator, "smtp"), context=context(operator)) as client:
        client.login(SENDER, "segur-test")
        ok = document([COLLEAGUE])
        ko = document([KO])
        client.sendmail(SENDER, [COLLEAGUE], ok)
        client.sendmail(SENDER, [KO], ko)
    reports = {d.original_message_id: d for d in (mssmail.parse_mdn(m.raw) for m in inbox(operator, SENDER)) if d}
    positive = reports[str(mssmail.parse(ok)["Message-ID"])]
    negative = reports[str(mssmail.parse(ko)["Message-ID"])]
    assert positive.disposition.endswith("processed") and positive.error is None
    assert negative.error == "902^Identifiant patient inconnu"
    assert negative.subject.startswith("[KO Intégration système !][902] XDM/1.0/DDM+")


def test_return_receipt_to_gets_a_delivery_status_notification(operator):
    raw = document([COLLEAGUE]).replace(b"MIME-Version:", f"Return-Receipt-To: {SENDER}\r\nMIME-Version:".encode(), 1)
    with smtplib.SMTP_SSL(*address(operator, "smtp"), context=context(operator)) as client:
        client.login(SENDER, "segur-test")
        client.sendmail(SENDER, [COLLEAGUE], raw)
    reports = [mssmail.parse(m.raw) for m in inbox(operator, SENDER)]
    assert any(
        r.get_content_type() == "multipart/report" and r.get_param("report-type") == "delivery-status" for r in reports
    )


# -- bad input: refused, nothing delivered ----------------------------------------------------


def bomb() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("INDEX.HTM", "<html/>")
        with archive.open("IHE_XDM/SUBSET01/DOC0001.XML", "w") as member:
            zeros = b"\0" * (1024 * 1024)
            for _ in range(200):
                member.write(zeros)
    return buffer.getvalue()


def traversal() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("IHE_XDM/SUBSET01/../../../etc/cron.d/evil", "* * * * * root true")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "raw", "code"),
    [
        ("zip bomb", lambda: document([COLLEAGUE], package=bomb()), 554),
        ("path traversal", lambda: document([COLLEAGUE], package=traversal()), 554),
        ("no header/body separator", lambda: b"From: a@b\r\nSubject: x", 554),
        (
            "encoded header injection",
            lambda: document([COLLEAGUE]).replace(
                b"Subject: ", b"Subject: =?utf-8?q?x=0D=0ABcc=3A_evil=40example=2Eorg?= ", 1
            ),
            554,
        ),
        ("no From", lambda: b"Date: Sun, 22 Nov 2026 10:00:00 +0000\r\n\r\nbody\r\n", 554),
        ("oversized", lambda: document([COLLEAGUE]) + b"X" * (3 * 1024 * 1024), 552),
    ],
)
def test_bad_messages_are_refused_and_not_delivered(operator, name, raw, code):
    before = len(inbox(operator, COLLEAGUE))
    with smtplib.SMTP_SSL(*address(operator, "smtp"), context=context(operator)) as client:
        client.login(SENDER, "segur-test")
        with pytest.raises((smtplib.SMTPDataError, smtplib.SMTPSenderRefused, smtplib.SMTPServerDisconnected)) as err:
            client.sendmail(SENDER, [COLLEAGUE], raw())
    assert getattr(err.value, "smtp_code", code) == code, f"{name}: {err.value}"
    assert len(inbox(operator, COLLEAGUE)) == before, f"{name}: nothing may be delivered"


# -- reading mail ----------------------------------------------------------------------------


def test_imaplib_reads_what_smtplib_sent(operator):
    raw = document([COLLEAGUE])
    with smtplib.SMTP_SSL(*address(operator, "smtp"), context=context(operator)) as client:
        client.login(SENDER, "segur-test")
        client.sendmail(SENDER, [COLLEAGUE], raw)
    host, port = address(operator, "imap")
    with imaplib.IMAP4_SSL(host, port, ssl_context=context(operator)) as reader:
        reader.login(COLLEAGUE, "segur-test")
        reader.select("INBOX")
        _, found = reader.search(None, "HEADER", "Message-ID", str(mssmail.parse(raw)["Message-ID"]))
        number = found[0].split()[-1]
        _, fetched = reader.fetch(number, "(RFC822)")
    body = next(part[1] for part in fetched if isinstance(part, tuple))
    assert body.endswith(raw)


CURL = shutil.which("curl")


@pytest.mark.skipif(CURL is None, reason="curl is not installed (the Debian package curl provides it)")
def test_curl_sends_with_smtps_and_reads_with_imaps(operator, tmp_path: Path):
    host, smtp_port = address(operator, "smtp")
    raw = document([COLLEAGUE])
    message = tmp_path / "message.eml"
    message.write_bytes(raw)
    ca = str(operator["layout"].ca_bundle)
    sent = subprocess.run(
        [
            CURL,
            "--silent",
            "--show-error",
            "--cacert",
            ca,
            f"smtps://{host}:{smtp_port}",
            "--mail-from",
            SENDER,
            "--mail-rcpt",
            COLLEAGUE,
            "--user",
            f"{SENDER}:segur-test",
            "--upload-file",
            str(message),
        ],
        capture_output=True,
        timeout=60,
    )
    assert sent.returncode == 0, sent.stderr
    uid = inbox(operator, COLLEAGUE)[-1].uid
    _, imap_port = address(operator, "imap")
    read = subprocess.run(
        [
            CURL,
            "--silent",
            "--show-error",
            "--cacert",
            ca,
            f"imaps://{host}:{imap_port}/INBOX;UID={uid}",
            "--login-options",
            "AUTH=XOAUTH2",
            "--user",
            COLLEAGUE,
            "--oauth2-bearer",
            token(operator, "899900000029"),
        ],
        capture_output=True,
        timeout=60,
    )
    assert read.returncode == 0, read.stderr
    assert read.stdout.replace(b"\r\n", b"\n").endswith(raw.replace(b"\r\n", b"\n"))
