"""The Pro Santé Connect mock with clients this project did not write (authlib, joserfc), over TLS."""

from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from authlib.integrations.httpx_client import OAuth2Client
from joserfc import jwt
from joserfc.jwk import KeySet

from harness.core import pki
from harness.core.recorder import ExchangeStore
from harness.core.storage import open_postgresql
from harness.protocols.mockserver import serve_app
from mock_services.common import ScenarioStore
from mock_services.psc import create_app
from mock_services.psc.tokens import TOKEN_DEFECTS

REDIRECT = "http://127.0.0.1:8765/callback"
CLIENT, SECRET = "segur-reference", "segur-reference-secret"
MEDECIN = "899900000011"


@pytest.fixture(scope="module", params=["memory", "postgresql"])
def provider(request, layout):
    """The provider with its state in memory (the default), and in a PostgreSQL database."""
    database = None
    if request.param == "postgresql":
        cluster = request.getfixturevalue("pg_cluster")
        url = cluster.create_database()
        database = open_postgresql(url)
    store, scenarios = ExchangeStore(), ScenarioStore()
    app = create_app(store, scenarios, database=database)
    with serve_app(app, name="psc", ssl_context=pki.server_ssl_context(layout)) as served:
        yield served, store, scenarios
    store.close()
    if database is not None:
        database.close()
        cluster.drop_database(url)


@pytest.fixture
def store():
    store = ExchangeStore()
    yield store
    store.close()


@pytest.fixture
def issuer(provider) -> str:
    return provider[0].url + "/auth/realms/esante-wallet"


@pytest.fixture
def http(layout):
    with httpx.Client(verify=pki.client_ssl_context(layout, None), timeout=10) as client:
        yield client


def discover(http: httpx.Client, issuer: str) -> dict:
    return http.get(issuer + "/.well-known/openid-configuration").raise_for_status().json()


def login(http, config, *, hint=MEDECIN, nonce="n-1", state="s-1", verifier="v" * 50, extra=None):
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    params = {
        "response_type": "code",
        "client_id": CLIENT,
        "redirect_uri": REDIRECT,
        "scope": "openid scope_all",
        "state": state,
        "nonce": nonce,
        "acr_values": "eidas1",
        "login_hint": hint,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **(extra or {}),
    }
    response = http.get(config["authorization_endpoint"], params=params)
    assert response.status_code == 302, response.text
    return parse_qs(urlparse(response.headers["location"]).query)


def exchange(http, config, code, verifier="v" * 50, auth=(CLIENT, SECRET)):
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier}
    return http.post(config["token_endpoint"], data=data, auth=auth)


def test_standard_client_completes_discovery_code_flow_pkce_userinfo_and_id_token(layout, issuer, http):
    config = discover(http, issuer)
    assert http.get(issuer + "/.well-known/wallet-openid-configuration").json() == config
    verifier, nonce = secrets.token_urlsafe(48), secrets.token_urlsafe(12)
    with OAuth2Client(
        CLIENT,
        SECRET,
        redirect_uri=REDIRECT,
        scope="openid scope_all",
        code_challenge_method="S256",
        verify=pki.client_ssl_context(layout, None),
    ) as client:
        url, _state = client.create_authorization_url(
            config["authorization_endpoint"],
            code_verifier=verifier,
            nonce=nonce,
            login_hint=MEDECIN,
            acr_values="eidas1",
        )
        redirect = client.request("GET", url, withhold_token=True, follow_redirects=False)
        assert redirect.status_code == 302
        token = client.fetch_token(
            config["token_endpoint"], authorization_response=redirect.headers["location"], code_verifier=verifier
        )
        userinfo = client.get(config["userinfo_endpoint"]).json()
    keys = KeySet.import_key_set(http.get(config["jwks_uri"]).json())
    id_token = jwt.decode(token["id_token"], keys, algorithms=["RS256"])
    registry = jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": config["issuer"]},
        aud={"essential": True, "value": CLIENT},
        nonce={"essential": True, "value": nonce},
        exp={"essential": True},
    )
    registry.validate(id_token.claims)
    assert id_token.claims["acr"] == "eidas1" and id_token.claims["preferred_username"] == MEDECIN
    assert userinfo["SubjectNameID"] == MEDECIN
    assert userinfo["SubjectRefPro"]["exercices"][0]["codeProfession"] == "10"
    assert userinfo["Secteur_Activite"] == "SA07^1.2.250.1.71.4.2.4"


