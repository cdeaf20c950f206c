"""The pytest plugin (entry point ``pytest11: segur``): requirement markers, outcomes, reports.

It is inert in a pytest run that uses none of it: fixtures are lazy and only tests marked
``@pytest.mark.requirement`` are checked against the catalog and reported.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import time
import uuid
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from harness import __version__
from harness.core.catalog import COULOIRS, Catalog, CatalogError, load_catalog, normalise_couloir, unknown_id_message
from harness.core.errors import UsageError
from harness.core.results import Finding, NonConformance, Outcome, RunResult, SkipKind, TestRecord
from harness.core.runresult import build_run_result
from harness.core.signing import Signer
from harness.core.skips import NotEvaluated
from harness.evidence import pack as evidence
from harness.run.replay import NOT_REJUDGEABLE, InteractionLog, Replayer
from harness.run.sut.base import (
    ActionNotSupported,
    ActionResult,
    SutAdapter,
    SutConfigError,
    SutContext,
    SutFailure,
)

if TYPE_CHECKING:
    from harness.run.environment import HarnessEnvironment

OMIT_PREFIX = "omit: "
session_state_key = pytest.StashKey["SegurSession"]()
evidence_key = pytest.StashKey[list[str]]()
interactions_key = pytest.StashKey[InteractionLog]()
session_key_stash = pytest.StashKey[str]()
replayer_key = pytest.StashKey[Replayer]()


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
    group.addoption("--segur-catalog", default=None, help="requirement catalog CSV (default: the built-in one)")
    group.addoption("--segur-lang", default="fr", choices=["fr", "en"], help="language of report.html")
    group.addoption(
        "--segur-replay", default=None, help="judge again the recordings of this report folder (segur rejudge)"
    )


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


@dataclass
class SegurSession:
    """What the plugin gathers during one pytest session."""

    config: pytest.Config
    records: dict[str, TestRecord] = field(default_factory=dict)
    started: float = field(default_factory=time.time)
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    result: RunResult | None = None
    sut_description: dict[str, Any] | None = None
    environment: HarnessEnvironment | None = None
    exchanges: list[dict[str, Any]] = field(default_factory=list)
    signer: Signer | None = None  # the evidence-pack key of this run's PKI, kept past the environment
    interactions: dict[str, dict[str, Any]] = field(default_factory=dict)  # nodeid -> evidence/tests.json entry
    _catalog: Catalog | None = None
    _replay: dict[str, Any] | None = None

    @property
    def report_dir(self) -> Path | None:
        option = self.config.getoption("--segur-report-dir")
        return Path(option) if option else None

    @property
    def replay_dir(self) -> Path | None:
        option = self.config.getoption("--segur-replay")
        return Path(option) if option else None

    def recorded_tests(self) -> dict[str, Any]:
        """The pack's evidence/tests.json, when replaying."""
        if self._replay is None:
            assert self.replay_dir is not None
            self._replay = json.loads((self.replay_dir / evidence.TESTS).read_text(encoding="utf-8"))
        return self._replay

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            option = self.config.getoption("--segur-catalog")
            self._catalog = load_catalog(Path(option) if option else None)
        return self._catalog


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
        return _Classified(Outcome.FAIL, [Finding(rule="assertion", message=str(exc))], str(exc))
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
    return Finding(**{**finding.__dict__, **changes})


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


# -- fixtures -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def segur_env(pytestconfig: pytest.Config) -> Iterator[HarnessEnvironment]:
    """The harness environment of this run: PKI, exchange store, mocks started on demand."""
    from harness.run.environment import HarnessEnvironment

    data_dir = pytestconfig.getoption("--segur-data-dir")
    state = pytestconfig.stash[session_state_key]
    with HarnessEnvironment(Path(data_dir) if data_dir else None) as env:
        state.environment = env
        if state.replay_dir is not None:
            for exchange in evidence.load_exchanges(state.replay_dir):
                env.store.import_exchange(exchange)
            env.trust_override = evidence.load_trusted_cas(state.replay_dir)
        yield env
        # Session fixtures end before pytest_sessionfinish: keep what the reports need now.
        recorded = env.store.exchanges()
        state.exchanges = [e.brief() for e in recorded]
        if state.report_dir is not None and state.replay_dir is None:
            evidence.export_exchanges(recorded, state.report_dir, env.pki.signers["trace"].cert_pem.read_text())
            evidence.export_trusted_cas(
                state.report_dir, [p.read_bytes() for p in env.pki.intermediate_ca_pems.values()]
            )
            state.signer = Signer(env.pki.signers["evidence"])


