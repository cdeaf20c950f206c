"""The token endpoint (code + PKCE, refresh, CIBA poll) and the CIBA backchannel request."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import secrets
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mock_services.common import DEFAULT_SESSION
from mock_services.psc.base import CIBA_GRANT, IssuedRefresh, OAuthError, PendingCiba, ProviderBase
from mock_services.psc.registry import Client
from mock_services.psc.tokens import TOKEN_DEFECTS, Grant, issue, own_claims


class GrantEndpoints(ProviderBase):
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
                self.sessions.open(self.session_key(request), grant.id_nat_ps, grant.session_state)
            else:
                grant = self.refresh_grant(params, client)
            defect = self.scenarios.get(request.path_params.get("session_key", DEFAULT_SESSION)).options.get(
                "id_token_defect"
            )
            if defect is not None and defect not in TOKEN_DEFECTS:
                raise OAuthError("server_error", f"unknown id_token_defect {defect!r}; known: {TOKEN_DEFECTS}", 500)
            tokens = issue(self.keyring, self.issuer(request), grant, self.settings.lifetimes, defect)
            refresh = secrets.token_urlsafe(32)
            self.refresh_tokens[refresh] = IssuedRefresh(
                grant, int(time.time()), time.time() + self.settings.lifetimes.refresh_token, self.issuer(request)
            )
            tokens["refresh_token"] = refresh
            self.access_grants[str(own_claims(tokens["access_token"])["jti"])] = grant
            summary["id_token_defect"] = defect
            response: Response = JSONResponse(tokens, headers={"Cache-Control": "no-store"})
        except OAuthError as exc:
            summary["error"] = exc.error
            response = exc.response()
        return self.record(request, "token", body, response, summary, started)

    def code_grant(self, params: dict[str, str], client: Client, summary: dict[str, Any]) -> Grant:
        code = params.get("code", "")
        pending = self.codes.get(code)
        if pending is None or pending.grant.client_id != client.client_id:
            raise OAuthError("invalid_grant", "unknown authorization code")
        # One use only, even when this request fails below; marked in one step, so of two workers
        # redeeming the same code at once exactly one sees it unused.
        before = self.codes.replace(code, lambda entry: dataclasses.replace(entry, used=True))
        if before is None or before.used:
            # RFC 6749 §4.1.2: a code used twice revokes what it produced (the replay may be an attacker's).
            self.revocations.revoke(pending.grant)
            raise OAuthError("invalid_grant", "authorization code already used")
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
        if self.ciba_requests.pop(params["auth_req_id"]) is None:  # another worker answered this poll first
            raise OAuthError("invalid_grant", "unknown auth_req_id")
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
                self.acr(request),
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
        token = params.get("refresh_token", "")
        entry = self.refresh_tokens.pop(token, None) if self.settings.revoke_refresh_token else None
        if not self.settings.revoke_refresh_token:
            entry = self.refresh_tokens.get(token)
        if entry is None or entry.grant.client_id != client.client_id or entry.grant.revoked:
            raise OAuthError("invalid_grant", "unknown, revoked or already used refresh token")
        if time.time() > entry.expires:
            raise OAuthError("invalid_grant", "refresh token expired")
        if self.sessions.alive(entry.grant.session_state, touch=True) is None:
            # Keycloak's answer once the SSO session ended (logout, idle or maximum lifetime).
            raise OAuthError("invalid_grant", "Session not active")
        return entry.grant
