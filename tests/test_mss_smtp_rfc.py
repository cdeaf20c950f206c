"""SMTP submission per the RFCs: DSN requests (RFC 3461) and what a submission server refuses
(bare line endings, NUL, a From: the sender does not own, two From:).
"""

from __future__ import annotations

import smtplib

import pytest

from harness.protocols import mssmail
from mock_services.mssante.dsn import DsnParameterError, recipient_request, take_parameters, xtext_decode
from mock_services.mssante.smtp_hygiene import raw_problem
from tests.test_mss_operator import COLLEAGUE, SENDER, address, context, document, inbox, operator

__all__ = ["operator"]

FULL = "boite-pleine@harnais.mssante.fr"  # accepted at RCPT, never delivered (mailbox full)


def last_uid(running) -> int:
    stored = inbox(running, SENDER)
    return stored[-1].uid if stored else 0


def reports_since(running, uid: int) -> list[tuple[dict[str, str], list[dict[str, str]], bytes]]:
    """The DSNs the sender received after ``uid`` (fields of the message, of each recipient, raw)."""
    found = []
    for stored in inbox(running, SENDER):
        parsed = mssmail.parse_dsn(stored.raw)
        if parsed and stored.uid > uid:
            found.append((*parsed, stored.raw))
    return found


def submit(running, raw: bytes, recipients: list[str], mail_options=(), rcpt_options=()) -> None:
    with smtplib.SMTP_SSL(*address(running, "smtp"), context=context(running)) as client:
        client.login(SENDER, "segur-test")
        client.sendmail(SENDER, recipients, raw, mail_options=list(mail_options), rcpt_options=list(rcpt_options))


# -- DSN (RFC 3461) ---------------------------------------------------------------------------


def test_notify_success_failure_gets_one_dsn_for_the_delivery_and_the_failure(operator):
    raw = document([COLLEAGUE, FULL])
    mark = last_uid(operator)
    before = len(inbox(operator, COLLEAGUE))
    submit(operator, raw, [COLLEAGUE, FULL], ["RET=HDRS", "ENVID=Env+2B42"], ["NOTIFY=SUCCESS,FAILURE"])
    assert len(inbox(operator, COLLEAGUE)) == before + 1
    assert not inbox(operator, FULL)
    [(fields, recipients, report)] = reports_since(operator, mark)
    assert fields["Original-Envelope-Id"] == "Env+42"  # xtext decoded, case kept
    by_recipient = {r["Final-Recipient"]: r for r in recipients}
    assert by_recipient[f"rfc822;{COLLEAGUE}"]["Action"] == "delivered"
    assert by_recipient[f"rfc822;{FULL}"]["Action"] == "failed"
    assert by_recipient[f"rfc822;{FULL}"]["Status"] == "5.2.2"
    assert b"text/rfc822-headers" in report and b"message/rfc822" not in report  # RET=HDRS


def test_a_failure_without_notify_is_reported_with_the_full_message_and_orcpt(operator):
    raw = document([FULL])
    mark = last_uid(operator)
    submit(operator, raw, [FULL], rcpt_options=[f"ORCPT=rfc822;{FULL.upper()}"])
    [(_, [recipient], report)] = reports_since(operator, mark)
    assert recipient["Action"] == "failed" and recipient["Original-Recipient"] == f"rfc822;{FULL.upper()}"
    assert b"message/rfc822" in report  # RET absent: the failed message is returned


@pytest.mark.parametrize("notify", ["NOTIFY=NEVER", "NOTIFY=FAILURE"])
def test_no_success_dsn_unless_asked(operator, notify):
    mark = last_uid(operator)
    submit(operator, document([COLLEAGUE]), [COLLEAGUE], rcpt_options=[notify])
    assert not reports_since(operator, mark)


def test_notify_never_silences_a_failure(operator):
    mark = last_uid(operator)
    submit(operator, document([FULL]), [FULL], rcpt_options=["NOTIFY=NEVER"])
    assert not reports_since(operator, mark)


@pytest.mark.parametrize(
    ("mail_options", "rcpt_options"),
    [(["RET=SOME"], []), (["ENVID=a+zz"], []), ([], ["NOTIFY=NEVER,SUCCESS"]), ([], ["NOTIFY=SOMETIMES"])],
)
def test_malformed_dsn_parameters_get_501(operator, mail_options, rcpt_options):
    with smtplib.SMTP_SSL(*address(operator, "smtp"), context=context(operator)) as client:
        client.login(SENDER, "segur-test")
        with pytest.raises((smtplib.SMTPSenderRefused, smtplib.SMTPRecipientsRefused)) as refused:
            client.sendmail(SENDER, [COLLEAGUE], document([COLLEAGUE]), mail_options, rcpt_options)
    text = str(refused.value)
    assert "501" in text and "5.5.4" in text


