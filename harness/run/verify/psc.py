"""Verifiers of the ``psc`` suite: how the product uses Pro Santé Connect, from recorded exchanges."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from harness.core.recorder import Exchange
from harness.core.results import Finding

MIN_RANDOM_LENGTH = 16  # characters; unguessable state/nonce values (our threshold, 96+ bits in base64url)


def authorize_params(exchange: Exchange) -> dict[str, str]:
    if exchange.request_meta.get("method") == "POST":
        body = exchange.request_body.decode("utf-8", "replace")
        return {k: v[0] for k, v in parse_qs(body).items()}
    return {k: v[0] for k, v in parse_qs(exchange.request_meta.get("query", "")).items()}


def first_authorize(exchanges: list[Exchange]) -> Exchange | None:
    return next((e for e in exchanges if e.operation == "authorize"), None)


def _missing(requirement: str, what: str, what_fr: str) -> list[Finding]:
    """The finding when the product sent PSC no request of the kind ``what`` (``what_fr`` in French)."""
    return [
        Finding(
            "psc.called",
            f"the product sent no {what} to PSC",
            message_fr=f"le produit n'a envoyé à PSC aucune {what_fr}",
            requirement=requirement,
            expected=what,
            received="none",
            expected_fr=what_fr,
            received_fr="aucune",
        )
    ]


def check_state_and_nonce(exchanges: list[Exchange]) -> list[Finding]:
    """PSC-02: an unguessable state and nonce in the authorization request."""
    exchange = first_authorize(exchanges)
    if exchange is None:
        return _missing("PSC-02", "authorization request", "requête d'autorisation")
    params = authorize_params(exchange)
    return [
        Finding(
            "psc.authorize-" + name,
            f"the authorization request has no unguessable {name}",
            message_fr=f"la requête d'autorisation n'a pas de {name} imprévisible",
            requirement="PSC-02",
            expected=f"{name} of at least {MIN_RANDOM_LENGTH} characters",
            expected_fr=f"{name} d'au moins {MIN_RANDOM_LENGTH} caractères",
            received=repr(params.get(name)),
            location=f"exchange {exchange.id}",
        )
        for name in ("state", "nonce")
        if len(params.get(name, "")) < MIN_RANDOM_LENGTH
    ]


def check_pkce(exchanges: list[Exchange]) -> list[Finding]:
    """PSC-03: PKCE with S256."""
    exchange = first_authorize(exchanges)
    if exchange is None:
        return _missing("PSC-03", "authorization request", "requête d'autorisation")
    params = authorize_params(exchange)
    if params.get("code_challenge_method") != "S256" or len(params.get("code_challenge", "")) < 43:
        return [
            Finding(
                "psc.pkce",
                "the authorization request does not use PKCE S256",
                message_fr="la requête d'autorisation n'utilise pas PKCE S256",
                requirement="PSC-03",
                expected="code_challenge (43 characters) with code_challenge_method=S256",
                received=f"method {params.get('code_challenge_method')!r}",
                expected_fr="code_challenge (43 caractères) avec code_challenge_method=S256",
                received_fr=f"méthode {params.get('code_challenge_method')!r}",
                location=f"exchange {exchange.id}",
            )
        ]
    token = next(
        (e for e in exchanges if e.operation == "token" and e.summary.get("grant_type") == "authorization_code"), None
    )
    if token is not None and token.summary.get("pkce") != "S256":
        return [
            Finding(
                "psc.pkce-verifier",
                "the code was exchanged without its PKCE verifier",
                message_fr="le code a été échangé sans son code_verifier PKCE",
                requirement="PSC-03",
                location=f"exchange {token.id}",
            )
        ]
    return []


def check_acr_and_scope(exchanges: list[Exchange]) -> list[Finding]:
    """PSC-04: acr_values=eidas1 and the openid scope."""
    exchange = first_authorize(exchanges)
    if exchange is None:
        return _missing("PSC-04", "authorization request", "requête d'autorisation")
    params = authorize_params(exchange)
    findings = []
    if params.get("acr_values") != "eidas1":
        findings.append(
            Finding(
                "psc.acr",
                "the authorization request does not ask for acr_values=eidas1",
                message_fr="la requête d'autorisation ne demande pas acr_values=eidas1",
                requirement="PSC-04",
                expected="eidas1",
                received=repr(params.get("acr_values")),
            )
        )
    if "openid" not in params.get("scope", "").split():
        findings.append(
            Finding(
                "psc.scope",
                "the openid scope is missing",
                message_fr="le scope openid est absent",
                requirement="PSC-04",
                expected="openid …",
                received=repr(params.get("scope")),
            )
        )
    return findings


def check_client_authentication(exchanges: list[Exchange]) -> list[Finding]:
    """PSC-06: the code is exchanged with an authenticated client."""
    tokens = [e for e in exchanges if e.operation == "token"]
    if not tokens:
        return _missing("PSC-06", "token request", "requête de jeton")
    return [
        Finding(
            "psc.client-auth",
            "the token request was refused or not authenticated",
            message_fr="la requête de jeton a été refusée ou n'était pas authentifiée",
            requirement="PSC-06",
            expected="client_secret_basic, client_secret_post or tls_client_auth accepted",
            expected_fr="client_secret_basic, client_secret_post ou tls_client_auth accepté",
            received=str(e.summary.get("error")),
            location=f"exchange {e.id}",
        )
        for e in tokens
        if e.summary.get("error") == "invalid_client"
    ]


def check_outcome(answer: dict[str, Any], expected: str, requirement: str, why: str, why_fr: str) -> list[Finding]:
    """The product's answer to an action is ``expected``; else a finding saying ``why`` (``why_fr`` in French)."""
    if answer.get("outcome") == expected:
        return []
    return [
        Finding(
            "psc.outcome",
            why,
            message_fr=why_fr,
            requirement=requirement,
            expected=expected,
            received=f"{answer.get('outcome')!r}: {answer.get('message', '')}",
        )
    ]


