"""The embedded engine: one SQLite file (or ``:memory:``), nothing to install.

One connection shared by the threads of the process, behind a lock; WAL with ``synchronous=FULL``
by default makes each committed transaction survive a crash of the process or the machine.
``isolation_level=None`` leaves transactions to :meth:`SqliteDatabase.transaction` (``BEGIN
IMMEDIATE``, so a writer never finds the file locked half-way through).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from harness.core.storage.database import SQLITE, Database, Row, Transaction, rows_of

SYNCHRONOUS_MODES = ("OFF", "NORMAL", "FULL")


class _SqliteTransaction(Transaction):
    def __init__(self, connection: sqlite3.Connection):
        self._connection = connection

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return rows_of(self._connection.execute(sql, tuple(params)).fetchall())

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self._connection.executemany(sql, [tuple(row) for row in rows])

    def lock(self, name: str) -> None:
        """``BEGIN IMMEDIATE`` holds the database's write lock already."""


class SqliteDatabase(Database):
    dialect = SQLITE

    def __init__(self, path: Path | str = ":memory:", synchronous: str = "FULL"):
        if synchronous not in SYNCHRONOUS_MODES:
            raise ValueError(f"synchronous must be OFF, NORMAL or FULL, not {synchronous!r}")
        self.path = str(path)
        self._lock = threading.RLock()
        self._local = threading.local()
        self._connection = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.execute(f"PRAGMA synchronous={synchronous}")

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        current = getattr(self._local, "transaction", None)
        if current is not None:  # a store calling itself inside its own transaction joins it
            yield current
            return
        with self._lock:
            self._connection.execute("BEGIN IMMEDIATE")
            self._local.transaction = tx = _SqliteTransaction(self._connection)
            try:
                yield tx
            except BaseException:
                self._connection.execute("ROLLBACK")
                raise
            else:
                self._connection.execute("COMMIT")
            finally:
                self._local.transaction = None

    def read(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        if self.path == ":memory:":
            raise ValueError("an in-memory SQLite store has no file another connection could read")
        uri = Path(self.path).resolve().as_uri() + "?mode=ro"
        with closing(sqlite3.connect(uri, uri=True)) as connection:
            return rows_of(connection.execute(sql, tuple(params)).fetchall())

    def table_columns(self, table: str) -> set[str]:
        with self._lock:
            return {row[1] for row in self._connection.execute(f"PRAGMA table_info({table})")}

    def describe(self) -> str:
        return f"SQLite {self.path}"

    def close(self) -> None:
        with self._lock:
            self._connection.close()
