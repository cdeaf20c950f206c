"""The Pro Santé Connect mock: an OpenID Connect provider laid out like PSC's Keycloak realm.

Served under ``/auth/realms/esante-wallet`` (and ``/s/{session_key}/auth/realms/esante-wallet``):
both discovery names, JWKS, authorization (headless with ``login_hint`` when the test-only
setting allows it, or a page for a person), token (code + PKCE, refresh; client_secret_basic,
client_secret_post, tls_client_auth), userinfo, introspection and RP-initiated logout.
Errors are the OAuth/OIDC error responses; every request is recorded.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route

from harness.core.recorder import FAULT, OK, REJECTED, Exchange, ExchangeStore
from mock_services.common import DEFAULT_SESSION, TRACE_HEADER, ScenarioStore, client_identity
from mock_services.psc.registry import Client, Registry
from mock_services.psc.tokens import TOKEN_DEFECTS, Grant, KeyRing, Lifetimes, issue

REALM = "/auth/realms/esante-wallet"
OIDC = "/protocol/openid-connect"
CIBA_GRANT = "urn:openid:params:grant-type:ciba"


@dataclass
class PscSettings:
    lifetimes: Lifetimes = field(default_factory=Lifetimes)
    headless_login: bool = True  # test-only: login_hint names the professional, no human needed
    acr: str = "eidas1"
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


class PscProvider:
    def __init__(self, store: ExchangeStore, scenarios: ScenarioStore, settings: PscSettings, registry: Registry):
        self.store, self.scenarios, self.settings, self.registry = store, scenarios, settings, registry
        self.keyring = KeyRing()
        self.codes: dict[str, PendingCode] = {}
        self.refresh_tokens: dict[str, tuple[Grant, float]] = {}
        self.ciba_requests: dict[str, PendingCiba] = {}

    # -- plumbing -----------------------------------------------------------------------------
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
                client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                raise OAuthError("invalid_client", "malformed Basic authorization", 401) from None
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
        elif not client.client_secret or not hmac.compare_digest(secret, client.client_secret):
            raise OAuthError("invalid_client", "client authentication failed", 401)
        return client

    # -- endpoints ------------------------------------------------------------------------------
    async def discovery(self, request: Request) -> Response:
        issuer = self.issuer(request)
        document = {
            "issuer": issuer,
            "authorization_endpoint": issuer + OIDC + "/auth",
            "token_endpoint": issuer + OIDC + "/token",
            "userinfo_endpoint": issuer + OIDC + "/userinfo",
            "end_session_endpoint": issuer + OIDC + "/logout",
            "introspection_endpoint": issuer + OIDC + "/token/introspect",
            "jwks_uri": issuer + OIDC + "/certs",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token", CIBA_GRANT],
            "backchannel_authentication_endpoint": issuer + OIDC + "/ext/ciba/auth",
            "backchannel_token_delivery_modes_supported": ["poll"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "tls_client_auth"],
            "code_challenge_methods_supported": ["S256", "plain"],
            "scopes_supported": ["openid", "scope_all", "profile", "email"],
            "acr_values_supported": ["eidas1"],
            "claims_parameter_supported": False,
        }
        return self.record(request, "discovery", b"", JSONResponse(document), {}, time.time())

    async def jwks(self, request: Request) -> Response:
        return self.record(request, "jwks", b"", JSONResponse(self.keyring.jwks()), {}, time.time())

    async def authorize(self, request: Request) -> Response:
        started = time.time()
        params = dict(request.query_params)
        if request.method == "POST":
            _, params = await self.form(request)
        summary: dict[str, Any] = {"params": {k: v for k, v in params.items() if k != "client_secret"}}
        client = self.registry.clients.get(params.get("client_id", ""))
        redirect_uri = params.get("redirect_uri", "")
        # Never redirect to an unverified URI: errors before that point are shown, not sent.
        if client is None or redirect_uri not in client.redirect_uris:
            reason = "unknown client" if client is None else f"redirect_uri {redirect_uri!r} is not registered"
            summary["error"] = reason
            page = HTMLResponse(f"<h1>Requête invalide</h1><p>{html.escape(reason)}</p>", 400)
            return self.record(request, "authorize", b"", page, summary, started)
        error = self.authorize_error(params)
        if error:
            summary["error"] = error[0]
            target = (
                redirect_uri
                + "?"
                + urlencode(
                    {
                        "error": error[0],
                        "error_description": error[1],
                        **({"state": params["state"]} if "state" in params else {}),
                    }
                )
            )
            return self.record(request, "authorize", b"", RedirectResponse(target, 302), summary, started)
        professional = (
            self.registry.professional(params.get("login_hint", "")) if self.settings.headless_login else None
        )
        chosen = params.get("professional")
        if chosen:
            professional = self.registry.professional(chosen)
        if professional is None:
            return self.record(request, "authorize", b"", self.login_page(params), summary, started)
        grant = Grant(
            client.client_id,
            professional.sub,
            professional.id_nat_ps,
            params["scope"],
            params.get("nonce"),
            int(time.time()),
            self.settings.acr,
        )
        code = secrets.token_urlsafe(24)
        self.codes[code] = PendingCode(
            grant,
            redirect_uri,
            params.get("code_challenge"),
            params.get("code_challenge_method"),
            time.time() + self.settings.lifetimes.code,
        )
        summary["professional"] = professional.id_nat_ps
        query = {
            "code": code,
            "session_state": grant.session_state,
            **({"state": params["state"]} if "state" in params else {}),
        }
        return self.record(
            request, "authorize", b"", RedirectResponse(redirect_uri + "?" + urlencode(query), 302), summary, started
        )

    @staticmethod
    def authorize_error(params: dict[str, str]) -> tuple[str, str] | None:
        if params.get("response_type") != "code":
            return "unsupported_response_type", "only response_type=code is supported"
        if "openid" not in params.get("scope", "").split():
            return "invalid_scope", "the openid scope is required"
        method = params.get("code_challenge_method")
        if "code_challenge" in params and method not in (None, "S256", "plain"):
            return "invalid_request", f"unsupported code_challenge_method {method!r}"
        return None

    def login_page(self, params: dict[str, str]) -> HTMLResponse:
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in params.items()
            if k != "professional"
        )
        options = "".join(
            f'<button name="professional" value="{html.escape(p.id_nat_ps)}">{html.escape(p.data["given_name"])} '
            f"{html.escape(p.data['family_name'])} ({html.escape(p.id_nat_ps)})</button><br>"
            for p in self.registry.professionals.values()
        )
        page = (
            f'<!DOCTYPE html><html lang="fr"><meta charset="utf-8"><title>Pro Santé Connect (simulé)</title>'
            f"<h1>Pro Santé Connect — simulateur</h1><p>Choisissez le professionnel qui se connecte "
            f'(carte CPS ou e-CPS simulée):</p><form method="post">{hidden}{options}</form></html>'
        )
        return HTMLResponse(page)

    async def token(self, request: Request) -> Response:
        started = time.time()
        body, summary = b"", dict[str, Any]()
        try:
            body, params = await self.form(request)
            client = self.authenticate_client(request, params)
            grant_type = params.get("grant_type", "")
            summary = {
                "client_id": client.client_id,
                "grant_type": grant_type,
                "auth_method": client.token_endpoint_auth_method,
            }
            if grant_type not in ("authorization_code", "refresh_token", CIBA_GRANT):
                raise OAuthError("unsupported_grant_type", f"grant_type {grant_type!r} is not supported")
            if grant_type not in client.grant_types:
                raise OAuthError("unauthorized_client", f"grant_type {grant_type!r} is not allowed for this client")
            if grant_type == "authorization_code":
                grant = self.code_grant(params, client, summary)
            elif grant_type == CIBA_GRANT:
                grant = self.ciba_grant(params, client)
            else:
                grant = self.refresh_grant(params, client)
            defect = self.scenarios.get(request.path_params.get("session_key", DEFAULT_SESSION)).options.get(
                "id_token_defect"
            )
            if defect is not None and defect not in TOKEN_DEFECTS:
                raise OAuthError("server_error", f"unknown id_token_defect {defect!r}; known: {TOKEN_DEFECTS}", 500)
            tokens = issue(self.keyring, self.issuer(request), grant, self.settings.lifetimes, defect)
            refresh = secrets.token_urlsafe(32)
            self.refresh_tokens[refresh] = (grant, time.time() + self.settings.lifetimes.refresh_token)
            tokens["refresh_token"] = refresh
            summary["id_token_defect"] = defect
            response: Response = JSONResponse(tokens, headers={"Cache-Control": "no-store"})
        except OAuthError as exc:
            summary["error"] = exc.error
            response = exc.response()
        return self.record(request, "token", body, response, summary, started)

    def code_grant(self, params: dict[str, str], client: Client, summary: dict[str, Any]) -> Grant:
        pending = self.codes.get(params.get("code", ""))
        if pending is None or pending.grant.client_id != client.client_id:
            raise OAuthError("invalid_grant", "unknown authorization code")
        if pending.used:
            raise OAuthError("invalid_grant", "authorization code already used")
        pending.used = True  # one use only, even when this request fails below
        if time.time() > pending.expires:
            raise OAuthError("invalid_grant", "authorization code expired")
        if params.get("redirect_uri") != pending.redirect_uri:
            raise OAuthError("invalid_grant", "redirect_uri differs from the authorization request")
        summary["pkce"] = pending.code_challenge_method if pending.code_challenge else None
        if pending.code_challenge:
            verifier = params.get("code_verifier", "")
            if pending.code_challenge_method == "S256":
                computed = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            else:
                computed = verifier
            if not verifier or not hmac.compare_digest(computed, pending.code_challenge):
                raise OAuthError("invalid_grant", "PKCE code_verifier does not match the code_challenge")
        return pending.grant

    def ciba_grant(self, params: dict[str, str], client: Client) -> Grant:
        pending = self.ciba_requests.get(params.get("auth_req_id", ""))
        if pending is None or pending.grant.client_id != client.client_id:
            raise OAuthError("invalid_grant", "unknown auth_req_id")
        now = time.time()
        if now > pending.expires:
            del self.ciba_requests[params["auth_req_id"]]
            raise OAuthError("expired_token", "the backchannel authentication request expired")
        if now < pending.answer_at:
            raise OAuthError("authorization_pending", "the professional has not answered on the e-CPS app yet")
        del self.ciba_requests[params["auth_req_id"]]
        if pending.decision != "approve":
            raise OAuthError("access_denied", "the professional refused the request on the e-CPS app")
        return pending.grant

    async def backchannel(self, request: Request) -> Response:
        """CIBA (poll mode): an e-CPS push to the professional named by login_hint."""
        started = time.time()
        body = b""
        try:
            body, params = await self.form(request)
            client = self.authenticate_client(request, params)
            if CIBA_GRANT not in client.grant_types:
                raise OAuthError("unauthorized_client", "this client may not use CIBA")
            if "openid" not in params.get("scope", "").split():
                raise OAuthError("invalid_scope", "the openid scope is required")
            professional = self.registry.professional(params.get("login_hint", ""))
            if professional is None:
                raise OAuthError("unknown_user_id", "login_hint names no known professional")
            decision = self.scenarios.get(request.path_params.get("session_key", DEFAULT_SESSION)).options.get(
                "ciba_decision", "approve"
            )
            grant = Grant(
                client.client_id,
                professional.sub,
                professional.id_nat_ps,
                params["scope"],
                None,
                int(time.time()),
                self.settings.acr,
            )
            auth_req_id = secrets.token_urlsafe(24)
            lifetime = self.settings.lifetimes.code * 2
            self.ciba_requests[auth_req_id] = PendingCiba(
                grant, time.time() + self.settings.ciba_approval_delay, time.time() + lifetime, decision
            )
            summary = {
                "client_id": client.client_id,
                "login_hint": professional.id_nat_ps,
                "binding_message": params.get("binding_message"),
            }
            response: Response = JSONResponse({"auth_req_id": auth_req_id, "expires_in": lifetime, "interval": 1})
        except OAuthError as exc:
            summary, response = {"error": exc.error}, exc.response()
        return self.record(request, "backchannel", body, response, summary, started)

    def refresh_grant(self, params: dict[str, str], client: Client) -> Grant:
        entry = self.refresh_tokens.pop(params.get("refresh_token", ""), None)  # rotated: one use only
        if entry is None or entry[0].client_id != client.client_id:
            raise OAuthError("invalid_grant", "unknown or already used refresh token")
        if time.time() > entry[1]:
            raise OAuthError("invalid_grant", "refresh token expired")
        return entry[0]

    async def userinfo(self, request: Request) -> Response:
        started = time.time()
        header = request.headers.get("authorization", "")
        claims = self.keyring.verify(header[7:]) if header.lower().startswith("bearer ") else None
        professional = self.registry.professionals.get(str((claims or {}).get("preferred_username")))
        if claims is None or claims.get("typ") != "Bearer" or professional is None:
            response: Response = JSONResponse(
                {"error": "invalid_token", "error_description": "invalid or expired token"},
                401,
                {"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        else:
            response = JSONResponse(professional.userinfo())
        return self.record(request, "userinfo", b"", response, {"active": claims is not None}, started)

    async def introspect(self, request: Request) -> Response:
        started = time.time()
        body = b""
        try:
            body, params = await self.form(request)
            client = self.authenticate_client(request, params)
            claims = self.keyring.verify(params.get("token", ""))
            result = (
                {"active": False}
                if claims is None
                else {
                    **claims,
                    "active": True,
                    "client_id": claims.get("azp"),
                    "username": claims.get("preferred_username"),
                }
            )
            summary = {"client_id": client.client_id, "active": result["active"]}
            response: Response = JSONResponse(result)
        except OAuthError as exc:
            summary, response = {"error": exc.error}, exc.response()
        return self.record(request, "introspect", body, response, summary, started)

    async def logout(self, request: Request) -> Response:
        started = time.time()
        params = dict(request.query_params)
        target = params.get("post_logout_redirect_uri")
        claims = self.keyring.verify(params.get("id_token_hint", "")) if params.get("id_token_hint") else None
        client = self.registry.clients.get(str((claims or {}).get("aud", params.get("client_id", ""))))
        summary = {"id_token_hint": claims is not None, "post_logout_redirect_uri": target}
        if target and client is not None and target in client.post_logout_redirect_uris:
            suffix = "?" + urlencode({"state": params["state"]}) if "state" in params else ""
            response: Response = RedirectResponse(target + suffix, 302)
        elif target:
            summary["error"] = "post_logout_redirect_uri not registered for the client"
            response = HTMLResponse("<h1>Requête invalide</h1><p>post_logout_redirect_uri non enregistrée</p>", 400)
        else:
            response = HTMLResponse("<h1>Vous êtes déconnecté de Pro Santé Connect (simulé).</h1>")
        if claims is not None:  # end the session: its refresh tokens stop working
            for token, (grant, _) in list(self.refresh_tokens.items()):
                if grant.session_state == claims.get("session_state"):
                    del self.refresh_tokens[token]
        return self.record(request, "logout", b"", response, summary, started)


def create_app(
    store: ExchangeStore,
    scenarios: ScenarioStore | None = None,
    settings: PscSettings | None = None,
    registry: Registry | None = None,
) -> Starlette:
    provider = PscProvider(store, scenarios or ScenarioStore(), settings or PscSettings(), registry or Registry.load())

    async def rotate(request: Request) -> JSONResponse:
        return JSONResponse({"kid": provider.keyring.rotate()})

    realm = [
        Route("/.well-known/openid-configuration", provider.discovery),
        Route("/.well-known/wallet-openid-configuration", provider.discovery),
        Route(OIDC + "/certs", provider.jwks),
        Route(OIDC + "/auth", provider.authorize, methods=["GET", "POST"]),
        Route(OIDC + "/token", provider.token, methods=["POST"]),
        Route(OIDC + "/userinfo", provider.userinfo, methods=["GET", "POST"]),
        Route(OIDC + "/token/introspect", provider.introspect, methods=["POST"]),
        Route(OIDC + "/logout", provider.logout, methods=["GET"]),
        Route(OIDC + "/ext/ciba/auth", provider.backchannel, methods=["POST"]),
    ]

    async def server_error(request: Request, exc: Exception) -> JSONResponse:
        # A provider bug answers like an OAuth server, never with a bare 500 page.
        return JSONResponse({"error": "server_error", "error_description": f"{type(exc).__name__}: {exc}"}, 500)

    app = Starlette(
        exception_handlers={Exception: server_error},
        routes=[
            Mount(REALM, routes=realm),
            Mount("/s/{session_key}" + REALM, routes=realm),
            Route("/_segur/keys/rotate", rotate, methods=["POST"]),
        ],
    )
    app.state.provider = provider
    return app
