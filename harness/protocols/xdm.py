"""IHE XDM archives (``IHE_XDM.ZIP``) as MSSanté carries them: write one, open one safely, judge it.

An MSSanté message about a patient carries its documents as an IHE XDM zip (facts §3.3):
``INDEX.HTM`` and ``README.TXT`` at the root, then ``IHE_XDM/<SUBSET>/METADATA.XML`` (an
``lcm:SubmitObjectsRequest``, the ebRIM model of facts §2.5 plus the DocumentEntry slots
``URI``, ``size`` and ``hash``) next to the files it describes. The reference product writes
one with :func:`build_xdm` (named *defects* break one rule each, for negative tests); the
MSSanté mock and ``segur validate xdm`` open what a product sent with :func:`read_xdm`, which
refuses dangerous archives (zip bombs, path traversal, links...) before anything is inflated
in full, and judge it with :func:`check_xdm`, which adds the XDM rules to the XDS and CDA
rules of :mod:`harness.content.xds_metadata`.

Nothing here writes to the file system: entries are read into memory, within limits, and a
zip inside the archive is kept as bytes, never opened.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import html
import io
import itertools
import re
import stat
import struct
import unicodedata
import uuid
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from lxml import etree

from harness import __version__
from harness.content import xds_metadata
from harness.content.cda import NotACda, read_cda, validate_document
from harness.core import ins
from harness.core.results import Finding, Severity
from harness.protocols import xds
from harness.protocols.cda_document import CdaDocument
from harness.protocols.xds_cda import read_header, ts_to_utc

XDM_DIR = "IHE_XDM"
INDEX = "INDEX.HTM"
README = "README.TXT"
METADATA = "METADATA.XML"
DEFAULT_SUBSET = "SUBSET01"
DEFAULT_REQUIREMENT = "MSS-03"

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

# IHE ITI-32 / DICOM PS3.12 file IDs: upper-case letters, digits and "_", 8.3 (ISO 9660 level 1).
_NAME_83 = re.compile(r"^[A-Z0-9_]{1,8}(\.[A-Z0-9_]{1,3})?$")
_SHA1 = re.compile(r"^[0-9a-fA-F]{40}$")
_EMAIL = re.compile(r"^[^@\s|^&~\\]+@[^@\s|^&~\\]+\.[^@\s|^&~\\]+$")

_CHUNK = 64 * 1024
_RATIO_MIN_SIZE = 1024 * 1024  # below this many inflated bytes an entry's ratio is not judged
_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")  # zipfile.structFileHeader
_XML_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


# -- errors -----------------------------------------------------------------------------------


class NotAnXdm(ValueError):
    """The input cannot be opened as an IHE XDM archive (exit status 2 in ``segur validate xdm``).

    ``dangerous`` tells an archive built to harm whoever opens it (zip bomb, path traversal,
    link, ambiguous names) from one that is merely broken or is not an XDM.
    """

    def __init__(self, message: str, *, dangerous: bool = False) -> None:
        super().__init__(message)
        self.dangerous = dangerous


def is_dangerous(exc: BaseException) -> bool:
    """Whether ``exc`` refuses an archive as harmful to open (not merely unreadable)."""
    return isinstance(exc, NotAnXdm) and exc.dangerous


# -- writing ----------------------------------------------------------------------------------


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


# -- safe reading -----------------------------------------------------------------------------


def _path_problem(name: str) -> str | None:
    """Why an entry name may not be extracted anywhere, or None."""
    if not name:
        return "an entry has an empty name"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        return f"entry {name!r} has control characters in its name"
    if "\\" in name:
        return f"entry {name!r} uses backslashes (a Windows path, possibly a traversal)"
    if name.startswith("/"):
        return f"entry {name!r} has an absolute path"
    if ":" in name:
        return f"entry {name!r} has a drive letter or a stream name (':')"
    parts = name.rstrip("/").split("/")
    if ".." in parts:
        return f"entry {name!r} climbs out of the archive ('..')"
    if any(part in ("", ".") for part in parts):
        return f"entry {name!r} has an empty or '.' path component"
    return None


def _key(name: str) -> str:
    """A path as compared: Unicode NFC, case folded, without a trailing '/'."""
    return unicodedata.normalize("NFC", name.rstrip("/")).casefold()


def _inflate(data: bytes, info: zipfile.ZipInfo, budget: int, max_ratio: int) -> bytes:
    """The entry's bytes, read from its own local record and inflated in chunks within the limits."""
    offset = info.header_offset
    header = data[offset : offset + _LOCAL_HEADER.size] if offset >= 0 else b""
    if len(header) < _LOCAL_HEADER.size or header[:4] != b"PK\x03\x04":
        raise NotAnXdm(f"entry {info.filename!r}: no local file header where the central directory points")
    fields = _LOCAL_HEADER.unpack(header)
    method, name_length, extra_length = fields[4], fields[10], fields[11]
    raw_name = data[offset + _LOCAL_HEADER.size : offset + _LOCAL_HEADER.size + name_length]
    try:
        central_name = info.orig_filename.encode("utf-8" if info.flag_bits & 0x800 else "cp437")
    except UnicodeError:
        central_name = b""
    if raw_name != central_name or method != info.compress_type:
        raise NotAnXdm(
            f"entry {info.filename!r}: the local header and the central directory disagree "
            "(name or method), so readers would not see the same archive",
            dangerous=True,
        )
    start = offset + _LOCAL_HEADER.size + name_length + extra_length
    raw = data[start : start + info.compress_size]
    if len(raw) < info.compress_size:
        raise NotAnXdm(f"entry {info.filename!r} is truncated")
    if method == zipfile.ZIP_STORED:
        content = raw
        if len(content) > budget:
            raise NotAnXdm("the archive inflates to more than the size allowed (zip bomb)", dangerous=True)
    else:
        out = bytearray()
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        position, pending = 0, b""
        try:
            while not inflater.eof:
                if not pending:
                    if position >= len(raw):
                        break
                    pending, position = raw[position : position + _CHUNK], position + _CHUNK
                out += inflater.decompress(pending, _CHUNK)
                pending = inflater.unconsumed_tail
                if len(out) > info.file_size:
                    raise NotAnXdm(
                        f"entry {info.filename!r} inflates to more than the {info.file_size} bytes it declares "
                        "(forged sizes: zip bomb)",
                        dangerous=True,
                    )
                if len(out) > budget:
                    raise NotAnXdm("the archive inflates to more than the size allowed (zip bomb)", dangerous=True)
                if len(out) > _RATIO_MIN_SIZE and len(out) > max_ratio * max(info.compress_size, 1):
                    raise NotAnXdm(
                        f"entry {info.filename!r} inflates more than {max_ratio} times (zip bomb)", dangerous=True
                    )
        except zlib.error as exc:
            raise NotAnXdm(f"entry {info.filename!r}: corrupt deflate data ({exc})") from None
        if not inflater.eof:
            raise NotAnXdm(f"entry {info.filename!r}: the deflate stream is truncated")
        content = bytes(out)
    if len(content) != info.file_size:
        raise NotAnXdm(f"entry {info.filename!r} holds {len(content)} bytes, not the {info.file_size} it declares")
    if zlib.crc32(content) != info.CRC:
        raise NotAnXdm(f"entry {info.filename!r}: CRC-32 mismatch (corrupt archive)")
    return content


