"""Observe and judge: a session of segur serve, the product used by hand, then segur judge.

The reference DMP and MSSanté clients stand for the product: they only talk to the endpoints
``segur session new`` printed (tests/observed_product.py). ``segur judge`` must then give the
verdicts ``segur run --sut reference`` gives for every requirement the traffic can decide, and each
reference defect must still fail its requirement.
"""

from __future__ import annotations

import json
import ssl
from pathlib import Path

import httpx
import pytest
from observed_product import use_by_hand
from test_run_e2e import EXPECTED_FAILURE, EXPECTED_FAILURE_IN_SUITE

from harness.cli import main
from harness.core.results import SkipKind
from harness.core.skips import NotEvaluated
from harness.run.environment import HarnessEnvironment
from harness.run.observed import ObservedAnswer
from harness.run.runner import RunOptions, run
from harness.run.sessions import SESSIONS_PATH, gathered
from harness.run.sut.reference_dmp import DMP_DEFECTS
from harness.run.sut.reference_mss import MSS_DEFECTS

pytestmark = pytest.mark.slow

# What segur judge cannot decide from the traffic: how the product read the TD0.2 answer, a document the
# harness hands the product to relay, mail it received, and what needs the harness to act during the
# product's connection (the DMP made unavailable for DMP-15, the operator's certificate switched for MSS-11 and MSS-12),
# and a PSC login the harness's browser drives (DMP-30: psc.* actions have no anchor in a session).
NOT_OBSERVABLE = {"DMP-13", "DMP-15", "DMP-21", "DMP-30", "MSS-07", "MSS-08", "MSS-11", "MSS-12"}
JUDGED_DEFECTS = [(d, "dmp") for d in sorted(DMP_DEFECTS) if EXPECTED_FAILURE[d] not in NOT_OBSERVABLE]
JUDGED_DEFECTS += [(d, "mss") for d in sorted(MSS_DEFECTS) if EXPECTED_FAILURE[d] not in NOT_OBSERVABLE]
JUDGED_DEFECTS += [("cda_missing_ci_sis_template", "dmp"), ("cda_missing_ci_sis_template", "mss")]
TOKEN = "observe-test-token"


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory):
    """A segur serve in this process (DMP, PSC, MSSanté), with its endpoints file and a control token."""
    base = tmp_path_factory.mktemp("observe")
    with HarnessEnvironment(base / "serve", control_token=TOKEN) as env:
        env.start("dmp")
        env.start("psc")
        env.start_mss()
        endpoints = base / "endpoints.json"
        endpoints.write_text(json.dumps(env.endpoints_document()), encoding="utf-8")
        yield env, endpoints


def new_session(serve, tmp_path: Path, label: str) -> dict:
    _, endpoints = serve
    target = tmp_path / f"session-{label}.json"
    args = ["session", "new", "--endpoints-file", str(endpoints), "--label", label, "--output", str(target)]
    assert main([*args, "--control-token", TOKEN]) == 0
    document = json.loads(target.read_text(encoding="utf-8"))
    document["store"] = serve[0].storage.url  # what the judge is told, as a user would: None for SQLite files
    return document


def judged(session: dict, report_dir: Path, suites: str = "dmp,mss") -> tuple[int, dict]:
    args = ["judge", "--session", session["session"], "--data-dir", session["data_dir"], "--suite", suites]
    args += ["--store", session["store"]] if session.get("store") else []
    status = main([*args, "--report-dir", str(report_dir)])
    return status, json.loads((report_dir / "report.json").read_text(encoding="utf-8"))


def outcomes(report: dict) -> dict[str, str]:
    return {r["id"]: r["outcome"] for r in report["requirements"]}


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    report_dir = tmp_path_factory.mktemp("reference-run")
    assert run(RunOptions(suites="dmp,mss", report_dir=report_dir / "r")) == 0
    return json.loads((report_dir / "r" / "report.json").read_text(encoding="utf-8"))


def test_judge_gives_the_verdicts_of_segur_run_for_what_the_traffic_decides(serve, reference_run, tmp_path, capsys):
    session = new_session(serve, tmp_path, "by-hand")
    assert session["dmp"]["url"].endswith(f"/s/{session['session']}/si-dmp-server/v2/services")
    use_by_hand(session, tmp_path)
    status, report = judged(session, tmp_path / "judged")
    expected = {k: v for k, v in outcomes(reference_run).items() if k not in NOT_OBSERVABLE}
    assert {k: v for k, v in outcomes(report).items() if k not in NOT_OBSERVABLE} == expected
    assert set(expected.values()) == {"pass"}
    skipped = {r["id"]: r for r in report["requirements"] if r["outcome"] == "skip"}
    assert set(skipped) == NOT_OBSERVABLE
    assert {r["skip_kind"] for r in skipped.values()} == {SkipKind.NOT_OBSERVED.value}
    assert status == 4 and report["verdict"] == "incomplet", "nothing judged is never conforme"
    assert report["sut"] == {"name": f"Produit observé (session {session['session']})", "kind": "observed",
                             "session": session["session"]}  # fmt: skip
    # Each test cites the exchanges of its own actions, all from the session.
    cited = {e for t in report["tests"] for f in t.get("findings", []) for e in f.get("evidence", [])}
    session_ids = {e["id"] for e in report["exchanges"]}
    assert cited <= session_ids and {e["session_key"] for e in report["exchanges"]} == {session["session"]}
    # The pack verifies with the serve's own PKI pinned, and re-judges without a flip.
    capsys.readouterr()
    trust = Path(session["data_dir"]) / "pki" / "ca" / "root.pem"
    assert main(["report", "verify", str(tmp_path / "judged"), "--trust", str(trust)]) == 0
    assert main(["rejudge", str(tmp_path / "judged")]) == 0
    assert "No verdict" in capsys.readouterr().out
    assert main(["report", "diff", str(tmp_path / "judged"), str(tmp_path / "judged")]) == 0


