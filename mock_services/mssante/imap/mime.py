"""MIME structure read from a message's raw bytes, without re-encoding them, and what FETCH and
SEARCH make of it: BODY[section] bytes, BODYSTRUCTURE, ENVELOPE, header matching and the sent
date.
"""

from __future__ import annotations

import datetime as dt
import email.errors
import email.header
import email.policy
import email.utils
import re
from dataclasses import dataclass
from email import _header_value_parser as _address_parser
from email.message import Message
from typing import Any

from mock_services.mssante.imap.parser import _Item
from mock_services.mssante.imap.responses import CRLF, _nstring

_MAX_MIME_DEPTH = 20
_MAX_MIME_PARTS = 500


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


_Member = tuple[str | None, str | None, str, str]  # (display name, source route, local part, domain)


def _address_groups(value: str) -> list[tuple[str | None, list[_Member]]]:
    """(group name or None, members) of an address header.

    A bare addr-spec with a comment (``user@domain (Real Name)``) takes its last comment as display
    name, as Dovecot does (dovecot/core ``src/lib-mail/message-address.c``, ``parse_addr_spec``,
    commit 01867a4f) and imaptest's fetch-envelope script expects; an obsolete
    source route (``<@relay:user@domain>``) is kept for ENVELOPE's adl field (RFC 3501 §7.4.2).
    """
    if not value.strip():
        return []
    try:
        parsed, _ = _address_parser.get_address_list(value)
        groups: list[tuple[str | None, list[_Member]]] = []
        for entry in parsed.addresses:
            token: Any = entry[0]
            if token.token_type == "group":
                groups.append((token.display_name, [_member(m) for m in token.all_mailboxes]))
            else:
                groups.append((None, [_member(token)]))
        return groups
    except (email.errors.HeaderParseError, ValueError, IndexError, TypeError, AttributeError):
        # What the RFC 5322 parser cannot walk: the lenient split, still never an error to the client.
        members: list[_Member] = []
        for name, address in email.utils.getaddresses([value]):
            local, at, host = address.rpartition("@")
            members.append((name, None, local, host) if at else (name, None, address, ""))
        return [(None, members)]


def _member(mailbox: Any) -> _Member:
    name = mailbox.display_name
    if not name and mailbox[0].token_type == "addr-spec" and mailbox[0].comments:
        name = mailbox[0].comments[-1]
    route = ",".join("@" + hop for hop in mailbox.route) if mailbox.route else None
    return name or None, route, mailbox.local_part or "", mailbox.domain or ""


def _address(name: str | None, route: str | None, local: str | None, host: str | None) -> bytes:
    fields = [_nstring(name.encode("latin-1", "replace") if name else None)]
    fields += [_nstring(route.encode("latin-1", "replace") if route else None)]
    fields += [_nstring(local.encode("latin-1", "replace") if local is not None else None)]
    fields += [_nstring(host.encode("latin-1", "replace") if host else None)]
    return b"(" + b" ".join(fields) + b")"


def _addresses(values: list[bytes]) -> bytes:
    """ENVELOPE's address list; a group is its start (NIL NIL name NIL), members and end (RFC 3501 §7.4.2)."""
    out = []
    for value in values:
        for group, members in _address_groups(value.decode("latin-1")):
            if group is not None:
                out.append(_address(None, None, group, None))
            out += [_address(name, route, local, host) for name, route, local, host in members if name or local]
            if group is not None:
                out.append(_address(None, None, None, None))
    return b"(" + b"".join(out) + b")" if out else b"NIL"


def _with_addresses(values: list[bytes]) -> list[bytes]:
    return [value for value in values if _address_groups(value.decode("latin-1"))]


def _envelope(part: _Part) -> bytes:
    sender_fields = part.get_all("from")
    items = [
        _nstring(part.get("date")),
        _nstring(part.get("subject")),
        _addresses(sender_fields),
        # "absent [...] or present but empty": the from member, RFC 3501 §7.4.2
        _addresses(_with_addresses(part.get_all("sender")) or sender_fields),
        _addresses(_with_addresses(part.get_all("reply-to")) or sender_fields),
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


_ADDRESS_HEADERS = frozenset({"from", "to", "cc", "bcc", "sender", "reply-to"})


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
        candidates = [text, decoded, as_utf8]
        if name.lower() in _ADDRESS_HEADERS:  # the addresses without their comments and spaces
            for _, members in _address_groups(decoded):
                candidates += [f"{n} <{local}@{host}>" for n, _, local, host in members]
        if any(needle in candidate.casefold() for candidate in candidates):
            return True
    return False


def _sent_date(part: _Part) -> dt.date | None:
    value = part.get("date")
    if value is None:
        return None
    try:
        return email.utils.parsedate_to_datetime(value.decode("latin-1")).date()
    except (TypeError, ValueError, IndexError):
        return None
