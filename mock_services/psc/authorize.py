"""The authorization endpoint: the login (headless or a page) that ends with a code sent to the client."""

from __future__ import annotations

import html
import secrets
import time
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from mock_services.psc.base import PendingCode, ProviderBase
from mock_services.psc.tokens import Grant


class AuthorizeEndpoints(ProviderBase):
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