def test_refresh_tokens_stay_usable_and_logout_ends_the_session(issuer, http):
    config = discover(http, issuer)
    tokens = exchange(http, config, login(http, config)["code"][0]).json()
    refresh = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    renewed = http.post(config["token_endpoint"], data=refresh, auth=(CLIENT, SECRET))
    assert renewed.status_code == 200
    # Keycloak's default ("Revoke Refresh Token" off): the same refresh token works again.
    assert http.post(config["token_endpoint"], data=refresh, auth=(CLIENT, SECRET)).status_code == 200
    logout = http.get(
        config["end_session_endpoint"],
        params={
            "id_token_hint": renewed.json()["id_token"],
            "post_logout_redirect_uri": "http://127.0.0.1:8765/logged-out",
            "state": "x",
        },
    )
    assert logout.status_code == 302 and logout.headers["location"].endswith("?state=x")
    again = {"grant_type": "refresh_token", "refresh_token": renewed.json()["refresh_token"]}
    assert http.post(config["token_endpoint"], data=again, auth=(CLIENT, SECRET)).json()["error"] == "invalid_grant"


def test_client_secret_post_and_introspection(issuer, http):
    config = discover(http, issuer)
    challenge_free = {"code_challenge": "", "code_challenge_method": "S256"}
    params = {
        "response_type": "code",
        "client_id": "segur-post",
        "redirect_uri": REDIRECT,
        "scope": "openid",
        "login_hint": "pharmacien",
        "state": "s",
    }
    location = http.get(config["authorization_endpoint"], params=params).headers["location"]
    code = parse_qs(urlparse(location).query)["code"][0]
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "client_id": "segur-post",
        "client_secret": "segur-post-secret",
    }
    tokens = http.post(config["token_endpoint"], data=data).json()
    assert "access_token" in tokens, (tokens, challenge_free)
    introspection = http.post(
        config["introspection_endpoint"], data={"token": tokens["access_token"]}, auth=(CLIENT, SECRET)
    ).json()
    assert introspection["active"] is True and introspection["username"] == "899900000037"
    bogus = http.post(config["introspection_endpoint"], data={"token": "x.y.z"}, auth=(CLIENT, SECRET)).json()
    assert bogus == {"active": False}


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"verifier": "w" * 50}, "invalid_grant"),  # wrong PKCE verifier
        ({"auth": (CLIENT, "wrong")}, "invalid_client"),
        ({"auth": ("nobody", "x")}, "invalid_client"),
    ],
)
def test_token_errors_are_oauth_errors(issuer, http, change, error):
    config = discover(http, issuer)
    code = login(http, config)["code"][0]
    response = exchange(http, config, code, **change)
    assert response.json()["error"] == error
    assert response.status_code in (400, 401)


def test_codes_are_single_use(issuer, http):
    config = discover(http, issuer)
    code = login(http, config)["code"][0]
    assert exchange(http, config, code).status_code == 200
    assert exchange(http, config, code).json()["error"] == "invalid_grant"


