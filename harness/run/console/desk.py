"""The manual step handed to a person during ``segur run --sut manual``: :class:`ManualDesk` holds
one pending step, posted by the manual SUT's thread and answered from the console's (or the
terminal), and checks the answer against the action's contract.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass, field
from typing import Any

from harness.core.storage import Database, migrate, same_for_both
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


DESK_COMPONENT = "console"
DESK_MIGRATIONS = (
    same_for_both(
        1,
        "the pending manual step",
        "CREATE TABLE IF NOT EXISTS manual_step (slot INTEGER PRIMARY KEY, step TEXT NOT NULL, answer TEXT)",
    ),
)
POLL_SECONDS = 0.2  # how often a wait looks for an answer given through another process


class ManualDesk:
    """One pending step at a time, posted by the manual SUT's thread and answered from the console's.

    In memory by default; given a database (the environment's PostgreSQL store), the step and its
    answer are one row there, so a console of another process sharing it can see and answer it.
    """

    def __init__(self, database: Database | None = None) -> None:
        self._changed = threading.Condition()
        self._step: ManualStep | None = None
        self._answer: OperatorAnswer | None = None
        self._db = database
        if database is not None:
            migrate(database, DESK_COMPONENT, DESK_MIGRATIONS)

    def _critical(self) -> AbstractContextManager[Any]:
        """Read-modify-write of the desk: under a named lock when the state is shared."""
        if self._db is None:
            return nullcontext()
        return self._db.transaction()

    def _state(self) -> tuple[ManualStep | None, OperatorAnswer | None]:
        if self._db is None:
            return self._step, self._answer
        row = self._db.one("SELECT step, answer FROM manual_step WHERE slot = 1")
        if row is None:
            return None, None
        return ManualStep(**json.loads(row[0])), OperatorAnswer(**json.loads(row[1])) if row[1] else None

    def _keep(self, step: ManualStep | None, answer: OperatorAnswer | None) -> None:
        if self._db is None:
            self._step, self._answer = step, answer
        elif step is None:
            self._db.execute("DELETE FROM manual_step WHERE slot = 1")
        else:
            self._db.execute(
                "INSERT INTO manual_step VALUES (1, ?, ?) "
                "ON CONFLICT (slot) DO UPDATE SET step = excluded.step, answer = excluded.answer",
                (json.dumps(asdict(step)), json.dumps(asdict(answer)) if answer else None),
            )

    def post(self, step: ManualStep) -> None:
        with self._changed:
            self._keep(step, None)
            self._changed.notify_all()

    def current(self) -> ManualStep | None:
        """The step waiting for an answer, if any."""
        with self._changed:
            step, answer = self._state()
            return step if answer is None else None

    def answer(self, step_id: str, kind: str, answer: object = None, reason: str = "") -> OperatorAnswer:
        with self._changed, self._critical() as tx:
            if tx is not None:
                tx.lock("manual-step")
            step, given = self._state()
            if step is None or step.id != step_id or given is not None:
                raise StepGone("cette étape n'attend plus de réponse")
            taken = _operator_answer(step, kind, answer, reason.strip())
            self._keep(step, taken)
            self._changed.notify_all()
            return taken

    def wait(self, step_id: str, timeout: float) -> OperatorAnswer | None:
        """The answer to ``step_id`` once given, or None after ``timeout`` seconds or if the step went."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                step, answer = self._state()
                if step is None or step.id != step_id:
                    return None
                remaining = deadline - time.monotonic()
                if answer is not None or remaining <= 0:
                    return answer
                # Woken at once by an answer of this process; another process's is found by polling.
                self._changed.wait(remaining if self._db is None else min(remaining, POLL_SECONDS))

    def withdraw(self, step_id: str) -> None:
        with self._changed, self._critical() as tx:
            if tx is not None:
                tx.lock("manual-step")
            step, _ = self._state()
            if step is not None and step.id == step_id:
                self._keep(None, None)
                self._changed.notify_all()


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
