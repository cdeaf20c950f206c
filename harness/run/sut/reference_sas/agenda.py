"""The reference agenda's content: professionals, their slots, and the SAS search over them.

Pure functions from a search to FHIR R4 JSON (``ans.fhir.fr.sas`` 1.2.0, PS individuel): a
``searchset`` Bundle of FrSlotAgregateur slots with their Schedule, Practitioner and
PractitionerRole (Location contained), as the guide's page
``specifications_techniques-ps-recherche_creneaux`` describes. Named defects break one rule each.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

SAS_PROFILE = "http://sas.fr/fhir/StructureDefinition/"
IDNPS_SYSTEM = "urn:oid:1.2.250.1.71.4.2.1"
IDNST_SYSTEM = "urn:oid:1.2.250.1.71.4.2.2"
FR_V2_0203 = "http://interopsante.org/fhir/CodeSystem/fr-v2-0203"
SLOT_TYPE_SYSTEM = "https://mos.esante.gouv.fr/NOS/TRE_R314-TypeCreneau/FHIR/TRE-R314-TypeCreneau"
ACT_CODE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
APPOINTMENT_REASON_SYSTEM = "http://terminology.hl7.org/CodeSystem/v2-0276"
SPECIALTY_SYSTEM = "https://mos.esante.gouv.fr/NOS/TRE_R38-SpecialiteOrdinale/FHIR/TRE-R38-SpecialiteOrdinale"


@dataclass(frozen=True)
class Professional:
    """One professional of the agenda; ``slot_hours`` are the slot starts, in hours after the anchor."""

    key: str
    id_nat_ps: str
    family: str
    given: str
    structure_idnst: str
    line: str
    city: str
    postal_code: str
    slot_hours: tuple[float, ...]
    busy_hours: tuple[float, ...] = ()


# Test identities only (8 + an 11-digit RPPS in the 99 test range): never a real professional.
PROFESSIONALS: tuple[Professional, ...] = (
    Professional(
        "ps1",
        "899900000101",
        "MEDECIN",
        "Alice",
        "3750803447",
        "1 rue de la Paix",
        "Paris",
        "75002",
        (1.0, 5.0, 26.0, 60.0, 100.0),
        busy_hours=(3.0,),
    ),
    Professional(
        "ps2",
        "899900000102",
        "GENERALISTE",
        "Bruno",
        "3750803448",
        "2 avenue du Port",
        "Brest",
        "29200",
        (2.0, 30.0, 80.0),
        busy_hours=(4.0,),
    ),
    Professional(
        "ps3", "899900000103", "PEDIATRE", "Chloe", "3750803449", "3 place Bellecour", "Lyon", "69002", (6.0, 44.0)
    ),
)
# A professional the agenda knows with no free slot at all: the SAS asks, the answer is an empty Bundle.
WITHOUT_SLOTS = Professional(
    "ps4", "899900000104", "SANS-CRENEAU", "Denis", "3750803450", "4 quai Ouest", "Nantes", "44000", ()
)
ALL_PROFESSIONALS = (*PROFESSIONALS, WITHOUT_SLOTS)
SLOT_MINUTES = 20


class SearchError(ValueError):
    """A search the server cannot execute (FHIR: 400 with an OperationOutcome)."""


@dataclass(frozen=True)
class SlotSearch:
    start_from: dt.datetime
    start_to: dt.datetime
    id_nat_ps: tuple[str, ...]
    status: str


def fhir_instant(moment: dt.datetime) -> str:
    """``AAAA-MM-DDTHH:MM:SS.000+00:00``, the form the ANS SAS kit expects (agg-psindiv 45)."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000+00:00")


