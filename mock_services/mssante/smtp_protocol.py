"""The operator's SMTP protocol: aiosmtpd's, with what a real submission server has and it lacks.

* Long SASL responses (RFC 4954 §4: an AUTH line or a response to 334 of at least 12288 octets).
  aiosmtpd's stream reader stops every line at ``line_length_limit`` (1001 bytes) before any
  per-command limit is looked at, so a PSC access token (about 960 characters, 1.3 KB once in
  base64 inside XOAUTH2) gets ``500 Command line too long`` on the AUTH line and a ValueError
  after 334. Here the reader takes lines up to the SASL limit, ``command_size_limits`` keeps every
  other command at its RFC 5321 size, and DATA lines stay at 1000 octets.
* Line endings (RFC 5321 §2.3.8: CR and LF only as CRLF). A command ended by a bare LF is
  refused with 500 5.5.2 (in DATA the message is refused as a whole, by the handler, once the
  terminating dot is read: answering in the middle of DATA would read the rest as commands,
  which is the SMTP smuggling class of attack). ``strict_line_endings=False`` accepts them.
* EHLO advertises what is honoured: PIPELINING (commands are read in order from one stream,
  RFC 2920), ENHANCEDSTATUSCODES (every reply but the greeting and EHLO's carries one, RFC 2034,
  added here where aiosmtpd's own replies lack one) and DSN (RFC 3461 parameters, read here with
  their case kept).
* A neutral greeting: the host name and ``ESMTP``, no software name or version.
"""

from __future__ import annotations

import asyncio
import collections
import re
from typing import Any

from aiosmtpd.smtp import SMTP, syntax

from mock_services.mssante.dsn import (
    MAIL_PARAMETERS,
    RCPT_PARAMETERS,
    DsnEnvelope,
    DsnParameterError,
    mail_request,
    recipient_request,
    take_parameters,
)

RFC5321_DATA_LINE = 1001  # 998 octets, CRLF and a transparency dot (RFC 5321 §4.5.3.1.6)
_ENHANCED = re.compile(rb"^[245]\d\d[ -][245]\.\d{1,3}\.\d{1,3}(?: |$)")
_REPLY = re.compile(rb"^([245])(\d\d)([ -])")
# RFC 3463 codes for aiosmtpd's own replies that carry none.
_DEFAULT_DETAIL = {
    b"500": b"5.5.2",
    b"501": b"5.5.4",
    b"502": b"5.5.1",
    b"503": b"5.5.1",
    b"504": b"5.5.4",
    b"530": b"5.7.0",
    b"552": b"5.3.4",
    b"553": b"5.1.3",
    b"555": b"5.5.4",
}
EXTENSIONS = ("PIPELINING", "ENHANCEDSTATUSCODES", "DSN")


class BareLineEnding(ValueError):
    """A command line ended by LF alone, or holding a CR that is not part of CRLF."""


class _LineReader(asyncio.StreamReader):
    """The stream reader, refusing bare line endings in command lines (not in DATA's lines)."""

    strict = True

    async def readuntil(self, separator: Any = b"\n") -> bytes:
        line = await super().readuntil(separator)
        if self.strict and separator == b"\n" and (not line.endswith(b"\r\n") or b"\r" in line[:-2]):
            raise BareLineEnding("Line must end with CRLF (RFC 5321 section 2.3.8)")
        return line