def unzip(
    data: bytes,
    *,
    max_entries: int = 1000,
    max_total_uncompressed: int = 100 * 1024 * 1024,
    max_ratio: int = 200,
) -> tuple[dict[str, bytes], list[str]]:
    """(file path -> bytes, directory paths) of a zip, refusing what is dangerous to open.

    Checked before inflating anything: entry count, names (traversal, absolute, backslash,
    drive letter, control characters, duplicates ignoring case, a file and a folder of the
    same name), links and special files (Unix mode in the external attributes), encryption,
    compression method (stored or deflate), declared sizes and ratios, overlapping records.
    Then every entry is inflated in chunks from its own local record, counting the bytes
    actually produced against its declared size, the ratio and the total.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, OSError, UnicodeError) as exc:
        raise NotAnXdm(f"not a zip archive: {exc}") from None
    with archive:
        infos = archive.infolist()
    if not infos:
        raise NotAnXdm("the zip archive is empty")
    if len(infos) > max_entries:
        raise NotAnXdm(f"the archive has {len(infos)} entries, more than the {max_entries} allowed", dangerous=True)
    seen: dict[str, str] = {}
    folders: set[str] = set()
    for info in infos:
        problem = _path_problem(info.orig_filename)
        if problem:
            raise NotAnXdm(problem, dangerous=True)
        key = _key(info.filename)
        if key in seen:
            raise NotAnXdm(
                f"entries {seen[key]!r} and {info.filename!r} have the same name when case is ignored", dangerous=True
            )
        seen[key] = info.filename
        parts = key.split("/")
        folders.update("/".join(parts[:i]) for i in range(1, len(parts)))
        kind = stat.S_IFMT(info.external_attr >> 16)  # Unix file type; 0 when the creator wrote none
        if kind == stat.S_IFLNK:
            raise NotAnXdm(f"entry {info.filename!r} is a symbolic link", dangerous=True)
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise NotAnXdm(f"entry {info.filename!r} is a special file (type {kind:o})", dangerous=True)
        if info.flag_bits & 0x41:  # bit 0 encrypted, bit 6 strong encryption
            raise NotAnXdm(f"entry {info.filename!r} is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise NotAnXdm(f"entry {info.filename!r} uses compression method {info.compress_type} (stored or deflate)")
        if info.file_size > _RATIO_MIN_SIZE and info.file_size > max_ratio * max(info.compress_size, 1):
            raise NotAnXdm(
                f"entry {info.filename!r} declares {info.file_size} bytes from {info.compress_size} "
                f"(ratio above {max_ratio}: zip bomb)",
                dangerous=True,
            )
    clash = [name for key, name in seen.items() if key in folders and not name.endswith("/")]
    if clash:
        raise NotAnXdm(f"{clash[0]!r} is both a file and a folder of the archive", dangerous=True)
    declared = sum(i.file_size for i in infos)
    if declared > max_total_uncompressed:
        raise NotAnXdm(
            f"the entries declare {declared} bytes, more than the {max_total_uncompressed} allowed (zip bomb)",
            dangerous=True,
        )
    records = sorted(infos, key=lambda i: i.header_offset)
    for current, following in itertools.pairwise(records):
        if current.header_offset + _LOCAL_HEADER.size + current.compress_size > following.header_offset:
            raise NotAnXdm(
                f"entries {current.filename!r} and {following.filename!r} overlap (zip bomb technique)", dangerous=True
            )
    files: dict[str, bytes] = {}
    directories: list[str] = []
    total = 0
    for info in infos:
        if info.filename.endswith("/"):
            directories.append(info.filename)
            continue
        content = _inflate(data, info, max_total_uncompressed - total, max_ratio)
        total += len(content)
        files[info.filename] = content
    return files, directories


# -- the package ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResolvedUri:
    """How a DocumentEntry's URI slot was matched to a file of its subset."""

    uri: str | None
    path: str | None  # path in the archive, None when nothing matched
    problem: str | None = None  # why it names no file of the subset
    note: str | None = None  # a lenient match (case, relative to IHE_XDM/)


