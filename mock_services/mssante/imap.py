"""The MSSanté operator's IMAP service: an IMAP4rev1 subset (RFC 3501) over the shared mail store.

Products read their MSSanté mailbox over IMAP (implicit TLS, port 993 style; or STARTTLS on a
port 143 style listener), so the mock has to speak enough IMAP for imaplib, curl, JavaMail-like
and Thunderbird-like clients, and record every command it handles (``on_command``).

Supported: CAPABILITY, NOOP, LOGOUT, ID, STARTTLS, LOGIN, AUTHENTICATE (PLAIN, XOAUTH2,
OAUTHBEARER, EXTERNAL; SASL-IR), SELECT, EXAMINE, LIST, LSUB, STATUS, NAMESPACE, CREATE, DELETE
(of an empty folder created here), SUBSCRIBE/UNSUBSCRIBE (accepted, every folder is listed as
subscribed), APPEND, IDLE, CHECK, CLOSE, UNSELECT, EXPUNGE, SEARCH, FETCH, STORE, COPY, MOVE, and
UID FETCH/SEARCH/STORE/COPY/MOVE/EXPUNGE (UIDPLUS: APPENDUID, COPYUID). Literals ``{n}`` and
``{n+}`` (LITERAL+) at the end of any line of a command. Not supported: RENAME (NO [CANNOT]), ENABLE,
CONDSTORE/QRESYNC, LIST-EXTENDED, BINARY, COMPRESS, SORT/THREAD, MULTIAPPEND, modified UTF-7
decoding of folder names (names are passed through as stored).

Choices, and why:

* A principal may own several mailboxes (an ORG certificate often maps to several). The default
  one (the login name when it is one of them, else the first in sorted order) is the top-level
  namespace (``INBOX``, ``Sent``...); the others appear as ``<address>/INBOX`` and so on, so one
  session can reach all of them without inventing a proxy-authentication scheme.
* ``INBOX`` and ``Sent`` always exist, so a product can save what it sent without a CREATE;
  other folders exist when the store holds messages in them or after a CREATE, which is only
  remembered in memory (APPEND to an unknown folder answers NO [TRYCREATE], as RFC 3501 asks).
* Messages are served byte for byte as stored; the store does not keep an internal date for
  APPEND and COPY, so those get the time of the copy.
* \\Recent is session state only: the first session that selects a folder after a message arrived
  sees it as recent.
* UID EXPUNGE and MOVE expunge only their own messages: the store can only expunge every
  \\Deleted message of a folder, so the other \\Deleted flags are lifted for the duration, under
  the server's lock.
* Limits (line length, literal size, idle time, authentication failures) are enforced per
  connection; anything unexpected closes that connection only, never the listener.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import dataclasses
import datetime as dt
import email.header
import email.utils
import json
import logging
import re
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.message import Message
from typing import Any, Protocol, TypeAlias

from cryptography import x509

from harness.protocols.mockserver import LOOPBACK, ServerStartError, listening_socket
from mock_services.mssante.store import MailStore, StoredMessage

log = logging.getLogger(__name__)

CRLF = b"\r\n"
_CHUNK = 256 * 1024
_MAX_MIME_DEPTH = 20
_MAX_MIME_PARTS = 500
_SYSTEM_FLAGS = ("\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft")
_FLAG_NAMES = {f.upper(): f for f in (*_SYSTEM_FLAGS, "\\Recent")}
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_LITERAL_RE = re.compile(rb"\{(\d+)(\+)?\}$")
_TAG_FORBIDDEN = frozenset(b'(){%*"\\+')
_ATOM_FORBIDDEN = frozenset(b'(){%*"\\] ')
_SEQ_RANGE_RE = re.compile(r"(\d+|\*)(?::(\d+|\*))?")
_SECTION_RE = re.compile(
    r"(?:(?P<nums>[1-9]\d*(?:\.[1-9]\d*)*)(?:\.(?P<t1>HEADER\.FIELDS\.NOT|HEADER\.FIELDS|HEADER|TEXT|MIME))?"
    r"|(?P<t2>HEADER\.FIELDS\.NOT|HEADER\.FIELDS|HEADER|TEXT))?"
)
_BODY_ITEM_RE = re.compile(r"(BODY|BODY\.PEEK)\[(.*)\](?:<(\d+)\.([1-9]\d*)>)?", re.IGNORECASE | re.DOTALL)
_DATE_RE = re.compile(r"(\d{1,2})-([A-Za-z]{3})-(\d{4})")
_DATE_TIME_RE = re.compile(r" ?\d{1,2}-[A-Za-z]{3}-\d{4} \d\d:\d\d:\d\d [+-]\d{4}")
_SASL_MECHANISMS = ("PLAIN", "XOAUTH2", "OAUTHBEARER", "EXTERNAL")
_HANDSHAKE_TIMEOUT = 30.0


# -- public API ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Principal:
    """Who authenticated, and which MSSanté mailboxes that gives access to."""

    user: str  # the login name used (an MSSanté address)
    mailboxes: frozenset[str]  # addresses this principal may open (lower case)
    method: str  # "LOGIN", "PLAIN", "XOAUTH2", "OAUTHBEARER", "EXTERNAL"


class Authenticator(Protocol):
    """The operator's rules; the IMAP server only carries the credentials to them."""

    def password(self, user: str, password: str) -> Principal | None: ...

    def bearer(self, user: str, token: str, mechanism: str) -> Principal | None: ...

    def certificate(self, der: bytes | None, user: str | None) -> Principal | None: ...


@dataclass
class ImapSettings:
    """One listener's limits and policy: every wait and every buffer is bounded by one of these."""

    max_line_bytes: int = 64 * 1024
    max_literal_bytes: int = 32 * 1024 * 1024
    idle_timeout: float = 300.0  # any wait for the client, IDLE included
    allow_plaintext_auth: bool = False  # LOGIN/AUTHENTICATE refused before TLS (LOGINDISABLED advertised)
    max_auth_failures: int = 5  # then BYE: a mock must not become a password oracle
    idle_poll_interval: float = 0.5  # how often IDLE looks at the store for new or expunged messages
    # SASL mechanisms offered (operators differ; curl 7.x picks OAUTHBEARER whenever it is offered,
    # whatever AUTH= it was given, so an XOAUTH2-only listener is the way to test curl's XOAUTH2).
    sasl_mechanisms: tuple[str, ...] = _SASL_MECHANISMS
    greeting: str = "MSSante IMAP (segur-harness mock) ready"


CommandEvent = dict[str, Any]


class ImapServer:
    """Serves IMAP sessions over one :class:`MailStore`; one instance may serve several listeners.

    ``on_command`` receives one dict per command handled, before its tagged response is sent
    (so that what the client saw is recorded): ``tag``, ``command`` (``"UID FETCH"``...),
    ``arguments`` (rendered; passwords and SASL data replaced by ``***``, literals by their
    size), ``user``, ``method``, ``mailbox`` (the MSSanté address in use), ``folder``,
    ``result`` (``OK``/``NO``/``BAD``), ``detail`` (the response text), ``tls`` and
    ``client_subject`` (the TLS client certificate's subject, if any).
    """

    def __init__(
        self,
        store: MailStore,
        authenticator: Authenticator,
        settings: ImapSettings | None = None,
        on_command: Callable[[CommandEvent], None] | None = None,
    ):
        self.store = store
        self.authenticator = authenticator
        self.settings = settings or ImapSettings()
        self.on_command = on_command
        # Listeners run on their own event loops (threads): shared state and multi-step store
        # updates happen under this lock.
        self.lock = threading.RLock()
        self._created: dict[str, set[str]] = {}
        self._recent_high: dict[tuple[str, str], int] = {}

    async def handle(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        tls: bool,
        starttls_context: ssl.SSLContext | None,
    ) -> None:
        """Run one client connection to its end; never raises for what the client did."""
        session = _Session(self, reader, writer, tls, starttls_context)
        graceful = True
        try:
            await session.run()
        except (_Eof, ConnectionError, ssl.SSLError, asyncio.IncompleteReadError) as exc:
            log.debug("IMAP connection ended: %r", exc)
        except asyncio.CancelledError:  # the listener is stopping
            graceful = False
            session.writer.write(b"* BYE Server shutting down\r\n")
            raise
        except Exception:
            log.exception("IMAP session failed; closing that connection")
            await session.say_bye("Internal server error")
        finally:
            await session.close(graceful)

    # -- folders (shared by all sessions) -------------------------------------------------

    def folders(self, address: str) -> list[str]:
        with self.lock:
            names = {"INBOX", "Sent", *self.store.folders(address), *self._created.get(address, ())}
        return sorted(names, key=lambda name: (name != "INBOX", name))

    def create_folder(self, address: str, folder: str) -> None:
        with self.lock:
            self._created.setdefault(address, set()).add(folder)

    def delete_folder(self, address: str, folder: str) -> bool:
        with self.lock:
            created = self._created.get(address, set())
            if folder not in created or self.store.messages(address, folder):
                return False
            created.discard(folder)
            return True

    def take_recent(self, address: str, folder: str, uids: Iterable[int], consume: bool) -> set[int]:
        """The UIDs no earlier session has seen; a read-write session takes them for itself."""
        with self.lock:
            high = self._recent_high.get((address, folder), 0)
            recent = {uid for uid in uids if uid > high}
            if consume and recent:
                self._recent_high[(address, folder)] = max(recent)
            return recent

    def peek_recent(self, address: str, folder: str, uids: Iterable[int]) -> int:
        with self.lock:
            high = self._recent_high.get((address, folder), 0)
        return sum(1 for uid in uids if uid > high)


