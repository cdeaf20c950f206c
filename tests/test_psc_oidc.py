"""The PSC mock against the OAuth/OIDC rules strict relying parties rely on (issue 21).

Each test names the rule it checks; the error cases prove the check can fail.
"""

from __future__ import annotations

import base64
import hashlib
import json
from html.parser import HTMLParser
from urllib.parse import parse_qs, quote, quote_plus, urlparse

import httpx
import pytest

from harness.core import pki
from harness.core.recorder import ExchangeStore
from harness.protocols.mockserver import serve_app
from mock_services.common import ScenarioStore
from mock_services.psc import PscSettings, create_app

REDIRECT = "http://127.0.0.1:8765/callback"
CLIENT, SECRET = "segur-reference", "segur-reference-secret"
STRICT, STRICT_SECRET = "urn:segur:strict-rp", "strict-rp:secret+with/specials"
MEDECIN = "899900000011"
VERIFIER = "v" * 50
CIBA = "urn:openid:params:grant-type:ciba"


def serve(layout, settings: PscSettings | None = None, name: str = "psc", store: ExchangeStore | None = None):
    app = create_app(store or ExchangeStore(), ScenarioStore(), settings)
    return serve_app(app, name=name, ssl_context=pki.server_ssl_context(layout))


@pytest.fixture(scope="module")
def psc_store():
    store = ExchangeStore()
    yield store
    store.close()


@pytest.fixture(scope="module")
def served(layout, psc_store):
    with serve(layout, store=psc_store) as server:
        yield server


@pytest.fixture
def http(layout):
    with httpx.Client(verify=pki.client_ssl_context(layout, None), timeout=10) as client:
        yield client


@pytest.fixture
def config(served, http) -> dict:
    return http.get(served.url + "/auth/realms/esante-wallet/.well-known/openid-configuration").json()


