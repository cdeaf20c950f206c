"""The manual SUT guided through the operator console (answers from a thread, as a person's browser would)."""

from __future__ import annotations

import io
import os
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.core.recorder import ExchangeStore
from harness.run.console import start_console
from harness.run.sut.base import ActionNotSupported, SutContext, SutFailure
from harness.run.sut.manual import ManualSut
from mock_services.common import ScenarioStore
from tests.conftest import sut_context

CHANGE = {"X-Segur-Console": "1", "Content-Type": "application/json"}
ACTION = "insi.search_by_traits"
PARAMS = {"nom_naissance": "ADRUN", "prenoms": ["ZOE"], "sexe": "F", "date_naissance": "1975-12-31"}
FOUND = '{"outcome": "found", "identity": null, "message": "INS trouvé"}'


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory):
    store = ExchangeStore(tmp_path_factory.mktemp("console") / "exchanges.sqlite3", synchronous="OFF")
    with start_console(store, ScenarioStore()) as running:
        yield running
    store.close()


@pytest.fixture
def context(tmp_path: Path) -> SutContext:
    return sut_context(tmp_path, "run-test-abc")


@pytest.fixture
def no_terminal(tmp_path: Path):
    with (tmp_path / "stdin.txt").open("w+") as stdin:
        yield stdin


class Operator(threading.Thread):
    """Waits for the step on the console, then posts ``replies`` in order, noting each answer and what is pending."""

    def __init__(self, url: str, *replies: dict[str, Any]):
        super().__init__(daemon=True)
        self.url, self.replies = url, replies
        self.step: dict[str, Any] | None = None
        self.answers: list[tuple[int, dict[str, Any]]] = []
        self.pending: list[str | None] = []

    def run(self) -> None:
        with httpx.Client(base_url=self.url, headers=CHANGE, timeout=5) as http:
            deadline = time.monotonic() + 5
            while (step := http.get("api/manual/step").json()["step"]) is None and time.monotonic() < deadline:
                time.sleep(0.01)
            if step is None:
                return
            self.step = step
            for reply in self.replies:
                answer = http.post("api/manual/answer", json={"step": step["id"], **reply})
                self.answers.append((answer.status_code, answer.json()))
                now = http.get("api/manual/step").json()["step"]
                self.pending.append(now["id"] if now else None)


def perform(console, context, stdin, *replies: dict[str, Any], timeout: float = 5) -> tuple[Any, Operator]:
    operator = Operator(console.url, *replies)
    operator.start()
    try:
        return ManualSut(timeout, stdin=stdin, stdout=io.StringIO(), console=console).perform(
            ACTION, PARAMS, context
        ), operator
    finally:
        operator.join(5)


def test_the_operator_sees_the_step_and_answers_in_the_console(console, context, no_terminal):
    result, operator = perform(console, context, no_terminal, {"kind": "answer", "answer": FOUND})
    assert result.data == {"outcome": "found", "identity": None, "message": "INS trouvé"}
    assert result.notes == ["answered at the console"]
    step = operator.step
    assert step is not None and step["action"] == ACTION and step["params"] == PARAMS
    assert step["summary"].startswith("Search the patient's INS") and step["param_help"]["sexe"] == "M or F"
    assert step["session_key"] == "run-test-abc" and step["endpoints"] == context.endpoints
    assert step["credentials"] == {
        "ca_bundle": str(context.ca_bundle),
        "client_cert": str(context.client_cert),
        "client_key": str(context.client_key),
        "client_p12": str(context.client_p12),
        "p12_password": "pw",
    }
    assert '"outcome": "found|not_found|multiple|refused|error"' in step["answer_shape"]
    assert step["outcomes"] == ["error", "found", "multiple", "not_found", "refused"]
    assert operator.answers == [(200, {"accepted": True})]
    assert console.desk.current() is None


def test_cannot_do_it_is_not_supported(console, context, no_terminal):
    reply = {"kind": "not_supported", "reason": "pas de lecteur de carte"}
    with pytest.raises(ActionNotSupported, match=r"cannot perform insi\.search_by_traits: pas de lecteur de carte"):
        perform(console, context, no_terminal, reply)


def test_a_failure_needs_a_reason_and_fails_the_action(console, context, no_terminal):
    replies = ({"kind": "failure", "reason": " "}, {"kind": "failure", "reason": "le logiciel a planté"})
    with pytest.raises(SutFailure, match="product failed: le logiciel a planté") as failed:
        perform(console, context, no_terminal, *replies)
    assert "raison" not in str(failed.value)


def test_a_bad_answer_is_refused_and_the_step_stays_pending(console, context, no_terminal):
    replies = (
        {"kind": "answer", "answer": "{not json"},
        {"kind": "answer", "answer": '{"outcome": "perhaps"}'},
        {"kind": "maybe"},
        {"kind": "answer", "answer": FOUND},
    )
    result, operator = perform(console, context, no_terminal, *replies)
    assert result.outcome == "found"
    statuses = [status for status, _ in operator.answers]
    assert statuses == [400, 400, 400, 200]
    assert "pas du JSON" in operator.answers[0][1]["error"]
    assert "outcome 'perhaps'" in operator.answers[1][1]["error"]
    assert operator.step is not None
    assert operator.pending[:3] == [operator.step["id"]] * 3


def test_an_answer_to_a_step_that_is_gone_is_refused(console):
    with httpx.Client(base_url=console.url, headers=CHANGE, timeout=5) as http:
        answer = http.post("api/manual/answer", json={"step": "old", "kind": "answer", "answer": FOUND})
    assert answer.status_code == 409 and answer.json()["error"] == "cette étape n'attend plus de réponse"


def test_no_answer_in_time_fails_and_withdraws_the_step(console, context, no_terminal):
    started = time.monotonic()
    with pytest.raises(SutFailure, match="no answer from the operator within"):
        ManualSut(0.2, stdin=no_terminal, stdout=io.StringIO(), console=console).perform(ACTION, PARAMS, context)
    assert time.monotonic() - started < 2
    assert console.desk.current() is None


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_a_terminal_answer_wins_when_it_comes_first(console, context):
    master, slave = os.openpty()
    with os.fdopen(slave, "r") as terminal:
        os.write(master, FOUND.encode() + b"\n")
        out = io.StringIO()
        result = ManualSut(5, stdin=terminal, stdout=out, console=console).perform(ACTION, PARAMS, context)
    os.close(master)
    assert result.outcome == "found" and result.notes == ["answered at the terminal"]
    assert console.url in out.getvalue() and "Réponse attendue" in out.getvalue()
    assert console.desk.current() is None


def test_without_a_terminal_nor_a_console_the_action_is_not_supported(context, no_terminal):
    with pytest.raises(ActionNotSupported, match="terminal"):
        ManualSut(stdin=no_terminal).perform(ACTION, PARAMS, context)


def test_segur_run_with_the_manual_sut_opens_the_console(pytester: pytest.Pytester):
    pytester.makepyfile(
        test_guided="""
        def test_console(segur_sut, segur_env):
            assert segur_sut.console is segur_env.console
            assert segur_env.endpoints_document()["console"]["url"] == segur_env.console.url
        """
    )
    result = pytester.runpytest_inprocess("--segur-sut", "manual", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*segur: console opérateur http://127.0.0.1:*/"])
