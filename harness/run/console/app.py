"""The console's web application: its routes over the exchange store, the scenario store and the
manual desk (exchanges listed and shown, raw bodies downloaded, scenarios set and cleared, the
manual step and its answer), and serving it on loopback (:func:`start_console`).

With tenants (``harness.core.tenants``), a call carrying a tenant's token as a Bearer token (the
page sends the one of its ``#tenant=`` fragment) sees and changes that tenant's sessions only:
another session's exchange, scenario or evidence answers 404, as an unknown one. Without a
token, the console is the operator's, as before.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import asdict, dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from harness.core.recorder import Exchange, ExchangeStore
from harness.core.storage import Database
from harness.core.tenants import TOKEN_PREFIX, Tenant, TenantRegistry
from harness.protocols import jsonbody
from harness.protocols.mockserver import LOOPBACK, ServedApp, serve_app
from harness.run.console.desk import AnswerRefused, ManualDesk, StepGone
from harness.run.console.exchanges import ExchangeReader, body_view
from harness.run.console.guard import LoopbackGuard, SafeJSONResponse, _error
from harness.run.console.page import PAGE
from harness.run.console.switches import SWITCHES, scenario_from_json
from mock_services.common import Scenario, ScenarioStore

PAGE_SIZE = 500


SERVICE_LABELS = {"insi": "INSi", "psc": "Pro Santé Connect", "dmp": "DMP", "mss": "MSSanté"}


class ConsoleApp:
    """The console's routes over one store, one scenario store and one manual desk."""

    def __init__(
        self, store: ExchangeStore, scenarios: ScenarioStore, desk: ManualDesk, tenants: TenantRegistry | None = None
    ):
        self.store, self.scenarios, self.desk, self.tenants = store, scenarios, desk, tenants
        self.reader = ExchangeReader(store)
        self.touched: list[str] = []  # sessions set from here, listed even before they have exchanges
        app = Starlette(
            routes=[
                Route("/", self.page, methods=["GET"]),
                Route("/api/exchanges", self.exchanges, methods=["GET"]),
                Route("/api/exchanges/{exchange_id}", self.exchange, methods=["GET"]),
                Route("/api/exchanges/{exchange_id}/{part}", self.raw_body, methods=["GET"]),
                Route("/api/scenarios", self.scenario_catalog, methods=["GET"]),
                Route("/api/sessions/{session_key}/evidence", self.session_evidence, methods=["GET"]),
                Route("/api/scenarios/{session_key}", self.set_scenario, methods=["PUT"]),
                Route("/api/scenarios/{session_key}", self.clear_scenario, methods=["DELETE"]),
                Route("/api/manual/step", self.manual_step, methods=["GET"]),
                Route("/api/manual/answer", self.manual_answer, methods=["POST"]),
            ]
        )
        self.asgi = LoopbackGuard(TenantScope(app, tenants))

    async def page(self, request: Request) -> Response:
        nonce = secrets.token_urlsafe(18)
        policy = (
            f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; connect-src 'self'; "
            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        )
        return HTMLResponse(PAGE.replace("__NONCE__", nonce), headers={"Content-Security-Policy": policy})

    async def exchanges(self, request: Request) -> Response:
        query = request.query_params
        try:
            after, limit = int(query.get("after") or 0), min(int(query.get("limit") or PAGE_SIZE), PAGE_SIZE)
        except ValueError:
            return _error("after et limit doivent être des entiers", 400)
        tenant, session = _tenant(request), query.get("session")
        if session and not self._visible(session, tenant):
            return _error("session inconnue", 404)
        own = self.tenants.sessions(tenant.id) if tenant is not None and self.tenants is not None else None
        rows = self.reader.latest(after, query.get("service"), session, max(limit, 1) + 1, within=own)
        truncated = len(rows) > limit
        rows = rows[:limit]
        last_seq = max([after, *(row["seq"] for row in rows)])
        return SafeJSONResponse({"exchanges": rows, "last_seq": last_seq, "truncated": truncated})

    async def exchange(self, request: Request) -> Response:
        exchange = self._exchange(request)
        if exchange is None:
            return _error("échange inconnu", 404)
        detail = {
            **exchange.brief(),
            "seq": exchange.seq,
            "request_meta": exchange.request_meta,
            "response_meta": exchange.response_meta,
            "request": body_view(exchange.request_body),
            "response": body_view(exchange.response_body),
        }
        return SafeJSONResponse(detail)

    async def raw_body(self, request: Request) -> Response:
        part = request.path_params["part"]
        if part not in ("request", "response"):
            return _error("request ou response", 404)
        exchange = self._exchange(request)
        if exchange is None:
            return _error("échange inconnu", 404)
        name = re.sub(r"[^A-Za-z0-9_-]", "_", exchange.id)[:80]
        body = exchange.request_body if part == "request" else exchange.response_body
        disposition = f'attachment; filename="{name}-{part}.bin"'
        return Response(body, media_type="application/octet-stream", headers={"Content-Disposition": disposition})

    async def session_evidence(self, request: Request) -> Response:
        """Which requirements segur judge could already decide with this session's traffic, and what is missing."""
        from harness.run.sessions import gathered

        key = request.path_params["session_key"]
        if not self._visible(key, _tenant(request)):
            return _error("session inconnue", 404)
        return SafeJSONResponse({"session": key, "requirements": gathered(self.reader.session_requests(key))})

    async def scenario_catalog(self, request: Request) -> Response:
        step, tenant = self.desk.current(), _tenant(request)
        keys = ["default", *([step.session_key] if step else []), *self.touched, *self.reader.sessions()]
        if tenant is not None and self.tenants is not None:
            keys = self.tenants.sessions(tenant.id)
        sessions = []
        for key in dict.fromkeys(keys):
            scenario = self.scenarios.get(key)
            sessions.append({"session_key": key, "scenario": asdict(scenario), "active": scenario != Scenario()})
        services = {
            service: {"label": label, "switches": [s.name for s in SWITCHES if service in s.services]}
            for service, label in SERVICE_LABELS.items()
        }
        return SafeJSONResponse({"switches": [asdict(s) for s in SWITCHES], "services": services, "sessions": sessions})

    async def set_scenario(self, request: Request) -> Response:
        key = request.path_params["session_key"]
        if not self._visible(key, _tenant(request)):
            return _error("session inconnue", 404)
        try:
            scenario = scenario_from_json(await _json_body(request))
        except ValueError as exc:
            return _error(str(exc), _status(exc))
        self.scenarios.set(key, scenario)
        self._touch(key)
        return SafeJSONResponse({"session_key": key, "scenario": asdict(scenario)})

    async def clear_scenario(self, request: Request) -> Response:
        key = request.path_params["session_key"]
        if not self._visible(key, _tenant(request)):
            return _error("session inconnue", 404)
        self.scenarios.clear(key)
        return SafeJSONResponse({"session_key": key, "scenario": asdict(Scenario())})

    async def manual_step(self, request: Request) -> Response:
        step = self.desk.current()
        if step is not None and not self._visible(step.session_key, _tenant(request)):
            step = None  # another tenant's step is not this tenant's to see
        return SafeJSONResponse({"step": asdict(step) if step else None})

    async def manual_answer(self, request: Request) -> Response:
        try:
            body = await _json_body(request)
            if not isinstance(body, dict):
                raise AnswerRefused("le corps doit être un objet JSON")
            step = self.desk.current()
            if step is not None and not self._visible(step.session_key, _tenant(request)):
                return _error("étape inconnue", 404)
            self.desk.answer(
                str(body.get("step", "")), str(body.get("kind", "")), body.get("answer"), str(body.get("reason") or "")
            )
        except StepGone as exc:
            return _error(str(exc), 409)
        except ValueError as exc:
            return _error(str(exc), _status(exc))
        return SafeJSONResponse({"accepted": True})

    def _visible(self, key: str, tenant: Tenant | None) -> bool:
        return tenant is None or self.tenants is None or self.tenants.visible(key, tenant)

    def _exchange(self, request: Request) -> Exchange | None:
        try:
            exchange = self.store.get(request.path_params["exchange_id"])
        except KeyError:
            return None
        return exchange if self._visible(exchange.session_key, _tenant(request)) else None

    def _touch(self, key: str) -> None:
        if key not in self.touched:
            self.touched = [key, *self.touched][:100]


