"""The operator console: a local web page beside the mocks, for the people who use them.

It lists the exchanges the mocks record, live, per service and session, in their raw and
parsed forms; it sets the fault injection scenarios the mocks understand; and during
``segur run --sut manual`` it shows the operator the step to perform and takes their answer
(:class:`ManualDesk`, shared with :mod:`harness.run.sut.manual`).

It is served on loopback only and trusts no other page: every request must name a loopback
Host (DNS rebinding), and a change needs the ``X-Segur-Console`` header, which no cross-site
form can send, plus a same-origin ``Origin`` when a browser gives one (CSRF). The page builds
its DOM with ``textContent`` only and JSON answers escape ``<``, ``>`` and ``&``, so recorded
bytes are never read as markup.

The switches are read from the mocks' own constants, which is why this module, like
``environment.py``, imports from ``mock_services``.
"""

from __future__ import annotations

import codecs
import json
import re
import secrets
import sqlite3
import threading
import time
import uuid
from collections.abc import MutableMapping
from contextlib import closing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from harness.core.recorder import ExchangeStore
from harness.protocols.mockserver import LOOPBACK, ServedApp, serve_app
from harness.run.sut.actions import check_answer
from harness.run.sut.base import SutFailure
from mock_services.common import FAULTS, Scenario, ScenarioStore
from mock_services.insi.messages import HISTORY_DATES
from mock_services.psc.tokens import TOKEN_DEFECTS

CONSOLE_HEADER = "X-Segur-Console"
TEXT_SHOWN = 256 * 1024  # bytes of a body the page shows as text; the rest is a download away
HEX_SHOWN = 64 * 1024  # a hex dump is four times the bytes it shows
PAGE_SIZE = 500
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")  # valid UTF-8, yet binary
LOOPBACK_NAMES = {"127.0.0.1", "localhost", "::1"}
SERVICE_LABELS = {"insi": "INSi", "psc": "Pro Santé Connect", "dmp": "DMP", "mss": "MSSanté"}
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


# -- fault injection switches, as the mocks read them ------------------------------------


@dataclass(frozen=True)
class Switch:
    """One field of :class:`mock_services.common.Scenario` and what it does in each mock reading it."""

    name: str  # "latency_ms", "fault" or "options.<key>"
    label: str
    description: str
    services: tuple[str, ...]
    choices: dict[str, str] = field(default_factory=dict)  # value -> effect ("" leaves it unset); empty: a number

    @property
    def option(self) -> str | None:
        return self.name.removeprefix("options.") if self.name.startswith("options.") else None


FAULT_EFFECTS = {
    "technical": "erreur technique : INSi répond HTTP 500 (faute SOAP Receiver siram_40 / insi_102), "
    "DMP HTTP 500 (faute Receiver de la situation registry_error de sa table des fautes)",
    "unavailable": "service indisponible : HTTP 503 avec une faute SOAP Receiver",
}
HISTORY_DATES_EFFECTS = {
    "off": "sans DateDeb ni DateFin",
    "xsd": "DateDeb/DateFin après OID, dans l'ordre du XSD",
    "cnda": "DateDeb/DateFin avant IdIndividu, comme la réponse CNDA TEST_2.04 (refusée par ce XSD)",
}
TOKEN_DEFECT_EFFECTS = {
    "bad_signature": "signature RS256 altérée",
    "unknown_kid": "signé par une clé dont le kid n'est pas publié",
    "alg_none": "en-tête alg « none », sans signature",
    "wrong_audience": "aud désigne un autre client",
    "wrong_issuer": "iss différent de l'émetteur",
    "expired": "expiré depuis cinq minutes",
    "nonce_mismatch": "nonce différent de celui de la demande",
}
SWITCHES = (
    Switch("latency_ms", "Latence (ms)", "Attente avant la réponse, de 0 à 60 000 ms.", ("insi", "dmp")),
    Switch(
        "fault",
        "Panne",
        "Une réponse en erreur à la place de la réponse métier.",
        ("insi", "dmp"),
        {"": "aucune"} | {name: FAULT_EFFECTS.get(name, name) for name in sorted(FAULTS)},
    ),
    Switch(
        "options.history_dates",
        "Dates de l'historique INS",
        "Place des dates des blocs INSHISTO dans la réponse INSi.",
        ("insi",),
        {"": "réglage du mock (off)"} | {name: HISTORY_DATES_EFFECTS.get(name, name) for name in HISTORY_DATES},
    ),
    Switch(
        "options.id_token_defect",
        "Jeton d'identité défectueux",
        "Le point de jeton PSC délivre un ID token gâché de cette façon : le produit doit le refuser.",
        ("psc",),
        {"": "aucun"} | {name: TOKEN_DEFECT_EFFECTS.get(name, name) for name in TOKEN_DEFECTS},
    ),
    Switch(
        "options.ciba_decision",
        "Décision sur l'application e-CPS (CIBA)",
        "Ce que le professionnel répond à la demande d'authentification poussée.",
        ("psc",),
        {"": "accepte (par défaut)", "approve": "accepte", "deny": "refuse : access_denied"},
    ),
)
OPTION_SWITCHES = {switch.option: switch for switch in SWITCHES if switch.option}


