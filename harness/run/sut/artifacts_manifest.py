"""The manifest of an ``artifacts`` SUT: which file of the folder answers which action.

``manifest.toml`` at the root of the folder (``fixtures/sut/artifacts-example/`` is a complete one)::

    [sut]
    name = "Mon DPI"
    version = "2026.1"

    [[answer]]
    action = "cda.produce_document"
    file = "cda/note.xml"                      # a CDA R2 document, or an XDM archive holding one

    [[answer]]
    action = "fhir.produce_resource"
    when = { kind = "patient", "patient.status" = "QUAL" }
    file = "fhir/patient.json"

The first ``[[answer]]`` of an action whose ``when`` matches the action's parameters answers it
(``"patient.status"`` reads the ``status`` of the ``patient`` parameter); an answer without
``when`` answers every call of its action. Every mistake is a :class:`SutConfigError` naming the
manifest and the key, with a "did you mean" when a known name is close.
"""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.run.sut.actions import ACTIONS
from harness.run.sut.base import SutConfigError

MANIFEST_NAME = "manifest.toml"
TOP_KEYS = {"sut", "answer"}
SUT_KEYS = {"name", "version", "description"}
ANSWER_KEYS = {"action", "file", "when", "format", "recipients"}

# What a file may stand for, per action. Actions absent here need the live product: the harness
# must see what it did with a national service's answer, or act on what it received.
FORMATS: dict[str, tuple[str, ...]] = {
    "cda.produce_document": ("cda", "xdm"),
    "fhir.produce_resource": ("fhir",),
    "mss.send_document": ("rfc5322",),
    "mss.send_to_patient": ("rfc5322",),
    "insi.search_by_traits": ("har", "http", "soap"),
    "insi.search_by_carte_vitale": ("har", "http", "soap"),
    "dmp.feed_document": ("har", "http", "soap"),
}
SUFFIX_FORMATS = {
    ".xml": {"cda": "cda", "fhir": "fhir", "har": "soap"},
    ".zip": {"cda": "xdm"},
    ".json": {"fhir": "fhir"},
    ".eml": {"rfc5322": "rfc5322"},
    ".har": {"har": "har"},
    ".http": {"har": "http"},
    ".txt": {"har": "http"},
}


@dataclass(frozen=True)
class ArtifactAnswer:
    """One ``[[answer]]``: the file answering ``action`` when the parameters match ``when``."""

    action: str
    path: Path
    format: str
    when: dict[str, str] = field(default_factory=dict)
    recipients: tuple[str, ...] = ()

    def matches(self, params: dict[str, Any]) -> bool:
        return all(_param(params, name) == expected for name, expected in self.when.items())


@dataclass(frozen=True)
class ArtifactManifest:
    path: Path
    sut: dict[str, str]
    answers: tuple[ArtifactAnswer, ...]

    def answer_for(self, action: str, params: dict[str, Any]) -> ArtifactAnswer | None:
        return next((a for a in self.answers if a.action == action and a.matches(params)), None)


def _param(params: dict[str, Any], dotted: str) -> str | None:
    value: Any = params
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    if isinstance(value, bool):
        return "true" if value else "false"
    return None if value is None else str(value)


def _hint(name: str, known: set[str] | list[str]) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=3, cutoff=0.75)
    return f" (did you mean {', '.join(close)}?)" if close else ""


def _unknown_keys(where: str, table: dict[str, Any], known: set[str]) -> None:
    unknown = sorted(set(table) - known)
    if unknown:
        described = ", ".join(f"{k!r}{_hint(k, known)}" for k in unknown)
        raise SutConfigError(f"{where}: unknown key {described}; known keys: {', '.join(sorted(known))}")