def test_the_order_the_product_was_used_in_does_not_change_the_verdicts(serve, reference_run, tmp_path):
    """Mail first, the follow-ups in reverse, the consultation and the existence test last."""
    session = new_session(serve, tmp_path, "reversed")
    use_by_hand(session, tmp_path, reverse=True)
    _, report = judged(session, tmp_path / "judged")
    expected = {k: v for k, v in outcomes(reference_run).items() if k not in NOT_OBSERVABLE}
    assert {k: v for k, v in outcomes(report).items() if k not in NOT_OBSERVABLE} == expected


@pytest.mark.parametrize(("defect", "suite"), JUDGED_DEFECTS)
def test_each_reference_defect_still_fails_its_requirement_through_judge(serve, tmp_path, defect, suite):
    session = new_session(serve, tmp_path, defect.replace("_", "-"))
    use_by_hand(session, tmp_path, frozenset({defect}), parts=suite)
    status, report = judged(session, tmp_path / "judged", suite)
    failed = sorted(r["id"] for r in report["requirements"] if r["outcome"] == "fail")
    errors = [t["nodeid"] for t in report["tests"] if t["outcome"] == "error"]
    assert errors == [], f"{defect} must make the product fail, never the harness: {errors}"
    expected = EXPECTED_FAILURE_IN_SUITE.get((defect, suite), EXPECTED_FAILURE[defect])
    assert status == 1 and expected in failed, f"{defect}: failed {failed}"


def test_a_session_without_traffic_judges_nothing_and_says_what_to_do(serve, tmp_path):
    session = new_session(serve, tmp_path, "idle")
    status, report = judged(session, tmp_path / "judged", "dmp")
    assert status == 4 and set(outcomes(report).values()) == {"skip"}
    reasons = {t["message"] for t in report["tests"]}
    assert any("no TD2.1 submission for" in r and "recorded in this session" in r for r in reasons), reasons
    assert {t["skip_kind"] for t in report["tests"]} == {SkipKind.NOT_OBSERVED.value}


def test_judge_refuses_a_folder_that_is_not_a_serve_data_dir(tmp_path, capsys):
    status = main(["judge", "--session", "k", "--data-dir", str(tmp_path), "--report-dir", str(tmp_path / "r")])
    assert status == 2 and "is not the data folder of a segur serve" in capsys.readouterr().err


def test_session_control_needs_the_token_and_a_well_formed_request(serve, tmp_path, capsys):
    env, endpoints = serve
    assert main(["session", "new", "--endpoints-file", str(endpoints)]) == 2
    assert "401" in capsys.readouterr().err
    origin = env.endpoint("dmp").split("/si-dmp-server")[0]
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(verify=ssl.create_default_context(cafile=str(env.pki.ca_bundle)), timeout=10) as http:
        assert http.get(origin + SESSIONS_PATH, headers=auth).status_code == 405
        bad = http.post(origin + SESSIONS_PATH, content=b"{not json", headers=auth)
        assert bad.status_code == 400 and "bad session request" in bad.json()["error"]
        assert http.post(origin + SESSIONS_PATH, json={"label": 3}, headers=auth).status_code == 400
        made = http.post(origin + SESSIONS_PATH, headers=auth)
    assert made.status_code == 201 and env.active_session.key == made.json()["session"], "mail goes to it"


def test_gathered_evidence_follows_the_session_traffic(serve, tmp_path):
    env, _ = serve
    session = new_session(serve, tmp_path, "gathering")
    before = {row["requirement"]: row for row in gathered(env.store.exchanges(session_key=session["session"]))}
    assert not before["DMP-04"]["gathered"] and before["DMP-04"]["missing_en"] == ["a TD2.1 submission"]
    use_by_hand(session, tmp_path, parts="mss")
    after = {row["requirement"]: row for row in gathered(env.store.exchanges(session_key=session["session"]))}
    assert after["MSS-05"]["gathered"] and after["MSS-01"]["gathered"] and not after["DMP-04"]["gathered"]


def test_an_answer_the_wire_cannot_show_skips_the_test_that_reads_it():
    answer = ObservedAnswer({"seen": 1}, {"outcome": ("how it read it is not on the wire", "non visible")})
    assert answer["seen"] == 1 and answer.get("seen") == 1
    with pytest.raises(NotEvaluated) as raised:
        answer.get("outcome")
    assert raised.value.kind is SkipKind.NOT_OBSERVED and raised.value.fr == "non visible"
    with pytest.raises(NotEvaluated):
        answer["outcome"]


def test_session_new_says_what_is_wrong_with_its_endpoints_file(tmp_path, capsys):
    missing = tmp_path / "absent.json"
    assert main(["session", "new", "--endpoints-file", str(missing)]) == 2
    assert "cannot read the endpoints file" in capsys.readouterr().err
    mail_only = tmp_path / "mail.json"
    mail_only.write_text(json.dumps({"mss": {"smtp": "127.0.0.1:1"}}), encoding="utf-8")
    assert main(["session", "new", "--endpoints-file", str(mail_only)]) == 2
    assert "names no HTTP mock" in capsys.readouterr().err
    stopped = tmp_path / "stopped.json"
    stopped.write_text(json.dumps({"dmp": {"url": "https://127.0.0.1:9/si-dmp-server/v2/services"}}), encoding="utf-8")
    assert main(["session", "new", "--endpoints-file", str(stopped)]) == 2
    assert "does not answer" in capsys.readouterr().err
