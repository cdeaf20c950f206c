"""What a submission server refuses in a message: its structure (``inspect``: headers, the XDM),
bare line endings, NUL bytes, and a From: that is not the authenticated sender's (or more than one From:).

Why: a bare LF or CR is the SMTP smuggling class of input (RFC 5321 §2.3.8: CR and LF only as
CRLF; a relay that reads ``<LF>.<CR><LF>`` as the end of data lets a second, forged message
through), NUL is not text (RFC 5322 §2.3), and a From: the sender does not own is the spoofing
that authenticated submission exists to stop (RFC 6409 §6.1: the server may refuse it).
"""

from __future__ import annotations

import email
import email.policy
import email.utils
from email.message import EmailMessage
from email.parser import BytesParser

from mock_services.mssante.intake import attachment_problem


def raw_problem(raw: bytes, strict_line_endings: bool) -> str | None:
    """Why the bytes of a message cannot be accepted, or None."""
    if b"\x00" in raw:
        return "octet nul dans le message (RFC 5322 §2.3)"
    if strict_line_endings:
        rest = raw.replace(b"\r\n", b"")
        if b"\n" in rest:
            return "saut de ligne LF isolé (RFC 5321 §2.3.8)"
        if b"\r" in rest:
            return "retour chariot CR isolé (RFC 5321 §2.3.8)"
    return None


def from_problem(message: EmailMessage, allowed: set[str]) -> str | None:
    """Why the From: header cannot be sent by a principal owning ``allowed`` addresses, or None."""
    values = message.get_all("From") or []
    if len(values) != 1:
        return "un seul en-tête From est permis (RFC 5322 §3.6)"
    addresses = [address.lower() for _, address in email.utils.getaddresses([str(values[0])]) if address]
    if len(addresses) != 1:
        return "l'en-tête From doit nommer une seule boîte aux lettres"
    if addresses[0] not in allowed:
        return f"l'en-tête From {addresses[0]} n'est pas une boîte aux lettres de l'expéditeur authentifié"
    return None


def inspect(raw: bytes) -> tuple[EmailMessage | None, str | None]:
    """The message's headers, and why it cannot be accepted (None when it can).

    Headers are read with the modern policy (it decodes encoded words, where an injection
    hides); the body only with the light compat32 one, to find the XDM: on a 400 KB message
    the full modern parse costs twice as much. NUL bytes (and, by default, bare line endings)
    were refused before, by ``smtp_hygiene.raw_problem``, which ``handle_DATA`` runs first.
    """
    head, separator, _ = raw.partition(b"\r\n\r\n")
    if not separator:
        head, separator, _ = raw.partition(b"\n\n")
    if not separator:
        return None, "pas de séparation entre en-têtes et corps"
    for line in head.replace(b"\r\n", b"\n").split(b"\n"):
        if len(line) > 998:
            return None, "ligne d'en-tête de plus de 998 octets"
        if b"\r" in line:
            return None, "retour chariot isolé dans les en-têtes"
    message = BytesParser(policy=email.policy.default).parsebytes(raw, headersonly=True)
    assert isinstance(message, EmailMessage)
    for name in ("From", "Date"):
        if message.get(name) is None:
            return message, f"en-tête {name} absent"
    for name, value in message.items():
        if "\r" in str(value) or "\n" in str(value):
            return message, f"en-tête {name} contenant un saut de ligne (injection d'en-tête)"
    return message, attachment_problem(email.message_from_bytes(raw, policy=email.policy.compat32))
