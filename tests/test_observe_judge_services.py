"""Observe and judge for the ins, psc and cda suites: INSi searches, PSC logins and shared documents by hand.

The reference INSi and PSC clients, and a DMP feed, stand for the product used by hand: they only
talk to the endpoints of a session (tests/observed_product.py). ``segur judge --suite ins,psc,cda``
must then give the verdicts of ``segur run --sut reference`` for every requirement it judges, skip
the others as ``not_observed`` with the reason, and each relevant reference defect must still fail
its requirement.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from observed_product import session_context, share_document, use_insi, use_psc
from observed_product import use_by_hand as use_mail
from test_observe_judge import TOKEN, judged, new_session, outcomes
from test_run_e2e import EXPECTED_FAILURE

from harness.cli import main
from harness.core.results import SkipKind
from harness.run.console.exchanges import ExchangeReader
from harness.run.environment import HarnessEnvironment
from harness.run.runner import RunOptions, run
from harness.run.sessions import gathered
from harness.run.sut.reference import ReferenceSut
from harness.run.sut.reference_cda import CDA_DEFECTS
from harness.run.sut.reference_insi import INSI_DEFECTS
from harness.run.sut.reference_psc import PSC_DEFECTS
from mock_services.dmp.patients import PatientBase

pytestmark = pytest.mark.slow

SUITES = "ins,psc,cda"
# What the wire decides: the product's INSi requests, its PSC requests and documents. The rest is what the
# product did with an answer (INS kept, status, verification, export; login accepted or refused), a callback
# or token the harness would have had to spoil (PSC-07, PSC-08), an INSi fault (INS-13), an attestation
# (INS-15) and the ANS kit, not configured here (CDA-09).
JUDGED = {"INS-01", "INS-02", "INS-03", "INS-04"} | {f"PSC-0{n}" for n in (2, 3, 4, 5, 6, 9)} | {"PSC-10"}
JUDGED |= {f"CDA-0{n}" for n in range(1, 9)}
NOT_OBSERVED = {f"INS-{n:02d}" for n in (5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 16, 17, 18, 19)} | {"PSC-01", "PSC-07"}
NOT_OBSERVED |= {"PSC-08"}
JUDGED_DEFECTS = sorted(d for d in (*INSI_DEFECTS, *PSC_DEFECTS, *CDA_DEFECTS) if EXPECTED_FAILURE.get(d) in JUDGED)


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory):
    """A segur serve in this process (INSi, PSC, DMP, MSSanté), with its endpoints file and a control token."""
    base = tmp_path_factory.mktemp("observe-services")
    with HarnessEnvironment(base / "serve", control_token=TOKEN) as env:
        for service in ("insi", "psc", "dmp"):
            env.start(service)
        env.start_mss()
        endpoints = base / "endpoints.json"
        endpoints.write_text(json.dumps(env.endpoints_document()), encoding="utf-8")
        yield env, endpoints


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    report_dir = tmp_path_factory.mktemp("reference-services") / "r"
    assert run(RunOptions(suites=SUITES, report_dir=report_dir)) == 0
    return json.loads((report_dir / "report.json").read_text(encoding="utf-8"))


def use_by_hand(session: dict, work_dir: Path, defects: frozenset[str] = frozenset()) -> None:
    use_insi(session, work_dir, defects)
    use_psc(session, work_dir, defects)
    share_document(session, work_dir, defects)


def test_judge_gives_the_verdicts_of_segur_run_for_ins_psc_and_cda(serve, reference_run, tmp_path, capsys):
    session = new_session(serve, tmp_path, "services")
    assert session["insi"]["url"].startswith("https://") and f"/s/{session['session']}/" in session["insi"]["url"]
    use_by_hand(session, tmp_path)
    status, report = judged(session, tmp_path / "judged", SUITES)
    got, expected = outcomes(report), outcomes(reference_run)
    assert {k: got[k] for k in JUDGED} == {k: expected[k] for k in JUDGED} == dict.fromkeys(JUDGED, "pass")
    skipped = {r["id"]: r for r in report["requirements"] if r["outcome"] == "skip"}
    assert set(skipped) == NOT_OBSERVED | {"INS-15", "CDA-09"}
    assert {skipped[k]["skip_kind"] for k in NOT_OBSERVED} == {SkipKind.NOT_OBSERVED.value}
    assert status == 4 and report["verdict"] == "incomplet", "nothing judged is never conforme"
    reasons = {t["message"] for t in report["tests"] if t["outcome"] == "skip"}
    assert any("what the product kept from INSi's answer for ADRUN ZOE" in r for r in reasons), reasons
    assert any("cannot hand the product a callback it never received" in r for r in reasons), reasons
    cited = {e for t in report["tests"] for f in t.get("findings", []) for e in f.get("evidence", [])}
    assert cited <= {e["id"] for e in report["exchanges"]}
    capsys.readouterr()
    assert main(["rejudge", str(tmp_path / "judged")]) == 0, "the observed pack re-judges through the same adapter"
    assert "No verdict" in capsys.readouterr().out


def test_the_cda_suite_finds_the_document_by_its_title_else_the_first_one_sent(serve, tmp_path):
    """A defective document shared first, then a good one with the title the cda tests ask for: the titled one."""
    session = new_session(serve, tmp_path, "cda-titles")
    product, context = ReferenceSut(frozenset({"cda_ins_not_first"})), session_context(session, tmp_path)
    ouvert = PatientBase.load()["OUVERT"].identity()
    product.perform("dmp.feed_document", {"patient": ouvert, "title": "Compte rendu", "masking": []}, context)
    first_only, report = judged(session, tmp_path / "first", "cda")
    assert first_only == 1 and outcomes(report)["CDA-03"] == "fail", "without the title, the first document sent"
    share_document(session, tmp_path)
    status, report = judged(session, tmp_path / "titled", "cda")
    assert outcomes(report)["CDA-03"] == "pass" and status == 0


def test_the_cda_suite_judges_a_document_sent_by_mssante(serve, tmp_path):
    session = new_session(serve, tmp_path, "cda-by-mail")
    use_mail(session, tmp_path, frozenset({"cda_volet_template_wrong_code"}), parts="mss")
    status, report = judged(session, tmp_path / "judged", "cda")
    got = outcomes(report)
    assert status == 1 and got["CDA-07"] == "fail" and got["CDA-03"] == "pass", got


@pytest.mark.parametrize("defect", JUDGED_DEFECTS)
def test_each_ins_psc_cda_defect_still_fails_its_requirement_through_judge(serve, tmp_path, defect):
    session = new_session(serve, tmp_path, defect.replace("_", "-"))
    use_by_hand(session, tmp_path, frozenset({defect}))
    status, report = judged(session, tmp_path / "judged", SUITES)
    failed = sorted(r["id"] for r in report["requirements"] if r["outcome"] == "fail")
    errors = [t["nodeid"] for t in report["tests"] if t["outcome"] == "error"]
    assert errors == [], f"{defect} must make the product fail, never the harness: {errors}"
    assert status == 1 and EXPECTED_FAILURE[defect] in failed, f"{defect}: failed {failed}"


def test_defects_the_wire_cannot_show_leave_their_requirement_unjudged_never_passed(serve, tmp_path):
    """A product with every INSi and PSC defect of what it does with an answer: those requirements are skipped."""
    unseen = sorted(d for d in (*INSI_DEFECTS, *PSC_DEFECTS) if EXPECTED_FAILURE[d] not in JUDGED)
    session = new_session(serve, tmp_path, "unseen-defects")
    use_by_hand(session, tmp_path, frozenset(unseen))
    status, report = judged(session, tmp_path / "judged", "ins,psc")
    requirements = {r["id"]: r for r in report["requirements"]}
    blamed = {EXPECTED_FAILURE[d] for d in unseen}
    assert {requirements[k]["outcome"] for k in blamed} == {"skip"}
    assert {requirements[k]["skip_kind"] for k in blamed} == {SkipKind.NOT_OBSERVED.value}
    assert status == 4 and {requirements[k]["outcome"] for k in JUDGED if k in requirements} == {"pass"}


def test_a_session_without_ins_psc_or_cda_traffic_says_what_to_do(serve, tmp_path):
    session = new_session(serve, tmp_path, "idle-services")
    status, report = judged(session, tmp_path / "judged", f"{SUITES},fhir")
    assert status == 4 and set(outcomes(report).values()) == {"skip"}
    reasons = {t["message"] for t in report["tests"] if t["outcome"] == "skip"}
    assert any("no INSi search by traits for ADRUN ZOE" in r for r in reasons), reasons
    assert any("no Pro Santé Connect login" in r for r in reasons), reasons
    assert any("no CDA document sent by the product recorded in this session" in r for r in reasons), reasons
    fhir = {t["message"] for t in report["tests"] if t["nodeid"].startswith("fhir/")}
    assert fhir and all("records no FHIR resource the product made" in r for r in fhir), fhir


def test_gathered_evidence_covers_ins_psc_and_cda(serve, tmp_path):
    env, _ = serve
    session = new_session(serve, tmp_path, "gathering-services")
    before = {row["requirement"]: row for row in gathered(env.store.exchanges(session_key=session["session"]))}
    assert not before["INS-01"]["gathered"] and not before["PSC-02"]["gathered"] and not before["CDA-01"]["gathered"]
    use_insi(session, tmp_path)
    after = {row["requirement"]: row for row in gathered(env.store.exchanges(session_key=session["session"]))}
    assert after["INS-03"]["gathered"] and not after["PSC-02"]["gathered"] and not after["CDA-01"]["gathered"]
    share_document(session, tmp_path)
    read_as_the_console = ExchangeReader(env.store).session_requests(session["session"])  # requests only
    after = {row["requirement"]: row for row in gathered(read_as_the_console)}
    assert after["CDA-08"]["gathered"] and after["INS-01"]["gathered"] and not after["PSC-09"]["gathered"]
    assert after["PSC-10"]["missing_en"] == [
        "an authorization request to Pro Santé Connect",
        "a code exchange (token request)",
        "a logout through PSC",
    ]
    use_psc(session, tmp_path)
    after = {
        row["requirement"]: row for row in gathered(ExchangeReader(env.store).session_requests(session["session"]))
    }
    assert all(after[f"PSC-{n:02d}"]["gathered"] for n in (2, 3, 4, 5, 6, 9, 10))
