"""The ``manual`` SUT: a person performs each action and types the product's answer."""

from __future__ import annotations

import json
import select
import sys
import time
from typing import Any, TextIO

from harness.sut.actions import ACTIONS, check_answer
from harness.sut.base import ActionNotSupported, ActionResult, SutContext, SutFailure


class ManualSut:
    name = "manual"

    def __init__(self, timeout: float = 600.0, stdin: TextIO | None = None, stdout: TextIO | None = None):
        self.timeout = timeout
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout

    def describe(self) -> dict[str, Any]:
        return {"name": "Opérateur (mode manuel)", "kind": "manual", "timeout": self.timeout}

    def perform(self, action: str, params: dict[str, Any], context: SutContext) -> ActionResult:
        if not self.stdin.isatty():
            raise ActionNotSupported("manual SUT needs an operator at a terminal; standard input is not one")
        spec = ACTIONS[action]
        out = self.stdout
        out.write(f"\n=== Action: {action}\n{spec.summary}\n")
        out.write(f"Paramètres: {json.dumps(params, ensure_ascii=False, indent=2)}\n")
        for service, url in context.endpoints.items():
            out.write(f"Point d'accès {service}: {url}\n")
        out.write(f"Certificat client: {context.client_p12} (mot de passe {context.p12_password})\n")
        out.write(f"Réponse attendue (une ligne JSON): {spec.answer}\n> ")
        out.flush()
        started = time.perf_counter()
        ready, _, _ = select.select([self.stdin], [], [], self.timeout)
        if not ready:
            raise SutFailure(f"no answer from the operator within {self.timeout:.0f} s")
        line = self.stdin.readline()
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SutFailure(f"the operator's answer is not JSON: {exc}") from exc
        return ActionResult(action, params, check_answer(action, data), time.perf_counter() - started)