@dataclass
class ServedImap:
    """A running IMAP listener (like :class:`harness.protocols.mockserver.ServedApp`)."""

    host: str
    port: int
    implicit_tls: bool
    _loop: asyncio.AbstractEventLoop = field(repr=False)
    _thread: threading.Thread = field(repr=False)
    _stop: asyncio.Event | None = field(default=None, repr=False)
    errors: list[BaseException] = field(default_factory=list, repr=False)

    def stop(self, timeout: float = 10.0) -> None:
        if not self._thread.is_alive():
            return
        stop = self._stop
        if stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended on its own
                self._loop.call_soon_threadsafe(stop.set)
        self._thread.join(timeout)

    def __enter__(self) -> ServedImap:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_imap(
    server: ImapServer,
    *,
    host: str = LOOPBACK,
    port: int = 0,
    ssl_context: ssl.SSLContext | None = None,
    implicit_tls: bool = True,
    startup_timeout: float = 10.0,
) -> ServedImap:
    """Run one IMAP listener in a daemon thread; returns once it accepts connections.

    ``implicit_tls=True`` needs ``ssl_context`` (TLS from the first byte); with
    ``implicit_tls=False`` the greeting is plaintext and ``ssl_context``, when given, serves
    STARTTLS. A server context with ``CERT_OPTIONAL`` lets clients authenticate with
    AUTHENTICATE EXTERNAL.
    """
    if implicit_tls and ssl_context is None:
        raise ValueError("implicit TLS needs an ssl_context")
    sock = listening_socket("imap", host, port)
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    served = ServedImap(host, sock.getsockname()[1], implicit_tls, loop, threading.Thread())
    starttls_context = None if implicit_tls else ssl_context

    async def main() -> None:
        stop = asyncio.Event()
        served._stop = stop
        connections: set[asyncio.Task[Any]] = set()

        async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            # Implicit TLS is negotiated here rather than by start_server(ssl=...): a connection
            # still in its handshake then belongs to a task that stop() can cancel and close
            # (asyncio 3.11 has no Server.close_clients()). No byte can be missed: start_tls
            # pauses reading before this task first yields.
            task = asyncio.current_task()
            if task is not None:
                connections.add(task)
            try:
                if implicit_tls and ssl_context is not None:
                    try:
                        await writer.start_tls(ssl_context, ssl_handshake_timeout=_HANDSHAKE_TIMEOUT)
                    except (OSError, TimeoutError) as exc:  # ssl.SSLError is an OSError
                        log.debug("IMAP TLS handshake failed: %r", exc)
                        return
                await server.handle(reader, writer, tls=implicit_tls, starttls_context=starttls_context)
            except asyncio.CancelledError:
                # The listener is stopping. Ending normally matters on 3.11: the done-callback
                # asyncio adds to this task calls task.exception(), which raises (and is logged
                # as an error) for a cancelled task.
                pass
            finally:
                if not writer.transport.is_closing():
                    writer.transport.abort()
                if task is not None:
                    connections.discard(task)

        listener = await asyncio.start_server(on_client, sock=sock)
        ready.set()
        try:
            await stop.wait()
        finally:
            listener.close()
            for task in list(connections):
                task.cancel()
            await asyncio.gather(*connections, return_exceptions=True)
            await listener.wait_closed()

    def run() -> None:
        try:
            loop.run_until_complete(main())
        except BaseException as exc:  # reported to the caller, never swallowed
            served.errors.append(exc)
            ready.set()
        finally:
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()
                sock.close()

    served._thread = threading.Thread(target=run, name=f"segur-imap-{served.port}", daemon=True)
    served._thread.start()
    if not ready.wait(startup_timeout) or served.errors:
        served.stop()
        reason = served.errors[0] if served.errors else f"not listening within {startup_timeout} s"
        raise ServerStartError(f"imap did not start: {reason}")
    return served


# -- protocol parsing ------------------------------------------------------------------------


class Literal(bytes):
    """A string the client sent as a literal (APPEND wants its message as one)."""


Token: TypeAlias = "str | bytes | list[Token]"


class _Bad(Exception):
    """Malformed or out-of-state command: a tagged BAD with this text."""


class _No(Exception):
    """A refused command: a tagged NO with this text (which may start with a response code)."""


class _Eof(Exception):
    """The client went away; ``outcome`` is what to record when the command's fate was already known."""

    def __init__(self, outcome: tuple[str, str] | None = None):
        super().__init__(outcome)
        self.outcome = outcome


class _TooLong(Exception):
    """A line longer than the limit: BAD and close, since the rest of the line cannot be trusted."""


def _tokenize(data: bytes, literals: list[bytes]) -> list[Token]:
    """Atoms (str), strings (bytes, :class:`Literal` for literals) and parenthesised lists.

    A NUL byte in ``data`` marks where a literal was received (clients cannot send NUL in a
    command line, the reader refuses them). An atom that opens ``[`` runs to its ``]``, so
    ``BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.10>`` is one token.
    """
    pending = iter(literals)
    stack: list[list[Token]] = [[]]
    pos, end = 0, len(data)
    while pos < end:
        c = data[pos]
        if c == 0x20:
            pos += 1
        elif c == 0x28:
            inner: list[Token] = []
            stack[-1].append(inner)
            stack.append(inner)
            pos += 1
        elif c == 0x29:
            if len(stack) == 1:
                raise _Bad("Unbalanced parenthesis")
            stack.pop()
            pos += 1
        elif c == 0x00:
            literal = next(pending, None)
            if literal is None:
                raise _Bad("Literal marker without a literal")
            stack[-1].append(Literal(literal))
            pos += 1
        elif c == 0x22:
            pos += 1
            out = bytearray()
            while True:
                if pos >= end:
                    raise _Bad("Unterminated quoted string")
                c = data[pos]
                if c == 0x22:
                    pos += 1
                    break
                if c == 0x5C:
                    if pos + 1 >= end or data[pos + 1] not in (0x22, 0x5C):
                        raise _Bad("Invalid escape in quoted string")
                    out.append(data[pos + 1])
                    pos += 2
                    continue
                if c == 0x00:
                    raise _Bad("Literal inside a quoted string")
                out.append(c)
                pos += 1
            stack[-1].append(bytes(out))
        elif c == 0x7B:
            raise _Bad("Literal not at the end of a line")
        else:
            start, depth = pos, 0
            while pos < end:
                c = data[pos]
                if c == 0x5B:
                    depth += 1
                elif c == 0x5D and depth:
                    depth -= 1
                elif c < 0x20 or c == 0x7F:
                    raise _Bad("Control character in command")
                elif depth == 0 and c in b' ()"{':
                    break
                pos += 1
            if depth:
                raise _Bad("Unbalanced bracket")
            try:
                stack[-1].append(data[start:pos].decode("utf-8"))
            except UnicodeDecodeError:
                raise _Bad("Invalid UTF-8 in atom") from None
    if len(stack) != 1:
        raise _Bad("Unbalanced parenthesis")
    return stack[0]


def _tag_of(line: bytes) -> str:
    """The command's tag, or ``*`` when there is none (a line that is one word, say a SASL blob
    sent out of turn, is not a command: echoing or recording it could leak a credential)."""
    first, space, _ = line.partition(b" ")
    if space and 0 < len(first) <= 64 and all(0x21 <= c <= 0x7E and c not in _TAG_FORBIDDEN for c in first):
        return first.decode("ascii")
    return "*"


def _astring(token: Token) -> str:
    if isinstance(token, bytes):
        try:
            return token.decode("utf-8")
        except UnicodeDecodeError:
            raise _Bad("Invalid UTF-8 in string") from None
    if isinstance(token, str):
        return token
    raise _Bad("Expected a string, got a list")


def _atom(token: Token) -> str:
    if not isinstance(token, str):
        raise _Bad("Expected an atom")
    return token


def _number(token: Token) -> int:
    text = _atom(token)
    if not text.isdigit() or len(text) > 10:
        raise _Bad(f"Expected a number, got {text[:40]}")
    return int(text)


def _render(token: Token) -> str:
    """A token as it would appear in a command, for the record (literals by size only)."""
    if isinstance(token, Literal):
        return f"{{{len(token)}}}"
    if isinstance(token, bytes):
        text = token.decode("utf-8", "replace").replace("\\", "\\\\").replace('"', '\\"')
        return f'"{text}"'
    if isinstance(token, list):
        return "(" + " ".join(_render(t) for t in token) + ")"
    return token


SeqSet = list[tuple[int | None, int | None]]  # None stands for "*"


def _parse_set(text: str) -> SeqSet:
    ranges: SeqSet = []
    for piece in text.split(","):
        match = _SEQ_RANGE_RE.fullmatch(piece)
        if match is None:
            raise _Bad(f"Invalid sequence set {text[:60]}")
        bounds = [None if b == "*" else int(b) for b in match.groups(match.group(1))]
        if any(b == 0 for b in bounds):
            raise _Bad("Message numbers start at 1")
        ranges.append((bounds[0], bounds[1]))
    return ranges


def _in_set(ranges: SeqSet, number: int, star: int) -> bool:
    for low, high in ranges:
        a = star if low is None else low
        b = star if high is None else high
        if min(a, b) <= number <= max(a, b):
            return True
    return False


