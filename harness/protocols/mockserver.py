"""Run a mock's ASGI app on a real loopback port, with TLS and client certificates.

Uvicorn does not put the TLS client certificate in the ASGI scope, so a small protocol
subclass adds the ASGI TLS extension (``scope["extensions"]["tls"]``) per connection; the
mocks read it through :func:`mock_services.common.client_identity`.

With TLS, the handshake runs in :mod:`harness.protocols.tls_alerts`, so that a client whose
certificate is refused receives the TLS alert instead of a bare close.

The same start/stop serves pytest fixtures, ``segur run`` and ``segur serve``:
:func:`serve_app` returns once the server accepts connections, and ``stop()`` waits for it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from harness.protocols.tls_alerts import alerting_tls_factory, alerts_supported

ASGIApp = Callable[..., Any]
LOOPBACK = "127.0.0.1"


class TLSAwareH11Protocol(H11Protocol):
    """HTTP/1.1 protocol that exposes the peer certificate as the ASGI TLS extension."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is None:
            return
        der = ssl_object.getpeercert(binary_form=True)
        tls = {
            "server_cert": None,
            "client_cert_chain": [ssl.DER_cert_to_PEM_cert(der)] if der else [],
            "client_cert_name": None,
            "client_cert_error": None,
            "tls_version": None,
            "cipher_suite": None,
        }
        inner = self.app

        async def app_with_tls(scope: dict[str, Any], receive: Any, send: Any) -> None:
            scope.setdefault("extensions", {})["tls"] = tls
            await inner(scope, receive, send)

        self.app = app_with_tls


@dataclass
class ServedApp:
    """A running server; ``url`` has no trailing slash."""

    name: str
    host: str
    port: int
    scheme: str
    _server: uvicorn.Server = field(repr=False)
    _thread: threading.Thread = field(repr=False)
    errors: list[BaseException] = field(default_factory=list, repr=False)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    def begin_stop(self) -> None:
        """Ask the server to stop without waiting: uvicorn takes 0.1 to 0.2 s to wind down, so a caller
        stopping several servers asks them all first, then waits (:meth:`stop`)."""
        self._server.should_exit = True

    def stop(self, timeout: float = 10.0) -> None:
        self.begin_stop()
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(timeout)

    def __enter__(self) -> ServedApp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class ServerStartError(RuntimeError):
    """The server did not come up; the message carries what it said."""


# `segur serve --workers N`: the supervisor binds every listening socket once and hands each worker
# their descriptors, JSON {"insi": [fd], "smtps": [fd], ...}, taken in the order the listeners start.
INHERITED_SOCKETS_ENV = "SEGUR_INHERITED_SOCKETS"
_inherited: dict[str, list[int]] | None = None
# `segur serve --ports insi=8443,...` (or SEGUR_PORTS, read by segur serve only): the port a listener of
# that name takes instead of a free one, so a long-lived host keeps the addresses its vendors configured.
# segur serve hands the spec to its own listeners and its workers in SERVE_PORTS_ENV; a segur run, whose
# mocks must never collide with another run's, does not read SEGUR_PORTS.
PORTS_ENV = "SEGUR_PORTS"
SERVE_PORTS_ENV = "SEGUR_SERVE_PORTS"
LISTENER_NAMES = ("insi", "psc", "dmp", "vihf_proxy", "sas", "smtps", "submission", "imap", "console")


def parse_ports(text: str) -> dict[str, int]:
    """``name=port,...`` for the listeners of :data:`LISTENER_NAMES`; ValueError says what is wrong."""
    ports: dict[str, int] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, _, value = item.partition("=")
        name = name.strip()
        if name not in LISTENER_NAMES:
            raise ValueError(f"unknown listener {name!r} (one of {', '.join(LISTENER_NAMES)})")
        if not value.strip().isdigit() or not 1 <= int(value) <= 65535:
            raise ValueError(f"{name}: {value.strip()!r} is not a port (1 to 65535)")
        if name in ports:
            raise ValueError(f"{name} is given twice")
        ports[name] = int(value)
    taken = [p for p in ports.values() if list(ports.values()).count(p) > 1]
    if taken:
        raise ValueError(f"port {taken[0]} is given to two listeners")
    return ports