def form_encoded_basic(client_id: str, secret: str, *, encode=quote_plus) -> dict[str, str]:
    """Basic credentials as RFC 6749 §2.3.1 builds them: form-encode each part, then base64."""
    raw = f"{encode(client_id)}:{encode(secret)}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def authorize_params(client_id=CLIENT, **extra) -> dict[str, str]:
    challenge = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=").decode()
    return {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "scope": "openid scope_all",
        "state": "s-1",
        "nonce": "n-1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }


def code_for(http, config, client_id=CLIENT, **extra) -> str:
    params = authorize_params(client_id, login_hint=MEDECIN, **extra)
    response = http.get(config["authorization_endpoint"], params=params)
    assert response.status_code == 302, response.text
    return parse_qs(urlparse(response.headers["location"]).query)["code"][0]


def redeem(http, config, code, headers) -> httpx.Response:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": VERIFIER}
    return http.post(config["token_endpoint"], data=data, headers=headers)


# -- 1. client_secret_basic, form-encoded (RFC 6749 §2.3.1) -----------------------------------------------


def dash_encoding(value: str) -> str:
    """What a certified Node client sends: every character outside [A-Za-z0-9] percent-encoded ("-" as %2D)."""
    return "".join(c if c.isalnum() else f"%{ord(c):02X}" for c in value)


@pytest.mark.parametrize(
    ("client_id", "secret", "encode"),
    [
        (CLIENT, SECRET, dash_encoding),
        (STRICT, STRICT_SECRET, quote_plus),
        (STRICT, STRICT_SECRET, lambda v: quote(v, safe="")),
    ],
)
def test_form_encoded_basic_credentials_work_at_token_refresh_introspection_and_ciba(
    http, config, client_id, secret, encode
):
    headers = form_encoded_basic(client_id, secret, encode=encode)
    tokens = redeem(http, config, code_for(http, config, client_id), headers)
    assert tokens.status_code == 200, tokens.text
    refresh = {"grant_type": "refresh_token", "refresh_token": tokens.json()["refresh_token"]}
    assert http.post(config["token_endpoint"], data=refresh, headers=headers).status_code == 200
    introspection = http.post(
        config["introspection_endpoint"], data={"token": tokens.json()["access_token"]}, headers=headers
    )
    assert introspection.json()["active"] is True
    started = http.post(
        config["backchannel_authentication_endpoint"],
        data={"scope": "openid", "login_hint": MEDECIN},
        headers=headers,
    )
    assert "auth_req_id" in started.json(), started.text
    poll = {"grant_type": CIBA, "auth_req_id": started.json()["auth_req_id"]}
    assert "access_token" in http.post(config["token_endpoint"], data=poll, headers=headers).json()


def test_basic_credentials_still_need_the_right_secret(http, config):
    wrong = form_encoded_basic(STRICT, STRICT_SECRET + "x")
    response = redeem(http, config, code_for(http, config, STRICT), wrong)
    assert (response.status_code, response.json()["error"]) == (401, "invalid_client")
    # "+" means a space in form encoding: a client that does not encode a "+" in its secret is refused, as by Keycloak.
    unencoded = {"Authorization": "Basic " + base64.b64encode(f"{STRICT}:{STRICT_SECRET}".encode()).decode()}
    assert redeem(http, config, code_for(http, config, STRICT), unencoded).json()["error"] == "invalid_client"


# -- 2. the provider's SSO session: prompt=none, max_age, sid, logout -------------------------------------


def authorize(http, config, **extra) -> httpx.Response:
    return http.get(config["authorization_endpoint"], params=authorize_params(**extra))


def query_of(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    return {k: v[0] for k, v in parse_qs(urlparse(response.headers["location"]).query).items()}


def id_token_claims(tokens: dict) -> dict:
    payload = tokens["id_token"].split(".")[1]

    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def basic() -> dict[str, str]:
    return form_encoded_basic(CLIENT, SECRET)


def test_prompt_none_without_a_session_redirects_with_login_required_and_no_page(http, config):
    for extra in ({}, {"login_hint": MEDECIN}):
        answer = query_of(authorize(http, config, prompt="none", **extra))
        assert answer["error"] == "login_required" and answer["state"] == "s-1" and "code" not in answer
    assert "KEYCLOAK_IDENTITY" not in http.cookies


def test_prompt_none_with_a_session_issues_a_code_in_the_same_session(http, config):
    first = query_of(authorize(http, config, login_hint=MEDECIN))
    assert http.cookies.get("KEYCLOAK_IDENTITY") == first["session_state"]
    second = query_of(authorize(http, config, prompt="none"))
    assert second["session_state"] == first["session_state"]
    tokens = redeem(http, config, second["code"], basic()).json()
    claims = id_token_claims(tokens)
    assert claims["sid"] == claims["session_state"] == first["session_state"]
    assert claims["preferred_username"] == MEDECIN
    # A hint naming someone else than the logged-in professional cannot reuse the session.
    assert query_of(authorize(http, config, prompt="none", login_hint="pharmacien"))["error"] == "login_required"


def test_max_age_and_prompt_login_require_a_new_authentication(http, config):
    query_of(authorize(http, config, login_hint=MEDECIN))
    assert query_of(authorize(http, config, prompt="none", max_age="0"))["error"] == "login_required"
    assert "code" in query_of(authorize(http, config, prompt="none", max_age="3600"))
    page = authorize(http, config, prompt="login")
    assert page.status_code == 200 and "<form" in page.text
    for bad in ({"prompt": "none login"}, {"max_age": "soon"}):
        assert query_of(authorize(http, config, **bad))["error"] == "invalid_request"


@pytest.mark.parametrize("lifetime", ["sso_idle", "sso_max"])
def test_an_idle_or_too_old_session_ends(layout, lifetime):
    from mock_services.psc.tokens import Lifetimes

    with (
        serve(layout, PscSettings(lifetimes=Lifetimes(**{lifetime: 0})), name="psc-short") as server,
        httpx.Client(verify=pki.client_ssl_context(layout, None), timeout=10) as http,
    ):
        config = http.get(server.url + "/auth/realms/esante-wallet/.well-known/openid-configuration").json()
        tokens = redeem(http, config, code_for(http, config), basic()).json()
        assert query_of(authorize(http, config, prompt="none"))["error"] == "login_required"
        refresh = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
        answer = http.post(config["token_endpoint"], data=refresh, headers=basic()).json()
        assert answer == {"error": "invalid_grant", "error_description": "Session not active"}


def test_default_session_lifetimes_are_those_of_the_ans_guide():
    from mock_services.psc.tokens import Lifetimes

    assert (Lifetimes().sso_idle, Lifetimes().sso_max) == (30 * 60, 4 * 60 * 60)


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_logout_by_get_or_post_ends_the_session(layout, served, config, method):
    with httpx.Client(verify=pki.client_ssl_context(layout, None), timeout=10) as browser:
        tokens = redeem(browser, config, code_for(browser, config), basic()).json()
        params = {
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": "http://127.0.0.1:8765/logged-out",
            "state": "bye",
        }
        if method == "GET":
            logout = browser.get(config["end_session_endpoint"], params=params)
        else:
            logout = browser.post(config["end_session_endpoint"], data=params)
        assert logout.status_code == 302 and logout.headers["location"].endswith("?state=bye")
        assert "KEYCLOAK_IDENTITY" not in browser.cookies
        assert query_of(authorize(browser, config, prompt="none"))["error"] == "login_required"
        refresh = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
        assert browser.post(config["token_endpoint"], data=refresh, headers=basic()).json()["error"] == "invalid_grant"
        userinfo = browser.get(
            config["userinfo_endpoint"], headers={"Authorization": "Bearer " + tokens["access_token"]}
        )
        assert userinfo.status_code == 401
        introspection = browser.post(
            config["introspection_endpoint"], data={"token": tokens["access_token"]}, headers=basic()
        )
        assert introspection.json() == {"active": False}


# -- 3. userinfo: POST with the token in the body (OIDC Core 5.3.1), bare challenge (RFC 6750 §3.1) -------


def fresh_tokens(http, config) -> dict:
    return redeem(http, config, code_for(http, config), basic()).json()


def test_userinfo_by_post_with_the_token_in_the_form_body(http, config):
    tokens = fresh_tokens(http, config)
    by_post = http.post(config["userinfo_endpoint"], data={"access_token": tokens["access_token"]})
    by_get = http.get(config["userinfo_endpoint"], headers={"Authorization": "Bearer " + tokens["access_token"]})
    assert by_post.status_code == by_get.status_code == 200
    assert by_post.json() == by_get.json() and by_post.json()["SubjectNameID"] == MEDECIN
    header_post = http.post(config["userinfo_endpoint"], headers={"Authorization": "Bearer " + tokens["access_token"]})
    assert header_post.status_code == 200


def test_userinfo_without_any_token_gets_a_bare_bearer_challenge(http, config):
    for response in (http.get(config["userinfo_endpoint"]), http.post(config["userinfo_endpoint"], data={})):
        assert response.status_code == 401
        challenge = response.headers["www-authenticate"]
        assert challenge.startswith("Bearer") and "error" not in challenge and response.content == b""


def test_userinfo_errors_name_themselves_in_the_challenge(http, config):
    tokens = fresh_tokens(http, config)
    bad = http.post(config["userinfo_endpoint"], data={"access_token": "x.y.z"})
    assert bad.status_code == 401 and 'error="invalid_token"' in bad.headers["www-authenticate"]
    twice = http.post(
        config["userinfo_endpoint"],
        data={"access_token": tokens["access_token"]},
        headers={"Authorization": "Bearer " + tokens["access_token"]},
    )
    assert twice.status_code == 400 and 'error="invalid_request"' in twice.headers["www-authenticate"]


# -- 4. introspection as ANS documents it and its official sample shows -----------------------------------


def introspect(http, config, token) -> dict:
    return http.post(config["introspection_endpoint"], data={"token": token}, headers=basic()).json()


def test_access_token_introspection_has_the_official_sample_keys_and_subject_name_id(reference, http, config):

    sample = json.loads((reference / "psc" / "introspection_response_example.json").read_text(encoding="utf-8"))
    result = introspect(http, config, fresh_tokens(http, config)["access_token"])
    assert set(sample) <= set(result), set(sample) - set(result)
    # Beyond the sample: SubjectNameID (ANS's introspection page) and Keycloak's sid; no aud as in the sample.
    assert set(result) - set(sample) == {"SubjectNameID", "sid"}
    assert result["SubjectNameID"] == result["username"] == MEDECIN
    assert result["nonce"] == "n-1" and result["email_verified"] is False and result["typ"] == "Bearer"
    assert result["client_id"] == result["azp"] == CLIENT


def test_refresh_tokens_can_be_introspected_without_subject_name_id(http, config):
    tokens = fresh_tokens(http, config)
    result = introspect(http, config, tokens["refresh_token"])
    assert result["active"] is True and result["typ"] == "Refresh" and "SubjectNameID" not in result
    assert result["sid"] == tokens["session_state"] and result["username"] == MEDECIN
    assert introspect(http, config, "not-a-token") == {"active": False}


# -- 5. form_post, code replay, refresh reuse, acr, userinfo keys, JWKS -------------------------------------


class _FormFields(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.action, self.fields = "", {}

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        if tag == "form":
            self.action = values.get("action", "")
        if tag == "input":
            self.fields[values["name"]] = values.get("value", "")


def test_response_mode_form_post_answers_with_a_self_posting_form(http, config):
    page = authorize(http, config, login_hint=MEDECIN, response_mode="form_post")
    assert page.status_code == 200 and "location" not in page.headers
    form = _FormFields()
    form.feed(page.text)
    assert form.action == REDIRECT and form.fields["state"] == "s-1" and "code" in form.fields
    assert redeem(http, config, form.fields["code"], basic()).status_code == 200
    refused = _FormFields()
    refused.feed(authorize(http, config, response_mode="form_post", prompt="none", login_hint="pharmacien").text)
    assert refused.fields["error"] == "login_required"
    assert query_of(authorize(http, config, response_mode="jwt"))["error"] == "invalid_request"
    fragment = authorize(http, config, login_hint=MEDECIN, response_mode="fragment")
    assert "#code=" in fragment.headers["location"]


def test_replaying_a_code_revokes_the_tokens_it_produced(http, config):
    code = code_for(http, config)
    tokens = redeem(http, config, code, basic()).json()
    refresh = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    renewed = http.post(config["token_endpoint"], data=refresh, headers=basic()).json()
    assert redeem(http, config, code, basic()).json()["error"] == "invalid_grant"
    for access_token in (tokens["access_token"], renewed["access_token"]):
        assert introspect(http, config, access_token) == {"active": False}
        assert (
            http.get(config["userinfo_endpoint"], headers={"Authorization": "Bearer " + access_token}).status_code
            == 401
        )
    assert http.post(config["token_endpoint"], data=refresh, headers=basic()).json()["error"] == "invalid_grant"
    assert introspect(http, config, renewed["refresh_token"]) == {"active": False}


def test_refresh_tokens_are_reusable_by_default_and_single_use_when_revoked(layout, http, config):
    tokens = fresh_tokens(http, config)
    refresh = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    for _ in range(2):
        assert http.post(config["token_endpoint"], data=refresh, headers=basic()).status_code == 200
    with (
        serve(layout, PscSettings(revoke_refresh_token=True), name="psc-revoke") as server,
        httpx.Client(verify=pki.client_ssl_context(layout, None), timeout=10) as other,
    ):
        strict = other.get(server.url + "/auth/realms/esante-wallet/.well-known/openid-configuration").json()
        once = {"grant_type": "refresh_token", "refresh_token": fresh_tokens(other, strict)["refresh_token"]}
        assert other.post(strict["token_endpoint"], data=once, headers=basic()).status_code == 200
        assert other.post(strict["token_endpoint"], data=once, headers=basic()).json()["error"] == "invalid_grant"


def test_acr_is_eidas1_by_default_and_a_scenario_can_serve_the_samples_eidas3(layout):
    store, scenarios = ExchangeStore(), ScenarioStore()
    scenarios.update("high", options={"acr": "eidas3"})
    app = create_app(store, scenarios)
    with (
        serve_app(app, name="psc-acr", ssl_context=pki.server_ssl_context(layout)) as server,
        httpx.Client(verify=pki.client_ssl_context(layout, None), timeout=10) as http,
    ):
        for prefix, expected in (("", "eidas1"), ("/s/high", "eidas3")):
            config = http.get(
                server.url + prefix + "/auth/realms/esante-wallet/.well-known/openid-configuration"
            ).json()
            assert id_token_claims(fresh_tokens(http, config))["acr"] == expected


def test_userinfo_has_exactly_the_official_samples_top_level_keys(reference, http, config):

    sample = json.loads((reference / "psc" / "userinfo_example.json").read_text(encoding="utf-8"))
    tokens = fresh_tokens(http, config)
    userinfo = http.get(config["userinfo_endpoint"], headers={"Authorization": "Bearer " + tokens["access_token"]})
    assert set(userinfo.json()) == set(sample)


def test_jwks_has_an_encryption_key_first_and_tokens_name_their_signing_key(http, config):
    from joserfc import jwt
    from joserfc.jwk import KeySet

    published = http.get(config["jwks_uri"]).json()["keys"]
    assert len(published) >= 2 and published[0]["use"] == "enc"
    id_token = fresh_tokens(http, config)["id_token"]
    header = json.loads(base64.urlsafe_b64decode(id_token.split(".")[0] + "=="))
    signing = [key for key in published if key["kid"] == header["kid"]]
    assert signing and signing[0]["use"] == "sig"
    jwt.decode(id_token, KeySet.import_key_set({"keys": signing}), algorithms=["RS256"])
    with pytest.raises(Exception):  # noqa: B017 - the first key is not the one that signs
        jwt.decode(id_token, KeySet.import_key_set({"keys": published[:1]}), algorithms=["RS256"])


# -- 6. the login page on PSC's "wallet", apart from the issuer ---------------------------------------------


def test_by_default_the_login_is_on_the_wallet_and_not_under_the_issuer(served, psc_store, http):
    store = psc_store
    issuer = served.url + "/s/wal/auth/realms/esante-wallet"
    before = len(store.exchanges())
    wallet = http.get(issuer + "/.well-known/wallet-openid-configuration").json()
    standard = http.get(issuer + "/.well-known/openid-configuration").json()
    assert [e.operation for e in store.exchanges()[before:]] == ["wallet-discovery", "discovery"]
    assert wallet["authorization_endpoint"] == standard["authorization_endpoint"] == served.url + "/s/wal/wallet/auth"
    assert not wallet["authorization_endpoint"].startswith(wallet["issuer"])
    # A client that derives the login URL from the issuer fails, as on BAS.
    assert http.get(issuer + "/protocol/openid-connect/auth", params=authorize_params()).status_code == 404
    answer = query_of(http.get(wallet["authorization_endpoint"], params=authorize_params(login_hint=MEDECIN)))
    tokens = redeem(http, wallet, answer["code"], basic()).json()
    assert id_token_claims(tokens)["iss"] == issuer


def test_the_issuer_layout_puts_the_login_under_the_issuer(layout):
    with (
        serve(layout, PscSettings(login_layout="issuer"), name="psc-issuer") as server,
        httpx.Client(verify=pki.client_ssl_context(layout, None), timeout=10) as http,
    ):
        issuer = server.url + "/auth/realms/esante-wallet"
        config = http.get(issuer + "/.well-known/wallet-openid-configuration").json()
        assert config["authorization_endpoint"] == issuer + "/protocol/openid-connect/auth"
        assert "code" in query_of(
            http.get(config["authorization_endpoint"], params=authorize_params(login_hint=MEDECIN))
        )
        assert http.get(server.url + "/wallet/auth", params=authorize_params()).status_code == 404
    with pytest.raises(ValueError, match="login_layout"):
        PscSettings(login_layout="elsewhere")


# -- 7. scenarios over HTTP, as on the INSi and DMP mocks ---------------------------------------------------


def test_put_scenario_switches_bad_id_tokens_on_for_one_session_key(served, http):
    put = http.put(served.url + "/_segur/scenario/bad-aud", json={"options": {"id_token_defect": "wrong_audience"}})
    assert put.status_code == 200 and put.json()["session_key"] == "bad-aud"
    config = http.get(served.url + "/s/bad-aud/auth/realms/esante-wallet/.well-known/openid-configuration").json()
    assert id_token_claims(fresh_tokens(http, config))["aud"] == "another-client"
    default = http.get(served.url + "/auth/realms/esante-wallet/.well-known/openid-configuration").json()
    assert id_token_claims(fresh_tokens(http, default))["aud"] == CLIENT
    bad = http.put(served.url + "/_segur/scenario/bad-aud", json={"colour": "red"})
    assert bad.status_code == 400 and "unknown scenario keys" in bad.json()["error"]


def test_a_login_form_posted_as_json_gets_a_page_not_a_server_error(served, http, config):
    answer = http.post(config["authorization_endpoint"], json=authorize_params(login_hint=MEDECIN))
    assert answer.status_code == 400 and "Requête invalide" in answer.text and "location" not in answer.headers
