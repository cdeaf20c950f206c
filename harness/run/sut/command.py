"""The ``command`` SUT: a vendor's TOML file mapping action names to shell command templates.

Example (``fixtures/sut/example-command.toml`` is a complete one)::

    [sut]
    name = "Mon DPI"
    version = "2026.1"

    [actions."insi.search_by_traits"]
    command = ["mydpi", "insi", "search", "--nom", "{nom_naissance}", "--prenoms", "{prenoms}"]
    timeout = 30

Each argument is formatted on its own (``{param}`` placeholders; lists are joined by spaces),
so a value never becomes shell syntax; ``shell = true`` is an explicit opt-in.
``{segur_python}`` is the Python interpreter running the harness. The command
also receives the endpoints, CA bundle and client certificate in ``SEGUR_*`` environment
variables and every parameter as JSON in ``SEGUR_PARAMS``. It answers with one JSON object on
standard output (the last line that parses as JSON). Standard output, standard error and
the exit status are kept as evidence.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.run.sut.actions import ACTIONS, check_answer
from harness.run.sut.base import ActionNotSupported, ActionResult, SutConfigError, SutContext, SutFailure

SUT_KEYS = {"name", "version", "description", "kind", "env", "timeout"}
ACTION_KEYS = {"command", "timeout", "shell", "cwd"}


@dataclass(frozen=True)
class CommandAction:
    command: list[str] | str
    timeout: float
    shell: bool
    cwd: Path | None


PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _format_argument(template: str, params: dict[str, Any], action: str) -> str:
    """Replace ``{name}`` placeholders; other braces (JSON, scripts) are left as they are."""
    known = set(ACTIONS[action].params) | set(params) | {"segur_python"}

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in known:
            raise SutConfigError(
                f"action {action}: placeholder {{{name}}} is not a parameter; parameters: {sorted(known)}"
            )
        if name == "segur_python":
            return sys.executable  # the interpreter running the harness
        value = params.get(name)
        return " ".join(map(str, value)) if isinstance(value, list) else _scalar(value)

    return PLACEHOLDER.sub(replace, template)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return "" if value is None else str(value)


def _last_json_object(stdout: str) -> Any:
    for line in reversed([ln for ln in stdout.splitlines() if ln.strip()]):
        try:
            return json.loads(line)
        except json.JSONDecodeError:
            continue
    try:
        return json.loads(stdout)
    except json.JSONDecodeError:
        return None


class CommandSut:
    """Runs the vendor's commands; see the module docstring for the file format."""

    name = "command"

    def __init__(self, path: Path, data: dict[str, Any]):
        self.path = path
        sut = data.get("sut", {})
        unknown = set(sut) - SUT_KEYS
        if unknown:
            raise SutConfigError(f"{path}: unknown keys in [sut]: {sorted(unknown)}; known: {sorted(SUT_KEYS)}")
        self.sut = sut
        self.extra_env = {str(k): str(v) for k, v in sut.get("env", {}).items()}
        self.actions: dict[str, CommandAction] = {}
        for action, spec in data.get("actions", {}).items():
            if action not in ACTIONS:
                raise SutConfigError(f"{path}: unknown action {action!r}; `segur sut actions` lists them")
            unknown = set(spec) - ACTION_KEYS
            if unknown or "command" not in spec:
                raise SutConfigError(f"{path}: action {action}: needs 'command'; unknown keys {sorted(unknown)}")
            cwd = spec.get("cwd")
            self.actions[action] = CommandAction(
                command=spec["command"],
                timeout=float(spec.get("timeout", sut.get("timeout", 60))),
                shell=bool(spec.get("shell", False)),
                cwd=(path.parent / cwd) if cwd else None,
            )

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.sut.get("name", self.path.stem),
            "version": self.sut.get("version", ""),
            "description": self.sut.get("description", ""),
            "kind": "command",
            "file": str(self.path),
            "actions": sorted(self.actions),
        }

    def perform(self, action: str, params: dict[str, Any], context: SutContext) -> ActionResult:
        spec = self.actions.get(action)
        if spec is None:
            raise ActionNotSupported(
                f"{self.path.name} maps no command to action {action!r}",
                f"{self.path.name} n'associe aucune commande à l'action {action!r}",
            )
        if spec.shell:
            template = spec.command if isinstance(spec.command, str) else shlex.join(spec.command)
            quoted = {k: shlex.quote(" ".join(v) if isinstance(v, list) else _scalar(v)) for k, v in params.items()}
            argv: list[str] | str = _format_argument(template, quoted, action)
        else:
            parts = shlex.split(spec.command) if isinstance(spec.command, str) else list(spec.command)
            argv = [_format_argument(part, params, action) for part in parts]
        env = {**os.environ, **self.extra_env, **context.environment()}
        env["SEGUR_ACTION"] = action
        env["SEGUR_PARAMS"] = json.dumps(params, ensure_ascii=False)
        started = time.perf_counter()
        try:
            completed = subprocess.run(
                argv,
                shell=spec.shell,
                env=env,
                cwd=spec.cwd or self.path.parent,
                capture_output=True,
                text=True,
                timeout=spec.timeout,
                stdin=subprocess.DEVNULL,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise SutFailure(
                f"action {action}: the command did not finish within {spec.timeout} s",
                f"action {action} : la commande ne s'est pas terminée en {spec.timeout} s",
            ) from exc
        except OSError as exc:
            raise SutConfigError(f"action {action}: cannot run {argv!r}: {exc}") from exc
        result = ActionResult(
            action,
            params,
            {},
            time.perf_counter() - started,
            completed.stdout,
            completed.stderr,
            completed.returncode,
        )
        if completed.returncode != 0:
            tail = completed.stderr.strip().splitlines()[-5:]
            raise SutFailure(
                f"action {action}: exit status {completed.returncode}: {' / '.join(tail)}",
                f"action {action} : code de sortie {completed.returncode} : {' / '.join(tail)}",
            )
        result.data = check_answer(action, _last_json_object(completed.stdout))
        return result


def load_command_sut(path: Path) -> CommandSut:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SutConfigError(f"SUT file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise SutConfigError(f"{path} is not valid TOML: {exc}") from exc
    return CommandSut(path, data)
