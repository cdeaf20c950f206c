"""One way to open the SQLite files the mocks write: durable before they answer.

Superseded by :mod:`harness.core.storage` (which the recorder, the DMP registry and the mail
store use, on SQLite or PostgreSQL); kept for code not yet moved to it.

WAL with ``synchronous=FULL`` makes each committed transaction survive a crash of the process
or the machine; ``isolation_level=None`` leaves transactions to the callers (BEGIN IMMEDIATE).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path


def open_database(path: Path | str, schema: str) -> sqlite3.Connection:
    """A connection shared by the threads of one mock (callers hold their own lock)."""
    connection = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    connection.executescript(schema)
    return connection
