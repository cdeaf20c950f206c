"""Parsing what the client sends: command lines into tokens (atoms, strings, literals, lists),
strings, numbers and sequence sets, flags, SEARCH dates, SASL bearer responses and FETCH data
items; and rendering tokens back for the record.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import TypeAlias

from mock_services.mssante.imap.errors import _Bad
from mock_services.mssante.imap.responses import _MONTHS, _nstring

_SYSTEM_FLAGS = ("\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft")
_FLAG_NAMES = {f.upper(): f for f in (*_SYSTEM_FLAGS, "\\Recent")}
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


class Literal(bytes):
    """A string the client sent as a literal (APPEND wants its message as one)."""


Token: TypeAlias = "str | bytes | list[Token]"


DEFAULT_MAX_NESTING = 32


def _tokenize(data: bytes, literals: list[bytes], max_nesting: int = DEFAULT_MAX_NESTING) -> list[Token]:
    """Atoms (str), strings (bytes, :class:`Literal` for literals) and parenthesised lists.

    Lists nested deeper than ``max_nesting`` are a BAD: every later step (rendering for the
    record, SEARCH criteria) walks the lists recursively, and a line of a few kilobytes of
    ``(`` would otherwise exhaust Python's recursion limit, before any login.

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
            if len(stack) > max_nesting:
                raise _Bad(f"Lists nested deeper than {max_nesting} levels")
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
            if depth:  # "[" is an ATOM-CHAR (RFC 3501 §9): left open, it is part of a plain atom
                pos = start
                while pos < end and data[pos] not in b' ()"{':
                    pos += 1
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


def _is_set(text: str) -> bool:
    return all(_SEQ_RANGE_RE.fullmatch(piece) for piece in text.split(","))


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


def _search_date(token: Token) -> dt.date:
    match = _DATE_RE.fullmatch(_astring(token))
    month = match.group(2).capitalize() if match else ""
    if match is None or month not in _MONTHS:
        raise _Bad("Invalid date (expected d-Mon-yyyy)")
    try:
        return dt.date(int(match.group(3)), _MONTHS.index(month) + 1, int(match.group(1)))
    except ValueError:
        raise _Bad("Invalid date") from None


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
