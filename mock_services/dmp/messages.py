"""What the DMP mock writes: responses shaped like the official kit's, and its fault table.

Shapes follow ``shared/reference/dmp/messages/*_reponse.xml`` (the GIE SESAM-Vitale kit):
WS-Addressing header (Action, MessageID, To anonymous, RelatesTo), then the transaction body.
"""

from __future__ import annotations

import datetime as dt
import tomllib
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxml import etree

from harness.core.paths import data_dir
from harness.protocols import dmpi, soap, xds
from harness.protocols.mtom import xop_include

HL7 = "urn:hl7-org:v3"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
HABILITATIONS = "urn:si-dmp-habilitations"
PATIENTS = "urn:si-dmp-patients"
ANONYMOUS = "http://www.w3.org/2005/08/addressing/anonymous"
DMP_DEVICE_OID = "1.2.250.1.213.4.1.1.1"  # sender device of the official TD0.2 response

# Derived from the DMPi operation table (harness.protocols.dmpi): the kit's wsa:Action of each
# transaction the mock implements, and those it knows but answers with the "unsupported" fault.
ACTIONS = {op.action: op.transaction for op in dmpi.OPERATIONS if op.implemented}
UNSUPPORTED_ACTIONS = {op.action: op.transaction for op in dmpi.OPERATIONS if not op.implemented and op.action}
RESPONSE_ACTIONS = {
    "TD0.2": "urn:hl7-org:v3:PRPA_IN201308UV02",
    "TD0.3": "urn:si-dmp-habilitations:HabilitationsEndPoint:setAuthorizationResponse",
    "TD0.4": "urn:si-dmp-patients:PatientSpecificEndPoint:patientListResponse",
    "TD2.1": "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-bResponse",
    "TD3.1": "urn:ihe:iti:2007:RegistryStoredQueryResponse",
    "TD3.2": "urn:ihe:iti:2007:RetrieveDocumentSetResponse",
    "TD3.3": "urn:ihe:iti:2010:UpdateDocumentSet-Response",
}
REQUEST_ELEMENTS = {op.transaction: op.request for op in dmpi.OPERATIONS if op.implemented}
IHE_TRANSACTIONS = {"TD2.1": "ITI-41", "TD3.1": "ITI-18", "TD3.2": "ITI-43", "TD3.3": "ITI-57"}


@dataclass(frozen=True)
class FaultSpec:
    situation: str
    kind: str  # "registry" or "soap"
    code: str
    message: str
    fault_code: str = "Sender"
    namespace: str = ""  # the namespace of ``code``'s prefix, when ``code`` is a prefixed QName
    source: str = ""
    confidence: str = ""

    def namespaces(self) -> dict[str, str]:
        """``{prefix: namespace}`` for a prefixed ``code`` with a ``namespace``, else empty."""
        prefix, sep, _ = self.code.partition(":")
        return {prefix: self.namespace} if sep and self.namespace else {}


class FaultTable:
    def __init__(self, specs: dict[str, FaultSpec]):
        self.specs = specs

    @classmethod
    def load(cls, override: Path | None = None) -> FaultTable:
        specs = _read_faults(data_dir("profiles") / "dmp" / "faults.toml")
        if override is not None:
            specs.update(_read_faults(override))
        return cls(specs)

    def __getitem__(self, situation: str) -> FaultSpec:
        return self.specs[situation]


def _read_faults(path: Path) -> dict[str, FaultSpec]:
    with path.open("rb") as handle:
        data = tomllib.load(handle)
    specs = {}
    for situation, entry in data.items():
        if entry.get("kind") not in ("registry", "soap"):
            raise ValueError(f"{path}: [{situation}] kind must be 'registry' or 'soap'")
        spec = FaultSpec(
            situation=situation,
            kind=entry["kind"],
            code=entry.get("code", ""),
            message=entry.get("message", ""),
            fault_code=entry.get("fault_code", "Sender"),
            namespace=entry.get("namespace", ""),
            source=entry.get("source", ""),
            confidence=entry.get("confidence", ""),
        )
        if spec.kind == "soap":
            try:
                soap.check_fault_qnames(spec.fault_code, spec.code or None, spec.namespaces())
            except ValueError as exc:
                raise ValueError(f"{path}: [{situation}] {exc} (give its URI in 'namespace')") from None
        specs[situation] = spec
    return specs


def response_header(transaction: str | None, relates_to: str | None) -> list[etree._Element]:
    header = []
    if transaction:
        header.append(soap.wsa_element("Action", RESPONSE_ACTIONS[transaction]))
    header.append(soap.wsa_element("MessageID", f"urn:uuid:{uuid.uuid4()}"))
    header.append(soap.wsa_element("To", ANONYMOUS))
    if relates_to:
        header.append(soap.wsa_element("RelatesTo", relates_to))
    return header


