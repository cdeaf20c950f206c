"""The DMP mock endpoint: SOAP 1.2 with WS-Addressing, MTOM/XOP, the VIHF in WS-Security.

One route per DMPi service (``/si-dmp-server/v2/services/<service>``, facts §2.1), dispatching
like a SOAP stack generated from the kit's WSDLs (``harness.protocols.dmpi``): ``wsa:Action``,
then the Content-Type ``action``, then the body's first element. The mock is lenient where the
DMP would let a client proceed (attribute problems in the VIHF are recorded, not refused) and
faithful where it would not (no token, a broken or untrusted signature, a missing specialty). Every
request, refused or not, is recorded before the answer leaves.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from harness.core.recorder import FAULT, REJECTED, Exchange, ExchangeStore
from harness.protocols import dmpi, mtom, soap, vihf
from mock_services.common import (
    DEFAULT_SESSION,
    TRACE_HEADER,
    Scenario,
    ScenarioStore,
    client_identity,
    scenario_endpoint,
)
from mock_services.dmp import messages
from mock_services.dmp.messages import FaultSpec, FaultTable
from mock_services.dmp.patients import PatientBase
from mock_services.dmp.registry import DmpRegistry
from mock_services.dmp.settings import DmpSettings
from mock_services.dmp.transactions import Actor, Answer, Refusal, Transactions

BASE_PATH = "si-dmp-server/v2/services"
SERVICES = ("patient", "PatientSpecific", "Habilitation", "DocumentRegistry_Service", "DocumentRepository_Service")


def _media(soap_action: str | None = None) -> str:
    return f'application/soap+xml; charset=utf-8; action="{soap_action}"' if soap_action else soap.SOAP12_CONTENT_TYPE


class DmpService:
    def __init__(
        self,
        store: ExchangeStore,
        scenarios: ScenarioStore,
        settings: DmpSettings,
        patients: PatientBase,
        registry: DmpRegistry,
        faults: FaultTable,
    ):
        self.store, self.scenarios, self.settings, self.faults = store, scenarios, settings, faults
        self.transactions = Transactions(registry, patients, faults, settings)

    async def endpoint(self, request: Request) -> Response:
        session_key = request.path_params.get("session_key", DEFAULT_SESSION)
        started = time.time()
        summary: dict[str, Any] = {"transaction": None, "service": request.path_params.get("service"), "fault": None}
        identity = client_identity(request.scope)
        body = b""
        content_type = _media()
        try:
            body = await self._read_body(request)
            status, payload, outcome, content_type = await self._handle(request, body, session_key, summary)
        except Refusal as refusal:
            status, payload, outcome = refusal.status, refusal.body, refusal.outcome
            summary["fault"] = refusal.fault
            if refusal.mtom and payload:
                payload, content_type = mtom.build_multipart(payload, [])
        except Exception as exc:  # a mock bug must show as a fault, never as a product failure
            reason = f"erreur interne du simulateur: {type(exc).__name__}: {exc}"
            status, payload, outcome = 500, soap.fault("Receiver", reason), FAULT
            summary["fault"] = {"code": "Receiver", "reason": reason, "internal_error": True}
        exchange = self.store.record(
            Exchange(
                service="dmp",
                session_key=session_key,
                operation=summary.get("transaction") or "unknown",
                outcome=outcome,
                request_body=body,
                response_body=payload,
                started_at=started,
                finished_at=time.time(),
                http_status=status,
                client_subject=identity.subject,
                request_meta={"method": request.method, "path": request.url.path, "headers": dict(request.headers)},
                response_meta={"content_type": content_type},
                summary=summary,
            )
        )
        return Response(payload, status_code=status, headers={"content-type": content_type, TRACE_HEADER: exchange.id})

    async def _read_body(self, request: Request) -> bytes:
        limit = self.settings.max_body_bytes
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise self._protocol_refusal(f"message trop volumineux ({declared} octets, maximum {limit})", 413)
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise self._protocol_refusal(f"message trop volumineux (plus de {limit} octets)", 413)
            chunks.append(chunk)
        return b"".join(chunks)

    @staticmethod
    def _protocol_refusal(reason: str, status: int = 400, mtom_answer: bool = False) -> Refusal:
        return Refusal(
            status, soap.fault("Sender", reason), REJECTED, {"code": "Sender", "reason": reason}, mtom_answer
        )

    async def _handle(
        self, request: Request, body: bytes, session_key: str, summary: dict[str, Any]
    ) -> tuple[int, bytes, str, str]:
        content_type = request.headers.get("content-type", "")
        media, params = soap.parse_content_type(content_type)
        attachments: mtom.MultipartMessage | None = None
        envelope_bytes = body
        if mtom.is_multipart(content_type):
            try:
                attachments = mtom.parse_multipart(body, content_type)
            except mtom.MtomError as exc:
                raise self._protocol_refusal(f"message MTOM illisible: {exc}") from None
            envelope_bytes = attachments.root.body
            summary["mtom"] = {"parts": 1 + len(attachments.attachments)}
            params = soap.parse_content_type(attachments.root.content_type)[1] | params
        elif media not in (soap.SOAP12_CONTENT_TYPE, "text/xml"):
            raise self._protocol_refusal(
                f"type de contenu {media or 'absent'} refusé: application/soap+xml attendu", 415
            )
        try:
            message = soap.parse_envelope(envelope_bytes)
        except soap.SoapInputError as exc:
            raise self._protocol_refusal(f"requête illisible: {exc}") from None
        action = message.wsa("Action") or params.get("action") or ""
        message_id = message.wsa("MessageID")
        summary.update(soap_version=message.version, action=action, message_id=message_id)
        payload = message.body_element()
        dispatched = dmpi.dispatch(
            message.wsa("Action"), params.get("action"), payload, request.headers.get("soapaction")
        )
        summary["dispatch"] = dispatched.summary()
        operation = dispatched.operation
        if operation is None:
            named = action or (payload.tag if payload is not None else "")
            raise self._protocol_refusal(f"opération inconnue du DMP: {named or 'ni action ni corps'}")
        transaction = operation.transaction
        summary["transaction"] = transaction
        if not operation.implemented:
            raise self._fault("unsupported", message_id, transaction, False)
        summary["ihe"] = messages.IHE_TRANSACTIONS.get(transaction)
        mtom_answer = transaction == "TD3.2"  # ITI-43 answers are MTOM, faults included (facts §2.1)
        namespace, local = operation.request
        if payload is None or payload.tag != f"{{{namespace}}}{local}":
            found = payload.tag if payload is not None else "rien"
            reason = f"le corps ne correspond pas à {transaction}: {{{namespace}}}{local} attendu, {found} reçu"
            raise self._protocol_refusal(reason, mtom_answer=mtom_answer)
        actor = self._authenticate(message, transaction, message_id, summary, mtom_answer)
        await self._apply_scenario(self.scenarios.get(session_key), transaction, message_id, mtom_answer)
        answer: Answer = self.transactions.run(
            transaction, session_key, payload, attachments, actor, message_id, summary
        )
        header = messages.response_header(transaction, message_id)
        envelope = soap.envelope(answer.body, header)
        response_action = messages.RESPONSE_ACTIONS[transaction]
        if mtom_answer:
            data, media_type = mtom.build_multipart(envelope, answer.attachments, soap_action=response_action)
            return 200, data, answer.outcome, media_type
        return 200, envelope, answer.outcome, _media(response_action)

    def _authenticate(
        self,
        message: soap.SoapMessage,
        transaction: str,
        message_id: str | None,
        summary: dict[str, Any],
        mtom_answer: bool,
    ) -> Actor:
        assertion, problems = vihf.find_assertion(message.header)
        if assertion is None:
            summary["vihf"] = {"present": False, "problems": [p.code for p in problems]}
            raise self._fault("invalid_security_token", message_id, "; ".join(p.message for p in problems), mtom_answer)
        now = self.settings.clock() if self.settings.clock else None
        check = vihf.verify_assertion(
            assertion,
            trusted=self.settings.trusted_signers,
            now=now,
            max_age=self.settings.vihf_max_age,
            require_signature=self.settings.require_signature,
        )
        attribute_problems = vihf.check_attributes(check, needs_patient=transaction != "TD0.4")
        summary["vihf"] = {
            "present": True,
            "signature": check.signature,
            "trusted": check.trusted,
            "signature_certificate": check.signature_certificate,
            "signer": check.signer_subject,
            "name_id": check.name_id,
            "problems": [p.code for p in check.problems],
            "attribute_problems": [p.message for p in attribute_problems],
        }
        fatal = {"signature_invalid", "signature_wrapping", "untrusted_signer", "expired", "not_yet_valid"}
        if not self.settings.require_signature:
            fatal -= {"untrusted_signer"}
        else:
            fatal |= {"signature_absent", "bad_issue_instant"}
        found = [p for p in check.problems if p.code in fatal]
        if found:
            raise self._fault("failed_authentication", message_id, "; ".join(p.message for p in found), mtom_answer)
        if (
            check.signature == "valid"
            and not check.signature_certificate
            and _attr(check, "Authentification_mode")
            in (
                None,
                "DIRECTE",
            )
        ):
            raise self._fault("invalid_signature_certificate", message_id, None, mtom_answer)
        if any("spécialité" in p.message for p in attribute_problems):
            raise self._fault("missing_specialty", message_id, None, mtom_answer)
        return Actor.from_check(check)

    def _fault(self, situation: str, message_id: str | None, detail: str | None, mtom_answer: bool) -> Refusal:
        spec: FaultSpec = self.faults[situation]
        body = messages.soap_fault(spec, message_id, detail)
        fault = {"code": spec.fault_code, "subcode": spec.code, "situation": situation, "reason": spec.message}
        if detail:
            fault["detail"] = detail
        return Refusal(400 if spec.fault_code == "Sender" else 500, body, FAULT, fault, mtom_answer)

    async def _apply_scenario(
        self, scenario: Scenario, transaction: str, message_id: str | None, mtom_answer: bool
    ) -> None:
        if scenario.latency_ms:
            await asyncio.sleep(scenario.latency_ms / 1000)
        if scenario.fault == "technical":
            spec = self.faults["registry_error"]
            body = soap.fault("Receiver", spec.message, subcode=spec.code or None, namespaces=spec.namespaces())
            raise Refusal(
                500, body, FAULT, {"code": "Receiver", "subcode": spec.code, "reason": spec.message}, mtom_answer
            )
        if scenario.fault == "unavailable":
            reason = "Service DMP indisponible."
            raise Refusal(503, soap.fault("Receiver", reason), FAULT, {"code": "Receiver", "reason": reason})


def _attr(check: vihf.VihfCheck, name: str) -> str | None:
    values = check.attributes.get(name) or []
    return values[0] if values else None


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"service": "dmp", "status": "ok"})


def create_app(
    store: ExchangeStore,
    scenarios: ScenarioStore | None = None,
    settings: DmpSettings | None = None,
    patients: PatientBase | None = None,
    registry: DmpRegistry | None = None,
    faults: FaultTable | None = None,
) -> Starlette:
    """The DMP mock as an ASGI app: ``/si-dmp-server/v2/services/{service}`` (and per session)."""
    scenarios = scenarios or ScenarioStore()
    service = DmpService(
        store,
        scenarios,
        settings or DmpSettings(),
        patients or PatientBase.load(),
        registry or DmpRegistry(),
        faults or FaultTable.load(),
    )

    return Starlette(
        routes=[
            Route(f"/{BASE_PATH}/{{service}}", service.endpoint, methods=["POST"]),
            Route(f"/s/{{session_key}}/{BASE_PATH}/{{service}}", service.endpoint, methods=["POST"]),
            Route("/_segur/health", health, methods=["GET"]),
            Route("/_segur/scenario/{session_key}", scenario_endpoint(scenarios), methods=["PUT"]),
        ]
    )
