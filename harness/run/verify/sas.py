"""SAS couloir: the product's FHIR answers to the SAS platform, judged from the recorded exchanges.

Pure functions from what the harness's SAS client recorded (``harness.run.sas_client.SasAnswer``)
to findings. Profile rules come from ``profiles/fhir/sas-*.json`` (ans.fhir.fr.sas 1.2.0); the
rules a profile cannot hold (the search semantics, the codes the guide's page names, mTLS) are here.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Iterable
from typing import Any

from harness.content.fhir import validate_resource
from harness.core.results import Finding, SkipKind
from harness.core.skips import NotEvaluated

SAS = "http://sas.fr/fhir/StructureDefinition/"
BUNDLE_PROFILE = SAS + "BundleAgregateur"
SLOT_PROFILE = SAS + "FrSlotAgregateur"
PRACTITIONER_PROFILE = SAS + "FrPractitionerAgregateur"
ROLE_PROFILE = SAS + "FrPractitionerRoleExerciceAgregateur"
REGUL_PROFILE = "https://interop.esante.gouv.fr/ig/fhir/sas/StructureDefinition/FrPractitionerRegul"
IDNPS_SYSTEM = "urn:oid:1.2.250.1.71.4.2.1"
# The guide's page specifications_techniques-ps-recherche_creneaux, "Nomenclatures".
SLOT_TYPE_SYSTEM = "https://mos.esante.gouv.fr/NOS/TRE_R314-TypeCreneau/FHIR/TRE-R314-TypeCreneau"
SLOT_TYPES = ("PUBLIC", "PRO", "SNP")
ACT_CODE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
CONSULTATION_TYPES = ("AMB", "HH", "VR")
POSTAL_CODE = re.compile(r"^[0-9]{5}$")  # ANS SAS kit agg-psindiv 40


def finding(rule: str, message: str, message_fr: str, **more: Any) -> Finding:
    return Finding(rule=rule, message=message, message_fr=message_fr, **more)


def answered(answer: Any, what: str) -> list[Finding]:
    """The request got an HTTP 200 with a JSON body."""
    where = f"{answer.method} {answer.url}"
    if answer.status is None:
        return [
            finding(
                "sas.http",
                f"{what}: no HTTP answer ({answer.transport_error})",
                f"{what} : aucune réponse HTTP ({answer.transport_error})",
                location=where,
                evidence=(answer.exchange_id,),
            )
        ]
    if answer.status != 200 or not isinstance(answer.json(), dict):
        return [
            finding(
                "sas.http",
                f"{what}: expected HTTP 200 with a FHIR JSON body",
                f"{what} : HTTP 200 attendu avec un corps FHIR JSON",
                expected="200",
                received=f"{answer.status} {answer.body[:120]!r}",
                location=where,
                evidence=(answer.exchange_id,),
            )
        ]
    return []


def capability_statement(resource: dict[str, Any], evidence: str) -> list[Finding]:
    findings = []
    if resource.get("resourceType") != "CapabilityStatement":
        return [
            finding(
                "sas.capability",
                "GET /metadata answers no CapabilityStatement",
                "GET /metadata ne renvoie pas de CapabilityStatement",
                expected="CapabilityStatement",
                received=str(resource.get("resourceType")),
                evidence=(evidence,),
            )
        ]
    if resource.get("fhirVersion") != "4.0.1":
        findings.append(
            finding(
                "sas.capability",
                "the CapabilityStatement declares another FHIR version",
                "le CapabilityStatement déclare une autre version FHIR",
                expected="4.0.1",
                received=str(resource.get("fhirVersion")),
                location="CapabilityStatement.fhirVersion",
                evidence=(evidence,),
            )
        )
    servers = [r for r in resource.get("rest") or [] if isinstance(r, dict) and r.get("mode") == "server"]
    slot = [
        res for r in servers for res in r.get("resource") or [] if isinstance(res, dict) and res.get("type") == "Slot"
    ]
    codes = {i.get("code") for res in slot for i in res.get("interaction") or [] if isinstance(i, dict)}
    if "search-type" not in codes:
        findings.append(
            finding(
                "sas.capability",
                "the CapabilityStatement does not declare the Slot search (search-type)",
                "le CapabilityStatement ne déclare pas la recherche de Slot (search-type)",
                expected="rest[mode=server].resource[type=Slot].interaction.code = search-type",
                received=", ".join(sorted(str(c) for c in codes)) or "aucune",
                evidence=(evidence,),
            )
        )
    return findings


def _resources(bundle: dict[str, Any], resource_type: str) -> list[dict[str, Any]]:
    return [
        e["resource"]
        for e in bundle.get("entry") or []
        if isinstance(e, dict)
        and isinstance(e.get("resource"), dict)
        and e["resource"].get("resourceType") == resource_type
    ]


def slots(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return _resources(bundle, "Slot")


def _instant(text: Any) -> dt.datetime | None:
    try:
        moment = dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else None


def within_window(
    bundle: dict[str, Any], start_from: dt.datetime, start_to: dt.datetime, evidence: str
) -> list[Finding]:
    findings = []
    for slot in slots(bundle):
        start = _instant(slot.get("start"))
        if start is None or not start_from <= start <= start_to:
            findings.append(
                finding(
                    "sas.window",
                    "a slot starts outside the searched window",
                    "un créneau commence hors de la période recherchée",
                    expected=f"{start_from.isoformat()} ≤ start ≤ {start_to.isoformat()}",
                    received=str(slot.get("start")),
                    location=f"Slot/{slot.get('id')}",
                    evidence=(evidence,),
                )
            )
    return findings


def only_free(bundle: dict[str, Any], evidence: str) -> list[Finding]:
    return [
        finding(
            "sas.status",
            "a status=free search returned a slot that is not free",
            "une recherche status=free a renvoyé un créneau non libre",
            expected="free",
            received=str(s.get("status")),
            location=f"Slot/{s.get('id')}.status",
            evidence=(evidence,),
        )
        for s in slots(bundle)
        if s.get("status") != "free"
    ]


def profile(resource: dict[str, Any], url: str, evidence: str, *, rules: Iterable[str] = ()) -> list[Finding]:
    """Findings of ``url`` (only ``rules`` when given) on ``resource``; a profile not held is not judged."""
    report = validate_resource(resource, url)
    if report.not_held:
        raise NotEvaluated(
            SkipKind.PROFILE_NOT_HELD,
            f"profiles not held: {', '.join(report.not_held)}",
            f"profils non détenus : {', '.join(report.not_held)}",
        )
    wanted = tuple(rules)
    findings = []
    for issue in report.issues:
        if issue.severity != "error" or (wanted and not issue.rule.startswith(wanted)):
            continue
        findings.append(dataclasses.replace(issue.to_finding(), evidence=(evidence,)))
    return findings


def slot_content(bundle: dict[str, Any], evidence: str) -> list[Finding]:
    """FrSlotAgregateur, plus the codes and the booking URL the guide's page asks for."""
    findings = []
    for slot in slots(bundle):
        findings += profile(slot, SLOT_PROFILE, evidence)
        where = f"Slot/{slot.get('id')}"
        security = [c for c in (slot.get("meta") or {}).get("security") or [] if isinstance(c, dict)]
        if not any(c.get("system") == SLOT_TYPE_SYSTEM and c.get("code") in SLOT_TYPES for c in security):
            findings.append(
                finding(
                    "sas.slot-type",
                    "the slot type (meta.security) is not a TRE_R314 code",
                    "le type de créneau (meta.security) n'est pas un code TRE_R314",
                    expected=f"{SLOT_TYPE_SYSTEM}: {' | '.join(SLOT_TYPES)}",
                    received=str(security),
                    location=f"{where}.meta.security",
                    evidence=(evidence,),
                )
            )
        codings = [
            c for st in slot.get("serviceType") or [] for c in (st or {}).get("coding") or [] if isinstance(c, dict)
        ]
        if not any(c.get("system") == ACT_CODE_SYSTEM and c.get("code") in CONSULTATION_TYPES for c in codings):
            findings.append(
                finding(
                    "sas.consultation-type",
                    "the consultation type (serviceType) is not AMB, HH or VR",
                    "le type de consultation (serviceType) n'est pas AMB, HH ou VR",
                    expected=f"{ACT_CODE_SYSTEM}: {' | '.join(CONSULTATION_TYPES)}",
                    received=str(codings),
                    location=f"{where}.serviceType",
                    evidence=(evidence,),
                )
            )
        comment = slot.get("comment")
        if not isinstance(comment, str) or not re.match(r"^https?://\S+$", comment):
            findings.append(
                finding(
                    "sas.booking-url",
                    "a free slot carries no booking URL in Slot.comment",
                    "un créneau libre ne porte pas d'URL de prise de rendez-vous dans Slot.comment",
                    expected="https://…",
                    received=str(comment),
                    location=f"{where}.comment",
                    evidence=(evidence,),
                )
            )
    return findings


