"""The ``manual`` SUT: a person makes their product perform each action and gives its answer.

The answer comes from the operator console (:mod:`harness.run.console`) when one is attached, or
from the terminal when standard input is one, whichever comes first. With neither there is
nobody to ask: the action is not supported.
"""

from __future__ import annotations

import contextlib
import json
import select
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, TextIO

from harness.run.console import ManualStep, OperatorAnswer, RunningConsole
from harness.run.sut.actions import ACTIONS, check_answer
from harness.run.sut.base import ActionNotSupported, ActionResult, SutContext, SutFailure

POLL_SECONDS = 0.1  # how often the terminal is looked at while the console may answer


class ManualSut:
    name = "manual"

    def __init__(
        self,
        timeout: float = 600.0,
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
        console: RunningConsole | None = None,
    ):
        self.timeout = timeout
        # Looked up at each action when not given: pytest swaps sys.stdin/stdout while it captures.
        self._stdin, self._stdout = stdin, stdout
        self.console = console
        self.uncaptured: Callable[[], AbstractContextManager[Any]] = contextlib.nullcontext

    def attach(
        self, console: RunningConsole, uncaptured: Callable[[], AbstractContextManager[Any]] | None = None
    ) -> None:
        """Guide the operator through ``console``; ``uncaptured`` gives the terminal back while they answer."""
        self.console = console
        if uncaptured is not None:
            self.uncaptured = uncaptured

    def describe(self) -> dict[str, Any]:
        return {"name": "Opérateur (mode manuel)", "kind": "manual", "timeout": self.timeout}

    def perform(self, action: str, params: dict[str, Any], context: SutContext) -> ActionResult:
        with self.uncaptured():
            stdin, out = self._stdin or sys.stdin, self._stdout or sys.stdout
            terminal = stdin if stdin.isatty() else None
            if terminal is None and self.console is None:
                raise ActionNotSupported(
                    "manual SUT needs the operator console or an operator at a terminal; standard input is not one",
                    "le SUT manuel a besoin de la console opérateur ou d'un opérateur au terminal ; "
                    "l'entrée standard n'en est pas un",
                )
            step = manual_step(action, params, context)
            self._announce(out, step, terminal is not None)
            started = time.perf_counter()
            if self.console is not None:
                self.console.desk.post(step)
            try:
                answer = self._wait(step, terminal)
            finally:
                if self.console is not None:
                    self.console.desk.withdraw(step.id)
            if answer.channel == "console" and terminal is not None:
                out.write("\n(réponse reçue par la console)\n")
                out.flush()
        return _result(step, answer, time.perf_counter() - started)

    def _announce(self, out: TextIO, step: ManualStep, terminal: bool) -> None:
        out.write(f"\n=== Action: {step.action}\n")
        if self.console is not None:
            out.write(f"Console opérateur: {self.console.url}\n")
        if not terminal:
            out.write("Répondez dans la console opérateur.\n")
            out.flush()
            return
        out.write(f"{step.summary}\n")
        out.write(f"Paramètres: {json.dumps(step.params, ensure_ascii=False, indent=2, default=str)}\n")
        for service, url in step.endpoints.items():
            out.write(f"Point d'accès {service}: {url}\n")
        credentials = step.credentials
        out.write(f"Certificat client: {credentials['client_p12']} (mot de passe {credentials['p12_password']})\n")
        out.write(f"Réponse attendue (une ligne JSON): {step.answer_shape}\n> ")
        out.flush()

    def _wait(self, step: ManualStep, terminal: TextIO | None) -> OperatorAnswer:
        desk = self.console.desk if self.console is not None else None
        deadline = time.monotonic() + self.timeout
        while (remaining := deadline - time.monotonic()) > 0:
            if desk is not None:
                answer = desk.wait(step.id, min(remaining, POLL_SECONDS) if terminal else remaining)
                if answer is not None:
                    return answer
            if terminal is not None:
                ready, _, _ = select.select([terminal], [], [], 0 if desk else remaining)
                if ready:
                    return _terminal_answer(step.action, terminal.readline())
        raise SutFailure(
            f"no answer from the operator within {self.timeout:.0f} s",
            f"pas de réponse de l'opérateur en {self.timeout:.0f} s",
        )


def manual_step(action: str, params: dict[str, Any], context: SutContext) -> ManualStep:
    spec = ACTIONS[action]
    return ManualStep(
        action=action,
        summary=spec.summary,
        params=params,
        param_help=dict(spec.params),
        answer_shape=spec.answer,
        outcomes=sorted(spec.outcomes),
        session_key=context.session_key,
        endpoints=dict(context.endpoints),
        credentials={
            "ca_bundle": str(context.ca_bundle),
            "client_cert": str(context.client_cert),
            "client_key": str(context.client_key),
            "client_p12": str(context.client_p12),
            "p12_password": context.p12_password,
        },
    )


def _terminal_answer(action: str, line: str) -> OperatorAnswer:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise SutFailure(
            f"the operator's answer is not JSON: {exc}", f"la réponse de l'opérateur n'est pas du JSON : {exc}"
        ) from exc
    return OperatorAnswer("answer", dict(check_answer(action, data)), channel="terminal")


def _result(step: ManualStep, answer: OperatorAnswer, duration: float) -> ActionResult:
    if answer.kind == "not_supported":
        because = f": {answer.reason}" if answer.reason else ""
        raise ActionNotSupported(
            f"the operator says the product cannot perform {step.action}{because}",
            f"selon l'opérateur, le produit ne sait pas faire {step.action}{because}",
        )
    if answer.kind == "failure":
        raise SutFailure(
            f"the operator reports that the product failed: {answer.reason}",
            f"l'opérateur signale l'échec du produit : {answer.reason}",
        )
    return ActionResult(step.action, step.params, answer.data, duration, notes=[f"answered at the {answer.channel}"])
