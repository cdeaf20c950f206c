"""One IMAP session's command loop: reading a command with its literals, checking it is valid in
the session's state, dispatching it to its handler (a UID command to its UID form), reporting
folder changes, recording it and sending the tagged response.
"""

from __future__ import annotations

import logging
import ssl

from mock_services.mssante.imap.errors import _Bad, _Eof, _No, _TooLong
from mock_services.mssante.imap.parser import _LITERAL_RE, Token, _atom, _render, _tag_of, _tokenize
from mock_services.mssante.imap.responses import _safe_text
from mock_services.mssante.imap.search import _SearchCommands

log = logging.getLogger(__name__)


_ANY_STATE = {"CAPABILITY", "NOOP", "LOGOUT", "ID"}
_NOT_AUTHENTICATED = {"STARTTLS", "LOGIN", "AUTHENTICATE"}
_AUTHENTICATED = {
    "SELECT",
    "EXAMINE",
    "CREATE",
    "DELETE",
    "RENAME",
    "SUBSCRIBE",
    "UNSUBSCRIBE",
    "LIST",
    "LSUB",
    "STATUS",
    "APPEND",
    "NAMESPACE",
    "IDLE",
}
_SELECTED = {"CHECK", "CLOSE", "UNSELECT", "EXPUNGE", "SEARCH", "FETCH", "STORE", "COPY", "MOVE", "UID"}
_USES_VIEW = {"FETCH", "STORE", "SEARCH", "COPY", "MOVE", "EXPUNGE", "UID"}
# RFC 3501 §7.4.1: no EXPUNGE responses during FETCH, STORE or SEARCH (their UID forms are fine).
_NO_EXPUNGE_REPORT = {"FETCH", "STORE", "SEARCH"}
_NO_SYNC_AFTER = {"SELECT", "EXAMINE", "CLOSE", "UNSELECT", "LOGOUT"}


