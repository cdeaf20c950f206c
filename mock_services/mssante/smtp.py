"""The MSSanté operator's SMTP submission service (aiosmtpd): authentication, checks, delivery, acks.

Two listeners, as operators run them (facts §3.1): implicit TLS (port 465 style) and STARTTLS
(port 587 style, no AUTH before TLS). A sender authenticates with a PSC bearer token
(XOAUTH2/OAUTHBEARER, the token's IdNatPs owning the mailbox), a password where the directory
gives one, or an ORG certificate naming an ORG/APP mailbox. Every SMTP transaction is recorded;
a message is delivered to all its recipients in one transaction, or not at all. A tenant's login
(``tenancy.py``) is recorded under the tenant's session and delivers into the tenant's mailboxes.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import email.policy
import email.utils
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509

from harness.core.recorder import FAULT, OK, REJECTED, Exchange, ExchangeStore
from harness.protocols import mssmail
from harness.protocols.mockserver import listening_socket
from mock_services.mssante import dsn
from mock_services.mssante.directory import Directory, Mailbox
from mock_services.mssante.intake import screen
from mock_services.mssante.smtp_hygiene import from_problem, inspect, raw_problem
from mock_services.mssante.smtp_protocol import OperatorSmtp
from mock_services.mssante.store import MailStore
from mock_services.mssante.tenancy import MailRoute, MailTenancy, tenant_mailbox

BearerValidator = Callable[[str], dict[str, Any] | None]


class ActiveSession:
    """The session key exchanges are recorded under (SMTP has no URL to carry one): set per test.

    On a shared host, one session at a time may hold the *mail lease* (``segur run --host``): the
    host's mail goes to it until it gives the lease back or the lease lapses (wall clock).
    """

    def __init__(self, key: str = "default"):
        self.key = key
        # This test's connections get the server certificate from outside IGC-Santé (SC.MSS/CONF.27).
        self.foreign_certificate = False
        # The name of another server certificate the operator presents in this test (SC.MSS/CONF.22), or None.
        self.operator_certificate: str | None = None
        self._lease: tuple[str, float] | None = None  # (holder, until), in this process only
        self._lease_lock = threading.Lock()  # each HTTP mock serves its control endpoints from its own thread

    def leased_by_another(self, key: str | None = None) -> bool:
        return self._lease is not None and self._lease[0] != key and time.time() < self._lease[1]

    def follow(self, key: str) -> None:
        """A new session gets the mail, unless another session holds the lease (checked and set at once)."""
        with self._lease_lock:
            if not self.leased_by_another():
                self.key = key

    def take_lease(self, key: str, seconds: float) -> bool:
        """Mail goes to ``key`` from now on; False (nothing changed) while another session holds it."""
        with self._lease_lock:
            if self.leased_by_another(key):
                return False
            self._lease = (key, time.time() + seconds)
            self.key = key
            return True

    def release_lease(self, key: str) -> None:
        with self._lease_lock:
            if self._lease is not None and self._lease[0] == key:
                self._lease = None
                self.foreign_certificate = False  # a switch of the holder's test never reaches the next one
                self.operator_certificate = None


@dataclass(frozen=True)
class MssSettings:
    domain: str = "harnais.mssante.fr"
    # Inferred: facts §3.3 gives a usual 25 MB limit for patient messages; the same limit for all.
    max_message_bytes: int = 25 * 1024 * 1024
    allow_password: bool = True  # operators differ (facts §3.1): passwords allowed, for test mailboxes
    unsupported_xdm: str = "refuse"  # or "accept": an XDM in an unsupported zip format (see intake.py)
    # Refuse bare LF/CR (RFC 5321 §2.3.8: CR and LF only as CRLF; the SMTP smuggling class of input).
    strict_line_endings: bool = True
    # RFC 4954 §4 asks for at least 12288 octets; a PSC access token is about 1 KB, 16 KiB leaves room.
    max_sasl_response_bytes: int = 16 * 1024
    # SASL mechanisms not offered (operators differ; curl 7.x takes OAUTHBEARER whenever it is offered,
    # so excluding it is the way to drive curl's XOAUTH2).
    sasl_excluded: tuple[str, ...] = ()


@dataclass
class Principal:
    method: str
    mailboxes: list[Mailbox]
    user: str | None = None
    claims: dict[str, Any] = field(default_factory=dict)
    route: MailRoute | None = None  # a tenant's login: its session and mailboxes

    def mailbox(self, address: str) -> str:
        """Where this sender's mail for ``address`` is stored."""
        return tenant_mailbox(address, self.route.tenant_id if self.route else None)


def _peer_certificate(server: SMTP) -> x509.Certificate | None:
    transport = server.transport
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    return x509.load_der_x509_certificate(der) if der else None


