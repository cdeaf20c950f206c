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


def test_workers_above_one_refuse_psc_whose_keys_live_in_memory(tmp_path: Path):
    store = "postgresql://nobody@127.0.0.1:1/none"  # refused before any connection
    result = _serve("--workers", "2", "--services", "insi,psc", "--store", store, "--data-dir", str(tmp_path))
    assert result.returncode == 2, result
    assert "PSC" in result.stderr and "leave psc out" in result.stderr


def test_workers_below_one_are_a_usage_error(tmp_path: Path):
    result = _serve("--workers", "0", "--services", "insi", "--data-dir", str(tmp_path))
    assert result.returncode == 2, result
    assert "--workers" in result.stderr


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
