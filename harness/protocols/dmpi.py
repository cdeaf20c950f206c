"""The DMPi operations as the DMP kit declares them, and how a SOAP stack picks the one a request calls.

Each :class:`Operation` joins the kit's two sources: the ``wsa:Action`` of the official example
messages (``shared/reference/dmp/messages/*_requete.xml``, the value the DMP documentation asks
for, facts §2.2) and the WSDL binding (``shared/reference/dmp/wsdl/*.wsdl``): its ``soapAction``
(or ``wsaw:Action``) and the qualified name of the input message's element. The two disagree for
TD0.3 and TD1.6 (Habilitations.wsdl declares ``urn:hl7-org:v3:setAuthorization``) and the
PatientsSpecific operations (TD0.4, TD1.5) declare an empty ``soapAction``, so a client generated
from the WSDL sends no usable action at all.

:func:`dispatch` therefore tries what a document/literal SOAP 1.2 stack (Apache CXF, which the
WSDLs were written for: ``xmlns:ns1="http://cxf.apache.org/bindings/xformat"``) tries, in order:
``wsa:Action``, the ``action`` parameter of the ``application/soap+xml`` Content-Type (or the
SOAP 1.1 ``SOAPAction`` header), then the body's first element. Judging whether the product sent
the official ``wsa:Action`` is the verifier's job (DMP-01), not the dispatcher's.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

HL7 = "urn:hl7-org:v3"
HABILITATIONS = "urn:si-dmp-habilitations"
PATIENTS = "urn:si-dmp-patients"
XDSB = "urn:ihe:iti:xds-b:2007"
QUERY = "urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0"
LCM = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"


@dataclass(frozen=True)
class Operation:
    transaction: str  # the DMP kit's name (TD0.3), or a description for those the mock does not implement
    service: str  # the DMPi service of the URL (facts §2.1)
    wsdl: str  # the kit's WSDL file declaring it
    operation: str  # the WSDL operation name
    request: tuple[str, str]  # the input element (namespace, local name)
    action: str  # the wsa:Action of the kit's example message: what DMP-01 expects ("" when it has none)
    wsdl_actions: tuple[str, ...] = ()  # other actions the WSDL binding declares (soapAction, wsaw:Action)
    implemented: bool = True  # False: the mock answers the "unsupported" fault

    @property
    def actions(self) -> tuple[str, ...]:
        return (self.action, *self.wsdl_actions)


OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "TD0.2",
        "patient",
        "GestionDossierPatientPartage.wsdl",
        "PatientGetDemographics_PRPA_IN201307UV02",
        (HL7, "PRPA_IN201307UV02"),
        "urn:hl7-org:v3:PRPA_IN201307UV02",
    ),
    Operation(
        "TD1.3b/TD1.4",
        "patient",
        "GestionDossierPatientPartage.wsdl",
        "PatientRevise_PRPA_IN201314UV02",
        (HL7, "PRPA_IN201314UV02"),
        "urn:hl7-org:v3:PRPA_IN201314UV02",
        implemented=False,
    ),
    Operation(
        "TD0.5",
        "patient",
        "PDQSupplier.wsdl",
        "findCandidatesQuery",
        (HL7, "PRPA_IN201305UV02"),
        "urn:hl7-org:v3:PRPA_IN201305UV02",
        implemented=False,
    ),
    Operation(
        "TD0.3",
        "Habilitation",
        "Habilitations.wsdl",
        "setAuthorization",
        (HABILITATIONS, "setAuthorization"),
        "urn:si-dmp-habilitations:HabilitationsEndPoint:setAuthorization",
        ("urn:hl7-org:v3:setAuthorization",),
    ),
    Operation(
        "TD1.6",
        "Habilitation",
        "Habilitations.wsdl",
        "listAuthorizationByPatient",
        (HABILITATIONS, "listAuthorizationByPatient"),
        "urn:si-dmp-habilitations:HabilitationsEndPoint:listAuthorizationByPatient",
        ("urn:hl7-org:v3:listAuthorizationByPatient",),
        implemented=False,
    ),
    Operation(
        "TD0.4",
        "PatientSpecific",
        "PatientsSpecific.wsdl",
        "patientList",
        (PATIENTS, "patientList"),
        "urn:si-dmp-patients:PatientSpecificEndPoint:patientList",
    ),
    Operation(
        "TD1.5a (withdrawn in 2024)",
        "PatientSpecific",
        "PatientsSpecific.wsdl",
        "createPatientAccess",
        (PATIENTS, "createPatientAccess"),
        "urn:si-dmp-patients:PatientSpecificEndPoint:createPatientAccess",
        implemented=False,
    ),
    Operation(
        "TD1.5b (withdrawn in 2024)",
        "PatientSpecific",
        "PatientsSpecific.wsdl",
        "patientOTPUpdate",
        (PATIENTS, "patientOTPUpdate"),
        "urn:si-dmp-patients:PatientSpecificEndPoint:patientOTPUpdate",
        implemented=False,
    ),
    Operation(
        "TD1.5d (withdrawn in 2024)",
        "PatientSpecific",
        "PatientsSpecific.wsdl",
        "updatePatientAccess",
        (PATIENTS, "updatePatientAccess"),
        "urn:si-dmp-patients:PatientSpecificEndPoint:updatePatientAccess",
        implemented=False,
    ),
    Operation(
        "TD0.0 identityCertification (obsolete)",
        "patientCertif",
        "patientCertif.wsdl",
        "identityCertification",
        (PATIENTS, "identityCertification"),
        "",  # the kit has no example message; the WSDL declares soapAction="" (facts §2.2: obsolete)
        implemented=False,
    ),
    Operation(
        "TD2.1",
        "DocumentRepository_Service",
        "XDS.b_DocumentRepository.wsdl",
        "DocumentRepository_ProvideAndRegisterDocumentSet-b",
        (XDSB, "ProvideAndRegisterDocumentSetRequest"),
        "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b",
    ),
    Operation(
        "TD3.2",
        "DocumentRepository_Service",
        "XDS.b_DocumentRepository.wsdl",
        "DocumentRepository_RetrieveDocumentSet",
        (XDSB, "RetrieveDocumentSetRequest"),
        "urn:ihe:iti:2007:RetrieveDocumentSet",
    ),
    Operation(
        "TD3.1",
        "DocumentRegistry_Service",
        "XDS.b_DocumentRegistry.wsdl",
        "DocumentRegistry_RegistryStoredQuery",
        (QUERY, "AdhocQueryRequest"),
        "urn:ihe:iti:2007:RegistryStoredQuery",
    ),
    Operation(
        "TD3.3",
        "DocumentRegistry_Service",
        "XDS.b_DocumentRegistry.wsdl",
        "DocumentRegistry_UpdateDocumentSet",
        (LCM, "SubmitObjectsRequest"),
        "urn:ihe:iti:2010:UpdateDocumentSet",
    ),
)

BY_ACTION: dict[str, Operation] = {action: op for op in OPERATIONS for action in op.actions if action}
BY_ELEMENT: dict[tuple[str, str], Operation] = {op.request: op for op in OPERATIONS}
BY_TRANSACTION: dict[str, Operation] = {op.transaction: op for op in OPERATIONS}


@dataclass(frozen=True)
class Dispatch:
    operation: Operation | None
    by: str  # "wsa:Action", "content-type action", "SOAPAction", "body element" or "none"
    ignored: tuple[str, ...] = ()  # non-empty actions that named no DMPi operation

    def summary(self) -> dict[str, object]:
        return {"by": self.by, "operation": self.operation.operation if self.operation else None} | (
            {"ignored_actions": list(self.ignored)} if self.ignored else {}
        )


def dispatch(
    wsa_action: str | None,
    content_type_action: str | None,
    body_element: etree._Element | None,
    soap_action_header: str | None = None,
) -> Dispatch:
    """The operation a request calls: the first action naming one, else its body's first element."""
    ignored: list[str] = []
    candidates = (
        ("wsa:Action", wsa_action),
        ("content-type action", content_type_action),
        ("SOAPAction", (soap_action_header or "").strip().strip('"')),
    )
    for source, action in candidates:
        action = (action or "").strip()
        if not action:
            continue
        operation = BY_ACTION.get(action)
        if operation is not None:
            return Dispatch(operation, source, tuple(ignored))
        ignored.append(action)
    if body_element is not None and isinstance(body_element.tag, str):
        name = etree.QName(body_element)
        operation = BY_ELEMENT.get((name.namespace or "", name.localname))
        if operation is not None:
            return Dispatch(operation, "body element", tuple(ignored))
    return Dispatch(None, "none", tuple(ignored))
