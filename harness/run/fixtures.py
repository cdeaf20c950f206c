"""The fixtures the suites use: the harness environment, the SUT bound to a test, the mocks.

``segur_env`` starts mocks on demand; ``sut`` is the product bound to this test's endpoints (its
answers are logged for the evidence pack, or replayed from it under ``segur rejudge``);
``insi``, ``psc``, ``dmp``, ``mss`` give a test its exchanges and scenario switches; ``browser``
plays the professional's browser for Pro Santé Connect. They are registered by the plugin.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest

from harness.core.results import SkipKind
from harness.core.signing import Signer
from harness.core.skips import NotEvaluated
from harness.evidence import pack as evidence
from harness.run.couloir_flows import CouloirFlow, flow_for
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

from harness.run.session import evidence_key, interactions_key, replayer_key, session_key_stash, session_state_key


@pytest.fixture(scope="session")
def segur_env(pytestconfig: pytest.Config) -> Iterator[HarnessEnvironment]:
    """The harness environment of this run: PKI, exchange store, mocks started on demand."""
    from harness.run import judge
    from harness.run.environment import HarnessEnvironment

    data_dir = pytestconfig.getoption("--segur-data-dir")
    state = pytestconfig.stash[session_state_key]
    store = judge.own_store(pytestconfig, pytestconfig.getoption("--segur-store"))
    host = pytestconfig.getoption("--segur-host", default=None)
    if host:
        yield from _remote_env(pytestconfig, host, Path(data_dir) if data_dir else None)
        return
    with (
        tempfile.TemporaryDirectory(prefix="segur-judge-") as scratch,
        HarnessEnvironment(
            judge.judge_data_dir(pytestconfig, Path(scratch)) or (Path(data_dir) if data_dir else None), store=store
        ) as env,
    ):
        state.environment = env
        judge.load_session(pytestconfig, env)
        if state.replay_dir is not None:
            for exchange in evidence.load_exchanges(state.replay_dir):
                env.store.import_exchange(exchange)
            env.trust_override = evidence.load_trusted_cas(state.replay_dir)
        yield env
        _keep_evidence(pytestconfig, env)


def _keep_evidence(pytestconfig: pytest.Config, env: HarnessEnvironment) -> None:
    """Session fixtures end before pytest_sessionfinish: keep what the reports need now."""
    from harness.run import judge

    state = pytestconfig.stash[session_state_key]
    observed = judge.observed_session_key(pytestconfig)
    # segur judge: the session judged (recorded before this run began) is the evidence, with what this run made.
    recorded = env.run_exchanges()
    if observed is not None:
        recorded = sorted(env.store.exchanges(session_key=observed) + recorded, key=lambda e: e.seq)
    state.exchanges = [e.brief() for e in recorded]
    if state.report_dir is not None and state.replay_dir is None:
        evidence.export_exchanges(recorded, state.report_dir, env.pki.signers["trace"].cert_pem.read_text())
        evidence.export_trusted_cas(state.report_dir, [p.read_bytes() for p in env.pki.intermediate_ca_pems.values()])
        state.signer = Signer(env.pki.signers["evidence"])


def _remote_env(pytestconfig: pytest.Config, host: str, data_dir: Path | None) -> Iterator[HarnessEnvironment]:
    """``segur run --host``: the shared host's mocks, credentials and exchanges stand for local ones."""
    from harness.run.remote import RemoteEnvironment

    ca = pytestconfig.getoption("--segur-host-ca", default=None)
    token = pytestconfig.getoption("--segur-tenant", default=None)
    state = pytestconfig.stash[session_state_key]
    with RemoteEnvironment(host, token, data_dir, Path(ca) if ca else None) as remote:
        env = cast("HarnessEnvironment", remote)  # the same attributes, each backed by the host's API
        state.environment = env
        yield env
        _keep_evidence(pytestconfig, env)


