"""Capabilities, the commands valid in any state (CAPABILITY, NOOP, CHECK, LOGOUT, ID) and those
before authentication: STARTTLS (dropping bytes sent in clear after it), LOGIN and AUTHENTICATE
(PLAIN, XOAUTH2, OAUTHBEARER, EXTERNAL), with the failure limit.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging

from mock_services.mssante.imap.connection import _Connection
from mock_services.mssante.imap.errors import _Bad, _Eof, _No
from mock_services.mssante.imap.parser import Token, _astring, _atom, _sasl_bearer
from mock_services.mssante.imap.responses import CRLF
from mock_services.mssante.imap.settings import _SASL_MECHANISMS, Principal
from mock_services.mssante.tenancy import TENANT_SEPARATOR

log = logging.getLogger(__name__)


class _Authentication(_Connection):
    """Capabilities and the commands that authenticate a session."""

    def _auth_allowed(self) -> bool:
        return self.tls or self.settings.allow_plaintext_auth

    def _capabilities(self) -> bytes:
        caps = ["IMAP4rev1", "LITERAL+", "ID", "IDLE", "NAMESPACE", "UIDPLUS", "MOVE", "UNSELECT", "CHILDREN"]
        caps.append("SPECIAL-USE")
        if self.principal is None:
            if not self.tls and self.starttls_context is not None:
                caps.append("STARTTLS")
            if self._auth_allowed():
                caps.append("SASL-IR")
                for mechanism in self.settings.sasl_mechanisms:
                    if mechanism != "EXTERNAL" or self._peer_der():
                        caps.append(f"AUTH={mechanism}")
            else:
                caps.append("LOGINDISABLED")
        return " ".join(caps).encode("ascii")

    async def _cmd_capability(self, tag: str, args: list[Token]) -> tuple[str, str]:
        if args:
            raise _Bad("CAPABILITY takes no arguments")
        self._untagged(b"CAPABILITY " + self._capabilities())
        return "OK", "CAPABILITY completed"

    async def _cmd_noop(self, tag: str, args: list[Token]) -> tuple[str, str]:
        return "OK", "NOOP completed"

    async def _cmd_check(self, tag: str, args: list[Token]) -> tuple[str, str]:
        return "OK", "CHECK completed"

    async def _cmd_logout(self, tag: str, args: list[Token]) -> tuple[str, str]:
        self._untagged(b"BYE Logging out")
        self._bye_sent = True
        self.closing = True
        return "OK", "LOGOUT completed"

    async def _cmd_id(self, tag: str, args: list[Token]) -> tuple[str, str]:
        if len(args) != 1:
            raise _Bad("ID takes one argument (a list or NIL)")
        self._untagged(b'ID ("name" "segur-harness MSSante mock" "vendor" "segur-harness")')
        return "OK", "ID completed"

    async def _cmd_starttls(self, tag: str, args: list[Token]) -> None:
        if self.tls:
            raise _Bad("TLS is already active")
        if self.starttls_context is None:
            raise _Bad("STARTTLS is not available on this listener")
        # Bytes the client sent after STARTTLS were sent in clear and must not be read as if they
        # came through TLS (command injection, CVE-2011-0411 style): stop reading and drop them.
        transport = self.writer.transport
        if isinstance(transport, asyncio.ReadTransport):
            transport.pause_reading()
        buffered = getattr(self.reader, "_buffer", None)
        injected = len(self._buf) + (len(buffered) if isinstance(buffered, bytearray) else 0)
        self._buf.clear()
        if isinstance(buffered, bytearray):
            buffered.clear()
        if injected:
            log.warning("IMAP STARTTLS: dropped %d bytes sent in clear after the command", injected)
        self._emit(tag, "STARTTLS", "", "OK", "Begin TLS negotiation now")
        self._tagged(tag, "OK", "Begin TLS negotiation now")
        self._answered = True
        await self._flush()
        await self.writer.start_tls(self.starttls_context)
        self.tls = True
        return None

    async def _cmd_login(self, tag: str, args: list[Token]) -> tuple[str, str]:
        if len(args) != 2:
            raise _Bad("LOGIN takes a user name and a password")
        user, password = _astring(args[0]), _astring(args[1])
        self.user, self.method = user, "LOGIN"
        if not self._auth_allowed():
            raise _No("[PRIVACYREQUIRED] LOGIN is disabled before STARTTLS")
        return self._logged_in(self.server.authenticator.password(user, password), None)

    def _logged_in(self, principal: Principal | None, authzid: str | None) -> tuple[str, str]:
        if principal is not None and authzid and _owned(principal, authzid) is None:
            self._failed()
            raise _No("[AUTHORIZATIONFAILED] Not allowed to open that mailbox")
        if principal is None or not principal.mailboxes:
            self._failed()
            raise _No("[AUTHENTICATIONFAILED] Authentication failed")
        preferred = [owned for a in (authzid, principal.user) if a and (owned := _owned(principal, a)) is not None]
        self.address = preferred[0] if preferred else sorted(principal.mailboxes)[0]
        self.principal = principal  # self.method stays the mechanism actually used (PLAIN vs LOGIN)
        return "OK", f"[CAPABILITY {self._capabilities().decode()}] Logged in as {principal.user}"

    def _failed(self) -> None:
        self.auth_failures += 1
        if self.auth_failures >= self.settings.max_auth_failures:
            self.closing = True

    async def _cmd_authenticate(self, tag: str, args: list[Token]) -> tuple[str, str]:
        if not 1 <= len(args) <= 2:
            raise _Bad("AUTHENTICATE takes a mechanism and an optional initial response")
        mechanism = _atom(args[0]).upper()
        self.method = mechanism
        if mechanism not in _SASL_MECHANISMS or mechanism not in self.settings.sasl_mechanisms:
            raise _No(f"Unsupported authentication mechanism {mechanism[:40]}")
        if mechanism != "EXTERNAL" and not self._auth_allowed():
            raise _No("[PRIVACYREQUIRED] Authentication is disabled before STARTTLS")
        if len(args) == 2:
            initial = _astring(args[1])
            response = b"" if initial == "=" else self._base64(initial.encode("ascii", "replace"))
        else:
            response = await self._challenge(b"")
        authenticator = self.server.authenticator
        if mechanism == "PLAIN":
            pieces = response.split(b"\x00")
            if len(pieces) != 3:
                raise _Bad("PLAIN response must be authzid NUL authcid NUL password")
            authzid, authcid, password = (p.decode("utf-8", "replace") for p in pieces)
            self.user = authcid
            if authzid.lower() == authcid.lower():
                authzid = ""
            return self._logged_in(authenticator.password(authcid, password), authzid or None)
        if mechanism == "EXTERNAL":
            identity = response.decode("utf-8", "replace") or None
            self.user = identity
            return self._logged_in(authenticator.certificate(self._peer_der(), identity), identity)
        parsed = _sasl_bearer(response, mechanism)
        self.user = parsed[0] if parsed else None
        principal = authenticator.bearer(parsed[0], parsed[1], mechanism) if parsed else None
        if principal is None:
            # RFC 7628 §3.2.3 (and Google's XOAUTH2): an error challenge, the client's dummy
            # response (\x01), then the failure.
            status = {"status": "invalid_token"} if mechanism == "OAUTHBEARER" else {"status": "401"}
            try:
                await self._challenge(json.dumps({**status, "schemes": "bearer"}).encode(), decode=False)
            except _Eof:  # curl 7.x leaves here after an XOAUTH2 failure: still a refused login
                self._failed()
                raise _Eof(("NO", "[AUTHENTICATIONFAILED] Authentication failed (client left)")) from None
        return self._logged_in(principal, None)

    async def _challenge(self, data: bytes, decode: bool = True) -> bytes:
        """Send a SASL challenge and read the answer (the answer to an error challenge is not decoded)."""
        self._out.append(b"+ " + base64.b64encode(data) + CRLF)
        await self._flush()
        line = (await self._read_line()).strip()
        if line == b"*":
            raise _Bad("Authentication cancelled")
        return self._base64(line) if decode else b""

    def _base64(self, data: bytes) -> bytes:
        try:
            return base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise _Bad("Invalid base64 in SASL response") from None


def _owned(principal: Principal, address: str) -> str | None:
    """The mailbox of ``principal`` that ``address`` names: itself, or a tenant's copy of it (``address#tenant``)."""
    name = address.lower()
    if name in principal.mailboxes:
        return name
    return next((m for m in sorted(principal.mailboxes) if m.split(TENANT_SEPARATOR, 1)[0] == name), None)