@pytest.fixture(scope="session")
def segur_sut(request: pytest.FixtureRequest, pytestconfig: pytest.Config) -> SutAdapter:
    """The system under test chosen with --segur-sut (and --segur-defect for the reference)."""
    defects = frozenset(
        d.strip() for opt in pytestconfig.getoption("--segur-defect") for d in opt.split(",") if d.strip()
    )
    from harness.run.sut import load_sut

    try:
        adapter = load_sut(pytestconfig.getoption("--segur-sut"), defects)
    except SutConfigError as exc:
        raise pytest.UsageError(str(exc)) from exc
    pytestconfig.stash[session_state_key].sut_description = adapter.describe()
    _guide_operator(request, adapter)
    return adapter


def _guide_operator(request: pytest.FixtureRequest, adapter: SutAdapter) -> None:
    """The manual SUT gets the operator console, whose address is the first thing the operator needs."""
    if adapter.name != "manual" or request.config.stash[session_state_key].replay_dir is not None:
        return
    from harness.run.sut.manual import ManualSut

    assert isinstance(adapter, ManualSut)
    console = request.getfixturevalue("segur_env").start_console()
    capture = request.config.pluginmanager.getplugin("capturemanager")
    adapter.attach(console, (lambda: _terminal_released(capture)) if capture is not None else None)
    with adapter.uncaptured():
        print(f"\nsegur: console opérateur {console.url}", flush=True)


@contextlib.contextmanager
def _terminal_released(capture: Any) -> Iterator[None]:
    """pytest holds the terminal during tests: the operator must see the prompts and may type the answer.

    Standard input included, as pdb does; ``global_and_fixture_disabled`` would leave it captured.
    """
    capture.suspend(in_=True)
    try:
        yield
    finally:
        capture.resume()


@pytest.fixture
def segur_session_key(request: pytest.FixtureRequest, segur_env: HarnessEnvironment) -> Iterator[str]:
    """A fresh routing key: the exchanges of this test are recorded under it and cited as evidence."""
    state = request.config.stash[session_state_key]
    if state.replay_dir is not None:
        recorded = state.recorded_tests().get(request.node.nodeid)
        if recorded is None or not recorded.get("session_key"):
            raise NotEvaluated(
                SkipKind.NOT_REJUDGEABLE,
                f"{NOT_REJUDGEABLE}this test is not in the recorded run",
                "non rejugeable : ce test n'est pas dans l'exécution enregistrée",
            )
        key = recorded["session_key"]
    else:
        key = segur_env.new_session_key(request.node.name)
    request.node.stash[session_key_stash] = key
    segur_env.active_session.key = key  # mail exchanges carry no URL: they go to the running test
    yield key
    segur_env.active_session.key = "default"
    request.node.stash[evidence_key] = [e.id for e in segur_env.store.exchanges(session_key=key)]
    segur_env.scenarios.clear(key)


class BoundSut:
    """The SUT bound to one test's endpoints; ``perform`` raises a skip for unmapped actions.

    Every answer is logged for the evidence pack; when replaying, answers come from that log.
    """

    def __init__(self, adapter: SutAdapter, context: SutContext, log: InteractionLog, replayer: Replayer | None = None):
        self.adapter = adapter
        self.context = context
        self.results: list[ActionResult] = []
        self.log, self.replayer = log, replayer

    def perform(self, action: str, **params: Any) -> ActionResult:
        if self.replayer is not None:
            result = self.replayer.action(action, params)
        else:
            try:
                result = self.adapter.perform(action, params, self.context)
            except ActionNotSupported as exc:
                self.log.action_refused(action, "not_supported", str(exc), exc.fr)
                raise NotEvaluated(SkipKind.NOT_PERFORMED, str(exc), exc.fr) from None
            except SutFailure as exc:
                self.log.action_refused(action, "failure", str(exc), exc.fr)
                raise
            self.log.action(result)
        self.results.append(result)
        return result


def _interactions(request: pytest.FixtureRequest) -> tuple[InteractionLog, Replayer | None]:
    """This test's interaction log, and its replayer when judging a past run again."""
    node, state = request.node, request.config.stash[session_state_key]
    if interactions_key not in node.stash:
        node.stash[interactions_key] = InteractionLog(state.report_dir if state.replay_dir is None else None)
    if state.replay_dir is None:
        return node.stash[interactions_key], None
    if replayer_key not in node.stash:
        recorded = state.recorded_tests().get(node.nodeid, {})
        work_dir = Path(request.getfixturevalue("tmp_path"))
        node.stash[replayer_key] = Replayer(state.replay_dir, recorded.get("interactions", []), work_dir)
    return node.stash[interactions_key], node.stash[replayer_key]


