"""JSON request bodies read within limits: a size (HTTP 413) and a nesting depth (HTTP 400).

``json.loads`` recurses once per level of nesting: a body of a few kilobytes of ``[`` raises
``RecursionError``, which no ``except ValueError`` catches, and a body with no size limit is read
into memory whole. :func:`parse_json` checks the depth with a loop before decoding;
:func:`read_json` stops reading a request at the size limit.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol

from harness.core.errors import BadInput

DEFAULT_MAX_BYTES = 1024 * 1024  # a control or console body is a few hundred bytes
DEFAULT_MAX_DEPTH = 32


class BadJson(BadInput):
    """A body that is not JSON, or nests deeper than allowed: HTTP 400."""

    status = 400


class JsonTooLarge(BadJson):
    """A body larger than allowed: HTTP 413."""

    status = 413


class _Body(Protocol):
    """What :func:`read_json` needs of a request (a Starlette ``Request`` has it)."""

    @property
    def headers(self) -> Mapping[str, str]: ...

    def stream(self) -> AsyncIterator[bytes]: ...


def nesting_depth(data: bytes) -> int:
    """The deepest nesting of arrays and objects in ``data``, brackets inside strings not counted."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return deepest


def parse_json(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES, max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """The JSON value of ``data``; :class:`JsonTooLarge` or :class:`BadJson` (never RecursionError)."""
    if len(data) > max_bytes:
        raise JsonTooLarge(f"the JSON body exceeds {max_bytes} bytes")
    if nesting_depth(data) > max_depth:
        raise BadJson(f"the JSON body nests deeper than {max_depth} levels")
    try:
        return json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadJson(f"unreadable JSON body: {exc}") from None
    except RecursionError:  # the depth check makes this unreachable unless the limit is set very high
        raise BadJson("the JSON body nests too deeply") from None


async def read_json(request: _Body, *, max_bytes: int = DEFAULT_MAX_BYTES, max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """The request's JSON body, read no further than ``max_bytes`` (a declared length above it is refused unread)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise JsonTooLarge(f"the JSON body exceeds {max_bytes} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise JsonTooLarge(f"the JSON body exceeds {max_bytes} bytes")
    return parse_json(bytes(body), max_bytes=max_bytes, max_depth=max_depth)
