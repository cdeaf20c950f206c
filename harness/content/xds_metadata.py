"""Strict checks of an XDS.b submission for the DMP: identity, metadata, CDA consistency, signature.

Pure functions of (submission, documents): the ``dmp`` suite feeds them recorded TD2.1
requests; they know nothing of the mock. Rules come from facts §2.5 (DMP kit TD2.1,
STRUCMIN §3.5); each finding names the requirement it breaks.
"""

from __future__ import annotations

import re
from dataclasses import replace

from harness.content.cda import NotACda, read_cda, validate_document

# DMP-08 lives in xds_signature; its names stay importable from here.
from harness.content.xds_signature import (  # noqa: F401
    SIGNATURE_CLASS,
    SIGNATURE_FORMAT,
    check_signature_document,
    is_signature_entry,
)

# Reading a saved TD2.1 lives in xds_transport; its names stay importable from here.
from harness.content.xds_transport import NotASubmission, read_provide_request  # noqa: F401
from harness.core import ins
from harness.core.results import Finding, Severity
from harness.protocols import xds
from harness.protocols.xds_cda import read_header, ts_to_utc

OID = re.compile(r"^[0-2](\.(0|[1-9]\d*))+$")
DTM = re.compile(r"^\d{4}(\d{2}){0,5}$")
CLASS_CODES = {"10", "11", "31", "42", "43", "44", "45", "52", "60", "90", "95"}  # facts §2.5 (JDV J06/J57)
CONFIDENTIALITY = {"N", "R", "V"}


def _f(
    rule: str,
    requirement: str,
    message: str,
    location: str,
    *,
    message_fr: str,
    expected: str | None = None,
    received: str | None = None,
) -> Finding:
    """A finding of ``requirement``; ``message_fr`` is its French. A received "absent" needs no
    French: the word is the same in both languages."""
    return Finding(
        rule=rule,
        message=message,
        message_fr=message_fr,
        requirement=requirement,
        location=location,
        expected=expected,
        received=received,
    )


# -- DMP-04: the patient's identity ---------------------------------------------------------


def check_patient_identity(submission: xds.Submission, patient: dict[str, str] | None, where: str) -> list[Finding]:
    """patientId of the set and of every entry: the patient's INS as a CX with an INS OID.

    Without ``patient`` (a file judged on its own), every patientId must name the same INS.
    """
    findings = []
    holders = [*submission.submission_sets, *submission.documents]
    if patient is None:
        first = xds.patient_ins(holders[0].patient_id) if holders else None
        patient = {"ins": first[0], "oid": first[1] or ""} if first else {"ins": "", "oid": ""}
    expected = xds.format_cx(patient["ins"], patient["oid"])
    for holder in holders:
        value = holder.patient_id
        location = f"{where}, {holder.tag} {holder.id} patientId"
        if not value:
            findings.append(
                _f(
                    "dmp.patient-id",
                    "DMP-04",
                    "patientId is missing",
                    location,
                    message_fr="patientId est absent",
                    expected=expected,
                )
            )
            continue
        cx = xds.parse_cx(value)
        problems: list[tuple[str, str]] = []  # (English, French)
        if cx.authority_oid not in ins.INS_OIDS:
            problems.append(
                (
                    f"assigning authority {cx.authority_oid} is not an INS OID",
                    f"l'autorité d'affectation {cx.authority_oid} n'est pas un OID d'INS",
                )
            )
        elif ins.matricule_problems(cx.id):
            problems.append((f"{cx.id} is not a valid INS matricule", f"{cx.id} n'est pas un matricule INS valide"))
        if cx.id_type != "NH" or cx.authority_type != "ISO":
            problems.append(("the CX must end with &ISO^NH", "le CX doit se terminer par &ISO^NH"))
        if (cx.id, cx.authority_oid) != (patient["ins"], patient["oid"]):
            problems.append(("it is not the INS of the patient concerned", "ce n'est pas l'INS du patient concerné"))
        for problem, problem_fr in problems:
            findings.append(
                _f(
                    "dmp.patient-id",
                    "DMP-04",
                    f"patientId: {problem}",
                    location,
                    message_fr=f"patientId : {problem_fr}",
                    expected=expected,
                    received=value,
                )
            )
    return findings


