"""Tenants of a shared mock host: who owns which session keys (SQLite or PostgreSQL).

A tenant is one vendor, one review or one pipeline. It has a name, a random id and a secret
token shown once at creation; the store keeps only the token's SHA-256 digest, compared in
constant time. A session created with the tenant's token is bound to it here, in the store, so
every worker of ``segur serve --workers N`` knows who owns a key.

Deleting a tenant revokes its token and keeps its sessions bound to its id: they then belong
to nobody who can still present a token, so no tenant created later (even under the same name)
sees them. The operator (the control token, or loopback when there is none) sees everything.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass

from harness.core.errors import UsageError
from harness.core.storage import Database, Migration, migrate

COMPONENT = "tenants"
TOKEN_PREFIX = "segur-tenant-"
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")
_TABLES = (
    """CREATE TABLE IF NOT EXISTS tenant (
    id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, token_digest TEXT NOT NULL UNIQUE, created_at {real} NOT NULL
)""",
    """CREATE TABLE IF NOT EXISTS tenant_session (
    session_key TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, created_at {real} NOT NULL, seq {integer} NOT NULL
)""",
    "CREATE INDEX IF NOT EXISTS tenant_session_owner ON tenant_session(tenant_id, seq)",
)
MIGRATIONS = (
    Migration(
        1,
        "tenants (token digests) and the sessions each one owns",
        tuple(t.format(real="REAL", integer="INTEGER") for t in _TABLES),
        tuple(t.format(real="DOUBLE PRECISION", integer="BIGINT") for t in _TABLES),
    ),
)


class TenantError(UsageError):
    """A tenant command that cannot be done (bad or duplicate name, unknown tenant)."""


@dataclass(frozen=True)
class Tenant:
    id: str
    name: str
    created_at: float

    def as_dict(self) -> dict[str, object]:
        return {"id": self.id, "name": self.name, "created_at": self.created_at}


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class TenantRegistry:
    """Thread-safe; reads the store on every call, so a tenant created by another process counts at once."""

    def __init__(self, database: Database):
        self._db = database
        migrate(database, COMPONENT, MIGRATIONS)

    # -- tenants ---------------------------------------------------------------------------

    def create(self, name: str) -> tuple[Tenant, str]:
        """A new tenant and its token (the only time the token exists in clear)."""
        if not NAME_PATTERN.fullmatch(name):
            raise TenantError(
                f"tenant name {name[:80]!r}: 1 to 63 of a-z, 0-9, '.', '_', '-', starting with a letter or digit"
            )
        tenant = Tenant(id=secrets.token_hex(8), name=name, created_at=time.time())
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self._db.transaction() as tx:
            tx.lock("tenants")
            if tx.one("SELECT 1 FROM tenant WHERE name = ?", (name,)) is not None:
                raise TenantError(f"a tenant named {name!r} exists already (segur tenant list)")
            tx.execute(
                "INSERT INTO tenant VALUES (?, ?, ?, ?)", (tenant.id, name, token_digest(token), tenant.created_at)
            )
        return tenant, token

    def tenants(self) -> list[Tenant]:
        rows = self._db.execute("SELECT id, name, created_at FROM tenant ORDER BY name")
        return [Tenant(r[0], r[1], r[2]) for r in rows]

    def delete(self, name: str) -> Tenant:
        """Revoke a tenant's token; its sessions stay bound to its id (nobody else's)."""
        with self._db.transaction() as tx:
            row = tx.one("SELECT id, name, created_at FROM tenant WHERE name = ?", (name,))
            if row is None:
                raise TenantError(f"no tenant named {name!r} (segur tenant list)")
            tx.execute("DELETE FROM tenant WHERE id = ?", (row[0],))
        return Tenant(row[0], row[1], row[2])

    def any(self) -> bool:
        """Whether tenants were ever involved: a live tenant, or sessions a revoked one owned."""
        return (
            self._db.one("SELECT 1 FROM tenant LIMIT 1") is not None
            or self._db.one("SELECT 1 FROM tenant_session LIMIT 1") is not None
        )

    def authenticate(self, token: str) -> Tenant | None:
        """The tenant whose token this is, or None; the digest is compared in constant time."""
        if not token.startswith(TOKEN_PREFIX):
            return None
        digest = token_digest(token)
        row = self._db.one("SELECT id, name, created_at, token_digest FROM tenant WHERE token_digest = ?", (digest,))
        if row is None or not hmac.compare_digest(str(row[3]), digest):
            return None
        return Tenant(row[0], row[1], row[2])

    # -- sessions --------------------------------------------------------------------------

    def bind_session(self, session_key: str, tenant: Tenant) -> None:
        with self._db.transaction() as tx:
            tx.lock("tenant-session")
            row = tx.one("SELECT COALESCE(MAX(seq), 0) + 1 FROM tenant_session")
            tx.execute(
                "INSERT INTO tenant_session VALUES (?, ?, ?, ?)",
                (session_key, tenant.id, time.time(), int(row[0]) if row else 1),
            )

    def owner(self, session_key: str) -> str | None:
        """The id of the tenant owning a session key; None for the operator's own sessions."""
        row = self._db.one("SELECT tenant_id FROM tenant_session WHERE session_key = ?", (session_key,))
        return str(row[0]) if row else None

    def sessions(self, tenant_id: str | None = None) -> list[str]:
        """Session keys of one tenant (every tenant's with None), newest first."""
        if tenant_id is None:
            rows = self._db.execute("SELECT session_key FROM tenant_session ORDER BY seq DESC")
        else:
            rows = self._db.execute(
                "SELECT session_key FROM tenant_session WHERE tenant_id = ? ORDER BY seq DESC", (tenant_id,)
            )
        return [str(r[0]) for r in rows]

    def newest_session(self, tenant_id: str) -> str | None:
        """Where a tenant's mail goes when its credentials name no session (SMTP has no URL)."""
        row = self._db.one(
            "SELECT session_key FROM tenant_session WHERE tenant_id = ? ORDER BY seq DESC LIMIT 1", (tenant_id,)
        )
        return str(row[0]) if row else None

    def visible(self, session_key: str, tenant: Tenant | None) -> bool:
        """Whether ``tenant`` (None: the operator) may see a session: the operator every one, a tenant its own."""
        return tenant is None or self.owner(session_key) == tenant.id
