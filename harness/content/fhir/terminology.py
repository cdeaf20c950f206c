"""Canonical URLs, code systems and builders for the French FHIR profiles held in profiles/fhir.

Each value was read in the guides' sources (FR Core FSH, PDSm FSH and examples, ANS
terminologies); the profile files cite the commits. Producers (the reference product) and
suites use these names rather than repeating URLs.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from harness.core.ins import OID_INS_NIA, OID_INS_NIR, OID_INS_NIR_DEMO, OID_INS_NIR_TEST

FR_CORE = "https://hl7.fr/ig/fhir/core/StructureDefinition/"
PATIENT = FR_CORE + "fr-core-patient"
PATIENT_INS = FR_CORE + "fr-core-patient-ins"
PRACTITIONER = FR_CORE + "fr-core-practitioner"
ORGANIZATION = FR_CORE + "fr-core-organization"
EXT_IDENTITY_RELIABILITY = FR_CORE + "fr-core-identity-reliability"
EXT_BIRTH_LIST_GIVEN_NAME = FR_CORE + "fr-core-patient-birth-list-given-name"
EXT_INSEE_CODE = FR_CORE + "fr-core-address-insee-code"
EXT_BIRTH_PLACE = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"

CS_0203 = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203"
CS_0445 = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0445"
CS_INSEE_COMMUNE = "https://mos.esante.gouv.fr/NOS/TRE_R13-CommuneOM/FHIR/TRE-R13-CommuneOM"

PDSM = "https://interop.esante.gouv.fr/ig/fhir/pdsm/StructureDefinition/"
PDSM_DOCUMENT_REFERENCE = PDSM + "pdsm-comprehensive-document-reference"
PDSM_SUBMISSION_SET = PDSM + "pdsm-submissionset-comprehensive"
PDSM_PROVIDE_BUNDLE = PDSM + "pdsm-comprehensive-provide-document-bundle"
MHD = "https://profiles.ihe.net/ITI/MHD/StructureDefinition/"
EXT_SOURCE_ID = MHD + "ihe-sourceId"
EXT_DESIGNATION_TYPE = MHD + "ihe-designationType"
EXT_AUTHOR_ORG = MHD + "ihe-authorOrg"
CS_MHD_LIST_TYPES = "https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes"

LOINC = "http://loinc.org"
NOS = "https://mos.esante.gouv.fr/NOS/"
CLASS_REPORT = (NOS + "TRE_A03-ClasseDocument/FHIR/TRE-A03-ClasseDocument", "10", "Compte-rendu")
FORMAT_PDF_IN_CDA = (
    NOS + "TRE_A11-IheFormatCode/FHIR/TRE-A11-IheFormatCode",
    "urn:ihe:iti:xds-sd:pdf:2008",
    "Document à corps non structuré en Pdf/A-1",
)
FACILITY_SA01 = (NOS + "TRE_R02-SecteurActivite/FHIR/TRE-R02-SecteurActivite", "SA01", "Etablissement public de santé")
PRACTICE_ETABLISSEMENT = (
    NOS + "TRE_A01-CadreExercice/FHIR/TRE-A01-CadreExercice",
    "ETABLISSEMENT",
    "Etablissement de santé",
)
CONFIDENTIALITY_NORMAL = ("http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "N", "normal")
MASKING = NOS + "TRE_A07-StatutVisibiliteDocument/FHIR/TRE-A07-StatutVisibiliteDocument"

# The reference product's own synthetic SIRET (14 digits, not a registered company).
REFERENCE_SIRET = "99900000100010"

_INS_SLICES = {
    OID_INS_NIR: ("official", "INS-NIR"),
    OID_INS_NIA: ("temp", "INS-NIA"),
    OID_INS_NIR_TEST: ("official", "INS-NIR-TEST"),
    OID_INS_NIR_DEMO: ("official", "INS-NIR-DEMO"),
}


def coding(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    out = {"system": system, "code": code}
    if display:
        out["display"] = display
    return out


def coding_concept(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    return {"coding": [coding(system, code, display)]}


def ins_identifier(matricule: str, oid: str) -> dict[str, Any]:
    """The identifier of FR Core Patient INS's slice for this OID (use, type, system, value)."""
    use, code = _INS_SLICES.get(oid, ("official", "INS-NIR"))
    return {"use": use, "type": coding_concept(CS_0203, code), "system": f"urn:oid:{oid}", "value": matricule}