# -- DMP-05: metadata -----------------------------------------------------------------------


def _coded(
    entry: xds.RegistryObject, scheme: str, systems: set[str], where: str, *, required: bool = True
) -> list[Finding]:
    name = xds.SCHEME_NAMES[scheme]
    codes = entry.codes(scheme)
    if not codes:
        return (
            [_f("dmp.metadata", "DMP-05", f"{name} is missing", f"{where} {entry.id}", message_fr=f"{name} est absent")]
            if required
            else []
        )
    return [
        _f(
            "dmp.metadata",
            "DMP-05",
            f"{name} {code} is not in the expected code system",
            f"{where} {entry.id}",
            message_fr=f"{name} {code} n'appartient pas au système de codes attendu",
            expected=" or ".join(sorted(systems)),
            received=system,
        )
        for code, system in codes
        if system not in systems or not code
    ]


def _author(entry: xds.RegistryObject, scheme: str, location: str) -> list[Finding]:
    slots = entry.author(scheme)
    findings = []
    person = (slots.get("authorPerson") or [""])[0]
    institution = (slots.get("authorInstitution") or [""])[0]
    xcn, xon = xds.parse_xcn(person), xds.parse_xon(institution)
    if not xcn.id or xcn.authority_oid != xds.OID_IDNPS or xcn.id_type != "IDNPS":
        findings.append(
            _f(
                "dmp.author",
                "DMP-05",
                "authorPerson must be <IdNatPs>^NOM^Prénom^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS",
                location,
                message_fr="authorPerson doit être de la forme "
                "<IdNatPs>^NOM^Prénom^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS",
                received=person or "absent",
            )
        )
    if not xon.id or xon.authority_oid != xds.OID_IDNST or xon.id_type != "IDNST":
        findings.append(
            _f(
                "dmp.author",
                "DMP-05",
                "authorInstitution must be <Nom>^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^<IdNatStruct>",
                location,
                message_fr="authorInstitution doit être de la forme "
                "<Nom>^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^<IdNatStruct>",
                received=institution or "absent",
            )
        )
    if not slots.get("authorSpecialty"):
        findings.append(
            _f("dmp.author", "DMP-05", "authorSpecialty is missing", location, message_fr="authorSpecialty est absent")
        )
    return findings


