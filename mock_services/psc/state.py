"""Where the PSC mock keeps what a login leaves behind: codes, refresh tokens, CIBA requests, SSO sessions.

A :class:`StateMap` reads like the dict each of them used to be. Without a database it *is* that
dict (the state lives as long as the process, as before); given one (the environment's PostgreSQL
store), each entry is a JSON row of ``psc_state``, so every process serving that database sees
it. Rows are copies: whoever changes an entry writes it back (``states[key] = entry``); a grant
revoked through :func:`revoke` stays revoked wherever it was copied.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import asdict
from typing import Any, Generic, TypeVar

from harness.core.storage import Database, migrate, same_for_both
from mock_services.psc.tokens import Grant

COMPONENT = "psc"
MIGRATIONS = (
    same_for_both(
        1,
        "PSC state by kind and key",
        "CREATE TABLE IF NOT EXISTS psc_state (kind TEXT NOT NULL, key TEXT NOT NULL, body TEXT NOT NULL, "
        "PRIMARY KEY (kind, key))",
    ),
)
_SAVE = "INSERT INTO psc_state VALUES (?, ?, ?) ON CONFLICT (kind, key) DO UPDATE SET body = excluded.body"
REVOKED = "revoked-grant"

T = TypeVar("T")


def prepare(database: Database | None) -> Database | None:
    if database is not None:
        migrate(database, COMPONENT, MIGRATIONS)
    return database


class StateMap(Generic[T]):
    """One kind of state by key: a dict in memory, or rows of the shared database."""

    def __init__(
        self,
        kind: str,
        database: Database | None = None,
        encode: Callable[[T], dict[str, Any]] = asdict,  # type: ignore[assignment]
        decode: Callable[[dict[str, Any]], T] | None = None,
    ):
        self.kind, self._db, self._encode, self._decode = kind, database, encode, decode
        self._memory: dict[str, T] = {}

    def _load(self, body: str) -> T:
        assert self._decode is not None
        value = self._decode(json.loads(body))
        return value

    def get(self, key: str, default: T | None = None) -> T | None:
        if self._db is None:
            return self._memory.get(key, default)
        row = self._db.one("SELECT body FROM psc_state WHERE kind = ? AND key = ?", (self.kind, key))
        return self._load(row[0]) if row else default

    def __getitem__(self, key: str) -> T:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None

    def __setitem__(self, key: str, value: T) -> None:
        if self._db is None:
            self._memory[key] = value
        else:
            self._db.execute(_SAVE, (self.kind, key, json.dumps(self._encode(value))))

    def pop(self, key: str, default: T | None = None) -> T | None:
        """Remove and return an entry; of two processes popping one key at once, only one gets it."""
        if self._db is None:
            return self._memory.pop(key, default)
        row = self._db.one("DELETE FROM psc_state WHERE kind = ? AND key = ? RETURNING body", (self.kind, key))
        return self._load(row[0]) if row else default

    def replace(self, key: str, change: Callable[[T], T]) -> T | None:
        """The entry as it was before ``change`` rewrote it, in one step no other process interleaves with.

        ``change`` returns a new value (``dataclasses.replace``), so the one returned is what was
        there: of two processes redeeming one code at once, exactly one sees it unused.
        """
        if self._db is None:
            before = self._memory.get(key)
            if before is not None:
                self._memory[key] = change(before)
            return before
        with self._db.transaction() as tx:
            tx.lock(f"psc-state:{self.kind}")
            row = tx.one("SELECT body FROM psc_state WHERE kind = ? AND key = ?", (self.kind, key))
            if row is None:
                return None
            before = self._load(row[0])
            tx.execute(_SAVE, (self.kind, key, json.dumps(self._encode(change(before)))))
        return before

    def __delitem__(self, key: str) -> None:
        if self._db is None:
            del self._memory[key]
        else:
            self._db.execute("DELETE FROM psc_state WHERE kind = ? AND key = ?", (self.kind, key))

    def items(self) -> Iterator[tuple[str, T]]:
        if self._db is None:
            return iter(list(self._memory.items()))
        rows = self._db.execute("SELECT key, body FROM psc_state WHERE kind = ? ORDER BY key", (self.kind,))
        return iter([(key, self._load(body)) for key, body in rows])


class Revocations:
    """Grants revoked by a replayed code: in memory the shared object says so; in a database, a row does."""

    def __init__(self, database: Database | None = None):
        self._rows: StateMap[bool] | None = (
            StateMap(REVOKED, database, lambda value: {"revoked": value}, lambda body: bool(body["revoked"]))
            if database is not None
            else None
        )

    def revoke(self, grant: Grant) -> None:
        grant.revoked = True
        if self._rows is not None:
            self._rows[grant.grant_id] = True

    def restore(self, grant: Grant) -> Grant:
        """A grant read back from a row, with its revocation (kept apart, so every copy sees it)."""
        if self._rows is not None and grant.grant_id in self._rows:
            grant.revoked = True
        return grant


def grant_from(data: dict[str, Any]) -> Grant:
    return Grant(**data)
