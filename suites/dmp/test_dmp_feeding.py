"""Feeding the DMP (TD2.1): transport, VIHF, patient identity, metadata, CDA, signature."""

from __future__ import annotations

import pytest

from harness.content import xds_metadata
from harness.protocols import xds
from harness.run.verify import dmp as verify
from harness.run.verify import expect
from suites.dmp.patients import identity

pytestmark = pytest.mark.segur_service("dmp")

PATIENT = "OUVERT"


def trusted_cas(env) -> list:
    return env.trusted_cas()


def feed(sut, dmp, requirement: str, key: str = PATIENT) -> tuple[verify.DmpRequest, xds.Submission]:
    """Ask the product to share a document; the recorded TD2.1 request is the evidence."""
    sut.perform(
        "dmp.feed_document",
        patient=identity(key),
        title="Compte rendu de consultation",
        masking=[],
        document_type=sut.flow.document_type(),
    )
    feeds = verify.requests(dmp.exchanges(), "TD2.1")
    if not feeds:
        expect(verify.none_recorded(requirement, "feed (TD2.1)", "alimentation (TD2.1)"))
    submission = feeds[-1].submission()
    if submission is None:
        expect(
            verify.none_recorded(
                requirement,
                "TD2.1 request with a SubmitObjectsRequest",
                "requête TD2.1 portant un SubmitObjectsRequest",
            )
        )
    assert submission is not None
    return feeds[-1], submission


@pytest.mark.requirement("DMP-01")
def test_calls_are_soap12_ws_addressing_mtls_and_mtom(sut, dmp):
    """SOAP 1.2, wsa:Action et wsa:MessageID uniques, bon service DMPi, TLS client, MTOM pour la TD2.1."""
    sut.perform("dmp.check_dmp", patient=identity(PATIENT))
    feed(sut, dmp, "DMP-01")
    expect(verify.check_transport(verify.requests(dmp.exchanges())))


@pytest.mark.requirement("DMP-02")
def test_vihf_is_signed_by_a_trusted_signature_key(sut, dmp, segur_env):
    """VIHF signé (clé de signature, autorité de confiance), signature sur l'assertion, dans sa validité."""
    feed(sut, dmp, "DMP-02")
    expect(verify.check_vihf_signature(verify.requests(dmp.exchanges()), trusted_cas(segur_env)))


@pytest.mark.requirement("DMP-03")
def test_vihf_carries_the_expected_attributes(sut, dmp, segur_env):
    """Attributs du VIHF complets ; resource-id = patient de la requête."""
    sut.perform("dmp.check_dmp", patient=identity(PATIENT))
    feed(sut, dmp, "DMP-03")
    expect(verify.check_vihf_attributes(verify.requests(dmp.exchanges()), trusted_cas(segur_env)))


@pytest.mark.requirement("DMP-04")
def test_feeding_identifies_the_patient_by_ins(sut, dmp):
    """patientId du lot et des fiches = INS du patient (CX avec OID INS)."""
    request, submission = feed(sut, dmp, "DMP-04")
    expect(xds_metadata.check_patient_identity(submission, identity(PATIENT), request.where))


@pytest.mark.requirement("DMP-05")
def test_feeding_metadata_are_complete_and_coded(sut, dmp):
    """Métadonnées XDS complètes, codées dans les systèmes du DMP, uniqueId racine seule."""
    request, submission = feed(sut, dmp, "DMP-05")
    expect(xds_metadata.check_metadata(submission, request.where))


@pytest.mark.requirement("DMP-06")
def test_feeding_metadata_repeat_the_cda(sut, dmp):
    """typeCode, confidentialité, secteur, cadre d'exercice, dates, patient, auteur = ceux du CDA."""
    request, submission = feed(sut, dmp, "DMP-06")
    findings = xds_metadata.check_cda(submission, request.documents(), request.where)
    expect([f for f in findings if f.requirement == "DMP-06"])


@pytest.mark.requirement("DMP-07")
def test_fed_cda_follows_the_header_rules_for_the_dmp(sut, dmp):
    """Le CDA joint respecte les règles d'en-tête CI-SIS pour le DMP."""
    request, submission = feed(sut, dmp, "DMP-07")
    findings = xds_metadata.check_cda(submission, request.documents(), request.where)
    expect([f for f in findings if f.requirement == "DMP-07"])


@pytest.mark.requirement("DMP-08")
def test_submission_carries_a_valid_signature_document(sut, dmp, segur_env):
    """Document de signature associé par signs, signature valide et de confiance, manifeste complet."""
    request, submission = feed(sut, dmp, "DMP-08")
    expect(
        xds_metadata.check_signature_document(submission, request.documents(), trusted_cas(segur_env), request.where)
    )
