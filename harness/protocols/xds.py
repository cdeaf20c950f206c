"""IHE XDS.b metadata (ebRIM 3.0) as the DMP uses it: read a submission, write one, name the codes.

One model serves three readers: the DMP mock (which stores what it is sent), the strict
verifiers (which judge it) and the reference client (which builds it). Reading is lenient
(unknown slots and classifications are kept, nothing is refused here); judging is elsewhere.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from lxml import etree

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


def _q(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}"


def _slots(element: etree._Element) -> dict[str, list[str]]:
    slots: dict[str, list[str]] = {}
    for slot in element.findall(_q(RIM, "Slot")):
        values = [(v.text or "").strip() for v in slot.iter(_q(RIM, "Value"))]
        slots.setdefault(slot.get("name", ""), []).extend(values)
    return slots


def _localized(element: etree._Element, name: str) -> str | None:
    found = element.find(f"{_q(RIM, name)}/{_q(RIM, 'LocalizedString')}")
    return found.get("value") if found is not None else None


@dataclass
class Classification:
    scheme: str | None
    node: str | None  # nodeRepresentation: the code
    classified_object: str | None
    slots: dict[str, list[str]]
    name: str | None
    classification_node: str | None = None

    @property
    def coding_scheme(self) -> str | None:
        values = self.slots.get("codingScheme") or []
        return values[0] if values else None


@dataclass
class RegistryObject:
    """An ExtrinsicObject (document entry) or RegistryPackage (submission set) as sent."""

    tag: str  # "ExtrinsicObject" or "RegistryPackage"
    id: str
    attributes: dict[str, str]
    slots: dict[str, list[str]]
    name: str | None
    description: str | None
    classifications: list[Classification]
    external_ids: dict[str, str]
    element: etree._Element = field(repr=False)

    def slot(self, name: str) -> str | None:
        values = self.slots.get(name) or []
        return values[0] if values else None

    def coded(self, scheme: str) -> list[Classification]:
        return [c for c in self.classifications if c.scheme == scheme]

    def codes(self, scheme: str) -> list[tuple[str, str | None]]:
        return [(c.node or "", c.coding_scheme) for c in self.coded(scheme)]

    def author(self, scheme: str) -> dict[str, list[str]]:
        found = self.coded(scheme)
        return found[0].slots if found else {}

    @property
    def unique_id(self) -> str | None:
        return self.external_ids.get(DE_UNIQUE_ID) or self.external_ids.get(SS_UNIQUE_ID)

    @property
    def patient_id(self) -> str | None:
        return self.external_ids.get(DE_PATIENT_ID) or self.external_ids.get(SS_PATIENT_ID)


@dataclass
class Association:
    id: str
    type: str
    source: str
    target: str
    slots: dict[str, list[str]]

    def slot(self, name: str) -> str | None:
        values = self.slots.get(name) or []
        return values[0] if values else None


@dataclass
class Submission:
    """The content of a SubmitObjectsRequest (ITI-41 or ITI-57)."""

    submission_sets: list[RegistryObject]
    documents: list[RegistryObject]
    associations: list[Association]
    element: etree._Element = field(repr=False)

    @property
    def submission_set(self) -> RegistryObject | None:
        return self.submission_sets[0] if len(self.submission_sets) == 1 else None

    def document(self, object_id: str) -> RegistryObject | None:
        return next((d for d in self.documents if d.id == object_id), None)

    def associations_of(self, kind: str) -> list[Association]:
        return [a for a in self.associations if a.type == kind]


def registry_object(element: etree._Element) -> RegistryObject:
    classifications = []
    for c in element.findall(_q(RIM, "Classification")):
        classifications.append(
            Classification(
                scheme=c.get("classificationScheme"),
                node=c.get("nodeRepresentation"),
                classified_object=c.get("classifiedObject"),
                slots=_slots(c),
                name=_localized(c, "Name"),
                classification_node=c.get("classificationNode"),
            )
        )
    external_ids = {}
    for e in element.findall(_q(RIM, "ExternalIdentifier")):
        scheme = e.get("identificationScheme")
        if scheme and scheme not in external_ids:
            external_ids[scheme] = e.get("value", "")
    return RegistryObject(
        tag=etree.QName(element).localname,
        id=element.get("id", ""),
        attributes=dict(element.attrib),
        slots=_slots(element),
        name=_localized(element, "Name"),
        description=_localized(element, "Description"),
        classifications=classifications,
        external_ids=external_ids,
        element=element,
    )


def parse_submission(request: etree._Element) -> Submission:
    """Read a SubmitObjectsRequest element (lcm namespace); tolerant of any prefix layout."""
    object_list = request.find(_q(RIM, "RegistryObjectList"))
    children = list(object_list) if object_list is not None else []
    sets, documents, associations = [], [], []
    for child in children:
        if not isinstance(child.tag, str):
            continue
        local = etree.QName(child).localname
        if local == "RegistryPackage":
            sets.append(registry_object(child))
        elif local == "ExtrinsicObject":
            documents.append(registry_object(child))
        elif local == "Association":
            associations.append(
                Association(
                    id=child.get("id", ""),
                    type=child.get("associationType", ""),
                    source=child.get("sourceObject", ""),
                    target=child.get("targetObject", ""),
                    slots=_slots(child),
                )
            )
    return Submission(sets, documents, associations, request)


# -- HL7 v2 data types in slot values -------------------------------------------------------


@dataclass(frozen=True)
class CX:
    """``id^^^&oid&ISO^type`` (patient identifiers)."""

    id: str
    authority_oid: str | None
    authority_type: str | None
    id_type: str | None


def parse_cx(value: str) -> CX:
    fields = value.split("^")
    authority = fields[3].split("&") if len(fields) > 3 else []
    return CX(
        id=fields[0],
        authority_oid=authority[1] if len(authority) > 1 and authority[1] else None,
        authority_type=authority[2] if len(authority) > 2 and authority[2] else None,
        id_type=fields[4] if len(fields) > 4 and fields[4] else None,
    )


def format_cx(identifier: str, oid: str, id_type: str = "NH") -> str:
    return f"{identifier}^^^&{oid}&ISO^{id_type}"


def patient_ins(value: str | None) -> tuple[str, str | None] | None:
    """(matricule, oid) from a CX patient id, or None when absent."""
    if not value:
        return None
    cx = parse_cx(value)
    return cx.id, cx.authority_oid


@dataclass(frozen=True)
class XCN:
    """``id^family^given^^^^^^&oid&ISO^D^^^IDNPS`` (authorPerson, legalAuthenticator)."""

    id: str
    family: str
    given: str
    authority_oid: str | None
    name_type: str | None
    id_type: str | None


def parse_xcn(value: str) -> XCN:
    fields = value.split("^")
    fields += [""] * (13 - len(fields))
    authority = fields[8].split("&")
    return XCN(
        id=fields[0],
        family=fields[1],
        given=fields[2],
        authority_oid=authority[1] if len(authority) > 1 and authority[1] else None,
        name_type=fields[9] or None,
        id_type=fields[12] or None,
    )


def format_xcn(id_nat: str, family: str, given: str) -> str:
    return f"{id_nat}^{family}^{given}^^^^^^&{OID_IDNPS}&ISO^D^^^IDNPS"


@dataclass(frozen=True)
class XON:
    """``name^^^^^&oid&ISO^IDNST^^^id`` (authorInstitution)."""

    name: str
    authority_oid: str | None
    id_type: str | None
    id: str


def parse_xon(value: str) -> XON:
    fields = value.split("^")
    fields += [""] * (10 - len(fields))
    authority = fields[5].split("&")
    return XON(
        name=fields[0],
        authority_oid=authority[1] if len(authority) > 1 and authority[1] else None,
        id_type=fields[6] or None,
        id=fields[9],
    )


def format_xon(name: str, id_nat_struct: str) -> str:
    return f"{name}^^^^^&{OID_IDNST}&ISO^IDNST^^^{id_nat_struct}"


# -- writing --------------------------------------------------------------------------------


def new_uuid() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def rim(tag: str, parent: etree._Element | None = None, /, **attributes: str) -> etree._Element:
    """An ebRIM element, as a child of ``parent`` when given."""
    if parent is None:
        element = etree.Element(_q(RIM, tag), nsmap={"rim": RIM})
    else:
        element = etree.SubElement(parent, _q(RIM, tag))
    for key, value in attributes.items():
        element.set(key, value)
    return element


def add_slot(parent: etree._Element, name: str, values: Iterable[str]) -> etree._Element:
    slot = rim("Slot", parent, name=name)
    value_list = rim("ValueList", slot)
    for value in values:
        rim("Value", value_list).text = value
    return slot


def add_name(parent: etree._Element, text: str, tag: str = "Name") -> None:
    localized = rim("LocalizedString", rim(tag, parent), value=text, charset="UTF8")
    localized.set("{http://www.w3.org/XML/1998/namespace}lang", "FR")


def _classification(parent: etree._Element, scheme: str, object_id: str, code: str) -> etree._Element:
    return rim(
        "Classification",
        parent,
        classificationScheme=scheme,
        classifiedObject=object_id,
        id=new_uuid(),
        nodeRepresentation=code,
    )


def add_code(
    parent: etree._Element, scheme: str, code: str, coding_scheme: str, display: str, object_id: str
) -> etree._Element:
    classification = _classification(parent, scheme, object_id, code)
    add_slot(classification, "codingScheme", [coding_scheme])
    add_name(classification, display)
    return classification


def add_author(
    parent: etree._Element, scheme: str, object_id: str, person: str, specialty: str, institution: str
) -> etree._Element:
    classification = _classification(parent, scheme, object_id, "")
    add_slot(classification, "authorPerson", [person])
    add_slot(classification, "authorSpecialty", [specialty])
    add_slot(classification, "authorInstitution", [institution])
    return classification


def add_external_id(parent: etree._Element, scheme: str, value: str, object_id: str) -> etree._Element:
    identifier = rim(
        "ExternalIdentifier",
        parent,
        id=new_uuid(),
        identificationScheme=scheme,
        registryObject=object_id,
        value=value,
    )
    add_name(identifier, SCHEME_NAMES.get(scheme, scheme))
    return identifier


def add_association(
    parent: etree._Element, kind: str, source: str, target: str, slots: dict[str, list[str]] | None = None
) -> etree._Element:
    association = rim(
        "Association",
        parent,
        associationType=kind,
        id=new_uuid(),
        sourceObject=source,
        targetObject=target,
    )
    for name, values in (slots or {}).items():
        add_slot(association, name, values)
    return association


def registry_response(status: str, errors: Iterable[tuple[str, str, str]] = ()) -> etree._Element:
    """RegistryResponse with (errorCode, codeContext, location) errors."""
    response = etree.Element(_q(RS, "RegistryResponse"), nsmap={"rs": RS}, status=status)
    errors = list(errors)
    if errors:
        error_list = etree.SubElement(response, _q(RS, "RegistryErrorList"))
        for code, context, location in errors:
            etree.SubElement(
                error_list,
                _q(RS, "RegistryError"),
                errorCode=code,
                codeContext=context,
                location=location,
                severity=ERROR_SEVERITY,
            )
    return response


@dataclass(frozen=True)
class Code:
    code: str
    system: str
    display: str


@dataclass
class EntryFields:
    """Everything a DocumentEntry says, in the DMP's formats (facts §2.5)."""

    patient_id: str  # CX
    unique_id: str
    title: str
    creation_time: str  # YYYYMMDDhhmmss, UTC
    class_code: Code
    type_code: Code
    format_code: Code
    facility_code: Code
    practice_code: Code
    author_person: str  # XCN
    author_specialty: str
    author_institution: str  # XON
    confidentiality: list[Code]
    mime_type: str = "text/xml"
    language: str = "fr-FR"
    legal_authenticator: str | None = None
    service_start: str | None = None
    service_stop: str | None = None
    source_patient_id: str | None = None
    source_patient_info: list[str] = field(default_factory=list)
    event_codes: list[Code] = field(default_factory=list)
    reference_ids: list[str] = field(default_factory=list)
    omit: frozenset[str] = frozenset()  # scheme UUIDs or slot names to leave out (defective variants)


