"""The rules an XDM archive is judged by (MSS-03): layout, 8.3 names, URI, size and hash of every
DocumentEntry, intendedRecipient, the set's INS against the CDA; then the XDS and CDA rules of
:mod:`harness.content.xds_metadata` under the same requirement.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re

from harness.content import xds_metadata
from harness.content.cda import NotACda, read_cda
from harness.core.results import Finding, Severity
from harness.protocols import xds
from harness.protocols.xdm.archive import _NAME_83, INDEX, METADATA, README, XDM_DIR, _key
from harness.protocols.xdm.package import XdmPackage, XdmSubset
from harness.protocols.xds_cda import read_header

DEFAULT_REQUIREMENT = "MSS-03"


_SHA1 = re.compile(r"^[0-9a-fA-F]{40}$")


_EMAIL = re.compile(r"^[^@\s|^&~\\]+@[^@\s|^&~\\]+\.[^@\s|^&~\\]+$")


def _recipient_problem(value: str) -> tuple[str, str] | None:
    """Why an intendedRecipient value is not ``XON|XCN|XTN`` (IHE ITI TF-3), in English and French, or None."""
    not_xon_xcn_xtn = (f"{value!r} is not in the XON|XCN|XTN form", f"{value!r} n'est pas de la forme XON|XCN|XTN")
    if "|" not in value:
        if "@" in value and "^" not in value:
            return (
                f"{value!r} is a bare address; an email-only recipient is written ||^^Internet^{value}",
                f"{value!r} est une adresse nue ; un destinataire réduit à son adresse s'écrit ||^^Internet^{value}",
            )
        return None if "^" in value else not_xon_xcn_xtn
    parts = value.split("|")
    if len(parts) > 3 or not any(parts):
        return not_xon_xcn_xtn
    if len(parts) == 2 and parts[1].startswith("^^Internet^"):
        return (
            f"{value!r} puts the email in the XCN position; the XTN is the third part: ||^^Internet^<address>",
            f"{value!r} met l'adresse en position XCN ; le XTN est la troisième partie : ||^^Internet^<adresse>",
        )
    if len(parts) == 3 and parts[2]:
        xtn = parts[2].split("^")
        if len(xtn) < 4 or xtn[2] != "Internet" or not _EMAIL.match(xtn[3]):
            return (
                f"telecommunication {parts[2]!r} must be ^^Internet^<email address>",
                f"la télécommunication {parts[2]!r} doit être ^^Internet^<adresse électronique>",
            )
    return None


def _cda_ins(content: bytes) -> tuple[str, str] | None:
    try:
        return read_header(read_cda(content)).patient_ins
    except NotACda:
        return None


def _check_entries(subset: XdmSubset, submission: xds.Submission, where: str, requirement: str) -> list[Finding]:
    """URI, size and hash of every DocumentEntry; files of the subset that no entry references."""
    findings: list[Finding] = []
    referenced: set[str] = set()
    for entry in submission.documents:
        location = f"{where}/{subset.metadata_name}, DocumentEntry {entry.id}"
        resolved = subset.resolved[entry.id]
        if resolved.path is None:
            problem = resolved.problem or "the URI names no file"
            findings.append(
                Finding(
                    "xdm.uri",
                    problem,
                    Severity.ERROR,
                    requirement,
                    location,
                    received=resolved.uri,
                    message_fr=resolved.problem_fr or "l'URI ne désigne aucun fichier",
                )
            )
            continue
        referenced.add(resolved.path)
        if resolved.note:
            findings.append(
                Finding("xdm.uri", resolved.note, Severity.WARNING, requirement, location, message_fr=resolved.note_fr)
            )
        content = subset.documents[entry.id]
        size = entry.slot("size")
        if size is None:
            missing = ("the size slot is missing", "le slot size est absent")
            findings.append(
                Finding("xdm.size", missing[0], Severity.ERROR, requirement, location, message_fr=missing[1])
            )
        elif size.strip() != str(len(content)):
            message = f"size is not the length of {resolved.path}"
            findings.append(
                Finding(
                    "xdm.size",
                    message,
                    Severity.ERROR,
                    requirement,
                    location,
                    str(len(content)),
                    size,
                    message_fr=f"size n'est pas la longueur de {resolved.path}",
                )
            )
        digest = hashlib.sha1(content).hexdigest()
        declared = entry.slot("hash")
        if declared is None:
            missing = ("the hash slot is missing", "le slot hash est absent")
            findings.append(
                Finding("xdm.hash", missing[0], Severity.ERROR, requirement, location, message_fr=missing[1])
            )
        elif not _SHA1.match(declared.strip()) or declared.strip().lower() != digest:
            message = f"hash is not the SHA-1 (hexadecimal) of {resolved.path}"
            french = f"hash n'est pas le SHA-1 (hexadécimal) de {resolved.path}"
            findings.append(
                Finding("xdm.hash", message, Severity.ERROR, requirement, location, digest, declared, message_fr=french)
            )
    for name, path in subset.paths.items():
        if name != subset.metadata_name and path not in referenced:
            message = "no DocumentEntry of METADATA.XML references this file (URI slot)"
            french = "aucune DocumentEntry de METADATA.XML ne désigne ce fichier (slot URI)"
            findings.append(Finding("xdm.unreferenced", message, Severity.ERROR, requirement, path, message_fr=french))
    return findings


def _check_recipients(submission: xds.Submission, where: str, requirement: str) -> list[Finding]:
    findings = []
    for ss in submission.submission_sets:
        location = f"{where}/{METADATA}, SubmissionSet {ss.id}"
        values = ss.slots.get("intendedRecipient") or []
        if not values:
            message = "no intendedRecipient: the MSSanté addresses the documents are sent to are not named"
            french = "pas d'intendedRecipient : les adresses MSSanté destinataires des documents ne sont pas nommées"
            findings.append(
                Finding("xdm.intended-recipient", message, Severity.WARNING, requirement, location, message_fr=french)
            )
        for value in values:
            problem = _recipient_problem(value)
            if problem:
                findings.append(
                    Finding(
                        "xdm.intended-recipient",
                        problem[0],
                        Severity.ERROR,
                        requirement,
                        location,
                        received=value,
                        message_fr=problem[1],
                    )
                )
    return findings


def _check_xds(subset: XdmSubset, submission: xds.Submission, where: str, requirement: str) -> list[Finding]:
    """The XDS and CDA rules of the DMP (facts §2.5) under ``requirement``; then the set's INS against the CDA."""
    cda_documents = {
        entry.id: subset.documents[entry.id]
        for entry in submission.documents
        if entry.id in subset.documents and entry.attributes.get("mimeType") == "text/xml"
    }
    rules = xds_metadata.check_patient_identity(submission, None, where)
    rules += xds_metadata.check_metadata(submission, where)
    rules += xds_metadata.check_cda(submission, cda_documents, where)
    findings = [dataclasses.replace(f, requirement=requirement) for f in rules]
    ss = submission.submission_set
    declared = xds.patient_ins(ss.patient_id) if ss is not None else None
    if ss is None or declared is None:
        return findings
    for entry_id, content in cda_documents.items():
        cda_ins = _cda_ins(content)
        if cda_ins is not None and cda_ins != declared:
            findings.append(
                Finding(
                    "xdm.patient-ins",
                    "the SubmissionSet patientId is not the INS of the CDA recordTarget",
                    Severity.ERROR,
                    requirement,
                    f"{where}/{METADATA}, SubmissionSet {ss.id} / DocumentEntry {entry_id}",
                    expected=xds.format_cx(*cda_ins),
                    received=ss.patient_id,
                    message_fr="le patientId du SubmissionSet n'est pas l'INS du recordTarget du CDA",
                )
            )
    return findings


