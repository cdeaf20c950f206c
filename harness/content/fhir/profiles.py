"""Profiles as data (profiles/fhir/, format in its README) compiled into element trees.

A profile's differential is a flat list of element ids (``Patient.identifier:INS-NIR.system``);
the walker needs a tree: children by element name, slices by slice name. Profiles and value
sets are loaded once per process (``registry()``).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.core.paths import data_dir

UNSET: Any = object()
CORE_PREFIX = "http://hl7.org/fhir/StructureDefinition/"

PROFILE_KEYS = frozenset(
    {"id", "min", "max", "fixed", "pattern", "binding", "types", "mustSupport", "check", "slicing", "short", "comment"}
)


class ProfileDataError(ValueError):
    """The profile data itself is wrong (a bug in profiles/fhir, not in the resource judged)."""


@dataclass
class Slicing:
    discriminators: list[tuple[str, str]]  # (type, path)
    rules: str = "open"


@dataclass
class Constraint:
    key: str
    severity: str
    human: str
    expression: str


@dataclass
class Node:
    """One element of a profile: its rules, its child elements and, when sliced, its slices."""

    id: str
    name: str
    slice_name: str | None = None
    min: int | None = None
    max: int | None = None  # None: no upper bound from this profile
    fixed: Any = UNSET
    pattern: Any = UNSET
    binding: tuple[str, str] | None = None  # (strength, value set URL)
    types: list[dict[str, Any]] = field(default_factory=list)
    must_support: bool = False
    check: str | None = None
    slicing: Slicing | None = None
    children: dict[str, Node] = field(default_factory=dict)
    slices: dict[str, Node] = field(default_factory=dict)
    constraints: list[Constraint] = field(default_factory=list)

    def child_at(self, path: str) -> Node | None:
        """The descendant at a dotted relative path (``type.coding``), or None."""
        node: Node | None = self
        for name in path.split("."):
            if node is None:
                return None
            node = node.children.get(name)
        return node


@dataclass
class Profile:
    url: str
    name: str
    type: str
    version: str
    source: str
    root: Node

    def top_level_values(self) -> list[tuple[str, str, Any]]:
        """(element name, "fixed"|"pattern", value) on the root's children: what a profile
        discriminator compares (profiles/fhir/README.md)."""
        out = []
        for child in self.root.children.values():
            if child.fixed is not UNSET:
                out.append((child.name, "fixed", child.fixed))
            elif child.pattern is not UNSET:
                out.append((child.name, "pattern", child.pattern))
        return out


@dataclass
class ValueSet:
    url: str
    name: str
    includes: list[tuple[str, frozenset[str] | None]]  # (system, codes or None for the whole system)

    def contains(self, system: str | None, code: str) -> bool:
        for include_system, codes in self.includes:
            if system is not None and system != include_system:
                continue
            if codes is None or code in codes:
                return True
        return False


def _segments(element_id: str) -> list[tuple[str, str | None]]:
    out: list[tuple[str, str | None]] = []
    for part in element_id.split("."):
        name, _, slice_name = part.partition(":")
        out.append((name, slice_name or None))
    return out


def _apply(node: Node, entry: dict[str, Any], where: str) -> None:
    unknown = set(entry) - PROFILE_KEYS
    if unknown:
        raise ProfileDataError(f"{where}: unknown keys {sorted(unknown)} on {entry['id']}")
    if "min" in entry:
        node.min = int(entry["min"])
    if "max" in entry:
        node.max = None if entry["max"] == "*" else int(entry["max"])
    if "fixed" in entry:
        node.fixed = entry["fixed"]
    if "pattern" in entry:
        node.pattern = entry["pattern"]
    if "binding" in entry:
        node.binding = (entry["binding"]["strength"], entry["binding"]["valueSet"])
    if "types" in entry:
        node.types = list(entry["types"])
    if entry.get("mustSupport"):
        node.must_support = True
    if "check" in entry:
        node.check = entry["check"]
    if "slicing" in entry:
        spec = entry["slicing"]
        node.slicing = Slicing(
            [(d["type"], d["path"]) for d in spec.get("discriminator", [])], spec.get("rules", "open")
        )


def _build_tree(type_name: str, elements: list[dict[str, Any]], where: str) -> Node:
    root = Node(id=type_name, name=type_name)
    for entry in elements:
        segments = _segments(entry["id"])
        if segments[0] != (type_name, None):
            raise ProfileDataError(f"{where}: element {entry['id']} is not under {type_name}")
        node = root
        for index, (name, slice_name) in enumerate(segments[1:], start=1):
            partial_id = ".".join(f"{n}:{s}" if s else n for n, s in segments[: index + 1])
            if slice_name and name.endswith("[x]") and slice_name.startswith(name[:-3]):
                # value[x]:valueAddress is the valueAddress form of the choice: a child of its own.
                node = node.children.setdefault(slice_name, Node(id=partial_id, name=slice_name))
                continue
            child = node.children.setdefault(name, Node(id=".".join([*partial_id.split(".")[:-1], name]), name=name))
            if slice_name:
                child = child.slices.setdefault(slice_name, Node(id=partial_id, name=name, slice_name=slice_name))
            node = child
        _apply(node, entry, where)
    return root


class Registry:
    """Every profile and value set of profiles/fhir, compiled on first use."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._raw: dict[str, dict[str, Any]] = {}
        self._compiled: dict[str, Profile] = {}
        self._lock = threading.Lock()
        self.value_sets: dict[str, ValueSet] = {}
        for path in sorted(folder.glob("*.json")):
            data = json.loads(path.read_text(encoding="utf-8"))
            if path.name.startswith("valuesets-"):
                self._load_value_sets(data, path.name)
                continue
            url = data.get("url")
            if not url or "type" not in data:
                raise ProfileDataError(f"{path.name}: a profile needs url and type")
            if url in self._raw:
                raise ProfileDataError(f"{path.name}: {url} is defined twice")
            data["_file"] = path.name
            self._raw[url] = data

    def _load_value_sets(self, data: dict[str, Any], where: str) -> None:
        for url, spec in data.get("value_sets", {}).items():
            if url in self.value_sets:
                raise ProfileDataError(f"{where}: value set {url} is defined twice")
            includes = [
                (inc["system"], frozenset(inc["codes"]) if "codes" in inc else None) for inc in spec.get("include", [])
            ]
            self.value_sets[url] = ValueSet(url, spec.get("name", url), includes)

    def urls(self) -> list[str]:
        return sorted(self._raw)

    def resource_profiles(self) -> list[str]:
        return sorted(url for url, data in self._raw.items() if data["type"] != "Extension")

    def resolve_name(self, ref: str) -> str | None:
        """A canonical URL for a URL, a profile id (the URL's last segment) or a profile name."""
        if ref in self._raw:
            return ref
        for url, data in self._raw.items():
            if url.rsplit("/", 1)[-1] == ref or data.get("name") == ref:
                return url
        return None

    def get(self, url: str) -> Profile | None:
        url = url.split("|", 1)[0]  # canonical|version: versions are not distinguished
        compiled = self._compiled.get(url)
        if compiled is not None:
            return compiled  # compiled once, never replaced: no lock needed to read it
        if url not in self._raw:
            return None
        with self._lock:
            if url not in self._compiled:
                self._compiled[url] = self._compile(url, set())
            return self._compiled[url]

    def _elements(self, url: str, seen: set[str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        if url in seen:
            raise ProfileDataError(f"{url}: its base chain loops")
        seen.add(url)
        data = self._raw[url]
        elements: dict[str, dict[str, Any]] = {}
        constraints: list[dict[str, Any]] = []
        base = data.get("base")
        if base and base not in self._raw and not base.startswith(CORE_PREFIX):
            # An unheld base would silently drop its constraints: a data error, not a lenient profile.
            raise ProfileDataError(f"{data['_file']}: its base {base} is not held in profiles/fhir")
        if base and base in self._raw:
            base_elements, base_constraints = self._elements(base, seen)
            elements = {e["id"]: dict(e) for e in base_elements}
            constraints = list(base_constraints)
        for entry in data.get("elements", []):
            elements.setdefault(entry["id"], {}).update(entry)
        constraints += data.get("constraints", [])
        return list(elements.values()), constraints

    def _compile(self, url: str, seen: set[str]) -> Profile:
        data = self._raw[url]
        elements, constraints = self._elements(url, seen)
        root = _build_tree(data["type"], elements, data["_file"])
        for spec in constraints:
            context = spec.get("context", data["type"])
            node = _find(root, context)
            if node is None:
                raise ProfileDataError(f"{data['_file']}: constraint {spec['key']} on unknown element {context}")
            node.constraints.append(
                Constraint(spec["key"], spec.get("severity", "error"), spec.get("human", ""), spec["expression"])
            )
        return Profile(url, data.get("name", url), data["type"], data.get("version", ""), data.get("source", ""), root)

    def base_of(self, url: str) -> str | None:
        data = self._raw.get(url)
        return data.get("base") if data else None


def _find(root: Node, element_id: str) -> Node | None:
    segments = _segments(element_id)
    node: Node | None = root
    for name, slice_name in segments[1:]:
        if node is None:
            return None
        if slice_name and name.endswith("[x]") and slice_name.startswith(name[:-3]):
            node = node.children.get(slice_name)
            continue
        node = node.children.get(name)
        if node is not None and slice_name:
            node = node.slices.get(slice_name)
    return node


_REGISTRY: Registry | None = None
_REGISTRY_LOCK = threading.Lock()


def registry() -> Registry:
    global _REGISTRY
    with _REGISTRY_LOCK:
        if _REGISTRY is None:
            _REGISTRY = Registry(data_dir("profiles") / "fhir")
        return _REGISTRY
