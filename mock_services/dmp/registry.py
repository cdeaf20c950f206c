"""The DMP mock's registry and repository: document entries, contents, authorisations, in SQLite.

Each session key is its own DMP "realm", so tests sharing one server never see each other's
documents; the test patients' seed documents are written into a realm the first time it is used.
A submission is stored in one transaction, committed (WAL, ``synchronous=FULL``) before the
mock answers: what the client saw acknowledged is on disk, and a refused submission leaves
nothing behind.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from harness.core.durable import open_database

SCHEMA = """
CREATE TABLE IF NOT EXISTS entry (
    realm TEXT NOT NULL, entry_uuid TEXT NOT NULL, lid TEXT NOT NULL, version INTEGER NOT NULL,
    unique_id TEXT NOT NULL, patient_ins TEXT NOT NULL, status TEXT NOT NULL,
    author TEXT NOT NULL, author_structure TEXT NOT NULL, confidentiality TEXT NOT NULL,
    type_code TEXT NOT NULL, mime_type TEXT NOT NULL, hash TEXT NOT NULL, size INTEGER NOT NULL,
    submission_set TEXT NOT NULL, metadata BLOB NOT NULL, seq INTEGER NOT NULL,
    PRIMARY KEY (realm, entry_uuid)
);
CREATE INDEX IF NOT EXISTS entry_unique ON entry(realm, unique_id);
CREATE INDEX IF NOT EXISTS entry_patient ON entry(realm, patient_ins);
CREATE TABLE IF NOT EXISTS content (
    realm TEXT NOT NULL, unique_id TEXT NOT NULL, data BLOB NOT NULL, PRIMARY KEY (realm, unique_id)
);
CREATE TABLE IF NOT EXISTS submission_set (
    realm TEXT NOT NULL, entry_uuid TEXT NOT NULL, unique_id TEXT NOT NULL, patient_ins TEXT NOT NULL,
    metadata BLOB NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (realm, entry_uuid)
);
CREATE TABLE IF NOT EXISTS authorisation (
    realm TEXT NOT NULL, patient_ins TEXT NOT NULL, ps TEXT NOT NULL, status TEXT NOT NULL,
    PRIMARY KEY (realm, patient_ins, ps)
);
CREATE TABLE IF NOT EXISTS realm (realm TEXT PRIMARY KEY);
"""


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
    """Thread-safe: one connection, one lock (the mock's handlers run on one event loop anyway)."""

    def __init__(self, path: Path | str = ":memory:"):
        self._lock = threading.RLock()
        self._db = open_database(path, SCHEMA)
        self._seq = self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM entry").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- realms ----------------------------------------------------------------------------

    def claim_realm(self, realm: str) -> bool:
        """True the first time ``realm`` is seen (the caller then seeds it)."""
        with self._lock:
            cursor = self._db.execute("INSERT OR IGNORE INTO realm VALUES (?)", (realm,))
            return cursor.rowcount == 1

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
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                self._seq += 1
                if submission_set is not None:
                    self._db.execute(
                        "INSERT INTO submission_set VALUES (?, ?, ?, ?, ?, ?)",
                        (
                            realm,
                            submission_set.entry_uuid,
                            submission_set.unique_id,
                            submission_set.patient_ins,
                            submission_set.metadata,
                            self._seq,
                        ),
                    )
                for entry_uuid, status in status_changes:
                    self._db.execute(
                        "UPDATE entry SET status = ? WHERE realm = ? AND entry_uuid = ?", (status, realm, entry_uuid)
                    )
                for e in entries:
                    self._db.execute(
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
                            self._seq,
                        ),
                    )
                for unique_id, data in contents.items():
                    self._db.execute("INSERT INTO content VALUES (?, ?, ?)", (realm, unique_id, data))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def set_authorisation(self, realm: str, patient_ins: str, ps: str, status: str | None) -> None:
        with self._lock:
            if status is None:
                self._db.execute(
                    "DELETE FROM authorisation WHERE realm = ? AND patient_ins = ? AND ps = ?", (realm, patient_ins, ps)
                )
            else:
                self._db.execute(
                    "INSERT OR REPLACE INTO authorisation VALUES (?, ?, ?, ?)", (realm, patient_ins, ps, status)
                )

    # -- reads -----------------------------------------------------------------------------

    def authorisation(self, realm: str, patient_ins: str, ps: str) -> str | None:
        with self._lock:
            row = self._db.execute(
                "SELECT status FROM authorisation WHERE realm = ? AND patient_ins = ? AND ps = ?",
                (realm, patient_ins, ps),
            ).fetchone()
        return row[0] if row else None

    def authorised_patients(self, realm: str, ps: str) -> list[str]:
        with self._lock:
            rows = self._db.execute(
                "SELECT patient_ins FROM authorisation WHERE realm = ? AND ps = ? AND status = 'VALIDE'", (realm, ps)
            ).fetchall()
        return [r[0] for r in rows]

    def entries(self, realm: str, patient_ins: str) -> list[StoredEntry]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_ENTRY_COLUMNS} FROM entry WHERE realm = ? AND patient_ins = ? ORDER BY seq",
                (realm, patient_ins),
            ).fetchall()
        return [_entry(r) for r in rows]

    def entry(self, realm: str, entry_uuid: str) -> StoredEntry | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_ENTRY_COLUMNS} FROM entry WHERE realm = ? AND entry_uuid = ?", (realm, entry_uuid)
            ).fetchone()
        return _entry(row) if row else None

    def entries_by_unique_id(self, realm: str, unique_id: str) -> list[StoredEntry]:
        """Every version of a document, latest last."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_ENTRY_COLUMNS} FROM entry WHERE realm = ? AND unique_id = ? ORDER BY version, seq",
                (realm, unique_id),
            ).fetchall()
        return [_entry(r) for r in rows]

    def entries_by_lid(self, realm: str, lid: str) -> list[StoredEntry]:
        """Every version of one logical document, latest last."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_ENTRY_COLUMNS} FROM entry WHERE realm = ? AND lid = ? ORDER BY version, seq", (realm, lid)
            ).fetchall()
        return [_entry(r) for r in rows]

    def content(self, realm: str, unique_id: str) -> bytes | None:
        with self._lock:
            row = self._db.execute(
                "SELECT data FROM content WHERE realm = ? AND unique_id = ?", (realm, unique_id)
            ).fetchone()
        return bytes(row[0]) if row else None

    def submission_sets(self, realm: str, patient_ins: str) -> list[tuple[str, str, bytes]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT entry_uuid, unique_id, metadata FROM submission_set WHERE realm = ? AND patient_ins = ? "
                "ORDER BY seq",
                (realm, patient_ins),
            ).fetchall()
        return [(r[0], r[1], bytes(r[2])) for r in rows]

    def unique_id_used(self, realm: str, unique_id: str) -> bool:
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM entry WHERE realm = ? AND unique_id = ? UNION "
                "SELECT 1 FROM submission_set WHERE realm = ? AND unique_id = ?",
                (realm, unique_id, realm, unique_id),
            ).fetchone()
        return row is not None
