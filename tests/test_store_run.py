"""`segur run` and `segur serve` with ``--store postgresql://...``: same verdicts, state in PostgreSQL."""

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

from harness.core import pki
from harness.core.recorder import ExchangeStore
from harness.core.storage import open_postgresql
from harness.evidence.pack import verify_pack
from harness.run.runner import RunOptions, run
from harness.run.sut.reference_insi import ReferenceInsiClient
from suites.ins.persons import traits

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("segur-data")


def recorded(url: str) -> ExchangeStore:
    return ExchangeStore(database=open_postgresql(url))


def test_suites_pass_with_exchanges_dmp_and_mail_state_in_postgresql(tmp_path, data_dir, pg_url, capsys):
    status = run(RunOptions(suites="ins,psc,dmp,mss", report_dir=tmp_path / "r", data_dir=data_dir, store=pg_url))
    report = json.loads((tmp_path / "r" / "report.json").read_text(encoding="utf-8"))
    assert status == 0, capsys.readouterr().out
    store = recorded(pg_url)
    try:
        in_database = store.exchanges()
    finally:
        store.database.close()
    assert {e.service for e in in_database} >= {"insi", "psc", "dmp", "mss"}
    assert sorted(e["id"] for e in report["exchanges"]) == sorted(e.id for e in in_database)
    assert all(e.trace for e in in_database), "the trace signature is stored with each exchange"
    with open_postgresql(pg_url) as database:
        assert database.one("SELECT COUNT(*) FROM entry")[0] > 0, "the DMP registry is in PostgreSQL too"
        assert database.one("SELECT COUNT(*) FROM message")[0] > 0, "and so are the MSSanté mailboxes"
        assert database.one("SELECT COUNT(*) FROM psc_state")[0] > 0, "and the PSC codes, tokens and sessions"
        assert database.one("SELECT COUNT(*) FROM psc_key WHERE use = 'sig'")[0] >= 1, "and the PSC signing keys"
    assert not list(data_dir.glob("*.sqlite3")), "nothing went to SQLite files"
    assert verify_pack(tmp_path / "r").intact  # the traces read back from PostgreSQL verify


def test_a_defect_still_fails_its_requirement_on_postgresql(tmp_path, data_dir, pg_url):
    status = run(
        RunOptions(suites="ins", report_dir=tmp_path / "r", data_dir=data_dir, store=pg_url, defects=["no_message_id"])
    )
    report = json.loads((tmp_path / "r" / "report.json").read_text(encoding="utf-8"))
    failed = {r["id"] for r in report["requirements"] if r["outcome"] == "fail"}
    assert status == 1 and "INS-01" in failed


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize(
    ("store", "message"),
    [
        ("mysql://u:secret@h/db", "expected 'sqlite' or a postgresql:// URL"),
        ("postgresql://u:secret@127.0.0.1:{closed_port}/db", "cannot connect to PostgreSQL"),
    ],
)
@pytest.mark.parametrize("command", ["run", "serve"])
def test_an_unusable_store_is_a_usage_error_without_the_password(tmp_path, command, store, message):
    store = store.format(closed_port=_closed_port())  # at run time: ids stay the same on every xdist worker
    completed = subprocess.run(
        [sys.executable, "-m", "harness.cli", command, "--store", store, "--data-dir", str(tmp_path / "d")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 2, completed.stderr
    assert message in completed.stderr
    assert "secret" not in completed.stderr + completed.stdout
    assert "Traceback" not in completed.stderr


def test_serve_records_in_the_postgresql_database_of_segur_store(tmp_path, pg_url):
    endpoints = tmp_path / "endpoints.json"
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "harness.cli", "serve", "--services", "insi", "--no-console"),
            *("--data-dir", str(tmp_path / "data"), "--endpoints-file", str(endpoints)),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "SEGUR_STORE": pg_url},
    )
    try:
        deadline = time.monotonic() + 60
        while not endpoints.exists():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "segur serve did not write its endpoints file within 60 s"
            time.sleep(0.05)
        document = json.loads(endpoints.read_text(encoding="utf-8"))
        layout = pki.load_or_create_pki(tmp_path / "data" / "pki")
        client = ReferenceInsiClient(document["insi"]["url"], pki.client_ssl_context(layout, "insi-auto"))
        assert client.search_by_traits(**traits("ADRUN-ZOE"))["outcome"] == "found"
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "state in PostgreSQL postgresql://" in out
    store = recorded(pg_url)
    try:
        assert [e.service for e in store.exchanges()] == ["insi"]
    finally:
        store.database.close()
