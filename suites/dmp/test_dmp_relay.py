"""Relaying to the DMP (PFI): the document another system produced is shared as it came."""

from __future__ import annotations

import base64

import pytest

from harness.run.sut.base import SutFailure
from harness.run.sut.reference_cda import build_n1_document
from harness.run.verify import dmp as verify
from harness.run.verify import expect
from suites.dmp.patients import identity

pytestmark = pytest.mark.segur_service("dmp")

PATIENT = "OUVERT"


@pytest.mark.requirement("DMP-21")
def test_relayed_document_is_shared_as_it_came(sut, dmp):
    """Le document reçu d'un système émetteur est partagé tel quel (mêmes octets), et accepté."""
    # The emitting system's document: a harness-made N1 of the couloir's document type.
    received = build_n1_document(
        identity(PATIENT), title="Compte rendu du plateau technique", document_type=sut.flow.document_type_pair()
    )
    answer = sut.perform(
        "dmp.relay_document",
        patient=identity(PATIENT),
        document=base64.b64encode(received).decode("ascii"),
        masking=[],
    ).data
    feeds = verify.requests(dmp.exchanges(), "TD2.1")
    if not feeds:
        expect(verify.none_recorded("DMP-21", "relayed feed (TD2.1)", "alimentation relayée (TD2.1)"))
    expect(verify.check_relay(feeds[-1], received))
    if answer.get("outcome") != "stored":
        raise SutFailure(f"the product did not report the relayed document as stored: {answer.get('message')}")
