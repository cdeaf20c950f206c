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


# ---- profiles added with the 3.1.1 pin: Folder, simplified publish, the ITI-65 response and the
# Find* (ITI-66/ITI-67) response bundles, each with a valid example and a broken variant.

PDSM_SD = "https://interop.esante.gouv.fr/ig/fhir/pdsm/StructureDefinition/"


def searchset(profile: str, *resources: dict[str, Any]) -> dict[str, Any]:
    """A search answer carrying the released examples (the guide publishes no Find* example)."""
    return {
        "resourceType": "Bundle",
        "meta": {"profile": [PDSM_SD + profile]},
        "type": "searchset",
        "total": len(resources),
        "entry": [
            {"fullUrl": f"https://pdsm.example/fhir/{r['resourceType']}/{r['id']}", "resource": r} for r in resources
        ],
    }


def find_documents() -> dict[str, Any]:
    return searchset("pdsm-find-documentreferences-comprehensive-response", example(DOCREF))


def find_lists() -> dict[str, Any]:
    return searchset(
        "pdsm-find-lists-response", example("List-ExampleSubmissionSet.json"), example("List-ExampleFolder.json")
    )


RESPONSE = "Bundle-a9c10f8a-882d-4000-a280-7150e0aeb478.json"
SIMPLIFIED = "DocumentReference-PDSmSimplifiedExample.json"
FOLDER = "List-ExampleFolder.json"


@pytest.mark.parametrize("name", [RESPONSE, SIMPLIFIED, FOLDER])
def test_new_profiles_released_examples_are_valid(name):
    report = validate_resource(example(name))
    assert report.verdict == "valid", [(i.rule, i.element, i.message) for i in report.issues]


@pytest.mark.parametrize("build", [find_documents, find_lists], ids=["find-documents", "find-lists"])
def test_find_responses_carrying_released_examples_are_valid(build):
    report = validate_resource(build())
    assert report.verdict == "valid", [(i.rule, i.element, i.message) for i in report.errors()]
    assert report.profiles


def broken(name: str, change) -> dict[str, Any]:
    resource = example(name)
    change(resource)
    return resource


BROKEN = {
    "response-without-location": (
        lambda: broken(RESPONSE, lambda r: r["entry"][0]["response"].pop("location")),
        ("fhir.cardinality", "Bundle.entry.response.location"),
    ),
    "response-not-transaction-response": (
        lambda: broken(RESPONSE, lambda r: r.update(type="batch-response")),
        ("fhir.pattern", "Bundle.type"),
    ),
    "simplified-with-url": (
        lambda: broken(SIMPLIFIED, lambda r: r["content"][0]["attachment"].update(url="Binary/1")),
        ("fhir.cardinality", "DocumentReference.content.attachment.url"),
    ),
    "simplified-without-title": (
        lambda: broken(SIMPLIFIED, lambda r: r["content"][0]["attachment"].pop("title")),
        ("fhir.cardinality", "DocumentReference.content.attachment.title"),
    ),
    "simplified-not-current": (
        lambda: broken(SIMPLIFIED, lambda r: r.update(status="superseded")),
        ("fhir.pattern", "DocumentReference.status"),
    ),
    "folder-without-date": (
        lambda: broken(FOLDER, lambda r: r.pop("date")),
        ("fhir.cardinality", "List.date"),
    ),
    "folder-without-entry": (
        lambda: broken(FOLDER, lambda r: r.pop("entry")),
        ("fhir.cardinality", "List.entry"),
    ),
    "find-documents-without-total": (
        lambda: {k: v for k, v in find_documents().items() if k != "total"},
        ("fhir.cardinality", "Bundle.total"),
    ),
    "find-documents-entry-without-authenticator": (
        lambda: _without_authenticator(find_documents()),
        ("fhir.cardinality", "DocumentReference.authenticator"),
    ),
    "find-lists-not-searchset": (
        lambda: {**find_lists(), "type": "collection"},
        ("fhir.fixed", "Bundle.type"),
    ),
    "find-lists-with-a-document-entry": (
        lambda: _with_document_entry(find_lists()),
        ("fhir.slice", "Bundle.entry"),
    ),
    "find-lists-folder-without-date": (
        lambda: _folder_without_date(find_lists()),
        ("fhir.cardinality", "List.date"),
    ),
}


def _without_authenticator(bundle: dict[str, Any]) -> dict[str, Any]:
    del bundle["entry"][0]["resource"]["authenticator"]
    return bundle


def _with_document_entry(bundle: dict[str, Any]) -> dict[str, Any]:
    bundle["entry"].append({"fullUrl": "https://pdsm.example/fhir/DocumentReference/x", "resource": example(DOCREF)})
    return bundle


def _folder_without_date(bundle: dict[str, Any]) -> dict[str, Any]:
    del bundle["entry"][1]["resource"]["date"]
    return bundle


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_new_profiles_broken_variants_are_invalid(case):
    build, (rule, element) = BROKEN[case]
    report = validate_resource(build())
    found = [(i.rule, i.element) for i in report.errors()]
    assert (rule, element) in found, found
