"""Building the XDS.b side of a DMP request: TD2.1 submissions, stored queries, retrievals and updates.

XDS.b metadata is filled from the CDA document the product shares (its header gives the codes,
times and ids), in the DMP's formats, with the XAdES signature document as a second entry; the
TD3.3 updates publish a new metadata version (masking) or an availability status change. The XDS
defects (local patient id, uniqueId extension, no classCode, typeCode mismatch, no signature
document, no RPLC, local masking code, wrong OriginalStatus) are made here.
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from typing import Any

from lxml import etree

from harness.content.cda import read_cda, validate_document
from harness.protocols import mtom, xds
from harness.protocols.xades import DocumentSigner
from harness.protocols.xds_cda import read_header, ts_to_utc
from harness.run.sut.reference_cda import PROFESSIONAL, STRUCTURE
from harness.run.sut.reference_dmp.product import SOURCE_ID, SPECIALTY


def provide_and_register(
    patient: dict[str, Any],
    document: bytes,
    masking: list[str],
    replaced_entry: str | None,
    defects: frozenset[str],
    document_signer: DocumentSigner | None,
) -> tuple[etree._Element, list[tuple[str, str, bytes]], str, Any]:
    """The ProvideAndRegisterDocumentSetRequest body sharing ``document``, its MTOM attachments, the
    document's uniqueId and its CDA header; ``replaced_entry`` is the entryUUID it replaces (RPLC)."""
    cda = read_cda(document)
    header = read_header(cda)
    format_code = validate_document(cda, "dmp", set()).format_code or "urn:ihe:iti:xds-sd:pdf:2008"
    unique_id = header.document_id_root or ""
    if header.document_id_extension or "xds_unique_id_extension" in defects:
        unique_id = f"{unique_id}^{header.document_id_extension or uuid.uuid4().hex[:8]}"
    if "xds_local_patient_id" in defects:
        patient_id = f"IPP{patient['ins'][:8]}^^^&{SOURCE_ID}.1&ISO^PI"
    else:
        patient_id = xds.format_cx(patient["ins"], patient["oid"])
    now = dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S")
    author = xds.format_xcn(PROFESSIONAL["id_nat_ps"], PROFESSIONAL["family"], PROFESSIONAL["given"])
    institution = xds.format_xon(STRUCTURE["name"], STRUCTURE["id"])
    type_code = header.code or ""
    if "xds_type_code_mismatch" in defects:
        type_code = "11490-0" if type_code != "11490-0" else "11502-2"
    confidentiality = [xds.Code(header.confidentiality or "N", xds.CS_CONFIDENTIALITY, "Normal")]
    confidentiality += [xds.Code(code, xds.CS_DMP_MASKING, code) for code in masking]
    fields = xds.EntryFields(
        patient_id=patient_id,
        unique_id=unique_id,
        title=header.title or "Document",
        creation_time=ts_to_utc(header.effective_time) or now,
        class_code=xds.Code("10", xds.CS_CLASS, "Compte rendu"),
        type_code=xds.Code(type_code, header.code_system or xds.CS_LOINC, header.title or ""),
        format_code=xds.Code(format_code, _format_system(format_code), "Format"),
        facility_code=xds.Code(header.facility_code or "", xds.CS_FACILITY, "Secteur d'activité"),
        practice_code=xds.Code(header.practice_code or "", xds.CS_PRACTICE, "Cadre d'exercice"),
        author_person=author,
        author_specialty=SPECIALTY,
        author_institution=institution,
        confidentiality=confidentiality,
        legal_authenticator=author,
        service_start=ts_to_utc(header.service_start),
        service_stop=ts_to_utc(header.service_stop),
        source_patient_info=[
            f"PID-5|{patient['nom_naissance']}^{patient['prenoms'][0]}^^^^^L",
            f"PID-7|{patient['date_naissance'].replace('-', '')}",
            f"PID-8|{patient['sexe']}",
        ],
        omit=frozenset({xds.DE_CLASS}) if "xds_no_class_code" in defects else frozenset(),
    )
    request, objects = xds.submit_objects_request()
    xds.submission_set(
        objects,
        "SubmissionSet01",
        xds.SubmissionSetFields(
            patient_id=patient_id,
            unique_id=f"2.25.{uuid.uuid4().int}",
            source_id=SOURCE_ID,
            submission_time=now,
            content_type=xds.Code("04", xds.CS_CONTENT_TYPE, "Hospitalisation de jour"),
            author_person=author,
            author_specialty=SPECIALTY,
            author_institution=institution,
        ),
    )
    xds.document_entry(objects, "Document01", fields)
    xds.add_association(objects, xds.HAS_MEMBER, "SubmissionSet01", "Document01", {"SubmissionSetStatus": ["Original"]})
    if replaced_entry and "dmp_replace_without_rplc" not in defects:
        xds.add_association(objects, xds.RPLC, "Document01", replaced_entry)
    attachments = [("document01@segur-harness", "text/xml", document)]
    documents = {"Document01": "document01@segur-harness"}
    if "xds_no_signature_document" not in defects and document_signer is not None:
        signature = document_signer.sign_manifest({unique_id: document})
        _signature_entry(objects, fields, signature, now)
        attachments.append(("signature01@segur-harness", "text/xml", signature))
        documents["Signature01"] = "signature01@segur-harness"
    body = etree.Element(f"{{{xds.XDSB}}}ProvideAndRegisterDocumentSetRequest", nsmap={"xdsb": xds.XDSB})
    body.append(request)
    contents = {content_id: data for content_id, _, data in attachments}
    for object_id, content_id in documents.items():
        element = etree.SubElement(body, f"{{{xds.XDSB}}}Document", id=object_id)
        if "dmp_inline_documents" in defects:
            element.text = base64.b64encode(contents[content_id]).decode("ascii")
        else:
            element.append(mtom.xop_include(content_id))
    if "dmp_inline_documents" in defects:
        attachments = []  # still a multipart/related message, but with no part for the documents
    return body, attachments, unique_id, header


