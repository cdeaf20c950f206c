"""The quick structure pass (harness.content.fhir.shapes) against the fhir.resources model it stands in
for: the findings of the whole validator are the same with and without it on every example and broken
variant the tests hold, and it never calls certainly valid a resource the model refuses, over
thousands of structural mutations of those examples (every element removed, nulled, emptied, given
the wrong JSON type, a bad primitive, an unknown sibling, a second choice type, a nested resource)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest

from harness.content.fhir import structure, validate_resource
from harness.content.fhir.shapes import certainly_valid
from harness.content.fhir.structure import model_class, model_structure_issues, structure_issues
from tests.test_fhir_guides import BROKEN, PDSM, find_documents, find_lists
from tests.test_fhir_profiles import CASES, EXAMPLES, FIXTURES, apply_patch


def _load(path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def corpus() -> list[tuple[str, dict[str, Any]]]:
    """Every example and broken variant of test_fhir_profiles and test_fhir_guides."""
    out = [(str(p.relative_to(FIXTURES)), _load(p)) for p in EXAMPLES]
    out += [(case["name"], apply_patch(_load(FIXTURES / case["example"]), case["changes"])) for case in CASES]
    out += [(p.name, _load(p)) for p in sorted(PDSM.glob("*.json"))]
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


def test_the_corpus_holds_what_the_other_tests_judge():
    assert len(CORPUS) == len(EXAMPLES) + len(CASES) + len(list(PDSM.glob("*.json"))) + 2 + len(BROKEN)


@pytest.mark.parametrize("name,resource", CORPUS, ids=[name for name, _ in CORPUS])
def test_the_validator_finds_the_same_with_and_without_the_quick_pass(name, resource, monkeypatch):
    quick = validate_resource(copy.deepcopy(resource))
    monkeypatch.setattr(structure, "USE_QUICK_PASS", False)
    model_only = validate_resource(copy.deepcopy(resource))
    assert quick.issues == model_only.issues
    assert (quick.verdict, quick.profiles, quick.not_held) == (
        model_only.verdict,
        model_only.profiles,
        model_only.not_held,
    )


def test_every_structurally_valid_example_takes_the_quick_pass():
    """Otherwise the model would still run on every valid resource and nothing would be gained."""
    slow = [
        name
        for name, resource in CORPUS
        if not model_structure_issues(resource, model_class(resource["resourceType"]))
        and not certainly_valid(resource, model_class(resource["resourceType"]))
    ]
    assert slow == []


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


@pytest.mark.parametrize("name,resource", MUTATED, ids=[name for name, _ in MUTATED])
def test_the_quick_pass_never_accepts_what_the_model_refuses(name, resource):
    cls = model_class(resource["resourceType"])
    original = copy.deepcopy(resource)
    accepted = refused_by_model = judged = judged_by_model = 0
    for mutant in mutants(resource):
        judged += 1
        if certainly_valid(mutant, cls):
            accepted += 1
            found = model_structure_issues(mutant, cls)
            assert found == [], (name, [i.message for i in found][:3])
        elif judged % 8 == 0:  # a sample: the model is slow
            judged_by_model += 1
            refused_by_model += bool(model_structure_issues(mutant, cls))
    assert resource == original, "every mutation was undone"
    # The mutations mean something: the model refuses many of them, the quick pass accepts some.
    counts = (judged, refused_by_model, accepted)
    assert judged > 100 and refused_by_model > judged_by_model // 4 and accepted > 0, counts


def test_structure_issues_are_the_model_s_own_when_there_is_something_to_explain():
    patient = _load(FIXTURES / "frcore" / "patient-ins-nir.json")
    patient["birthDate"] = "15/12/1975"
    patient["nickname"] = "Zozo"
    found = structure_issues(patient)
    assert found == model_structure_issues(patient, model_class("Patient"))
    assert [(i.rule, i.expression) for i in found] == [
        ("fhir.structure", "Patient.birthDate"),
        ("fhir.structure", "Patient.nickname"),
    ]


def test_a_nested_resource_of_no_r4_type_is_a_finding_not_a_crash():
    """fhir_core looks contained/entry resource types up without catching the miss (KeyError), and
    reads an int given to a url as a string (AttributeError): both are findings."""
    patient = _load(FIXTURES / "frcore" / "patient-ins-nir.json")
    patient["contained"] = [{"resourceType": "Patientt"}]
    report = validate_resource(patient)
    assert [(i.rule, i.severity) for i in report.issues if i.rule == "fhir.structure"] == [("fhir.structure", "error")]
    assert not report.valid and "Patientt" in report.errors()[0].message
    reference = _load(FIXTURES / "pdsm" / "document-reference.json")
    reference["content"][0]["attachment"]["url"] = 7
    report = validate_resource(reference)
    assert not report.valid and any(i.rule == "fhir.structure" for i in report.errors())
