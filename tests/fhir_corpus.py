"""The FHIR resources the structure tests judge, apart from them so that benchmarks/fhir_findings_digest.py
can run them through an older version of the harness: every example and broken variant of
test_fhir_profiles and test_fhir_guides, and structural mutants of the written examples."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

from tests.test_fhir_guides import BROKEN, PDSM, find_documents, find_lists
from tests.test_fhir_profiles import CASES, EXAMPLES, FIXTURES, apply_patch


def load(path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def corpus() -> list[tuple[str, dict[str, Any]]]:
    """Every example and broken variant of test_fhir_profiles and test_fhir_guides."""
    out = [(str(p.relative_to(FIXTURES)), load(p)) for p in EXAMPLES]
    out += [(case["name"], apply_patch(load(FIXTURES / case["example"]), case["changes"])) for case in CASES]
    out += [(p.name, load(p)) for p in sorted(PDSM.glob("*.json"))]
    out += [("find-documents", find_documents()), ("find-lists", find_lists())]
    out += [(name, build()) for name, (build, _) in sorted(BROKEN.items())]
    return out


CORPUS = corpus()
BAD_STRINGS = ["", " ", "a  b", "x" * 65, "1975-02-30", "2020-13", "é-ü", "urn:oid:1..2"]
ODD_VALUES: list[Any] = [None, {}, [], 0, -1, 2**40, 1.5, True, False, "x", {"bogus": 1}, [None]]


def _paths(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*path, key)
            yield from _paths(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield (*path, index)
            yield from _paths(value, (*path, index))


def _parent(resource: dict[str, Any], path: tuple[Any, ...]) -> Any:
    node: Any = resource
    for part in path[:-1]:
        node = node[part]
    return node


def mutants(resource: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Structural mutations, each one change away from ``resource``: made in place, yielded, undone
    (a copy per mutant would cost more than judging it). One place per element path: the second
    coding of a concept is walked by the same rules as the first."""
    seen: set[tuple[Any, ...]] = set()
    for path in list(_paths(resource)):
        element_path = tuple("[]" if isinstance(part, int) and part else part for part in path)
        if element_path in seen:
            continue
        seen.add(element_path)
        parent, key = _parent(resource, path), path[-1]
        current = parent[key]
        replacements: list[Any] = [*ODD_VALUES, [current], {"wrapped": current}]
        if isinstance(current, str):
            replacements += BAD_STRINGS
        if isinstance(current, list) and current:
            replacements += [current[0], [*current, None], [*current, {}], [*current, "x"]]
        for replacement in replacements:
            parent[key] = replacement
            yield resource
        parent[key] = current
        if isinstance(parent, list):
            del parent[key]
            yield resource
            parent.insert(key, current)
            continue
        order = list(parent)
        del parent[key]
        yield resource
        parent[key] = current
        for sibling, value in siblings(key):
            before = parent.get(sibling, _ABSENT)
            parent[sibling] = value
            yield resource
            if before is _ABSENT:
                del parent[sibling]
            else:
                parent[sibling] = before
        for name in order:  # the key order as it was, for the next paths' sake
            parent[name] = parent.pop(name)


_ABSENT = object()


def siblings(key: str) -> list[tuple[str, Any]]:
    return [
        ("bogus", "x"),
        ("_" + key, {"id": "a"}),
        ("_" + key, {}),
        (key + "__ext", {"id": "a"}),
        ("resourceType", "Patient"),
        ("fhir_comments", "note"),
        ("valueString", "x"),
        ("valueBoolean", True),
        ("deceasedDateTime", "2020"),
        ("contained", [{"resourceType": "Patient"}]),
        ("contained", [{"resourceType": "Patient", "bogus": 1}]),
        ("contained", [{"resourceType": "Bundle"}]),
        ("contained", [{"resourceType": "x"}]),
        ("contained", [{}]),
    ]


def mutation_corpus() -> list[tuple[str, dict[str, Any]]]:
    """The written examples; a Bundle's entries are mutated as resources of their own and, in the
    Bundle, stand as stubs (each mutant of the whole Bundle would cost the model 10 ms)."""
    out = []
    for name, resource in CORPUS[: len(EXAMPLES)]:
        if resource["resourceType"] != "Bundle":
            out.append((name, resource))
            continue
        skeleton = copy.deepcopy(resource)
        for position, entry in enumerate(skeleton.get("entry", [])):
            nested = entry["resource"]
            out.append((f"{name}#entry{position}", nested))
            entry["resource"] = {"resourceType": nested["resourceType"], "id": nested.get("id", "x")}
        out.append((name, skeleton))
    return out


MUTATED = mutation_corpus()