@pytest.fixture
def sut(
    request: pytest.FixtureRequest,
    segur_sut: SutAdapter,
    segur_env: HarnessEnvironment,
    segur_session_key: str,
    tmp_path: Path,
) -> BoundSut:
    """The system under test, pointed at this test's mock endpoints."""
    from harness.core import pki

    client = segur_env.pki.client("insi-auto")
    context = SutContext(
        session_key=segur_session_key,
        endpoints=segur_env.endpoints_for(segur_session_key),
        ca_bundle=segur_env.pki.ca_bundle,
        client_cert=client.cert_pem,
        client_key=client.key_pem,
        client_p12=client.p12,
        p12_password=pki.P12_PASSWORD,
        work_dir=tmp_path,
        pki_dir=segur_env.pki.directory,
    )
    return BoundSut(segur_sut, context, *_interactions(request))


class MockHandle:
    """One mock service as seen by one test: its URL, its scenario, what it recorded."""

    def __init__(self, env: HarnessEnvironment, service: str, session_key: str):
        self.env, self.service, self.session_key = env, service, session_key
        self.url = env.endpoint(service, session_key)

    def exchanges(self) -> list[Any]:
        return self.env.store.exchanges(session_key=self.session_key, service=self.service)

    def scenario(self, **changes: Any) -> None:
        """Set fault injection for this test only (latency_ms, fault, options)."""
        self.env.scenarios.update(self.session_key, **changes)


@pytest.fixture
def insi(segur_env: HarnessEnvironment, segur_session_key: str) -> MockHandle:
    """The INSi mock for this test (same routing key as the ``sut`` fixture)."""
    return MockHandle(segur_env, "insi", segur_session_key)


@pytest.fixture
def psc(segur_env: HarnessEnvironment, segur_session_key: str) -> MockHandle:
    """The Pro Santé Connect mock for this test; ``url`` is the issuer."""
    return MockHandle(segur_env, "psc", segur_session_key)


@pytest.fixture
def dmp(segur_env: HarnessEnvironment, segur_session_key: str) -> MockHandle:
    """The DMP mock for this test; ``url`` is the base of the DMPi services."""
    return MockHandle(segur_env, "dmp", segur_session_key)


class MailHandle(MockHandle):
    """The MSSanté operator for one test: what was submitted, and the mailboxes."""

    def __init__(
        self, env: HarnessEnvironment, session_key: str, log: InteractionLog, replayer: Replayer | None = None
    ):
        self.env, self.service, self.session_key = env, "mss", session_key
        self.operator = env.start_mss()
        self.url = self.operator.endpoints()["smtp"]
        self.log, self.replayer = log, replayer

    def mailbox(self, address: str, folder: str = "INBOX") -> list[Any]:
        if self.replayer is not None:
            return self.replayer.mailbox()
        messages = self.operator.store.messages(address, folder)
        self.log.call("mss.mailbox", [self.log.blob(m.raw) for m in messages])
        return messages

    def deliver(self, address: str, raw: bytes) -> bytes:
        """Put a message in a mailbox, as the operator would after accepting it; returns what was delivered.

        When replaying, that is the message of the recorded run (its Message-ID is what the
        product's answers cite), not the one the test has just built.
        """
        if self.replayer is not None:
            return self.replayer.blob(self.replayer.call("mss.deliver"))
        self.operator.store.deliver(address, raw)
        self.log.call("mss.deliver", self.log.blob(raw))
        return raw


@pytest.fixture
def mss(request: pytest.FixtureRequest, segur_env: HarnessEnvironment, segur_session_key: str) -> MailHandle:
    """The MSSanté operator mock for this test."""
    return MailHandle(segur_env, segur_session_key, *_interactions(request))


@pytest.fixture
def browser(request: pytest.FixtureRequest, segur_env: HarnessEnvironment) -> Any:
    """A scripted browser: ``browser.psc_login(url, id_nat_ps)`` returns the callback URL."""
    from harness.core import pki
    from harness.run import useragent

    log, replayer = _interactions(request)

    class Browser:
        @staticmethod
        def psc_login(url: str, professional: str) -> str:
            if replayer is not None:
                return str(replayer.call("browser.psc_login"))
            try:
                callback = useragent.psc_login(url, professional, pki.client_ssl_context(segur_env.pki, None))
            except Exception as exc:
                log.call("browser.psc_login", error=exc)
                raise
            log.call("browser.psc_login", callback)
            return callback

        @staticmethod
        def visit(url: str) -> int:
            """Follow a link the product gave (a logout redirect...); returns the HTTP status."""
            if replayer is not None:
                return int(replayer.call("browser.visit"))
            import httpx

            with httpx.Client(verify=pki.client_ssl_context(segur_env.pki, None), timeout=10) as http:
                status = http.get(url).status_code
            log.call("browser.visit", status)
            return status

    return Browser()
