"""`segur serve --workers N`: workers sharing the listening sockets over one PostgreSQL store."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.core import pki
from harness.protocols import vihf
from harness.run.sut.reference_dmp.client import ReferenceDmpClient
from harness.run.sut.reference_insi import ReferenceInsiClient
from mock_services.dmp import PatientBase
from suites.ins.persons import traits

pytestmark = pytest.mark.slow


def _serve(*options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", "serve", "--no-console", *options],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "SEGUR_STORE": ""},
    )


def test_workers_above_one_are_refused_with_sqlite(tmp_path: Path):
    result = _serve("--workers", "2", "--services", "insi", "--data-dir", str(tmp_path))
    assert result.returncode == 2, result
    assert "--store postgresql://" in result.stderr
    assert not (tmp_path / "exchanges.sqlite3").exists()  # nothing started


def test_workers_below_one_are_a_usage_error(tmp_path: Path):
    result = _serve("--workers", "0", "--services", "insi", "--data-dir", str(tmp_path))
    assert result.returncode == 2, result
    assert "--workers" in result.stderr


def test_the_vihf_proxy_under_workers_needs_its_upstreams_served_too(tmp_path: Path, pg_url: str):
    result = _serve("--workers", "2", "--services", "dmp,vihf_proxy", "--store", pg_url, "--data-dir", str(tmp_path))
    assert result.returncode == 2, result
    assert "vihf_proxy needs psc and dmp" in result.stderr


def _children(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if not children.exists():
        pytest.skip("needs Linux /proc to find the workers")
    return [int(child) for child in children.read_text().split()]


def _wait_for(condition, what: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what} within {timeout} s"
        time.sleep(0.1)


def _recorded(pg_url: str, session_key: str) -> list[tuple[str, str]]:
    import psycopg

    with psycopg.connect(pg_url) as connection:
        rows = connection.execute(
            "SELECT service, operation FROM exchange WHERE session_key = %s ORDER BY seq", (session_key,)
        ).fetchall()
    return [(str(service), str(operation)) for service, operation in rows]


def test_two_workers_serve_one_address_and_a_killed_one_comes_back(tmp_path: Path, pg_url: str):
    endpoints, data = tmp_path / "endpoints.json", tmp_path / "data"
    command = [sys.executable, "-m", "harness.cli", "serve", "--workers", "2", "--store", pg_url]
    command += ["--services", "insi,dmp", "--no-console", "--data-dir", str(data), "--endpoints-file", str(endpoints)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: endpoints.exists() or process.poll() is not None, "segur serve wrote its endpoints")
        assert process.poll() is None, process.communicate()
        document = json.loads(endpoints.read_text(encoding="utf-8"))
        workers = _wait_for(lambda: len(_children(process.pid)) == 2 and _children(process.pid), "two workers")
        layout = pki.load_or_create_pki(data / "pki")
        session = "workers-" + os.urandom(4).hex()
        insi_url = document["insi"]["url"].replace("/lps", f"/s/{session}/lps")
        dmp_url = document["dmp"]["url"].replace("/si-dmp-server", f"/s/{session}/si-dmp-server")
        signing = layout.client("cps-signature")
        patient = PatientBase.load()["OUVERT"].identity()

        def exchange_both() -> None:
            # fresh connections each time, so the kernel may hand them to either worker
            insi = ReferenceInsiClient(insi_url, pki.client_ssl_context(layout, "insi-auto"))
            assert insi.search_by_traits(**traits("ADRUN-ZOE"))["outcome"] == "found"
            dmp = ReferenceDmpClient(
                url=dmp_url,
                ssl_context=pki.client_ssl_context(layout, "dmp-org"),
                signer=vihf.VihfSigner.from_files(signing.key_pem, signing.cert_pem),
            )
            assert dmp.check_dmp(patient)["outcome"] == "exists"

        for _ in range(4):
            exchange_both()
        acknowledged = _recorded(pg_url, session)
        assert len(acknowledged) == 8, acknowledged
        os.kill(workers[0], signal.SIGKILL)
        replaced = _wait_for(
            lambda: (now := _children(process.pid)) and len(now) == 2 and workers[0] not in now and now,
            "the killed worker restarted",
        )
        assert workers[1] in replaced  # the other one kept serving
        for _ in range(4):
            exchange_both()
        after = _recorded(pg_url, session)
        assert after[: len(acknowledged)] == acknowledged  # nothing acknowledged before the kill was lost
        assert len(after) == 16
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert out.count('"insi"') == 1  # the endpoints document printed once, not once per worker
    assert "ended with status -9" in err and "restarting" in err
    assert "stopped" in out


CLIENT, SECRET, REDIRECT = "segur-reference", "segur-reference-secret", "http://127.0.0.1:8765/callback"


class _Workers:
    """A ``segur serve --workers 2`` of the test, and a way to replace every worker it has."""

    def __init__(self, tmp_path: Path, pg_url: str, services: str):
        self.endpoints, self.data = tmp_path / "endpoints.json", tmp_path / "data"
        command = [sys.executable, "-m", "harness.cli", "serve", "--workers", "2", "--store", pg_url]
        command += ["--services", services, "--no-console", "--data-dir", str(self.data)]
        command += ["--endpoints-file", str(self.endpoints)]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        _wait_for(lambda: self.endpoints.exists() or self.process.poll() is not None, "segur serve wrote its endpoints")
        assert self.process.poll() is None, self.process.communicate()
        self.document = json.loads(self.endpoints.read_text(encoding="utf-8"))
        self.pids = _wait_for(lambda: len(now := _children(self.process.pid)) == 2 and now, "two workers")
        self.layout = pki.load_or_create_pki(self.data / "pki")

    def replace_all(self) -> None:
        """kill -9 both workers and wait for two new ones: whatever comes next is served by other processes."""
        for pid in self.pids:
            os.kill(pid, signal.SIGKILL)
        old = set(self.pids)
        self.pids = _wait_for(
            lambda: len(now := _children(self.process.pid)) == 2 and not old & set(now) and now, "two new workers"
        )

    def stop(self) -> tuple[str, str]:
        self.process.send_signal(signal.SIGTERM)
        out, err = self.process.communicate(timeout=60)
        assert self.process.returncode == 0, err
        return out, err


def test_psc_with_two_workers_redeems_and_verifies_across_processes_and_rotations(tmp_path: Path, pg_url: str):
    import base64
    import hashlib
    from urllib.parse import parse_qs, urlparse

    import httpx
    from joserfc import jwt
    from joserfc.jwk import KeySet

    served = _Workers(tmp_path, pg_url, "psc")
    try:
        issuer = served.document["psc"]["issuer"]
        context = pki.client_ssl_context(served.layout, None)

        def fresh() -> httpx.Client:  # a new connection each time: any worker may take it
            return httpx.Client(verify=context, timeout=30)

        def get(url: str, **options) -> httpx.Response:
            with fresh() as http:
                return http.get(url, **options)

        def post(url: str, **options) -> httpx.Response:
            with fresh() as http:
                return http.post(url, **options)

        config = get(issuer + "/.well-known/openid-configuration").json()
        verifier = "v" * 50
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        login = {
            "response_type": "code", "client_id": CLIENT, "redirect_uri": REDIRECT, "scope": "openid scope_all",
            "state": "s", "nonce": "n", "login_hint": "899900000011",
            "code_challenge": challenge, "code_challenge_method": "S256",
        }  # fmt: skip

        def code() -> str:
            location = get(config["authorization_endpoint"], params=login).headers["location"]
            return parse_qs(urlparse(location).query)["code"][0]

        def redeem(value: str) -> httpx.Response:
            form = {"grant_type": "authorization_code", "code": value, "redirect_uri": REDIRECT}
            return post(config["token_endpoint"], data={**form, "code_verifier": verifier}, auth=(CLIENT, SECRET))

        def still_valid(access_token: str, id_token: str) -> None:
            keys = KeySet.import_key_set(get(config["jwks_uri"]).json())
            assert jwt.decode(id_token, keys, algorithms=["RS256"]).claims["nonce"] == "n"
            answer = get(config["userinfo_endpoint"], headers={"Authorization": f"Bearer {access_token}"})
            assert answer.status_code == 200, answer.text
            form = {"token": access_token}
            assert post(config["introspection_endpoint"], data=form, auth=(CLIENT, SECRET)).json()["active"]

        issued = code()
        served.replace_all()  # the processes that issued the code are gone
        tokens = redeem(issued)
        assert tokens.status_code == 200, tokens.text
        access, identity = tokens.json()["access_token"], tokens.json()["id_token"]
        for _ in range(6):
            still_valid(access, identity)

        old_kid = jwt.decode(identity, KeySet.import_key_set(get(config["jwks_uri"]).json())).header["kid"]
        rotated = post(issuer.rpartition("/auth/realms/")[0] + "/_segur/keys/rotate").json()["kid"]
        served.replace_all()
        published = {key["kid"] for key in get(config["jwks_uri"]).json()["keys"]}
        assert {old_kid, rotated} <= published
        for _ in range(6):  # signed before the rotation, checked by processes started after it
            still_valid(access, identity)
        after = redeem(code()).json()
        assert jwt.decode(after["id_token"], KeySet.import_key_set(get(config["jwks_uri"]).json())).header["kid"] == (
            rotated
        )
        assert redeem(issued).json()["error"] == "invalid_grant"  # replayed: one use, whichever worker it reaches
        for _ in range(4):  # and the replay revoked the grant on every worker
            answer = get(config["userinfo_endpoint"], headers={"Authorization": f"Bearer {access}"})
            assert answer.status_code == 401, answer.text
    finally:
        _, err = served.stop()
    assert "ended with status -9" in err
