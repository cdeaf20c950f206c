"""MTOM/XOP (``multipart/related``) codec for the DMP's SOAP 1.2 transactions (ITI-41, ITI-43).

The same code reads what a product under test sends to the DMP mock and builds what the
reference client sends, so it must be safe on hostile bytes and exact on honest ones.

The body is split by a strict, linear scan for the boundary rather than by the ``email``
package: that parser is lenient by design (a missing closing delimiter, a stray boundary or a
broken part are repaired or silently dropped), which would hide exactly the defects a
conformance harness exists to report. Here every malformation raises :class:`MtomError`
with a short reason fit for a SOAP ``Sender`` fault, and the number, header length and
decoded size of parts are bounded.
"""

from __future__ import annotations

import binascii
import re
import uuid
from dataclasses import dataclass
from urllib.parse import quote, unquote

from lxml import etree

XOP_NS = "http://www.w3.org/2004/08/xop/include"
XOP_INCLUDE = f"{{{XOP_NS}}}Include"
XOP_CONTENT_TYPE = "application/xop+xml"
ROOT_CONTENT_ID = "root.message@segur-harness"

# RFC 2046 §5.1.1: in a multipart entity a part without Content-Type is plain US-ASCII text.
_DEFAULT_PART_TYPE = "text/plain; charset=us-ascii"
# A header block is a few hundred bytes; the cap keeps a hostile part from being scanned
# line by line as "headers" for megabytes.
_MAX_HEADER_BYTES = 64 * 1024
_BOUNDARY_RE = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")
_IDENTITY_ENCODINGS = frozenset({"7bit", "8bit", "binary"})
# Headers this module interprets: a second copy would make the part ambiguous.
_SINGLE_HEADERS = ("content-id", "content-type", "content-transfer-encoding")
# '@' stays literal as in the DMP's own hrefs (cid:...-2@urn%3Aihe%3Aiti%3Axds-b%3A2007).
_CID_SAFE = "@"


class MtomError(ValueError):
    """The message cannot be read as MTOM.

    ``str(error)`` is a short reason fit for a SOAP ``Sender`` fault.
    """


@dataclass(frozen=True)
class MimePart:
    """One decoded part: Content-ID without angle brackets, header names in lower case."""

    content_id: str | None
    content_type: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class MultipartMessage:
    """The root part (the SOAP envelope) and every other part keyed by its Content-ID."""

    root: MimePart
    attachments: dict[str, MimePart]


def is_multipart(content_type: str) -> bool:
    """True when a Content-Type header value announces ``multipart/related``."""
    return content_type.partition(";")[0].strip().lower() == "multipart/related"


def parse_multipart(
    body: bytes,
    content_type: str,
    *,
    max_parts: int = 100,
    max_part_bytes: int = 64 * 1024 * 1024,
) -> MultipartMessage:
    """Read an MTOM message: the root part (``start``, else the first) and the attachments by Content-ID."""
    media, params = _parse_content_type(content_type)
    if media != "multipart/related":
        raise MtomError(f"content type {media or 'absent'} is not multipart/related")
    boundary = params.get("boundary")
    if boundary is None:
        raise MtomError("multipart/related content type without boundary parameter")
    if not _BOUNDARY_RE.fullmatch(boundary):
        raise MtomError(f"invalid MIME boundary {boundary[:80]!r}: 1 to 70 characters allowed by RFC 2046")
    raws = _split(body, b"--" + boundary.encode("ascii"), max_parts)
    parts = [_read_part(raw, index, max_part_bytes) for index, raw in enumerate(raws, 1)]

    seen: set[str] = set()
    for part in parts:
        if part.content_id is not None:
            if part.content_id in seen:
                raise MtomError(f"duplicate Content-ID <{part.content_id}>")
            seen.add(part.content_id)

    root_index = 0
    start = params.get("start")
    if start is not None:
        wanted = _strip_angle(start)
        found = next((i for i, part in enumerate(parts) if part.content_id == wanted), None)
        if found is None:
            raise MtomError(f"start parameter <{wanted}> names no MIME part")
        root_index = found
    attachments: dict[str, MimePart] = {}
    for index, part in enumerate(parts):
        if index == root_index:
            continue
        if part.content_id is None:
            raise MtomError(f"MIME part {index + 1} has no Content-ID")
        attachments[part.content_id] = part
    return MultipartMessage(parts[root_index], attachments)