def check_logout(exchanges: list[Exchange]) -> list[Finding]:
    """PSC-10: RP-initiated logout with id_token_hint and a registered post_logout_redirect_uri."""
    logout = next((e for e in exchanges if e.operation == "logout"), None)
    if logout is None:
        return _missing("PSC-10", "logout request", "requête de déconnexion")
    findings = []
    if not logout.summary.get("id_token_hint"):
        findings.append(
            Finding(
                "psc.logout-hint",
                "the logout request carries no valid id_token_hint",
                message_fr="la requête de déconnexion ne porte pas d'id_token_hint valide",
                requirement="PSC-10",
                location=f"exchange {logout.id}",
            )
        )
    if logout.http_status != 302:
        findings.append(
            Finding(
                "psc.logout-redirect",
                "PSC did not send the user back to the product after logout",
                message_fr="PSC n'a pas renvoyé l'utilisateur vers le produit après la déconnexion",
                requirement="PSC-10",
                expected="302 to a registered post_logout_redirect_uri",
                expected_fr="302 vers un post_logout_redirect_uri enregistré",
                received=f"HTTP {logout.http_status}",
                location=f"exchange {logout.id}",
            )
        )
    return findings


def check_redirect_uri(exchanges: list[Exchange], registered: tuple[str, ...]) -> list[Finding]:
    """PSC-05: the redirect_uri is exactly one registered for the client (no prefix or pattern match)."""
    exchange = first_authorize(exchanges)
    if exchange is None:
        return _missing("PSC-05", "authorization request", "requête d'autorisation")
    sent = authorize_params(exchange).get("redirect_uri")
    if sent in registered:
        return []
    return [
        Finding(
            "psc.redirect-uri",
            "the redirect_uri is not exactly a registered one",
            message_fr="la redirect_uri n'est pas exactement l'une de celles enregistrées",
            requirement="PSC-05",
            expected=" or ".join(registered),
            expected_fr=" ou ".join(registered),
            received=repr(sent),
            location=f"exchange {exchange.id}",
        )
    ]