@dataclass
class XdmSubset:
    name: str  # the folder name as written, e.g. "SUBSET01"
    folder: str  # "IHE_XDM/SUBSET01/" as written
    files: dict[str, bytes]  # path relative to the folder -> bytes (METADATA.XML included)
    paths: dict[str, str]  # path relative to the folder -> path in the archive
    metadata_name: str | None  # METADATA.XML as written, None when absent
    submission: xds.Submission | None = None
    metadata_error: str | None = None
    resolved: dict[str, ResolvedUri] = field(default_factory=dict)  # entry id -> URI resolution
    documents: dict[str, bytes] = field(default_factory=dict)  # entry id -> file content


@dataclass
class XdmPackage:
    entries: dict[str, bytes]  # every file, path as written in the archive
    directories: list[str]
    subsets: list[XdmSubset]

    def find(self, path: str) -> str | None:
        """The entry written as ``path``, or matching it when case is ignored."""
        if path in self.entries:
            return path
        key = _key(path)
        return next((name for name in self.entries if _key(name) == key), None)

    @property
    def submissions(self) -> dict[str, xds.Submission]:
        return {s.name: s.submission for s in self.subsets if s.submission is not None}

    def documents(self) -> dict[str, bytes]:
        """Every DocumentEntry's content by entry id, over all subsets."""
        return {entry_id: content for s in self.subsets for entry_id, content in s.documents.items()}