def scenario_from_json(data: object) -> Scenario:
    """A scenario from the console's JSON (the mocks' own form); unknown switches or values are refused."""
    if not isinstance(data, dict):
        raise ValueError("le scénario doit être un objet JSON")
    options = data.get("options") or {}
    if not isinstance(options, dict):
        raise ValueError("options doit être un objet JSON")
    options = {key: value for key, value in options.items() if value not in ("", None)}
    for key, value in options.items():
        switch = OPTION_SWITCHES.get(key)
        if switch is None:
            raise ValueError(f"option inconnue {key!r} ; connues : {', '.join(sorted(OPTION_SWITCHES))}")
        if value not in switch.choices:
            known = ", ".join(choice for choice in switch.choices if choice)
            raise ValueError(f"valeur {value!r} inconnue pour {key} ; connues : {known}")
    try:
        return Scenario.from_dict({**data, "fault": data.get("fault") or None, "options": options})
    except TypeError as exc:  # latency_ms: null
        raise ValueError(str(exc)) from exc


# -- the manual step handed to a person --------------------------------------------------


@dataclass(frozen=True)
class ManualStep:
    """What the operator must make their product do, with everything they need to do it."""

    action: str
    summary: str
    params: dict[str, Any]
    param_help: dict[str, str]
    answer_shape: str
    outcomes: list[str]
    session_key: str
    endpoints: dict[str, str]
    credentials: dict[str, str]
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    posted_at: float = field(default_factory=time.time)


@dataclass(frozen=True)
class OperatorAnswer:
    kind: str  # "answer", "not_supported" or "failure"
    data: dict[str, Any] = field(default_factory=dict)
    reason: str = ""
    channel: str = "console"


class AnswerRefused(ValueError):
    """The answer cannot be taken (not JSON, wrong shape, failure without reason): the step stays pending."""


class StepGone(LookupError):
    """The answer names a step that is no longer waiting (answered, timed out, or another one)."""