def _by_reference(bundle: dict[str, Any]) -> dict[str, dict[str, Any]]:
    index = {}
    for entry in bundle.get("entry") or []:
        resource = (entry or {}).get("resource")
        if isinstance(resource, dict):
            index[f"{resource.get('resourceType')}/{resource.get('id')}"] = resource
            if entry.get("fullUrl"):
                index[str(entry["fullUrl"])] = resource
    return index


def _resolve(index: dict[str, dict[str, Any]], reference: Any) -> dict[str, Any] | None:
    text = (reference or {}).get("reference") if isinstance(reference, dict) else None
    if not isinstance(text, str):
        return None
    return index.get(text) or next((r for k, r in index.items() if k.endswith("/" + text)), None)


def includes(bundle: dict[str, Any], evidence: str) -> list[Finding]:
    """Each slot's Schedule is in the Bundle and names a Practitioner and a PractitionerRole that are too."""
    index, findings = _by_reference(bundle), []
    for slot in slots(bundle):
        where = f"Slot/{slot.get('id')}"
        schedule = _resolve(index, slot.get("schedule"))
        if schedule is None:
            findings.append(
                finding(
                    "sas.include",
                    "the slot's Schedule is not in the Bundle (_include=Slot:schedule)",
                    "le Schedule du créneau n'est pas dans le Bundle (_include=Slot:schedule)",
                    expected="Schedule inclus",
                    received=str(slot.get("schedule")),
                    location=f"{where}.schedule",
                    evidence=(evidence,),
                )
            )
            continue
        actors = [_resolve(index, a) for a in schedule.get("actor") or []]
        kinds = {a.get("resourceType") for a in actors if a}
        for kind in ("Practitioner", "PractitionerRole"):
            if kind not in kinds:
                findings.append(
                    finding(
                        "sas.include",
                        f"the Schedule's {kind} is not in the Bundle (_include:iterate=Schedule:actor)",
                        f"le {kind} du Schedule n'est pas dans le Bundle (_include:iterate=Schedule:actor)",
                        expected=f"{kind} inclus",
                        received=", ".join(sorted(str(k) for k in kinds)) or "aucun",
                        location=f"Schedule/{schedule.get('id')}.actor",
                        evidence=(evidence,),
                    )
                )
        for role in (a for a in actors if a and a.get("resourceType") == "PractitionerRole"):
            if _resolve(index, role.get("practitioner")) is None:
                findings.append(
                    finding(
                        "sas.include",
                        "the PractitionerRole's practitioner is not in the Bundle",
                        "le practitioner du PractitionerRole n'est pas dans le Bundle",
                        expected="Practitioner inclus",
                        received=str(role.get("practitioner")),
                        location=f"PractitionerRole/{role.get('id')}.practitioner",
                        evidence=(evidence,),
                    )
                )
    return findings


