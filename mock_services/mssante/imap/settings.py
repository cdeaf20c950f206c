"""What an IMAP listener is configured with: its limits and policy (:class:`ImapSettings`), the
operator's authentication rules it calls (:class:`Authenticator`) and who they let in
(:class:`Principal`), and the shape of the record of each command (``CommandEvent``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

_SASL_MECHANISMS = ("PLAIN", "XOAUTH2", "OAUTHBEARER", "EXTERNAL")


@dataclass(frozen=True)
class Principal:
    """Who authenticated, and which MSSanté mailboxes that gives access to."""

    user: str  # the login name used (an MSSanté address)
    mailboxes: frozenset[str]  # addresses this principal may open (lower case)
    method: str  # "LOGIN", "PLAIN", "XOAUTH2", "OAUTHBEARER", "EXTERNAL"
    # A tenant's login (mock_services.mssante.tenancy): its mailboxes are the tenant's copies, and
    # its commands are recorded under this session.
    session_key: str | None = None


class Authenticator(Protocol):
    """The operator's rules; the IMAP server only carries the credentials to them."""

    def password(self, user: str, password: str) -> Principal | None: ...

    def bearer(self, user: str, token: str, mechanism: str) -> Principal | None: ...

    def certificate(self, der: bytes | None, user: str | None) -> Principal | None: ...


@dataclass
class ImapSettings:
    """One listener's limits and policy: every wait and every buffer is bounded by one of these."""

    max_line_bytes: int = 64 * 1024
    max_literal_bytes: int = 32 * 1024 * 1024
    # Deepest parenthesised list accepted; RFC 3501 sets none, real commands nest 2 or 3 levels
    # (FETCH items, SEARCH OR groups): 32 leaves room and keeps recursive steps far from the limit.
    max_nesting: int = 32
    idle_timeout: float = 300.0  # any wait for the client, IDLE included
    allow_plaintext_auth: bool = False  # LOGIN/AUTHENTICATE refused before TLS (LOGINDISABLED advertised)
    max_auth_failures: int = 5  # then BYE: a mock must not become a password oracle
    idle_poll_interval: float = 0.5  # how often IDLE looks at the store for new or expunged messages
    # SASL mechanisms offered (operators differ; curl 7.x picks OAUTHBEARER whenever it is offered,
    # whatever AUTH= it was given, so an XOAUTH2-only listener is the way to test curl's XOAUTH2).
    sasl_mechanisms: tuple[str, ...] = _SASL_MECHANISMS
    greeting: str = "MSSante IMAP (segur-harness mock) ready"


CommandEvent = dict[str, Any]
