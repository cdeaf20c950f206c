"""The registry's copy of a DocumentEntry: its metadata with the registry's ids, version and slots
(hash, size, repository), and the :class:`StoredEntry` the registry indexes it by.
"""

from __future__ import annotations

import copy

from lxml import etree

from harness.protocols import xds
from mock_services.dmp.registry import StoredEntry


def stored_metadata(element: etree._Element, entry_uuid: str, lid: str, version: int, digest: str, size: int) -> bytes:
    """The DocumentEntry as the registry keeps it: its ids replaced, registry slots added."""
    entry = copy.deepcopy(element)
    old_id = entry.get("id", "")
    entry.set("id", entry_uuid)
    entry.set("lid", lid)
    entry.set("status", xds.APPROVED)
    entry.set("isOpaque", "false")
    for child in entry.iter():
        for attribute in ("classifiedObject", "registryObject"):
            if child.get(attribute) == old_id:
                child.set(attribute, entry_uuid)
    for slot in entry.findall(f"{{{xds.RIM}}}Slot"):
        if slot.get("name") in ("hash", "size", "repositoryUniqueId"):
            entry.remove(slot)
    for position, (name, value) in enumerate(
        (("hash", digest), ("size", str(size)), ("repositoryUniqueId", xds.DMP_REPOSITORY_ID))
    ):
        slot = xds.add_slot(entry, name, [value])
        entry.remove(slot)
        entry.insert(position, slot)
    for old in entry.findall(f"{{{xds.RIM}}}VersionInfo"):
        entry.remove(old)
    anchor = entry.find(f"{{{xds.RIM}}}Description")
    if anchor is None:
        anchor = entry.find(f"{{{xds.RIM}}}Name")
    version_info = etree.Element(f"{{{xds.RIM}}}VersionInfo", versionName=str(version))
    if anchor is not None:
        anchor.addnext(version_info)
    else:
        entry.append(version_info)
    return etree.tostring(entry)


def _stored_entry(
    document: xds.RegistryObject,
    entry_uuid: str,
    lid: str,
    version: int,
    patient_ins: str,
    digest: str,
    data: bytes | None,
    submission_set: str,
    metadata: bytes,
    *,
    size: int | None = None,
    unique_id: str | None = None,
    mime_type: str | None = None,
) -> StoredEntry:
    author = document.author(xds.DE_AUTHOR)
    person = xds.parse_xcn((author.get("authorPerson") or [""])[0])
    institution = xds.parse_xon((author.get("authorInstitution") or [""])[0])
    types = document.codes(xds.DE_TYPE)
    return StoredEntry(
        entry_uuid=entry_uuid,
        lid=lid,
        version=version,
        unique_id=unique_id or document.unique_id or "",
        patient_ins=patient_ins,
        status=xds.APPROVED,
        author=person.id,
        author_structure=institution.id,
        confidentiality=tuple(code for code, _ in document.codes(xds.DE_CONFIDENTIALITY)),
        type_code=types[0][0] if types else "",
        mime_type=mime_type or document.attributes.get("mimeType", "text/xml"),
        hash=digest,
        size=size if size is not None else len(data or b""),
        submission_set=submission_set,
        metadata=metadata,
    )
