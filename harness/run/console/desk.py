"""The manual step handed to a person during ``segur run --sut manual``: :class:`ManualDesk` holds
one pending step, posted by the manual SUT's thread and answered from the console's (or the
terminal), and checks the answer against the action's contract.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from harness.run.sut.actions import check_answer
from harness.run.sut.base import SutFailure


@dataclass(frozen=True)
class ManualStep:
    """What the operator must make their product do, with everything they need to do it."""

    action: str
    summary: str
    params: dict[str, Any]
    param_help: dict[str, str]
    answer_shape: str
    outcomes: list[str]
    session_key: str
    endpoints: dict[str, str]
    credentials: dict[str, str]
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    posted_at: float = field(default_factory=time.time)


@dataclass(frozen=True)
class OperatorAnswer:
    kind: str  # "answer", "not_supported" or "failure"
    data: dict[str, Any] = field(default_factory=dict)
    reason: str = ""
    channel: str = "console"


class AnswerRefused(ValueError):
    """The answer cannot be taken (not JSON, wrong shape, failure without reason): the step stays pending."""


class StepGone(LookupError):
    """The answer names a step that is no longer waiting (answered, timed out, or another one)."""


class ManualDesk:
    """One pending step at a time, posted by the manual SUT's thread and answered from the console's."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._step: ManualStep | None = None
        self._answer: OperatorAnswer | None = None

    def post(self, step: ManualStep) -> None:
        with self._changed:
            self._step, self._answer = step, None
            self._changed.notify_all()

    def current(self) -> ManualStep | None:
        """The step waiting for an answer, if any."""
        with self._changed:
            return self._step if self._answer is None else None

    def answer(self, step_id: str, kind: str, answer: object = None, reason: str = "") -> OperatorAnswer:
        with self._changed:
            step = self._step
            if step is None or step.id != step_id or self._answer is not None:
                raise StepGone("cette étape n'attend plus de réponse")
            self._answer = _operator_answer(step, kind, answer, reason.strip())
            self._changed.notify_all()
            return self._answer

    def wait(self, step_id: str, timeout: float) -> OperatorAnswer | None:
        """The answer to ``step_id`` once given, or None after ``timeout`` seconds or if the step went."""
        with self._changed:
            self._changed.wait_for(self._settled(step_id), timeout)
            return self._answer if self._step is not None and self._step.id == step_id else None

    def withdraw(self, step_id: str) -> None:
        with self._changed:
            if self._step is not None and self._step.id == step_id:
                self._step, self._answer = None, None
                self._changed.notify_all()

    def _settled(self, step_id: str) -> Any:
        return lambda: self._answer is not None or self._step is None or self._step.id != step_id


def _operator_answer(step: ManualStep, kind: str, answer: object, reason: str) -> OperatorAnswer:
    if kind == "answer":
        if isinstance(answer, str):
            try:
                answer = json.loads(answer)
            except json.JSONDecodeError as exc:
                raise AnswerRefused(f"réponse refusée : ce n'est pas du JSON ({exc})") from exc
        try:
            return OperatorAnswer(kind, dict(check_answer(step.action, answer)))
        except SutFailure as exc:
            raise AnswerRefused(f"réponse refusée : {exc}") from exc
    if kind == "not_supported":
        return OperatorAnswer(kind, reason=reason)
    if kind == "failure":
        if not reason:
            raise AnswerRefused("indiquez pourquoi le produit a échoué")
        return OperatorAnswer(kind, reason=reason)
    raise AnswerRefused(f"type de réponse inconnu {kind!r} : answer, not_supported ou failure")
