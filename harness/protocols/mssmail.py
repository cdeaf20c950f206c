"""MSSanté messages: a document message (facts §3.3), its acknowledgements (MDN, DSN; facts §3.4).

The reference client and the operator mock write with these builders; the verifiers read with
the parsers. The structure of an MDN follows the ANS guide (shared/reference/mssante/
struct-msg-mdn.md): multipart/report, a human part, message/disposition-notification with
Original-Recipient, Final-Recipient, Original-Message-ID and Disposition, then the original.
"""

from __future__ import annotations

import datetime as dt
import email
import email.parser
import email.policy
import email.utils
from dataclasses import dataclass
from email.message import EmailMessage, Message
from typing import Any

KO_PREFIX = "[KO Intégration système !]"
PROCESSED = "automatic-action/MDN-sent-automatically; processed"
XDM_NAME = "IHE_XDM.ZIP"


def document_subject(title: str, patient: dict[str, Any]) -> str:
    """``XDM/1.0/DDM+<libellé> <NOM> <prénom> <date de naissance JJ/MM/AAAA>`` (facts §3.3)."""
    born = dt.date.fromisoformat(patient["date_naissance"]).strftime("%d/%m/%Y")
    return f"XDM/1.0/DDM+{title} {patient['nom_naissance']} {patient['prenoms'][0]} {born}"


@dataclass
class DocumentMessage:
    sender: str
    recipients: list[str]
    subject: str
    body: str
    xdm: bytes
    pdf: bytes | None = None
    pdf_name: str = "document.pdf"
    cda_codes: tuple[str, ...] = ()
    ins_qualified: bool = True
    nil: str | None = None  # X-MSS-NIL: the product's convergence reference
    ack_to: str | None = None  # Disposition-Notification-To
    no_reply: bool = False  # X-MSS-MES: FIN (patient mailboxes)
    xdm_name: str = XDM_NAME

    def to_bytes(self) -> bytes:
        message = EmailMessage(policy=email.policy.SMTP)
        message["From"] = self.sender
        message["To"] = ", ".join(self.recipients)
        message["Subject"] = self.subject
        message["Date"] = email.utils.formatdate(localtime=True)
        message["Message-ID"] = email.utils.make_msgid(domain=self.sender.partition("@")[2] or None)
        if self.cda_codes:
            message["X-MSS-CODECDA"] = ",".join(self.cda_codes)
        message["X-MSS-INS"] = "O" if self.ins_qualified else "N"
        if self.nil:
            message["X-MSS-NIL"] = self.nil
        if self.no_reply:
            message["X-MSS-MES"] = "FIN"
        if self.ack_to:
            message["Disposition-Notification-To"] = self.ack_to
        message.set_content(self.body, charset="utf-8")
        message.add_attachment(self.xdm, maintype="application", subtype="zip", filename=self.xdm_name)
        if self.pdf is not None:
            message.add_attachment(self.pdf, maintype="application", subtype="pdf", filename=self.pdf_name)
        return message.as_bytes()


