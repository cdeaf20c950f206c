"""MSSanté operator mock: SMTP submission (implicit TLS and STARTTLS) and IMAP over one mail store."""

from __future__ import annotations

import ssl
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509

from harness.core.recorder import OK, REJECTED, Exchange, ExchangeStore
from harness.core.storage import Database
from mock_services.mssante.directory import Directory
from mock_services.mssante.smtp import (
    ActiveSession,
    BearerValidator,
    MssSettings,
    OperatorHandler,
    ServedSmtp,
    serve_smtp,
)
from mock_services.mssante.store import MailStore
from mock_services.mssante.tenancy import MailTenancy

__all__ = ["ActiveSession", "Directory", "MailStore", "MssOperator", "MssSettings", "start_operator"]


class DirectoryAuthenticator:
    """IMAP authentication against the operator's directory (same rules as SMTP submission).

    A tenant's login (``tenancy.py``: its token as the password, or a PSC token issued under one of
    its sessions) opens the tenant's copy of the mailbox only.
    """

    def __init__(
        self,
        directory: Directory,
        bearer: BearerValidator | None,
        allow_password: bool,
        tenancy: MailTenancy | None = None,
        active: ActiveSession | None = None,
    ):
        self.directory, self._validate, self.allow_password = directory, bearer, allow_password
        self.tenancy = tenancy or MailTenancy()
        self.active = active  # whose mail the host holds: a certificate login follows a tenant's lease

    def password(self, user: str, password: str) -> Any:
        from mock_services.mssante.imap import Principal

        mailbox = self.directory.get(user)
        route = self.tenancy.by_password(password) if mailbox is not None and self.allow_password else None
        if mailbox is not None and route is not None:
            return Principal(user, frozenset({route.mailbox(mailbox.address)}), "LOGIN", route.session_key)
        if not self.allow_password or mailbox is None or mailbox.password is None or mailbox.password != password:
            return None
        return Principal(user, frozenset({mailbox.address}), "LOGIN")

    def bearer(self, user: str, token: str, mechanism: str) -> Any:
        from mock_services.mssante.imap import Principal

        claims = self._validate(token) if self._validate else None
        mailbox = self.directory.get(user)
        if claims is None or mailbox is None or mailbox.owner != claims.get("preferred_username"):
            return None
        route = self.tenancy.by_claims(claims)
        if route is not None:
            return Principal(user, frozenset({route.mailbox(mailbox.address)}), mechanism, route.session_key)
        return Principal(user, frozenset({mailbox.address}), mechanism)

    def certificate(self, der: bytes | None, user: str | None) -> Any:
        from mock_services.mssante.imap import Principal

        if not der:
            return None
        names = x509.load_der_x509_certificate(der).subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        mailboxes = self.directory.by_certificate(str(names[0].value) if names else None)
        if user:
            mailboxes = [m for m in mailboxes if m.address == user.lower()]
        if not mailboxes:
            return None
        route = self.tenancy.by_session(self.active.key) if self.active is not None else None
        if route is not None:
            owned = frozenset(route.mailbox(m.address) for m in mailboxes)
            return Principal(user or mailboxes[0].address, owned, "EXTERNAL", route.session_key)
        return Principal(user or mailboxes[0].address, frozenset(m.address for m in mailboxes), "EXTERNAL")


@dataclass
class MssOperator:
    """The running operator: its listeners, store and directory."""

    store: MailStore
    directory: Directory
    active: ActiveSession
    smtps: ServedSmtp
    submission: ServedSmtp
    imap: Any
    host: str
    _closers: list[Any] = field(default_factory=list, repr=False)

    def endpoints(self) -> dict[str, str]:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return {
            "smtp": f"{host}:{self.smtps.port}",  # implicit TLS
            "smtp_starttls": f"{host}:{self.submission.port}",
            "imap": f"{host}:{self.imap.port}",  # implicit TLS
        }

    def begin_stop(self) -> None:
        """Ask the three listeners to stop without waiting; :meth:`stop` then waits for them."""
        for served in (self.smtps, self.submission, self.imap):
            served.begin_stop()

    def stop(self) -> None:
        self.begin_stop()
        for served in (self.smtps, self.submission, self.imap):
            served.stop()
        self.store.close()


def start_operator(
    exchanges: ExchangeStore,
    ssl_context: ssl.SSLContext,
    *,
    data_dir: Path | None = None,
    host: str = "127.0.0.1",
    settings: MssSettings | None = None,
    directory: Directory | None = None,
    bearer: BearerValidator | None = None,
    active: ActiveSession | None = None,
    database: Database | None = None,
    foreign_ssl_context: ssl.SSLContext | None = None,
    other_certificates: dict[str, ssl.SSLContext] | None = None,
    tenancy: MailTenancy | None = None,
) -> MssOperator:
    """The operator's listeners; ``foreign_ssl_context`` (a certificate from outside IGC-Santé) is
    what a connection gets while ``active.foreign_certificate`` is set, ``other_certificates[name]``
    while ``active.operator_certificate`` is ``name`` (the caller may fill the mapping later);
    ``tenancy`` finds the tenant of a login (none: every login is the operator's, as on a single-user host)."""
    from mock_services.mssante.imap import ImapServer, serve_imap

    settings = settings or MssSettings()
    directory = directory or Directory.load()
    active = active or ActiveSession()
    if database is not None:  # the environment's storage (SQLite file or the shared PostgreSQL database)
        store = MailStore(database=database)
    else:
        store = MailStore(data_dir / "mailboxes.sqlite3" if data_dir else ":memory:")
    if foreign_ssl_context is not None or other_certificates is not None:
        others = other_certificates if other_certificates is not None else {}

        def choose_certificate(connection: ssl.SSLObject, server_name: str | None, _: ssl.SSLContext) -> None:
            if active.foreign_certificate and foreign_ssl_context is not None:
                connection.context = foreign_ssl_context
            elif active.operator_certificate in others:
                connection.context = others[active.operator_certificate]

        ssl_context.sni_callback = choose_certificate  # called with or without SNI, before the certificate goes

    def handler(listener: str) -> OperatorHandler:
        return OperatorHandler(store, directory, exchanges, active, settings, bearer, listener, tenancy)

    limit = settings.max_message_bytes
    smtps = serve_smtp(handler("smtps"), ssl_context, implicit_tls=True, host=host, max_message_bytes=limit)
    submission = serve_smtp(handler("submission"), ssl_context, implicit_tls=False, host=host, max_message_bytes=limit)

    def on_command(event: dict[str, Any]) -> None:
        now = time.time()
        session_key = event.pop("session_key", None) or active.key
        exchanges.record(
            Exchange(
                service="mss",
                session_key=session_key,
                operation="imap." + str(event.get("command", "?")).lower().replace(" ", "_"),
                outcome=OK if event.get("result") == "OK" else REJECTED,
                request_body=b"",
                response_body=str(event.get("result", "")).encode(),
                started_at=now,
                finished_at=now,
                request_meta={k: v for k, v in event.items() if k != "result"},
                summary=dict(event),
            )
        )

    authenticator = DirectoryAuthenticator(directory, bearer, settings.allow_password, tenancy, active)
    imap = serve_imap(ImapServer(store, authenticator, on_command=on_command), host=host, ssl_context=ssl_context)
    return MssOperator(store, directory, active, smtps, submission, imap, host)
