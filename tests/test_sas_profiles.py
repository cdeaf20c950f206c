"""The SAS guide's profiles (profiles/fhir/sas-*.json): pinned source, the guide's own examples pass,
a broken variant of each fails on the rule it breaks.

The examples are the guide's FSH instances (input/fsh/examples/, commit b70e7049, ans.fhir.fr.sas 1.2.0)
written as the JSON SUSHI makes of them (assigned pattern values filled in, as SUSHI does).
"""

from __future__ import annotations

import copy
import json

import pytest

from harness.content.fhir import validate_resource
from harness.core.paths import data_dir

SAS_COMMIT = "b70e7049efb5e23b921befbaf200be0433f446f7"
SAS = "http://sas.fr/fhir/StructureDefinition/"
FRV2 = "http://interopsante.org/fhir/CodeSystem/fr-v2-0203"
IDNPS = {"type": {"coding": [{"system": FRV2, "code": "IDNPS"}]}, "system": "urn:oid:1.2.250.1.71.4.2.1"}

# ExampleSlotPSIndiv1
SLOT = {
    "resourceType": "Slot",
    "meta": {
        "security": [
            {
                "system": "https://mos.esante.gouv.fr/NOS/TRE_R314-TypeCreneau/FHIR/TRE-R314-TypeCreneau",
                "code": "PUBLIC",
            }
        ]
    },
    "serviceType": [
        {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"}]},
        {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "VR"}]},
        {"text": "Visite de contrôle"},
    ],
    "appointmentType": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0276", "code": "ROUTINE"}]},
    "schedule": {"reference": "Schedule/ExampleSchedule1"},
    "status": "free",
    "start": "2021-11-05T09:00:00.000+00:00",
    "end": "2021-11-05T09:30:00.000+00:00",
    "comment": "https://exemple.com/rdv/com/",
}
# ExamplePractitioner
PRACTITIONER = {
    "resourceType": "Practitioner",
    "identifier": [{**IDNPS, "value": "810002909371"}],
    "name": [{"family": "Foret", "given": ["Pierre"]}],
}
# ExamplePractitionerRoleAgregateur with ExampleLocation contained
ROLE = {
    "resourceType": "PractitionerRole",
    "contained": [
        {
            "resourceType": "Location",
            "id": "ExampleLocation",
            "address": {"line": ["25 CHEMIN DE MOUNESTIE"], "city": "Aussonne", "postalCode": "31840"},
        }
    ],
    "practitioner": {"reference": "Practitioner/ExamplePractitioner"},
    "organization": {
        "identifier": {
            "type": {"coding": [{"system": FRV2, "code": "IDNST"}]},
            "system": "urn:oid:1.2.250.1.71.4.2.2",
            "value": "412345678912345",
        }
    },
    "location": [{"reference": "#ExampleLocation"}],
    "telecom": [{"system": "phone", "value": "+33561855977"}],
}
# ExamplePractitionerRegul1
REGULATOR = {
    "resourceType": "Practitioner",
    "meta": {"source": "urn:oid:1.2.250.1.213.3.6"},
    "identifier": [{**IDNPS, "value": "3456780581/11242343"}],
    "active": True,
    "name": [{"family": "Loridon", "given": ["Sébastien"]}],
    "telecom": [{"system": "email", "value": "sebastien.loridon@test.com"}],
}
# ExampleAppointmentBooked
APPOINTMENT = {
    "resourceType": "Appointment",
    "identifier": [{"system": "urn:oid:1.1.111.1.11.1.1.1", "value": "b6e39355-8a61-4556-b340-36f7b95fec6a"}],
    "status": "booked",
    "start": "2022-09-04T14:00:00+01:00",
    "end": "2022-09-04T14:15:00+01:00",
    "created": "2022-09-04T10:00:00+01:00",
    "participant": [{"actor": {"identifier": {**IDNPS, "value": "810100050075"}}, "status": "accepted"}],
}
REGUL_URL = "https://interop.esante.gouv.fr/ig/fhir/sas/StructureDefinition/FrPractitionerRegul"

EXAMPLES = [
    (SLOT, SAS + "FrSlotAgregateur"),
    (PRACTITIONER, SAS + "FrPractitionerAgregateur"),
    (ROLE, SAS + "FrPractitionerRoleExerciceAgregateur"),
    (REGULATOR, REGUL_URL),
    (APPOINTMENT, SAS + "FrAppointmentSAS"),
]


def errors(resource, profile):
    return sorted((i.rule, i.expression) for i in validate_resource(resource, profile).issues if i.severity == "error")


def test_every_sas_profile_cites_the_release_commit():
    files = sorted((data_dir("profiles") / "fhir").glob("sas-*.json"))
    assert len(files) == 8
    for path in files:
        source = json.loads(path.read_text(encoding="utf-8"))["source"]
        assert SAS_COMMIT in source and "no 1.2.0 tag" in source, path.name


@pytest.mark.parametrize(("resource", "profile"), EXAMPLES, ids=[p.rsplit("/", 1)[1] for _, p in EXAMPLES])
def test_the_guides_examples_conform(resource, profile):
    assert errors(resource, profile) == []


def broken(resource, change):
    copied = copy.deepcopy(resource)
    change(copied)
    return copied


@pytest.mark.parametrize(
    ("resource", "profile", "rule"),
    [
        (broken(SLOT, lambda r: r.update(status="busy")), SAS + "FrSlotAgregateur", "fhir.fixed"),
        (
            broken(PRACTITIONER, lambda r: r["identifier"][0].update(value="10002909371")),
            SAS + "FrPractitionerAgregateur",
            "fhir.check.idnatps",
        ),
        (
            broken(PRACTITIONER, lambda r: r["identifier"][0].update(system="https://rpps.esante.gouv.fr")),
            SAS + "FrPractitionerAgregateur",
            "fhir.pattern",
        ),
        (broken(ROLE, lambda r: r.pop("location")), SAS + "FrPractitionerRoleExerciceAgregateur", "fhir.cardinality"),
        (broken(ROLE, lambda r: r.pop("contained")), SAS + "FrPractitionerRoleExerciceAgregateur", "fhir.cardinality"),
        (broken(REGULATOR, lambda r: r.pop("active")), REGUL_URL, "fhir.cardinality"),
        (broken(REGULATOR, lambda r: r["meta"].update(source="urn:oid:1.2.3")), REGUL_URL, "fhir.pattern"),
        (broken(APPOINTMENT, lambda r: r.pop("identifier")), SAS + "FrAppointmentSAS", "fhir.cardinality"),
        (
            broken(APPOINTMENT, lambda r: r["participant"][0].update(status="declined")),
            SAS + "FrAppointmentSAS",
            "fhir.pattern",
        ),
    ],
)
def test_a_broken_example_fails_its_rule(resource, profile, rule):
    assert rule in {found for found, _ in errors(resource, profile)}, errors(resource, profile)


def test_the_bundle_profile_judges_its_entries():
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": 1,
        "entry": [{"fullUrl": "https://x/Slot/1", "resource": {**SLOT, "id": "1"}}],
    }
    assert errors(bundle, SAS + "BundleAgregateur") == []
    bundle["type"] = "collection"
    bundle["entry"][0]["resource"]["status"] = "busy"
    rules = {rule for rule, _ in errors(bundle, SAS + "BundleAgregateur")}
    assert rules == {"fhir.fixed"} and len(errors(bundle, SAS + "BundleAgregateur")) == 2
