"""The test PKI: layout, negative variants, reuse, and what a real TLS handshake accepts."""

from __future__ import annotations

import ssl

import httpx
import pytest
from cryptography.hazmat.primitives.serialization import pkcs12
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from harness.core import pki, pki_checks
from harness.protocols.mockserver import serve_app
from mock_services.common import client_identity

INSI_CNS = {"INSI-AUTO", "INSI-MANU"}


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> pki.PkiLayout:
    return pki.init_pki(tmp_path_factory.mktemp("pki"))


def test_every_file_exists_and_loads(layout):
    for path in (layout.root_ca_pem, layout.root_ca_der, layout.ca_bundle, layout.crl_pem, layout.unknown_ca_pem):
        assert path.stat().st_size > 0
    assert set(layout.clients) == set(pki.CLIENT_PROFILES)
    for credential in [layout.server, *layout.clients.values()]:
        key, cert, _ = pkcs12.load_key_and_certificates(credential.p12.read_bytes(), pki.P12_PASSWORD.encode())
        assert key is not None and cert == credential.certificate()
        assert credential.key_pem.stat().st_mode & 0o077 == 0, "private keys are not readable by others"


@pytest.mark.parametrize("name", ["insi-auto", "insi-manu"])
def test_valid_insi_clients_verify(layout, name):
    assert pki_checks.verify_client_certificate(layout.client(name).certificate(), layout, expected_cns=INSI_CNS) == []


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("wrong-cn", "CN not allowed"),
        ("expired", "expired"),
        ("not-yet-valid", "not yet valid"),
        ("unknown-ca", "issuer not trusted"),
        ("revoked", "revoked"),
    ],
)
def test_each_negative_variant_has_exactly_its_problem(layout, name, problem):
    problems = pki_checks.verify_client_certificate(layout.client(name).certificate(), layout, expected_cns=INSI_CNS)
    assert len(problems) == 1 and problems[0].startswith(problem), problems


def test_bad_client_name_suggests(layout):
    with pytest.raises(KeyError, match="did you mean insi-auto"):
        layout.client("insi-aut")


def test_load_or_create_reuses_and_repairs(layout, tmp_path):
    first = pki.load_or_create_pki(tmp_path / "p")
    serial = first.server.certificate().serial_number  # read now: a re-creation rewrites the files
    again = pki.load_or_create_pki(tmp_path / "p")
    assert again.server.certificate().serial_number == serial
    first.client("revoked").p12.unlink()
    repaired = pki.load_or_create_pki(tmp_path / "p")
    assert repaired.client("revoked").p12.is_file()
    assert repaired.server.certificate().serial_number != serial


def test_init_refuses_to_overwrite_without_force(tmp_path):
    pki.init_pki(tmp_path / "p")
    with pytest.raises(FileExistsError, match="--force"):
        pki.init_pki(tmp_path / "p")
    pki.init_pki(tmp_path / "p", force=True)


async def whoami(request: Request) -> JSONResponse:
    return JSONResponse({"cn": client_identity(request.scope).common_name})


@pytest.fixture(scope="module")
def tls_server(layout):
    app = Starlette(routes=[Route("/", whoami)])
    with serve_app(app, name="tls-test", ssl_context=pki.server_ssl_context(layout)) as served:
        yield served


@pytest.mark.parametrize(("name", "cn"), [("insi-auto", "INSI-AUTO"), ("wrong-cn", "SERVEUR-APPLICATIF"), (None, None)])
def test_handshake_accepts_trusted_certificates_and_exposes_the_cn(layout, tls_server, name, cn):
    with httpx.Client(verify=pki.client_ssl_context(layout, name), timeout=5) as client:
        assert client.get(tls_server.url + "/").json() == {"cn": cn}


@pytest.mark.parametrize("name", ["expired", "not-yet-valid", "unknown-ca", "revoked"])
def test_handshake_refuses_bad_certificates(layout, tls_server, name):
    refused = (httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError, ssl.SSLError)
    with httpx.Client(verify=pki.client_ssl_context(layout, name), timeout=5) as client, pytest.raises(refused):
        client.get(tls_server.url + "/")
