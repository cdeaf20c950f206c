"""The MSSanté operator's mailboxes: messages by mailbox and folder, in SQLite.

Delivery is one committed transaction per recipient before the SMTP server says 250, so a
message the client saw accepted is on disk; a refused message leaves nothing behind. IMAP
reads the same store (UIDs are stable and strictly increasing per folder, UIDVALIDITY is fixed
per store file).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

from harness.core.durable import open_database

SCHEMA = """
CREATE TABLE IF NOT EXISTS message (
    mailbox TEXT NOT NULL, folder TEXT NOT NULL, uid INTEGER NOT NULL,
    flags TEXT NOT NULL, internal_date REAL NOT NULL, raw BLOB NOT NULL,
    PRIMARY KEY (mailbox, folder, uid)
);
CREATE TABLE IF NOT EXISTS store_info (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS folder_validity (
    mailbox TEXT NOT NULL, folder TEXT NOT NULL, value INTEGER NOT NULL, PRIMARY KEY (mailbox, folder)
);
CREATE TABLE IF NOT EXISTS uid_next (
    mailbox TEXT NOT NULL, folder TEXT NOT NULL, next INTEGER NOT NULL, PRIMARY KEY (mailbox, folder)
);
"""


@dataclass(frozen=True)
class StoredMessage:
    mailbox: str  # the MSSanté address, lower case
    folder: str
    uid: int
    flags: frozenset[str]  # IMAP system flags (\\Seen, \\Deleted, ...) and keywords
    internal_date: float
    raw: bytes  # RFC 5322 bytes as delivered


class MailStore:
    """Thread-safe: SMTP and IMAP servers run on their own event loops."""

    def __init__(self, path: Path | str = ":memory:"):
        self._lock = threading.RLock()
        self._db = open_database(path, SCHEMA)
        row = self._db.execute("SELECT value FROM store_info WHERE key = 'uidvalidity'").fetchone()
        if row is None:
            self.uidvalidity = int(time.time())
            self._db.execute("INSERT INTO store_info VALUES ('uidvalidity', ?)", (str(self.uidvalidity),))
        else:
            self.uidvalidity = int(row[0])

    def close(self) -> None:
        with self._lock:
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
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                uid = self._allocate_uid(mailbox, folder)
                self._db.execute(
                    "INSERT INTO message VALUES (?, ?, ?, ?, ?, ?)",
                    (mailbox, folder, uid, " ".join(sorted(flags)), internal_date or time.time(), raw),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return uid

    def _allocate_uid(self, mailbox: str, folder: str) -> int:
        """The next UID of a folder, never reused within one UIDVALIDITY, even after an expunge (RFC 3501 §2.3.1.1)."""
        row = self._db.execute(
            "SELECT next FROM uid_next WHERE mailbox = ? AND folder = ?", (mailbox, folder)
        ).fetchone()
        uid = int(row[0]) if row else 1
        self._db.execute("INSERT OR REPLACE INTO uid_next VALUES (?, ?, ?)", (mailbox, folder, uid + 1))
        return uid

    def messages(self, mailbox: str, folder: str = "INBOX") -> list[StoredMessage]:
        """Messages of a folder in UID order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT mailbox, folder, uid, flags, internal_date, raw FROM message "
                "WHERE mailbox = ? AND folder = ? ORDER BY uid",
                (mailbox.lower(), folder),
            ).fetchall()
        return [StoredMessage(r[0], r[1], r[2], frozenset(r[3].split()), r[4], bytes(r[5])) for r in rows]

    def folders(self, mailbox: str) -> list[str]:
        with self._lock:
            rows = self._db.execute(
                "SELECT DISTINCT folder FROM message WHERE mailbox = ? ORDER BY folder", (mailbox.lower(),)
            ).fetchall()
        return sorted({"INBOX", *(r[0] for r in rows)})

    def folder_validity(self, mailbox: str, folder: str = "INBOX") -> int:
        """The folder's UIDVALIDITY: its own, kept in the store, distinct from every other folder's."""
        mailbox = mailbox.lower()
        with self._lock:
            row = self._db.execute(
                "SELECT value FROM folder_validity WHERE mailbox = ? AND folder = ?", (mailbox, folder)
            ).fetchone()
            if row is not None:
                return int(row[0])
            # A counter, not MAX(value): a folder deleted and made again must not get its old value back.
            counter = self._db.execute("SELECT value FROM store_info WHERE key = 'validity_next'").fetchone()
            value = int(counter[0]) if counter else self.uidvalidity
            self._db.execute("INSERT OR REPLACE INTO store_info VALUES ('validity_next', ?)", (str(value + 1),))
            self._db.execute("INSERT INTO folder_validity VALUES (?, ?, ?)", (mailbox, folder, value))
        return value

    def drop_folder(self, mailbox: str, folder: str) -> None:
        """Forget a folder and its messages; a folder made again under its name gets a new UIDVALIDITY."""
        with self._lock:
            for table in ("message", "uid_next", "folder_validity"):
                self._db.execute(f"DELETE FROM {table} WHERE mailbox = ? AND folder = ?", (mailbox.lower(), folder))

    def rename_folder(self, mailbox: str, old: str, new: str) -> None:
        """Move a folder's messages, UIDs and UIDVALIDITY under a new name (RFC 3501 §6.3.5)."""
        with self._lock:
            for table in ("message", "uid_next", "folder_validity"):
                self._db.execute(
                    f"UPDATE {table} SET folder = ? WHERE mailbox = ? AND folder = ?", (new, mailbox.lower(), old)
                )

    def next_uid(self, mailbox: str, folder: str = "INBOX") -> int:
        with self._lock:
            row = self._db.execute(
                "SELECT next FROM uid_next WHERE mailbox = ? AND folder = ?", (mailbox.lower(), folder)
            ).fetchone()
        return int(row[0]) if row else 1

    def set_flags(self, mailbox: str, folder: str, uid: int, flags: frozenset[str]) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE message SET flags = ? WHERE mailbox = ? AND folder = ? AND uid = ?",
                (" ".join(sorted(flags)), mailbox.lower(), folder, uid),
            )

    def expunge(self, mailbox: str, folder: str = "INBOX") -> list[int]:
        """Remove the messages flagged \\Deleted; returns their UIDs."""
        gone = [m.uid for m in self.messages(mailbox, folder) if "\\Deleted" in m.flags]
        with self._lock:
            self._db.executemany(
                "DELETE FROM message WHERE mailbox = ? AND folder = ? AND uid = ?",
                [(mailbox.lower(), folder, uid) for uid in gone],
            )
        return gone

    def deliver_all(self, deliveries: list[tuple[str, bytes]], folder: str = "INBOX") -> list[int]:
        """One message to several mailboxes, all or nothing (no half-delivered message)."""
        uids = []
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for mailbox, raw in deliveries:
                    uid = self._allocate_uid(mailbox.lower(), folder)
                    self._db.execute(
                        "INSERT INTO message VALUES (?, ?, ?, ?, ?, ?)",
                        (mailbox.lower(), folder, uid, "", time.time(), raw),
                    )
                    uids.append(uid)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return uids
