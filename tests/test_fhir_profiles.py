"""The French profiles held in profiles/fhir: written examples pass, and each broken variant
(fixtures/fhir/cases-*.json: one JSON Patch away from a valid example) fails with the finding
the rule under test gives, and only that error."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from harness.content.fhir import known_profiles, read_resource, validate_resource
from harness.content.fhir.profiles import registry
from harness.core.paths import data_dir

FIXTURES = data_dir("fixtures") / "fhir"
EXAMPLES = sorted(p for p in FIXTURES.rglob("*.json") if not p.name.startswith("cases-"))
CASES = [
    case for path in sorted(FIXTURES.glob("cases-*.json")) for case in json.loads(path.read_text(encoding="utf-8"))
]


def apply_patch(document: dict, operations: list[dict]) -> dict:
    """RFC 6902 add / remove / replace, enough for the cases."""
    document = copy.deepcopy(document)
    for operation in operations:
        *parents, last = [p.replace("~1", "/").replace("~0", "~") for p in operation["path"].lstrip("/").split("/")]
        target = document
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        if isinstance(target, list):
            index = len(target) if last == "-" else int(last)
            if operation["op"] == "add":
                target.insert(index, operation["value"])
            elif operation["op"] == "remove":
                del target[index]
            else:
                target[index] = operation["value"]
        elif operation["op"] == "remove":
            del target[last]
        else:
            target[last] = operation["value"]
    return document


def test_every_profile_compiles_and_every_binding_names_a_value_set_or_says_so():
    reg = registry()
    for url in reg.urls():
        assert reg.get(url) is not None, url
    assert {"fr-core-patient-ins", "fr-core-practitioner", "fr-core-organization"} <= {
        u.rsplit("/", 1)[-1] for u in known_profiles()
    }


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_written_examples_pass_their_profiles(path):
    resource = read_resource(path.read_bytes())
    report = validate_resource(resource)
    assert report.profiles, "every example declares a profile we hold"
    problems = [i for i in report.issues if i.severity in ("error", "warning")]
    assert problems == [], [f"{i.rule} {i.expression}: {i.message}" for i in problems]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_each_broken_variant_fails_with_its_finding(case):
    example = json.loads((FIXTURES / case["example"]).read_text(encoding="utf-8"))
    broken = apply_patch(example, case["changes"])
    report = validate_resource(broken, case.get("profile"))
    expected = case["expect"]
    matching = [
        i
        for i in report.issues
        if i.rule == expected["rule"]
        and i.severity == expected.get("severity", "error")
        and (expected.get("element") is None or i.element == expected["element"] or i.expression == expected["element"])
    ]
    assert matching, [f"{i.severity} {i.rule} {i.element} {i.expression}" for i in report.issues]
    # "also": findings the broken part causes elsewhere (a reference whose target now breaks its profile)
    also = {(a["rule"], a["element"]) for a in case.get("also", [])}
    others = [
        i
        for i in report.issues
        if i.severity in ("error", "warning") and i not in matching and (i.rule, i.element) not in also
    ]
    assert others == [], [f"{i.severity} {i.rule} {i.element} {i.expression}" for i in others]


def test_the_profiles_cite_their_sources():
    for path in sorted((data_dir("profiles") / "fhir").glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        if path.name.startswith("valuesets-"):
            assert all(vs.get("source") for vs in data["value_sets"].values()), path.name
        else:
            assert data.get("source"), path.name


def test_xml_and_json_forms_give_the_same_verdict(tmp_path: Path):
    from fhir.resources.R4B import get_fhir_model_class

    resource = json.loads((FIXTURES / "frcore" / "patient-ins-nir.json").read_text(encoding="utf-8"))
    xml = get_fhir_model_class("Patient").model_validate(resource).model_dump_xml()
    from_xml = validate_resource(read_resource(xml if isinstance(xml, bytes) else xml.encode()))
    assert from_xml.valid and from_xml.profiles == validate_resource(resource).profiles


def test_the_compiled_fhirpath_subset_agrees_with_fhirpathpy(monkeypatch):
    """The invariants run through harness.content.fhir.fastpath; fhirpathpy is the reference it must match
    on every example and every broken variant."""
    from harness.content.fhir import fhirpath

    resources = [json.loads(p.read_text(encoding="utf-8")) for p in EXAMPLES]
    for case in CASES:
        example = json.loads((FIXTURES / case["example"]).read_text(encoding="utf-8"))
        resources.append(apply_patch(example, case["changes"]))

    def verdicts() -> list[list[tuple[str, str, str]]]:
        return [
            sorted((i.rule, i.expression, i.severity) for i in validate_resource(r).issues if "invariant" in i.rule)
            for r in resources
        ]

    fast = verdicts()
    monkeypatch.setattr(fhirpath, "USE_FAST_PATH", False)
    assert verdicts() == fast
    assert any(fast), "some variants break an invariant, so the comparison means something"


@pytest.mark.parametrize(
    "expression",
    [
        "%resource.id.exists()",
        "$this.gender = 'female'",
        "name.given.count() = 1",
        "identifier.all(value.hasValue())",
        "(1 = 1) xor (1 = 2)",
        "identifier.exists(system.startsWith('urn:oid:'))",
        "gender != 'male'",
        "deceased.exists().not()",
        "name.where(use = 'official').family = 'ADRUN'",
        "name.where(use = 'nickname').family = 'X'",
        "birthDate.empty() implies gender.exists()",
        "extension('https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-identity-reliability').exists()",
        "extension.where(url = 'http://hl7.org/fhir/StructureDefinition/patient-birthPlace')"
        ".value.extension.value.code = '63220'",
    ],
)
def test_fastpath_expressions_match_fhirpathpy(expression):
    from harness.content.fhir import fastpath
    from harness.content.fhir.fhirpath import compiled

    resource = json.loads((FIXTURES / "frcore" / "patient-ins-nir.json").read_text(encoding="utf-8"))
    env = {"resource": resource}
    assert fastpath.compile_expression(expression)([resource], env) == compiled(expression)(resource, env)


def test_expressions_outside_the_subset_fall_back_to_fhirpathpy():
    from harness.content.fhir import fastpath
    from harness.content.fhir.fhirpath import holds

    with pytest.raises(fastpath.Unsupported):
        fastpath.compile_expression("birthDate < @2000-01-01")
    resource = json.loads((FIXTURES / "frcore" / "patient-ins-nir.json").read_text(encoding="utf-8"))
    assert holds("birthDate < @2000-01-01", resource) and not holds("birthDate > @2000-01-01", resource)
