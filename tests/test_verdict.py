"""The overall verdict (issue 22): nothing judged is never "conforme", blame goes where it belongs,
and the terminal says why at a glance."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from lxml import etree

from harness.core.results import (
    EXIT_FAIL,
    EXIT_INCOMPLETE,
    EXIT_OK,
    Finding,
    Outcome,
    RequirementResult,
    RunResult,
    SkipKind,
    Verdict,
)
from harness.run.runner import RunOptions, print_summary, run

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_SUT = ROOT / "fixtures" / "sut" / "example-command.toml"


def requirement(req_id: str, outcome: Outcome, criticite: str = "MAJOR", **extra) -> RequirementResult:
    return RequirementResult(
        id=req_id,
        statement=f"Le logiciel fait ce que l'exigence {req_id} demande, sans couper les mots au milieu",
        statement_en=f"The software does what requirement {req_id} asks, without cutting words in half",
        domain="INS",
        criticite=criticite,
        nature="EXIGENCE",
        official_ref="",
        automation="automated",
        outcome=outcome,
        **extra,
    )


def result_of(*requirements: RequirementResult, allow_incomplete: bool = False) -> RunResult:
    return RunResult(
        run_id="r",
        harness_version="0",
        started_at="",
        finished_at="",
        duration=1.0,
        sut={"name": "Produit", "kind": "command", "actions": []},
        suites=["ins"],
        couloir=None,
        tests=[],
        requirements=list(requirements),
        allow_incomplete=allow_incomplete,
    )


def not_performed(req_id: str, criticite: str = "MAJOR") -> RequirementResult:
    return requirement(
        req_id,
        Outcome.SKIP,
        criticite,
        skip_kind=SkipKind.NOT_PERFORMED,
        reason="product.toml maps no command to action 'insi.search_by_traits'",
        reason_fr="product.toml n'associe aucune commande à l'action 'insi.search_by_traits'",
    )


# -- the verdict model ---------------------------------------------------------------------


def test_a_run_that_judged_nothing_is_incomplete_never_conforme():
    result = result_of(not_performed("INS-01"), not_performed("INS-02", "CRITICAL"))
    assert result.verdict is Verdict.INCOMPLET and result.exit_code == EXIT_INCOMPLETE == 4
    assert [r.id for r in result.not_evaluated()] == ["INS-02", "INS-01"], "CRITICAL first"


def test_one_unjudged_requirement_among_passes_leaves_the_run_incomplete():
    result = result_of(requirement("INS-01", Outcome.PASS), not_performed("INS-02"))
    assert result.verdict is Verdict.INCOMPLET and result.exit_code == EXIT_INCOMPLETE


def test_allow_incomplete_exits_0_and_the_report_says_so():
    result = result_of(requirement("INS-01", Outcome.PASS), not_performed("INS-02"), allow_incomplete=True)
    assert result.verdict is Verdict.INCOMPLET and result.exit_code == EXIT_OK
    data = result.to_dict()
    assert (data["verdict"], data["allow_incomplete"], data["exit_code"]) == ("incomplet", True, 0)
    assert RunResult.from_dict(json.loads(json.dumps(data))).verdict is Verdict.INCOMPLET


@pytest.mark.parametrize("kind", [SkipKind.ATTESTATION, SkipKind.NOT_CONFIGURED])
def test_attestations_and_missing_optional_inputs_are_set_aside_not_incomplete(kind):
    aside = requirement("INS-15", Outcome.SKIP, skip_kind=kind, reason="x", reason_fr="x")
    result = result_of(requirement("INS-01", Outcome.PASS), aside)
    assert result.verdict is Verdict.CONFORME and result.exit_code == EXIT_OK
    assert [r.id for r in result.set_aside()] == ["INS-15"] and not result.not_evaluated()


def test_a_failure_outranks_requirements_not_evaluated():
    failed = requirement("INS-02", Outcome.FAIL, findings=[Finding("r", "bad")])
    result = result_of(failed, not_performed("INS-05"))
    assert result.verdict is Verdict.NON_CONFORME and result.exit_code == EXIT_FAIL


# -- the terminal summary -------------------------------------------------------------------


def summary(result: RunResult, lang: str) -> str:
    out = io.StringIO()
    print_summary(result, Path("reports/x"), out, lang)
    return out.getvalue()


def test_summary_shows_first_finding_each_skip_reason_one_count_and_the_verdict_in_french(monkeypatch):
    # The summary wraps at the terminal width; under an xdist worker that is not the fallback 100.
    monkeypatch.setenv("COLUMNS", "100")
    failed = requirement(
        "INS-02",
        Outcome.FAIL,
        "CRITICAL",
        findings=[
            Finding(
                "insi.context-header",
                "the ContexteLPS header is missing",
                expected="ContexteLPS",
                received="absent",
                message_fr="l'en-tête ContexteLPS est absent",
                received_fr="absent",
            ),
            Finding("insi.idam", "second finding", message_fr="second constat"),
        ],
    )
    blocked = requirement(
        "INS-05",
        Outcome.SKIP,
        "CRITICAL",
        skip_kind=SkipKind.BLOCKED,
        blocked_by=["INS-02"],
        reason="not evaluable because of INS-02",
        reason_fr="non évaluable à cause de INS-02",
    )
    text = summary(result_of(failed, blocked, not_performed("INS-01")), "fr")
    lines = text.splitlines()
    fail_at = next(i for i, line in enumerate(lines) if line.startswith("  FAIL  INS-02"))
    assert "Critique" in lines[fail_at]
    assert "l'en-tête ContexteLPS est absent (attendu ContexteLPS, reçu absent)" in lines[fail_at + 1]
    assert "(+1 autre constat)" in text and "second constat" not in text, "only the first finding"
    assert "non évaluable à cause de INS-02" in text
    assert "product.toml n'associe aucune commande" in text
    assert [line for line in lines if line.startswith("Exigences")] == ["Exigences : 1 non conforme, 2 non évaluées"], (
        "one count, of requirements"
    )
    assert "Verdict : NON CONFORME" in text
    assert re.search(r"Critique \(1\) : INS-05", text) and re.search(r"Majeure \(1\) : INS-01", text)


def test_summary_cuts_statements_at_word_boundaries_and_speaks_english():
    text = summary(result_of(not_performed("INS-01"), requirement("INS-03", Outcome.PASS)), "en")
    statement_lines = [line for line in text.splitlines() if line.startswith(("  PASS", "  SKIP"))]
    assert statement_lines and all(len(line) <= 140 for line in statement_lines)
    for line in statement_lines:
        words = line.removesuffix(" […]").split()
        assert words[-1] in "The software does what requirement INS-01 INS-03 asks, without cutting words in half"
    assert "Verdict: INCOMPLETE" in text and "Requirements: 1 pass, 1 not evaluated" in text
    assert "maps no command to action" in text and "n'associe" not in text


# -- end to end -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("segur-data")


def load_report(report_dir: Path) -> dict:
    return json.loads((report_dir / "report.json").read_text(encoding="utf-8"))


@pytest.mark.slow
def test_a_sut_that_maps_no_action_is_incomplete_with_exit_4(tmp_path, data_dir, capsys):
    nothing = tmp_path / "nothing.toml"
    nothing.write_text('[sut]\nname = "Nothing"\n', encoding="utf-8")
    status = run(RunOptions(sut=str(nothing), suites="all", report_dir=tmp_path / "r", data_dir=data_dir))
    out = capsys.readouterr().out
    report = load_report(tmp_path / "r")
    assert status == EXIT_INCOMPLETE and report["verdict"] == "incomplet" and report["exit_code"] == 4
    assert "Verdict : INCOMPLET" in out and "CONFORME" not in out.replace("INCOMPLET", "")
    junit = etree.parse(str(tmp_path / "r" / "junit.xml"))
    assert set(junit.xpath("//property[@name='segur.verdict']/@value")) == {"incomplet"}
    html = (tmp_path / "r" / "report.html").read_text(encoding="utf-8")
    assert 'class="verdict incomplete"' in html and "Conforme</span>" not in html


@pytest.mark.slow
def test_the_insi_only_example_is_incomplete_over_all_suites(tmp_path, data_dir, capsys):
    status = run(RunOptions(sut=str(EXAMPLE_SUT), suites="all", report_dir=tmp_path / "r", data_dir=data_dir))
    report = load_report(tmp_path / "r")
    assert status == EXIT_INCOMPLETE and report["verdict"] == "incomplet"
    unjudged = {r["id"] for r in report["requirements"] if r["skip_kind"] == "not_performed"}
    assert "PSC-01" in unjudged and not any(i.startswith("INS-") for i in unjudged)
    allowed = run(
        RunOptions(
            sut=str(EXAMPLE_SUT), suites="psc", report_dir=tmp_path / "a", data_dir=data_dir, allow_incomplete=True
        )
    )
    assert allowed == EXIT_OK and load_report(tmp_path / "a")["allow_incomplete"] is True
    assert "--allow-incomplete" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.parametrize(
    ("defect", "gate", "suite"),
    [
        ("no_contexte_lps", "INS-02", "ins"),
        ("wrong_traits_format", "INS-03", "ins"),
        ("vihf_unsigned", "DMP-02", "dmp"),
    ],
)
def test_a_bad_request_fails_its_own_requirement_and_blocks_those_needing_the_answer(
    tmp_path, data_dir, capsys, defect, gate, suite
):
    status = run(RunOptions(suites=suite, report_dir=tmp_path / "r", data_dir=data_dir, defects=[defect]))
    out = capsys.readouterr().out
    report = load_report(tmp_path / "r")
    by_id = {r["id"]: r for r in report["requirements"]}
    assert status == EXIT_FAIL and by_id[gate]["outcome"] == "fail"
    blocked = [r for r in report["requirements"] if r["skip_kind"] == "blocked"]
    assert blocked, "requirements needing the service's answer are blocked, not failed"
    failed = {r["id"] for r in report["requirements"] if r["outcome"] == "fail"}
    assert all(gate in r["blocked_by"] and set(r["blocked_by"]) <= failed for r in blocked)
    assert all(r["reason_fr"].startswith(f"non évaluable à cause de {gate}") for r in blocked)
    assert "test data is wrong" not in json.dumps(report)
    assert not [t for t in report["tests"] if t["outcome"] == "error"]
    # No pytest tracebacks or second count on the terminal by default.
    assert "Traceback" not in out and "FAILURES" not in out and not re.search(r"\d+ (passed|failed)", out)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_run_help_lists_suites_couloirs_and_every_exit_status():
    completed = run_cli("run", "--help")
    assert completed.returncode == 0
    text = completed.stdout
    assert "suites: cda, dmp, fhir, ins, mss, psc" in text and "couloirs: DPI" in text
    for status in ("0  conforme", "1  non conforme", "2  usage", "3  harness error", "4  incomplet"):
        assert status in text
    assert "--allow-incomplete" in text


def test_couloir_in_any_case_is_accepted_and_an_unknown_one_is_a_usage_error(tmp_path):
    from harness.core.catalog import normalise_couloir
    from harness.core.errors import UsageError

    assert normalise_couloir("dpi") == "DPI" and normalise_couloir("Officine") == "OFFICINE"
    with pytest.raises(UsageError, match="unknown couloir 'hopital'"):
        normalise_couloir("hopital")
    completed = run_cli("requirements", "--couloir", "lgc", "--format", "csv")
    assert completed.returncode == 0 and "INS-01" in completed.stdout


def test_validate_given_a_folder_says_to_give_its_files(tmp_path):
    completed = run_cli("validate", "cda", str(tmp_path))
    assert completed.returncode == 2
    assert "is a folder" in completed.stderr and f"{tmp_path}/*.xml" in completed.stderr
