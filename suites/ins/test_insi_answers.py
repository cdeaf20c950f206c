"""What the product does with INSi's answers: identities kept, 01/02, history, NIA, Corsica, faults."""

from __future__ import annotations

import pytest

from harness.verify import expect
from harness.verify import insi as verify
from suites.ins.persons import stored_identity, traits

pytestmark = pytest.mark.segur_service("insi")


@pytest.mark.requirement("INS-05")
@pytest.mark.parametrize("key", ["ADRUN-ZOE", "TCHITCHI-CATARINA", "NESSI-MICHELANGELO"])
def test_found_identity_is_kept_as_returned(sut, insi, key):
    """Sur CR 00, le logiciel conserve l'INS actif, son OID et les traits stricts exactement comme renvoyés."""
    answer = sut.perform("insi.search_by_traits", **traits(key))
    expect(verify.check_kept_identity(answer.data, insi.exchanges(), "INS-05"))


@pytest.mark.requirement("INS-06")
def test_no_identity_found_keeps_nothing(sut, insi):
    """Sur CR 01, aucun INS n'est conservé et l'utilisateur est informé."""
    answer = sut.perform("insi.search_by_traits", **traits("HOUILLES-PIERRE"))
    expect(verify.check_no_identity_kept(answer.data, "not_found", "INS-06"))


@pytest.mark.requirement("INS-07")
def test_several_identities_found_keeps_nothing(sut, insi):
    """Sur CR 02, aucun INS n'est conservé et l'utilisateur doit préciser les traits."""
    answer = sut.perform("insi.search_by_traits", **traits("DE-VINCI-LEONARDO-1"))
    expect(verify.check_no_identity_kept(answer.data, "multiple", "INS-07"))


@pytest.mark.requirement("INS-10")
def test_active_ins_is_kept_not_a_historic_one(sut, insi):
    """Avec un historique (INSHISTO), c'est le matricule INSACTIF qui est conservé."""
    answer = sut.perform("insi.search_by_traits", **traits("ECETINSI-PIERRE-ALAIN"))
    expect(verify.check_kept_identity(answer.data, insi.exchanges(), "INS-10"))


@pytest.mark.requirement("INS-12")
def test_nia_is_kept_with_the_nia_oid(sut, insi):
    """Un NIA se reconnaît à son OID (…4.9) et est conservé avec lui."""
    answer = sut.perform("insi.search_by_traits", **traits("PROVISOIRE-MATRICULE"))
    expect(verify.check_kept_identity(answer.data, insi.exchanges(), "INS-12"))


@pytest.mark.requirement("INS-14")
def test_corsica_matricule_is_kept_unchanged(sut, insi):
    """Un matricule né en Corse (2A/2B) est accepté et conservé tel quel."""
    answer = sut.perform("insi.search_by_traits", **traits("CORSE-ANTHONY"))
    expect(verify.check_kept_identity(answer.data, insi.exchanges(), "INS-14"))


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
    answer = sut.perform("insi.verify_identity", identity=stored_identity("ADRUN-ZOE"))
    calls = verify.business_exchanges(insi.exchanges())
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
    expect(
        verify.no_exchange("INS-09") if not calls else [],
        verify.check_no_identity_kept({"outcome": answer.outcome}, "mismatch", "INS-09"),
    )
