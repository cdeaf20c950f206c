"""SEARCH and UID SEARCH: the criteria (flags, headers, body text, sizes, dates, sets, NOT, OR,
groups) compiled into one predicate over (sequence number, message).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from mock_services.mssante.imap.errors import _Bad, _No
from mock_services.mssante.imap.message_commands import _MessageCommands
from mock_services.mssante.imap.mime import _header_matches, _sent_date
from mock_services.mssante.imap.parser import (
    Token,
    _astring,
    _atom,
    _canonical_flag,
    _in_set,
    _is_set,
    _number,
    _parse_set,
    _render,
    _search_date,
)
from mock_services.mssante.store import StoredMessage

Predicate = Callable[[int, StoredMessage], bool]


class _SearchCommands(_MessageCommands):
    """SEARCH, its criteria compiled into predicates."""

    async def _cmd_search(self, tag: str, args: list[Token]) -> tuple[str, str]:
        return self._search(args, uid=False)

    def _search(self, args: list[Token], uid: bool) -> tuple[str, str]:
        if len(args) >= 2 and isinstance(args[0], str) and args[0].upper() == "CHARSET":
            if _astring(args[1]).upper() not in ("UTF-8", "US-ASCII"):
                raise _No("[BADCHARSET (UTF-8 US-ASCII)] Unsupported charset")
            args = args[2:]
        if not args:
            raise _Bad("SEARCH needs at least one criterion")
        predicate = self._criteria(args)
        found = [
            (u if uid else number)
            for number, u in enumerate(self.view, 1)
            if (message := self.current.get(u)) is not None and predicate(number, message)
        ]
        self._untagged(b"SEARCH" + b"".join(b" %d" % n for n in found))
        if not uid and any(u not in self.current for u in self.view):
            # Messages expunged by another session could not be searched, nor the expunge told
            # during SEARCH (RFC 3501 §7.4.1): RFC 5530 §3 has the client warned.
            return "OK", "[EXPUNGEISSUED] SEARCH completed"
        return "OK", "SEARCH completed"

    def _criteria(self, tokens: list[Token]) -> Predicate:
        predicates: list[Predicate] = []
        position = 0
        while position < len(tokens):
            predicate, position = self._criterion(tokens, position)
            predicates.append(predicate)
        return lambda n, m: all(p(n, m) for p in predicates)

    def _criterion(self, tokens: list[Token], position: int) -> tuple[Predicate, int]:
        token = tokens[position]

        def argument(offset: int = 1) -> Token:
            if position + offset >= len(tokens):
                raise _Bad("Missing SEARCH argument")
            return tokens[position + offset]

        if isinstance(token, list):
            if not token:
                raise _Bad("Empty SEARCH group")
            return self._criteria(token), position + 1
        key = _astring(token).upper() if isinstance(token, str) else ""
        flag_keys = {
            "ANSWERED": "\\Answered",
            "DELETED": "\\Deleted",
            "DRAFT": "\\Draft",
            "FLAGGED": "\\Flagged",
            "SEEN": "\\Seen",
        }
        if key == "ALL":
            return (lambda n, m: True), position + 1
        if key in flag_keys:
            flag = flag_keys[key]
            return (lambda n, m: flag in m.flags), position + 1
        if key.startswith("UN") and key[2:] in flag_keys:
            flag = flag_keys[key[2:]]
            return (lambda n, m: flag not in m.flags), position + 1
        if key == "RECENT":
            return (lambda n, m: m.uid in self.recent), position + 1
        if key == "OLD":
            return (lambda n, m: m.uid not in self.recent), position + 1
        if key == "NEW":
            return (lambda n, m: m.uid in self.recent and "\\Seen" not in m.flags), position + 1
        if key in ("KEYWORD", "UNKEYWORD"):
            word, present = _canonical_flag(argument()), key == "KEYWORD"
            return (lambda n, m: (word in m.flags) == present), position + 2
        if key == "HEADER":
            name, needle = _astring(argument()), _astring(argument(2)).casefold()
            return (lambda n, m: _header_matches(self._mime(m), name, needle)), position + 3
        if key in ("SUBJECT", "FROM", "TO", "CC", "BCC"):
            name, needle = key.lower(), _astring(argument()).casefold()
            return (lambda n, m: _header_matches(self._mime(m), name, needle)), position + 2
        if key in ("BODY", "TEXT"):
            needle, whole = _astring(argument()).casefold(), key == "TEXT"

            def contains(n: int, m: StoredMessage) -> bool:
                data = m.raw if whole else self._mime(m).body
                return needle in data.decode("utf-8", "replace").casefold()

            return contains, position + 2
        if key in ("LARGER", "SMALLER"):
            size, larger = _number(argument()), key == "LARGER"
            return (lambda n, m: len(m.raw) > size if larger else len(m.raw) < size), position + 2
        if key in ("BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE"):
            day, sent = _search_date(argument()), key.startswith("SENT")
            compare = key.removeprefix("SENT")

            def dated(n: int, m: StoredMessage) -> bool:
                when = _sent_date(self._mime(m)) if sent else dt.datetime.fromtimestamp(m.internal_date, dt.UTC).date()
                if when is None:
                    return False
                return when < day if compare == "BEFORE" else when == day if compare == "ON" else when >= day

            return dated, position + 2
        if key == "UID":
            ranges = _parse_set(_atom(argument()))
            star = self.view[-1] if self.view else 0
            return (lambda n, m: bool(star) and _in_set(ranges, m.uid, star)), position + 2
        if key == "NOT":
            if position + 1 >= len(tokens):
                raise _Bad("NOT needs a criterion")
            negated, after = self._criterion(tokens, position + 1)
            return (lambda n, m: not negated(n, m)), after
        if key == "OR":
            if position + 1 >= len(tokens):
                raise _Bad("OR needs two criteria")
            left, middle = self._criterion(tokens, position + 1)
            if middle >= len(tokens):
                raise _Bad("OR needs two criteria")
            right, after = self._criterion(tokens, middle)
            return (lambda n, m: left(n, m) or right(n, m)), after
        if isinstance(token, str) and _is_set(token):
            ranges = _parse_set(token)
            count = len(self.view)
            return (lambda n, m: _in_set(ranges, n, count)), position + 1
        raise _Bad(f"Unknown SEARCH criterion {_render(token)[:40]}")
