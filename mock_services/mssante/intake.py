"""What the MSSanté SMTP mock answers to a message it could not read: the one hook ``handle_DATA`` calls.

:func:`screen` runs the message checks (``smtp_hygiene.inspect``) and turns every way they can end into
an SMTP reply (RFC 5321 §4.2, enhanced codes RFC 3463), so nothing escapes to aiosmtpd's generic
"500 Error: (Exception)" and the message is always recorded:

- a refusal of the checks (no header/body separator, dangerous attachment...), or multiparts
  nested deeper than Python's email parser can recurse: ``554 5.6.0``;
- an ``IHE_XDM.ZIP`` in a zip format the reader does not implement (``xdm.UnsupportedArchive``):
  ``554 5.6.1`` (media not supported) by default, or accepted and relayed untouched when
  ``MssSettings.unsupported_xdm`` is ``"accept"`` (see ``profiles/mss/README.md``);
- any other failure of the mock itself: ``451 4.3.0``, a temporary failure the client may retry.
"""

from __future__ import annotations

import email.policy
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage, Message
from email.parser import BytesParser

from harness.core.recorder import FAULT, REJECTED
from harness.protocols import mssmail, xdm

Inspector = Callable[[bytes], tuple[EmailMessage | None, str | None]]

UNSUPPORTED_XDM_POLICIES = ("refuse", "accept")


@dataclass(frozen=True)
class Screening:
    """The message's headers when it may be delivered; otherwise the reply and the recorded outcome."""

    message: EmailMessage | None
    reply: str | None = None
    outcome: str = REJECTED


def attachment_problem(message: Message) -> str | None:
    """An IHE_XDM.ZIP attachment that is dangerous to open (zip bomb, path traversal...), or None.

    An archive in an unsupported zip format raises ``xdm.UnsupportedArchive`` to :func:`screen`,
    which answers it by the ``unsupported_xdm`` setting; a merely broken one is left to the verifiers.
    """
    for name, _, data in mssmail.attachments(message):
        if name.upper() == mssmail.XDM_NAME:
            try:
                xdm.read_xdm(data)
            except xdm.UnsupportedArchive:
                raise
            except xdm.NotAnXdm as exc:
                if xdm.is_dangerous(exc):
                    return f"pièce jointe {name} dangereuse: {exc}"
    return None


def screen(raw: bytes, inspect: Inspector, unsupported_xdm: str = "refuse") -> Screening:
    """The checks of ``inspect`` on ``raw``, ending in a message to deliver or an SMTP reply, never an exception."""
    try:
        message, problem = inspect(raw)
    except xdm.UnsupportedArchive as exc:
        if unsupported_xdm == "accept":
            # inspect reads the attachments last, so the headers already passed every check
            headers = BytesParser(policy=email.policy.default).parsebytes(raw, headersonly=True)
            assert isinstance(headers, EmailMessage)
            return Screening(headers)
        return Screening(None, f"554 5.6.1 Message refusé: format de pièce jointe non pris en charge: {exc}")
    except RecursionError:  # Python's email parser recurses once per nested multipart
        return Screening(None, "554 5.6.0 Message refusé: parties MIME imbriquées trop profondément")
    except Exception as exc:  # a bug of the mock is a temporary failure, never a dropped connection
        return Screening(None, f"451 4.3.0 Erreur interne du service: {type(exc).__name__}", FAULT)
    if problem is not None or message is None:
        return Screening(None, f"554 5.6.0 Message refusé: {problem}")
    return Screening(message)
