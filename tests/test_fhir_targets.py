"""Reference target profiles (fhir.reference-target): a reference resolved inside the input must
point at a resource conforming to one of its target profiles; what does not resolve is not judged."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from harness.content.fhir import validate_resource

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "fhir"
AS = "https://interop.esante.gouv.fr/ig/fhir/annuaire/StructureDefinition/"
FR_CORE = "https://hl7.fr/ig/fhir/core/StructureDefinition/"


def docref() -> dict[str, Any]:
    return json.loads((FIXTURES / "pdsm" / "document-reference.json").read_text(encoding="utf-8"))


def contained(resource: dict[str, Any], resource_type: str) -> dict[str, Any]:
    return next(c for c in resource["contained"] if c["resourceType"] == resource_type)


def target_findings(resource: dict[str, Any], profile: str | None = None) -> list[tuple[str | None, str]]:
    return [
        (i.element, i.severity)
        for i in validate_resource(resource, profile).issues
        if i.rule == "fhir.reference-target"
    ]


def test_a_conforming_target_gives_no_finding():
    assert target_findings(docref()) == []


def test_a_contained_target_breaking_its_target_profile_is_an_error():
    # author/authenticator only Reference(AsPractitionerRoleProfile); the role's organization only
    # Reference(AsOrganizationProfile), on FR Core Organization (identifier.system 1..).
    resource = docref()
    del contained(resource, "Organization")["identifier"][0]["system"]
    found = target_findings(resource)
    assert ("DocumentReference.author", "error") in found
    assert ("DocumentReference.authenticator", "error") in found
    report = validate_resource(resource)
    issue = next(i for i in report.issues if i.rule == "fhir.reference-target")
    assert AS + "as-practitionerrole" in issue.message and issue.message_fr and not report.valid


def test_the_role_itself_names_the_organization_that_breaks_its_target_profile():
    resource = docref()
    role = copy.deepcopy(contained(resource, "PractitionerRole"))
    org = copy.deepcopy(contained(resource, "Organization"))
    del org["identifier"][0]["system"]
    role["contained"] = [org]
    role["organization"] = {"reference": "#org"}
    role.pop("practitioner")
    assert target_findings(role, AS + "as-practitionerrole") == [("PractitionerRole.organization", "error")]
    org["identifier"][0]["system"] = "urn:oid:1.2.250.1.71.4.2.2"
    assert target_findings(role, AS + "as-practitionerrole") == []


def test_an_unresolvable_reference_is_not_judged():
    resource = docref()
    resource["author"] = [{"reference": "PractitionerRole/held-elsewhere"}]
    assert target_findings(resource) == []


def test_a_core_target_asks_for_the_type_only():
    # author only Reference(AsPractitionerRole or Device or FRCorePatient): a bare Device is fine.
    resource = docref()
    resource["contained"].append({"resourceType": "Device", "id": "device"})
    resource["author"] = [{"reference": "#device"}]
    assert target_findings(resource) == []


def test_a_target_profile_not_held_is_not_judged():
    # FR Core PractitionerRole.location only Reference(FRCoreLocationProfile), not held here.
    role = {
        "resourceType": "PractitionerRole",
        "contained": [{"resourceType": "Location", "id": "loc"}],
        "location": [{"reference": "#loc"}],
    }
    assert target_findings(role, FR_CORE + "fr-core-practitioner-role") == []


def test_references_in_a_cycle_end():
    def organization(own: str, parent: str) -> dict[str, Any]:
        return {
            "fullUrl": own,
            "resource": {
                "resourceType": "Organization",
                "meta": {"profile": [AS + "as-organization"]},
                "identifier": [{"system": "urn:oid:1.2.250.1.71.4.2.2"}],
                "partOf": {"reference": parent},
            },
        }

    first, second = "urn:uuid:4c1b5f0e-0000-4000-8000-000000000001", "urn:uuid:4c1b5f0e-0000-4000-8000-000000000002"
    entries = [organization(first, second), organization(second, first)]
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": entries}
    found = target_findings(bundle)
    assert all(severity == "error" for _, severity in found)  # identifier.value is missing in both
    assert found, "each partOf target breaks FR Core Organization (identifier.value 1..)"
