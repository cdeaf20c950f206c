"""A strict relying party this project did not write (pyoidc, ``oic``) against the PSC mock, over TLS.

pyoidc form-encodes the client id and secret inside Basic (RFC 6749 §2.3.1) and checks every ID
token (signature against the JWKS, issuer, audience, nonce). It goes through what issue 21 lists:
PSC's discovery document, code + PKCE with client_secret_basic, userinfo by GET and POST, refresh,
introspection, prompt=none with and without a session, logout by GET and POST, and CIBA.
"""

from __future__ import annotations

import base64
import json
import secrets
from urllib.parse import urlparse

import httpx
import pytest

oic = pytest.importorskip("oic", reason="pyoidc (oic) is in the test extras")

from oic.extension.message import TokenIntrospectionRequest, TokenIntrospectionResponse  # noqa: E402
from oic.oauth2.message import ErrorResponse  # noqa: E402
from oic.oic import Client  # noqa: E402
from oic.oic.message import (  # noqa: E402
    AccessTokenResponse,
    AuthorizationResponse,
    OpenIDSchema,
    RegistrationResponse,
)
from oic.utils.authn.client import CLIENT_AUTHN_METHOD, ClientSecretBasic  # noqa: E402
from oic.utils.settings import OicClientSettings  # noqa: E402

from harness.core import pki  # noqa: E402
from harness.core.recorder import ExchangeStore  # noqa: E402
from harness.protocols.mockserver import serve_app  # noqa: E402
from mock_services.common import ScenarioStore  # noqa: E402
from mock_services.psc import create_app  # noqa: E402

CLIENT_ID, CLIENT_SECRET = "urn:segur:strict-rp", "strict-rp:secret+with/specials"
REDIRECT = "http://127.0.0.1:8765/callback"
LOGGED_OUT = "http://127.0.0.1:8765/logged-out"
MEDECIN = "899900000011"
WALLET_DISCOVERY = "%s/.well-known/wallet-openid-configuration"


@pytest.fixture(scope="module")
def issuer(layout):
    store = ExchangeStore()
    app = create_app(store, ScenarioStore())
    with serve_app(app, name="psc-strict", ssl_context=pki.server_ssl_context(layout)) as served:
        yield served.url + "/auth/realms/esante-wallet"
    store.close()


@pytest.fixture
def browser(layout):
    """The professional's browser: keeps the provider's SSO cookie, never follows the redirect to the client."""
    with httpx.Client(verify=pki.client_ssl_context(layout, None), timeout=10) as client:
        yield client


@pytest.fixture
def rp(layout, issuer) -> Client:
    client = Client(
        client_id=CLIENT_ID,
        client_authn_method=CLIENT_AUTHN_METHOD,
        settings=OicClientSettings(verify_ssl=str(layout.ca_bundle)),
    )
    client.provider_config(issuer, serv_pattern=WALLET_DISCOVERY)  # PSC's documented name; checks the issuer
    client.store_registration_info(
        RegistrationResponse(
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            redirect_uris=[REDIRECT],
            token_endpoint_auth_method="client_secret_basic",
        )
    )
    client.redirect_uris = [REDIRECT]
    return client


def authorization(rp: Client, browser: httpx.Client, **extra) -> tuple[str, AuthorizationResponse | ErrorResponse, str]:
    """One authorization request through the browser; the parsed answer and the PKCE verifier."""
    state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    pkce, verifier = rp.add_code_challenge()
    request_args = {
        "response_type": "code",
        "scope": ["openid", "scope_all"],
        "state": state,
        "nonce": nonce,
        "redirect_uri": REDIRECT,
        "acr_values": "eidas1",
        **pkce,
        **extra,
    }
    url = rp.construct_AuthorizationRequest(request_args=request_args).request(rp.authorization_endpoint)
    response = browser.get(url)
    assert response.status_code == 302, response.text
    answer = rp.parse_response(
        AuthorizationResponse, info=urlparse(response.headers["location"]).query, sformat="urlencoded"
    )
    return state, answer, verifier


def login(rp: Client, browser: httpx.Client, **extra) -> tuple[str, AccessTokenResponse]:
    state, answer, verifier = authorization(rp, browser, **extra)
    assert isinstance(answer, AuthorizationResponse), answer.to_dict()
    tokens = rp.do_access_token_request(
        state=state,
        request_args={"code": answer["code"], "redirect_uri": REDIRECT, "code_verifier": verifier},
        authn_method="client_secret_basic",
    )
    assert isinstance(tokens, AccessTokenResponse), tokens.to_dict()
    return state, tokens