def check_metadata(submission: xds.Submission, where: str) -> list[Finding]:
    findings: list[Finding] = []
    if submission.submission_set is None:
        return [
            _f(
                "dmp.metadata",
                "DMP-05",
                "exactly one submission set is expected",
                where,
                message_fr="un et un seul lot de soumission (SubmissionSet) est attendu",
            )
        ]
    ss = submission.submission_set
    location = f"{where}, SubmissionSet {ss.id}"
    if not DTM.match(ss.slot("submissionTime") or ""):
        findings.append(
            _f(
                "dmp.metadata",
                "DMP-05",
                "submissionTime must be a UTC YYYYMMDDhhmmss",
                location,
                message_fr="submissionTime doit être une date UTC AAAAMMJJhhmmss",
            )
        )
    findings += _coded(ss, xds.SS_CONTENT_TYPE, {xds.CS_CONTENT_TYPE}, where)
    findings += _author(ss, xds.SS_AUTHOR, location)
    for scheme in (xds.SS_SOURCE_ID, xds.SS_UNIQUE_ID):
        value = ss.external_ids.get(scheme, "")
        if not OID.match(value):
            name = xds.SCHEME_NAMES[scheme]
            findings.append(
                _f(
                    "dmp.oid",
                    "DMP-05",
                    f"{name} must be an OID",
                    location,
                    message_fr=f"{name} doit être un OID",
                    received=value or "absent",
                )
            )
    members = {a.target for a in submission.associations_of(xds.HAS_MEMBER) if a.source == ss.id}
    for entry in submission.documents:
        loc = f"{where}, DocumentEntry {entry.id}"
        if entry.id not in members:
            findings.append(
                _f(
                    "dmp.metadata",
                    "DMP-05",
                    "no HasMember association from the submission set",
                    loc,
                    message_fr="aucune association HasMember depuis le lot de soumission",
                )
            )
        if entry.attributes.get("objectType") != xds.DE_OBJECT_TYPE:
            findings.append(
                _f(
                    "dmp.metadata",
                    "DMP-05",
                    "objectType must be the stable DocumentEntry type",
                    loc,
                    message_fr="objectType doit être le type de DocumentEntry stable",
                    expected=xds.DE_OBJECT_TYPE,
                    received=entry.attributes.get("objectType"),
                )
            )
        unique_id = entry.unique_id or ""
        if not OID.match(unique_id) or len(unique_id) > 64:
            findings.append(
                _f(
                    "dmp.unique-id",
                    "DMP-05",
                    "uniqueId must be a root-only OID of at most 64 characters (no ^extension)",
                    loc,
                    message_fr="uniqueId doit être un OID seul (racine sans ^extension) d'au plus 64 caractères",
                    received=unique_id or "absent",
                )
            )
        if not DTM.match(entry.slot("creationTime") or ""):
            findings.append(
                _f(
                    "dmp.metadata",
                    "DMP-05",
                    "creationTime must be a UTC YYYYMMDDhhmmss",
                    loc,
                    message_fr="creationTime doit être une date UTC AAAAMMJJhhmmss",
                )
            )
        if not entry.slot("languageCode"):
            findings.append(
                _f("dmp.metadata", "DMP-05", "languageCode is missing", loc, message_fr="languageCode est absent")
            )
        if is_signature_entry(entry):
            continue
        findings += _author(entry, xds.DE_AUTHOR, loc)
        findings += _coded(entry, xds.DE_CLASS, {xds.CS_CLASS}, loc)
        for code, _ in entry.codes(xds.DE_CLASS):
            if code not in CLASS_CODES:
                findings.append(
                    Finding(
                        "dmp.class-code",
                        f"classCode {code} is not one of the DMP classes of the facts file",
                        Severity.WARNING,
                        "DMP-05",
                        loc,
                        message_fr=f"classCode {code} n'est pas l'une des classes DMP du fichier des faits",
                    )
                )
        findings += _coded(entry, xds.DE_TYPE, {xds.CS_LOINC, xds.CS_TRE_A05}, loc)
        findings += _coded(entry, xds.DE_FORMAT, {xds.CS_FORMAT_IHE, xds.CS_FORMAT_ANS}, loc)
        findings += _coded(entry, xds.DE_FACILITY, {xds.CS_FACILITY}, loc)
        findings += _coded(entry, xds.DE_PRACTICE, {xds.CS_PRACTICE}, loc)
        findings += _confidentiality(entry, loc)
    return findings


def _confidentiality(entry: xds.RegistryObject, location: str) -> list[Finding]:
    codes = entry.codes(xds.DE_CONFIDENTIALITY)
    findings = []
    if not any(c in CONFIDENTIALITY and s == xds.CS_CONFIDENTIALITY for c, s in codes):
        findings.append(
            _f(
                "dmp.confidentiality",
                "DMP-05",
                "confidentialityCode must include N, R or V of 2.16.840.1.113883.5.25",
                location,
                message_fr="confidentialityCode doit comprendre N, R ou V de 2.16.840.1.113883.5.25",
                received=", ".join(f"{c}@{s}" for c, s in codes) or "absent",
            )
        )
    for code, system in codes:
        standard = code in CONFIDENTIALITY and system == xds.CS_CONFIDENTIALITY
        masking = code in xds.MASKING_CODES and system == xds.CS_DMP_MASKING
        if not (standard or masking):
            findings.append(
                _f(
                    "dmp.confidentiality",
                    "DMP-05",
                    f"confidentialityCode {code} ({system}) is neither N/R/V nor a DMP "
                    "masking code (JDV_J08, 1.2.250.1.213.1.1.4.13)",
                    location,
                    message_fr=f"confidentialityCode {code} ({system}) n'est ni N/R/V ni un code de "
                    "masquage DMP (JDV_J08, 1.2.250.1.213.1.1.4.13)",
                )
            )
    return findings


