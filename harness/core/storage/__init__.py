"""Storage behind one interface: SQLite files in the data folder (the default) or one PostgreSQL database.

``--store`` (or ``SEGUR_STORE``) chooses: absent or ``sqlite``, each store keeps its own SQLite file
in the data folder as before; ``postgresql://...``, every store shares one pooled database.
Stores talk to :class:`Database` only; their schemas are numbered :class:`Migration` lists.
"""

from __future__ import annotations

import os
from pathlib import Path

from harness.core.errors import UsageError
from harness.core.storage.database import POSTGRESQL, SQLITE, Database, Row, Transaction
from harness.core.storage.migrations import Migration, SchemaTooNew, migrate, same_for_both, schema_version
from harness.core.storage.postgresql import StoreUnavailable, redacted
from harness.core.storage.sqlite import SqliteDatabase

__all__ = [
    "POSTGRESQL",
    "SQLITE",
    "STORE_ENV",
    "Database",
    "Migration",
    "Row",
    "SchemaTooNew",
    "SqliteDatabase",
    "Storage",
    "StoreUnavailable",
    "Transaction",
    "migrate",
    "open_postgresql",
    "parse_store",
    "same_for_both",
    "schema_version",
]

STORE_ENV = "SEGUR_STORE"
POSTGRESQL_SCHEMES = ("postgresql://", "postgres://")


def parse_store(value: str | None) -> str | None:
    """The PostgreSQL URL ``--store`` names, or None for SQLite; anything else is a usage error."""
    if value is None or value.strip() in {"", SQLITE}:
        return None
    if value.startswith(POSTGRESQL_SCHEMES):
        return value
    raise UsageError(f"--store: expected 'sqlite' or a postgresql:// URL, not {redacted(value)!r}")


def open_postgresql(url: str) -> Database:
    from harness.core.storage.postgresql import PostgresDatabase

    return PostgresDatabase(url)


class Storage:
    """Where one harness environment keeps its state; closes every database it opened."""

    def __init__(self, data_dir: Path, store: str | None = None):
        self.data_dir = data_dir
        self.url = parse_store(store if store is not None else os.environ.get(STORE_ENV))
        self._shared: Database | None = open_postgresql(self.url) if self.url else None
        self._files: dict[str, Database] = {}

    @property
    def engine(self) -> str:
        return POSTGRESQL if self._shared is not None else SQLITE

    def database(self, sqlite_file: str, synchronous: str = "FULL") -> Database:
        """The database a store uses: the shared PostgreSQL one, or its own file in the data folder."""
        if self._shared is not None:
            return self._shared
        if sqlite_file not in self._files:
            self._files[sqlite_file] = SqliteDatabase(self.data_dir / sqlite_file, synchronous)
        return self._files[sqlite_file]

    def shared_database(self) -> Database | None:
        """The PostgreSQL database every process of this store shares; None with SQLite files.

        For state that used to live in one process's memory only (scenarios): it stays there with
        SQLite, and moves to the database when several processes may serve one PostgreSQL store.
        """
        return self._shared

    def describe(self) -> str:
        return self._shared.describe() if self._shared is not None else f"SQLite files in {self.data_dir}"

    def close(self) -> None:
        for database in self._files.values():
            database.close()
        self._files.clear()
        if self._shared is not None:
            self._shared.close()
            self._shared = None