def _tls_details(server: SMTP, session: Session) -> dict[str, Any]:
    """The negotiated TLS version and suite, and the client's suites this server also enables
    (OpenSSL's shared ciphers: what a verifier can see of the ClientHello), TLS 1.3 ones apart."""
    transport = server.transport
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    if ssl_object is None and isinstance(session.ssl, dict):
        ssl_object = session.ssl.get("ssl_object")
    if ssl_object is None:
        return {}
    cipher = ssl_object.cipher()
    shared = ssl_object.shared_ciphers() or []
    return {
        "tls_version": ssl_object.version(),
        "tls_cipher": cipher[0] if cipher else None,
        "tls_offered": sorted({name for name, protocol, _ in shared if protocol != "TLSv1.3"}),
    }


def _common_name(certificate: x509.Certificate | None) -> str | None:
    if certificate is None:
        return None
    names = certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(names[0].value) if names else None


def _sasl_bearer(blob: bytes, mechanism: str) -> tuple[str, str] | None:
    """(user, token) from an XOAUTH2 (``user=..\\x01auth=Bearer ..``) or OAUTHBEARER (RFC 7628) response."""
    text = blob.decode("utf-8", "replace")
    user = token = None
    head, _, rest = text.partition("\x01") if mechanism == "OAUTHBEARER" else ("", "", text)
    for part in head.split(","):
        if part.startswith("a="):
            user = part[2:]
    for item in rest.split("\x01"):
        key, _, value = item.partition("=")
        if key == "user":
            user = value
        elif key == "auth" and value.lower().startswith("bearer "):
            token = value[7:].strip()
    return (user, token) if user and token else None


