"""Sessions of ``segur serve`` for ``segur judge``: handing one out, and what evidence it has gathered.

``POST /_segur/sessions`` (on any HTTP mock of the serve, behind the same :class:`ControlGuard` as
every control endpoint: loopback, or the Bearer control token) creates a routing key and answers
with the endpoints that carry it. SMTP has no URL to carry a key, so mail submitted from then on
is recorded under the newest session: one product's mail at a time.

:func:`gathered` says, per requirement ``segur judge`` can decide, whether the session's traffic
already holds what its tests need; the operator console shows it live.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from harness.core.recorder import OK, Exchange
from harness.protocols import xds
from harness.run import host_control


class HarnessEnvironment(Protocol):
    """What a session needs of ``harness.run.environment.HarnessEnvironment`` (which imports this module)."""

    data_dir: Path
    active_session: Any
    store: Any  # the exchange store, and below the PKI and the MSSanté operator (None until started)
    pki: Any
    mss: Any

    def new_session_key(self, label: str = "") -> str: ...
    def endpoints_document(self) -> dict[str, Any]: ...
    def endpoint(self, service: str, session_key: str | None = None) -> str: ...


SESSIONS_PATH = "/_segur/sessions"
MAX_REQUEST = 4096
PATIENT_MAIL_DOMAIN = "@patient.mssante.fr"


def session_document(env: HarnessEnvironment, key: str) -> dict[str, Any]:
    """The endpoints carrying ``key`` for the services started, the PKI, and the command that judges it."""
    document: dict[str, Any] = {"session": key, **env.endpoints_document()}
    for service, field in (("insi", "url"), ("psc", "issuer"), ("dmp", "url"), ("sas", "url")):
        if service in document:
            document[service] = {field: env.endpoint(service, key)}
    document.pop("console", None)
    data_dir = env.data_dir.resolve()  # the judge may run from another folder
    document["data_dir"] = str(data_dir)
    document["judge"] = (
        f"segur judge --session {key} --data-dir {shlex.quote(str(data_dir))} --report-dir reports/{key}"
    )
    return document


class SessionControl:
    """ASGI middleware answering ``POST /_segur/sessions``; everything else goes to the mock."""

    def __init__(self, app: ASGIApp, env: HarnessEnvironment) -> None:
        self.app, self.env = app, env

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and host_control.handles(scope["path"]):
            await host_control.answer(self.env, scope, receive, send)  # segur run --host's control API
            return
        if scope["type"] != "http" or scope["path"] != SESSIONS_PATH:
            await self.app(scope, receive, send)
            return
        if scope["method"] != "POST":
            response = JSONResponse({"error": "POST creates a session"}, status_code=405, headers={"Allow": "POST"})
            await response(scope, receive, send)
            return
        body = await Request(scope, receive).body()
        label = ""
        try:
            if len(body) > MAX_REQUEST:
                raise ValueError(f"the request is over {MAX_REQUEST} bytes")
            request = json.loads(body) if body.strip() else {}
            if not isinstance(request, dict) or not isinstance(request.get("label", ""), str):
                raise ValueError('expected {"label": "text"} or nothing')
            label = request.get("label", "")
        except ValueError as exc:  # json.JSONDecodeError is one
            await JSONResponse({"error": f"bad session request: {exc}"}, status_code=400)(scope, receive, send)
            return
        key = self.env.new_session_key(label)
        self.env.active_session.follow(key)  # mail carries no URL: it goes to the newest session (or the lease's)
        await JSONResponse(session_document(self.env, key), status_code=201)(scope, receive, send)


# -- evidence gathered so far ---------------------------------------------------------------


def _mentions(exchange: Exchange, text: str) -> bool:
    return text.encode() in exchange.request_body


def _dmp(operation: str, test: Callable[[Exchange], bool] = lambda e: True) -> Callable[[Exchange], bool]:
    return lambda e: e.service == "dmp" and e.operation == operation and test(e)


def _mail(test: Callable[[Exchange], bool] = lambda e: True) -> Callable[[Exchange], bool]:
    return lambda e: e.service == "mss" and e.operation == "smtp.data" and e.outcome == OK and test(e)


@dataclass(frozen=True)
class Need:
    """One kind of traffic a requirement's tests need, and how to say it is missing."""

    matches: Callable[[Exchange], bool]
    en: str
    fr: str


EXISTENCE = Need(_dmp("TD0.2"), "a DMP existence test (TD0.2)", "un test d'existence du DMP (TD0.2)")
FEED = Need(_dmp("TD2.1", lambda e: not _mentions(e, xds.RPLC)), "a TD2.1 submission", "une alimentation TD2.1")
FIND = Need(
    _dmp("TD3.1", lambda e: _mentions(e, xds.FIND_DOCUMENTS)), "a FindDocuments query (TD3.1)", "une recherche (TD3.1)"
)
READ = Need(_dmp("TD3.2"), "a document retrieval (TD3.2)", "une récupération de document (TD3.2)")
MASK = Need(
    _dmp("TD3.3", lambda e: not _mentions(e, xds.UPDATE_AVAILABILITY)),
    "a metadata update (TD3.3a, masking)",
    "une mise à jour des métadonnées (TD3.3a, masquage)",
)
STATUS = Need(
    _dmp("TD3.3", lambda e: _mentions(e, xds.UPDATE_AVAILABILITY)),
    "a status change (TD3.3c/d)",
    "un changement de statut (TD3.3c/d)",
)
REPLACE = Need(_dmp("TD2.1", lambda e: _mentions(e, xds.RPLC)), "a replacement (TD2.1 with RPLC)", "un remplacement")
MAIL = Need(_mail(), "a message accepted by the MSSanté operator", "un message accepté par l'opérateur MSSanté")
PATIENT_MAIL = Need(
    _mail(lambda e: any(r.lower().endswith(PATIENT_MAIL_DOMAIN) for r in e.request_meta.get("rcpt_tos", []))),
    "a message to a patient mailbox (<INS>@patient.mssante.fr)",
    "un message à une messagerie patient (<INS>@patient.mssante.fr)",
)
# What the tests of each requirement segur judge can decide ask the product for (harness.run.observed).
NEEDS: dict[str, tuple[Need, ...]] = {
    "DMP-01": (EXISTENCE, FEED),
    **{f"DMP-0{n}": (FEED,) for n in range(2, 9)},
    "DMP-09": (FIND, READ),
    "DMP-10": (FEED, MASK),
    "DMP-11": (FEED, REPLACE),
    "DMP-12": (FEED, STATUS),
    **{f"MSS-0{n}": (MAIL,) for n in (1, 2, 3, 4, 6)},
    "MSS-05": (PATIENT_MAIL,),
}


def gathered(exchanges: list[Exchange]) -> list[dict[str, Any]]:
    """Per requirement: whether the traffic holds what its tests need, else what is still missing."""
    rows = []
    for requirement, needs in NEEDS.items():
        missing = [need for need in needs if not any(need.matches(e) for e in exchanges)]
        rows.append(
            {
                "requirement": requirement,
                "gathered": not missing,
                "missing_en": [need.en for need in missing],
                "missing_fr": [need.fr for need in missing],
            }
        )
    return rows