def _compact(numbers: Iterable[int]) -> str:
    """``1,2,3,7`` as ``1:3,7`` (COPYUID and APPENDUID sets)."""
    out: list[str] = []
    values = sorted(numbers)
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and values[j + 1] == values[j] + 1:
            j += 1
        out.append(str(values[i]) if i == j else f"{values[i]}:{values[j]}")
        i = j + 1
    return ",".join(out)


def _is_set(text: str) -> bool:
    return all(_SEQ_RANGE_RE.fullmatch(piece) for piece in text.split(","))


# -- response formatting ---------------------------------------------------------------------


def _nstring(value: bytes | str | None) -> bytes:
    """NIL, a quoted string, or a literal when quoting cannot carry the bytes."""
    if value is None:
        return b"NIL"
    data = value if isinstance(value, bytes) else value.encode("utf-8")
    if len(data) > 1024 or any(c >= 0x80 or c in (0, 10, 13) for c in data):
        return b"{%d}\r\n" % len(data) + data
    return b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def _literal(data: bytes) -> bytes:
    return b"{%d}\r\n" % len(data) + data


def _flags_out(flags: Iterable[str]) -> bytes:
    ordered = sorted(flags, key=lambda f: (not f.startswith("\\"), f))
    return b"(" + " ".join(ordered).encode("utf-8") + b")"


def _internal_date(timestamp: float) -> bytes:
    t = time.gmtime(timestamp)
    text = f"{t.tm_mday:2d}-{_MONTHS[t.tm_mon - 1]}-{t.tm_year:04d} {t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"
    return f'"{text}"'.encode("ascii")


def _safe_text(text: str) -> bytes:
    """Response text: one line of ASCII, whatever the client put in the names it sent."""
    return text.replace("\r", " ").replace("\n", " ").encode("ascii", "replace")


# -- MIME structure over the raw bytes (BODY[section], BODYSTRUCTURE, ENVELOPE, SEARCH) --------


@dataclass
class _Part:
    header: bytes  # the header block, with the empty line that ends it
    body: bytes
    blocks: list[tuple[str, bytes]]  # (lower-case field name, raw field with its folding)
    content_type: str
    children: list[_Part]
    meta: Message  # Content-* fields, decoded as Latin-1 so that bytes survive a round trip

    def get(self, name: str) -> bytes | None:
        for field_name, block in self.blocks:
            if field_name == name:
                return _unfold(block)
        return None

    def get_all(self, name: str) -> list[bytes]:
        return [_unfold(block) for field_name, block in self.blocks if field_name == name]

    @property
    def is_multipart(self) -> bool:
        return self.content_type.startswith("multipart/")


def _unfold(block: bytes) -> bytes:
    value = block.split(b":", 1)[1] if b":" in block else b""
    return re.sub(rb"\r?\n", b"", value).strip()


def _split_header(raw: bytes) -> tuple[bytes, bytes]:
    if raw.startswith(CRLF):
        return raw[:2], raw[2:]
    if raw.startswith(b"\n"):
        return raw[:1], raw[1:]
    ends = [(i, 4) for i in [raw.find(b"\r\n\r\n")] if i >= 0] + [(i, 2) for i in [raw.find(b"\n\n")] if i >= 0]
    if not ends:
        return raw, b""
    index, size = min(ends)
    return raw[: index + size], raw[index + size :]


def _header_blocks(header: bytes) -> list[tuple[str, bytes]]:
    blocks: list[list[Any]] = []
    for line in header.splitlines(keepends=True):
        if line in (CRLF, b"\n"):
            break
        if line[:1] in (b" ", b"\t") and blocks:
            blocks[-1][1] += line
        else:
            blocks.append([line.split(b":", 1)[0].strip().lower().decode("latin-1"), line])
    return [(name, bytes(block)) for name, block in blocks]


def _split_multipart(body: bytes, boundary: bytes) -> list[bytes]:
    delimiter = re.compile(rb"(?:\A|\r?\n)--" + re.escape(boundary) + rb"(--)?[ \t]*(?:\r?\n|\Z)")
    parts: list[bytes] = []
    start: int | None = None
    for match in delimiter.finditer(body):
        if start is not None:
            parts.append(body[start : match.start()])
        if match.group(1):
            return parts
        start = match.end()
    if start is not None:  # no closing delimiter: what follows the last one is the last part
        parts.append(body[start:])
    return parts


def _parse_part(raw: bytes, default_type: str = "text/plain", depth: int = 0, budget: list[int] | None = None) -> _Part:
    budget = budget if budget is not None else [_MAX_MIME_PARTS]
    budget[0] -= 1
    header, body = _split_header(raw)
    blocks = _header_blocks(header)
    meta = Message()
    meta.set_default_type(default_type)
    for name, block in blocks:
        if name.startswith("content-"):
            meta[name] = _unfold(block).decode("latin-1")
    content_type = meta.get_content_type()
    children: list[_Part] = []
    if depth < _MAX_MIME_DEPTH and budget[0] > 0:
        boundary = meta.get_param("boundary") if content_type.startswith("multipart/") else None
        if isinstance(boundary, str) and boundary:
            child_type = "message/rfc822" if content_type == "multipart/digest" else "text/plain"
            for chunk in _split_multipart(body, boundary.encode("latin-1")):
                if budget[0] <= 0:
                    break
                children.append(_parse_part(chunk, child_type, depth + 1, budget))
        elif content_type == "message/rfc822":
            children.append(_parse_part(body, "text/plain", depth + 1, budget))
    return _Part(header, body, blocks, content_type, children, meta)


def _params(meta: Message, header: str) -> list[tuple[str, str]]:
    params = meta.get_params(header=header)
    if not params:
        return []
    return [(k.lower(), email.utils.collapse_rfc2231_value(v)) for k, v in params[1:] if k]