class OperatorHandler:
    def __init__(
        self,
        store: MailStore,
        directory: Directory,
        exchanges: ExchangeStore,
        active: ActiveSession,
        settings: MssSettings,
        bearer: BearerValidator | None,
        listener: str,
        tenancy: MailTenancy | None = None,
    ):
        self.store, self.directory, self.exchanges, self.active = store, directory, exchanges, active
        self.settings, self.bearer, self.listener = settings, bearer, listener
        self.tenancy = tenancy or MailTenancy()

    # -- recording -------------------------------------------------------------------------

    def record(self, operation: str, outcome: str, request: bytes, response: str, meta: dict[str, Any]) -> None:
        now = time.time()
        self.exchanges.record(
            Exchange(
                service="mss",
                session_key=meta.pop("_session", None) or self.active.key,
                operation=operation,
                outcome=outcome,
                request_body=request,
                response_body=response.encode(),
                started_at=meta.pop("_started", now),
                finished_at=now,
                client_subject=meta.get("client_subject"),
                request_meta=meta,
                summary={"response": response, **{k: meta[k] for k in ("auth", "tls") if k in meta}},
            )
        )

    def _meta(self, server: SMTP, session: Session, envelope: Envelope | None = None) -> dict[str, Any]:
        certificate = _peer_certificate(server)
        principal: Principal | None = getattr(session, "auth_data", None)
        meta: dict[str, Any] = {
            "listener": self.listener,
            "tls": "implicit" if self.listener == "smtps" else ("starttls" if session.ssl is not None else "none"),
            "client_subject": certificate.subject.rfc4514_string() if certificate else None,
            "auth": principal.method if isinstance(principal, Principal) else None,
            "user": principal.user if isinstance(principal, Principal) else None,
            "helo": session.host_name,
            **_tls_details(server, session),
        }
        if isinstance(principal, Principal) and principal.route is not None:
            meta["_session"] = principal.route.session_key
        if envelope is not None:
            meta.update(
                mail_from=envelope.mail_from,
                rcpt_tos=list(envelope.rcpt_tos),
                mail_options=list(envelope.mail_options),
                rcpt_options=list(getattr(envelope, "rcpt_options", [])),
            )
            if isinstance(envelope, dsn.DsnEnvelope):  # RFC 3461 parameters, kept apart by the protocol
                meta["dsn"] = {
                    "ret": envelope.ret,
                    "envid": envelope.envelope_id,
                    "notify": {
                        r: sorted(q.notify) if q.notify is not None else None for r, q in envelope.recipients.items()
                    },
                    "orcpt": {r: q.original_recipient for r, q in envelope.recipients.items() if q.original_recipient},
                }
        return meta

    # -- authentication --------------------------------------------------------------------

    def authenticator(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        """PLAIN and LOGIN: a directory password, when the operator allows passwords."""
        if not isinstance(data, LoginPassword) or not self.settings.allow_password:
            return AuthResult(success=False, handled=False)
        user = data.login.decode("utf-8", "replace").lower()
        password = data.password.decode("utf-8", "replace")
        mailbox = self.directory.get(user)
        route = self.tenancy.by_password(password) if mailbox is not None else None
        own_password = mailbox is not None and mailbox.password is not None and mailbox.password == password
        ok = mailbox is not None and (route is not None or own_password)
        meta = self._meta(server, session) | {"auth_attempt": mechanism, "user": user}
        if route is not None:
            meta["_session"] = route.session_key
        self.record("smtp.auth", OK if ok else REJECTED, b"", "235" if ok else "535", meta)
        if not ok or mailbox is None:
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=Principal(mechanism, [mailbox], user, route=route))

    async def _bearer(self, server: SMTP, args: list[str], mechanism: str) -> AuthResult:
        try:
            blob: Any = base64.b64decode(args[1], validate=True) if len(args) > 1 else await server.challenge_auth("")
        except binascii.Error:
            return AuthResult(success=False, handled=False, message="501 5.5.2 Réponse SASL mal encodée en base64")
        if not isinstance(blob, bytes):
            return AuthResult(success=False, handled=True)
        parsed = _sasl_bearer(blob, mechanism)
        claims = self.bearer(parsed[1]) if parsed and self.bearer else None
        owner = claims.get("preferred_username") if claims else None
        mailbox = self.directory.get(parsed[0]) if parsed else None
        ok = mailbox is not None and owner is not None and mailbox.owner == owner
        route = self.tenancy.by_claims(claims) if ok else None
        assert server.session is not None
        meta = self._meta(server, server.session) | {"auth_attempt": mechanism, "user": parsed[0] if parsed else None}
        if route is not None:
            meta["_session"] = route.session_key
        self.record("smtp.auth", OK if ok else REJECTED, b"", "235" if ok else "535", meta)
        if not ok or mailbox is None or claims is None:
            if mechanism == "XOAUTH2":  # Google's exchange: an error challenge, then the client's empty line
                await server.challenge_auth(b'{"status":"401","schemes":"bearer"}')
            return AuthResult(success=False, handled=False, message="535 5.7.8 Jeton PSC refusé")
        return AuthResult(
            success=True, auth_data=Principal(mechanism, [mailbox], parsed[0] if parsed else None, claims, route)
        )

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        return await self._bearer(server, args, "XOAUTH2")

    async def auth_OAUTHBEARER(self, server: SMTP, args: list[str]) -> AuthResult:
        return await self._bearer(server, args, "OAUTHBEARER")

    def _principal(self, server: SMTP, session: Session) -> Principal | None:
        authenticated = getattr(session, "auth_data", None)
        if isinstance(authenticated, Principal):
            return authenticated
        mailboxes = self.directory.by_certificate(_common_name(_peer_certificate(server)))
        if not mailboxes:
            return None
        return Principal("certificate", mailboxes, route=self.tenancy.by_session(self.active.key))

    # -- the transaction -------------------------------------------------------------------

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        principal = self._principal(server, session)
        meta = self._meta(server, session) | {"mail_from": address}
        if principal is None:
            status = "530 5.7.0 Authentification requise (jeton PSC, certificat ORG ou mot de passe)"
        elif address.lower() not in {m.address for m in principal.mailboxes}:
            status = "553 5.7.1 Adresse d'expéditeur non autorisée pour cette authentification"
        else:
            envelope.mail_from = address
            envelope.mail_options.extend(options)
            session.auth_data = principal  # type: ignore[assignment]  # aiosmtpd types it as the AUTH data
            return "250 2.1.0 OK"
        self.record("smtp.mail", REJECTED, b"", status, meta)
        return status

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        accepted, reason = self.directory.accepts(address)
        if not accepted:
            status = f"550 5.1.1 {address}: {reason}"
            self.record("smtp.rcpt", REJECTED, b"", status, self._meta(server, session, envelope) | {"rcpt": address})
            return status
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        meta = self._meta(server, session, envelope)
        problem = raw_problem(raw, self.settings.strict_line_endings)
        if problem is not None:
            status = f"554 5.6.0 Message refusé: {problem}"
            self.record("smtp.data", REJECTED, raw, status, meta)
            return status
        screening = screen(raw, inspect, self.settings.unsupported_xdm)
        if screening.reply is not None or screening.message is None:
            self.record("smtp.data", screening.outcome, raw, screening.reply or "", meta)
            return screening.reply or ""
        message = screening.message
        principal = self._principal(server, session)
        sender_problem = from_problem(message, {m.address for m in principal.mailboxes} if principal else set())
        if sender_problem is not None:
            status = f"550 5.7.1 Message refusé: {sender_problem}"
            self.record("smtp.data", REJECTED, raw, status, meta)
            return status
        stamped = self._stamp(raw, envelope, session)
        failed = [r for r in envelope.rcpt_tos if (m := self.directory.get(r)) is not None and m.delivery == "full"]
        delivered = [r for r in envelope.rcpt_tos if r not in failed]
        owner = principal or Principal("none", [])
        try:
            self.store.deliver_all([(owner.mailbox(r), stamped) for r in delivered])
        except Exception as exc:  # a storage failure is a temporary failure, never a half delivery
            status = f"451 4.3.0 Remise impossible: {type(exc).__name__}"
            self.record("smtp.data", FAULT, raw, status, meta)
            return status
        status = "250 2.0.0 Message accepté"
        self.record("smtp.data", OK, raw, status, meta)
        self._acknowledge(raw, message, envelope, delivered, failed, owner)
        return status

    def _stamp(self, raw: bytes, envelope: Envelope, session: Session) -> bytes:
        received = (
            f"Return-Path: <{envelope.mail_from}>\r\n"
            f"Received: from {session.host_name or 'unknown'} by {self.settings.domain} with ESMTPSA; "
            f"{email.utils.formatdate(localtime=True)}\r\n"
        )
        return received.encode() + raw

    def _acknowledge(
        self,
        raw: bytes,
        message: EmailMessage,
        envelope: Envelope,
        delivered: list[str],
        failed: list[str],
        sender_principal: Principal,
    ) -> None:
        """The DSN owed (RFC 3461 NOTIFY, or Return-Receipt-To), an MDN from auto-acknowledging mailboxes
        (into the sender's tenant's mailboxes, when the sender is a tenant's)."""
        sender = envelope.mail_from or ""
        legacy = message.get("Return-Receipt-To") is not None
        report = dsn.owed_report(raw, legacy, envelope, delivered, failed, domain=self.settings.domain)
        if report is not None and self.directory.get(sender):
            self.store.deliver(sender_principal.mailbox(sender), report)
        ack_to = str(message.get("Disposition-Notification-To") or "")
        target = email.utils.parseaddr(ack_to)[1].lower()
        for recipient in delivered:
            mailbox = self.directory.get(recipient)
            if mailbox is None or not mailbox.auto_ack or not self.directory.get(target):
                continue
            error = None if mailbox.auto_ack == "processed" else mailbox.auto_ack
            mdn = mssmail.mdn(raw, reporter=mailbox.address, error=error)
            self.store.deliver(sender_principal.mailbox(target), mdn)


