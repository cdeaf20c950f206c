"""The example Node test hook (fixtures/sut/node-hook/) driven through ``--sut http://...``, end to end:
the ins, dmp (with DMP-30, logged in through PSC) and psc suites, and each named defect of the hook.

The hook is a product written in another language than the harness, with Node's standard library
only. Without ``node`` these tests skip, except with ``CI=true``, where a missing Node is a broken
environment (``.ci/run`` installs it) and fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.run.runner import RunOptions, run
from harness.run.sut import SutContext, SutFailure
from harness.run.sut.http import HttpSut, HttpSutSettings

pytestmark = pytest.mark.slow

HOOK = Path(__file__).resolve().parent.parent / "fixtures" / "sut" / "node-hook" / "hook.mjs"
# A defect of the Node product (HOOK_DEFECT), the suite and -k expression selecting the test that judges
# it, the requirement that must then fail and the rule of the finding that says why.
DEFECT_CASES = [
    ("vihf_unsigned", "dmp", "vihf_is_signed", "DMP-02", "vihf.signature_absent"),
    ("missing_wsa_action", "dmp", "soap12_ws_addressing", "DMP-01", "dmp.wsa-action"),
    ("xds_no_signature_document", "dmp", "valid_signature_document", "DMP-08", "dmp.signature"),
    ("psc_id_token_as_bearer", "dmp", "carries_the_psc_identity", "DMP-30", "dmp-psc.bearer"),
    ("psc_no_pkce", "psc", "uses_pkce", "PSC-03", "psc.pkce"),
]


def node_or_skip() -> str:
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI") == "true":
            pytest.fail("node is not installed: CI must install it (.ci/run, Debian package nodejs)")
        pytest.skip("node is not installed (Debian package nodejs)")
    return node


@contextlib.contextmanager
def running_hook(folder: Path, *options: str, defects: str = "") -> Iterator[str]:
    """The Node hook on a free loopback port, with the ``HOOK_DEFECT`` ``defects``; yields its URL and stops it."""
    node = node_or_skip()
    stderr_path = folder / "stderr.txt"
    environment = {**os.environ, "HOOK_DEFECT": defects}
    with (
        stderr_path.open("w", encoding="utf-8") as stderr,
        subprocess.Popen(
            [node, str(HOOK), "--port", "0", *options],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=environment,
        ) as process,
    ):
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            match = re.search(r"listening on (http://127\.0\.0\.1:\d+/segur)", line)
            assert match, f"the hook did not start: {line!r} {stderr_path.read_text(encoding='utf-8')}"
            yield match.group(1)
        finally:
            process.terminate()
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def hook_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_hook(tmp_path_factory.mktemp("node-hook")) as url:
        yield url


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("segur-data")


def report(report_dir: Path) -> dict:
    return json.loads((report_dir / "report.json").read_text(encoding="utf-8"))


def test_the_node_hook_passes_the_ins_suite(tmp_path, hook_url, data_dir):
    status = run(RunOptions(sut=hook_url, suites="ins", report_dir=tmp_path / "r", data_dir=data_dir))
    result = report(tmp_path / "r")
    assert result["sut"]["kind"] == "http"
    outcomes = {r["id"]: r["outcome"] for r in result["requirements"]}
    assert {o for k, o in outcomes.items() if k != "INS-15"} == {"pass"}, outcomes
    assert status == 0  # INS-15 is an attestation, a reviewer's job: set aside, not "incomplet"


def test_the_node_hook_passes_the_dmp_suite(tmp_path, hook_url, data_dir):
    status = run(RunOptions(sut=hook_url, suites="dmp", report_dir=tmp_path / "r", data_dir=data_dir))
    result = report(tmp_path / "r")
    outcomes = {r["id"]: r["outcome"] for r in result["requirements"]}
    assert len(outcomes) >= 16 and set(outcomes.values()) == {"pass"}, outcomes
    assert outcomes["DMP-30"] == "pass"  # logged in with PSC, through the PSC -> VIHF proxy
    assert {t["outcome"] for t in result["tests"]} == {"pass"}  # feeding, updates, relay: none skipped as not performed
    assert status == 0


def test_the_node_hook_passes_the_psc_suite(tmp_path, hook_url, data_dir):
    status = run(RunOptions(sut=hook_url, suites="psc", report_dir=tmp_path / "r", data_dir=data_dir))
    result = report(tmp_path / "r")
    outcomes = {r["id"]: r["outcome"] for r in result["requirements"]}
    assert len(outcomes) >= 10 and set(outcomes.values()) == {"pass"}, outcomes
    assert {t["outcome"] for t in result["tests"]} == {"pass"}  # every bad ID token refused, none skipped
    assert status == 0


@pytest.mark.parametrize(("defect", "suite", "keyword", "requirement", "rule"), DEFECT_CASES)
def test_a_defect_of_the_node_product_fails_its_requirement(
    tmp_path, data_dir, defect, suite, keyword, requirement, rule
):
    with running_hook(tmp_path, defects=defect) as url:
        status = run(RunOptions(sut=url, suites=suite, keyword=keyword, report_dir=tmp_path / "r", data_dir=data_dir))
    result = report(tmp_path / "r")
    assert status == 1
    assert {r["id"]: r["outcome"] for r in result["requirements"]}[requirement] == "fail"
    rules = {f["rule"] for t in result["tests"] for f in t["findings"] if f["requirement"] == requirement}
    assert rule in rules, rules


def test_the_hook_refuses_an_unknown_defect_and_lists_the_known_ones():
    node = node_or_skip()
    answer = subprocess.run(
        [node, str(HOOK), "--port", "0"],
        env={**os.environ, "HOOK_DEFECT": "vihf_unsigned,no_such_defect"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert answer.returncode == 2
    assert "unknown HOOK_DEFECT no_such_defect" in answer.stderr
    assert all(name in answer.stderr for name, *_ in DEFECT_CASES)


def test_without_node_the_tests_skip_except_in_ci(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception):
        node_or_skip()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must install it"):
        node_or_skip()


def test_the_hook_refuses_a_wrong_bearer_token_and_the_harness_says_so(tmp_path):
    context = SutContext("k", {}, tmp_path, tmp_path, tmp_path, tmp_path, "", tmp_path, tmp_path)
    identity = {"ins": "280057505600117", "oid": "1.2.250.1.213.1.4.10", "status": "QUAL"}
    with running_hook(tmp_path, "--token", "right-token") as url:
        good = HttpSut(HttpSutSettings(url=url, token="right-token"))
        answer = good.perform("identity.export", {"identity": identity}, context)
        assert answer.data["identifiers"] == [{"value": identity["ins"], "oid": identity["oid"]}]
        with pytest.raises(SutFailure, match="HTTP 401") as caught:
            HttpSut(HttpSutSettings(url=url, token="wrong")).perform("identity.export", {"identity": identity}, context)
        assert b"bad bearer token" in (caught.value.raw or b"")


def test_the_hook_refuses_to_relay_a_document_that_is_not_a_cda(tmp_path):
    context = SutContext("k", {}, tmp_path, tmp_path, tmp_path, tmp_path, "", tmp_path, tmp_path)
    patient = {"ins": "280057505600117", "oid": "1.2.250.1.213.1.4.10"}
    with running_hook(tmp_path) as url:
        answer = HttpSut(HttpSutSettings(url=url)).perform(
            "dmp.relay_document", {"patient": patient, "document": "bm90IGEgQ0RB", "masking": []}, context
        )
    assert answer.data["outcome"] == "refused"
    assert "not a CDA" in answer.data["message"]


def test_the_hook_refuses_a_psc_consultation_without_login_and_a_callback_that_is_not_a_url(tmp_path):
    context = SutContext("k", {}, tmp_path, tmp_path, tmp_path, tmp_path, "", tmp_path, tmp_path)
    patient = {"ins": "280057505600117", "oid": "1.2.250.1.213.1.4.10"}
    with running_hook(tmp_path) as url:
        hook = HttpSut(HttpSutSettings(url=url))
        consulted = hook.perform("dmp.find_documents", {"patient": patient, "authentication": "psc"}, context)
        called_back = hook.perform("psc.callback", {"url": "not a url"}, context)
    assert consulted.data["outcome"] == "refused"  # never a consultation under the product's own identity
    assert "Pro Santé Connect" in consulted.data["message"]
    assert called_back.data["outcome"] == "refused"
    assert "illisible" in called_back.data["message"]
