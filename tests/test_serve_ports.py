"""`segur serve --ports`: a long-lived host keeps the addresses its vendors configured."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.protocols.mockserver import SERVE_PORTS_ENV, configured_port, parse_ports

pytestmark = pytest.mark.slow


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _serve(tmp_path: Path, *options: str) -> dict:
    endpoints = tmp_path / "endpoints.json"
    command = [sys.executable, "-m", "harness.cli", "serve", "--no-console", "--endpoints-file", str(endpoints)]
    command += ["--data-dir", str(tmp_path / "data"), *options]
    environment = {k: v for k, v in os.environ.items() if k not in {"SEGUR_PORTS", SERVE_PORTS_ENV}}
    process = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=environment)
    try:
        deadline = time.monotonic() + 90
        while not endpoints.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert endpoints.exists(), process.stderr.read() if process.poll() is not None else "not started"
        return json.loads(endpoints.read_text(encoding="utf-8"))
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


def _port(address: str) -> int:
    return int(address.rsplit(":", 1)[1].split("/", 1)[0])


def test_the_named_listeners_take_the_given_ports_and_the_others_a_free_one(tmp_path: Path):
    insi, smtps, imap = _free_ports(3)
    document = _serve(tmp_path, "--services", "insi,dmp,mss", "--ports", f"insi={insi},smtps={smtps},imap={imap}")
    assert _port(document["insi"]["url"]) == insi
    assert _port(document["mss"]["smtp"]) == smtps and _port(document["mss"]["imap"]) == imap
    assert _port(document["dmp"]["url"]) not in {insi, smtps, imap}  # not named: a free port


def test_workers_share_the_given_ports(tmp_path: Path, pg_url: str):
    insi, submission = _free_ports(2)
    spec = f"insi={insi},submission={submission}"
    document = _serve(tmp_path, "--workers", "2", "--store", pg_url, "--services", "insi,mss", "--ports", spec)
    assert _port(document["insi"]["url"]) == insi and _port(document["mss"]["smtp_starttls"]) == submission


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("insi=70000", "not a port"),
        ("insi=x", "not a port"),
        ("ftp=21", "unknown listener 'ftp'"),
        ("insi=8443,insi=8444", "given twice"),
        ("insi=8443,psc=8443", "given to two listeners"),
    ],
)
def test_a_bad_ports_spec_is_refused_before_anything_starts(tmp_path: Path, spec: str, says: str):
    with pytest.raises(ValueError, match=says):
        parse_ports(spec)
    done = subprocess.run(
        [sys.executable, "-m", "harness.cli", "serve", "--ports", spec, "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and says in done.stderr
    assert not (tmp_path / "pki").exists()  # nothing started


def test_a_segur_run_never_reads_the_hosts_ports(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SEGUR_PORTS", "insi=8443")
    monkeypatch.delenv(SERVE_PORTS_ENV, raising=False)
    assert configured_port("insi") == 0  # only segur serve turns SEGUR_PORTS into SEGUR_SERVE_PORTS
    monkeypatch.setenv(SERVE_PORTS_ENV, "insi=8443")
    assert configured_port("insi") == 8443 and configured_port("psc") == 0
