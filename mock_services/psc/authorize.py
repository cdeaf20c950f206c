"""The authorization endpoint: the login (headless or a page) that ends with a code sent to the client."""

from __future__ import annotations

import html
import secrets
import time
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from mock_services.psc.base import OAuthError, PendingCode, ProviderBase
from mock_services.psc.sessions import SESSION_COOKIE, SsoSession
from mock_services.psc.tokens import Grant

RESPONSE_MODES = ("query", "fragment", "form_post")


class AuthorizeEndpoints(ProviderBase):
    async def authorize(self, request: Request) -> Response:
        started = time.time()
        params = dict(request.query_params)
        if request.method == "POST":
            try:
                _, params = await self.form(request)
            except OAuthError as exc:  # no verified redirect URI yet: shown, never sent
                page = HTMLResponse(f"<h1>Requête invalide</h1><p>{html.escape(exc.description)}</p>", exc.status)
                return self.record(request, "authorize", b"", page, {"error": exc.error}, started)
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
            return self.record(
                request, "authorize", b"", self.to_client(redirect_uri, params, error=error), summary, started
            )
        prompts = set(params.get("prompt", "").split())
        session = self.current_session(request, params, prompts)
        professional = self.registry.professional(session.id_nat_ps) if session else None
        if professional is None and "none" in prompts:
            # OIDC Core 3.1.2.1: no page with prompt=none; without a usable session the answer is login_required.
            summary["error"] = "login_required"
            refusal = ("login_required", "no single sign-on session for prompt=none")
            return self.record(
                request, "authorize", b"", self.to_client(redirect_uri, params, error=refusal), summary, started
            )
        fresh_login = professional is None
        if fresh_login:
            hint = params.get("login_hint", "") if self.settings.headless_login else ""
            professional = self.registry.professional(params.get("professional") or hint)
        if professional is None:
            return self.record(request, "authorize", b"", self.login_page(params), summary, started)
        if fresh_login or session is None:
            session = self.sessions.open(self.session_key(request), professional.id_nat_ps)
        grant = Grant(
            client.client_id,
            professional.sub,
            professional.id_nat_ps,
            params["scope"],
            params.get("nonce"),
            session.auth_time,
            self.acr(request),
            session.id,
        )
        code = secrets.token_urlsafe(24)
        self.codes[code] = PendingCode(
            grant,
            redirect_uri,
            params.get("code_challenge"),
            params.get("code_challenge_method"),
            time.time() + self.settings.lifetimes.code,
        )
        summary.update(professional=professional.id_nat_ps, sso=not fresh_login)
        answer = self.to_client(redirect_uri, params, code=code, session_state=grant.session_state)
        answer.set_cookie(
            SESSION_COOKIE,
            session.id,
            max_age=self.settings.lifetimes.sso_max,
            path="/",
            secure=request.url.scheme == "https",
            httponly=True,
            samesite="none" if request.url.scheme == "https" else "lax",
        )
        return self.record(request, "authorize", b"", answer, summary, started)

    def current_session(self, request: Request, params: dict[str, str], prompts: set[str]) -> SsoSession | None:
        """The browser's SSO session if this request may use it (not prompt=login, within max_age, same hint)."""
        if "login" in prompts or params.get("professional"):
            return None
        session = self.sessions.alive(request.cookies.get(SESSION_COOKIE), self.session_key(request), touch=True)
        if session is None:
            return None
        if "max_age" in params and time.time() - session.auth_time > int(params["max_age"]):
            return None  # OIDC Core 3.1.2.1: too old an authentication means logging in again
        hint = params.get("login_hint")
        hinted = self.registry.professional(hint) if hint else None
        if hinted is not None and hinted.id_nat_ps != session.id_nat_ps:
            return None  # the hint names someone else than the professional logged in
        return session

    @staticmethod
    def to_client(
        redirect_uri: str, params: dict[str, str], *, error: tuple[str, str] | None = None, **answer: str
    ) -> Response:
        """The authorization response, sent back through the browser to the client's (verified) redirect URI.

        ``response_mode``: query (the default for code), fragment, or form_post (OAuth 2.0 Form Post
        Response Mode: a page that posts the answer); an unknown mode is answered in the query.
        """
        values = {"error": error[0], "error_description": error[1]} if error else dict(answer)
        if "state" in params:
            values["state"] = params["state"]
        mode = params.get("response_mode", "query")
        if mode == "form_post":
            fields = "".join(
                f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">' for k, v in values.items()
            )
            page = (
                '<!DOCTYPE html><html><head><meta charset="utf-8"><title>Pro Santé Connect</title></head>'
                '<body onload="document.forms[0].submit()">'
                f'<form method="post" action="{html.escape(redirect_uri)}">{fields}'
                "<noscript><button>Continuer</button></noscript></form></body></html>"
            )
            return HTMLResponse(page, headers={"Cache-Control": "no-store"})
        separator = "#" if mode == "fragment" else "?"
        return RedirectResponse(redirect_uri + separator + urlencode(values), 302)

    @staticmethod
    def authorize_error(params: dict[str, str]) -> tuple[str, str] | None:
        if params.get("response_type") != "code":
            return "unsupported_response_type", "only response_type=code is supported"
        if "openid" not in params.get("scope", "").split():
            return "invalid_scope", "the openid scope is required"
        method = params.get("code_challenge_method")
        if "code_challenge" in params and method not in (None, "S256", "plain"):
            return "invalid_request", f"unsupported code_challenge_method {method!r}"
        if params.get("response_mode", "query") not in RESPONSE_MODES:
            return "invalid_request", f"unsupported response_mode {params['response_mode']!r}"
        prompts = params.get("prompt", "").split()
        if "none" in prompts and len(prompts) > 1:
            return "invalid_request", "prompt=none cannot be combined with other values"
        max_age = params.get("max_age")
        if max_age is not None and not (max_age.isascii() and max_age.isdigit()):
            return "invalid_request", "max_age must be a non-negative number of seconds"
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
