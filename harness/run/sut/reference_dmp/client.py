"""The reference DMP client's operations: what a conforming DPI does with the DMPi web services.

Each operation (TD0.2 existence test, authorisation, TD2.1 feeding, TD3.1 search, TD3.2
retrieval, TD3.3 masking and availability) builds its request with
:mod:`~harness.run.sut.reference_dmp.messages` and :mod:`~harness.run.sut.reference_dmp.metadata`,
sends it over mutual TLS (MTOM for documents) and reads the answer; faults and XDS failures are
:class:`DmpCallError` or a ``refused`` outcome. The product remembers what it shared, to replace it.
"""

from __future__ import annotations

import base64
import hashlib
import ssl
from dataclasses import dataclass, field
from typing import Any

import httpx
from lxml import etree

from harness.protocols import mtom, soap, vihf, xds
from harness.protocols.xades import DocumentSigner
from harness.run.sut.reference_cda import DOCUMENT_CODE, build_n1_document
from harness.run.sut.reference_dmp.messages import envelope as build_envelope
from harness.run.sut.reference_dmp.messages import psc_self_made_vihf, td02_body, vihf_assertion
from harness.run.sut.reference_dmp.metadata import (
    availability_update,
    masking_update,
    provide_and_register,
    retrieve_request,
    stored_query,
)
from harness.run.sut.reference_dmp.product import TD02_ACTION, TD21_ACTION


@dataclass(frozen=True)
class PreparedCall:
    url: str
    content: bytes
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PscCall:
    """A DMP call for a user logged in with Pro Santé Connect, through the PSC -> VIHF proxy (GENVIHF).

    The request goes to the proxy without a VIHF, with the access token as a Bearer token, the work
    situation (profession + category, ``X-Worksituation``) and the patient's INS (``X-insHeader``).
    """

    proxy_url: str  # the proxy's DMPi services base
    access_token: str
    id_token: str
    id_nat_ps: str
    work_situation: str


class DmpCallError(Exception):
    """The DMP answered a fault or an XDS failure, or could not be reached.

    ``unavailable`` is true when the connection was technically impossible (no answer, or HTTP 503):
    the case where a send is put on hold (SC.DMP/ALI/PROG.06) rather than reported as refused.
    """

    def __init__(self, message: str, *, unavailable: bool = False):
        super().__init__(message)
        self.unavailable = unavailable


@dataclass
class SharedDocument:
    """What the product keeps about a document it shared (to replace or mask it later)."""

    unique_id: str
    set_id: str
    version: int
    patient: dict[str, Any]
    title: str