def _signature_entry(objects: etree._Element, fields: xds.EntryFields, signature: bytes, now: str) -> None:
    signature_fields = xds.EntryFields(
        patient_id=fields.patient_id,
        unique_id=f"2.25.{uuid.uuid4().int}",
        title="Signature",
        creation_time=now,
        class_code=xds.Code("urn:oid:1.3.6.1.4.1.19376.1.2.1.1.1", "URN", "Digital Signature"),
        type_code=xds.Code("E1762", "ASTM", "Full Document"),
        format_code=xds.Code("http://www.w3.org/2000/09/xmldsig#", "URN", "Default Signature Style"),
        facility_code=fields.facility_code,
        practice_code=fields.practice_code,
        author_person=fields.author_person,
        author_specialty=fields.author_specialty,
        author_institution=fields.author_institution,
        confidentiality=[xds.Code("N", xds.CS_CONFIDENTIALITY, "Normal")],
        language="art",
        legal_authenticator=fields.legal_authenticator,
        service_start=now,
        service_stop=now,
        event_codes=[xds.Code("1.2.840.10065.1.12.1.14", "1.2.840.10065.1.12", "Source")],
    )
    xds.document_entry(objects, "Signature01", signature_fields)
    xds.add_association(
        objects, xds.HAS_MEMBER, "SubmissionSet01", "Signature01", {"SubmissionSetStatus": ["Original"]}
    )
    xds.add_association(objects, xds.SIGNS, "Signature01", "SubmissionSet01", {"SubmissionSetStatus": ["Original"]})


def stored_query(query_id: str, params: dict[str, list[str]]) -> etree._Element:
    """An ITI-18 AdhocQueryRequest for the stored query ``query_id`` with its parameter slots."""
    request = etree.Element(f"{{{xds.QUERY}}}AdhocQueryRequest", nsmap={"query": xds.QUERY, "rim": xds.RIM})
    etree.SubElement(request, f"{{{xds.QUERY}}}ResponseOption", returnComposedObjects="true", returnType="LeafClass")
    query = xds.rim("AdhocQuery", request, id=query_id)
    for name, values in params.items():
        xds.add_slot(query, name, values)
    return request


