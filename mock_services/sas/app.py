"""``POST`` and conditional ``PUT`` of Appointment, recorded before they are answered.

Answers (page specifications_techniques-tous-gestion_rdv of ansforge/IG-fhir-service-acces-aux-soins
1.2.0): 201 Created with ``Location: [base]/Appointment/<id>`` for a creation, 200 with the same
header for an update; an unreadable body is a 400 OperationOutcome. What the real platform answers
to an update of an appointment it never received is not published: it is created (201), as the
guide asks the vendors' own regulator interface to do (setting ``unknown_update_status``).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from harness.core.recorder import OK, REJECTED, Exchange, ExchangeStore
from harness.protocols.jsonbody import BadJson, parse_json
from mock_services.common import (
    DEFAULT_SESSION,
    TRACE_HEADER,
    ScenarioStore,
    client_identity,
    scenario_endpoint,
)

FHIR_JSON = "application/fhir+json"
MAX_BODY_BYTES = 256 * 1024


@dataclass
class SasSettings:
    unknown_update_status: int = 201  # not published; 201 as for a creation (see the module docstring)


@dataclass
class _Appointments:
    """Appointment ids by (session, identifier system|value)."""

    ids: dict[tuple[str, str], str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _outcome(text: str) -> bytes:
    issue = {"severity": "error", "code": "structure", "diagnostics": text}
    return json.dumps({"resourceType": "OperationOutcome", "issue": [issue]}).encode()


def _identifier_key(resource: Any) -> str | None:
    identifiers = resource.get("identifier") if isinstance(resource, dict) else None
    first = identifiers[0] if isinstance(identifiers, list) and identifiers else None
    if not isinstance(first, dict) or not first.get("value"):
        return None
    return f"{first.get('system', '')}|{first['value']}"


class SasPlatform:
    def __init__(self, store: ExchangeStore, scenarios: ScenarioStore, settings: SasSettings):
        self.store, self.scenarios, self.settings = store, scenarios, settings
        self.appointments = _Appointments()

    async def appointment(self, request: Request) -> Response:
        session_key = request.path_params.get("session_key", DEFAULT_SESSION)
        started = time.time()
        body = b""
        headers: dict[str, str] = {}
        base = str(request.url).split("/Appointment")[0]
        try:
            async for chunk in request.stream():
                body += chunk
                if len(body) > MAX_BODY_BYTES:
                    raise BadJson(f"the body exceeds {MAX_BODY_BYTES} bytes")
            resource = parse_json(body, max_bytes=MAX_BODY_BYTES)
            if not isinstance(resource, dict) or resource.get("resourceType") != "Appointment":
                raise BadJson("the body is not an Appointment")
            status, payload, outcome, resource_id = self._store(request, session_key, resource)
            headers["Location"] = f"{base}/Appointment/{resource_id}"
        except BadJson as exc:
            status, payload, outcome = 400, _outcome(str(exc)), REJECTED
        identity = client_identity(request.scope)
        exchange = self.store.record(
            Exchange(
                service="sas",
                session_key=session_key,
                operation=f"{request.method} Appointment",
                outcome=outcome,
                request_body=body,
                response_body=payload,
                started_at=started,
                finished_at=time.time(),
                http_status=status,
                client_subject=identity.subject,
                request_meta={
                    "method": request.method,
                    "path": request.url.path,
                    "query": dict(request.query_params.multi_items()),
                    "headers": dict(request.headers),
                },
                response_meta={"headers": headers},
            )
        )
        return Response(
            payload, status_code=status, media_type=FHIR_JSON, headers={**headers, TRACE_HEADER: exchange.id}
        )

    def _store(self, request: Request, session_key: str, resource: dict[str, Any]) -> tuple[int, bytes, str, str]:
        with self.appointments.lock:
            if request.method == "PUT":
                key = request.query_params.get("identifier") or request.query_params.get("Identifier") or ""
                known = self.appointments.ids.get((session_key, key))
                resource_id = known or uuid.uuid4().hex
                status = 200 if known else self.settings.unknown_update_status
            else:
                key = _identifier_key(resource) or uuid.uuid4().hex
                resource_id, status = uuid.uuid4().hex, 201
            self.appointments.ids[(session_key, key)] = resource_id
        return status, json.dumps({**resource, "id": resource_id}).encode(), OK, resource_id


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok", "service": "sas"})


def create_app(store: ExchangeStore, scenarios: ScenarioStore, settings: SasSettings | None = None) -> Starlette:
    platform = SasPlatform(store, scenarios, settings or SasSettings())
    app = Starlette(
        routes=[
            Route("/sas/Appointment", platform.appointment, methods=["POST", "PUT"]),
            Route("/s/{session_key}/sas/Appointment", platform.appointment, methods=["POST", "PUT"]),
            Route("/_segur/health", health, methods=["GET"]),
            Route("/_segur/scenario/{session_key}", scenario_endpoint(scenarios), methods=["PUT"]),
        ]
    )
    app.state.platform = platform
    return app
