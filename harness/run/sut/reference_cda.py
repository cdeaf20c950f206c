"""The reference product's CDA producer: a CI-SIS non-structured (N1) document with a PDF body.

It writes what a DPI writes when it shares a report: the header of the volet "Structuration
minimale" with the patient's INS, the author and the structure, and the PDF as base64. The DMP
and MSSanté work send these documents. Named defects break one header rule each.
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid
import zlib
from typing import Any

from lxml import etree

HL7 = "urn:hl7-org:v3"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
LOINC = "2.16.840.1.113883.6.1"
PS_ROOT = "1.2.250.1.71.4.2.1"
STRUCTURE_ROOT = "1.2.250.1.71.4.2.2"
# OIDs under the UUID arc (ITU-T X.667, 2.25): unique without a registered organisation OID.
UUID_ARC = "2.25"
# The reference product's own assigning authority for local patient identifiers (IPP).
LOCAL_PATIENT_ID_ROOT = "2.25.262515399341402419372592545262950937153"

CDA_DEFECTS: dict[str, str] = {
    "cda_missing_ci_sis_template": "drops the CI-SIS templateId 1.2.250.1.213.1.1.1.1 from the document",
    "cda_document_id_with_extension": "identifies the document with root + extension, which the DMP refuses",
    "cda_ins_not_first": "puts the local patient identifier before the INS in recordTarget/patientRole",
    "cda_null_flavor_on_custodian_id": "writes the custodian organisation id as nullFlavor=UNK",
    "cda_effective_time_without_offset": "writes effectiveTime without seconds nor UTC offset",
    "cda_local_document_code": "codes the document type with a local code outside JDV_J07",
    "cda_volet_template_wrong_code": "declares the LDL-SES volet templateId on a document coded otherwise",
    "cda_word_media_type": "embeds the body as a Word file (mediaType not allowed in a N1 document)",
}

# A consultation note: a document type of JDV_J07 usable in a non-structured document.
DOCUMENT_CODE = ("11488-4", "CR ou fiche de consultation ou de visite")
PROFESSIONAL = {
    "id_nat_ps": "899900000011",
    "family": "MEDECIN",
    "given": "Test",
    "specialty": "G15_10/SM26",
    "specialty_name": "Médecin - Qualifié en Médecine Générale (SM)",
}
STRUCTURE = {"id": "1750803447", "name": "Centre hospitalier de référence segur-harness"}


def minimal_pdf(text: str) -> bytes:
    """A one-page PDF 1.4 showing ``text`` (ASCII), with a correct cross-reference table."""
    safe = text.encode("ascii", "replace").decode().replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    stream = f"BT /F1 12 Tf 72 720 Td ({safe}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _uuid_oid() -> str:
    return f"{UUID_ARC}.{uuid.uuid4().int}"


def _ts(moment: dt.datetime, *, defect: bool = False) -> str:
    return moment.strftime("%Y%m%d%H%M") if defect else moment.strftime("%Y%m%d%H%M%S%z")


class _Writer:
    """Small helper so the document reads top-down like the CI-SIS header tables."""

    def __init__(self) -> None:
        self.root = etree.Element(f"{{{HL7}}}ClinicalDocument", nsmap={None: HL7, "xsi": XSI})

    def add(self, parent: etree._Element, name: str, text: str | None = None, **attrs: str) -> etree._Element:
        element = etree.SubElement(parent, f"{{{HL7}}}{name}", {k.rstrip("_"): v for k, v in attrs.items()})
        if text is not None:
            element.text = text
        return element


def build_n1_document(
    patient: dict[str, Any],
    defects: frozenset[str] = frozenset(),
    *,
    title: str = "Note de consultation",
    replaces: dict[str, Any] | None = None,
    document_type: tuple[str, str] = DOCUMENT_CODE,
) -> bytes:
    """A N1 CDA for ``patient`` (identity fields of the SUT actions), as UTF-8 bytes.

    ``replaces`` (``document_id``, ``set_id``, ``version``) makes it the next version of a
    document already shared: same setId, versionNumber + 1, relatedDocument RPLC (STRUCMIN §3.5.5.10).
    """
    now = dt.datetime.now(dt.timezone(dt.timedelta(hours=1))).replace(microsecond=0)
    w = _Writer()
    doc = w.root
    w.add(doc, "realmCode", code="FR")
    w.add(doc, "typeId", root="2.16.840.1.113883.1.3", extension="POCD_HD000040")
    w.add(doc, "templateId", root="2.16.840.1.113883.2.8.2.1")
    if "cda_missing_ci_sis_template" not in defects:
        w.add(doc, "templateId", root="1.2.250.1.213.1.1.1.1")
    w.add(doc, "templateId", root="1.3.6.1.4.1.19376.1.2.20")
    if "cda_volet_template_wrong_code" in defects:
        w.add(doc, "templateId", root="1.2.250.1.213.1.1.1.29", extension="2022.01")
    document_id = _uuid_oid()
    if "cda_document_id_with_extension" in defects:
        w.add(doc, "id", root=STRUCTURE_ROOT, extension=f"{STRUCTURE['id']}-{uuid.uuid4().hex[:12]}")
    else:
        w.add(doc, "id", root=document_id)
    code, display = ("CR-LOCAL-42", "Compte rendu local") if "cda_local_document_code" in defects else document_type
    w.add(doc, "code", code=code, displayName=display, codeSystem=LOINC, codeSystemName="LOINC")
    w.add(doc, "title", title)
    w.add(doc, "effectiveTime", value=_ts(now, defect="cda_effective_time_without_offset" in defects))
    w.add(doc, "confidentialityCode", code="N", codeSystem="2.16.840.1.113883.5.25", displayName="Normal")
    w.add(doc, "languageCode", code="fr-FR")
    w.add(doc, "setId", root=replaces["set_id"] if replaces else _uuid_oid())
    w.add(doc, "versionNumber", value=str(int(replaces["version"]) + 1) if replaces else "1")
    _record_target(w, patient, defects)
    _author(w, now)
    custodian = w.add(w.add(w.add(doc, "custodian"), "assignedCustodian"), "representedCustodianOrganization")
    if "cda_null_flavor_on_custodian_id" in defects:
        w.add(custodian, "id", nullFlavor="UNK")
    else:
        w.add(custodian, "id", root=STRUCTURE_ROOT, extension=STRUCTURE["id"])
    w.add(custodian, "name", STRUCTURE["name"])
    legal = w.add(doc, "legalAuthenticator")
    w.add(legal, "time", value=_ts(now))
    w.add(legal, "signatureCode", code="S")
    _professional(w, w.add(legal, "assignedEntity"))
    _documentation_of(w, now)
    if replaces:
        parent = w.add(w.add(doc, "relatedDocument", typeCode="RPLC"), "parentDocument")
        w.add(parent, "id", root=replaces["document_id"])
        w.add(parent, "setId", root=replaces["set_id"])
        w.add(parent, "versionNumber", value=str(replaces["version"]))
    encounter = w.add(w.add(doc, "componentOf"), "encompassingEncounter")
    w.add(w.add(encounter, "effectiveTime"), "low", value=_ts(now))
    facility = w.add(w.add(encounter, "location"), "healthCareFacility")
    w.add(facility, "code", code="SA01", codeSystem="1.2.250.1.71.4.2.4", displayName="Etablissement public de santé")
    media = "application/msword" if "cda_word_media_type" in defects else "application/pdf"
    body = w.add(w.add(doc, "component"), "nonXMLBody")
    pdf = minimal_pdf(f"{title} - {patient.get('nom_naissance', '')} {' '.join(patient.get('prenoms', []))}")
    w.add(body, "text", base64.b64encode(pdf).decode("ascii"), mediaType=media, representation="B64")
    return etree.tostring(doc, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _record_target(w: _Writer, patient: dict[str, Any], defects: frozenset[str]) -> None:
    role = w.add(w.add(w.root, "recordTarget"), "patientRole")
    local = (LOCAL_PATIENT_ID_ROOT, f"IPP{zlib.crc32(patient['ins'].encode()):010d}")
    ins_id = (patient["oid"], patient["ins"])
    for root, extension in [local, ins_id] if "cda_ins_not_first" in defects else [ins_id, local]:
        w.add(role, "id", root=root, extension=extension)
    person = w.add(role, "patient", classCode="PSN")
    name = w.add(person, "name")
    w.add(name, "family", patient["nom_naissance"], qualifier="BR")
    w.add(name, "given", " ".join(patient["prenoms"]))
    w.add(name, "given", patient["prenoms"][0], qualifier="BR")
    w.add(person, "administrativeGenderCode", code=patient["sexe"], codeSystem="2.16.840.1.113883.5.1")
    w.add(person, "birthTime", value=patient["date_naissance"].replace("-", ""))
    if patient.get("lieu_naissance"):
        place = w.add(w.add(person, "birthplace"), "place")
        w.add(w.add(place, "addr"), "county", patient["lieu_naissance"])


def _professional(w: _Writer, entity: etree._Element, *, code: bool = False) -> None:
    """The professional's id, [specialty code,] and name, in the order the CDA schema wants."""
    w.add(entity, "id", root=PS_ROOT, extension=PROFESSIONAL["id_nat_ps"])
    if code:
        w.add(
            entity,
            "code",
            code=PROFESSIONAL["specialty"],
            codeSystem="1.2.250.1.213.1.1.4.5",
            displayName=PROFESSIONAL["specialty_name"],
        )
    name = w.add(w.add(entity, "assignedPerson"), "name")
    w.add(name, "given", PROFESSIONAL["given"])
    w.add(name, "family", PROFESSIONAL["family"])


