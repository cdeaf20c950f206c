"""The server engine: PostgreSQL through psycopg 3 and a connection pool (the ``postgresql`` extra).

Connections run in autocommit and every write is an explicit transaction, committed when its
block ends: PostgreSQL's commit (``synchronous_commit`` on by default) is the durability the
mocks rely on before they answer. Statements are written with SQLite's ``?`` placeholders and
turned into psycopg's ``%s`` here, so a store's SQL never contains a ``%`` of its own.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from harness.core.errors import UsageError
from harness.core.storage.database import POSTGRESQL, Database, Row, Transaction, rows_of

INSTALL_HINT = "install the PostgreSQL extra: pip install 'segur-harness[postgresql]'"
CONNECT_TIMEOUT_S = 10.0


class StoreUnavailable(UsageError):
    """The store named by ``--store`` cannot be used (driver missing, server unreachable)."""


def _psycopg_sql(sql: str) -> str:
    if "%" in sql:
        raise ValueError("store SQL must not contain '%' (psycopg reads it as a placeholder)")
    return sql.replace("?", "%s")


def lock_key(name: str) -> int:
    """A stable 32-bit advisory lock key for a lock name (every process computes the same)."""
    return zlib.crc32(f"segur:{name}".encode())


class _PostgresTransaction(Transaction):
    def __init__(self, connection: Any):
        self._connection = connection

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        cursor = self._connection.execute(_psycopg_sql(sql), tuple(params))
        return rows_of(cursor.fetchall()) if cursor.description is not None else []

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self._connection.cursor() as cursor:
            cursor.executemany(_psycopg_sql(sql), [tuple(row) for row in rows])

    def lock(self, name: str) -> None:
        self._connection.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key(name),))


def redacted(url: str) -> str:
    """The URL without its password, for messages and the evidence."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def _probe(url: str) -> None:
    """One connection before the pool: a server that refuses (down, wrong port, unknown database, bad
    password) is reported at once with libpq's reason, where the pool would retry until its time-out."""
    import psycopg

    try:
        psycopg.connect(url, autocommit=True, connect_timeout=int(CONNECT_TIMEOUT_S)).close()
    except psycopg.Error as exc:
        password = urlsplit(url).password
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if password:
            reason = reason.replace(password, "***")
        raise StoreUnavailable(f"--store {redacted(url)}: cannot connect to PostgreSQL: {reason}") from exc


class PostgresDatabase(Database):
    dialect = POSTGRESQL

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 8):
        try:
            from psycopg_pool import ConnectionPool, PoolTimeout
        except ImportError as exc:
            raise StoreUnavailable(f"--store {redacted(url)}: psycopg is not installed; {INSTALL_HINT}") from exc
        self.url = url
        self._local = threading.local()
        _probe(url)
        self._pool = ConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            open=True,
            kwargs={"autocommit": True, "connect_timeout": int(CONNECT_TIMEOUT_S)},
            name="segur-store",
        )
        try:
            self._pool.wait(timeout=CONNECT_TIMEOUT_S)
        except PoolTimeout as exc:
            self._pool.close()
            raise StoreUnavailable(
                f"--store {redacted(url)}: cannot connect to PostgreSQL within {CONNECT_TIMEOUT_S:.0f} s"
            ) from exc

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        current = getattr(self._local, "transaction", None)
        if current is not None:  # a store calling itself inside its own transaction joins it
            yield current
            return
        with self._pool.connection() as connection, connection.transaction():
            self._local.transaction = tx = _PostgresTransaction(connection)
            try:
                yield tx
            finally:
                self._local.transaction = None

    def read(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        with self._pool.connection() as connection:
            cursor = connection.execute(_psycopg_sql(sql), tuple(params))
            return rows_of(cursor.fetchall())

    def table_columns(self, table: str) -> set[str]:
        rows = self.read(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name = ?",
            (table,),
        )
        return {row[0] for row in rows}

    def describe(self) -> str:
        return f"PostgreSQL {redacted(self.url)}"

    def close(self) -> None:
        self._pool.close()