@pytest.fixture(scope="session")
def segur_sut(request: pytest.FixtureRequest, pytestconfig: pytest.Config) -> SutAdapter:
    """The system under test chosen with --segur-sut (and --segur-defect for the reference), or an observed session."""
    from harness.run import judge

    if judge.observed_session_key(pytestconfig) is not None:
        observed = judge.observed_sut(pytestconfig, request.getfixturevalue("segur_env"))
        pytestconfig.stash[session_state_key].sut_description = observed.describe()
        return observed  # type: ignore[return-value]  # each test acts through its own view of it
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
    close = getattr(adapter, "close", None)
    if close is not None:  # an adapter that serves something (the reference agenda) stops it with the session
        request.addfinalizer(close)
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
    from harness.run import judge

    state = request.config.stash[session_state_key]
    observed = judge.observed_session_key(request.config)
    if observed is not None:
        key = observed
    elif state.replay_dir is not None:
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
    shown = judge.observed_test(request).visible if observed is not None else segur_env.store.exchanges(session_key=key)
    request.node.stash[evidence_key] = [e.id for e in shown]
    segur_env.scenarios.clear(key)


class BoundSut:
    """The SUT bound to one test's endpoints; ``perform`` raises a skip for unmapped actions.

    Every answer is logged for the evidence pack; when replaying, answers come from that log.
    """

    def __init__(
        self,
        adapter: SutAdapter,
        context: SutContext,
        log: InteractionLog,
        replayer: Replayer | None = None,
        flow: CouloirFlow | None = None,
    ):
        self.adapter = adapter
        self.context = context
        self.flow = flow or flow_for(None)  # the couloir's own document flow (suites/couloir-flows.toml)
        self.results: list[ActionResult] = []
        self.log, self.replayer = log, replayer

    def handed_over(self, name: str, make: Callable[[], bytes]) -> bytes:
        """A file the harness hands the product as another system would; a rejudge gets the same bytes."""
        if self.replayer is not None:
            return self.replayer.blob(self.replayer.call(name))
        data = make()
        self.log.call(name, self.log.blob(data))
        return data

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
                self.log.action_refused(action, "failure", str(exc), exc.fr, raw=exc.raw)
                raise
            self.log.action(result)
        self.results.append(result)
        return result


def _log(request: pytest.FixtureRequest) -> InteractionLog:
    node, state = request.node, request.config.stash[session_state_key]
    if interactions_key not in node.stash:
        node.stash[interactions_key] = InteractionLog(state.report_dir if state.replay_dir is None else None)
    return node.stash[interactions_key]


def _interactions(request: pytest.FixtureRequest) -> tuple[InteractionLog, Replayer | None]:
    """This test's interaction log, and its replayer when judging a past run again."""
    node, state = request.node, request.config.stash[session_state_key]
    _log(request)
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
    from harness.run import judge

    observed = judge.observed_session_key(request.config) is not None
    client = segur_env.pki.client("insi-auto")
    context = SutContext(
        session_key=segur_session_key,
        endpoints={} if observed else segur_env.endpoints_for(segur_session_key),
        ca_bundle=segur_env.pki.ca_bundle,
        client_cert=client.cert_pem,
        client_key=client.key_pem,
        client_p12=client.p12,
        p12_password=pki.P12_PASSWORD,
        work_dir=tmp_path,
        pki_dir=segur_env.pki.directory,
        record_exchange=segur_env.store.record,
    )
    flow = flow_for(request.config.getoption("--segur-couloir", default=None))
    if observed:  # what the product did is in the session's exchanges: nothing to replay, nothing to drive
        return BoundSut(judge.observed_test(request), context, _log(request), flow=flow)
    return BoundSut(segur_sut, context, *_interactions(request), flow=flow)


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


class RemoteMockHandle(MockHandle):
    """A mock of the shared host (``segur run --host``): scenarios go through that service's own mock."""

    def scenario(self, **changes: Any) -> None:
        self.env.scenarios.update_for(self.service, self.session_key, **changes)  # type: ignore[attr-defined]


def _mock(request: pytest.FixtureRequest, env: HarnessEnvironment, service: str, session_key: str) -> Any:
    """The mock as this test sees it; under segur judge, the exchanges of the test's observed actions."""
    from harness.run import judge
    from harness.run.observed import ObservedHandle

    if judge.observed_session_key(request.config) is not None:
        return ObservedHandle(judge.observed_test(request), service, env)
    if service != "mss" and getattr(env, "remote", False):
        return RemoteMockHandle(env, service, session_key)
    return (
        MockHandle(env, service, session_key)
        if service != "mss"
        else MailHandle(env, session_key, *_interactions(request))
    )


