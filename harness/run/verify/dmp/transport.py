"""DMP-01 to DMP-03 on the recorded requests: SOAP 1.2 and WS-Addressing, TLS client, MTOM, the
VIHF signature and its attributes."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence

from cryptography import x509

from harness.content.xds_transport import check_document_transport
from harness.core.results import Finding
from harness.protocols import vihf, xds
from harness.run.verify.dmp.requests import ACTIONS, FATAL_VIHF, DmpRequest, none_recorded
from harness.run.verify.recorded import require_live

SIGNER_EN = "a VIHF signed with a certificate of the harness's test PKI"
SIGNER_FR = "un VIHF signé par un certificat de l'IGC de test du harnais"

MESSAGE_ID = re.compile(r"^urn:uuid:[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$")

# The French of the VIHF checker's problem codes (harness.protocols.vihf). The checker words its
# detail in English only (it is shared with the mock); the French finding leads with this sentence
# and quotes that detail.
VIHF_PROBLEM_FR = {
    "missing": "aucune assertion VIHF lisible",
    "several_assertions": "wsse:Security porte plusieurs assertions VIHF",
    "signature_absent": "le VIHF n'est pas signé",
    "signature_invalid": "la signature du VIHF n'est pas valide",
    "signature_wrapping": "la signature ne porte pas sur l'assertion VIHF elle-même (signature wrapping)",
    "untrusted_signer": "le signataire du VIHF n'est pas reconnu de confiance",
    "not_signature_certificate": "le VIHF n'est pas signé avec un certificat de signature",
    "bad_issue_instant": "l'IssueInstant du VIHF est illisible",
    "bad_conditions": "les Conditions du VIHF sont illisibles",
    "not_yet_valid": "le VIHF n'est pas encore valide",
    "expired": "le VIHF a expiré",
}


def vihf_problem_fr(problem: vihf.VihfProblem) -> str:
    """``problem`` in French: the sentence of its code, then the checker's English detail."""
    if problem.code.startswith("attribute:"):
        lead = f"attribut ou élément {problem.code.removeprefix('attribute:')} du VIHF absent ou incorrect"
    else:
        lead = VIHF_PROBLEM_FR.get(problem.code, f"problème de VIHF {problem.code}")
    return f"{lead} ({problem.message})"


def check_transport(found: list[DmpRequest]) -> list[Finding]:
    require_live(
        "DMP-01",
        "the TLS client certificate it presented",
        "le certificat client TLS qu'il a présenté",
        exchanges=[r.exchange for r in found],
    )
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
        if request.transaction == "TD2.1" and request.payload is not None:
            findings += check_document_transport(request.payload, where)
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


def _vihf(request: DmpRequest, trusted: Sequence[x509.Certificate]) -> tuple[vihf.VihfCheck | None, list[str]]:
    header = request.message.header if request.message is not None else None
    assertion, problems = vihf.find_assertion(header)
    if assertion is None:
        return None, [p.message for p in problems]
    moment = dt.datetime.fromtimestamp(request.exchange.started_at, dt.UTC)
    return vihf.verify_assertion(assertion, trusted=trusted, now=moment), []


def check_vihf_signature(found: list[DmpRequest], trusted: Sequence[x509.Certificate]) -> list[Finding]:
    require_live("DMP-02", SIGNER_EN, SIGNER_FR, exchanges=[r.exchange for r in found])
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
                    Finding(
                        f"vihf.{problem.code}",
                        problem.message,
                        message_fr=vihf_problem_fr(problem),
                        requirement="DMP-02",
                        location=request.where,
                    )
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
    require_live("DMP-03", SIGNER_EN, SIGNER_FR, exchanges=[r.exchange for r in found])
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
                Finding(
                    f"vihf.{problem.code}",
                    problem.message,
                    message_fr=vihf_problem_fr(problem),
                    requirement="DMP-03",
                    location=request.where,
                )
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