def parse(raw: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def attachments(message: Message) -> list[tuple[str, str, bytes]]:
    """(file name, media type, bytes) of every attachment."""
    found = []
    for part in message.walk():
        filename = part.get_filename()
        if filename and not part.is_multipart():
            payload = part.get_payload(decode=True)
            found.append((filename, part.get_content_type(), payload if isinstance(payload, bytes) else b""))
    return found


def mdn(original: bytes, *, reporter: str, error: str | None = None) -> bytes:
    """The MDN a receiving system sends for ``original``; ``error`` is ``<code>^<libellé>``."""
    source = parse(original)
    report = EmailMessage(policy=email.policy.SMTP)
    subject = str(source.get("Subject", ""))
    code = error.split("^", 1)[0] if error else None
    report["From"] = reporter
    report["To"] = str(source.get("Disposition-Notification-To") or source.get("From", ""))
    report["Subject"] = f"{KO_PREFIX}[{code}] {subject}" if code else subject
    report["Date"] = email.utils.formatdate(localtime=True)
    report["Message-ID"] = email.utils.make_msgid(domain=reporter.partition("@")[2] or None)
    text = (
        f"Le document n'a pas pu être intégré.\nLe système a retourné l'erreur {error}\n"
        if error
        else "Le document a été intégré.\n"
    )
    disposition = f"{PROCESSED}/Error: {error}" if error else PROCESSED
    fields = (
        f"Original-Recipient: rfc822;{reporter}\r\n"
        f"Final-Recipient: rfc822;{reporter}\r\n"
        f"Original-Message-ID: {source.get('Message-ID', '')}\r\n"
        f"Disposition: {disposition}\r\n"
    )
    report.make_mixed()
    report.set_type("multipart/report")
    report.set_param("report-type", "disposition-notification")
    human = EmailMessage(policy=email.policy.SMTP)
    human.set_content(text, charset="utf-8")
    notification = EmailMessage(policy=email.policy.SMTP)
    notification["Content-Type"] = "message/disposition-notification"
    notification.set_payload(fields)
    report.attach(human)
    report.attach(notification)
    returned = EmailMessage(policy=email.policy.SMTP)
    returned.set_content(source)  # message/rfc822: the original, attachments included
    report.attach(returned)
    return report.as_bytes()


@dataclass(frozen=True)
class Disposition:
    disposition: str
    original_message_id: str | None
    final_recipient: str | None
    original_recipient: str | None
    error: str | None
    subject: str


def parse_mdn(raw: bytes) -> Disposition | None:
    """The disposition an MDN reports, or None when ``raw`` is not an MDN."""
    # The headers tell; a mailbox's documents carry large attachments that need no parsing here.
    head = email.parser.BytesParser(policy=email.policy.default).parsebytes(raw, headersonly=True)
    if head.get_content_type() != "multipart/report":
        return None
    message = parse(raw)
    for part in message.walk():
        if part.get_content_type() == "message/disposition-notification":
            payload = part.get_payload()
            text = payload if isinstance(payload, str) else "".join(str(p) for p in payload or [])
            fields = email.message_from_string(text.strip() + "\n\n", policy=email.policy.default)
            disposition = " ".join(str(fields.get("Disposition", "")).split())
            error = disposition.split("Error:", 1)[1].strip() if "Error:" in disposition else None
            return Disposition(
                disposition=disposition,
                original_message_id=str(fields.get("Original-Message-ID", "")).strip() or None,
                final_recipient=str(fields.get("Final-Recipient", "")).strip() or None,
                original_recipient=str(fields.get("Original-Recipient", "")).strip() or None,
                error=error,
                subject=str(message.get("Subject", "")),
            )
    return None


@dataclass(frozen=True)
class RecipientStatus:
    """One recipient's block of a delivery status notification (RFC 3464 §2.3)."""

    recipient: str
    action: str = "delivered"  # "delivered" or "failed"
    status: str = "2.0.0"  # RFC 3463 code
    original_recipient: str | None = None  # ORCPT as given ("rfc822;addr")
    diagnostic: str | None = None  # the SMTP reply that explains a failure


def delivery_report(
    original: bytes,
    *,
    reporting_mta: str,
    statuses: list[RecipientStatus],
    sender: str,
    postmaster: str,
    envelope_id: str | None = None,
    return_full: bool = False,
) -> bytes:
    """A DSN (RFC 3464): a human part, message/delivery-status, then the original's headers or the original.

    ``return_full`` returns the whole message (RET=FULL on a failure, RFC 3461 §4.3); otherwise
    only its headers (text/rfc822-headers).
    """
    source = parse(original)
    failed = [s for s in statuses if s.action == "failed"]
    report = EmailMessage(policy=email.policy.SMTP)
    report["From"] = postmaster
    report["To"] = sender
    kind = "Échec de remise" if failed else "Notification de remise"
    report["Subject"] = f"{kind}: {source.get('Subject', '')}"
    report["Date"] = email.utils.formatdate(localtime=True)
    report["Message-ID"] = email.utils.make_msgid(domain=reporting_mta)
    report["Auto-Submitted"] = "auto-replied"  # RFC 3834: no automatic answer to this one
    report.make_mixed()
    report.set_type("multipart/report")
    report.set_param("report-type", "delivery-status")
    human = EmailMessage(policy=email.policy.SMTP)
    lines = [f"Votre message a été remis à : {s.recipient}" for s in statuses if s.action == "delivered"]
    lines += [f"Votre message n'a pas pu être remis à : {s.recipient} ({s.diagnostic or s.status})" for s in failed]
    human.set_content("\n".join(lines) + "\n", charset="utf-8")
    status = EmailMessage(policy=email.policy.SMTP)
    status["Content-Type"] = "message/delivery-status"
    # A delivery-status body is a list of header blocks: one for the message, one per recipient.
    blocks: list[Message[str, str] | str] = [Message(policy=email.policy.SMTP)]
    first = blocks[0]
    assert isinstance(first, Message)
    if envelope_id is not None:
        first["Original-Envelope-Id"] = envelope_id
    first["Reporting-MTA"] = f"dns;{reporting_mta}"
    first["Arrival-Date"] = email.utils.formatdate(localtime=True)
    for entry in statuses:
        block = Message(policy=email.policy.SMTP)
        if entry.original_recipient is not None:
            block["Original-Recipient"] = entry.original_recipient
        block["Final-Recipient"] = f"rfc822;{entry.recipient}"
        block["Action"] = entry.action
        block["Status"] = entry.status
        if entry.diagnostic is not None:
            block["Diagnostic-Code"] = f"smtp;{entry.diagnostic}"
        blocks.append(block)
    status.set_payload(blocks)
    returned = EmailMessage(policy=email.policy.SMTP)
    if return_full:
        returned["Content-Type"] = "message/rfc822"
        returned.set_payload([parse(original)])
    else:
        head = original.split(b"\r\n\r\n", 1)[0] + b"\r\n"
        returned.set_content(head, maintype="text", subtype="rfc822-headers")
    report.attach(human)
    report.attach(status)
    report.attach(returned)
    return report.as_bytes()


def parse_dsn(raw: bytes) -> tuple[dict[str, str], list[dict[str, str]]] | None:
    """(per-message fields, per-recipient fields) of a DSN, or None when ``raw`` is not one."""
    message = parse(raw)
    if message.get_content_type() != "multipart/report" or message.get_param("report-type") != "delivery-status":
        return None
    for part in message.iter_parts():
        if part.get_content_type() == "message/delivery-status":
            blocks = [dict(block.items()) for block in part.get_payload() if isinstance(block, Message)]
            return (blocks[0], blocks[1:]) if blocks else None
    return None