def test_discovery_code_pkce_basic_userinfo_refresh_and_introspection(rp, browser, issuer):
    assert rp.authorization_endpoint.endswith("/wallet/auth")  # the wallet, not under the issuer
    state, tokens = login(rp, browser, login_hint=MEDECIN)
    id_token = tokens["id_token"]  # verified by pyoidc: signature, iss, aud, nonce, exp
    assert id_token["iss"] == issuer and id_token["aud"] == [CLIENT_ID] and id_token["sid"]
    by_get = rp.do_user_info_request(method="GET", state=state)
    by_post = rp.do_user_info_request(method="POST", state=state, behavior="token_in_message_body")
    assert isinstance(by_get, OpenIDSchema) and isinstance(by_post, OpenIDSchema)
    assert by_get.to_dict() == by_post.to_dict() and by_get["SubjectNameID"] == MEDECIN
    refreshed = rp.do_access_token_refresh(state=state, authn_method="client_secret_basic")
    assert isinstance(refreshed, AccessTokenResponse) and refreshed["access_token"] != tokens["access_token"]
    introspection = rp.do_any(
        TokenIntrospectionRequest,
        endpoint=rp.provider_info["introspection_endpoint"],
        request_args={"token": refreshed["access_token"]},
        authn_method="client_secret_basic",
        response=TokenIntrospectionResponse,
    )
    assert introspection["active"] is True and introspection["SubjectNameID"] == MEDECIN


def test_prompt_none_with_and_without_a_session(rp, browser):
    _, without = authorization(rp, browser, prompt="none", login_hint=MEDECIN)[:2]
    assert isinstance(without, ErrorResponse) and without["error"] == "login_required"
    _, first = login(rp, browser, login_hint=MEDECIN)
    _, silent = login(rp, browser, prompt="none")
    assert silent["id_token"]["sid"] == first["id_token"]["sid"]
    assert silent["id_token"]["auth_time"] == first["id_token"]["auth_time"]


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_logout_by_get_and_post_ends_the_session(rp, browser, method):
    state, _ = login(rp, browser, login_hint=MEDECIN)
    end_session = rp.construct_EndSessionRequest(
        state=state, request_args={"post_logout_redirect_uri": LOGGED_OUT, "state": state}
    )
    if method == "GET":
        answer = browser.get(end_session.request(rp.end_session_endpoint))
    else:
        answer = browser.post(
            rp.end_session_endpoint,
            content=end_session.to_urlencoded(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    assert answer.status_code == 302 and answer.headers["location"].startswith(LOGGED_OUT)
    _, after = authorization(rp, browser, prompt="none")[:2]
    assert isinstance(after, ErrorResponse) and after["error"] == "login_required"
    refused = rp.do_access_token_refresh(state=state, authn_method="client_secret_basic")
    assert isinstance(refused, ErrorResponse) and refused["error"] == "invalid_grant"


def test_ciba_with_the_rps_own_basic_credentials_and_id_token_check(rp, layout):
    # pyoidc has no CIBA flow: its client_secret_basic builds the header, its parser checks the ID token.
    credentials = ClientSecretBasic(rp).construct(TokenIntrospectionRequest(), http_args={})
    headers = credentials["headers"]
    assert "%3A" in base64.b64decode(headers["Authorization"][6:]).decode()  # ":" form-encoded
    config = rp.provider_info
    with httpx.Client(verify=pki.client_ssl_context(layout, None), timeout=10) as http:
        started = http.post(
            config["backchannel_authentication_endpoint"],
            data={"scope": "openid scope_all", "login_hint": MEDECIN, "binding_message": "A1"},
            headers=headers,
        ).json()
        poll = {"grant_type": "urn:openid:params:grant-type:ciba", "auth_req_id": started["auth_req_id"]}
        answer = http.post(config["token_endpoint"], data=poll, headers=headers)
    tokens = rp.parse_response(AccessTokenResponse, info=json.dumps(answer.json()), sformat="json")
    assert tokens["id_token"]["preferred_username"] == MEDECIN and tokens["id_token"]["aud"] == [CLIENT_ID]
