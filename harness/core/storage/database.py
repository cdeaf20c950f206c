"""What every store of the harness talks to: a database with transactions, whatever its engine.

Stores write their SQL once, with ``?`` placeholders and the types both engines read the same way
(TEXT, INTEGER, REAL as DOUBLE PRECISION, BLOB as BYTEA: the migrations spell the DDL per engine).
A transaction is committed when its ``with`` block ends, so a store that records before it answers
stays durable on either engine (SQLite: WAL, ``synchronous=FULL``; PostgreSQL: its own commit).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any

SQLITE = "sqlite"
POSTGRESQL = "postgresql"

Row = tuple[Any, ...]


class Transaction(ABC):
    """Statements run inside one transaction of one connection."""

    @abstractmethod
    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Run one statement; returns its rows (none for a statement that returns none)."""

    @abstractmethod
    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement once per parameter row."""

    @abstractmethod
    def lock(self, name: str) -> None:
        """Serialise this transaction with every other one taking the same named lock, until it ends.

        SQLite's ``BEGIN IMMEDIATE`` already holds the only write lock there is; PostgreSQL takes a
        transaction-scoped advisory lock, so that several processes on one database stay ordered.
        """

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        rows = self.execute(sql, params)
        return rows[0] if rows else None


class Database(ABC):
    """A database shared by the threads of one process; safe to use from any of them."""

    dialect: str

    @abstractmethod
    def transaction(self) -> AbstractContextManager[Transaction]:
        """A write transaction: committed when the block ends, rolled back when it raises."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """One statement in a transaction of its own."""
        with self.transaction() as tx:
            return tx.execute(sql, params)

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        rows = self.execute(sql, params)
        return rows[0] if rows else None

    @abstractmethod
    def read(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """A read that never waits for the writers' lock (the operator console polls with it)."""

    @abstractmethod
    def table_columns(self, table: str) -> set[str]:
        """The columns of a table (empty when it does not exist)."""

    @abstractmethod
    def describe(self) -> str:
        """Where the data is, for messages (a PostgreSQL password is never shown)."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def rows_of(cursor_rows: Iterator[Any] | list[Any]) -> list[Row]:
    return [tuple(row) for row in cursor_rows]
