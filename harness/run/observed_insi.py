"""``segur judge`` for the ``ins`` suite: each INSi action of a test found among the session's INSi calls.

A search by traits is found by the birth name it asks for (what INS-03 judges is the format of the
date, sex, given names and place, not which person was looked up), a carte Vitale search by the card's
matricule or the holder's birth name. A product may send several calls for one search (one per
given name, then the full list): the calls in a row for the same person, with no other INSi call
between them, are one search. What the product *kept* from INSi's answer (the identity, its INS and
status, what it told the user, how it compared a stored INS during a verification) never goes back
on the wire: reading it skips the test as ``not_observed`` (:class:`ObservedAnswer`), so INS-01 to
INS-04 (and INS-08's request) are judged, and the requirements on the answer's use are left to
``segur run``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lxml import etree

from harness.core import ins
from harness.core.recorder import Exchange
from harness.run.observed import Handlers, ObservedAnswer, not_observed

if TYPE_CHECKING:
    from harness.run.observed import ObservedTest

SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
TRAITS_BODY, VITALE_BODY = "RECSANSVITALE", "RECVITALE"  # the body elements of the CNAM WSDL's two operations
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def _body(exchange: Exchange) -> etree._Element | None:
    """The request's first SOAP 1.2 body element, whatever its namespace."""
    try:
        root = etree.fromstring(exchange.request_body, _PARSER)
    except etree.XMLSyntaxError:
        return None
    return root.find(f"{{{SOAP12}}}Body/*")


def _field(body: etree._Element, *path: str) -> str:
    node = body
    for name in path:
        child = next((c for c in node if isinstance(c.tag, str) and etree.QName(c).localname == name), None)
        if child is None:
            return ""
        node = child
    return (node.text or "").strip()


def _is(body: etree._Element | None, name: str) -> bool:
    return body is not None and etree.QName(body).localname == name


def _traits_search_of(nom_naissance: str) -> Callable[[Exchange], bool]:
    wanted = ins.normalise_name(nom_naissance)

    def matches(exchange: Exchange) -> bool:
        body = _body(exchange) if exchange.service == "insi" else None
        if body is None or not _is(body, TRAITS_BODY):
            return False
        return ins.normalise_name(_field(body, "NomNaissance")) == wanted

    return matches


def _vitale_search_of(matricule_individu: str, nom_naissance: str) -> Callable[[Exchange], bool]:
    def matches(exchange: Exchange) -> bool:
        body = _body(exchange) if exchange.service == "insi" else None
        if body is None or not _is(body, VITALE_BODY):
            return False
        number, name = _field(body, "MatriculeIndividu", "NumIdentifiant"), _field(body, "NomNaissance")
        same_card = bool(number) and matricule_individu.startswith(number)
        return same_card or (bool(nom_naissance) and ins.normalise_name(name) == ins.normalise_name(nom_naissance))

    return matches


def _searches(view: ObservedTest, matches: Callable[[Exchange], bool]) -> list[list[int]]:
    """The searches that fit, each the indexes of its calls in a row (no other INSi call between them)."""
    groups: list[list[int]] = []
    previous_insi: int | None = None
    for index, exchange in enumerate(view.session.exchanges):
        if exchange.service != "insi":
            continue
        if matches(exchange):
            if groups and previous_insi is not None and groups[-1][-1] == previous_insi:
                groups[-1].append(index)
            else:
                groups.append([index])
        previous_insi = index
    return groups


def _take_search(view: ObservedTest, matches: Callable[[Exchange], bool], missing: tuple[str, str]) -> None:
    groups = _searches(view, matches)
    if not groups:
        raise not_observed(*missing)
    later = [g for g in groups if g[0] > view.horizon]
    for index in later[0] if later else groups[-1]:
        view.take(index)


def _who(params: dict[str, Any]) -> str:
    given = " ".join(params.get("prenoms") or [])
    return f"{params.get('nom_naissance', '')} {given}".strip() + f" (born {params.get('date_naissance', '?')})"