def configured_port(name: str) -> int:
    """The port ``segur serve --ports`` gives the listener ``name``; 0 (a free port) when it names none."""
    raw = os.environ.get(SERVE_PORTS_ENV, "")
    try:
        return parse_ports(raw).get(name, 0) if raw else 0
    except ValueError as exc:
        raise ServerStartError(f"{SERVE_PORTS_ENV}: {exc}") from exc


def _inherited_socket(name: str) -> socket.socket | None:
    global _inherited
    if _inherited is None:
        raw = os.environ.get(INHERITED_SOCKETS_ENV)
        try:
            _inherited = {key: list(fds) for key, fds in json.loads(raw).items()} if raw else {}
        except (ValueError, AttributeError, TypeError) as exc:
            raise ServerStartError(f"{INHERITED_SOCKETS_ENV} is not a JSON object of descriptor lists") from exc
        if raw:
            _inherited.setdefault("", [])  # marks a worker, even with no listener of some name
    if not _inherited:
        return None
    fds = _inherited.get(name)
    if not fds:
        # A worker binding a socket of its own would listen on a port no other worker shares.
        raise ServerStartError(f"{name}: the supervisor handed this worker no listening socket for it")
    return socket.socket(fileno=fds.pop(0))


def listening_socket(name: str, host: str, port: int) -> socket.socket:
    """A bound TCP socket for a server on ``host:port`` (0: any free port); ServerStartError if taken.

    In a worker of ``segur serve --workers N``, the socket the supervisor bound for ``name``."""
    inherited = _inherited_socket(name)
    if inherited is not None:
        return inherited
    port = port or configured_port(name)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on accepted sockets whose proto
    # says TCP; without it every response waits ~40 ms for the client's delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ServerStartError(f"{name}: cannot listen on {host}:{port}: {exc}") from exc
    return sock


def serve_app(
    app: ASGIApp,
    *,
    name: str,
    host: str = LOOPBACK,
    port: int = 0,
    ssl_context: ssl.SSLContext | None = None,
    startup_timeout: float = 10.0,
) -> ServedApp:
    """Start ``app`` in a background thread and return once it accepts connections."""
    sock = listening_socket(name, host, port)
    bound_port = sock.getsockname()[1]
    # Our own TLS layer when possible, so a refused client certificate gets its TLS alert
    # (harness.protocols.tls_alerts); asyncio's otherwise (client-cert policy and CRL stay the context's).
    own_tls = ssl_context is not None and alerts_supported()
    protocol: Any = (
        alerting_tls_factory(TLSAwareH11Protocol, ssl_context) if own_tls and ssl_context else TLSAwareH11Protocol
    )
    config = uvicorn.Config(
        app,
        http=protocol,
        lifespan="off",
        log_level=logging.WARNING,
        access_log=False,
        timeout_keep_alive=5,
        timeout_graceful_shutdown=2,  # an idle keep-alive client must not hold a stop for long
        ws="none",
    )
    config.load()
    config.ssl = None if own_tls else ssl_context
    server = uvicorn.Server(config)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(server.serve(sockets=[sock]))
        except BaseException as exc:  # reported to the caller, never swallowed
            errors.append(exc)
        finally:
            sock.close()

    thread = threading.Thread(target=run, name=f"segur-{name}", daemon=True)
    thread.start()
    served = ServedApp(name, host, bound_port, "https" if ssl_context else "http", server, thread, errors)
    deadline = threading.Event()
    waited = 0.0
    while not server.started:
        if errors or not thread.is_alive():
            raise ServerStartError(f"{name} did not start: {errors[0] if errors else 'thread ended'}")
        if waited >= startup_timeout:
            served.stop()
            raise ServerStartError(f"{name} did not start within {startup_timeout} s")
        deadline.wait(0.01)
        waited += 0.01
    return served
