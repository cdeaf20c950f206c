"""Writing XDS.b metadata in ebRIM XML: DocumentEntries, submission sets, associations, responses.

The reference client builds its submissions and the DMP mock its RegistryResponses with these
helpers, in the element order of the DMP kit's TD2.1 sample. :class:`EntryFields` says everything
a DocumentEntry carries in the DMP's formats, and its ``omit`` leaves parts out so that the
harness can build defective metadata on purpose.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from lxml import etree

from harness.protocols.xds.names import (
    DE_AUTHOR,
    DE_CLASS,
    DE_CONFIDENTIALITY,
    DE_EVENT,
    DE_FACILITY,
    DE_FORMAT,
    DE_OBJECT_TYPE,
    DE_PATIENT_ID,
    DE_PRACTICE,
    DE_TYPE,
    DE_UNIQUE_ID,
    ERROR_SEVERITY,
    LCM,
    RIM,
    RS,
    SCHEME_NAMES,
    SS_AUTHOR,
    SS_CONTENT_TYPE,
    SS_NODE,
    SS_PATIENT_ID,
    SS_SOURCE_ID,
    SS_UNIQUE_ID,
    qname,
)


def new_uuid() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def rim(tag: str, parent: etree._Element | None = None, /, **attributes: str) -> etree._Element:
    """An ebRIM element, as a child of ``parent`` when given."""
    if parent is None:
        element = etree.Element(qname(RIM, tag), nsmap={"rim": RIM})
    else:
        element = etree.SubElement(parent, qname(RIM, tag))
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
    response = etree.Element(qname(RS, "RegistryResponse"), nsmap={"rs": RS}, status=status)
    errors = list(errors)
    if errors:
        error_list = etree.SubElement(response, qname(RS, "RegistryErrorList"))
        for code, context, location in errors:
            etree.SubElement(
                error_list,
                qname(RS, "RegistryError"),
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
    request = etree.Element(qname(LCM, "SubmitObjectsRequest"), nsmap={"lcm": LCM, "rim": RIM})
    return request, etree.SubElement(request, qname(RIM, "RegistryObjectList"))
