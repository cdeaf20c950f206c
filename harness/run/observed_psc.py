"""``segur judge`` for the ``psc`` suite: the login flows the PSC mock recorded in the session.

A login starts at an authorization request the product sent (an ``authorize`` exchange that is not
the login page's form, which names the professional chosen); the browser's part is the
authorization response that redirected it to the product (the ``authorize`` exchange answered with
a redirect), the callback is matched to its token request by the code it carries, and the
renewal and logout are the next ``refresh_token`` grant and end-session request. The verifiers then
judge those exchanges as in ``segur run`` (state, nonce, PKCE, acr, redirect_uri, client
authentication, refresh, logout). What the product decided (let the professional in, as whom) is
not on the wire, and a callback the product never received (a forged state, PSC-07) or a token
the harness did not spoil (PSC-08) cannot be handed to it afterwards: those stay ``not_observed``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urljoin, urlparse

from harness.core.recorder import Exchange
from harness.run.observed import Handlers, ObservedAnswer, not_observed
from harness.run.useragent import LoginFailed

if TYPE_CHECKING:
    from harness.run.observed import ObservedTest

LOGIN_MARK = "psc.login"  # ObservedTest.marks: index of the authorization request the test's login started at
REDIRECTS = (302, 303)


def _authorize(exchange: Exchange) -> bool:
    return exchange.service == "psc" and exchange.operation == "authorize"


def _params(exchange: Exchange) -> dict[str, str]:
    recorded = exchange.summary.get("params")
    return {str(k): str(v) for k, v in recorded.items()} if isinstance(recorded, dict) else {}


def starts_login(exchange: Exchange) -> bool:
    """An authorization request of the product (the login page's form names the professional chosen)."""
    return _authorize(exchange) and "professional" not in _params(exchange)


def _location(exchange: Exchange) -> str | None:
    headers = exchange.response_meta.get("headers") or {}
    location = headers.get("location") if isinstance(headers, dict) else None
    return str(location) if exchange.http_status in REDIRECTS and location else None


def _target(exchange: Exchange) -> str:
    query = exchange.request_meta.get("query") or ""
    return str(exchange.request_meta.get("path", "")) + (f"?{query}" if query else "")


def _token(grant_type: str, test: Callable[[Exchange], bool] = lambda e: True) -> Callable[[Exchange], bool]:
    return lambda e: (
        e.service == "psc" and e.operation == "token" and e.summary.get("grant_type") == grant_type and test(e)
    )


def _sent_code(exchange: Exchange) -> str:
    form = parse_qs(exchange.request_body.decode("utf-8", "replace"))
    return (form.get("code") or [""])[0]


def _end_of_login(view: ObservedTest, start: int) -> int | None:
    """The authorization response that sent the browser back to the product, before any other login started."""
    session = view.session.exchanges
    for index in range(start, len(session)):
        exchange = session[index]
        if index > start and starts_login(exchange):
            return None  # the person started another login: this one was left unfinished
        if _authorize(exchange) and _location(exchange) is not None:
            return index
    return None


def _refused(exchange: Exchange) -> bool:
    return exchange.http_status is not None and exchange.http_status >= 400


def authorization_url(view: ObservedTest, params: dict[str, Any]) -> dict[str, Any]:
    """The first login of the story still to come (else the latest one); one left unfinished only if none ended."""
    session = view.session.exchanges
    starts = [i for i, e in enumerate(session) if starts_login(e)]
    later = [i for i in starts if i > view.horizon] or starts[-1:]
    ended = [i for i in later if _refused(session[i]) or _end_of_login(view, i) is not None]
    candidates = ended or later
    if not candidates:
        raise not_observed(
            "no Pro Santé Connect login (authorization request) recorded in this session: log in through the product",
            "aucune connexion Pro Santé Connect (requête d'autorisation) enregistrée dans cette session : "
            "se connecter depuis le produit",
        )
    view.marks[LOGIN_MARK] = candidates[0]
    return {"outcome": "ok", "url": _target(view.take(candidates[0]))}


def browser_login(view: ObservedTest) -> str:
    """Where the provider sent the browser back to the product at the end of the test's login."""
    start = view.marks.get(LOGIN_MARK)
    if start is None:
        raise not_observed(
            "segur judge replays no browser without an authorization request first",
            "segur judge ne rejoue aucun navigateur sans requête d'autorisation préalable",
        )
    first = view.session.exchanges[start]
    end = _end_of_login(view, start)
    if end is not None:
        location = _location(view.take(end, alone=True))
        assert location is not None  # _end_of_login found a redirect
        return urljoin(_target(first), location)
    if _refused(first):
        error = first.summary.get("error") or first.response_body[:200].decode("utf-8", "replace")
        raise LoginFailed(f"the provider answered HTTP {first.http_status}: {error}")
    raise not_observed(
        f"the login started at exchange {first.id} was not completed in this session "
        "(the provider never sent the browser back to the product)",
        f"la connexion commencée à l'échange {first.id} n'a pas été menée à son terme dans cette session "
        "(le fournisseur n'a jamais renvoyé le navigateur vers le produit)",
    )


def callback(view: ObservedTest, params: dict[str, Any]) -> dict[str, Any]:
    query = {k: v[0] for k, v in parse_qs(urlparse(str(params.get("url") or "")).query).items()}
    state = query.get("state", "")
    if not any(_authorize(e) and _params(e).get("state") == state for e in view.session.exchanges):
        raise not_observed(
            "no authorization request with the state of this callback was recorded: segur judge cannot hand the "
            "product a callback it never received (a forged state, PSC-07); segur run judges it",
            "aucune requête d'autorisation portant le state de ce retour n'a été enregistrée : segur judge ne peut "
            "remettre au produit un retour qu'il n'a jamais reçu (un state falsifié, PSC-07) ; segur run le juge",
        )
    code = query.get("code", "")
    anchor = view.pick(_token("authorization_code", lambda e: bool(code) and _sent_code(e) == code))
    if anchor is None:
        raise not_observed(
            "the product did not exchange the code of its login in this session (no token request carrying it "
            "recorded): log in through the product to the end",
            "le produit n'a pas échangé le code de sa connexion dans cette session (aucune requête de jeton le "
            "portant enregistrée) : se connecter depuis le produit jusqu'au bout",
        )
    view.take(anchor, alone=True)
    why = (
        "whether the product let the professional in, and as whom, is not on the wire: segur run judges it",
        "l'accès donné par le produit au professionnel, et sous quelle identité, ne se voit pas dans les échanges : "
        "segur run le juge",
    )
    return ObservedAnswer({}, {"outcome": why, "user": why, "message": why})


def refresh(view: ObservedTest, params: dict[str, Any]) -> dict[str, Any]:
    anchor = view.pick(_token("refresh_token"))
    if anchor is None:
        raise not_observed(
            "no token renewal (grant_type=refresh_token) recorded in this session: keep the product's PSC session "
            "open until it renews its tokens",
            "aucun renouvellement de jeton (grant_type=refresh_token) enregistré dans cette session : garder la "
            "session PSC du produit ouverte jusqu'à ce qu'il renouvelle ses jetons",
        )
    exchange = view.take(anchor, alone=True)
    return {"outcome": "refreshed" if exchange.http_status == 200 else "refused"}


def logout_url(view: ObservedTest, params: dict[str, Any]) -> dict[str, Any]:
    anchor = view.pick(lambda e: e.service == "psc" and e.operation == "logout")
    if anchor is None:
        raise not_observed(
            "no logout through Pro Santé Connect (end-session request) recorded in this session: log out in the "
            "product",
            "aucune déconnexion par Pro Santé Connect (requête de fin de session) enregistrée dans cette session : "
            "se déconnecter dans le produit",
        )
    return {"outcome": "ok", "url": _target(view.take(anchor, alone=True))}


def browser_visit(view: ObservedTest, url: str) -> int:
    """The status the browser got when it followed ``url``, a link the product gave (already recorded)."""
    for exchange in reversed(view.visible):
        if exchange.service == "psc" and _target(exchange) == url:
            return int(exchange.http_status or 0)
    raise not_observed(
        f"segur judge cannot follow {url} afterwards: no recorded request to it",
        f"segur judge ne peut suivre {url} après coup : aucune requête vers cette adresse n'est enregistrée",
    )


class ObservedBrowser:
    """The professional's browser under ``segur judge``: what it did is already in the session."""

    def __init__(self, view: ObservedTest):
        self.view = view

    def psc_login(self, url: str, professional: str) -> str:
        return browser_login(self.view)

    def visit(self, url: str) -> int:
        return browser_visit(self.view, url)


HANDLERS: Handlers = {
    "psc.authorization_url": authorization_url,
    "psc.callback": callback,
    "psc.refresh": refresh,
    "psc.logout_url": logout_url,
}
