"""The pytest plugin (entry point ``pytest11: segur``): requirement markers, outcomes, reports.

It is inert in a pytest run that uses none of it: fixtures are lazy and only tests marked
``@pytest.mark.requirement`` are checked against the catalog and reported.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Generator
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from harness import __version__
from harness.core.catalog import COULOIRS, CatalogError, normalise_couloir, unknown_id_message
from harness.core.errors import UsageError
from harness.core.results import Finding, NonConformance, Outcome, SkipKind, TestRecord
from harness.core.runresult import build_run_result
from harness.core.skips import NotEvaluated
from harness.evidence import pack as evidence
from harness.run.fixtures import (  # registered with the plugin: pytest finds fixtures among its names
    browser,
    dmp,
    insi,
    mss,
    psc,
    segur_env,
    segur_session_key,
    segur_sut,
    sut,
    vihf_proxy,
)
from harness.run.replay import NOT_REJUDGEABLE
from harness.run.session import (
    OMIT_PREFIX,
    SegurSession,
    evidence_key,
    interactions_key,
    session_key_stash,
    session_state_key,
)
from harness.run.sut.base import SutFailure

# The fixtures live in harness.run.fixtures; naming them here is what makes pytest register them.
FIXTURES = (browser, dmp, insi, mss, psc, segur_env, segur_session_key, segur_sut, sut, vihf_proxy)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("segur", "Ségur conformance harness")
    group.addoption("--segur-sut", default="reference", help="reference, manual, or a command SUT .toml file")
    group.addoption("--segur-defect", action="append", default=[], help="reference SUT defect (repeatable)")
    group.addoption(
        "--segur-couloir", default=None, help=f"couloir to judge for, any case: {', '.join(sorted(COULOIRS))}"
    )
    group.addoption(
        "--segur-allow-incomplete",
        action="store_true",
        help="exit 0 when the verdict is incomplete (requirements not evaluated); the report says so",
    )
    group.addoption("--segur-report-dir", default=None, help="write report.json, junit.xml, allure, html here")
    group.addoption("--segur-data-dir", default=None, help="data folder (PKI, exchanges); default: temporary")
    group.addoption(
        "--segur-store",
        default=None,
        help="where the mocks' state goes: sqlite (files in the data folder) or a postgresql:// URL "
        "(default: $SEGUR_STORE, else sqlite)",
    )
    group.addoption("--segur-host", default=None, help="run against this shared host (segur run --host)")
    group.addoption("--segur-tenant", default=None, help="the host's Bearer token (segur run --tenant)")
    group.addoption("--segur-host-ca", default=None, help="CA bundle the host's certificate must chain to")
    group.addoption("--segur-catalog", default=None, help="requirement catalog CSV (default: the built-in one)")
    group.addoption("--segur-lang", default="fr", choices=["fr", "en"], help="language of report.html")
    group.addoption(
        "--segur-replay", default=None, help="judge again the recordings of this report folder (segur rejudge)"
    )
    group.addoption("--segur-observe", default=None, help="judge what the product did in this session (segur judge)")
    group.addoption("--segur-observe-dir", default=None, help="data folder of the segur serve holding that session")


def pytest_configure(config: pytest.Config) -> None:
    try:
        config.option.segur_couloir = normalise_couloir(config.option.segur_couloir)
    except UsageError as problem:
        raise pytest.UsageError(str(problem)) from None
    config.addinivalue_line("markers", "requirement(*ids): the catalog requirement(s) this test verifies")
    config.addinivalue_line("markers", "segur_service(name): the national service this test exercises")
    config.stash[session_state_key] = SegurSession(config)


def pytest_sessionstart(session: pytest.Session) -> None:
    state = session.config.stash[session_state_key]
    if state.report_dir is not None and state.replay_dir is None:
        # A pack describes one run: the blobs and manifest of an earlier run in this folder go.
        evidence.clear_pack(state.report_dir)


def requirement_ids(item: pytest.Item) -> list[str]:
    ids: list[str] = []
    for mark in item.iter_markers("requirement"):
        ids.extend(str(arg) for arg in mark.args)
    return ids


def suite_name(item: pytest.Item) -> str:
    return item.path.parent.name


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    state = config.stash[session_state_key]
    marked = [item for item in items if requirement_ids(item)]
    if not marked:
        return
    try:
        catalog = state.catalog
    except (CatalogError, OSError) as exc:
        raise pytest.UsageError(f"requirement catalog: {exc}") from exc
    problems = [
        f"{item.nodeid}: {unknown_id_message(req_id, [r.id for r in catalog])}"
        for item in marked
        for req_id in requirement_ids(item)
        if req_id not in catalog
    ]
    if problems:
        raise pytest.UsageError("tests cite requirements that are not in the catalog:\n" + "\n".join(problems))
    couloir = config.getoption("--segur-couloir")
    for item in marked:
        if couloir and not any(catalog.get(r).applies_to(couloir) for r in requirement_ids(item)):
            item.add_marker(pytest.mark.skip(reason=f"{OMIT_PREFIX}not applicable to couloir {couloir}"))


@dataclass
class _Classified:
    outcome: Outcome
    findings: list[Finding] = field(default_factory=list)
    message: str = ""
    message_fr: str = ""
    skip_kind: SkipKind | None = None
    blocked_by: list[str] = field(default_factory=list)


def _skip_reason(report: pytest.TestReport) -> str:
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    return reason.removeprefix("Skipped: ")


def _classify(call: pytest.CallInfo[None], report: pytest.TestReport) -> _Classified:
    if report.passed:
        return _Classified(Outcome.PASS)
    exc = call.excinfo.value if call.excinfo else None
    if report.skipped:
        if isinstance(exc, NotEvaluated):
            return _Classified(Outcome.SKIP, [], exc.en, exc.fr, exc.kind, exc.blocked_by)
        reason = _skip_reason(report)
        if reason.startswith(OMIT_PREFIX):
            return _Classified(Outcome.OMIT, message=reason.removeprefix(OMIT_PREFIX))
        kind = SkipKind.NOT_REJUDGEABLE if reason.startswith(NOT_REJUDGEABLE) else SkipKind.NOT_PERFORMED
        return _Classified(Outcome.SKIP, message=reason, skip_kind=kind)
    if report.when == "call" and isinstance(exc, NonConformance):
        return _Classified(Outcome.FAIL, exc.findings, str(exc))
    if report.when == "call" and isinstance(exc, SutFailure):
        finding = Finding(
            rule="sut.action",
            message=f"the product did not complete the action: {exc}",
            message_fr=f"le produit n'a pas mené l'action à bien : {exc.fr}",
        )
        return _Classified(Outcome.FAIL, [finding], str(exc), exc.fr)
    if report.when == "call" and isinstance(exc, AssertionError):
        # A plain assert of a suite test: its text is pytest's rewrite of the expression, quoted as is.
        finding = Finding(rule="assertion", message=str(exc), message_fr=f"vérification non satisfaite : {exc}")
        return _Classified(Outcome.FAIL, [finding], str(exc))
    return _Classified(Outcome.ERROR, message=f"harness error in {report.when}: {report.longreprtext[-2000:]}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    req_ids = requirement_ids(item)
    if not req_ids:
        return
    state = item.config.stash[session_state_key]
    record = state.records.get(item.nodeid)
    if record is None:
        doc = (getattr(item, "function", None).__doc__ or "") if hasattr(item, "function") else ""
        service_mark = item.get_closest_marker("segur_service")
        record = TestRecord(
            nodeid=item.nodeid,
            name=item.name,
            description=" ".join(doc.split()),
            suite=suite_name(item),
            service=str(service_mark.args[0]) if service_mark else suite_name(item),
            requirements=req_ids,
            outcome=Outcome.PASS,
            started_at=call.start,
        )
        state.records[item.nodeid] = record
    verdict = _classify(call, report)
    record.duration += report.duration
    evidence = item.stash.get(evidence_key, [])
    record.evidence = list(evidence)
    # A failure or error in any phase outranks a pass; the first non-pass phase tells why.
    if record.outcome is Outcome.PASS and verdict.outcome is not Outcome.PASS:
        record.outcome, record.message, record.message_fr = verdict.outcome, verdict.message, verdict.message_fr
        record.skip_kind, record.blocked_by = verdict.skip_kind, verdict.blocked_by
        record.findings = [_with_evidence(f, evidence, req_ids) for f in verdict.findings]
    elif report.when == "teardown" and verdict.outcome is Outcome.ERROR and record.outcome is not Outcome.ERROR:
        record.outcome, record.message, record.skip_kind = Outcome.ERROR, verdict.message, None
    if report.when == "teardown":
        record.findings = [_with_evidence(f, evidence, req_ids) for f in record.findings]
        log = item.stash.get(interactions_key, None)
        state.interactions[item.nodeid] = {
            "session_key": item.stash.get(session_key_stash, None),
            "interactions": log.entries if log is not None else [],
        }


def _with_evidence(finding: Finding, evidence: list[str], req_ids: list[str]) -> Finding:
    changes: dict[str, Any] = {}
    if not finding.evidence and evidence:
        changes["evidence"] = tuple(evidence)
    if finding.requirement is None and len(req_ids) == 1:
        changes["requirement"] = req_ids[0]
    if not changes:
        return finding
    return replace(finding, **changes)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = session.config.stash[session_state_key]
    if not state.records:
        return
    state.result = build_run_result(
        run_id=state.run_id,
        harness_version=__version__,
        started_at=dt.datetime.fromtimestamp(state.started, dt.UTC).isoformat(timespec="seconds"),
        finished_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        duration=time.time() - state.started,
        sut=state.sut_description or {"name": session.config.getoption("--segur-sut")},
        couloir=session.config.getoption("--segur-couloir"),
        records=list(state.records.values()),
        catalog=state.catalog,
        exchanges=state.exchanges,
        allow_incomplete=session.config.getoption("--segur-allow-incomplete"),
    )
    report_dir = state.report_dir
    if report_dir:
        from harness.evidence.reports import write_reports

        write_reports(state.result, report_dir, lang=session.config.getoption("--segur-lang"))
        if state.signer is not None and state.replay_dir is None:
            evidence.write_tests(report_dir, state.interactions)
            evidence.seal(report_dir, state.signer, run=evidence.run_description(state.result))
