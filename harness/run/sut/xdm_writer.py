"""How the reference product writes an IHE XDM archive for MSSanté (facts §3.3): INDEX.HTM,
README.TXT and IHE_XDM/<SUBSET>/METADATA.XML describing each file, DocumentEntry fields derived
from the CDA header. Named *defects* (``XDM_DEFECTS``) break one rule each, for negative tests.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import html
import io
import uuid
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lxml import etree

from harness import __version__
from harness.content.cda import read_cda, validate_document
from harness.core import ins
from harness.protocols import xds
from harness.protocols.cda_document import CdaDocument
from harness.protocols.xdm.archive import _NAME_83, DEFAULT_SUBSET, INDEX, METADATA, README, XDM_DIR
from harness.protocols.xds_cda import read_header, ts_to_utc

# The reference product's own OID (the same as harness.run.sut.reference_dmp.SOURCE_ID).
SOURCE_ID = "2.25.216147016744468532364416963591815342157"


# IHE formatCode for a document whose MIME type says everything (a bare PDF), cs 1.3.6.1.4.1.19376.1.2.3.
FORMAT_MIME_SUFFICIENT = "urn:ihe:iti:xds:2017:mimeTypeSufficient"


CS_SPECIALTY = "1.2.250.1.213.1.1.4.5"


XDM_DEFECTS: dict[str, str] = {
    "xdm_wrong_hash": "declares in METADATA.XML a hash that is not the SHA-1 of the file",
    "xdm_wrong_size": "declares in METADATA.XML a size that is not the length of the file",
    "xdm_no_index": "leaves INDEX.HTM out of the root of the archive",
    "xdm_no_readme": "leaves README.TXT out of the root of the archive",
    "xdm_lowercase_paths": "writes lower-case file and folder names (XDM wants upper-case 8.3 names)",
    "xdm_patient_mismatch": "names in METADATA.XML another patient (another valid INS) than the CDA recordTarget",
    "xdm_missing_uri": "leaves the URI slot out of the first DocumentEntry",
    "xdm_unreferenced_file": "puts a file in the subset that no DocumentEntry references",
    "xdm_no_recipient": "writes no intendedRecipient on the SubmissionSet",
}


@dataclass(frozen=True)
class XdmDocument:
    """A file of the subset and what its DocumentEntry says.

    ``fields`` None: derived from the CDA (``text/xml``) with :func:`entry_fields_from_cda`,
    or, for another type (the PDF rendering), from the package's first CDA with
    :func:`rendering_fields`.
    """

    name: str  # file name in the subset, upper-case 8.3, e.g. "DOC0001.XML"
    data: bytes
    mime_type: str = "text/xml"
    fields: xds.EntryFields | None = None


@dataclass(frozen=True)
class XdmAuthor:
    """The SubmissionSet author, in the DMP formats (facts §2.5)."""

    person: str  # XCN <IdNatPs>^NOM^Prénom^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS
    specialty: str  # code^libellé^1.2.250.1.213.1.1.4.5
    institution: str  # XON <Nom>^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^<IdNatStruct>


def _text(element: etree._Element | None) -> str:
    return (element.text or "").strip() if element is not None else ""


def _cda_author(doc: CdaDocument) -> XdmAuthor:
    author = "c:author/c:assignedAuthor"
    identifier = doc.find(f"{author}/c:id")
    code = doc.find(f"{author}/c:code")
    person = xds.format_xcn(
        identifier.get("extension", "") if identifier is not None else "",
        _text(doc.find(f"{author}/c:assignedPerson/c:name/c:family")),
        _text(doc.find(f"{author}/c:assignedPerson/c:name/c:given")),
    )
    specialty = ""
    if code is not None and code.get("code"):
        system = code.get("codeSystem") or CS_SPECIALTY
        specialty = f"{code.get('code')}^{code.get('displayName', '')}^{system}"
    organization = doc.find(f"{author}/c:representedOrganization/c:id")
    institution = xds.format_xon(
        _text(doc.find(f"{author}/c:representedOrganization/c:name")),
        organization.get("extension", "") if organization is not None else "",
    )
    return XdmAuthor(person, specialty, institution)


def _legal_authenticator(doc: CdaDocument) -> str | None:
    entity = "c:legalAuthenticator/c:assignedEntity"
    if doc.find(entity) is None:
        return None
    identifier = doc.find(f"{entity}/c:id")
    return xds.format_xcn(
        identifier.get("extension", "") if identifier is not None else "",
        _text(doc.find(f"{entity}/c:assignedPerson/c:name/c:family")),
        _text(doc.find(f"{entity}/c:assignedPerson/c:name/c:given")),
    )


def _source_patient_info(doc: CdaDocument, patient: Mapping[str, Any] | None) -> list[str]:
    """``PID-5``, ``PID-7``, ``PID-8`` from the identity when given (as the DMP client does), else from the CDA."""
    if patient is not None:
        return [
            f"PID-5|{patient['nom_naissance']}^{patient['prenoms'][0]}^^^^^L",
            f"PID-7|{str(patient['date_naissance']).replace('-', '')}",
            f"PID-8|{patient['sexe']}",
        ]
    person = "c:recordTarget/c:patientRole/c:patient"
    families = doc.findall(f"{person}/c:name/c:family")
    family = next((f for f in families if f.get("qualifier") == "BR"), families[0] if families else None)
    givens = doc.findall(f"{person}/c:name/c:given")
    given = next((g for g in givens if g.get("qualifier") == "BR"), givens[0] if givens else None)
    first_given = _text(given).split(" ")[0] if given is not None else ""
    info = [f"PID-5|{_text(family)}^{first_given}^^^^^L"]
    birth = doc.find(f"{person}/c:birthTime")
    if birth is not None and birth.get("value"):
        info.append(f"PID-7|{birth.get('value', '')[:8]}")
    gender = doc.find(f"{person}/c:administrativeGenderCode")
    if gender is not None and gender.get("code"):
        info.append(f"PID-8|{gender.get('code')}")
    return info


def _format_system(format_code: str) -> str:
    return xds.CS_FORMAT_IHE if format_code.startswith("urn:ihe:") else xds.CS_FORMAT_ANS


def entry_fields_from_cda(cda: bytes, patient: Mapping[str, Any] | None = None) -> xds.EntryFields:
    """The DocumentEntry of a CDA, filled the way the reference DMP client fills it (facts §2.5).

    ``patient`` (identity fields of the SUT actions) gives patientId and sourcePatientInfo;
    without it they come from the CDA recordTarget. The author, legal authenticator and codes
    come from the CDA header. Raises :class:`harness.content.cda.NotACda`.
    """
    doc = read_cda(cda)
    header = read_header(doc)
    format_code = validate_document(doc, "dmp", set()).format_code or "urn:ihe:iti:xds-sd:pdf:2008"
    if patient is not None:
        patient_id = xds.format_cx(str(patient["ins"]), str(patient["oid"]))
    elif header.patient_ins is not None:
        patient_id = xds.format_cx(*header.patient_ins)
    else:
        patient_id = ""
    now = dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S")
    author = _cda_author(doc)
    return xds.EntryFields(
        patient_id=patient_id,
        unique_id=header.document_id_root or "",
        title=header.title or "Document",
        creation_time=ts_to_utc(header.effective_time) or now,
        class_code=xds.Code("10", xds.CS_CLASS, "Compte rendu"),
        type_code=xds.Code(header.code or "", header.code_system or xds.CS_LOINC, header.title or ""),
        format_code=xds.Code(format_code, _format_system(format_code), "Format"),
        facility_code=xds.Code(header.facility_code or "", xds.CS_FACILITY, "Secteur d'activité"),
        practice_code=xds.Code(header.practice_code or "", xds.CS_PRACTICE, "Cadre d'exercice"),
        author_person=author.person,
        author_specialty=author.specialty,
        author_institution=author.institution,
        confidentiality=[xds.Code(header.confidentiality or "N", xds.CS_CONFIDENTIALITY, "Normal")],
        legal_authenticator=_legal_authenticator(doc) or author.person,
        service_start=ts_to_utc(header.service_start),
        service_stop=ts_to_utc(header.service_stop),
        source_patient_info=_source_patient_info(doc, patient),
    )


def rendering_fields(cda_fields: xds.EntryFields, mime_type: str = "application/pdf") -> xds.EntryFields:
    """The DocumentEntry of a rendering of a CDA (the PDF sent with it): same clinical codes, own uniqueId.

    Its formatCode is IHE's "MIME type sufficient": the file is a bare PDF, not a CDA.
    """
    return dataclasses.replace(
        cda_fields,
        unique_id=f"2.25.{uuid.uuid4().int}",
        mime_type=mime_type,
        format_code=xds.Code(FORMAT_MIME_SUFFICIENT, xds.CS_FORMAT_IHE, "MIME type sufficient"),
        confidentiality=list(cda_fields.confidentiality),
        source_patient_info=list(cda_fields.source_patient_info),
    )


def intended_recipient(address: str) -> str:
    """An email-only intendedRecipient: ``XON|XCN|XTN`` with only the XTN, ``||^^Internet^<address>``.

    IHE ITI TF-3 (SubmissionSet.intendedRecipient) gives the value as ``XON|XCN|XTN`` and
    shows ``||^^Internet^dr.oz@healthcare.example.org`` for a recipient known by its email
    only (the XDR/Direct implementations write the same). ``|^^Internet^<address>`` would put
    the XTN in the XCN position. A value that already holds ``|`` or ``^`` is taken as written.
    """
    if "|" in address or "^" in address:
        return address
    return f"||^^Internet^{address}"


def _insert_slot(parent: etree._Element, name: str, values: Sequence[str]) -> None:
    """A Slot placed after the existing Slots: ebRIM wants Slot* before Name and the rest."""
    slot = xds.add_slot(parent, name, values)
    parent.remove(slot)
    slots = parent.findall(f"{{{xds.RIM}}}Slot")
    parent.insert(parent.index(slots[-1]) + 1 if slots else 0, slot)


def _other_ins(matricule: str) -> str:
    """Another valid INS matricule (same birth data, next serial number, recomputed key)."""
    body = matricule[:13]
    other = body[:10] + f"{(int(body[10:13]) + 1) % 1000:03d}"
    return other + ins.compute_key(other)


def _index_html(sender: str, folder: str, documents: Sequence[tuple[str, str]]) -> bytes:
    rows = "\n".join(
        f'    <li><a href="{html.escape(folder + name)}">{html.escape(title)}</a> ({html.escape(name)})</li>'
        for name, title in documents
    )
    page = f"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">
<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="fr" lang="fr">
<head><title>IHE XDM</title></head>
<body>
  <p>Émetteur : {html.escape(sender)}</p>
  <p>Voir le fichier <a href="{README}">{README}</a>.</p>
  <ul>
{rows}
  </ul>
</body>
</html>
"""
    return page.encode("utf-8")