def cda_code(cda: bytes) -> str | None:
    """``ClinicalDocument/code/@code`` (what ``X-MSS-CODECDA`` lists, facts §3.3), None if unreadable."""
    try:
        code = read_cda(cda).find("c:code")
    except NotACda:
        return None
    return code.get("code") if code is not None else None


def patient_of(package: XdmPackage) -> tuple[str, str] | None:
    """(matricule, OID) of the SubmissionSet patientId of the first readable subset (ECO.2.1.2).

    A receiving product identifies the patient from METADATA.XML, not from the subject.
    """
    for submission in package.submissions.values():
        ss = submission.submission_set
        found = xds.patient_ins(ss.patient_id) if ss is not None else None
        if found is not None and found[1]:
            return found[0], found[1]
    return None


def _parse_metadata(data: bytes) -> xds.Submission:
    """The SubmitObjectsRequest of METADATA.XML, bare or wrapped (the ANS DRIM sample wraps it in SOAP)."""
    if b"<!DOCTYPE" in data:
        raise ValueError("document type declarations and entities are not accepted")
    try:
        root = etree.fromstring(data, _XML_PARSER)
    except etree.XMLSyntaxError as exc:
        raise ValueError(f"not well-formed XML: {exc}") from None
    tag = f"{{{xds.LCM}}}SubmitObjectsRequest"
    request = root if root.tag == tag else next(root.iter(tag), None)
    if request is None:
        raise ValueError(f"no lcm:SubmitObjectsRequest (root element {root.tag})")
    return xds.parse_submission(request)


def _resolve(uri: str | None, subset: XdmSubset) -> ResolvedUri:
    """The file a URI names: relative to METADATA.XML (IHE), else leniently, with a note."""
    if uri is None or not uri.strip():
        return ResolvedUri(uri, None, "the DocumentEntry has no URI slot")
    value = unquote(uri.strip())
    if "://" in value or value.startswith("/") or "\\" in value or ".." in value.split("/") or ":" in value:
        return ResolvedUri(uri, None, f"URI {uri!r} is not a path relative to METADATA.XML")
    candidates: list[tuple[str, str | None]] = [(value, None)]
    parts = value.split("/")
    folded = [_key(p) for p in parts]
    if len(parts) > 1 and folded[0] == _key(subset.name):
        from_xdm = f"URI {uri!r} is relative to {XDM_DIR}/, not to the folder of METADATA.XML"
        candidates.append(("/".join(parts[1:]), from_xdm))
    if len(parts) > 2 and folded[0] == _key(XDM_DIR) and folded[1] == _key(subset.name):
        from_root = f"URI {uri!r} is relative to the archive root, not to the folder of METADATA.XML"
        candidates.append(("/".join(parts[2:]), from_root))
    for relative, where in candidates:
        if relative in subset.files:
            return ResolvedUri(uri, subset.paths[relative], None, where)
    for relative, where in candidates:
        match = next((name for name in subset.files if _key(name) == _key(relative)), None)
        if match is not None:
            case_note = f"URI {uri!r} matches the file {match!r} only when case is ignored"
            return ResolvedUri(uri, subset.paths[match], None, f"{where}; {case_note}" if where else case_note)
    return ResolvedUri(uri, None, f"URI {uri!r} names no file of {subset.folder}")