def practitioners_of(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return _resources(bundle, "Practitioner")


def practitioner_identifiers(bundle: dict[str, Any], searched: Iterable[str], evidence: str) -> list[Finding]:
    """Each Practitioner carries, in the idNatPs system, one of the identifiers the SAS searched."""
    wanted, findings = set(searched), []
    for practitioner in practitioners_of(bundle):
        findings += profile(practitioner, PRACTITIONER_PROFILE, evidence)
        values = {
            i.get("value")
            for i in practitioner.get("identifier") or []
            if isinstance(i, dict) and i.get("system") == IDNPS_SYSTEM
        }
        if not values & wanted:
            findings.append(
                finding(
                    "sas.practitioner-id",
                    "the Practitioner is not identified by the idNatPs the SAS searched",
                    "le Practitioner n'est pas identifié par l'idNatPs recherché par le SAS",
                    expected=" | ".join(sorted(wanted)),
                    received=", ".join(sorted(str(v) for v in values)) or "aucun",
                    location=f"Practitioner/{practitioner.get('id')}.identifier",
                    evidence=(evidence,),
                )
            )
    return findings


def roles(bundle: dict[str, Any], evidence: str) -> list[Finding]:
    findings = []
    for role in _resources(bundle, "PractitionerRole"):
        findings += profile(role, ROLE_PROFILE, evidence)
        locations = [
            c for c in role.get("contained") or [] if isinstance(c, dict) and c.get("resourceType") == "Location"
        ]
        if not locations:
            findings.append(
                finding(
                    "sas.location",
                    "the PractitionerRole contains no Location",
                    "le PractitionerRole ne contient pas de Location",
                    expected="contained Location",
                    received="aucune",
                    location=f"PractitionerRole/{role.get('id')}.contained",
                    evidence=(evidence,),
                )
            )
        for location in locations:
            address = location.get("address") or {}
            code = address.get("postalCode") if isinstance(address, dict) else None
            if not isinstance(code, str) or not POSTAL_CODE.match(code):
                findings.append(
                    finding(
                        "sas.location",
                        "the consultation address has no 5-digit postal code",
                        "l'adresse de consultation n'a pas de code postal à 5 chiffres",
                        expected="[0-9]{5}",
                        received=str(code),
                        location=f"PractitionerRole/{role.get('id')}.contained.address.postalCode",
                        evidence=(evidence,),
                    )
                )
    return findings
