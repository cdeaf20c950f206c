"""The MSSanté operator's mailboxes: messages by mailbox and folder (SQLite or PostgreSQL).

Delivery is one committed transaction per recipient before the SMTP server says 250, so a
message the client saw accepted is on disk; a refused message leaves nothing behind. IMAP
reads the same store (UIDs are stable and strictly increasing per folder, UIDVALIDITY is fixed
per store).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from harness.core.storage import Database, Migration, SqliteDatabase, Transaction, migrate

COMPONENT = "mss"
_TABLES = (
    """CREATE TABLE IF NOT EXISTS message (
    mailbox TEXT NOT NULL, folder TEXT NOT NULL, uid {integer} NOT NULL,
    flags TEXT NOT NULL, internal_date {real} NOT NULL, raw {blob} NOT NULL,
    PRIMARY KEY (mailbox, folder, uid)
)""",
    "CREATE TABLE IF NOT EXISTS store_info (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS folder_validity (
    mailbox TEXT NOT NULL, folder TEXT NOT NULL, value {integer} NOT NULL, PRIMARY KEY (mailbox, folder)
)""",
    """CREATE TABLE IF NOT EXISTS uid_next (
    mailbox TEXT NOT NULL, folder TEXT NOT NULL, next {integer} NOT NULL, PRIMARY KEY (mailbox, folder)
)""",
)
# The schema's history: never edit a released step, add one. Version 1 is the schema of the
# harness before versioned migrations, created only where absent: an older file simply adopts it.
MIGRATIONS = (
    Migration(
        1,
        "messages, store information, folder UIDVALIDITY and next UID",
        tuple(t.format(integer="INTEGER", real="REAL", blob="BLOB") for t in _TABLES),
        tuple(t.format(integer="BIGINT", real="DOUBLE PRECISION", blob="BYTEA") for t in _TABLES),
    ),
)
_SET_INFO = "INSERT INTO store_info VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value"


@dataclass(frozen=True)
class StoredMessage:
    mailbox: str  # the MSSanté address, lower case
    folder: str
    uid: int
    flags: frozenset[str]  # IMAP system flags (\\Seen, \\Deleted, ...) and keywords
    internal_date: float
    raw: bytes  # RFC 5322 bytes as delivered


