"""Writing a report file so that a reader (a CI job, a browser refreshing the page) never sees half of it."""

from __future__ import annotations

from pathlib import Path


def atomic_write(path: Path, data: bytes) -> Path:
    """Write through a temporary file, then rename it over ``path``."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return path
