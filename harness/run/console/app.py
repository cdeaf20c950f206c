"""The console's web application: its routes over the exchange store, the scenario store and the
manual desk (exchanges listed and shown, raw bodies downloaded, scenarios set and cleared, the
manual step and its answer), and serving it on loopback (:func:`start_console`).
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

from harness.core.recorder import ExchangeStore
from harness.core.storage import Database
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

    def __init__(self, store: ExchangeStore, scenarios: ScenarioStore, desk: ManualDesk):
        self.store, self.scenarios, self.desk = store, scenarios, desk
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
        self.asgi = LoopbackGuard(app)

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
        rows = self.reader.latest(after, query.get("service"), query.get("session"), max(limit, 1) + 1)
        truncated = len(rows) > limit
        rows = rows[:limit]
        last_seq = max([after, *(row["seq"] for row in rows)])
        return SafeJSONResponse({"exchanges": rows, "last_seq": last_seq, "truncated": truncated})

    async def exchange(self, request: Request) -> Response:
        try:
            exchange = self.store.get(request.path_params["exchange_id"])
        except KeyError:
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
        try:
            exchange = self.store.get(request.path_params["exchange_id"])
        except KeyError:
            return _error("échange inconnu", 404)
        name = re.sub(r"[^A-Za-z0-9_-]", "_", exchange.id)[:80]
        body = exchange.request_body if part == "request" else exchange.response_body
        disposition = f'attachment; filename="{name}-{part}.bin"'
        return Response(body, media_type="application/octet-stream", headers={"Content-Disposition": disposition})

    async def session_evidence(self, request: Request) -> Response:
        """Which requirements segur judge could already decide with this session's traffic, and what is missing."""
        from harness.run.sessions import gathered

        key = request.path_params["session_key"]
        return SafeJSONResponse({"session": key, "requirements": gathered(self.reader.session_requests(key))})

    async def scenario_catalog(self, request: Request) -> Response:
        step = self.desk.current()
        keys = ["default", *([step.session_key] if step else []), *self.touched, *self.reader.sessions()]
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
        try:
            scenario = scenario_from_json(await _json_body(request))
        except ValueError as exc:
            return _error(str(exc), _status(exc))
        self.scenarios.set(key, scenario)
        self._touch(key)
        return SafeJSONResponse({"session_key": key, "scenario": asdict(scenario)})

    async def clear_scenario(self, request: Request) -> Response:
        key = request.path_params["session_key"]
        self.scenarios.clear(key)
        return SafeJSONResponse({"session_key": key, "scenario": asdict(Scenario())})

    async def manual_step(self, request: Request) -> Response:
        step = self.desk.current()
        return SafeJSONResponse({"step": asdict(step) if step else None})

    async def manual_answer(self, request: Request) -> Response:
        try:
            body = await _json_body(request)
            if not isinstance(body, dict):
                raise AnswerRefused("le corps doit être un objet JSON")
            self.desk.answer(
                str(body.get("step", "")), str(body.get("kind", "")), body.get("answer"), str(body.get("reason") or "")
            )
        except StepGone as exc:
            return _error(str(exc), 409)
        except ValueError as exc:
            return _error(str(exc), _status(exc))
        return SafeJSONResponse({"accepted": True})

    def _touch(self, key: str) -> None:
        if key not in self.touched:
            self.touched = [key, *self.touched][:100]


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
    store: ExchangeStore, scenarios: ScenarioStore, port: int = 0, database: Database | None = None
) -> RunningConsole:
    """Serve the console on loopback (never elsewhere: it changes the mocks' behaviour).

    The pending manual step is kept in ``database`` when given (the shared PostgreSQL store), else in memory.
    """
    app = ConsoleApp(store, scenarios, ManualDesk(database))
    return RunningConsole(serve_app(app.asgi, name="console", host=LOOPBACK, port=port), app)