def _header_bytes(text: str) -> bytes:
    """Back to the bytes of the header (read as Latin-1); RFC 2231 values decoded to Unicode go out as UTF-8."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


def _params_out(params: list[tuple[str, str]]) -> bytes:
    if not params:
        return b"NIL"
    return b"(" + b" ".join(_nstring(k) + b" " + _nstring(_header_bytes(v)) for k, v in params) + b")"


def _addresses(values: list[bytes]) -> bytes:
    out = []
    for name, address in email.utils.getaddresses([v.decode("latin-1") for v in values]):
        if not name and not address:
            continue
        local, at, host = address.rpartition("@")
        if not at:
            local, host = address, ""
        out.append(
            b"("
            + b" ".join(
                (
                    _nstring(name.encode("latin-1", "replace") or None),
                    b"NIL",
                    _nstring(local.encode("latin-1", "replace")),
                    _nstring(host.encode("latin-1", "replace") or None),
                )
            )
            + b")"
        )
    return b"(" + b"".join(out) + b")" if out else b"NIL"


def _envelope(part: _Part) -> bytes:
    sender_fields = part.get_all("from")
    items = [
        _nstring(part.get("date")),
        _nstring(part.get("subject")),
        _addresses(sender_fields),
        _addresses(part.get_all("sender") or sender_fields),
        _addresses(part.get_all("reply-to") or sender_fields),
        _addresses(part.get_all("to")),
        _addresses(part.get_all("cc")),
        _addresses(part.get_all("bcc")),
        _nstring(part.get("in-reply-to")),
        _nstring(part.get("message-id")),
    ]
    return b"(" + b" ".join(items) + b")"


def _disposition(part: _Part) -> bytes:
    value = part.meta.get("content-disposition")
    if not value:
        return b"NIL"
    kind = str(value).split(";", 1)[0].strip().lower() or "attachment"
    return b"(" + _nstring(kind) + b" " + _params_out(_params(part.meta, "content-disposition")) + b")"


def _bodystructure(part: _Part, extended: bool) -> bytes:
    if part.is_multipart and part.children:
        inner = b"".join(_bodystructure(child, extended) for child in part.children)
        items = [inner, _nstring(part.content_type.split("/", 1)[1])]
        if extended:
            items += [
                _params_out(_params(part.meta, "content-type")),
                _disposition(part),
                _nstring(part.get("content-language")),
                _nstring(part.get("content-location")),
            ]
        return b"(" + b" ".join(items) + b")"
    maintype, _, subtype = part.content_type.partition("/")
    if part.is_multipart:  # no usable boundary: describe the bytes as opaque
        maintype, subtype = "application", "octet-stream"
    params = _params(part.meta, "content-type")
    if maintype == "text" and not any(k == "charset" for k, _ in params):
        params.append(("charset", "us-ascii"))
    encoding = part.get("content-transfer-encoding")
    fields = [
        _nstring(maintype),
        _nstring(subtype),
        _params_out(params),
        _nstring(part.get("content-id")),
        _nstring(part.get("content-description")),
        _nstring(encoding.upper() if encoding else b"7BIT"),
        str(len(part.body)).encode(),
    ]
    if part.content_type == "message/rfc822" and part.children:
        fields += [_envelope(part.children[0]), _bodystructure(part.children[0], extended)]
    if maintype == "text" or (part.content_type == "message/rfc822" and part.children):
        fields.append(str(part.body.count(b"\n")).encode())
    if extended:
        fields += [
            _nstring(part.get("content-md5")),
            _disposition(part),
            _nstring(part.get("content-language")),
            _nstring(part.get("content-location")),
        ]
    return b"(" + b" ".join(fields) + b")"


@dataclass(frozen=True)
class _Item:
    """One FETCH data item, parsed."""

    name: str  # FLAGS, UID, ..., or BODY[] for any section
    numbers: tuple[int, ...] = ()
    text: str = ""  # "", HEADER, HEADER.FIELDS, HEADER.FIELDS.NOT, TEXT, MIME
    fields: tuple[str, ...] = ()
    partial: tuple[int, int] | None = None
    peek: bool = True
    label: str = ""

    @property
    def sets_seen(self) -> bool:
        return not self.peek


_MACROS = {
    "ALL": ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"),
    "FAST": ("FLAGS", "INTERNALDATE", "RFC822.SIZE"),
    "FULL": ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"),
}
_SIMPLE_ITEMS = {"FLAGS", "UID", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODYSTRUCTURE", "BODY", "RFC822.HEADER"}


def _fetch_items(token: Token) -> list[_Item]:
    if isinstance(token, str) and token.upper() in _MACROS:
        return [_Item(name) for name in _MACROS[token.upper()]]
    elements = token if isinstance(token, list) else [token]
    if not elements:
        raise _Bad("Empty FETCH item list")
    items: list[_Item] = []
    for element in elements:
        name = _atom(element)
        upper = name.upper()
        if upper in _SIMPLE_ITEMS:
            items.append(_Item(upper))
        elif upper in ("RFC822", "RFC822.TEXT"):
            items.append(_Item(upper, peek=False))
        elif (match := _BODY_ITEM_RE.fullmatch(name)) is not None:
            items.append(_body_item(match))
        else:
            raise _Bad(f"Unknown FETCH item {name[:60]}")
    return items


def _body_item(match: re.Match[str]) -> _Item:
    spec_tokens = _tokenize(match.group(2).encode("utf-8"), [])
    spec = _atom(spec_tokens[0]).upper() if spec_tokens else ""
    section = _SECTION_RE.fullmatch(spec)
    if section is None:
        raise _Bad(f"Invalid section {spec[:60]}")
    numbers = tuple(int(n) for n in section.group("nums").split(".")) if section.group("nums") else ()
    text = section.group("t1") or section.group("t2") or ""
    fields: tuple[str, ...] = ()
    if text.startswith("HEADER.FIELDS"):
        if len(spec_tokens) != 2 or not isinstance(spec_tokens[1], list) or not spec_tokens[1]:
            raise _Bad("HEADER.FIELDS needs a list of field names")
        fields = tuple(_astring(t) for t in spec_tokens[1])
    elif len(spec_tokens) > 1:
        raise _Bad(f"Invalid section {match.group(2)[:60]}")
    label = spec + (" (" + " ".join(_field_label(f) for f in fields) + ")" if fields else "")
    partial = (int(match.group(3)), int(match.group(4))) if match.group(3) else None
    label = f"BODY[{label}]" + (f"<{partial[0]}>" if partial else "")
    return _Item("BODY[]", numbers, text, fields, partial, match.group(1).upper() == "BODY.PEEK", label)


def _field_label(name: str) -> str:
    if name and all(0x21 <= ord(c) <= 0x7E and ord(c) not in _ATOM_FORBIDDEN for c in name):
        return name
    return _nstring(name).decode("utf-8", "replace")


def _section(root: _Part, raw: bytes, item: _Item) -> bytes:
    """The bytes of ``BODY[section]``; empty when the message has no such part."""
    if not item.numbers and item.text == "":
        return raw
    target = root
    if item.numbers:
        part = root
        for depth, number in enumerate(item.numbers):
            container = part
            if depth and part.content_type == "message/rfc822" and part.children:
                container = part.children[0]
            if container.is_multipart:
                if number > len(container.children):
                    return b""
                part = container.children[number - 1]
            elif number == 1:
                part = container
            else:
                return b""
        if item.text == "":
            return part.body
        if item.text == "MIME":
            return part.header
        if part.content_type != "message/rfc822" or not part.children:
            return b""
        target = part.children[0]
    if item.text == "HEADER":
        return target.header
    if item.text == "TEXT":
        return target.body
    wanted = {f.lower() for f in item.fields}
    keep = item.text == "HEADER.FIELDS"
    return b"".join(block for name, block in target.blocks if (name in wanted) == keep) + CRLF


def _header_matches(part: _Part, name: str, needle: str) -> bool:
    values = part.get_all(name.lower())
    if not needle:
        return bool(values)
    for value in values:
        text = value.decode("latin-1")
        try:
            decoded = str(email.header.make_header(email.header.decode_header(text)))
        except (ValueError, LookupError, UnicodeError):
            decoded = text
        as_utf8 = value.decode("utf-8", "replace")
        if any(needle in candidate.casefold() for candidate in (text, decoded, as_utf8)):
            return True
    return False


def _search_date(token: Token) -> dt.date:
    match = _DATE_RE.fullmatch(_astring(token))
    month = match.group(2).capitalize() if match else ""
    if match is None or month not in _MONTHS:
        raise _Bad("Invalid date (expected d-Mon-yyyy)")
    try:
        return dt.date(int(match.group(3)), _MONTHS.index(month) + 1, int(match.group(1)))
    except ValueError:
        raise _Bad("Invalid date") from None


def _sent_date(part: _Part) -> dt.date | None:
    value = part.get("date")
    if value is None:
        return None
    try:
        return email.utils.parsedate_to_datetime(value.decode("latin-1")).date()
    except (TypeError, ValueError, IndexError):
        return None


def _canonical_flag(token: Token) -> str:
    name = _atom(token)
    if name.startswith("\\"):
        canonical = _FLAG_NAMES.get(name.upper())
        if canonical is None:
            raise _Bad(f"Unknown system flag {name[:40]}")
        return canonical
    if not name or any(ord(c) <= 0x20 or ord(c) >= 0x7F or ord(c) in _ATOM_FORBIDDEN for c in name):
        raise _Bad(f"Invalid keyword {name[:40]}")
    return name


def _flag_list(tokens: list[Token]) -> frozenset[str]:
    if len(tokens) == 1 and isinstance(tokens[0], list):
        tokens = tokens[0]
    return frozenset(_canonical_flag(t) for t in tokens) - {"\\Recent"}


def _sasl_bearer(blob: bytes, mechanism: str) -> tuple[str, str] | None:
    """(user, token) from XOAUTH2 (``user=..\\x01auth=Bearer ..``) or OAUTHBEARER (RFC 7628)."""
    text = blob.decode("utf-8", "replace")
    user = ""
    token = None
    if mechanism == "OAUTHBEARER":
        gs2, sep, text = text.partition("\x01")
        if not sep or not gs2.startswith(("n,", "y,", "p=")):
            return None
        for attribute in gs2.split(",")[1:]:
            if attribute.startswith("a="):
                user = attribute[2:].replace("=2C", ",").replace("=3D", "=")
    for pair in text.split("\x01"):
        key, _, value = pair.partition("=")
        if key == "user":
            user = value
        elif key == "auth" and value[:7].lower() == "bearer ":
            token = value[7:].strip()
    return (user, token) if token else None


# -- one connection --------------------------------------------------------------------------

Predicate = Callable[[int, StoredMessage], bool]
_ANY_STATE = {"CAPABILITY", "NOOP", "LOGOUT", "ID"}
_NOT_AUTHENTICATED = {"STARTTLS", "LOGIN", "AUTHENTICATE"}
_AUTHENTICATED = {
    "SELECT",
    "EXAMINE",
    "CREATE",
    "DELETE",
    "RENAME",
    "SUBSCRIBE",
    "UNSUBSCRIBE",
    "LIST",
    "LSUB",
    "STATUS",
    "APPEND",
    "NAMESPACE",
    "IDLE",
}
_SELECTED = {"CHECK", "CLOSE", "UNSELECT", "EXPUNGE", "SEARCH", "FETCH", "STORE", "COPY", "MOVE", "UID"}
_USES_VIEW = {"FETCH", "STORE", "SEARCH", "COPY", "MOVE", "EXPUNGE", "UID"}
# RFC 3501 §7.4.1: no EXPUNGE responses during FETCH, STORE or SEARCH (their UID forms are fine).
_NO_EXPUNGE_REPORT = {"FETCH", "STORE", "SEARCH"}
_NO_SYNC_AFTER = {"SELECT", "EXAMINE", "CLOSE", "UNSELECT", "LOGOUT"}


class _Session:
    def __init__(
        self,
        server: ImapServer,
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

    # -- the command loop --------------------------------------------------------------------

    async def run(self) -> None:
        self._untagged(b"OK [CAPABILITY " + self._capabilities() + b"] " + _safe_text(self.settings.greeting))
        await self._flush()
        try:
            while not self.closing:
                try:
                    incoming = await self._read_command()
                except _TooLong:
                    self._emit("*", "?", "", "BAD", "Line too long")
                    raise
                if incoming is not None:
                    await self._execute(*incoming)
        except _TooLong:  # the rest of the line cannot be told from a next command: BAD, then close
            self._untagged(b"BAD Line too long")
            await self.say_bye("Line too long")
        except TimeoutError:
            await self.say_bye("Autologout; idle for too long")
        else:
            await self.say_bye("Closing connection")

    async def _read_command(self) -> tuple[bytes, list[bytes], bool] | None:
        """The command's bytes (literals replaced by NUL markers), its literals, and whether it had a NUL."""
        segments: list[bytes] = []
        literals: list[bytes] = []
        line_total = literal_total = 0
        nul = False
        while True:
            line = await self._read_line()
            line_total += len(line)
            if line_total > self.settings.max_line_bytes:
                raise _TooLong()
            nul = nul or b"\x00" in line
            match = _LITERAL_RE.search(line)
            if match is None:
                segments.append(line)
                break
            segments.append(line[: match.start()])
            size, synchronizing = int(match.group(1)), match.group(2) is None
            if literal_total + size > self.settings.max_literal_bytes:
                tag = _tag_of(segments[0])
                words = segments[0].split(b" ")
                command = words[1].decode("ascii", "replace").upper() if len(words) > 1 else "?"
                limit = f"[TOOBIG] Literal larger than {self.settings.max_literal_bytes} bytes"
                if synchronizing:  # the client waits for "+" and will not send the bytes
                    self._emit(tag, command, "", "NO", limit)
                    self._tagged(tag, "NO", limit)
                    await self._flush()
                    return None
                # LITERAL+: the bytes are on their way and there is no reading past them safely
                self._emit(tag, command, "", "BAD", limit)
                self._tagged(tag, "BAD", limit)
                self.closing = True
                return None
            if synchronizing:
                self._out.append(b"+ Ready for literal data\r\n")
                await self._flush()
            literals.append(await self._read_exact(size))
            literal_total += size
        if not any(segments) and not literals:
            return None  # a blank line: nothing to answer
        return b"\x00".join(segments), literals, nul

    async def _execute(self, data: bytes, literals: list[bytes], nul: bool) -> None:
        tag, command, arguments = _tag_of(data), "?", ""
        result, text = "BAD", "Invalid command"
        aborted = False
        self._answered = False
        try:
            if nul:
                raise _Bad("NUL byte in command")
            tokens = _tokenize(data, literals)
            if tag == "*" or len(tokens) < 2 or not isinstance(tokens[1], str):
                raise _Bad("Expected: tag command [arguments]")
            command = tokens[1].upper()
            args = tokens[2:]
            if command == "UID" and args and isinstance(args[0], str):
                command = f"UID {args[0].upper()}"
            arguments = self._describe(command, args)
            base = command.split(" ", 1)[0]
            self._check_state(base)
            if self.selected and base in _USES_VIEW:
                self._sync(allow_expunge=base not in _NO_EXPUNGE_REPORT)
            handler = getattr(self, f"_cmd_{base.lower()}")
            outcome = await handler(tag, args)
            if outcome is None:  # the handler already answered (STARTTLS)
                return
            result, text = outcome
        except _Bad as exc:
            result, text = "BAD", str(exc)
        except _No as exc:
            result, text = "NO", str(exc)
        except (_Eof, _TooLong, TimeoutError, ConnectionError, ssl.SSLError) as exc:
            result, text = f"BAD Aborted: {type(exc).__name__.lstrip('_')}".split(" ", 1)
            if isinstance(exc, _Eof) and exc.outcome is not None:
                result, text = exc.outcome
            aborted = True
            raise
        except Exception:
            log.exception("IMAP command %s failed", command)
            result, text = "BAD", "Internal server error"
            self.closing = True
        finally:
            if not self._answered:
                if self.selected and command.split(" ", 1)[0] not in _NO_SYNC_AFTER and result != "BAD":
                    self._sync(allow_expunge=command not in _NO_EXPUNGE_REPORT)
                self._emit(tag, command, arguments, result, text)
                if self.closing and not self._bye_sent and not aborted and command != "LOGOUT":
                    self._bye_sent = True
                    self._untagged(b"BYE " + _safe_text(text))
        self._tagged(tag, result, text)
        await self._flush()

    def _check_state(self, command: str) -> None:
        if command in _ANY_STATE:
            return
        if command in _NOT_AUTHENTICATED:
            if self.principal is not None:
                raise _Bad(f"{command} is only valid before authentication")
            return
        if command in _AUTHENTICATED or command in _SELECTED:
            if self.principal is None:
                raise _Bad(f"{command} needs an authenticated session")
            if command in _SELECTED and self.selected is None:
                raise _Bad(f"{command} needs a selected mailbox")
            return
        raise _Bad(f"Unknown command {command[:40]}")

    def _describe(self, command: str, args: list[Token]) -> str:
        """The arguments for the record, without secrets: passwords and SASL data become ***."""
        if command == "LOGIN":
            return " ".join([_render(args[0]) if args else "", "***"]).strip()
        if command == "AUTHENTICATE":
            return " ".join([_render(args[0]) if args else "", "***" if len(args) > 1 else ""]).strip()
        if command.startswith("UID "):
            args = args[1:]
        text = " ".join(_render(a) for a in args)
        return text if len(text) <= 300 else text[:297] + "..."

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
        try:
            self.server.on_command(event)
        except Exception:  # the recorder's failure must not take the client's session down
            log.exception("IMAP on_command callback failed for %s", command)

    # -- capabilities and authentication -----------------------------------------------------

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

    def _auth_allowed(self) -> bool:
        return self.tls or self.settings.allow_plaintext_auth

    def _capabilities(self) -> bytes:
        caps = ["IMAP4rev1", "LITERAL+", "ID", "IDLE", "NAMESPACE", "UIDPLUS", "MOVE", "UNSELECT", "CHILDREN"]
        caps.append("SPECIAL-USE")
        if self.principal is None:
            if not self.tls and self.starttls_context is not None:
                caps.append("STARTTLS")
            if self._auth_allowed():
                caps.append("SASL-IR")
                for mechanism in self.settings.sasl_mechanisms:
                    if mechanism != "EXTERNAL" or self._peer_der():
                        caps.append(f"AUTH={mechanism}")
            else:
                caps.append("LOGINDISABLED")
        return " ".join(caps).encode("ascii")

    async def _cmd_capability(self, tag: str, args: list[Token]) -> tuple[str, str]:
        if args:
            raise _Bad("CAPABILITY takes no arguments")
        self._untagged(b"CAPABILITY " + self._capabilities())
        return "OK", "CAPABILITY completed"

    async def _cmd_noop(self, tag: str, args: list[Token]) -> tuple[str, str]:
        return "OK", "NOOP completed"

    async def _cmd_check(self, tag: str, args: list[Token]) -> tuple[str, str]:
        return "OK", "CHECK completed"

    async def _cmd_logout(self, tag: str, args: list[Token]) -> tuple[str, str]:
        self._untagged(b"BYE Logging out")
        self._bye_sent = True
        self.closing = True
        return "OK", "LOGOUT completed"

    async def _cmd_id(self, tag: str, args: list[Token]) -> tuple[str, str]:
        if len(args) != 1:
            raise _Bad("ID takes one argument (a list or NIL)")
        self._untagged(b'ID ("name" "segur-harness MSSante mock" "vendor" "segur-harness")')
        return "OK", "ID completed"

    async def _cmd_starttls(self, tag: str, args: list[Token]) -> None:
        if self.tls:
            raise _Bad("TLS is already active")
        if self.starttls_context is None:
            raise _Bad("STARTTLS is not available on this listener")
        # Bytes the client sent after STARTTLS were sent in clear and must not be read as if they
        # came through TLS (command injection, CVE-2011-0411 style): stop reading and drop them.
        transport = self.writer.transport
        if isinstance(transport, asyncio.ReadTransport):
            transport.pause_reading()
        buffered = getattr(self.reader, "_buffer", None)
        injected = len(self._buf) + (len(buffered) if isinstance(buffered, bytearray) else 0)
        self._buf.clear()
        if isinstance(buffered, bytearray):
            buffered.clear()
        if injected:
            log.warning("IMAP STARTTLS: dropped %d bytes sent in clear after the command", injected)
        self._emit(tag, "STARTTLS", "", "OK", "Begin TLS negotiation now")
        self._tagged(tag, "OK", "Begin TLS negotiation now")
        self._answered = True
        await self._flush()
        await self.writer.start_tls(self.starttls_context)
        self.tls = True
        return None

    async def _cmd_login(self, tag: str, args: list[Token]) -> tuple[str, str]:
        if len(args) != 2:
            raise _Bad("LOGIN takes a user name and a password")
        user, password = _astring(args[0]), _astring(args[1])
        self.user, self.method = user, "LOGIN"
        if not self._auth_allowed():
            raise _No("[PRIVACYREQUIRED] LOGIN is disabled before STARTTLS")
        return self._logged_in(self.server.authenticator.password(user, password), None)

    def _logged_in(self, principal: Principal | None, authzid: str | None) -> tuple[str, str]:
        if principal is not None and authzid and authzid.lower() not in principal.mailboxes:
            self._failed()
            raise _No("[AUTHORIZATIONFAILED] Not allowed to open that mailbox")
        if principal is None or not principal.mailboxes:
            self._failed()
            raise _No("[AUTHENTICATIONFAILED] Authentication failed")
        preferred = [a for a in (authzid, principal.user) if a and a.lower() in principal.mailboxes]
        self.address = preferred[0].lower() if preferred else sorted(principal.mailboxes)[0]
        self.principal = principal  # self.method stays the mechanism actually used (PLAIN vs LOGIN)
        return "OK", f"[CAPABILITY {self._capabilities().decode()}] Logged in as {principal.user}"

    def _failed(self) -> None:
        self.auth_failures += 1
        if self.auth_failures >= self.settings.max_auth_failures:
            self.closing = True

    async def _cmd_authenticate(self, tag: str, args: list[Token]) -> tuple[str, str]:
        if not 1 <= len(args) <= 2:
            raise _Bad("AUTHENTICATE takes a mechanism and an optional initial response")
        mechanism = _atom(args[0]).upper()
        self.method = mechanism
        if mechanism not in _SASL_MECHANISMS or mechanism not in self.settings.sasl_mechanisms:
            raise _No(f"Unsupported authentication mechanism {mechanism[:40]}")
        if mechanism != "EXTERNAL" and not self._auth_allowed():
            raise _No("[PRIVACYREQUIRED] Authentication is disabled before STARTTLS")
        if len(args) == 2:
            initial = _astring(args[1])
            response = b"" if initial == "=" else self._base64(initial.encode("ascii", "replace"))
        else:
            response = await self._challenge(b"")
        authenticator = self.server.authenticator
        if mechanism == "PLAIN":
            pieces = response.split(b"\x00")
            if len(pieces) != 3:
                raise _Bad("PLAIN response must be authzid NUL authcid NUL password")
            authzid, authcid, password = (p.decode("utf-8", "replace") for p in pieces)
            self.user = authcid
            if authzid.lower() == authcid.lower():
                authzid = ""
            return self._logged_in(authenticator.password(authcid, password), authzid or None)
        if mechanism == "EXTERNAL":
            identity = response.decode("utf-8", "replace") or None
            self.user = identity
            return self._logged_in(authenticator.certificate(self._peer_der(), identity), identity)
        parsed = _sasl_bearer(response, mechanism)
        self.user = parsed[0] if parsed else None
        principal = authenticator.bearer(parsed[0], parsed[1], mechanism) if parsed else None
        if principal is None:
            # RFC 7628 §3.2.3 (and Google's XOAUTH2): an error challenge, the client's dummy
            # response (\x01), then the failure.
            status = {"status": "invalid_token"} if mechanism == "OAUTHBEARER" else {"status": "401"}
            try:
                await self._challenge(json.dumps({**status, "schemes": "bearer"}).encode(), decode=False)
            except _Eof:  # curl 7.x leaves here after an XOAUTH2 failure: still a refused login
                self._failed()
                raise _Eof(("NO", "[AUTHENTICATIONFAILED] Authentication failed (client left)")) from None
        return self._logged_in(principal, None)

    async def _challenge(self, data: bytes, decode: bool = True) -> bytes:
        """Send a SASL challenge and read the answer (the answer to an error challenge is not decoded)."""
        self._out.append(b"+ " + base64.b64encode(data) + CRLF)
        await self._flush()
        line = (await self._read_line()).strip()
        if line == b"*":
            raise _Bad("Authentication cancelled")
        return self._base64(line) if decode else b""

    def _base64(self, data: bytes) -> bytes:
        try:
            return base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise _Bad("Invalid base64 in SASL response") from None

    # -- mailboxes ---------------------------------------------------------------------------

    def _mailboxes(self) -> list[str]:
        assert self.principal is not None and self.address is not None
        return [self.address, *sorted(m for m in self.principal.mailboxes if m != self.address)]

    def _resolve(self, name: str) -> tuple[str, str]:
        """(address, folder) of a mailbox name; NO when it does not exist."""
        assert self.principal is not None and self.address is not None
        address, folder = self.address, name.rstrip("/")
        prefix, slash, rest = folder.partition("/")
        if slash and prefix.lower() in self.principal.mailboxes and prefix.lower() != self.address:
            address, folder = prefix.lower(), rest
        if folder.upper() == "INBOX":
            folder = "INBOX"
        if not folder:
            raise _No("[NONEXISTENT] No such mailbox")
        return address, folder

    def _exists(self, address: str, folder: str) -> bool:
        return folder in self.server.folders(address)

    def _display(self, address: str, folder: str) -> str:
        return folder if address == self.address else f"{address}/{folder}"

    async def _cmd_select(self, tag: str, args: list[Token]) -> tuple[str, str]:
        return self._select(args, readonly=False)

    async def _cmd_examine(self, tag: str, args: list[Token]) -> tuple[str, str]:
        return self._select(args, readonly=True)

    def _select(self, args: list[Token], readonly: bool) -> tuple[str, str]:
        if len(args) != 1:
            raise _Bad("SELECT/EXAMINE take one mailbox name")
        self._deselect()
        address, folder = self._resolve(_astring(args[0]))
        if not self._exists(address, folder):
            raise _No("[NONEXISTENT] No such mailbox")
        messages = self.store.messages(address, folder)
        self.selected, self.selected_name, self.readonly = (address, folder), self._display(address, folder), readonly
        self.view = [m.uid for m in messages]
        self.current = {m.uid: m for m in messages}
        self.recent = self.server.take_recent(address, folder, self.view, consume=not readonly)
        keywords = {f for m in messages for f in m.flags if not f.startswith("\\")}
        self._untagged(b"FLAGS " + _flags_out([*_SYSTEM_FLAGS, *keywords]))
        self._untagged(b"%d EXISTS" % len(self.view))
        self._untagged(b"%d RECENT" % len(self.recent))
        unseen = next((i for i, m in enumerate(messages, 1) if "\\Seen" not in m.flags), None)
        if unseen is not None:
            self._untagged(b"OK [UNSEEN %d] First unseen message" % unseen)
        self._untagged(b"OK [UIDVALIDITY %d] UIDs valid" % self.store.uidvalidity)
        self._untagged(b"OK [UIDNEXT %d] Predicted next UID" % self.store.next_uid(address, folder))
        permanent = b"()" if readonly else _flags_out([*_SYSTEM_FLAGS, "\\*"])
        self._untagged(b"OK [PERMANENTFLAGS " + permanent + b"] Flags permitted")
        if readonly:
            return "OK", "[READ-ONLY] EXAMINE completed"
        return "OK", "[READ-WRITE] SELECT completed"

    def _deselect(self) -> None:
        self.selected = self.selected_name = None
        self.view, self.recent, self.current, self._parts = [], set(), {}, {}

    async def _cmd_close(self, tag: str, args: list[Token]) -> tuple[str, str]:
        assert self.selected is not None
        if not self.readonly:
            with self.server.lock:
                self.store.expunge(*self.selected)
        self._deselect()
        return "OK", "CLOSE completed"

    async def _cmd_unselect(self, tag: str, args: list[Token]) -> tuple[str, str]:
        self._deselect()
        return "OK", "UNSELECT completed"

    def _sync(self, allow_expunge: bool) -> None:
        """Tell the client what changed in the selected folder since it last heard (EXPUNGE, EXISTS)."""
        assert self.selected is not None
        messages = self.store.messages(*self.selected)
        self.current = {m.uid: m for m in messages}
        if allow_expunge:
            # Highest sequence number first: each EXPUNGE then leaves the lower numbers valid.
            for index in range(len(self.view) - 1, -1, -1):
                uid = self.view[index]
                if uid not in self.current:
                    self._untagged(b"%d EXPUNGE" % (index + 1))
                    del self.view[index]
                    self.recent.discard(uid)
                    self._parts.pop(uid, None)
        last = self.view[-1] if self.view else 0
        arrived = [m.uid for m in messages if m.uid > last]
        if arrived:
            self.view.extend(arrived)
            address, folder = self.selected
            self.recent |= self.server.take_recent(address, folder, arrived, consume=not self.readonly)
            self._untagged(b"%d EXISTS" % len(self.view))
            self._untagged(b"%d RECENT" % len(self.recent))

    async def _cmd_list(self, tag: str, args: list[Token]) -> tuple[str, str]:
        return self._list(args, "LIST")

    async def _cmd_lsub(self, tag: str, args: list[Token]) -> tuple[str, str]:
        return self._list(args, "LSUB")

    def _list(self, args: list[Token], verb: str) -> tuple[str, str]:
        if len(args) != 2:
            raise _Bad(f"{verb} takes a reference and a mailbox pattern")
        reference, pattern = _astring(args[0]), _astring(args[1])
        if not pattern:
            self._untagged(verb.encode() + b' (\\Noselect) "/" ""')
            return "OK", f"{verb} completed"
        expression = "".join(".*" if c == "*" else "[^/]*" if c == "%" else re.escape(c) for c in reference + pattern)
        exact, inbox = re.compile(expression), re.compile(expression, re.IGNORECASE)
        names: dict[str, bool] = {}  # display name -> selectable
        for address in self._mailboxes():
            for folder in self.server.folders(address):
                name = self._display(address, folder)
                names[name] = True
                parts = name.split("/")
                for i in range(1, len(parts)):
                    names.setdefault("/".join(parts[:i]), False)
        for name, selectable in names.items():
            is_inbox = name.rsplit("/", 1)[-1] == "INBOX"
            if not (exact.fullmatch(name) or (is_inbox and inbox.fullmatch(name))):
                continue
            children = any(other.startswith(name + "/") for other in names)
            attributes = ["\\HasChildren" if children else "\\HasNoChildren"]
            if not selectable:
                attributes.insert(0, "\\Noselect")
            if name.rsplit("/", 1)[-1] == "Sent":
                attributes.append("\\Sent")
            self._untagged(f'{verb} ({" ".join(attributes)}) "/" '.encode() + _nstring(name))
        return "OK", f"{verb} completed"

    async def _cmd_namespace(self, tag: str, args: list[Token]) -> tuple[str, str]:
        others = self._mailboxes()[1:]
        shared = b"(" + b"".join(b"(" + _nstring(f"{a}/") + b' "/")' for a in others) + b")" if others else b"NIL"
        self._untagged(b'NAMESPACE (("" "/")) NIL ' + shared)
        return "OK", "NAMESPACE completed"

    async def _cmd_status(self, tag: str, args: list[Token]) -> tuple[str, str]:
        if len(args) != 2 or not isinstance(args[1], list):
            raise _Bad("STATUS takes a mailbox name and a list of items")
        name = _astring(args[0])
        address, folder = self._resolve(name)
        if not self._exists(address, folder):
            raise _No("[NONEXISTENT] No such mailbox")
        messages = self.store.messages(address, folder)
        out: list[str] = []
        for item in args[1]:
            key = _atom(item).upper()
            if key == "MESSAGES":
                value = len(messages)
            elif key == "RECENT":
                value = self.server.peek_recent(address, folder, [m.uid for m in messages])
            elif key == "UIDNEXT":
                value = self.store.next_uid(address, folder)
            elif key == "UIDVALIDITY":
                value = self.store.uidvalidity
            elif key == "UNSEEN":
                value = sum(1 for m in messages if "\\Seen" not in m.flags)
            else:
                raise _Bad(f"Unknown STATUS item {key[:40]}")
            out.append(f"{key} {value}")
        self._untagged(b"STATUS " + _nstring(name) + b" (" + " ".join(out).encode() + b")")
        return "OK", "STATUS completed"

    async def _cmd_create(self, tag: str, args: list[Token]) -> tuple[str, str]:
        if len(args) != 1:
            raise _Bad("CREATE takes one mailbox name")
        address, folder = self._resolve(_astring(args[0]))
        if self._exists(address, folder):
            raise _No("[ALREADYEXISTS] Mailbox already exists")
        self.server.create_folder(address, folder)
        return "OK", "CREATE completed"

    async def _cmd_delete(self, tag: str, args: list[Token]) -> tuple[str, str]:
        if len(args) != 1:
            raise _Bad("DELETE takes one mailbox name")
        address, folder = self._resolve(_astring(args[0]))
        if not self._exists(address, folder):
            raise _No("[NONEXISTENT] No such mailbox")
        if self.selected == (address, folder) or not self.server.delete_folder(address, folder):
            raise _No("[CANNOT] Only an empty, unselected folder made by CREATE can be deleted")
        return "OK", "DELETE completed"

    async def _cmd_rename(self, tag: str, args: list[Token]) -> tuple[str, str]:
        raise _No("[CANNOT] RENAME is not supported by this mock")

    async def _cmd_subscribe(self, tag: str, args: list[Token]) -> tuple[str, str]:
        if len(args) != 1:
            raise _Bad("SUBSCRIBE takes one mailbox name")
        return "OK", "SUBSCRIBE completed (every folder is subscribed)"

    async def _cmd_unsubscribe(self, tag: str, args: list[Token]) -> tuple[str, str]:
        if len(args) != 1:
            raise _Bad("UNSUBSCRIBE takes one mailbox name")
        return "OK", "UNSUBSCRIBE completed (every folder stays listed)"

    async def _cmd_append(self, tag: str, args: list[Token]) -> tuple[str, str]:
        if len(args) < 2:
            raise _Bad("APPEND takes a mailbox, optional flags and date, and a literal")
        name, rest = _astring(args[0]), args[1:]
        flags: frozenset[str] = frozenset()
        if isinstance(rest[0], list):
            flags = _flag_list([rest[0]])
            rest = rest[1:]
        if len(rest) == 2 and isinstance(rest[0], bytes) and not isinstance(rest[0], Literal):
            if not _DATE_TIME_RE.fullmatch(_astring(rest[0])):
                raise _Bad("Invalid APPEND date-time")
            rest = rest[1:]
        if len(rest) != 1 or not isinstance(rest[0], Literal):
            raise _Bad("APPEND needs the message as one literal")
        address, folder = self._resolve(name)
        if not self._exists(address, folder):
            raise _No("[TRYCREATE] No such mailbox; CREATE it first")
        with self.server.lock:
            uid = self.store.deliver(address, bytes(rest[0]), folder, flags)
        return "OK", f"[APPENDUID {self.store.uidvalidity} {uid}] APPEND completed"

    async def _cmd_idle(self, tag: str, args: list[Token]) -> tuple[str, str]:
        if args:
            raise _Bad("IDLE takes no arguments")
        self._out.append(b"+ idling\r\n")
        await self._flush()
        waited = 0.0
        while (line := self._take_line()) is None:
            try:
                await self._fill(self.settings.idle_poll_interval)
            except TimeoutError:
                waited += self.settings.idle_poll_interval
                if waited >= self.settings.idle_timeout:
                    raise
                if self.selected is not None:
                    self._sync(allow_expunge=True)
                    await self._flush()
        if line.strip().upper() != b"DONE":
            raise _Bad("Expected DONE to end IDLE")
        return "OK", "IDLE terminated"

    # -- messages ----------------------------------------------------------------------------

    def _targets(self, text: str, uid: bool) -> list[tuple[int, int]]:
        """(sequence number, UID) of the messages a set names, in sequence order."""
        ranges = _parse_set(text)
        if uid:
            star = self.view[-1] if self.view else 0
            return [(i, u) for i, u in enumerate(self.view, 1) if star and _in_set(ranges, u, star)]
        count = len(self.view)
        for low, high in ranges:
            if any(b is not None and b > count for b in (low, high)) or (count == 0 and None in (low, high)):
                raise _Bad("Invalid message sequence number")
        return [(i, u) for i, u in enumerate(self.view, 1) if _in_set(ranges, i, count)]

    def _mime(self, message: StoredMessage) -> _Part:
        part = self._parts.get(message.uid)
        if part is None:
            part = self._parts[message.uid] = _parse_part(message.raw)
        return part

    def _set_flags(self, message: StoredMessage, flags: frozenset[str]) -> StoredMessage:
        assert self.selected is not None
        address, folder = self.selected
        self.store.set_flags(address, folder, message.uid, flags)
        updated = dataclasses.replace(message, flags=flags)
        self.current[message.uid] = updated
        return updated

    def _flags(self, message: StoredMessage) -> bytes:
        return _flags_out(message.flags | ({"\\Recent"} if message.uid in self.recent else set()))

    async def _cmd_uid(self, tag: str, args: list[Token]) -> tuple[str, str]:
        sub = _atom(args[0]).upper() if args else ""
        rest = args[1:]
        if sub == "FETCH":
            return self._fetch(rest, uid=True)
        if sub == "SEARCH":
            return self._search(rest, uid=True)
        if sub == "STORE":
            return self._store(rest, uid=True)
        if sub == "COPY":
            return self._copy(rest, uid=True, move=False)
        if sub == "MOVE":
            return self._copy(rest, uid=True, move=True)
        if sub == "EXPUNGE":
            if len(rest) != 1:
                raise _Bad("UID EXPUNGE takes a UID set")
            self._expunge([u for _, u in self._targets(_atom(rest[0]), uid=True)])
            return "OK", "UID EXPUNGE completed"
        raise _Bad(f"Unknown UID command {sub[:40]}")

    async def _cmd_fetch(self, tag: str, args: list[Token]) -> tuple[str, str]:
        return self._fetch(args, uid=False)

    def _fetch(self, args: list[Token], uid: bool) -> tuple[str, str]:
        if len(args) != 2:
            raise _Bad("FETCH takes a message set and data items")
        targets = self._targets(_atom(args[0]), uid)
        items = _fetch_items(args[1])
        for number, message_uid in targets:
            message = self.current.get(message_uid)
            if message is not None:  # expunged by another session, not yet reported
                self._out.append(self._fetch_one(number, message, items, uid))
        return "OK", "FETCH completed"

    def _fetch_one(self, number: int, message: StoredMessage, items: list[_Item], uid: bool) -> bytes:
        names = {item.name for item in items}
        out: list[bytes] = []
        if uid and "UID" not in names:
            out.append(b"UID %d" % message.uid)
        if any(i.sets_seen for i in items) and not self.readonly and "\\Seen" not in message.flags:
            message = self._set_flags(message, message.flags | {"\\Seen"})
            if "FLAGS" not in names:  # RFC 3501: an implicit flag change is reported
                out.append(b"FLAGS " + self._flags(message))
        for item in items:
            out.append(self._fetch_item(item, message))
        return b"* %d FETCH (" % number + b" ".join(out) + b")\r\n"

    def _fetch_item(self, item: _Item, message: StoredMessage) -> bytes:
        name = item.name
        if name == "FLAGS":
            return b"FLAGS " + self._flags(message)
        if name == "UID":
            return b"UID %d" % message.uid
        if name == "INTERNALDATE":
            return b"INTERNALDATE " + _internal_date(message.internal_date)
        if name == "RFC822.SIZE":
            return b"RFC822.SIZE %d" % len(message.raw)
        if name == "RFC822":
            return b"RFC822 " + _literal(message.raw)
        part = self._mime(message)
        if name == "RFC822.HEADER":
            return b"RFC822.HEADER " + _literal(part.header)
        if name == "RFC822.TEXT":
            return b"RFC822.TEXT " + _literal(part.body)
        if name == "ENVELOPE":
            return b"ENVELOPE " + _envelope(part)
        if name in ("BODYSTRUCTURE", "BODY"):
            return name.encode() + b" " + _bodystructure(part, extended=name == "BODYSTRUCTURE")
        data = _section(part, message.raw, item)
        if item.partial is not None:
            origin, count = item.partial
            data = data[origin : origin + count]
        return item.label.encode("utf-8") + b" " + _literal(data)

    async def _cmd_store(self, tag: str, args: list[Token]) -> tuple[str, str]:
        return self._store(args, uid=False)

    def _store(self, args: list[Token], uid: bool) -> tuple[str, str]:
        if len(args) < 3:
            raise _Bad("STORE takes a message set, FLAGS/+FLAGS/-FLAGS[.SILENT] and flags")
        targets = self._targets(_atom(args[0]), uid)
        operation = re.fullmatch(r"([+-]?)FLAGS(\.SILENT)?", _atom(args[1]).upper())
        if operation is None:
            raise _Bad("STORE data item must be FLAGS, +FLAGS or -FLAGS, optionally .SILENT")
        flags = _flag_list(args[2:])
        if self.readonly:
            raise _No("[READ-ONLY] Mailbox is read-only")
        mode, silent = operation.group(1), operation.group(2) is not None
        with self.server.lock:
            for number, message_uid in targets:
                message = self.current.get(message_uid)
                if message is None:
                    continue
                new = message.flags | flags if mode == "+" else message.flags - flags if mode == "-" else flags
                if new != message.flags:
                    message = self._set_flags(message, new)
                if not silent:
                    uid_item = b" UID %d" % message.uid if uid else b""
                    self._untagged(b"%d FETCH (FLAGS " % number + self._flags(message) + uid_item + b")")
        return "OK", "STORE completed"

    async def _cmd_expunge(self, tag: str, args: list[Token]) -> tuple[str, str]:
        if self.readonly:
            raise _No("[READ-ONLY] Mailbox is read-only")
        assert self.selected is not None
        with self.server.lock:
            self.store.expunge(*self.selected)
        return "OK", "EXPUNGE completed"

    def _expunge(self, uids: list[int]) -> None:
        """Expunge only these UIDs (if \\Deleted): the others' \\Deleted is lifted meanwhile."""
        if self.readonly:
            raise _No("[READ-ONLY] Mailbox is read-only")
        assert self.selected is not None
        address, folder = self.selected
        wanted = set(uids)
        with self.server.lock:
            spared = [m for m in self.store.messages(address, folder) if "\\Deleted" in m.flags and m.uid not in wanted]
            for message in spared:
                self.store.set_flags(address, folder, message.uid, message.flags - {"\\Deleted"})
            try:
                self.store.expunge(address, folder)
            finally:
                for message in spared:
                    self.store.set_flags(address, folder, message.uid, message.flags)

    async def _cmd_copy(self, tag: str, args: list[Token]) -> tuple[str, str]:
        return self._copy(args, uid=False, move=False)

    async def _cmd_move(self, tag: str, args: list[Token]) -> tuple[str, str]:
        return self._copy(args, uid=False, move=True)

    def _copy(self, args: list[Token], uid: bool, move: bool) -> tuple[str, str]:
        verb = "MOVE" if move else "COPY"
        if len(args) != 2:
            raise _Bad(f"{verb} takes a message set and a mailbox name")
        targets = self._targets(_atom(args[0]), uid)
        address, folder = self._resolve(_astring(args[1]))
        if not self._exists(address, folder):
            raise _No("[TRYCREATE] No such mailbox; CREATE it first")
        if move and self.readonly:
            raise _No("[READ-ONLY] Mailbox is read-only")
        sources: list[int] = []
        copies: list[int] = []
        with self.server.lock:
            for _, message_uid in targets:
                message = self.current.get(message_uid)
                if message is None:
                    continue
                copies.append(self.store.deliver(address, message.raw, folder, message.flags - {"\\Recent"}))
                sources.append(message.uid)
            if move and sources:
                for message_uid in sources:
                    message = self.current[message_uid]
                    self._set_flags(message, message.flags | {"\\Deleted"})
                self._expunge(sources)
        code = f"[COPYUID {self.store.uidvalidity} {_compact(sources)} {_compact(copies)}]" if sources else ""
        if move:
            if code:
                self._untagged(b"OK " + code.encode() + b" Moved")
            return "OK", f"{verb} completed"
        return "OK", f"{code} {verb} completed".strip()

    # -- SEARCH ------------------------------------------------------------------------------

    async def _cmd_search(self, tag: str, args: list[Token]) -> tuple[str, str]:
        return self._search(args, uid=False)

    def _search(self, args: list[Token], uid: bool) -> tuple[str, str]:
        if len(args) >= 2 and isinstance(args[0], str) and args[0].upper() == "CHARSET":
            if _astring(args[1]).upper() not in ("UTF-8", "US-ASCII"):
                raise _No("[BADCHARSET (UTF-8 US-ASCII)] Unsupported charset")
            args = args[2:]
        if not args:
            raise _Bad("SEARCH needs at least one criterion")
        predicate = self._criteria(args)
        found = [
            (u if uid else number)
            for number, u in enumerate(self.view, 1)
            if (message := self.current.get(u)) is not None and predicate(number, message)
        ]
        self._untagged(b"SEARCH" + b"".join(b" %d" % n for n in found))
        return "OK", "SEARCH completed"

    def _criteria(self, tokens: list[Token]) -> Predicate:
        predicates: list[Predicate] = []
        position = 0
        while position < len(tokens):
            predicate, position = self._criterion(tokens, position)
            predicates.append(predicate)
        return lambda n, m: all(p(n, m) for p in predicates)

    def _criterion(self, tokens: list[Token], position: int) -> tuple[Predicate, int]:
        token = tokens[position]

        def argument(offset: int = 1) -> Token:
            if position + offset >= len(tokens):
                raise _Bad("Missing SEARCH argument")
            return tokens[position + offset]

        if isinstance(token, list):
            if not token:
                raise _Bad("Empty SEARCH group")
            return self._criteria(token), position + 1
        key = _astring(token).upper() if isinstance(token, str) else ""
        flag_keys = {
            "ANSWERED": "\\Answered",
            "DELETED": "\\Deleted",
            "DRAFT": "\\Draft",
            "FLAGGED": "\\Flagged",
            "SEEN": "\\Seen",
        }
        if key == "ALL":
            return (lambda n, m: True), position + 1
        if key in flag_keys:
            flag = flag_keys[key]
            return (lambda n, m: flag in m.flags), position + 1
        if key.startswith("UN") and key[2:] in flag_keys:
            flag = flag_keys[key[2:]]
            return (lambda n, m: flag not in m.flags), position + 1
        if key == "RECENT":
            return (lambda n, m: m.uid in self.recent), position + 1
        if key == "OLD":
            return (lambda n, m: m.uid not in self.recent), position + 1
        if key == "NEW":
            return (lambda n, m: m.uid in self.recent and "\\Seen" not in m.flags), position + 1
        if key in ("KEYWORD", "UNKEYWORD"):
            word, present = _canonical_flag(argument()), key == "KEYWORD"
            return (lambda n, m: (word in m.flags) == present), position + 2
        if key == "HEADER":
            name, needle = _astring(argument()), _astring(argument(2)).casefold()
            return (lambda n, m: _header_matches(self._mime(m), name, needle)), position + 3
        if key in ("SUBJECT", "FROM", "TO", "CC", "BCC"):
            name, needle = key.lower(), _astring(argument()).casefold()
            return (lambda n, m: _header_matches(self._mime(m), name, needle)), position + 2
        if key in ("BODY", "TEXT"):
            needle, whole = _astring(argument()).casefold(), key == "TEXT"

            def contains(n: int, m: StoredMessage) -> bool:
                data = m.raw if whole else self._mime(m).body
                return needle in data.decode("utf-8", "replace").casefold()

            return contains, position + 2
        if key in ("LARGER", "SMALLER"):
            size, larger = _number(argument()), key == "LARGER"
            return (lambda n, m: len(m.raw) > size if larger else len(m.raw) < size), position + 2
        if key in ("BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE"):
            day, sent = _search_date(argument()), key.startswith("SENT")
            compare = key.removeprefix("SENT")

            def dated(n: int, m: StoredMessage) -> bool:
                when = _sent_date(self._mime(m)) if sent else dt.datetime.fromtimestamp(m.internal_date, dt.UTC).date()
                if when is None:
                    return False
                return when < day if compare == "BEFORE" else when == day if compare == "ON" else when >= day

            return dated, position + 2
        if key == "UID":
            ranges = _parse_set(_atom(argument()))
            star = self.view[-1] if self.view else 0
            return (lambda n, m: bool(star) and _in_set(ranges, m.uid, star)), position + 2
        if key == "NOT":
            if position + 1 >= len(tokens):
                raise _Bad("NOT needs a criterion")
            negated, after = self._criterion(tokens, position + 1)
            return (lambda n, m: not negated(n, m)), after
        if key == "OR":
            if position + 1 >= len(tokens):
                raise _Bad("OR needs two criteria")
            left, middle = self._criterion(tokens, position + 1)
            if middle >= len(tokens):
                raise _Bad("OR needs two criteria")
            right, after = self._criterion(tokens, middle)
            return (lambda n, m: left(n, m) or right(n, m)), after
        if isinstance(token, str) and _is_set(token):
            ranges = _parse_set(token)
            count = len(self.view)
            return (lambda n, m: _in_set(ranges, n, count)), position + 1
        raise _Bad(f"Unknown SEARCH criterion {_render(token)[:40]}")
