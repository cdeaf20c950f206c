"""The commands on the messages of the selected folder: FETCH, STORE, EXPUNGE, COPY and MOVE, and
their UID forms (UID EXPUNGE expunges only its own messages).
"""

from __future__ import annotations

import dataclasses
import re

from mock_services.mssante.imap.errors import _Bad, _No
from mock_services.mssante.imap.folder_commands import _FolderCommands
from mock_services.mssante.imap.mime import _bodystructure, _envelope, _parse_part, _Part, _section
from mock_services.mssante.imap.parser import (
    Token,
    _astring,
    _atom,
    _fetch_items,
    _flag_list,
    _in_set,
    _Item,
    _parse_set,
)
from mock_services.mssante.imap.responses import _compact, _flags_out, _internal_date, _literal
from mock_services.mssante.store import StoredMessage


class _MessageCommands(_FolderCommands):
    """The commands that read, flag, copy, move and expunge messages."""

    def _targets(self, text: str, uid: bool) -> list[tuple[int, int]]:
        """(sequence number, UID) of the messages a set names, in sequence order."""
        ranges = _parse_set(text)
        if uid:
            star = self.view[-1] if self.view else 0
            return [(i, u) for i, u in enumerate(self.view, 1) if star and _in_set(ranges, u, star)]
        count = len(self.view)
        for low, high in ranges:
            if any(b is not None and b > count for b in (low, high)) or (count == 0 and None in (low, high)):
                raise _Bad("Invalid message sequence number")
        return [(i, u) for i, u in enumerate(self.view, 1) if _in_set(ranges, i, count)]

    def _mime(self, message: StoredMessage) -> _Part:
        part = self._parts.get(message.uid)
        if part is None:
            part = self._parts[message.uid] = _parse_part(message.raw)
        return part

    def _set_flags(self, message: StoredMessage, flags: frozenset[str]) -> StoredMessage:
        assert self.selected is not None
        address, folder = self.selected
        self.store.set_flags(address, folder, message.uid, flags)
        updated = dataclasses.replace(message, flags=flags)
        self.current[message.uid] = updated
        return updated

    def _flags(self, message: StoredMessage) -> bytes:
        return _flags_out(message.flags | ({"\\Recent"} if message.uid in self.recent else set()))

    async def _cmd_fetch(self, tag: str, args: list[Token]) -> tuple[str, str]:
        return self._fetch(args, uid=False)

    def _fetch(self, args: list[Token], uid: bool) -> tuple[str, str]:
        if len(args) != 2:
            raise _Bad("FETCH takes a message set and data items")
        targets = self._targets(_atom(args[0]), uid)
        items = _fetch_items(args[1])
        for number, message_uid in targets:
            message = self.current.get(message_uid)
            if message is not None:  # expunged by another session, not yet reported
                self._out.append(self._fetch_one(number, message, items, uid))
        return "OK", "FETCH completed"

    def _fetch_one(self, number: int, message: StoredMessage, items: list[_Item], uid: bool) -> bytes:
        names = {item.name for item in items}
        out: list[bytes] = []
        if uid and "UID" not in names:
            out.append(b"UID %d" % message.uid)
        if any(i.sets_seen for i in items) and not self.readonly and "\\Seen" not in message.flags:
            message = self._set_flags(message, message.flags | {"\\Seen"})
            if "FLAGS" not in names:  # RFC 3501: an implicit flag change is reported
                out.append(b"FLAGS " + self._flags(message))
        for item in items:
            out.append(self._fetch_item(item, message))
        return b"* %d FETCH (" % number + b" ".join(out) + b")\r\n"

    def _fetch_item(self, item: _Item, message: StoredMessage) -> bytes:
        name = item.name
        if name == "FLAGS":
            return b"FLAGS " + self._flags(message)
        if name == "UID":
            return b"UID %d" % message.uid
        if name == "INTERNALDATE":
            return b"INTERNALDATE " + _internal_date(message.internal_date)
        if name == "RFC822.SIZE":
            return b"RFC822.SIZE %d" % len(message.raw)
        if name == "RFC822":
            return b"RFC822 " + _literal(message.raw)
        part = self._mime(message)
        if name == "RFC822.HEADER":
            return b"RFC822.HEADER " + _literal(part.header)
        if name == "RFC822.TEXT":
            return b"RFC822.TEXT " + _literal(part.body)
        if name == "ENVELOPE":
            return b"ENVELOPE " + _envelope(part)
        if name in ("BODYSTRUCTURE", "BODY"):
            return name.encode() + b" " + _bodystructure(part, extended=name == "BODYSTRUCTURE")
        data = _section(part, message.raw, item)
        if item.partial is not None:
            origin, count = item.partial
            data = data[origin : origin + count]
        return item.label.encode("utf-8") + b" " + _literal(data)

    async def _cmd_store(self, tag: str, args: list[Token]) -> tuple[str, str]:
        return self._store(args, uid=False)

    def _store(self, args: list[Token], uid: bool) -> tuple[str, str]:
        if len(args) < 3:
            raise _Bad("STORE takes a message set, FLAGS/+FLAGS/-FLAGS[.SILENT] and flags")
        targets = self._targets(_atom(args[0]), uid)
        operation = re.fullmatch(r"([+-]?)FLAGS(\.SILENT)?", _atom(args[1]).upper())
        if operation is None:
            raise _Bad("STORE data item must be FLAGS, +FLAGS or -FLAGS, optionally .SILENT")
        flags = _flag_list(args[2:])
        if self.readonly:
            raise _No("[READ-ONLY] Mailbox is read-only")
        mode, silent = operation.group(1), operation.group(2) is not None
        if mode != "-":
            self._announce_keywords(flags)
        with self.server.lock:
            for number, message_uid in targets:
                message = self.current.get(message_uid)
                if message is None:
                    continue
                new = message.flags | flags if mode == "+" else message.flags - flags if mode == "-" else flags
                if new != message.flags:
                    message = self._set_flags(message, new)
                if not silent:
                    uid_item = b" UID %d" % message.uid if uid else b""
                    self._untagged(b"%d FETCH (FLAGS " % number + self._flags(message) + uid_item + b")")
        return "OK", "STORE completed"

    async def _cmd_expunge(self, tag: str, args: list[Token]) -> tuple[str, str]:
        if self.readonly:
            raise _No("[READ-ONLY] Mailbox is read-only")
        assert self.selected is not None
        with self.server.lock:
            self.store.expunge(*self.selected)
        return "OK", "EXPUNGE completed"

    def _expunge(self, uids: list[int]) -> None:
        """Expunge only these UIDs (if \\Deleted): the others' \\Deleted is lifted meanwhile."""
        if self.readonly:
            raise _No("[READ-ONLY] Mailbox is read-only")
        assert self.selected is not None
        address, folder = self.selected
        wanted = set(uids)
        with self.server.lock:
            spared = [m for m in self.store.messages(address, folder) if "\\Deleted" in m.flags and m.uid not in wanted]
            for message in spared:
                self.store.set_flags(address, folder, message.uid, message.flags - {"\\Deleted"})
            try:
                self.store.expunge(address, folder)
            finally:
                for message in spared:
                    self.store.set_flags(address, folder, message.uid, message.flags)

    async def _cmd_copy(self, tag: str, args: list[Token]) -> tuple[str, str]:
        return self._copy(args, uid=False, move=False)

    async def _cmd_move(self, tag: str, args: list[Token]) -> tuple[str, str]:
        return self._copy(args, uid=False, move=True)

    def _copy(self, args: list[Token], uid: bool, move: bool) -> tuple[str, str]:
        verb = "MOVE" if move else "COPY"
        if len(args) != 2:
            raise _Bad(f"{verb} takes a message set and a mailbox name")
        targets = self._targets(_atom(args[0]), uid)
        address, folder = self._resolve(_astring(args[1]))
        if not self._exists(address, folder):
            raise _No("[TRYCREATE] No such mailbox; CREATE it first")
        if move and self.readonly:
            raise _No("[READ-ONLY] Mailbox is read-only")
        sources: list[int] = []
        copies: list[int] = []
        with self.server.lock:
            for _, message_uid in targets:
                message = self.current.get(message_uid)
                if message is None:
                    continue
                copies.append(
                    self.store.deliver(
                        address, message.raw, folder, message.flags - {"\\Recent"}, message.internal_date
                    )
                )
                sources.append(message.uid)
            if move and sources:
                for message_uid in sources:
                    message = self.current[message_uid]
                    self._set_flags(message, message.flags | {"\\Deleted"})
                self._expunge(sources)
        code = (
            f"[COPYUID {self.store.folder_validity(address, folder)} {_compact(sources)} {_compact(copies)}]"
            if sources
            else ""
        )
        if move:
            if code:
                self._untagged(b"OK " + code.encode() + b" Moved")
            return "OK", f"{verb} completed"
        return "OK", f"{code} {verb} completed".strip()
