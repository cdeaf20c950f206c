"""The PSC mock's key ring in the store: every process serving one database signs and publishes the same keys.

With ``segur serve --workers N`` each worker is its own process; a ring of process memory would
give each worker its own JWKS, so an ID token signed by one would not verify against another's.
Here the keys (private JWKs) are rows of ``psc_key``: the first process to open an empty store
creates the encryption key and a signing key under a lock, a rotation adds a key and retires the
oldest under the same lock, and every use of the ring first compares the newest row's number
with the one it loaded (one indexed read) and reloads when another process rotated.
The keys are test keys of a mock: they sit in the store as the PKI's sit in the data folder.
"""

from __future__ import annotations

import json
import threading
import time

from joserfc.jwk import RSAKey

from harness.core.storage import POSTGRESQL, Database, Migration, Transaction, migrate
from mock_services.psc.tokens import PUBLISHED_SIGNING_KEYS, KeyRing, new_encryption_key, new_signing_key

COMPONENT = "psc-keys"
_TABLE = (
    "CREATE TABLE IF NOT EXISTS psc_key (seq {integer} PRIMARY KEY, kid TEXT NOT NULL UNIQUE, "
    "use TEXT NOT NULL, jwk TEXT NOT NULL, created_at {real} NOT NULL)"
)
MIGRATIONS = (
    Migration(
        1,
        "PSC signing and encryption keys",
        (_TABLE.format(integer="INTEGER", real="REAL"),),
        (_TABLE.format(integer="BIGINT", real="DOUBLE PRECISION"),),
    ),
)
LOCK = "psc-keys"
SIGNING, ENCRYPTION = "sig", "enc"
_NEWEST = "SELECT COALESCE(MAX(seq), 0) FROM psc_key"


class SharedKeyRing(KeyRing):
    """A :class:`KeyRing` whose keys are rows of the store; safe to use from several threads and processes."""

    def __init__(self, database: Database):
        self._db = database
        self._loading = threading.Lock()
        self._version = -1
        migrate(database, COMPONENT, MIGRATIONS)
        with database.transaction() as tx:
            tx.lock(LOCK)  # two workers opening an empty store at once create one ring
            if tx.one("SELECT 1 FROM psc_key WHERE use = ?", (ENCRYPTION,)) is None:
                self._insert(tx, new_encryption_key())
            if tx.one("SELECT 1 FROM psc_key WHERE use = ?", (SIGNING,)) is None:
                self._insert(tx, new_signing_key())
        self.refresh()

    @staticmethod
    def _insert(tx: Transaction, key: RSAKey) -> int:
        row = tx.one(_NEWEST)
        seq = int(row[0] if row else 0) + 1
        tx.execute(
            "INSERT INTO psc_key (seq, kid, use, jwk, created_at) VALUES (?, ?, ?, ?, ?)",
            (seq, str(key.kid), str(key.get("use")), json.dumps(key.as_dict(private=True)), time.time()),
        )
        return seq

    def rotate(self) -> str:
        """A new signing key for every process; the previous one stays published, older ones are retired."""
        key = new_signing_key()
        with self._db.transaction() as tx:
            tx.lock(LOCK)
            self._insert(tx, key)
            kept = tx.execute(
                "SELECT seq FROM psc_key WHERE use = ? ORDER BY seq DESC LIMIT ?", (SIGNING, PUBLISHED_SIGNING_KEYS)
            )
            tx.execute("DELETE FROM psc_key WHERE use = ? AND seq < ?", (SIGNING, min(row[0] for row in kept)))
        self.refresh()
        return str(key.kid)

    def _newest(self) -> int:
        # PostgreSQL: one autocommit read, no BEGIN/COMMIT round trips; SQLite: its shared connection.
        rows = self._db.read(_NEWEST) if self._db.dialect == POSTGRESQL else self._db.execute(_NEWEST)
        return int(rows[0][0])

    def refresh(self) -> None:
        """Reload the ring when another process (or thread) rotated since it was loaded."""
        if self._newest() == self._version:
            return
        with self._loading:
            rows = self._db.execute("SELECT seq, use, jwk FROM psc_key ORDER BY seq")
            signing = [RSAKey.import_key(json.loads(jwk)) for _, use, jwk in rows if use == SIGNING]
            encryption = next(RSAKey.import_key(json.loads(jwk)) for _, use, jwk in rows if use == ENCRYPTION)
            # Assigned whole, newest last: a thread reading the ring meanwhile sees the old one or the new one.
            self.keys, self.encryption_key = signing[-PUBLISHED_SIGNING_KEYS:], encryption
            self._version = max(int(row[0]) for row in rows)
