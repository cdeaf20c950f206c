"""Report writers from a hand-built RunResult: content, validity, escaping, determinism."""

from __future__ import annotations

import json

import pytest
from lxml import etree
from lxml import html as lxml_html

from harness.core.results import Finding, Outcome, RequirementResult, RunResult, TestRecord
from harness.evidence.reports import write_reports
from harness.evidence.reports.html import render

EXCHANGE_ID = "a" * 32


def record(
    name: str, outcome: Outcome, req: str, findings: list[Finding] | None = None, message: str = ""
) -> TestRecord:
    return TestRecord(
        nodeid=f"ins/test_x.py::{name}",
        name=name,
        description=f"description of {name}",
        suite="ins",
        service="insi",
        requirements=[req],
        outcome=outcome,
        findings=findings or [],
        evidence=[EXCHANGE_ID],
        duration=0.25,
        message=message,
        started_at=1_700_000_000.0,
    )


def requirement(req: str, outcome: Outcome, findings: list[Finding] | None = None) -> RequirementResult:
    return RequirementResult(
        id=req,
        statement=f"énoncé {req}",
        domain="INS",
        criticite="MAJOR",
        nature="EXIGENCE",
        official_ref="",
        automation="automated",
        outcome=outcome,
        tests=[],
        findings=findings or [],
        evidence=[EXCHANGE_ID],
        reason="motif" if outcome is not Outcome.PASS else "",
    )


@pytest.fixture
def result() -> RunResult:
    findings = [
        Finding(
            "insi.traits-format",
            "trait Sexe <script>alert(1)</script>",
            requirement="R-2",
            expected="M or F",
            received="1",
            location="exchange x",
            evidence=(EXCHANGE_ID,),
        ),
        Finding("insi.wsa-messageid", "missing MessageID", requirement="R-2"),
    ]
    tests = [
        record("test_pass", Outcome.PASS, "R-1"),
        record("test_fail", Outcome.FAIL, "R-2", findings, "non-conformance"),
        record("test_skip", Outcome.SKIP, "R-3", message="no operator"),
        record("test_omit", Outcome.OMIT, "R-4", message="not applicable to couloir PFI"),
        record("test_error", Outcome.ERROR, "R-5", message="harness error in call: boom\x07"),
    ]
    requirements = [
        requirement("R-1", Outcome.PASS),
        requirement("R-2", Outcome.FAIL, findings),
        requirement("R-3", Outcome.SKIP),
        requirement("R-4", Outcome.OMIT),
        requirement("R-5", Outcome.ERROR),
    ]
    exchange = {
        "id": EXCHANGE_ID,
        "service": "insi",
        "session_key": "k",
        "operation": "rechercherInsAvecTraitsIdentite",
        "outcome": "ok",
        "http_status": 200,
        "client_subject": "CN=INSI-AUTO",
        "started_at": 1.0,
        "duration": 0.01,
        "summary": {},
    }
    return RunResult(
        run_id="run-1",
        harness_version="0.1.0",
        started_at="2026-11-22T10:00:00+00:00",
        finished_at="2026-11-22T10:00:02+00:00",
        duration=2.0,
        sut={"name": "Mon DPI", "version": "1"},
        suites=["ins"],
        couloir=None,
        tests=tests,
        requirements=requirements,
        exchanges=[exchange],
    )


def test_json_report_round_trips(result, tmp_path):
    paths = write_reports(result, tmp_path)
    data = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert data == json.loads(json.dumps(result.to_dict()))
    assert data["exit_code"] == 3
    assert data["summary"] == {"pass": 1, "fail": 1, "skip": 1, "omit": 1, "error": 1}


def test_junit_counts_failures_and_properties(result, tmp_path):
    root = etree.parse(str(write_reports(result, tmp_path)["junit"])).getroot()
    suite = root.find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"), suite.get("skipped")) == (
        "5",
        "1",
        "1",
        "2",
    )
    failure = suite.find("testcase[@name='test_fail']/failure")
    assert "expected M or F, received 1" in failure.text
    assert suite.find("testcase[@name='test_fail']/properties/property").get("value") == "R-2"
    assert suite.find("testcase[@name='test_omit']/skipped").get("message").startswith("omit:")
    assert "\x07" not in etree.tostring(root).decode()


def test_allure_results_have_status_and_labels(result, tmp_path):
    folder = write_reports(result, tmp_path)["allure"]
    results = [json.loads(p.read_text()) for p in folder.glob("*-result.json")]
    assert sorted(r["status"] for r in results) == ["broken", "failed", "passed", "skipped", "skipped"]
    failed = next(r for r in results if r["status"] == "failed")
    labels = {(label["name"], label["value"]) for label in failed["labels"]}
    assert {("suite", "ins"), ("requirement", "R-2"), ("service", "insi")} <= labels
    assert failed["stop"] - failed["start"] == 250
    assert (folder / "environment.properties").read_text().startswith("harness.version=0.1.0")


def test_html_is_french_self_contained_escaped_and_linked(result, tmp_path):
    text = write_reports(result, tmp_path)["html"].read_text(encoding="utf-8")
    page = lxml_html.fromstring(text)
    assert "Rapport de conformité Ségur" in text and "Non conforme" not in text  # an error outranks a failure
    assert "Erreur du harnais" in text
    for req in ("R-1", "R-2", "R-3", "R-4", "R-5"):
        assert page.get_element_by_id(f"r-{req}") is not None
    assert "<script>alert(1)</script>" not in text and "&lt;script&gt;" in text
    anchors = {a.get("href") for a in page.iter("a")}
    assert f"#x-{EXCHANGE_ID}" in anchors and page.get_element_by_id(f"x-{EXCHANGE_ID}") is not None
    assert not page.xpath("//link[@rel='stylesheet'] | //script[@src] | //img[@src]"), "self-contained"


def test_html_english_switch(result):
    assert "Ségur conformance report" in render(result, "en")
    with pytest.raises(ValueError, match="language"):
        render(result, "de")


def test_writing_twice_gives_identical_bytes(result, tmp_path):
    first = {k: p.read_bytes() for k, p in write_reports(result, tmp_path / "a").items() if p.is_file()}
    second = {k: p.read_bytes() for k, p in write_reports(result, tmp_path / "b").items() if p.is_file()}
    assert first == second and set(first) == {"json", "junit", "html"}