def identity_reliability(status: str) -> dict[str, Any]:
    """The identityReliability extension with the RNIV status (facts §1.3: PROV, RECUP, VALI, QUAL).

    FR Core 2.1.0 binds identityStatus (extensible) to HL7 v2 table 0445, which has PROV and
    VALI but not RECUP nor QUAL: those two draw a warning there, as with the HL7 validator.
    """
    return {
        "url": EXT_IDENTITY_RELIABILITY,
        "extension": [{"url": "identityStatus", "valueCoding": coding(CS_0445, status)}],
    }


def birth_place(cog: str) -> dict[str, Any]:
    return {
        "url": EXT_BIRTH_PLACE,
        "valueAddress": {"extension": [{"url": EXT_INSEE_CODE, "valueCoding": coding(CS_INSEE_COMMUNE, cog)}]},
    }


def idnatps_identifier(value: str) -> dict[str, Any]:
    return {"type": coding_concept(CS_0203, "IDNPS"), "system": "urn:oid:1.2.250.1.71.4.2.1", "value": value}


def rpps_identifier(value: str) -> dict[str, Any]:
    return {"type": coding_concept(CS_0203, "RPPS"), "system": "https://rpps.esante.gouv.fr", "value": value}


def idnatst_identifier(value: str) -> dict[str, Any]:
    return {
        "use": "official",
        "type": coding_concept(CS_0203, "IDNST"),
        "system": "urn:oid:1.2.250.1.71.4.2.2",
        "value": value,
    }


def finess_identifier(value: str) -> dict[str, Any]:
    return {"type": coding_concept(CS_0203, "FINEG"), "system": "https://finess.esante.gouv.fr", "value": value}


def siret_identifier(value: str) -> dict[str, Any]:
    return {"type": coding_concept(CS_0203, "SIRET"), "system": "https://sirene.fr", "value": value}


CONTENT_TYPE_DAY_HOSPITAL = (NOS + "TRE_R209-TypeActivite/FHIR/TRE-R209-TypeActivite", "04", "Hospitalisation de jour")


def submission_set(
    patient_url: str,
    document_urls: list[str],
    moment: dt.datetime,
    *,
    source_oid: str,
    unique_oid: str,
    entry_uuid: str,
    author_practitioner: dict[str, Any],
    author_org: dict[str, Any],
) -> dict[str, Any]:
    """A PDSm SubmissionSet (List): its author (role, professional, structure) contained, the documents listed."""
    role = {
        "resourceType": "PractitionerRole",
        "id": "ss-role",
        "practitioner": {"reference": f"#{author_practitioner['id']}"},
        "organization": {"reference": f"#{author_org['id']}"},
    }
    return {
        "resourceType": "List",
        "meta": {"profile": [PDSM_SUBMISSION_SET]},
        "contained": [role, author_practitioner, author_org],
        "extension": [
            {
                "url": EXT_SOURCE_ID,
                "valueIdentifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:oid:{source_oid}"},
            },
            {"url": EXT_DESIGNATION_TYPE, "valueCodeableConcept": coding_concept(*CONTENT_TYPE_DAY_HOSPITAL)},
        ],
        "identifier": [
            {"use": "usual", "system": "urn:ietf:rfc:3986", "value": f"urn:oid:{unique_oid}"},
            {"use": "official", "system": "urn:ietf:rfc:3986", "value": entry_uuid},
        ],
        "status": "current",
        "mode": "working",
        "code": coding_concept(CS_MHD_LIST_TYPES, "submissionset"),
        "subject": {"reference": patient_url},
        "date": moment.isoformat(timespec="seconds"),
        "source": {
            "extension": [{"url": EXT_AUTHOR_ORG, "valueReference": {"reference": f"#{author_org['id']}"}}],
            "reference": "#ss-role",
        },
        "entry": [{"item": {"reference": url}} for url in document_urls],
    }