def _organization(w: _Writer, parent: etree._Element, *, named: bool = True) -> etree._Element:
    organization = w.add(parent, "representedOrganization")
    w.add(organization, "id", root=STRUCTURE_ROOT, extension=STRUCTURE["id"])
    if named:
        w.add(organization, "name", STRUCTURE["name"])
    return organization


def _author(w: _Writer, now: dt.datetime) -> None:
    author = w.add(w.root, "author")
    w.add(author, "time", value=_ts(now))
    assigned = w.add(author, "assignedAuthor")
    _professional(w, assigned, code=True)
    _organization(w, assigned)


def _documentation_of(w: _Writer, now: dt.datetime) -> None:
    event = w.add(w.add(w.root, "documentationOf"), "serviceEvent")
    w.add(event, "code", code=DOCUMENT_CODE[0], codeSystem=LOINC, displayName=DOCUMENT_CODE[1])
    times = w.add(event, "effectiveTime")
    w.add(times, "low", value=_ts(now - dt.timedelta(minutes=30)))
    w.add(times, "high", value=_ts(now))
    performer = w.add(w.add(event, "performer", typeCode="PRF"), "assignedEntity")
    w.add(performer, "id", root=PS_ROOT, extension=PROFESSIONAL["id_nat_ps"])
    organization = _organization(w, performer, named=False)
    w.add(
        organization,
        "standardIndustryClassCode",
        code="ETABLISSEMENT",
        codeSystem="1.2.250.1.213.1.1.4.9",
        displayName="Etablissement de santé",
    )
