"""Identity status (RNIV) and what may leave the product."""

from __future__ import annotations

import pytest

from harness.run.verify import expect
from harness.run.verify import insi as verify
from suites.ins.persons import stored_identity, traits, trusted_cards

pytestmark = pytest.mark.segur_service("insi")


@pytest.mark.requirement("INS-11")
@pytest.mark.parametrize("document_checked", [False, True], ids=["without-document", "with-document"])
def test_identity_status_follows_document_check(sut, insi, document_checked):
    """Identité INSi sans contrôle de pièce: RECUP; avec contrôle d'une pièce à haut niveau de confiance: QUAL."""
    params = traits("ADRUN-ZOE", document_checked=document_checked)
    answer = sut.perform("insi.search_by_traits", **params)
    verify.require_answer(insi.exchanges(), "INS-11", ("00",), params, trusted_cards(insi))
    expect(verify.check_status(answer.data, document_checked))


@pytest.mark.requirement("INS-16")
@pytest.mark.parametrize("status", ["PROV", "RECUP", "VALI", "QUAL"])
def test_only_a_qualified_identity_carries_the_ins(sut, status):
    """Seule une identité qualifiée porte le matricule INS dans ce qui est échangé ou partagé."""
    identity = stored_identity("ADRUN-ZOE", status=status)
    answer = sut.perform("identity.export", identity=identity)
    expect(verify.check_export(answer.data, identity))