def document_entry(parent: etree._Element | None, object_id: str, fields: EntryFields) -> etree._Element:
    """An ExtrinsicObject for ``fields``, in the element order of the DMP kit's TD2.1 sample."""
    entry = rim("ExtrinsicObject", parent, id=object_id, mimeType=fields.mime_type, objectType=DE_OBJECT_TYPE)
    slots = [
        ("creationTime", [fields.creation_time]),
        ("languageCode", [fields.language]),
        ("legalAuthenticator", [fields.legal_authenticator] if fields.legal_authenticator else []),
        ("serviceStartTime", [fields.service_start] if fields.service_start else []),
        ("serviceStopTime", [fields.service_stop] if fields.service_stop else []),
        ("sourcePatientId", [fields.source_patient_id] if fields.source_patient_id else []),
        ("sourcePatientInfo", fields.source_patient_info),
        ("urn:ihe:iti:xds:2013:referenceIdList", fields.reference_ids),
    ]
    for name, values in slots:
        if values and name not in fields.omit:
            add_slot(entry, name, values)
    add_name(entry, fields.title)
    if DE_AUTHOR not in fields.omit:
        person, specialty, institution = fields.author_person, fields.author_specialty, fields.author_institution
        add_author(entry, DE_AUTHOR, object_id, person, specialty, institution)
    codes: list[tuple[str, list[Code]]] = [
        (DE_CLASS, [fields.class_code]),
        (DE_TYPE, [fields.type_code]),
        (DE_CONFIDENTIALITY, fields.confidentiality),
        (DE_FORMAT, [fields.format_code]),
        (DE_FACILITY, [fields.facility_code]),
        (DE_PRACTICE, [fields.practice_code]),
        (DE_EVENT, fields.event_codes),
    ]
    for scheme, coded in codes:
        if scheme not in fields.omit:
            for code in coded:
                add_code(entry, scheme, code.code, code.system, code.display, object_id)
    if DE_PATIENT_ID not in fields.omit:
        add_external_id(entry, DE_PATIENT_ID, fields.patient_id, object_id)
    if DE_UNIQUE_ID not in fields.omit:
        add_external_id(entry, DE_UNIQUE_ID, fields.unique_id, object_id)
    return entry


