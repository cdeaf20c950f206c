"""The DMP mock's registry and repository: document entries, contents, authorisations (SQLite or PostgreSQL).

Each session key is its own DMP "realm", so tests sharing one server never see each other's
documents; the test patients' seed documents are written into a realm the first time it is used.
A submission is stored in one transaction, committed (SQLite WAL ``synchronous=FULL``, or
PostgreSQL's commit) before the mock answers: what the client saw acknowledged is on disk, and a
refused submission leaves nothing behind. Every stored row takes the next sequence number, so
lists come back in the order they were stored on either engine.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from harness.core.storage import Database, Migration, SqliteDatabase, migrate, same_for_both

COMPONENT = "dmp"
_TABLES = (
    """CREATE TABLE IF NOT EXISTS entry (
    realm TEXT NOT NULL, entry_uuid TEXT NOT NULL, lid TEXT NOT NULL, version INTEGER NOT NULL,
    unique_id TEXT NOT NULL, patient_ins TEXT NOT NULL, status TEXT NOT NULL,
    author TEXT NOT NULL, author_structure TEXT NOT NULL, confidentiality TEXT NOT NULL,
    type_code TEXT NOT NULL, mime_type TEXT NOT NULL, hash TEXT NOT NULL, size {integer} NOT NULL,
    submission_set TEXT NOT NULL, metadata {blob} NOT NULL, seq {integer} NOT NULL,
    PRIMARY KEY (realm, entry_uuid)
)""",
    "CREATE INDEX IF NOT EXISTS entry_unique ON entry(realm, unique_id)",
    "CREATE INDEX IF NOT EXISTS entry_patient ON entry(realm, patient_ins)",
    """CREATE TABLE IF NOT EXISTS content (
    realm TEXT NOT NULL, unique_id TEXT NOT NULL, data {blob} NOT NULL, PRIMARY KEY (realm, unique_id)
)""",
    """CREATE TABLE IF NOT EXISTS submission_set (
    realm TEXT NOT NULL, entry_uuid TEXT NOT NULL, unique_id TEXT NOT NULL, patient_ins TEXT NOT NULL,
    metadata {blob} NOT NULL, seq {integer} NOT NULL, PRIMARY KEY (realm, entry_uuid)
)""",
    """CREATE TABLE IF NOT EXISTS authorisation (
    realm TEXT NOT NULL, patient_ins TEXT NOT NULL, ps TEXT NOT NULL, status TEXT NOT NULL,
    PRIMARY KEY (realm, patient_ins, ps)
)""",
    "CREATE TABLE IF NOT EXISTS realm (realm TEXT PRIMARY KEY)",
)
# The schema's history: never edit a released step, add one. Version 1 is the schema of the
# harness before versioned migrations, created only where absent: an older file simply adopts it.
MIGRATIONS = (
    Migration(
        1,
        "entries, contents, submission sets, authorisations, realms",
        tuple(t.format(integer="INTEGER", blob="BLOB") for t in _TABLES),
        tuple(t.format(integer="BIGINT", blob="BYTEA") for t in _TABLES),
    ),
    # Every store looks up the next sequence number: without these, a scan of every realm ever stored.
    same_for_both(
        2,
        "sequence indexes",
        "CREATE INDEX IF NOT EXISTS entry_seq ON entry(seq)",
        "CREATE INDEX IF NOT EXISTS submission_set_seq ON submission_set(seq)",
    ),
)
_NEXT_SEQ = (
    "SELECT COALESCE(MAX(s), 0) + 1 FROM "
    "(SELECT MAX(seq) AS s FROM entry UNION ALL SELECT MAX(seq) AS s FROM submission_set) AS latest"
)


@dataclass(frozen=True)
class StoredEntry:
    entry_uuid: str
    lid: str
    version: int
    unique_id: str
    patient_ins: str
    status: str
    author: str
    author_structure: str
    confidentiality: tuple[str, ...]
    type_code: str
    mime_type: str
    hash: str
    size: int
    submission_set: str
    metadata: bytes

    @property
    def masked_from_professionals(self) -> bool:
        return "MASQUE_PS" in self.confidentiality


@dataclass(frozen=True)
class NewSubmissionSet:
    entry_uuid: str
    unique_id: str
    patient_ins: str
    metadata: bytes


_ENTRY_COLUMNS = (
    "entry_uuid, lid, version, unique_id, patient_ins, status, author, author_structure, confidentiality, "
    "type_code, mime_type, hash, size, submission_set, metadata"
)


def _entry(row: tuple) -> StoredEntry:
    values = list(row)
    values[8] = tuple(json.loads(values[8]))
    return StoredEntry(*values)


class DmpRegistry:
    """Thread-safe; on SQLite (its own file or ``:memory:``) or on a shared :class:`Database` (``database=``)."""

    def __init__(self, path: Path | str = ":memory:", *, database: Database | None = None):
        self._owns_database = database is None
        self._db = database if database is not None else SqliteDatabase(path)
        migrate(self._db, COMPONENT, MIGRATIONS)

    def close(self) -> None:
        if self._owns_database:
            self._db.close()

    # -- realms ----------------------------------------------------------------------------

    def claim_realm(self, realm: str) -> bool:
        """True the first time ``realm`` is seen (the caller then seeds it)."""
        with self._db.transaction() as tx:
            tx.lock("dmp-realm")
            if tx.one("SELECT 1 FROM realm WHERE realm = ?", (realm,)) is not None:
                return False
            tx.execute("INSERT INTO realm VALUES (?)", (realm,))
            return True

    # -- writes ----------------------------------------------------------------------------

    def store(
        self,
        realm: str,
        submission_set: NewSubmissionSet | None,
        entries: Iterable[StoredEntry],
        contents: dict[str, bytes],
        status_changes: Iterable[tuple[str, str]] = (),
    ) -> None:
        """Everything of one submission, or nothing."""
        with self._db.transaction() as tx:
            tx.lock("dmp-seq")
            row = tx.one(_NEXT_SEQ)
            seq = int(row[0]) if row else 1
            if submission_set is not None:
                tx.execute(
                    "INSERT INTO submission_set VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        realm,
                        submission_set.entry_uuid,
                        submission_set.unique_id,
                        submission_set.patient_ins,
                        submission_set.metadata,
                        seq,
                    ),
                )
                seq += 1
            for entry_uuid, status in status_changes:
                tx.execute(
                    "UPDATE entry SET status = ? WHERE realm = ? AND entry_uuid = ?", (status, realm, entry_uuid)
                )
            for e in entries:
                tx.execute(
                    "INSERT INTO entry VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        realm,
                        e.entry_uuid,
                        e.lid,
                        e.version,
                        e.unique_id,
                        e.patient_ins,
                        e.status,
                        e.author,
                        e.author_structure,
                        json.dumps(list(e.confidentiality)),
                        e.type_code,
                        e.mime_type,
                        e.hash,
                        e.size,
                        e.submission_set,
                        e.metadata,
                        seq,
                    ),
                )
                seq += 1
            for unique_id, data in contents.items():
                tx.execute("INSERT INTO content VALUES (?, ?, ?)", (realm, unique_id, data))

    def set_authorisation(self, realm: str, patient_ins: str, ps: str, status: str | None) -> None:
        if status is None:
            self._db.execute(
                "DELETE FROM authorisation WHERE realm = ? AND patient_ins = ? AND ps = ?", (realm, patient_ins, ps)
            )
        else:
            self._db.execute(
                "INSERT INTO authorisation VALUES (?, ?, ?, ?) "
                "ON CONFLICT (realm, patient_ins, ps) DO UPDATE SET status = excluded.status",
                (realm, patient_ins, ps, status),
            )

    # -- reads -----------------------------------------------------------------------------

    def authorisation(self, realm: str, patient_ins: str, ps: str) -> str | None:
        row = self._db.one(
            "SELECT status FROM authorisation WHERE realm = ? AND patient_ins = ? AND ps = ?",
            (realm, patient_ins, ps),
        )
        return row[0] if row else None

    def authorised_patients(self, realm: str, ps: str) -> list[str]:
        rows = self._db.execute(
            "SELECT patient_ins FROM authorisation WHERE realm = ? AND ps = ? AND status = 'VALIDE' "
            "ORDER BY patient_ins",
            (realm, ps),
        )
        return [r[0] for r in rows]

    def entries(self, realm: str, patient_ins: str) -> list[StoredEntry]:
        rows = self._db.execute(
            f"SELECT {_ENTRY_COLUMNS} FROM entry WHERE realm = ? AND patient_ins = ? ORDER BY seq",
            (realm, patient_ins),
        )
        return [_entry(r) for r in rows]

    def entry(self, realm: str, entry_uuid: str) -> StoredEntry | None:
        row = self._db.one(
            f"SELECT {_ENTRY_COLUMNS} FROM entry WHERE realm = ? AND entry_uuid = ?", (realm, entry_uuid)
        )
        return _entry(row) if row else None

    def entries_by_unique_id(self, realm: str, unique_id: str) -> list[StoredEntry]:
        """Every version of a document, latest last."""
        rows = self._db.execute(
            f"SELECT {_ENTRY_COLUMNS} FROM entry WHERE realm = ? AND unique_id = ? ORDER BY version, seq",
            (realm, unique_id),
        )
        return [_entry(r) for r in rows]

    def entries_by_lid(self, realm: str, lid: str) -> list[StoredEntry]:
        """Every version of one logical document, latest last."""
        rows = self._db.execute(
            f"SELECT {_ENTRY_COLUMNS} FROM entry WHERE realm = ? AND lid = ? ORDER BY version, seq", (realm, lid)
        )
        return [_entry(r) for r in rows]

    def content(self, realm: str, unique_id: str) -> bytes | None:
        row = self._db.one("SELECT data FROM content WHERE realm = ? AND unique_id = ?", (realm, unique_id))
        return bytes(row[0]) if row else None

    def submission_sets(self, realm: str, patient_ins: str) -> list[tuple[str, str, bytes]]:
        rows = self._db.execute(
            "SELECT entry_uuid, unique_id, metadata FROM submission_set WHERE realm = ? AND patient_ins = ? "
            "ORDER BY seq",
            (realm, patient_ins),
        )
        return [(r[0], r[1], bytes(r[2])) for r in rows]

    def unique_id_used(self, realm: str, unique_id: str) -> bool:
        row = self._db.one(
            "SELECT 1 FROM entry WHERE realm = ? AND unique_id = ? UNION "
            "SELECT 1 FROM submission_set WHERE realm = ? AND unique_id = ?",
            (realm, unique_id, realm, unique_id),
        )
        return row is not None
