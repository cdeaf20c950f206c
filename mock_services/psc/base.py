"""What every Pro Santé Connect mock endpoint shares: settings, OAuth errors, recording, client authentication."""

from __future__ import annotations

import base64
import hmac
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from harness.core.recorder import FAULT, OK, REJECTED, Exchange, ExchangeStore
from harness.core.storage import Database
from mock_services.common import DEFAULT_SESSION, TRACE_HEADER, ScenarioStore, client_identity
from mock_services.psc.keys import SharedKeyRing
from mock_services.psc.registry import Client, Registry
from mock_services.psc.sessions import SsoSessions
from mock_services.psc.state import Revocations, StateMap, grant_from, prepare
from mock_services.psc.tokens import Grant, KeyRing, Lifetimes

REALM = "/auth/realms/esante-wallet"
OIDC = "/protocol/openid-connect"
CIBA_GRANT = "urn:openid:params:grant-type:ciba"
WALLET_LOGIN = "/wallet/auth"
LOGIN_LAYOUTS = ("wallet", "issuer")


@dataclass
class PscSettings:
    lifetimes: Lifetimes = field(default_factory=Lifetimes)
    headless_login: bool = True  # test-only: login_hint names the professional, no human needed
    # What tokens carry: eidas1 is what PSC clients request and check; the official introspection
    # sample shows eidas3 (profiles/psc/README.md). Scenario option ``acr`` overrides it per session.
    acr: str = "eidas1"
    # Keycloak's realm setting "Revoke Refresh Token", off by default: a refresh token stays usable
    # until it expires or its session ends. True makes each one single-use.
    revoke_refresh_token: bool = False
    # Where the login page is. "wallet": outside the realm, at /wallet/auth, as PSC's BAS and
    # production put it on their own "wallet" host (wallet.bas.psc.esante.gouv.fr/auth, facts §4),
    # and the issuer-derived Keycloak path is not served. "issuer": Keycloak's own
    # <issuer>/protocol/openid-connect/auth. Discovery names whichever is in force.
    login_layout: str = "wallet"

    def __post_init__(self) -> None:
        if self.login_layout not in LOGIN_LAYOUTS:
            raise ValueError(f"unknown login_layout {self.login_layout!r}; known: {LOGIN_LAYOUTS}")

    max_form_bytes: int = 64 * 1024
    # e-CPS push (CIBA): the simulated phone answers after this delay; scenario option
    # ``ciba_decision`` = "approve" (default) or "deny" chooses the answer.
    ciba_approval_delay: float = 0.0


class OAuthError(Exception):
    def __init__(self, error: str, description: str, status: int = 400):
        super().__init__(description)
        self.error, self.description, self.status = error, description, status

    def response(self) -> JSONResponse:
        headers = {"WWW-Authenticate": 'Basic realm="esante-wallet"'} if self.status == 401 else None
        return JSONResponse({"error": self.error, "error_description": self.description}, self.status, headers)


@dataclass
class PendingCiba:
    grant: Grant
    answer_at: float
    expires: float
    decision: str


@dataclass
class PendingCode:
    grant: Grant
    redirect_uri: str
    code_challenge: str | None
    code_challenge_method: str | None
    expires: float
    used: bool = False


@dataclass
class IssuedRefresh:
    grant: Grant
    issued_at: int
    expires: float
    issuer: str
    jti: str = field(default_factory=lambda: str(uuid.uuid4()))


