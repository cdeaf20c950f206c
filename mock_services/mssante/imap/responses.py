"""Formatting what the server sends: quoted strings, literals and NIL, flag lists, internal dates,
response text reduced to one ASCII line, and compact UID sets for COPYUID.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

CRLF = b"\r\n"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


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
