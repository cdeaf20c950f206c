"""How an ITI-41 (TD2.1) request carries its documents, and reading one saved as a file.

The DMP takes TD2.1 in MTOM/XOP (facts §2.1; DMP-01): each ``xdsb:Document`` holds an
``xop:Include`` pointing at a MIME part. A Document holding its content as inline base64 text is
still a readable XML infoset (XOP only optimises base64Binary content), so a lenient receiver
decodes it, but the message is not the MTOM/XOP message the DMP asks for: :func:`check_document_transport`
says so for a recorded request (``harness.run.verify.dmp``) and for a saved one (``segur validate xds``).
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from harness.core.results import Finding
from harness.protocols import mtom, soap, xds


class NotASubmission(ValueError):
    """The input cannot be read as an ITI-41 submission (exit status 2 in `segur validate xds`)."""


def inline_documents(provide_request: etree._Element) -> list[str]:
    """The ids of the request's ``xdsb:Document`` elements whose content is inline text, not an ``xop:Include``."""
    found = []
    for document in provide_request.findall(f"{{{xds.XDSB}}}Document"):
        includes = [child for child in document if child.tag == mtom.XOP_INCLUDE]
        text = "".join([document.text or "", *(child.tail or "" for child in document)])
        if not includes and text.strip():
            found.append(document.get("id", ""))
    return found


def check_document_transport(provide_request: etree._Element, where: str) -> list[Finding]:
    """DMP-01: every document of a TD2.1 travels as an MTOM/XOP attachment, none as inline base64."""
    return [
        Finding(
            "dmp.mtom-inline",
            f"Document {document_id or '(no id)'} is sent as inline base64 text, not as an MTOM/XOP attachment",
            message_fr=(
                f"le Document {document_id or '(sans id)'} est transmis en base64 dans le message, "
                "et non en pièce jointe MTOM/XOP"
            ),
            requirement="DMP-01",
            location=where,
            expected="xop:Include",
            received="base64",
        )
        for document_id in inline_documents(provide_request)
    ]


@dataclass
class ProvideRequest:
    """A TD2.1 request read back: its body element, its MIME parts, the submission and its documents."""

    root: etree._Element
    parts: mtom.MultipartMessage | None
    submission: xds.Submission
    documents: dict[str, bytes]


def read_provide_request(data: bytes) -> ProvideRequest:
    """A TD2.1 request saved as a file: MIME (MTOM), SOAP envelope, or the bare request element."""
    parts = None
    if data.lstrip().startswith(b"--"):
        boundary = data.lstrip().split(b"\n", 1)[0].strip()[2:].decode("ascii", "replace")
        try:
            parts = mtom.parse_multipart(data.lstrip(), f'multipart/related; boundary="{boundary}"')
        except mtom.MtomError as exc:
            raise NotASubmission(f"unreadable MIME message: {exc}") from None
        data = parts.root.body
    try:
        root = soap.parse_envelope(data).body_element() if b"Envelope" in data[:2000] else None
        if root is None:
            root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False))
    except (soap.SoapInputError, etree.XMLSyntaxError) as exc:
        raise NotASubmission(f"unreadable XML: {exc}") from None
    request = (
        root if root.tag == f"{{{xds.LCM}}}SubmitObjectsRequest" else root.find(f"{{{xds.LCM}}}SubmitObjectsRequest")
    )
    if request is None:
        raise NotASubmission(f"no lcm:SubmitObjectsRequest (root element {root.tag})")
    submission = xds.parse_submission(request)
    contents = {}
    empty = mtom.MultipartMessage(mtom.MimePart(None, "", {}, b""), {})
    for document in root.findall(f"{{{xds.XDSB}}}Document"):
        try:
            contents[document.get("id", "")] = mtom.include_content(document, parts or empty) or b""
        except mtom.MtomError as exc:
            raise NotASubmission(f"Document {document.get('id')}: {exc}") from None
    return ProvideRequest(root, parts, submission, xds.attach_documents(submission, contents)[0])