class ProviderBase:
    def __init__(
        self,
        store: ExchangeStore,
        scenarios: ScenarioStore,
        settings: PscSettings,
        registry: Registry,
        database: Database | None = None,
    ):
        self.store, self.scenarios, self.settings, self.registry = store, scenarios, settings, registry
        # In memory, or rows of the shared database (mock_services/psc/state.py, keys.py): the same reads either way.
        database = prepare(database)
        self.keyring: KeyRing = SharedKeyRing(database) if database is not None else KeyRing()
        self.revocations = Revocations(database)

        def with_grant(kind: type[Any]) -> Any:
            return lambda data: kind(**{**data, "grant": self.revocations.restore(grant_from(data["grant"]))})

        self.codes: StateMap[PendingCode] = StateMap("code", database, decode=with_grant(PendingCode))
        self.refresh_tokens: StateMap[IssuedRefresh] = StateMap("refresh", database, decode=with_grant(IssuedRefresh))
        self.ciba_requests: StateMap[PendingCiba] = StateMap("ciba", database, decode=with_grant(PendingCiba))
        self.sessions = SsoSessions(settings.lifetimes, database)
        # access token jti -> its grant, to revoke it with the grant
        self.access_grants: StateMap[Grant] = StateMap(
            "access", database, decode=lambda data: self.revocations.restore(grant_from(data))
        )

    # -- plumbing -----------------------------------------------------------------------------
    @staticmethod
    def session_key(request: Request) -> str:
        return str(request.path_params.get("session_key", DEFAULT_SESSION))

    def authorization_endpoint(self, request: Request) -> str:
        if self.settings.login_layout == "issuer":
            return self.issuer(request) + OIDC + "/auth"
        key = request.path_params.get("session_key")
        prefix = f"/s/{key}" if key else ""
        return f"{request.base_url.scheme}://{request.base_url.netloc}{prefix}{WALLET_LOGIN}"

    def acr(self, request: Request) -> str:
        return str(self.scenarios.get(self.session_key(request)).options.get("acr", self.settings.acr))

    @staticmethod
    def issuer(request: Request) -> str:
        key = request.path_params.get("session_key")
        prefix = f"/s/{key}" if key else ""
        return f"{request.base_url.scheme}://{request.base_url.netloc}{prefix}{REALM}"

    def record(
        self, request: Request, operation: str, body: bytes, response: Response, summary: dict[str, Any], started: float
    ) -> Response:
        status = response.status_code
        outcome = OK if status < 400 else REJECTED if status < 500 else FAULT
        exchange = self.store.record(
            Exchange(
                service="psc",
                session_key=request.path_params.get("session_key", DEFAULT_SESSION),
                operation=operation,
                outcome=outcome,
                request_body=body,
                response_body=bytes(response.body),
                started_at=started,
                finished_at=time.time(),
                http_status=status,
                client_subject=client_identity(request.scope).subject,
                request_meta={
                    "method": request.method,
                    "path": request.url.path,
                    "query": str(request.url.query),
                    "headers": dict(request.headers),
                },
                response_meta={"headers": dict(response.headers)},
                summary=summary,
            )
        )
        response.headers[TRACE_HEADER] = exchange.id
        return response

    async def form(self, request: Request) -> tuple[bytes, dict[str, str]]:
        body = await request.body()
        if len(body) > self.settings.max_form_bytes:
            raise OAuthError("invalid_request", "request body too large", 413)
        if request.method == "POST" and not request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"
        ):
            raise OAuthError("invalid_request", "the body must be application/x-www-form-urlencoded")
        form = await request.form() if request.method == "POST" else {}
        return body, {k: str(v) for k, v in form.items()}

    def authenticate_client(self, request: Request, params: dict[str, str]) -> Client:
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            try:
                encoded_id, _, encoded_secret = base64.b64decode(header[6:], validate=True).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                raise OAuthError("invalid_client", "malformed Basic authorization", 401) from None
            # RFC 6749 §2.3.1: both are form-encoded before Basic; Keycloak decodes them, so must we.
            client_id, secret = unquote_plus(encoded_id), unquote_plus(encoded_secret)
            method = "client_secret_basic"
        elif "client_secret" in params:
            client_id, secret, method = params.get("client_id", ""), params["client_secret"], "client_secret_post"
        else:
            client_id, secret, method = params.get("client_id", ""), "", "tls_client_auth"
        client = self.registry.clients.get(client_id)
        if client is None:
            raise OAuthError("invalid_client", f"unknown client {client_id!r}", 401)
        if method == "tls_client_auth":
            if client_identity(request.scope).common_name != client.client_id:
                raise OAuthError("invalid_client", "no client authentication (secret or certificate)", 401)
        elif not client.client_secret or not hmac.compare_digest(secret.encode(), client.client_secret.encode()):
            raise OAuthError("invalid_client", "client authentication failed", 401)
        return client
