"""RFC 3461 delivery status notification requests: the MAIL (RET, ENVID) and RCPT (NOTIFY, ORCPT)
parameters, read with their case kept (aiosmtpd upper-cases every parameter, which spoils the
xtext of ENVID and ORCPT), and which recipients a notification is owed for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aiosmtpd.smtp import Envelope

from harness.protocols import mssmail

MAIL_PARAMETERS = ("RET", "ENVID")
RCPT_PARAMETERS = ("NOTIFY", "ORCPT")
_NOTIFY_WORDS = frozenset({"SUCCESS", "FAILURE", "DELAY"})
_XTEXT = re.compile(r"(?:[\x21-\x2a\x2c-\x3c\x3e-\x7e]|\+[0-9A-F]{2})*")
# RFC 3461 §4.2 and §4.4: ORCPT's address at most 500 characters, ENVID at most 100.
_MAX_ENVID, _MAX_ORCPT = 100, 500


class DsnParameterError(ValueError):
    """A malformed RET, ENVID, NOTIFY or ORCPT: the command gets 501 5.5.4 with this text."""


@dataclass(frozen=True)
class RecipientRequest:
    notify: frozenset[str] | None = None  # None: no NOTIFY given (failures are reported, RFC 3461 §4.1)
    original_recipient: str | None = None  # ORCPT, "rfc822;addr" decoded from xtext

    def wants(self, outcome: str, legacy_receipt: bool) -> bool:
        """Whether a DSN is owed for ``outcome`` ("delivered" or "failed")."""
        if self.notify is None:
            return outcome == "failed" or legacy_receipt  # Return-Receipt-To stands for NOTIFY=SUCCESS
        return ("SUCCESS" if outcome == "delivered" else "FAILURE") in self.notify


class DsnEnvelope(Envelope):
    """aiosmtpd's envelope with the DSN request of the transaction."""

    def __init__(self) -> None:
        super().__init__()
        self.ret: str | None = None  # "FULL" or "HDRS"
        self.envelope_id: str | None = None
        self.recipients: dict[str, RecipientRequest] = {}


def xtext_decode(value: str) -> str:
    if not _XTEXT.fullmatch(value):
        raise DsnParameterError("xtext invalide (RFC 3461 §4)")
    return re.sub(r"\+([0-9A-F]{2})", lambda m: chr(int(m.group(1), 16)), value)


def take_parameters(argument: str, names: tuple[str, ...]) -> tuple[str, dict[str, str]]:
    """The argument without the named ESMTP parameters, and those parameters (values as sent)."""
    kept: list[str] = []
    found: dict[str, str] = {}
    for position, word in enumerate(argument.split(" ")):
        keyword, equals, value = word.partition("=")
        if position > 0 and equals and keyword.upper() in names:
            if keyword.upper() in found:
                raise DsnParameterError(f"paramètre {keyword.upper()} répété")
            found[keyword.upper()] = value
        else:
            kept.append(word)
    return " ".join(kept), found


def mail_request(found: dict[str, str]) -> tuple[str | None, str | None]:
    """(RET, ENVID) of a MAIL command's parameters."""
    ret = found.get("RET")
    if ret is not None and ret.upper() not in ("FULL", "HDRS"):
        raise DsnParameterError("RET vaut FULL ou HDRS")
    envid = found.get("ENVID")
    if envid is not None:
        envid = xtext_decode(envid)
        if not envid or len(envid) > _MAX_ENVID:
            raise DsnParameterError(f"ENVID de 1 à {_MAX_ENVID} caractères")
    return (ret.upper() if ret else None), envid


def recipient_request(found: dict[str, str]) -> RecipientRequest:
    notify: frozenset[str] | None = None
    if "NOTIFY" in found:
        words = found["NOTIFY"].upper().split(",")
        if words == ["NEVER"]:
            notify = frozenset()
        elif not words or len(set(words)) != len(words) or not set(words) <= _NOTIFY_WORDS:
            raise DsnParameterError("NOTIFY vaut NEVER ou une liste de SUCCESS, FAILURE, DELAY")
        else:
            notify = frozenset(words)
    original = None
    if "ORCPT" in found:
        kind, semicolon, address = found["ORCPT"].partition(";")
        if not semicolon or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]*", kind):
            raise DsnParameterError("ORCPT s'écrit type;adresse (RFC 3461 §4.2)")
        decoded = xtext_decode(address)
        if not decoded or len(decoded) > _MAX_ORCPT:
            raise DsnParameterError(f"ORCPT de 1 à {_MAX_ORCPT} caractères")
        original = f"{kind.lower()};{decoded}"
    return RecipientRequest(notify, original)


MAILBOX_FULL = ("5.2.2", "552 5.2.2 Boîte aux lettres pleine")  # RFC 3463 §3.3


def owed_report(
    raw: bytes,
    legacy_receipt: bool,
    envelope: Envelope,
    delivered: list[str],
    failed: list[str],
    *,
    domain: str,
) -> bytes | None:
    """The DSN the sender is owed for this transaction (RFC 3461 §5.2), or None.

    A recipient without NOTIFY gets its failures reported and, when the message carries the
    legacy ``Return-Receipt-To`` header, its deliveries too; NOTIFY=NEVER gets nothing.
    """
    requests = envelope.recipients if isinstance(envelope, DsnEnvelope) else {}
    statuses = []
    for outcome, recipients in (("delivered", delivered), ("failed", failed)):
        for recipient in recipients:
            request = requests.get(recipient, RecipientRequest())
            if not request.wants(outcome, legacy_receipt):
                continue
            code, diagnostic = ("2.0.0", None) if outcome == "delivered" else MAILBOX_FULL
            statuses.append(mssmail.RecipientStatus(recipient, outcome, code, request.original_recipient, diagnostic))
    if not statuses:
        return None
    ret = envelope.ret if isinstance(envelope, DsnEnvelope) else None
    return mssmail.delivery_report(
        raw,
        reporting_mta=domain,
        statuses=statuses,
        sender=envelope.mail_from or "",
        postmaster=f"postmaster@{domain}",
        envelope_id=envelope.envelope_id if isinstance(envelope, DsnEnvelope) else None,
        # RFC 3461 §4.3: RET decides for failures; successes return headers only.
        return_full=ret != "HDRS" and any(s.action == "failed" for s in statuses),
    )
