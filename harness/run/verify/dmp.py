"""Verifiers of the ``dmp`` suite: what the product sent to the DMP, read again from the recordings.

They re-read the raw bytes (MTOM, SOAP, VIHF, XDS) and never trust the mock's own summary, so
a verdict depends only on the recordings and these rules. VIHF times are judged at the moment
the exchange happened, so a past run can be judged again with the same result.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography import x509
from lxml import etree

from harness.content.cda import NotACda, read_cda
from harness.core.recorder import REJECTED, Exchange
from harness.core.results import Finding
from harness.protocols import mtom, soap, vihf, xds
from harness.protocols.xds_cda import read_header

ACTIONS = {
    "urn:hl7-org:v3:PRPA_IN201307UV02": ("TD0.2", "patient"),
    "urn:si-dmp-habilitations:HabilitationsEndPoint:setAuthorization": ("TD0.3", "Habilitation"),
    "urn:si-dmp-patients:PatientSpecificEndPoint:patientList": ("TD0.4", "PatientSpecific"),
    "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b": ("TD2.1", "DocumentRepository_Service"),
    "urn:ihe:iti:2007:RegistryStoredQuery": ("TD3.1", "DocumentRegistry_Service"),
    "urn:ihe:iti:2007:RetrieveDocumentSet": ("TD3.2", "DocumentRepository_Service"),
    "urn:ihe:iti:2010:UpdateDocumentSet": ("TD3.3", "DocumentRegistry_Service"),
}
MESSAGE_ID = re.compile(r"^urn:uuid:[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$")
FATAL_VIHF = {"signature_absent", "signature_invalid", "signature_wrapping", "untrusted_signer", "expired"}
FATAL_VIHF |= {"not_yet_valid", "bad_issue_instant"}


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
    action = request.message.wsa("Action") or soap.parse_content_type(content_type)[1].get("action", "")
    request.transaction = ACTIONS.get(action, (None, None))[0]
    request.payload = request.message.body_element()
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


# -- DMP-01: transport ----------------------------------------------------------------------


def check_transport(found: list[DmpRequest]) -> list[Finding]:
    if not found:
        return none_recorded("DMP-01", "DMP request", "requête DMP")
    findings = []
    seen: dict[str, str] = {}
    for request in found:
        exchange, where = request.exchange, request.where
        if request.message is None or request.message.version != "1.2":
            findings.append(
                Finding(
                    "dmp.soap12",
                    "the request is not a SOAP 1.2 envelope",
                    message_fr="la requête n'est pas une enveloppe SOAP 1.2",
                    requirement="DMP-01",
                    location=where,
                    received="; ".join(request.problems) or "SOAP 1.1",
                )
            )
            continue
        action = request.message.wsa("Action")
        known = ACTIONS.get(action or "")
        if known is None:
            findings.append(
                Finding(
                    "dmp.wsa-action",
                    "wsa:Action is missing or names no DMP transaction",
                    message_fr="wsa:Action est absent ou ne désigne aucune transaction DMP",
                    requirement="DMP-01",
                    location=where,
                    received=action,
                )
            )
        elif not exchange.request_meta.get("path", "").endswith("/" + known[1]):
            findings.append(
                Finding(
                    "dmp.service",
                    f"{known[0]} is sent to the wrong DMPi service",
                    message_fr=f"{known[0]} est envoyée au mauvais service DMPi",
                    requirement="DMP-01",
                    location=where,
                    expected=known[1],
                    received=exchange.request_meta.get("path"),
                )
            )
        message_id = request.message.wsa("MessageID") or ""
        if not MESSAGE_ID.match(message_id):
            findings.append(
                Finding(
                    "dmp.wsa-message-id",
                    "wsa:MessageID must be urn:uuid:<UUID>",
                    message_fr="wsa:MessageID doit être de la forme urn:uuid:<UUID>",
                    requirement="DMP-01",
                    location=where,
                    received=message_id or "absent",
                )
            )
        elif message_id in seen:
            findings.append(
                Finding(
                    "dmp.wsa-message-id",
                    "wsa:MessageID is reused",
                    message_fr="wsa:MessageID est réutilisé",
                    received_fr=f"{message_id} (aussi {seen[message_id]})",
                    requirement="DMP-01",
                    location=where,
                    received=f"{message_id} (also {seen[message_id]})",
                )
            )
        seen[message_id] = exchange.id
        if request.transaction == "TD2.1" and request.parts is None:
            findings.append(
                Finding(
                    "dmp.mtom",
                    "TD2.1 must be sent as MTOM/XOP (multipart/related)",
                    message_fr="TD2.1 doit être envoyée en MTOM/XOP (multipart/related)",
                    requirement="DMP-01",
                    location=where,
                )
            )
        if not exchange.client_subject:
            findings.append(
                Finding(
                    "dmp.mtls",
                    "no TLS client certificate was presented",
                    requirement="DMP-01",
                    location=where,
                    message_fr="aucun certificat client TLS n'a été présenté",
                )
            )
    return findings


# -- DMP-02 / DMP-03: the VIHF --------------------------------------------------------------


def _vihf(request: DmpRequest, trusted: Sequence[x509.Certificate]) -> tuple[vihf.VihfCheck | None, list[str]]:
    header = request.message.header if request.message is not None else None
    assertion, problems = vihf.find_assertion(header)
    if assertion is None:
        return None, [p.message for p in problems]
    moment = dt.datetime.fromtimestamp(request.exchange.started_at, dt.UTC)
    return vihf.verify_assertion(assertion, trusted=trusted, now=moment), []


def check_vihf_signature(found: list[DmpRequest], trusted: Sequence[x509.Certificate]) -> list[Finding]:
    if not found:
        return none_recorded("DMP-02", "DMP request", "requête DMP")
    findings = []
    for request in found:
        check, problems = _vihf(request, trusted)
        if check is None:
            findings.append(
                Finding(
                    "vihf.present",
                    "no VIHF assertion in wsse:Security",
                    message_fr="aucune assertion VIHF dans wsse:Security",
                    requirement="DMP-02",
                    location=request.where,
                    received="; ".join(problems),
                )
            )
            continue
        for problem in check.problems:
            if problem.code in FATAL_VIHF:
                findings.append(
                    Finding(f"vihf.{problem.code}", problem.message, requirement="DMP-02", location=request.where)
                )
        mode = (check.attributes.get("Authentification_mode") or ["DIRECTE"])[0]
        if check.signature == "valid" and mode == "DIRECTE" and not check.signature_certificate:
            findings.append(
                Finding(
                    "vihf.signature-key",
                    "the VIHF is not signed with a signature certificate "
                    "(keyUsage nonRepudiation) as the CPS signature key is",
                    message_fr="le VIHF n'est pas signé avec un certificat de signature "
                    "(keyUsage nonRepudiation) comme l'est la clé de signature de la CPS",
                    requirement="DMP-02",
                    location=request.where,
                    received=check.signer_subject,
                )
            )
    return findings


def _request_patient(request: DmpRequest) -> str | None:
    """The patient a request is about, as the request itself says (not the VIHF)."""
    payload = request.payload
    if payload is None:
        return None
    if request.transaction == "TD0.2":
        value = payload.find(".//{urn:hl7-org:v3}patientIdentifier/{urn:hl7-org:v3}value")
        return value.get("extension") if value is not None else None
    if request.transaction in ("TD2.1", "TD3.3"):
        submission = request.submission()
        patient = (
            xds.patient_ins(submission.submission_set.patient_id) if submission and submission.submission_set else None
        )
        return patient[0] if patient else None
    if request.transaction == "TD3.1":
        for slot in payload.iter(f"{{{xds.RIM}}}Slot"):
            if slot.get("name") == "$XDSDocumentEntryPatientId":
                patient = xds.patient_ins(("".join(slot.itertext())).strip().strip("'"))
                return patient[0] if patient else None
    return None


def check_vihf_attributes(found: list[DmpRequest], trusted: Sequence[x509.Certificate]) -> list[Finding]:
    if not found:
        return none_recorded("DMP-03", "DMP request", "requête DMP")
    findings = []
    for request in found:
        check, _ = _vihf(request, trusted)
        if check is None:
            findings.append(
                Finding(
                    "vihf.present",
                    "no VIHF assertion",
                    requirement="DMP-03",
                    location=request.where,
                    message_fr="aucune assertion VIHF",
                )
            )
            continue
        for problem in vihf.check_attributes(check, needs_patient=request.transaction != "TD0.4"):
            findings.append(
                Finding(f"vihf.{problem.code}", problem.message, requirement="DMP-03", location=request.where)
            )
        resource = next(iter(check.attributes.get("urn:oasis:names:tc:xacml:2.0:resource:resource-id") or []), None)
        named = xds.patient_ins(resource)
        concerned = _request_patient(request)
        if concerned and named and named[0] != concerned:
            findings.append(
                Finding(
                    "vihf.resource-id",
                    "the VIHF resource-id names another patient than the request",
                    message_fr="le resource-id du VIHF désigne un autre patient que la requête",
                    requirement="DMP-03",
                    location=request.where,
                    expected=concerned,
                    received=named[0],
                )
            )
    return findings


# -- responses as the mock gave them (what the product was told) ---------------------------


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


# -- DMP-09: consultation -------------------------------------------------------------------


def check_consultation(exchanges: list[Exchange], patient: dict[str, str]) -> list[Finding]:
    found = requests(exchanges)
    queries = [r for r in found if r.transaction == "TD3.1"]
    retrievals = [r for r in found if r.transaction == "TD3.2"]
    if not queries or not retrievals:
        return none_recorded(
            "DMP-09",
            "stored query (TD3.1) and retrieval (TD3.2)",
            "recherche (TD3.1) et récupération de document (TD3.2)",
        )
    findings = []
    expected_patient = xds.format_cx(patient["ins"], patient["oid"])
    for request in queries:
        query = request.payload.find(f"{{{xds.RIM}}}AdhocQuery") if request.payload is not None else None
        query_id = query.get("id") if query is not None else None
        if query_id not in xds.STORED_QUERIES:
            findings.append(
                Finding(
                    "dmp.query",
                    "the stored query id is not one of the DMP's",
                    message_fr="l'identifiant de la requête stockée n'est pas l'un de ceux du DMP",
                    requirement="DMP-09",
                    location=request.where,
                    received=query_id,
                )
            )
            continue
        if query_id == xds.FIND_DOCUMENTS:
            _check_find_documents(query, expected_patient, request.where, findings)
    returned = registry_entries(exchanges)
    known = {
        (xds.registry_object(e).slot("repositoryUniqueId"), xds.registry_object(e).unique_id) for e in returned.values()
    }
    for request in retrievals:
        for document in (
            request.payload.findall(f"{{{xds.XDSB}}}DocumentRequest") if request.payload is not None else []
        ):
            repository = (document.findtext(f"{{{xds.XDSB}}}RepositoryUniqueId") or "").strip()
            unique_id = (document.findtext(f"{{{xds.XDSB}}}DocumentUniqueId") or "").strip()
            if (repository, unique_id) not in known:
                findings.append(
                    Finding(
                        "dmp.retrieve",
                        "TD3.2 must ask for a document with the repositoryUniqueId and uniqueId the registry returned",
                        message_fr="TD3.2 doit demander un document avec le repositoryUniqueId et l'uniqueId "
                        "renvoyés par le registre",
                        expected_fr=", ".join(sorted(f"{r}/{u}" for r, u in known)) or "aucun renvoyé",
                        requirement="DMP-09",
                        location=request.where,
                        expected=", ".join(sorted(f"{r}/{u}" for r, u in known)) or "none returned",
                        received=f"{repository}/{unique_id}",
                    )
                )
    return findings


def _check_find_documents(query: etree._Element, patient_cx: str, where: str, findings: list[Finding]) -> None:
    slots = {s.get("name"): "".join(s.itertext()).strip() for s in query.findall(f"{{{xds.RIM}}}Slot")}
    sent = slots.get("$XDSDocumentEntryPatientId", "")
    if sent != f"'{patient_cx}'":
        findings.append(
            Finding(
                "dmp.query-patient",
                "FindDocuments must name the patient by the INS CX, quoted",
                message_fr="FindDocuments doit désigner le patient par l'INS au format CX, entre apostrophes",
                requirement="DMP-09",
                location=where,
                expected=f"'{patient_cx}'",
                received=sent or "absent",
            )
        )
    if xds.APPROVED not in slots.get("$XDSDocumentEntryStatus", ""):
        findings.append(
            Finding(
                "dmp.query-status",
                "FindDocuments must ask for Approved documents",
                message_fr="FindDocuments doit demander les documents au statut Approved",
                requirement="DMP-09",
                location=where,
                received=slots.get("$XDSDocumentEntryStatus"),
            )
        )


# -- DMP-10 / DMP-12: metadata updates ------------------------------------------------------


def _current(returned: dict[str, etree._Element], unique_id: str) -> xds.RegistryObject | None:
    versions = [xds.registry_object(e) for e in returned.values()]
    versions = [v for v in versions if v.unique_id == unique_id and v.attributes.get("status") != xds.DEPRECATED]
    return versions[-1] if versions else None


def _update_kind(request: DmpRequest) -> str | None:
    """TD3.3a/b publish a new metadata version; TD3.3c/d change the availability status."""
    submission = request.submission()
    if submission is None:
        return None
    if submission.associations_of(xds.UPDATE_AVAILABILITY):
        return "availability"
    return "metadata" if submission.documents else None


def check_masking(exchanges: list[Exchange], unique_id: str, masked: bool) -> list[Finding]:
    updates = [r for r in requests(exchanges, "TD3.3") if _update_kind(r) == "metadata"]
    if not updates:
        return none_recorded("DMP-10", "metadata update (TD3.3a)", "mise à jour des métadonnées (TD3.3a)")
    findings = []
    current = _current(registry_entries(exchanges[: exchanges.index(updates[-1].exchange)]), unique_id)
    request = updates[-1]
    submission = request.submission()
    assert submission is not None
    for entry in submission.documents:
        association = next((a for a in submission.associations_of(xds.HAS_MEMBER) if a.target == entry.id), None)
        if current is not None:
            if entry.attributes.get("lid") != current.attributes.get("lid"):
                findings.append(
                    Finding(
                        "dmp.update-lid",
                        "the new version must carry the document's logical id (lid)",
                        message_fr="la nouvelle version doit porter l'identifiant logique (lid) du document",
                        requirement="DMP-10",
                        location=request.where,
                        expected=current.attributes.get("lid"),
                        received=entry.attributes.get("lid"),
                    )
                )
            version = current.element.xpath("string(rim:VersionInfo/@versionName)", namespaces={"rim": xds.RIM})
            previous = association.slot("PreviousVersion") if association else None
            if previous != (version or "1"):
                findings.append(
                    Finding(
                        "dmp.update-version",
                        "HasMember must give PreviousVersion = the current version",
                        message_fr="HasMember doit donner PreviousVersion = la version courante",
                        requirement="DMP-10",
                        location=request.where,
                        expected=version or "1",
                        received=previous,
                    )
                )
        if entry.unique_id != unique_id:
            findings.append(
                Finding(
                    "dmp.update-unique-id",
                    "the new version must keep the document's uniqueId",
                    message_fr="la nouvelle version doit garder l'uniqueId du document",
                    requirement="DMP-10",
                    location=request.where,
                    expected=unique_id,
                    received=entry.unique_id,
                )
            )
        codes = entry.codes(xds.DE_CONFIDENTIALITY)
        has_mask = ("MASQUE_PS", xds.CS_DMP_MASKING) in codes
        if has_mask != masked:
            findings.append(
                Finding(
                    "dmp.masking-code",
                    "masking is MASQUE_PS in code system 1.2.250.1.213.1.1.4.13 "
                    "(JDV_J08), added to hide and removed to show",
                    message_fr="le masquage est le code MASQUE_PS du système 1.2.250.1.213.1.1.4.13 "
                    "(JDV_J08), ajouté pour masquer et retiré pour démasquer",
                    requirement="DMP-10",
                    location=request.where,
                    received=", ".join(f"{c}@{s}" for c, s in codes),
                )
            )
    if not succeeded(request.exchange):
        findings.append(
            Finding(
                "dmp.update-accepted",
                "the DMP refused the update",
                requirement="DMP-10",
                location=request.where,
                message_fr="le DMP a refusé la mise à jour",
            )
        )
    return findings


def check_status_change(exchanges: list[Exchange], unique_id: str, new_status: str) -> list[Finding]:
    updates = [r for r in requests(exchanges, "TD3.3") if _update_kind(r) == "availability"]
    if not updates:
        return none_recorded("DMP-12", "status update (TD3.3c/d)", "changement de statut (TD3.3c/d)")
    request = updates[-1]
    current = _current(registry_entries(exchanges[: exchanges.index(request.exchange)]), unique_id)
    submission = request.submission()
    assert submission is not None
    findings = []
    for association in submission.associations_of(xds.UPDATE_AVAILABILITY):
        ss_id = submission.submission_set.id if submission.submission_set else None
        if association.source != ss_id:
            findings.append(
                Finding(
                    "dmp.status-source",
                    "the association must start from the submission set",
                    message_fr="l'association doit partir du lot de soumission",
                    requirement="DMP-12",
                    location=request.where,
                )
            )
        if current is not None:
            if association.target != current.id:
                findings.append(
                    Finding(
                        "dmp.status-target",
                        "the association must target the current entryUUID",
                        message_fr="l'association doit viser l'entryUUID courant",
                        requirement="DMP-12",
                        location=request.where,
                        expected=current.id,
                        received=association.target,
                    )
                )
            if association.slot("OriginalStatus") != current.attributes.get("status"):
                findings.append(
                    Finding(
                        "dmp.status-original",
                        "OriginalStatus must be the document's current status",
                        message_fr="OriginalStatus doit être le statut courant du document",
                        requirement="DMP-12",
                        location=request.where,
                        expected=current.attributes.get("status"),
                        received=association.slot("OriginalStatus"),
                    )
                )
        if association.slot("NewStatus") != new_status:
            findings.append(
                Finding(
                    "dmp.status-new",
                    "NewStatus is not the requested status",
                    message_fr="NewStatus n'est pas le statut demandé",
                    requirement="DMP-12",
                    location=request.where,
                    expected=new_status,
                    received=association.slot("NewStatus"),
                )
            )
    if not succeeded(request.exchange):
        findings.append(
            Finding(
                "dmp.update-accepted",
                "the DMP refused the status change",
                requirement="DMP-12",
                location=request.where,
                message_fr="le DMP a refusé le changement de statut",
            )
        )
    return findings


# -- DMP-11: replacement --------------------------------------------------------------------


def check_replacement(exchanges: list[Exchange], old_unique_id: str, old_cda: dict[str, str]) -> list[Finding]:
    feeds = requests(exchanges, "TD2.1")
    if not feeds:
        return none_recorded("DMP-11", "replacement feed (TD2.1)", "alimentation de remplacement (TD2.1)")
    request = feeds[-1]
    submission = request.submission()
    findings = []
    current = _current(registry_entries(exchanges[: exchanges.index(request.exchange)]), old_unique_id)
    replacements = submission.associations_of(xds.RPLC) if submission else []
    if not replacements:
        return [
            Finding(
                "dmp.rplc",
                "a replacement needs an RPLC association to the replaced entry",
                message_fr="un remplacement exige une association RPLC vers la fiche remplacée",
                requirement="DMP-11",
                location=request.where,
            )
        ]
    if current is not None and replacements[0].target != current.id:
        findings.append(
            Finding(
                "dmp.rplc",
                "RPLC must target the current entryUUID of the replaced document",
                message_fr="RPLC doit viser l'entryUUID courant du document remplacé",
                requirement="DMP-11",
                location=request.where,
                expected=current.id,
                received=replacements[0].target,
            )
        )
    documents = request.documents()
    source = replacements[0].source
    if submission is not None and source in documents:
        try:
            header = read_header(read_cda(documents[source]))
        except NotACda as exc:
            return [
                *findings,
                Finding(
                    "dmp.rplc-cda",
                    f"the new document is not a readable CDA: {exc}",
                    message_fr=f"le nouveau document n'est pas un CDA lisible : {exc}",
                    requirement="DMP-11",
                    location=request.where,
                ),
            ]
        expected = {
            "setId": old_cda["set_id"],
            "versionNumber": str(int(old_cda["version"]) + 1),
            "relatedDocument/@typeCode": "RPLC",
            "parentDocument/id": old_cda["document_id"],
        }
        received = {
            "setId": header.set_id,
            "versionNumber": header.version,
            "relatedDocument/@typeCode": header.related_type,
            "parentDocument/id": header.related_parent_id,
        }
        for name, value in expected.items():
            if received[name] != value:
                findings.append(
                    Finding(
                        "dmp.rplc-cda",
                        f"the new CDA's {name} does not follow the replaced one",
                        message_fr=f"{name} du nouveau CDA ne fait pas suite à celui du document remplacé",
                        requirement="DMP-11",
                        location=request.where,
                        expected=value,
                        received=received[name],
                    )
                )
    return findings
