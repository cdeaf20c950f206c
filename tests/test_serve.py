"""`segur serve` as a user runs it: endpoints file, a real mTLS call, clean stop on SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from harness.core import pki
from harness.run.sut.reference_insi import InsiCallError, ReferenceInsiClient
from suites.ins.persons import traits

pytestmark = pytest.mark.slow


def test_serve_writes_endpoints_answers_over_mtls_and_stops_on_sigterm(tmp_path: Path):
    endpoints = tmp_path / "endpoints.json"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "serve",
            "--services",
            "insi,psc",
            "--data-dir",
            str(tmp_path / "data"),
            "--endpoints-file",
            str(endpoints),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not endpoints.exists():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "segur serve did not write its endpoints file within 60 s"
            time.sleep(0.05)
        document = json.loads(endpoints.read_text(encoding="utf-8"))
        assert document["insi"]["url"].startswith("https://127.0.0.1:")
        assert Path(document["pki"]["ca_bundle"]).is_file()
        layout = pki.load_or_create_pki(tmp_path / "data" / "pki")
        issuer = document["psc"]["issuer"]
        with httpx.Client(verify=pki.client_ssl_context(layout, None), timeout=10) as http:
            assert http.get(issuer + "/.well-known/openid-configuration").json()["issuer"] == issuer
        client = ReferenceInsiClient(document["insi"]["url"], pki.client_ssl_context(layout, "insi-auto"))
        answer = client.search_by_traits(**traits("ADRUN-ZOE"))
        assert answer["outcome"] == "found", answer
        untrusted = ReferenceInsiClient(document["insi"]["url"], pki.client_ssl_context(layout, "unknown-ca"))
        with pytest.raises(
            InsiCallError, match="injoignable"
        ):  # the TLS handshake refuses a certificate from an unknown CA
            untrusted._call(
                "rechercherInsAvecTraitsIdentite", untrusted._traits_body("A", ["B"], "M", "2000-01-01", "")
            )
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "stopped" in out