def _sasl_line_limit(max_sasl_response_bytes: int) -> int:
    return 4 * -(-max_sasl_response_bytes // 3) + len("AUTH OAUTHBEARER ") + 2


class OperatorSmtp(SMTP):
    """aiosmtpd's SMTP with long SASL responses, strict line endings, DSN and enhanced codes."""

    def __init__(
        self, handler: Any, *, max_sasl_response_bytes: int, strict_line_endings: bool, **options: Any
    ) -> None:
        sasl_line = _sasl_line_limit(max_sasl_response_bytes)
        # SMTP.__init__ sizes its stream reader with this attribute; DATA reads it again later.
        self.line_length_limit = sasl_line
        super().__init__(handler, ident="ESMTP", **options)
        self.line_length_limit = RFC5321_DATA_LINE
        reader = _LineReader(limit=sasl_line, loop=self.loop)
        reader.strict = strict_line_endings
        # Swap the reader SMTP.__init__ made for ours, before any connection uses it.
        asyncio.StreamReaderProtocol.__init__(
            self, reader, client_connected_cb=self._cb_client_connected, loop=self.loop
        )
        # The class-level dict of aiosmtpd is shared by every instance: ours is per connection.
        self.command_size_limits = collections.defaultdict(
            lambda: SMTP.command_size_limit,
            {"AUTH": sasl_line, "MAIL": 1024, "RCPT": 1024},  # RFC 3461 §5: room for ENVID and ORCPT
        )
        self._greeted = False
        self._ehlo_lines: list[bytes] | None = None

    def connection_lost(self, error: Exception | None) -> None:
        # A client that drops a TLS connection without close_notify leaves the TLS transport open
        # (then a ResourceWarning when it is collected): close it with the connection.
        transport = self.transport
        super().connection_lost(error)
        if transport is not None and not transport.is_closing():
            transport.close()

    def _create_envelope(self) -> DsnEnvelope:
        return DsnEnvelope()

    async def push(self, status: str | bytes) -> None:
        line = status.encode("utf-8" if self.enable_SMTPUTF8 else "ascii") if isinstance(status, str) else status
        if self._ehlo_lines is not None:
            self._ehlo_lines.append(line)
            return
        if self._greeted:
            line = _with_enhanced_code(line)
        self._greeted = True
        await super().push(line)

    async def handle_exception(self, error: Exception) -> str:
        if isinstance(error, BareLineEnding):
            return f"500 5.5.2 {error}"
        if isinstance(error, ValueError) and "limit" in str(error):  # a response to 334 over the limit
            return "500 5.5.6 Authentication exchange line is too long"
        return await super().handle_exception(error)

    @syntax("EHLO hostname")
    async def smtp_EHLO(self, hostname: str) -> None:
        self._ehlo_lines = []
        try:
            await super().smtp_EHLO(hostname)
        finally:
            lines, self._ehlo_lines = self._ehlo_lines, None
        if len(lines) > 1 and lines[0].startswith(b"250"):
            keywords = [line[4:] for line in lines]
            keywords[-1:-1] = [e.encode() for e in EXTENSIONS]
            lines = [b"250-" + k for k in keywords[:-1]] + [b"250 " + keywords[-1]]
        for line in lines:
            await super().push(line)

    @syntax("MAIL FROM: <address>", extended=" [SP <mail-parameters>]")
    async def smtp_MAIL(self, arg: str | None) -> None:
        assert self.envelope is not None and self.session is not None
        if arg is not None and self.session.extended_smtp and isinstance(self.envelope, DsnEnvelope):
            try:
                arg, found = take_parameters(arg, MAIL_PARAMETERS)
                if not self.envelope.mail_from:
                    self.envelope.ret, self.envelope.envelope_id = mail_request(found)
            except DsnParameterError as exc:
                await self.push(f"501 5.5.4 {exc}")
                return
        await super().smtp_MAIL(arg)

    @syntax("RCPT TO: <address>", extended=" [SP <mail-parameters>]")
    async def smtp_RCPT(self, arg: str | None) -> None:
        assert self.envelope is not None and self.session is not None
        envelope = self.envelope
        request = None
        if arg is not None and self.session.extended_smtp and isinstance(envelope, DsnEnvelope):
            try:
                arg, found = take_parameters(arg, RCPT_PARAMETERS)
                request = recipient_request(found)
            except DsnParameterError as exc:
                await self.push(f"501 5.5.4 {exc}")
                return
        before = len(envelope.rcpt_tos)
        await super().smtp_RCPT(arg)
        if request is not None and isinstance(envelope, DsnEnvelope) and len(envelope.rcpt_tos) > before:
            envelope.recipients[envelope.rcpt_tos[-1]] = request


def _with_enhanced_code(line: bytes) -> bytes:
    """``line`` with an RFC 3463 code after its reply code when it has none (RFC 2034 §3)."""
    match = _REPLY.match(line)
    if match is None or _ENHANCED.match(line):
        return line
    code = line[:3]
    detail = _DEFAULT_DETAIL.get(code, match.group(1) + b".0.0")
    return line[:4] + detail + (b" " + line[4:] if line[4:] else b"")
