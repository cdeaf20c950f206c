"""Reading ebRIM XML into the XDS.b model: a SubmitObjectsRequest, its objects and their documents.

Reading is lenient: any prefix layout, unknown slots and classifications are kept, nothing is
refused here (judging is the verifiers' business), and a Document whose id matches its
ExtrinsicObject only when case is ignored is attached with a note.
"""

from __future__ import annotations

from lxml import etree

from harness.protocols.xds.model import Association, Classification, RegistryObject, Submission
from harness.protocols.xds.names import RIM, qname


def _slots(element: etree._Element) -> dict[str, list[str]]:
    slots: dict[str, list[str]] = {}
    for slot in element.findall(qname(RIM, "Slot")):
        values = [(v.text or "").strip() for v in slot.iter(qname(RIM, "Value"))]
        slots.setdefault(slot.get("name", ""), []).extend(values)
    return slots


def _localized(element: etree._Element, name: str) -> str | None:
    found = element.find(f"{qname(RIM, name)}/{qname(RIM, 'LocalizedString')}")
    return found.get("value") if found is not None else None


def registry_object(element: etree._Element) -> RegistryObject:
    classifications = []
    for c in element.findall(qname(RIM, "Classification")):
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
    for e in element.findall(qname(RIM, "ExternalIdentifier")):
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
    object_list = request.find(qname(RIM, "RegistryObjectList"))
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