def _format_of(where: str, action: str, spec: dict[str, Any], path: Path) -> str:
    allowed = FORMATS[action]
    given = spec.get("format")
    if given is not None:
        if given not in allowed:
            raise SutConfigError(
                f"{where}: format {given!r}{_hint(str(given), list(allowed))} cannot answer {action}; "
                f"it takes {', '.join(allowed)}"
            )
        return str(given)
    by_family = SUFFIX_FORMATS.get(path.suffix.lower(), {})
    guessed = by_family.get(allowed[0])
    if guessed is None:
        raise SutConfigError(
            f"{where}: cannot tell the format of {path.name} from its suffix; add format = one of {', '.join(allowed)}"
        )
    return guessed


def _answer(manifest: Path, index: int, spec: Any) -> ArtifactAnswer:
    where = f"{manifest}: [[answer]] #{index + 1}"
    if not isinstance(spec, dict):
        raise SutConfigError(f"{where}: must be a table with 'action' and 'file'")
    action = spec.get("action")
    if isinstance(action, str):
        where = f"{manifest}: [[answer]] #{index + 1} (action {action!r})"
    _unknown_keys(where, spec, ANSWER_KEYS)
    if not isinstance(action, str):
        raise SutConfigError(f"{where}: key 'action' is missing; `segur sut actions` lists the actions")
    if action not in ACTIONS:
        raise SutConfigError(f"{where}: unknown action{_hint(action, set(ACTIONS))}; `segur sut actions` lists them")
    if action not in FORMATS:
        raise SutConfigError(
            f"{where}: a file cannot answer {action}: it needs the live product; files answer "
            f"{', '.join(sorted(FORMATS))}"
        )
    file = spec.get("file")
    if not isinstance(file, str) or not file:
        raise SutConfigError(f"{where}: key 'file' is missing (a path relative to {manifest.parent})")
    root = manifest.parent.resolve()
    path = (root / file).resolve()
    if not path.is_relative_to(root):
        raise SutConfigError(f"{where}: file {file!r} is outside the folder {root}")
    if not path.is_file():
        raise SutConfigError(f"{where}: file {file!r} does not exist in {root}")
    when = spec.get("when", {})
    if not isinstance(when, dict):
        raise SutConfigError(f"{where}: key 'when' must be a table of parameter = value")
    params = set(ACTIONS[action].params)
    for name in when:
        if name.split(".")[0] not in params:
            raise SutConfigError(
                f"{where}: key 'when.{name}': {name.split('.')[0]!r} is not a parameter of {action}"
                f"{_hint(name.split('.')[0], params)}; parameters: {', '.join(sorted(params))}"
            )
    recipients = spec.get("recipients", [])
    if not isinstance(recipients, list) or not all(isinstance(r, str) for r in recipients):
        raise SutConfigError(f"{where}: key 'recipients' must be a list of addresses")
    return ArtifactAnswer(
        action,
        path,
        _format_of(where, action, spec, path),
        {str(k): ("true" if v is True else "false" if v is False else str(v)) for k, v in when.items()},
        tuple(recipients),
    )


def load_manifest(folder: Path) -> ArtifactManifest:
    """Read ``folder/manifest.toml``; raise :class:`SutConfigError` saying what is wrong and where."""
    if not folder.is_dir():
        raise SutConfigError(f"--sut artifacts:{folder}: no such folder")
    manifest = folder / MANIFEST_NAME
    try:
        data = tomllib.loads(manifest.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SutConfigError(f"{folder} has no {MANIFEST_NAME} saying which file answers which action") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SutConfigError(f"{manifest} is not valid TOML: {exc}") from exc
    _unknown_keys(str(manifest), data, TOP_KEYS)
    sut = data.get("sut", {})
    if not isinstance(sut, dict):
        raise SutConfigError(f"{manifest}: [sut] must be a table")
    _unknown_keys(f"{manifest}: [sut]", sut, SUT_KEYS)
    answers = data.get("answer", [])
    if not isinstance(answers, list) or not answers:
        raise SutConfigError(f"{manifest}: no [[answer]] table: say which file answers which action")
    return ArtifactManifest(
        manifest, {k: str(v) for k, v in sut.items()}, tuple(_answer(manifest, i, a) for i, a in enumerate(answers))
    )
