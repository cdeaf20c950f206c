"""What all the sessions of one IMAP server share: the mail store, the operator's rules, the
settings and the command recorder, the lock that guards multi-step store updates, and the folder
list and \\Recent bookkeeping that live only in memory.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from mock_services.mssante.imap.settings import Authenticator, CommandEvent, ImapSettings
from mock_services.mssante.store import MailStore


class ServerState:
    """The store, rules and in-memory folder state shared by every session of one server."""

    def __init__(
        self,
        store: MailStore,
        authenticator: Authenticator,
        settings: ImapSettings | None = None,
        on_command: Callable[[CommandEvent], None] | None = None,
    ):
        self.store = store
        self.authenticator = authenticator
        self.settings = settings or ImapSettings()
        self.on_command = on_command
        # Listeners run on their own event loops (threads): shared state and multi-step store
        # updates happen under this lock.
        self.lock = threading.RLock()
        self._created: dict[str, set[str]] = {}
        self._recent_high: dict[tuple[str, str], int] = {}
        self._subscribed: dict[str, set[str]] = {}

    def folders(self, address: str) -> list[str]:
        with self.lock:
            names = {"INBOX", "Sent", *self.store.folders(address), *self._created.get(address, ())}
        return sorted(names, key=lambda name: (name != "INBOX", name))

    def create_folder(self, address: str, folder: str) -> None:
        with self.lock:
            self._created.setdefault(address, set()).add(folder)

    def delete_folder(self, address: str, folder: str) -> None:
        """RFC 3501 §6.3.4: the folder goes with its messages (INBOX is refused before this)."""
        with self.lock:
            self._created.get(address, set()).discard(folder)
            self.store.drop_folder(address, folder)
            # The folder made again numbers its UIDs from 1: an old high-water mark would hide them.
            self._recent_high.pop((address, folder), None)

    def rename_folder(self, address: str, old: str, new: str) -> None:
        with self.lock:
            created = self._created.setdefault(address, set())
            created.discard(old)
            created.add(new)
            self.store.rename_folder(address, old, new)
            high = self._recent_high.pop((address, old), None)
            self._recent_high.pop((address, new), None)
            if high is not None:
                self._recent_high[(address, new)] = high

    def subscriptions(self, address: str) -> set[str]:
        """Subscribed names (RFC 3501 §6.3.6); INBOX and Sent to begin with, as operators set up."""
        with self.lock:
            return set(self._subscribed.setdefault(address, {"INBOX", "Sent"}))

    def subscribe(self, address: str, folder: str, on: bool) -> None:
        with self.lock:
            names = self._subscribed.setdefault(address, {"INBOX", "Sent"})
            if on:
                names.add(folder)
            else:
                names.discard(folder)

    def take_recent(self, address: str, folder: str, uids: Iterable[int], consume: bool) -> set[int]:
        """The UIDs no earlier session has seen; a read-write session takes them for itself."""
        with self.lock:
            high = self._recent_high.get((address, folder), 0)
            recent = {uid for uid in uids if uid > high}
            if consume and recent:
                self._recent_high[(address, folder)] = max(recent)
            return recent

    def peek_recent(self, address: str, folder: str, uids: Iterable[int]) -> int:
        with self.lock:
            high = self._recent_high.get((address, folder), 0)
        return sum(1 for uid in uids if uid > high)
