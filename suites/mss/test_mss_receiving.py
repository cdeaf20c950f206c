"""Receiving MSSanté messages: the harness delivers mail to the product and judges what it does."""

from __future__ import annotations

import os

import pytest

from harness.core.results import Finding
from harness.protocols import mssmail, xdm
from harness.run.sut import xdm_writer
from harness.run.sut.reference_cda import build_n1_document, minimal_pdf
from harness.run.verify import expect
from harness.run.verify import mss as verify
from suites.dmp.patients import identity

pytestmark = pytest.mark.segur_service("mss")

# The product's mailbox: the reference product's APP mailbox unless the vendor names its own.
PRODUCT_MAILBOX = os.environ.get("SEGUR_MSS_MAILBOX", "dpi-reference@harnais.mssante.fr")
HARNESS_MAILBOX = "docteur.medecin-test@harnais.mssante.fr"  # where the product's MDNs must arrive


def incoming(document_patient: dict, subject_patient: dict) -> bytes:
    """A document for ``document_patient`` whose subject names ``subject_patient`` (a trap for subject parsing)."""
    cda = build_n1_document(document_patient, title="Compte rendu reçu")
    package = xdm_writer.build_xdm(
        cda, pdf=minimal_pdf("Compte rendu reçu"), recipients=[PRODUCT_MAILBOX], sender=HARNESS_MAILBOX
    )
    return mssmail.DocumentMessage(
        sender=HARNESS_MAILBOX,
        recipients=[PRODUCT_MAILBOX],
        subject=mssmail.document_subject("Compte rendu reçu", subject_patient),
        body="Bonjour,\n\nci-joint un compte rendu.\n",
        xdm=package,
        pdf=minimal_pdf("Compte rendu reçu"),
        cda_codes=(xdm.cda_code(cda) or "",),
        nil="SEGUR-HARNESS",
        ack_to=HARNESS_MAILBOX,
    ).to_bytes()


def receive(sut, mss, raw: bytes) -> tuple[str, dict | None]:
    raw = mss.deliver(PRODUCT_MAILBOX, raw)
    message_id = str(mssmail.parse(raw)["Message-ID"])
    answer = sut.perform("mss.receive").data
    mine = [m for m in answer.get("messages", []) if m.get("message_id") == message_id]
    return message_id, mine[-1] if mine else None


@pytest.mark.requirement("MSS-07")
def test_patient_is_identified_from_metadata_not_subject(sut, mss):
    """Patient identifié par METADATA.XML (patientId), pas par l'objet du message."""
    document_patient, subject_patient = identity("OUVERT"), identity("VIDE")
    _, result = receive(sut, mss, incoming(document_patient, subject_patient))
    findings = []
    if result is None:
        findings.append(
            Finding(
                "mss.received",
                "the product did not report the delivered message",
                message_fr="le produit n'a pas rendu compte du message remis",
                requirement="MSS-07",
            )
        )
    elif (result.get("patient") or {}).get("ins") != document_patient["ins"]:
        findings.append(
            Finding(
                "mss.patient-from-metadata",
                "the product attached the document to another patient than the one of METADATA.XML",
                message_fr="le produit a rattaché le document à un autre patient que celui de METADATA.XML",
                requirement="MSS-07",
                expected=document_patient["ins"],
                received=str(result.get("patient")),
            )
        )
    expect(findings)


@pytest.mark.requirement("MSS-08")
def test_integration_is_acknowledged(sut, mss):
    """MDN processed pour un message intégré (Original-Message-ID, Final-Recipient)."""
    message_id, _ = receive(sut, mss, incoming(identity("OUVERT"), identity("OUVERT")))
    answers = [m.raw for m in mss.mailbox(HARNESS_MAILBOX)]
    expect(verify.check_mdn(answers, message_id, None, "MSS-08"))


@pytest.mark.requirement("MSS-08")
def test_unknown_patient_gets_a_negative_acknowledgement(sut, mss):
    """MDN processed/Error 902 et objet [KO Intégration système !][902] pour un patient inconnu."""
    stranger = {**identity("OUVERT"), "ins": "199019912399972", "nom_naissance": "INCONNU", "prenoms": ["PERSONNE"]}
    message_id, _ = receive(sut, mss, incoming(stranger, stranger))
    answers = [m.raw for m in mss.mailbox(HARNESS_MAILBOX)]
    expect(verify.check_mdn(answers, message_id, "902", "MSS-08"))