def cid_from_href(href: str) -> str:
    """The Content-ID a ``cid:`` URL names (RFC 2392: scheme removed, percent-decoded)."""
    value = href.strip()
    if value[:4].lower() != "cid:":
        raise MtomError(f"xop:Include href {href[:200]!r} is not a cid: URL")
    try:
        content_id = unquote(value[4:], errors="strict")
    except UnicodeDecodeError:
        raise MtomError(f"xop:Include href {href[:200]!r} is not valid percent-encoded UTF-8") from None
    if not content_id:
        raise MtomError("xop:Include href 'cid:' names no Content-ID")
    return content_id


def resolve_includes(element: etree._Element, message: MultipartMessage) -> dict[str, bytes]:
    """The bytes of every part the ``xop:Include`` elements under ``element`` point to, by Content-ID."""
    return dict(_attachment(include, message) for include in element.iter(XOP_INCLUDE))


def include_content(parent: etree._Element, message: MultipartMessage) -> bytes | None:
    """The content of an optimisable element: its ``xop:Include`` attachment or its inline base64 text.

    None when the element is empty (whitespace only).
    """
    elements = [child for child in parent if isinstance(child.tag, str)]
    text = "".join([parent.text or "", *(child.tail or "" for child in parent)])
    name = etree.QName(parent).localname
    if elements:
        strays = [child for child in elements if child.tag != XOP_INCLUDE]
        if strays:
            raise MtomError(f"unexpected element {etree.QName(strays[0]).localname} inside {name}")
        if len(elements) > 1:
            raise MtomError(f"{name} holds {len(elements)} xop:Include elements; one is allowed")
        if text.strip():
            raise MtomError(f"{name} mixes an xop:Include with inline text")
        return _attachment(elements[0], message)[1]
    compact = "".join(text.split())
    if not compact:
        return None
    try:
        return _decode_base64(compact.encode("utf-8"))
    except binascii.Error:
        raise MtomError(f"the content of {name} is not valid base64") from None


def build_multipart(
    root_xml: bytes,
    attachments: list[tuple[str, str, bytes]],
    *,
    soap_action: str | None = None,
    soap_content_type: str = "application/soap+xml",
) -> tuple[bytes, str]:
    """An MTOM message (body, Content-Type header value): the SOAP envelope then each (content_id, type, data)."""
    root_type = f"{XOP_CONTENT_TYPE}; charset=UTF-8; type={_quote(soap_content_type)}"
    if soap_action is not None:
        root_type += f"; action={_quote(soap_action)}"
    parts = [(ROOT_CONTENT_ID, root_type, root_xml)]
    seen = {ROOT_CONTENT_ID}
    for content_id, part_type, data in attachments:
        _check_content_id(content_id)
        if content_id in seen:
            raise MtomError(f"duplicate Content-ID <{content_id}>")
        seen.add(content_id)
        _check_header_value(part_type, "Content-Type")
        parts.append((content_id, part_type, data))

    while True:
        boundary = f"MIMEBoundary_{uuid.uuid4().hex}"
        marker = boundary.encode("ascii")
        if not any(marker in data for _, _, data in parts):
            break
    chunks: list[bytes] = []
    for content_id, part_type, data in parts:
        head = (
            f"--{boundary}\r\nContent-Type: {part_type}\r\nContent-Transfer-Encoding: binary\r\n"
            f"Content-ID: <{content_id}>\r\n\r\n"
        )
        chunks += [head.encode("ascii"), data, b"\r\n"]
    chunks.append(f"--{boundary}--\r\n".encode("ascii"))
    content_type = (
        f"multipart/related; type={_quote(XOP_CONTENT_TYPE)}; start={_quote(f'<{ROOT_CONTENT_ID}>')}; "
        f"start-info={_quote(soap_content_type)}; boundary={_quote(boundary)}"
    )
    return b"".join(chunks), content_type


