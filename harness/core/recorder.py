"""The exchange recorder: every exchange with a mock, stored before it is answered.

Crash safety comes from ordering, not luck: a mock calls :meth:`ExchangeStore.record` and
only then sends its response, and each record is its own committed transaction (SQLite: WAL,
``synchronous=FULL`` by default; PostgreSQL: its commit), so whatever a client saw acknowledged
is on disk. The store runs on either engine of :mod:`harness.core.storage`.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.core.signing import Signer, canonical_json, sha256_hex
from harness.core.storage import Database, Migration, SqliteDatabase, migrate, same_for_both

COMPONENT = "exchanges"
_COLUMNS_V1 = """
    id TEXT PRIMARY KEY,
    seq {integer} NOT NULL,
    service TEXT NOT NULL,
    session_key TEXT NOT NULL,
    operation TEXT NOT NULL,
    outcome TEXT NOT NULL,
    http_status INTEGER,
    client_subject TEXT,
    started_at {real} NOT NULL,
    finished_at {real} NOT NULL,
    request_meta TEXT NOT NULL,
    request_body {blob} NOT NULL,
    response_meta TEXT NOT NULL,
    response_body {blob} NOT NULL,
    summary TEXT NOT NULL
"""
_SESSION_INDEX = "CREATE INDEX IF NOT EXISTS exchange_session ON exchange(session_key, seq)"
# The schema's history: never edit a released step, add one (tests/test_storage.py migrates each).
MIGRATIONS = (
    Migration(
        1,
        "exchange table",
        (
            f"CREATE TABLE IF NOT EXISTS exchange ({_COLUMNS_V1.format(integer='INTEGER', real='REAL', blob='BLOB')})",
            _SESSION_INDEX,
        ),
        (
            f"CREATE TABLE IF NOT EXISTS exchange "
            f"({_COLUMNS_V1.format(integer='BIGINT', real='DOUBLE PRECISION', blob='BYTEA')})",
            _SESSION_INDEX,
        ),
    ),
    same_for_both(2, "trace signature column", "ALTER TABLE exchange ADD COLUMN trace TEXT NOT NULL DEFAULT ''"),
    # the next sequence number and the console's "recorded after" both look seq up
    same_for_both(3, "sequence index", "CREATE INDEX IF NOT EXISTS exchange_seq ON exchange(seq)"),
)
SEQ_LOCK = "exchange-seq"


def _adopt(columns_of: Callable[[str], set[str]]) -> int:
    """An exchange file of a harness before versioned migrations: with the trace column, version 2."""
    columns = columns_of("exchange")
    if not columns:
        return 0
    return 2 if "trace" in columns else 1


COLUMNS = (
    "id",
    "seq",
    "service",
    "session_key",
    "operation",
    "outcome",
    "http_status",
    "client_subject",
    "started_at",
    "finished_at",
    "request_meta",
    "request_body",
    "response_meta",
    "response_body",
    "summary",
    "trace",
)

_INSERT = f"INSERT INTO exchange ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"

# Outcomes of an exchange, as seen by the mock (not a verdict on the client):
OK = "ok"  # a business answer (including CR 01/02 style "not found" answers)
FAULT = "fault"  # a protocol fault the service would send (unknown software, technical error...)
REJECTED = "rejected"  # input the mock refused before any business handling (malformed, too big...)


@dataclass
class Exchange:
    service: str
    session_key: str
    operation: str
    outcome: str
    request_body: bytes
    response_body: bytes
    started_at: float
    finished_at: float
    http_status: int | None = None
    client_subject: str | None = None
    request_meta: dict[str, Any] = field(default_factory=dict)
    response_meta: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    seq: int = 0
    trace: str = ""  # the mock's signature of trace_payload(), when its store has a signer

    def identity(self) -> dict[str, Any]:
        """Who, what and when: the fields a trace signs and an evidence pack lists."""
        return {
            "id": self.id,
            "seq": self.seq,
            "service": self.service,
            "session_key": self.session_key,
            "operation": self.operation,
            "outcome": self.outcome,
            "http_status": self.http_status,
            "client_subject": self.client_subject,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
        }

    def trace_payload(self) -> bytes:
        """What the trace signature covers: identity, timing and the SHA-256 of both bodies."""
        return canonical_json(
            {
                **self.identity(),
                "request_sha256": sha256_hex(self.request_body),
                "response_sha256": sha256_hex(self.response_body),
            }
        )

    def brief(self) -> dict[str, Any]:
        """What reports list for an exchange (no raw bytes)."""
        return {
            "id": self.id,
            "service": self.service,
            "session_key": self.session_key,
            "operation": self.operation,
            "outcome": self.outcome,
            "http_status": self.http_status,
            "client_subject": self.client_subject,
            "started_at": self.started_at,
            "duration": round(self.finished_at - self.started_at, 6),
            "summary": self.summary,
            "request_sha256": sha256_hex(self.request_body),
            "response_sha256": sha256_hex(self.response_body),
            "trace": self.trace,
        }


class ExchangeStore:
    """The exchanges of one harness environment; safe to share between threads.

    By default one SQLite file (or ``:memory:``); given a :class:`~harness.core.storage.Database`
    (``database=``), the exchange table of that database, SQLite or PostgreSQL, which the store then
    does not close (its owner does).
    """

    def __init__(
        self,
        path: Path | str = ":memory:",
        synchronous: str = "FULL",
        signer: Signer | None = None,
        *,
        database: Database | None = None,
    ):
        self._owns_database = database is None
        self.database = database if database is not None else SqliteDatabase(path, synchronous)
        # the file the console reads apart; for PostgreSQL, where the data is (password hidden)
        self.path = self.database.path if isinstance(self.database, SqliteDatabase) else self.database.describe()
        self.schema_version = migrate(self.database, COMPONENT, MIGRATIONS, adopt=_adopt)
        self.signer = signer

    def record(self, exchange: Exchange) -> Exchange:
        """Store one exchange durably (committed when this returns); returns it with its sequence number set."""
        with self.database.transaction() as tx:
            tx.lock(SEQ_LOCK)  # sequence numbers in commit order, even with several processes on one database
            row = tx.one("SELECT COALESCE(MAX(seq), 0) FROM exchange")
            exchange.seq = int(row[0] if row else 0) + 1
            if self.signer is not None:
                exchange.trace = self.signer.sign(exchange.trace_payload())
            tx.execute(_INSERT, _row(exchange))
        return exchange

    def import_exchange(self, exchange: Exchange) -> None:
        """Put back an exchange of another store as it was (sequence and trace kept), for replays."""
        with self.database.transaction() as tx:
            tx.lock(SEQ_LOCK)
            tx.execute(_INSERT, _row(exchange))

    def exchanges(
        self,
        session_key: str | None = None,
        service: str | None = None,
        outcome: str | None = None,
        *,
        after_seq: int = 0,
    ) -> list[Exchange]:
        clauses: list[str] = []
        params: list[str | int] = []
        for column, value in (("session_key", session_key), ("service", service), ("outcome", outcome)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if after_seq:
            clauses.append("seq > ?")
            params.append(after_seq)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self.database.execute(f"SELECT {', '.join(COLUMNS)} FROM exchange {where} ORDER BY seq", params)
        return [_from_row(row) for row in rows]

    def last_seq(self) -> int:
        """The sequence number of the latest exchange recorded (0 for none)."""
        row = self.database.one("SELECT COALESCE(MAX(seq), 0) FROM exchange")
        return int(row[0]) if row else 0

    def get(self, exchange_id: str) -> Exchange:
        row = self.database.one(f"SELECT {', '.join(COLUMNS)} FROM exchange WHERE id = ?", (exchange_id,))
        if row is None:
            raise KeyError(exchange_id)
        return _from_row(row)

    def __iter__(self) -> Iterator[Exchange]:
        return iter(self.exchanges())

    def close(self) -> None:
        if self._owns_database:
            self.database.close()


def _row(exchange: Exchange) -> tuple[Any, ...]:
    return (
        exchange.id,
        exchange.seq,
        exchange.service,
        exchange.session_key,
        exchange.operation,
        exchange.outcome,
        exchange.http_status,
        exchange.client_subject,
        exchange.started_at,
        exchange.finished_at,
        json.dumps(exchange.request_meta, ensure_ascii=False),
        exchange.request_body,
        json.dumps(exchange.response_meta, ensure_ascii=False),
        exchange.response_body,
        json.dumps(exchange.summary, ensure_ascii=False),
        exchange.trace,
    )


def _from_row(row: tuple[Any, ...]) -> Exchange:
    (
        id_,
        seq,
        service,
        key,
        operation,
        outcome,
        status,
        subject,
        started,
        finished,
        req_meta,
        req_body,
        resp_meta,
        resp_body,
        summary,
        trace,
    ) = row
    return Exchange(
        id=id_,
        seq=seq,
        service=service,
        session_key=key,
        operation=operation,
        outcome=outcome,
        http_status=status,
        client_subject=subject,
        started_at=started,
        finished_at=finished,
        request_meta=json.loads(req_meta),
        request_body=bytes(req_body),
        response_meta=json.loads(resp_meta),
        response_body=bytes(resp_body),
        summary=json.loads(summary),
        trace=trace,
    )


def record_artefact(
    store: ExchangeStore, service: str, session_key: str, operation: str, raw: bytes, started: float
) -> None:
    """Keep what a product produced on request (a document, a resource) as run evidence."""
    store.record(
        Exchange(service, session_key, operation, OK, b"", raw, started, time.time(), summary={"bytes": len(raw)})
    )


def now() -> float:
    return time.time()
