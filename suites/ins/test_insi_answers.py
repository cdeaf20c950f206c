"""What the product does with INSi's answers: identities kept, 01/02, history, NIA, Corsica, faults."""

from __future__ import annotations

import pytest

from harness.run.verify import expect
from harness.run.verify import insi as verify
from suites.ins.persons import stored_identity, traits, trusted_cards

pytestmark = pytest.mark.segur_service("insi")


@pytest.mark.requirement("INS-05")
@pytest.mark.parametrize("key", ["ADRUN-ZOE", "TCHITCHI-CATARINA", "NESSI-MICHELANGELO"])
def test_found_identity_is_kept_as_returned(sut, insi, key):
    """Sur CR 00, le logiciel conserve l'INS actif, son OID et les traits stricts exactement comme renvoyés."""
    params = traits(key)
    answer = sut.perform("insi.search_by_traits", **params)
    expect(verify.check_kept_identity(answer.data, insi.exchanges(), "INS-05", params, trusted_cards(insi)))


@pytest.mark.requirement("INS-06")
def test_no_identity_found_keeps_nothing(sut, insi):
    """Sur CR 01, aucun INS n'est conservé et l'utilisateur est informé."""
    params = traits("HOUILLES-PIERRE")
    answer = sut.perform("insi.search_by_traits", **params)
    verify.require_answer(insi.exchanges(), "INS-06", ("01",), params, trusted_cards(insi))
    expect(verify.check_no_identity_kept(answer.data, "not_found", "INS-06"))


@pytest.mark.requirement("INS-07")
def test_several_identities_found_keeps_nothing(sut, insi):
    """Sur CR 02, aucun INS n'est conservé et l'utilisateur doit préciser les traits."""
    params = traits("DE-VINCI-LEONARDO-1")
    answer = sut.perform("insi.search_by_traits", **params)
    verify.require_answer(insi.exchanges(), "INS-07", ("02",), params, trusted_cards(insi))
    expect(verify.check_no_identity_kept(answer.data, "multiple", "INS-07"))


@pytest.mark.requirement("INS-10")
def test_active_ins_is_kept_not_a_historic_one(sut, insi):
    """Avec un historique (INSHISTO), c'est le matricule INSACTIF qui est conservé."""
    params = traits("ECETINSI-PIERRE-ALAIN")
    answer = sut.perform("insi.search_by_traits", **params)
    expect(verify.check_kept_identity(answer.data, insi.exchanges(), "INS-10", params, trusted_cards(insi)))


@pytest.mark.requirement("INS-12")
def test_nia_is_kept_with_the_nia_oid(sut, insi):
    """Un NIA se reconnaît à son OID (…4.9) et est conservé avec lui."""
    params = traits("PROVISOIRE-MATRICULE")
    answer = sut.perform("insi.search_by_traits", **params)
    expect(verify.check_kept_identity(answer.data, insi.exchanges(), "INS-12", params, trusted_cards(insi)))


@pytest.mark.requirement("INS-14")
def test_corsica_matricule_is_kept_unchanged(sut, insi):
    """Un matricule né en Corse (2A/2B) est accepté et conservé tel quel."""
    params = traits("CORSE-ANTHONY")
    answer = sut.perform("insi.search_by_traits", **params)
    expect(verify.check_kept_identity(answer.data, insi.exchanges(), "INS-14", params, trusted_cards(insi)))


@pytest.mark.requirement("INS-13")
@pytest.mark.parametrize("fault", ["technical", "unavailable"])
def test_insi_failure_is_reported_as_a_failure(sut, insi, fault):
    """Une erreur technique ou une indisponibilité d'INSi est signalée comme telle, sans INS conservé."""
    insi.scenario(fault=fault)
    answer = sut.perform("insi.search_by_traits", **traits("ADRUN-ZOE"))
    expect(verify.check_no_identity_kept(answer.data, "error", "INS-13"))


@pytest.mark.requirement("INS-09")
def test_verification_confirms_a_correct_stored_ins(sut, insi):
    """La vérification d'un INS correct enregistré interroge INSi avec les traits et conclut « vérifié »."""
    stored = stored_identity("ADRUN-ZOE")
    answer = sut.perform("insi.verify_identity", identity=stored)
    calls = verify.business_exchanges(insi.exchanges())
    if calls:
        verify.require_answer(insi.exchanges(), "INS-09", ("00",), stored, trusted_cards(insi))
    expect(
        verify.no_exchange("INS-09") if not calls else [],
        verify.check_no_identity_kept({"outcome": answer.outcome}, "verified", "INS-09"),
    )


@pytest.mark.requirement("INS-09")
def test_verification_detects_a_wrong_stored_ins(sut, insi):
    """La vérification signale un INS enregistré qui diffère de celui renvoyé par INSi."""
    wrong = stored_identity("ADRUN-ZOE", ins=stored_identity("NESSI-MICHELANGELO")["ins"])
    answer = sut.perform("insi.verify_identity", identity=wrong)
    calls = verify.business_exchanges(insi.exchanges())
    if calls:
        verify.require_answer(insi.exchanges(), "INS-09", ("00",), wrong, trusted_cards(insi))
    expect(
        verify.no_exchange("INS-09") if not calls else [],
        verify.check_no_identity_kept({"outcome": answer.outcome}, "mismatch", "INS-09"),
    )


@pytest.mark.requirement("INS-17")
@pytest.mark.parametrize("key", ["INSI-JOUR-00", "INSI-MOIS-00"])
def test_birth_date_with_00_is_not_imported(sut, insi, key):
    """Règle 11 : une réponse INSi dont la date de naissance porte 00 en jour ou en mois n'est pas importée."""
    params = traits(key)
    answer = sut.perform("insi.search_by_traits", **params)
    expect(verify.check_incomplete_answer_not_imported(answer.data, insi.exchanges(), "INS-17", params))


@pytest.mark.requirement("INS-18")
@pytest.mark.parametrize("key", ["INSI-NOM-VIDE", "INSI-PRENOMS-VIDES", "INSI-SEXE-VIDE"])
def test_empty_traits_are_not_imported(sut, insi, key):
    """Règle 12 : une réponse INSi au nom de naissance, aux prénoms ou au sexe vide n'est pas importée."""
    params = traits(key)
    answer = sut.perform("insi.search_by_traits", **params)
    expect(verify.check_incomplete_answer_not_imported(answer.data, insi.exchanges(), "INS-18", params))


@pytest.mark.requirement("INS-19")
@pytest.mark.parametrize("status", ["QUAL", "RECUP"])
def test_failed_verification_downgrades_and_drops_the_ins(sut, insi, status):
    """Règle 49 : une vérification en échec rétrograde le statut de l'identité et supprime l'INS et son OID."""
    wrong = stored_identity("ADRUN-ZOE", status=status, ins=stored_identity("NESSI-MICHELANGELO")["ins"])
    answer = sut.perform("insi.verify_identity", identity=wrong)
    verify.require_answer(insi.exchanges(), "INS-19", ("00",), wrong, trusted_cards(insi))
    expect(verify.check_failed_verification_downgrades(answer.data, wrong))