def _subset(root: str, name: str, entries: dict[str, bytes]) -> XdmSubset:
    files: dict[str, bytes] = {}
    paths: dict[str, str] = {}
    for path, content in entries.items():
        parts = path.split("/")
        if len(parts) > 2 and _key(parts[0]) == _key(XDM_DIR) and _key(parts[1]) == _key(name):
            relative = "/".join(parts[2:])
            files[relative], paths[relative] = content, path
    metadata_name = next((n for n in files if _key(n) == _key(METADATA)), None)
    subset = XdmSubset(name, f"{root}/{name}/", files, paths, metadata_name)
    if metadata_name is None:
        return subset
    try:
        subset.submission = _parse_metadata(files[metadata_name])
    except ValueError as exc:
        subset.metadata_error = str(exc)
        return subset
    for entry in subset.submission.documents:
        resolved = _resolve(entry.slot("URI"), subset)
        subset.resolved[entry.id] = resolved
        if resolved.path is not None:
            subset.documents[entry.id] = entries[resolved.path]
    return subset


def read_xdm(
    data: bytes,
    *,
    max_entries: int = 1000,
    max_total_uncompressed: int = 100 * 1024 * 1024,
    max_ratio: int = 200,
) -> XdmPackage:
    """Open an XDM archive safely (see :func:`unzip`); raises :class:`NotAnXdm`.

    A zip with no ``IHE_XDM`` folder at its root is not an XDM. What is wrong inside one (no
    METADATA.XML, unreadable metadata, URIs naming nothing) is kept for :func:`check_xdm`.
    Names are matched ignoring case; every lenient match is noted.
    """
    entries, directories = unzip(
        data, max_entries=max_entries, max_total_uncompressed=max_total_uncompressed, max_ratio=max_ratio
    )
    root: str | None = None
    names: dict[str, str] = {}  # folded -> subset folder name as first written
    nested: str | None = None
    for path in [*entries, *directories]:
        parts = path.rstrip("/").split("/")
        folded = [_key(p) for p in parts]
        if folded[0] == _key(XDM_DIR):
            root = root or parts[0]
            if len(parts) > 2 or (len(parts) == 2 and path.endswith("/")):
                names.setdefault(folded[1], parts[1])
        elif nested is None and _key(XDM_DIR) in folded[1:]:
            nested = "/".join(parts[: folded.index(_key(XDM_DIR))])
    if root is None:
        hint = f" (it is under {nested}/: zip the content of that folder, not the folder)" if nested else ""
        raise NotAnXdm(f"no {XDM_DIR} folder at the root of the archive: not an IHE XDM archive{hint}")
    subsets = [_subset(root, name, entries) for _, name in sorted(names.items())]
    return XdmPackage(entries, directories, subsets)


# -- judging ----------------------------------------------------------------------------------


def _recipient_problem(value: str) -> str | None:
    """Why an intendedRecipient value is not ``XON|XCN|XTN`` (IHE ITI TF-3), or None."""
    if "|" not in value:
        if "@" in value and "^" not in value:
            return f"{value!r} is a bare address; an email-only recipient is written ||^^Internet^{value}"
        return None if "^" in value else f"{value!r} is not in the XON|XCN|XTN form"
    parts = value.split("|")
    if len(parts) > 3 or not any(parts):
        return f"{value!r} is not in the XON|XCN|XTN form"
    if len(parts) == 2 and parts[1].startswith("^^Internet^"):
        return f"{value!r} puts the email in the XCN position; the XTN is the third part: ||^^Internet^<address>"
    if len(parts) == 3 and parts[2]:
        xtn = parts[2].split("^")
        if len(xtn) < 4 or xtn[2] != "Internet" or not _EMAIL.match(xtn[3]):
            return f"telecommunication {parts[2]!r} must be ^^Internet^<email address>"
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
            findings.append(Finding("xdm.uri", problem, Severity.ERROR, requirement, location, received=resolved.uri))
            continue
        referenced.add(resolved.path)
        if resolved.note:
            findings.append(Finding("xdm.uri", resolved.note, Severity.WARNING, requirement, location))
        content = subset.documents[entry.id]
        size = entry.slot("size")
        if size is None:
            findings.append(Finding("xdm.size", "the size slot is missing", Severity.ERROR, requirement, location))
        elif size.strip() != str(len(content)):
            message = f"size is not the length of {resolved.path}"
            findings.append(
                Finding("xdm.size", message, Severity.ERROR, requirement, location, str(len(content)), size)
            )
        digest = hashlib.sha1(content).hexdigest()
        declared = entry.slot("hash")
        if declared is None:
            findings.append(Finding("xdm.hash", "the hash slot is missing", Severity.ERROR, requirement, location))
        elif not _SHA1.match(declared.strip()) or declared.strip().lower() != digest:
            message = f"hash is not the SHA-1 (hexadecimal) of {resolved.path}"
            findings.append(Finding("xdm.hash", message, Severity.ERROR, requirement, location, digest, declared))
    for name, path in subset.paths.items():
        if name != subset.metadata_name and path not in referenced:
            message = "no DocumentEntry of METADATA.XML references this file (URI slot)"
            findings.append(Finding("xdm.unreferenced", message, Severity.ERROR, requirement, path))
    return findings


