"""What a CDA header says that its XDS DocumentEntry must repeat (facts §2.5, "CDA–XDS consistency").

The reference client fills its metadata from these values and the verifiers compare a
submission against them; the comparison rules themselves live in ``harness.run.verify.dmp``.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from harness.core.ins import INS_OIDS
from harness.protocols.cda_document import CdaDocument

_TS = re.compile(r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.\d+)?([+-]\d{4})?$")


def ts_to_utc(value: str | None) -> str | None:
    """A HL7 TS with an offset as an XDS UTC time (same precision); None when it has no offset."""
    if not value:
        return None
    match = _TS.match(value.strip())
    if not match or not match.group(7):
        return None
    parts = [int(p) if p else None for p in match.groups()[:6]]
    year, month, day, hour, minute, second = parts
    moment = dt.datetime(year or 1, month or 1, day or 1, hour or 0, minute or 0, second or 0)
    offset = match.group(7)
    sign = 1 if offset[0] == "+" else -1
    moment -= sign * dt.timedelta(hours=int(offset[1:3]), minutes=int(offset[3:5]))
    digits = len("".join(p for p in match.groups()[:6] if p))
    return moment.strftime("%Y%m%d%H%M%S")[:digits]


@dataclass(frozen=True)
class CdaHeader:
    document_id_root: str | None
    document_id_extension: str | None
    code: str | None
    code_system: str | None
    title: str | None
    confidentiality: str | None
    effective_time: str | None
    set_id: str | None
    version: str | None
    patient_ins: tuple[str, str] | None  # (matricule, oid) of the first patientRole/id with an INS OID
    author_id: str | None
    facility_code: str | None
    practice_code: str | None
    service_start: str | None
    service_stop: str | None
    related_parent_id: str | None
    related_type: str | None
    media_type: str | None


def read_header(doc: CdaDocument) -> CdaHeader:
    def attr(path: str, name: str) -> str | None:
        element = doc.find(path)
        return element.get(name) if element is not None else None

    patient = None
    for identifier in doc.findall("c:recordTarget/c:patientRole/c:id"):
        if identifier.get("root") in INS_OIDS and identifier.get("extension"):
            patient = (identifier.get("extension") or "", identifier.get("root") or "")
            break
    event_time = "c:documentationOf/c:serviceEvent/c:effectiveTime"
    title = doc.find("c:title")
    return CdaHeader(
        document_id_root=attr("c:id", "root"),
        document_id_extension=attr("c:id", "extension"),
        code=attr("c:code", "code"),
        code_system=attr("c:code", "codeSystem"),
        title=(title.text or "").strip() if title is not None else None,
        confidentiality=attr("c:confidentialityCode", "code"),
        effective_time=attr("c:effectiveTime", "value"),
        set_id=attr("c:setId", "root"),
        version=attr("c:versionNumber", "value"),
        patient_ins=patient,
        author_id=attr("c:author/c:assignedAuthor/c:id", "extension"),
        facility_code=attr("c:componentOf/c:encompassingEncounter/c:location/c:healthCareFacility/c:code", "code"),
        practice_code=attr(
            "c:documentationOf/c:serviceEvent/c:performer/c:assignedEntity/"
            "c:representedOrganization/c:standardIndustryClassCode",
            "code",
        ),
        service_start=attr(f"{event_time}/c:low", "value"),
        service_stop=attr(f"{event_time}/c:high", "value"),
        related_parent_id=attr("c:relatedDocument/c:parentDocument/c:id", "root"),
        related_type=attr("c:relatedDocument", "typeCode"),
        media_type=attr("c:component/c:nonXMLBody/c:text", "mediaType"),
    )
