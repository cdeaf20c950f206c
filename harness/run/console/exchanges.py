"""What the page shows of the exchange store: exchanges listed through a read-only connection of
their own (polling never holds the lock the mocks record under: a read-only SQLite connection,
or a pooled PostgreSQL one), and bodies shown as text or as a hex dump, capped.
"""

from __future__ import annotations

import codecs
import json
import re
from typing import Any

from harness.core.recorder import Exchange, ExchangeStore

TEXT_SHOWN = 256 * 1024  # bytes of a body the page shows as text; the rest is a download away


HEX_SHOWN = 64 * 1024  # a hex dump is four times the bytes it shows


CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")  # valid UTF-8, yet binary


class ExchangeReader:
    """Lists exchanges through its own read-only connection, so polling never holds the lock mocks record under."""

    LIST = (
        "SELECT id, seq, service, session_key, operation, outcome, http_status, client_subject, started_at, "
        "finished_at, length(request_body), length(response_body) FROM exchange"
    )

    def __init__(self, store: ExchangeStore):
        if store.path == ":memory:":
            raise ValueError("the console reads the exchange store's file; an in-memory store has none")
        self.database = store.database

    def _rows(self, sql: str, params: list[Any]) -> list[Any]:
        return self.database.read(sql, params)

    def latest(
        self,
        after: int,
        service: str | None,
        session_key: str | None,
        limit: int,
        within: list[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Exchanges recorded after sequence number ``after``, newest first; ``within``: of these sessions only."""
        clauses: list[str] = ["seq > ?"]
        params: list[Any] = [after]
        for column, value in (("service", service), ("session_key", session_key)):
            if value:
                clauses.append(f"{column} = ?")
                params.append(value)
        if within is not None:  # a tenant's view: its sessions, none when it has none
            clauses.append(f"session_key IN ({', '.join('?' * len(within))})" if within else "1 = 0")
            params.extend(within)
        rows = self._rows(f"{self.LIST} WHERE {' AND '.join(clauses)} ORDER BY seq DESC LIMIT ?", [*params, limit])
        names = ("id", "seq", "service", "session_key", "operation", "outcome", "http_status", "client_subject")
        return [
            {
                **dict(zip(names, row[:8], strict=True)),
                "started_at": row[8],
                "duration": round(row[9] - row[8], 6),
                "request_size": row[10],
                "response_size": row[11],
            }
            for row in rows
        ]

    def session_requests(self, session_key: str) -> list[Exchange]:
        """A session's exchanges with what :func:`harness.run.sessions.gathered` reads (requests, no responses)."""
        sql = (
            "SELECT service, operation, outcome, request_body, request_meta, seq FROM exchange "
            "WHERE session_key = ? ORDER BY seq"
        )
        return [
            Exchange(
                service,
                session_key,
                operation,
                outcome,
                bytes(body),
                b"",
                0.0,
                0.0,
                request_meta=json.loads(meta),
                seq=seq,
            )
            for service, operation, outcome, body, meta, seq in self._rows(sql, [session_key])
        ]

    def sessions(self, limit: int = 100) -> list[str]:
        """Session keys, most recently active first."""
        sql = "SELECT session_key FROM exchange GROUP BY session_key ORDER BY MAX(seq) DESC LIMIT ?"
        return [row[0] for row in self._rows(sql, [limit])]


def body_view(body: bytes) -> dict[str, Any]:
    """A body as the page shows it: text when it is UTF-8 without control characters, else a hex dump; capped."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    head = body[:TEXT_SHOWN]
    try:
        # not final when cut: a character split by the cap is left out rather than refused
        text = decoder.decode(head, final=len(body) <= TEXT_SHOWN)
    except UnicodeDecodeError:
        text = None
    if text is None or CONTROL_CHARACTERS.search(text):
        shown = body[:HEX_SHOWN]
        return {"encoding": "hex", "size": len(body), "shown": len(shown), "content": hex_dump(shown)}
    shown_bytes = len(head) - len(decoder.getstate()[0])
    return {"encoding": "text", "size": len(body), "shown": shown_bytes, "content": text}


def hex_dump(data: bytes) -> str:
    lines = []
    for offset in range(0, len(data), 16):
        chunk = data[offset : offset + 16]
        printable = "".join(chr(byte) if 32 <= byte < 127 else "." for byte in chunk)
        lines.append(f"{offset:08x}  {chunk.hex(' '):<47}  |{printable}|")
    return "\n".join(lines)
