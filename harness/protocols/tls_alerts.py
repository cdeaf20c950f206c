"""Server-side TLS for the mocks that lets a refused client learn why: the handshake's alert reaches it.

asyncio's own TLS layer (``asyncio.sslproto``, CPython 3.11+) force-closes the connection when a
server handshake fails and never sends the alert OpenSSL wrote into its memory BIO
(``SSLProtocol._on_handshake_complete`` -> ``_fatal_error`` -> ``transport._force_close``). A
client with an expired, revoked or unknown-CA certificate, or with none where one is required,
then sees an EOF or a reset ("socket hang up" in Node, ``UNEXPECTED_EOF_WHILE_READING`` in
Python) instead of ``certificate_expired``, ``unknown_ca`` or ``certificate_required``.

:class:`AlertingSSLProtocol` sends that alert, half-closes the connection and discards what the
client still sends for a short while before closing (a lingering close): under TLS 1.3 the
client has finished its side of the handshake and may already be writing its request, and
closing a socket with unread data makes the kernel answer with a reset that can overtake the
alert. Successful handshakes go through asyncio's code unchanged.

The subclass leans on private names of ``asyncio.sslproto`` (``_outgoing``, ``_transport``,
``_set_state``); :func:`alerts_supported` says whether this interpreter has them, and without
them the mocks fall back to asyncio's TLS (no alert), so a change in CPython degrades the
message a client sees, never the handshake itself.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from asyncio import sslproto
from collections.abc import Callable
from typing import Any

LOG = logging.getLogger(__name__)
# Long enough for a client on loopback or a LAN to read the alert and close; short enough that
# a refused client cannot hold a connection (or a server stop) for long.
LINGER_SECONDS = 1.0
HANDSHAKE_TIMEOUT_SECONDS = 10.0


def alerts_supported() -> bool:
    """True when ``asyncio.sslproto.SSLProtocol`` has the internals this module relies on."""
    needed = ("_on_handshake_complete", "_set_state", "buffer_updated", "connection_lost")
    return all(hasattr(sslproto.SSLProtocol, name) for name in needed) and hasattr(sslproto, "SSLProtocolState")


class AlertingSSLProtocol(sslproto.SSLProtocol):
    """asyncio's server-side TLS protocol, except that a failed handshake sends its alert first."""

    _refused: bool = False
    _linger: asyncio.TimerHandle | None = None

    def _on_handshake_complete(self, handshake_exc: BaseException | None) -> None:
        inner: Any = self  # asyncio's private state, which typeshed does not describe
        transport = inner._transport
        # eof_received passes the ConnectionResetError class itself: the client left, nobody to tell.
        if not isinstance(handshake_exc, ssl.SSLError) or transport is None:
            super()._on_handshake_complete(handshake_exc)
            return
        if inner._handshake_timeout_handle is not None:
            inner._handshake_timeout_handle.cancel()
            inner._handshake_timeout_handle = None
        inner._set_state(sslproto.SSLProtocolState.UNWRAPPED)
        self._refused = True
        alert = inner._outgoing.read()
        LOG.debug("TLS handshake refused (%s); sending %d bytes of alert", handshake_exc, len(alert))
        if alert:
            transport.write(alert)
        if transport.can_write_eof():
            transport.write_eof()  # FIN after the alert: the client reads it, then end of stream
        self._linger = inner._loop.call_later(LINGER_SECONDS, transport.close)
        inner._wakeup_waiter(handshake_exc)

    def buffer_updated(self, nbytes: int) -> None:
        if self._refused:
            return  # what a refused client still sends is read (no reset) and dropped
        super().buffer_updated(nbytes)

    def eof_received(self) -> None:
        if self._refused:
            return  # the client closed after reading the alert: a false value lets the transport close
        super().eof_received()

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None
        super().connection_lost(exc)


def alerting_tls_factory(
    protocol_factory: Callable[..., asyncio.Protocol],
    ssl_context: ssl.SSLContext,
    *,
    handshake_timeout: float = HANDSHAKE_TIMEOUT_SECONDS,
) -> Callable[..., asyncio.BaseProtocol]:
    """A protocol factory serving ``protocol_factory``'s protocol over TLS with :class:`AlertingSSLProtocol`.

    Give it to a server created *without* ``ssl=`` (the TLS layer is this protocol's), with the
    same keyword arguments ``protocol_factory`` takes.
    """

    def create(**kwargs: Any) -> asyncio.BaseProtocol:
        app_protocol = protocol_factory(**kwargs)
        alerting: Any = AlertingSSLProtocol  # typeshed wants a waiter future; a server-side one needs none
        return alerting(
            asyncio.get_running_loop(),
            app_protocol,
            ssl_context,
            None,  # no waiter: the server does not wait for the handshake, the app protocol does
            server_side=True,
            ssl_handshake_timeout=handshake_timeout,
        )

    return create
