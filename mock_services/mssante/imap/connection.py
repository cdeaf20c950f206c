"""One client connection's state and I/O: the session's attributes, reading lines and literals
under the size and idle limits, queuing and flushing responses, BYE and closing, and recording
each command with the TLS client certificate's subject.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl

from cryptography import x509

from mock_services.mssante.imap.errors import _Eof, _TooLong
from mock_services.mssante.imap.mime import _Part
from mock_services.mssante.imap.responses import CRLF, _safe_text
from mock_services.mssante.imap.server_state import ServerState
from mock_services.mssante.imap.settings import Principal
from mock_services.mssante.store import StoredMessage

log = logging.getLogger(__name__)
_CHUNK = 256 * 1024


class _Connection:
    """A connection's state and I/O; the command classes above it add the commands."""

    def __init__(
        self,
        server: ServerState,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        tls: bool,
        starttls_context: ssl.SSLContext | None,
    ):
        self.server, self.store, self.settings = server, server.store, server.settings
        self.reader, self.writer = reader, writer
        self.tls, self.starttls_context = tls, starttls_context
        self._buf = bytearray()
        self._out: list[bytes] = []
        self.principal: Principal | None = None
        self.address: str | None = None  # the default mailbox of the principal
        self.user: str | None = None  # the login name, tried or accepted
        self.method: str | None = None
        self.auth_failures = 0
        self.selected: tuple[str, str] | None = None
        self.selected_name: str | None = None
        self.readonly = False
        self.keywords: set[str] = set()  # the keywords the client was told of (FLAGS) in this folder
        self.view: list[int] = []  # UIDs by message sequence number, as this session knows them
        self.recent: set[int] = set()
        self.current: dict[int, StoredMessage] = {}
        self._parts: dict[int, _Part] = {}
        self.closing = False
        self._bye_sent = False
        self._answered = False  # the running command's tagged response is already out (STARTTLS)
        self._subject: tuple[bytes, str | None] | None = None

    # -- I/O ---------------------------------------------------------------------------------

    async def _fill(self, timeout: float) -> None:
        chunk = await asyncio.wait_for(self.reader.read(_CHUNK), timeout)
        if not chunk:
            raise _Eof()
        self._buf += chunk

    def _take_line(self) -> bytes | None:
        index = self._buf.find(b"\n")
        if index < 0:
            if len(self._buf) > self.settings.max_line_bytes:
                raise _TooLong()
            return None
        if index > self.settings.max_line_bytes:
            raise _TooLong()
        line = bytes(self._buf[:index])
        del self._buf[: index + 1]
        return line[:-1] if line.endswith(b"\r") else line

    async def _read_line(self) -> bytes:
        while (line := self._take_line()) is None:
            await self._fill(self.settings.idle_timeout)
        return line

    async def _read_exact(self, size: int) -> bytes:
        while len(self._buf) < size:
            await self._fill(self.settings.idle_timeout)
        data = bytes(self._buf[:size])
        del self._buf[:size]
        return data

    def _untagged(self, line: bytes) -> None:
        self._out.append(b"* " + line + CRLF)

    def _tagged(self, tag: str, result: str, text: str) -> None:
        self._out.append(tag.encode("ascii") + b" " + result.encode("ascii") + b" " + _safe_text(text) + CRLF)

    async def _flush(self) -> None:
        if self._out:
            data = b"".join(self._out)
            self._out.clear()
            self.writer.write(data)
            await self.writer.drain()

    async def say_bye(self, text: str) -> None:
        if self._bye_sent or self.writer.is_closing():
            return
        self._bye_sent = True
        self._untagged(b"BYE " + _safe_text(text))
        with contextlib.suppress(OSError, TimeoutError, ssl.SSLError):
            await asyncio.wait_for(self._flush(), 2.0)

    async def close(self, graceful: bool = True) -> None:
        """Close the connection; when the listener stops, a peer slow to close TLS must not hold it up."""
        try:
            if not graceful:
                await asyncio.wait_for(self.writer.drain(), 0.5)
                self.writer.transport.abort()
                return
            self.writer.close()
            await asyncio.wait_for(self.writer.wait_closed(), 2.0)
        except (OSError, TimeoutError, ssl.SSLError):
            self.writer.transport.abort()

    def _emit(self, tag: str, command: str, arguments: str, result: str, detail: str) -> None:
        if self.server.on_command is None:
            return
        event = {
            "tag": tag,
            "command": command,
            "arguments": arguments,
            "user": self.principal.user if self.principal else self.user,
            "method": self.method,
            "mailbox": self.selected[0] if self.selected else self.address,
            "folder": self.selected[1] if self.selected else None,
            "result": result,
            "detail": detail,
            "tls": self.tls,
            "client_subject": self._client_subject(),
        }
        if self.principal is not None and self.principal.session_key is not None:
            event["session_key"] = self.principal.session_key
        try:
            self.server.on_command(event)
        except Exception:  # the recorder's failure must not take the client's session down
            log.exception("IMAP on_command callback failed for %s", command)

    def _client_subject(self) -> str | None:
        der = self._peer_der()
        if not der:
            return None
        if self._subject is None or self._subject[0] != der:
            try:
                subject: str | None = x509.load_der_x509_certificate(der).subject.rfc4514_string()
            except ValueError:
                subject = "unparsable certificate"
            self._subject = (der, subject)
        return self._subject[1]

    def _peer_der(self) -> bytes | None:
        ssl_object = self.writer.get_extra_info("ssl_object")
        if ssl_object is None:
            return None
        der = ssl_object.getpeercert(binary_form=True)
        return der if isinstance(der, bytes) else None