class ManualDesk:
    """One pending step at a time, posted by the manual SUT's thread and answered from the console's."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._step: ManualStep | None = None
        self._answer: OperatorAnswer | None = None

    def post(self, step: ManualStep) -> None:
        with self._changed:
            self._step, self._answer = step, None
            self._changed.notify_all()

    def current(self) -> ManualStep | None:
        """The step waiting for an answer, if any."""
        with self._changed:
            return self._step if self._answer is None else None

    def answer(self, step_id: str, kind: str, answer: object = None, reason: str = "") -> OperatorAnswer:
        with self._changed:
            step = self._step
            if step is None or step.id != step_id or self._answer is not None:
                raise StepGone("cette étape n'attend plus de réponse")
            self._answer = _operator_answer(step, kind, answer, reason.strip())
            self._changed.notify_all()
            return self._answer

    def wait(self, step_id: str, timeout: float) -> OperatorAnswer | None:
        """The answer to ``step_id`` once given, or None after ``timeout`` seconds or if the step went."""
        with self._changed:
            self._changed.wait_for(self._settled(step_id), timeout)
            return self._answer if self._step is not None and self._step.id == step_id else None

    def withdraw(self, step_id: str) -> None:
        with self._changed:
            if self._step is not None and self._step.id == step_id:
                self._step, self._answer = None, None
                self._changed.notify_all()

    def _settled(self, step_id: str) -> Any:
        return lambda: self._answer is not None or self._step is None or self._step.id != step_id


def _operator_answer(step: ManualStep, kind: str, answer: object, reason: str) -> OperatorAnswer:
    if kind == "answer":
        if isinstance(answer, str):
            try:
                answer = json.loads(answer)
            except json.JSONDecodeError as exc:
                raise AnswerRefused(f"réponse refusée : ce n'est pas du JSON ({exc})") from exc
        try:
            return OperatorAnswer(kind, dict(check_answer(step.action, answer)))
        except SutFailure as exc:
            raise AnswerRefused(f"réponse refusée : {exc}") from exc
    if kind == "not_supported":
        return OperatorAnswer(kind, reason=reason)
    if kind == "failure":
        if not reason:
            raise AnswerRefused("indiquez pourquoi le produit a échoué")
        return OperatorAnswer(kind, reason=reason)
    raise AnswerRefused(f"type de réponse inconnu {kind!r} : answer, not_supported ou failure")


# -- what the page shows of the exchange store -------------------------------------------


class ExchangeReader:
    """Lists exchanges through its own read-only connection, so polling never holds the lock mocks record under."""

    LIST = (
        "SELECT id, seq, service, session_key, operation, outcome, http_status, client_subject, started_at, "
        "finished_at, length(request_body), length(response_body) FROM exchange"
    )

    def __init__(self, store: ExchangeStore):
        if store.path == ":memory:":
            raise ValueError("the console reads the exchange store's file; an in-memory store has none")
        self.uri = Path(store.path).resolve().as_uri() + "?mode=ro"

    def _rows(self, sql: str, params: list[Any]) -> list[Any]:
        with closing(sqlite3.connect(self.uri, uri=True)) as conn:
            return conn.execute(sql, params).fetchall()

    def latest(self, after: int, service: str | None, session_key: str | None, limit: int) -> list[dict[str, Any]]:
        """Exchanges recorded after sequence number ``after``, newest first."""
        clauses: list[str] = ["seq > ?"]
        params: list[Any] = [after]
        for column, value in (("service", service), ("session_key", session_key)):
            if value:
                clauses.append(f"{column} = ?")
                params.append(value)
        rows = self._rows(f"{self.LIST} WHERE {' AND '.join(clauses)} ORDER BY seq DESC LIMIT ?", [*params, limit])
        names = ("id", "seq", "service", "session_key", "operation", "outcome", "http_status", "client_subject")
        return [
            {
                **dict(zip(names, row[:8], strict=True)),
                "started_at": row[8],
                "duration": round(row[9] - row[8], 6),
                "request_size": row[10],
                "response_size": row[11],
            }
            for row in rows
        ]

    def sessions(self, limit: int = 100) -> list[str]:
        """Session keys, most recently active first."""
        sql = "SELECT session_key FROM exchange GROUP BY session_key ORDER BY MAX(seq) DESC LIMIT ?"
        return [row[0] for row in self._rows(sql, [limit])]


def body_view(body: bytes) -> dict[str, Any]:
    """A body as the page shows it: text when it is UTF-8 without control characters, else a hex dump; capped."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    head = body[:TEXT_SHOWN]
    try:
        # not final when cut: a character split by the cap is left out rather than refused
        text = decoder.decode(head, final=len(body) <= TEXT_SHOWN)
    except UnicodeDecodeError:
        text = None
    if text is None or CONTROL_CHARACTERS.search(text):
        shown = body[:HEX_SHOWN]
        return {"encoding": "hex", "size": len(body), "shown": len(shown), "content": hex_dump(shown)}
    shown_bytes = len(head) - len(decoder.getstate()[0])
    return {"encoding": "text", "size": len(body), "shown": shown_bytes, "content": text}