def test_dsn_parameter_parsing():
    assert take_parameters("FROM:<a@b> SIZE=10 ret=hdrs", ("RET",)) == ("FROM:<a@b> SIZE=10", {"RET": "hdrs"})
    assert xtext_decode("a+2Bb+3D") == "a+b="
    assert recipient_request({"NOTIFY": "success,delay"}).notify == frozenset({"SUCCESS", "DELAY"})
    with pytest.raises(DsnParameterError):
        take_parameters("TO:<a@b> NOTIFY=NEVER NOTIFY=SUCCESS", ("NOTIFY",))
    with pytest.raises(DsnParameterError):
        recipient_request({"ORCPT": "no-semicolon"})


# -- hygiene ----------------------------------------------------------------------------------


def refused(running, raw: bytes, sender: str = SENDER) -> smtplib.SMTPDataError:
    before = len(inbox(running, COLLEAGUE))
    with smtplib.SMTP_SSL(*address(running, "smtp"), context=context(running)) as client:
        client.login(SENDER, "segur-test")
        with pytest.raises(smtplib.SMTPDataError) as error:
            client.sendmail(sender, [COLLEAGUE], raw)
    assert len(inbox(running, COLLEAGUE)) == before, "nothing may be delivered"
    return error.value


@pytest.mark.parametrize(
    ("case", "edit"),
    [
        ("bare LF in a header", lambda raw: raw.replace(b"\r\nSubject:", b"\nSubject:", 1)),
        ("bare LF in the body", lambda raw: raw.replace(b"Bonjour,\r\n", b"Bonjour,\n.\r\nMAIL FROM:<x@y>\r\n", 1)),
        ("bare CR in the body", lambda raw: raw.replace(b"Bonjour,\r\n", b"Bonjour,\r.\r\n", 1)),
        ("NUL in the body", lambda raw: raw.replace(b"Bonjour,", b"Bon\x00jour,", 1)),
    ],
)
def test_bare_line_endings_and_nul_are_refused(operator, case, edit):
    raw = edit(document([COLLEAGUE]))
    assert raw != document([COLLEAGUE])[:0], case
    error = refused(operator, raw)
    assert error.smtp_code == 554 and b"5.6.0" in error.smtp_error, case


def test_lenient_line_endings_are_a_setting():
    raw = b"From: a@b\nDate: x\n\nbody\r\n"
    assert raw_problem(raw, strict_line_endings=True) is not None
    assert raw_problem(raw, strict_line_endings=False) is None
    assert raw_problem(b"a\x00b", strict_line_endings=False) is not None  # NUL is never text


@pytest.mark.parametrize(
    ("case", "edit"),
    [
        ("foreign From", lambda raw: raw.replace(f"From: {SENDER}".encode(), f"From: {COLLEAGUE}".encode(), 1)),
        ("two From", lambda raw: raw.replace(b"\r\nSubject:", f"\r\nFrom: {COLLEAGUE}\r\nSubject:".encode(), 1)),
        (
            "two mailboxes in From",
            lambda raw: raw.replace(f"From: {SENDER}".encode(), f"From: {SENDER}, {COLLEAGUE}".encode(), 1),
        ),
    ],
)
def test_a_from_the_sender_does_not_own_is_refused(operator, case, edit):
    raw = edit(document([COLLEAGUE]))
    assert f"{COLLEAGUE}".encode() in raw.split(b"\r\n\r\n", 1)[0], case
    error = refused(operator, raw)
    assert error.smtp_code in (550, 554) and (b"5.7.1" in error.smtp_error or b"5.6.0" in error.smtp_error), case


def test_the_senders_own_from_with_a_display_name_is_accepted(operator):
    raw = document([COLLEAGUE]).replace(f"From: {SENDER}".encode(), f'From: "Dr Paul" <{SENDER.upper()}>'.encode(), 1)
    before = len(inbox(operator, COLLEAGUE))
    submit(operator, raw, [COLLEAGUE])
    assert len(inbox(operator, COLLEAGUE)) == before + 1


def test_the_dsn_request_is_recorded_with_the_transaction(operator):
    submit(
        operator, document([COLLEAGUE]), [COLLEAGUE], ["ENVID=Rec+2B1"], [f"NOTIFY=SUCCESS ORCPT=rfc822;{COLLEAGUE}"]
    )
    [data] = [e for e in operator["exchanges"].exchanges(service="mss") if e.operation == "smtp.data"][-1:]
    assert data.request_meta["dsn"]["envid"] == "Rec+1"
    assert data.request_meta["dsn"]["notify"] == {COLLEAGUE: ["SUCCESS"]}
    assert data.request_meta["dsn"]["orcpt"] == {COLLEAGUE: f"rfc822;{COLLEAGUE}"}
