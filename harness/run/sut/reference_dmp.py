"""The built-in reference DMP client: what a conforming DPI does with the DMPi web services.

Written from the DMP kit's messages and templates (not from the mock): SOAP 1.2 with
WS-Addressing over mutual TLS, a VIHF signed with the CPS signature key, XDS.b metadata filled
from the CDA it shares, MTOM for documents. Named *defects* break one rule each, so that every
requirement of the ``dmp`` suite can be shown to fail.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ssl
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from lxml import etree

from harness.content.cda import read_cda, validate_document
from harness.core import ins
from harness.protocols import mtom, soap, vihf, xds
from harness.protocols.xades import DocumentSigner
from harness.protocols.xds_cda import read_header, ts_to_utc
from harness.run.sut.reference_cda import PROFESSIONAL, STRUCTURE, build_n1_document

DMP_DEFECTS: dict[str, str] = {
    "dmp_no_message_id": "sends DMP requests without wsa:MessageID",
    "vihf_unsigned": "sends the VIHF without a signature",
    "vihf_authentication_key": "signs the VIHF with an authentication certificate instead of the CPS signature key",
    "vihf_without_software": "leaves LPS_ID_HOMOLOGATION_DMP out of the VIHF",
    "vihf_other_patient": "names another patient than the one concerned in the VIHF resource-id",
    "xds_local_patient_id": "identifies the patient in the XDS metadata by the local IPP instead of the INS",
    "xds_unique_id_extension": "writes XDSDocumentEntry.uniqueId as root^extension",
    "xds_no_class_code": "leaves XDSDocumentEntry.classCode out",
    "xds_type_code_mismatch": "declares a typeCode other than the CDA document code",
    "xds_no_signature_document": "feeds documents without the XAdES signature document",
    "dmp_replace_without_rplc": "replaces a document by feeding a new one without the RPLC association",
    "dmp_mask_with_local_code": "masks a document with a local confidentiality code instead of MASQUE_PS",
    "dmp_delete_wrong_status": "deletes a document declaring a wrong OriginalStatus",
    "dmp_retrieve_wrong_repository": "retrieves documents from a made-up repository id",
    "dmp_closed_as_open": "reads a closed DMP in the TD0.2 answer as an open one",
}

SOURCE_ID = "2.25.216147016744468532364416963591815342157"  # the reference product's own OID
LPS = {"id": "segur-harness-reference", "nom": "segur-harness", "version": "1.0", "homologation": "SEGUR-REF-DMP"}
SPECIALTY = "G15_10/SM26^Médecin - Qualifié en Médecine Générale (SM)^1.2.250.1.213.1.1.4.5"


TD02_ACTION = "urn:hl7-org:v3:PRPA_IN201307UV02"
TD21_ACTION = "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b"


@dataclass(frozen=True)
class PreparedCall:
    url: str
    content: bytes
    content_type: str


class DmpCallError(Exception):
    """The DMP answered a fault or an XDS failure, or could not be reached."""


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
    timeout: float = 20.0
    purpose_of_use: str = "normal"  # access mode of the VIHF; emergency codes are configuration (facts §2.4)

    # -- transport -----------------------------------------------------------------------

    def _vihf(self, patient: dict[str, Any] | None) -> etree._Element:
        resource = None
        if patient is not None:
            matricule, oid = patient["ins"], patient["oid"]
            if "vihf_other_patient" in self.defects:
                matricule = _another_patient(matricule)
            resource = xds.format_cx(matricule, oid)
        omit = frozenset({"LPS_ID_HOMOLOGATION_DMP"}) if "vihf_without_software" in self.defects else frozenset()
        claims = vihf.VihfClaims(
            name_id=PROFESSIONAL["id_nat_ps"],
            structure_id=STRUCTURE["id"],
            secteur_activite="SA01^1.2.250.1.71.4.2.4",
            roles=(
                vihf.Role("10", "1.2.250.1.71.1.2.7", "Médecin"),
                vihf.Role("SM26", "1.2.250.1.71.4.2.5", "Qualifié en Médecine Générale (SM)"),
            ),
            patient_id=resource,
            purpose_of_use=self.purpose_of_use,
            lps_id=LPS["id"],
            lps_nom=LPS["nom"],
            lps_version=LPS["version"],
            lps_homologation=LPS["homologation"],
            subject_name=f"{PROFESSIONAL['given']} {PROFESSIONAL['family']}",
            omit=omit,
        )
        issuer = self.signer.issuer if self.signer else "CN=unsigned"
        assertion = vihf.build_assertion(claims, issuer=issuer)
        if self.signer is not None and "vihf_unsigned" not in self.defects:
            assertion = self.signer.sign(assertion)
        return assertion

    def _envelope(self, action: str, body: etree._Element, patient: dict[str, Any] | None) -> bytes:
        wsa = soap.WSA_NS
        header = []
        if "dmp_no_message_id" not in self.defects:
            header.append(soap.wsa_element("MessageID", f"urn:uuid:{uuid.uuid4()}"))
        header.append(soap.wsa_element("To", ""))
        reply_to = etree.Element(f"{{{wsa}}}ReplyTo", nsmap={"wsa": wsa})
        etree.SubElement(reply_to, f"{{{wsa}}}Address").text = "http://www.w3.org/2005/08/addressing/anonymous"
        header.append(reply_to)
        action_element = soap.wsa_element("Action", action)
        action_element.set(f"{{{soap.SOAP12_NS}}}mustUnderstand", "true")
        header.append(action_element)
        wsse = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
        security = etree.Element(f"{{{wsse}}}Security", nsmap={"wsse": wsse})
        security.append(self._vihf(patient))
        header.append(security)
        return soap.envelope(body, header)

    def prepare(
        self,
        service: str,
        action: str,
        body: etree._Element,
        patient: dict[str, Any] | None,
        attachments: list[tuple[str, str, bytes]] | None = None,
    ) -> PreparedCall:
        """The HTTP request of one transaction, not sent (tests and benchmarks replay or alter it)."""
        envelope = self._envelope(action, body, patient)
        if attachments is not None:
            data, content_type = mtom.build_multipart(envelope, attachments, soap_action=action)
        else:
            data, content_type = envelope, f'application/soap+xml; charset=utf-8; action="{action}"'
        return PreparedCall(f"{self.url}/{service}", data, content_type)

    def _call(
        self,
        service: str,
        action: str,
        body: etree._Element,
        patient: dict[str, Any] | None,
        attachments: list[tuple[str, str, bytes]] | None = None,
    ) -> tuple[etree._Element, mtom.MultipartMessage | None]:
        call = self.prepare(service, action, body, patient, attachments)
        try:
            with httpx.Client(verify=self.ssl_context or True, timeout=self.timeout) as client:
                response = client.post(call.url, content=call.content, headers={"content-type": call.content_type})
        except httpx.HTTPError as exc:
            raise DmpCallError(f"DMP unreachable: {exc}") from exc
        received_type = response.headers.get("content-type", "")
        parts = None
        raw = response.content
        if mtom.is_multipart(received_type):
            parts = mtom.parse_multipart(raw, received_type)
            raw = parts.root.body
        message = soap.parse_envelope(raw)
        fault = message.body.find(f"{{{soap.SOAP12_NS}}}Fault")
        if fault is not None:
            reason = "".join(fault.itertext()).split()
            raise DmpCallError(f"DMP fault: {' '.join(reason)[:300]}")
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

    @staticmethod
    def td02_body(patient: dict[str, Any]) -> etree._Element:
        """PRPA_IN201307UV02 with reasonCode TEST_EXST, as in the DMP kit's TD0.2 request."""
        hl7 = "urn:hl7-org:v3"
        root = etree.Element(f"{{{hl7}}}PRPA_IN201307UV02", nsmap={None: hl7}, ITSVersion="XML_1.0")

        def add(parent: etree._Element, name: str, **attrs: str) -> etree._Element:
            return etree.SubElement(parent, f"{{{hl7}}}{name}", **attrs)

        add(root, "id", root=SOURCE_ID, extension=str(uuid.uuid4()))
        add(root, "creationTime", value=dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S"))
        add(root, "interactionId", root="2.16.840.1.113883.1.6", extension="PRPA_IN201307UV02")
        add(root, "processingCode", code="P")
        add(root, "processingModeCode", code="T")
        add(root, "acceptAckCode", code="AL")
        device = add(add(root, "receiver", typeCode="RCV"), "device", classCode="DEV", determinerCode="INSTANCE")
        add(device, "id", root="1.2.250.1.213.4.1.1.1")
        device = add(add(root, "sender", typeCode="SND"), "device", classCode="DEV", determinerCode="INSTANCE")
        add(device, "id", root=SOURCE_ID)
        control = add(root, "controlActProcess", classCode="CACT", moodCode="EVN")
        add(control, "reasonCode", code="TEST_EXST", codeSystem="1.2.250.1.213.1.1.4.11")
        query = add(control, "queryByParameter")
        add(query, "queryId", root=SOURCE_ID, extension=str(uuid.uuid4()))
        add(query, "statusCode", code="new")
        identifier = add(add(query, "parameterList"), "patientIdentifier")
        add(identifier, "value", root=patient["oid"], extension=patient["ins"])
        etree.SubElement(identifier, f"{{{hl7}}}semanticsText").text = "Patient.id"
        return root

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
        body, attachments, _, _ = self._provide_and_register(patient, document, [], None)
        return self.prepare("DocumentRepository_Service", TD21_ACTION, body, patient, attachments)

    def feed_document(
        self, patient: dict[str, Any], title: str, masking: list[str] | None = None, replaces: str | None = None
    ) -> dict[str, Any]:
        previous = self.shared.get(replaces) if replaces else None
        related = None
        if previous is not None:
            related = {"document_id": previous.unique_id, "set_id": previous.set_id, "version": previous.version}
        document = build_n1_document(patient, self.defects, title=title, replaces=related)
        old_entry = self._entry_uuid(patient, replaces) if replaces else None
        body, attachments, unique_id, header = self._provide_and_register(patient, document, masking or [], old_entry)
        try:
            answer, _ = self._call("DocumentRepository_Service", TD21_ACTION, body, patient, attachments)
        except DmpCallError as exc:
            return {"outcome": "refused", "message": str(exc)}
        errors = self._registry_errors(answer)
        if errors:
            return {"outcome": "refused", "message": ", ".join(errors)}
        self.shared[unique_id] = SharedDocument(
            unique_id, header.set_id or "", int(header.version or 1), patient, title
        )
        return {"outcome": "stored", "unique_id": unique_id, "document": base64.b64encode(document).decode("ascii")}

    def _provide_and_register(
        self, patient: dict[str, Any], document: bytes, masking: list[str], replaced_entry: str | None
    ) -> tuple[etree._Element, list[tuple[str, str, bytes]], str, Any]:
        cda = read_cda(document)
        header = read_header(cda)
        format_code = validate_document(cda, "dmp", set()).format_code or "urn:ihe:iti:xds-sd:pdf:2008"
        unique_id = header.document_id_root or ""
        if header.document_id_extension or "xds_unique_id_extension" in self.defects:
            unique_id = f"{unique_id}^{header.document_id_extension or uuid.uuid4().hex[:8]}"
        if "xds_local_patient_id" in self.defects:
            patient_id = f"IPP{patient['ins'][:8]}^^^&{SOURCE_ID}.1&ISO^PI"
        else:
            patient_id = xds.format_cx(patient["ins"], patient["oid"])
        now = dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S")
        author = xds.format_xcn(PROFESSIONAL["id_nat_ps"], PROFESSIONAL["family"], PROFESSIONAL["given"])
        institution = xds.format_xon(STRUCTURE["name"], STRUCTURE["id"])
        type_code = header.code or ""
        if "xds_type_code_mismatch" in self.defects:
            type_code = "11490-0" if type_code != "11490-0" else "11502-2"
        confidentiality = [xds.Code(header.confidentiality or "N", xds.CS_CONFIDENTIALITY, "Normal")]
        confidentiality += [xds.Code(code, xds.CS_DMP_MASKING, code) for code in masking]
        fields = xds.EntryFields(
            patient_id=patient_id,
            unique_id=unique_id,
            title=header.title or "Document",
            creation_time=ts_to_utc(header.effective_time) or now,
            class_code=xds.Code("10", xds.CS_CLASS, "Compte rendu"),
            type_code=xds.Code(type_code, header.code_system or xds.CS_LOINC, header.title or ""),
            format_code=xds.Code(format_code, _format_system(format_code), "Format"),
            facility_code=xds.Code(header.facility_code or "", xds.CS_FACILITY, "Secteur d'activité"),
            practice_code=xds.Code(header.practice_code or "", xds.CS_PRACTICE, "Cadre d'exercice"),
            author_person=author,
            author_specialty=SPECIALTY,
            author_institution=institution,
            confidentiality=confidentiality,
            legal_authenticator=author,
            service_start=ts_to_utc(header.service_start),
            service_stop=ts_to_utc(header.service_stop),
            source_patient_info=[
                f"PID-5|{patient['nom_naissance']}^{patient['prenoms'][0]}^^^^^L",
                f"PID-7|{patient['date_naissance'].replace('-', '')}",
                f"PID-8|{patient['sexe']}",
            ],
            omit=frozenset({xds.DE_CLASS}) if "xds_no_class_code" in self.defects else frozenset(),
        )
        request, objects = xds.submit_objects_request()
        xds.submission_set(
            objects,
            "SubmissionSet01",
            xds.SubmissionSetFields(
                patient_id=patient_id,
                unique_id=f"2.25.{uuid.uuid4().int}",
                source_id=SOURCE_ID,
                submission_time=now,
                content_type=xds.Code("04", xds.CS_CONTENT_TYPE, "Hospitalisation de jour"),
                author_person=author,
                author_specialty=SPECIALTY,
                author_institution=institution,
            ),
        )
        xds.document_entry(objects, "Document01", fields)
        xds.add_association(
            objects, xds.HAS_MEMBER, "SubmissionSet01", "Document01", {"SubmissionSetStatus": ["Original"]}
        )
        if replaced_entry and "dmp_replace_without_rplc" not in self.defects:
            xds.add_association(objects, xds.RPLC, "Document01", replaced_entry)
        attachments = [("document01@segur-harness", "text/xml", document)]
        documents = {"Document01": "document01@segur-harness"}
        if "xds_no_signature_document" not in self.defects and self.document_signer is not None:
            signature = self.document_signer.sign_manifest({unique_id: document})
            self._signature_entry(objects, fields, signature, now)
            attachments.append(("signature01@segur-harness", "text/xml", signature))
            documents["Signature01"] = "signature01@segur-harness"
        body = etree.Element(f"{{{xds.XDSB}}}ProvideAndRegisterDocumentSetRequest", nsmap={"xdsb": xds.XDSB})
        body.append(request)
        for object_id, content_id in documents.items():
            element = etree.SubElement(body, f"{{{xds.XDSB}}}Document", id=object_id)
            element.append(mtom.xop_include(content_id))
        return body, attachments, unique_id, header

    def _signature_entry(self, objects: etree._Element, fields: xds.EntryFields, signature: bytes, now: str) -> None:
        signature_fields = xds.EntryFields(
            patient_id=fields.patient_id,
            unique_id=f"2.25.{uuid.uuid4().int}",
            title="Signature",
            creation_time=now,
            class_code=xds.Code("urn:oid:1.3.6.1.4.1.19376.1.2.1.1.1", "URN", "Digital Signature"),
            type_code=xds.Code("E1762", "ASTM", "Full Document"),
            format_code=xds.Code("http://www.w3.org/2000/09/xmldsig#", "URN", "Default Signature Style"),
            facility_code=fields.facility_code,
            practice_code=fields.practice_code,
            author_person=fields.author_person,
            author_specialty=fields.author_specialty,
            author_institution=fields.author_institution,
            confidentiality=[xds.Code("N", xds.CS_CONFIDENTIALITY, "Normal")],
            language="art",
            legal_authenticator=fields.legal_authenticator,
            service_start=now,
            service_stop=now,
            event_codes=[xds.Code("1.2.840.10065.1.12.1.14", "1.2.840.10065.1.12", "Source")],
        )
        xds.document_entry(objects, "Signature01", signature_fields)
        xds.add_association(
            objects, xds.HAS_MEMBER, "SubmissionSet01", "Signature01", {"SubmissionSetStatus": ["Original"]}
        )
        xds.add_association(objects, xds.SIGNS, "Signature01", "SubmissionSet01", {"SubmissionSetStatus": ["Original"]})

    # -- TD3.x -----------------------------------------------------------------------------

    def find_documents(self, patient: dict[str, Any]) -> dict[str, Any]:
        entries = self._query(
            patient,
            xds.FIND_DOCUMENTS,
            {
                "$XDSDocumentEntryPatientId": [f"'{xds.format_cx(patient['ins'], patient['oid'])}'"],
                "$XDSDocumentEntryStatus": [f"('{xds.APPROVED}')"],
            },
        )
        return {"outcome": "ok", "documents": entries}

    def _query(self, patient: dict[str, Any], query_id: str, params: dict[str, list[str]]) -> list[dict[str, Any]]:
        request = etree.Element(f"{{{xds.QUERY}}}AdhocQueryRequest", nsmap={"query": xds.QUERY, "rim": xds.RIM})
        etree.SubElement(
            request, f"{{{xds.QUERY}}}ResponseOption", returnComposedObjects="true", returnType="LeafClass"
        )
        query = xds.rim("AdhocQuery", request, id=query_id)
        for name, values in params.items():
            xds.add_slot(query, name, values)
        answer, _ = self._call("DocumentRegistry_Service", "urn:ihe:iti:2007:RegistryStoredQuery", request, patient)
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
        request = etree.Element(f"{{{xds.XDSB}}}RetrieveDocumentSetRequest", nsmap={"xdsb": xds.XDSB})
        document_request = etree.SubElement(request, f"{{{xds.XDSB}}}DocumentRequest")
        etree.SubElement(document_request, f"{{{xds.XDSB}}}RepositoryUniqueId").text = repository
        etree.SubElement(document_request, f"{{{xds.XDSB}}}DocumentUniqueId").text = unique_id
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
        element = entry["metadata"]
        new_version = etree.fromstring(etree.tostring(element))
        new_version.set("id", "Document01")
        for classification in new_version.findall(f"{{{xds.RIM}}}Classification"):
            if (
                classification.get("classificationScheme") == xds.DE_CONFIDENTIALITY
                and classification.get("nodeRepresentation") in xds.MASKING_CODES
            ):
                new_version.remove(classification)
        if masked:
            system = SOURCE_ID if "dmp_mask_with_local_code" in self.defects else xds.CS_DMP_MASKING
            code = "MASQUE-LOCAL" if "dmp_mask_with_local_code" in self.defects else "MASQUE_PS"
            xds.add_code(
                new_version, xds.DE_CONFIDENTIALITY, code, system, "Masqué aux professionnels de santé", "Document01"
            )
        for slot in new_version.findall(f"{{{xds.RIM}}}Slot"):
            if slot.get("name") in ("hash", "size", "repositoryUniqueId"):
                new_version.remove(slot)
        for child in new_version.iter():
            for attribute in ("classifiedObject", "registryObject"):
                if child.get(attribute) == entry["entry_uuid"]:
                    child.set(attribute, "Document01")
        request, objects = self._update_set(patient)
        xds.add_association(
            objects,
            xds.HAS_MEMBER,
            "SubmissionSet01",
            "Document01",
            {"SubmissionSetStatus": ["Original"], "PreviousVersion": [entry["version"]]},
        )
        objects.append(new_version)
        return self._update(patient, request)

    def set_availability(self, patient: dict[str, Any], unique_id: str, new_status: str) -> dict[str, Any]:
        entry = self._entry(patient, unique_id)
        original = entry["status"]
        if "dmp_delete_wrong_status" in self.defects:
            original = xds.ARCHIVED if original != xds.ARCHIVED else xds.APPROVED
        request, objects = self._update_set(patient)
        xds.add_association(
            objects,
            xds.UPDATE_AVAILABILITY,
            "SubmissionSet01",
            entry["entry_uuid"],
            {"OriginalStatus": [original], "NewStatus": [new_status]},
        )
        return self._update(patient, request)

    def _update_set(self, patient: dict[str, Any]) -> tuple[etree._Element, etree._Element]:
        request, objects = xds.submit_objects_request()
        author = xds.format_xcn(PROFESSIONAL["id_nat_ps"], PROFESSIONAL["family"], PROFESSIONAL["given"])
        xds.submission_set(
            objects,
            "SubmissionSet01",
            xds.SubmissionSetFields(
                patient_id=xds.format_cx(patient["ins"], patient["oid"]),
                unique_id=f"2.25.{uuid.uuid4().int}",
                source_id=SOURCE_ID,
                submission_time=dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S"),
                content_type=xds.Code("04", xds.CS_CONTENT_TYPE, "Hospitalisation de jour"),
                author_person=author,
                author_specialty=SPECIALTY,
                author_institution=xds.format_xon(STRUCTURE["name"], STRUCTURE["id"]),
            ),
        )
        return request, objects

    def _update(self, patient: dict[str, Any], request: etree._Element) -> dict[str, Any]:
        try:
            answer, _ = self._call("DocumentRegistry_Service", "urn:ihe:iti:2010:UpdateDocumentSet", request, patient)
        except DmpCallError as exc:
            return {"outcome": "refused", "message": str(exc)}
        errors = self._registry_errors(answer)
        return {"outcome": "refused", "message": ", ".join(errors)} if errors else {"outcome": "done"}


def _another_patient(matricule: str) -> str:
    """A valid INS of someone else: same birth data, another order number, its own key."""
    body = matricule[:10] + f"{(int(matricule[10:13]) + 1) % 1000:03d}"
    return body + ins.compute_key(body)


def _format_system(format_code: str) -> str:
    return xds.CS_FORMAT_IHE if format_code.startswith("urn:ihe:") else xds.CS_FORMAT_ANS
