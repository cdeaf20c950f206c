"""The reference product's FHIR producer: what a DPI exports as FHIR R4 for the French guides.

A Patient with a qualified INS (FR Core Patient INS), the author (FR Core Practitioner), the
structure (FR Core Organization), and an ITI-65 document bundle (PDSm) carrying the CDA the
product produces (``reference_cda``) with its metadata. Named defects break one rule each.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import uuid
from typing import Any

from harness.content.fhir import terminology as t
from harness.run.sut.reference_cda import DOCUMENT_CODE, PROFESSIONAL, STRUCTURE, build_n1_document

FHIR_DEFECTS: dict[str, str] = {
    "fhir_unknown_element": "adds an element R4 does not define (Patient.insStatus)",
    "fhir_ins_bad_key": "exports the INS with a wrong key",
    "fhir_no_birth_place": "exports the Patient without the birthPlace extension",
    "fhir_idnatps_without_prefix": "writes the bare RPPS number as the idNatPs (no 8 prefix)",
    "fhir_siret_short": "writes a 13-digit SIRET",
    "fhir_docref_without_author": "publishes a DocumentReference with no author",
    "fhir_dangling_reference": "points the DocumentReference's subject at a urn:uuid that is no entry",
    "fhir_wrong_hash": "declares a SHA-1 that is not the document's",
    "fhir_ins_for_unqualified": "exports the INS whatever the identity status",
}

# The reference product's source OID (ihe-sourceId), under the UUID arc like its other OIDs.
SOURCE_OID = "2.25.262515399341402419372592545262950937154"
SEX_TO_GENDER = {"M": "male", "F": "female"}


def _fhir_time(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="seconds")


def patient_resource(identity: dict[str, Any], defects: frozenset[str] = frozenset()) -> dict[str, Any]:
    """FR Core Patient INS when the identity is qualified; FR Core Patient without INS otherwise."""
    qualified = identity.get("status") == "QUAL" or "fhir_ins_for_unqualified" in defects
    prenoms = list(identity.get("prenoms") or [])
    name: dict[str, Any] = {
        "use": "official",
        "family": identity["nom_naissance"],
        "given": prenoms[:1],
        "extension": [{"url": t.EXT_BIRTH_LIST_GIVEN_NAME, "valueString": " ".join(prenoms)}],
    }
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": uuid.uuid4().hex,
        "meta": {"profile": [t.PATIENT_INS if qualified else t.PATIENT]},
        "extension": [t.identity_reliability(identity.get("status", "PROV"))],
        "identifier": [],
        "name": [name],
        "gender": SEX_TO_GENDER.get(identity.get("sexe", ""), "unknown"),
        "birthDate": identity["date_naissance"],
    }
    if identity.get("lieu_naissance") and "fhir_no_birth_place" not in defects:
        resource["extension"].append(t.birth_place(identity["lieu_naissance"]))
    if qualified:
        matricule = identity["ins"]
        if "fhir_ins_bad_key" in defects:
            matricule = matricule[:13] + f"{(int(matricule[13:]) + 1) % 100:02d}"
        resource["identifier"].append(t.ins_identifier(matricule, identity["oid"]))
    if "fhir_unknown_element" in defects:
        resource["insStatus"] = identity.get("status")
    if not resource["identifier"]:
        del resource["identifier"]
    return resource


def practitioner_resource(defects: frozenset[str] = frozenset()) -> dict[str, Any]:
    id_nat_ps = PROFESSIONAL["id_nat_ps"]
    rpps = id_nat_ps[1:]
    return {
        "resourceType": "Practitioner",
        "id": uuid.uuid4().hex,
        "meta": {"profile": [t.PRACTITIONER]},
        "identifier": [
            t.idnatps_identifier(rpps if "fhir_idnatps_without_prefix" in defects else id_nat_ps),
            t.rpps_identifier(rpps),
        ],
        "name": [{"use": "usual", "family": PROFESSIONAL["family"], "given": [PROFESSIONAL["given"]]}],
    }


def organization_resource(defects: frozenset[str] = frozenset()) -> dict[str, Any]:
    # STRUCTURE["id"] is the idNatSt: "1" + the FINESS number (type 1 = FINESS).
    siret = t.REFERENCE_SIRET[:13] if "fhir_siret_short" in defects else t.REFERENCE_SIRET
    return {
        "resourceType": "Organization",
        "id": uuid.uuid4().hex,
        "meta": {"profile": [t.ORGANIZATION]},
        "identifier": [
            t.idnatst_identifier(STRUCTURE["id"]),
            t.finess_identifier(STRUCTURE["id"][1:]),
            t.siret_identifier(siret),
        ],
        "name": STRUCTURE["name"],
    }


def document_bundle(identity: dict[str, Any], title: str, defects: frozenset[str] = frozenset()) -> dict[str, Any]:
    """An ITI-65 Provide Document Bundle (PDSm): SubmissionSet, DocumentReference, Binary, Patient."""
    now = dt.datetime.now(dt.timezone(dt.timedelta(hours=1))).replace(microsecond=0)
    cda = build_n1_document(identity, title=title)
    digest = hashlib.sha1(cda).digest()
    if "fhir_wrong_hash" in defects:
        digest = hashlib.sha1(cda + b" ").digest()
    patient_url, docref_url, binary_url, set_url = (f"urn:uuid:{uuid.uuid4()}" for _ in range(4))
    patient = patient_resource(identity, defects)
    author = practitioner_resource()
    author["id"] = "author"
    organization = organization_resource()
    organization["id"] = "custodian"
    # PDSm 3.1.1 admits only a PractitionerRole (or a Device or the patient) as author, and a
    # PractitionerRole or an Organization as authenticator: the practitioner acts through a role.
    role = {
        "resourceType": "PractitionerRole",
        "id": "author-role",
        "practitioner": {"reference": "#author"},
        "organization": {"reference": "#custodian"},
    }
    subject = {"reference": f"urn:uuid:{uuid.uuid4()}" if "fhir_dangling_reference" in defects else patient_url}
    docref: dict[str, Any] = {
        "resourceType": "DocumentReference",
        "meta": {"profile": [t.PDSM_DOCUMENT_REFERENCE]},
        "contained": [role, author, organization],
        "masterIdentifier": {
            "use": "usual",
            "system": "urn:ietf:rfc:3986",
            "value": f"urn:oid:2.25.{uuid.uuid4().int}",
        },
        "status": "current",
        "type": {"coding": [{"system": t.LOINC, "code": DOCUMENT_CODE[0], "display": DOCUMENT_CODE[1]}]},
        "category": [t.coding_concept(*t.CLASS_REPORT)],
        "subject": subject,
        "date": _fhir_time(now),
        "author": [{"reference": "#author-role"}],
        "authenticator": {"reference": "#author-role"},
        "custodian": {"reference": "#custodian"},
        "securityLabel": [t.coding_concept(*t.CONFIDENTIALITY_NORMAL)],
        "content": [
            {
                "attachment": {
                    "contentType": "text/xml",
                    "language": "fr-FR",
                    "url": binary_url,
                    "size": len(cda),
                    "hash": base64.b64encode(digest).decode("ascii"),
                    "title": title,
                    "creation": _fhir_time(now),
                },
                "format": t.coding(*t.FORMAT_PDF_IN_CDA),
            }
        ],
        "context": {
            "period": {"start": _fhir_time(now - dt.timedelta(minutes=30)), "end": _fhir_time(now)},
            "facilityType": t.coding_concept(*t.FACILITY_SA01),
            "practiceSetting": t.coding_concept(*t.PRACTICE_ETABLISSEMENT),
            "sourcePatientInfo": {"reference": patient_url},
        },
    }
    if "fhir_docref_without_author" in defects:
        del docref["author"]
    submission_set = t.submission_set(
        patient_url,
        [docref_url],
        now,
        source_oid=SOURCE_OID,
        unique_oid=f"2.25.{uuid.uuid4().int}",
        entry_uuid=set_url,
        author_practitioner={**practitioner_resource(), "id": "ss-author"},
        author_org={**organization_resource(), "id": "ss-org"},
    )
    entries = [
        (set_url, submission_set, "List"),
        (docref_url, docref, "DocumentReference"),
        (
            binary_url,
            {"resourceType": "Binary", "contentType": "text/xml", "data": base64.b64encode(cda).decode("ascii")},
            "Binary",
        ),
        (patient_url, patient, "Patient"),
    ]
    return {
        "resourceType": "Bundle",
        "meta": {"profile": [t.PDSM_PROVIDE_BUNDLE]},
        "type": "transaction",
        "entry": [
            {"fullUrl": url, "resource": resource, "request": {"method": "POST", "url": kind}}
            for url, resource, kind in entries
        ],
    }


def produce(kind: str, params: dict[str, Any], defects: frozenset[str]) -> dict[str, Any]:
    if kind == "patient":
        return patient_resource(params["patient"], defects)
    if kind == "practitioner":
        return practitioner_resource(defects)
    if kind == "organization":
        return organization_resource(defects)
    if kind == "document-bundle":
        return document_bundle(params["patient"], params.get("title") or "Compte rendu", defects)
    raise KeyError(kind)