def soap_fault(spec: FaultSpec, relates_to: str | None, detail: str | None = None) -> bytes:
    reason = f"{spec.message} {detail}".strip() if detail else spec.message
    return soap.fault(
        spec.fault_code,
        reason,
        subcode=spec.code or None,
        header=response_header(None, relates_to),
        namespaces=spec.namespaces(),
    )


def now_hl7() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S")


# -- TD0.x ----------------------------------------------------------------------------------


def _h(parent: etree._Element, name: str, text: str | None = None, **attributes: str) -> etree._Element:
    element = etree.SubElement(parent, f"{{{HL7}}}{name}")
    for key, value in attributes.items():
        element.set(key, value)
    if text is not None:
        element.text = text
    return element


def td02_response(request: dict[str, Any], outcome: dict[str, Any]) -> etree._Element:
    """PRPA_IN201308UV02 like the official TD0.2 response.

    ``outcome``: ``found`` (bool), ``closed`` (bool), ``authorisation``, ``medecin_traitant``,
    ``patient`` (DmpPatient or None), ``not_found_code``.
    """
    root = etree.Element(f"{{{HL7}}}PRPA_IN201308UV02", nsmap={None: HL7, "xsi": XSI}, ITSVersion="XML_1.0")
    _h(root, "id", root=str(uuid.uuid4()))
    _h(root, "creationTime", value=now_hl7())
    _h(root, "interactionId", extension="PRPA_IN201308UV02", root="2.16.840.1.113883.1.6")
    _h(root, "processingCode", code="P")
    _h(root, "processingModeCode", code="T")
    _h(root, "acceptAckCode", code="NE")
    receiver = _h(_h(root, "receiver", typeCode="RCV"), "device", classCode="DEV", determinerCode="INSTANCE")
    _h(receiver, "id", root=request.get("sender_root") or "")
    if request.get("sender_name"):
        _h(receiver, "softwareName", request["sender_name"])
    sender = _h(_h(root, "sender", typeCode="SND"), "device", classCode="DEV", determinerCode="INSTANCE")
    _h(sender, "id", root=DMP_DEVICE_OID)
    _h(sender, "softwareName", "DMP")
    if outcome["found"]:
        line = _h(root, "attentionLine")
        _h(line, "keyWordText", code="AUTORISATION", codeSystem="1.2.250.1.213.4.1.2.6.1")
        value = _h(line, "value", code=outcome["authorisation"], codeSystem="1.2.250.1.213.4.1.2.6.2")
        value.set(f"{{{XSI}}}type", "CV")
        line = _h(root, "attentionLine")
        _h(line, "keyWordText", code="STATUT_MT", codeSystem="1.2.250.1.213.4.1.2.6.3")
        value = _h(line, "value", value=str(outcome["medecin_traitant"]).lower())
        value.set(f"{{{XSI}}}type", "BL")
    # A closed DMP: acknowledgementDetail DMPClosed (facts §2.6, H); typeCode AE is inferred.
    ack = _h(root, "acknowledgement", typeCode="AE" if outcome["closed"] else "AA")
    _h(_h(ack, "targetMessage"), "id", **request.get("message_id", {}))
    if outcome["closed"]:
        _h(_h(ack, "acknowledgementDetail", typeCode="E"), "code", code="DMPClosed")
    control = _h(root, "controlActProcess", classCode="CACT", moodCode="EVN")
    _h(
        control,
        "reasonCode",
        code="TEST_EXST",
        codeSystem="1.2.250.1.213.1.1.4.11",
        displayName="Test d'existence de dossier",
    )
    patient = outcome.get("patient")
    if outcome["found"] and patient is not None:
        event = _h(_h(control, "subject", contextConductionInd="false", typeCode="SUBJ"), "registrationEvent")
        event.set("classCode", "REG")
        event.set("moodCode", "EVN")
        _h(event, "statusCode", code="completed")
        subject = _h(_h(event, "subject1", typeCode="SBJ"), "patient", classCode="PAT")
        _h(subject, "id", extension=patient.ins, root=patient.oid)
        _h(subject, "statusCode", code="terminated" if outcome["closed"] else "active")
        person = _h(subject, "patientPerson", classCode="PSN", determinerCode="INSTANCE")
        name = _h(person, "name")
        _h(name, "given", patient.prenoms[0])
        _h(name, "family", patient.nom_naissance, qualifier="SP")
        _h(person, "administrativeGenderCode", code=patient.sexe)
        _h(person, "birthTime", value=patient.date_naissance.replace("-", ""))
        for code, system, value in (
            ("COMPTE_INTERNET_OUVERT", "1.2.250.1.213.4.1.2.9", False),
            ("RATTACHEMENT_ENS", "1.2.250.1.213.4.1.2.3", patient.linked_to_ens),
        ):
            observation = _h(_h(subject, "subjectOf", typeCode="SBJ"), "administrativeObservation")
            observation.set("classCode", "OBS")
            observation.set("moodCode", "EVN")
            _h(observation, "code", code=code, codeSystem=system)
            flag = _h(observation, "value", value=str(value).lower())
            flag.set(f"{{{XSI}}}type", "BL")
        _h(
            _h(_h(event, "custodian", typeCode="CST"), "assignedEntity", classCode="ASSIGNED"),
            "id",
            root=DMP_DEVICE_OID,
        )
    query_ack = _h(control, "queryAck")
    _h(query_ack, "queryId", **request.get("query_id", {}))
    _h(query_ack, "queryResponseCode", code="OK" if outcome["found"] else outcome["not_found_code"])
    return root