class _Session(_SearchCommands):
    """One client's IMAP session: the command loop over the command classes."""

    async def run(self) -> None:
        self._untagged(b"OK [CAPABILITY " + self._capabilities() + b"] " + _safe_text(self.settings.greeting))
        await self._flush()
        try:
            while not self.closing:
                try:
                    incoming = await self._read_command()
                except _TooLong:
                    self._emit("*", "?", "", "BAD", "Line too long")
                    raise
                if incoming is not None:
                    await self._execute(*incoming)
        except _TooLong:  # the rest of the line cannot be told from a next command: BAD, then close
            self._untagged(b"BAD Line too long")
            await self.say_bye("Line too long")
        except TimeoutError:
            await self.say_bye("Autologout; idle for too long")
        else:
            await self.say_bye("Closing connection")

    async def _read_command(self) -> tuple[bytes, list[bytes], bool] | None:
        """The command's bytes (literals replaced by NUL markers), its literals, and whether it had a NUL."""
        segments: list[bytes] = []
        literals: list[bytes] = []
        line_total = literal_total = 0
        nul = False
        while True:
            line = await self._read_line()
            line_total += len(line)
            if line_total > self.settings.max_line_bytes:
                raise _TooLong()
            nul = nul or b"\x00" in line
            match = _LITERAL_RE.search(line)
            if match is None:
                segments.append(line)
                break
            segments.append(line[: match.start()])
            size, synchronizing = int(match.group(1)), match.group(2) is None
            if literal_total + size > self.settings.max_literal_bytes:
                tag = _tag_of(segments[0])
                words = segments[0].split(b" ")
                command = words[1].decode("ascii", "replace").upper() if len(words) > 1 else "?"
                limit = f"[TOOBIG] Literal larger than {self.settings.max_literal_bytes} bytes"
                if synchronizing:  # the client waits for "+" and will not send the bytes
                    self._emit(tag, command, "", "NO", limit)
                    self._tagged(tag, "NO", limit)
                    await self._flush()
                    return None
                # LITERAL+: the bytes are on their way and there is no reading past them safely
                self._emit(tag, command, "", "BAD", limit)
                self._tagged(tag, "BAD", limit)
                self.closing = True
                return None
            if synchronizing:
                self._out.append(b"+ Ready for literal data\r\n")
                await self._flush()
            literals.append(await self._read_exact(size))
            literal_total += size
        if not any(segments) and not literals:
            return None  # a blank line: nothing to answer
        return b"\x00".join(segments), literals, nul

    async def _execute(self, data: bytes, literals: list[bytes], nul: bool) -> None:
        tag, command, arguments = _tag_of(data), "?", ""
        result, text = "BAD", "Invalid command"
        aborted = False
        self._answered = False
        try:
            if nul:
                raise _Bad("NUL byte in command")
            tokens = _tokenize(data, literals, self.settings.max_nesting)
            if tag == "*" or len(tokens) < 2 or not isinstance(tokens[1], str):
                raise _Bad("Expected: tag command [arguments]")
            command = tokens[1].upper()
            args = tokens[2:]
            if command == "UID" and args and isinstance(args[0], str):
                command = f"UID {args[0].upper()}"
            arguments = self._describe(command, args)
            base = command.split(" ", 1)[0]
            self._check_state(base)
            if self.selected and base in _USES_VIEW:
                # The client numbered this command's messages before hearing of any expunge: those
                # are told after it ran (below), never before it reads its sequence set.
                self._sync(allow_expunge=False)
            handler = getattr(self, f"_cmd_{base.lower()}")
            outcome = await handler(tag, args)
            if outcome is None:  # the handler already answered (STARTTLS)
                return
            result, text = outcome
        except _Bad as exc:
            result, text = "BAD", str(exc)
        except _No as exc:
            result, text = "NO", str(exc)
        except (_Eof, _TooLong, TimeoutError, ConnectionError, ssl.SSLError) as exc:
            result, text = f"BAD Aborted: {type(exc).__name__.lstrip('_')}".split(" ", 1)
            if isinstance(exc, _Eof) and exc.outcome is not None:
                result, text = exc.outcome
            aborted = True
            raise
        except Exception:
            log.exception("IMAP command %s failed", command)
            result, text = "BAD", "Internal server error"
            self.closing = True
        finally:
            if not self._answered:
                if self.selected and command.split(" ", 1)[0] not in _NO_SYNC_AFTER and result != "BAD":
                    self._sync(allow_expunge=command not in _NO_EXPUNGE_REPORT)
                self._emit(tag, command, arguments, result, text)
                if self.closing and not self._bye_sent and not aborted and command != "LOGOUT":
                    self._bye_sent = True
                    self._untagged(b"BYE " + _safe_text(text))
        self._tagged(tag, result, text)
        await self._flush()

    def _check_state(self, command: str) -> None:
        if command in _ANY_STATE:
            return
        if command in _NOT_AUTHENTICATED:
            if self.principal is not None:
                raise _Bad(f"{command} is only valid before authentication")
            return
        if command in _AUTHENTICATED or command in _SELECTED:
            if self.principal is None:
                raise _Bad(f"{command} needs an authenticated session")
            if command in _SELECTED and self.selected is None:
                raise _Bad(f"{command} needs a selected mailbox")
            return
        raise _Bad(f"Unknown command {command[:40]}")

    def _describe(self, command: str, args: list[Token]) -> str:
        """The arguments for the record, without secrets: passwords and SASL data become ***."""
        if command == "LOGIN":
            return " ".join([_render(args[0]) if args else "", "***"]).strip()
        if command == "AUTHENTICATE":
            return " ".join([_render(args[0]) if args else "", "***" if len(args) > 1 else ""]).strip()
        if command.startswith("UID "):
            args = args[1:]
        text = " ".join(_render(a) for a in args)
        return text if len(text) <= 300 else text[:297] + "..."

    async def _cmd_uid(self, tag: str, args: list[Token]) -> tuple[str, str]:
        sub = _atom(args[0]).upper() if args else ""
        rest = args[1:]
        if sub == "FETCH":
            return self._fetch(rest, uid=True)
        if sub == "SEARCH":
            return self._search(rest, uid=True)
        if sub == "STORE":
            return self._store(rest, uid=True)
        if sub == "COPY":
            return self._copy(rest, uid=True, move=False)
        if sub == "MOVE":
            return self._copy(rest, uid=True, move=True)
        if sub == "EXPUNGE":
            if len(rest) != 1:
                raise _Bad("UID EXPUNGE takes a UID set")
            self._expunge([u for _, u in self._targets(_atom(rest[0]), uid=True)])
            return "OK", "UID EXPUNGE completed"
        raise _Bad(f"Unknown UID command {sub[:40]}")