def hex_dump(data: bytes) -> str:
    lines = []
    for offset in range(0, len(data), 16):
        chunk = data[offset : offset + 16]
        printable = "".join(chr(byte) if 32 <= byte < 127 else "." for byte in chunk)
        lines.append(f"{offset:08x}  {chunk.hex(' '):<47}  |{printable}|")
    return "\n".join(lines)


# -- the web application ------------------------------------------------------------------


class SafeJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        text = json.dumps(content, ensure_ascii=False, default=_jsonable, separators=(",", ":"))
        # these characters only occur inside JSON strings: escaped, no answer can ever be read as markup
        return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").encode()


def _jsonable(value: Any) -> Any:
    return value.hex() if isinstance(value, bytes) else str(value)


def _error(message: str, status: int) -> Response:
    return SafeJSONResponse({"error": message}, status)


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
            return _error(str(exc), 415 if isinstance(exc, NotJson) else 400)
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
            return _error(str(exc), 415 if isinstance(exc, NotJson) else 400)
        return SafeJSONResponse({"accepted": True})

    def _touch(self, key: str) -> None:
        if key not in self.touched:
            self.touched = [key, *self.touched][:100]


class NotJson(ValueError):
    pass


async def _json_body(request: Request) -> Any:
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise NotJson("le corps doit être envoyé en application/json")
    try:
        return json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"corps JSON illisible : {exc}") from exc


def refusal(request: Request) -> str | None:
    """Why a request may not reach the console (wrong Host, cross-site change), or None."""
    host = request.headers.get("host", "")
    try:
        hostname = urlsplit(f"//{host}").hostname
    except ValueError:
        hostname = None
    if hostname not in LOOPBACK_NAMES:
        return "hôte refusé : la console ne répond qu'à 127.0.0.1, localhost ou [::1]"
    if request.method in ("GET", "HEAD"):
        return None
    origin = request.headers.get("origin")
    if origin is not None and origin != f"{request.url.scheme}://{host}":
        return "origine refusée : seule la page de la console peut modifier l'état"
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return "requête inter-sites refusée"
    if request.headers.get(CONSOLE_HEADER) != "1":
        return f"en-tête {CONSOLE_HEADER}: 1 exigé pour modifier l'état (défense CSRF)"
    return None


