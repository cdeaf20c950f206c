"""FHIR resources a product produces: profile findings sorted by requirement, and the checks a
profile cannot express (a document bundle consistent with the document it carries)."""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable
from typing import Any

from harness.content.cda import NotACda, read_cda
from harness.content.fhir import FhirIssue, FhirReport
from harness.core.ins import INS_OIDS
from harness.core.results import Finding, Severity, SkipKind
from harness.core.skips import NotEvaluated
from harness.protocols.xds_cda import read_header

STRUCTURE_RULES = ("fhir.json", "fhir.structure")


def structure(report: FhirReport) -> list[Finding]:
    return [issue.to_finding() for issue in report.issues if issue.rule in STRUCTURE_RULES]


def profile_findings(
    report: FhirReport,
    profile: str,
    *,
    elements: Iterable[str] = (),
    rules: Iterable[str] = (),
    exclude_elements: Iterable[str] = (),
    exclude_rules: Iterable[str] = (),
) -> list[Finding]:
    """Findings judged by ``profile``: those on element ids starting with ``elements`` or with a
    rule in ``rules`` (everything when both are empty), minus the excluded ones."""
    wanted_elements, wanted_rules = tuple(elements), tuple(rules)
    excluded_elements, excluded_rules = tuple(exclude_elements), tuple(exclude_rules)

    def selected(issue: FhirIssue) -> bool:
        if issue.profile != profile or issue.rule in STRUCTURE_RULES or issue.rule in excluded_rules:
            return False
        element = issue.element or ""
        if excluded_elements and element.startswith(excluded_elements):
            return False
        if not wanted_elements and not wanted_rules:
            return True
        return (bool(wanted_elements) and element.startswith(wanted_elements)) or issue.rule in wanted_rules

    findings = [issue.to_finding() for issue in report.issues if selected(issue)]
    if report.not_held and not any(f.severity is Severity.ERROR for f in findings):
        raise not_judged(report)
    return findings


def not_judged(report: FhirReport) -> NotEvaluated:
    """A resource that claims profiles the harness does not hold is never passed: what they require
    was not judged. (An error the held profiles found still fails it.)"""
    names = ", ".join(report.not_held)
    return NotEvaluated(
        SkipKind.PROFILE_NOT_HELD,
        f"not judged: the resource claims profiles the harness does not hold ({names})",
        f"non jugée : la ressource se réclame de profils que le harnais ne détient pas ({names})",
    )


def by_rule(report: FhirReport, *rules: str) -> list[Finding]:
    return [issue.to_finding() for issue in report.issues if issue.rule in rules]