def test_authorization_errors_never_redirect_to_an_unregistered_uri(issuer, http):
    config = discover(http, issuer)
    bad_redirect = http.get(
        config["authorization_endpoint"],
        params={
            "response_type": "code",
            "client_id": CLIENT,
            "redirect_uri": "https://evil.example/cb",
            "scope": "openid",
        },
    )
    assert bad_redirect.status_code == 400 and "location" not in bad_redirect.headers
    unknown_client = http.get(
        config["authorization_endpoint"], params={"client_id": "nobody", "redirect_uri": REDIRECT}
    )
    assert unknown_client.status_code == 400
    no_openid = http.get(
        config["authorization_endpoint"],
        params={
            "response_type": "code",
            "client_id": CLIENT,
            "redirect_uri": REDIRECT,
            "scope": "profile",
            "state": "z",
        },
    )
    query = parse_qs(urlparse(no_openid.headers["location"]).query)
    assert query["error"] == ["invalid_scope"] and query["state"] == ["z"]


def test_without_login_hint_a_person_gets_a_login_page(issuer, http):
    config = discover(http, issuer)
    page = http.get(
        config["authorization_endpoint"],
        params={"response_type": "code", "client_id": CLIENT, "redirect_uri": REDIRECT, "scope": "openid"},
    )
    assert page.status_code == 200 and "Pro Santé Connect" in page.text and MEDECIN in page.text


def test_userinfo_refuses_bad_tokens(issuer, http):
    config = discover(http, issuer)
    response = http.get(config["userinfo_endpoint"], headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401 and response.json()["error"] == "invalid_token"


@pytest.mark.parametrize("defect", TOKEN_DEFECTS)
def test_bad_id_tokens_on_demand_are_refused_by_a_standard_verifier(provider, http, defect):
    served, _, scenarios = provider
    scenarios.update("bad", options={"id_token_defect": defect})
    session_issuer = served.url + "/s/bad/auth/realms/esante-wallet"
    config = discover(http, session_issuer)
    tokens = exchange(http, config, login(http, config)["code"][0]).json()
    keys = KeySet.import_key_set(http.get(config["jwks_uri"]).json())
    registry = jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": config["issuer"]},
        aud={"essential": True, "value": CLIENT},
        nonce={"essential": True, "value": "n-1"},
        exp={"essential": True},
    )
    with pytest.raises(Exception):  # noqa: B017 - each defect fails in its own joserfc error type
        registry.validate(jwt.decode(tokens["id_token"], keys, algorithms=["RS256"]).claims)


def test_key_rotation_keeps_old_tokens_verifiable(provider, issuer, http):
    served, _, _ = provider
    config = discover(http, issuer)
    tokens = exchange(http, config, login(http, config)["code"][0]).json()
    http.post(served.url + "/_segur/keys/rotate")
    keys = KeySet.import_key_set(http.get(config["jwks_uri"]).json())
    assert [key.get("use") for key in keys.keys] == ["enc", "sig", "sig"]  # Keycloak's encryption key first
    jwt.decode(tokens["id_token"], keys, algorithms=["RS256"])


def test_every_exchange_is_recorded(provider, issuer, http):
    _, store, _ = provider
    before = len(store.exchanges())
    config = discover(http, issuer)
    login(http, config)
    operations = [e.operation for e in store.exchanges()[before:]]
    assert operations == ["discovery", "authorize"]


@pytest.mark.parametrize(("decision", "expected"), [("approve", "access_token"), ("deny", "access_denied")])
def test_ciba_push_to_the_e_cps_app(provider, http, decision, expected):
    served, _, scenarios = provider
    scenarios.update("ciba", options={"ciba_decision": decision})
    config = discover(http, served.url + "/s/ciba/auth/realms/esante-wallet")
    started = http.post(
        config["backchannel_authentication_endpoint"],
        auth=(CLIENT, SECRET),
        data={"scope": "openid", "login_hint": "infirmier", "binding_message": "A1"},
    ).json()
    poll = {"grant_type": "urn:openid:params:grant-type:ciba", "auth_req_id": started["auth_req_id"]}
    answer = http.post(config["token_endpoint"], data=poll, auth=(CLIENT, SECRET)).json()
    assert expected in answer.values() or expected in answer