def _check_subset(subset: XdmSubset, requirement: str) -> list[Finding]:
    where = subset.folder.rstrip("/")
    if subset.metadata_name is None:
        return [
            Finding(
                "xdm.layout",
                f"{where} has no {METADATA}",
                Severity.ERROR,
                requirement,
                where,
                message_fr=f"{where} n'a pas de {METADATA}",
            )
        ]
    submission = subset.submission
    if submission is None:
        message = f"{METADATA} cannot be read: {subset.metadata_error}"
        french = f"{METADATA} est illisible : {subset.metadata_error}"
        location = f"{where}/{subset.metadata_name}"
        return [Finding("xdm.metadata", message, Severity.ERROR, requirement, location, message_fr=french)]
    findings = _check_entries(subset, submission, where, requirement)
    findings += _check_recipients(submission, where, requirement)
    findings += _check_xds(subset, submission, where, requirement)
    return findings


def check_xdm(package: XdmPackage, requirement: str = DEFAULT_REQUIREMENT) -> list[Finding]:
    """Every rule an XDM archive is judged by; all findings name ``requirement``.

    ``xdm.*``: the layout (INDEX.HTM, README.TXT, IHE_XDM/<SUBSET>/METADATA.XML), upper-case
    8.3 names, the URI, size and hash of every DocumentEntry, files no entry references,
    intendedRecipient, the set's INS against the CDA. Then the ``dmp.*`` XDS rules and the CDA
    rules run by :mod:`harness.content.xds_metadata` (patient identity without an expected
    patient, metadata, CDA validity and CDA <-> XDS consistency), with ``requirement`` in
    place of their DMP requirements.
    """
    findings: list[Finding] = []
    for name in (INDEX, README):
        if package.find(name) is None:
            message = f"{name} is missing at the root of the archive"
            french = f"{name} manque à la racine de l'archive"
            findings.append(Finding("xdm.layout", message, Severity.ERROR, requirement, name, message_fr=french))
    for path in [*package.entries, *package.directories]:
        bad = [part for part in path.rstrip("/").split("/") if not _NAME_83.match(part)]
        if bad:
            shown = ", ".join(repr(b) for b in bad)
            message = f"{shown}: not an upper-case 8.3 name (A-Z, 0-9, _)"
            french = f"{shown} : pas un nom 8.3 en majuscules (A-Z, 0-9, _)"
            findings.append(Finding("xdm.file-name", message, Severity.ERROR, requirement, path, message_fr=french))
    for path in package.entries:
        parts = path.split("/")
        if len(parts) == 2 and _key(parts[0]) == _key(XDM_DIR):
            message = f"a file directly in {XDM_DIR}/: files belong in a submission set folder"
            french = f"un fichier directement dans {XDM_DIR}/ : les fichiers vont dans le dossier d'un lot"
            findings.append(Finding("xdm.layout", message, Severity.WARNING, requirement, path, message_fr=french))
    if not package.subsets:
        message = f"{XDM_DIR}/ holds no submission set folder"
        french = f"{XDM_DIR}/ ne contient aucun dossier de lot de soumission"
        findings.append(Finding("xdm.layout", message, Severity.ERROR, requirement, XDM_DIR, message_fr=french))
    for subset in package.subsets:
        findings += _check_subset(subset, requirement)
    return findings


def zip_format_finding(exc: Exception, requirement: str = DEFAULT_REQUIREMENT) -> Finding:
    """The finding for an archive in a zip format the reader does not implement (``xdm.UnsupportedArchive``)."""
    return Finding(
        "xdm.zip-format",
        f"the archive is not a plain zip (stored or deflate) every receiver can open: {exc}",
        Severity.ERROR,
        requirement,
        "IHE_XDM.ZIP",
        message_fr=f"l'archive n'est pas un zip simple (stocké ou deflate) que tout destinataire sait ouvrir : {exc}",
    )
