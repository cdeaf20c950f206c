"""The reference agenda as a FHIR server the SAS platform queries, over mTLS with the harness PKI.

``GET /metadata``, ``GET /Slot`` (agenda.py), ``POST /Practitioner`` and
``PUT /Practitioner?identifier=`` (regulator accounts, FrPractitionerRegul). The TLS layer
requires an IGC-Santé client certificate (chain, dates, CRL in the handshake); the app then
checks its CN and OU against the expected SAS platform identity (ANS SAS mTLS specification
V3.2, cited by the guide's ``securite`` page: "contrôle du Common Name (CN) et Organizational Unit (OU)").
"""

from __future__ import annotations

import datetime as dt
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from cryptography import x509
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from harness.content.fhir import validate_resource
from harness.core import pki
from harness.protocols.jsonbody import BadJson, read_json
from harness.protocols.mockserver import ServedApp, serve_app
from harness.run.sut.reference_sas import agenda

FHIR_JSON = "application/fhir+json"
REGUL_PROFILE = "https://interop.esante.gouv.fr/ig/fhir/sas/StructureDefinition/FrPractitionerRegul"
MAX_BODY_BYTES = 64 * 1024  # a regulator account is a few hundred bytes
SLOW_SEARCH_SECONDS = 1.3  # the defect sas_slow_search: above the kit's 1 s budget


def outcome(status: int, code: str, text: str) -> JSONResponse:
    body = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": code, "diagnostics": text}]}
    return JSONResponse(body, status_code=status, media_type=FHIR_JSON)


def capability_statement() -> dict[str, Any]:
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2025-11-24",
        "kind": "instance",
        "software": {"name": "Agenda de référence segur-harness"},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json"],
        "rest": [
            {
                "mode": "server",
                "resource": [
                    {
                        "type": "Slot",
                        "interaction": [{"code": "search-type"}],
                        "searchInclude": ["Slot:schedule"],
                        "searchRevInclude": [],
                        "searchParam": [
                            {"name": "start", "type": "date"},
                            {"name": "status", "type": "token"},
                            {"name": "schedule.actor:Practitioner.identifier", "type": "token"},
                        ],
                    },
                    {"type": "Schedule", "searchInclude": ["Schedule:actor"]},
                    {
                        "type": "Practitioner",
                        "interaction": [{"code": "create"}, {"code": "update"}],
                        "conditionalUpdate": True,
                    },
                    {"type": "PractitionerRole"},
                ],
            }
        ],
    }