def retrieve_request(repository: str, unique_id: str) -> etree._Element:
    """An ITI-43 RetrieveDocumentSetRequest for one document."""
    request = etree.Element(f"{{{xds.XDSB}}}RetrieveDocumentSetRequest", nsmap={"xdsb": xds.XDSB})
    document_request = etree.SubElement(request, f"{{{xds.XDSB}}}DocumentRequest")
    etree.SubElement(document_request, f"{{{xds.XDSB}}}RepositoryUniqueId").text = repository
    etree.SubElement(document_request, f"{{{xds.XDSB}}}DocumentUniqueId").text = unique_id
    return request


def masking_update(
    patient: dict[str, Any], entry: dict[str, Any], masked: bool, defects: frozenset[str]
) -> etree._Element:
    """A TD3.3a update publishing a new version of ``entry``'s metadata, masked or unmasked."""
    element = entry["metadata"]
    new_version = etree.fromstring(etree.tostring(element))
    new_version.set("id", "Document01")
    for classification in new_version.findall(f"{{{xds.RIM}}}Classification"):
        if (
            classification.get("classificationScheme") == xds.DE_CONFIDENTIALITY
            and classification.get("nodeRepresentation") in xds.MASKING_CODES
        ):
            new_version.remove(classification)
    if masked:
        system = SOURCE_ID if "dmp_mask_with_local_code" in defects else xds.CS_DMP_MASKING
        code = "MASQUE-LOCAL" if "dmp_mask_with_local_code" in defects else "MASQUE_PS"
        xds.add_code(
            new_version, xds.DE_CONFIDENTIALITY, code, system, "Masqué aux professionnels de santé", "Document01"
        )
    for slot in new_version.findall(f"{{{xds.RIM}}}Slot"):
        if slot.get("name") in ("hash", "size", "repositoryUniqueId"):
            new_version.remove(slot)
    for child in new_version.iter():
        for attribute in ("classifiedObject", "registryObject"):
            if child.get(attribute) == entry["entry_uuid"]:
                child.set(attribute, "Document01")
    request, objects = update_set(patient)
    xds.add_association(
        objects,
        xds.HAS_MEMBER,
        "SubmissionSet01",
        "Document01",
        {"SubmissionSetStatus": ["Original"], "PreviousVersion": [entry["version"]]},
    )
    objects.append(new_version)
    return request


def availability_update(
    patient: dict[str, Any], entry: dict[str, Any], new_status: str, defects: frozenset[str]
) -> etree._Element:
    """A TD3.3 update changing ``entry``'s availability status (deletion, archiving)."""
    original = entry["status"]
    if "dmp_delete_wrong_status" in defects:
        original = xds.ARCHIVED if original != xds.ARCHIVED else xds.APPROVED
    request, objects = update_set(patient)
    xds.add_association(
        objects,
        xds.UPDATE_AVAILABILITY,
        "SubmissionSet01",
        entry["entry_uuid"],
        {"OriginalStatus": [original], "NewStatus": [new_status]},
    )
    return request


def update_set(patient: dict[str, Any]) -> tuple[etree._Element, etree._Element]:
    """(SubmitObjectsRequest, its RegistryObjectList) of an update, holding its submission set."""
    request, objects = xds.submit_objects_request()
    author = xds.format_xcn(PROFESSIONAL["id_nat_ps"], PROFESSIONAL["family"], PROFESSIONAL["given"])
    xds.submission_set(
        objects,
        "SubmissionSet01",
        xds.SubmissionSetFields(
            patient_id=xds.format_cx(patient["ins"], patient["oid"]),
            unique_id=f"2.25.{uuid.uuid4().int}",
            source_id=SOURCE_ID,
            submission_time=dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S"),
            content_type=xds.Code("04", xds.CS_CONTENT_TYPE, "Hospitalisation de jour"),
            author_person=author,
            author_specialty=SPECIALTY,
            author_institution=xds.format_xon(STRUCTURE["name"], STRUCTURE["id"]),
        ),
    )
    return request, objects


def _format_system(format_code: str) -> str:
    return xds.CS_FORMAT_IHE if format_code.startswith("urn:ihe:") else xds.CS_FORMAT_ANS
