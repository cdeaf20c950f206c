"""Revocation of the operator's certificate by CRL: the last valid CRL is kept (SC.MSS/CONF.22)."""

from __future__ import annotations

import pytest

from harness.run.sut.base import SutFailure
from harness.run.verify import expect
from harness.run.verify import mss as verify
from harness.run.verify import mss_crl as verify_crl
from harness.run.verify.recorded import require_live
from suites.dmp.patients import identity

pytestmark = pytest.mark.segur_service("mss")

PATIENT = "OUVERT"
PROFESSIONAL = "claire.hospitaliere-test@harnais.mssante.fr"


def send_with(sut, mss, fault: str | None, certificate: str) -> verify_crl.CrlStep:
    """One send while the operator presents ``certificate`` and the distribution point answers ``fault``."""
    mss.present_crl_certificate(certificate)
    mail_before, fetched_before = mss.exchange_counts()
    answer = sut.perform(
        "mss.send_document",
        patient=identity(PATIENT),
        recipient=PROFESSIONAL,
        title="Compte rendu",
        document_type=sut.flow.document_type(),
    )
    mail_after, fetched_after = mss.exchange_counts()
    accepted = verify.submitted(mss.exchanges()[mail_before:mail_after])
    fetches = mss.crl_fetches()[fetched_before:fetched_after]
    return verify_crl.CrlStep(fault, certificate, answer.data, accepted, fetches)


@pytest.mark.requirement("MSS-12")
def test_last_valid_crl_is_kept_when_the_distribution_point_fails(sut, mss):
    """Le logiciel conserve la dernière CRL non expirée : une panne du point de distribution ne l'empêche pas de se
    connecter à l'opérateur, et le certificat que cette CRL révoque reste refusé."""
    first = send_with(sut, mss, None, "good")
    # Checked on this first send so that a rejudge, which replays it, reaches the same skip.
    require_live(
        "MSS-12",
        "the operator certificate and the CRL distribution point of the harness",
        "le certificat de l'opérateur et le point de distribution de CRL du harnais",
        exchanges=[m.exchange for m in first.accepted],
        answer=first.answer,
    )
    if not first.connected:
        message = first.answer.get("message")
        raise SutFailure(
            f"with its CRL published, the product did not send to the operator: {message}",
            f"avec sa CRL publiée, le produit n'a pas envoyé à l'opérateur : {message}",
        )
    steps = [first]
    for fault in verify_crl.crl_rules()["faults"]:
        mss.fail_crl_distribution(fault)
        steps += [send_with(sut, mss, fault, "good"), send_with(sut, mss, fault, "revoked")]
    expect(verify_crl.check_last_valid_crl_kept(steps))