def _name_value(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> str | None:
    values = cert.subject.get_attributes_for_oid(oid)
    return str(values[0].value) if values else None


@dataclass
class AgendaApp:
    """The agenda's state: its anchor time (slots are relative to it) and its regulator accounts."""

    defects: frozenset[str] = frozenset()
    expected_cn: str = pki.SAS_CLIENT_CN
    expected_ou: str = pki.SAS_CLIENT_OU
    anchor: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC).replace(microsecond=0))
    regulators: dict[str, dict[str, Any]] = field(default_factory=dict)
    web_base: str = "https://agenda.invalid"  # where the booking pages are served (set once started)
    # The Pro Santé Connect authorization request of the test under way (the product as a PSC client).
    login_url: Callable[[], str] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def identity_refusal(self, request: Request) -> Response | None:
        tls = (request.scope.get("extensions") or {}).get("tls")
        if tls is None:
            return None  # in process (no TLS): nothing to check
        chain = tls.get("client_cert_chain") or []
        if not chain:
            if "sas_accepts_no_certificate" in self.defects:
                return None
            return outcome(403, "security", "a client certificate is required")
        cert = x509.load_pem_x509_certificate(chain[0].encode("ascii"))
        cn = _name_value(cert, x509.NameOID.COMMON_NAME)
        ou = _name_value(cert, x509.NameOID.ORGANIZATIONAL_UNIT_NAME)
        if cn != self.expected_cn and "sas_accepts_any_cn" not in self.defects:
            return outcome(403, "security", f"certificate CN {cn!r} is not the SAS platform's")
        if ou != self.expected_ou and "sas_accepts_any_ou" not in self.defects:
            return outcome(403, "security", f"certificate OU {ou!r} is not the SAS platform's")
        return None

    def base_url(self, request: Request) -> str:
        return str(request.base_url).rstrip("/")

    async def metadata(self, request: Request) -> Response:
        if refusal := self.identity_refusal(request):
            return refusal
        if "sas_no_capability_statement" in self.defects:
            return outcome(404, "not-found", "no /metadata here")
        return JSONResponse(capability_statement(), media_type=FHIR_JSON)

    async def slots(self, request: Request) -> Response:
        if refusal := self.identity_refusal(request):
            return refusal
        try:
            search = agenda.parse_search(list(request.query_params.multi_items()), self.defects)
        except agenda.SearchError as exc:
            return outcome(400, "invalid", str(exc))
        if "sas_slow_search" in self.defects:
            time.sleep(SLOW_SEARCH_SECONDS)
        bundle = agenda.search_bundle(search, self.anchor, self.base_url(request), self.defects, self.web_base)
        if not bundle["total"] and "sas_no_slots_404" in self.defects:
            return outcome(404, "not-found", "no slot")
        return JSONResponse(bundle, media_type=FHIR_JSON)

    def _regulator_problems(self, resource: Any) -> str | None:
        if not isinstance(resource, dict) or resource.get("resourceType") != "Practitioner":
            return "the body is not a Practitioner"
        if "sas_accepts_invalid_regulator" in self.defects:
            return None
        errors = [i for i in validate_resource(resource, REGUL_PROFILE).issues if i.severity == "error"]
        return "; ".join(f"{i.expression}: {i.message}" for i in errors) or None

    async def _read_body(self, request: Request) -> tuple[Any, Response | None]:
        try:
            return await read_json(request, max_bytes=MAX_BODY_BYTES), None
        except BadJson as exc:
            return None, outcome(exc.status, "structure", str(exc))

    def _store(self, resource: dict[str, Any], request: Request, existing: str | None) -> tuple[str, dict[str, Any]]:
        with self._lock:
            resource_id = existing or uuid.uuid4().hex
            stored = {**resource, "id": resource_id}
            self.regulators[resource_id] = stored
        return resource_id, stored

    def _created(self, request: Request, resource_id: str, stored: dict[str, Any], status: int) -> Response:
        headers = (
            {}
            if "sas_regulator_no_location" in self.defects
            else {"Location": f"{self.base_url(request)}/Practitioner/{resource_id}/_history/1"}
        )
        return JSONResponse(stored, status_code=status, headers=headers, media_type=FHIR_JSON)

    async def create_regulator(self, request: Request) -> Response:
        if refusal := self.identity_refusal(request):
            return refusal
        resource, bad = await self._read_body(request)
        if bad:
            return bad
        if problem := self._regulator_problems(resource):
            return outcome(422, "processing", problem)
        resource_id, stored = self._store(resource, request, None)
        return self._created(request, resource_id, stored, 201)

    def _find(self, token: str) -> str | None:
        system, _, value = token.rpartition("|")
        for resource_id, stored in self.regulators.items():
            for identifier in stored.get("identifier") or []:
                if identifier.get("value") == value and (not system or identifier.get("system") == system):
                    return resource_id
        return None

    async def update_regulator(self, request: Request) -> Response:
        if refusal := self.identity_refusal(request):
            return refusal
        token = request.query_params.get("identifier")
        if not token:
            return outcome(400, "required", "a conditional update needs ?identifier=system|value")
        resource, bad = await self._read_body(request)
        if bad:
            return bad
        if problem := self._regulator_problems(resource):
            return outcome(422, "processing", problem)
        existing = self._find(token)
        if existing is None and "sas_put_unknown_404" in self.defects:
            return outcome(404, "not-found", f"no regulator {token}")
        resource_id, stored = self._store(resource, request, existing)
        return self._created(request, resource_id, stored, 200 if existing else 201)

    async def booking_page(self, request: Request) -> Response:
        """The booking URL of a slot: a user coming from the SAS (``origin``) who is not logged in is sent to
        the product's authentication first, Pro Santé Connect here (the guide's "URL de redirection")."""
        came_from_sas = request.query_params.get("origin", "").startswith("sas")
        logged_in = bool(request.cookies.get("agenda_session"))
        if came_from_sas and not logged_in and "sas_booking_ignores_origin" not in self.defects:
            if self.login_url is None:
                return HTMLResponse("<p>Connexion indisponible</p>", status_code=503)
            return RedirectResponse(self.login_url(), status_code=302)
        slot = quote(f"{request.path_params['professional']}/{request.path_params['index']}")
        return HTMLResponse(f"<!doctype html><title>Agenda</title><p>Prise de rendez-vous : créneau {slot}</p>")

    def web(self) -> Starlette:
        """The agenda's web pages, on a host of their own: a browser brings no client certificate."""
        return Starlette(routes=[Route("/rdv/{professional}/{index}", self.booking_page, methods=["GET"])])

    def asgi(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/fhir/metadata", self.metadata, methods=["GET"]),
                Route("/fhir/Slot", self.slots, methods=["GET"]),
                Route("/fhir/Practitioner", self.create_regulator, methods=["POST"]),
                Route("/fhir/Practitioner", self.update_regulator, methods=["PUT"]),
            ]
        )


def server_context(layout: pki.PkiLayout, defects: frozenset[str]) -> ssl.SSLContext:
    context = pki.server_ssl_context(layout, require_client_cert="sas_accepts_no_certificate" not in defects)
    if "sas_ignores_revocation" in defects:
        context.verify_flags &= ~ssl.VERIFY_CRL_CHECK_LEAF
    return context


@dataclass
class RunningAgenda:
    app: AgendaApp
    api: ServedApp
    web: ServedApp

    def stop(self) -> None:
        self.api.stop()
        self.web.stop()


def start_agenda(layout: pki.PkiLayout, defects: frozenset[str] = frozenset()) -> RunningAgenda:
    """Serve the agenda on 127.0.0.1, port 0, TLS with the harness's server certificate: the FHIR API
    with client certificates, the booking pages without."""
    app = AgendaApp(defects=defects)
    api = serve_app(app.asgi(), name="reference-agenda", ssl_context=server_context(layout, defects))
    try:
        web = serve_app(app.web(), name="reference-agenda-web", ssl_context=pki.server_ssl_context(layout))
    except BaseException:
        api.stop()
        raise
    app.web_base = web.url
    return RunningAgenda(app, api, web)
