"""Reading recorded DMPi calls: the transaction each one is, its SOAP payload, its VIHF, and the
registry's answers."""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from harness.core.recorder import REJECTED, Exchange
from harness.core.results import Finding
from harness.protocols import dmpi, mtom, soap, xds

# The kit's wsa:Action of each transaction the harness judges (DMP-01 expects exactly these).
ACTIONS = {op.action: (op.transaction, op.service) for op in dmpi.OPERATIONS if op.implemented}


# The VIHF problems that DMP-02 (signature, signer, validity) judges; the others belong to DMP-03
FATAL_VIHF = {
    "signature_absent",
    "signature_invalid",
    "signature_wrapping",
    "untrusted_signer",
    "expired",
    "not_yet_valid",
    "bad_issue_instant",
}


@dataclass
class DmpRequest:
    """One recorded request to the DMP, parsed again."""

    exchange: Exchange
    transaction: str | None = None
    message: soap.SoapMessage | None = None
    payload: etree._Element | None = None
    parts: mtom.MultipartMessage | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def where(self) -> str:
        return f"exchange {self.exchange.id} ({self.transaction or self.exchange.operation})"

    def documents(self) -> dict[str, bytes]:
        """TD2.1: each DocumentEntry's content, by entry id."""
        found = {}
        empty = mtom.MultipartMessage(mtom.MimePart(None, "", {}, b""), {})
        for document in self.payload.findall(f"{{{xds.XDSB}}}Document") if self.payload is not None else []:
            try:
                found[document.get("id", "")] = mtom.include_content(document, self.parts or empty) or b""
            except mtom.MtomError:
                continue
        submission = self.submission()
        return xds.attach_documents(submission, found)[0] if submission is not None else found

    def submission(self) -> xds.Submission | None:
        if self.payload is None:
            return None
        request = (
            self.payload if self.transaction == "TD3.3" else self.payload.find(f"{{{xds.LCM}}}SubmitObjectsRequest")
        )
        return xds.parse_submission(request) if request is not None else None


def read_request(exchange: Exchange) -> DmpRequest:
    request = DmpRequest(exchange)
    headers = {k.lower(): v for k, v in (exchange.request_meta.get("headers") or {}).items()}
    content_type = headers.get("content-type", "")
    body = exchange.request_body
    try:
        if mtom.is_multipart(content_type):
            request.parts = mtom.parse_multipart(body, content_type)
            body = request.parts.root.body
        request.message = soap.parse_envelope(body)
    except (mtom.MtomError, soap.SoapInputError) as exc:
        request.problems.append(str(exc))
        return request
    request.payload = request.message.body_element()
    # The transaction is found as the mock found it (a WSDL-generated client may send no kit action);
    # whether the action was the kit's is judged by DMP-01.
    found = dmpi.dispatch(
        request.message.wsa("Action"),
        soap.parse_content_type(content_type)[1].get("action"),
        request.payload,
        headers.get("soapaction"),
    )
    request.transaction = found.operation.transaction if found.operation and found.operation.implemented else None
    return request


def requests(exchanges: list[Exchange], transaction: str | None = None) -> list[DmpRequest]:
    read = [read_request(e) for e in exchanges if e.service == "dmp" and e.outcome != REJECTED]
    return [r for r in read if transaction is None or r.transaction == transaction]


def none_recorded(requirement: str, what: str, what_fr: str) -> list[Finding]:
    """No recorded request of the kind ``what`` (``what_fr`` in French) to judge."""
    return [
        Finding(
            "dmp.called",
            f"the product sent no {what} the mock could read",
            requirement=requirement,
            expected=f"at least one {what}",
            received="none",
            message_fr=f"le produit n'a envoyé au mock aucun message lisible de ce type : {what_fr}",
            expected_fr=f"au moins un envoi : {what_fr}",
            received_fr="aucun",
        )
    ]


def response_payload(exchange: Exchange) -> etree._Element | None:
    body = exchange.response_body
    content_type = exchange.response_meta.get("content_type", "")
    try:
        if mtom.is_multipart(content_type):
            body = mtom.parse_multipart(body, content_type).root.body
        return soap.parse_envelope(body).body_element()
    except (mtom.MtomError, soap.SoapInputError):
        return None


def registry_entries(exchanges: list[Exchange]) -> dict[str, etree._Element]:
    """Every DocumentEntry the registry returned to the product, by entryUUID (latest answer wins)."""
    found: dict[str, etree._Element] = {}
    for exchange in exchanges:
        if exchange.service != "dmp" or exchange.operation != "TD3.1":
            continue
        payload = response_payload(exchange)
        if payload is not None:
            for element in payload.iter(f"{{{xds.RIM}}}ExtrinsicObject"):
                found[element.get("id", "")] = element
    return found


def succeeded(exchange: Exchange) -> bool:
    payload = response_payload(exchange)
    return payload is not None and payload.get("status") == xds.SUCCESS
