"""The exchange recorder: every exchange with a mock, stored in SQLite before it is answered.

Crash safety comes from ordering, not luck: a mock calls :meth:`ExchangeStore.record` and
only then sends its response, and each record is its own committed transaction (WAL,
``synchronous=FULL`` by default), so whatever a client saw acknowledged is on disk.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.core.signing import Signer, canonical_json, sha256_hex

SCHEMA = """
CREATE TABLE IF NOT EXISTS exchange (
    id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    service TEXT NOT NULL,
    session_key TEXT NOT NULL,
    operation TEXT NOT NULL,
    outcome TEXT NOT NULL,
    http_status INTEGER,
    client_subject TEXT,
    started_at REAL NOT NULL,
    finished_at REAL NOT NULL,
    request_meta TEXT NOT NULL,
    request_body BLOB NOT NULL,
    response_meta TEXT NOT NULL,
    response_body BLOB NOT NULL,
    summary TEXT NOT NULL,
    trace TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS exchange_session ON exchange(session_key, seq);
"""
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
    """One SQLite file per data directory (or ``:memory:``); safe to share between threads."""

    def __init__(self, path: Path | str = ":memory:", synchronous: str = "FULL", signer: Signer | None = None):
        if synchronous not in {"OFF", "NORMAL", "FULL"}:
            raise ValueError(f"synchronous must be OFF, NORMAL or FULL, not {synchronous!r}")
        self.path = str(path)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(f"PRAGMA synchronous={synchronous}")
        self._conn.executescript(SCHEMA)
        columns = {row[1] for row in self._conn.execute("PRAGMA table_info(exchange)")}
        if "trace" not in columns:  # a store written before traces existed
            self._conn.execute("ALTER TABLE exchange ADD COLUMN trace TEXT NOT NULL DEFAULT ''")
        self.signer = signer
        row = self._conn.execute("SELECT COALESCE(MAX(seq), 0) FROM exchange").fetchone()
        self._seq = int(row[0])

    def record(self, exchange: Exchange) -> Exchange:
        """Store one exchange durably; returns it with its sequence number set."""
        with self._lock:
            self._seq += 1
            exchange.seq = self._seq
            if self.signer is not None:
                exchange.trace = self.signer.sign(exchange.trace_payload())
            self._conn.execute(
                f"INSERT INTO exchange ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
                _row(exchange),
            )
        return exchange

    def import_exchange(self, exchange: Exchange) -> None:
        """Put back an exchange of another store as it was (sequence and trace kept), for replays."""
        with self._lock:
            self._seq = max(self._seq, exchange.seq)
            self._conn.execute(
                f"INSERT INTO exchange ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
                _row(exchange),
            )

    def exchanges(
        self, session_key: str | None = None, service: str | None = None, outcome: str | None = None
    ) -> list[Exchange]:
        clauses, params = [], []
        for column, value in (("session_key", session_key), ("service", service), ("outcome", outcome)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {', '.join(COLUMNS)} FROM exchange {where} ORDER BY seq", params
            ).fetchall()
        return [_from_row(row) for row in rows]

    def get(self, exchange_id: str) -> Exchange:
        with self._lock:
            row = self._conn.execute(
                f"SELECT {', '.join(COLUMNS)} FROM exchange WHERE id = ?", (exchange_id,)
            ).fetchone()
        if row is None:
            raise KeyError(exchange_id)
        return _from_row(row)

    def __iter__(self) -> Iterator[Exchange]:
        return iter(self.exchanges())

    def close(self) -> None:
        with self._lock:
            self._conn.close()


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