@pytest.fixture
def insi(request: pytest.FixtureRequest, segur_env: HarnessEnvironment, segur_session_key: str) -> MockHandle:
    """The INSi mock for this test (same routing key as the ``sut`` fixture)."""
    return _mock(request, segur_env, "insi", segur_session_key)


@pytest.fixture
def psc(request: pytest.FixtureRequest, segur_env: HarnessEnvironment, segur_session_key: str) -> MockHandle:
    """The Pro Santé Connect mock for this test; ``url`` is the issuer."""
    return _mock(request, segur_env, "psc", segur_session_key)


@pytest.fixture
def dmp(request: pytest.FixtureRequest, segur_env: HarnessEnvironment, segur_session_key: str) -> MockHandle:
    """The DMP mock for this test; ``url`` is the base of the DMPi services."""
    return _mock(request, segur_env, "dmp", segur_session_key)


@pytest.fixture
def vihf_proxy(request: pytest.FixtureRequest, segur_env: HarnessEnvironment, segur_session_key: str) -> MockHandle:
    """The PSC -> VIHF proxy in front of the DMP for this test; ``url`` is its DMPi services base."""
    return _mock(request, segur_env, "vihf_proxy", segur_session_key)


class MailHandle(MockHandle):
    """The MSSanté operator for one test: what was submitted, and the mailboxes."""

    def __init__(
        self, env: HarnessEnvironment, session_key: str, log: InteractionLog, replayer: Replayer | None = None
    ):
        self.env, self.service, self.session_key = env, "mss", session_key
        self.operator = env.start_mss()
        self.url = self.operator.endpoints()["smtp"]
        self.log, self.replayer = log, replayer
        env.active_session.foreign_certificate = False  # an earlier test's choice never lasts
        env.active_session.operator_certificate = None
        if env.crl is not None:
            env.crl[1].switch(None)

    def present_foreign_certificate(self, foreign: bool = True) -> None:
        """From now on in this test, the operator presents a server certificate from outside IGC-Santé."""
        self.env.active_session.foreign_certificate = foreign

    def present_crl_certificate(self, which: str) -> None:
        """From now on in this test, the operator presents a certificate naming the harness's CRL
        distribution point: ``good``, or ``revoked`` (listed in the current CRL)."""
        if which not in ("good", "revoked"):
            raise ValueError(f"no operator certificate {which!r} with a CRL distribution point: good or revoked")
        if self.replayer is None:  # a replay judges what was recorded: nothing to present
            self.env.crl_distribution()
            self.env.active_session.operator_certificate = f"crl-{which}"

    def fail_crl_distribution(self, fault: str | None) -> None:
        """From now on in this test, the CRL distribution point answers with ``fault`` (None: the current CRL)."""
        if self.replayer is None:
            self.env.crl_distribution()[1].switch(fault)

    def crl_fetches(self) -> list[Any]:
        """The product's fetches of the CRL distribution point during this test."""
        return self.env.store.exchanges(session_key=self.session_key, service="crl")

    def exchange_counts(self) -> tuple[int, int]:
        """How many mail exchanges and CRL fetches this test has recorded so far: a step of a test is
        what lies between two counts. A replay, which holds every exchange from the start, gets the
        counts of the recorded run."""
        if self.replayer is not None:
            mail, fetches = self.replayer.call("mss.exchange_counts")
            return int(mail), int(fetches)
        counts = len(self.exchanges()), len(self.crl_fetches())
        self.log.call("mss.exchange_counts", list(counts))
        return counts

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
    return _mock(request, segur_env, "mss", segur_session_key)


@pytest.fixture
def browser(request: pytest.FixtureRequest, segur_env: HarnessEnvironment) -> Any:
    """A scripted browser: ``browser.psc_login(url, id_nat_ps)`` returns the callback URL."""
    from harness.core import pki
    from harness.run import judge, useragent

    if judge.observed_session_key(request.config) is not None:  # the person's browser already did it all
        from harness.run.observed_psc import ObservedBrowser

        return ObservedBrowser(judge.observed_test(request))
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