@dataclass
class ServedSmtp:
    host: str
    port: int
    implicit_tls: bool
    _loop: asyncio.AbstractEventLoop = field(repr=False)
    _thread: threading.Thread = field(repr=False)
    _server: asyncio.base_events.Server | None = field(default=None, repr=False)

    def begin_stop(self) -> None:
        """Ask the listener to stop without waiting (it winds down in 0.2 s); :meth:`stop` then waits."""

        def close() -> None:
            if self._server is not None:
                self._server.close()
            # Connections closing now need a few loop turns to release their sockets.
            self._loop.call_later(0.2, self._loop.stop)

        with contextlib.suppress(RuntimeError):  # the loop already ended on its own
            self._loop.call_soon_threadsafe(close)

    def stop(self) -> None:
        self.begin_stop()
        self._thread.join(10)

    def __enter__(self) -> ServedSmtp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_smtp(
    handler: OperatorHandler,
    ssl_context: ssl.SSLContext,
    *,
    implicit_tls: bool,
    host: str = "127.0.0.1",
    port: int = 0,
    max_message_bytes: int,
) -> ServedSmtp:
    """Run one SMTP listener in a background thread; returns once it accepts connections."""
    sock = listening_socket("smtps" if implicit_tls else "submission", host, port)
    loop = asyncio.new_event_loop()

    def factory() -> SMTP:
        return OperatorSmtp(
            handler,
            max_sasl_response_bytes=handler.settings.max_sasl_response_bytes,
            strict_line_endings=handler.settings.strict_line_endings,
            hostname=handler.settings.domain,
            data_size_limit=max_message_bytes,
            enable_SMTPUTF8=True,
            tls_context=None if implicit_tls else ssl_context,
            require_starttls=not implicit_tls,
            auth_require_tls=not implicit_tls,  # implicit TLS: the whole connection is already encrypted
            authenticator=handler.authenticator,
            auth_exclude_mechanism=handler.settings.sasl_excluded,
            loop=loop,
        )

    ready = threading.Event()
    served = ServedSmtp(host, sock.getsockname()[1], implicit_tls, loop, threading.Thread())

    def run() -> None:
        asyncio.set_event_loop(loop)
        served._server = loop.run_until_complete(
            loop.create_server(factory, sock=sock, ssl=ssl_context if implicit_tls else None)
        )
        ready.set()
        loop.run_forever()
        loop.close()

    served._thread = threading.Thread(target=run, name=f"segur-smtp-{served.port}", daemon=True)
    served._thread.start()
    if not ready.wait(10):
        raise RuntimeError("the SMTP listener did not start")
    return served
