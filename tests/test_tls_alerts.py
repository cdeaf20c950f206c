"""A refused client certificate gets its TLS alert, not a bare close (``harness/protocols/tls_alerts.py``).

Before, asyncio dropped the alert OpenSSL wrote: a Python client saw ``UNEXPECTED_EOF_WHILE_READING``
(TLS 1.2) or an empty read (TLS 1.3), Node a "socket hang up". Each client here must name the alert.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from harness.core import pki
from harness.protocols import mockserver
from harness.protocols.mockserver import serve_app
from harness.protocols.tls_alerts import LINGER_SECONDS, alerts_supported
from harness.run.environment import INSI_SETTINGS_ENV, HarnessEnvironment
from harness.run.sut.reference_insi import ReferenceInsiClient
from mock_services.common import client_identity

TLS_VERSIONS = [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3]
# client credential -> the alert OpenSSL sends for it (as Python's ssl module names it)
BAD_CERTIFICATES = {
    "unknown-ca": "TLSV1_ALERT_UNKNOWN_CA",
    "expired": "SSLV3_ALERT_CERTIFICATE_EXPIRED",
    "revoked": "SSLV3_ALERT_CERTIFICATE_REVOKED",
    "not-yet-valid": "SSLV3_ALERT_BAD_CERTIFICATE",
}
NO_CERTIFICATE_ALERTS = {
    ssl.TLSVersion.TLSv1_2: "SSLV3_ALERT_HANDSHAKE_FAILURE",
    ssl.TLSVersion.TLSv1_3: "TLSV13_ALERT_CERTIFICATE_REQUIRED",
}
REQUEST = b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"


async def whoami(request: Request) -> JSONResponse:
    return JSONResponse({"cn": client_identity(request.scope).common_name})


APP = Starlette(routes=[Route("/", whoami)])


@pytest.fixture(scope="module")
def optional_server(layout):
    with serve_app(APP, name="tls-optional", ssl_context=pki.server_ssl_context(layout)) as served:
        yield served


@pytest.fixture(scope="module")
def required_server(layout):
    context = pki.server_ssl_context(layout, require_client_cert=True)
    with serve_app(APP, name="tls-required", ssl_context=context) as served:
        yield served


def outcome(port: int, layout, client: str | None, version: ssl.TLSVersion, *, send: bytes = REQUEST) -> str:
    """``ok``, the name of the alert the server sent, or how the connection ended without one."""
    context = pki.client_ssl_context(layout, client)
    context.minimum_version = context.maximum_version = version
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname="localhost") as tls,
        ):
            tls.sendall(send)
            data = tls.recv(4096)
            return "ok" if data.startswith(b"HTTP/1.1 200") else f"no alert: read {data[:20]!r}"
    except ssl.SSLError as exc:
        return str(exc.reason)
    except OSError as exc:
        return f"no alert: {type(exc).__name__}"


def test_this_interpreter_supports_the_alerting_tls_layer():
    assert alerts_supported()  # otherwise the mocks fall back to asyncio's TLS and every test below fails


@pytest.mark.parametrize("version", TLS_VERSIONS, ids=lambda v: v.name)
@pytest.mark.parametrize(("client", "alert"), sorted(BAD_CERTIFICATES.items()))
def test_a_refused_certificate_gets_its_alert(layout, optional_server, client, alert, version):
    assert outcome(optional_server.port, layout, client, version) == alert


@pytest.mark.parametrize("version", TLS_VERSIONS, ids=lambda v: v.name)
def test_no_certificate_where_one_is_required_gets_its_alert(layout, required_server, version):
    assert outcome(required_server.port, layout, None, version) == NO_CERTIFICATE_ALERTS[version]


@pytest.mark.parametrize("version", TLS_VERSIONS, ids=lambda v: v.name)
def test_accepted_clients_are_served_as_before(layout, optional_server, required_server, version):
    assert outcome(optional_server.port, layout, "insi-auto", version) == "ok"
    assert outcome(optional_server.port, layout, None, version) == "ok"  # optional: CPx clients have none
    assert outcome(required_server.port, layout, "insi-auto", version) == "ok"
    with httpx.Client(verify=pki.client_ssl_context(layout, "insi-manu"), timeout=5) as client:
        assert client.get(required_server.url + "/").json() == {"cn": "INSI-MANU"}


def test_a_client_still_writing_after_tls13_refusal_reads_the_alert_not_a_reset(layout, optional_server):
    # TLS 1.3: the client's handshake is over before the server judges its certificate, so it
    # sends its request at once; the server must read and drop it instead of answering a reset.
    big_request = REQUEST + b"x" * 200_000
    got = outcome(optional_server.port, layout, "unknown-ca", ssl.TLSVersion.TLSv1_3, send=big_request)
    assert got == "TLSV1_ALERT_UNKNOWN_CA"


def refused_over_bio(port: int, layout, client: str) -> tuple[socket.socket, str]:
    """A TLS 1.2 handshake driven by hand, so the TCP connection stays open after the refusal."""
    context = pki.client_ssl_context(layout, client)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname="localhost")
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    while True:
        try:
            tls.do_handshake()
        except ssl.SSLWantReadError:
            raw.sendall(outgoing.read())
            data = raw.recv(65536)
            if not data:
                return raw, "no alert: end of stream"
            incoming.write(data)
        except ssl.SSLError as exc:
            return raw, str(exc.reason)
        else:
            return raw, "ok"


def test_a_silent_refused_client_neither_holds_the_connection_nor_the_stop(layout):
    server = serve_app(APP, name="tls-linger", ssl_context=pki.server_ssl_context(layout))
    raw, reason = refused_over_bio(server.port, layout, "unknown-ca")
    try:
        assert reason == "TLSV1_ALERT_UNKNOWN_CA"
        raw.sendall(b"late bytes")  # read and dropped while the server lingers
        assert raw.recv(10) == b""  # the server half-closed after its alert
        time.sleep(LINGER_SECONDS + 1.5)
        with pytest.raises(OSError):  # the server closed by itself: later bytes are answered by a reset
            for _ in range(20):
                raw.sendall(b"still there?")
                time.sleep(0.05)
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 5
    finally:
        raw.close()
        server.stop()


def test_without_the_alerting_layer_tls_still_works(layout, monkeypatch):
    monkeypatch.setattr(mockserver, "alerts_supported", lambda: False)
    with serve_app(APP, name="tls-fallback", ssl_context=pki.server_ssl_context(layout)) as served:
        assert outcome(served.port, layout, "insi-auto", ssl.TLSVersion.TLSv1_3) == "ok"


openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl command not installed")
node = pytest.mark.skipif(shutil.which("node") is None, reason="node not installed")


def s_client(port: int, layout, client: str | None, version_flag: str) -> str:
    # -ign_eof: under TLS 1.3 the alert comes after s_client's handshake; it must not quit at the end of stdin
    args = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-CAfile", str(layout.ca_bundle), "-ign_eof"]
    args.append(version_flag)
    if client:
        credential = layout.client(client)
        args += ["-cert", str(credential.cert_pem), "-key", str(credential.key_pem)]
    completed = subprocess.run(args, input=REQUEST, capture_output=True, timeout=30)
    return (completed.stdout + completed.stderr).decode(errors="replace")


@openssl
@pytest.mark.parametrize("flag", ["-tls1_2", "-tls1_3"])
def test_openssl_s_client_sees_the_alert(layout, optional_server, required_server, flag):
    assert "alert unknown ca" in s_client(optional_server.port, layout, "unknown-ca", flag)
    assert "alert certificate expired" in s_client(optional_server.port, layout, "expired", flag)
    expected = "alert certificate required" if flag == "-tls1_3" else "alert handshake failure"
    assert expected in s_client(required_server.port, layout, None, flag)


NODE_CLIENT = """
const tls = require('tls'), fs = require('fs');
const [port, ca, cert, key] = process.argv.slice(2);
const options = {host: '127.0.0.1', port: +port, ca: fs.readFileSync(ca), servername: 'localhost'};
if (cert) { options.cert = fs.readFileSync(cert); options.key = fs.readFileSync(key); }
const socket = tls.connect(options, () => socket.write('GET / HTTP/1.1\\r\\nHost: localhost\\r\\n\\r\\n'));
socket.once('data', (d) => { console.log('data ' + d.toString().split('\\r\\n')[0]); socket.destroy(); });
socket.on('error', (e) => console.log('error ' + (e.code || e.message)));
"""


def node_client(tmp_path: Path, port: int, layout, client: str | None) -> str:
    script = tmp_path / "client.js"
    script.write_text(NODE_CLIENT, encoding="utf-8")
    args = ["node", str(script), str(port), str(layout.ca_bundle)]
    if client:
        credential = layout.client(client)
        args += [str(credential.cert_pem), str(credential.key_pem)]
    return subprocess.run(args, capture_output=True, text=True, timeout=30).stdout.strip()


@node
def test_node_tls_sees_the_alert_not_a_hang_up(tmp_path, layout, optional_server, required_server):
    assert node_client(tmp_path, optional_server.port, layout, "unknown-ca") == "error ERR_SSL_TLSV1_ALERT_UNKNOWN_CA"
    assert (
        node_client(tmp_path, optional_server.port, layout, "revoked")
        == "error ERR_SSL_SSLV3_ALERT_CERTIFICATE_REVOKED"
    )
    assert (
        node_client(tmp_path, required_server.port, layout, None) == "error ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED"
    )
    assert node_client(tmp_path, required_server.port, layout, "insi-auto") == "data HTTP/1.1 200 OK"


def test_insi_mtls_only_makes_the_handshake_require_a_certificate(tmp_path, monkeypatch):
    settings = tmp_path / "insi.toml"
    settings.write_text('auth_modes = ["mtls"]\n', encoding="utf-8")
    monkeypatch.setenv(INSI_SETTINGS_ENV, str(settings))
    with HarnessEnvironment(tmp_path / "env") as env:
        port = env.start("insi").port
        assert outcome(port, env.pki, None, ssl.TLSVersion.TLSv1_3) == "TLSV13_ALERT_CERTIFICATE_REQUIRED"
        client = ReferenceInsiClient(env.endpoint("insi"), pki.client_ssl_context(env.pki, "insi-auto"))
        answer = client.search_by_traits(nom_naissance="ADRUN", prenoms=["ZOE"], sexe="F", date_naissance="1975-12-31")
        assert answer["outcome"] == "found", answer


def test_insi_with_both_modes_keeps_the_certificate_optional(tmp_path, monkeypatch):
    monkeypatch.delenv(INSI_SETTINGS_ENV, raising=False)
    with HarnessEnvironment(tmp_path / "env") as env:
        port = env.start("insi").port
        assert outcome(port, env.pki, None, ssl.TLSVersion.TLSv1_3).startswith("no alert: read b'HTTP/1.1 ")
        # GET on a POST endpoint: the handshake let the client in, the application answered it
