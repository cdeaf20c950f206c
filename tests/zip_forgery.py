"""Zip archives altered into formats the XDM reader does not implement, for the bad-input tests."""

from __future__ import annotations

import struct


def needing_version(data: bytes, version: int = 90) -> bytes:
    """The archive with every central record's "version needed to extract" set to ``version`` (x10)."""
    forged = bytearray(data)
    at = forged.find(b"PK\x01\x02")
    while at != -1:
        struct.pack_into("<H", forged, at + 6, version)
        at = forged.find(b"PK\x01\x02", at + 4)
    return bytes(forged)


def with_method(data: bytes, method: int) -> bytes:
    """The archive with the first entry's compression method set to ``method`` in both its records."""
    forged = bytearray(data)
    struct.pack_into("<H", forged, 8, method)
    struct.pack_into("<H", forged, forged.find(b"PK\x01\x02") + 10, method)
    return bytes(forged)