def xop_include(content_id: str) -> etree._Element:
    """``<xop:Include href="cid:..."/>`` pointing at ``content_id`` (percent-encoded per RFC 2392)."""
    _check_content_id(content_id)
    include = etree.Element(XOP_INCLUDE, nsmap={"xop": XOP_NS})
    include.set("href", "cid:" + quote(content_id, safe=_CID_SAFE))
    return include


# -- splitting ----------------------------------------------------------------------------------


def _split(body: bytes, dash_boundary: bytes, max_parts: int) -> list[bytes]:
    """The raw parts (headers and content) between the delimiters, in order."""
    # A delimiter line carries nothing after the boundary but "--" (closing), transport padding
    # and the line break; "--boundaryX" inside a document is content.
    line = re.escape(dash_boundary) + rb"(--)?[ \t]*+(?:\r?\n|\r?\Z)"
    # The leading line break is part of the pattern (not an \A|\n alternative) so that the
    # regex engine can jump between occurrences of the literal prefix.
    after_newline = re.compile(rb"\n" + line)
    delimiter = re.compile(line).match(body) or after_newline.search(body)
    if delimiter is None:
        raise MtomError("the MIME boundary does not occur in the body")
    raws: list[bytes] = []
    while delimiter.group(1) is None:
        content_start = delimiter.end()
        # Back one byte: the line break ending this delimiter line may start the next one.
        delimiter = after_newline.search(body, content_start - 1)
        if delimiter is None:
            raise MtomError("truncated MIME message: closing delimiter --boundary-- missing")
        if len(raws) >= max_parts:
            raise MtomError(f"too many MIME parts (limit {max_parts})")
        # The line break before a delimiter belongs to the delimiter (RFC 2046 §5.1.1).
        end = delimiter.start()
        if end > content_start and body[end - 1] == 0x0D:
            end -= 1
        raws.append(body[content_start : max(end, content_start)])
    if not raws:
        raise MtomError("the multipart message holds no MIME part")
    # Parts after a premature close delimiter would otherwise vanish into the epilogue.
    if after_newline.search(body, max(delimiter.end() - 1, 0)) is not None:
        raise MtomError("MIME delimiter found after the closing delimiter")
    return raws


# -- one part -----------------------------------------------------------------------------------


def _read_part(raw: bytes, index: int, max_part_bytes: int) -> MimePart:
    headers, content = _split_headers(raw, index)
    content_id = headers.get("content-id")
    if content_id is not None:
        content_id = _strip_angle(content_id)
        if not content_id:
            raise MtomError(f"MIME part {index} has an empty Content-ID")
        if any(c in "<>" or c.isspace() for c in content_id):
            raise MtomError(f"MIME part {index}: malformed Content-ID {content_id[:80]!r}")
    label = f"<{content_id}>" if content_id else str(index)
    encoding = headers.get("content-transfer-encoding", "binary").strip().lower()
    if encoding in _IDENTITY_ENCODINGS:
        data = content
    elif encoding == "base64":
        try:
            data = _decode_base64(content)
        except binascii.Error:
            raise MtomError(f"MIME part {label}: invalid base64 content") from None
    elif encoding == "quoted-printable":
        data = binascii.a2b_qp(content)
    else:
        raise MtomError(f"MIME part {label}: unsupported Content-Transfer-Encoding {encoding[:40]!r}")
    if len(data) > max_part_bytes:
        raise MtomError(f"MIME part {label} is larger than the limit of {max_part_bytes} bytes")
    return MimePart(content_id, headers.get("content-type", _DEFAULT_PART_TYPE), headers, data)


def _decode_base64(text: bytes) -> bytes:
    """Strict RFC 4648 base64 once line breaks and indentation are removed."""
    compact = b"".join(text.split())
    # strict_mode still ignores excess padding after a complete quantum ("QUJD="): refuse it here.
    if len(compact) % 4 or b"=" in compact[:-2]:
        raise binascii.Error("incorrect padding")
    return binascii.a2b_base64(compact, strict_mode=True)