class LoopbackGuard:
    """ASGI wrapper: refuses what :func:`refusal` refuses and adds the security headers to every answer."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        reason = refusal(Request(scope))
        if reason is not None:
            await _error(reason, 403)(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)


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


def start_console(store: ExchangeStore, scenarios: ScenarioStore, port: int = 0) -> RunningConsole:
    """Serve the console on loopback (never elsewhere: it changes the mocks' behaviour)."""
    app = ConsoleApp(store, scenarios, ManualDesk())
    return RunningConsole(serve_app(app.asgi, name="console", host=LOOPBACK, port=port), app)


PAGE = """<!doctype html>
<html lang="fr">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Console Ségur</title>
<style nonce="__NONCE__">
body { font: 14px/1.4 system-ui, sans-serif; margin: 0 1.5rem 2rem; color: #1d1d1f; }
header { display: flex; align-items: baseline; gap: 1rem; border-bottom: 1px solid #ccc; }
h1 { font-size: 1.3rem; } h2 { font-size: 1.15rem; margin-top: 1.5rem; } h3 { font-size: 1rem; margin: .8rem 0 .3rem; }
h4 { font-size: .9rem; margin: .6rem 0 .2rem; font-weight: 600; }
code, pre { font-family: ui-monospace, monospace; font-size: 12px; }
pre { background: #f5f5f7; padding: .5rem; overflow: auto; max-height: 30rem; }
pre { white-space: pre-wrap; word-break: break-all; }
#status.down { color: #b00020; }
#step { border: 2px solid #0a58ca; padding: .5rem 1rem 1rem; margin-top: 1rem; background: #f3f7ff; }
#step textarea { width: 100%; min-height: 8rem; font-family: ui-monospace, monospace; }
#step input[type=text] { width: 60%; }
.buttons { display: flex; gap: .5rem; flex-wrap: wrap; margin: .5rem 0; }
.msg { font-weight: 600; } .msg.bad { color: #b00020; } .msg.good { color: #146c2e; }
.filters, .scenario-form { display: flex; gap: 1rem; flex-wrap: wrap; align-items: end; }
.scenario-form label { display: flex; flex-direction: column; max-width: 22rem; }
.scenario-form small { color: #555; }
section.service > h3 { border-bottom: 1px solid #ddd; }
details.group { margin: .3rem 0 .3rem .5rem; }
details.x { margin-left: 1rem; border-left: 4px solid #999; padding-left: .4rem; }
details.x.ok { border-color: #2e8540; } details.x.fault { border-color: #d9822b; }
details.x.rejected { border-color: #b00020; }
.badge { display: inline-block; padding: 0 .4rem; border-radius: .3rem; background: #eee; font-size: 12px; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .1rem 1rem; }
dt { font-weight: 600; } dd { margin: 0; word-break: break-all; }
table { border-collapse: collapse; } td, th { border: 1px solid #ddd; padding: .2rem .5rem; text-align: left; }
.note { color: #555; }
</style>
</head>
<body>
<header><h1>Console Ségur</h1><span id="status">connexion…</span></header>
<section id="step" hidden></section>
<h2>Échanges en direct</h2>
<div class="filters">
  <label>Service <select id="f-service"><option value="">tous</option></select></label>
  <label>Session <input id="f-session" type="text" list="sessions" placeholder="toutes"></label>
  <span class="note">Les plus récents en premier ; cliquez un échange pour voir ses formes brute et analysée.</span>
</div>
<p id="feed-note" class="note"></p>
<div id="feed"></div>
<h2>Injection de fautes</h2>
<p class="note">Un scénario vaut pour une session entière : la latence et la panne touchent à la fois INSi et DMP.
Un produit entre dans une session par les URL <code>/s/&lt;session&gt;/…</code> ;
la session <code>default</code> est celle des URL sans préfixe.</p>
<div class="scenario-form">
  <label>Session <input id="sc-session" type="text" list="sessions" value="default"></label>
</div>
<div id="sc-fields" class="scenario-form"></div>
<div class="buttons">
  <button id="sc-apply" type="button">Appliquer</button>
  <button id="sc-clear" type="button">Réinitialiser la session</button>
  <span id="sc-msg" class="msg"></span>
</div>
<h3>Sessions avec un scénario actif</h3>
<table><thead><tr><th>Session</th><th>Scénario</th><th></th></tr></thead><tbody id="sc-active"></tbody></table>
<datalist id="sessions"></datalist>
<script nonce="__NONCE__">
"use strict";
const CHANGE = {"X-Segur-Console": "1", "Content-Type": "application/json"};
const SERVICES = {insi: "INSi", psc: "Pro Santé Connect", dmp: "DMP", mss: "MSSanté"};
const OUTCOME_CLASSES = {ok: "ok", fault: "fault", rejected: "rejected"};
const $ = (selector) => document.querySelector(selector);

function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value);
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

async function api(path, options) {
  const response = await fetch(path, options);
  const json = (response.headers.get("content-type") || "").includes("json") ? await response.json() : null;
  if (!response.ok) throw new Error((json && json.error) || "HTTP " + response.status);
  return json;
}

function pretty(value) { return JSON.stringify(value, null, 2); }
function size(bytes) { return bytes < 1024 ? bytes + " o" : (bytes / 1024).toFixed(1) + " Kio"; }
function clock(seconds) { return new Date(seconds * 1000).toLocaleTimeString("fr-FR"); }
function lasted(seconds) { return (seconds * 1000).toFixed(1) + " ms"; }

function bodyBlock(title, view, id, part) {
  const note = view.shown < view.size ? `affichés ${view.shown} octets sur ${view.size}, tronqué` : `${view.size} o`;
  const href = `/api/exchanges/${encodeURIComponent(id)}/${part}`;
  const link = el("a", {href, download: ""}, "télécharger le corps brut");
  return el("div", {}, el("h4", {}, `${title} (${view.encoding === "hex" ? "hexadécimal" : "texte"}, ${note}) `, link),
    el("pre", {}, view.content));
}

async function loadDetail(id, into) {
  const x = await api("/api/exchanges/" + encodeURIComponent(id));
  const facts = [["Opération", x.operation], ["Résultat", x.outcome], ["Statut HTTP", x.http_status ?? "—"],
    ["Certificat client (sujet)", x.client_subject ?? "aucun"], ["Service", x.service], ["Session", x.session_key],
    ["Début", new Date(x.started_at * 1000).toISOString()], ["Durée", lasted(x.duration)], ["Identifiant", x.id],
    ["Trace signée", x.trace || "—"]];
  into.append(el("dl", {}, ...facts.flatMap(([name, value]) => [el("dt", {}, name), el("dd", {}, String(value))])),
    el("h4", {}, "Métadonnées de la requête"), el("pre", {}, pretty(x.request_meta)),
    el("h4", {}, "Métadonnées de la réponse"), el("pre", {}, pretty(x.response_meta)),
    el("h4", {}, "Analyse du mock (résumé)"), el("pre", {}, pretty(x.summary)),
    bodyBlock("Requête brute", x.request, x.id, "request"), bodyBlock("Réponse brute", x.response, x.id, "response"));
}

function exchangeRow(x) {
  const row = el("details", {class: "x " + (OUTCOME_CLASSES[x.outcome] || "")},
    el("summary", {}, clock(x.started_at), " ", el("b", {}, x.operation || "?"), " ",
      el("span", {class: "badge"}, x.outcome),
      ` HTTP ${x.http_status ?? "—"} · ${size(x.request_size)} → ${size(x.response_size)} · ${lasted(x.duration)}`));
  row.addEventListener("toggle", () => {
    if (!row.open || row.dataset.loaded) return;
    row.dataset.loaded = "1";
    loadDetail(x.id, row).catch((error) => row.append(el("p", {class: "msg bad"}, error.message)));
  });
  return row;
}

class Feed {
  constructor(root, session) { this.root = root; this.session = session; this.reset(); }
  reset() {
    this.after = 0;
    this.generation = (this.generation || 0) + 1;  // a poll begun before a reset must not land after it
    this.groups = new Map();
    this.sections = new Map();
    this.root.replaceChildren();
  }
  query() {
    const params = new URLSearchParams({after: this.after});
    const service = this.session === undefined ? $("#f-service").value : "";
    const session = this.session === undefined ? $("#f-session").value.trim() : this.session;
    if (service) params.set("service", service);
    if (session) params.set("session", session);
    return params;
  }
  async poll() {
    const generation = this.generation;
    const data = await api("/api/exchanges?" + this.query());
    if (generation !== this.generation) return data;
    this.after = data.last_seq;
    for (const x of data.exchanges.slice().reverse()) this.add(x);
    return data;
  }
  section(service) {
    if (!this.sections.has(service)) {
      const body = el("div");
      this.root.append(el("section", {class: "service"}, el("h3", {}, SERVICES[service] || service), body));
      this.sections.set(service, body);
    }
    return this.sections.get(service);
  }
  add(x) {
    const key = JSON.stringify([x.service, x.session_key]);
    let group = this.groups.get(key);
    if (!group) {
      const count = el("span", {class: "note"});
      const list = el("div");
      group = {count, list, n: 0, node: el("details", {class: "group", open: ""},
        el("summary", {}, "Session ", el("code", {}, x.session_key), " ", count), list)};
      this.groups.set(key, group);
    }
    group.list.prepend(exchangeRow(x));
    group.n += 1;
    group.count.textContent = `(${group.n} échange${group.n > 1 ? "s" : ""})`;
    this.section(x.service).prepend(group.node);
  }
}

const feed = new Feed($("#feed"));
let step = null, stepFeed = null, catalog = null;

function list(entries) {
  const pairs = entries.flatMap(([name, value]) => [el("dt", {}, name), el("dd", {}, el("code", {}, String(value)))]);
  return el("dl", {}, ...pairs);
}

async function answer(kind) {
  const body = {step: step.id, kind, answer: $("#answer").value, reason: $("#reason").value};
  const message = $("#step-msg");
  try {
    await api("/api/manual/answer", {method: "POST", headers: CHANGE, body: JSON.stringify(body)});
    message.className = "msg good";
    message.textContent = "Réponse transmise au harnais.";
  } catch (error) {
    message.className = "msg bad";
    message.textContent = error.message;
  }
}

function renderStep() {
  const box = $("#step");
  box.replaceChildren();
  box.hidden = !step;
  stepFeed = null;
  if (!step) return;
  const params = Object.entries(step.params).map(([name, value]) =>
    el("tr", {}, el("td", {}, el("code", {}, name)), el("td", {}, el("pre", {}, pretty(value))),
      el("td", {}, step.param_help[name] || "")));
  const exchanges = el("div");
  box.append(el("h2", {}, "Étape à réaliser : ", el("code", {}, step.action)), el("p", {}, step.summary),
    el("h3", {}, "Paramètres"), el("table", {}, ...params),
    el("h3", {}, "Points d'accès à utiliser (session ", el("code", {}, step.session_key), ")"),
    list(Object.entries(step.endpoints)),
    el("h3", {}, "Certificats client"), list(Object.entries(step.credentials)),
    el("h3", {}, "Réponse attendue"), el("pre", {}, step.answer_shape),
    el("p", {}, "Valeurs possibles de outcome : ", el("code", {}, step.outcomes.join(", "))),
    el("label", {for: "answer"}, "Réponse du produit (objet JSON) :"),
    el("textarea", {id: "answer", spellcheck: "false"}),
    el("div", {class: "buttons"},
      el("button", {type: "button", onclick: () => answer("answer")}, "Envoyer la réponse")),
    el("label", {for: "reason"}, "Sinon, pourquoi : "), el("input", {id: "reason", type: "text"}),
    el("div", {class: "buttons"},
      el("button", {type: "button", onclick: () => answer("not_supported")}, "Je ne peux pas / action non supportée"),
      el("button", {type: "button", onclick: () => answer("failure")}, "Échec")),
    el("p", {id: "step-msg", class: "msg"}),
    el("h3", {}, "Échanges de cette session, en direct"), exchanges);
  stepFeed = new Feed(exchanges, step.session_key);
  $("#sc-session").value = step.session_key;
  fillScenario();
}

async function pollStep() {
  const current = (await api("/api/manual/step")).step;
  if ((current && current.id) !== (step && step.id)) { step = current; renderStep(); }
}

function buildScenarioForm() {
  const fields = $("#sc-fields");
  for (const s of catalog.switches) {
    const services = s.services.map((name) => SERVICES[name] || name).join(", ");
    const choices = Object.entries(s.choices);
    const input = choices.length
      ? el("select", {"data-name": s.name},
        ...choices.map(([value, effect]) => el("option", {value}, value ? `${value} — ${effect}` : effect)))
      : el("input", {"data-name": s.name, type: "number", min: "0", max: "60000", step: "100", value: "0"});
    fields.append(el("label", {}, `${s.label} (${services})`, input, el("small", {}, s.description)));
  }
  const silent = Object.entries(catalog.services).filter(([, service]) => !service.switches.length);
  for (const [, service] of silent) {
    fields.append(el("p", {class: "note"}, `${service.label} : aucun interrupteur dans ce mock.`));
  }
}

function fillScenario() {
  if (!catalog) return;
  const key = $("#sc-session").value.trim() || "default";
  const known = catalog.sessions.find((s) => s.session_key === key);
  const scenario = known ? known.scenario : {latency_ms: 0, fault: null, options: {}};
  for (const input of document.querySelectorAll("#sc-fields [data-name]")) {
    const name = input.dataset.name;
    if (name === "latency_ms") input.value = scenario.latency_ms;
    else if (name === "fault") input.value = scenario.fault || "";
    else input.value = scenario.options[name.slice("options.".length)] || "";
  }
}

function describeScenario(scenario) {
  const parts = [];
  if (scenario.latency_ms) parts.push(`latence ${scenario.latency_ms} ms`);
  if (scenario.fault) parts.push(`panne ${scenario.fault}`);
  for (const [name, value] of Object.entries(scenario.options)) parts.push(`${name}=${value}`);
  return parts.join(", ");
}

async function loadScenarios() {
  const first = catalog === null;
  catalog = await api("/api/scenarios");
  if (first) { buildScenarioForm(); fillScenario(); }
  $("#sessions").replaceChildren(...catalog.sessions.map((s) => el("option", {value: s.session_key})));
  const edit = (key) => () => { $("#sc-session").value = key; fillScenario(); };
  $("#sc-active").replaceChildren(...catalog.sessions.filter((s) => s.active).map((s) =>
    el("tr", {}, el("td", {}, el("code", {}, s.session_key)), el("td", {}, describeScenario(s.scenario)),
      el("td", {}, el("button", {type: "button", onclick: edit(s.session_key)}, "modifier")))));
}

async function changeScenario(method) {
  const key = $("#sc-session").value.trim() || "default";
  const scenario = {latency_ms: 0, fault: null, options: {}};
  for (const input of document.querySelectorAll("#sc-fields [data-name]")) {
    const name = input.dataset.name;
    if (name === "latency_ms") scenario.latency_ms = Number(input.value || 0);
    else if (name === "fault") scenario.fault = input.value || null;
    else if (input.value) scenario.options[name.slice("options.".length)] = input.value;
  }
  const message = $("#sc-msg");
  try {
    const options = {method, headers: CHANGE};
    if (method === "PUT") options.body = JSON.stringify(scenario);
    await api("/api/scenarios/" + encodeURIComponent(key), options);
    message.className = "msg good";
    message.textContent = method === "PUT" ? `Scénario appliqué à ${key}.` : `Session ${key} réinitialisée.`;
    await loadScenarios();
    fillScenario();
  } catch (error) {
    message.className = "msg bad";
    message.textContent = error.message;
  }
}

for (const [name, label] of Object.entries(SERVICES)) $("#f-service").append(el("option", {value: name}, label));
for (const id of ["#f-service", "#f-session"]) $(id).addEventListener("change", () => feed.reset());
$("#sc-session").addEventListener("change", fillScenario);
$("#sc-apply").addEventListener("click", () => changeScenario("PUT"));
$("#sc-clear").addEventListener("click", () => changeScenario("DELETE"));

let rounds = 0;
async function refresh() {
  try {
    await pollStep();
    const data = await feed.poll();
    if (stepFeed) await stepFeed.poll();
    if (rounds++ % 4 === 0) await loadScenarios();
    const skipped = "Trop d'échanges nouveaux d'un coup : seuls les plus récents sont affichés.";
    $("#feed-note").textContent = data.truncated ? skipped : "";
    $("#status").className = "";
    $("#status").textContent = "à jour à " + new Date().toLocaleTimeString("fr-FR");
  } catch (error) {
    $("#status").className = "down";
    $("#status").textContent = "console injoignable : " + error.message;
  }
  setTimeout(refresh, 1500);
}
refresh();
</script>
</body>
</html>
"""
