"""Login with Pro Santé Connect: the authorization request, the code exchange, the checks on tokens."""

from __future__ import annotations

import contextlib

import pytest

from harness.run.useragent import LoginFailed
from harness.run.verify import expect
from harness.run.verify import psc as verify
from mock_services.psc.registry import Registry
from mock_services.psc.tokens import TOKEN_DEFECTS

pytestmark = pytest.mark.segur_service("psc")

MEDECIN = "899900000011"


def log_in(sut, browser, professional: str = MEDECIN) -> dict:
    start = sut.perform("psc.authorization_url")
    callback = browser.psc_login(start.data["url"], professional)
    return sut.perform("psc.callback", url=callback).data


@pytest.mark.requirement("PSC-01")
def test_a_professional_can_log_in(sut, psc, browser):
    """Le logiciel authentifie un professionnel par PSC et l'identifie par son identifiant national (IdNatPs)."""
    answer = log_in(sut, browser)
    findings = verify.check_outcome(
        answer, "logged_in", "PSC-01", "the professional could not log in", "le professionnel n'a pas pu se connecter"
    )
    user = answer.get("user") or {}
    if not findings and user.get("id_nat_ps") != MEDECIN:
        findings.append(
            verify.Finding(
                "psc.user",
                "the product identified someone else",
                message_fr="le produit a identifié quelqu'un d'autre",
                requirement="PSC-01",
                expected=MEDECIN,
                received=repr(user.get("id_nat_ps")),
            )
        )
    expect(findings)


@pytest.mark.requirement("PSC-02")
def test_authorization_request_has_state_and_nonce(sut, psc, browser):
    """La requête d'autorisation porte un state et un nonce imprévisibles."""
    log_in(sut, browser)
    expect(verify.check_state_and_nonce(psc.exchanges()))


@pytest.mark.requirement("PSC-03")
def test_authorization_uses_pkce_s256(sut, psc, browser):
    """Le logiciel utilise PKCE avec la méthode S256 et présente le code_verifier à l'échange du code."""
    log_in(sut, browser)
    expect(verify.check_pkce(psc.exchanges()))


@pytest.mark.requirement("PSC-04")
def test_authorization_asks_for_eidas1_and_openid(sut, psc, browser):
    """La requête demande acr_values=eidas1 et le scope openid."""
    log_in(sut, browser)
    expect(verify.check_acr_and_scope(psc.exchanges()))


@pytest.mark.requirement("PSC-05")
def test_redirect_uri_is_exactly_a_registered_one(sut, psc, browser):
    """La redirect_uri envoyée est exactement une adresse enregistrée pour le client."""
    start = sut.perform("psc.authorization_url")
    # The provider refuses an unregistered redirect_uri; the recorded exchange shows what was sent.
    with contextlib.suppress(LoginFailed):
        browser.psc_login(start.data["url"], MEDECIN)
    authorize = verify.first_authorize(psc.exchanges())
    client = Registry.load().clients.get(verify.authorize_params(authorize).get("client_id", "") if authorize else "")
    expect(verify.check_redirect_uri(psc.exchanges(), client.redirect_uris if client else ()))


@pytest.mark.requirement("PSC-06")
def test_code_exchange_authenticates_the_client(sut, psc, browser):
    """L'échange du code se fait avec une authentification du client acceptée par PSC."""
    log_in(sut, browser)
    expect(verify.check_client_authentication(psc.exchanges()))


@pytest.mark.requirement("PSC-07")
def test_callback_with_a_foreign_state_is_refused(sut, psc, browser):
    """Une réponse d'autorisation dont le state ne correspond pas à la requête est refusée."""
    start = sut.perform("psc.authorization_url")
    callback = browser.psc_login(start.data["url"], MEDECIN)
    forged = callback.replace("state=", "state=forged")
    answer = sut.perform("psc.callback", url=forged).data
    expect(
        verify.check_outcome(
            answer,
            "refused",
            "PSC-07",
            "the product accepted a response to another request",
            "le produit a accepté une réponse à une autre requête",
        )
    )


@pytest.mark.requirement("PSC-08")
@pytest.mark.parametrize("defect", TOKEN_DEFECTS)
def test_bad_id_token_is_refused(sut, psc, browser, defect):
    """Un jeton d'identité invalide (signature, kid, alg=none, audience, émetteur, expiration, nonce) est refusé."""
    psc.scenario(options={"id_token_defect": defect})
    answer = log_in(sut, browser)
    expect(
        verify.check_outcome(
            answer,
            "refused",
            "PSC-08",
            f"the product accepted an ID token with {defect}",
            f"le produit a accepté un jeton d'identité présentant le défaut {defect}",
        )
    )


@pytest.mark.requirement("PSC-09")
def test_session_is_renewed_with_the_refresh_token(sut, psc, browser):
    """Le logiciel renouvelle les jetons par le refresh token avant leur expiration."""
    log_in(sut, browser)
    answer = sut.perform("psc.refresh").data
    refreshed = [
        e for e in psc.exchanges() if e.operation == "token" and e.summary.get("grant_type") == "refresh_token"
    ]
    expect(
        verify.check_outcome(
            answer,
            "refreshed",
            "PSC-09",
            "the product could not renew its tokens",
            "le produit n'a pas pu renouveler ses jetons",
        ),
        []
        if refreshed
        else [
            verify.Finding(
                "psc.refresh",
                "no refresh_token grant was sent",
                message_fr="aucune requête de jeton de type refresh_token n'a été envoyée",
                requirement="PSC-09",
            )
        ],
    )


@pytest.mark.requirement("PSC-10")
def test_logout_ends_the_psc_session(sut, psc, browser):
    """La déconnexion passe par PSC avec id_token_hint et une adresse de retour enregistrée."""
    log_in(sut, browser)
    url = sut.perform("psc.logout_url").data["url"]
    browser.visit(url)
    expect(verify.check_logout(psc.exchanges()))
