"""What a client does with its tokens: discovery, JWKS, userinfo, introspection and logout."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from mock_services.psc.base import CIBA_GRANT, OIDC, OAuthError, ProviderBase
from mock_services.psc.sessions import SESSION_COOKIE


class ResourceEndpoints(ProviderBase):
    async def discovery(self, request: Request) -> Response:
        issuer = self.issuer(request)
        document = {
            "issuer": issuer,
            "authorization_endpoint": self.authorization_endpoint(request),
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
        # Both names serve the same document; each is recorded under its own operation, so a suite
        # can tell whether the product read PSC's documented wallet-openid-configuration.
        operation = "wallet-discovery" if "wallet-openid-configuration" in request.url.path else "discovery"
        return self.record(request, operation, b"", JSONResponse(document), {}, time.time())

    async def jwks(self, request: Request) -> Response:
        return self.record(request, "jwks", b"", JSONResponse(self.keyring.jwks()), {}, time.time())

    async def userinfo(self, request: Request) -> Response:
        """Userinfo by GET or POST; the token in the Authorization header or, by POST, in the form body."""
        started = time.time()
        body, token = b"", None
        try:
            header = request.headers.get("authorization", "")
            if header[:7].lower() == "bearer ":
                token = header[7:]
            form_body = request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded")
            if request.method == "POST" and form_body:  # a POST with the header only may have no body at all
                body, params = await self.form(request)
                if "access_token" in params:
                    if token is not None:  # RFC 6750 §2: a client uses one method, never more
                        raise OAuthError("invalid_request", "the token is sent in more than one way")
                    token = params["access_token"]  # OIDC Core 5.3.1, RFC 6750 §2.2
        except OAuthError as exc:
            return self.record(request, "userinfo", body, self.bearer_refusal(exc), {"error": exc.error}, started)
        if token is None:
            # RFC 6750 §3.1: a request with no authentication gets a bare challenge, no error code.
            challenge = Response(status_code=401, headers={"WWW-Authenticate": 'Bearer realm="esante-wallet"'})
            return self.record(request, "userinfo", body, challenge, {"error": "no token"}, started)
        claims = self.keyring.verify(token)
        professional = self.registry.professionals.get(str((claims or {}).get("preferred_username")))
        if claims is None or claims.get("typ") != "Bearer" or professional is None or not self.live(claims):
            refusal = OAuthError("invalid_token", "invalid or expired token", 401)
            return self.record(request, "userinfo", body, self.bearer_refusal(refusal), {"active": False}, started)
        return self.record(request, "userinfo", body, JSONResponse(professional.userinfo()), {"active": True}, started)

    @staticmethod
    def bearer_refusal(error: OAuthError) -> Response:
        """An RFC 6750 §3 error: the challenge names the error, the body repeats it."""
        challenge = f'Bearer realm="esante-wallet", error="{error.error}", error_description="{error.description}"'
        body = {"error": error.error, "error_description": error.description}
        return JSONResponse(body, error.status, {"WWW-Authenticate": challenge})

    async def introspect(self, request: Request) -> Response:
        """RFC 7662 introspection of an access token or a refresh token, as PSC documents it."""
        started = time.time()
        body = b""
        try:
            body, params = await self.form(request)
            client = self.authenticate_client(request, params)
            token = params.get("token", "")
            result = self.introspect_refresh(token) if token in self.refresh_tokens else self.introspect_access(token)
            summary = {"client_id": client.client_id, "active": result["active"], "typ": result.get("typ")}
            response: Response = JSONResponse(result)
        except OAuthError as exc:
            summary, response = {"error": exc.error}, exc.response()
        return self.record(request, "introspect", body, response, summary, started)

    def introspect_access(self, token: str) -> dict[str, Any]:
        claims = self.keyring.verify(token)
        if claims is None or claims.get("typ") != "Bearer" or not self.live(claims):
            return {"active": False}
        # ANS's introspection page: SubjectNameID is in the answer when the access token is introspected.
        return {
            **claims,
            "SubjectNameID": claims.get("preferred_username"),
            "client_id": claims.get("azp"),
            "username": claims.get("preferred_username"),
            "active": True,
        }

    def introspect_refresh(self, token: str) -> dict[str, Any]:
        entry = self.refresh_tokens[token]
        grant = entry.grant
        if time.time() > entry.expires or grant.revoked or self.sessions.alive(grant.session_state) is None:
            return {"active": False}
        # Keycloak's refresh token claims; no SubjectNameID (ANS: only an access token's introspection has it).
        return {
            "exp": int(entry.expires),
            "iat": entry.issued_at,
            "jti": entry.jti,
            "iss": entry.issuer,
            "aud": entry.issuer,
            "sub": grant.sub,
            "typ": "Refresh",
            "azp": grant.client_id,
            "nonce": grant.nonce or "",
            "session_state": grant.session_state,
            "sid": grant.session_state,
            "scope": grant.scope,
            "client_id": grant.client_id,
            "username": grant.id_nat_ps,
            "active": True,
        }

    def live(self, claims: dict[str, Any]) -> bool:
        """Whether the SSO session a token came from is still open (Keycloak refuses tokens of ended sessions)."""
        grant = self.access_grants.get(str(claims.get("jti")))
        if grant is not None and grant.revoked:
            return False
        return self.sessions.alive(str(claims.get("sid", ""))) is not None

    async def logout(self, request: Request) -> Response:
        """RP-initiated logout, GET or POST (OIDC RP-Initiated Logout §2): ends the SSO session."""
        started = time.time()
        body, params = b"", dict(request.query_params)
        try:
            if request.method == "POST":
                body, params = await self.form(request)
        except OAuthError as exc:
            return self.record(request, "logout", body, exc.response(), {"error": exc.error}, started)
        target = params.get("post_logout_redirect_uri")
        claims = self.keyring.verify(params.get("id_token_hint", "")) if params.get("id_token_hint") else None
        client = self.registry.clients.get(str((claims or {}).get("aud", params.get("client_id", ""))))
        summary: dict[str, Any] = {"id_token_hint": claims is not None, "post_logout_redirect_uri": target}
        if target and client is not None and target in client.post_logout_redirect_uris:
            suffix = "?" + urlencode({"state": params["state"]}) if "state" in params else ""
            response: Response = RedirectResponse(target + suffix, 302)
        elif target:
            summary["error"] = "post_logout_redirect_uri not registered for the client"
            response = HTMLResponse("<h1>Requête invalide</h1><p>post_logout_redirect_uri non enregistrée</p>", 400)
            return self.record(request, "logout", body, response, summary, started)
        else:
            response = HTMLResponse("<h1>Vous êtes déconnecté de Pro Santé Connect (simulé).</h1>")
        ended = {str((claims or {}).get("sid", "")), request.cookies.get(SESSION_COOKIE, "")} - {""}
        summary["sessions_ended"] = sum(self.sessions.end(session_id) for session_id in ended)
        for token, entry in list(self.refresh_tokens.items()):
            if entry.grant.session_state in ended:
                del self.refresh_tokens[token]
        response.delete_cookie(SESSION_COOKIE, path="/")
        return self.record(request, "logout", body, response, summary, started)
