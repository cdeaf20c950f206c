"""What a test's product did, kept so that a past run can be judged again (``segur rejudge``).

During a run each test logs its *interactions*: the product's answer to every action, what the
scripted browser got back, what the test read from or put in a mailbox. With the recorded
exchanges, that is everything a verdict depends on. In replay, the same test code runs against
these logs instead of the product and the mocks, so only the rules can change the verdict.
A test that asks for something the log does not hold (its code changed shape) is skipped as
not re-judgeable, never judged on made-up data.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from harness.core.results import SkipKind
from harness.core.skips import NotEvaluated
from harness.evidence.pack import BLOBS, put_blob
from harness.run.sut.base import ActionResult, SutFailure

NOT_REJUDGEABLE = "not re-judgeable: "
FILE_KEYS = ("path",)  # answer keys naming a file the product wrote: kept as blobs, restored on replay


def jsonable(value: Any) -> Any:
    """A JSON-safe copy (bytes as latin-1 text would lie: they become a tagged hex string)."""
    return json.loads(json.dumps(value, default=lambda v: {"$bytes": v.hex()} if isinstance(v, bytes) else str(v)))


class InteractionLog:
    """The interactions of one test, written to the pack's evidence/tests.json."""

    def __init__(self, report_dir: Path | None):
        self.report_dir = report_dir
        self.entries: list[dict[str, Any]] = []

    def blob(self, data: bytes) -> str | None:
        return put_blob(self.report_dir, data) if self.report_dir else None

    def action(self, result: ActionResult) -> None:
        files = {}
        for key in FILE_KEYS:
            value = result.data.get(key)
            if isinstance(value, str) and Path(value).is_file():
                files[key] = self.blob(Path(value).read_bytes())
        self.entries.append(
            {
                "kind": "action",
                "action": result.action,
                "params": jsonable(result.params),
                "data": jsonable(result.data),
                "files": files,
                "duration": result.duration,
                "exit_status": result.exit_status,
                "notes": list(result.notes),
                **({"raw_answer": self.blob(result.stdout.encode("utf-8"))} if result.stdout else {}),
            }
        )

    def action_refused(
        self, action: str, kind: str, message: str, message_fr: str = "", raw: bytes | None = None
    ) -> None:
        entry: dict[str, Any] = {"kind": "action", "action": action, kind: message}
        if message_fr and message_fr != message:
            entry[f"{kind}_fr"] = message_fr
        if raw is not None:
            entry["raw_answer"] = self.blob(raw)
        self.entries.append(entry)

    def call(self, name: str, result: Any = None, error: BaseException | None = None) -> None:
        entry: dict[str, Any] = {"kind": name, "result": jsonable(result)}
        if error is not None:
            entry["error"] = {"type": f"{type(error).__module__}:{type(error).__qualname__}", "message": str(error)}
        self.entries.append(entry)


class Replayer:
    """Hands a test, in order, what its product and mocks answered in the recorded run."""

    def __init__(self, pack: Path, entries: list[dict[str, Any]], work_dir: Path):
        self.pack, self.entries, self.work_dir = pack, list(entries), work_dir

    def _next(self, kind: str, name: str) -> dict[str, Any]:
        if not self.entries:
            raise NotEvaluated(
                SkipKind.NOT_REJUDGEABLE,
                f"{NOT_REJUDGEABLE}the test now asks for {name}, which the recorded run did not do",
                f"non rejugeable : le test demande maintenant {name}, que l'exécution enregistrée n'a pas fait",
            )
        entry = self.entries.pop(0)
        recorded = entry.get("action", entry["kind"]) if kind == "action" else entry["kind"]
        if entry["kind"] != kind or recorded != name:
            raise NotEvaluated(
                SkipKind.NOT_REJUDGEABLE,
                f"{NOT_REJUDGEABLE}the test now asks for {name} where the recorded run did {recorded}",
                f"non rejugeable : le test demande maintenant {name} là où l'exécution enregistrée a fait {recorded}",
            )
        return entry

    def action(self, action: str, params: dict[str, Any]) -> ActionResult:
        entry = self._next("action", action)
        if "not_supported" in entry:
            message = entry["not_supported"]
            raise NotEvaluated(SkipKind.NOT_PERFORMED, message, entry.get("not_supported_fr", message))
        if "failure" in entry:
            raise SutFailure(entry["failure"], entry.get("failure_fr"))
        data = dict(entry["data"])
        for key, digest in entry.get("files", {}).items():
            if digest:
                target = self.work_dir / f"replayed-{key}-{digest[:12]}"
                target.write_bytes((self.pack / BLOBS / digest).read_bytes())
                data[key] = str(target)
        return ActionResult(
            action,
            params,
            data,
            entry.get("duration", 0.0),
            exit_status=entry.get("exit_status"),
            notes=list(entry.get("notes", [])),
        )

    def call(self, name: str) -> Any:
        entry = self._next(name, name)
        if "error" in entry:
            raise _exception(entry["error"])
        return entry["result"]

    def blob(self, digest: str) -> bytes:
        return (self.pack / BLOBS / digest).read_bytes()

    def mailbox(self) -> list[Any]:
        return [SimpleNamespace(raw=self.blob(digest)) for digest in self.call("mss.mailbox")]


def _exception(error: dict[str, str]) -> BaseException:
    """The recorded exception again, when it is one of the harness's own (tests may expect its type)."""
    module, _, qualname = error["type"].partition(":")
    if module.split(".")[0] in {"harness", "mock_services", "builtins"}:
        try:
            cls: Any = importlib.import_module(module)
            for part in qualname.split("."):
                cls = getattr(cls, part)
            if isinstance(cls, type) and issubclass(cls, Exception):
                return cls(error["message"])
        except (ImportError, AttributeError, TypeError):
            pass
    return RuntimeError(f"{error['type']}: {error['message']}")