@dataclass
class ReferenceDmpClient:
    url: str  # the base of the DMPi services, e.g. https://host/si-dmp-server/v2/services
    ssl_context: ssl.SSLContext | None
    signer: vihf.VihfSigner | None
    document_signer: DocumentSigner | None = None
    defects: frozenset[str] = frozenset()
    shared: dict[str, SharedDocument] = field(default_factory=dict)
    # Sends put on hold while the DMP could not be reached (patient, title, masking, type), oldest first.
    pending: list[tuple[dict[str, Any], str, list[str], tuple[str, str]]] = field(default_factory=list)
    timeout: float = 20.0
    purpose_of_use: str = "normal"  # access mode of the VIHF; emergency codes are configuration (facts §2.4)

    # -- transport -----------------------------------------------------------------------

    def _vihf(self, patient: dict[str, Any] | None) -> etree._Element:
        return vihf_assertion(self.signer, patient, self.defects, self.purpose_of_use)

    def prepare(
        self,
        service: str,
        action: str,
        body: etree._Element,
        patient: dict[str, Any] | None,
        attachments: list[tuple[str, str, bytes]] | None = None,
        psc: PscCall | None = None,
    ) -> PreparedCall:
        """The HTTP request of one transaction, not sent (tests and benchmarks replay or alter it)."""
        url, headers, assertion = f"{self.url}/{service}", {}, self._vihf(patient)
        if psc is not None and "psc_dmp_self_made_vihf" in self.defects:
            assertion = psc_self_made_vihf(self.signer, patient, psc.id_nat_ps)
        elif psc is not None:
            bearer = psc.id_token if "psc_dmp_id_token_as_bearer" in self.defects else psc.access_token
            url, assertion = f"{psc.proxy_url}/{service}", None
            headers = {"Authorization": f"Bearer {bearer}", "X-Worksituation": psc.work_situation}
            if patient is not None:
                headers["X-insHeader"] = str(patient["ins"])
        envelope = build_envelope(action, body, assertion, self.defects)
        if attachments is not None:
            data, content_type = mtom.build_multipart(envelope, attachments, soap_action=action)
        else:
            data, content_type = envelope, f'application/soap+xml; charset=utf-8; action="{action}"'
        return PreparedCall(url, data, content_type, headers)

    def _call(
        self,
        service: str,
        action: str,
        body: etree._Element,
        patient: dict[str, Any] | None,
        attachments: list[tuple[str, str, bytes]] | None = None,
        psc: PscCall | None = None,
    ) -> tuple[etree._Element, mtom.MultipartMessage | None]:
        call = self.prepare(service, action, body, patient, attachments, psc)
        headers = {"content-type": call.content_type, **call.headers}
        try:
            with httpx.Client(verify=self.ssl_context or True, timeout=self.timeout) as client:
                response = client.post(call.url, content=call.content, headers=headers)
        except httpx.HTTPError as exc:
            raise DmpCallError(f"DMP unreachable: {exc}", unavailable=True) from exc
        unavailable = response.status_code == 503
        if unavailable and "xml" not in response.headers.get("content-type", ""):
            raise DmpCallError("DMP unavailable (HTTP 503)", unavailable=True)
        received_type = response.headers.get("content-type", "")
        if psc is not None and response.status_code in (400, 401, 403) and "json" in received_type:
            raise DmpCallError(f"the PSC proxy refused the call (HTTP {response.status_code}): {response.text[:200]}")
        parts = None
        raw = response.content
        if mtom.is_multipart(received_type):
            parts = mtom.parse_multipart(raw, received_type)
            raw = parts.root.body
        message = soap.parse_envelope(raw)
        fault = message.body.find(f"{{{soap.SOAP12_NS}}}Fault")
        if fault is not None:
            reason = "".join(fault.itertext()).split()
            raise DmpCallError(f"DMP fault: {' '.join(reason)[:300]}", unavailable=unavailable)
        payload = message.body_element()
        if payload is None:
            raise DmpCallError("DMP answer without a body")
        return payload, parts

    @staticmethod
    def _registry_errors(payload: etree._Element) -> list[str]:
        if payload.get("status") == xds.SUCCESS:
            return []
        return [e.get("errorCode", "?") for e in payload.iter(f"{{{xds.RS}}}RegistryError")] or ["failure"]

    # -- TD0.x -----------------------------------------------------------------------------

    def check_dmp(self, patient: dict[str, Any]) -> dict[str, Any]:
        answer, _ = self._call("patient", TD02_ACTION, self.td02_body(patient), patient)
        hl7 = "urn:hl7-org:v3"
        ns = {"h": hl7}
        detail = answer.xpath("string(h:acknowledgement/h:acknowledgementDetail/h:code/@code)", namespaces=ns)
        found = answer.xpath("string(.//h:queryAck/h:queryResponseCode/@code)", namespaces=ns) == "OK"
        authorisation = answer.xpath(
            "string(h:attentionLine[h:keyWordText/@code='AUTORISATION']/h:value/@code)", namespaces=ns
        )
        closed = detail == "DMPClosed" and "dmp_closed_as_open" not in self.defects
        outcome = "closed" if closed else "exists" if found or detail == "DMPClosed" else "not_found"
        return {"outcome": outcome, "authorisation": authorisation or None}

    td02_body = staticmethod(td02_body)

    def declare_authorisation(self, patient: dict[str, Any], action: str = "AJOUT") -> dict[str, Any]:
        namespace = "urn:si-dmp-habilitations"
        body = etree.Element(f"{{{namespace}}}setAuthorization", nsmap={None: namespace})
        etree.SubElement(body, f"{{{namespace}}}action").text = action
        try:
            answer, _ = self._call("Habilitation", f"{namespace}:HabilitationsEndPoint:setAuthorization", body, patient)
        except DmpCallError as exc:
            return {"outcome": "refused", "message": str(exc)}
        status = answer.findtext(f".//{{{namespace}}}status")
        return {"outcome": "done" if status == "DMPOk" else "refused", "message": status}

    # -- TD2.1 -----------------------------------------------------------------------------

    def prepare_feed(self, patient: dict[str, Any], title: str) -> PreparedCall:
        """A complete TD2.1 request for a new document, not sent."""
        document = build_n1_document(patient, self.defects, title=title)
        body, attachments, _, _ = provide_and_register(patient, document, [], None, self.defects, self.document_signer)
        return self.prepare("DocumentRepository_Service", TD21_ACTION, body, patient, attachments)

    def feed_document(
        self,
        patient: dict[str, Any],
        title: str,
        masking: list[str] | None = None,
        replaces: str | None = None,
        document_type: tuple[str, str] = DOCUMENT_CODE,
    ) -> dict[str, Any]:
        if "dmp_authorises_before_feeding" in self.defects:
            self.declare_authorisation(patient)
        previous = self.shared.get(replaces) if replaces else None
        related = None
        if previous is not None:
            related = {"document_id": previous.unique_id, "set_id": previous.set_id, "version": previous.version}
        document = build_n1_document(patient, self.defects, title=title, replaces=related, document_type=document_type)
        old_entry = self._entry_uuid(patient, replaces) if replaces else None
        body, attachments, unique_id, header = provide_and_register(
            patient, document, masking or [], old_entry, self.defects, self.document_signer
        )
        try:
            answer, _ = self._call("DocumentRepository_Service", TD21_ACTION, body, patient, attachments)
        except DmpCallError as exc:
            if exc.unavailable and replaces is None and "dmp_drops_feed_when_unavailable" not in self.defects:
                self.pending.append((patient, title, list(masking or []), document_type))
                return {"outcome": "queued", "message": f"Envoi au DMP mis en attente ({exc})."}
            return {"outcome": "error" if exc.unavailable else "refused", "message": str(exc)}
        errors = self._registry_errors(answer)
        if errors:
            return {"outcome": "refused", "message": ", ".join(errors)}
        self.shared[unique_id] = SharedDocument(
            unique_id, header.set_id or "", int(header.version or 1), patient, title
        )
        return {"outcome": "stored", "unique_id": unique_id, "document": base64.b64encode(document).decode("ascii")}

    def send_pending(self) -> dict[str, Any]:
        """SC.DMP/ALI/PROG.07: once the DMP can be reached again, the sends on hold go, oldest first."""
        waiting, self.pending = self.pending, []
        sent = []
        for patient, title, masking, document_type in waiting:
            answer = self.feed_document(patient, title, masking, document_type=document_type)
            if answer["outcome"] == "stored":
                sent.append(answer["unique_id"])
        still = len(self.pending)
        return {"outcome": "done", "sent": sent, "message": f"{len(sent)} envoyé(s), {still} en attente."}

    def relay_document(self, patient: dict[str, Any], document: bytes, masking: list[str]) -> dict[str, Any]:
        """Share, as a PFI does, a document another system of the establishment produced."""
        if "dmp_relay_rebuilds_document" in self.defects:
            document = build_n1_document(patient, self.defects, title="Document relayé")
        body, attachments, unique_id, header = provide_and_register(
            patient, document, masking, None, self.defects, self.document_signer
        )
        try:
            answer, _ = self._call("DocumentRepository_Service", TD21_ACTION, body, patient, attachments)
        except DmpCallError as exc:
            return {"outcome": "refused", "message": str(exc)}
        errors = self._registry_errors(answer)
        if errors:
            return {"outcome": "refused", "message": ", ".join(errors)}
        self.shared[unique_id] = SharedDocument(
            unique_id, header.set_id or "", int(header.version or 1), patient, header.title or ""
        )
        return {"outcome": "stored", "unique_id": unique_id}

    # -- TD3.x -----------------------------------------------------------------------------

    def find_documents(self, patient: dict[str, Any], psc: PscCall | None = None) -> dict[str, Any]:
        """TD3.1; with ``psc``, as the user logged in with Pro Santé Connect (through the VIHF proxy)."""
        entries = self._query(
            patient,
            xds.FIND_DOCUMENTS,
            {
                "$XDSDocumentEntryPatientId": [f"'{xds.format_cx(patient['ins'], patient['oid'])}'"],
                "$XDSDocumentEntryStatus": [f"('{xds.APPROVED}')"],
            },
            psc,
        )
        return {"outcome": "ok", "documents": entries}

    def _query(
        self, patient: dict[str, Any], query_id: str, params: dict[str, list[str]], psc: PscCall | None = None
    ) -> list[dict[str, Any]]:
        request = stored_query(query_id, params)
        answer, _ = self._call(
            "DocumentRegistry_Service", "urn:ihe:iti:2007:RegistryStoredQuery", request, patient, psc=psc
        )
        errors = self._registry_errors(answer)
        if errors:
            raise DmpCallError(f"stored query refused: {', '.join(errors)}")
        documents = []
        for element in answer.iter(f"{{{xds.RIM}}}ExtrinsicObject"):
            entry = xds.registry_object(element)
            documents.append(
                {
                    "unique_id": entry.unique_id,
                    "entry_uuid": entry.id,
                    "lid": entry.attributes.get("lid"),
                    "status": entry.attributes.get("status"),
                    "version": element.xpath("string(rim:VersionInfo/@versionName)", namespaces={"rim": xds.RIM})
                    or "1",
                    "type_code": (entry.codes(xds.DE_TYPE) or [("", None)])[0][0],
                    "title": entry.name,
                    "repository": entry.slot("repositoryUniqueId"),
                    "metadata": element,
                }
            )
        return documents

    def _entry(self, patient: dict[str, Any], unique_id: str) -> dict[str, Any]:
        found = self._query(patient, xds.GET_DOCUMENTS, {"$XDSDocumentEntryUniqueId": [f"('{unique_id}')"]})
        current = [d for d in found if d["status"] != xds.DEPRECATED]
        if not current:
            raise DmpCallError(f"document {unique_id} not found in the DMP")
        return current[-1]

    def _entry_uuid(self, patient: dict[str, Any], unique_id: str | None) -> str | None:
        return self._entry(patient, unique_id)["entry_uuid"] if unique_id else None

    def read_document(self, patient: dict[str, Any], unique_id: str) -> dict[str, Any]:
        entry = self._entry(patient, unique_id)
        repository = entry["repository"] or xds.DMP_REPOSITORY_ID
        if "dmp_retrieve_wrong_repository" in self.defects:
            repository = "1.2.250.1.213.4.1.1.1.9"
        request = retrieve_request(repository, unique_id)
        answer, parts = self._call(
            "DocumentRepository_Service", "urn:ihe:iti:2007:RetrieveDocumentSet", request, patient
        )
        document = answer.find(f"{{{xds.XDSB}}}DocumentResponse/{{{xds.XDSB}}}Document")
        if document is None or parts is None:
            return {"outcome": "not_found", "message": ", ".join(self._registry_errors(answer))}
        data = mtom.include_content(document, parts) or b""
        return {
            "outcome": "ok",
            "document": base64.b64encode(data).decode("ascii"),
            "sha1": hashlib.sha1(data).hexdigest(),
        }

    def mask_document(self, patient: dict[str, Any], unique_id: str, masked: bool = True) -> dict[str, Any]:
        entry = self._entry(patient, unique_id)
        return self._update(patient, masking_update(patient, entry, masked, self.defects))

    def set_availability(self, patient: dict[str, Any], unique_id: str, new_status: str) -> dict[str, Any]:
        entry = self._entry(patient, unique_id)
        return self._update(patient, availability_update(patient, entry, new_status, self.defects))

    def _update(self, patient: dict[str, Any], request: etree._Element) -> dict[str, Any]:
        try:
            answer, _ = self._call("DocumentRegistry_Service", "urn:ihe:iti:2010:UpdateDocumentSet", request, patient)
        except DmpCallError as exc:
            return {"outcome": "refused", "message": str(exc)}
        errors = self._registry_errors(answer)
        return {"outcome": "refused", "message": ", ".join(errors)} if errors else {"outcome": "done"}
