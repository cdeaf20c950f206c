"""Sessions of ``segur serve`` for ``segur judge``: handing one out, and what evidence it has gathered.

``POST /_segur/sessions`` (on any HTTP mock of the serve, behind the same :class:`ControlGuard` as
every control endpoint: loopback, or the Bearer control token) creates a routing key and answers
with the endpoints that carry it. SMTP has no URL to carry a key, so mail submitted from then on
is recorded under the newest session: one product's mail at a time.

With a tenant's token (``harness.core.tenants``), the session is the tenant's: bound to it in the
store, its key unguessable (128 random bits), and the operator's "newest session" for mail left
alone (the tenant's mail is found by its credentials, ``mock_services.mssante.tenancy``).
``GET /_segur/sessions`` lists the caller's sessions (once tenants exist) and ``GET /_segur/sessions/{key}/exchanges``
exports one session's recorded exchanges (bodies in base64, traces kept), for
``segur run --host``; ``ControlGuard`` has already answered 404 to a tenant naming another's key.

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
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from harness.core.recorder import OK, Exchange, ExchangeStore
from harness.core.tenants import Tenant, TenantRegistry
from harness.protocols import xds
from harness.run import host_control
from mock_services.common import scoped_tenant


class HarnessEnvironment(Protocol):
    """What a session needs of ``harness.run.environment.HarnessEnvironment`` (which imports this module)."""

    data_dir: Path
    active_session: Any
    store: ExchangeStore
    tenants: TenantRegistry
    pki: Any  # and the MSSanté operator (None until started), for segur run --host's control API
    mss: Any

    def new_session_key(self, label: str = "", *, unguessable: bool = False) -> str: ...
    def endpoints_document(self) -> dict[str, Any]: ...
    def endpoint(self, service: str, session_key: str | None = None) -> str: ...


SESSIONS_PATH = "/_segur/sessions"
MAX_REQUEST = 4096
PATIENT_MAIL_DOMAIN = "@patient.mssante.fr"


def session_document(env: HarnessEnvironment, key: str) -> dict[str, Any]:
    """The endpoints carrying ``key`` for the services started, the PKI, and the command that judges it."""
    document: dict[str, Any] = {"session": key, **env.endpoints_document()}
    for service, field in (("insi", "url"), ("psc", "issuer"), ("dmp", "url"), ("vihf_proxy", "url"), ("sas", "url")):
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
    """ASGI middleware answering ``/_segur/sessions`` and the host control API; everything else goes to the mock."""

    def __init__(self, app: ASGIApp, env: HarnessEnvironment) -> None:
        self.app, self.env = app, env

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and host_control.handles(scope["path"]):
            # segur run --host's control API (a session's exchanges, mail, mail lease; credentials): ControlGuard
            # in front has already kept a tenant to its own sessions.
            await host_control.answer(self.env, scope, receive, send)
            return
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path != SESSIONS_PATH:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        tenant = scoped_tenant(request)
        if request.method == "GET" and (tenant is not None or self.env.tenants.any()):  # no tenants: as before
            keys = self.env.tenants.sessions(tenant.id if tenant else None)
            response = JSONResponse({"tenant": tenant.name if tenant else None, "sessions": keys})
        elif request.method == "POST":
            response = await self._create(request, tenant)
        else:
            response = JSONResponse(
                {"error": "POST creates a session, GET lists them"}, status_code=405, headers={"Allow": "GET, POST"}
            )
        await response(scope, receive, send)

    async def _create(self, request: Request, tenant: Tenant | None) -> JSONResponse:
        body = await request.body()
        try:
            if len(body) > MAX_REQUEST:
                raise ValueError(f"the request is over {MAX_REQUEST} bytes")
            document = json.loads(body) if body.strip() else {}
            if not isinstance(document, dict) or not isinstance(document.get("label", ""), str):
                raise ValueError('expected {"label": "text"} or nothing')
            label = document.get("label", "")
        except ValueError as exc:  # json.JSONDecodeError is one
            return JSONResponse({"error": f"bad session request: {exc}"}, status_code=400)
        if tenant is None:
            key = self.env.new_session_key(label)
            self.env.active_session.follow(key)  # mail carries no URL: it goes to the newest session (or the lease's)
            return JSONResponse(session_document(self.env, key), status_code=201)
        # A tenant's session never takes the operator's mail: its mail comes by its own credentials or its lease.
        key = self.env.new_session_key(label, unguessable=True)
        self.env.tenants.bind_session(key, tenant)
        return JSONResponse({**session_document(self.env, key), "tenant": tenant.name}, status_code=201)


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


def _insi_body(name: str) -> Callable[[Exchange], bool]:
    # the body element's start tag, any prefix: what harness.run.observed_insi parses
    return lambda e: (
        e.service == "insi" and (f":{name}".encode() in e.request_body or f"<{name}".encode() in e.request_body)
    )


def _psc(operation: str, test: Callable[[Exchange], bool] = lambda e: True) -> Callable[[Exchange], bool]:
    return lambda e: e.service == "psc" and e.operation == operation and test(e)


def _query(exchange: Exchange) -> dict[str, list[str]]:
    return parse_qs(str(exchange.request_meta.get("query") or ""))


def _form(exchange: Exchange) -> dict[str, list[str]]:
    return parse_qs(exchange.request_body.decode("utf-8", "replace"))


def _cda_sent(exchange: Exchange) -> bool:
    if not (exchange.service == "dmp" and exchange.operation == "TD2.1") and not _mail()(exchange):
        return False
    from harness.run.observed_cda import documents_sent  # reads MTOM parts and XDM archives: only when it may

    return bool(documents_sent(exchange))


TRAITS_SEARCH = Need(_insi_body("RECSANSVITALE"), "an INSi search by traits", "une recherche INSi par traits")
# The console reads requests only: a login is the product's authorization request (its URL carries client_id;
# the login page's form, posted by the browser, has no query), the code exchange is its token request.
AUTHORIZE = Need(
    _psc("authorize", lambda e: "client_id" in _query(e) and "professional" not in _query(e)),
    "an authorization request to Pro Santé Connect",
    "une requête d'autorisation à Pro Santé Connect",
)
CODE_EXCHANGE = Need(
    _psc("token", lambda e: _form(e).get("grant_type") == ["authorization_code"]),
    "a code exchange (token request)",
    "un échange du code (requête de jeton)",
)
RENEWAL = Need(
    _psc("token", lambda e: _form(e).get("grant_type") == ["refresh_token"]),
    "a token renewal (grant_type=refresh_token)",
    "un renouvellement de jeton (grant_type=refresh_token)",
)
LOGOUT = Need(_psc("logout"), "a logout through PSC", "une déconnexion par PSC")
CDA_SENT = Need(
    _cda_sent,
    "a CDA document sent by the product (a TD2.1 feed or an MSSanté message)",
    "un document CDA envoyé par le produit (une alimentation TD2.1 ou un message MSSanté)",
)
# What the tests of each requirement segur judge can decide ask the product for (harness.run.observed and
# observed_insi, observed_psc, observed_cda).
NEEDS: dict[str, tuple[Need, ...]] = {
    **{f"INS-0{n}": (TRAITS_SEARCH,) for n in range(1, 5)},
    **{f"PSC-0{n}": (AUTHORIZE, CODE_EXCHANGE) for n in (2, 3, 4, 6)},
    "PSC-05": (AUTHORIZE,),
    "PSC-09": (AUTHORIZE, CODE_EXCHANGE, RENEWAL),
    "PSC-10": (AUTHORIZE, CODE_EXCHANGE, LOGOUT),
    **{f"CDA-0{n}": (CDA_SENT,) for n in range(1, 9)},
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
