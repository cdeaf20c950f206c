"""The INSi mock endpoint: SOAP 1.2, client certificate or CPx assertion, recorded exchanges.

Lenient where the real service would let a client proceed, faithful where it would not
(unknown software, wrong certificate); every request, refused or not, is recorded before the
answer leaves.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from harness.core.recorder import FAULT, OK, REJECTED, Exchange, ExchangeStore
from harness.protocols import soap
from harness.protocols.cpx import check_assertion
from mock_services.common import (
    DEFAULT_SESSION,
    TRACE_HEADER,
    Scenario,
    ScenarioStore,
    client_identity,
    scenario_endpoint,
)
from mock_services.insi import messages
from mock_services.insi.identities import IdentityBase
from mock_services.insi.settings import InsiSettings, check_scenario

SOAP_MEDIA = 'application/soap+xml; charset=utf-8; action="{action}"'


class Refusal(Exception):
    """Ends handling with a protocol answer; ``outcome`` says how it is recorded."""

    def __init__(self, status: int, body: bytes, outcome: str, fault: dict[str, Any]):
        super().__init__(fault.get("reason", ""))
        self.status, self.body, self.outcome, self.fault = status, body, outcome, fault


def _sender(reason: str, status: int) -> Refusal:
    """A Sender fault without a service code; ``status`` is the settings' fault status, or HTTP's own
    (413, 415) when the request is refused before it is read as SOAP."""
    return Refusal(status, soap.fault("Sender", reason), REJECTED, {"code": "Sender", "reason": reason})


class InsiService:
    def __init__(self, store: ExchangeStore, scenarios: ScenarioStore, settings: InsiSettings, base: IdentityBase):
        self.store, self.scenarios, self.settings, self.base = store, scenarios, settings, base

    async def endpoint(self, request: Request) -> Response:
        session_key = request.path_params.get("session_key", DEFAULT_SESSION)
        started = time.time()
        summary: dict[str, Any] = {"operation": None, "problems": [], "fault": None, "response": {}}
        identity = client_identity(request.scope)
        body = b""
        try:
            scenario = self.scenarios.get(session_key)
            settings = self.settings.for_session(scenario.options)
            body = await self._read_body(request, settings)
            status, payload, outcome = await self._handle(request, body, identity, scenario, settings, summary)
        except Refusal as refusal:
            status, payload, outcome = refusal.status, refusal.body, refusal.outcome
            summary["fault"] = refusal.fault
        except Exception as exc:  # a mock bug must show as a fault, never as a product failure
            reason = f"erreur interne du simulateur: {type(exc).__name__}: {exc}"
            status, payload, outcome = 500, soap.fault("Receiver", reason), FAULT
            summary["fault"] = {"code": "Receiver", "reason": reason, "internal_error": True}
        operation = summary.get("operation") or "unknown"
        exchange = self.store.record(
            Exchange(
                service="insi",
                session_key=session_key,
                operation=operation,
                outcome=outcome,
                request_body=body,
                response_body=payload,
                started_at=started,
                finished_at=time.time(),
                http_status=status,
                client_subject=identity.subject,
                request_meta={"method": request.method, "path": request.url.path, "headers": dict(request.headers)},
                response_meta={"content_type": _media(operation)},
                summary=summary,
            )
        )
        return Response(payload, status_code=status, media_type=_media(operation), headers={TRACE_HEADER: exchange.id})

    @staticmethod
    async def _read_body(request: Request, settings: InsiSettings) -> bytes:
        declared = request.headers.get("content-length")
        limit = settings.max_body_bytes
        if declared and declared.isdigit() and int(declared) > limit:
            raise _sender(f"message trop volumineux ({declared} octets, maximum {limit})", 413)
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _sender(f"message trop volumineux (plus de {limit} octets)", 413)
            chunks.append(chunk)
        return b"".join(chunks)

    async def _handle(
        self,
        request: Request,
        body: bytes,
        identity: Any,
        scenario: Scenario,
        settings: InsiSettings,
        summary: dict[str, Any],
    ) -> tuple[int, bytes, str]:
        status = settings.fault_http_status
        media, params = soap.parse_content_type(request.headers.get("content-type", ""))
        if media not in (soap.SOAP12_CONTENT_TYPE, "text/xml"):
            raise _sender(f"type de contenu {media or 'absent'} refusé: application/soap+xml attendu", 415)
        try:
            message = soap.parse_envelope(body)
        except soap.SoapInputError as exc:
            raise _sender(f"requête illisible: {exc}", status) from None
        summary["soap_version"] = message.version
        action = message.wsa("Action") or params.get("action") or request.headers.get("soapaction", "").strip('"')
        summary["action"], summary["message_id"] = action, message.wsa("MessageID")
        operation = action.removeprefix(messages.ACTION_PREFIX) if action.startswith(messages.ACTION_PREFIX) else ""
        if operation not in messages.OPERATIONS:
            raise _action_not_supported(action, summary["message_id"], status)
        summary["operation"] = operation
        namespace, element = messages.OPERATIONS[operation]
        payload = message.body_element()
        if payload is None or payload.tag != f"{{{namespace}}}{element}":
            found = payload.tag if payload is not None else "rien"
            raise _sender(
                f"le corps ne correspond pas à l'opération {operation}: {{{namespace}}}{element} attendu, {found} reçu",
                status,
            )
        summary["headers"] = messages.read_contexts(message)
        summary["auth"] = self._authenticate(message, identity, summary["message_id"], settings)
        self._check_software(summary["headers"]["contexte_lps"], summary["message_id"], settings)
        await self._apply_scenario(scenario)
        if operation == "rechercherInsAvecTraitsIdentite":
            request_data = messages.read_traits(payload)
            missing = [k for k in ("nom_naissance", "sexe", "date_naissance") if not request_data[k]]
            if missing:
                summary["request"] = request_data
                raise _sender(f"traits obligatoires absents: {', '.join(missing)}", status)
            found = self.base.by_traits(
                request_data["nom_naissance"],
                request_data["prenoms"],
                request_data["sexe"],
                request_data["date_naissance"],
                request_data["lieu_naissance"],
            )
        else:
            request_data = messages.read_carte_vitale(payload)
            if len(request_data["matricule_individu"]) != 15 or not request_data["date_naissance"]:
                summary["request"] = request_data
                raise _sender("MatriculeIndividu (NumIdentifiant et Cle) et DateNaissance sont obligatoires", status)
            found = self.base.by_card(
                request_data["matricule_individu"], request_data["date_naissance"], request_data["nom_naissance"]
            )
        summary["request"] = request_data
        code = "00" if len(found) == 1 else "01" if not found else "02"
        match = found[0] if code == "00" else None
        summary["response"] = {
            "code_cr": code,
            "ins": match.matricule if match else None,
            "oid": match.oid if match else None,
            "history": [h.matricule for h in match.history] if match else [],
            "identity_key": match.key if match else None,
        }
        header = [soap.wsa_element("Action", messages.ACTION_PREFIX + operation + "Response")]
        if summary["message_id"]:
            header.append(soap.wsa_element("RelatesTo", summary["message_id"]))
        return 200, soap.envelope(messages.resultat(code, match, settings.history_dates), header), OK

    def _authenticate(
        self, message: soap.SoapMessage, identity: Any, message_id: str | None, settings: InsiSettings
    ) -> dict[str, Any]:
        modes = settings.auth_modes
        if identity.certificate is not None and "mtls" in modes:
            if identity.common_name not in settings.allowed_cns:
                reason = f"certificat client non autorisé pour INSi (CN {identity.common_name})"
                raise self._auth_fault(reason, message_id, settings.fault_http_status)
            return {"mode": "mtls", "cn": identity.common_name, "subject": identity.subject}
        assertion = messages.cpx_assertion(message)
        if assertion is not None and "cpx" in modes:
            return {
                "mode": "cpx",
                "cn": None,
                "subject": None,
                "cpx": check_assertion(assertion, settings.cpx_trust_pems),
            }
        if settings.require_authentication:
            reason = "authentification absente: certificat ORG ou assertion CPx attendu"
            raise self._auth_fault(reason, message_id, settings.fault_http_status)
        return {"mode": None, "cn": None, "subject": None}

    @staticmethod
    def _auth_fault(reason: str, message_id: str | None, status: int) -> Refusal:
        # desir_560 is the CNAM code for a certificate CN other than INSI-AUTO/INSI-MANU (facts §1.4,
        # M); its subcode is not published: siram_100 (the software-access family) is inferred.
        body = messages.siram_fault("Sender", "siram_100", "desir_560", reason, reason, message_id)
        fault = {"code": "Sender", "subcode": "siram_100", "erreur_code": "desir_560", "reason": reason}
        return Refusal(status, body, FAULT, fault)

    @staticmethod
    def _check_software(contexte_lps: dict[str, Any] | None, message_id: str | None, settings: InsiSettings) -> None:
        if contexte_lps is None and not settings.missing_lps_context_is_fault:
            return
        idam = (contexte_lps or {}).get("idam")
        refusal = settings.idam_refusal(idam)
        if refusal is None:
            return
        # The CNAM answers an unknown IDAM with desir_550 (facts §1.4, H); a refused one (known but
        # withdrawn) gets the same answer: no other code for it is published (inferred).
        reason = (
            "L'accès par ce progiciel au service n'est pas autorisé. "
            "Contactez l'éditeur du progiciel ou votre responsable informatique."
        )
        body = messages.siram_fault(
            "Sender", "siram_100", "desir_550", reason, "Numéro d'autorisation du logiciel inconnu.", message_id
        )
        fault = {
            "code": "Sender",
            "subcode": "siram_100",
            "erreur_code": "desir_550",
            "reason": reason,
            "idam": idam,
            "idam_refusal": refusal,
        }
        raise Refusal(settings.fault_http_status, body, FAULT, fault)

    @staticmethod
    async def _apply_scenario(scenario: Scenario) -> None:
        if scenario.latency_ms:
            await asyncio.sleep(scenario.latency_ms / 1000)
        if scenario.fault == "technical":
            # siram_40 / insi_102 for a technical error: facts §1.4, confidence M.
            reason = "Erreur technique du service INSi."
            body = messages.siram_fault("Receiver", "siram_40", "insi_102", reason, reason, None)
            raise Refusal(
                500,
                body,
                FAULT,
                {"code": "Receiver", "subcode": "siram_40", "erreur_code": "insi_102", "reason": reason},
            )
        if scenario.fault == "unavailable":
            reason = "Service INSi indisponible."
            raise Refusal(503, soap.fault("Receiver", reason), FAULT, {"code": "Receiver", "reason": reason})


def _action_not_supported(action: str, message_id: str | None, status: int) -> Refusal:
    """WS-Addressing's own fault for an action the service does not have (the WSDL's two operations)."""
    fault = {"code": "Sender", "subcode": "wsa:ActionNotSupported", "action": action or None}
    fault["reason"] = messages.ACTION_NOT_SUPPORTED_REASON
    return Refusal(status, messages.action_not_supported_fault(action, message_id), REJECTED, fault)


def _media(operation: str) -> str:
    return SOAP_MEDIA.format(action=messages.ACTION_PREFIX + operation + "Response")


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"service": "insi", "status": "ok"})


def create_app(
    store: ExchangeStore,
    scenarios: ScenarioStore | None = None,
    settings: InsiSettings | None = None,
    identities: IdentityBase | None = None,
) -> Starlette:
    """The INSi mock as an ASGI app: ``/lps``, ``/s/{session_key}/lps``, ``/_segur/...``.

    ``app.state.require_client_certificate`` tells the server whether the TLS handshake must
    demand a client certificate (``InsiSettings.requires_client_certificate``).
    """
    scenarios = scenarios or ScenarioStore()
    settings = settings or InsiSettings()
    service = InsiService(store, scenarios, settings, identities or IdentityBase.load())
    app = Starlette(
        routes=[
            Route("/lps", service.endpoint, methods=["POST"]),
            Route("/s/{session_key}/lps", service.endpoint, methods=["POST"]),
            Route("/_segur/health", health, methods=["GET"]),
            Route("/_segur/scenario/{session_key}", scenario_endpoint(scenarios, check_scenario), methods=["PUT"]),
        ]
    )
    app.state.require_client_certificate = settings.requires_client_certificate
    return app
