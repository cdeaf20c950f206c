"""The IMAP server and its listener: :class:`ImapServer` runs each connection's session to its end,
:func:`serve_imap` runs a listener (implicit TLS or STARTTLS) in a daemon thread on loopback and
stops it with the connections it holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import threading
from dataclasses import dataclass, field
from typing import Any

from harness.protocols.mockserver import LOOPBACK, ServerStartError, listening_socket
from mock_services.mssante.imap.errors import _Eof
from mock_services.mssante.imap.server_state import ServerState
from mock_services.mssante.imap.session import _Session

log = logging.getLogger(__name__)
_HANDSHAKE_TIMEOUT = 30.0


class ImapServer(ServerState):
    """Serves IMAP sessions over one :class:`MailStore`; one instance may serve several listeners.

    ``on_command`` receives one dict per command handled, before its tagged response is sent
    (so that what the client saw is recorded): ``tag``, ``command`` (``"UID FETCH"``...),
    ``arguments`` (rendered; passwords and SASL data replaced by ``***``, literals by their
    size), ``user``, ``method``, ``mailbox`` (the MSSanté address in use), ``folder``,
    ``result`` (``OK``/``NO``/``BAD``), ``detail`` (the response text), ``tls`` and
    ``client_subject`` (the TLS client certificate's subject, if any).
    """

    async def handle(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        tls: bool,
        starttls_context: ssl.SSLContext | None,
    ) -> None:
        """Run one client connection to its end; never raises for what the client did."""
        session = _Session(self, reader, writer, tls, starttls_context)
        graceful = True
        try:
            await session.run()
        except (_Eof, ConnectionError, ssl.SSLError, asyncio.IncompleteReadError) as exc:
            log.debug("IMAP connection ended: %r", exc)
        except asyncio.CancelledError:  # the listener is stopping
            graceful = False
            session.writer.write(b"* BYE Server shutting down\r\n")
            raise
        except Exception:
            log.exception("IMAP session failed; closing that connection")
            await session.say_bye("Internal server error")
        finally:
            await session.close(graceful)


@dataclass
class ServedImap:
    """A running IMAP listener (like :class:`harness.protocols.mockserver.ServedApp`)."""

    host: str
    port: int
    implicit_tls: bool
    _loop: asyncio.AbstractEventLoop = field(repr=False)
    _thread: threading.Thread = field(repr=False)
    _stop: asyncio.Event | None = field(default=None, repr=False)
    errors: list[BaseException] = field(default_factory=list, repr=False)

    def begin_stop(self) -> None:
        """Ask the listener to stop without waiting; :meth:`stop` then waits."""
        stop = self._stop
        if stop is not None and self._thread.is_alive():
            with contextlib.suppress(RuntimeError):  # the loop already ended on its own
                self._loop.call_soon_threadsafe(stop.set)

    def stop(self, timeout: float = 10.0) -> None:
        if not self._thread.is_alive():
            return
        self.begin_stop()
        self._thread.join(timeout)

    def __enter__(self) -> ServedImap:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_imap(
    server: ImapServer,
    *,
    host: str = LOOPBACK,
    port: int = 0,
    ssl_context: ssl.SSLContext | None = None,
    implicit_tls: bool = True,
    startup_timeout: float = 10.0,
) -> ServedImap:
    """Run one IMAP listener in a daemon thread; returns once it accepts connections.

    ``implicit_tls=True`` needs ``ssl_context`` (TLS from the first byte); with
    ``implicit_tls=False`` the greeting is plaintext and ``ssl_context``, when given, serves
    STARTTLS. A server context with ``CERT_OPTIONAL`` lets clients authenticate with
    AUTHENTICATE EXTERNAL.
    """
    if implicit_tls and ssl_context is None:
        raise ValueError("implicit TLS needs an ssl_context")
    sock = listening_socket("imap", host, port)
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    served = ServedImap(host, sock.getsockname()[1], implicit_tls, loop, threading.Thread())
    starttls_context = None if implicit_tls else ssl_context

    async def main() -> None:
        stop = asyncio.Event()
        served._stop = stop
        connections: set[asyncio.Task[Any]] = set()

        async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            # Implicit TLS is negotiated here rather than by start_server(ssl=...): a connection
            # still in its handshake then belongs to a task that stop() can cancel and close
            # (asyncio 3.11 has no Server.close_clients()). No byte can be missed: start_tls
            # pauses reading before this task first yields.
            task = asyncio.current_task()
            if task is not None:
                connections.add(task)
            try:
                if implicit_tls and ssl_context is not None:
                    try:
                        await writer.start_tls(ssl_context, ssl_handshake_timeout=_HANDSHAKE_TIMEOUT)
                    except (OSError, TimeoutError) as exc:  # ssl.SSLError is an OSError
                        log.debug("IMAP TLS handshake failed: %r", exc)
                        return
                await server.handle(reader, writer, tls=implicit_tls, starttls_context=starttls_context)
            except asyncio.CancelledError:
                # The listener is stopping. Ending normally matters on 3.11: the done-callback
                # asyncio adds to this task calls task.exception(), which raises (and is logged
                # as an error) for a cancelled task.
                pass
            finally:
                if not writer.transport.is_closing():
                    writer.transport.abort()
                if task is not None:
                    connections.discard(task)

        listener = await asyncio.start_server(on_client, sock=sock)
        ready.set()
        try:
            await stop.wait()
        finally:
            listener.close()
            for task in list(connections):
                task.cancel()
            await asyncio.gather(*connections, return_exceptions=True)
            await listener.wait_closed()

    def run() -> None:
        try:
            loop.run_until_complete(main())
        except BaseException as exc:  # reported to the caller, never swallowed
            served.errors.append(exc)
            ready.set()
        finally:
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()
                sock.close()

    served._thread = threading.Thread(target=run, name=f"segur-imap-{served.port}", daemon=True)
    served._thread.start()
    if not ready.wait(startup_timeout) or served.errors:
        served.stop()
        reason = served.errors[0] if served.errors else f"not listening within {startup_timeout} s"
        raise ServerStartError(f"imap did not start: {reason}")
    return served
