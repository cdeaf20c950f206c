"""The quick structure pass (harness.content.fhir.shapes) against the fhir.resources model it stands in
for: the findings of the whole validator are the same with and without it on every example and broken
variant the tests hold, and it never calls certainly valid a resource the model refuses, over
thousands of structural mutations of those examples (every element removed, nulled, emptied, given
the wrong JSON type, a bad primitive, an unknown sibling, a second choice type, a nested resource)."""

from __future__ import annotations

import copy

import pytest

from harness.content.fhir import structure, validate_resource
from harness.content.fhir.shapes import certainly_valid
from harness.content.fhir.structure import model_class, model_structure_issues, structure_issues
from tests.fhir_corpus import CORPUS, MUTATED, load, mutants
from tests.test_fhir_guides import BROKEN, PDSM
from tests.test_fhir_profiles import CASES, EXAMPLES, FIXTURES


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


@pytest.mark.parametrize("name,resource", MUTATED, ids=[name for name, _ in MUTATED])
def test_the_quick_pass_never_accepts_what_the_model_refuses(name, resource):
    check_mutants(name, resource)


def check_mutants(name: str, resource: dict) -> None:
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
    patient = load(FIXTURES / "frcore" / "patient-ins-nir.json")
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
    patient = load(FIXTURES / "frcore" / "patient-ins-nir.json")
    patient["contained"] = [{"resourceType": "Patientt"}]
    report = validate_resource(patient)
    assert [(i.rule, i.severity) for i in report.issues if i.rule == "fhir.structure"] == [("fhir.structure", "error")]
    assert not report.valid and "Patientt" in report.errors()[0].message
    reference = load(FIXTURES / "pdsm" / "document-reference.json")
    reference["content"][0]["attachment"]["url"] = 7
    report = validate_resource(reference)
    assert not report.valid and any(i.rule == "fhir.structure" for i in report.errors())


def test_a_profile_walk_stopped_by_broken_structure_is_said_not_a_crash():
    """The profile walk reads what the structure check already refused (a code that is an object,
    looked up in a value set): the structure errors stand, and a warning says the profiles were not
    walked to the end."""
    patient = load(FIXTURES / "frcore" / "patient-ins-nir.json")
    patient["extension"][0]["extension"][0]["valueCoding"]["code"] = {}
    report = validate_resource(patient)
    assert not report.valid
    assert [i.rule for i in report.issues if i.rule == "fhir.structure"] != []
    assert [(i.severity, i.rule) for i in report.issues][-1] == ("warning", "fhir.processing")


def test_every_r4_model_reads_as_a_shape():
    """A model the quick pass cannot read sends every resource holding it to the slow model: after a
    fhir.resources upgrade this says which one changed."""
    import fhir.resources.R4B.fhirtypes  # noqa: F401 - fills the type table
    from fhir_core.constraints import FHIR_TYPES_MAPS
    from pydantic._internal._validators import import_string

    from harness.content.fhir.shapes import shape

    models = {import_string(path) for key, path in FHIR_TYPES_MAPS.items() if ".R4B." in path}
    assert len(models) > 600
    assert sorted(m.__name__ for m in models if shape(m) is None) == []


def test_finding_to_dict_is_what_dataclasses_asdict_gave():
    """Finding.to_dict reads its fields one by one (asdict's deep copy was slower than judging a
    resource): the dictionaries are the same, every field included."""
    import dataclasses

    from harness.core.results import Finding, Severity

    findings = [
        Finding("r", "m"),
        Finding("fhir.binding", "m", Severity.WARNING, "FHIR-01", "Patient.x", "e", "v", ("p1", "p2"), 3),
        Finding("r", "m", Severity.INFO, message_fr="fr", expected_fr="ef", received_fr="rf", rule_origin="harness"),
    ]
    for finding in findings:
        expected = dataclasses.asdict(finding)
        expected["severity"], expected["evidence"] = finding.severity.value, list(finding.evidence)
        if finding.rule_origin is None:
            del expected["rule_origin"]
        assert finding.to_dict() == expected
        assert list(finding.to_dict()) == list(expected)


def test_the_mutation_check_catches_a_quick_pass_that_lets_an_unknown_element_through(monkeypatch):
    """The check above can fail: with a quick pass that takes an unknown element (``bogus``) for a
    string, a mutant the model refuses is called certainly valid, and the check says so."""
    from harness.content.fhir import shapes

    real = shapes.shape

    def lenient(model):
        described = real(model)
        if described is None:
            return None
        elements = {**described.elements, "bogus": shapes.Element(shapes.PRIMITIVE, False, shapes.Primitive(str))}
        return shapes.Shape(elements, described.required, described.choices, described.resource_type)

    monkeypatch.setattr(shapes, "shape", lenient)
    with pytest.raises(AssertionError, match="unknown element"):
        check_mutants("practitioner", load(FIXTURES / "frcore" / "practitioner.json"))