def _identifiers_with_ins(patient: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for identifier in patient.get("identifier") or []:
        system = identifier.get("system") if isinstance(identifier, dict) else None
        if isinstance(system, str) and system.removeprefix("urn:oid:") in INS_OIDS:
            out.append(identifier)
    return out


def no_ins_without_qualification(patient: dict[str, Any], status: str) -> list[Finding]:
    """Facts §1.3: only a qualified identity may carry the matricule INS in what is exchanged."""
    carried = _identifiers_with_ins(patient)
    if status == "QUAL" or not carried:
        return []
    return [
        Finding(
            "fhir.ins.unqualified",
            f"the identity is {status}, not qualified, yet the Patient carries the matricule INS",
            message_fr=f"l'identité est au statut {status}, non qualifiée, "
            "et pourtant le Patient porte le matricule INS",
            location="Patient.identifier",
            expected="no identifier under an INS OID",
            expected_fr="aucun identifiant sous un OID d'INS",
            received=", ".join(f"{i.get('system')}|{i.get('value')}" for i in carried),
        )
    ]


def ins_matches(patient: dict[str, Any], identity: dict[str, Any], where: str) -> list[Finding]:
    values = {(i.get("value"), i.get("system")) for i in _identifiers_with_ins(patient)}
    expected = (identity["ins"], f"urn:oid:{identity['oid']}")
    if expected in values:
        return []
    return [
        Finding(
            "fhir.ins.patient",
            "the Patient does not carry the patient's INS under its OID",
            message_fr="la ressource Patient ne porte pas l'INS du patient sous son OID",
            location=where,
            expected=f"{expected[1]}|{expected[0]}",
            received=", ".join(f"{s}|{v}" for v, s in sorted(values, key=str)) or "no INS",
            received_fr=None if values else "aucun INS",
        )
    ]


def bundle_consistency(bundle: dict[str, Any], identity: dict[str, Any]) -> list[Finding]:
    """Each DocumentReference of an ITI-65 bundle against the Binary it points at: size, SHA-1,
    document type and patient; the Patient entry against the patient's INS."""
    findings: list[Finding] = []
    entries = [e for e in bundle.get("entry") or [] if isinstance(e, dict) and isinstance(e.get("resource"), dict)]
    by_url = {e.get("fullUrl"): e["resource"] for e in entries}
    documents = [
        (i, e["resource"]) for i, e in enumerate(entries) if e["resource"].get("resourceType") == "DocumentReference"
    ]
    if not documents:
        return [
            Finding(
                "fhir.bundle.document",
                "the bundle carries no DocumentReference",
                message_fr="le Bundle ne porte aucune DocumentReference",
                location="Bundle.entry",
            )
        ]
    for position, docref in documents:
        base = f"Bundle.entry[{position}].resource"
        subject = by_url.get((docref.get("subject") or {}).get("reference"))
        if subject is None or subject.get("resourceType") != "Patient":
            findings.append(
                Finding(
                    "fhir.bundle.subject",
                    "the subject is no Patient entry of the bundle",
                    message_fr="le subject ne désigne aucune entrée Patient du Bundle",
                    location=f"{base}.subject",
                )
            )
        else:
            findings += ins_matches(subject, identity, f"{base}.subject")
        for index, content in enumerate(docref.get("content") or []):
            attachment = (content or {}).get("attachment") or {}
            where = f"{base}.content[{index}].attachment"
            binary = by_url.get(attachment.get("url"))
            if binary is None or binary.get("resourceType") != "Binary":
                findings.append(
                    Finding(
                        "fhir.bundle.binary",
                        "attachment.url names no Binary entry of the bundle",
                        message_fr="attachment.url ne désigne aucune entrée Binary du Bundle",
                        location=f"{where}.url",
                        received=str(attachment.get("url")),
                    )
                )
                continue
            try:
                data = base64.b64decode(binary.get("data") or "", validate=True)
            except (binascii.Error, ValueError):
                findings.append(
                    Finding(
                        "fhir.bundle.binary",
                        "the Binary's data is not base64",
                        message_fr="le champ data du Binary n'est pas en base64",
                        location=f"{where}.url",
                    )
                )
                continue
            if attachment.get("size") != len(data):
                findings.append(
                    Finding(
                        "fhir.bundle.size",
                        "attachment.size is not the document's size",
                        message_fr="attachment.size n'est pas la taille du document",
                        location=f"{where}.size",
                        expected=str(len(data)),
                        received=str(attachment.get("size")),
                    )
                )
            sha1 = base64.b64encode(hashlib.sha1(data).digest()).decode("ascii")
            if attachment.get("hash") != sha1:
                findings.append(
                    Finding(
                        "fhir.bundle.hash",
                        "attachment.hash is not the base64 SHA-1 of the document",
                        message_fr="attachment.hash n'est pas le SHA-1 en base64 du document",
                        location=f"{where}.hash",
                        expected=sha1,
                        received=str(attachment.get("hash")),
                    )
                )
            findings += _cda_consistency(data, docref, identity, base)
    return findings


def _cda_consistency(data: bytes, docref: dict[str, Any], identity: dict[str, Any], base: str) -> list[Finding]:
    try:
        header = read_header(read_cda(data))
    except NotACda:
        return []  # not a CDA (a PDF, an image): nothing to compare
    findings = []
    codes = {c.get("code") for c in ((docref.get("type") or {}).get("coding") or []) if isinstance(c, dict)}
    if header.code not in codes:
        findings.append(
            Finding(
                "fhir.bundle.type",
                "DocumentReference.type is not the CDA's ClinicalDocument/code",
                message_fr="DocumentReference.type n'est pas le ClinicalDocument/code du CDA",
                location=f"{base}.type",
                expected=str(header.code),
                received=", ".join(sorted(map(str, codes))),
            )
        )
    if header.patient_ins and header.patient_ins[0] != identity["ins"]:
        findings.append(
            Finding(
                "fhir.bundle.patient",
                "the CDA in the bundle is not about this patient",
                message_fr="le CDA du Bundle ne concerne pas ce patient",
                location=f"{base}.content",
                expected=identity["ins"],
                received=header.patient_ins[0],
                severity=Severity.ERROR,
            )
        )
    return findings
