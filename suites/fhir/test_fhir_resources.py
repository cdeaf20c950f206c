"""FHIR R4 resources the product produces (artefact mode), judged against the French profiles."""

from __future__ import annotations

import base64
import binascii
import json
import time
from pathlib import Path
from typing import Any

import pytest

from harness.content.fhir import NotFhir, read_resource, terminology, validate_resource
from harness.core.recorder import record_artefact
from harness.core.results import SkipKind
from harness.core.skips import NotEvaluated
from harness.run.sut.base import SutFailure
from harness.run.verify import expect
from harness.run.verify import fhir as verify
from suites.ins.persons import stored_identity

PATIENT = "ADRUN-ZOE"
# What FHIR-02 judges of the Patient INS profile; FHIR-03 judges the rest of it.
INS_ELEMENTS = ("Patient.identifier",)
INS_INVARIANTS = ("fhir.invariant.fr-core-1",)


def produce(sut, segur_env, kind: str, **params: Any) -> dict[str, Any]:
    """Ask the product for a resource and keep it as evidence; skip when it produces none of this kind."""
    started = time.time()
    answer = sut.perform("fhir.produce_resource", kind=kind, **params).data
    if answer["outcome"] == "not_supported":
        because = answer.get("message", "not supported")
        raise NotEvaluated(
            SkipKind.NOT_PERFORMED,
            f"the product does not produce a FHIR {kind}: {because}",
            f"le produit ne produit pas de ressource FHIR {kind} : {because}",
        )
    if answer["outcome"] != "produced":
        because = answer.get("message", answer["outcome"])
        raise SutFailure(
            f"the product produced no FHIR {kind}: {because}",
            f"le produit n'a produit aucune ressource FHIR {kind} : {because}",
        )
    try:
        if "resource" in answer:
            raw = json.dumps(answer["resource"], ensure_ascii=False).encode()
        elif "path" in answer:
            raw = Path(answer["path"]).read_bytes()
        else:
            raw = base64.b64decode(answer["document"], validate=True)
    except (KeyError, OSError, binascii.Error, TypeError) as exc:
        raise SutFailure(f"the answer to fhir.produce_resource carries no readable resource: {exc}") from None
    record_artefact(segur_env.store, "fhir", sut.context.session_key, f"fhir.produce_resource:{kind}", raw, started)
    try:
        return read_resource(raw)
    except NotFhir as exc:
        raise SutFailure(f"the product's {kind} cannot be read as FHIR: {exc}") from None


def qualified_patient(sut, segur_env) -> dict[str, Any]:
    return produce(sut, segur_env, "patient", patient=stored_identity(PATIENT))


def bundle_of(sut, segur_env) -> dict[str, Any]:
    return produce(
        sut, segur_env, "document-bundle", patient=stored_identity(PATIENT), title="Compte rendu de consultation"
    )


@pytest.mark.requirement("FHIR-01")
def test_resources_have_the_r4_structure(sut, segur_env):
    """Ressources FHIR R4 structurellement valides (éléments, types, cardinalités de base)."""
    findings = []
    for kind, params in (
        ("patient", {"patient": stored_identity(PATIENT)}),
        ("practitioner", {}),
        ("organization", {}),
    ):
        findings += verify.structure(validate_resource(produce(sut, segur_env, kind, **params)))
    expect(findings)


@pytest.mark.requirement("FHIR-02")
def test_patient_ins_identifier(sut, segur_env):
    """INS dans la tranche d'identifiant FR Core de son OID, avec un matricule valide."""
    report = validate_resource(qualified_patient(sut, segur_env), terminology.PATIENT_INS)
    expect(
        verify.profile_findings(
            report,
            terminology.PATIENT_INS,
            elements=INS_ELEMENTS,
            rules=INS_INVARIANTS,
        )
    )


@pytest.mark.requirement("FHIR-03")
def test_patient_strict_traits(sut, segur_env):
    """Traits stricts FR Core Patient INS : nom et prénoms de naissance, sexe, date et lieu de naissance, fiabilité."""
    report = validate_resource(qualified_patient(sut, segur_env), terminology.PATIENT_INS)
    expect(
        verify.profile_findings(
            report,
            terminology.PATIENT_INS,
            exclude_elements=INS_ELEMENTS,
            exclude_rules=INS_INVARIANTS,
        )
    )


@pytest.mark.requirement("FHIR-04")
def test_practitioner_identifiers(sut, segur_env):
    """Professionnel FR Core : idNatPs (8 + RPPS ou 0 + ADELI) et RPPS."""
    report = validate_resource(produce(sut, segur_env, "practitioner"), terminology.PRACTITIONER)
    expect(verify.profile_findings(report, terminology.PRACTITIONER))


@pytest.mark.requirement("FHIR-05")
def test_organization_identifiers(sut, segur_env):
    """Structure FR Core : idNatSt, FINESS, SIRET."""
    report = validate_resource(produce(sut, segur_env, "organization"), terminology.ORGANIZATION)
    expect(verify.profile_findings(report, terminology.ORGANIZATION))


@pytest.mark.requirement("FHIR-06")
def test_pdsm_document_metadata(sut, segur_env):
    """Métadonnées PDSm de la fiche (DocumentReference) et du lot de soumission (List)."""
    report = validate_resource(bundle_of(sut, segur_env), terminology.PDSM_PROVIDE_BUNDLE)
    expect(
        verify.profile_findings(report, terminology.PDSM_DOCUMENT_REFERENCE),
        verify.profile_findings(report, terminology.PDSM_SUBMISSION_SET),
    )


@pytest.mark.requirement("FHIR-07")
def test_provide_bundle_structure_and_references(sut, segur_env):
    """Bundle ITI-65 : transaction, entrées attendues, références résolues dans le bundle."""
    report = validate_resource(bundle_of(sut, segur_env), terminology.PDSM_PROVIDE_BUNDLE)
    expect(
        verify.structure(report),
        verify.profile_findings(report, terminology.PDSM_PROVIDE_BUNDLE),
        verify.by_rule(report, "fhir.reference"),
    )


@pytest.mark.requirement("FHIR-08")
def test_bundle_consistent_with_its_document(sut, segur_env):
    """Taille, empreinte SHA-1, type et patient de la fiche cohérents avec le document transmis."""
    expect(verify.bundle_consistency(bundle_of(sut, segur_env), stored_identity(PATIENT)))


@pytest.mark.requirement("FHIR-09")
def test_no_ins_for_an_identity_that_is_not_qualified(sut, segur_env):
    """Une identité non qualifiée n'exporte pas le matricule INS."""
    identity = stored_identity(PATIENT, status="RECUP")
    patient = produce(sut, segur_env, "patient", patient=identity)
    expect(verify.no_ins_without_qualification(patient, identity["status"]))