@dataclass
class SubmissionSetFields:
    patient_id: str
    unique_id: str
    source_id: str
    submission_time: str
    content_type: Code
    author_person: str
    author_specialty: str
    author_institution: str
    title: str = "Lot de soumission"


def submission_set(parent: etree._Element, object_id: str, fields: SubmissionSetFields) -> etree._Element:
    package = rim("RegistryPackage", parent, id=object_id)
    add_slot(package, "submissionTime", [fields.submission_time])
    add_name(package, fields.title)
    add_author(package, SS_AUTHOR, object_id, fields.author_person, fields.author_specialty, fields.author_institution)
    code = fields.content_type
    add_code(package, SS_CONTENT_TYPE, code.code, code.system, code.display, object_id)
    rim("Classification", package, classificationNode=SS_NODE, classifiedObject=object_id, id=new_uuid())
    add_external_id(package, SS_PATIENT_ID, fields.patient_id, object_id)
    add_external_id(package, SS_SOURCE_ID, fields.source_id, object_id)
    add_external_id(package, SS_UNIQUE_ID, fields.unique_id, object_id)
    return package


def submit_objects_request() -> tuple[etree._Element, etree._Element]:
    """(SubmitObjectsRequest, its RegistryObjectList)."""
    request = etree.Element(_q(LCM, "SubmitObjectsRequest"), nsmap={"lcm": LCM, "rim": RIM})
    return request, etree.SubElement(request, _q(RIM, "RegistryObjectList"))


def attach_documents(submission: Submission, contents: dict[str, bytes]) -> tuple[dict[str, bytes], list[str]]:
    """Each DocumentEntry's content by entry id, and the notes of lenient matches.

    The id of a Document must equal the id of its ExtrinsicObject; the DMP kit's own TD2.1
    sample differs by case (DocumentME2 / documentME2), so a case-insensitive match is accepted
    and noted rather than refused.
    """
    attached: dict[str, bytes] = {}
    notes = []
    by_folded = {key.casefold(): key for key in contents}
    for entry in submission.documents:
        if entry.id in contents:
            attached[entry.id] = contents[entry.id]
        elif entry.id.casefold() in by_folded:
            key = by_folded[entry.id.casefold()]
            attached[entry.id] = contents[key]
            notes.append(f"Document id {key!r} matches ExtrinsicObject {entry.id!r} only when case is ignored")
    return attached, notes
