"""Mailbox access: mapping mailbox names onto (address, folder) for a principal with several
mailboxes, SELECT and EXAMINE, reporting changes (EXPUNGE, EXISTS), LIST/LSUB, NAMESPACE,
STATUS, CREATE, DELETE, RENAME (refused), SUBSCRIBE, APPEND and IDLE.
"""

from __future__ import annotations

import datetime as dt
import re

from mock_services.mssante.imap.authentication import _Authentication
from mock_services.mssante.imap.errors import _Bad, _No
from mock_services.mssante.imap.parser import _DATE_TIME_RE, _SYSTEM_FLAGS, Literal, Token, _astring, _atom, _flag_list
from mock_services.mssante.imap.responses import _flags_out, _nstring


class _FolderCommands(_Authentication):
    """The commands that name, open, list and fill folders."""

    def _mailboxes(self) -> list[str]:
        assert self.principal is not None and self.address is not None
        return [self.address, *sorted(m for m in self.principal.mailboxes if m != self.address)]

    def _resolve(self, name: str) -> tuple[str, str]:
        """(address, folder) of a mailbox name; NO when it does not exist."""
        assert self.principal is not None and self.address is not None
        address, folder = self.address, name.rstrip("/")
        prefix, slash, rest = folder.partition("/")
        if slash and prefix.lower() in self.principal.mailboxes and prefix.lower() != self.address:
            address, folder = prefix.lower(), rest
        if folder.upper() == "INBOX":
            folder = "INBOX"
        if not folder:
            raise _No("[NONEXISTENT] No such mailbox")
        return address, folder

    def _exists(self, address: str, folder: str) -> bool:
        return folder in self.server.folders(address)

    def _display(self, address: str, folder: str) -> str:
        return folder if address == self.address else f"{address}/{folder}"

    async def _cmd_select(self, tag: str, args: list[Token]) -> tuple[str, str]:
        return self._select(args, readonly=False)

    async def _cmd_examine(self, tag: str, args: list[Token]) -> tuple[str, str]:
        return self._select(args, readonly=True)

    def _select(self, args: list[Token], readonly: bool) -> tuple[str, str]:
        if len(args) != 1:
            raise _Bad("SELECT/EXAMINE take one mailbox name")
        self._deselect()
        address, folder = self._resolve(_astring(args[0]))
        if not self._exists(address, folder):
            raise _No("[NONEXISTENT] No such mailbox")
        messages = self.store.messages(address, folder)
        self.selected, self.selected_name, self.readonly = (address, folder), self._display(address, folder), readonly
        self.view = [m.uid for m in messages]
        self.current = {m.uid: m for m in messages}
        self.recent = self.server.take_recent(address, folder, self.view, consume=not readonly)
        self.keywords = {f for m in messages for f in m.flags if not f.startswith("\\")}
        self._untagged(b"FLAGS " + _flags_out([*_SYSTEM_FLAGS, *self.keywords]))
        self._untagged(b"%d EXISTS" % len(self.view))
        self._untagged(b"%d RECENT" % len(self.recent))
        unseen = next((i for i, m in enumerate(messages, 1) if "\\Seen" not in m.flags), None)
        if unseen is not None:
            self._untagged(b"OK [UNSEEN %d] First unseen message" % unseen)
        self._untagged(b"OK [UIDVALIDITY %d] UIDs valid" % self.store.folder_validity(address, folder))
        self._untagged(b"OK [UIDNEXT %d] Predicted next UID" % self.store.next_uid(address, folder))
        permanent = b"()" if readonly else _flags_out([*_SYSTEM_FLAGS, *self.keywords, "\\*"])
        self._untagged(b"OK [PERMANENTFLAGS " + permanent + b"] Flags permitted")
        if readonly:
            return "OK", "[READ-ONLY] EXAMINE completed"
        return "OK", "[READ-WRITE] SELECT completed"

    def _announce_keywords(self, flags: frozenset[str]) -> None:
        """An untagged FLAGS before a FETCH names a keyword the client was not told of (RFC 3501 §7.2.6)."""
        new = {f for f in flags if not f.startswith("\\")} - self.keywords
        if new:
            self.keywords |= new
            self._untagged(b"FLAGS " + _flags_out([*_SYSTEM_FLAGS, *self.keywords]))
            self._untagged(b"OK [PERMANENTFLAGS " + _flags_out([*_SYSTEM_FLAGS, *self.keywords, "\\*"]) + b"] Flags")

    def _deselect(self) -> None:
        self.selected = self.selected_name = None
        self.view, self.recent, self.current, self._parts = [], set(), {}, {}

    async def _cmd_close(self, tag: str, args: list[Token]) -> tuple[str, str]:
        assert self.selected is not None
        if not self.readonly:
            with self.server.lock:
                self.store.expunge(*self.selected)
        self._deselect()
        return "OK", "CLOSE completed"

    async def _cmd_unselect(self, tag: str, args: list[Token]) -> tuple[str, str]:
        self._deselect()
        return "OK", "UNSELECT completed"

    def _sync(self, allow_expunge: bool) -> None:
        """Tell the client what changed in the selected folder since it last heard (FETCH FLAGS, EXPUNGE, EXISTS)."""
        assert self.selected is not None
        messages = self.store.messages(*self.selected)
        previous, self.current = self.current, {m.uid: m for m in messages}
        # Another session's STORE (this session's own updates ``current`` as it goes): RFC 3501 §7.4.2.
        changed = [
            (number, message)
            for number, uid in enumerate(self.view, 1)
            if (message := self.current.get(uid)) is not None
            and (before := previous.get(uid)) is not None
            and before.flags != message.flags
        ]
        if changed:
            self._announce_keywords(frozenset().union(*(m.flags for _, m in changed)))
        for number, message in changed:
            flags = _flags_out(message.flags | ({"\\Recent"} if message.uid in self.recent else set()))
            self._untagged(b"%d FETCH (UID %d FLAGS " % (number, message.uid) + flags + b")")
        if allow_expunge:
            # Highest sequence number first: each EXPUNGE then leaves the lower numbers valid.
            for index in range(len(self.view) - 1, -1, -1):
                uid = self.view[index]
                if uid not in self.current:
                    self._untagged(b"%d EXPUNGE" % (index + 1))
                    del self.view[index]
                    self.recent.discard(uid)
                    self._parts.pop(uid, None)
        last = self.view[-1] if self.view else 0
        arrived = [m.uid for m in messages if m.uid > last]
        if arrived:
            # Another session may have appended or copied them with keywords this one never heard of.
            self._announce_keywords(frozenset().union(*(self.current[uid].flags for uid in arrived)))
            self.view.extend(arrived)
            address, folder = self.selected
            self.recent |= self.server.take_recent(address, folder, arrived, consume=not self.readonly)
            self._untagged(b"%d EXISTS" % len(self.view))
            self._untagged(b"%d RECENT" % len(self.recent))

    async def _cmd_list(self, tag: str, args: list[Token]) -> tuple[str, str]:
        return self._list(args, "LIST")

    async def _cmd_lsub(self, tag: str, args: list[Token]) -> tuple[str, str]:
        return self._list(args, "LSUB")

    def _list(self, args: list[Token], verb: str) -> tuple[str, str]:
        if len(args) != 2:
            raise _Bad(f"{verb} takes a reference and a mailbox pattern")
        reference, pattern = _astring(args[0]), _astring(args[1])
        if not pattern:
            self._untagged(verb.encode() + b' (\\Noselect) "/" ""')
            return "OK", f"{verb} completed"
        expression = "".join(".*" if c == "*" else "[^/]*" if c == "%" else re.escape(c) for c in reference + pattern)
        exact, inbox = re.compile(expression), re.compile(expression, re.IGNORECASE)
        names: dict[str, bool] = {}  # display name -> selectable
        for address in self._mailboxes():
            subscribed = self.server.subscriptions(address) if verb == "LSUB" else None
            for folder in self.server.folders(address):
                if subscribed is not None and folder not in subscribed:
                    continue
                name = self._display(address, folder)
                names[name] = True
                parts = name.split("/")
                for i in range(1, len(parts)):
                    names.setdefault("/".join(parts[:i]), False)
        for name, selectable in names.items():
            is_inbox = name.rsplit("/", 1)[-1] == "INBOX"
            if not (exact.fullmatch(name) or (is_inbox and inbox.fullmatch(name))):
                continue
            children = any(other.startswith(name + "/") for other in names)
            attributes = ["\\HasChildren" if children else "\\HasNoChildren"]
            if not selectable:
                attributes.insert(0, "\\Noselect")
            if name.rsplit("/", 1)[-1] == "Sent":
                attributes.append("\\Sent")
            self._untagged(f'{verb} ({" ".join(attributes)}) "/" '.encode() + _nstring(name))
        return "OK", f"{verb} completed"

    async def _cmd_namespace(self, tag: str, args: list[Token]) -> tuple[str, str]:
        others = self._mailboxes()[1:]
        shared = b"(" + b"".join(b"(" + _nstring(f"{a}/") + b' "/")' for a in others) + b")" if others else b"NIL"
        self._untagged(b'NAMESPACE (("" "/")) NIL ' + shared)
        return "OK", "NAMESPACE completed"

    async def _cmd_status(self, tag: str, args: list[Token]) -> tuple[str, str]:
        if len(args) != 2 or not isinstance(args[1], list):
            raise _Bad("STATUS takes a mailbox name and a list of items")
        name = _astring(args[0])
        address, folder = self._resolve(name)
        if not self._exists(address, folder):
            raise _No("[NONEXISTENT] No such mailbox")
        messages = self.store.messages(address, folder)
        out: list[str] = []
        for item in args[1]:
            key = _atom(item).upper()
            if key == "MESSAGES":
                value = len(messages)
            elif key == "RECENT":
                value = self.server.peek_recent(address, folder, [m.uid for m in messages])
            elif key == "UIDNEXT":
                value = self.store.next_uid(address, folder)
            elif key == "UIDVALIDITY":
                value = self.store.folder_validity(address, folder)
            elif key == "UNSEEN":
                value = sum(1 for m in messages if "\\Seen" not in m.flags)
            else:
                raise _Bad(f"Unknown STATUS item {key[:40]}")
            out.append(f"{key} {value}")
        self._untagged(b"STATUS " + _nstring(name) + b" (" + " ".join(out).encode() + b")")
        return "OK", "STATUS completed"

    async def _cmd_create(self, tag: str, args: list[Token]) -> tuple[str, str]:
        if len(args) != 1:
            raise _Bad("CREATE takes one mailbox name")
        address, folder = self._resolve(_astring(args[0]))
        if self._exists(address, folder):
            raise _No("[ALREADYEXISTS] Mailbox already exists")
        self.server.create_folder(address, folder)
        return "OK", "CREATE completed"

    async def _cmd_delete(self, tag: str, args: list[Token]) -> tuple[str, str]:
        if len(args) != 1:
            raise _Bad("DELETE takes one mailbox name")
        address, folder = self._resolve(_astring(args[0]))
        if not self._exists(address, folder):
            raise _No("[NONEXISTENT] No such mailbox")
        if folder in ("INBOX", "Sent") or self.selected == (address, folder):
            raise _No("[CANNOT] INBOX, Sent and the selected folder cannot be deleted")
        self.server.delete_folder(address, folder)
        return "OK", "DELETE completed"

    async def _cmd_rename(self, tag: str, args: list[Token]) -> tuple[str, str]:
        if len(args) != 2:
            raise _Bad("RENAME takes two mailbox names")
        address, old = self._resolve(_astring(args[0]))
        target, new = self._resolve(_astring(args[1]))
        if not self._exists(address, old):
            raise _No("[NONEXISTENT] No such mailbox")
        if target != address or self._exists(target, new):
            raise _No("[ALREADYEXISTS] The new name exists or is in another mailbox")
        if old in ("INBOX", "Sent") or self.selected == (address, old):
            # RENAME INBOX moves its messages and leaves INBOX empty (RFC 3501 §6.3.5): not offered here.
            raise _No("[CANNOT] INBOX, Sent and the selected folder cannot be renamed")
        self.server.rename_folder(address, old, new)
        return "OK", "RENAME completed"

    async def _cmd_subscribe(self, tag: str, args: list[Token]) -> tuple[str, str]:
        if len(args) != 1:
            raise _Bad("SUBSCRIBE takes one mailbox name")
        address, folder = self._resolve(_astring(args[0]))
        if not self._exists(address, folder):
            raise _No("[NONEXISTENT] No such mailbox")
        self.server.subscribe(address, folder, True)
        return "OK", "SUBSCRIBE completed"

    async def _cmd_unsubscribe(self, tag: str, args: list[Token]) -> tuple[str, str]:
        if len(args) != 1:
            raise _Bad("UNSUBSCRIBE takes one mailbox name")
        address, folder = self._resolve(_astring(args[0]))
        self.server.subscribe(address, folder, False)
        return "OK", "UNSUBSCRIBE completed"

    async def _cmd_append(self, tag: str, args: list[Token]) -> tuple[str, str]:
        if len(args) < 2:
            raise _Bad("APPEND takes a mailbox, optional flags and date, and a literal")
        name, rest = _astring(args[0]), args[1:]
        flags: frozenset[str] = frozenset()
        if isinstance(rest[0], list):
            flags = _flag_list([rest[0]])
            rest = rest[1:]
        internal_date = None
        if len(rest) == 2 and isinstance(rest[0], bytes) and not isinstance(rest[0], Literal):
            if not _DATE_TIME_RE.fullmatch(_astring(rest[0])):
                raise _Bad("Invalid APPEND date-time")
            try:
                internal_date = dt.datetime.strptime(_astring(rest[0]).strip(), "%d-%b-%Y %H:%M:%S %z").timestamp()
            except ValueError:
                raise _Bad("Invalid APPEND date-time") from None
            rest = rest[1:]
        if len(rest) != 1 or not isinstance(rest[0], Literal):
            raise _Bad("APPEND needs the message as one literal")
        address, folder = self._resolve(name)
        if not self._exists(address, folder):
            raise _No("[TRYCREATE] No such mailbox; CREATE it first")
        with self.server.lock:
            uid = self.store.deliver(address, bytes(rest[0]), folder, flags, internal_date)
        return "OK", f"[APPENDUID {self.store.folder_validity(address, folder)} {uid}] APPEND completed"

    async def _cmd_idle(self, tag: str, args: list[Token]) -> tuple[str, str]:
        if args:
            raise _Bad("IDLE takes no arguments")
        self._out.append(b"+ idling\r\n")
        await self._flush()
        waited = 0.0
        while (line := self._take_line()) is None:
            try:
                await self._fill(self.settings.idle_poll_interval)
            except TimeoutError:
                waited += self.settings.idle_poll_interval
                if waited >= self.settings.idle_timeout:
                    raise
                if self.selected is not None:
                    self._sync(allow_expunge=True)
                    await self._flush()
        if line.strip().upper() != b"DONE":
            raise _Bad("Expected DONE to end IDLE")
        return "OK", "IDLE terminated"
