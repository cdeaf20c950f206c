"""SOAP 1.2 helpers shared by the SOAP mocks: safe parsing of untrusted bytes, faults.

Untrusted XML is parsed with no DTD, no entity resolution and no network; a DOCTYPE is
refused outright, so XXE and entity-expansion payloads fail fast with a clean error instead
of being expanded.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

SOAP12_NS = "http://www.w3.org/2003/05/soap-envelope"
SOAP11_NS = "http://schemas.xmlsoap.org/soap/envelope/"
WSA_NS = "http://www.w3.org/2005/08/addressing"
SOAP12_CONTENT_TYPE = "application/soap+xml"

_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_blank_text=False
)


class SoapInputError(ValueError):
    """Input the service refuses before any business handling; ``status`` is the HTTP status."""

    def __init__(self, message: str, status: int = 400, code: str = "Sender"):
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass
class SoapMessage:
    envelope: etree._Element
    version: str  # "1.2" or "1.1"
    header: etree._Element | None
    body: etree._Element

    @property
    def namespace(self) -> str:
        return SOAP12_NS if self.version == "1.2" else SOAP11_NS

    def header_block(self, namespace: str, name: str) -> etree._Element | None:
        if self.header is None:
            return None
        return self.header.find(f"{{{namespace}}}{name}")

    def body_element(self) -> etree._Element | None:
        children = [c for c in self.body if isinstance(c.tag, str)]
        return children[0] if children else None

    def wsa(self, name: str) -> str | None:
        block = self.header_block(WSA_NS, name)
        return block.text.strip() if block is not None and block.text else None


def parse_content_type(value: str) -> tuple[str, dict[str, str]]:
    """('application/soap+xml', {'charset': 'utf-8', 'action': '...'}) from a Content-Type header."""
    media, _, rest = value.partition(";")
    params = {}
    for part in rest.split(";"):
        key, sep, val = part.strip().partition("=")
        if sep:
            params[key.strip().lower()] = val.strip().strip('"')
    return media.strip().lower(), params


def parse_envelope(data: bytes) -> SoapMessage:
    """Parse untrusted bytes as a SOAP envelope (1.2, or 1.1 reported as such)."""
    if b"<!DOCTYPE" in data:  # XML names are case-sensitive: this is the only spelling a parser accepts
        raise SoapInputError("document type declarations and entities are not accepted")
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise SoapInputError(f"malformed XML: {exc}") from None
    namespace = etree.QName(root).namespace
    if etree.QName(root).localname != "Envelope" or namespace not in (SOAP12_NS, SOAP11_NS):
        raise SoapInputError(f"the document is not a SOAP envelope: root element {root.tag}")
    version = "1.2" if namespace == SOAP12_NS else "1.1"
    header = root.find(f"{{{namespace}}}Header")
    body = root.find(f"{{{namespace}}}Body")
    if body is None:
        raise SoapInputError("the SOAP envelope has no Body")
    return SoapMessage(root, version, header, body)


def fault(
    code: str,
    reason: str,
    *,
    subcode: str | None = None,
    detail: etree._Element | None = None,
    header: list[etree._Element] | None = None,
    lang: str = "fr",
    namespaces: dict[str, str] | None = None,
) -> bytes:
    """A SOAP 1.2 Fault envelope; ``code`` is Sender or Receiver, ``subcode`` a QName.

    A prefixed ``subcode`` (``wsse:FailedAuthentication``) needs its prefix in ``namespaces``: the
    Value is an xs:QName, and an undeclared prefix makes the fault undecodable for a strict stack.
    """
    check_fault_qnames(code, subcode, namespaces or {})
    nsmap = {"soap": SOAP12_NS, **(namespaces or {})}
    envelope = etree.Element(f"{{{SOAP12_NS}}}Envelope", nsmap=nsmap)
    if header:
        head = etree.SubElement(envelope, f"{{{SOAP12_NS}}}Header")
        for block in header:
            head.append(block)
    body = etree.SubElement(envelope, f"{{{SOAP12_NS}}}Body")
    fault_element = etree.SubElement(body, f"{{{SOAP12_NS}}}Fault")
    code_element = etree.SubElement(fault_element, f"{{{SOAP12_NS}}}Code")
    etree.SubElement(code_element, f"{{{SOAP12_NS}}}Value").text = f"soap:{code}"
    if subcode:
        sub = etree.SubElement(code_element, f"{{{SOAP12_NS}}}Subcode")
        etree.SubElement(sub, f"{{{SOAP12_NS}}}Value").text = subcode
    reason_element = etree.SubElement(fault_element, f"{{{SOAP12_NS}}}Reason")
    text = etree.SubElement(reason_element, f"{{{SOAP12_NS}}}Text")
    text.set("{http://www.w3.org/XML/1998/namespace}lang", lang)
    text.text = reason
    if detail is not None:
        etree.SubElement(fault_element, f"{{{SOAP12_NS}}}Detail").append(detail)
    return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")


def check_fault_qnames(code: str, subcode: str | None, namespaces: dict[str, str]) -> dict[str, str]:
    """The prefixes to declare for ``subcode``; ValueError when a prefix is undeclared or reserved."""
    if not code or ":" in code:
        raise ValueError(f"SOAP fault code {code!r} must be a local name of the envelope namespace (Sender, Receiver)")
    if not subcode or ":" not in subcode:
        return {}
    prefix, _, local = subcode.partition(":")
    if not local or ":" in local:
        raise ValueError(f"SOAP fault subcode {subcode!r} is not a QName")
    if prefix == "soap":
        return {}
    namespace = namespaces.get(prefix)
    if not namespace:
        raise ValueError(f"SOAP fault subcode {subcode!r}: prefix {prefix!r} has no namespace declared")
    if prefix in ("xml", "xmlns"):
        raise ValueError(f"SOAP fault subcode {subcode!r}: prefix {prefix!r} is reserved")
    return {prefix: namespace}


def envelope(body: etree._Element, header: list[etree._Element] | None = None) -> bytes:
    """A SOAP 1.2 envelope around ``body``."""
    root = etree.Element(f"{{{SOAP12_NS}}}Envelope", nsmap={"soap": SOAP12_NS})
    if header:
        head = etree.SubElement(root, f"{{{SOAP12_NS}}}Header")
        for block in header:
            head.append(block)
    etree.SubElement(root, f"{{{SOAP12_NS}}}Body").append(body)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def wsa_element(name: str, value: str) -> etree._Element:
    element = etree.Element(f"{{{WSA_NS}}}{name}", nsmap={"wsa": WSA_NS})
    element.text = value
    return element