def test_ciba_pending_then_unknown_user(layout, store):
    from mock_services.psc import PscSettings

    app = create_app(store, ScenarioStore(), PscSettings(ciba_approval_delay=60))
    with (
        serve_app(app, name="psc-slow", ssl_context=pki.server_ssl_context(layout)) as served,
        httpx.Client(verify=pki.client_ssl_context(layout, None), timeout=10) as http,
    ):
        config = discover(http, served.url + "/auth/realms/esante-wallet")
        started = http.post(
            config["backchannel_authentication_endpoint"],
            auth=(CLIENT, SECRET),
            data={"scope": "openid", "login_hint": MEDECIN},
        ).json()
        poll = {"grant_type": "urn:openid:params:grant-type:ciba", "auth_req_id": started["auth_req_id"]}
        assert http.post(config["token_endpoint"], data=poll, auth=(CLIENT, SECRET)).json()["error"] == (
            "authorization_pending"
        )
        unknown = http.post(
            config["backchannel_authentication_endpoint"],
            auth=(CLIENT, SECRET),
            data={"scope": "openid", "login_hint": "nobody"},
        )
        assert unknown.json()["error"] == "unknown_user_id"


def test_tls_client_auth_with_the_organisation_certificate(layout, issuer):
    with httpx.Client(verify=pki.client_ssl_context(layout, "insi-auto"), timeout=10) as http:
        config = discover(http, issuer)
        params = {
            "response_type": "code",
            "client_id": "INSI-AUTO",
            "redirect_uri": "https://127.0.0.1:8765/callback",
            "scope": "openid",
            "login_hint": MEDECIN,
        }
        code = parse_qs(urlparse(http.get(config["authorization_endpoint"], params=params).headers["location"]).query)
        data = {
            "grant_type": "authorization_code",
            "code": code["code"][0],
            "client_id": "INSI-AUTO",
            "redirect_uri": "https://127.0.0.1:8765/callback",
        }
        assert "access_token" in http.post(config["token_endpoint"], data=data).json()
    with httpx.Client(verify=pki.client_ssl_context(layout, None), timeout=10) as anonymous:
        assert anonymous.post(config["token_endpoint"], data=data).json()["error"] == "invalid_client"


def test_expired_codes_are_refused(layout, store):
    from mock_services.psc import PscSettings
    from mock_services.psc.tokens import Lifetimes

    app = create_app(store, ScenarioStore(), PscSettings(lifetimes=Lifetimes(code=-1)))
    with (
        serve_app(app, name="psc-expired", ssl_context=pki.server_ssl_context(layout)) as served,
        httpx.Client(verify=pki.client_ssl_context(layout, None), timeout=10) as http,
    ):
        config = discover(http, served.url + "/auth/realms/esante-wallet")
        answer = exchange(http, config, login(http, config)["code"][0]).json()
    assert answer == {"error": "invalid_grant", "error_description": "authorization code expired"}


@pytest.mark.parametrize(
    ("kwargs", "status", "error"),
    [
        ({"json": {"grant_type": "authorization_code"}}, 400, "invalid_request"),
        ({"data": {"grant_type": "password", "username": "x"}}, 400, "unsupported_grant_type"),
        (
            {"content": b"a=" + b"x" * 70_000, "headers": {"Content-Type": "application/x-www-form-urlencoded"}},
            413,
            "invalid_request",
        ),
        (
            {"data": {"grant_type": "authorization_code"}, "headers": {"Authorization": "Basic !!!"}},
            401,
            "invalid_client",
        ),
    ],
)
def test_malformed_token_requests_get_oauth_errors(issuer, http, kwargs, status, error):
    config = discover(http, issuer)
    auth = None if "Authorization" in kwargs.get("headers", {}) else (CLIENT, SECRET)
    response = http.post(config["token_endpoint"], auth=auth, **kwargs)
    assert (response.status_code, response.json()["error"]) == (status, error)
