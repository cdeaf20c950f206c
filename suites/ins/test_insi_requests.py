"""How the product calls INSi: envelope, headers, traits, authentication."""

from __future__ import annotations

import pytest

from harness.run.verify import expect
from harness.run.verify import insi as verify
from suites.ins.persons import traits, trusted_cards, with_carte_vitale

pytestmark = pytest.mark.segur_service("insi")

FOUND = "ADRUN-ZOE"


@pytest.mark.requirement("INS-01")
def test_calls_are_soap12_with_ws_addressing(sut, insi):
    """Chaque appel INSi est une enveloppe SOAP 1.2 avec wsa:Action de l'opération et un wsa:MessageID unique."""
    sut.perform("insi.search_by_traits", **traits(FOUND))
    expect(verify.check_addressing(verify.business_exchanges(insi.exchanges())))


@pytest.mark.requirement("INS-02")
def test_calls_carry_bam_and_lps_contexts(sut, insi):
    """Chaque appel porte ContexteBAM et ContexteLPS avec l'IDAM du logiciel, sa version, son instance et son nom."""
    sut.perform("insi.search_by_traits", **traits(FOUND))
    expect(verify.check_contexts(insi.exchanges()))


@pytest.mark.requirement("INS-03")
def test_traits_search_sends_traits_in_insi_formats(sut, insi):
    """La recherche par traits envoie nom de naissance, prénom(s), sexe M/F, date AAAA-MM-JJ et lieu COG."""
    params = traits(FOUND)
    sut.perform("insi.search_by_traits", **params)
    expect(verify.check_traits_request(verify.business_exchanges(insi.exchanges()), params))


@pytest.mark.requirement("INS-04")
def test_authenticates_with_an_insi_organisation_certificate(sut, insi):
    """Le logiciel s'authentifie avec un certificat d'organisation dont le CN est INSI-AUTO ou INSI-MANU."""
    sut.perform("insi.search_by_traits", **traits(FOUND))
    expect(verify.check_authentication(insi.exchanges(), trusted_cards(insi)))


@pytest.mark.requirement("INS-08")
def test_carte_vitale_search_sends_card_data_and_keeps_identity(sut, insi):
    """La recherche par carte Vitale transmet le matricule de l'individu et conserve l'identité renvoyée."""
    entry = with_carte_vitale()
    card = entry["carte_vitale"]
    answer = sut.perform(
        "insi.search_by_carte_vitale",
        matricule_individu=card["matricule_individu"],
        nom_naissance=entry["nom_naissance"],
        date_naissance=entry["date_naissance"],
        rang_naissance=card.get("rang_naissance", "1"),
        identity_document_checked=False,
    )
    exchanges = verify.business_exchanges(insi.exchanges())
    vitale_calls = [e for e in exchanges if e.operation == "rechercherInsAvecCarteVitale"]
    # A badly formed request is this requirement's own failure: there is no answer to judge after it.
    request_findings = verify.check_carte_vitale_request(vitale_calls, card, entry["date_naissance"])
    if request_findings:
        expect(request_findings)
    expect(verify.check_kept_identity(answer.data, vitale_calls, "INS-08", None, trusted_cards(insi)))
