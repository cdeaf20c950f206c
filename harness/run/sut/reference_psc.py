"""The built-in reference Pro Santé Connect relying party, with named defects.

It does what a conforming product does: authorization code flow with state, nonce, PKCE S256
and ``acr_values=eidas1``; client_secret_basic at the token endpoint; full ID-token checks
(RS256 signature against the JWKS, issuer, audience, expiry, nonce); userinfo; refresh;
RP-initiated logout with ``id_token_hint``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import ssl
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import httpx
from joserfc import jwt
from joserfc.jwk import KeySet

PSC_DEFECTS: dict[str, str] = {
    "no_state_check": "accepts a callback whose state differs from the one it sent",
    "no_nonce": "sends no nonce and does not check it in the ID token",
    "no_pkce": "does not use PKCE",
    "no_acr_values": "does not ask for acr_values=eidas1",
    "skips_signature_check": "accepts ID tokens without checking their signature (alg=none, unknown kid...)",
    "ignores_audience": "accepts an ID token issued for another client",
    "ignores_expiry": "accepts an expired ID token",
    "logout_without_hint": "logs out without id_token_hint",
    "unregistered_redirect_uri": "sends a redirect_uri that differs from the registered one (a trailing slash)",
}


@dataclass
class PscLogin:
    state: str
    nonce: str | None
    verifier: str | None
    tokens: dict[str, Any] = field(default_factory=dict)
    userinfo: dict[str, Any] = field(default_factory=dict)  # who logged in (calls to the DMP carry it)


class ReferencePscClient:
    client_id = "segur-reference"
    client_secret = "segur-reference-secret"
    redirect_uri = "http://127.0.0.1:8765/callback"
    post_logout_redirect_uri = "http://127.0.0.1:8765/logged-out"

    def __init__(self, issuer: str, ssl_context: ssl.SSLContext | None, defects: frozenset[str] = frozenset()):
        self.issuer, self.ssl_context, self.defects = issuer, ssl_context, defects
        self.pending: dict[str, PscLogin] = {}
        self.session: PscLogin | None = None

    def _http(self) -> httpx.Client:
        return httpx.Client(verify=self.ssl_context or True, timeout=10)

    def _config(self) -> dict[str, Any]:
        with self._http() as http:
            return dict(http.get(self.issuer + "/.well-known/openid-configuration").raise_for_status().json())

    def authorization_url(self) -> dict[str, Any]:
        config = self._config()
        login = PscLogin(state=secrets.token_urlsafe(24), nonce=None, verifier=None)
        redirect_uri = self.redirect_uri + ("/" if "unregistered_redirect_uri" in self.defects else "")
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": redirect_uri,
            "scope": "openid scope_all",
            "state": login.state,
        }
        if "no_nonce" not in self.defects:
            login.nonce = secrets.token_urlsafe(24)
            params["nonce"] = login.nonce
        if "no_acr_values" not in self.defects:
            params["acr_values"] = "eidas1"
        if "no_pkce" not in self.defects:
            login.verifier = secrets.token_urlsafe(48)
            digest = hashlib.sha256(login.verifier.encode()).digest()
            params["code_challenge"] = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
            params["code_challenge_method"] = "S256"
        self.pending[login.state] = login
        return {"outcome": "ok", "url": config["authorization_endpoint"] + "?" + urlencode(params)}

    def callback(self, url: str) -> dict[str, Any]:
        query = {k: v[0] for k, v in parse_qs(urlparse(url).query).items()}
        if "error" in query:
            return {"outcome": "refused", "message": f"PSC a refusé la connexion: {query['error']}"}
        login = self.pending.pop(query.get("state", ""), None)
        if login is None:
            if "no_state_check" not in self.defects or not self.pending:
                return {"outcome": "refused", "message": "state inconnu: réponse refusée"}
            login = self.pending.popitem()[1]
        config = self._config()
        data = {"grant_type": "authorization_code", "code": query.get("code", ""), "redirect_uri": self.redirect_uri}
        if login.verifier:
            data["code_verifier"] = login.verifier
        with self._http() as http:
            response = http.post(config["token_endpoint"], data=data, auth=(self.client_id, self.client_secret))
            if response.status_code != 200:
                return {"outcome": "refused", "message": f"jeton refusé par PSC: {response.text[:200]}"}
            tokens = response.json()
            problem = self._check_id_token(tokens.get("id_token", ""), config, http, login.nonce)
            if problem:
                return {"outcome": "refused", "message": f"jeton d'identité invalide: {problem}"}
            userinfo = http.get(
                config["userinfo_endpoint"], headers={"Authorization": f"Bearer {tokens['access_token']}"}
            )
        login.tokens = tokens
        self.session = login
        info = userinfo.json()
        login.userinfo = dict(info)
        return {"outcome": "logged_in", "user": {"id_nat_ps": info.get("SubjectNameID"), "sub": info.get("sub")}}

    def _check_id_token(self, token: str, config: dict[str, Any], http: httpx.Client, nonce: str | None) -> str | None:
        try:
            if "skips_signature_check" in self.defects:
                payload = token.split(".")[1]
                claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            else:
                keys = KeySet.import_key_set(http.get(config["jwks_uri"]).json())
                claims = dict(jwt.decode(token, keys, algorithms=["RS256"]).claims)
        except Exception as exc:  # any decoding or signature failure means: refuse
            return f"{type(exc).__name__}: {exc}"
        if claims.get("iss") != config["issuer"]:
            return "iss"
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if self.client_id not in audiences and "ignores_audience" not in self.defects:
            return "aud"
        if claims.get("exp", 0) <= time.time() and "ignores_expiry" not in self.defects:
            return "exp"
        if nonce is not None and claims.get("nonce") != nonce:
            return "nonce"
        return None

    def refresh(self) -> dict[str, Any]:
        if self.session is None:
            return {"outcome": "refused", "message": "aucune session"}
        config = self._config()
        data = {"grant_type": "refresh_token", "refresh_token": self.session.tokens["refresh_token"]}
        with self._http() as http:
            response = http.post(config["token_endpoint"], data=data, auth=(self.client_id, self.client_secret))
        if response.status_code != 200:
            return {"outcome": "refused", "message": response.text[:200]}
        self.session.tokens = response.json()
        return {"outcome": "refreshed"}

    def logout_url(self) -> dict[str, Any]:
        config = self._config()
        params = {"post_logout_redirect_uri": self.post_logout_redirect_uri, "state": secrets.token_urlsafe(8)}
        if self.session is not None and "logout_without_hint" not in self.defects:
            params["id_token_hint"] = self.session.tokens["id_token"]
        self.session = None
        return {"outcome": "ok", "url": config["end_session_endpoint"] + "?" + urlencode(params)}
