"""The pytest plugin, end to end with pytester: markers, outcomes, omit, reports."""

from __future__ import annotations

import json

import pytest

CATALOG = """id,official_ref,domain,nature,criticite,statement,couloirs,evidence,automation,source
DEMO-01,,DEMO,EXIGENCE,MAJOR,first,DPI|LGC,e,automated,test
DEMO-02,,DEMO,EXIGENCE,MAJOR,second,DPI|LGC,e,automated,test
DEMO-03,,DEMO,EXIGENCE,MINOR,third,LGC,e,automated,test
DEMO-04,,DEMO,EXIGENCE,MINOR,fourth,DPI|LGC,e,attestation,test
DEMO-05,,DEMO,EXIGENCE,MINOR,fifth,DPI|LGC,e,automated,test
"""

SUITE = '''
import pytest
from harness.core.results import Finding, NonConformance

@pytest.mark.requirement("DEMO-01")
def test_pass():
    """passes"""

@pytest.mark.requirement("DEMO-02")
def test_fail():
    raise NonConformance([Finding("demo.rule", "wrong", expected="A", received="B")])

@pytest.mark.requirement("DEMO-03")
def test_lgc_only():
    pass

@pytest.mark.requirement("DEMO-05")
def test_harness_bug():
    raise RuntimeError("boom")

def test_unmarked_is_ignored():
    pass
'''


@pytest.fixture
def demo(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makefile(".csv", catalog=CATALOG)
    pytester.makepyfile(test_demo=SUITE)
    return pytester


def run(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, dict]:
    result = pytester.runpytest_inprocess(
        "--segur-catalog", "catalog.csv", "--segur-report-dir", "out", "-p", "no:cacheprovider", *args
    )
    report_path = pytester.path / "out" / "report.json"
    return result, json.loads(report_path.read_text(encoding="utf-8")) if report_path.exists() else {}


def test_outcomes_are_classified_and_reported(demo):
    _, report = run(demo, "--segur-couloir", "DPI")
    outcomes = {r["id"]: r["outcome"] for r in report["requirements"]}
    assert outcomes == {
        "DEMO-01": "pass",
        "DEMO-02": "fail",
        "DEMO-03": "omit",
        "DEMO-04": "skip",
        "DEMO-05": "error",
    }
    failing = next(r for r in report["requirements"] if r["id"] == "DEMO-02")
    assert failing["findings"][0]["expected"] == "A"
    assert failing["findings"][0]["requirement"] == "DEMO-02"
    assert report["exit_code"] == 3  # an error outranks a failure
    assert {p.name for p in (demo.path / "out").iterdir()} >= {"report.json", "junit.xml", "report.html"}


def test_without_couloir_every_requirement_applies(demo):
    _, report = run(demo)
    assert {r["id"]: r["outcome"] for r in report["requirements"]}["DEMO-03"] == "pass"


def test_unknown_requirement_id_stops_collection_with_a_suggestion(pytester):
    pytester.makefile(".csv", catalog=CATALOG)
    pytester.makepyfile(test_bad='import pytest\n@pytest.mark.requirement("DEMO-1")\ndef test_x(): pass\n')
    result, _ = run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*DEMO-1*did you mean DEMO-01*"])


def test_plugin_is_inert_without_requirement_marks(pytester):
    pytester.makepyfile(test_plain="def test_x():\n    assert True\n")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
