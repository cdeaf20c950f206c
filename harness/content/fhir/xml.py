"""FHIR XML in: refused when it declares a DTD (no entity can be expanded), then read by the
fhir.resources model of its root element and turned into the JSON form the engine walks."""

from __future__ import annotations

import json
from typing import Any

from lxml import etree
from pydantic import ValidationError

FHIR_NS = "http://hl7.org/fhir"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def resource_from_xml(raw: bytes) -> dict[str, Any]:
    from harness.content.fhir.report import NotFhir
    from harness.content.fhir.structure import model_class

    try:
        root = etree.fromstring(raw, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise NotFhir(f"not well-formed XML: {exc}") from None
    if root.getroottree().docinfo.doctype:
        raise NotFhir("XML with a DOCTYPE is refused (entity expansion)")
    qname = etree.QName(root)
    if qname.namespace != FHIR_NS:
        raise NotFhir(f"root element {root.tag} is not in the FHIR namespace {FHIR_NS}")
    cls = model_class(qname.localname)
    if cls is None:
        raise NotFhir(f"{qname.localname!r} is not an R4 resource type")
    try:
        model = cls.model_validate_xml(etree.tostring(root))
    except ValidationError as exc:
        first = "; ".join(f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('msg')}" for e in exc.errors()[:5])
        raise NotFhir(f"XML {qname.localname} does not fit the R4 model: {first}") from None
    except Exception as exc:  # the XML reader raises assorted errors on odd input
        raise NotFhir(f"XML {qname.localname} cannot be read: {exc}") from None
    return json.loads(model.model_dump_json())