class MailStore:
    """Thread-safe (SMTP and IMAP servers run on their own event loops); SQLite or a shared :class:`Database`."""

    def __init__(self, path: Path | str = ":memory:", *, database: Database | None = None):
        self._owns_database = database is None
        self._db = database if database is not None else SqliteDatabase(path)
        migrate(self._db, COMPONENT, MIGRATIONS)
        with self._db.transaction() as tx:
            tx.lock("mss-info")
            row = tx.one("SELECT value FROM store_info WHERE key = 'uidvalidity'")
            if row is None:
                self.uidvalidity = int(time.time())
                tx.execute("INSERT INTO store_info VALUES ('uidvalidity', ?)", (str(self.uidvalidity),))
            else:
                self.uidvalidity = int(row[0])

    def close(self) -> None:
        if self._owns_database:
            self._db.close()

    def deliver(
        self,
        mailbox: str,
        raw: bytes,
        folder: str = "INBOX",
        flags: frozenset[str] = frozenset(),
        internal_date: float | None = None,
    ) -> int:
        """Store one message (its internal date now, unless APPEND gave one); returns its UID."""
        mailbox = mailbox.lower()
        with self._db.transaction() as tx:
            uid = self._allocate_uid(tx, mailbox, folder)
            tx.execute(
                "INSERT INTO message VALUES (?, ?, ?, ?, ?, ?)",
                (mailbox, folder, uid, " ".join(sorted(flags)), internal_date or time.time(), raw),
            )
        return uid

    def _allocate_uid(self, tx: Transaction, mailbox: str, folder: str) -> int:
        """The next UID of a folder, never reused within one UIDVALIDITY, even after an expunge (RFC 3501 §2.3.1.1)."""
        tx.lock("mss-uid")
        row = tx.one("SELECT next FROM uid_next WHERE mailbox = ? AND folder = ?", (mailbox, folder))
        uid = int(row[0]) if row else 1
        tx.execute(
            "INSERT INTO uid_next VALUES (?, ?, ?) ON CONFLICT (mailbox, folder) DO UPDATE SET next = excluded.next",
            (mailbox, folder, uid + 1),
        )
        return uid

    def messages(self, mailbox: str, folder: str = "INBOX") -> list[StoredMessage]:
        """Messages of a folder in UID order."""
        rows = self._db.execute(
            "SELECT mailbox, folder, uid, flags, internal_date, raw FROM message "
            "WHERE mailbox = ? AND folder = ? ORDER BY uid",
            (mailbox.lower(), folder),
        )
        return [StoredMessage(r[0], r[1], r[2], frozenset(r[3].split()), r[4], bytes(r[5])) for r in rows]

    def folders(self, mailbox: str) -> list[str]:
        rows = self._db.execute(
            "SELECT DISTINCT folder FROM message WHERE mailbox = ? ORDER BY folder", (mailbox.lower(),)
        )
        return sorted({"INBOX", *(r[0] for r in rows)})

    def folder_validity(self, mailbox: str, folder: str = "INBOX") -> int:
        """The folder's UIDVALIDITY: its own, kept in the store, distinct from every other folder's."""
        mailbox = mailbox.lower()
        with self._db.transaction() as tx:
            tx.lock("mss-info")
            row = tx.one("SELECT value FROM folder_validity WHERE mailbox = ? AND folder = ?", (mailbox, folder))
            if row is not None:
                return int(row[0])
            # A counter, not MAX(value): a folder deleted and made again must not get its old value back.
            counter = tx.one("SELECT value FROM store_info WHERE key = 'validity_next'")
            value = int(counter[0]) if counter else self.uidvalidity
            tx.execute(_SET_INFO, ("validity_next", str(value + 1)))
            tx.execute("INSERT INTO folder_validity VALUES (?, ?, ?)", (mailbox, folder, value))
        return value

    def drop_folder(self, mailbox: str, folder: str) -> None:
        """Forget a folder and its messages; a folder made again under its name gets a new UIDVALIDITY."""
        with self._db.transaction() as tx:
            for table in ("message", "uid_next", "folder_validity"):
                tx.execute(f"DELETE FROM {table} WHERE mailbox = ? AND folder = ?", (mailbox.lower(), folder))

    def rename_folder(self, mailbox: str, old: str, new: str) -> None:
        """Move a folder's messages, UIDs and UIDVALIDITY under a new name (RFC 3501 §6.3.5)."""
        with self._db.transaction() as tx:
            for table in ("message", "uid_next", "folder_validity"):
                tx.execute(
                    f"UPDATE {table} SET folder = ? WHERE mailbox = ? AND folder = ?", (new, mailbox.lower(), old)
                )

    def next_uid(self, mailbox: str, folder: str = "INBOX") -> int:
        row = self._db.one("SELECT next FROM uid_next WHERE mailbox = ? AND folder = ?", (mailbox.lower(), folder))
        return int(row[0]) if row else 1

    def set_flags(self, mailbox: str, folder: str, uid: int, flags: frozenset[str]) -> None:
        self._db.execute(
            "UPDATE message SET flags = ? WHERE mailbox = ? AND folder = ? AND uid = ?",
            (" ".join(sorted(flags)), mailbox.lower(), folder, uid),
        )

    def expunge(self, mailbox: str, folder: str = "INBOX") -> list[int]:
        """Remove the messages flagged \\Deleted; returns their UIDs."""
        gone = [m.uid for m in self.messages(mailbox, folder) if "\\Deleted" in m.flags]
        with self._db.transaction() as tx:
            tx.executemany(
                "DELETE FROM message WHERE mailbox = ? AND folder = ? AND uid = ?",
                [(mailbox.lower(), folder, uid) for uid in gone],
            )
        return gone

    def deliver_all(self, deliveries: list[tuple[str, bytes]], folder: str = "INBOX") -> list[int]:
        """One message to several mailboxes, all or nothing (no half-delivered message)."""
        uids = []
        with self._db.transaction() as tx:
            for mailbox, raw in deliveries:
                uid = self._allocate_uid(tx, mailbox.lower(), folder)
                tx.execute(
                    "INSERT INTO message VALUES (?, ?, ?, ?, ?, ?)",
                    (mailbox.lower(), folder, uid, "", time.time(), raw),
                )
                uids.append(uid)
        return uids