def _instant(text: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise SearchError(f"start: not a FHIR dateTime: {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def parse_search(params: list[tuple[str, str]], defects: frozenset[str] = frozenset()) -> SlotSearch:
    """Read ``GET [base]/Slot`` parameters; the guide makes start (ge and le), the identifiers and status mandatory."""
    start_from = start_to = None
    identifiers: list[str] = []
    status = None
    for name, value in params:
        if name == "start":
            if value.startswith("ge"):
                start_from = _instant(value[2:])
            elif value.startswith("le"):
                start_to = _instant(value[2:])
            else:
                raise SearchError(f"start needs the prefix ge or le, received {value!r}")
        elif name == "schedule.actor:Practitioner.identifier":
            for token in value.split(","):
                system, _, code = token.strip().rpartition("|")
                if system not in ("", IDNPS_SYSTEM) or not code:
                    raise SearchError(f"identifier token {token.strip()!r} is not {IDNPS_SYSTEM}|<idNatPs>")
                identifiers.append(code)
        elif name == "status":
            status = value
    if start_from is None or start_to is None:
        raise SearchError("start=ge<date> and start=le<date> are both mandatory")
    if not identifiers:
        raise SearchError("schedule.actor:Practitioner.identifier is mandatory")
    if len(identifiers) > 25:
        raise SearchError(f"at most 25 identifiers per search, received {len(identifiers)}")
    if "sas_first_identifier_only" in defects:
        identifiers = identifiers[:1]
    return SlotSearch(start_from, start_to, tuple(identifiers), status or "")


def _practitioner(p: Professional, defects: frozenset[str]) -> dict[str, Any]:
    value = p.id_nat_ps[1:] if "sas_practitioner_bare_rpps" in defects else p.id_nat_ps
    return {
        "resourceType": "Practitioner",
        "id": f"practitioner-{p.key}",
        "meta": {"profile": [SAS_PROFILE + "FrPractitionerAgregateur"]},
        "identifier": [
            {"type": {"coding": [{"system": FR_V2_0203, "code": "IDNPS"}]}, "system": IDNPS_SYSTEM, "value": value}
        ],
        "name": [{"family": p.family, "given": [p.given]}],
    }


def _role(p: Professional, defects: frozenset[str]) -> dict[str, Any]:
    role: dict[str, Any] = {
        "resourceType": "PractitionerRole",
        "id": f"role-{p.key}",
        "meta": {"profile": [SAS_PROFILE + "FrPractitionerRoleExerciceAgregateur"]},
        "practitioner": {"reference": f"Practitioner/practitioner-{p.key}"},
        "organization": {
            "identifier": {
                "type": {"coding": [{"system": FR_V2_0203, "code": "IDNST"}]},
                "system": IDNST_SYSTEM,
                "value": p.structure_idnst,
            }
        },
    }
    if "sas_role_without_location" not in defects:
        role["contained"] = [
            {
                "resourceType": "Location",
                "id": "lieu",
                "meta": {"profile": [SAS_PROFILE + "FrLocationAgregateur"]},
                "address": {"line": [p.line], "city": p.city, "postalCode": p.postal_code},
            }
        ]
        role["location"] = [{"reference": "#lieu"}]
    return role


def _schedule(p: Professional) -> dict[str, Any]:
    return {
        "resourceType": "Schedule",
        "id": f"schedule-{p.key}",
        "meta": {"profile": [SAS_PROFILE + "FrScheduleAgregateur"]},
        "actor": [
            {"reference": f"Practitioner/practitioner-{p.key}"},
            {"reference": f"PractitionerRole/role-{p.key}"},
        ],
    }


def _slot(
    p: Professional, index: int, start: dt.datetime, status: str, booking: str, defects: frozenset[str]
) -> dict[str, Any]:
    slot: dict[str, Any] = {
        "resourceType": "Slot",
        "id": f"slot-{p.key}-{index}",
        "meta": {
            "profile": [SAS_PROFILE + "FrSlotAgregateur"],
            "security": [{"system": SLOT_TYPE_SYSTEM, "code": "SNP"}],
        },
        "serviceType": [{"coding": [{"system": ACT_CODE_SYSTEM, "code": "AMB"}]}, {"text": "Consultation"}],
        "specialty": [{"coding": [{"system": SPECIALTY_SYSTEM, "code": "SM54"}]}],
        "appointmentType": {"coding": [{"system": APPOINTMENT_REASON_SYSTEM, "code": "ROUTINE"}]},
        "schedule": {"reference": f"Schedule/schedule-{p.key}"},
        "status": status,
        "start": fhir_instant(start),
        "end": fhir_instant(start + dt.timedelta(minutes=SLOT_MINUTES)),
    }
    if "sas_no_booking_url" not in defects:
        slot["comment"] = f"{booking}/rdv/{p.key}/{index}"
    return slot


def search_bundle(
    search: SlotSearch,
    anchor: dt.datetime,
    base_url: str,
    defects: frozenset[str] = frozenset(),
    booking: str = "https://agenda.invalid",
) -> dict[str, Any]:
    """The searchset Bundle answering ``search`` (slots as ``match``, the rest as ``include``);
    ``booking`` is the base of the agenda's web pages, where the booking URLs point."""
    wanted = set(search.id_nat_ps)
    only_free = search.status == "free" and "sas_ignores_status" not in defects
    in_window = "sas_ignores_window" not in defects
    entries: list[dict[str, Any]] = []
    included: list[dict[str, Any]] = []
    for p in PROFESSIONALS:
        if p.id_nat_ps not in wanted:
            continue
        slots = [(i, anchor + dt.timedelta(hours=h), "free") for i, h in enumerate(p.slot_hours)]
        if not only_free:
            slots += [(100 + i, anchor + dt.timedelta(hours=h), "busy") for i, h in enumerate(p.busy_hours)]
        if in_window:
            slots = [s for s in slots if search.start_from <= s[1] <= search.start_to]
        if not slots:
            continue
        for index, start, status in sorted(slots, key=lambda s: s[1]):
            entries.append(_entry(base_url, _slot(p, index, start, status, booking, defects), "match"))
        if "sas_no_include" not in defects:
            for resource in (_schedule(p), _practitioner(p, defects), _role(p, defects)):
                included.append(_entry(base_url, resource, "include"))
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "meta": {"profile": [SAS_PROFILE + "BundleAgregateur"]},
        "type": "collection" if "sas_bundle_not_searchset" in defects else "searchset",
        "total": len(entries),
        "entry": entries + included,
    }
    if not bundle["entry"]:
        del bundle["entry"]
    return bundle


def _entry(base_url: str, resource: dict[str, Any], mode: str) -> dict[str, Any]:
    return {
        "fullUrl": f"{base_url}/{resource['resourceType']}/{resource['id']}",
        "resource": resource,
        "search": {"mode": mode},
    }