# -- DMP-06 / DMP-07: the CDA and its metadata ----------------------------------------------


def check_cda(submission: xds.Submission, documents: dict[str, bytes], where: str) -> list[Finding]:
    """DMP-06 (CDA <-> XDS consistency) and DMP-07 (CDA validity for the DMP) for each document."""
    findings: list[Finding] = []
    for entry in submission.documents:
        if is_signature_entry(entry) or entry.id not in documents:
            continue
        loc = f"{where}, DocumentEntry {entry.id}"
        try:
            cda = read_cda(documents[entry.id])
        except NotACda as exc:
            findings.append(
                _f(
                    "dmp.cda",
                    "DMP-07",
                    f"the document is not a readable CDA: {exc}",
                    loc,
                    message_fr=f"le document n'est pas un CDA lisible : {exc}",
                )
            )
            continue
        report = validate_document(cda, "dmp")
        for finding in report.findings:
            if finding.severity is Severity.ERROR:
                # replace() keeps the CDA rule's own French.
                findings.append(replace(finding, requirement="DMP-07", location=f"{loc}: {finding.location}"))
        header = read_header(cda)
        findings += _consistency(entry, header, report.format_code, loc)
    return findings


def _consistency(entry: xds.RegistryObject, header, format_code: str | None, loc: str) -> list[Finding]:
    def first(scheme: str) -> str | None:
        codes = entry.codes(scheme)
        return codes[0][0] if codes else None

    confidentiality = [c for c, s in entry.codes(xds.DE_CONFIDENTIALITY) if c in CONFIDENTIALITY]
    person = xds.parse_xcn((entry.author(xds.DE_AUTHOR).get("authorPerson") or [""])[0])
    patient = xds.patient_ins(entry.patient_id)
    pairs = [
        ("typeCode", first(xds.DE_TYPE), header.code),
        ("confidentialityCode", confidentiality[0] if confidentiality else None, header.confidentiality),
        ("healthcareFacilityTypeCode", first(xds.DE_FACILITY), header.facility_code),
        ("practiceSettingCode", first(xds.DE_PRACTICE), header.practice_code),
        ("uniqueId", entry.unique_id, header.document_id_root),
        ("patientId", patient[0] if patient else None, header.patient_ins[0] if header.patient_ins else None),
        ("authorPerson", person.id, header.author_id),
    ]
    if format_code:
        pairs.append(("formatCode", first(xds.DE_FORMAT), format_code))
    for name, slot, cda_value in (
        ("creationTime", "creationTime", header.effective_time),
        ("serviceStartTime", "serviceStartTime", header.service_start),
        ("serviceStopTime", "serviceStopTime", header.service_stop),
    ):
        utc = ts_to_utc(cda_value)
        if utc is not None:
            pairs.append((name, entry.slot(slot), utc))
    return [
        _f(
            "dmp.cda-xds",
            "DMP-06",
            f"{name} differs from the CDA",
            loc,
            message_fr=f"{name} diffère du CDA",
            expected=cda_value,
            received=xds_value,
        )
        for name, xds_value, cda_value in pairs
        if cda_value is not None and xds_value != cda_value
    ]


def read_submission(data: bytes) -> tuple[xds.Submission, dict[str, bytes]]:
    """A TD2.1 request saved as a file (MIME, SOAP envelope or bare request): its submission and documents."""
    request = read_provide_request(data)
    return request.submission, request.documents


def validate_submission(submission: xds.Submission, documents: dict[str, bytes]) -> list[Finding]:
    """Everything that can be judged of a submission on its own (no expected patient, no PKI)."""
    where = "submission"
    findings = check_patient_identity(submission, None, where) + check_metadata(submission, where)
    findings += check_cda(submission, documents, where)
    if any(is_signature_entry(e) for e in submission.documents):
        findings += check_signature_document(submission, documents, None, where)
    return findings