def _who_fr(params: dict[str, Any]) -> str:
    given = " ".join(params.get("prenoms") or [])
    return f"{params.get('nom_naissance', '')} {given}".strip() + f" (né(e) le {params.get('date_naissance', '?')})"


def _kept(who: str, who_fr: str) -> ObservedAnswer:
    why = (
        f"what the product kept from INSi's answer for {who} (identity, INS and OID, status, what it told the user) "
        "is not on the wire: segur run judges it",
        f"ce que le produit a conservé de la réponse d'INSi pour {who_fr} (identité, INS et OID, statut, ce qu'il a "
        "indiqué à l'utilisateur) ne se voit pas dans les échanges : segur run le juge",
    )
    return ObservedAnswer({}, {"outcome": why, "identity": why, "message": why})


def search_by_traits(view: ObservedTest, params: dict[str, Any]) -> dict[str, Any]:
    who, who_fr = _who(params), _who_fr(params)
    _take_search(
        view,
        _traits_search_of(str(params.get("nom_naissance") or "")),
        (
            f"no INSi search by traits for {who} recorded in this session (search this person's INS by traits)",
            f"aucune recherche INSi par traits pour {who_fr} enregistrée dans cette session "
            "(rechercher l'INS de cette personne par ses traits)",
        ),
    )
    return _kept(who, who_fr)


def search_by_carte_vitale(view: ObservedTest, params: dict[str, Any]) -> dict[str, Any]:
    card, nom = str(params.get("matricule_individu") or ""), str(params.get("nom_naissance") or "")
    _take_search(
        view,
        _vitale_search_of(card, nom),
        (
            f"no INSi search by carte Vitale for the card of {nom} (matricule {card}) recorded in this session",
            f"aucune recherche INSi par carte Vitale pour la carte de {nom} (matricule {card}) "
            "enregistrée dans cette session",
        ),
    )
    return _kept(f"the card of {nom}", f"la carte de {nom}")


def verify_identity(view: ObservedTest, params: dict[str, Any]) -> dict[str, Any]:
    """A verification is a search by the stored traits on the wire; its conclusion stays in the product."""
    identity = params["identity"]
    who, who_fr = _who(identity), _who_fr(identity)
    _take_search(
        view,
        _traits_search_of(str(identity.get("nom_naissance") or "")),
        (
            f"no INSi call verifying the stored identity of {who} (a search by its traits) recorded in this session",
            f"aucun appel INSi vérifiant l'identité enregistrée de {who_fr} (une recherche par ses traits) "
            "enregistré dans cette session",
        ),
    )
    why = (
        f"whether the product compared INSi's INS with the stored one ({identity.get('ins')}) for {who}, and what it "
        "kept after the verification, is not on the wire: segur run judges it",
        f"la comparaison par le produit de l'INS d'INSi avec l'INS enregistré ({identity.get('ins')}) pour {who_fr}, "
        "et ce qu'il a conservé après la vérification, ne se voient pas dans les échanges : segur run les juge",
    )
    return ObservedAnswer({}, {"outcome": why, "identity": why, "message": why})


def export_identity(view: ObservedTest, params: dict[str, Any]) -> dict[str, Any]:
    status = (params.get("identity") or {}).get("status", "?")
    raise not_observed(
        f"what the product exports for an identity of status {status} (identity.export) is not in the session's "
        "INSi traffic: segur run judges it",
        f"ce que le produit exporte pour une identité de statut {status} (identity.export) ne se voit pas dans les "
        "échanges INSi de la session : segur run le juge",
    )


HANDLERS: Handlers = {
    "insi.search_by_traits": search_by_traits,
    "insi.search_by_carte_vitale": search_by_carte_vitale,
    "insi.verify_identity": verify_identity,
    "identity.export": export_identity,
}