def _readme(sender: str, subset: str, names: Sequence[str]) -> str:
    tree = "\n".join(f"               {name}" for name in [METADATA, *names])
    return (
        "Émetteur :\n"
        f"    . Adresse MSSanté : {sender}\n\n"
        "Application de l'émetteur :\n"
        f"    . Nom : segur-harness\n    . Version : {__version__}\n\n"
        "Instructions :\n"
        "    . Consultez les fichiers reçus par messagerie sécurisée de santé dans votre logiciel.\n\n"
        "Arborescence :\n"
        f"     {README}\n     {INDEX}\n     {XDM_DIR}\n          {subset}\n{tree}\n"
    )


def build_xdm(
    documents: Sequence[XdmDocument] | bytes,
    *,
    recipients: Sequence[str],
    sender: str,
    patient: Mapping[str, Any] | None = None,
    pdf: bytes | None = None,
    author: XdmAuthor | None = None,
    readme: str | None = None,
    subset: str = DEFAULT_SUBSET,
    source_id: str = SOURCE_ID,
    content_type: xds.Code | None = None,
    defects: frozenset[str] = frozenset(),
) -> bytes:
    """An ``IHE_XDM.ZIP`` for ``patient`` holding ``documents`` (the CDA first, then its PDF).

    ``documents`` may be the bytes of one CDA (written DOC0001.XML); ``pdf`` adds its PDF
    rendering as one more DocumentEntry (DOC0002.PDF, or the next number). ``patient``
    (identity fields of the SUT actions) None takes the INS of the first CDA's recordTarget.
    ``recipients`` are MSSanté addresses (or ready ``XON|XCN|XTN`` values); ``sender`` the
    sender's address (SubmissionSet authorTelecommunication, README.TXT, INDEX.HTM);
    ``author`` None takes the author of the first document; ``readme`` None writes one;
    ``content_type`` None is the reference DMP client's ("04", cs 1.2.250.1.213.2.2).
    """
    if isinstance(documents, bytes | bytearray):
        documents = [XdmDocument("DOC0001.XML", bytes(documents))]
    documents = list(documents)
    if pdf is not None:
        documents.append(XdmDocument(f"DOC{len(documents) + 1:04d}.PDF", pdf, "application/pdf"))
    unknown = defects - XDM_DEFECTS.keys()
    if unknown:
        raise ValueError(f"unknown XDM defects: {sorted(unknown)}")
    if not documents:
        raise ValueError("an XDM archive holds at least one document")
    names = [d.name for d in documents]
    for name in [subset, *names]:
        if not _NAME_83.match(name) or name == METADATA:
            raise ValueError(f"{name!r} is not an upper-case 8.3 name usable in an XDM subset")
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate file names: {names}")

    given: list[xds.EntryFields | None] = []
    for document in documents:
        if document.fields is None and document.mime_type == "text/xml":
            given.append(entry_fields_from_cda(document.data, patient))
        else:
            given.append(document.fields)
    first_cda = next((f for d, f in zip(documents, given, strict=True) if f and d.mime_type == "text/xml"), None)
    if patient is not None:
        matricule, oid = str(patient["ins"]), str(patient["oid"])
    else:
        found = xds.patient_ins(first_cda.patient_id) if first_cda is not None else None
        if found is None or not found[1]:
            raise ValueError("no patient given and no INS in the recordTarget of a CDA")
        matricule, oid = found[0], found[1]
    if "xdm_patient_mismatch" in defects:
        matricule = _other_ins(matricule)
    patient_id = xds.format_cx(matricule, oid)
    filled: list[tuple[XdmDocument, xds.EntryFields]] = []
    for document, fields in zip(documents, given, strict=True):
        if fields is None:
            if first_cda is None:
                raise ValueError(f"{document.name}: no fields given and no CDA to derive them from")
            fields = rendering_fields(first_cda, document.mime_type)
        filled.append((document, dataclasses.replace(fields, patient_id=patient_id, mime_type=document.mime_type)))
    if author is None:
        first = filled[0][1]
        author = XdmAuthor(first.author_person, first.author_specialty, first.author_institution)

    request, objects = xds.submit_objects_request()
    ss_id = xds.new_uuid()
    package = xds.submission_set(
        objects,
        ss_id,
        xds.SubmissionSetFields(
            patient_id=patient_id,
            unique_id=f"2.25.{uuid.uuid4().int}",
            source_id=source_id,
            submission_time=dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S"),
            content_type=content_type or xds.Code("04", xds.CS_CONTENT_TYPE, "Hospitalisation de jour"),
            author_person=author.person,
            author_specialty=author.specialty,
            author_institution=author.institution,
        ),
    )
    if recipients and "xdm_no_recipient" not in defects:
        _insert_slot(package, "intendedRecipient", [intended_recipient(r) for r in recipients])
    for classification in package.findall(f"{{{xds.RIM}}}Classification"):
        if classification.get("classificationScheme") == xds.SS_AUTHOR:
            xds.add_slot(classification, "authorTelecommunication", [f"^^Internet^{sender}"])

    lower = "xdm_lowercase_paths" in defects

    def written(name: str) -> str:
        return name.lower() if lower else name

    folder = written(f"{XDM_DIR}/{subset}/")
    files: list[tuple[str, bytes]] = []
    for position, (document, entry_fields) in enumerate(filled):
        entry_id = xds.new_uuid()
        entry = xds.document_entry(objects, entry_id, entry_fields)
        size, digest = len(document.data), hashlib.sha1(document.data).hexdigest()
        if position == 0 and "xdm_wrong_hash" in defects:
            digest = hashlib.sha1(document.data + b"\n").hexdigest()
        if position == 0 and "xdm_wrong_size" in defects:
            size += 1
        _insert_slot(entry, "size", [str(size)])
        _insert_slot(entry, "hash", [digest])
        if not (position == 0 and "xdm_missing_uri" in defects):
            _insert_slot(entry, "URI", [written(document.name)])
        xds.add_association(objects, xds.HAS_MEMBER, ss_id, entry_id, {"SubmissionSetStatus": ["Original"]})
        files.append((folder + written(document.name), document.data))
    if "xdm_unreferenced_file" in defects:
        files.append((folder + written("NOTES.TXT"), b"Fichier que METADATA.XML ne cite pas.\n"))
    metadata = etree.tostring(request, xml_declaration=True, encoding="UTF-8", pretty_print=True)

    titles = [(written(document.name), f.title) for document, f in filled]
    root: list[tuple[str, bytes]] = []
    if "xdm_no_index" not in defects:
        root.append((written(INDEX), _index_html(sender, folder, titles)))
    if "xdm_no_readme" not in defects:
        text = readme if readme is not None else _readme(sender, subset, [name for name, _ in titles])
        root.append((written(README), text.encode("utf-8")))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in [*root, (folder + written(METADATA), metadata), *files]:
            archive.writestr(name, data)
    return buffer.getvalue()