def _check_recipients(submission: xds.Submission, where: str, requirement: str) -> list[Finding]:
    findings = []
    for ss in submission.submission_sets:
        location = f"{where}/{METADATA}, SubmissionSet {ss.id}"
        values = ss.slots.get("intendedRecipient") or []
        if not values:
            message = "no intendedRecipient: the MSSanté addresses the documents are sent to are not named"
            findings.append(Finding("xdm.intended-recipient", message, Severity.WARNING, requirement, location))
        for value in values:
            problem = _recipient_problem(value)
            if problem:
                findings.append(
                    Finding("xdm.intended-recipient", problem, Severity.ERROR, requirement, location, received=value)
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
                )
            )
    return findings


def _check_subset(subset: XdmSubset, requirement: str) -> list[Finding]:
    where = subset.folder.rstrip("/")
    if subset.metadata_name is None:
        return [Finding("xdm.layout", f"{where} has no {METADATA}", Severity.ERROR, requirement, where)]
    submission = subset.submission
    if submission is None:
        message = f"{METADATA} cannot be read: {subset.metadata_error}"
        return [Finding("xdm.metadata", message, Severity.ERROR, requirement, f"{where}/{subset.metadata_name}")]
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
            findings.append(Finding("xdm.layout", message, Severity.ERROR, requirement, name))
    for path in [*package.entries, *package.directories]:
        bad = [part for part in path.rstrip("/").split("/") if not _NAME_83.match(part)]
        if bad:
            message = f"{', '.join(repr(b) for b in bad)}: not an upper-case 8.3 name (A-Z, 0-9, _)"
            findings.append(Finding("xdm.file-name", message, Severity.ERROR, requirement, path))
    for path in package.entries:
        parts = path.split("/")
        if len(parts) == 2 and _key(parts[0]) == _key(XDM_DIR):
            message = f"a file directly in {XDM_DIR}/: files belong in a submission set folder"
            findings.append(Finding("xdm.layout", message, Severity.WARNING, requirement, path))
    if not package.subsets:
        message = f"{XDM_DIR}/ holds no submission set folder"
        findings.append(Finding("xdm.layout", message, Severity.ERROR, requirement, XDM_DIR))
    for subset in package.subsets:
        findings += _check_subset(subset, requirement)
    return findings


def validate_xdm_file(path: Path, options: object | None = None) -> dict[str, Any]:
    """``segur validate xdm FILE``: the result dict of :mod:`harness.content.validate` (``error`` = exit 2).

    ``options`` (a ``harness.content.validate.ValidateOptions``) is accepted so that this function can
    sit in ``harness.content.validate.VALIDATORS`` as it is; nothing in it applies to XDM yet.
    """
    from harness.content.validate import _finding_json, _unreadable  # here: harness.validate may import this module

    try:
        package = read_xdm(path.read_bytes())
    except (NotAnXdm, OSError) as exc:
        return _unreadable(path, str(exc))
    findings = check_xdm(package)
    return {
        "file": str(path),
        "valid": not any(f.severity is Severity.ERROR for f in findings),
        "findings": [_finding_json(f.to_dict()) for f in findings],
        "subsets": len(package.subsets),
        "documents": sum(len(s.submission.documents) for s in package.subsets if s.submission is not None),
    }
