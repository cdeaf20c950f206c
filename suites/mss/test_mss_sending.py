"""Sending documents by MSSanté: transport, message structure, XDM, X-MSS headers, patient mailboxes."""

from __future__ import annotations

import pytest

from harness.core.results import Finding
from harness.run.sut.base import SutFailure
from harness.run.verify import expect
from harness.run.verify import mss as verify
from suites.dmp.patients import identity

pytestmark = pytest.mark.segur_service("mss")

PATIENT = "OUVERT"
PROFESSIONAL = "claire.hospitaliere-test@harnais.mssante.fr"


def send(sut, mss, key: str = PATIENT) -> list[verify.Submitted]:
    answer = sut.perform(
        "mss.send_document",
        patient=identity(key),
        recipient=PROFESSIONAL,
        title="Compte rendu",
        document_type=sut.flow.document_type(),
    )
    if answer.data["outcome"] != "sent":
        raise SutFailure(f"the product did not send the document: {answer.data.get('message')}")
    return verify.submitted(mss.exchanges())


@pytest.mark.requirement("MSS-01")
def test_submission_uses_tls_and_strong_authentication(sut, mss):
    """TLS avant authentification ; jeton PSC (XOAUTH2/OAUTHBEARER) ou certificat ORG."""
    expect(verify.check_transport(send(sut, mss)))


@pytest.mark.requirement("MSS-02")
def test_document_message_structure(sut, mss):
    """Objet XDM/1.0/DDM+..., corps UTF-8, IHE_XDM.ZIP et copie PDF."""
    expect(verify.check_structure(send(sut, mss), identity(PATIENT)))


@pytest.mark.requirement("MSS-03")
def test_xdm_package_is_valid(sut, mss):
    """Archive XDM conforme : structure, métadonnées, tailles et empreintes, patient, CDA."""
    expect(verify.check_xdm(send(sut, mss)))


@pytest.mark.requirement("MSS-04")
def test_x_mss_headers(sut, mss):
    """X-MSS-CODECDA, X-MSS-INS et X-MSS-NIL."""
    expect(verify.check_headers(send(sut, mss), identity(PATIENT)))


@pytest.mark.requirement("MSS-05")
def test_patient_mailbox_only_with_a_qualified_ins(sut, mss):
    """Envoi à <INS>@patient.mssante.fr avec une INS qualifiée ; refus sinon."""
    qualified = identity(PATIENT)
    sent = sut.perform("mss.send_to_patient", patient=qualified, title="Compte rendu").data
    findings = verify.check_patient_recipients(verify.submitted(mss.exchanges()), qualified)
    if sent["outcome"] != "sent":
        findings.append(
            Finding(
                "mss.patient-send",
                "the product did not write to the patient of a qualified INS",
                message_fr="le produit n'a pas écrit au patient dont l'INS est qualifié",
                requirement="MSS-05",
                received=sent.get("message"),
            )
        )
    before = len(verify.submitted(mss.exchanges()))
    unqualified = {**identity("VIDE"), "status": "VALI"}
    sut.perform("mss.send_to_patient", patient=unqualified, title="Compte rendu")
    findings += verify.check_patient_recipients(verify.submitted(mss.exchanges())[before:], unqualified)
    expect(findings)


@pytest.mark.requirement("MSS-06")
def test_an_acknowledgement_is_requested(sut, mss):
    """Demande d'accusé de traitement (Disposition-Notification-To)."""
    expect(verify.check_acknowledgement_requested(send(sut, mss)))
