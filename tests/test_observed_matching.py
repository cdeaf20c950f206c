"""How ``segur judge`` finds a test's INSi, PSC and CDA actions in a session, on hand-made exchanges.

The end-to-end tests (test_observe_judge_services.py) drive a product; these build the session's
exchanges directly, to pin the matching rules a person's way of using a product exercises: a login
left unfinished then started again, a search of several calls, other people searched in between.
"""

from __future__ import annotations

from typing import Any

import pytest

from harness.core.recorder import OK, Exchange
from harness.core.results import SkipKind
from harness.core.skips import NotEvaluated
from harness.run import observed_actions, observed_cda
from harness.run.observed import ObservedSut
from harness.run.observed_psc import ObservedBrowser
from harness.run.useragent import LoginFailed

SESSION = "unit-session"
CALLBACK = "http://127.0.0.1:8765/callback"


def exchange(service: str, operation: str, seq: int, body: bytes = b"", **fields: Any) -> Exchange:
    return Exchange(service, SESSION, operation, OK, body, b"", 0.0, 0.0, seq=seq, **fields)


def traits_call(seq: int, nom: str, prenom: str) -> Exchange:
    body = (
        '<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body>'
        f'<RECSANSVITALE xmlns="http://www.cnamts.fr/INSiRecSans"><NomNaissance>{nom}</NomNaissance>'
        f"<Prenom>{prenom}</Prenom></RECSANSVITALE></soap:Body></soap:Envelope>"
    )
    return exchange("insi", "rechercherInsAvecTraitsIdentite", seq, body.encode())


def authorize(seq: int, status: int, state: str, location: str | None = None, **params: str) -> Exchange:
    headers = {"location": location} if location else {}
    return exchange(
        "psc",
        "authorize",
        seq,
        http_status=status,
        request_meta={"method": "GET", "path": "/auth", "query": f"state={state}"},
        response_meta={"headers": headers},
        summary={"params": {"state": state, "client_id": "c", **params}},
    )


def token(seq: int, code: str) -> Exchange:
    body = f"grant_type=authorization_code&code={code}".encode()
    return exchange("psc", "token", seq, body, http_status=200, summary={"grant_type": "authorization_code"})


def act(view: Any, action: str, **params: Any) -> Any:
    return view.perform(action, params, None).data  # the observed product reads no endpoint


def view_of(*exchanges: Exchange) -> Any:
    return ObservedSut(SESSION, list(exchanges), observed_actions.HANDLERS).test()


def test_a_search_is_the_calls_in_a_row_for_one_person_and_others_between_split_it():
    adrun = [traits_call(1, "ADRUN", "ZOE"), traits_call(2, "adrun", "ZOE"), traits_call(4, "ADRUN", "ZOE")]
    view = view_of(adrun[0], adrun[1], traits_call(3, "NESSI", "ANTHONY"), adrun[2])
    act(view, "insi.search_by_traits", nom_naissance="ADRUN", prenoms=["ZOE"], date_naissance="1975-12-31")
    assert [e.seq for e in view.exchanges("insi")] == [1, 2], "the first search only, both of its calls"
    with pytest.raises(NotEvaluated) as skipped:
        act(view_of(*adrun), "insi.search_by_traits", nom_naissance="CORSE", prenoms=["ANTHONY"])
    assert skipped.value.kind is SkipKind.NOT_OBSERVED and "no INSi search by traits for CORSE" in skipped.value.en


def test_what_the_product_kept_from_insi_is_not_observed():
    view = view_of(traits_call(1, "ADRUN", "ZOE"))
    answer = act(view, "insi.search_by_traits", nom_naissance="ADRUN", prenoms=["ZOE"])
    with pytest.raises(NotEvaluated) as skipped:
        answer.get("identity")
    assert "what the product kept from INSi's answer for ADRUN ZOE" in skipped.value.en
    with pytest.raises(NotEvaluated, match=r"identity\.export"):
        act(view, "identity.export", identity={"status": "VALI"})


def test_a_login_left_unfinished_gives_way_to_the_one_that_ended():
    view = view_of(
        authorize(1, 200, "abandoned"),  # the login page, never submitted
        authorize(2, 200, "second"),
        authorize(3, 302, "second", f"{CALLBACK}?code=C2&state=second", professional="899900000011"),
        token(4, "C1"),
        token(5, "C2"),
    )
    act(view, "psc.authorization_url")
    landed = ObservedBrowser(view).psc_login("ignored", "899900000011")
    assert landed == f"{CALLBACK}?code=C2&state=second"
    answer = act(view, "psc.callback", url=landed)
    assert [e.seq for e in view.exchanges("psc")] == [2, 3, 5], "the code exchanged is the one of that login"
    with pytest.raises(NotEvaluated, match="whether the product let the professional in"):
        answer.get("outcome")
    with pytest.raises(NotEvaluated, match="a forged state, PSC-07"):
        act(view, "psc.callback", url=landed.replace("state=", "state=forged"))
    with pytest.raises(NotEvaluated, match="no token renewal"):
        act(view, "psc.refresh")


def test_a_login_the_provider_refused_is_the_products_failure_and_an_unfinished_one_is_not_observed():
    refused = view_of(authorize(1, 400, "s", error="redirect_uri 'x/' is not registered"))
    act(refused, "psc.authorization_url")
    with pytest.raises(LoginFailed, match="HTTP 400"):
        ObservedBrowser(refused).psc_login("ignored", "899900000011")
    unfinished = view_of(authorize(1, 200, "s"))
    act(unfinished, "psc.authorization_url")
    with pytest.raises(NotEvaluated, match="was not completed in this session"):
        ObservedBrowser(unfinished).psc_login("ignored", "899900000011")


def test_only_exchanges_carrying_a_cda_are_documents_sent():
    not_a_cda = exchange("dmp", "TD2.1", 1, b"<soap:Envelope xmlns:soap='urn:x'/>")
    assert observed_cda.documents_sent(not_a_cda) == []
    insi_call = exchange("insi", "rechercherInsAvecTraitsIdentite", 2, b"ClinicalDocument")
    assert observed_cda.documents_sent(insi_call) == []
    with pytest.raises(NotEvaluated, match="no CDA document sent by the product"):
        act(view_of(not_a_cda), "cda.produce_document", patient={}, title="Note de consultation")