TENANT_STATE = "console_tenant"


def _tenant(request: Request) -> Tenant | None:
    tenant = getattr(request.state, TENANT_STATE, None)
    return tenant if isinstance(tenant, Tenant) else None


class TenantScope:
    """ASGI wrapper: a Bearer tenant token scopes the call to that tenant; a revoked or forged one is refused (401)."""

    def __init__(self, app: Any, tenants: TenantRegistry | None):
        self.app, self.tenants = app, tenants

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and self.tenants is not None:
            scheme, _, token = Request(scope).headers.get("authorization", "").partition(" ")
            if scheme.lower() == "bearer" and token.strip().startswith(TOKEN_PREFIX):  # other tokens: as before
                tenant = self.tenants.authenticate(token.strip())
                if tenant is None:
                    await _error("jeton de locataire inconnu ou révoqué", 401)(scope, receive, send)
                    return
                scope.setdefault("state", {})[TENANT_STATE] = tenant
        await self.app(scope, receive, send)


class NotJson(ValueError):
    pass


class BodyTooLarge(ValueError):
    pass


async def _json_body(request: Request) -> Any:
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise NotJson("le corps doit être envoyé en application/json")
    try:
        return await jsonbody.read_json(request)
    except jsonbody.JsonTooLarge:
        raise BodyTooLarge(f"corps JSON de plus de {jsonbody.DEFAULT_MAX_BYTES} octets") from None
    except jsonbody.BadJson as exc:
        raise ValueError(f"corps JSON illisible : {exc}") from None


def _status(exc: ValueError) -> int:
    return 415 if isinstance(exc, NotJson) else 413 if isinstance(exc, BodyTooLarge) else 400


@dataclass
class RunningConsole:
    served: ServedApp
    app: ConsoleApp

    @property
    def url(self) -> str:
        return self.served.url + "/"

    @property
    def desk(self) -> ManualDesk:
        return self.app.desk

    def stop(self) -> None:
        self.served.stop()

    def __enter__(self) -> RunningConsole:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_console(
    store: ExchangeStore,
    scenarios: ScenarioStore,
    port: int = 0,
    database: Database | None = None,
    tenants: TenantRegistry | None = None,
) -> RunningConsole:
    """Serve the console on loopback (never elsewhere: it changes the mocks' behaviour).

    The pending manual step is kept in ``database`` when given (the shared PostgreSQL store), else in memory;
    ``tenants`` lets a tenant's token scope a call to its own sessions.
    """
    app = ConsoleApp(store, scenarios, ManualDesk(database), tenants)
    return RunningConsole(serve_app(app.asgi, name="console", host=LOOPBACK, port=port), app)