def _split_headers(raw: bytes, index: int) -> tuple[dict[str, str], bytes]:
    lines: list[bytes] = []
    position = 0
    content = b""
    while position < len(raw):
        newline = raw.find(b"\n", position, _MAX_HEADER_BYTES)
        if newline < 0:
            if len(raw) >= _MAX_HEADER_BYTES:
                raise MtomError(f"MIME part {index}: headers longer than {_MAX_HEADER_BYTES} bytes")
            raise MtomError(f"MIME part {index}: headers not terminated by an empty line")
        line = raw[position:newline].removesuffix(b"\r")
        position = newline + 1
        if not line:
            content = raw[position:]
            break
        lines.append(line)

    headers: dict[str, str] = {}
    last: str | None = None
    for line in lines:
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            raise MtomError(f"MIME part {index}: header line is not UTF-8") from None
        if text[0] in " \t":
            if last is None:
                raise MtomError(f"MIME part {index}: continuation line before any header")
            headers[last] = f"{headers[last]} {text.strip()}".strip()
            continue
        name, colon, value = text.partition(":")
        name = name.strip().lower()
        if not colon or not name or any(c.isspace() or ord(c) < 0x21 for c in name):
            raise MtomError(f"MIME part {index}: malformed header line {text[:80]!r}")
        if name in headers:
            if name in _SINGLE_HEADERS:
                raise MtomError(f"MIME part {index}: duplicate {name} header")
            headers[name] = f"{headers[name]}, {value.strip()}"
        else:
            headers[name] = value.strip()
        last = name
    return headers, content


# -- header values ------------------------------------------------------------------------------


def _parse_content_type(value: str) -> tuple[str, dict[str, str]]:
    """Media type (lower case) and parameters (names lower case), honouring quoted strings."""
    media, _, rest = value.partition(";")
    params: dict[str, str] = {}
    size, i = len(rest), 0
    while i < size:
        if rest[i] in " \t\r\n;":
            i += 1
            continue
        equals = rest.find("=", i)
        semicolon = rest.find(";", i)
        if equals < 0 or (0 <= semicolon < equals):
            raise MtomError(f"malformed Content-Type parameter {rest[i:][:60]!r}")
        name = rest[i:equals].strip().lower()
        i = equals + 1
        while i < size and rest[i] in " \t":
            i += 1
        if i < size and rest[i] == '"':
            chars: list[str] = []
            i += 1
            while True:
                if i >= size:
                    raise MtomError(f"unterminated quoted value of Content-Type parameter {name}")
                if rest[i] == "\\" and i + 1 < size:
                    chars.append(rest[i + 1])
                    i += 2
                elif rest[i] == '"':
                    i += 1
                    break
                else:
                    chars.append(rest[i])
                    i += 1
            param = "".join(chars)
        else:
            end = rest.find(";", i)
            end = size if end < 0 else end
            param = rest[i:end].strip()
            i = end
        if not name:
            raise MtomError("Content-Type parameter without a name")
        if name in params:
            raise MtomError(f"duplicate Content-Type parameter {name}")
        params[name] = param
    return media.strip().lower(), params


def _quote(value: str) -> str:
    _check_header_value(value, "parameter")
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _check_header_value(value: str, what: str) -> None:
    # A CR or LF here would let a caller's value inject headers or end the part early.
    if not value.isascii() or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise MtomError(f"{what} {value[:80]!r} must be printable ASCII")


def _check_content_id(content_id: str) -> None:
    if not content_id or not content_id.isascii() or any(c in "<> " or not c.isprintable() for c in content_id):
        raise MtomError(f"Content-ID {content_id[:80]!r} must be non-empty printable ASCII without spaces or <>")


def _strip_angle(value: str) -> str:
    value = value.strip()
    if value.startswith("<") and value.endswith(">"):
        value = value[1:-1].strip()
    return value


def _attachment(include: etree._Element, message: MultipartMessage) -> tuple[str, bytes]:
    href = include.get("href")
    if href is None:
        raise MtomError("xop:Include without href attribute")
    content_id = cid_from_href(href)
    part = message.attachments.get(content_id)
    if part is None:
        raise MtomError(f"xop:Include points to cid:{content_id}, but no MIME part has that Content-ID")
    return content_id, part.body
