"""Reading a CDA document from untrusted bytes, including signed and autoprésentable wrappers."""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

HL7 = "urn:hl7-org:v3"
DS = "http://www.w3.org/2000/09/xmldsig#"
XSL = "http://www.w3.org/1999/XSL/Transform"
CISIS = "urn:asip-sante:ci-sis"
NS = {"c": HL7}
MAX_BYTES = 64 * 1024 * 1024

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


class NotACda(ValueError):
    """The input cannot be read as a CDA document (exit status 2 in `segur validate`)."""


@dataclass
class CdaDocument:
    root: etree._Element  # the ClinicalDocument element
    wrapper: str | None  # None, "signed" or "autopresentable"

    def find(self, path: str) -> etree._Element | None:
        return self.root.find(path, NS)

    def findall(self, path: str) -> list[etree._Element]:
        return self.root.findall(path, NS)

    def xpath(self, path: str) -> list[etree._Element]:
        return list(self.root.xpath(path, namespaces=NS))


def location(element: etree._Element) -> str:
    """A readable XPath to ``element`` from ClinicalDocument (positions only where needed)."""
    steps = []
    node: etree._Element | None = element
    while node is not None and isinstance(node.tag, str):
        name = etree.QName(node).localname
        parent = node.getparent()
        if parent is not None:
            same = [s for s in parent if isinstance(s.tag, str) and s.tag == node.tag]
            if len(same) > 1:
                name += f"[{same.index(node) + 1}]"
        steps.append(name)
        if name.startswith("ClinicalDocument"):
            break
        node = parent
    return "/" + "/".join(reversed(steps))


def read_cda(data: bytes) -> CdaDocument:
    """Parse bytes as a CDA (possibly inside ds:Signature or an autoprésentable stylesheet)."""
    if len(data) > MAX_BYTES:
        raise NotACda(f"file larger than {MAX_BYTES // (1024 * 1024)} MiB")
    if b"<!DOCTYPE" in data:
        raise NotACda("document type declarations and entities are not accepted (XXE / entity expansion)")
    try:
        top = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise NotACda(f"not well-formed XML: {exc}") from None
    if top.tag == f"{{{HL7}}}ClinicalDocument":
        return CdaDocument(top, None)
    if top.tag == f"{{{DS}}}Signature":
        inner = top.find(f".//{{{HL7}}}ClinicalDocument")
        if inner is not None:
            return CdaDocument(inner, "signed")
    if top.tag == f"{{{XSL}}}stylesheet":
        inner = top.find(f".//{{{CISIS}}}Contenu/{{{HL7}}}ClinicalDocument")
        if inner is not None:
            return CdaDocument(inner, "autopresentable")
    raise NotACda(f"the root element is {top.tag}, not an HL7 CDA ClinicalDocument (urn:hl7-org:v3)")
