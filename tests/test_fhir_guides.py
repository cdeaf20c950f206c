"""The guides' own released examples (tests/data/fhir-guides, SOURCES.md): judged valid, and
targeted broken variants judged invalid by the rule of the release the profile files are pinned to."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from harness.content.fhir import validate_resource
from harness.content.fhir.profiles import registry

GUIDES = Path(__file__).parent / "data" / "fhir-guides"
PDSM = GUIDES / "pdsm-3.1.1"
PROFILES = Path(__file__).resolve().parent.parent / "profiles" / "fhir"

PDSM_TAG_COMMIT = "3b3d9c5843dc4cca3c18f9f73033fd59c0496c85"  # ansforge/IG-fhir-partage-de-documents-de-sante tag 3.1.1
MHD_TAG_COMMIT = "5bba09a094667a4875be14241a13db3caa75ad90"  # IHE/ITI.MHD tag 4.2.0, PDSm 3.1.1's dependency
ANNUAIRE_TAG_COMMIT = "7d84e8fa8811c254eb36354a73e45d2ae970a556"  # ansforge/IG-fhir-annuaire tag 1.1.0


def example(name: str) -> dict[str, Any]:
    return json.loads((PDSM / name).read_text(encoding="utf-8"))


def errors(resource: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(i.rule, i.element) for i in validate_resource(resource).issues if i.severity == "error"]


DOCREF = "DocumentReference-exemple-pdsm-documentreference.json"


@pytest.mark.parametrize(
    "name",
    [DOCREF, "List-ExampleSubmissionSet.json"],
)
def test_released_example_is_valid(name):
    report = validate_resource(example(name))
    assert report.valid, [(i.rule, i.element, i.message) for i in report.errors()]
    assert report.profiles, "the example's profile is held"


def test_docref_without_custodian_nor_date_is_valid_as_in_3_1_1():
    # custodian 1.. and date 1.. were added after the release (PR #110, #106): the released
    # example has no custodian, and a DocumentReference without date is still 3.1.1-valid.
    resource = example(DOCREF)
    assert "custodian" not in resource
    del resource["date"]
    assert errors(resource) == []


def test_docref_without_authenticator_is_invalid_in_3_1_1():
    resource = example(DOCREF)
    del resource["authenticator"]
    assert ("fhir.cardinality", "DocumentReference.authenticator") in errors(resource)


def test_docref_author_practitioner_is_not_a_3_1_1_target():
    # 3.1.1: author only Reference(AsPractitionerRoleProfile or Device or FRCorePatientProfile).
    resource = example(DOCREF)
    resource["author"] = [{"reference": "#practitioner-example"}]
    assert ("fhir.type", "DocumentReference.author") in errors(resource)


def test_docref_authenticator_practitioner_is_not_a_3_1_1_target():
    resource = example(DOCREF)
    resource["authenticator"] = {"reference": "#practitioner-example"}
    assert ("fhir.type", "DocumentReference.authenticator") in errors(resource)


def test_mhd_4_2_0_does_not_require_identifier_use():
    # UniqueIdIdentifier's "use 1.." came with MHD 4.2.1+; 4.2.0 only patterns it.
    resource = example(DOCREF)
    assert "use" not in resource["masterIdentifier"]
    resource["masterIdentifier"]["use"] = "official"
    assert ("fhir.pattern", "DocumentReference.masterIdentifier.use") in errors(resource)


def test_submission_set_in_snapshot_mode_is_invalid():
    resource = copy.deepcopy(example("List-ExampleSubmissionSet.json"))
    resource["mode"] = "snapshot"
    assert any(element == "List.mode" for _, element in errors(resource)), errors(resource)


def test_mhd_replacement_invariant_of_4_2_0():
    # iti-mhd-repl (Minimal DocumentReference, removed after 4.2.0): a replacement names its target.
    resource = example(DOCREF)
    resource["relatesTo"] = [{"code": "replaces"}]
    assert ("fhir.invariant.iti-mhd-repl", "DocumentReference") in errors(resource)
    resource["relatesTo"] = [{"code": "replaces", "target": {"reference": "DocumentReference/old"}}]
    assert not any(rule == "fhir.invariant.iti-mhd-repl" for rule, _ in errors(resource))


@pytest.mark.parametrize(
    ("prefix", "commit"),
    [("pdsm-", PDSM_TAG_COMMIT), ("mhd-", MHD_TAG_COMMIT), ("as-", ANNUAIRE_TAG_COMMIT)],
)
def test_profile_files_cite_the_tagged_release(prefix, commit):
    files = sorted(PROFILES.glob(f"{prefix}*.json"))
    assert files
    for path in files:
        source = json.loads(path.read_text(encoding="utf-8"))["source"]
        assert commit in source and "tag " in source, (path.name, source)
    assert registry().get(
        "https://interop.esante.gouv.fr/ig/fhir/pdsm/StructureDefinition/pdsm-comprehensive-document-reference"
    )
