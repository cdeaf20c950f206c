"""Where a shared PostgreSQL host's mail goes, kept in its store so that every worker follows it.

SMTP carries no session key: the operator records mail under :class:`ActiveSession`'s key. In one
process that is memory; with ``segur serve --workers N`` a connection may reach any worker, so the
newest session, the foreign-certificate switch and the mail lease (``segur run --host``) live in one
row of the store, the lease taken under a named lock so that two workers never both grant it.
"""

from __future__ import annotations

import time
from typing import Any

from harness.core.storage import Database, migrate, same_for_both
from mock_services.mssante.smtp import ActiveSession

MAIL_ROUTE_COMPONENT = "mail_route"
MAIL_ROUTE_MIGRATIONS = (
    same_for_both(
        1,
        "where a shared host's mail goes: the newest session, the foreign certificate, the mail lease",
        "CREATE TABLE IF NOT EXISTS mail_route (id INTEGER PRIMARY KEY, session_key TEXT NOT NULL, "
        "foreign_certificate INTEGER NOT NULL, lease_key TEXT, lease_until DOUBLE PRECISION NOT NULL)",
    ),
)


class SharedActiveSession(ActiveSession):
    """The same routing kept in a database, so that every worker of one host (``--workers N``) follows it."""

    def __init__(self, database: Database):
        # The base's per-process switches, but key and foreign certificate: those are the database's, and
        # a worker (re)starting must not reset the routing the others follow.
        kept_in_database = {"key", "foreign_certificate"}
        self.__dict__.update({k: v for k, v in vars(ActiveSession()).items() if k not in kept_in_database})
        self._db = database
        migrate(database, MAIL_ROUTE_COMPONENT, MAIL_ROUTE_MIGRATIONS)
        self._db.execute("INSERT INTO mail_route VALUES (1, 'default', 0, NULL, 0) ON CONFLICT (id) DO NOTHING")

    def _get(self, column: str) -> Any:
        row = self._db.one(f"SELECT {column} FROM mail_route WHERE id = 1")
        return row[0] if row else None

    @property
    def key(self) -> str:
        return str(self._get("session_key") or "default")

    @key.setter
    def key(self, key: str) -> None:
        self._db.execute("UPDATE mail_route SET session_key = ? WHERE id = 1", (key,))

    @property
    def foreign_certificate(self) -> bool:
        return bool(self._get("foreign_certificate"))

    @foreign_certificate.setter
    def foreign_certificate(self, foreign: bool) -> None:
        self._db.execute("UPDATE mail_route SET foreign_certificate = ? WHERE id = 1", (int(foreign),))

    def leased_by_another(self, key: str | None = None) -> bool:
        row = self._db.one("SELECT lease_key, lease_until FROM mail_route WHERE id = 1")
        return row is not None and row[0] is not None and row[0] != key and time.time() < float(row[1])

    def follow(self, key: str) -> None:
        # One statement: a worker granting the lease meanwhile is never overwritten (the row lock orders them).
        self._db.execute(
            "UPDATE mail_route SET session_key = ? WHERE id = 1 AND (lease_key IS NULL OR lease_until < ?)",
            (key, time.time()),
        )

    def take_lease(self, key: str, seconds: float) -> bool:
        with self._db.transaction() as tx:
            tx.lock(MAIL_ROUTE_COMPONENT)  # two workers never both grant it
            row = tx.one("SELECT lease_key, lease_until FROM mail_route WHERE id = 1")
            if row is not None and row[0] is not None and row[0] != key and time.time() < float(row[1]):
                return False
            tx.execute(
                "UPDATE mail_route SET lease_key = ?, lease_until = ?, session_key = ? WHERE id = 1",
                (key, time.time() + seconds, key),
            )
        return True

    def release_lease(self, key: str) -> None:
        self._db.execute(
            "UPDATE mail_route SET lease_key = NULL, foreign_certificate = 0 WHERE id = 1 AND lease_key = ?", (key,)
        )
