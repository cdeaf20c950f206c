"""The Pro Santé Connect mock: an OpenID Connect provider laid out like PSC's Keycloak realm.

Served under ``/auth/realms/esante-wallet`` (and ``/s/{session_key}/auth/realms/esante-wallet``):
both discovery names, JWKS, authorization (headless with ``login_hint`` when the test-only
setting allows it, or a page for a person), token (code + PKCE, refresh; client_secret_basic,
client_secret_post, tls_client_auth), userinfo, introspection and RP-initiated logout.
Errors are the OAuth/OIDC error responses; every request is recorded. The endpoints live in
``authorize.py``, ``grants.py`` and ``resources.py``; what they share in ``base.py``.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from harness.core.recorder import ExchangeStore
from harness.core.storage import Database
from mock_services.common import ScenarioStore, scenario_endpoint
from mock_services.psc.authorize import AuthorizeEndpoints
from mock_services.psc.base import OIDC, REALM, WALLET_LOGIN, PscSettings
from mock_services.psc.grants import GrantEndpoints
from mock_services.psc.registry import Registry
from mock_services.psc.resources import ResourceEndpoints

__all__ = ["PscProvider", "PscSettings", "create_app"]


class PscProvider(AuthorizeEndpoints, GrantEndpoints, ResourceEndpoints):
    """Every endpoint of the provider, over the state :class:`ProviderBase` holds."""


def create_app(
    store: ExchangeStore,
    scenarios: ScenarioStore | None = None,
    settings: PscSettings | None = None,
    registry: Registry | None = None,
    database: Database | None = None,
) -> Starlette:
    """The provider; its codes, tokens, CIBA requests and SSO sessions in ``database`` when given (else in memory)."""
    provider = PscProvider(
        store, scenarios or ScenarioStore(), settings or PscSettings(), registry or Registry.load(), database
    )

    async def rotate(request: Request) -> JSONResponse:
        return JSONResponse({"kid": provider.keyring.rotate()})

    realm = [
        Route("/.well-known/openid-configuration", provider.discovery),
        Route("/.well-known/wallet-openid-configuration", provider.discovery),
        Route(OIDC + "/certs", provider.jwks),
        Route(OIDC + "/token", provider.token, methods=["POST"]),
        Route(OIDC + "/userinfo", provider.userinfo, methods=["GET", "POST"]),
        Route(OIDC + "/token/introspect", provider.introspect, methods=["POST"]),
        Route(OIDC + "/logout", provider.logout, methods=["GET", "POST"]),
        Route(OIDC + "/ext/ciba/auth", provider.backchannel, methods=["POST"]),
    ]
    login = Route(OIDC + "/auth", provider.authorize, methods=["GET", "POST"])
    wallet: list[Route] = []
    if provider.settings.login_layout == "issuer":
        realm.append(login)
    else:
        wallet = [
            Route(WALLET_LOGIN, provider.authorize, methods=["GET", "POST"]),
            Route("/s/{session_key}" + WALLET_LOGIN, provider.authorize, methods=["GET", "POST"]),
        ]

    async def server_error(request: Request, exc: Exception) -> JSONResponse:
        # A provider bug answers like an OAuth server, never with a bare 500 page.
        return JSONResponse({"error": "server_error", "error_description": f"{type(exc).__name__}: {exc}"}, 500)

    app = Starlette(
        exception_handlers={Exception: server_error},
        routes=[
            Mount(REALM, routes=realm),
            Mount("/s/{session_key}" + REALM, routes=realm),
            *wallet,
            Route("/_segur/keys/rotate", rotate, methods=["POST"]),
            Route("/_segur/scenario/{session_key}", scenario_endpoint(provider.scenarios), methods=["PUT"]),
        ],
    )
    app.state.provider = provider
    return app
