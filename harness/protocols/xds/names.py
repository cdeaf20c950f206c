"""The names XDS.b metadata is written with as the DMP uses it: namespaces, schemes, codes, statuses.

ebRIM 3.0 namespaces, the IHE classification and identification schemes, the code systems the
DMP expects, registry object statuses (with the CI-SIS's two), association types, response
statuses and stored query ids (IHE ITI TF-3 §4.2; facts §2.2 and §2.5). Reading and writing
both spell metadata with these, so this module imports nothing.
"""

from __future__ import annotations

RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
LCM = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
RS = "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0"
QUERY = "urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0"
XDSB = "urn:ihe:iti:xds-b:2007"

# Classification and identification schemes (IHE ITI TF-3 §4.2; facts §2.5).
SS_AUTHOR = "urn:uuid:a7058bb9-b4e4-4307-ba5b-e3f0ab85e12d"
SS_CONTENT_TYPE = "urn:uuid:aa543740-bdda-424e-8c96-df4873be8500"
SS_NODE = "urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd"
SS_PATIENT_ID = "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446"
SS_SOURCE_ID = "urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832"
SS_UNIQUE_ID = "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8"
DE_OBJECT_TYPE = "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"
DE_AUTHOR = "urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d"
DE_CLASS = "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a"
DE_TYPE = "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983"
DE_CONFIDENTIALITY = "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f"
DE_FORMAT = "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d"
DE_FACILITY = "urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1"
DE_PRACTICE = "urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead"
DE_EVENT = "urn:uuid:2c6b8cb7-8b2a-4051-b291-b1ae6a575ef4"
DE_PATIENT_ID = "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427"
DE_UNIQUE_ID = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"

SCHEME_NAMES = {
    SS_AUTHOR: "XDSSubmissionSet.author",
    SS_CONTENT_TYPE: "XDSSubmissionSet.contentTypeCode",
    SS_PATIENT_ID: "XDSSubmissionSet.patientId",
    SS_SOURCE_ID: "XDSSubmissionSet.sourceId",
    SS_UNIQUE_ID: "XDSSubmissionSet.uniqueId",
    DE_AUTHOR: "XDSDocumentEntry.author",
    DE_CLASS: "XDSDocumentEntry.classCode",
    DE_TYPE: "XDSDocumentEntry.typeCode",
    DE_CONFIDENTIALITY: "XDSDocumentEntry.confidentialityCode",
    DE_FORMAT: "XDSDocumentEntry.formatCode",
    DE_FACILITY: "XDSDocumentEntry.healthcareFacilityTypeCode",
    DE_PRACTICE: "XDSDocumentEntry.practiceSettingCode",
    DE_EVENT: "XDSDocumentEntry.eventCodeList",
    DE_PATIENT_ID: "XDSDocumentEntry.patientId",
    DE_UNIQUE_ID: "XDSDocumentEntry.uniqueId",
}

# Code systems the DMP expects (facts §2.5).
CS_CLASS = "1.2.250.1.213.1.1.4.1"
CS_LOINC = "2.16.840.1.113883.6.1"
CS_TRE_A05 = "1.2.250.1.213.1.1.4.12"
CS_CONFIDENTIALITY = "2.16.840.1.113883.5.25"
CS_DMP_MASKING = "1.2.250.1.213.1.1.4.13"
CS_FORMAT_IHE = "1.3.6.1.4.1.19376.1.2.3"
CS_FORMAT_ANS = "1.2.250.1.213.1.1.4.2.282"
CS_FACILITY = "1.2.250.1.71.4.2.4"
CS_PRACTICE = "1.2.250.1.213.1.1.4.9"
CS_CONTENT_TYPE = "1.2.250.1.213.2.2"
OID_IDNPS = "1.2.250.1.71.4.2.1"
OID_IDNST = "1.2.250.1.71.4.2.2"
MASKING_CODES = frozenset({"MASQUE_PS", "INVISIBLE_PATIENT", "INVISIBLE_REPRESENTANTS_LEGAUX"})

# Registry object status, including the two the CI-SIS adds for the DMP (facts §2.2).
APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
DEPRECATED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated"
ARCHIVED = "urn:asip:ci-sis:2010:StatusType:Archived"
DELETED = "urn:asip:ci-sis:2010:StatusType:Deleted"
STATUSES = frozenset({APPROVED, DEPRECATED, ARCHIVED, DELETED})

HAS_MEMBER = "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember"
RPLC = "urn:ihe:iti:2007:AssociationType:RPLC"
SIGNS = "urn:ihe:iti:2007:AssociationType:signs"
UPDATE_AVAILABILITY = "urn:ihe:iti:2010:AssociationType:UpdateAvailabilityStatus"

SUCCESS = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"
FAILURE = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure"
ERROR_SEVERITY = "urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Error"

FIND_DOCUMENTS = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"
GET_DOCUMENTS = "urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4"
FIND_SUBMISSION_SETS = "urn:uuid:f26abbcb-ac74-4422-8a30-edb644bbc1a9"
FIND_DOCUMENTS_BY_REFERENCE_ID = "urn:uuid:12941a89-e02e-4be5-967c-ce4bfc8fe492"
STORED_QUERIES = {
    FIND_DOCUMENTS: "FindDocuments",
    GET_DOCUMENTS: "GetDocuments",
    FIND_SUBMISSION_SETS: "FindSubmissionSets",
    FIND_DOCUMENTS_BY_REFERENCE_ID: "FindDocumentsByReferenceId",
}
DMP_REPOSITORY_ID = "1.2.250.1.213.4.1.1.1.2"


def qname(ns: str, name: str) -> str:
    """The Clark notation ``{ns}name`` that lxml uses for tag names."""
    return f"{{{ns}}}{name}"