def td03_response(context: str) -> etree._Element:
    root = etree.Element(f"{{{HABILITATIONS}}}setAuthorizationResponse", nsmap={"ns1": HABILITATIONS})
    output = etree.SubElement(root, f"{{{HABILITATIONS}}}output")
    etree.SubElement(output, f"{{{HABILITATIONS}}}status").text = "DMPOk"
    etree.SubElement(output, f"{{{HABILITATIONS}}}context").text = context
    return root


def td04_response(patients: list[Any]) -> etree._Element:
    root = etree.Element(f"{{{PATIENTS}}}patientListResponse", nsmap={"ns1": PATIENTS})
    output = etree.SubElement(root, f"{{{PATIENTS}}}output")

    def add(parent: etree._Element, name: str, text: str) -> None:
        etree.SubElement(parent, f"{{{PATIENTS}}}{name}").text = text

    for patient in patients:
        data = etree.SubElement(output, f"{{{PATIENTS}}}patientlistData")
        identifier = etree.SubElement(data, f"{{{PATIENTS}}}patientIdentifier")
        add(identifier, "nationalId", patient.ins)
        add(identifier, "nationalIdType", patient.oid)
        add(data, "lastName", patient.nom_naissance)
        add(data, "firstName", patient.prenoms[0])
        add(data, "dateOfBirth", patient.date_naissance.replace("-", ""))
        add(data, "MT", "false")
        add(data, "message", "false")
    add(output, "status", "DMPOk")
    return root


# -- XDS ------------------------------------------------------------------------------------


def registry_failure(spec: FaultSpec, location: str = "", detail: str = "") -> etree._Element:
    context = f"{spec.message} {detail}".strip()
    return xds.registry_response(xds.FAILURE, [(spec.code, context, location)])


def query_response(objects: list[etree._Element], status: str = xds.SUCCESS) -> etree._Element:
    response = etree.Element(
        f"{{{xds.QUERY}}}AdhocQueryResponse", nsmap={"query": xds.QUERY, "rim": xds.RIM, "rs": xds.RS}
    )
    response.set("status", status)
    object_list = etree.SubElement(response, f"{{{xds.RIM}}}RegistryObjectList")
    for obj in objects:
        object_list.append(obj)
    return response


def query_failure(spec: FaultSpec, detail: str = "") -> etree._Element:
    response = etree.Element(f"{{{xds.QUERY}}}AdhocQueryResponse", nsmap={"query": xds.QUERY, "rs": xds.RS})
    response.set("status", xds.FAILURE)
    errors = etree.SubElement(response, f"{{{xds.RS}}}RegistryErrorList")
    error = etree.SubElement(errors, f"{{{xds.RS}}}RegistryError")
    error.set("errorCode", spec.code)
    error.set("codeContext", f"{spec.message} {detail}".strip())
    error.set("severity", xds.ERROR_SEVERITY)
    error.set("location", "")
    return response


def retrieve_response(documents: list[tuple[str, str, str]], errors: list[tuple[FaultSpec, str]]) -> etree._Element:
    """RetrieveDocumentSetResponse; ``documents`` are (unique_id, mime_type, content id)."""
    response = etree.Element(f"{{{xds.XDSB}}}RetrieveDocumentSetResponse", nsmap={"xdsb": xds.XDSB, "rs": xds.RS})
    if errors and documents:
        status = "urn:ihe:iti:2007:ResponseStatusType:PartialSuccess"
    else:
        status = xds.FAILURE if errors else xds.SUCCESS
    registry = xds.registry_response(status, [(s.code, f"{s.message} {d}".strip(), d) for s, d in errors])
    response.append(registry)
    for unique_id, mime_type, content_id in documents:
        document = etree.SubElement(response, f"{{{xds.XDSB}}}DocumentResponse")
        etree.SubElement(document, f"{{{xds.XDSB}}}RepositoryUniqueId").text = xds.DMP_REPOSITORY_ID
        etree.SubElement(document, f"{{{xds.XDSB}}}DocumentUniqueId").text = unique_id
        etree.SubElement(document, f"{{{xds.XDSB}}}mimeType").text = mime_type
        include = etree.SubElement(document, f"{{{xds.XDSB}}}Document")
        include.append(xop_include(content_id))
    return response
